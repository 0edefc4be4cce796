//! Session windows (ASA-SEMANTICS.md §2): windows whose boundaries depend
//! on the data, so they are assigned by an operator of their own before the
//! shared reduction.
//!
//! Per partition key (`OVER (PARTITION BY ...)`, or one timeline for all
//! events without it), events are taken in event-time order once the input
//! frontier has passed them. A session starts at its first event and ends at
//! the earliest of `last event + timeout` and the first multiple of
//! `maxDuration` at least `maxDuration` after its start (the documented
//! check `t % maxDuration == 0 AND t - first >= maxDuration`, on an
//! epoch-aligned grid). An event at or before that end joins the session.
//! When a session ends, each of its events is emitted keyed by the session
//! end at that time (+1) and retracted one tick later (-1), exactly like a
//! hopping window's placement, so the same reduction aggregates it.
//!
//! # Contract
//! - After every activation each open session ends at or after the input
//!   frontier, so the operator's capability (held at the frontier) can
//!   still emit at its end.
//! - Events are emitted once, at their session's end, which is `>=` their
//!   own time.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::{HeldCapability, Time};
use crate::types::Value;

/// An evaluated event: group key values (partition values appended) and
/// the aggregate argument slots.
pub type Keyed = (Vec<Value>, Vec<Value>);

/// Placed events: `((keys, window end, member), slots)` with time and diff.
pub type Placed = (((Vec<Value>, Time, u32), Vec<Value>), Time, isize);

/// Session parameters in ticks.
#[derive(Clone, Copy, Debug)]
pub struct SessionSpec {
    /// Gap that ends a session.
    pub timeout: i64,
    /// Grid of the maximum-duration check.
    pub max_duration: i64,
    /// How many trailing key values are the partition key.
    pub partition_len: usize,
    /// Which `Windows(...)` member this is.
    pub member: u32,
}

/// The open session of one partition.
struct Open {
    first: Time,
    last: Time,
    events: Vec<(Keyed, isize)>,
}

impl Open {
    fn end(&self, spec: &SessionSpec) -> Time {
        let by_gap = self.last.saturating_add(spec.timeout);
        by_gap.min(max_duration_cut(self.first, spec.max_duration))
    }
}

/// The first multiple of `max_duration` that is at least `max_duration`
/// after `first`.
pub fn max_duration_cut(first: Time, max_duration: i64) -> Time {
    let m = max_duration.max(1);
    let earliest = first.saturating_add(m);
    let rem = earliest.rem_euclid(m);
    if rem == 0 {
        earliest
    } else {
        earliest.saturating_add(m - rem)
    }
}

#[derive(Default)]
struct Partition {
    pending: BTreeMap<Time, Vec<(Keyed, isize)>>,
    open: Option<Open>,
}

/// Assigns events to sessions; see the module documentation.
pub fn assign_sessions<'scope>(
    events: Stream<'scope, Time, Vec<(Keyed, Time, isize)>>,
    spec: SessionSpec,
) -> Stream<'scope, Time, Vec<Placed>> {
    let partition_of = move |keys: &Vec<Value>| -> Vec<Value> {
        let start = keys.len().saturating_sub(spec.partition_len);
        keys.get(start..).map(<[Value]>::to_vec).unwrap_or_default()
    };
    let route = move |update: &(Keyed, Time, isize)| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        partition_of(&update.0 .0).hash(&mut hasher);
        hasher.finish()
    };
    events.unary_frontier(
        Exchange::new(route),
        "SessionWindow",
        move |_initial, _info| {
            let mut partitions: HashMap<Vec<Value>, Partition> = HashMap::new();
            let mut capability = HeldCapability::default();
            move |(input, frontier), output| {
                input.for_each_stamp(|stamp, batches| {
                    capability.hold_least(stamp.retain_least(output.output_index()));
                    for batch in batches {
                        for (keyed, time, diff) in batch.drain(..) {
                            let partition = partitions.entry(partition_of(&keyed.0)).or_default();
                            partition
                                .pending
                                .entry(time)
                                .or_default()
                                .push((keyed, diff));
                        }
                    }
                });
                let Some(held) = capability.get() else {
                    return;
                };
                let complete = |t: &Time| !frontier.less_equal(t);
                let mut emitted: Vec<Placed> = Vec::new();
                for partition in partitions.values_mut() {
                    while let Some(entry) = partition.pending.first_entry() {
                        if !complete(entry.key()) {
                            break;
                        }
                        let time = *entry.key();
                        let events = entry.remove();
                        if let Some(open) = &partition.open {
                            if time > open.end(&spec) {
                                if let Some(closed) = partition.open.take() {
                                    close(closed, &spec, &mut emitted);
                                }
                            }
                        }
                        match &mut partition.open {
                            Some(open) => {
                                open.last = open.last.max(time);
                                open.events.extend(events);
                            }
                            None => {
                                partition.open = Some(Open {
                                    first: time,
                                    last: time,
                                    events,
                                })
                            }
                        }
                    }
                    let ends_before_frontier = partition
                        .open
                        .as_ref()
                        .is_some_and(|open| complete(&open.end(&spec)));
                    if ends_before_frontier {
                        if let Some(closed) = partition.open.take() {
                            close(closed, &spec, &mut emitted);
                        }
                    }
                }
                partitions.retain(|_, p| p.open.is_some() || !p.pending.is_empty());
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
                            "invariant: sessions end at or after the frontier"
                        );
                        let stamp = held.try_delayed(&time).unwrap_or_else(|| held.clone());
                        let mut session = output.session(&stamp);
                        for update in emitted[start..end].iter().cloned() {
                            session.give(update);
                        }
                        start = end;
                    }
                }
                capability.advance_to(frontier.frontier().first().copied());
            }
        },
    )
}

fn close(open: Open, spec: &SessionSpec, emitted: &mut Vec<Placed>) {
    let end = open.end(spec);
    for ((keys, slots), diff) in open.events {
        let key = (keys, end, spec.member);
        emitted.push(((key.clone(), slots.clone()), end, diff));
        emitted.push(((key, slots), end.saturating_add(1), -diff));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 600_000_000;

    #[test]
    fn sessions_are_cut_on_the_max_duration_grid() {
        // §2: checks happen at multiples of maxDuration, so a session that
        // starts mid-grid can last up to 2 x maxDuration.
        assert_eq!(max_duration_cut(0, 60 * MIN), 60 * MIN);
        assert_eq!(max_duration_cut(59 * MIN, 60 * MIN), 120 * MIN);
        assert_eq!(max_duration_cut(60 * MIN, 60 * MIN), 120 * MIN);
    }

    #[test]
    fn a_session_ends_at_last_event_plus_timeout() {
        // §2: System.Timestamp() of a session is last event + timeout.
        let spec = SessionSpec {
            timeout: MIN,
            max_duration: 60 * MIN,
            partition_len: 0,
            member: 0,
        };
        let open = Open {
            first: 0,
            last: 70 * 10_000_000,
            events: Vec::new(),
        };
        assert_eq!(open.end(&spec), 70 * 10_000_000 + MIN);
    }
}
