//! Kafka topics in and out: a blocking client layer over librdkafka.
//!
//! Eddy decides which worker reads which partition, so a [`KafkaReader`]
//! reads an explicitly *assigned* set of partitions (`assign`, never
//! `subscribe`: there is no group rebalance). A [`KafkaWriter`] encodes rows
//! and hands them to librdkafka, which batches, retries and delivers them.
//! Both are blocking and poll-driven (rdkafka's `BaseConsumer` and
//! `BaseProducer`), so they fit a timely worker that polls its sources
//! between dataflow steps.
//!
//! # Events
//!
//! Each message is one event: a JSON object, one CSV record (the column
//! names come from the job file), or one Avro datum written with the
//! schema given in the job file (plain binary encoding, as
//! `apache_avro::to_avro_datum` writes it; no container header and no
//! schema-registry prefix). Avro values map to ASA types as in
//! ASA-SEMANTICS.md §7:
//!
//! | Avro | Eddy |
//! |---|---|
//! | null | NULL |
//! | boolean | bit (bigint 0/1 below compatibility level 1.2) |
//! | int, long | bigint |
//! | float, double | float |
//! | string, enum, uuid | nvarchar(max) |
//! | bytes, fixed | nvarchar(max): standard base64 with padding |
//! | record | record |
//! | array | array |
//! | union | the value of its branch |
//! | map | a bad event (ASA has no map type); job files are checked for it |
//! | timestamp-*, local-timestamp-*, date | datetime (local times read as UTC) |
//! | time-millis, time-micros | nvarchar(max) `HH:MM:SS.fffffff` |
//! | decimal, big-decimal | float |
//! | duration | record of `Months`, `Days`, `Milliseconds` |
//!
//! An event that does not decode is a [`BadEvent`] at position
//! `partition P offset O`, never a panic.
//!
//! Every row also gets the columns ASA adds to Event Hubs events (§6),
//! unless the payload has a field of that name: `PartitionId` (bigint),
//! `EventEnqueuedUtcTime` (the message timestamp, create or log-append
//! time) and `EventProcessedUtcTime` (when Eddy read it). The hidden column
//! [`METADATA_COLUMN`] holds a record with the message's `Key` (string or
//! NULL), `Offset`, `Topic` and `Headers` (a record of header name to
//! string), for `GetMetadataPropertyValue`.
//!
//! # Writing
//!
//! JSON rows are written as [`JsonLinesWriter`](super::file::JsonLinesWriter)
//! writes a line, without the newline. CSV rows are one record without a
//! header: the configured `columns` in that order, or else the row's
//! columns in order; values are written as `CAST(v AS nvarchar(max))`
//! writes them (records and arrays as JSON text) and NULL as an empty field.
//! Avro rows are converted field by field following the schema (the
//! inverse of the table above; a string goes into bytes or fixed as
//! base64) and a row that does not fit is an error. The message key is the
//! key column's value as text, so the default partitioner keeps one key in
//! one partition.
//!
//! # Contract
//!
//! - Transient broker errors never end a reader: they are logged to standard
//!   error once (until a message arrives again) and polling goes on, so a
//!   broker restart is survived. librdkafka reconnects by itself.
//! - A writer never drops a message: deliveries do not time out
//!   (`message.timeout.ms = 0`), a full queue is waited out, and
//!   [`KafkaWriter::flush`] returns only when every message is acknowledged
//!   or has failed for good (an error it reports).
//! - Offsets are committed asynchronously ([`KafkaReader::commit`]): Eddy's
//!   own progress is the truth and a Kafka commit is a best-effort bookmark
//!   that must never hold a worker up while the broker is away.
//! - Opening either side checks that the broker answers within the connect
//!   timeout, and fails with a message naming the address, the topic and
//!   librdkafka's reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{Name as AvroName, Names, ResolvedSchema};
use apache_avro::types::Value as AvroValue;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{BorrowedMessage, DeliveryResult, Headers, Message, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::connectors::file::{csv_value, lower_case, value_to_row, ReadOptions};
use crate::connectors::{reasons, truncate_raw, BadEvent, Decoded};
use crate::types::{DataType, DateTime, Name, Record, Row, Value, TICKS_PER_SECOND};

/// The hidden column holding a message's key, offset, topic and headers.
pub const METADATA_COLUMN: &str = "__metadata";

/// How long opening a reader or writer waits for the broker by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kafka input: which topic, how its messages are encoded, where to start.
#[derive(Clone, Debug)]
pub struct KafkaInputSpec {
    /// Bootstrap servers (`host:port[,host:port...]`).
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// Consumer group id for committed offsets; `None` commits nothing
    /// (job files default to `eddy-<alias>`).
    pub group: Option<String>,
    /// How messages are encoded.
    pub format: KafkaFormat,
    /// Where reading starts in each partition.
    pub start: StartPosition,
    /// librdkafka settings, passed as they are (they override Eddy's).
    pub properties: BTreeMap<String, String>,
    /// End the input once every assigned partition has reached the end it
    /// had when it was assigned (for tests and batch runs); otherwise read
    /// forever.
    pub stop_at_end: bool,
    /// How long opening waits for the broker to answer.
    pub connect_timeout: Duration,
}

/// A Kafka output.
#[derive(Clone, Debug)]
pub struct KafkaOutputSpec {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// How rows are encoded.
    pub format: KafkaFormat,
    /// The column whose value (as text) is each message's key.
    pub key_column: Option<String>,
    /// librdkafka settings, passed as they are (they override Eddy's).
    pub properties: BTreeMap<String, String>,
    /// How long opening waits for the broker to answer.
    pub connect_timeout: Duration,
    /// When the topic does not exist, the runtime creates it with this
    /// many partitions (`partitions` in the job file); otherwise the
    /// broker's own rule applies.
    pub create_partitions: Option<i32>,
}

/// Message encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum KafkaFormat {
    /// One JSON object per message.
    Json,
    /// One CSV record per message, without a header.
    Csv {
        /// Column names. Required to read; when writing, the columns to
        /// write in this order (empty: every column of the row, in order).
        columns: Vec<String>,
    },
    /// One Avro datum per message, written with this schema (a record).
    Avro(Box<Schema>),
}

/// Where a reader starts in each partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest message still kept.
    Earliest,
    /// Only messages produced after the reader is opened.
    Latest,
    /// The group's committed offset; the earliest when nothing is committed.
    Committed,
    /// The first message whose timestamp is at or after this time.
    Timestamp(DateTime),
}

impl StartPosition {
    /// Parses `earliest`, `latest`, `committed` or an ISO 8601 timestamp.
    pub fn parse(text: &str) -> Option<StartPosition> {
        match text.trim().to_ascii_lowercase().as_str() {
            "earliest" => Some(StartPosition::Earliest),
            "latest" => Some(StartPosition::Latest),
            "committed" => Some(StartPosition::Committed),
            _ => DateTime::parse(text).map(StartPosition::Timestamp),
        }
    }
}

/// Why a Kafka operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The broker did not answer in time.
    #[error("cannot reach Kafka at {bootstrap} (topic \"{topic}\") after {waited}: {reason}")]
    Unreachable {
        /// The bootstrap servers.
        bootstrap: String,
        /// The topic asked about.
        topic: String,
        /// How long it was tried, e.g. `10 s`.
        waited: String,
        /// librdkafka's last word on it.
        reason: String,
    },
    /// The broker answered but does not know the topic.
    #[error("topic \"{topic}\" does not exist at {bootstrap}")]
    UnknownTopic {
        /// The bootstrap servers.
        bootstrap: String,
        /// The topic.
        topic: String,
    },
    /// A partition to read is not one of the topic's.
    #[error("topic \"{topic}\" has no partition {partition} (its partitions: {known})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// The topic's partitions, listed.
        known: String,
    },
    /// librdkafka refused an operation.
    #[error("{context}: {source}")]
    Client {
        /// What was being done.
        context: String,
        /// librdkafka's error.
        #[source]
        source: RdError,
    },
    /// A row could not be encoded for the topic.
    #[error("cannot encode a row for topic \"{topic}\": {message}")]
    Encode {
        /// The topic.
        topic: String,
        /// What did not fit.
        message: String,
    },
    /// Messages failed for good (not a transient error).
    #[error("{count} message(s) to topic \"{topic}\" were not delivered: {reason}")]
    Delivery {
        /// The topic.
        topic: String,
        /// How many failed.
        count: u64,
        /// The first failure's reason.
        reason: String,
    },
    /// An offset to commit is negative.
    #[error("cannot commit offset {offset} for partition {partition} of topic \"{topic}\"")]
    InvalidOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
    },
    /// The broker refused to create a topic.
    #[error("cannot create topic \"{topic}\" at {bootstrap}: {reason}")]
    CreateTopic {
        /// The bootstrap servers.
        bootstrap: String,
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
}

fn client_error(context: impl Into<String>) -> impl FnOnce(RdError) -> KafkaError {
    let context = context.into();
    move |source| KafkaError::Client { context, source }
}

// ---------------------------------------------------------------------------
// librdkafka client context

/// Keeps librdkafka's last complaint (for error messages) instead of
/// logging it, and collects delivery failures of a producer.
#[derive(Default)]
struct EddyContext {
    last_problem: Mutex<Option<String>>,
    failures: Mutex<Failures>,
    /// Why the last asynchronous offset commit failed, until reported.
    commit_failure: Mutex<Option<String>>,
}

#[derive(Default)]
struct Failures {
    count: u64,
    first: Option<String>,
}

impl EddyContext {
    fn last_problem(&self) -> Option<String> {
        self.last_problem.lock().ok().and_then(|p| p.clone())
    }

    fn note(&self, problem: String) {
        if let Ok(mut slot) = self.last_problem.lock() {
            *slot = Some(problem);
        }
    }

    fn take_commit_failure(&self) -> Option<String> {
        self.commit_failure.lock().ok().and_then(|mut f| f.take())
    }

    fn take_failures(&self) -> Failures {
        self.failures
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }
}

impl ClientContext for EddyContext {
    fn log(&self, level: RDKafkaLogLevel, _facility: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            self.note(message.trim().to_string());
        }
    }

    fn error(&self, error: RdError, reason: &str) {
        let reason = reason.trim();
        self.note(if reason.is_empty() {
            error.to_string()
        } else {
            reason.to_string()
        });
    }
}

impl ConsumerContext for EddyContext {
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        if let Err(error) = result {
            if let Ok(mut slot) = self.commit_failure.lock() {
                *slot = Some(error.to_string());
            }
        }
    }
}

impl ProducerContext for EddyContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, _message)) = result {
            if let Ok(mut failures) = self.failures.lock() {
                failures.count += 1;
                if failures.first.is_none() {
                    failures.first = Some(error.to_string());
                }
            }
        }
    }
}

/// Defaults for every client; `properties` override them.
fn client_config(
    bootstrap: &str,
    defaults: &[(&str, &str)],
    properties: &BTreeMap<String, String>,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "eddy")
        // Reconnect quickly after a broker restart.
        .set("reconnect.backoff.max.ms", "1000");
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in properties {
        config.set(key.as_str(), value.as_str());
    }
    config
}

fn create<T: FromClientConfigAndContext<EddyContext>>(
    config: &ClientConfig,
    what: &str,
) -> Result<T, KafkaError> {
    config
        .create_with_context(EddyContext::default())
        .map_err(client_error(format!("cannot create a Kafka {what}")))
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// How long an answered "unknown topic" is retried (metadata may lag just
/// after the topic was created).
const UNKNOWN_TOPIC_GRACE: Duration = Duration::from_secs(2);

/// Asks the broker for the topic's partitions until it answers or
/// `timeout` passes.
fn fetch_partitions(
    client: &Client<EddyContext>,
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last_reason: Option<String> = None;
    let mut unknown_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let attempt = deadline
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_secs(2));
        match client.fetch_metadata(Some(topic), attempt) {
            Ok(metadata) => {
                let found = metadata.topics().iter().find(|t| t.name() == topic);
                match found {
                    Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                        let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                        ids.sort_unstable();
                        return Ok(ids);
                    }
                    _ => {
                        let since = *unknown_since.get_or_insert(now);
                        if now.duration_since(since) >= UNKNOWN_TOPIC_GRACE.min(timeout)
                            || now >= deadline
                        {
                            return Err(KafkaError::UnknownTopic {
                                bootstrap: bootstrap.to_string(),
                                topic: topic.to_string(),
                            });
                        }
                    }
                }
            }
            Err(e) => last_reason = Some(e.to_string()),
        }
        if Instant::now() >= deadline {
            let reason = client
                .context()
                .last_problem()
                .or(last_reason)
                .unwrap_or_else(|| "no answer".to_string());
            return Err(KafkaError::Unreachable {
                bootstrap: bootstrap.to_string(),
                topic: topic.to_string(),
                waited: format_duration(timeout),
                reason,
            });
        }
        std::thread::sleep(Duration::from_millis(100).min(deadline - Instant::now()));
    }
}

/// Partition ids of the topic, asking the broker with a bounded retry;
/// after `timeout` a [`KafkaError::Unreachable`] naming the address, the
/// topic and librdkafka's reason.
pub fn partition_ids(
    bootstrap: &str,
    topic: &str,
    properties: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError> {
    let config = client_config(bootstrap, &[], properties);
    let consumer: BaseConsumer<EddyContext> = create(&config, "client")?;
    fetch_partitions(consumer.client(), bootstrap, topic, timeout)
}

/// Creates `topic` with `partitions` partitions (replication factor 1) and
/// waits until the broker lists them. Used by tests and examples.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), KafkaError> {
    let config = client_config(bootstrap, &[], &BTreeMap::new());
    let admin: AdminClient<EddyContext> = create(&config, "admin client")?;
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .request_timeout(Some(DEFAULT_CONNECT_TIMEOUT))
        .operation_timeout(Some(DEFAULT_CONNECT_TIMEOUT));
    let failed = |reason: String| KafkaError::CreateTopic {
        bootstrap: bootstrap.to_string(),
        topic: topic.to_string(),
        reason,
    };
    let results = block_on(admin.create_topics([&new_topic], &options)).map_err(|e| {
        failed(
            admin
                .inner()
                .context()
                .last_problem()
                .unwrap_or_else(|| e.to_string()),
        )
    })?;
    for result in results {
        if let Err((_, code)) = result {
            return Err(failed(code.to_string()));
        }
    }
    let deadline = Instant::now() + DEFAULT_CONNECT_TIMEOUT;
    loop {
        let seen = fetch_partitions(admin.inner(), bootstrap, topic, DEFAULT_CONNECT_TIMEOUT);
        match seen {
            Ok(ids) if ids.len() >= usize::try_from(partitions).unwrap_or(0) => return Ok(()),
            Ok(_) | Err(KafkaError::UnknownTopic { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(ids) => {
                return Err(failed(format!(
                    "the broker lists {} partitions, not {partitions}",
                    ids.len()
                )))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs a future to completion on this thread (rdkafka's admin calls are
/// futures completed by rdkafka's own thread; Eddy has no async runtime).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// Reading

/// What polling a [`KafkaReader`] gives.
#[derive(Debug)]
pub enum KafkaPoll {
    /// A message (decoded, or bad).
    Event(KafkaEvent),
    /// Nothing now (also while the broker is unreachable).
    Pending,
    /// `stop_at_end` and every assigned partition has reached its end.
    End,
}

/// One message read.
#[derive(Debug)]
pub struct KafkaEvent {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The message timestamp (create or log-append time), if it has one.
    pub timestamp: Option<DateTime>,
    /// The row, with the metadata columns, or why it did not decode.
    pub item: Decoded,
}

/// Reads an explicitly assigned set of partitions of one topic.
pub struct KafkaReader {
    consumer: BaseConsumer<EddyContext>,
    topic: String,
    decoder: Decoder,
    /// Whether offsets are committed (a group was configured).
    commits: bool,
    stop_at_end: bool,
    partitions: Vec<PartitionState>,
    ended: bool,
    /// Transient errors already logged since the last message.
    logged: HashSet<String>,
}

struct PartitionState {
    id: i32,
    /// The high watermark when assigned (only with `stop_at_end`).
    end: i64,
    done: bool,
}

/// Most events handled by one [`KafkaReader::poll`] call before it
/// returns `Pending` (errors and end-of-partition notices are skipped).
const POLL_BUDGET: usize = 64;

impl KafkaReader {
    /// Opens a reader of `partitions` (assigned, not subscribed), starting
    /// at `spec.start`. Checks that the broker answers and that the
    /// partitions exist, within `spec.connect_timeout`.
    pub fn open(
        spec: &KafkaInputSpec,
        partitions: &[i32],
        options: ReadOptions,
    ) -> Result<Self, KafkaError> {
        let decoder =
            Decoder::new(&spec.format, options).map_err(|message| KafkaError::Encode {
                topic: spec.topic.clone(),
                message,
            })?;
        // librdkafka needs a group id to assign partitions; without one a
        // private id is used and nothing is committed.
        let group = spec.group.clone().unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!("eddy-private-{}-{nanos}", std::process::id())
        });
        let eof = if spec.stop_at_end { "true" } else { "false" };
        let config = client_config(
            &spec.bootstrap,
            &[
                ("group.id", group.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("enable.partition.eof", eof),
                // With assigned partitions there is no group membership;
                // this only bounds how long a commit waits for a group
                // coordinator that is down (and so how long dropping the
                // reader can take then).
                ("session.timeout.ms", "10000"),
            ],
            &spec.properties,
        );
        let consumer: BaseConsumer<EddyContext> = create(&config, "consumer")?;
        let deadline = Instant::now() + spec.connect_timeout;
        let known = fetch_partitions(
            consumer.client(),
            &spec.bootstrap,
            &spec.topic,
            spec.connect_timeout,
        )?;
        let mut ids: Vec<i32> = partitions.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if let Some(&missing) = ids.iter().find(|p| !known.contains(p)) {
            return Err(KafkaError::UnknownPartition {
                topic: spec.topic.clone(),
                partition: missing,
                known: known
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut reader = KafkaReader {
            topic: spec.topic.clone(),
            decoder,
            commits: spec.group.is_some(),
            stop_at_end: spec.stop_at_end,
            partitions: ids
                .iter()
                .map(|&id| PartitionState {
                    id,
                    end: 0,
                    done: false,
                })
                .collect(),
            ended: false,
            logged: HashSet::new(),
            consumer,
        };
        // Ends first, so that nothing produced meanwhile is skipped by Latest.
        let mut watermarks = HashMap::new();
        if spec.stop_at_end || spec.start == StartPosition::Latest {
            for &id in &ids {
                let (low, high) = retry_until(deadline, spec, &reader.consumer, |c, t| {
                    c.fetch_watermarks(&spec.topic, id, t)
                })?;
                watermarks.insert(id, (low, high));
            }
        }
        let starts = reader.start_offsets(spec, &ids, &watermarks, deadline)?;
        let mut assignment = TopicPartitionList::with_capacity(ids.len());
        for (&id, &start) in ids.iter().zip(&starts) {
            assignment
                .add_partition_offset(&spec.topic, id, start)
                .map_err(client_error(format!(
                    "cannot start partition {id} of topic \"{}\"",
                    spec.topic
                )))?;
        }
        reader
            .consumer
            .assign(&assignment)
            .map_err(client_error(format!(
                "cannot assign partitions of topic \"{}\"",
                spec.topic
            )))?;
        if spec.stop_at_end {
            for (i, start) in starts.into_iter().enumerate() {
                let Some(state) = reader.partitions.get_mut(i) else {
                    continue;
                };
                let (low, high) = watermarks.get(&state.id).copied().unwrap_or((0, 0));
                state.end = high;
                // Where reading starts, when it is known before fetching
                // (a stored offset is known only to librdkafka: its end
                // is then seen as an end-of-partition notice).
                let first = match start {
                    Offset::Beginning => Some(low),
                    Offset::End => Some(high),
                    Offset::Offset(n) => Some(n),
                    _ => None,
                };
                if first.is_some_and(|f| f >= high) {
                    state.done = true;
                }
            }
            for state in reader.partitions.iter().filter(|p| p.done) {
                pause(&reader.consumer, &reader.topic, state.id);
            }
        }
        Ok(reader)
    }

    /// The offset each partition starts at.
    fn start_offsets(
        &self,
        spec: &KafkaInputSpec,
        ids: &[i32],
        watermarks: &HashMap<i32, (i64, i64)>,
        deadline: Instant,
    ) -> Result<Vec<Offset>, KafkaError> {
        Ok(match spec.start {
            StartPosition::Earliest => vec![Offset::Beginning; ids.len()],
            StartPosition::Latest => ids
                .iter()
                .map(|id| {
                    watermarks
                        .get(id)
                        .map_or(Offset::End, |&(_, high)| Offset::Offset(high))
                })
                .collect(),
            StartPosition::Committed if !self.commits => vec![Offset::Beginning; ids.len()],
            StartPosition::Committed => {
                let mut asked = TopicPartitionList::with_capacity(ids.len());
                for &id in ids {
                    asked.add_partition(&spec.topic, id);
                }
                let committed = retry_until(deadline, spec, &self.consumer, |c, t| {
                    c.committed_offsets(asked.clone(), t)
                })?;
                ids.iter()
                    .map(|&id| {
                        match committed
                            .find_partition(&spec.topic, id)
                            .map(|e| e.offset())
                        {
                            Some(Offset::Offset(n)) if n >= 0 => Offset::Offset(n),
                            _ => Offset::Beginning,
                        }
                    })
                    .collect()
            }
            StartPosition::Timestamp(at) => {
                let millis = at.ticks().div_euclid(TICKS_PER_SECOND / 1000);
                let mut asked = TopicPartitionList::with_capacity(ids.len());
                for &id in ids {
                    asked
                        .add_partition_offset(&spec.topic, id, Offset::Offset(millis.max(0)))
                        .map_err(client_error("cannot ask for offsets by time"))?;
                }
                let found = retry_until(deadline, spec, &self.consumer, |c, t| {
                    c.offsets_for_times(asked.clone(), t)
                })?;
                ids.iter()
                    .map(|&id| {
                        match found.find_partition(&spec.topic, id).map(|e| e.offset()) {
                            Some(Offset::Offset(n)) if n >= 0 => Offset::Offset(n),
                            // No message at or after the time: from the end.
                            _ => Offset::End,
                        }
                    })
                    .collect()
            }
        })
    }

    /// The next message, if one is available now. Never blocks.
    pub fn poll(&mut self) -> KafkaPoll {
        if self.ended {
            return KafkaPoll::End;
        }
        for _ in 0..POLL_BUDGET {
            let message = match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(message)) => message,
                Some(Err(RdError::PartitionEOF(partition))) => {
                    self.finish(partition);
                    continue;
                }
                Some(Err(error)) => {
                    let reason = self.consumer.context().last_problem();
                    log_once(&mut self.logged, &self.topic, &error, reason);
                    continue;
                }
            };
            self.logged.clear();
            let partition = message.partition();
            let offset = message.offset();
            if self.stop_at_end {
                let Some(state) = self.partitions.iter_mut().find(|p| p.id == partition) else {
                    continue;
                };
                let past_end = state.done || offset >= state.end;
                if past_end || offset + 1 >= state.end {
                    state.done = true;
                    pause(&self.consumer, &self.topic, partition);
                }
                if past_end {
                    // Produced after the end this reader stops at.
                    continue;
                }
            }
            return KafkaPoll::Event(decode_message(&self.decoder, &message));
        }
        if let Some(failure) = self.consumer.context().take_commit_failure() {
            eprintln!(
                "warning: Kafka topic \"{}\": an offset commit failed: {failure}",
                self.topic
            );
        }
        if self.stop_at_end && self.partitions.iter().all(|p| p.done) {
            self.ended = true;
            return KafkaPoll::End;
        }
        KafkaPoll::Pending
    }

    /// Commits, per partition, the offset of the next message to read.
    /// A no-op without a group.
    ///
    /// The commit is asynchronous: it returns at once, so a worker is never
    /// held up by a broker that is down (a synchronous commit waits for the
    /// group coordinator, up to the session timeout). A commit the broker
    /// refuses is logged to standard error by a later [`poll`](Self::poll);
    /// the next commit carries newer offsets anyway. Dropping the reader
    /// waits for commits under way, at most `session.timeout.ms` (10 s by
    /// default) while the broker is down.
    pub fn commit(&mut self, next_offsets: &[(i32, i64)]) -> Result<(), KafkaError> {
        if !self.commits || next_offsets.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::with_capacity(next_offsets.len());
        for &(partition, offset) in next_offsets {
            if offset < 0 {
                return Err(KafkaError::InvalidOffset {
                    topic: self.topic.clone(),
                    partition,
                    offset,
                });
            }
            offsets
                .add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(client_error("cannot commit offsets"))?;
        }
        self.consumer
            .commit(&offsets, CommitMode::Async)
            .map_err(client_error(format!(
                "cannot commit offsets of topic \"{}\"",
                self.topic
            )))
    }

    /// Marks a partition as at its end and stops fetching it.
    fn finish(&mut self, partition: i32) {
        if !self.stop_at_end {
            return;
        }
        if let Some(state) = self.partitions.iter_mut().find(|p| p.id == partition) {
            if !state.done {
                state.done = true;
                pause(&self.consumer, &self.topic, partition);
            }
        }
    }
}

/// Stops fetching a partition. Pausing only saves fetching: messages past
/// the end are skipped anyway, so a failure is harmless.
fn pause(consumer: &BaseConsumer<EddyContext>, topic: &str, partition: i32) {
    let mut list = TopicPartitionList::with_capacity(1);
    list.add_partition(topic, partition);
    let _ = consumer.pause(&list);
}

/// Logs a transient error to standard error unless an error of the same
/// kind was logged since the last message arrived.
fn log_once(logged: &mut HashSet<String>, topic: &str, error: &RdError, reason: Option<String>) {
    let kind = error.to_string();
    if logged.len() < 64 && logged.insert(kind.clone()) {
        let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        eprintln!("warning: Kafka topic \"{topic}\": {kind}{reason}; retrying");
    }
}

/// Decodes one message into an event at `partition P offset O`.
fn decode_message(decoder: &Decoder, message: &BorrowedMessage<'_>) -> KafkaEvent {
    let partition = message.partition();
    let offset = message.offset();
    let timestamp = match message.timestamp() {
        Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => {
            ms.checked_mul(TICKS_PER_MILLI).map(DateTime)
        }
        Timestamp::NotAvailable => None,
    };
    let payload = message.payload().unwrap_or_default();
    let item = match decoder.decode(payload) {
        Ok(mut row) => {
            add_metadata(&mut row, message, timestamp);
            Ok(row)
        }
        Err((reason, text)) => Err(BadEvent {
            position: format!("partition {partition} offset {offset}"),
            reason,
            message: text,
            raw: truncate_raw(&String::from_utf8_lossy(payload)),
        }),
    };
    KafkaEvent {
        partition,
        offset,
        timestamp,
        item,
    }
}

/// Retries a broker request until it succeeds or the deadline passes.
fn retry_until<T>(
    deadline: Instant,
    spec: &KafkaInputSpec,
    consumer: &BaseConsumer<EddyContext>,
    mut request: impl FnMut(&BaseConsumer<EddyContext>, Duration) -> Result<T, RdError>,
) -> Result<T, KafkaError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match request(
            consumer,
            left.clamp(Duration::from_millis(1), Duration::from_secs(2)),
        ) {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() >= deadline => {
                return Err(KafkaError::Unreachable {
                    bootstrap: spec.bootstrap.clone(),
                    topic: spec.topic.clone(),
                    waited: format_duration(spec.connect_timeout),
                    reason: consumer
                        .context()
                        .last_problem()
                        .unwrap_or_else(|| e.to_string()),
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Adds the ASA input metadata columns and the hidden metadata record.
fn add_metadata(row: &mut Row, message: &BorrowedMessage<'_>, timestamp: Option<DateTime>) {
    row.push_if_absent(
        Name::from("PartitionId"),
        Value::Bigint(i64::from(message.partition())),
    );
    row.push_if_absent(
        Name::from("EventEnqueuedUtcTime"),
        timestamp.map_or(Value::Null, Value::DateTime),
    );
    row.push_if_absent(
        Name::from("EventProcessedUtcTime"),
        Value::DateTime(DateTime::now()),
    );
    let mut headers = Record::new();
    if let Some(list) = message.headers() {
        for header in list.iter() {
            headers.set(
                Name::from(header.key),
                header.value.map_or(Value::Null, |v| {
                    Value::String(String::from_utf8_lossy(v).into_owned())
                }),
            );
        }
    }
    let mut metadata = Record::with_capacity(4);
    metadata.push_unchecked(
        Name::from("Key"),
        message.key().map_or(Value::Null, |k| {
            Value::String(String::from_utf8_lossy(k).into_owned())
        }),
    );
    metadata.push_unchecked(Name::from("Offset"), Value::Bigint(message.offset()));
    metadata.push_unchecked(Name::from("Topic"), Value::str(message.topic()));
    metadata.push_unchecked(Name::from("Headers"), Value::Record(headers));
    row.set(Name::from(METADATA_COLUMN), Value::Record(metadata));
}

/// Turns payloads into rows.
struct Decoder {
    kind: DecoderKind,
    options: ReadOptions,
}

enum DecoderKind {
    Json,
    Csv(Vec<Name>),
    Avro { schema: Box<Schema>, names: Names },
}

/// A decoding failure: reason code and message.
type DecodeError = (&'static str, String);

impl Decoder {
    fn new(format: &KafkaFormat, options: ReadOptions) -> Result<Decoder, String> {
        let kind = match format {
            KafkaFormat::Json => DecoderKind::Json,
            KafkaFormat::Csv { columns } => {
                if columns.is_empty() {
                    return Err("a CSV input needs its column names (columns)".to_string());
                }
                DecoderKind::Csv(columns.iter().map(|c| Name::from(c.as_str())).collect())
            }
            KafkaFormat::Avro(schema) => DecoderKind::Avro {
                names: schema_names(schema)?,
                schema: schema.clone(),
            },
        };
        Ok(Decoder { kind, options })
    }

    fn decode(&self, payload: &[u8]) -> Result<Row, DecodeError> {
        let invalid = |message: String| (reasons::INVALID_DATA, message);
        let row = match &self.kind {
            DecoderKind::Json => {
                if payload.iter().all(u8::is_ascii_whitespace) {
                    return Err(invalid("empty message".to_string()));
                }
                let value = super::json::parse_value_bytes(payload, self.options.bool_as_bit)
                    .map_err(|e| invalid(format!("invalid JSON: {e}")))?;
                value_to_row(value).map_err(invalid)?
            }
            DecoderKind::Csv(columns) => decode_csv(payload, columns)?,
            DecoderKind::Avro { schema, names } => {
                let mut reader = Cursor::new(payload);
                let value = GenericDatumReader::builder(schema)
                    .build()
                    .and_then(|r| r.read_value(&mut reader))
                    .map_err(|e| invalid(format!("invalid Avro datum: {e}")))?;
                let used = usize::try_from(reader.position()).unwrap_or(usize::MAX);
                if used < payload.len() {
                    return Err(invalid(format!(
                        "{} bytes left after the Avro datum",
                        payload.len() - used
                    )));
                }
                match avro_to_value(value, Some(schema), names, self.options.bool_as_bit)
                    .map_err(invalid)?
                {
                    Value::Record(row) => row,
                    other => {
                        return Err(invalid(format!(
                            "expected an Avro record, found {}",
                            other.data_type().map_or("null", DataType::name)
                        )))
                    }
                }
            }
        };
        Ok(if self.options.lower_case_names {
            lower_case(row)
        } else {
            row
        })
    }
}

fn decode_csv(payload: &[u8], columns: &[Name]) -> Result<Row, DecodeError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(payload);
    let mut record = csv::StringRecord::new();
    let bad_csv = |e: csv::Error| (reasons::INVALID_DATA, format!("invalid CSV: {e}"));
    if !reader.read_record(&mut record).map_err(bad_csv)? {
        return Err((reasons::MISSING_COLUMNS, "empty message".to_string()));
    }
    let mut extra = csv::StringRecord::new();
    if reader.read_record(&mut extra).map_err(bad_csv)? {
        return Err((
            reasons::INVALID_DATA,
            "more than one CSV record in one message".to_string(),
        ));
    }
    if record.len() != columns.len() {
        return Err((
            reasons::MISSING_COLUMNS,
            format!(
                "expected {} fields as in columns, found {}",
                columns.len(),
                record.len()
            ),
        ));
    }
    let mut row = Record::with_capacity(columns.len());
    for (name, field) in columns.iter().zip(record.iter()) {
        row.set(name.clone(), csv_value(field));
    }
    Ok(row)
}

// ---------------------------------------------------------------------------
// Avro values

/// The named types of a schema, for resolving references.
fn schema_names(schema: &Schema) -> Result<Names, String> {
    let resolved = ResolvedSchema::new(schema).map_err(|e| format!("invalid Avro schema: {e}"))?;
    Ok(resolved
        .get_names()
        .iter()
        .map(|(name, schema)| (name.clone(), (*schema).clone()))
        .collect())
}

/// Follows a reference to its named type.
fn resolve<'a>(schema: &'a Schema, names: &'a Names) -> &'a Schema {
    let mut schema = schema;
    // Bounded: a reference names a record, enum or fixed, never another reference.
    for _ in 0..8 {
        match schema {
            Schema::Ref { name } => match names.get(name) {
                Some(named) => schema = named,
                None => return schema,
            },
            _ => return schema,
        }
    }
    schema
}

/// Checks that a schema can be used: a record at the top, and for an input
/// no map anywhere (ASA has no map type).
pub fn check_avro_schema(schema: &Schema, for_input: bool) -> Result<(), String> {
    let names = schema_names(schema)?;
    if !matches!(resolve(schema, &names), Schema::Record(_)) {
        return Err("the Avro schema must be a record".to_string());
    }
    if for_input {
        let mut seen = HashSet::new();
        if let Some(path) = find_map(schema, &names, &mut seen, "") {
            return Err(format!(
                "the Avro schema has a map at {path}; Eddy reads no Avro maps (ASA has no map type)"
            ));
        }
    }
    Ok(())
}

fn find_map(
    schema: &Schema,
    names: &Names,
    seen: &mut HashSet<AvroName>,
    path: &str,
) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "the top".to_string()
        } else {
            format!("\"{path}\"")
        }
    };
    match schema {
        Schema::Map(_) => Some(here()),
        Schema::Ref { name } => {
            if !seen.insert(name.clone()) {
                return None;
            }
            names
                .get(name)
                .and_then(|named| find_map(named, names, seen, path))
        }
        Schema::Array(array) => find_map(&array.items, names, seen, path),
        Schema::Union(union) => union
            .variants()
            .iter()
            .find_map(|v| find_map(v, names, seen, path)),
        Schema::Record(record) => {
            if !seen.insert(record.name.clone()) {
                return None;
            }
            record.fields.iter().find_map(|field| {
                let child = if path.is_empty() {
                    field.name.clone()
                } else {
                    format!("{path}.{}", field.name)
                };
                find_map(&field.schema, names, seen, &child)
            })
        }
        _ => None,
    }
}

const TICKS_PER_MILLI: i64 = TICKS_PER_SECOND / 1000;
const TICKS_PER_MICRO: i64 = TICKS_PER_SECOND / 1_000_000;
const TICKS_PER_DAY: i64 = TICKS_PER_SECOND * 86_400;

fn ticks(value: i64, per_unit: i64) -> Result<Value, String> {
    value
        .checked_mul(per_unit)
        .map(|t| Value::DateTime(DateTime(t)))
        .ok_or_else(|| "an Avro timestamp is out of the datetime range".to_string())
}

fn time_of_day(ticks: i64) -> Value {
    let t = ticks.rem_euclid(TICKS_PER_DAY);
    let secs = t / TICKS_PER_SECOND;
    Value::String(format!(
        "{:02}:{:02}:{:02}.{:07}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        t % TICKS_PER_SECOND
    ))
}

/// Converts a decoded Avro value to an Eddy value (see the module docs).
/// `schema` is the value's schema when known (decimals need its scale).
fn avro_to_value(
    value: AvroValue,
    schema: Option<&Schema>,
    names: &Names,
    bool_as_bit: bool,
) -> Result<Value, String> {
    let schema = schema.map(|s| resolve(s, names));
    Ok(match value {
        AvroValue::Null => Value::Null,
        AvroValue::Boolean(b) if bool_as_bit => Value::Bit(b),
        AvroValue::Boolean(b) => Value::Bigint(i64::from(b)),
        AvroValue::Int(i) => Value::Bigint(i64::from(i)),
        AvroValue::Long(i) => Value::Bigint(i),
        AvroValue::Float(f) => Value::Float(f64::from(f)),
        AvroValue::Double(f) => Value::Float(f),
        AvroValue::Bytes(bytes) | AvroValue::Fixed(_, bytes) => {
            Value::String(base64_encode(&bytes))
        }
        AvroValue::String(s) | AvroValue::Enum(_, s) => Value::String(s),
        AvroValue::Uuid(u) => Value::String(u.to_string()),
        AvroValue::Union(index, inner) => {
            let branch = match schema {
                Some(Schema::Union(union)) => usize::try_from(index)
                    .ok()
                    .and_then(|i| union.variants().get(i)),
                _ => None,
            };
            avro_to_value(*inner, branch, names, bool_as_bit)?
        }
        AvroValue::Array(items) => {
            let item_schema = match schema {
                Some(Schema::Array(array)) => Some(array.items.as_ref()),
                _ => None,
            };
            Value::Array(
                items
                    .into_iter()
                    .map(|v| avro_to_value(v, item_schema, names, bool_as_bit))
                    .collect::<Result<_, _>>()?,
            )
        }
        AvroValue::Map(_) => {
            return Err("Avro maps are not supported (ASA has no map type)".to_string())
        }
        AvroValue::Record(fields) => {
            let field_schemas = match schema {
                Some(Schema::Record(record)) => Some(&record.fields),
                _ => None,
            };
            let mut record = Record::with_capacity(fields.len());
            for (name, v) in fields {
                let field_schema = field_schemas
                    .and_then(|fs| fs.iter().find(|f| f.name == name))
                    .map(|f| &f.schema);
                let v = avro_to_value(v, field_schema, names, bool_as_bit)?;
                record.set(Name::from(name), v);
            }
            Value::Record(record)
        }
        AvroValue::Date(days) => ticks(i64::from(days), TICKS_PER_DAY)?,
        AvroValue::TimestampMillis(ms) | AvroValue::LocalTimestampMillis(ms) => {
            ticks(ms, TICKS_PER_MILLI)?
        }
        AvroValue::TimestampMicros(us) | AvroValue::LocalTimestampMicros(us) => {
            ticks(us, TICKS_PER_MICRO)?
        }
        AvroValue::TimestampNanos(ns) | AvroValue::LocalTimestampNanos(ns) => {
            Value::DateTime(DateTime(ns.div_euclid(100)))
        }
        AvroValue::TimeMillis(ms) => time_of_day(i64::from(ms) * TICKS_PER_MILLI),
        AvroValue::TimeMicros(us) => time_of_day(us.saturating_mul(TICKS_PER_MICRO)),
        AvroValue::Decimal(decimal) => {
            let scale = match schema {
                Some(Schema::Decimal(d)) => d.scale,
                _ => return Err("an Avro decimal without its schema".to_string()),
            };
            let bytes =
                <Vec<u8>>::try_from(&decimal).map_err(|e| format!("invalid Avro decimal: {e}"))?;
            Value::Float(decimal_to_f64(&bytes, scale))
        }
        AvroValue::BigDecimal(decimal) => Value::Float(
            decimal
                .to_string()
                .parse::<f64>()
                .map_err(|e| format!("invalid Avro big-decimal: {e}"))?,
        ),
        AvroValue::Duration(d) => {
            let mut record = Record::with_capacity(3);
            record.push_unchecked(
                Name::from("Months"),
                Value::Bigint(i64::from(u32::from(d.months()))),
            );
            record.push_unchecked(
                Name::from("Days"),
                Value::Bigint(i64::from(u32::from(d.days()))),
            );
            record.push_unchecked(
                Name::from("Milliseconds"),
                Value::Bigint(i64::from(u32::from(d.millis()))),
            );
            Value::Record(record)
        }
    })
}

/// A big-endian two's-complement unscaled integer, divided by 10^scale.
fn decimal_to_f64(bytes: &[u8], scale: usize) -> f64 {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude = 0f64;
    for &b in bytes {
        let b = if negative { !b } else { b };
        magnitude = magnitude * 256.0 + f64::from(b);
    }
    // Two's complement: -(~x + 1).
    let unscaled = if negative {
        -(magnitude + 1.0)
    } else {
        magnitude
    };
    unscaled / 10f64.powi(i32::try_from(scale).unwrap_or(i32::MAX))
}

/// Converts an Eddy value to an Avro value of `schema` (the inverse of
/// [`avro_to_value`]); an error names the column path that does not fit.
fn value_to_avro(
    value: &Value,
    schema: &Schema,
    names: &Names,
    path: &str,
) -> Result<AvroValue, String> {
    let schema = resolve(schema, names);
    let mismatch = || {
        format!(
            "column \"{path}\" holds {}, which does not fit Avro type {}",
            describe(value),
            schema_kind(schema)
        )
    };
    let datetime = || match value {
        Value::DateTime(d) => Some(*d),
        Value::String(s) => DateTime::parse(s),
        _ => None,
    };
    Ok(match schema {
        Schema::Union(union) => {
            let variants = union.variants();
            if value.is_null() {
                let index = variants
                    .iter()
                    .position(|v| matches!(v, Schema::Null))
                    .ok_or_else(mismatch)?;
                AvroValue::Union(
                    u32::try_from(index).map_err(|_| mismatch())?,
                    Box::new(AvroValue::Null),
                )
            } else {
                let (index, converted) = variants
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !matches!(v, Schema::Null))
                    .find_map(|(i, v)| value_to_avro(value, v, names, path).ok().map(|c| (i, c)))
                    .ok_or_else(mismatch)?;
                AvroValue::Union(
                    u32::try_from(index).map_err(|_| mismatch())?,
                    Box::new(converted),
                )
            }
        }
        Schema::Null => match value {
            Value::Null => AvroValue::Null,
            _ => return Err(mismatch()),
        },
        _ if value.is_null() => {
            return Err(format!(
                "column \"{path}\" is NULL or missing, but Avro type {} does not allow null",
                schema_kind(schema)
            ))
        }
        Schema::Boolean => match value {
            Value::Bit(b) => AvroValue::Boolean(*b),
            Value::Bigint(0) => AvroValue::Boolean(false),
            Value::Bigint(1) => AvroValue::Boolean(true),
            _ => return Err(mismatch()),
        },
        Schema::Int => match value {
            Value::Bigint(i) => AvroValue::Int(i32::try_from(*i).map_err(|_| mismatch())?),
            _ => return Err(mismatch()),
        },
        Schema::Long => match value {
            Value::Bigint(i) => AvroValue::Long(*i),
            _ => return Err(mismatch()),
        },
        Schema::Float => match value {
            #[allow(clippy::cast_possible_truncation)]
            Value::Float(f) => AvroValue::Float(*f as f32),
            Value::Bigint(i) => AvroValue::Float(*i as f32),
            _ => return Err(mismatch()),
        },
        Schema::Double => match value {
            Value::Float(f) => AvroValue::Double(*f),
            Value::Bigint(i) => AvroValue::Double(*i as f64),
            _ => return Err(mismatch()),
        },
        Schema::String => match value {
            Value::String(s) => AvroValue::String(s.clone()),
            Value::DateTime(d) => AvroValue::String(d.to_iso()),
            _ => return Err(mismatch()),
        },
        Schema::Bytes => match value {
            Value::String(s) => AvroValue::Bytes(base64_decode(s).ok_or_else(|| {
                format!("column \"{path}\" is not base64, as Avro bytes are written")
            })?),
            _ => return Err(mismatch()),
        },
        Schema::Fixed(fixed) => match value {
            Value::String(s) => {
                let bytes = base64_decode(s).ok_or_else(|| {
                    format!("column \"{path}\" is not base64, as Avro fixed values are written")
                })?;
                if bytes.len() != fixed.size {
                    return Err(format!(
                        "column \"{path}\" has {} bytes, Avro fixed \"{}\" has {}",
                        bytes.len(),
                        fixed.name.name(),
                        fixed.size
                    ));
                }
                AvroValue::Fixed(fixed.size, bytes)
            }
            _ => return Err(mismatch()),
        },
        Schema::Enum(e) => match value {
            Value::String(s) => {
                let index = e.symbols.iter().position(|sym| sym == s).ok_or_else(|| {
                    format!(
                        "column \"{path}\" is \"{s}\", not a symbol of Avro enum \"{}\"",
                        e.name.name()
                    )
                })?;
                AvroValue::Enum(u32::try_from(index).map_err(|_| mismatch())?, s.clone())
            }
            _ => return Err(mismatch()),
        },
        Schema::Uuid(_) => match value {
            Value::String(s) => {
                AvroValue::Uuid(apache_avro::Uuid::parse_str(s.trim()).map_err(|_| mismatch())?)
            }
            _ => return Err(mismatch()),
        },
        Schema::Array(array) => match value {
            Value::Array(items) => AvroValue::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| value_to_avro(v, &array.items, names, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(mismatch()),
        },
        Schema::Map(map) => match value {
            Value::Record(record) => AvroValue::Map(
                record
                    .fields()
                    .iter()
                    .map(|(k, v)| {
                        value_to_avro(v, &map.types, names, &format!("{path}.{k}"))
                            .map(|a| (k.to_string(), a))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(mismatch()),
        },
        Schema::Record(_) => match value {
            Value::Record(record) => record_to_avro(record, schema, names, path)?,
            _ => return Err(mismatch()),
        },
        Schema::Date => AvroValue::Date(
            datetime()
                .and_then(|d| i32::try_from(d.ticks().div_euclid(TICKS_PER_DAY)).ok())
                .ok_or_else(mismatch)?,
        ),
        Schema::TimestampMillis | Schema::LocalTimestampMillis => {
            let ms = datetime()
                .ok_or_else(mismatch)?
                .ticks()
                .div_euclid(TICKS_PER_MILLI);
            if matches!(schema, Schema::TimestampMillis) {
                AvroValue::TimestampMillis(ms)
            } else {
                AvroValue::LocalTimestampMillis(ms)
            }
        }
        Schema::TimestampMicros | Schema::LocalTimestampMicros => {
            let us = datetime()
                .ok_or_else(mismatch)?
                .ticks()
                .div_euclid(TICKS_PER_MICRO);
            if matches!(schema, Schema::TimestampMicros) {
                AvroValue::TimestampMicros(us)
            } else {
                AvroValue::LocalTimestampMicros(us)
            }
        }
        Schema::TimestampNanos | Schema::LocalTimestampNanos => {
            let ns = datetime()
                .ok_or_else(mismatch)?
                .ticks()
                .checked_mul(100)
                .ok_or_else(mismatch)?;
            if matches!(schema, Schema::TimestampNanos) {
                AvroValue::TimestampNanos(ns)
            } else {
                AvroValue::LocalTimestampNanos(ns)
            }
        }
        Schema::TimeMillis => {
            let t = datetime()
                .ok_or_else(mismatch)?
                .ticks()
                .rem_euclid(TICKS_PER_DAY);
            AvroValue::TimeMillis(i32::try_from(t / TICKS_PER_MILLI).map_err(|_| mismatch())?)
        }
        Schema::TimeMicros => {
            let t = datetime()
                .ok_or_else(mismatch)?
                .ticks()
                .rem_euclid(TICKS_PER_DAY);
            AvroValue::TimeMicros(t / TICKS_PER_MICRO)
        }
        Schema::Decimal(decimal) => {
            let x = match value {
                Value::Float(f) => *f,
                Value::Bigint(i) => *i as f64,
                _ => return Err(mismatch()),
            };
            let scaled = (x * 10f64.powi(i32::try_from(decimal.scale).unwrap_or(i32::MAX))).round();
            if !scaled.is_finite() || scaled.abs() >= 1.7e38 {
                return Err(mismatch());
            }
            #[allow(clippy::cast_possible_truncation)]
            let unscaled = scaled as i128;
            AvroValue::Decimal(apache_avro::Decimal::from(minimal_twos_complement(
                unscaled,
            )))
        }
        Schema::BigDecimal => {
            let text = match value {
                Value::Float(f) if f.is_finite() => f.to_string(),
                Value::Bigint(i) => i.to_string(),
                _ => return Err(mismatch()),
            };
            AvroValue::BigDecimal(text.parse().map_err(|_| mismatch())?)
        }
        Schema::Duration(_) | Schema::Ref { .. } => return Err(mismatch()),
    })
}

/// A row (or nested record) as an Avro record: every schema field from the
/// column of that name (case-insensitively); a missing column is NULL, or
/// the field's default.
fn record_to_avro(
    record: &Record,
    schema: &Schema,
    names: &Names,
    path: &str,
) -> Result<AvroValue, String> {
    let Schema::Record(record_schema) = schema else {
        return Err(format!("\"{path}\" is not an Avro record"));
    };
    let mut fields = Vec::with_capacity(record_schema.fields.len());
    for field in &record_schema.fields {
        let child = if path.is_empty() {
            field.name.clone()
        } else {
            format!("{path}.{}", field.name)
        };
        let converted = match (record.get(&field.name), &field.default) {
            (None, Some(default)) => AvroValue::try_from(default.clone())
                .ok()
                .and_then(|v| v.resolve(&field.schema).ok())
                .ok_or_else(|| format!("the default of Avro field \"{child}\" cannot be used"))?,
            (value, _) => {
                value_to_avro(value.unwrap_or(&Value::Null), &field.schema, names, &child)?
            }
        };
        fields.push((field.name.clone(), converted));
    }
    Ok(AvroValue::Record(fields))
}

fn minimal_twos_complement(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    // Drop leading bytes that only repeat the sign.
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

fn describe(value: &Value) -> String {
    match value.data_type() {
        None => "NULL".to_string(),
        Some(t) => format!("a {}", t.name()),
    }
}

fn schema_kind(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => format!("record \"{}\"", r.name.name()),
        Schema::Enum(e) => format!("enum \"{}\"", e.name.name()),
        Schema::Fixed(f) => format!("fixed \"{}\"", f.name.name()),
        Schema::Union(_) => "union".to_string(),
        Schema::Array(_) => "array".to_string(),
        Schema::Map(_) => "map".to_string(),
        Schema::Decimal(_) => "decimal".to_string(),
        other => format!("{:?}", other).to_lowercase(),
    }
}

// ---------------------------------------------------------------------------
// Base64 (bytes and fixed values as text)

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` if it is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = BASE64.iter().position(|&b| b == c)?;
        acc = (acc << 6) | u32::try_from(v).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xFF).ok()?);
        }
    }
    // Leftover bits must be padding zeros, and a lone 6-bit group is invalid.
    if bits >= 6 || acc & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Writing

/// Encodes rows and produces them to one topic.
pub struct KafkaWriter {
    producer: BaseProducer<EddyContext>,
    topic: String,
    bootstrap: String,
    encoder: Encoder,
    key_column: Option<String>,
}

enum Encoder {
    Json,
    Csv(Vec<String>),
    Avro { schema: Box<Schema>, names: Names },
}

/// How long a flush waits before saying, once, that it is still waiting.
const FLUSH_NOTICE_AFTER: Duration = Duration::from_secs(5);

impl KafkaWriter {
    /// Opens a producer and checks that the broker answers and knows the
    /// topic, within `spec.connect_timeout`.
    pub fn open(spec: &KafkaOutputSpec) -> Result<Self, KafkaError> {
        let encoder = match &spec.format {
            KafkaFormat::Json => Encoder::Json,
            KafkaFormat::Csv { columns } => Encoder::Csv(columns.clone()),
            KafkaFormat::Avro(schema) => {
                let invalid = |message: String| KafkaError::Encode {
                    topic: spec.topic.clone(),
                    message,
                };
                check_avro_schema(schema, false).map_err(invalid)?;
                Encoder::Avro {
                    names: schema_names(schema).map_err(invalid)?,
                    schema: schema.clone(),
                }
            }
        };
        let config = client_config(
            &spec.bootstrap,
            &[
                ("acks", "all"),
                ("linger.ms", "5"),
                ("enable.idempotence", "false"),
                // Never give up on a message: retry through broker restarts.
                ("message.timeout.ms", "0"),
            ],
            &spec.properties,
        );
        let producer: BaseProducer<EddyContext> = create(&config, "producer")?;
        fetch_partitions(
            producer.client(),
            &spec.bootstrap,
            &spec.topic,
            spec.connect_timeout,
        )?;
        Ok(KafkaWriter {
            producer,
            topic: spec.topic.clone(),
            bootstrap: spec.bootstrap.clone(),
            encoder,
            key_column: spec.key_column.clone(),
        })
    }

    /// Encodes and enqueues one row; its key is the key column's value as
    /// text (no key column, or NULL: no key). Waits while librdkafka's
    /// queue is full. A row that cannot be encoded is an error and is not
    /// sent.
    pub fn write_row(&mut self, row: &Row) -> Result<(), KafkaError> {
        let payload = self.encode(row).map_err(|message| KafkaError::Encode {
            topic: self.topic.clone(),
            message,
        })?;
        let key = self
            .key_column
            .as_deref()
            .and_then(|column| row.get(column))
            .and_then(
                |v| match crate::expr::cast::try_cast(v, DataType::NVarchar) {
                    Value::String(s) => Some(s),
                    _ => None,
                },
            );
        let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(&self.topic).payload(&payload);
        if let Some(key) = &key {
            record = record.key(key.as_str());
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((error, _)) => {
                    return Err(KafkaError::Client {
                        context: format!("cannot send a message to topic \"{}\"", self.topic),
                        source: error,
                    })
                }
            }
        }
        // Serve delivery reports.
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Waits until every enqueued message is acknowledged by the broker
    /// (through broker restarts: messages never time out). Reports
    /// messages that failed for good since the last flush.
    pub fn flush(&mut self) -> Result<(), KafkaError> {
        let started = Instant::now();
        let mut told = false;
        while self.producer.flush(Duration::from_millis(500)).is_err() {
            if !told && started.elapsed() >= FLUSH_NOTICE_AFTER {
                told = true;
                eprintln!(
                    "warning: waiting for Kafka at {} to acknowledge {} message(s) to topic \"{}\"{}",
                    self.bootstrap,
                    self.producer.in_flight_count(),
                    self.topic,
                    self.producer
                        .context()
                        .last_problem()
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default()
                );
            }
        }
        self.producer.poll(Duration::ZERO);
        let failures = self.producer.context().take_failures();
        if failures.count > 0 {
            return Err(KafkaError::Delivery {
                topic: self.topic.clone(),
                count: failures.count,
                reason: failures.first.unwrap_or_default(),
            });
        }
        Ok(())
    }

    fn encode(&self, row: &Row) -> Result<Vec<u8>, String> {
        match &self.encoder {
            Encoder::Json => {
                let mut payload = Vec::new();
                crate::types::write_output_json(row, &mut payload).map_err(|e| e.to_string())?;
                Ok(payload)
            }
            Encoder::Csv(columns) => {
                let fields: Vec<String> = if columns.is_empty() {
                    row.fields().iter().map(|(_, v)| csv_text(v)).collect()
                } else {
                    columns
                        .iter()
                        .map(|c| row.get(c).map(csv_text).unwrap_or_default())
                        .collect()
                };
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_writer(Vec::new());
                writer.write_record(&fields).map_err(|e| e.to_string())?;
                let mut bytes = writer.into_inner().map_err(|e| e.to_string())?;
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                }
                Ok(bytes)
            }
            Encoder::Avro { schema, names } => {
                let value = record_to_avro(row, resolve(schema, names), names, "")?;
                write_avro(schema, value)
            }
        }
    }
}

/// Encodes one Avro datum, checking it against the schema.
fn write_avro(schema: &Schema, value: AvroValue) -> Result<Vec<u8>, String> {
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .map_err(|e| e.to_string())
}

/// A CSV field: the value cast to nvarchar(max), NULL as empty.
fn csv_text(value: &Value) -> String {
    match crate::expr::cast::try_cast(value, DataType::NVarchar) {
        Value::String(s) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: ReadOptions = ReadOptions {
        lower_case_names: false,
        bool_as_bit: true,
    };

    fn schema(text: &str) -> Schema {
        Schema::parse_str(text).expect("schema parses")
    }

    const SCHEMA: &str = r#"{
        "type": "record", "name": "Reading", "namespace": "eddy.test",
        "fields": [
            {"name": "device", "type": "string"},
            {"name": "temp", "type": "double"},
            {"name": "count", "type": "int"},
            {"name": "big", "type": "long"},
            {"name": "ratio", "type": "float"},
            {"name": "ok", "type": "boolean"},
            {"name": "note", "type": ["null", "string"], "default": null},
            {"name": "raw", "type": "bytes"},
            {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 2}},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
            {"name": "values", "type": {"type": "array", "items": "long"}},
            {"name": "pos", "type": {"type": "record", "name": "Pos",
                "fields": [{"name": "x", "type": "double"}, {"name": "y", "type": "double"}]}},
            {"name": "home", "type": ["null", "Pos"]},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}
        ]
    }"#;

    fn decoder(format: KafkaFormat, options: ReadOptions) -> Decoder {
        Decoder::new(&format, options).expect("decoder")
    }

    fn sample_row() -> Row {
        let mut pos = Record::new();
        pos.set("x".into(), Value::Float(1.5));
        pos.set("y".into(), Value::Float(-2.0));
        let mut row = Record::new();
        row.set("device".into(), Value::str("dev-1"));
        row.set("temp".into(), Value::Float(21.5));
        row.set("count".into(), Value::Bigint(3));
        row.set("big".into(), Value::Bigint(1 << 40));
        row.set("ratio".into(), Value::Float(0.25));
        row.set("ok".into(), Value::Bit(true));
        row.set("note".into(), Value::Null);
        row.set("raw".into(), Value::str(base64_encode(b"\x00\x01hi")));
        row.set("tag".into(), Value::str(base64_encode(b"ab")));
        row.set("kind".into(), Value::str("B"));
        row.set(
            "values".into(),
            Value::Array(vec![Value::Bigint(1), Value::Bigint(2)]),
        );
        row.set("pos".into(), Value::Record(pos.clone()));
        row.set("home".into(), Value::Record(pos));
        row.set(
            "at".into(),
            Value::DateTime(DateTime::parse("2024-05-01T10:00:00.123Z").expect("date")),
        );
        row.set("price".into(), Value::Float(-12.34));
        row
    }

    fn encode_avro(row: &Row, schema: &Schema) -> Result<Vec<u8>, String> {
        let names = schema_names(schema)?;
        let value = record_to_avro(row, resolve(schema, &names), &names, "")?;
        write_avro(schema, value)
    }

    #[test]
    fn avro_values_map_to_asa_types_and_back() {
        let schema = schema(SCHEMA);
        check_avro_schema(&schema, true).expect("usable");
        let row = sample_row();
        let bytes = encode_avro(&row, &schema).expect("encodes");
        let decoded = decoder(KafkaFormat::Avro(Box::new(schema)), OPTS)
            .decode(&bytes)
            .expect("decodes");
        assert_eq!(decoded, row);
        assert_eq!(decoded.get("count"), Some(&Value::Bigint(3)));
        assert_eq!(decoded.get("ok"), Some(&Value::Bit(true)));
        assert_eq!(decoded.get("raw"), Some(&Value::str("AAFoaQ==")));
        assert_eq!(decoded.get("price"), Some(&Value::Float(-12.34)));
    }

    #[test]
    fn avro_booleans_read_as_bigint_below_compat_1_2() {
        let schema = schema(SCHEMA);
        let bytes = encode_avro(&sample_row(), &schema).expect("encodes");
        let options = ReadOptions {
            lower_case_names: true,
            bool_as_bit: false,
        };
        let row = decoder(KafkaFormat::Avro(Box::new(schema)), options)
            .decode(&bytes)
            .expect("decodes");
        assert_eq!(row.get("ok"), Some(&Value::Bigint(1)));
    }

    #[test]
    fn avro_logical_and_special_values() {
        let names = Names::new();
        let v = avro_to_value(AvroValue::Date(1), None, &names, true).expect("date");
        assert_eq!(v, Value::DateTime(DateTime(TICKS_PER_DAY)));
        let v = avro_to_value(AvroValue::TimestampMicros(1_500_000), None, &names, true)
            .expect("micros");
        assert_eq!(v, Value::DateTime(DateTime(15_000_000)));
        let v = avro_to_value(AvroValue::TimeMillis(3_723_004), None, &names, true).expect("time");
        assert_eq!(v, Value::str("01:02:03.0040000"));
        let v = avro_to_value(
            AvroValue::Union(1, Box::new(AvroValue::Enum(0, "A".into()))),
            None,
            &names,
            true,
        )
        .expect("union");
        assert_eq!(v, Value::str("A"));
        let v =
            avro_to_value(AvroValue::Fixed(3, b"abc".to_vec()), None, &names, true).expect("fixed");
        assert_eq!(v, Value::str("YWJj"));
        let map = AvroValue::Map(HashMap::from([("a".to_string(), AvroValue::Long(1))]));
        let err = avro_to_value(map, None, &names, true).expect_err("map");
        assert!(err.contains("ASA has no map type"), "{err}");
        let err = avro_to_value(AvroValue::TimestampMillis(i64::MAX), None, &names, true)
            .expect_err("overflow");
        assert!(err.contains("out of the datetime range"), "{err}");
    }

    #[test]
    fn avro_schemas_with_maps_are_refused_for_inputs() {
        let with_map = schema(
            r#"{"type":"record","name":"R","fields":[
                {"name":"m","type":["null",{"type":"map","values":"long"}]}]}"#,
        );
        let err = check_avro_schema(&with_map, true).expect_err("map");
        assert!(err.contains("\"m\""), "{err}");
        check_avro_schema(&with_map, false).expect("maps can be written");
        let not_record = schema(r#""long""#);
        assert!(check_avro_schema(&not_record, false).is_err());
    }

    #[test]
    fn rows_that_do_not_fit_the_avro_schema_are_errors() {
        let schema = schema(SCHEMA);
        let mut row = sample_row();
        row.set("count".into(), Value::str("three"));
        let err = encode_avro(&row, &schema).expect_err("mismatch");
        assert!(err.contains("column \"count\""), "{err}");
        let mut row = sample_row();
        row.remove("device");
        let err = encode_avro(&row, &schema).expect_err("missing");
        assert!(err.contains("\"device\" is NULL or missing"), "{err}");
        let mut row = sample_row();
        row.set("kind".into(), Value::str("C"));
        let err = encode_avro(&row, &schema).expect_err("enum");
        assert!(err.contains("not a symbol"), "{err}");
        let mut row = sample_row();
        row.set("count".into(), Value::Bigint(1 << 40));
        assert!(encode_avro(&row, &schema).is_err());
        // A missing nullable field is NULL; a default fills a missing field.
        let mut row = sample_row();
        row.remove("note");
        assert!(encode_avro(&row, &schema).is_ok());
    }

    #[test]
    fn truncated_avro_is_a_bad_event() {
        let schema = schema(SCHEMA);
        let bytes = encode_avro(&sample_row(), &schema).expect("encodes");
        let d = decoder(KafkaFormat::Avro(Box::new(schema)), OPTS);
        let (reason, _) = d.decode(&bytes[..bytes.len() / 2]).expect_err("truncated");
        assert_eq!(reason, reasons::INVALID_DATA);
        let mut longer = bytes.clone();
        longer.push(0);
        let (_, message) = d.decode(&longer).expect_err("trailing");
        assert!(message.contains("left after"), "{message}");
    }

    #[test]
    fn json_and_csv_payloads_decode_or_say_why_not() {
        let json = decoder(KafkaFormat::Json, OPTS);
        let row = json.decode(br#"{"a":1,"b":true}"#).expect("object");
        assert_eq!(row.get("b"), Some(&Value::Bit(true)));
        for bad in [&b"[1]"[..], b"not json", b"", b"\xff"] {
            let (reason, _) = json.decode(bad).expect_err("bad");
            assert_eq!(reason, reasons::INVALID_DATA);
        }
        let csv = decoder(
            KafkaFormat::Csv {
                columns: vec!["id".into(), "name".into(), "t".into()],
            },
            OPTS,
        );
        let row = csv.decode(b"7,\"x, y\",2.5\n").expect("record");
        assert_eq!(row.get("id"), Some(&Value::Bigint(7)));
        assert_eq!(row.get("name"), Some(&Value::str("x, y")));
        assert_eq!(row.get("t"), Some(&Value::Float(2.5)));
        let (reason, _) = csv.decode(b"1,2").expect_err("short");
        assert_eq!(reason, reasons::MISSING_COLUMNS);
        let (reason, _) = csv.decode(b"1,2,3\n4,5,6").expect_err("two records");
        assert_eq!(reason, reasons::INVALID_DATA);
        assert!(Decoder::new(&KafkaFormat::Csv { columns: vec![] }, OPTS).is_err());
    }

    #[test]
    fn base64_round_trips_and_rejects_garbage() {
        for bytes in [&b""[..], b"a", b"ab", b"abc", b"abcd", b"\xff\x00\x80"] {
            let text = base64_encode(bytes);
            assert_eq!(base64_decode(&text).as_deref(), Some(bytes), "{text}");
        }
        assert_eq!(base64_encode(b"hi"), "aGk=");
        assert_eq!(base64_decode("aGk"), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("a*=="), None);
    }

    #[test]
    fn decimals_use_the_schema_scale() {
        assert_eq!(decimal_to_f64(&[0x04, 0xD2], 2), 12.34);
        assert_eq!(decimal_to_f64(&[0xFB, 0x2E], 2), -12.34);
        assert_eq!(minimal_twos_complement(1234), vec![0x04, 0xD2]);
        assert_eq!(minimal_twos_complement(-1234), vec![0xFB, 0x2E]);
        assert_eq!(minimal_twos_complement(-1), vec![0xFF]);
        assert_eq!(minimal_twos_complement(128), vec![0x00, 0x80]);
    }

    #[test]
    fn start_positions_parse() {
        assert_eq!(
            StartPosition::parse("Earliest"),
            Some(StartPosition::Earliest)
        );
        assert_eq!(StartPosition::parse("latest"), Some(StartPosition::Latest));
        assert_eq!(
            StartPosition::parse("committed"),
            Some(StartPosition::Committed)
        );
        assert!(matches!(
            StartPosition::parse("2024-01-01T00:00:00Z"),
            Some(StartPosition::Timestamp(_))
        ));
        assert_eq!(StartPosition::parse("yesterday"), None);
    }
}
