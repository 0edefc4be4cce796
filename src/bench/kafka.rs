//! Kafka end to end in `eddy bench` (`--kafka HOST:PORT`).
//!
//! The run's events are produced, one line per message, into a fresh
//! topic of one partition. Then two programs copy that topic into a fresh
//! output topic, each as a child process timed from spawn to exit:
//!
//! - Eddy: `eddy run` of the job `SELECT * INTO Out FROM Input`, a Kafka
//!   input (`start = "earliest"`, `stop_at_end`, no consumer group, so no
//!   commits) and a Kafka output, one worker;
//! - the raw loop (`eddy bench-kafka-baseline`, [`cmd_kafka_baseline`]):
//!   librdkafka through rdkafka with no engine around it, consuming every
//!   message of the input topic up to its end and producing each payload
//!   as it is to the output topic, then flushing. Its producer has Eddy's
//!   writer's delivery settings (`acks=all`, `linger.ms=5`), so the two
//!   differ by what Eddy does, not by how safely they deliver.
//!
//! Each output topic is then read to its end and checked: as many messages
//! as events, and the same sum of `v` (Eddy's messages carry the columns it
//! adds to every Kafka event as well, so the payloads differ by design).
//! Topics are named for the run and deleted afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::child::run_measured;
use super::scaling::Context;
use super::{median, thousands, toml_string};
use crate::connectors::kafka::{create_topic, partition_ids, DEFAULT_CONNECT_TIMEOUT};

/// The section's text when `--kafka` is not given.
pub(super) const NOT_ASKED: &str =
    "Kafka end to end: not run (add --kafka HOST:PORT; scripts/kafka-up starts a local broker).\n";

/// How long a consumer may see no message before it gives up.
const STALL: Duration = Duration::from_secs(120);

/// `eddy bench-kafka-baseline`: its arguments.
#[derive(Args, Debug)]
pub struct KafkaBaselineArgs {
    /// The broker (`host:port`).
    #[arg(long)]
    pub bootstrap: String,
    /// The topic to read to its end.
    #[arg(long)]
    pub input_topic: String,
    /// The topic to write every payload to.
    #[arg(long)]
    pub output_topic: String,
}

/// The raw consume-and-produce loop; exit status 0 when every message was
/// copied and acknowledged, 2 otherwise.
pub fn cmd_kafka_baseline(args: KafkaBaselineArgs) -> ExitCode {
    let started = Instant::now();
    match copy_topic(&args.bootstrap, &args.input_topic, &args.output_topic) {
        Ok(copied) => {
            eprintln!("messages: {copied}");
            eprintln!("elapsed: {:.3}s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Copies every message of `input` (to the end it has now) to `output`;
/// the number copied.
fn copy_topic(bootstrap: &str, input: &str, output: &str) -> Result<u64, String> {
    let producer = producer(bootstrap)?;
    let mut copied = 0u64;
    read_to_end(bootstrap, input, |payload| {
        send(&producer, output, payload)?;
        copied += 1;
        Ok(())
    })?;
    flush(&producer, output)?;
    Ok(copied)
}

/// A producer with the delivery settings of Eddy's Kafka writer.
fn producer(bootstrap: &str) -> Result<BaseProducer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "0")
        .create()
        .map_err(|e| format!("cannot create a Kafka producer for {bootstrap}: {e}"))
}

/// Enqueues one payload, waiting while librdkafka's queue is full.
fn send(producer: &BaseProducer, topic: &str, payload: &[u8]) -> Result<(), String> {
    let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(format!("cannot send to topic \"{topic}\": {e}")),
        }
    }
    producer.poll(Duration::ZERO);
    Ok(())
}

/// Waits until every enqueued message is acknowledged.
fn flush(producer: &BaseProducer, topic: &str) -> Result<(), String> {
    producer
        .flush(STALL)
        .map_err(|e| format!("cannot flush to topic \"{topic}\": {e}"))
}

/// Reads every partition of `topic` from its beginning to the end it has
/// when reached, handing each payload to `each`.
fn read_to_end(
    bootstrap: &str,
    topic: &str,
    mut each: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let partitions = partition_ids(bootstrap, topic, &BTreeMap::new(), DEFAULT_CONNECT_TIMEOUT)
        .map_err(|e| e.to_string())?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "eddy-bench-raw")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| format!("cannot create a Kafka consumer for {bootstrap}: {e}"))?;
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|e| format!("cannot assign {topic}/{partition}: {e}"))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| format!("cannot assign the partitions of {topic}: {e}"))?;
    let mut ended: BTreeSet<i32> = BTreeSet::new();
    let mut last_progress = Instant::now();
    let mut last_error: Option<String> = None;
    while ended.len() < partitions.len() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                each(message.payload().unwrap_or_default())?;
                last_progress = Instant::now();
            }
            Some(Err(RdError::PartitionEOF(partition))) => {
                ended.insert(partition);
                last_progress = Instant::now();
            }
            Some(Err(e)) => last_error = Some(e.to_string()),
            None => {}
        }
        if last_progress.elapsed() > STALL {
            return Err(format!(
                "reading topic \"{topic}\" at {bootstrap}: no message for {} s{}",
                STALL.as_secs(),
                last_error.map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// How many messages a topic holds and the sum of their `v`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TopicSummary {
    messages: u64,
    sum_v: i64,
}

/// Reads `topic` to its end and sums its messages' `v`.
fn summarize_topic(bootstrap: &str, topic: &str) -> Result<TopicSummary, String> {
    let mut summary = TopicSummary::default();
    read_to_end(bootstrap, topic, |payload| {
        summary.messages += 1;
        summary.sum_v = summary
            .sum_v
            .wrapping_add(value_of_v(payload).ok_or_else(|| {
                format!(
                    "a message of topic \"{topic}\" is not a JSON object with an integer \"v\": {}",
                    String::from_utf8_lossy(&payload[..payload.len().min(200)])
                )
            })?);
        Ok(())
    })?;
    Ok(summary)
}

/// The integer `v` of a JSON object.
fn value_of_v(payload: &[u8]) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()?
        .get("v")?
        .as_i64()
}

/// Produces every line of `path` as one message to `topic`.
fn produce_file(bootstrap: &str, topic: &str, path: &Path) -> Result<TopicSummary, String> {
    let producer = producer(bootstrap)?;
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut summary = TopicSummary::default();
    for line in BufReader::with_capacity(1 << 20, file).lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = value_of_v(line.as_bytes())
            .ok_or_else(|| format!("{}: a line without an integer \"v\"", path.display()))?;
        send(&producer, topic, line.as_bytes())?;
        summary.messages += 1;
        summary.sum_v = summary.sum_v.wrapping_add(v);
    }
    flush(&producer, topic)?;
    Ok(summary)
}

/// Deletes topics (best effort: a broker that cannot delete keeps them).
fn delete_topics(bootstrap: &str, topics: &[String]) {
    let admin: Result<AdminClient<DefaultClientContext>, _> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create();
    let Ok(admin) = admin else { return };
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let future = admin.delete_topics(&names, &options);
    let mut future = std::pin::pin!(future);
    let mut context = TaskContext::from_waker(Waker::noop());
    // rdkafka completes the future from its own thread; poll until then.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Poll::Ready(result) = future.as_mut().poll(&mut context) {
            if let Err(e) = result {
                eprintln!("note: could not delete the benchmark's topics: {e}");
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Who copies the topic.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Copier {
    RawLoop,
    Eddy,
}

impl Copier {
    fn label(self) -> &'static str {
        match self {
            Copier::RawLoop => "raw rdkafka loop",
            Copier::Eddy => "eddy -w 1",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Copier::RawLoop => "raw",
            Copier::Eddy => "eddy",
        }
    }
}

/// The Kafka section: produces the events, runs both copiers `runs`
/// times, checks their first output topic; its text and whether both
/// outputs agree with the input.
pub(super) fn kafka_section(
    context: &Context<'_>,
    bootstrap: &str,
    runs: usize,
) -> Result<(String, bool), String> {
    let stamp = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let mut topics: Vec<String> = Vec::new();
    let result = measure(context, bootstrap, runs, &stamp, &mut topics);
    delete_topics(bootstrap, &topics);
    result
}

fn measure(
    context: &Context<'_>,
    bootstrap: &str,
    runs: usize,
    stamp: &str,
    topics: &mut Vec<String>,
) -> Result<(String, bool), String> {
    let kafka_error = |e: crate::connectors::kafka::KafkaError| e.to_string();
    let input_topic = format!("eddy-bench-{stamp}-events");
    create_topic(bootstrap, &input_topic, 1).map_err(kafka_error)?;
    topics.push(input_topic.clone());
    eprintln!(
        "kafka: producing {} to topic {input_topic}",
        context.input.display()
    );
    let produce_started = Instant::now();
    let produced = produce_file(bootstrap, &input_topic, context.input)?;
    let produce_seconds = produce_started.elapsed().as_secs_f64();
    let input_summary = summarize_topic(bootstrap, &input_topic)?;
    if input_summary != produced {
        return Err(format!(
            "topic {input_topic} holds {} messages (sum of v {}) after producing {} (sum {})",
            input_summary.messages, input_summary.sum_v, produced.messages, produced.sum_v
        ));
    }
    let query = context.dir.join("kafka-copy.asaql");
    std::fs::write(&query, "SELECT * INTO Out FROM Input\n")
        .map_err(|e| format!("cannot write {}: {e}", query.display()))?;

    let mut all_equal = true;
    let mut rows = String::new();
    let mut raw_median = None;
    for copier in [Copier::RawLoop, Copier::Eddy] {
        let mut seconds = Vec::new();
        let mut peak: Option<f64> = None;
        let mut output_summary = TopicSummary::default();
        for run in 0..runs {
            let output_topic = format!("eddy-bench-{stamp}-{}-{run}", copier.tag());
            create_topic(bootstrap, &output_topic, 1).map_err(kafka_error)?;
            topics.push(output_topic.clone());
            let mut command = Command::new(context.exe);
            match copier {
                Copier::RawLoop => {
                    command
                        .arg("bench-kafka-baseline")
                        .arg("--bootstrap")
                        .arg(bootstrap)
                        .arg("--input-topic")
                        .arg(&input_topic)
                        .arg("--output-topic")
                        .arg(&output_topic);
                }
                Copier::Eddy => {
                    let job = context.dir.join(format!("kafka-copy-{run}.toml"));
                    let text = format!(
                        "query = {}\n\
                         [[inputs]]\n\
                         alias = \"Input\"\n\
                         kind = \"kafka\"\n\
                         bootstrap_servers = {}\n\
                         topic = {}\n\
                         format = \"json\"\n\
                         group = \"\"\n\
                         start = \"earliest\"\n\
                         stop_at_end = true\n\
                         [[outputs]]\n\
                         alias = \"Out\"\n\
                         kind = \"kafka\"\n\
                         bootstrap_servers = {}\n\
                         topic = {}\n",
                        toml_string(&query),
                        toml::Value::String(bootstrap.to_string()),
                        toml::Value::String(input_topic.clone()),
                        toml::Value::String(bootstrap.to_string()),
                        toml::Value::String(output_topic.clone()),
                    );
                    std::fs::write(&job, text)
                        .map_err(|e| format!("cannot write {}: {e}", job.display()))?;
                    command
                        .arg("run")
                        .arg("--quiet")
                        .arg("--job")
                        .arg(&job)
                        .arg("-w")
                        .arg("1");
                }
            }
            eprintln!("kafka: {} run {}/{runs}", copier.label(), run + 1);
            let label = format!("kafka {}", copier.label());
            let child = run_measured(
                &mut command,
                &label,
                &context.dir.join(format!("kafka-{}-{run}", copier.tag())),
            )?;
            seconds.push(child.elapsed.as_secs_f64());
            peak = match (peak, child.peak_mib) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if run == 0 {
                output_summary = summarize_topic(bootstrap, &output_topic)?;
            }
        }
        let med = median(&seconds);
        let raw = *raw_median.get_or_insert(med);
        let check = if output_summary == produced {
            "equal".to_string()
        } else {
            all_equal = false;
            format!(
                "MISMATCH (messages {} vs {}, sum of v {} vs {})",
                output_summary.messages, produced.messages, output_summary.sum_v, produced.sum_v
            )
        };
        let _ = writeln!(
            rows,
            "| {} | {med:.2} | {} | {:.2} | {} | {} | {} | {check} |",
            copier.label(),
            thousands((produced.messages as f64 / med.max(1e-9)).round() as u64),
            raw / med.max(1e-9),
            peak.map_or("?".to_string(), |p| format!("{p:.1}")),
            thousands(output_summary.messages),
            output_summary.sum_v,
        );
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Kafka end to end at {bootstrap}: {} events produced, one message each, into a topic of 1 partition in {produce_seconds:.2} s; \
         each engine copies it to a fresh topic (`SELECT * INTO Out FROM Input` for Eddy); elapsed is the child's wall time \
         from spawn to exit, median of {runs}; peak memory is ru_maxrss of the child:",
        thousands(produced.messages)
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| copier (Kafka) | median elapsed (s) | messages/s | raw loop time / engine time | peak memory (MiB) | messages out | sum of v | output vs input |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    out.push_str(&rows);
    Ok((out, all_equal))
}
