//! `eddy bench --only instructions`: the aggregation queries' work counted
//! in instructions rather than seconds.
//!
//! Wall times on a shared machine move by half from one run to the next;
//! valgrind's callgrind counts the instructions a process executes, which
//! for the same binary and input is the same number whatever else the
//! machine runs. Each query runs once under callgrind with the baseline
//! and with Eddy on 1 and 2 workers (with 2, the count is both workers'
//! work: the extra work parallelism costs, not its speed-up), over its own
//! events file. The outputs are checked against the baseline's as in the
//! main table. Instructions are not time: cache misses and the host's
//! speed are not in them, so the wall-time table stays the measure of
//! speed; this one shows where Eddy's own work stands and moves.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use super::baseline::WindowKind;
use super::{digest, engine_args, thousands, write_events, Engine};

/// The engines counted: the baseline and Eddy in one process.
const ENGINES: [Engine; 3] = [
    Engine::Baseline,
    Engine::Eddy { workers: 1 },
    Engine::Eddy { workers: 2 },
];

/// Why the section cannot run here, or `None` when valgrind answers.
fn valgrind_missing() -> Option<String> {
    match Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("valgrind --version failed ({status})")),
        Err(e) => Some(format!(
            "valgrind not found ({e}); install Debian's valgrind"
        )),
    }
}

/// Counts every query's instructions on `events` events in `dir`; the
/// section's text and whether every output equals the baseline's. Without
/// valgrind the text says so and nothing is compared.
pub fn instructions_section(exe: &Path, dir: &Path, events: u64) -> Result<(String, bool), String> {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "Instructions per event (valgrind --tool=callgrind; one run each, {} events; the same count on every run of the same binary):",
        thousands(events)
    );
    let _ = writeln!(report);
    if let Some(reason) = valgrind_missing() {
        let _ = writeln!(report, "not run: {reason}");
        return Ok((report, true));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let input = dir.join("events-instructions.jsonl");
    eprintln!("writing {events} events to {}", input.display());
    write_events(&input, events)?;
    let _ = writeln!(
        report,
        "| query | engine | instructions | per event | engine / baseline | rows | output vs baseline |"
    );
    let _ = writeln!(report, "|---|---|---:|---:|---:|---:|---|");
    let mut all_equal = true;
    for kind in WindowKind::ALL {
        let mut base: Option<(u64, super::Digest)> = None;
        for engine in ENGINES {
            let tag = format!("{}-{}-instructions", kind.name(), engine.file_tag());
            let output = dir.join(format!("{tag}.jsonl"));
            let counts = dir.join(format!("{tag}.callgrind"));
            let mut command = Command::new("valgrind");
            command
                .arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", counts.display()))
                .arg(exe)
                .args(engine_args(engine, dir, kind, &input, &output)?);
            let label = format!("{} {} under callgrind", kind.name(), engine.label());
            eprintln!("{label}");
            let instructions = count_instructions(&mut command, &counts, &label)?;
            let _ = std::fs::remove_file(&counts);
            let digest = digest(&output)?;
            let (ratio, check) = match &base {
                None => {
                    base = Some((instructions, digest));
                    ("1.00".to_string(), "reference".to_string())
                }
                Some((base_instructions, base_digest)) => {
                    let equal = digest == *base_digest;
                    all_equal &= equal;
                    (
                        format!(
                            "{:.2}",
                            instructions as f64 / (*base_instructions).max(1) as f64
                        ),
                        if equal { "equal" } else { "MISMATCH" }.to_string(),
                    )
                }
            };
            let _ = writeln!(
                report,
                "| {} | {} | {} | {} | {ratio} | {} | {check} |",
                kind.name(),
                engine.label(),
                thousands(instructions),
                thousands(instructions / events.max(1)),
                thousands(digest.rows),
            );
        }
    }
    Ok((report, all_equal))
}

/// Runs `command` (a program under callgrind) to its end and reads the
/// instruction total from the `summary:` line of its counts file.
fn count_instructions(command: &mut Command, counts: &Path, label: &str) -> Result<u64, String> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot start {label}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{label} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    let text = std::fs::read_to_string(counts)
        .map_err(|e| format!("{label}: cannot read {}: {e}", counts.display()))?;
    summary_total(&text).ok_or_else(|| format!("{label}: no summary line in {}", counts.display()))
}

/// The total of a callgrind counts file: its `summary:` line (or, failing
/// that, `totals:`), whose first number is the instructions executed.
fn summary_total(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("summary:"))
        .or_else(|| text.lines().find(|l| l.starts_with("totals:")))?;
    line.split_once(':')?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_the_summary_line_s_first_number() {
        let text = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=main\n1 5\nsummary: 632279061\ntotals: 632279061\n";
        assert_eq!(summary_total(text), Some(632_279_061));
        assert_eq!(summary_total("totals: 17 3\n"), Some(17));
        assert_eq!(summary_total("events: Ir\n"), None);
    }
}
