//! The pipeline without a server, for `chronicle process` and `chronicle replay`: the store,
//! the plugin host from the configuration on disk, the providers from `chronicle.yml` and the
//! environment, and a tap that shows every dispatch as it happens.

use std::process::ExitCode;
use std::sync::Arc;

use chronicle_pipeline::session::plugin_backends;
use chronicle_pipeline::{Pipeline, PipelineConfig, Plugins};
use chronicle_plugin_api::async_trait;
use chronicle_plugin_host::{Backends, DispatchRecord, DispatchRequest, PluginHost};
use chronicle_store::Store;
use serde_json::Value;

use crate::args::Paths;
use crate::plugin::{host_config, print_diagnostics};

/// What a dispatch showed: the data sent and what each plugin did.
pub type Shown = (Value, Arc<DispatchRecord>);

/// The plugin host, with each finished dispatch handed to `show`.
pub struct Tapped {
    host: PluginHost,
    show: Box<dyn Fn(Shown) + Send + Sync>,
}

#[async_trait]
impl Plugins for Tapped {
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        let data = Value::Object(request.data.clone());
        let record = self.host.dispatch(request).await;
        (self.show)((data, Arc::clone(&record)));
        record
    }

    fn asr_keywords(&self) -> Vec<String> {
        self.host.asr_keywords()
    }
}

impl Tapped {
    pub async fn shutdown(&self) {
        self.host.shutdown().await;
    }
}

/// Reads `chronicle.yml` in the configuration folder, then the environment: the process's,
/// then the project's `.env`.
pub fn pipeline_config(paths: &Paths) -> anyhow::Result<PipelineConfig> {
    let dotenv = chronicle_plugin_host::env::read_dotenv(&paths.env_file).unwrap_or_default();
    let lookup = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| dotenv.get(name).cloned())
    };
    let path = chronicle_pipeline::config::default_path(&paths.config_dir);
    PipelineConfig::load(&path, &lookup).map_err(anyhow::Error::from)
}

/// Builds the pipeline over `store`; on a refused plugin configuration prints why and gives
/// the exit code.
pub async fn start(
    paths: &Paths,
    store: Store,
    config: &PipelineConfig,
    show: impl Fn(Shown) + Send + Sync + 'static,
) -> Result<(Arc<Pipeline>, Arc<Tapped>), ExitCode> {
    let (transcriber, llm) = config.build();
    let event_log = Backends::in_memory().event_log;
    let (backends, control) = plugin_backends(&store, llm.as_ref(), event_log);
    let loaded = match PluginHost::load(&host_config(paths), chronicle_plugins::REGISTRY, backends)
    {
        Ok(loaded) => loaded,
        Err(errors) => {
            print_diagnostics(&errors.0);
            return Err(ExitCode::from(crate::EXIT_CONFIG_REFUSED));
        }
    };
    print_diagnostics(&loaded.warnings);
    loaded.host.initialize().await;
    let tapped = Arc::new(Tapped {
        host: loaded.host,
        show: Box::new(show),
    });
    let pipeline = Arc::new(Pipeline::new(
        store,
        Arc::clone(&tapped) as _,
        transcriber,
        llm,
        config.conversations.clone(),
    ));
    let _ = control.pipeline.set(Arc::downgrade(&pipeline));
    eprintln!("chronicle: {}", config.describe());
    Ok((pipeline, tapped))
}
