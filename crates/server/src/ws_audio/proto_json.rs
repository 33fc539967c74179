//! proto3 JSON's rules, for the messages of the JSON controls: [`message!`] declares one, and
//! [`Field`] says how each type of field is written and read.
//!
//! - Fields are written under their proto names and read under those or their lowerCamelCase
//!   names; unknown fields are refused.
//! - A field at its default (0, `""`, `false`, an enum's UNSPECIFIED, an empty list, an absent
//!   message) is left out when writing ([`is_default`]); `null` or a missing field reads as
//!   the default.
//! - 64-bit integers are written as strings and read from strings or numbers; 32-bit ones are
//!   written as numbers and read from either.
//!
//! `google.protobuf.Timestamp` and `Duration` have their own JSON forms, in `well_known.rs`.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Declares a message of the JSON controls: a struct whose fields are listed as
/// `pub field "lowerCamelCase": Type` (the name left out where it is the proto name), each read
/// and written by its type's [`Field`] rules, left out at its default, and all of them
/// `#[serde(default)]` so that a missing one is its default. The derives, `Serialize` and
/// `Deserialize` among them, are the caller's.
macro_rules! message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident $($alias:literal)?: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(
                    with = "crate::ws_audio::proto_json::field",
                    skip_serializing_if = "crate::ws_audio::proto_json::is_default"
                    $(, alias = $alias)?
                )]
                pub $field: $ty,
            )*
        }
    };
}
pub(super) use message;

/// Whether a field is at its default, so proto3 JSON leaves it out.
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// How proto3 JSON writes and reads a type of field: by default as serde does, with `null`
/// read as the default.
pub trait Field: Serialize + DeserializeOwned + Default + PartialEq {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<Self>::deserialize(deserializer)?.unwrap_or_default())
    }
}

impl Field for String {}
impl Field for bool {}
impl Field for f32 {}
impl<T: Serialize + DeserializeOwned + PartialEq> Field for Vec<T> {}
/// A message field: absent and `null` are `None`.
impl<T: Serialize + DeserializeOwned + PartialEq> Field for Option<T> {}

/// `uint64`: written as a string, read from a string or a number.
impl Field for u64 {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Unsigned { max: u64::MAX })
    }
}

/// `uint32`: written as a number, read from a number or a string.
impl Field for u32 {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(*self)
    }

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = deserializer.deserialize_any(Unsigned {
            max: u64::from(u32::MAX),
        })?;
        u32::try_from(number).map_err(de::Error::custom)
    }
}

/// The serde `with` module [`message!`] gives every field: its type's [`Field`] rules.
pub mod field {
    use serde::{Deserializer, Serializer};

    use super::Field;

    pub fn serialize<T: Field, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.write(serializer)
    }

    pub fn deserialize<'de, T: Field, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        T::read(deserializer)
    }
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
