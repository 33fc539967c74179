//! The JSON side of `chronicle.audio.v2`: [`ClientControl`] and [`ServerControl`], one per
//! TEXT frame, in proto3 JSON with the field names of `proto/chronicle_audio_v2.proto`.
//!
//! Read as a proto3 JSON parser reads (`proto_json.rs`): lowerCamelCase names are taken too,
//! enums by name or number, 64-bit integers as strings or numbers; unknown fields are refused,
//! as the original server refuses them. Written as the original writes: proto field names,
//! fields at their default left out. What each message must hold beyond its shape is checked
//! in `validate.rs`.

use serde::{Deserialize, Serialize};

/// Declares a control message: `$control` (`event_id`, `sent_at` and its `event` oneof,
/// `$event`), and the private `ControlFields` through which serde reads and writes it.
///
/// proto3 JSON has no oneof: each member is a field of its own, listed here as
/// `(field, "lowerCamelCase", Variant, Message)` in the proto's order, which is the order
/// they are written in. Reading takes exactly one of them; writing sets the one the event is.
macro_rules! control {
    (
        $(#[$control_doc:meta])* $control:ident,
        $(#[$event_doc:meta])* $event:ident {
            $(($field:ident, $alias:literal, $variant:ident, $message:ty),)+
        }
    ) => {
        $(#[$control_doc])*
        #[derive(Clone, Debug, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "ControlFields", into = "ControlFields")]
        pub struct $control {
            pub event_id: Option<$crate::ws_audio::schema::Id>,
            pub sent_at: Option<$crate::ws_audio::schema::Timestamp>,
            pub event: $event,
        }

        $(#[$event_doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub enum $event {
            $($variant($message),)+
        }

        impl $control {
            /// A control with a fresh event id, sent now.
            pub fn now(event: $event) -> Self {
                Self {
                    event_id: Some($crate::ws_audio::schema::Id::new(
                        ::uuid::Uuid::new_v4().to_string(),
                    )),
                    sent_at: Some($crate::ws_audio::schema::Timestamp::now()),
                    event,
                }
            }

            /// Reads one TEXT frame.
            pub fn from_json(text: &str) -> Result<Self, ::serde_json::Error> {
                ::serde_json::from_str(text)
            }

            /// The TEXT frame for this control.
            pub fn to_json(&self) -> String {
                ::serde_json::to_string(self).unwrap_or_default()
            }
        }

        /// The control as JSON has it: each oneof member a field of its own.
        #[derive(Default, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ControlFields {
            #[serde(default, skip_serializing_if = "Option::is_none", alias = "eventId")]
            event_id: Option<$crate::ws_audio::schema::Id>,
            #[serde(default, skip_serializing_if = "Option::is_none", alias = "sentAt")]
            sent_at: Option<$crate::ws_audio::schema::Timestamp>,
            $(
                #[serde(default, skip_serializing_if = "Option::is_none", alias = $alias)]
                $field: Option<$message>,
            )+
        }

        impl TryFrom<ControlFields> for $control {
            type Error = String;

            fn try_from(fields: ControlFields) -> Result<Self, String> {
                let events = [$(fields.$field.map($event::$variant),)+];
                let event = $crate::ws_audio::controls::exactly_one(events, stringify!($control))?;
                Ok(Self {
                    event_id: fields.event_id,
                    sent_at: fields.sent_at,
                    event,
                })
            }
        }

        impl From<$control> for ControlFields {
            fn from(control: $control) -> Self {
                let mut fields = ControlFields {
                    event_id: control.event_id,
                    sent_at: control.sent_at,
                    ..Self::default()
                };
                match control.event {
                    $($event::$variant(event) => fields.$field = Some(event),)+
                }
                fields
            }
        }
    };
}

// After the macro: `macro_rules!` is in scope only below its definition.
mod client;
mod server;

pub use client::*;
pub use server::*;

use super::enums::{AudioCodec, DuplexMode, InputRoute, OutputRoute};
use super::proto_json::message;
use super::schema::Duration;

/// The largest TEXT frame taken: one control message.
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;

message! {
    /// An audio format.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct AudioSpec {
        pub codec: AudioCodec,
        pub sample_rate_hz "sampleRateHz": u32,
        pub channel_count "channelCount": u32,
        pub frame_duration "frameDuration": Option<Duration>,
        pub bitrate_bps "bitrateBps": u32,
    }
}

impl AudioSpec {
    /// Opus, mono, at `rate` Hz in packets of `frame_ms` milliseconds.
    pub fn opus(rate: u32, frame_ms: u32, bitrate_bps: u32) -> Self {
        Self {
            codec: AudioCodec::Opus,
            sample_rate_hz: rate,
            channel_count: 1,
            frame_duration: Some(Duration::from_millis(frame_ms)),
            bitrate_bps,
        }
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct EffectStatus {
        pub requested: bool,
        pub available: bool,
        pub enabled: bool,
    }
}

message! {
    /// What the device's audio path can do.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct CaptureCapabilities {
        pub duplex_mode "duplexMode": DuplexMode,
        pub input_route "inputRoute": InputRoute,
        pub output_route "outputRoute": OutputRoute,
        pub native_sample_rate_hz "nativeSampleRateHz": u32,
        pub acoustic_echo_cancellation "acousticEchoCancellation": Option<EffectStatus>,
        pub noise_suppression "noiseSuppression": Option<EffectStatus>,
    }
}

/// The one member a oneof holds.
fn exactly_one<T, const N: usize>(members: [Option<T>; N], message: &str) -> Result<T, String> {
    let mut present = members.into_iter().flatten();
    match (present.next(), present.next()) {
        (Some(member), None) => Ok(member),
        (None, _) => Err(format!(
            "a {message} must hold one event; this one holds none"
        )),
        (Some(_), Some(_)) => Err(format!(
            "a {message} must hold one event; this one holds several"
        )),
    }
}

#[cfg(test)]
mod tests;
