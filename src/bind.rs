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

use std::collections::HashMap;

use crate::diag::{codes, Diagnostic, Diagnostics, Span};
use crate::expr::functions;
use crate::plan::{OutputPlan, Plan, ProjectItem, Rel, ScalarExpr, SourcePlan, StepPlan};
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
}

/// The names visible inside one SELECT: the FROM source's alias.
struct Scope {
    aliases: Vec<String>,
}

impl Scope {
    fn is_alias(&self, name: &str) -> bool {
        self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
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
        let (mut rel, scope) = self.bind_from(&select.from);
        if let Some(predicate) = &select.selection {
            let predicate_expr = self.bind_expr(predicate, &scope);
            rel = Rel::Filter {
                input: Box::new(rel),
                predicate: predicate_expr,
                span: predicate.span,
            };
        }
        if let Some(span) = select.group_by_span {
            let window_span = select
                .group_by
                .iter()
                .find_map(|g| match g {
                    ast::GroupItem::Window(w) => Some(w.span),
                    ast::GroupItem::Expr(_) => None,
                })
                .unwrap_or(span);
            self.errors.push(Diagnostic::unsupported(
                window_span,
                "GROUP BY with windows",
            ));
        } else if let Some(having) = &select.having {
            let predicate_expr = self.bind_expr(having, &scope);
            rel = Rel::Filter {
                input: Box::new(rel),
                predicate: predicate_expr,
                span: having.span,
            };
        }
        let items = self.bind_projection(&select.projection, &scope);
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

    fn bind_from(&mut self, from: &ast::From) -> (Rel, Scope) {
        for join in &from.joins {
            match join {
                ast::JoinClause::Join { span, .. } => {
                    self.errors.push(Diagnostic::unsupported(*span, "JOIN"));
                }
                ast::JoinClause::Apply { span, kind, .. } => {
                    let what = match kind {
                        ast::ApplyKind::Cross => "CROSS APPLY",
                        ast::ApplyKind::Outer => "OUTER APPLY",
                    };
                    self.errors.push(Diagnostic::unsupported(*span, what));
                }
            }
        }
        let source = &from.source;
        if let Some(mr) = &source.match_recognize {
            self.errors
                .push(Diagnostic::unsupported(mr.span, "MATCH_RECOGNIZE"));
        }
        let mut aliases = vec![source.name.value.clone()];
        if let Some(alias) = &source.alias {
            aliases.push(alias.value.clone());
        }
        let scope = Scope { aliases };
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
        if input.reference {
            self.errors.push(Diagnostic::unsupported(
                source.name.span,
                "reading reference data outside a JOIN",
            ));
        }
        let schema = self
            .schemas
            .get(&input.name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        let source_scope = Scope {
            aliases: Vec::new(),
        };
        let (timestamp_by, over) = match &source.timestamp_by {
            Some(ts) => {
                let expr = self.bind_expr(&ts.expr, &source_scope);
                if !ts.over.is_empty() {
                    self.errors.push(Diagnostic::unsupported(
                        ts.span,
                        "TIMESTAMP BY ... OVER (substreams)",
                    ));
                }
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
            span: source.span,
        });
        (Rel::Source(id), scope)
    }

    fn bind_projection(&mut self, items: &[ast::SelectItem], scope: &Scope) -> Vec<ProjectItem> {
        let mut out = Vec::with_capacity(items.len());
        let mut names: HashMap<String, Span> = HashMap::new();
        for (position, item) in items.iter().enumerate() {
            match item {
                ast::SelectItem::Wildcard(_) => out.push(ProjectItem::Wildcard),
                ast::SelectItem::QualifiedWildcard(path, span) => {
                    if path.len() == 1 && scope.is_alias(&path[0].value) {
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
            ScalarExpr::Column(Name::from(first.value.as_str()))
        };
        for segment in rest {
            expr = ScalarExpr::Field(Box::new(expr), Name::from(segment.value.as_str()));
        }
        expr
    }

    fn bind_call(&mut self, call: &ast::FunctionCall, span: Span, scope: &Scope) -> ScalarExpr {
        let name = call.name.value.as_str();
        if let Some(ns) = &call.namespace {
            let what = if ns.matches("uda") {
                "JavaScript user-defined aggregates (uda.)"
            } else {
                "JavaScript user-defined functions (udf.)"
            };
            self.errors.push(Diagnostic::unsupported(span, what));
            return ScalarExpr::Literal(Value::Null);
        }
        if functions::is_aggregate(name) {
            self.errors.push(Diagnostic::unsupported(
                span,
                &format!("the aggregate function {}", name.to_ascii_uppercase()),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        if functions::is_analytic(name) || call.over.is_some() {
            self.errors.push(Diagnostic::unsupported(
                span,
                &format!("the analytic function {}", name.to_ascii_uppercase()),
            ));
            return ScalarExpr::Literal(Value::Null);
        }
        let lower = name.to_ascii_lowercase();
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
        const GEOSPATIAL: [&str; 7] = [
            "createpoint",
            "createlinestring",
            "createpolygon",
            "st_distance",
            "st_within",
            "st_intersects",
            "st_overlaps",
        ];
        if GEOSPATIAL.contains(&lower.as_str()) {
            self.errors.push(Diagnostic::unsupported(
                span,
                &format!("the geospatial function {name}"),
            ));
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
                FunctionArg::Expr(e) => args.push(self.bind_expr(e, scope)),
            }
        }
        ScalarExpr::Call {
            function: builtin,
            args,
        }
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
