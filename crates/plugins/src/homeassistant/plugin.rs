//! The handlers: commands from transcripts, plugin actions and button presses, each ending in
//! Home Assistant service calls.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chronicle_plugin_api::{
    ConnectionCheck, ConnectionReport, Event, HandlerOutcome, HealthReport, JsonMap, Plugin,
    PluginContext, PluginError, PluginResult, ServiceError, SettingsError, async_trait,
};
use serde_json::{Value, json};

use super::client::{CERT_FIX, HaClient, HaError, TOKEN_FIX, excerpt, is_slug, untrusted};
use super::config::{ButtonAction, ButtonActions, HomeAssistantConfig, TargetType};
use super::home::{Cache, Place, Resolved, Snapshot, by_domain, plural};
use super::parser::{Command, LlmVerdict, Parser, llm_prompt, parse_keywords, parse_llm_answer};

/// The template whose answer proves the URL and the token.
pub const PING_TEMPLATE: &str = "{{ 1 + 1 }}";
/// Time kept for Home Assistant after the language model has answered.
const HOME_ASSISTANT_RESERVE: Duration = Duration::from_secs(1);
/// Below this, the model is not asked: the keyword parser answers at once.
const MIN_LLM_TIMEOUT: Duration = Duration::from_millis(250);
/// The reply when the areas and entities were not read before the handler's deadline.
pub const SLOW: &str = "Home Assistant is slow to list its devices: try again in a moment";

/// Controls Home Assistant through its REST API with a long-lived token.
pub struct HomeAssistantPlugin {
    /// `None` when no token is set: every event is declined.
    client: Option<Arc<HaClient>>,
    url: reqwest::Url,
    timeout: Duration,
    cache_ttl: Duration,
    refresh_on_miss: Duration,
    llm_timeout: Duration,
    buttons: ButtonActions,
    cache: Cache,
}

/// What a service call is to do, however it was asked for.
struct Request<'a> {
    /// `toggle`, `turn_on`, … (mapped per domain, see [`service_for`]).
    service: &'a str,
    target_type: TargetType,
    target: &'a str,
    entity_type: Option<&'a str>,
    /// Service data added to each call.
    parameters: JsonMap,
    /// The parameters are light settings: other domains get the call without them.
    lights_only: bool,
}

/// Service calls made: all of them, or some when Home Assistant refused or dropped the others.
struct Done {
    /// What the request named.
    resolved: Resolved,
    /// The entities of the calls that went through.
    called: Vec<String>,
    /// `light.turn_off`, one per domain that went through.
    services: Vec<String>,
    /// The states Home Assistant says changed, all calls together.
    ha_result: Vec<Value>,
    /// Why the other calls did not go through ("Home Assistant refused switch.turn_off …").
    failed: Vec<String>,
}

impl Done {
    /// "2 lights in kitchen": the targets that were called.
    fn targets(&self) -> String {
        targets(&self.called, &self.resolved.place)
    }

    /// ", but Home Assistant refused switch.turn_off (…)", or nothing.
    fn but(&self) -> String {
        if self.failed.is_empty() {
            String::new()
        } else {
            format!(", but {}", self.failed.join("; "))
        }
    }
}

/// How a request ended short of a service call.
enum Refusal {
    /// A reply for the user: not understood, not found, refused.
    Reply(String),
    /// The areas and entities were not read before the handler's deadline (the read goes on,
    /// and the next command finds it).
    Slow,
}

impl Refusal {
    /// The reply, with `prefix` before a [`Refusal::Reply`].
    fn message(self, prefix: &str) -> String {
        match self {
            Refusal::Reply(why) => format!("{prefix}{why}"),
            Refusal::Slow => SLOW.to_owned(),
        }
    }
}

impl HomeAssistantPlugin {
    /// Checks the settings: an http(s) URL, a token an HTTP header can carry, a readable
    /// `ha_ca_file`, timeouts above 0, and button actions that name a service and a target.
    pub fn new(config: HomeAssistantConfig) -> Result<Self, SettingsError> {
        let url_text = config.ha_url.trim();
        let url = reqwest::Url::parse(url_text).map_err(|error| {
            SettingsError::at(
                "ha_url",
                format!(
                    "`{url_text}` is not a URL ({error}); write Home Assistant's address, e.g. \
                     http://homeassistant.local:8123"
                ),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SettingsError::at(
                "ha_url",
                format!("`{url_text}` is not an http(s) URL"),
            ));
        }
        let seconds = |key: &str, value: f64, zero_ok: bool, max: f64| {
            let low_ok = if zero_ok { value >= 0.0 } else { value > 0.0 };
            if low_ok && value <= max {
                Ok(Duration::from_secs_f64(value))
            } else {
                let low = if zero_ok { "at least 0" } else { "above 0" };
                Err(SettingsError::at(
                    key,
                    format!("must be {low} and at most {max}"),
                ))
            }
        };
        let timeout = seconds("timeout_seconds", config.timeout_seconds, false, 300.0)?;
        let cache_ttl = seconds("cache_seconds", config.cache_seconds, true, 604_800.0)?;
        let refresh_on_miss = seconds(
            "refresh_on_miss_seconds",
            config.refresh_on_miss_seconds,
            true,
            604_800.0,
        )?;
        let llm_timeout = seconds(
            "llm_timeout_seconds",
            config.llm_timeout_seconds,
            false,
            300.0,
        )?;
        let buttons = config.button_actions;
        for (kind, action) in [
            ("single_press", &buttons.single_press),
            ("double_press", &buttons.double_press),
            ("long_press", &buttons.long_press),
        ] {
            if let Some(action) = action {
                check_button_action(kind, action)?;
            }
        }
        let token = config.ha_token.trim().to_owned();
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(SettingsError::at(
                "ha_token",
                "holds a line break or another control character, which an HTTP header cannot \
                 carry: paste the token alone, on one line",
            ));
        }
        let extra_roots = read_ca_file(config.ha_ca_file.trim())?;
        let client =
            (!token.is_empty()).then(|| Arc::new(HaClient::new(&url, token, timeout, extra_roots)));
        Ok(Self {
            client,
            url,
            timeout,
            cache_ttl,
            refresh_on_miss,
            llm_timeout,
            buttons,
            cache: Cache::default(),
        })
    }

    /// The wait for one service call: the configured timeout, cut to the time left before the
    /// handler's deadline (less a margin), so a service call that gets no answer is the
    /// handler's own `unreachable` error rather than the host's timeout. The areas and
    /// entities are read apart, by [`Cache`], which the handler waits for only until then.
    fn request_timeout(&self, deadline: SystemTime) -> Duration {
        crate::support::request_timeout(self.timeout, deadline)
    }

    /// `{{ 1 + 1 }}` must render as `2`.
    async fn ping(&self, client: &HaClient) -> Result<(), HaError> {
        let answer = client.render(PING_TEMPLATE, self.timeout).await?;
        if answer.trim() == "2" {
            Ok(())
        } else {
            Err(HaError::Unexpected(format!(
                "`{PING_TEMPLATE}` rendered as `{}` instead of `2`",
                excerpt(&answer)
            )))
        }
    }

    /// The structured command: the model's when it answers usefully in time, else the keyword
    /// parser's (`None`: not understood).
    async fn parse(
        &self,
        text: &str,
        snapshot: &Snapshot,
        ctx: &PluginContext,
    ) -> (Option<Command>, Parser) {
        match self.ask_llm(text, snapshot, ctx).await {
            Some(command) => (Some(command), Parser::Llm),
            None => (parse_keywords(text, snapshot), Parser::Keywords),
        }
    }

    /// The model's reading of `text`, or `None` (logged) when there is no model, no permission,
    /// no answer in time or no usable answer.
    async fn ask_llm(
        &self,
        text: &str,
        snapshot: &Snapshot,
        ctx: &PluginContext,
    ) -> Option<Command> {
        let budget = self.llm_timeout.min(
            crate::support::time_left(ctx.delivery.deadline).saturating_sub(HOME_ASSISTANT_RESERVE),
        );
        if budget < MIN_LLM_TIMEOUT {
            tracing::debug!("No time left to ask the language model; parsing with keywords.");
            return None;
        }
        let prompt = llm_prompt(text, snapshot);
        let answer = match tokio::time::timeout(budget, ctx.services.llm_generate(&prompt)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error @ ServiceError::Unavailable { .. }))
            | Ok(Err(error @ ServiceError::PermissionDenied { .. })) => {
                tracing::debug!(%error, "No language model for commands; parsing with keywords.");
                return None;
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "The language model failed; parsing the command with keywords.");
                return None;
            }
            Err(_) => {
                tracing::warn!(
                    seconds = budget.as_secs_f64(),
                    "The language model did not answer in time; parsing the command with keywords."
                );
                return None;
            }
        };
        match parse_llm_answer(&answer) {
            Ok(LlmVerdict::Command(command)) => Some(command),
            Ok(LlmVerdict::NotACommand) => {
                tracing::debug!("The language model saw no command; trying the keywords.");
                None
            }
            Err(why) => {
                tracing::warn!(error = %why, answer = %excerpt(&answer), "Unusable answer from the language model; parsing the command with keywords.");
                None
            }
        }
    }

    /// The snapshot of the home, waiting for a read no longer than the time left before
    /// `deadline`. `Ok(None)`: not read in time.
    async fn snapshot(
        &self,
        client: &Arc<HaClient>,
        deadline: SystemTime,
    ) -> Result<Option<Arc<Snapshot>>, HaError> {
        self.cache
            .get(
                client,
                self.cache_ttl,
                self.timeout,
                crate::support::time_left(deadline),
            )
            .await
    }

    /// `pick` applied to `snapshot`; when it finds nothing and the snapshot is older than
    /// `refresh_on_miss`, applied once more to a fresh one (a device added since), waited for
    /// no longer than the time left before `deadline`.
    async fn pick_or_refresh<T>(
        &self,
        client: &Arc<HaClient>,
        snapshot: &Snapshot,
        deadline: SystemTime,
        pick: impl Fn(&Snapshot) -> Result<T, String>,
    ) -> Result<Result<T, Refusal>, HaError> {
        match pick(snapshot) {
            Err(_) if snapshot.age() >= self.refresh_on_miss => {
                let fresh = self
                    .cache
                    .refresh_after(
                        client,
                        snapshot,
                        self.timeout,
                        crate::support::time_left(deadline),
                    )
                    .await?;
                Ok(match fresh {
                    Some(fresh) => pick(&fresh).map_err(Refusal::Reply),
                    None => Err(Refusal::Slow),
                })
            }
            found => Ok(found.map_err(Refusal::Reply)),
        }
    }

    /// Resolves the request's target and calls the service on it, one call per domain.
    async fn run(
        &self,
        client: &Arc<HaClient>,
        request: &Request<'_>,
        deadline: SystemTime,
    ) -> Result<Result<Done, Refusal>, HaError> {
        let Some(snapshot) = self.snapshot(client, deadline).await? else {
            return Ok(Err(Refusal::Slow));
        };
        let found = self
            .pick_or_refresh(client, &snapshot, deadline, |snapshot| {
                snapshot.resolve(request.target_type, request.target, request.entity_type)
            })
            .await?;
        let resolved = match found {
            Ok(resolved) => resolved,
            Err(refusal) => return Ok(Err(refusal)),
        };
        self.call(client, request, resolved, deadline).await
    }

    /// Calls the service on `resolved`, one call per domain. A domain refused does not stop the
    /// others; once a call went through, a later failure is reported in [`Done::failed`] (so
    /// the event is not retried and the calls made are not repeated). `Err` and a refusal only
    /// when no call went through.
    async fn call(
        &self,
        client: &HaClient,
        request: &Request<'_>,
        resolved: Resolved,
        deadline: SystemTime,
    ) -> Result<Result<Done, Refusal>, HaError> {
        let mut called = Vec::new();
        let mut services = Vec::new();
        let mut ha_result = Vec::new();
        let mut failed = Vec::new();
        for (domain, ids) in by_domain(&resolved.entity_ids) {
            let service = service_for(domain, request.service);
            let mut body = JsonMap::new();
            body.insert("entity_id".into(), json!(ids));
            if !request.lights_only || domain == "light" {
                for (key, value) in &request.parameters {
                    body.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            let answer = client
                .call_service(
                    domain,
                    service,
                    &Value::Object(body),
                    self.request_timeout(deadline),
                )
                .await;
            match answer {
                Ok(Value::Array(states)) => ha_result.extend(states),
                Ok(other) => ha_result.push(other),
                Err(HaError::Rejected { status, body }) => {
                    failed.push(format!(
                        "Home Assistant refused {domain}.{service} ({status} {body})"
                    ));
                    continue;
                }
                Err(error) if services.is_empty() => return Err(error),
                Err(error) => {
                    failed.push(format!("{domain}.{service} failed: {error}"));
                    break;
                }
            }
            services.push(format!("{domain}.{service}"));
            called.extend(ids.iter().map(|id| (*id).to_owned()));
        }
        if services.is_empty() {
            return Ok(Err(Refusal::Reply(failed.join("; "))));
        }
        Ok(Ok(Done {
            resolved,
            called,
            services,
            ha_result,
            failed,
        }))
    }

    /// A command from a transcript: parse, resolve (with one refresh on a miss), call.
    async fn command(
        &self,
        client: &Arc<HaClient>,
        text: &str,
        ctx: &PluginContext,
    ) -> HandlerOutcome {
        let deadline = ctx.delivery.deadline;
        let Some(snapshot) = self
            .snapshot(client, deadline)
            .await
            .map_err(HaError::into_plugin_error)?
        else {
            return Ok(Some(PluginResult::failure(SLOW)));
        };
        let (parsed, parser) = self.parse(text, &snapshot, ctx).await;
        let Some(parsed) = parsed else {
            return Ok(Some(PluginResult::failure(format!(
                "Sorry, I didn't understand \"{text}\" as a Home Assistant command"
            ))));
        };
        // With keywords, a refreshed snapshot may know the area the command names. The time
        // left is read anew: the model took some.
        let found = self
            .pick_or_refresh(client, &snapshot, deadline, |snapshot| {
                let command = match parser {
                    Parser::Keywords => {
                        parse_keywords(text, snapshot).unwrap_or_else(|| parsed.clone())
                    }
                    Parser::Llm => parsed.clone(),
                };
                let resolved = snapshot.resolve(
                    command.target_type,
                    &command.target,
                    command.entity_type.as_deref(),
                )?;
                Ok((command, resolved))
            })
            .await
            .map_err(HaError::into_plugin_error)?;
        let (command, resolved) = match found {
            Ok(found) => found,
            Err(Refusal::Reply(why)) => {
                return Ok(Some(PluginResult::failure(format!(
                    "Sorry, {}",
                    lower_first(&why)
                ))));
            }
            Err(Refusal::Slow) => return Ok(Some(PluginResult::failure(SLOW))),
        };
        let request = Request {
            service: command.action.service(),
            target_type: command.target_type,
            target: &command.target,
            entity_type: command.entity_type.as_deref(),
            parameters: command.action.parameters(),
            lights_only: true,
        };
        let done = match self
            .call(client, &request, resolved, deadline)
            .await
            .map_err(HaError::into_plugin_error)?
        {
            Ok(done) => done,
            Err(refusal) => return Ok(Some(PluginResult::failure(refusal.message("Sorry, ")))),
        };
        tracing::info!(command = %text, parser = parser.as_str(), services = ?done.services, entities = done.called.len(), failed = ?done.failed, "Ran a Home Assistant command.");
        let data = json!({
            "action": command.action.name(),
            "target_type": command.target_type.as_str(),
            "target": command.target,
            "entity_type": command.entity_type,
            "parameters": command.action.parameters(),
            "entity_ids": done.called,
            "services": done.services,
            "failed": done.failed,
            "parser": parser.as_str(),
            "ha_result": done.ha_result,
        });
        Ok(Some(
            PluginResult::ok(format!(
                "{}{}",
                command.action.reply(&done.targets()),
                done.but()
            ))
            .with_data(crate::support::into_object(data))
            .stop_chain(),
        ))
    }
}

/// The service a domain has for `service`: covers open and close rather than turn on and off.
fn service_for<'a>(domain: &str, service: &'a str) -> &'a str {
    match (domain, service) {
        ("cover", "turn_on") => "open_cover",
        ("cover", "turn_off") => "close_cover",
        _ => service,
    }
}

/// "2 lights in kitchen", "3 devices", "Sofa Lamp": `entity_ids` at `place`.
fn targets(entity_ids: &[String], place: &Place) -> String {
    let count = entity_ids.len();
    let domains = by_domain(entity_ids);
    let kind = match domains.as_slice() {
        [(domain, _)] => plural(domain, count),
        _ => plural("device", count),
    };
    match place {
        Place::Entity(name) => name.clone(),
        Place::Area(name) => format!("{count} {kind} in {name}"),
        Place::Everywhere => format!("{count} {kind}"),
    }
}

/// "light.toggle on 2 lights in hall", and what failed.
fn called(done: &Done) -> String {
    format!(
        "{} on {}{}",
        done.services.join(" and "),
        done.targets(),
        done.but()
    )
}

/// "1 label", "2 labels".
fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !text.starts_with("I ") && !text.starts_with("I'") => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

fn check_button_action(kind: &str, action: &ButtonAction) -> Result<(), SettingsError> {
    let key = |field: &str| format!("button_actions.{kind}.{field}");
    if !is_slug(&action.service) {
        return Err(SettingsError::at(
            key("service"),
            format!(
                "`{}` is not a service name: write it as in Home Assistant, e.g. toggle or turn_on",
                action.service
            ),
        ));
    }
    if action.target.trim().is_empty() && action.target_type != TargetType::All {
        return Err(SettingsError::at(
            key("target"),
            "is required: the area, label or entity to act on (e.g. living_room)",
        ));
    }
    if let Some(kind_name) = &action.entity_type
        && !is_slug(kind_name)
    {
        return Err(SettingsError::at(
            key("entity_type"),
            format!("`{kind_name}` is not a domain: write e.g. light, switch, fan or cover"),
        ));
    }
    Ok(())
}

/// A PEM file's certificates, for `ha_ca_file` (empty: none).
fn read_ca_file(path: &str) -> Result<Vec<reqwest::Certificate>, SettingsError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let pem = std::fs::read(path).map_err(|error| {
        SettingsError::at("ha_ca_file", format!("cannot read `{path}`: {error}"))
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err(SettingsError::at(
            "ha_ca_file",
            format!("`{path}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        )),
        Err(error) => Err(SettingsError::at(
            "ha_ca_file",
            format!("`{path}` holds no readable PEM certificate ({error})"),
        )),
    }
}

/// A string field of a plugin action: `None` when absent or null, `Err` naming the key when
/// it is not a string.
fn string_field<'a>(data: &'a JsonMap, key: &str) -> Result<Option<&'a str>, String> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("Invalid {key}: {other} (a string is expected)")),
    }
}

/// The service data of a plugin action: its `data` (or `parameters`) object, empty when
/// absent or null, `Err` naming the key when it is not an object.
fn service_data(data: &JsonMap) -> Result<JsonMap, String> {
    for key in ["data", "parameters"] {
        match data.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(fields)) => return Ok(fields.clone()),
            Some(other) => {
                return Err(format!(
                    "Invalid {key}: {other} (an object of service data is expected, e.g. \
                     {{\"brightness_pct\": 40}})"
                ));
            }
        }
    }
    Ok(JsonMap::new())
}

/// The entity type of a plugin action's `entity_type`: absent → light, null → any.
fn entity_type_field(data: &JsonMap) -> Result<Option<&str>, String> {
    match data.get("entity_type") {
        None => Ok(Some("light")),
        Some(Value::Null) => Ok(None),
        Some(Value::String(kind)) if is_slug(kind.trim()) => Ok(Some(kind.trim())),
        Some(other) => Err(format!("Invalid entity_type: {other}")),
    }
}

/// What a plugin action asks for (`toggle_lights` or `call_service`), or why it cannot be
/// done: a key of the wrong type, an unknown action or target type, no target.
fn action_request(data: &JsonMap) -> Result<(&str, Request<'_>), String> {
    let action = string_field(data, "action")?.unwrap_or_default();
    if !matches!(action, "toggle_lights" | "call_service") {
        return Err(format!("Unknown action: {action}"));
    }
    let type_name = string_field(data, "target_type")?.unwrap_or("area");
    let target_type = TargetType::parse(type_name).ok_or_else(|| {
        format!("Unknown target_type: {type_name} (expected area, all, all_in_area or entity)")
    })?;
    let target = string_field(data, "target")?
        .map(str::trim)
        .unwrap_or_default();
    if target.is_empty() && target_type != TargetType::All {
        return Err("No target specified".into());
    }
    let entity_type = entity_type_field(data)?;
    let service = match (action, string_field(data, "service")?) {
        ("toggle_lights", None | Some("toggle")) => "toggle",
        ("toggle_lights", Some(other)) => {
            return Err(format!(
                "toggle_lights always toggles: use call_service for service {other}"
            ));
        }
        (_, service) => service.unwrap_or("toggle"),
    };
    if !is_slug(service) {
        return Err(format!("Invalid service: {service}"));
    }
    let parameters = service_data(data)?;
    Ok((
        action,
        Request {
            service,
            target_type,
            target,
            entity_type,
            parameters,
            lights_only: false,
        },
    ))
}

#[async_trait]
impl Plugin for HomeAssistantPlugin {
    async fn initialize(&self) -> Result<(), PluginError> {
        let Some(client) = &self.client else {
            tracing::warn!(
                "homeassistant has no ha_token: it declines every event until one is set."
            );
            return Ok(());
        };
        client.prepare()?;
        match self.ping(client).await {
            Ok(()) => {
                // The first command finds the home read; a failure here is only logged.
                self.cache.warm(client, self.cache_ttl, self.timeout);
                Ok(())
            }
            Err(error @ HaError::Unreachable(_)) => Err(PluginError::unreachable(format!(
                "{error} at {}",
                client.base()
            ))),
            Err(HaError::Untrusted(why)) => Err(PluginError::broken(untrusted(&format!(
                "{}: {why}",
                client.base()
            )))),
            Err(HaError::Unauthorized(status)) => Err(PluginError::broken(format!(
                "Home Assistant at {} refused the token ({status}): {TOKEN_FIX}",
                client.base()
            ))),
            Err(error) => Err(PluginError::broken(format!(
                "{error} (is {} Home Assistant's address?)",
                client.base()
            ))),
        }
    }

    async fn health_check(&self) -> HealthReport {
        let Some(client) = &self.client else {
            return HealthReport::unhealthy(format!("ha_token is not set: {TOKEN_FIX}"));
        };
        let started = Instant::now();
        match self.ping(client).await {
            Ok(()) => HealthReport {
                latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
                ..HealthReport::ok(format!("Home Assistant at {} answers", client.base()))
            },
            Err(error) => HealthReport::unhealthy(error.to_string()),
        }
    }

    async fn test_connection(&self) -> ConnectionReport {
        let Some(client) = &self.client else {
            return ConnectionReport::new(vec![ConnectionCheck::failed(
                "settings",
                "ha_token is not set",
                TOKEN_FIX,
            )]);
        };
        let mut checks = vec![ConnectionCheck::passed(
            "settings",
            format!("ha_url {}, a token is set", self.url),
        )];
        let fix_for = |error: &HaError| match error {
            HaError::Unreachable(_) => format!(
                "check ha_url ({}) and that Home Assistant is running and reachable from this \
                 machine (firewall, DNS, http vs https)",
                client.base()
            ),
            HaError::Unauthorized(_) => TOKEN_FIX.to_owned(),
            HaError::Untrusted(_) => CERT_FIX.to_owned(),
            HaError::Rejected { .. } | HaError::Unexpected(_) => format!(
                "check that ha_url ({}) is Home Assistant's address, e.g. \
                 http://homeassistant.local:8123",
                client.base()
            ),
            HaError::Client(_) => "check this machine's TLS setup".to_owned(),
        };
        let name = "POST /api/template (token)";
        let started = Instant::now();
        match self.ping(client).await {
            Ok(()) => checks.push(ConnectionCheck::passed(
                name,
                format!(
                    "`{PING_TEMPLATE}` rendered as 2 in {} ms",
                    started.elapsed().as_millis()
                ),
            )),
            Err(error) => {
                let fix = fix_for(&error);
                checks.push(ConnectionCheck::failed(name, error.to_string(), fix));
                return ConnectionReport::new(checks);
            }
        }
        let states = match client.states(self.timeout).await {
            Ok(states) => {
                let ids: Vec<String> = states.iter().map(|state| state.entity_id.clone()).collect();
                let kinds: Vec<String> = by_domain(&ids)
                    .into_iter()
                    .filter(|(domain, _)| super::home::SWITCHABLE.contains(domain))
                    .map(|(domain, ids)| format!("{} {}", ids.len(), plural(domain, ids.len())))
                    .collect();
                checks.push(ConnectionCheck::passed(
                    "GET /api/states",
                    format!("{} entities ({})", ids.len(), kinds.join(", ")),
                ));
                states
            }
            Err(error) => {
                let fix = fix_for(&error);
                checks.push(ConnectionCheck::failed(
                    "GET /api/states",
                    error.to_string(),
                    fix,
                ));
                return ConnectionReport::new(checks);
            }
        };
        match Snapshot::fetch_with_states(client, self.timeout, states).await {
            Ok(snapshot) if snapshot.areas.is_empty() => checks.push(ConnectionCheck::passed(
                "areas",
                "no areas: commands can name devices only (add areas in Home Assistant to say \
                 \"kitchen lights\")",
            )),
            Ok(snapshot) => {
                let areas: Vec<String> = snapshot
                    .areas
                    .iter()
                    .map(|area| {
                        format!(
                            "{}: {}",
                            area.display(),
                            counted(area.entity_ids.len(), "entity", "entities")
                        )
                    })
                    .collect();
                checks.push(ConnectionCheck::passed(
                    "areas",
                    format!(
                        "{} ({}), {}",
                        counted(snapshot.areas.len(), "area", "areas"),
                        areas.join(", "),
                        counted(snapshot.labels.len(), "label", "labels")
                    ),
                ));
            }
            Err(error) => {
                let fix = match &error {
                    HaError::Rejected { .. } | HaError::Unexpected(_) => {
                        "update Home Assistant: the templates areas() and area_entities() are \
                         needed"
                            .to_owned()
                    }
                    other => fix_for(other),
                };
                checks.push(ConnectionCheck::failed("areas", error.to_string(), fix));
            }
        }
        ConnectionReport::new(checks)
    }

    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        // Only a condition (wake_word, keyword_anywhere) makes a transcript a command.
        let Some(text) = ctx.str_field("command").map(str::trim) else {
            tracing::debug!(
                "A transcript without `command`: give homeassistant a wake_word condition."
            );
            return Ok(None);
        };
        // A retry of transcript.batch: the first attempt may have switched something, and a
        // command spoken minutes ago is not wanted now. Declining ends the delivery.
        if ctx.delivery.attempt > 1 {
            tracing::warn!(
                command = %text,
                attempt = ctx.delivery.attempt,
                "Not repeated: a voice command is only run when it is spoken."
            );
            return Ok(None);
        }
        if text.is_empty() {
            return Ok(Some(PluginResult::failure("No command provided")));
        }
        let text = text.to_owned();
        self.command(client, &text, ctx).await
    }

    async fn on_plugin_action(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let (action, request) = match action_request(&ctx.data) {
            Ok(asked) => asked,
            Err(why) => return Ok(Some(PluginResult::failure(why))),
        };
        let done = match self
            .run(client, &request, ctx.delivery.deadline)
            .await
            .map_err(HaError::into_plugin_error)?
        {
            Ok(done) => done,
            Err(refusal) => return Ok(Some(PluginResult::failure(refusal.message("")))),
        };
        let data = json!({
            "action": action,
            "services": done.services,
            "entity_ids": done.called,
            "failed": done.failed,
            "ha_result": done.ha_result,
        });
        Ok(Some(
            PluginResult::ok(format!("Called {}", called(&done)))
                .with_data(crate::support::into_object(data)),
        ))
    }

    async fn on_button_event(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let (trigger, action) = match ctx.event {
            Event::ButtonSinglePress => ("single_press", &self.buttons.single_press),
            Event::ButtonDoublePress => ("double_press", &self.buttons.double_press),
            Event::ButtonLongPress => ("long_press", &self.buttons.long_press),
            _ => return Ok(None),
        };
        let Some(action) = action else {
            return Ok(None);
        };
        let request = Request {
            service: &action.service,
            target_type: action.target_type,
            target: action.target.trim(),
            entity_type: action.entity_type.as_deref(),
            parameters: action.data.clone(),
            lights_only: false,
        };
        let done = match self
            .run(client, &request, ctx.delivery.deadline)
            .await
            .map_err(HaError::into_plugin_error)?
        {
            Ok(done) => done,
            Err(refusal) => {
                return Ok(Some(PluginResult::failure(format!(
                    "Button {trigger}: {}",
                    refusal.message("")
                ))));
            }
        };
        let data = json!({
            "trigger": trigger,
            "service": action.service,
            "services": done.services,
            "entity_ids": done.called,
            "failed": done.failed,
            "ha_result": done.ha_result,
        });
        Ok(Some(
            PluginResult::ok(format!("Button {trigger}: {}", called(&done)))
                .with_data(crate::support::into_object(data)),
        ))
    }
}
