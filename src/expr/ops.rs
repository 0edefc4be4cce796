//! Operators: arithmetic, string `+`, bitwise, comparison, `LIKE` and
//! three-valued `AND`/`OR`/`NOT` (ASA-SEMANTICS.md §1 WHERE, §6).
//!
//! Operand rules:
//! - Any NULL operand gives NULL, except `AND`/`OR`, which follow SQL's
//!   three-valued logic (`FALSE AND NULL` is FALSE, `TRUE OR NULL` TRUE).
//! - Arithmetic: bigint op bigint is bigint with checked overflow; a float
//!   operand makes the result float. A bit operand counts as bigint 0/1.
//!   Division and modulo by zero are arithmetic errors for bigint *and*
//!   float (as in T-SQL), so no Infinity/NaN comes out of `/`. Bigint
//!   division truncates toward zero.
//! - `+` on two strings concatenates; a string and a non-string is a
//!   conversion error (Eddy does not guess; use `CONCAT`). Datetime
//!   arithmetic is not an operator (use `DATEADD`/`DATEDIFF`).
//! - Bitwise `& | ^ ~`: bit op bit is bit, any bigint operand gives bigint;
//!   other types are conversion errors.
//! - Comparisons use [`compare`]. A NULL operand gives NULL. Two non-NULL
//!   values that [`compare`] cannot order are *not equal*: `=` gives 0 and
//!   `<>` gives 1, while `< <= > >=` give NULL (so a row is filtered out
//!   instead of failing the job when a drifting column changes type).
//! - Logical operands are bit, or bigint (nonzero is true), which is how
//!   JSON booleans read below compatibility level 1.2.
//!
//! # Contract
//! No operator panics; failures are [`EvalError`] values.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

use std::cmp::Ordering;

use super::cast::{describe, to_string_value};
use super::pattern::LikePattern;
use super::EvalError;
use crate::syntax::ast::{BinaryOp, UnaryOp};
use crate::types::{DateTime, Record, Value};

/// Evaluates `left op right`.
pub fn binary(op: BinaryOp, left: &Value, right: &Value) -> Result<Value, EvalError> {
    match op {
        BinaryOp::And | BinaryOp::Or => logical(op, left, right),
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => Ok(comparison(op, left, right)),
        BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor => bitwise(op, left, right),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            arithmetic(op, left, right)
        }
    }
}

/// Evaluates `op v`.
pub fn unary(op: UnaryOp, v: &Value) -> Result<Value, EvalError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let invalid = || {
        EvalError::conversion(format!(
            "operator '{}' cannot take {}",
            unary_symbol(op),
            describe(v)
        ))
    };
    match op {
        UnaryOp::Neg => match v {
            Value::Bigint(i) => i
                .checked_neg()
                .map(Value::Bigint)
                .ok_or_else(|| EvalError::arithmetic(format!("bigint overflow in -({i})"))),
            Value::Float(f) => Ok(Value::Float(-f)),
            _ => Err(invalid()),
        },
        UnaryOp::Plus => match v {
            Value::Bigint(_) | Value::Float(_) => Ok(v.clone()),
            _ => Err(invalid()),
        },
        UnaryOp::Not => match truth(v) {
            Some(b) => Ok(Value::Bit(!b)),
            None => Err(invalid()),
        },
        UnaryOp::BitNot => match v {
            Value::Bit(b) => Ok(Value::Bit(!b)),
            Value::Bigint(i) => Ok(Value::Bigint(!i)),
            _ => Err(invalid()),
        },
    }
}

fn unary_symbol(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "-",
        UnaryOp::Plus => "+",
        UnaryOp::Not => "NOT",
        UnaryOp::BitNot => "~",
    }
}

/// True when a `WHERE`/`HAVING`/`WHEN` condition accepts the row: bit 1,
/// or a nonzero bigint (a JSON boolean below compatibility level 1.2).
/// NULL and every other value reject it.
pub fn is_true(v: &Value) -> bool {
    matches!(truth(v), Some(true))
}

/// The truth value of a logical operand; `None` for NULL and non-logical
/// types.
fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bit(b) => Some(*b),
        Value::Bigint(i) => Some(*i != 0),
        _ => None,
    }
}

fn logical(op: BinaryOp, left: &Value, right: &Value) -> Result<Value, EvalError> {
    let operand = |v: &Value| -> Result<Option<bool>, EvalError> {
        if v.is_null() {
            return Ok(None);
        }
        truth(v).map(Some).ok_or_else(|| {
            EvalError::conversion(format!(
                "operator '{}' cannot take {}",
                op.symbol(),
                describe(v)
            ))
        })
    };
    let (l, r) = (operand(left)?, operand(right)?);
    let result = match op {
        BinaryOp::And => match (l, r) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        _ => match (l, r) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
    };
    Ok(result.map_or(Value::Null, Value::Bit))
}

fn comparison(op: BinaryOp, left: &Value, right: &Value) -> Value {
    if left.is_null() || right.is_null() {
        return Value::Null;
    }
    let result = match (op, compare(left, right)) {
        (BinaryOp::Eq, ord) => ord == Some(Ordering::Equal),
        (BinaryOp::NotEq, ord) => ord != Some(Ordering::Equal),
        (_, None) => return Value::Null,
        (BinaryOp::Lt, Some(o)) => o == Ordering::Less,
        (BinaryOp::LtEq, Some(o)) => o != Ordering::Greater,
        (BinaryOp::Gt, Some(o)) => o == Ordering::Greater,
        (_, Some(o)) => o != Ordering::Less,
    };
    Value::Bit(result)
}

/// SQL comparison of two values; `None` when either is NULL or they cannot
/// be compared.
///
/// - bigint, float and bit compare numerically (bigint 1 equals float 1.0;
///   large bigints are compared exactly, not through a lossy cast). A NaN
///   float compares with nothing.
/// - Strings compare ordinally by Unicode code point, case-sensitively.
///   ASA appears case-insensitive in one documentation example
///   (ASA-SEMANTICS.md §13.7, `'start'` vs `'Start'`); Eddy chooses ordinal
///   comparison, as the reference documents nothing else.
/// - A datetime compares with a datetime, or with a string that parses as
///   ISO 8601 (naive = UTC).
/// - Records and arrays are equal when structurally equal (same length,
///   elements pairwise equal by this function; record fields matched by
///   case-insensitive name in any order), and otherwise incomparable.
/// - Any other mix, e.g. `'1'` and `1`, is incomparable: a string never
///   equals a number.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Bigint(x), Value::Bigint(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Bigint(x), Value::Float(y)) => compare_i64_f64(*x, *y),
        (Value::Float(x), Value::Bigint(y)) => compare_i64_f64(*y, *x).map(Ordering::reverse),
        (Value::Bit(x), Value::Bit(y)) => Some(x.cmp(y)),
        (Value::Bit(x), Value::Bigint(_) | Value::Float(_)) => {
            compare(&Value::Bigint(i64::from(*x)), b)
        }
        (Value::Bigint(_) | Value::Float(_), Value::Bit(y)) => {
            compare(a, &Value::Bigint(i64::from(*y)))
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::String(s)) => DateTime::parse(s).map(|y| x.cmp(&y)),
        (Value::String(s), Value::DateTime(y)) => DateTime::parse(s).map(|x| x.cmp(y)),
        (Value::Record(x), Value::Record(y)) => records_equal(x, y).then_some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            let equal = x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| compare(p, q) == Some(Ordering::Equal));
            equal.then_some(Ordering::Equal)
        }
        _ => None,
    }
}

fn records_equal(x: &Record, y: &Record) -> bool {
    x.len() == y.len()
        && x.fields().iter().all(|(name, v)| {
            y.get(name)
                .is_some_and(|w| compare(v, w) == Some(Ordering::Equal))
        })
}

/// Exact comparison of a bigint with a float.
fn compare_i64_f64(x: i64, y: f64) -> Option<Ordering> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if y.is_nan() {
        return None;
    }
    if y >= LIMIT {
        return Some(Ordering::Less);
    }
    if y < -LIMIT {
        return Some(Ordering::Greater);
    }
    let whole = y.trunc();
    // In range, so the cast is exact.
    match x.cmp(&(whole as i64)) {
        Ordering::Equal => (0.0).partial_cmp(&(y - whole)),
        other => Some(other),
    }
}

/// `value LIKE pattern`: bit, or NULL when either side is NULL. Numbers,
/// bits and datetimes are first converted to text as `CAST` does.
pub fn like(value: &Value, pattern: &Value) -> Result<Value, EvalError> {
    let (Some(text), Some(pattern)) = (
        to_string_value(value, "LIKE")?,
        to_string_value(pattern, "LIKE")?,
    ) else {
        return Ok(Value::Null);
    };
    Ok(Value::Bit(LikePattern::new(&pattern).matches(&text)))
}

fn bitwise(op: BinaryOp, left: &Value, right: &Value) -> Result<Value, EvalError> {
    if left.is_null() || right.is_null() {
        return Ok(Value::Null);
    }
    let apply = |x: i64, y: i64| match op {
        BinaryOp::BitAnd => x & y,
        BinaryOp::BitOr => x | y,
        _ => x ^ y,
    };
    match (left, right) {
        (Value::Bit(x), Value::Bit(y)) => Ok(Value::Bit(apply(i64::from(*x), i64::from(*y)) != 0)),
        (Value::Bigint(_) | Value::Bit(_), Value::Bigint(_) | Value::Bit(_)) => {
            let int = |v: &Value| match v {
                Value::Bigint(i) => *i,
                Value::Bit(b) => i64::from(*b),
                _ => 0,
            };
            Ok(Value::Bigint(apply(int(left), int(right))))
        }
        _ => Err(operand_error(op, left, right)),
    }
}

fn operand_error(op: BinaryOp, left: &Value, right: &Value) -> EvalError {
    EvalError::conversion(format!(
        "operator '{}' cannot combine {} and {}",
        op.symbol(),
        describe(left),
        describe(right)
    ))
}

/// A numeric operand: bigint (bits count as 0/1) or float.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

fn numeric(v: &Value) -> Option<Num> {
    match v {
        Value::Bigint(i) => Some(Num::Int(*i)),
        Value::Bit(b) => Some(Num::Int(i64::from(*b))),
        Value::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

fn arithmetic(op: BinaryOp, left: &Value, right: &Value) -> Result<Value, EvalError> {
    if left.is_null() || right.is_null() {
        return Ok(Value::Null);
    }
    if let (BinaryOp::Add, Value::String(x), Value::String(y)) = (op, left, right) {
        let mut out = String::with_capacity(x.len() + y.len());
        out.push_str(x);
        out.push_str(y);
        return Ok(Value::String(out));
    }
    let (Some(l), Some(r)) = (numeric(left), numeric(right)) else {
        return Err(operand_error(op, left, right));
    };
    let symbol = op.symbol();
    match (l, r) {
        (Num::Int(x), Num::Int(y)) => {
            let result = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                BinaryOp::Div | BinaryOp::Mod if y == 0 => {
                    return Err(EvalError::arithmetic(format!(
                        "division by zero in {x} {symbol} {y}"
                    )))
                }
                BinaryOp::Div => x.checked_div(y),
                // i64::MIN % -1 overflows in Rust but is 0 mathematically.
                _ => Some(x.checked_rem(y).unwrap_or(0)),
            };
            result.map(Value::Bigint).ok_or_else(|| {
                EvalError::arithmetic(format!("bigint overflow in {x} {symbol} {y}"))
            })
        }
        _ => {
            let as_f64 = |n: Num| match n {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            };
            let (x, y) = (as_f64(l), as_f64(r));
            let result = match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div | BinaryOp::Mod if y == 0.0 => {
                    return Err(EvalError::arithmetic(format!(
                        "division by zero in {} {symbol} {}",
                        super::cast::format_float(x),
                        super::cast::format_float(y)
                    )))
                }
                BinaryOp::Div => x / y,
                _ => x % y,
            };
            Ok(Value::Float(result))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::EvalErrorKind;
    use crate::types::Name;

    fn b(op: BinaryOp, l: Value, r: Value) -> Result<Value, EvalError> {
        binary(op, &l, &r)
    }
    fn int(i: i64) -> Value {
        Value::Bigint(i)
    }
    fn fl(f: f64) -> Value {
        Value::Float(f)
    }
    fn s(t: &str) -> Value {
        Value::str(t)
    }
    const T: Value = Value::Bit(true);
    const F: Value = Value::Bit(false);
    const N: Value = Value::Null;

    #[test]
    fn arithmetic_types_and_errors() {
        assert_eq!(b(BinaryOp::Add, int(2), int(3)), Ok(int(5)));
        assert_eq!(b(BinaryOp::Add, int(2), fl(0.5)), Ok(fl(2.5)));
        assert_eq!(b(BinaryOp::Mul, fl(1.5), int(2)), Ok(fl(3.0)));
        assert_eq!(b(BinaryOp::Div, int(7), int(2)), Ok(int(3)));
        assert_eq!(b(BinaryOp::Div, int(-7), int(2)), Ok(int(-3)));
        assert_eq!(b(BinaryOp::Mod, int(-7), int(3)), Ok(int(-1)));
        assert_eq!(b(BinaryOp::Mod, int(i64::MIN), int(-1)), Ok(int(0)));
        assert_eq!(b(BinaryOp::Div, fl(1.0), int(4)), Ok(fl(0.25)));
        assert_eq!(b(BinaryOp::Sub, int(1), N), Ok(N));
        let overflow = b(BinaryOp::Add, int(i64::MAX), int(1)).unwrap_err();
        assert_eq!(overflow.kind, EvalErrorKind::Arithmetic);
        assert!(b(BinaryOp::Mul, int(i64::MIN), int(-1)).is_err());
        assert!(b(BinaryOp::Div, int(i64::MIN), int(-1)).is_err());
        let zero = b(BinaryOp::Div, int(1), int(0)).unwrap_err();
        assert_eq!(zero.kind, EvalErrorKind::Arithmetic);
        assert!(b(BinaryOp::Mod, int(1), int(0)).is_err());
        assert!(b(BinaryOp::Div, fl(1.0), fl(0.0)).is_err());
        let mixed = b(BinaryOp::Add, s("a"), int(1)).unwrap_err();
        assert_eq!(mixed.kind, EvalErrorKind::TypeConversion);
        assert_eq!(
            mixed.message,
            "operator '+' cannot combine nvarchar(max) 'a' and bigint 1"
        );
    }

    #[test]
    fn string_concatenation() {
        // ref-space: RTRIM('LastName  ') + ',' + SPACE(1) + ...
        assert_eq!(b(BinaryOp::Add, s("LastName"), s(",")), Ok(s("LastName,")));
        assert_eq!(b(BinaryOp::Add, s("a"), N), Ok(N));
        assert!(b(BinaryOp::Sub, s("a"), s("b")).is_err());
    }

    #[test]
    fn bitwise_documented_examples() {
        // ref-bitwise-or / ref-bitwise-xor and the AND/NOT reference pages.
        assert_eq!(b(BinaryOp::BitOr, int(170), int(75)), Ok(int(235)));
        assert_eq!(b(BinaryOp::BitXor, int(170), int(75)), Ok(int(225)));
        assert_eq!(b(BinaryOp::BitAnd, int(170), int(75)), Ok(int(10)));
        assert_eq!(b(BinaryOp::BitOr, F, T), Ok(T));
        assert_eq!(b(BinaryOp::BitOr, F, F), Ok(F));
        assert_eq!(b(BinaryOp::BitXor, T, T), Ok(F));
        assert_eq!(b(BinaryOp::BitAnd, T, F), Ok(F));
        assert_eq!(b(BinaryOp::BitOr, N, F), Ok(N));
        assert_eq!(b(BinaryOp::BitXor, N, int(1)), Ok(N));
        assert_eq!(b(BinaryOp::BitOr, F, int(0)), Ok(int(0)));
        assert_eq!(b(BinaryOp::BitXor, T, int(0)), Ok(int(1)));
        assert!(b(BinaryOp::BitAnd, int(170), fl(75.0)).is_err());
        assert_eq!(unary(UnaryOp::BitNot, &int(170)), Ok(int(-171)));
        assert_eq!(unary(UnaryOp::BitNot, &int(0)), Ok(int(-1)));
        assert_eq!(unary(UnaryOp::BitNot, &F), Ok(T));
        assert_eq!(unary(UnaryOp::BitNot, &N), Ok(N));
    }

    #[test]
    fn comparisons() {
        assert_eq!(b(BinaryOp::Eq, int(1), fl(1.0)), Ok(T));
        assert_eq!(b(BinaryOp::Lt, int(1), fl(1.5)), Ok(T));
        assert_eq!(b(BinaryOp::Gt, fl(-0.5), int(-1)), Ok(T));
        assert_eq!(b(BinaryOp::Eq, N, N), Ok(N));
        assert_eq!(b(BinaryOp::NotEq, int(1), N), Ok(N));
        assert_eq!(b(BinaryOp::Eq, s("1"), int(1)), Ok(F));
        assert_eq!(b(BinaryOp::NotEq, s("1"), int(1)), Ok(T));
        assert_eq!(b(BinaryOp::Lt, s("1"), int(1)), Ok(N));
        assert_eq!(b(BinaryOp::Eq, s("Start"), s("start")), Ok(F));
        assert_eq!(b(BinaryOp::Lt, s("B"), s("a")), Ok(T));
        assert_eq!(b(BinaryOp::GtEq, T, int(1)), Ok(T));
        assert_eq!(b(BinaryOp::LtEq, F, fl(0.5)), Ok(T));
        assert_eq!(
            compare(&int(i64::MAX), &fl(2f64.powi(63))),
            Some(Ordering::Less)
        );
        // Exact, not through a lossy cast: 2^53 + 1 is not the float 2^53.
        assert_eq!(
            compare(&int((1 << 53) + 1), &fl(2f64.powi(53))),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&fl(f64::NAN), &fl(f64::NAN)), None);
    }

    #[test]
    fn datetime_and_structured_comparisons() {
        let d = Value::DateTime(DateTime::parse("2021-12-10T10:00:00Z").unwrap());
        assert_eq!(
            compare(&d, &s("2021-12-10T10:00:00")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare(&s("2021-12-10T11:00:00+02:00"), &d),
            Some(Ordering::Less)
        );
        assert_eq!(compare(&d, &s("not a date")), None);
        let arr = |v: Vec<Value>| Value::Array(v);
        assert_eq!(
            compare(&arr(vec![int(1), s("a")]), &arr(vec![fl(1.0), s("a")])),
            Some(Ordering::Equal)
        );
        assert_eq!(compare(&arr(vec![int(1)]), &arr(vec![int(2)])), None);
        let rec = |pairs: &[(&str, Value)]| {
            Value::Record(Record::from_fields(
                pairs.iter().map(|(n, v)| (Name::from(*n), v.clone())),
            ))
        };
        let r1 = rec(&[("a", int(1)), ("B", s("x"))]);
        let r2 = rec(&[("b", s("x")), ("A", int(1))]);
        assert_eq!(compare(&r1, &r2), Some(Ordering::Equal));
        assert_eq!(compare(&r1, &rec(&[("a", int(1))])), None);
        assert_eq!(b(BinaryOp::Eq, r1.clone(), r2), Ok(T));
        assert_eq!(b(BinaryOp::Eq, r1, arr(vec![])), Ok(F));
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(b(BinaryOp::And, F, N), Ok(F));
        assert_eq!(b(BinaryOp::And, N, F), Ok(F));
        assert_eq!(b(BinaryOp::And, T, N), Ok(N));
        assert_eq!(b(BinaryOp::And, T, T), Ok(T));
        assert_eq!(b(BinaryOp::Or, T, N), Ok(T));
        assert_eq!(b(BinaryOp::Or, N, F), Ok(N));
        assert_eq!(b(BinaryOp::Or, F, F), Ok(F));
        assert_eq!(b(BinaryOp::And, int(1), T), Ok(T));
        assert!(b(BinaryOp::Or, s("true"), T).is_err());
        assert_eq!(unary(UnaryOp::Not, &N), Ok(N));
        assert_eq!(unary(UnaryOp::Not, &T), Ok(F));
        assert_eq!(unary(UnaryOp::Not, &int(0)), Ok(T));
        assert!(is_true(&T));
        assert!(is_true(&int(2)));
        assert!(!is_true(&N));
        assert!(!is_true(&F));
        assert!(!is_true(&s("true")));
    }

    #[test]
    fn unary_arithmetic() {
        assert_eq!(unary(UnaryOp::Neg, &int(5)), Ok(int(-5)));
        assert_eq!(unary(UnaryOp::Neg, &fl(1.5)), Ok(fl(-1.5)));
        assert!(unary(UnaryOp::Neg, &int(i64::MIN)).is_err());
        assert!(unary(UnaryOp::Neg, &s("1")).is_err());
        assert_eq!(unary(UnaryOp::Plus, &int(5)), Ok(int(5)));
    }

    #[test]
    fn like_operator() {
        assert_eq!(like(&s("Make1"), &s("Make%")), Ok(T));
        assert_eq!(like(&s("make1"), &s("Make_")), Ok(F));
        assert_eq!(like(&N, &s("%")), Ok(N));
        assert_eq!(like(&s("a"), &N), Ok(N));
        assert_eq!(like(&int(123), &s("1%")), Ok(T));
    }
}
