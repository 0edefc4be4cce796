//! Files and standard streams: JSON lines, a JSON array, or CSV with a
//! header row in; JSON lines out.
//!
//! Readers stream: a JSON-lines or CSV file is read one event at a time, so
//! an input larger than memory is fine. A file whose first non-blank
//! character is `[` is read as one JSON array. Values keep their JSON type;
//! CSV fields are typed by their text (see docs/semantics.md): an integer
//! reads as bigint, a decimal as float, an empty field as NULL, anything
//! else as nvarchar(max).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::config::{Endpoint, Format};
use crate::connectors::json::{parse_projected, Projection};
use crate::connectors::{reasons, truncate_raw, BadEvent, Decoded};
use crate::types::{DateTime, Name, Record, Row, Value};

/// Reads events from a file or standard input.
pub struct EventReader {
    inner: ReaderKind,
    lower_case_names: bool,
    bool_as_bit: bool,
    part: Part,
    /// Events seen so far (this part's and the others').
    seen: usize,
    /// The fields to read, when only some are (see [`EventReader::project`]).
    projection: Option<Projection>,
}

/// Which share of a file's events a reader decodes: event `i` (counting
/// non-blank lines, CSV records or array elements from 0) belongs to part
/// `i % parts`. Every reader scans the whole file but decodes only its own
/// events (another part's lines are skipped where they lie in the read
/// buffer, not copied), so parts hold events from the same stretch of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// This part, `0..parts`.
    pub index: usize,
    /// How many parts the file is split into.
    pub parts: usize,
}

impl Part {
    /// The whole file.
    pub const WHOLE: Part = Part { index: 0, parts: 1 };

    fn owns(self, event: usize) -> bool {
        self.parts <= 1 || event % self.parts == self.index
    }
}

enum ReaderKind {
    JsonLines {
        /// The buffered file itself (not a `dyn BufRead`), so that skipping
        /// another part's line is a scan of the buffer, not calls through a
        /// vtable.
        lines: BufReader<Box<dyn Read + Send>>,
        line_no: usize,
        /// The current line as bytes: a line another worker owns is
        /// skipped without checking its text.
        buffer: Vec<u8>,
    },
    JsonArray {
        items: std::vec::IntoIter<(usize, Value)>,
    },
    Csv {
        reader: csv::Reader<Box<dyn Read + Send>>,
        header: Vec<Name>,
        record: csv::StringRecord,
    },
    Done,
}

/// How values are read (compatibility level, §9).
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Compat 1.0 lower-cases field names.
    pub lower_case_names: bool,
    /// Compat 1.2 reads JSON booleans as bit; earlier levels as bigint.
    pub bool_as_bit: bool,
}

impl EventReader {
    /// Opens `endpoint` in `format`. Errors name the file.
    pub fn open(endpoint: &Endpoint, format: Format, options: ReadOptions) -> io::Result<Self> {
        let raw: Box<dyn Read + Send> = match endpoint {
            Endpoint::Std => Box::new(io::stdin()),
            Endpoint::File(path) => Box::new(open_file(path)?),
        };
        Self::from_reader(raw, format, options)
    }

    /// Reads events from any byte stream.
    pub fn from_reader(
        raw: Box<dyn Read + Send>,
        format: Format,
        options: ReadOptions,
    ) -> io::Result<Self> {
        let inner = match format {
            Format::Json => {
                let mut buffered = BufReader::with_capacity(1 << 16, raw);
                if starts_with_bracket(&mut buffered)? {
                    read_json_array(buffered, options.bool_as_bit)?
                } else {
                    ReaderKind::JsonLines {
                        lines: buffered,
                        line_no: 0,
                        buffer: Vec::new(),
                    }
                }
            }
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(true)
                    .from_reader(raw);
                let header = reader
                    .headers()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let h = h.trim();
                        if h.is_empty() {
                            Name::from(format!("column{}", i + 1))
                        } else {
                            Name::from(h)
                        }
                    })
                    .collect();
                ReaderKind::Csv {
                    reader,
                    header,
                    record: csv::StringRecord::new(),
                }
            }
        };
        Ok(EventReader {
            inner,
            lower_case_names: options.lower_case_names,
            bool_as_bit: options.bool_as_bit,
            part: Part::WHOLE,
            seen: 0,
            projection: None,
        })
    }

    /// Decodes only `part` of the events from now on.
    pub fn with_part(mut self, part: Part) -> Self {
        self.part = part;
        self
    }

    /// The index of the event [`EventReader::next_event`] last returned,
    /// counting every part's events from 0: the same whatever the split.
    pub fn last_event_index(&self) -> usize {
        self.seen.saturating_sub(1)
    }

    /// The next event, `None` at end of input. I/O errors end the input.
    pub fn next_event(&mut self) -> io::Result<Option<Decoded>> {
        let bool_as_bit = self.bool_as_bit;
        let decoded = match &mut self.inner {
            ReaderKind::Done => return Ok(None),
            ReaderKind::JsonLines { .. } => match self.next_owned_line()? {
                None => return Ok(None),
                Some((line, line_no)) => decode_json_line(line, line_no, bool_as_bit),
            },
            ReaderKind::JsonArray { items } => match items.find(|(i, _)| self.part.owns(*i)) {
                None => {
                    self.inner = ReaderKind::Done;
                    return Ok(None);
                }
                Some((index, item)) => {
                    self.seen = index + 1;
                    value_to_row(item).map_err(|message| BadEvent {
                        position: format!("array element {index}"),
                        reason: reasons::INVALID_DATA,
                        message,
                        raw: String::new(),
                    })
                }
            },
            ReaderKind::Csv {
                reader,
                header,
                record,
            } => match read_owned_record(reader, record, self.part, &mut self.seen) {
                Ok(false) => {
                    self.inner = ReaderKind::Done;
                    return Ok(None);
                }
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line());
                    if record.len() != header.len() {
                        Err(BadEvent {
                            position: format!("line {line}"),
                            reason: reasons::MISSING_COLUMNS,
                            message: format!(
                                "expected {} fields as in the header, found {}",
                                header.len(),
                                record.len()
                            ),
                            raw: truncate_raw(&record.iter().collect::<Vec<_>>().join(",")),
                        })
                    } else {
                        let mut row = Record::with_capacity(header.len());
                        for (name, field) in header.iter().zip(record.iter()) {
                            row.set(name.clone(), csv_value(field));
                        }
                        Ok(row)
                    }
                }
                Err(e) => {
                    let position = e.position().map_or_else(
                        || "unknown line".to_string(),
                        |p| format!("line {}", p.line()),
                    );
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        return Err(io::Error::other(e.to_string()));
                    }
                    Err(BadEvent {
                        position,
                        reason: reasons::INVALID_DATA,
                        message: e.to_string(),
                        raw: String::new(),
                    })
                }
            },
        };
        Ok(Some(match decoded {
            Ok(row) if self.lower_case_names => Ok(lower_case(row)),
            other => other,
        }))
    }
}

impl EventReader {
    /// The next non-blank line of this part (trimmed) and its number;
    /// `None` at the end, which also ends the reader. Only for JSON lines.
    fn next_owned_line(&mut self) -> io::Result<Option<(&[u8], usize)>> {
        let ReaderKind::JsonLines {
            lines,
            line_no,
            buffer,
        } = &mut self.inner
        else {
            return Ok(None);
        };
        loop {
            // The next non-blank line is event `seen`: another part's is
            // skipped in place, without copying it.
            if !self.part.owns(self.seen) {
                match skip_line(lines)? {
                    None => break,
                    Some(blank) => {
                        *line_no += 1;
                        self.seen += usize::from(!blank);
                        continue;
                    }
                }
            }
            buffer.clear();
            if lines.read_until(b'\n', buffer)? == 0 {
                break;
            }
            *line_no += 1;
            if buffer.trim_ascii().is_empty() {
                continue;
            }
            self.seen += 1;
            if !self.part.owns(self.seen - 1) {
                continue;
            }
            let ReaderKind::JsonLines {
                line_no, buffer, ..
            } = &self.inner
            else {
                unreachable!("invariant: matched as JSON lines above");
            };
            return Ok(Some((buffer.trim_ascii(), *line_no)));
        }
        self.inner = ReaderKind::Done;
        Ok(None)
    }

    /// Reads only the fields `projection` names from now on, where the
    /// format allows (JSON lines; other formats keep reading rows): see
    /// [`EventReader::next_projected`].
    pub fn project(mut self, projection: Projection) -> Self {
        self.projection = Some(projection);
        self
    }

    /// True when [`EventReader::next_projected`] gives projected values.
    pub fn projects(&self) -> bool {
        self.projection.is_some() && matches!(self.inner, ReaderKind::JsonLines { .. })
    }

    /// The next event, as the values of the projection's fields with its
    /// event time where the line decodes and its time field (if any) holds
    /// a datetime; otherwise (a bad line, a bad time, or no projection) as
    /// [`EventReader::next_event`] reads it, so that the event is judged
    /// and reported from the whole row exactly as without a projection.
    pub fn next_projected(&mut self) -> io::Result<Option<Projected>> {
        if !self.projects() {
            return Ok(self.next_event()?.map(Projected::Row));
        }
        let bool_as_bit = self.bool_as_bit;
        // Taken while the line borrows the reader, put back before any return.
        let projection = self.projection.take();
        let read =
            self.next_owned_line().map(|next| {
                let (line, line_no) = next?;
                // UTF-8 is checked once, for the whole line (as in
                // `decode_json_line`); anything amiss is read again whole.
                let values = projection.as_ref().and_then(|projection| {
                    let text = std::str::from_utf8(line).ok()?;
                    let values = parse_projected(text, projection, bool_as_bit).ok()?;
                    let time = projection.event_time(&values)?;
                    Some(Projected::Values { values, time })
                });
                Some(values.unwrap_or_else(|| {
                    Projected::Row(decode_json_line(line, line_no, bool_as_bit))
                }))
            });
        self.projection = projection;
        let read = read?;
        Ok(read.map(|projected| match projected {
            Projected::Row(Ok(row)) if self.lower_case_names => Projected::Row(Ok(lower_case(row))),
            other => other,
        }))
    }
}

/// An event read with a projection ([`EventReader::next_projected`]).
#[derive(Debug)]
pub enum Projected {
    /// The values of the projection's fields, and the event time when the
    /// projection has a time field.
    Values {
        /// In the order of the projection's names.
        values: Vec<Value>,
        /// The event time, when the projection has a time field.
        time: Option<DateTime>,
    },
    /// The event as a whole row (or a bad event).
    Row(Decoded),
}

/// Reads the next CSV record of `part`, skipping the others' records.
fn read_owned_record(
    reader: &mut csv::Reader<Box<dyn Read + Send>>,
    record: &mut csv::StringRecord,
    part: Part,
    seen: &mut usize,
) -> csv::Result<bool> {
    loop {
        if !reader.read_record(record)? {
            return Ok(false);
        }
        *seen += 1;
        if part.owns(*seen - 1) {
            return Ok(true);
        }
    }
}

fn open_file(path: &Path) -> io::Result<File> {
    File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))
}

fn starts_with_bracket(reader: &mut BufReader<Box<dyn Read + Send>>) -> io::Result<bool> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        // Skip a UTF-8 byte-order mark and whitespace.
        let skip = buf
            .iter()
            .take_while(|b| b.is_ascii_whitespace() || matches!(b, 0xEF | 0xBB | 0xBF))
            .count();
        if skip < buf.len() {
            let first = buf[skip];
            reader.consume(skip);
            return Ok(first == b'[');
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// A whole JSON array input, decoded as JSON lines are (same numbers,
/// booleans and repeated names), its elements numbered from 0.
fn read_json_array(
    mut reader: BufReader<Box<dyn Read + Send>>,
    bool_as_bit: bool,
) -> io::Result<ReaderKind> {
    let mut text = String::new();
    reader.read_to_string(&mut text)?;
    // The input starts with `[`, so what parses is an array.
    let items = match super::json::parse_value(&text, bool_as_bit) {
        Ok(Value::Array(items)) => items,
        Ok(_) => Vec::new(),
        Err(e) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the input is a JSON array that does not parse: {e}"),
            ))
        }
    };
    Ok(ReaderKind::JsonArray {
        items: items
            .into_iter()
            .enumerate()
            .collect::<Vec<_>>()
            .into_iter(),
    })
}

/// Consumes one line of `lines` without copying it: `Some(true)` when it
/// was blank (ASCII whitespace only), `None` at the end of the input.
fn skip_line(lines: &mut impl BufRead) -> io::Result<Option<bool>> {
    let mut read_any = false;
    let mut blank = true;
    loop {
        let available = lines.fill_buf()?;
        if available.is_empty() {
            return Ok(read_any.then_some(blank));
        }
        read_any = true;
        let (line, used, ended) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        blank = blank && line.iter().all(u8::is_ascii_whitespace);
        lines.consume(used);
        if ended {
            return Ok(Some(blank));
        }
    }
}

/// One JSON line as a row. The line is checked as UTF-8 once, whole: the
/// JSON parser then reads its strings without checking each again.
fn decode_json_line(line: &[u8], line_no: usize, bool_as_bit: bool) -> Decoded {
    let bad = |message: String| BadEvent {
        position: format!("line {line_no}"),
        reason: reasons::INVALID_DATA,
        message,
        raw: truncate_raw(&String::from_utf8_lossy(line)),
    };
    let text =
        std::str::from_utf8(line).map_err(|e| bad(format!("the line is not UTF-8 text: {e}")))?;
    let value = super::json::parse_value(text, bool_as_bit)
        .map_err(|e| bad(format!("invalid JSON: {e}")))?;
    value_to_row(value).map_err(bad)
}

/// A decoded value as a row; anything but a record is an error message.
pub(crate) fn value_to_row(value: Value) -> Result<Row, String> {
    match value {
        Value::Record(record) => Ok(record),
        other => Err(format!(
            "expected a JSON object, found {}",
            other.data_type().map_or("null", |t| t.name())
        )),
    }
}

/// Types a CSV field by its text (docs/semantics.md, "CSV input").
pub fn csv_value(field: &str) -> Value {
    if field.is_empty() {
        return Value::Null;
    }
    let trimmed = field.trim();
    if let Ok(i) = trimmed.parse::<i64>() {
        return Value::Bigint(i);
    }
    let looks_numeric = trimmed
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && trimmed.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        if let Ok(f) = trimmed.parse::<f64>() {
            if f.is_finite() {
                return Value::Float(f);
            }
        }
    }
    Value::String(field.to_string())
}

/// The row with its column names lower-cased (compatibility level 1.0).
pub(crate) fn lower_case(row: Row) -> Row {
    Record::from_fields(
        row.into_fields()
            .into_iter()
            .map(|(n, v)| (Name::from(n.to_lowercase()), v)),
    )
}

/// Appends `row` to `out` as a JSON object and a newline: the line
/// [`JsonLinesWriter::write_row`] writes.
pub fn encode_json_line(row: &Row, out: &mut Vec<u8>) -> io::Result<()> {
    crate::types::write_output_json(row, out)?;
    out.push(b'\n');
    Ok(())
}

/// Writes rows as JSON lines.
pub struct JsonLinesWriter {
    out: Box<dyn Write + Send>,
    line: Vec<u8>,
}

impl JsonLinesWriter {
    /// Creates (truncates) the file, or writes to standard output.
    pub fn create(endpoint: &Endpoint) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = match endpoint {
            Endpoint::Std => Box::new(io::BufWriter::new(io::stdout())),
            Endpoint::File(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                let file = File::create(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
                })?;
                Box::new(io::BufWriter::with_capacity(1 << 16, file))
            }
        };
        Ok(JsonLinesWriter {
            out,
            line: Vec::with_capacity(256),
        })
    }

    /// Writes to any byte sink.
    pub fn from_writer(out: Box<dyn Write + Send>) -> Self {
        JsonLinesWriter {
            out,
            line: Vec::new(),
        }
    }

    /// Writes one row as a JSON object on its own line.
    pub fn write_row(&mut self, row: &Row) -> io::Result<()> {
        self.line.clear();
        encode_json_line(row, &mut self.line)?;
        self.out.write_all(&self.line)
    }

    /// Writes a line [`encode_json_line`] made.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.out.write_all(line)
    }

    /// Writes one JSON value on its own line.
    pub fn write_json(&mut self, json: &serde_json::Value) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, json).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    /// Flushes buffered lines.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: ReadOptions = ReadOptions {
        lower_case_names: false,
        bool_as_bit: true,
    };

    fn read_all(text: &str, format: Format) -> Vec<Decoded> {
        read_all_bytes(text.as_bytes(), format)
    }

    fn reader(text: &[u8], format: Format) -> EventReader {
        let raw: Box<dyn Read + Send> = Box::new(io::Cursor::new(text.to_vec()));
        EventReader::from_reader(raw, format, OPTS).expect("opens")
    }

    fn read_all_bytes(text: &[u8], format: Format) -> Vec<Decoded> {
        let mut reader = reader(text, format);
        let mut out = Vec::new();
        while let Some(item) = reader.next_event().expect("reads") {
            out.push(item);
        }
        out
    }

    /// A projected reader gives values for good lines and, for a bad line
    /// or a bad time, the event as `next_event` reads it; each part gets
    /// its own events, blank lines counting for none.
    #[test]
    fn projected_lines_give_values_or_the_whole_event() {
        let text = concat!(
            "{\"k\":1,\"t\":\"2026-01-01T00:00:01Z\",\"x\":[1]}\n",
            "\n",
            "{\"k\":2,\"t\":\"soon\"}\n",
            "{\"k\":3,\n",
            "{\"K\":4,\"T\":\"2026-01-01T00:00:04Z\"}\n",
        );
        let projection = || Projection::new(vec![Name::from("k"), Name::from("t")], Some(1), true);
        let read = |part: Part| {
            let mut reader = reader(text.as_bytes(), Format::Json)
                .with_part(part)
                .project(projection());
            assert!(reader.projects());
            let mut out = Vec::new();
            while let Some(item) = reader.next_projected().expect("reads") {
                out.push(item);
            }
            out
        };
        let at = |s: &str| DateTime::parse(s).expect("a time");
        let whole = read(Part::WHOLE);
        assert_eq!(whole.len(), 4, "{whole:?}");
        match &whole[0] {
            Projected::Values { values, time } => {
                assert_eq!(values[0], Value::Bigint(1));
                assert_eq!(*time, Some(at("2026-01-01T00:00:01Z")));
            }
            other => panic!("{other:?}"),
        }
        // A bad time: the whole row, for the feed to reject.
        assert!(
            matches!(&whole[1], Projected::Row(Ok(row)) if row.get("t") == Some(&Value::str("soon")))
        );
        // Bad JSON: the bad event, as without a projection.
        assert!(matches!(&whole[2], Projected::Row(Err(bad)) if bad.position == "line 4"));
        assert!(
            matches!(&whole[3], Projected::Values { values, .. } if values[0] == Value::Bigint(4))
        );
        // Two parts: events 0 and 2, then 1 and 3.
        let first = read(Part { index: 0, parts: 2 });
        let second = read(Part { index: 1, parts: 2 });
        assert_eq!(first.len() + second.len(), 4);
        assert!(matches!(&first[1], Projected::Row(Err(_))));
        assert!(matches!(&second[0], Projected::Row(Ok(_))));
        // Without a projection, or for CSV, events come as rows.
        let mut csv = reader(b"k,t\n1,x\n", Format::Csv).project(projection());
        assert!(!csv.projects());
        assert!(matches!(
            csv.next_projected().expect("reads"),
            Some(Projected::Row(Ok(_)))
        ));
    }

    #[test]
    fn json_lines_keep_good_lines_and_report_bad_ones() {
        let items = read_all("{\"a\":1}\n\nnot json\n[1]\n{\"a\":2}\n", Format::Json);
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[0].as_ref().expect("ok").get("a"),
            Some(&Value::Bigint(1))
        );
        let bad = items[1].as_ref().expect_err("bad");
        assert_eq!(bad.position, "line 3");
        assert_eq!(bad.reason, reasons::INVALID_DATA);
        assert_eq!(bad.raw, "not json");
        assert!(items[2]
            .as_ref()
            .expect_err("bad")
            .message
            .contains("expected a JSON object"));
        assert!(items[3].is_ok());
    }

    /// A JSON array and JSON lines decode an object alike, repeated names
    /// (any case) included: first position, last value.
    #[test]
    fn json_arrays_and_lines_decode_repeated_names_alike() {
        let object = r#"{"a":1,"A":2,"b":true,"a":3}"#;
        let lines = read_all(object, Format::Json);
        let array = read_all(&format!("[{object}, {{\"c\":4}}]"), Format::Json);
        let fields = |item: &Decoded| format!("{:?}", item.as_ref().expect("ok").fields());
        assert_eq!(array.len(), 2);
        assert_eq!(fields(&lines[0]), fields(&array[0]));
        assert_eq!(
            lines[0].as_ref().expect("ok").get("a"),
            Some(&Value::Bigint(3))
        );
    }

    /// Every event of `text` read as `part`, with its index among all
    /// parts' events; a bad event as its position.
    fn read_part(text: &str, part: Part) -> Vec<(usize, Result<String, String>)> {
        let mut reader = reader(text.as_bytes(), Format::Json).with_part(part);
        let mut out = Vec::new();
        while let Some(item) = reader.next_event().expect("reads") {
            let item = item
                .map(|row| format!("{:?}", row.fields()))
                .map_err(|bad| bad.position);
            out.push((reader.last_event_index(), item));
        }
        out
    }

    #[test]
    fn a_skipped_line_is_blank_only_if_all_its_chunks_are() {
        // A two-byte buffer: every line spans several chunks.
        let text = "x   \n   \n  \t y\n{}\nlast";
        let mut lines = BufReader::with_capacity(2, io::Cursor::new(text.as_bytes()));
        let mut skipped = Vec::new();
        while let Some(blank) = skip_line(&mut lines).expect("reads") {
            skipped.push(blank);
        }
        assert_eq!(skipped, [false, true, false, false, false]);
    }

    proptest::proptest! {
        /// The parts of a split file are the whole file's events, each
        /// read by exactly one part, at the same index and line: blank
        /// lines count for no part, and a part skips the others' lines
        /// (bad ones included) without reading them.
        #[test]
        fn split_parts_read_the_whole_files_events_once(
            lines in proptest::collection::vec(0usize..6, 0..40),
            final_newline in proptest::bool::ANY,
            parts in 1usize..5,
        ) {
            let choices = ["{\"a\":1}", "", " \t ", "{\"b\":\"x\"}\r", "not json", "  {\"c\":[2]}  "];
            let mut text = lines.iter().map(|&i| choices[i]).collect::<Vec<_>>().join("\n");
            if final_newline && !text.is_empty() {
                text.push('\n');
            }
            let whole = read_part(&text, Part::WHOLE);
            let mut split: Vec<_> = (0..parts)
                .flat_map(|index| read_part(&text, Part { index, parts }))
                .collect();
            split.sort_by_key(|(i, _)| *i);
            proptest::prop_assert_eq!(&split, &whole);
            let indices: Vec<usize> = whole.iter().map(|(i, _)| *i).collect();
            proptest::prop_assert_eq!(indices, (0..whole.len()).collect::<Vec<_>>());
        }
    }

    /// Three events read: `a` = 1, a bad event at `line` whose message
    /// says `says`, then `a` = 3.
    fn assert_good_bad_good(items: &[Decoded], line: &str, says: &str) {
        assert_eq!(items.len(), 3);
        let a = |i: usize| items[i].as_ref().expect("ok").get("a").cloned();
        assert_eq!(a(0), Some(Value::Bigint(1)));
        let bad = items[1].as_ref().expect_err("bad");
        assert_eq!(bad.position, line);
        assert!(bad.message.contains(says), "{}", bad.message);
        assert_eq!(a(2), Some(Value::Bigint(3)));
    }

    #[test]
    fn json_whitespace_around_a_line_is_ignored_and_other_whitespace_is_bad() {
        let items = read_all(
            " \t{\"a\":1}\r\n \t\r\n\u{a0}{\"a\":2}\n{\"a\":3} \n",
            Format::Json,
        );
        assert_good_bad_good(&items, "line 3", "invalid JSON");
    }

    #[test]
    fn a_line_that_is_not_utf8_is_a_bad_event_and_reading_goes_on() {
        let text = b"{\"a\":1}\n{\"a\":\"\xff\"}\n{\"a\":3}\n";
        let items = read_all_bytes(text, Format::Json);
        assert_good_bad_good(&items, "line 2", "not UTF-8");
    }

    #[test]
    fn json_array_is_read_whole() {
        let items = read_all(" [ {\"a\":1}, {\"a\":2} ]", Format::Json);
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[test]
    fn csv_types_fields_by_text_and_reports_wrong_column_counts() {
        let items = read_all(
            "id,temp,name,empty\n1,2.5,abc,\n2,3\n3,1e3,x y,z\n",
            Format::Csv,
        );
        assert_eq!(items.len(), 3);
        let row = items[0].as_ref().expect("ok");
        assert_eq!(row.get("id"), Some(&Value::Bigint(1)));
        assert_eq!(row.get("temp"), Some(&Value::Float(2.5)));
        assert_eq!(row.get("name"), Some(&Value::str("abc")));
        assert_eq!(row.get("empty"), Some(&Value::Null));
        let bad = items[1].as_ref().expect_err("bad");
        assert_eq!(bad.reason, reasons::MISSING_COLUMNS);
        assert_eq!(bad.position, "line 3");
        assert_eq!(
            items[2].as_ref().expect("ok").get("temp"),
            Some(&Value::Float(1000.0))
        );
    }
}
