//! `POST /api/admin/plugins/config/structured/{id}`: the web app's settings form, saved.
//!
//! The body is `{"orchestration": {enabled, events, condition, priority}, "settings": {…}}`
//! (the original's route and shape). Only what changed is written, into the plugin's entry in
//! `plugins.yml` ([`chronicle_plugin_host::set_plugin_keys`] keeps the rest of the file as it
//! was); the result is validated like a raw edit, saved with a backup, and the plugins reload.
//!
//! Secrets never travel back to the browser, and a new one is not written into `plugins.yml`
//! either (the raw editor shows that file): it goes into the plugin's own `plugins/<id>/.env`
//! as `<ID>_<KEY>`, and the entry names it as `${<ID>_<KEY>}`. A secret sent back as the mask
//! is left as it was.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chronicle_plugin_api::JsonMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{MASK, is_secret_key};
use crate::auth::AdminUser;
use crate::error::{AppError, AppJson, AppResult};
use crate::reload::{reload_plugins, validate_candidate};
use crate::state::AppState;

/// The orchestration keys the form may set.
const ORCHESTRATION: [&str; 4] = ["enabled", "events", "condition", "priority"];

#[derive(Deserialize)]
pub struct StructuredConfig {
    #[serde(default)]
    orchestration: JsonMap,
    #[serde(default)]
    settings: JsonMap,
}

#[utoipa::path(
    post, path = "/api/admin/plugins/config/structured/{id}", summary = "Save a plugin's settings form", tag = "admin",
    params(("id" = String, Path, description = "The plugin's id")),
    request_body = super::schemas::StructuredConfig,
    responses(
        (status = 200, description = "The changed keys written, and what the reload did", body = super::schemas::ConfigSaved),
        (status = 400, description = "An unknown key, or a result that does not validate", body = super::schemas::Detail),
    )
)]
pub async fn save(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(plugin_id): Path<String>,
    AppJson(form): AppJson<StructuredConfig>,
) -> AppResult<Response> {
    let host = state.core.host();
    let Some(status) = host
        .plugins()
        .into_iter()
        .find(|p| p.plugin_id == plugin_id)
    else {
        return Err(AppError::BadRequest(format!(
            "no plugin `{plugin_id}`: it is neither in plugins.yml nor in the plugins folder"
        )));
    };
    let current = host.plugin_settings(&plugin_id).unwrap_or_default();
    let mut changes: Vec<(String, Value)> = Vec::new();
    for (key, value) in form.orchestration {
        if !ORCHESTRATION.contains(&key.as_str()) {
            return Err(AppError::BadRequest(format!(
                "`{key}` is not an orchestration key; these are: {}",
                ORCHESTRATION.join(", ")
            )));
        }
        if key == "enabled" && value == json!(status.enabled) {
            continue;
        }
        changes.push((key, value));
    }
    let mut secrets: Vec<(String, String)> = Vec::new();
    for (key, value) in form.settings {
        if ORCHESTRATION.contains(&key.as_str()) {
            return Err(AppError::BadRequest(format!(
                "`{key}` is an orchestration key; send it under `orchestration`"
            )));
        }
        // Untouched fields come back as they were shown: nothing to write, and a `${VAR}`
        // in the file stays a reference.
        if value == json!(MASK) || current.get(&key) == Some(&value) {
            continue;
        }
        // Deeper than the top level a mask cannot be told from a new value (the form sends
        // a whole list back), and saving it would replace the secret with dots.
        if holds_mask(&value) {
            return Err(AppError::BadRequest(format!(
                "`{key}` still holds a secret shown as dots; give its value again, or edit \
                 `{key}` in the plugins.yml editor"
            )));
        }
        match (&value, is_secret_key(&key)) {
            (Value::String(secret), true) if !secret.is_empty() => {
                let variable = secret_variable(&plugin_id, &key);
                changes.push((key, json!(format!("${{{variable}}}"))));
                secrets.push((variable, secret.clone()));
            }
            _ => changes.push((key, value)),
        }
    }
    if changes.is_empty() {
        return Ok(
            Json(json!({"success": true, "message": "Nothing changed", "changed": []}))
                .into_response(),
        );
    }
    let path = state.core.config.host.plugins_file();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "plugins: {}\n".into());
    let edited = chronicle_plugin_host::set_plugin_keys(&text, &plugin_id, &changes)
        .map_err(AppError::BadRequest)?;
    let dotenv = state
        .core
        .config
        .host
        .plugins_dir
        .join(&plugin_id)
        .join(".env");
    let previous_env = std::fs::read_to_string(&dotenv).ok();
    if !secrets.is_empty() {
        write_secrets(&dotenv, previous_env.as_deref().unwrap_or(""), &secrets)?;
    }
    if let Err(errors) = validate_candidate(&state.core, &edited).await {
        restore(&dotenv, previous_env.as_deref(), !secrets.is_empty());
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "the settings were refused; nothing was written", "errors": errors})),
        )
            .into_response());
    }
    if path.exists() {
        std::fs::copy(&path, path.with_extension("yml.backup"))
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    std::fs::write(&path, &edited).map_err(|e| AppError::Internal(e.into()))?;
    let changed: Vec<&str> = changes.iter().map(|(key, _)| key.as_str()).collect();
    let (success, reload) = match reload_plugins(&state.core).await {
        Ok(result) => (true, result),
        Err(errors) => (false, json!({"errors": errors})),
    };
    let message = if success {
        format!("Saved {} and reloaded the plugins", changed.join(", "))
    } else {
        format!("Saved {}; the reload failed", changed.join(", "))
    };
    Ok(
        Json(json!({"success": success, "message": message, "changed": changed, "reload": reload}))
            .into_response(),
    )
}

/// Whether the mask appears anywhere inside `value`.
fn holds_mask(value: &Value) -> bool {
    match value {
        Value::String(text) => text == MASK,
        Value::Array(items) => items.iter().any(holds_mask),
        Value::Object(fields) => fields.values().any(holds_mask),
        _ => false,
    }
}

/// `email_summarizer` + `smtp_password` → `EMAIL_SUMMARIZER_SMTP_PASSWORD`.
fn secret_variable(plugin_id: &str, key: &str) -> String {
    format!("{plugin_id}_{key}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Sets `secrets` in the plugin's `.env` (0600), replacing lines that set the same names.
fn write_secrets(path: &std::path::Path, old: &str, secrets: &[(String, String)]) -> AppResult<()> {
    let mut lines: Vec<String> = old
        .lines()
        .filter(|line| {
            !secrets
                .iter()
                .any(|(name, _)| line.trim_start().starts_with(&format!("{name}=")))
        })
        .map(str::to_owned)
        .collect();
    for (name, value) in secrets {
        // Single quotes are literal in a dotenv file; a value that has one cannot be quoted so.
        if value.contains('\'') || value.contains('\n') {
            return Err(AppError::BadRequest(format!(
                "the value of {name} has a quote or a line break; put it in the plugin's .env \
                 yourself"
            )));
        }
        lines.push(format!("{name}='{value}'"));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| AppError::Internal(e.into()))?;
    }
    std::fs::write(path, lines.join("\n") + "\n").map_err(|e| AppError::Internal(e.into()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(())
}

/// Puts the `.env` back as it was before a refused save.
fn restore(path: &std::path::Path, previous: Option<&str>, written: bool) {
    if !written {
        return;
    }
    let _ = match previous {
        Some(text) => std::fs::write(path, text),
        None => std::fs::remove_file(path),
    };
}
