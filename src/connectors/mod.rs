//! Connectors: decoding events from where they live and encoding results.
//!
//! A source yields [`Decoded`] items, each a row or a [`BadEvent`] saying why
//! it could not be decoded (ASA's `InputDeserializerError` classes, §9). A
//! sink writes rows. Connectors know formats and endpoints; they never look
//! at the query plan.

pub mod file;
pub mod generate;
pub mod json;
pub mod kafka;
pub mod path_pattern;

use crate::types::{Row, Value};

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

/// One event polled from a source, with where it came from.
pub struct Polled {
    /// The event, or why it could not be decoded.
    pub item: Decoded,
    /// The input partition it was read from (0 for files and standard input).
    pub partition: i32,
    /// Its offset in the partition, where the source has offsets (Kafka).
    pub offset: Option<i64>,
    /// Its arrival time, where the source records one (a broker timestamp).
    pub arrival: Option<crate::types::DateTime>,
    /// Its position in the partition's arrival order when the source knows
    /// one that does not depend on how it is split over workers: the
    /// event's index in a file (counting every part's events), a Kafka
    /// offset.
    pub sequence: Option<i64>,
}

impl Polled {
    /// An event of a source without partitions, offsets or arrival times.
    pub fn plain(item: Decoded) -> Self {
        Polled {
            item,
            partition: 0,
            offset: None,
            arrival: None,
            sequence: None,
        }
    }
}

/// Where rows of an output go: a file, standard output, or a topic.
pub trait RowWriter: Send {
    /// Writes (or enqueues) one row.
    fn write_row(&mut self, row: &Row) -> std::io::Result<()>;
    /// Writes one row that a worker has already encoded as a JSON line
    /// ([`file::encode_json_line`]); a writer of another format writes the row.
    fn write_encoded(&mut self, row: &Row, _line: &[u8]) -> std::io::Result<()> {
        self.write_row(row)
    }
    /// Returns once every row written so far is durable where it went
    /// (flushed to the file, acknowledged by the broker).
    fn flush(&mut self) -> std::io::Result<()>;
}

impl RowWriter for file::JsonLinesWriter {
    fn write_row(&mut self, row: &Row) -> std::io::Result<()> {
        file::JsonLinesWriter::write_row(self, row)
    }
    fn write_encoded(&mut self, _row: &Row, line: &[u8]) -> std::io::Result<()> {
        file::JsonLinesWriter::write_line(self, line)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        file::JsonLinesWriter::flush(self)
    }
}

impl RowWriter for kafka::KafkaWriter {
    fn write_row(&mut self, row: &Row) -> std::io::Result<()> {
        kafka::KafkaWriter::write_row(self, row).map_err(std::io::Error::other)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        kafka::KafkaWriter::flush(self).map_err(std::io::Error::other)
    }
}

/// What polling a source gives.
pub enum Next {
    /// An event (or a bad one).
    Event(Polled),
    /// The projected values of a well-formed event of a file read with a
    /// projection ([`file::EventReader::project`]), and its event time
    /// when the projection has a time field.
    Projected(Vec<Value>, Option<crate::types::DateTime>),
    /// Nothing right now; poll again later (a live stream).
    Pending,
    /// The input has ended.
    End,
}

/// A source of events: a file read in place, or a live stream (standard
/// input) read by a thread of its own so the dataflow keeps running while
/// the stream is quiet.
pub enum EventSource {
    /// Read on the worker's thread.
    Direct(file::EventReader),
    /// Read by a background thread.
    Background(std::sync::mpsc::Receiver<std::io::Result<Decoded>>),
    /// Generated in place.
    Generated(generate::Generator),
    /// Assigned partitions of a Kafka topic.
    Kafka(Box<kafka::KafkaReader>),
    /// An input that has ended.
    Closed,
}

impl EventSource {
    /// Opens an input; standard input is read in the background.
    pub fn open(
        endpoint: &crate::config::Endpoint,
        format: crate::config::Format,
        options: file::ReadOptions,
        part: file::Part,
    ) -> std::io::Result<Self> {
        match endpoint {
            crate::config::Endpoint::File(_) => Ok(EventSource::Direct(
                file::EventReader::open(endpoint, format, options)?.with_part(part),
            )),
            crate::config::Endpoint::Std => {
                let (tx, rx) = std::sync::mpsc::sync_channel(8192);
                let endpoint = endpoint.clone();
                std::thread::spawn(move || {
                    let mut reader = match file::EventReader::open(&endpoint, format, options) {
                        Ok(reader) => reader,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    loop {
                        match reader.next_event() {
                            Ok(Some(item)) => {
                                if tx.send(Ok(item)).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => return,
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        }
                    }
                });
                Ok(EventSource::Background(rx))
            }
        }
    }

    /// The next event, if one is available now.
    pub fn poll(&mut self) -> std::io::Result<Next> {
        match self {
            EventSource::Direct(reader) if reader.projects() => {
                Ok(match reader.next_projected()? {
                    Some(file::Projected::Values { values, time }) => Next::Projected(values, time),
                    Some(file::Projected::Row(item)) => Next::Event(Polled {
                        sequence: Some(reader.last_event_index() as i64),
                        ..Polled::plain(item)
                    }),
                    None => Next::End,
                })
            }
            EventSource::Direct(reader) => Ok(match reader.next_event()? {
                Some(item) => Next::Event(Polled {
                    sequence: Some(reader.last_event_index() as i64),
                    ..Polled::plain(item)
                }),
                None => Next::End,
            }),
            EventSource::Generated(g) => Ok(match g.next_row() {
                Some(row) => Next::Event(Polled::plain(Ok(row))),
                None => Next::End,
            }),
            EventSource::Closed => Ok(Next::End),
            EventSource::Kafka(reader) => Ok(match reader.poll() {
                kafka::KafkaPoll::Event(event) => Next::Event(Polled {
                    item: event.item,
                    partition: event.partition,
                    offset: Some(event.offset),
                    arrival: event.timestamp,
                    sequence: Some(event.offset),
                }),
                kafka::KafkaPoll::Pending => Next::Pending,
                kafka::KafkaPoll::End => Next::End,
            }),
            EventSource::Background(rx) => match rx.try_recv() {
                Ok(Ok(item)) => Ok(Next::Event(Polled::plain(item))),
                Ok(Err(e)) => Err(e),
                Err(std::sync::mpsc::TryRecvError::Empty) => Ok(Next::Pending),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => Ok(Next::End),
            },
        }
    }
}
