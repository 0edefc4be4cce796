//! Kafka end to end, against the real broker `scripts/kafka-up` starts on
//! 127.0.0.1: the same query over a 4-partition topic gives the same
//! results as over a file at every scale (1 worker, 4 workers, 2 processes
//! of 2 workers); malformed messages are counted and dead-lettered; a
//! restarted job resumes from its committed offsets; a broker restarted
//! while the job runs loses nothing; an unreachable broker is a clear error.
//! Every test uses topics of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use eddy::connectors::file::ReadOptions;
use eddy::connectors::kafka::{
    create_topic, KafkaFormat, KafkaInputSpec, KafkaOutputSpec, KafkaPoll, KafkaReader,
    KafkaWriter, StartPosition, DEFAULT_CONNECT_TIMEOUT,
};
use eddy::types::{Name, Record, Value};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Starts (once) the shared test broker and returns its address.
fn broker() -> &'static str {
    static ADDRESS: OnceLock<String> = OnceLock::new();
    ADDRESS.get_or_init(|| kafka_up(&[]))
}

fn kafka_up(args: &[&str]) -> String {
    let out = Command::new(Path::new(ROOT).join("scripts/kafka-up"))
        .args(args)
        .output()
        .expect("scripts/kafka-up runs");
    assert!(
        out.status.success(),
        "kafka-up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A topic name no other test (or earlier run) uses.
fn topic(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("eddy-test-{name}-{}-{nanos}", std::process::id())
}

fn writer(bootstrap: &str, topic: &str, key: Option<&str>) -> KafkaWriter {
    KafkaWriter::open(&KafkaOutputSpec {
        bootstrap: bootstrap.to_string(),
        topic: topic.to_string(),
        format: KafkaFormat::Json,
        key_column: key.map(str::to_string),
        properties: BTreeMap::new(),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        create_partitions: None,
    })
    .expect("producer opens")
}

/// Every message of `topic` now, as JSON text with the metadata columns
/// Eddy adds on reading removed.
fn read_topic(bootstrap: &str, topic: &str) -> Vec<String> {
    let partitions = eddy::connectors::kafka::partition_ids(
        bootstrap,
        topic,
        &BTreeMap::new(),
        DEFAULT_CONNECT_TIMEOUT,
    )
    .expect("partitions");
    let mut reader = KafkaReader::open(
        &KafkaInputSpec {
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            group: None,
            format: KafkaFormat::Json,
            start: StartPosition::Earliest,
            properties: BTreeMap::new(),
            stop_at_end: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        },
        &partitions,
        ReadOptions {
            lower_case_names: false,
            bool_as_bit: true,
        },
    )
    .expect("reader opens");
    let mut rows = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match reader.poll() {
            KafkaPoll::Event(event) => {
                let mut row = event.item.expect("output messages are JSON objects");
                for hidden in [
                    "PartitionId",
                    "EventEnqueuedUtcTime",
                    "EventProcessedUtcTime",
                    "__metadata",
                ] {
                    row.remove(hidden);
                }
                rows.push(row.to_json().to_string());
            }
            KafkaPoll::Pending => {
                assert!(Instant::now() < deadline, "reading {topic} timed out");
                std::thread::sleep(Duration::from_millis(5));
            }
            KafkaPoll::End => break,
        }
    }
    rows
}

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("eddy runs")
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Now in milliseconds, rounded up to a whole 10 s: a test's first event time.
fn start_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    now - now % 10_000 + 10_000
}

/// Event `i` of a test stream starting at `start` (ms): `keys` keys, `rate`
/// events per second of event time, every third event up to 2 s early
/// (within the 5 s out-of-order tolerance the jobs use, so no event is
/// adjusted in any partitioning). Event times are at or after the broker's
/// timestamps (the arrival times), as for a live stream: ASA adjusts an
/// out-of-order event that is also older than arrival − tolerance, so each
/// test takes its start just before it produces.
fn event(i: u64, keys: u64, rate: u64, start: u64) -> Record {
    let millis = i * 1000 / rate;
    let jitter = if i.is_multiple_of(3) {
        (i * 7919) % 2000
    } else {
        0
    };
    let at = start + 2000 + millis - jitter;
    let secs = at / 1000;
    let ts = format!(
        "{}.{:03}Z",
        &eddy::types::DateTime(secs as i64 * 10_000_000).to_iso()[..19],
        at % 1000
    );
    let mut row = Record::with_capacity(4);
    row.set(Name::from("id"), Value::Bigint(i as i64));
    row.set(
        Name::from("key"),
        Value::Bigint(((i * 2_654_435_761) % keys) as i64),
    );
    row.set(Name::from("value"), Value::Bigint((i % 1000) as i64));
    row.set(Name::from("ts"), Value::String(ts));
    row
}

fn sorted(mut rows: Vec<String>) -> Vec<String> {
    rows.sort();
    rows
}

/// A Kafka input `Input` of `topic` that ends at the end it sees at start.
fn kafka_input(bootstrap: &str, topic: &str, extra: &str) -> String {
    format!(
        "alias = \"Input\"\nkind = \"kafka\"\nbootstrap_servers = \"{bootstrap}\"\n\
         topic = \"{topic}\"\nstop_at_end = true\n{extra}"
    )
}

fn job_text(query: &str, input: &str, output: &str, extra: &str) -> String {
    format!(
        "query = \"{query}\"\nerrors = \"errors.jsonl\"\n{extra}\n\
         [event_ordering]\nlate_arrival_seconds = -1\nout_of_order_seconds = 5\n\
         [[inputs]]\n{input}\n[[outputs]]\n{output}\n"
    )
}

const AGGREGATE: &str = "SELECT key, COUNT(*) AS n, SUM(value) AS total, System.Timestamp() AS t\n\
     INTO Out FROM Input TIMESTAMP BY ts GROUP BY key, TumblingWindow(second, 10)";

const JOIN: &str = "SELECT a.id AS first, b.id AS second, System.Timestamp() AS t\n\
     INTO Out FROM Input a TIMESTAMP BY ts JOIN Input b TIMESTAMP BY ts\n\
     ON a.key = b.key AND a.id < b.id AND DATEDIFF(second, a, b) BETWEEN 0 AND 1";

#[test]
fn the_same_results_at_every_scale_as_from_a_file() {
    let bootstrap = broker();
    let dir = tempfile::tempdir().expect("temp dir");
    let (events, keys, rate) = (200_000u64, 3_000u64, 2_000u64);
    let start = start_ms();
    let input = topic("scale-in");
    create_topic(bootstrap, &input, 4).expect("input topic");
    let mut producer = writer(bootstrap, &input, Some("key"));
    let mut file = String::new();
    for i in 0..events {
        let row = event(i, keys, rate, start);
        producer.write_row(&row).expect("produce");
        file.push_str(&row.to_json().to_string());
        file.push('\n');
    }
    producer.flush().expect("every event acknowledged");
    std::fs::write(dir.path().join("events.jsonl"), file).expect("events file");

    for (name, query) in [("aggregate", AGGREGATE), ("join", JOIN)] {
        std::fs::write(dir.path().join(format!("{name}.asaql")), query).expect("query");
        std::fs::write(
            dir.path().join("file.toml"),
            job_text(
                &format!("{name}.asaql"),
                "alias = \"Input\"\npath = \"events.jsonl\"",
                "alias = \"Out\"\npath = \"out.jsonl\"",
                "",
            ),
        )
        .expect("job");
        let job = dir.path().join("file.toml");
        assert_ok(
            &eddy(&["run", "--quiet", "--job", job.to_str().expect("utf-8")]),
            "the file run",
        );
        let expected = sorted(
            std::fs::read_to_string(dir.path().join("out.jsonl"))
                .expect("output")
                .lines()
                .map(str::to_string)
                .collect(),
        );
        assert!(expected.len() > 10_000, "{name}: {} rows", expected.len());

        for (label, args) in [
            ("1 process x 1 worker", vec!["run", "-w", "1"]),
            ("1 process x 4 workers", vec!["run", "-w", "4"]),
            (
                "2 processes x 2 workers",
                vec!["cluster", "--processes", "2", "--workers", "2"],
            ),
        ] {
            let output = topic(&format!("scale-{name}-out"));
            create_topic(bootstrap, &output, 4).expect("output topic");
            std::fs::write(
                dir.path().join("kafka.toml"),
                job_text(
                    &format!("{name}.asaql"),
                    &kafka_input(bootstrap, &input, "start = \"earliest\""),
                    &format!(
                        "alias = \"Out\"\nkind = \"kafka\"\nbootstrap_servers = \"{bootstrap}\"\n\
                         topic = \"{output}\""
                    ),
                    "",
                ),
            )
            .expect("job");
            let job = dir.path().join("kafka.toml");
            let mut all = args.clone();
            all.extend(["--quiet", "--job", job.to_str().expect("utf-8")]);
            let started = Instant::now();
            assert_ok(&eddy(&all), &format!("{name}, {label}"));
            let ran = started.elapsed();
            let actual = sorted(read_topic(bootstrap, &output));
            println!(
                "{name}, {label}: {} rows, run {ran:.1?}, read back {:.1?}",
                actual.len(),
                started.elapsed() - ran
            );
            assert_eq!(
                actual.len(),
                expected.len(),
                "{name}, {label}: row count differs from the file run"
            );
            assert!(
                actual == expected,
                "{name}, {label}: rows differ from the file run"
            );
        }
    }
}

#[test]
fn malformed_messages_are_counted_and_dead_lettered() {
    let bootstrap = broker();
    let dir = tempfile::tempdir().expect("temp dir");
    let input = topic("bad-in");
    create_topic(bootstrap, &input, 2).expect("topic");
    // Good events through the writer; malformed ones as raw payloads.
    let mut producer = writer(bootstrap, &input, None);
    let start = start_ms();
    for i in 0..100 {
        producer
            .write_row(&event(i, 10, 100, start))
            .expect("produce");
    }
    producer.flush().expect("flush");
    // Malformed payloads, and one good event with a key and a header, as
    // raw messages.
    let raw: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    for (payload, key) in [
        (b"{not json".as_slice(), None),
        (b"[1, 2]".as_slice(), None),
        (br#"{"id": 500, "ts": "never"}"#.as_slice(), None),
        (
            br#"{"id": 600, "ts": "2024-01-01T00:00:09Z"}"#.as_slice(),
            Some("k600"),
        ),
    ] {
        let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(&input)
            .payload(payload)
            .headers(OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some("t-1"),
            }));
        if let Some(key) = key {
            record = record.key(key);
        }
        raw.send(record).map_err(|(e, _)| e).expect("sends");
    }
    raw.flush(Duration::from_secs(30))
        .expect("raw messages acknowledged");
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT id, GetMetadataPropertyValue(Input, 'Topic') AS topic,\n\
         GetMetadataPropertyValue(Input, 'Key') AS k, GetMetadataPropertyValue(Input, '[User].[trace]') AS trace\n\
         INTO Out FROM Input TIMESTAMP BY ts",
    )
    .expect("query");
    std::fs::write(
        dir.path().join("job.toml"),
        job_text(
            "q.asaql",
            &kafka_input(bootstrap, &input, "start = \"earliest\""),
            "alias = \"Out\"\npath = \"out.jsonl\"",
            "",
        ),
    )
    .expect("job");
    let job = dir.path().join("job.toml");
    let out = eddy(&["run", "-w", "2", "--job", job.to_str().expect("utf-8")]);
    assert_ok(&out, "the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("input Input: 104 events, 3 bad"),
        "{stderr}"
    );
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let ids: BTreeSet<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(ids, (0..100).chain([600]).collect::<BTreeSet<i64>>());
    assert!(rows.iter().all(|r| r["topic"] == input.as_str()));
    let keyed: Vec<&serde_json::Value> = rows.iter().filter(|r| r["id"] == 600).collect();
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed[0]["k"], "k600");
    assert_eq!(keyed[0]["trace"], "t-1");
    assert!(rows
        .iter()
        .filter(|r| r["id"] != 600)
        .all(|r| r["k"].is_null() && r["trace"].is_null()));
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("errors.jsonl"))
        .expect("errors")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let reasons: Vec<&str> = dead.iter().filter_map(|d| d["reason"].as_str()).collect();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(
        reasons
            .iter()
            .filter(|r| **r == "InputDeserializerError.InvalidData")
            .count(),
        2
    );
    assert!(reasons.contains(&"InvalidInputTimeStamp"));
    assert!(dead.iter().all(|d| d["position"]
        .as_str()
        .is_some_and(|p| p.starts_with("partition "))));

    // The same job with a dead-letter topic instead of a file.
    let dead_topic = topic("bad-dead");
    std::fs::write(
        dir.path().join("job.toml"),
        job_text(
            "q.asaql",
            &kafka_input(bootstrap, &input, "start = \"earliest\""),
            "alias = \"Out\"\npath = \"out.jsonl\"",
            &format!(
                "[errors_kafka]\nbootstrap_servers = \"{bootstrap}\"\ntopic = \"{dead_topic}\""
            ),
        ),
    )
    .expect("job");
    assert_ok(
        &eddy(&["run", "--quiet", "--job", job.to_str().expect("utf-8")]),
        "the run with a dead-letter topic",
    );
    let from_topic: Vec<serde_json::Value> = read_topic(bootstrap, &dead_topic)
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let mut topic_reasons: Vec<&str> = from_topic
        .iter()
        .filter_map(|d| d["reason"].as_str())
        .collect();
    let mut file_reasons = reasons.clone();
    topic_reasons.sort();
    file_reasons.sort();
    assert_eq!(topic_reasons, file_reasons);
}

#[test]
fn a_restarted_job_resumes_from_its_committed_offsets() {
    let bootstrap = broker();
    let dir = tempfile::tempdir().expect("temp dir");
    let input = topic("resume-in");
    create_topic(bootstrap, &input, 3).expect("topic");
    let group = topic("resume-group");
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT id INTO Out FROM Input TIMESTAMP BY ts",
    )
    .expect("query");
    std::fs::write(
        dir.path().join("job.toml"),
        job_text(
            "q.asaql",
            &kafka_input(bootstrap, &input, &format!("group = \"{group}\"")),
            "alias = \"Out\"\npath = \"out.jsonl\"",
            "",
        ),
    )
    .expect("job");
    let job = dir.path().join("job.toml");
    let ids_written = || -> Vec<i64> {
        std::fs::read_to_string(dir.path().join("out.jsonl"))
            .expect("output")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["id"]
                    .as_i64()
                    .expect("id")
            })
            .collect()
    };
    let mut producer = writer(bootstrap, &input, Some("key"));
    let start = start_ms();
    for i in 0..1000 {
        producer
            .write_row(&event(i, 50, 100, start))
            .expect("produce");
    }
    producer.flush().expect("flush");
    assert_ok(
        &eddy(&[
            "run",
            "--quiet",
            "-w",
            "2",
            "--job",
            job.to_str().expect("utf-8"),
        ]),
        "the first run",
    );
    let first: BTreeSet<i64> = ids_written().into_iter().collect();
    assert_eq!(first, (0..1000).collect());

    for i in 1000..1500 {
        producer
            .write_row(&event(i, 50, 100, start))
            .expect("produce");
    }
    producer.flush().expect("flush");
    assert_ok(
        &eddy(&[
            "run",
            "--quiet",
            "-w",
            "2",
            "--job",
            job.to_str().expect("utf-8"),
        ]),
        "the second run",
    );
    let second = ids_written();
    assert_eq!(
        second.iter().copied().collect::<BTreeSet<i64>>(),
        (1000..1500).collect(),
        "the second run starts where the first one committed"
    );
    assert_eq!(second.len(), 500);
}

#[test]
fn a_broker_restart_while_the_job_runs_loses_nothing() {
    // A broker of this test's own, so restarting it disturbs no other test.
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8").to_string();
    let port = "19193";
    let bootstrap = kafka_up(&["--port", port, "--data-dir", &data_dir]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, output) = (topic("restart-in"), topic("restart-out"));
    create_topic(&bootstrap, &input, 2).expect("topic");
    create_topic(&bootstrap, &output, 2).expect("topic");
    std::fs::write(dir.path().join("q.asaql"), "SELECT id INTO Out FROM Input").expect("query");
    // Event time is the broker's timestamp; the default late-arrival
    // tolerance (5 s) lets results out while the stream is live.
    std::fs::write(
        dir.path().join("job.toml"),
        format!(
            "query = \"q.asaql\"\nerrors = \"errors.jsonl\"\n\
             [[inputs]]\nalias = \"Input\"\nkind = \"kafka\"\nbootstrap_servers = \"{bootstrap}\"\n\
             topic = \"{input}\"\nstart = \"earliest\"\n\
             [[outputs]]\nalias = \"Out\"\nkind = \"kafka\"\nbootstrap_servers = \"{bootstrap}\"\ntopic = \"{output}\"\n"
        ),
    )
    .expect("job");
    let mut job = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "-w", "2", "--job"])
        .arg(dir.path().join("job.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("eddy starts");
    let produce = |range: std::ops::Range<u64>| {
        let mut producer = writer(&bootstrap, &input, None);
        for i in range {
            producer
                .write_row(&event(i, 10, 100, start_ms()))
                .expect("produce");
        }
        producer.flush().expect("flush");
    };
    let ids_out = || -> BTreeSet<i64> {
        read_topic(&bootstrap, &output)
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["id"]
                    .as_i64()
                    .expect("id")
            })
            .collect()
    };
    let wait_for = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ids = ids_out();
            if ids.len() >= count || Instant::now() > deadline {
                return ids;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    produce(0..2000);
    let before = wait_for(1);
    assert!(
        !before.is_empty(),
        "the job writes while the stream is live"
    );
    // Producers pause across the restart (the broker may lose what is
    // written while it stops); the job keeps running.
    let down = Command::new(Path::new(ROOT).join("scripts/kafka-down"))
        .args(["--data-dir", &data_dir])
        .output()
        .expect("kafka-down");
    assert!(down.status.success());
    std::thread::sleep(Duration::from_secs(2));
    kafka_up(&["--port", port, "--data-dir", &data_dir]);
    produce(2000..4000);
    let after = wait_for(4000);
    let still_running = job.try_wait().expect("status").is_none();
    let _ = job.kill();
    let status = job.wait_with_output().expect("eddy ends");
    let _ = Command::new(Path::new(ROOT).join("scripts/kafka-down"))
        .args(["--data-dir", &data_dir])
        .output();
    assert!(
        still_running,
        "the job survives the restart: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let missing: Vec<i64> = (0..4000).filter(|i| !after.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "{} ids missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("q.asaql"), "SELECT * INTO Out FROM Input").expect("query");
    std::fs::write(
        dir.path().join("job.toml"),
        "query = \"q.asaql\"\n\
         [[inputs]]\nalias = \"Input\"\nkind = \"kafka\"\nbootstrap_servers = \"127.0.0.1:1\"\n\
         topic = \"nowhere\"\nconnect_timeout_ms = 3000\n\
         [[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\n",
    )
    .expect("job");
    // The connect timeout is 3 s; a run still going after a minute hangs.
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "--job"])
        .arg(dir.path().join("job.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("eddy starts");
    let patience = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("status").is_none() {
        if Instant::now() > patience {
            let _ = child.kill();
            panic!("eddy did not give up on an unreachable broker");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("eddy ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach Kafka at 127.0.0.1:1"),
        "{stderr}"
    );
}

/// Produces `{"id": i}` for each `i` of `ids` into `topic` (into
/// `partition` when given), and waits for the broker's acknowledgements.
fn produce_ids(bootstrap: &str, topic: &str, ids: std::ops::Range<u64>, partition: Option<i32>) {
    let raw: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    for i in ids {
        let payload = format!("{{\"id\": {i}}}");
        let record = BaseRecord::<'_, str, str>::to(topic).payload(payload.as_str());
        let record = match partition {
            Some(p) => record.partition(p),
            None => record,
        };
        raw.send(record).map_err(|(e, _)| e).expect("sends");
    }
    raw.flush(Duration::from_secs(30)).expect("acknowledged");
}

#[test]
fn an_idle_partition_holds_results_back_by_at_most_the_late_tolerance() {
    let bootstrap = broker();
    let dir = tempfile::tempdir().expect("temp dir");
    let input = topic("idle-in");
    create_topic(bootstrap, &input, 2).expect("topic");
    // Every event goes to partition 0; partition 1 stays idle for the whole run.
    produce_ids(bootstrap, &input, 0..100, Some(0));
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT id, PartitionId INTO Out FROM Input PARTITION BY PartitionId",
    )
    .expect("query");
    // Live (no stop_at_end), event time = the broker's timestamp, ASA's
    // default 5 s late-arrival tolerance.
    std::fs::write(
        dir.path().join("job.toml"),
        format!(
            "query = \"q.asaql\"\n\
             [[inputs]]\nalias = \"Input\"\nkind = \"kafka\"\nbootstrap_servers = \"{bootstrap}\"\n\
             topic = \"{input}\"\nstart = \"earliest\"\n\
             [[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\n"
        ),
    )
    .expect("job");
    let mut job = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "-w", "2", "--job"])
        .arg(dir.path().join("job.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("eddy starts");
    let rows = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.path().join("out.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows().len() < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = job.kill();
    let _ = job.wait();
    let rows = rows();
    assert_eq!(
        rows.len(),
        100,
        "every result is released while partition 1 is idle"
    );
    assert!(rows.iter().all(|r| r["PartitionId"] == 0));
}

#[test]
fn a_backlog_keeps_its_enqueue_times_however_old() {
    // Messages produced well before the job starts (a replayed topic): read
    // without TIMESTAMP BY, each event's time is its enqueue time. The wall
    // clock must not move the watermark past a partition that is still
    // delivering its backlog, or every message would count as late.
    let bootstrap = broker();
    let dir = tempfile::tempdir().expect("temp dir");
    let input = topic("backlog-in");
    create_topic(bootstrap, &input, 1).expect("topic");
    for first in (0..2000).step_by(500) {
        produce_ids(bootstrap, &input, first..first + 500, None);
        // Spread over time, so the backlog's enqueue times differ.
        std::thread::sleep(Duration::from_millis(300));
    }
    // Older than the late-arrival tolerance by the time the job reads them.
    std::thread::sleep(Duration::from_millis(2500));
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT id, System.Timestamp() AS t, EventEnqueuedUtcTime AS enqueued INTO Out FROM Input",
    )
    .expect("query");
    std::fs::write(
        dir.path().join("job.toml"),
        format!(
            "query = \"q.asaql\"\n\
             [event_ordering]\nlate_arrival_seconds = 1\nout_of_order_seconds = 0\n\
             [[inputs]]\n{}start = \"earliest\"\n\
             [[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\n",
            kafka_input(bootstrap, &input, "")
        ),
    )
    .expect("job");
    let job = dir.path().join("job.toml");
    let out = eddy(&["run", "-w", "1", "--job", job.to_str().expect("utf-8 path")]);
    assert_ok(&out, "the backlog job");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        !summary.contains("adjusted") && !summary.contains("late"),
        "no event of the backlog is late or adjusted:\n{summary}"
    );
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(rows.len(), 2000);
    let distinct: BTreeSet<String> = rows.iter().map(|r| r["t"].to_string()).collect();
    assert!(distinct.len() > 1, "enqueue times differ: {distinct:?}");
    for row in &rows {
        assert_eq!(
            row["t"], row["enqueued"],
            "event time is the enqueue time: {row}"
        );
    }
}
