use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chronicle_plugin_api::{
    ConnectionCheck, ConnectionReport, HandlerOutcome, HealthReport, JsonMap, Plugin,
    PluginContext, PluginError, PluginResult, SettingsError, async_trait,
};
use serde_json::{Value, json};

use super::WebhookConfig;
use super::payload::{FieldPath, payload, rfc3339, select};
use super::signing::{Secret, sign};

/// The document-store collection of endpoints that answered `410 Gone`, one document each:
/// `{url, name, status, disabled_at, webhook_id}`.
pub const DISABLED_COLLECTION: &str = "disabled_endpoints";
/// The collection of deliveries that reached some endpoints but not all, one document per
/// webhook id: `{webhook_id, event, delivered: [url, …], updated_at}`.
pub const PARTIAL_COLLECTION: &str = "partial_deliveries";

/// Bytes of a failed answer's body quoted in messages.
const EXCERPT_BYTES: usize = 200;

/// POSTs events to the configured endpoints, signed per Standard Webhooks (permission
/// `database`).
pub struct WebhookPlugin {
    endpoints: Vec<Endpoint>,
    timeout: Duration,
    client: crate::http::LazyClient,
}

/// A checked endpoint.
struct Endpoint {
    /// As normalized by the URL parser: its identity in the document store.
    url: reqwest::Url,
    /// Its name, or the URL without credentials, query or fragment.
    label: String,
    secret: Secret,
    /// `None`: the whole payload.
    fields: Option<Vec<FieldPath>>,
}

/// How one POST ended.
enum Answer {
    /// A 2xx.
    Delivered {
        status: u16,
        millis: u128,
    },
    /// `410 Gone`: the receiver asks us to stop.
    Gone,
    Failed(Failure),
}

/// Why a POST did not get a 2xx or a 410.
enum Failure {
    Status {
        status: u16,
        excerpt: String,
        location: Option<String>,
    },
    TimedOut(Duration),
    Refused(String),
    Dns(String),
    Tls(String),
    Other(String),
}

impl WebhookPlugin {
    /// Checks the settings: every URL http(s) and listed once, every secret a `whsec_` secret,
    /// every field path a path into the payload.
    pub fn new(config: WebhookConfig) -> Result<Self, SettingsError> {
        if !(config.timeout_seconds.is_finite() && config.timeout_seconds > 0.0) {
            return Err(SettingsError::at(
                "timeout_seconds",
                "must be a number of seconds above 0 (default 15)",
            ));
        }
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(config.endpoints.len());
        for (index, endpoint) in config.endpoints.into_iter().enumerate() {
            let at = |key: &str| format!("endpoints[{index}].{key}");
            let url = reqwest::Url::parse(endpoint.url.trim()).map_err(|error| {
                SettingsError::at(
                    at("url"),
                    format!(
                        "`{}` is not a URL ({error}): write it in full, as `https://example.com/hooks/chronicle`",
                        endpoint.url
                    ),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(SettingsError::at(
                    at("url"),
                    format!(
                        "`{url}` must be an http:// or https:// URL with a host, as `https://example.com/hooks/chronicle`"
                    ),
                ));
            }
            if let Some(same) = endpoints.iter().position(|other| other.url == url) {
                return Err(SettingsError::at(
                    at("url"),
                    format!("`{url}` is already endpoints[{same}]: list each receiver once"),
                ));
            }
            let secret = Secret::parse(&endpoint.secret)
                .map_err(|message| SettingsError::at(at("secret"), message))?;
            let fields = endpoint
                .fields
                .map(|paths| {
                    paths
                        .iter()
                        .enumerate()
                        .map(|(n, path)| {
                            FieldPath::parse(path).map_err(|message| {
                                SettingsError::at(at(&format!("fields[{n}]")), message)
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            let label = endpoint
                .name
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| display_url(&url));
            endpoints.push(Endpoint {
                url,
                label,
                secret,
                fields,
            });
        }
        Ok(Self {
            endpoints,
            timeout: Duration::from_secs_f64(config.timeout_seconds),
            client: OnceLock::new(),
        })
    }

    fn client(&self) -> Result<&reqwest::Client, PluginError> {
        crate::http::client(&self.client, |builder| {
            builder
                .connect_timeout(self.timeout.min(Duration::from_secs(10)))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Chronicle-Webhook/", env!("CARGO_PKG_VERSION")))
        })
    }

    /// The wait for an answer: the configured timeout, cut short to end before the handler's
    /// deadline so a slow endpoint is reported by name rather than as a timed-out plugin.
    fn request_timeout(&self, deadline: SystemTime) -> Duration {
        crate::support::request_timeout(self.timeout, deadline)
    }

    /// One signed POST of `body` with `webhook-id` `id`.
    async fn post(
        &self,
        endpoint: &Endpoint,
        id: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Answer {
        let client = match self.client() {
            Ok(client) => client,
            Err(error) => return Answer::Failed(Failure::Other(error.message)),
        };
        let timestamp = crate::support::unix_now() as u64;
        let signature = sign(&endpoint.secret, id, timestamp, &body);
        let started = Instant::now();
        let sent = client
            .post(endpoint.url.clone())
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return Answer::Failed(Failure::from_error(&error, timeout)),
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Delivered {
                status: status.as_u16(),
                millis: started.elapsed().as_millis(),
            };
        }
        if status == reqwest::StatusCode::GONE {
            return Answer::Gone;
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while bytes.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                _ => break,
            }
        }
        bytes.truncate(EXCERPT_BYTES);
        Answer::Failed(Failure::Status {
            status: status.as_u16(),
            excerpt: String::from_utf8_lossy(&bytes).trim().to_owned(),
            location,
        })
    }

    async fn deliver(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        if self.endpoints.is_empty() {
            return Ok(None);
        }
        let webhook_id = ctx.delivery.idempotency_key();
        let disabled: HashSet<String> = ctx
            .services
            .find(DISABLED_COLLECTION, &JsonMap::new())
            .await?
            .iter()
            .filter_map(|document| document.get("url").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        let mut this_delivery = JsonMap::new();
        this_delivery.insert("webhook_id".into(), Value::from(webhook_id.as_str()));
        let earlier = ctx
            .services
            .find_one(PARTIAL_COLLECTION, &this_delivery)
            .await?;
        let already: HashSet<String> = earlier
            .as_ref()
            .and_then(|document| document.get("delivered"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();

        let full = payload(
            ctx.event.as_str(),
            SystemTime::now(),
            &ctx.user_id,
            &ctx.data,
            &ctx.metadata,
        );
        let timeout = self.request_timeout(ctx.delivery.deadline);
        let mut skipped_disabled = Vec::new();
        let mut skipped_already = Vec::new();
        let mut targets = Vec::new();
        for endpoint in &self.endpoints {
            if disabled.contains(endpoint.url.as_str()) {
                skipped_disabled.push(endpoint.label.clone());
            } else if already.contains(endpoint.url.as_str()) {
                skipped_already.push(endpoint.label.clone());
            } else {
                targets.push(endpoint);
            }
        }
        let answers = futures_util::future::join_all(targets.iter().map(|endpoint| {
            let body = match &endpoint.fields {
                Some(paths) => Value::Object(select(&full, paths)),
                None => Value::Object(full.clone()),
            };
            self.post(
                endpoint,
                &webhook_id,
                body.to_string().into_bytes(),
                timeout,
            )
        }))
        .await;

        let mut delivered = Vec::new();
        let mut gone = Vec::new();
        let mut failed = Vec::new();
        let mut delivered_urls: Vec<String> = already.iter().cloned().collect();
        for (endpoint, answer) in targets.iter().zip(answers) {
            match answer {
                Answer::Delivered { .. } => {
                    delivered.push(endpoint.label.clone());
                    delivered_urls.push(endpoint.url.to_string());
                }
                Answer::Gone => {
                    tracing::warn!(endpoint = %endpoint.label, url = %display_url(&endpoint.url), "Webhook endpoint answered 410 Gone; no more events go to it.");
                    ctx.services
                        .insert_one(
                            DISABLED_COLLECTION,
                            crate::support::into_object(json!({
                                "url": endpoint.url.as_str(),
                                "name": endpoint.label,
                                "status": 410,
                                "disabled_at": rfc3339(SystemTime::now()),
                                "webhook_id": webhook_id,
                            })),
                        )
                        .await?;
                    gone.push(endpoint.label.clone());
                }
                Answer::Failed(failure) => {
                    failed.push(format!("{} ({})", endpoint.label, failure.describe()));
                }
            }
        }

        if !failed.is_empty() {
            if !delivered.is_empty() {
                delivered_urls.sort();
                let mut update = JsonMap::new();
                update.insert("delivered".into(), json!(delivered_urls));
                update.insert("updated_at".into(), Value::from(rfc3339(SystemTime::now())));
                if earlier.is_some() {
                    ctx.services
                        .update_one(PARTIAL_COLLECTION, &this_delivery, &update)
                        .await?;
                } else {
                    let mut document = this_delivery.clone();
                    document.insert("event".into(), Value::from(ctx.event.as_str()));
                    document.extend(update);
                    ctx.services
                        .insert_one(PARTIAL_COLLECTION, document)
                        .await?;
                }
            }
            let retry = if ctx.event.is_terminal() {
                "; the delivery is retried with the same webhook-id, to these endpoints only"
            } else {
                ""
            };
            return Err(PluginError::unreachable(format!(
                "Webhook {webhook_id} not delivered to {}{retry}",
                failed.join(", ")
            )));
        }
        if earlier.is_some() {
            ctx.services
                .delete_one(PARTIAL_COLLECTION, &this_delivery)
                .await?;
        }

        let mut message = format!(
            "Delivered to {} endpoint{}",
            delivered.len(),
            plural(delivered.len())
        );
        for (count, what) in [
            (skipped_already.len(), "already delivered before"),
            (skipped_disabled.len(), "skipped: disabled after 410 Gone"),
            (gone.len(), "answered 410 Gone and is now disabled"),
        ] {
            if count > 0 {
                message.push_str(&format!("; {count} {what}"));
            }
        }
        tracing::debug!(webhook_id = %webhook_id, %message, "Webhook sent.");
        let data = crate::support::into_object(json!({
            "webhook_id": webhook_id,
            "delivered": delivered,
            "already_delivered": skipped_already,
            "disabled": skipped_disabled,
            "gone": gone,
        }));
        Ok(Some(PluginResult::ok(message).with_data(data)))
    }
}

#[async_trait]
impl Plugin for WebhookPlugin {
    async fn initialize(&self) -> Result<(), PluginError> {
        self.client()?;
        if self.endpoints.is_empty() {
            tracing::warn!(
                "The webhook plugin has no endpoints: add one under `endpoints:` in plugins.yml."
            );
        }
        Ok(())
    }

    async fn health_check(&self) -> HealthReport {
        if self.endpoints.is_empty() {
            return HealthReport::unhealthy(
                "No endpoints configured: add one (url and secret) under `endpoints:` for `webhook` in config/plugins.yml",
            );
        }
        let labels: Vec<&str> = self.endpoints.iter().map(|e| e.label.as_str()).collect();
        HealthReport::ok(format!(
            "{} endpoint{} configured: {} (the connection test reaches them)",
            labels.len(),
            plural(labels.len()),
            labels.join(", ")
        ))
    }

    async fn test_connection(&self) -> ConnectionReport {
        if self.endpoints.is_empty() {
            return ConnectionReport::new(vec![ConnectionCheck::failed(
                "endpoints",
                "no endpoints configured",
                "add one (url and secret) under `endpoints:` for `webhook` in config/plugins.yml",
            )]);
        }
        let sent_at = SystemTime::now();
        let millis = sent_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        let checks = futures_util::future::join_all(self.endpoints.iter().enumerate().map(
            |(index, endpoint)| async move {
                let body = json!({
                    "type": "webhook.test",
                    "timestamp": rfc3339(sent_at),
                    "data": {"message": "A test from Chronicle's webhook plugin: the signature verifies, nothing else to do."},
                });
                let id = format!("webhook-test-{millis}-{index}");
                let name = format!("POST {}", endpoint.label);
                match self
                    .post(endpoint, &id, body.to_string().into_bytes(), self.timeout)
                    .await
                {
                    Answer::Delivered { status, millis } => ConnectionCheck::passed(
                        name,
                        format!("answered {status} in {millis} ms to a signed `webhook.test` message"),
                    ),
                    Answer::Gone => ConnectionCheck::failed(
                        name,
                        "answered 410 Gone: events stop going to it at the first 410",
                        format!("the receiver says {} is gone: remove endpoints[{index}] or set the receiver's new URL", display_url(&endpoint.url)),
                    ),
                    Answer::Failed(failure) => {
                        ConnectionCheck::failed(name, failure.describe(), failure.fix(index, endpoint))
                    }
                }
            },
        ))
        .await;
        ConnectionReport::new(checks)
    }

    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.deliver(ctx).await
    }

    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.deliver(ctx).await
    }

    async fn on_memory_processed(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.deliver(ctx).await
    }

    async fn on_conversation_starred(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.deliver(ctx).await
    }

    async fn on_button_event(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.deliver(ctx).await
    }
}

impl Failure {
    fn from_error(error: &reqwest::Error, timeout: Duration) -> Self {
        if error.is_timeout() {
            return Failure::TimedOut(timeout);
        }
        let refused =
            std::iter::successors(std::error::Error::source(error), |cause| cause.source())
                .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        let detail = crate::http::describe(error);
        let lower = detail.to_lowercase();
        if refused || lower.contains("connection refused") {
            Failure::Refused(detail)
        } else if lower.contains("dns") || lower.contains("lookup address") {
            Failure::Dns(detail)
        } else if crate::http::is_tls_failure_text(&detail) {
            Failure::Tls(detail)
        } else {
            Failure::Other(detail)
        }
    }

    /// What happened, for messages and connection tests.
    fn describe(&self) -> String {
        match self {
            Failure::Status {
                status,
                excerpt,
                location,
            } => {
                let mut text = format!("answered {status}");
                if let Some(location) = location {
                    text.push_str(&format!(", redirecting to {location}"));
                }
                if !excerpt.is_empty() {
                    text.push_str(&format!(": {excerpt}"));
                }
                text
            }
            Failure::TimedOut(after) => format!("no answer within {:.1} s", after.as_secs_f64()),
            Failure::Refused(detail)
            | Failure::Dns(detail)
            | Failure::Tls(detail)
            | Failure::Other(detail) => detail.clone(),
        }
    }

    /// How to make it pass.
    fn fix(&self, index: usize, endpoint: &Endpoint) -> String {
        let url = display_url(&endpoint.url);
        match self {
            Failure::Status {
                status: 400 | 401 | 403,
                ..
            } => format!(
                "the receiver refused the request: check that endpoints[{index}].secret is the secret the receiver verifies with, and that both clocks are right (signatures older than 5 minutes are refused)"
            ),
            Failure::Status {
                status: 404 | 405, ..
            } => {
                format!("the receiver has no webhook at this path: check the path of {url}")
            }
            Failure::Status {
                status: 300..=399,
                location,
                ..
            } => format!(
                "webhooks do not follow redirects: set endpoints[{index}].url to {}",
                location.as_deref().unwrap_or("the address it redirects to")
            ),
            Failure::Status { status: 500.., .. } => {
                "the receiver failed while handling the request: check its logs".to_owned()
            }
            Failure::Status { .. } => {
                "the receiver refused the request: check its logs for why".to_owned()
            }
            Failure::TimedOut(_) => format!(
                "check that {url} is reachable from this machine (firewall, proxy) and answers quickly, or raise `timeout_seconds`"
            ),
            Failure::Refused(_) => format!(
                "nothing accepts connections there: is the receiver running, and listening at {url}?"
            ),
            Failure::Dns(_) => format!("the host name does not resolve: check the host in {url}"),
            Failure::Tls(_) => "the TLS connection failed: check that the receiver's certificate is valid for its host name and trusted by this system, or use http:// for a receiver on a trusted local network".to_owned(),
            Failure::Other(_) => {
                format!("check that the receiver at {url} is up and reachable from this machine")
            }
        }
    }
}

/// The URL without credentials, query or fragment, safe to log.
fn display_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::MIN_REQUEST_TIMEOUT;
    use crate::webhook::EndpointConfig;

    fn endpoint(url: &str, secret: &str, fields: Option<&[&str]>) -> EndpointConfig {
        EndpointConfig {
            url: url.into(),
            secret: secret.into(),
            fields: fields.map(|f| f.iter().map(|s| (*s).to_owned()).collect()),
            name: None,
        }
    }

    #[track_caller]
    fn refused(endpoints: Vec<EndpointConfig>, key: &str, message: &str) {
        let config = WebhookConfig {
            endpoints,
            ..WebhookConfig::default()
        };
        let Err(error) = WebhookPlugin::new(config) else {
            panic!("accepted")
        };
        assert_eq!(error.key.as_deref(), Some(key));
        assert!(error.message.contains(message), "{error}");
    }

    #[test]
    fn settings_are_checked_with_the_key_and_the_fix() {
        const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        refused(
            vec![endpoint("example.com/hook", SECRET, None)],
            "endpoints[0].url",
            "write it in full",
        );
        refused(
            vec![endpoint("ftp://example.com/hook", SECRET, None)],
            "endpoints[0].url",
            "http:// or https://",
        );
        refused(
            vec![
                endpoint("https://example.com/hook", SECRET, None),
                endpoint("https://EXAMPLE.com/hook", SECRET, None),
            ],
            "endpoints[1].url",
            "already endpoints[0]",
        );
        refused(
            vec![endpoint("https://example.com/hook", "hunter2", None)],
            "endpoints[0].secret",
            "whsec_",
        );
        refused(
            vec![endpoint(
                "https://example.com/hook",
                SECRET,
                Some(&["data.title", "title"]),
            )],
            "endpoints[0].fields[1]",
            "did you mean `data.title`?",
        );
        let config = WebhookConfig {
            timeout_seconds: 0.0,
            ..WebhookConfig::default()
        };
        assert_eq!(
            WebhookPlugin::new(config)
                .err()
                .and_then(|e| e.key)
                .as_deref(),
            Some("timeout_seconds")
        );
    }

    #[test]
    fn logged_urls_lose_credentials_and_query() {
        let url =
            reqwest::Url::parse("https://user:pw@example.com:8443/hooks/x?token=abc#f").unwrap();
        assert_eq!(display_url(&url), "https://example.com:8443/hooks/x");
    }

    #[test]
    fn requests_end_before_the_handler_deadline() {
        let plugin = WebhookPlugin::new(WebhookConfig::default()).unwrap();
        let now = SystemTime::now();
        assert_eq!(
            plugin.request_timeout(now + Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        let short = plugin.request_timeout(now + Duration::from_secs(5));
        assert!(short <= Duration::from_millis(4500) && short > Duration::from_secs(4));
        assert_eq!(plugin.request_timeout(now), MIN_REQUEST_TIMEOUT);
    }
}
