//! Sliding windows, computed at their change points without an arrangement.
//!
//! A sliding window of `size` holds `(T − size, T]` at every instant `T`, so
//! its content changes only when an event enters (at its own time) or
//! leaves (`size` later). Through a differential `reduce` every event would
//! be sorted into an arrangement twice and each change point would re-read
//! the group's whole history. This operator keeps, per group key and window
//! member, the window's current content, and walks the change points in
//! time order once the input frontier has passed them: it applies the
//! entries and exits at that instant, computes the aggregates with the same
//! [`AggregateLayout`] the reduction uses, and writes a row when the result
//! differs from the one before (docs/semantics.md). Those rows are the
//! reduction's insertions, value for value; its retractions are never
//! output for sliding windows, so none are made.
//!
//! COUNT, SUM and AVG rows with bigint arguments enter and leave running
//! totals ([`IntegerFold`]); other rows are kept as a multiset in the
//! order the reduction would present them. A group's state is dropped once
//! its window is empty and no change of it is pending, so state is bounded
//! by the events of the last `size` of time.
//!
//! # Contract
//! - Every change point is at or after its event's time, so the operator
//!   holds a capability at or before every pending change point, and
//!   sends each row, timed by its update, under that capability.
//! - Output is the same in `final` and `changes` mode: a sliding window
//!   has no end before which a changelog would differ.

use std::collections::{BTreeMap, VecDeque};

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::session::Keyed;
use super::window_end::{route_keys, Computed};
use super::{AggregateLayout, AggregateResult, Folds, HeldCapability, Time};
use crate::expr::aggregate::IntegerFold;
use crate::plan::WindowPlan;
use crate::types::Value;

/// True when every member of `windows` is a sliding window.
pub fn applies(windows: &[(Option<String>, WindowPlan)]) -> bool {
    !windows.is_empty()
        && windows
            .iter()
            .all(|(_, w)| matches!(w, WindowPlan::Sliding { .. }))
}

/// Aggregates `events` (group key values and argument slots, at event
/// time) over each sliding window of `windows` and emits a group's result
/// at each change point where it changes; see the module documentation.
pub fn aggregate_sliding<'scope>(
    events: Stream<'scope, Time, Vec<(Keyed, Time, isize)>>,
    name: &str,
    windows: Vec<(Option<String>, WindowPlan)>,
    layout: AggregateLayout,
) -> Stream<'scope, Time, Vec<Computed>> {
    let route = |update: &(Keyed, Time, isize)| route_keys(&update.0 .0);
    events.unary_frontier(Exchange::new(route), name, move |_initial, _info| {
        let mut state = SlidingState::new(&windows, layout);
        let mut capability = HeldCapability::default();
        let mut computed = Vec::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|stamp, batches| {
                capability.hold_least(stamp.retain_least(output.output_index()));
                for batch in batches {
                    for (event, time, diff) in batch.drain(..) {
                        state.insert(event, time, diff);
                    }
                }
            });
            let Some(held) = capability.get() else {
                return;
            };
            let before = frontier.frontier().first().copied();
            state.advance(before, |row| computed.push(row));
            // Every row of this activation in one message: a row's own time
            // is in its update, at or after the held capability. (A message
            // per instant would send a buffer of full capacity for each.)
            if !computed.is_empty() {
                output.session(held).give_iterator(computed.drain(..));
            }
            capability.advance_to(before);
        }
    })
}

/// One group's window (group key values and window member): its content
/// now, and the result last written.
struct Group {
    keys: Vec<Value>,
    member: u32,
    size: Time,
    /// Running totals of the rows that fold (see [`AggregateLayout::fold`]).
    folds: Folds,
    /// The other rows, with their multiplicities (never zero).
    kept: BTreeMap<Vec<Value>, isize>,
    /// The result at the last change point, `None` while empty.
    last: Option<AggregateResult>,
    /// Entries and exits of this group still to apply.
    pending: usize,
    /// Changed at the instant being applied.
    touched: bool,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.folds.iter().all(IntegerFold::is_empty)
    }
}

/// An event entering (`diff` as given) or leaving (`diff` negated) one
/// group's window.
struct Change {
    group: usize,
    slots: Vec<Value>,
    diff: isize,
}

/// The open groups of one operator instance and their pending changes.
struct SlidingState {
    /// Window size per member.
    sizes: Vec<Time>,
    layout: AggregateLayout,
    /// Groups by key values, then member: an index into `groups`.
    index: HashMap<Vec<Value>, Vec<(u32, usize)>, FixedState>,
    groups: Vec<Option<Group>>,
    free: Vec<usize>,
    /// Entries not yet applied, with the instant each applies at, in
    /// arrival order. Those the frontier has passed are taken out and
    /// sorted by instant (stably) when applied: a map by instant paid a
    /// tree insert and removal per event.
    entries: Vec<(Time, Change)>,
    /// Per member, exits in time order. An exit is its entry's instant
    /// plus the member's size, and entries are applied in time order, so
    /// exits queue up already sorted.
    exits: Vec<VecDeque<(Time, Change)>>,
    /// Groups changed at the instant being applied.
    touched: Vec<usize>,
}

impl SlidingState {
    fn new(windows: &[(Option<String>, WindowPlan)], layout: AggregateLayout) -> Self {
        let sizes: Vec<Time> = windows
            .iter()
            .map(|(_, w)| match w {
                WindowPlan::Sliding { size } => *size,
                _ => 0,
            })
            .collect();
        SlidingState {
            exits: sizes.iter().map(|_| VecDeque::new()).collect(),
            sizes,
            layout,
            index: HashMap::with_hasher(FixedState::default()),
            groups: Vec::new(),
            free: Vec::new(),
            entries: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Schedules an event's entry into each member's window at `time`.
    fn insert(&mut self, (keys, slots): Keyed, time: Time, diff: isize) {
        let last = self.sizes.len().saturating_sub(1);
        let mut slots = Some(slots);
        for member in 0..self.sizes.len() {
            let group = self.group_of(&keys, member as u32);
            let slots = if member == last {
                slots.take().unwrap_or_default()
            } else {
                slots.clone().unwrap_or_default()
            };
            if let Some(Some(g)) = self.groups.get_mut(group) {
                g.pending += 1;
            }
            let change = Change { group, slots, diff };
            self.entries.push((time, change));
        }
    }

    /// The index of the group of `keys` and `member`, made when new.
    fn group_of(&mut self, keys: &[Value], member: u32) -> usize {
        let members = self.index.entry_ref(keys).or_default();
        if let Some(&(_, at)) = members.iter().find(|(m, _)| *m == member) {
            return at;
        }
        let group = Group {
            keys: keys.to_vec(),
            member,
            size: self.sizes.get(member as usize).copied().unwrap_or(0),
            folds: Folds::new(),
            kept: BTreeMap::new(),
            last: None,
            pending: 0,
            touched: false,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.groups[at] = Some(group);
                at
            }
            None => {
                self.groups.push(Some(group));
                self.groups.len() - 1
            }
        };
        members.push((member, at));
        at
    }

    /// Applies every change before `frontier` (all of them when `None`) in
    /// time order, calling `emit` with each changed result.
    fn advance(&mut self, frontier: Option<Time>, mut emit: impl FnMut(Computed)) {
        let mut touched = Vec::new();
        // The entries before the frontier, in time order (arrival order
        // within an instant); the loop below applies every one of them.
        let mut ready: Vec<(Time, Change)> = match frontier {
            Some(f) => self.entries.extract_if(.., |(time, _)| *time < f).collect(),
            None => std::mem::take(&mut self.entries),
        };
        ready.sort_by_key(|(time, _)| *time);
        let mut ready = ready.into_iter().peekable();
        loop {
            let next_entry = ready.peek().map(|(t, _)| *t);
            let next_exit = self
                .exits
                .iter()
                .filter_map(|queue| queue.front().map(|(t, _)| *t))
                .min();
            let Some(at) = next_entry.into_iter().chain(next_exit).min() else {
                break;
            };
            if frontier.is_some_and(|f| at >= f) {
                break;
            }
            while let Some((_, change)) = ready.next_if(|(t, _)| *t == at) {
                self.apply(at, change, true);
            }
            for member in 0..self.exits.len() {
                while self.exits[member].front().is_some_and(|(t, _)| *t == at) {
                    if let Some((_, change)) = self.exits[member].pop_front() {
                        self.apply(at, change, false);
                    }
                }
            }
            std::mem::swap(&mut touched, &mut self.touched);
            for group in touched.drain(..) {
                self.close_instant(at, group, &mut emit);
            }
        }
        // None is left (each is before the frontier), but an entry is
        // never dropped: the next call takes it again.
        self.entries.extend(ready);
    }

    /// Applies one change at `at`; an entry queues its exit.
    fn apply(&mut self, at: Time, change: Change, entry: bool) {
        let Some(Some(group)) = self.groups.get_mut(change.group) else {
            return;
        };
        group.pending -= 1;
        if !group.touched {
            group.touched = true;
            self.touched.push(change.group);
        }
        let folded = self
            .layout
            .fold(&mut group.folds, &change.slots, change.diff);
        let exit_slots = if folded {
            change.slots
        } else if entry {
            add_kept(&mut group.kept, change.slots.clone(), change.diff);
            change.slots
        } else {
            add_kept(&mut group.kept, change.slots, change.diff);
            return;
        };
        if entry {
            group.pending += 1;
            let exit_at = at.saturating_add(group.size);
            let exit = Change {
                group: change.group,
                slots: exit_slots,
                diff: -change.diff,
            };
            if let Some(queue) = self.exits.get_mut(group.member as usize) {
                debug_assert!(queue.back().is_none_or(|(t, _)| *t <= exit_at));
                queue.push_back((exit_at, exit));
            }
        }
    }

    /// Computes a touched group's result at `at`, emits it when it changed,
    /// and drops the group when nothing is left of it.
    fn close_instant(&mut self, at: Time, index: usize, emit: &mut impl FnMut(Computed)) {
        let Some(Some(group)) = self.groups.get_mut(index) else {
            return;
        };
        group.touched = false;
        let result = (!group.is_empty()).then(|| {
            let rows: Vec<(&Vec<Value>, isize)> = group.kept.iter().map(|(s, d)| (s, *d)).collect();
            self.layout.compute_onto(&group.folds, &rows)
        });
        if let Some(current) = &result {
            if group.last.as_ref() != Some(current) {
                let key = (group.keys.clone(), 0, group.member);
                emit(((key, current.clone()), at, 1));
            }
        }
        group.last = result;
        if group.last.is_none() && group.pending == 0 {
            self.drop_group(index);
        }
    }

    fn drop_group(&mut self, index: usize) {
        let Some(group) = self.groups.get_mut(index).and_then(Option::take) else {
            return;
        };
        if let Some(members) = self.index.get_mut(group.keys.as_slice()) {
            members.retain(|&(_, at)| at != index);
            if members.is_empty() {
                self.index.remove(group.keys.as_slice());
            }
        }
        self.free.push(index);
    }

    /// Groups held (with content or pending changes).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.groups.iter().filter(|g| g.is_some()).count()
    }
}

/// Adds `diff` copies of `slots` to a multiset, removing it at zero.
fn add_kept(kept: &mut BTreeMap<Vec<Value>, isize>, slots: Vec<Value>, diff: isize) {
    match kept.entry(slots) {
        std::collections::btree_map::Entry::Occupied(mut held) => {
            *held.get_mut() += diff;
            if *held.get() == 0 {
                held.remove();
            }
        }
        std::collections::btree_map::Entry::Vacant(new) => {
            if diff != 0 {
                new.insert(diff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::aggregate::AggregateKind;

    const S: i64 = 10_000_000;

    fn state(kinds: &[AggregateKind], sizes: &[i64]) -> SlidingState {
        let windows: Vec<(Option<String>, WindowPlan)> = sizes
            .iter()
            .map(|&size| (None, WindowPlan::Sliding { size }))
            .collect();
        SlidingState::new(&windows, AggregateLayout::for_kinds(kinds))
    }

    fn run(state: &mut SlidingState, frontier: Option<Time>) -> Vec<(Time, u32, Vec<Value>)> {
        let mut out = Vec::new();
        state.advance(frontier, |(((_, _, member), result), at, diff)| {
            assert_eq!(diff, 1);
            out.push((at, member, result.expect("no error")));
        });
        out
    }

    fn event(key: i64, v: Value) -> Keyed {
        (vec![Value::Bigint(key)], vec![Value::Null, v])
    }

    #[test]
    fn rows_appear_at_entries_and_exits_when_the_result_changes() {
        let kinds = [AggregateKind::CountStar, AggregateKind::Sum];
        for v in [Value::Bigint(5), Value::Float(5.0)] {
            let mut s = state(&kinds, &[10 * S]);
            s.insert(event(1, v.clone()), S, 1);
            s.insert(event(1, v.clone()), 11 * S, 1);
            s.insert(event(1, v.clone()), 12 * S, 1);
            let rows = run(&mut s, None);
            // :01 enters; :11 replaces it (same result: no row); :12 enters;
            // :21 and :22 exit, the last leaving the window empty.
            let times: Vec<Time> = rows.iter().map(|r| r.0).collect();
            assert_eq!(times, vec![S, 12 * S, 21 * S], "{v:?}");
            assert_eq!(rows[1].2[0], Value::Bigint(2));
            assert_eq!(rows[2].2[0], Value::Bigint(1));
            assert_eq!(
                s.held(),
                0,
                "an empty window with nothing pending is dropped"
            );
        }
    }

    #[test]
    fn only_changes_before_the_frontier_are_applied() {
        let mut s = state(&[AggregateKind::CountStar], &[10 * S]);
        s.insert(event(1, Value::Null), 3 * S, 1);
        s.insert(event(2, Value::Null), 3 * S, 1);
        assert!(run(&mut s, Some(3 * S)).is_empty());
        assert_eq!(run(&mut s, Some(3 * S + 1)).len(), 2);
        // A later event for key 1 arrives before the exits are due.
        s.insert(event(1, Value::Null), 5 * S, 1);
        let rows = run(&mut s, Some(13 * S + 1));
        let counts: Vec<(Time, Value)> = rows.iter().map(|r| (r.0, r.2[0].clone())).collect();
        assert_eq!(
            counts,
            vec![(5 * S, Value::Bigint(2)), (13 * S, Value::Bigint(1))]
        );
        assert_eq!(s.held(), 1, "key 1's window still holds the :05 event");
        run(&mut s, None);
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn a_retraction_at_the_event_time_takes_the_event_back() {
        let mut s = state(&[AggregateKind::Max], &[10 * S]);
        let row = |v| (vec![Value::Bigint(1)], vec![Value::Bigint(v)]);
        s.insert(row(7), S, 1);
        s.insert(row(9), 2 * S, 1);
        s.insert(row(8), 3 * S, 1);
        // A correction: the :02 event is retracted at its own time.
        s.insert(row(9), 2 * S, -1);
        let rows = run(&mut s, None);
        let maxima: Vec<(Time, Value)> = rows.iter().map(|r| (r.0, r.2[0].clone())).collect();
        assert_eq!(
            maxima,
            vec![(S, Value::Bigint(7)), (3 * S, Value::Bigint(8))],
            "the retracted 9 never shows, nor does its exit at :12"
        );
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn each_member_of_several_windows_slides_by_its_own_size() {
        let mut s = state(&[AggregateKind::CountStar], &[5 * S, 10 * S]);
        s.insert(event(1, Value::Null), S, 1);
        let rows: Vec<(Time, u32)> = run(&mut s, None).iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(rows, vec![(S, 0), (S, 1)]);
        assert_eq!(s.held(), 0);
    }
}
