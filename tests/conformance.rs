//! The shared ASA conformance suite (`../shared/conformance`), run through
//! `eddy test` with 1 and 4 workers. Every case must pass, some through a
//! stated override in `tests/conformance-overrides`; the tally is printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared_cases() -> PathBuf {
    root().join("..").join("shared").join("conformance")
}

/// Runs `eddy test` over every case; returns case -> passed, and the output.
fn run_suite(workers: usize) -> (BTreeMap<String, bool>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("test")
        .arg("--overrides")
        .arg(root().join("tests/conformance-overrides"))
        .arg("-w")
        .arg(workers.to_string())
        .arg(shared_cases())
        .output()
        .expect("eddy runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut results = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("PASS ") {
            results.insert(rest.split(' ').next().unwrap_or(rest).to_string(), true);
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            results.insert(rest.trim().to_string(), false);
        }
    }
    (results, stdout)
}

fn check(workers: usize) {
    let (results, stdout) = run_suite(workers);
    let total_cases = std::fs::read_dir(shared_cases())
        .expect("shared conformance folder")
        .filter_map(Result::ok)
        .filter(|e| Path::new(&e.path()).join("case.json").exists())
        .count();
    let passed = results.values().filter(|p| **p).count();
    println!(
        "conformance with -w {workers}: {passed} passed, {} failed, of {total_cases} cases",
        results.len() - passed
    );
    assert_eq!(
        results.len(),
        total_cases,
        "every case reports PASS or FAIL:\n{stdout}"
    );
    let tally = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        tally,
        format!("{passed} passed, {} failed", total_cases - passed),
        "the harness ends with the tally"
    );
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(name, _)| name)
        .collect();
    assert!(
        failed.is_empty(),
        "cases failed with -w {workers}: {failed:?}\n{stdout}"
    );
}

#[test]
fn conformance_one_worker() {
    check(1);
}

#[test]
fn conformance_four_workers() {
    check(4);
}
