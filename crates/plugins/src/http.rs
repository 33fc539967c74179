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
        // reqwest's rustls is built without a crypto provider: the process chooses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        configure(reqwest::Client::builder())
            .build()
            .map_err(|error| error.to_string())
    })
    .as_ref()
    .map_err(|error| PluginError::broken(format!("cannot build the HTTP client: {error}")))
}
