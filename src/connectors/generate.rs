//! A deterministic event generator, for examples and benchmarks that need
//! no files: `kind = "generate"` in a job file.
//!
//! Event `i` has `key` (bigint, `i * 2654435761 mod keys`), `value`
//! (bigint, `i * 7919 mod 1000`) and `ts` (a datetime `i / rate` seconds
//! after `start`, moved back by up to `disorder_ms` for a pseudo-random
//! share of the events, so the stream is out of order within that bound).
//! The same settings always give the same stream.

use crate::types::{DateTime, Name, Record, Row, Value, TICKS_PER_SECOND};

/// Generator settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorSpec {
    /// How many events.
    pub events: u64,
    /// How many distinct keys.
    pub keys: u64,
    /// Events per second of event time.
    pub rate: u64,
    /// Largest backwards jitter of an event's time, in milliseconds.
    pub disorder_ms: u64,
    /// Time of the first event.
    pub start: DateTime,
}

/// The generated stream.
pub struct Generator {
    spec: GeneratorSpec,
    next: u64,
    step: u64,
    names: [Name; 3],
}

impl Generator {
    /// A generator at its first event.
    pub fn new(spec: GeneratorSpec) -> Self {
        Generator::part(spec, 0, 1)
    }

    /// Only events `index`, `index + parts`, … (one worker's share).
    pub fn part(spec: GeneratorSpec, index: u64, parts: u64) -> Self {
        Generator {
            spec,
            next: index,
            step: parts.max(1),
            names: [Name::from("key"), Name::from("value"), Name::from("ts")],
        }
    }

    /// The next event, `None` after the last.
    pub fn next_row(&mut self) -> Option<Row> {
        if self.next >= self.spec.events {
            return None;
        }
        let i = self.next;
        self.next += self.step;
        let keys = self.spec.keys.max(1);
        let key = (i.wrapping_mul(2_654_435_761)) % keys;
        let value = (i.wrapping_mul(7919)) % 1000;
        let rate = self.spec.rate.max(1);
        let offset = i128::from(i) * i128::from(TICKS_PER_SECOND) / i128::from(rate);
        let mut ticks = self.spec.start.ticks().saturating_add(offset as i64);
        let mix = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        if self.spec.disorder_ms > 0 && mix.is_multiple_of(4) {
            let jitter = (mix % (self.spec.disorder_ms + 1)) as i64 * 10_000;
            ticks = ticks.saturating_sub(jitter);
        }
        let mut row = Record::with_capacity(3);
        row.push_unchecked(self.names[0].clone(), Value::Bigint(key as i64));
        row.push_unchecked(self.names[1].clone(), Value::Bigint(value as i64));
        row.push_unchecked(self.names[2].clone(), Value::DateTime(DateTime(ticks)));
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_deterministic_and_bounded_in_disorder() {
        let spec = GeneratorSpec {
            events: 10_000,
            keys: 10,
            rate: 1000,
            disorder_ms: 50,
            start: DateTime(0),
        };
        let collect = || {
            let mut g = Generator::new(spec.clone());
            std::iter::from_fn(move || g.next_row()).collect::<Vec<_>>()
        };
        let a = collect();
        assert_eq!(a, collect());
        assert_eq!(a.len(), 10_000);
        let mut max = i64::MIN;
        for row in &a {
            let Some(Value::DateTime(t)) = row.get("ts") else {
                panic!("ts is a datetime")
            };
            assert!(t.ticks() >= max.saturating_sub(50 * 10_000 + TICKS_PER_SECOND / 1000));
            max = max.max(t.ticks());
        }
    }
}
