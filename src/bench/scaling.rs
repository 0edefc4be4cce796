//! Scaling in `eddy bench`: across workers and processes, and in the
//! length of the stream.
//!
//! - [`speedups`] reads the aggregation table's runs: `-w 2` against
//!   `-w 1` (threads of one process) and 2 processes of 1 worker (`eddy
//!   cluster`, exchanging data over TCP on 127.0.0.1) against `-w 1`, as
//!   the ratio of the medians and as the median of each round's ratio.
//!   Rounds interleave the engines, so a round's two runs are seconds
//!   apart: the paired ratio is less exposed to the host's slow spells.
//! - [`memory_section`] runs the tumbling query with Eddy on 1 worker and
//!   with the baseline on N and 10N events (N = a tenth of the run's
//!   events, so the longer stream is the aggregation table's own) and
//!   compares their peak memory: a window's state is dropped once the
//!   watermark passes it, so a longer stream of the same rate should not
//!   need more. Both runs' outputs are checked against the baseline's.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use super::baseline::WindowKind;
use super::Digest;
use super::{digest, engine_args, median, run_child, thousands, write_events, Engine, Measured};

/// What the sections after the aggregation table need of its run.
#[derive(Clone, Copy)]
pub(super) struct Context<'a> {
    /// This executable (`eddy`).
    pub exe: &'a Path,
    /// The run's folder.
    pub dir: &'a Path,
    /// The run's events (`events.jsonl`).
    pub input: &'a Path,
    /// How many events `input` holds.
    pub events: u64,
    /// The aggregation table: every query's engines, the baseline first.
    pub results: &'a [(WindowKind, Vec<Measured>)],
}

impl Context<'_> {
    /// The aggregation table's measurement of `engine` on `kind`.
    pub fn measured(&self, kind: WindowKind, engine: Engine) -> Option<&Measured> {
        self.results
            .iter()
            .find(|(k, _)| *k == kind)?
            .1
            .iter()
            .find(|m| m.engine == engine)
    }

    /// Where the baseline wrote its output of `kind` on the run's events.
    pub fn baseline_output(&self, kind: WindowKind) -> std::path::PathBuf {
        self.dir.join(format!(
            "{}-{}.jsonl",
            kind.name(),
            Engine::Baseline.file_tag()
        ))
    }
}

/// The speed-up table: per query, the median time of `-w 1` over that of
/// `-w 2` and of 2 processes x 1 worker, and the median over rounds of the
/// same ratio within each round.
pub(super) fn speedups(results: &[(WindowKind, Vec<Measured>)]) -> String {
    let one = Engine::Eddy { workers: 1 };
    let others = [
        Engine::Eddy { workers: 2 },
        Engine::Cluster {
            processes: 2,
            workers: 1,
        },
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Scaling across workers and processes (speed-up = median time of eddy -w 1 / median time of the engine; paired = the median over rounds of that ratio within a round; 2 would be linear):"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| speed-up of | over | query | speed-up | paired speed-up |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|");
    for (kind, measured) in results {
        let runs = |engine: Engine| {
            measured
                .iter()
                .find(|m| m.engine == engine)
                .map(|m| &m.seconds)
        };
        let Some(base) = runs(one) else { continue };
        for other in others {
            let Some(seconds) = runs(other) else { continue };
            let (ratio, paired) = speedup(base, seconds);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {ratio:.2} | {paired:.2} |",
                other.label(),
                one.label(),
                kind.name(),
            );
        }
    }
    out
}

/// The speed-up of runs taking `seconds` over runs taking `base`: the
/// ratio of the medians, and the median of the ratios of runs of the same
/// round (the same index).
fn speedup(base: &[f64], seconds: &[f64]) -> (f64, f64) {
    let ratio = median(base) / median(seconds).max(1e-9);
    let per_round: Vec<f64> = base
        .iter()
        .zip(seconds)
        .map(|(b, s)| b / s.max(1e-9))
        .collect();
    (ratio, median(&per_round))
}

/// One engine's run on the shorter stream.
struct Short {
    engine: Engine,
    peak_mib: Option<f64>,
    digest: Digest,
}

/// Peak memory of Eddy (-w 1) and the baseline on N and 10N events of the
/// tumbling query. `Ok(false)` when an output on N events differs from the
/// baseline's on N events.
pub(super) fn memory_section(context: &Context<'_>) -> Result<(String, bool), String> {
    let kind = WindowKind::Tumbling;
    let engines = [Engine::Baseline, Engine::Eddy { workers: 1 }];
    let short_events = (context.events / 10).max(1);
    let long_events = short_events * 10;
    let short_input = context.dir.join("events-tenth.jsonl");
    eprintln!(
        "memory: writing {short_events} events to {}",
        short_input.display()
    );
    write_events(&short_input, short_events)?;

    let mut short_runs: Vec<Short> = Vec::new();
    for engine in engines {
        short_runs.push(run_once(context, kind, engine, &short_input, "tenth")?);
    }
    // The longer stream is the aggregation table's own when the run's
    // events are a multiple of ten; otherwise it is written and run here.
    let mut long_peaks: Vec<Option<f64>> = Vec::new();
    if long_events == context.events {
        for engine in engines {
            long_peaks.push(context.measured(kind, engine).and_then(|m| m.peak_mib));
        }
    } else {
        let long_input = context.dir.join("events-ten-tenths.jsonl");
        write_events(&long_input, long_events)?;
        for engine in engines {
            long_peaks.push(run_once(context, kind, engine, &long_input, "ten-tenths")?.peak_mib);
        }
    }

    let base_digest = short_runs[0].digest;
    let mut all_equal = true;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Memory on a 10x longer stream (tumbling query; N = {} events, 10N = {}; peak memory is VmHWM, the longer stream's from the table above{}):",
        thousands(short_events),
        thousands(long_events),
        if long_events == context.events { "" } else { " (here run separately)" }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| engine (memory) | peak memory on N (MiB) | peak memory on 10N (MiB) | 10N / N | rows on N | output on N vs baseline |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let show = |peak: Option<f64>| peak.map_or("?".to_string(), |p| format!("{p:.1}"));
    for (short, long_peak) in short_runs.iter().zip(&long_peaks) {
        let ratio = match (short.peak_mib, long_peak) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.2}", b / a),
            _ => "?".to_string(),
        };
        let check = if short.engine == Engine::Baseline {
            "reference".to_string()
        } else if short.digest == base_digest {
            "equal".to_string()
        } else {
            all_equal = false;
            format!(
                "MISMATCH (rows {} vs {}, sum n {} vs {})",
                short.digest.rows, base_digest.rows, short.digest.sum_n, base_digest.sum_n
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            short.engine.label(),
            show(short.peak_mib),
            show(*long_peak),
            ratio,
            thousands(short.digest.rows),
            check
        );
    }
    Ok((out, all_equal))
}

/// One run of `engine` on `kind` over `input`; outputs are named with `tag`.
fn run_once(
    context: &Context<'_>,
    kind: WindowKind,
    engine: Engine,
    input: &Path,
    tag: &str,
) -> Result<Short, String> {
    let output = context
        .dir
        .join(format!("{}-{}-{tag}.jsonl", kind.name(), engine.file_tag()));
    if matches!(engine, Engine::Cluster { .. }) {
        return Err("the memory section runs no cluster".to_string());
    }
    let mut command = Command::new(context.exe);
    command.args(engine_args(engine, context.dir, kind, input, &output)?);
    let label = format!("{} {} ({tag})", kind.name(), engine.label());
    eprintln!("memory: {label}");
    let (_, peak_mib) = run_child(&mut command, &label)?;
    Ok(Short {
        engine,
        peak_mib,
        digest: digest(&output)?,
    })
}

#[cfg(test)]
mod tests {
    use super::speedup;

    #[test]
    fn pairs_follow_a_drifting_host_and_shrug_off_a_spell() {
        // The host slows down from round to round; the two-worker run is
        // twice as fast in every round.
        let one = [1.0, 1.5, 2.0];
        let two = [0.5, 0.75, 1.0];
        assert_eq!(speedup(&one, &two), (2.0, 2.0));
        // A spell catches the first two-worker run: the ratio of medians
        // mixes rounds of different speeds, the pairs do not.
        let two = [1.2, 0.75, 1.0];
        let (ratio, paired) = speedup(&one, &two);
        assert!((ratio - 1.5).abs() < 1e-9, "{ratio}");
        assert_eq!(paired, 2.0);
    }
}
