//! Stream-stream joins against a nested-loop reference: random keyed pairs
//! of streams with disorder, random DATEDIFF bounds, INNER and LEFT, with 1
//! and 4 workers. A pair (a, b) matches when the keys are equal and
//! `lo <= tb - ta <= hi` (DATEDIFF in seconds over whole-second times); it is
//! stamped `max(ta, tb)`. An unmatched left event is stamped `ta + hi`.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;

mod common;
use common::{chrono_like, seconds_of};

const BASE: i64 = 1_704_067_200;

#[derive(Clone, Debug)]
struct Event {
    id: i64,
    k: i64,
    t: i64,
}

/// (key, left id, right id or -1, output time)
type Out = (i64, i64, i64, i64);

/// The out-of-order policy with adjust, per input partition: a file read by
/// `parts` workers is `parts` partitions (event `i` in partition `i % parts`),
/// each with its own watermark.
fn admit(events: &[Event], tolerance: i64, parts: usize) -> Vec<Event> {
    let mut max_seen: Vec<Option<i64>> = vec![None; parts];
    let mut watermark = vec![i64::MIN; parts];
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let p = i % parts;
            let t = e.t.max(watermark[p]);
            if max_seen[p].is_none_or(|m| t > m) {
                max_seen[p] = Some(t);
                watermark[p] = watermark[p].max(t - tolerance);
            }
            Event { t, ..e.clone() }
        })
        .collect()
}

fn reference(a: &[Event], b: &[Event], lo: i64, hi: i64, left: bool) -> Vec<Out> {
    let mut out = Vec::new();
    for x in a {
        let mut matched = false;
        for y in b {
            if x.k == y.k && lo <= y.t - x.t && y.t - x.t <= hi {
                matched = true;
                out.push((x.k, x.id, y.id, x.t.max(y.t)));
            }
        }
        if left && !matched {
            out.push((x.k, x.id, -1, x.t + hi.max(0)));
        }
    }
    out.sort();
    out
}

fn write_events(path: &Path, events: &[Event]) {
    let text: String = events
        .iter()
        .map(|e| {
            format!(
                "{{\"id\": {}, \"k\": {}, \"ts\": \"{}\"}}\n",
                e.id,
                e.k,
                chrono_like(BASE + e.t)
            )
        })
        .collect();
    std::fs::write(path, text).expect("write events");
}

#[allow(clippy::too_many_arguments)]
fn run_eddy(
    dir: &Path,
    a: &[Event],
    b: &[Event],
    lo: i64,
    hi: i64,
    left: bool,
    tolerance: i64,
    workers: usize,
) -> Vec<Out> {
    write_events(&dir.join("a.jsonl"), a);
    write_events(&dir.join("b.jsonl"), b);
    let join = if left { "LEFT JOIN" } else { "JOIN" };
    std::fs::write(
        dir.join("q.asaql"),
        format!(
            "SELECT x.k AS k, x.id AS aid, y.id AS bid, System.Timestamp() AS t INTO Out\n\
             FROM A x TIMESTAMP BY ts {join} B y TIMESTAMP BY ts\n\
             ON x.k = y.k AND DATEDIFF(second, x, y) BETWEEN {lo} AND {hi}"
        ),
    )
    .expect("query");
    std::fs::write(
        dir.join("job.toml"),
        format!(
            "query = \"q.asaql\"\nerrors = \"errors.jsonl\"\n[event_ordering]\nout_of_order_seconds = {tolerance}\n\
             [[inputs]]\nalias = \"A\"\npath = \"a.jsonl\"\n[[inputs]]\nalias = \"B\"\npath = \"b.jsonl\"\n\
             [[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\n"
        ),
    )
    .expect("job");
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
    let mut rows: Vec<Out> = std::fs::read_to_string(dir.join("out.jsonl"))
        .expect("output")
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).expect("json");
            (
                r["k"].as_i64().expect("k"),
                r["aid"].as_i64().expect("aid"),
                r["bid"].as_i64().unwrap_or(-1),
                seconds_of(r["t"].as_str().expect("t")) - BASE,
            )
        })
        .collect();
    rows.sort();
    rows
}

fn stream(first_id: i64) -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec((0i64..3, 0i64..12), 0..25).prop_map(move |raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (k, jitter))| Event {
                id: first_id + i as i64,
                k,
                t: 1000 + (i as i64) * 3 + jitter - 6,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn joins_match_the_nested_loop_reference(
        a in stream(0),
        b in stream(1000),
        lo in -10i64..10,
        width in 0i64..15,
        left in any::<bool>(),
        tolerance in prop_oneof![Just(0i64), Just(1000i64)],
    ) {
        let hi = lo + width;
        let dir = tempfile::tempdir().expect("temp dir");
        for workers in [1, 4] {
            let expected = reference(&admit(&a, tolerance, workers), &admit(&b, tolerance, workers), lo, hi, left);
            let actual = run_eddy(dir.path(), &a, &b, lo, hi, left, tolerance, workers);
            prop_assert_eq!(&actual, &expected, "lo {}, hi {}, left {}, tolerance {}, -w {}", lo, hi, left, tolerance, workers);
        }
    }
}
