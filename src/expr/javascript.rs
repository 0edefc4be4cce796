//! JavaScript user-defined functions (`udf.Name(...)`) and aggregates
//! (`uda.Name(x)`), ASA-SEMANTICS.md §4 and §6 "UDF and ML".
//!
//! A [`JsFunction`] is one definition from the job: its name, the text of
//! its `.js` file, its declared return type and a per-call time limit.
//! Each worker thread has one QuickJS runtime of its own, set up lazily the
//! first time the thread calls a JavaScript function, with one context per
//! function loaded into it (a context is a separate global scope, so two
//! files may both define `main`). Timely workers are threads, so this is
//! one engine per worker, and no JavaScript value crosses threads.
//!
//! A file defines one function, whatever its JavaScript name; the job calls
//! it by the name the job gives it. When a file defines several, the one
//! whose name matches the job's (case-insensitively) is used.
//!
//! Values cross the boundary per ASA's mapping: bigint and float become
//! Number, nvarchar String, datetime Date (millisecond precision), bit
//! Boolean, record Object, array Array and NULL `null`. Back again, `null`
//! and `undefined` are NULL, a whole Number is bigint and any other Number
//! float, and the result is then converted to the declared return type by
//! `CAST`'s rules.
//!
//! Nothing here panics or hangs: a JavaScript exception, a result that does
//! not convert, or a call that runs past its time limit (enforced by
//! QuickJS's interrupt handler, which also stops `while (true) {}`) is an
//! [`EvalError`] naming the function, which the renderer routes per the
//! job's error policy. Each runtime also has a memory limit and a stack
//! limit, so runaway allocation or recursion is an exception too.
//!
//! A UDA is a constructor (ASA's template is `function main() { this.init =
//! ...; this.accumulate = ...; this.computeResult = ...; }`). The renderer
//! recomputes an aggregate from a group's rows whenever the group changes,
//! so [`JsFunction::aggregate`] builds a fresh object, calls `init`, then
//! `accumulate(value, timestamp)` for every row in timestamp order, then
//! `computeResult()`. `deaccumulate` and `deaccumulateState` are never
//! called: removing a row from a window is a recomputation without it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::function::Args;
use rquickjs::{Context, Ctx, Function, Object, Persistent, Runtime};

use super::cast::{self, describe};
use super::EvalError;
use crate::types::{DataType, DateTime, Name, Record, Value};

/// The per-call time limit when the job sets none.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(1);

/// Memory one worker's JavaScript runtime may allocate.
const MEMORY_LIMIT: usize = 256 * 1024 * 1024;

/// Native stack one JavaScript call may use (deep recursion becomes a
/// `RangeError` instead of overflowing the worker thread's stack).
const STACK_LIMIT: usize = 512 * 1024;

/// Ticks (100 ns) per millisecond.
const TICKS_PER_MS: i64 = 10_000;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A scalar function or an aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum JsKind {
    /// `udf.Name(args)`: a stateless function called once per row.
    Udf,
    /// `uda.Name(x)`: an aggregate object over a window's rows.
    Uda,
}

impl JsKind {
    /// The query prefix: `udf` or `uda`.
    pub fn prefix(self) -> &'static str {
        match self {
            JsKind::Udf => "udf",
            JsKind::Uda => "uda",
        }
    }
}

/// One JavaScript function of a job.
#[derive(Debug)]
pub struct JsFunction {
    /// Unique per definition: keys the per-thread cache of loaded functions.
    id: u64,
    /// The name the query calls it by (after `udf.` or `uda.`).
    pub name: String,
    /// UDF or UDA.
    pub kind: JsKind,
    /// The file it came from, for messages.
    pub path: PathBuf,
    /// The file's text.
    pub source: String,
    /// The declared return type; `None` is ASA's `any`.
    pub returns: Option<DataType>,
    /// How long one call into JavaScript may run.
    pub time_limit: Duration,
}

impl PartialEq for JsFunction {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl JsFunction {
    /// A definition; nothing is compiled until [`JsFunction::check`] or the
    /// first call.
    pub fn new(
        name: impl Into<String>,
        kind: JsKind,
        path: PathBuf,
        source: String,
        returns: Option<DataType>,
        time_limit: Duration,
    ) -> JsFunction {
        JsFunction {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            kind,
            path,
            source,
            returns,
            time_limit,
        }
    }

    /// `udf.Name` or `uda.Name`, as failures name it.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.kind.prefix(), self.name)
    }

    /// Compiles the file in a scratch runtime and finds its function (for a
    /// UDA, also constructs one object and checks its methods), so that a
    /// broken file is reported when the job starts rather than on its
    /// first row.
    pub fn check(&self) -> Result<(), String> {
        let engine = Engine::new().map_err(|e| format!("cannot start JavaScript: {e}"))?;
        let loaded = engine.load(self)?;
        if self.kind == JsKind::Uda {
            let checked = loaded.context.with(|ctx| -> Result<(), EvalError> {
                let constructor = loaded.function.clone().restore(&ctx).map_err(internal)?;
                engine.new_aggregate(&ctx, self, &constructor).map(|_| ())
            });
            checked.map_err(|e| e.message)?;
        }
        Ok(())
    }

    /// Calls a UDF with one row's argument values.
    pub fn call(&self, args: &[Value]) -> Result<Value, EvalError> {
        with_loaded(self, |engine, loaded| {
            loaded.context.with(|ctx| {
                let function = loaded.function.clone().restore(&ctx).map_err(internal)?;
                let mut js_args = Args::new(ctx.clone(), args.len());
                for arg in args {
                    js_args
                        .push_arg(to_js(&ctx, arg).map_err(internal)?)
                        .map_err(internal)?;
                }
                let result = engine.guarded(&ctx, self, "", || function.call_arg(js_args))?;
                engine.result(&ctx, self, result)
            })
        })
    }

    /// Runs a UDA over a group: `(value, event time, multiplicity)` per
    /// row. Rows are accumulated in event-time order (ties by value), each
    /// as many times as its multiplicity.
    pub fn aggregate(&self, rows: &[(&Value, DateTime, u64)]) -> Result<Value, EvalError> {
        let mut ordered: Vec<&(&Value, DateTime, u64)> = rows.iter().collect();
        ordered.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
        with_loaded(self, |engine, loaded| {
            loaded.context.with(|ctx| {
                let constructor = loaded.function.clone().restore(&ctx).map_err(internal)?;
                let object = engine.new_aggregate(&ctx, self, &constructor)?;
                let accumulate: Function = object.get("accumulate").map_err(internal)?;
                for (value, time, count) in ordered {
                    let value = to_js(&ctx, value).map_err(internal)?;
                    let timestamp = to_js(&ctx, &Value::DateTime(*time)).map_err(internal)?;
                    for _ in 0..*count {
                        let mut args = Args::new(ctx.clone(), 2);
                        args.this(object.clone()).map_err(internal)?;
                        args.push_arg(value.clone()).map_err(internal)?;
                        args.push_arg(timestamp.clone()).map_err(internal)?;
                        engine.guarded(&ctx, self, "accumulate: ", || {
                            accumulate.call_arg::<rquickjs::Value>(args)
                        })?;
                    }
                }
                let compute: Function = object.get("computeResult").map_err(internal)?;
                let mut args = Args::new(ctx.clone(), 0);
                args.this(object.clone()).map_err(internal)?;
                let result =
                    engine.guarded(&ctx, self, "computeResult: ", || compute.call_arg(args))?;
                engine.result(&ctx, self, result)
            })
        })
    }
}

/// One worker's JavaScript engine: a runtime, the deadline its interrupt
/// handler enforces, and the functions loaded so far.
struct Engine {
    /// Dropped before `runtime`: QuickJS aborts if values outlive it.
    loaded: HashMap<u64, Rc<Loaded>>,
    deadline: Rc<Cell<Option<Instant>>>,
    interrupted: Rc<Cell<bool>>,
    runtime: Runtime,
}

/// A function's own context and the function (or UDA constructor) in it.
struct Loaded {
    /// Dropped before `context`.
    function: Persistent<Function<'static>>,
    context: Context,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's engine and `function` loaded into it.
fn with_loaded<T>(
    function: &JsFunction,
    f: impl FnOnce(&Engine, &Loaded) -> Result<T, EvalError>,
) -> Result<T, EvalError> {
    ENGINE.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| {
            fail(
                function,
                "JavaScript functions cannot call each other".to_string(),
            )
        })?;
        if slot.is_none() {
            *slot = Some(Engine::new().map_err(|e| fail(function, e))?);
        }
        let engine = slot.as_mut().ok_or_else(|| internal("no engine"))?;
        let loaded = match engine.loaded.get(&function.id) {
            Some(loaded) => Rc::clone(loaded),
            None => {
                let loaded = Rc::new(engine.load(function).map_err(|m| fail(function, m))?);
                engine.loaded.insert(function.id, Rc::clone(&loaded));
                loaded
            }
        };
        f(engine, &loaded)
    })
}

impl Engine {
    fn new() -> Result<Engine, String> {
        let runtime = Runtime::new().map_err(|e| e.to_string())?;
        runtime.set_memory_limit(MEMORY_LIMIT);
        runtime.set_max_stack_size(STACK_LIMIT);
        let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let interrupted = Rc::new(Cell::new(false));
        let (handler_deadline, handler_flag) = (Rc::clone(&deadline), Rc::clone(&interrupted));
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let expired = handler_deadline
                .get()
                .is_some_and(|deadline| Instant::now() >= deadline);
            if expired {
                handler_flag.set(true);
            }
            expired
        })));
        Ok(Engine {
            loaded: HashMap::new(),
            deadline,
            interrupted,
            runtime,
        })
    }

    /// Evaluates the file in a new context and picks its function.
    fn load(&self, function: &JsFunction) -> Result<Loaded, String> {
        let context = Context::full(&self.runtime).map_err(|e| e.to_string())?;
        let saved = context.with(|ctx| -> Result<_, String> {
            let mut options = EvalOptions::default();
            options.strict = false;
            options.filename = Some(function.path.display().to_string());
            let evaluated = self.guarded(&ctx, function, "", || {
                ctx.eval_with_options::<(), _>(function.source.as_str(), options)
            });
            evaluated.map_err(|e| e.message)?;
            let globals = ctx.globals();
            let mut candidates: Vec<(String, Function)> = Vec::new();
            for key in globals.keys::<String>() {
                let key = key.map_err(|e| e.to_string())?;
                if let Ok(f) = globals.get::<_, Function>(key.as_str()) {
                    candidates.push((key, f));
                }
            }
            let chosen = if candidates.len() == 1 {
                candidates.pop()
            } else {
                let position = candidates
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(&function.name));
                position.map(|i| candidates.swap_remove(i))
            };
            match chosen {
                Some((_, f)) => Ok(Persistent::save(&ctx, f)),
                None if candidates.is_empty() => Err(format!(
                    "{}: {} defines no function",
                    function.qualified_name(),
                    function.path.display()
                )),
                None => {
                    let names: Vec<&str> = candidates.iter().map(|(n, _)| n.as_str()).collect();
                    Err(format!(
                        "{}: {} defines several functions ({}) and none is named {}",
                        function.qualified_name(),
                        function.path.display(),
                        names.join(", "),
                        function.name
                    ))
                }
            }
        })?;
        Ok(Loaded {
            function: saved,
            context,
        })
    }

    /// Runs `call` under the function's time limit, turning an exception
    /// or an interruption into an error naming the function.
    fn guarded<'js, T>(
        &self,
        ctx: &Ctx<'js>,
        function: &JsFunction,
        step: &str,
        call: impl FnOnce() -> rquickjs::Result<T>,
    ) -> Result<T, EvalError> {
        self.interrupted.set(false);
        self.deadline
            .set(Instant::now().checked_add(function.time_limit));
        let result = call();
        let outcome = match result {
            Ok(value) => Ok(value),
            Err(_) if self.interrupted.get() => {
                // Clear the uncatchable interruption before anything else runs.
                let _ = ctx.catch();
                Err(fail(
                    function,
                    format!(
                        "{step}exceeded its time limit of {} ms",
                        function.time_limit.as_millis()
                    ),
                ))
            }
            Err(rquickjs::Error::Exception) => {
                let thrown = ctx.catch();
                Err(fail(function, format!("{step}{}", exception_text(&thrown))))
            }
            Err(e) => Err(fail(function, format!("{step}{e}"))),
        };
        self.deadline.set(None);
        outcome
    }

    /// `new Constructor()` and `init()`, checking the UDA's methods.
    fn new_aggregate<'js>(
        &self,
        ctx: &Ctx<'js>,
        function: &JsFunction,
        constructor: &Function<'js>,
    ) -> Result<Object<'js>, EvalError> {
        let constructor =
            rquickjs::function::Constructor::from_value(constructor.clone().into())
                .map_err(|_| fail(function, "the file's function is not a constructor".into()))?;
        let object: Object =
            self.guarded(ctx, function, "constructor: ", || constructor.construct(()))?;
        for method in ["init", "accumulate", "computeResult"] {
            if object.get::<_, Function>(method).is_err() {
                return Err(fail(
                    function,
                    format!("the aggregate object has no {method}() method"),
                ));
            }
        }
        let init: Function = object.get("init").map_err(internal)?;
        let mut args = Args::new(ctx.clone(), 0);
        args.this(object.clone()).map_err(internal)?;
        self.guarded(ctx, function, "init: ", || {
            init.call_arg::<rquickjs::Value>(args)
        })?;
        Ok(object)
    }

    /// Converts a returned value back, under the time limit (reading an
    /// object's properties may run its getters).
    fn result<'js>(
        &self,
        ctx: &Ctx<'js>,
        function: &JsFunction,
        value: rquickjs::Value<'js>,
    ) -> Result<Value, EvalError> {
        let converted = self.guarded(ctx, function, "", || Ok(from_js(&value, 0)))?;
        let value = converted.map_err(|message| {
            EvalError::conversion(format!("{} returned {message}", function.qualified_name()))
        })?;
        match function.returns {
            None => Ok(value),
            Some(ty) => cast::cast(&value, ty).map_err(|_| {
                EvalError::conversion(format!(
                    "{} returned {}, which is not {} (its declared return type)",
                    function.qualified_name(),
                    describe(&value),
                    ty.name()
                ))
            }),
        }
    }
}

fn fail(function: &JsFunction, message: String) -> EvalError {
    EvalError::javascript(format!("{}: {message}", function.qualified_name()))
}

fn internal(e: impl std::fmt::Display) -> EvalError {
    EvalError::javascript(format!("JavaScript engine error: {e}"))
}

/// `Name: message` for a thrown Error, the value itself otherwise.
fn exception_text(thrown: &rquickjs::Value<'_>) -> String {
    if let Some(object) = thrown.as_object() {
        let message = object.get::<_, Option<String>>("message").ok().flatten();
        let name = object.get::<_, Option<String>>("name").ok().flatten();
        if let Some(message) = message {
            return match name {
                Some(name) => format!("{name}: {message}"),
                None => message,
            };
        }
    }
    match from_js(thrown, 0) {
        Ok(Value::String(s)) => format!("threw {s:?}"),
        Ok(v) => format!("threw {}", v.to_json()),
        Err(_) => "threw a value that is not an Error".to_string(),
    }
}

/// Deepest nesting converted back from JavaScript (a cyclic object would
/// otherwise recurse forever).
const MAX_DEPTH: usize = 64;

/// An ASA value as a JavaScript value.
fn to_js<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<rquickjs::Value<'js>> {
    Ok(match value {
        Value::Null => rquickjs::Value::new_null(ctx.clone()),
        Value::Bigint(i) => rquickjs::Value::new_number(ctx.clone(), *i as f64),
        Value::Float(f) => rquickjs::Value::new_float(ctx.clone(), *f),
        Value::String(s) => rquickjs::String::from_str(ctx.clone(), s)?.into_value(),
        Value::Bit(b) => rquickjs::Value::new_bool(ctx.clone(), *b),
        Value::DateTime(t) => {
            let date: rquickjs::function::Constructor = ctx.globals().get("Date")?;
            let ms = t.ticks().div_euclid(TICKS_PER_MS) as f64;
            date.construct::<_, rquickjs::Value>((ms,))?
        }
        Value::Record(record) => {
            let object = Object::new(ctx.clone())?;
            for (name, v) in record.fields() {
                object.set(name.as_ref(), to_js(ctx, v)?)?;
            }
            object.into_value()
        }
        Value::Array(items) => {
            let array = rquickjs::Array::new(ctx.clone())?;
            for (i, v) in items.iter().enumerate() {
                array.set(i, to_js(ctx, v)?)?;
            }
            array.into_value()
        }
    })
}

/// A JavaScript value as an ASA value ("any"); `Err` describes what could
/// not be converted.
fn from_js(value: &rquickjs::Value<'_>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("a value nested more than {MAX_DEPTH} levels deep"));
    }
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bit(b));
    }
    if let Some(i) = value.as_int() {
        return Ok(Value::Bigint(i64::from(i)));
    }
    if let Some(f) = value.as_float() {
        return Ok(number(f));
    }
    if let Some(s) = value.as_string() {
        return s
            .to_string()
            .map(Value::String)
            .map_err(|e| format!("a string that is not UTF-8 ({e})"));
    }
    if let Some(big) = value.as_big_int() {
        return big
            .clone()
            .to_i64()
            .map(Value::Bigint)
            .map_err(|_| "a BigInt outside the bigint range".to_string());
    }
    if value.is_function() {
        return Err("a function".to_string());
    }
    if let Some(array) = value.as_array() {
        let mut items = Vec::with_capacity(array.len());
        for item in array.iter::<rquickjs::Value>() {
            items.push(from_js(&item.map_err(|e| e.to_string())?, depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    if let Some(object) = value.as_object() {
        let ctx = value.ctx();
        if let Ok(date) = ctx.globals().get::<_, rquickjs::Value>("Date") {
            if object.is_instance_of(&date) {
                let get_time: Function = object.get("getTime").map_err(|e| e.to_string())?;
                let mut args = Args::new(ctx.clone(), 0);
                args.this(object.clone()).map_err(|e| e.to_string())?;
                let ms: f64 = get_time.call_arg(args).map_err(|e| e.to_string())?;
                if !ms.is_finite() {
                    return Err("an invalid Date".to_string());
                }
                return Ok(Value::DateTime(DateTime(
                    (ms as i64).saturating_mul(TICKS_PER_MS),
                )));
            }
        }
        let mut record = Record::new();
        for entry in object.props::<String, rquickjs::Value>() {
            let (name, v) = entry.map_err(|e| e.to_string())?;
            record.set(Name::from(name), from_js(&v, depth + 1)?);
        }
        return Ok(Value::Record(record));
    }
    Err(format!("a value of JavaScript type {}", value.type_name()))
}

/// A Number: bigint when whole and in range, float otherwise (§6).
fn number(f: f64) -> Value {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        Value::Bigint(f as i64)
    } else {
        Value::Float(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::EvalErrorKind;

    fn udf(source: &str, returns: Option<DataType>) -> JsFunction {
        JsFunction::new(
            "F",
            JsKind::Udf,
            PathBuf::from("f.js"),
            source.to_string(),
            returns,
            Duration::from_millis(200),
        )
    }

    #[test]
    fn values_round_trip_through_javascript() {
        let identity = udf("function id(x) { return x; }", None);
        let record = Value::Record(Record::from_fields([
            (Name::from("a"), Value::Bigint(1)),
            (
                Name::from("b"),
                Value::Array(vec![Value::Float(1.5), Value::Null]),
            ),
        ]));
        let time = DateTime::parse("2024-01-02T03:04:05.678Z").unwrap();
        for v in [
            Value::Null,
            Value::Bigint(42),
            Value::Bigint(-(1 << 53)),
            Value::Float(2.5),
            Value::String("héllo".into()),
            Value::Bit(true),
            Value::DateTime(time),
            record,
        ] {
            assert_eq!(identity.call(std::slice::from_ref(&v)), Ok(v));
        }
        // A whole float comes back as bigint (ASA: a whole Number is bigint).
        assert_eq!(identity.call(&[Value::Float(3.0)]), Ok(Value::Bigint(3)));
        // Dates keep milliseconds only.
        let fine = DateTime(time.ticks() + 1234);
        assert_eq!(
            identity.call(&[Value::DateTime(fine)]),
            Ok(Value::DateTime(time))
        );
    }

    #[test]
    fn results_convert_to_the_declared_type_or_fail() {
        let f = udf("function f(x) { return x; }", Some(DataType::Bigint));
        assert_eq!(f.call(&[Value::String("12".into())]), Ok(Value::Bigint(12)));
        let err = f.call(&[Value::String("twelve".into())]).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::TypeConversion);
        assert!(err.message.contains("udf.F returned"), "{}", err.message);
        let g = udf("function g() { return function () {}; }", None);
        assert!(g.call(&[]).unwrap_err().message.contains("a function"));
    }

    #[test]
    fn exceptions_timeouts_and_recursion_are_errors() {
        let throws = udf("function t(x) { throw new TypeError('bad ' + x); }", None);
        let err = throws.call(&[Value::Bigint(7)]).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::JavaScript);
        assert_eq!(err.message, "udf.F: TypeError: bad 7");
        let spins = udf(
            "function s() { try { while (true) {} } catch (e) { return 1; } }",
            None,
        );
        let err = spins.call(&[]).unwrap_err();
        assert!(
            err.message.contains("time limit of 200 ms"),
            "{}",
            err.message
        );
        // The engine is usable after an interruption.
        assert_eq!(
            throws.call(&[]).unwrap_err().message,
            "udf.F: TypeError: bad undefined"
        );
        let deep = udf("function r(n) { return r(n + 1); }", None);
        assert!(deep.call(&[Value::Bigint(0)]).is_err());
        let cyclic = udf("function c() { var o = {}; o.self = o; return o; }", None);
        assert!(cyclic.call(&[]).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn the_function_is_found_whatever_its_name() {
        let f = udf(
            "function helper(x) { return x * 2; }\nfunction f(x) { return helper(x) + 1; }",
            None,
        );
        assert_eq!(f.call(&[Value::Bigint(3)]), Ok(Value::Bigint(7)));
        let ambiguous = udf("function a() {}\nfunction b() {}", None);
        assert!(ambiguous.check().unwrap_err().contains("several functions"));
        assert!(udf("var x = 1;", None)
            .check()
            .unwrap_err()
            .contains("defines no function"));
        assert!(udf("function (", None)
            .check()
            .unwrap_err()
            .contains("SyntaxError"));
    }

    #[test]
    fn aggregates_accumulate_in_time_order() {
        let uda = JsFunction::new(
            "Trace",
            JsKind::Uda,
            PathBuf::from("trace.js"),
            "function main() {
                this.init = function () { this.seen = []; };
                this.accumulate = function (v, t) { this.seen.push(v + '@' + t.getUTCSeconds()); };
                this.computeResult = function () { return this.seen.join(','); };
            }"
            .to_string(),
            None,
            Duration::from_secs(1),
        );
        uda.check().unwrap();
        let at = |s: i64| DateTime(s * 10_000_000);
        let (a, b) = (Value::String("a".into()), Value::String("b".into()));
        let rows = [(&b, at(2), 1), (&a, at(1), 2)];
        assert_eq!(
            uda.aggregate(&rows),
            Ok(Value::String("a@1,a@1,b@2".into()))
        );
        assert_eq!(uda.aggregate(&[]), Ok(Value::String(String::new())));
        let broken = JsFunction::new(
            "Broken",
            JsKind::Uda,
            PathBuf::from("broken.js"),
            "function main() { this.init = function () {}; }".to_string(),
            None,
            Duration::from_secs(1),
        );
        assert!(broken
            .check()
            .unwrap_err()
            .contains("no accumulate() method"));
    }

    fn uda(name: &str, source: &str) -> JsFunction {
        JsFunction::new(
            name,
            JsKind::Uda,
            PathBuf::from("uda.js"),
            source.to_string(),
            None,
            Duration::from_secs(5),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// A JavaScript sum equals the built-in SUM over any group, and an
        /// order-sensitive UDA gives the same result for any input order.
        #[test]
        fn udas_agree_with_sum_and_ignore_input_order(
            rows in proptest::collection::vec((-1000_i64..1000, 0_i64..50, 1_u64..4), 0..40),
            seed in 0_u64..1000,
        ) {
            use crate::expr::aggregate::{compute, AggregateInput, AggregateKind};
            let sum = uda("Sum", "function main() { this.init = function () { this.s = null; };\
                this.accumulate = function (v) { this.s = (this.s === null ? 0 : this.s) + v; };\
                this.computeResult = function () { return this.s; }; }");
            let trace = uda("Trace", "function main() { this.init = function () { this.t = []; };\
                this.accumulate = function (v, t) { this.t.push(v + '@' + t.getTime()); };\
                this.computeResult = function () { return this.t.join(' '); }; }");
            let values: Vec<(Value, Value)> = rows
                .iter()
                .map(|(v, s, _)| (Value::Bigint(*v), Value::DateTime(DateTime(s * 10_000_000))))
                .collect();
            let inputs = |order: &[usize]| -> Vec<AggregateInput<'_>> {
                order
                    .iter()
                    .map(|&i| AggregateInput {
                        value: &values[i].0,
                        order_keys: std::slice::from_ref(&values[i].1),
                        count: rows[i].2 as isize,
                    })
                    .collect()
            };
            let forward: Vec<usize> = (0..rows.len()).collect();
            let mut shuffled = forward.clone();
            let mut state = seed;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                shuffled.swap(i, (state >> 33) as usize % (i + 1));
            }
            let builtin = compute(&AggregateKind::Sum, &inputs(&forward));
            let js_sum = std::sync::Arc::new(sum);
            let javascript = compute(&AggregateKind::Uda(js_sum), &inputs(&shuffled));
            proptest::prop_assert_eq!(javascript, builtin);
            let js_trace = std::sync::Arc::new(trace);
            let a = compute(&AggregateKind::Uda(js_trace.clone()), &inputs(&forward));
            let b = compute(&AggregateKind::Uda(js_trace), &inputs(&shuffled));
            proptest::prop_assert!(a.is_ok());
            proptest::prop_assert_eq!(a, b);
        }
    }
}
