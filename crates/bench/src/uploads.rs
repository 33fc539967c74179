//! `chronicle-bench uploads`: the server's memory and time for concurrent long uploads.
//!
//! For each count N (1, 3 and 10 by default) it starts a fresh release `chronicle serve`, with
//! an OpenAI-compatible transcription server on 127.0.0.1 (from `chronicle-test-servers`,
//! answering at once), and sends N one-hour 16 kHz mono WAV files (115 MB each) at the same
//! time, one request each. It reports how long the answers took (the files are decoded and
//! stored before the answer), how long until every conversation had its transcript, and the
//! server's peak resident memory (`VmHWM`) over the whole run.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chronicle_test_servers::openai::{TranscriptionReply, Transcriptions};
use serde_json::{Value, json};

use crate::devices::{server_binary, start_server, token};

/// A tone that pauses one second in five, so the transcriber's pieces have quiet places to
/// be cut at, as speech has.
fn recording(seconds: u32) -> anyhow::Result<Vec<u8>> {
    let rate = 16_000u32;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(seconds as usize * 32_000 + 44));
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
        for n in 0..seconds * rate {
            let second = n / rate;
            let sample = if second % 5 == 4 {
                0
            } else {
                let t = n as f32 / rate as f32;
                ((t * 220.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
            };
            writer.write_sample(sample)?;
        }
        writer.finalize()?;
    }
    Ok(bytes.into_inner())
}

/// The peak resident memory of a process so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Uploads one file; the conversation's id.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    wav: Vec<u8>,
    n: usize,
) -> anyhow::Result<String> {
    let part = reqwest::multipart::Part::bytes(wav)
        .file_name(format!("hour-{n}.wav"))
        .mime_str("audio/wav")?;
    let form = reqwest::multipart::Form::new().part("files", part);
    let response = http
        .post(format!("{base}/api/audio/upload"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("upload {n} answered {status}: {body}");
    }
    body["files"][0]["conversation_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("upload {n}: no conversation in {body}"))
}

/// Waits until the conversation has a transcript or a transcription error.
async fn transcribed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    while Instant::now() < deadline {
        let conversation: Value = http
            .get(format!("{base}/api/conversations/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let conversation = conversation.get("conversation").unwrap_or(&conversation);
        if let Some(error) = conversation["transcription_error"].as_str() {
            bail!("conversation {id} failed to transcribe: {error}");
        }
        if conversation["transcript"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("conversation {id} had no transcript after 30 minutes")
}

/// One run: `count` concurrent uploads of `wav` against a fresh server.
async fn run(count: usize, wav: &[u8], audio_seconds: u32) -> anyhow::Result<Value> {
    let speech = Transcriptions::start(|_| TranscriptionReply::Text("a tone.".into())).await;
    let speech_url = speech.base_url();
    let server = start_server(
        &server_binary()?,
        &[
            ("TRANSCRIPTION_PROVIDER", "openai"),
            ("TRANSCRIPTION_URL", &speech_url),
        ],
    )?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kib = peak_rss_kib(pid);
    let token = token(&server.base).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1800))
        .build()?;
    let started = Instant::now();
    let uploads: Vec<_> = (0..count)
        .map(|n| {
            let (http, base, token, wav) = (
                http.clone(),
                server.base.clone(),
                token.clone(),
                wav.to_vec(),
            );
            tokio::spawn(async move { upload(&http, &base, &token, wav, n).await })
        })
        .collect();
    let mut ids = Vec::new();
    for upload in uploads {
        ids.push(upload.await??);
    }
    let answered = started.elapsed();
    for id in &ids {
        transcribed(&http, &server.base, &token, id).await?;
    }
    let finished = started.elapsed();
    let pieces = speech.requests().len();
    Ok(json!({
        "uploads": count,
        "audio_seconds_each": audio_seconds,
        "file_mib_each": wav.len() as f64 / (1024.0 * 1024.0),
        "idle_rss_mib": idle_kib as f64 / 1024.0,
        "peak_rss_mib": peak_rss_kib(pid) as f64 / 1024.0,
        "answered_seconds": answered.as_secs_f64(),
        "transcribed_seconds": finished.as_secs_f64(),
        "transcription_requests": pieces,
    }))
}

pub async fn uploads(counts: &[usize], audio_seconds: u32) -> anyhow::Result<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let wav = recording(audio_seconds)?;
    let mut runs = Vec::new();
    for &count in counts {
        runs.push(run(count, &wav, audio_seconds).await?);
    }
    Ok(json!({
        "benchmark": "uploads",
        "what": "N concurrent uploads of one WAV file each (16 kHz mono) to a fresh release server, transcribed by a local OpenAI-compatible server",
        "runs": runs,
    }))
}
