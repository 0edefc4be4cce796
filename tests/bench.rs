//! `eddy bench` through the binary. `--quick` runs every query on the
//! baseline, on Eddy with 1 and 2 workers and on 2 processes of 1 worker,
//! and its table shows each Eddy output checked equal to the baseline's;
//! the memory section's run on a tenth of the events is checked too, and
//! `--peers` with no peer installed lists every peer with the reason. With
//! `--kafka` (against the broker `scripts/kafka-up` starts) the Kafka
//! section's two copiers must both deliver every event. The instruction
//! counts run under valgrind where it is installed. No timing is asserted.

use std::path::Path;
use std::process::{Command, Output};

/// The rows of every Markdown table in `stdout`, as trimmed cells.
fn table_rows(stdout: &str) -> Vec<Vec<&str>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("|---"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

fn bench(args: &[&str], dir: &Path) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(dir)
        .output()
        .expect("eddy runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "eddy bench {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    (out, stdout)
}

#[test]
fn quick_bench_checks_every_output_against_the_baseline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let no_peers = tempfile::tempdir().expect("temp dir");
    let peers_dir = no_peers.path().to_string_lossy().into_owned();
    let (_, stdout) = bench(
        &["--quick", "--peers", "--peers-dir", &peers_dir],
        dir.path(),
    );
    let rows = table_rows(&stdout);
    let queries = ["tumbling", "hopping", "sliding"];
    let engines = [
        "baseline",
        "eddy -w 1",
        "eddy -w 2",
        "eddy 2 processes x 1 worker",
    ];
    let aggregation: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|r| queries.contains(&r[0]) && r.len() == 8)
        .collect();
    assert_eq!(aggregation.len(), 12, "3 queries x 4 engines:\n{stdout}");
    for query in queries {
        for engine in engines {
            let row = aggregation
                .iter()
                .find(|r| r[0] == query && r[1] == engine)
                .unwrap_or_else(|| panic!("no row for {query} {engine}:\n{stdout}"));
            let check = row[row.len() - 1];
            let expected = if engine == "baseline" {
                "reference"
            } else {
                "equal"
            };
            assert_eq!(check, expected, "{query} {engine}:\n{stdout}");
            let produced: u64 = row[row.len() - 2].replace(',', "").parse().expect("rows");
            assert!(produced > 0, "{query} {engine} wrote no rows:\n{stdout}");
            if engine != "baseline" {
                let peak = row[5];
                assert!(
                    peak.parse::<f64>().is_ok_and(|p| p > 0.0),
                    "{query} {engine} has no peak memory:\n{stdout}"
                );
            }
        }
        for engine in ["eddy -w 2", "eddy 2 processes x 1 worker"] {
            assert!(
                rows.iter().any(|r| r.len() == 5
                    && r[0] == engine
                    && r[1] == "eddy -w 1"
                    && r[2] == query),
                "no speed-up of {engine} for {query}:\n{stdout}"
            );
        }
    }
    // The memory section: Eddy on a tenth of the events, checked.
    let memory = rows
        .iter()
        .find(|r| r.len() == 6 && r[0] == "eddy -w 1")
        .unwrap_or_else(|| panic!("no memory row:\n{stdout}"));
    assert_eq!(memory[5], "equal", "{stdout}");
    // No peer is installed in an empty folder: each is a row saying so.
    for peer in [
        "DuckDB (batch)",
        "Bytewax",
        "Pathway",
        "PyFlink (Flink SQL)",
    ] {
        let row = rows
            .iter()
            .find(|r| r[0] == peer)
            .unwrap_or_else(|| panic!("no row for {peer}:\n{stdout}"));
        assert_eq!(
            row[row.len() - 1],
            "not installed: run benches/peers/install",
            "{stdout}"
        );
    }
    // The instruction counts: every query on the baseline and Eddy with 1
    // and 2 workers under callgrind, checked, when valgrind is here.
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let counted: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|r| r.len() == 7 && queries.contains(&r[0]))
        .collect();
    if valgrind {
        assert_eq!(counted.len(), 9, "3 queries x 3 engines:\n{stdout}");
        for row in counted {
            let instructions: u64 = row[2].replace(',', "").parse().expect("a count");
            assert!(instructions > 1_000_000, "{row:?}");
            let expected = if row[1] == "baseline" {
                "reference"
            } else {
                "equal"
            };
            assert_eq!(row[6], expected, "{row:?}:\n{stdout}");
        }
    } else {
        assert!(counted.is_empty(), "{stdout}");
        assert!(stdout.contains("not run: valgrind not found"), "{stdout}");
    }
    assert!(stdout.contains("Kafka end to end: not run"), "{stdout}");
    assert!(stdout.contains("outputs checked: every output equals the baseline's"));
}

fn kafka_up() -> String {
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka-up"))
        .output()
        .expect("scripts/kafka-up runs");
    assert!(
        out.status.success(),
        "kafka-up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn bench_with_kafka_copies_every_event_through_eddy_and_the_raw_loop() {
    let broker = kafka_up();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, stdout) = bench(
        &["--quick", "--events", "5000", "--kafka", &broker],
        dir.path(),
    );
    let rows = table_rows(&stdout);
    for copier in ["raw rdkafka loop", "eddy -w 1"] {
        let row = rows
            .iter()
            .find(|r| r[0] == copier && r.len() == 8)
            .unwrap_or_else(|| panic!("no Kafka row for {copier}:\n{stdout}"));
        assert_eq!(row[5], "5,000", "{copier} messages:\n{stdout}");
        assert_eq!(row[7], "equal", "{copier}:\n{stdout}");
    }
    assert!(stdout.contains("outputs checked: every output equals the baseline's"));
}
