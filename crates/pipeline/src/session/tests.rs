use chronicle_plugin_host::DispatchRecord;
use tokio::sync::Semaphore;

use super::*;
use crate::request;
use crate::transcription::Segment;
use chronicle_plugin_host::PluginHost;

use crate::{ConversationSettings, Pipeline};

/// Plugins that write each event down and then wait for the test to let them go.
struct Gated {
    seen: Mutex<Vec<(Event, Value)>>,
    gate: Semaphore,
    host: PluginHost,
}

#[chronicle_plugin_api::async_trait]
impl crate::Plugins for Gated {
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        lock(&self.seen).push((request.event, Value::Object((*request.data).clone())));
        self.gate.acquire().await.unwrap().forget();
        Arc::new(DispatchRecord {
            event: request.event,
            user_id: request.user_id,
            plugins: Vec::new(),
            metadata: request.metadata,
            services: Vec::new(),
            event_id: "e".into(),
            data: request.data,
            started_at: std::time::SystemTime::now(),
            duration_ms: 0.0,
        })
    }

    fn asr_keywords(&self) -> Vec<String> {
        Vec::new()
    }

    fn host(&self) -> PluginHost {
        self.host.clone()
    }
}

async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the live queue did not get there");
}

/// A store with one user, a pipeline over [`Gated`] plugins holding `permits`, and a live
/// session of that user's pendant.
async fn gated_session(
    settings: ConversationSettings,
    permits: usize,
) -> (
    tempfile::TempDir,
    Arc<Pipeline>,
    Arc<Gated>,
    chronicle_store::User,
    Arc<Session>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = chronicle_store::Store::open(dir.path()).await.unwrap();
    let user = store
        .create_user("ana@example.com", "h", false)
        .await
        .unwrap();
    std::fs::write(dir.path().join("plugins.yml"), "plugins: {}\n").unwrap();
    let config = chronicle_plugin_host::HostConfig::new(dir.path(), dir.path());
    let host = PluginHost::load(&config, &[], chronicle_plugin_host::Backends::in_memory())
        .unwrap_or_else(|errors| panic!("{errors}"))
        .host;
    let plugins = Arc::new(Gated {
        seen: Mutex::new(Vec::new()),
        gate: Semaphore::new(permits),
        host,
    });
    let pipeline = Pipeline::new(
        store,
        Arc::clone(&plugins) as _,
        None,
        None,
        settings,
        Default::default(),
    )
    .await
    .unwrap();
    let owner = SessionOwner {
        user_id: user.id.clone(),
        client_id: "abc123-pendant".into(),
        device_name: "pendant".into(),
    };
    let (session, _) = Session::start(&pipeline, owner, Speech::Replayed, false, None);
    (dir, pipeline, plugins, user, session)
}

#[tokio::test]
async fn a_session_behind_its_plugins_drops_its_oldest_transcripts_and_no_press() {
    let (_dir, pipeline, plugins, user, session) =
        gated_session(ConversationSettings::default(), 0).await;
    let press = |n: usize| {
        request(
            Event::ButtonSinglePress,
            &user.id,
            json!({ "n": n }),
            json!({}),
        )
    };
    // The first press is being delivered, and its plugin hangs.
    assert!(session.queue_live(press(0)));
    until(|| lock(&plugins.seen).len() == 1).await;
    for n in 1..=300 {
        let at = n as f64;
        let segment = Segment::new(format!("words {n}"), at, at + 0.5, Vec::new());
        session.segment(&pipeline, segment).await.unwrap();
        if n == 150 {
            assert!(session.queue_live(press(150)));
        }
    }
    // 302 events: one being delivered, 256 queued, the oldest 45 transcripts dropped.
    assert_eq!(session.live_pending(), 257);
    assert_eq!(session.live.dropped(), 45);

    plugins.gate.add_permits(1000);
    until(|| session.live_pending() == 0).await;
    let seen: Vec<String> = lock(&plugins.seen)
        .iter()
        .map(|(event, data)| match event {
            Event::ButtonSinglePress => format!("press {}", data["n"]),
            _ => data["transcript"].as_str().unwrap().to_owned(),
        })
        .collect();
    let mut expected = vec!["press 0".to_owned()];
    expected.extend((46..=150).map(|n| format!("words {n}")));
    expected.push("press 150".into());
    expected.extend((151..=300).map(|n| format!("words {n}")));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_final_segment_starting_with_a_wake_word_fires_wake_word_detected_after_it() {
    let settings = ConversationSettings {
        wake_words: vec!["hey hermes".into()],
        ..ConversationSettings::default()
    };
    let (_dir, pipeline, plugins, _user, session) = gated_session(settings, 1000).await;
    for (at, text) in [
        (1.0, "Hey, Hermes! Turn off the lights."),
        (3.0, "they say hey hermes a lot"),
    ] {
        let segment = Segment::new(text.to_owned(), at, at + 1.0, Vec::new());
        session.segment(&pipeline, segment).await.unwrap();
    }
    until(|| lock(&plugins.seen).len() == 3).await;
    let seen = lock(&plugins.seen).clone();
    let events: Vec<Event> = seen.iter().map(|(event, _)| *event).collect();
    assert_eq!(
        events,
        [
            Event::TranscriptStreaming,
            Event::WakeWordDetected,
            Event::TranscriptStreaming
        ],
        "only a segment that starts with the wake word fires it, right after its transcript"
    );
    let wake = &seen[1].1;
    assert_eq!(wake["command"], "Turn off the lights");
    assert_eq!(wake["transcript"], wake["command"]);
    assert_eq!(wake["wakeword"], "hey hermes");
    assert_eq!(wake["score"], Value::Null);
    assert_eq!(wake["client_id"], "abc123-pendant");
    assert_eq!(wake["conversation_id"], seen[0].1["conversation_id"]);
}
