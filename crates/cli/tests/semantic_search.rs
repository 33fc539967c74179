//! Search by meaning against the real binary and a local server that speaks OpenAI's
//! embeddings protocol (`chronicle-test-servers`): the background embedder embeds what is
//! written, `GET /api/search` fuses words and meaning, per user, kept in step with edits; an
//! embeddings server that is down, refuses or answers garbage leaves search by words working
//! and saying why; the embedder catches up once the server is back; `chronicle memories
//! reindex` backfills with a new model.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chronicle_test_servers::{EmbeddingReply, Embeddings};
use reqwest::Method;
use serde_json::{Value, json};
use support::{ALICE, Project, Server};

const BOB: (&str, &str) = ("bob@example.com", "bob-password-12");

/// A toy embedding model: how much a text is about food, health and work (and a little of
/// nothing, so no vector is zero). It shares no word lists with the texts' words on purpose:
/// "groceries" is about food although no memory says it.
fn topics(text: &str) -> Vec<f32> {
    let text = text.to_lowercase();
    let about = |words: &[&str]| words.iter().filter(|w| text.contains(*w)).count() as f32;
    vec![
        about(&["groceries", "milk", "bread", "shopping", "oat"]),
        about(&["dentist", "doctor", "teeth", "orthodont"]),
        about(&["meeting", "deadline", "report"]),
        0.1,
    ]
}

fn embed(texts: &[String]) -> EmbeddingReply {
    EmbeddingReply::Vectors(texts.iter().map(|text| topics(text)).collect())
}

fn serve_with(project: &Project, base_url: &str, model: &str) -> Server {
    project.serve(
        &[],
        &[
            ("EMBEDDINGS_BASE_URL", base_url),
            ("EMBEDDINGS_MODEL", model),
        ],
    )
}

async fn search(server: &Server, token: &str, q: &str) -> Value {
    let (status, body) = server.get(Some(token), &format!("/api/search?q={q}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn ids(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|hit| hit["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn add_memory(server: &Server, token: &str, content: &str) -> String {
    let (status, body) = server
        .json(
            Method::POST,
            token,
            "/api/memories",
            json!({"content": content}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["memory"]["memory_id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn meaning_finds_what_shares_no_word_per_user_and_in_step_with_edits() {
    let embeddings = Embeddings::start(embed).await;
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    project.add_user(BOB);
    let server = serve_with(&project, &format!("{}/v1", embeddings.base_url()), "toy");
    let alice = server.login(ALICE).await;
    let bob = server.login(BOB).await;

    let milk = add_memory(&server, &alice, "Buy oat milk and bread").await;
    let report = add_memory(&server, &alice, "The report deadline is Friday").await;
    let bobs = add_memory(&server, &bob, "Bob wants milk and bread too").await;

    // The embedder takes what was written; "groceries" is in no memory.
    server
        .eventually("the milk memory found by meaning", || async {
            ids(&search(&server, &alice, "groceries").await).contains(&milk)
        })
        .await;
    let answer = search(&server, &alice, "groceries").await;
    assert_eq!(answer["ranking"], "rrf", "{answer}");
    assert_eq!(answer["hits"][0]["id"], milk.as_str(), "{answer}");
    assert_eq!(answer["hits"][0]["matched_by"], "meaning");
    assert!(
        !ids(&answer).contains(&bobs),
        "Bob's memory is not Alice's: {answer}"
    );
    // Ranked by the fusion: the report is about something else and comes after, if at all.
    let found = ids(&answer);
    if let Some(at) = found.iter().position(|id| *id == report) {
        assert!(at > 0);
    }
    // Words and meaning together: "milk" is said and meant.
    let answer = search(&server, &alice, "milk").await;
    assert_eq!(answer["hits"][0]["id"], milk.as_str());
    assert_eq!(answer["hits"][0]["matched_by"], "both");
    assert!(
        answer["hits"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("<mark>milk</mark>")),
        "{answer}"
    );
    // The requests carried the configured model; texts were embedded in batches.
    assert!(
        embeddings
            .requests()
            .iter()
            .all(|request| request["model"] == "toy")
    );

    // An edit: the old meaning is gone at once, the new one found once embedded.
    let (status, _) = server
        .json(
            Method::PATCH,
            &alice,
            &format!("/api/memories/{milk}"),
            json!({"content": "Call the orthodontist about my teeth"}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!ids(&search(&server, &alice, "groceries").await).contains(&milk));
    server
        .eventually("the edited memory found by its new meaning", || async {
            let answer = search(&server, &alice, "doctor").await;
            answer["hits"][0]["id"] == milk.as_str()
        })
        .await;
    // A delete: gone from both rankings.
    let (status, _) = server
        .send(
            Method::DELETE,
            Some(&alice),
            &format!("/api/memories/{milk}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(!ids(&search(&server, &alice, "doctor").await).contains(&milk));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_down_refusing_or_garbled_leaves_search_by_words_saying_why() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    // Nothing listens on port 9 of 127.0.0.1 (discard, never served here).
    let server = serve_with(&project, "http://127.0.0.1:9/v1", "toy");
    let alice = server.login(ALICE).await;
    let milk = add_memory(&server, &alice, "Buy oat milk and bread").await;
    let answer = search(&server, &alice, "milk").await;
    assert_eq!(answer["ranking"], "bm25");
    assert_eq!(ids(&answer), vec![milk.clone()]);
    assert!(
        answer["note"]
            .as_str()
            .is_some_and(|note| note.contains("unreachable")),
        "{answer}"
    );
    drop(server);

    for (reply, says) in [
        (EmbeddingReply::Status(500), "refused"),
        (EmbeddingReply::Garbage, "unusable"),
        (EmbeddingReply::Vectors(vec![]), "0 vectors for 1 texts"),
    ] {
        let reply = Arc::new(reply);
        let embeddings = Embeddings::start({
            let reply = Arc::clone(&reply);
            move |_| (*reply).clone()
        })
        .await;
        let server = serve_with(&project, &format!("{}/v1", embeddings.base_url()), "toy");
        let alice = server.login(ALICE).await;
        let answer = search(&server, &alice, "milk").await;
        assert_eq!(answer["ranking"], "bm25", "{answer}");
        assert_eq!(ids(&answer), vec![milk.clone()]);
        assert!(
            answer["note"]
                .as_str()
                .is_some_and(|note| note.contains(says)),
            "{says}: {answer}"
        );
    }

    // Without an embeddings server, by words alone, saying so.
    let server = project.serve(&[], &[]);
    let alice = server.login(ALICE).await;
    let answer = search(&server, &alice, "milk").await;
    assert_eq!(answer["ranking"], "bm25");
    assert!(
        answer["note"]
            .as_str()
            .is_some_and(|note| note.contains("no embeddings server is configured"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedder_catches_up_once_the_server_is_back_and_reindex_backfills_a_new_model() {
    let up = Arc::new(AtomicBool::new(false));
    let embeddings = Embeddings::start({
        let up = Arc::clone(&up);
        move |texts| {
            if up.load(Ordering::SeqCst) {
                embed(texts)
            } else {
                EmbeddingReply::Status(503)
            }
        }
    })
    .await;
    let base_url = format!("{}/v1", embeddings.base_url());
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let server = serve_with(&project, &base_url, "toy");
    let alice = server.login(ALICE).await;
    let milk = add_memory(&server, &alice, "Buy oat milk and bread").await;
    server
        .eventually("the embedder tried and failed", || async {
            !embeddings.requests().is_empty()
        })
        .await;
    assert!(!ids(&search(&server, &alice, "groceries").await).contains(&milk));
    up.store(true, Ordering::SeqCst);
    server
        .eventually("the memory embedded after the server came back", || async {
            ids(&search(&server, &alice, "groceries").await).contains(&milk)
        })
        .await;
    drop(server);

    // Another model: nothing of it is embedded, and reindex embeds it all.
    let reindex = || {
        project
            .chronicle()
            .args(["memories", "reindex"])
            .env("EMBEDDINGS_BASE_URL", &base_url)
            .env("EMBEDDINGS_MODEL", "toy-2")
            .output()
            .expect("chronicle memories reindex")
    };
    let reindexed = reindex();
    let said = String::from_utf8_lossy(&reindexed.stderr);
    assert!(reindexed.status.success(), "{said}");
    assert!(said.contains("1 texts to embed with toy-2"), "{said}");
    assert!(said.contains("embedded 1 texts"), "{said}");
    let again = reindex();
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 texts to embed"));
    // Without a server configured it says what to set.
    let unset = project
        .chronicle()
        .args(["memories", "reindex"])
        .output()
        .expect("chronicle memories reindex");
    assert!(!unset.status.success());
    assert!(String::from_utf8_lossy(&unset.stderr).contains("EMBEDDINGS_BASE_URL"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_time_in_the_question_filters_in_the_askers_time_zone() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let server = project.serve(&[], &[]);
    let alice = server.login(ALICE).await;
    let milk = add_memory(&server, &alice, "Buy oat milk and bread").await;

    // Said just now: in the past hour and today (wherever the asker is), not yesterday.
    let answer = search(&server, &alice, "milk%20in%20the%20past%20hour").await;
    assert_eq!(ids(&answer), vec![milk.clone()], "{answer}");
    assert_eq!(answer["searched_for"], "milk");
    assert_eq!(answer["time_filter"]["phrase"], "in the past hour");
    assert!(ids(&search(&server, &alice, "milk%20yesterday").await).is_empty());
    for tz in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin"] {
        let answer = search(&server, &alice, &format!("milk%20today&tz={tz}")).await;
        assert_eq!(ids(&answer), vec![milk.clone()], "{tz}: {answer}");
        assert_eq!(answer["time_filter"]["time_zone"], tz);
    }
    // A time and nothing more: everything then, newest first.
    let answer = search(&server, &alice, "what%20did%20I%20say%20today%3F").await;
    assert_eq!(answer["ranking"], "time", "{answer}");
    assert_eq!(ids(&answer), vec![milk.clone()]);
    assert_eq!(answer["hits"][0]["matched_by"], "time");
    // A weekday alone is a word, not a window; an unknown zone is refused.
    let answer = search(&server, &alice, "milk%20on%20Tuesday").await;
    assert_eq!(answer["time_filter"], Value::Null);
    let (status, body) = server
        .get(Some(&alice), "/api/search?q=milk%20today&tz=Mars/Olympus")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("time zone"))
    );
}
