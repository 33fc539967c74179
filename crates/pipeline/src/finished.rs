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
    /// The audio to transcribe whole (16 kHz mono), for batch mode and uploads.
    pub batch_audio: Option<Vec<i16>>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
