//! Direct aggregate inputs: events that go from their source straight into
//! a windowed aggregate's key and argument slots.
//!
//! The usual path makes every event a [`Row`], moves it through the
//! dataflow to the aggregate, and only there evaluates the group keys and
//! aggregate arguments. When a source is read by nothing but one
//! aggregate whose keys and arguments are plain columns (`GROUP BY key,
//! TumblingWindow(...)` over `SUM(v)`, `COUNT(*)`, ...), the reader does
//! that evaluation itself, as it feeds the event: the dataflow input then
//! carries [`Keyed`] events (a few values) instead of rows, and the
//! evaluating operator disappears. Evaluating a column cannot fail, so no
//! failure is lost by doing it early; event time, event-ordering policies
//! and bad-event handling are applied to the row first, exactly as before.
//!
//! A JSON-lines file goes further: its reader decodes only the fields the
//! keys, arguments and event time read ([`DirectInput::projection`]), and
//! [`ProjectedSplit`] turns those values into keys and slots, with no row
//! at all. A line that does not decode, or whose time is not a datetime,
//! is read again whole and takes the row path, so it is judged and
//! reported as any row is.
//!
//! [`direct_inputs`] decides which sources qualify; the runtime feeds those
//! with [`DirectInput::extract`] (or a projection) and the renderer hands
//! the keyed stream to the aggregate. Only the runtime calls it to build
//! the dataflow, and `explain` calls it to show the same decision.

use crate::connectors::json::Projection;
use crate::expr::aggregate::AggregateKind;
use crate::expr::eval::{ColumnRef, ScalarExpr};
use crate::plan::{Plan, Rel, SourceId};
use crate::types::{Name, Row, Value};

use super::session::Keyed;
use super::session_partition_by;

/// The columns a direct source's events are reduced to.
#[derive(Clone, Debug)]
pub struct DirectInput {
    /// Group keys, then session partition keys (as the aggregate orders
    /// them).
    keys: Vec<ColumnRef>,
    /// One per aggregate argument slot; `None` for `COUNT(*)`, whose slot
    /// is NULL.
    slots: Vec<Option<ColumnRef>>,
    /// Some column is read more than once, so values are copied, not moved.
    repeats: bool,
}

impl DirectInput {
    fn new(keys: Vec<ColumnRef>, slots: Vec<Option<ColumnRef>>) -> Self {
        let names: Vec<String> = keys
            .iter()
            .chain(slots.iter().flatten())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let repeats = names
            .iter()
            .enumerate()
            .any(|(i, name)| names[i + 1..].contains(name));
        DirectInput {
            keys,
            slots,
            repeats,
        }
    }

    /// The group keys and argument slots of `row`, as the aggregate's own
    /// evaluation gives them (a missing column is NULL). The row's values
    /// are moved out where it is not shared, unless a column is read twice.
    pub fn extract(&self, row: Row) -> Keyed {
        let mut fields = row.into_fields();
        let mut value = |column: &ColumnRef| match column.position(&fields) {
            None => Value::Null,
            Some(at) if self.repeats => fields[at].1.clone(),
            Some(at) => std::mem::take(&mut fields[at].1),
        };
        let keys = self.keys.iter().map(&mut value).collect();
        let slots = self
            .slots
            .iter()
            .map(|slot| slot.as_ref().map_or(Value::Null, &mut value))
            .collect();
        (keys, slots)
    }

    /// What a reader decodes for this input when its event time is
    /// `timestamp_by` (`None`: arrival time): the fields the keys,
    /// arguments and event time read, and how to split their values into
    /// keys and argument slots. `None` when the event time is computed
    /// (then the reader gives rows).
    pub fn projection(
        &self,
        timestamp_by: Option<&ScalarExpr>,
    ) -> Option<(Projection, ProjectedSplit)> {
        let time = match timestamp_by {
            None => None,
            Some(ScalarExpr::Column(column)) => Some(column),
            Some(_) => return None,
        };
        let mut names: Vec<Name> = Vec::new();
        let mut read: Vec<Option<usize>> = Vec::with_capacity(self.keys.len() + self.slots.len());
        for column in self
            .keys
            .iter()
            .map(Some)
            .chain(self.slots.iter().map(Option::as_ref))
        {
            read.push(column.map(|c| name_position(&mut names, c)));
        }
        let read_count = names.len();
        let time_at = time.map(|c| name_position(&mut names, c));
        let time_only = time_at.is_some_and(|at| at >= read_count);
        let plan: Vec<Option<(usize, bool)>> = read
            .iter()
            .enumerate()
            .map(|(i, at)| at.map(|at| (at, !read[i + 1..].contains(&Some(at)))))
            .collect();
        let key_count = self.keys.len();
        let keys_in_place = (0..key_count).all(|i| plan.get(i) == Some(&Some((i, true))));
        let split = ProjectedSplit {
            plan,
            key_count,
            keys_in_place,
        };
        Some((Projection::new(names, time_at, time_only), split))
    }

    /// The columns read, keys first (for `explain`).
    pub fn describe(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|c| format!("[{c}]")).collect();
        let slots: Vec<String> = self
            .slots
            .iter()
            .map(|c| c.as_ref().map_or("*".to_string(), |c| format!("[{c}]")))
            .collect();
        format!("keys {} arguments {}", keys.join(", "), slots.join(", "))
    }
}

/// The position of `column` among `names` (ignoring ASCII case), added
/// at the end when new.
fn name_position(names: &mut Vec<Name>, column: &ColumnRef) -> usize {
    match names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(column.name()))
    {
        Some(at) => at,
        None => {
            names.push(column.name().clone());
            names.len() - 1
        }
    }
}

/// How projected values ([`DirectInput::projection`]) become keys and
/// argument slots.
#[derive(Clone, Debug)]
pub struct ProjectedSplit {
    /// Per key, then per slot: the value's position, and whether this is
    /// its last use (moved, not copied); `None` for `COUNT(*)`'s NULL.
    plan: Vec<Option<(usize, bool)>>,
    key_count: usize,
    /// Key `i` is value `i`, read by nothing else: the values' own vector
    /// becomes the keys (one allocation fewer per event).
    keys_in_place: bool,
}

impl ProjectedSplit {
    /// The keys and argument slots in projected `values`.
    pub fn split(&self, mut values: Vec<Value>) -> Keyed {
        let key_count = self.key_count.min(self.plan.len());
        let mut take = |entry: &Option<(usize, bool)>| match *entry {
            None => Value::Null,
            Some((at, true)) => values.get_mut(at).map(std::mem::take).unwrap_or_default(),
            Some((at, false)) => values.get(at).cloned().unwrap_or_default(),
        };
        if self.keys_in_place {
            let slots = self.plan[key_count..].iter().map(&mut take).collect();
            values.truncate(key_count);
            return (values, slots);
        }
        let mut keys = Vec::with_capacity(key_count);
        let mut slots = Vec::with_capacity(self.plan.len() - key_count);
        for (i, entry) in self.plan.iter().enumerate() {
            let value = take(entry);
            if i < key_count {
                keys.push(value);
            } else {
                slots.push(value);
            }
        }
        (keys, slots)
    }
}

/// Per source of `plan`, how it is read directly into an aggregate, or
/// `None` when its events must be rows. A source qualifies when
/// - it is a stream (not reference data) and the plan keeps no arrival
///   order (analytic functions need it on every row);
/// - it is read exactly once in the whole plan, as the input of an
///   aggregate;
/// - that aggregate's keys (and session partition keys) and arguments are
///   plain columns or `COUNT(*)`, without `OVER (ORDER BY ...)`.
pub fn direct_inputs(plan: &Plan) -> Vec<Option<DirectInput>> {
    let mut direct: Vec<Option<DirectInput>> = vec![None; plan.sources.len()];
    if plan.uses_arrival_order() {
        return direct;
    }
    let mut reads = vec![0usize; plan.sources.len()];
    let roots = plan
        .steps
        .iter()
        .map(|s| &s.rel)
        .chain(plan.outputs.iter().map(|o| &o.rel));
    for root in roots {
        visit(root, &mut |rel| {
            if let Rel::Source(id) = rel {
                reads[*id] += 1;
            }
            if let Some((id, input)) = aggregate_over_source(rel) {
                direct[id] = Some(input);
            }
        });
    }
    for (id, slot) in direct.iter_mut().enumerate() {
        let stream = plan.sources.get(id).is_some_and(|s| !s.reference);
        if reads[id] != 1 || !stream {
            *slot = None;
        }
    }
    direct
}

/// The direct input of `rel` when it is an aggregate over a source with
/// plain-column keys and arguments.
pub(super) fn aggregate_over_source(rel: &Rel) -> Option<(SourceId, DirectInput)> {
    let Rel::Aggregate {
        input,
        window,
        keys,
        aggregates,
        ..
    } = rel
    else {
        return None;
    };
    let Rel::Source(id) = input.as_ref() else {
        return None;
    };
    let column = |e: &ScalarExpr| match e {
        ScalarExpr::Column(c) => Some(c.clone()),
        _ => None,
    };
    let keys = keys
        .iter()
        .chain(session_partition_by(window).iter())
        .map(column)
        .collect::<Option<Vec<ColumnRef>>>()?;
    let mut slots = Vec::with_capacity(aggregates.len());
    for aggregate in aggregates {
        if !aggregate.order_by.is_empty() {
            return None;
        }
        slots.push(match &aggregate.argument {
            Some(e) => Some(column(e)?),
            None if aggregate.kind == AggregateKind::CountStar => None,
            // The whole row (TopOne, Collect, ...).
            None => return None,
        });
    }
    Some((*id, DirectInput::new(keys, slots)))
}

fn visit<'r>(rel: &'r Rel, each: &mut dyn FnMut(&'r Rel)) {
    each(rel);
    for input in rel.inputs() {
        visit(input, each);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Record;

    fn plan(query: &str) -> Plan {
        let script = crate::syntax::parse(query).unwrap_or_else(|e| panic!("{query}: {e:?}"));
        crate::bind::bind(&script, &crate::bind::OpenCatalog)
            .unwrap_or_else(|e| panic!("{query}: {e:?}"))
    }

    fn qualifying(query: &str) -> Vec<bool> {
        direct_inputs(&plan(query))
            .iter()
            .map(Option::is_some)
            .collect()
    }

    #[test]
    fn a_source_read_only_by_a_plain_column_aggregate_is_direct() {
        let direct = qualifying(
            "SELECT key, COUNT(*), SUM(v) INTO Out FROM Input TIMESTAMP BY ts \
             GROUP BY key, TumblingWindow(second, 10)",
        );
        assert_eq!(direct, vec![true]);
    }

    #[test]
    fn other_readers_and_computed_arguments_keep_rows() {
        for query in [
            // A computed argument.
            "SELECT key, SUM(v * 2) INTO Out FROM Input GROUP BY key, TumblingWindow(second, 10)",
            // A computed key.
            "SELECT COUNT(*) INTO Out FROM Input GROUP BY UPPER(key), TumblingWindow(second, 10)",
            // A filter between source and aggregate.
            "SELECT key, COUNT(*) INTO Out FROM Input WHERE v > 1 \
             GROUP BY key, TumblingWindow(second, 10)",
            // The whole row as argument.
            "SELECT key, Collect() INTO Out FROM Input GROUP BY key, TumblingWindow(second, 10)",
        ] {
            assert_eq!(qualifying(query), vec![false], "{query}");
        }
        // Each FROM reads the input as a source of its own: the aggregate's
        // is direct, the other statement's gives rows.
        let two =
            "SELECT key, COUNT(*) INTO Out FROM Input GROUP BY key, TumblingWindow(second, 10) \
                   SELECT * INTO Raw FROM Input";
        assert_eq!(qualifying(two), vec![true, false]);
    }

    #[test]
    fn projected_values_split_into_keys_and_slots() {
        let time = ScalarExpr::Column(ColumnRef::new("ts"));
        // Keys first, read once: the values' vector becomes the keys.
        let counts = DirectInput::new(
            vec![ColumnRef::new("k")],
            vec![None, Some(ColumnRef::new("v")), Some(ColumnRef::new("V"))],
        );
        let (projection, split) = counts.projection(Some(&time)).expect("a plain time");
        let names: Vec<&str> = projection.names().iter().map(|n| &**n).collect();
        assert_eq!(names, ["k", "v", "ts"]);
        assert!(split.keys_in_place);
        let values = vec![Value::str("a"), Value::Bigint(2), Value::Null];
        let (keys, slots) = split.split(values);
        assert_eq!(keys, vec![Value::str("a")]);
        assert_eq!(slots, vec![Value::Null, Value::Bigint(2), Value::Bigint(2)]);
        // A key also read as an argument is copied.
        let shared = DirectInput::new(vec![ColumnRef::new("k")], vec![Some(ColumnRef::new("K"))]);
        let (_, split) = shared.projection(None).expect("arrival time");
        assert!(!split.keys_in_place);
        let (keys, slots) = split.split(vec![Value::Bigint(7)]);
        assert_eq!(
            (keys, slots),
            (vec![Value::Bigint(7)], vec![Value::Bigint(7)])
        );
        // A computed time: no projection.
        let computed = ScalarExpr::Literal(Value::Null);
        assert!(counts.projection(Some(&computed)).is_none());
    }

    #[test]
    fn extraction_is_the_aggregates_own_evaluation() {
        let input = DirectInput::new(
            vec![ColumnRef::new("Key")],
            vec![None, Some(ColumnRef::new("v")), Some(ColumnRef::new("key"))],
        );
        assert!(input.repeats);
        let row = Record::from_fields([
            (Name::from("key"), Value::str("a")),
            (Name::from("v"), Value::Bigint(3)),
            (Name::from("other"), Value::Float(1.5)),
        ]);
        let (keys, slots) = input.extract(row);
        assert_eq!(keys, vec![Value::str("a")]);
        assert_eq!(slots, vec![Value::Null, Value::Bigint(3), Value::str("a")]);
        // A missing column is NULL, as evaluating it is.
        let (keys, slots) =
            input.extract(Record::from_fields([(Name::from("v"), Value::Bigint(1))]));
        assert_eq!(keys, vec![Value::Null]);
        assert_eq!(slots, vec![Value::Null, Value::Bigint(1), Value::Null]);
        // A shared row gives the same values and leaves its copy whole.
        let shared = Record::from_fields([(Name::from("KEY"), Value::str("b"))]);
        let copy = shared.clone();
        assert_eq!(input.extract(shared).0, vec![Value::str("b")]);
        assert_eq!(copy.get("key"), Some(&Value::str("b")));
    }
}
