//! `chronicle-bench`: repeatable benchmarks that print one JSON object.
//!
//! `cargo run --release -p chronicle-bench -- dispatch [--events N]` routes
//! `transcript.streaming` events through the real host — configuration loaded from a
//! plugins.yml, conditions compiled, services, event log — with ten native plugins subscribed:
//! three `wake_word`, three `keyword_anywhere`, two `regex` and two `always`, each returning a
//! result when it runs. It runs on one thread (a current-thread runtime) and reports events per
//! second and the per-event dispatch latency.
//!
//! `cargo run --release -p chronicle-bench -- python [--events N]` routes `transcript.streaming`
//! events to one no-op Python plugin under the SDK: per-event round-trip latency with one call
//! at a time, throughput with 16 calls in flight, and the resident memory of the idle plugin
//! process. Needs `python3`.
//!
//! `cargo run --release -p chronicle-bench -- durable [--events N]` delivers
//! `conversation.complete` through the durable queue on disk to three no-op native plugins;
//! see `durable.rs`.
//!
//! `cargo run --release -p chronicle-bench -- devices [--max-devices N] [--step N]` starts the
//! release `chronicle serve` (build it first: `cargo build --release -p chronicle-cli`) and ramps
//! up simulated devices streaming PCM in real time; see `devices.rs`.

mod devices;
mod durable;

use std::time::Instant;

use anyhow::{Context, bail};
use chronicle_plugin_api::{
    AccessLevel, Event, HandlerOutcome, JsonMap, Plugin, PluginContext, PluginDescriptor,
    PluginResult, async_trait,
};
use chronicle_plugin_host::{Backends, DispatchRequest, HostConfig, PluginHost};
use serde_json::{Value, json};

/// Answers every transcript with a short result.
struct Responder;

#[async_trait]
impl Plugin for Responder {
    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let words = ctx.transcript().len();
        Ok(Some(PluginResult::ok(if words > 40 {
            "long"
        } else {
            "short"
        })))
    }
}

const fn responder(id: &'static str) -> PluginDescriptor {
    PluginDescriptor {
        id,
        name: id,
        description: "benchmark plugin",
        access_levels: &[AccessLevel::Transcript],
        build: |_| Ok(Box::new(Responder)),
    }
}

const REGISTRY: &[PluginDescriptor] = &[
    responder("wake_1"),
    responder("wake_2"),
    responder("wake_3"),
    responder("keyword_1"),
    responder("keyword_2"),
    responder("keyword_3"),
    responder("regex_1"),
    responder("regex_2"),
    responder("always_1"),
    responder("always_2"),
];

const PLUGINS_YML: &str = r#"plugins:
  wake_1: {enabled: true, events: [transcript.streaming], condition: {type: wake_word, wake_words: [hey hermes, ok hermes]}}
  wake_2: {enabled: true, events: [transcript.streaming], condition: {type: wake_word, wake_words: [computer]}}
  wake_3: {enabled: true, events: [transcript.streaming], condition: {type: wake_word, wake_words: [hey jarvis, jarvis]}}
  keyword_1: {enabled: true, events: [transcript.streaming], condition: {type: keyword_anywhere, keywords: [urgent, emergency]}}
  keyword_2: {enabled: true, events: [transcript.streaming], condition: {type: keyword_anywhere, keywords: [remind me, reminder]}}
  keyword_3: {enabled: true, events: [transcript.streaming], condition: {type: keyword_anywhere, keywords: [lights]}}
  regex_1: {enabled: true, events: [transcript.streaming], condition: {type: regex, pattern: '(?i)\b(?P<amount>\d+) (?P<unit>minutes|hours)\b'}}
  regex_2: {enabled: true, events: [transcript.streaming], condition: {type: regex, pattern: '(?i)^(?:call|text) (?P<who>\w+)'}}
  always_1: {enabled: true, events: [transcript.streaming]}
  always_2: {enabled: true, events: [transcript.streaming]}
"#;

/// Final segments as a pendant produces them: mostly ordinary speech, some with a wake word,
/// a keyword or a pattern.
const TRANSCRIPTS: [&str; 10] = [
    "so I told her we would meet at the station around noon",
    "Hey Hermes, turn off the kitchen lights please",
    "that was the best coffee I have had in weeks honestly",
    "can you remind me to water the plants in 20 minutes",
    "we should probably head back before it gets dark",
    "Computer, what is on my calendar tomorrow",
    "it is urgent, the basement is flooding again",
    "call mum when you get a chance",
    "the meeting moved to Thursday because of the holiday",
    "I think the vivid colours make the painting work",
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut events: Option<usize> = None;
    let mut max_devices: usize = 1000;
    let mut step: usize = 100;
    let mut benchmark = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                events = Some(
                    args.next()
                        .context("--events needs a number")?
                        .parse()
                        .context("--events")?,
                )
            }
            "--max-devices" => {
                max_devices = args
                    .next()
                    .context("--max-devices needs a number")?
                    .parse()
                    .context("--max-devices")?
            }
            "--step" => {
                step = args
                    .next()
                    .context("--step needs a number")?
                    .parse()
                    .context("--step")?
            }
            "dispatch" | "python" | "devices" | "durable" => benchmark = Some(arg),
            other => bail!(
                "unknown argument `{other}`; usage: chronicle-bench dispatch|python|durable [--events N] | devices [--max-devices N] [--step N]"
            ),
        }
    }
    if benchmark.as_deref() == Some("devices") {
        // Devices are many connections: use both cores, as the server does.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let report = runtime.block_on(devices::devices(max_devices, step.max(1)))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if benchmark.as_deref() == Some("durable") {
        // The server's runtime: two worker threads, blocking SQLite calls on the blocking pool.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let report = runtime.block_on(durable::durable(events.unwrap_or(20_000)))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = match benchmark.as_deref() {
        Some("dispatch") => runtime.block_on(dispatch(events.unwrap_or(200_000)))?,
        Some("python") => runtime.block_on(python(events.unwrap_or(20_000)))?,
        _ => bail!(
            "usage: chronicle-bench dispatch|python|durable [--events N] | devices [--max-devices N] [--step N]"
        ),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// A JSON object's map (empty for anything else).
fn object(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

/// Sorted latencies in nanoseconds → microseconds at percentile `p`.
fn percentile(sorted_ns: &[u64], p: f64) -> f64 {
    let index = ((sorted_ns.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted_ns
        .get(index.min(sorted_ns.len().saturating_sub(1)))
        .map_or(0.0, |ns| *ns as f64 / 1000.0)
}

fn latency_summary(mut latencies_ns: Vec<u64>) -> Value {
    latencies_ns.sort_unstable();
    json!({
        "p50": percentile(&latencies_ns, 0.50),
        "p99": percentile(&latencies_ns, 0.99),
        "p999": percentile(&latencies_ns, 0.999),
        "max": percentile(&latencies_ns, 1.0),
    })
}

const NOOP_PLUGIN: &str = r#"from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


class NoopPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ["transcript"]

    async def on_transcript(self, context):
        return PluginResult(success=True, message="ok")
"#;

async fn python(events: usize) -> anyhow::Result<Value> {
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

async fn dispatch(events: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("plugins.yml"), PLUGINS_YML)?;
    let config = HostConfig {
        config_dir: dir.path().to_owned(),
        plugins_dir: dir.path().join("plugins"),
        env_file: None,
        process: Default::default(),
    };
    let host = PluginHost::load(&config, REGISTRY, Backends::in_memory())
        .map_err(|errors| anyhow::anyhow!("{errors}"))?
        .host;
    host.initialize().await;

    let payloads: Vec<JsonMap> = TRANSCRIPTS
        .iter()
        .enumerate()
        .map(|(i, transcript)| {
            let data = json!({
                "transcript": transcript,
                "segment_id": format!("s1_{i}"),
                "conversation_id": "c1",
                "session_id": "s1",
                "client_id": "abc123-pendant",
                "words": [],
                "segments": [],
                "confidence": 0.93,
                "is_final": true,
            });
            data.as_object().cloned().unwrap_or_default()
        })
        .collect();
    let request = |i: usize| {
        DispatchRequest::new(
            Event::TranscriptStreaming,
            "user-1",
            payloads[i % payloads.len()].clone(),
        )
    };

    // Warm up allocator, caches and the event log.
    let mut executed = 0usize;
    for i in 0..events / 10 {
        host.dispatch(request(i)).await;
    }
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(events);
    let started = Instant::now();
    for i in 0..events {
        let request = request(i);
        let before = Instant::now();
        let record = host.dispatch(request).await;
        latencies_ns.push(before.elapsed().as_nanos() as u64);
        executed += record.plugins.iter().filter(|p| p.result.is_some()).count();
    }
    let elapsed = started.elapsed();
    Ok(json!({
        "benchmark": "dispatch",
        "event": "transcript.streaming",
        "subscribed_plugins": {"wake_word": 3, "keyword_anywhere": 3, "regex": 2, "always": 2},
        "threads": 1,
        "events": events,
        "plugin_results_per_event": executed as f64 / events as f64,
        "elapsed_s": elapsed.as_secs_f64(),
        "events_per_second": events as f64 / elapsed.as_secs_f64(),
        "latency_us": latency_summary(latencies_ns),
        "machine": machine(),
    }))
}

pub(crate) fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({"cpu": cpu, "cores": cores, "os": std::env::consts::OS, "arch": std::env::consts::ARCH})
}
