//! Reference files chosen by the time in their path, as ASA's
//! `{date}/{time}` path patterns (ASA-SEMANTICS.md §8): the file used is the
//! newest one whose encoded time is at or before now; a file dated in the
//! future is not used before its time.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use regex::Regex;

use crate::types::DateTime;

/// A path with `{date}` and/or `{time}` tokens.
#[derive(Clone, Debug)]
pub struct PathPattern {
    root: PathBuf,
    regex: Regex,
    date_format: String,
    time_format: String,
}

/// ASA's format tokens as a regex fragment and a chrono format.
fn translate(format: &str) -> (String, String) {
    let mut regex = String::new();
    let mut chrono = String::new();
    let mut rest = format;
    while !rest.is_empty() {
        let token = ["yyyy", "MM", "dd", "HH", "mm"]
            .iter()
            .find(|t| rest.starts_with(**t));
        match token {
            Some(t) => {
                regex.push_str(if *t == "yyyy" { r"\d{4}" } else { r"\d{2}" });
                chrono.push_str(match *t {
                    "yyyy" => "%Y",
                    "MM" => "%m",
                    "dd" => "%d",
                    "HH" => "%H",
                    _ => "%M",
                });
                rest = &rest[t.len()..];
            }
            None => {
                let c = rest.chars().next().unwrap_or('/');
                regex.push_str(&regex::escape(&c.to_string()));
                chrono.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    (regex, chrono)
}

impl PathPattern {
    /// A pattern if `path` has `{date}` or `{time}`; `date_format` is like
    /// `yyyy/MM/dd`, `time_format` like `HH` or `HH-mm`.
    pub fn parse(path: &Path, date_format: &str, time_format: &str) -> Option<PathPattern> {
        let text = path.to_string_lossy();
        if !text.contains("{date}") && !text.contains("{time}") {
            return None;
        }
        let first = text.find('{')?;
        let root = PathBuf::from(text[..first].rsplit_once('/').map_or(".", |(dir, _)| dir));
        let (date_regex, date_chrono) = translate(date_format);
        let (time_regex, time_chrono) = translate(time_format);
        let mut pattern = String::from("^");
        let mut rest: &str = &text;
        while let Some(at) = rest.find('{') {
            pattern.push_str(&regex::escape(&rest[..at]));
            let after = &rest[at..];
            if let Some(tail) = after.strip_prefix("{date}") {
                pattern.push_str(&format!("(?P<date>{date_regex})"));
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("{time}") {
                pattern.push_str(&format!("(?P<time>{time_regex})"));
                rest = tail;
            } else {
                pattern.push_str(&regex::escape("{"));
                rest = &after[1..];
            }
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push('$');
        Some(PathPattern {
            root,
            regex: Regex::new(&pattern).ok()?,
            date_format: date_chrono,
            time_format: time_chrono,
        })
    }

    /// The newest matching file whose encoded time is at or before `now`.
    pub fn latest(&self, now: DateTime) -> Option<(PathBuf, DateTime)> {
        let mut best: Option<(PathBuf, DateTime)> = None;
        let mut pending = vec![self.root.clone()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let Some(at) = self.encoded_time(&path) else {
                    continue;
                };
                if at <= now && best.as_ref().is_none_or(|(_, b)| at > *b) {
                    best = Some((path, at));
                }
            }
        }
        best
    }

    fn encoded_time(&self, path: &Path) -> Option<DateTime> {
        let text = path.to_string_lossy();
        let captures = self.regex.captures(&text)?;
        let date = captures.name("date").map_or("1970/01/01", |m| m.as_str());
        let date_format = if captures.name("date").is_some() {
            self.date_format.as_str()
        } else {
            "%Y/%m/%d"
        };
        let time = captures.name("time").map_or("00", |m| m.as_str());
        let time_format = if captures.name("time").is_some() {
            self.time_format.as_str()
        } else {
            "%H"
        };
        // Fill the parts a format leaves out (minutes, seconds) with zeros.
        let mut stamp = format!("{date} {time}");
        let mut format = format!("{date_format} {time_format}");
        if !format.contains("%M") {
            stamp.push_str(":00");
            format.push_str(":%M");
        }
        stamp.push_str(":00");
        format.push_str(":%S");
        NaiveDateTime::parse_from_str(&stamp, &format)
            .ok()
            .map(DateTime::from_chrono)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_file_not_in_the_future_is_chosen() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (date, hour) in [
            ("2024/01/01", "00"),
            ("2024/01/02", "07"),
            ("2999/01/01", "00"),
        ] {
            let folder = dir.path().join(date).join(hour);
            std::fs::create_dir_all(&folder).expect("mkdir");
            std::fs::write(folder.join("devices.csv"), "id\n1\n").expect("write");
        }
        std::fs::write(dir.path().join("2024/01/03-not-a-match.csv"), "").expect("write");
        let pattern = PathPattern::parse(
            &dir.path().join("{date}/{time}/devices.csv"),
            "yyyy/MM/dd",
            "HH",
        )
        .expect("a pattern");
        let now = DateTime::parse("2024-06-01T00:00:00Z").expect("now");
        let (path, at) = pattern.latest(now).expect("a file");
        assert!(path.ends_with("2024/01/02/07/devices.csv"), "{path:?}");
        assert_eq!(at.to_iso(), "2024-01-02T07:00:00.0000000Z");
        let early = DateTime::parse("2023-01-01T00:00:00Z").expect("early");
        assert!(pattern.latest(early).is_none());
        assert!(PathPattern::parse(Path::new("plain.csv"), "yyyy/MM/dd", "HH").is_none());
    }
}
