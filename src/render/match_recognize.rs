//! `MATCH_RECOGNIZE` (docs/semantics.md, "MATCH_RECOGNIZE"): rows are
//! classified (partition key, which pattern variables they satisfy, the
//! values the measures read), routed to a worker by partition key, and
//! matched per key in event-time order by
//! [`PartitionMatcher`](crate::expr::row_pattern::PartitionMatcher) once the
//! input frontier has passed them. Each match becomes one row of MEASURES at
//! the time of its last row.
//!
//! # Order and ties
//! Rows of one key are taken in event-time order. Rows with the same time
//! are taken in the order of their classified content (variables, then the
//! values the measures read), which does not depend on arrival order or on
//! the number of workers; rows equal in that content are interchangeable
//! for every result.
//!
//! # State
//! Per key: the rows not yet released (time at or after the frontier) and,
//! of the released rows, those an undecided attempt may still include:
//! the last `LIMIT DURATION` at most. A key with nothing retained is
//! dropped.
//!
//! # Contract
//! The operator holds its capability at the earlier of the input frontier
//! and the start of the oldest undecided attempt of any key, so a match can
//! be stamped with its last row's time even when it is decided later (a
//! greedy `A+` is decided only when a row that is not `A` arrives, or when
//! the limit has passed).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use differential_dataflow::collection::AsCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::{join_key, HeldCapability, Renderer, Rows, Time};
use crate::expr::eval::eval;
use crate::expr::ops;
use crate::expr::row_pattern::{Match, PartitionMatcher, Program};
use crate::plan::{measure_slot_column, MatchRecognizePlan, MeasureMethod, MeasureSlot};
use crate::types::{Record, Row, Value};

/// A classified row: partition key, variable bit set, slot argument values.
type Classified = (Vec<Value>, u64, Vec<Value>);

/// What the matching operator needs of the plan.
#[derive(Clone)]
struct MatchSpec {
    limit: i64,
    program: Program,
    slots: Vec<MeasureSlot>,
    variables: Vec<String>,
}

/// A released row's payload: variables and slot argument values.
type Payload = (u64, Vec<Value>);

#[derive(Default)]
struct Partition {
    pending: BTreeMap<Time, Vec<(Payload, isize)>>,
    matcher: Option<PartitionMatcher<Payload>>,
}

impl<'scope> Renderer<'_, 'scope> {
    /// Renders [`crate::plan::Rel::MatchRecognize`] over `rows`.
    pub(super) fn render_match_recognize(
        &mut self,
        rows: Rows<'scope>,
        name: String,
        mr: &MatchRecognizePlan,
    ) -> Rows<'scope> {
        let partition_by = mr.partition_by.clone();
        let conditions = mr.conditions.clone();
        let slot_arguments = mr.slot_arguments.clone();
        let classified = self.fallible(rows, name.clone(), move |row, ctx| {
            let key = join_key(&partition_by, row, ctx)?;
            let mut vars = 0u64;
            for (i, condition) in conditions.iter().enumerate() {
                let holds = match condition {
                    None => true,
                    Some(c) => ops::is_true(&eval(c, row, ctx)?),
                };
                if holds && i < 64 {
                    vars |= 1u64 << i;
                }
            }
            let values = slot_arguments
                .iter()
                .map(|a| eval(a, row, ctx))
                .collect::<Result<Vec<Value>, _>>()?;
            Ok(Some((key, vars, values)))
        });
        let program = Program::compile(&mr.pattern).unwrap_or_else(|_| {
            // The binder rejects patterns that do not compile.
            Program::compile(&crate::expr::row_pattern::RowPattern::Seq(Vec::new()))
                .expect("invariant: the empty pattern compiles")
        });
        let spec = MatchSpec {
            limit: mr.limit,
            program,
            slots: mr.slots.clone(),
            variables: mr.variables.clone(),
        };
        let matches = match_rows(classified.inner, spec, &name).as_collection();
        let measures = mr.measures.clone();
        self.fallible(matches, name, move |row, ctx| {
            let mut out = Record::with_capacity(measures.len());
            for (column, expr) in &measures {
                out.push_if_absent(column.clone(), eval(expr, row, ctx)?);
            }
            Ok(Some(out))
        })
    }
}

/// The matching operator; see the module documentation.
fn match_rows<'scope>(
    rows: Stream<'scope, Time, Vec<(Classified, Time, isize)>>,
    spec: MatchSpec,
    name: &str,
) -> Stream<'scope, Time, Vec<(Row, Time, isize)>> {
    let route = |update: &(Classified, Time, isize)| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        update.0 .0.hash(&mut hasher);
        hasher.finish()
    };
    rows.unary_frontier(Exchange::new(route), name, move |_initial, _info| {
        let mut partitions: HashMap<Vec<Value>, Partition> = HashMap::new();
        let mut capability = HeldCapability::default();
        move |(input, frontier), output| {
            input.for_each_stamp(|stamp, batches| {
                capability.hold_least(stamp.retain_least(output.output_index()));
                for batch in batches {
                    for ((key, vars, values), time, diff) in batch.drain(..) {
                        partitions
                            .entry(key)
                            .or_default()
                            .pending
                            .entry(time)
                            .or_default()
                            .push(((vars, values), diff));
                    }
                }
            });
            let Some(held) = capability.get() else {
                return;
            };
            let upper: Option<Time> = frontier.frontier().first().copied();
            let complete = |t: &Time| !frontier.less_equal(t);
            let mut emitted: Vec<(Row, Time, isize)> = Vec::new();
            let mut found: Vec<Match> = Vec::new();
            let mut hold_at: Option<Time> = upper;
            for partition in partitions.values_mut() {
                let matcher = partition
                    .matcher
                    .get_or_insert_with(|| PartitionMatcher::new(&spec.program));
                while let Some(entry) = partition.pending.first_entry() {
                    if !complete(entry.key()) {
                        break;
                    }
                    let time = *entry.key();
                    for payload in release_order(entry.remove()) {
                        let (vars, _) = payload;
                        matcher.push(&spec.program, spec.limit, time, vars, payload, &mut found);
                        emit(&spec, matcher, &mut found, &mut emitted);
                    }
                }
                match upper {
                    Some(t) => matcher.advance(t, spec.limit, &mut found),
                    None => matcher.finish(&mut found),
                }
                emit(&spec, matcher, &mut found, &mut emitted);
                matcher.trim();
                if let Some(open) = matcher.earliest_open() {
                    hold_at = Some(hold_at.map_or(open, |h| h.min(open)));
                }
            }
            partitions.retain(|_, p| {
                !p.pending.is_empty() || p.matcher.as_ref().is_some_and(|m| !m.is_idle())
            });
            if !emitted.is_empty() {
                emitted.sort_by_key(|(_, time, _)| *time);
                let mut start = 0;
                while start < emitted.len() {
                    let time = emitted[start].1;
                    let end = emitted[start..]
                        .iter()
                        .position(|(_, t, _)| *t != time)
                        .map_or(emitted.len(), |n| start + n);
                    debug_assert!(
                        held.time() <= &time,
                        "invariant: the capability is held at the oldest open attempt"
                    );
                    let stamp = held.try_delayed(&time).unwrap_or_else(|| held.clone());
                    let mut session = output.session(&stamp);
                    for update in emitted[start..end].iter().cloned() {
                        session.give(update);
                    }
                    start = end;
                }
            }
            capability.advance_to(hold_at);
        }
    })
}

/// The rows of one time, in a worker-independent order (see the module
/// documentation), each repeated by its net multiplicity; retractions
/// cancel equal insertions, and a net retraction is ignored.
fn release_order(mut rows: Vec<(Payload, isize)>) -> Vec<Payload> {
    rows.sort();
    let mut out = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        let mut count = 0isize;
        let mut j = i;
        while j < rows.len() && rows[j].0 == rows[i].0 {
            count += rows[j].1;
            j += 1;
        }
        for _ in 0..count.max(0) {
            out.push(rows[i].0.clone());
        }
        i = j;
    }
    out
}

/// Turns decided matches into slot rows at their last row's time.
fn emit(
    spec: &MatchSpec,
    matcher: &PartitionMatcher<Payload>,
    found: &mut Vec<Match>,
    emitted: &mut Vec<(Row, Time, isize)>,
) {
    for m in found.drain(..) {
        let Some((time, _)) = matcher.row(m.end()) else {
            continue;
        };
        let time = *time;
        let mut row = Record::with_capacity(spec.slots.len());
        for (i, slot) in spec.slots.iter().enumerate() {
            row.push_unchecked(measure_slot_column(i), slot_value(spec, matcher, &m, slot));
        }
        emitted.push((row, time, 1));
    }
}

/// One slot's value for a match.
fn slot_value(
    spec: &MatchSpec,
    matcher: &PartitionMatcher<Payload>,
    m: &Match,
    slot: &MeasureSlot,
) -> Value {
    match slot {
        MeasureSlot::Classifier => Value::Array(
            m.rows
                .iter()
                .map(|(_, v)| {
                    Value::String(
                        spec.variables
                            .get(usize::from(*v))
                            .cloned()
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        ),
        MeasureSlot::Aggregate {
            method,
            var,
            argument,
        } => {
            let mut values = m
                .rows
                .iter()
                .filter(|(_, v)| var.is_none_or(|want| want == *v))
                .filter_map(|(index, _)| matcher.row(*index))
                .map(|(_, (_, values))| values.get(*argument).cloned().unwrap_or(Value::Null));
            match method {
                MeasureMethod::First => values.next().unwrap_or(Value::Null),
                MeasureMethod::Last => values.next_back().unwrap_or(Value::Null),
                MeasureMethod::Min | MeasureMethod::Max => {
                    let want = if *method == MeasureMethod::Min {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    };
                    values
                        .filter(|v| !v.is_null())
                        .fold(Value::Null, |best, v| {
                            if best.is_null() || ops::compare(&v, &best) == Some(want) {
                                v
                            } else {
                                best
                            }
                        })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_one_time_are_released_in_an_arrival_independent_order() {
        let a = (1u64, vec![Value::Bigint(2)]);
        let b = (2u64, vec![Value::Bigint(3)]);
        let a2 = (1u64, vec![Value::Bigint(1)]);
        let one = release_order(vec![(b.clone(), 1), (a.clone(), 1), (a2.clone(), 1)]);
        let other = release_order(vec![(a.clone(), 1), (a2.clone(), 1), (b.clone(), 1)]);
        assert_eq!(one, other);
        assert_eq!(one, vec![a2, a.clone(), b.clone()]);
    }

    #[test]
    fn retractions_cancel_equal_rows_and_multiplicities_repeat() {
        let a = (1u64, vec![Value::Bigint(2)]);
        let b = (2u64, vec![Value::Bigint(3)]);
        let released = release_order(vec![(a.clone(), 2), (b.clone(), 1), (b.clone(), -1)]);
        assert_eq!(released, vec![a.clone(), a]);
        assert!(release_order(vec![(b, -1)]).is_empty());
    }
}
