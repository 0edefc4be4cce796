//! Job files: which query, which inputs and outputs, and the job settings.
//!
//! A job file is TOML ([`RawJob`], read with serde) and is validated into a
//! [`JobConfig`]: paths resolved against the job file's folder, formats
//! inferred from extensions, aliases checked for duplicates. `JobConfig`
//! is the binder's [`Catalog`]. Nothing here opens a connection or reads
//! an input; that is the connectors' job.
//!
//! ```toml
//! query = "query.asaql"
//! compatibility_level = "1.2"
//! on_error = "skip"              # or "stop"
//! errors = "errors.jsonl"        # dead-letter file (default: standard error)
//!
//! [event_ordering]
//! late_arrival_seconds = 5
//! out_of_order_seconds = 0
//! out_of_order_action = "adjust" # or "drop"
//!
//! [[inputs]]
//! alias = "Telemetry"
//! path = "telemetry.jsonl"       # "-" is standard input
//! format = "json"                # json | csv (default: from the extension)
//! type = "stream"                # or "reference"
//!
//! [[outputs]]
//! alias = "Alerts"
//! path = "alerts.jsonl"          # "-" is standard output
//! emit = "final"                 # or "changes": a changelog with a diff field
//!
//! [[inputs]]
//! alias = "Clicks"
//! kind = "kafka"
//! bootstrap_servers = "127.0.0.1:9092"
//! topic = "clicks"
//! format = "json"                # json | csv (with columns = [...]) | avro
//! # avro_schema = '{"type": "record", ...}' or avro_schema_file = "clicks.avsc"
//! start = "committed"            # earliest | latest | committed | an ISO 8601 time
//! # group = "eddy-Clicks"        # the default; "" commits nothing
//! # stop_at_end = true           # end at the end the topic had at start
//! properties = { "fetch.min.bytes" = "1" }   # passed to librdkafka
//!
//! [[outputs]]
//! alias = "ClickCounts"
//! kind = "kafka"
//! bootstrap_servers = "127.0.0.1:9092"
//! topic = "click-counts"
//! key_column = "page"            # the message key (the partitioner hashes it)
//!
//! [[functions]]                  # a JavaScript UDF, called as udf.Hex2Int(...)
//! name = "Hex2Int"
//! kind = "udf"                   # or "uda": an aggregate, called as uda.Name(x)
//! file = "hex2int.js"            # defines one function, whatever its JS name
//! returns = "bigint"             # any (default) | bigint | float | nvarchar(max)
//!                                # | datetime | bit | record | array
//! time_limit_ms = 1000           # per call into JavaScript (default 1000)
//! ```
//!
//! Besides `[[functions]]`, files named `udf.<Name>.js` or `uda.<Name>.js`
//! in the query's folder define `udf.<Name>` or `uda.<Name>` (returning
//! `any`), the layout of the conformance cases. A declared function of the
//! same name wins. Every function file is compiled when the job loads, so
//! a syntax error is reported before any event is read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::bind::{Catalog, InputInfo};
use crate::connectors::kafka::{
    KafkaFormat, KafkaInputSpec, KafkaOutputSpec, StartPosition, DEFAULT_CONNECT_TIMEOUT,
};
use crate::diag::{codes, Diagnostic, Span};
use crate::expr::javascript::{JsFunction, JsKind, DEFAULT_TIME_LIMIT};

/// The job file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    /// Path of the query file.
    pub query: String,
    /// ASA compatibility level: "1.0", "1.1" or "1.2" (default).
    #[serde(default)]
    pub compatibility_level: Option<String>,
    /// What to do with a bad event: "skip" (dead-letter it, default) or "stop".
    #[serde(default)]
    pub on_error: Option<String>,
    /// Dead-letter file for bad events (default: standard error).
    #[serde(default)]
    pub errors: Option<String>,
    /// Dead letters to a Kafka topic instead of a file.
    #[serde(default)]
    pub errors_kafka: Option<RawErrorsKafka>,
    /// Event-ordering policies.
    #[serde(default)]
    pub event_ordering: Option<RawEventOrdering>,
    /// Inputs.
    #[serde(default)]
    pub inputs: Vec<RawInput>,
    /// Outputs.
    #[serde(default)]
    pub outputs: Vec<RawOutput>,
    /// Worker threads (the `-w` flag overrides it).
    #[serde(default)]
    pub workers: Option<usize>,
    /// JavaScript UDFs and UDAs.
    #[serde(default)]
    pub functions: Vec<RawFunction>,
}

/// `[[functions]]` as written: a JavaScript UDF or UDA.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFunction {
    /// The name the query calls (`udf.<name>` / `uda.<name>`).
    pub name: String,
    /// "udf" (default) or "uda".
    #[serde(default)]
    pub kind: Option<String>,
    /// The `.js` file, relative to the job file.
    pub file: String,
    /// The return type: "any" (default) or an ASA type name.
    #[serde(default)]
    pub returns: Option<String>,
    /// Per-call time limit in milliseconds (default 1000).
    #[serde(default)]
    pub time_limit_ms: Option<u64>,
}

/// `[errors_kafka]` as written: a dead-letter topic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawErrorsKafka {
    /// Bootstrap servers.
    pub bootstrap_servers: String,
    /// The topic bad events go to (one JSON message each).
    pub topic: String,
    /// librdkafka settings, passed as they are.
    #[serde(default)]
    pub properties: Option<toml::Table>,
}

/// `[event_ordering]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawEventOrdering {
    /// Late-arrival tolerance in seconds (ASA default 5; -1 waits indefinitely).
    pub late_arrival_seconds: Option<i64>,
    /// Out-of-order tolerance in seconds (ASA default 0).
    pub out_of_order_seconds: Option<i64>,
    /// "adjust" (default) or "drop".
    pub out_of_order_action: Option<String>,
}

/// `[[inputs]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// The alias the query uses.
    pub alias: String,
    /// "file" (default; a path of "-" is standard input) or "stdin".
    #[serde(default)]
    pub kind: Option<String>,
    /// File path.
    #[serde(default)]
    pub path: Option<String>,
    /// "json" or "csv".
    #[serde(default)]
    pub format: Option<String>,
    /// "stream" (default) or "reference".
    #[serde(default, rename = "type")]
    pub input_type: Option<String>,
    /// A field holding each event's arrival time (otherwise: when the file is read).
    #[serde(default)]
    pub arrival_time_field: Option<String>,
    /// Whether a stream file is split across all workers, each part a
    /// partition with its own watermark (default true); false reads it on
    /// one worker as one partition.
    #[serde(default)]
    pub split: Option<bool>,
    /// Reference data: check the file for changes this often (milliseconds).
    #[serde(default)]
    pub refresh_ms: Option<u64>,
    /// `{date}` in a reference path: its format (default `yyyy/MM/dd`).
    #[serde(default)]
    pub date_format: Option<String>,
    /// `{time}` in a reference path: its format (default `HH`).
    #[serde(default)]
    pub time_format: Option<String>,
    /// `kind = "generate"`: how many events.
    #[serde(default)]
    pub events: Option<u64>,
    /// `kind = "generate"`: how many keys.
    #[serde(default)]
    pub keys: Option<u64>,
    /// `kind = "generate"`: events per second of event time.
    #[serde(default)]
    pub rate: Option<u64>,
    /// `kind = "generate"`: largest backwards jitter of event times, ms.
    #[serde(default)]
    pub disorder_ms: Option<u64>,
    /// `kind = "generate"`: the first event's time (ISO 8601, or "now").
    /// `kind = "kafka"`: where reading starts: "earliest", "latest",
    /// "committed" (default) or an ISO 8601 time.
    #[serde(default)]
    pub start: Option<String>,
    /// `kind = "kafka"`: bootstrap servers (`host:port[,host:port...]`).
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// `kind = "kafka"`: the topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// `kind = "kafka"`: consumer group id (default `eddy-<alias>`; "" for
    /// none: nothing is committed).
    #[serde(default)]
    pub group: Option<String>,
    /// `kind = "kafka"`, `format = "csv"`: the column names of each record.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// `kind = "kafka"`, `format = "avro"`: the writer schema (JSON).
    #[serde(default)]
    pub avro_schema: Option<String>,
    /// `kind = "kafka"`, `format = "avro"`: a file holding the writer schema.
    #[serde(default)]
    pub avro_schema_file: Option<String>,
    /// `kind = "kafka"`: end once every partition reaches the end it had
    /// when the job started (default false: read forever).
    #[serde(default)]
    pub stop_at_end: Option<bool>,
    /// `kind = "kafka"`: librdkafka settings, passed as they are.
    #[serde(default)]
    pub properties: Option<toml::Table>,
    /// `kind = "kafka"`: how long to wait for the broker at start (ms).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
}

/// `[[outputs]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// The alias `INTO` names.
    pub alias: String,
    /// "file" (default; "-" is standard output) or "stdout".
    #[serde(default)]
    pub kind: Option<String>,
    /// File path.
    #[serde(default)]
    pub path: Option<String>,
    /// "json" (JSON lines).
    #[serde(default)]
    pub format: Option<String>,
    /// Also write each row's `System.Timestamp()` into this column.
    #[serde(default)]
    pub timestamp_field: Option<String>,
    /// "final" (default, as ASA) or "changes" (a changelog with a `diff` field).
    #[serde(default)]
    pub emit: Option<String>,
    /// `kind = "kafka"`: bootstrap servers.
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// `kind = "kafka"`: the topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// `kind = "kafka"`, `format = "csv"`: the columns to write, in order
    /// (default: every column of the row).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// `kind = "kafka"`, `format = "avro"`: the schema (JSON).
    #[serde(default)]
    pub avro_schema: Option<String>,
    /// `kind = "kafka"`, `format = "avro"`: a file holding the schema.
    #[serde(default)]
    pub avro_schema_file: Option<String>,
    /// `kind = "kafka"`: the column whose value is each message's key.
    #[serde(default)]
    pub key_column: Option<String>,
    /// `kind = "kafka"`: librdkafka settings, passed as they are.
    #[serde(default)]
    pub properties: Option<toml::Table>,
    /// `kind = "kafka"`: how long to wait for the broker at start (ms).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// `kind = "kafka"`: create the topic with this many partitions when it
    /// does not exist.
    #[serde(default)]
    pub partitions: Option<i32>,
}

/// A validated job.
#[derive(Clone, Debug)]
pub struct JobConfig {
    /// The query file, when the query came from one.
    pub query_path: Option<PathBuf>,
    /// The query text.
    pub query: String,
    /// Compatibility level.
    pub compat: CompatLevel,
    /// Error policy for bad events.
    pub on_error: ErrorPolicy,
    /// Where bad events go.
    pub errors: Endpoint,
    /// Where bad events go instead, when the job names a dead-letter topic.
    pub errors_kafka: Option<KafkaOutputSpec>,
    /// Event-ordering policies.
    pub ordering: EventOrdering,
    /// Inputs.
    pub inputs: Vec<InputConfig>,
    /// Outputs.
    pub outputs: Vec<OutputConfig>,
    /// Worker threads.
    pub workers: usize,
    /// JavaScript UDFs and UDAs, each compiled and checked.
    pub functions: Vec<Arc<JsFunction>>,
}

/// ASA compatibility levels that change behaviour (§9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CompatLevel {
    /// 1.0: field names lower-cased, booleans read as bigint.
    V1_0,
    /// 1.1: case preserved, booleans read as bigint.
    V1_1,
    /// 1.2: booleans read as bit.
    V1_2,
}

impl CompatLevel {
    /// Parses "1.0", "1.1" or "1.2".
    pub fn parse(s: &str) -> Option<CompatLevel> {
        match s.trim() {
            "1.0" => Some(CompatLevel::V1_0),
            "1.1" => Some(CompatLevel::V1_1),
            "1.2" => Some(CompatLevel::V1_2),
            _ => None,
        }
    }
}

/// What happens to an event that cannot be decoded or evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Count it, write it to the error output, go on.
    Skip,
    /// Stop the job with an error naming the event.
    Stop,
}

/// Event-ordering settings (ASA-SEMANTICS.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventOrdering {
    /// Late-arrival tolerance in seconds; `None` waits indefinitely (-1).
    pub late_arrival_seconds: Option<i64>,
    /// Out-of-order tolerance in seconds.
    pub out_of_order_seconds: i64,
    /// What to do with events beyond the tolerance.
    pub out_of_order_action: OrderingAction,
}

impl Default for EventOrdering {
    fn default() -> Self {
        EventOrdering {
            late_arrival_seconds: Some(5),
            out_of_order_seconds: 0,
            out_of_order_action: OrderingAction::Adjust,
        }
    }
}

/// Adjust or drop an event outside a tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderingAction {
    /// Move its timestamp into the tolerance.
    Adjust,
    /// Discard it (counted).
    Drop,
}

/// A file path or a standard stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Standard input or output (or standard error for the error output).
    Std,
    /// A file.
    File(PathBuf),
}

/// Event encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON lines, or one JSON array of objects.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Stream or reference data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    /// Events that advance time.
    Stream,
    /// A table joined by key.
    Reference,
}

/// A validated input.
#[derive(Clone, Debug)]
pub struct InputConfig {
    /// Alias.
    pub alias: String,
    /// Where from.
    pub endpoint: Endpoint,
    /// Encoding.
    pub format: Format,
    /// Stream or reference.
    pub input_type: InputType,
    /// Field holding the arrival time.
    pub arrival_time_field: Option<String>,
    /// A stream file (or generated stream) is read by every worker, each
    /// decoding its own share of the events as one partition.
    pub split: bool,
    /// Generated events instead of a file (`kind = "generate"`).
    pub generator: Option<crate::connectors::generate::GeneratorSpec>,
    /// Reference files: re-read on change, checking this often (ms).
    pub refresh_ms: Option<u64>,
    /// Formats of `{date}` and `{time}` in a reference path.
    pub date_time_formats: (String, String),
    /// A Kafka topic instead of a file (`kind = "kafka"`; `endpoint` is
    /// then [`Endpoint::Std`] and `format` unused).
    pub kafka: Option<KafkaInputSpec>,
}

/// A validated output.
#[derive(Clone, Debug)]
pub struct OutputConfig {
    /// Alias.
    pub alias: String,
    /// Where to.
    pub endpoint: Endpoint,
    /// Column that receives each row's event time, if any.
    pub timestamp_field: Option<String>,
    /// Final results or a changelog.
    pub emit: crate::plan::EmitMode,
    /// A Kafka topic instead of a file (`kind = "kafka"`; `endpoint` is
    /// then [`Endpoint::Std`]).
    pub kafka: Option<KafkaOutputSpec>,
}

/// Why a job could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The job file is not valid.
    #[error("invalid job file {path}")]
    Invalid {
        /// The job file.
        path: PathBuf,
        /// Its text, for rendering the diagnostics.
        text: String,
        /// What is wrong, with spans into `text`.
        diagnostics: Vec<Diagnostic>,
    },
}

impl JobConfig {
    /// Loads and validates a job file; relative paths resolve against its folder.
    pub fn load(path: &Path) -> Result<JobConfig, JobError> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let invalid = |diagnostics: Vec<Diagnostic>| JobError::Invalid {
            path: path.to_path_buf(),
            text: text.clone(),
            diagnostics,
        };
        let raw: RawJob = toml::from_str(&text).map_err(|e| {
            let span = e
                .span()
                .map(|r| Span::new(r.start, r.end))
                .unwrap_or_default();
            invalid(vec![Diagnostic::error(
                codes::JOB,
                span,
                e.message().trim().to_string(),
            )])
        })?;
        let query_path = base.join(&raw.query);
        let query = std::fs::read_to_string(&query_path).map_err(|source| JobError::Read {
            path: query_path.clone(),
            source,
        })?;
        let mut job = JobConfig::from_raw(raw, &base, &text).map_err(invalid)?;
        let query_dir = query_path.parent().unwrap_or(Path::new(".")).to_path_buf();
        discover_functions(&query_dir, &mut job.functions).map_err(|message| {
            invalid(vec![Diagnostic::error(
                codes::JOB,
                Span::default(),
                message,
            )])
        })?;
        job.query_path = Some(query_path);
        job.query = query;
        Ok(job)
    }

    /// Validates a parsed job file. `text` is the job file, for spans.
    pub fn from_raw(raw: RawJob, base: &Path, text: &str) -> Result<JobConfig, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let locate = |needle: &str| -> Span {
            text.find(needle)
                .map(|i| Span::new(i, i + needle.len()))
                .unwrap_or_default()
        };
        let compat = match raw.compatibility_level.as_deref() {
            None => CompatLevel::V1_2,
            Some(level) => CompatLevel::parse(level).unwrap_or_else(|| {
                errors.push(
                    Diagnostic::error(
                        codes::JOB,
                        locate(level),
                        format!("unknown compatibility level \"{level}\""),
                    )
                    .with_help("Use \"1.0\", \"1.1\" or \"1.2\"."),
                );
                CompatLevel::V1_2
            }),
        };
        let on_error = match raw.on_error.as_deref() {
            None | Some("skip") => ErrorPolicy::Skip,
            Some("stop") => ErrorPolicy::Stop,
            Some(other) => {
                errors.push(
                    Diagnostic::error(
                        codes::JOB,
                        locate(other),
                        format!("unknown error policy \"{other}\""),
                    )
                    .with_help("Use \"skip\" or \"stop\"."),
                );
                ErrorPolicy::Skip
            }
        };
        let errors_endpoint = match raw.errors.as_deref() {
            None | Some("-") => Endpoint::Std,
            Some(p) => Endpoint::File(base.join(p)),
        };
        let mut errors_kafka = None;
        if let Some(dead) = raw.errors_kafka {
            let mut properties = std::collections::BTreeMap::new();
            let flattened = dead
                .properties
                .as_ref()
                .map_or(Ok(()), |t| flatten_properties(t, "", &mut properties));
            match flattened {
                Err(key) => errors.push(Diagnostic::error(
                    codes::JOB,
                    locate(&key),
                    format!("errors_kafka: property \"{key}\" must be a string, number or boolean"),
                )),
                Ok(()) => {
                    errors_kafka = Some(KafkaOutputSpec {
                        bootstrap: dead.bootstrap_servers,
                        topic: dead.topic,
                        format: KafkaFormat::Json,
                        key_column: None,
                        properties,
                        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                        create_partitions: None,
                    })
                }
            }
        }
        let mut ordering = EventOrdering::default();
        if let Some(eo) = raw.event_ordering {
            if let Some(late) = eo.late_arrival_seconds {
                ordering.late_arrival_seconds = if late < 0 { None } else { Some(late) };
            }
            if let Some(ooo) = eo.out_of_order_seconds {
                ordering.out_of_order_seconds = ooo.max(0);
            }
            match eo.out_of_order_action.as_deref() {
                None | Some("adjust") => {}
                Some("drop") => ordering.out_of_order_action = OrderingAction::Drop,
                Some(other) => errors.push(
                    Diagnostic::error(
                        codes::JOB,
                        locate(other),
                        format!("unknown out-of-order action \"{other}\""),
                    )
                    .with_help("Use \"adjust\" or \"drop\"."),
                ),
            }
        }
        let mut inputs: Vec<InputConfig> = Vec::new();
        for input in raw.inputs {
            let span = locate(&input.alias);
            if inputs
                .iter()
                .any(|i| i.alias.eq_ignore_ascii_case(&input.alias))
            {
                errors.push(Diagnostic::error(
                    codes::JOB,
                    span,
                    format!("input \"{}\" is declared twice", input.alias),
                ));
                continue;
            }
            match validate_input(input, base) {
                Ok(i) => inputs.push(i),
                Err(message) => errors.push(Diagnostic::error(codes::JOB, span, message)),
            }
        }
        let mut outputs: Vec<OutputConfig> = Vec::new();
        for output in raw.outputs {
            let span = locate(&output.alias);
            if outputs
                .iter()
                .any(|o| o.alias.eq_ignore_ascii_case(&output.alias))
            {
                errors.push(Diagnostic::error(
                    codes::JOB,
                    span,
                    format!("output \"{}\" is declared twice", output.alias),
                ));
                continue;
            }
            if output.kind.as_deref() == Some("kafka") {
                match validate_kafka_output(output, base) {
                    Ok(o) => outputs.push(o),
                    Err(message) => errors.push(Diagnostic::error(codes::JOB, span, message)),
                }
                continue;
            }
            if let Some(key) = kafka_output_keys(&output).first() {
                errors.push(Diagnostic::error(
                    codes::JOB,
                    span,
                    format!(
                        "output \"{}\": {key} is only for kind = \"kafka\"",
                        output.alias
                    ),
                ));
                continue;
            }
            let endpoint = match (output.kind.as_deref(), output.path.as_deref()) {
                (Some("stdout"), _) | (None | Some("file"), Some("-")) => Endpoint::Std,
                (None | Some("file"), Some(p)) => Endpoint::File(base.join(p)),
                (None | Some("file"), None) => {
                    errors.push(Diagnostic::error(
                        codes::JOB,
                        span,
                        format!("output \"{}\" needs a path", output.alias),
                    ));
                    continue;
                }
                (Some(kind), _) => {
                    errors.push(
                        Diagnostic::error(
                            codes::JOB,
                            locate(kind),
                            format!("unknown output kind \"{kind}\""),
                        )
                        .with_help("Use \"file\", \"stdout\" or \"kafka\"."),
                    );
                    continue;
                }
            };
            if let Some(format) = output.format.as_deref() {
                if !format.eq_ignore_ascii_case("json") {
                    errors.push(
                        Diagnostic::error(
                            codes::JOB,
                            locate(format),
                            format!("unsupported output format \"{format}\""),
                        )
                        .with_help("Outputs are written as JSON lines (\"json\")."),
                    );
                }
            }
            let emit = match output.emit.as_deref() {
                None | Some("final") => crate::plan::EmitMode::Final,
                Some("changes") => crate::plan::EmitMode::Changes,
                Some(other) => {
                    errors.push(
                        Diagnostic::error(codes::JOB, locate(other), format!("unknown emit mode \"{other}\""))
                            .with_help("Use \"final\" (one row per window, as ASA) or \"changes\" (a changelog)."),
                    );
                    continue;
                }
            };
            outputs.push(OutputConfig {
                alias: output.alias,
                endpoint,
                timestamp_field: output.timestamp_field,
                emit,
                kafka: None,
            });
        }
        let mut functions: Vec<Arc<JsFunction>> = Vec::new();
        for function in raw.functions {
            let span = locate(&function.name);
            if functions
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(&function.name))
            {
                errors.push(Diagnostic::error(
                    codes::JOB,
                    span,
                    format!("function \"{}\" is declared twice", function.name),
                ));
                continue;
            }
            match validate_function(function, base) {
                Ok(f) => functions.push(Arc::new(f)),
                Err(message) => errors.push(Diagnostic::error(codes::JOB, span, message)),
            }
        }
        if errors.is_empty() {
            Ok(JobConfig {
                query_path: None,
                query: String::new(),
                compat,
                on_error,
                errors: errors_endpoint,
                errors_kafka,
                ordering,
                inputs,
                outputs,
                workers: raw.workers.unwrap_or(1).max(1),
                functions,
            })
        } else {
            Err(errors)
        }
    }

    /// A job from command-line flags: `Alias=path` pairs for stream inputs,
    /// reference inputs and outputs.
    pub fn from_flags(
        query_path: &Path,
        inputs: &[String],
        references: &[String],
        outputs: &[String],
    ) -> Result<JobConfig, String> {
        let query = std::fs::read_to_string(query_path)
            .map_err(|e| format!("cannot read {}: {e}", query_path.display()))?;
        let mut job = JobConfig {
            query_path: Some(query_path.to_path_buf()),
            query,
            compat: CompatLevel::V1_2,
            on_error: ErrorPolicy::Skip,
            errors: Endpoint::Std,
            errors_kafka: None,
            ordering: EventOrdering::default(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            workers: 1,
            functions: Vec::new(),
        };
        let query_dir = query_path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let query_dir = if query_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            query_dir
        };
        discover_functions(&query_dir, &mut job.functions)?;
        let cwd = Path::new("");
        let streams = inputs.iter().map(|s| (s, "stream"));
        for (spec, input_type) in streams.chain(references.iter().map(|s| (s, "reference"))) {
            let (alias, path) = split_flag(spec)?;
            let raw = RawInput {
                alias: alias.to_string(),
                kind: None,
                path: Some(path.to_string()),
                format: None,
                input_type: Some(input_type.to_string()),
                arrival_time_field: None,
                split: None,
                refresh_ms: None,
                date_format: None,
                time_format: None,
                events: None,
                keys: None,
                rate: None,
                disorder_ms: None,
                start: None,
                bootstrap_servers: None,
                topic: None,
                group: None,
                columns: None,
                avro_schema: None,
                avro_schema_file: None,
                stop_at_end: None,
                properties: None,
                connect_timeout_ms: None,
            };
            job.inputs.push(validate_input(raw, cwd)?);
        }
        for spec in outputs {
            let (alias, path) = split_flag(spec)?;
            let endpoint = if path == "-" {
                Endpoint::Std
            } else {
                Endpoint::File(PathBuf::from(path))
            };
            job.outputs.push(OutputConfig {
                alias: alias.to_string(),
                endpoint,
                timestamp_field: None,
                emit: crate::plan::EmitMode::Final,
                kafka: None,
            });
        }
        Ok(job)
    }
}

/// A `[[functions]]` entry: reads and compiles its file.
fn validate_function(raw: RawFunction, base: &Path) -> Result<JsFunction, String> {
    let kind = match raw.kind.as_deref() {
        None | Some("udf") => JsKind::Udf,
        Some("uda") => JsKind::Uda,
        Some(other) => {
            return Err(format!(
                "function \"{}\": unknown kind \"{other}\" (use \"udf\" or \"uda\")",
                raw.name
            ))
        }
    };
    let returns = parse_return_type(raw.returns.as_deref())
        .map_err(|message| format!("function \"{}\": {message}", raw.name))?;
    let time_limit = match raw.time_limit_ms {
        None => DEFAULT_TIME_LIMIT,
        Some(0) => {
            return Err(format!(
                "function \"{}\": time_limit_ms must be at least 1",
                raw.name
            ))
        }
        Some(ms) => std::time::Duration::from_millis(ms),
    };
    load_function(raw.name, kind, base.join(&raw.file), returns, time_limit)
}

/// `returns`: "any" (or absent) is `None`, else an ASA type.
pub fn parse_return_type(text: Option<&str>) -> Result<Option<crate::types::DataType>, String> {
    match text {
        None => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("any") => Ok(None),
        Some(t) => crate::bind::data_type_by_name(t).map(Some).ok_or_else(|| {
            format!(
                "unknown return type \"{t}\" (use any, bigint, float, nvarchar(max), datetime, bit, record or array)"
            )
        }),
    }
}

/// Reads a JavaScript function's file and compiles it.
pub fn load_function(
    name: String,
    kind: JsKind,
    path: PathBuf,
    returns: Option<crate::types::DataType>,
    time_limit: std::time::Duration,
) -> Result<JsFunction, String> {
    let source = std::fs::read_to_string(&path)
        .map_err(|e| format!("function \"{name}\": cannot read {}: {e}", path.display()))?;
    let function = JsFunction::new(name, kind, path, source, returns, time_limit);
    function.check()?;
    Ok(function)
}

/// Adds the `udf.<Name>.js` and `uda.<Name>.js` files of `dir` that no
/// declared function already names.
pub fn discover_functions(dir: &Path, functions: &mut Vec<Arc<JsFunction>>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut found: Vec<(String, JsKind, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = file_name.strip_suffix(".js") else {
            continue;
        };
        let (kind, name) = match stem.split_once('.') {
            Some((prefix, name)) if prefix.eq_ignore_ascii_case("udf") => (JsKind::Udf, name),
            Some((prefix, name)) if prefix.eq_ignore_ascii_case("uda") => (JsKind::Uda, name),
            _ => continue,
        };
        if name.is_empty() || functions.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            continue;
        }
        found.push((name.to_string(), kind, entry.path()));
    }
    found.sort();
    for (name, kind, path) in found {
        let function = load_function(name, kind, path, None, DEFAULT_TIME_LIMIT)?;
        functions.push(Arc::new(function));
    }
    Ok(())
}

/// ASA's default `{date}` and `{time}` formats.
pub fn default_date_time_formats() -> (String, String) {
    ("yyyy/MM/dd".to_string(), "HH".to_string())
}

fn split_flag(spec: &str) -> Result<(&str, &str), String> {
    spec.split_once('=')
        .filter(|(a, p)| !a.is_empty() && !p.is_empty())
        .ok_or_else(|| format!("expected Alias=path, found \"{spec}\""))
}

fn validate_input(input: RawInput, base: &Path) -> Result<InputConfig, String> {
    if input.kind.as_deref() == Some("kafka") {
        return validate_kafka_input(input, base);
    }
    if let Some(key) = kafka_input_keys(&input).first() {
        return Err(format!(
            "input \"{}\": {key} is only for kind = \"kafka\"",
            input.alias
        ));
    }
    if input.kind.as_deref() == Some("generate") {
        let start = match input.start.as_deref() {
            None => crate::types::DateTime::parse("2024-01-01T00:00:00Z").unwrap_or_default(),
            Some(s) if s.eq_ignore_ascii_case("now") => crate::types::DateTime::now(),
            Some(s) => crate::types::DateTime::parse(s).ok_or_else(|| {
                format!("input \"{}\": start \"{s}\" is not a datetime", input.alias)
            })?,
        };
        return Ok(InputConfig {
            alias: input.alias,
            endpoint: Endpoint::Std,
            format: Format::Json,
            input_type: InputType::Stream,
            arrival_time_field: None,
            split: input.split.unwrap_or(true),
            refresh_ms: None,
            date_time_formats: default_date_time_formats(),
            generator: Some(crate::connectors::generate::GeneratorSpec {
                events: input.events.unwrap_or(1_000_000),
                keys: input.keys.unwrap_or(1000),
                rate: input.rate.unwrap_or(10_000),
                disorder_ms: input.disorder_ms.unwrap_or(0),
                start,
            }),
            kafka: None,
        });
    }
    let endpoint = match (input.kind.as_deref(), input.path.as_deref()) {
        (Some("stdin"), _) | (None | Some("file"), Some("-")) => Endpoint::Std,
        (None | Some("file"), Some(p)) => Endpoint::File(base.join(p)),
        (None | Some("file"), None) => {
            return Err(format!("input \"{}\" needs a path", input.alias))
        }
        (Some(kind), _) => {
            return Err(format!(
                "unknown input kind \"{kind}\" (use \"file\", \"stdin\", \"generate\" or \"kafka\")"
            ))
        }
    };
    let format = match input
        .format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") | Some("jsonl") => Format::Json,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(format!(
                "unknown input format \"{other}\" (use \"json\" or \"csv\")"
            ))
        }
        None => match &endpoint {
            Endpoint::File(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => {
                Format::Csv
            }
            _ => Format::Json,
        },
    };
    let input_type = match input.input_type.as_deref() {
        None | Some("stream") => InputType::Stream,
        Some("reference") => InputType::Reference,
        Some(other) => {
            return Err(format!(
                "unknown input type \"{other}\" (use \"stream\" or \"reference\")"
            ))
        }
    };
    let split =
        input_type == InputType::Stream && endpoint != Endpoint::Std && input.split.unwrap_or(true);
    Ok(InputConfig {
        alias: input.alias,
        endpoint,
        format,
        input_type,
        arrival_time_field: input.arrival_time_field,
        split,
        generator: None,
        refresh_ms: match input_type {
            InputType::Reference => Some(input.refresh_ms.unwrap_or(1000)),
            InputType::Stream => None,
        },
        date_time_formats: (
            input
                .date_format
                .unwrap_or_else(|| default_date_time_formats().0),
            input
                .time_format
                .unwrap_or_else(|| default_date_time_formats().1),
        ),
        kafka: None,
    })
}

/// The Kafka-only keys an input sets.
fn kafka_input_keys(input: &RawInput) -> Vec<&'static str> {
    [
        ("bootstrap_servers", input.bootstrap_servers.is_some()),
        ("topic", input.topic.is_some()),
        ("group", input.group.is_some()),
        ("columns", input.columns.is_some()),
        ("avro_schema", input.avro_schema.is_some()),
        ("avro_schema_file", input.avro_schema_file.is_some()),
        ("stop_at_end", input.stop_at_end.is_some()),
        ("properties", input.properties.is_some()),
        ("connect_timeout_ms", input.connect_timeout_ms.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

/// The Kafka-only keys an output sets.
fn kafka_output_keys(output: &RawOutput) -> Vec<&'static str> {
    [
        ("bootstrap_servers", output.bootstrap_servers.is_some()),
        ("topic", output.topic.is_some()),
        ("columns", output.columns.is_some()),
        ("avro_schema", output.avro_schema.is_some()),
        ("avro_schema_file", output.avro_schema_file.is_some()),
        ("key_column", output.key_column.is_some()),
        ("properties", output.properties.is_some()),
        ("connect_timeout_ms", output.connect_timeout_ms.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

/// The settings shared by Kafka inputs and outputs, as written.
struct RawKafka<'a> {
    what: String,
    bootstrap_servers: Option<&'a str>,
    topic: Option<&'a str>,
    format: Option<&'a str>,
    columns: Option<&'a [String]>,
    avro_schema: Option<&'a str>,
    avro_schema_file: Option<&'a str>,
    properties: Option<&'a toml::Table>,
    for_input: bool,
}

/// Bootstrap servers, topic, format and properties, checked.
type KafkaCommon = (
    String,
    String,
    KafkaFormat,
    std::collections::BTreeMap<String, String>,
);

fn validate_kafka_common(raw: RawKafka<'_>, base: &Path) -> Result<KafkaCommon, String> {
    let what = &raw.what;
    let required = |value: Option<&str>, key: &str| {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("{what} (kind = \"kafka\") needs {key}"))
    };
    let bootstrap = required(raw.bootstrap_servers, "bootstrap_servers")?;
    let topic = required(raw.topic, "topic")?;
    let format_name = raw.format.unwrap_or("json").to_ascii_lowercase();
    if raw.columns.is_some() && format_name != "csv" {
        return Err(format!("{what}: columns is only for format = \"csv\""));
    }
    if (raw.avro_schema.is_some() || raw.avro_schema_file.is_some()) && format_name != "avro" {
        return Err(format!(
            "{what}: avro_schema and avro_schema_file are only for format = \"avro\""
        ));
    }
    let format = match format_name.as_str() {
        "json" => KafkaFormat::Json,
        "csv" => {
            let columns = raw.columns.map(<[String]>::to_vec).unwrap_or_default();
            if raw.for_input && columns.is_empty() {
                return Err(format!(
                    "{what}: format \"csv\" needs the column names, e.g. columns = [\"id\", \"value\"]"
                ));
            }
            if let Some(blank) = columns.iter().position(|c| c.trim().is_empty()) {
                return Err(format!("{what}: column {} has no name", blank + 1));
            }
            KafkaFormat::Csv { columns }
        }
        "avro" => {
            let text = match (raw.avro_schema, raw.avro_schema_file) {
                (Some(text), None) => text.to_string(),
                (None, Some(file)) => {
                    let path = base.join(file);
                    std::fs::read_to_string(&path).map_err(|e| {
                        format!("{what}: cannot read avro_schema_file {}: {e}", path.display())
                    })?
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{what}: give avro_schema or avro_schema_file, not both"
                    ))
                }
                (None, None) => {
                    return Err(format!(
                        "{what}: format \"avro\" needs avro_schema (the schema's JSON) or avro_schema_file"
                    ))
                }
            };
            let schema = apache_avro::Schema::parse_str(&text)
                .map_err(|e| format!("{what}: the Avro schema is not valid: {e}"))?;
            crate::connectors::kafka::check_avro_schema(&schema, raw.for_input)
                .map_err(|e| format!("{what}: {e}"))?;
            KafkaFormat::Avro(Box::new(schema))
        }
        other => {
            return Err(format!(
                "{what}: unknown format \"{other}\" (use \"json\", \"csv\" or \"avro\")"
            ))
        }
    };
    let mut properties = std::collections::BTreeMap::new();
    if let Some(table) = raw.properties {
        flatten_properties(table, "", &mut properties).map_err(|key| {
            format!("{what}: property \"{key}\" must be a string, number or boolean")
        })?;
    }
    Ok((bootstrap, topic, format, properties))
}

/// librdkafka settings as strings. A dotted key written bare
/// (`linger.ms = 5`) is a nested table in TOML: its parts are joined again.
fn flatten_properties(
    table: &toml::Table,
    prefix: &str,
    out: &mut std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Table(inner) => {
                flatten_properties(inner, &key, out)?;
                continue;
            }
            toml::Value::Array(_) | toml::Value::Datetime(_) => return Err(key),
        };
        out.insert(key, text);
    }
    Ok(())
}

fn connect_timeout(ms: Option<u64>) -> std::time::Duration {
    ms.map_or(DEFAULT_CONNECT_TIMEOUT, std::time::Duration::from_millis)
}

fn validate_kafka_input(input: RawInput, base: &Path) -> Result<InputConfig, String> {
    let what = format!("input \"{}\"", input.alias);
    if input.path.is_some() {
        return Err(format!(
            "{what}: a Kafka input has no path (it reads the topic)"
        ));
    }
    for (key, set) in [
        ("events", input.events.is_some()),
        ("keys", input.keys.is_some()),
        ("rate", input.rate.is_some()),
        ("disorder_ms", input.disorder_ms.is_some()),
        ("refresh_ms", input.refresh_ms.is_some()),
        ("date_format", input.date_format.is_some()),
        ("time_format", input.time_format.is_some()),
    ] {
        if set {
            return Err(format!("{what}: {key} is not a Kafka setting"));
        }
    }
    if input.input_type.as_deref().is_some_and(|t| t != "stream") {
        return Err(format!(
            "{what}: a Kafka input is a stream (type = \"stream\"); reference data comes from files"
        ));
    }
    let (bootstrap, topic, format, properties) = validate_kafka_common(
        RawKafka {
            what: what.clone(),
            bootstrap_servers: input.bootstrap_servers.as_deref(),
            topic: input.topic.as_deref(),
            format: input.format.as_deref(),
            columns: input.columns.as_deref(),
            avro_schema: input.avro_schema.as_deref(),
            avro_schema_file: input.avro_schema_file.as_deref(),
            properties: input.properties.as_ref(),
            for_input: true,
        },
        base,
    )?;
    let start = match input.start.as_deref() {
        None => StartPosition::Committed,
        Some(text) => StartPosition::parse(text).ok_or_else(|| {
            format!(
                "{what}: start \"{text}\" is not \"earliest\", \"latest\", \"committed\" or an ISO 8601 time"
            )
        })?,
    };
    let group = match input.group {
        None => Some(format!("eddy-{}", input.alias)),
        Some(g) if g.trim().is_empty() => None,
        Some(g) => Some(g),
    };
    Ok(InputConfig {
        endpoint: Endpoint::Std,
        format: Format::Json,
        input_type: InputType::Stream,
        arrival_time_field: input.arrival_time_field,
        // A topic's partitions are the partitions (dealt to the workers).
        split: false,
        generator: None,
        refresh_ms: None,
        date_time_formats: default_date_time_formats(),
        kafka: Some(KafkaInputSpec {
            bootstrap,
            topic,
            group,
            format,
            start,
            properties,
            stop_at_end: input.stop_at_end.unwrap_or(false),
            connect_timeout: connect_timeout(input.connect_timeout_ms),
        }),
        alias: input.alias,
    })
}

fn validate_kafka_output(output: RawOutput, base: &Path) -> Result<OutputConfig, String> {
    let what = format!("output \"{}\"", output.alias);
    if output.path.is_some() {
        return Err(format!(
            "{what}: a Kafka output has no path (it writes to the topic)"
        ));
    }
    let emit = match output.emit.as_deref() {
        None | Some("final") => crate::plan::EmitMode::Final,
        Some("changes") => crate::plan::EmitMode::Changes,
        Some(other) => {
            return Err(format!(
                "{what}: unknown emit mode \"{other}\" (use \"final\" or \"changes\")"
            ))
        }
    };
    let (bootstrap, topic, format, properties) = validate_kafka_common(
        RawKafka {
            what: what.clone(),
            bootstrap_servers: output.bootstrap_servers.as_deref(),
            topic: output.topic.as_deref(),
            format: output.format.as_deref(),
            columns: output.columns.as_deref(),
            avro_schema: output.avro_schema.as_deref(),
            avro_schema_file: output.avro_schema_file.as_deref(),
            properties: output.properties.as_ref(),
            for_input: false,
        },
        base,
    )?;
    Ok(OutputConfig {
        endpoint: Endpoint::Std,
        timestamp_field: output.timestamp_field,
        emit,
        kafka: Some(KafkaOutputSpec {
            bootstrap,
            topic,
            format,
            key_column: output.key_column.filter(|k| !k.trim().is_empty()),
            properties,
            connect_timeout: connect_timeout(output.connect_timeout_ms),
            create_partitions: output.partitions,
        }),
        alias: output.alias,
    })
}

impl Catalog for JobConfig {
    fn input(&self, name: &str) -> Option<InputInfo> {
        self.inputs
            .iter()
            .find(|i| i.alias.eq_ignore_ascii_case(name))
            .map(|i| InputInfo {
                name: i.alias.clone(),
                reference: i.input_type == InputType::Reference,
            })
    }

    fn output(&self, name: &str) -> Option<String> {
        self.outputs
            .iter()
            .find(|o| o.alias.eq_ignore_ascii_case(name))
            .map(|o| o.alias.clone())
    }

    fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|i| i.alias.clone()).collect()
    }

    fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|o| o.alias.clone()).collect()
    }

    fn function(&self, name: &str) -> Option<Arc<JsFunction>> {
        self.functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JobConfig, Vec<Diagnostic>> {
        let raw: RawJob = toml::from_str(text).map_err(|e| {
            vec![Diagnostic::error(
                codes::JOB,
                Span::default(),
                e.to_string(),
            )]
        })?;
        JobConfig::from_raw(raw, Path::new("/jobs/a"), text)
    }

    #[test]
    fn functions_are_read_compiled_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("f.js"), "function f(x) { return x; }").expect("write");
        std::fs::write(
            dir.path().join("udf.Extra.js"),
            "function g() { return 1; }",
        )
        .expect("write");
        let parse_in = |text: &str| {
            let raw: RawJob = toml::from_str(text).expect("toml");
            JobConfig::from_raw(raw, dir.path(), text)
        };
        let job = parse_in(
            "query = \"q\"\n[[functions]]\nname = \"F\"\nfile = \"f.js\"\nreturns = \"float\"\ntime_limit_ms = 50\n",
        )
        .expect("valid");
        let f = job.function("f").expect("case-insensitive lookup");
        assert_eq!(
            (f.kind, f.returns, f.time_limit),
            (
                JsKind::Udf,
                Some(crate::types::DataType::Float),
                std::time::Duration::from_millis(50)
            )
        );
        let mut functions = job.functions.clone();
        discover_functions(dir.path(), &mut functions).expect("discovered");
        let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["F", "Extra"]);
        for (text, message) in [
            ("kind = \"udx\"", "unknown kind \"udx\""),
            ("returns = \"int\"", "unknown return type \"int\""),
            ("time_limit_ms = 0", "at least 1"),
            ("file = \"none.js\"", "cannot read"),
        ] {
            let file = if text.starts_with("file") {
                ""
            } else {
                "file = \"f.js\"\n"
            };
            let errors = parse_in(&format!(
                "query = \"q\"\n[[functions]]\nname = \"F\"\n{file}{text}\n"
            ))
            .expect_err(text);
            assert!(errors[0].message.contains(message), "{text}: {errors:?}");
        }
        let twice = parse_in(
            "query = \"q\"\n[[functions]]\nname = \"F\"\nfile = \"f.js\"\n[[functions]]\nname = \"f\"\nfile = \"f.js\"\n",
        )
        .expect_err("declared twice");
        assert!(twice[0].message.contains("declared twice"), "{twice:?}");
    }

    #[test]
    fn paths_resolve_against_the_job_folder() {
        let job = parse(
            r#"
            query = "q.asaql"
            [[inputs]]
            alias = "In"
            path = "data/in.csv"
            [[outputs]]
            alias = "Out"
            path = "-"
            "#,
        )
        .expect("valid");
        assert_eq!(
            job.inputs[0].endpoint,
            Endpoint::File("/jobs/a/data/in.csv".into())
        );
        assert_eq!(job.inputs[0].format, Format::Csv);
        assert_eq!(job.outputs[0].endpoint, Endpoint::Std);
        assert_eq!(job.ordering, EventOrdering::default());
        assert!(job.input("in").is_some());
    }

    #[test]
    fn kafka_inputs_and_outputs_are_validated_with_defaults() {
        let job = parse(
            r#"
            query = "q.asaql"
            [[inputs]]
            alias = "Clicks"
            kind = "kafka"
            bootstrap_servers = "127.0.0.1:19092"
            topic = "clicks"
            properties = { "fetch.min.bytes" = 1, linger.ms = "5", check = true }
            [[inputs]]
            alias = "Rows"
            kind = "kafka"
            bootstrap_servers = "127.0.0.1:19092"
            topic = "rows"
            format = "csv"
            columns = ["id", "value"]
            start = "2024-01-01T00:00:00Z"
            group = ""
            stop_at_end = true
            connect_timeout_ms = 2500
            [[outputs]]
            alias = "Out"
            kind = "kafka"
            bootstrap_servers = "127.0.0.1:19092"
            topic = "out"
            format = "avro"
            avro_schema = '{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}'
            key_column = "n"
            "#,
        )
        .expect("valid");
        let clicks = job.inputs[0].kafka.as_ref().expect("kafka");
        assert_eq!(job.inputs[0].endpoint, Endpoint::Std);
        assert_eq!(clicks.topic, "clicks");
        assert_eq!(clicks.group.as_deref(), Some("eddy-Clicks"));
        assert_eq!(clicks.start, StartPosition::Committed);
        assert_eq!(clicks.format, KafkaFormat::Json);
        assert!(!clicks.stop_at_end);
        assert_eq!(clicks.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        let props: Vec<(&str, &str)> = clicks
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            props,
            vec![
                ("check", "true"),
                ("fetch.min.bytes", "1"),
                ("linger.ms", "5")
            ]
        );
        let rows = job.inputs[1].kafka.as_ref().expect("kafka");
        assert_eq!(
            rows.format,
            KafkaFormat::Csv {
                columns: vec!["id".into(), "value".into()]
            }
        );
        assert!(matches!(rows.start, StartPosition::Timestamp(_)));
        assert_eq!(rows.group, None);
        assert!(rows.stop_at_end);
        assert_eq!(rows.connect_timeout, std::time::Duration::from_millis(2500));
        let out = job.outputs[0].kafka.as_ref().expect("kafka");
        assert!(matches!(out.format, KafkaFormat::Avro(_)));
        assert_eq!(out.key_column.as_deref(), Some("n"));
        assert!(job.inputs.iter().all(|i| i.generator.is_none()));
    }

    #[test]
    fn avro_schemas_can_come_from_a_file_beside_the_job() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("r.avsc"),
            r#"{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}"#,
        )
        .expect("writes");
        let text = r#"
            query = "q.asaql"
            [[inputs]]
            alias = "In"
            kind = "kafka"
            bootstrap_servers = "b:9092"
            topic = "t"
            format = "avro"
            avro_schema_file = "r.avsc"
            "#;
        let raw: RawJob = toml::from_str(text).expect("toml");
        let job = JobConfig::from_raw(raw, dir.path(), text).expect("valid");
        assert!(matches!(
            job.inputs[0].kafka.as_ref().map(|k| &k.format),
            Some(KafkaFormat::Avro(_))
        ));
    }

    #[test]
    fn bad_kafka_settings_are_reported_at_the_alias() {
        let cases = [
            ("", "needs bootstrap_servers"),
            ("bootstrap_servers = \"b:1\"", "needs topic"),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\nformat = \"csv\"",
                "needs the column names",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\nstart = \"yesterday\"",
                "start \"yesterday\" is not",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\nformat = \"avro\"",
                "needs avro_schema",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\nformat = \"avro\"\navro_schema = \"{\\\"type\\\": 1}\"",
                "the Avro schema is not valid",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\nformat = \"avro\"\navro_schema = '{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}}]}'",
                "has a map",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\nformat = \"xml\"",
                "unknown format \"xml\"",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\ncolumns = [\"a\"]",
                "columns is only for format = \"csv\"",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\ntype = \"reference\"",
                "a Kafka input is a stream",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\nproperties = { a = [1] }",
                "property \"a\" must be",
            ),
            (
                "bootstrap_servers = \"b:1\"\ntopic = \"t\"\npath = \"x.json\"",
                "has no path",
            ),
        ];
        for (settings, expected) in cases {
            let text = format!(
                "query = \"q.asaql\"\n[[inputs]]\nalias = \"Kin\"\nkind = \"kafka\"\n{settings}\n"
            );
            let errors = parse(&text).expect_err(expected);
            assert_eq!(errors.len(), 1, "{text}");
            let message = &errors[0].message;
            assert!(message.contains(expected), "{expected}: {message}");
            let span = errors[0].span().expect("span");
            assert_eq!(&text[span.start..span.end], "Kin");
        }
        let text = "query = \"q.asaql\"\n[[inputs]]\nalias = \"F\"\npath = \"a.json\"\ntopic = \"t\"\n[[outputs]]\nalias = \"O\"\npath = \"-\"\nkey_column = \"k\"\n";
        let errors = parse(text).expect_err("kafka keys on files");
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0].message,
            "input \"F\": topic is only for kind = \"kafka\""
        );
        assert!(errors[1].message.contains("key_column is only for"));
    }

    #[test]
    fn bad_settings_are_reported_with_spans() {
        let text = r#"
            query = "q.asaql"
            compatibility_level = "9.9"
            on_error = "explode"
            "#;
        let errors = parse(text).expect_err("invalid");
        assert_eq!(errors.len(), 2);
        let span = errors[0].span().expect("span");
        assert_eq!(&text[span.start..span.end], "9.9");
    }
}
