//! proto3 JSON's rules for scalars, as serde helpers for the control messages.
//!
//! - A field at its default (0, `""`, `false`, an enum's UNSPECIFIED, an empty list) is left
//!   out when writing ([`is_default`]); `null` reads as the default ([`or_default`]).
//! - 64-bit integers are written as strings and read from strings or numbers ([`uint64`]);
//!   32-bit ones are written as numbers and read from either ([`uint32`]).
//! - `google.protobuf.Timestamp` is an RFC 3339 string, `google.protobuf.Duration` a decimal
//!   number of seconds with an `s` (`"0.020s"`); both are prost messages in [`super::schema`].

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::schema::{Duration, Timestamp};

/// Whether a field is at its default, so proto3 JSON leaves it out.
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Reads a field whose `null` means its default.
pub fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads an unsigned integer of at most `max` from a number, a decimal string or `null`.
struct Unsigned {
    max: u64,
}

impl Visitor<'_> for Unsigned {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "an integer from 0 to {} (a number or a string)",
            self.max
        )
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<u64, E> {
        if number <= self.max {
            Ok(number)
        } else {
            Err(E::custom(format!("{number} is larger than {}", self.max)))
        }
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<u64, E> {
        u64::try_from(number)
            .map_err(|_| E::custom(format!("{number} is negative")))
            .and_then(|number| self.visit_u64(number))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<u64, E> {
        // proto3 JSON takes `5.0` for 5; 2^64 is where f64 stops holding u64s exactly.
        if number.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&number) {
            self.visit_u64(number as u64)
        } else {
            Err(E::custom(format!("{number} is not an unsigned integer")))
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        text.parse::<u64>()
            .map_err(|_| E::custom(format!("`{text}` is not an unsigned integer")))
            .and_then(|number| self.visit_u64(number))
    }

    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }
}

/// `uint64` fields: written as strings, read from strings or numbers.
pub mod uint64 {
    use super::*;

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(Unsigned { max: u64::MAX })
    }
}

/// `uint32` fields: written as numbers, read from numbers or strings.
pub mod uint32 {
    use super::*;

    pub fn serialize<S: Serializer>(value: &u32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(*value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        let number = deserializer.deserialize_any(Unsigned {
            max: u64::from(u32::MAX),
        })?;
        u32::try_from(number).map_err(de::Error::custom)
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
