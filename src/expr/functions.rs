//! Built-in functions. (Placeholder until the function library lands.)
use crate::expr::EvalError;
use crate::types::Value;
/// A built-in scalar function.
#[derive(Debug)]
pub struct Builtin { /// name
pub name: &'static str, /// min
pub min_args: usize, /// max
pub max_args: Option<usize>, /// datepart
pub datepart_first: bool, /// eval
pub eval: fn(&[Value]) -> Result<Value, EvalError> }
/// Lookup.
pub fn lookup(_name: &str) -> Option<&'static Builtin> { None }
/// Aggregates.
pub fn is_aggregate(_name: &str) -> bool { false }
/// Analytic.
pub fn is_analytic(_name: &str) -> bool { false }
