//! The cost of the language features that run user code or automata: a
//! JavaScript UDF call, a JavaScript UDA, and MATCH_RECOGNIZE, each against
//! the same query without it, in the same run over the same events file.
//!
//! | pair | without | with |
//! |---|---|---|
//! | UDF | `SELECT key, v + 1 AS w` | `SELECT key, udf.Inc(v) AS w` (`return x + 1`) |
//! | UDA | `SUM(v)` per key and 10 s tumbling window | `uda.JsSum(v)` (`init`/`accumulate`/`computeResult`) |
//! | MATCH_RECOGNIZE | `SELECT key, v, ts` | a `Lo+ Mid* Hi{2,}` pattern over the stream |
//!
//! The UDF and UDA pairs compute the same result, so their outputs are
//! checked equal (row count and the sum of the value column). The
//! MATCH_RECOGNIZE pair computes different things; its row counts are
//! reported, and the ratio is what the pattern costs over a projection
//! that reads and writes every event. The pattern runs over the whole
//! stream (no PARTITION BY): the generator gives each key one constant
//! `v`, so per key nothing would ever match.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;

use super::{job_toml, median, run_child, thousands, toml_string};

/// One query of a pair.
struct Variant {
    label: &'static str,
    query: &'static str,
    /// The column whose sum is compared (`None`: not compared).
    checked_column: Option<&'static str>,
}

/// A feature and the same query without it.
struct Pair {
    feature: &'static str,
    without: Variant,
    with: Variant,
}

const INC_JS: &str = "function main(x) { return x + 1; }\n";

const SUM_JS: &str = "function main() {\n\
  this.init = function () { this.s = 0; };\n\
  this.accumulate = function (v, timestamp) { this.s += v; };\n\
  this.deaccumulate = function (v, timestamp) { this.s -= v; };\n\
  this.deaccumulateState = function (other) { this.s -= other.s; };\n\
  this.computeResult = function () { return this.s; };\n\
}\n";

fn pairs() -> Vec<Pair> {
    vec![
        Pair {
            feature: "JavaScript UDF",
            without: Variant {
                label: "v + 1",
                query: "SELECT key, v + 1 AS w INTO Out FROM Input TIMESTAMP BY ts",
                checked_column: Some("w"),
            },
            with: Variant {
                label: "udf.Inc(v)",
                query: "SELECT key, udf.Inc(v) AS w INTO Out FROM Input TIMESTAMP BY ts",
                checked_column: Some("w"),
            },
        },
        Pair {
            feature: "JavaScript UDA",
            without: Variant {
                label: "SUM(v)",
                query: "SELECT key, SUM(v) AS total INTO Out FROM Input TIMESTAMP BY ts \
                        GROUP BY key, TumblingWindow(second, 10)",
                checked_column: Some("total"),
            },
            with: Variant {
                label: "uda.JsSum(v)",
                query: "SELECT key, uda.JsSum(v) AS total INTO Out FROM Input TIMESTAMP BY ts \
                        GROUP BY key, TumblingWindow(second, 10)",
                checked_column: Some("total"),
            },
        },
        Pair {
            feature: "MATCH_RECOGNIZE",
            without: Variant {
                label: "projection",
                query: "SELECT key, v, ts INTO Out FROM Input TIMESTAMP BY ts",
                checked_column: None,
            },
            with: Variant {
                label: "Lo+ Mid* Hi{2,}",
                query: "SELECT * INTO Out FROM Input TIMESTAMP BY ts MATCH_RECOGNIZE (\
                        LIMIT DURATION(second, 10) \
                        MEASURES First(Lo.v) AS first_low, Max(Hi.v) AS max_high, Last(Hi.ts) AS at \
                        AFTER MATCH SKIP TO NEXT ROW PATTERN (Lo+ Mid* Hi{2,}) \
                        DEFINE Lo AS Lo.v < 300, Mid AS Mid.v >= 300 AND Mid.v < 700, Hi AS Hi.v >= 700) AS M",
                checked_column: None,
            },
        },
    ]
}

/// What an output holds: rows, and the sum of the checked column.
#[derive(Debug, Default, PartialEq)]
struct Summary {
    rows: u64,
    sum: i64,
}

fn summarize(path: &Path, column: Option<&str>) -> Result<Summary, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut summary = Summary::default();
    for line in BufReader::with_capacity(1 << 20, file).lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        summary.rows += 1;
        if let Some(column) = column {
            let row: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
            summary.sum += row[column].as_i64().ok_or_else(|| {
                format!("{}: {column} is not an integer in {line}", path.display())
            })?;
        }
    }
    Ok(summary)
}

/// Writes the job of one variant (with the JavaScript functions beside it).
fn write_job(dir: &Path, tag: &str, query: &str, input: &Path) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("lang-inc.js", INC_JS)?;
    write("lang-sum.js", SUM_JS)?;
    write(&format!("lang-{tag}.asaql"), query)?;
    write(
        &format!("lang-{tag}.toml"),
        &format!(
            "{}\
             [[functions]]\n\
             name = \"Inc\"\n\
             file = {}\n\
             returns = \"bigint\"\n\
             [[functions]]\n\
             name = \"JsSum\"\n\
             kind = \"uda\"\n\
             file = {}\n\
             returns = \"bigint\"\n",
            job_toml(
                &dir.join(format!("lang-{tag}.asaql")),
                input,
                &dir.join(format!("lang-{tag}.jsonl"))
            ),
            toml_string(&dir.join("lang-inc.js")),
            toml_string(&dir.join("lang-sum.js")),
        ),
    )
}

/// Runs every pair on `input` (`events` events) with one worker; appends
/// the table to `report`. `Ok(false)` when a pair's outputs differ.
pub fn run(
    dir: &Path,
    exe: &Path,
    input: &Path,
    events: u64,
    runs: usize,
    report: &mut String,
) -> Result<bool, String> {
    let _ = writeln!(
        report,
        "| feature | query | median elapsed (s) | events/s | µs per event over the plain query | plain time / time | peak memory (MiB) | rows | output |"
    );
    let _ = writeln!(report, "|---|---|---:|---:|---:|---:|---:|---:|---|");
    let mut all_equal = true;
    for (p, pair) in pairs().iter().enumerate() {
        let mut measured = Vec::new();
        for (v, variant) in [&pair.without, &pair.with].into_iter().enumerate() {
            let tag = format!("{p}-{v}");
            write_job(dir, &tag, variant.query, input)?;
            let mut seconds = Vec::with_capacity(runs);
            let mut peak: Option<f64> = None;
            for run in 1..=runs {
                eprintln!("language {} run {run}/{runs}", variant.label);
                let (elapsed, mib) = run_child(
                    Command::new(exe)
                        .args(["run", "--quiet", "-w", "1", "--job"])
                        .arg(dir.join(format!("lang-{tag}.toml"))),
                    variant.label,
                )?;
                seconds.push(elapsed.as_secs_f64());
                peak = match (peak, mib) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            let summary = summarize(
                &dir.join(format!("lang-{tag}.jsonl")),
                variant.checked_column,
            )?;
            measured.push((variant, median(&seconds), peak, summary));
        }
        let plain_seconds = measured[0].1;
        let equal = pair.with.checked_column.is_none() || measured[0].3 == measured[1].3;
        all_equal &= equal;
        for (i, (variant, seconds, peak, summary)) in measured.iter().enumerate() {
            let extra = if i == 0 {
                "–".to_string()
            } else {
                format!("{:.2}", (seconds - plain_seconds) / events as f64 * 1e6)
            };
            let output = match (i, variant.checked_column) {
                (0, Some(_)) => "reference".to_string(),
                (_, Some(column)) if equal => format!("equal (rows, sum of {column})"),
                (_, Some(_)) => "MISMATCH".to_string(),
                (_, None) => "not compared (a different result)".to_string(),
            };
            let _ = writeln!(
                report,
                "| {} | `{}` | {:.2} | {} | {} | {:.2} | {} | {} | {} |",
                pair.feature,
                variant.label,
                seconds,
                thousands((events as f64 / seconds.max(1e-9)) as u64),
                extra,
                plain_seconds / seconds.max(1e-9),
                peak.map_or("–".to_string(), |m| format!("{m:.1}")),
                thousands(summary.rows),
                output
            );
        }
    }
    Ok(all_equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_rows_and_adds_up_the_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "{\"w\":2}\n{\"w\":5}\n").expect("write");
        assert_eq!(
            summarize(&path, Some("w")).expect("reads"),
            Summary { rows: 2, sum: 7 }
        );
        assert_eq!(summarize(&path, None).expect("reads").rows, 2);
        std::fs::write(&path, "{\"w\":\"x\"}\n").expect("write");
        assert!(summarize(&path, Some("w")).is_err());
    }
}
