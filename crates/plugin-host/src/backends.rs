//! What the host's services stand on, and the in-memory versions used by the CLI and tests.
//! The store and server crates provide the durable ones behind the same traits.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use chronicle_host_ports::{
    Actor, BackendError, ConversationControl, Devices, DocumentStore, LanguageModel, NoDevices,
    SearchIndex, apply_update, ensure_id, matches_filter,
};
use chronicle_plugin_api::{CloseReason, JsonMap, async_trait};

use crate::record::DispatchRecord;

/// The parts of Chronicle that plugin services act on.
#[derive(Clone)]
pub struct Backends {
    /// Sessions and conversations.
    pub conversations: Arc<dyn ConversationControl>,
    /// Plugin documents.
    pub documents: Arc<dyn DocumentStore>,
    /// The language model, when one is configured.
    pub llm: Option<Arc<dyn LanguageModel>>,
    /// Where every dispatch is recorded.
    pub event_log: Arc<dyn EventLog>,
    /// The devices connected to the server; none without one.
    pub devices: Arc<dyn Devices>,
    /// Search over users' conversations and memories; none offline.
    pub search: Option<Arc<dyn SearchIndex>>,
}

impl Backends {
    /// Everything in memory: no live session, no language model, an event log of
    /// [`EVENT_LOG_CAPACITY`] records.
    pub fn in_memory() -> Self {
        Self {
            conversations: Arc::new(OfflineConversations::default()),
            documents: Arc::new(MemoryDocuments::default()),
            llm: None,
            event_log: Arc::new(MemoryEventLog::new(EVENT_LOG_CAPACITY)),
            devices: Arc::new(NoDevices),
            search: None,
        }
    }
}

/// Records of past dispatches, bounded, newest kept.
pub trait EventLog: Send + Sync {
    /// Keeps `record`, dropping the oldest when full.
    fn record(&self, record: Arc<DispatchRecord>);
    /// The newest records first, for one user or for all.
    fn recent(&self, user_id: Option<&str>, limit: usize) -> Vec<Arc<DispatchRecord>>;
}

/// The default number of dispatch records kept.
pub const EVENT_LOG_CAPACITY: usize = 10_000;

/// An [`EventLog`] in memory.
pub struct MemoryEventLog {
    capacity: usize,
    records: Mutex<VecDeque<Arc<DispatchRecord>>>,
}

impl MemoryEventLog {
    /// A log keeping at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            records: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
        }
    }
}

impl EventLog for MemoryEventLog {
    fn record(&self, record: Arc<DispatchRecord>) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back(record);
    }

    fn recent(&self, user_id: Option<&str>, limit: usize) -> Vec<Arc<DispatchRecord>> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records
            .iter()
            .rev()
            .filter(|record| user_id.is_none_or(|user| *record.user_id == *user))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// Conversation control without a server: requests are answered, nothing is closed.
///
/// `close_conversation` and `star_conversation` answer `true` for the one session id given
/// (the CLI's `--session`) and `false` for every other; the requests themselves appear in the
/// dispatch record.
#[derive(Clone, Debug, Default)]
pub struct OfflineConversations {
    /// The session that counts as live.
    pub active_session: Option<String>,
}

#[async_trait]
impl ConversationControl for OfflineConversations {
    async fn close_conversation(
        &self,
        _actor: &Actor,
        session_id: &str,
        _reason: CloseReason,
    ) -> Result<bool, BackendError> {
        Ok(self.active_session.as_deref() == Some(session_id))
    }

    async fn star_conversation(
        &self,
        _actor: &Actor,
        session_id: &str,
    ) -> Result<bool, BackendError> {
        Ok(self.active_session.as_deref() == Some(session_id))
    }
}

/// A [`DocumentStore`] in memory.
#[derive(Default)]
pub struct MemoryDocuments {
    collections: Mutex<HashMap<(String, String), Vec<JsonMap>>>,
}

impl MemoryDocuments {
    fn with_collection<T>(
        &self,
        plugin_id: &str,
        collection: &str,
        f: impl FnOnce(&mut Vec<JsonMap>) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let mut collections = self
            .collections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (plugin_id.to_owned(), collection.to_owned());
        match collections.get_mut(&key) {
            Some(documents) => f(documents),
            // Reading a collection that does not exist must not create it.
            None => {
                let mut documents = Vec::new();
                let result = f(&mut documents);
                if !documents.is_empty() {
                    collections.insert(key, documents);
                }
                result
            }
        }
    }
}

/// The position of the first document matching `filter`.
fn position(documents: &[JsonMap], filter: &JsonMap) -> Result<Option<usize>, BackendError> {
    for (index, document) in documents.iter().enumerate() {
        if matches_filter(document, filter)? {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

#[async_trait]
impl DocumentStore for MemoryDocuments {
    async fn insert_one(
        &self,
        plugin_id: &str,
        collection: &str,
        mut document: JsonMap,
    ) -> Result<String, BackendError> {
        let id = ensure_id(&mut document, || uuid::Uuid::new_v4().to_string());
        self.with_collection(plugin_id, collection, |documents| {
            if documents
                .iter()
                .any(|existing| existing.get("_id") == document.get("_id"))
            {
                return Err(BackendError::InvalidRequest(format!(
                    "a document with _id `{id}` already exists"
                )));
            }
            documents.push(document);
            Ok(id.clone())
        })
    }

    async fn find(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
        limit: Option<usize>,
    ) -> Result<Vec<JsonMap>, BackendError> {
        self.with_collection(plugin_id, collection, |documents| {
            let mut found = Vec::new();
            for document in documents.iter() {
                if limit.is_some_and(|limit| found.len() >= limit) {
                    break;
                }
                if matches_filter(document, filter)? {
                    found.push(document.clone());
                }
            }
            Ok(found)
        })
    }

    async fn update_one(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
        update: &JsonMap,
    ) -> Result<bool, BackendError> {
        self.with_collection(plugin_id, collection, |documents| {
            let Some(index) = position(documents, filter)? else {
                return Ok(false);
            };
            apply_update(&mut documents[index], update)?;
            Ok(true)
        })
    }

    async fn delete_one(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<bool, BackendError> {
        self.with_collection(plugin_id, collection, |documents| {
            let Some(index) = position(documents, filter)? else {
                return Ok(false);
            };
            documents.remove(index);
            Ok(true)
        })
    }

    async fn count(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<u64, BackendError> {
        self.with_collection(plugin_id, collection, |documents| {
            let mut count = 0;
            for document in documents.iter() {
                count += u64::from(matches_filter(document, filter)?);
            }
            Ok(count)
        })
    }
}
