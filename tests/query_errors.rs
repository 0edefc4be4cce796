//! Query and job errors through `eddy check` and `eddy run`: every error
//! names the line and column, shows the source line with a caret under the
//! problem, says what was expected, and exits with status 1.

use std::path::Path;
use std::process::Command;

struct Checked {
    code: i32,
    stderr: String,
}

/// `eddy check` on `query` against a job with input `Input` and output `Output`.
fn check(query: &str) -> Checked {
    let dir = tempfile::tempdir().expect("temp dir");
    let query_path = dir.path().join("q.asaql");
    std::fs::write(&query_path, query).expect("write query");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{}\n").expect("write input");
    run_eddy(&[
        "check",
        "--query",
        query_path.to_str().expect("utf-8"),
        "--input",
        &format!("Input={}", input.display()),
        "--output",
        &format!("Output={}", dir.path().join("out.jsonl").display()),
    ])
}

fn run_eddy(args: &[&str]) -> Checked {
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("eddy runs");
    Checked {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts an error with `message` at `line:col` whose caret line sits under
/// column `col` of the printed source line.
fn assert_error(query: &str, message: &str, line: usize, col: usize) {
    let checked = check(query);
    assert_eq!(
        checked.code, 1,
        "exit status 1 for:\n{query}\n{}",
        checked.stderr
    );
    let err = &checked.stderr;
    assert!(
        err.contains(message),
        "expected message {message:?} in:\n{err}"
    );
    assert!(
        err.contains(&format!("q.asaql:{line}:{col}")),
        "expected q.asaql:{line}:{col} in:\n{err}"
    );
    let source_line = query.lines().nth(line - 1).expect("line exists");
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.ends_with(source_line.trim_end()) && l.contains('│'))
        .unwrap_or_else(|| panic!("source line {source_line:?} printed in:\n{err}"));
    let caret_line = lines.get(at + 1).expect("a caret line follows");
    let gutter = lines[at].find('│').expect("gutter") + '│'.len_utf8() + 1;
    let caret_col = caret_line.find('^').expect("a caret");
    let printed_col = lines[at][gutter..].chars().count();
    let _ = printed_col;
    assert_eq!(
        caret_line[gutter..caret_col].chars().count() + 1,
        col,
        "caret under column {col}:\n{err}"
    );
}

#[test]
fn misspelt_select() {
    assert_error(
        "SELEC * INTO Output FROM Input",
        "expected SELECT, WITH or CREATE TABLE",
        1,
        1,
    );
}

#[test]
fn misspelt_from() {
    assert_error("SELECT *\nINTO Output\nFORM Input", "expected", 3, 1);
}

#[test]
fn window_without_closing_parenthesis() {
    assert_error(
        "SELECT COUNT(*) INTO Output FROM Input\nGROUP BY TumblingWindow(second, 10",
        "expected ')' after window size",
        2,
        35,
    );
}

#[test]
fn call_without_closing_parenthesis() {
    assert_error(
        "SELECT UPPER(name INTO Output FROM Input",
        "expected",
        1,
        19,
    );
}

#[test]
fn unterminated_string() {
    assert_error(
        "SELECT 'abc AS x INTO Output FROM Input",
        "unterminated string",
        1,
        8,
    );
}

#[test]
fn unknown_time_unit() {
    assert_error(
        "SELECT COUNT(*) INTO Output FROM Input GROUP BY TumblingWindow(secs, 10)",
        "unknown time unit",
        1,
        64,
    );
}

#[test]
fn unknown_input_alias() {
    assert_error(
        "SELECT *\nINTO Output\nFROM Inptu",
        "unknown input or step \"Inptu\"",
        3,
        6,
    );
    assert!(check("SELECT * INTO Output FROM Inptu")
        .stderr
        .contains("Did you mean input \"Input\"?"));
}

#[test]
fn unknown_output_alias() {
    assert_error(
        "SELECT * INTO Ouptut FROM Input",
        "unknown output \"Ouptut\"",
        1,
        15,
    );
}

#[test]
fn unknown_function() {
    assert_error(
        "SELECT FOO(a) AS x INTO Output FROM Input",
        "unknown function \"FOO\"",
        1,
        8,
    );
}

#[test]
fn wrong_argument_count() {
    assert_error(
        "SELECT LEFT('abc') AS x INTO Output FROM Input",
        "LEFT takes 2 arguments, found 1",
        1,
        8,
    );
}

#[test]
fn duplicate_step() {
    assert_error(
        "WITH s AS (SELECT * FROM Input), S AS (SELECT * FROM Input)\nSELECT * INTO Output FROM s",
        "step \"S\" is defined twice",
        1,
        34,
    );
}

#[test]
fn into_inside_with() {
    assert_error(
        "WITH s AS (SELECT * INTO Output FROM Input)\nSELECT * INTO Output FROM s",
        "INTO is not allowed inside WITH",
        1,
        26,
    );
}

#[test]
fn timestamp_by_on_a_step() {
    assert_error(
        "WITH s AS (SELECT * FROM Input)\nSELECT * INTO Output FROM s TIMESTAMP BY t",
        "TIMESTAMP BY applies to inputs",
        2,
        29,
    );
}

#[test]
fn constructs_that_do_not_run_yet_say_so() {
    assert_error(
        "SELECT a,\n  LAG(a) OVER (LIMIT DURATION(hour, 1)) AS previous INTO Output FROM Input CROSS APPLY GetArrayElements(a) AS e",
        "analytic functions in a query with JOIN or APPLY is not supported yet",
        2,
        3,
    );
}

#[test]
fn an_undeclared_javascript_function_is_named() {
    assert_error(
        "SELECT udf.f(a) AS x INTO Output FROM Input",
        "the job defines no JavaScript function f for udf.f",
        1,
        8,
    );
}

#[test]
fn analytic_function_errors() {
    assert_error(
        "SELECT LAG(a) OVER (PARTITION BY b) AS p INTO Output FROM Input",
        "LAG needs OVER (... LIMIT DURATION(unit, n) ...)",
        1,
        15,
    );
    assert_error(
        "SELECT LAG(LAG(a) OVER (LIMIT DURATION(hour, 1)))\n  OVER (LIMIT DURATION(hour, 1)) AS p INTO Output FROM Input",
        "LAG is an analytic function and is only allowed in SELECT, WHERE, GROUP BY and HAVING, not inside another analytic function",
        1,
        12,
    );
    assert_error(
        "SELECT LAG(a, 0) OVER (LIMIT DURATION(hour, 1)) AS p INTO Output FROM Input",
        "the offset of LAG is an integer literal of at least 1",
        1,
        15,
    );
    assert_error(
        "SELECT COUNT(*) AS c, LAG(a) OVER (LIMIT DURATION(hour, 1)) AS p\nINTO Output FROM Input GROUP BY TumblingWindow(second, 5)",
        "an analytic function in a GROUP BY query must be a grouping key or inside an aggregate",
        1,
        23,
    );
}

#[test]
fn every_bind_error_is_reported_at_once() {
    let checked = check("SELECT FOO(a) AS x, LEFT('a') AS y INTO Nowhere FROM Nothing");
    assert_eq!(checked.code, 1);
    for message in [
        "unknown function",
        "LEFT takes",
        "unknown output",
        "unknown input",
    ] {
        assert!(
            checked.stderr.contains(message),
            "{message} in:\n{}",
            checked.stderr
        );
    }
    assert!(checked.stderr.contains("4 errors"), "{}", checked.stderr);
}

#[test]
fn a_valid_query_checks_clean() {
    let checked = check("SELECT UPPER(a) AS x INTO Output FROM Input WHERE b > 1");
    assert_eq!(checked.code, 0, "{}", checked.stderr);
}

#[test]
fn missing_files_are_one_line_errors() {
    let checked = run_eddy(&["run", "--job", "/nonexistent/job.toml"]);
    assert_eq!(checked.code, 1);
    assert_eq!(
        checked.stderr.trim().lines().count(),
        1,
        "{}",
        checked.stderr
    );
    assert!(checked.stderr.contains("/nonexistent/job.toml"));

    let dir = tempfile::tempdir().expect("temp dir");
    let q = dir.path().join("q.asaql");
    std::fs::write(&q, "SELECT * INTO Output FROM Input").expect("write");
    let checked = run_eddy(&[
        "run",
        "--query",
        q.to_str().expect("utf-8"),
        "--input",
        "Input=/nonexistent/in.jsonl",
        "--output",
        "Output=-",
    ]);
    assert_eq!(checked.code, 2);
    assert!(
        checked.stderr.contains("input \"Input\""),
        "{}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains("/nonexistent/in.jsonl"),
        "{}",
        checked.stderr
    );
}

#[test]
fn job_file_errors_point_into_the_job_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT * INTO Output FROM Input",
    )
    .expect("write");
    let job = dir.path().join("job.toml");
    std::fs::write(&job, "query = \"q.asaql\"\ncompatibility_level = \"2.0\"\n").expect("write");
    let checked = run_eddy(&["check", "--job", job.to_str().expect("utf-8")]);
    assert_eq!(checked.code, 1);
    assert!(
        checked
            .stderr
            .contains("unknown compatibility level \"2.0\""),
        "{}",
        checked.stderr
    );
    assert!(checked.stderr.contains("job.toml:2:"), "{}", checked.stderr);
    assert!(Path::new(&job).exists());
}

#[test]
fn match_recognize_errors_point_at_the_clause_part() {
    let head = "SELECT * INTO Output FROM Input TIMESTAMP BY ts\nMATCH_RECOGNIZE (LIMIT DURATION(second, 10)\n";
    assert_error(
        &format!("{head}MEASURES First(A.v) AS fa PATTERN (A B) DEFINE A AS A.s = 'a', B AS B.v > A.v) AS M"),
        "a DEFINE condition that reads another pattern variable is not supported yet",
        3,
        75,
    );
    assert_error(
        &format!("{head}MEASURES First(A.v + 1) AS fa PATTERN (A B) DEFINE A AS A.s = 'a') AS M"),
        "an expression as the argument of an aggregate method",
        3,
        16,
    );
    assert_error(
        &format!("{head}MEASURES First(A.v) AS fa PATTERN (A B) DEFINE C AS C.s = 'a') AS M"),
        "DEFINE names \"C\", which PATTERN does not use",
        3,
        48,
    );
    assert_error(
        &format!("{head}MEASURES First(A.v) AS fa PATTERN (A B) DEFINE A AS A.s = 'a', A AS A.v > 1) AS M"),
        "pattern variable \"A\" is defined twice",
        3,
        64,
    );
}
