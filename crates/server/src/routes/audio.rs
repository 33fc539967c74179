//! Uploads: `POST /api/audio/upload` and the older `POST /api/process-audio-files`
//! (multipart `files`, repeatable, and `device_name`). Each file is decoded (WAV, MP3, FLAC,
//! OGG, any rate and channel count), kept as 16 kHz mono WAV, and becomes a conversation that
//! completes with `end_reason: file_upload`; the pipeline then transcribes it whole
//! (`transcript.batch`), draws memories from it and announces it, after the answer is sent. A file that cannot be decoded fails on its own:
//! 207 when some files fail, 400 when all do, never a 500.

use std::path::Path;

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chronicle_store::NewConversation;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{AdminUser, client_id};
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;
use chronicle_pipeline::finish::Finished;

/// The longest upload kept: beyond it a file fails alone (its WAV would pass 4 GiB long before
/// the format's limit, and memory with it).
const MAX_UPLOAD_SECONDS: f64 = 4.0 * 3600.0;

#[derive(Deserialize)]
pub struct UploadQuery {
    device_name: Option<String>,
}

/// `POST /api/audio/upload` and `POST /api/process-audio-files`.
pub async fn receive(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    AppQuery(query): AppQuery<UploadQuery>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut device_name = query.device_name;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("malformed upload: {e}")))?
    {
        match field.name() {
            Some("files") | Some("file") => {
                let filename = field.file_name().unwrap_or("upload").to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::BadRequest(format!("malformed upload: {e}")))?;
                files.push((filename, bytes.to_vec()));
            }
            Some("device_name") => {
                device_name = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| AppError::BadRequest(format!("malformed upload: {e}")))?,
                );
            }
            _ => {}
        }
    }
    if files.is_empty() {
        return Err(AppError::BadRequest(
            "no files uploaded: send them as the multipart field `files`".into(),
        ));
    }
    let device_name = device_name.unwrap_or_else(|| "upload".to_owned());
    let client = client_id(&user.id, &device_name);
    state
        .store
        .upsert_client(&user.id, &client, &device_name)
        .await?;

    let mut entries = Vec::new();
    let mut failed = 0;
    for (filename, bytes) in files {
        match store_upload(&state, &user.id, &client, &filename, bytes).await {
            Ok(entry) => entries.push(entry),
            Err(error) => {
                failed += 1;
                entries.push(json!({"filename": filename, "status": "failed", "error": error}));
            }
        }
    }
    let total = entries.len();
    let started = total - failed;
    let status = match (started, failed) {
        (_, 0) => StatusCode::OK,
        (0, _) => StatusCode::BAD_REQUEST,
        _ => StatusCode::MULTI_STATUS,
    };
    let body = json!({
        "message": format!("{started} of {total} file(s) accepted"),
        "client_id": client,
        "files": entries,
        "summary": {"total": total, "started": started, "failed": failed},
    });
    Ok((status, Json(body)).into_response())
}

/// Decodes one file, stores it as WAV and as a completed conversation, and dispatches
/// `conversation.complete`. The error is a message for the uploader.
async fn store_upload(
    state: &AppState,
    user_id: &str,
    client: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> Result<Value, String> {
    let name = filename.to_owned();
    let decoded =
        tokio::task::spawn_blocking(move || chronicle_audio::decode_file(&bytes, Some(&name)))
            .await
            .map_err(|e| format!("decoding stopped: {e}"))?
            .map_err(|e| e.to_string())?;
    if decoded.duration_seconds > MAX_UPLOAD_SECONDS {
        return Err(format!(
            "the file lasts {:.0} minutes; uploads are limited to {:.0} hours",
            decoded.duration_seconds / 60.0,
            MAX_UPLOAD_SECONDS / 3600.0
        ));
    }
    let title: String = Path::new(filename)
        .file_stem()
        .map_or_else(
            || filename.to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        )
        .chars()
        .take(50)
        .collect();
    let path = state
        .core
        .config
        .data_dir
        .join("audio")
        .join(client)
        .join(format!("upload-{}.wav", uuid::Uuid::new_v4().simple()));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot store the audio: {e}"))?;
    }
    tokio::fs::write(&path, chronicle_audio::wav_bytes(&decoded.samples))
        .await
        .map_err(|e| format!("cannot store the audio: {e}"))?;
    let conversation = state
        .store
        .create_conversation(NewConversation {
            user_id: user_id.to_owned(),
            client_id: client.to_owned(),
            session_id: None,
            title,
            audio_path: Some(path.display().to_string()),
        })
        .await
        .map_err(|e| format!("cannot store the conversation: {e}"))?;
    state
        .store
        .complete_conversation(
            &conversation.conversation_id,
            "file_upload",
            Some(decoded.duration_seconds),
        )
        .await
        .map_err(|e| format!("cannot store the conversation: {e}"))?;
    metrics::counter!("chronicle_audio_received_milliseconds_total")
        .increment((decoded.duration_seconds * 1000.0) as u64);
    let pipeline = std::sync::Arc::clone(&state.core.pipeline);
    let finished = Finished {
        conversation_id: conversation.conversation_id.clone(),
        user_id: user_id.to_owned(),
        client_id: client.to_owned(),
        end_reason: "file_upload".into(),
        duration: decoded.duration_seconds,
        batch_audio: pipeline.transcriber.is_some().then_some(decoded.samples),
    };
    tokio::spawn(async move { pipeline.finish(finished).await });
    Ok(json!({
        "filename": filename,
        "status": "started",
        "conversation_id": conversation.conversation_id,
        "transcript_job_id": null,
        "speaker_job_id": null,
        "memory_job_id": null,
        "duration_seconds": decoded.duration_seconds,
        "format": decoded.format,
    }))
}
