//! The `eddy` command line: `run`, `check`, `explain`, `test`, `cluster`
//! and `bench`.
//!
//! Exit codes: 0 for success (a closed standard output counts), 1 for an
//! invalid query, job file or failing test case, 2 for a runtime failure
//! (in a cluster: a process that failed, or peers that never connected or
//! went away); `eddy cluster` stopped by a signal exits 128 + its number.

pub mod cluster;
pub mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bind::{bind, Catalog, OpenCatalog};
use crate::cluster::Membership;
use crate::config::{Endpoint, ErrorPolicy, JobConfig, JobError};
use crate::conformance::{run_case, Outcome, TestOptions};
use crate::diag::Diagnostic;
use crate::plan::Plan;
use crate::runtime::{run, RunOptions, Summary};
use crate::syntax::parse;

/// Eddy runs Azure Stream Analytics queries over files and streams.
#[derive(Parser, Debug)]
#[command(name = "eddy", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a job to the end of its inputs.
    Run(RunArgs),
    /// Parse and bind a query or job and report every error, without running it.
    Check(JobArgs),
    /// Print the syntax tree, the bound plan or the dataflow of a query.
    Explain(ExplainArgs),
    /// Run case folders (query, inputs, expected outputs, case.json) and compare.
    Test(TestArgs),
    /// Run a job as several local processes (a timely cluster on 127.0.0.1), supervised.
    Cluster(cluster::ClusterArgs),
    /// Measure windowed aggregations against a hand-written baseline (run a release build).
    Bench(crate::bench::BenchArgs),
    /// One run of the benchmark's hand-written baseline (used by `eddy bench`).
    #[command(hide = true)]
    BenchBaseline(crate::bench::baseline::BaselineArgs),
    /// The hand-written hash join `eddy bench` measures Eddy's joins against.
    #[command(hide = true)]
    BenchJoinBaseline(crate::bench::join::JoinBaselineArgs),
    /// The raw consume-and-produce loop of `eddy bench --kafka`.
    #[command(hide = true)]
    BenchKafkaBaseline(crate::bench::kafka::KafkaBaselineArgs),
}

#[derive(Args, Debug)]
struct JobArgs {
    /// A TOML job file naming the query, inputs and outputs.
    #[arg(long, conflicts_with = "query")]
    job: Option<PathBuf>,
    /// A query file (use with --input and --output).
    #[arg(long)]
    query: Option<PathBuf>,
    /// An input as Alias=path (`-` is standard input); repeatable.
    #[arg(long = "input", value_name = "ALIAS=PATH")]
    inputs: Vec<String>,
    /// Reference data as Alias=path (a table joined by key); repeatable.
    #[arg(long = "reference", value_name = "ALIAS=PATH")]
    references: Vec<String>,
    /// An output as Alias=path (`-` is standard output); repeatable.
    #[arg(long = "output", value_name = "ALIAS=PATH")]
    outputs: Vec<String>,
    /// A query file to check or explain without a job (any input and output name is accepted).
    #[arg(value_name = "QUERY", conflicts_with_all = ["job", "query"])]
    query_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Worker threads.
    #[arg(short = 'w', long)]
    workers: Option<usize>,
    /// Dead-letter file for bad events (default: the job's, else standard error).
    #[arg(long)]
    errors: Option<PathBuf>,
    /// What to do with a bad event.
    #[arg(long, value_enum)]
    on_error: Option<OnError>,
    /// Do not show the progress line.
    #[arg(long)]
    quiet: bool,
    /// Run as one of N processes of a cluster (each started with the same job, hosts file and -w).
    #[arg(long, value_name = "N")]
    processes: Option<usize>,
    /// This process's index in the cluster, 0 to N-1 (its line in the hosts file).
    #[arg(long, value_name = "I")]
    process: Option<usize>,
    /// The cluster's hosts file: one host:port line per process, in process order.
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// Seconds to wait for every peer process to connect before failing (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = cluster::DEFAULT_CONNECT_TIMEOUT_SECS)]
    connect_timeout_secs: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OnError {
    /// Dead-letter it and go on.
    Skip,
    /// Stop the job.
    Stop,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Which hand-off to print.
    #[arg(long, value_enum, default_value = "plan")]
    stage: Stage,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Stage {
    /// The syntax tree, printed back as canonical query text.
    Ast,
    /// The bound logical plan.
    Plan,
    /// The dataflow operators the plan renders to.
    Dataflow,
}

#[derive(Args, Debug)]
struct TestArgs {
    /// Case folders, or folders of case folders.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Worker threads per case.
    #[arg(short = 'w', long, default_value_t = 1)]
    workers: usize,
    /// Folder of <case>.toml overrides for doc_inconsistent cases.
    #[arg(long)]
    overrides: Option<PathBuf>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Check(args) => cmd_check(args),
        Command::Explain(args) => cmd_explain(args),
        Command::Test(args) => cmd_test(args),
        Command::Cluster(args) => cluster::cmd_cluster(args),
        Command::Bench(args) => crate::bench::cmd_bench(args),
        Command::BenchBaseline(args) => crate::bench::baseline::cmd_baseline(args),
        Command::BenchJoinBaseline(args) => crate::bench::join::cmd_join_baseline(args),
        Command::BenchKafkaBaseline(args) => crate::bench::kafka::cmd_kafka_baseline(args),
    }
}

/// A loaded job, or the job-less check of a bare query file.
struct Loaded {
    job: Option<JobConfig>,
    query_name: String,
    query: String,
}

fn load(args: &JobArgs) -> Result<Loaded, ExitCode> {
    if let Some(path) = &args.job {
        return match JobConfig::load(path) {
            Ok(job) => Ok(Loaded {
                query_name: display_name(job.query_path.as_deref()),
                query: job.query.clone(),
                job: Some(job),
            }),
            Err(JobError::Invalid {
                path,
                text,
                diagnostics,
            }) => {
                eprint!(
                    "{}",
                    report::render(&path.display().to_string(), &text, &diagnostics)
                );
                Err(ExitCode::from(1))
            }
            Err(e) => {
                eprintln!("error: {e}");
                Err(ExitCode::from(1))
            }
        };
    }
    if let Some(path) = &args.query {
        return match JobConfig::from_flags(path, &args.inputs, &args.references, &args.outputs) {
            Ok(job) => Ok(Loaded {
                query_name: display_name(Some(path)),
                query: job.query.clone(),
                job: Some(job),
            }),
            Err(e) => {
                eprintln!("error: {e}");
                Err(ExitCode::from(1))
            }
        };
    }
    if let Some(path) = &args.query_file {
        return match std::fs::read_to_string(path) {
            Ok(query) => Ok(Loaded {
                job: None,
                query_name: display_name(Some(path)),
                query,
            }),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                Err(ExitCode::from(1))
            }
        };
    }
    eprintln!("error: give --job FILE, or --query FILE with --input and --output");
    Err(ExitCode::from(1))
}

fn display_name(path: Option<&Path>) -> String {
    path.map_or_else(|| "query".to_string(), |p| p.display().to_string())
}

/// Parses and binds; prints every diagnostic and returns exit code 1 on error.
fn compile(loaded: &Loaded) -> Result<Plan, ExitCode> {
    let report_all = |diagnostics: &[Diagnostic]| {
        eprint!(
            "{}",
            report::render(&loaded.query_name, &loaded.query, diagnostics)
        );
        let n = diagnostics.len();
        eprintln!(
            "{n} error{} in {}",
            if n == 1 { "" } else { "s" },
            loaded.query_name
        );
        ExitCode::from(1)
    };
    let script = parse(&loaded.query).map_err(|d| report_all(&d.0))?;
    let catalog: &dyn Catalog = match &loaded.job {
        Some(job) => job,
        None => &OpenCatalog,
    };
    bind(&script, catalog).map_err(|d| report_all(&d.0))
}

fn cmd_check(args: JobArgs) -> ExitCode {
    let Ok(loaded) = load(&args) else {
        return ExitCode::from(1);
    };
    match compile(&loaded) {
        Ok(plan) => {
            println!(
                "{}: ok ({} source{}, {} step{}, {} output{})",
                loaded.query_name,
                plan.sources.len(),
                plural(plan.sources.len()),
                plan.steps.len(),
                plural(plan.steps.len()),
                plan.outputs.len(),
                plural(plan.outputs.len())
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn cmd_explain(args: ExplainArgs) -> ExitCode {
    let Ok(loaded) = load(&args.job) else {
        return ExitCode::from(1);
    };
    if let Stage::Ast = args.stage {
        return match parse(&loaded.query) {
            Ok(script) => {
                println!("{script}");
                ExitCode::SUCCESS
            }
            Err(d) => {
                eprint!(
                    "{}",
                    report::render(&loaded.query_name, &loaded.query, &d.0)
                );
                ExitCode::from(1)
            }
        };
    }
    let plan = match compile(&loaded) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    match args.stage {
        Stage::Plan | Stage::Ast => print!("{}", plan.explain(&loaded.query)),
        Stage::Dataflow => print!("{}", crate::render::explain_dataflow(&plan, &loaded.query)),
    }
    ExitCode::SUCCESS
}

fn cmd_run(args: RunArgs) -> ExitCode {
    let membership =
        match Membership::from_flags(args.processes, args.process, args.hosts.as_deref()) {
            Ok(membership) => membership,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
    let Ok(mut loaded) = load(&args.job) else {
        return ExitCode::from(1);
    };
    let Some(job) = loaded.job.as_mut() else {
        eprintln!("error: `eddy run` needs --job FILE, or --query FILE with --input and --output");
        return ExitCode::from(1);
    };
    if let Some(path) = &args.errors {
        job.errors = if path.as_os_str() == "-" {
            Endpoint::Std
        } else {
            Endpoint::File(path.clone())
        };
    }
    match args.on_error {
        Some(OnError::Skip) => job.on_error = ErrorPolicy::Skip,
        Some(OnError::Stop) => job.on_error = ErrorPolicy::Stop,
        None => {}
    }
    if let Some(w) = args.workers {
        job.workers = w.max(1);
    }
    let plan = match compile(&loaded) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let Some(job) = loaded.job else {
        return ExitCode::from(1);
    };
    if let Some(membership) = &membership {
        cluster::guard_process(
            membership,
            std::time::Duration::from_secs(args.connect_timeout_secs),
        );
    }
    let options = RunOptions {
        workers: job.workers,
        progress: !args.quiet,
        cluster: membership,
    };
    match run(&job, plan, &options) {
        Ok(summary) => {
            print_summary(&summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn print_summary(summary: &Summary) {
    let mut lines = Vec::new();
    for input in &summary.inputs {
        let mut line = format!("input {}: {} events", input.alias, input.events);
        if input.bad > 0 {
            line.push_str(&format!(", {} bad", input.bad));
        }
        if input.late > 0 {
            line.push_str(&format!(", {} late", input.late));
        }
        if input.out_of_order > 0 {
            line.push_str(&format!(", {} out of order", input.out_of_order));
        }
        if input.adjusted > 0 {
            line.push_str(&format!(", {} adjusted", input.adjusted));
        }
        if input.dropped > 0 {
            line.push_str(&format!(", {} dropped", input.dropped));
        }
        lines.push(line);
    }
    for (alias, rows) in &summary.outputs {
        lines.push(format!("output {alias}: {rows} rows"));
    }
    if summary.errors.is_empty() {
        lines.push("dead-lettered: 0".to_string());
    } else {
        let reasons: Vec<String> = summary
            .errors
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        lines.push(format!(
            "dead-lettered: {} ({})",
            summary.error_count(),
            reasons.join(", ")
        ));
    }
    lines.push(format!("elapsed: {:.3}s", summary.elapsed.as_secs_f64()));
    if let Some(bytes) = summary.peak_rss_bytes {
        lines.push(format!(
            "peak memory: {:.1} MiB",
            bytes as f64 / (1024.0 * 1024.0)
        ));
    }
    for line in lines {
        eprintln!("{line}");
    }
}

fn cmd_test(args: TestArgs) -> ExitCode {
    let mut cases = Vec::new();
    for dir in &args.dirs {
        if dir.join("case.json").exists() {
            cases.push(dir.clone());
        } else if let Ok(entries) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("case.json").exists())
                .collect();
            found.sort();
            cases.extend(found);
        } else {
            eprintln!("error: {} is not a case folder", dir.display());
            return ExitCode::from(1);
        }
    }
    let options = TestOptions {
        workers: args.workers.max(1),
        overrides: args.overrides.clone(),
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for case in &cases {
        let result = run_case(case, &options);
        match &result.outcome {
            Outcome::Pass => println!("PASS {}", result.name),
            Outcome::PassWithOverride(rule) => {
                println!("PASS {} (override: {rule})", result.name)
            }
            Outcome::Fail(report) => {
                println!("FAIL {}", result.name);
                for line in report.lines() {
                    println!("    {line}");
                }
            }
        }
        if result.outcome.passed() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
