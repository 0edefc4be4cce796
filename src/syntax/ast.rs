//! The abstract syntax tree of an ASA query script.
//!
//! Every node that a diagnostic may point at carries a [`Span`] into the
//! query text. The tree is purely syntactic: names are not resolved, types
//! are not checked, and constructs that Eddy cannot run yet are represented
//! all the same (the binder rejects them with an "unsupported" diagnostic).
//!
//! Reference: ASA-SEMANTICS.md §1 (statements and clauses), §2 (windows).

// Nodes are built once per query; boxing the big variants buys nothing.
#![allow(clippy::large_enum_variant)]

use crate::diag::Span;

/// A whole job script: optional `CREATE TABLE`s, then queries. `WITH`
/// steps declared by any query are visible to every query of the script.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// Statements in source order.
    pub statements: Vec<Statement>,
}

/// One top-level statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `CREATE TABLE input (col type, ...)`.
    CreateTable(CreateTable),
    /// `[WITH ...] SELECT ... [UNION SELECT ...]`.
    Query(Query),
}

/// `CREATE TABLE name (col type, ...)`: declares an input's schema.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateTable {
    /// The input alias the schema applies to.
    pub name: Ident,
    /// Declared columns in order.
    pub columns: Vec<ColumnDef>,
    /// The whole statement.
    pub span: Span,
}

/// One column of a `CREATE TABLE`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    /// Column name.
    pub name: Ident,
    /// Declared type.
    pub ty: TypeName,
}

/// A query: `WITH` steps followed by a body.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `WITH name AS (...)` steps, in order.
    pub with: Vec<WithStep>,
    /// The main body.
    pub body: SetExpr,
    /// The whole query.
    pub span: Span,
}

/// `name AS ( body )` inside `WITH`.
#[derive(Clone, Debug, PartialEq)]
pub struct WithStep {
    /// Step name.
    pub name: Ident,
    /// Step body (a SELECT or a UNION of SELECTs).
    pub body: SetExpr,
    /// From the name to the closing parenthesis.
    pub span: Span,
}

/// One SELECT, or several joined with `UNION` (which keeps duplicates).
#[derive(Clone, Debug, PartialEq)]
pub struct SetExpr {
    /// At least one select; more than one means a `UNION`.
    pub selects: Vec<Select>,
    /// The span of each `UNION` keyword, `selects.len() - 1` of them.
    pub union_spans: Vec<Span>,
}

/// `SELECT ... [INTO ...] FROM ... [WHERE] [GROUP BY] [HAVING]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    /// The projection list.
    pub projection: Vec<SelectItem>,
    /// The `INTO` target, if any.
    pub into: Option<Into>,
    /// The `FROM` clause.
    pub from: From,
    /// `WHERE` condition.
    pub selection: Option<Expr>,
    /// `GROUP BY` items (expressions and windows).
    pub group_by: Vec<GroupItem>,
    /// Span of the `GROUP BY` keywords, when present.
    pub group_by_span: Option<Span>,
    /// `HAVING` condition.
    pub having: Option<Expr>,
    /// From `SELECT` to the end of the statement.
    pub span: Span,
}

/// What `INTO` names.
#[derive(Clone, Debug, PartialEq)]
pub enum Into {
    /// `INTO output_alias`.
    Output(Ident),
    /// `INTO n` after `PARTITION BY`: a shard count.
    Shards(u64, Span),
}

/// One item of the SELECT list.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    /// `*`.
    Wildcard(Span),
    /// `alias.*` or `record_column.*` (the path before the star).
    QualifiedWildcard(Vec<Ident>, Span),
    /// `expr [AS] name` or `name = expr`.
    Expr {
        /// The value.
        expr: Expr,
        /// The output column name, when given.
        alias: Option<Ident>,
    },
}

/// The `FROM` clause: a first source followed by joins and applies.
#[derive(Clone, Debug, PartialEq)]
pub struct From {
    /// The first source.
    pub source: TableRef,
    /// `JOIN` and `APPLY` clauses in order.
    pub joins: Vec<JoinClause>,
}

/// A source in `FROM` or `JOIN`: an input alias or a step name.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRef {
    /// Input alias or step name.
    pub name: Ident,
    /// `[AS] alias`.
    pub alias: Option<Ident>,
    /// `PARTITION BY keys [INTO n]`.
    pub partition_by: Option<PartitionBy>,
    /// `TIMESTAMP BY expr [OVER keys]`.
    pub timestamp_by: Option<TimestampBy>,
    /// `MATCH_RECOGNIZE (...)` applied to this source.
    pub match_recognize: Option<Box<MatchRecognize>>,
    /// The whole reference.
    pub span: Span,
}

/// `PARTITION BY keys [INTO n]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionBy {
    /// Partition keys.
    pub keys: Vec<Expr>,
    /// `INTO n` shard count.
    pub into: Option<u64>,
    /// The whole clause.
    pub span: Span,
}

/// `TIMESTAMP BY expr [OVER k, ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TimestampBy {
    /// The event-time expression.
    pub expr: Expr,
    /// Substream keys (`OVER`).
    pub over: Vec<Expr>,
    /// The whole clause.
    pub span: Span,
}

/// A `JOIN` or an `APPLY`.
#[derive(Clone, Debug, PartialEq)]
pub enum JoinClause {
    /// `[INNER | LEFT [OUTER]] JOIN source ON condition`.
    Join {
        /// Inner or left outer.
        kind: JoinKind,
        /// The right-hand source.
        source: TableRef,
        /// The `ON` condition (equalities and the `DATEDIFF` bound).
        on: Expr,
        /// The whole clause.
        span: Span,
    },
    /// `CROSS | OUTER APPLY function(args) [AS] alias`.
    Apply {
        /// Cross or outer.
        kind: ApplyKind,
        /// The table-valued call, e.g. `GetArrayElements(col)`.
        function: FunctionCall,
        /// The alias of the unfolded rows.
        alias: Ident,
        /// The whole clause.
        span: Span,
    },
}

/// Join flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// `JOIN` or `INNER JOIN`.
    Inner,
    /// `LEFT JOIN` or `LEFT OUTER JOIN`.
    Left,
}

/// Apply flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyKind {
    /// `CROSS APPLY`: rows with no elements vanish.
    Cross,
    /// `OUTER APPLY`: rows with no elements are kept with NULLs.
    Outer,
}

/// One item of `GROUP BY`.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupItem {
    /// A grouping key (or `System.Timestamp()`, the snapshot window).
    Expr(Expr),
    /// A window.
    Window(Window),
}

/// A window in `GROUP BY`.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Which window and its parameters.
    pub kind: WindowKind,
    /// The whole window call.
    pub span: Span,
}

/// The window forms of ASA-SEMANTICS.md §2.
#[derive(Clone, Debug, PartialEq)]
pub enum WindowKind {
    /// `TumblingWindow(unit, size[, offset])`.
    Tumbling {
        /// Window size.
        size: DurationLit,
        /// Grid offset.
        offset: Option<DurationLit>,
    },
    /// `HoppingWindow(unit, size, hop[, offset])`.
    Hopping {
        /// Window size.
        size: DurationLit,
        /// Hop (grid step).
        hop: DurationLit,
        /// Grid offset.
        offset: Option<DurationLit>,
    },
    /// `SlidingWindow(unit, size)`.
    Sliding {
        /// Window size.
        size: DurationLit,
    },
    /// `SessionWindow(unit, timeout, maxDuration) [OVER (PARTITION BY k)]`.
    Session {
        /// Gap that closes a session.
        timeout: DurationLit,
        /// Longest session (checked on a grid).
        max_duration: DurationLit,
        /// `OVER (PARTITION BY ...)` keys.
        partition_by: Vec<Expr>,
    },
    /// `System.Timestamp()` as a member of `Windows(...)`.
    Snapshot,
    /// `Windows(w1, w2, ...)` or `Windows(Window('id', w), ...)`.
    Multiple(Vec<WindowMember>),
}

/// One member of `Windows(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowMember {
    /// The id given by `Window('id', ...)`.
    pub id: Option<(String, Span)>,
    /// The window.
    pub window: Window,
}

/// `unit, n` in a window or `LIMIT DURATION`: a length of time as written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationLit {
    /// The time unit.
    pub unit: TimeUnit,
    /// How many units (may be negative for offsets).
    pub amount: i64,
    /// From the unit to the amount.
    pub span: Span,
}

/// Time units of windows and durations, with their ASA abbreviations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// `day`, `dd`, `d`.
    Day,
    /// `hour`, `hh`.
    Hour,
    /// `minute`, `mi`, `n`.
    Minute,
    /// `second`, `ss`, `s`.
    Second,
    /// `millisecond`, `ms`.
    Millisecond,
    /// `microsecond`, `mcs`.
    Microsecond,
}

impl TimeUnit {
    /// Parses a unit name or abbreviation, case-insensitively.
    pub fn parse(word: &str) -> Option<TimeUnit> {
        Some(match word.to_ascii_lowercase().as_str() {
            "day" | "dd" | "d" => TimeUnit::Day,
            "hour" | "hh" => TimeUnit::Hour,
            "minute" | "mi" | "n" => TimeUnit::Minute,
            "second" | "ss" | "s" => TimeUnit::Second,
            "millisecond" | "ms" => TimeUnit::Millisecond,
            "microsecond" | "mcs" => TimeUnit::Microsecond,
            _ => return None,
        })
    }

    /// The unit's length in 100 ns ticks.
    pub fn ticks(self) -> i64 {
        match self {
            TimeUnit::Day => 864_000_000_000,
            TimeUnit::Hour => 36_000_000_000,
            TimeUnit::Minute => 600_000_000,
            TimeUnit::Second => 10_000_000,
            TimeUnit::Millisecond => 10_000,
            TimeUnit::Microsecond => 10,
        }
    }

    /// The canonical ASA name.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Hour => "hour",
            TimeUnit::Minute => "minute",
            TimeUnit::Second => "second",
            TimeUnit::Millisecond => "millisecond",
            TimeUnit::Microsecond => "microsecond",
        }
    }
}

/// `MATCH_RECOGNIZE ( ... ) [AS] alias`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchRecognize {
    /// `LIMIT DURATION(unit, n)`.
    pub limit_duration: DurationLit,
    /// `PARTITION BY` keys.
    pub partition_by: Vec<Expr>,
    /// `MEASURES expr AS name, ...`.
    pub measures: Vec<(Expr, Ident)>,
    /// `AFTER MATCH SKIP TO NEXT ROW` (the only documented mode), if written.
    pub after_match: Option<Span>,
    /// `PATTERN (...)`.
    pub pattern: Pattern,
    /// `DEFINE name AS condition, ...`.
    pub define: Vec<(Ident, Expr)>,
    /// The alias after the closing parenthesis.
    pub alias: Option<Ident>,
    /// The whole clause.
    pub span: Span,
}

/// A row pattern of `MATCH_RECOGNIZE`.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// A pattern variable (or `.` for any row, written as the name ".").
    Var(Ident),
    /// Patterns one after another.
    Seq(Vec<Pattern>),
    /// `a | b`.
    Alt(Vec<Pattern>),
    /// A quantified pattern: `*` is {0,}, `+` is {1,}, `?` is {0,1}.
    Repeat {
        /// What repeats.
        inner: Box<Pattern>,
        /// Fewest repetitions.
        min: u32,
        /// Most repetitions (`None`: unbounded).
        max: Option<u32>,
    },
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A constant.
    Literal(Literal),
    /// A column or path: `col`, `alias.col`, `rec.a.b`, `rec.[0]`, `"quoted"`.
    Column(Vec<Ident>),
    /// `-e`, `NOT e`, `~e`.
    Unary {
        /// Operator.
        op: UnaryOp,
        /// Operand.
        expr: Box<Expr>,
    },
    /// `l op r`.
    Binary {
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `e [NOT] LIKE pattern`.
    Like {
        /// Tested value.
        expr: Box<Expr>,
        /// The `%`/`_` pattern.
        pattern: Box<Expr>,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `e [NOT] BETWEEN low AND high` (inclusive).
    Between {
        /// Tested value.
        expr: Box<Expr>,
        /// Lower bound.
        low: Box<Expr>,
        /// Upper bound.
        high: Box<Expr>,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `e [NOT] IN (list)`.
    InList {
        /// Tested value.
        expr: Box<Expr>,
        /// Candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `e IS [NOT] NULL`.
    IsNull {
        /// Tested value.
        expr: Box<Expr>,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`.
    Case {
        /// The simple form's operand.
        operand: Option<Box<Expr>>,
        /// `(WHEN, THEN)` pairs.
        whens: Vec<(Expr, Expr)>,
        /// `ELSE` result.
        else_result: Option<Box<Expr>>,
    },
    /// `CAST(e AS type)` or `TRY_CAST(e AS type)`.
    Cast {
        /// Converted value.
        expr: Box<Expr>,
        /// Target type.
        ty: TypeName,
        /// `TRY_CAST`: NULL instead of an error.
        try_cast: bool,
    },
    /// A function call, including aggregates and analytic functions.
    Function(FunctionCall),
    /// `System.Timestamp()` (also `System.TimeStamp` without parentheses).
    SystemTimestamp,
    /// `System.Window().Id`.
    SystemWindowId,
}

/// A literal constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `NULL`.
    Null,
    /// An integer literal.
    Integer(i64),
    /// A literal with a decimal point or exponent.
    Float(f64),
    /// A single-quoted string (`''` escapes a quote).
    String(String),
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`.
    Neg,
    /// `+` (no effect).
    Plus,
    /// `NOT`.
    Not,
    /// `~`.
    BitNot,
}

/// Binary operators, loosest binding last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `+` (numbers, or string concatenation).
    Add,
    /// `-`.
    Sub,
    /// `&`.
    BitAnd,
    /// `|`.
    BitOr,
    /// `^`.
    BitXor,
    /// `=`.
    Eq,
    /// `<>` or `!=`.
    NotEq,
    /// `<` (also `!>`… see [`BinaryOp::LtEq`]).
    Lt,
    /// `<=` or `!>`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=` or `!<`.
    GtEq,
    /// `AND`.
    And,
    /// `OR`.
    Or,
}

impl BinaryOp {
    /// The operator as written in canonical form.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
        }
    }
}

/// A call `[udf.|uda.]name(args) [OVER (...)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionCall {
    /// `udf` or `uda` prefix.
    pub namespace: Option<Ident>,
    /// Function name as written.
    pub name: Ident,
    /// Arguments.
    pub args: Vec<FunctionArg>,
    /// `COUNT(DISTINCT e)`.
    pub distinct: bool,
    /// `OVER (...)` for analytic and ordered aggregates.
    pub over: Option<Over>,
    /// The whole call.
    pub span: Span,
}

/// A function argument.
#[derive(Clone, Debug, PartialEq)]
pub enum FunctionArg {
    /// An expression (date parts such as `minute` are parsed as column names).
    Expr(Expr),
    /// `*`, as in `COUNT(*)` or `LAG(*)`.
    Star(Span),
}

/// `OVER ([PARTITION BY ..] [ORDER BY ..] [LIMIT DURATION(u, n)] [WHEN c])`.
#[derive(Clone, Debug, PartialEq)]
pub struct Over {
    /// Partition keys.
    pub partition_by: Vec<Expr>,
    /// Ordering (for TopOne, CollectTop, PERCENTILE_*).
    pub order_by: Vec<OrderItem>,
    /// `LIMIT DURATION(unit, n)`.
    pub limit_duration: Option<DurationLit>,
    /// `WHEN condition`.
    pub when: Option<Box<Expr>>,
    /// The whole clause.
    pub span: Span,
}

/// `expr [ASC|DESC]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderItem {
    /// Sort key.
    pub expr: Expr,
    /// `DESC`.
    pub descending: bool,
}

/// A type name in `CAST` or `CREATE TABLE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeName {
    /// The type.
    pub ty: crate::types::DataType,
    /// Where it is written.
    pub span: Span,
}

/// How an identifier was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// A bare word.
    None,
    /// `[bracketed]`.
    Bracket,
    /// `"double quoted"` (a field name, or a string when no field matches).
    Double,
}

/// An identifier, keeping the case it was written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name without quotes.
    pub value: String,
    /// How it was quoted.
    pub quote: Quote,
    /// Where it is.
    pub span: Span,
}

impl Ident {
    /// Case-insensitive name comparison, as ASA resolves names.
    pub fn matches(&self, other: &str) -> bool {
        self.value.eq_ignore_ascii_case(other)
    }
}
