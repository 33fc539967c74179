//! A device's live session: its clock (seconds of audio received), the conversation open in
//! it, its transcription stream and its ordered queue of live events.
//!
//! With speech detection (a streaming provider, or segments replayed from a file) a
//! conversation opens on the first meaningful final segment and closes on `audio-stop`
//! (`user_stopped`), a disconnect (`websocket_disconnect`), a plugin's close request (the
//! reason it gives: `button_close`, `plugin_requested`, `user_requested`), `inactivity_seconds` of audio without new words
//! (`inactivity_timeout`) or `max_duration_seconds` of conversation (`max_duration`); the next
//! speech opens the next one. Without it (no provider, batch mode, or a provider that failed),
//! a conversation spans the audio from the start to its end, cut at the maximum length.
//!
//! Live events (`transcript.streaming`, buttons) reach plugins in order on the session's own
//! task; the device's read loop never waits for a plugin. Their queue is bounded: see
//! `live_queue.rs` for what is dropped (the oldest `transcript.streaming`) and what never
//! is (button presses).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chronicle_plugin_api::{EndReason, Event};
use chronicle_plugin_host::DispatchRequest;
use chronicle_store::NewConversation;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::finish::Finished;
use crate::live_queue::LiveQueue;
use crate::transcription::{Segment, StreamInput, Update};
use crate::{Pipeline, request};

/// Transcripts waiting to be relayed to the device; a device that does not read loses some.
const INTERIM_QUEUE: usize = 64;
/// How long a stop waits for the provider's last words.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a session's words come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speech {
    /// The pipeline's streaming transcriber.
    Provider,
    /// Segments handed in by the caller ([`Session::segment`]), as `chronicle replay` does.
    Replayed,
    /// None: conversations span the audio.
    Undetected,
}

/// Who a session belongs to.
#[derive(Clone, Debug)]
pub struct SessionOwner {
    pub user_id: String,
    pub client_id: String,
    pub device_name: String,
}

/// One device's session.
pub struct Session {
    pub session_id: String,
    pub owner: SessionOwner,
    pub speech: Speech,
    pub state: tokio::sync::Mutex<SessionState>,
    /// Live events waiting for plugins; closed when the session is dropped.
    live: Arc<LiveQueue>,
    transcription: Mutex<Option<(mpsc::Sender<StreamInput>, JoinHandle<()>)>>,
}

/// What a session is doing.
#[derive(Default)]
pub struct SessionState {
    /// Whether a recorder writes this session's audio (the server's).
    pub recording: bool,
    pub audio_path: Option<PathBuf>,
    /// Seconds of audio received: the session's clock.
    pub audio_seconds: f64,
    /// The conversation open now.
    pub conversation: Option<OpenConversation>,
    /// Final segments so far (numbers `segment_id`).
    segments: usize,
    /// Why speech detection stopped working, if it did.
    speech_failed: Option<String>,
    /// A batch session's audio, kept for transcription at the end.
    batch_audio: Option<Vec<i16>>,
    /// The session is ending: audio is refused, the provider's last words are still taken.
    stopping: bool,
    /// The session has ended: nothing opens a conversation any more.
    stopped: bool,
}

/// A conversation open in a session.
#[derive(Clone, Debug)]
pub struct OpenConversation {
    pub id: String,
    /// Session clock when it opened.
    pub started_at: f64,
    /// Session clock at the end of the last words.
    pub last_speech_at: f64,
}

impl SessionState {
    fn detects_speech(&self, speech: Speech) -> bool {
        speech != Speech::Undetected && self.speech_failed.is_none() && self.batch_audio.is_none()
    }

    /// The open conversation's id.
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation.as_ref().map(|c| c.id.as_str())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Session {
    /// Starts a session. `batch`: the device asked for batch mode, so the audio is kept and
    /// transcribed whole at the end. Returns the session and, with a streaming provider, the
    /// transcripts to relay to the device (`interim_transcript` messages).
    pub fn start(
        pipeline: &Arc<Pipeline>,
        owner: SessionOwner,
        speech: Speech,
        batch: bool,
        audio_path: Option<PathBuf>,
    ) -> (Arc<Self>, Option<mpsc::Receiver<Value>>) {
        let session_id = uuid::Uuid::new_v4().to_string();
        let live = Arc::new(LiveQueue::new(session_id.clone()));
        spawn_live_queue(Arc::downgrade(pipeline), Arc::clone(&live));
        let batch_audio = (batch && pipeline.transcriber.is_some()).then(Vec::new);
        let speech = if batch_audio.is_some()
            || (speech == Speech::Provider && pipeline.transcriber.is_none())
        {
            Speech::Undetected
        } else {
            speech
        };
        let session = Arc::new(Self {
            session_id,
            owner,
            speech,
            state: tokio::sync::Mutex::new(SessionState {
                audio_path,
                batch_audio,
                ..SessionState::default()
            }),
            live,
            transcription: Mutex::new(None),
        });
        pipeline.sessions.insert(Arc::clone(&session));
        let mut interims = None;
        if speech == Speech::Provider
            && let Some(transcriber) = &pipeline.transcriber
        {
            let stream = transcriber.streaming.open(pipeline.plugins.asr_keywords());
            let (relay, relayed) = mpsc::channel(INTERIM_QUEUE);
            let reader = tokio::spawn(read_updates(
                Arc::downgrade(pipeline),
                Arc::downgrade(&session),
                stream.updates,
                relay,
            ));
            *lock(&session.transcription) = Some((stream.audio, reader));
            interims = Some(relayed);
        }
        (session, interims)
    }

    /// Takes audio (16 kHz mono): the clock advances, the provider hears it, and the
    /// conversation opens or closes as the rules say.
    pub async fn audio(&self, pipeline: &Arc<Pipeline>, samples: &[i16]) -> anyhow::Result<()> {
        let seconds = samples.len() as f64 / f64::from(chronicle_audio::TARGET_RATE);
        let stream = lock(&self.transcription)
            .as_ref()
            .map(|(audio, _)| audio.clone());
        let mut state = match stream {
            Some(stream) => {
                // Never waits: a provider that cannot keep up (its stream holds a backlog)
                // loses audio for transcription, the device is never slowed. The recording
                // keeps everything.
                // Copied only here: without a live provider the chunk is only counted (or kept).
                if stream
                    .try_send(StreamInput::Audio(samples.to_vec()))
                    .is_err()
                {
                    metrics::counter!("chronicle_transcription_audio_dropped_milliseconds_total")
                        .increment((seconds * 1000.0) as u64);
                }
                self.state.lock().await
            }
            None => {
                let mut state = self.state.lock().await;
                let stopping = state.stopping;
                if let Some(kept) = state.batch_audio.as_mut().filter(|_| !stopping) {
                    kept.extend_from_slice(samples);
                }
                state
            }
        };
        if state.stopping {
            return Ok(());
        }
        // Without speech detection the conversation starts with this chunk's first sample.
        if state.conversation.is_none() && !state.detects_speech(self.speech) {
            self.open_conversation(pipeline, &mut state).await?;
        }
        state.audio_seconds += seconds;
        self.tick(pipeline, &mut state).await
    }

    /// Moves the clock to `seconds` without audio (a replayed session's timeline).
    pub async fn advance_to(&self, pipeline: &Arc<Pipeline>, seconds: f64) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        if state.stopped {
            return Ok(());
        }
        state.audio_seconds = state.audio_seconds.max(seconds);
        self.tick(pipeline, &mut state).await
    }

    /// Closes the open conversation if speech paused too long or it reached its maximum.
    async fn tick(&self, pipeline: &Arc<Pipeline>, state: &mut SessionState) -> anyhow::Result<()> {
        let Some(open) = &state.conversation else {
            return Ok(());
        };
        let settings = &pipeline.settings;
        let reason = if state.detects_speech(self.speech)
            && state.audio_seconds - open.last_speech_at >= settings.inactivity_seconds
        {
            EndReason::InactivityTimeout
        } else if state.audio_seconds - open.started_at >= settings.max_duration_seconds {
            EndReason::MaxDuration
        } else {
            return Ok(());
        };
        self.end_conversation(pipeline, state, reason).await?;
        Ok(())
    }

    /// Takes a final segment: opens a conversation on meaningful speech, adds the words to it
    /// and queues `transcript.streaming` (once per segment, never the cumulative text).
    pub async fn segment(
        &self,
        pipeline: &Arc<Pipeline>,
        mut segment: Segment,
    ) -> anyhow::Result<()> {
        if !segment.is_meaningful() {
            return Ok(());
        }
        let mut state = self.state.lock().await;
        if state.stopped {
            return Ok(());
        }
        if self.speech == Speech::Replayed {
            // A replay's timeline is the file's.
            state.audio_seconds = state.audio_seconds.max(segment.end);
        } else {
            // A provider's times are its own: they never move the session's clock, and
            // nothing can be said after the audio received so far.
            let now = state.audio_seconds;
            segment.end = segment.end.clamp(0.0, now);
            segment.start = if segment.words.is_empty() {
                segment.end
            } else {
                segment.start.clamp(0.0, segment.end)
            };
        }
        self.tick(pipeline, &mut state).await?;
        let conversation_id = self.open_conversation(pipeline, &mut state).await?;
        if let Some(open) = &mut state.conversation {
            open.started_at = open.started_at.min(segment.start);
            open.last_speech_at = open.last_speech_at.max(segment.end);
        }
        state.segments += 1;
        let segment_id = format!("{}_{}", self.session_id, state.segments);
        let stored = segment.to_json();
        pipeline
            .store
            .append_transcript(&conversation_id, &segment.text, vec![stored.clone()])
            .await?;
        drop(state);
        let data = json!({
            "transcript": segment.text,
            "segment_id": segment_id,
            "conversation_id": conversation_id,
            "session_id": self.session_id,
            "client_id": self.owner.client_id,
            "words": segment.words,
            "segments": [stored],
            "confidence": segment.confidence,
            "is_final": true,
        });
        let event = request(
            Event::TranscriptStreaming,
            &self.owner.user_id,
            data,
            json!({"client_id": self.owner.client_id, "session_id": self.session_id}),
        );
        // Always taken; if plugins are behind, the oldest queued one is dropped and counted.
        self.queue_live(event);
        Ok(())
    }

    /// Queues a live event (a button press) behind the session's others, never waiting. When
    /// plugins are 256 events behind, the oldest queued `transcript.streaming` is dropped to
    /// make room; a press is never dropped and is queued beyond that if it must. `false` only
    /// when a press would be the 1,025th event queued (a device pressing far faster than its
    /// plugins answer), so the caller can refuse the device (see `live_queue.rs`).
    pub fn queue_live(&self, event: DispatchRequest) -> bool {
        self.live.push(event)
    }

    /// Live events queued or being dispatched now.
    pub fn live_pending(&self) -> usize {
        self.live.pending()
    }

    /// Speech went untranscribed: the conversation (opened now if none is, since someone
    /// spoke) records why its transcript is partial. `for_good`: the stream broke, so speech
    /// detection is over and later conversations span the audio and carry the reason too.
    async fn transcription_failed(
        &self,
        pipeline: &Arc<Pipeline>,
        error: String,
        for_good: bool,
    ) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        tracing::warn!(session = %self.session_id, %error, for_good, "Transcription failed for this session.");
        if state.stopped {
            if let Some(id) = state.conversation_id() {
                pipeline.store.set_transcription_error(id, &error).await?;
            }
            return Ok(());
        }
        let conversation_id = self.open_conversation(pipeline, &mut state).await?;
        pipeline
            .store
            .set_transcription_error(&conversation_id, &error)
            .await?;
        let now = state.audio_seconds;
        if let Some(open) = &mut state.conversation {
            // Speech happened, unheard: it is not a pause.
            open.last_speech_at = now;
        }
        if for_good {
            state.speech_failed = Some(error);
        }
        Ok(())
    }

    /// Opens a conversation if none is open; its id.
    pub async fn open_conversation(
        &self,
        pipeline: &Pipeline,
        state: &mut SessionState,
    ) -> anyhow::Result<String> {
        if let Some(open) = &state.conversation {
            return Ok(open.id.clone());
        }
        let owner = &self.owner;
        let device = if owner.device_name.is_empty() {
            &owner.client_id
        } else {
            &owner.device_name
        };
        let conversation = pipeline
            .store
            .create_conversation(NewConversation {
                user_id: owner.user_id.clone(),
                client_id: owner.client_id.clone(),
                session_id: Some(self.session_id.clone()),
                title: format!("Recording from {device}"),
                audio_path: state.audio_path.as_ref().map(|p| p.display().to_string()),
            })
            .await?;
        if let Some(error) = &state.speech_failed {
            pipeline
                .store
                .set_transcription_error(&conversation.conversation_id, error)
                .await?;
        }
        let now = state.audio_seconds;
        state.conversation = Some(OpenConversation {
            id: conversation.conversation_id.clone(),
            started_at: now,
            last_speech_at: now,
        });
        Ok(conversation.conversation_id)
    }

    /// Ends the open conversation, if any: completes it in the store and hands it to
    /// [`crate::finish`]. Returns whether one was open.
    pub async fn end_conversation(
        &self,
        pipeline: &Arc<Pipeline>,
        state: &mut SessionState,
        end_reason: EndReason,
    ) -> anyhow::Result<bool> {
        let Some(open) = state.conversation.take() else {
            return Ok(false);
        };
        // To the millisecond: 2.0000000000000004 s helps nobody.
        let duration = ((state.audio_seconds - open.started_at).max(0.0) * 1000.0).round() / 1000.0;
        // Only the call that completed it announces it, so a race cannot send it twice.
        let completed = match pipeline
            .store
            .complete_conversation(&open.id, end_reason, Some(duration))
            .await
        {
            Ok(completed) => completed,
            Err(error) => {
                // Still open in the store: keep it open here too, so a later end completes it.
                state.conversation = Some(open);
                return Err(error.into());
            }
        };
        let batch_audio = state.batch_audio.as_mut().map(std::mem::take);
        if completed {
            let finished = Finished {
                conversation_id: open.id,
                user_id: self.owner.user_id.clone(),
                client_id: self.owner.client_id.clone(),
                end_reason,
                duration,
                batch_audio,
            };
            pipeline.finish_in_background(finished);
        }
        Ok(true)
    }

    /// Ends the session: waits (bounded) for the provider's last words, ends the conversation
    /// with `end_reason`, records the session's end, and unregisters it. Returns whether a
    /// recorder writes its audio, for the caller to close. The state stays stopped, so a late
    /// chunk or segment opens nothing.
    pub async fn stop(&self, pipeline: &Arc<Pipeline>, end_reason: EndReason) -> bool {
        self.state.lock().await.stopping = true;
        let transcription = lock(&self.transcription).take();
        if let Some((audio, reader)) = transcription {
            let _ = audio.send_timeout(StreamInput::Finish, FLUSH_TIMEOUT).await;
            drop(audio);
            let abort = reader.abort_handle();
            if tokio::time::timeout(FLUSH_TIMEOUT, reader).await.is_err() {
                abort.abort();
                tracing::warn!(session = %self.session_id, "The transcription provider did not finish within {} s; ending without its last words.", FLUSH_TIMEOUT.as_secs());
            }
        }
        let mut state = self.state.lock().await;
        state.stopped = true;
        if let Err(error) = self
            .end_conversation(pipeline, &mut state, end_reason)
            .await
        {
            tracing::warn!(%error, "Could not complete the conversation.");
        }
        if let Err(error) = pipeline
            .store
            .end_session(&self.session_id, end_reason, state.audio_seconds)
            .await
        {
            tracing::debug!(%error, "Could not record the end of the session.");
        }
        pipeline.sessions.remove(&self.session_id);
        std::mem::take(&mut state.recording)
    }
}

impl Drop for Session {
    /// Nobody can queue live events any more: the queue's task delivers what is queued and
    /// ends.
    fn drop(&mut self) {
        self.live.close();
    }
}

/// Delivers a session's live events in order, one at a time, on a task of its own.
fn spawn_live_queue(pipeline: Weak<Pipeline>, queue: Arc<LiveQueue>) {
    tokio::spawn(async move {
        while let Some(event) = queue.next().await {
            let Some(plugins) = pipeline.upgrade().map(|p| Arc::clone(&p.plugins)) else {
                queue.close();
                return;
            };
            plugins.dispatch(event).await;
            queue.delivered();
        }
    });
}

/// Reads a session's transcription updates until the stream ends.
async fn read_updates(
    pipeline: Weak<Pipeline>,
    session: Weak<Session>,
    mut updates: mpsc::Receiver<Update>,
    relay: mpsc::Sender<Value>,
) {
    while let Some(update) = updates.recv().await {
        let (Some(pipeline), Some(session)) = (pipeline.upgrade(), session.upgrade()) else {
            return;
        };
        // The device hears interim and final text alike, as from the original.
        let tell_device = |text: &str,
                           is_final: bool,
                           words: &[crate::transcription::Word],
                           segments: Value,
                           confidence: Option<f64>| {
            let data = json!({"text": text, "is_final": is_final, "words": words, "segments": segments, "confidence": confidence, "timestamp": crate::finish::unix_now()});
            let _ = relay.try_send(json!({"type": "interim_transcript", "data": data}));
        };
        let outcome = match update {
            Update::Interim {
                text,
                words,
                confidence,
            } => {
                tell_device(&text, false, &words, json!([]), confidence);
                Ok(())
            }
            Update::Final(segment) => {
                tell_device(
                    &segment.text,
                    true,
                    &segment.words,
                    json!([segment.to_json()]),
                    segment.confidence,
                );
                session.segment(&pipeline, segment).await
            }
            Update::Missed(error) => {
                session
                    .transcription_failed(&pipeline, error.to_string(), false)
                    .await
            }
            Update::Failed(error) => {
                session
                    .transcription_failed(&pipeline, error.to_string(), true)
                    .await
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(session = %session.session_id, %error, "Could not keep a transcript.");
        }
    }
}

/// A device's button press as plugins see it: the event for its state (`None` for a state
/// Chronicle does not know; both the original's spellings are taken) and the event data.
pub fn button_press(
    state: &str,
    session_id: Option<&str>,
    client_id: &str,
) -> (Option<Event>, Value) {
    let event = match state {
        "SINGLE_PRESS" | "SINGLE_TAP" => Some(Event::ButtonSinglePress),
        "DOUBLE_PRESS" | "DOUBLE_TAP" => Some(Event::ButtonDoublePress),
        "LONG_PRESS" => Some(Event::ButtonLongPress),
        _ => None,
    };
    let data = json!({
        "state": state,
        "timestamp": crate::finish::unix_now(),
        "audio_uuid": session_id,
        "session_id": session_id,
        "client_id": client_id,
    });
    (event, data)
}

/// The live sessions of a pipeline.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    fn insert(&self, session: Arc<Session>) {
        lock(&self.live).insert(session.session_id.clone(), session);
    }

    fn remove(&self, session_id: &str) {
        lock(&self.live).remove(session_id);
    }

    /// A live session by id.
    pub fn get(&self, session_id: &str) -> Option<Arc<Session>> {
        lock(&self.live).get(session_id).cloned()
    }

    /// The live session of a device that `user_id` may act on (`None` for an admin: any).
    pub fn by_client(&self, client_id: &str, user_id: Option<&str>) -> Option<Arc<Session>> {
        lock(&self.live)
            .values()
            .find(|s| {
                s.owner.client_id == client_id && user_id.is_none_or(|user| s.owner.user_id == user)
            })
            .cloned()
    }

    /// Every live session.
    pub fn all(&self) -> Vec<Arc<Session>> {
        lock(&self.live).values().cloned().collect()
    }

    /// How many sessions are live.
    pub fn count(&self) -> usize {
        lock(&self.live).len()
    }
}

/// Ends every live session with `reason` (at shutdown); returns each with whether it was
/// being recorded, so the caller can close the recordings.
pub async fn stop_all(pipeline: &Arc<Pipeline>, reason: EndReason) -> Vec<(Arc<Session>, bool)> {
    let stopping = pipeline
        .sessions
        .all()
        .into_iter()
        .map(|session| async move {
            let recording = session.stop(pipeline, reason).await;
            (session, recording)
        });
    futures_util::future::join_all(stopping).await
}

#[cfg(test)]
mod tests {
    use chronicle_plugin_host::DispatchRecord;
    use tokio::sync::Semaphore;

    use super::*;
    use chronicle_plugin_host::PluginHost;

    use crate::ConversationSettings;

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
                user_id: request.user_id.into(),
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

    #[tokio::test]
    async fn a_session_behind_its_plugins_drops_its_oldest_transcripts_and_no_press() {
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
            gate: Semaphore::new(0),
            host,
        });
        let pipeline = Pipeline::new(
            store,
            Arc::clone(&plugins) as _,
            None,
            None,
            ConversationSettings::default(),
            Default::default(),
            crate::SessionControl::new().1,
        )
        .await
        .unwrap();
        let owner = SessionOwner {
            user_id: user.id.clone(),
            client_id: "abc123-pendant".into(),
            device_name: "pendant".into(),
        };
        let (session, _) = Session::start(&pipeline, owner, Speech::Replayed, false, None);
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
}
