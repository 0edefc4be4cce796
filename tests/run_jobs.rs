//! End-to-end runs through the `eddy` binary: files and standard streams,
//! job files, several outputs, bad events and the error policy, and the
//! same output for any number of workers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn eddy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("output line is JSON"))
        .collect()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = eddy().args(args).output().expect("eddy runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mixed_good_and_bad_events_are_all_accounted_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut input = String::new();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for i in 0..200 {
        match i % 10 {
            3 => {
                input.push_str(&format!("{{\"id\": {i}, \"v\": \"abc\"\n"));
                bad.push((i, "InputDeserializerError.InvalidData"));
            }
            6 => {
                input.push_str(&format!("{{\"id\": {i}, \"v\": \"not a number\"}}\n"));
                bad.push((i, "TypeConversionError"));
            }
            8 => {
                input.push_str("[1, 2]\n");
                bad.push((i, "InputDeserializerError.InvalidData"));
            }
            _ => {
                input.push_str(&format!("{{\"id\": {i}, \"v\": \"{}\"}}\n", i * 2));
                good.push(i);
            }
        }
    }
    let input_path = write(dir.path(), "in.jsonl", &input);
    let query = write(
        dir.path(),
        "q.asaql",
        "SELECT id, CAST(v AS bigint) + 1 AS next INTO Output FROM Input",
    );
    let out = dir.path().join("out.jsonl");
    let errors = dir.path().join("errors.jsonl");
    let (code, _, stderr) = run(&[
        "run",
        "--query",
        query.to_str().expect("utf-8"),
        "--input",
        &format!("Input={}", input_path.display()),
        "--output",
        &format!("Output={}", out.display()),
        "--errors",
        errors.to_str().expect("utf-8"),
        "-w",
        "3",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows = lines(&out);
    let mut ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().expect("id")).collect();
    ids.sort();
    assert_eq!(ids, good.iter().map(|&i| i as i64).collect::<Vec<_>>());
    for row in &rows {
        assert_eq!(
            row["next"].as_i64(),
            Some(row["id"].as_i64().expect("id") * 2 + 1)
        );
    }
    let dead = lines(&errors);
    assert_eq!(
        dead.len(),
        bad.len(),
        "every bad event is dead-lettered once"
    );
    let count = |reason: &str| dead.iter().filter(|d| d["reason"] == reason).count();
    let expect = |reason: &str| bad.iter().filter(|(_, r)| *r == reason).count();
    assert_eq!(
        count("InputDeserializerError.InvalidData"),
        expect("InputDeserializerError.InvalidData")
    );
    assert_eq!(count("TypeConversionError"), expect("TypeConversionError"));
    for d in dead.iter().filter(|d| d["reason"] == "TypeConversionError") {
        assert!(
            d["message"]
                .as_str()
                .expect("message")
                .contains("not a number"),
            "{d}"
        );
        assert_eq!(d["event"]["v"], "not a number");
    }
    for d in dead
        .iter()
        .filter(|d| d["reason"] == "InputDeserializerError.InvalidData")
    {
        assert!(
            d["position"]
                .as_str()
                .expect("position")
                .starts_with("line "),
            "{d}"
        );
    }
    assert!(
        stderr.contains("dead-lettered: 60"),
        "summary counts dead letters:\n{stderr}"
    );
    assert!(stderr.contains("output Output: 140 rows"), "{stderr}");
}

#[test]
fn csv_rows_with_wrong_column_counts_are_dead_lettered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = write(
        dir.path(),
        "in.csv",
        "id,name,temp\n1,a,20.5\n2,b\n3,c,22\n4,d,1,extra\n",
    );
    let query = write(
        dir.path(),
        "q.asaql",
        "SELECT id, temp INTO Output FROM Input WHERE temp > 21",
    );
    let out = dir.path().join("out.jsonl");
    let errors = dir.path().join("errors.jsonl");
    let (code, _, stderr) = run(&[
        "run",
        "--query",
        query.to_str().expect("utf-8"),
        "--input",
        &format!("Input={}", input.display()),
        "--output",
        &format!("Output={}", out.display()),
        "--errors",
        errors.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines(&out), vec![serde_json::json!({"id": 3, "temp": 22})]);
    let dead = lines(&errors);
    assert_eq!(dead.len(), 2);
    assert!(dead
        .iter()
        .all(|d| d["reason"] == "InputDeserializerError.MissingColumns"));
    assert_eq!(dead[0]["position"], "line 3");
}

#[test]
fn on_error_stop_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"v\": \"1\"}\n{\"v\": \"x\"}\n{\"v\": \"3\"}\n",
    );
    let query = write(
        dir.path(),
        "q.asaql",
        "SELECT CAST(v AS bigint) AS n INTO Output FROM Input",
    );
    let (code, _, stderr) = run(&[
        "run",
        "--query",
        query.to_str().expect("utf-8"),
        "--input",
        &format!("Input={}", input.display()),
        "--output",
        &format!("Output={}", dir.path().join("out.jsonl").display()),
        "--errors",
        dir.path().join("errors.jsonl").to_str().expect("utf-8"),
        "--on-error",
        "stop",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stopped on a bad event"), "{stderr}");
    assert!(stderr.contains("TypeConversionError"), "{stderr}");
}

#[test]
fn stdin_to_stdout_with_a_json_array() {
    let dir = tempfile::tempdir().expect("temp dir");
    let query = write(
        dir.path(),
        "q.asaql",
        "SELECT name, n * 2 AS twice FROM Input WHERE n > 1",
    );
    let mut child = eddy()
        .args([
            "run",
            "--query",
            query.to_str().expect("utf-8"),
            "--input",
            "Input=-",
            "--output",
            "output=-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eddy starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"[{"name": "a", "n": 1}, {"name": "b", "n": 2}, {"name": "c", "n": 3.5}]"#)
        .expect("write stdin");
    let out = child.wait_with_output().expect("eddy ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![r#"{"name":"b","twice":4}"#, r#"{"name":"c","twice":7.0}"#]
    );
}

#[test]
fn job_file_with_steps_union_and_two_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    write(
        &dir.path().join("data"),
        "cars.jsonl",
        concat!(
            "{\"Make\": \"Make1\", \"Time\": \"2023-01-01T00:00:02Z\", \"Weight\": 1000}\n",
            "{\"Make\": \"Make2\", \"Time\": \"2023-01-01T00:00:01Z\", \"Weight\": 3000}\n",
            "{\"Make\": \"Make1\", \"Time\": \"2023-01-01T00:00:03Z\", \"Weight\": 2500}\n",
        ),
    );
    write(
        dir.path(),
        "q.asaql",
        "WITH Heavy AS (SELECT Make, Weight, System.Timestamp() AS T FROM Cars TIMESTAMP BY Time WHERE Weight > 1500)\n\
         SELECT * INTO Heavies FROM Heavy\n\
         SELECT Make, 'heavy' AS Kind INTO Kinds FROM Heavy\n\
         UNION\n\
         SELECT Make, 'any' AS Kind FROM Cars",
    );
    write(
        dir.path(),
        "job.toml",
        "query = \"q.asaql\"\n\
         [[inputs]]\nalias = \"Cars\"\npath = \"data/cars.jsonl\"\nsplit = false\n\
         [[outputs]]\nalias = \"Heavies\"\npath = \"out/heavies.jsonl\"\n\
         [[outputs]]\nalias = \"Kinds\"\npath = \"out/kinds.jsonl\"\n",
    );
    let job = dir.path().join("job.toml");
    let (code, _, stderr) = run(&["run", "--job", job.to_str().expect("utf-8"), "-w", "2"]);
    assert_eq!(code, 0, "{stderr}");
    // The out-of-order Make2 event (00:00:01 after 00:00:02) is adjusted to
    // the watermark, as ASA's default policy (0 s tolerance, adjust) does;
    // `split = false` keeps the file one partition on two workers.
    assert_eq!(
        lines(&dir.path().join("out/heavies.jsonl")),
        vec![
            serde_json::json!({"Make": "Make2", "Weight": 3000, "T": "2023-01-01T00:00:02.0000000Z"}),
            serde_json::json!({"Make": "Make1", "Weight": 2500, "T": "2023-01-01T00:00:03.0000000Z"}),
        ]
    );
    let mut kinds: Vec<String> = lines(&dir.path().join("out/kinds.jsonl"))
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["Make"].as_str().expect("s"),
                r["Kind"].as_str().expect("s")
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            "Make1/any",
            "Make1/any",
            "Make1/heavy",
            "Make2/any",
            "Make2/heavy"
        ]
    );
    assert!(
        stderr.contains("input Cars: 3 events, 1 out of order, 1 adjusted"),
        "{stderr}"
    );
}

/// Every conformance case gives byte-identical output with 1 and 4
/// workers, when its input is in event-time order. (Four workers split a
/// file into four partitions with a watermark each, so an out-of-order event
/// may be adjusted differently: docs/semantics.md, "Partitions".)
#[test]
fn four_workers_write_what_one_worker_writes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cases = root.join("../shared/conformance");
    let mut names: Vec<String> = std::fs::read_dir(&cases)
        .expect("shared conformance folder")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("case.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut compared = 0;
    for name in &names {
        if root
            .join("tests/conformance-overrides")
            .join(format!("{name}.toml"))
            .exists()
        {
            continue;
        }
        let case_dir = cases.join(name);
        let case: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(case_dir.join("case.json")).expect("case.json"),
        )
        .expect("json");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut outputs_by_workers = Vec::new();
        let mut in_order = true;
        for workers in ["1", "4"] {
            let mut args: Vec<String> = vec![
                "run".into(),
                "--query".into(),
                case_dir.join("query.asaql").display().to_string(),
                "-w".into(),
                workers.into(),
                "--errors".into(),
                dir.path().join("errors.jsonl").display().to_string(),
            ];
            let references: Vec<&str> = case["reference_inputs"]
                .as_array()
                .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            for (alias, file) in case["inputs"].as_object().expect("inputs") {
                let flag = if references.contains(&alias.as_str()) {
                    "--reference"
                } else {
                    "--input"
                };
                args.push(flag.into());
                args.push(format!(
                    "{alias}={}",
                    case_dir.join(file.as_str().expect("file")).display()
                ));
            }
            let mut paths = Vec::new();
            for alias in case["outputs"].as_object().expect("outputs").keys() {
                let path = dir.path().join(format!("{alias}-w{workers}.jsonl"));
                args.push("--output".into());
                args.push(format!("{alias}={}", path.display()));
                paths.push(path);
            }
            let out = eddy().args(&args).output().expect("eddy runs");
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if workers == "1" {
                in_order = !String::from_utf8_lossy(&out.stderr).contains("out of order");
            }
            outputs_by_workers.push(
                paths
                    .iter()
                    .map(|p| std::fs::read_to_string(p).expect("output"))
                    .collect::<Vec<_>>(),
            );
        }
        if !in_order {
            continue;
        }
        assert_eq!(
            outputs_by_workers[0], outputs_by_workers[1],
            "case {name}: -w 1 and -w 4 differ"
        );
        compared += 1;
    }
    assert!(compared >= 18, "compared {compared} cases");
}

/// `eddy test` on a case folder it has never seen: the layout is the contract.
#[test]
fn eddy_test_runs_a_new_case_folder_and_shows_a_diff_on_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let case = dir.path().join("my-case");
    std::fs::create_dir_all(&case).expect("mkdir");
    write(
        &case,
        "query.asaql",
        "SELECT id, UPPER(name) AS name INTO Out FROM Events WHERE id > 1",
    );
    write(
        &case,
        "events.jsonl",
        "{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": \"b\"}\n",
    );
    write(
        &case,
        "expected.Out.jsonl",
        "{\"id\": 2, \"name\": \"B\"}\n",
    );
    write(
        &case,
        "case.json",
        r#"{"status": "ok", "inputs": {"Events": "events.jsonl"}, "outputs": {"Out": "expected.Out.jsonl"}}"#,
    );
    let (code, stdout, stderr) = run(&["test", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("PASS my-case"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed"));

    write(
        &case,
        "expected.Out.jsonl",
        "{\"id\": 2, \"name\": \"b\"}\n",
    );
    let (code, stdout, _) = run(&["test", case.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(stdout.contains("FAIL my-case"), "{stdout}");
    assert!(
        stdout.contains(r#"- expected {"id":2,"name":"b"}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"+ actual   {"id":2,"name":"B"}"#),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("0 passed, 1 failed"));
}

#[test]
fn create_table_casts_declared_columns_and_dead_letters_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\": \"1\", \"temp\": \"20.5\"}\n{\"id\": \"x\", \"temp\": 3}\n{\"id\": 3, \"temp\": \"NaN\"}\n{\"id\": 4, \"temp\": 7}\n",
    );
    let query = write(
        dir.path(),
        "q.asaql",
        "CREATE TABLE Input (id bigint, temp float);\nSELECT id, temp, GetType(temp) AS t INTO Output FROM Input",
    );
    let out = dir.path().join("out.jsonl");
    let errors = dir.path().join("errors.jsonl");
    let (code, _, stderr) = run(&[
        "run",
        "--query",
        query.to_str().expect("utf-8"),
        "--input",
        &format!("Input={}", input.display()),
        "--output",
        &format!("Output={}", out.display()),
        "--errors",
        errors.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        lines(&out),
        vec![
            serde_json::json!({"id": 1, "temp": 20.5, "t": "float"}),
            serde_json::json!({"id": 4, "temp": 7.0, "t": "float"}),
        ]
    );
    let dead = lines(&errors);
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead
        .iter()
        .all(|d| d["reason"] == "InputDeserializerError.TypeConversionError"));
}

#[test]
fn outer_apply_keeps_events_without_elements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\": 1, \"xs\": [10, 20]}\n{\"id\": 2, \"xs\": []}\n{\"id\": 3, \"xs\": \"not an array\"}\n",
    );
    let query = write(
        dir.path(),
        "q.asaql",
        "SELECT i.id, e.ArrayIndex, e.ArrayValue INTO Output FROM Input i OUTER APPLY GetArrayElements(i.xs) AS e",
    );
    let out = dir.path().join("out.jsonl");
    let (code, _, stderr) = run(&[
        "run",
        "--query",
        query.to_str().expect("utf-8"),
        "--input",
        &format!("Input={}", input.display()),
        "--output",
        &format!("Output={}", out.display()),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut rows: Vec<String> = lines(&out).iter().map(|r| r.to_string()).collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            r#"{"id":1,"ArrayIndex":0,"ArrayValue":10}"#,
            r#"{"id":1,"ArrayIndex":1,"ArrayValue":20}"#,
            r#"{"id":2,"ArrayIndex":null,"ArrayValue":null}"#,
            r#"{"id":3,"ArrayIndex":null,"ArrayValue":null}"#,
        ]
    );
}

#[test]
fn reference_join_inner_and_left_with_documented_key_types() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        "events.jsonl",
        concat!(
            "{\"id\": 1, \"t\": \"2024-01-01T00:00:01Z\"}\n",
            "{\"id\": 2.0, \"t\": \"2024-01-01T00:00:02Z\"}\n",
            "{\"id\": \"3\", \"t\": \"2024-01-01T00:00:03Z\"}\n",
            "{\"id\": 4, \"t\": \"2024-01-01T00:00:04Z\"}\n",
        ),
    );
    write(
        dir.path(),
        "devices.csv",
        "id,name,limit\n1,pump,10\n2,fan,20\n3,valve,30\n",
    );
    write(
        dir.path(),
        "q.asaql",
        "SELECT e.id, d.name INTO Matched FROM Events e TIMESTAMP BY t JOIN Devices d ON e.id = d.id\n\
         SELECT e.id, d.name INTO Everything FROM Events e TIMESTAMP BY t LEFT JOIN Devices d ON e.id = d.id AND d.limit > 15",
    );
    write(
        dir.path(),
        "job.toml",
        "query = \"q.asaql\"\n\
         [[inputs]]\nalias = \"Events\"\npath = \"events.jsonl\"\n\
         [[inputs]]\nalias = \"Devices\"\npath = \"devices.csv\"\ntype = \"reference\"\n\
         [[outputs]]\nalias = \"Matched\"\npath = \"inner.jsonl\"\n\
         [[outputs]]\nalias = \"Everything\"\npath = \"outer.jsonl\"\n",
    );
    let job = dir.path().join("job.toml");
    let (code, _, stderr) = run(&["run", "--job", job.to_str().expect("utf-8"), "-w", "3"]);
    assert_eq!(code, 0, "{stderr}");
    // bigint 1 and float 2.0 match the CSV's bigints; the string "3" does not (§1, §7).
    assert_eq!(
        lines(&dir.path().join("inner.jsonl")),
        vec![
            serde_json::json!({"id": 1, "name": "pump"}),
            serde_json::json!({"id": 2.0, "name": "fan"}),
        ]
    );
    // LEFT JOIN keeps every event; the residual (limit > 15) decides the match.
    assert_eq!(
        lines(&dir.path().join("outer.jsonl")),
        vec![
            serde_json::json!({"id": 1, "name": null}),
            serde_json::json!({"id": 2.0, "name": "fan"}),
            serde_json::json!({"id": "3", "name": null}),
            serde_json::json!({"id": 4, "name": null}),
        ]
    );
}

#[test]
fn joins_between_streams_need_a_time_bound_and_reference_data_needs_a_join() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "a.jsonl", "{}\n");
    let query = write(
        dir.path(),
        "q.asaql",
        "SELECT a.x INTO Output FROM A a JOIN B b ON a.x = b.x",
    );
    let (code, _, stderr) = run(&[
        "check",
        "--query",
        query.to_str().expect("utf-8"),
        "--input",
        "A=a.jsonl",
        "--input",
        "B=a.jsonl",
        "--output",
        "Output=-",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("a JOIN between streams needs a time bound"),
        "{stderr}"
    );
    assert!(stderr.contains("q.asaql:1:45"), "{stderr}");
}

#[test]
fn a_chain_of_three_streams_and_a_non_equality_reference_join() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |s: u32| format!("2024-01-01T00:00:{s:02}Z");
    write(
        dir.path(),
        "orders.jsonl",
        &format!(
            "{{\"o\": 1, \"ts\": \"{}\"}}\n{{\"o\": 2, \"ts\": \"{}\"}}\n",
            at(10),
            at(30)
        ),
    );
    write(
        dir.path(),
        "payments.jsonl",
        &format!("{{\"o\": 1, \"amount\": 70, \"ts\": \"{}\"}}\n{{\"o\": 2, \"amount\": 5, \"ts\": \"{}\"}}\n", at(12), at(31)),
    );
    write(
        dir.path(),
        "shipments.jsonl",
        &format!(
            "{{\"o\": 1, \"ts\": \"{}\"}}\n{{\"o\": 2, \"ts\": \"{}\"}}\n",
            at(15),
            at(50)
        ),
    );
    write(
        dir.path(),
        "tiers.jsonl",
        "{\"tier\": \"gold\", \"min\": 50}\n{\"tier\": \"basic\", \"min\": 0}\n",
    );
    write(
        dir.path(),
        "q.asaql",
        "WITH Shipped AS (\n\
           SELECT o.o AS orderId, p.amount, System.Timestamp() AS shippedAt\n\
           FROM Orders o TIMESTAMP BY ts\n\
           JOIN Payments p TIMESTAMP BY ts ON o.o = p.o AND DATEDIFF(second, o, p) BETWEEN 0 AND 5\n\
           JOIN Shipments s TIMESTAMP BY ts ON o.o = s.o AND DATEDIFF(second, o, s) BETWEEN 0 AND 10\n\
         )\n\
         SELECT sh.orderId, sh.amount, sh.shippedAt, t.tier INTO Out\n\
         FROM Shipped sh JOIN Tiers t ON sh.amount >= t.min",
    );
    let (code, _, stderr) = run(&[
        "run",
        "--query",
        dir.path().join("q.asaql").to_str().expect("utf-8"),
        "--input",
        &format!("Orders={}", dir.path().join("orders.jsonl").display()),
        "--input",
        &format!("Payments={}", dir.path().join("payments.jsonl").display()),
        "--input",
        &format!("Shipments={}", dir.path().join("shipments.jsonl").display()),
        "--reference",
        &format!("Tiers={}", dir.path().join("tiers.jsonl").display()),
        "--output",
        &format!("Out={}", dir.path().join("out.jsonl").display()),
        "-w",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Order 2 ships 20 s after it was placed: outside the 10 s bound.
    // Order 1 (70) matches both tiers whose minimum it reaches.
    assert_eq!(
        lines(&dir.path().join("out.jsonl")),
        vec![
            serde_json::json!({"orderId": 1, "amount": 70, "shippedAt": "2024-01-01T00:00:15.0000000Z", "tier": "basic"}),
            serde_json::json!({"orderId": 1, "amount": 70, "shippedAt": "2024-01-01T00:00:15.0000000Z", "tier": "gold"}),
        ]
    );
}

#[test]
fn geospatial_functions_write_geojson_and_dead_letter_bad_geometries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = write(
        dir.path(),
        "in.jsonl",
        concat!(
            r#"{"id": 1, "lat": 0.0, "lon": 1.0, "fence": "POLYGON((0 -1, 2 -1, 2 1, 0 1, 0 -1))"}"#,
            "\n",
            r#"{"id": 2, "lat": 5.0, "lon": 5.0, "fence": {"type": "Polygon", "coordinates": [[[0, -1], [2, -1], [2, 1], [0, 1], [0, -1]]]}}"#,
            "\n",
            r#"{"id": 3, "lat": 0.0, "lon": 0.0, "fence": "POLYGON((0 0, 1 1"}"#,
            "\n",
        ),
    );
    let query = write(
        dir.path(),
        "q.asaql",
        "SELECT id, CreatePoint(lat, lon) AS position, \
         ST_DISTANCE(CreatePoint(lat, lon), 'POINT(0 0)') AS metres, \
         ST_WITHIN(CreatePoint(lat, lon), fence) AS inside \
         INTO Output FROM Input",
    );
    let out = dir.path().join("out.jsonl");
    let errors = dir.path().join("errors.jsonl");
    let (code, _, stderr) = run(&[
        "run",
        "--query",
        query.to_str().expect("utf-8"),
        "--input",
        &format!("Input={}", input.display()),
        "--output",
        &format!("Output={}", out.display()),
        "--errors",
        errors.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows = lines(&out);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |id: i64| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("row {id} in {rows:?}"))
    };
    assert_eq!(
        row(1)["position"],
        serde_json::json!({"type": "Point", "coordinates": [1.0, 0.0]})
    );
    // One degree of longitude on the equator: the WGS84 semi-major axis
    // times one degree in radians.
    let metres = row(1)["metres"].as_f64().expect("metres");
    assert!(
        (metres - 6_378_137.0 * 1f64.to_radians()).abs() < 1e-6,
        "{metres}"
    );
    assert_eq!(row(1)["inside"], 1);
    assert_eq!(row(2)["inside"], 0);
    let dead = lines(&errors);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["reason"], "TypeConversionError");
    assert!(
        dead[0]["message"]
            .as_str()
            .expect("message")
            .starts_with("ST_WITHIN: cannot read nvarchar(max) 'POLYGON((0 0, 1 1'"),
        "{}",
        dead[0]
    );
}

#[test]
fn an_ok_case_may_be_overridden_only_by_a_bounded_float_tolerance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let case = dir.path().join("near-case");
    let overrides = dir.path().join("overrides");
    std::fs::create_dir_all(&case).expect("mkdir");
    std::fs::create_dir_all(&overrides).expect("mkdir");
    write(
        &case,
        "query.asaql",
        "SELECT x * 1.0 AS x INTO Out FROM Events",
    );
    write(&case, "events.jsonl", "{\"x\": 1000000.0}\n");
    // 1.5e-9 relative away from what Eddy writes: past the default 1e-9.
    write(&case, "expected.Out.jsonl", "{\"x\": 1000000.0015}\n");
    write(
        &case,
        "case.json",
        r#"{"status": "ok", "inputs": {"Events": "events.jsonl"}, "outputs": {"Out": "expected.Out.jsonl"}}"#,
    );
    let test = || {
        run(&[
            "test",
            "--overrides",
            overrides.to_str().expect("utf-8"),
            case.to_str().expect("utf-8"),
        ])
    };
    let (code, stdout, _) = test();
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAIL near-case"), "{stdout}");

    let tolerance = |value: &str, extra: &str| {
        write(
            &overrides,
            "near-case.toml",
            &format!("rule = \"r\"\ndifference = \"d\"\nfloat_tolerance = {value}\n{extra}"),
        );
    };
    tolerance("2e-9", "");
    let (code, stdout, _) = test();
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("PASS near-case (override: r (d))"),
        "{stdout}"
    );

    tolerance("1e-5", "");
    let (code, stdout, _) = test();
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("float_tolerance must be in"), "{stdout}");

    tolerance(
        "2e-9",
        "[[extra_rows]]\noutput = \"Out\"\nrow = '{\"x\": 2}'\n",
    );
    let (code, stdout, _) = test();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("only doc_inconsistent and derived cases may be overridden"),
        "{stdout}"
    );
}

/// With several workers, each worker encodes its share of the rows, after
/// lower-casing names (compatibility level 1.0) and setting the output's
/// timestamp field; one and two workers write the same bytes.
#[test]
fn lower_cased_names_and_the_time_field_are_written_alike_by_any_number_of_workers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events: String = (0..40)
        .map(|i| {
            format!(
                "{{\"Make\": \"Make{}\", \"Time\": \"2023-01-01T00:00:{:02}Z\", \"Weight\": {}}}\n",
                i % 3,
                i,
                1000 + i
            )
        })
        .collect();
    write(dir.path(), "cars.jsonl", &events);
    write(
        dir.path(),
        "q.asaql",
        "SELECT Make, COUNT(*) AS Cars, SUM(Weight) AS Total INTO Out FROM Cars TIMESTAMP BY Time \
         GROUP BY Make, TumblingWindow(second, 10)",
    );
    let mut written = Vec::new();
    for workers in ["1", "2"] {
        let job = write(
            dir.path(),
            &format!("job-{workers}.toml"),
            &format!(
                "query = \"q.asaql\"\ncompatibility_level = \"1.0\"\n\
                 [[inputs]]\nalias = \"Cars\"\npath = \"cars.jsonl\"\n\
                 [[outputs]]\nalias = \"Out\"\npath = \"out-{workers}.jsonl\"\ntimestamp_field = \"WindowEnd\"\n"
            ),
        );
        let (code, _, stderr) = run(&["run", "--job", job.to_str().expect("utf-8"), "-w", workers]);
        assert_eq!(code, 0, "{stderr}");
        written.push(
            std::fs::read_to_string(dir.path().join(format!("out-{workers}.jsonl")))
                .expect("output"),
        );
    }
    assert_eq!(written[0], written[1]);
    let rows = lines(&dir.path().join("out-2.jsonl"));
    // Windows end at 0, 10, .., 40 s and hold their end (the event at 0 s
    // is alone in the first).
    assert_eq!(rows.len(), 13, "{rows:?}");
    assert_eq!(
        rows[1],
        serde_json::json!({"make": "Make0", "cars": 3, "total": 3018, "WindowEnd": "2023-01-01T00:00:10.0000000Z"})
    );
}

/// A projection of group keys, aggregates and `System.Timestamp()` is
/// written by the aggregate itself in final mode: a key selected twice and
/// a session window's partition key come out as the general projection
/// writes them (tests/window_property.rs checks both modes on random
/// streams).
#[test]
fn fused_projections_write_what_the_projection_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = write(
        dir.path(),
        "in.jsonl",
        concat!(
            r#"{"dev":"a","zone":"n","v":1,"ts":"2026-01-01T00:00:01Z"}"#,
            "\n",
            r#"{"dev":"a","zone":"n","v":2,"ts":"2026-01-01T00:00:02Z"}"#,
            "\n",
            r#"{"dev":"b","zone":"s","v":5,"ts":"2026-01-01T00:00:03Z"}"#,
            "\n",
            r#"{"dev":"a","zone":"n","v":4,"ts":"2026-01-01T00:00:30Z"}"#,
            "\n",
        ),
    );
    let run_query = |name: &str, query: &str| -> Vec<String> {
        let query = write(dir.path(), &format!("{name}.asaql"), query);
        let output = dir.path().join(format!("{name}.jsonl"));
        let (code, _, stderr) = run(&[
            "run",
            "--quiet",
            "--query",
            query.to_str().expect("utf-8"),
            "--input",
            &format!("Input={}", input.display()),
            "--output",
            &format!("Out={}", output.display()),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let mut rows: Vec<String> = lines(&output).iter().map(|v| v.to_string()).collect();
        rows.sort();
        rows
    };
    // The same rows through a projection that cannot be fused (`+ 0`).
    let fused = run_query(
        "fused",
        "SELECT dev AS a, dev AS b, SUM(v) AS s, System.Timestamp() AS t INTO Out \
         FROM Input TIMESTAMP BY ts GROUP BY dev, TumblingWindow(second, 10)",
    );
    let general = run_query(
        "general",
        "SELECT dev AS a, dev AS b, SUM(v) + 0 AS s, System.Timestamp() AS t INTO Out \
         FROM Input TIMESTAMP BY ts GROUP BY dev, TumblingWindow(second, 10)",
    );
    assert_eq!(fused, general);
    assert_eq!(fused.len(), 3, "{fused:?}");
    assert!(fused[0].contains(r#""a":"a","b":"a","s":3"#), "{fused:?}");
    let session = |name: &str, sum: &str| {
        run_query(
            name,
            &format!(
                "SELECT dev, zone, {sum} AS s, System.Timestamp() AS t INTO Out FROM Input \
                 TIMESTAMP BY ts GROUP BY dev, zone, SessionWindow(second, 5, 60) OVER (PARTITION BY zone)"
            ),
        )
    };
    let fused_session = session("fused-session", "COUNT(*)");
    assert_eq!(fused_session, session("general-session", "COUNT(*) + 0"));
    assert_eq!(fused_session.len(), 3, "{fused_session:?}");
}

/// A source read only by an aggregate over plain columns is read straight
/// into the aggregate's keys and arguments (see `eddy explain --stage
/// dataflow`). Every event must be judged as when the source gives rows:
/// bad lines, bad times, late events, case variants and repeated names,
/// values the aggregate rejects; on one worker and on three.
#[test]
fn direct_aggregate_inputs_judge_every_event_as_rows_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut input: Vec<u8> = Vec::new();
    for line in [
        r#"{"key":"a","v":1,"ts":"2026-01-01T00:00:01Z"}"#,
        r#"{"KEY":"b","v":2,"V":3,"ts":"2026-01-01T00:00:02Z","extra":{"x":[1,2]}}"#,
        r#"{"key":"a","v":"#,
        r#"[1, 2]"#,
        r#"{"key":"a","v":5,"ts":"yesterday"}"#,
        r#"{"key":"a","v":6}"#,
        r#"{"key":"a","v":7,"ts":5}"#,
        r#"{"v":8,"ts":"2026-01-01T00:00:04Z"}"#,
        r#"{"key":"a","v":1,"ts":"2026-01-01T00:00:05Z","big":1e999}"#,
        r#"{"key":"b","v":4,"ts":"2026-01-01T00:00:0\u0036Z"}"#,
        r#"{"key":"c","v":"x","ts":"2026-01-01T00:00:07Z"}"#,
        r#"{"key":"a","v":9,"Ts":"2026-01-01T00:00:12Z"}"#,
        r#"{"key":"a","v":10,"ts":"2026-01-01T00:00:03Z"}"#,
        r#"{"key":"a","v":11,"ts":"2025-12-31T00:00:00Z"}"#,
        "",
        r#"{"key":"b","v":12,"ts":"2026-01-01T00:00:25Z"}"#,
    ] {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"{\"key\":\"\xff\",\"v\":1,\"ts\":\"2026-01-01T00:00:26Z\"}\n");
    let input_path = dir.path().join("in.jsonl");
    std::fs::write(&input_path, &input).expect("write input");
    let aggregate = "SELECT key, COUNT(*) AS n, SUM(v) AS s, System.Timestamp() AS t INTO Out";
    let window = "GROUP BY key, TumblingWindow(second, 10)";
    let run_query = |name: &str, query: &str, workers: &str| {
        let query_path = write(dir.path(), &format!("{name}.asaql"), query);
        let job = write(
            dir.path(),
            &format!("{name}-w{workers}.toml"),
            &format!(
                "query = \"{}\"\nerrors = \"{name}-w{workers}-errors.jsonl\"\n\
                 [event_ordering]\nout_of_order_seconds = 2\nlate_arrival_seconds = 5\n\
                 [[inputs]]\nalias = \"Input\"\npath = \"{}\"\n\
                 [[outputs]]\nalias = \"Out\"\npath = \"{name}-w{workers}.jsonl\"\n",
                query_path.display(),
                input_path.display()
            ),
        );
        let (code, _, stderr) = run(&["run", "-w", workers, "--job", job.to_str().expect("utf-8")]);
        assert_eq!(code, 0, "{stderr}");
        let sorted = |path: PathBuf, drop_operator: bool| {
            let mut rows: Vec<String> = lines(&path)
                .into_iter()
                .map(|mut v| {
                    if let (true, Some(record)) = (drop_operator, v.as_object_mut()) {
                        // Operators are named by their place in the query;
                        // with several workers, an event's number is the
                        // order in which the workers happened to count it.
                        record.remove("operator");
                        if workers != "1" {
                            record.remove("position");
                        }
                    }
                    v.to_string()
                })
                .collect();
            rows.sort();
            rows
        };
        let summary: Vec<String> = stderr
            .lines()
            .filter(|l| !l.starts_with("elapsed") && !l.starts_with("peak memory"))
            .map(str::to_string)
            .collect();
        (
            sorted(dir.path().join(format!("{name}-w{workers}.jsonl")), false),
            sorted(
                dir.path().join(format!("{name}-w{workers}-errors.jsonl")),
                true,
            ),
            summary,
        )
    };
    let direct_query = format!("{aggregate} FROM Input TIMESTAMP BY ts {window}");
    let rows_query = format!("{aggregate} FROM Input TIMESTAMP BY ts WHERE 1 = 1 {window}");
    let (code, explained, stderr) = run(&["explain", "--stage", "dataflow", &{
        let path = write(dir.path(), "explain.asaql", &direct_query);
        path.to_str().expect("utf-8").to_string()
    }]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        explained.contains("read directly into its aggregate"),
        "{explained}"
    );
    for workers in ["1", "3"] {
        let direct = run_query("direct", &direct_query, workers);
        let rows = run_query("rows", &rows_query, workers);
        assert_eq!(direct, rows, "{workers} workers");
        let (out, errors, summary) = direct;
        // a at :10: 1, 10, and 11 (late, adjusted into the window); the
        // :05 event is bad for a number elsewhere in its line.
        assert_eq!(out.len(), 5, "{out:?}");
        for expected in [
            r#""key":"a","n":3,"s":22"#,
            r#""key":"a","n":1,"s":9"#,
            r#""key":"b","n":2,"s":7"#,
            r#""key":"b","n":1,"s":12"#,
            r#""key":null,"n":1,"s":8"#,
        ] {
            assert!(
                out.iter().any(|r| r.contains(expected)),
                "{expected}: {out:?}"
            );
        }
        assert_eq!(errors.len(), 8, "{errors:?}");
        assert!(
            errors.iter().any(
                |e| e.contains(r#""message":"SUM: cannot convert nvarchar(max) 'x' to float""#)
            ),
            "the aggregate is named once: {errors:?}"
        );
        assert!(
            summary
                .contains(&"input Input: 16 events, 7 bad, 2 out of order, 2 adjusted".to_string()),
            "{summary:?}"
        );
    }
}
