//! Operators. (Placeholder until the function library lands.)
use crate::expr::EvalError;
use crate::syntax::ast::{BinaryOp, UnaryOp};
use crate::types::Value;
/// Binary.
pub fn binary(_op: BinaryOp, _l: &Value, _r: &Value) -> Result<Value, EvalError> { Ok(Value::Null) }
/// Unary.
pub fn unary(_op: UnaryOp, _v: &Value) -> Result<Value, EvalError> { Ok(Value::Null) }
/// Like.
pub fn like(_v: &Value, _p: &Value) -> Result<Value, EvalError> { Ok(Value::Null) }
/// Truth.
pub fn is_true(v: &Value) -> bool { matches!(v, Value::Bit(true)) }
