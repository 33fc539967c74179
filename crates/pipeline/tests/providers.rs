//! The providers against real local servers (chronicle-test-servers) that speak each protocol
//! on 127.0.0.1: what goes over the wire, what comes back, and how every fault is reported.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chronicle_host_ports::{BackendError, LanguageModel};
use chronicle_pipeline::llm::{ChatModel, LlmError};
use chronicle_pipeline::memory;
use chronicle_pipeline::transcription::deepgram::DeepgramTranscriber;
use chronicle_pipeline::transcription::openai::OpenAiTranscriber;
use chronicle_pipeline::transcription::utterances::{UtteranceSettings, Utterances};
use chronicle_pipeline::transcription::wyoming::WyomingTranscriber;
use chronicle_pipeline::transcription::{
    BatchTranscriber, RetryPolicy, Segment, StreamInput, StreamingTranscriber, Transcriber,
    TranscriptionError, Update,
};
use chronicle_test_servers::{
    Chat, ChatReply, Deepgram, DeepgramBehaviour, TranscriptionReply, Transcriptions, Utterance,
    Wyoming, WyomingReply, last_user_message, system_message,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const RATE: usize = 16_000;
/// 100 ms of audio, as a device sends it.
const CHUNK: usize = RATE / 10;
/// How long a chunk lasts, for feeding audio in real time.
const CHUNK_DURATION: Duration = Duration::from_millis(100);
/// A provider timeout no healthy local exchange comes near.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest any test waits for a stream: a bug fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(20);
/// Retries quick enough for tests.
const FAST_RETRY: RetryPolicy = RetryPolicy {
    retries: 2,
    backoff: Duration::from_millis(50),
};

fn samples(seconds: f64) -> usize {
    (seconds * RATE as f64).round() as usize
}

/// "Speech": a 440 Hz sine tone at amplitude 8000.
fn tone(seconds: f64) -> Vec<i16> {
    let step = 2.0 * std::f64::consts::PI * 440.0 / RATE as f64;
    (0..samples(seconds))
        .map(|i| ((i as f64 * step).sin() * 8000.0) as i16)
        .collect()
}

fn silence(seconds: f64) -> Vec<i16> {
    vec![0; samples(seconds)]
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener
        .local_addr()
        .expect("a bound listener has an address")
        .port()
}

/// Sends `audio` in 100 ms chunks, waiting `pace` after each, then (when `finish`)
/// [`StreamInput::Finish`]. Stops quietly once the stream has stopped listening.
fn feed(
    input: mpsc::Sender<StreamInput>,
    audio: Vec<i16>,
    pace: Duration,
    finish: bool,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        for chunk in audio.chunks(CHUNK) {
            if input
                .send(StreamInput::Audio(chunk.to_vec()))
                .await
                .is_err()
            {
                return;
            }
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
        }
        if finish {
            let _ = input.send(StreamInput::Finish).await;
        }
    })
}

/// Every update until the stream ends; panics (with what came so far) after [`PATIENCE`].
async fn collect(updates: &mut mpsc::Receiver<Update>) -> Vec<Update> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut received = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Ok(Some(update)) => received.push(update),
            Ok(None) => return received,
            Err(_) => panic!("the stream did not end within {PATIENCE:?}; got {received:#?}"),
        }
    }
}

/// The kind of each update, for asserting order.
fn kinds(updates: &[Update]) -> Vec<&'static str> {
    updates
        .iter()
        .map(|update| match update {
            Update::Interim { .. } => "interim",
            Update::Final(_) => "final",
            Update::Missed(_) => "missed",
            Update::Failed(_) => "failed",
        })
        .collect()
}

fn finals(updates: &[Update]) -> Vec<&Segment> {
    updates
        .iter()
        .filter_map(|update| match update {
            Update::Final(segment) => Some(segment),
            _ => None,
        })
        .collect()
}

/// Waits until `condition` holds, failing after [`PATIENCE`].
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn openai(base_url: &str, timeout: Duration) -> Arc<OpenAiTranscriber> {
    Arc::new(OpenAiTranscriber::new(
        base_url,
        Some("sk-test".into()),
        "whisper-1".into(),
        Some("en".into()),
        timeout,
    ))
}

/// A configured OpenAI-compatible provider, both ways.
fn openai_transcriber(base_url: &str, timeout: Duration) -> Transcriber {
    let batch = openai(base_url, timeout);
    Transcriber {
        name: "openai",
        batch: batch.clone(),
        streaming: Arc::new(Utterances {
            provider: batch,
            settings: UtteranceSettings::default(),
            retry: FAST_RETRY,
        }),
    }
}

fn wyoming(uri: &str, timeout: Duration) -> WyomingTranscriber {
    WyomingTranscriber::new(uri, Some("en".into()), None, timeout)
}

fn deepgram(url: &str) -> DeepgramTranscriber {
    DeepgramTranscriber::new(url, "key".into(), "nova-3".into(), None, TIMEOUT)
}

fn utterance(at: f64, text: &str) -> Utterance {
    Utterance {
        at,
        text: text.into(),
    }
}

/// Two scripted utterances within 4 s of audio.
fn two_utterances() -> DeepgramBehaviour {
    DeepgramBehaviour::Script(vec![
        utterance(1.0, "Hey Hermes, turn off the lights."),
        utterance(3.0, "Add milk to the todo list."),
    ])
}

/// Speech, a pause, speech, a pause: two utterances for [`Utterances`].
fn two_spoken_utterances() -> Vec<i16> {
    [
        silence(0.5),
        tone(1.0),
        silence(1.0),
        tone(1.0),
        silence(1.0),
    ]
    .concat()
}

fn chat_model(base_url: &str) -> ChatModel {
    ChatModel::new(base_url, Some("sk-llm".into()), "llama3".into(), TIMEOUT)
}

/// Words are in order and each ends after it starts.
fn assert_words_increase(segments: &[&Segment]) {
    let words: Vec<_> = segments.iter().flat_map(|s| &s.words).collect();
    assert!(!words.is_empty());
    for word in &words {
        assert!(word.start < word.end, "{word:?}");
    }
    for pair in words.windows(2) {
        assert!(pair[0].end <= pair[1].start + 1e-9, "{pair:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible batch transcription
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn openai_sends_multipart_verbose_json_and_reads_segments_with_words() {
    let server = Transcriptions::start(|_| {
        TranscriptionReply::Text("Hello there. How are you today?".into())
    })
    .await;
    let provider = openai(&server.base_url(), TIMEOUT);
    let audio = [tone(1.5), silence(0.5)].concat();

    let transcript = provider.transcribe(&audio, None).await.unwrap();

    assert_eq!(transcript.text, "Hello there. How are you today?");
    let texts: Vec<&str> = transcript
        .segments
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(texts, ["Hello there.", "How are you today?"]);
    let words: Vec<Vec<&str>> = transcript
        .segments
        .iter()
        .map(|s| s.words.iter().map(|w| w.word.as_str()).collect())
        .collect();
    assert_eq!(
        words,
        [vec!["hello", "there"], vec!["how", "are", "you", "today"]]
    );
    // The server spreads the sentences over the 2 s it received.
    assert_eq!(
        (transcript.segments[1].start, transcript.segments[1].end),
        (1.0, 2.0)
    );
    for segment in &transcript.segments {
        for word in &segment.words {
            assert!(segment.start <= word.start && word.end <= segment.end + 1e-9);
        }
    }
    assert_words_increase(&transcript.segments.iter().collect::<Vec<_>>());

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.model, "whisper-1");
    assert_eq!(request.response_format, "verbose_json");
    assert_eq!(request.language.as_deref(), Some("en"));
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(request.filename.as_deref(), Some("audio.wav"));
    assert!(request.timestamp_granularities.contains(&"word".to_owned()));
    assert!(
        request
            .timestamp_granularities
            .contains(&"segment".to_owned())
    );
    assert_eq!(request.audio_seconds, 2.0);
}

#[tokio::test]
async fn openai_base_url_with_a_trailing_v1_still_reaches_the_endpoint() {
    let server = Transcriptions::start(|_| TranscriptionReply::Text("Fine.".into())).await;
    for base_url in [
        format!("{}/v1", server.base_url()),
        format!("{}/v1/", server.base_url()),
        format!("{}/", server.base_url()),
    ] {
        let transcript = openai(&base_url, TIMEOUT)
            .transcribe(&tone(0.5), None)
            .await
            .unwrap_or_else(|e| panic!("{base_url}: {e}"));
        assert_eq!(transcript.text, "Fine.");
    }
    assert_eq!(server.requests().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Faults and retries through `Transcriber::transcribe`
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn transient_server_errors_are_retried_until_the_third_request_succeeds() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let server = Transcriptions::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            TranscriptionReply::Status(500)
        } else {
            TranscriptionReply::Text("Third time lucky.".into())
        }
    })
    .await;
    let transcriber = openai_transcriber(&server.base_url(), TIMEOUT);

    let transcript = transcriber
        .transcribe(&tone(1.0), FAST_RETRY)
        .await
        .unwrap();

    assert_eq!(transcript.text, "Third time lucky.");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn garbage_answers_fail_as_garbled_after_every_retry() {
    let server = Transcriptions::start(|_| TranscriptionReply::Garbage).await;
    let transcriber = openai_transcriber(&server.base_url(), TIMEOUT);

    let error = transcriber
        .transcribe(&tone(1.0), FAST_RETRY)
        .await
        .unwrap_err();

    assert!(
        matches!(error, TranscriptionError::Garbled { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("OpenAI-compatible"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_refused_key_is_not_retried() {
    let server = Transcriptions::start(|_| TranscriptionReply::Status(401)).await;
    let transcriber = openai_transcriber(&server.base_url(), TIMEOUT);

    let error = transcriber
        .transcribe(&tone(1.0), FAST_RETRY)
        .await
        .unwrap_err();

    match &error {
        TranscriptionError::Refused { detail, .. } => {
            assert!(detail.starts_with("401"), "{detail}")
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(!error.is_transient());
    assert!(error.to_string().contains("OpenAI-compatible"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_within_the_configured_timeout() {
    let server = Transcriptions::start(|_| {
        TranscriptionReply::Delay(
            Duration::from_secs(5),
            Box::new(TranscriptionReply::Text("too late".into())),
        )
    })
    .await;
    let transcriber = openai_transcriber(&server.base_url(), Duration::from_millis(300));
    let started = Instant::now();

    let error = transcriber
        .transcribe(&tone(1.0), FAST_RETRY)
        .await
        .unwrap_err();

    assert!(
        matches!(error, TranscriptionError::TimedOut { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("OpenAI-compatible"), "{error}");
    // Three attempts of 300 ms and 150 ms of backoff; far less than one delayed answer.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let transcriber = openai_transcriber(&url, TIMEOUT);

    let error = transcriber
        .transcribe(&tone(1.0), FAST_RETRY)
        .await
        .unwrap_err();

    match &error {
        TranscriptionError::Unreachable { target, .. } => assert!(target.starts_with(&url)),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(error.to_string().contains("OpenAI-compatible"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Wyoming
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn wyoming_transcribes_and_sends_the_audio_format_and_language() {
    let server = Wyoming::start(false, |_| {
        WyomingReply::Transcript("Turn on the kitchen light.".into())
    })
    .await;
    let audio = [silence(0.25), tone(2.0)].concat();

    let transcript = wyoming(&server.uri(), TIMEOUT)
        .transcribe(&audio, None)
        .await
        .unwrap();

    assert_eq!(transcript.text, "Turn on the kitchen light.");
    assert_eq!(transcript.segments.len(), 1);
    assert_eq!(transcript.segments[0].end, 2.25);
    assert_eq!(transcript.words().len(), 5);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.rate, request.width, request.channels),
        (16_000, 2, 1)
    );
    assert_eq!(request.language.as_deref(), Some("en"));
    assert_eq!(request.model, None);
    assert_eq!(request.audio.len(), audio.len() * 2);
    assert_eq!(request.audio_seconds, 2.25);
}

#[tokio::test]
async fn wyoming_streamed_transcript_chunks_reach_the_partials_channel() {
    let server = Wyoming::start(true, |_| WyomingReply::Transcript("one two three".into())).await;
    let (partials, mut received) = mpsc::channel(16);

    let transcript = wyoming(&server.uri(), TIMEOUT)
        .transcribe(&tone(1.0), Some(&partials))
        .await
        .unwrap();
    drop(partials);

    assert_eq!(transcript.text, "one two three");
    let mut pieces = Vec::new();
    while let Some(piece) = received.recv().await {
        pieces.push(piece);
    }
    assert_eq!(pieces, ["one ", "two ", "three "]);
}

#[tokio::test]
async fn wyoming_describe_names_the_program_and_says_it_streams() {
    let server = Wyoming::start(true, |_| WyomingReply::Transcript(String::new())).await;

    let description = wyoming(&server.uri(), TIMEOUT).describe().await.unwrap();

    assert!(description.contains("fake-whisper"), "{description}");
    assert!(description.contains("tiny"), "{description}");
    assert!(description.contains("streams its text"), "{description}");
    assert_eq!(server.describes(), 1);
}

#[tokio::test]
async fn wyoming_faults_map_to_unreachable_garbled_and_timed_out() {
    let cases = [
        (WyomingReply::Close, "unreachable"),
        (WyomingReply::Garbage, "garbled"),
        (
            WyomingReply::Delay(
                Duration::from_secs(5),
                Box::new(WyomingReply::Transcript("late".into())),
            ),
            "timed out",
        ),
    ];
    for (reply, expected) in cases {
        let server = Wyoming::start(false, move |_| reply.clone()).await;
        let started = Instant::now();

        let error = wyoming(&server.uri(), Duration::from_millis(300))
            .transcribe(&tone(1.0), None)
            .await
            .unwrap_err();

        let kind = match error {
            TranscriptionError::Unreachable { .. } => "unreachable",
            TranscriptionError::Garbled { .. } => "garbled",
            TranscriptionError::TimedOut { .. } => "timed out",
            TranscriptionError::Refused { .. } => "refused",
            TranscriptionError::Behind { .. } => "behind",
        };
        assert_eq!(kind, expected, "{error:?}");
        assert!(error.to_string().contains("Wyoming"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(3), "{expected}");
        assert_eq!(server.requests().len(), 1, "{expected}");
    }

    let error = wyoming(&format!("tcp://127.0.0.1:{}", closed_port()), TIMEOUT)
        .transcribe(&tone(1.0), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TranscriptionError::Unreachable { .. }),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Deepgram streaming
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deepgram_stream_delivers_interim_then_final_per_utterance_and_ends() {
    let server = Deepgram::start(|_| two_utterances()).await;
    let mut stream = deepgram(&server.url()).open(vec!["hey hermes".into(), "todo".into()]);
    let audio = [tone(2.0), silence(2.0)].concat();
    let feeding = feed(stream.audio.clone(), audio.clone(), Duration::ZERO, true);

    let updates = collect(&mut stream.updates).await;
    feeding.await.unwrap();

    assert_eq!(kinds(&updates), ["interim", "final", "interim", "final"]);
    let Update::Interim { text, .. } = &updates[0] else {
        unreachable!()
    };
    assert_eq!(text, "Hey Hermes, turn");
    let finals = finals(&updates);
    assert_eq!(finals[0].text, "Hey Hermes, turn off the lights.");
    assert_eq!(finals[1].text, "Add milk to the todo list.");
    assert_eq!(finals[0].words[1].word, "hermes");
    assert_eq!(finals[0].words.len(), 6);
    assert!((finals[0].end - 1.0).abs() < 1e-9, "{}", finals[0].end);
    assert!((finals[1].end - 3.0).abs() < 1e-9, "{}", finals[1].end);
    assert_eq!(finals[0].confidence, Some(0.98));
    assert_words_increase(&finals);

    let connections = server.connections();
    assert_eq!(connections.len(), 1);
    let connection = &connections[0];
    assert_eq!(connection.authorization.as_deref(), Some("Token key"));
    assert_eq!(connection.query_values("keyterm"), ["hey hermes", "todo"]);
    assert_eq!(connection.query_values("encoding"), ["linear16"]);
    assert_eq!(connection.query_values("sample_rate"), ["16000"]);
    assert_eq!(connection.query_values("model"), ["nova-3"]);
    assert_eq!(connection.audio_bytes, audio.len() * 2);
    assert!(connection.close_stream_received);
}

#[tokio::test]
async fn deepgram_reconnects_after_a_refused_connection_and_keeps_the_audio() {
    let server = Deepgram::start(|index| match index {
        0 => DeepgramBehaviour::Reject(503),
        _ => DeepgramBehaviour::Script(vec![utterance(1.0, "Still here.")]),
    })
    .await;
    let mut stream = deepgram(&server.url()).open(Vec::new());
    // Half a second arrives while the first connection is refused and the stream waits to
    // reconnect: it waits in the backlog and goes out first on the next connection.
    let lost = feed(stream.audio.clone(), tone(0.5), Duration::ZERO, false);
    lost.await.unwrap();
    eventually("a second connection", || server.connections().len() >= 2).await;
    let feeding = feed(stream.audio.clone(), tone(2.0), Duration::ZERO, true);

    let updates = collect(&mut stream.updates).await;
    feeding.await.unwrap();

    assert_eq!(kinds(&updates), ["interim", "final"], "{updates:#?}");
    let finals = finals(&updates);
    assert_eq!(finals[0].text, "Still here.");
    // 1 s into the second connection, which carries the whole stream.
    assert!((finals[0].end - 1.0).abs() < 1e-9, "{}", finals[0].end);
    let connections = server.connections();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[1].audio_bytes, samples(2.5) * 2);
}

#[tokio::test]
async fn deepgram_refused_key_fails_the_stream_without_retrying() {
    let server = Deepgram::start(|_| DeepgramBehaviour::Reject(401)).await;
    let mut stream = deepgram(&server.url()).open(Vec::new());
    let feeding = feed(stream.audio.clone(), tone(1.0), Duration::ZERO, true);

    let updates = collect(&mut stream.updates).await;
    feeding.await.unwrap();

    assert_eq!(kinds(&updates), ["failed"]);
    let Update::Failed(error) = &updates[0] else {
        unreachable!()
    };
    match error {
        TranscriptionError::Refused { detail, .. } => {
            assert!(detail.starts_with("401"), "{detail}")
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(error.to_string().contains("Deepgram"), "{error}");
    assert_eq!(server.connections().len(), 1);
}

#[tokio::test]
async fn deepgram_garbage_on_every_connection_fails_after_four_connections() {
    let server = Deepgram::start(|_| DeepgramBehaviour::Garbage).await;
    let mut stream = deepgram(&server.url()).open(Vec::new());
    // Audio keeps arriving in real time, as from a device, for longer than the stream may last.
    let feeding = feed(stream.audio.clone(), tone(30.0), CHUNK_DURATION, false);
    drop(stream.audio);
    let started = Instant::now();

    let updates = collect(&mut stream.updates).await;
    feeding.abort();

    assert_eq!(kinds(&updates), ["failed"], "{updates:#?}");
    assert!(
        matches!(
            updates[0],
            Update::Failed(TranscriptionError::Garbled { .. })
        ),
        "{updates:?}"
    );
    // Every connection failed (none answered in the protocol), so the fourth is the last.
    assert_eq!(server.connections().len(), 4);
    // Backoff of 1 + 2 + 4 s, with a margin.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn deepgram_as_batch_joins_the_scripted_finals() {
    let server = Deepgram::start(|_| two_utterances()).await;
    let provider = deepgram(&server.url());
    let audio = [tone(2.0), silence(2.0)].concat();

    let transcript = BatchTranscriber::transcribe(&provider, &audio, None)
        .await
        .unwrap();

    assert_eq!(
        transcript.text,
        "Hey Hermes, turn off the lights. Add milk to the todo list."
    );
    assert_eq!(transcript.segments.len(), 2);
    assert_eq!(transcript.words().len(), 12);
    let connections = server.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].audio_bytes, audio.len() * 2);
    assert!(connections[0].close_stream_received);
}

// ---------------------------------------------------------------------------------------------
// Batch providers as live streams (Utterances)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn utterances_cut_at_pauses_and_finals_are_timed_in_the_stream() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let server = Transcriptions::start(move |_| {
        let text = match seen.fetch_add(1, Ordering::SeqCst) {
            0 => "first part.",
            _ => "second part.",
        };
        TranscriptionReply::Text(text.into())
    })
    .await;
    let adapter = Utterances {
        provider: openai(&server.base_url(), TIMEOUT),
        settings: UtteranceSettings::default(),
        retry: FAST_RETRY,
    };
    let mut stream = adapter.open(Vec::new());
    let feeding = feed(
        stream.audio.clone(),
        two_spoken_utterances(),
        Duration::ZERO,
        true,
    );

    let updates = collect(&mut stream.updates).await;
    feeding.await.unwrap();

    assert_eq!(kinds(&updates), ["final", "final"], "{updates:#?}");
    let finals = finals(&updates);
    assert_eq!(finals[0].text, "first part.");
    assert_eq!(finals[1].text, "second part.");
    // Speech starts at 0.5 s and 2.5 s; each cut keeps 0.3 s of pre-roll at most.
    assert!((0.1..0.5).contains(&finals[0].start), "{}", finals[0].start);
    assert!((2.1..2.5).contains(&finals[1].start), "{}", finals[1].start);
    assert!(finals[1].start >= finals[0].end - 1e-9);
    assert_words_increase(&finals);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn utterances_over_streaming_wyoming_relay_interims_before_each_final() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let server = Wyoming::start(true, move |_| {
        let text = match seen.fetch_add(1, Ordering::SeqCst) {
            0 => "first part.",
            _ => "second part.",
        };
        WyomingReply::Transcript(text.into())
    })
    .await;
    let adapter = Utterances {
        provider: Arc::new(wyoming(&server.uri(), TIMEOUT)),
        settings: UtteranceSettings::default(),
        retry: FAST_RETRY,
    };
    let mut stream = adapter.open(Vec::new());
    let feeding = feed(
        stream.audio.clone(),
        two_spoken_utterances(),
        Duration::ZERO,
        true,
    );

    let updates = collect(&mut stream.updates).await;
    feeding.await.unwrap();

    assert_eq!(
        kinds(&updates),
        ["interim", "interim", "final", "interim", "interim", "final"],
        "{updates:#?}"
    );
    let texts: Vec<&str> = updates
        .iter()
        .map(|update| match update {
            Update::Interim { text, .. } => text.as_str(),
            Update::Final(segment) => segment.text.as_str(),
            Update::Missed(error) | Update::Failed(error) => panic!("{error}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            "first",
            "first part.",
            "first part.",
            "second",
            "second part.",
            "second part."
        ]
    );
    assert!(finals(&updates)[1].start > 2.1);
}

#[tokio::test]
async fn utterances_report_each_failed_utterance_and_the_stream_still_ends() {
    let server = Transcriptions::start(|_| TranscriptionReply::Status(500)).await;
    let adapter = Utterances {
        provider: openai(&server.base_url(), TIMEOUT),
        settings: UtteranceSettings::default(),
        retry: RetryPolicy {
            retries: 1,
            backoff: Duration::from_millis(10),
        },
    };
    let mut stream = adapter.open(Vec::new());
    let feeding = feed(
        stream.audio.clone(),
        two_spoken_utterances(),
        Duration::ZERO,
        true,
    );

    let updates = collect(&mut stream.updates).await;
    feeding.await.unwrap();

    assert_eq!(kinds(&updates), ["missed", "missed"], "{updates:#?}");
    for update in &updates {
        assert!(
            matches!(update, Update::Missed(TranscriptionError::Refused { detail, .. }) if detail.starts_with("500")),
            "{update:?}"
        );
    }
    // Each utterance: the first try and one retry.
    assert_eq!(server.requests().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// The language model
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn chat_model_completes_with_model_messages_and_bearer_key() {
    let server =
        Chat::start(|body| ChatReply::Content(format!("You said: {}", last_user_message(body))))
            .await;
    let model = chat_model(&format!("{}/v1", server.base_url()));

    let answer = model.complete("Be brief.", "hello").await.unwrap();

    assert_eq!(answer, "You said: hello");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0];
    assert_eq!(body["model"], "llama3");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(system_message(body), "Be brief.");
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(last_user_message(body), "hello");
    assert_eq!(server.authorizations(), [Some("Bearer sk-llm".to_owned())]);
}

#[tokio::test]
async fn memory_extraction_reads_fenced_json_and_drops_known_facts() {
    let server = Chat::start(|_| {
        ChatReply::Content(
            "Here you go:\n```json\n{\"facts\": [\"Alex likes green tea\", \
             \"Alex is moving to Lisbon in May.\", \"Alex's sister is called Mia.\"]}\n```"
                .into(),
        )
    })
    .await;
    let model = chat_model(&format!("{}/v1", server.base_url()));
    let existing = vec!["Alex likes green tea.".to_owned()];
    let transcript = "I'm moving to Lisbon in May. My sister Mia will visit.";

    let facts = memory::extract(&model, transcript, &existing)
        .await
        .unwrap();

    assert_eq!(
        facts,
        [
            "Alex is moving to Lisbon in May.",
            "Alex's sister is called Mia."
        ]
    );
    let request = &server.requests()[0];
    let user = last_user_message(request);
    assert!(user.contains("Alex likes green tea."), "{user}");
    assert!(user.contains(transcript), "{user}");
    assert!(system_message(request).contains("facts"));
}

#[tokio::test]
async fn title_and_summary_are_parsed_from_the_answer() {
    let server = Chat::start(|_| {
        ChatReply::Content(
            "{\"title\": \" Moving to Lisbon \", \"summary\": \"Alex plans the move.\"}".into(),
        )
    })
    .await;
    let model = chat_model(&format!("{}/v1", server.base_url()));

    let (title, summary) = memory::title_and_summary(&model, "We talked about Lisbon.")
        .await
        .unwrap();

    assert_eq!(title, "Moving to Lisbon");
    assert_eq!(summary, "Alex plans the move.");
}

#[tokio::test]
async fn chat_model_faults_map_to_garbled_refused_and_unreachable() {
    let garbage = Chat::start(|_| ChatReply::Garbage).await;
    let error = chat_model(&format!("{}/v1", garbage.base_url()))
        .complete("", "hi")
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Garbled(_)), "{error:?}");

    let failing = Chat::start(|_| ChatReply::Status(500)).await;
    let error = chat_model(&format!("{}/v1", failing.base_url()))
        .complete("", "hi")
        .await
        .unwrap_err();
    match &error {
        LlmError::Refused(detail) => assert!(detail.starts_with("500"), "{detail}"),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(failing.requests().len(), 1, "a refusal is not retried");

    let url = format!("http://127.0.0.1:{}/v1", closed_port());
    let error = chat_model(&url).complete("", "hi").await.unwrap_err();
    match &error {
        LlmError::Unreachable { url: target, .. } => {
            assert_eq!(target, &format!("{url}/chat/completions"));
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn language_model_generate_reports_an_unreachable_server_as_unavailable() {
    let server =
        Chat::start(|body| ChatReply::Content(last_user_message(body).to_uppercase())).await;
    let model = chat_model(&format!("{}/v1", server.base_url()));
    assert_eq!(model.generate("shout").await.unwrap(), "SHOUT");
    // No system message when the plugin gives only a prompt.
    assert_eq!(
        server.requests()[0]["messages"].as_array().unwrap().len(),
        1
    );

    let url = format!("http://127.0.0.1:{}/v1", closed_port());
    let error = chat_model(&url).generate("hi").await.unwrap_err();
    assert!(matches!(error, BackendError::Unavailable(_)), "{error:?}");
}
