//! Connectors: decoding events from where they live and encoding results.
//!
//! A source yields [`Decoded`] items, each a row or a [`BadEvent`] saying why
//! it could not be decoded (ASA's `InputDeserializerError` classes, §9). A
//! sink writes rows. Connectors know formats and endpoints; they never look
//! at the query plan.

pub mod file;

use crate::types::Row;

/// One decoded item from a source.
pub type Decoded = Result<Row, BadEvent>;

/// An event that could not be decoded, with enough context to find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEvent {
    /// Where in the input, e.g. `line 7`.
    pub position: String,
    /// ASA-style reason code, e.g. `InputDeserializerError.InvalidData`.
    pub reason: &'static str,
    /// What was wrong.
    pub message: String,
    /// The raw text of the event (truncated for very long events).
    pub raw: String,
}

/// Reason codes for bad input (ASA-SEMANTICS.md §9).
pub mod reasons {
    /// Not valid JSON, or not an object.
    pub const INVALID_DATA: &str = "InputDeserializerError.InvalidData";
    /// A CSV row with fewer or more fields than the header.
    pub const MISSING_COLUMNS: &str = "InputDeserializerError.MissingColumns";
    /// A CSV header that cannot be used.
    pub const INVALID_HEADER: &str = "InputDeserializerError.InvalidHeader";
    /// A column declared by `CREATE TABLE` does not convert to its type.
    pub const SCHEMA_CONVERSION: &str = "InputDeserializerError.TypeConversionError";
    /// The `TIMESTAMP BY` value is not a datetime.
    pub const INVALID_TIMESTAMP: &str = "InvalidInputTimeStamp";
    /// The `TIMESTAMP BY ... OVER` key is NULL.
    pub const INVALID_TIMESTAMP_KEY: &str = "InvalidInputTimeStampKey";
    /// An expression failed on the event (e.g. a CAST).
    pub const TYPE_CONVERSION: &str = "TypeConversionError";
    /// Dropped by the out-of-order policy.
    pub const OUT_OF_ORDER: &str = "OutOfOrderEvent";
    /// Dropped by the late-arrival policy.
    pub const LATE: &str = "LateInputEvent";
}

/// Longest raw text kept with a bad event.
pub const MAX_RAW_CHARS: usize = 2000;

pub(crate) fn truncate_raw(text: &str) -> String {
    if text.chars().count() <= MAX_RAW_CHARS {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MAX_RAW_CHARS).collect();
        s.push('…');
        s
    }
}
