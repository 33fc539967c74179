//! Chronicle's core built once, the same way for `chronicle serve` and the offline commands:
//! the providers from the configuration, the plugin host over the store's documents and the
//! live sessions, and the pipeline that feeds it.

use std::sync::Arc;

use arc_swap::ArcSwap;
use chronicle_plugin_api::PluginDescriptor;
use chronicle_plugin_host::delivery::DeliverySettings;
use chronicle_plugin_host::{
    Backends, ConfigErrors, Diagnostic, EventLog, HostConfig, PluginHost, PluginState,
};
use chronicle_store::Store;

use crate::control::SessionControl;
use crate::{Pipeline, PipelineConfig};

/// What to build from.
pub struct Wiring<'a> {
    pub store: Store,
    pub pipeline: &'a PipelineConfig,
    pub host: &'a HostConfig,
    pub registry: &'static [PluginDescriptor],
    /// Where dispatch records go (the server's store and live feed, a CLI run's terminal).
    pub event_log: Arc<dyn EventLog>,
    pub delivery: DeliverySettings,
    /// The devices plugins may reach (`stop_playback`): the server's connections, or none.
    pub devices: Arc<dyn chronicle_host_ports::Devices>,
}

/// What was built.
pub struct Wired {
    pub pipeline: Arc<Pipeline>,
    /// The host in service; the server swaps it on reload.
    pub host: Arc<ArcSwap<PluginHost>>,
    /// What the host stands on, for a reloaded host to stand on the same.
    pub backends: Backends,
    /// What the plugin configuration was accepted with: warnings, notes, and the errors that
    /// each failed one plugin.
    pub diagnostics: Vec<Diagnostic>,
    /// The embeddings server's embedder, when one is configured (the server runs it in the
    /// background; plugins' searches and the server's share it).
    pub embedder: Option<Arc<crate::embeddings::Embedder>>,
}

/// Builds the providers, loads and initializes the plugins, and starts the pipeline (and
/// with it the delivery queue's dispatcher). A refused plugin configuration is the inner
/// error, with every problem located; anything else is the outer one. Says at `info` what it
/// built: the providers, and each configured plugin with its runtime and health.
pub async fn wire(wiring: Wiring<'_>) -> anyhow::Result<Result<Wired, ConfigErrors>> {
    let (transcriber, llm) = wiring.pipeline.build();
    let embedder =
        crate::embeddings::Embedder::configured(wiring.pipeline, &wiring.store).map(Arc::new);
    let (control, requests) = SessionControl::new();
    let backends = Backends {
        conversations: control,
        documents: Arc::new(wiring.store.clone()),
        llm: llm
            .as_ref()
            .map(|model| Arc::new(model.clone()) as Arc<dyn chronicle_host_ports::LanguageModel>),
        event_log: wiring.event_log,
        devices: wiring.devices,
        search: Some(Arc::new(crate::search::StoreSearch {
            store: wiring.store.clone(),
            embedder: embedder.clone(),
        })),
    };
    let loaded = match PluginHost::load(wiring.host, wiring.registry, backends.clone()) {
        Ok(loaded) => loaded,
        Err(errors) => return Ok(Err(errors)),
    };
    loaded.host.initialize().await;
    log_plugins(&loaded.host);
    let host = Arc::new(ArcSwap::from_pointee(loaded.host));
    let pipeline = Pipeline::new(
        wiring.store,
        Arc::clone(&host) as _,
        transcriber,
        llm,
        wiring.pipeline.conversations.clone(),
        wiring.delivery,
    )
    .await?;
    requests.serve(&pipeline);
    tracing::info!("Pipeline: {}.", wiring.pipeline.describe());
    Ok(Ok(Wired {
        pipeline,
        host,
        backends,
        diagnostics: loaded.diagnostics,
        embedder,
    }))
}

/// One line per configured plugin: how it runs and whether it takes events.
fn log_plugins(host: &PluginHost) {
    let configured: Vec<_> = host
        .plugins()
        .into_iter()
        .filter(|p| p.configured)
        .collect();
    if configured.is_empty() {
        tracing::info!("No plugin is configured (config/plugins.yml).");
    }
    for plugin in configured {
        let events: Vec<&str> = plugin.events.iter().map(|e| e.as_str()).collect();
        match (&plugin.error, plugin.status) {
            (Some(error), PluginState::Degraded | PluginState::Failed) => tracing::warn!(
                "Plugin {} ({}): {}: {error}",
                plugin.plugin_id,
                plugin.runtime,
                plugin.status
            ),
            _ => tracing::info!(
                "Plugin {} ({}): {}, events: {}",
                plugin.plugin_id,
                plugin.runtime,
                plugin.status,
                if events.is_empty() {
                    "none".to_owned()
                } else {
                    events.join(", ")
                }
            ),
        }
    }
}
