//! proto3 JSON's rules for scalars, as serde helpers for the control messages.
//!
//! - A field at its default (0, `""`, `false`, an enum's UNSPECIFIED, an empty list) is left
//!   out when writing ([`is_default`]); `null` reads as the default ([`or_default`]).
//! - 64-bit integers are written as strings and read from strings or numbers ([`uint64`]);
//!   32-bit ones are written as numbers and read from either ([`uint32`]).
//!
//! `google.protobuf.Timestamp` and `Duration` have their own JSON forms, in `well_known.rs`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

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
