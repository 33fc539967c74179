//! `chronicle-bench chat`: the chat's own time, apart from the language model's.
//!
//! Starts the release `chronicle serve` with a store of 2,000 conversations and a local chat
//! completions server that answers at once: a `search` tool call, then an answer citing the
//! first source, both streamed. Each question is then the server's own work: the two rounds'
//! requests over loopback, the search, numbering and citing the sources, saving both
//! messages and streaming the events. It reports that time per question (first event and last)
//! over `ROUNDS` questions; a real model adds its own time on top.

use std::time::Instant;

use anyhow::{Context, bail};
use chronicle_plugin_api::EndReason;
use chronicle_store::{NewConversation, Store};
use chronicle_test_servers::{Chat, ChatReply};
use serde_json::{Value, json};

use crate::devices::{server_binary, start_server, token};
use crate::report::latency_summary;

const CONVERSATIONS: usize = 2_000;
const ROUNDS: usize = 200;

async fn fill(store: &Store, user_id: &str) -> anyhow::Result<()> {
    for n in 0..CONVERSATIONS {
        let conversation = store
            .create_conversation(NewConversation {
                user_id: user_id.to_owned(),
                client_id: "bench".into(),
                session_id: None,
                title: format!("Bench conversation {n}"),
                audio_path: None,
            })
            .await?;
        let text = if n % 100 == 0 {
            "I promised Anna to bring the camping tent on Saturday."
        } else {
            "We talked about the weather, the train and lunch plans."
        };
        let id = conversation.conversation_id;
        store
            .set_transcript(
                &id,
                text,
                vec![json!({"text": text, "start": 0.0, "end": 5.0})],
                None,
            )
            .await?;
        store
            .complete_conversation(&id, EndReason::UserStopped, Some(5.0))
            .await?;
    }
    Ok(())
}

pub async fn chat() -> anyhow::Result<Value> {
    let model = Chat::start(|request: &Value| {
        let read = request["messages"]
            .as_array()
            .is_some_and(|messages| messages.iter().any(|m| m["role"] == "tool"));
        if read {
            ChatReply::Content("You promised Anna to bring the camping tent [1].".into())
        } else if request.get("tools").is_some() {
            ChatReply::ToolCalls(vec![("search".into(), json!({"query": "promise Anna"}))])
        } else {
            ChatReply::Content(r#"{"title": "t", "summary": "s", "facts": []}"#.into())
        }
    })
    .await;
    let binary = server_binary()?;
    let base_url = format!("{}/v1", model.base_url());
    let server = start_server(
        &binary,
        &[("LLM_BASE_URL", base_url.as_str()), ("LLM_MODEL", "bench")],
    )?;
    let token = token(&server.base).await?;
    let http = reqwest::Client::new();
    let me: Value = http
        .get(format!("{}/api/users/me", server.base))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let user_id = me["id"].as_str().context("no user id")?.to_owned();
    let store = Store::open(&server.data_folder()).await?;
    fill(&store, &user_id).await?;

    let session: Value = http
        .post(format!("{}/api/chat/sessions", server.base))
        .bearer_auth(&token)
        .json(&json!({"title": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let session = session["session"]["session_id"]
        .as_str()
        .context("no session id")?
        .to_owned();
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut response = http
            .post(format!(
                "{}/api/chat/sessions/{session}/messages",
                server.base
            ))
            .bearer_auth(&token)
            .json(&json!({"content": "What did I promise Anna?"}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("the chat answered {}", response.status());
        }
        let mut body = Vec::new();
        let mut first_seen = false;
        while let Some(chunk) = response.chunk().await? {
            if !first_seen {
                first.push(started.elapsed().as_nanos() as u64);
                first_seen = true;
            }
            body.extend_from_slice(&chunk);
        }
        last.push(started.elapsed().as_nanos() as u64);
        let text = String::from_utf8_lossy(&body);
        if !text.contains("event: done") || !text.contains("camping tent") {
            bail!("the chat did not answer: {text}");
        }
    }
    Ok(json!({
        "benchmark": "chat",
        "machine": crate::report::machine(),
        "conversations": CONVERSATIONS,
        "questions": ROUNDS,
        "model_rounds_per_question": 2,
        "first_event_us": latency_summary(first),
        "answered_us": latency_summary(last),
    }))
}
