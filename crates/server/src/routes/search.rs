//! `GET /api/search?q=&since=&until=&kind=memory|conversation&limit=`: full-text search over
//! the caller's memories and transcript segments (everyone's for an admin), ranked by BM25,
//! each hit with its kind, ids, time, score and a snippet whose matched words are in
//! `<mark>` (the rest HTML-escaped). With an embeddings server the query is embedded too and
//! the two rankings are fused by reciprocal rank (`"ranking": "rrf"`); without one, or when it
//! fails, the words alone rank (`"ranking": "bm25"`) and the `note` says why.

use axum::Json;
use axum::extract::State;
use chronicle_pipeline::when;
use chronicle_store::{HitKind, SearchQuery, Semantic};
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// The words. A time in them ("yesterday", "6 hours ago", "last Tuesday", "in the past 3
    /// days") becomes a time filter and is not searched for.
    q: String,
    /// RFC 3339 time or `YYYY-MM-DD`: only from then.
    since: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (the whole day): only until then.
    until: Option<String>,
    /// `memory` or `conversation`: only that kind.
    kind: Option<String>,
    /// The asker's IANA time zone (`Europe/Berlin`), for the times in `q`; the server's own
    /// when absent.
    tz: Option<String>,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    20
}

/// The later of two lower bounds, the earlier of two upper ones (as the store compares them:
/// as text).
fn tighter(a: Option<String>, b: Option<String>, later: bool) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (a > b) == later { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[utoipa::path(
    get, path = "/api/search", summary = "Search everything said and remembered", tag = "search", params(Params),
    description = "Ranked by words (BM25) and, with an embeddings server, by meaning too, fused by reciprocal rank. A question about a time alone (\"what did I discuss yesterday?\") lists that time's memories and segments, newest first.",
    responses((status = 200, description = "Hits, best first", body = super::schemas::SearchAnswer))
)]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(params): AppQuery<Params>,
) -> AppResult<Json<Value>> {
    let kind = match params.kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("memory") => Some(HitKind::Memory),
        Some("conversation") => Some(HitKind::Conversation),
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "`{other}` is not a kind; use memory or conversation"
            )));
        }
    };
    let tz = match params
        .tz
        .as_deref()
        .map(str::trim)
        .filter(|tz| !tz.is_empty())
    {
        Some(name) => TimeZone::get(name).map_err(|_| {
            AppError::BadRequest(format!(
                "`{name}` is not a time zone; use an IANA name such as Europe/Berlin"
            ))
        })?,
        None => TimeZone::system(),
    };
    let (words, window) = when::extract(&params.q, jiff::Timestamp::now(), &tz);
    let until = params.until.map(|until| {
        if until.len() == 10 {
            format!("{until}T~")
        } else {
            until
        }
    });
    let query = SearchQuery {
        text: words.clone(),
        since: tighter(params.since, window.as_ref().map(|w| w.since.clone()), true),
        until: tighter(until, window.as_ref().map(|w| w.until.clone()), false),
        kind,
    };
    let limit = params.limit.clamp(1, 100) as usize;
    let store = &state.store;
    let owner = user.owner();
    let (hits, ranking, note) = match (&window, &state.core.embedder) {
        (Some(window), _) if !when::has_content_words(&words) => (
            store
                .in_window(
                    &owner,
                    query.since.as_deref().unwrap_or(&window.since),
                    query.until.as_deref().unwrap_or(&window.until),
                    kind,
                    limit,
                )
                .await?,
            "time",
            format!("everything from {}, newest first", window.phrase),
        ),
        (_, None) => (
            store.search(&owner, &query, limit).await?,
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
                        .hybrid_search(&owner, &query, Some(semantic), limit)
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
                    store.search(&owner, &query, limit).await?,
                    "bm25",
                    format!("by words alone: {error}"),
                )
            }
        },
    };
    let time_filter = window.map(|window| {
        json!({
            "phrase": window.phrase,
            "since": query.since,
            "until": query.until,
            "time_zone": tz.iana_name().unwrap_or("UTC"),
        })
    });
    Ok(Json(json!({
        "query": params.q,
        "searched_for": words,
        "time_filter": time_filter,
        "ranking": ranking,
        "note": note,
        "count": hits.len(),
        "hits": hits,
    })))
}
