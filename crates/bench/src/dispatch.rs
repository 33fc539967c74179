//! `dispatch`: `transcript.streaming` through ten native plugins on one thread, timed, and
//! counted in instructions under callgrind.

use std::sync::Arc;
use std::time::Instant;

use chronicle_plugin_api::{
    AccessLevel, Event, HandlerOutcome, JsonMap, Plugin, PluginContext, PluginDescriptor,
    PluginResult, async_trait,
};
use chronicle_plugin_host::{Backends, DispatchRequest, HostConfig, PluginHost};
use serde_json::{Value, json};

use crate::report::{latency_summary, machine};

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

/// The host of the benchmark, loaded and initialized, and the payloads it is sent in turn.
async fn setup() -> anyhow::Result<(tempfile::TempDir, PluginHost, Vec<Arc<JsonMap>>)> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("plugins.yml"), PLUGINS_YML)?;
    let config = HostConfig::new(dir.path(), dir.path().join("plugins"));
    let host = PluginHost::load(&config, REGISTRY, Backends::in_memory())
        .map_err(|errors| anyhow::anyhow!("{errors}"))?
        .host;
    host.initialize().await;
    let payloads = TRANSCRIPTS
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
            Arc::new(data.as_object().cloned().unwrap_or_default())
        })
        .collect();
    Ok((dir, host, payloads))
}

/// The next event, sharing its payload as the pipeline shares a segment's data.
fn request(payloads: &[Arc<JsonMap>], i: usize) -> DispatchRequest {
    DispatchRequest::new(
        Event::TranscriptStreaming,
        "user-1",
        Arc::clone(&payloads[i % payloads.len()]),
    )
}

/// Events dispatched before counting starts, so both counted runs share the warm-up.
const WARM_UP: usize = 1000;

/// Dispatches `events` events after the warm-up, and nothing else.
pub(crate) async fn dispatch_only(events: usize) -> anyhow::Result<()> {
    let (_dir, host, payloads) = setup().await?;
    for i in 0..WARM_UP + events {
        host.dispatch(request(&payloads, i)).await;
    }
    Ok(())
}

pub(crate) async fn dispatch(events: usize) -> anyhow::Result<Value> {
    let (_dir, host, payloads) = setup().await?;
    // Warm up allocator, caches and the event log.
    let mut executed = 0usize;
    for i in 0..events / 10 {
        host.dispatch(request(&payloads, i)).await;
    }
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(events);
    let started = Instant::now();
    for i in 0..events {
        let request = request(&payloads, i);
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
        "instructions": instructions_per_event(),
        "machine": machine(),
    }))
}

/// Event counts of the two callgrind runs; their difference is what is counted.
const COUNTED: [usize; 2] = [2_000, 12_000];

/// Instructions per dispatched event, counted by callgrind: this program runs itself
/// (`dispatch-only`) under `valgrind --tool=callgrind` with two event counts, and the
/// difference of the two totals over the difference of the counts leaves out start-up, load
/// and warm-up. Counts are repeatable where wall-clock figures are not. Without valgrind the
/// field says why it is missing.
fn instructions_per_event() -> Value {
    match count_instructions() {
        Ok((low, high)) => {
            let per_event = (high - low) as f64 / (COUNTED[1] - COUNTED[0]) as f64;
            json!({
                "per_event": per_event.round(),
                "method": format!(
                    "valgrind --tool=callgrind, ({high} - {low}) instructions / ({} - {}) events",
                    COUNTED[1], COUNTED[0]
                ),
            })
        }
        Err(error) => json!({"per_event": null, "why": format!("{error:#}")}),
    }
}

fn count_instructions() -> anyhow::Result<(u64, u64)> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let mut totals = [0u64; 2];
    for (total, events) in totals.iter_mut().zip(COUNTED) {
        let out = dir.path().join(format!("callgrind.{events}"));
        let status = std::process::Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&exe)
            .args(["dispatch-only", "--events", &events.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|error| anyhow::anyhow!("cannot run valgrind: {error}"))?;
        anyhow::ensure!(status.success(), "valgrind ended with {status}");
        *total = callgrind_total(&std::fs::read_to_string(&out)?)?;
    }
    Ok((totals[0], totals[1]))
}

/// The instruction total of a callgrind output file (its `summary:` or `totals:` line).
fn callgrind_total(output: &str) -> anyhow::Result<u64> {
    output
        .lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no instruction total in the callgrind output"))
}
