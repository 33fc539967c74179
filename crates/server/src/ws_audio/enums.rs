//! The enums of `chronicle.audio.v2`, with their proto numbers and names.
//!
//! In protobuf binary an enum is its number (prost's `Enumeration`); in proto3 JSON it is its
//! name (`"DELIVERY_CLASS_LIVE"`), and parsers take the number too. Each enum's first member
//! is its `*_UNSPECIFIED = 0` default, which JSON leaves out.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::proto_json::Field;

/// Declares a proto enum: prost's derive for binary, names for JSON.
macro_rules! proto_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $number:literal => $proto:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum $name {
            $($variant = $number,)+
        }

        impl $name {
            /// The name proto3 JSON uses.
            pub const fn as_str_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $proto,)+
                }
            }

            /// The member named `name` in proto3 JSON.
            pub fn from_str_name(name: &str) -> Option<Self> {
                match name {
                    $($proto => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str_name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(EnumVisitor::<$name>::new(stringify!($name)))
            }
        }

        /// A field's enum: written by name, read by name or number, `null` as UNSPECIFIED.
        impl Field for $name {}

        impl ProtoEnum for $name {
            fn from_name(name: &str) -> Option<Self> {
                Self::from_str_name(name)
            }
            fn from_number(number: i32) -> Option<Self> {
                Self::try_from(number).ok()
            }
        }
    };
}

/// What the JSON reader needs of every proto enum.
trait ProtoEnum: Sized {
    fn from_name(name: &str) -> Option<Self>;
    fn from_number(number: i32) -> Option<Self>;
}

/// Reads a member by name or by number; anything else names the enum in its error.
struct EnumVisitor<T> {
    enum_name: &'static str,
    member: std::marker::PhantomData<T>,
}

impl<T> EnumVisitor<T> {
    fn new(enum_name: &'static str) -> Self {
        Self {
            enum_name,
            member: std::marker::PhantomData,
        }
    }
}

impl<T: ProtoEnum> Visitor<'_> for EnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} name or number", self.enum_name)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<T, E> {
        T::from_name(name).ok_or_else(|| E::custom(format!("unknown {} `{name}`", self.enum_name)))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<T, E> {
        i32::try_from(number)
            .ok()
            .and_then(T::from_number)
            .ok_or_else(|| E::custom(format!("unknown {} number {number}", self.enum_name)))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<T, E> {
        self.visit_i64(i64::try_from(number).unwrap_or(i64::MAX))
    }
}

proto_enum!(
    /// How audio is encoded.
    AudioCodec {
        Unspecified = 0 => "AUDIO_CODEC_UNSPECIFIED",
        Opus = 1 => "AUDIO_CODEC_OPUS",
        PcmS16le = 2 => "AUDIO_CODEC_PCM_S16LE",
    }
);

proto_enum!(
    /// Whether packets are live or resent from a device's spool.
    DeliveryClass {
        Unspecified = 0 => "DELIVERY_CLASS_UNSPECIFIED",
        Live = 1 => "DELIVERY_CLASS_LIVE",
        Recovered = 2 => "DELIVERY_CLASS_RECOVERED",
    }
);

proto_enum!(
    /// What kind of device connects.
    DeviceKind {
        Unspecified = 0 => "DEVICE_KIND_UNSPECIFIED",
        IosPhone = 1 => "DEVICE_KIND_IOS_PHONE",
        AndroidPhone = 2 => "DEVICE_KIND_ANDROID_PHONE",
        WebBrowser = 3 => "DEVICE_KIND_WEB_BROWSER",
        Omi = 4 => "DEVICE_KIND_OMI",
        Neo = 5 => "DEVICE_KIND_NEO",
        Havpe = 6 => "DEVICE_KIND_HAVPE",
        Screenpipe = 7 => "DEVICE_KIND_SCREENPIPE",
        Probe = 8 => "DEVICE_KIND_PROBE",
    }
);

proto_enum!(
    /// How the device processed the audio it captures.
    ProcessingProfile {
        Unspecified = 0 => "PROCESSING_PROFILE_UNSPECIFIED",
        Ambient = 1 => "PROCESSING_PROFILE_AMBIENT",
        SourceNative = 2 => "PROCESSING_PROFILE_SOURCE_NATIVE",
        DuplexAec = 3 => "PROCESSING_PROFILE_DUPLEX_AEC",
        DuplexIsolated = 4 => "PROCESSING_PROFILE_DUPLEX_ISOLATED",
        HalfDuplex = 5 => "PROCESSING_PROFILE_HALF_DUPLEX",
        Imported = 6 => "PROCESSING_PROFILE_IMPORTED",
    }
);

proto_enum!(
    /// What a capture is for.
    DataPurpose {
        Unspecified = 0 => "DATA_PURPOSE_UNSPECIFIED",
        NormalCapture = 1 => "DATA_PURPOSE_NORMAL_CAPTURE",
        Annotation = 2 => "DATA_PURPOSE_ANNOTATION",
    }
);

proto_enum!(
    /// Whether the device can listen while it plays.
    DuplexMode {
        Unspecified = 0 => "DUPLEX_MODE_UNSPECIFIED",
        Full = 1 => "DUPLEX_MODE_FULL",
        Isolated = 2 => "DUPLEX_MODE_ISOLATED",
        Half = 3 => "DUPLEX_MODE_HALF",
    }
);

proto_enum!(
    /// Where the device's audio comes from.
    InputRoute {
        Unspecified = 0 => "INPUT_ROUTE_UNSPECIFIED",
        BuiltInMic = 1 => "INPUT_ROUTE_BUILT_IN_MIC",
        BluetoothHfp = 2 => "INPUT_ROUTE_BLUETOOTH_HFP",
        WiredMic = 3 => "INPUT_ROUTE_WIRED_MIC",
        Usb = 4 => "INPUT_ROUTE_USB",
        Remote = 5 => "INPUT_ROUTE_REMOTE",
    }
);

proto_enum!(
    /// Where the device plays audio.
    OutputRoute {
        Unspecified = 0 => "OUTPUT_ROUTE_UNSPECIFIED",
        Speakerphone = 1 => "OUTPUT_ROUTE_SPEAKERPHONE",
        Earpiece = 2 => "OUTPUT_ROUTE_EARPIECE",
        Headphones = 3 => "OUTPUT_ROUTE_HEADPHONES",
        BluetoothHfp = 4 => "OUTPUT_ROUTE_BLUETOOTH_HFP",
        Usb = 5 => "OUTPUT_ROUTE_USB",
        Remote = 6 => "OUTPUT_ROUTE_REMOTE",
    }
);

proto_enum!(
    /// Why a capture or a playback stops.
    StopReason {
        Unspecified = 0 => "STOP_REASON_UNSPECIFIED",
        UserRequested = 1 => "STOP_REASON_USER_REQUESTED",
        AudioDisconnect = 2 => "STOP_REASON_AUDIO_DISCONNECT",
        InteractionComplete = 3 => "STOP_REASON_INTERACTION_COMPLETE",
        TemporarilyUnavailable = 4 => "STOP_REASON_TEMPORARILY_UNAVAILABLE",
    }
);

proto_enum!(
    /// Where a device is with a playback.
    PlaybackState {
        Unspecified = 0 => "PLAYBACK_STATE_UNSPECIFIED",
        Started = 1 => "PLAYBACK_STATE_STARTED",
        Done = 2 => "PLAYBACK_STATE_DONE",
        Cancelled = 3 => "PLAYBACK_STATE_CANCELLED",
        Failed = 4 => "PLAYBACK_STATE_FAILED",
    }
);

proto_enum!(
    /// A press of the device's button.
    ButtonState {
        Unspecified = 0 => "BUTTON_STATE_UNSPECIFIED",
        SinglePress = 1 => "BUTTON_STATE_SINGLE_PRESS",
        DoublePress = 2 => "BUTTON_STATE_DOUBLE_PRESS",
        LongPress = 3 => "BUTTON_STATE_LONG_PRESS",
    }
);

proto_enum!(
    /// Why the server refused a message.
    ProtocolErrorCode {
        Unspecified = 0 => "PROTOCOL_ERROR_CODE_UNSPECIFIED",
        AuthenticationFailed = 1 => "PROTOCOL_ERROR_CODE_AUTHENTICATION_FAILED",
        InvalidTransition = 2 => "PROTOCOL_ERROR_CODE_INVALID_TRANSITION",
        InvalidMedia = 3 => "PROTOCOL_ERROR_CODE_INVALID_MEDIA",
        StaleBinding = 4 => "PROTOCOL_ERROR_CODE_STALE_BINDING",
        UnsupportedAudioFormat = 5 => "PROTOCOL_ERROR_CODE_UNSUPPORTED_AUDIO_FORMAT",
        MessageTooLarge = 6 => "PROTOCOL_ERROR_CODE_MESSAGE_TOO_LARGE",
        Internal = 7 => "PROTOCOL_ERROR_CODE_INTERNAL",
    }
);

impl ButtonState {
    /// The state as `/ws` devices and plugins name it (`SINGLE_PRESS`, …); none for
    /// UNSPECIFIED.
    pub fn press_name(self) -> Option<&'static str> {
        match self {
            ButtonState::Unspecified => None,
            ButtonState::SinglePress => Some("SINGLE_PRESS"),
            ButtonState::DoublePress => Some("DOUBLE_PRESS"),
            ButtonState::LongPress => Some("LONG_PRESS"),
        }
    }
}
