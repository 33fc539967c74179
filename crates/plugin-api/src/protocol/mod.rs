//! The wire protocol between the host and an out-of-process plugin (version
//! [`PROTOCOL_VERSION`]), as typed messages. `docs/plugin-protocol.md` is the specification;
//! `protocol_snapshots/*.json` pin the bytes, checked here and by the Python SDK's tests.
//!
//! JSON-RPC 2.0, one JSON object per line: the host writes to the plugin's stdin and reads its
//! stdout; the plugin's stderr is its log. Both sides send requests: the host calls
//! `initialize`, `handle_event`, `health_check` and `cleanup`; the plugin calls the services
//! (`services.*`, `db.*`, `llm.generate`) while it handles an event. A message with a `method`
//! is a request; one without is the answer to a request of the receiver's.
//!
//! Any change to the bytes of a message bumps the protocol version.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AccessLevel, CloseReason, Event, HealthReport, JsonMap, Permission, PluginResult};

/// The protocol version this build speaks. Peers are compatible when the major versions match.
pub const PROTOCOL_VERSION: &str = "1.0";

/// Whether a peer speaking `theirs` can talk to one speaking `ours`: same major version.
pub fn is_compatible(ours: &str, theirs: &str) -> bool {
    match (major(ours), major(theirs)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn major(version: &str) -> Option<u32> {
    let (major, minor) = version.split_once('.')?;
    minor.parse::<u32>().ok()?;
    major.parse().ok()
}

/// Method names.
pub mod method {
    /// Host → plugin: the handshake; the first message on every connection.
    pub const INITIALIZE: &str = "initialize";
    /// Host → plugin: one event for one plugin.
    pub const HANDLE_EVENT: &str = "handle_event";
    /// Host → plugin: are your dependencies reachable?
    pub const HEALTH_CHECK: &str = "health_check";
    /// Host → plugin: release resources; stdin closes after the answer.
    pub const CLEANUP: &str = "cleanup";
    /// Plugin → host: close the conversation of a session.
    pub const CLOSE_CONVERSATION: &str = "services.close_conversation";
    /// Plugin → host: toggle the star of the conversation of a session.
    pub const STAR_CONVERSATION: &str = "services.star_conversation";
    /// Plugin → host: call another plugin's `on_plugin_action`.
    pub const CALL_PLUGIN: &str = "services.call_plugin";
    /// Plugin → host: store a document.
    pub const INSERT_ONE: &str = "db.insert_one";
    /// Plugin → host: documents matching a filter.
    pub const FIND: &str = "db.find";
    /// Plugin → host: the first document matching a filter.
    pub const FIND_ONE: &str = "db.find_one";
    /// Plugin → host: update the first matching document.
    pub const UPDATE_ONE: &str = "db.update_one";
    /// Plugin → host: delete the first matching document.
    pub const DELETE_ONE: &str = "db.delete_one";
    /// Plugin → host: count matching documents.
    pub const COUNT: &str = "db.count";
    /// Plugin → host: generate text with the language model.
    pub const LLM_GENERATE: &str = "llm.generate";
    /// Plugin → host: tell a device to stop playing audio.
    pub const STOP_PLAYBACK: &str = "services.stop_playback";
    /// Searches the user's conversations and memories.
    pub const SEARCH: &str = "search.query";
}

/// Error codes beyond JSON-RPC's own (-32700 parse error, -32600 invalid request, -32601
/// method not found, -32602 invalid params, -32603 internal error).
pub mod code {
    /// JSON-RPC: the method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// JSON-RPC: the params do not fit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// `initialize`: the peer speaks an incompatible protocol version.
    pub const INCOMPATIBLE_PROTOCOL: i64 = -32010;
    /// `initialize`: a dependency is unreachable (the plugin is degraded and retried).
    pub const PLUGIN_UNREACHABLE: i64 = -32011;
    /// `initialize`: the plugin cannot work as configured (failed).
    pub const PLUGIN_BROKEN: i64 = -32012;
    /// `handle_event`: the handler raised; `data.traceback` may say where.
    pub const HANDLER_FAILED: i64 = -32020;
    /// A service call the plugin was not granted.
    pub const PERMISSION_DENIED: i64 = -32030;
    /// A service that is not available.
    pub const SERVICE_UNAVAILABLE: i64 = -32031;
    /// A service request that cannot be served as asked.
    pub const SERVICE_INVALID_REQUEST: i64 = -32032;
    /// A service that tried and failed.
    pub const SERVICE_FAILED: i64 = -32033;
}

/// The `"jsonrpc": "2.0"` marker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonRpc2;

impl Serialize for JsonRpc2 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("2.0")
    }
}

impl<'de> Deserialize<'de> for JsonRpc2 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let version = String::deserialize(deserializer)?;
        if version == "2.0" {
            Ok(JsonRpc2)
        } else {
            Err(serde::de::Error::custom(format!(
                "expected jsonrpc \"2.0\", found {version:?}"
            )))
        }
    }
}

/// A request, from either side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: JsonRpc2,
    /// Chosen by the sender, unique among its requests in flight.
    pub id: u64,
    /// What to do.
    pub method: String,
    /// With what.
    #[serde(default)]
    pub params: Value,
}

/// An answer to a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: JsonRpc2,
    /// The id of the request answered.
    pub id: u64,
    /// The result, when the request succeeded (`Some(Null)` for `"result": null`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result: Option<Value>,
    /// The error, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Response {
    /// A success. `null` results are sent as `"result": null`.
    pub fn ok(id: u64, result: Value) -> Self {
        Self {
            jsonrpc: JsonRpc2,
            id,
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn error(id: u64, error: RpcError) -> Self {
        Self {
            jsonrpc: JsonRpc2,
            id,
            result: None,
            error: Some(error),
        }
    }

    /// The result or the error.
    pub fn into_result(self) -> Result<Value, RpcError> {
        match (self.result, self.error) {
            (_, Some(error)) => Err(error),
            (Some(result), None) => Ok(result),
            (None, None) => Ok(Value::Null),
        }
    }
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    /// One of [`code`] or JSON-RPC's own.
    pub code: i64,
    /// For people.
    pub message: String,
    /// Details, e.g. `{"traceback": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// Any message on the wire.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Something the peer asks.
    Request(Request),
    /// The peer's answer to something we asked.
    Response(Response),
}

impl Message {
    /// Parses one line. A message with a `method` is a request.
    pub fn parse(line: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(line).map_err(|error| format!("not JSON: {error}"))?;
        let is_request = value.get("method").is_some();
        if is_request {
            serde_json::from_value(value)
                .map(Message::Request)
                .map_err(|error| format!("not a JSON-RPC request: {error}"))
        } else {
            serde_json::from_value(value)
                .map(Message::Response)
                .map_err(|error| format!("not a JSON-RPC response: {error}"))
        }
    }

    /// One line of JSON, without the trailing newline.
    pub fn to_line(&self) -> String {
        let value = match self {
            Message::Request(request) => serde_json::to_string(request),
            Message::Response(response) => serde_json::to_string(response),
        };
        value.unwrap_or_else(|error| format!("{{\"error\": \"unserializable message: {error}\"}}"))
    }
}

/// `initialize` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitializeParams {
    /// The host's protocol version.
    pub protocol_version: String,
    /// The host's version.
    pub host_version: String,
    /// The plugin's id.
    pub plugin_id: String,
    /// Its settings, as for a native plugin.
    pub settings: JsonMap,
    /// Its orchestration keys, for SDKs that hand the plugin one merged config (as the Python
    /// original did).
    pub orchestration: Orchestration,
    /// The services it was granted.
    pub permissions: Vec<Permission>,
}

/// The orchestration keys of a plugin's entry in `plugins.yml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Orchestration {
    /// Always true for a started plugin.
    pub enabled: bool,
    /// Its subscriptions.
    pub events: Vec<Event>,
    /// Its condition, as `chronicle plugin list` shows it.
    pub condition: Value,
    /// Its priority.
    pub priority: i64,
}

/// `initialize` result: who the plugin is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitializeResult {
    /// The plugin's protocol version.
    pub protocol_version: String,
    /// The SDK that serves it, e.g. `chronicle-plugin-python 0.1.0`.
    pub sdk_version: String,
    /// A human name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// What it can handle; empty when it does not say.
    #[serde(default)]
    pub access_levels: Vec<AccessLevel>,
    /// The events it has handlers for.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// `handle_event` params: a [`crate::PluginContext`] on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandleEventParams {
    /// Names this call in the plugin's service requests, so the host applies the right
    /// permissions and records them with the right event.
    pub context_id: String,
    /// The event.
    pub event: Event,
    /// Its user.
    pub user_id: String,
    /// Its data, with the plugin's condition extras.
    pub data: JsonMap,
    /// The chain's metadata so far.
    pub metadata: JsonMap,
    /// Identity, attempt and deadline of this delivery.
    pub delivery: WireDelivery,
}

/// [`crate::Delivery`] on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireDelivery {
    /// Identifies the event.
    pub event_id: String,
    /// The plugin it is delivered to.
    pub plugin_id: String,
    /// 1, 2, 3, …
    pub attempt: u32,
    /// When the host stops waiting, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// Stable across retries: `event_id:plugin_id`.
    pub idempotency_key: String,
}

/// `handle_event` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandleEventResult {
    /// The plugin's result, or null for a decline.
    pub result: Option<PluginResult>,
    /// The metadata as the plugin left it; it goes on along the chain.
    pub metadata: JsonMap,
}

/// `health_check` result.
pub type HealthCheckResult = HealthReport;

pub use crate::services::SearchParams;

/// A service request from the plugin, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRequest {
    /// The `context_id` of the `handle_event` being served, or `None` outside a handler.
    pub context_id: Option<String>,
    /// The call.
    pub call: ServiceCall,
}

/// The services a plugin may call, one variant per method, each with its params.
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceCall {
    /// `services.close_conversation` → bool.
    CloseConversation(CloseConversationParams),
    /// `services.star_conversation` → bool.
    StarConversation(SessionParams),
    /// `services.call_plugin` → a [`PluginResult`] or null.
    CallPlugin(CallPluginParams),
    /// `db.insert_one` → `{"inserted_id": "..."}`.
    InsertOne(InsertOneParams),
    /// `db.find` → a list of documents.
    Find(QueryParams),
    /// `db.find_one` → a document or null.
    FindOne(QueryParams),
    /// `db.update_one` → `{"matched_count": 0 | 1}`.
    UpdateOne(UpdateOneParams),
    /// `db.delete_one` → `{"deleted_count": 0 | 1}`.
    DeleteOne(QueryParams),
    /// `db.count` → a number.
    Count(QueryParams),
    /// `llm.generate` → text.
    LlmGenerate(GenerateParams),
    /// `services.stop_playback` → bool.
    StopPlayback(StopPlaybackParams),
    /// `search.query` → the search's answer.
    Search(SearchParams),
}

/// `services.stop_playback` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopPlaybackParams {
    /// The device to tell.
    pub client_id: String,
    /// Its owner; the event's user when absent.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `services.close_conversation` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseConversationParams {
    /// The session whose conversation to close.
    pub session_id: String,
    /// Why; defaults to `plugin_requested`.
    #[serde(default = "plugin_requested")]
    pub reason: CloseReason,
}

/// `services.star_conversation` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionParams {
    /// The session whose conversation to star.
    pub session_id: String,
}

/// `services.call_plugin` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallPluginParams {
    /// The plugin to call.
    pub plugin_id: String,
    /// The action, set as `data.action` for the target.
    pub action: String,
    /// The rest of the target's data.
    #[serde(default)]
    pub data: JsonMap,
    /// The user; defaults to `system`.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `db.insert_one` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertOneParams {
    /// A collection of the calling plugin.
    pub collection: String,
    /// The document; `_id` is assigned unless it holds a string.
    pub document: JsonMap,
}

/// Params of `db.find`, `db.find_one`, `db.delete_one` and `db.count`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// The collection; `other_plugin/collection` reads another plugin's documents.
    pub collection: String,
    /// Equality filter; empty matches everything.
    #[serde(default)]
    pub filter: JsonMap,
}

/// `db.update_one` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateOneParams {
    /// The collection.
    pub collection: String,
    /// Which document.
    #[serde(default)]
    pub filter: JsonMap,
    /// `$set` / `$unset` / `$inc`, or a plain object taken as `$set`.
    pub update: JsonMap,
}

/// `llm.generate` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateParams {
    /// The prompt.
    pub prompt: String,
}

fn plugin_requested() -> CloseReason {
    CloseReason::PluginRequested
}

impl ServiceRequest {
    /// Decodes a plugin's request; an unknown method or bad params is the [`RpcError`] to
    /// answer with.
    pub fn decode(request: &Request) -> Result<Self, RpcError> {
        let mut params = match &request.params {
            Value::Object(params) => params.clone(),
            Value::Null => JsonMap::new(),
            _ => {
                return Err(RpcError::new(
                    code::INVALID_PARAMS,
                    "params must be an object",
                ));
            }
        };
        let context_id = match params.remove("context_id") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        let params = Value::Object(params);
        let call = match request.method.as_str() {
            method::CLOSE_CONVERSATION => ServiceCall::CloseConversation(parse(request, params)?),
            method::STAR_CONVERSATION => ServiceCall::StarConversation(parse(request, params)?),
            method::CALL_PLUGIN => ServiceCall::CallPlugin(parse(request, params)?),
            method::INSERT_ONE => ServiceCall::InsertOne(parse(request, params)?),
            method::FIND => ServiceCall::Find(parse(request, params)?),
            method::FIND_ONE => ServiceCall::FindOne(parse(request, params)?),
            method::UPDATE_ONE => ServiceCall::UpdateOne(parse(request, params)?),
            method::DELETE_ONE => ServiceCall::DeleteOne(parse(request, params)?),
            method::COUNT => ServiceCall::Count(parse(request, params)?),
            method::LLM_GENERATE => ServiceCall::LlmGenerate(parse(request, params)?),
            method::STOP_PLAYBACK => ServiceCall::StopPlayback(parse(request, params)?),
            method::SEARCH => ServiceCall::Search(parse(request, params)?),
            other => {
                return Err(RpcError::new(
                    code::METHOD_NOT_FOUND,
                    format!("unknown method `{other}`"),
                ));
            }
        };
        Ok(Self { context_id, call })
    }
}

fn parse<T: serde::de::DeserializeOwned>(request: &Request, params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params).map_err(|error| {
        RpcError::new(code::INVALID_PARAMS, format!("{}: {error}", request.method))
    })
}

#[cfg(test)]
mod robustness;
#[cfg(test)]
mod tests;
