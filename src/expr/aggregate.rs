//! The aggregate functions (ASA-SEMANTICS.md §4, §13.10): `COUNT`, `SUM`,
//! `AVG`, `MIN`, `MAX`, `STDEV(P)`, `VAR(P)`, `TopOne`, `CollectTop`,
//! `Collect`, `PERCENTILE_CONT` and `PERCENTILE_DISC`, each computed from
//! scratch over the consolidated contents of one group.
//!
//! The dataflow renderer owns grouping and windows; this module only turns
//! a group's `(value, ORDER BY keys, multiplicity)` triples into one
//! [`Value`]. It knows nothing about time, windows or timely.
//!
//! Rules shared by every aggregate (the choices where the ASA reference is
//! silent are marked *Eddy*):
//! - NULL arguments are ignored; only `COUNT(*)` counts them. An empty or
//!   all-NULL group gives NULL (bigint 0 for the `COUNT`s, an empty array
//!   for `Collect` and `CollectTop`).
//! - Numeric arguments: bit counts as bigint 0/1, bigint and float as
//!   themselves, and nvarchar is implicitly cast to float (an error when it
//!   is not a number), as ASA casts strings for math functions. Other types
//!   are conversion errors naming the aggregate.
//! - *Eddy*: results never depend on the order of the inputs. Bigint sums
//!   are exact (only a final total outside the bigint range is an overflow
//!   error), float sums add sorted terms with compensated summation, and
//!   ties are broken by [`Value`]'s total order.
//! - *Eddy*: a float result that is not finite (overflow) is an arithmetic
//!   error, as in T-SQL, instead of an infinity that JSON cannot carry.
//!
//! The per-aggregate choices are documented on [`AggregateKind`]'s
//! variants.
//!
//! # Contract
//! [`compute`] never panics and is deterministic: a permutation of its
//! inputs gives the same result. Multiplicities are positive (the caller
//! consolidates); a zero count is skipped and a negative one is an
//! argument error.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::cast::{describe, to_f64};
use super::ops::compare;
use super::EvalError;
use crate::types::{DateTime, Name, Record, Value};

/// Which aggregate, bound and checked by the binder.
#[derive(Clone, Debug, PartialEq)]
pub enum AggregateKind {
    /// `COUNT(*)` and `COUNT(input alias)`: the number of rows, NULL or not.
    CountStar,
    /// `COUNT(e)`: the number of non-NULL values.
    Count,
    /// `COUNT(DISTINCT e)`: the number of distinct non-NULL values.
    ///
    /// Values are the same when [`compare`] finds them equal, so bigint 1,
    /// float 1.0 and bit 1 are one value, and records are compared by
    /// field name (case-insensitively, in any order). *Eddy*: inside
    /// records and arrays NULL equals NULL (so `COUNT(DISTINCT input)`
    /// counts two identical events with a NULL field once), and a string
    /// is never the same value as a datetime (`compare` parses the string,
    /// but that relation is not transitive across spellings of one
    /// instant, so a count based on it would depend on input order).
    CountDistinct,
    /// `SUM(e)`: bigint when every value is bigint or bit (exact; a total
    /// outside the bigint range is an arithmetic error), float as soon as
    /// one value is float or nvarchar.
    Sum,
    /// `AVG(e)`: always float. *Eddy*: the reference says the type is
    /// "determined by the evaluated expression" and its examples print
    /// both `70` and `95.0` (§13.10); Eddy returns float, the exact mean,
    /// rather than T-SQL's truncating integer average.
    Avg,
    /// `MIN(e)`: the least non-NULL value, keeping its own type.
    ///
    /// Numbers (bit, bigint, float) compare numerically and exactly;
    /// datetimes chronologically. *Eddy*: strings compare ordinally (by
    /// code point) when the whole group is strings, which is how
    /// `MIN(Time)` over ISO 8601 text works in the session-window example;
    /// strings mixed with datetimes are parsed as datetimes, and strings
    /// mixed with numbers are cast to float (the reference's implicit
    /// cast). Numbers mixed with datetimes, records and arrays are
    /// conversion errors. A NaN float sorts above every number. Between
    /// equal values (bigint 1 and float 1.0) the one first in [`Value`]'s
    /// total order wins (bigint before float, datetime before string).
    Min,
    /// `MAX(e)`: as [`AggregateKind::Min`], the greatest value.
    Max,
    /// `STDEV(e)`: sample standard deviation, float; NULL for fewer than
    /// two values.
    Stdev,
    /// `STDEVP(e)`: population standard deviation, float; 0 for one value.
    Stdevp,
    /// `VAR(e)`: sample variance, float; NULL for fewer than two values.
    Var,
    /// `VARP(e)`: population variance, float; 0 for one value.
    Varp,
    /// `TopOne() OVER (ORDER BY ...)`: the `value` of the first input in
    /// ORDER BY order (`true` = descending, one flag per key).
    ///
    /// ORDER BY keys are bigint, float or datetime (bit counts as a
    /// number); NULL sorts as the minimum, so it comes first ascending and
    /// last descending. *Eddy*: a string key is parsed as an ISO 8601
    /// datetime (JSON carries datetimes as text) and is a conversion error
    /// otherwise; numbers and datetimes in the same key position are a
    /// conversion error. Ties are broken by the value's total order,
    /// ascending, whatever the direction.
    TopOne {
        /// Per ORDER BY key: descending.
        order: Vec<bool>,
    },
    /// `CollectTop(n) OVER (ORDER BY ...)`: an array of the first `n`
    /// inputs in ORDER BY order (as for [`AggregateKind::TopOne`]), each as
    /// a record `{"rank": bigint, "value": <value>}`. An input with
    /// multiplicity `c` appears `c` times.
    ///
    /// *Eddy*: ranking is competition ranking (SQL `RANK()`): entries with
    /// equal ORDER BY keys share the rank of the first of them, and the
    /// next rank skips (1, 1, 3). The array has exactly `min(n, rows)`
    /// entries; ties at the cut are decided by the value's total order.
    /// The documented example has no ties, so it cannot tell the two
    /// rankings apart.
    CollectTop {
        /// How many entries at most.
        n: usize,
        /// Per ORDER BY key: descending.
        order: Vec<bool>,
    },
    /// `Collect()` / `Collect(e)`: an array of the non-NULL values, each
    /// repeated by its multiplicity. *Eddy*: the reference does not
    /// guarantee an order; Eddy sorts by [`Value`]'s total order so that
    /// output is reproducible, and returns `[]` (never NULL) for an empty
    /// group.
    Collect,
    /// `PERCENTILE_CONT(p) OVER (ORDER BY e [DESC])`: float, linearly
    /// interpolated as T-SQL does: with the `N` values sorted, the
    /// zero-based position `p·(N−1)` between the values at its floor and
    /// ceiling.
    ///
    /// The sorted expression is the first ORDER BY key (`value` when the
    /// input has no key). It is bigint or float (bit counts as bigint,
    /// nvarchar is cast to float); NULLs are ignored, an empty group gives
    /// NULL, and `p` outside `[0, 1]` is an argument error.
    PercentileCont {
        /// The percentile, in `[0, 1]`.
        p: f64,
        /// `ORDER BY e DESC`.
        descending: bool,
    },
    /// `PERCENTILE_DISC(p) OVER (ORDER BY e [DESC])`: the first value, in
    /// ORDER BY order, whose cumulative distribution (rows up to and
    /// including its peers, over all rows) is at least `p` (T-SQL). The
    /// value keeps its type (bigint or float; *Eddy*: a bit comes back as
    /// bigint and a string as the float it was cast to). Input rules as for
    /// [`AggregateKind::PercentileCont`].
    PercentileDisc {
        /// The percentile, in `[0, 1]`.
        p: f64,
        /// `ORDER BY e DESC`.
        descending: bool,
    },
    /// `uda.Name(e)`: a JavaScript user-defined aggregate (see
    /// [`super::javascript`]). Its single ORDER BY key is the row's event
    /// time (the binder adds it), which `accumulate(value, timestamp)`
    /// receives; rows are accumulated in event-time order, ties by value,
    /// each as often as its multiplicity. NULL values are accumulated too:
    /// the JavaScript code decides what they mean.
    Uda(std::sync::Arc<super::javascript::JsFunction>),
}

/// One input of an aggregate for one row of the group: the argument value
/// (for COUNT(*) / TopOne() / CollectTop(n) / Collect() without an
/// argument: the whole row as `Value::Record`), the ORDER BY key values
/// (empty when there is no ORDER BY), and the row's multiplicity (a
/// positive count; the caller consolidates).
#[derive(Clone, Copy, Debug)]
pub struct AggregateInput<'a> {
    /// The argument (or the whole row).
    pub value: &'a Value,
    /// ORDER BY key values, one per key.
    pub order_keys: &'a [Value],
    /// How many times this row is in the group.
    pub count: isize,
}

/// Computes the aggregate over one group. Deterministic: the result does
/// not depend on the order of `inputs`.
pub fn compute(kind: &AggregateKind, inputs: &[AggregateInput<'_>]) -> Result<Value, EvalError> {
    compute_onto(kind, &IntegerFold::default(), inputs)
}

/// The rows of a COUNT(*), COUNT, SUM or AVG whose argument is a bigint or
/// NULL, summarised as they arrive instead of kept: for these aggregates
/// such rows matter only through their total multiplicity, how many have a
/// non-NULL argument and the exact sum of the arguments (a float sum adds
/// the bigint sum as one term; see `Numbers::float_sum`). A retraction
/// folds in with its negative multiplicity, which is what consolidating
/// the rows first would give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntegerFold {
    /// Net multiplicity of the folded rows.
    pub rows: i64,
    /// Net multiplicity of those with a non-NULL argument.
    pub non_null: i64,
    /// Exact sum of their arguments, each times its multiplicity.
    pub sum: i128,
}

impl IntegerFold {
    /// True when `kind` is summarised by an [`IntegerFold`] at all.
    pub fn applies_to(kind: &AggregateKind) -> bool {
        matches!(
            kind,
            AggregateKind::CountStar
                | AggregateKind::Count
                | AggregateKind::Sum
                | AggregateKind::Avg
        )
    }

    /// True when a row with argument `value` can be folded for `kind`
    /// (a kind the fold applies to).
    pub fn takes(kind: &AggregateKind, value: &Value) -> bool {
        match kind {
            AggregateKind::CountStar | AggregateKind::Count => true,
            AggregateKind::Sum | AggregateKind::Avg => {
                matches!(value, Value::Null | Value::Bigint(_))
            }
            _ => false,
        }
    }

    /// Folds a row with argument `value` (one [`IntegerFold::takes`]) and
    /// multiplicity `diff`.
    pub fn add(&mut self, value: &Value, diff: isize) {
        let diff = diff as i64;
        self.rows = self.rows.saturating_add(diff);
        if !value.is_null() {
            self.non_null = self.non_null.saturating_add(diff);
        }
        if let Value::Bigint(i) = value {
            self.sum = self.sum.saturating_add(i128::from(*i) * i128::from(diff));
        }
    }

    /// Adds the rows another fold summarises.
    pub fn merge(&mut self, other: &IntegerFold) {
        self.rows = self.rows.saturating_add(other.rows);
        self.non_null = self.non_null.saturating_add(other.non_null);
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// True when nothing (net) is folded.
    pub fn is_empty(&self) -> bool {
        *self == IntegerFold::default()
    }

    fn multiplicity(agg: &str, net: i64) -> Result<u64, EvalError> {
        u64::try_from(net).map_err(|_| {
            EvalError::argument(format!(
                "{agg}: negative multiplicity {net} (inputs must be consolidated)"
            ))
        })
    }
}

/// [`compute`] over the rows `fold` summarises plus `inputs`: the same
/// value as over all the rows, for the kinds [`IntegerFold::applies_to`].
pub fn compute_onto(
    kind: &AggregateKind,
    fold: &IntegerFold,
    inputs: &[AggregateInput<'_>],
) -> Result<Value, EvalError> {
    let agg = name(kind);
    if !fold.is_empty() && !IntegerFold::applies_to(kind) {
        return Err(EvalError::argument(format!(
            "{agg}: cannot be computed from folded rows"
        )));
    }
    // The counts and sums do not depend on the order of their rows (float
    // terms are sorted where they are added), only their first error does:
    // they skip the canonical sort unless there is an error to report.
    let order_free = matches!(
        kind,
        AggregateKind::CountStar | AggregateKind::Count | AggregateKind::Sum | AggregateKind::Avg
    );
    if order_free {
        if let Ok(value) =
            weighted(agg, inputs, false).and_then(|rows| compute_weighted(kind, agg, fold, &rows))
        {
            return Ok(value);
        }
    }
    let rows = weighted(agg, inputs, true)?;
    compute_weighted(kind, agg, fold, &rows)
}

/// [`compute_onto`] over checked rows.
fn compute_weighted(
    kind: &AggregateKind,
    agg: &'static str,
    fold: &IntegerFold,
    rows: &[Row<'_, '_>],
) -> Result<Value, EvalError> {
    match kind {
        AggregateKind::CountStar => count(
            agg,
            std::iter::once(IntegerFold::multiplicity(agg, fold.rows)?)
                .chain(rows.iter().map(|r| r.count)),
        ),
        AggregateKind::Count => count(
            agg,
            std::iter::once(IntegerFold::multiplicity(agg, fold.non_null)?).chain(
                rows.iter()
                    .filter(|r| !r.input.value.is_null())
                    .map(|r| r.count),
            ),
        ),
        AggregateKind::CountDistinct => count_distinct(rows),
        AggregateKind::Sum => sum(agg, fold, rows),
        AggregateKind::Avg => avg(agg, fold, rows),
        AggregateKind::Min => extreme(agg, rows, Ordering::Less),
        AggregateKind::Max => extreme(agg, rows, Ordering::Greater),
        AggregateKind::Stdev => spread(agg, rows, true, true),
        AggregateKind::Stdevp => spread(agg, rows, false, true),
        AggregateKind::Var => spread(agg, rows, true, false),
        AggregateKind::Varp => spread(agg, rows, false, false),
        AggregateKind::TopOne { order } => {
            let sorted = sort_by_order(agg, rows, order)?;
            Ok(sorted.first().map_or(Value::Null, |e| e.value.clone()))
        }
        AggregateKind::CollectTop { n, order } => collect_top(agg, rows, *n, order),
        AggregateKind::Collect => Ok(collect(rows)),
        AggregateKind::PercentileCont { p, descending } => {
            percentile(agg, rows, *p, *descending, true)
        }
        AggregateKind::Uda(function) => {
            let mut accumulated = Vec::with_capacity(rows.len());
            for row in rows {
                let time = match row.input.order_keys.first() {
                    Some(Value::DateTime(t)) => *t,
                    _ => {
                        return Err(EvalError::argument(format!(
                            "{}: a row without its event time",
                            function.qualified_name()
                        )))
                    }
                };
                accumulated.push((row.input.value, time, row.count));
            }
            function.aggregate(&accumulated)
        }
        AggregateKind::PercentileDisc { p, descending } => {
            percentile(agg, rows, *p, *descending, false)
        }
    }
}

/// The aggregate's name for messages and explain output, e.g.
/// `"COUNT(DISTINCT)"`.
pub fn name(kind: &AggregateKind) -> &'static str {
    match kind {
        AggregateKind::CountStar => "COUNT(*)",
        AggregateKind::Count => "COUNT",
        AggregateKind::CountDistinct => "COUNT(DISTINCT)",
        AggregateKind::Sum => "SUM",
        AggregateKind::Avg => "AVG",
        AggregateKind::Min => "MIN",
        AggregateKind::Max => "MAX",
        AggregateKind::Stdev => "STDEV",
        AggregateKind::Stdevp => "STDEVP",
        AggregateKind::Var => "VAR",
        AggregateKind::Varp => "VARP",
        AggregateKind::TopOne { .. } => "TopOne",
        AggregateKind::CollectTop { .. } => "CollectTop",
        AggregateKind::Collect => "Collect",
        AggregateKind::PercentileCont { .. } => "PERCENTILE_CONT",
        AggregateKind::PercentileDisc { .. } => "PERCENTILE_DISC",
        AggregateKind::Uda(_) => "JavaScript UDA",
    }
}

/// An input with its multiplicity checked.
struct Row<'i, 'a> {
    input: &'i AggregateInput<'a>,
    count: u64,
}

/// The inputs with a positive count, in [`Value`]'s total order when
/// `canonical` (else as given); a negative count is an error.
fn weighted<'i, 'a>(
    agg: &str,
    inputs: &'i [AggregateInput<'a>],
    canonical: bool,
) -> Result<Vec<Row<'i, 'a>>, EvalError> {
    let mut rows = Vec::with_capacity(inputs.len());
    for input in inputs {
        let count = u64::try_from(input.count).map_err(|_| {
            EvalError::argument(format!(
                "{agg}: negative multiplicity {} (inputs must be consolidated)",
                input.count
            ))
        })?;
        if count > 0 {
            rows.push(Row { input, count });
        }
    }
    if !canonical {
        return Ok(rows);
    }
    // A canonical order, so that everything downstream (errors included)
    // is independent of the order the caller passed.
    rows.sort_by(|a, b| {
        a.input
            .value
            .cmp(b.input.value)
            .then_with(|| a.input.order_keys.cmp(b.input.order_keys))
            .then(a.count.cmp(&b.count))
    });
    Ok(rows)
}

fn overflow(agg: &str, what: &str) -> EvalError {
    EvalError::arithmetic(format!("{agg}: {what} overflow"))
}

fn count(agg: &str, counts: impl Iterator<Item = u64>) -> Result<Value, EvalError> {
    let mut total: u64 = 0;
    for c in counts {
        total = total
            .checked_add(c)
            .ok_or_else(|| overflow(agg, "bigint"))?;
    }
    i64::try_from(total)
        .map(Value::Bigint)
        .map_err(|_| overflow(agg, "bigint"))
}

fn count_distinct(rows: &[Row<'_, '_>]) -> Result<Value, EvalError> {
    let distinct: BTreeSet<Value> = rows
        .iter()
        .filter(|r| !r.input.value.is_null())
        .map(|r| canonical(r.input.value))
        .collect();
    i64::try_from(distinct.len())
        .map(Value::Bigint)
        .map_err(|_| overflow("COUNT(DISTINCT)", "bigint"))
}

/// A representative of `v`'s equivalence class under [`compare`] equality:
/// numbers become bigint when integral (else float, with one NaN and no
/// negative zero), records get lowercase names in sorted order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Bit(b) => Value::Bigint(i64::from(*b)),
        Value::Float(f) => {
            const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
            if f.is_nan() {
                Value::Float(f64::NAN)
            } else if f.trunc() == *f && (-LIMIT..LIMIT).contains(f) {
                // Integral and in range, so the cast is exact.
                Value::Bigint(*f as i64)
            } else {
                Value::Float(*f)
            }
        }
        Value::Record(record) => {
            let mut fields: Vec<(Name, Value)> = record
                .fields()
                .iter()
                .map(|(n, v)| (Name::from(n.to_ascii_lowercase()), canonical(v)))
                .collect();
            fields.sort();
            let mut out = Record::with_capacity(fields.len());
            for (n, v) in fields {
                out.push_unchecked(n, v);
            }
            Value::Record(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Null | Value::Bigint(_) | Value::String(_) | Value::DateTime(_) => v.clone(),
    }
}

/// A number: bigint (bits count as 0/1) or float.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn to_value(self) -> Value {
        match self {
            Num::Int(i) => Value::Bigint(i),
            Num::Float(f) => Value::Float(f),
        }
    }

    fn to_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn is_nan(self) -> bool {
        matches!(self, Num::Float(f) if f.is_nan())
    }
}

/// Exact numeric order; NaN is above every number and equal to itself.
fn num_cmp(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        _ => compare(&a.to_value(), &b.to_value()).unwrap_or_else(|| a.is_nan().cmp(&b.is_nan())),
    }
}

/// A numeric argument: bit, bigint, float, or a string cast to float.
fn to_num(agg: &str, v: &Value) -> Result<Option<Num>, EvalError> {
    Ok(match v {
        Value::Null => None,
        Value::Bit(b) => Some(Num::Int(i64::from(*b))),
        Value::Bigint(i) => Some(Num::Int(*i)),
        Value::Float(f) => Some(Num::Float(*f)),
        _ => to_f64(v, agg)?.map(Num::Float),
    })
}

/// The non-NULL numeric arguments of a group, summed order-independently.
struct Numbers {
    /// Every value with its multiplicity, sorted by value when a sum over
    /// them depends on the order (see [`Numbers::gather`]).
    values: Vec<(Num, u64)>,
    /// Total multiplicity.
    n: u64,
    /// Exact sum of the bigint values.
    int_sum: i128,
    /// True when a value is float (or was cast to float).
    any_float: bool,
}

impl Numbers {
    /// `every_term_ordered` sorts the bigint values too, for a caller that
    /// adds float terms derived from them; otherwise only a group with a
    /// float value is sorted (bigint sums are exact in any order).
    fn gather(
        agg: &str,
        fold: &IntegerFold,
        rows: &[Row<'_, '_>],
        every_term_ordered: bool,
    ) -> Result<Numbers, EvalError> {
        let mut values = Vec::with_capacity(rows.len());
        let mut n: u64 = IntegerFold::multiplicity(agg, fold.non_null)?;
        let mut int_sum: i128 = fold.sum;
        let mut any_float = false;
        for row in rows {
            let Some(num) = to_num(agg, row.input.value)? else {
                continue;
            };
            n = n
                .checked_add(row.count)
                .ok_or_else(|| overflow(agg, "count"))?;
            match num {
                Num::Int(i) => {
                    int_sum = i128::from(i)
                        .checked_mul(i128::from(row.count))
                        .and_then(|term| int_sum.checked_add(term))
                        .ok_or_else(|| overflow(agg, "bigint"))?;
                }
                Num::Float(_) => any_float = true,
            }
            values.push((num, row.count));
        }
        if any_float || every_term_ordered {
            values.sort_by(|(a, c), (b, d)| {
                num_cmp(*a, *b)
                    .then_with(|| a.to_value().cmp(&b.to_value()))
                    .then(c.cmp(d))
            });
        }
        Ok(Numbers {
            values,
            n,
            int_sum,
            any_float,
        })
    }

    /// The sum as a float: the float values (sorted, compensated) plus the
    /// exact bigint sum.
    fn float_sum(&self) -> f64 {
        let floats = compensated_sum(self.values.iter().filter_map(|(num, c)| match num {
            Num::Float(f) => Some(f * *c as f64),
            Num::Int(_) => None,
        }));
        floats + self.int_sum as f64
    }
}

/// Neumaier's compensated summation.
fn compensated_sum(terms: impl Iterator<Item = f64>) -> f64 {
    let mut sum = 0.0_f64;
    let mut compensation = 0.0_f64;
    for term in terms {
        let next = sum + term;
        if sum.abs() >= term.abs() {
            compensation += (sum - next) + term;
        } else {
            compensation += (term - next) + sum;
        }
        sum = next;
    }
    sum + compensation
}

fn finite(agg: &str, f: f64) -> Result<Value, EvalError> {
    if f.is_finite() {
        Ok(Value::Float(f))
    } else {
        Err(EvalError::arithmetic(format!(
            "{agg}: the result is not a finite float (overflow)"
        )))
    }
}

fn sum(agg: &str, fold: &IntegerFold, rows: &[Row<'_, '_>]) -> Result<Value, EvalError> {
    let numbers = Numbers::gather(agg, fold, rows, false)?;
    if numbers.n == 0 {
        Ok(Value::Null)
    } else if numbers.any_float {
        finite(agg, numbers.float_sum())
    } else {
        i64::try_from(numbers.int_sum)
            .map(Value::Bigint)
            .map_err(|_| overflow(agg, "bigint"))
    }
}

fn avg(agg: &str, fold: &IntegerFold, rows: &[Row<'_, '_>]) -> Result<Value, EvalError> {
    let numbers = Numbers::gather(agg, fold, rows, false)?;
    if numbers.n == 0 {
        return Ok(Value::Null);
    }
    finite(agg, numbers.float_sum() / numbers.n as f64)
}

/// VAR, VARP, STDEV, STDEVP: two passes (mean, then squared deviations).
fn spread(agg: &str, rows: &[Row<'_, '_>], sample: bool, root: bool) -> Result<Value, EvalError> {
    let numbers = Numbers::gather(agg, &IntegerFold::default(), rows, true)?;
    let n = numbers.n;
    if n == 0 || (sample && n < 2) {
        return Ok(Value::Null);
    }
    let mean = numbers.float_sum() / n as f64;
    if !mean.is_finite() {
        return finite(agg, mean);
    }
    let squares = compensated_sum(numbers.values.iter().map(|(num, c)| {
        let d = num.to_f64() - mean;
        d * d * *c as f64
    }));
    let divisor = (if sample { n - 1 } else { n }) as f64;
    let variance = squares / divisor;
    finite(agg, if root { variance.sqrt() } else { variance })
}

/// How MIN/MAX compare a group's values, decided once per group so that the
/// order is total.
#[derive(Clone, Copy, PartialEq)]
enum Domain {
    Number,
    Text,
    Time,
}

/// A MIN/MAX comparison key.
enum ExtremeKey<'v> {
    Number(Num),
    Text(&'v str),
    Time(DateTime),
}

fn extreme_cmp(a: &ExtremeKey<'_>, b: &ExtremeKey<'_>) -> Ordering {
    match (a, b) {
        (ExtremeKey::Number(x), ExtremeKey::Number(y)) => num_cmp(*x, *y),
        (ExtremeKey::Text(x), ExtremeKey::Text(y)) => x.cmp(y),
        (ExtremeKey::Time(x), ExtremeKey::Time(y)) => x.cmp(y),
        // One domain per group, so other pairs do not occur.
        _ => Ordering::Equal,
    }
}

/// MIN (`want` = Less) or MAX (`want` = Greater).
fn extreme(agg: &str, rows: &[Row<'_, '_>], want: Ordering) -> Result<Value, EvalError> {
    let values: Vec<&Value> = rows
        .iter()
        .map(|r| r.input.value)
        .filter(|v| !v.is_null())
        .collect();
    let (mut number, mut text, mut time) = (None, None, None);
    for v in &values {
        match v {
            Value::Bit(_) | Value::Bigint(_) | Value::Float(_) => number = number.or(Some(*v)),
            Value::String(_) => text = text.or(Some(*v)),
            Value::DateTime(_) => time = time.or(Some(*v)),
            _ => {
                return Err(EvalError::conversion(format!(
                    "{agg}: cannot take {}",
                    describe(v)
                )))
            }
        }
    }
    let domain = match (number, text, time) {
        (Some(n), _, Some(t)) => {
            return Err(EvalError::conversion(format!(
                "{agg}: cannot compare {} with {}",
                describe(n),
                describe(t)
            )))
        }
        (_, _, Some(_)) => Domain::Time,
        (Some(_), _, None) => Domain::Number,
        (None, _, None) => Domain::Text,
    };
    let mut best: Option<(ExtremeKey<'_>, &Value)> = None;
    for v in values {
        let key = match (domain, v) {
            (Domain::Text, Value::String(s)) => ExtremeKey::Text(s),
            (Domain::Time, Value::DateTime(d)) => ExtremeKey::Time(*d),
            (Domain::Time, Value::String(s)) => match DateTime::parse(s) {
                Some(d) => ExtremeKey::Time(d),
                None => {
                    return Err(EvalError::conversion(format!(
                        "{agg}: cannot compare {} with datetimes",
                        describe(v)
                    )))
                }
            },
            _ => match to_num(agg, v)? {
                Some(num) => ExtremeKey::Number(num),
                None => continue,
            },
        };
        let better = match &best {
            None => true,
            Some((best_key, best_value)) => {
                let ord = extreme_cmp(&key, best_key);
                ord == want || (ord == Ordering::Equal && v < *best_value)
            }
        };
        if better {
            best = Some((key, v));
        }
    }
    Ok(best.map_or(Value::Null, |(_, v)| v.clone()))
}

/// An ORDER BY key of TopOne/CollectTop.
#[derive(Clone, Copy)]
enum SortKey {
    Null,
    Number(Num),
    Time(DateTime),
}

fn sort_key(agg: &str, v: &Value) -> Result<SortKey, EvalError> {
    Ok(match v {
        Value::Null => SortKey::Null,
        Value::Bit(b) => SortKey::Number(Num::Int(i64::from(*b))),
        Value::Bigint(i) => SortKey::Number(Num::Int(*i)),
        Value::Float(f) => SortKey::Number(Num::Float(*f)),
        Value::DateTime(d) => SortKey::Time(*d),
        Value::String(s) => match DateTime::parse(s) {
            Some(d) => SortKey::Time(d),
            None => return Err(order_by_error(agg, v)),
        },
        _ => return Err(order_by_error(agg, v)),
    })
}

fn order_by_error(agg: &str, v: &Value) -> EvalError {
    EvalError::conversion(format!(
        "{agg}: ORDER BY takes bigint, float or datetime, not {}",
        describe(v)
    ))
}

/// NULL first; numbers numerically; datetimes chronologically.
fn sort_key_cmp(a: SortKey, b: SortKey) -> Ordering {
    match (a, b) {
        (SortKey::Null, SortKey::Null) => Ordering::Equal,
        (SortKey::Null, _) => Ordering::Less,
        (_, SortKey::Null) => Ordering::Greater,
        (SortKey::Number(x), SortKey::Number(y)) => num_cmp(x, y),
        (SortKey::Time(x), SortKey::Time(y)) => x.cmp(&y),
        // Checked per key position in `sort_by_order`; does not occur.
        (SortKey::Number(_), SortKey::Time(_)) => Ordering::Less,
        (SortKey::Time(_), SortKey::Number(_)) => Ordering::Greater,
    }
}

/// An input with its ORDER BY keys evaluated.
struct Sorted<'a> {
    keys: Vec<SortKey>,
    value: &'a Value,
    count: u64,
}

/// Compares ORDER BY keys only (the rank relation).
fn keys_cmp(a: &[SortKey], b: &[SortKey], order: &[bool]) -> Ordering {
    for ((x, y), descending) in a.iter().zip(b).zip(order) {
        let ord = sort_key_cmp(*x, *y);
        let ord = if *descending { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// The rows in ORDER BY order, ties by value.
fn sort_by_order<'a>(
    agg: &str,
    rows: &[Row<'_, 'a>],
    order: &[bool],
) -> Result<Vec<Sorted<'a>>, EvalError> {
    let mut sorted = Vec::with_capacity(rows.len());
    // Per key position: whether numbers / datetimes were seen.
    let mut seen = vec![(false, false); order.len()];
    for row in rows {
        let keys = row.input.order_keys;
        if keys.len() != order.len() {
            return Err(EvalError::argument(format!(
                "{agg}: {} ORDER BY values for {} ORDER BY keys",
                keys.len(),
                order.len()
            )));
        }
        let keys = keys
            .iter()
            .map(|k| sort_key(agg, k))
            .collect::<Result<Vec<_>, _>>()?;
        for (key, (number, time)) in keys.iter().zip(seen.iter_mut()) {
            match key {
                SortKey::Number(_) => *number = true,
                SortKey::Time(_) => *time = true,
                SortKey::Null => {}
            }
        }
        sorted.push(Sorted {
            keys,
            value: row.input.value,
            count: row.count,
        });
    }
    if let Some(position) = seen.iter().position(|(number, time)| *number && *time) {
        return Err(EvalError::conversion(format!(
            "{agg}: ORDER BY key {} mixes numbers and datetimes",
            position + 1
        )));
    }
    sorted.sort_by(|a, b| {
        keys_cmp(&a.keys, &b.keys, order)
            .then_with(|| a.value.cmp(b.value))
            .then(a.count.cmp(&b.count))
    });
    Ok(sorted)
}

fn collect_top(
    agg: &str,
    rows: &[Row<'_, '_>],
    n: usize,
    order: &[bool],
) -> Result<Value, EvalError> {
    let sorted = sort_by_order(agg, rows, order)?;
    let mut out = Vec::new();
    // 1-based position of the next entry, and the rank of the current peers.
    let mut position: u64 = 1;
    let mut rank: u64 = 1;
    let mut previous: Option<&[SortKey]> = None;
    for entry in &sorted {
        if out.len() >= n {
            break;
        }
        if previous.is_some_and(|p| keys_cmp(p, &entry.keys, order) != Ordering::Equal) {
            rank = position;
        }
        previous = Some(&entry.keys);
        let rank_value = i64::try_from(rank).map_err(|_| overflow(agg, "rank"))?;
        let mut copies: u64 = 0;
        while copies < entry.count && out.len() < n {
            let mut record = Record::with_capacity(2);
            record.push_unchecked(Name::from("rank"), Value::Bigint(rank_value));
            record.push_unchecked(Name::from("value"), entry.value.clone());
            out.push(Value::Record(record));
            copies += 1;
        }
        position = position
            .checked_add(entry.count)
            .ok_or_else(|| overflow(agg, "rank"))?;
    }
    Ok(Value::Array(out))
}

fn collect(rows: &[Row<'_, '_>]) -> Value {
    let mut values: Vec<(&Value, u64)> = rows
        .iter()
        .filter(|r| !r.input.value.is_null())
        .map(|r| (r.input.value, r.count))
        .collect();
    values.sort();
    let mut out = Vec::new();
    for (v, count) in values {
        for _ in 0..count {
            out.push(v.clone());
        }
    }
    Value::Array(out)
}

fn percentile(
    agg: &str,
    rows: &[Row<'_, '_>],
    p: f64,
    descending: bool,
    continuous: bool,
) -> Result<Value, EvalError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(EvalError::argument(format!(
            "{agg}: the percentile must be between 0 and 1, not {p}"
        )));
    }
    let mut values: Vec<(Num, u64)> = Vec::with_capacity(rows.len());
    let mut n: u64 = 0;
    for row in rows {
        let source = row.input.order_keys.first().unwrap_or(row.input.value);
        if let Some(num) = to_num(agg, source)? {
            n = n
                .checked_add(row.count)
                .ok_or_else(|| overflow(agg, "count"))?;
            values.push((num, row.count));
        }
    }
    if n == 0 {
        return Ok(Value::Null);
    }
    values.sort_by(|(a, c), (b, d)| {
        let ord = num_cmp(*a, *b);
        let ord = if descending { ord.reverse() } else { ord };
        ord.then_with(|| a.to_value().cmp(&b.to_value()))
            .then(c.cmp(d))
    });
    if continuous {
        // Zero-based row number p·(N−1), between its floor and ceiling.
        let row_number = p * (n - 1) as f64;
        let (floor, ceiling) = (row_number.floor(), row_number.ceil());
        let (Some(low), Some(high)) = (
            value_at(&values, floor as u64),
            value_at(&values, ceiling as u64),
        ) else {
            return Ok(Value::Null);
        };
        let (low, high) = (low.to_f64(), high.to_f64());
        if floor == ceiling || low == high {
            return finite(agg, low);
        }
        finite(
            agg,
            (ceiling - row_number) * low + (row_number - floor) * high,
        )
    } else {
        // The first peer group whose cumulative distribution reaches p.
        let mut cumulative: u64 = 0;
        let mut index = 0;
        while let Some((first, _)) = values.get(index) {
            let mut end = index;
            while let Some((num, c)) = values.get(end) {
                if num_cmp(*num, *first) != Ordering::Equal {
                    break;
                }
                cumulative = cumulative.saturating_add(*c);
                end += 1;
            }
            if cumulative as f64 / n as f64 >= p {
                return Ok(first.to_value());
            }
            index = end;
        }
        // Unreachable: the last group has a cumulative distribution of 1.
        Ok(values.last().map_or(Value::Null, |(num, _)| num.to_value()))
    }
}

/// The value at a zero-based position of the sorted, weighted values.
fn value_at(values: &[(Num, u64)], position: u64) -> Option<Num> {
    let mut end: u64 = 0;
    for (num, count) in values {
        end = end.saturating_add(*count);
        if position < end {
            return Some(*num);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::EvalErrorKind;

    fn int(i: i64) -> Value {
        Value::Bigint(i)
    }

    proptest::proptest! {
        /// A fold holds the net rows, non-NULL rows and sum of what was
        /// added, whatever the multiplicities.
        #[test]
        fn a_fold_sums_rows_times_their_multiplicities(
            rows in proptest::collection::vec((proptest::option::of(-5i64..5), -2isize..3), 0..20),
            float in proptest::bool::ANY,
        ) {
            let mut fold = IntegerFold::default();
            let (mut net, mut non_null, mut sum) = (0i64, 0i64, 0i128);
            for (value, diff) in &rows {
                let value = match value {
                    None => Value::Null,
                    Some(i) if float && *i == 0 => Value::Float(0.5),
                    Some(i) => int(*i),
                };
                fold.add(&value, *diff);
                net += *diff as i64;
                if !value.is_null() {
                    non_null += *diff as i64;
                }
                if let Value::Bigint(i) = value {
                    sum += i128::from(i) * (*diff as i128);
                }
            }
            proptest::prop_assert_eq!(fold, IntegerFold { rows: net, non_null, sum });
        }
    }
    fn fl(f: f64) -> Value {
        Value::Float(f)
    }
    fn s(text: &str) -> Value {
        Value::str(text)
    }
    fn dt(text: &str) -> Value {
        Value::DateTime(DateTime::parse(text).expect("test datetime parses"))
    }
    fn json(j: serde_json::Value) -> Value {
        Value::from_json(j, true)
    }
    const N: Value = Value::Null;

    /// One test row: value, ORDER BY keys, multiplicity.
    type Owned = (Value, Vec<Value>, isize);

    fn run_rows(kind: &AggregateKind, rows: &[Owned]) -> Result<Value, EvalError> {
        let inputs: Vec<AggregateInput<'_>> = rows
            .iter()
            .map(|(value, keys, count)| AggregateInput {
                value,
                order_keys: keys,
                count: *count,
            })
            .collect();
        compute(kind, &inputs)
    }

    /// Each value once, no ORDER BY.
    fn run(kind: &AggregateKind, values: &[Value]) -> Result<Value, EvalError> {
        let rows: Vec<Owned> = values.iter().map(|v| (v.clone(), vec![], 1)).collect();
        run_rows(kind, &rows)
    }

    /// Values with multiplicities, no ORDER BY.
    fn run_counted(kind: &AggregateKind, values: &[(Value, isize)]) -> Result<Value, EvalError> {
        let rows: Vec<Owned> = values
            .iter()
            .map(|(v, c)| (v.clone(), vec![], *c))
            .collect();
        run_rows(kind, &rows)
    }

    /// A single-key ORDER BY aggregate over `(key, count)`, the key also
    /// being the value (as PERCENTILE_* sees it).
    fn run_keyed(kind: &AggregateKind, keys: &[(Value, isize)]) -> Result<Value, EvalError> {
        let rows: Vec<Owned> = keys
            .iter()
            .map(|(k, c)| (k.clone(), vec![k.clone()], *c))
            .collect();
        run_rows(kind, &rows)
    }

    fn float_of(v: &Value) -> f64 {
        match v {
            Value::Float(f) => *f,
            other => panic!("float expected, got {other:?}"),
        }
    }

    fn assert_close(v: Result<Value, EvalError>, expected: f64) {
        let got = float_of(&v.expect("aggregate succeeds"));
        assert!(
            (got - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "got {got}, expected {expected}"
        );
    }

    fn err_kind(v: Result<Value, EvalError>) -> EvalErrorKind {
        v.expect_err("an error is expected").kind
    }

    fn top(rank: i64, value: Value) -> Value {
        let mut record = Record::new();
        record.push_unchecked(Name::from("rank"), int(rank));
        record.push_unchecked(Name::from("value"), value);
        Value::Record(record)
    }

    // ---- COUNT ----------------------------------------------------------

    #[test]
    fn count_star_counts_rows_with_multiplicity_and_nulls() {
        let k = AggregateKind::CountStar;
        assert_eq!(
            run_counted(&k, &[(int(1), 2), (N, 3), (s("x"), 1)]),
            Ok(int(6))
        );
        assert_eq!(run(&k, &[]), Ok(int(0)));
    }

    #[test]
    fn count_ignores_nulls() {
        let k = AggregateKind::Count;
        assert_eq!(
            run_counted(&k, &[(int(1), 2), (N, 3), (s("x"), 1)]),
            Ok(int(3))
        );
        assert_eq!(run(&k, &[N, N]), Ok(int(0)));
        assert_eq!(run(&k, &[]), Ok(int(0)));
    }

    #[test]
    fn count_distinct_uses_sql_equality() {
        let k = AggregateKind::CountDistinct;
        // bigint 1, float 1.0 and bit 1 are one value; 1.5 and 2 are others.
        assert_eq!(
            run_counted(
                &k,
                &[
                    (int(1), 3),
                    (fl(1.0), 1),
                    (Value::Bit(true), 1),
                    (fl(1.5), 1),
                    (int(2), 1)
                ]
            ),
            Ok(int(3))
        );
        // Strings are ordinal (case-sensitive); NULL is not counted.
        assert_eq!(run(&k, &[s("a"), s("A"), s("a"), N]), Ok(int(2)));
        // Records: field order and name case do not matter; NULL fields match.
        assert_eq!(
            run(
                &k,
                &[
                    json(serde_json::json!({"a": 1, "b": null})),
                    json(serde_json::json!({"B": null, "A": 1.0})),
                    json(serde_json::json!({"a": 2, "b": null})),
                ]
            ),
            Ok(int(2))
        );
        // A string is not the same value as a datetime.
        assert_eq!(
            run(&k, &[s("2023-01-01T00:00:00Z"), dt("2023-01-01T00:00:00Z")]),
            Ok(int(2))
        );
        assert_eq!(
            run(&k, &[fl(f64::NAN), fl(-f64::NAN), fl(0.0), fl(-0.0)]),
            Ok(int(2))
        );
        assert_eq!(run(&k, &[N]), Ok(int(0)));
        assert_eq!(run(&k, &[]), Ok(int(0)));
    }

    #[test]
    fn count_distinct_keeps_large_bigints_exact() {
        // 2^53 + 1 is not the float 2^53.
        let big = (1_i64 << 53) + 1;
        assert_eq!(
            run(
                &AggregateKind::CountDistinct,
                &[int(big), fl((1_i64 << 53) as f64)]
            ),
            Ok(int(2))
        );
    }

    // ---- SUM / AVG ------------------------------------------------------

    #[test]
    fn sum_types() {
        let k = AggregateKind::Sum;
        assert_eq!(run(&k, &[int(1), int(2), N]), Ok(int(3)));
        assert_eq!(run_counted(&k, &[(int(5), 3), (int(-1), 2)]), Ok(int(13)));
        assert_eq!(run(&k, &[int(1), fl(0.5)]), Ok(fl(1.5)));
        assert_eq!(
            run(&k, &[Value::Bit(true), Value::Bit(true), int(1)]),
            Ok(int(3))
        );
        // Strings are cast to float, so the sum is float.
        assert_eq!(run(&k, &[s("1000"), s(" 2000 ")]), Ok(fl(3000.0)));
        assert_eq!(run(&k, &[int(1), s("2.5")]), Ok(fl(3.5)));
        assert_eq!(run(&k, &[N, N]), Ok(N));
        assert_eq!(run(&k, &[]), Ok(N));
    }

    #[test]
    fn sum_errors() {
        let k = AggregateKind::Sum;
        let e = run(&k, &[int(1), s("abc")]).expect_err("not a number");
        assert_eq!(e.kind, EvalErrorKind::TypeConversion);
        assert_eq!(
            e.message,
            "SUM: cannot convert nvarchar(max) 'abc' to float"
        );
        assert_eq!(
            err_kind(run(&k, &[dt("2023-01-01T00:00:00Z")])),
            EvalErrorKind::TypeConversion
        );
        assert_eq!(
            err_kind(run(&k, &[json(serde_json::json!({"a": 1}))])),
            EvalErrorKind::TypeConversion
        );
        assert_eq!(
            err_kind(run(&k, &[int(i64::MAX), int(1)])),
            EvalErrorKind::Arithmetic
        );
        assert_eq!(
            err_kind(run_counted(&k, &[(int(i64::MAX), 2)])),
            EvalErrorKind::Arithmetic
        );
        assert_eq!(
            err_kind(run(&k, &[fl(f64::MAX), fl(f64::MAX)])),
            EvalErrorKind::Arithmetic
        );
    }

    #[test]
    fn sum_is_exact_whatever_the_order() {
        // MAX + 1 - 1 would overflow when added left to right.
        let k = AggregateKind::Sum;
        assert_eq!(
            run(&k, &[int(i64::MAX), int(1), int(-1)]),
            Ok(int(i64::MAX))
        );
        assert_eq!(
            run(&k, &[int(-1), int(i64::MAX), int(1)]),
            Ok(int(i64::MAX))
        );
        assert_eq!(
            run(&k, &[int(i64::MIN), int(-1), int(1)]),
            Ok(int(i64::MIN))
        );
        // Compensated: 1e16 + 1 + 1 - 1e16 is 2, not 0 or 4.
        assert_eq!(
            run(&k, &[fl(1e16), fl(1.0), fl(1.0), fl(-1e16)]),
            Ok(fl(2.0))
        );
    }

    #[test]
    fn avg_is_float() {
        let k = AggregateKind::Avg;
        assert_eq!(run(&k, &[int(1), int(2)]), Ok(fl(1.5)));
        assert_eq!(run(&k, &[int(4), int(6), N]), Ok(fl(5.0)));
        assert_eq!(run_counted(&k, &[(int(1), 3), (fl(5.0), 1)]), Ok(fl(2.0)));
        assert_eq!(run(&k, &[s("1"), s("2")]), Ok(fl(1.5)));
        assert_eq!(
            run(&k, &[int(i64::MAX), int(i64::MAX)]),
            Ok(fl(i64::MAX as f64))
        );
        assert_eq!(run(&k, &[N]), Ok(N));
        assert_eq!(run(&k, &[]), Ok(N));
        assert_eq!(err_kind(run(&k, &[s("x")])), EvalErrorKind::TypeConversion);
    }

    // ---- MIN / MAX ------------------------------------------------------

    #[test]
    fn min_max_numbers_keep_their_type() {
        let (min, max) = (AggregateKind::Min, AggregateKind::Max);
        let values = [int(2), fl(1.5), N, int(-3), fl(10.25)];
        assert_eq!(run(&min, &values), Ok(int(-3)));
        assert_eq!(run(&max, &values), Ok(fl(10.25)));
        assert_eq!(run(&min, &[int(2), fl(1.5)]), Ok(fl(1.5)));
        assert_eq!(run(&max, &[int(2), fl(1.5)]), Ok(int(2)));
        // Equal values: the first in Value's total order (bigint) wins.
        assert_eq!(run(&min, &[fl(1.0), int(1)]), Ok(int(1)));
        assert_eq!(run(&max, &[fl(1.0), int(1)]), Ok(int(1)));
        // Exact bigint/float comparison.
        let big = (1_i64 << 53) + 1;
        assert_eq!(
            run(&max, &[int(big), fl((1_i64 << 53) as f64)]),
            Ok(int(big))
        );
        assert_eq!(
            run(&min, &[Value::Bit(true), Value::Bit(false)]),
            Ok(Value::Bit(false))
        );
        assert_eq!(
            run(&max, &[Value::Bit(true), fl(0.5)]),
            Ok(Value::Bit(true))
        );
        // NaN sorts above every number.
        assert!(matches!(run(&max, &[fl(f64::NAN), int(1)]), Ok(Value::Float(f)) if f.is_nan()));
        assert_eq!(run(&min, &[fl(f64::NAN), int(1)]), Ok(int(1)));
        assert_eq!(run_counted(&max, &[(int(7), 4), (int(3), 1)]), Ok(int(7)));
    }

    #[test]
    fn min_max_datetimes_and_strings() {
        let (min, max) = (AggregateKind::Min, AggregateKind::Max);
        let a = dt("2023-01-01T00:00:00Z");
        let b = dt("2023-01-01T00:00:01Z");
        assert_eq!(run(&min, &[b.clone(), a.clone(), N]), Ok(a.clone()));
        assert_eq!(run(&max, &[b.clone(), a.clone()]), Ok(b.clone()));
        // All strings: ordinal, case-sensitive ('B' < 'a').
        assert_eq!(run(&min, &[s("a"), s("B"), s("b")]), Ok(s("B")));
        assert_eq!(run(&max, &[s("a"), s("B"), s("b")]), Ok(s("b")));
        // Strings beside datetimes are parsed (an offset converts to UTC).
        assert_eq!(
            run(&max, &[a.clone(), s("2023-01-01T01:00:00+02:00")]),
            Ok(a.clone())
        );
        assert_eq!(
            run(&min, &[b.clone(), s("2022-12-31T23:00:00Z")]),
            Ok(s("2022-12-31T23:00:00Z"))
        );
        // Strings beside numbers are cast to float; the winner keeps its type.
        assert_eq!(run(&max, &[int(9), s("10")]), Ok(s("10")));
        assert_eq!(run(&min, &[int(9), s("10")]), Ok(int(9)));
    }

    #[test]
    fn min_max_errors_and_empty() {
        let (min, max) = (AggregateKind::Min, AggregateKind::Max);
        let e = run(&min, &[int(1), dt("2023-01-01T00:00:00Z")]).expect_err("mixed");
        assert_eq!(e.kind, EvalErrorKind::TypeConversion);
        assert_eq!(
            e.message,
            "MIN: cannot compare bigint 1 with datetime 2023-01-01T00:00:00.0000000Z"
        );
        assert_eq!(
            err_kind(run(&max, &[int(1), s("abc")])),
            EvalErrorKind::TypeConversion
        );
        assert_eq!(
            err_kind(run(&max, &[dt("2023-01-01T00:00:00Z"), s("abc")])),
            EvalErrorKind::TypeConversion
        );
        assert_eq!(
            err_kind(run(&max, &[json(serde_json::json!({"a": 1}))])),
            EvalErrorKind::TypeConversion
        );
        assert_eq!(
            err_kind(run(&min, &[json(serde_json::json!([1]))])),
            EvalErrorKind::TypeConversion
        );
        assert_eq!(run(&min, &[N]), Ok(N));
        assert_eq!(run(&max, &[]), Ok(N));
    }

    // ---- STDEV / VAR ----------------------------------------------------

    #[test]
    fn spread_functions() {
        let values = [2, 4, 4, 4, 5, 5, 7, 9].map(int);
        assert_close(run(&AggregateKind::Varp, &values), 4.0);
        assert_close(run(&AggregateKind::Stdevp, &values), 2.0);
        assert_close(run(&AggregateKind::Var, &values), 32.0 / 7.0);
        assert_close(run(&AggregateKind::Stdev, &values), (32.0_f64 / 7.0).sqrt());
        // The same group with multiplicities, a float and a NULL.
        let counted = [
            (int(4), 3),
            (fl(2.0), 1),
            (int(5), 2),
            (int(7), 1),
            (int(9), 1),
            (N, 4),
        ];
        assert_close(run_counted(&AggregateKind::Var, &counted), 32.0 / 7.0);
        assert_close(run_counted(&AggregateKind::Stdevp, &counted), 2.0);
        // Fewer than two values.
        assert_eq!(run(&AggregateKind::Var, &[int(3)]), Ok(N));
        assert_eq!(run(&AggregateKind::Stdev, &[int(3), N]), Ok(N));
        assert_eq!(run(&AggregateKind::Varp, &[int(3)]), Ok(fl(0.0)));
        assert_eq!(run(&AggregateKind::Stdevp, &[int(3)]), Ok(fl(0.0)));
        assert_eq!(
            run_counted(&AggregateKind::Var, &[(int(3), 2)]),
            Ok(fl(0.0))
        );
        for k in [
            AggregateKind::Stdev,
            AggregateKind::Stdevp,
            AggregateKind::Var,
            AggregateKind::Varp,
        ] {
            assert_eq!(run(&k, &[]), Ok(N));
            assert_eq!(run(&k, &[N]), Ok(N));
            assert_eq!(
                err_kind(run(&k, &[int(1), s("x")])),
                EvalErrorKind::TypeConversion
            );
        }
        assert_eq!(
            err_kind(run(&AggregateKind::Var, &[fl(1e300), fl(-1e300)])),
            EvalErrorKind::Arithmetic
        );
    }

    #[test]
    fn spread_is_stable_for_large_offsets() {
        // Naive sum-of-squares would lose these to cancellation.
        let values = [1e9 + 4.0, 1e9 + 7.0, 1e9 + 13.0, 1e9 + 16.0].map(fl);
        assert_close(run(&AggregateKind::Var, &values), 30.0);
    }

    // ---- TopOne / CollectTop -------------------------------------------

    #[test]
    fn top_one_orders_by_keys() {
        let asc = AggregateKind::TopOne { order: vec![false] };
        let desc = AggregateKind::TopOne { order: vec![true] };
        let rows: Vec<Owned> = vec![
            (s("a"), vec![int(3)], 1),
            (s("b"), vec![fl(1.5)], 1),
            (s("c"), vec![int(7)], 2),
        ];
        assert_eq!(run_rows(&asc, &rows), Ok(s("b")));
        assert_eq!(run_rows(&desc, &rows), Ok(s("c")));
        // NULL is the minimum: first ascending, last descending.
        let mut with_null = rows.clone();
        with_null.push((s("n"), vec![N], 1));
        assert_eq!(run_rows(&asc, &with_null), Ok(s("n")));
        assert_eq!(run_rows(&desc, &with_null), Ok(s("c")));
        // Ties (1 = 1.0) go to the least value.
        let ties: Vec<Owned> = vec![(s("z"), vec![int(1)], 1), (s("y"), vec![fl(1.0)], 1)];
        assert_eq!(run_rows(&asc, &ties), Ok(s("y")));
        assert_eq!(run_rows(&desc, &ties), Ok(s("y")));
        assert_eq!(run_rows(&asc, &[]), Ok(N));
    }

    #[test]
    fn top_one_several_keys_and_datetimes() {
        let k = AggregateKind::TopOne {
            order: vec![true, false],
        };
        let rows: Vec<Owned> = vec![
            (s("early"), vec![dt("2023-01-01T00:00:00Z"), int(1)], 1),
            (s("late-2"), vec![s("2023-01-01T00:00:05Z"), int(2)], 1),
            (s("late-1"), vec![dt("2023-01-01T00:00:05Z"), int(1)], 1),
        ];
        // Latest time first; among equal times the smaller second key.
        assert_eq!(run_rows(&k, &rows), Ok(s("late-1")));
    }

    #[test]
    fn order_by_errors() {
        let k = AggregateKind::TopOne { order: vec![false] };
        let bad_string: Vec<Owned> = vec![(s("a"), vec![s("abc")], 1)];
        let e = run_rows(&k, &bad_string).expect_err("not a datetime");
        assert_eq!(e.kind, EvalErrorKind::TypeConversion);
        assert_eq!(
            e.message,
            "TopOne: ORDER BY takes bigint, float or datetime, not nvarchar(max) 'abc'"
        );
        let mixed: Vec<Owned> = vec![
            (s("a"), vec![int(1)], 1),
            (s("b"), vec![dt("2023-01-01T00:00:00Z")], 1),
        ];
        assert_eq!(
            err_kind(run_rows(&k, &mixed)),
            EvalErrorKind::TypeConversion
        );
        let record_key: Vec<Owned> = vec![(s("a"), vec![json(serde_json::json!({}))], 1)];
        assert_eq!(
            err_kind(run_rows(&k, &record_key)),
            EvalErrorKind::TypeConversion
        );
        let wrong_arity: Vec<Owned> = vec![(s("a"), vec![int(1), int(2)], 1)];
        assert_eq!(
            err_kind(run_rows(&k, &wrong_arity)),
            EvalErrorKind::InvalidArgument
        );
    }

    #[test]
    fn collect_top_ranks_with_ties_and_multiplicities() {
        let k = AggregateKind::CollectTop {
            n: 4,
            order: vec![true],
        };
        let rows: Vec<Owned> = vec![
            (s("a"), vec![int(10)], 1),
            (s("b"), vec![int(20)], 2),
            (s("c"), vec![fl(10.0)], 1),
            (s("d"), vec![int(5)], 1),
        ];
        // b twice (rank 1), then a and c tie at 10 (rank 3); d is cut.
        assert_eq!(
            run_rows(&k, &rows),
            Ok(Value::Array(vec![
                top(1, s("b")),
                top(1, s("b")),
                top(3, s("a")),
                top(3, s("c")),
            ]))
        );
        // A cut inside a tie keeps the least values.
        let three = AggregateKind::CollectTop {
            n: 3,
            order: vec![true],
        };
        assert_eq!(
            run_rows(&three, &rows),
            Ok(Value::Array(vec![
                top(1, s("b")),
                top(1, s("b")),
                top(3, s("a"))
            ]))
        );
        let many = AggregateKind::CollectTop {
            n: 100,
            order: vec![false],
        };
        assert_eq!(
            run_rows(&many, &rows),
            Ok(Value::Array(vec![
                top(1, s("d")),
                top(2, s("a")),
                top(2, s("c")),
                top(4, s("b")),
                top(4, s("b")),
            ]))
        );
        let none = AggregateKind::CollectTop {
            n: 0,
            order: vec![false],
        };
        assert_eq!(run_rows(&none, &rows), Ok(Value::Array(vec![])));
        assert_eq!(run_rows(&many, &[]), Ok(Value::Array(vec![])));
        // NULL keys sort lowest.
        let with_null: Vec<Owned> = vec![(s("n"), vec![N], 1), (s("x"), vec![int(0)], 1)];
        assert_eq!(
            run_rows(&many, &with_null),
            Ok(Value::Array(vec![top(1, s("n")), top(2, s("x"))]))
        );
    }

    // ---- Collect --------------------------------------------------------

    #[test]
    fn collect_sorts_and_repeats() {
        let k = AggregateKind::Collect;
        assert_eq!(
            run_counted(&k, &[(s("b"), 1), (int(2), 2), (N, 1), (s("a"), 1)]),
            Ok(Value::Array(vec![int(2), int(2), s("a"), s("b")]))
        );
        assert_eq!(run(&k, &[]), Ok(Value::Array(vec![])));
        assert_eq!(run(&k, &[N]), Ok(Value::Array(vec![])));
        let r1 = json(serde_json::json!({"id": 2}));
        let r2 = json(serde_json::json!({"id": 1}));
        assert_eq!(
            run(&k, &[r1.clone(), r2.clone()]),
            Ok(Value::Array(vec![r2, r1]))
        );
    }

    // ---- PERCENTILE_CONT / PERCENTILE_DISC ------------------------------

    fn cont(p: f64, descending: bool) -> AggregateKind {
        AggregateKind::PercentileCont { p, descending }
    }
    fn disc(p: f64, descending: bool) -> AggregateKind {
        AggregateKind::PercentileDisc { p, descending }
    }

    #[test]
    fn percentile_cont_interpolates() {
        let values = [(int(10), 1), (int(20), 1), (int(30), 1), (int(40), 1)];
        assert_close(run_keyed(&cont(0.5, false), &values), 25.0);
        assert_close(run_keyed(&cont(0.0, false), &values), 10.0);
        assert_close(run_keyed(&cont(1.0, false), &values), 40.0);
        assert_close(run_keyed(&cont(0.25, false), &values), 17.5);
        assert_close(run_keyed(&cont(0.25, true), &values), 32.5);
        // Multiplicities: 10 ×3, 40 ×1 → sorted 10 10 10 40; median 10.
        assert_close(
            run_keyed(&cont(0.5, false), &[(int(10), 3), (int(40), 1)]),
            10.0,
        );
        assert_close(
            run_keyed(&cont(0.9, false), &[(int(10), 3), (int(40), 1)]),
            31.0,
        );
        assert_close(run_keyed(&cont(0.3, false), &[(int(7), 1)]), 7.0);
        assert_close(
            run_keyed(&cont(0.5, false), &[(int(1), 1), (N, 5), (fl(2.0), 1)]),
            1.5,
        );
        assert_close(
            run_keyed(&cont(0.5, false), &[(s("1"), 1), (s("3"), 1)]),
            2.0,
        );
        assert_eq!(run_keyed(&cont(0.5, false), &[]), Ok(N));
        assert_eq!(run_keyed(&cont(0.5, false), &[(N, 2)]), Ok(N));
    }

    #[test]
    fn percentile_disc_picks_a_value() {
        let values = [(int(10), 1), (int(20), 1), (int(30), 1), (int(40), 1)];
        assert_eq!(run_keyed(&disc(0.5, false), &values), Ok(int(20)));
        assert_eq!(run_keyed(&disc(0.51, false), &values), Ok(int(30)));
        assert_eq!(run_keyed(&disc(0.0, false), &values), Ok(int(10)));
        assert_eq!(run_keyed(&disc(1.0, false), &values), Ok(int(40)));
        assert_eq!(run_keyed(&disc(0.5, true), &values), Ok(int(30)));
        // Peers share the cumulative distribution: 10 ×3 covers 0.75.
        let counted = [(int(10), 3), (fl(40.5), 1)];
        assert_eq!(run_keyed(&disc(0.75, false), &counted), Ok(int(10)));
        assert_eq!(run_keyed(&disc(0.76, false), &counted), Ok(fl(40.5)));
        assert_eq!(run_keyed(&disc(0.25, true), &counted), Ok(fl(40.5)));
        assert_eq!(run_keyed(&disc(0.26, true), &counted), Ok(int(10)));
        // Equal numbers of two types: the bigint is returned.
        assert_eq!(
            run_keyed(&disc(0.5, false), &[(fl(1.0), 1), (int(1), 1)]),
            Ok(int(1))
        );
        assert_eq!(
            run_keyed(&disc(0.5, false), &[(Value::Bit(true), 1)]),
            Ok(int(1))
        );
        assert_eq!(run_keyed(&disc(0.5, false), &[(N, 1)]), Ok(N));
    }

    #[test]
    fn percentile_reads_the_order_by_key() {
        // The key, not the value, is sorted; the value is ignored.
        let rows: Vec<Owned> = vec![(s("row"), vec![int(3)], 1), (s("row"), vec![int(5)], 1)];
        assert_close(run_rows(&cont(0.5, false), &rows), 4.0);
        assert_eq!(run_rows(&disc(1.0, false), &rows), Ok(int(5)));
        // Without a key, the value is sorted.
        assert_eq!(run(&disc(1.0, false), &[int(3), int(5)]), Ok(int(5)));
    }

    #[test]
    fn percentile_errors() {
        for p in [-0.1, 1.5, f64::NAN] {
            for k in [cont(p, false), disc(p, false)] {
                let e = run_keyed(&k, &[(int(1), 1)]).expect_err("p out of range");
                assert_eq!(e.kind, EvalErrorKind::InvalidArgument);
            }
        }
        assert_eq!(
            err_kind(run_keyed(
                &cont(0.5, false),
                &[(dt("2023-01-01T00:00:00Z"), 1)]
            )),
            EvalErrorKind::TypeConversion
        );
        assert_eq!(
            err_kind(run_keyed(&disc(0.5, false), &[(s("x"), 1)])),
            EvalErrorKind::TypeConversion
        );
    }

    // ---- Shared rules ---------------------------------------------------

    fn all_kinds() -> Vec<AggregateKind> {
        vec![
            AggregateKind::CountStar,
            AggregateKind::Count,
            AggregateKind::CountDistinct,
            AggregateKind::Sum,
            AggregateKind::Avg,
            AggregateKind::Min,
            AggregateKind::Max,
            AggregateKind::Stdev,
            AggregateKind::Stdevp,
            AggregateKind::Var,
            AggregateKind::Varp,
            AggregateKind::TopOne {
                order: vec![true, false],
            },
            AggregateKind::CollectTop {
                n: 5,
                order: vec![false, true],
            },
            AggregateKind::Collect,
            cont(0.37, false),
            cont(0.37, true),
            disc(0.37, false),
            disc(0.37, true),
        ]
    }

    #[test]
    fn multiplicities_must_not_be_negative() {
        for k in all_kinds() {
            let width = match &k {
                AggregateKind::TopOne { order } | AggregateKind::CollectTop { order, .. } => {
                    order.len()
                }
                _ => 0,
            };
            let keys = vec![int(1); width];
            let negative: Vec<Owned> = vec![(int(1), keys.clone(), -1)];
            assert_eq!(
                err_kind(run_rows(&k, &negative)),
                EvalErrorKind::InvalidArgument,
                "{k:?}"
            );
            // A zero count is skipped: the same as an empty group.
            let zero: Vec<Owned> = vec![(int(1), keys, 0)];
            assert_eq!(run_rows(&k, &zero), run_rows(&k, &[]), "{k:?}");
        }
    }

    /// A small deterministic shuffle (xorshift + Fisher–Yates).
    fn shuffle<T>(items: &mut [T], seed: &mut u64) {
        for i in (1..items.len()).rev() {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let j = (*seed % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }

    /// Inputs that exercise ties, mixed types, NULLs and multiplicities;
    /// every row has two ORDER BY keys.
    fn mixed_rows() -> Vec<Owned> {
        // The value is also the first ORDER BY key.
        let row = |k1: Value, k2: Value, c: isize| -> Owned { (k1.clone(), vec![k1, k2], c) };
        vec![
            row(int(1), fl(0.1), 1),
            row(fl(1.0), fl(0.2), 3),
            row(fl(0.1), fl(0.3), 1),
            row(fl(0.2), int(7), 2),
            row(fl(0.3), int(7), 1),
            row(fl(1e16), N, 1),
            row(fl(-1e16), int(-2), 1),
            row(N, fl(0.1), 2),
            row(Value::Bit(true), int(7), 1),
            row(int(-5), int(3), 1),
        ]
    }

    #[test]
    fn results_do_not_depend_on_input_order() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for k in all_kinds() {
            let rows = mixed_rows();
            let expected = run_rows(&k, &rows);
            let mut reversed = rows.clone();
            reversed.reverse();
            assert_eq!(run_rows(&k, &reversed), expected, "{k:?} reversed");
            for round in 0..50 {
                let mut shuffled = rows.clone();
                shuffle(&mut shuffled, &mut seed);
                assert_eq!(run_rows(&k, &shuffled), expected, "{k:?} shuffle {round}");
            }
        }
    }

    #[test]
    fn whole_rows_do_not_depend_on_input_order() {
        // Records as values (COUNT(DISTINCT input), Collect(), TopOne()),
        // with equal ORDER BY keys so that only the tie-break decides.
        let rows: Vec<Owned> = (0..12)
            .map(|i: i64| {
                let v = json(serde_json::json!({"id": i % 5, "x": (i % 3) as f64 / 3.0}));
                (
                    v,
                    vec![int(i % 2), fl((i % 4) as f64)],
                    isize::try_from(i % 3 + 1).unwrap_or(1),
                )
            })
            .collect();
        let mut seed = 42_u64;
        for k in all_kinds() {
            let expected = run_rows(&k, &rows);
            for round in 0..30 {
                let mut shuffled = rows.clone();
                shuffle(&mut shuffled, &mut seed);
                assert_eq!(run_rows(&k, &shuffled), expected, "{k:?} shuffle {round}");
            }
        }
    }

    fn any_scalar() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(N),
            any::<bool>().prop_map(Value::Bit),
            (-3_i64..4).prop_map(int),
            prop_oneof![Just(i64::MAX), Just(i64::MIN)].prop_map(int),
            (-3.0_f64..3.0).prop_map(|f| fl((f * 4.0).round() / 4.0)),
            any::<f64>().prop_map(fl),
            prop_oneof![Just("1.5"), Just("x"), Just("2023-01-01T00:00:00Z")].prop_map(s),
            (0_i64..3).prop_map(|i| Value::DateTime(DateTime(i))),
        ]
    }

    proptest::proptest! {
        /// Random groups: no panic, and a permutation gives the same result
        /// (or the same error) for every aggregate.
        #[test]
        fn random_groups_are_order_independent(
            rows in proptest::collection::vec(
                (any_scalar(), any_scalar(), any_scalar(), 1_isize..4),
                0..8,
            ),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let rows: Vec<Owned> = rows
                .into_iter()
                .map(|(v, k1, k2, c)| (v, vec![k1, k2], c))
                .collect();
            let mut seed = seed | 1;
            for k in all_kinds() {
                let expected = run_rows(&k, &rows);
                let mut shuffled = rows.clone();
                shuffle(&mut shuffled, &mut seed);
                proptest::prop_assert_eq!(run_rows(&k, &shuffled), expected, "{:?}", k);
            }
        }
    }

    #[test]
    fn errors_do_not_depend_on_input_order() {
        let rows: Vec<Owned> = vec![
            (s("bad-1"), vec![], 1),
            (int(1), vec![], 1),
            (s("bad-2"), vec![], 1),
        ];
        let mut seed = 7_u64;
        let expected = run_rows(&AggregateKind::Sum, &rows);
        assert!(expected.is_err());
        for _ in 0..20 {
            let mut shuffled = rows.clone();
            shuffle(&mut shuffled, &mut seed);
            assert_eq!(run_rows(&AggregateKind::Sum, &shuffled), expected);
        }
    }

    #[test]
    fn names() {
        assert_eq!(name(&AggregateKind::CountDistinct), "COUNT(DISTINCT)");
        assert_eq!(name(&AggregateKind::CountStar), "COUNT(*)");
        assert_eq!(name(&AggregateKind::Count), "COUNT");
        assert_eq!(name(&AggregateKind::TopOne { order: vec![] }), "TopOne");
        assert_eq!(name(&cont(0.5, false)), "PERCENTILE_CONT");
        assert_eq!(name(&disc(0.5, false)), "PERCENTILE_DISC");
        assert_eq!(name(&AggregateKind::Stdevp), "STDEVP");
    }

    // ---- Conformance groups, worked out by hand -------------------------

    /// qp-cast-sum: `SUM(CAST(Weight AS BIGINT))` for Make1 in (0 s, 10 s]
    /// sees 1000 and 2000 (cast from strings): bigint 3000.
    #[test]
    fn conformance_qp_cast_sum() {
        assert_eq!(
            run(&AggregateKind::Sum, &[int(1000), int(2000)]),
            Ok(int(3000))
        );
        // Without the CAST the strings are summed as floats.
        assert_eq!(
            run(&AggregateKind::Sum, &[s("1000"), s("2000")]),
            Ok(fl(3000.0))
        );
    }

    /// qp-count-distinct: `COUNT(DISTINCT Make)` per 2 s tumbling window.
    /// (0, 2] holds Make1 ×2 and Make2 ×2 → 2; (2, 4] holds Make2 → 1.
    #[test]
    fn conformance_qp_count_distinct() {
        let k = AggregateKind::CountDistinct;
        assert_eq!(
            run_counted(&k, &[(s("Make1"), 2), (s("Make2"), 2)]),
            Ok(int(2))
        );
        assert_eq!(
            run(&k, &[s("Make1"), s("Make1"), s("Make2"), s("Make2")]),
            Ok(int(2))
        );
        assert_eq!(run(&k, &[s("Make2")]), Ok(int(1)));
    }

    /// qp-dedup-countdistinct-2019: the first step groups by (Value,
    /// DeviceId, snapshot); the group (50, device 1, 00:00:01) holds the
    /// duplicate event twice, so `COUNT(DISTINCT Time)` is 1. The second
    /// step averages the deduplicated values per device over 5 minutes:
    /// device 1 → (50 + 60 + 100) / 3 = 70, device 2 → (40 + 50) / 2 = 45.
    #[test]
    fn conformance_qp_dedup_countdistinct_2019() {
        let t = s("2018-07-27T00:00:01.0000000Z");
        assert_eq!(
            run_counted(&AggregateKind::CountDistinct, &[(t, 2)]),
            Ok(int(1))
        );
        assert_eq!(
            run(&AggregateKind::Avg, &[int(50), int(60), int(100)]),
            Ok(fl(70.0))
        );
        assert_eq!(run(&AggregateKind::Avg, &[int(40), int(50)]), Ok(fl(45.0)));
    }

    /// qp-dedup-snapshot: the snapshot step collapses the duplicate
    /// (DeviceId 1, Value 50), so AVG sees 50, 60, 100 for device 1 and 40,
    /// 50 for device 2. The documentation prints 70 and 45; Eddy's float
    /// 70.0 and 45.0 are numerically equal (the harness compares numbers
    /// numerically). Without the dedup step AVG would be 65 for device 1.
    #[test]
    fn conformance_qp_dedup_snapshot() {
        assert_eq!(
            run(&AggregateKind::Avg, &[int(50), int(60), int(100)]),
            Ok(fl(70.0))
        );
        assert_eq!(run(&AggregateKind::Avg, &[int(40), int(50)]), Ok(fl(45.0)));
        assert_eq!(
            run_counted(
                &AggregateKind::Avg,
                &[(int(50), 2), (int(60), 1), (int(100), 1)]
            ),
            Ok(fl(65.0))
        );
    }

    /// qp-session-window: `MIN(time)` / `MAX(time)` over the raw JSON
    /// strings of each session (user 0: 00:00:00, 00:00:20, 00:01:10;
    /// user 1: 00:00:55, 00:01:15). Ordinal string order gives the expected
    /// StartTime/EndTime text unchanged.
    #[test]
    fn conformance_qp_session_window() {
        let (min, max) = (AggregateKind::Min, AggregateKind::Max);
        let user0 = [
            s("2017-01-26T00:00:00.0000000Z"),
            s("2017-01-26T00:00:20.0000000Z"),
            s("2017-01-26T00:01:10.0000000Z"),
        ];
        assert_eq!(run(&min, &user0), Ok(s("2017-01-26T00:00:00.0000000Z")));
        assert_eq!(run(&max, &user0), Ok(s("2017-01-26T00:01:10.0000000Z")));
        let user1 = [
            s("2017-01-26T00:00:55.0000000Z"),
            s("2017-01-26T00:01:15.0000000Z"),
        ];
        assert_eq!(run(&min, &user1), Ok(s("2017-01-26T00:00:55.0000000Z")));
        assert_eq!(run(&max, &user1), Ok(s("2017-01-26T00:01:15.0000000Z")));
        // The same as datetimes.
        let as_time = [dt("2017-01-26T00:01:15Z"), dt("2017-01-26T00:00:55Z")];
        assert_eq!(run(&max, &as_time), Ok(dt("2017-01-26T00:01:15Z")));
    }

    /// qp2015-count-unique-two-step: step one counts rows per (Make, 2 s
    /// window): Honda (0,2] → 2, Toyota (0,2] → 2, Toyota (2,4] → 1. Step
    /// two counts step-one rows per 1 s window: two rows at 00:00:02 → 2,
    /// one row at 00:00:04 → 1.
    #[test]
    fn conformance_qp2015_count_unique_two_step() {
        let k = AggregateKind::CountStar;
        let event = |make: &str, time: &str| json(serde_json::json!({"Make": make, "Time": time}));
        assert_eq!(
            run(
                &k,
                &[
                    event("Honda", "2015-01-01T00:00:01.0000000Z"),
                    event("Honda", "2015-01-01T00:00:02.0000000Z")
                ]
            ),
            Ok(int(2))
        );
        assert_eq!(
            run(&k, &[event("Toyota", "2015-01-01T00:00:03.0000000Z")]),
            Ok(int(1))
        );
        let makes = [
            json(serde_json::json!({"Make": "Honda", "CountMake": 2})),
            json(serde_json::json!({"Make": "Toyota", "CountMake": 2})),
        ];
        assert_eq!(run(&k, &makes), Ok(int(2)));
        assert_eq!(
            run(
                &k,
                &[json(serde_json::json!({"Make": "Toyota", "CountMake": 1}))]
            ),
            Ok(int(1))
        );
    }

    /// qp2019-case-carspassed: `COUNT(*)` per Make in (0 s, 10 s]: Honda 1
    /// ("1 Honda"), Toyota 2 ("2 Toyotas").
    #[test]
    fn conformance_qp2019_case_carspassed() {
        let k = AggregateKind::CountStar;
        let car = |make: &str| json(serde_json::json!({ "Make": make }));
        assert_eq!(run(&k, &[car("Honda")]), Ok(int(1)));
        assert_eq!(run(&k, &[car("Toyota"), car("Toyota")]), Ok(int(2)));
    }

    /// ref-collecttop: `CollectTop(2) OVER (ORDER BY value2 ASC, value3
    /// DESC)` per value1 in one 5 s window. Value1 = 1 holds Value2 10, 50,
    /// 30 → ranks 1 (10) and 2 (30); Value1 = 2 holds 70, 80. Each entry is
    /// `{"rank", "value"}` with the whole event as the value.
    #[test]
    fn conformance_ref_collecttop() {
        let k = AggregateKind::CollectTop {
            n: 2,
            order: vec![false, true],
        };
        let event = |v1: i64, v2: i64, v3: i64, time: i64| -> Owned {
            let value = json(serde_json::json!({
                "Value1": v1, "Value2": v2, "Value3": v3, "Time": time
            }));
            (value, vec![int(v2), int(v3)], 1)
        };
        let group1 = vec![
            event(1, 10, 10, 0),
            event(1, 50, 10, 2),
            event(1, 30, 10, 3),
        ];
        let expected1 = json(serde_json::json!([
            {"rank": 1, "value": {"Value1": 1, "Value2": 10, "Value3": 10, "Time": 0}},
            {"rank": 2, "value": {"Value1": 1, "Value2": 30, "Value3": 10, "Time": 3}}
        ]));
        assert_eq!(run_rows(&k, &group1), Ok(expected1));
        let group2 = vec![event(2, 70, 10, 1), event(2, 80, 10, 3)];
        let expected2 = json(serde_json::json!([
            {"rank": 1, "value": {"Value1": 2, "Value2": 70, "Value3": 10, "Time": 1}},
            {"rank": 2, "value": {"Value1": 2, "Value2": 80, "Value3": 10, "Time": 3}}
        ]));
        assert_eq!(run_rows(&k, &group2), Ok(expected2));
        // Field order of the output record: rank, then value.
        let Ok(Value::Array(items)) = run_rows(&k, &group2) else {
            panic!("array expected")
        };
        let Some(Value::Record(first)) = items.first() else {
            panic!("record expected")
        };
        let names: Vec<&str> = first.fields().iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(names, ["rank", "value"]);
    }

    /// The five ServiceAvailability values of ref-percentile-cont/-disc,
    /// all in one window.
    fn availability() -> Vec<(Value, isize)> {
        [0.98, 0.93, 0.78, 0.99, 0.89]
            .into_iter()
            .map(|f| (fl(f), 1))
            .collect()
    }

    /// ref-percentile-cont: sorted 0.78 0.89 0.93 0.98 0.99; position
    /// 0.95 · 4 = 3.8 lies between 0.98 and 0.99 → 0.98 + 0.8 · 0.01 = 0.988.
    #[test]
    fn conformance_ref_percentile_cont() {
        assert_close(run_keyed(&cont(0.95, false), &availability()), 0.988);
    }

    /// ref-percentile-disc: cumulative distributions 0.2 0.4 0.6 0.8 1.0;
    /// the first reaching 0.95 is 0.99.
    #[test]
    fn conformance_ref_percentile_disc() {
        assert_eq!(run_keyed(&disc(0.95, false), &availability()), Ok(fl(0.99)));
    }

    /// wf-sliding-having: `COUNT(*)` per 10 s sliding window (t − 10 s, t].
    /// At 10:15:15 the window holds 10:15:10, :12, :15, :15 → 4; at
    /// 10:15:20 (10:15:10 has left) :12, :15, :15 → 3. The other emissions
    /// (1 at :10, 2 at :12, 2 at :22, 1 at :27) fail `HAVING COUNT(*) >= 3`.
    #[test]
    fn conformance_wf_sliding_having() {
        let k = AggregateKind::CountStar;
        let tweet = |stamp: i64, at: &str| {
            json(serde_json::json!({"Stamp": stamp, "CreatedAt": at, "Topic": "Streaming"}))
        };
        let (t10, t12, t15a, t15b, t27) = (
            tweet(1, "2021-10-26T10:15:10"),
            tweet(5, "2021-10-26T10:15:12"),
            tweet(9, "2021-10-26T10:15:15"),
            tweet(7, "2021-10-26T10:15:15"),
            tweet(8, "2021-10-26T10:15:27"),
        );
        let windows = [
            (vec![t10.clone()], 1),
            (vec![t10.clone(), t12.clone()], 2),
            (vec![t10, t12.clone(), t15a.clone(), t15b.clone()], 4),
            (vec![t12.clone(), t15a.clone(), t15b.clone()], 3),
            (vec![t15a, t15b], 2),
            (vec![t27], 1),
        ];
        for (group, expected) in windows {
            assert_eq!(run(&k, &group), Ok(int(expected)));
        }
    }

    /// qp-multiple-outputs (AlertOutput): `COUNT(*)` per Make in (0 s,
    /// 10 s]: Make2 → 3 (passes `HAVING [Count] >= 3`), Make1 → 2.
    #[test]
    fn conformance_qp_multiple_outputs() {
        let k = AggregateKind::CountStar;
        let ev = |make: &str, sec: u32| {
            json(serde_json::json!({
                "Make": make,
                "Time": format!("2023-01-01T00:00:0{sec}.0000000Z")
            }))
        };
        assert_eq!(
            run(&k, &[ev("Make2", 1), ev("Make2", 2), ev("Make2", 3)]),
            Ok(int(3))
        );
        assert_eq!(run(&k, &[ev("Make1", 1), ev("Make1", 2)]), Ok(int(2)));
    }
}
