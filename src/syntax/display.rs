//! Canonical ASA text for the AST: `impl Display` for every node.
//!
//! Keywords are printed in upper case, identifiers are quoted back the way
//! they were written (`[a]`, `"a"`), time units get their full names, and
//! parentheses are added only where operator precedence needs them. Parsing
//! the printed text gives the same tree again (up to spans), so printing is
//! idempotent: `display(parse(display(parse(q)))) == display(parse(q))`.

use std::fmt::{self, Display, Formatter, Write};

use crate::syntax::ast::{
    ApplyKind, BinaryOp, CreateTable, DurationLit, Expr, ExprKind, FunctionArg, FunctionCall,
    GroupItem, Ident, Into, JoinClause, JoinKind, Literal, MatchRecognize, OrderItem, Over,
    Pattern, Query, Quote, Script, Select, SelectItem, SetExpr, Statement, TableRef, TypeName,
    UnaryOp, Window, WindowKind, WindowMember,
};
use crate::syntax::lexer::{self, TokenKind};
use crate::syntax::parser::is_reserved;

/// Writes `items` separated by `sep`.
fn list<T: Display>(f: &mut Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Script {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, statement) in self.statements.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{statement}")?;
        }
        Ok(())
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::CreateTable(t) => t.fmt(f),
            Statement::Query(q) => q.fmt(f),
        }
    }
}

impl Display for CreateTable {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE TABLE {} (", self.name)?;
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", column.name, column.ty)?;
        }
        f.write_str(");")
    }
}

impl Display for TypeName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ty.name().to_ascii_uppercase())
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, step) in self.with.iter().enumerate() {
            f.write_str(if i == 0 { "WITH " } else { ",\n" })?;
            write!(f, "{} AS (\n{}\n)", step.name, step.body)?;
        }
        if !self.with.is_empty() {
            f.write_str("\n")?;
        }
        self.body.fmt(f)
    }
}

impl Display for SetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        list(f, &self.selects, "\nUNION\n")
    }
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        list(f, &self.projection, ", ")?;
        if let Some(into) = &self.into {
            write!(f, "\nINTO {into}")?;
        }
        write!(f, "\nFROM {}", self.from.source)?;
        for join in &self.from.joins {
            write!(f, "\n{join}")?;
        }
        if let Some(selection) = &self.selection {
            write!(f, "\nWHERE {selection}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str("\nGROUP BY ")?;
            list(f, &self.group_by, ", ")?;
        }
        if let Some(having) = &self.having {
            write!(f, "\nHAVING {having}")?;
        }
        Ok(())
    }
}

impl Display for Into {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Into::Output(name) => name.fmt(f),
            Into::Shards(n, _) => write!(f, "{n}"),
        }
    }
}

/// True when `text` starts with `name =`, which a select item would read as
/// the `alias = expr` form.
fn looks_like_alias_form(text: &str) -> bool {
    let tokens = lexer::tokenize(text).tokens;
    let first_is_name = tokens.first().is_some_and(|t| match &t.kind {
        TokenKind::Word => !is_reserved(lexer::text(text, t.span)),
        TokenKind::BracketIdent(_) | TokenKind::QuotedIdent(_) => true,
        _ => false,
    });
    first_is_name && tokens.get(1).is_some_and(|t| t.kind == TokenKind::Eq)
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Wildcard(_) => f.write_str("*"),
            SelectItem::QualifiedWildcard(path, _) => {
                list(f, path, ".")?;
                f.write_str(".*")
            }
            SelectItem::Expr { expr, alias } => {
                let text = expr.to_string();
                if looks_like_alias_form(&text) {
                    write!(f, "({text})")?;
                } else {
                    f.write_str(&text)?;
                }
                if let Some(alias) = alias {
                    write!(f, " AS {alias}")?;
                }
                Ok(())
            }
        }
    }
}

impl Display for TableRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.name.fmt(f)?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {alias}")?;
        }
        if let Some(p) = &self.partition_by {
            f.write_str(" PARTITION BY ")?;
            list(f, &p.keys, ", ")?;
            if let Some(n) = p.into {
                write!(f, " INTO {n}")?;
            }
        }
        if let Some(t) = &self.timestamp_by {
            write!(f, " TIMESTAMP BY {}", t.expr)?;
            if !t.over.is_empty() {
                f.write_str(" OVER ")?;
                list(f, &t.over, ", ")?;
            }
        }
        if let Some(m) = &self.match_recognize {
            write!(f, "\n{m}")?;
        }
        Ok(())
    }
}

impl Display for MatchRecognize {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MATCH_RECOGNIZE (\n  LIMIT DURATION({})",
            self.limit_duration
        )?;
        if !self.partition_by.is_empty() {
            f.write_str("\n  PARTITION BY ")?;
            list(f, &self.partition_by, ", ")?;
        }
        f.write_str("\n  MEASURES ")?;
        for (i, (expr, name)) in self.measures.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{expr} AS {name}")?;
        }
        if self.after_match.is_some() {
            f.write_str("\n  AFTER MATCH SKIP TO NEXT ROW")?;
        }
        write!(f, "\n  PATTERN ({})", self.pattern)?;
        f.write_str("\n  DEFINE ")?;
        for (i, (var, cond)) in self.define.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{var} AS {cond}")?;
        }
        f.write_str("\n)")?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {alias}")?;
        }
        Ok(())
    }
}

impl Pattern {
    fn fmt_nested(&self, f: &mut Formatter<'_>, grouped: bool) -> fmt::Result {
        if grouped {
            write!(f, "({self})")
        } else {
            self.fmt(f)
        }
    }
}

impl Display for Pattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Var(ident) if ident.value == "." && ident.quote == Quote::None => {
                f.write_str(".")
            }
            Pattern::Var(ident) => ident.fmt(f),
            Pattern::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    item.fmt_nested(f, matches!(item, Pattern::Seq(_) | Pattern::Alt(_)))?;
                }
                Ok(())
            }
            Pattern::Alt(branches) => {
                for (i, branch) in branches.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    branch.fmt_nested(f, matches!(branch, Pattern::Alt(_)))?;
                }
                Ok(())
            }
            Pattern::Repeat { inner, min, max } => {
                inner.fmt_nested(f, !matches!(**inner, Pattern::Var(_)))?;
                match (min, max) {
                    (0, None) => f.write_str("*"),
                    (1, None) => f.write_str("+"),
                    (0, Some(1)) => f.write_str("?"),
                    (n, None) => write!(f, "{{{n},}}"),
                    (n, Some(m)) if n == m => write!(f, "{{{n}}}"),
                    (n, Some(m)) => write!(f, "{{{n},{m}}}"),
                }
            }
        }
    }
}

impl Display for JoinClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            JoinClause::Join {
                kind, source, on, ..
            } => {
                let keyword = match kind {
                    JoinKind::Inner => "JOIN",
                    JoinKind::Left => "LEFT OUTER JOIN",
                };
                write!(f, "{keyword} {source}\nON {on}")
            }
            JoinClause::Apply {
                kind,
                function,
                alias,
                ..
            } => {
                let keyword = match kind {
                    ApplyKind::Cross => "CROSS APPLY",
                    ApplyKind::Outer => "OUTER APPLY",
                };
                write!(f, "{keyword} {function} AS {alias}")
            }
        }
    }
}

impl Display for GroupItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            GroupItem::Expr(e) => e.fmt(f),
            GroupItem::Window(w) => w.fmt(f),
        }
    }
}

impl Display for DurationLit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.unit.name(), self.amount)
    }
}

/// `Name(unit, n)`.
fn wrapped(name: &str, d: &DurationLit) -> String {
    format!("{name}({d})")
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            WindowKind::Tumbling { size, offset } => match offset {
                None => write!(f, "TumblingWindow({size})"),
                Some(o) if o.unit == size.unit => {
                    write!(f, "TumblingWindow({size}, {})", o.amount)
                }
                Some(o) => write!(
                    f,
                    "TumblingWindow({}, {})",
                    wrapped("Duration", size),
                    wrapped("Offset", o)
                ),
            },
            WindowKind::Hopping { size, hop, offset } => {
                let positional =
                    hop.unit == size.unit && offset.is_none_or(|o| o.unit == size.unit);
                if positional {
                    write!(f, "HoppingWindow({size}, {}", hop.amount)?;
                    if let Some(o) = offset {
                        write!(f, ", {}", o.amount)?;
                    }
                } else {
                    write!(
                        f,
                        "HoppingWindow({}, {}",
                        wrapped("Duration", size),
                        wrapped("Hop", hop)
                    )?;
                    if let Some(o) = offset {
                        write!(f, ", {}", wrapped("Offset", o))?;
                    }
                }
                f.write_str(")")
            }
            WindowKind::Sliding { size } => write!(f, "SlidingWindow({size})"),
            WindowKind::Session {
                timeout,
                max_duration,
                partition_by,
            } => {
                if timeout.unit == max_duration.unit {
                    write!(f, "SessionWindow({timeout}, {})", max_duration.amount)?;
                } else {
                    write!(
                        f,
                        "SessionWindow({}, {})",
                        wrapped("Timeout", timeout),
                        wrapped("MaxDuration", max_duration)
                    )?;
                }
                if !partition_by.is_empty() {
                    f.write_str(" OVER (PARTITION BY ")?;
                    list(f, partition_by, ", ")?;
                    f.write_str(")")?;
                }
                Ok(())
            }
            WindowKind::Snapshot => f.write_str("System.Timestamp()"),
            WindowKind::Multiple(members) => {
                f.write_str("Windows(")?;
                list(f, members, ", ")?;
                f.write_str(")")
            }
        }
    }
}

impl Display for WindowMember {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some((id, _)) => write!(f, "Window({}, {})", StringLit(id), self.window),
            None => self.window.fmt(f),
        }
    }
}

/// A string literal in single quotes.
struct StringLit<'a>(&'a str);

impl Display for StringLit<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('\'')?;
        f.write_str(&self.0.replace('\'', "''"))?;
        f.write_char('\'')
    }
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.quote {
            Quote::None => f.write_str(&self.value),
            Quote::Bracket => write!(f, "[{}]", self.value.replace(']', "]]")),
            Quote::Double => write!(f, "\"{}\"", self.value.replace('"', "\"\"")),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Integer(n) => write!(f, "{n}"),
            // Debug keeps a decimal point or an exponent, so the text lexes
            // as a float again.
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::String(s) => StringLit(s).fmt(f),
        }
    }
}

// Binding strength, loosest first (as in the parser); 9 is an atom.
const P_OR: u8 = 1;
const P_AND: u8 = 2;
const P_NOT: u8 = 3;
const P_CMP: u8 = 4;
const P_BIT: u8 = 5;
const P_ADD: u8 = 6;
const P_MUL: u8 = 7;
const P_UNARY: u8 = 8;
const P_ATOM: u8 = 9;

fn binary_level(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => P_OR,
        BinaryOp::And => P_AND,
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => P_CMP,
        BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor => P_BIT,
        BinaryOp::Add | BinaryOp::Sub => P_ADD,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => P_MUL,
    }
}

fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => binary_level(*op),
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => P_NOT,
        ExprKind::Unary { .. } => P_UNARY,
        ExprKind::Like { .. }
        | ExprKind::Between { .. }
        | ExprKind::InList { .. }
        | ExprKind::IsNull { .. } => P_CMP,
        ExprKind::Literal(Literal::Integer(n)) if *n < 0 => P_UNARY,
        ExprKind::Literal(Literal::Float(x)) if x.is_sign_negative() => P_UNARY,
        _ => P_ATOM,
    }
}

/// Writes `e`, in parentheses when it binds more loosely than `min`.
fn operand(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if level(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

fn not_kw(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(lit) => lit.fmt(f),
            ExprKind::Column(path) => list(f, path, "."),
            ExprKind::Unary { op, expr } => match op {
                UnaryOp::Not => {
                    f.write_str("NOT ")?;
                    operand(f, expr, P_NOT)
                }
                _ => {
                    f.write_str(match op {
                        UnaryOp::Neg => "-",
                        UnaryOp::Plus => "+",
                        _ => "~",
                    })?;
                    let text = expr.to_string();
                    // Keep `- -x` from turning into a `--` comment.
                    if level(expr) < P_UNARY || text.starts_with('-') {
                        write!(f, "({text})")
                    } else {
                        f.write_str(&text)
                    }
                }
            },
            ExprKind::Binary { op, left, right } => {
                let lvl = binary_level(*op);
                operand(f, left, lvl)?;
                write!(f, " {} ", op.symbol())?;
                operand(f, right, lvl + 1)
            }
            ExprKind::Like {
                expr,
                pattern,
                negated,
            } => {
                operand(f, expr, P_CMP)?;
                write!(f, " {}LIKE ", not_kw(*negated))?;
                operand(f, pattern, P_BIT)
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                operand(f, expr, P_CMP)?;
                write!(f, " {}BETWEEN ", not_kw(*negated))?;
                operand(f, low, P_BIT)?;
                f.write_str(" AND ")?;
                operand(f, high, P_BIT)
            }
            ExprKind::InList {
                expr,
                list: items,
                negated,
            } => {
                operand(f, expr, P_CMP)?;
                write!(f, " {}IN (", not_kw(*negated))?;
                list(f, items, ", ")?;
                f.write_str(")")
            }
            ExprKind::IsNull { expr, negated } => {
                operand(f, expr, P_CMP)?;
                write!(f, " IS {}NULL", not_kw(*negated))
            }
            ExprKind::Case {
                operand: subject,
                whens,
                else_result,
            } => {
                f.write_str("CASE")?;
                if let Some(subject) = subject {
                    write!(f, " {subject}")?;
                }
                for (when, then) in whens {
                    write!(f, " WHEN {when} THEN {then}")?;
                }
                if let Some(e) = else_result {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            ExprKind::Cast { expr, ty, try_cast } => {
                let keyword = if *try_cast { "TRY_CAST" } else { "CAST" };
                write!(f, "{keyword}({expr} AS {ty})")
            }
            ExprKind::Function(call) => call.fmt(f),
            ExprKind::SystemTimestamp => f.write_str("System.Timestamp()"),
            ExprKind::SystemWindowId => f.write_str("System.Window().Id"),
        }
    }
}

impl Display for FunctionCall {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}.")?;
        }
        write!(f, "{}(", self.name)?;
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        list(f, &self.args, ", ")?;
        f.write_str(")")?;
        if let Some(over) = &self.over {
            write!(f, " {over}")?;
        }
        Ok(())
    }
}

impl Display for FunctionArg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FunctionArg::Expr(e) => e.fmt(f),
            FunctionArg::Star(_) => f.write_str("*"),
        }
    }
}

impl Display for Over {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.partition_by.is_empty() {
            let keys: Vec<String> = self.partition_by.iter().map(|k| k.to_string()).collect();
            parts.push(format!("PARTITION BY {}", keys.join(", ")));
        }
        if !self.order_by.is_empty() {
            let items: Vec<String> = self.order_by.iter().map(|o| o.to_string()).collect();
            parts.push(format!("ORDER BY {}", items.join(", ")));
        }
        if let Some(d) = &self.limit_duration {
            parts.push(format!("LIMIT DURATION({d})"));
        }
        if let Some(when) = &self.when {
            parts.push(format!("WHEN {when}"));
        }
        write!(f, "OVER ({})", parts.join(" "))
    }
}

impl Display for OrderItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)?;
        if self.descending {
            f.write_str(" DESC")?;
        }
        Ok(())
    }
}
