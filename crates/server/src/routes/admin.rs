//! The admin plugin API under `/api/admin/plugins`: health, metadata (secrets masked), the
//! configuration (read, validated write with a backup, validation alone) and reload.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chronicle_plugin_api::JsonMap;
use chronicle_plugin_host::PluginState;
use serde_json::{Value, json};

use crate::auth::AdminUser;
use crate::error::{AppError, AppResult};
use crate::reload::{reload_plugins, validate_candidate};
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/admin/plugins/health", summary = "Plugins' health", tag = "admin",
    responses((status = 200, description = "Every configured plugin's state", body = super::schemas::PluginHealthReport))
)]
pub async fn health(State(state): State<AppState>, _admin: AdminUser) -> Json<Value> {
    let plugins = state.core.host().plugins();
    let configured: Vec<_> = plugins.iter().filter(|p| p.configured).collect();
    let count = |state: PluginState| configured.iter().filter(|p| p.status == state).count();
    let entries: Vec<Value> = configured
        .iter()
        .map(|p| json!({"plugin_id": p.plugin_id, "status": p.status, "error": p.error, "runtime": p.runtime, "pid": p.pid, "restarts": p.restarts}))
        .collect();
    Json(json!({
        "total": configured.len(),
        "initialized": count(PluginState::Initialized),
        "degraded": count(PluginState::Degraded),
        "failed": count(PluginState::Failed),
        "registered": count(PluginState::Registered),
        "disabled": count(PluginState::Disabled),
        "plugins": entries,
    }))
}

#[utoipa::path(
    get, path = "/api/admin/plugins/metadata", summary = "Plugins, their settings and permissions", tag = "admin",
    responses((status = 200, description = "Every plugin, its settings (secrets masked), events and permissions", body = super::schemas::PluginMetadataList))
)]
pub async fn metadata(State(state): State<AppState>, _admin: AdminUser) -> Json<Value> {
    let host = state.core.host();
    let plugins: Vec<Value> = host
        .plugins()
        .into_iter()
        .map(|p| {
            let settings = host.plugin_settings(&p.plugin_id).map(mask_secrets).unwrap_or_default();
            let secret_settings: Vec<&String> =
                settings.keys().filter(|key| is_secret_key(key)).collect();
            json!({
                "plugin_id": p.plugin_id,
                "name": p.name,
                "description": p.description,
                "runtime": p.runtime,
                "enabled": p.enabled,
                "status": p.status,
                "error": p.error,
                "current_config": settings,
                "secret_settings": secret_settings,
                "permissions": p.permissions,
                "permissions_used": p.permissions_used,
                "sandbox": p.sandbox,
                "orchestration": {"enabled": p.enabled, "events": p.events, "condition": p.condition, "priority": p.priority},
            })
        })
        .collect();
    Json(json!({"plugins": plugins, "status": "success"}))
}

/// What a set secret is shown as: never its value.
pub(crate) const MASK: &str = "••••••••••••";

/// Whether a setting's key names a credential: a password, token, key or secret, or a
/// webhook URL (whoever has a Slack or Discord webhook URL can post with it).
///
/// The key is read as words (`smtp_password`, `api-key`, `apiKey`, `HA_TOKEN`), so
/// `keywords` or `monkey_mode` are not secrets; a word that ends in one of them
/// (`apikey`, `authtoken`, `clientsecret`) is.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && previous_lower);
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_uppercase());
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    if !word.is_empty() {
        words.push(word);
    }
    let credential = |word: &String| {
        [
            "PASSWORD",
            "PASSWD",
            "TOKEN",
            "SECRET",
            "CREDENTIAL",
            "CREDENTIALS",
        ]
        .iter()
        .any(|name| word.ends_with(name))
            || ["KEY", "APIKEY", "PASS", "PRIVATEKEY", "ACCESSKEY"].contains(&word.as_str())
    };
    words.iter().any(credential)
        || (words.iter().any(|w| w.contains("WEBHOOK")) && words.iter().any(|w| w == "URL"))
}

/// Values of keys that look secret are shown as dots (or empty when unset), at any depth,
/// in lists too (a webhook's endpoints are a list of `{url, secret}`).
fn mask_secrets(settings: JsonMap) -> JsonMap {
    settings
        .into_iter()
        .map(|(key, value)| {
            let shown = if is_secret_key(&key) {
                match &value {
                    Value::String(s) if s.is_empty() => Value::from(""),
                    Value::Null => Value::Null,
                    _ => Value::from(MASK),
                }
            } else {
                mask_value(value)
            };
            (key, shown)
        })
        .collect()
}

fn mask_value(value: Value) -> Value {
    match value {
        Value::Object(inner) => Value::Object(mask_secrets(inner)),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_value).collect()),
        other => other,
    }
}

#[utoipa::path(
    get, path = "/api/admin/plugins/config", summary = "plugins.yml as it is", tag = "admin",
    responses((status = 200, description = "`plugins.yml` as it is on disk", content_type = "text/plain", body = String))
)]
pub async fn get_config(State(state): State<AppState>, _admin: AdminUser) -> Response {
    let text = std::fs::read_to_string(state.core.config.host.plugins_file()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// Validates the new plugins.yml first; a bad one is refused with its errors and not written.
/// A good one replaces the file (the previous one is kept as `plugins.yml.backup`) and the
/// plugins are reloaded.
#[utoipa::path(
    method(put, post), path = "/api/admin/plugins/config", summary = "Replace plugins.yml", tag = "admin",
    description = "Validates the whole file first; writes it (keeping a backup) only when it validates, then reloads the plugins.",
    request_body(content = String, content_type = "text/yaml", description = "The whole of `plugins.yml`"),
    responses(
        (status = 200, description = "Written, and what the reload did", body = super::schemas::ConfigSaved),
        (status = 400, description = "It does not validate; nothing was written", body = super::schemas::Detail),
    )
)]
pub async fn put_config(
    State(state): State<AppState>,
    _admin: AdminUser,
    body: String,
) -> AppResult<Response> {
    if let Err(errors) = validate_candidate(&state.core, &body).await {
        return Ok((StatusCode::BAD_REQUEST, Json(json!({"detail": "the configuration has errors; nothing was written", "errors": errors}))).into_response());
    }
    let path = state.core.config.host.plugins_file();
    if path.exists() {
        std::fs::copy(&path, path.with_extension("yml.backup"))
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    std::fs::write(&path, &body).map_err(|e| AppError::Internal(e.into()))?;
    let (success, reload) = match reload_plugins(&state.core).await {
        Ok(result) => (true, result),
        Err(errors) => (false, json!({"errors": errors})),
    };
    let message = if success {
        "Configuration saved and plugins reloaded"
    } else {
        "Configuration saved; the reload failed"
    };
    Ok(Json(json!({"success": success, "message": message, "backup": path.with_extension("yml.backup").exists(), "reload": reload})).into_response())
}

#[utoipa::path(
    post, path = "/api/admin/plugins/config/validate", summary = "Check a plugins.yml without writing it", tag = "admin",
    request_body(content = String, content_type = "text/yaml", description = "A candidate `plugins.yml`"),
    responses((status = 200, description = "Whether it validates, each error at its line and column", body = super::schemas::Validation))
)]
pub async fn validate_config(
    State(state): State<AppState>,
    _admin: AdminUser,
    body: String,
) -> Json<Value> {
    match validate_candidate(&state.core, &body).await {
        Ok(()) => Json(json!({"valid": true, "message": "Configuration is valid", "errors": []})),
        Err(errors) => Json(json!({"valid": false, "error": errors.join("\n"), "errors": errors})),
    }
}

#[utoipa::path(
    post, path = "/api/admin/plugins/reload", summary = "Reload the plugins", tag = "admin",
    responses(
        (status = 200, description = "The plugins reloaded from `plugins.yml`", body = super::schemas::Reloaded),
        (status = 400, description = "The configuration has errors; the running plugins stay", body = super::schemas::Detail),
    )
)]
pub async fn reload(State(state): State<AppState>, _admin: AdminUser) -> Response {
    match reload_plugins(&state.core).await {
        Ok(result) => Json(result).into_response(),
        Err(errors) => (StatusCode::BAD_REQUEST, Json(json!({"success": false, "detail": "the configuration has errors; the running plugins stay", "errors": errors}))).into_response(),
    }
}

/// `POST /api/admin/plugins/{id}/test-connection`: the plugin's connection test, as
/// `chronicle plugin check` prints it.
#[utoipa::path(
    post, path = "/api/admin/plugins/{id}/test-connection", summary = "Test a plugin's connection", tag = "admin",
    params(("id" = String, Path, description = "The plugin's id")),
    responses((status = 200, description = "Each step of the check, with the fix for a failed one", body = super::schemas::ConnectionReport))
)]
pub async fn test_connection(
    State(state): State<AppState>,
    _admin: AdminUser,
    axum::extract::Path(plugin_id): axum::extract::Path<String>,
) -> AppResult<Json<Value>> {
    match state.core.host().test_connection(&plugin_id).await {
        Some(report) => Ok(Json(
            json!({"plugin_id": plugin_id, "ok": report.ok, "checks": report.checks}),
        )),
        None => Err(AppError::NotFound(format!(
            "No plugin '{plugin_id}' in plugins.yml"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_secret_is_named_by_a_word_of_its_key_not_by_letters_inside_one() {
        for key in [
            "smtp_password",
            "api_key",
            "api-key",
            "apiKey",
            "APIKEY",
            "HA_TOKEN",
            "access_token",
            "authtoken",
            "client_secret",
            "credentials",
            "slack_webhook_url",
            "webhookUrl",
            "private_key",
        ] {
            assert!(is_secret_key(key), "{key} is a secret");
        }
        for key in [
            "keywords",
            "keyword",
            "monkey_mode",
            "url",
            "tokenizer_model",
            "passes",
        ] {
            assert!(!is_secret_key(key), "{key} is not a secret");
        }
    }

    #[test]
    fn secrets_are_masked_at_any_depth_and_webhook_urls_count_as_secrets() {
        let settings = json!({
            "smtp_password": "hunter2hunter2",
            "slack_webhook_url": "https://hooks.slack.com/services/T/B/X",
            "endpoints": [{"url": "https://example.com/in", "secret": "whsec_abc"}],
            "ha": {"ha_token": "", "ha_url": "http://ha.local:8123"},
            "api_key": null,
            "subject_prefix": "Chronicle",
        });
        let masked = Value::Object(mask_secrets(
            settings.as_object().cloned().unwrap_or_default(),
        ));
        assert_eq!(
            masked,
            json!({
                "smtp_password": "••••••••••••",
                "slack_webhook_url": "••••••••••••",
                "endpoints": [{"url": "https://example.com/in", "secret": "••••••••••••"}],
                "ha": {"ha_token": "", "ha_url": "http://ha.local:8123"},
                "api_key": null,
                "subject_prefix": "Chronicle",
            })
        );
    }
}
