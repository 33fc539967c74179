//! Where the pipeline's events go: [`Plugins`], the plugin host in service (the server swaps
//! it on reload).

use std::sync::Arc;

use chronicle_plugin_api::async_trait;
use chronicle_plugin_host::{DispatchRecord, DispatchRequest, PluginHost};

/// Where events go: the plugin host in service (the server swaps it on reload).
#[async_trait]
pub trait Plugins: Send + Sync {
    /// Runs `request` through its chain.
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord>;
    /// The wake words and keywords of the enabled plugins, for keyword boosting.
    fn asr_keywords(&self) -> Vec<String>;
    /// The host in service now, for the durable dispatcher.
    fn host(&self) -> PluginHost;
}

#[async_trait]
impl Plugins for PluginHost {
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        PluginHost::dispatch(self, request).await
    }

    fn asr_keywords(&self) -> Vec<String> {
        PluginHost::asr_keywords(self)
    }

    fn host(&self) -> PluginHost {
        self.clone()
    }
}

#[async_trait]
impl Plugins for arc_swap::ArcSwap<PluginHost> {
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        self.load_full().dispatch(request).await
    }

    fn asr_keywords(&self) -> Vec<String> {
        self.load().asr_keywords()
    }

    fn host(&self) -> PluginHost {
        PluginHost::clone(&self.load())
    }
}
