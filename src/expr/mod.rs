//! Scalar evaluation: operators, casts and the built-in function library
//! over [`Value`]s. Nothing here does I/O or knows about the dataflow; a
//! failure is an [`EvalError`] value that the caller routes per the job's
//! error policy (ASA-SEMANTICS.md §9), never a panic.

pub mod aggregate;
pub mod cast;
pub mod dates;
pub mod eval;
pub mod functions;
pub mod geo;
pub mod javascript;
pub mod ops;
pub mod pattern;
pub mod row_pattern;

use std::fmt;

/// Why evaluating an expression failed for one event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvalError {
    /// The ASA error class, e.g. `TypeConversionError`.
    pub kind: EvalErrorKind,
    /// A lowercase sentence naming the function or operator and the value.
    pub message: String,
}

/// Classes of evaluation failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EvalErrorKind {
    /// A CAST or an implicit conversion failed.
    TypeConversion,
    /// A function got an argument it rejects (e.g. negative SUBSTRING length).
    InvalidArgument,
    /// Integer overflow or division by zero.
    Arithmetic,
    /// A JavaScript UDF or UDA threw, ran past its time limit, or could
    /// not be loaded.
    JavaScript,
}

impl EvalError {
    /// A conversion failure.
    pub fn conversion(message: impl Into<String>) -> Self {
        EvalError {
            kind: EvalErrorKind::TypeConversion,
            message: message.into(),
        }
    }

    /// A rejected argument.
    pub fn argument(message: impl Into<String>) -> Self {
        EvalError {
            kind: EvalErrorKind::InvalidArgument,
            message: message.into(),
        }
    }

    /// An arithmetic failure.
    pub fn arithmetic(message: impl Into<String>) -> Self {
        EvalError {
            kind: EvalErrorKind::Arithmetic,
            message: message.into(),
        }
    }

    /// A JavaScript function's failure.
    pub fn javascript(message: impl Into<String>) -> Self {
        EvalError {
            kind: EvalErrorKind::JavaScript,
            message: message.into(),
        }
    }

    /// The ASA-style reason code, e.g. `TypeConversionError`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            EvalErrorKind::TypeConversion => "TypeConversionError",
            EvalErrorKind::InvalidArgument => "InvalidArgument",
            EvalErrorKind::Arithmetic => "ArithmeticError",
            EvalErrorKind::JavaScript => "JavaScriptError",
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for EvalError {}
