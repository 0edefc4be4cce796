//! Rendering: a [`Plan`] as a timely/differential dataflow.
//!
//! Every relation becomes a differential collection of rows whose timely
//! time is the row's event time (100 ns ticks, [`Time`]); a diff of `+1`
//! inserts a row, `-1` retracts it. Scalar failures do not stop a worker:
//! each fallible operator splits its input into the rows it produced and
//! [`Failure`]s, and all failures flow to one stream that the runtime
//! writes to the job's error output (ASA-SEMANTICS.md §9).
//!
//! Source rows are spread over the workers round-robin, so the stateless
//! operators run in parallel; steps are rendered once and shared by every
//! reader. Operators are named after the plan node and its place in the
//! query (`Filter@3:7`), which is what `eddy explain` prints too.
//!
//! This module is the only one that imports timely and differential.

use std::collections::HashMap;

use differential_dataflow::collection::{AsCollection, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::{Concatenate, Exchange, OkErr};
use timely::dataflow::{Scope, Stream};

use crate::expr::eval::{eval, EvalContext};
use crate::expr::{ops, EvalError};
use crate::plan::{Plan, ProjectItem, Rel};
use crate::types::{DateTime, Record, Row, Value};

/// Timely time: event time in 100 ns ticks since the Unix epoch.
pub type Time = i64;

/// A differential collection of rows at event times.
pub type Rows<'scope> = VecCollection<'scope, Time, Row, isize>;

/// A stream of failures with their times and multiplicities.
pub type Failures<'scope> = Stream<'scope, Time, Vec<(Failure, Time, isize)>>;

/// One event that an operator could not process.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Failure {
    /// The operator, named after its place in the query.
    pub operator: String,
    /// ASA-style reason code, e.g. `TypeConversionError`.
    pub reason: String,
    /// What went wrong.
    pub message: String,
    /// The row the operator was given.
    pub row: Row,
}

/// The rendered dataflow: one collection per plan output, and the failures.
pub struct Rendered<'scope> {
    /// In the order of [`Plan::outputs`].
    pub outputs: Vec<Rows<'scope>>,
    /// Every operator's failures.
    pub failures: Failures<'scope>,
}

/// Renders `plan` in `scope`, reading `sources` (one per [`Plan::sources`]).
pub fn render<'scope>(
    scope: Scope<'scope, Time>,
    plan: &Plan,
    query_text: &str,
    sources: Vec<Rows<'scope>>,
) -> Rendered<'scope> {
    let mut renderer = Renderer {
        plan,
        text: query_text,
        sources: sources.into_iter().map(spread).collect(),
        steps: HashMap::new(),
        failures: Vec::new(),
    };
    let outputs = plan
        .outputs
        .iter()
        .map(|output| renderer.render_rel(&output.rel))
        .collect();
    let failures = scope.concatenate(renderer.failures);
    Rendered { outputs, failures }
}

/// Spreads rows over workers round-robin.
fn spread(rows: Rows<'_>) -> Rows<'_> {
    let mut next: u64 = 0;
    rows.inner
        .exchange(move |_| {
            next = next.wrapping_add(1);
            next
        })
        .as_collection()
}

struct Renderer<'a, 'scope> {
    plan: &'a Plan,
    text: &'a str,
    sources: Vec<Rows<'scope>>,
    steps: HashMap<usize, Rows<'scope>>,
    failures: Vec<Failures<'scope>>,
}

impl<'scope> Renderer<'_, 'scope> {
    fn render_rel(&mut self, rel: &Rel) -> Rows<'scope> {
        match rel {
            Rel::Source(id) => self
                .sources
                .get(*id)
                .cloned()
                .expect("invariant: the binder only creates sources that exist"),
            Rel::Step(id) => {
                if let Some(rows) = self.steps.get(id) {
                    return rows.clone();
                }
                let step = self
                    .plan
                    .steps
                    .get(*id)
                    .expect("invariant: the binder only references steps that exist");
                let rows = self.render_rel(&step.rel);
                self.steps.insert(*id, rows.clone());
                rows
            }
            Rel::Filter {
                input, predicate, ..
            } => {
                let rows = self.render_rel(input);
                let predicate = predicate.clone();
                let name = rel.operator_name(self.plan, self.text);
                self.fallible(rows, name, move |row, ctx| {
                    let keep = ops::is_true(&eval(&predicate, &row, ctx)?);
                    Ok(keep.then_some(row))
                })
            }
            Rel::Project { input, items, .. } => {
                let rows = self.render_rel(input);
                let items = items.clone();
                let name = rel.operator_name(self.plan, self.text);
                self.fallible(rows, name, move |row, ctx| {
                    project(&items, &row, ctx).map(Some)
                })
            }
            Rel::Union { inputs, .. } => {
                let mut rendered = inputs.iter().map(|r| self.render_rel(r));
                let first = rendered
                    .next()
                    .expect("invariant: a union has at least one input");
                first.concatenate(rendered)
            }
        }
    }

    /// Applies `logic` to every row: `Ok(Some)` keeps a row, `Ok(None)`
    /// drops it, `Err` becomes a [`Failure`] of operator `name`.
    fn fallible<F>(&mut self, rows: Rows<'scope>, name: String, mut logic: F) -> Rows<'scope>
    where
        F: FnMut(Row, &EvalContext) -> Result<Option<Row>, EvalError> + 'static,
    {
        let (ok, err) = rows
            .inner
            .ok_err::<Vec<_>, _, Vec<_>, _, _>(move |(row, time, diff)| {
                let ctx = EvalContext {
                    timestamp: DateTime(time),
                };
                let original = row.clone();
                match logic(row, &ctx) {
                    Ok(kept) => Ok((kept, time, diff)),
                    Err(error) => Err((
                        Failure {
                            operator: name.clone(),
                            reason: error.code().to_string(),
                            message: error.message,
                            row: original,
                        },
                        time,
                        diff,
                    )),
                }
            });
        self.failures.push(err);
        ok.as_collection().flat_map(|kept: Option<Row>| kept)
    }
}

/// Computes a SELECT list over one row. Columns are added left to right
/// and the first column of a name wins: a `*` expansion skips names already
/// projected to its left, and later ones skip names it produced (§1 SELECT).
fn project(items: &[ProjectItem], row: &Row, ctx: &EvalContext) -> Result<Row, EvalError> {
    let mut out = Record::with_capacity(items.len().max(row.len()));
    for item in items {
        match item {
            ProjectItem::Column { name, expr } => {
                out.push_if_absent(name.clone(), eval(expr, row, ctx)?);
            }
            ProjectItem::Wildcard => {
                for (name, value) in row.fields() {
                    out.push_if_absent(name.clone(), value.clone());
                }
            }
            ProjectItem::Flatten(expr) => {
                if let Value::Record(record) = eval(expr, row, ctx)? {
                    for (name, value) in record.into_fields() {
                        out.push_if_absent(name, value);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The dataflow `render` builds for `plan`, one operator per line, named as
/// in the running dataflow (what `eddy explain --stage dataflow` prints).
pub fn explain_dataflow(plan: &Plan, query_text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (id, source) in plan.sources.iter().enumerate() {
        let name = Rel::Source(id).operator_name(plan, query_text);
        let _ = writeln!(
            out,
            "Input[{id}] {name}: decode {} -> event time -> watermark",
            source.input
        );
        let _ = writeln!(out, "  Exchange(round-robin) -> all workers");
    }
    let mut shown = std::collections::HashSet::new();
    for (id, step) in plan.steps.iter().enumerate() {
        if shown.insert(id) {
            let _ = writeln!(
                out,
                "Step({}) [rendered once, shared by its readers]",
                step.name
            );
            explain_rel(&step.rel, plan, query_text, 1, &mut out);
        }
    }
    for output in &plan.outputs {
        let _ = writeln!(
            out,
            "Sink({}) <- Exchange(worker 0), ordered by event time",
            output.name
        );
        explain_rel(&output.rel, plan, query_text, 1, &mut out);
    }
    let _ = writeln!(out, "DeadLetters <- failures of every fallible operator");
    out
}

fn explain_rel(rel: &Rel, plan: &Plan, text: &str, depth: usize, out: &mut String) {
    use std::fmt::Write as _;
    let pad = "  ".repeat(depth);
    let name = rel.operator_name(plan, text);
    match rel {
        Rel::Source(_) | Rel::Step(_) => {
            let _ = writeln!(out, "{pad}{name}");
        }
        Rel::Filter { input, .. } | Rel::Project { input, .. } => {
            let _ = writeln!(out, "{pad}{name} (OkErr: rows | failures)");
            explain_rel(input, plan, text, depth + 1, out);
        }
        Rel::Union { inputs, .. } => {
            let _ = writeln!(out, "{pad}{name} (Concatenate)");
            for input in inputs {
                explain_rel(input, plan, text, depth + 1, out);
            }
        }
    }
}
