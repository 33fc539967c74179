//! The two well-known protobuf types the protocol uses, `google.protobuf.Timestamp` and
//! `google.protobuf.Duration`: prost messages in binary, strings in proto3 JSON (RFC 3339 for a
//! timestamp, a decimal number of seconds with an `s` for a duration, `"0.020s"`).

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// `google.protobuf.Timestamp`: an RFC 3339 string in JSON (`proto_json.rs`).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    pub fn now() -> Self {
        let now = jiff::Timestamp::now();
        Self {
            seconds: now.as_second(),
            nanos: now.subsec_nanosecond(),
        }
    }
}

/// `google.protobuf.Duration`: `"0.020s"` in JSON (`proto_json.rs`).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Duration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Duration {
    /// A duration of `millis` milliseconds.
    pub fn from_millis(millis: u32) -> Self {
        Self {
            seconds: i64::from(millis / 1000),
            nanos: i32::try_from(millis % 1000 * 1_000_000).unwrap_or(0),
        }
    }

    /// The duration in whole milliseconds, if it is a non-negative whole number of them.
    pub fn whole_millis(&self) -> Option<u64> {
        let seconds = u64::try_from(self.seconds).ok()?;
        let nanos = u64::try_from(self.nanos).ok()?;
        nanos
            .is_multiple_of(1_000_000)
            .then(|| seconds * 1000 + nanos / 1_000_000)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let timestamp = jiff::Timestamp::new(self.seconds, self.nanos)
            .map_err(|error| serde::ser::Error::custom(format!("invalid timestamp: {error}")))?;
        serializer.collect_str(&timestamp)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let timestamp: jiff::Timestamp = text.parse().map_err(|error| {
            de::Error::custom(format!("`{text}` is not an RFC 3339 timestamp: {error}"))
        })?;
        Ok(Timestamp {
            seconds: timestamp.as_second(),
            nanos: timestamp.subsec_nanosecond(),
        })
    }
}

/// The longest Duration proto3 allows, about 10,000 years.
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let negative = self.seconds < 0 || self.nanos < 0;
        let seconds = self.seconds.unsigned_abs();
        let nanos = self.nanos.unsigned_abs();
        let sign = if negative { "-" } else { "" };
        // 0, 3, 6 or 9 fractional digits, as proto3 JSON writes them.
        let text = if nanos == 0 {
            format!("{sign}{seconds}s")
        } else if nanos.is_multiple_of(1_000_000) {
            format!("{sign}{seconds}.{:03}s", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{sign}{seconds}.{:06}s", nanos / 1_000)
        } else {
            format!("{sign}{seconds}.{nanos:09}s")
        };
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .ok_or_else(|| de::Error::custom(format!("`{text}` is not a duration like \"0.020s\"")))
    }
}

/// `"-1.5s"`, `"0.020s"`, `"3s"`: seconds with up to nine fractional digits.
fn parse_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    if number.ends_with('.') {
        return None;
    }
    let seconds: i64 = whole.parse().ok().filter(|s| *s <= MAX_DURATION_SECONDS)?;
    let nanos: i32 = format!("{fraction:0<9}").parse().ok()?;
    Some(if negative {
        Duration {
            seconds: -seconds,
            nanos: -nanos,
        }
    } else {
        Duration { seconds, nanos }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_as_proto3_json_does() {
        for (text, seconds, nanos) in [
            ("0.020s", 0, 20_000_000),
            ("0.060s", 0, 60_000_000),
            ("3s", 3, 0),
            ("1.000001s", 1, 1_000),
            ("-1.5s", -1, -500_000_000),
            ("0.000000001s", 0, 1),
        ] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(
                (duration.seconds, duration.nanos),
                (seconds, nanos),
                "{text}"
            );
            let written = serde_json::to_value(duration).unwrap();
            let expected = match text {
                "-1.5s" => "-1.500s",
                other => other,
            };
            assert_eq!(written, expected);
        }
        for bad in [
            "",
            "s",
            "1",
            ".5s",
            "1.s",
            "1.0000000001s",
            "1e3s",
            "+1s",
            "1 s",
        ] {
            assert!(parse_duration(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_rfc_3339_with_any_offset() {
        let read: Timestamp = serde_json::from_str("\"2026-01-02T03:04:05.250+01:00\"").unwrap();
        assert_eq!(read.nanos, 250_000_000);
        assert_eq!(
            serde_json::to_value(read).unwrap(),
            "2026-01-02T02:04:05.25Z"
        );
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("1700000000").is_err());
    }
}
