//! Words into a session: final segments open a conversation and add to it, each queued as
//! `transcript.streaming`; the provider's updates are read and relayed to the device.

use std::sync::{Arc, Weak};

use chronicle_plugin_api::Event;
use chronicle_plugin_host::condition::{TranscriptView, Verdict};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Session, Speech};
use crate::transcription::{Segment, Update};
use crate::{Pipeline, request};

impl Session {
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
        let wake = self.wake_word(pipeline, &segment.text, &conversation_id);
        let event = request(
            Event::TranscriptStreaming,
            &self.owner.user_id,
            data,
            json!({"client_id": self.owner.client_id, "session_id": self.session_id}),
        );
        // Always taken; if plugins are behind, the oldest queued one is dropped and counted.
        self.queue_live(event);
        if let Some(wake) = wake {
            self.queue_live(wake);
        }
        Ok(())
    }

    /// `wake_word.detected` for a final segment that starts with a configured wake word, with
    /// the data keys the original's detector sent; the transcript detector gives no score.
    fn wake_word(
        &self,
        pipeline: &Arc<Pipeline>,
        text: &str,
        conversation_id: &str,
    ) -> Option<chronicle_plugin_host::DispatchRequest> {
        let detector = pipeline.wake_detector.as_ref()?;
        let mut data = serde_json::Map::new();
        data.insert("transcript".into(), Value::from(text));
        let Verdict::Run(extras) =
            detector.evaluate(Event::TranscriptStreaming, &mut TranscriptView::new(&data))
        else {
            return None;
        };
        let command = extras
            .iter()
            .find(|(key, _)| key == "command")
            .map_or(Value::Null, |(_, value)| value.clone());
        let normalized = chronicle_plugin_host::condition::normalize(text);
        let wakeword = detector
            .phrases()
            .iter()
            .find(|phrase| normalized.starts_with(phrase.as_str()))
            .cloned()
            .unwrap_or_default();
        let data = json!({
            "command": command,
            "transcript": command,
            "wakeword": wakeword,
            "also_fired": [],
            "score": null,
            "reason": "transcript",
            "source": "wake",
            "asr_status": "transcribed",
            "session_id": self.session_id,
            "client_id": self.owner.client_id,
            "conversation_id": conversation_id,
        });
        Some(request(
            Event::WakeWordDetected,
            &self.owner.user_id,
            data,
            json!({"client_id": self.owner.client_id, "session_id": self.session_id, "wakeword": wakeword, "source": "wake"}),
        ))
    }

    /// Speech went untranscribed: the conversation (opened now if none is, since someone
    /// spoke) records why its transcript is partial. `for_good`: the stream broke, so speech
    /// detection is over and later conversations span the audio and carry the reason too.
    pub(super) async fn transcription_failed(
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
}

/// Reads a session's transcription updates until the stream ends.
pub(super) async fn read_updates(
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
            let data = json!({"text": text, "is_final": is_final, "words": words, "segments": segments, "confidence": confidence, "timestamp": crate::finished::unix_now()});
            pipeline.watchers.tell(crate::watch::Watched {
                user_id: Arc::from(session.owner.user_id.as_str()),
                kind: if is_final { "final" } else { "interim" },
                client_id: session.owner.client_id.clone(),
                data: json!({"session_id": session.session_id, "text": text, "segments": segments}),
            });
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
