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
//!
//! `cargo run --release -p chronicle-bench -- uploads [--counts 1,3,10] [--seconds 3600]` starts
//! the release server once per count and sends that many one-hour uploads at once: the
//! server's peak memory and the time until all are transcribed; see `uploads.rs`.
//!
//! `cargo run --release -p chronicle-bench -- web [--conversations 10000]` starts the release
//! server with that many conversations in its store: time to first and last byte of the pages'
//! API answers and files, and in headless Chromium the time to a rendered list and detail and
//! the first load's size; see `web.rs`.
//!
//! `cargo run --release -p chronicle-bench -- search [--memories 100000] [--segments 1000000]`
//! fills a store and measures full-text indexing and search latency, then vectors and hybrid
//! search; see `search.rs`.
//!
//! `cargo run --release -p chronicle-bench -- chat` starts the release `chronicle serve` with a
//! model that answers at once and measures the chat's own time per question; see `chat.rs`.

mod chat;
mod devices;
mod dispatch;
mod durable;
mod python;
mod report;
mod search;
mod uploads;
mod web;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut events: Option<usize> = None;
    let mut max_devices: usize = 1000;
    let mut step: usize = 100;
    let mut benchmark = None;
    let mut counts: Vec<usize> = vec![1, 3, 10];
    let mut audio_seconds: u32 = 3600;
    let mut conversations: usize = 10_000;
    let mut memories: usize = 100_000;
    let mut segments: usize = 1_000_000;
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
            "--counts" => {
                counts = args
                    .next()
                    .context("--counts needs numbers, e.g. 1,3,10")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--counts")?
            }
            "--seconds" => {
                audio_seconds = args
                    .next()
                    .context("--seconds needs a number")?
                    .parse()
                    .context("--seconds")?
            }
            "--memories" => {
                memories = args
                    .next()
                    .context("--memories needs a number")?
                    .parse()
                    .context("--memories")?
            }
            "--segments" => {
                segments = args
                    .next()
                    .context("--segments needs a number")?
                    .parse()
                    .context("--segments")?
            }
            "--conversations" => {
                conversations = args
                    .next()
                    .context("--conversations needs a number")?
                    .parse()
                    .context("--conversations")?
            }
            "dispatch" | "dispatch-only" | "python" | "devices" | "durable" | "uploads" | "web"
            | "search" | "chat" => benchmark = Some(arg),
            other => bail!(
                "unknown argument `{other}`; usage: chronicle-bench dispatch|python|durable [--events N] | devices [--max-devices N] [--step N] | uploads [--counts 1,3,10] [--seconds 3600] | web [--conversations 10000] | search [--memories N] [--segments N] | chat"
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
    if benchmark.as_deref() == Some("search") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let report = runtime.block_on(search::search(memories, segments))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if benchmark.as_deref() == Some("chat") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let report = runtime.block_on(chat::chat())?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if benchmark.as_deref() == Some("web") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let report = runtime.block_on(web::web(conversations))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if benchmark.as_deref() == Some("uploads") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let report = runtime.block_on(uploads::uploads(&counts, audio_seconds))?;
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
        Some("dispatch") => runtime.block_on(dispatch::dispatch(events.unwrap_or(200_000)))?,
        // What `dispatch` runs under callgrind to count instructions: no timing, no report.
        Some("dispatch-only") => {
            runtime.block_on(dispatch::dispatch_only(events.unwrap_or(1000)))?;
            return Ok(());
        }
        Some("python") => runtime.block_on(python::python(events.unwrap_or(20_000)))?,
        _ => bail!(
            "usage: chronicle-bench dispatch|python|durable [--events N] | devices [--max-devices N] [--step N] | uploads [--counts 1,3,10] [--seconds 3600] | web [--conversations 10000] | search [--memories N] [--segments N] | chat"
        ),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
