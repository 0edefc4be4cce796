//! Values and types of ASA events.
//!
//! A column has no fixed type in ASA: each value carries its own
//! (ASA-SEMANTICS.md §7), so a [`Value`] is a tagged union of the seven ASA
//! types plus NULL, and a row is a [`Record`] of named values that keeps the
//! order its columns were produced in. Datetimes are UTC instants with
//! 100 ns precision ([`DateTime`], ticks since the Unix epoch), which is also
//! the unit of event time in the dataflow.
//!
//! Values are totally ordered and hashable (floats by `total_cmp`) so that
//! they can be keys of differential-dataflow arrangements; that order is a
//! storage order, not SQL comparison, which lives in `expr`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime as ChronoDateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// The ASA data types (§7). `nvarchar(max)` is the only string type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DataType {
    /// 64-bit signed integer.
    Bigint,
    /// IEEE double.
    Float,
    /// Unicode string.
    NVarchar,
    /// UTC instant, 100 ns precision.
    DateTime,
    /// 1, 0 (or NULL).
    Bit,
    /// Name/value pairs.
    Record,
    /// Ordered values.
    Array,
}

impl DataType {
    /// The name `GetType` returns and `CAST` accepts.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Bigint => "bigint",
            DataType::Float => "float",
            DataType::NVarchar => "nvarchar(max)",
            DataType::DateTime => "datetime",
            DataType::Bit => "bit",
            DataType::Record => "record",
            DataType::Array => "array",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Ticks (100 ns) per second.
pub const TICKS_PER_SECOND: i64 = 10_000_000;

/// A UTC instant as 100 ns ticks since 1970-01-01T00:00:00Z.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub struct DateTime(pub i64);

impl DateTime {
    /// The Unix epoch.
    pub const EPOCH: DateTime = DateTime(0);

    /// Ticks since the epoch.
    pub fn ticks(self) -> i64 {
        self.0
    }

    /// The current wall-clock time.
    pub fn now() -> DateTime {
        DateTime::from_chrono(Utc::now().naive_utc())
    }

    /// From a chrono UTC date-time (sub-tick digits are truncated).
    pub fn from_chrono(dt: NaiveDateTime) -> DateTime {
        let utc = dt.and_utc();
        let secs = utc.timestamp();
        let nanos = i64::from(utc.timestamp_subsec_nanos());
        DateTime(
            secs.saturating_mul(TICKS_PER_SECOND)
                .saturating_add(nanos / 100),
        )
    }

    /// As a chrono UTC date-time; `None` outside chrono's range.
    pub fn to_chrono(self) -> Option<NaiveDateTime> {
        let secs = self.0.div_euclid(TICKS_PER_SECOND);
        let sub = self.0.rem_euclid(TICKS_PER_SECOND);
        let nanos = u32::try_from(sub * 100).ok()?;
        ChronoDateTime::<Utc>::from_timestamp(secs, nanos).map(|d| d.naive_utc())
    }

    /// Parses an ISO 8601 date or date-time. A string without an offset is
    /// UTC (ASA-SEMANTICS.md §13.11); an offset is converted to UTC.
    pub fn parse(text: &str) -> Option<DateTime> {
        if let Some(dt) = parse_plain_utc(text) {
            return Some(dt);
        }
        let s = text.trim();
        if s.is_empty() {
            return None;
        }
        if s.len() != text.len() {
            if let Some(dt) = parse_plain_utc(s) {
                return Some(dt);
            }
        }
        if let Ok(dt) = ChronoDateTime::parse_from_rfc3339(s) {
            return Some(DateTime::from_chrono(dt.naive_utc()));
        }
        const NAIVE: [&str; 4] = [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ];
        let no_z = s
            .strip_suffix('Z')
            .or_else(|| s.strip_suffix('z'))
            .unwrap_or(s);
        for format in NAIVE {
            if let Ok(dt) = NaiveDateTime::parse_from_str(no_z, format) {
                return Some(DateTime::from_chrono(dt));
            }
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S%.f%z",
            "%Y-%m-%d %H:%M:%S%.f%z",
            "%Y-%m-%dT%H:%M%z",
        ] {
            if let Ok(dt) = ChronoDateTime::parse_from_str(s, format) {
                return Some(DateTime::from_chrono(dt.naive_utc()));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(no_z, "%Y-%m-%d") {
            return d.and_hms_opt(0, 0, 0).map(DateTime::from_chrono);
        }
        // A time of day alone is on 1970-01-01 (deterministic, unlike
        // "today"); see docs/semantics.md.
        if let Ok(t) = chrono::NaiveTime::parse_from_str(no_z, "%H:%M:%S%.f") {
            return Some(DateTime::from_chrono(NaiveDate::default().and_time(t)));
        }
        None
    }

    /// ISO 8601 UTC with seven fractional digits and `Z`, as ASA writes.
    pub fn to_iso(self) -> String {
        let mut out = Vec::with_capacity(28);
        self.write_iso(&mut out);
        // Only ASCII digits and punctuation are written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`DateTime::to_iso`], appended to `out`. Every output row carries a
    /// time: years 0 to 9999 are written digit by digit from the civil
    /// date, without chrono or `format!`.
    pub fn write_iso(self, out: &mut Vec<u8>) {
        let days = self.0.div_euclid(TICKS_PER_DAY);
        let of_day = self.0.rem_euclid(TICKS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            let text = match self.to_chrono() {
                Some(dt) => format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
                    dt.year(),
                    dt.month(),
                    dt.day(),
                    dt.hour(),
                    dt.minute(),
                    dt.second(),
                    self.0.rem_euclid(TICKS_PER_SECOND)
                ),
                None => format!("<datetime out of range: {} ticks>", self.0),
            };
            out.extend_from_slice(text.as_bytes());
            return;
        }
        let seconds = of_day / TICKS_PER_SECOND;
        let fraction = of_day % TICKS_PER_SECOND;
        let mut text = *b"0000-00-00T00:00:00.0000000Z";
        put_digits(&mut text[0..4], year as u64);
        put_digits(&mut text[5..7], u64::from(month));
        put_digits(&mut text[8..10], u64::from(day));
        put_digits(&mut text[11..13], (seconds / 3600) as u64);
        put_digits(&mut text[14..16], (seconds / 60 % 60) as u64);
        put_digits(&mut text[17..19], (seconds % 60) as u64);
        put_digits(&mut text[20..27], fraction as u64);
        out.extend_from_slice(&text);
    }
}

/// Ticks in a day.
const TICKS_PER_DAY: i64 = 86_400 * TICKS_PER_SECOND;

/// The proleptic Gregorian (year, month, day) of a day count since
/// 1970-01-01: the inverse of [`days_since_epoch`], by the same eras of
/// 400 years starting in March.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `value`'s last `digits.len()` decimal digits into `digits`.
fn put_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The common event-time layout, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, read
/// without chrono's general parser; anything else (offsets, a space, a
/// leap second, more than nine fractional digits) is `None` and goes the
/// general way. Accepts nothing the general way would read differently.
fn parse_plain_utc(s: &str) -> Option<DateTime> {
    let b = s.as_bytes();
    let (Some(head), Some((b'Z', fraction))) = (b.first_chunk::<19>(), b.get(19..)?.split_last())
    else {
        return None;
    };
    if head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    // Every event's time goes through here: fixed positions and arithmetic,
    // no general parser and no chrono date.
    let mut digits = [0u32; 19];
    for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] {
        digits[i] = u32::from(head[i].wrapping_sub(b'0'));
        if digits[i] > 9 {
            return None;
        }
    }
    let two = |i: usize| digits[i] * 10 + digits[i + 1];
    let year = two(0) * 100 + two(2);
    let (month, day) = (two(5), two(8));
    let (hour, minute, second) = (two(11), two(14), two(17));
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let ticks = match fraction.split_first() {
        None => 0,
        Some((b'.', fraction)) if (1..=9).contains(&fraction.len()) => {
            let mut nanos = 0u32;
            for d in fraction {
                let d = u32::from(d.wrapping_sub(b'0'));
                if d > 9 {
                    return None;
                }
                nanos = nanos * 10 + d;
            }
            nanos * 10u32.pow(9 - fraction.len() as u32) / 100
        }
        Some(_) => return None,
    };
    let seconds =
        days_since_epoch(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(DateTime(seconds * TICKS_PER_SECOND + i64::from(ticks)))
}

/// Days in `month` (1 to 12) of the proleptic Gregorian `year`.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a valid proleptic Gregorian date: the count of
/// days in whole 400-year eras (146,097 each) and the day of its era, with
/// years starting in March so that February's leap day comes last.
fn days_since_epoch(year: u32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

/// A column name. Shared, because every row of a stream repeats the same names.
pub type Name = Arc<str>;

/// One ASA value.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub enum Value {
    /// NULL (also a missing field).
    #[default]
    Null,
    /// bigint.
    Bigint(i64),
    /// float.
    Float(f64),
    /// nvarchar(max).
    String(String),
    /// datetime.
    DateTime(DateTime),
    /// bit.
    Bit(bool),
    /// record.
    Record(Record),
    /// array.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an event time (`TIMESTAMP BY`, arrival-time fields): a
    /// datetime, or a string that parses as one.
    pub fn as_event_time(&self) -> Option<DateTime> {
        match self {
            Value::DateTime(d) => Some(*d),
            Value::String(s) => DateTime::parse(s),
            _ => None,
        }
    }

    /// The value's own type; `None` for NULL.
    pub fn data_type(&self) -> Option<DataType> {
        Some(match self {
            Value::Null => return None,
            Value::Bigint(_) => DataType::Bigint,
            Value::Float(_) => DataType::Float,
            Value::String(_) => DataType::NVarchar,
            Value::DateTime(_) => DataType::DateTime,
            Value::Bit(_) => DataType::Bit,
            Value::Record(_) => DataType::Record,
            Value::Array(_) => DataType::Array,
        })
    }

    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bit(_) => 1,
            Value::Bigint(_) => 2,
            Value::Float(_) => 3,
            Value::DateTime(_) => 4,
            Value::String(_) => 5,
            Value::Array(_) => 6,
            Value::Record(_) => 7,
        }
    }

    /// Converts a JSON value. `compat_bool_as_bit` is compat level >= 1.2
    /// (`true` stays a bit); below it a JSON boolean reads as bigint 0/1.
    pub fn from_json(json: serde_json::Value, compat_bool_as_bit: bool) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) if compat_bool_as_bit => Value::Bit(b),
            serde_json::Value::Bool(b) => Value::Bigint(i64::from(b)),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Bigint(i)
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| Value::from_json(v, compat_bool_as_bit))
                    .collect(),
            ),
            serde_json::Value::Object(map) => {
                Value::Record(Record::from_fields(map.into_iter().map(|(k, v)| {
                    (Name::from(k), Value::from_json(v, compat_bool_as_bit))
                })))
            }
        }
    }

    /// Converts to JSON for output: datetimes as ISO 8601 with 7 digits and
    /// `Z`, bits as booleans, non-finite floats as NULL.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bigint(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::DateTime(d) => serde_json::Value::String(d.to_iso()),
            Value::Bit(b) => serde_json::Value::Bool(*b),
            Value::Record(r) => r.to_json(),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
        }
    }
}

/// Equal exactly when [`Ord`] says `Equal` (floats by their bits, as
/// `total_cmp` orders them); written out so that hash-map lookups on group
/// keys compare without going through the ordering.
impl PartialEq for Value {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bigint(a), Value::Bigint(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::DateTime(a), Value::DateTime(b)) => a == b,
            (Value::Bit(a), Value::Bit(b)) => a == b,
            (Value::Record(a), Value::Record(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bigint(a), Value::Bigint(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::DateTime(a), Value::DateTime(b)) => a.cmp(b),
            (Value::Bit(a), Value::Bit(b)) => a.cmp(b),
            (Value::Record(a), Value::Record(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl Value {
    /// A summary of the value that orders as [`Value`]'s `Ord` does, as far
    /// as it goes: when two prefixes differ, the values compare the same
    /// way; when they are equal, only the values themselves can tell.
    /// Numbers, times and bits are decided by it; other types only by rank.
    pub fn order_prefix(&self) -> (u8, i64) {
        match self {
            Value::Bigint(i) => (self.rank(), *i),
            Value::DateTime(DateTime(ticks)) => (self.rank(), *ticks),
            Value::Bit(b) => (self.rank(), i64::from(*b)),
            _ => (self.rank(), 0),
        }
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Null => {}
            Value::Bigint(i) => i.hash(state),
            Value::Float(f) => f.to_bits().hash(state),
            Value::String(s) => s.hash(state),
            Value::DateTime(d) => d.hash(state),
            Value::Bit(b) => b.hash(state),
            Value::Record(r) => r.hash(state),
            Value::Array(a) => a.hash(state),
        }
    }
}

/// Name/value pairs in the order they were produced. Lookups are
/// case-insensitive (ASA-SEMANTICS.md §13.7); names keep their case.
///
/// The fields are shared (copy on write): a row is copied many times on its
/// way through the dataflow (into each reader of a step, into every pair a
/// join makes of it, into a nested record), and a copy costs a reference
/// count until one of them is changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Record {
    fields: std::sync::Arc<Vec<(Name, Value)>>,
}

/// Field by field, name then value: the order a derived `Ord` gives, with
/// the shortcut that rows of one stream share their name strings, so two
/// names are usually the same allocation (output is sorted per time).
impl Ord for Record {
    fn cmp(&self, other: &Self) -> Ordering {
        if std::sync::Arc::ptr_eq(&self.fields, &other.fields) {
            return Ordering::Equal;
        }
        for ((a_name, a_value), (b_name, b_value)) in self.fields.iter().zip(other.fields.iter()) {
            if !Arc::ptr_eq(a_name, b_name) {
                match a_name.cmp(b_name) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                }
            }
            match a_value.cmp(b_value) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        self.fields.len().cmp(&other.fields.len())
    }
}

impl PartialOrd for Record {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Record::default()
    }

    /// An empty record with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Record {
            fields: std::sync::Arc::new(Vec::with_capacity(n)),
        }
    }

    /// A record from pairs; a later duplicate name (case-insensitively)
    /// replaces the earlier value in place.
    pub fn from_fields(fields: impl IntoIterator<Item = (Name, Value)>) -> Self {
        let mut record = Record::new();
        for (name, value) in fields {
            record.set(name, value);
        }
        record
    }

    /// A record of fields whose names the caller knows to be distinct
    /// (case-insensitively).
    pub fn from_unique_fields(fields: Vec<(Name, Value)>) -> Self {
        Record {
            fields: std::sync::Arc::new(fields),
        }
    }

    /// The value of `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// True when `name` is present (case-insensitively).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name`, replacing a field of the same name (case-insensitively).
    pub fn set(&mut self, name: Name, value: Value) {
        set_field(std::sync::Arc::make_mut(&mut self.fields), name, value);
    }

    /// Removes `name` (case-insensitively), returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let at = self
            .fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(std::sync::Arc::make_mut(&mut self.fields).remove(at).1)
    }

    /// Appends `name` unless it is already present: the first column wins,
    /// as with `*` expansion in ASA (§1 SELECT).
    pub fn push_if_absent(&mut self, name: Name, value: Value) {
        if !self.contains(&name) {
            std::sync::Arc::make_mut(&mut self.fields).push((name, value));
        }
    }

    /// Appends without checking for duplicates (the caller knows names are unique).
    pub fn push_unchecked(&mut self, name: Name, value: Value) {
        std::sync::Arc::make_mut(&mut self.fields).push((name, value));
    }

    /// The fields in order.
    pub fn fields(&self) -> &[(Name, Value)] {
        &self.fields
    }

    /// The fields in order, by value.
    pub fn into_fields(self) -> Vec<(Name, Value)> {
        std::sync::Arc::unwrap_or_clone(self.fields)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// As a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::with_capacity(self.fields.len());
        for (name, value) in self.fields.iter() {
            map.insert(name.to_string(), value.to_json());
        }
        serde_json::Value::Object(map)
    }
}

/// A value as output JSON, serialized straight to the writer: the same
/// text as [`Value::to_json`] without building a JSON tree first.
pub struct OutputJson<'a>(pub &'a Value);

/// A record as an output JSON object (see [`OutputJson`]). A name that
/// occurs twice keeps its first place and its last value, as a JSON map
/// would.
pub struct OutputJsonRecord<'a>(pub &'a Record);

impl Serialize for OutputJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bigint(i) => serializer.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => serializer.serialize_f64(*f),
            Value::Float(_) => serializer.serialize_unit(),
            Value::String(s) => serializer.serialize_str(s),
            Value::DateTime(d) => serializer.serialize_str(&d.to_iso()),
            Value::Bit(b) => serializer.serialize_bool(*b),
            Value::Record(r) => OutputJsonRecord(r).serialize(serializer),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&OutputJson(item))?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for OutputJsonRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.0.fields();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for i in 0..fields.len() {
            if let Some((name, value)) = output_field(fields, i) {
                map.serialize_entry(name.as_ref(), &OutputJson(value))?;
            }
        }
        map.end()
    }
}

/// The `i`-th field of `fields` as an output object has it: `None` when
/// its name occurred before; a name that occurs twice keeps its first
/// place and its last value, as a JSON map would.
fn output_field(fields: &[(Name, Value)], i: usize) -> Option<(&Name, &Value)> {
    let (name, value) = fields.get(i)?;
    if fields[..i].iter().any(|(earlier, _)| earlier == name) {
        return None;
    }
    let last = fields[i + 1..]
        .iter()
        .rev()
        .find(|(later, _)| later == name)
        .map_or(value, |(_, v)| v);
    Some((name, last))
}

/// Appends `record` as an output JSON object: the bytes `serde_json`
/// writes for [`OutputJsonRecord`], written directly (every output row
/// goes through here; the serializer's generic path cost more than the
/// row's aggregation). Numbers use `serde_json`'s own formatter, so they
/// read back exactly.
pub fn write_output_json(record: &Record, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.reserve(64);
    out.push(b'{');
    let fields = record.fields();
    let mut first = true;
    for i in 0..fields.len() {
        let Some((name, last)) = output_field(fields, i) else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        write_json_string(name, out);
        out.push(b':');
        write_output_value(last, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// One value of [`write_output_json`], as [`OutputJson`] serializes it.
fn write_output_value(value: &Value, out: &mut Vec<u8>) -> std::io::Result<()> {
    use serde_json::ser::{CompactFormatter, Formatter};
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bigint(i) => CompactFormatter.write_i64(out, *i)?,
        Value::Float(f) if f.is_finite() => CompactFormatter.write_f64(out, *f)?,
        Value::Float(_) => out.extend_from_slice(b"null"),
        Value::String(s) => write_json_string(s, out),
        Value::DateTime(d) => {
            out.push(b'"');
            d.write_iso(out);
            out.push(b'"');
        }
        Value::Bit(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Record(r) => write_output_json(r, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_output_value(item, out)?;
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// A JSON string with `serde_json`'s escapes: `"`, `\\` and control
/// characters; everything else, non-ASCII included, as it is.
fn write_json_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let needs_escape = |b: &u8| *b < 0x20 || *b == b'"' || *b == b'\\';
    out.push(b'"');
    let bytes = s.as_bytes();
    // Names and most values need no escape: one copy.
    if !bytes.iter().any(needs_escape) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Sets `name` in `fields`, replacing a field of the same name
/// (case-insensitively) in its place: what [`Record::set`] does, for fields
/// gathered before they become a record. Names of one stream are usually
/// one shared allocation, compared by pointer first.
pub fn set_field(fields: &mut Vec<(Name, Value)>, name: Name, value: Value) {
    match fields
        .iter_mut()
        .find(|(n, _)| Arc::ptr_eq(n, &name) || n.eq_ignore_ascii_case(&name))
    {
        Some(field) => field.1 = value,
        None => fields.push((name, value)),
    }
}

/// A row flowing through the dataflow is a record of named columns.
pub type Row = Record;

#[cfg(test)]
mod tests {
    use super::*;

    /// The general parser alone: what `DateTime::parse` was before its
    /// fast path.
    fn parse_with_chrono(s: &str) -> Option<DateTime> {
        ChronoDateTime::parse_from_rfc3339(s)
            .ok()
            .map(|dt| DateTime::from_chrono(dt.naive_utc()))
    }

    #[test]
    fn the_plain_utc_fast_path_reads_what_chrono_reads() {
        for text in [
            "2026-11-01T00:00:00Z",
            "2026-11-01T00:00:00.1Z",
            "2026-11-01T23:59:59.0001000Z",
            "2024-02-29T12:30:45.123456789Z",
            "2000-02-29T00:00:00Z",
            "1969-12-31T23:59:59.9999999Z",
            "0000-03-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.9999999Z",
        ] {
            assert_eq!(parse_plain_utc(text), parse_with_chrono(text), "{text}");
            assert!(parse_plain_utc(text).is_some(), "{text}");
        }
        // Left to the general parser (or rejected by both).
        for text in [
            "2026-11-01T00:00:00+01:00",
            "2026-11-01 00:00:00Z",
            "2026-11-01T00:00:60Z",
            "2026-11-01T00:00:00.1234567891Z",
            "2026-11-01T00:00:00.Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01T0a:00:00Z",
            "+2026-11-01T00:00:00Z",
        ] {
            assert_eq!(parse_plain_utc(text), None, "{text}");
        }
    }

    fn simple_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            (0i64..3).prop_map(Value::Bigint),
            prop_oneof![Just(0.0), Just(-0.0), Just(1.5), Just(f64::NAN)].prop_map(Value::Float),
            prop_oneof![Just("a"), Just("b")].prop_map(Value::str),
            proptest::bool::ANY.prop_map(Value::Bit),
            (0i64..2).prop_map(|t| Value::DateTime(DateTime(t))),
        ]
    }

    proptest::proptest! {
        #[test]
        fn value_equality_is_the_order_saying_equal(
            a in proptest::collection::vec(simple_value(), 1..3),
            b in proptest::collection::vec(simple_value(), 1..3),
        ) {
            for (x, y) in [(Value::Array(a.clone()), Value::Array(b.clone())), (a[0].clone(), b[0].clone())] {
                proptest::prop_assert_eq!(x == y, x.cmp(&y) == Ordering::Equal);
                proptest::prop_assert!(x == x.clone());
            }
        }

        #[test]
        fn records_order_as_their_field_lists(
            a in proptest::collection::vec((0u8..3, 0i64..3), 0..4),
            b in proptest::collection::vec((0u8..3, 0i64..3), 0..4),
            shared_names in proptest::bool::ANY,
        ) {
            let names: Vec<Name> = ["a", "b", "c"].into_iter().map(Name::from).collect();
            let build = |fields: &[(u8, i64)], fresh: bool| {
                let mut record = Record::new();
                for (n, v) in fields {
                    let name = if fresh {
                        Name::from(&*names[usize::from(*n)])
                    } else {
                        names[usize::from(*n)].clone()
                    };
                    record.push_unchecked(name, Value::Bigint(*v));
                }
                record
            };
            let (x, y) = (build(&a, false), build(&b, !shared_names));
            proptest::prop_assert_eq!(x.cmp(&y), x.fields().cmp(y.fields()));
            proptest::prop_assert_eq!(x == y, x.fields() == y.fields());
        }

        #[test]
        fn the_fast_path_agrees_with_chrono_on_generated_times(
            year in 0u32..10_000, month in 0u32..14, day in 0u32..33,
            hour in 0u32..26, minute in 0u32..61, second in 0u32..62,
            digits in 0usize..11, fraction in 0u64..10_000_000_000,
        ) {
            let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
            if digits > 0 {
                let f = format!("{fraction:010}");
                text.push('.');
                text.push_str(&f[..digits]);
            }
            text.push('Z');
            if let Some(fast) = parse_plain_utc(&text) {
                proptest::prop_assert_eq!(Some(fast), parse_with_chrono(&text), "{}", text);
            }
            // Leap seconds and more than 9 digits are the general parser's.
            if second < 60 && digits <= 9 {
                proptest::prop_assert_eq!(parse_plain_utc(&text), parse_with_chrono(&text), "{}", text);
            }
            if let Some(general) = parse_with_chrono(&text) {
                proptest::prop_assert_eq!(DateTime::parse(&text), Some(general), "{}", text);
            }
        }

        /// Years 0 to 9999 are written from the civil date, others through
        /// chrono: both as chrono formats them.
        #[test]
        fn iso_output_is_the_formatted_date(ticks in -65_000_000_000i64 * TICKS_PER_SECOND..320_000_000_000i64 * TICKS_PER_SECOND) {
            let time = DateTime(ticks);
            let dt = time.to_chrono().expect("in range");
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
                dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute(), dt.second(),
                ticks.rem_euclid(TICKS_PER_SECOND)
            );
            proptest::prop_assert_eq!(time.to_iso(), expected);
            if (0..=9999).contains(&dt.year()) {
                proptest::prop_assert_eq!(DateTime::parse(&time.to_iso()), Some(time));
            }
        }

        /// The direct writer gives the bytes the serializer gives, for any
        /// value: escapes, non-ASCII text, every float, times out of the
        /// four-digit range, nesting and repeated names.
        #[test]
        fn output_json_writer_writes_what_the_serializer_writes(value in output_value()) {
            let mut row = Record::new();
            row.push_unchecked(Name::from("v"), value.clone());
            row.push_unchecked(Name::from("v2"), Value::Array(vec![value]));
            let mut direct = Vec::new();
            write_output_json(&row, &mut direct).expect("writes");
            let serialized = serde_json::to_vec(&OutputJsonRecord(&row)).expect("serializes");
            proptest::prop_assert_eq!(String::from_utf8_lossy(&direct), String::from_utf8_lossy(&serialized));
        }
    }

    fn output_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let names = prop_oneof![Just("a"), Just("A"), Just("b"), Just("\"q\\\n"), Just("é")];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Bigint),
            any::<f64>().prop_map(Value::Float),
            prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(-0.0),
                Just(1e300),
                Just(5e-324)
            ]
            .prop_map(Value::Float),
            "(?s).{0,12}".prop_map(Value::String),
            proptest::collection::vec(0u8..0x80, 0..8)
                .prop_map(|b| Value::String(String::from_utf8(b).unwrap_or_default())),
            (-70_000_000_000i64 * TICKS_PER_SECOND..330_000_000_000i64 * TICKS_PER_SECOND)
                .prop_map(|t| Value::DateTime(DateTime(t))),
            any::<bool>().prop_map(Value::Bit),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((names.clone(), inner), 0..4).prop_map(|fields| {
                    let mut record = Record::new();
                    for (name, value) in fields {
                        record.push_unchecked(Name::from(name), value);
                    }
                    Value::Record(record)
                }),
            ]
        })
    }

    /// Every day of years 0 to 9999 (and a little beyond) is the date
    /// chrono gives, and the inverse of `days_since_epoch`.
    #[test]
    fn civil_dates_are_chrono_s_for_every_day() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
        for days in -719_893i64..2_933_000 {
            let (year, month, day) = civil_from_days(days);
            let expected = epoch + chrono::Duration::days(days);
            assert_eq!(
                (year, month, day),
                (i64::from(expected.year()), expected.month(), expected.day()),
                "{days}"
            );
            if year >= 0 {
                assert_eq!(days_since_epoch(year as u32, month, day), days);
            }
        }
    }

    #[test]
    fn output_json_is_the_json_tree_written_out() {
        let mut inner = Record::new();
        inner.push_unchecked(Name::from("when"), Value::DateTime(DateTime(0)));
        inner.push_unchecked(Name::from("nan"), Value::Float(f64::NAN));
        let mut row = Record::new();
        row.push_unchecked(Name::from("a"), Value::Bigint(1));
        row.push_unchecked(Name::from("b"), Value::Float(2.5));
        row.push_unchecked(Name::from("r"), Value::Record(inner));
        row.push_unchecked(
            Name::from("xs"),
            Value::Array(vec![Value::Bit(true), Value::Null, Value::str("s")]),
        );
        row.push_unchecked(Name::from("a"), Value::Bigint(3));
        let direct = serde_json::to_string(&OutputJsonRecord(&row)).expect("serializes");
        assert_eq!(direct, row.to_json().to_string());
        assert_eq!(
            direct,
            r#"{"a":3,"b":2.5,"r":{"when":"1970-01-01T00:00:00.0000000Z","nan":null},"xs":[true,null,"s"]}"#
        );
    }

    #[test]
    fn datetime_round_trips_with_seven_digits() {
        let d = DateTime::parse("2021-12-10T10:00:00").expect("parses");
        assert_eq!(d.to_iso(), "2021-12-10T10:00:00.0000000Z");
        let d = DateTime::parse("2023-01-01T00:00:01.1234567Z").expect("parses");
        assert_eq!(d.to_iso(), "2023-01-01T00:00:01.1234567Z");
        let d = DateTime::parse("2023-01-01T02:00:00+02:00").expect("parses");
        assert_eq!(d.to_iso(), "2023-01-01T00:00:00.0000000Z");
        let d = DateTime::parse("1969-12-31T23:59:59.5Z").expect("parses");
        assert_eq!(d.ticks(), -5_000_000);
        assert_eq!(d.to_iso(), "1969-12-31T23:59:59.5000000Z");
        assert!(DateTime::parse("not a date").is_none());
        assert_eq!(
            DateTime::parse("00:10:25").map(DateTime::to_iso).as_deref(),
            Some("1970-01-01T00:10:25.0000000Z")
        );
        assert_eq!(
            DateTime::parse("2020-02-29")
                .map(DateTime::to_iso)
                .as_deref(),
            Some("2020-02-29T00:00:00.0000000Z")
        );
    }

    #[test]
    fn json_numbers_keep_their_type() {
        let v = Value::from_json(serde_json::json!({"a": 1, "b": 1.0, "c": true}), true);
        let Value::Record(r) = v else {
            panic!("record expected")
        };
        assert_eq!(r.get("A"), Some(&Value::Bigint(1)));
        assert_eq!(r.get("b"), Some(&Value::Float(1.0)));
        assert_eq!(r.get("c"), Some(&Value::Bit(true)));
        assert_eq!(r.to_json().to_string(), r#"{"a":1,"b":1.0,"c":true}"#);
    }

    #[test]
    fn bool_reads_as_bigint_below_compat_1_2() {
        assert_eq!(
            Value::from_json(serde_json::json!(true), false),
            Value::Bigint(1)
        );
    }

    #[test]
    fn record_set_replaces_case_insensitively() {
        let mut r = Record::new();
        r.set("Make".into(), Value::str("a"));
        r.set("make".into(), Value::str("b"));
        assert_eq!(r.len(), 1);
        assert_eq!(r.fields()[0].0.as_ref(), "Make");
        assert_eq!(r.get("MAKE"), Some(&Value::str("b")));
    }
}
