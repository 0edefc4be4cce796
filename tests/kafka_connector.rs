//! The Kafka connector against a real broker (`scripts/kafka-up`, started
//! once per test process). Every test uses topics of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use eddy::connectors::file::ReadOptions;
use eddy::connectors::kafka::{
    create_topic, partition_ids, KafkaError, KafkaEvent, KafkaFormat, KafkaInputSpec,
    KafkaOutputSpec, KafkaPoll, KafkaReader, KafkaWriter, StartPosition, METADATA_COLUMN,
};
use eddy::connectors::reasons;
use eddy::types::{DateTime, Record, Row, Value};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const OPTS: ReadOptions = ReadOptions {
    lower_case_names: false,
    bool_as_bit: true,
};

/// Runs a repository script and returns what it printed.
fn script(args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join(args[0]))
        .args(&args[1..])
        .current_dir(root)
        .output()
        .expect("runs the script");
    assert!(
        out.status.success(),
        "{} failed: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The shared broker's address.
fn broker() -> &'static str {
    static ADDRESS: OnceLock<String> = OnceLock::new();
    ADDRESS.get_or_init(|| script(&["scripts/kafka-up"]))
}

/// A topic name no other test (or earlier run) uses.
fn unique(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{name}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn topic_with(name: &str, partitions: i32) -> String {
    let topic = unique(name);
    create_topic(broker(), &topic, partitions).expect("creates the topic");
    topic
}

fn input(topic: &str, format: KafkaFormat) -> KafkaInputSpec {
    KafkaInputSpec {
        bootstrap: broker().to_string(),
        topic: topic.to_string(),
        group: None,
        format,
        start: StartPosition::Earliest,
        properties: BTreeMap::new(),
        stop_at_end: true,
        connect_timeout: Duration::from_secs(10),
    }
}

fn output(topic: &str, format: KafkaFormat, key_column: Option<&str>) -> KafkaOutputSpec {
    KafkaOutputSpec {
        bootstrap: broker().to_string(),
        topic: topic.to_string(),
        format,
        key_column: key_column.map(str::to_string),
        properties: BTreeMap::new(),
        connect_timeout: Duration::from_secs(10),
        create_partitions: None,
    }
}

/// Reads until the reader ends (`stop_at_end`); fails after 30 s.
fn read_to_end(reader: &mut KafkaReader) -> Vec<KafkaEvent> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    loop {
        match reader.poll() {
            KafkaPoll::Event(e) => events.push(e),
            KafkaPoll::End => return events,
            KafkaPoll::Pending => {
                assert!(
                    Instant::now() < deadline,
                    "no end after {} events",
                    events.len()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Reads exactly `n` events, then checks that nothing more comes for a moment.
fn read_n(reader: &mut KafkaReader, n: usize) -> Vec<KafkaEvent> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    while events.len() < n {
        match reader.poll() {
            KafkaPoll::Event(e) => events.push(e),
            KafkaPoll::End => panic!("ended after {} of {n} events", events.len()),
            KafkaPoll::Pending => {
                assert!(
                    Instant::now() < deadline,
                    "only {} of {n} events",
                    events.len()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        if let KafkaPoll::Event(e) = reader.poll() {
            panic!("an event more than the {n} expected: {e:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    events
}

fn row(fields: &[(&str, Value)]) -> Row {
    Record::from_fields(fields.iter().map(|(n, v)| ((*n).into(), v.clone())))
}

fn reading(i: i64) -> Row {
    row(&[
        ("device", Value::str(format!("dev-{}", i % 5))),
        ("seq", Value::Bigint(i)),
        ("temp", Value::Float(20.5 + i as f64)),
    ])
}

fn write_all(spec: &KafkaOutputSpec, rows: &[Row]) {
    let mut writer = KafkaWriter::open(spec).expect("opens the writer");
    for r in rows {
        writer.write_row(r).expect("writes");
    }
    writer.flush().expect("flushes");
}

/// The payload columns of a row read from Kafka (without the added ones).
fn payload(event: &KafkaEvent) -> Row {
    let read = event.item.as_ref().expect("a good event");
    Record::from_fields(
        read.fields()
            .iter()
            .filter(|(n, _)| {
                ![
                    "PartitionId",
                    "EventEnqueuedUtcTime",
                    "EventProcessedUtcTime",
                    METADATA_COLUMN,
                ]
                .contains(&n.as_ref())
            })
            .cloned(),
    )
}

fn metadata(event: &KafkaEvent) -> Record {
    match event.item.as_ref().expect("good").get(METADATA_COLUMN) {
        Some(Value::Record(r)) => r.clone(),
        other => panic!("no metadata record: {other:?}"),
    }
}

/// Writes rows, reads every partition back, and checks that each row comes
/// back once, keyed rows in one partition per key.
fn round_trip(format: KafkaFormat, rows: Vec<Row>) {
    let topic = topic_with("round-trip", 3);
    write_all(&output(&topic, format.clone(), Some("device")), &rows);
    let ids = partition_ids(broker(), &topic, &BTreeMap::new(), Duration::from_secs(10))
        .expect("partitions");
    assert_eq!(ids, vec![0, 1, 2]);
    let mut reader = KafkaReader::open(&input(&topic, format), &ids, OPTS).expect("opens");
    let events = read_to_end(&mut reader);
    assert_eq!(events.len(), rows.len());
    let mut read: Vec<Row> = events.iter().map(payload).collect();
    read.sort_by_key(|r| r.get("seq").cloned());
    assert_eq!(read, rows);
    let mut partition_of_key = BTreeMap::new();
    for e in &events {
        let key = metadata(e).get("Key").cloned().expect("key");
        let device = e.item.as_ref().expect("good").get("device").cloned();
        assert_eq!(Some(key.clone()), device, "the key is the key column");
        let p = *partition_of_key.entry(key).or_insert(e.partition);
        assert_eq!(p, e.partition, "one key, one partition");
    }
    let used: BTreeSet<i32> = events.iter().map(|e| e.partition).collect();
    assert!(used.len() > 1, "keys spread over partitions: {used:?}");
}

#[test]
fn json_rows_round_trip_through_a_three_partition_topic() {
    let rows = (0..30)
        .map(|i| {
            let mut r = reading(i);
            r.set("ok".into(), Value::Bit(i % 2 == 0));
            r.set(
                "nested".into(),
                Value::Record(row(&[(
                    "tags",
                    Value::Array(vec![Value::str("a"), Value::Null]),
                )])),
            );
            r
        })
        .collect();
    round_trip(KafkaFormat::Json, rows);
}

#[test]
fn csv_rows_round_trip_through_a_three_partition_topic() {
    let columns = vec!["device".to_string(), "seq".into(), "temp".into()];
    round_trip(KafkaFormat::Csv { columns }, (0..30).map(reading).collect());
}

#[test]
fn avro_rows_round_trip_through_a_three_partition_topic() {
    let schema = apache_avro::Schema::parse_str(
        r#"{"type":"record","name":"Reading","fields":[
            {"name":"device","type":"string"},
            {"name":"seq","type":"long"},
            {"name":"temp","type":"double"},
            {"name":"where","type":["null","string"],"default":null}]}"#,
    )
    .expect("schema");
    let rows = (0..30)
        .map(|i| {
            let mut r = reading(i);
            r.set(
                "where".into(),
                if i % 3 == 0 {
                    Value::Null
                } else {
                    Value::str("lab")
                },
            );
            r
        })
        .collect();
    round_trip(KafkaFormat::Avro(Box::new(schema)), rows);
}

#[test]
fn a_row_that_does_not_fit_the_avro_schema_is_an_error() {
    let topic = topic_with("avro-misfit", 1);
    let schema = apache_avro::Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}"#,
    )
    .expect("schema");
    let mut writer = KafkaWriter::open(&output(&topic, KafkaFormat::Avro(Box::new(schema)), None))
        .expect("opens");
    let err = writer
        .write_row(&row(&[("n", Value::str("x"))]))
        .expect_err("does not fit");
    assert!(matches!(err, KafkaError::Encode { .. }), "{err}");
    assert!(err.to_string().contains("column \"n\""), "{err}");
    writer
        .write_row(&row(&[("n", Value::Bigint(1))]))
        .expect("fits");
    writer.flush().expect("flushes");
}

#[test]
fn a_full_producer_queue_is_waited_out() {
    let topic = topic_with("queue-full", 2);
    let mut out = output(&topic, KafkaFormat::Json, None);
    // A tiny queue: most sends find it full and wait for deliveries.
    out.properties
        .insert("queue.buffering.max.messages".into(), "5".into());
    let rows: Vec<Row> = (0..300).map(reading).collect();
    write_all(&out, &rows);
    let mut reader =
        KafkaReader::open(&input(&topic, KafkaFormat::Json), &[0, 1], OPTS).expect("opens");
    assert_eq!(read_to_end(&mut reader).len(), 300);
}

#[test]
fn two_readers_of_disjoint_partitions_see_every_message_once() {
    let topic = topic_with("split", 3);
    let rows: Vec<Row> = (0..60).map(reading).collect();
    write_all(&output(&topic, KafkaFormat::Json, Some("seq")), &rows);
    let spec = input(&topic, KafkaFormat::Json);
    let mut first = KafkaReader::open(&spec, &[0], OPTS).expect("opens");
    let mut second = KafkaReader::open(&spec, &[1, 2], OPTS).expect("opens");
    let a = read_to_end(&mut first);
    let b = read_to_end(&mut second);
    assert!(a.iter().all(|e| e.partition == 0));
    assert!(b.iter().all(|e| e.partition != 0));
    assert!(!a.is_empty() && !b.is_empty());
    let mut seqs: Vec<i64> = a
        .iter()
        .chain(&b)
        .map(|e| match payload(e).get("seq") {
            Some(Value::Bigint(n)) => *n,
            other => panic!("seq: {other:?}"),
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..60).collect::<Vec<_>>());
    // A partition the topic does not have is a clear error.
    let err = KafkaReader::open(&spec, &[7], OPTS)
        .err()
        .expect("no partition 7");
    assert!(err.to_string().contains("has no partition 7"), "{err}");
}

#[test]
fn latest_reads_only_what_is_produced_after_opening() {
    let topic = topic_with("latest", 2);
    let out = output(&topic, KafkaFormat::Json, None);
    write_all(&out, &(0..5).map(reading).collect::<Vec<_>>());
    let mut spec = input(&topic, KafkaFormat::Json);
    spec.start = StartPosition::Latest;
    spec.stop_at_end = false;
    let mut reader = KafkaReader::open(&spec, &[0, 1], OPTS).expect("opens");
    write_all(&out, &(5..8).map(reading).collect::<Vec<_>>());
    let events = read_n(&mut reader, 3);
    let mut seqs: Vec<Value> = events
        .iter()
        .filter_map(|e| payload(e).get("seq").cloned())
        .collect();
    seqs.sort();
    assert_eq!(
        seqs,
        vec![Value::Bigint(5), Value::Bigint(6), Value::Bigint(7)]
    );
}

#[test]
fn committed_offsets_resume_a_group_and_default_to_earliest() {
    let topic = topic_with("committed", 1);
    write_all(
        &output(&topic, KafkaFormat::Json, None),
        &(0..10).map(reading).collect::<Vec<_>>(),
    );
    let mut spec = input(&topic, KafkaFormat::Json);
    spec.group = Some(unique("group"));
    spec.start = StartPosition::Committed;
    spec.stop_at_end = false;
    // Nothing committed yet: from the earliest message.
    let mut reader = KafkaReader::open(&spec, &[0], OPTS).expect("opens");
    let mut first = Vec::new();
    while first.len() < 4 {
        if let KafkaPoll::Event(e) = reader.poll() {
            first.push(e);
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(first[0].offset, 0);
    let next = first[3].offset + 1;
    reader.commit(&[(0, next)]).expect("commits");
    drop(reader);
    let mut reader = KafkaReader::open(&spec, &[0], OPTS).expect("reopens");
    let rest = read_n(&mut reader, 6);
    assert_eq!(rest[0].offset, next);
    assert_eq!(payload(&rest[0]).get("seq"), Some(&Value::Bigint(4)));
    // Without a group, commit is a no-op and `committed` reads from the start.
    let mut spec = input(&topic, KafkaFormat::Json);
    spec.start = StartPosition::Committed;
    let mut reader = KafkaReader::open(&spec, &[0], OPTS).expect("opens");
    reader.commit(&[(0, 5)]).expect("no-op");
    assert_eq!(read_to_end(&mut reader).len(), 10);
}

#[test]
fn a_timestamp_start_skips_older_messages() {
    let topic = topic_with("by-time", 3);
    let out = output(&topic, KafkaFormat::Json, Some("device"));
    write_all(&out, &(0..6).map(reading).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_millis(50));
    let from = DateTime::now();
    std::thread::sleep(Duration::from_millis(50));
    write_all(&out, &(6..10).map(reading).collect::<Vec<_>>());
    let mut spec = input(&topic, KafkaFormat::Json);
    spec.start = StartPosition::Timestamp(from);
    let mut reader = KafkaReader::open(&spec, &[0, 1, 2], OPTS).expect("opens");
    let events = read_to_end(&mut reader);
    let mut seqs: Vec<Value> = events
        .iter()
        .filter_map(|e| payload(e).get("seq").cloned())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (6..10).map(Value::Bigint).collect::<Vec<_>>());
    assert!(events
        .iter()
        .all(|e| e.timestamp.is_some_and(|t| t >= from)));
}

#[test]
fn stop_at_end_stops_at_the_end_seen_when_opened() {
    let topic = topic_with("stop", 2);
    let out = output(&topic, KafkaFormat::Json, Some("device"));
    write_all(&out, &(0..8).map(reading).collect::<Vec<_>>());
    let mut reader =
        KafkaReader::open(&input(&topic, KafkaFormat::Json), &[0, 1], OPTS).expect("opens");
    // Produced after opening: not read.
    write_all(&out, &(8..20).map(reading).collect::<Vec<_>>());
    assert_eq!(read_to_end(&mut reader).len(), 8);
    assert!(matches!(reader.poll(), KafkaPoll::End));
    // An empty topic ends at once; so does a reader of no partition.
    let empty = topic_with("empty", 1);
    let mut reader =
        KafkaReader::open(&input(&empty, KafkaFormat::Json), &[0], OPTS).expect("opens");
    assert!(read_to_end(&mut reader).is_empty());
    let mut reader =
        KafkaReader::open(&input(&empty, KafkaFormat::Json), &[], OPTS).expect("opens");
    assert!(matches!(reader.poll(), KafkaPoll::End));
}

/// A producer of raw messages, for payloads and headers the writer never makes.
fn raw_producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .expect("producer")
}

fn send_raw(
    producer: &BaseProducer,
    topic: &str,
    key: Option<&str>,
    payload: &[u8],
    headers: &[(&str, &str)],
) {
    let mut owned = OwnedHeaders::new();
    for (k, v) in headers {
        owned = owned.insert(Header {
            key: k,
            value: Some(*v),
        });
    }
    let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic)
        .payload(payload)
        .partition(0)
        .headers(owned);
    if let Some(key) = key {
        record = record.key(key);
    }
    producer.send(record).map_err(|(e, _)| e).expect("sends");
}

#[test]
fn malformed_messages_are_bad_events_with_their_position() {
    let topic = topic_with("malformed", 1);
    let producer = raw_producer();
    send_raw(&producer, &topic, None, br#"{"a":1}"#, &[]);
    send_raw(&producer, &topic, None, b"{not json", &[]);
    send_raw(&producer, &topic, None, b"[1,2]", &[]);
    send_raw(&producer, &topic, None, br#"{"a":2}"#, &[]);
    producer.flush(Duration::from_secs(10)).expect("flushes");
    let mut reader =
        KafkaReader::open(&input(&topic, KafkaFormat::Json), &[0], OPTS).expect("opens");
    let events = read_to_end(&mut reader);
    assert_eq!(events.len(), 4);
    assert!(events[0].item.is_ok() && events[3].item.is_ok());
    let bad = events[1].item.as_ref().expect_err("bad");
    assert_eq!(bad.reason, reasons::INVALID_DATA);
    assert_eq!(bad.position, "partition 0 offset 1");
    assert_eq!(bad.raw, "{not json");
    assert!(bad.message.contains("invalid JSON"), "{}", bad.message);
    let bad = events[2].item.as_ref().expect_err("bad");
    assert_eq!(bad.position, "partition 0 offset 2");
    assert!(bad.message.contains("expected a JSON object"));
    // A CSV record with too few fields.
    let topic = topic_with("malformed-csv", 1);
    send_raw(&producer, &topic, None, b"1,2", &[]);
    producer.flush(Duration::from_secs(10)).expect("flushes");
    let csv = KafkaFormat::Csv {
        columns: vec!["a".into(), "b".into(), "c".into()],
    };
    let mut reader = KafkaReader::open(&input(&topic, csv), &[0], OPTS).expect("opens");
    let events = read_to_end(&mut reader);
    let bad = events[0].item.as_ref().expect_err("bad");
    assert_eq!(bad.reason, reasons::MISSING_COLUMNS);
    assert_eq!(bad.position, "partition 0 offset 0");
}

#[test]
fn rows_carry_asa_metadata_columns_and_the_hidden_metadata_record() {
    let topic = topic_with("metadata", 1);
    let producer = raw_producer();
    let before = DateTime::now();
    send_raw(
        &producer,
        &topic,
        Some("k-1"),
        br#"{"v":1}"#,
        &[("source", "sensor"), ("trace", "abc")],
    );
    send_raw(
        &producer,
        &topic,
        None,
        br#"{"v":2,"PartitionId":"mine"}"#,
        &[],
    );
    producer.flush(Duration::from_secs(10)).expect("flushes");
    let mut reader =
        KafkaReader::open(&input(&topic, KafkaFormat::Json), &[0], OPTS).expect("opens");
    let events = read_to_end(&mut reader);
    assert_eq!(events.len(), 2);
    let first = events[0].item.as_ref().expect("good");
    assert_eq!(first.get("PartitionId"), Some(&Value::Bigint(0)));
    let enqueued = events[0].timestamp.expect("a timestamp");
    assert!(enqueued.ticks() >= before.ticks() - 10_000_000);
    assert_eq!(
        first.get("EventEnqueuedUtcTime"),
        Some(&Value::DateTime(enqueued))
    );
    assert!(matches!(
        first.get("EventProcessedUtcTime"),
        Some(Value::DateTime(t)) if *t >= before
    ));
    let meta = metadata(&events[0]);
    assert_eq!(meta.get("Key"), Some(&Value::str("k-1")));
    assert_eq!(meta.get("Offset"), Some(&Value::Bigint(0)));
    assert_eq!(meta.get("Topic"), Some(&Value::str(topic.clone())));
    assert_eq!(
        meta.get("Headers"),
        Some(&Value::Record(row(&[
            ("source", Value::str("sensor")),
            ("trace", Value::str("abc"))
        ])))
    );
    // The payload's own field wins; no key is NULL.
    let second = events[1].item.as_ref().expect("good");
    assert_eq!(second.get("PartitionId"), Some(&Value::str("mine")));
    let meta = metadata(&events[1]);
    assert_eq!(meta.get("Key"), Some(&Value::Null));
    assert_eq!(meta.get("Offset"), Some(&Value::Bigint(1)));
    assert_eq!(meta.get("Headers"), Some(&Value::Record(Record::new())));
}

#[test]
fn an_unreachable_broker_is_a_clear_error_within_the_timeout() {
    let started = Instant::now();
    let err = partition_ids("127.0.0.1:1", "t", &BTreeMap::new(), Duration::from_secs(2))
        .expect_err("unreachable");
    let elapsed = started.elapsed();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot reach Kafka at 127.0.0.1:1 (topic \"t\") after 2 s: "),
        "{text}"
    );
    assert!(text.len() > "cannot reach Kafka at 127.0.0.1:1 (topic \"t\") after 2 s: ".len());
    // The message says it gave up after 2 s; the bound only catches a hang
    // (generous, for a loaded machine).
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let mut spec = input("t", KafkaFormat::Json);
    spec.bootstrap = "127.0.0.1:1".to_string();
    spec.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = KafkaReader::open(&spec, &[0], OPTS)
        .err()
        .expect("unreachable");
    assert!(matches!(err, KafkaError::Unreachable { .. }), "{err}");
    let mut out = output("t", KafkaFormat::Json, None);
    out.bootstrap = "127.0.0.1:1".to_string();
    out.connect_timeout = Duration::from_secs(1);
    let err = KafkaWriter::open(&out).err().expect("unreachable");
    assert!(matches!(err, KafkaError::Unreachable { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn an_unknown_topic_is_named() {
    let topic = unique("missing");
    let err = partition_ids(broker(), &topic, &BTreeMap::new(), Duration::from_secs(5))
        .expect_err("no such topic");
    assert!(matches!(err, KafkaError::UnknownTopic { .. }), "{err}");
    assert!(err.to_string().contains(&topic));
}

#[test]
fn readers_and_writers_survive_a_broker_restart() {
    // A broker of this test's own, so that restarting it disturbs no other test.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().expect("utf-8 path").to_string();
    let bootstrap = script(&["scripts/kafka-up", "--port", &port, "--data-dir", &data]);
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            script(&["scripts/kafka-down", "--data-dir", &self.0]);
        }
    }
    let _down = Down(data.clone());
    let topic = unique("restart");
    create_topic(&bootstrap, &topic, 2).expect("creates");
    let mut out = output(&topic, KafkaFormat::Json, Some("device"));
    out.bootstrap = bootstrap.clone();
    let mut writer = KafkaWriter::open(&out).expect("opens");
    let mut spec = input(&topic, KafkaFormat::Json);
    spec.bootstrap = bootstrap.clone();
    spec.stop_at_end = false;
    spec.group = Some(unique("restart-group"));
    spec.start = StartPosition::Committed;
    let mut reader = KafkaReader::open(&spec, &[0, 1], OPTS).expect("opens");
    for i in 0..10 {
        writer.write_row(&reading(i)).expect("writes");
    }
    writer.flush().expect("flushes");
    let mut seen = read_n(&mut reader, 10);
    let next: Vec<(i32, i64)> = [0, 1]
        .iter()
        .map(|&p| {
            let last = seen
                .iter()
                .filter(|e| e.partition == p)
                .map(|e| e.offset + 1)
                .max();
            (p, last.unwrap_or(0))
        })
        .collect();
    reader.commit(&next).expect("commits");
    // Let the broker save its state, then restart it.
    std::thread::sleep(Duration::from_millis(1200));
    script(&["scripts/kafka-down", "--data-dir", &data]);
    for i in 10..15 {
        writer
            .write_row(&reading(i))
            .expect("enqueues while the broker is down");
    }
    for _ in 0..20 {
        assert!(matches!(reader.poll(), KafkaPoll::Pending));
        std::thread::sleep(Duration::from_millis(10));
    }
    script(&["scripts/kafka-up", "--port", &port, "--data-dir", &data]);
    for i in 15..20 {
        writer.write_row(&reading(i)).expect("writes");
    }
    writer.flush().expect("delivers everything");
    seen.extend(read_n(&mut reader, 10));
    let mut seqs: Vec<Value> = seen
        .iter()
        .filter_map(|e| payload(e).get("seq").cloned())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (0..20).map(Value::Bigint).collect::<Vec<_>>());
    // The commit made before the restart is still there.
    drop(reader);
    spec.stop_at_end = true;
    let mut reader = KafkaReader::open(&spec, &[0, 1], OPTS).expect("reopens");
    assert_eq!(read_to_end(&mut reader).len(), 10);
}
