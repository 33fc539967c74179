//! `python`: one no-op Python plugin under the SDK, called through the real host.

use std::time::Instant;

use anyhow::{Context, bail};
use chronicle_plugin_api::Event;
use chronicle_plugin_host::{Backends, DispatchRequest, HostConfig, PluginHost};
use serde_json::{Value, json};

use crate::report::{latency_summary, machine};

const NOOP_PLUGIN: &str = r#"from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


class NoopPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ["transcript"]

    async def on_transcript(self, context):
        return PluginResult(success=True, message="ok")
"#;

pub(crate) async fn python(events: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("plugins/noop"))?;
    std::fs::write(dir.path().join("plugins/noop/plugin.py"), NOOP_PLUGIN)?;
    std::fs::write(
        dir.path().join("plugins/noop/__init__.py"),
        "from .plugin import NoopPlugin\n",
    )?;
    std::fs::write(
        dir.path().join("plugins.yml"),
        "plugins:\n  noop:\n    enabled: true\n    events: [transcript.streaming]\n",
    )?;
    let config = HostConfig::new(dir.path(), dir.path().join("plugins"));
    let host = PluginHost::load(&config, &[], Backends::in_memory())
        .map_err(|errors| anyhow::anyhow!("{errors}"))?
        .host;
    host.initialize().await;
    let status = host
        .plugins()
        .into_iter()
        .next()
        .context("the plugin is listed")?;
    if status.status != "initialized" {
        bail!("the Python plugin did not start: {:?}", status.error);
    }
    let pid = status.pid.context("a running process has a pid")?;
    let rss_kib = resident_kib(pid);
    let data = json!({"transcript": "hey hermes turn off the lights", "session_id": "s1", "is_final": true});
    let request = || {
        DispatchRequest::new(
            Event::TranscriptStreaming,
            "user-1",
            data.as_object().cloned().unwrap_or_default(),
        )
    };

    for _ in 0..events / 10 {
        host.dispatch(request()).await;
    }
    // One call at a time: the round-trip latency.
    let mut latencies_ns = Vec::with_capacity(events);
    let started = Instant::now();
    for _ in 0..events {
        let before = Instant::now();
        let record = host.dispatch(request()).await;
        latencies_ns.push(before.elapsed().as_nanos() as u64);
        if record.plugins[0].result.is_none() {
            bail!("the plugin did not answer: {:?}", record.plugins[0]);
        }
    }
    let sequential = started.elapsed();
    // Sixteen calls in flight: what one plugin process can take.
    const IN_FLIGHT: usize = 16;
    let started = Instant::now();
    let mut done = 0;
    while done < events {
        let batch = IN_FLIGHT.min(events - done);
        futures_util::future::join_all((0..batch).map(|_| host.dispatch(request()))).await;
        done += batch;
    }
    let pipelined = started.elapsed();
    host.shutdown().await;
    Ok(json!({
        "benchmark": "python",
        "event": "transcript.streaming",
        "plugin": "one no-op Python plugin (SDK runner, one process)",
        "events": events,
        "sequential": {
            "events_per_second": events as f64 / sequential.as_secs_f64(),
            "latency_us": latency_summary(latencies_ns),
        },
        "in_flight_16": {"events_per_second": events as f64 / pipelined.as_secs_f64()},
        "idle_plugin_rss_kib": rss_kib,
        "python": python_version(),
        "machine": machine(),
    }))
}

/// VmRSS of a process, in KiB.
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn python_version() -> Option<String> {
    let output = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
