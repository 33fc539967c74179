//! The Chronicle server: the HTTP API and the device WebSocket that Chronicle clients and
//! devices talk to unchanged, over the SQLite store and the plugin host.
//!
//! - [`routes`] holds the HTTP API, [`auth`] users and tokens.
//! - The device WebSockets: [`ws`] (`/ws`, the Wyoming framing) and [`ws_audio`] (`/ws/audio`,
//!   `chronicle.audio.v2`), both over a [`device_session::DeviceSession`]; [`acks`] and
//!   [`receipts`] acknowledge audio once it is on disk; [`devices`] reaches a connected device.
//! - [`recordings`] writes each device session's audio; the sessions themselves, their
//!   conversations and transcripts live in `chronicle-pipeline`.
//! - [`reload`] swaps the plugin set when its configuration changes.
//!
//! Architecture Invariant: this is the only crate that knows HTTP, WebSockets and JSON over
//! the network; the store knows SQL only, the host plugins only.

pub mod acks;
pub mod api_keys;
pub mod auth;
pub mod chat;
pub mod device_session;
pub mod devices;
pub mod error;
pub mod listen;
pub mod login_limits;
pub mod origin;
pub mod rate_limits;
pub mod receipts;
pub mod recordings;
pub mod reload;
pub mod routes;
pub mod state;
pub mod tokens;
pub mod tools;
pub mod web;
pub mod ws;
pub mod ws_audio;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context;
use chronicle_pipeline::wiring::{Wired, Wiring, wire};
use chronicle_plugin_api::{EndReason, PluginDescriptor};
use chronicle_store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::broadcast;

pub use crate::state::ServerConfig;
use crate::state::{AppState, Core, ServerEventLog};
use crate::tokens::Tokens;

/// The process-wide metrics recorder (installed once).
fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    // Histogram samples pile up until upkeep folds them in; without it they would grow with
    // every audio chunk until the next scrape.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Opens the store, loads the plugins and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    config: ServerConfig,
    registry: &'static [PluginDescriptor],
) -> anyhow::Result<()> {
    let started = Instant::now();
    // Whatever the server writes from here on (recordings, the database's journal, plugin
    // environments) is readable by this user only.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    // The store makes the folder absolute, so stored paths do not depend on where the
    // server was started.
    let store = Store::open(&config.data_dir)
        .await
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    if let Some((email, password)) = &config.admin {
        auth::ensure_user(&store, email, password, true)
            .await
            .context("cannot create the admin user")?;
    }
    if store.list_users().await?.is_empty() {
        tracing::warn!(
            "No user exists yet: set ADMIN_EMAIL and ADMIN_PASSWORD, or run `chronicle user add EMAIL --admin`."
        );
    }
    let tokens = Tokens::load(store.folder(), config.auth_secret.clone())?;
    let metrics = metrics_handle()?;
    let (dispatches, _) = broadcast::channel(1024);
    tracing::info!("Data: {}.", store.folder().root().display());
    let event_log = ServerEventLog::start(store.clone(), dispatches.clone());
    // Made before the plugins, which reach devices through it (`stop_playback`).
    let devices = devices::Devices::default();
    let wired = wire(Wiring {
        devices: Arc::new(devices.clone()),
        store: store.clone(),
        pipeline: &config.pipeline,
        host: &config.host,
        registry,
        event_log,
        delivery: config.delivery.clone(),
    })
    .await
    .context("cannot start the pipeline")?
    .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    for diagnostic in &wired.diagnostics {
        diagnostic.log();
    }
    let Wired {
        pipeline,
        host,
        backends,
        embedder,
        ..
    } = wired;
    pipeline
        .close_abandoned()
        .await
        .context("cannot close the conversations the last run left open")?;
    pipeline
        .resume_unannounced()
        .await
        .context("cannot read the conversations the last run left unannounced")?;
    let core = Arc::new(Core {
        config: config.clone(),
        store: store.clone(),
        host,
        pipeline,
        recordings: recordings::Recordings::spawn().context("cannot start the recorder")?,
        devices,
        receipts: receipts::SpoolReceipts::default(),
        login_limits: login_limits::LoginLimits::default(),
        rate_limits: rate_limits::RateLimits::new(config.api_requests_per_minute),
        dispatches,
        metrics,
        reloading: tokio::sync::Mutex::new(None),
        backends,
        registry,
        started,
        embedder,
    });
    core.host().spawn_recovery(Default::default());
    let _embedding = core.embedder.clone().map(|embedder| embedder.spawn());
    spawn_delivery_pruning(store.clone());
    let _watcher = if config.hot_reload {
        Some(reload::watch(&core).context("cannot watch the plugin configuration")?)
    } else {
        None
    };

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    let app = routes::app(AppState {
        store,
        tokens,
        core: Arc::clone(&core),
    });
    println!(
        "chronicle: listening on http://{address} (ready in {} ms)",
        started.elapsed().as_millis()
    );
    // Within the connection limits, with each connection's address (for the login limits)
    // and no Nagle delay (devices send small frames and wait for small replies).
    listen::serve(listener, app, config.limits, shutdown_signal()).await;
    for (session, recording) in core.pipeline.stop_sessions(EndReason::ServerShutdown).await {
        if recording {
            core.recordings.finish(&session.session_id).await;
        }
    }
    // Let the conversations just closed reach their plugins before those are stopped (bounded:
    // a slow provider must not hold the shutdown).
    if !core
        .pipeline
        .settle(std::time::Duration::from_secs(10))
        .await
    {
        tracing::warn!("Shutting down with conversations still being finished.");
    }
    // What is not delivered now stays queued and resumes at the next start.
    core.pipeline
        .deliveries
        .shutdown(std::time::Duration::from_secs(5))
        .await;
    core.host().shutdown().await;
    Ok(())
}

/// How long finished, fully delivered events stay in the queue (for `deliveries list`).
const DELIVERED_KEPT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Drops fully delivered events older than [`DELIVERED_KEPT`] every hour, so the queue does
/// not grow with the server's age. Dead letters and anything unfinished stay.
fn spawn_delivery_pruning(store: Store) {
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            let kept_ms = i64::try_from(DELIVERED_KEPT.as_millis()).unwrap_or(i64::MAX);
            let before = chronicle_store::delivery::now_ms().saturating_sub(kept_ms);
            match store.prune_deliveries(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "Pruned delivered events older than 7 days."),
                Err(error) => tracing::warn!(%error, "Could not prune the delivery queue."),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("Shutting down.");
}
