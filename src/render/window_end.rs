//! Final results of hopping, tumbling and snapshot windows, computed once
//! per window at its end without an arrangement.
//!
//! In `final` mode a window's aggregates are needed only at its end, and
//! [`super::place`] already delays every event to that end. A differential
//! `reduce` would then sort every event into an arrangement and retract it
//! one tick later, only to compute each group once. This operator does the
//! same computation directly: it routes each event by its group key, looks
//! the key up once and files the event in the key's groups, one per window
//! end and member (a hopping window's event goes to several), and when the
//! input frontier passes a window end it consolidates each group there and
//! computes the aggregates with the same [`AggregateLayout`] the reduction
//! uses. The results are the reduction's insertions at the window end, byte
//! for byte; state is the events of windows still open, released (with
//! their keys) as they close.
//!
//! COUNT, SUM and AVG rows with bigint arguments are folded into running
//! totals as they arrive ([`IntegerFold`]) rather than kept; with several
//! workers each worker folds its own events first and sends one partial
//! group per key and window end to the key's worker (see
//! [`aggregate_at_window_ends`]).
//!
//! Changelog outputs and session windows keep the differential reduction:
//! they need updates before a window's end. Sliding windows have their own
//! operator ([`super::sliding`]).
//!
//! # Contract
//! - Every pending window end is at or after the held capability, so the
//!   operator can still emit at it (each end is `>=` its event's time).
//! - A group whose events consolidate to nothing gives no row, as in the
//!   reduction.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::session::Keyed;
use super::{place, AggregateLayout, Folds, HeldCapability, Time};
use crate::expr::aggregate::IntegerFold;
use crate::plan::{EmitMode, WindowPlan};
use crate::types::Value;

/// A computed group: `((keys, window end, member), aggregates or error)`.
pub type Computed = (
    ((Vec<Value>, Time, u32), super::AggregateResult),
    Time,
    isize,
);

/// A group's folds and its kept events, consolidated.
type Consolidated = (Folds, Vec<(Vec<Value>, isize)>);

/// One group key's open groups: one per window end and member it has
/// events in (a handful: the windows still open at the key's latest events).
struct KeyGroups {
    values: Vec<Value>,
    groups: Vec<(Time, u32, Group)>,
}

/// The open windows of one operator, held per group key: an event looks its
/// key up once, however many windows it falls in, and finds its groups in
/// the key's short list. Each window end lists the keys with a group there,
/// by a small id, so that closing it visits only those.
#[derive(Default)]
struct Open {
    ids: HashMap<Vec<Value>, u32, FixedState>,
    /// By id; `None` once free.
    keys: Vec<Option<KeyGroups>>,
    free: Vec<u32>,
    /// Per window end, the ids of the keys with a group there.
    ends: BTreeMap<Time, Vec<u32>>,
}

impl Open {
    /// The id of `keys`, new when no open group uses them (a new key keeps
    /// `keys` itself, and the lookup table a copy).
    fn id(&mut self, mut keys: Vec<Value>) -> u32 {
        if let Some(&id) = self.ids.get(keys.as_slice()) {
            return id;
        }
        // Kept while the key has open groups: no spare capacity (a direct
        // input's keys come in the vector of all its projected values).
        keys.shrink_to_fit();
        let id = self.free.pop().unwrap_or(self.keys.len() as u32);
        self.ids.insert(keys.clone(), id);
        let entry = Some(KeyGroups {
            values: keys,
            groups: Vec::new(),
        });
        match self.keys.get_mut(id as usize) {
            Some(slot) => *slot = entry,
            None => self.keys.push(entry),
        }
        id
    }

    /// The group of key `id` and `member` at `end`, made when new.
    fn group(&mut self, id: u32, end: Time, member: u32) -> Option<&mut Group> {
        let key = self.keys.get_mut(id as usize)?.as_mut()?;
        let at = match key
            .groups
            .iter()
            .position(|(e, m, _)| *e == end && *m == member)
        {
            Some(at) => at,
            None => {
                key.groups.push((end, member, Group::default()));
                self.ends.entry(end).or_default().push(id);
                key.groups.len() - 1
            }
        };
        key.groups.get_mut(at).map(|(_, _, group)| group)
    }

    /// The earliest window end with open groups.
    fn first_end(&self) -> Option<Time> {
        self.ends.keys().next().copied()
    }

    /// Removes every group at `end`, giving each with its key values and
    /// member to `each`; a key left without groups is freed.
    fn close(&mut self, end: Time, mut each: impl FnMut(Vec<Value>, u32, Group)) {
        let Some(ids) = self.ends.remove(&end) else {
            return;
        };
        let mut closing = Vec::new();
        for id in ids {
            let Some(Some(key)) = self.keys.get_mut(id as usize) else {
                continue;
            };
            let mut i = 0;
            while i < key.groups.len() {
                if key.groups[i].0 == end {
                    let (_, member, group) = key.groups.swap_remove(i);
                    closing.push((member, group));
                } else {
                    i += 1;
                }
            }
            let done = key.groups.is_empty();
            if done {
                self.ids.remove(key.values.as_slice());
            }
            let last = closing.len().saturating_sub(1);
            for (i, (member, group)) in closing.drain(..).enumerate() {
                let values = if done && i == last {
                    std::mem::take(&mut key.values)
                } else {
                    key.values.clone()
                };
                each(values, member, group);
            }
            if done {
                self.keys[id as usize] = None;
                self.free.push(id);
            }
        }
    }

    /// Frees key `id` when it has no open group.
    fn forget(&mut self, id: u32) {
        let Some(slot) = self.keys.get_mut(id as usize) else {
            return;
        };
        if slot.as_ref().is_some_and(|key| key.groups.is_empty()) {
            if let Some(key) = slot.take() {
                self.ids.remove(key.values.as_slice());
            }
            self.free.push(id);
        }
    }

    /// Keys with open groups.
    #[cfg(test)]
    fn key_count(&self) -> usize {
        self.ids.len()
    }
}

/// The events of one group: folded into per-aggregate summaries where the
/// layout allows (COUNT, SUM, AVG of bigints: see
/// [`AggregateLayout::fold`]), else kept as argument slots with their
/// multiplicities.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Group {
    folds: Folds,
    events: Vec<(Vec<Value>, isize)>,
    /// Some kept multiplicity is not `+1`, so they need consolidating.
    mixed: bool,
}

impl Group {
    /// Folds the event in when the layout allows (see
    /// [`AggregateLayout::fold`]); false when it must be kept.
    fn fold(&mut self, layout: &AggregateLayout, slots: &[Value], diff: isize) -> bool {
        layout.fold(&mut self.folds, slots, diff)
    }

    fn keep(&mut self, slots: Vec<Value>, diff: isize) {
        self.mixed |= diff != 1;
        self.events.push((slots, diff));
    }

    /// Adds another worker's part of the same group.
    fn merge(&mut self, other: Group) {
        if self.folds.is_empty() {
            self.folds = other.folds;
        } else {
            for (fold, theirs) in self.folds.iter_mut().zip(&other.folds) {
                fold.merge(theirs);
            }
        }
        self.mixed |= other.mixed;
        self.events.extend(other.events);
    }

    #[cfg(test)]
    fn push(&mut self, layout: &AggregateLayout, slots: Vec<Value>, diff: isize) {
        if !self.fold(layout, &slots, diff) {
            self.keep(slots, diff);
        }
    }

    /// The folds, and the kept events as the reduction sees them: distinct
    /// slots with non-zero multiplicities (sorted only when something needs
    /// cancelling). `None` when the group consolidates to nothing.
    fn consolidated(mut self) -> Option<Consolidated> {
        if self.mixed {
            differential_dataflow::consolidation::consolidate(&mut self.events);
        }
        if self.events.is_empty() && self.folds.iter().all(IntegerFold::is_empty) {
            return None;
        }
        Some((self.folds, self.events))
    }
}

/// True when `windows` can be computed by [`aggregate_at_window_ends`]:
/// `final` mode over hopping (tumbling) and snapshot windows only.
pub fn applies(windows: &[(Option<String>, WindowPlan)], mode: EmitMode) -> bool {
    mode == EmitMode::Final
        && windows
            .iter()
            .all(|(_, w)| matches!(w, WindowPlan::Hopping { .. } | WindowPlan::Snapshot))
}

/// Aggregates `events` (group key values and argument slots, at event
/// time) per window of `windows` and emits each group's result at its
/// window end; see the module documentation.
///
/// With several workers and aggregates that fold (COUNT, SUM, AVG), each
/// worker first folds its own events per group and window and sends one
/// partial group per window end to the group's worker, which merges the
/// partials and computes: far fewer updates cross workers (or processes)
/// than events. Otherwise every event goes to its group's worker.
pub fn aggregate_at_window_ends<'scope>(
    events: Stream<'scope, Time, Vec<(Keyed, Time, isize)>>,
    name: &str,
    windows: Vec<(Option<String>, WindowPlan)>,
    layout: AggregateLayout,
) -> Stream<'scope, Time, Vec<Computed>> {
    let two_phase = layout.foldable && events.scope().peers() > 1;
    let compute_layout = layout.clone();
    let compute = move |end: Time, open: &mut Open, out: &mut Vec<Computed>| {
        open.close(end, |values, member, group| {
            let Some((folds, events)) = group.consolidated() else {
                return;
            };
            let refs: Vec<(&Vec<Value>, isize)> =
                events.iter().map(|(slots, diff)| (slots, *diff)).collect();
            let result = compute_layout.compute_onto(&folds, &refs);
            out.push((((values, end, member), result), end, 1));
        });
    };
    let mut ends = Vec::new();
    let file = move |open: &mut Open, (event, time, diff): (Keyed, Time, isize)| {
        file_event(open, &windows, &layout, &mut ends, event, time, diff);
    };
    if !two_phase {
        let route = |update: &(Keyed, Time, isize)| route_keys(&update.0 .0);
        return at_window_ends(events, Exchange::new(route), name, file, compute);
    }
    // Phase one, on each worker's own events: partial groups at each end.
    let partials = at_window_ends(
        events,
        Pipeline,
        &format!("{name} (fold locally)"),
        file,
        |end: Time, open: &mut Open, out: &mut Vec<Partial>| {
            open.close(end, |values, member, group| {
                out.push((((values, member), group), end, 1));
            });
        },
    );
    // Phase two, on the group's worker: merge the partials, then compute.
    let route = |partial: &Partial| route_keys(&partial.0 .0 .0);
    let merge = |open: &mut Open, (((values, member), group), end, _): Partial| {
        let id = open.id(values);
        if let Some(held) = open.group(id, end, member) {
            held.merge(group);
        }
    };
    at_window_ends(partials, Exchange::new(route), name, merge, compute)
}

/// One worker's group of one key and window member at one window end
/// (phase one of [`aggregate_at_window_ends`]), at the window end.
type Partial = (((Vec<Value>, u32), Group), Time, isize);

/// The worker a group's key values belong to. A fixed seed: every process
/// routes a key to the same worker.
pub(super) fn route_keys(keys: &[Value]) -> u64 {
    FixedState::with_seed(0).hash_one(keys)
}

/// An operator that files its input into groups per window end (`file`)
/// and, once the input frontier has passed an end, turns that end's groups
/// into output at the end (`close`). It holds one capability, at the least
/// time it may still emit at.
fn at_window_ends<'scope, D, O, P>(
    input: Stream<'scope, Time, Vec<D>>,
    pact: P,
    name: &str,
    mut file: impl FnMut(&mut Open, D) + 'static,
    mut close: impl FnMut(Time, &mut Open, &mut Vec<O>) + 'static,
) -> Stream<'scope, Time, Vec<O>>
where
    D: Clone + 'static,
    O: Clone + 'static,
    P: ParallelizationContract<Time, Vec<D>>,
{
    input.unary_frontier(pact, name, move |_initial, _info| {
        let mut open = Open::default();
        let mut capability = HeldCapability::default();
        let mut closed = Vec::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|stamp, batches| {
                capability.hold_least(stamp.retain_least(output.output_index()));
                for batch in batches {
                    for item in batch.drain(..) {
                        file(&mut open, item);
                    }
                }
            });
            let Some(held) = capability.get() else {
                return;
            };
            while let Some(end) = open.first_end() {
                if frontier.less_equal(&end) {
                    break;
                }
                close(end, &mut open, &mut closed);
            }
            // One message for every end closed: each update carries its end
            // as its time, at or after the held capability.
            if !closed.is_empty() {
                output.session(held).give_iterator(closed.drain(..));
            }
            capability.advance_to(frontier.frontier().first().copied());
        }
    })
}

/// Files one event (group key values and argument slots) under every
/// window of `windows` that holds it (`ends` is scratch space, reused from
/// event to event).
fn file_event(
    open: &mut Open,
    windows: &[(Option<String>, WindowPlan)],
    layout: &AggregateLayout,
    ends: &mut Vec<(Time, u32)>,
    (keys, slots): Keyed,
    time: Time,
    diff: isize,
) {
    ends.clear();
    for (member, (_, window)) in windows.iter().enumerate() {
        place(window, time, EmitMode::Final, |end, _at, sign| {
            if sign > 0 {
                ends.push((end, member as u32));
            }
        });
    }
    let id = open.id(keys);
    let last = ends.len().saturating_sub(1);
    let mut slots = Some(slots);
    for (i, &(end, member)) in ends.iter().enumerate() {
        let Some(group) = open.group(id, end, member) else {
            continue;
        };
        let Some(event_slots) = slots.as_deref() else {
            continue;
        };
        if group.fold(layout, event_slots, diff) {
            continue;
        }
        // A kept event: the last window takes the event's own slots.
        let kept = if i == last {
            slots.take()
        } else {
            slots.clone()
        };
        if let Some(kept) = kept {
            group.keep(kept, diff);
        }
    }
    open.forget(id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::aggregate::AggregateKind;
    use crate::render::AggregateResult;

    const S: i64 = 10_000_000;

    fn layout(kinds: &[AggregateKind]) -> AggregateLayout {
        AggregateLayout::for_kinds(kinds)
    }

    /// The group's result, folded as the operator files events, and
    /// computed over every event kept.
    fn folded_and_kept(
        layout: &AggregateLayout,
        events: &[(Vec<Value>, isize)],
    ) -> (Option<AggregateResult>, Option<AggregateResult>) {
        let mut group = Group::default();
        for (slots, diff) in events {
            group.push(layout, slots.clone(), *diff);
        }
        let folded = group.consolidated().map(|(folds, kept)| {
            let refs: Vec<(&Vec<Value>, isize)> = kept.iter().map(|(s, d)| (s, *d)).collect();
            layout.compute_onto(&folds, &refs)
        });
        let mut all = events.to_vec();
        differential_dataflow::consolidation::consolidate(&mut all);
        let kept = (!all.is_empty()).then(|| {
            let refs: Vec<(&Vec<Value>, isize)> = all.iter().map(|(s, d)| (s, *d)).collect();
            layout.compute(&refs)
        });
        (folded, kept)
    }

    #[test]
    fn folded_groups_compute_what_kept_events_do() {
        let counts_and_sums = layout(&[
            AggregateKind::CountStar,
            AggregateKind::Count,
            AggregateKind::Sum,
            AggregateKind::Avg,
        ]);
        let row = |v: Value| vec![Value::Null, v.clone(), v.clone(), v];
        let cases: Vec<Vec<(Vec<Value>, isize)>> = vec![
            // Bigints only: folded entirely.
            vec![
                (row(Value::Bigint(3)), 1),
                (row(Value::Bigint(-7)), 1),
                (row(Value::Null), 1),
            ],
            // Floats beside bigints: the floats are kept, the sum is a float.
            vec![
                (row(Value::Bigint(3)), 1),
                (row(Value::Float(0.1)), 1),
                (row(Value::Float(0.2)), 1),
            ],
            // A retraction of a folded row cancels it.
            vec![
                (row(Value::Bigint(3)), 1),
                (row(Value::Bigint(4)), 1),
                (row(Value::Bigint(3)), -1),
            ],
            // Everything retracted: no row.
            vec![
                (row(Value::Bigint(3)), 1),
                (row(Value::Float(2.5)), 1),
                (row(Value::Bigint(3)), -1),
                (row(Value::Float(2.5)), -1),
            ],
            // A string is kept and is the group's error.
            vec![(row(Value::Bigint(3)), 1), (row(Value::str("x")), 1)],
            // Beyond bigint: an overflow error either way.
            vec![
                (row(Value::Bigint(i64::MAX)), 1),
                (row(Value::Bigint(i64::MAX)), 1),
            ],
        ];
        for events in cases {
            let (folded, kept) = folded_and_kept(&counts_and_sums, &events);
            assert_eq!(folded, kept, "{events:?}");
        }
        // No aggregate at all (a deduplicating GROUP BY): the row is kept.
        let (folded, kept) = folded_and_kept(&layout(&[]), &[(vec![], 1)]);
        assert_eq!(folded, Some(Ok(vec![])));
        assert_eq!(folded, kept);
        // Other aggregates keep every event.
        let min = layout(&[AggregateKind::Min]);
        let mut group = Group::default();
        group.push(&min, vec![Value::Bigint(1)], 1);
        assert!(group.folds.is_empty());
        assert_eq!(group.events.len(), 1);
    }

    /// `HoppingWindow(second, 10, 5)`, the only member.
    fn hopping_10_5() -> Vec<(Option<String>, WindowPlan)> {
        vec![(
            None,
            WindowPlan::Hopping {
                size: 10 * S,
                hop: 5 * S,
                offset: 0,
            },
        )]
    }

    #[test]
    fn an_event_is_filed_under_every_hopping_window_that_holds_it() {
        let windows = hopping_10_5();
        let mut open = Open::default();
        file_event(
            &mut open,
            &windows,
            &layout(&[AggregateKind::Min]),
            &mut Vec::new(),
            (vec![Value::Bigint(1)], vec![Value::Bigint(7)]),
            7 * S,
            1,
        );
        let ends: Vec<Time> = open.ends.keys().copied().collect();
        assert_eq!(ends, vec![10 * S, 15 * S]);
        assert_eq!(open.key_count(), 1, "the key is held once");
    }

    #[test]
    fn a_key_is_held_until_its_last_window_closes() {
        let windows = hopping_10_5();
        let min = layout(&[AggregateKind::Min]);
        let mut open = Open::default();
        let mut scratch = Vec::new();
        for (key, time) in [(1, 7 * S), (2, 7 * S), (1, 12 * S)] {
            let event = (vec![Value::Bigint(key)], vec![Value::Bigint(0)]);
            file_event(&mut open, &windows, &min, &mut scratch, event, time, 1);
        }
        assert_eq!(open.key_count(), 2);
        // Key 2 is in :10 and :15, key 1 in :10, :15 and :20.
        let mut closed = Vec::new();
        for end in [10 * S, 15 * S, 20 * S] {
            assert_eq!(open.first_end(), Some(end));
            open.close(end, |values, member, _| closed.push((end, values, member)));
            let held = open.key_count();
            let expected = match end / S {
                10 => 2,
                15 => 1,
                _ => 0,
            };
            assert_eq!(held, expected, "after {end}");
        }
        closed.sort();
        let keys: Vec<(Time, Value)> = closed
            .into_iter()
            .map(|(e, k, _)| (e, k[0].clone()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (10 * S, Value::Bigint(1)),
                (10 * S, Value::Bigint(2)),
                (15 * S, Value::Bigint(1)),
                (15 * S, Value::Bigint(2)),
                (20 * S, Value::Bigint(1)),
            ]
        );
        // A freed id is reused for the next new key.
        assert_eq!(open.id(vec![Value::Bigint(3)]), 0);
    }

    #[test]
    fn a_group_consolidates_only_when_it_holds_retractions() {
        let min = layout(&[AggregateKind::Min]);
        let mut group = Group::default();
        group.push(&min, vec![Value::Bigint(1)], 1);
        group.push(&min, vec![Value::Bigint(2)], 1);
        group.push(&min, vec![Value::Bigint(1)], -1);
        let (_, kept) = group.consolidated().expect("a row is left");
        assert_eq!(kept, vec![(vec![Value::Bigint(2)], 1)]);
        let mut plain = Group::default();
        plain.push(&min, vec![Value::Bigint(1)], 1);
        plain.push(&min, vec![Value::Bigint(1)], 1);
        assert_eq!(plain.consolidated().expect("rows").1.len(), 2);
    }
}
