//! The pipeline without a server, for `chronicle process` and `chronicle replay`: the store,
//! the plugin host from the configuration on disk, the providers from `chronicle.yml` and the
//! environment, the delivery queue's dispatcher, and a tap on the event log that shows every
//! dispatch as it happens.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chronicle_pipeline::wiring::{Wiring, wire};
use chronicle_pipeline::{Pipeline, PipelineConfig};
use chronicle_plugin_host::delivery::DeliverySettings;
use chronicle_plugin_host::{
    DispatchRecord, EVENT_LOG_CAPACITY, EventLog, MemoryEventLog, PluginHost,
};
use chronicle_store::{Store, User};
use serde_json::Value;

use crate::args::Paths;
use crate::plugin::{host_config, print_diagnostics};

/// What a dispatch showed: the data sent and what each plugin did.
pub type Shown = (Value, Arc<DispatchRecord>);

/// The event log of a CLI run: kept in memory, and each record handed to `show` as it comes.
struct Tap {
    log: MemoryEventLog,
    show: Box<dyn Fn(Shown) + Send + Sync>,
}

impl EventLog for Tap {
    fn record(&self, record: Arc<DispatchRecord>) {
        (self.show)((Value::Object((*record.data).clone()), Arc::clone(&record)));
        self.log.record(record);
    }

    fn recent(&self, user_id: Option<&str>, limit: usize) -> Vec<Arc<DispatchRecord>> {
        self.log.recent(user_id, limit)
    }
}

/// The store in `data_dir`, or why it cannot be opened.
pub async fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    Store::open(data_dir)
        .await
        .with_context(|| format!("cannot open the database in {}", data_dir.display()))
}

/// The user with `email`, or what to run to add them.
pub async fn user_named(store: &Store, email: &str) -> anyhow::Result<User> {
    store.user_by_email(email).await?.with_context(|| {
        format!("there is no user `{email}`; add one with `chronicle user add {email}`")
    })
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
) -> anyhow::Result<Result<(Arc<Pipeline>, PluginHost), ExitCode>> {
    let event_log = Arc::new(Tap {
        log: MemoryEventLog::new(EVENT_LOG_CAPACITY),
        show: Box::new(show),
    });
    let wired = wire(Wiring {
        devices: Arc::new(chronicle_host_ports::NoDevices),
        store,
        pipeline: config,
        host: &host_config(paths),
        registry: chronicle_plugins::REGISTRY,
        event_log,
        delivery: DeliverySettings::default(),
    })
    .await?;
    let wired = match wired {
        Ok(wired) => wired,
        Err(errors) => {
            print_diagnostics(&errors.0);
            return Ok(Err(ExitCode::from(crate::exit::CONFIG_REFUSED)));
        }
    };
    print_diagnostics(&wired.diagnostics);
    eprintln!("chronicle: {}", config.describe());
    let host = PluginHost::clone(&wired.host.load());
    Ok(Ok((wired.pipeline, host)))
}

/// Lets the queued events run through their chains, then stops the dispatcher and the
/// plugins. Retries due later stay queued for `chronicle serve`, which says so.
pub async fn deliver_and_stop(pipeline: &Pipeline, host: &PluginHost) {
    if !pipeline.deliveries.is_active() {
        eprintln!(
            "chronicle: the events wait in the queue for the Chronicle server running on this \
             data folder"
        );
    } else if !pipeline.settle(std::time::Duration::from_secs(600)).await {
        eprintln!(
            "chronicle: some events are still being delivered; the next `chronicle serve` resumes them"
        );
    }
    pipeline
        .deliveries
        .shutdown(std::time::Duration::from_secs(5))
        .await;
    if let Ok(counts) = pipeline.deliveries.queue().status_counts().await {
        let waiting: u64 = counts
            .iter()
            .filter(|(status, _)| !status.is_settled())
            .map(|(_, count)| count)
            .sum();
        if waiting > 0 && pipeline.deliveries.is_active() {
            eprintln!(
                "chronicle: {waiting} deliveries wait for a retry; `chronicle serve` on this data folder makes them"
            );
        }
    }
    host.shutdown().await;
}
