//! Audio for Chronicle: decoding uploads, resampling to 16 kHz mono, Opus, WAV recording.
