//! JavaScript UDFs and UDAs end to end through the `eddy` binary: values of
//! every type crossing into JavaScript and back, UDAs over tumbling,
//! hopping, sliding, session and snapshot windows checked against a plain
//! Rust computation over the same events, and the three ways a function
//! fails (it throws, returns the wrong type, or runs past its time limit)
//! under both error policies.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::chrono_like;
use serde_json::{json, Value};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("output line is JSON"))
        .collect()
}

/// Runs `eddy run --job job.toml -w workers`; (exit code, stderr).
fn run_job(dir: &Path, workers: usize) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--job"])
        .arg(dir.join("job.toml"))
        .args(["-w", &workers.to_string()])
        .output()
        .expect("eddy runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A job reading `in.jsonl` as `Input` and writing `out.jsonl` as
/// `Output`, with the given error policy and function declarations.
fn job(dir: &Path, query: &str, on_error: &str, functions: &str) {
    write(dir, "q.asaql", query);
    write(
        dir,
        "job.toml",
        &format!(
            "query = \"q.asaql\"\non_error = \"{on_error}\"\nerrors = \"errors.jsonl\"\n\
             [[inputs]]\nalias = \"Input\"\npath = \"in.jsonl\"\n\
             [[outputs]]\nalias = \"Output\"\npath = \"out.jsonl\"\n{functions}"
        ),
    );
}

#[test]
fn a_udf_sees_and_returns_every_type() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    write(
        dir,
        "in.jsonl",
        concat!(
            r#"{"id": 1, "n": 41, "f": 1.25, "s": "abc", "t": "2024-03-01T10:20:30.456Z", "r": {"x": 7, "y": [1, 2]}, "a": [3, "q", null], "b": true}"#,
            "\n",
            r#"{"id": 2, "n": -9007199254740992, "f": -0.5, "s": "", "t": "1999-12-31T23:59:59Z", "r": {}, "a": [], "b": false}"#,
            "\n",
        ),
    );
    write(
        dir,
        "describe.js",
        "// Reports what JavaScript received, and builds values of every type.\n\
         function describe(n, f, s, t, r, a, b, missing) {\n\
           return {\n\
             types: [typeof n, typeof f, typeof s, t instanceof Date, typeof r, Array.isArray(a), typeof b, missing === null].join(','),\n\
             next: n + 1, half: f / 2, upper: s.toUpperCase() + '!', year: t.getUTCFullYear(),\n\
             ms: t.getUTCMilliseconds(), later: new Date(t.getTime() + 1000), rx: r.x === undefined ? null : r.x,\n\
             count: a.length, notB: !b, nested: [r, a]\n\
           };\n\
         }\n",
    );
    write(dir, "twice.js", "function twice(x) { return x * 2; }");
    job(
        dir,
        "SELECT id, udf.Describe(n, f, s, CAST(t AS datetime), r, a, b, nothing) AS d, \
         udf.twice(n) AS twiceN, udf.TWICE(f) AS twiceF, udf.AsText(n) AS text \
         INTO Output FROM Input",
        "stop",
        "[[functions]]\nname = \"Describe\"\nfile = \"describe.js\"\nreturns = \"record\"\n\
         [[functions]]\nname = \"Twice\"\nfile = \"twice.js\"\n\
         [[functions]]\nname = \"AsText\"\nfile = \"twice.js\"\nreturns = \"nvarchar(max)\"\n",
    );
    let (code, stderr) = run_job(dir, 1);
    assert_eq!(code, 0, "{stderr}");
    let mut rows = lines(&dir.join("out.jsonl"));
    rows.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0],
        json!({
            "id": 1,
            "d": {
                "types": "number,number,string,true,object,true,boolean,true",
                "next": 42, "half": 0.625, "upper": "ABC!", "year": 2024, "ms": 456,
                "later": "2024-03-01T10:20:31.4560000Z", "rx": 7, "count": 3, "notB": false,
                "nested": [{"x": 7, "y": [1, 2]}, [3, "q", null]]
            },
            "twiceN": 82, "twiceF": 2.5, "text": "82"
        })
    );
    // -2^53 is exact in a Number; a whole float comes back as bigint.
    assert_eq!(rows[1]["d"]["next"], json!(-9007199254740991_i64));
    assert_eq!(rows[1]["d"]["half"], json!(-0.25));
    assert_eq!(rows[1]["d"]["rx"], Value::Null);
    assert_eq!(rows[1]["d"]["notB"], json!(true));
    assert_eq!(rows[1]["d"]["later"], json!("2000-01-01T00:00:00.0000000Z"));
    assert_eq!(rows[1]["twiceF"], json!(-1));
}

/// 90 events over three keys and two minutes, none on a 5-second boundary,
/// as `(key, seconds, value)`.
fn events() -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    let mut seed = 17_u64;
    for i in 0..90_i64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = ["a", "b", "c"][(seed >> 33) as usize % 3].to_string();
        let second = i * 120 / 90;
        let second = if second % 5 == 0 { second + 1 } else { second };
        let value = ((seed >> 40) % 100) as i64 - 20;
        out.push((key, second, value));
    }
    out
}

/// 2023-11-14T22:13:00Z, a whole minute, so seconds of the minute are `s % 60`.
const BASE: i64 = 1_699_999_980;

/// The UDA: a sum of `value * (seconds of the timestamp)`, which depends on
/// both arguments of accumulate. Written in ASA's AccumulateDeaccumulate
/// form; Eddy recomputes windows and never calls deaccumulate.
const WEIGHTED: &str = "function main() {\n\
   this.init = function () { this.state = 0; this.rows = 0; };\n\
   this.accumulate = function (value, timestamp) {\n\
     this.state += value * timestamp.getUTCSeconds(); this.rows += 1;\n\
   };\n\
   this.deaccumulate = function (value, timestamp) {\n\
     this.state -= value * timestamp.getUTCSeconds(); this.rows -= 1;\n\
   };\n\
   this.deaccumulateState = function (other) { this.state -= other.state; this.rows -= other.rows; };\n\
   this.computeResult = function () { return this.state; };\n\
 }\n";

fn weighted(values: &[(i64, i64)]) -> i64 {
    values.iter().map(|(t, v)| v * (t.rem_euclid(60))).sum()
}

fn uda_job(dir: &Path, window: &str) -> Vec<Value> {
    let base = BASE;
    let input: String = events()
        .iter()
        .map(|(k, s, v)| format!("{}\n", json!({"k": k, "t": chrono_like(base + s), "v": v})))
        .collect();
    write(dir, "in.jsonl", &input);
    write(dir, "weighted.js", WEIGHTED);
    write(dir, "sum.js", "function main() { this.init = function () { this.s = 0; }; this.accumulate = function (v) { this.s += v; }; this.computeResult = function () { return this.s; }; }");
    job(
        dir,
        &format!(
            "SELECT k, System.Timestamp() AS windowEnd, uda.Weighted(v) AS w, uda.JsSum(v) AS jsSum, \
             SUM(v) AS total, COUNT(*) AS n INTO Output FROM Input TIMESTAMP BY t GROUP BY k, {window}"
        ),
        "stop",
        "[[functions]]\nname = \"Weighted\"\nkind = \"uda\"\nfile = \"weighted.js\"\nreturns = \"bigint\"\n\
         [[functions]]\nname = \"JsSum\"\nkind = \"uda\"\nfile = \"sum.js\"\n",
    );
    let mut outputs = Vec::new();
    for workers in [1, 4] {
        let (code, stderr) = run_job(dir, workers);
        assert_eq!(code, 0, "{stderr}");
        let mut rows = lines(&dir.join("out.jsonl"));
        rows.sort_by_key(|r| {
            (
                r["windowEnd"].as_str().map(String::from),
                r["k"].as_str().map(String::from),
            )
        });
        outputs.push(rows);
    }
    assert_eq!(outputs[0], outputs[1], "-w 1 and -w 4 agree");
    outputs.remove(0)
}

/// The expected rows of a fixed-grid window of `size` seconds every `hop`
/// seconds: `(key, end) -> (weighted, sum, count)`.
fn grid_reference(size: i64, hop: i64) -> BTreeMap<(String, String), (i64, i64, i64)> {
    let base = BASE;
    let mut windows: BTreeMap<(String, i64), Vec<(i64, i64)>> = BTreeMap::new();
    for (k, s, v) in events() {
        // Windows (end - size, end] on the hop grid that hold s.
        let mut end = s + (hop - s.rem_euclid(hop)) % hop;
        while end < s + size {
            windows
                .entry((k.clone(), end))
                .or_default()
                .push((base + s, v));
            end += hop;
        }
    }
    windows
        .into_iter()
        .map(|((k, end), values)| {
            let sum = values.iter().map(|(_, v)| v).sum();
            (
                (k, chrono_like(base + end)),
                (weighted(&values), sum, values.len() as i64),
            )
        })
        .collect()
}

fn check_against(rows: &[Value], expected: &BTreeMap<(String, String), (i64, i64, i64)>) {
    let actual: BTreeMap<(String, String), (i64, i64, i64)> = rows
        .iter()
        .map(|r| {
            let end = r["windowEnd"].as_str().expect("windowEnd");
            // Eddy writes 7 fractional digits; the reference whole seconds.
            let end = format!("{}Z", &end[..19]);
            assert_eq!(r["jsSum"], r["total"], "the JavaScript sum equals SUM: {r}");
            (
                (r["k"].as_str().expect("k").to_string(), end),
                (
                    r["w"].as_i64().expect("w"),
                    r["total"].as_i64().expect("total"),
                    r["n"].as_i64().expect("n"),
                ),
            )
        })
        .collect();
    assert_eq!(&actual, expected);
}

#[test]
fn a_uda_over_a_tumbling_window_matches_a_plain_computation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = uda_job(dir.path(), "TumblingWindow(second, 10)");
    assert_eq!(rows.len(), grid_reference(10, 10).len());
    check_against(&rows, &grid_reference(10, 10));
}

#[test]
fn a_uda_over_a_hopping_window_matches_a_plain_computation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = uda_job(dir.path(), "HoppingWindow(second, 20, 5)");
    check_against(&rows, &grid_reference(20, 5));
}

#[test]
fn a_uda_over_sliding_session_and_snapshot_windows_agrees_with_sum() {
    // The JavaScript sum must equal SUM over whatever rows each window
    // holds, and the weighted UDA must match the count of rows it saw.
    for window in [
        "SlidingWindow(second, 10)",
        "SessionWindow(second, 3, 20)",
        "System.Timestamp()",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let rows = uda_job(dir.path(), window);
        assert!(!rows.is_empty(), "{window}");
        for r in &rows {
            assert_eq!(r["jsSum"], r["total"], "{window}: {r}");
        }
    }
    // A snapshot window holds the events of one instant: check exactly.
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = uda_job(dir.path(), "System.Timestamp()");
    check_against(&rows, &grid_reference(1, 1));
}

/// A UDF that fails on some rows: throws for x = 2, returns a string that
/// is not a bigint for x = 4, loops forever for x = 6; doubles otherwise.
fn failing_job(dir: &Path, on_error: &str) {
    let input: String = (1..=8).map(|x| format!("{{\"x\": {x}}}\n")).collect();
    write(dir, "in.jsonl", &input);
    write(
        dir,
        "risky.js",
        "function risky(x) {\n\
           if (x === 2) throw new RangeError('two is not allowed');\n\
           if (x === 4) return 'four';\n\
           if (x === 6) { while (true) {} }\n\
           return x * 2;\n\
         }\n",
    );
    job(
        dir,
        "SELECT x, udf.Risky(x) AS y INTO Output FROM Input",
        on_error,
        "[[functions]]\nname = \"Risky\"\nfile = \"risky.js\"\nreturns = \"bigint\"\ntime_limit_ms = 100\n",
    );
}

#[test]
fn failing_udf_rows_are_dead_lettered_under_skip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    failing_job(dir, "skip");
    let (code, stderr) = run_job(dir, 2);
    assert_eq!(code, 0, "{stderr}");
    let mut out: Vec<(i64, i64)> = lines(&dir.join("out.jsonl"))
        .iter()
        .map(|r| (r["x"].as_i64().expect("x"), r["y"].as_i64().expect("y")))
        .collect();
    out.sort();
    assert_eq!(out, vec![(1, 2), (3, 6), (5, 10), (7, 14), (8, 16)]);
    let mut dead: Vec<(i64, String, String)> = lines(&dir.join("errors.jsonl"))
        .iter()
        .map(|d| {
            (
                d["event"]["x"].as_i64().expect("event x"),
                d["reason"].as_str().expect("reason").to_string(),
                d["message"].as_str().expect("message").to_string(),
            )
        })
        .collect();
    dead.sort();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(dead[0].0, 2);
    assert_eq!(dead[0].1, "JavaScriptError");
    assert!(
        dead[0]
            .2
            .contains("udf.Risky: RangeError: two is not allowed"),
        "{dead:?}"
    );
    assert_eq!(dead[1].0, 4);
    assert_eq!(dead[1].1, "TypeConversionError");
    assert!(dead[1].2.contains("udf.Risky returned"), "{dead:?}");
    assert!(dead[1].2.contains("four"), "{dead:?}");
    assert!(dead[1].2.contains("bigint"), "{dead:?}");
    assert_eq!(dead[2].0, 6);
    assert_eq!(dead[2].1, "JavaScriptError");
    assert!(
        dead[2]
            .2
            .contains("udf.Risky: exceeded its time limit of 100 ms"),
        "{dead:?}"
    );
}

#[test]
fn each_kind_of_udf_failure_stops_the_job_under_stop() {
    for (x, reason, message) in [
        (2, "JavaScriptError", "RangeError: two is not allowed"),
        (4, "TypeConversionError", "bigint"),
        (6, "JavaScriptError", "exceeded its time limit of 100 ms"),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        failing_job(dir, "stop");
        // Only the one failing row, among good ones.
        write(
            dir,
            "in.jsonl",
            &format!("{{\"x\": 1}}\n{{\"x\": {x}}}\n{{\"x\": 3}}\n"),
        );
        let (code, stderr) = run_job(dir, 1);
        assert_eq!(code, 2, "x = {x}: {stderr}");
        assert!(stderr.contains("stopped on a bad event"), "{stderr}");
        assert!(stderr.contains(reason), "x = {x}: {stderr}");
        assert!(stderr.contains("udf.Risky"), "x = {x}: {stderr}");
        assert!(stderr.contains(message), "x = {x}: {stderr}");
    }
}

#[test]
fn a_throwing_uda_fails_its_window_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let base = BASE;
    let input: String = [(1, 5), (2, -1), (12, 3), (13, 4)]
        .iter()
        .map(|(s, v)| format!("{}\n", json!({"t": chrono_like(base + s), "v": v})))
        .collect();
    write(dir, "in.jsonl", &input);
    write(
        dir,
        "positive.js",
        "function main() {\n\
           this.init = function () { this.s = 0; };\n\
           this.accumulate = function (v) { if (v < 0) throw new Error('negative ' + v); this.s += v; };\n\
           this.computeResult = function () { return this.s; };\n\
         }\n",
    );
    job(
        dir,
        "SELECT System.Timestamp() AS windowEnd, uda.PositiveSum(v) AS s INTO Output \
         FROM Input TIMESTAMP BY t GROUP BY TumblingWindow(second, 10)",
        "skip",
        "[[functions]]\nname = \"PositiveSum\"\nkind = \"uda\"\nfile = \"positive.js\"\n",
    );
    let (code, stderr) = run_job(dir, 1);
    assert_eq!(code, 0, "{stderr}");
    let rows = lines(&dir.join("out.jsonl"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["s"], json!(7));
    let dead = lines(&dir.join("errors.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    let message = dead[0]["message"].as_str().expect("message");
    assert!(
        message.contains("uda.PositiveSum: accumulate: Error: negative -1"),
        "{message}"
    );
    assert_eq!(dead[0]["reason"], "JavaScriptError");
}

#[test]
fn bad_function_declarations_are_reported_at_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    write(dir, "in.jsonl", "{\"x\": 1}\n");
    write(dir, "broken.js", "function broken(x) { return x +; }");
    job(
        dir,
        "SELECT udf.Broken(x) AS y INTO Output FROM Input",
        "stop",
        "[[functions]]\nname = \"Broken\"\nfile = \"broken.js\"\n",
    );
    let (code, stderr) = run_job(dir, 1);
    assert_ne!(code, 0);
    assert!(stderr.contains("SyntaxError"), "{stderr}");
    // An undeclared function is a query error at the call.
    write(dir, "ok.js", "function ok(x) { return x; }");
    job(
        dir,
        "SELECT udf.Missing(x) AS y INTO Output FROM Input",
        "stop",
        "[[functions]]\nname = \"Ok\"\nfile = \"ok.js\"\n",
    );
    let (code, stderr) = run_job(dir, 1);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no JavaScript function Missing"),
        "{stderr}"
    );
}
