//! Uploads: `POST /api/audio/upload` and the older `POST /api/process-audio-files`
//! (multipart `files`, repeatable, and `device_name`). Each file is decoded (WAV, MP3, FLAC,
//! OGG, any rate and channel count), kept as 16 kHz mono WAV, and becomes a conversation that
//! completes with `end_reason: file_upload`; the pipeline then transcribes it whole
//! (`transcript.batch`), draws memories from it and announces it, after the answer is sent. A
//! file that cannot be decoded fails on its own: 207 when some files fail, 400 when all do,
//! never a 500.
//!
//! Nothing is held whole in memory: each file's bytes go to a spool file in the data folder as
//! they arrive, are decoded from there into the stored WAV, and the spool file is removed
//! whatever happens (or, after a crash, at the next start).

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{AdminUser, client_id};
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;
use chronicle_pipeline::ingest::AudioFile;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    device_name: Option<String>,
}

/// The largest upload request accepted.
pub const MAX_UPLOAD: usize = 256 * 1024 * 1024;

/// A multipart failure: over the size limit (413, naming it), or a malformed body (400).
fn upload_error(error: axum::extract::multipart::MultipartError) -> AppError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge(format!(
            "the upload is larger than the {} MiB a request may carry; send fewer or smaller files per request",
            MAX_UPLOAD / (1024 * 1024)
        ))
    } else {
        AppError::BadRequest(format!("malformed upload: {error}"))
    }
}

/// A `multipart/form-data` body; one that is not (no boundary, another type) is refused in our
/// error format, like every other bad input.
pub struct UploadForm(Multipart);

impl<S: Send + Sync> FromRequest<S> for UploadForm {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Multipart::from_request(request, state)
            .await
            .map(UploadForm)
            .map_err(|rejection| {
                AppError::BadRequest(format!("malformed upload: {}", rejection.body_text()))
            })
    }
}

/// `POST /api/audio/upload` and `POST /api/process-audio-files`.
#[utoipa::path(
    post, path = "/api/audio/upload", summary = "Upload audio files as conversations", tag = "conversations", params(UploadQuery),
    description = "Admins only. Also at `/api/process-audio-files` (the Python Chronicle's path). At most 256 MiB per request.",
    request_body(content = super::schemas::UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Every file started as a conversation", body = super::schemas::Uploaded),
        (status = 207, description = "Some files started, some failed", body = super::schemas::Uploaded),
        (status = 400, description = "No file started, or the form is malformed", body = super::schemas::UploadRefused),
        (status = 413, description = "Over 256 MiB", body = super::schemas::Detail),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    AppQuery(query): AppQuery<UploadQuery>,
    UploadForm(mut multipart): UploadForm,
) -> AppResult<Response> {
    let mut files: Vec<(String, Spooled)> = Vec::new();
    let mut device_name = query.device_name;
    while let Some(field) = multipart.next_field().await.map_err(upload_error)? {
        match field.name() {
            Some("files") | Some("file") => {
                let filename = field.file_name().unwrap_or("upload").to_owned();
                let spooled = Spooled::receive(&state, field).await?;
                files.push((filename, spooled));
            }
            Some("device_name") => {
                device_name = Some(field.text().await.map_err(upload_error)?);
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
    for (filename, spooled) in files {
        match store_upload(&state, &user.id, &client, &filename, &spooled).await {
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

/// One uploaded file's bytes on disk, removed when dropped.
struct Spooled {
    path: std::path::PathBuf,
}

impl Spooled {
    /// Writes a multipart field to a new spool file as its chunks arrive.
    async fn receive(
        state: &AppState,
        mut field: axum::extract::multipart::Field<'_>,
    ) -> AppResult<Self> {
        use tokio::io::AsyncWriteExt;
        let cannot = |error: std::io::Error| {
            tracing::error!(%error, "Cannot spool an upload.");
            AppError::Internal(anyhow::anyhow!("cannot keep the upload: {error}"))
        };
        let spooled = Self {
            path: state.store.folder().incoming_upload(),
        };
        if let Some(parent) = spooled.path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(cannot)?;
        }
        let mut file = tokio::io::BufWriter::new(
            tokio::fs::File::create(&spooled.path)
                .await
                .map_err(cannot)?,
        );
        while let Some(chunk) = field.chunk().await.map_err(upload_error)? {
            file.write_all(&chunk).await.map_err(cannot)?;
        }
        file.flush().await.map_err(cannot)?;
        Ok(spooled)
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %self.path.display(), "Cannot remove a spooled upload.");
        }
    }
}

/// Stores one file as a conversation and starts its transcription; the error is a message for
/// the uploader.
async fn store_upload(
    state: &AppState,
    user_id: &str,
    client: &str,
    filename: &str,
    spooled: &Spooled,
) -> Result<Value, String> {
    let pipeline = std::sync::Arc::clone(&state.core.pipeline);
    let file = AudioFile {
        user_id,
        client_id: client,
        filename,
        source: &spooled.path,
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

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::{DefaultBodyLimit, Multipart};
    use axum::http::Request;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::upload_error;

    #[tokio::test]
    async fn an_upload_over_the_limit_is_answered_413_naming_it() {
        async fn drain(mut multipart: Multipart) -> axum::response::Response {
            loop {
                match multipart.next_field().await {
                    Ok(Some(field)) => {
                        if let Err(error) = field.bytes().await {
                            return upload_error(error).into_response();
                        }
                    }
                    Ok(None) => return "ok".into_response(),
                    Err(error) => return upload_error(error).into_response(),
                }
            }
        }
        // The route's limit, made small: the mapping is what is tested.
        let app = Router::new()
            .route("/", post(drain))
            .layer(DefaultBodyLimit::max(64));
        let body = format!(
            "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.wav\"\r\n\r\n{}\r\n--b--\r\n",
            "x".repeat(1000)
        );
        let request = Request::post("/")
            .header("content-type", "multipart/form-data; boundary=b")
            .body(Body::from(body))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 413);
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("larger than the 256 MiB a request may carry"),
            "{text}"
        );
    }
}
