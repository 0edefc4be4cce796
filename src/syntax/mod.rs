//! Query text to AST: the lexer turns text into tokens with spans, the
//! parser turns tokens into an [`ast::Script`]. Neither sees the catalog or
//! types; errors are [`Diagnostic`]s that say what was expected.

pub mod ast;
pub mod display;
pub mod lexer;
pub mod parser;

use crate::diag::Diagnostics;

/// Parses a whole ASA script.
pub fn parse(source: &str) -> Result<ast::Script, Diagnostics> {
    parser::parse_script(source)
}
