//! JSON text straight to [`Value`]s, without an intermediate
//! `serde_json::Value`.
//!
//! Decoding an event is the first cost every row pays. Going through
//! `serde_json::Value` built an ordered map per object and then a second
//! tree of `Value`s; this decoder builds the `Value` tree directly with
//! serde's visitor API. Field names are interned per thread (an event
//! stream repeats the same few names), so a field costs a reference-count
//! increment rather than an allocation.
//!
//! The result is the one [`Value::from_json`] gives for the same text: an
//! integer that fits `i64` is bigint, any other number float; a JSON
//! boolean is a bit at compatibility level 1.2 and bigint 0/1 below it;
//! repeated field names (compared case-insensitively) keep the first
//! position and the last value.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::types::{set_field, DateTime, Name, Record, Value};

/// Distinct field names kept per thread; beyond them names are allocated.
/// Events of one stream share a handful of names, and a linear scan of a
/// short list beats hashing the name.
const MAX_INTERNED: usize = 64;

/// The interned names, and where the next lookup starts: the fields of a
/// stream's events usually come in the same order, so the name after the
/// last one found is the likely next one.
struct Interned {
    names: Vec<Name>,
    next: usize,
    /// Fields of the last object decoded: the next record's capacity.
    width: usize,
}

thread_local! {
    static NAMES: RefCell<Interned> = const {
        RefCell::new(Interned { names: Vec::new(), next: 0, width: 8 })
    };
}

impl Interned {
    /// The shared [`Name`] for `text`.
    fn intern(&mut self, text: &str) -> Name {
        let count = self.names.len();
        // The likely name first, then the others.
        if let Some(name) = self.names.get(self.next).filter(|n| &***n == text) {
            self.next += 1;
            return name.clone();
        }
        if let Some(i) = self.names.iter().position(|n| &**n == text) {
            self.next = i + 1;
            return self.names[i].clone();
        }
        let name = Name::from(text);
        if count < MAX_INTERNED {
            self.names.push(name.clone());
            self.next = count + 1;
        }
        name
    }
}

/// Decodes one document with the thread's interned names (borrowed once
/// per document, not per field).
fn decode<'de, D: Deserializer<'de>>(
    deserializer: D,
    bool_as_bit: bool,
) -> Result<Value, D::Error> {
    NAMES.with(|names| {
        let names = &mut *names.borrow_mut();
        ValueSeed { bool_as_bit, names }.deserialize(deserializer)
    })
}

/// Parses one JSON document as a [`Value`].
pub fn parse_value(text: &str, bool_as_bit: bool) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = decode(&mut deserializer, bool_as_bit)?;
    deserializer.end()?;
    Ok(value)
}

/// Parses one JSON document given as bytes (its strings must be UTF-8).
pub fn parse_value_bytes(bytes: &[u8], bool_as_bit: bool) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = decode(&mut deserializer, bool_as_bit)?;
    deserializer.end()?;
    Ok(value)
}

struct ValueSeed<'n> {
    bool_as_bit: bool,
    names: &'n mut Interned,
}

impl ValueSeed<'_> {
    /// A seed for a nested value, with the same names.
    fn nested(&mut self) -> ValueSeed<'_> {
        ValueSeed {
            bool_as_bit: self.bool_as_bit,
            names: self.names,
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(if self.bool_as_bit {
            Value::Bit(b)
        } else {
            Value::Bigint(i64::from(b))
        })
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Bigint(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Value::Bigint(i),
            Err(_) => Value::Float(u as f64),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self.nested())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    /// The fields are gathered first and made a record once: a record's
    /// fields are shared (copy on write), and setting them one by one
    /// checked the sharing at every field.
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        let width = map.size_hint().unwrap_or(self.names.width);
        let mut fields: Vec<(Name, Value)> = Vec::with_capacity(width);
        while let Some(name) = map.next_key_seed(NameSeed(self.names))? {
            let value = map.next_value_seed(self.nested())?;
            // A repeated name keeps its first position and the last value.
            set_field(&mut fields, name, value);
        }
        self.names.width = fields.len().max(1);
        Ok(Value::Record(Record::from_unique_fields(fields)))
    }
}

/// A field name, interned.
struct NameSeed<'a>(&'a mut Interned);

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = Name;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Name, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for NameSeed<'_> {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, s: &str) -> Result<Name, E> {
        Ok(self.0.intern(s))
    }
}

/// The top-level fields a projected decode keeps ([`parse_projected`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    /// Names distinct ignoring ASCII case, in the order of the values.
    names: Vec<Name>,
    /// The position of the event-time field, if the events have one.
    time: Option<usize>,
    /// Nothing but the event time reads the time field: a string there is
    /// decoded straight to a datetime when it is one (no copy of its text).
    time_only: bool,
}

impl Projection {
    /// Keeps `names` (distinct ignoring ASCII case); `time` is the position
    /// in `names` of the event-time field, and `time_only` says that
    /// nothing else reads it.
    pub fn new(names: Vec<Name>, time: Option<usize>, time_only: bool) -> Self {
        Projection {
            names,
            time,
            time_only,
        }
    }

    /// The names kept, in the order of the values.
    pub fn names(&self) -> &[Name] {
        &self.names
    }

    /// The event time in projected `values`: `Some(None)` without a time
    /// field, `None` when the field holds no datetime.
    pub fn event_time(&self, values: &[Value]) -> Option<Option<DateTime>> {
        match self.time {
            None => Some(None),
            Some(at) => values.get(at).and_then(Value::as_event_time).map(Some),
        }
    }
}

/// Decodes one JSON object, keeping only the values of the fields
/// `projection` names (NULL where absent), by name ignoring ASCII case,
/// the last value of a repeated name. Every other field is decoded as
/// [`parse_value_bytes`] would, then dropped, so the text is accepted or
/// rejected exactly as there. An error also for anything but an object.
pub fn parse_projected(
    text: &str,
    projection: &Projection,
    bool_as_bit: bool,
) -> Result<Vec<Value>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let values = NAMES.with(|names| {
        let names = &mut *names.borrow_mut();
        deserializer.deserialize_map(ProjectedVisitor {
            projection,
            bool_as_bit,
            names,
        })
    })?;
    deserializer.end()?;
    Ok(values)
}

struct ProjectedVisitor<'p, 'n> {
    projection: &'p Projection,
    bool_as_bit: bool,
    names: &'n mut Interned,
}

impl<'de> Visitor<'de> for ProjectedVisitor<'_, '_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Value>, A::Error> {
        let mut values: Vec<Value> = std::iter::repeat_with(|| Value::Null)
            .take(self.projection.names.len())
            .collect();
        while let Some(kept) = map.next_key_seed(KeptSeed(&self.projection.names))? {
            let seed = ValueSeed {
                bool_as_bit: self.bool_as_bit,
                names: &mut *self.names,
            };
            match kept {
                Some(at) if self.projection.time_only && Some(at) == self.projection.time => {
                    values[at] = map.next_value_seed(TimeSeed(seed))?;
                }
                Some(at) => values[at] = map.next_value_seed(seed)?,
                None => {
                    map.next_value_seed(seed)?;
                }
            }
        }
        Ok(values)
    }
}

/// A field name: its position among the kept names, if kept.
struct KeptSeed<'a>(&'a [Name]);

impl<'de> DeserializeSeed<'de> for KeptSeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeptSeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self
            .0
            .iter()
            .position(|n| n.len() == s.len() && n.eq_ignore_ascii_case(s)))
    }
}

/// The event-time field's value: a string that is a datetime becomes the
/// datetime, without copying the text; anything else decodes as usual.
struct TimeSeed<'n>(ValueSeed<'n>);

impl<'de> DeserializeSeed<'de> for TimeSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TimeSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(match DateTime::parse(s) {
            Some(time) => Value::DateTime(time),
            None => Value::String(s.to_owned()),
        })
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.visit_unit()
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.visit_none()
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        self.0.visit_bool(b)
    }

    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<Value, E> {
        self.0.visit_i64(i)
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
        self.0.visit_u64(u)
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Value, E> {
        self.0.visit_f64(f)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        self.0.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        self.0.visit_map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record `text` (a flat object of numbers) should decode to:
    /// fields in order of first appearance, compared ignoring ASCII case,
    /// each with its last value.
    fn first_position_last_value(text: &str) -> Value {
        let json: serde_json::Value = serde_json::from_str(text).expect("parses");
        let serde_json::Value::Object(_) = json else {
            panic!("{text} is not an object");
        };
        let mut fields: Vec<(String, i64)> = Vec::new();
        let pairs = text.trim_matches(|c| c == '{' || c == '}');
        for pair in pairs.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once(':').expect("name:value");
            let name = name.trim_matches('"').to_string();
            let value: i64 = value.parse().expect("an integer");
            match fields
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                Some(field) => field.1 = value,
                None => fields.push((name, value)),
            }
        }
        let mut record = Record::new();
        for (name, value) in fields {
            record.push_unchecked(Name::from(name.as_str()), Value::Bigint(value));
        }
        Value::Record(record)
    }

    fn flat(text: &str) {
        let direct = parse_value(text, true).expect("parses");
        let expected = first_position_last_value(text);
        assert_eq!(format!("{direct:?}"), format!("{expected:?}"), "{text}");
    }

    fn both(text: &str, bool_as_bit: bool) {
        let direct = parse_value(text, bool_as_bit).expect("parses");
        let json: serde_json::Value = serde_json::from_str(text).expect("parses");
        let via_tree = Value::from_json(json, bool_as_bit);
        assert_eq!(format!("{direct:?}"), format!("{via_tree:?}"), "{text}");
    }

    #[test]
    fn decodes_as_the_json_tree_conversion_does() {
        for text in [
            r#"{"a":1,"b":-2.5,"c":"x","d":null,"e":true,"f":[1,{"g":[]}],"h":{}}"#,
            r#"{"big":18446744073709551615,"neg":-9223372036854775808,"exp":1e3}"#,
            r#"{"a":1,"A":2,"b":3}"#,
            r#"{"s":"esc\"aped \u00e9","n":0}"#,
            r#"[1,2,"three"]"#,
            "42",
        ] {
            both(text, true);
            both(text, false);
        }
    }

    /// Fields named alike but for case are one column, whether their names
    /// are interned, not interned (the table is full), or one of each.
    #[test]
    fn repeated_names_are_found_with_and_without_interning() {
        std::thread::spawn(|| {
            let cases = [
                r#"{"a":1,"A":2,"b":3,"B":4,"a":5}"#,
                r#"{"Id":1,"id":2,"ID":3}"#,
            ];
            for text in cases {
                flat(text);
            }
            // Fill this thread's table, then use names it cannot hold.
            let many: Vec<String> = (0..MAX_INTERNED).map(|i| format!("\"f{i}\":{i}")).collect();
            flat(&format!("{{{}}}", many.join(",")));
            for text in cases {
                flat(text);
            }
            flat(r#"{"New":1,"f3":2,"new":3,"F3":4,"f3":5}"#);
            flat(r#"{"F7":1,"f7":2,"x":3}"#);
        })
        .join()
        .expect("the decoding thread finishes");
    }

    proptest::proptest! {
        /// Any object of names that differ only by case decodes as the JSON
        /// tree conversion does (first position, last value).
        #[test]
        fn objects_with_case_variants_decode_as_the_tree_does(
            fields in proptest::collection::vec((0usize..8, -5i64..5), 0..10)
        ) {
            const NAMES: [&str; 8] = ["a", "A", "b", "B", "ab", "aB", "Ab", "c"];
            let body: Vec<String> = fields
                .iter()
                .map(|(name, value)| format!("\"{}\":{value}", NAMES[*name]))
                .collect();
            flat(&format!("{{{}}}", body.join(",")));
        }
    }

    /// What a projection of `names` (time field `time`) should give for
    /// `text`: the values the whole row has under those names, or `None`
    /// where the whole decode fails, gives no object, or has no event time.
    fn projected_from_row(
        text: &str,
        names: &[Name],
        time: Option<usize>,
    ) -> Option<(Vec<Value>, Option<DateTime>)> {
        let Ok(Value::Record(row)) = parse_value(text, true) else {
            return None;
        };
        let values: Vec<Value> = names
            .iter()
            .map(|n| row.get(n).cloned().unwrap_or(Value::Null))
            .collect();
        let time = match time {
            None => None,
            Some(at) => Some(values[at].as_event_time()?),
        };
        Some((values, time))
    }

    proptest::proptest! {
        /// A projected decode keeps exactly the values the whole row has
        /// under the projected names (any case, repeated names, nested
        /// values, other fields that fail to decode, cut-off text), and its
        /// time field's datetime; when nothing else reads the time field,
        /// it holds the datetime itself rather than its text.
        #[test]
        fn projected_values_are_the_whole_rows_values(
            fields in proptest::collection::vec((0usize..7, 0usize..8), 0..9),
            time_only in proptest::bool::ANY,
            cut in proptest::option::of(0usize..80),
        ) {
            const NAMES: [&str; 7] = ["k", "K", "v", "ts", "TS", "other", "nest"];
            const VALUES: [&str; 8] = [
                "1",
                "-2.5",
                "\"x\"",
                "\"2026-01-01T00:00:05Z\"",
                "\"2026-01-01T00:00:0\\u0036Z\"",
                "{\"a\":[1,{\"b\":null}]}",
                "true",
                "1e999",
            ];
            let body: Vec<String> = fields
                .iter()
                .map(|(n, v)| format!("\"{}\":{}", NAMES[*n], VALUES[*v]))
                .collect();
            let mut text = format!("{{{}}}", body.join(","));
            if let Some(cut) = cut {
                text.truncate(cut.min(text.len()));
            }
            let names = vec![Name::from("k"), Name::from("v"), Name::from("Ts")];
            let projection = Projection::new(names.clone(), Some(2), time_only);
            let projected = parse_projected(&text, &projection, true)
                .ok()
                .and_then(|values| {
                    let time = projection.event_time(&values)?;
                    Some((values, time))
                });
            let expected = projected_from_row(&text, &names, Some(2));
            match (projected, expected) {
                (Some((mut values, time)), Some((mut whole, whole_time))) => {
                    proptest::prop_assert_eq!(time, whole_time);
                    if time_only {
                        // The time field is the datetime, not its text.
                        proptest::prop_assert_eq!(values.pop(), whole_time.map(Value::DateTime));
                        whole.pop();
                    }
                    proptest::prop_assert_eq!(values, whole);
                }
                (None, None) => {}
                (projected, expected) => {
                    proptest::prop_assert!(false, "{text}: {projected:?} against {expected:?}");
                }
            }
        }
    }

    #[test]
    fn a_projection_without_a_time_field_keeps_values_only() {
        let projection = Projection::new(vec![Name::from("a")], None, false);
        let values = parse_projected(r#"{"A":"x","b":2}"#, &projection, true).expect("parses");
        assert_eq!(values, vec![Value::str("x")]);
        assert_eq!(projection.event_time(&values), Some(None));
        assert!(parse_projected("[1]", &projection, true).is_err());
        assert!(parse_projected(r#"{"a":1} x"#, &projection, true).is_err());
    }

    #[test]
    fn trailing_text_and_bad_json_are_errors() {
        assert!(parse_value(r#"{"a":1} x"#, true).is_err());
        assert!(parse_value(r#"{"a":"#, true).is_err());
        assert!(parse_value_bytes(b"{\"a\":1}", true).is_ok());
    }
}
