//! The parser: tokens to an [`ast::Script`], by recursive descent.
//!
//! Statements and clauses follow ASA-SEMANTICS.md §1, windows §2.
//! Expressions use precedence climbing over the levels
//! `OR < AND < NOT < comparison/LIKE/BETWEEN/IN/IS < | ^ & < + - < * / % < unary`.
//! Only the words in [`RESERVED`] are keywords everywhere; other words
//! (`TIMESTAMP`, `PARTITION`, `OVER`, `LIMIT`, window and unit names...) are
//! keywords only where the grammar expects them, so they still work as column
//! names. The parser stops at the first error and reports it as a
//! [`Diagnostic`] saying what was expected and what was found; a depth
//! counter turns pathological nesting into such an error instead of a stack
//! overflow.

use crate::diag::{codes, Diagnostic, Diagnostics, Span};
use crate::syntax::ast::{
    self, ApplyKind, BinaryOp, ColumnDef, CreateTable, DurationLit, Expr, ExprKind, FunctionArg,
    FunctionCall, GroupItem, Ident, JoinClause, JoinKind, Literal, MatchRecognize, OrderItem, Over,
    PartitionBy, Pattern, Query, Quote, Script, Select, SelectItem, SetExpr, Statement, TableRef,
    TimeUnit, TimestampBy, TypeName, UnaryOp, Window, WindowKind, WindowMember, WithStep,
};
use crate::syntax::lexer::{self, Token, TokenKind};
use crate::types::DataType;

/// Words that can never be bare identifiers.
pub const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "INTO", "AS", "ON", "JOIN", "INNER",
    "LEFT", "OUTER", "CROSS", "APPLY", "UNION", "WITH", "CASE", "WHEN", "THEN", "ELSE", "END",
    "AND", "OR", "NOT", "IS", "NULL", "LIKE", "BETWEEN", "IN", "CAST", "TRY_CAST", "CREATE",
    "DISTINCT",
];

/// True when `word` is a reserved keyword (case-insensitively).
pub fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// The depth budget of nested expressions. Every nested expression, unary
/// operator or pattern group costs [`NEST_COST`] and every operator of a
/// left-associative chain costs 1, so about 128 levels of nesting or about
/// 1,000 chained operators fit. This bounds both the parser's recursion and
/// the depth of the trees that later passes (binder, printer) walk
/// recursively.
const DEPTH_BUDGET: usize = 1024;

/// What one level of parser recursion costs from [`DEPTH_BUDGET`].
const NEST_COST: usize = 8;

const TYPE_EXPECTED: &str =
    "a type name (bigint, float, nvarchar(max), datetime, bit, record or array)";

const UNITS_HELP: &str = "Time units are day (dd, d), hour (hh), minute (mi, n), second (ss, s), \
                          millisecond (ms) and microsecond (mcs).";

// Binding strength of operators, loosest first.
const P_OR: u8 = 1;
const P_AND: u8 = 2;
const P_NOT: u8 = 3;
const P_CMP: u8 = 4;
const P_BIT: u8 = 5;
const P_ADD: u8 = 6;
const P_MUL: u8 = 7;

type PResult<T> = Result<T, Diagnostic>;

/// Parses a whole script.
pub fn parse_script(source: &str) -> Result<Script, Diagnostics> {
    let lexed = lexer::tokenize(source);
    let mut parser = Parser::new(source, lexed.tokens);
    let result = parser.script();
    let start_of = |d: &Diagnostic| d.span().map_or(0, |s| s.start);
    match (result, lexed.error) {
        (Ok(script), None) => Ok(script),
        (Ok(_), Some(lex_error)) => Err(lex_error.into()),
        // The token stream was cut at the lexer's error; a parse error at
        // that point is really the lexer's.
        (Err(e), Some(lex_error)) if start_of(&e) >= start_of(&lex_error) => Err(lex_error.into()),
        (Err(e), _) => Err(e.into()),
    }
}

/// Window names accepted in GROUP BY.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WindowName {
    Tumbling,
    Hopping,
    Sliding,
    Session,
    Multiple,
}

fn window_name(word: &str) -> Option<WindowName> {
    Some(match word.to_ascii_lowercase().as_str() {
        "tumblingwindow" | "tumbling" => WindowName::Tumbling,
        "hoppingwindow" | "hopping" => WindowName::Hopping,
        "slidingwindow" | "sliding" => WindowName::Sliding,
        "sessionwindow" | "session" => WindowName::Session,
        "windows" => WindowName::Multiple,
        _ => return None,
    })
}

/// A time unit, also accepting the plural of a full name (`hours`), which
/// the reference docs use in one example.
fn time_unit(word: &str) -> Option<TimeUnit> {
    TimeUnit::parse(word).or_else(|| {
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "days" | "hours" | "minutes" | "seconds" | "milliseconds" | "microseconds" => {
                TimeUnit::parse(lower.trim_end_matches('s'))
            }
            _ => None,
        }
    })
}

fn truncate(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() > MAX {
        let mut short: String = text.chars().take(MAX).collect();
        short.push_str("...");
        short
    } else {
        text.to_string()
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// Span of the last consumed token.
    prev: Span,
    depth: usize,
    eof: Token,
    /// The last alias written without AS, which may be a misspelled keyword.
    bare_alias: Option<Ident>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, tokens: Vec<Token>) -> Self {
        let eof = tokens.last().cloned().unwrap_or(Token {
            kind: TokenKind::Eof,
            span: Span::new(src.len(), src.len()),
        });
        Parser {
            src,
            tokens,
            pos: 0,
            prev: Span::new(0, 0),
            depth: 0,
            eof,
            bare_alias: None,
        }
    }

    // ----- token access -------------------------------------------------

    fn nth(&self, n: usize) -> &Token {
        self.tokens.get(self.pos + n).unwrap_or(&self.eof)
    }

    fn peek(&self) -> &Token {
        self.nth(0)
    }

    fn kind(&self, n: usize) -> &TokenKind {
        &self.nth(n).kind
    }

    fn text(&self, token: &Token) -> &'a str {
        lexer::text(self.src, token.span)
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        self.prev = token.span;
        token
    }

    fn is_word(&self, n: usize, keyword: &str) -> bool {
        let token = self.nth(n);
        token.kind == TokenKind::Word && self.text(token).eq_ignore_ascii_case(keyword)
    }

    fn at(&self, keyword: &str) -> bool {
        self.is_word(0, keyword)
    }

    fn eat_word(&mut self, keyword: &str) -> Option<Span> {
        if self.at(keyword) {
            Some(self.bump().span)
        } else {
            None
        }
    }

    fn eat(&mut self, kind: TokenKind) -> Option<Span> {
        if *self.kind(0) == kind {
            Some(self.bump().span)
        } else {
            None
        }
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> PResult<Span> {
        self.eat(kind).ok_or_else(|| self.expected(what))
    }

    fn expect_word(&mut self, keyword: &str, what: &str) -> PResult<Span> {
        self.eat_word(keyword).ok_or_else(|| self.expected(what))
    }

    /// Span from `start` to the end of the last consumed token.
    fn since(&self, start: Span) -> Span {
        Span::new(start.start, self.prev.end.max(start.end))
    }

    // ----- errors ---------------------------------------------------------

    fn describe(&self, token: &Token) -> String {
        let text = self.text(token);
        match token.kind {
            TokenKind::Eof => "end of input".to_string(),
            TokenKind::Word if is_reserved(text) => text.to_ascii_uppercase(),
            TokenKind::String(_) => format!("string {}", truncate(text)),
            _ => format!("'{}'", truncate(text)),
        }
    }

    fn describe_prev(&self) -> String {
        match self.pos.checked_sub(1).and_then(|i| self.tokens.get(i)) {
            Some(token) => self.describe(token),
            None => "the start".to_string(),
        }
    }

    /// The one way to say what was expected: `expected {what}, found {token}`,
    /// pointing at the current token.
    fn expected(&self, what: &str) -> Diagnostic {
        let token = self.peek();
        Diagnostic::error(
            codes::SYNTAX,
            token.span,
            format!("expected {what}, found {}", self.describe(token)),
        )
    }

    fn expected_expr(&self) -> Diagnostic {
        self.expected(&format!("an expression after {}", self.describe_prev()))
    }

    /// Spends `cost` of the depth budget; see [`DEPTH_BUDGET`].
    fn enter_cost(&mut self, cost: usize) -> PResult<()> {
        self.depth += cost;
        if self.depth > DEPTH_BUDGET {
            Err(Diagnostic::error(
                codes::SYNTAX,
                self.peek().span,
                "expression is too deeply nested or too long",
            )
            .with_help(
                "Eddy accepts about 128 levels of nested parentheses, calls and operators, \
                 or about 1,000 operators in one chain; simplify the expression or split it \
                 into WITH steps.",
            ))
        } else {
            Ok(())
        }
    }

    /// Gives back `cost` of the depth budget.
    fn leave_cost(&mut self, cost: usize) {
        self.depth = self.depth.saturating_sub(cost);
    }

    fn enter(&mut self) -> PResult<()> {
        self.enter_cost(NEST_COST)
    }

    fn leave(&mut self) {
        self.leave_cost(NEST_COST);
    }

    // ----- identifiers ----------------------------------------------------

    /// The identifier at `n`, if it can be one: a non-reserved word or a
    /// quoted identifier.
    fn ident_at(&self, n: usize) -> Option<Ident> {
        let token = self.nth(n);
        let (value, quote) = match &token.kind {
            TokenKind::Word if !is_reserved(self.text(token)) => {
                (self.text(token).to_string(), Quote::None)
            }
            TokenKind::BracketIdent(v) => (v.clone(), Quote::Bracket),
            TokenKind::QuotedIdent(v) => (v.clone(), Quote::Double),
            _ => return None,
        };
        Some(Ident {
            value,
            quote,
            span: token.span,
        })
    }

    fn parse_ident(&mut self, what: &str) -> PResult<Ident> {
        match self.ident_at(0) {
            Some(ident) => {
                self.bump();
                Ok(ident)
            }
            None => Err(self.expected(what)),
        }
    }

    /// A path segment after `.`: any word (reserved or not) or a quoted name.
    fn parse_field_name(&mut self) -> PResult<Ident> {
        let token = self.peek().clone();
        let (value, quote) = match &token.kind {
            TokenKind::Word => (self.text(&token).to_string(), Quote::None),
            TokenKind::BracketIdent(v) => (v.clone(), Quote::Bracket),
            TokenKind::QuotedIdent(v) => (v.clone(), Quote::Double),
            _ => return Err(self.expected("a field name after '.'")),
        };
        self.bump();
        Ok(Ident {
            value,
            quote,
            span: token.span,
        })
    }

    /// `AS name` or a bare name; `None` when neither follows.
    fn parse_optional_alias(&mut self) -> PResult<Option<Ident>> {
        if self.eat_word("AS").is_some() {
            return self.parse_ident("an alias after AS").map(Some);
        }
        match self.ident_at(0) {
            Some(ident) => {
                self.bump();
                self.bare_alias = Some(ident.clone());
                Ok(Some(ident))
            }
            None => Ok(None),
        }
    }

    /// When the token just before the error was read as an alias without
    /// AS, says so: it is often a misspelled keyword (`FORM`, `WHER`).
    fn note_bare_alias(&self, diagnostic: Diagnostic) -> Diagnostic {
        match &self.bare_alias {
            Some(alias) if alias.span == self.prev && alias.quote == Quote::None => diagnostic
                .with_secondary(alias.span, "read as an alias")
                .with_help(format!(
                    "'{}' was read as an alias (a name written without AS); \
                     if it is meant to be a keyword, check its spelling.",
                    alias.value
                )),
            _ => diagnostic,
        }
    }

    // ----- statements -----------------------------------------------------

    fn script(&mut self) -> PResult<Script> {
        let mut statements = Vec::new();
        loop {
            while self.eat(TokenKind::Semicolon).is_some() {}
            if *self.kind(0) == TokenKind::Eof {
                break;
            }
            if self.at("SELECT") || self.at("WITH") {
                statements.push(Statement::Query(self.parse_query()?));
            } else if self.at("CREATE") {
                statements.push(Statement::CreateTable(self.parse_create_table()?));
            } else if statements.is_empty() {
                return Err(self.expected("SELECT, WITH or CREATE TABLE"));
            } else {
                let error = self.expected("end of statement").with_help(
                    "The statement before ends here; a new statement starts with SELECT, WITH or CREATE TABLE.",
                );
                return Err(self.note_bare_alias(error));
            }
        }
        if statements.is_empty() {
            return Err(self.expected("SELECT, WITH or CREATE TABLE"));
        }
        Ok(Script { statements })
    }

    fn parse_create_table(&mut self) -> PResult<CreateTable> {
        let start = self.bump().span; // CREATE
        self.expect_word("TABLE", "TABLE after CREATE")?;
        let name = self.parse_ident("a table name after CREATE TABLE")?;
        self.expect(TokenKind::LParen, "'(' after the table name")?;
        let mut columns = Vec::new();
        loop {
            let what = format!("a column name after {}", self.describe_prev());
            let col_name = self.parse_ident(&what)?;
            let ty = self.parse_type()?;
            columns.push(ColumnDef { name: col_name, ty });
            if self.eat(TokenKind::Comma).is_none() {
                self.expect(TokenKind::RParen, "',' or ')' after the column type")?;
                break;
            }
        }
        Ok(CreateTable {
            name,
            columns,
            span: self.since(start),
        })
    }

    fn parse_type(&mut self) -> PResult<TypeName> {
        let token = self.peek().clone();
        let word = if token.kind == TokenKind::Word {
            self.text(&token).to_ascii_lowercase()
        } else {
            String::new()
        };
        let ty = match word.as_str() {
            "bigint" => DataType::Bigint,
            "float" => DataType::Float,
            "datetime" => DataType::DateTime,
            "bit" => DataType::Bit,
            "record" => DataType::Record,
            "array" => DataType::Array,
            "nvarchar" => {
                self.bump();
                self.expect(TokenKind::LParen, "'(max)' after NVARCHAR")?;
                self.expect_word("MAX", "MAX in NVARCHAR(MAX)")?;
                self.expect(TokenKind::RParen, "')' after NVARCHAR(MAX")?;
                return Ok(TypeName {
                    ty: DataType::NVarchar,
                    span: self.since(token.span),
                });
            }
            _ => return Err(self.expected(TYPE_EXPECTED)),
        };
        self.bump();
        Ok(TypeName {
            ty,
            span: token.span,
        })
    }

    fn parse_query(&mut self) -> PResult<Query> {
        let start = self.peek().span;
        let mut with = Vec::new();
        if self.eat_word("WITH").is_some() {
            loop {
                let what = format!("a step name after {}", self.describe_prev());
                let name = self.parse_ident(&what)?;
                self.expect_word("AS", &format!("AS after step name '{}'", name.value))?;
                self.expect(TokenKind::LParen, "'(' after AS")?;
                if !self.at("SELECT") {
                    return Err(self.expected("SELECT after '('"));
                }
                let body = self.parse_set_expr()?;
                let close = self.expect(
                    TokenKind::RParen,
                    &format!("')' to close step '{}'", name.value),
                );
                close.map_err(|e| self.note_bare_alias(e))?;
                let span = self.since(name.span);
                with.push(WithStep { name, body, span });
                if self.eat(TokenKind::Comma).is_none() {
                    break;
                }
            }
            if !self.at("SELECT") {
                return Err(self.expected("',' or SELECT after the WITH steps"));
            }
        }
        let body = self.parse_set_expr()?;
        Ok(Query {
            with,
            body,
            span: self.since(start),
        })
    }

    fn parse_set_expr(&mut self) -> PResult<SetExpr> {
        let mut selects = vec![self.parse_select()?];
        let mut union_spans = Vec::new();
        while let Some(span) = self.eat_word("UNION") {
            union_spans.push(span);
            if self.at("ALL") && self.is_word(1, "SELECT") {
                self.bump();
            }
            if !self.at("SELECT") {
                return Err(self.expected("SELECT after UNION"));
            }
            selects.push(self.parse_select()?);
        }
        Ok(SetExpr {
            selects,
            union_spans,
        })
    }

    fn parse_select(&mut self) -> PResult<Select> {
        let start = self.bump().span; // SELECT
        let mut projection = Vec::new();
        loop {
            projection.push(self.parse_select_item()?);
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        let into = if self.eat_word("INTO").is_some() {
            let token = self.peek().clone();
            if token.kind == TokenKind::Integer {
                self.bump();
                let n = self.text(&token).parse::<u64>().map_err(|_| {
                    Diagnostic::error(codes::SYNTAX, token.span, "shard count is out of range")
                })?;
                Some(ast::Into::Shards(n, token.span))
            } else {
                Some(ast::Into::Output(
                    self.parse_ident("an output name after INTO")?,
                ))
            }
        } else {
            None
        };
        if !self.at("FROM") {
            let token = self.peek();
            let bare_word = token.kind == TokenKind::Word && !is_reserved(self.text(token));
            let error = if into.is_some() {
                self.expected("FROM after the INTO target")
            } else if bare_word {
                self.expected("FROM after the SELECT list")
            } else {
                self.expected("',' or FROM after select item")
            };
            return Err(self.note_bare_alias(error));
        }
        let from = self.parse_from()?;
        let selection = if self.eat_word("WHERE").is_some() {
            Some(self.parse_expr()?)
        } else {
            None
        };
        let mut group_by = Vec::new();
        let mut group_by_span = None;
        if let Some(group) = self.eat_word("GROUP") {
            self.expect_word("BY", "BY after GROUP")?;
            group_by_span = Some(self.since(group));
            if !self.can_start_expr() {
                return Err(self.expected("a grouping key or window after GROUP BY"));
            }
            loop {
                group_by.push(self.parse_group_item()?);
                if self.eat(TokenKind::Comma).is_none() {
                    break;
                }
            }
        }
        let having = if self.eat_word("HAVING").is_some() {
            Some(self.parse_expr()?)
        } else {
            None
        };
        Ok(Select {
            projection,
            into,
            from,
            selection,
            group_by,
            group_by_span,
            having,
            span: self.since(start),
        })
    }

    /// True when the current token can begin an expression.
    fn can_start_expr(&self) -> bool {
        let token = self.peek();
        match &token.kind {
            TokenKind::Word => {
                let text = self.text(token);
                !is_reserved(text)
                    || ["NULL", "CASE", "CAST", "TRY_CAST", "NOT"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(text))
                    || (text.eq_ignore_ascii_case("LEFT") && *self.kind(1) == TokenKind::LParen)
            }
            TokenKind::BracketIdent(_)
            | TokenKind::QuotedIdent(_)
            | TokenKind::String(_)
            | TokenKind::Integer
            | TokenKind::Float
            | TokenKind::LParen
            | TokenKind::Minus
            | TokenKind::Plus
            | TokenKind::Tilde => true,
            _ => false,
        }
    }

    fn parse_select_item(&mut self) -> PResult<SelectItem> {
        if let Some(span) = self.eat(TokenKind::Star) {
            return Ok(SelectItem::Wildcard(span));
        }
        // `a.*`, `rec.a.*`
        if let Some(len) = self.qualified_wildcard_len() {
            let start = self.peek().span;
            let mut path = vec![self.parse_ident("a name")?];
            for _ in 1..len {
                self.bump(); // '.'
                path.push(self.parse_field_name()?);
            }
            self.bump(); // '.'
            self.bump(); // '*'
            return Ok(SelectItem::QualifiedWildcard(path, self.since(start)));
        }
        // `name = expr`
        if *self.kind(1) == TokenKind::Eq {
            if let Some(alias) = self.ident_at(0) {
                self.bump();
                self.bump();
                let expr = self.parse_expr()?;
                return Ok(SelectItem::Expr {
                    expr,
                    alias: Some(alias),
                });
            }
        }
        let expr = self.parse_expr()?;
        let alias = self.parse_optional_alias()?;
        Ok(SelectItem::Expr { expr, alias })
    }

    /// The number of path segments when the tokens ahead are `a(.b)*.*`.
    fn qualified_wildcard_len(&self) -> Option<usize> {
        self.ident_at(0)?;
        let mut i = 0;
        let mut segments = 1;
        loop {
            if *self.kind(i + 1) != TokenKind::Dot {
                return None;
            }
            match self.kind(i + 2) {
                TokenKind::Star => return Some(segments),
                TokenKind::Word | TokenKind::BracketIdent(_) | TokenKind::QuotedIdent(_) => {
                    i += 2;
                    segments += 1;
                }
                _ => return None,
            }
        }
    }

    // ----- FROM -----------------------------------------------------------

    fn parse_from(&mut self) -> PResult<ast::From> {
        self.bump(); // FROM
        let source = self.parse_table_ref("an input or step name after FROM")?;
        let mut joins = Vec::new();
        loop {
            let start = self.peek().span;
            let join_kind = if self.eat_word("JOIN").is_some() {
                Some(JoinKind::Inner)
            } else if self.eat_word("INNER").is_some() {
                self.expect_word("JOIN", "JOIN after INNER")?;
                Some(JoinKind::Inner)
            } else if self.eat_word("LEFT").is_some() {
                self.eat_word("OUTER");
                self.expect_word("JOIN", &format!("JOIN after {}", self.describe_prev()))?;
                Some(JoinKind::Left)
            } else {
                None
            };
            if let Some(kind) = join_kind {
                let source = self.parse_table_ref("an input or step name after JOIN")?;
                self.expect_word("ON", "ON after the joined source")?;
                let on = self.parse_expr()?;
                joins.push(JoinClause::Join {
                    kind,
                    source,
                    on,
                    span: self.since(start),
                });
                continue;
            }
            let apply_kind = if self.eat_word("CROSS").is_some() {
                ApplyKind::Cross
            } else if self.eat_word("OUTER").is_some() {
                ApplyKind::Outer
            } else {
                break;
            };
            self.expect_word("APPLY", &format!("APPLY after {}", self.describe_prev()))?;
            let function = self.parse_apply_function()?;
            let alias = match self.parse_optional_alias()? {
                Some(alias) => alias,
                None => return Err(self.expected("an alias after the APPLY function")),
            };
            joins.push(JoinClause::Apply {
                kind: apply_kind,
                function,
                alias,
                span: self.since(start),
            });
        }
        Ok(ast::From { source, joins })
    }

    fn parse_apply_function(&mut self) -> PResult<FunctionCall> {
        let is_call = self.peek().kind == TokenKind::Word
            && (*self.kind(1) == TokenKind::LParen
                || (*self.kind(1) == TokenKind::Dot
                    && *self.kind(2) == TokenKind::Word
                    && *self.kind(3) == TokenKind::LParen));
        let what = "a function call such as GetArrayElements(...) after APPLY";
        if !is_call {
            return Err(self.expected(what));
        }
        let start = self.peek().span;
        match self.parse_primary()? {
            Expr {
                kind: ExprKind::Function(call),
                ..
            } => Ok(call),
            _ => Err(Diagnostic::error(
                codes::SYNTAX,
                self.since(start),
                format!("expected {what}"),
            )),
        }
    }

    /// True at `TIMESTAMP BY`, `PARTITION BY` or `MATCH_RECOGNIZE (`, which
    /// end a source name rather than alias it.
    fn at_source_clause(&self) -> bool {
        ((self.at("TIMESTAMP") || self.at("PARTITION")) && self.is_word(1, "BY"))
            || (self.at("MATCH_RECOGNIZE") && *self.kind(1) == TokenKind::LParen)
    }

    fn parse_table_ref(&mut self, what: &str) -> PResult<TableRef> {
        let name = self.parse_ident(what)?;
        let alias = if self.at_source_clause() {
            None
        } else {
            self.parse_optional_alias()?
        };
        let mut partition_by = None;
        let mut timestamp_by = None;
        loop {
            if partition_by.is_none() && self.at("PARTITION") && self.is_word(1, "BY") {
                let start = self.bump().span;
                self.bump();
                let keys = self.parse_expr_list()?;
                let mut into = None;
                if self.at("INTO") && *self.kind(1) == TokenKind::Integer {
                    self.bump();
                    let token = self.bump();
                    into = Some(self.text(&token).parse::<u64>().map_err(|_| {
                        Diagnostic::error(codes::SYNTAX, token.span, "shard count is out of range")
                    })?);
                }
                partition_by = Some(PartitionBy {
                    keys,
                    into,
                    span: self.since(start),
                });
            } else if timestamp_by.is_none() && self.at("TIMESTAMP") && self.is_word(1, "BY") {
                let start = self.bump().span;
                self.bump();
                let expr = self.parse_expr()?;
                let over = if self.eat_word("OVER").is_some() {
                    self.parse_expr_list()?
                } else {
                    Vec::new()
                };
                timestamp_by = Some(TimestampBy {
                    expr,
                    over,
                    span: self.since(start),
                });
            } else {
                break;
            }
        }
        let match_recognize = if self.at("MATCH_RECOGNIZE") && *self.kind(1) == TokenKind::LParen {
            Some(Box::new(self.parse_match_recognize()?))
        } else {
            None
        };
        Ok(TableRef {
            span: self.since(name.span),
            name,
            alias,
            partition_by,
            timestamp_by,
            match_recognize,
        })
    }

    fn parse_match_recognize(&mut self) -> PResult<MatchRecognize> {
        let start = self.bump().span; // MATCH_RECOGNIZE
        self.bump(); // '('
        let mut partition_by = None;
        if self.at("PARTITION") {
            partition_by = Some(self.parse_partition_keys()?);
        }
        if !(self.at("LIMIT") && self.is_word(1, "DURATION")) {
            return Err(self.expected("LIMIT DURATION(unit, n) in MATCH_RECOGNIZE"));
        }
        let limit_duration = self.parse_limit_duration()?;
        if partition_by.is_none() && self.at("PARTITION") {
            partition_by = Some(self.parse_partition_keys()?);
        }
        self.expect_word(
            "MEASURES",
            &format!("MEASURES after {}", self.describe_prev()),
        )?;
        let mut measures = Vec::new();
        loop {
            let expr = self.parse_expr()?;
            self.expect_word("AS", "AS and a name after the measure expression")?;
            let name = self.parse_ident("a measure name after AS")?;
            measures.push((expr, name));
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        let after_match = if let Some(after) = self.eat_word("AFTER") {
            for word in ["MATCH", "SKIP", "TO", "NEXT", "ROW"] {
                self.expect_word(word, &format!("{word} in AFTER MATCH SKIP TO NEXT ROW"))?;
            }
            Some(self.since(after))
        } else {
            None
        };
        self.expect_word(
            "PATTERN",
            &format!("PATTERN after {}", self.describe_prev()),
        )?;
        self.expect(TokenKind::LParen, "'(' after PATTERN")?;
        let pattern = self.parse_pattern_alt()?;
        self.expect(TokenKind::RParen, "')' after the pattern")?;
        self.expect_word("DEFINE", "DEFINE after the pattern")?;
        let mut define = Vec::new();
        loop {
            let what = format!("a pattern variable after {}", self.describe_prev());
            let var = self.parse_ident(&what)?;
            self.expect_word("AS", &format!("AS after pattern variable '{}'", var.value))?;
            let cond = self.parse_expr()?;
            define.push((var, cond));
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        self.expect(TokenKind::RParen, "',' or ')' after the DEFINE condition")?;
        let alias = self.parse_optional_alias()?;
        Ok(MatchRecognize {
            limit_duration,
            partition_by: partition_by.unwrap_or_default(),
            measures,
            after_match,
            pattern,
            define,
            alias,
            span: self.since(start),
        })
    }

    /// `PARTITION BY k, ...` (the current token is PARTITION).
    fn parse_partition_keys(&mut self) -> PResult<Vec<Expr>> {
        self.bump();
        self.expect_word("BY", "BY after PARTITION")?;
        self.parse_expr_list()
    }

    fn parse_pattern_alt(&mut self) -> PResult<Pattern> {
        self.enter()?;
        let mut branches = vec![self.parse_pattern_seq()?];
        while self.eat(TokenKind::Pipe).is_some() {
            branches.push(self.parse_pattern_seq()?);
        }
        self.leave();
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Pattern::Alt(branches)
        })
    }

    fn parse_pattern_seq(&mut self) -> PResult<Pattern> {
        let mut items = Vec::new();
        while matches!(
            self.kind(0),
            TokenKind::Word
                | TokenKind::BracketIdent(_)
                | TokenKind::QuotedIdent(_)
                | TokenKind::Dot
                | TokenKind::LParen
        ) {
            items.push(self.parse_pattern_atom()?);
        }
        match items.len() {
            0 => Err(self.expected(&format!(
                "a pattern variable after {}",
                self.describe_prev()
            ))),
            1 => Ok(items.remove(0)),
            _ => Ok(Pattern::Seq(items)),
        }
    }

    fn parse_pattern_atom(&mut self) -> PResult<Pattern> {
        let inner = if let Some(span) = self.eat(TokenKind::Dot) {
            Pattern::Var(Ident {
                value: ".".to_string(),
                quote: Quote::None,
                span,
            })
        } else if self.eat(TokenKind::LParen).is_some() {
            let inner = self.parse_pattern_alt()?;
            self.expect(TokenKind::RParen, "')' to close the pattern group")?;
            inner
        } else {
            Pattern::Var(self.parse_field_name()?)
        };
        let (min, max) = match self.kind(0) {
            TokenKind::Star => (0, None),
            TokenKind::Plus => (1, None),
            TokenKind::Question => (0, Some(1)),
            TokenKind::LBrace => return self.parse_brace_quantifier(inner),
            _ => return Ok(inner),
        };
        self.bump();
        Ok(Pattern::Repeat {
            inner: Box::new(inner),
            min,
            max,
        })
    }

    /// `{n}`, `{n,}`, `{n,m}` or `{,m}` after a pattern atom.
    fn parse_brace_quantifier(&mut self, inner: Pattern) -> PResult<Pattern> {
        let start = self.bump().span; // '{'
        let has_min = *self.kind(0) == TokenKind::Integer;
        let min = if has_min { self.parse_u32()? } else { 0 };
        let max = if self.eat(TokenKind::Comma).is_some() {
            if *self.kind(0) == TokenKind::Integer {
                Some(self.parse_u32()?)
            } else if has_min {
                None
            } else {
                return Err(self.expected("a repetition count after ','"));
            }
        } else if has_min {
            Some(min)
        } else {
            return Err(self.expected("a repetition count after '{'"));
        };
        self.expect(TokenKind::RBrace, "'}' to close the quantifier")?;
        if max.is_some_and(|max| max < min) {
            return Err(Diagnostic::error(
                codes::SYNTAX,
                self.since(start),
                "the quantifier's upper bound is below its lower bound",
            ));
        }
        Ok(Pattern::Repeat {
            inner: Box::new(inner),
            min,
            max,
        })
    }

    fn parse_u32(&mut self) -> PResult<u32> {
        let token = self.bump();
        self.text(&token).parse::<u32>().map_err(|_| {
            Diagnostic::error(
                codes::SYNTAX,
                token.span,
                "repetition count is out of range",
            )
        })
    }

    // ----- GROUP BY and windows -------------------------------------------

    fn at_window(&self) -> bool {
        let token = self.peek();
        token.kind == TokenKind::Word
            && window_name(self.text(token)).is_some()
            && *self.kind(1) == TokenKind::LParen
    }

    fn parse_group_item(&mut self) -> PResult<GroupItem> {
        if self.at_window() {
            Ok(GroupItem::Window(self.parse_window()?))
        } else {
            Ok(GroupItem::Expr(self.parse_expr()?))
        }
    }

    /// A window call; the current token is a window name followed by `(`.
    fn parse_window(&mut self) -> PResult<Window> {
        let name_token = self.bump();
        let name = window_name(self.text(&name_token)).unwrap_or(WindowName::Tumbling);
        let start = name_token.span;
        self.bump(); // '('
        let wrapped = *self.kind(0) == TokenKind::Word && *self.kind(1) == TokenKind::LParen;
        let kind = match name {
            WindowName::Tumbling if wrapped => {
                let size = self.parse_wrapped("Duration", "window size")?;
                let offset = if self.eat(TokenKind::Comma).is_some() {
                    Some(self.parse_wrapped("Offset", "window offset")?)
                } else {
                    None
                };
                self.close_window(offset.is_some(), "window offset", "window size")?;
                WindowKind::Tumbling { size, offset }
            }
            WindowName::Tumbling => {
                let (unit, size) = self.parse_unit_and_amount("window size")?;
                let offset = if self.eat(TokenKind::Comma).is_some() {
                    Some(self.parse_amount_in(unit, "window offset")?)
                } else {
                    None
                };
                self.close_window(offset.is_some(), "window offset", "window size")?;
                WindowKind::Tumbling { size, offset }
            }
            WindowName::Hopping if wrapped => {
                let size = self.parse_wrapped("Duration", "window size")?;
                self.expect(TokenKind::Comma, "',' and Hop(unit, n) after window size")?;
                let hop = self.parse_wrapped("Hop", "window hop")?;
                let offset = if self.eat(TokenKind::Comma).is_some() {
                    Some(self.parse_wrapped("Offset", "window offset")?)
                } else {
                    None
                };
                self.close_window(offset.is_some(), "window offset", "window hop")?;
                WindowKind::Hopping { size, hop, offset }
            }
            WindowName::Hopping => {
                let (unit, size) = self.parse_unit_and_amount("window size")?;
                self.expect(TokenKind::Comma, "',' and the hop size after window size")?;
                let hop = self.parse_amount_in(unit, "window hop")?;
                let offset = if self.eat(TokenKind::Comma).is_some() {
                    Some(self.parse_amount_in(unit, "window offset")?)
                } else {
                    None
                };
                self.close_window(offset.is_some(), "window offset", "window hop")?;
                WindowKind::Hopping { size, hop, offset }
            }
            WindowName::Sliding => {
                let size = if wrapped {
                    self.parse_wrapped("Duration", "window size")?
                } else {
                    self.parse_unit_and_amount("window size")?.1
                };
                self.expect(TokenKind::RParen, "')' after window size")?;
                WindowKind::Sliding { size }
            }
            WindowName::Session => {
                let (timeout, max_duration) = if wrapped {
                    let timeout = self.parse_wrapped("Timeout", "session timeout")?;
                    self.expect(
                        TokenKind::Comma,
                        "',' and MaxDuration(unit, n) after the session timeout",
                    )?;
                    (
                        timeout,
                        self.parse_wrapped("MaxDuration", "maximum duration")?,
                    )
                } else {
                    let (unit, timeout) = self.parse_unit_and_amount("session timeout")?;
                    self.expect(
                        TokenKind::Comma,
                        "',' and the maximum duration after the session timeout",
                    )?;
                    (timeout, self.parse_amount_in(unit, "maximum duration")?)
                };
                self.expect(TokenKind::RParen, "')' after the maximum duration")?;
                let mut partition_by = Vec::new();
                if self.at("OVER") && *self.kind(1) == TokenKind::LParen {
                    self.bump();
                    self.bump();
                    if !self.at("PARTITION") {
                        return Err(self.expected("PARTITION BY after OVER ("));
                    }
                    partition_by = self.parse_partition_keys()?;
                    self.expect(TokenKind::RParen, "',' or ')' after the partition key")?;
                }
                WindowKind::Session {
                    timeout,
                    max_duration,
                    partition_by,
                }
            }
            WindowName::Multiple => {
                let mut members = Vec::new();
                loop {
                    members.push(self.parse_window_member()?);
                    if self.eat(TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.expect(TokenKind::RParen, "',' or ')' after the window")?;
                WindowKind::Multiple(members)
            }
        };
        Ok(Window {
            kind,
            span: self.since(start),
        })
    }

    fn close_window(&mut self, has_offset: bool, offset: &str, last: &str) -> PResult<Span> {
        let after = if has_offset { offset } else { last };
        self.expect(TokenKind::RParen, &format!("')' after {after}"))
    }

    fn parse_window_member(&mut self) -> PResult<WindowMember> {
        if self.at("Window") && *self.kind(1) == TokenKind::LParen {
            self.bump();
            self.bump();
            let token = self.peek().clone();
            let id = match &token.kind {
                TokenKind::String(value) => (value.clone(), token.span),
                _ => return Err(self.expected("a window id string after 'Window('")),
            };
            self.bump();
            self.expect(TokenKind::Comma, "',' after the window id")?;
            let window = self.parse_member_window()?;
            self.expect(TokenKind::RParen, "')' after the window")?;
            Ok(WindowMember {
                id: Some(id),
                window,
            })
        } else {
            Ok(WindowMember {
                id: None,
                window: self.parse_member_window()?,
            })
        }
    }

    /// A window inside `Windows(...)`: a window call or `System.Timestamp()`.
    fn parse_member_window(&mut self) -> PResult<Window> {
        if self.at_system_timestamp() {
            let start = self.peek().span;
            self.parse_system_timestamp()?;
            return Ok(Window {
                kind: WindowKind::Snapshot,
                span: self.since(start),
            });
        }
        if self.at_window() {
            if self.at("Windows") {
                return Err(Diagnostic::error(
                    codes::SYNTAX,
                    self.peek().span,
                    "nested Windows(...) is not allowed",
                ));
            }
            return self.parse_window();
        }
        Err(self.expected(&format!(
            "a window such as TumblingWindow(...) after {}",
            self.describe_prev()
        )))
    }

    /// `Name(unit, n)`: a wrapped duration such as `Duration(minute, 5)`.
    fn parse_wrapped(&mut self, name: &str, what: &str) -> PResult<DurationLit> {
        if !(self.at(name) && *self.kind(1) == TokenKind::LParen) {
            return Err(self.expected(&format!("{name}(unit, n) after {}", self.describe_prev())));
        }
        self.bump();
        self.bump();
        let (_, lit) = self.parse_unit_and_amount(what)?;
        self.expect(TokenKind::RParen, &format!("')' after {what}"))?;
        Ok(lit)
    }

    /// `unit, n`.
    fn parse_unit_and_amount(&mut self, what: &str) -> PResult<(TimeUnit, DurationLit)> {
        let (unit, unit_span) = self.parse_time_unit()?;
        self.expect(TokenKind::Comma, "',' after the time unit")?;
        let (amount, amount_span) = self.parse_amount(what)?;
        Ok((
            unit,
            DurationLit {
                unit,
                amount,
                span: unit_span.to(amount_span),
            },
        ))
    }

    /// A positional amount sharing an earlier unit.
    fn parse_amount_in(&mut self, unit: TimeUnit, what: &str) -> PResult<DurationLit> {
        let (amount, span) = self.parse_amount(what)?;
        Ok(DurationLit { unit, amount, span })
    }

    fn parse_time_unit(&mut self) -> PResult<(TimeUnit, Span)> {
        let token = self.peek().clone();
        if token.kind != TokenKind::Word {
            return Err(self
                .expected(&format!("a time unit after {}", self.describe_prev()))
                .with_help(UNITS_HELP));
        }
        let word = self.text(&token);
        match time_unit(word) {
            Some(unit) => {
                self.bump();
                Ok((unit, token.span))
            }
            None => Err(Diagnostic::error(
                codes::SYNTAX,
                token.span,
                format!("unknown time unit '{}'", truncate(word)),
            )
            .with_help(UNITS_HELP)),
        }
    }

    /// A signed integer literal.
    fn parse_amount(&mut self, what: &str) -> PResult<(i64, Span)> {
        let start = self.peek().span;
        let negative = if self.eat(TokenKind::Minus).is_some() {
            true
        } else {
            self.eat(TokenKind::Plus);
            false
        };
        let token = self.peek().clone();
        if token.kind != TokenKind::Integer {
            return Err(self.expected(&format!("an integer {what}")));
        }
        self.bump();
        let digits = self.text(&token);
        let text = if negative {
            format!("-{digits}")
        } else {
            digits.to_string()
        };
        let span = start.to(token.span);
        let value = text.parse::<i64>().map_err(|_| {
            Diagnostic::error(
                codes::SYNTAX,
                span,
                format!("integer literal '{}' is out of range", truncate(&text)),
            )
        })?;
        Ok((value, span))
    }

    /// `LIMIT DURATION(unit, n)`; the current token is LIMIT.
    fn parse_limit_duration(&mut self) -> PResult<DurationLit> {
        self.bump();
        self.expect_word("DURATION", "DURATION after LIMIT")?;
        self.expect(TokenKind::LParen, "'(' after LIMIT DURATION")?;
        let (_, lit) = self.parse_unit_and_amount("duration")?;
        self.expect(TokenKind::RParen, "')' after the duration")?;
        Ok(lit)
    }

    // ----- expressions ----------------------------------------------------

    fn parse_expr_list(&mut self) -> PResult<Vec<Expr>> {
        let mut list = vec![self.parse_expr()?];
        while self.eat(TokenKind::Comma).is_some() {
            list.push(self.parse_expr()?);
        }
        Ok(list)
    }

    /// A full expression.
    fn parse_expr(&mut self) -> PResult<Expr> {
        self.parse_prec(P_OR)
    }

    /// The binding level of the infix operator at the current token.
    fn infix_level(&self) -> Option<u8> {
        let token = self.peek();
        Some(match &token.kind {
            TokenKind::Word => {
                let word = self.text(token).to_ascii_uppercase();
                match word.as_str() {
                    "OR" => P_OR,
                    "AND" => P_AND,
                    "LIKE" | "BETWEEN" | "IN" | "IS" => P_CMP,
                    "NOT"
                        if self.is_word(1, "LIKE")
                            || self.is_word(1, "BETWEEN")
                            || self.is_word(1, "IN") =>
                    {
                        P_CMP
                    }
                    _ => return None,
                }
            }
            TokenKind::Eq
            | TokenKind::NotEq
            | TokenKind::Lt
            | TokenKind::LtEq
            | TokenKind::Gt
            | TokenKind::GtEq
            | TokenKind::NotLt
            | TokenKind::NotGt => P_CMP,
            TokenKind::Pipe | TokenKind::Caret | TokenKind::Amp => P_BIT,
            TokenKind::Plus | TokenKind::Minus => P_ADD,
            TokenKind::Star | TokenKind::Slash | TokenKind::Percent => P_MUL,
            _ => return None,
        })
    }

    fn parse_prec(&mut self, min: u8) -> PResult<Expr> {
        self.enter()?;
        let mut left = if min <= P_NOT && self.at("NOT") {
            let op_span = self.bump().span;
            let operand = self.parse_prec(P_NOT)?;
            Expr {
                span: op_span.to(operand.span),
                kind: ExprKind::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(operand),
                },
            }
        } else {
            self.parse_unary()?
        };
        // Each operator of a chain makes the tree one level deeper.
        let mut chain = 0;
        while let Some(level) = self.infix_level() {
            if level < min {
                break;
            }
            self.enter_cost(1)?;
            chain += 1;
            left = self.parse_infix(left, level)?;
        }
        self.leave_cost(chain);
        self.leave();
        Ok(left)
    }

    fn parse_infix(&mut self, left: Expr, level: u8) -> PResult<Expr> {
        let token = self.bump();
        let op = match token.kind {
            TokenKind::Eq => Some(BinaryOp::Eq),
            TokenKind::NotEq => Some(BinaryOp::NotEq),
            TokenKind::Lt => Some(BinaryOp::Lt),
            TokenKind::LtEq | TokenKind::NotGt => Some(BinaryOp::LtEq),
            TokenKind::Gt => Some(BinaryOp::Gt),
            TokenKind::GtEq | TokenKind::NotLt => Some(BinaryOp::GtEq),
            TokenKind::Pipe => Some(BinaryOp::BitOr),
            TokenKind::Caret => Some(BinaryOp::BitXor),
            TokenKind::Amp => Some(BinaryOp::BitAnd),
            TokenKind::Plus => Some(BinaryOp::Add),
            TokenKind::Minus => Some(BinaryOp::Sub),
            TokenKind::Star => Some(BinaryOp::Mul),
            TokenKind::Slash => Some(BinaryOp::Div),
            TokenKind::Percent => Some(BinaryOp::Mod),
            _ => None,
        };
        if let Some(op) = op {
            let right = self.parse_prec(level + 1)?;
            return Ok(Expr {
                span: left.span.to(right.span),
                kind: ExprKind::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
            });
        }
        let word = self.text(&token).to_ascii_uppercase();
        match word.as_str() {
            "OR" | "AND" => {
                let op = if word == "OR" {
                    BinaryOp::Or
                } else {
                    BinaryOp::And
                };
                let right = self.parse_prec(level + 1)?;
                Ok(Expr {
                    span: left.span.to(right.span),
                    kind: ExprKind::Binary {
                        op,
                        left: Box::new(left),
                        right: Box::new(right),
                    },
                })
            }
            "IS" => {
                let negated = self.eat_word("NOT").is_some();
                self.expect_word("NULL", &format!("NULL after {}", self.describe_prev()))?;
                Ok(Expr {
                    span: self.since(left.span),
                    kind: ExprKind::IsNull {
                        expr: Box::new(left),
                        negated,
                    },
                })
            }
            _ => {
                let negated = word == "NOT";
                let keyword = if negated {
                    // The keyword after NOT was checked by `infix_level`.
                    let keyword = self.bump();
                    self.text(&keyword).to_ascii_uppercase()
                } else {
                    word
                };
                self.parse_predicate(left, &keyword, negated)
            }
        }
    }

    /// The rest of `[NOT] LIKE`, `[NOT] BETWEEN` or `[NOT] IN` once the
    /// keyword is consumed.
    fn parse_predicate(&mut self, left: Expr, keyword: &str, negated: bool) -> PResult<Expr> {
        let start = left.span;
        let expr = Box::new(left);
        let kind = match keyword {
            "LIKE" => ExprKind::Like {
                expr,
                pattern: Box::new(self.parse_prec(P_BIT)?),
                negated,
            },
            "BETWEEN" => {
                let low = self.parse_prec(P_BIT)?;
                self.expect_word("AND", "AND after the BETWEEN lower bound")?;
                let high = self.parse_prec(P_BIT)?;
                ExprKind::Between {
                    expr,
                    low: Box::new(low),
                    high: Box::new(high),
                    negated,
                }
            }
            _ => {
                self.expect(
                    TokenKind::LParen,
                    &format!("'(' after {}", self.describe_prev()),
                )?;
                let list = self.parse_expr_list()?;
                self.expect(TokenKind::RParen, "',' or ')' after the IN list item")?;
                ExprKind::InList {
                    expr,
                    list,
                    negated,
                }
            }
        };
        Ok(Expr {
            span: self.since(start),
            kind,
        })
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let op = match self.kind(0) {
            TokenKind::Minus => UnaryOp::Neg,
            TokenKind::Plus => UnaryOp::Plus,
            TokenKind::Tilde => UnaryOp::BitNot,
            _ => return self.parse_primary(),
        };
        self.enter()?;
        let op_span = self.bump().span;
        // -9223372036854775808 only fits as a negative literal.
        if op == UnaryOp::Neg && *self.kind(0) == TokenKind::Integer {
            let token = self.peek().clone();
            if self.text(&token).parse::<u64>().ok() == Some(1u64 << 63) {
                self.bump();
                self.leave();
                return Ok(Expr {
                    kind: ExprKind::Literal(Literal::Integer(i64::MIN)),
                    span: op_span.to(token.span),
                });
            }
        }
        let operand = self.parse_unary()?;
        self.leave();
        Ok(Expr {
            span: op_span.to(operand.span),
            kind: ExprKind::Unary {
                op,
                expr: Box::new(operand),
            },
        })
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let token = self.peek().clone();
        let literal = |lit: Literal| -> PResult<Expr> {
            Ok(Expr {
                kind: ExprKind::Literal(lit),
                span: token.span,
            })
        };
        match &token.kind {
            TokenKind::Integer => {
                let text = self.text(&token);
                let value = text.parse::<i64>().map_err(|_| {
                    Diagnostic::error(
                        codes::SYNTAX,
                        token.span,
                        format!("integer literal '{}' is out of range", truncate(text)),
                    )
                    .with_help("Integers are 64-bit (bigint); write a decimal point for a float.")
                })?;
                self.bump();
                literal(Literal::Integer(value))
            }
            TokenKind::Float => {
                let text = self.text(&token);
                match text.parse::<f64>() {
                    Ok(value) if value.is_finite() => {
                        self.bump();
                        literal(Literal::Float(value))
                    }
                    _ => Err(Diagnostic::error(
                        codes::SYNTAX,
                        token.span,
                        format!("float literal '{}' is out of range", truncate(text)),
                    )),
                }
            }
            TokenKind::String(value) => {
                self.bump();
                literal(Literal::String(value.clone()))
            }
            TokenKind::LParen => {
                self.bump();
                let inner = self.parse_expr()?;
                self.expect(TokenKind::RParen, "')' to close '('")?;
                Ok(Expr {
                    kind: inner.kind,
                    span: self.since(token.span),
                })
            }
            TokenKind::BracketIdent(_) | TokenKind::QuotedIdent(_) => self.parse_path_or_call(),
            TokenKind::Word => {
                let word = self.text(&token).to_ascii_uppercase();
                match word.as_str() {
                    "NULL" => {
                        self.bump();
                        literal(Literal::Null)
                    }
                    "CASE" => self.parse_case(),
                    "CAST" | "TRY_CAST" => self.parse_cast(word == "TRY_CAST"),
                    "LEFT" if *self.kind(1) == TokenKind::LParen => {
                        self.bump();
                        let name = Ident {
                            value: self.text(&token).to_string(),
                            quote: Quote::None,
                            span: token.span,
                        };
                        self.parse_call(None, name)
                    }
                    _ if is_reserved(&word) => Err(self.expected_expr()),
                    _ => self.parse_path_or_call(),
                }
            }
            _ => Err(self.expected_expr()),
        }
    }

    fn at_system_timestamp(&self) -> bool {
        self.at("System") && *self.kind(1) == TokenKind::Dot && self.is_word(2, "Timestamp")
    }

    /// `System.Timestamp` with optional `()`.
    fn parse_system_timestamp(&mut self) -> PResult<Span> {
        let start = self.bump().span;
        self.bump();
        self.bump();
        if self.eat(TokenKind::LParen).is_some() {
            self.expect(TokenKind::RParen, "')' after System.Timestamp(")?;
        }
        Ok(self.since(start))
    }

    fn parse_path_or_call(&mut self) -> PResult<Expr> {
        if self.at_system_timestamp() {
            let span = self.parse_system_timestamp()?;
            return Ok(Expr {
                kind: ExprKind::SystemTimestamp,
                span,
            });
        }
        if self.at("System")
            && *self.kind(1) == TokenKind::Dot
            && self.is_word(2, "Window")
            && *self.kind(3) == TokenKind::LParen
        {
            let start = self.bump().span;
            self.bump();
            self.bump();
            self.bump();
            self.expect(TokenKind::RParen, "')' after System.Window(")?;
            self.expect(TokenKind::Dot, "'.Id' after System.Window()")?;
            self.expect_word("Id", "Id after System.Window().")?;
            return Ok(Expr {
                kind: ExprKind::SystemWindowId,
                span: self.since(start),
            });
        }
        let first = self.parse_ident("an expression")?;
        let bare = |ident: &Ident| ident.quote == Quote::None;
        if bare(&first) && *self.kind(0) == TokenKind::LParen {
            return self.parse_call(None, first);
        }
        let mut path = vec![first];
        while self.eat(TokenKind::Dot).is_some() {
            path.push(self.parse_field_name()?);
        }
        if *self.kind(0) == TokenKind::LParen && path.iter().all(bare) {
            if path.len() == 2 {
                let name = path.pop();
                let namespace = path.pop();
                if let (Some(namespace), Some(name)) = (namespace, name) {
                    return self.parse_call(Some(namespace), name);
                }
            } else {
                return Err(Diagnostic::error(
                    codes::SYNTAX,
                    self.since(path.first().map_or(self.prev, |i| i.span)),
                    "a function name can have only one prefix, such as udf or uda",
                ));
            }
        }
        let span = self.since(path.first().map_or(self.prev, |i| i.span));
        Ok(Expr {
            kind: ExprKind::Column(path),
            span,
        })
    }

    /// `(args) [OVER (...)]` after a function name.
    fn parse_call(&mut self, namespace: Option<Ident>, name: Ident) -> PResult<Expr> {
        let start = namespace.as_ref().map_or(name.span, |n| n.span);
        self.bump(); // '('
        let mut args = Vec::new();
        let mut distinct = false;
        if self.eat(TokenKind::RParen).is_none() {
            if self.eat_word("DISTINCT").is_some() {
                distinct = true;
            } else if self.at("ALL")
                && matches!(
                    self.kind(1),
                    TokenKind::Word
                        | TokenKind::BracketIdent(_)
                        | TokenKind::QuotedIdent(_)
                        | TokenKind::Integer
                        | TokenKind::Float
                        | TokenKind::String(_)
                )
            {
                // `COUNT(ALL e)` is `COUNT(e)`.
                self.bump();
            }
            loop {
                if *self.kind(0) == TokenKind::Star
                    && matches!(self.kind(1), TokenKind::Comma | TokenKind::RParen)
                {
                    args.push(FunctionArg::Star(self.bump().span));
                } else {
                    args.push(FunctionArg::Expr(self.parse_expr()?));
                }
                if self.eat(TokenKind::Comma).is_some() {
                    continue;
                }
                self.expect(TokenKind::RParen, "',' or ')' after function argument")?;
                break;
            }
        }
        let over = if self.at("OVER") && *self.kind(1) == TokenKind::LParen {
            Some(self.parse_over()?)
        } else {
            None
        };
        let span = self.since(start);
        Ok(Expr {
            kind: ExprKind::Function(FunctionCall {
                namespace,
                name,
                args,
                distinct,
                over,
                span,
            }),
            span,
        })
    }

    fn parse_over(&mut self) -> PResult<Over> {
        let start = self.bump().span; // OVER
        self.bump(); // '('
        let mut partition_by = None;
        let mut order_by = None;
        let mut limit_duration = None;
        let mut when = None;
        loop {
            if partition_by.is_none() && self.at("PARTITION") {
                partition_by = Some(self.parse_partition_keys()?);
            } else if order_by.is_none() && self.at("ORDER") {
                self.bump();
                self.expect_word("BY", "BY after ORDER")?;
                let mut items = Vec::new();
                loop {
                    let expr = self.parse_expr()?;
                    let descending = if self.eat_word("DESC").is_some() {
                        true
                    } else {
                        self.eat_word("ASC");
                        false
                    };
                    items.push(OrderItem { expr, descending });
                    if self.eat(TokenKind::Comma).is_none() {
                        break;
                    }
                }
                order_by = Some(items);
            } else if limit_duration.is_none() && self.at("LIMIT") {
                limit_duration = Some(self.parse_limit_duration()?);
            } else if when.is_none() && self.eat_word("WHEN").is_some() {
                when = Some(Box::new(self.parse_expr()?));
            } else if self.eat(TokenKind::RParen).is_some() {
                break;
            } else {
                return Err(self.expected(&format!(
                    "PARTITION BY, ORDER BY, LIMIT DURATION, WHEN or ')' after {}",
                    self.describe_prev()
                )));
            }
        }
        Ok(Over {
            partition_by: partition_by.unwrap_or_default(),
            order_by: order_by.unwrap_or_default(),
            limit_duration,
            when,
            span: self.since(start),
        })
    }

    fn parse_case(&mut self) -> PResult<Expr> {
        let start = self.bump().span; // CASE
        let operand = if self.at("WHEN") {
            None
        } else {
            Some(Box::new(self.parse_expr()?))
        };
        let mut whens = Vec::new();
        while self.eat_word("WHEN").is_some() {
            let condition = self.parse_expr()?;
            self.expect_word("THEN", "THEN after the WHEN condition")?;
            let result = self.parse_expr()?;
            whens.push((condition, result));
        }
        if whens.is_empty() {
            return Err(self.expected(&format!("WHEN after {}", self.describe_prev())));
        }
        let else_result = if self.eat_word("ELSE").is_some() {
            Some(Box::new(self.parse_expr()?))
        } else {
            None
        };
        self.expect_word("END", "WHEN, ELSE or END in CASE")?;
        Ok(Expr {
            kind: ExprKind::Case {
                operand,
                whens,
                else_result,
            },
            span: self.since(start),
        })
    }

    fn parse_cast(&mut self, try_cast: bool) -> PResult<Expr> {
        let start = self.bump().span; // CAST or TRY_CAST
        let keyword = if try_cast { "TRY_CAST" } else { "CAST" };
        self.expect(TokenKind::LParen, &format!("'(' after {keyword}"))?;
        let expr = self.parse_expr()?;
        self.expect_word("AS", &format!("AS and a type in {keyword}"))?;
        let ty = self.parse_type()?;
        self.expect(TokenKind::RParen, &format!("')' after the {keyword} type"))?;
        Ok(Expr {
            kind: ExprKind::Cast {
                expr: Box::new(expr),
                ty,
                try_cast,
            },
            span: self.since(start),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    // ----- helpers ----------------------------------------------------------

    /// The shared conformance cases, wherever this checkout sits.
    fn conformance_dir() -> PathBuf {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let candidates = [
            std::env::var_os("EDDY_CONFORMANCE_DIR").map(PathBuf::from),
            Some(root.join("../shared/conformance")),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|p| p.is_dir())
            .expect("the shared conformance folder (set EDDY_CONFORMANCE_DIR)")
    }

    /// `(case name, query text)` for every conformance case.
    fn conformance_queries() -> Vec<(String, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(conformance_dir()).expect("read conformance dir") {
            let path = entry.expect("dir entry").path();
            let query = path.join("query.asaql");
            if query.is_file() {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let text = std::fs::read_to_string(&query).expect("read query");
                out.push((name, text));
            }
        }
        out.sort();
        assert!(out.len() >= 50, "only {} conformance queries", out.len());
        out
    }

    const CASE_LANE: &str = "qp-case-lane";

    fn parse_ok(src: &str) -> Script {
        match parse_script(src) {
            Ok(script) => script,
            Err(e) => panic!("failed to parse:\n{src}\n{e:?}"),
        }
    }

    /// The single error for `src`: message and 1-based line/column.
    fn parse_err(src: &str) -> (String, (usize, usize)) {
        let diags = match parse_script(src) {
            Ok(script) => panic!("expected an error for:\n{src}\nparsed: {script:?}"),
            Err(d) => d,
        };
        assert_eq!(diags.0.len(), 1);
        let d = &diags.0[0];
        assert_eq!(d.code, codes::SYNTAX);
        let span = d.span().expect("span");
        (d.message.clone(), span.line_col(src))
    }

    fn query(script: &Script, i: usize) -> &Query {
        match &script.statements[i] {
            Statement::Query(q) => q,
            other => panic!("not a query: {other:?}"),
        }
    }

    fn select(script: &Script) -> &Select {
        &query(script, 0).body.selects[0]
    }

    /// The first SELECT item's expression of `SELECT {e} FROM x`.
    fn expr(e: &str) -> Expr {
        let script = parse_ok(&format!("SELECT {e} FROM x"));
        match &select(&script).projection[0] {
            SelectItem::Expr { expr, .. } => expr.clone(),
            other => panic!("not an expression: {other:?}"),
        }
    }

    /// The GROUP BY window of `SELECT a FROM x GROUP BY {w}`.
    fn window(w: &str) -> WindowKind {
        let script = parse_ok(&format!("SELECT a FROM x GROUP BY {w}"));
        match &select(&script).group_by[0] {
            GroupItem::Window(w) => w.kind.clone(),
            other => panic!("not a window: {other:?}"),
        }
    }

    fn dur(unit: TimeUnit, amount: i64) -> (TimeUnit, i64) {
        (unit, amount)
    }

    fn ua(d: &DurationLit) -> (TimeUnit, i64) {
        (d.unit, d.amount)
    }

    fn col(e: &Expr) -> Vec<String> {
        match &e.kind {
            ExprKind::Column(path) => path.iter().map(|i| i.value.clone()).collect(),
            other => panic!("not a column: {other:?}"),
        }
    }

    fn call(e: &Expr) -> &FunctionCall {
        match &e.kind {
            ExprKind::Function(c) => c,
            other => panic!("not a call: {other:?}"),
        }
    }

    fn display(src: &str) -> String {
        parse_ok(src).to_string()
    }

    /// The tree's debug form with every span blanked out.
    fn shape_without_spans(script: &Script) -> String {
        static SPANS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let spans = SPANS
            .get_or_init(|| regex::Regex::new(r"Span \{ start: \d+, end: \d+ \}").expect("regex"));
        spans.replace_all(&format!("{script:?}"), "_").into_owned()
    }

    // ----- the conformance queries ----------------------------------------

    #[test]
    fn every_conformance_query_parses() {
        for (name, text) in conformance_queries() {
            if name == CASE_LANE {
                continue;
            }
            if let Err(e) = parse_script(&text) {
                let d = &e.0[0];
                panic!(
                    "{name}: {} at {:?}",
                    d.message,
                    d.span().map(|s| s.line_col(&text))
                );
            }
        }
    }

    #[test]
    fn case_lane_reports_the_missing_comma_at_case() {
        let (_, text) = conformance_queries()
            .into_iter()
            .find(|(n, _)| n == CASE_LANE)
            .expect("qp-case-lane");
        let (message, at) = parse_err(&text);
        assert_eq!(
            message,
            "expected ',' or FROM after select item, found CASE"
        );
        assert_eq!(at, (3, 2));
    }

    #[test]
    fn display_round_trips_every_conformance_query() {
        for (name, text) in conformance_queries() {
            if name == CASE_LANE {
                continue;
            }
            let script = parse_ok(&text);
            let once = script.to_string();
            let reparsed = match parse_script(&once) {
                Ok(s) => s,
                Err(e) => panic!("{name}: printed text does not parse: {e}\n{once}"),
            };
            let twice = reparsed.to_string();
            assert_eq!(once, twice, "{name}: printing is not idempotent");
            assert_eq!(
                shape_without_spans(&script),
                shape_without_spans(&reparsed),
                "{name}: the printed text parses to a different tree"
            );
        }
    }

    #[test]
    fn no_panic_on_any_prefix_of_a_conformance_query() {
        for (_, text) in conformance_queries() {
            for (i, _) in text.char_indices() {
                let _ = parse_script(&text[..i]);
                let _ = parse_script(&text[i..]);
            }
        }
    }

    /// A small deterministic generator (xorshift) for fuzz-style tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn no_panic_on_random_bytes() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..3000 {
            let len = rng.below(60);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_script(&text);
        }
    }

    /// Random sequences of ASA tokens reach deeper into the grammar than
    /// random bytes. Whatever parses must print and re-parse stably.
    #[test]
    fn random_token_soup_never_panics_and_round_trips() {
        const VOCAB: &[&str] = &[
            "SELECT",
            "SELECT",
            "*",
            "a",
            "b.c",
            "FROM",
            "FROM",
            "x",
            "INTO",
            "o",
            "WHERE",
            "GROUP BY",
            "HAVING",
            ",",
            ",",
            "(",
            ")",
            "AS",
            "=",
            "<>",
            "!<",
            "+",
            "-",
            "*",
            "/",
            "%",
            "|",
            "^",
            "&",
            "~",
            "AND",
            "OR",
            "NOT",
            "LIKE",
            "BETWEEN",
            "IN",
            "IS",
            "NULL",
            "1",
            "2.5",
            "'s'",
            "[q]",
            "\"d\"",
            "CASE",
            "WHEN",
            "THEN",
            "ELSE",
            "END",
            "CAST(a AS bigint)",
            "COUNT(*)",
            "f(",
            "OVER (",
            "PARTITION BY",
            "ORDER BY",
            "LIMIT DURATION(hour, 1)",
            "TumblingWindow(second, 5)",
            "HoppingWindow(",
            "second",
            "Windows(",
            "Window('w',",
            "System.Timestamp()",
            "System.Timestamp",
            "JOIN",
            "ON",
            "LEFT",
            "CROSS APPLY",
            "TIMESTAMP BY",
            "t",
            "WITH",
            "s",
            "UNION",
            ";",
            "DESC",
            "MATCH_RECOGNIZE (",
            "MEASURES",
            "PATTERN (",
            "A+",
            "{2,}",
            "DEFINE",
            ".",
            "CREATE TABLE",
            "bigint",
            "nvarchar(max)",
            "udf.f(",
            "DISTINCT",
            "-5",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        let iterations = std::env::var("EDDY_FUZZ_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(20_000);
        for _ in 0..iterations {
            let n = 1 + rng.below(25);
            let mut text = String::new();
            if rng.below(2) == 0 {
                text.push_str("SELECT ");
            }
            for _ in 0..n {
                text.push_str(VOCAB[rng.below(VOCAB.len())]);
                text.push(' ');
            }
            if let Ok(script) = parse_script(&text) {
                parsed += 1;
                let once = script.to_string();
                let again = match parse_script(&once) {
                    Ok(s) => s.to_string(),
                    Err(e) => panic!("{text}\nprinted as\n{once}\ndoes not parse: {e}"),
                };
                assert_eq!(once, again, "from {text}");
            }
        }
        // Few random soups are valid; the generated-query test covers those.
        let _ = parsed;
    }

    /// Random valid ASA text from a small grammar.
    struct Gen(Rng);

    impl Gen {
        fn pick<'s>(&mut self, options: &[&'s str]) -> &'s str {
            options[self.0.below(options.len())]
        }

        fn chance(&mut self, percent: usize) -> bool {
            self.0.below(100) < percent
        }

        fn column(&mut self) -> String {
            self.pick(&[
                "a", "b.c", "[q r]", "\"d\"", "rec.[0]", "x.y.z", "Time", "Value", "e.[a]]b]",
                "Count",
            ])
            .to_string()
        }

        /// An operand: atoms as they are, operator chains sometimes in
        /// parentheses, predicates and prefix operators always.
        fn operand(&mut self, depth: usize, chains_bare: bool) -> String {
            let (text, kind) = self.expr_kind(depth);
            match kind {
                0 => text,
                1 if chains_bare && self.chance(50) => text,
                _ => format!("({text})"),
            }
        }

        fn expr(&mut self, depth: usize) -> String {
            self.expr_kind(depth).0
        }

        /// Text and kind: 0 atom, 1 binary operator chain, 2 other.
        fn expr_kind(&mut self, depth: usize) -> (String, u8) {
            if depth == 0 || self.chance(30) {
                let atom = match self.0.below(8) {
                    0..=3 => self.column(),
                    4 => self
                        .pick(&[
                            "1",
                            "0",
                            "2.5",
                            "1e10",
                            "0.001",
                            "-5",
                            "9223372036854775807",
                        ])
                        .to_string(),
                    5 => self.pick(&["'s'", "''", "'it''s'", "NULL"]).to_string(),
                    6 => "System.Timestamp()".to_string(),
                    _ => "System.Window().Id".to_string(),
                };
                return (atom, 0);
            }
            let d = depth - 1;
            let text = match self.0.below(16) {
                0..=3 => {
                    let op = self.pick(&[
                        "+", "-", "*", "/", "%", "|", "^", "&", "=", "<>", "!=", "<", "<=", ">",
                        ">=", "!<", "!>", "AND", "OR",
                    ]);
                    let text = format!("{} {op} {}", self.operand(d, true), self.operand(d, true));
                    return (text, 1);
                }
                4 => {
                    let op = self.pick(&["- ", "+ ", "~", "NOT "]);
                    format!("{op}{}", self.operand(d, false))
                }
                5 => return (format!("({})", self.expr(d)), 0),
                6 => {
                    let not = self.pick(&["", "NOT "]);
                    format!(
                        "{} {not}LIKE {}",
                        self.operand(d, false),
                        self.operand(d, false)
                    )
                }
                7 => {
                    let not = self.pick(&["", "NOT "]);
                    format!(
                        "{} {not}BETWEEN {} AND {}",
                        self.operand(d, false),
                        self.operand(d, false),
                        self.operand(d, false)
                    )
                }
                8 => {
                    let not = self.pick(&["", "NOT "]);
                    format!(
                        "{} {not}IN ({}, {})",
                        self.operand(d, false),
                        self.expr(d),
                        self.expr(d)
                    )
                }
                9 => {
                    let not = self.pick(&["", "NOT "]);
                    format!("{} IS {not}NULL", self.operand(d, false))
                }
                10 => {
                    let mut text = "CASE".to_string();
                    if self.chance(50) {
                        text += &format!(" {}", self.expr(d));
                    }
                    for _ in 0..1 + self.0.below(2) {
                        text += &format!(" WHEN {} THEN {}", self.expr(d), self.expr(d));
                    }
                    if self.chance(50) {
                        text += &format!(" ELSE {}", self.expr(d));
                    }
                    return (text + " END", 0);
                }
                11 => {
                    let cast = self.pick(&["CAST", "TRY_CAST"]);
                    let ty = self.pick(&[
                        "bigint",
                        "FLOAT",
                        "nvarchar(max)",
                        "datetime",
                        "bit",
                        "record",
                        "array",
                    ]);
                    return (format!("{cast}({} AS {ty})", self.expr(d)), 0);
                }
                12 => {
                    let name = self.pick(&["f", "udf.g", "UDA.h", "LEFT", "DATEDIFF", "COUNT"]);
                    let args = match self.0.below(4) {
                        0 => String::new(),
                        1 => "*".to_string(),
                        2 => format!("DISTINCT {}", self.expr(d)),
                        _ => format!("minute, {}, {}", self.expr(d), self.expr(d)),
                    };
                    return (format!("{name}({args})"), 0);
                }
                13 => {
                    let mut parts = Vec::new();
                    if self.chance(50) {
                        parts.push(format!("PARTITION BY {}, {}", self.column(), self.column()));
                    }
                    if self.chance(50) {
                        let dir = self.pick(&["", " ASC", " DESC"]);
                        parts.push(format!("ORDER BY {}{dir}", self.expr(d)));
                    }
                    if self.chance(50) {
                        parts.push("LIMIT DURATION(hh, 2)".to_string());
                    }
                    if self.chance(50) {
                        parts.push(format!("WHEN {}", self.expr(d)));
                    }
                    return (
                        format!("LAG({}) OVER ({})", self.expr(d), parts.join(" ")),
                        0,
                    );
                }
                _ => return (self.column(), 0),
            };
            (text, 2)
        }

        fn window(&mut self) -> String {
            match self.0.below(9) {
                0 => "TumblingWindow(second, 10)".to_string(),
                1 => "Tumbling(hour, 24, -4)".to_string(),
                2 => "TumblingWindow(Duration(hour, 1), Offset(ms, -1))".to_string(),
                3 => "HoppingWindow(mi, 10, 5)".to_string(),
                4 => "Hopping(Duration(s, 10), Hop(ms, 500), Offset(s, 1))".to_string(),
                5 => "SlidingWindow(Duration(d, 1))".to_string(),
                6 => format!(
                    "SessionWindow(minute, 1, 60) OVER (PARTITION BY {})",
                    self.column()
                ),
                7 => "Session(Timeout(s, 5), MaxDuration(mi, 1))".to_string(),
                _ => "Windows(Window('a', Tumbling(s, 1)), Window('b', System.Timestamp()))"
                    .to_string(),
            }
        }

        fn source(&mut self) -> String {
            let mut text = self.pick(&["input", "[in put]", "step1"]).to_string();
            if self.chance(50) {
                text += self.pick(&[" AS i", " i", " [j]"]);
            }
            if self.chance(30) {
                text += &format!(" PARTITION BY {} INTO 3", self.column());
            }
            if self.chance(50) {
                text += &format!(" TIMESTAMP BY {}", self.expr(1));
                if self.chance(30) {
                    text += " OVER k1, k2";
                }
            }
            if self.chance(10) {
                text += " MATCH_RECOGNIZE (LIMIT DURATION(minute, 1) PARTITION BY k \
                         MEASURES Last(A.v) AS v, First(B.w) AS w AFTER MATCH SKIP TO NEXT ROW \
                         PATTERN ((A | B C)+ .? D{2,} E{1,3} F{4}) DEFINE A AS A.v > 1, B AS 1 = 1) AS m";
            }
            text
        }

        fn select(&mut self) -> String {
            let mut items = Vec::new();
            for _ in 0..1 + self.0.below(3) {
                let mut e = self.expr(3);
                // `name = ...` at the start of an item is the alias form.
                let tokens = lexer::tokenize(&e).tokens;
                if tokens.len() > 2 && tokens[1].kind == TokenKind::Eq {
                    e = format!("({e})");
                }
                items.push(match self.0.below(8) {
                    0 => "*".to_string(),
                    1 => "i.*".to_string(),
                    2 => format!("n = {}", self.expr(3)),
                    3 => format!("{e} AS [al]"),
                    4 => format!("{e} al2"),
                    _ => e,
                });
            }
            let mut text = format!("SELECT {}", items.join(", "));
            if self.chance(30) {
                text += self.pick(&[" INTO out", " INTO 4", " INTO [o p]"]);
            }
            text += &format!(" FROM {}", self.source());
            for _ in 0..self.0.below(3) {
                text += &match self.0.below(5) {
                    0 => format!(" JOIN {} ON {}", self.source(), self.expr(3)),
                    1 => format!(" LEFT OUTER JOIN {} ON {}", self.source(), self.expr(3)),
                    2 => format!(" INNER JOIN {} ON {}", self.source(), self.expr(3)),
                    3 => format!(" CROSS APPLY GetArrayElements({}) AS e", self.column()),
                    _ => format!(" OUTER APPLY GetRecordProperties({}) p", self.column()),
                };
            }
            if self.chance(50) {
                text += &format!(" WHERE {}", self.expr(4));
            }
            if self.chance(50) {
                text += &format!(" GROUP BY {}, {}", self.column(), self.window());
                if self.chance(50) {
                    text += &format!(" HAVING {}", self.expr(3));
                }
            }
            text
        }

        fn script(&mut self) -> String {
            let mut text = String::new();
            if self.chance(20) {
                text += "CREATE TABLE input (a bigint, [b c] nvarchar(max), t datetime);\n";
            }
            for _ in 0..1 + self.0.below(2) {
                if self.chance(30) {
                    text += &format!(
                        "WITH step1 AS ({}), s2 AS ({} UNION {})\n",
                        self.select(),
                        self.select(),
                        self.select()
                    );
                }
                text += &self.select();
                text += self.pick(&["\n", ";\n", " -- comment\n", " /* c */ "]);
            }
            text
        }
    }

    fn round_trip(text: &str, script: &Script) {
        let once = script.to_string();
        let reparsed = match parse_script(&once) {
            Ok(s) => s,
            Err(e) => panic!("{text}\nprinted as\n{once}\ndoes not parse: {e}"),
        };
        assert_eq!(once, reparsed.to_string(), "from {text}");
        assert_eq!(
            shape_without_spans(script),
            shape_without_spans(&reparsed),
            "{text}\nprinted as\n{once}\nparses to a different tree"
        );
    }

    /// Generated valid scripts parse and print stably; mutated ones never
    /// panic, and whatever of them parses prints stably too.
    #[test]
    fn generated_queries_parse_round_trip_and_survive_mutation() {
        let iterations = std::env::var("EDDY_FUZZ_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3_000);
        let mut gen = Gen(Rng(0xD1B5_4A32_D192_ED03));
        for _ in 0..iterations {
            let text = gen.script();
            let script = parse_ok(&text);
            round_trip(&text, &script);
            // Mutations: drop, duplicate or swap tokens.
            let tokens = lexer::tokenize(&text).tokens;
            for _ in 0..5 {
                let i = gen.0.below(tokens.len());
                let j = gen.0.below(tokens.len());
                let (a, b) = (tokens[i].span, tokens[j].span);
                let mutated = match gen.0.below(3) {
                    0 => format!("{}{}", &text[..a.start], &text[a.end..]),
                    1 => format!(
                        "{}{} {}",
                        &text[..b.start],
                        lexer::text(&text, a),
                        &text[b.start..]
                    ),
                    _ => format!(
                        "{}{}{}",
                        &text[..a.start],
                        lexer::text(&text, b),
                        &text[a.end..]
                    ),
                };
                if let Ok(script) = parse_script(&mutated) {
                    round_trip(&mutated, &script);
                }
            }
        }
    }

    #[test]
    fn pathological_nesting_is_a_diagnostic() {
        let deep = |open: &str, close: &str| {
            format!(
                "SELECT {}a{} FROM x",
                open.repeat(10_000),
                close.repeat(10_000)
            )
        };
        for src in [
            deep("(", ")"),
            deep("NOT ", ""),
            deep("- ", ""),
            deep("~", ""),
            deep("f(", ")"),
            deep("CASE WHEN ", " THEN 1 END"),
            format!(
                "SELECT * FROM x MATCH_RECOGNIZE (LIMIT DURATION(second, 1) MEASURES a AS b \
                 PATTERN ({}A{}) DEFINE A AS 1 = 1) AS m",
                "(".repeat(10_000),
                ")".repeat(10_000)
            ),
        ] {
            let (message, _) = parse_err(&src);
            assert_eq!(message, "expression is too deeply nested or too long");
        }
        // Long operator chains build deep trees too.
        let (message, _) = parse_err(&format!("SELECT a{} FROM x", " + a".repeat(10_000)));
        assert_eq!(message, "expression is too deeply nested or too long");
        // Moderate nesting and chains are fine, and print back.
        for src in [
            format!("SELECT {}a{} FROM x", "(".repeat(100), ")".repeat(100)),
            format!("SELECT {}a{} FROM x", "f(".repeat(100), ")".repeat(100)),
            format!("SELECT a FROM x WHERE a = 0{}", " OR a = 1".repeat(500)),
        ] {
            let script = parse_ok(&src);
            parse_ok(&script.to_string());
        }
    }

    // ----- spot checks of the AST shape -------------------------------------

    #[test]
    fn with_step_feeding_two_outputs() {
        let script = parse_ok(
            "WITH ReaderQuery AS (SELECT * FROM Input TIMESTAMP BY Time)\n\
             SELECT * INTO ArchiveOutput FROM ReaderQuery\n\
             SELECT Make, COUNT(*) AS [Count] INTO AlertOutput FROM ReaderQuery\n\
             GROUP BY Make, TumblingWindow(second, 10) HAVING [Count] >= 3",
        );
        assert_eq!(script.statements.len(), 2);
        let first = query(&script, 0);
        assert_eq!(first.with.len(), 1);
        assert_eq!(first.with[0].name.value, "ReaderQuery");
        let step = &first.with[0].body.selects[0];
        let ts = step
            .from
            .source
            .timestamp_by
            .as_ref()
            .expect("timestamp by");
        assert_eq!(col(&ts.expr), vec!["Time"]);
        let s1 = &first.body.selects[0];
        assert!(matches!(&s1.into, Some(ast::Into::Output(o)) if o.value == "ArchiveOutput"));
        assert_eq!(s1.from.source.name.value, "ReaderQuery");
        let second = query(&script, 1);
        assert!(second.with.is_empty());
        let s2 = &second.body.selects[0];
        assert!(matches!(&s2.into, Some(ast::Into::Output(o)) if o.value == "AlertOutput"));
        assert_eq!(s2.from.source.name.value, "ReaderQuery");
        assert_eq!(s2.group_by.len(), 2);
        assert!(s2.having.is_some());
        match &s2.projection[1] {
            SelectItem::Expr {
                alias: Some(alias), ..
            } => {
                assert_eq!(alias.value, "Count");
                assert_eq!(alias.quote, Quote::Bracket);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tumbling_windows() {
        match window("TumblingWindow(Duration(hour, 1), Offset(millisecond, -1))") {
            WindowKind::Tumbling {
                size,
                offset: Some(offset),
            } => {
                assert_eq!(ua(&size), dur(TimeUnit::Hour, 1));
                assert_eq!(ua(&offset), dur(TimeUnit::Millisecond, -1));
            }
            other => panic!("{other:?}"),
        }
        match window("TumblingWindow(hour, 24, -4)") {
            WindowKind::Tumbling {
                size,
                offset: Some(offset),
            } => {
                assert_eq!(ua(&size), dur(TimeUnit::Hour, 24));
                assert_eq!(ua(&offset), dur(TimeUnit::Hour, -4));
            }
            other => panic!("{other:?}"),
        }
        match window("tumbling(ss, 5)") {
            WindowKind::Tumbling { size, offset: None } => {
                assert_eq!(ua(&size), dur(TimeUnit::Second, 5))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hopping_windows() {
        match window("HoppingWindow(second, 10, 5)") {
            WindowKind::Hopping { size, hop, offset } => {
                assert_eq!(ua(&size), dur(TimeUnit::Second, 10));
                assert_eq!(ua(&hop), dur(TimeUnit::Second, 5));
                assert!(offset.is_none());
            }
            other => panic!("{other:?}"),
        }
        match window("Hopping(Duration(mi, 10), Hop(n, 5), Offset(s, 1))") {
            WindowKind::Hopping {
                size,
                hop,
                offset: Some(offset),
            } => {
                assert_eq!(ua(&size), dur(TimeUnit::Minute, 10));
                assert_eq!(ua(&hop), dur(TimeUnit::Minute, 5));
                assert_eq!(ua(&offset), dur(TimeUnit::Second, 1));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sliding_and_session_windows() {
        match window("SlidingWindow(Duration(ms, 500))") {
            WindowKind::Sliding { size } => assert_eq!(ua(&size), dur(TimeUnit::Millisecond, 500)),
            other => panic!("{other:?}"),
        }
        match window("SessionWindow(minute, 1, 60) OVER (PARTITION BY user_id)") {
            WindowKind::Session {
                timeout,
                max_duration,
                partition_by,
            } => {
                assert_eq!(ua(&timeout), dur(TimeUnit::Minute, 1));
                assert_eq!(ua(&max_duration), dur(TimeUnit::Minute, 60));
                assert_eq!(partition_by.len(), 1);
                assert_eq!(col(&partition_by[0]), vec!["user_id"]);
            }
            other => panic!("{other:?}"),
        }
        match window("Session(Timeout(second, 5), MaxDuration(minute, 1))") {
            WindowKind::Session {
                timeout,
                max_duration,
                partition_by,
            } => {
                assert_eq!(ua(&timeout), dur(TimeUnit::Second, 5));
                assert_eq!(ua(&max_duration), dur(TimeUnit::Minute, 1));
                assert!(partition_by.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn multiple_windows() {
        match window(
            "Windows(Window('a', TumblingWindow(minute, 1)), Window('b', HoppingWindow(minute, 10, 5)), \
             Window('c', System.Timestamp()))",
        ) {
            WindowKind::Multiple(members) => {
                assert_eq!(members.len(), 3);
                assert_eq!(members[0].id.as_ref().map(|i| i.0.as_str()), Some("a"));
                assert!(matches!(members[0].window.kind, WindowKind::Tumbling { .. }));
                assert!(matches!(members[1].window.kind, WindowKind::Hopping { .. }));
                assert_eq!(members[2].window.kind, WindowKind::Snapshot);
            }
            other => panic!("{other:?}"),
        }
        match window("Windows(TumblingWindow(second, 1), System.Timestamp())") {
            WindowKind::Multiple(members) => {
                assert!(members.iter().all(|m| m.id.is_none()));
                assert_eq!(members[1].window.kind, WindowKind::Snapshot);
            }
            other => panic!("{other:?}"),
        }
        // In plain GROUP BY, System.Timestamp() stays an expression.
        let script = parse_ok("SELECT a FROM x GROUP BY a, System.Timestamp()");
        assert!(matches!(
            &select(&script).group_by[1],
            GroupItem::Expr(Expr {
                kind: ExprKind::SystemTimestamp,
                ..
            })
        ));
    }

    #[test]
    fn left_join_with_datediff_between() {
        let script = parse_ok(
            "SELECT a.id FROM a LEFT OUTER JOIN b ON a.id = b.id \
             AND DATEDIFF(second, a, b) BETWEEN 0 AND 10 INNER JOIN c ON a.k = c.k",
        );
        let from = &select(&script).from;
        assert_eq!(from.joins.len(), 2);
        match &from.joins[0] {
            JoinClause::Join {
                kind: JoinKind::Left,
                source,
                on,
                ..
            } => {
                assert_eq!(source.name.value, "b");
                let ExprKind::Binary {
                    op: BinaryOp::And,
                    right,
                    ..
                } = &on.kind
                else {
                    panic!("{on:?}")
                };
                let ExprKind::Between {
                    expr, low, high, ..
                } = &right.kind
                else {
                    panic!("{right:?}")
                };
                let datediff = call(expr);
                assert_eq!(datediff.name.value, "DATEDIFF");
                assert_eq!(datediff.args.len(), 3);
                assert!(matches!(&datediff.args[0], FunctionArg::Expr(e) if col(e) == ["second"]));
                assert_eq!(low.kind, ExprKind::Literal(Literal::Integer(0)));
                assert_eq!(high.kind, ExprKind::Literal(Literal::Integer(10)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &from.joins[1],
            JoinClause::Join {
                kind: JoinKind::Inner,
                ..
            }
        ));
        // `LEFT JOIN` without OUTER, and a bare JOIN.
        let script = parse_ok("SELECT * FROM a LEFT JOIN b ON a.x = b.x JOIN c ON 1 = 1");
        let joins = &select(&script).from.joins;
        assert!(matches!(
            joins[0],
            JoinClause::Join {
                kind: JoinKind::Left,
                ..
            }
        ));
        assert!(matches!(
            joins[1],
            JoinClause::Join {
                kind: JoinKind::Inner,
                ..
            }
        ));
    }

    #[test]
    fn cross_and_outer_apply() {
        let script = parse_ok(
            "SELECT e.ArrayValue FROM input AS i CROSS APPLY GetArrayElements(i.arr) AS e \
             OUTER APPLY GetRecordProperties(i.rec) p",
        );
        let from = &select(&script).from;
        assert_eq!(
            from.source.alias.as_ref().map(|a| a.value.as_str()),
            Some("i")
        );
        match &from.joins[0] {
            JoinClause::Apply {
                kind: ApplyKind::Cross,
                function,
                alias,
                ..
            } => {
                assert_eq!(function.name.value, "GetArrayElements");
                assert!(
                    matches!(&function.args[0], FunctionArg::Expr(e) if col(e) == ["i", "arr"])
                );
                assert_eq!(alias.value, "e");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &from.joins[1],
            JoinClause::Apply { kind: ApplyKind::Outer, alias, .. } if alias.value == "p"
        ));
    }

    #[test]
    fn lag_with_over_partition_limit_when() {
        let e = expr("LAG(x) OVER (PARTITION BY k LIMIT DURATION(hour, 1) WHEN y > 1)");
        let c = call(&e);
        assert_eq!(c.name.value, "LAG");
        let over = c.over.as_ref().expect("over");
        assert_eq!(col(&over.partition_by[0]), vec!["k"]);
        assert_eq!(
            over.limit_duration.as_ref().map(ua),
            Some(dur(TimeUnit::Hour, 1))
        );
        assert!(matches!(
            over.when.as_deref(),
            Some(Expr {
                kind: ExprKind::Binary {
                    op: BinaryOp::Gt,
                    ..
                },
                ..
            })
        ));
        assert!(over.order_by.is_empty());
        let e = expr("LAG(*) OVER (LIMIT DURATION(minute, 1))");
        assert!(matches!(call(&e).args[0], FunctionArg::Star(_)));
    }

    #[test]
    fn collect_top_with_order_by() {
        let e = expr("CollectTop(2) OVER (ORDER BY v DESC, w ASC, z)");
        let c = call(&e);
        assert_eq!(
            c.args[0],
            FunctionArg::Expr(Expr {
                kind: ExprKind::Literal(Literal::Integer(2)),
                span: Span::new(18, 19)
            })
        );
        let order: Vec<(Vec<String>, bool)> = c
            .over
            .as_ref()
            .expect("over")
            .order_by
            .iter()
            .map(|o| (col(&o.expr), o.descending))
            .collect();
        assert_eq!(
            order,
            vec![
                (vec!["v".to_string()], true),
                (vec!["w".to_string()], false),
                (vec!["z".to_string()], false)
            ]
        );
    }

    #[test]
    fn match_recognize_with_bounded_quantifier() {
        let script = parse_ok(
            "SELECT * FROM input TIMESTAMP BY time OVER ATM_id\n\
             MATCH_RECOGNIZE (\n\
               LIMIT DURATION(minute, 1)\n\
               PARTITION BY ATM_id\n\
               MEASURES First(Warning.ATM_id) AS ATM_id, Last(Warning.Time) AS t\n\
               AFTER MATCH SKIP TO NEXT ROW\n\
               PATTERN (Success+ Warning{2,} (A | B)? .* C{1,3} D{2})\n\
               DEFINE Success AS Success.Return_Code = 'Success',\n\
                      Warning AS Warning.Return_Code <> 'Success'\n\
             ) AS patternMatch",
        );
        let source = &select(&script).from.source;
        let ts = source.timestamp_by.as_ref().expect("timestamp by");
        assert_eq!(ts.over.len(), 1);
        let mr = source.match_recognize.as_ref().expect("match_recognize");
        assert_eq!(ua(&mr.limit_duration), dur(TimeUnit::Minute, 1));
        assert_eq!(col(&mr.partition_by[0]), vec!["ATM_id"]);
        assert_eq!(mr.measures.len(), 2);
        assert_eq!(mr.measures[0].1.value, "ATM_id");
        assert!(mr.after_match.is_some());
        assert_eq!(mr.define.len(), 2);
        assert_eq!(
            mr.alias.as_ref().map(|a| a.value.as_str()),
            Some("patternMatch")
        );
        let Pattern::Seq(items) = &mr.pattern else {
            panic!("{:?}", mr.pattern)
        };
        assert_eq!(items.len(), 6);
        let repeat = |p: &Pattern| match p {
            Pattern::Repeat { min, max, .. } => (*min, *max),
            other => panic!("{other:?}"),
        };
        assert_eq!(repeat(&items[0]), (1, None));
        assert_eq!(repeat(&items[1]), (2, None));
        assert!(matches!(&items[1], Pattern::Repeat { inner, .. }
            if matches!(&**inner, Pattern::Var(v) if v.value == "Warning")));
        assert_eq!(repeat(&items[2]), (0, Some(1)));
        assert!(matches!(&items[2], Pattern::Repeat { inner, .. }
            if matches!(&**inner, Pattern::Alt(b) if b.len() == 2)));
        assert!(matches!(&items[3], Pattern::Repeat { inner, .. }
            if matches!(&**inner, Pattern::Var(v) if v.value == ".")));
        assert_eq!(repeat(&items[4]), (1, Some(3)));
        assert_eq!(repeat(&items[5]), (2, Some(2)));
        // PARTITION BY before LIMIT DURATION is tolerated.
        parse_ok(
            "SELECT * FROM i MATCH_RECOGNIZE (PARTITION BY k LIMIT DURATION(second, 5) \
             MEASURES Last(A.v) AS v PATTERN (A) DEFINE A AS A.v > 1) m",
        );
    }

    #[test]
    fn create_table() {
        let script = parse_ok(
            "CREATE TABLE input (id bigint, v FLOAT, s nvarchar(MAX), t datetime, b bit, \
             r record, a array);\nSELECT * FROM input",
        );
        assert_eq!(script.statements.len(), 2);
        let Statement::CreateTable(t) = &script.statements[0] else {
            panic!()
        };
        assert_eq!(t.name.value, "input");
        let types: Vec<DataType> = t.columns.iter().map(|c| c.ty.ty).collect();
        assert_eq!(
            types,
            vec![
                DataType::Bigint,
                DataType::Float,
                DataType::NVarchar,
                DataType::DateTime,
                DataType::Bit,
                DataType::Record,
                DataType::Array
            ]
        );
        assert_eq!(t.columns[2].name.value, "s");
    }

    #[test]
    fn quoted_identifiers_and_paths() {
        let e = expr("[my field]]x]");
        let ExprKind::Column(path) = &e.kind else {
            panic!()
        };
        assert_eq!(path[0].value, "my field]x");
        assert_eq!(path[0].quote, Quote::Bracket);
        let e = expr("\"Alert : \"\"x\"\"\"");
        let ExprKind::Column(path) = &e.kind else {
            panic!()
        };
        assert_eq!(path[0].value, "Alert : \"x\"");
        assert_eq!(path[0].quote, Quote::Double);
        let e = expr("metrics.custom.dimensions.[0].value");
        let ExprKind::Column(path) = &e.kind else {
            panic!()
        };
        assert_eq!(
            col(&e),
            vec!["metrics", "custom", "dimensions", "0", "value"]
        );
        assert_eq!(path[3].quote, Quote::Bracket);
        assert_eq!(e.span, Span::new(7, 42));
    }

    #[test]
    fn select_item_forms() {
        let script = parse_ok(
            "SELECT *, i.*, rec.a.*, dim0 = CASE r.[0] WHEN 'TRUE' THEN 1 ELSE NULL END, \
             b AS c, d e, f [g], h \"i\" FROM x i",
        );
        let p = &select(&script).projection;
        assert!(matches!(p[0], SelectItem::Wildcard(_)));
        assert!(matches!(&p[1], SelectItem::QualifiedWildcard(path, _) if path.len() == 1));
        assert!(matches!(&p[2], SelectItem::QualifiedWildcard(path, _)
            if path.iter().map(|i| i.value.as_str()).collect::<Vec<_>>() == ["rec", "a"]));
        match &p[3] {
            SelectItem::Expr {
                expr,
                alias: Some(alias),
            } => {
                assert_eq!(alias.value, "dim0");
                let ExprKind::Case {
                    operand: Some(operand),
                    whens,
                    else_result: Some(else_result),
                } = &expr.kind
                else {
                    panic!("{expr:?}")
                };
                assert_eq!(col(operand), vec!["r", "0"]);
                assert_eq!(whens.len(), 1);
                assert_eq!(else_result.kind, ExprKind::Literal(Literal::Null));
            }
            other => panic!("{other:?}"),
        }
        let aliases: Vec<(String, Quote)> = p[4..]
            .iter()
            .map(|item| match item {
                SelectItem::Expr { alias: Some(a), .. } => (a.value.clone(), a.quote),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            aliases,
            vec![
                ("c".to_string(), Quote::None),
                ("e".to_string(), Quote::None),
                ("g".to_string(), Quote::Bracket),
                ("i".to_string(), Quote::Double)
            ]
        );
        // A CASE without ELSE.
        assert!(matches!(
            expr("CASE WHEN a THEN 1 END").kind,
            ExprKind::Case {
                operand: None,
                else_result: None,
                ..
            }
        ));
    }

    #[test]
    fn system_timestamp_and_window_id() {
        for text in [
            "System.Timestamp()",
            "System.TimeStamp",
            "SYSTEM.TIMESTAMP()",
            "system.timestamp",
        ] {
            assert_eq!(expr(text).kind, ExprKind::SystemTimestamp, "{text}");
        }
        let e = expr("System.TimeStamp AS Time");
        assert_eq!(e.span, Span::new(7, 23));
        assert_eq!(expr("System.Window().Id").kind, ExprKind::SystemWindowId);
    }

    #[test]
    fn casts() {
        match expr("CAST(Weight AS BIGINT)").kind {
            ExprKind::Cast {
                ty,
                try_cast: false,
                ..
            } => assert_eq!(ty.ty, DataType::Bigint),
            other => panic!("{other:?}"),
        }
        match expr("TRY_CAST(s AS nvarchar(max))").kind {
            ExprKind::Cast {
                ty, try_cast: true, ..
            } => {
                assert_eq!(ty.ty, DataType::NVarchar);
                assert_eq!(ty.span, Span::new(21, 34));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn predicates() {
        match expr("a IN (1, 2, 'x')").kind {
            ExprKind::InList {
                list,
                negated: false,
                ..
            } => assert_eq!(list.len(), 3),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            expr("a NOT IN (1)").kind,
            ExprKind::InList { negated: true, .. }
        ));
        match expr("a BETWEEN 1 + 1 AND 5 AND b").kind {
            ExprKind::Binary {
                op: BinaryOp::And,
                left,
                ..
            } => assert!(matches!(
                left.kind,
                ExprKind::Between { negated: false, .. }
            )),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            expr("a NOT BETWEEN 1 AND 2").kind,
            ExprKind::Between { negated: true, .. }
        ));
        assert!(matches!(
            expr("a IS NOT NULL").kind,
            ExprKind::IsNull { negated: true, .. }
        ));
        assert!(matches!(
            expr("a IS NULL").kind,
            ExprKind::IsNull { negated: false, .. }
        ));
        assert!(matches!(
            expr("a NOT LIKE 'x%'").kind,
            ExprKind::Like { negated: true, .. }
        ));
        assert!(matches!(
            expr("a LIKE 'x%'").kind,
            ExprKind::Like { negated: false, .. }
        ));
        let op = |text: &str| match expr(text).kind {
            ExprKind::Binary { op, .. } => op,
            other => panic!("{other:?}"),
        };
        assert_eq!(op("a !< b"), BinaryOp::GtEq);
        assert_eq!(op("a !> b"), BinaryOp::LtEq);
        assert_eq!(op("a != b"), BinaryOp::NotEq);
        assert_eq!(op("a <> b"), BinaryOp::NotEq);
    }

    #[test]
    fn operator_precedence() {
        assert_eq!(
            display("SELECT (a OR b AND c) FROM x"),
            "SELECT a OR b AND c\nFROM x"
        );
        let cases = [
            ("a OR b AND c", "Or(a, And(b, c))"),
            ("NOT a = b AND c", "And(Not(Eq(a, b)), c)"),
            ("1 + 2 * 3", "Add(1, Mul(2, 3))"),
            ("a | b + c", "BitOr(a, Add(b, c))"),
            ("1 = b | c", "Eq(1, BitOr(b, c))"),
            ("-a * b", "Mul(Neg(a), b)"),
            ("a - b - c", "Sub(Sub(a, b), c)"),
            ("(a - b) * c", "Mul(Sub(a, b), c)"),
            ("a & b ^ c", "BitXor(BitAnd(a, b), c)"),
            ("~a % 2", "Mod(BitNot(a), 2)"),
        ];
        fn shape(e: &Expr) -> String {
            match &e.kind {
                ExprKind::Binary { op, left, right } => {
                    format!("{op:?}({}, {})", shape(left), shape(right))
                }
                ExprKind::Unary { op, expr } => format!("{op:?}({})", shape(expr)),
                _ => e.to_string(),
            }
        }
        for (text, want) in cases {
            assert_eq!(shape(&expr(text)), want, "{text}");
        }
        assert_eq!(
            expr("-9223372036854775808").kind,
            ExprKind::Literal(Literal::Integer(i64::MIN))
        );
        assert_eq!(
            expr("2.5e3").kind,
            ExprKind::Literal(Literal::Float(2500.0))
        );
        assert_eq!(
            expr("'it''s'").kind,
            ExprKind::Literal(Literal::String("it's".into()))
        );
    }

    #[test]
    fn calls_and_namespaces() {
        let c = call(&expr("COUNT(DISTINCT Make)")).clone();
        assert!(c.distinct);
        assert!(matches!(
            call(&expr("COUNT(*)")).args[0],
            FunctionArg::Star(_)
        ));
        let c = call(&expr("udf.Hex2Int(HexValue)")).clone();
        assert_eq!(c.namespace.map(|n| n.value), Some("udf".to_string()));
        assert_eq!(c.name.value, "Hex2Int");
        let c = call(&expr("UDA.agg(x, 1)")).clone();
        assert_eq!(c.namespace.map(|n| n.value), Some("UDA".to_string()));
        assert_eq!(c.args.len(), 2);
        assert_eq!(call(&expr("LEFT('abc', 2)")).name.value, "LEFT");
        assert_eq!(call(&expr("ROUND (a, b)")).args.len(), 2);
        assert!(call(&expr("f()")).args.is_empty());
        assert!(!call(&expr("COUNT(ALL x)")).distinct);
    }

    #[test]
    fn soft_keywords_work_as_names() {
        let script = parse_ok(
            "SELECT Time, Value, Count, Timestamp, Partition, Window, Limit, Duration, Date, \
             Over, Order, Session, Tumbling, Hop, System FROM Timestamp TIMESTAMP BY Time \
             WHERE Partition = 1",
        );
        let s = select(&script);
        assert_eq!(s.projection.len(), 15);
        assert_eq!(s.from.source.name.value, "Timestamp");
        assert!(s.from.source.alias.is_none());
        assert!(s.from.source.timestamp_by.is_some());
        // PARTITION BY and TIMESTAMP BY in either order, with INTO shards.
        let script = parse_ok(
            "SELECT * INTO 4 FROM i TIMESTAMP BY t OVER p PARTITION BY PartitionId INTO 3",
        );
        let s = select(&script);
        assert!(matches!(s.into, Some(ast::Into::Shards(4, _))));
        let pb = s.from.source.partition_by.as_ref().expect("partition by");
        assert_eq!(pb.into, Some(3));
        assert!(s.from.source.timestamp_by.is_some());
        // Units are case-insensitive; the plural `hours` of one doc example works.
        assert!(matches!(window("SlidingWindow(HOURS, 1)"),
            WindowKind::Sliding { size } if size.unit == TimeUnit::Hour));
    }

    #[test]
    fn union_and_semicolons() {
        let script = parse_ok("SELECT a FROM x UNION SELECT a FROM y;; SELECT 1 AS one FROM z;");
        assert_eq!(script.statements.len(), 2);
        let body = &query(&script, 0).body;
        assert_eq!(body.selects.len(), 2);
        assert_eq!(body.union_spans.len(), 1);
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(
            display(
                "select a x, \"b\" from [in] as i timestamp by t where not a > 1 and b in (1,2)"
            ),
            "SELECT a AS x, \"b\"\nFROM [in] AS i TIMESTAMP BY t\nWHERE NOT a > 1 AND b IN (1, 2)"
        );
        assert_eq!(
            display("SELECT (a = b) AS c, (a = b), - -1, -(-x), a - -b FROM x"),
            "SELECT (a = b) AS c, (a = b), -(-1), -(-x), a - -b\nFROM x"
        );
        assert_eq!(
            display(
                "SELECT COUNT(*) FROM x GROUP BY TumblingWindow(Duration(hh, 1), Offset(ms, -1)), \
                 Hopping(s, 10, 5), SessionWindow(Timeout(n, 1), MaxDuration(n, 5)) OVER (PARTITION BY k)"
            ),
            "SELECT COUNT(*)\nFROM x\nGROUP BY TumblingWindow(Duration(hour, 1), Offset(millisecond, -1)), \
             HoppingWindow(second, 10, 5), SessionWindow(minute, 1, 5) OVER (PARTITION BY k)"
        );
        assert_eq!(
            display("SELECT CAST(a AS nvarchar(max)) FROM x"),
            "SELECT CAST(a AS NVARCHAR(MAX))\nFROM x"
        );
    }

    // ----- errors -----------------------------------------------------------

    #[test]
    fn error_misspelled_select() {
        assert_eq!(
            parse_err("SELEC * FROM input"),
            (
                "expected SELECT, WITH or CREATE TABLE, found 'SELEC'".to_string(),
                (1, 1)
            )
        );
    }

    #[test]
    fn error_misspelled_from() {
        assert_eq!(
            parse_err("SELECT *\nFORM input"),
            (
                "expected FROM after the SELECT list, found 'FORM'".to_string(),
                (2, 1)
            )
        );
    }

    #[test]
    fn error_after_a_bare_alias_mentions_it() {
        let src = "SELECT a FORM x";
        let diags = parse_script(src).expect_err("error");
        let d = &diags.0[0];
        assert_eq!(d.message, "expected FROM after the SELECT list, found 'x'");
        assert_eq!(d.labels[1].span, Span::new(9, 13));
        assert!(d
            .help
            .as_deref()
            .unwrap_or("")
            .contains("'FORM' was read as an alias"));
        let diags = parse_script("SELECT a FROM x WHER a = 1").expect_err("error");
        let d = &diags.0[0];
        assert_eq!(d.message, "expected end of statement, found 'a'");
        assert!(d
            .help
            .as_deref()
            .unwrap_or("")
            .contains("'WHER' was read as an alias"));
    }

    #[test]
    fn error_missing_paren_in_window() {
        let src = "SELECT COUNT(*) FROM x GROUP BY TumblingWindow(second, 10";
        let (message, at) = parse_err(src);
        assert_eq!(
            message,
            "expected ')' after window size, found end of input"
        );
        assert_eq!(at, (1, src.len() + 1));
        let diags = parse_script(src).expect_err("error");
        assert_eq!(diags.0[0].span(), Some(Span::new(src.len(), src.len())));
        assert_eq!(
            parse_err("SELECT 1 FROM x GROUP BY HoppingWindow(second, 10, 5 HAVING").0,
            "expected ')' after window hop, found HAVING"
        );
    }

    #[test]
    fn error_missing_paren_in_call() {
        assert_eq!(
            parse_err("SELECT LEFT('abc', 2\nFROM x"),
            (
                "expected ',' or ')' after function argument, found FROM".to_string(),
                (2, 1)
            )
        );
    }

    #[test]
    fn error_unterminated_string() {
        assert_eq!(
            parse_err("SELECT a\nFROM x WHERE b = 'abc"),
            ("unterminated string literal".to_string(), (2, 18))
        );
        // An earlier parse error wins over a later lexer error.
        assert_eq!(
            parse_err("SELECT a FROM x WHERE ) 'abc").0,
            "expected an expression after WHERE, found ')'"
        );
    }

    #[test]
    fn error_unknown_time_unit() {
        let src = "SELECT a FROM x GROUP BY TumblingWindow(secs, 10)";
        assert_eq!(
            parse_err(src),
            ("unknown time unit 'secs'".to_string(), (1, 41))
        );
        let diags = parse_script(src).expect_err("error");
        let help = diags.0[0].help.clone().unwrap_or_default();
        assert!(help.contains("millisecond (ms)"), "{help}");
    }

    #[test]
    fn error_nvarchar_without_max() {
        assert_eq!(
            parse_err("SELECT CAST(a AS nvarchar) FROM x"),
            (
                "expected '(max)' after NVARCHAR, found ')'".to_string(),
                (1, 26)
            )
        );
        assert_eq!(
            parse_err("SELECT CAST(a AS int) FROM x").0,
            "expected a type name (bigint, float, nvarchar(max), datetime, bit, record or array), found 'int'"
        );
    }

    #[test]
    fn error_trailing_garbage() {
        assert_eq!(
            parse_err("SELECT * FROM input )"),
            ("expected end of statement, found ')'".to_string(), (1, 21))
        );
    }

    #[test]
    fn error_empty_group_by() {
        assert_eq!(
            parse_err("SELECT a FROM x GROUP BY"),
            (
                "expected a grouping key or window after GROUP BY, found end of input".to_string(),
                (1, 25)
            )
        );
    }

    #[test]
    fn error_integer_overflow() {
        assert_eq!(
            parse_err("SELECT 9223372036854775808 FROM x"),
            (
                "integer literal '9223372036854775808' is out of range".to_string(),
                (1, 8)
            )
        );
        assert_eq!(
            parse_err("SELECT a FROM x GROUP BY TumblingWindow(second, 99999999999999999999)").0,
            "integer literal '99999999999999999999' is out of range"
        );
        assert_eq!(
            parse_err("SELECT 1e999 FROM x").0,
            "float literal '1e999' is out of range"
        );
    }

    #[test]
    fn error_missing_as_in_with() {
        assert_eq!(
            parse_err("WITH Temp (SELECT * FROM x)\nSELECT * FROM Temp"),
            (
                "expected AS after step name 'Temp', found '('".to_string(),
                (1, 11)
            )
        );
    }

    #[test]
    fn error_join_without_on() {
        assert_eq!(
            parse_err("SELECT *\nFROM a\nJOIN b\nWHERE a.x = b.x"),
            (
                "expected ON after the joined source, found WHERE".to_string(),
                (4, 1)
            )
        );
    }

    #[test]
    fn error_missing_expression() {
        assert_eq!(
            parse_err("SELECT a,\n  FROM x"),
            (
                "expected an expression after ',', found FROM".to_string(),
                (2, 3)
            )
        );
        assert_eq!(
            parse_err("SELECT a FROM x WHERE a =").0,
            "expected an expression after '=', found end of input"
        );
    }

    #[test]
    fn error_other_messages() {
        let cases = [
            (
                "",
                "expected SELECT, WITH or CREATE TABLE, found end of input",
            ),
            (
                "SELECT a FROM",
                "expected an input or step name after FROM, found end of input",
            ),
            (
                "SELECT a FROM x CROSS APPLY y AS e",
                "expected a function call such as GetArrayElements(...) after APPLY, found 'y'",
            ),
            (
                "SELECT a FROM x CROSS APPLY f(y)",
                "expected an alias after the APPLY function, found end of input",
            ),
            (
                "SELECT CASE a END FROM x",
                "expected WHEN after 'a', found END",
            ),
            (
                "SELECT a FROM x GROUP BY Windows(Windows(TumblingWindow(s, 1)))",
                "nested Windows(...) is not allowed",
            ),
            (
                "SELECT a FROM x GROUP BY HoppingWindow(second, 10)",
                "expected ',' and the hop size after window size, found ')'",
            ),
            (
                "SELECT LAG(a) OVER (LIMIT 5) FROM x",
                "expected DURATION after LIMIT, found '5'",
            ),
            (
                "SELECT * FROM x MATCH_RECOGNIZE (MEASURES a AS b) AS m",
                "expected LIMIT DURATION(unit, n) in MATCH_RECOGNIZE, found 'MEASURES'",
            ),
            ("SELECT a # b FROM x", "unexpected character '#'"),
            ("SELECT a FROM x /* open", "unterminated block comment"),
            (
                "WITH a AS (SELECT * FROM x) b AS (SELECT * FROM a) SELECT * FROM b",
                "expected ',' or SELECT after the WITH steps, found 'b'",
            ),
            (
                "CREATE TABLE t (a bigint b float)",
                "expected ',' or ')' after the column type, found 'b'",
            ),
            (
                "SELECT a FROM x WHERE a IS 1",
                "expected NULL after IS, found '1'",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(parse_err(src).0, want, "{src}");
        }
    }
}
