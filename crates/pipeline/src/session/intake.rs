//! Audio into a session: the clock advances with each chunk, the provider hears it, and a
//! pause in speech or the maximum length closes the open conversation.

use std::sync::Arc;

use chronicle_plugin_api::EndReason;

use super::{Session, SessionState, lock};
use crate::Pipeline;
use crate::transcription::StreamInput;

impl Session {
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
    pub(super) async fn tick(
        &self,
        pipeline: &Arc<Pipeline>,
        state: &mut SessionState,
    ) -> anyhow::Result<()> {
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
}
