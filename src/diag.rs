//! Diagnostics: what went wrong in a query or job file, and where.
//!
//! A [`Diagnostic`] carries a stable code, a one-line message, labelled
//! source spans and an optional help sentence. Every stage that reads user
//! text (the parser, the binder, the job-file loader) reports problems as
//! diagnostics; the command line renders them with the source line and a
//! caret (see `cli::report`). This module only describes problems; it does
//! not render text.

use std::fmt;

/// A half-open byte range `[start, end)` into one source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// 1-based line and column of the span's start in `source`.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        let upto = &source[..self.start.min(source.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The query or job cannot run.
    Error,
    /// The query runs, but probably not as intended.
    Warning,
}

/// A span with a short note shown under the caret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
}

/// One problem found in user text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable identifier, e.g. `E0001` for a syntax error.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Lowercase one-line summary, e.g. `expected ')' after window size`.
    pub message: String,
    /// The primary label comes first.
    pub labels: Vec<Label>,
    /// A full sentence suggesting a fix.
    pub help: Option<String>,
}

/// Stable diagnostic codes.
pub mod codes {
    /// The text does not follow the ASA grammar.
    pub const SYNTAX: &str = "E0001";
    /// A name (input, step, output, column, function) does not resolve.
    pub const UNKNOWN_NAME: &str = "E0002";
    /// A construct is valid ASA but not supported by Eddy yet.
    pub const UNSUPPORTED: &str = "E0003";
    /// A construct breaks an ASA rule (e.g. two windows in one GROUP BY).
    pub const INVALID: &str = "E0004";
    /// Wrong argument count or type for a function.
    pub const FUNCTION: &str = "E0005";
    /// A problem in the job file.
    pub const JOB: &str = "E0006";
}

impl Diagnostic {
    /// An error at `span` with `message` as both summary and label.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label {
                span,
                message: String::new(),
            }],
            help: None,
        }
    }

    /// A "not supported yet" error for a construct that parses.
    pub fn unsupported(span: Span, feature: &str) -> Self {
        Diagnostic::error(
            codes::UNSUPPORTED,
            span,
            format!("{feature} is not supported yet"),
        )
        .with_help("Eddy parses this construct but cannot run it yet; see docs/semantics.md for what runs.")
    }

    /// Attach a note to the primary label.
    pub fn with_label(mut self, message: impl Into<String>) -> Self {
        if let Some(first) = self.labels.first_mut() {
            first.message = message.into();
        }
        self
    }

    /// Attach a secondary label.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Attach a help sentence.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The primary span, if any.
    pub fn span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Several diagnostics from one stage; the binder reports all it finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "SELECT a\nFROM  b";
        assert_eq!(Span::new(0, 1).line_col(src), (1, 1));
        assert_eq!(Span::new(15, 16).line_col(src), (2, 7));
    }
}
