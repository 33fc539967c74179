//! The one error type of this crate.

use std::io;

/// Everything that can go wrong while decoding, normalizing, encoding or recording audio.
///
/// The messages are written for the person who sent the audio: an HTTP handler can
/// show them as they are. [`AudioError::is_input_error`] tells a caller whether the
/// fault lies with the input (answer 4xx) or with this machine (answer 5xx).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The bytes are not in a container or codec this crate can read.
    #[error("not a supported audio file (WAV, MP3, FLAC, OGG/Vorbis): {0}")]
    Unsupported(String),

    /// The container was recognised but its content is damaged.
    #[error("the audio file is damaged: {0}")]
    Corrupt(String),

    /// The input is well formed but holds no samples.
    #[error("the file holds no audio")]
    NoAudio,

    /// The file holds (or declares) more audio than one upload may.
    #[error(
        "the file holds {seconds:.0} s of audio, more than the {limit} s one file may have; split it into shorter files"
    )]
    TooLong {
        /// What it holds or declares, or how far decoding got before stopping.
        seconds: f64,
        /// The limit, in seconds.
        limit: u64,
    },

    /// A stream format parameter (rate, sample width, channel count, frame size) is invalid.
    #[error("invalid audio format: {0}")]
    BadFormat(String),

    /// The Opus codec rejected a packet or could not be set up.
    #[error("Opus codec error: {0}")]
    Codec(String),

    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. `could not create /data/a.wav`.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl AudioError {
    /// `true` when the input is to blame (unsupported, damaged, empty or badly described
    /// audio, or an Opus packet that does not decode); `false` for I/O failures.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, AudioError::Io { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        AudioError::Io {
            context: context.into(),
            source,
        }
    }
}
