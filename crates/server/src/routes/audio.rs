//! Uploads: `POST /api/audio/upload` and the older `POST /api/process-audio-files`
//! (multipart `files`, repeatable, and `device_name`). Each file is decoded (WAV, MP3, FLAC,
//! OGG, any rate and channel count), kept as 16 kHz mono WAV, and becomes a conversation that
//! completes with `end_reason: file_upload`; the pipeline then transcribes it whole
//! (`transcript.batch`), draws memories from it and announces it, after the answer is sent. A file that cannot be decoded fails on its own:
//! 207 when some files fail, 400 when all do, never a 500.

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{AdminUser, client_id};
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;
use chronicle_pipeline::ingest::AudioFile;

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

/// Stores one file as a conversation and starts its transcription; the error is a message for
/// the uploader.
async fn store_upload(
    state: &AppState,
    user_id: &str,
    client: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> Result<Value, String> {
    let pipeline = std::sync::Arc::clone(&state.core.pipeline);
    let file = AudioFile {
        user_id,
        client_id: client,
        filename,
        bytes,
    };
    let ingested = pipeline.ingest(file).await?;
    let answer = json!({
        "filename": filename,
        "status": "started",
        "conversation_id": ingested.conversation_id,
        "transcript_job_id": null,
        "speaker_job_id": null,
        "memory_job_id": null,
        "duration_seconds": ingested.duration_seconds,
        "format": ingested.format,
    });
    pipeline.finish_in_background(ingested.finished);
    Ok(answer)
}
