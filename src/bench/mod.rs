//! `eddy bench`: windowed aggregation measured against a hand-written
//! baseline in the same run.
//!
//! The benchmark writes a deterministic JSON-lines stream (the
//! [`Generator`] stream: 10,000 keys, 10,000 events per second of event
//! time, up to 500 ms of disorder, as `{"key","v","ts"}` rows), then runs
//! `SELECT key, COUNT(*) AS n, SUM(v) AS total, AVG(v) AS mean,
//! System.Timestamp() AS t` grouped by key and a tumbling, hopping or
//! sliding window over it: with the [`baseline`] and with Eddy on 1 and 2
//! workers. Every run is a child process of the current executable (`eddy
//! bench-baseline …` or `eddy run --quiet --job …`), timed by wall clock
//! from spawn to exit; its peak memory is the `peak memory:` line of its
//! summary (VmHWM from `/proc/self/status`). The outputs of the first run of
//! every engine are compared with the baseline's (row count, sums of `n` and
//! `total`, and an order-independent digest of every row's key, time, `n`
//! and `total`); a difference makes the command exit 1.
//!
//! Beside that table, in the same run and checked against the same
//! baseline outputs: a cluster of 2 processes of 1 worker and the
//! speed-ups across workers and processes, and Eddy's peak memory on a 10x
//! longer stream ([`scaling`]); with `--peers`, the peer engines of
//! `benches/peers` on the tumbling query ([`peers`]); with `--kafka`, Eddy
//! and a raw consume-and-produce loop from topic to topic ([`kafka`]).
//! The other sections (`--only`): the temporal join against a hash join
//! ([`join`]), JavaScript functions and MATCH_RECOGNIZE against the same
//! queries without them ([`language`]), the cost of an incremental
//! update against recomputation ([`incremental`]), and the aggregation
//! queries' instructions per event under callgrind ([`instructions`]).

pub mod baseline;
mod child;
pub mod incremental;
mod instructions;
pub mod join;
pub mod kafka;
mod language;
mod peers;
mod scaling;

use std::fmt::Write as _;
use std::fs::File;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use crate::connectors::generate::{Generator, GeneratorSpec};
use crate::types::{DateTime, Value};
use baseline::WindowKind;

/// Events in a full run.
const DEFAULT_EVENTS: u64 = 10_000_000;
/// Events with `--quick`.
const QUICK_EVENTS: u64 = 50_000;
/// Distinct keys.
const KEYS: u64 = 10_000;
/// Events per second of event time.
const RATE: u64 = 10_000;
/// Largest backwards jitter of an event time.
const DISORDER_MS: u64 = 500;
/// The most events the Kafka measurement produces into the local broker.
const KAFKA_EVENTS: u64 = 200_000;
/// The jobs' out-of-order tolerance.
const OUT_OF_ORDER_SECONDS: u32 = 1;

/// `eddy bench`: its arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A small run (50,000 events, 1 run) that only checks the harness and the outputs.
    #[arg(long)]
    pub quick: bool,
    /// Events in the generated stream (default 10,000,000; 50,000 with --quick).
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,
    /// Runs per measurement; the median is reported (default 3; 1 with --quick).
    #[arg(long, value_name = "R")]
    pub runs: Option<usize>,
    /// Which measurements to run (default: all of them).
    #[arg(long, value_delimiter = ',', value_name = "SECTION")]
    pub only: Vec<Section>,
    /// Events in the join benchmark (default: a tenth of --events, at least 10,000).
    #[arg(long, value_name = "N")]
    pub join_events: Option<u64>,
    /// Smallest size of the incremental-update benchmark, which also runs 4x and 16x it
    /// (default 1,000,000; 10,000 with --quick).
    #[arg(long, value_name = "N")]
    pub incremental_events: Option<u64>,
    /// Events in the instruction-count section (default 100,000; 5,000 with --quick).
    #[arg(long, value_name = "N")]
    pub instruction_events: Option<u64>,
    /// Folder for the data, jobs and outputs (kept); default: a temporary folder, removed after.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also run the peer engines of benches/peers on the tumbling query (install them with benches/peers/install).
    #[arg(long)]
    pub peers: bool,
    /// Where the peer runners and their virtualenvs are (default: benches/peers of the source tree).
    #[arg(long, value_name = "DIR")]
    pub peers_dir: Option<PathBuf>,
    /// Also measure Kafka end to end against this broker (e.g. 127.0.0.1:19092; start one with scripts/kafka-up).
    #[arg(long, value_name = "HOST:PORT")]
    pub kafka: Option<String>,
}

/// One measurement of `eddy bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Windowed aggregation against the single-pass baseline.
    Aggregation,
    /// Incremental update cost against recomputation.
    Incremental,
    /// Temporal join against a hand-written hash join.
    Join,
    /// JavaScript UDF and UDA, and MATCH_RECOGNIZE, against the same query without them.
    Language,
    /// The aggregation queries' instructions per event under valgrind's callgrind.
    Instructions,
}

/// Who computes a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Baseline,
    Eddy {
        workers: usize,
    },
    /// `eddy cluster`: local processes of `workers` workers each.
    Cluster {
        processes: usize,
        workers: usize,
    },
}

impl Engine {
    const ALL: [Engine; 4] = [
        Engine::Baseline,
        Engine::Eddy { workers: 1 },
        Engine::Eddy { workers: 2 },
        Engine::Cluster {
            processes: 2,
            workers: 1,
        },
    ];

    fn label(self) -> String {
        match self {
            Engine::Baseline => "baseline".to_string(),
            Engine::Eddy { workers } => format!("eddy -w {workers}"),
            Engine::Cluster { processes, workers } => format!(
                "eddy {processes} processes x {workers} worker{}",
                if workers == 1 { "" } else { "s" }
            ),
        }
    }

    fn file_tag(self) -> String {
        match self {
            Engine::Baseline => "baseline".to_string(),
            Engine::Eddy { workers } => format!("eddy-w{workers}"),
            Engine::Cluster { processes, workers } => format!("eddy-p{processes}w{workers}"),
        }
    }
}

/// An order-independent summary of an output's rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Digest {
    rows: u64,
    sum_n: i64,
    sum_total: i64,
    /// Wrapping sum of a hash of each row's key, time, `n` and `total`.
    rows_hash: u64,
}

/// What one engine did on one query.
struct Measured {
    engine: Engine,
    seconds: Vec<f64>,
    peak_mib: Option<f64>,
    digest: Digest,
}

/// Runs the benchmark; see the module documentation. Exit status 0 when
/// every output agrees with the baseline's, 1 on a mismatch, 2 when a run
/// fails or a file cannot be written.
pub fn cmd_bench(args: BenchArgs) -> ExitCode {
    let events = args.events.unwrap_or(if args.quick {
        QUICK_EVENTS
    } else {
        DEFAULT_EVENTS
    });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let (dir, temporary) = match &args.out {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("eddy-bench-{}", std::process::id())),
            true,
        ),
    };
    let wanted = |section: Section| args.only.is_empty() || args.only.contains(&section);
    let mut result = Ok(true);
    if wanted(Section::Aggregation) {
        result = bench(&dir, events, runs, &args);
    }
    if wanted(Section::Join) {
        let join_events = args.join_events.unwrap_or((events / 10).max(10_000));
        result = result.and_then(|ok| Ok(run_join(&dir, join_events, runs)? && ok));
    }
    if wanted(Section::Language) {
        result = result.and_then(|ok| Ok(run_language(&dir, events, runs)? && ok));
    }
    if wanted(Section::Instructions) {
        let count_events =
            args.instruction_events
                .unwrap_or(if args.quick { 5_000 } else { 100_000 });
        result = result.and_then(|ok| Ok(run_instructions(&dir, count_events)? && ok));
    }
    if wanted(Section::Incremental) {
        let smallest =
            args.incremental_events
                .unwrap_or(if args.quick { 10_000 } else { 1_000_000 });
        result = result.and_then(|ok| Ok(run_incremental(smallest)? && ok));
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "error: MISMATCH: an output differs from the baseline's or a peer failed (see the tables)"
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs every query and engine; `Ok(false)` when an output disagrees.
fn bench(dir: &Path, events: u64, runs: usize, args: &BenchArgs) -> Result<bool, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the eddy executable: {e}"))?;
    let input = dir.join("events.jsonl");
    eprintln!("writing {events} events to {}", input.display());
    write_events(&input, events)?;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "| query | engine | median elapsed (s) | events/s | baseline time / engine time | peak memory (MiB) | rows | output vs baseline |"
    );
    let _ = writeln!(report, "|---|---|---:|---:|---:|---:|---:|---|");
    let mut all_equal = true;
    let mut results: Vec<(WindowKind, Vec<Measured>)> = Vec::new();
    for kind in WindowKind::ALL {
        let mut measured: Vec<Measured> = Vec::new();
        let mut commands: Vec<(Command, PathBuf)> = Vec::new();
        for engine in Engine::ALL {
            let output = dir.join(format!("{}-{}.jsonl", kind.name(), engine.file_tag()));
            let mut command = Command::new(&exe);
            command.args(engine_args(engine, dir, kind, &input, &output)?);
            measured.push(Measured {
                engine,
                seconds: Vec::new(),
                peak_mib: None,
                digest: Digest::default(),
            });
            commands.push((command, output));
        }
        // Runs interleave (run 1 of every engine, then run 2, ...), so a
        // slow spell of the shared machine falls on every engine alike
        // rather than on whichever ran during it.
        for run in 0..runs {
            for (m, (command, output)) in measured.iter_mut().zip(commands.iter_mut()) {
                eprintln!(
                    "{} {} run {}/{runs}",
                    kind.name(),
                    m.engine.label(),
                    run + 1
                );
                let (elapsed, peak) = run_child(command, &m.engine.label())?;
                m.seconds.push(elapsed.as_secs_f64());
                m.peak_mib = match (m.peak_mib, peak) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                if run == 0 {
                    m.digest = digest(output)?;
                }
            }
        }
        let base = &measured[0];
        let base_median = median(&base.seconds);
        for m in &measured {
            let med = median(&m.seconds);
            let check = if m.engine == Engine::Baseline {
                "reference".to_string()
            } else if m.digest == base.digest {
                "equal".to_string()
            } else {
                all_equal = false;
                format!(
                    "MISMATCH (rows {} vs {}, sum n {} vs {}, sum total {} vs {})",
                    m.digest.rows,
                    base.digest.rows,
                    m.digest.sum_n,
                    base.digest.sum_n,
                    m.digest.sum_total,
                    base.digest.sum_total
                )
            };
            let _ = writeln!(
                report,
                "| {} | {} | {:.2} | {} | {:.2} | {} | {} | {} |",
                kind.name(),
                m.engine.label(),
                med,
                thousands((events as f64 / med.max(1e-9)).round() as u64),
                base_median / med.max(1e-9),
                m.peak_mib.map_or("?".to_string(), |p| format!("{p:.1}")),
                thousands(m.digest.rows),
                check
            );
        }
        results.push((kind, measured));
    }
    let context = scaling::Context {
        exe: &exe,
        dir,
        input: &input,
        events,
        results: &results,
    };
    println!(
        "{events} events, {KEYS} keys, {runs} run{} each; elapsed is the median wall time of a child process; \
         baseline time / engine time above 1 means faster than the baseline; peak memory is the largest VmHWM over the runs \
         (for 2 processes, the sum of both processes')",
        if runs == 1 { "" } else { "s" }
    );
    println!();
    print!("{report}");
    println!();
    print!("{}", scaling::speedups(&results));
    println!();
    // Each further section is printed as soon as it is measured, so a
    // failure late in a long run loses nothing measured before it.
    let (memory, memory_equal) = scaling::memory_section(&context)?;
    print!("{memory}");
    println!();
    let (peers, peers_equal) = if args.peers {
        let peers_dir = args
            .peers_dir
            .clone()
            .unwrap_or_else(peers::default_peers_dir);
        peers::peers_section(&context, &peers_dir, runs)?
    } else {
        (peers::NOT_ASKED.to_string(), true)
    };
    print!("{peers}");
    println!();
    // Kafka runs on at most KAFKA_EVENTS events (the tenth file of the
    // memory section when the run is larger): the local broker keeps every
    // message in one JSON file, and a topic of millions of messages made
    // it stop answering.
    let tenth = dir.join("events-tenth.jsonl");
    let kafka_context = if events > KAFKA_EVENTS && tenth.exists() {
        scaling::Context {
            input: &tenth,
            events: (events / 10).max(1),
            ..context
        }
    } else {
        context
    };
    let (kafka, kafka_equal) = match &args.kafka {
        Some(bootstrap) => kafka::kafka_section(&kafka_context, bootstrap, runs)
            .unwrap_or_else(|e| (format!("Kafka end to end: FAILED: {e}\n"), false)),
        None => (kafka::NOT_ASKED.to_string(), true),
    };
    print!("{kafka}");
    println!();
    all_equal &= memory_equal && peers_equal && kafka_equal;
    if all_equal {
        println!("outputs checked: every output equals the baseline's");
    } else {
        println!("outputs checked: MISMATCH (or a failed run)");
    }
    Ok(all_equal)
}

/// The join benchmark over its own stream of `events` events.
fn run_join(dir: &Path, events: u64, runs: usize) -> Result<bool, String> {
    run_section(
        dir,
        "join-events.jsonl",
        events,
        &format!("Temporal self-join (DATEDIFF(second, a, b) BETWEEN 0 AND 1), {events} events, {runs} run{} each:", plural(runs)),
        "every Eddy output equals the baseline's",
        |exe, input, report| join::run(dir, exe, input, events, runs, report),
    )
}

/// The language-feature costs over the run's events file.
fn run_language(dir: &Path, events: u64, runs: usize) -> Result<bool, String> {
    run_section(
        dir,
        "events.jsonl",
        events,
        &format!("Language features against the same query without them, {events} events, -w 1, {runs} run{} each:", plural(runs)),
        "each UDF and UDA output equals its plain query's",
        |exe, input, report| language::run(dir, exe, input, events, runs, report),
    )
}

fn plural(runs: usize) -> &'static str {
    if runs == 1 {
        ""
    } else {
        "s"
    }
}

/// One section over a generated events file of `events` events in `dir`
/// (the generator is deterministic, so rewriting a file another section
/// wrote gives the same file): `measure` fills the table, which is printed
/// under `heading` with the outcome of its output checks.
fn run_section(
    dir: &Path,
    file: &str,
    events: u64,
    heading: &str,
    all_equal: &str,
    measure: impl FnOnce(&Path, &Path, &mut String) -> Result<bool, String>,
) -> Result<bool, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the eddy executable: {e}"))?;
    let input = dir.join(file);
    eprintln!("writing {events} events to {}", input.display());
    write_events(&input, events)?;
    let mut report = String::new();
    let equal = measure(&exe, &input, &mut report)?;
    println!();
    println!("{heading}");
    println!();
    print!("{report}");
    println!();
    println!(
        "outputs checked: {}",
        if equal { all_equal } else { "MISMATCH" }
    );
    Ok(equal)
}

/// The instruction counts of the aggregation queries (see [`instructions`]).
fn run_instructions(dir: &Path, events: u64) -> Result<bool, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the eddy executable: {e}"))?;
    let (report, equal) = instructions::instructions_section(&exe, dir, events)?;
    println!();
    print!("{report}");
    println!();
    println!(
        "outputs checked: {}",
        if equal {
            "every counted output equals the baseline's"
        } else {
            "MISMATCH"
        }
    );
    Ok(equal)
}

/// The incremental-update benchmark at `smallest`, 4x and 16x events.
fn run_incremental(smallest: u64) -> Result<bool, String> {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "| events | change | time to corrected output (ms) | recomputation (ms) | recomputation / update | output updates | same result as recomputation |"
    );
    let _ = writeln!(report, "|---:|---|---:|---:|---:|---:|---|");
    let mut all_equal = true;
    for factor in [1, 4, 16] {
        let events = smallest * factor;
        eprintln!("incremental: {events} events");
        let measured = incremental::measure(events)?;
        all_equal &= measured.equal;
        for update in &measured.updates {
            let _ = writeln!(
                report,
                "| {} | {} | {:.3} | {:.0} | {} | {} | {} |",
                thousands(events),
                update.what,
                update.seconds * 1e3,
                measured.recompute_seconds * 1e3,
                thousands((measured.recompute_seconds / update.seconds.max(1e-9)).round() as u64),
                update.output_updates,
                if measured.equal { "yes" } else { "MISMATCH" }
            );
        }
    }
    println!();
    println!(
        "Incremental update cost (one worker, in process, changes mode; query in src/bench/incremental.rs):"
    );
    println!();
    print!("{report}");
    Ok(all_equal)
}

/// Writes the generated stream as `{"key":..,"v":..,"ts":".."}` lines.
fn write_events(path: &Path, events: u64) -> Result<(), String> {
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let start = DateTime::parse("2026-11-01T00:00:00Z").unwrap_or(DateTime::EPOCH);
    let mut generator = Generator::new(GeneratorSpec {
        events,
        keys: KEYS,
        rate: RATE,
        disorder_ms: DISORDER_MS,
        start,
    });
    while let Some(row) = generator.next_row() {
        let (Some(Value::Bigint(key)), Some(Value::Bigint(v)), Some(Value::DateTime(ts))) =
            (row.get("key"), row.get("value"), row.get("ts"))
        else {
            return Err("the generator made an unexpected row".to_string());
        };
        writeln!(
            out,
            "{{\"key\":{key},\"v\":{v},\"ts\":\"{}\"}}",
            ts.to_iso()
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    out.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The benchmark query over one window.
fn query_text(kind: WindowKind) -> String {
    format!(
        "SELECT key, COUNT(*) AS n, SUM(v) AS total, AVG(v) AS mean, System.Timestamp() AS t\n\
         INTO Out FROM Input TIMESTAMP BY ts\n\
         GROUP BY key, {}\n",
        kind.window_sql()
    )
}

/// The arguments of `eddy` that run `engine` on the `kind` query over
/// `input`, writing `output` (a job file for Eddy is written in `dir`).
fn engine_args(
    engine: Engine,
    dir: &Path,
    kind: WindowKind,
    input: &Path,
    output: &Path,
) -> Result<Vec<std::ffi::OsString>, String> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut push = |arg: &dyn AsRef<std::ffi::OsStr>| args.push(arg.as_ref().to_os_string());
    match engine {
        Engine::Baseline => {
            push(&"bench-baseline");
            push(&"--window");
            push(&kind.name());
            push(&"--input");
            push(&input);
            push(&"--output");
            push(&output);
            push(&"--out-of-order-seconds");
            push(&OUT_OF_ORDER_SECONDS.to_string());
        }
        Engine::Eddy { workers } => {
            let job = write_job(dir, kind, input, output)?;
            push(&"run");
            push(&"--quiet");
            push(&"--job");
            push(&job);
            push(&"-w");
            push(&workers.to_string());
        }
        Engine::Cluster { processes, workers } => {
            let job = write_job(dir, kind, input, output)?;
            push(&"cluster");
            push(&"--quiet");
            push(&"--processes");
            push(&processes.to_string());
            push(&"-w");
            push(&workers.to_string());
            push(&"--job");
            push(&job);
        }
    }
    Ok(args)
}

/// Writes the query and a job file for Eddy writing to `output`; returns the job's path.
fn write_job(dir: &Path, kind: WindowKind, input: &Path, output: &Path) -> Result<PathBuf, String> {
    let query = dir.join(format!("{}.asaql", kind.name()));
    std::fs::write(&query, query_text(kind))
        .map_err(|e| format!("cannot write {}: {e}", query.display()))?;
    let stem = output.file_stem().map_or_else(
        || kind.name().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let job = dir.join(format!("{stem}.toml"));
    std::fs::write(&job, job_toml(&query, input, output))
        .map_err(|e| format!("cannot write {}: {e}", job.display()))?;
    Ok(job)
}

/// The job file every benchmark run of Eddy uses: `query` over the JSON
/// lines of `input` as `Input` (with the benchmark's out-of-order
/// tolerance), writing `Out` to `output`.
fn job_toml(query: &Path, input: &Path, output: &Path) -> String {
    format!(
        "query = {}\n\
         [event_ordering]\n\
         out_of_order_seconds = {OUT_OF_ORDER_SECONDS}\n\
         [[inputs]]\n\
         alias = \"Input\"\n\
         path = {}\n\
         format = \"json\"\n\
         [[outputs]]\n\
         alias = \"Out\"\n\
         path = {}\n",
        toml_string(query),
        toml_string(input),
        toml_string(output)
    )
}

/// A path as a TOML basic string.
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.to_string_lossy().into_owned()).to_string()
}

/// Runs one child to its end: its wall time and the peak memory it
/// reported (for `eddy cluster`, whose processes' lines come prefixed
/// `[p<i>] `, the sum over its processes).
fn run_child(command: &mut Command, label: &str) -> Result<(Duration, Option<f64>), String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {label}: {e}"))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{label} did not finish: {e}"))?;
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "{label} failed ({}):\n{}",
            output.status,
            stderr.trim_end()
        ));
    }
    Ok((elapsed, reported_peak_mib(&stderr)))
}

/// The sum of the `peak memory: X MiB` lines of a summary, each possibly
/// prefixed `[p<i>] ` by `eddy cluster`; `None` when there is none.
fn reported_peak_mib(stderr: &str) -> Option<f64> {
    stderr
        .lines()
        .filter_map(|line| {
            let line = match line.strip_prefix("[p") {
                Some(rest) => rest.split_once("] ")?.1,
                None => line,
            };
            line.strip_prefix("peak memory: ")?
                .strip_suffix(" MiB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .reduce(|a, b| a + b)
}

/// Reads an output and summarises its rows independently of their order.
fn digest(path: &Path) -> Result<Digest, String> {
    let read = peers::row_digest(path)?;
    Ok(Digest {
        rows: u64::try_from(read.rows)
            .map_err(|_| format!("{}: more retractions than rows", path.display()))?,
        sum_n: read.sum_n,
        sum_total: read.sum_total,
        rows_hash: read.rows_hash,
    })
}

/// The median of a non-empty list (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_thousands() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn peak_memory_lines_are_read_and_a_cluster_s_are_added_up() {
        assert_eq!(
            reported_peak_mib("elapsed: 1s\npeak memory: 12.5 MiB\n"),
            Some(12.5)
        );
        assert_eq!(
            reported_peak_mib(
                "[p0] peak memory: 10.0 MiB\n[p1] rows: 3\n[p1] peak memory: 2.5 MiB\n"
            ),
            Some(12.5)
        );
        assert_eq!(reported_peak_mib("elapsed: 1s\n"), None);
    }

    #[test]
    fn the_digest_ignores_row_order_but_not_row_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            digest(&path).expect("digest")
        };
        let a = r#"{"key":1,"n":2,"total":3,"mean":1.5,"t":"2026-11-01T00:00:10.0000000Z"}"#;
        let b = r#"{"key":2,"n":1,"total":4,"mean":4.0,"t":"2026-11-01T00:00:10.0000000Z"}"#;
        let moved = r#"{"key":2,"n":1,"total":4,"mean":4.0,"t":"2026-11-01T00:00:20.0000000Z"}"#;
        let one = write("one.jsonl", &format!("{a}\n{b}\n"));
        assert_eq!(one.rows, 2);
        assert_eq!((one.sum_n, one.sum_total), (3, 7));
        assert_eq!(one, write("two.jsonl", &format!("{b}\n{a}\n")));
        assert_ne!(one, write("three.jsonl", &format!("{a}\n{moved}\n")));
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "{\"key\":1}\n").expect("write");
        assert!(digest(&bad).is_err());
    }
}
