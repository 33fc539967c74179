//! The shapes of the JSON the handlers answer with, for the OpenAPI document
//! ([`super::openapi`]).
//!
//! The records inside them are the store's own types (a [`Conversation`], a [`Memory`], …),
//! described by deriving from the very structs that serialize them. The envelopes around them
//! (`{"conversations": [...], "total": …}`) are built by the handlers with `json!`, so the
//! types here are never constructed: they only describe. `crates/cli/tests/openapi.rs`
//! holds the two together, running schemathesis against the real server and failing on any
//! answer that breaks its schema.
#![allow(
    dead_code,
    reason = "schema-only types: they describe JSON that handlers build with json!"
)]

use std::collections::BTreeMap;

use chronicle_plugin_api::EndReason;
use chronicle_store::{
    ApiKey, ChatMessage, ChatSession, CollectionSummary, Conversation, Memory, SearchHit, Session,
};
use serde_json::Value;
use utoipa::ToSchema;

/// Every error: what went wrong, in words for a person.
#[derive(serde::Serialize, ToSchema)]
pub struct Detail {
    /// What went wrong.
    detail: String,
    /// For a configuration that does not validate: each error, at its line and column.
    errors: Option<Vec<String>>,
}

/// `GET /health`.
#[derive(ToSchema)]
pub struct Health {
    /// Always `ok` while the server answers.
    status: String,
    version: String,
    plugins: PluginCounts,
    /// Devices streaming now.
    sessions: u64,
}

/// How many plugins are in each state.
#[derive(ToSchema)]
pub struct PluginCounts {
    initialized: u64,
    degraded: u64,
    failed: u64,
}

/// `GET /api/system`.
#[derive(ToSchema)]
pub struct SystemInfo {
    version: String,
    uptime_seconds: u64,
    transcription: Provider,
    llm: Provider,
    live_sessions: u64,
    /// Bytes under the data folder: admins only, else null.
    data_folder_bytes: Option<u64>,
    counts: SystemCounts,
}

/// A provider and whether its server accepts a connection now.
#[derive(ToSchema)]
pub struct Provider {
    /// `deepgram`, `openai-compatible`, …; null when none is configured.
    provider: Option<String>,
    model: Option<String>,
    ok: bool,
    message: String,
}

/// The caller's counts (everyone's for an admin).
#[derive(ToSchema)]
pub struct SystemCounts {
    conversations: u64,
    open_conversations: u64,
    memories: u64,
    /// Deliveries by status: admins only, else null.
    deliveries: Option<BTreeMap<String, u64>>,
}

/// The login form (OAuth2's password form; the web app posts it as multipart).
#[derive(ToSchema)]
pub struct LoginForm {
    /// The email.
    username: String,
    password: String,
}

/// `POST /auth/jwt/login`.
#[derive(ToSchema)]
pub struct Token {
    /// A JWT for `Authorization: Bearer`.
    access_token: String,
    /// `bearer`.
    token_type: String,
}

/// `GET /api/users/me`.
#[derive(ToSchema)]
pub struct Me {
    id: String,
    email: String,
    /// The same as `is_admin` (the Python Chronicle's name).
    is_superuser: bool,
    is_admin: bool,
    is_active: bool,
    created_at: String,
}

/// A conversation as a list shows it (`view=summary`): no transcript and segments, a snippet.
#[derive(serde::Serialize, ToSchema)]
pub struct ConversationSummary {
    conversation_id: String,
    user_id: String,
    client_id: String,
    session_id: Option<String>,
    title: String,
    summary: Option<String>,
    markers: Vec<Value>,
    has_audio: bool,
    starred: bool,
    starred_at: Option<String>,
    #[schema(value_type = Option<chronicle_store::openapi::EndReasonName>)]
    end_reason: Option<EndReason>,
    created_at: String,
    completed_at: Option<String>,
    duration_seconds: Option<f64>,
    transcription_error: Option<String>,
    /// The transcript around the first match of `q`, else its start.
    snippet: String,
}

/// One conversation in a list: whole, or summarised with `view=summary`.
// serde only lends its `untagged` to the schema: this is never serialized.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum ListedConversation {
    Whole(Conversation),
    Summarised(ConversationSummary),
}

/// `GET /api/conversations`.
#[derive(ToSchema)]
pub struct ConversationPage {
    conversations: Vec<ListedConversation>,
    /// How many match the filters.
    total: u64,
    limit: u32,
    offset: u32,
}

/// `GET /api/conversations/{id}`.
#[derive(ToSchema)]
pub struct ConversationAnswer {
    conversation: Conversation,
}

/// `GET /api/conversations/{id}/memories`.
#[derive(ToSchema)]
pub struct ConversationMemories {
    conversation_id: String,
    count: u64,
    memories: Vec<Memory>,
}

/// `POST /api/conversations/{id}/star`: the star as it is now.
#[derive(ToSchema)]
pub struct Starred {
    conversation_id: String,
    starred: bool,
    starred_at: Option<String>,
}

/// `POST /api/conversations/{client_id}/close`.
#[derive(ToSchema)]
pub struct Closed {
    message: String,
    client_id: String,
    /// Unix seconds.
    timestamp: f64,
}

/// `DELETE /api/conversations/{id}`.
#[derive(ToSchema)]
pub struct ConversationDeleted {
    message: String,
    conversation_id: String,
}

/// `GET /api/sessions`.
#[derive(ToSchema)]
pub struct SessionList {
    count: u64,
    sessions: Vec<Session>,
}

/// `GET /api/memories`.
#[derive(ToSchema)]
pub struct MemoryPage {
    /// On this page.
    count: u64,
    /// In all.
    total: u64,
    offset: u32,
    memories: Vec<Memory>,
}

/// `GET /api/memories/search`.
#[derive(ToSchema)]
pub struct MemoryMatches {
    query: String,
    count: u64,
    total: u64,
    offset: u32,
    memories: Vec<Memory>,
}

/// One memory, made or edited.
#[derive(ToSchema)]
pub struct MemoryAnswer {
    memory: Memory,
}

/// `DELETE /api/memories/{id}`.
#[derive(ToSchema)]
pub struct MemoryDeleted {
    message: String,
    memory_id: String,
}

/// `GET /api/search`.
#[derive(ToSchema)]
pub struct SearchAnswer {
    query: String,
    /// The words searched for: the query without the time it named.
    searched_for: String,
    /// The time the query named, as a filter; null if it named none.
    time_filter: Option<TimeFilter>,
    /// How hits are ranked: `rrf` (words and meaning fused), `bm25` (words alone) or `time`
    /// (a time and nothing more was asked: newest first).
    ranking: String,
    /// How the search was made, and why by words alone when it was.
    note: String,
    count: u64,
    hits: Vec<SearchHit>,
}

/// A time said in a query.
#[derive(ToSchema)]
pub struct TimeFilter {
    /// The words that said it: `yesterday`, `6 hours ago`.
    phrase: String,
    since: Option<String>,
    until: Option<String>,
    /// The time zone they were read in.
    time_zone: String,
}

/// `GET /api/plugins/documents`.
#[derive(ToSchema)]
pub struct Collections {
    collections: Vec<CollectionSummary>,
}

/// `GET /api/events`.
#[derive(ToSchema)]
pub struct EventPage {
    total: u64,
    events: Vec<EventRecord>,
}

/// What happened to one event: every subscribed plugin's outcome, the service calls made.
#[derive(ToSchema)]
pub struct EventRecord {
    event: String,
    user_id: String,
    event_id: String,
    /// Unix seconds, when dispatch started.
    timestamp: f64,
    duration_ms: f64,
    conversation_id: Option<String>,
    plugins: Vec<Value>,
    plugins_subscribed: Vec<String>,
    plugins_executed: Vec<PluginExecuted>,
    metadata: Value,
    services: Vec<Value>,
}

/// A plugin that ran for an event.
#[derive(ToSchema)]
pub struct PluginExecuted {
    plugin_id: String,
    success: bool,
    message: Option<String>,
}

/// `DELETE /api/events`.
#[derive(ToSchema)]
pub struct EventsCleared {
    deleted: u64,
}

/// `GET /api/admin/plugins/health`.
#[derive(ToSchema)]
pub struct PluginHealthReport {
    total: u64,
    initialized: u64,
    degraded: u64,
    failed: u64,
    registered: u64,
    disabled: u64,
    plugins: Vec<PluginHealth>,
}

/// One configured plugin's health.
#[derive(ToSchema)]
pub struct PluginHealth {
    plugin_id: String,
    /// `registered`, `initialized`, `degraded`, `failed` or `disabled`.
    status: String,
    error: Option<String>,
    /// `rust`, `process` or `python`.
    runtime: String,
    /// A process plugin's process id, while it runs.
    pid: Option<u32>,
    restarts: u64,
}

/// `GET /api/admin/plugins/metadata`.
#[derive(ToSchema)]
pub struct PluginMetadataList {
    plugins: Vec<PluginMetadata>,
    status: String,
}

/// A plugin as the settings form shows it; secret settings are masked.
#[derive(ToSchema)]
pub struct PluginMetadata {
    plugin_id: String,
    name: String,
    description: String,
    runtime: String,
    enabled: bool,
    status: String,
    error: Option<String>,
    current_config: BTreeMap<String, Value>,
    secret_settings: Vec<String>,
    permissions: Value,
    permissions_used: Value,
    sandbox: Value,
    orchestration: Value,
}

/// `PUT /api/admin/plugins/config`: written, and what the reload did.
#[derive(ToSchema)]
pub struct ConfigSaved {
    success: bool,
    message: String,
    /// Whether a backup of the previous file was kept.
    backup: bool,
    reload: Value,
}

/// `POST /api/admin/plugins/config/validate`.
#[derive(ToSchema)]
pub struct Validation {
    valid: bool,
    message: Option<String>,
    /// Every error joined, one per line.
    error: Option<String>,
    errors: Vec<String>,
}

/// `POST /api/admin/plugins/reload`.
#[derive(ToSchema)]
pub struct Reloaded {
    success: bool,
}

/// `POST /api/admin/plugins/{id}/test-connection`.
#[derive(ToSchema)]
pub struct ConnectionReport {
    plugin_id: String,
    ok: bool,
    /// Each step, whether it passed, and the fix when it did not.
    checks: Vec<Value>,
}

/// The settings form's body.
#[derive(ToSchema)]
pub struct StructuredConfig {
    /// `enabled`, `events`, `condition`, `priority`.
    orchestration: Option<BTreeMap<String, Value>>,
    /// The plugin's settings; a secret sent back as the mask is left as it was.
    settings: Option<BTreeMap<String, Value>>,
}

/// A user as admins see them.
#[derive(ToSchema)]
pub struct UserView {
    id: String,
    email: String,
    is_admin: bool,
    is_active: bool,
    created_at: String,
}

/// `GET /api/admin/users`.
#[derive(ToSchema)]
pub struct UserList {
    users: Vec<UserView>,
}

/// `POST /api/keys`: the key, this once.
#[derive(ToSchema)]
pub struct KeyCreated {
    /// `chr_` and 64 hex digits: send it as `Authorization: Bearer`.
    key: String,
    api_key: ApiKey,
    note: String,
}

/// `GET /api/keys`.
#[derive(ToSchema)]
pub struct KeyList {
    keys: Vec<ApiKey>,
}

/// `DELETE /api/keys/{id}`.
#[derive(ToSchema)]
pub struct KeyRevoked {
    api_key: ApiKey,
}

/// `GET /api/admin/deliveries`.
#[derive(ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<Value>,
    /// How many deliveries are in each status.
    counts: BTreeMap<String, u64>,
}

/// A replay.
#[derive(ToSchema)]
pub struct Replayed {
    /// The deliveries that go again, by number.
    replayed: Vec<i64>,
}

/// An upload: one or more audio files.
#[derive(ToSchema)]
pub struct UploadForm {
    /// WAV, FLAC, MP3, Ogg/Opus, … each becomes a conversation.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
}

/// An upload's answer: 200 when every file started, 207 when some did, 400 when none did.
#[derive(serde::Serialize, ToSchema)]
pub struct Uploaded {
    message: String,
    client_id: String,
    files: Vec<UploadedFile>,
    summary: UploadSummary,
}

/// An upload refused: no file started (each says why), or the form itself is malformed.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum UploadRefused {
    NoneStarted(Uploaded),
    Malformed(Detail),
}

/// One uploaded file: `started` with its conversation, or `failed` with why.
#[derive(serde::Serialize, ToSchema)]
pub struct UploadedFile {
    filename: String,
    /// `started` or `failed`.
    status: String,
    conversation_id: Option<String>,
    duration_seconds: Option<f64>,
    format: Option<String>,
    error: Option<String>,
}

/// How many files started and failed.
#[derive(serde::Serialize, ToSchema)]
pub struct UploadSummary {
    total: u64,
    started: u64,
    failed: u64,
}

/// A JSON-RPC 2.0 message (a request, a notification or a batch's member) for `/mcp`.
#[derive(ToSchema)]
pub struct JsonRpc {
    /// `2.0`.
    jsonrpc: String,
    id: Option<Value>,
    method: Option<String>,
    params: Option<Value>,
    result: Option<Value>,
    error: Option<Value>,
}

/// One chat session.
#[derive(ToSchema)]
pub struct ChatSessionAnswer {
    session: ChatSession,
}

/// `GET /api/chat/sessions`.
#[derive(ToSchema)]
pub struct ChatSessionList {
    sessions: Vec<ChatSession>,
}

/// `GET /api/chat/sessions/{id}`.
#[derive(ToSchema)]
pub struct ChatSessionMessages {
    session: ChatSession,
    messages: Vec<ChatMessage>,
}
