//! What every route and connection shares: the store, the tokens, the running plugin host
//! (swapped whole on reload), the pipeline with its live sessions, and the event log that
//! feeds SQLite, the `/api/events/stream` subscribers and the metrics.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use chronicle_pipeline::{Pipeline, PipelineConfig};
use chronicle_plugin_host::{
    Backends, DispatchRecord, EventLog, HostConfig, MemoryEventLog, PluginHost, Status,
};
use chronicle_store::{EventLogRow, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::tokens::Tokens;

/// Where the server reads and writes.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: std::net::SocketAddr,
    /// SQLite database, audio files, the generated auth secret.
    pub data_dir: PathBuf,
    /// Plugin configuration.
    pub host: HostConfig,
    /// `AUTH_SECRET_KEY`, when set.
    pub auth_secret: Option<String>,
    /// `ADMIN_EMAIL` / `ADMIN_PASSWORD`, when set: that admin is created or updated at start.
    pub admin: Option<(String, String)>,
    /// Watch the configuration and reload plugins on change.
    pub hot_reload: bool,
    /// Transcription, the language model and how conversations are cut.
    pub pipeline: PipelineConfig,
    /// How the delivery queue paces itself and its retries.
    pub delivery: chronicle_plugin_host::delivery::DeliverySettings,
    /// `METRICS_TOKEN`: a bearer token a scraper may use for `/metrics`, which otherwise
    /// needs an admin's token (it names the plugins and what they do).
    pub metrics_token: Option<String>,
    /// How many connections at once, and how long their headers and bodies may take.
    pub limits: crate::listen::Limits,
    /// `ALLOWED_ORIGINS`: web origins besides this server's own whose pages may use the login
    /// cookie (`https://app.example.com`).
    pub allowed_origins: Vec<String>,
    /// `--api-rate-limit`: requests a minute per API key, and per user across their keys
    /// (0: no limit).
    pub api_requests_per_minute: u32,
}

/// Shared by all handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub tokens: Tokens,
    pub core: Arc<Core>,
}

/// The parts that outlive any one request.
pub struct Core {
    pub config: ServerConfig,
    /// Embeds memories and segments in the background, and queries for search by meaning;
    /// none without an embeddings server (search by words alone).
    pub embedder: Option<Arc<chronicle_pipeline::embeddings::Embedder>>,
    pub store: Store,
    /// The running plugin host; replaced whole by a reload.
    pub host: Arc<ArcSwap<PluginHost>>,
    /// Providers, live sessions, and what happens when a conversation ends.
    pub pipeline: Arc<Pipeline>,
    /// Session recordings, written off the async threads.
    pub recordings: crate::recordings::Recordings,
    /// The connected devices, to reach one from outside its connection
    /// ([`crate::devices::Devices::stop_playback`]).
    pub devices: crate::devices::Devices,
    /// The spool chunks acknowledged to each device, across its reconnects.
    pub receipts: crate::receipts::SpoolReceipts,
    /// Wrong passwords per account and per address, and the waits they earn.
    pub login_limits: crate::login_limits::LoginLimits,
    /// Requests per minute per API key and per user across their keys.
    pub rate_limits: crate::rate_limits::RateLimits,
    /// Every dispatch record, for `/api/events/stream`.
    pub dispatches: broadcast::Sender<Arc<DispatchRecord>>,
    pub metrics: PrometheusHandle,
    /// One reload at a time; holds when the last one started.
    pub reloading: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// The backends every plugin host of this server shares.
    pub backends: Backends,
    /// The plugins compiled into the binary.
    pub registry: &'static [chronicle_plugin_api::PluginDescriptor],
    /// When the server started, for its uptime.
    pub started: std::time::Instant,
}

impl Core {
    /// The plugin host in service now.
    pub fn host(&self) -> Arc<PluginHost> {
        self.host.load_full()
    }
}

/// The event log of a server: each record is kept in memory for the host, written to SQLite
/// in batches by a background task, published to live subscribers and counted in the metrics.
pub struct ServerEventLog {
    recent: MemoryEventLog,
    records: mpsc::UnboundedSender<Arc<DispatchRecord>>,
}

impl EventLog for ServerEventLog {
    fn record(&self, record: Arc<DispatchRecord>) {
        self.recent.record(Arc::clone(&record));
        let _ = self.records.send(record);
    }

    fn recent(&self, user_id: Option<&str>, limit: usize) -> Vec<Arc<DispatchRecord>> {
        self.recent.recent(user_id, limit)
    }
}

impl ServerEventLog {
    /// The log and the task that persists and publishes its records.
    pub fn start(store: Store, dispatches: broadcast::Sender<Arc<DispatchRecord>>) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(persist(store, rx, dispatches));
        Arc::new(Self {
            recent: MemoryEventLog::new(1_000),
            records: tx,
        })
    }
}

async fn persist(
    store: Store,
    mut records: mpsc::UnboundedReceiver<Arc<DispatchRecord>>,
    dispatches: broadcast::Sender<Arc<DispatchRecord>>,
) {
    let mut batch = Vec::new();
    while records.recv_many(&mut batch, 512).await > 0 {
        let rows: Vec<EventLogRow> = batch
            .iter()
            .map(|record| {
                count(record);
                let _ = dispatches.send(Arc::clone(record));
                EventLogRow {
                    event: record.event.as_str().to_owned(),
                    user_id: record.user_id.to_string(),
                    timestamp: timestamp(record.started_at),
                    record: log_entry(record),
                }
            })
            .collect();
        batch.clear();
        if let Err(error) = store.append_events(rows).await {
            tracing::error!(%error, "Could not write the event log.");
        }
        // Let a burst gather into one transaction.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn count(record: &DispatchRecord) {
    metrics::counter!("chronicle_events_dispatched_total", "event" => record.event.as_str())
        .increment(1);
    for outcome in &record.plugins {
        let status = match outcome.status {
            Status::Executed => "executed",
            Status::Declined => "declined",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
        };
        metrics::counter!("chronicle_plugin_calls_total", "event" => record.event.as_str(), "plugin" => outcome.plugin_id.to_string(), "status" => status).increment(1);
        if matches!(outcome.status, Status::Failed | Status::TimedOut) {
            metrics::counter!("chronicle_plugin_failures_total", "plugin" => outcome.plugin_id.to_string()).increment(1);
        }
        if outcome.status != Status::Skipped {
            metrics::histogram!("chronicle_plugin_call_seconds", "plugin" => outcome.plugin_id.to_string()).record(outcome.duration_ms / 1000.0);
        }
    }
}

/// The stored form of a dispatch: the dispatch record plus when, which event, and the
/// original's `plugins_subscribed` / `plugins_executed` summaries.
pub fn log_entry(record: &DispatchRecord) -> Value {
    let mut entry = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut entry {
        map.insert("timestamp".into(), json!(unix_seconds(record.started_at)));
        map.insert("event_id".into(), json!(&*record.event_id));
        // Stored beside the record so a conversation's page finds what plugins did with it.
        if let Some(conversation) = record.data.get("conversation_id") {
            map.insert("conversation_id".into(), conversation.clone());
        }
        map.insert("duration_ms".into(), json!(record.duration_ms));
        let subscribed: Vec<&str> = record.plugins.iter().map(|p| &*p.plugin_id).collect();
        map.insert("plugins_subscribed".into(), json!(subscribed));
        let executed: Vec<Value> = record
            .plugins
            .iter()
            .filter(|p| matches!(p.status, Status::Executed | Status::Failed | Status::TimedOut))
            .map(|p| {
                json!({
                    "plugin_id": &*p.plugin_id,
                    "success": p.result.as_ref().is_some_and(|r| r.success),
                    "message": p.result.as_ref().and_then(|r| r.message.clone()).or_else(|| p.reason.as_deref().map(str::to_owned)),
                })
            })
            .collect();
        map.insert("plugins_executed".into(), json!(executed));
    }
    entry
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn timestamp(at: SystemTime) -> String {
    chronicle_store::time::rfc3339(at)
}
