//! `chronicle-bench web`: the web app with a full store.
//!
//! Starts the release `chronicle serve`, writes `--conversations N` (10,000 by default)
//! finished conversations into its store — each with a title, a summary, a one-minute
//! transcript of twelve segments — and then measures, over `ROUNDS` requests each:
//! - the API answers the pages ask for: time to first byte (the answer's headers) and to the
//!   last byte of the conversations list's first and last page (20 a page, the summary view)
//!   and of one conversation's detail;
//! - the app's files, as the browser fetches them on a first visit;
//! - with headless Chromium (Debian's `chromium`, driven by `tests/web/bench-render.mjs` with
//!   playwright-core from `tests/web/node_modules`: `npm ci --prefix tests/web`), the time from
//!   navigation to the list's cards and to the detail's transcript on screen, on a fresh page
//!   each round, and the bytes transferred on the first load. Without Chromium or Node the
//!   report says why that part is missing.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use chronicle_plugin_api::EndReason;
use chronicle_store::{NewConversation, Store};
use serde_json::{Value, json};

use crate::devices::{server_binary, start_server, token};
use crate::report::latency_summary;

/// Requests (and browser page loads) per measured thing.
const ROUNDS: usize = 30;
/// What the list page asks for.
const PAGE: usize = 20;

/// Twelve five-second segments of a conversation's transcript.
fn segments(n: usize) -> (String, Vec<Value>) {
    let lines: Vec<String> = (0..12)
        .map(|i| {
            format!(
                "In conversation {n} the speaker said line {i}: buy oat milk, call Anna about \
                 the trip, and remember the dentist on Tuesday."
            )
        })
        .collect();
    let segments = lines
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"text": text, "speaker": format!("Speaker {}", i % 2),
                   "start": i as f64 * 5.0, "end": i as f64 * 5.0 + 4.8})
        })
        .collect();
    (lines.join(" "), segments)
}

async fn fill(data: &Path, user_id: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let store = Store::open(data).await?;
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let conversation = store
            .create_conversation(NewConversation {
                user_id: user_id.to_owned(),
                client_id: "bench-device".into(),
                session_id: None,
                title: format!("Bench conversation {n:05}"),
                audio_path: None,
            })
            .await?;
        let id = conversation.conversation_id;
        let (text, segments) = segments(n);
        store.set_transcript(&id, &text, segments, None).await?;
        store
            .set_title_summary(
                &id,
                &format!("Bench conversation {n:05}"),
                &format!("Summary of bench conversation {n:05}: errands, a call and a trip."),
            )
            .await?;
        store
            .complete_conversation(&id, EndReason::InactivityTimeout, Some(60.0))
            .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Time to first byte and to the last byte of `GET path`, `ROUNDS` times; and its size.
async fn timed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
) -> anyhow::Result<Value> {
    let (mut first, mut last, mut bytes) = (Vec::new(), Vec::new(), 0);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await?;
        first.push(started.elapsed().as_nanos() as u64);
        let status = response.status();
        let body = response.bytes().await?;
        last.push(started.elapsed().as_nanos() as u64);
        if !status.is_success() {
            bail!("{path} answered {status}");
        }
        bytes = body.len();
    }
    Ok(json!({
        "path": path,
        "bytes": bytes,
        "first_byte_us": latency_summary(first),
        "last_byte_us": latency_summary(last),
    }))
}

/// The browser's part, or why it is missing.
fn render(base: &str, detail_id: &str, count: usize) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web/bench-render.mjs");
    let modules = script
        .with_file_name("node_modules")
        .join("playwright-core");
    if !Path::new("/usr/bin/chromium").exists() {
        return json!({"skipped": "no /usr/bin/chromium (apt-get install chromium)"});
    }
    if !modules.exists() {
        return json!({"skipped": "no playwright-core: run `npm ci --prefix tests/web`"});
    }
    let output = Command::new("node")
        .arg(&script)
        .env("CHRONICLE_URL", base)
        .env("CHRONICLE_EMAIL", "bench@example.com")
        .env("CHRONICLE_PASSWORD", "bench-password")
        .env("DETAIL_ID", detail_id)
        .env(
            "NEWEST_TITLE",
            format!("Bench conversation {:05}", count - 1),
        )
        .env("ROUNDS", ROUNDS.to_string())
        .output();
    match output {
        Ok(output) if output.status.success() => serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| json!({"error": format!("unreadable report: {error}")})),
        Ok(output) => json!({"error": String::from_utf8_lossy(&output.stderr).trim()}),
        Err(error) => json!({"skipped": format!("cannot run node: {error}")}),
    }
}

pub async fn web(count: usize) -> anyhow::Result<Value> {
    let binary = server_binary()?;
    let server = start_server(&binary, &[])?;
    let token = token(&server.base).await?;
    let http = reqwest::Client::new();
    let me: Value = http
        .get(format!("{}/api/users/me", server.base))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let user_id = me["id"].as_str().context("no user id")?.to_owned();

    let started = Instant::now();
    let ids = fill(&server.data_folder(), &user_id, count.max(1)).await?;
    let fill_seconds = started.elapsed().as_secs_f64();
    let detail = &ids[ids.len() / 2];

    let mut api = Vec::new();
    for path in [
        format!("/api/conversations?limit={PAGE}&offset=0&view=summary"),
        format!(
            "/api/conversations?limit={PAGE}&offset={}&view=summary",
            count.saturating_sub(PAGE)
        ),
        format!("/api/conversations?limit={PAGE}&offset=0&view=summary&q=dentist"),
        format!("/api/conversations/{detail}"),
    ] {
        api.push(timed(&http, &server.base, &token, &path).await?);
    }
    let mut files = Vec::new();
    for path in ["/", "/app/app.js", "/app/app.css"] {
        files.push(timed(&http, &server.base, &token, path).await?);
    }
    Ok(json!({
        "benchmark": "web",
        "machine": crate::report::machine(),
        "conversations": count,
        "fill_seconds": fill_seconds,
        "api": api,
        "files": files,
        "browser": render(&server.base, detail, count),
    }))
}
