//! Home Assistant's REST API: the template renderer, the states and service calls, with a
//! long-lived token.

use std::time::Duration;

use chronicle_plugin_api::PluginError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Characters of an unexpected answer quoted in messages.
const EXCERPT_CHARS: usize = 200;

/// What to do about a certificate that is not trusted.
pub const CERT_FIX: &str = "use the URL with its real host name, or add its CA with `ha_ca_file`";

/// What to do about a refused token.
pub const TOKEN_FIX: &str = "create a long-lived access token in Home Assistant (your profile → \
     Security → Long-lived access tokens) and set it as ha_token (e.g. HA_TOKEN in \
     plugins/homeassistant/.env)";

/// Why a request to Home Assistant did not give what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HaError {
    /// No answer (cannot connect, timed out) or a server error (5xx): it may come back.
    Unreachable(String),
    /// The TLS handshake failed (a certificate not trusted, or not for this host name): it
    /// lasts until the settings change.
    Untrusted(String),
    /// 401 or 403: the token is wrong or was revoked.
    Unauthorized(u16),
    /// Another refusal (400, 404, …), with the body Home Assistant gave.
    Rejected { status: u16, body: String },
    /// An answer that is not what the API documents.
    Unexpected(String),
    /// The HTTP client could not be built.
    Client(String),
}

impl std::fmt::Display for HaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaError::Unreachable(why) => write!(f, "Home Assistant was not reached: {why}"),
            HaError::Untrusted(why) => {
                write!(f, "Home Assistant's certificate is not trusted ({why})")
            }
            HaError::Unauthorized(status) => {
                write!(f, "Home Assistant refused the token ({status})")
            }
            HaError::Rejected { status, body } => {
                write!(f, "Home Assistant answered {status}: {body}")
            }
            HaError::Unexpected(what) => write!(f, "unexpected answer from Home Assistant: {what}"),
            HaError::Client(why) => f.write_str(why),
        }
    }
}

impl HaError {
    /// As a handler's error: unreachable stays retryable; a refused token, an untrusted
    /// certificate or a broken client is the configuration's fault.
    pub fn into_plugin_error(self) -> PluginError {
        match self {
            HaError::Unreachable(_) => PluginError::unreachable(self.to_string()),
            HaError::Unauthorized(_) => PluginError::broken(format!("{self}: {TOKEN_FIX}")),
            HaError::Untrusted(why) => PluginError::broken(untrusted(&why)),
            HaError::Rejected { .. } | HaError::Unexpected(_) | HaError::Client(_) => {
                PluginError::broken(self.to_string())
            }
        }
    }
}

/// "Home Assistant's certificate is not trusted: <the fix> (<why>)".
pub fn untrusted(why: &str) -> String {
    format!("Home Assistant's certificate is not trusted: {CERT_FIX} ({why})")
}

/// One entity of `GET /api/states`, as far as commands need it.
#[derive(Clone, Debug, Deserialize)]
pub struct EntityState {
    /// `light.kitchen_ceiling`.
    pub entity_id: String,
    /// The attributes; only the friendly name is read.
    #[serde(default)]
    pub attributes: Attributes,
}

/// The attributes of a state that commands use.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Attributes {
    /// The name shown in Home Assistant ("Kitchen Ceiling").
    #[serde(default)]
    pub friendly_name: Option<String>,
}

/// A client for one Home Assistant.
pub struct HaClient {
    /// The base URL without a trailing `/`.
    base: String,
    token: String,
    /// The longest wait for one request.
    timeout: Duration,
    /// Certificate authorities trusted besides the system's (`ha_ca_file`).
    extra_roots: Vec<reqwest::Certificate>,
    client: crate::http::LazyClient,
}

impl HaClient {
    /// A client of `base` (an http(s) URL) authenticating with `token`, trusting
    /// `extra_roots` besides the system's authorities.
    pub fn new(
        base: &reqwest::Url,
        token: String,
        timeout: Duration,
        extra_roots: Vec<reqwest::Certificate>,
    ) -> Self {
        Self {
            base: base.as_str().trim_end_matches('/').to_owned(),
            token,
            timeout,
            extra_roots,
            client: crate::http::LazyClient::new(),
        }
    }

    /// The base URL, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Builds the HTTP client now (at `initialize`), so a build failure shows at start.
    pub fn prepare(&self) -> Result<(), PluginError> {
        self.http().map(drop)
    }

    fn http(&self) -> Result<&reqwest::Client, PluginError> {
        crate::http::client(&self.client, |builder| {
            builder
                .timeout(self.timeout)
                .connect_timeout(self.timeout.min(Duration::from_secs(10)))
                .tls_certs_merge(self.extra_roots.iter().cloned())
        })
    }

    /// Renders `template` with `POST /api/template`: its text.
    pub async fn render(&self, template: &str, timeout: Duration) -> Result<String, HaError> {
        let body = json!({ "template": template });
        self.send(reqwest::Method::POST, "/api/template", Some(&body), timeout)
            .await
    }

    /// Renders a template ending in `| to_json` and reads the JSON it gives.
    pub async fn render_json<T: DeserializeOwned>(
        &self,
        template: &str,
        timeout: Duration,
    ) -> Result<T, HaError> {
        let text = self.render(template, timeout).await?;
        serde_json::from_str(&text).map_err(|error| {
            HaError::Unexpected(format!("`{template}` gave {} ({error})", excerpt(&text)))
        })
    }

    /// Every entity, from `GET /api/states`.
    pub async fn states(&self, timeout: Duration) -> Result<Vec<EntityState>, HaError> {
        let text = self
            .send(reqwest::Method::GET, "/api/states", None, timeout)
            .await?;
        serde_json::from_str(&text).map_err(|error| {
            HaError::Unexpected(format!("/api/states gave {} ({error})", excerpt(&text)))
        })
    }

    /// Calls `domain.service` with `body` (`POST /api/services/{domain}/{service}`): the states
    /// Home Assistant says changed.
    pub async fn call_service(
        &self,
        domain: &str,
        service: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, HaError> {
        if !is_slug(domain) || !is_slug(service) {
            return Err(HaError::Rejected {
                status: 400,
                body: format!("`{domain}.{service}` is not a service name"),
            });
        }
        let path = format!("/api/services/{domain}/{service}");
        let text = self
            .send(reqwest::Method::POST, &path, Some(body), timeout)
            .await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// One authenticated request: the body of a 2xx answer, or why there is none.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<String, HaError> {
        let http = self
            .http()
            .map_err(|error| HaError::Client(error.message))?;
        let mut request = http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| transport_error(&error))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|error| transport_error(&error))?;
        match status {
            200..=299 => Ok(text),
            401 | 403 => Err(HaError::Unauthorized(status)),
            500..=599 => Err(HaError::Unreachable(format!(
                "answered {status} {}",
                excerpt(&text)
            ))),
            _ => Err(HaError::Rejected {
                status,
                body: excerpt(&text),
            }),
        }
    }
}

/// A request that got no answer: a TLS failure lasts, anything else may pass.
fn transport_error(error: &reqwest::Error) -> HaError {
    let why = crate::http::describe(error);
    if crate::http::is_tls_failure_text(&why) {
        HaError::Untrusted(why)
    } else {
        HaError::Unreachable(why)
    }
}

/// The start of `text`, on one line.
pub fn excerpt(text: &str) -> String {
    crate::text::cut(&text.trim().replace(['\n', '\r'], " "), EXCERPT_CHARS)
}

/// Whether `name` can be a Home Assistant domain or service (`light`, `turn_on`).
pub fn is_slug(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
