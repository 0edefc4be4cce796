//! `emit = "changes"`: results as soon as the watermark passes each event,
//! and a late event inside the out-of-order tolerance corrects only its own
//! window and key, as a retraction/insertion pair. The job reads standard
//! input live, so the test can feed a second batch after seeing the first
//! batch's results.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn at(seconds: u32) -> String {
    format!("2024-01-01T00:{:02}:{:02}Z", seconds / 60, seconds % 60)
}

fn event(key: &str, seconds: u32) -> String {
    format!("{{\"k\": \"{key}\", \"ts\": \"{}\"}}\n", at(seconds))
}

fn read_rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Polls the output until it has at least `n` rows (bounded; not a timing assertion).
fn wait_for_rows(path: &Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..500 {
        let rows = read_rows(path);
        if rows.len() >= n {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("output never reached {n} rows: {:?}", read_rows(path));
}

#[test]
fn a_late_event_corrects_only_its_own_window_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT k, COUNT(*) AS c, System.Timestamp() AS windowEnd INTO Counts FROM Events TIMESTAMP BY ts GROUP BY k, TumblingWindow(second, 10)",
    )
    .expect("query");
    std::fs::write(
        dir.path().join("job.toml"),
        "query = \"q.asaql\"\nerrors = \"errors.jsonl\"\n\
         [event_ordering]\nout_of_order_seconds = 10\n\
         [[inputs]]\nalias = \"Events\"\npath = \"-\"\n\
         [[outputs]]\nalias = \"Counts\"\npath = \"counts.jsonl\"\nemit = \"changes\"\n",
    )
    .expect("job");
    let out = dir.path().join("counts.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "-w", "2", "--job"])
        .arg(dir.path().join("job.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eddy starts");
    let mut stdin = child.stdin.take().expect("stdin");

    // First batch: A at :31 in window (:30, :40]; B at :45 moves the
    // watermark to :35, so A's window has a result while still open.
    stdin
        .write_all(format!("{}{}", event("A", 31), event("B", 45)).as_bytes())
        .expect("write");
    stdin.flush().expect("flush");
    let first = wait_for_rows(&out, 1);
    assert_eq!(
        first,
        vec![
            serde_json::json!({"k": "A", "c": 1, "windowEnd": "2024-01-01T00:00:40.0000000Z", "diff": 1})
        ]
    );

    // A late A at :36 (before B at :45, inside the 10 s tolerance) and C at
    // :52, which moves the watermark to :42, past the late event.
    stdin
        .write_all(format!("{}{}", event("A", 36), event("C", 52)).as_bytes())
        .expect("write");
    stdin.flush().expect("flush");
    let rows = wait_for_rows(&out, 3);
    std::thread::sleep(Duration::from_millis(200));
    let rows_now = read_rows(&out);
    assert_eq!(
        rows_now, rows,
        "nothing else is written until the watermark moves again"
    );
    assert_eq!(
        rows[1..].to_vec(),
        vec![
            serde_json::json!({"k": "A", "c": 1, "windowEnd": "2024-01-01T00:00:40.0000000Z", "diff": -1}),
            serde_json::json!({"k": "A", "c": 2, "windowEnd": "2024-01-01T00:00:40.0000000Z", "diff": 1}),
        ],
        "only the late event's window and key change"
    );

    drop(stdin);
    let status = child.wait_with_output().expect("eddy ends");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let all = read_rows(&out);
    let tail: Vec<(String, i64, i64)> = all[3..]
        .iter()
        .map(|r| {
            (
                r["k"].as_str().expect("k").to_string(),
                r["c"].as_i64().expect("c"),
                r["diff"].as_i64().expect("diff"),
            )
        })
        .collect();
    assert_eq!(tail, vec![("B".to_string(), 1, 1), ("C".to_string(), 1, 1)]);
}
