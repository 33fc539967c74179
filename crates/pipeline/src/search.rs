//! One search, however it is asked (`GET /api/search`, MCP's `search` tool, the chat's `search`
//! tool, a plugin's `search.query`): a time said in the words becomes a filter, the rest is ranked by words and, with an
//! embeddings server, by meaning; a time alone lists that time. Search never fails because the
//! embeddings server does: it says so and ranks by words.

use std::sync::Arc;

use chronicle_store::{HitKind, Owner, SearchHit, SearchQuery, Semantic, Store, StoreError};
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::embeddings::Embedder;
use crate::when;

/// What to look for.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    /// As typed: words, maybe a time ("yesterday").
    pub text: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub kind: Option<HitKind>,
    /// Where the times said in `text` are read.
    pub tz: TimeZone,
    pub limit: usize,
}

/// The time a query named, as the filter it became.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeFilter {
    pub phrase: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub time_zone: String,
}

/// What was found, and how.
#[derive(Clone, Debug, Serialize)]
pub struct SearchOutcome {
    /// The words searched for: the text without its time.
    pub searched_for: String,
    pub time_filter: Option<TimeFilter>,
    /// `rrf` (words and meaning fused), `bm25` (words alone) or `time` (a time alone).
    pub ranking: &'static str,
    /// How, in words; why by words alone when it was.
    pub note: String,
    pub hits: Vec<SearchHit>,
}

/// The later of two lower bounds, the earlier of two upper ones (as the store compares them:
/// as text).
fn tighter(a: Option<String>, b: Option<String>, later: bool) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (a > b) == later { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Runs `request` over what `owner` may see.
pub async fn search(
    store: &Store,
    embedder: Option<&Arc<Embedder>>,
    owner: &Owner,
    request: SearchRequest,
) -> Result<SearchOutcome, StoreError> {
    let (words, window) = when::extract(&request.text, jiff::Timestamp::now(), &request.tz);
    // As the store reads it, so the window's end and the caller's compare.
    let until = request.until.map(chronicle_store::time::until_bound);
    let query = SearchQuery {
        text: when::content_words(&words),
        since: tighter(
            request.since,
            window.as_ref().map(|w| w.since.clone()),
            true,
        ),
        until: tighter(until, window.as_ref().map(|w| w.until.clone()), false),
        kind: request.kind,
    };
    let limit = request.limit;
    let (hits, ranking, note) = match (&window, embedder) {
        (Some(window), _) if !when::has_content_words(&words) => (
            store
                .in_window(
                    owner,
                    query.since.as_deref().unwrap_or(&window.since),
                    query.until.as_deref().unwrap_or(&window.until),
                    query.kind,
                    limit,
                )
                .await?,
            "time",
            format!("everything from {}, newest first", window.phrase),
        ),
        (_, None) => (
            store.search(owner, &query, limit).await?,
            "bm25",
            "by words alone: no embeddings server is configured".to_owned(),
        ),
        (_, Some(embedder)) => match embedder.model.embed(std::slice::from_ref(&words)).await {
            Ok(vectors) => {
                let semantic = Semantic {
                    model: embedder.model.model(),
                    vector: &vectors[0],
                    min_similarity: embedder.model.min_similarity(),
                };
                (
                    store
                        .hybrid_search(owner, &query, Some(semantic), limit)
                        .await?,
                    "rrf",
                    format!(
                        "by words (BM25) and meaning ({}), fused by reciprocal rank",
                        embedder.model.model()
                    ),
                )
            }
            // The words still find what they find.
            Err(error) => {
                tracing::warn!(%error, "Searching by words alone: the query was not embedded.");
                (
                    store.search(owner, &query, limit).await?,
                    "bm25",
                    format!("by words alone: {error}"),
                )
            }
        },
    };
    let time_filter = window.map(|window| TimeFilter {
        phrase: window.phrase,
        since: query.since.clone(),
        until: query.until.clone(),
        time_zone: request.tz.iana_name().unwrap_or("UTC").to_owned(),
    });
    Ok(SearchOutcome {
        searched_for: words,
        time_filter,
        ranking,
        note,
        hits,
    })
}

/// `name` as a kind of hit (`memory` or `conversation`); none when absent or blank; an unknown
/// name is refused naming both.
pub fn kind(name: Option<&str>) -> Result<Option<HitKind>, String> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some("memory") => Ok(Some(HitKind::Memory)),
        Some("conversation") => Ok(Some(HitKind::Conversation)),
        Some(other) => Err(format!(
            "`{other}` is not a kind; use memory or conversation"
        )),
    }
}

/// `name` as a time zone, or the server's own when absent; an unknown name is refused naming
/// the fix.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name.map(str::trim).filter(|tz| !tz.is_empty()) {
        Some(name) => TimeZone::get(name).map_err(|_| {
            format!("`{name}` is not a time zone; use an IANA name such as Europe/Berlin")
        }),
        None => Ok(TimeZone::system()),
    }
}

/// The most hits a plugin's search returns.
const MAX_PLUGIN_HITS: u32 = 50;

/// The plugins' `search.query`, over the store and the embedder.
pub struct StoreSearch {
    pub store: Store,
    pub embedder: Option<Arc<Embedder>>,
}

#[async_trait::async_trait]
impl chronicle_host_ports::SearchIndex for StoreSearch {
    async fn search(
        &self,
        user_id: &str,
        query: &chronicle_plugin_api::protocol::SearchParams,
    ) -> Result<serde_json::Value, chronicle_host_ports::BackendError> {
        use chronicle_host_ports::BackendError;
        let kind = kind(query.kind.as_deref()).map_err(BackendError::InvalidRequest)?;
        let tz = time_zone(query.time_zone.as_deref()).map_err(BackendError::InvalidRequest)?;
        let request = SearchRequest {
            text: query.query.clone(),
            since: query.since.clone(),
            until: query.until.clone(),
            kind,
            tz,
            limit: query.limit.unwrap_or(10).clamp(1, MAX_PLUGIN_HITS) as usize,
        };
        let owner = Owner::User(user_id.to_owned());
        let outcome = search(&self.store, self.embedder.as_ref(), &owner, request)
            .await
            .map_err(|error| match error {
                StoreError::Invalid(message) => BackendError::InvalidRequest(message),
                other => BackendError::Failed(other.to_string()),
            })?;
        serde_json::to_value(outcome).map_err(|error| BackendError::Failed(error.to_string()))
    }
}
