//! `chronicle-bench search`: full-text search (FTS5, BM25) over a large store.
//!
//! Fills a fresh store in a temp folder with `--memories` memories (100,000 by default) and
//! `--segments` transcript segments (1,000,000: conversations of 50 segments of 12 words),
//! for one user, the words drawn from a vocabulary of 5,000 made-up words with a Zipf-like
//! frequency (a few very common, most rare, as in speech). It reports how fast the store
//! indexed them (the triggers run in each write's transaction), then the latency of 1,000
//! searches of one to three words, both kinds, 20 hits each, and of the same with a time
//! filter. Then it gives every memory and segment a random 384-number vector (the size of
//! all-MiniLM-L6-v2's) through the store's own embedding path, and reports how fast vectors are
//! stored, how long the first search by meaning takes (it loads the vectors into memory), the
//! process's memory after, and the latency of 1,000 hybrid searches (words and meaning fused).
//! The vectors come from no model: the embedding server's own time is not in these figures.

use std::time::Instant;

use chronicle_store::{NewConversation, Owner, SearchQuery, Semantic, Store};
use serde_json::{Value, json};

use crate::report::latency_summary;

const VOCABULARY: usize = 5_000;
const SEGMENTS_PER_CONVERSATION: usize = 50;
const WORDS_PER_SEGMENT: usize = 12;
const QUERIES: usize = 1_000;
/// all-MiniLM-L6-v2's vector length.
const DIMENSIONS: usize = 384;
/// Vectors stored per write, as the embedder's batches.
const EMBED_BATCH: usize = 512;

fn random_vector(rng: &mut fastrand::Rng) -> Vec<f32> {
    (0..DIMENSIONS).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

/// The process's resident memory, from /proc (0 where there is none).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A made-up word for each index: pronounceable, distinct.
fn word(index: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "da", "fe", "go", "hu", "ji", "pe", "qui",
        "ra", "su", "te", "vo", "za",
    ];
    let mut n = index;
    let mut out = String::new();
    loop {
        out.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
        if n == 0 {
            break;
        }
    }
    out
}

/// Word indexes with a Zipf-like skew: the square of a uniform draw favours small indexes.
fn draw(rng: &mut fastrand::Rng) -> usize {
    let u = rng.f64();
    ((u * u) * VOCABULARY as f64) as usize % VOCABULARY
}

/// One to three words drawn uniformly from the vocabulary: a query.
fn query_words(rng: &mut fastrand::Rng, words: &[String]) -> String {
    (0..1 + rng.usize(..3))
        .map(|_| words[rng.usize(..VOCABULARY)].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn sentence(rng: &mut fastrand::Rng, words: &[String], length: usize) -> String {
    (0..length)
        .map(|_| words[draw(rng)].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn search(memories: usize, segments: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path()).await?;
    let user = store.create_user("bench@example.com", "x", false).await?;
    let words: Vec<String> = (0..VOCABULARY).map(word).collect();
    let mut rng = fastrand::Rng::with_seed(7);

    let started = Instant::now();
    for _ in 0..memories {
        let text = sentence(&mut rng, &words, 10);
        store.add_memory(&user.id, None, &text).await?;
    }
    let memory_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let conversations = segments.div_ceil(SEGMENTS_PER_CONVERSATION);
    for _ in 0..conversations {
        let conversation = store
            .create_conversation(NewConversation {
                user_id: user.id.clone(),
                client_id: "bench".into(),
                session_id: None,
                title: "bench".into(),
                audio_path: None,
            })
            .await?;
        let texts: Vec<String> = (0..SEGMENTS_PER_CONVERSATION)
            .map(|_| sentence(&mut rng, &words, WORDS_PER_SEGMENT))
            .collect();
        let values = texts
            .iter()
            .enumerate()
            .map(|(i, text)| json!({"text": text, "start": i as f64 * 5.0, "end": i as f64 * 5.0 + 4.5, "speaker": "Speaker 0"}))
            .collect();
        store
            .set_transcript(
                &conversation.conversation_id,
                &texts.join(" "),
                values,
                None,
            )
            .await?;
        store
            .complete_conversation(
                &conversation.conversation_id,
                chronicle_plugin_api::EndReason::UserStopped,
                Some(250.0),
            )
            .await?;
    }
    let segment_seconds = started.elapsed().as_secs_f64();

    let owner = Owner::User(user.id.clone());
    let mut plain = Vec::with_capacity(QUERIES);
    let mut filtered = Vec::with_capacity(QUERIES);
    let mut hits = 0usize;
    let since = chronicle_store::time::rfc3339(
        std::time::SystemTime::now() - std::time::Duration::from_secs(30),
    );
    for _ in 0..QUERIES {
        let text = query_words(&mut rng, &words);
        let query = SearchQuery {
            text: text.clone(),
            ..SearchQuery::default()
        };
        let t = Instant::now();
        hits += store.search(&owner, &query, 20).await?.len();
        plain.push(t.elapsed().as_nanos() as u64);
        let query = SearchQuery {
            text,
            since: Some(since.clone()),
            ..SearchQuery::default()
        };
        let t = Instant::now();
        store.search(&owner, &query, 20).await?;
        filtered.push(t.elapsed().as_nanos() as u64);
    }

    // Vectors for everything, through the embedder's path: pending texts, then saved.
    let model = "bench-384";
    let started = Instant::now();
    let mut vectors = 0usize;
    let mut cursor = chronicle_store::EmbedCursor::default();
    loop {
        let texts = store.texts_to_embed(model, cursor, EMBED_BATCH).await?;
        if texts.is_empty() {
            break;
        }
        cursor = cursor.past(&texts);
        let batch = texts
            .iter()
            .map(|text| (text.kind, text.rowid, random_vector(&mut rng)))
            .collect();
        vectors += store.save_embeddings(model, batch).await?;
    }
    let vector_seconds = started.elapsed().as_secs_f64();
    let resident_before = resident_bytes();
    let first_vector = random_vector(&mut rng);
    let started = Instant::now();
    // -1: every candidate counts, the most work a search can do.
    fn semantic<'a>(model: &'a str, vector: &'a [f32]) -> Option<Semantic<'a>> {
        Some(Semantic {
            model,
            vector,
            min_similarity: -1.0,
        })
    }
    store
        .hybrid_search(
            &owner,
            &SearchQuery::default(),
            semantic(model, &first_vector),
            20,
        )
        .await?;
    let first_search_seconds = started.elapsed().as_secs_f64();
    let resident_after = resident_bytes();
    // By meaning alone (no words): the scan and the lookups of what it found, without BM25.
    let mut meaning_only = Vec::with_capacity(QUERIES / 4);
    for _ in 0..QUERIES / 4 {
        let vector = random_vector(&mut rng);
        let t = Instant::now();
        store
            .hybrid_search(
                &owner,
                &SearchQuery {
                    text: "zzzz".into(),
                    ..SearchQuery::default()
                },
                semantic(model, &vector),
                20,
            )
            .await?;
        meaning_only.push(t.elapsed().as_nanos() as u64);
    }
    let mut hybrid = Vec::with_capacity(QUERIES);
    let mut hybrid_filtered = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let text = query_words(&mut rng, &words);
        let vector = random_vector(&mut rng);
        let query = SearchQuery {
            text: text.clone(),
            ..SearchQuery::default()
        };
        let t = Instant::now();
        store
            .hybrid_search(&owner, &query, semantic(model, &vector), 20)
            .await?;
        hybrid.push(t.elapsed().as_nanos() as u64);
        let query = SearchQuery {
            text,
            since: Some(since.clone()),
            ..SearchQuery::default()
        };
        let t = Instant::now();
        store
            .hybrid_search(&owner, &query, semantic(model, &vector), 20)
            .await?;
        hybrid_filtered.push(t.elapsed().as_nanos() as u64);
    }
    let database_bytes = std::fs::metadata(dir.path().join(chronicle_store::DATABASE_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(json!({
        "benchmark": "search",
        "machine": crate::report::machine(),
        "memories": memories,
        "segments": conversations * SEGMENTS_PER_CONVERSATION,
        "index_memories_per_second": memories as f64 / memory_seconds.max(1e-9),
        "index_segments_per_second": (conversations * SEGMENTS_PER_CONVERSATION) as f64 / segment_seconds.max(1e-9),
        "queries": QUERIES,
        "mean_hits": hits as f64 / QUERIES as f64,
        "search_us": latency_summary(plain),
        "search_since_us": latency_summary(filtered),
        "dimensions": DIMENSIONS,
        "vectors": vectors,
        "store_vectors_per_second": vectors as f64 / vector_seconds.max(1e-9),
        "first_search_by_meaning_seconds": first_search_seconds,
        "vector_index_resident_bytes": resident_after.saturating_sub(resident_before),
        "meaning_only_search_us": latency_summary(meaning_only),
        "hybrid_search_us": latency_summary(hybrid),
        "hybrid_search_since_us": latency_summary(hybrid_filtered),
        "database_bytes": database_bytes,
    }))
}
