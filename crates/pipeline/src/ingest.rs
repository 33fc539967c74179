//! Audio files in: an upload or `chronicle process` decodes a file (WAV, MP3, FLAC, OGG, any
//! rate and channel count), keeps it as 16 kHz mono WAV in the data folder, and stores it as a
//! conversation completed with `file_upload`, ready for [`Pipeline::finish`].

use std::path::Path;

use chronicle_plugin_api::EndReason;
use chronicle_store::NewConversation;

use crate::Pipeline;
use crate::finished::{BatchAudio, Finished};

/// The longest file taken: beyond it a file fails alone (its WAV would pass 4 GiB long before
/// the format's limit, and memory with it).
pub const MAX_FILE_SECONDS: f64 = 4.0 * 3600.0;

/// A file to take in.
pub struct AudioFile<'a> {
    pub user_id: &'a str,
    pub client_id: &'a str,
    /// The name it came with; its stem becomes the title, its extension a format hint.
    pub filename: &'a str,
    /// Where its bytes are: an upload spooled to the data folder, a file `chronicle process`
    /// was given. It is read, never changed or removed.
    pub source: &'a Path,
}

/// A stored file.
pub struct Ingested {
    pub conversation_id: String,
    pub duration_seconds: f64,
    /// What the file turned out to be (`wav`, `mp3`, …).
    pub format: String,
    /// The conversation, ready for [`Pipeline::finish`].
    pub finished: Finished,
}

impl Pipeline {
    /// Decodes, stores and completes one file; the error is a message for whoever sent it.
    ///
    /// The file is decoded as it is read and written as 16 kHz WAV beside the recordings, under
    /// a `.partial` name until it is whole; only then is the conversation made. Memory does not
    /// grow with the file's length, and a process killed midway leaves no conversation, only a
    /// `.partial` file that the next start removes.
    pub async fn ingest(&self, file: AudioFile<'_>) -> Result<Ingested, String> {
        let path = self.store.folder().upload_audio(file.client_id);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("cannot store the audio: {e}"))?;
        }
        let partial = chronicle_store::DataFolder::partial(&path);
        let (name, source, into) = (
            file.filename.to_owned(),
            file.source.to_path_buf(),
            partial.clone(),
        );
        let decoded = tokio::task::spawn_blocking(move || {
            chronicle_audio::decode_to_wav(&source, &into, Some(&name))
        })
        .await
        .map_err(|e| format!("decoding stopped: {e}"))?
        .map_err(|e| e.to_string())?;
        if decoded.duration_seconds > MAX_FILE_SECONDS {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(format!(
                "the file lasts {:.0} minutes; files are limited to {:.0} hours",
                decoded.duration_seconds / 60.0,
                MAX_FILE_SECONDS / 3600.0
            ));
        }
        if let Err(error) = tokio::fs::rename(&partial, &path).await {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(format!("cannot store the audio: {error}"));
        }
        let title: String = Path::new(file.filename)
            .file_stem()
            .map_or_else(
                || file.filename.to_owned(),
                |stem| stem.to_string_lossy().into_owned(),
            )
            .chars()
            .take(50)
            .collect();
        let created = self
            .store
            .create_conversation(NewConversation {
                user_id: file.user_id.to_owned(),
                client_id: file.client_id.to_owned(),
                session_id: None,
                title,
                audio_path: Some(path.display().to_string()),
            })
            .await;
        let conversation = match created {
            Ok(conversation) => conversation,
            Err(error) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(format!("cannot store the conversation: {error}"));
            }
        };
        self.store
            .complete_conversation(
                &conversation.conversation_id,
                EndReason::FileUpload,
                Some(decoded.duration_seconds),
            )
            .await
            .map_err(|e| format!("cannot store the conversation: {e}"))?;
        metrics::counter!("chronicle_audio_received_milliseconds_total")
            .increment((decoded.duration_seconds * 1000.0) as u64);
        Ok(Ingested {
            conversation_id: conversation.conversation_id.clone(),
            duration_seconds: decoded.duration_seconds,
            format: decoded.format,
            finished: Finished {
                conversation_id: conversation.conversation_id,
                user_id: file.user_id.to_owned(),
                client_id: file.client_id.to_owned(),
                end_reason: EndReason::FileUpload,
                duration: decoded.duration_seconds,
                batch_audio: self.transcriber.is_some().then_some(BatchAudio::File(path)),
            },
        })
    }
}
