//! Binding: AST plus the job's catalog to a typed [`Plan`].
//!
//! The binder resolves every name case-insensitively (inputs, `WITH` steps,
//! aliases, functions) while output names keep the case written in the
//! query, checks function arity, and rejects constructs that Eddy parses but
//! cannot run yet with an "unsupported" diagnostic. It reports every
//! problem it finds, not just the first.
//!
//! Columns are not checked against input schemas: ASA inputs have no fixed
//! schema (each event carries its own fields, §7), so a missing field reads
//! as NULL at run time.

mod match_recognize;

use std::collections::HashMap;
use std::sync::Arc;

use crate::diag::{codes, Diagnostic, Diagnostics, Span};
use crate::expr::aggregate::AggregateKind;
use crate::expr::functions;
use crate::expr::javascript::{JsFunction, JsKind};
use crate::plan::{
    aggregate_column, key_column, AggregatePlan, OutputPlan, Plan, ProjectItem, Rel, ScalarExpr,
    SourcePlan, StepPlan, Unfold, WindowPlan, WINDOW_ID_COLUMN,
};
use crate::plan::{analytic_column, time_column, AnalyticKind, AnalyticPlan};
use crate::syntax::ast::{self, ExprKind, FunctionArg, Literal, Quote};
use crate::types::{DataType, Name, Value};

/// What the binder needs to know about the job: which inputs and outputs exist.
pub trait Catalog {
    /// The declared alias of input `name` (case-insensitive), if it exists.
    fn input(&self, name: &str) -> Option<InputInfo>;
    /// The declared alias of output `name` (case-insensitive), if it exists.
    fn output(&self, name: &str) -> Option<String>;
    /// All input aliases, for suggestions.
    fn input_names(&self) -> Vec<String>;
    /// All output aliases, for suggestions.
    fn output_names(&self) -> Vec<String>;
    /// The JavaScript function (UDF or UDA) the job defines as `name`
    /// (case-insensitive), if any.
    fn function(&self, _name: &str) -> Option<Arc<JsFunction>> {
        None
    }
}

/// An input as the binder sees it.
#[derive(Clone, Debug)]
pub struct InputInfo {
    /// The alias as declared.
    pub name: String,
    /// True for reference data (a table joined by key, not a stream).
    pub reference: bool,
}

/// A catalog that accepts every name: used to check a query alone.
pub struct OpenCatalog;

impl Catalog for OpenCatalog {
    fn input(&self, name: &str) -> Option<InputInfo> {
        Some(InputInfo {
            name: name.to_string(),
            reference: false,
        })
    }
    fn output(&self, name: &str) -> Option<String> {
        Some(name.to_string())
    }
    fn input_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn output_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The output a `SELECT` without `INTO` writes to.
pub const DEFAULT_OUTPUT: &str = "output";

/// Binds a parsed script against `catalog`.
pub fn bind(script: &ast::Script, catalog: &dyn Catalog) -> Result<Plan, Diagnostics> {
    let mut binder = Binder {
        catalog,
        plan: Plan {
            sources: Vec::new(),
            steps: Vec::new(),
            outputs: Vec::new(),
        },
        step_ids: HashMap::new(),
        schemas: HashMap::new(),
        errors: Vec::new(),
        aggregates: None,
        window_id_allowed: false,
        analytic_columns: HashMap::new(),
    };
    for statement in &script.statements {
        match statement {
            ast::Statement::CreateTable(table) => binder.bind_create_table(table),
            ast::Statement::Query(query) => binder.bind_query(query),
        }
    }
    if script
        .statements
        .iter()
        .all(|s| !matches!(s, ast::Statement::Query(_)))
    {
        binder.errors.push(Diagnostic::error(
            codes::INVALID,
            Span::new(0, 0),
            "the script has no SELECT statement",
        ));
    }
    if binder.errors.is_empty() {
        Ok(binder.plan)
    } else {
        Err(Diagnostics(binder.errors))
    }
}

struct Binder<'a> {
    catalog: &'a dyn Catalog,
    plan: Plan,
    step_ids: HashMap<String, usize>,
    schemas: HashMap<String, Vec<(Name, DataType)>>,
    errors: Vec<Diagnostic>,
    /// Aggregates met while binding a GROUP BY query's SELECT and HAVING.
    aggregates: Option<Vec<AggregatePlan>>,
    /// True while binding a SELECT list over `Windows(...)`.
    window_id_allowed: bool,
    /// The analytic calls of the SELECT being bound, by where they are
    /// written, each with the index of its [`analytic_column`].
    analytic_columns: HashMap<Span, usize>,
}

/// The names visible inside one SELECT: the FROM source's alias.
///
/// A single-source FROM has flat rows (the event's own fields), and an
/// alias prefix is simply dropped. After a JOIN or APPLY, rows are nested:
/// one record per source, keyed by its alias (`keys`).
#[derive(Clone)]
struct Scope {
    aliases: Vec<String>,
    /// Nested rows: (name as it may be written, record key) per source.
    nested: Option<Vec<(String, Name)>>,
}

impl Scope {
    fn flat(aliases: Vec<String>) -> Self {
        Scope {
            aliases,
            nested: None,
        }
    }

    fn is_alias(&self, name: &str) -> bool {
        self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// The record key of a source written as `name`, in nested rows.
    fn key_of(&self, name: &str) -> Option<Name> {
        self.nested.as_ref().and_then(|sources| {
            sources
                .iter()
                .find(|(written, _)| written.eq_ignore_ascii_case(name))
                .map(|(_, key)| key.clone())
        })
    }

    fn keys(&self) -> Vec<Name> {
        let mut keys: Vec<Name> = Vec::new();
        for (_, key) in self.nested.iter().flatten() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        keys
    }
}

impl Binder<'_> {
    fn bind_create_table(&mut self, table: &ast::CreateTable) {
        let key = table.name.value.to_ascii_lowercase();
        if self.catalog.input(&table.name.value).is_none() {
            self.errors.push(unknown_input(&table.name, self.catalog));
        }
        if self.schemas.contains_key(&key) {
            self.errors.push(Diagnostic::error(
                codes::INVALID,
                table.name.span,
                format!(
                    "input \"{}\" has two CREATE TABLE statements",
                    table.name.value
                ),
            ));
            return;
        }
        let columns = table
            .columns
            .iter()
            .map(|c| (Name::from(c.name.value.as_str()), c.ty.ty))
            .collect();
        self.schemas.insert(key, columns);
    }

    fn bind_query(&mut self, query: &ast::Query) {
        for step in &query.with {
            let key = step.name.value.to_ascii_lowercase();
            if self.step_ids.contains_key(&key) {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        step.name.span,
                        format!("step \"{}\" is defined twice", step.name.value),
                    )
                    .with_help("Step names must be unique in a job."),
                );
                continue;
            }
            if step.body.selects.iter().any(|s| s.into.is_some()) {
                let span = step
                    .body
                    .selects
                    .iter()
                    .find_map(|s| s.into.as_ref().map(into_span))
                    .unwrap_or(step.span);
                self.errors.push(
                    Diagnostic::error(codes::INVALID, span, "INTO is not allowed inside WITH")
                        .with_help("Write INTO in the outermost SELECT that reads this step."),
                );
            }
            let rel = self.bind_set_expr(&step.body);
            let id = self.plan.steps.len();
            self.plan.steps.push(StepPlan {
                name: step.name.value.clone(),
                rel,
            });
            self.step_ids.insert(key, id);
        }

        let body = &query.body;
        let Some(first) = body.selects.first() else {
            return;
        };
        let output_name = match &first.into {
            Some(ast::Into::Output(ident)) => match self.catalog.output(&ident.value) {
                Some(name) => name,
                None => {
                    self.errors.push(unknown_output(ident, self.catalog));
                    ident.value.clone()
                }
            },
            Some(ast::Into::Shards(_, span)) => {
                self.errors.push(Diagnostic::error(
                    codes::INVALID,
                    *span,
                    "INTO a shard count is only allowed inside a WITH step with PARTITION BY",
                ));
                DEFAULT_OUTPUT.to_string()
            }
            None => match self.catalog.output(DEFAULT_OUTPUT) {
                Some(name) => name,
                None => {
                    self.errors.push(
                        Diagnostic::error(
                            codes::UNKNOWN_NAME,
                            first.span,
                            "this SELECT has no INTO and the job has no output named \"output\"",
                        )
                        .with_help(suggest_list("outputs", &self.catalog.output_names())),
                    );
                    DEFAULT_OUTPUT.to_string()
                }
            },
        };
        for other in body.selects.iter().skip(1) {
            if let Some(into) = &other.into {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        into_span(into),
                        "INTO belongs to the first SELECT of a UNION",
                    )
                    .with_help("Write INTO once, in the first SELECT."),
                );
            }
        }
        let rel = self.bind_set_expr(body);
        if let Some(existing) = self
            .plan
            .outputs
            .iter_mut()
            .find(|o| o.name.eq_ignore_ascii_case(&output_name))
        {
            let previous = std::mem::replace(
                &mut existing.rel,
                Rel::Union {
                    inputs: Vec::new(),
                    span: first.span,
                },
            );
            existing.rel = Rel::Union {
                inputs: vec![previous, rel],
                span: first.span,
            };
        } else {
            self.plan.outputs.push(OutputPlan {
                name: output_name,
                rel,
            });
        }
    }

    fn bind_set_expr(&mut self, set: &ast::SetExpr) -> Rel {
        let mut rels: Vec<Rel> = set.selects.iter().map(|s| self.bind_select(s)).collect();
        if rels.len() == 1 {
            rels.remove(0)
        } else {
            Rel::Union {
                inputs: rels,
                span: set.union_spans.first().copied().unwrap_or_default(),
            }
        }
    }

    fn bind_select(&mut self, select: &ast::Select) -> Rel {
        let (rel, scope) = self.bind_from(&select.from);
        let outer_analytics = std::mem::take(&mut self.analytic_columns);
        let rel = self.bind_analytics(select, rel, &scope);
        let bound = self.bind_select_over(select, rel, &scope);
        self.analytic_columns = outer_analytics;
        bound
    }

    /// Binds the analytic calls of `select` (ASA-SEMANTICS.md §5) into a
    /// [`Rel::Analytic`] over the FROM rows, and records which column each
    /// call reads, so that WHERE, GROUP BY and SELECT see them as columns.
    fn bind_analytics(&mut self, select: &ast::Select, rel: Rel, scope: &Scope) -> Rel {
        let mut calls = Vec::new();
        for item in &select.projection {
            if let ast::SelectItem::Expr { expr, .. } = item {
                collect_analytic_calls(expr, &mut calls);
            }
        }
        for expr in select.selection.iter().chain(select.having.iter()) {
            collect_analytic_calls(expr, &mut calls);
        }
        for item in &select.group_by {
            if let ast::GroupItem::Expr(e) = item {
                collect_analytic_calls(e, &mut calls);
            }
        }
        if calls.is_empty() {
            return rel;
        }
        if !select.from.joins.is_empty() {
            self.errors.push(Diagnostic::unsupported(
                calls[0].span,
                "analytic functions in a query with JOIN or APPLY",
            ));
            for call in calls {
                self.analytic_columns.insert(call.span, usize::MAX);
            }
            return rel;
        }
        let mut functions: Vec<AnalyticPlan> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        for call in calls {
            let Some(function) = self.bind_analytic_call(call, scope) else {
                // Reported already; the call reads NULL.
                self.analytic_columns.insert(call.span, usize::MAX);
                continue;
            };
            let text = function.describe().to_lowercase();
            let index = match texts.iter().position(|t| *t == text) {
                Some(i) => i,
                None => {
                    texts.push(text);
                    functions.push(function);
                    functions.len() - 1
                }
            };
            self.analytic_columns.insert(call.span, index);
        }
        if functions.is_empty() {
            return rel;
        }
        Rel::Analytic {
            input: Box::new(rel),
            functions,
            span: select.from.source.span,
        }
    }

    /// One analytic call as an [`AnalyticPlan`]; `None` after an error.
    fn bind_analytic_call(
        &mut self,
        call: &ast::FunctionCall,
        scope: &Scope,
    ) -> Option<AnalyticPlan> {
        let upper = call.name.value.to_ascii_uppercase();
        let span = call.span;
        let over = call.over.as_ref();
        let error = |binder: &mut Self, at: Span, message: String| {
            binder
                .errors
                .push(Diagnostic::error(codes::FUNCTION, at, message));
        };
        if call.distinct {
            error(
                self,
                span,
                format!("DISTINCT is not allowed in the analytic form of {upper}"),
            );
            return None;
        }
        let args: Vec<Option<&ast::Expr>> = call
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Expr(e) => Some(e),
                FunctionArg::Star(_) => None,
            })
            .collect();
        let arity = |binder: &mut Self, min: usize, max: usize| -> bool {
            let n = args.len();
            if n < min || n > max {
                error(
                    binder,
                    span,
                    format!("{upper} takes {min} to {max} arguments, found {n}"),
                );
                return false;
            }
            true
        };
        let is_first = upper == "ISFIRST";
        let duration = match over.and_then(|o| o.limit_duration.as_ref()) {
            Some(d) if is_first => {
                error(self, d.span, "ISFIRST takes no LIMIT DURATION".to_string());
                return None;
            }
            Some(d) => self.window_length(d, "LIMIT DURATION"),
            None if is_first => 0,
            None => {
                self.errors.push(
                    Diagnostic::error(
                        codes::FUNCTION,
                        over.map_or(span, |o| o.span),
                        format!("{upper} needs OVER (... LIMIT DURATION(unit, n) ...)"),
                    )
                    .with_help("Analytic functions look back a bounded time, e.g. OVER (LIMIT DURATION(minute, 5))."),
                );
                return None;
            }
        };
        let partition_by = over
            .map(|o| {
                o.partition_by
                    .iter()
                    .map(|e| self.bind_expr(e, scope))
                    .collect()
            })
            .unwrap_or_default();
        let when = over
            .and_then(|o| o.when.as_deref())
            .map(|e| self.bind_expr(e, scope));
        let order_by: Vec<(ScalarExpr, bool)> = over
            .map(|o| {
                o.order_by
                    .iter()
                    .map(|item| (self.bind_expr(&item.expr, scope), item.descending))
                    .collect()
            })
            .unwrap_or_default();
        let directions: Vec<bool> = order_by.iter().map(|(_, d)| *d).collect();
        let order_exprs: Vec<ScalarExpr> = order_by.into_iter().map(|(e, _)| e).collect();
        let uses_order = matches!(upper.as_str(), "TOPONE" | "COLLECTTOP");
        if uses_order && order_exprs.is_empty() {
            error(self, span, format!("{upper} needs OVER (ORDER BY ...)"));
            return None;
        }
        if !uses_order && !order_exprs.is_empty() {
            error(self, span, format!("{upper} takes no ORDER BY"));
            return None;
        }
        let bind_arg = |binder: &mut Self, arg: Option<&ast::Expr>| -> Option<ScalarExpr> {
            match arg {
                // `e` may be `*` (the whole row), or the FROM alias.
                None => None,
                Some(e) if matches!(&e.kind, ExprKind::Column(p) if p.len() == 1 && scope.is_alias(&p[0].value)) => {
                    None
                }
                Some(e) => Some(binder.bind_expr(e, scope)),
            }
        };
        let (kind, argument) = match upper.as_str() {
            "LAG" => {
                if !arity(self, 1, 3) {
                    return None;
                }
                let offset = match args.get(1) {
                    None => 1,
                    Some(Some(ast::Expr {
                        kind: ExprKind::Literal(Literal::Integer(n)),
                        ..
                    })) if *n >= 1 => usize::try_from(*n).unwrap_or(usize::MAX),
                    Some(other) => {
                        error(
                            self,
                            other.map_or(span, |e| e.span),
                            "the offset of LAG is an integer literal of at least 1".to_string(),
                        );
                        return None;
                    }
                };
                let default = args
                    .get(2)
                    .copied()
                    .flatten()
                    .map(|e| self.bind_expr(e, scope));
                let argument = bind_arg(self, args.first().copied().flatten());
                (AnalyticKind::Lag { offset, default }, argument)
            }
            "LAST" => {
                if !arity(self, 1, 2) {
                    return None;
                }
                let default = args
                    .get(1)
                    .copied()
                    .flatten()
                    .map(|e| self.bind_expr(e, scope));
                let argument = bind_arg(self, args.first().copied().flatten());
                (AnalyticKind::Last { default }, argument)
            }
            "ISFIRST" => {
                if !arity(self, 2, 2) {
                    return None;
                }
                let unit = match args.first().copied().flatten().map(|e| &e.kind) {
                    Some(ExprKind::Column(path)) if path.len() == 1 => {
                        ast::TimeUnit::parse(&path[0].value)
                    }
                    _ => None,
                };
                let amount = match args.get(1).copied().flatten().map(|e| &e.kind) {
                    Some(ExprKind::Literal(Literal::Integer(n))) => Some(*n),
                    _ => None,
                };
                let (Some(unit), Some(amount)) = (unit, amount) else {
                    error(
                        self,
                        span,
                        "ISFIRST takes a time unit and an integer, e.g. ISFIRST(minute, 10)"
                            .to_string(),
                    );
                    return None;
                };
                let size = self
                    .window_length(&ast::DurationLit { unit, amount, span }, "ISFIRST interval");
                (AnalyticKind::IsFirst { size }, None)
            }
            "COUNT" => {
                if !arity(self, 1, 1) {
                    return None;
                }
                match bind_arg(self, args.first().copied().flatten()) {
                    None => (AnalyticKind::Aggregate(AggregateKind::CountStar), None),
                    Some(e) => (AnalyticKind::Aggregate(AggregateKind::Count), Some(e)),
                }
            }
            "SUM" | "AVG" | "MIN" | "MAX" | "STDEV" | "STDEVP" | "VAR" | "VARP" => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let Some(Some(e)) = args.first().copied() else {
                    error(self, span, format!("{upper} does not take *"));
                    return None;
                };
                let kind = match upper.as_str() {
                    "SUM" => AggregateKind::Sum,
                    "AVG" => AggregateKind::Avg,
                    "MIN" => AggregateKind::Min,
                    "MAX" => AggregateKind::Max,
                    "STDEV" => AggregateKind::Stdev,
                    "STDEVP" => AggregateKind::Stdevp,
                    "VAR" => AggregateKind::Var,
                    _ => AggregateKind::Varp,
                };
                (
                    AnalyticKind::Aggregate(kind),
                    Some(self.bind_expr(e, scope)),
                )
            }
            "TOPONE" | "COLLECT" => {
                if !arity(self, 0, 1) {
                    return None;
                }
                let kind = if upper == "TOPONE" {
                    AggregateKind::TopOne { order: directions }
                } else {
                    AggregateKind::Collect
                };
                let argument = bind_arg(self, args.first().copied().flatten());
                (AnalyticKind::Aggregate(kind), argument)
            }
            "COLLECTTOP" => {
                if !arity(self, 1, 2) {
                    return None;
                }
                let n = match args.first().copied().flatten().map(|e| &e.kind) {
                    Some(ExprKind::Literal(Literal::Integer(n))) if *n > 0 => {
                        usize::try_from(*n).unwrap_or(usize::MAX)
                    }
                    _ => {
                        error(
                            self,
                            span,
                            "CollectTop takes a positive integer literal as its first argument"
                                .to_string(),
                        );
                        return None;
                    }
                };
                let argument = bind_arg(self, args.get(1).copied().flatten());
                (
                    AnalyticKind::Aggregate(AggregateKind::CollectTop {
                        n,
                        order: directions,
                    }),
                    argument,
                )
            }
            _ => {
                self.errors.push(Diagnostic::unsupported(
                    span,
                    &format!("the analytic form of {upper}"),
                ));
                return None;
            }
        };
        Some(AnalyticPlan {
            kind,
            argument,
            order_by: order_exprs,
            partition_by,
            duration,
            when,
        })
    }

    fn bind_select_over(&mut self, select: &ast::Select, mut rel: Rel, scope: &Scope) -> Rel {
        if let Some(predicate) = &select.selection {
            let predicate_expr = self.bind_expr(predicate, scope);
            rel = Rel::Filter {
                input: Box::new(rel),
                predicate: predicate_expr,
                span: predicate.span,
            };
        }
        if select.group_by_span.is_some() || select_uses_aggregates(select) {
            return self.bind_aggregate_select(select, rel, scope);
        }
        if let Some(having) = &select.having {
            let predicate_expr = self.bind_expr(having, scope);
            rel = Rel::Filter {
                input: Box::new(rel),
                predicate: predicate_expr,
                span: having.span,
            };
        }
        let items = self.bind_projection(&select.projection, scope);
        let span = select
            .projection
            .first()
            .map(select_item_span)
            .unwrap_or(select.span);
        Rel::Project {
            input: Box::new(rel),
            items,
            span,
        }
    }

    /// Binds `SELECT ... GROUP BY keys, window [HAVING ...]`: an
    /// [`Rel::Aggregate`] followed by the HAVING filter and the projection,
    /// both rewritten to read the aggregate's key and aggregate columns.
    fn bind_aggregate_select(&mut self, select: &ast::Select, input: Rel, scope: &Scope) -> Rel {
        let group_span = select.group_by_span.unwrap_or(select.span);
        let windows: Vec<&ast::Window> = select
            .group_by
            .iter()
            .filter_map(|g| match g {
                ast::GroupItem::Window(w) => Some(w),
                ast::GroupItem::Expr(_) => None,
            })
            .collect();
        let snapshot_position = select.group_by.iter().position(
            |g| matches!(g, ast::GroupItem::Expr(e) if matches!(e.kind, ExprKind::SystemTimestamp)),
        );
        for extra in windows.iter().skip(1) {
            self.errors.push(
                Diagnostic::error(
                    codes::INVALID,
                    extra.span,
                    "a GROUP BY takes exactly one window",
                )
                .with_secondary(windows[0].span, "the first window")
                .with_help("Use Windows(...) to compute several windows in one query."),
            );
        }
        let window = match (windows.first(), snapshot_position) {
            (Some(w), _) => self.bind_window(w, scope),
            (None, Some(_)) => WindowPlan::Snapshot,
            (None, None) => {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        group_span,
                        "a window must be specified in GROUP BY",
                    )
                    .with_help("Add a window such as TumblingWindow(second, 10), or System.Timestamp() for a snapshot window."),
                );
                WindowPlan::Snapshot
            }
        };
        let mut keys = Vec::new();
        for (position, item) in select.group_by.iter().enumerate() {
            if let ast::GroupItem::Expr(e) = item {
                if windows.is_empty() && Some(position) == snapshot_position {
                    continue;
                }
                keys.push(self.bind_expr(e, scope));
            }
        }
        let key_texts: Vec<String> = keys.iter().map(|k| k.to_string().to_lowercase()).collect();

        let outer = self.aggregates.replace(Vec::new());
        self.window_id_allowed = matches!(window, WindowPlan::Multiple(_));
        let mut items = Vec::new();
        let mut aliases: Vec<(String, ScalarExpr)> = Vec::new();
        for (position, item) in select.projection.iter().enumerate() {
            match item {
                ast::SelectItem::Wildcard(span) | ast::SelectItem::QualifiedWildcard(_, span) => {
                    self.errors.push(
                        Diagnostic::error(
                            codes::INVALID,
                            *span,
                            "* is not allowed in a GROUP BY query",
                        )
                        .with_help("Name the grouping keys and aggregates to output."),
                    );
                }
                ast::SelectItem::Expr { expr, alias } => {
                    let bound = self.bind_expr(expr, scope);
                    let rewritten = self.rewrite_grouped(bound, &key_texts, expr.span);
                    let name = match alias {
                        Some(a) => a.value.clone(),
                        None => default_column_name(expr, position),
                    };
                    aliases.push((name.to_lowercase(), rewritten.clone()));
                    if items.iter().any(|i| matches!(i, ProjectItem::Column { name: n, .. } if n.eq_ignore_ascii_case(&name))) {
                        self.errors.push(Diagnostic::error(
                            codes::INVALID,
                            alias.as_ref().map_or(expr.span, |a| a.span),
                            format!("column \"{name}\" is projected twice"),
                        ));
                        continue;
                    }
                    items.push(ProjectItem::Column {
                        name: Name::from(name),
                        expr: rewritten,
                    });
                }
            }
        }
        let having = select.having.as_ref().map(|h| {
            let bound = self.bind_expr(h, scope);
            // ASA examples use SELECT aliases in HAVING (§13.9): a name that
            // is neither grouped nor aggregated resolves to the alias.
            let with_aliases = substitute_aliases(bound, &aliases);
            (
                self.rewrite_grouped(with_aliases, &key_texts, h.span),
                h.span,
            )
        });
        self.window_id_allowed = false;
        let aggregates = std::mem::replace(&mut self.aggregates, outer).unwrap_or_default();

        let mut rel = Rel::Aggregate {
            input: Box::new(input),
            window,
            keys,
            aggregates,
            span: group_span,
        };
        if let Some((predicate, span)) = having {
            rel = Rel::Filter {
                input: Box::new(rel),
                predicate,
                span,
            };
        }
        let span = select
            .projection
            .first()
            .map(select_item_span)
            .unwrap_or(select.span);
        Rel::Project {
            input: Box::new(rel),
            items,
            span,
        }
    }

    /// Replaces grouping-key subexpressions with key columns; any input
    /// column left over is neither grouped nor aggregated: an error.
    fn rewrite_grouped(
        &mut self,
        expr: ScalarExpr,
        key_texts: &[String],
        span: Span,
    ) -> ScalarExpr {
        let text = expr.to_string().to_lowercase();
        if let Some(i) = key_texts.iter().position(|k| *k == text) {
            return ScalarExpr::column(key_column(i));
        }
        match expr {
            ScalarExpr::Column(name) if name.starts_with("__analytic") => {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        span,
                        "an analytic function in a GROUP BY query must be a grouping key or inside an aggregate",
                    )
                    .with_help("Compute it in a WITH step and group that step's rows."),
                );
                ScalarExpr::Literal(Value::Null)
            }
            ScalarExpr::Column(name) if name.starts_with("__") => ScalarExpr::Column(name),
            ScalarExpr::Column(column) => self.not_grouped(column.name(), span),
            ScalarExpr::ColumnOrString(name) => self.not_grouped(&name, span),
            other => other.map_children(&mut |child| self.rewrite_grouped(child, key_texts, span)),
        }
    }

    /// Reports a column read outside GROUP BY and outside any aggregate.
    fn not_grouped(&mut self, name: &str, span: Span) -> ScalarExpr {
        self.errors.push(
            Diagnostic::error(
                codes::INVALID,
                span,
                format!("column \"{name}\" is neither in GROUP BY nor inside an aggregate"),
            )
            .with_help(format!(
                "Add {name} to GROUP BY, or aggregate it (e.g. MAX({name}))."
            )),
        );
        ScalarExpr::Literal(Value::Null)
    }

    fn bind_window(&mut self, window: &ast::Window, scope: &Scope) -> WindowPlan {
        use ast::WindowKind as W;
        match &window.kind {
            W::Tumbling { size, offset } => {
                let size = self.window_length(size, "window size");
                WindowPlan::Hopping {
                    size,
                    hop: size,
                    offset: offset.map_or(0, |o| o.amount.saturating_mul(o.unit.ticks())),
                }
            }
            W::Hopping { size, hop, offset } => {
                let size_ticks = self.window_length(size, "window size");
                let hop_ticks = self.window_length(hop, "hop size");
                if hop_ticks > size_ticks {
                    self.errors.push(Diagnostic::error(
                        codes::INVALID,
                        hop.span,
                        "the hop size is larger than the window size",
                    ));
                }
                WindowPlan::Hopping {
                    size: size_ticks,
                    hop: hop_ticks,
                    offset: offset.map_or(0, |o| o.amount.saturating_mul(o.unit.ticks())),
                }
            }
            W::Sliding { size } => WindowPlan::Sliding {
                size: self.window_length(size, "window size"),
            },
            W::Session {
                timeout,
                max_duration,
                partition_by,
            } => {
                let timeout_ticks = self.window_length(timeout, "session timeout");
                let max_ticks = self.window_length(max_duration, "maximum session duration");
                if max_ticks < timeout_ticks {
                    self.errors.push(Diagnostic::error(
                        codes::INVALID,
                        max_duration.span,
                        "the maximum session duration is shorter than the timeout",
                    ));
                }
                WindowPlan::Session {
                    timeout: timeout_ticks,
                    max_duration: max_ticks,
                    partition_by: partition_by
                        .iter()
                        .map(|e| self.bind_expr(e, scope))
                        .collect(),
                }
            }
            W::Snapshot => WindowPlan::Snapshot,
            W::Multiple(members) => {
                let with_ids = members.iter().filter(|m| m.id.is_some()).count();
                if with_ids != 0 && with_ids != members.len() {
                    self.errors.push(Diagnostic::error(
                        codes::INVALID,
                        window.span,
                        "give an id to every window of Windows(...) or to none",
                    ));
                }
                let mut seen: Vec<String> = Vec::new();
                let mut bound = Vec::new();
                for member in members {
                    if let Some((id, span)) = &member.id {
                        if seen.iter().any(|s| s.eq_ignore_ascii_case(id)) {
                            self.errors.push(Diagnostic::error(
                                codes::INVALID,
                                *span,
                                format!("window id '{id}' is used twice"),
                            ));
                        }
                        seen.push(id.clone());
                    }
                    if let W::Multiple(_) = member.window.kind {
                        self.errors.push(Diagnostic::error(
                            codes::INVALID,
                            member.window.span,
                            "Windows(...) cannot be nested",
                        ));
                        continue;
                    }
                    bound.push((
                        member.id.as_ref().map(|(id, _)| id.clone()),
                        self.bind_window(&member.window, scope),
                    ));
                }
                WindowPlan::Multiple(bound)
            }
        }
    }

    /// A window length in ticks: positive and at most 7 days (§2).
    fn window_length(&mut self, duration: &ast::DurationLit, what: &str) -> i64 {
        const SEVEN_DAYS: i64 = 7 * 864_000_000_000;
        let ticks = duration.amount.saturating_mul(duration.unit.ticks());
        if ticks <= 0 {
            self.errors.push(Diagnostic::error(
                codes::INVALID,
                duration.span,
                format!("the {what} must be positive"),
            ));
            return 1;
        }
        if ticks > SEVEN_DAYS {
            self.errors.push(
                Diagnostic::error(
                    codes::INVALID,
                    duration.span,
                    format!("the {what} exceeds 7 days"),
                )
                .with_help("ASA windows are at most 7 days long."),
            );
        }
        ticks
    }

    /// Binds an aggregate call to an [`AggregatePlan`] and returns the
    /// column that will hold its value.
    fn bind_aggregate_call(
        &mut self,
        call: &ast::FunctionCall,
        span: Span,
        scope: &Scope,
    ) -> ScalarExpr {
        let upper = call.name.value.to_ascii_uppercase();
        if self.aggregates.is_none() {
            self.errors.push(
                Diagnostic::error(
                    codes::INVALID,
                    span,
                    format!("the aggregate {upper} is only allowed in the SELECT list or HAVING"),
                )
                .with_help(
                    "Aggregates are computed per group of a GROUP BY; WHERE sees single events.",
                ),
            );
            return ScalarExpr::Literal(Value::Null);
        }
        if let Some(over) = &call.over {
            if over.limit_duration.is_some() || !over.partition_by.is_empty() || over.when.is_some()
            {
                self.errors.push(Diagnostic::unsupported(
                    span,
                    &format!("the analytic form {upper}(...) OVER (... LIMIT DURATION ...)"),
                ));
                return ScalarExpr::Literal(Value::Null);
            }
        }
        let order_by: Vec<(ScalarExpr, bool)> = call
            .over
            .as_ref()
            .map(|o| {
                o.order_by
                    .iter()
                    .map(|item| (self.bind_expr(&item.expr, scope), item.descending))
                    .collect()
            })
            .unwrap_or_default();
        let needs_order = matches!(
            upper.as_str(),
            "TOPONE" | "COLLECTTOP" | "PERCENTILE_CONT" | "PERCENTILE_DISC"
        );
        if needs_order && order_by.is_empty() {
            self.errors.push(
                Diagnostic::error(
                    codes::FUNCTION,
                    span,
                    format!("{upper} needs OVER (ORDER BY ...)"),
                )
                .with_help(format!("Write {upper}(...) OVER (ORDER BY column).")),
            );
            return ScalarExpr::Literal(Value::Null);
        }
        let args: Vec<&ast::Expr> = call
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Expr(e) => Some(e),
                FunctionArg::Star(_) => None,
            })
            .collect();
        let star = call.args.iter().any(|a| matches!(a, FunctionArg::Star(_)));
        let is_alias = |e: &ast::Expr| matches!(&e.kind, ExprKind::Column(p) if p.len() == 1 && scope.is_alias(&p[0].value));
        let arity = |binder: &mut Self, min: usize, max: usize| -> bool {
            let n = call.args.len();
            if n < min || n > max {
                let expected = if min == max {
                    format!("{min}")
                } else {
                    format!("{min} to {max}")
                };
                binder.errors.push(Diagnostic::error(
                    codes::FUNCTION,
                    span,
                    format!(
                        "{upper} takes {expected} argument{}, found {n}",
                        if expected == "1" { "" } else { "s" }
                    ),
                ));
                return false;
            }
            true
        };
        let literal_number = |e: &ast::Expr| -> Option<f64> {
            match &e.kind {
                ExprKind::Literal(Literal::Integer(i)) => Some(*i as f64),
                ExprKind::Literal(Literal::Float(f)) => Some(*f),
                _ => None,
            }
        };
        let directions: Vec<bool> = order_by.iter().map(|(_, d)| *d).collect();
        let order_exprs: Vec<ScalarExpr> = order_by.iter().map(|(e, _)| e.clone()).collect();
        let (kind, argument) = match upper.as_str() {
            "COUNT" => {
                if !arity(self, 1, 1) {
                    return ScalarExpr::Literal(Value::Null);
                }
                match (star, args.first()) {
                    (true, _) => (AggregateKind::CountStar, None),
                    (false, Some(e)) if is_alias(e) => {
                        if call.distinct {
                            (AggregateKind::CountDistinct, None)
                        } else {
                            (AggregateKind::CountStar, None)
                        }
                    }
                    (false, Some(e)) => {
                        let kind = if call.distinct {
                            AggregateKind::CountDistinct
                        } else {
                            AggregateKind::Count
                        };
                        (kind, Some(self.bind_expr(e, scope)))
                    }
                    (false, None) => return ScalarExpr::Literal(Value::Null),
                }
            }
            "SUM" | "AVG" | "MIN" | "MAX" | "STDEV" | "STDEVP" | "VAR" | "VARP" => {
                if !arity(self, 1, 1) || star {
                    if star {
                        self.errors.push(Diagnostic::error(
                            codes::FUNCTION,
                            span,
                            format!("{upper} does not take *"),
                        ));
                    }
                    return ScalarExpr::Literal(Value::Null);
                }
                let kind = match upper.as_str() {
                    "SUM" => AggregateKind::Sum,
                    "AVG" => AggregateKind::Avg,
                    "MIN" => AggregateKind::Min,
                    "MAX" => AggregateKind::Max,
                    "STDEV" => AggregateKind::Stdev,
                    "STDEVP" => AggregateKind::Stdevp,
                    "VAR" => AggregateKind::Var,
                    _ => AggregateKind::Varp,
                };
                (kind, args.first().map(|e| self.bind_expr(e, scope)))
            }
            "TOPONE" => {
                if !arity(self, 0, 1) {
                    return ScalarExpr::Literal(Value::Null);
                }
                (
                    AggregateKind::TopOne { order: directions },
                    args.first().map(|e| self.bind_expr(e, scope)),
                )
            }
            "COLLECTTOP" => {
                if !arity(self, 1, 2) {
                    return ScalarExpr::Literal(Value::Null);
                }
                let n = match args.first().map(|e| &e.kind) {
                    Some(ExprKind::Literal(Literal::Integer(n))) if *n > 0 => *n as usize,
                    _ => {
                        self.errors.push(Diagnostic::error(
                            codes::FUNCTION,
                            args.first().map_or(span, |e| e.span),
                            "CollectTop takes a positive integer literal as its first argument",
                        ));
                        return ScalarExpr::Literal(Value::Null);
                    }
                };
                (
                    AggregateKind::CollectTop {
                        n,
                        order: directions,
                    },
                    args.get(1).map(|e| self.bind_expr(e, scope)),
                )
            }
            "COLLECT" => {
                if !arity(self, 0, 1) {
                    return ScalarExpr::Literal(Value::Null);
                }
                (
                    AggregateKind::Collect,
                    args.first().map(|e| self.bind_expr(e, scope)),
                )
            }
            "PERCENTILE_CONT" | "PERCENTILE_DISC" => {
                if !arity(self, 1, 1) {
                    return ScalarExpr::Literal(Value::Null);
                }
                let p = match args.first().and_then(|e| literal_number(e)) {
                    Some(p) if (0.0..=1.0).contains(&p) => p,
                    _ => {
                        self.errors.push(Diagnostic::error(
                            codes::FUNCTION,
                            args.first().map_or(span, |e| e.span),
                            format!("{upper} takes a number between 0 and 1"),
                        ));
                        return ScalarExpr::Literal(Value::Null);
                    }
                };
                let descending = directions.first().copied().unwrap_or(false);
                let kind = if upper == "PERCENTILE_CONT" {
                    AggregateKind::PercentileCont { p, descending }
                } else {
                    AggregateKind::PercentileDisc { p, descending }
                };
                (kind, order_exprs.first().cloned())
            }
            _ => {
                self.errors.push(Diagnostic::unsupported(
                    span,
                    &format!("the aggregate {upper}"),
                ));
                return ScalarExpr::Literal(Value::Null);
            }
        };
        let plan = AggregatePlan {
            kind,
            argument,
            order_by: order_exprs,
        };
        let aggregates = self.aggregates.get_or_insert_with(Vec::new);
        let text = describe_aggregate(&plan);
        let index = match aggregates
            .iter()
            .position(|a| describe_aggregate(a) == text)
        {
            Some(i) => i,
            None => {
                aggregates.push(plan);
                aggregates.len() - 1
            }
        };
        ScalarExpr::column(aggregate_column(index))
    }

    fn bind_from(&mut self, from: &ast::From) -> (Rel, Scope) {
        let (first, first_scope) = self.bind_table_ref(&from.source, false);
        if from.joins.is_empty() {
            return (first, first_scope);
        }
        let first_key = Name::from(
            from.source
                .alias
                .as_ref()
                .unwrap_or(&from.source.name)
                .value
                .as_str(),
        );
        let mut sources: Vec<(String, Name)> = first_scope
            .aliases
            .iter()
            .map(|a| (a.clone(), first_key.clone()))
            .collect();
        let mut rel = Rel::Nest {
            input: Box::new(first),
            alias: first_key,
        };
        for join in &from.joins {
            let scope = Scope {
                aliases: Vec::new(),
                nested: Some(sources.clone()),
            };
            match join {
                ast::JoinClause::Join {
                    kind,
                    source,
                    on,
                    span,
                } => {
                    let (right, right_scope) = self.bind_table_ref(source, true);
                    let right_key =
                        Name::from(source.alias.as_ref().unwrap_or(&source.name).value.as_str());
                    let is_reference = matches!(&right, Rel::Source(id) if self.plan.sources.get(*id).is_some_and(|s| s.reference));
                    let mut joined_sources = sources.clone();
                    joined_sources.extend(
                        right_scope
                            .aliases
                            .iter()
                            .map(|a| (a.clone(), right_key.clone())),
                    );
                    let joined_scope = Scope {
                        aliases: Vec::new(),
                        nested: Some(joined_sources.clone()),
                    };
                    let mut left_keys = Vec::new();
                    let mut right_keys = Vec::new();
                    let mut residual: Option<ScalarExpr> = None;
                    let mut has_bound = false;
                    let mut window: Option<(i64, i64, i64)> = None;
                    for conjunct in conjuncts(on) {
                        if is_datediff_bound(conjunct) {
                            has_bound = true;
                            if !is_reference {
                                match join_time_bound(conjunct, &right_scope.aliases, &sources) {
                                    Some(bound) => {
                                        window = Some(match window {
                                            Some((lo, hi, late)) => (lo.max(bound.0), hi.min(bound.1), late.min(bound.2)),
                                            None => bound,
                                        })
                                    }
                                    None => self.errors.push(
                                        Diagnostic::error(
                                            codes::INVALID,
                                            conjunct.span,
                                            "expected DATEDIFF(unit, left, right) BETWEEN low AND high, with the two sources' aliases, a time unit and integer bounds",
                                        ),
                                    ),
                                }
                                // Also checked exactly on each pair.
                                let exact = self.bind_expr(conjunct, &joined_scope);
                                residual = Some(match residual.take() {
                                    Some(prev) => ScalarExpr::Binary(
                                        ast::BinaryOp::And,
                                        Box::new(prev),
                                        Box::new(exact),
                                    ),
                                    None => exact,
                                });
                            }
                            if is_reference {
                                self.errors.push(Diagnostic::error(
                                    codes::INVALID,
                                    conjunct.span,
                                    "a reference-data JOIN takes no DATEDIFF bound",
                                ));
                            }
                            continue;
                        }
                        let bound = self.bind_expr(conjunct, &joined_scope);
                        if let ScalarExpr::Binary(ast::BinaryOp::Eq, l, r) = &bound {
                            let (ls, rs) = (referenced_sources(l), referenced_sources(r));
                            let only = |set: &Option<Vec<Name>>, key: &Name| {
                                set.as_ref()
                                    .is_some_and(|s| !s.is_empty() && s.iter().all(|n| n == key))
                            };
                            let none_of = |set: &Option<Vec<Name>>, key: &Name| {
                                set.as_ref()
                                    .is_some_and(|s| !s.is_empty() && !s.contains(key))
                            };
                            if none_of(&ls, &right_key) && only(&rs, &right_key) {
                                left_keys.push((**l).clone());
                                right_keys.push((**r).clone());
                                continue;
                            }
                            if none_of(&rs, &right_key) && only(&ls, &right_key) {
                                left_keys.push((**r).clone());
                                right_keys.push((**l).clone());
                                continue;
                            }
                        }
                        residual = Some(match residual.take() {
                            Some(prev) => ScalarExpr::Binary(
                                ast::BinaryOp::And,
                                Box::new(prev),
                                Box::new(bound),
                            ),
                            None => bound,
                        });
                    }
                    if !is_reference {
                        if has_bound {
                            let (low, high, latest) = window.unwrap_or((0, 0, 0));
                            const EIGHT_DAYS: i64 = 8 * 864_000_000_000;
                            if high.saturating_sub(low) > EIGHT_DAYS {
                                self.errors.push(Diagnostic::error(
                                    codes::INVALID,
                                    on.span,
                                    "a join's time bound may span at most 7 days",
                                ));
                            }
                            rel = Rel::TemporalJoin {
                                left: Box::new(rel),
                                right: Box::new(Rel::Nest {
                                    input: Box::new(right),
                                    alias: right_key.clone(),
                                }),
                                left_keys,
                                right_keys,
                                residual,
                                left_outer: *kind == ast::JoinKind::Left,
                                low,
                                high,
                                unmatched_delay: latest.max(0),
                                right_alias: right_key,
                                span: *span,
                            };
                            sources = joined_sources;
                            continue;
                        } else {
                            self.errors.push(
                                Diagnostic::error(
                                    codes::INVALID,
                                    on.span,
                                    "a JOIN between streams needs a time bound: DATEDIFF(unit, a, b) BETWEEN low AND high",
                                )
                                .with_help("Add AND DATEDIFF(second, left, right) BETWEEN 0 AND 10 to ON; reference data needs no bound."),
                            );
                        }
                    }
                    rel = Rel::LookupJoin {
                        left: Box::new(rel),
                        right: Box::new(Rel::Nest {
                            input: Box::new(right),
                            alias: right_key.clone(),
                        }),
                        left_keys,
                        right_keys,
                        residual,
                        left_outer: *kind == ast::JoinKind::Left,
                        right_alias: right_key,
                        span: *span,
                    };
                    sources = joined_sources;
                }
                ast::JoinClause::Apply {
                    kind,
                    function,
                    alias,
                    span,
                } => {
                    let unfold = if function.name.matches("GetArrayElements") {
                        Some(Unfold::ArrayElements)
                    } else if function.name.matches("GetRecordProperties") {
                        Some(Unfold::RecordProperties)
                    } else {
                        self.errors.push(Diagnostic::error(
                            codes::INVALID,
                            function.name.span,
                            format!(
                                "APPLY takes GetArrayElements or GetRecordProperties, found {}",
                                function.name.value
                            ),
                        ));
                        None
                    };
                    let argument = match function.args.as_slice() {
                        [FunctionArg::Expr(e)] => Some(self.bind_expr(e, &scope)),
                        _ => {
                            self.errors.push(Diagnostic::error(
                                codes::FUNCTION,
                                function.span,
                                format!("{} takes 1 argument", function.name.value),
                            ));
                            None
                        }
                    };
                    let key = Name::from(alias.value.as_str());
                    if let (Some(unfold), Some(argument)) = (unfold, argument) {
                        rel = Rel::Apply {
                            input: Box::new(rel),
                            outer: *kind == ast::ApplyKind::Outer,
                            unfold,
                            argument,
                            alias: key.clone(),
                            span: *span,
                        };
                    }
                    sources.push((alias.value.clone(), key));
                }
            }
        }
        let mut aliases: Vec<String> = sources.iter().map(|(a, _)| a.clone()).collect();
        aliases.dedup();
        (
            rel,
            Scope {
                aliases,
                nested: Some(sources),
            },
        )
    }

    /// One source of FROM or JOIN: a step or an input, with its own
    /// TIMESTAMP BY. Its scope is flat (its aliases).
    fn bind_table_ref(&mut self, source: &ast::TableRef, in_join: bool) -> (Rel, Scope) {
        let (rel, scope) = self.bind_source_ref(source, in_join);
        match &source.match_recognize {
            Some(mr) => self.bind_match_recognize(mr, rel, scope.aliases),
            None => (rel, scope),
        }
    }

    /// [`Self::bind_table_ref`] without its MATCH_RECOGNIZE.
    fn bind_source_ref(&mut self, source: &ast::TableRef, in_join: bool) -> (Rel, Scope) {
        let mut aliases = vec![source.name.value.clone()];
        if let Some(alias) = &source.alias {
            aliases.push(alias.value.clone());
        }
        let scope = Scope::flat(aliases);
        let key = source.name.value.to_ascii_lowercase();
        if let Some(&step) = self.step_ids.get(&key) {
            if let Some(ts) = &source.timestamp_by {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        ts.span,
                        format!(
                            "TIMESTAMP BY applies to inputs, and \"{}\" is a step",
                            source.name.value
                        ),
                    )
                    .with_help("Put TIMESTAMP BY on the input inside the step that reads it."),
                );
            }
            return (Rel::Step(step), scope);
        }
        let Some(input) = self.catalog.input(&source.name.value) else {
            self.errors.push(unknown_input(&source.name, self.catalog));
            return (Rel::Source(0), scope);
        };
        if input.reference && !in_join {
            self.errors.push(
                Diagnostic::error(
                    codes::INVALID,
                    source.name.span,
                    format!(
                        "reference input \"{}\" can only be joined to a stream",
                        input.name
                    ),
                )
                .with_help("Read a stream in FROM and JOIN the reference data on the right."),
            );
        }
        let schema = self
            .schemas
            .get(&input.name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        // TIMESTAMP BY reads the raw event, which may be named by the
        // input's own name or its alias (`FROM r TIMESTAMP BY r.time`).
        let source_scope = scope.clone();
        let (timestamp_by, over) = match &source.timestamp_by {
            Some(ts) => {
                let expr = self.bind_expr(&ts.expr, &source_scope);
                let over = ts
                    .over
                    .iter()
                    .map(|e| self.bind_expr(e, &source_scope))
                    .collect();
                (Some(expr), over)
            }
            None => (None, Vec::new()),
        };
        let id = self.plan.sources.len();
        self.plan.sources.push(SourcePlan {
            input: input.name,
            timestamp_by,
            over,
            schema,
            reference: input.reference,
            span: source.span,
        });
        (Rel::Source(id), scope)
    }

    fn bind_projection(&mut self, items: &[ast::SelectItem], scope: &Scope) -> Vec<ProjectItem> {
        let mut out = Vec::with_capacity(items.len());
        let mut names: HashMap<String, Span> = HashMap::new();
        for (position, item) in items.iter().enumerate() {
            match item {
                ast::SelectItem::Wildcard(_) if scope.nested.is_some() => {
                    for key in scope.keys() {
                        out.push(ProjectItem::Flatten(ScalarExpr::column(key)));
                    }
                }
                ast::SelectItem::Wildcard(_) => out.push(ProjectItem::Wildcard),
                ast::SelectItem::QualifiedWildcard(path, span) => {
                    if path.len() == 1 && scope.nested.is_none() && scope.is_alias(&path[0].value) {
                        out.push(ProjectItem::Wildcard);
                    } else {
                        let expr = ast::Expr {
                            kind: ExprKind::Column(path.clone()),
                            span: *span,
                        };
                        let bound = self.bind_expr(&expr, scope);
                        out.push(ProjectItem::Flatten(bound));
                    }
                }
                ast::SelectItem::Expr { expr, alias } => {
                    let bound = self.bind_expr(expr, scope);
                    let (name, span) = match alias {
                        Some(a) => (a.value.clone(), a.span),
                        None => (default_column_name(expr, position), expr.span),
                    };
                    let key = name.to_ascii_lowercase();
                    if let Some(first) = names.get(&key) {
                        self.errors.push(
                            Diagnostic::error(
                                codes::INVALID,
                                span,
                                format!("column \"{name}\" is projected twice"),
                            )
                            .with_secondary(*first, "first projected here")
                            .with_help("Give one of the columns another name with AS."),
                        );
                        continue;
                    }
                    names.insert(key, span);
                    out.push(ProjectItem::Column {
                        name: Name::from(name),
                        expr: bound,
                    });
                }
            }
        }
        out
    }

    fn bind_expr(&mut self, expr: &ast::Expr, scope: &Scope) -> ScalarExpr {
        match &expr.kind {
            ExprKind::Literal(lit) => ScalarExpr::Literal(match lit {
                Literal::Null => Value::Null,
                Literal::Integer(i) => Value::Bigint(*i),
                Literal::Float(f) => Value::Float(*f),
                Literal::String(s) => Value::String(s.clone()),
            }),
            ExprKind::Column(path) => self.bind_path(path, scope),
            ExprKind::Unary { op, expr: inner } => {
                ScalarExpr::Unary(*op, Box::new(self.bind_expr(inner, scope)))
            }
            ExprKind::Binary { op, left, right } => ScalarExpr::Binary(
                *op,
                Box::new(self.bind_expr(left, scope)),
                Box::new(self.bind_expr(right, scope)),
            ),
            ExprKind::Like {
                expr: inner,
                pattern,
                negated,
            } => ScalarExpr::Like {
                expr: Box::new(self.bind_expr(inner, scope)),
                pattern: Box::new(self.bind_expr(pattern, scope)),
                negated: *negated,
            },
            ExprKind::Between {
                expr: inner,
                low,
                high,
                negated,
            } => ScalarExpr::Between {
                expr: Box::new(self.bind_expr(inner, scope)),
                low: Box::new(self.bind_expr(low, scope)),
                high: Box::new(self.bind_expr(high, scope)),
                negated: *negated,
            },
            ExprKind::InList {
                expr: inner,
                list,
                negated,
            } => ScalarExpr::InList {
                expr: Box::new(self.bind_expr(inner, scope)),
                list: list.iter().map(|e| self.bind_expr(e, scope)).collect(),
                negated: *negated,
            },
            ExprKind::IsNull {
                expr: inner,
                negated,
            } => ScalarExpr::IsNull {
                expr: Box::new(self.bind_expr(inner, scope)),
                negated: *negated,
            },
            ExprKind::Case {
                operand,
                whens,
                else_result,
            } => {
                let operand = operand.as_ref().map(|o| self.bind_expr(o, scope));
                let whens = whens
                    .iter()
                    .map(|(w, t)| {
                        let condition = self.bind_expr(w, scope);
                        let condition = match &operand {
                            Some(o) => ScalarExpr::Binary(
                                ast::BinaryOp::Eq,
                                Box::new(o.clone()),
                                Box::new(condition),
                            ),
                            None => condition,
                        };
                        (condition, self.bind_expr(t, scope))
                    })
                    .collect();
                let otherwise = match else_result {
                    Some(e) => self.bind_expr(e, scope),
                    None => ScalarExpr::Literal(Value::Null),
                };
                ScalarExpr::Case {
                    whens,
                    otherwise: Box::new(otherwise),
                }
            }
            ExprKind::Cast {
                expr: inner,
                ty,
                try_cast,
            } => ScalarExpr::Cast {
                expr: Box::new(self.bind_expr(inner, scope)),
                ty: ty.ty,
                try_cast: *try_cast,
            },
            ExprKind::Function(call) => self.bind_call(call, expr.span, scope),
            ExprKind::SystemTimestamp => ScalarExpr::SystemTimestamp,
            ExprKind::SystemWindowId if self.window_id_allowed => {
                ScalarExpr::column(WINDOW_ID_COLUMN)
            }
            ExprKind::SystemWindowId => {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        expr.span,
                        "System.Window().Id is only allowed in the SELECT list of a GROUP BY query with Windows(...)",
                    ),
                );
                ScalarExpr::Literal(Value::Null)
            }
        }
    }

    fn bind_path(&mut self, path: &[ast::Ident], scope: &Scope) -> ScalarExpr {
        if scope.nested.is_some() {
            let Some((first, rest)) = path.split_first() else {
                return ScalarExpr::Literal(Value::Null);
            };
            let mut expr = match scope.key_of(&first.value) {
                Some(key) => ScalarExpr::column(key),
                None if first.quote == Quote::Double && rest.is_empty() => {
                    ScalarExpr::ColumnOrString(Name::from(first.value.as_str()))
                }
                None => ScalarExpr::ColumnIn(scope.keys(), Name::from(first.value.as_str())),
            };
            for segment in rest {
                expr = ScalarExpr::Field(Box::new(expr), Name::from(segment.value.as_str()));
            }
            return expr;
        }
        let mut segments = path;
        if segments.len() > 1 && scope.is_alias(&segments[0].value) {
            segments = &segments[1..];
        }
        let Some((first, rest)) = segments.split_first() else {
            return ScalarExpr::Literal(Value::Null);
        };
        let mut expr = if first.quote == Quote::Double && rest.is_empty() {
            ScalarExpr::ColumnOrString(Name::from(first.value.as_str()))
        } else {
            ScalarExpr::column(first.value.as_str())
        };
        for segment in rest {
            expr = ScalarExpr::Field(Box::new(expr), Name::from(segment.value.as_str()));
        }
        expr
    }

    /// `GetMetadataPropertyValue(alias, 'Property')`: an input event's
    /// metadata (docs/semantics.md, "Kafka"). `PartitionId`,
    /// `EventEnqueuedUtcTime` and `EventProcessedUtcTime` are columns of the
    /// event; `Key`, `Offset`, `Topic`, `[User]` (every header) and
    /// `[User].[name]` (one header) come from the hidden `__metadata`
    /// record a Kafka source adds. Anything else, or an input without
    /// metadata, gives NULL.
    fn bind_metadata_call(
        &mut self,
        call: &ast::FunctionCall,
        span: Span,
        scope: &Scope,
    ) -> ScalarExpr {
        let alias = match call.args.first() {
            Some(FunctionArg::Expr(ast::Expr {
                kind: ExprKind::Column(path),
                ..
            })) if path.len() == 1 && scope.is_alias(&path[0].value) => path[0].clone(),
            _ => {
                self.errors.push(Diagnostic::error(
                    codes::INVALID,
                    span,
                    "GetMetadataPropertyValue takes an input alias of the FROM clause as its first argument".to_string(),
                ));
                return ScalarExpr::Literal(Value::Null);
            }
        };
        let property = match call.args.get(1) {
            Some(FunctionArg::Expr(ast::Expr {
                kind: ExprKind::Literal(ast::Literal::String(p)),
                ..
            })) if call.args.len() == 2 => p.clone(),
            _ => {
                self.errors.push(Diagnostic::error(
                    codes::INVALID,
                    span,
                    "GetMetadataPropertyValue takes a property name as a string literal as its second argument".to_string(),
                ));
                return ScalarExpr::Literal(Value::Null);
            }
        };
        let segments: Vec<String> = property
            .split('.')
            .map(|p| {
                p.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string()
            })
            .collect();
        let ident = |value: &str| ast::Ident {
            value: value.to_string(),
            quote: ast::Quote::Bracket,
            span,
        };
        let mut path = vec![alias];
        let first = segments.first().map(String::as_str).unwrap_or_default();
        if [
            "PartitionId",
            "EventEnqueuedUtcTime",
            "EventProcessedUtcTime",
        ]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(first))
            && segments.len() == 1
        {
            path.push(ident(first));
        } else {
            path.push(ident("__metadata"));
            for (i, segment) in segments.iter().enumerate() {
                if i == 0 && segment.eq_ignore_ascii_case("User") {
                    path.push(ident("Headers"));
                } else {
                    path.push(ident(segment));
                }
            }
        }
        let expr = ast::Expr {
            kind: ExprKind::Column(path),
            span,
        };
        self.bind_expr(&expr, scope)
    }

    /// `udf.Name(args)` or `uda.Name(x)`: a JavaScript function the job
    /// defines (names are case-insensitive, as ASA's aliases are loose).
    fn bind_javascript_call(
        &mut self,
        call: &ast::FunctionCall,
        namespace: &ast::Ident,
        span: Span,
        scope: &Scope,
    ) -> ScalarExpr {
        let kind = if namespace.matches("udf") {
            JsKind::Udf
        } else if namespace.matches("uda") {
            JsKind::Uda
        } else {
            self.errors.push(
                Diagnostic::error(
                    codes::UNKNOWN_NAME,
                    namespace.span,
                    format!("unknown function prefix \"{}\"", namespace.value),
                )
                .with_help("JavaScript functions are called as udf.Name(...) and aggregates as uda.Name(...)."),
            );
            return ScalarExpr::Literal(Value::Null);
        };
        let name = call.name.value.as_str();
        let qualified = format!("{}.{name}", kind.prefix());
        let Some(function) = self.catalog.function(name) else {
            self.errors.push(
                Diagnostic::error(
                    codes::UNKNOWN_NAME,
                    span,
                    format!("the job defines no JavaScript function {name} for {qualified}"),
                )
                .with_help(format!(
                    "Declare it in the job file: [[functions]] name = \"{name}\", kind = \"{}\", file = \"{}.js\".",
                    kind.prefix(),
                    name.to_lowercase()
                )),
            );
            return ScalarExpr::Literal(Value::Null);
        };
        if function.kind != kind {
            self.errors.push(Diagnostic::error(
                codes::FUNCTION,
                span,
                format!(
                    "{name} is declared as a {}, so it is called as {}",
                    function.kind.prefix().to_uppercase(),
                    function.qualified_name()
                ),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        if call.over.is_some() || call.distinct {
            self.errors.push(Diagnostic::unsupported(
                span,
                &format!("{qualified} with DISTINCT or OVER (...)"),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        let mut args = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            match arg {
                FunctionArg::Expr(e) => args.push(self.bind_expr(e, scope)),
                FunctionArg::Star(star) => self.errors.push(Diagnostic::error(
                    codes::FUNCTION,
                    *star,
                    format!("{qualified} does not take *"),
                )),
            }
        }
        if kind == JsKind::Udf {
            return ScalarExpr::Udf { function, args };
        }
        if self.aggregates.is_none() {
            self.errors.push(Diagnostic::error(
                codes::INVALID,
                span,
                format!("the aggregate {qualified} is only allowed in the SELECT list or HAVING"),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        if args.len() != 1 {
            self.errors.push(Diagnostic::error(
                codes::FUNCTION,
                span,
                format!("{qualified} takes 1 argument, found {}", call.args.len()),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        // The event time rides along as the ORDER BY key: accumulate(value,
        // timestamp) receives it.
        let plan = AggregatePlan {
            kind: AggregateKind::Uda(function),
            argument: args.pop(),
            order_by: vec![ScalarExpr::SystemTimestamp],
        };
        let aggregates = self.aggregates.get_or_insert_with(Vec::new);
        let text = describe_aggregate(&plan);
        let index = match aggregates
            .iter()
            .position(|a| describe_aggregate(a) == text)
        {
            Some(i) => i,
            None => {
                aggregates.push(plan);
                aggregates.len() - 1
            }
        };
        ScalarExpr::column(aggregate_column(index))
    }

    fn bind_call(&mut self, call: &ast::FunctionCall, span: Span, scope: &Scope) -> ScalarExpr {
        let name = call.name.value.as_str();
        if let Some(namespace) = &call.namespace {
            return self.bind_javascript_call(call, namespace, span, scope);
        }
        if is_analytic_call(call) {
            match self.analytic_columns.get(&call.span) {
                Some(&usize::MAX) => {}
                Some(&i) => return ScalarExpr::column(analytic_column(i)),
                // Not collected for a SELECT: nested in another analytic
                // call, or in a clause analytic functions cannot read.
                None => self.errors.push(Diagnostic::error(
                    codes::INVALID,
                    span,
                    format!(
                        "{} is an analytic function and is only allowed in SELECT, WHERE, GROUP BY and HAVING, not inside another analytic function",
                        name.to_ascii_uppercase()
                    ),
                )),
            }
            return ScalarExpr::Literal(Value::Null);
        }
        if functions::is_aggregate(name) {
            return self.bind_aggregate_call(call, span, scope);
        }
        if call.over.is_some() {
            self.errors.push(Diagnostic::unsupported(
                span,
                &format!("OVER with {}", name.to_ascii_uppercase()),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        let lower = name.to_ascii_lowercase();
        if lower == "getmetadatapropertyvalue" {
            return self.bind_metadata_call(call, span, scope);
        }
        if matches!(lower.as_str(), "getarrayelements" | "getrecordproperties") {
            self.errors.push(
                Diagnostic::error(
                    codes::INVALID,
                    span,
                    format!(
                        "{name} returns rows and is only allowed in CROSS APPLY or OUTER APPLY"
                    ),
                )
                .with_help(format!(
                    "Write `FROM input CROSS APPLY {name}(column) AS e`."
                )),
            );
            return ScalarExpr::Literal(Value::Null);
        }
        let Some(builtin) = functions::lookup(name) else {
            self.errors.push(
                Diagnostic::error(
                    codes::UNKNOWN_NAME,
                    call.name.span,
                    format!("unknown function \"{name}\""),
                )
                .with_help("See docs/semantics.md for the functions Eddy implements."),
            );
            return ScalarExpr::Literal(Value::Null);
        };
        let count = call.args.len();
        let too_few = count < builtin.min_args;
        let too_many = builtin.max_args.is_some_and(|max| count > max);
        if too_few || too_many {
            let expected = match builtin.max_args {
                Some(max) if max == builtin.min_args => format!("{max}"),
                Some(max) => format!("{} to {max}", builtin.min_args),
                None => format!("at least {}", builtin.min_args),
            };
            self.errors.push(Diagnostic::error(
                codes::FUNCTION,
                span,
                format!(
                    "{} takes {expected} argument{}, found {count}",
                    builtin.name,
                    if expected == "1" { "" } else { "s" }
                ),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        let mut args = Vec::with_capacity(count);
        for (i, arg) in call.args.iter().enumerate() {
            match arg {
                FunctionArg::Star(star) => {
                    self.errors.push(Diagnostic::error(
                        codes::FUNCTION,
                        *star,
                        format!("{} does not take *", builtin.name),
                    ));
                }
                FunctionArg::Expr(e) if i == 0 && builtin.datepart_first => match &e.kind {
                    ExprKind::Column(path) if path.len() == 1 => {
                        args.push(ScalarExpr::Literal(Value::String(path[0].value.clone())));
                    }
                    _ => {
                        self.errors.push(
                            Diagnostic::error(
                                codes::FUNCTION,
                                e.span,
                                format!("expected a date part as the first argument of {}", builtin.name),
                            )
                            .with_help("Date parts are words such as year, month, day, hour, minute, second, millisecond."),
                        );
                    }
                },
                // DATEDIFF(unit, a, b) over source aliases compares the
                // sources' event times (§1 JOIN).
                FunctionArg::Expr(e)
                    if builtin.name.eq_ignore_ascii_case("DATEDIFF") && scope.nested.is_some() =>
                {
                    match &e.kind {
                        ExprKind::Column(path) if path.len() == 1 => {
                            match scope.key_of(&path[0].value) {
                                Some(key) => args.push(ScalarExpr::column(time_column(&key))),
                                None => args.push(self.bind_expr(e, scope)),
                            }
                        }
                        _ => args.push(self.bind_expr(e, scope)),
                    }
                }
                FunctionArg::Expr(e) => args.push(self.bind_expr(e, scope)),
            }
        }
        ScalarExpr::Call {
            function: builtin,
            args,
        }
    }
}

/// The time window of a stream-stream join from `DATEDIFF(unit, a, b)
/// BETWEEN lo AND hi` (or one comparison with a literal): for a left event at
/// `tL`, partners have `tR - tL` in `[low, high]` ticks (widened by one unit
/// each way, since DATEDIFF counts boundaries; the exact condition is
/// checked on each pair). The third value is the latest nominal partner
/// offset: an unmatched LEFT row is emitted at `tL` plus that.
fn join_time_bound(
    conjunct: &ast::Expr,
    right_names: &[String],
    left_sources: &[(String, Name)],
) -> Option<(i64, i64, i64)> {
    let literal = |e: &ast::Expr| -> Option<i64> {
        match &e.kind {
            ExprKind::Literal(Literal::Integer(i)) => Some(*i),
            ExprKind::Unary {
                op: ast::UnaryOp::Neg,
                expr,
            } => match &expr.kind {
                ExprKind::Literal(Literal::Integer(i)) => i.checked_neg(),
                _ => None,
            },
            _ => None,
        }
    };
    let datediff = |e: &ast::Expr| -> Option<(i64, bool)> {
        let ExprKind::Function(call) = &e.kind else {
            return None;
        };
        if !call.name.matches("DATEDIFF") || call.args.len() != 3 {
            return None;
        }
        let word = |a: &FunctionArg| match a {
            FunctionArg::Expr(ast::Expr {
                kind: ExprKind::Column(path),
                ..
            }) if path.len() == 1 => Some(path[0].value.clone()),
            _ => None,
        };
        let unit = ast::TimeUnit::parse(&word(call.args.first()?)?)?.ticks();
        let (a, b) = (word(call.args.get(1)?)?, word(call.args.get(2)?)?);
        let is_right = |n: &str| right_names.iter().any(|r| r.eq_ignore_ascii_case(n));
        let is_left = |n: &str| left_sources.iter().any(|(w, _)| w.eq_ignore_ascii_case(n));
        if is_left(&a) && is_right(&b) {
            Some((unit, false))
        } else if is_right(&a) && is_left(&b) {
            Some((unit, true))
        } else {
            None
        }
    };
    const OPEN: i64 = 7 * 864_000_000_000;
    let (unit, swapped, lo, hi) = match &conjunct.kind {
        ExprKind::Between {
            expr,
            low,
            high,
            negated: false,
        } => {
            let (unit, swapped) = datediff(expr)?;
            (unit, swapped, literal(low)?, literal(high)?)
        }
        ExprKind::Binary { op, left, right } => {
            let ((unit, swapped), value, op) = match (datediff(left), datediff(right)) {
                (Some(d), None) => (d, literal(right)?, *op),
                (None, Some(d)) => (d, literal(left)?, flip(*op)?),
                _ => return None,
            };
            let open = OPEN / unit;
            match op {
                ast::BinaryOp::Eq => (unit, swapped, value, value),
                ast::BinaryOp::LtEq => (unit, swapped, -open, value),
                ast::BinaryOp::Lt => (unit, swapped, -open, value.checked_sub(1)?),
                ast::BinaryOp::GtEq => (unit, swapped, value, open),
                ast::BinaryOp::Gt => (unit, swapped, value.checked_add(1)?, open),
                _ => return None,
            }
        }
        _ => return None,
    };
    // DATEDIFF(unit, L, R) counts R - L; swapped, it counts L - R.
    let (nominal_lo, nominal_hi) = if swapped {
        (
            hi.checked_neg()?.checked_mul(unit)?,
            lo.checked_neg()?.checked_mul(unit)?,
        )
    } else {
        (lo.checked_mul(unit)?, hi.checked_mul(unit)?)
    };
    Some((
        nominal_lo.checked_sub(unit)?,
        nominal_hi.checked_add(unit)?,
        nominal_hi,
    ))
}

fn flip(op: ast::BinaryOp) -> Option<ast::BinaryOp> {
    Some(match op {
        ast::BinaryOp::Eq => ast::BinaryOp::Eq,
        ast::BinaryOp::Lt => ast::BinaryOp::Gt,
        ast::BinaryOp::LtEq => ast::BinaryOp::GtEq,
        ast::BinaryOp::Gt => ast::BinaryOp::Lt,
        ast::BinaryOp::GtEq => ast::BinaryOp::LtEq,
        _ => return None,
    })
}

/// The AND-ed parts of a condition.
fn conjuncts(expr: &ast::Expr) -> Vec<&ast::Expr> {
    match &expr.kind {
        ExprKind::Binary {
            op: ast::BinaryOp::And,
            left,
            right,
        } => {
            let mut out = conjuncts(left);
            out.extend(conjuncts(right));
            out
        }
        _ => vec![expr],
    }
}

/// `DATEDIFF(...) BETWEEN lo AND hi`, or a comparison with DATEDIFF: the
/// time bound of a stream-stream join.
fn is_datediff_bound(expr: &ast::Expr) -> bool {
    let is_datediff = |e: &ast::Expr| matches!(&e.kind, ExprKind::Function(call) if call.name.matches("DATEDIFF"));
    match &expr.kind {
        ExprKind::Between { expr, .. } => is_datediff(expr),
        ExprKind::Binary { left, right, op }
            if !matches!(op, ast::BinaryOp::And | ast::BinaryOp::Or) =>
        {
            is_datediff(left) || is_datediff(right)
        }
        _ => false,
    }
}

/// The source keys an expression over nested rows reads; `None` when it
/// reads an unqualified column (which could be any source).
fn referenced_sources(expr: &ScalarExpr) -> Option<Vec<Name>> {
    fn walk(e: &ScalarExpr, out: &mut Vec<Name>, ambiguous: &mut bool) {
        match e {
            ScalarExpr::Column(column) => out.push(column.name().clone()),
            ScalarExpr::ColumnIn(..) | ScalarExpr::ColumnOrString(_) => *ambiguous = true,
            other => {
                let _ = other.clone().map_children(&mut |child| {
                    walk(&child, out, ambiguous);
                    child
                });
            }
        }
    }
    let mut out = Vec::new();
    let mut ambiguous = false;
    walk(expr, &mut out, &mut ambiguous);
    (!ambiguous).then_some(out)
}

fn describe_aggregate(a: &AggregatePlan) -> String {
    let arg = a
        .argument
        .as_ref()
        .map_or("*".to_string(), |e| e.to_string());
    let order: Vec<String> = a.order_by.iter().map(|e| e.to_string()).collect();
    format!("{:?}({arg}) ORDER BY {}", a.kind, order.join(",")).to_lowercase()
}

/// True for `LAG`, `LAST`, `ISFIRST` and the aggregate forms with
/// `OVER (... LIMIT DURATION / PARTITION BY / WHEN ...)` (§5); an aggregate
/// with only `OVER (ORDER BY ...)` is an ordinary windowed aggregate.
fn is_analytic_call(call: &ast::FunctionCall) -> bool {
    if call.namespace.is_some() {
        return false;
    }
    functions::is_analytic(&call.name.value)
        || (functions::is_aggregate(&call.name.value)
            && call.over.as_ref().is_some_and(|o| {
                o.limit_duration.is_some() || !o.partition_by.is_empty() || o.when.is_some()
            }))
}

/// The analytic calls in an expression, outermost first; calls nested in
/// an analytic call's arguments are not collected (binding reports them).
fn collect_analytic_calls<'e>(expr: &'e ast::Expr, out: &mut Vec<&'e ast::FunctionCall>) {
    match &expr.kind {
        ExprKind::Function(call) if is_analytic_call(call) => out.push(call),
        ExprKind::Function(call) => {
            for arg in &call.args {
                if let FunctionArg::Expr(e) = arg {
                    collect_analytic_calls(e, out);
                }
            }
        }
        ExprKind::Unary { expr, .. }
        | ExprKind::IsNull { expr, .. }
        | ExprKind::Cast { expr, .. } => collect_analytic_calls(expr, out),
        ExprKind::Binary { left, right, .. } => {
            collect_analytic_calls(left, out);
            collect_analytic_calls(right, out);
        }
        ExprKind::Like { expr, pattern, .. } => {
            collect_analytic_calls(expr, out);
            collect_analytic_calls(pattern, out);
        }
        ExprKind::Between {
            expr, low, high, ..
        } => {
            collect_analytic_calls(expr, out);
            collect_analytic_calls(low, out);
            collect_analytic_calls(high, out);
        }
        ExprKind::InList { expr, list, .. } => {
            collect_analytic_calls(expr, out);
            for e in list {
                collect_analytic_calls(e, out);
            }
        }
        ExprKind::Case {
            operand,
            whens,
            else_result,
        } => {
            if let Some(o) = operand {
                collect_analytic_calls(o, out);
            }
            for (w, t) in whens {
                collect_analytic_calls(w, out);
                collect_analytic_calls(t, out);
            }
            if let Some(e) = else_result {
                collect_analytic_calls(e, out);
            }
        }
        _ => {}
    }
}

/// True when the SELECT list or HAVING calls an aggregate function.
fn select_uses_aggregates(select: &ast::Select) -> bool {
    fn walk(e: &ast::Expr) -> bool {
        match &e.kind {
            ExprKind::Function(call) => {
                (call.namespace.is_none()
                    && functions::is_aggregate(&call.name.value)
                    && !is_analytic_call(call))
                    || call.namespace.as_ref().is_some_and(|n| n.matches("uda"))
                    || call
                        .args
                        .iter()
                        .any(|a| matches!(a, FunctionArg::Expr(x) if walk(x)))
            }
            ExprKind::Unary { expr, .. }
            | ExprKind::IsNull { expr, .. }
            | ExprKind::Cast { expr, .. } => walk(expr),
            ExprKind::Binary { left, right, .. } => walk(left) || walk(right),
            ExprKind::Like { expr, pattern, .. } => walk(expr) || walk(pattern),
            ExprKind::Between {
                expr, low, high, ..
            } => walk(expr) || walk(low) || walk(high),
            ExprKind::InList { expr, list, .. } => walk(expr) || list.iter().any(walk),
            ExprKind::Case {
                operand,
                whens,
                else_result,
            } => {
                operand.as_deref().is_some_and(walk)
                    || whens.iter().any(|(w, t)| walk(w) || walk(t))
                    || else_result.as_deref().is_some_and(walk)
            }
            _ => false,
        }
    }
    select
        .projection
        .iter()
        .any(|item| matches!(item, ast::SelectItem::Expr { expr, .. } if walk(expr)))
        || select.having.as_ref().is_some_and(walk)
}

/// Replaces input columns named like a SELECT alias with the aliased expression.
fn substitute_aliases(expr: ScalarExpr, aliases: &[(String, ScalarExpr)]) -> ScalarExpr {
    match expr {
        ScalarExpr::Column(name) if !name.starts_with("__") => {
            match aliases
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(&name))
            {
                Some((_, aliased)) => aliased.clone(),
                None => ScalarExpr::Column(name),
            }
        }
        other => other.map_children(&mut |child| substitute_aliases(child, aliases)),
    }
}

fn into_span(into: &ast::Into) -> Span {
    match into {
        ast::Into::Output(ident) => ident.span,
        ast::Into::Shards(_, span) => *span,
    }
}

fn select_item_span(item: &ast::SelectItem) -> Span {
    match item {
        ast::SelectItem::Wildcard(span) | ast::SelectItem::QualifiedWildcard(_, span) => *span,
        ast::SelectItem::Expr { expr, alias } => match alias {
            Some(a) => expr.span.to(a.span),
            None => expr.span,
        },
    }
}

/// The name of an unaliased SELECT item: a column keeps its (last path
/// segment's) name; any other expression is `column<N>` by its 1-based
/// position. See docs/semantics.md.
fn default_column_name(expr: &ast::Expr, position: usize) -> String {
    match &expr.kind {
        ExprKind::Column(path) => path
            .last()
            .map(|i| i.value.clone())
            .unwrap_or_else(|| format!("column{}", position + 1)),
        _ => format!("column{}", position + 1),
    }
}

fn unknown_input(ident: &ast::Ident, catalog: &dyn Catalog) -> Diagnostic {
    let names = catalog.input_names();
    let mut d = Diagnostic::error(
        codes::UNKNOWN_NAME,
        ident.span,
        format!("unknown input or step \"{}\"", ident.value),
    );
    d = match closest(&ident.value, &names) {
        Some(close) => d.with_help(format!("Did you mean input \"{close}\"?")),
        None => d.with_help(suggest_list("inputs", &names)),
    };
    d
}

fn unknown_output(ident: &ast::Ident, catalog: &dyn Catalog) -> Diagnostic {
    let names = catalog.output_names();
    let d = Diagnostic::error(
        codes::UNKNOWN_NAME,
        ident.span,
        format!("unknown output \"{}\"", ident.value),
    );
    match closest(&ident.value, &names) {
        Some(close) => d.with_help(format!("Did you mean output \"{close}\"?")),
        None => d.with_help(suggest_list("outputs", &names)),
    }
}

fn suggest_list(kind: &str, names: &[String]) -> String {
    if names.is_empty() {
        format!("The job declares no {kind}.")
    } else {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        format!("The job's {kind} are {}.", quoted.join(", "))
    }
}

/// The candidate within edit distance 2 of `name`, ignoring case.
fn closest(name: &str, candidates: &[String]) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// A data type by ASA name, for job-file schemas.
pub fn data_type_by_name(name: &str) -> Option<DataType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "bigint" => DataType::Bigint,
        "float" => DataType::Float,
        "nvarchar(max)" | "nvarchar" => DataType::NVarchar,
        "datetime" => DataType::DateTime,
        "bit" => DataType::Bit,
        "record" => DataType::Record,
        "array" => DataType::Array,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("input", "input"), 0);
        assert_eq!(edit_distance("inptu", "input"), 2);
        assert_eq!(
            closest("Inptu", &["Input".to_string()]).as_deref(),
            Some("Input")
        );
        assert_eq!(closest("zzz", &["Input".to_string()]), None);
    }
}
