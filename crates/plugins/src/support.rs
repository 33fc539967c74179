//! What several bundled plugins share: the TLS provider, deadlines, timestamps, JSON objects.

/// Makes ring the process's TLS crypto provider, once: reqwest's and lettre's rustls are built
/// without one, so the process chooses.
#[cfg(any(
    feature = "webhook",
    feature = "slack_notifier",
    feature = "homeassistant",
    feature = "email_summarizer"
))]
pub(crate) fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Another part of the process may have chosen first; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Time kept back from a handler's deadline to record or report what happened.
#[cfg(any(
    feature = "webhook",
    feature = "homeassistant",
    feature = "email_summarizer"
))]
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// The shortest wait for an answer, however close the deadline.
#[cfg(any(feature = "webhook", feature = "homeassistant"))]
pub(crate) const MIN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

/// The handler's time left before `deadline`, less the margin kept to report; zero once past.
#[cfg(any(
    feature = "webhook",
    feature = "homeassistant",
    feature = "email_summarizer"
))]
pub(crate) fn time_left(deadline: std::time::SystemTime) -> std::time::Duration {
    deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(DEADLINE_MARGIN)
}

/// The wait for an answer: the `configured` timeout, cut short to end before the handler's
/// deadline (less the margin), but never below [`MIN_REQUEST_TIMEOUT`].
#[cfg(any(feature = "webhook", feature = "homeassistant"))]
pub(crate) fn request_timeout(
    configured: std::time::Duration,
    deadline: std::time::SystemTime,
) -> std::time::Duration {
    configured.min(time_left(deadline)).max(MIN_REQUEST_TIMEOUT)
}

/// Seconds since the Unix epoch, for timestamps stored with documents.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// A JSON object as a map; any other value is wrapped as `{"value": ...}`.
pub(crate) fn into_object(value: serde_json::Value) -> chronicle_plugin_api::JsonMap {
    match value {
        serde_json::Value::Object(map) => map,
        other => std::iter::once(("value".to_owned(), other)).collect(),
    }
}
