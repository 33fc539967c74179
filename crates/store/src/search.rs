//! Full-text search over memories and transcript segments: SQLite FTS5 ranked by BM25, kept in
//! step by the triggers of `migrations/0008_search_index.sql`. Per user, with hard time
//! filters; each hit carries a snippet with the matched words marked.

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use crate::db::sql_count;
pub use crate::hit_kind::HitKind;
use crate::{Owner, Store, StoreError, time};

/// The most words a query is made of (more are refused, saying so).
pub const MAX_QUERY_WORDS: usize = 32;

/// One search result.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// A memory or a transcript segment.
    pub kind: HitKind,
    /// The memory's id, or the conversation's.
    pub id: String,
    /// The conversation it is from, if any.
    pub conversation_id: Option<String>,
    /// When it was said or remembered (RFC 3339): a segment's conversation start.
    pub time: String,
    /// Seconds into the conversation, for a segment.
    pub offset_seconds: Option<f64>,
    /// Who said it, for a segment, when the transcript says.
    pub speaker: Option<String>,
    /// Higher is better: BM25 (FTS5's rank, negated) by words alone; with meaning, the
    /// reciprocal-rank fusion of both rankings.
    pub score: f64,
    /// The text around the match, HTML-escaped, the matched words in `<mark>…</mark>`.
    pub snippet: String,
    /// Whether its words, its meaning or both put it among the hits.
    pub matched_by: MatchedBy,
}

/// What found a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MatchedBy {
    /// The full-text index: it holds the query's words.
    Words,
    /// Its vector is among the nearest to the query's.
    Meaning,
    /// Both.
    Both,
    /// Only its time: the query asked for a window and nothing more.
    Time,
}

/// What to look for.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// The words, as typed.
    pub text: String,
    /// Only from this time (RFC 3339 or a date).
    pub since: Option<String>,
    /// Only up to this time (a bare date means the whole day).
    pub until: Option<String>,
    /// Only this kind.
    pub kind: Option<HitKind>,
}

/// The query's words as an FTS5 expression: each a quoted string (so no word is read as an
/// operator), any of them matching, BM25 ranking those with more of them first.
fn match_expression(text: &str) -> Result<Option<String>, StoreError> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|word| word.trim_matches('\''))
        .filter(|word| !word.is_empty())
        .map(|word| format!("\"{}\"", word.replace('"', "")))
        .collect();
    if words.len() > MAX_QUERY_WORDS {
        return Err(StoreError::Invalid(format!(
            "a search takes at most {MAX_QUERY_WORDS} words, this one has {}",
            words.len()
        )));
    }
    Ok((!words.is_empty()).then(|| words.join(" OR ")))
}

/// FTS5 marks matches with these (control characters no transcript holds); the snippet is
/// escaped, then they become `<mark>` tags.
const OPEN: &str = "\u{2}";
const CLOSE: &str = "\u{3}";

/// `text` with `&`, `<`, `>` and `"` as HTML entities.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn marked(raw: &str) -> String {
    escape(raw)
        .replace(OPEN, "<mark>")
        .replace(CLOSE, "</mark>")
}

/// Reciprocal-rank fusion's constant: a hit ranked `r` in a list adds `1 / (K + r)`. 60 is
/// the value of the method's paper; it keeps one list's top hit from drowning the other's.
const RRF_K: f64 = 60.0;

/// How many candidates each list gives the fusion, at least.
const MIN_CANDIDATES: usize = 50;

/// A query's vector, to rank by meaning beside the words.
#[derive(Clone, Copy, Debug)]
pub struct Semantic<'a> {
    /// The embedding model that made `vector`; only its vectors are compared.
    pub model: &'a str,
    pub vector: &'a [f32],
    /// Items less similar than this (cosine) are not found by meaning: the nearest of a few
    /// are not near for that.
    pub min_similarity: f32,
}

/// Which item a candidate is: a memory's rowid or a segment's id.
type Key = (HitKind, i64);

fn speaker(value: Option<SqlValue>) -> Option<String> {
    match value? {
        SqlValue::Text(text) => Some(text),
        SqlValue::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A memory's hit from a row whose first columns are its `memory_id`, `conversation_id` and
/// `created_at`.
fn memory_hit(
    row: &rusqlite::Row<'_>,
    score: f64,
    snippet: String,
    matched_by: MatchedBy,
) -> rusqlite::Result<SearchHit> {
    Ok(SearchHit {
        kind: HitKind::Memory,
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        time: row.get(2)?,
        offset_seconds: None,
        speaker: None,
        score,
        snippet,
        matched_by,
    })
}

/// A segment's hit from a row whose first columns are its `conversation_id`, `started_at`,
/// `offset_seconds` and `speaker`.
fn segment_hit(
    row: &rusqlite::Row<'_>,
    score: f64,
    snippet: String,
    matched_by: MatchedBy,
) -> rusqlite::Result<SearchHit> {
    let conversation: String = row.get(0)?;
    Ok(SearchHit {
        kind: HitKind::Conversation,
        id: conversation.clone(),
        conversation_id: Some(conversation),
        time: row.get(1)?,
        offset_seconds: row.get(2).ok(),
        speaker: speaker(row.get(3)?),
        score,
        snippet,
        matched_by,
    })
}

/// `text` HTML-escaped, cut to about 32 words around the first of `words` it holds (any
/// case), those words in `<mark>`: the snippet of a hit found by meaning, which FTS5 did not
/// cut.
fn marked_words(text: &str, words: &[String]) -> String {
    const AROUND: usize = 32;
    let pieces: Vec<&str> = text.split_inclusive(char::is_whitespace).collect();
    let bare = |piece: &str| {
        piece
            .trim()
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
    };
    let first = pieces
        .iter()
        .position(|piece| words.contains(&bare(piece)))
        .unwrap_or(0);
    let start = first.saturating_sub(AROUND / 4);
    let end = (start + AROUND).min(pieces.len());
    let mut snippet = String::new();
    if start > 0 {
        snippet.push('…');
    }
    for piece in &pieces[start..end] {
        let word = bare(piece);
        if !word.is_empty() && words.contains(&word) {
            let at = piece.to_lowercase().find(&word).unwrap_or(0);
            let (before, rest) = piece.split_at(at.min(piece.len()));
            let (matched, after) = rest.split_at(word.len().min(rest.len()));
            snippet.push_str(&escape(before));
            snippet.push_str("<mark>");
            snippet.push_str(&escape(matched));
            snippet.push_str("</mark>");
            snippet.push_str(&escape(after));
        } else {
            snippet.push_str(&escape(piece));
        }
    }
    if end < pieces.len() {
        snippet.push('…');
    }
    snippet
}

impl Store {
    /// The best `limit` hits for `query` among what `owner` may see, best first, by words
    /// alone (BM25).
    pub async fn search(
        &self,
        owner: &Owner,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        self.hybrid_search(owner, query, None, limit).await
    }

    /// The best `limit` hits for `query`: with `semantic`, the reciprocal-rank fusion of the
    /// words' ranking (BM25) and the meaning's (cosine similarity to the query's vector), each
    /// hit saying which found it; without, the words' ranking alone. Time and kind filters
    /// are hard in both.
    pub async fn hybrid_search(
        &self,
        owner: &Owner,
        query: &SearchQuery,
        semantic: Option<Semantic<'_>>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let candidates = (limit * 2).max(MIN_CANDIDATES);
        let until = query.until.clone().map(time::until_bound);
        let Some(semantic) = semantic else {
            let by_words = self.word_hits(owner, query, until, candidates).await?;
            let mut hits: Vec<SearchHit> = by_words.into_iter().map(|(_, hit)| hit).collect();
            hits.truncate(limit);
            return Ok(hits);
        };
        // Both rankings at once: the words' on a reader connection, the meaning's on the scan
        // threads.
        let (by_words, near) = tokio::join!(
            self.word_hits(owner, query, until.clone(), candidates),
            self.nearest(
                owner,
                semantic.model,
                semantic.vector,
                (query.since.clone(), until, query.kind),
                candidates,
            )
        );
        let (by_words, mut near) = (by_words?, near?);
        near.retain(|neighbour| neighbour.similarity >= semantic.min_similarity);
        let mut fused: Vec<(Key, f64)> = Vec::new();
        let mut add = |key: Key, rank: usize| match fused.iter_mut().find(|(k, _)| *k == key) {
            Some((_, score)) => *score += 1.0 / (RRF_K + rank as f64),
            None => fused.push((key, 1.0 / (RRF_K + rank as f64))),
        };
        for (rank, (key, _)) in by_words.iter().enumerate() {
            add(*key, rank + 1);
        }
        for (rank, neighbour) in near.iter().enumerate() {
            add((neighbour.kind, neighbour.rowid), rank + 1);
        }
        fused.sort_by(|a, b| b.1.total_cmp(&a.1));
        fused.truncate(limit);
        let near_keys: Vec<Key> = near.iter().map(|n| (n.kind, n.rowid)).collect();
        let mut words_hits: std::collections::HashMap<Key, SearchHit> =
            by_words.into_iter().collect();
        let only_near: Vec<Key> = fused
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| !words_hits.contains_key(key))
            .collect();
        let words: Vec<String> = query
            .text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut looked_up = self
            .look_up(owner, semantic.model, only_near, words)
            .await?;
        let mut hits = Vec::new();
        for (key, score) in fused {
            let by_meaning = near_keys.contains(&key);
            let hit = match words_hits.remove(&key) {
                Some(mut hit) => {
                    hit.matched_by = if by_meaning {
                        MatchedBy::Both
                    } else {
                        MatchedBy::Words
                    };
                    Some(hit)
                }
                None => looked_up.remove(&key),
            };
            if let Some(mut hit) = hit {
                hit.score = score;
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// Everything `owner` may see from `since` to `until`, newest first: what a question
    /// about a time and nothing else ("what did I discuss yesterday?") is answered with.
    pub async fn in_window(
        &self,
        owner: &Owner,
        since: &str,
        until: &str,
        kind: Option<HitKind>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        let (since, until) = (since.to_owned(), until.to_owned());
        let limit = sql_count(limit);
        self.read(move |connection| {
            let mut hits = Vec::new();
            if kind != Some(HitKind::Conversation) {
                let mut statement = connection.prepare_cached(
                    "SELECT memory_id, conversation_id, created_at, content FROM memories \
                     WHERE (?1 IS NULL OR user_id = ?1) AND created_at >= ?2 AND created_at <= ?3 \
                     ORDER BY created_at DESC LIMIT ?4",
                )?;
                let rows =
                    statement.query_map(rusqlite::params![user, since, until, limit], |row| {
                        memory_hit(
                            row,
                            0.0,
                            marked_words(&row.get::<_, String>(3)?, &[]),
                            MatchedBy::Time,
                        )
                    })?;
                hits.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            if kind != Some(HitKind::Memory) {
                let mut statement = connection.prepare_cached(
                    "SELECT conversation_id, started_at, offset_seconds, speaker, text \
                     FROM transcript_segments \
                     WHERE (?1 IS NULL OR user_id = ?1) AND started_at >= ?2 AND started_at <= ?3 \
                     ORDER BY started_at DESC, offset_seconds DESC LIMIT ?4",
                )?;
                let rows =
                    statement.query_map(rusqlite::params![user, since, until, limit], |row| {
                        segment_hit(
                            row,
                            0.0,
                            marked_words(&row.get::<_, String>(4)?, &[]),
                            MatchedBy::Time,
                        )
                    })?;
                hits.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            hits.sort_by(|a, b| {
                (b.time.as_str(), b.offset_seconds.unwrap_or(0.0))
                    .partial_cmp(&(a.time.as_str(), a.offset_seconds.unwrap_or(0.0)))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            hits.truncate(limit as usize);
            Ok(hits)
        })
        .await
    }

    /// The words' candidates, best first (BM25), each with its key for the fusion.
    async fn word_hits(
        &self,
        owner: &Owner,
        query: &SearchQuery,
        until: Option<String>,
        limit: usize,
    ) -> Result<Vec<(Key, SearchHit)>, StoreError> {
        let Some(expression) = match_expression(&query.text)? else {
            return Ok(Vec::new());
        };
        let values: Vec<SqlValue> = vec![
            SqlValue::Text(expression),
            owner
                .user_id()
                .map_or(SqlValue::Null, |user| SqlValue::Text(user.to_owned())),
            query.since.clone().map_or(SqlValue::Null, SqlValue::Text),
            until.map_or(SqlValue::Null, SqlValue::Text),
            SqlValue::Integer(sql_count(limit)),
        ];
        let kind = query.kind;
        self.read(move |connection| {
            let mut hits = Vec::new();
            if kind != Some(HitKind::Conversation) {
                let mut statement = connection.prepare_cached(
                    "SELECT m.memory_id, m.conversation_id, m.created_at, -bm25(memory_index), \
                     snippet(memory_index, 0, char(2), char(3), '…', 16), m.rowid \
                     FROM memory_index JOIN memories AS m ON m.rowid = memory_index.rowid \
                     WHERE memory_index MATCH ?1 AND (?2 IS NULL OR m.user_id = ?2) \
                     AND (?3 IS NULL OR m.created_at >= ?3) AND (?4 IS NULL OR m.created_at <= ?4) \
                     ORDER BY bm25(memory_index) LIMIT ?5",
                )?;
                let rows = statement.query_map(params_from_iter(&values), |row| {
                    Ok((
                        (HitKind::Memory, row.get(5)?),
                        memory_hit(row, row.get(3)?, marked(&row.get::<_, String>(4)?), MatchedBy::Words)?,
                    ))
                })?;
                hits.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            if kind != Some(HitKind::Memory) {
                let mut statement = connection.prepare_cached(
                    "SELECT s.conversation_id, s.started_at, s.offset_seconds, s.speaker, \
                     -bm25(segment_index), snippet(segment_index, 0, char(2), char(3), '…', 16), s.id \
                     FROM segment_index JOIN transcript_segments AS s ON s.id = segment_index.rowid \
                     WHERE segment_index MATCH ?1 AND (?2 IS NULL OR s.user_id = ?2) \
                     AND (?3 IS NULL OR s.started_at >= ?3) AND (?4 IS NULL OR s.started_at <= ?4) \
                     ORDER BY bm25(segment_index) LIMIT ?5",
                )?;
                let rows = statement.query_map(params_from_iter(&values), |row| {
                    Ok((
                        (HitKind::Conversation, row.get(6)?),
                        segment_hit(row, row.get(4)?, marked(&row.get::<_, String>(5)?), MatchedBy::Words)?,
                    ))
                })?;
                hits.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
            Ok(hits)
        })
        .await
    }

    /// The hits for candidates found by meaning alone, as they are now: one deleted, edited
    /// (its vector gone) or not `owner`'s is left out.
    async fn look_up(
        &self,
        owner: &Owner,
        model: &str,
        keys: Vec<Key>,
        words: Vec<String>,
    ) -> Result<std::collections::HashMap<Key, SearchHit>, StoreError> {
        if keys.is_empty() {
            return Ok(Default::default());
        }
        let model = model.to_owned();
        let user = owner.user_id().map(str::to_owned);
        self.read(move |connection| {
            let mut found = std::collections::HashMap::new();
            for key in &keys {
                let hit = match key.0 {
                    HitKind::Memory => connection
                        .prepare_cached(
                            "SELECT m.memory_id, m.conversation_id, m.created_at, m.content \
                             FROM memories AS m JOIN memory_vectors AS v \
                             ON v.memory_rowid = m.rowid AND v.model = ?2 \
                             WHERE m.rowid = ?1 AND (?3 IS NULL OR m.user_id = ?3)",
                        )?
                        .query_row(rusqlite::params![key.1, model, user], |row| {
                            memory_hit(row, 0.0, marked_words(&row.get::<_, String>(3)?, &words), MatchedBy::Meaning)
                        }),
                    HitKind::Conversation => connection
                        .prepare_cached(
                            "SELECT s.conversation_id, s.started_at, s.offset_seconds, s.speaker, s.text \
                             FROM transcript_segments AS s JOIN segment_vectors AS v \
                             ON v.segment_id = s.id AND v.model = ?2 \
                             WHERE s.id = ?1 AND (?3 IS NULL OR s.user_id = ?3)",
                        )?
                        .query_row(rusqlite::params![key.1, model, user], |row| {
                            segment_hit(row, 0.0, marked_words(&row.get::<_, String>(4)?, &words), MatchedBy::Meaning)
                        }),
                };
                match hit {
                    Ok(hit) => {
                        found.insert(*key, hit);
                    }
                    Err(rusqlite::Error::QueryReturnedNoRows) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Ok(found)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::NewConversation;
    use crate::testing::store_with_two_users;

    async fn conversation(store: &Store, user: &str, segments: &[(&str, f64)]) -> String {
        let id = store
            .create_conversation(NewConversation {
                user_id: user.to_owned(),
                client_id: "omi".into(),
                session_id: None,
                title: "t".into(),
                audio_path: None,
            })
            .await
            .unwrap()
            .conversation_id;
        let values: Vec<serde_json::Value> = segments
            .iter()
            .map(|(text, start)| json!({"text": text, "start": start, "speaker": "Speaker 0"}))
            .collect();
        let text: Vec<&str> = segments.iter().map(|(text, _)| *text).collect();
        store
            .set_transcript(&id, &text.join(" "), values, None)
            .await
            .unwrap();
        id
    }

    fn query(text: &str) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            ..SearchQuery::default()
        }
    }

    #[tokio::test]
    async fn hits_are_ranked_marked_and_kept_in_step_with_edits_and_deletes() {
        let (_dir, store, ana, bob) = store_with_two_users().await;
        let ana_owner = Owner::User(ana.id.clone());
        let talk = conversation(
            &store,
            &ana.id,
            &[
                ("I must call the dentist about Tuesday", 3.0),
                ("and buy oat milk", 9.5),
            ],
        )
        .await;
        conversation(&store, &bob.id, &[("Bob's dentist is on Friday", 1.0)]).await;
        let memory = store
            .add_memory(&ana.id, Some(&talk), "Dentist appointment on Tuesday")
            .await
            .unwrap();

        let hits = store
            .search(&ana_owner, &query("dentist tuesday"), 10)
            .await
            .unwrap();
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!(
            hits.iter()
                .all(|hit| hit.conversation_id.as_deref() == Some(talk.as_str()))
        );
        let segment = hits
            .iter()
            .find(|h| h.kind == HitKind::Conversation)
            .unwrap();
        assert_eq!(segment.offset_seconds, Some(3.0));
        assert_eq!(segment.speaker.as_deref(), Some("Speaker 0"));
        assert!(
            segment.snippet.contains("<mark>dentist</mark>"),
            "{}",
            segment.snippet
        );
        assert!(hits[0].score >= hits[1].score);

        // Isolation: Bob finds only his; an admin both.
        let bobs = store
            .search(&Owner::User(bob.id.clone()), &query("dentist"), 10)
            .await
            .unwrap();
        assert_eq!(bobs.len(), 1);
        assert_eq!(
            store
                .search(&Owner::Admin, &query("dentist"), 10)
                .await
                .unwrap()
                .len(),
            3
        );

        // Kinds and time filters.
        let memories_only = SearchQuery {
            kind: Some(HitKind::Memory),
            ..query("dentist")
        };
        assert_eq!(
            store
                .search(&ana_owner, &memories_only, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let future = SearchQuery {
            since: Some("2999-01-01".into()),
            ..query("dentist")
        };
        assert!(
            store
                .search(&ana_owner, &future, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // An edit and a delete show at once.
        store
            .update_memory(&ana_owner, &memory.memory_id, "Orthodontist in May")
            .await
            .unwrap();
        let memories = store.search(&ana_owner, &memories_only, 10).await.unwrap();
        assert!(memories.is_empty(), "{memories:?}");
        assert!(store.delete_conversation(&ana_owner, &talk).await.unwrap());
        assert!(
            store
                .search(&ana_owner, &query("oat milk"), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn operators_and_markup_in_a_query_are_only_words() {
        let (_dir, store, ana, _) = store_with_two_users().await;
        let owner = Owner::User(ana.id.clone());
        conversation(&store, &ana.id, &[("<b>bold</b> NEAR the AND door", 0.0)]).await;
        let hits = store
            .search(&owner, &query("\"door\" AND NOT near( * -"), 10)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert!(hits[0].snippet.contains("&lt;b&gt;"), "{}", hits[0].snippet);
        assert!(
            store
                .search(&owner, &query("  ... "), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let long = vec!["word"; 40].join(" ");
        assert!(matches!(
            store.search(&owner, &query(&long), 10).await,
            Err(StoreError::Invalid(_))
        ));
    }

    /// A toy embedding: which of four topics the words are about.
    fn topics(text: &str) -> Vec<f32> {
        let text = text.to_lowercase();
        let about = |words: &[&str]| words.iter().filter(|w| text.contains(*w)).count() as f32;
        vec![
            about(&["groceries", "milk", "bread", "shopping"]),
            about(&["dentist", "doctor", "teeth"]),
            about(&["meeting", "deadline", "report"]),
            0.1,
        ]
    }

    async fn embed_everything(store: &Store) {
        let pending = store
            .texts_to_embed("toy", crate::EmbedCursor::default(), 100)
            .await
            .unwrap();
        let vectors = pending
            .iter()
            .map(|t| (t.kind, t.rowid, topics(&t.text)))
            .collect();
        store.save_embeddings("toy", vectors).await.unwrap();
    }

    #[tokio::test]
    async fn meaning_finds_what_shares_no_word_and_fusion_ranks_both_lists() {
        let (_dir, store, ana, bob) = store_with_two_users().await;
        let owner = Owner::User(ana.id.clone());
        let milk = store
            .add_memory(&ana.id, None, "Buy oat milk and bread")
            .await
            .unwrap();
        store
            .add_memory(&ana.id, None, "The report deadline is Friday")
            .await
            .unwrap();
        store
            .add_memory(&bob.id, None, "Bob buys milk for the groceries")
            .await
            .unwrap();
        let talk = conversation(
            &store,
            &ana.id,
            &[("we talked about groceries and the doctor", 2.0)],
        )
        .await;
        // A live conversation's segments wait for its end.
        assert!(
            store
                .texts_to_embed("toy", crate::EmbedCursor::default(), 100)
                .await
                .unwrap()
                .iter()
                .all(|t| t.kind == HitKind::Memory)
        );
        store
            .complete_conversation(&talk, chronicle_plugin_api::EndReason::UserStopped, None)
            .await
            .unwrap();
        embed_everything(&store).await;
        assert_eq!(
            store.embedding_progress("toy").await.unwrap(),
            crate::EmbeddingProgress {
                embedded: 4,
                pending: 0
            }
        );
        // Another model has embedded nothing.
        assert_eq!(store.embedding_progress("other").await.unwrap().embedded, 0);

        let vector = topics("groceries");
        let semantic = Some(Semantic {
            model: "toy",
            vector: &vector,
            min_similarity: 0.3,
        });
        let hits = store
            .hybrid_search(&owner, &query("groceries"), semantic, 10)
            .await
            .unwrap();
        // The segment says "groceries" and is about it: found both ways, first. The memory
        // shares no word with the query and is found by meaning alone; Bob's is not Ana's.
        assert_eq!(hits[0].kind, HitKind::Conversation, "{hits:?}");
        assert_eq!(hits[0].matched_by, MatchedBy::Both);
        assert!(
            hits[0].snippet.contains("<mark>groceries</mark>"),
            "{}",
            hits[0].snippet
        );
        let found = hits
            .iter()
            .find(|h| h.id == milk.memory_id)
            .expect("the milk memory");
        assert_eq!(found.matched_by, MatchedBy::Meaning);
        assert_eq!(found.snippet, "Buy oat milk and bread");
        assert!(hits.iter().all(|h| !h.snippet.contains("Bob")));
        assert!(hits[0].score > found.score);
        // Words alone do not find the memory.
        let words = store.search(&owner, &query("groceries"), 10).await.unwrap();
        assert!(words.iter().all(|h| h.id != milk.memory_id));

        // An edit drops the old vector at once; embedding again finds the new meaning.
        store
            .update_memory(&owner, &milk.memory_id, "Call the dentist about my teeth")
            .await
            .unwrap();
        let hits = store
            .hybrid_search(&owner, &query("groceries"), semantic, 10)
            .await
            .unwrap();
        assert!(hits.iter().all(|h| h.id != milk.memory_id), "{hits:?}");
        embed_everything(&store).await;
        let teeth = topics("dentist");
        let hits = store
            .hybrid_search(
                &owner,
                &query("orthodontics"),
                Some(Semantic {
                    model: "toy",
                    vector: &teeth,
                    min_similarity: 0.3,
                }),
                1,
            )
            .await
            .unwrap();
        assert_eq!(hits[0].id, milk.memory_id, "{hits:?}");
        assert_eq!(hits[0].matched_by, MatchedBy::Meaning);

        // Time and kind filters are hard for meaning too.
        let future = SearchQuery {
            since: Some("2999-01-01".into()),
            ..query("groceries")
        };
        assert!(
            store
                .hybrid_search(&owner, &future, semantic, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let segments = SearchQuery {
            kind: Some(HitKind::Conversation),
            ..query("groceries")
        };
        let hits = store
            .hybrid_search(&owner, &segments, semantic, 10)
            .await
            .unwrap();
        assert!(hits.iter().all(|h| h.kind == HitKind::Conversation) && !hits.is_empty());

        // A deleted conversation's segments go with it.
        assert!(store.delete_conversation(&owner, &talk).await.unwrap());
        let hits = store
            .hybrid_search(&owner, &segments, semantic, 10)
            .await
            .unwrap();
        assert!(hits.is_empty(), "{hits:?}");
    }

    #[test]
    fn a_snippet_found_by_meaning_is_escaped_cut_and_marks_the_query_words() {
        let words = vec!["milk".to_owned()];
        assert_eq!(
            marked_words("<b> Milk, please", &words),
            "&lt;b&gt; <mark>Milk</mark>, please"
        );
        let long = format!("{}milk {}", "a ".repeat(40), "b ".repeat(40));
        let snippet = marked_words(&long, &words);
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert!(snippet.contains("<mark>milk</mark>"));
    }
}
