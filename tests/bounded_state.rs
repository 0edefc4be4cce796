//! Window state is released as the watermark passes: peak memory over a
//! generated stream ten times longer stays (nearly) the same. Peak resident
//! memory is the `peak memory` line of `eddy run`'s summary (Linux VmHWM).

use std::process::Command;

fn windowed(window: &str) -> String {
    format!(
        "SELECT key, COUNT(*) AS c, SUM(value) AS s, AVG(value) AS a, System.Timestamp() AS t\n\
         INTO Out FROM Events TIMESTAMP BY ts GROUP BY key, {window}"
    )
}

fn peak_mib(dir: &std::path::Path, events: u64, query: &str, keys: u64, rate: u64) -> f64 {
    std::fs::write(dir.join("q.asaql"), query).expect("query");
    std::fs::write(
        dir.join("job.toml"),
        format!(
            "query = \"q.asaql\"\n\
             [event_ordering]\nout_of_order_seconds = 1\n\
             [[inputs]]\nalias = \"Events\"\nkind = \"generate\"\nevents = {events}\nkeys = {keys}\nrate = {rate}\ndisorder_ms = 100\n\
             [[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\n"
        ),
    )
    .expect("job");
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "--job"])
        .arg(dir.join("job.toml"))
        .output()
        .expect("eddy runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak memory: "))
        .unwrap_or_else(|| panic!("a peak memory line in:\n{stderr}"));
    line.trim_end_matches(" MiB").parse().expect("MiB")
}

#[test]
fn peak_memory_does_not_grow_with_stream_length() {
    let dir = tempfile::tempdir().expect("temp dir");
    for window in [
        "TumblingWindow(second, 10)",
        "HoppingWindow(second, 10, 5)",
        "SlidingWindow(second, 5)",
    ] {
        let short = peak_mib(dir.path(), 100_000, &windowed(window), 1000, 10_000);
        let long = peak_mib(dir.path(), 1_000_000, &windowed(window), 1000, 10_000);
        println!("{window}: 100k events {short:.1} MiB, 1M events {long:.1} MiB");
        assert!(
            long < short * 1.5 + 4.0,
            "{window}: peak memory grew from {short:.1} MiB to {long:.1} MiB for 10x the events"
        );
    }
}

#[test]
fn a_temporal_join_holds_only_its_time_bound() {
    // A self-join of the generated stream within 2 seconds: join state is
    // rate x bound, not the stream's length.
    let dir = tempfile::tempdir().expect("temp dir");
    let query = "SELECT a.key, a.value AS v1, b.value AS v2 INTO Out\n\
                 FROM Events a TIMESTAMP BY ts JOIN Events b TIMESTAMP BY ts\n\
                 ON a.key = b.key AND DATEDIFF(second, a, b) BETWEEN 0 AND 2";
    // 1000 events/s: the bound holds about 3,000 events a side, reached
    // well within the shorter run.
    let short = peak_mib(dir.path(), 20_000, query, 2000, 1000);
    let long = peak_mib(dir.path(), 200_000, query, 2000, 1000);
    println!("temporal join: 20k events {short:.1} MiB, 200k events {long:.1} MiB");
    assert!(
        long < short * 1.5 + 4.0,
        "join peak memory grew from {short:.1} MiB to {long:.1} MiB for 10x the events"
    );
}
