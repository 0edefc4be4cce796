//! Incremental update cost: how long one change takes to reach the output
//! once `N` events are loaded, against recomputing the same results from
//! scratch over all `N` events, in the same process and run.
//!
//! The measurement drives the rendered dataflow directly (one timely worker,
//! in this process), so it times the engine's incremental work without file
//! decoding or output encoding. The query has two outputs, both in
//! `changes` mode (a changelog, where a correction is written at once):
//!
//! ```sql
//! SELECT key, COUNT(*) AS n, SUM(v) AS total INTO Agg
//! FROM Input TIMESTAMP BY ts GROUP BY key, TumblingWindow(second, 10)
//! SELECT i.key AS key, i.v AS v, r.label AS label INTO Joined
//! FROM Input i TIMESTAMP BY ts JOIN Ref r ON i.key = r.key
//! ```
//!
//! `N` events (10,000 keys, 10,000 events per second of event time, in
//! order) are loaded with the watermark held one second behind the newest
//! event, as a one-second out-of-order tolerance holds it. Then, each timed
//! from the change to the moment every output has caught up with the next
//! tick:
//! - **late event**: an event for an existing key, one second older than
//!   the newest event (at the watermark), which corrects that key's open
//!   window;
//! - **retraction**: an already written event of that window retracted (diff
//!   `-1`), correcting the window's row again;
//! - **reference change**: one reference row's label replaced, followed by
//!   an event of its key, which joins with the new label.
//!
//! The recomputation feeds the same events and changes into a fresh
//! dataflow and runs it to the same point. Both runs must end with the same
//! net output (compared as an order-independent digest of every output
//! update), or the benchmark reports a mismatch.

use std::cell::Cell;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::time::Instant;

use differential_dataflow::input::{Input, InputSession};
use foldhash::fast::FixedState;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

use crate::bind::{self, Catalog, InputInfo};
use crate::plan::{EmitMode, Plan};
use crate::render::{render, SourceInput, Time};
use crate::types::{DateTime, Name, Record, Row, Value};

/// The benchmark's query.
pub const QUERY: &str = "\
SELECT key, COUNT(*) AS n, SUM(v) AS total INTO Agg
FROM Input TIMESTAMP BY ts GROUP BY key, TumblingWindow(second, 10)
SELECT i.key AS key, i.v AS v, r.label AS label INTO Joined
FROM Input i TIMESTAMP BY ts JOIN Ref r ON i.key = r.key";

/// Distinct keys (and reference rows).
const KEYS: u64 = 10_000;
/// Ticks between events: 10,000 events per second.
const SPACING: i64 = 1_000;
/// The watermark's distance behind the newest event: one second.
const TOLERANCE: i64 = 10_000_000;
/// Events fed between two waits for the dataflow to catch up.
const CHUNK: u64 = 100_000;

/// At most this many steps of catching up after the load (see
/// [`Driven::idle`]).
const IDLE_STEPS: usize = 100_000;

/// One timed change.
#[derive(Clone, Debug)]
pub struct Update {
    /// What changed.
    pub what: &'static str,
    /// Seconds from the change until every output caught up.
    pub seconds: f64,
    /// Output updates the change caused.
    pub output_updates: u64,
}

/// The result for one size.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Events loaded before the changes.
    pub events: u64,
    /// Seconds to load them (incrementally, with outputs).
    pub load_seconds: f64,
    /// The three changes.
    pub updates: Vec<Update>,
    /// Seconds to compute the same results from scratch.
    pub recompute_seconds: f64,
    /// The incremental and the recomputed outputs agree.
    pub equal: bool,
}

struct BenchCatalog;

impl Catalog for BenchCatalog {
    fn input(&self, name: &str) -> Option<InputInfo> {
        let reference = name.eq_ignore_ascii_case("Ref");
        (reference || name.eq_ignore_ascii_case("Input")).then(|| InputInfo {
            name: if reference { "Ref" } else { "Input" }.to_string(),
            reference,
        })
    }
    fn output(&self, name: &str) -> Option<String> {
        Some(name.to_string())
    }
    fn input_names(&self) -> Vec<String> {
        vec!["Input".to_string(), "Ref".to_string()]
    }
    fn output_names(&self) -> Vec<String> {
        Vec::new()
    }
}

fn plan() -> Result<Plan, String> {
    let script = crate::syntax::parse(QUERY).map_err(|d| format!("{d:?}"))?;
    bind::bind(&script, &BenchCatalog).map_err(|d| format!("{d:?}"))
}

fn base_ticks() -> i64 {
    DateTime::parse("2024-01-01T00:00:00Z").map_or(0, DateTime::ticks)
}

fn event(key: u64, v: i64, time: Time) -> Row {
    let mut row = Record::with_capacity(3);
    row.push_unchecked(Name::from("key"), Value::Bigint(key as i64));
    row.push_unchecked(Name::from("v"), Value::Bigint(v));
    row.push_unchecked(Name::from("ts"), Value::DateTime(DateTime(time)));
    row
}

fn reference_row(key: u64, version: u32) -> Row {
    let mut row = Record::with_capacity(2);
    row.push_unchecked(Name::from("key"), Value::Bigint(key as i64));
    row.push_unchecked(
        Name::from("label"),
        Value::String(format!("k{key}v{version}")),
    );
    row
}

/// The `i`-th loaded event.
fn loaded(i: u64, base: Time) -> (Row, Time) {
    let key = i.wrapping_mul(2_654_435_761) % KEYS;
    let v = (i.wrapping_mul(7919) % 1000) as i64;
    let time = base + i as i64 * SPACING;
    (event(key, v, time), time)
}

/// A change applied at one time: rows into `Input` and `Ref` with diffs.
struct Change {
    what: &'static str,
    time: Time,
    input: Vec<(Row, isize)>,
    reference: Vec<(Row, isize)>,
}

/// The three changes after `events` loaded events, and the watermark they
/// start from.
fn changes(events: u64, base: Time) -> (Time, Vec<Change>) {
    let newest = base + (events.max(1) as i64 - 1) * SPACING;
    let watermark = newest - TOLERANCE;
    // The last event below the watermark: written, and in an open window.
    let last_written = ((watermark - base - 1).max(0) / SPACING) as u64;
    let (written, _) = loaded(last_written, base);
    let key = match written.get("key") {
        Some(Value::Bigint(k)) => *k as u64,
        _ => 0,
    };
    let changes = vec![
        Change {
            what: "late event",
            time: watermark,
            input: vec![(event(key, 500, watermark), 1)],
            reference: Vec::new(),
        },
        Change {
            what: "retraction",
            time: watermark + 1,
            input: vec![(written, -1)],
            reference: Vec::new(),
        },
        Change {
            what: "reference change",
            time: watermark + 2,
            input: vec![(event(key, 7, watermark + 2), 1)],
            reference: vec![(reference_row(key, 0), -1), (reference_row(key, 1), 1)],
        },
    ];
    (watermark, changes)
}

/// Order-independent digests of the outputs' net contents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Net {
    count: i64,
    hash: u64,
}

/// A dataflow being driven: its inputs, probe and output accounting.
struct Driven {
    input: InputSession<Time, Row, isize>,
    reference: InputSession<Time, Row, isize>,
    probe: ProbeHandle<Time>,
    nets: Vec<Rc<Cell<Net>>>,
    updates: Rc<Cell<u64>>,
}

impl Driven {
    fn build(worker: &mut timely::worker::Worker, plan: &Plan) -> Driven {
        let probe = ProbeHandle::new();
        let updates = Rc::new(Cell::new(0u64));
        let nets: Vec<Rc<Cell<Net>>> = plan
            .outputs
            .iter()
            .map(|_| Rc::new(Cell::new(Net::default())))
            .collect();
        let (input, reference) = worker.dataflow::<Time, _, _>(|scope| {
            let (input, stream) = scope.new_collection::<Row, isize>();
            let (reference, table) = scope.new_collection::<Row, isize>();
            let sources = plan
                .sources
                .iter()
                .map(|s| {
                    SourceInput::Rows(if s.reference {
                        table.clone()
                    } else {
                        stream.clone()
                    })
                })
                .collect();
            let modes = vec![EmitMode::Changes; plan.outputs.len()];
            let rendered = render(scope, plan, QUERY, sources, &[], &modes);
            for (rows, net) in rendered.outputs.into_iter().zip(&nets) {
                let net = Rc::clone(net);
                let updates = Rc::clone(&updates);
                rows.inner
                    .inspect(move |(row, _time, diff): &(Row, Time, isize)| {
                        let mut current = net.get();
                        let hash = FixedState::with_seed(7).hash_one(row);
                        current.count += *diff as i64;
                        current.hash = current.hash.wrapping_add(hash.wrapping_mul(*diff as u64));
                        net.set(current);
                        updates.set(updates.get() + 1);
                    })
                    .probe_with(&probe);
            }
            rendered.failures.probe_with(&probe);
            (input, reference)
        });
        Driven {
            input,
            reference,
            probe,
            nets,
            updates,
        }
    }

    /// Advances both inputs to `time` and steps until the outputs caught up.
    fn settle(&mut self, worker: &mut timely::worker::Worker, time: Time) {
        self.input.advance_to(time);
        self.reference.advance_to(time);
        self.input.flush();
        self.reference.flush();
        while self.probe.less_than(&time) {
            worker.step();
        }
    }

    fn load(&mut self, worker: &mut timely::worker::Worker, events: u64, base: Time, until: Time) {
        for key in 0..KEYS {
            self.reference.update_at(reference_row(key, 0), base, 1);
        }
        for i in 0..events {
            let (row, time) = loaded(i, base);
            self.input.update_at(row, time, 1);
            if (i + 1) % CHUNK == 0 {
                self.settle(worker, (time - TOLERANCE).clamp(base, until));
            }
        }
        self.settle(worker, until);
    }

    /// Steps the worker until no operator has work scheduled: the deferred
    /// merging of the arrangements that loading left, which a live job
    /// does while it waits for events (bounded by `limit`, in steps).
    fn idle(&mut self, worker: &mut timely::worker::Worker, limit: usize) {
        for _ in 0..limit {
            let pending = worker.activations().borrow().empty_for();
            if pending != Some(std::time::Duration::ZERO) {
                return;
            }
            worker.step();
        }
    }

    fn apply(&mut self, change: &Change) {
        for (row, diff) in &change.input {
            self.input.update_at(row.clone(), change.time, *diff);
        }
        for (row, diff) in &change.reference {
            self.reference.update_at(row.clone(), change.time, *diff);
        }
    }

    fn nets(&self) -> Vec<Net> {
        self.nets.iter().map(|n| n.get()).collect()
    }
}

/// Measures one size; see the module documentation.
pub fn measure(events: u64) -> Result<Measured, String> {
    let plan = plan()?;
    let config = timely::Config {
        communication: timely::CommunicationConfig::Thread,
        worker: crate::runtime::worker_config(),
    };
    let guards = timely::execute(config, move |worker| {
        let base = base_ticks();
        let (watermark, changes) = changes(events, base);

        let mut driven = Driven::build(worker, &plan);
        let started = Instant::now();
        driven.load(worker, events, base, watermark);
        let load_seconds = started.elapsed().as_secs_f64();
        driven.idle(worker, IDLE_STEPS);
        let mut updates = Vec::new();
        for change in &changes {
            let before = driven.updates.get();
            let started = Instant::now();
            driven.apply(change);
            driven.settle(worker, change.time + 1);
            updates.push(Update {
                what: change.what,
                seconds: started.elapsed().as_secs_f64(),
                output_updates: driven.updates.get() - before,
            });
        }
        let incremental = driven.nets();
        drop(driven);

        let mut fresh = Driven::build(worker, &plan);
        let started = Instant::now();
        for change in &changes {
            fresh.apply(change);
        }
        let end = changes.last().map_or(watermark, |c| c.time + 1);
        fresh.load(worker, events, base, end);
        let recompute_seconds = started.elapsed().as_secs_f64();
        let equal = fresh.nets() == incremental;
        Measured {
            events,
            load_seconds,
            updates,
            recompute_seconds,
            equal,
        }
    })?;
    guards
        .join()
        .pop()
        .ok_or_else(|| "the benchmark's worker gave no result".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_corrects_the_output_and_matches_a_recomputation() {
        let measured = measure(30_000).expect("the benchmark query binds");
        assert!(measured.equal, "{measured:?}");
        let by_name = |what: &str| {
            measured
                .updates
                .iter()
                .find(|u| u.what == what)
                .map_or(0, |u| u.output_updates)
        };
        // The late event shares its tick with the loaded event at the
        // watermark: each gives its window row (retracted and re-inserted,
        // or inserted) and its join row.
        assert_eq!(by_name("late event"), 6, "{measured:?}");
        // The retraction: its window's row retracted and re-inserted, and
        // its join row retracted.
        assert_eq!(by_name("retraction"), 3, "{measured:?}");
        // The reference change: the new event's window row (two updates)
        // and its join row with the new label.
        assert_eq!(by_name("reference change"), 3, "{measured:?}");
    }
}
