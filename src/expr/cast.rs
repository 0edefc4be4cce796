//! `CAST`, `TRY_CAST` and the implicit conversions the functions and
//! operators apply to their arguments (ASA-SEMANTICS.md §6 Conversion, §7).
//!
//! One table decides every conversion, so an explicit `CAST(x AS float)` and
//! the implicit cast `ROUND('1.5', 0)` performs agree. The rules:
//!
//! | from \ to | bigint | float | nvarchar(max) | datetime | bit | record | array |
//! |---|---|---|---|---|---|---|---|
//! | bigint | = | exact or nearest | decimal | error | 0 → 0, else 1 | error | error |
//! | float | truncated toward zero; NaN, ±inf, out of range: error | = | shortest round-trip | error | 0.0 → 0, else 1 | error | error |
//! | nvarchar(max) | trimmed integer literal | trimmed decimal; `NaN`/`Infinity`: error | = | ISO 8601 (naive = UTC) | `true`/`false`/`1`/`0`, any case | error | error |
//! | datetime | error | error | ISO 8601, 7 digits, `Z` | = | error | error | error |
//! | bit | 0/1 | 0.0/1.0 | `true`/`false` | error | = | error | error |
//! | record | error | error | JSON text | error | error | = | error |
//! | array | error | error | JSON text | error | error | error | = |
//!
//! NULL converts to NULL of every type. A string is never parsed as JSON by
//! a cast (that is `JSON_PARSE`).
//!
//! # Contract
//! Nothing here panics; a failed conversion is an
//! [`EvalErrorKind::TypeConversion`](super::EvalErrorKind) error whose
//! message names the value and the target type.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

use super::EvalError;
use crate::types::{DataType, DateTime, Value};

/// Converts `v` to `to` (explicit `CAST`): NULL stays NULL, anything the
/// table in the module docs rejects is a conversion error.
pub fn cast(v: &Value, to: DataType) -> Result<Value, EvalError> {
    convert(v, to).map_err(|()| {
        EvalError::conversion(format!("cannot cast {} to {}", describe(v), to.name()))
    })
}

/// `TRY_CAST`: like [`cast`], but NULL instead of an error.
pub fn try_cast(v: &Value, to: DataType) -> Value {
    convert(v, to).unwrap_or(Value::Null)
}

/// The conversion table; `Err(())` when the value cannot be converted.
fn convert(v: &Value, to: DataType) -> Result<Value, ()> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match to {
        DataType::Bigint => Value::Bigint(convert_i64(v)?),
        DataType::Float => Value::Float(convert_f64(v)?),
        DataType::NVarchar => Value::String(convert_string(v)?),
        DataType::DateTime => Value::DateTime(convert_datetime(v)?),
        DataType::Bit => Value::Bit(convert_bit(v)?),
        DataType::Record => match v {
            Value::Record(_) => v.clone(),
            _ => return Err(()),
        },
        DataType::Array => match v {
            Value::Array(_) => v.clone(),
            _ => return Err(()),
        },
    })
}

fn convert_i64(v: &Value) -> Result<i64, ()> {
    match v {
        Value::Bigint(i) => Ok(*i),
        Value::Float(f) => float_to_i64(*f).ok_or(()),
        Value::Bit(b) => Ok(i64::from(*b)),
        Value::String(s) => parse_i64(s).ok_or(()),
        _ => Err(()),
    }
}

fn convert_f64(v: &Value) -> Result<f64, ()> {
    match v {
        Value::Bigint(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::Bit(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => parse_f64(s).ok_or(()),
        _ => Err(()),
    }
}

fn convert_string(v: &Value) -> Result<String, ()> {
    Ok(match v {
        Value::String(s) => s.clone(),
        Value::Bigint(i) => i.to_string(),
        Value::Float(f) => format_float(*f),
        Value::Bit(b) => if *b { "true" } else { "false" }.to_string(),
        Value::DateTime(d) => d.to_iso(),
        Value::Record(_) | Value::Array(_) => v.to_json().to_string(),
        Value::Null => return Err(()),
    })
}

fn convert_datetime(v: &Value) -> Result<DateTime, ()> {
    match v {
        Value::DateTime(d) => Ok(*d),
        Value::String(s) => DateTime::parse(s).ok_or(()),
        _ => Err(()),
    }
}

fn convert_bit(v: &Value) -> Result<bool, ()> {
    match v {
        Value::Bit(b) => Ok(*b),
        Value::Bigint(i) => Ok(*i != 0),
        // §7: 0.0 → 0, any other value (NaN included) → 1.
        Value::Float(f) => Ok(*f != 0.0),
        Value::String(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("true") || t == "1" {
                Ok(true)
            } else if t.eq_ignore_ascii_case("false") || t == "0" {
                Ok(false)
            } else {
                Err(())
            }
        }
        _ => Err(()),
    }
}

/// Parses a bigint literal: optional sign and decimal digits, surrounding
/// whitespace ignored. `"1.0"` and `"1e3"` are not bigints.
pub fn parse_i64(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok()
}

/// Parses a float literal (`12`, `-1.5`, `.5`, `1e-3`), surrounding
/// whitespace ignored. `NaN`, `Infinity` and literals that overflow to
/// infinity are rejected: they are not ASA floats.
pub fn parse_f64(s: &str) -> Option<f64> {
    let t = s.trim();
    // Rust also accepts "inf", "infinity" and "nan" (any case); ASA does not.
    if !t.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Truncates toward zero; `None` for NaN, infinities and values outside
/// the bigint range.
pub fn float_to_i64(f: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if f.is_finite() && (-LIMIT..LIMIT).contains(&f) {
        // In range, so the `as` conversion is exact after truncation.
        Some(f.trunc() as i64)
    } else {
        None
    }
}

/// A float as text, the way .NET (and so ASA) prints a double: the
/// shortest digits that round-trip, positional for decimal exponents
/// −4..=14 (`0.0001`, `123.5`, `1`), scientific otherwise (`1E-05`,
/// `1.5E+20`), and `NaN`, `Infinity`, `-Infinity`. `-0.0` prints as `-0`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    let (digits, exp) = decimal_digits(f.abs());
    let n = digits.len() as i64;
    let mut out = String::from(sign);
    if (-4..15).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else if exp + 1 >= n {
            out.push_str(&digits);
            for _ in 0..(exp + 1 - n) {
                out.push('0');
            }
        } else {
            let (int_part, frac) = digits.split_at(usize::try_from(exp + 1).unwrap_or(0));
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('E');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
    out
}

/// The shortest round-trip decimal digits of a finite, positive float and
/// the decimal exponent of the first digit: `123.5` → (`"1235"`, 2).
pub(crate) fn decimal_digits(f: f64) -> (String, i64) {
    // `{:e}` prints the shortest round-trip digits as `d.ddde±x`.
    let text = format!("{f:e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse::<i64>().unwrap_or(0))
}

/// A value for an error message: its type and, for scalars, the value,
/// e.g. `nvarchar(max) 'abc'`, `float 1.5`, `NULL`. Long text is cut.
pub fn describe(v: &Value) -> String {
    const MAX: usize = 40;
    fn cut(s: &str) -> String {
        if s.chars().count() > MAX {
            let head: String = s.chars().take(MAX).collect();
            format!("{head}…")
        } else {
            s.to_string()
        }
    }
    match v {
        Value::Null => "NULL".to_string(),
        Value::Bigint(i) => format!("bigint {i}"),
        Value::Float(f) => format!("float {}", format_float(*f)),
        Value::String(s) => format!("nvarchar(max) '{}'", cut(s)),
        Value::DateTime(d) => format!("datetime {}", d.to_iso()),
        Value::Bit(b) => format!("bit {}", u8::from(*b)),
        Value::Record(_) => format!("record {}", cut(&v.to_json().to_string())),
        Value::Array(_) => format!("array {}", cut(&v.to_json().to_string())),
    }
}

/// The error an implicit conversion reports, e.g.
/// `ROUND: cannot convert nvarchar(max) 'abc' to float`.
pub fn conversion_error(context: &str, v: &Value, to: DataType) -> EvalError {
    EvalError::conversion(format!(
        "{context}: cannot convert {} to {}",
        describe(v),
        to.name()
    ))
}

/// Implicit conversion to float for a function argument or operand
/// (`context` names it in the error). NULL → `None`.
pub fn to_f64(v: &Value, context: &str) -> Result<Option<f64>, EvalError> {
    if v.is_null() {
        return Ok(None);
    }
    convert_f64(v)
        .map(Some)
        .map_err(|()| conversion_error(context, v, DataType::Float))
}

/// Implicit conversion to bigint: floats are truncated toward zero (as
/// DATEADD documents for its `number`), strings must be integer literals.
pub fn to_i64(v: &Value, context: &str) -> Result<Option<i64>, EvalError> {
    if v.is_null() {
        return Ok(None);
    }
    convert_i64(v)
        .map(Some)
        .map_err(|()| conversion_error(context, v, DataType::Bigint))
}

/// Implicit conversion to nvarchar(max), as [`cast`] converts.
pub fn to_string_value(v: &Value, context: &str) -> Result<Option<String>, EvalError> {
    if v.is_null() {
        return Ok(None);
    }
    convert_string(v)
        .map(Some)
        .map_err(|()| conversion_error(context, v, DataType::NVarchar))
}

/// Implicit conversion to datetime: a datetime, or a string that parses
/// as ISO 8601 (naive = UTC).
pub fn to_datetime(v: &Value, context: &str) -> Result<Option<DateTime>, EvalError> {
    if v.is_null() {
        return Ok(None);
    }
    convert_datetime(v)
        .map(Some)
        .map_err(|()| conversion_error(context, v, DataType::DateTime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::EvalErrorKind;
    use crate::types::Record;

    fn s(text: &str) -> Value {
        Value::str(text)
    }

    #[test]
    fn null_casts_to_null_of_every_type() {
        for to in [
            DataType::Bigint,
            DataType::Float,
            DataType::NVarchar,
            DataType::DateTime,
            DataType::Bit,
            DataType::Record,
            DataType::Array,
        ] {
            assert_eq!(cast(&Value::Null, to), Ok(Value::Null));
            assert_eq!(try_cast(&Value::Null, to), Value::Null);
        }
    }

    #[test]
    fn documented_bit_conversions() {
        // data-types doc: float 0.0 → 0, any other value → 1; bit → float 1.0/0.0.
        assert_eq!(
            cast(&Value::Float(0.0), DataType::Bit),
            Ok(Value::Bit(false))
        );
        assert_eq!(
            cast(&Value::Float(-0.0), DataType::Bit),
            Ok(Value::Bit(false))
        );
        assert_eq!(
            cast(&Value::Float(0.3), DataType::Bit),
            Ok(Value::Bit(true))
        );
        assert_eq!(
            cast(&Value::Bit(true), DataType::Float),
            Ok(Value::Float(1.0))
        );
        assert_eq!(
            cast(&Value::Bit(false), DataType::Float),
            Ok(Value::Float(0.0))
        );
        // ref-bitwise-*: CAST(0 AS BIT), CAST(1 AS BIT).
        assert_eq!(
            cast(&Value::Bigint(0), DataType::Bit),
            Ok(Value::Bit(false))
        );
        assert_eq!(cast(&Value::Bigint(1), DataType::Bit), Ok(Value::Bit(true)));
        assert_eq!(cast(&s(" TRUE "), DataType::Bit), Ok(Value::Bit(true)));
        assert_eq!(cast(&s("0"), DataType::Bit), Ok(Value::Bit(false)));
        assert!(cast(&s("yes"), DataType::Bit).is_err());
        assert_eq!(cast(&Value::Bit(true), DataType::NVarchar), Ok(s("true")));
    }

    #[test]
    fn strings_to_numbers() {
        // qp-cast-sum: CAST('1000' AS BIGINT).
        assert_eq!(cast(&s("1000"), DataType::Bigint), Ok(Value::Bigint(1000)));
        assert_eq!(cast(&s(" 12 "), DataType::Bigint), Ok(Value::Bigint(12)));
        assert!(cast(&s("1.5"), DataType::Bigint).is_err());
        assert_eq!(cast(&s(" 1.5e1 "), DataType::Float), Ok(Value::Float(15.0)));
        // iv-readings-validated: TRY_CAST('NaN' AS float) is NULL.
        assert_eq!(try_cast(&s("NaN"), DataType::Float), Value::Null);
        assert_eq!(try_cast(&s("Infinity"), DataType::Float), Value::Null);
        assert_eq!(try_cast(&s("inf"), DataType::Float), Value::Null);
        assert_eq!(try_cast(&s("1e999"), DataType::Float), Value::Null);
        let err = cast(&s("this is a string"), DataType::Bigint).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::TypeConversion);
        assert_eq!(
            err.message,
            "cannot cast nvarchar(max) 'this is a string' to bigint"
        );
    }

    #[test]
    fn float_to_bigint_truncates() {
        assert_eq!(
            cast(&Value::Float(2.9), DataType::Bigint),
            Ok(Value::Bigint(2))
        );
        assert_eq!(
            cast(&Value::Float(-2.9), DataType::Bigint),
            Ok(Value::Bigint(-2))
        );
        assert!(cast(&Value::Float(f64::NAN), DataType::Bigint).is_err());
        assert!(cast(&Value::Float(1e19), DataType::Bigint).is_err());
        assert_eq!(
            cast(&Value::Float(-(2f64.powi(63))), DataType::Bigint),
            Ok(Value::Bigint(i64::MIN))
        );
    }

    #[test]
    fn datetimes() {
        // iv-readings-validated: a naive ISO string is UTC.
        let d = cast(&s("2021-12-10T10:00:00"), DataType::DateTime).unwrap();
        let Value::DateTime(d) = d else {
            panic!("datetime expected")
        };
        assert_eq!(d.to_iso(), "2021-12-10T10:00:00.0000000Z");
        assert_eq!(
            cast(&Value::DateTime(d), DataType::NVarchar),
            Ok(s("2021-12-10T10:00:00.0000000Z"))
        );
        assert!(cast(&s("yesterday"), DataType::DateTime).is_err());
        assert!(cast(&Value::Bigint(0), DataType::DateTime).is_err());
        assert!(cast(&Value::DateTime(d), DataType::Bigint).is_err());
    }

    #[test]
    fn records_and_arrays_only_from_themselves() {
        // iv-readings-validated: TRY_CAST({} AS array) is NULL.
        let rec = Value::Record(Record::new());
        assert_eq!(try_cast(&rec, DataType::Array), Value::Null);
        assert_eq!(cast(&rec, DataType::Record), Ok(rec.clone()));
        let arr = Value::Array(vec![s("A"), s("B")]);
        assert_eq!(cast(&arr, DataType::Array), Ok(arr.clone()));
        assert_eq!(try_cast(&s("[1]"), DataType::Array), Value::Null);
        assert_eq!(try_cast(&s("{}"), DataType::Record), Value::Null);
        assert_eq!(cast(&arr, DataType::NVarchar), Ok(s(r#"["A","B"]"#)));
    }

    #[test]
    fn float_text_is_shortest_round_trip() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(-0.25), "-0.25");
        assert_eq!(format_float(1.7145), "1.7145");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(123456789012345.0), "123456789012345");
        assert_eq!(format_float(1e15), "1E+15");
        assert_eq!(format_float(1.5e20), "1.5E+20");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(0.00001), "1E-05");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(cast(&Value::Bigint(2), DataType::NVarchar), Ok(s("2")));
        assert_eq!(cast(&Value::Float(2.5), DataType::NVarchar), Ok(s("2.5")));
    }

    #[test]
    fn implicit_conversions_name_their_context() {
        assert_eq!(to_f64(&s(" 12 "), "ROUND"), Ok(Some(12.0)));
        assert_eq!(to_f64(&Value::Null, "ROUND"), Ok(None));
        let err = to_f64(&s("abc"), "ROUND").unwrap_err();
        assert_eq!(
            err.message,
            "ROUND: cannot convert nvarchar(max) 'abc' to float"
        );
        assert_eq!(to_i64(&Value::Float(2.7), "DATEADD"), Ok(Some(2)));
        assert_eq!(
            to_string_value(&Value::Float(2.5), "LEN"),
            Ok(Some("2.5".into()))
        );
        assert!(to_datetime(&Value::Bigint(1), "DAY").is_err());
        assert!(to_datetime(&s("2020-02-29"), "DAY").unwrap().is_some());
    }
}
