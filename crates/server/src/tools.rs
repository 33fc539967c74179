//! The tools an assistant uses on a person's life log: MCP's (`routes/mcp.rs`) and the chat's
//! (`chat.rs`). Each result is bounded ([`MAX_ITEMS`] items, transcripts cut at
//! [`MAX_TRANSCRIPT_CHARS`]); a tool's failure is a [`ToolError`] the assistant reads.

use std::sync::Arc;

use chronicle_pipeline::embeddings::Embedder;
use chronicle_store::{ConversationQuery, Owner, Store, User};
use serde_json::{Map, Value, json};

/// The most characters one tool result carries; longer text is cut, saying so.
pub const MAX_RESULT_CHARS: usize = 60_000;
/// The most items a listing returns.
pub const MAX_ITEMS: usize = 50;
/// The most characters of a transcript `get_conversation` returns.
pub const MAX_TRANSCRIPT_CHARS: usize = 40_000;

/// How many characters of transcript a snippet shows.
const SNIPPET_CHARS: usize = 160;

/// The part of `transcript` to show in a list: around the first match of `words` (any
/// case), else its start; `…` where it is cut.
pub fn snippet(transcript: &str, words: Option<&str>) -> String {
    let chars: Vec<char> = transcript.chars().collect();
    let lower: Vec<char> = transcript.to_lowercase().chars().collect();
    let at = words
        .map(|w| w.trim().to_lowercase().chars().collect::<Vec<_>>())
        .filter(|w| !w.is_empty() && lower.len() == chars.len())
        .and_then(|w| {
            lower
                .windows(w.len())
                .position(|window| window == w.as_slice())
        })
        .unwrap_or(0);
    let start = at.saturating_sub(SNIPPET_CHARS / 4);
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let mut text: String = chars[start..end].iter().collect();
    if start > 0 {
        text.insert(0, '…');
    }
    if end < chars.len() {
        text.push('…');
    }
    text
}

/// `value` as JSON text of at most `max` bytes, cut saying so.
pub fn bounded(value: &Value, max: usize) -> String {
    let mut text = value.to_string();
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(" … [cut: ask for fewer items]");
    }
    text
}

/// Every tool with its JSON Schema.
pub fn definitions() -> Vec<Value> {
    let time = |what: &str| json!({"type": "string", "description": format!("{what}, as an RFC 3339 time or a date (YYYY-MM-DD, UTC)")});
    let limit = json!({"type": "integer", "minimum": 1, "maximum": MAX_ITEMS, "description": format!("How many to return (at most {MAX_ITEMS}; default 20)")});
    vec![
        json!({
            "name": "search",
            "title": "Search conversations and memories",
            "description": "Search over what the person said, segment by segment, and over their memories: ranked by words (BM25) and, when the server has an embeddings model, by meaning too (fused by reciprocal rank; `ranking` says which). A time in the query ('yesterday', '6 hours ago', 'last Tuesday', 'in the past 3 days') becomes a filter; a time alone lists everything then, newest first. Each hit gives its kind (conversation or memory), the conversation id, the time, who spoke, seconds into the conversation, a score, what matched (words, meaning, both, time) and a snippet with the matched words in <mark>.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string", "description": "What to find, e.g. 'dentist', 'oat milk', 'what did I promise Anna yesterday'"},
                "time_zone": {"type": "string", "description": "The person's IANA time zone (e.g. Europe/Berlin), for times in the query; the server's own by default"},
                "since": time("Only from this time on"),
                "until": time("Only up to this time"),
                "kind": {"type": "string", "enum": ["conversation", "memory"], "description": "Only transcript segments (conversation) or only memories"},
                "limit": limit,
            }, "required": ["query"], "additionalProperties": false},
            "annotations": {"readOnlyHint": true},
        }),
        json!({
            "name": "list_conversations",
            "title": "List conversations",
            "description": "The person's conversations, newest first, with id, title, start time, duration, end reason, starred flag and the start of the transcript. Filter by time range and starred.",
            "inputSchema": {"type": "object", "properties": {
                "since": time("Only conversations that started at or after this time"),
                "until": time("Only conversations that started at or before this time"),
                "starred": {"type": "boolean", "description": "Only starred (true) or only unstarred (false) conversations"},
                "limit": limit,
                "offset": {"type": "integer", "minimum": 0, "description": "How many to skip, for the next page"},
            }, "additionalProperties": false},
            "annotations": {"readOnlyHint": true},
        }),
        json!({
            "name": "get_conversation",
            "title": "Get a conversation",
            "description": "One conversation by id: title, summary, times, the transcript (cut past 40,000 characters) and the memories drawn from it.",
            "inputSchema": {"type": "object", "properties": {
                "conversation_id": {"type": "string", "description": "The id, from search or list_conversations"},
            }, "required": ["conversation_id"], "additionalProperties": false},
            "annotations": {"readOnlyHint": true},
        }),
        json!({
            "name": "list_memories",
            "title": "List memories",
            "description": "Facts remembered from the person's conversations (and added by hand), newest first, optionally only those containing all the given words.",
            "inputSchema": {"type": "object", "properties": {
                "contains": {"type": "string", "description": "Only memories containing all these words"},
                "limit": limit,
            }, "additionalProperties": false},
            "annotations": {"readOnlyHint": true},
        }),
        json!({
            "name": "add_memory",
            "title": "Add a memory",
            "description": "Remembers a fact for the person, as if drawn from a conversation. Needs an API key with the write scope.",
            "inputSchema": {"type": "object", "properties": {
                "content": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "The fact, as one short sentence"},
            }, "required": ["content"], "additionalProperties": false},
            "annotations": {"readOnlyHint": false, "destructiveHint": false},
        }),
        json!({
            "name": "get_action_items",
            "title": "Get action items",
            "description": "The to-dos plugins found in the person's conversations (e.g. todo_extractor's 'todos'): each task, whether it is done, and the conversation it came from.",
            "inputSchema": {"type": "object", "properties": {
                "include_completed": {"type": "boolean", "description": "Also the completed ones (default false)"},
                "limit": limit,
            }, "additionalProperties": false},
            "annotations": {"readOnlyHint": true},
        }),
    ]
}

/// The collections whose documents are action items.
const ACTION_COLLECTIONS: [&str; 3] = ["todos", "action_items", "tasks"];

/// The tools, for one person.
pub struct Tools<'a> {
    pub store: &'a Store,
    pub embedder: Option<&'a Arc<Embedder>>,
    pub user: &'a User,
    /// Why `add_memory` is refused, if it is (a key without the write scope).
    pub write_refused: Option<String>,
}

/// A tool's refusal or failure: reported in the result (`isError`), as the protocol asks, so
/// the assistant can read it and try otherwise.
pub struct ToolError(pub String);

impl<E: std::fmt::Display> From<E> for ToolError {
    fn from(error: E) -> Self {
        ToolError(error.to_string())
    }
}

impl Tools<'_> {
    /// Own data only, for admins too: an assistant acts for one person.
    fn owner(&self) -> Owner {
        Owner::User(self.user.id.clone())
    }

    /// Calls `name` with `arguments`: its result, or why it failed.
    pub async fn call(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<Value, ToolError> {
        match name {
            "search" => self.search(arguments).await,
            "list_conversations" => self.list_conversations(arguments).await,
            "get_conversation" => self.get_conversation(arguments).await,
            "list_memories" => self.list_memories(arguments).await,
            "add_memory" => self.add_memory(arguments).await,
            "get_action_items" => self.action_items(arguments).await,
            _ => Err(ToolError(format!("no tool `{name}`"))),
        }
    }

    async fn search(&self, arguments: &Map<String, Value>) -> Result<Value, ToolError> {
        let kind = chronicle_pipeline::search::kind(optional_text(arguments, "kind").as_deref())
            .map_err(ToolError)?;
        let outcome = chronicle_pipeline::search::search(
            self.store,
            self.embedder,
            &self.owner(),
            chronicle_pipeline::search::SearchRequest {
                text: text_argument(arguments, "query")?,
                since: optional_text(arguments, "since"),
                until: optional_text(arguments, "until"),
                kind,
                tz: chronicle_pipeline::search::time_zone(
                    optional_text(arguments, "time_zone").as_deref(),
                )?,
                limit: limit(arguments),
            },
        )
        .await?;
        Ok(json!(outcome))
    }

    async fn list_conversations(&self, arguments: &Map<String, Value>) -> Result<Value, ToolError> {
        let filter = ConversationQuery {
            text: None,
            starred: arguments.get("starred").and_then(Value::as_bool),
            since: optional_text(arguments, "since"),
            until: optional_text(arguments, "until"),
        };
        let offset = arguments
            .get("offset")
            .and_then(Value::as_u64)
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let (conversations, total) = self
            .store
            .find_conversations(&self.owner(), &filter, limit(arguments), offset)
            .await?;
        Ok(json!({
            "total": total,
            "offset": offset,
            "conversations": conversations.iter().map(|c| json!({
                "conversation_id": c.conversation_id,
                "title": c.title,
                "started_at": c.created_at,
                "duration_seconds": c.duration_seconds,
                "end_reason": c.end_reason,
                "starred": c.starred,
                "snippet": snippet(&c.transcript, None),
            })).collect::<Vec<_>>(),
        }))
    }

    async fn get_conversation(&self, arguments: &Map<String, Value>) -> Result<Value, ToolError> {
        let id = text_argument(arguments, "conversation_id")?;
        let owner = self.owner();
        let conversation = self
            .store
            .conversation(&owner, &id)
            .await?
            .ok_or_else(|| ToolError(format!("no conversation `{id}` of yours")))?;
        let memories = self.store.conversation_memories(&owner, &id).await?;
        let mut transcript = conversation.transcript.clone();
        let cut = transcript.chars().count() > MAX_TRANSCRIPT_CHARS;
        if cut {
            transcript = transcript.chars().take(MAX_TRANSCRIPT_CHARS).collect();
        }
        Ok(json!({
            "conversation_id": conversation.conversation_id,
            "title": conversation.title,
            "summary": conversation.summary,
            "started_at": conversation.created_at,
            "completed_at": conversation.completed_at,
            "duration_seconds": conversation.duration_seconds,
            "end_reason": conversation.end_reason,
            "starred": conversation.starred,
            "transcript": transcript,
            "transcript_cut": cut,
            "memories": memories.iter().map(memory).collect::<Vec<_>>(),
        }))
    }

    async fn list_memories(&self, arguments: &Map<String, Value>) -> Result<Value, ToolError> {
        let contains = optional_text(arguments, "contains").unwrap_or_default();
        let memories = self
            .store
            .search_memories(&self.owner(), &contains, limit(arguments))
            .await?;
        Ok(json!({"memories": memories.iter().map(memory).collect::<Vec<_>>()}))
    }

    async fn add_memory(&self, arguments: &Map<String, Value>) -> Result<Value, ToolError> {
        if let Some(refusal) = &self.write_refused {
            return Err(ToolError(refusal.clone()));
        }
        let content = text_argument(arguments, "content")?;
        if content.chars().count() > 2_000 {
            return Err(ToolError("a memory is at most 2,000 characters".into()));
        }
        let added = self.store.add_memory(&self.user.id, None, &content).await?;
        Ok(json!({"added": memory(&added)}))
    }

    async fn action_items(&self, arguments: &Map<String, Value>) -> Result<Value, ToolError> {
        let include_completed = arguments
            .get("include_completed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let limit = limit(arguments);
        let owner = self.owner();
        let collections = self.store.document_collections(&owner).await?;
        let mut items = Vec::new();
        for collection in collections
            .iter()
            .filter(|c| ACTION_COLLECTIONS.contains(&c.collection.as_str()))
        {
            // The newest last: read the tail of the collection.
            let newest = usize::try_from(collection.count.saturating_sub(500)).unwrap_or(0);
            let page = self
                .store
                .browse_documents(
                    &collection.plugin_id,
                    &collection.collection,
                    &owner,
                    500,
                    newest,
                )
                .await?;
            for document in page.documents.into_iter().rev() {
                let completed = document
                    .get("completed")
                    .or_else(|| document.get("done"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if completed && !include_completed {
                    continue;
                }
                let task = ["task", "text", "title", "description"]
                    .iter()
                    .find_map(|key| document.get(*key).and_then(Value::as_str))
                    .unwrap_or("");
                items.push(json!({
                    "task": task,
                    "completed": completed,
                    "conversation_id": document.get("conversation_id"),
                    "created_at": document.get("created_at"),
                    "from": format!("{}/{}", collection.plugin_id, collection.collection),
                }));
            }
        }
        items.truncate(limit);
        if items.is_empty() && collections.is_empty() {
            return Ok(json!({
                "action_items": [],
                "note": "no plugin keeps action items for you yet (enable todo_extractor)",
            }));
        }
        Ok(json!({"action_items": items}))
    }
}

fn memory(memory: &chronicle_store::Memory) -> Value {
    json!({
        "memory_id": memory.memory_id,
        "content": memory.content,
        "conversation_id": memory.conversation_id,
        "created_at": memory.created_at,
    })
}

fn limit(arguments: &Map<String, Value>) -> usize {
    arguments
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(20, |n| usize::try_from(n).unwrap_or(MAX_ITEMS))
        .clamp(1, MAX_ITEMS)
}

fn optional_text(arguments: &Map<String, Value>, key: &str) -> Option<String> {
    arguments
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn text_argument(arguments: &Map<String, Value>, key: &str) -> Result<String, ToolError> {
    optional_text(arguments, key).ok_or_else(|| ToolError(format!("`{key}` is required")))
}
