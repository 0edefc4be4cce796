//! Windowed aggregation against a plain reference: random keyed streams
//! with disorder, random windows of every kind, random out-of-order
//! tolerance. Eddy (with 1 and with 4 workers) must produce exactly the rows
//! a nested-loop reference computes from the documented semantics.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;

mod common;
use common::{chrono_like, seconds_of};

const BASE: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z in seconds

#[derive(Clone, Debug)]
enum Window {
    Tumbling(i64),
    Hopping(i64, i64),
    Sliding(i64),
    Session(i64, i64),
    Snapshot,
}

impl Window {
    fn sql(&self) -> String {
        match self {
            Window::Tumbling(s) => format!("TumblingWindow(second, {s})"),
            Window::Hopping(s, h) => format!("HoppingWindow(second, {s}, {h})"),
            Window::Sliding(s) => format!("SlidingWindow(second, {s})"),
            Window::Session(t, m) => {
                format!("SessionWindow(second, {t}, {m}) OVER (PARTITION BY k)")
            }
            Window::Snapshot => "System.Timestamp()".to_string(),
        }
    }
}

#[derive(Clone, Debug)]
struct Event {
    k: i64,
    t: i64,
    v: i64,
}

/// One output row: key, window end (seconds), COUNT, SUM, MIN, MAX.
type Out = (i64, i64, i64, i64, i64, i64);

fn aggregate(k: i64, end: i64, events: &[&Event]) -> Out {
    let vs: Vec<i64> = events.iter().map(|e| e.v).collect();
    (
        k,
        end,
        vs.len() as i64,
        vs.iter().sum(),
        *vs.iter().min().expect("non-empty"),
        *vs.iter().max().expect("non-empty"),
    )
}

/// ASA's out-of-order policy with adjust: an event before the watermark
/// (largest time seen minus the tolerance) takes the watermark's time.
///
/// A file read by `parts` workers is `parts` partitions: event `i` belongs to
/// partition `i % parts`, and each partition has its own watermark.
fn admit(events: &[Event], tolerance: i64, parts: usize) -> Vec<Event> {
    let mut max_seen: Vec<Option<i64>> = vec![None; parts];
    let mut watermark = vec![i64::MIN; parts];
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let p = i % parts;
        let t = e.t.max(watermark[p]);
        if max_seen[p].is_none_or(|m| t > m) {
            max_seen[p] = Some(t);
            watermark[p] = watermark[p].max(t - tolerance);
        }
        out.push(Event { t, ..e.clone() });
    }
    out
}

fn reference(events: &[Event], window: &Window) -> Vec<Out> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<i64> = events.iter().map(|e| e.k).collect();
    let (lo, hi) = (
        events.iter().map(|e| e.t).min().unwrap_or(0),
        events.iter().map(|e| e.t).max().unwrap_or(0),
    );
    for &k in &keys {
        let mine: Vec<&Event> = events.iter().filter(|e| e.k == k).collect();
        match window {
            Window::Tumbling(size) | Window::Hopping(size, _) => {
                let hop = match window {
                    Window::Hopping(_, h) => *h,
                    _ => *size,
                };
                let mut end = lo.div_euclid(hop) * hop;
                while end < hi + size + hop {
                    let inside: Vec<&Event> = mine
                        .iter()
                        .copied()
                        .filter(|e| end - size < e.t && e.t <= end)
                        .collect();
                    if !inside.is_empty() {
                        out.push(aggregate(k, end, &inside));
                    }
                    end += hop;
                }
            }
            Window::Snapshot => {
                let times: std::collections::BTreeSet<i64> = mine.iter().map(|e| e.t).collect();
                for t in times {
                    let inside: Vec<&Event> = mine.iter().copied().filter(|e| e.t == t).collect();
                    out.push(aggregate(k, t, &inside));
                }
            }
            Window::Sliding(size) => {
                // Change points: every entry and exit. Eddy writes a row when
                // the window's result changes (docs/semantics.md).
                let mut points: Vec<i64> = mine.iter().flat_map(|e| [e.t, e.t + size]).collect();
                points.sort();
                points.dedup();
                let mut previous: Option<Out> = None;
                for p in points {
                    let inside: Vec<&Event> = mine
                        .iter()
                        .copied()
                        .filter(|e| p - size < e.t && e.t <= p)
                        .collect();
                    let current = (!inside.is_empty()).then(|| aggregate(k, p, &inside));
                    if let Some(row) = current {
                        let same = previous
                            .is_some_and(|q| (q.2, q.3, q.4, q.5) == (row.2, row.3, row.4, row.5));
                        if !same {
                            out.push(row);
                        }
                    }
                    previous = current;
                }
            }
            Window::Session(timeout, max) => {
                let mut sorted = mine.clone();
                sorted.sort_by_key(|e| e.t);
                let mut session: Vec<&Event> = Vec::new();
                let end_of = |s: &[&Event]| {
                    let first = s[0].t;
                    let last = s.iter().map(|e| e.t).max().expect("non-empty");
                    let cut = {
                        let earliest = first + max;
                        earliest + (max - earliest.rem_euclid(*max)) % max
                    };
                    (last + timeout).min(cut)
                };
                for e in sorted {
                    if !session.is_empty() && e.t > end_of(&session) {
                        out.push(aggregate(k, end_of(&session), &session));
                        session.clear();
                    }
                    session.push(e);
                }
                if !session.is_empty() {
                    out.push(aggregate(k, end_of(&session), &session));
                }
            }
        }
    }
    out.sort();
    out
}

fn run_eddy(
    dir: &Path,
    events: &[Event],
    window: &Window,
    tolerance: i64,
    workers: usize,
    emit: &str,
    counts_and_sums_only: bool,
) -> Vec<Out> {
    let mut input = String::new();
    for e in events {
        input.push_str(&format!(
            "{{\"k\": {}, \"v\": {}, \"ts\": \"{}\"}}\n",
            e.k,
            e.v,
            chrono_like(BASE + e.t)
        ));
    }
    std::fs::write(dir.join("in.jsonl"), input).expect("write input");
    std::fs::write(
        dir.join("q.asaql"),
        format!(
            "SELECT k, COUNT(*) AS c, SUM(v) AS s, {} System.Timestamp() AS t\n\
             INTO Out FROM Events TIMESTAMP BY ts GROUP BY k, {}",
            if counts_and_sums_only {
                ""
            } else {
                "MIN(v) AS mn, MAX(v) AS mx,"
            },
            window.sql()
        ),
    )
    .expect("write query");
    std::fs::write(
        dir.join("job.toml"),
        format!(
            "query = \"q.asaql\"\nerrors = \"errors.jsonl\"\n[event_ordering]\nout_of_order_seconds = {tolerance}\n\
             [[inputs]]\nalias = \"Events\"\npath = \"in.jsonl\"\n[[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\nemit = \"{emit}\"\n"
        ),
    )
    .expect("write job");
    let status = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "-w", &workers.to_string(), "--job"])
        .arg(dir.join("job.toml"))
        .output()
        .expect("eddy runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let text = std::fs::read_to_string(dir.join("out.jsonl")).expect("output");
    // A changelog consolidates to the final rows: add up each row's diffs.
    let mut net: BTreeMap<Out, i64> = BTreeMap::new();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        let t = r["t"].as_str().expect("t");
        let row = (
            r["k"].as_i64().expect("k"),
            seconds_of(t) - BASE,
            r["c"].as_i64().expect("c"),
            r["s"].as_i64().expect("s"),
            r["mn"].as_i64().unwrap_or(0),
            r["mx"].as_i64().unwrap_or(0),
        );
        *net.entry(row).or_default() += r["diff"].as_i64().unwrap_or(1);
    }
    let mut rows = Vec::new();
    for (row, n) in net {
        assert!(
            n >= 0,
            "a changelog never retracts more than it inserted: {row:?}"
        );
        rows.extend(std::iter::repeat_n(row, n as usize));
    }
    rows
}

fn window_strategy() -> impl Strategy<Value = Window> {
    prop_oneof![
        (1i64..20).prop_map(Window::Tumbling),
        (1i64..6, 1i64..4).prop_map(|(h, m)| Window::Hopping(h * m, h)),
        (1i64..20).prop_map(Window::Sliding),
        (1i64..15, 2i64..6).prop_map(|(t, m)| Window::Session(t, t * m)),
        Just(Window::Snapshot),
    ]
}

fn events_strategy() -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec((0i64..4, 0i64..120, -5i64..50), 1..60).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            // Mostly increasing times with bounded disorder.
            .map(|(i, (k, jitter, v))| Event {
                k,
                t: (i as i64) * 2 + jitter % 15,
                v,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn windows_match_the_reference(
        events in events_strategy(),
        window in window_strategy(),
        tolerance in prop_oneof![Just(0i64), Just(5i64), Just(1000i64)],
        counts_and_sums_only in proptest::bool::ANY,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        // Window grids are aligned to the Unix epoch: compute in absolute seconds.
        let absolute: Vec<Event> = events.iter().map(|e| Event { t: e.t + BASE, ..e.clone() }).collect();
        for (workers, emit) in [(1, "final"), (4, "final"), (2, "changes")] {
            let admitted = admit(&absolute, tolerance, workers);
            let mut expected: Vec<Out> = reference(&admitted, &window)
                .into_iter()
                // Without MIN and MAX (aggregates that can all be folded as
                // events arrive), the row has no mn and mx.
                .map(|(k, end, c, s, mn, mx)| match counts_and_sums_only {
                    false => (k, end - BASE, c, s, mn, mx),
                    true => (k, end - BASE, c, s, 0, 0),
                })
                .collect();
            expected.sort();
            let actual = run_eddy(dir.path(), &events, &window, tolerance, workers, emit, counts_and_sums_only);
            prop_assert_eq!(&actual, &expected, "window {:?}, tolerance {}, -w {}, emit {}, counts and sums only {}", window, tolerance, workers, emit, counts_and_sums_only);
        }
    }
}

#[test]
fn the_reference_itself_follows_the_documented_examples() {
    // wf-sliding-having: events at :10, :12, :15, :15, :27 in a 10 s sliding
    // window give counts 4 at :15 and 3 at :20.
    let events: Vec<Event> = [10, 12, 15, 15, 27]
        .iter()
        .map(|&t| Event { k: 0, t, v: 1 })
        .collect();
    let rows = reference(&events, &Window::Sliding(10));
    let counts: BTreeMap<i64, i64> = rows.iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(counts.get(&15), Some(&4));
    assert_eq!(counts.get(&20), Some(&3));
    assert_eq!(chrono_like(BASE), "2024-01-01T00:00:00Z");
    assert_eq!(
        seconds_of("2024-03-01T01:02:03.0000000Z"),
        BASE + 60 * 86_400 + 3723
    );
}
