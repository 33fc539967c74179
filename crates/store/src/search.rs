//! Full-text search over memories and transcript segments: SQLite FTS5 ranked by BM25, kept in
//! step by the triggers of `migrations/0008_search_index.sql`. Per user, with hard time
//! filters; each hit carries a snippet with the matched words marked.

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use crate::db::sql_count;
use crate::{Owner, Store, StoreError};

/// The most words a query is made of (more are refused, saying so).
pub const MAX_QUERY_WORDS: usize = 32;

/// What a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    /// A memory.
    Memory,
    /// A segment of a conversation's transcript.
    Conversation,
}

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
    /// BM25 relevance, higher is better (FTS5's rank, negated).
    pub score: f64,
    /// The text around the match, HTML-escaped, the matched words in `<mark>…</mark>`.
    pub snippet: String,
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

fn marked(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace(OPEN, "<mark>")
        .replace(CLOSE, "</mark>")
}

impl Store {
    /// The best `limit` hits for `query` among what `owner` may see, best first.
    pub async fn search(
        &self,
        owner: &Owner,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let Some(expression) = match_expression(&query.text)? else {
            return Ok(Vec::new());
        };
        let until = query.until.clone().map(|until| {
            if until.len() == 10 {
                format!("{until}T~")
            } else {
                until
            }
        });
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
                     snippet(memory_index, 0, char(2), char(3), '…', 16) \
                     FROM memory_index JOIN memories AS m ON m.rowid = memory_index.rowid \
                     WHERE memory_index MATCH ?1 AND (?2 IS NULL OR m.user_id = ?2) \
                     AND (?3 IS NULL OR m.created_at >= ?3) AND (?4 IS NULL OR m.created_at <= ?4) \
                     ORDER BY bm25(memory_index) LIMIT ?5",
                )?;
                let rows = statement.query_map(params_from_iter(&values), |row| {
                    Ok(SearchHit {
                        kind: HitKind::Memory,
                        id: row.get(0)?,
                        conversation_id: row.get(1)?,
                        time: row.get(2)?,
                        offset_seconds: None,
                        speaker: None,
                        score: row.get(3)?,
                        snippet: marked(&row.get::<_, String>(4)?),
                    })
                })?;
                hits.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            if kind != Some(HitKind::Memory) {
                let mut statement = connection.prepare_cached(
                    "SELECT s.conversation_id, s.started_at, s.offset_seconds, s.speaker, \
                     -bm25(segment_index), snippet(segment_index, 0, char(2), char(3), '…', 16) \
                     FROM segment_index JOIN transcript_segments AS s ON s.id = segment_index.rowid \
                     WHERE segment_index MATCH ?1 AND (?2 IS NULL OR s.user_id = ?2) \
                     AND (?3 IS NULL OR s.started_at >= ?3) AND (?4 IS NULL OR s.started_at <= ?4) \
                     ORDER BY bm25(segment_index) LIMIT ?5",
                )?;
                let rows = statement.query_map(params_from_iter(&values), |row| {
                    let conversation: String = row.get(0)?;
                    Ok(SearchHit {
                        kind: HitKind::Conversation,
                        id: conversation.clone(),
                        conversation_id: Some(conversation),
                        time: row.get(1)?,
                        offset_seconds: row.get(2).ok(),
                        speaker: row
                            .get::<_, Option<rusqlite::types::Value>>(3)?
                            .and_then(|speaker| match speaker {
                                SqlValue::Text(text) => Some(text),
                                SqlValue::Integer(n) => Some(n.to_string()),
                                _ => None,
                            }),
                        score: row.get(4)?,
                        snippet: marked(&row.get::<_, String>(5)?),
                    })
                })?;
                hits.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            hits.truncate(limit);
            Ok(hits)
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
}
