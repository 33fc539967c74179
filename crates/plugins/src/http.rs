//! The HTTP client of the plugins that call outside services, built on first use.

use std::sync::OnceLock;

use chronicle_plugin_api::PluginError;

/// A client built once, on first use (or at `initialize`), not when settings are read.
pub(crate) type LazyClient = OnceLock<Result<reqwest::Client, String>>;

/// The client in `cell`, built with `configure` the first time; a build failure is the
/// plugin's broken configuration.
pub(crate) fn client(
    cell: &LazyClient,
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<&reqwest::Client, PluginError> {
    cell.get_or_init(|| {
        crate::support::install_crypto_provider();
        configure(reqwest::Client::builder())
            .build()
            .map_err(|error| error.to_string())
    })
    .as_ref()
    .map_err(|error| PluginError::broken(format!("cannot build the HTTP client: {error}")))
}

/// A transport failure in words, with its innermost cause (`cannot connect: invalid peer
/// certificate: UnknownIssuer`, `error sending request: connection reset by peer`), since
/// the cause is what tells how to fix it.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        error.to_string()
    };
    match root_cause(error) {
        Some(cause) if !what.contains(&cause) => format!("{what}: {cause}"),
        _ => what,
    }
}

/// The innermost error under `error`, when there is one.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = error.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

/// Whether `described` (a failure as [`describe`] puts it) is a failed TLS handshake or
/// certificate check: something the settings must fix, not an outage.
pub(crate) fn is_tls_failure_text(described: &str) -> bool {
    ["certificate", "Certificate", "TLS", "handshake"]
        .iter()
        .any(|word| described.contains(word))
}
