//! `chronicle-bench devices`: how many devices one server holds.
//!
//! Starts the real `chronicle serve` (the release binary) in a temp folder, then connects N
//! simulated devices, each streaming 16 kHz mono PCM in 100 ms chunks in real time. After each
//! chunk a device sends `ping`; the server handles a connection's frames in order, so the time
//! to `pong` bounds the chunk's handling (plus the loopback round trip). N grows until the p99
//! of those times passes 50 ms (or the top of the range); the report gives, per step, the
//! latencies and the server's CPU and memory per connection.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const CHUNK_BYTES: usize = 3200; // 100 ms of 16 kHz mono s16
const STEP_SECONDS: u64 = 6;
const TARGET_P99_MS: f64 = 50.0;

pub(crate) struct ServerProcess {
    pub(crate) child: std::process::Child,
    pub(crate) base: String,
    ready_ms: f64,
    dir: tempfile::TempDir,
}

impl ServerProcess {
    /// The server's data folder (`data/` in the folder it runs in).
    pub(crate) fn data_folder(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary serve` in a temp folder with `env` added; returns once it listens.
pub(crate) fn start_server(
    binary: &PathBuf,
    env: &[(&str, &str)],
) -> anyhow::Result<ServerProcess> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("config"))?;
    std::fs::create_dir_all(dir.path().join("plugins"))?;
    std::fs::write(
        dir.path().join("config/plugins.yml"),
        "plugins:\n  test_event:\n    enabled: true\n    events: [button.single_press, conversation.complete]\n    permissions: [database]\n",
    )?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--no-hot-reload"])
        .current_dir(dir.path())
        .env("ADMIN_EMAIL", "bench@example.com")
        .env("ADMIN_PASSWORD", "bench-password")
        .env("AUTH_SECRET_KEY", "bench-secret-0123456789")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {}: build it with `cargo build --release -p chronicle-cli`",
                binary.display()
            )
        })?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    let base = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .context("no address")?
        .to_owned();
    Ok(ServerProcess {
        child,
        base,
        ready_ms,
        dir,
    })
}

/// (resident KiB, CPU seconds so far) of a process.
pub(crate) fn usage(pid: u32) -> (u64, f64) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let fields: Vec<&str> = s.rsplit_once(") ")?.1.split_whitespace().collect();
            let ticks: f64 =
                fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0);
    (rss, cpu)
}

pub(crate) async fn token(base: &str) -> anyhow::Result<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response: Value = reqwest::Client::new()
        .post(format!("{base}/auth/jwt/login"))
        .form(&[
            ("username", "bench@example.com"),
            ("password", "bench-password"),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(response["access_token"]
        .as_str()
        .context("token")?
        .to_owned())
}

/// One device: connects, streams for `seconds`, returns its ping-after-chunk latencies (ms).
async fn device(url: String, seconds: u64, phase: Duration) -> anyhow::Result<Vec<f64>> {
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(&url, None, true).await?;
    socket.next().await; // ready
    tokio::time::sleep(phase).await; // spread devices over the 100 ms period
    let start = json!({"type": "audio-start", "data": {"rate": 16000, "width": 2, "channels": 1, "mode": "streaming"}}).to_string();
    socket.send(Message::text(start)).await?;
    let header = json!({"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": CHUNK_BYTES}).to_string();
    let payload: Vec<u8> = (0..CHUNK_BYTES / 2)
        .flat_map(|i| (((i as f32 * 0.17).sin() * 6000.0) as i16).to_le_bytes())
        .collect();
    let ping = json!({"type": "ping"}).to_string();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        ticker.tick().await;
        let sent = Instant::now();
        socket.send(Message::text(header.clone())).await?;
        socket.send(Message::binary(payload.clone())).await?;
        socket.send(Message::text(ping.clone())).await?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) if text.contains("pong") => break,
                Some(Ok(_)) => continue,
                _ => bail!("the server closed a device connection"),
            }
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    socket
        .send(Message::text(json!({"type": "audio-stop"}).to_string()))
        .await?;
    let _ = socket.close(None).await;
    Ok(latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted
        .get(index.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// The release binary (or `CHRONICLE_BIN`), as an absolute path: the server runs in its own
/// temp folder, so the path must not depend on ours.
pub(crate) fn server_binary() -> anyhow::Result<PathBuf> {
    let binary = std::env::var_os("CHRONICLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/chronicle"));
    Ok(std::path::absolute(&binary)?)
}

pub async fn devices(max_devices: usize, step: usize) -> anyhow::Result<Value> {
    let binary = server_binary()?;
    let server = start_server(&binary, &[])?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss_kib, _) = usage(pid);
    let token = token(&server.base).await?;
    let url = format!(
        "{}/ws?codec=pcm&token={token}&device_name=bench",
        server.base.replacen("http://", "ws://", 1)
    );
    let mut steps = Vec::new();
    let mut held = 0;
    let mut n = step;
    while n <= max_devices {
        let (rss_before, cpu_before) = usage(pid);
        let started = Instant::now();
        let runs: Vec<_> = (0..n)
            .map(|i| {
                tokio::spawn(device(
                    url.clone(),
                    STEP_SECONDS,
                    Duration::from_micros((i as u64 * 100_000) / n as u64),
                ))
            })
            .collect();
        let mut latencies = Vec::new();
        let mut failures = 0;
        let mut peak_rss = rss_before;
        for run in runs {
            match run.await {
                Ok(Ok(mut device_latencies)) => latencies.append(&mut device_latencies),
                _ => failures += 1,
            }
            peak_rss = peak_rss.max(usage(pid).0);
        }
        let (_, cpu_after) = usage(pid);
        let server_p99_ms = server_quantile(&server.base, "0.99")
            .await
            .map(|seconds| seconds * 1000.0);
        let wall = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let p99 = percentile(&latencies, 0.99);
        let cpu_share = (cpu_after - cpu_before) / wall;
        steps.push(json!({
            "devices": n,
            "failed_devices": failures,
            "chunks": latencies.len(),
                        "chunk_ms": {"p50": percentile(&latencies, 0.5), "p99": p99, "max": percentile(&latencies, 1.0)},
            "server_handling_p99_ms_so_far": server_p99_ms,
            "server_cpu_cores": cpu_share,
            "server_cpu_percent_per_device": cpu_share * 100.0 / n as f64,
            "server_rss_kib": peak_rss,
            "server_rss_kib_per_device": (peak_rss.saturating_sub(idle_rss_kib)) as f64 / n as f64,
        }));
        if failures > 0 || p99 > TARGET_P99_MS {
            break;
        }
        held = n;
        n += step;
    }
    Ok(json!({
        "benchmark": "devices",
        "chunk": "100 ms of 16 kHz mono PCM, in real time, then ping → pong",
        "target_p99_ms": TARGET_P99_MS,
        "largest_devices_held": held,
        "ready_ms": server.ready_ms,
        "idle_server_rss_kib": idle_rss_kib,
        "steps": steps,
        "machine": crate::report::machine(),
        "note": "client and server share this machine's cores",
    }))
}

/// A quantile of the server's own chunk-handling time (decode, record, bookkeeping), from its
/// `/metrics` summary: what the server spent, without the load generator's scheduling.
async fn server_quantile(base: &str, quantile: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let wanted = format!("chronicle_audio_chunk_handling_seconds{{quantile=\"{quantile}\"}}");
    text.lines()
        .find(|line| line.starts_with(&wanted))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
