//! Event time and the event-ordering policies, as pure functions.
//!
//! Each input partition keeps a [`Watermark`]: the largest event time seen
//! minus the out-of-order tolerance (ASA-SEMANTICS.md §3). An event earlier
//! than the watermark is out of order: it is adjusted to the watermark or
//! dropped. An event whose time is more than the late-arrival tolerance
//! before its arrival time is late: adjusted to arrival − tolerance or
//! dropped; the late policy is applied first, as in ASA. The watermark
//! never moves backwards, so the dataflow can close everything before it.
//!
//! # Contract
//! - `admit` returns a time `>=` the watermark before the call.
//! - The watermark after `admit` is `<=` every time admitted later.

use crate::config::{EventOrdering, OrderingAction};
use crate::types::{DateTime, TICKS_PER_SECOND};

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// In order: keeps its time.
    Accepted(DateTime),
    /// Outside a tolerance: moved to this time (System.Timestamp() shows it).
    Adjusted(DateTime),
    /// Outside the out-of-order tolerance with the drop action.
    DroppedOutOfOrder,
    /// Outside the late-arrival tolerance with the drop action.
    DroppedLate,
}

/// The watermark of one input partition.
#[derive(Clone, Debug)]
pub struct Watermark {
    policy: EventOrdering,
    max_event: Option<DateTime>,
    current: DateTime,
    late: u64,
    out_of_order: u64,
}

impl Watermark {
    /// A partition that has seen nothing yet.
    pub fn new(policy: EventOrdering) -> Self {
        Watermark {
            policy,
            max_event: None,
            current: DateTime(i64::MIN),
            late: 0,
            out_of_order: 0,
        }
    }

    /// Events found late (before arrival − late tolerance) and out of order
    /// beyond the tolerance so far, whatever the action did with them.
    pub fn counts(&self) -> (u64, u64) {
        (self.late, self.out_of_order)
    }

    /// The current watermark: no later event gets an earlier time.
    pub fn current(&self) -> DateTime {
        self.current
    }

    /// Moves the watermark of a live partition with the wall clock: every
    /// later event arrives at or after `now`, so with a late-arrival
    /// tolerance its time will be at least `now − tolerance` (§3). An idle
    /// partition thus holds results back by at most the tolerance. Without
    /// a tolerance (-1, wait indefinitely) the watermark only follows events.
    pub fn advance_idle(&mut self, now: DateTime) {
        if let Some(late_seconds) = self.policy.late_arrival_seconds {
            let bound = now
                .0
                .saturating_sub(late_seconds.saturating_mul(TICKS_PER_SECOND));
            if bound > self.current.0 {
                self.current = DateTime(bound);
            }
        }
    }

    /// Applies the policies to an event with `event_time`; `arrival` is its
    /// arrival time when known (a broker timestamp, or a configured field),
    /// `None` for file inputs read at one instant.
    ///
    /// With arrival times, ASA's event-ordering rule applies (as its
    /// event-ordering page tabulates): an event earlier than the latest
    /// event time seen is out of order, and beyond the tolerance when it is
    /// also earlier than arrival − tolerance; it is then adjusted to
    /// arrival − tolerance (or dropped). Without arrival times the bound is
    /// the latest event time − tolerance.
    pub fn admit(&mut self, event_time: DateTime, arrival: Option<DateTime>) -> Admission {
        let action = self.policy.out_of_order_action;
        let tolerance = self
            .policy
            .out_of_order_seconds
            .saturating_mul(TICKS_PER_SECOND);
        let mut time = event_time;
        let mut adjusted = false;
        if let (Some(arrival), Some(late_seconds)) = (arrival, self.policy.late_arrival_seconds) {
            let bound = DateTime(
                arrival
                    .0
                    .saturating_sub(late_seconds.saturating_mul(TICKS_PER_SECOND)),
            );
            if time < bound {
                self.late += 1;
                match action {
                    OrderingAction::Adjust => {
                        time = bound;
                        adjusted = true;
                    }
                    OrderingAction::Drop => return Admission::DroppedLate,
                }
            }
        }
        let out_of_order = self.max_event.is_some_and(|max| time < max);
        if out_of_order {
            let bound = match arrival {
                Some(arrival) => DateTime(arrival.0.saturating_sub(tolerance)),
                None => self.current,
            };
            if time < bound {
                self.out_of_order += 1;
                match action {
                    OrderingAction::Adjust => {
                        time = bound;
                        adjusted = true;
                    }
                    OrderingAction::Drop => return Admission::DroppedOutOfOrder,
                }
            }
        }
        // Never below what the dataflow has already closed.
        if time < self.current {
            if !adjusted {
                self.out_of_order += 1;
            }
            match action {
                OrderingAction::Adjust => {
                    time = self.current;
                    adjusted = true;
                }
                OrderingAction::Drop => return Admission::DroppedOutOfOrder,
            }
        }
        if self.max_event.is_none_or(|m| time > m) {
            self.max_event = Some(time);
        }
        let max_event = self.max_event.unwrap_or(time);
        let candidate = match arrival {
            // Later events are either in order (>= the latest event time) or
            // moved to at least their arrival − tolerance (>= this one's).
            Some(arrival) => max_event.min(DateTime(arrival.0.saturating_sub(tolerance))),
            None => DateTime(max_event.0.saturating_sub(tolerance)),
        };
        if candidate > self.current {
            self.current = candidate;
        }
        if adjusted {
            Admission::Adjusted(time)
        } else {
            Admission::Accepted(time)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> DateTime {
        DateTime(s * TICKS_PER_SECOND)
    }

    fn policy(ooo: i64, action: OrderingAction) -> EventOrdering {
        EventOrdering {
            late_arrival_seconds: Some(5),
            out_of_order_seconds: ooo,
            out_of_order_action: action,
        }
    }

    #[test]
    fn out_of_order_events_are_adjusted_to_the_watermark() {
        let mut w = Watermark::new(policy(0, OrderingAction::Adjust));
        assert_eq!(w.admit(secs(10), None), Admission::Accepted(secs(10)));
        assert_eq!(w.admit(secs(8), None), Admission::Adjusted(secs(10)));
        assert_eq!(w.current(), secs(10));
    }

    #[test]
    fn tolerance_reorders_within_the_window() {
        let mut w = Watermark::new(policy(3, OrderingAction::Drop));
        assert_eq!(w.admit(secs(10), None), Admission::Accepted(secs(10)));
        assert_eq!(w.admit(secs(8), None), Admission::Accepted(secs(8)));
        assert_eq!(w.current(), secs(7));
        assert_eq!(w.admit(secs(6), None), Admission::DroppedOutOfOrder);
    }

    /// The event-ordering page's table (case eo-late-and-out-of-order-adjust):
    /// late tolerance 15 s, out-of-order tolerance 8 s, adjust.
    #[test]
    fn documented_event_ordering_table() {
        let mut w = Watermark::new(EventOrdering {
            late_arrival_seconds: Some(15),
            out_of_order_seconds: 8,
            out_of_order_action: OrderingAction::Adjust,
        });
        let m = |s: i64| secs(600 + s);
        // Event 1 is late (00 < 40 - 15): adjusted to arrival - 15 s.
        assert_eq!(w.admit(m(0), Some(m(40))), Admission::Adjusted(m(25)));
        assert_eq!(w.admit(m(30), Some(m(41))), Admission::Accepted(m(30)));
        assert_eq!(w.admit(m(42), Some(m(42))), Admission::Accepted(m(42)));
        // Event 4 is out of order but inside the tolerance: kept, reordered.
        assert_eq!(w.admit(m(38), Some(m(43))), Admission::Accepted(m(38)));
        // Event 5 is beyond it (35 < 45 - 8): adjusted to arrival - 8 s.
        assert_eq!(w.admit(m(35), Some(m(45))), Admission::Adjusted(m(37)));
        assert_eq!(w.counts(), (1, 1), "one late event, one out of order");
    }

    #[test]
    fn late_events_are_adjusted_against_arrival_first() {
        let mut w = Watermark::new(policy(0, OrderingAction::Adjust));
        assert_eq!(
            w.admit(secs(100), Some(secs(120))),
            Admission::Adjusted(secs(115))
        );
        let mut d = Watermark::new(policy(0, OrderingAction::Drop));
        assert_eq!(d.admit(secs(100), Some(secs(120))), Admission::DroppedLate);
    }

    #[test]
    fn an_idle_partition_follows_the_clock_minus_the_late_tolerance() {
        let policy = EventOrdering {
            late_arrival_seconds: Some(5),
            out_of_order_seconds: 0,
            out_of_order_action: OrderingAction::Adjust,
        };
        let mut w = Watermark::new(policy);
        w.advance_idle(DateTime(100 * TICKS_PER_SECOND));
        assert_eq!(w.current(), DateTime(95 * TICKS_PER_SECOND));
        // Never backwards.
        w.advance_idle(DateTime(50 * TICKS_PER_SECOND));
        assert_eq!(w.current(), DateTime(95 * TICKS_PER_SECOND));
        // An event arriving later but stamped before the watermark is adjusted to it.
        assert_eq!(
            w.admit(
                DateTime(10 * TICKS_PER_SECOND),
                Some(DateTime(100 * TICKS_PER_SECOND))
            ),
            Admission::Adjusted(DateTime(95 * TICKS_PER_SECOND))
        );
        // Waiting indefinitely: only events move it.
        let mut forever = Watermark::new(EventOrdering {
            late_arrival_seconds: None,
            ..policy
        });
        forever.advance_idle(DateTime(100 * TICKS_PER_SECOND));
        assert_eq!(forever.current(), DateTime(i64::MIN));
    }
}
