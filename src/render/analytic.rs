//! Analytic functions (ASA-SEMANTICS.md §5): `LAG`, `LAST`, `ISFIRST` and
//! the aggregate `OVER (... LIMIT DURATION ...)` forms, each computed as a
//! new column of the rows a step reads, before its WHERE and GROUP BY.
//!
//! An analytic value depends on the rows before it in event-time order,
//! which a differential reduction cannot express cheaply, so each function
//! is an operator of its own, modelled on the session-window operator:
//!
//! - Rows are routed to workers by their `PARTITION BY` values (all rows to
//!   one worker without PARTITION BY) and buffered per partition.
//! - A time is processed once the input frontier has passed it, so every
//!   row of that time, and of every earlier time, has arrived: a late row
//!   inside the late-arrival tolerance still lands in its place.
//! - Rows of one time are taken in arrival order (the hidden
//!   [`ARRIVAL_COLUMN`] `[partition, position]`), then by the row itself
//!   for rows without one (the rows of a window result), so the order does
//!   not depend on how many workers run.
//! - Each row is emitted at its own time with the function's value added.
//!
//! Per partition the operator keeps only the history the function can
//! still read: rows newer than `LIMIT DURATION` before the frontier (for
//! `LAG(e, n)` at most `n` of them, for `LAST` one), or for `ISFIRST` the
//! interval of its last matching row. A partition with nothing left is
//! dropped.
//!
//! # Contract
//! - After every activation each buffered row is at or after the frontier,
//!   so the capability (held at the frontier) can still emit at its time.
//! - Insertions only: a retraction (diff < 0) is dropped, since history
//!   cannot be rewritten once later rows have read it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::{first_end_at_or_after, HeldCapability, Time};
use crate::expr::aggregate::{self, AggregateInput, AggregateKind};
use crate::plan::ARRIVAL_COLUMN;
use crate::types::{Name, Row, Value};

/// One row evaluated for a function: its partition key and the row, with
/// what the function reads from it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Evaluated {
    /// `PARTITION BY` values (integral floats keyed as bigints).
    pub key: Vec<Value>,
    /// The row as read; the function's column is added to it.
    pub row: Row,
    /// Whether `WHEN` holds (true without WHEN).
    pub matches: bool,
    /// The argument's value (the whole row for `*`).
    pub value: Value,
    /// `ORDER BY` key values (TopOne, CollectTop).
    pub order_keys: Vec<Value>,
    /// The default of LAG and LAST, evaluated on this row.
    pub default: Value,
}

/// What one function computes, with lengths in ticks.
#[derive(Clone, Debug)]
pub enum Function {
    /// The `offset`-th previous matching row's value.
    Lag {
        /// At least 1.
        offset: usize,
    },
    /// The latest matching row's value, this row included.
    Last,
    /// 1 for the first matching row of its interval.
    IsFirst {
        /// Interval length on the tumbling grid.
        size: i64,
    },
    /// An aggregate over the matching rows of the duration.
    Aggregate(AggregateKind),
}

/// One function's operator parameters.
#[derive(Clone, Debug)]
pub struct AnalyticSpec {
    /// The function.
    pub function: Function,
    /// `LIMIT DURATION`: a row at `t` reads history in `(t - duration, t]`.
    pub duration: i64,
    /// The column the value goes to.
    pub column: Name,
}

/// A row of the history: its time and what later rows read from it.
struct Past {
    time: Time,
    value: Value,
    order_keys: Vec<Value>,
}

#[derive(Default)]
struct Partition {
    pending: BTreeMap<Time, Vec<(Evaluated, isize)>>,
    /// Matching rows, oldest first.
    history: VecDeque<Past>,
    /// ISFIRST: the end of the interval of the last matching row.
    last_interval: Option<Time>,
}

/// A row with its value, or the message of an aggregate that failed on it.
pub type Outcome = Result<Row, (Row, String)>;

/// The arrival position of a row, `None` when it has none.
fn arrival(row: &Row) -> Option<(i64, i64)> {
    match row.get(ARRIVAL_COLUMN) {
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::Bigint(partition), Value::Bigint(position)] => Some((*partition, *position)),
            _ => None,
        },
        _ => None,
    }
}

/// Computes one analytic function; see the module documentation.
pub fn compute<'scope>(
    events: Stream<'scope, Time, Vec<(Evaluated, Time, isize)>>,
    spec: AnalyticSpec,
    name: &str,
) -> Stream<'scope, Time, Vec<(Outcome, Time, isize)>> {
    let route = |update: &(Evaluated, Time, isize)| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        update.0.key.hash(&mut hasher);
        hasher.finish()
    };
    events.unary_frontier(Exchange::new(route), name, move |_initial, _info| {
        let mut partitions: HashMap<Vec<Value>, Partition> = HashMap::new();
        let mut capability = HeldCapability::default();
        move |(input, frontier), output| {
            input.for_each_stamp(|stamp, batches| {
                capability.hold_least(stamp.retain_least(output.output_index()));
                for batch in batches {
                    for (evaluated, time, diff) in batch.drain(..) {
                        if diff <= 0 {
                            continue;
                        }
                        partitions
                            .entry(evaluated.key.clone())
                            .or_default()
                            .pending
                            .entry(time)
                            .or_default()
                            .push((evaluated, diff));
                    }
                }
            });
            let Some(held) = capability.get() else {
                return;
            };
            let complete = |t: &Time| !frontier.less_equal(t);
            let mut emitted: Vec<(Outcome, Time, isize)> = Vec::new();
            for partition in partitions.values_mut() {
                while let Some(entry) = partition.pending.first_entry() {
                    if !complete(entry.key()) {
                        break;
                    }
                    let time = *entry.key();
                    let mut rows = entry.remove();
                    rows.sort_by(|(a, _), (b, _)| {
                        let (pa, pb) = (arrival(&a.row), arrival(&b.row));
                        // Rows with an arrival position come first, in
                        // that order; the others by their content.
                        match (pa, pb) {
                            (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
                            (Some(_), None) => std::cmp::Ordering::Less,
                            (None, Some(_)) => std::cmp::Ordering::Greater,
                            (None, None) => a.cmp(b),
                        }
                    });
                    for (evaluated, diff) in rows {
                        for _ in 0..diff {
                            let outcome = step(partition, &spec, time, &evaluated);
                            emitted.push((outcome, time, 1));
                        }
                    }
                }
                if let Some(first) = frontier.frontier().first() {
                    release(partition, &spec, *first);
                }
            }
            partitions.retain(|_, p| {
                !p.pending.is_empty() || !p.history.is_empty() || p.last_interval.is_some()
            });
            emitted.sort_by_key(|(_, time, _)| *time);
            while let Some(&(_, time, _)) = emitted.first() {
                let end = emitted
                    .iter()
                    .position(|(_, t, _)| *t != time)
                    .unwrap_or(emitted.len());
                debug_assert!(
                    held.time() <= &time,
                    "invariant: buffered rows are at or after the frontier"
                );
                let stamp = held.try_delayed(&time).unwrap_or_else(|| held.clone());
                let mut session = output.session(&stamp);
                for update in emitted.drain(..end) {
                    session.give(update);
                }
            }
            capability.advance_to(frontier.frontier().first().copied());
        }
    })
}

/// Drops the history no row at or after `frontier` can read.
fn release(partition: &mut Partition, spec: &AnalyticSpec, frontier: Time) {
    let oldest_readable = frontier.saturating_sub(spec.duration);
    while partition
        .history
        .front()
        .is_some_and(|p| p.time <= oldest_readable)
    {
        partition.history.pop_front();
    }
    if partition.last_interval.is_some_and(|end| end < frontier) {
        partition.last_interval = None;
    }
}

/// Processes one row at `time`: computes its value from the history, then
/// adds it to the history when it matches WHEN.
fn step(partition: &mut Partition, spec: &AnalyticSpec, time: Time, row: &Evaluated) -> Outcome {
    let oldest_readable = time.saturating_sub(spec.duration);
    while partition
        .history
        .front()
        .is_some_and(|p| p.time <= oldest_readable)
    {
        partition.history.pop_front();
    }
    let remember = |partition: &mut Partition, keep: usize| {
        partition.history.push_back(Past {
            time,
            value: row.value.clone(),
            order_keys: row.order_keys.clone(),
        });
        while partition.history.len() > keep {
            partition.history.pop_front();
        }
    };
    let value = match &spec.function {
        Function::Lag { offset } => {
            let n = partition.history.len();
            let value = if n >= *offset {
                partition
                    .history
                    .get(n - offset)
                    .map_or(Value::Null, |p| p.value.clone())
            } else {
                row.default.clone()
            };
            if row.matches {
                remember(partition, *offset);
            }
            value
        }
        Function::Last => {
            if row.matches {
                remember(partition, 1);
            }
            partition
                .history
                .back()
                .map_or_else(|| row.default.clone(), |p| p.value.clone())
        }
        Function::IsFirst { size } => {
            let interval = first_end_at_or_after(time, *size, 0);
            let first = row.matches && partition.last_interval != Some(interval);
            if first {
                partition.last_interval = Some(interval);
            }
            Value::Bigint(i64::from(first))
        }
        Function::Aggregate(kind) => {
            if row.matches {
                remember(partition, usize::MAX);
            }
            let inputs: Vec<AggregateInput<'_>> = partition
                .history
                .iter()
                .map(|p| AggregateInput {
                    value: &p.value,
                    order_keys: &p.order_keys,
                    count: 1,
                })
                .collect();
            match aggregate::compute(kind, &inputs) {
                Ok(v) => v,
                Err(e) => {
                    return Err((
                        row.row.clone(),
                        format!("{}: {}", aggregate::name(kind), e.message),
                    ))
                }
            }
        }
    };
    let mut out = row.row.clone();
    out.set(spec.column.clone(), value);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 10_000_000;

    fn evaluated(value: i64, matches: bool) -> Evaluated {
        Evaluated {
            key: Vec::new(),
            row: Row::new(),
            matches,
            value: Value::Bigint(value),
            order_keys: Vec::new(),
            default: Value::String("none".into()),
        }
    }

    fn run(spec: &AnalyticSpec, events: &[(Time, i64, bool)]) -> Vec<Value> {
        let mut partition = Partition::default();
        events
            .iter()
            .map(|(t, v, m)| {
                let row = step(&mut partition, spec, *t, &evaluated(*v, *m)).expect("no error");
                row.get(&spec.column).cloned().unwrap_or(Value::Null)
            })
            .collect()
    }

    fn spec(function: Function, duration: i64) -> AnalyticSpec {
        AnalyticSpec {
            function,
            duration,
            column: Name::from("c"),
        }
    }

    #[test]
    fn lag_reads_matching_rows_within_the_duration() {
        let lag = spec(Function::Lag { offset: 1 }, 10 * S);
        let none = Value::String("none".into());
        // The row at 25 s is more than 10 s after the last matching row.
        let got = run(
            &lag,
            &[
                (0, 1, true),
                (S, 2, false),
                (2 * S, 3, true),
                (25 * S, 4, true),
            ],
        );
        assert_eq!(
            got,
            vec![none.clone(), Value::Bigint(1), Value::Bigint(1), none]
        );
    }

    #[test]
    fn the_duration_excludes_its_start() {
        // (t - d, t]: a row exactly d earlier is out of reach.
        let lag = spec(Function::Lag { offset: 1 }, 10 * S);
        let got = run(&lag, &[(0, 1, true), (10 * S, 2, true)]);
        assert_eq!(got[1], Value::String("none".into()));
    }

    #[test]
    fn last_includes_the_current_matching_row() {
        let last = spec(Function::Last, 10 * S);
        let got = run(&last, &[(0, 1, true), (S, 2, false), (2 * S, 3, true)]);
        assert_eq!(
            got,
            vec![Value::Bigint(1), Value::Bigint(1), Value::Bigint(3)]
        );
    }

    #[test]
    fn isfirst_marks_the_first_matching_row_of_each_interval() {
        // Intervals are (0, 10 s], (10 s, 20 s] as tumbling windows.
        let first = spec(Function::IsFirst { size: 10 * S }, 0);
        let got = run(
            &first,
            &[
                (S, 0, false),
                (2 * S, 0, true),
                (10 * S, 0, true),
                (11 * S, 0, true),
            ],
        );
        let b = Value::Bigint;
        assert_eq!(got, vec![b(0), b(1), b(0), b(1)]);
    }

    #[test]
    fn aggregates_cover_the_matching_rows_of_the_duration() {
        let sum = spec(Function::Aggregate(AggregateKind::Sum), 10 * S);
        let got = run(
            &sum,
            &[
                (0, 1, true),
                (5 * S, 2, true),
                (12 * S, 4, false),
                (14 * S, 8, true),
            ],
        );
        let b = Value::Bigint;
        assert_eq!(got, vec![b(1), b(3), b(2), b(10)]);
    }
}
