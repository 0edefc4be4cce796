//! Running a job: timely workers, sources feeding the rendered dataflow,
//! sinks writing results, and the counters behind the progress line and the
//! end-of-run summary.
//!
//! Each worker builds the same dataflow from the shared [`Plan`]. A source
//! (one file or standard input) is read by one worker, chosen by source
//! index, which decodes events, evaluates `TIMESTAMP BY`, applies the
//! event-ordering policy ([`crate::time::Watermark`]) and feeds a
//! differential input at the event time, advancing the input to the
//! watermark as it goes. Workers that read nothing close their inputs at
//! once so they never hold time back. At end of input the watermark goes
//! to infinity and every result is final.
//!
//! Each output is written by worker 0, in event-time order: rows of one
//! time are written once the dataflow's frontier has passed that time,
//! sorted, so the output is the same for any number of workers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::collection::AsCollection;
use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::Concat;
use timely::dataflow::operators::{Operator, Probe};
use timely::dataflow::ProbeHandle;

use crate::config::{CompatLevel, Endpoint, ErrorPolicy, InputConfig, JobConfig};
use crate::connectors::file::{JsonLinesWriter, Part, ReadOptions};
use crate::connectors::kafka::{
    create_topic, partition_ids, KafkaError, KafkaInputSpec, KafkaOutputSpec, KafkaReader,
    KafkaWriter,
};
use crate::connectors::path_pattern::PathPattern;
use crate::connectors::{reasons, BadEvent, EventSource, Next, RowWriter};
use crate::expr::eval::{eval, eval_borrowed, EvalContext};
use crate::plan::{EmitMode, Plan, SourcePlan, ARRIVAL_COLUMN};
use crate::render::direct::{direct_inputs, DirectInput, ProjectedSplit};
use crate::render::{render, Failure, Keyed, SourceInput, Time};
use crate::time::{Admission, Watermark};
use crate::types::{DateTime, Name, Row, Value};

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Worker threads.
    pub workers: usize,
    /// Show a progress line on standard error when it is a terminal.
    pub progress: bool,
    /// This process's place in a multi-process cluster; `None` runs in one process.
    pub cluster: Option<crate::cluster::Membership>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An input or output could not be opened or read.
    #[error("{context}: {source}")]
    Io {
        /// Which input or output.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `on_error = "stop"` and an event failed.
    #[error(
        "stopped on a bad event ({0}); set on_error = \"skip\" to dead-letter bad events and go on"
    )]
    StoppedOnError(String),
    /// A worker thread failed.
    #[error("worker failed: {0}")]
    Worker(String),
}

/// Counts for one input.
#[derive(Clone, Debug, Default)]
pub struct InputSummary {
    /// The input alias.
    pub alias: String,
    /// Events read, good or bad.
    pub events: u64,
    /// Events that could not be decoded or timestamped.
    pub bad: u64,
    /// Events whose time the ordering policy adjusted.
    pub adjusted: u64,
    /// Events the ordering policy dropped.
    pub dropped: u64,
    /// Events found late (event time before arrival − late tolerance).
    pub late: u64,
    /// Events found out of order beyond the tolerance.
    pub out_of_order: u64,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Per source, in plan order.
    pub inputs: Vec<InputSummary>,
    /// Rows written per output alias.
    pub outputs: Vec<(String, u64)>,
    /// Dead-lettered events per reason.
    pub errors: BTreeMap<String, u64>,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Peak resident memory of the process, where the OS reports it.
    pub peak_rss_bytes: Option<u64>,
}

impl Summary {
    /// Total dead-lettered events.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[derive(Default)]
struct SourceCounters {
    late: AtomicU64,
    out_of_order: AtomicU64,
    events: AtomicU64,
    bad: AtomicU64,
    adjusted: AtomicU64,
    dropped: AtomicU64,
}

struct Shared {
    plan: Plan,
    query_text: String,
    compat: CompatLevel,
    time_fields: Vec<Option<crate::types::Name>>,
    modes: Vec<EmitMode>,
    on_error: ErrorPolicy,
    ordering: crate::config::EventOrdering,
    /// The arrival time of every event of a file input (when the run began).
    file_arrival: DateTime,
    /// How each source is opened by the workers that read it.
    sources: Vec<SourceSetup>,
    source_counters: Vec<SourceCounters>,
    /// Where each output goes; opened only by global worker 0, which
    /// writes every output once for the whole cluster.
    output_targets: Vec<OutputTarget>,
    /// Outputs the job declares but the query never writes (created empty).
    unwritten_outputs: Vec<(String, Endpoint)>,
    writers: Vec<Mutex<Option<Box<dyn RowWriter>>>>,
    rows_written: Vec<AtomicU64>,
    errors_endpoint: Endpoint,
    errors_kafka: Option<KafkaOutputSpec>,
    dead_letters: Mutex<Option<DeadLetters>>,
    errors_by_reason: Mutex<BTreeMap<String, u64>>,
    stop: AtomicBool,
    stop_reason: Mutex<Option<String>>,
    io_error: Mutex<Option<RunError>>,
    finished_workers: AtomicUsize,
    /// See [`Plan::retention_horizon`].
    horizon: Time,
    /// See [`Plan::uses_arrival_order`].
    arrival_order: bool,
}

/// How the workers of a run open one source.
struct SourceSetup {
    alias: String,
    kind: SourceKind,
    arrival_time_field: Option<String>,
    /// For a reference file: how to read it again when it changes.
    reload: Option<Reload>,
}

enum SourceKind {
    /// A file or standard input; `split` files are read by every worker,
    /// each decoding its own part.
    File {
        endpoint: Endpoint,
        format: crate::config::Format,
        split: bool,
    },
    /// Generated events; `split` streams are generated by every worker,
    /// each its own share.
    Generated {
        spec: crate::connectors::generate::GeneratorSpec,
        split: bool,
    },
    /// A Kafka topic: its partitions (sorted) are dealt to the workers of
    /// the cluster in turn, so each is read by exactly one worker.
    Kafka {
        spec: KafkaInputSpec,
        partitions: Vec<i32>,
    },
}

impl SourceKind {
    /// True when each of `peers` workers reads a share of the source, so
    /// its rows need no spreading over the workers.
    fn read_by_every_worker(&self, peers: usize) -> bool {
        match self {
            SourceKind::File { split, .. } | SourceKind::Generated { split, .. } => *split,
            SourceKind::Kafka { partitions, .. } => partitions.len() >= peers,
        }
    }
}

/// Where dead letters go: JSON lines (a file or standard error) or a topic.
enum DeadLetters {
    Lines(JsonLinesWriter),
    Topic(KafkaWriter),
}

/// Where an output goes.
enum OutputTarget {
    Endpoint(Endpoint),
    Kafka(KafkaOutputSpec),
}

/// Re-reading a reference file that changes while the job runs.
#[derive(Clone)]
struct Reload {
    path: std::path::PathBuf,
    /// `{date}/{time}`: the newest file at or before now is the table.
    pattern: Option<PathPattern>,
    format: crate::config::Format,
    options: ReadOptions,
    every: Duration,
}

/// A reference table kept after its first load, to diff a new version against.
struct Table {
    rows: Vec<Row>,
    /// The file the rows came from, and its modification time.
    modified: Option<(std::path::PathBuf, std::time::SystemTime)>,
    checked: Instant,
}

/// How long a live partition must go without a message before its
/// watermark follows the wall clock. A partition delivering a backlog is
/// not idle: its next messages were enqueued in the past, not after now.
const QUIET_BEFORE_WALL_CLOCK: Duration = Duration::from_secs(1);

/// Most dataflow steps a worker takes waiting for the dataflow to catch up
/// with what it fed (see `run_worker`).
const CATCH_UP_STEPS: usize = 1000;

/// How many batches a worker may feed beyond what the dataflow's outputs
/// have caught up with: a worker ahead of the others (worker 0 also
/// writes every output, so it reads more slowly) then parks until they
/// catch up, rather than reading on and piling up state that waits for
/// them.
const BATCHES_AHEAD: usize = 4;

/// Longest a worker waits for the dataflow to catch up with the batches
/// it fed [`BATCHES_AHEAD`] batches ago.
const CATCH_UP_WAIT: Duration = Duration::from_millis(50);

/// How long a worker waiting to catch up parks at a time (it wakes early
/// when the dataflow has work for it).
const CATCH_UP_PARK: Duration = Duration::from_micros(500);

/// Events a worker feeds before stepping the dataflow.
const BATCH: usize = 4096;

/// Runs `plan` (bound from `job`) to the end of its inputs.
pub fn run(job: &JobConfig, plan: Plan, options: &RunOptions) -> Result<Summary, RunError> {
    let started = Instant::now();
    let read_options = ReadOptions {
        lower_case_names: job.compat == CompatLevel::V1_0,
        bool_as_bit: job.compat >= CompatLevel::V1_2,
    };
    let mut sources = Vec::with_capacity(plan.sources.len());
    for source in &plan.sources {
        let input = find_input(job, source)?;
        let io_error = |e: io::Error| RunError::Io {
            context: format!("input \"{}\"", input.alias),
            source: e,
        };
        let pattern = match (&input.endpoint, source.reference) {
            (Endpoint::File(path), true) => {
                PathPattern::parse(path, &input.date_time_formats.0, &input.date_time_formats.1)
            }
            _ => None,
        };
        let endpoint =
            match &pattern {
                Some(p) => match p.latest(DateTime::now()) {
                    Some((path, _)) => Endpoint::File(path),
                    None => return Err(io_error(io::Error::new(
                        io::ErrorKind::NotFound,
                        "no reference file matches the {date}/{time} path pattern at or before now",
                    ))),
                },
                None => input.endpoint.clone(),
            };
        let kind = match (&input.generator, &input.kafka) {
            (_, Some(spec)) => SourceKind::Kafka {
                partitions: partition_ids(
                    &spec.bootstrap,
                    &spec.topic,
                    &spec.properties,
                    spec.connect_timeout,
                )
                .map_err(|e| io_error(io::Error::other(e)))?,
                spec: spec.clone(),
            },
            (Some(spec), None) => SourceKind::Generated {
                spec: spec.clone(),
                split: input.split,
            },
            (None, None) => {
                // Fail before the workers start when a file cannot be read.
                if let Endpoint::File(path) = &endpoint {
                    std::fs::File::open(path).map_err(|e| {
                        io_error(io::Error::new(
                            e.kind(),
                            format!("cannot open {}: {e}", path.display()),
                        ))
                    })?;
                }
                SourceKind::File {
                    endpoint: endpoint.clone(),
                    format: input.format,
                    split: input.split && !source.reference,
                }
            }
        };
        let reload = match (&endpoint, source.reference, input.refresh_ms) {
            (Endpoint::File(path), true, Some(ms)) => Some(Reload {
                path: path.clone(),
                pattern,
                format: input.format,
                options: read_options,
                every: Duration::from_millis(ms.max(10)),
            }),
            _ => None,
        };
        sources.push(SourceSetup {
            alias: input.alias.clone(),
            kind,
            arrival_time_field: input.arrival_time_field.clone(),
            reload,
        });
    }
    let output_targets: Vec<OutputTarget> = plan
        .outputs
        .iter()
        .map(|output| {
            let declared = job
                .outputs
                .iter()
                .find(|o| o.alias.eq_ignore_ascii_case(&output.name));
            match declared {
                Some(o) => match &o.kafka {
                    Some(spec) => OutputTarget::Kafka(spec.clone()),
                    None => OutputTarget::Endpoint(o.endpoint.clone()),
                },
                None => OutputTarget::Endpoint(Endpoint::Std),
            }
        })
        .collect();
    let unwritten_outputs = job
        .outputs
        .iter()
        .filter(|declared| {
            declared.kafka.is_none()
                && !plan
                    .outputs
                    .iter()
                    .any(|o| o.name.eq_ignore_ascii_case(&declared.alias))
        })
        .map(|declared| (declared.alias.clone(), declared.endpoint.clone()))
        .collect();
    let time_fields = shared_time_fields(job, &plan);
    let modes: Vec<EmitMode> = plan
        .outputs
        .iter()
        .map(|output| {
            job.outputs
                .iter()
                .find(|o| o.alias.eq_ignore_ascii_case(&output.name))
                .map(|o| o.emit)
                .unwrap_or_default()
        })
        .collect();

    let shared = Arc::new(Shared {
        source_counters: plan
            .sources
            .iter()
            .map(|_| SourceCounters::default())
            .collect(),
        rows_written: plan.outputs.iter().map(|_| AtomicU64::new(0)).collect(),
        writers: plan.outputs.iter().map(|_| Mutex::new(None)).collect(),
        horizon: plan.retention_horizon(),
        arrival_order: plan.uses_arrival_order(),
        plan,
        query_text: job.query.clone(),
        compat: job.compat,
        time_fields,
        modes,
        on_error: job.on_error,
        ordering: job.ordering,
        file_arrival: DateTime::now(),
        sources,
        output_targets,
        unwritten_outputs,
        errors_endpoint: job.errors.clone(),
        errors_kafka: job.errors_kafka.clone(),
        dead_letters: Mutex::new(None),
        errors_by_reason: Mutex::new(BTreeMap::new()),
        stop: AtomicBool::new(false),
        stop_reason: Mutex::new(None),
        io_error: Mutex::new(None),
        finished_workers: AtomicUsize::new(0),
    });
    let workers = options.workers.max(1);

    let worker_shared = Arc::clone(&shared);
    let work = move |worker: &mut timely::worker::Worker| {
        let shared = Arc::clone(&worker_shared);
        run_worker(worker, &shared);
        shared.finished_workers.fetch_add(1, Ordering::SeqCst);
    };
    let guards = match options.cluster.as_ref().filter(|m| m.processes > 1) {
        // A cluster: connected by Eddy (see `cluster::connect_peers`).
        Some(membership) => {
            let connected = crate::cluster::connect_peers(membership).and_then(|sockets| {
                crate::cluster::cluster_allocators(workers, membership, sockets)
            });
            let (builders, guard) = connected
                .map_err(|e| RunError::Worker(format!("failed to connect the cluster: {e}")))?;
            timely::execute::execute_from(builders, guard, worker_config(), work)
        }
        None => timely::execute(
            timely::Config {
                communication: timely::CommunicationConfig::Process(workers),
                worker: worker_config(),
            },
            work,
        ),
    }
    .map_err(RunError::Worker)?;

    let show_progress = options.progress && io::stderr().is_terminal();
    if show_progress {
        let mut last = (Instant::now(), 0u64);
        while shared.finished_workers.load(Ordering::SeqCst) < workers {
            std::thread::sleep(Duration::from_millis(250));
            let events: u64 = shared
                .source_counters
                .iter()
                .map(|c| c.events.load(Ordering::Relaxed))
                .sum();
            let errors: u64 = shared
                .errors_by_reason
                .lock()
                .map(|m| m.values().sum())
                .unwrap_or(0);
            let rate = (events - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
            last = (Instant::now(), events);
            eprint!("\r\x1b[2Kevents read {events}  {rate:.0} events/s  errors {errors}");
        }
        eprint!("\r\x1b[2K");
    }
    for result in guards.join() {
        result.map_err(RunError::Worker)?;
    }
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| RunError::Worker("workers still hold the job state".into()))?;
    if let Some(error) = shared.io_error.into_inner().ok().flatten() {
        return Err(error);
    }
    for (writer, output) in shared.writers.iter().zip(&shared.plan.outputs) {
        if let Ok(mut slot) = writer.lock() {
            if let Some(w) = slot.as_mut() {
                flush_quietly(w.as_mut()).map_err(|e| RunError::Io {
                    context: format!("output \"{}\"", output.name),
                    source: e,
                })?;
            }
        }
    }
    if let Ok(mut slot) = shared.dead_letters.lock() {
        let flushed = match slot.as_mut() {
            Some(DeadLetters::Lines(w)) => w.flush(),
            Some(DeadLetters::Topic(w)) => w.flush().map_err(io::Error::other),
            None => Ok(()),
        };
        flushed.map_err(|e| RunError::Io {
            context: "error output".to_string(),
            source: e,
        })?;
    }
    if let Some(reason) = shared.stop_reason.into_inner().ok().flatten() {
        return Err(RunError::StoppedOnError(reason));
    }
    let readers_aliases: Vec<String> = shared
        .plan
        .sources
        .iter()
        .map(|s| s.input.clone())
        .collect();
    Ok(Summary {
        inputs: shared
            .source_counters
            .iter()
            .zip(readers_aliases)
            .map(|(c, alias)| InputSummary {
                alias,
                events: c.events.load(Ordering::Relaxed),
                bad: c.bad.load(Ordering::Relaxed),
                adjusted: c.adjusted.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
                late: c.late.load(Ordering::Relaxed),
                out_of_order: c.out_of_order.load(Ordering::Relaxed),
            })
            .collect(),
        outputs: shared
            .plan
            .outputs
            .iter()
            .zip(&shared.rows_written)
            .map(|(o, n)| (o.name.clone(), n.load(Ordering::Relaxed)))
            .collect(),
        errors: shared.errors_by_reason.into_inner().unwrap_or_default(),
        elapsed: started.elapsed(),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// Per plan output, the column that receives each row's event time, if the
/// job asks for one (`timestamp_field`).
fn shared_time_fields(job: &JobConfig, plan: &Plan) -> Vec<Option<crate::types::Name>> {
    plan.outputs
        .iter()
        .map(|output| {
            job.outputs
                .iter()
                .find(|o| o.alias.eq_ignore_ascii_case(&output.name))
                .and_then(|o| o.timestamp_field.as_deref())
                .map(crate::types::Name::from)
        })
        .collect()
}

/// Peak resident set size (`VmHWM` in /proc/self/status on Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn find_input<'a>(job: &'a JobConfig, source: &SourcePlan) -> Result<&'a InputConfig, RunError> {
    job.inputs
        .iter()
        .find(|i| i.alias.eq_ignore_ascii_case(&source.input))
        .ok_or_else(|| RunError::Io {
            context: format!("input \"{}\"", source.input),
            source: io::Error::new(io::ErrorKind::NotFound, "the job declares no such input"),
        })
}

/// A broken pipe on standard output means the reader has gone: not an error.
fn flush_quietly(writer: &mut dyn RowWriter) -> io::Result<()> {
    match writer.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Global worker 0 opens every output and the error output: results and
/// dead letters are written once for the whole cluster.
fn open_outputs(shared: &Shared) -> Result<(), RunError> {
    for ((slot, target), output) in shared
        .writers
        .iter()
        .zip(&shared.output_targets)
        .zip(&shared.plan.outputs)
    {
        let failed = |e: io::Error| RunError::Io {
            context: format!("output \"{}\"", output.name),
            source: e,
        };
        let writer: Box<dyn RowWriter> = match target {
            OutputTarget::Endpoint(endpoint) => {
                Box::new(JsonLinesWriter::create(endpoint).map_err(failed)?)
            }
            OutputTarget::Kafka(spec) => {
                if let Some(partitions) = spec.create_partitions {
                    let exists = partition_ids(
                        &spec.bootstrap,
                        &spec.topic,
                        &spec.properties,
                        spec.connect_timeout,
                    );
                    if let Err(KafkaError::UnknownTopic { .. }) = exists {
                        create_topic(&spec.bootstrap, &spec.topic, partitions)
                            .map_err(|e| failed(io::Error::other(e)))?;
                    }
                }
                Box::new(KafkaWriter::open(spec).map_err(|e| failed(io::Error::other(e)))?)
            }
        };
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(writer);
        }
    }
    for (alias, endpoint) in &shared.unwritten_outputs {
        if let Endpoint::File(_) = endpoint {
            JsonLinesWriter::create(endpoint)
                .and_then(|mut w| w.flush())
                .map_err(|e| RunError::Io {
                    context: format!("output \"{alias}\""),
                    source: e,
                })?;
        }
    }
    let failed = |e: io::Error| RunError::Io {
        context: "error output".to_string(),
        source: e,
    };
    let dead_letters = match (&shared.errors_kafka, &shared.errors_endpoint) {
        (Some(spec), _) => {
            DeadLetters::Topic(KafkaWriter::open(spec).map_err(|e| failed(io::Error::other(e)))?)
        }
        (None, Endpoint::Std) => {
            DeadLetters::Lines(JsonLinesWriter::from_writer(Box::new(io::stderr())))
        }
        (None, endpoint) => DeadLetters::Lines(JsonLinesWriter::create(endpoint).map_err(failed)?),
    };
    if let Ok(mut slot) = shared.dead_letters.lock() {
        *slot = Some(dead_letters);
    }
    Ok(())
}

/// Opens what worker `index` of `peers` reads of source `source_index`:
/// its part of a split source, or the whole source when it is the one
/// worker that reads it. `None`: this worker reads nothing of it.
fn open_source(
    shared: &Shared,
    source_index: usize,
    index: usize,
    peers: usize,
) -> Option<io::Result<(EventSource, Vec<i32>)>> {
    let setup = &shared.sources[source_index];
    let read_options = ReadOptions {
        lower_case_names: shared.compat == CompatLevel::V1_0,
        bool_as_bit: shared.compat >= CompatLevel::V1_2,
    };
    let reads_whole = source_index % peers == index;
    match &setup.kind {
        SourceKind::Generated { spec, split } => {
            let (part, parts) = if *split {
                (index as u64, peers as u64)
            } else if reads_whole {
                (0, 1)
            } else {
                return None;
            };
            Some(Ok((
                EventSource::Generated(crate::connectors::generate::Generator::part(
                    spec.clone(),
                    part,
                    parts,
                )),
                Vec::new(),
            )))
        }
        SourceKind::File {
            endpoint,
            format,
            split,
        } => {
            let part = if *split {
                Part {
                    index,
                    parts: peers,
                }
            } else if reads_whole {
                Part::WHOLE
            } else {
                return None;
            };
            Some(EventSource::open(endpoint, *format, read_options, part).map(|s| (s, Vec::new())))
        }
        SourceKind::Kafka { spec, partitions } => {
            let mine: Vec<i32> = partitions
                .iter()
                .enumerate()
                .filter(|(i, _)| i % peers == index)
                .map(|(_, p)| *p)
                .collect();
            if mine.is_empty() {
                return None;
            }
            Some(
                KafkaReader::open(spec, &mine, read_options)
                    .map(|reader| (EventSource::Kafka(Box::new(reader)), mine))
                    .map_err(io::Error::other),
            )
        }
    }
}

/// Longest a written row waits before its output is flushed.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Writes a result sink: rows of each time are held (with a capability)
/// until the frontier passes the time, then written in order and flushed
/// (at most every [`FLUSH_EVERY`]), and only then is the capability released, so a probe on the returned
/// stream tells every worker which times are durably written.
fn result_sink<'scope>(
    rows: timely::dataflow::Stream<'scope, Time, Vec<(Row, Time, isize)>>,
    shared: &Arc<Shared>,
    output_index: usize,
) -> timely::dataflow::Stream<'scope, Time, Vec<()>> {
    // With one worker the writer's thread encodes anyway: rows go as they are.
    if rows.scope().peers() == 1 || !encodes_on_workers(shared, output_index) {
        return write_sink(rows, shared, output_index);
    }
    let encode_shared = Arc::clone(shared);
    // Lines are allocated at the length of the last one: rows of one
    // output are alike.
    let mut line_capacity = 0;
    let encoded = rows.map(move |(row, time, diff): (Row, Time, isize)| {
        let row = output_row(&encode_shared, output_index, row, time);
        let mut line = Vec::with_capacity(line_capacity);
        // Encoding a record into memory cannot fail; should it, the empty
        // line makes the writer encode the row itself.
        if crate::connectors::file::encode_json_line(&row, &mut line).is_err() {
            line.clear();
        }
        line_capacity = line.len().next_power_of_two();
        (EncodedRow { row, line }, time, diff)
    });
    write_sink(encoded, shared, output_index)
}

/// The sink operator of [`result_sink`], over plain or encoded rows.
fn write_sink<'scope, T: SinkItem>(
    rows: timely::dataflow::Stream<'scope, Time, Vec<(T, Time, isize)>>,
    shared: &Arc<Shared>,
    output_index: usize,
) -> timely::dataflow::Stream<'scope, Time, Vec<()>> {
    let sink_shared = Arc::clone(shared);
    let name = format!("Sink({})", shared.plan.outputs[output_index].name);
    let scope = rows.scope();
    rows.unary_frontier(
        Exchange::new(|_: &(T, Time, isize)| 0),
        &name,
        move |_initial, info| {
            let activator = scope.activator_for(info.address);
            let mut pending: BTreeMap<Time, Vec<(T, isize)>> = BTreeMap::new();
            let mut held: Option<timely::dataflow::operators::Capability<Time>> = None;
            // Rows written but not yet flushed hold back this time.
            let mut unflushed: Option<timely::dataflow::operators::Capability<Time>> = None;
            let mut last_flush = Instant::now();
            move |(input, frontier),
                  output: &mut timely::dataflow::operators::generic::OutputBuilderSession<
                '_,
                Time,
                timely::container::CapacityContainerBuilder<Vec<()>>,
            >| {
                input.for_each_stamp(|stamp, batches| {
                    if let Some(retained) = stamp.retain_least(output.output_index()) {
                        match &held {
                            Some(cap) if cap.time() <= retained.time() => {}
                            _ => held = Some(retained),
                        }
                    }
                    for batch in batches {
                        for (row, time, diff) in batch.drain(..) {
                            pending.entry(time).or_default().push((row, diff));
                        }
                    }
                });
                let mut first_written = None;
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let time = *entry.key();
                    let rows = entry.remove();
                    write_time(&sink_shared, output_index, time, rows);
                    first_written.get_or_insert(time);
                }
                if let (Some(time), None, Some(cap)) = (first_written, &unflushed, &held) {
                    unflushed = Some(cap.delayed(&time));
                }
                // Flushing waits for the broker's acknowledgements: do it at
                // most every FLUSH_EVERY (and at the end), not per time.
                if unflushed.is_some() {
                    let since = last_flush.elapsed();
                    if since >= FLUSH_EVERY || frontier.frontier().is_empty() {
                        flush_output(&sink_shared, output_index);
                        unflushed = None;
                        last_flush = Instant::now();
                    } else {
                        activator.activate_after(FLUSH_EVERY - since);
                    }
                }
                match pending.keys().next() {
                    Some(first) => {
                        if let Some(cap) = held.as_mut() {
                            if cap.time() < first {
                                cap.downgrade(first);
                            }
                        }
                    }
                    None => held = None,
                }
            }
        },
    )
}

/// Merge effort an idle arrangement spends per scheduling (differential's
/// `idle_merge_effort`): arrangements finish the merging their batches
/// defer while the job waits for events, instead of leaving it to the
/// next change, whose update would then wait for it.
const IDLE_MERGE_EFFORT: isize = 1_000;

/// Every worker's configuration: differential's idle merging on.
pub fn worker_config() -> timely::WorkerConfig {
    let mut config = timely::WorkerConfig::default();
    differential_dataflow::configure(
        &mut config,
        &differential_dataflow::Config::default().idle_merge_effort(Some(IDLE_MERGE_EFFORT)),
    );
    config
}

fn run_worker(worker: &mut timely::worker::Worker, shared: &Arc<Shared>) {
    let index = worker.index();
    let peers = worker.peers();
    if index == 0 {
        if let Err(error) = open_outputs(shared) {
            if let Ok(mut slot) = shared.io_error.lock() {
                slot.get_or_insert(error);
            }
            shared.stop.store(true, Ordering::SeqCst);
        }
    }
    let mut sessions: Vec<FeedInput> = Vec::new();
    let mut bad_events: Option<InputSession<Time, String, isize>> = None;
    // Advances as the worker's inputs do: only the outputs' probes are
    // watched for back-pressure.
    let probe: ProbeHandle<Time> = ProbeHandle::new();
    // The outputs' frontier once written and flushed: what sources may commit.
    let flushed: ProbeHandle<Time> = ProbeHandle::new();
    // The stream inputs' frontier across the cluster: what reference inputs
    // follow, so they never hold time back.
    let streams: ProbeHandle<Time> = ProbeHandle::new();
    worker.dataflow::<Time, _, _>(|scope| {
        let mut collections = Vec::new();
        let direct = direct_inputs(&shared.plan);
        for (source, direct) in shared.plan.sources.iter().zip(direct) {
            if let Some(direct) = direct {
                let (session, collection) = scope.new_collection::<Keyed, isize>();
                let collection = collection.inner.probe_with(&streams).as_collection();
                sessions.push(FeedInput::Keyed {
                    session,
                    direct,
                    split: None,
                });
                collections.push(SourceInput::Keyed(collection));
                continue;
            }
            let (session, mut collection) = scope.new_collection::<Row, isize>();
            if !source.reference {
                collection = collection.inner.probe_with(&streams).as_collection();
            }
            sessions.push(FeedInput::Rows(session));
            collections.push(SourceInput::Rows(collection));
        }
        let read_in_parallel: Vec<bool> = shared
            .sources
            .iter()
            .map(|setup| setup.kind.read_by_every_worker(peers))
            .collect();
        let rendered = render(
            scope,
            &shared.plan,
            &shared.query_text,
            collections,
            &read_in_parallel,
            &shared.modes,
        );
        for (output_index, rows) in rendered.outputs.into_iter().enumerate() {
            result_sink(rows.inner.probe_with(&probe), shared, output_index).probe_with(&flushed);
        }
        let failures = rendered.failures.probe_with(&probe).flat_map(
            |(failure, time, diff): (Failure, Time, isize)| {
                (diff > 0).then(|| failure_record(&failure, time).to_string())
            },
        );
        let (bad_session, bad_input) = scope.new_collection::<String, isize>();
        bad_events = Some(bad_session);
        let failure_shared = Arc::clone(shared);
        bad_input
            .inner
            .flat_map(|(record, _time, _diff): (String, Time, isize)| Some(record))
            .concat(failures)
            .sink(
                Exchange::new(|_: &String| 0),
                "DeadLetters",
                move |(input, _frontier)| {
                    input.for_each(|_capability, data| {
                        for record in data.drain(..) {
                            write_dead_letter(&failure_shared, &record);
                        }
                    });
                },
            );
    });
    let Some(mut bad_events) = bad_events else {
        return;
    };

    let mut feeds: Vec<Feed> = Vec::new();
    for (source_index, session) in sessions.into_iter().enumerate() {
        match open_source(shared, source_index, index, peers) {
            None => drop(session),
            Some(Err(e)) => {
                record_io_error(
                    shared,
                    &format!("input \"{}\"", shared.sources[source_index].alias),
                    e,
                );
                drop(session);
            }
            Some(Ok((reader, partitions))) => {
                let (session, reader) = project_direct(shared, source_index, session, reader);
                let setup = &shared.sources[source_index];
                let live = matches!(reader, EventSource::Kafka(_));
                feeds.push(Feed {
                    reported: (0, 0),
                    events_read: 0,
                    source_index,
                    session,
                    reader,
                    alias: setup.alias.clone(),
                    arrival_time_field: setup.arrival_time_field.clone(),
                    reload: setup.reload.clone(),
                    clocks: partitions
                        .iter()
                        .map(|p| (*p, Watermark::new(shared.ordering)))
                        .collect(),
                    live,
                    uncommitted: BTreeMap::new(),
                    next_offsets: BTreeMap::new(),
                    committed: BTreeMap::new(),
                    last_commit: Instant::now(),
                    // Opening counts as hearing from every partition: the
                    // first fetch has a second to arrive before a partition
                    // with nothing to deliver counts as idle.
                    last_heard: partitions.iter().map(|p| (*p, Instant::now())).collect(),
                    substreams: HashMap::new(),
                    loaded: Vec::new(),
                    table: None,
                })
            }
        }
    }

    let mut bad: Vec<String> = Vec::new();
    // Ended Kafka inputs: their last offsets are committed once every
    // result is written.
    let mut finished: Vec<(EventSource, BTreeMap<i32, i64>)> = Vec::new();
    // The inputs' times after the last few batches (see `BATCHES_AHEAD`).
    let mut fed_times: VecDeque<Time> = VecDeque::new();
    while !feeds.is_empty() && !shared.stop.load(Ordering::Relaxed) {
        let mut fed = 0;
        feeds.retain_mut(
            |feed| match feed_batch(feed, shared, &streams, &flushed, &mut bad) {
                Fed::Events(n) => {
                    fed += n;
                    true
                }
                Fed::End => {
                    if feed.live {
                        let reader = std::mem::replace(&mut feed.reader, EventSource::Closed);
                        finished.push((reader, std::mem::take(&mut feed.next_offsets)));
                    }
                    false
                }
            },
        );
        for record in bad.drain(..) {
            bad_events.update(record, 1);
        }
        let fed_up_to = feeds.iter().map(|f| *f.session.time()).min();
        if let Some(time) = fed_up_to {
            if time > *bad_events.time() {
                bad_events.advance_to(time);
            }
        }
        bad_events.flush();
        if fed == 0 {
            // Every live input is quiet: let the dataflow work, then wait a little.
            worker.step_or_park(Some(Duration::from_millis(2)));
        } else {
            // Back-pressure: let the dataflow catch up with what was fed
            // before reading more, so buffered input stays bounded. The wait
            // is bounded too: another worker's quiet input may hold the
            // frontier back.
            worker.step();
            if let Some(time) = fed_up_to {
                for _ in 0..CATCH_UP_STEPS {
                    if !probe.less_than(&time) {
                        break;
                    }
                    worker.step();
                }
                // Batches in flight are fine; more than a few are not.
                fed_times.push_back(time);
                if fed_times.len() > BATCHES_AHEAD {
                    fed_times.pop_front();
                }
                if let Some(&behind) = fed_times.front() {
                    let started = Instant::now();
                    while probe.less_than(&behind) && started.elapsed() < CATCH_UP_WAIT {
                        worker.step_or_park(Some(CATCH_UP_PARK));
                    }
                }
            }
        }
    }
    drop(bad_events);
    drop(feeds);
    // Drain: step until every dataflow has finished (or the job stops).
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if !worker.step_or_park(Some(Duration::from_millis(20))) {
            break;
        }
    }
    for (mut reader, next_offsets) in finished {
        if let EventSource::Kafka(reader) = &mut reader {
            let offsets: Vec<(i32, i64)> = next_offsets.into_iter().collect();
            if let Err(e) = reader.commit(&offsets) {
                eprintln!("warning: {e}");
            }
        }
    }
}

struct Feed {
    /// A live source (Kafka): its partitions' watermarks follow the wall
    /// clock, and it commits offsets.
    live: bool,
    /// Per partition, the offsets fed and not yet safe to commit, each
    /// with the time it entered the dataflow at.
    uncommitted: BTreeMap<i32, VecDeque<(i64, Time)>>,
    /// Per partition, the offset after the last message read.
    next_offsets: BTreeMap<i32, i64>,
    /// Per partition, the last offset committed.
    committed: BTreeMap<i32, i64>,
    last_commit: Instant,
    /// Per partition of a live source, when a batch last brought a message
    /// from it, or when the source was opened (see
    /// [`QUIET_BEFORE_WALL_CLOCK`]).
    last_heard: BTreeMap<i32, Instant>,
    /// Late and out-of-order counts already added to the source's counters.
    reported: (u64, u64),
    /// Events polled so far: the arrival position of events whose source
    /// has none of its own.
    events_read: i64,
    source_index: usize,
    session: FeedInput,
    reader: EventSource,
    alias: String,
    arrival_time_field: Option<String>,
    reload: Option<Reload>,
    /// One watermark per input partition this worker reads.
    clocks: BTreeMap<i32, Watermark>,
    /// With `TIMESTAMP BY ... OVER`: one watermark per substream key.
    substreams: HashMap<Vec<Value>, Watermark>,
    /// Reference rows read so far (kept only when the file is watched).
    loaded: Vec<Row>,
    /// A watched reference table after its first load.
    table: Option<Table>,
}

/// Where a feed puts its events: as rows, or, for a source read directly
/// by an aggregate, as that aggregate's keys and argument slots (see
/// [`crate::render::direct`]).
enum FeedInput {
    Rows(InputSession<Time, Row, isize>),
    Keyed {
        session: InputSession<Time, Keyed, isize>,
        direct: DirectInput,
        /// With a reader that gives projected values ([`project_direct`]):
        /// how they become keys and argument slots.
        split: Option<ProjectedSplit>,
    },
}

impl FeedInput {
    fn update_at(&mut self, row: Row, time: Time, diff: isize) {
        match self {
            FeedInput::Rows(session) => session.update_at(row, time, diff),
            FeedInput::Keyed {
                session, direct, ..
            } => session.update_at(direct.extract(row), time, diff),
        }
    }

    fn time(&self) -> &Time {
        match self {
            FeedInput::Rows(session) => session.time(),
            FeedInput::Keyed { session, .. } => session.time(),
        }
    }

    fn advance_to(&mut self, time: Time) {
        match self {
            FeedInput::Rows(session) => session.advance_to(time),
            FeedInput::Keyed { session, .. } => session.advance_to(time),
        }
    }

    fn flush(&mut self) {
        match self {
            FeedInput::Rows(session) => session.flush(),
            FeedInput::Keyed { session, .. } => session.flush(),
        }
    }
}

/// Has the file reader of a keyed feed decode only the aggregate's columns
/// and the event-time field ([`EventReader::project`]) when nothing else
/// of the event is needed: a JSON-lines file, event time from arrival or a
/// plain column, no `OVER` substreams, no `CREATE TABLE` schema and no
/// arrival-time field. Other feeds are returned as they are.
///
/// [`EventReader::project`]: crate::connectors::file::EventReader::project
fn project_direct(
    shared: &Shared,
    source_index: usize,
    feed: FeedInput,
    reader: EventSource,
) -> (FeedInput, EventSource) {
    let FeedInput::Keyed {
        session,
        direct,
        split: None,
    } = feed
    else {
        return (feed, reader);
    };
    let source = &shared.plan.sources[source_index];
    let plain = source.over.is_empty()
        && source.schema.is_empty()
        && !source.reference
        && shared.sources[source_index].arrival_time_field.is_none();
    let projected = if plain {
        direct.projection(source.timestamp_by.as_ref())
    } else {
        None
    };
    match (projected, reader) {
        (Some((projection, split)), EventSource::Direct(file)) => {
            let file = file.project(projection);
            let split = file.projects().then_some(split);
            let feed = FeedInput::Keyed {
                session,
                direct,
                split,
            };
            (feed, EventSource::Direct(file))
        }
        (_, reader) => {
            let feed = FeedInput::Keyed {
                session,
                direct,
                split: None,
            };
            (feed, reader)
        }
    }
}

/// What one call of [`feed_batch`] did.
enum Fed {
    /// Read this many events (0: the input is quiet for now).
    Events(usize),
    /// The input has ended; its session is dropped, which closes it.
    End,
}

/// Feeds up to [`BATCH`] events, then advances the input to its watermark
/// (the least over its partitions). Bad events become dead-letter records
/// in `bad`.
fn feed_batch(
    feed: &mut Feed,
    shared: &Shared,
    streams: &ProbeHandle<Time>,
    flushed: &ProbeHandle<Time>,
    bad_out: &mut Vec<String>,
) -> Fed {
    let source: &SourcePlan = &shared.plan.sources[feed.source_index];
    let counters = &shared.source_counters[feed.source_index];
    if feed.table.is_some() {
        return follow_reference(feed, streams);
    }
    let ordering = shared.ordering;
    let alias = feed.alias.clone();
    let mut read = 0;
    let batch_started = Instant::now();
    let mut ended = false;
    for _ in 0..BATCH {
        let polled = match feed.reader.poll() {
            Ok(Next::Event(polled)) => polled,
            Ok(Next::Projected(values, time)) => {
                // A well-formed event of a projected file (no offsets, no
                // arrival time, one partition): only its time is judged.
                read += 1;
                feed.events_read += 1;
                counters.events.fetch_add(1, Ordering::Relaxed);
                let event_time = time.unwrap_or(shared.file_arrival);
                let clock = feed
                    .clocks
                    .entry(0)
                    .or_insert_with(|| Watermark::new(ordering));
                if let Some(t) = admitted(clock.admit(event_time, None), counters) {
                    match &mut feed.session {
                        FeedInput::Keyed {
                            session,
                            split: Some(split),
                            ..
                        } => session.update_at(split.split(values), t.ticks(), 1),
                        _ => unreachable!("invariant: only keyed feeds read projected events"),
                    }
                }
                continue;
            }
            Ok(Next::Pending) => break,
            Ok(Next::End) if source.reference && feed.reload.is_some() => {
                let mut rows = std::mem::take(&mut feed.loaded);
                rows.sort();
                let modified = feed.reload.as_ref().and_then(|r| {
                    let at = std::fs::metadata(&r.path).and_then(|m| m.modified()).ok()?;
                    Some((r.path.clone(), at))
                });
                feed.table = Some(Table {
                    rows,
                    modified,
                    checked: Instant::now(),
                });
                feed.session.flush();
                return Fed::Events(read);
            }
            Ok(Next::End) => {
                ended = true;
                break;
            }
            Err(e) => {
                record_io_error(shared, &format!("input \"{alias}\""), e);
                return Fed::End;
            }
        };
        read += 1;
        if feed.live {
            feed.last_heard.insert(polled.partition, batch_started);
        }
        feed.events_read += 1;
        let polled_sequence = polled.sequence;
        counters.events.fetch_add(1, Ordering::Relaxed);
        if let Some(offset) = polled.offset {
            // Until it is fed at its own time, the event counts at the
            // input's current time (a bad or dropped event is done then).
            feed.next_offsets.insert(polled.partition, offset + 1);
            feed.uncommitted
                .entry(polled.partition)
                .or_default()
                .push_back((offset, *feed.session.time()));
        }
        let partition = polled.partition;
        let tracked = polled.offset.is_some();
        let (from_partition, at_offset) = (polled.partition, polled.offset);
        let position = || match at_offset {
            Some(offset) => format!("partition {from_partition} offset {offset}"),
            None => format!("event {}", counters.events.load(Ordering::Relaxed)),
        };
        let mut reject = |bad: BadEvent| {
            counters.bad.fetch_add(1, Ordering::Relaxed);
            bad_out.push(dead_letter_input(shared, &alias, &bad).to_string());
        };
        let row = match polled
            .item
            .and_then(|row| apply_schema(row, &source.schema, shared.compat))
        {
            Ok(row) => row,
            Err(mut bad) => {
                if bad.position.is_empty() {
                    bad.position = position();
                }
                reject(bad);
                continue;
            }
        };
        if source.reference {
            // Reference rows exist at every time and never advance it.
            if feed.reload.is_some() {
                feed.loaded.push(row.clone());
            }
            feed.session.update_at(row, Time::MIN, 1);
            continue;
        }
        let arrival = match &feed.arrival_time_field {
            Some(field) => match row.get(field).and_then(as_datetime) {
                Some(t) => Some(t),
                None => {
                    reject(BadEvent {
                        position: position(),
                        reason: reasons::INVALID_TIMESTAMP,
                        message: format!(
                            "arrival time field \"{field}\" is missing or not a datetime"
                        ),
                        raw: row.to_json().to_string(),
                    });
                    continue;
                }
            },
            None => polled.arrival,
        };
        let event_time = match &source.timestamp_by {
            None => arrival.unwrap_or(shared.file_arrival),
            Some(expr) => {
                let ctx = EvalContext {
                    timestamp: arrival.unwrap_or(shared.file_arrival),
                };
                match eval_borrowed(expr, &row, &ctx).map(|v| as_datetime(&v)) {
                    Ok(Some(t)) => t,
                    Ok(None) | Err(_) => {
                        reject(BadEvent {
                            position: position(),
                            reason: reasons::INVALID_TIMESTAMP,
                            message: format!(
                                "TIMESTAMP BY {expr} is not a datetime for this event"
                            ),
                            raw: row.to_json().to_string(),
                        });
                        continue;
                    }
                }
            }
        };
        let clock = feed
            .clocks
            .entry(polled.partition)
            .or_insert_with(|| Watermark::new(ordering));
        let admission = if source.over.is_empty() {
            clock.admit(event_time, arrival)
        } else {
            let ctx = EvalContext {
                timestamp: event_time,
            };
            let key: Result<Vec<Value>, _> =
                source.over.iter().map(|e| eval(e, &row, &ctx)).collect();
            match key {
                Ok(key) if !key.iter().any(Value::is_null) => feed
                    .substreams
                    .entry(key)
                    .or_insert_with(|| Watermark::new(ordering))
                    .admit(event_time, arrival),
                _ => {
                    reject(BadEvent {
                        position: position(),
                        reason: reasons::INVALID_TIMESTAMP_KEY,
                        message: "the TIMESTAMP BY ... OVER key is NULL or fails".to_string(),
                        raw: row.to_json().to_string(),
                    });
                    continue;
                }
            }
        };
        let fed_at = admitted(admission, counters);
        if let Some(t) = fed_at {
            let mut row = row;
            if shared.arrival_order {
                // Equal times are ordered by arrival for the analytic
                // functions (docs/semantics.md, "Analytic functions").
                let position = polled_sequence.unwrap_or(feed.events_read);
                row.set(
                    Name::from(ARRIVAL_COLUMN),
                    Value::Array(vec![
                        Value::Bigint(i64::from(partition)),
                        Value::Bigint(position),
                    ]),
                );
            }
            feed.session.update_at(row, t.ticks(), 1);
            if tracked {
                if let Some(entry) = feed
                    .uncommitted
                    .get_mut(&partition)
                    .and_then(VecDeque::back_mut)
                {
                    entry.1 = t.ticks();
                }
            }
        }
    }
    if feed.live {
        let now = DateTime::now();
        for (partition, clock) in feed.clocks.iter_mut() {
            let quiet = feed
                .last_heard
                .get(partition)
                .is_none_or(|heard| heard.elapsed() >= QUIET_BEFORE_WALL_CLOCK);
            if quiet {
                clock.advance_idle(now);
            }
        }
        if feed.last_commit.elapsed() >= COMMIT_EVERY {
            feed.last_commit = Instant::now();
            commit_offsets(feed, shared, flushed);
        }
    }
    let (late, out_of_order) = feed
        .substreams
        .values()
        .chain(feed.clocks.values())
        .map(Watermark::counts)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    // Counters are per source; several workers may read parts of it.
    counters
        .late
        .fetch_add(late - feed.reported.0, Ordering::Relaxed);
    counters
        .out_of_order
        .fetch_add(out_of_order - feed.reported.1, Ordering::Relaxed);
    feed.reported = (late, out_of_order);
    // Substreams have a watermark each; a new key may still bring an early
    // event, so the input's time only advances at the end of the input.
    let watermark = feed
        .clocks
        .values()
        .map(|c| c.current().ticks())
        .min()
        .unwrap_or(Time::MIN);
    if source.over.is_empty() && !source.reference && watermark > *feed.session.time() {
        feed.session.advance_to(watermark);
    }
    feed.session.flush();
    if ended {
        Fed::End
    } else {
        Fed::Events(read)
    }
}

/// The time an event is fed at, if its admission lets it in; adjusted and
/// dropped events are counted.
fn admitted(admission: Admission, counters: &SourceCounters) -> Option<DateTime> {
    match admission {
        Admission::Accepted(t) => Some(t),
        Admission::Adjusted(t) => {
            counters.adjusted.fetch_add(1, Ordering::Relaxed);
            Some(t)
        }
        Admission::DroppedOutOfOrder | Admission::DroppedLate => {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Commits, per partition, the offset of the first event a pending result
/// may still need: events whose time plus the plan's retention horizon is
/// behind the flushed outputs' frontier are done. A restart resumes there,
/// so every result not yet written is computed again from its events (at
/// least once: results already written may be written again).
fn commit_offsets(feed: &mut Feed, shared: &Shared, flushed: &ProbeHandle<Time>) {
    let written = flushed.with_frontier(|f| f.first().copied());
    let mut offsets = Vec::new();
    for (partition, pending) in feed.uncommitted.iter_mut() {
        while let Some(&(_, time)) = pending.front() {
            let done = match written {
                None => true,
                Some(frontier) => time.saturating_add(shared.horizon) < frontier,
            };
            if !done {
                break;
            }
            pending.pop_front();
        }
        let next = match pending.front() {
            Some(&(offset, _)) => offset,
            None => match feed.next_offsets.get(partition) {
                Some(&next) => next,
                None => continue,
            },
        };
        if feed.committed.get(partition) != Some(&next) {
            offsets.push((*partition, next));
        }
    }
    if offsets.is_empty() {
        return;
    }
    if let EventSource::Kafka(reader) = &mut feed.reader {
        match reader.commit(&offsets) {
            Ok(()) => feed.committed.extend(offsets),
            // The broker may be restarting: the next commit catches up.
            Err(e) => eprintln!("warning: {e}"),
        }
    }
}

/// How often a Kafka input commits the offsets it is done with.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// Casts the columns a `CREATE TABLE` declares; NaN floats are filtered at
/// compatibility level 1.1 and later (§1 CREATE TABLE).
fn apply_schema(
    mut row: Row,
    schema: &[(crate::types::Name, crate::types::DataType)],
    compat: CompatLevel,
) -> Result<Row, BadEvent> {
    for (name, ty) in schema {
        let Some(value) = row.get(name) else { continue };
        let bad = |message: String| BadEvent {
            position: String::new(),
            reason: reasons::SCHEMA_CONVERSION,
            message,
            raw: row.to_json().to_string(),
        };
        let converted = crate::expr::cast::cast(value, *ty)
            .map_err(|e| bad(format!("column \"{name}\": {}", e.message)))?;
        if compat >= CompatLevel::V1_1 && matches!(converted, Value::Float(f) if f.is_nan()) {
            return Err(bad(format!("column \"{name}\" is NaN")));
        }
        row.set(name.clone(), converted);
    }
    Ok(row)
}

/// A watched reference table: its time follows the streams' watermarks (it
/// must never hold them back), and when its file changes the difference
/// between the old and the new rows enters at the current time, so events
/// from then on join the new rows; results already written stay as they
/// are. The table closes when every stream has ended.
fn follow_reference(feed: &mut Feed, streams: &ProbeHandle<Time>) -> Fed {
    let Some(streams_at) = streams.with_frontier(|f| f.first().copied()) else {
        return Fed::End;
    };
    if streams_at > *feed.session.time() {
        feed.session.advance_to(streams_at);
    }
    let (Some(table), Some(reload)) = (feed.table.as_mut(), feed.reload.as_ref()) else {
        return Fed::End;
    };
    let mut changed = 0;
    if table.checked.elapsed() >= reload.every {
        table.checked = Instant::now();
        let path = match &reload.pattern {
            Some(pattern) => pattern
                .latest(DateTime::now())
                .map_or_else(|| reload.path.clone(), |(path, _)| path),
            None => reload.path.clone(),
        };
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .map(|at| (path.clone(), at));
        if modified != table.modified {
            let mut rows = Vec::with_capacity(table.rows.len());
            let read = crate::connectors::file::EventReader::open(
                &Endpoint::File(path),
                reload.format,
                reload.options,
            )
            .and_then(|mut reader| {
                while let Some(item) = reader.next_event()? {
                    if let Ok(row) = item {
                        rows.push(row);
                    }
                }
                Ok(())
            });
            // A file caught half-written is read again at the next check.
            if read.is_ok() {
                table.modified = modified;
                rows.sort();
                let now = *feed.session.time();
                for (row, diff) in diff_sorted(&table.rows, &rows) {
                    feed.session.update_at(row, now, diff);
                    changed += 1;
                }
                table.rows = rows;
            }
        }
    }
    feed.session.flush();
    Fed::Events(changed)
}

/// The changes from `old` to `new` (both sorted): -1 for rows only in
/// `old`, +1 for rows only in `new`, as multisets.
fn diff_sorted(old: &[Row], new: &[Row]) -> Vec<(Row, isize)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                out.push((a.clone(), -1));
                i += 1;
            }
            (Some(_), Some(b)) => {
                out.push((b.clone(), 1));
                j += 1;
            }
            (Some(a), None) => {
                out.push((a.clone(), -1));
                i += 1;
            }
            (None, Some(b)) => {
                out.push((b.clone(), 1));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

fn as_datetime(value: &Value) -> Option<DateTime> {
    value.as_event_time()
}

/// Flushes an output after a sink activation wrote to it, so live readers
/// see results as soon as they are final.
fn flush_output(shared: &Shared, output_index: usize) {
    if let Some(Ok(mut slot)) = shared.writers.get(output_index).map(|w| w.lock()) {
        let Some(writer) = slot.as_mut() else { return };
        if let Err(e) = flush_quietly(writer.as_mut()) {
            let name = shared.plan.outputs[output_index].name.clone();
            drop(slot);
            record_io_error(shared, &format!("output \"{name}\""), e);
        }
    }
}

/// A result row as written: names lower-cased at compatibility level 1.0
/// (§9) and the job's time field set to the row's time.
fn output_row(shared: &Shared, output_index: usize, mut row: Row, time: Time) -> Row {
    if shared.compat == CompatLevel::V1_0 {
        row = crate::types::Record::from_fields(
            row.into_fields()
                .into_iter()
                .map(|(n, v)| (Name::from(n.to_lowercase()), v)),
        );
    }
    if let Some(Some(field)) = shared.time_fields.get(output_index) {
        row.set(field.clone(), Value::DateTime(DateTime(time)));
    }
    row
}

/// What the sink receives: a result row, maybe already encoded.
trait SinkItem: timely::ExchangeData + Ord {
    /// The row, which orders and consolidates the item.
    fn row(&self) -> &Row;
    /// The row and, when encoded, its line (with [`output_row`] applied).
    fn into_parts(self) -> (Row, Option<Vec<u8>>);
}

impl SinkItem for Row {
    fn row(&self) -> &Row {
        self
    }
    fn into_parts(self) -> (Row, Option<Vec<u8>>) {
        (self, None)
    }
}

/// A result row with its JSON line, encoded by the worker that computed it
/// ([`encodes_on_workers`]): encoding is most of the writing, and done this
/// way it runs on every worker instead of the writer's alone. Rows compare
/// by `row` only (equal rows encode to equal lines).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct EncodedRow {
    /// The row as written ([`output_row`] applied).
    row: Row,
    /// The row's JSON line, newline included; empty if encoding failed.
    line: Vec<u8>,
}

impl SinkItem for EncodedRow {
    fn row(&self) -> &Row {
        &self.row
    }
    fn into_parts(self) -> (Row, Option<Vec<u8>>) {
        let line = (!self.line.is_empty()).then_some(self.line);
        (self.row, line)
    }
}

impl PartialEq for EncodedRow {
    fn eq(&self, other: &Self) -> bool {
        self.row == other.row
    }
}

impl Eq for EncodedRow {}

impl PartialOrd for EncodedRow {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EncodedRow {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.row.cmp(&other.row)
    }
}

/// True when the workers encode an output's rows: a JSON-lines file or
/// standard output in final mode (changes mode adds the consolidated
/// `diff`, known only at the writer).
fn encodes_on_workers(shared: &Shared, output_index: usize) -> bool {
    matches!(
        shared.output_targets.get(output_index),
        Some(OutputTarget::Endpoint(_))
    ) && shared.modes.get(output_index) != Some(&EmitMode::Changes)
}

/// Up to this many rows of one time, [`sort_rows`] is a plain
/// `sort_unstable`.
const SORTED_IN_PLACE: usize = 16;

/// Sorts one time's rows as `sort_unstable` would (equal rows are
/// identical, so an unstable sort orders the same as a stable one).
///
/// When every row's first column has the same name (one SELECT's rows), the
/// rows are first ordered by [`Value::order_prefix`] of that column, copied
/// out beside each row: most comparisons then read no row at all.
/// `row_of` gives the row an item is sorted by.
fn sort_rows<T: Ord>(rows: &mut Vec<(T, isize)>, row_of: impl Fn(&T) -> &Row) {
    // A few rows (a sliding window writes one or two per instant) are
    // sorted in place: copying prefixes out and back costs more there.
    if rows.len() <= SORTED_IN_PLACE {
        rows.sort_unstable();
        return;
    }
    let first_name = |row: &Row| row.fields().first().map(|(name, _)| name.clone());
    let Some(name) = rows.first().and_then(|(item, _)| first_name(row_of(item))) else {
        rows.sort_unstable();
        return;
    };
    let shared = rows.iter().all(|(item, _)| {
        row_of(item)
            .fields()
            .first()
            .is_some_and(|(n, _)| Arc::ptr_eq(n, &name) || **n == *name)
    });
    if !shared {
        rows.sort_unstable();
        return;
    }
    let mut keyed: Vec<((u8, i64), T, isize)> = rows
        .drain(..)
        .map(|(item, diff)| {
            let prefix = row_of(&item)
                .fields()
                .first()
                .map_or((0, 0), |(_, v)| v.order_prefix());
            (prefix, item, diff)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    rows.extend(keyed.into_iter().map(|(_, row, diff)| (row, diff)));
}

/// Writes the rows of one time. Final mode writes each row `diff` times;
/// changes mode writes retractions, then insertions, with a `diff` field.
fn write_time<T: SinkItem>(
    shared: &Shared,
    output_index: usize,
    time: Time,
    mut rows: Vec<(T, isize)>,
) {
    sort_rows(&mut rows, T::row);
    // Equal rows, now adjacent, become one with their diffs added.
    rows.dedup_by(|later, kept| {
        let equal = later.0 == kept.0;
        if equal {
            kept.1 += later.1;
        }
        equal
    });
    let mut consolidated = rows;
    let Some(writer) = shared.writers.get(output_index) else {
        return;
    };
    let Ok(mut slot) = writer.lock() else {
        return;
    };
    let Some(writer) = slot.as_mut() else {
        return;
    };
    let mut written = 0u64;
    let changes = shared.modes.get(output_index) == Some(&EmitMode::Changes);
    if changes {
        consolidated.retain(|(_, d)| *d != 0);
        consolidated.sort_by_key(|(_, d)| *d > 0);
    }
    for (item, diff) in consolidated {
        let (mut row, line) = item.into_parts();
        if line.is_none() {
            row = output_row(shared, output_index, row, time);
        }
        let copies = if changes {
            row.set(crate::types::Name::from("diff"), Value::Bigint(diff as i64));
            1
        } else {
            diff.max(0)
        };
        for _ in 0..copies {
            let result = match &line {
                Some(line) => writer.write_encoded(&row, line),
                None => writer.write_row(&row),
            };
            if let Err(e) = result {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    shared.stop.store(true, Ordering::SeqCst);
                } else {
                    let name = shared.plan.outputs[output_index].name.clone();
                    record_io_error(shared, &format!("output \"{name}\""), e);
                }
                return;
            }
            written += 1;
        }
    }
    shared.rows_written[output_index].fetch_add(written, Ordering::Relaxed);
}

fn record_io_error(shared: &Shared, context: &str, error: io::Error) {
    if let Ok(mut slot) = shared.io_error.lock() {
        slot.get_or_insert(RunError::Io {
            context: context.to_string(),
            source: error,
        });
    }
    shared.stop.store(true, Ordering::SeqCst);
}

fn count_error(shared: &Shared, reason: &str, summary: String) {
    if let Ok(mut counts) = shared.errors_by_reason.lock() {
        *counts.entry(reason.to_string()).or_default() += 1;
    }
    if shared.on_error == ErrorPolicy::Stop {
        if let Ok(mut slot) = shared.stop_reason.lock() {
            slot.get_or_insert(summary);
        }
        shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Counts a bad input event and returns its dead-letter record.
fn dead_letter_input(shared: &Shared, alias: &str, bad: &BadEvent) -> serde_json::Value {
    count_error(
        shared,
        bad.reason,
        format!(
            "input \"{alias}\" {}: {}: {}",
            bad.position, bad.reason, bad.message
        ),
    );
    serde_json::json!({
        "input": alias,
        "position": bad.position,
        "reason": bad.reason,
        "message": bad.message,
        "event": bad.raw,
    })
}

/// The dead-letter record of an operator's failure (counted where it is
/// written, on worker 0).
fn failure_record(failure: &Failure, time: Time) -> serde_json::Value {
    serde_json::json!({
        "operator": failure.operator,
        "time": DateTime(time).to_iso(),
        "reason": failure.reason,
        "message": failure.message,
        "event": failure.row.to_json(),
    })
}

/// Writes one dead-letter record (a JSON object); operator failures are
/// counted here, bad input where it was read.
fn write_dead_letter(shared: &Shared, record: &str) {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(record) {
        if json.get("operator").is_some() {
            let field = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            count_error(
                shared,
                field("reason"),
                format!(
                    "{}: {}: {}",
                    field("operator"),
                    field("reason"),
                    field("message")
                ),
            );
        }
        if let Ok(mut slot) = shared.dead_letters.lock() {
            let written = match slot.as_mut() {
                Some(DeadLetters::Lines(writer)) => writer.write_json(&json),
                Some(DeadLetters::Topic(writer)) => match Value::from_json(json, true) {
                    Value::Record(record) => writer.write_row(&record).map_err(io::Error::other),
                    _ => Ok(()),
                },
                None => Ok(()),
            };
            if let Err(e) = written {
                eprintln!("warning: a dead letter could not be written: {e}");
            }
        }
    }
    let _ = io::stderr().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_datetimes_are_event_times() {
        assert_eq!(
            as_datetime(&Value::str("2023-01-01T00:00:01Z"))
                .map(DateTime::to_iso)
                .as_deref(),
            Some("2023-01-01T00:00:01.0000000Z")
        );
        assert_eq!(as_datetime(&Value::Bigint(3)), None);
    }

    fn value_strategy() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bit),
            (-3i64..3).prop_map(Value::Bigint),
            prop_oneof![Just(i64::MIN), Just(i64::MAX)].prop_map(Value::Bigint),
            (-2.0f64..2.0).prop_map(Value::Float),
            (-3i64..3).prop_map(|t| Value::DateTime(DateTime(t))),
            "[ab]{0,2}".prop_map(|s| Value::str(&s)),
        ]
    }

    proptest::proptest! {
        /// Sorting with order prefixes gives exactly the plain sort, for
        /// rows of one shape and of several.
        #[test]
        fn rows_sort_as_their_order_says(
            rows in proptest::collection::vec(
                (
                    proptest::collection::vec(value_strategy(), 1..3),
                    proptest::bool::weighted(0.9),
                    -1isize..2,
                ),
                0..40,
            )
        ) {
            let first = Name::from("k");
            let rows: Vec<(Row, isize)> = rows
                .into_iter()
                .map(|(values, same_name, diff)| {
                    let mut row = crate::types::Record::new();
                    for (i, v) in values.into_iter().enumerate() {
                        let name = match (i, same_name) {
                            (0, true) => first.clone(),
                            (0, false) => Name::from("j"),
                            _ => Name::from(format!("c{i}")),
                        };
                        row.push_unchecked(name, v);
                    }
                    (row, diff)
                })
                .collect();
            let mut expected = rows.clone();
            expected.sort_unstable();
            let mut actual = rows;
            sort_rows(&mut actual, |row| row);
            proptest::prop_assert_eq!(actual, expected);
        }
    }
}
