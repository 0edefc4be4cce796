//! The built-in scalar functions (ASA-SEMANTICS.md §6): string, math,
//! date/time, conversion (`GetType`), record and array functions, and
//! `COALESCE`/`NULLIF`; the geospatial functions, written in
//! [`super::geo`], are registered here too. Aggregates, analytic functions
//! and metadata functions are not here; [`is_aggregate`] and
//! [`is_analytic`] let the binder route the former two.
//!
//! Common rules:
//! - A NULL argument gives NULL, except where the reference says otherwise
//!   (`CONCAT`, `CONCAT_WS`, `COALESCE`, `NULLIF`, `GetType`,
//!   `JSON_PARSE`).
//! - Arguments are converted implicitly as [`super::cast`] converts: string
//!   functions accept numbers, bits and datetimes as their text; math
//!   functions convert strings to float (`ROUND('1.5', 0)`); date
//!   functions accept ISO 8601 strings. A value that cannot be converted is
//!   a conversion error naming the function, e.g.
//!   `ROUND: cannot convert nvarchar(max) 'abc' to float`.
//! - String positions and lengths count Unicode characters (not bytes, not
//!   UTF-16 units); searches are ordinal (case-sensitive), except
//!   `REGEXMATCH`, which the reference defines as case-insensitive.
//! - String results are capped at [`MAX_STRING_BYTES`]; `REPLICATE` or
//!   `SPACE` beyond it is an argument error rather than an allocation
//!   failure.
//!
//! # Contract
//! `eval` never panics, whatever the arguments, including a wrong number
//! of them (an argument error). The caller checks arity against
//! `min_args`/`max_args` at bind time and passes a date part written as a
//! bare word as `Value::String` when `datepart_first` is set.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

use super::cast::{conversion_error, decimal_digits, to_datetime, to_f64, to_i64, to_string_value};
use super::dates::{self, DatePart};
use super::geo;
use super::ops::compare;
use super::pattern::LikePattern;
use super::EvalError;
use crate::types::{DataType, DateTime, Value};

/// The largest string a function builds (16 MiB of UTF-8).
pub const MAX_STRING_BYTES: usize = 16 * 1024 * 1024;

/// A built-in scalar function.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// Canonical name, as the reference spells it.
    pub name: &'static str,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments; `None` for variadic functions.
    pub max_args: Option<usize>,
    /// The first argument is a date part written as a bare word
    /// (`DATEADD(minute, 1, t)`), passed as `Value::String`.
    pub datepart_first: bool,
    /// Evaluates the function over already evaluated arguments.
    pub eval: fn(&[Value]) -> Result<Value, EvalError>,
}

const fn f(
    name: &'static str,
    min_args: usize,
    max_args: Option<usize>,
    eval: fn(&[Value]) -> Result<Value, EvalError>,
) -> Builtin {
    Builtin {
        name,
        min_args,
        max_args,
        datepart_first: false,
        eval,
    }
}

const fn date_fn(
    name: &'static str,
    args: usize,
    eval: fn(&[Value]) -> Result<Value, EvalError>,
) -> Builtin {
    Builtin {
        name,
        min_args: args,
        max_args: Some(args),
        datepart_first: true,
        eval,
    }
}

static BUILTINS: &[Builtin] = &[
    // String functions.
    f("CHARINDEX", 2, Some(3), charindex),
    f("CONCAT", 2, None, concat),
    f("CONCAT_WS", 3, None, concat_ws),
    f("JSON_PARSE", 1, Some(1), json_parse),
    f("LEFT", 2, Some(2), left),
    f("LEN", 1, Some(1), len),
    f("LOWER", 1, Some(1), lower),
    f("LTRIM", 1, Some(1), ltrim),
    f("NCHAR", 1, Some(1), nchar),
    f("PATINDEX", 2, Some(2), patindex),
    f("REGEXMATCH", 2, Some(2), regexmatch),
    f("REPLACE", 3, Some(3), replace),
    f("REPLICATE", 2, Some(2), replicate),
    f("REVERSE", 1, Some(1), reverse),
    f("RIGHT", 2, Some(2), right),
    f("RTRIM", 1, Some(1), rtrim),
    f("SPACE", 1, Some(1), space),
    f("STUFF", 4, Some(4), stuff),
    f("SUBSTRING", 3, Some(3), substring),
    f("TRANSLATE", 3, Some(3), translate),
    f("TRIM", 1, Some(1), trim),
    f("UNICODE", 1, Some(1), unicode),
    f("UPPER", 1, Some(1), upper),
    // Mathematical functions.
    f("ABS", 1, Some(1), abs),
    f("CEILING", 1, Some(1), ceiling),
    f("EXP", 1, Some(1), exp),
    f("FLOOR", 1, Some(1), floor),
    f("POWER", 2, Some(2), power),
    f("ROUND", 2, Some(2), round),
    f("SIGN", 1, Some(1), sign),
    f("SQRT", 1, Some(1), sqrt),
    f("SQUARE", 1, Some(1), square),
    // Date and time functions.
    date_fn("DATEADD", 3, dateadd),
    date_fn("DATEDIFF", 3, datediff),
    date_fn("DATENAME", 2, datename),
    date_fn("DATEPART", 2, datepart),
    f("DATETIMEFROMPARTS", 7, Some(7), datetimefromparts),
    f("DAY", 1, Some(1), day),
    f("MONTH", 1, Some(1), month),
    f("YEAR", 1, Some(1), year),
    // Conversion, record and array functions.
    f("GetType", 1, Some(1), get_type),
    f(
        "GetRecordPropertyValue",
        2,
        Some(2),
        get_record_property_value,
    ),
    f("GetArrayElement", 2, Some(2), get_array_element),
    f("GetArrayLength", 1, Some(1), get_array_length),
    f("COALESCE", 1, None, coalesce),
    f("NULLIF", 2, Some(2), nullif),
    // Geospatial functions, in super::geo.
    f("CreatePoint", 2, Some(2), geo::create_point),
    f("CreateLineString", 2, None, geo::create_line_string),
    f("CreatePolygon", 4, None, geo::create_polygon),
    f("ST_DISTANCE", 2, Some(2), geo::st_distance),
    f("ST_WITHIN", 2, Some(2), geo::st_within),
    f("ST_INTERSECTS", 2, Some(2), geo::st_intersects),
    f("ST_OVERLAPS", 2, Some(2), geo::st_overlaps),
];

/// The built-in scalar function called `name` (any case).
pub fn lookup(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name.eq_ignore_ascii_case(name))
}

/// Every built-in scalar function, in the reference's grouping.
pub fn all() -> &'static [Builtin] {
    BUILTINS
}

/// True for the aggregate functions (§4), which are not scalar.
pub fn is_aggregate(name: &str) -> bool {
    const AGGREGATES: [&str; 14] = [
        "COUNT",
        "SUM",
        "AVG",
        "MIN",
        "MAX",
        "STDEV",
        "STDEVP",
        "VAR",
        "VARP",
        "TOPONE",
        "COLLECTTOP",
        "COLLECT",
        "PERCENTILE_CONT",
        "PERCENTILE_DISC",
    ];
    AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// True for the analytic functions (§5) `LAG`, `LAST` and `ISFIRST`.
pub fn is_analytic(name: &str) -> bool {
    ["LAG", "LAST", "ISFIRST"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------
// Argument helpers.

/// Exactly `N` arguments, or an argument error.
fn fixed<'a, const N: usize>(name: &str, args: &'a [Value]) -> Result<&'a [Value; N], EvalError> {
    args.try_into().map_err(|_| {
        EvalError::argument(format!(
            "{name}: expected {N} arguments, got {}",
            args.len()
        ))
    })
}

fn arity_error(name: &str, expected: &str, got: usize) -> EvalError {
    EvalError::argument(format!("{name}: expected {expected} arguments, got {got}"))
}

fn text(name: &str, v: &Value) -> Result<Option<String>, EvalError> {
    to_string_value(v, name)
}

fn int(name: &str, v: &Value) -> Result<Option<i64>, EvalError> {
    to_i64(v, name)
}

fn string(s: String) -> Result<Value, EvalError> {
    Ok(Value::String(s))
}

fn bigint_of_usize(n: usize) -> Value {
    Value::Bigint(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Characters of `s` from 0-based character index `start`, at most `count`.
fn char_slice(s: &str, start: usize, count: usize) -> String {
    s.chars().skip(start).take(count).collect()
}

fn negative_length(name: &str, n: i64) -> EvalError {
    EvalError::argument(format!("{name}: length must not be negative, got {n}"))
}

/// Checks that repeating `unit_bytes` bytes `n` times stays under the cap.
fn check_repeat(name: &str, unit_bytes: usize, n: usize) -> Result<(), EvalError> {
    match unit_bytes.checked_mul(n) {
        Some(total) if total <= MAX_STRING_BYTES => Ok(()),
        _ => Err(EvalError::argument(format!(
            "{name}: result would exceed {MAX_STRING_BYTES} bytes"
        ))),
    }
}

// ---------------------------------------------------------------------------
// String functions.

/// `CHARINDEX(find, search[, start])`: 1-based position of `find` in
/// `search` at or after `start` (start ≤ 0 or absent: from the beginning),
/// 0 if absent. An empty `find` gives 0, as in T-SQL.
fn charindex(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "CHARINDEX";
    let (find, search, start) = match args {
        [a, b] => (a, b, None),
        [a, b, c] => (a, b, Some(c)),
        _ => return Err(arity_error(NAME, "2 or 3", args.len())),
    };
    let find = text(NAME, find)?;
    let search = text(NAME, search)?;
    let start = match start {
        Some(v) => match int(NAME, v)? {
            Some(n) => Some(n),
            None => return Ok(Value::Null),
        },
        None => None,
    };
    let (Some(find), Some(search)) = (find, search) else {
        return Ok(Value::Null);
    };
    if find.is_empty() {
        return Ok(Value::Bigint(0));
    }
    let skip = start.map_or(0, |n| usize::try_from(n.saturating_sub(1)).unwrap_or(0));
    let Some(offset) = search.char_indices().nth(skip).map(|(i, _)| i) else {
        return Ok(Value::Bigint(0));
    };
    let found = search
        .get(offset..)
        .and_then(|tail| tail.find(&find))
        .and_then(|pos| search.get(..offset + pos))
        .map_or(0, |before| before.chars().count() + 1);
    Ok(bigint_of_usize(found))
}

/// `CONCAT(v1, v2, …)`: NULL counts as '' (all NULL gives '').
fn concat(args: &[Value]) -> Result<Value, EvalError> {
    let mut out = String::new();
    for v in args {
        if let Some(s) = text("CONCAT", v)? {
            out.push_str(&s);
        }
    }
    string(out)
}

/// `CONCAT_WS(sep, v1, v2, …)`: NULL values are skipped along with their
/// separator; a NULL separator counts as ''.
fn concat_ws(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "CONCAT_WS";
    let Some((sep, values)) = args.split_first() else {
        return Err(arity_error(NAME, "at least 3", 0));
    };
    let sep = text(NAME, sep)?.unwrap_or_default();
    let mut parts = Vec::with_capacity(values.len());
    for v in values {
        if let Some(s) = text(NAME, v)? {
            parts.push(s);
        }
    }
    string(parts.join(&sep))
}

/// `JSON_PARSE(s)`: a JSON object as a record (or an array as an array);
/// NULL for anything else, including invalid JSON, JSON scalars and
/// non-string arguments. JSON booleans become bits.
fn json_parse(args: &[Value]) -> Result<Value, EvalError> {
    let [v] = fixed::<1>("JSON_PARSE", args)?;
    let Value::String(s) = v else {
        return Ok(Value::Null);
    };
    Ok(match serde_json::from_str::<serde_json::Value>(s) {
        Ok(json @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            Value::from_json(json, true)
        }
        _ => Value::Null,
    })
}

/// `LEFT(s, n)`: the first `n` characters; negative `n` is an error.
fn left(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "LEFT";
    let [s, n] = fixed::<2>(NAME, args)?;
    let (Some(s), Some(n)) = (text(NAME, s)?, int(NAME, n)?) else {
        return Ok(Value::Null);
    };
    let count = usize::try_from(n).map_err(|_| negative_length(NAME, n))?;
    string(char_slice(&s, 0, count))
}

/// `RIGHT(s, n)`: the last `n` characters; negative `n` is an error.
fn right(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "RIGHT";
    let [s, n] = fixed::<2>(NAME, args)?;
    let (Some(s), Some(n)) = (text(NAME, s)?, int(NAME, n)?) else {
        return Ok(Value::Null);
    };
    let count = usize::try_from(n).map_err(|_| negative_length(NAME, n))?;
    let total = s.chars().count();
    string(char_slice(&s, total.saturating_sub(count), count))
}

/// `SUBSTRING(s, start, length)`, T-SQL style: characters at 1-based
/// positions `start ..= start + length - 1` that exist. A start below 1
/// shortens the result accordingly; a negative length is an error.
fn substring(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "SUBSTRING";
    let [s, start, length] = fixed::<3>(NAME, args)?;
    let (Some(s), Some(start), Some(length)) =
        (text(NAME, s)?, int(NAME, start)?, int(NAME, length)?)
    else {
        return Ok(Value::Null);
    };
    if length < 0 {
        return Err(negative_length(NAME, length));
    }
    let end = start.saturating_add(length); // exclusive, 1-based
    let first = start.max(1);
    let count = usize::try_from(end.saturating_sub(first)).unwrap_or(0);
    let skip = usize::try_from(first - 1).unwrap_or(usize::MAX);
    string(char_slice(&s, skip, count))
}

/// `LEN(s)`: characters, not counting trailing spaces (U+0020).
fn len(args: &[Value]) -> Result<Value, EvalError> {
    let [s] = fixed::<1>("LEN", args)?;
    Ok(match text("LEN", s)? {
        Some(s) => bigint_of_usize(s.trim_end_matches(' ').chars().count()),
        None => Value::Null,
    })
}

fn map_text(name: &str, args: &[Value], op: fn(&str) -> String) -> Result<Value, EvalError> {
    let [s] = fixed::<1>(name, args)?;
    Ok(match text(name, s)? {
        Some(s) => Value::String(op(&s)),
        None => Value::Null,
    })
}

/// `LOWER(s)` (Unicode lowercase mapping).
fn lower(args: &[Value]) -> Result<Value, EvalError> {
    map_text("LOWER", args, str::to_lowercase)
}

/// `UPPER(s)` (Unicode uppercase mapping).
fn upper(args: &[Value]) -> Result<Value, EvalError> {
    map_text("UPPER", args, str::to_uppercase)
}

/// `LTRIM(s)`: removes leading Unicode white space (the reference's list
/// is exactly Unicode's `White_Space`).
fn ltrim(args: &[Value]) -> Result<Value, EvalError> {
    map_text("LTRIM", args, |s| s.trim_start().to_string())
}

/// `RTRIM(s)`: removes trailing Unicode white space.
fn rtrim(args: &[Value]) -> Result<Value, EvalError> {
    map_text("RTRIM", args, |s| s.trim_end().to_string())
}

/// `TRIM(s)`: removes leading and trailing Unicode white space.
fn trim(args: &[Value]) -> Result<Value, EvalError> {
    map_text("TRIM", args, |s| s.trim().to_string())
}

/// `REVERSE(s)`: the characters in reverse order.
fn reverse(args: &[Value]) -> Result<Value, EvalError> {
    map_text("REVERSE", args, |s| s.chars().rev().collect())
}

/// `NCHAR(code)`: the character with that code point; NULL outside
/// 0..=0x10FFFF and for surrogate code points (not characters).
fn nchar(args: &[Value]) -> Result<Value, EvalError> {
    let [code] = fixed::<1>("NCHAR", args)?;
    Ok(int("NCHAR", code)?
        .and_then(|n| u32::try_from(n).ok())
        .and_then(char::from_u32)
        .map_or(Value::Null, |c| Value::String(c.to_string())))
}

/// `UNICODE(s)`: the code point of the first character; NULL for ''.
fn unicode(args: &[Value]) -> Result<Value, EvalError> {
    let [s] = fixed::<1>("UNICODE", args)?;
    Ok(text("UNICODE", s)?
        .and_then(|s| s.chars().next())
        .map_or(Value::Null, |c| Value::Bigint(i64::from(u32::from(c)))))
}

/// `PATINDEX(pattern, s)`: 1-based position of the first match of a
/// `LIKE` pattern, 0 if none (see [`LikePattern::position`]).
fn patindex(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "PATINDEX";
    let [pattern, s] = fixed::<2>(NAME, args)?;
    let (Some(pattern), Some(s)) = (text(NAME, pattern)?, text(NAME, s)?) else {
        return Ok(Value::Null);
    };
    Ok(bigint_of_usize(LikePattern::new(&pattern).position(&s)))
}

thread_local! {
    /// Compiled REGEXMATCH patterns (`None`: invalid), per worker thread.
    static REGEX_CACHE: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// Compiles (or reuses) a case-insensitive regex; `None` if invalid.
fn cached_regex(pattern: &str) -> Option<Regex> {
    const CACHE_ENTRIES: usize = 256;
    let compile = || {
        RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .ok()
    };
    REGEX_CACHE.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return compile();
        };
        if let Some(re) = cache.get(pattern) {
            return re.clone();
        }
        let re = compile();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
        re
    })
}

/// `REGEXMATCH(s, pattern)`: 1-based character position of the first
/// case-insensitive match, 0 if none or if the pattern is invalid.
/// Patterns use Rust `regex` syntax, which covers ECMAScript's common
/// subset; look-around and back-references are invalid (so 0), and `\d`,
/// `\w` are Unicode-aware. "Single-line" is read as ECMAScript's default:
/// `^`/`$` anchor the whole string and `.` does not match a newline.
fn regexmatch(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "REGEXMATCH";
    let [s, pattern] = fixed::<2>(NAME, args)?;
    let (Some(s), Some(pattern)) = (text(NAME, s)?, text(NAME, pattern)?) else {
        return Ok(Value::Null);
    };
    let position = cached_regex(&pattern)
        .and_then(|re| re.find(&s).map(|m| m.start()))
        .and_then(|start| s.get(..start))
        .map_or(0, |before| before.chars().count() + 1);
    Ok(bigint_of_usize(position))
}

/// `REPLACE(s, pattern, replacement)`: every occurrence, ordinal; an
/// empty pattern returns `s`; any NULL gives NULL.
fn replace(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "REPLACE";
    let [s, pattern, replacement] = fixed::<3>(NAME, args)?;
    let (Some(s), Some(pattern), Some(replacement)) = (
        text(NAME, s)?,
        text(NAME, pattern)?,
        text(NAME, replacement)?,
    ) else {
        return Ok(Value::Null);
    };
    if pattern.is_empty() {
        return string(s);
    }
    let occurrences = s.matches(pattern.as_str()).count();
    let growth = replacement.len().saturating_sub(pattern.len());
    check_repeat(NAME, growth, occurrences)?;
    string(s.replace(&pattern, &replacement))
}

/// `REPLICATE(s, n)`: `s` repeated `n` times; negative `n` gives NULL.
fn replicate(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "REPLICATE";
    let [s, n] = fixed::<2>(NAME, args)?;
    let (Some(s), Some(n)) = (text(NAME, s)?, int(NAME, n)?) else {
        return Ok(Value::Null);
    };
    let Ok(n) = usize::try_from(n) else {
        return Ok(Value::Null);
    };
    if s.is_empty() {
        return string(String::new());
    }
    check_repeat(NAME, s.len(), n)?;
    string(s.repeat(n))
}

/// `SPACE(n)`: `n` spaces; negative `n` gives NULL.
fn space(args: &[Value]) -> Result<Value, EvalError> {
    let [n] = fixed::<1>("SPACE", args)?;
    let Some(n) = int("SPACE", n)? else {
        return Ok(Value::Null);
    };
    let Ok(n) = usize::try_from(n) else {
        return Ok(Value::Null);
    };
    check_repeat("SPACE", 1, n)?;
    string(" ".repeat(n))
}

/// `STUFF(s, start, length, insert)`: deletes the characters at 1-based
/// positions `start ..= start + length - 1` (those that exist) and inserts
/// `insert` where they began. A start beyond the last character gives ''
/// (as the reference says); a start below 1 inserts at the beginning and
/// deletes only the positions ≥ 1 of that range; a negative length is an
/// error; any NULL gives NULL.
fn stuff(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "STUFF";
    let [s, start, length, insert] = fixed::<4>(NAME, args)?;
    let (Some(s), Some(start), Some(length), Some(insert)) = (
        text(NAME, s)?,
        int(NAME, start)?,
        int(NAME, length)?,
        text(NAME, insert)?,
    ) else {
        return Ok(Value::Null);
    };
    if length < 0 {
        return Err(negative_length(NAME, length));
    }
    let total = s.chars().count();
    if start > i64::try_from(total).unwrap_or(i64::MAX) {
        return string(String::new());
    }
    let first = usize::try_from(start.max(1) - 1).unwrap_or(0);
    let end = usize::try_from(start.saturating_add(length).saturating_sub(1).max(0))
        .unwrap_or(usize::MAX);
    let kept_tail = end.max(first);
    let mut out: String = s.chars().take(first).collect();
    out.push_str(&insert);
    out.extend(s.chars().skip(kept_tail));
    string(out)
}

/// `TRANSLATE(s, from, to)`: each character of `from` in `s` becomes the
/// character at the same position of `to` (the first occurrence in `from`
/// wins); `from` and `to` of different lengths are an error; any NULL
/// gives NULL.
fn translate(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "TRANSLATE";
    let [s, from, to] = fixed::<3>(NAME, args)?;
    let (Some(s), Some(from), Some(to)) = (text(NAME, s)?, text(NAME, from)?, text(NAME, to)?)
    else {
        return Ok(Value::Null);
    };
    let pairs: Vec<(char, char)> = from.chars().zip(to.chars()).collect();
    let (from_len, to_len) = (from.chars().count(), to.chars().count());
    if from_len != to_len {
        return Err(EvalError::argument(format!(
            "{NAME}: the characters and translations arguments must have the same length, got {from_len} and {to_len}"
        )));
    }
    let out = s
        .chars()
        .map(|c| pairs.iter().find(|(x, _)| *x == c).map_or(c, |(_, y)| *y))
        .collect();
    string(out)
}

// ---------------------------------------------------------------------------
// Mathematical functions.

/// A numeric argument: bigint (a bit counts as 0/1) or float; a string is
/// implicitly cast to float (§7).
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i64),
    Float(f64),
}

fn num(name: &str, v: &Value) -> Result<Option<Num>, EvalError> {
    Ok(match v {
        Value::Null => None,
        Value::Bigint(i) => Some(Num::Int(*i)),
        Value::Bit(b) => Some(Num::Int(i64::from(*b))),
        Value::Float(x) => Some(Num::Float(*x)),
        _ => to_f64(v, name)?.map(Num::Float),
    })
}

fn overflow(name: &str) -> EvalError {
    EvalError::arithmetic(format!("{name}: bigint overflow"))
}

/// A one-argument function keeping the input type.
fn map_num(
    name: &str,
    args: &[Value],
    int_op: fn(i64) -> Option<i64>,
    float_op: fn(f64) -> f64,
) -> Result<Value, EvalError> {
    let [x] = fixed::<1>(name, args)?;
    Ok(match num(name, x)? {
        None => Value::Null,
        Some(Num::Int(i)) => Value::Bigint(int_op(i).ok_or_else(|| overflow(name))?),
        Some(Num::Float(x)) => Value::Float(float_op(x)),
    })
}

/// `ABS(x)`, same type as `x`.
fn abs(args: &[Value]) -> Result<Value, EvalError> {
    map_num("ABS", args, i64::checked_abs, f64::abs)
}

/// `CEILING(x)`, same type as `x`.
fn ceiling(args: &[Value]) -> Result<Value, EvalError> {
    map_num("CEILING", args, Some, f64::ceil)
}

/// `FLOOR(x)`, same type as `x`.
fn floor(args: &[Value]) -> Result<Value, EvalError> {
    map_num("FLOOR", args, Some, f64::floor)
}

/// `SIGN(x)`: -1, 0 or 1 in the type of `x` (NaN stays NaN).
fn sign(args: &[Value]) -> Result<Value, EvalError> {
    map_num(
        "SIGN",
        args,
        |i| Some(i.signum()),
        |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else if x == 0.0 {
                0.0
            } else {
                x
            }
        },
    )
}

/// A float function; a NaN result from non-NaN input is an argument error
/// (T-SQL's "invalid floating point operation").
fn float_fn(name: &str, args: &[Value], op: fn(f64) -> f64) -> Result<Value, EvalError> {
    let [x] = fixed::<1>(name, args)?;
    let Some(x) = to_f64(x, name)? else {
        return Ok(Value::Null);
    };
    let y = op(x);
    if y.is_nan() && !x.is_nan() {
        return Err(EvalError::argument(format!(
            "{name}: invalid floating point operation for {}",
            super::cast::format_float(x)
        )));
    }
    Ok(Value::Float(y))
}

/// `EXP(x)`, float.
fn exp(args: &[Value]) -> Result<Value, EvalError> {
    float_fn("EXP", args, f64::exp)
}

/// `SQRT(x)`, float; a negative `x` is an error.
fn sqrt(args: &[Value]) -> Result<Value, EvalError> {
    float_fn("SQRT", args, f64::sqrt)
}

/// `SQUARE(x)`, float.
fn square(args: &[Value]) -> Result<Value, EvalError> {
    float_fn("SQUARE", args, |x| x * x)
}

/// `POWER(x, y)` in the type of `x`. For a bigint `x` the result is exact
/// (checked) for whole `y`; a negative `y` truncates toward zero (so
/// `POWER(2, -1)` is 0, and `POWER(0, -1)` a division by zero); a
/// fractional `y` is computed in float and truncated.
fn power(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "POWER";
    let [x, y] = fixed::<2>(NAME, args)?;
    let (Some(x), Some(y)) = (num(NAME, x)?, num(NAME, y)?) else {
        return Ok(Value::Null);
    };
    let y_float = match y {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    };
    match x {
        Num::Float(base) => {
            let result = base.powf(y_float);
            if result.is_nan() && !base.is_nan() && !y_float.is_nan() {
                return Err(EvalError::argument(format!(
                    "{NAME}: invalid floating point operation for {} ^ {}",
                    super::cast::format_float(base),
                    super::cast::format_float(y_float)
                )));
            }
            Ok(Value::Float(result))
        }
        Num::Int(base) => {
            let whole = match y {
                Num::Int(i) => Some(i),
                Num::Float(f) if f.fract() == 0.0 => super::cast::float_to_i64(f),
                Num::Float(_) => None,
            };
            match whole {
                Some(e) => int_power(base, e).map(Value::Bigint),
                None => super::cast::float_to_i64((base as f64).powf(y_float))
                    .map(Value::Bigint)
                    .ok_or_else(|| {
                        EvalError::arithmetic(format!("{NAME}: result out of bigint range"))
                    }),
            }
        }
    }
}

fn int_power(base: i64, e: i64) -> Result<i64, EvalError> {
    let odd = e % 2 != 0;
    match base {
        1 => Ok(1),
        -1 => Ok(if odd { -1 } else { 1 }),
        0 if e < 0 => Err(EvalError::arithmetic(
            "POWER: division by zero (0 ^ negative)",
        )),
        0 if e == 0 => Ok(1),
        0 => Ok(0),
        _ if e < 0 => Ok(0),
        _ => u32::try_from(e)
            .ok()
            .and_then(|e| base.checked_pow(e))
            .ok_or_else(|| overflow("POWER")),
    }
}

/// `ROUND(x, length)`: bigint stays bigint, float stays float; halves
/// round away from zero; a negative length rounds left of the point.
/// Floats are rounded on their shortest decimal representation, so
/// `ROUND(123.9995, 3)` is 124.0 as documented (binary rounding would
/// give 123.999).
fn round(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "ROUND";
    let [x, length] = fixed::<2>(NAME, args)?;
    let (Some(x), Some(length)) = (num(NAME, x)?, int(NAME, length)?) else {
        return Ok(Value::Null);
    };
    Ok(match x {
        Num::Int(i) => Value::Bigint(round_int(i, length).ok_or_else(|| overflow(NAME))?),
        Num::Float(f) => Value::Float(round_float(f, length)),
    })
}

fn round_int(x: i64, length: i64) -> Option<i64> {
    if length >= 0 {
        return Some(x);
    }
    let digits = length.unsigned_abs();
    if digits > 18 {
        // 10^19 exceeds every bigint's magnitude twice over: rounds to 0.
        return Some(0);
    }
    let unit = 10i64.checked_pow(u32::try_from(digits).ok()?)?;
    let rest = x % unit;
    let base = x - rest;
    if rest.unsigned_abs() * 2 >= unit.unsigned_abs() {
        if x < 0 {
            base.checked_sub(unit)
        } else {
            base.checked_add(unit)
        }
    } else {
        Some(base)
    }
}

/// Decimal rounding, half away from zero, of a float's shortest
/// round-trip digits.
pub(crate) fn round_float(x: f64, length: i64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let (digits, exp) = decimal_digits(x.abs());
    let n = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    // Significant digits kept: those before the point plus `length`.
    let keep = exp.saturating_add(1).saturating_add(length);
    if keep >= n {
        return x;
    }
    let Ok(keep_len) = usize::try_from(keep) else {
        return 0.0;
    };
    let bytes = digits.as_bytes();
    let round_up = bytes.get(keep_len).is_some_and(|d| *d >= b'5');
    let mut kept: Vec<u8> = bytes.get(..keep_len).unwrap_or(&[]).to_vec();
    if round_up {
        let mut carry = true;
        for d in kept.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
                break;
            }
        }
        if carry {
            kept.insert(0, b'1');
        }
    }
    if kept.is_empty() {
        return 0.0;
    }
    // kept (with any carry digit) × 10^(exp + 1 - keep)
    let scale = exp.saturating_add(1).saturating_sub(keep);
    let sign = if x < 0.0 { "-" } else { "" };
    let text = format!("{sign}{}e{scale}", String::from_utf8_lossy(&kept));
    text.parse().unwrap_or(x)
}

// ---------------------------------------------------------------------------
// Date and time functions.

fn date_part_arg(name: &str, v: &Value) -> Result<DatePart, EvalError> {
    match v {
        Value::String(word) => DatePart::parse(word)
            .ok_or_else(|| EvalError::argument(format!("{name}: unknown date part '{word}'"))),
        other => Err(EvalError::argument(format!(
            "{name}: expected a date part such as minute, got {}",
            super::cast::describe(other)
        ))),
    }
}

fn out_of_range(name: &str) -> EvalError {
    EvalError::arithmetic(format!("{name}: result is out of the datetime range"))
}

/// `DATEADD(part, n, d)`: fractions of `n` are truncated.
fn dateadd(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "DATEADD";
    let [part, n, d] = fixed::<3>(NAME, args)?;
    let part = date_part_arg(NAME, part)?;
    let (Some(n), Some(d)) = (int(NAME, n)?, to_datetime(d, NAME)?) else {
        return Ok(Value::Null);
    };
    dates::date_add(part, n, d)
        .map(Value::DateTime)
        .ok_or_else(|| out_of_range(NAME))
}

/// `DATEDIFF(part, a, b)`: `part` boundaries crossed from `a` to `b`.
fn datediff(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "DATEDIFF";
    let [part, a, b] = fixed::<3>(NAME, args)?;
    let part = date_part_arg(NAME, part)?;
    let (Some(a), Some(b)) = (to_datetime(a, NAME)?, to_datetime(b, NAME)?) else {
        return Ok(Value::Null);
    };
    dates::date_diff(part, a, b)
        .map(Value::Bigint)
        .ok_or_else(|| EvalError::arithmetic(format!("{NAME}: bigint overflow")))
}

fn one_date(name: &str, v: &Value) -> Result<Option<DateTime>, EvalError> {
    to_datetime(v, name)
}

/// `DATENAME(part, d)`, nvarchar(max).
fn datename(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "DATENAME";
    let [part, d] = fixed::<2>(NAME, args)?;
    let part = date_part_arg(NAME, part)?;
    let Some(d) = one_date(NAME, d)? else {
        return Ok(Value::Null);
    };
    dates::date_name(part, d)
        .map(Value::String)
        .ok_or_else(|| out_of_range(NAME))
}

/// `DATEPART(part, d)`, bigint.
fn datepart(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "DATEPART";
    let [part, d] = fixed::<2>(NAME, args)?;
    let part = date_part_arg(NAME, part)?;
    extract(NAME, d, part)
}

fn extract(name: &str, d: &Value, part: DatePart) -> Result<Value, EvalError> {
    let Some(d) = one_date(name, d)? else {
        return Ok(Value::Null);
    };
    dates::date_part(part, d)
        .map(Value::Bigint)
        .ok_or_else(|| out_of_range(name))
}

/// `DAY(d)`.
fn day(args: &[Value]) -> Result<Value, EvalError> {
    let [d] = fixed::<1>("DAY", args)?;
    extract("DAY", d, DatePart::Day)
}

/// `MONTH(d)`.
fn month(args: &[Value]) -> Result<Value, EvalError> {
    let [d] = fixed::<1>("MONTH", args)?;
    extract("MONTH", d, DatePart::Month)
}

/// `YEAR(d)`.
fn year(args: &[Value]) -> Result<Value, EvalError> {
    let [d] = fixed::<1>("YEAR", args)?;
    extract("YEAR", d, DatePart::Year)
}

/// `DATETIMEFROMPARTS(y, mo, d, h, mi, s, ms)`: any NULL gives NULL; a
/// part out of range is an argument error.
fn datetimefromparts(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "DATETIMEFROMPARTS";
    let all = fixed::<7>(NAME, args)?;
    let mut parts = [0i64; 7];
    let mut any_null = false;
    for (slot, v) in parts.iter_mut().zip(all.iter()) {
        match int(NAME, v)? {
            Some(n) => *slot = n,
            None => any_null = true,
        }
    }
    if any_null {
        return Ok(Value::Null);
    }
    let [y, mo, d, h, mi, s, ms] = parts;
    dates::from_parts(y, mo, d, h, mi, s, ms)
        .map(Value::DateTime)
        .ok_or_else(|| {
            EvalError::argument(format!(
                "{NAME}: invalid date or time ({y}, {mo}, {d}, {h}, {mi}, {s}, {ms})"
            ))
        })
}

// ---------------------------------------------------------------------------
// Conversion, record and array functions.

/// `GetType(v)`: the type name; NULL for NULL.
fn get_type(args: &[Value]) -> Result<Value, EvalError> {
    let [v] = fixed::<1>("GetType", args)?;
    Ok(v.data_type()
        .map_or(Value::Null, |t| Value::String(t.name().to_string())))
}

/// `GetRecordPropertyValue(record, name)`: the field (case-insensitive
/// name) or NULL if absent.
fn get_record_property_value(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "GetRecordPropertyValue";
    let [record, key] = fixed::<2>(NAME, args)?;
    let key = text(NAME, key)?;
    let record = match record {
        Value::Null => return Ok(Value::Null),
        Value::Record(r) => r,
        other => return Err(conversion_error(NAME, other, DataType::Record)),
    };
    Ok(key
        .and_then(|k| record.get(&k).cloned())
        .unwrap_or(Value::Null))
}

/// `GetArrayElement(array, i)`: the 0-based element, NULL out of range.
fn get_array_element(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "GetArrayElement";
    let [array, index] = fixed::<2>(NAME, args)?;
    let index = int(NAME, index)?;
    let items = match array {
        Value::Null => return Ok(Value::Null),
        Value::Array(items) => items,
        other => return Err(conversion_error(NAME, other, DataType::Array)),
    };
    Ok(index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| items.get(i).cloned())
        .unwrap_or(Value::Null))
}

/// `GetArrayLength(array)`, bigint.
fn get_array_length(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "GetArrayLength";
    let [array] = fixed::<1>(NAME, args)?;
    match array {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => Ok(bigint_of_usize(items.len())),
        other => Err(conversion_error(NAME, other, DataType::Array)),
    }
}

/// `COALESCE(v1, v2, …)`: the first non-NULL argument, else NULL.
fn coalesce(args: &[Value]) -> Result<Value, EvalError> {
    Ok(args
        .iter()
        .find(|v| !v.is_null())
        .cloned()
        .unwrap_or(Value::Null))
}

/// `NULLIF(a, b)`: NULL when `a` equals `b` (per [`compare`]), else `a`.
fn nullif(args: &[Value]) -> Result<Value, EvalError> {
    let [a, b] = fixed::<2>("NULLIF", args)?;
    Ok(if compare(a, b) == Some(std::cmp::Ordering::Equal) {
        Value::Null
    } else {
        a.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::EvalErrorKind;
    use crate::types::{Name, Record};

    fn call(name: &str, args: &[Value]) -> Result<Value, EvalError> {
        let builtin = lookup(name).unwrap_or_else(|| panic!("{name} is a builtin"));
        (builtin.eval)(args)
    }
    fn ok(name: &str, args: &[Value]) -> Value {
        call(name, args).unwrap_or_else(|e| panic!("{name}({args:?}) failed: {e}"))
    }
    fn s(t: &str) -> Value {
        Value::str(t)
    }
    fn int(i: i64) -> Value {
        Value::Bigint(i)
    }
    fn fl(x: f64) -> Value {
        Value::Float(x)
    }
    fn dt(t: &str) -> Value {
        Value::DateTime(DateTime::parse(t).expect("test datetime parses"))
    }
    const N: Value = Value::Null;

    #[test]
    fn lookup_is_case_insensitive_and_routes_non_scalars() {
        assert_eq!(lookup("substring").map(|b| b.name), Some("SUBSTRING"));
        assert_eq!(lookup("GETTYPE").map(|b| b.name), Some("GetType"));
        assert!(lookup("DateAdd").is_some_and(|b| b.datepart_first));
        assert!(lookup("LEFT").is_some_and(|b| !b.datepart_first));
        assert!(lookup("COUNT").is_none());
        assert!(lookup("LAG").is_none());
        assert!(is_aggregate("count") && is_aggregate("PERCENTILE_DISC") && is_aggregate("TopOne"));
        assert!(!is_aggregate("ROUND"));
        assert!(is_analytic("lag") && is_analytic("IsFirst") && !is_analytic("SUM"));
        for b in all() {
            assert!(b.max_args.is_none_or(|max| max >= b.min_args), "{}", b.name);
            assert!(!is_aggregate(b.name) && !is_analytic(b.name), "{}", b.name);
        }
    }

    #[test]
    fn documented_string_examples() {
        // ref-left, RIGHT, ref-substring, REVERSE, STUFF reference pages.
        assert_eq!(ok("LEFT", &[s("abcdefg"), int(2)]), s("ab"));
        assert_eq!(ok("RIGHT", &[s("abcdefg"), int(2)]), s("fg"));
        assert_eq!(ok("SUBSTRING", &[s("abcdefg"), int(2), int(4)]), s("bcde"));
        assert_eq!(ok("REVERSE", &[s("abcdefg")]), s("gfedcba"));
        assert_eq!(
            ok("STUFF", &[s("abcdef"), int(2), int(3), s("ijklmn")]),
            s("aijklmnef")
        );
        // ref-nchar, ref-unicode.
        assert_eq!(ok("NCHAR", &[int(33590)]), s("茶"));
        assert_eq!(ok("UNICODE", &[s("茶")]), int(33590));
        let tea = ok("UNICODE", &[s("茶")]);
        assert_eq!(ok("NCHAR", &[tea]), s("茶"));
        // ref-space: RTRIM('LastName  ') + ',' + SPACE(1) + LTRIM('    FirstName').
        assert_eq!(ok("RTRIM", &[s("LastName  ")]), s("LastName"));
        assert_eq!(ok("SPACE", &[int(1)]), s(" "));
        assert_eq!(ok("LTRIM", &[s("    FirstName")]), s("FirstName"));
        assert_eq!(ok("TRIM", &[s("      a test    ")]), s("a test"));
        // ref-translate-braces.
        assert_eq!(
            ok("TRANSLATE", &[s("2*[3+4]/{7-2}"), s("[]{}"), s("()()")]),
            s("2*(3+4)/(7-2)")
        );
        // CONCAT reference page and ref-concat-ws.
        assert_eq!(
            ok(
                "CONCAT",
                &[s("Make: "), s("Contoso"), s(", Model: "), s("QRTZX22")]
            ),
            s("Make: Contoso, Model: QRTZX22")
        );
        assert_eq!(
            ok(
                "CONCAT_WS",
                &[
                    s(", "),
                    s("1 Microsoft Way"),
                    N,
                    s("Redmond"),
                    s("WA"),
                    s("98052"),
                    N
                ]
            ),
            s("1 Microsoft Way, Redmond, WA, 98052")
        );
        // REPLICATE reference page. Its query says 4 - LEN(x) but its table
        // (T → 0000T, 99A → 0099A) needs 5 - LEN(x); the table is used here.
        for (line, code) in [
            ("T", "0000T"),
            ("1222X", "1222X"),
            ("99A", "0099A"),
            ("123456789", "123456789"),
        ] {
            let pad = 5 - match ok("LEN", &[s(line)]) {
                Value::Bigint(n) => n,
                other => panic!("LEN gave {other:?}"),
            };
            let zeros = ok("REPLICATE", &[s("0"), int(pad)]);
            assert_eq!(ok("CONCAT", &[zeros, s(line)]), s(code));
        }
    }

    #[test]
    fn replace_reference_table() {
        // ref-replace, every row of the documented table.
        let rows = [
            (s("abcde"), s("cd"), s("xx"), s("abxxe")),
            (s("cdabcd"), s("cd"), s("x"), s("xabx")),
            (s("cd"), s("cd"), s("xxx"), s("xxx")),
            (s("abcde"), s("gh"), s("xx"), s("abcde")),
            (s("abcde"), s("cde"), s(""), s("ab")),
            (s("abcde"), s(""), s("xxx"), s("abcde")),
            (s(""), s("cde"), s("xxx"), s("")),
            (N, s("cde"), s("xxx"), N),
            (s("abcde"), N, s("xxx"), N),
            (s("abcde"), s("cde"), N, N),
        ];
        for (value, pattern, replacement, expected) in rows {
            assert_eq!(ok("REPLACE", &[value, pattern, replacement]), expected);
        }
    }

    #[test]
    fn string_edge_cases() {
        assert_eq!(ok("CONCAT", &[N, N]), s(""));
        assert_eq!(
            ok("CONCAT", &[s("n="), int(5), s(" x="), fl(1.5)]),
            s("n=5 x=1.5")
        );
        assert_eq!(ok("CONCAT_WS", &[N, s("a"), s("b")]), s("ab"));
        assert_eq!(ok("CONCAT_WS", &[s("-"), N, N]), s(""));
        assert_eq!(ok("LEFT", &[s("茶葉abc"), int(1)]), s("茶"));
        assert_eq!(ok("LEFT", &[s("ab"), int(10)]), s("ab"));
        assert_eq!(ok("LEFT", &[N, int(1)]), N);
        let err = call("LEFT", &[s("ab"), int(-1)]).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::InvalidArgument);
        assert!(call("RIGHT", &[s("ab"), int(-1)]).is_err());
        assert_eq!(ok("RIGHT", &[s("ab茶"), int(1)]), s("茶"));
        assert_eq!(ok("SUBSTRING", &[s("abcdefg"), int(0), int(3)]), s("ab"));
        assert_eq!(ok("SUBSTRING", &[s("abcdefg"), int(-5), int(3)]), s(""));
        assert_eq!(ok("SUBSTRING", &[s("abc"), int(3), int(100)]), s("c"));
        assert_eq!(ok("SUBSTRING", &[s("abc"), int(9), int(1)]), s(""));
        assert_eq!(ok("SUBSTRING", &[s("a茶b"), int(2), int(1)]), s("茶"));
        assert!(call("SUBSTRING", &[s("abc"), int(1), int(-1)]).is_err());
        assert_eq!(ok("SUBSTRING", &[s("abc"), N, int(1)]), N);
        assert_eq!(ok("LEN", &[s("ab  ")]), int(2));
        assert_eq!(ok("LEN", &[s("  ab")]), int(4));
        assert_eq!(ok("LEN", &[s("茶")]), int(1));
        assert_eq!(ok("LEN", &[int(12345)]), int(5));
        assert_eq!(ok("LOWER", &[s("ABC茶")]), s("abc茶"));
        assert_eq!(ok("UPPER", &[s("abc")]), s("ABC"));
        assert_eq!(ok("TRIM", &[s("\u{3000}\t x \u{a0}\n")]), s("x"));
        assert_eq!(ok("NCHAR", &[int(-1)]), N);
        assert_eq!(ok("NCHAR", &[int(0x11_0000)]), N);
        assert_eq!(ok("NCHAR", &[int(0xD800)]), N);
        assert_eq!(ok("UNICODE", &[s("")]), N);
        assert_eq!(ok("REPLICATE", &[s("ab"), int(3)]), s("ababab"));
        assert_eq!(ok("REPLICATE", &[s("ab"), int(-1)]), N);
        assert!(call("REPLICATE", &[s("ab"), int(i64::MAX)]).is_err());
        assert_eq!(ok("SPACE", &[int(-1)]), N);
        assert_eq!(ok("SPACE", &[int(0)]), s(""));
        assert_eq!(
            ok("STUFF", &[s("abcdef"), int(0), int(2), s("X")]),
            s("Xbcdef")
        );
        assert_eq!(ok("STUFF", &[s("abc"), int(4), int(0), s("X")]), s(""));
        assert_eq!(ok("STUFF", &[s("abc"), int(3), int(9), s("X")]), s("abX"));
        assert_eq!(ok("STUFF", &[s("abc"), int(2), int(0), s("X")]), s("aXbc"));
        assert!(call("STUFF", &[s("abc"), int(1), int(-1), s("X")]).is_err());
        assert_eq!(ok("STUFF", &[s("abc"), int(1), int(1), N]), N);
        let err = call("TRANSLATE", &[s("abc"), s("ab"), s("x")]).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::InvalidArgument);
        assert_eq!(ok("TRANSLATE", &[N, s("ab"), s("x")]), N);
        assert_eq!(ok("TRANSLATE", &[s("aab"), s("aa"), s("xy")]), s("xxb"));
    }

    #[test]
    fn searching() {
        assert_eq!(ok("CHARINDEX", &[s("us"), s("Focus")]), int(4));
        assert_eq!(ok("CHARINDEX", &[s("x"), s("abc")]), int(0));
        assert_eq!(ok("CHARINDEX", &[s("b"), s("abcb"), int(3)]), int(4));
        assert_eq!(ok("CHARINDEX", &[s("b"), s("abcb"), int(-4)]), int(2));
        assert_eq!(ok("CHARINDEX", &[s("b"), s("abcb"), int(9)]), int(0));
        assert_eq!(ok("CHARINDEX", &[s("葉"), s("茶葉茶葉"), int(3)]), int(4));
        assert_eq!(ok("CHARINDEX", &[s(""), s("abc")]), int(0));
        assert_eq!(ok("CHARINDEX", &[N, s("abc")]), N);
        assert_eq!(ok("PATINDEX", &[s("%100%"), s("ABC 100 D")]), int(5));
        assert_eq!(ok("PATINDEX", &[s("%[0-9]%"), s("茶x7")]), int(3));
        assert_eq!(ok("PATINDEX", &[s("%z%"), s("abc")]), int(0));
        assert_eq!(ok("PATINDEX", &[N, s("abc")]), N);
        assert_eq!(
            ok("REGEXMATCH", &[s("AB 123 C"), s("[0-9][0-9][0-9]")]),
            int(4)
        );
        assert_eq!(
            ok("REGEXMATCH", &[s("茶 abc"), s("B")]),
            int(4),
            "case-insensitive"
        );
        assert_eq!(ok("REGEXMATCH", &[s("abc"), s("x")]), int(0));
        assert_eq!(
            ok("REGEXMATCH", &[s("abc"), s("(")]),
            int(0),
            "invalid regex"
        );
        assert_eq!(
            ok("REGEXMATCH", &[s("abc"), s("(?=a)")]),
            int(0),
            "look-ahead unsupported"
        );
        assert_eq!(ok("REGEXMATCH", &[N, s("a")]), N);
        assert_eq!(ok("REGEXMATCH", &[s("a"), N]), N);
    }

    #[test]
    fn json_parse() {
        let parsed = ok(
            "JSON_PARSE",
            &[s(r#"{"SalesOrderID":"65191","n":1,"ok":true}"#)],
        );
        let Value::Record(r) = &parsed else {
            panic!("record expected, got {parsed:?}")
        };
        assert_eq!(r.get("salesorderid"), Some(&s("65191")));
        assert_eq!(r.get("n"), Some(&int(1)));
        assert_eq!(r.get("ok"), Some(&Value::Bit(true)));
        assert_eq!(
            ok("JSON_PARSE", &[s("[1, 2.5]")]),
            Value::Array(vec![int(1), fl(2.5)])
        );
        assert_eq!(ok("JSON_PARSE", &[s("{not json")]), N);
        assert_eq!(ok("JSON_PARSE", &[s("5")]), N);
        assert_eq!(ok("JSON_PARSE", &[int(5)]), N);
        assert_eq!(ok("JSON_PARSE", &[N]), N);
        let deep = "[".repeat(10_000);
        assert_eq!(ok("JSON_PARSE", &[s(&deep)]), N);
    }

    #[test]
    fn round_reference_table() {
        // ref-round, every documented row: bigint stays bigint, float stays float.
        let rows = [
            (int(1), 0, int(1)),
            (int(0), 0, int(0)),
            (int(-1), 0, int(-1)),
            (fl(1.0), 0, fl(1.0)),
            (fl(0.5), 0, fl(1.0)),
            (fl(-0.5), 0, fl(-1.0)),
            (fl(1.234), 2, fl(1.23)),
            (fl(1.234), 10, fl(1.234)),
            (fl(123.4), -1, fl(120.0)),
            (fl(123.4), -10, fl(0.0)),
            (fl(501.0101), -3, fl(1000.0)),
            (fl(123.9995), 3, fl(124.0)),
        ];
        for (x, len, expected) in rows {
            assert_eq!(
                ok("ROUND", &[x.clone(), int(len)]),
                expected,
                "ROUND({x:?}, {len})"
            );
        }
        // iv-base-query: ROUND(readingNum, 2).
        assert_eq!(ok("ROUND", &[fl(1.7145), int(2)]), fl(1.71));
        assert_eq!(ok("ROUND", &[fl(2.378), int(2)]), fl(2.38));
        assert_eq!(ok("ROUND", &[fl(-4.85436), int(2)]), fl(-4.85));
    }

    #[test]
    fn round_edges() {
        assert_eq!(ok("ROUND", &[int(125), int(-1)]), int(130));
        assert_eq!(ok("ROUND", &[int(-125), int(-1)]), int(-130));
        assert_eq!(ok("ROUND", &[int(-124), int(-1)]), int(-120));
        assert_eq!(ok("ROUND", &[int(123), int(-19)]), int(0));
        assert_eq!(ok("ROUND", &[int(i64::MAX), int(i64::MIN)]), int(0));
        assert!(call("ROUND", &[int(i64::MAX), int(-1)]).is_err());
        assert_eq!(ok("ROUND", &[fl(9.96), int(1)]), fl(10.0));
        assert_eq!(ok("ROUND", &[fl(0.05), int(1)]), fl(0.1));
        assert_eq!(ok("ROUND", &[fl(1e300), int(-299)]), fl(1e300));
        assert_eq!(ok("ROUND", &[fl(f64::INFINITY), int(0)]), fl(f64::INFINITY));
        assert_eq!(ok("ROUND", &[s("2.5"), int(0)]), fl(3.0));
        assert_eq!(ok("ROUND", &[N, int(0)]), N);
        assert_eq!(ok("ROUND", &[fl(1.5), N]), N);
        let err = call("ROUND", &[s("abc"), int(0)]).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::TypeConversion);
        assert_eq!(
            err.message,
            "ROUND: cannot convert nvarchar(max) 'abc' to float"
        );
    }

    #[test]
    fn math() {
        assert_eq!(ok("ABS", &[int(-3)]), int(3));
        assert_eq!(ok("ABS", &[fl(-2.5)]), fl(2.5));
        assert!(call("ABS", &[int(i64::MIN)]).is_err());
        assert_eq!(ok("CEILING", &[fl(1.2)]), fl(2.0));
        assert_eq!(ok("CEILING", &[int(7)]), int(7));
        assert_eq!(ok("FLOOR", &[fl(-1.2)]), fl(-2.0));
        assert_eq!(ok("FLOOR", &[N]), N);
        assert_eq!(ok("SIGN", &[int(-9)]), int(-1));
        assert_eq!(ok("SIGN", &[fl(0.0)]), fl(0.0));
        assert_eq!(ok("SIGN", &[fl(2.5)]), fl(1.0));
        assert_eq!(ok("EXP", &[int(0)]), fl(1.0));
        assert_eq!(ok("SQRT", &[int(16)]), fl(4.0));
        assert_eq!(ok("SQRT", &[s("2.25")]), fl(1.5));
        assert_eq!(
            call("SQRT", &[int(-1)]).map_err(|e| e.kind),
            Err(EvalErrorKind::InvalidArgument)
        );
        assert_eq!(ok("SQUARE", &[int(3)]), fl(9.0));
        assert_eq!(ok("POWER", &[int(2), int(10)]), int(1024));
        assert_eq!(ok("POWER", &[int(2), int(-1)]), int(0));
        assert_eq!(ok("POWER", &[int(-1), int(-3)]), int(-1));
        assert_eq!(ok("POWER", &[int(4), fl(0.5)]), int(2));
        assert_eq!(ok("POWER", &[fl(2.0), int(3)]), fl(8.0));
        assert_eq!(ok("POWER", &[fl(4.0), fl(0.5)]), fl(2.0));
        assert!(call("POWER", &[int(2), int(64)]).is_err());
        assert!(call("POWER", &[int(0), int(-1)]).is_err());
        assert!(call("POWER", &[fl(-8.0), fl(0.5)]).is_err());
        assert_eq!(ok("POWER", &[N, int(2)]), N);
        assert!(call("ABS", &[dt("2020-01-01")]).is_err());
    }

    #[test]
    fn date_functions() {
        let t = dt("2014-09-10T11:45:30.5Z");
        assert_eq!(
            ok("DATEADD", &[s("hour"), int(2), t.clone()]),
            dt("2014-09-10T13:45:30.5Z")
        );
        assert_eq!(
            ok("DATEADD", &[s("MI"), fl(1.9), t.clone()]),
            dt("2014-09-10T11:46:30.5Z")
        );
        assert_eq!(
            ok("DATEADD", &[s("ms"), int(1), s("1970-01-01T00:00:00Z")]),
            dt("1970-01-01T00:00:00.001Z")
        );
        assert_eq!(ok("DATEADD", &[s("day"), N, t.clone()]), N);
        let unknown = call("DATEADD", &[s("fortnight"), int(1), t.clone()]).unwrap_err();
        assert_eq!(unknown.kind, EvalErrorKind::InvalidArgument);
        assert!(call("DATEADD", &[s("year"), int(i64::MAX), t.clone()]).is_err());
        assert!(call("DATEADD", &[s("day"), int(1), s("not a date")]).is_err());
        // DATEDIFF reference examples.
        assert_eq!(
            ok(
                "DATEDIFF",
                &[s("minute"), t.clone(), s("2014-09-10 12:00:00")]
            ),
            int(15)
        );
        let later = ok("DATEADD", &[s("hour"), int(2), t.clone()]);
        assert_eq!(ok("DATEDIFF", &[s("minute"), t.clone(), later]), int(120));
        assert_eq!(
            ok("DATEDIFF", &[s("yy"), s("2020-12-31"), s("2021-01-01")]),
            int(1)
        );
        assert_eq!(ok("DATEDIFF", &[s("second"), N, t.clone()]), N);
        assert_eq!(ok("DATENAME", &[s("month"), t.clone()]), s("September"));
        assert_eq!(ok("DATENAME", &[s("dw"), t.clone()]), s("Wednesday"));
        assert_eq!(ok("DATENAME", &[s("year"), t.clone()]), s("2014"));
        assert_eq!(ok("DATEPART", &[s("weekday"), t.clone()]), int(4));
        assert_eq!(ok("DATEPART", &[s("minute"), t.clone()]), int(45));
        assert_eq!(ok("DATEPART", &[s("ms"), t.clone()]), int(500));
        assert_eq!(ok("DAY", std::slice::from_ref(&t)), int(10));
        assert_eq!(ok("MONTH", std::slice::from_ref(&t)), int(9));
        assert_eq!(ok("YEAR", &[s("2014-09-10")]), int(2014));
        assert_eq!(ok("YEAR", &[N]), N);
        assert!(call("YEAR", &[int(2014)]).is_err());
        // DATETIMEFROMPARTS reference example, with DATEPART(minute, t) + 10.
        assert_eq!(
            ok(
                "DATETIMEFROMPARTS",
                &[int(2014), int(9), int(10), int(12), int(55), int(0), int(0)]
            ),
            dt("2014-09-10T12:55:00Z")
        );
        assert_eq!(
            ok(
                "DATETIMEFROMPARTS",
                &[int(2014), int(9), N, int(12), int(55), int(0), int(0)]
            ),
            N
        );
        assert!(call(
            "DATETIMEFROMPARTS",
            &[int(2014), int(13), int(1), int(0), int(0), int(0), int(0)]
        )
        .is_err());
    }

    #[test]
    fn conversion_record_and_array_functions() {
        assert_eq!(ok("GetType", &[int(1)]), s("bigint"));
        assert_eq!(ok("GetType", &[fl(1.0)]), s("float"));
        assert_eq!(ok("GetType", &[s("x")]), s("nvarchar(max)"));
        assert_eq!(ok("GetType", &[dt("2020-01-01")]), s("datetime"));
        assert_eq!(ok("GetType", &[Value::Bit(false)]), s("bit"));
        assert_eq!(ok("GetType", &[Value::Record(Record::new())]), s("record"));
        assert_eq!(ok("GetType", &[Value::Array(vec![])]), s("array"));
        assert_eq!(ok("GetType", &[N]), N);

        let readings = Value::Record(Record::from_fields([
            (Name::from("Temperature"), int(80)),
            (
                Name::from("CustomSensor"),
                Value::Array(vec![int(1), int(1), int(0)]),
            ),
        ]));
        assert_eq!(
            ok(
                "GetRecordPropertyValue",
                &[readings.clone(), s("temperature")]
            ),
            int(80)
        );
        assert_eq!(
            ok("GetRecordPropertyValue", &[readings.clone(), s("missing")]),
            N
        );
        assert_eq!(ok("GetRecordPropertyValue", &[readings.clone(), N]), N);
        assert_eq!(ok("GetRecordPropertyValue", &[N, s("x")]), N);
        assert!(call("GetRecordPropertyValue", &[int(1), s("x")]).is_err());

        let sensor = ok("GetRecordPropertyValue", &[readings, s("CustomSensor")]);
        assert_eq!(ok("GetArrayElement", &[sensor.clone(), int(0)]), int(1));
        assert_eq!(ok("GetArrayElement", &[sensor.clone(), int(2)]), int(0));
        assert_eq!(ok("GetArrayElement", &[sensor.clone(), int(3)]), N);
        assert_eq!(ok("GetArrayElement", &[sensor.clone(), int(-1)]), N);
        assert_eq!(ok("GetArrayLength", std::slice::from_ref(&sensor)), int(3));
        assert_eq!(ok("GetArrayLength", &[N]), N);
        assert!(call("GetArrayLength", &[s("[1]")]).is_err());
        assert!(call("GetArrayElement", &[Value::Record(Record::new()), int(0)]).is_err());
    }

    #[test]
    fn coalesce_and_nullif() {
        // COALESCE reference table.
        assert_eq!(ok("COALESCE", &[int(0), s("a")]), int(0));
        assert_eq!(ok("COALESCE", &[N, s("a")]), s("a"));
        assert_eq!(ok("COALESCE", &[N, N]), N);
        assert_eq!(ok("COALESCE", &[N, N, int(2), N]), int(2));
        // ref-nullif.
        assert_eq!(ok("NULLIF", &[int(4), int(4)]), N);
        assert_eq!(ok("NULLIF", &[int(5), int(7)]), int(5));
        assert_eq!(ok("NULLIF", &[int(1), fl(1.0)]), N);
        assert_eq!(ok("NULLIF", &[s("1"), int(1)]), s("1"));
        assert_eq!(ok("NULLIF", &[int(1), N]), int(1));
        assert_eq!(ok("NULLIF", &[N, int(1)]), N);
    }

    #[test]
    fn wrong_arity_is_an_error_not_a_panic() {
        let err = call("LEFT", &[s("a")]).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::InvalidArgument);
        assert_eq!(err.message, "LEFT: expected 2 arguments, got 1");
        assert!(call("CHARINDEX", &[]).is_err());
        assert!(call("CONCAT_WS", &[]).is_err());
    }

    /// A small deterministic generator (xorshift64*), so the test needs no
    /// extra dependency and every run checks the same combinations.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            let i = usize::try_from(self.next() % items.len() as u64).unwrap_or(0);
            &items[i]
        }
    }

    fn samples() -> Vec<Value> {
        let record = Value::Record(Record::from_fields([
            (Name::from("a"), int(1)),
            (Name::from("B"), Value::Array(vec![N, s("x")])),
        ]));
        vec![
            N,
            int(i64::MIN),
            int(i64::MAX),
            int(0),
            int(-1),
            int(7),
            int(1_114_112),
            fl(f64::NAN),
            fl(-0.0),
            fl(1.5),
            fl(f64::INFINITY),
            fl(-1e300),
            s(""),
            s("abc"),
            s("茶"),
            s(" 12 "),
            s("%[a-"),
            s("(?i)a+"),
            s("[^"),
            s("2021-12-10T10:00:00"),
            dt("2021-12-10T10:00:00.1234567Z"),
            Value::DateTime(DateTime(i64::MIN)),
            Value::DateTime(DateTime(i64::MAX)),
            Value::Bit(true),
            Value::Bit(false),
            record,
            Value::Record(Record::new()),
            Value::Array(vec![int(1), fl(2.5)]),
            Value::Array(vec![]),
        ]
    }

    #[test]
    fn builtins_never_panic() {
        let values = samples();
        let parts = [
            s("year"),
            s("q"),
            s("mm"),
            s("y"),
            s("dd"),
            s("wk"),
            s("dw"),
            s("hh"),
            s("n"),
            s("ss"),
            s("ms"),
            s("mcs"),
            s("ns"),
            s("bogus"),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut calls = 0usize;
        for builtin in all() {
            let max = builtin.max_args.unwrap_or(builtin.min_args + 3);
            // Every arity from 0 to one past the maximum, arity errors included.
            for arity in 0..=max + 1 {
                let exhaustive = arity <= 2;
                let rounds = if exhaustive {
                    values.len().pow(u32::try_from(arity).unwrap_or(0))
                } else {
                    3000
                };
                for round in 0..rounds {
                    let mut args = Vec::with_capacity(arity);
                    for position in 0..arity {
                        let v = if exhaustive {
                            let stride = values.len().pow(u32::try_from(position).unwrap_or(0));
                            values[(round / stride) % values.len()].clone()
                        } else {
                            rng.pick(&values).clone()
                        };
                        args.push(v);
                    }
                    if builtin.datepart_first && arity > 0 && round % 4 != 0 {
                        args[0] = rng.pick(&parts).clone();
                    }
                    let _ = (builtin.eval)(&args);
                    calls += 1;
                }
            }
        }
        assert!(calls > 10_000, "only {calls} calls");
    }

    #[test]
    fn operators_and_casts_never_panic() {
        use crate::expr::{cast, ops};
        use crate::syntax::ast::{BinaryOp, UnaryOp};
        let values = samples();
        let binary_ops = [
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Mod,
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::BitAnd,
            BinaryOp::BitOr,
            BinaryOp::BitXor,
            BinaryOp::Eq,
            BinaryOp::NotEq,
            BinaryOp::Lt,
            BinaryOp::LtEq,
            BinaryOp::Gt,
            BinaryOp::GtEq,
            BinaryOp::And,
            BinaryOp::Or,
        ];
        let types = [
            DataType::Bigint,
            DataType::Float,
            DataType::NVarchar,
            DataType::DateTime,
            DataType::Bit,
            DataType::Record,
            DataType::Array,
        ];
        for a in &values {
            for op in [UnaryOp::Neg, UnaryOp::Plus, UnaryOp::Not, UnaryOp::BitNot] {
                let _ = ops::unary(op, a);
            }
            for to in types {
                let strict = cast::cast(a, to);
                let lenient = cast::try_cast(a, to);
                assert_eq!(
                    strict.clone().unwrap_or(Value::Null),
                    lenient,
                    "{a:?} as {to}"
                );
                if let Ok(v) = strict {
                    assert!(
                        v.is_null() || v.data_type() == Some(to),
                        "{a:?} as {to} gave {v:?}"
                    );
                }
            }
            let _ = ops::is_true(a);
            for b in &values {
                for op in binary_ops {
                    let _ = ops::binary(op, a, b);
                }
                let _ = ops::like(a, b);
                // compare is antisymmetric.
                assert_eq!(
                    ops::compare(a, b),
                    ops::compare(b, a).map(std::cmp::Ordering::reverse),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }
}
