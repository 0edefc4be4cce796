//! Temporal join throughput: a stream self-join with a `DATEDIFF` bound,
//! Eddy against a hand-written hash join with time-bucketed eviction, in
//! the same run, outputs checked equal.
//!
//! ```sql
//! SELECT a.key AS key, a.v AS av, b.v AS bv, a.ts AS ats, b.ts AS bts
//! INTO Out FROM Input a TIMESTAMP BY ts
//! JOIN Input b TIMESTAMP BY ts
//! ON a.key = b.key AND DATEDIFF(second, a, b) BETWEEN 0 AND 1
//! ```
//!
//! `DATEDIFF(second, a, b)` counts second boundaries crossed, so a pair
//! matches when `floor(b) - floor(a)` (in whole seconds) is 0 or 1. The
//! baseline (`eddy bench-join-baseline`) reads the events once, keeps per
//! key the events of the last few seconds, pairs each new event with the
//! kept ones both ways (and with itself), and drops a second's events once
//! the watermark (the newest time minus the one-second tolerance) has left
//! it more than a second behind. The events' disorder (at most 500 ms)
//! stays inside the tolerance, so no event is late for either engine.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;
use foldhash::fast::FixedState;

use super::{job_toml, median, run_child, thousands, OUT_OF_ORDER_SECONDS};
use crate::types::DateTime;

/// The benchmark's join.
pub const QUERY: &str = "SELECT a.key AS key, a.v AS av, b.v AS bv, a.ts AS ats, b.ts AS bts\n\
INTO Out FROM Input a TIMESTAMP BY ts\n\
JOIN Input b TIMESTAMP BY ts\n\
ON a.key = b.key AND DATEDIFF(second, a, b) BETWEEN 0 AND 1\n";

const SECOND: i64 = 10_000_000;

/// `eddy bench-join-baseline`: its arguments.
#[derive(Args, Debug)]
pub struct JoinBaselineArgs {
    /// Events as `{"key","v","ts"}` JSON lines.
    #[arg(long)]
    pub input: PathBuf,
    /// Where the joined pairs go, as JSON lines.
    #[arg(long)]
    pub output: PathBuf,
}

/// One kept event.
struct Kept {
    second: i64,
    v: i64,
    ts: String,
}

/// Runs the hand-written join; exit status 2 on an I/O or data error.
pub fn cmd_join_baseline(args: JoinBaselineArgs) -> ExitCode {
    match baseline(&args.input, &args.output) {
        Ok(()) => {
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

fn baseline(input: &Path, output: &Path) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Event {
        key: i64,
        v: i64,
        ts: String,
    }
    let file = File::open(input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
    let out =
        File::create(output).map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut kept: HashMap<i64, Vec<Kept>, FixedState> = HashMap::default();
    let mut newest = i64::MIN;
    let mut evicted_below = i64::MIN;
    let mut line = String::new();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let write_err = |e: std::io::Error| format!("cannot write {}: {e}", output.display());
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .map_err(|e| format!("cannot read {}: {e}", input.display()))?
            == 0
        {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let event: Event =
            serde_json::from_str(&line).map_err(|e| format!("bad event {line:?}: {e}"))?;
        let time = DateTime::parse(&event.ts)
            .ok_or_else(|| format!("bad time {:?}", event.ts))?
            .ticks();
        if newest != i64::MIN && time < newest - OUT_OF_ORDER_SECONDS as i64 * SECOND {
            return Err(format!("event at {} is beyond the tolerance", event.ts));
        }
        newest = newest.max(time);
        let second = time.div_euclid(SECOND);
        let partners = kept.entry(event.key).or_default();
        for other in partners.iter() {
            if (0..=1).contains(&(second - other.second)) {
                write_pair(&mut out, event.key, other.v, &other.ts, event.v, &event.ts)
                    .map_err(write_err)?;
            }
            if (0..=1).contains(&(other.second - second)) {
                write_pair(&mut out, event.key, event.v, &event.ts, other.v, &other.ts)
                    .map_err(write_err)?;
            }
        }
        write_pair(&mut out, event.key, event.v, &event.ts, event.v, &event.ts)
            .map_err(write_err)?;
        partners.push(Kept {
            second,
            v: event.v,
            ts: event.ts,
        });
        // Every later event is at or after the watermark, so it pairs only
        // with events of its own second or the one before.
        let watermark_second = (newest - OUT_OF_ORDER_SECONDS as i64 * SECOND).div_euclid(SECOND);
        if watermark_second - 1 > evicted_below {
            evicted_below = watermark_second - 1;
            kept.retain(|_, events| {
                events.retain(|e| e.second >= evicted_below);
                !events.is_empty()
            });
        }
    }
    out.flush().map_err(write_err)
}

fn write_pair(
    out: &mut impl Write,
    key: i64,
    av: i64,
    ats: &str,
    bv: i64,
    bts: &str,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{{\"key\":{key},\"av\":{av},\"bv\":{bv},\"ats\":\"{ats}\",\"bts\":\"{bts}\"}}"
    )
}

/// An order-independent summary of the joined pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JoinDigest {
    rows: u64,
    sum_av: i64,
    sum_bv: i64,
    /// Wrapping sum of a hash of each pair's key, values and times.
    pairs_hash: u64,
}

/// Reads a join output and summarises it.
pub fn digest(path: &Path) -> Result<JoinDigest, String> {
    #[derive(serde::Deserialize)]
    struct Pair {
        key: i64,
        av: i64,
        bv: i64,
        ats: String,
        bts: String,
    }
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut digest = JoinDigest::default();
    for (i, line) in BufReader::with_capacity(1 << 20, file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let pair: Pair = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        // Times compare as instants whatever their spelling.
        let instant = |s: &str| DateTime::parse(s).map_or(i64::MIN, DateTime::ticks);
        digest.rows += 1;
        digest.sum_av += pair.av;
        digest.sum_bv += pair.bv;
        let hash = FixedState::with_seed(3).hash_one((
            pair.key,
            pair.av,
            pair.bv,
            instant(&pair.ats),
            instant(&pair.bts),
        ));
        digest.pairs_hash = digest.pairs_hash.wrapping_add(hash);
    }
    Ok(digest)
}

/// Runs the join benchmark over `input` (`events` events) and appends its
/// table to `report`; `Ok(false)` when an Eddy output differs from the
/// baseline's.
pub fn run(
    dir: &Path,
    exe: &Path,
    input: &Path,
    events: u64,
    runs: usize,
    report: &mut String,
) -> Result<bool, String> {
    let query = dir.join("join.asaql");
    std::fs::write(&query, QUERY).map_err(|e| format!("cannot write {}: {e}", query.display()))?;
    let mut rows: Vec<(String, f64, Option<f64>, JoinDigest)> = Vec::new();
    for workers in [0usize, 1, 2] {
        let (label, tag) = if workers == 0 {
            ("baseline hash join".to_string(), "baseline".to_string())
        } else {
            (format!("eddy -w {workers}"), format!("eddy-w{workers}"))
        };
        let output = dir.join(format!("join-{tag}.jsonl"));
        let mut command = Command::new(exe);
        if workers == 0 {
            command
                .arg("bench-join-baseline")
                .arg("--input")
                .arg(input)
                .arg("--output")
                .arg(&output);
        } else {
            let job = dir.join(format!("join-{tag}.toml"));
            std::fs::write(&job, job_toml(&query, input, &output))
                .map_err(|e| format!("cannot write {}: {e}", job.display()))?;
            command
                .arg("run")
                .arg("--quiet")
                .arg("--job")
                .arg(&job)
                .arg("-w")
                .arg(workers.to_string());
        }
        let mut seconds = Vec::new();
        let mut peak: Option<f64> = None;
        let mut summary = JoinDigest::default();
        for run in 0..runs {
            eprintln!("join {label} run {}/{runs}", run + 1);
            let (elapsed, p) = run_child(&mut command, &label)?;
            seconds.push(elapsed.as_secs_f64());
            peak = match (peak, p) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if run == 0 {
                summary = digest(&output)?;
            }
        }
        rows.push((label, median(&seconds), peak, summary));
    }
    let (_, base_seconds, _, base_digest) = rows[0].clone();
    let mut all_equal = true;
    let _ = writeln!(
        report,
        "| engine | median elapsed (s) | events/s | baseline time / engine time | peak memory (MiB) | pairs | output vs baseline |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---|");
    for (i, (label, seconds, peak, summary)) in rows.iter().enumerate() {
        let check = if i == 0 {
            "reference".to_string()
        } else if *summary == base_digest {
            "equal".to_string()
        } else {
            all_equal = false;
            format!(
                "MISMATCH (pairs {} vs {}, sums {} / {} vs {} / {})",
                summary.rows,
                base_digest.rows,
                summary.sum_av,
                summary.sum_bv,
                base_digest.sum_av,
                base_digest.sum_bv
            )
        };
        let _ = writeln!(
            report,
            "| {label} | {seconds:.2} | {} | {:.2} | {} | {} | {check} |",
            thousands((events as f64 / seconds.max(1e-9)).round() as u64),
            base_seconds / seconds.max(1e-9),
            peak.map_or("?".to_string(), |p| format!("{p:.1}")),
            thousands(summary.rows),
        );
    }
    Ok(all_equal)
}
