//! Whole conversations through the pipeline and real plugins, with the providers played by
//! real local servers (`chronicle-test-servers`): which events fire, with what data, in what
//! order, and why each conversation ended.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chronicle_host_ports::{Actor, ConversationControl};
use chronicle_pipeline::SessionControl;
use chronicle_pipeline::config::ConversationSettings;
use chronicle_pipeline::session::SessionOwner;
use chronicle_pipeline::transcription::deepgram::DeepgramTranscriber;
use chronicle_pipeline::transcription::openai::OpenAiTranscriber;
use chronicle_pipeline::transcription::wyoming::WyomingTranscriber;
use chronicle_pipeline::transcription::{RetryPolicy, Transcriber};
use chronicle_pipeline::{ChatModel, Pipeline, Session, Speech};
use chronicle_plugin_api::{CloseReason, EndReason, Event, JsonMap};
use chronicle_plugin_host::{Backends, DispatchRecord, EventLog, HostConfig, PluginHost};
use chronicle_store::{Owner, Store};
use chronicle_test_servers::{
    Chat, ChatReply, Deepgram, DeepgramBehaviour, TranscriptionReply, Transcriptions, Utterance,
    Wyoming, WyomingReply, last_user_message, system_message,
};
use serde_json::{Value, json};

const PLUGINS_YML: &str = r#"plugins:
  test_event:
    enabled: true
    events: [transcript.streaming]
    condition: {type: wake_word, wake_words: ["Hey Hermes"]}
    permissions: [database]
  test_button_actions:
    enabled: true
    events: [button.single_press]
    permissions: [close_conversation]
    actions:
      single_press: {type: close_conversation}
"#;

/// What the pipeline dispatched: each request as sent, and what the plugins did with it.
#[derive(Clone, Debug)]
struct Seen {
    event: Event,
    data: Value,
    metadata: Value,
    record: Arc<DispatchRecord>,
}

/// The event log, with every dispatch written down as it is recorded.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

impl EventLog for Recorder {
    fn record(&self, record: Arc<DispatchRecord>) {
        self.seen.lock().unwrap().push(Seen {
            event: record.event,
            data: Value::Object((*record.data).clone()),
            metadata: Value::Object(record.metadata.clone()),
            record,
        });
    }

    fn recent(&self, _: Option<&str>, _: usize) -> Vec<Arc<DispatchRecord>> {
        Vec::new()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    pipeline: Arc<Pipeline>,
    recorder: Arc<Recorder>,
    control: Arc<SessionControl>,
    store: Store,
    user_id: String,
}

impl Fixture {
    async fn new(
        transcriber: Option<Transcriber>,
        llm: Option<ChatModel>,
        settings: ConversationSettings,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).await.unwrap();
        let user = store
            .create_user("ana@example.com", "h", false)
            .await
            .unwrap();
        std::fs::write(dir.path().join("plugins.yml"), PLUGINS_YML).unwrap();
        let (control, requests) = SessionControl::new();
        let recorder = Arc::new(Recorder::default());
        let backends = Backends {
            conversations: Arc::clone(&control) as _,
            documents: Arc::new(store.clone()),
            event_log: Arc::clone(&recorder) as _,
            ..Backends::in_memory()
        };
        let config = HostConfig::new(
            dir.path(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins"),
        );
        let loaded = PluginHost::load(&config, chronicle_plugins::REGISTRY, backends)
            .unwrap_or_else(|errors| panic!("{errors}"));
        loaded.host.initialize().await;
        let pipeline = Pipeline::new(
            store.clone(),
            Arc::new(loaded.host),
            transcriber,
            llm,
            settings,
            Default::default(),
        )
        .await
        .unwrap();
        requests.serve(&pipeline);
        Self {
            _dir: dir,
            pipeline,
            recorder,
            control,
            store,
            user_id: user.id,
        }
    }

    fn start(&self, batch: bool) -> Arc<Session> {
        let owner = SessionOwner {
            user_id: self.user_id.clone(),
            client_id: "abc123-pendant".into(),
            device_name: "pendant".into(),
        };
        Session::start(&self.pipeline, owner, Speech::Provider, batch, None).0
    }

    fn seen(&self) -> Vec<Seen> {
        self.recorder.seen.lock().unwrap().clone()
    }

    fn events(&self, event: Event) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.event == event)
            .collect()
    }

    /// Waits (bounded) until `count` conversations have completed.
    async fn completed(&self, count: usize) -> Vec<Seen> {
        for _ in 0..400 {
            let done = self.events(Event::ConversationComplete);
            if done.len() >= count {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{count} conversation(s) did not complete; saw {:?}",
            self.seen().iter().map(|s| s.event).collect::<Vec<_>>()
        );
    }

    /// Sends `seconds` of audio in 100 ms chunks: a tone (speech to an energy detector) or
    /// silence.
    async fn feed(&self, session: &Session, seconds: f64, speech: bool) {
        for _ in 0..(seconds * 10.0).round() as usize {
            let chunk: Vec<i16> = (0..1600)
                .map(|i| {
                    if speech {
                        ((i as f64 * 0.2).sin() * 8000.0) as i16
                    } else {
                        0
                    }
                })
                .collect();
            session.audio(&self.pipeline, &chunk).await.unwrap();
            // Lets the provider's answers arrive while the audio flows, as they would live.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn wake_word_documents(&self) -> Vec<JsonMap> {
        use chronicle_host_ports::DocumentStore;
        self.store
            .find("test_event", "events", &JsonMap::new(), None)
            .await
            .unwrap()
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        retries: 1,
        backoff: Duration::from_millis(20),
    }
}

/// A chat server that extracts one memory and writes a title, as a model would.
async fn chat_server() -> Chat {
    Chat::start(|body| {
        if system_message(body).contains("memories") {
            let transcript = last_user_message(body);
            assert!(transcript.contains("TRANSCRIPT:"), "{transcript}");
            ChatReply::Content(
                "```json\n{\"facts\": [\"Ana wants to buy milk tomorrow.\"]}\n```".into(),
            )
        } else {
            ChatReply::Content(
                "{\"title\": \"Lights and milk\", \"summary\": \"Ana turned off the lights and planned to buy milk.\"}".into(),
            )
        }
    })
    .await
}

fn deepgram(server: &Deepgram) -> Transcriber {
    let provider = Arc::new(DeepgramTranscriber::new(
        &server.url(),
        "dg-key".into(),
        "nova-3".into(),
        None,
        Duration::from_secs(5),
    ));
    Transcriber {
        name: "deepgram",
        batch: provider.clone(),
        streaming: provider,
    }
}

fn by_utterance(
    name: &'static str,
    batch: Arc<dyn chronicle_pipeline::transcription::BatchTranscriber>,
) -> Transcriber {
    Transcriber::by_utterance(name, batch, fast_retry())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_conversation_fires_each_event_once_with_its_data_and_in_order() {
    let speech = Deepgram::start(|_| {
        DeepgramBehaviour::Script(vec![
            Utterance {
                at: 1.5,
                text: "Hey Hermes, turn off the lights.".into(),
            },
            Utterance {
                at: 3.5,
                text: "Then remind me to buy milk tomorrow.".into(),
            },
        ])
    })
    .await;
    let chat = chat_server().await;
    let llm = ChatModel::new(
        &format!("{}/v1", chat.base_url()),
        None,
        "llama3".into(),
        Duration::from_secs(5),
    );
    let fixture = Fixture::new(
        Some(deepgram(&speech)),
        Some(llm),
        ConversationSettings::default(),
    )
    .await;
    let session = fixture.start(false);
    fixture.feed(&session, 5.0, true).await;
    session
        .stop(&fixture.pipeline, EndReason::UserStopped)
        .await;
    fixture.completed(1).await;

    // The provider was asked to listen for the plugins' wake word.
    let connection = &speech.connections()[0];
    assert_eq!(connection.query_values("keyterm"), ["hey hermes"]);
    assert_eq!(connection.authorization.as_deref(), Some("Token dg-key"));

    // One transcript.streaming per final segment, each its own words, not the text so far.
    let streaming = fixture.events(Event::TranscriptStreaming);
    let transcripts: Vec<&Value> = streaming.iter().map(|s| &s.data["transcript"]).collect();
    assert_eq!(
        transcripts,
        [
            &json!("Hey Hermes, turn off the lights."),
            &json!("Then remind me to buy milk tomorrow.")
        ]
    );
    let first = &streaming[0].data;
    let conversation_id = first["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(first["segment_id"], format!("{}_1", session.session_id));
    assert_eq!(first["session_id"], session.session_id);
    assert_eq!(first["client_id"], "abc123-pendant");
    assert_eq!(first["is_final"], true);
    assert_eq!(first["words"].as_array().unwrap().len(), 6);
    assert_eq!(first["words"][1]["word"], "hermes");
    assert_eq!(
        first["segments"][0]["text"],
        "Hey Hermes, turn off the lights."
    );
    assert!(first["confidence"].as_f64().is_some());
    assert_eq!(
        streaming[1].data["conversation_id"],
        conversation_id.as_str()
    );
    assert_eq!(streaming[0].metadata["client_id"], "abc123-pendant");

    // The wake-word plugin ran exactly once, with the command after the wake word.
    let woken = fixture.wake_word_documents().await;
    assert_eq!(woken.len(), 1, "{woken:?}");
    assert_eq!(woken[0]["data"]["command"], "turn off the lights");
    assert_eq!(
        woken[0]["data"]["original_transcript"],
        "Hey Hermes, turn off the lights."
    );
    let skipped = streaming[1].record.outcome("test_event").unwrap();
    assert_eq!(
        skipped.reason.as_deref(),
        Some("condition `wake_word` not met")
    );

    // memory.processed, then conversation.complete, last.
    let order: Vec<Event> = fixture.seen().iter().map(|s| s.event).collect();
    assert_eq!(
        order,
        [
            Event::TranscriptStreaming,
            Event::TranscriptStreaming,
            Event::MemoryProcessed,
            Event::ConversationComplete
        ]
    );
    let memory = &fixture.events(Event::MemoryProcessed)[0];
    assert_eq!(memory.data["memory_count"], 1);
    assert_eq!(memory.data["conversation_id"], conversation_id.as_str());
    assert_eq!(memory.data["conversation"]["user_email"], "ana@example.com");
    assert_eq!(memory.data["conversation"]["client_id"], "abc123-pendant");
    let memory_id = memory.data["memories"][0].as_str().unwrap();
    let stored = fixture
        .store
        .conversation_memories(&Owner::Admin, &conversation_id)
        .await
        .unwrap();
    assert_eq!(
        (stored[0].memory_id.as_str(), stored[0].content.as_str()),
        (memory_id, "Ana wants to buy milk tomorrow.")
    );

    let complete = &fixture.events(Event::ConversationComplete)[0];
    assert_eq!(complete.metadata, json!({"end_reason": "user_stopped"}));
    assert_eq!(complete.data["conversation_id"], conversation_id.as_str());
    assert_eq!(
        complete.data["transcript"],
        "Hey Hermes, turn off the lights. Then remind me to buy milk tomorrow."
    );
    assert_eq!(
        complete.data["conversation"]["user_id"],
        fixture.user_id.as_str()
    );
    assert_eq!(complete.data["conversation"]["title"], "Lights and milk");
    assert_eq!(
        complete.data["conversation"]["user_email"],
        "ana@example.com"
    );
    // Real seconds: from the first word (about 1 s in) to the stop at 5 s.
    let duration = complete.data["duration"].as_f64().unwrap();
    assert!((3.0..=5.0).contains(&duration), "{duration}");

    let stored = fixture
        .store
        .conversation(&Owner::Admin, &conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.end_reason, Some(EndReason::UserStopped));
    assert_eq!(
        complete.data["conversation"]["created_at"],
        stored.created_at.as_str(),
        "when it began, for plugins that date it"
    );
    assert_eq!(
        stored.summary.as_deref(),
        Some("Ana turned off the lights and planned to buy milk.")
    );
    assert_eq!(stored.segments.len(), 2);
    // A second extraction sees the memory it made and is asked not to repeat it.
    assert_eq!(chat.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_closes_the_conversation_and_the_next_speech_opens_another() {
    let speech = Deepgram::start(|_| {
        DeepgramBehaviour::Script(vec![
            Utterance {
                at: 1.0,
                text: "First thing.".into(),
            },
            Utterance {
                at: 6.0,
                text: "Second thing.".into(),
            },
        ])
    })
    .await;
    let settings = ConversationSettings {
        inactivity_seconds: 2.0,
        ..Default::default()
    };
    let fixture = Fixture::new(Some(deepgram(&speech)), None, settings).await;
    let session = fixture.start(false);
    fixture.feed(&session, 7.0, false).await;
    session
        .stop(&fixture.pipeline, EndReason::WebsocketDisconnect)
        .await;
    let done = fixture.completed(2).await;
    let reasons: Vec<&Value> = done.iter().map(|s| &s.metadata["end_reason"]).collect();
    assert_eq!(
        reasons,
        [&json!("inactivity_timeout"), &json!("websocket_disconnect")]
    );
    assert_eq!(done[0].data["transcript"], "First thing.");
    assert_eq!(done[1].data["transcript"], "Second thing.");
    assert_ne!(
        done[0].data["conversation_id"],
        done[1].data["conversation_id"]
    );
    // Without a language model, no memories: memory.processed never fires.
    assert!(fixture.events(Event::MemoryProcessed).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_opens_no_conversation_when_speech_is_detected() {
    let speech = Deepgram::start(|_| DeepgramBehaviour::Script(vec![])).await;
    let fixture = Fixture::new(
        Some(deepgram(&speech)),
        None,
        ConversationSettings::default(),
    )
    .await;
    let session = fixture.start(false);
    fixture.feed(&session, 2.0, false).await;
    session
        .stop(&fixture.pipeline, EndReason::UserStopped)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fixture.seen().is_empty(), "{:?}", fixture.seen());
    let (conversations, _) = fixture
        .store
        .list_conversations(&Owner::Admin, 10, 0)
        .await
        .unwrap();
    assert!(conversations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_close_requests_and_buttons_end_conversations_with_their_reasons() {
    // No transcription: conversations span the audio, cut at the maximum length.
    let settings = ConversationSettings {
        max_duration_seconds: 2.0,
        ..Default::default()
    };
    let fixture = Fixture::new(None, None, settings).await;
    let session = fixture.start(false);
    fixture.feed(&session, 2.5, true).await;
    // A plugin's close request (the service test_button_actions uses).
    let closed = fixture
        .control
        .close_conversation(
            &Actor::User(fixture.user_id.as_str().into()),
            &session.session_id,
            CloseReason::PluginRequested,
        )
        .await
        .unwrap();
    assert!(closed);
    // Another user's plugin cannot close this session's conversation.
    fixture.feed(&session, 0.5, true).await;
    assert!(
        !fixture
            .control
            .close_conversation(
                &Actor::User("someone-else".into()),
                &session.session_id,
                CloseReason::PluginRequested
            )
            .await
            .unwrap()
    );
    // Nor one whose user happens to be called `system`: only the host acts for everyone.
    assert!(
        !fixture
            .control
            .close_conversation(
                &Actor::User("system".into()),
                &session.session_id,
                CloseReason::ButtonClose
            )
            .await
            .unwrap()
    );
    session
        .stop(&fixture.pipeline, EndReason::UserStopped)
        .await;
    let done = fixture.completed(3).await;
    let reasons: Vec<&Value> = done.iter().map(|s| &s.metadata["end_reason"]).collect();
    assert_eq!(
        reasons,
        [
            &json!("max_duration"),
            &json!("plugin_requested"),
            &json!("user_stopped")
        ]
    );
    assert_eq!(done[0].data["duration"], 2.0);
    assert_eq!(done[0].data["transcript"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_mode_transcribes_the_whole_recording_then_extracts_and_completes() {
    let speech = Transcriptions::start(|request| {
        assert!(
            request.audio_seconds > 2.9,
            "the whole recording: {}",
            request.audio_seconds
        );
        TranscriptionReply::Text("Hey Hermes, call mom. She is expecting me.".into())
    })
    .await;
    let chat = chat_server().await;
    let llm = ChatModel::new(
        &format!("{}/v1", chat.base_url()),
        Some("sk-test".into()),
        "gpt-4o-mini".into(),
        Duration::from_secs(5),
    );
    let openai = Arc::new(OpenAiTranscriber::new(
        &speech.base_url(),
        Some("sk-test".into()),
        "whisper-1".into(),
        None,
        Duration::from_secs(5),
    ));
    let fixture = Fixture::new(
        Some(by_utterance("openai", openai)),
        Some(llm),
        ConversationSettings::default(),
    )
    .await;
    let session = fixture.start(true);
    fixture.feed(&session, 3.0, true).await;
    session
        .stop(&fixture.pipeline, EndReason::UserStopped)
        .await;
    fixture.completed(1).await;
    assert_eq!(
        speech.requests().len(),
        1,
        "one request for the whole recording"
    );
    let order: Vec<Event> = fixture.seen().iter().map(|s| s.event).collect();
    assert_eq!(
        order,
        [
            Event::TranscriptBatch,
            Event::MemoryProcessed,
            Event::ConversationComplete
        ]
    );
    let batch = &fixture.events(Event::TranscriptBatch)[0];
    let conversation_id = batch.data["conversation_id"].as_str().unwrap();
    assert_eq!(
        batch.data["transcript"],
        "Hey Hermes, call mom. She is expecting me."
    );
    assert_eq!(batch.data["segment_id"], format!("{conversation_id}_batch"));
    assert_eq!(batch.data["word_count"], 8);
    assert_eq!(batch.data["segments"].as_array().unwrap().len(), 2);
    assert_eq!(batch.metadata["client_id"], "abc123-pendant");
    let complete = &fixture.events(Event::ConversationComplete)[0];
    assert_eq!(complete.data["duration"], 3.0);
    assert_eq!(
        complete.data["transcript"],
        "Hey Hermes, call mom. She is expecting me."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_fails_only_that_conversation_with_its_reason() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let wyoming = Arc::new(WyomingTranscriber::new(
        &format!("tcp://127.0.0.1:{port}"),
        None,
        None,
        Duration::from_secs(2),
    ));
    let fixture = Fixture::new(
        Some(by_utterance("wyoming", wyoming)),
        None,
        ConversationSettings::default(),
    )
    .await;
    let session = fixture.start(false);
    fixture.feed(&session, 1.5, true).await;
    fixture.feed(&session, 1.0, false).await;
    session
        .stop(&fixture.pipeline, EndReason::UserStopped)
        .await;
    let done = fixture.completed(1).await;
    assert_eq!(done[0].data["transcript"], "");
    let id = done[0].data["conversation_id"].as_str().unwrap();
    let stored = fixture
        .store
        .conversation(&Owner::Admin, id)
        .await
        .unwrap()
        .unwrap();
    let reason = stored.transcription_error.unwrap_or_default();
    assert!(
        reason.contains("Wyoming") && reason.contains("unreachable"),
        "{reason}"
    );
    assert!(stored.audio_path.is_none() || stored.duration_seconds.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_provider_and_the_model_costs_their_steps_only() {
    let speech = Wyoming::start(false, |_| WyomingReply::Garbage).await;
    let chat = Chat::start(|_| ChatReply::Garbage).await;
    let llm = ChatModel::new(
        &format!("{}/v1", chat.base_url()),
        None,
        "llama3".into(),
        Duration::from_secs(5),
    );
    let wyoming = Arc::new(WyomingTranscriber::new(
        &speech.uri(),
        None,
        None,
        Duration::from_secs(2),
    ));
    let fixture = Fixture::new(
        Some(by_utterance("wyoming", wyoming)),
        Some(llm),
        ConversationSettings {
            retry: fast_retry(),
            ..Default::default()
        },
    )
    .await;
    // Batch mode: the whole recording fails after one retry (two requests).
    let session = fixture.start(true);
    fixture.feed(&session, 1.0, true).await;
    session
        .stop(&fixture.pipeline, EndReason::UserStopped)
        .await;
    let done = fixture.completed(1).await;
    assert_eq!(
        speech.requests().len(),
        2,
        "bounded: the first try and one retry"
    );
    let id = done[0].data["conversation_id"].as_str().unwrap();
    let stored = fixture
        .store
        .conversation(&Owner::Admin, id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .transcription_error
            .unwrap_or_default()
            .contains("unreadable")
    );
    assert!(fixture.events(Event::TranscriptBatch).is_empty());
    assert!(fixture.events(Event::MemoryProcessed).is_empty());
    assert!(
        chat.requests().is_empty(),
        "no words, so the model is not asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sessions_broken_transcription_leaves_another_session_whole() {
    // The server garbles short recordings and transcribes long ones: two devices at once,
    // one of each.
    let speech = Wyoming::start(false, |request| {
        if request.audio_seconds < 1.5 {
            WyomingReply::Garbage
        } else {
            WyomingReply::Transcript("The long one works.".into())
        }
    })
    .await;
    let wyoming = Arc::new(WyomingTranscriber::new(
        &speech.uri(),
        None,
        None,
        Duration::from_secs(2),
    ));
    let settings = ConversationSettings {
        retry: fast_retry(),
        ..Default::default()
    };
    let fixture = Fixture::new(Some(by_utterance("wyoming", wyoming)), None, settings).await;
    let (short, long) = (fixture.start(true), fixture.start(true));
    tokio::join!(
        fixture.feed(&short, 1.0, true),
        fixture.feed(&long, 2.0, true)
    );
    tokio::join!(
        short.stop(&fixture.pipeline, EndReason::UserStopped),
        long.stop(&fixture.pipeline, EndReason::WebsocketDisconnect)
    );
    let done = fixture.completed(2).await;
    let by_reason = |reason: &str| {
        done.iter()
            .find(|s| s.metadata["end_reason"] == reason)
            .map(|s| s.data.clone())
            .unwrap()
    };
    assert_eq!(
        by_reason("websocket_disconnect")["transcript"],
        "The long one works."
    );
    assert_eq!(by_reason("user_stopped")["transcript"], "");
    let failed = by_reason("user_stopped")["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = fixture
        .store
        .conversation(&Owner::Admin, &failed)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.transcription_error.is_some());
    assert_eq!(fixture.events(Event::TranscriptBatch).len(), 1);
}
