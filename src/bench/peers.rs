//! The peer engines of `benches/peers` inside `eddy bench` (`--peers`).
//!
//! Each peer (DuckDB on 1 and 2 threads, Bytewax, Pathway, PyFlink) runs
//! the tumbling query on the very `events.jsonl` of the run, through its
//! runner (`benches/peers/run_<engine>.py DATA --threads N --out OUT`) in
//! its own virtualenv (`benches/peers/.venv/<engine>`, made by
//! `benches/peers/install`). Each run is a child process timed from spawn
//! to exit (interpreter and JVM start included), its peak memory the
//! `ru_maxrss` of the reaped child ([`super::child`]; PyFlink's JVM is not
//! a child the driver waits for, so its runner's own `jvm_peak_rss_mib`
//! is taken when larger). The runner's own `seconds` (processing only) is
//! shown too.
//!
//! The output is checked twice against the baseline's tumbling output of
//! the same run: the runner's printed `rows`, `sum_n` and `sum_total`, and
//! an order-independent digest of the output file's rows (key, n, total
//! and the window end as a time, whatever text the engine wrote it as;
//! change streams with a `diff` column are folded). An engine that is not
//! installed, or whose install failed, is a row saying so.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::baseline::WindowKind;
use super::child::run_measured;
use super::scaling::Context;
use super::{median, thousands, Engine};
use crate::types::DateTime;

/// The section's text when `--peers` is not given.
pub(super) const NOT_ASKED: &str =
    "Peer engines: not run (add --peers; install them with benches/peers/install).\n";

/// One peer run: the runner's engine name, the table's label, threads.
struct Peer {
    engine: &'static str,
    label: &'static str,
    threads: usize,
}

const PEERS: [Peer; 5] = [
    Peer {
        engine: "duckdb",
        label: "DuckDB (batch)",
        threads: 1,
    },
    Peer {
        engine: "duckdb",
        label: "DuckDB (batch)",
        threads: 2,
    },
    Peer {
        engine: "bytewax",
        label: "Bytewax",
        threads: 1,
    },
    Peer {
        engine: "pathway",
        label: "Pathway",
        threads: 1,
    },
    Peer {
        engine: "flink",
        label: "PyFlink (Flink SQL)",
        threads: 1,
    },
];

/// `benches/peers` of the source tree this executable was built from.
pub(super) fn default_peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers")
}

/// An order-independent summary of (key, n, total, window end) rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RowDigest {
    pub(super) rows: i64,
    pub(super) sum_n: i64,
    pub(super) sum_total: i64,
    /// Wrapping sum of a hash of each row, times its multiplicity.
    pub(super) rows_hash: u64,
}

/// What a runner printed: its summary line.
struct Printed {
    version: String,
    rows: i64,
    sum_n: i64,
    sum_total: i64,
    seconds: f64,
    jvm_peak_mib: Option<f64>,
}

/// Runs every peer `runs` times; the section's text and whether every
/// peer that ran agreed with the baseline (a failed run counts as not).
pub(super) fn peers_section(
    context: &Context<'_>,
    peers_dir: &Path,
    runs: usize,
) -> Result<(String, bool), String> {
    let kind = WindowKind::Tumbling;
    let base = context
        .measured(kind, Engine::Baseline)
        .ok_or("the aggregation table has no tumbling baseline")?;
    let base_median = median(&base.seconds);
    let base_digest = row_digest(&context.baseline_output(kind))?;

    let mut all_equal = true;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Peer engines on the tumbling query, the same {} events (elapsed: wall time of the child from spawn to exit, interpreter and JVM start included, median of {runs}; \
         own seconds: what the runner timed, processing only; peak memory: ru_maxrss of the child, the largest single process (for PyFlink the JVM's VmHWM when larger)):",
        thousands(context.events)
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| peer | version | threads | median elapsed (s) | baseline time / peer time | own seconds (median) | peak memory (MiB) | rows | output vs baseline |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|");
    let _ = writeln!(
        out,
        "| baseline (tumbling, above) | - | 1 | {base_median:.2} | 1.00 | - | {} | {} | reference |",
        base.peak_mib.map_or("?".to_string(), |p| format!("{p:.1}")),
        thousands(base_digest.rows.max(0) as u64)
    );
    for peer in &PEERS {
        let row = |rest: &str| format!("| {} | {rest} |\n", peer.label);
        if let Some(reason) = not_runnable(peers_dir, peer.engine) {
            out.push_str(&row(&format!(
                "- | {} | - | - | - | - | - | {reason}",
                peer.threads
            )));
            continue;
        }
        match run_peer(context, peers_dir, peer, runs) {
            Ok(done) => {
                let printed = &done.printed;
                let check = if printed.rows == base_digest.rows
                    && printed.sum_n == base_digest.sum_n
                    && printed.sum_total == base_digest.sum_total
                    && done.digest == base_digest
                {
                    "equal".to_string()
                } else {
                    all_equal = false;
                    format!(
                        "MISMATCH (printed rows {}, sum_n {}, sum_total {}; file rows {}; baseline rows {}, sum n {}, sum total {}; row digests {})",
                        printed.rows,
                        printed.sum_n,
                        printed.sum_total,
                        done.digest.rows,
                        base_digest.rows,
                        base_digest.sum_n,
                        base_digest.sum_total,
                        if done.digest.rows_hash == base_digest.rows_hash { "equal" } else { "differ" }
                    )
                };
                let elapsed = median(&done.elapsed);
                out.push_str(&row(&format!(
                    "{} | {} | {elapsed:.2} | {:.2} | {:.2} | {} | {} | {check}",
                    printed.version,
                    peer.threads,
                    base_median / elapsed.max(1e-9),
                    median(&done.own_seconds),
                    done.peak_mib.map_or("?".to_string(), |p| format!("{p:.1}")),
                    thousands(printed.rows.max(0) as u64),
                )));
            }
            Err(reason) => {
                all_equal = false;
                eprintln!("{} {}: {reason}", peer.label, peer.threads);
                let first = reason.lines().next().unwrap_or_default().replace('|', "/");
                out.push_str(&row(&format!(
                    "- | {} | - | - | - | - | - | FAILED: {first}",
                    peer.threads
                )));
            }
        }
    }
    Ok((out, all_equal))
}

/// Why a peer cannot run, or `None` when its virtualenv is installed.
fn not_runnable(peers_dir: &Path, engine: &str) -> Option<String> {
    let venv = peers_dir.join(".venv");
    let status = std::fs::read_to_string(venv.join(format!("{engine}.status"))).ok();
    let status_line = status
        .as_deref()
        .and_then(|s| s.lines().next())
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Some(reason) = status_line.strip_prefix("fail") {
        return Some(format!(
            "install failed: {} (see {})",
            reason.trim().replace('|', "/"),
            venv.join(format!("{engine}.install.log")).display()
        ));
    }
    if !venv.join(engine).join("bin/python").is_file() || !status_line.starts_with("ok") {
        return Some("not installed: run benches/peers/install".to_string());
    }
    None
}

/// Every run of one peer.
struct PeerRuns {
    elapsed: Vec<f64>,
    own_seconds: Vec<f64>,
    peak_mib: Option<f64>,
    printed: Printed,
    digest: RowDigest,
}

fn run_peer(
    context: &Context<'_>,
    peers_dir: &Path,
    peer: &Peer,
    runs: usize,
) -> Result<PeerRuns, String> {
    let python = peers_dir.join(".venv").join(peer.engine).join("bin/python");
    let runner = peers_dir.join(format!("run_{}.py", peer.engine));
    let tag = format!("tumbling-{}-t{}", peer.engine, peer.threads);
    let output = context.dir.join(format!("{tag}.jsonl"));
    let label = format!("{} on {} thread(s)", peer.label, peer.threads);
    let mut result: Option<PeerRuns> = None;
    for run in 0..runs {
        eprintln!("tumbling {label} run {}/{runs}", run + 1);
        let mut command = Command::new(&python);
        command
            .current_dir(peers_dir)
            .arg(&runner)
            .arg(context.input)
            .arg("--threads")
            .arg(peer.threads.to_string())
            .arg("--out")
            .arg(&output);
        let child = run_measured(&mut command, &label, &context.dir.join(&tag))?;
        let line = child
            .stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| format!("{label} printed no summary line"))?;
        let printed = parse_summary(line).map_err(|e| format!("{label}: {e}: {line}"))?;
        let peak = match (child.peak_mib, printed.jvm_peak_mib) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let elapsed = child.elapsed.as_secs_f64();
        match &mut result {
            None => {
                result = Some(PeerRuns {
                    elapsed: vec![elapsed],
                    own_seconds: vec![printed.seconds],
                    peak_mib: peak,
                    digest: row_digest(&output)?,
                    printed,
                });
            }
            Some(r) => {
                r.elapsed.push(elapsed);
                r.own_seconds.push(printed.seconds);
                r.peak_mib = match (r.peak_mib, peak) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    result.ok_or_else(|| format!("{label}: no run"))
}

/// Reads a runner's summary line.
fn parse_summary(line: &str) -> Result<Printed, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let int = |name: &str| {
        value
            .get(name)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| format!("no integer \"{name}\""))
    };
    Ok(Printed {
        version: value
            .get("version")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .replace('|', "/"),
        rows: int("rows")?,
        sum_n: int("sum_n")?,
        sum_total: int("sum_total")?,
        seconds: value
            .get("seconds")
            .and_then(serde_json::Value::as_f64)
            .ok_or("no number \"seconds\"")?,
        jvm_peak_mib: value
            .get("jvm_peak_rss_mib")
            .and_then(serde_json::Value::as_f64),
    })
}

/// Summarises an output of (key, n, total, t) rows, with `t` a time as
/// text (any of the forms the engines write) or epoch milliseconds, and an
/// optional `diff` (a change stream's +1 / -1).
pub(super) fn row_digest(path: &Path) -> Result<RowDigest, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut digest = RowDigest::default();
    for (i, line) in BufReader::with_capacity(1 << 20, file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("{}:{}: {what}", path.display(), i + 1);
        let row: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
        let int = |name: &str| {
            row.get(name)
                .and_then(serde_json::Value::as_i64)
                .ok_or_else(|| bad(&format!("no integer \"{name}\"")))
        };
        let (key, n, total) = (int("key")?, int("n")?, int("total")?);
        let diff = row
            .get("diff")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(1);
        let end_ticks = match row.get("t") {
            Some(serde_json::Value::Number(ms)) => ms
                .as_i64()
                .map(|ms| ms * 10_000)
                .ok_or_else(|| bad("\"t\" is not whole milliseconds"))?,
            Some(serde_json::Value::String(text)) => parse_time(text)
                .ok_or_else(|| bad(&format!("\"t\" is not a time: {text}")))?
                .ticks(),
            _ => return Err(bad("no \"t\"")),
        };
        let mut hasher = DefaultHasher::new();
        (key, n, total, end_ticks).hash(&mut hasher);
        digest.rows += diff;
        digest.sum_n = digest.sum_n.wrapping_add(n.wrapping_mul(diff));
        digest.sum_total = digest.sum_total.wrapping_add(total.wrapping_mul(diff));
        digest.rows_hash = digest
            .rows_hash
            .wrapping_add(hasher.finish().wrapping_mul(diff as u64));
    }
    Ok(digest)
}

/// A window end as the engines write it: ISO 8601 with `T` or a space,
/// any number of fractional digits, with or without a zone (read as UTC).
fn parse_time(text: &str) -> Option<DateTime> {
    let text = text.trim();
    DateTime::parse(text).or_else(|| {
        let naive = text.trim_end_matches('Z').replacen(' ', "T", 1);
        DateTime::parse(&naive)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_digest_reads_every_engine_s_time_forms_and_folds_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            row_digest(&path).expect("digest")
        };
        // Eddy and the baseline.
        let eddy = write(
            "eddy.jsonl",
            "{\"key\":1,\"n\":2,\"total\":3,\"mean\":1.5,\"t\":\"2026-11-01T00:00:10.0000000Z\"}\n\
             {\"key\":2,\"n\":1,\"total\":4,\"mean\":4.0,\"t\":\"2026-11-01T00:00:20.0000000Z\"}\n",
        );
        assert_eq!((eddy.rows, eddy.sum_n, eddy.sum_total), (2, 3, 7));
        // DuckDB / Bytewax / Flink (milliseconds, Z), in another order.
        let millis = write(
            "millis.jsonl",
            "{\"key\":2,\"n\":1,\"total\":4,\"t\":\"2026-11-01T00:00:20.000Z\"}\n\
             {\"key\":1,\"n\":2,\"total\":3,\"t\":\"2026-11-01T00:00:10.000Z\"}\n",
        );
        assert_eq!(eddy, millis);
        // A change stream with a naive time and a retracted row.
        let changes = write(
            "changes.jsonl",
            "{\"key\":1,\"n\":2,\"total\":3,\"t\":\"2026-11-01 00:00:10\",\"diff\":1}\n\
             {\"key\":2,\"n\":9,\"total\":9,\"t\":\"2026-11-01T00:00:20.000000000\",\"diff\":1}\n\
             {\"key\":2,\"n\":9,\"total\":9,\"t\":\"2026-11-01T00:00:20.000000000\",\"diff\":-1}\n\
             {\"key\":2,\"n\":1,\"total\":4,\"t\":1793491220000,\"diff\":1}\n",
        );
        assert_eq!(eddy, changes);
        // A row in another window differs.
        let moved = write(
            "moved.jsonl",
            "{\"key\":1,\"n\":2,\"total\":3,\"t\":\"2026-11-01T00:00:10.000Z\"}\n\
             {\"key\":2,\"n\":1,\"total\":4,\"t\":\"2026-11-01T00:00:30.000Z\"}\n",
        );
        assert_ne!(eddy, moved);
        assert_eq!((moved.rows, moved.sum_n, moved.sum_total), (2, 3, 7));
    }

    #[test]
    fn an_engine_without_a_virtualenv_is_reported_not_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let venv = dir.path().join(".venv");
        std::fs::create_dir_all(venv.join("duckdb/bin")).expect("dirs");
        std::fs::write(venv.join("duckdb/bin/python"), "").expect("python");
        std::fs::write(venv.join("duckdb.status"), "ok 2.0.1\n").expect("status");
        std::fs::write(venv.join("flink.status"), "fail pip install: no wheel\n").expect("status");
        assert_eq!(not_runnable(dir.path(), "duckdb"), None);
        assert_eq!(
            not_runnable(dir.path(), "bytewax").as_deref(),
            Some("not installed: run benches/peers/install")
        );
        let failed = not_runnable(dir.path(), "flink").expect("a reason");
        assert!(
            failed.starts_with("install failed: pip install: no wheel"),
            "{failed}"
        );
    }

    #[test]
    fn a_runner_summary_line_is_read() {
        let printed = parse_summary(
            r#"{"engine": "flink", "version": "2.2.1", "threads": 1, "rows": 10, "sum_n": 20, "sum_total": 30, "digest": "ab", "seconds": 1.5, "seconds_with_startup": 9.0, "jvm_peak_rss_mib": 900.5}"#,
        )
        .expect("parses");
        assert_eq!(printed.version, "2.2.1");
        assert_eq!(
            (printed.rows, printed.sum_n, printed.sum_total),
            (10, 20, 30)
        );
        assert_eq!(printed.seconds, 1.5);
        assert_eq!(printed.jvm_peak_mib, Some(900.5));
        assert!(parse_summary(r#"{"rows": 1}"#).is_err());
    }
}
