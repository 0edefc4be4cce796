//! `eddy bench --quick` through the binary: it runs every query on the
//! baseline and on Eddy with 1 and 2 workers, and its table shows each
//! Eddy output checked equal to the baseline's. No timing is asserted.

use std::process::Command;

#[test]
fn quick_bench_checks_every_output_against_the_baseline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["bench", "--quick", "--out"])
        .arg(dir.path())
        .output()
        .expect("eddy runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "eddy bench --quick failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| query"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 9, "3 queries x 3 engines:\n{stdout}");
    for query in ["tumbling", "hopping", "sliding"] {
        for engine in ["baseline", "eddy -w 1", "eddy -w 2"] {
            let row = rows
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
        }
    }
    assert!(stdout.contains("outputs checked: every Eddy output equals the baseline's"));
}
