//! A join between two streams within a time bound, as one keyed operator.
//!
//! `L JOIN R ON keys AND DATEDIFF(unit, L, R) BETWEEN lo AND hi` pairs
//! rows whose times satisfy `tR - tL ∈ [low, high]` (the bound widened to
//! whole ticks by the binder; the exact DATEDIFF is part of the residual).
//! Both inputs are routed by the hash of their key, so a key's rows meet on
//! one worker. Each worker keeps, per side, a hash map from key to the rows
//! a future partner can still reach, and runs a symmetric hash join: an
//! arriving row is paired with the other side's kept rows of its key, then
//! kept itself. Every pair is thus found exactly once, when the second of
//! its two rows arrives, and is stamped with the later of the two times.
//!
//! A left row is kept while a right row with `tR <= tL + high` can still
//! arrive, a right row while a left row with `tL <= tR - low` can; the
//! input frontiers say when that is over, and a sweep (each time the
//! frontiers move on by [`sweep_width`]) drops what no partner can reach.
//! State is therefore the rows of the bound's span, not the stream.
//!
//! `LEFT JOIN`: when a left row is dropped without a pair that passed the
//! residual, it is emitted alone at `tL + unmatched_delay`. The operator
//! holds one capability for these, kept below every pending deadline.
//!
//! Retractions pass through: a row with a negative diff pairs like any
//! other and its pairs carry the product of the diffs, so a `changes`
//! pipeline sees the retraction of each pair it wrote.
//!
//! # Contract
//! - Pairs are emitted under the capability of the arriving row's batch;
//!   their time (the later row's) is at or after that batch's time.
//! - Every unmatched left row still kept has `tL + unmatched_delay` at or
//!   after the held capability's time.

use std::collections::HashMap;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::progress::frontier::MutableAntichain;

use super::{Failure, Time};
use crate::expr::eval::{eval, EvalContext, ScalarExpr};
use crate::expr::ops;
use crate::types::{DateTime, Row, Value};

/// A row with its join key, at a time, with a multiplicity.
pub type KeyedUpdate = ((Vec<Value>, Row), Time, isize);

/// A joined (or unmatched left) row, or the failure of the residual.
pub type JoinedUpdate = (Result<Row, Failure>, Time, isize);

/// The shape of a temporal join (see [`crate::plan::Rel::TemporalJoin`]).
#[derive(Clone, Debug)]
pub struct TemporalSpec {
    /// The rest of ON, checked on each pair.
    pub residual: Option<ScalarExpr>,
    /// LEFT JOIN: unmatched left rows are written.
    pub left_outer: bool,
    /// Earliest `tR - tL`, ticks.
    pub low: i64,
    /// Latest `tR - tL`, ticks.
    pub high: i64,
    /// When an unmatched left row is written, after its own time.
    pub unmatched_delay: i64,
}

impl TemporalSpec {
    /// The last frontier at which a left row at `t` is still needed.
    fn left_needed_until(&self, t: Time) -> Time {
        let mut until = t.saturating_add(self.high);
        if self.left_outer {
            until = until.max(t.saturating_add(self.unmatched_delay));
        }
        until
    }

    /// The last frontier at which a right row at `t` is still needed.
    fn right_needed_until(&self, t: Time) -> Time {
        t.saturating_sub(self.low)
    }

    /// How far below the frontier the LEFT JOIN capability is held: the
    /// sweep granularity plus how long a row is kept past its deadline.
    fn capability_lag(&self) -> i64 {
        sweep_width(self).saturating_add(self.high.saturating_sub(self.unmatched_delay).max(0))
    }
}

/// How far the frontier moves between sweeps: half the bound's span (each
/// row is visited by about two sweeps), at least a millisecond.
fn sweep_width(spec: &TemporalSpec) -> i64 {
    (spec.high.saturating_sub(spec.low) / 2).max(10_000)
}

/// One kept row.
struct Held {
    time: Time,
    diff: isize,
    /// Pairs that passed the residual, weighted by the partners' diffs.
    matches: isize,
    row: Row,
}

type Kept = HashMap<Vec<Value>, Vec<Held>, FixedState>;

/// Joins `left` and `right` (keyed rows at event time); see the module
/// documentation.
pub fn temporal_join<'scope>(
    left: Stream<'scope, Time, Vec<KeyedUpdate>>,
    right: Stream<'scope, Time, Vec<KeyedUpdate>>,
    name: &str,
    spec: TemporalSpec,
) -> Stream<'scope, Time, Vec<JoinedUpdate>> {
    // A fixed seed: every process routes a key to the same worker.
    let route = |update: &KeyedUpdate| FixedState::with_seed(0).hash_one(&(update.0).0);
    let operator = name.to_string();
    left.binary_frontier(
        right,
        Exchange::new(route),
        Exchange::new(route),
        name,
        move |initial, _info| {
            let mut unmatched_capability: Option<Capability<Time>> =
                spec.left_outer.then_some(initial);
            let mut lefts: Kept = HashMap::with_hasher(FixedState::with_seed(0));
            let mut rights: Kept = HashMap::with_hasher(FixedState::with_seed(0));
            let mut last_sweep: Option<Time> = None;
            let width = sweep_width(&spec);
            move |(left_input, left_frontier), (right_input, right_frontier), output| {
                for (input, from_left) in [(left_input, true), (right_input, false)] {
                    let (own, other) = if from_left {
                        (&mut lefts, &mut rights)
                    } else {
                        (&mut rights, &mut lefts)
                    };
                    input.for_each_stamp(|stamp, batches| {
                        let Some(capability) = stamp.retain_least(output.output_index()) else {
                            return;
                        };
                        let mut session = output.session(&capability);
                        for batch in batches {
                            for ((key, row), time, diff) in batch.drain(..) {
                                let mut arriving = Held {
                                    time,
                                    diff,
                                    matches: 0,
                                    row,
                                };
                                for partner in other.get_mut(&key).into_iter().flatten() {
                                    let (left, right) = if from_left {
                                        (&mut arriving, &*partner)
                                    } else {
                                        (partner, &arriving)
                                    };
                                    let offset = right.time.saturating_sub(left.time);
                                    if offset < spec.low || offset > spec.high {
                                        continue;
                                    }
                                    if let Some(joined) = pair(&spec, &operator, left, right) {
                                        session.give(joined);
                                    }
                                }
                                own.entry(key).or_default().push(arriving);
                            }
                        }
                    });
                }

                let frontier = lower(left_frontier, right_frontier);
                let due = match (frontier, last_sweep) {
                    (None, _) => true,
                    (Some(f), Some(last)) => f >= last.saturating_add(width),
                    (Some(_), None) => true,
                };
                if !due {
                    return;
                }
                last_sweep = frontier;
                // A row is dropped once the frontier has passed the last
                // time a partner could have; at the end, everything is.
                let gone = |needed_until: Time| frontier.is_none_or(|f| f > needed_until);
                rights.retain(|_, rows| {
                    rows.retain(|held| !gone(spec.right_needed_until(held.time)));
                    !rows.is_empty()
                });
                let mut unmatched = Vec::new();
                lefts.retain(|_, rows| {
                    rows.retain_mut(|held| {
                        if !gone(spec.left_needed_until(held.time)) {
                            return true;
                        }
                        if spec.left_outer && held.matches <= 0 {
                            let row = std::mem::take(&mut held.row);
                            let at = held.time.saturating_add(spec.unmatched_delay);
                            unmatched.push((Ok(row), at, held.diff));
                        }
                        false
                    });
                    !rows.is_empty()
                });
                if let Some(capability) = unmatched_capability.as_mut() {
                    if !unmatched.is_empty() {
                        output
                            .session(&*capability)
                            .give_iterator(unmatched.into_iter());
                    }
                    match frontier {
                        Some(f) => {
                            let target = f.saturating_sub(spec.capability_lag());
                            if *capability.time() < target {
                                capability.downgrade(&target);
                            }
                        }
                        None => unmatched_capability = None,
                    }
                }
            }
        },
    )
}

/// The least time either input may still deliver, or `None` when both
/// are done.
fn lower(a: &MutableAntichain<Time>, b: &MutableAntichain<Time>) -> Option<Time> {
    match (a.frontier().first(), b.frontier().first()) {
        (Some(x), Some(y)) => Some(*x.min(y)),
        (Some(x), None) | (None, Some(x)) => Some(*x),
        (None, None) => None,
    }
}

/// Pairs a left and a right row: the merged row (right fields after the
/// left's) at the later time, if the residual holds. The left row's match
/// count is updated for LEFT JOIN.
fn pair(
    spec: &TemporalSpec,
    operator: &str,
    left: &mut Held,
    right: &Held,
) -> Option<JoinedUpdate> {
    let time = left.time.max(right.time);
    let diff = left.diff * right.diff;
    let mut merged = left.row.clone();
    for (name, value) in right.row.fields() {
        merged.set(name.clone(), value.clone());
    }
    if let Some(predicate) = &spec.residual {
        let ctx = EvalContext {
            timestamp: DateTime(time),
        };
        match eval(predicate, &merged, &ctx) {
            Ok(value) if ops::is_true(&value) => {}
            Ok(_) => return None,
            Err(error) => {
                return Some((
                    Err(Failure {
                        operator: operator.to_string(),
                        reason: error.code().to_string(),
                        message: error.message,
                        row: merged,
                    }),
                    time,
                    diff,
                ))
            }
        }
    }
    left.matches += right.diff;
    Some((Ok(merged), time, diff))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 10_000_000;

    fn spec(left_outer: bool) -> TemporalSpec {
        TemporalSpec {
            residual: None,
            left_outer,
            low: -S,
            high: 2 * S,
            unmatched_delay: S,
        }
    }

    #[test]
    fn rows_are_kept_while_a_partner_can_still_arrive() {
        let inner = spec(false);
        assert_eq!(inner.left_needed_until(10 * S), 12 * S);
        assert_eq!(inner.right_needed_until(10 * S), 11 * S);
        let outer = TemporalSpec {
            unmatched_delay: 3 * S,
            ..spec(true)
        };
        assert_eq!(outer.left_needed_until(10 * S), 13 * S);
    }

    #[test]
    fn the_held_capability_stays_below_every_pending_deadline() {
        // A left row is swept once the frontier passes tL + high; sweeps
        // run every `width`, so a kept row has tL + high >= f - width and
        // its deadline tL + delay >= f - width - (high - delay).
        let s = spec(true);
        let lag = s.capability_lag();
        assert_eq!(lag, sweep_width(&s) + (s.high - s.unmatched_delay));
        let frontier = 100 * S;
        let oldest_kept = frontier - sweep_width(&s) - s.high;
        assert!(oldest_kept + s.unmatched_delay >= frontier - lag);
    }

    /// Feeds `left` and `right` updates (time, key, tag, diff), closing
    /// both inputs at the end, and returns the joined rows as (time,
    /// left tag, right tag or "-", diff), sorted.
    fn run(
        spec: TemporalSpec,
        left: Vec<(Time, i64, &'static str, isize)>,
        right: Vec<(Time, i64, &'static str, isize)>,
    ) -> Vec<(Time, String, String, isize)> {
        use std::cell::RefCell;
        use std::rc::Rc;
        use timely::container::CapacityContainerBuilder;
        use timely::dataflow::operators::{Input, Inspect};
        use timely::dataflow::InputHandle;

        let mut out = timely::execute_directly(move |worker| {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let sink = Rc::clone(&seen);
            let mut left_in: InputHandle<Time, CapacityContainerBuilder<Vec<KeyedUpdate>>> =
                InputHandle::new();
            let mut right_in: InputHandle<Time, CapacityContainerBuilder<Vec<KeyedUpdate>>> =
                InputHandle::new();
            worker.dataflow::<Time, _, _>(|scope| {
                let l = scope.input_from(&mut left_in);
                let r = scope.input_from(&mut right_in);
                temporal_join(l, r, "join", spec).inspect(move |(result, time, diff)| {
                    let row = result.as_ref().expect("no residual, no failure");
                    let tag = |side: &str| match row.get(side) {
                        Some(Value::String(s)) => s.clone(),
                        _ => "-".to_string(),
                    };
                    sink.borrow_mut().push((*time, tag("l"), tag("r"), *diff));
                });
            });
            let row = |side: &str, tag: &str| {
                let mut row = Row::new();
                row.push_unchecked(crate::types::Name::from(side), Value::str(tag));
                row
            };
            let mut updates: Vec<(Time, bool, i64, &str, isize)> = left
                .iter()
                .map(|&(t, k, tag, d)| (t, true, k, tag, d))
                .chain(right.iter().map(|&(t, k, tag, d)| (t, false, k, tag, d)))
                .collect();
            updates.sort_by_key(|u| u.0);
            for (time, is_left, key, tag, diff) in updates {
                left_in.advance_to(time);
                right_in.advance_to(time);
                let update = if is_left {
                    ((vec![Value::Bigint(key)], row("l", tag)), time, diff)
                } else {
                    ((vec![Value::Bigint(key)], row("r", tag)), time, diff)
                };
                if is_left {
                    left_in.send(update);
                } else {
                    right_in.send(update);
                }
                worker.step();
            }
            drop((left_in, right_in));
            while worker.step() {}
            let out = seen.borrow().clone();
            out
        });
        out.sort();
        out
    }

    #[test]
    fn a_retracted_row_retracts_the_pairs_it_made() {
        let out = run(
            spec(false),
            vec![(10 * S, 1, "a", 1), (12 * S, 1, "a", -1)],
            vec![(11 * S, 1, "x", 1), (11 * S, 2, "other key", 1)],
        );
        assert_eq!(
            out,
            vec![
                (11 * S, "a".into(), "x".into(), 1),
                (12 * S, "a".into(), "x".into(), -1),
            ]
        );
    }

    #[test]
    fn pairs_are_found_within_the_bound_only() {
        // tR - tL must be in [-1 s, 2 s].
        let out = run(
            spec(false),
            vec![(10 * S, 1, "a", 1)],
            vec![
                (8 * S, 1, "too early", 1),
                (9 * S, 1, "earliest", 1),
                (12 * S, 1, "latest", 1),
                (12 * S + 1, 1, "too late", 1),
            ],
        );
        let partners: Vec<&str> = out.iter().map(|(_, _, r, _)| r.as_str()).collect();
        assert_eq!(partners, vec!["earliest", "latest"]);
        assert_eq!(out[0].0, 10 * S, "a pair is stamped with the later time");
    }

    #[test]
    fn an_unmatched_left_row_is_written_alone_at_its_deadline() {
        let out = run(
            spec(true),
            vec![(10 * S, 1, "matched", 1), (20 * S, 2, "alone", 1)],
            vec![
                (11 * S, 1, "x", 1),
                (40 * S, 9, "late partner elsewhere", 1),
            ],
        );
        assert_eq!(
            out,
            vec![
                (11 * S, "matched".into(), "x".into(), 1),
                (21 * S, "alone".into(), "-".into(), 1),
            ]
        );
    }

    #[test]
    fn a_pair_is_stamped_with_the_later_time_and_counts_for_the_left_row() {
        let mut left = Held {
            time: 5 * S,
            diff: 1,
            matches: 0,
            row: Row::new(),
        };
        let right = Held {
            time: 6 * S,
            diff: -1,
            matches: 0,
            row: Row::new(),
        };
        let (joined, time, diff) =
            pair(&spec(true), "j", &mut left, &right).expect("no residual: every pair is kept");
        assert!(joined.is_ok());
        assert_eq!((time, diff), (6 * S, -1));
        assert_eq!(left.matches, -1);
    }
}
