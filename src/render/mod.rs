//! Rendering: a [`Plan`] as a timely/differential dataflow.
//!
//! Every relation becomes a differential collection of rows whose timely
//! time is the row's event time (100 ns ticks, [`Time`]); a diff of `+1`
//! inserts a row, `-1` retracts it. Scalar failures do not stop a worker:
//! each fallible operator splits its input into the rows it produced and
//! [`Failure`]s, and all failures flow to one stream that the runtime
//! writes to the job's error output (ASA-SEMANTICS.md §9).
//!
//! Rows of a source that one worker reads (standard input, a topic with
//! fewer partitions than workers) are spread over the workers round-robin,
//! so the stateless operators run in parallel; a source every worker reads
//! a share of stays where it was read. Steps are rendered once and shared by every
//! reader. Operators are named after the plan node and its place in the
//! query (`Filter@3:7`), which is what `eddy explain` prints too.
//!
//! This module is the only one that imports timely and differential.

mod analytic;
pub mod direct;
mod match_recognize;
mod session;
mod sliding;
mod temporal_join;
mod window_end;

use std::collections::HashMap;

use differential_dataflow::collection::{AsCollection, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::core::Filter;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, Concatenate, Exchange, OkErr};
use timely::dataflow::{Scope, Stream};

use crate::expr::aggregate::{self, AggregateInput};
use crate::expr::eval::ScalarExpr;
use crate::expr::eval::{eval, EvalContext};
use crate::expr::{ops, EvalError};
use crate::plan::{
    aggregate_column, key_column, AggregatePlan, EmitMode, Plan, ProjectItem, Rel, Unfold,
    WindowPlan, WINDOW_END_COLUMN, WINDOW_ID_COLUMN,
};
use crate::plan::{
    analytic_column, is_hidden_column, time_column, AnalyticKind, AnalyticPlan, ARRIVAL_COLUMN,
};
use crate::types::Name;
use crate::types::{DateTime, Record, Row, Value};

/// Timely time: event time in 100 ns ticks since the Unix epoch.
pub type Time = i64;

/// A differential collection of rows at event times.
pub type Rows<'scope> = VecCollection<'scope, Time, Row, isize>;

/// A stream of failures with their times and multiplicities.
pub type Failures<'scope> = Stream<'scope, Time, Vec<(Failure, Time, isize)>>;

pub use session::Keyed;

/// A source's events as the dataflow receives them; also what an
/// aggregate reads (rows to evaluate, or a direct source's keyed events).
pub enum SourceInput<'scope> {
    /// As rows: every source the plan reads as such.
    Rows(Rows<'scope>),
    /// As the group keys and argument slots of the one aggregate that reads
    /// the source (see [`direct`]).
    Keyed(VecCollection<'scope, Time, Keyed, isize>),
}

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
    sources: Vec<SourceInput<'scope>>,
    read_in_parallel: &[bool],
    modes: &[EmitMode],
) -> Rendered<'scope> {
    let sources = sources
        .into_iter()
        .enumerate()
        .map(|(i, input)| match (read_in_parallel.get(i), input) {
            (Some(true), input) => input,
            (_, SourceInput::Rows(rows)) => SourceInput::Rows(spread(rows)),
            (_, SourceInput::Keyed(keyed)) => SourceInput::Keyed(spread(keyed)),
        })
        .collect();
    let mut renderer = Renderer {
        plan,
        text: query_text,
        sources,
        steps: HashMap::new(),
        failures: Vec::new(),
    };
    let outputs = plan
        .outputs
        .iter()
        .enumerate()
        .map(|(i, output)| {
            let mode = modes.get(i).copied().unwrap_or(EmitMode::Final);
            let rows = renderer.render_rel(&output.rel, mode);
            if plan.uses_arrival_order() {
                // Arrival positions ride along through steps, never out.
                rows.map(|mut row| {
                    row.remove(ARRIVAL_COLUMN);
                    row
                })
            } else {
                rows
            }
        })
        .collect();
    let failures = scope.concatenate(renderer.failures);
    Rendered { outputs, failures }
}

/// Spreads a source's events over workers round-robin.
fn spread<D: differential_dataflow::ExchangeData>(
    events: VecCollection<'_, Time, D, isize>,
) -> VecCollection<'_, Time, D, isize> {
    let mut next: u64 = 0;
    events
        .inner
        .exchange(move |_| {
            next = next.wrapping_add(1);
            next
        })
        .as_collection()
}

/// An aggregate as [`Renderer::aggregate_evaluated`] computes it.
struct AggregateSpec<'p> {
    name: String,
    window: &'p WindowPlan,
    /// Group keys and session partition keys.
    key_count: usize,
    aggregates: &'p [AggregatePlan],
    mode: EmitMode,
    /// The columns of a fused projection (see [`fused_projection`]).
    fused: Option<Vec<FusedColumn>>,
}

struct Renderer<'a, 'scope> {
    plan: &'a Plan,
    text: &'a str,
    sources: Vec<SourceInput<'scope>>,
    steps: HashMap<(usize, EmitMode), Rows<'scope>>,
    failures: Vec<Failures<'scope>>,
}

impl<'scope> Renderer<'_, 'scope> {
    fn render_rel(&mut self, rel: &Rel, mode: EmitMode) -> Rows<'scope> {
        match rel {
            Rel::Source(id) => match self.sources.get(*id) {
                Some(SourceInput::Rows(rows)) => rows.clone(),
                Some(SourceInput::Keyed(_)) => {
                    unreachable!("invariant: a source fed keyed is read by its aggregate only")
                }
                None => unreachable!("invariant: the binder only creates sources that exist"),
            },
            Rel::Step(id) => {
                if let Some(rows) = self.steps.get(&(*id, mode)) {
                    return rows.clone();
                }
                let step = self
                    .plan
                    .steps
                    .get(*id)
                    .expect("invariant: the binder only references steps that exist");
                let rows = self.render_rel(&step.rel, mode);
                self.steps.insert((*id, mode), rows.clone());
                rows
            }
            Rel::Filter {
                input, predicate, ..
            } => {
                let rows = self.render_rel(input, mode);
                let predicate = predicate.clone();
                let name = rel.operator_name(self.plan, self.text);
                self.fallible_then(
                    rows,
                    name,
                    move |row, ctx| Ok(ops::is_true(&eval(&predicate, row, ctx)?)),
                    |row, keep| keep.then_some(row),
                )
            }
            Rel::Analytic {
                input, functions, ..
            } => {
                let rows = self.render_rel(input, mode);
                let name = rel.operator_name(self.plan, self.text);
                functions
                    .iter()
                    .enumerate()
                    .fold(rows, |rows, (i, function)| {
                        self.render_analytic(rows, &name, i, function)
                    })
            }
            Rel::Project { input, items, .. } => {
                if let Some(fused) = self.fuse_into_aggregate(input, items, mode) {
                    return fused;
                }
                let rows = self.render_rel(input, mode);
                let items = items.clone();
                let distinct = distinct_columns(&items);
                let arrival = self.plan.uses_arrival_order();
                let name = rel.operator_name(self.plan, self.text);
                self.fallible(rows, name, move |row, ctx| {
                    if distinct && !arrival {
                        project_columns(&items, row, ctx).map(Some)
                    } else {
                        project(&items, distinct, row, ctx).map(Some)
                    }
                })
            }
            Rel::Aggregate {
                input,
                window,
                keys,
                aggregates,
                ..
            } => {
                let input = self.aggregate_input(input, mode);
                let name = rel.operator_name(self.plan, self.text);
                self.render_aggregate(input, name, window, keys, aggregates, mode, None)
            }
            Rel::Nest { input, alias } => {
                let alias = alias.clone();
                let time_name = time_column(&alias);
                self.render_rel(input, mode)
                    .inner
                    .map(move |(row, time, diff): (Row, Time, isize)| {
                        let mut nested = Record::with_capacity(2);
                        nested.push_unchecked(alias.clone(), Value::Record(row));
                        nested.push_unchecked(time_name.clone(), Value::DateTime(DateTime(time)));
                        (nested, time, diff)
                    })
                    .as_collection()
            }
            Rel::TemporalJoin {
                left,
                right,
                left_keys,
                right_keys,
                residual,
                left_outer,
                low,
                high,
                unmatched_delay,
                ..
            } => {
                let name = rel.operator_name(self.plan, self.text);
                let left_rows = self.render_rel(left, mode);
                let right_rows = self.render_rel(right, mode);
                let spec = temporal_join::TemporalSpec {
                    residual: residual.clone(),
                    left_outer: *left_outer,
                    low: *low,
                    high: *high,
                    unmatched_delay: *unmatched_delay,
                };
                self.render_temporal_join(
                    name,
                    left_rows,
                    right_rows,
                    left_keys.clone(),
                    right_keys.clone(),
                    spec,
                )
            }
            Rel::Apply {
                input,
                outer,
                unfold,
                argument,
                alias,
                ..
            } => {
                let rows = self.render_rel(input, mode);
                let name = rel.operator_name(self.plan, self.text);
                let (outer, unfold, argument, alias) =
                    (*outer, *unfold, argument.clone(), alias.clone());
                self.fallible(rows, name, move |row, ctx| {
                    let elements = unfold_value(unfold, eval(&argument, row, ctx)?);
                    let mut out = Vec::with_capacity(elements.len().max(1));
                    if elements.is_empty() && outer {
                        let mut with = row.clone();
                        with.set(
                            alias.clone(),
                            Value::Record(unfold_record(unfold, Value::Null, Value::Null)),
                        );
                        out.push(with);
                    }
                    for (first, second) in elements {
                        let mut with = row.clone();
                        with.set(
                            alias.clone(),
                            Value::Record(unfold_record(unfold, first, second)),
                        );
                        out.push(with);
                    }
                    Ok(Some(out))
                })
                .flat_map(|rows: Vec<Row>| rows)
            }
            Rel::LookupJoin {
                left,
                right,
                left_keys,
                right_keys,
                residual,
                left_outer,
                right_alias,
                ..
            } => {
                let name = rel.operator_name(self.plan, self.text);
                let left_rows = self.render_rel(left, mode);
                let right_rows = self.render_rel(right, mode);
                self.render_lookup_join(
                    left_rows,
                    right_rows,
                    left_keys.clone(),
                    right_keys.clone(),
                    LookupSpec {
                        name,
                        residual: residual.clone(),
                        left_outer: *left_outer,
                        right_alias: right_alias.clone(),
                    },
                )
            }
            Rel::MatchRecognize(mr) => {
                let rows = self.render_rel(&mr.input, mode);
                let name = rel.operator_name(self.plan, self.text);
                self.render_match_recognize(rows, name, mr)
            }
            Rel::Union { inputs, .. } => {
                let mut rendered = inputs.iter().map(|r| self.render_rel(r, mode));
                let first = rendered
                    .next()
                    .expect("invariant: a union has at least one input");
                first.concatenate(rendered)
            }
        }
    }

    /// Windowed aggregation. Each row is evaluated once (keys, aggregate
    /// arguments), then aggregated by one of three operators:
    /// - `final` tumbling, hopping and snapshot windows: [`window_end`],
    ///   once per window at its end;
    /// - sliding windows: [`sliding`], at each change point;
    /// - the rest (changelogs, session windows, mixed `Windows(...)`): the
    ///   row is placed in its windows at the window's end time and
    ///   retracted one tick later, and reduced per (keys, window) in
    ///   differential. The reduction's insertions are the window results;
    ///   its retractions (the expiry one tick after the end) are not
    ///   output. The expiry lets the arrangement compact a window away once
    ///   time has passed it, so state is bounded by the open windows.
    ///
    /// The window property tests check each against one reference.
    /// A projection of an aggregate's result columns (see
    /// [`fused_projection`]), rendered as the aggregate writing the
    /// projected rows itself; `None` when the projection needs its own
    /// operator.
    fn fuse_into_aggregate(
        &mut self,
        input: &Rel,
        items: &[ProjectItem],
        mode: EmitMode,
    ) -> Option<Rows<'scope>> {
        let Rel::Aggregate {
            input: aggregated,
            window,
            keys,
            aggregates,
            ..
        } = input
        else {
            return None;
        };
        if mode != EmitMode::Final {
            return None;
        }
        let columns = fused_columns(input, items, self.plan)?;
        let input_rows = self.aggregate_input(aggregated, mode);
        let name = input.operator_name(self.plan, self.text);
        Some(self.render_aggregate(
            input_rows,
            name,
            window,
            keys,
            aggregates,
            mode,
            Some(columns),
        ))
    }

    /// An aggregate's input: a source's keyed events when the runtime feeds
    /// them so (see [`direct`]), else rows.
    fn aggregate_input(&mut self, input: &Rel, mode: EmitMode) -> SourceInput<'scope> {
        if let Rel::Source(id) = input {
            if let Some(SourceInput::Keyed(keyed)) = self.sources.get(*id) {
                return SourceInput::Keyed(keyed.clone());
            }
        }
        SourceInput::Rows(self.render_rel(input, mode))
    }

    /// `fused`: the columns of a projection the aggregate writes directly
    /// (see [`Self::fuse_into_aggregate`]); `None` for the aggregate's own
    /// result columns.
    #[allow(clippy::too_many_arguments)]
    fn render_aggregate(
        &mut self,
        input: SourceInput<'scope>,
        name: String,
        window: &WindowPlan,
        keys: &[ScalarExpr],
        aggregates: &[AggregatePlan],
        mode: EmitMode,
        fused: Option<Vec<FusedColumn>>,
    ) -> Rows<'scope> {
        // Session partition keys ride along as extra key values.
        let mut keys = keys.to_vec();
        keys.extend(session_partition_by(window));
        let spec = AggregateSpec {
            name,
            window,
            key_count: keys.len(),
            aggregates,
            mode,
            fused,
        };
        let rows = match input {
            SourceInput::Rows(rows) => rows,
            SourceInput::Keyed(keyed) => return self.aggregate_evaluated(keyed, spec),
        };
        let eval_aggregates = aggregates.to_vec();
        let slot_count: usize = aggregates.iter().map(|a| 1 + a.order_by.len()).sum();
        let evaluated = self.fallible(rows, spec.name.clone(), move |row, ctx| {
            let mut key_values = Vec::with_capacity(keys.len());
            for key in &keys {
                key_values.push(eval(key, row, ctx)?);
            }
            let mut slots = Vec::with_capacity(slot_count);
            for aggregate in &eval_aggregates {
                slots.push(match &aggregate.argument {
                    Some(e) => eval(e, row, ctx)?,
                    // COUNT(*) needs no value; the row-valued aggregates
                    // (TopOne, CollectTop, Collect, COUNT(DISTINCT input)) do.
                    None if aggregate.kind == aggregate::AggregateKind::CountStar => Value::Null,
                    None => Value::Record(visible(row)),
                });
                for order in &aggregate.order_by {
                    slots.push(eval(order, row, ctx)?);
                }
            }
            Ok(Some((key_values, slots)))
        });
        self.aggregate_evaluated(evaluated, spec)
    }

    /// Aggregates evaluated events (group keys, then partition keys, and
    /// argument slots) per window, and makes the result rows.
    fn aggregate_evaluated(
        &mut self,
        evaluated: VecCollection<'scope, Time, Keyed, isize>,
        spec: AggregateSpec<'_>,
    ) -> Rows<'scope> {
        let AggregateSpec {
            name,
            window,
            key_count: keys_len,
            aggregates,
            mode,
            fused,
        } = spec;
        let layout = AggregateLayout::new(aggregates);
        let members = window_members(window);
        let partition_len = session_partition_by(window).len();
        let reduced = if window_end::applies(&members, mode) {
            window_end::aggregate_at_window_ends(evaluated.inner, &name, members.clone(), layout)
        } else if sliding::applies(&members) {
            sliding::aggregate_sliding(evaluated.inner, &name, members.clone(), layout)
        } else {
            reduce_in_differential(evaluated, &name, &members, mode, partition_len, layout)
        };
        let ids: Vec<Value> = members
            .iter()
            .map(|(id, _)| id.clone().map_or(Value::Null, Value::String))
            .collect();
        let with_id = matches!(window, WindowPlan::Multiple(_));
        // Final: a window's result is the reduction's insertion at its end.
        // Changes: every update up to the end (insertions and corrections);
        // the expiry one tick after the end is never output. A sliding
        // window's results are insertions at its change points in both modes.
        let sliding: Vec<bool> = members
            .iter()
            .map(|(_, w)| matches!(w, WindowPlan::Sliding { .. }))
            .collect();
        let sliding_for_rows = sliding.clone();
        // Column names are shared by every result row: made once here.
        let key_names: Vec<Name> = (0..keys_len).map(key_column).collect();
        let aggregate_names: Vec<Name> = (0..aggregates.len()).map(aggregate_column).collect();
        let window_id_name = Name::from(WINDOW_ID_COLUMN);
        let window_end_name = Name::from(WINDOW_END_COLUMN);
        let (ok, err) = reduced
            .filter(move |(((_, end, member), _), time, diff)| {
                let is_sliding = sliding.get(*member as usize).copied().unwrap_or(false);
                match mode {
                    EmitMode::Final => *diff > 0,
                    EmitMode::Changes if is_sliding => *diff > 0,
                    EmitMode::Changes => time <= end,
                }
            })
            .ok_err::<Vec<_>, _, Vec<_>, _, _>(
                move |(((key_values, end, member), result), time, diff)| match (result, &fused) {
                    (Ok(values), Some(columns)) => {
                        let row = fused_row(columns, key_values, values, time);
                        Ok((row, time, diff))
                    }
                    (Ok(values), None) => {
                        let mut row = Record::with_capacity(key_values.len() + values.len() + 1);
                        for (name, v) in key_names.iter().zip(key_values) {
                            row.push_unchecked(name.clone(), v);
                        }
                        for (name, v) in aggregate_names.iter().zip(values) {
                            row.push_unchecked(name.clone(), v);
                        }
                        if with_id {
                            let id = ids.get(member as usize).cloned().unwrap_or(Value::Null);
                            row.push_unchecked(window_id_name.clone(), id);
                        }
                        // In a changelog a window's rows appear before its
                        // end; System.Timestamp() still means the end.
                        let is_sliding = sliding_for_rows
                            .get(member as usize)
                            .copied()
                            .unwrap_or(false);
                        if mode == EmitMode::Changes && !is_sliding {
                            row.push_unchecked(
                                window_end_name.clone(),
                                Value::DateTime(DateTime(end)),
                            );
                        }
                        Ok((row, time, diff))
                    }
                    (Err((reason, message)), _) => {
                        let mut row = Record::new();
                        for (name, v) in key_names.iter().zip(key_values) {
                            row.push_unchecked(name.clone(), v);
                        }
                        Err((
                            Failure {
                                operator: name.clone(),
                                reason,
                                message,
                                row,
                            },
                            time,
                            diff,
                        ))
                    }
                },
            );
        self.failures.push(err);
        ok.as_collection()
    }

    /// One analytic function (see [`analytic`]): each row is evaluated
    /// (partition key, WHEN, argument, ORDER BY keys, default), then the
    /// function's operator adds its value as column `analytic_column(i)`.
    fn render_analytic(
        &mut self,
        rows: Rows<'scope>,
        name: &str,
        i: usize,
        function: &AnalyticPlan,
    ) -> Rows<'scope> {
        let plan = function.clone();
        let evaluated = self.fallible_then(
            rows,
            name.to_string(),
            move |row, ctx| {
                let key = join_key(&plan.partition_by, row, ctx)?;
                let matches = match &plan.when {
                    Some(when) => ops::is_true(&eval(when, row, ctx)?),
                    None => true,
                };
                let value = match &plan.argument {
                    Some(e) => eval(e, row, ctx)?,
                    None => Value::Record(visible(row)),
                };
                let order_keys = plan
                    .order_by
                    .iter()
                    .map(|e| eval(e, row, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                let default = match &plan.kind {
                    AnalyticKind::Lag {
                        default: Some(d), ..
                    }
                    | AnalyticKind::Last { default: Some(d) } => eval(d, row, ctx)?,
                    _ => Value::Null,
                };
                Ok((key, matches, value, order_keys, default))
            },
            |row, (key, matches, value, order_keys, default)| {
                Some(analytic::Evaluated {
                    key,
                    row,
                    matches,
                    value,
                    order_keys,
                    default,
                })
            },
        );
        let spec = analytic::AnalyticSpec {
            function: match &function.kind {
                AnalyticKind::Lag { offset, .. } => analytic::Function::Lag { offset: *offset },
                AnalyticKind::Last { .. } => analytic::Function::Last,
                AnalyticKind::IsFirst { size } => analytic::Function::IsFirst { size: *size },
                AnalyticKind::Aggregate(kind) => analytic::Function::Aggregate(kind.clone()),
            },
            duration: function.duration,
            column: analytic_column(i),
        };
        let operator = name.to_string();
        let (ok, err) = analytic::compute(evaluated.inner, spec, name)
            .ok_err::<Vec<_>, _, Vec<_>, _, _>(move |(outcome, time, diff)| match outcome {
                Ok(row) => Ok((row, time, diff)),
                Err((row, message)) => Err((
                    Failure {
                        operator: operator.clone(),
                        reason: "InvalidArgument".to_string(),
                        message,
                        row,
                    },
                    time,
                    diff,
                )),
            });
        self.failures.push(err);
        ok.as_collection()
    }

    /// A stream joined with reference data. Each stream row is held by the
    /// join only at its own time (inserted, then retracted one tick later),
    /// so the join keeps no stream history; the reference table is held
    /// whole (arranged once). The join's insertions are the results. A
    /// retraction from upstream (a `changes` step) goes through a second
    /// join of its own, negated, so it retracts the rows its insertion made
    /// rather than coming back as a row when it is released.
    fn render_lookup_join(
        &mut self,
        left_rows: Rows<'scope>,
        right_rows: Rows<'scope>,
        left_keys: Vec<ScalarExpr>,
        right_keys: Vec<ScalarExpr>,
        lookup: LookupSpec,
    ) -> Rows<'scope> {
        let keyed_left = self.fallible_then(
            left_rows,
            lookup.name.clone(),
            move |row, ctx| join_key(&left_keys, row, ctx),
            |row, key| Some((key, row)),
        );
        let keyed_right = self.fallible_then(
            right_rows,
            lookup.name.clone(),
            move |row, ctx| join_key(&right_keys, row, ctx),
            |row, key| Some((key, row)),
        );
        let reference = keyed_right.arrange_by_key();
        let inserted = keyed_left
            .inner
            .clone()
            .filter(|(_, _, diff)| *diff > 0)
            .as_collection();
        let retracted = keyed_left
            .inner
            .filter(|(_, _, diff)| *diff < 0)
            .map(|(data, time, diff)| (data, time, -diff))
            .as_collection();
        let from_insertions = self.lookup_insertions(inserted, &reference, &lookup);
        let from_retractions = self.lookup_insertions(retracted, &reference, &lookup);
        from_insertions.concat(from_retractions.negate())
    }

    /// [`Self::render_lookup_join`] for stream rows that are insertions.
    fn lookup_insertions(
        &mut self,
        keyed_left: VecCollection<'scope, Time, (Vec<Value>, Row), isize>,
        reference: &ReferenceArrangement<'scope>,
        lookup: &LookupSpec,
    ) -> Rows<'scope> {
        let keyed_left = keyed_left
            .inner
            .flat_map(
                |((key, row), time, diff): ((Vec<Value>, Row), Time, isize)| {
                    [
                        ((key.clone(), row.clone()), time, diff),
                        ((key, row), time.saturating_add(1), -diff),
                    ]
                },
            )
            .as_collection();
        let alias = lookup.right_alias.clone();
        let pairs = keyed_left.clone().join_core(
            reference.clone(),
            move |_key, left: &Row, right: &Row| {
                let mut merged = left.clone();
                merged.set(
                    alias.clone(),
                    right.get(&alias).cloned().unwrap_or(Value::Null),
                );
                Some((left.clone(), merged))
            },
        );
        let matched = match lookup.residual.clone() {
            Some(predicate) => self.fallible_then(
                pairs.map(|(l, m)| pair_row(l, m)),
                lookup.name.clone(),
                move |row, ctx| {
                    let merged = match row.get(PAIR_MERGED) {
                        Some(Value::Record(merged)) => merged,
                        _ => &Record::new(),
                    };
                    Ok(ops::is_true(&eval(&predicate, merged, ctx)?))
                },
                |row, keep| keep.then(|| split_pair(row)),
            ),
            None => pairs,
        };
        // A reference row replaced at an event's own time gives the pair an
        // insertion and a retraction at that time: keep net insertions.
        let mut results = positive(matched.clone().map(|(_, merged)| merged));
        if lookup.left_outer {
            let matched_left = matched.map(|(left, _)| (left, ())).distinct();
            let unmatched = keyed_left
                .map(|(_, row)| (row, ()))
                .antijoin(matched_left.map(|(row, _)| row))
                .map(|(row, _)| row);
            results = results.concat(positive(unmatched));
        }
        results
    }

    /// A join between streams within a time bound: keys are evaluated
    /// here (a failure is routed like any other), the pairing is
    /// [`temporal_join::temporal_join`]'s.
    fn render_temporal_join(
        &mut self,
        name: String,
        left_rows: Rows<'scope>,
        right_rows: Rows<'scope>,
        left_keys: Vec<ScalarExpr>,
        right_keys: Vec<ScalarExpr>,
        spec: temporal_join::TemporalSpec,
    ) -> Rows<'scope> {
        let keyed_left = self.fallible_then(
            left_rows,
            name.clone(),
            move |row, ctx| join_key(&left_keys, row, ctx),
            |row, key| Some((key, row)),
        );
        let keyed_right = self.fallible_then(
            right_rows,
            name.clone(),
            move |row, ctx| join_key(&right_keys, row, ctx),
            |row, key| Some((key, row)),
        );
        let joined = temporal_join::temporal_join(keyed_left.inner, keyed_right.inner, &name, spec);
        let (rows, failures) =
            joined.ok_err::<Vec<_>, _, Vec<_>, _, _>(|(result, time, diff)| match result {
                Ok(row) => Ok((row, time, diff)),
                Err(failure) => Err((failure, time, diff)),
            });
        self.failures.push(failures);
        rows.as_collection()
    }

    /// Applies `logic` to every row: `Ok(Some)` keeps a value, `Ok(None)`
    /// drops the row, `Err` becomes a [`Failure`] of operator `name`.
    fn fallible<D, F>(
        &mut self,
        rows: Rows<'scope>,
        name: String,
        logic: F,
    ) -> VecCollection<'scope, Time, D, isize>
    where
        D: differential_dataflow::Data,
        F: FnMut(&Row, &EvalContext) -> Result<Option<D>, EvalError> + 'static,
    {
        self.fallible_then(rows, name, logic, |_row, kept| kept)
    }

    /// [`Self::fallible`] for values that take the row itself: `check`
    /// reads the row (its error keeps the row for the failure), then
    /// `finish` consumes it. No row is copied on the way.
    fn fallible_then<X, D, F, G>(
        &mut self,
        rows: Rows<'scope>,
        name: String,
        mut check: F,
        mut finish: G,
    ) -> VecCollection<'scope, Time, D, isize>
    where
        D: differential_dataflow::Data,
        F: FnMut(&Row, &EvalContext) -> Result<X, EvalError> + 'static,
        G: FnMut(Row, X) -> Option<D> + 'static,
    {
        let (ok, err) = keep_or_fail(rows.inner, move |(row, time, diff)| {
            let timestamp = match row.fields().last() {
                Some((name, Value::DateTime(end))) if name.as_ref() == WINDOW_END_COLUMN => *end,
                _ => DateTime(time),
            };
            let ctx = EvalContext { timestamp };
            match check(&row, &ctx) {
                Ok(checked) => Ok(finish(row, checked).map(|kept| (kept, time, diff))),
                Err(error) => Err((
                    Failure {
                        operator: name.clone(),
                        reason: error.code().to_string(),
                        message: error.message,
                        row,
                    },
                    time,
                    diff,
                )),
            }
        });
        self.failures.push(err);
        ok.as_collection()
    }
}

/// Timely's `ok_err` with a third outcome: `Ok(Some)` goes to the first
/// output, `Err` to the second, `Ok(None)` nowhere. A filter, projection or
/// evaluation is then one pass over its rows, not `ok_err` and a flat map.
fn keep_or_fail<'scope, D, K, E>(
    input: Stream<'scope, Time, Vec<D>>,
    mut logic: impl FnMut(D) -> Result<Option<K>, E> + 'static,
) -> (Stream<'scope, Time, Vec<K>>, Stream<'scope, Time, Vec<E>>)
where
    D: Clone + 'static,
    K: Clone + 'static,
    E: Clone + 'static,
{
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
    use timely::dataflow::operators::generic::OutputBuilder;

    let mut builder = OperatorBuilder::new("KeepOrFail".to_owned(), input.scope());
    let mut input = builder.new_input(input, Pipeline);
    builder.set_notify_for(0, timely::progress::operate::FrontierInterest::Never);
    let (kept, kept_stream) = builder.new_output();
    let (failed, failed_stream) = builder.new_output();
    let mut kept = OutputBuilder::from(kept);
    let mut failed = OutputBuilder::from(failed);
    builder.build(move |_| {
        move |_frontiers| {
            let mut kept = kept.activate();
            let mut failed = failed.activate();
            input.for_each_stamp(|stamp, batches| {
                let mut kept = kept.session(&stamp);
                let mut failed = failed.session(&stamp);
                for batch in batches {
                    for item in batch.drain(..) {
                        match logic(item) {
                            Ok(Some(item)) => kept.give(item),
                            Ok(None) => {}
                            Err(item) => failed.give(item),
                        }
                    }
                }
            });
        }
    });
    (kept_stream, failed_stream)
}

/// The (index or name, value) pairs APPLY unfolds; anything that is not an
/// array (or record) unfolds to nothing.
fn unfold_value(unfold: Unfold, value: Value) -> Vec<(Value, Value)> {
    match (unfold, value) {
        (Unfold::ArrayElements, Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Value::Bigint(i as i64), v))
            .collect(),
        (Unfold::RecordProperties, Value::Record(record)) => record
            .into_fields()
            .into_iter()
            .map(|(name, v)| (Value::String(name.to_string()), v))
            .collect(),
        _ => Vec::new(),
    }
}

fn unfold_record(unfold: Unfold, first: Value, second: Value) -> Record {
    let (a, b) = match unfold {
        Unfold::ArrayElements => ("ArrayIndex", "ArrayValue"),
        Unfold::RecordProperties => ("PropertyName", "PropertyValue"),
    };
    let mut record = Record::with_capacity(2);
    record.push_unchecked(Name::from(a), first);
    record.push_unchecked(Name::from(b), second);
    record
}

/// Join keys: bigint and float keys that are equal numbers match (§7), so
/// an integral float is keyed as a bigint; `"1"` and `1` stay different.
fn join_key(keys: &[ScalarExpr], row: &Row, ctx: &EvalContext) -> Result<Vec<Value>, EvalError> {
    keys.iter()
        .map(|k| {
            Ok(match eval(k, row, ctx)? {
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Bigint(f as i64),
                other => other,
            })
        })
        .collect()
}

/// The insertions of a collection, once each time is complete: an
/// operator such as an antijoin may insert and retract a row at one time
/// in different batches, so this consolidates before keeping insertions.
fn positive(rows: Rows<'_>) -> Rows<'_> {
    rows.consolidate()
        .inner
        .filter(|(_, _, diff)| *diff > 0)
        .as_collection()
}

/// Reference data arranged by its join key, shared by both halves of a
/// lookup join.
type ReferenceArrangement<'scope> = differential_dataflow::operators::arrange::Arranged<
    'scope,
    differential_dataflow::operators::arrange::TraceAgent<
        differential_dataflow::trace::implementations::ValSpine<Vec<Value>, Row, Time, isize>,
    >,
>;

/// What a lookup join does besides matching keys.
struct LookupSpec {
    name: String,
    residual: Option<ScalarExpr>,
    left_outer: bool,
    right_alias: Name,
}

/// The fields of a (left row, merged row) pair in [`pair_row`].
const PAIR_LEFT: &str = "left";
const PAIR_MERGED: &str = "merged";

/// Carries a (left row, merged row) pair through a fallible operator.
fn pair_row(left: Row, merged: Row) -> Row {
    let mut row = Record::with_capacity(2);
    row.push_unchecked(Name::from(PAIR_LEFT), Value::Record(left));
    row.push_unchecked(Name::from(PAIR_MERGED), Value::Record(merged));
    row
}

fn split_pair(row: Row) -> (Row, Row) {
    let mut left = Record::new();
    let mut merged = Record::new();
    for (name, value) in row.into_fields() {
        if let Value::Record(r) = value {
            if name.as_ref() == PAIR_LEFT {
                left = r;
            } else {
                merged = r;
            }
        }
    }
    (left, merged)
}

/// Places evaluated events in their windows (sessions by their own
/// operator) and reduces each group with a differential `reduce`: the path
/// for changelogs, sliding and session windows.
fn reduce_in_differential<'scope>(
    evaluated: VecCollection<'scope, Time, session::Keyed, isize>,
    name: &str,
    members: &[(Option<String>, WindowPlan)],
    mode: EmitMode,
    partition_len: usize,
    layout: AggregateLayout,
) -> Stream<'scope, Time, Vec<window_end::Computed>> {
    let placement_members = members.to_vec();
    let scope = evaluated.inner.scope();
    let placed = evaluated.inner.clone().flat_map(
        move |((key_values, slots), time, diff): ((Vec<Value>, Vec<Value>), Time, isize)| {
            let mut out = Vec::new();
            for (member, (_, window)) in placement_members.iter().enumerate() {
                place(window, time, mode, |end, at, sign| {
                    out.push((
                        ((key_values.clone(), end, member as u32), slots.clone()),
                        at,
                        diff * sign,
                    ));
                });
            }
            out
        },
    );
    let mut streams = vec![placed];
    for (member, (_, window)) in members.iter().enumerate() {
        if let WindowPlan::Session {
            timeout,
            max_duration,
            ..
        } = window
        {
            let spec = session::SessionSpec {
                timeout: *timeout,
                max_duration: *max_duration,
                partition_len,
                member: member as u32,
            };
            streams.push(session::assign_sessions(evaluated.inner.clone(), spec));
        }
    }
    let placed = if streams.len() == 1 {
        streams.remove(0)
    } else {
        scope.concatenate(streams)
    }
    .as_collection();
    let reduced = placed.reduce_named(
        name,
        move |_key, input: &[(&Vec<Value>, isize)], output: &mut Vec<(AggregateResult, isize)>| {
            output.push((layout.compute(input), 1));
        },
    );
    reduced.inner
}

/// The one capability a buffering operator holds, at the least time it may
/// still emit at: it takes the least stamp of its input, and moves up (to
/// the input frontier, or the earliest row still buffered) once the
/// operator has emitted what comes before; with nothing left it is dropped.
#[derive(Default)]
struct HeldCapability(Option<Capability<Time>>);

impl HeldCapability {
    /// Keeps `retained`, a stamp's capability, when it is earlier than the
    /// one held.
    fn hold_least(&mut self, retained: Option<Capability<Time>>) {
        let Some(retained) = retained else {
            return;
        };
        match &self.0 {
            Some(held) if held.time() <= retained.time() => {}
            _ => self.0 = Some(retained),
        }
    }

    fn get(&self) -> Option<&Capability<Time>> {
        self.0.as_ref()
    }

    /// Moves the capability up to `time` (never down); `None` drops it.
    fn advance_to(&mut self, time: Option<Time>) {
        match time {
            Some(t) => {
                if let Some(held) = self.0.as_mut() {
                    if *held.time() < t {
                        held.downgrade(&t);
                    }
                }
            }
            None => self.0 = None,
        }
    }
}

/// The members of a window: one, or each of `Windows(...)` with its id.
fn window_members(window: &WindowPlan) -> Vec<(Option<String>, WindowPlan)> {
    match window {
        WindowPlan::Multiple(members) => members.clone(),
        other => vec![(None, other.clone())],
    }
}

/// Calls `emit(window_end, at_time, sign)` for each update that places an
/// event at `time` in `window`: `+1` when it enters a window's content,
/// `-1` when it leaves. Window ends of hopping and snapshot windows are part
/// of the group key; a sliding window's content is simply the events
/// between entry and exit (`(T - size, T]` at time `T`).
///
/// # Contract
/// Every emitted time is `>= time`, as timely requires.
pub fn place(
    window: &WindowPlan,
    time: Time,
    mode: EmitMode,
    mut emit: impl FnMut(Time, Time, isize),
) {
    // Final results need a window's content only at its end; a changelog
    // needs it from each event's own time on.
    let enter = |end: Time| match mode {
        EmitMode::Final => end,
        EmitMode::Changes => time,
    };
    match window {
        WindowPlan::Hopping { size, hop, offset } => {
            let mut end = first_end_at_or_after(time, *hop, *offset);
            while end < time.saturating_add(*size) {
                emit(end, enter(end), 1);
                emit(end, end.saturating_add(1), -1);
                match end.checked_add(*hop) {
                    Some(next) => end = next,
                    None => break,
                }
            }
        }
        WindowPlan::Snapshot => {
            emit(time, enter(time), 1);
            emit(time, time.saturating_add(1), -1);
        }
        WindowPlan::Sliding { size } => {
            emit(0, time, 1);
            emit(0, time.saturating_add(*size), -1);
        }
        // Sessions are placed by their own operator; Windows(...) by member.
        WindowPlan::Session { .. } | WindowPlan::Multiple(_) => {}
    }
}

/// The smallest grid point `offset + k * hop` that is `>= time`: the end of
/// the first `(end - size, end]` window holding `time`.
pub fn first_end_at_or_after(time: Time, hop: i64, offset: i64) -> Time {
    let hop = hop.max(1);
    let phase = offset.rem_euclid(hop);
    let shifted = time.saturating_sub(phase);
    let up = shifted.saturating_add((hop - shifted.rem_euclid(hop)) % hop);
    up.saturating_add(phase)
}

/// A group's running totals, one per aggregate, held inline for up to four
/// aggregates (see [`AggregateLayout::fold`]).
type Folds = smallvec::SmallVec<[aggregate::IntegerFold; 4]>;

/// A group's aggregate values, or its first failure as (reason code, message).
type AggregateResult = Result<Vec<Value>, (String, String)>;

/// Where each aggregate's argument and ORDER BY keys sit in a row's slots.
#[derive(Clone)]
struct AggregateLayout {
    kinds: Vec<aggregate::AggregateKind>,
    /// (first slot, number of order keys) per aggregate.
    slots: Vec<(usize, usize)>,
    /// Every aggregate can summarise bigint rows in an
    /// [`aggregate::IntegerFold`] (COUNT(*), COUNT, SUM, AVG).
    foldable: bool,
}

impl AggregateLayout {
    fn new(aggregates: &[AggregatePlan]) -> Self {
        let mut slots = Vec::with_capacity(aggregates.len());
        let mut next = 0;
        for a in aggregates {
            slots.push((next, a.order_by.len()));
            next += 1 + a.order_by.len();
        }
        // With no aggregate (a GROUP BY that only deduplicates) there is
        // nothing to fold a row into: rows are kept.
        let foldable = !aggregates.is_empty()
            && aggregates
                .iter()
                .all(|a| a.order_by.is_empty() && aggregate::IntegerFold::applies_to(&a.kind));
        AggregateLayout {
            kinds: aggregates.iter().map(|a| a.kind.clone()).collect(),
            slots,
            foldable,
        }
    }

    /// The layout of `kinds`, each over one argument and no ORDER BY (for
    /// the operators' unit tests).
    #[cfg(test)]
    fn for_kinds(kinds: &[aggregate::AggregateKind]) -> Self {
        let plans: Vec<AggregatePlan> = kinds
            .iter()
            .map(|kind| AggregatePlan {
                kind: kind.clone(),
                argument: Some(ScalarExpr::Literal(Value::Null)),
                order_by: Vec::new(),
            })
            .collect();
        AggregateLayout::new(&plans)
    }

    /// Folds a row's slots into `folds` (one per aggregate) when every
    /// aggregate can take it that way; false, changing nothing, otherwise.
    fn fold(&self, folds: &mut Folds, slots: &[Value], diff: isize) -> bool {
        let argument = |&(first, _): &(usize, usize)| slots.get(first).unwrap_or(&Value::Null);
        if !self.foldable
            || !self
                .kinds
                .iter()
                .zip(&self.slots)
                .all(|(kind, at)| aggregate::IntegerFold::takes(kind, argument(at)))
        {
            return false;
        }
        if folds.len() != self.kinds.len() {
            folds.resize(self.kinds.len(), aggregate::IntegerFold::default());
        }
        for (fold, at) in folds.iter_mut().zip(&self.slots) {
            fold.add(argument(at), diff);
        }
        true
    }

    /// The aggregates' values, or the first failure as (reason code, message).
    fn compute(&self, group: &[(&Vec<Value>, isize)]) -> AggregateResult {
        self.compute_onto(&[], group)
    }

    /// [`AggregateLayout::compute`] over the rows `folds` summarise (see
    /// [`AggregateLayout::fold`]; empty when none are) and `group`.
    fn compute_onto(
        &self,
        folds: &[aggregate::IntegerFold],
        group: &[(&Vec<Value>, isize)],
    ) -> AggregateResult {
        let mut values = Vec::with_capacity(self.kinds.len());
        let mut inputs = Vec::with_capacity(group.len());
        let no_fold = aggregate::IntegerFold::default();
        for (i, (kind, (first, order_count))) in self.kinds.iter().zip(&self.slots).enumerate() {
            let fold = folds.get(i).unwrap_or(&no_fold);
            inputs.clear();
            for (slots, count) in group {
                let value = slots.get(*first).unwrap_or(&Value::Null);
                let order_keys = slots.get(first + 1..first + 1 + order_count).unwrap_or(&[]);
                inputs.push(AggregateInput {
                    value,
                    order_keys,
                    count: *count,
                });
            }
            values.push(aggregate::compute_onto(kind, fold, &inputs).map_err(|e| {
                let name = aggregate::name(kind);
                let named = e
                    .message
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(": "));
                let message = match kind {
                    // A UDA's messages already name it (uda.Name: ...), as
                    // do conversions made for an aggregate (SUM: cannot ...).
                    aggregate::AggregateKind::Uda(_) => e.message.clone(),
                    _ if named => e.message.clone(),
                    _ => format!("{name}: {}", e.message),
                };
                (e.code().to_string(), message)
            })?);
        }
        Ok(values)
    }
}

/// Computes a SELECT list over one row. Columns are added left to right
/// and the first column of a name wins: a `*` expansion skips names already
/// projected to its left, and later ones skip names it produced (§1 SELECT).
///
/// `distinct` says the items are columns with distinct names (see
/// [`distinct_columns`]), so no name needs checking.
fn project(
    items: &[ProjectItem],
    distinct: bool,
    row: &Row,
    ctx: &EvalContext,
) -> Result<Row, EvalError> {
    let mut out = Record::with_capacity(items.len().max(row.len()));
    for item in items {
        match item {
            ProjectItem::Column { name, expr } if distinct => {
                out.push_unchecked(name.clone(), eval(expr, row, ctx)?);
            }
            ProjectItem::Column { name, expr } => {
                out.push_if_absent(name.clone(), eval(expr, row, ctx)?);
            }
            ProjectItem::Wildcard => {
                for (name, value) in row.fields() {
                    // Input metadata, arrival positions and analytic values
                    // stay hidden (GetMetadataPropertyValue reads the first).
                    if is_hidden_column(name) {
                        continue;
                    }
                    out.push_if_absent(name.clone(), value.clone());
                }
            }
            ProjectItem::Flatten(expr) => {
                if let Value::Record(record) = eval(expr, row, ctx)? {
                    for (name, value) in record.into_fields() {
                        if is_hidden_column(&name) {
                            continue;
                        }
                        out.push_if_absent(name, value);
                    }
                }
            }
        }
    }
    // A step's rows keep their arrival position for the analytic functions
    // of the steps that read them.
    if let Some(position) = row.get(ARRIVAL_COLUMN) {
        out.set(Name::from(ARRIVAL_COLUMN), position.clone());
    }
    Ok(out)
}

/// [`project`] for items that are columns of distinct names (see
/// [`distinct_columns`]) in a query without arrival positions: the fields
/// are gathered and made a record once.
fn project_columns(items: &[ProjectItem], row: &Row, ctx: &EvalContext) -> Result<Row, EvalError> {
    let mut fields = Vec::with_capacity(items.len());
    for item in items {
        if let ProjectItem::Column { name, expr } = item {
            fields.push((name.clone(), eval(expr, row, ctx)?));
        }
    }
    Ok(Record::from_unique_fields(fields))
}

/// True when every item is a column and no two names are equal
/// (case-insensitively): the projection's names need no checking per row.
fn distinct_columns(items: &[ProjectItem]) -> bool {
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let ProjectItem::Column { name, .. } = item else {
            return false;
        };
        if names.iter().any(|n: &&Name| n.eq_ignore_ascii_case(name)) {
            return false;
        }
        names.push(name);
    }
    true
}

/// Where a column of a projection fused into an aggregate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResultColumn {
    /// The `i`-th group key (`key_column(i)`).
    Key(usize),
    /// The `j`-th aggregate (`aggregate_column(j)`).
    Aggregate(usize),
    /// `System.Timestamp()`: the result row's time.
    Timestamp,
}

/// One output column of a fused projection.
#[derive(Clone, Debug)]
struct FusedColumn {
    name: Name,
    source: ResultColumn,
    /// No later column reads the same source, so its value can be moved.
    last_use: bool,
}

/// The columns of `items` when each one is a group key, an aggregate or
/// `System.Timestamp()` of an aggregate's result (with `keys` key and
/// `aggregates` aggregate columns), under distinct names: the common
/// `SELECT key, COUNT(*) AS n, System.Timestamp() AS t ... GROUP BY`. The
/// aggregate then writes these rows itself, rather than a row of its own
/// columns that a projection copies (the same values: a projection of
/// these items cannot fail). `None` for any other projection.
fn fused_projection(
    items: &[ProjectItem],
    keys: usize,
    aggregates: usize,
) -> Option<Vec<FusedColumn>> {
    if !distinct_columns(items) {
        return None;
    }
    let result_column = |column: &Name| -> Option<ResultColumn> {
        let named = |candidate: Name| column.eq_ignore_ascii_case(&candidate);
        (0..keys)
            .find(|&i| named(key_column(i)))
            .map(ResultColumn::Key)
            .or_else(|| {
                (0..aggregates)
                    .find(|&j| named(aggregate_column(j)))
                    .map(ResultColumn::Aggregate)
            })
    };
    let mut columns: Vec<FusedColumn> = Vec::with_capacity(items.len());
    for item in items {
        let ProjectItem::Column { name, expr } = item else {
            return None;
        };
        let source = match expr {
            ScalarExpr::SystemTimestamp => ResultColumn::Timestamp,
            ScalarExpr::Column(column) => result_column(column)?,
            _ => return None,
        };
        columns.push(FusedColumn {
            name: name.clone(),
            source,
            last_use: true,
        });
    }
    for i in 0..columns.len() {
        let source = columns[i].source;
        columns[i].last_use = !columns[i + 1..].iter().any(|c| c.source == source);
    }
    Some(columns)
}

/// The columns of a projection of `input` that the aggregate it reads
/// writes itself in final mode (see `Renderer::fuse_into_aggregate`);
/// `None` when the projection keeps its own operator.
fn fused_columns(input: &Rel, items: &[ProjectItem], plan: &Plan) -> Option<Vec<FusedColumn>> {
    let Rel::Aggregate {
        window,
        keys,
        aggregates,
        ..
    } = input
    else {
        return None;
    };
    if matches!(window, WindowPlan::Multiple(_)) || plan.uses_arrival_order() {
        return None;
    }
    let key_count = keys.len() + session_partition_by(window).len();
    fused_projection(items, key_count, aggregates.len())
}

/// The row a fused projection (`columns`) writes for a group's key values
/// and aggregate values at `time`.
fn fused_row(
    columns: &[FusedColumn],
    mut key_values: Vec<Value>,
    mut values: Vec<Value>,
    time: Time,
) -> Row {
    let mut fields = Vec::with_capacity(columns.len());
    for column in columns {
        let (from, at) = match column.source {
            ResultColumn::Key(i) => (&mut key_values, i),
            ResultColumn::Aggregate(j) => (&mut values, j),
            ResultColumn::Timestamp => {
                let now = Value::DateTime(DateTime(time));
                fields.push((column.name.clone(), now));
                continue;
            }
        };
        let value = match from.get_mut(at) {
            Some(value) if column.last_use => std::mem::take(value),
            Some(value) => value.clone(),
            None => Value::Null,
        };
        fields.push((column.name.clone(), value));
    }
    Record::from_unique_fields(fields)
}

/// The partition keys of a session window among `window`'s members (they
/// ride along as extra group keys); empty for any other window.
fn session_partition_by(window: &WindowPlan) -> Vec<ScalarExpr> {
    window_members(window)
        .iter()
        .find_map(|(_, w)| match w {
            WindowPlan::Session { partition_by, .. } => Some(partition_by.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// A row without the engine's hidden columns: what `*`, `LAG(*)` and the
/// whole-row aggregates see.
fn visible(row: &Row) -> Row {
    if !row.fields().iter().any(|(name, _)| is_hidden_column(name)) {
        return row.clone();
    }
    let mut out = Record::with_capacity(row.len());
    for (name, value) in row.fields() {
        if !is_hidden_column(name) {
            out.push_unchecked(name.clone(), value.clone());
        }
    }
    out
}

/// The dataflow `render` builds for `plan`, one operator per line, named as
/// in the running dataflow (what `eddy explain --stage dataflow` prints).
pub fn explain_dataflow(plan: &Plan, query_text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let direct = direct::direct_inputs(plan);
    for (id, source) in plan.sources.iter().enumerate() {
        let name = Rel::Source(id).operator_name(plan, query_text);
        let _ = writeln!(
            out,
            "Input[{id}] {name}: decode {} -> event time -> watermark",
            source.input
        );
        if let Some(Some(input)) = direct.get(id) {
            let _ = writeln!(
                out,
                "  read directly into its aggregate's {} (JSON-lines files: only those fields and the event time are decoded)",
                input.describe()
            );
        }
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
        Rel::Project { input, items, .. } if fused_columns(input, items, plan).is_some() => {
            let _ = writeln!(
                out,
                "{pad}{name} (final mode: written by the aggregate below; changes mode: OkErr: rows | failures)"
            );
            explain_rel(input, plan, text, depth + 1, out);
        }
        Rel::Filter { input, .. } | Rel::Project { input, .. } => {
            let _ = writeln!(out, "{pad}{name} (OkErr: rows | failures)");
            explain_rel(input, plan, text, depth + 1, out);
        }
        Rel::Analytic { input, .. } => {
            let _ = writeln!(
                out,
                "{pad}{name} (per function: Exchange(partition key) -> rows in time then arrival order once the frontier passes)"
            );
            explain_rel(input, plan, text, depth + 1, out);
        }
        Rel::Nest { input, .. } | Rel::Apply { input, .. } => {
            let _ = writeln!(out, "{pad}{name}");
            explain_rel(input, plan, text, depth + 1, out);
        }
        Rel::TemporalJoin { left, right, .. } => {
            let _ = writeln!(out, "{pad}{name} (rows held for the time bound -> Join -> pairs at the later time; LEFT: Antijoin at the deadline)");
            explain_rel(left, plan, text, depth + 1, out);
            explain_rel(right, plan, text, depth + 1, out);
        }
        Rel::LookupJoin { left, right, .. } => {
            let _ = writeln!(
                out,
                "{pad}{name} (stream rows held one tick -> Join with the arranged table)"
            );
            explain_rel(left, plan, text, depth + 1, out);
            explain_rel(right, plan, text, depth + 1, out);
        }
        Rel::Aggregate { input, .. } => {
            let _ = writeln!(
                out,
                "{pad}{name} (assign windows -> Reduce by (keys, window) -> final rows at window end)"
            );
            explain_rel(input, plan, text, depth + 1, out);
        }
        Rel::MatchRecognize(mr) => {
            let _ = writeln!(
                out,
                "{pad}{name} (classify rows -> Exchange(partition key) -> match in event-time order -> MEASURES at the last row's time)"
            );
            explain_rel(&mr.input, plan, text, depth + 1, out);
        }
        Rel::Union { inputs, .. } => {
            let _ = writeln!(out, "{pad}{name} (Concatenate)");
            for input in inputs {
                explain_rel(input, plan, text, depth + 1, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, expr: ScalarExpr) -> ProjectItem {
        ProjectItem::Column {
            name: Name::from(name),
            expr,
        }
    }

    fn reads(name: Name) -> ScalarExpr {
        ScalarExpr::Column(crate::expr::eval::ColumnRef::new(name))
    }

    #[test]
    fn a_projection_of_keys_aggregates_and_the_timestamp_is_fused() {
        let items = [
            column("key", reads(key_column(0))),
            column("n", reads(Name::from("__AGG1"))),
            column("t", ScalarExpr::SystemTimestamp),
            column("again", reads(key_column(0))),
        ];
        let columns = fused_projection(&items, 1, 2).expect("fused");
        let sources: Vec<(ResultColumn, bool)> =
            columns.iter().map(|c| (c.source, c.last_use)).collect();
        assert_eq!(
            sources,
            [
                (ResultColumn::Key(0), false),
                (ResultColumn::Aggregate(1), true),
                (ResultColumn::Timestamp, true),
                (ResultColumn::Key(0), true),
            ]
        );
        assert_eq!(&*columns[3].name, "again");
    }

    #[test]
    fn other_projections_keep_their_own_operator() {
        let count = || reads(aggregate_column(0));
        let plus_one = ScalarExpr::Binary(
            crate::syntax::ast::BinaryOp::Add,
            Box::new(count()),
            Box::new(ScalarExpr::Literal(Value::Bigint(1))),
        );
        for items in [
            vec![column("n", plus_one)],
            vec![column("n", count()), column("N", count())],
            vec![ProjectItem::Wildcard],
            vec![column("x", reads(Name::from("other")))],
            vec![column("k", reads(key_column(1)))],
        ] {
            assert!(fused_projection(&items, 1, 1).is_none(), "{items:?}");
        }
    }

    const S: i64 = 10_000_000;

    fn placements(window: &WindowPlan, time: Time) -> Vec<(Time, Time, isize)> {
        let mut out = Vec::new();
        place(window, time, EmitMode::Final, |end, at, sign| {
            out.push((end, at, sign))
        });
        out
    }

    #[test]
    fn tumbling_windows_are_start_exclusive_end_inclusive() {
        // §2: a 5 s tumbling window covers (12:00:00, 12:00:05].
        let w = WindowPlan::Hopping {
            size: 5 * S,
            hop: 5 * S,
            offset: 0,
        };
        assert_eq!(
            placements(&w, 5 * S),
            vec![(5 * S, 5 * S, 1), (5 * S, 5 * S + 1, -1)]
        );
        assert_eq!(placements(&w, 5 * S + 1)[0].0, 10 * S);
        assert_eq!(placements(&w, 1)[0].0, 5 * S);
        assert_eq!(placements(&w, -1)[0].0, 0);
    }

    #[test]
    fn tumbling_offset_shifts_the_grid() {
        // §2: Offset(millisecond, -1) makes buckets start-inclusive.
        let ms = 10_000;
        let w = WindowPlan::Hopping {
            size: 5 * S,
            hop: 5 * S,
            offset: -ms,
        };
        assert_eq!(placements(&w, 5 * S)[0].0, 10 * S - ms);
        assert_eq!(placements(&w, 5 * S - ms)[0].0, 5 * S - ms);
    }

    #[test]
    fn hopping_windows_hold_an_event_in_size_over_hop_windows() {
        // §2: HoppingWindow(second, 10, 5): ends on the 5 s grid, (end - 10 s, end].
        let w = WindowPlan::Hopping {
            size: 10 * S,
            hop: 5 * S,
            offset: 0,
        };
        let ends: Vec<Time> = placements(&w, 7 * S)
            .iter()
            .filter(|p| p.2 > 0)
            .map(|p| p.0)
            .collect();
        assert_eq!(ends, vec![10 * S, 15 * S]);
        let ends: Vec<Time> = placements(&w, 10 * S)
            .iter()
            .filter(|p| p.2 > 0)
            .map(|p| p.0)
            .collect();
        assert_eq!(ends, vec![10 * S, 15 * S]);
    }

    #[test]
    fn sliding_windows_hold_an_event_from_entry_until_exit() {
        // §2: (t - size, t]; the event leaves at t + size.
        let w = WindowPlan::Sliding { size: 10 * S };
        assert_eq!(placements(&w, 3 * S), vec![(0, 3 * S, 1), (0, 13 * S, -1)]);
    }

    #[test]
    fn snapshot_windows_group_identical_times() {
        assert_eq!(
            placements(&WindowPlan::Snapshot, 7),
            vec![(7, 7, 1), (7, 8, -1)]
        );
    }
}
