//! The hand-written baseline of `eddy bench`: one pass over JSON lines
//! `{"key":..,"v":..,"ts":".."}`, a hash map per (window, key), rows written
//! when the watermark closes a window.
//!
//! It computes `COUNT(*)`, `SUM(v)`, `AVG(v)` and the window's time per key
//! for tumbling, hopping and sliding windows with Eddy's semantics
//! (docs/semantics.md, "Windows" and "Time"): windows are `(end − size,
//! end]` on the epoch grid; a sliding window writes a row at an event's entry
//! or exit time `T` when the window is not empty and its aggregates differ
//! from those just before `T`. An event earlier than the latest event time
//! minus the out-of-order tolerance is adjusted to that bound, and the
//! watermark is the latest event time minus the tolerance. It is run as a
//! child process (`eddy bench-baseline`) so its peak memory is its own.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::types::{DateTime, TICKS_PER_SECOND};

/// The window shapes the benchmark measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WindowKind {
    /// `TumblingWindow(second, 10)`.
    Tumbling,
    /// `HoppingWindow(second, 10, 5)`.
    Hopping,
    /// `SlidingWindow(second, 10)`.
    Sliding,
}

impl WindowKind {
    /// Every kind, in the order the benchmark reports them.
    pub const ALL: [WindowKind; 3] = [
        WindowKind::Tumbling,
        WindowKind::Hopping,
        WindowKind::Sliding,
    ];

    /// The lower-case name used in file names, flags and the table.
    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Tumbling => "tumbling",
            WindowKind::Hopping => "hopping",
            WindowKind::Sliding => "sliding",
        }
    }

    /// The `GROUP BY` window of the benchmark query.
    pub fn window_sql(self) -> &'static str {
        match self {
            WindowKind::Tumbling => "TumblingWindow(second, 10)",
            WindowKind::Hopping => "HoppingWindow(second, 10, 5)",
            WindowKind::Sliding => "SlidingWindow(second, 10)",
        }
    }
}

/// Window size of every benchmark window (10 s), in ticks.
const SIZE: i64 = 10 * TICKS_PER_SECOND;
/// Hop of the hopping window (5 s), in ticks.
const HOP: i64 = 5 * TICKS_PER_SECOND;

/// `eddy bench-baseline`: the arguments of one baseline run.
#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// Which window.
    #[arg(long, value_enum)]
    pub window: WindowKind,
    /// JSON lines input.
    #[arg(long)]
    pub input: PathBuf,
    /// JSON lines output.
    #[arg(long)]
    pub output: PathBuf,
    /// Out-of-order tolerance in seconds (the jobs use 1).
    #[arg(long, default_value_t = 1)]
    pub out_of_order_seconds: u32,
}

/// One input event.
#[derive(Deserialize)]
struct Event<'a> {
    key: i64,
    v: i64,
    #[serde(borrow)]
    ts: Cow<'a, str>,
}

/// Runs the baseline and prints a summary like `eddy run`'s (`elapsed:`,
/// `peak memory:`) on standard error; exit status 2 on failure.
pub fn cmd_baseline(args: BaselineArgs) -> ExitCode {
    let started = Instant::now();
    match run(&args) {
        Ok(rows) => {
            eprintln!("output Out: {rows} rows");
            eprintln!("elapsed: {:.3}s", started.elapsed().as_secs_f64());
            if let Some(bytes) = crate::runtime::peak_rss_bytes() {
                eprintln!("peak memory: {:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &BaselineArgs) -> Result<u64, String> {
    let input = File::open(&args.input)
        .map_err(|e| format!("cannot open {}: {e}", args.input.display()))?;
    let output = File::create(&args.output)
        .map_err(|e| format!("cannot create {}: {e}", args.output.display()))?;
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 20, output),
        path: args.output.clone(),
        rows: 0,
    };
    let tolerance = i64::from(args.out_of_order_seconds) * TICKS_PER_SECOND;
    let mut state = State::new(args.window);
    let mut max_seen = i64::MIN;
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("cannot read {}: {e}", args.input.display()))?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{number}: {e}", args.input.display()))?;
        let Some(t) = DateTime::parse(&event.ts) else {
            return Err(format!(
                "{}:{number}: ts {:?} is not a datetime",
                args.input.display(),
                event.ts
            ));
        };
        let mut t = t.ticks();
        if max_seen != i64::MIN && t < max_seen - tolerance {
            t = max_seen - tolerance;
        }
        max_seen = max_seen.max(t);
        state.add(event.key, event.v, t)?;
        state.close_before(max_seen - tolerance, &mut sink)?;
    }
    state.close_before(i64::MAX, &mut sink)?;
    sink.out
        .flush()
        .map_err(|e| format!("cannot write {}: {e}", sink.path.display()))?;
    Ok(sink.rows)
}

/// Where rows go.
struct Sink {
    out: BufWriter<File>,
    path: PathBuf,
    rows: u64,
}

impl Sink {
    /// Writes `{"key","n","total","mean","t"}` as Eddy writes the query's rows.
    fn row(&mut self, key: i64, count: u64, sum: i64, time: i64) -> Result<(), String> {
        let mean = serde_json::Value::from(sum as f64 / count as f64);
        writeln!(
            self.out,
            "{{\"key\":{key},\"n\":{count},\"total\":{sum},\"mean\":{mean},\"t\":\"{}\"}}",
            DateTime(time).to_iso()
        )
        .map_err(|e| write_error(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }
}

fn write_error(path: &Path, e: std::io::Error) -> String {
    format!("cannot write {}: {e}", path.display())
}

/// The smallest multiple of `step` at or after `t`.
fn ceil_to(t: i64, step: i64) -> i64 {
    -((-t).div_euclid(step)) * step
}

/// Per-window state.
enum State {
    /// Tumbling and hopping: (count, sum) per key, per window end.
    Grid {
        hop: i64,
        open: BTreeMap<i64, HashMap<i64, (u64, i64)>>,
    },
    /// Sliding: the events in each key's window, and the instants still to evaluate.
    Sliding {
        keys: HashMap<i64, SlidingKey>,
        instants: BTreeSet<(i64, i64)>,
    },
}

/// One key of a sliding window.
#[derive(Default)]
struct SlidingKey {
    /// Events not yet entered (their time not yet evaluated).
    pending: Vec<(i64, i64)>,
    /// Events in the window, in time order.
    window: VecDeque<(i64, i64)>,
    count: u64,
    sum: i64,
}

impl State {
    fn new(kind: WindowKind) -> State {
        match kind {
            WindowKind::Tumbling => State::Grid {
                hop: SIZE,
                open: BTreeMap::new(),
            },
            WindowKind::Hopping => State::Grid {
                hop: HOP,
                open: BTreeMap::new(),
            },
            WindowKind::Sliding => State::Sliding {
                keys: HashMap::new(),
                instants: BTreeSet::new(),
            },
        }
    }

    fn add(&mut self, key: i64, v: i64, t: i64) -> Result<(), String> {
        match self {
            State::Grid { hop, open } => {
                let mut end = ceil_to(t, *hop);
                while end - SIZE < t {
                    let slot = open.entry(end).or_default().entry(key).or_default();
                    slot.0 += 1;
                    slot.1 = slot.1.checked_add(v).ok_or("SUM(v) overflows")?;
                    end += *hop;
                }
            }
            State::Sliding { keys, instants } => {
                keys.entry(key).or_default().pending.push((t, v));
                instants.insert((t, key));
                instants.insert((t + SIZE, key));
            }
        }
        Ok(())
    }

    /// Writes every result at a time before `watermark` (no later event can change it).
    fn close_before(&mut self, watermark: i64, sink: &mut Sink) -> Result<(), String> {
        match self {
            State::Grid { open, .. } => {
                while let Some(entry) = open.first_entry() {
                    if *entry.key() >= watermark {
                        break;
                    }
                    let (end, groups) = entry.remove_entry();
                    let mut groups: Vec<_> = groups.into_iter().collect();
                    groups.sort_unstable_by_key(|(key, _)| *key);
                    for (key, (count, sum)) in groups {
                        sink.row(key, count, sum, end)?;
                    }
                }
            }
            State::Sliding { keys, instants } => {
                while let Some(&(at, key)) = instants.first() {
                    if at >= watermark {
                        break;
                    }
                    instants.pop_first();
                    let Some(state) = keys.get_mut(&key) else {
                        continue;
                    };
                    let before = (state.count, state.sum);
                    let mut i = 0;
                    while i < state.pending.len() {
                        if state.pending[i].0 == at {
                            let (t, v) = state.pending.swap_remove(i);
                            state.window.push_back((t, v));
                            state.count += 1;
                            state.sum = state.sum.checked_add(v).ok_or("SUM(v) overflows")?;
                        } else {
                            i += 1;
                        }
                    }
                    while let Some(&(t, v)) = state.window.front() {
                        if t > at - SIZE {
                            break;
                        }
                        state.window.pop_front();
                        state.count -= 1;
                        state.sum -= v;
                    }
                    if state.count > 0 && (state.count, state.sum) != before {
                        sink.row(key, state.count, state.sum, at)?;
                    }
                    if state.count == 0 && state.pending.is_empty() {
                        keys.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_on_the_grid_and_hold_their_end() {
        assert_eq!(ceil_to(0, HOP), 0);
        assert_eq!(ceil_to(1, HOP), HOP);
        assert_eq!(ceil_to(HOP, HOP), HOP);
        assert_eq!(ceil_to(-1, HOP), 0);
        assert_eq!(ceil_to(-HOP - 1, HOP), -HOP);
    }

    /// Runs `events` (key, v, seconds) in order and returns (key, n, total, seconds) rows.
    fn rows(kind: WindowKind, events: &[(i64, i64, i64)]) -> Vec<(i64, u64, i64, i64)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.jsonl");
        let mut sink = Sink {
            out: BufWriter::new(File::create(&path).expect("create")),
            path: path.clone(),
            rows: 0,
        };
        let mut state = State::new(kind);
        for &(key, v, secs) in events {
            state.add(key, v, secs * TICKS_PER_SECOND).expect("add");
        }
        state.close_before(i64::MAX, &mut sink).expect("close");
        sink.out.flush().expect("flush");
        std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(|l| {
                let row: serde_json::Value = serde_json::from_str(l).expect("json");
                let t = DateTime::parse(row["t"].as_str().expect("t")).expect("time");
                (
                    row["key"].as_i64().expect("key"),
                    row["n"].as_u64().expect("n"),
                    row["total"].as_i64().expect("total"),
                    t.ticks() / TICKS_PER_SECOND,
                )
            })
            .collect()
    }

    #[test]
    fn tumbling_and_hopping_windows_hold_their_end() {
        let events = [(1, 2, 10), (1, 3, 11), (2, 4, 12)];
        assert_eq!(
            rows(WindowKind::Tumbling, &events),
            vec![(1, 1, 2, 10), (1, 1, 3, 20), (2, 1, 4, 20)]
        );
        assert_eq!(
            rows(WindowKind::Hopping, &events),
            vec![
                (1, 1, 2, 10),
                (1, 2, 5, 15),
                (2, 1, 4, 15),
                (1, 1, 3, 20),
                (2, 1, 4, 20)
            ]
        );
    }

    #[test]
    fn sliding_windows_write_a_row_only_when_the_aggregates_change() {
        // Entry at 1 and 3, exits at 11 (a change) and 13 (empty: no row).
        assert_eq!(
            rows(WindowKind::Sliding, &[(1, 1, 1), (1, 2, 3)]),
            vec![(1, 1, 1, 1), (1, 2, 3, 3), (1, 1, 2, 11)]
        );
        // An exit and an entry at 11 that leave the aggregates unchanged write nothing.
        assert_eq!(
            rows(WindowKind::Sliding, &[(1, 5, 1), (1, 5, 11)]),
            vec![(1, 1, 5, 1)]
        );
    }
}
