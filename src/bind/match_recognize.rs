//! Binding `MATCH_RECOGNIZE` (ASA-SEMANTICS.md §1, §13.14) to a
//! [`MatchRecognizePlan`].
//!
//! - PATTERN variables are numbered in order of first appearance; `.` is a
//!   variable that every row satisfies, as is a variable without DEFINE.
//! - A DEFINE condition is bound over the source row, where `Var.field`
//!   (the variable being defined) and a bare `field` both read the row
//!   being classified. Conditions that read other variables (`B AS
//!   B.x > A.x`) or use aggregate methods are reported as unsupported: a
//!   row's variables are then a fixed bit set, which the matcher relies on.
//! - MEASURES are rewritten before binding: each `First/Last/Min/Max(Var.f)`
//!   and `Classifier()` becomes a slot column (`__mrN`) that the operator
//!   fills per match; a bare `Var.f` means `Last(Var.f)` and a bare `f`
//!   the value at the match's last row. The rest of a measure is an
//!   ordinary scalar expression over the slots.
//! - The output rows hold the MEASURES only (§13.14: `SELECT *` gives the
//!   measures; PARTITION BY columns are not added).

use super::{Binder, Scope};
use crate::diag::{codes, Diagnostic, Span};
use crate::expr::row_pattern::{Program, RowPattern, VarId, MAX_VARIABLES};
use crate::plan::{
    measure_slot_column, MatchRecognizePlan, MeasureMethod, MeasureSlot, Rel, ScalarExpr,
};
use crate::syntax::ast::{self, ExprKind, FunctionArg, Quote};
use crate::types::Name;

/// Pattern variables and measure slots collected while binding.
struct Context {
    variables: Vec<String>,
    slots: Vec<MeasureSlot>,
    slot_arguments: Vec<ScalarExpr>,
}

impl Context {
    fn var(&self, name: &str) -> Option<VarId> {
        self.variables
            .iter()
            .position(|v| v.eq_ignore_ascii_case(name))
            .and_then(|i| VarId::try_from(i).ok())
    }
}

impl Binder<'_> {
    /// Binds `mr` over the rows of `input`, whose scope has `aliases`.
    pub(super) fn bind_match_recognize(
        &mut self,
        mr: &ast::MatchRecognize,
        input: Rel,
        aliases: Vec<String>,
    ) -> (Rel, Scope) {
        let limit = self.window_length(&mr.limit_duration, "LIMIT DURATION");
        let mut ctx = Context {
            variables: Vec::new(),
            slots: Vec::new(),
            slot_arguments: Vec::new(),
        };
        collect_variables(&mr.pattern, &mut ctx.variables);
        if ctx.variables.len() > MAX_VARIABLES {
            self.errors.push(Diagnostic::error(
                codes::INVALID,
                mr.span,
                format!("a pattern may use at most {MAX_VARIABLES} variables"),
            ));
        }
        let pattern = bind_pattern(&mr.pattern, &ctx);
        if let Err(message) = Program::compile(&pattern) {
            self.errors
                .push(Diagnostic::error(codes::INVALID, mr.span, message));
        }
        let source_scope = Scope::flat(aliases.clone());
        let partition_by = mr
            .partition_by
            .iter()
            .map(|k| self.bind_expr(k, &source_scope))
            .collect();
        let mut conditions: Vec<Option<ScalarExpr>> = vec![None; ctx.variables.len()];
        let mut defined: Vec<Option<Span>> = vec![None; ctx.variables.len()];
        for (name, condition) in &mr.define {
            let Some(var) = ctx.var(&name.value).filter(|_| name.value != ".") else {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        name.span,
                        format!(
                            "DEFINE names \"{}\", which PATTERN does not use",
                            name.value
                        ),
                    )
                    .with_help("Define only the variables the pattern uses."),
                );
                continue;
            };
            let index = usize::from(var);
            if let Some(first) = defined[index] {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        name.span,
                        format!("pattern variable \"{}\" is defined twice", name.value),
                    )
                    .with_secondary(first, "first defined here"),
                );
                continue;
            }
            defined[index] = Some(name.span);
            self.check_define(condition, &name.value, &ctx);
            let mut scope_aliases = aliases.clone();
            scope_aliases.push(name.value.clone());
            conditions[index] = Some(self.bind_expr(condition, &Scope::flat(scope_aliases)));
        }
        let mut measures = Vec::with_capacity(mr.measures.len());
        let mut names: Vec<(String, Span)> = Vec::new();
        for (expr, name) in &mr.measures {
            if let Some((_, first)) = names.iter().find(|(n, _)| name.matches(n)) {
                self.errors.push(
                    Diagnostic::error(
                        codes::INVALID,
                        name.span,
                        format!("measure \"{}\" is named twice", name.value),
                    )
                    .with_secondary(*first, "first named here"),
                );
                continue;
            }
            names.push((name.value.clone(), name.span));
            let mut rewritten = expr.clone();
            self.rewrite_measure(&mut rewritten, &mut ctx, &source_scope);
            let bound = self.bind_expr(&rewritten, &Scope::flat(Vec::new()));
            measures.push((Name::from(name.value.as_str()), bound));
        }
        let mut out_aliases = Vec::new();
        if let Some(alias) = &mr.alias {
            out_aliases.push(alias.value.clone());
        }
        let plan = MatchRecognizePlan {
            input,
            partition_by,
            limit,
            variables: ctx.variables,
            conditions,
            pattern,
            slot_arguments: ctx.slot_arguments,
            slots: ctx.slots,
            measures,
            span: mr.span,
        };
        (
            Rel::MatchRecognize(Box::new(plan)),
            Scope::flat(out_aliases),
        )
    }

    /// Reports what a DEFINE condition may not do here: read another
    /// variable's rows, or use an aggregate method.
    fn check_define(&mut self, expr: &ast::Expr, defining: &str, ctx: &Context) {
        match &expr.kind {
            ExprKind::Column(path)
                if path.len() > 1
                    && !path[0].matches(defining)
                    && ctx.var(&path[0].value).is_some() =>
            {
                self.errors.push(
                    Diagnostic::unsupported(
                        expr.span,
                        "a DEFINE condition that reads another pattern variable",
                    )
                    .with_help(format!(
                        "Conditions may read the row being classified: write {defining}.{}.",
                        path[1].value
                    )),
                );
            }
            ExprKind::Function(call)
                if call.namespace.is_none() && method(&call.name).is_some() =>
            {
                self.errors.push(Diagnostic::unsupported(
                    expr.span,
                    "aggregate methods in DEFINE conditions",
                ));
            }
            _ => {
                for child in children(expr) {
                    self.check_define(child, defining, ctx);
                }
            }
        }
    }

    /// Replaces the aggregate methods, `Classifier()` and column references
    /// of a measure by slot columns.
    fn rewrite_measure(&mut self, expr: &mut ast::Expr, ctx: &mut Context, source: &Scope) {
        let span = expr.span;
        let slot = match &expr.kind {
            ExprKind::Function(call) if call.namespace.is_none() => {
                if call.name.matches("Classifier") {
                    if !call.args.is_empty() {
                        self.errors.push(Diagnostic::error(
                            codes::INVALID,
                            span,
                            "Classifier() takes no arguments",
                        ));
                    }
                    Some(self.slot(ctx, MeasureSlot::Classifier, None))
                } else if let Some(m) = method(&call.name) {
                    match call.args.as_slice() {
                        [FunctionArg::Expr(arg)] => match &arg.kind {
                            ExprKind::Column(path) => {
                                let (var, field) = split_variable(path, ctx, source);
                                Some(self.slot(ctx, slot_for(m, var), Some(field)))
                            }
                            _ => {
                                self.errors.push(
                                    Diagnostic::unsupported(
                                        arg.span,
                                        "an expression as the argument of an aggregate method",
                                    )
                                    .with_help("ASA's aggregate methods take one field, e.g. First(Warning.Time)."),
                                );
                                None
                            }
                        },
                        _ => {
                            self.errors.push(Diagnostic::error(
                                codes::INVALID,
                                span,
                                format!("{}() takes one field", call.name.value),
                            ));
                            None
                        }
                    }
                } else {
                    None
                }
            }
            ExprKind::Column(path) => {
                let (var, field) = split_variable(path, ctx, source);
                Some(self.slot(ctx, slot_for(MeasureMethod::Last, var), Some(field)))
            }
            _ => None,
        };
        match slot {
            Some(column) => {
                expr.kind = ExprKind::Column(vec![ast::Ident {
                    value: column.to_string(),
                    quote: Quote::Bracket,
                    span,
                }]);
            }
            None => {
                if !matches!(expr.kind, ExprKind::Function(ref c) if c.namespace.is_none() && (method(&c.name).is_some() || c.name.matches("Classifier")))
                {
                    for child in children_mut(expr) {
                        self.rewrite_measure(child, ctx, source);
                    }
                }
            }
        }
    }

    /// Adds a slot (reading `field` per row, if given) and returns its column.
    fn slot(&mut self, ctx: &mut Context, slot: MeasureSlot, field: Option<ScalarExpr>) -> Name {
        let slot = match (slot, field) {
            (MeasureSlot::Aggregate { method, var, .. }, Some(field)) => {
                ctx.slot_arguments.push(field);
                MeasureSlot::Aggregate {
                    method,
                    var,
                    argument: ctx.slot_arguments.len() - 1,
                }
            }
            (other, _) => other,
        };
        ctx.slots.push(slot);
        measure_slot_column(ctx.slots.len() - 1)
    }
}

fn slot_for(method: MeasureMethod, var: Option<VarId>) -> MeasureSlot {
    MeasureSlot::Aggregate {
        method,
        var,
        argument: 0,
    }
}

/// `Var.field...` → (Some(var), field path); anything else reads every row.
fn split_variable(
    path: &[ast::Ident],
    ctx: &Context,
    source: &Scope,
) -> (Option<VarId>, ScalarExpr) {
    let (var, rest) = match path.split_first() {
        Some((first, rest)) if !rest.is_empty() => match ctx.var(&first.value) {
            Some(v) => (Some(v), rest),
            None => (None, path),
        },
        _ => (None, path),
    };
    let mut segments = rest;
    if segments.len() > 1 && source.is_alias(&segments[0].value) {
        segments = &segments[1..];
    }
    let mut expr = match segments.split_first() {
        Some((first, _)) => ScalarExpr::column(first.value.as_str()),
        None => ScalarExpr::Literal(crate::types::Value::Null),
    };
    for segment in segments.iter().skip(1) {
        expr = ScalarExpr::Field(Box::new(expr), Name::from(segment.value.as_str()));
    }
    (var, expr)
}

fn method(name: &ast::Ident) -> Option<MeasureMethod> {
    [
        ("First", MeasureMethod::First),
        ("Last", MeasureMethod::Last),
        ("Min", MeasureMethod::Min),
        ("Max", MeasureMethod::Max),
    ]
    .into_iter()
    .find(|(n, _)| name.matches(n))
    .map(|(_, m)| m)
}

fn collect_variables(pattern: &ast::Pattern, out: &mut Vec<String>) {
    match pattern {
        ast::Pattern::Var(ident) => {
            if !out.iter().any(|v| v.eq_ignore_ascii_case(&ident.value)) {
                out.push(ident.value.clone());
            }
        }
        ast::Pattern::Seq(items) | ast::Pattern::Alt(items) => {
            for item in items {
                collect_variables(item, out);
            }
        }
        ast::Pattern::Repeat { inner, .. } => collect_variables(inner, out),
    }
}

fn bind_pattern(pattern: &ast::Pattern, ctx: &Context) -> RowPattern {
    match pattern {
        ast::Pattern::Var(ident) => RowPattern::Var(ctx.var(&ident.value).unwrap_or(0)),
        ast::Pattern::Seq(items) => {
            RowPattern::Seq(items.iter().map(|p| bind_pattern(p, ctx)).collect())
        }
        ast::Pattern::Alt(items) => {
            RowPattern::Alt(items.iter().map(|p| bind_pattern(p, ctx)).collect())
        }
        ast::Pattern::Repeat { inner, min, max } => RowPattern::Repeat {
            inner: Box::new(bind_pattern(inner, ctx)),
            min: *min,
            max: *max,
        },
    }
}

fn children(expr: &ast::Expr) -> Vec<&ast::Expr> {
    match &expr.kind {
        ExprKind::Literal(_)
        | ExprKind::Column(_)
        | ExprKind::SystemTimestamp
        | ExprKind::SystemWindowId => Vec::new(),
        ExprKind::Unary { expr, .. }
        | ExprKind::IsNull { expr, .. }
        | ExprKind::Cast { expr, .. } => {
            vec![&**expr]
        }
        ExprKind::Binary { left, right, .. } => vec![&**left, &**right],
        ExprKind::Like { expr, pattern, .. } => vec![&**expr, &**pattern],
        ExprKind::Between {
            expr, low, high, ..
        } => vec![&**expr, &**low, &**high],
        ExprKind::InList { expr, list, .. } => std::iter::once(&**expr).chain(list).collect(),
        ExprKind::Case {
            operand,
            whens,
            else_result,
        } => operand
            .iter()
            .map(|b| &**b)
            .chain(whens.iter().flat_map(|(w, t)| [w, t]))
            .chain(else_result.iter().map(|b| &**b))
            .collect(),
        ExprKind::Function(call) => call
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Expr(e) => Some(e),
                FunctionArg::Star(_) => None,
            })
            .collect(),
    }
}

fn children_mut(expr: &mut ast::Expr) -> Vec<&mut ast::Expr> {
    match &mut expr.kind {
        ExprKind::Literal(_)
        | ExprKind::Column(_)
        | ExprKind::SystemTimestamp
        | ExprKind::SystemWindowId => Vec::new(),
        ExprKind::Unary { expr, .. }
        | ExprKind::IsNull { expr, .. }
        | ExprKind::Cast { expr, .. } => {
            vec![&mut **expr]
        }
        ExprKind::Binary { left, right, .. } => vec![&mut **left, &mut **right],
        ExprKind::Like { expr, pattern, .. } => vec![&mut **expr, &mut **pattern],
        ExprKind::Between {
            expr, low, high, ..
        } => {
            vec![&mut **expr, &mut **low, &mut **high]
        }
        ExprKind::InList { expr, list, .. } => std::iter::once(&mut **expr)
            .chain(list.iter_mut())
            .collect(),
        ExprKind::Case {
            operand,
            whens,
            else_result,
        } => operand
            .iter_mut()
            .map(|b| &mut **b)
            .chain(whens.iter_mut().flat_map(|(w, t)| [w, t]))
            .chain(else_result.iter_mut().map(|b| &mut **b))
            .collect(),
        ExprKind::Function(call) => call
            .args
            .iter_mut()
            .filter_map(|a| match a {
                FunctionArg::Expr(e) => Some(e),
                FunctionArg::Star(_) => None,
            })
            .collect(),
    }
}
