//! Local test runs over case folders: `eddy test DIR...`.
//!
//! A case folder holds `query.asaql`, input files, expected output files and
//! a `case.json` mapping input aliases to files and outputs to expected
//! files (the layout of the shared ASA conformance cases; that layout is the
//! contract). Each case runs as a job over its files and its outputs are
//! compared with the expectations:
//!
//! - absent fields and `null` are alike;
//! - numbers compare numerically (floats with a relative tolerance);
//! - strings that are both ISO 8601 datetimes compare as instants;
//! - rows compare as a multiset, and, unless `order_sensitive` is false, the
//!   expected order must agree with the event-time order of the rows Eddy
//!   wrote (rows of one time may come in any order);
//! - `expected_is_prefix` cases need only contain the expected rows;
//! - an expected column `__unnamed_<k>` (the case authors' placeholder for
//!   the undocumented name of an unaliased expression) matches the `k`-th
//!   column whose name the expected row does not use.
//!
//! A case whose documentation contradicts itself (`doc_inconsistent`), or
//! whose data the case author had to interpret (`derived`), may pass
//! through an override file (`<case>.toml` in the overrides
//! folder) that states the documented rule Eddy follows and the exact
//! difference: textual fixes to the query, and rows Eddy adds or omits.
//! Any case's override may instead only widen the relative float tolerance
//! (`float_tolerance`, at most [`MAX_FLOAT_TOLERANCE`]) where Eddy computes
//! a value by a documented method that differs from ASA's in the last
//! digits (e.g. the exact geodesic for `ST_DISTANCE`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;

use crate::bind::bind;
use crate::config::{
    CompatLevel, Endpoint, ErrorPolicy, EventOrdering, Format, InputConfig, InputType, JobConfig,
    OrderingAction, OutputConfig,
};
use crate::runtime::{run, RunOptions};
use crate::syntax::parse;

/// The column the harness asks the runtime to fill with each row's time.
const TIME_FIELD: &str = "__eddy_time";

/// How to run cases.
#[derive(Clone, Debug, Default)]
pub struct TestOptions {
    /// Worker threads per case.
    pub workers: usize,
    /// Folder of `<case>.toml` override files.
    pub overrides: Option<PathBuf>,
}

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The case folder's name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Pass or fail, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Outputs match.
    Pass,
    /// Outputs match the expectation as amended by an override; the rule.
    PassWithOverride(String),
    /// Outputs differ, or the case could not run; a readable report.
    Fail(String),
}

impl Outcome {
    /// True for either kind of pass.
    pub fn passed(&self) -> bool {
        !matches!(self, Outcome::Fail(_))
    }
}

#[derive(Debug, Deserialize)]
struct CaseFile {
    #[serde(default)]
    status: String,
    #[serde(default)]
    inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    outputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    reference_inputs: Vec<String>,
    #[serde(default)]
    compat_level: Option<String>,
    #[serde(default)]
    alt_expected: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    event_ordering: Option<CaseOrdering>,
    #[serde(default)]
    arrival_time_field: Option<String>,
    #[serde(default)]
    order_sensitive: Option<bool>,
    #[serde(default)]
    expected_is_prefix: Option<bool>,
    #[serde(default)]
    order_guarantee: Option<String>,
    /// JavaScript functions: `{Name: {type, file, output_type}}`.
    #[serde(default)]
    udfs: std::collections::BTreeMap<String, CaseFunction>,
}

#[derive(Debug, Deserialize)]
struct CaseFunction {
    #[serde(default, rename = "type")]
    language: Option<String>,
    file: String,
    #[serde(default)]
    output_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CaseOrdering {
    late_arrival_tolerance_seconds: Option<i64>,
    out_of_order_tolerance_seconds: Option<i64>,
    out_of_order_action: Option<String>,
}

/// An override for a `doc_inconsistent` or `derived` case, or a float
/// tolerance for any case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    /// The documented rule Eddy follows.
    rule: String,
    /// How the printed output differs from what Eddy writes.
    difference: String,
    #[serde(default)]
    query_fix: Vec<QueryFix>,
    #[serde(default)]
    extra_rows: Vec<RowChange>,
    #[serde(default)]
    missing_rows: Vec<RowChange>,
    /// A relative float tolerance for this case instead of the default.
    #[serde(default)]
    float_tolerance: Option<f64>,
    /// Outputs the query writes but the documentation never tabulates:
    /// the job declares them (so the query binds) and their rows are not
    /// compared.
    #[serde(default)]
    unchecked_outputs: Vec<String>,
}

impl Override {
    /// True when the override changes nothing but the float tolerance.
    fn only_tolerance(&self) -> bool {
        self.query_fix.is_empty()
            && self.extra_rows.is_empty()
            && self.missing_rows.is_empty()
            && self.unchecked_outputs.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryFix {
    find: String,
    replace: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RowChange {
    output: String,
    row: String,
}

static SCRATCH_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs one case folder.
pub fn run_case(dir: &Path, options: &TestOptions) -> CaseResult {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let outcome = match try_case(dir, &name, options) {
        Ok(outcome) => outcome,
        Err(reason) => Outcome::Fail(reason),
    };
    CaseResult { name, outcome }
}

fn try_case(dir: &Path, name: &str, options: &TestOptions) -> Result<Outcome, String> {
    let case_text = std::fs::read_to_string(dir.join("case.json"))
        .map_err(|e| format!("cannot read case.json: {e}"))?;
    let case: CaseFile =
        serde_json::from_str(&case_text).map_err(|e| format!("invalid case.json: {e}"))?;
    let mut query = std::fs::read_to_string(dir.join("query.asaql"))
        .map_err(|e| format!("cannot read query.asaql: {e}"))?;

    let override_file = options
        .overrides
        .as_ref()
        .map(|o| o.join(format!("{name}.toml")))
        .filter(|p| p.exists());
    let amendment: Option<Override> = match &override_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let parsed: Override = toml::from_str(&text)
                .map_err(|e| format!("invalid override {}: {e}", path.display()))?;
            // A case whose own notes flag the documentation as ambiguous
            // may take a query fix too (with the rule stated).
            let flagged_ambiguous = std::fs::read_to_string(dir.join("source.txt"))
                .is_ok_and(|notes| notes.contains("AMBIGUOUS:"));
            let may_change_anything =
                matches!(case.status.as_str(), "doc_inconsistent" | "derived");
            let fixes_query_only = flagged_ambiguous
                && parsed.extra_rows.is_empty()
                && parsed.missing_rows.is_empty()
                && parsed.unchecked_outputs.is_empty();
            if !(may_change_anything || parsed.only_tolerance() || fixes_query_only) {
                return Err(format!(
                    "{} overrides a case whose status is \"{}\"; only doc_inconsistent and derived cases may be overridden beyond float_tolerance (or a query fix where source.txt flags the case AMBIGUOUS)",
                    path.display(),
                    case.status
                ));
            }
            if let Some(t) = parsed.float_tolerance {
                if !(t > 0.0 && t <= MAX_FLOAT_TOLERANCE) {
                    return Err(format!(
                        "{}: float_tolerance must be in (0, {MAX_FLOAT_TOLERANCE:e}], got {t}",
                        path.display()
                    ));
                }
            }
            if parsed.rule.trim().is_empty() || parsed.difference.trim().is_empty() {
                return Err(format!(
                    "{} must state the rule and the difference",
                    path.display()
                ));
            }
            for fix in &parsed.query_fix {
                if !query.contains(&fix.find) {
                    return Err(format!(
                        "override query_fix text not found in the query: {:?}",
                        fix.find
                    ));
                }
                query = query.replacen(&fix.find, &fix.replace, 1);
            }
            Some(parsed)
        }
        None => None,
    };

    let base_level = case
        .compat_level
        .clone()
        .unwrap_or_else(|| "1.2".to_string());
    let mut runs: Vec<(String, Vec<(String, PathBuf)>)> = vec![(
        base_level,
        case.outputs
            .iter()
            .filter_map(|(alias, file)| Some((alias.clone(), dir.join(file.as_str()?))))
            .collect(),
    )];
    for (level, file) in &case.alt_expected {
        let Some(file) = file.as_str() else { continue };
        // An alternative file is for the case's single output.
        if let Some((alias, _)) = case.outputs.iter().next() {
            runs.push((level.clone(), vec![(alias.clone(), dir.join(file))]));
        }
    }

    let mut report = String::new();
    for (level, expectations) in &runs {
        // Levels may carry a note: "1.0 (implied by lower-cased keys)".
        let compat = CompatLevel::parse(level.split_whitespace().next().unwrap_or_default())
            .ok_or_else(|| format!("unknown compat level \"{level}\" in case.json"))?;
        if let Some(problem) = run_at_level(
            dir,
            &case,
            &query,
            compat,
            expectations,
            amendment.as_ref(),
            options,
        )? {
            let _ = writeln!(report, "at compatibility level {level}:\n{problem}");
        }
    }
    if !report.is_empty() {
        return Ok(Outcome::Fail(report));
    }
    Ok(match amendment {
        Some(o) => {
            Outcome::PassWithOverride(format!("{} ({})", o.rule.trim(), o.difference.trim()))
        }
        None => Outcome::Pass,
    })
}

/// Runs the case once; `Ok(Some(report))` when outputs differ.
fn run_at_level(
    dir: &Path,
    case: &CaseFile,
    query: &str,
    compat: CompatLevel,
    expectations: &[(String, PathBuf)],
    amendment: Option<&Override>,
    options: &TestOptions,
) -> Result<Option<String>, String> {
    let scratch = std::env::temp_dir().join(format!(
        "eddy-test-{}-{}",
        std::process::id(),
        SCRATCH_COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let result = run_in(
        dir,
        case,
        query,
        compat,
        expectations,
        amendment,
        options,
        &scratch,
    );
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    dir: &Path,
    case: &CaseFile,
    query: &str,
    compat: CompatLevel,
    expectations: &[(String, PathBuf)],
    amendment: Option<&Override>,
    options: &TestOptions,
    scratch: &Path,
) -> Result<Option<String>, String> {
    let mut ordering = EventOrdering::default();
    if let Some(eo) = &case.event_ordering {
        if let Some(late) = eo.late_arrival_tolerance_seconds {
            ordering.late_arrival_seconds = (late >= 0).then_some(late);
        }
        if let Some(ooo) = eo.out_of_order_tolerance_seconds {
            ordering.out_of_order_seconds = ooo.max(0);
        }
        if eo.out_of_order_action.as_deref() == Some("drop") {
            ordering.out_of_order_action = OrderingAction::Drop;
        }
    }
    let inputs = case
        .inputs
        .iter()
        .map(|(alias, file)| InputConfig {
            alias: alias.clone(),
            endpoint: Endpoint::File(dir.join(file.as_str().unwrap_or_default())),
            // An ASA blob input is one partition: its events share one watermark.
            split: false,
            format: Format::Json,
            input_type: if case
                .reference_inputs
                .iter()
                .any(|r| r.eq_ignore_ascii_case(alias))
            {
                InputType::Reference
            } else {
                InputType::Stream
            },
            arrival_time_field: case.arrival_time_field.clone(),
            generator: None,
            refresh_ms: None,
            date_time_formats: crate::config::default_date_time_formats(),
            kafka: None,
        })
        .collect();
    let unchecked = amendment
        .map(|o| o.unchecked_outputs.as_slice())
        .unwrap_or_default();
    let outputs = case
        .outputs
        .keys()
        .chain(unchecked)
        .map(|alias| OutputConfig {
            alias: alias.clone(),
            endpoint: Endpoint::File(scratch.join(format!("{alias}.jsonl"))),
            timestamp_field: Some(TIME_FIELD.to_string()),
            emit: crate::plan::EmitMode::Final,
            kafka: None,
        })
        .collect();
    let mut functions = Vec::new();
    for (name, udf) in &case.udfs {
        if !udf
            .language
            .as_deref()
            .is_none_or(|l| l.eq_ignore_ascii_case("javascript"))
        {
            return Err(format!(
                "udf {name}: only JavaScript functions are supported"
            ));
        }
        let returns = crate::config::parse_return_type(udf.output_type.as_deref())
            .map_err(|e| format!("udf {name}: {e}"))?;
        let function = crate::config::load_function(
            name.clone(),
            crate::expr::javascript::JsKind::Udf,
            dir.join(&udf.file),
            returns,
            crate::expr::javascript::DEFAULT_TIME_LIMIT,
        )?;
        functions.push(std::sync::Arc::new(function));
    }
    let job = JobConfig {
        functions,
        query_path: Some(dir.join("query.asaql")),
        query: query.to_string(),
        compat,
        on_error: ErrorPolicy::Skip,
        errors: Endpoint::File(scratch.join("errors.jsonl")),
        errors_kafka: None,
        ordering,
        inputs,
        outputs,
        workers: options.workers.max(1),
    };
    let script = parse(query).map_err(|d| {
        format!(
            "query does not parse:\n{}",
            crate::cli::report::render("query.asaql", query, &d.0)
        )
    })?;
    let plan = bind(&script, &job).map_err(|d| {
        format!(
            "query does not bind:\n{}",
            crate::cli::report::render("query.asaql", query, &d.0)
        )
    })?;
    run(
        &job,
        plan,
        &RunOptions {
            workers: job.workers,
            progress: false,
            cluster: None,
        },
    )
    .map_err(|e| format!("run failed: {e}"))?;

    let mut problems = String::new();
    for (alias, expected_path) in expectations {
        let expected_text = std::fs::read_to_string(expected_path)
            .map_err(|e| format!("cannot read {}: {e}", expected_path.display()))?;
        let mut expected =
            parse_rows(&expected_text).map_err(|e| format!("{}: {e}", expected_path.display()))?;
        if let Some(o) = amendment {
            for change in o
                .missing_rows
                .iter()
                .filter(|c| c.output.eq_ignore_ascii_case(alias))
            {
                let row = parse_row(&change.row)?;
                let position = expected
                    .iter()
                    .position(|r| rows_equal(r, &row, DEFAULT_TOLERANCE))
                    .ok_or_else(|| {
                        format!(
                            "override missing_rows names a row not in the expected output: {}",
                            change.row
                        )
                    })?;
                expected.remove(position);
            }
            for change in o
                .extra_rows
                .iter()
                .filter(|c| c.output.eq_ignore_ascii_case(alias))
            {
                expected.push(parse_row(&change.row)?);
            }
        }
        let actual_path = scratch.join(format!("{alias}.jsonl"));
        let actual_text = std::fs::read_to_string(&actual_path).unwrap_or_default();
        let actual = parse_rows(&actual_text).map_err(|e| format!("output {alias}: {e}"))?;
        // Order is checked where the documentation printed an output listing
        // (status ok, or doc_inconsistent); a derived or partial case's row
        // order was filled in by hand (e.g. a per-event table).
        let printed = matches!(case.status.as_str(), "ok" | "doc_inconsistent");
        let comparison = Comparison {
            order_sensitive: case.order_sensitive.unwrap_or(printed),
            order_per: case.order_guarantee.as_deref().and_then(order_key),
            prefix: case.expected_is_prefix.unwrap_or(false),
            tolerance: amendment
                .and_then(|o| o.float_tolerance)
                .unwrap_or(DEFAULT_TOLERANCE),
        };
        if let Some(diff) = comparison.compare(&expected, actual) {
            let _ = writeln!(problems, "  output {alias}:\n{diff}");
        }
    }
    Ok((!problems.is_empty()).then_some(problems))
}

const DEFAULT_TOLERANCE: f64 = 1e-9;

/// The widest relative tolerance an override may set: a few digits of
/// numeric method, never a different answer.
const MAX_FLOAT_TOLERANCE: f64 = 1e-6;

type JsonRow = serde_json::Map<String, serde_json::Value>;

fn parse_rows(text: &str) -> Result<Vec<JsonRow>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_row)
        .collect()
}

fn parse_row(line: &str) -> Result<JsonRow, String> {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("expected a JSON object: {line}")),
        Err(e) => Err(format!("invalid JSON ({e}): {line}")),
    }
}

/// `"per TollId only"` -> `TollId`: order is defined within each value of a field.
fn order_key(guarantee: &str) -> Option<String> {
    let rest = guarantee.trim().strip_prefix("per ")?;
    let field = rest.strip_suffix(" only").unwrap_or(rest).trim();
    (!field.is_empty()).then(|| field.to_string())
}

struct Comparison {
    order_sensitive: bool,
    /// Check order only among rows with the same value of this field.
    order_per: Option<String>,
    prefix: bool,
    tolerance: f64,
}

impl Comparison {
    /// `None` when `actual` satisfies `expected`; otherwise a readable diff.
    fn compare(&self, expected: &[JsonRow], actual: Vec<JsonRow>) -> Option<String> {
        let actual: Vec<(Option<String>, JsonRow)> = actual
            .into_iter()
            .map(|mut row| {
                let time = row
                    .remove(TIME_FIELD)
                    .and_then(|t| t.as_str().map(str::to_string));
                (time, row)
            })
            .collect();
        let mut used = vec![false; actual.len()];
        let mut matched_times: Vec<(String, Option<String>)> = Vec::new();
        let mut unmatched_expected = Vec::new();
        for row in expected {
            let found = actual
                .iter()
                .enumerate()
                .position(|(i, (_, a))| !used[i] && rows_equal(row, a, self.tolerance));
            match found {
                Some(i) => {
                    used[i] = true;
                    let group = self
                        .order_per
                        .as_ref()
                        .and_then(|f| row.get(f))
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    matched_times.push((group, actual[i].0.clone()));
                }
                None => unmatched_expected.push(row),
            }
        }
        let unmatched_actual: Vec<&JsonRow> = actual
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|((_, a), _)| a)
            .collect();
        let mut diff = String::new();
        for row in &unmatched_expected {
            let _ = writeln!(
                diff,
                "    - expected {}",
                serde_json::Value::Object((*row).clone())
            );
        }
        if !self.prefix {
            for row in &unmatched_actual {
                let _ = writeln!(
                    diff,
                    "    + actual   {}",
                    serde_json::Value::Object((*row).clone())
                );
            }
        }
        if diff.is_empty() && self.order_sensitive {
            let mut groups: Vec<&str> = matched_times.iter().map(|(g, _)| g.as_str()).collect();
            groups.sort();
            groups.dedup();
            for group in groups {
                let times: Vec<&str> = matched_times
                    .iter()
                    .filter(|(g, _)| g == group)
                    .filter_map(|(_, t)| t.as_deref())
                    .collect();
                if let Some(w) = times.windows(2).find(|w| w[0] > w[1]) {
                    let _ = writeln!(
                        diff,
                        "    rows are in a different order: a row at {} is expected before a row at {}",
                        w[0], w[1]
                    );
                    break;
                }
            }
        }
        (!diff.is_empty()).then_some(diff)
    }
}

/// The case authors write `__unnamed_<k>` for the undocumented name of an
/// unaliased expression; it stands for the `k`-th column of the actual row
/// whose name the expected row does not use.
fn resolve_unnamed(expected: &JsonRow, actual: &JsonRow) -> Option<JsonRow> {
    if !expected.keys().any(|k| k.starts_with("__unnamed_")) {
        return None;
    }
    let spare: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let mut resolved = JsonRow::new();
    for (key, value) in expected {
        let name = key
            .strip_prefix("__unnamed_")
            .and_then(|k| k.parse::<usize>().ok())
            .and_then(|k| spare.get(k))
            .map_or_else(|| key.clone(), |s| (*s).clone());
        resolved.insert(name, value.clone());
    }
    Some(resolved)
}

fn rows_equal(expected: &JsonRow, actual: &JsonRow, tolerance: f64) -> bool {
    match resolve_unnamed(expected, actual) {
        Some(resolved) => fields_equal(&resolved, actual, tolerance),
        None => fields_equal(expected, actual, tolerance),
    }
}

fn fields_equal(expected: &JsonRow, actual: &JsonRow, tolerance: f64) -> bool {
    let present = |row: &JsonRow| -> Vec<(String, serde_json::Value)> {
        let mut fields: Vec<(String, serde_json::Value)> = row
            .iter()
            .filter(|(k, v)| !v.is_null() && k.as_str() != TIME_FIELD)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields
    };
    let e = present(expected);
    let a = present(actual);
    e.len() == a.len()
        && e.iter()
            .zip(&a)
            .all(|((ek, ev), (ak, av))| ek == ak && values_equal(ev, av, tolerance))
}

fn values_equal(expected: &serde_json::Value, actual: &serde_json::Value, tolerance: f64) -> bool {
    use serde_json::Value as J;
    match (expected, actual) {
        (J::Number(e), J::Number(a)) => match (e.as_i64(), a.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => {
                let (x, y) = (
                    e.as_f64().unwrap_or(f64::NAN),
                    a.as_f64().unwrap_or(f64::NAN),
                );
                x == y || (x - y).abs() <= tolerance * x.abs().max(y.abs())
            }
        },
        (J::String(e), J::String(a)) => {
            e == a
                || match (
                    crate::types::DateTime::parse(e),
                    crate::types::DateTime::parse(a),
                ) {
                    (Some(x), Some(y)) => x == y,
                    _ => false,
                }
        }
        (J::Array(e), J::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| values_equal(x, y, tolerance))
        }
        (J::Object(e), J::Object(a)) => rows_equal(e, a, tolerance),
        (e, a) => e == a,
    }
}

/// Runs every case folder and returns the results in order.
pub fn run_cases(dirs: &[PathBuf], options: &TestOptions) -> Vec<CaseResult> {
    dirs.iter().map(|d| run_case(d, options)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> JsonRow {
        parse_row(text).expect("row")
    }

    #[test]
    fn null_and_absent_are_alike_and_datetimes_compare_as_instants() {
        assert!(rows_equal(
            &row(r#"{"a": 1, "b": null, "t": "2021-10-26T10:15:15"}"#),
            &row(r#"{"a": 1.0, "t": "2021-10-26T10:15:15.0000000Z"}"#),
            DEFAULT_TOLERANCE
        ));
        assert!(!rows_equal(
            &row(r#"{"a": 1}"#),
            &row(r#"{"a": 2}"#),
            DEFAULT_TOLERANCE
        ));
        assert!(!rows_equal(
            &row(r#"{"a": "1"}"#),
            &row(r#"{"a": 1}"#),
            DEFAULT_TOLERANCE
        ));
    }

    #[test]
    fn unnamed_placeholders_match_the_unused_column() {
        let expected = row(r#"{"k": 1, "__unnamed_0": 0.5}"#);
        assert!(rows_equal(
            &expected,
            &row(r#"{"k": 1, "column2": 0.5}"#),
            DEFAULT_TOLERANCE
        ));
        assert!(!rows_equal(
            &expected,
            &row(r#"{"k": 1, "column2": 0.7}"#),
            DEFAULT_TOLERANCE
        ));
        assert!(!rows_equal(
            &expected,
            &row(r#"{"k": 1}"#),
            DEFAULT_TOLERANCE
        ));
    }

    #[test]
    fn order_is_checked_against_event_time() {
        let expected = vec![row(r#"{"a": 1}"#), row(r#"{"a": 2}"#)];
        let in_order = vec![
            row(r#"{"a": 1, "__eddy_time": "2020-01-01T00:00:01.0000000Z"}"#),
            row(r#"{"a": 2, "__eddy_time": "2020-01-01T00:00:02.0000000Z"}"#),
        ];
        let reversed = vec![
            row(r#"{"a": 2, "__eddy_time": "2020-01-01T00:00:01.0000000Z"}"#),
            row(r#"{"a": 1, "__eddy_time": "2020-01-01T00:00:02.0000000Z"}"#),
        ];
        let strict = Comparison {
            order_sensitive: true,
            order_per: None,
            prefix: false,
            tolerance: DEFAULT_TOLERANCE,
        };
        assert_eq!(strict.compare(&expected, in_order), None);
        assert!(strict.compare(&expected, reversed.clone()).is_some());
        let loose = Comparison {
            order_sensitive: false,
            ..strict
        };
        assert_eq!(loose.compare(&expected, reversed), None);
    }

    #[test]
    fn missing_and_extra_rows_are_shown() {
        let c = Comparison {
            order_sensitive: false,
            order_per: None,
            prefix: false,
            tolerance: DEFAULT_TOLERANCE,
        };
        let diff = c
            .compare(&[row(r#"{"a": 1}"#)], vec![row(r#"{"a": 3}"#)])
            .expect("differs");
        assert!(diff.contains("- expected {\"a\":1}"), "{diff}");
        assert!(diff.contains("+ actual   {\"a\":3}"), "{diff}");
    }
}
