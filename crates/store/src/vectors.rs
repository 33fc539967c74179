//! Sentence embeddings of memories and transcript segments (`migrations/0009_vectors.sql`),
//! and the nearest of them to a query's.
//!
//! The database holds each vector as little-endian `f32`s, one per item and model; the
//! triggers drop a vector with its text, so an edited memory or a rewritten transcript waits
//! for the background embedder (in the pipeline) to embed it again, and a text embedded by
//! another model counts as not embedded. Searching reads none of that: the vectors of the
//! model in use are loaded once into memory as 8-bit codes (a quarter of the size; ranking
//! barely moves, and ranks are all the fusion uses) and scanned there. Entries are added as
//! vectors are saved; entries of deleted or edited texts stay until the next load, and every
//! candidate is looked up in the database before it becomes a hit, so a stale one is never
//! shown.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use crate::db::DbError;
use crate::hit_kind::HitKind;
use crate::vector_index::{Neighbour, VectorIndex, from_blob, normalized, to_blob};
use crate::{Owner, Store, StoreError};

/// Texts longer than this are cut before embedding: embedding models read a few hundred
/// tokens at most.
pub const MAX_EMBEDDED_CHARS: usize = 2_000;

/// A memory or segment whose vector for the model is missing.
#[derive(Clone, Debug, PartialEq)]
pub struct TextToEmbed {
    pub kind: HitKind,
    /// The memory's rowid or the segment's id.
    pub rowid: i64,
    pub text: String,
}

/// Where a pass over the texts to embed has got to: the last memory rowid and segment id seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbedCursor {
    pub memory: i64,
    pub segment: i64,
}

impl EmbedCursor {
    /// Past every text of `texts`.
    pub fn past(self, texts: &[TextToEmbed]) -> Self {
        texts.iter().fold(self, |cursor, text| match text.kind {
            HitKind::Memory => EmbedCursor {
                memory: cursor.memory.max(text.rowid),
                ..cursor
            },
            HitKind::Conversation => EmbedCursor {
                segment: cursor.segment.max(text.rowid),
                ..cursor
            },
        })
    }
}

/// How far embedding has come for a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbeddingProgress {
    pub embedded: u64,
    pub pending: u64,
}

fn kind_of(table: &str) -> HitKind {
    if table == "memory" {
        HitKind::Memory
    } else {
        HitKind::Conversation
    }
}

/// Every stored vector of `model`, with its item's owner and time, into an index.
fn load(connection: &rusqlite::Connection, model: &str) -> Result<Option<VectorIndex>, DbError> {
    let mut statement = connection.prepare(
        "SELECT 'memory', v.memory_rowid, m.user_id, m.created_at, v.vector \
         FROM memory_vectors AS v JOIN memories AS m ON m.rowid = v.memory_rowid WHERE v.model = ?1 \
         UNION ALL \
         SELECT 'segment', v.segment_id, s.user_id, s.started_at, v.vector \
         FROM segment_vectors AS v JOIN transcript_segments AS s ON s.id = v.segment_id \
         WHERE v.model = ?1",
    )?;
    let mut rows = statement.query(params![model])?;
    let mut index: Option<VectorIndex> = None;
    while let Some(row) = rows.next()? {
        let table: String = row.get(0)?;
        let rowid: i64 = row.get(1)?;
        let user: String = row.get(2)?;
        let time: String = row.get(3)?;
        let blob: Vec<u8> = row.get(4)?;
        let vector = from_blob(&blob);
        let index = index.get_or_insert_with(|| VectorIndex::new(model, 0));
        index.put(kind_of(&table), rowid, &user, &time, &vector);
    }
    Ok(index)
}

impl Store {
    /// Up to `limit` memories and segments with no vector of `model` yet, after `cursor`
    /// (memories first, each kind in rowid order); the caller moves the cursor past what it got,
    /// so a backfill reads each row once, and starts again from the beginning to find what was
    /// edited behind it.
    pub async fn texts_to_embed(
        &self,
        model: &str,
        cursor: EmbedCursor,
        limit: usize,
    ) -> Result<Vec<TextToEmbed>, StoreError> {
        let model = model.to_owned();
        let limit = crate::db::sql_count(limit);
        self.read(move |connection| {
            let mut texts = Vec::new();
            let mut memories = connection.prepare_cached(
                "SELECT m.rowid, m.content FROM memories AS m \
                 LEFT JOIN memory_vectors AS v ON v.memory_rowid = m.rowid AND v.model = ?1 \
                 WHERE v.memory_rowid IS NULL AND m.rowid > ?3 ORDER BY m.rowid LIMIT ?2",
            )?;
            for row in memories.query_map(params![model, limit, cursor.memory], |row| {
                Ok(TextToEmbed {
                    kind: HitKind::Memory,
                    rowid: row.get(0)?,
                    text: row.get(1)?,
                })
            })? {
                texts.push(row?);
            }
            let left = limit - texts.len() as i64;
            if left > 0 {
                let mut segments = connection.prepare_cached(
                    // Only a finished conversation's: a live one's segments are rewritten
                    // with each new one, and would be embedded again each time.
                    "SELECT s.id, s.text FROM transcript_segments AS s \
                     JOIN conversations AS c ON c.conversation_id = s.conversation_id \
                     AND c.completed_at IS NOT NULL \
                     LEFT JOIN segment_vectors AS v ON v.segment_id = s.id AND v.model = ?1 \
                     WHERE v.segment_id IS NULL AND s.id > ?3 ORDER BY s.id LIMIT ?2",
                )?;
                for row in segments.query_map(params![model, left, cursor.segment], |row| {
                    Ok(TextToEmbed {
                        kind: HitKind::Conversation,
                        rowid: row.get(0)?,
                        text: row.get(1)?,
                    })
                })? {
                    texts.push(row?);
                }
            }
            for text in &mut texts {
                if let Some((cut, _)) = text.text.char_indices().nth(MAX_EMBEDDED_CHARS) {
                    text.text.truncate(cut);
                }
            }
            Ok(texts)
        })
        .await
    }

    /// How many memories and segments have a vector of `model`, and how many wait for one.
    pub async fn embedding_progress(&self, model: &str) -> Result<EmbeddingProgress, StoreError> {
        let model = model.to_owned();
        self.read(move |connection| {
            let embedded: i64 = connection.query_row(
                "SELECT (SELECT count(*) FROM memory_vectors WHERE model = ?1) \
                 + (SELECT count(*) FROM segment_vectors WHERE model = ?1)",
                params![model],
                |row| row.get(0),
            )?;
            let total: i64 = connection.query_row(
                "SELECT (SELECT count(*) FROM memories) + (SELECT count(*) FROM transcript_segments AS s \
                 JOIN conversations AS c ON c.conversation_id = s.conversation_id \
                 AND c.completed_at IS NOT NULL)",
                [],
                |row| row.get(0),
            )?;
            Ok(EmbeddingProgress {
                embedded: embedded as u64,
                pending: (total - embedded).max(0) as u64,
            })
        })
        .await
    }

    /// Stores `vectors` (made by `model`, each scaled to unit length here) for their items,
    /// replacing another model's; an item deleted meanwhile is skipped. The loaded index, if
    /// it is this model's, takes them at once.
    pub async fn save_embeddings(
        &self,
        model: &str,
        vectors: Vec<(HitKind, i64, Vec<f32>)>,
    ) -> Result<usize, StoreError> {
        let model = model.to_owned();
        let index = Arc::clone(&self.vectors);
        self.write(move |transaction| {
            let mut saved = Vec::new();
            for (kind, rowid, vector) in &vectors {
                let Some(vector) = normalized(vector) else {
                    continue;
                };
                let (owner, insert) = match kind {
                    HitKind::Memory => (
                        "SELECT user_id, created_at FROM memories WHERE rowid = ?1",
                        "INSERT OR REPLACE INTO memory_vectors (memory_rowid, model, vector) VALUES (?1, ?2, ?3)",
                    ),
                    HitKind::Conversation => (
                        "SELECT user_id, started_at FROM transcript_segments WHERE id = ?1",
                        "INSERT OR REPLACE INTO segment_vectors (segment_id, model, vector) VALUES (?1, ?2, ?3)",
                    ),
                };
                let found: Option<(String, String)> = transaction
                    .prepare_cached(owner)?
                    .query_row(params![rowid], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                let Some((user, time)) = found else {
                    continue;
                };
                transaction
                    .prepare_cached(insert)?
                    .execute(params![rowid, model, to_blob(&vector)])?;
                saved.push((*kind, *rowid, user, time, vector));
            }
            if let Ok(mut slot) = index.write()
                && let Some(index) = slot.as_mut().filter(|index| index.model == model)
            {
                for (kind, rowid, user, time, vector) in &saved {
                    index.put(*kind, *rowid, user, time, vector);
                }
            }
            Ok(saved.len())
        })
        .await
    }

    /// The `limit` memories and segments nearest `query` (a vector of `model`) among what
    /// `owner` may see within the time filters, nearest first. Loads the model's vectors into
    /// memory on first use. Candidates only: the caller looks each up.
    pub(crate) async fn nearest(
        &self,
        owner: &Owner,
        model: &str,
        query: &[f32],
        filters: (Option<String>, Option<String>, Option<HitKind>),
        limit: usize,
    ) -> Result<Vec<Neighbour>, StoreError> {
        let holds =
            |slot: &Option<VectorIndex>| slot.as_ref().is_some_and(|index| index.model == model);
        let loaded = self
            .vectors
            .read()
            .map(|slot| holds(&slot))
            .unwrap_or(false);
        if !loaded {
            // Loaded under the write lock: a second search waits for this load instead of
            // making its own, and vectors saved meanwhile wait to be put into the loaded index.
            let (index, name) = (Arc::clone(&self.vectors), model.to_owned());
            self.read(move |connection| {
                let mut slot = index
                    .write()
                    .map_err(|_| StoreError::Database("the vector index was poisoned".into()))?;
                if slot.as_ref().is_none_or(|index| index.model != name) {
                    *slot = Some(
                        load(connection, &name)?.unwrap_or_else(|| VectorIndex::new(&name, 0)),
                    );
                }
                Ok(())
            })
            .await?;
        }
        let Some(query) = normalized(query) else {
            return Ok(Vec::new());
        };
        let index = Arc::clone(&self.vectors);
        let user = owner.user_id().map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let slot = index
                .read()
                .map_err(|_| StoreError::Database("the vector index was poisoned".into()))?;
            let Some(index) = slot.as_ref() else {
                return Ok(Vec::new());
            };
            let (since, until, kind) = filters;
            Ok(index.nearest(
                &query,
                user.as_deref(),
                since.as_deref(),
                until.as_deref(),
                kind,
                limit,
            ))
        })
        .await
        .map_err(|error| StoreError::Database(format!("the vector search failed: {error}")))?
    }
}
