//! The bound logical plan: what a job computes, with every name resolved.
//!
//! The binder produces a [`Plan`] from the AST; the renderer turns it into a
//! dataflow without making decisions of its own. A plan has
//!
//! - **sources**: one per distinct (input, `TIMESTAMP BY`) pair; a source
//!   decodes events and gives each an event time,
//! - **steps**: the `WITH` steps, each a relation computed once and shared
//!   by every reader,
//! - **outputs**: one relation per `SELECT ... INTO`; several statements
//!   may write to the same output, whose rows are then the union.
//!
//! Relations ([`Rel`]) and scalar expressions ([`ScalarExpr`]) print with
//! `explain` (`eddy explain`), each operator named after its place in the
//! query text (`Filter@3:1`).

use std::fmt::Write as _;

use crate::diag::Span;
pub use crate::expr::eval::ScalarExpr;
use crate::types::Name;

/// A bound job.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Event sources, indexed by [`SourceId`].
    pub sources: Vec<SourcePlan>,
    /// `WITH` steps in dependency order, indexed by [`StepId`].
    pub steps: Vec<StepPlan>,
    /// Outputs in the order the query first writes them.
    pub outputs: Vec<OutputPlan>,
}

/// Index into [`Plan::sources`].
pub type SourceId = usize;
/// Index into [`Plan::steps`].
pub type StepId = usize;

/// Reading one input with one event-time rule.
#[derive(Clone, Debug)]
pub struct SourcePlan {
    /// The input alias as the job declares it.
    pub input: String,
    /// `TIMESTAMP BY` expression over the raw event; `None` means arrival time.
    pub timestamp_by: Option<ScalarExpr>,
    /// `TIMESTAMP BY ... OVER` keys (substreams).
    pub over: Vec<ScalarExpr>,
    /// Columns declared by `CREATE TABLE`: each is cast to its type as the
    /// event is read; an event that does not convert is dropped
    /// (`InputDeserializerError.TypeConversionError`).
    pub schema: Vec<(Name, crate::types::DataType)>,
    /// Reference data: loaded whole, never advancing time.
    pub reference: bool,
    /// Where the source is named in the query.
    pub span: Span,
}

/// A `WITH` step.
#[derive(Clone, Debug)]
pub struct StepPlan {
    /// The step name as written.
    pub name: String,
    /// What it computes.
    pub rel: Rel,
}

/// An output and what is written to it.
#[derive(Clone, Debug)]
pub struct OutputPlan {
    /// The output alias as the job declares it.
    pub name: String,
    /// The rows written (a union when several statements write here).
    pub rel: Rel,
}

/// A relational operator over rows stamped with event time.
#[derive(Clone, Debug)]
pub enum Rel {
    /// Events of a source.
    Source(SourceId),
    /// The rows of a `WITH` step.
    Step(StepId),
    /// Keep rows where the predicate is true (`WHERE`, or `HAVING` without `GROUP BY`).
    Filter {
        /// Rows filtered.
        input: Box<Rel>,
        /// Condition; NULL and false drop the row.
        predicate: ScalarExpr,
        /// The clause in the query.
        span: Span,
    },
    /// Compute the SELECT list.
    Project {
        /// Rows projected.
        input: Box<Rel>,
        /// Items in order.
        items: Vec<ProjectItem>,
        /// The SELECT list in the query.
        span: Span,
    },
    /// `GROUP BY keys, window` with aggregates. Each output row has the
    /// columns [`key_column`]`(i)` for the keys, [`aggregate_column`]`(j)`
    /// for the aggregates and, for `Windows(...)`, [`WINDOW_ID_COLUMN`];
    /// it is stamped with the window's end (`System.Timestamp()`).
    Aggregate {
        /// Rows aggregated.
        input: Box<Rel>,
        /// The window.
        window: WindowPlan,
        /// Grouping keys besides the window.
        keys: Vec<ScalarExpr>,
        /// Aggregates, in the order their columns are numbered.
        aggregates: Vec<AggregatePlan>,
        /// The GROUP BY clause.
        span: Span,
    },
    /// Wraps each row as `{alias: row}`, the row shape after a JOIN or APPLY.
    Nest {
        /// Rows wrapped.
        input: Box<Rel>,
        /// The source's alias.
        alias: Name,
    },
    /// `CROSS APPLY` / `OUTER APPLY`: one row per element of a value.
    Apply {
        /// Nested rows.
        input: Box<Rel>,
        /// `OUTER APPLY`: keep rows with no elements (NULLs).
        outer: bool,
        /// What to unfold.
        unfold: Unfold,
        /// The array or record unfolded.
        argument: ScalarExpr,
        /// The alias of the element records.
        alias: Name,
        /// The clause.
        span: Span,
    },
    /// `JOIN` with reference data: each stream row looks up the rows of a
    /// table by key equality, at its own time.
    LookupJoin {
        /// Stream rows (nested).
        left: Box<Rel>,
        /// Reference rows (nested under `right_alias`).
        right: Box<Rel>,
        /// Key expressions over the stream rows.
        left_keys: Vec<ScalarExpr>,
        /// Key expressions over the reference rows, pairwise equal.
        right_keys: Vec<ScalarExpr>,
        /// The rest of ON, checked on each matched pair.
        residual: Option<ScalarExpr>,
        /// `LEFT JOIN`: keep stream rows without a match.
        left_outer: bool,
        /// The reference source's alias.
        right_alias: Name,
        /// The clause.
        span: Span,
    },
    /// `JOIN` between streams within a time bound (§1 JOIN): a left row at
    /// `tL` pairs with right rows at `tR` where `tR - tL` is in
    /// `[low, high]` ticks and the residual (which includes the exact
    /// DATEDIFF bound) holds; pairs are stamped `max(tL, tR)`.
    TemporalJoin {
        /// Left rows (nested).
        left: Box<Rel>,
        /// Right rows (nested under `right_alias`).
        right: Box<Rel>,
        /// Key expressions over the left rows.
        left_keys: Vec<ScalarExpr>,
        /// Key expressions over the right rows, pairwise equal.
        right_keys: Vec<ScalarExpr>,
        /// The rest of ON, checked on each pair.
        residual: Option<ScalarExpr>,
        /// `LEFT JOIN`: unmatched left rows, at `tL + unmatched_delay`.
        left_outer: bool,
        /// Earliest partner offset, ticks.
        low: i64,
        /// Latest partner offset, ticks.
        high: i64,
        /// When an unmatched left row is final, after its own time.
        unmatched_delay: i64,
        /// The right source's alias.
        right_alias: Name,
        /// The clause.
        span: Span,
    },
    /// The analytic functions of one SELECT (`LAG`, `LAST`, `ISFIRST`
    /// and the aggregate `OVER (... LIMIT DURATION ...)` forms), computed
    /// over the step's input rows before WHERE, GROUP BY and the SELECT
    /// list: each row gets the column [`analytic_column`]`(i)` holding the
    /// `i`-th function's value, and is otherwise unchanged.
    Analytic {
        /// The step's input rows.
        input: Box<Rel>,
        /// The calls, in the order their columns are numbered.
        functions: Vec<AnalyticPlan>,
        /// The FROM clause the functions range over.
        span: Span,
    },
    /// `MATCH_RECOGNIZE`: one row of MEASURES per match, at the time of
    /// the match's last row (docs/semantics.md, "MATCH_RECOGNIZE").
    MatchRecognize(Box<MatchRecognizePlan>),
    /// `UNION` (duplicates kept).
    Union {
        /// Branches.
        inputs: Vec<Rel>,
        /// The first `UNION` keyword.
        span: Span,
    },
}

/// A bound `MATCH_RECOGNIZE` clause.
#[derive(Clone, Debug)]
pub struct MatchRecognizePlan {
    /// Rows matched (flat source rows).
    pub input: Rel,
    /// `PARTITION BY` keys; matches never span two keys.
    pub partition_by: Vec<ScalarExpr>,
    /// `LIMIT DURATION` in ticks: a match holds rows less than this after its first.
    pub limit: i64,
    /// Pattern variables in order of [`crate::expr::row_pattern::VarId`], as written.
    pub variables: Vec<String>,
    /// Each variable's `DEFINE` condition over one row; `None` (no DEFINE,
    /// or `.`) accepts every row.
    pub conditions: Vec<Option<ScalarExpr>>,
    /// The `PATTERN`.
    pub pattern: crate::expr::row_pattern::RowPattern,
    /// Values read from each row for the measure slots (`Warning.Time`).
    pub slot_arguments: Vec<ScalarExpr>,
    /// What each [`measure_slot_column`] holds for a match.
    pub slots: Vec<MeasureSlot>,
    /// The MEASURES, over the slot columns, in order.
    pub measures: Vec<(Name, ScalarExpr)>,
    /// The clause.
    pub span: Span,
}

/// The aggregate methods of MEASURES (ASA-SEMANTICS.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeasureMethod {
    /// The value at the first row mapped to the variable.
    First,
    /// The value at the last row mapped to the variable.
    Last,
    /// The least non-NULL value over the rows mapped to the variable.
    Min,
    /// The greatest non-NULL value over the rows mapped to the variable.
    Max,
}

/// One value computed per match for MEASURES.
#[derive(Clone, Debug, PartialEq)]
pub enum MeasureSlot {
    /// `Method(var.field)`; `var` `None` means every row of the match.
    Aggregate {
        /// Which method.
        method: MeasureMethod,
        /// The pattern variable, if any.
        var: Option<crate::expr::row_pattern::VarId>,
        /// Index into [`MatchRecognizePlan::slot_arguments`].
        argument: usize,
    },
    /// `Classifier()`: the variable of each row of the match, in order.
    Classifier,
}

/// The column holding measure slot `i` of a `MATCH_RECOGNIZE`.
pub fn measure_slot_column(i: usize) -> Name {
    Name::from(format!("__mr{i}"))
}

/// The table-valued functions of APPLY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfold {
    /// `GetArrayElements(array)`: records `{ArrayIndex, ArrayValue}`.
    ArrayElements,
    /// `GetRecordProperties(record)`: records `{PropertyName, PropertyValue}`.
    RecordProperties,
}

/// How an output is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EmitMode {
    /// As ASA: each window's result once, when the watermark passes its end.
    #[default]
    Final,
    /// A changelog: results as soon as the watermark passes each event,
    /// corrections as retraction/insertion pairs with a `diff` field.
    Changes,
}

/// A window of ASA-SEMANTICS.md §2, with lengths in 100 ns ticks.
#[derive(Clone, Debug)]
pub enum WindowPlan {
    /// Tumbling and hopping windows: `(end - size, end]`, ends on the grid
    /// `offset + k * hop` (tumbling: `hop == size`).
    Hopping {
        /// Window length.
        size: i64,
        /// Grid step.
        hop: i64,
        /// Grid offset.
        offset: i64,
    },
    /// `(t - size, t]` at every event entry and exit.
    Sliding {
        /// Window length.
        size: i64,
    },
    /// Sessions of events no more than `timeout` apart, cut on a grid of
    /// `max_duration`.
    Session {
        /// Gap that closes a session.
        timeout: i64,
        /// Grid of the maximum-duration check.
        max_duration: i64,
        /// `OVER (PARTITION BY ...)` keys.
        partition_by: Vec<ScalarExpr>,
    },
    /// `GROUP BY System.Timestamp()`: events with an identical time.
    Snapshot,
    /// `Windows(...)`: the union of each member's results, with its id.
    Multiple(Vec<(Option<String>, WindowPlan)>),
}

/// One aggregate call.
#[derive(Clone, Debug)]
pub struct AggregatePlan {
    /// Which aggregate.
    pub kind: crate::expr::aggregate::AggregateKind,
    /// Its argument; `None` means the whole row (`COUNT(*)`, `TopOne()`).
    pub argument: Option<ScalarExpr>,
    /// `OVER (ORDER BY ...)` keys.
    pub order_by: Vec<ScalarExpr>,
}

/// One analytic call (ASA-SEMANTICS.md §5), with lengths in ticks.
#[derive(Clone, Debug)]
pub struct AnalyticPlan {
    /// Which function.
    pub kind: AnalyticKind,
    /// The value looked up or aggregated; `None` is the whole row (`*`).
    pub argument: Option<ScalarExpr>,
    /// `OVER (ORDER BY ...)` keys of TopOne and CollectTop.
    pub order_by: Vec<ScalarExpr>,
    /// `PARTITION BY` keys: only rows with equal keys see each other.
    pub partition_by: Vec<ScalarExpr>,
    /// `LIMIT DURATION`: how far back the history reaches (ISFIRST has none).
    pub duration: i64,
    /// `WHEN`: only rows where it is true enter the history.
    pub when: Option<ScalarExpr>,
}

/// The analytic functions.
#[derive(Clone, Debug)]
pub enum AnalyticKind {
    /// `LAG(e, offset, default)`: the `offset`-th previous matching row.
    Lag {
        /// At least 1.
        offset: usize,
        /// Returned when there is no such row.
        default: Option<ScalarExpr>,
    },
    /// `LAST(e, default)`: the latest matching row, this one included.
    Last {
        /// Returned when there is no such row.
        default: Option<ScalarExpr>,
    },
    /// `ISFIRST(unit, n)`: 1 for the first matching row of its interval of
    /// `size` ticks on the tumbling grid, else 0.
    IsFirst {
        /// Interval length.
        size: i64,
    },
    /// An aggregate over the matching rows of the last duration.
    Aggregate(crate::expr::aggregate::AggregateKind),
}

/// The name of the column holding the `i`-th analytic function's value.
pub fn analytic_column(i: usize) -> Name {
    Name::from(format!("__analytic{i}"))
}

/// The hidden column holding an input event's arrival position, which
/// orders events with equal times for the analytic functions: an array
/// `[partition, position]` (docs/semantics.md, "Analytic functions"). It is
/// only added when the plan has analytic functions ([`Plan::uses_arrival_order`]).
pub const ARRIVAL_COLUMN: &str = "__arrival";

/// Columns the engine adds to rows for its own use, which `*`, whole-row
/// aggregates and outputs never show.
pub fn is_hidden_column(name: &str) -> bool {
    name.eq_ignore_ascii_case(METADATA_COLUMN)
        || name.eq_ignore_ascii_case(ARRIVAL_COLUMN)
        || name.starts_with("__analytic")
}

/// The name of the `i`-th grouping key column of an aggregate's output.
pub fn key_column(i: usize) -> Name {
    Name::from(format!("__key{i}"))
}

/// The name of the `j`-th aggregate column of an aggregate's output.
pub fn aggregate_column(j: usize) -> Name {
    Name::from(format!("__agg{j}"))
}

/// In a changelog, the column holding a window result's end, which is its
/// `System.Timestamp()` although the row appears earlier.
pub const WINDOW_END_COLUMN: &str = "__window_end";

/// In nested rows, the column holding the event time of source `alias`
/// (what `DATEDIFF(unit, alias, other)` reads).
pub fn time_column(alias: &str) -> Name {
    Name::from(format!("__time_{}", alias.to_lowercase()))
}

/// The hidden record of an input event's metadata (a Kafka message's key,
/// offset, topic and headers), read by `GetMetadataPropertyValue`.
pub const METADATA_COLUMN: &str = "__metadata";

/// The column holding `System.Window().Id` in an aggregate's output.
pub const WINDOW_ID_COLUMN: &str = "__window_id";

/// One item of a projection.
#[derive(Clone, Debug)]
pub enum ProjectItem {
    /// A named column.
    Column {
        /// Output name, in the query's case.
        name: Name,
        /// Its value.
        expr: ScalarExpr,
    },
    /// `*`: every column of the input row not already projected.
    Wildcard,
    /// `record.*`: every field of a record value not already projected.
    Flatten(ScalarExpr),
}

impl Plan {
    /// How far behind the output frontier an input event can still change a
    /// result, in ticks: an event at time `t` only affects results at
    /// times up to `t + horizon` (window sizes, session durations and join
    /// bounds, summed along each path from a source to an output). A Kafka
    /// source commits the offset of an event once the flushed outputs have
    /// passed its time plus this horizon, so that a restart replays every
    /// event a pending result still needs.
    pub fn retention_horizon(&self) -> i64 {
        let step_horizons: Vec<i64> = self.steps.iter().fold(Vec::new(), |mut done, step| {
            let h = rel_horizon(&step.rel, &done);
            done.push(h);
            done
        });
        self.outputs
            .iter()
            .map(|o| rel_horizon(&o.rel, &step_horizons))
            .max()
            .unwrap_or(0)
    }

    /// True when some relation computes analytic functions: then sources
    /// tag each event with its arrival position ([`ARRIVAL_COLUMN`]).
    pub fn uses_arrival_order(&self) -> bool {
        self.steps
            .iter()
            .map(|s| &s.rel)
            .chain(self.outputs.iter().map(|o| &o.rel))
            .any(Rel::has_analytic)
    }

    /// A readable rendering of the plan, one operator per line.
    pub fn explain(&self, source_text: &str) -> String {
        let mut out = String::new();
        for (id, source) in self.sources.iter().enumerate() {
            let time = match &source.timestamp_by {
                Some(e) => format!("TIMESTAMP BY {e}"),
                None => "arrival time".to_string(),
            };
            let _ = write!(out, "source#{id} {} ({time})", source.input);
            if !source.over.is_empty() {
                let keys: Vec<String> = source.over.iter().map(|e| e.to_string()).collect();
                let _ = write!(out, " OVER {}", keys.join(", "));
            }
            let _ = writeln!(out, "  @{}", at(source.span, source_text));
        }
        for step in &self.steps {
            let _ = writeln!(out, "step {}:", step.name);
            step.rel.explain_into(&mut out, 1, self, source_text);
        }
        for output in &self.outputs {
            let _ = writeln!(out, "output {}:", output.name);
            output.rel.explain_into(&mut out, 1, self, source_text);
        }
        out
    }
}

fn at(span: Span, source_text: &str) -> String {
    let (line, col) = span.line_col(source_text);
    format!("{line}:{col}")
}

impl Rel {
    /// The relations this one reads, in order.
    pub fn inputs(&self) -> Vec<&Rel> {
        match self {
            Rel::Source(_) | Rel::Step(_) => Vec::new(),
            Rel::Filter { input, .. }
            | Rel::Project { input, .. }
            | Rel::Aggregate { input, .. }
            | Rel::Nest { input, .. }
            | Rel::Apply { input, .. }
            | Rel::Analytic { input, .. } => vec![input],
            Rel::MatchRecognize(mr) => vec![&mr.input],
            Rel::LookupJoin { left, right, .. } | Rel::TemporalJoin { left, right, .. } => {
                vec![left, right]
            }
            Rel::Union { inputs, .. } => inputs.iter().collect(),
        }
    }

    fn has_analytic(&self) -> bool {
        match self {
            Rel::Analytic { .. } => true,
            Rel::Source(_) | Rel::Step(_) => false,
            Rel::Filter { input, .. }
            | Rel::Project { input, .. }
            | Rel::Aggregate { input, .. }
            | Rel::Nest { input, .. }
            | Rel::Apply { input, .. } => input.has_analytic(),
            Rel::MatchRecognize(mr) => mr.input.has_analytic(),
            Rel::LookupJoin { left, right, .. } | Rel::TemporalJoin { left, right, .. } => {
                left.has_analytic() || right.has_analytic()
            }
            Rel::Union { inputs, .. } => inputs.iter().any(Rel::has_analytic),
        }
    }

    /// The operator's name as shown in `explain` and in dataflow operator
    /// names: the plan node and where it comes from in the query.
    pub fn operator_name(&self, plan: &Plan, source_text: &str) -> String {
        match self {
            Rel::Source(id) => match plan.sources.get(*id) {
                Some(s) => format!("Source({})@{}", s.input, at(s.span, source_text)),
                None => format!("Source#{id}"),
            },
            Rel::Step(id) => match plan.steps.get(*id) {
                Some(s) => format!("Step({})", s.name),
                None => format!("Step#{id}"),
            },
            Rel::Filter { span, .. } => format!("Filter@{}", at(*span, source_text)),
            Rel::Analytic { span, .. } => format!("Analytic@{}", at(*span, source_text)),
            Rel::Project { span, .. } => format!("Project@{}", at(*span, source_text)),
            Rel::Union { span, .. } => format!("Union@{}", at(*span, source_text)),
            Rel::MatchRecognize(mr) => format!("MatchRecognize@{}", at(mr.span, source_text)),
            Rel::Nest { alias, .. } => format!("Nest({alias})"),
            Rel::LookupJoin { span, .. } => format!("ReferenceJoin@{}", at(*span, source_text)),
            Rel::TemporalJoin { span, .. } => format!("TemporalJoin@{}", at(*span, source_text)),
            Rel::Apply { unfold, span, .. } => format!("{unfold:?}@{}", at(*span, source_text)),
            Rel::Aggregate { window, span, .. } => {
                format!("{}@{}", window.describe(), at(*span, source_text))
            }
        }
    }

    fn explain_into(&self, out: &mut String, depth: usize, plan: &Plan, text: &str) {
        let pad = "  ".repeat(depth);
        let name = self.operator_name(plan, text);
        match self {
            Rel::Source(_) | Rel::Step(_) => {
                let _ = writeln!(out, "{pad}{name}");
            }
            Rel::Filter {
                input, predicate, ..
            } => {
                let _ = writeln!(out, "{pad}{name} {predicate}");
                input.explain_into(out, depth + 1, plan, text);
            }
            Rel::Project { input, items, .. } => {
                let list: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        ProjectItem::Column { name, expr } => format!("{expr} AS [{name}]"),
                        ProjectItem::Wildcard => "*".to_string(),
                        ProjectItem::Flatten(e) => format!("{e}.*"),
                    })
                    .collect();
                let _ = writeln!(out, "{pad}{name} {}", list.join(", "));
                input.explain_into(out, depth + 1, plan, text);
            }
            Rel::Nest { input, .. } => {
                let _ = writeln!(out, "{pad}{name}");
                input.explain_into(out, depth + 1, plan, text);
            }
            Rel::Analytic {
                input, functions, ..
            } => {
                let list: Vec<String> = functions
                    .iter()
                    .enumerate()
                    .map(|(i, f)| format!("{} AS [{}]", f.describe(), analytic_column(i)))
                    .collect();
                let _ = writeln!(out, "{pad}{name} {}", list.join(", "));
                input.explain_into(out, depth + 1, plan, text);
            }
            Rel::TemporalJoin {
                left,
                right,
                left_keys,
                residual,
                left_outer,
                low,
                high,
                ..
            } => {
                let kind = if *left_outer { "LEFT" } else { "INNER" };
                let keys: Vec<String> = left_keys.iter().map(|k| k.to_string()).collect();
                let _ = write!(
                    out,
                    "{pad}{name} {kind} keys [{}] partner offset [{low}, {high}] ticks",
                    keys.join(", ")
                );
                if let Some(r) = residual {
                    let _ = write!(out, " AND {r}");
                }
                let _ = writeln!(out);
                left.explain_into(out, depth + 1, plan, text);
                right.explain_into(out, depth + 1, plan, text);
            }
            Rel::LookupJoin {
                left,
                right,
                left_keys,
                right_keys,
                residual,
                left_outer,
                ..
            } => {
                let pairs: Vec<String> = left_keys
                    .iter()
                    .zip(right_keys)
                    .map(|(l, r)| format!("{l} = {r}"))
                    .collect();
                let kind = if *left_outer { "LEFT" } else { "INNER" };
                let _ = write!(out, "{pad}{name} {kind} ON [{}]", pairs.join(" AND "));
                if let Some(r) = residual {
                    let _ = write!(out, " AND {r}");
                }
                let _ = writeln!(out);
                left.explain_into(out, depth + 1, plan, text);
                right.explain_into(out, depth + 1, plan, text);
            }
            Rel::Apply {
                input,
                argument,
                alias,
                outer,
                ..
            } => {
                let kind = if *outer { "OUTER" } else { "CROSS" };
                let _ = writeln!(out, "{pad}{name} {kind} APPLY {argument} AS [{alias}]");
                input.explain_into(out, depth + 1, plan, text);
            }
            Rel::Aggregate {
                input,
                keys,
                aggregates,
                ..
            } => {
                let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                let aggs: Vec<String> = aggregates
                    .iter()
                    .map(|a| {
                        let arg = a
                            .argument
                            .as_ref()
                            .map_or("*".to_string(), |e| e.to_string());
                        format!("{}({arg})", crate::expr::aggregate::name(&a.kind))
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "{pad}{name} keys [{}] aggregates [{}]",
                    keys.join(", "),
                    aggs.join(", ")
                );
                input.explain_into(out, depth + 1, plan, text);
            }
            Rel::Union { inputs, .. } => {
                let _ = writeln!(out, "{pad}{name}");
                for input in inputs {
                    input.explain_into(out, depth + 1, plan, text);
                }
            }
            Rel::MatchRecognize(mr) => {
                let measures: Vec<String> = mr
                    .measures
                    .iter()
                    .map(|(n, e)| format!("{e} AS [{n}]"))
                    .collect();
                let _ = writeln!(
                    out,
                    "{pad}{name} variables [{}] limit {} ticks measures [{}]",
                    mr.variables.join(", "),
                    mr.limit,
                    measures.join(", ")
                );
                mr.input.explain_into(out, depth + 1, plan, text);
            }
        }
    }
}

impl AnalyticPlan {
    /// A short description, e.g. `LAG(Make, 1) OVER (LIMIT DURATION 90s)`.
    pub fn describe(&self) -> String {
        let argument = self
            .argument
            .as_ref()
            .map_or("*".to_string(), |e| e.to_string());
        let call = match &self.kind {
            AnalyticKind::Lag { offset, default } => match default {
                Some(d) => format!("LAG({argument}, {offset}, {d})"),
                None => format!("LAG({argument}, {offset})"),
            },
            AnalyticKind::Last { default } => match default {
                Some(d) => format!("LAST({argument}, {d})"),
                None => format!("LAST({argument})"),
            },
            AnalyticKind::IsFirst { size } => format!(
                "ISFIRST({}s)",
                *size as f64 / crate::types::TICKS_PER_SECOND as f64
            ),
            AnalyticKind::Aggregate(kind) => {
                format!("{}({argument})", crate::expr::aggregate::name(kind))
            }
        };
        let mut over = Vec::new();
        if !self.partition_by.is_empty() {
            let keys: Vec<String> = self.partition_by.iter().map(|e| e.to_string()).collect();
            over.push(format!("PARTITION BY {}", keys.join(", ")));
        }
        if !self.order_by.is_empty() {
            let keys: Vec<String> = self.order_by.iter().map(|e| e.to_string()).collect();
            over.push(format!("ORDER BY {}", keys.join(", ")));
        }
        if !matches!(self.kind, AnalyticKind::IsFirst { .. }) {
            over.push(format!(
                "LIMIT DURATION {}s",
                self.duration as f64 / crate::types::TICKS_PER_SECOND as f64
            ));
        }
        if let Some(w) = &self.when {
            over.push(format!("WHEN {w}"));
        }
        format!("{call} OVER ({})", over.join(" "))
    }
}

impl WindowPlan {
    /// A short description, e.g. `HoppingWindow(size 10s, hop 5s)`.
    pub fn describe(&self) -> String {
        let secs = |ticks: &i64| {
            let s = *ticks as f64 / crate::types::TICKS_PER_SECOND as f64;
            format!("{s}s")
        };
        match self {
            WindowPlan::Hopping { size, hop, offset } if size == hop && *offset == 0 => {
                format!("TumblingWindow({})", secs(size))
            }
            WindowPlan::Hopping { size, hop, offset } => format!(
                "HoppingWindow(size {}, hop {}, offset {})",
                secs(size),
                secs(hop),
                secs(offset)
            ),
            WindowPlan::Sliding { size } => format!("SlidingWindow({})", secs(size)),
            WindowPlan::Session {
                timeout,
                max_duration,
                ..
            } => format!(
                "SessionWindow(timeout {}, max {})",
                secs(timeout),
                secs(max_duration)
            ),
            WindowPlan::Snapshot => "SnapshotWindow".to_string(),
            WindowPlan::Multiple(members) => {
                let inner: Vec<String> = members.iter().map(|(_, w)| w.describe()).collect();
                format!("Windows({})", inner.join(", "))
            }
        }
    }
}

/// The horizon of one relation (see [`Plan::retention_horizon`]); steps
/// are computed in order, so a step only reads earlier steps.
fn rel_horizon(rel: &Rel, steps: &[i64]) -> i64 {
    match rel {
        Rel::Source(_) => 0,
        Rel::Step(id) => steps.get(*id).copied().unwrap_or(0),
        Rel::Filter { input, .. }
        | Rel::Project { input, .. }
        | Rel::Nest { input, .. }
        | Rel::Apply { input, .. } => rel_horizon(input, steps),
        // A row's analytic values depend on the rows of the duration (or
        // ISFIRST interval) before it: a restart must replay those too.
        Rel::Analytic {
            input, functions, ..
        } => rel_horizon(input, steps).saturating_add(
            functions
                .iter()
                .map(|f| match f.kind {
                    AnalyticKind::IsFirst { size } => size,
                    _ => f.duration,
                })
                .max()
                .unwrap_or(0)
                .saturating_add(1),
        ),
        Rel::Aggregate { input, window, .. } => {
            rel_horizon(input, steps).saturating_add(window_horizon(window))
        }
        Rel::LookupJoin { left, right, .. } => {
            rel_horizon(left, steps).max(rel_horizon(right, steps))
        }
        Rel::TemporalJoin {
            left,
            right,
            low,
            high,
            unmatched_delay,
            ..
        } => rel_horizon(left, steps)
            .max(rel_horizon(right, steps))
            .saturating_add(low.abs().max(high.abs()).max(*unmatched_delay))
            .saturating_add(1),
        Rel::Union { inputs, .. } => inputs
            .iter()
            .map(|r| rel_horizon(r, steps))
            .max()
            .unwrap_or(0),
        Rel::MatchRecognize(mr) => rel_horizon(&mr.input, steps).saturating_add(mr.limit),
    }
}

fn window_horizon(window: &WindowPlan) -> i64 {
    match window {
        WindowPlan::Hopping { size, .. } | WindowPlan::Sliding { size } => size.saturating_add(1),
        WindowPlan::Session { max_duration, .. } => max_duration.saturating_add(1),
        WindowPlan::Snapshot => 1,
        WindowPlan::Multiple(windows) => windows
            .iter()
            .map(|(_, w)| window_horizon(w))
            .max()
            .unwrap_or(1),
    }
}
