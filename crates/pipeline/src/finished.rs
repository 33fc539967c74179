//! A conversation on its way from its close to `conversation.complete`.

use chronicle_plugin_api::EndReason;

/// A conversation that has just been completed in the store.
#[derive(Debug)]
pub struct Finished {
    pub conversation_id: String,
    pub user_id: String,
    pub client_id: String,
    pub end_reason: EndReason,
    /// Seconds of audio.
    pub duration: f64,
    /// The audio to transcribe whole, for batch mode, uploads and recordings a killed process
    /// left untranscribed.
    pub batch_audio: Option<BatchAudio>,
}

/// A whole recording to transcribe, 16 kHz mono.
#[derive(Debug)]
pub enum BatchAudio {
    /// Held in memory (a batch-mode session's conversation).
    Samples(Vec<i16>),
    /// A WAV file read a piece at a time (an upload, a recording stored before a crash).
    File(std::path::PathBuf),
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
