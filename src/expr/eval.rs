//! Bound scalar expressions and their evaluation over one row.
//!
//! The binder produces [`ScalarExpr`] trees; [`eval`] computes one for a
//! row at an event time. Evaluation never panics: a failed cast, a bad
//! argument or an overflow is an [`EvalError`] that the caller routes to the
//! job's error output (ASA-SEMANTICS.md §9).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::expr::functions::Builtin;
use crate::expr::{cast, ops, EvalError};
use crate::syntax::ast::{BinaryOp, UnaryOp};
use crate::types::{DataType, DateTime, Name, Row, Value};

/// A bound scalar expression.
#[derive(Clone, Debug)]
pub enum ScalarExpr {
    /// A constant.
    Literal(Value),
    /// A top-level column of the current row (case-insensitive; NULL if missing).
    Column(ColumnRef),
    /// An unqualified column in a row nested by source alias (after a JOIN
    /// or APPLY): the first of these sources that has it.
    ColumnIn(Vec<Name>, Name),
    /// A double-quoted name: the column if the row has it, else the string
    /// itself (ASA-SEMANTICS.md §13.8).
    ColumnOrString(Name),
    /// A field of a record value (`a.b`), or an element of an array for a
    /// numeric name (`a.[0]`); NULL when absent.
    Field(Box<ScalarExpr>, Name),
    /// A unary operator.
    Unary(UnaryOp, Box<ScalarExpr>),
    /// A binary operator.
    Binary(BinaryOp, Box<ScalarExpr>, Box<ScalarExpr>),
    /// `[NOT] LIKE`.
    Like {
        /// Tested value.
        expr: Box<ScalarExpr>,
        /// Pattern.
        pattern: Box<ScalarExpr>,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `[NOT] BETWEEN` (inclusive).
    Between {
        /// Tested value.
        expr: Box<ScalarExpr>,
        /// Lower bound.
        low: Box<ScalarExpr>,
        /// Upper bound.
        high: Box<ScalarExpr>,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `[NOT] IN (list)`.
    InList {
        /// Tested value.
        expr: Box<ScalarExpr>,
        /// Candidates.
        list: Vec<ScalarExpr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `IS [NOT] NULL`.
    IsNull {
        /// Tested value.
        expr: Box<ScalarExpr>,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// Searched `CASE` (the simple form is rewritten to equalities).
    Case {
        /// `(WHEN, THEN)` pairs.
        whens: Vec<(ScalarExpr, ScalarExpr)>,
        /// `ELSE` (NULL when absent).
        otherwise: Box<ScalarExpr>,
    },
    /// `CAST` or `TRY_CAST`.
    Cast {
        /// Converted value.
        expr: Box<ScalarExpr>,
        /// Target type.
        ty: DataType,
        /// NULL instead of an error.
        try_cast: bool,
    },
    /// A built-in scalar function.
    Call {
        /// The function.
        function: &'static Builtin,
        /// Arguments (a date-part word arrives as a string literal).
        args: Vec<ScalarExpr>,
    },
    /// A JavaScript user-defined function, `udf.Name(args)`.
    Udf {
        /// The job's definition.
        function: std::sync::Arc<super::javascript::JsFunction>,
        /// Arguments.
        args: Vec<ScalarExpr>,
    },
    /// `System.Timestamp()`: the row's event time.
    SystemTimestamp,
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Literal(Value::String(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            ScalarExpr::Literal(Value::Null) => f.write_str("NULL"),
            ScalarExpr::Literal(v) => write!(f, "{}", v.to_json()),
            ScalarExpr::Column(name) => write!(f, "[{name}]"),
            ScalarExpr::ColumnIn(_, name) => write!(f, "[{name}]"),
            ScalarExpr::ColumnOrString(name) => write!(f, "\"{name}\""),
            ScalarExpr::Field(base, name) => write!(f, "{base}.[{name}]"),
            ScalarExpr::Unary(op, e) => {
                let sym = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                    UnaryOp::Not => "NOT ",
                    UnaryOp::BitNot => "~",
                };
                write!(f, "{sym}({e})")
            }
            ScalarExpr::Binary(op, l, r) => write!(f, "({l} {} {r})", op.symbol()),
            ScalarExpr::Like {
                expr,
                pattern,
                negated,
            } => write!(f, "({expr} {}LIKE {pattern})", not(*negated)),
            ScalarExpr::Between {
                expr,
                low,
                high,
                negated,
            } => write!(f, "({expr} {}BETWEEN {low} AND {high})", not(*negated)),
            ScalarExpr::InList {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(|e| e.to_string()).collect();
                write!(f, "({expr} {}IN ({}))", not(*negated), items.join(", "))
            }
            ScalarExpr::IsNull { expr, negated } => {
                write!(f, "({expr} IS {}NULL)", not(*negated))
            }
            ScalarExpr::Case { whens, otherwise } => {
                f.write_str("CASE")?;
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                write!(f, " ELSE {otherwise} END")
            }
            ScalarExpr::Cast { expr, ty, try_cast } => {
                let kw = if *try_cast { "TRY_CAST" } else { "CAST" };
                write!(f, "{kw}({expr} AS {ty})")
            }
            ScalarExpr::Call { function, args } => {
                let items: Vec<String> = args.iter().map(|e| e.to_string()).collect();
                write!(f, "{}({})", function.name, items.join(", "))
            }
            ScalarExpr::Udf { function, args } => {
                let items: Vec<String> = args.iter().map(|e| e.to_string()).collect();
                write!(f, "{}({})", function.qualified_name(), items.join(", "))
            }
            ScalarExpr::SystemTimestamp => f.write_str("System.Timestamp()"),
        }
    }
}

fn not(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

impl ScalarExpr {
    /// A reference to the top-level column `name`.
    pub fn column(name: impl Into<Name>) -> ScalarExpr {
        ScalarExpr::Column(ColumnRef::new(name))
    }

    /// Rebuilds this node with `f` applied to each direct child.
    pub fn map_children(self, f: &mut dyn FnMut(ScalarExpr) -> ScalarExpr) -> ScalarExpr {
        let mut b = |e: Box<ScalarExpr>| Box::new(f(*e));
        match self {
            leaf @ (ScalarExpr::Literal(_)
            | ScalarExpr::Column(_)
            | ScalarExpr::ColumnIn(..)
            | ScalarExpr::ColumnOrString(_)
            | ScalarExpr::SystemTimestamp) => leaf,
            ScalarExpr::Field(base, name) => ScalarExpr::Field(b(base), name),
            ScalarExpr::Unary(op, e) => ScalarExpr::Unary(op, b(e)),
            ScalarExpr::Binary(op, l, r) => {
                let l = b(l);
                ScalarExpr::Binary(op, l, b(r))
            }
            ScalarExpr::Like {
                expr,
                pattern,
                negated,
            } => {
                let expr = b(expr);
                ScalarExpr::Like {
                    expr,
                    pattern: b(pattern),
                    negated,
                }
            }
            ScalarExpr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let expr = b(expr);
                let low = b(low);
                ScalarExpr::Between {
                    expr,
                    low,
                    high: b(high),
                    negated,
                }
            }
            ScalarExpr::InList {
                expr,
                list,
                negated,
            } => {
                let expr = b(expr);
                ScalarExpr::InList {
                    expr,
                    list: list.into_iter().map(&mut *f).collect(),
                    negated,
                }
            }
            ScalarExpr::IsNull { expr, negated } => ScalarExpr::IsNull {
                expr: b(expr),
                negated,
            },
            ScalarExpr::Case { whens, otherwise } => {
                let whens = whens.into_iter().map(|(w, t)| (f(w), f(t))).collect();
                ScalarExpr::Case {
                    whens,
                    otherwise: Box::new(f(*otherwise)),
                }
            }
            ScalarExpr::Cast { expr, ty, try_cast } => ScalarExpr::Cast {
                expr: b(expr),
                ty,
                try_cast,
            },
            ScalarExpr::Call { function, args } => ScalarExpr::Call {
                function,
                args: args.into_iter().map(&mut *f).collect(),
            },
            ScalarExpr::Udf { function, args } => ScalarExpr::Udf {
                function,
                args: args.into_iter().map(&mut *f).collect(),
            },
        }
    }
}

/// A column name, and the position in the row where it was last found.
///
/// A stream's rows keep their columns in one order (an aggregate's output
/// always, a JSON source usually), so the field at the remembered position
/// is nearly always the one: a lookup compares one name instead of
/// scanning the row and comparing every name before it case-insensitively.
/// A row without the name there is scanned as before and the position is
/// updated. The position is shared by every worker evaluating the
/// expression; it is only a guess, so a stale one costs a scan, never a
/// wrong value (a record's names are unique case-insensitively).
#[derive(Debug)]
pub struct ColumnRef {
    name: Name,
    hint: AtomicU32,
}

impl ColumnRef {
    /// A reference to the column `name`.
    pub fn new(name: impl Into<Name>) -> Self {
        ColumnRef {
            name: name.into(),
            hint: AtomicU32::new(0),
        }
    }

    /// The column's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The column's name, by value.
    pub fn into_name(self) -> Name {
        self.name
    }

    /// The column's value in `row` (case-insensitive), if present: the
    /// same field [`crate::types::Record::get`] finds.
    pub fn find<'r>(&self, row: &'r Row) -> Option<&'r Value> {
        let fields = row.fields();
        let at = self.position(fields)?;
        fields.get(at).map(|(_, value)| value)
    }

    /// Where [`Self::find`] finds the column among a row's `fields`.
    pub fn position(&self, fields: &[(Name, Value)]) -> Option<usize> {
        let hint = self.hint.load(Ordering::Relaxed) as usize;
        if let Some((name, _)) = fields.get(hint) {
            if same_name(name, &self.name) {
                return Some(hint);
            }
        }
        let at = fields
            .iter()
            .position(|(name, _)| same_name(name, &self.name))?;
        self.hint.store(at as u32, Ordering::Relaxed);
        Some(at)
    }
}

/// Case-insensitive name equality, with exact bytes (the usual case) first.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.as_bytes() == b.as_bytes() || a.eq_ignore_ascii_case(b))
}

impl Clone for ColumnRef {
    fn clone(&self) -> Self {
        ColumnRef {
            name: self.name.clone(),
            hint: AtomicU32::new(self.hint.load(Ordering::Relaxed)),
        }
    }
}

impl std::ops::Deref for ColumnRef {
    type Target = Name;

    fn deref(&self) -> &Name {
        &self.name
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What an expression can see besides the row.
#[derive(Clone, Copy, Debug)]
pub struct EvalContext {
    /// `System.Timestamp()`: the row's event time.
    pub timestamp: DateTime,
}

/// [`eval`], with a column or field path borrowed from `row` instead of
/// copied (for a caller that only reads the value).
pub fn eval_borrowed<'r>(
    expr: &ScalarExpr,
    row: &'r Row,
    ctx: &EvalContext,
) -> Result<std::borrow::Cow<'r, Value>, EvalError> {
    if let Some(Some(found)) = path_in(expr, row) {
        return Ok(std::borrow::Cow::Borrowed(found));
    }
    eval(expr, row, ctx).map(std::borrow::Cow::Owned)
}

/// Evaluates `expr` over `row`.
pub fn eval(expr: &ScalarExpr, row: &Row, ctx: &EvalContext) -> Result<Value, EvalError> {
    Ok(match expr {
        ScalarExpr::Literal(v) => v.clone(),
        ScalarExpr::Column(column) => column.find(row).cloned().unwrap_or(Value::Null),
        ScalarExpr::ColumnIn(sources, name) => sources
            .iter()
            .find_map(|source| match row.get(source) {
                Some(Value::Record(record)) => record.get(name).cloned(),
                _ => None,
            })
            .unwrap_or(Value::Null),
        ScalarExpr::ColumnOrString(name) => match row.get(name) {
            Some(v) => v.clone(),
            None => Value::String(name.to_string()),
        },
        ScalarExpr::Field(base, name) => match path_in(expr, row) {
            Some(found) => found.cloned().unwrap_or(Value::Null),
            None => field(eval(base, row, ctx)?, name),
        },
        ScalarExpr::Unary(op, e) => ops::unary(*op, &eval(e, row, ctx)?)?,
        ScalarExpr::Binary(BinaryOp::And, l, r) => {
            let left = eval(l, row, ctx)?;
            if matches!(left, Value::Bit(false)) {
                return Ok(Value::Bit(false));
            }
            ops::binary(BinaryOp::And, &left, &eval(r, row, ctx)?)?
        }
        ScalarExpr::Binary(BinaryOp::Or, l, r) => {
            let left = eval(l, row, ctx)?;
            if matches!(left, Value::Bit(true)) {
                return Ok(Value::Bit(true));
            }
            ops::binary(BinaryOp::Or, &left, &eval(r, row, ctx)?)?
        }
        ScalarExpr::Binary(op, l, r) => ops::binary(*op, &eval(l, row, ctx)?, &eval(r, row, ctx)?)?,
        ScalarExpr::Like {
            expr,
            pattern,
            negated,
        } => {
            let matched = ops::like(&eval(expr, row, ctx)?, &eval(pattern, row, ctx)?)?;
            negate_if(matched, *negated)?
        }
        ScalarExpr::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let value = eval(expr, row, ctx)?;
            let low = eval(low, row, ctx)?;
            let high = eval(high, row, ctx)?;
            let above = ops::binary(BinaryOp::GtEq, &value, &low)?;
            let below = ops::binary(BinaryOp::LtEq, &value, &high)?;
            negate_if(ops::binary(BinaryOp::And, &above, &below)?, *negated)?
        }
        ScalarExpr::InList {
            expr,
            list,
            negated,
        } => {
            let value = eval(expr, row, ctx)?;
            let mut result = Value::Bit(false);
            for candidate in list {
                let equal = ops::binary(BinaryOp::Eq, &value, &eval(candidate, row, ctx)?)?;
                result = ops::binary(BinaryOp::Or, &result, &equal)?;
                if matches!(result, Value::Bit(true)) {
                    break;
                }
            }
            negate_if(result, *negated)?
        }
        ScalarExpr::IsNull { expr, negated } => {
            Value::Bit(eval(expr, row, ctx)?.is_null() != *negated)
        }
        ScalarExpr::Case { whens, otherwise } => {
            for (condition, result) in whens {
                if ops::is_true(&eval(condition, row, ctx)?) {
                    return eval(result, row, ctx);
                }
            }
            eval(otherwise, row, ctx)?
        }
        ScalarExpr::Cast { expr, ty, try_cast } => {
            let value = eval(expr, row, ctx)?;
            if *try_cast {
                cast::try_cast(&value, *ty)
            } else {
                cast::cast(&value, *ty)?
            }
        }
        ScalarExpr::Call { function, args } => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(eval(arg, row, ctx)?);
            }
            (function.eval)(&values)?
        }
        ScalarExpr::Udf { function, args } => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(eval(arg, row, ctx)?);
            }
            function.call(&values)?
        }
        ScalarExpr::SystemTimestamp => Value::DateTime(ctx.timestamp),
    })
}

fn negate_if(value: Value, negated: bool) -> Result<Value, EvalError> {
    if negated {
        ops::unary(UnaryOp::Not, &value)
    } else {
        Ok(value)
    }
}

/// The value a column path (`a.b.c`) names in `row`, borrowed, so the
/// records it passes through are not copied: `Some(None)` when the path
/// leads nowhere, `None` when `expr` is not a column path.
fn path_in<'r>(expr: &ScalarExpr, row: &'r Row) -> Option<Option<&'r Value>> {
    match expr {
        ScalarExpr::Column(column) => Some(column.find(row)),
        ScalarExpr::Field(base, name) => Some(match path_in(base, row)? {
            Some(Value::Record(record)) => record.get(name),
            Some(Value::Array(items)) => name.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }),
        _ => None,
    }
}

/// `base.name`: a record field (case-insensitive), or an array element
/// when `name` is a number (`arr.[0]`); NULL when absent.
fn field(base: Value, name: &str) -> Value {
    match base {
        Value::Record(record) => record.get(name).cloned().unwrap_or(Value::Null),
        Value::Array(items) => name
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i).cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[(&str, i64)]) -> Row {
        Row::from_fields(
            fields
                .iter()
                .map(|(name, v)| (Name::from(*name), Value::Bigint(*v))),
        )
    }

    /// The remembered position is a guess: rows with the column elsewhere,
    /// in another case, or without it read as `Record::get` reads them.
    #[test]
    fn a_column_reads_what_a_lookup_by_name_reads_in_rows_of_any_order() {
        let column = ColumnRef::new("Speed");
        let rows = [
            row(&[("speed", 1), ("b", 2)]),
            row(&[("a", 3), ("SPEED", 4)]),
            row(&[("a", 5), ("speed", 6)]),
            row(&[("a", 7)]),
            row(&[("Speed", 8)]),
            row(&[("a", 9), ("b", 10), ("spee", 11), ("speed", 12)]),
            row(&[]),
        ];
        for _ in 0..2 {
            for r in &rows {
                assert_eq!(column.find(r), r.get("speed"), "{r:?}");
            }
        }
        // A copy starts from the copied guess and stays right.
        let copy = column.clone();
        for r in &rows {
            assert_eq!(copy.find(r), r.get("speed"), "{r:?}");
        }
    }
}
