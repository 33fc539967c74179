//! `/mcp` against the official MCP Python SDK (`mcp` from PyPI, installed into
//! `target/test-mcp` on first use): with a write key and a read key it lists the tools and
//! calls each one against the real server, on a store holding a conversation, memories and
//! todos; and the transport's rules (a request from another site's page, an unknown protocol
//! version, no token) are checked over plain HTTP.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use chronicle_host_ports::DocumentStore;
use chronicle_plugin_api::EndReason;
use chronicle_store::NewConversation;
use serde_json::{Value, json};
use support::{ALICE, Project};

/// The SDK, pinned.
const MCP_SDK: &str = "mcp==2.3.0";

/// A Python with the SDK: `target/test-mcp`, made from PyPI the first time.
fn sdk_python() -> PathBuf {
    support::python_venv(
        "test-mcp",
        &[MCP_SDK],
        "import importlib.metadata as m; import mcp.client.streamable_http; assert m.version('mcp') == '2.3.0'",
    )
}

/// Alice's life log: a starred conversation about the dentist, a memory, a todo; and Bob's
/// conversation, which she must never see.
async fn fill(project: &Project) -> String {
    let (store, alice) = project.store_with(ALICE.0).await;
    let bob = store
        .create_user("bob@example.com", "x", false)
        .await
        .expect("bob");
    let mut ids = Vec::new();
    for (user, title, text) in [
        (
            &alice.id,
            "Errands and the dentist",
            "Remind me to buy oat milk. The dentist is on Tuesday at nine.",
        ),
        (
            &bob.id,
            "Bob's secret plans",
            "The dentist for Bob is a secret.",
        ),
    ] {
        let conversation = store
            .create_conversation(NewConversation {
                user_id: user.clone(),
                client_id: "test-device".into(),
                session_id: None,
                title: title.into(),
                audio_path: None,
            })
            .await
            .expect("conversation");
        let id = conversation.conversation_id;
        store
            .set_transcript(
                &id,
                text,
                vec![json!({"text": text, "start": 0.0, "end": 5.0})],
                None,
            )
            .await
            .expect("transcript");
        store
            .set_title_summary(&id, title, "Oat milk, and the dentist on Tuesday.")
            .await
            .expect("summary");
        store
            .complete_conversation(&id, EndReason::UserStopped, Some(12.0))
            .await
            .expect("complete");
        ids.push(id);
    }
    store
        .add_memory(&alice.id, Some(&ids[0]), "Needs to buy oat milk.")
        .await
        .expect("memory");
    let todo = json!({"user_id": alice.id, "task": "book the dentist", "completed": false, "conversation_id": ids[0]});
    store
        .insert_one(
            "todo_extractor",
            "todos",
            todo.as_object().cloned().unwrap_or_default(),
        )
        .await
        .expect("todo");
    ids.swap_remove(0)
}

/// `chronicle keys create` for Alice: the key.
fn key(project: &Project, scope: &str) -> String {
    let output = project.run(&[
        "keys", "create", "--user", ALICE.0, "--name", scope, "--scope", scope,
    ]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn result<'a>(session: &'a Value, tool: &str, nth: usize) -> &'a Value {
    session["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["tool"] == tool)
        .nth(nth)
        .unwrap_or_else(|| panic!("no call of {tool} in {session}"))
}

fn parsed(result: &Value) -> Value {
    assert_eq!(result["is_error"], false, "{result}");
    serde_json::from_str(result["text"].as_str().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {result}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_lists_the_tools_and_calls_each_one() {
    let python = sdk_python();
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let conversation = fill(&project).await;
    let server = project.serve(&[], &[]);
    let login = server.login(ALICE).await;
    let (status, _) = server
        .send(
            reqwest::Method::POST,
            Some(&login),
            &format!("/api/conversations/{conversation}/star"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (write, read) = (key(&project, "write"), key(&project, "read"));

    let output = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp_client.py"))
        .env("MCP_URL", server.url("/mcp"))
        .env("MCP_WRITE_KEY", &write)
        .env("MCP_READ_KEY", &read)
        .env("CONVERSATION_ID", &conversation)
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "the SDK client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("the client's report");
    let (writer, reader) = (&report["write"], &report["read"]);

    // Every tool, each with a JSON Schema whose properties are described.
    let tools = writer["tools"].as_object().expect("tools");
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "add_memory",
            "get_action_items",
            "get_conversation",
            "list_conversations",
            "list_memories",
            "search"
        ]
    );
    for (name, schema) in tools {
        assert_eq!(schema["type"], "object", "{name}");
        for (property, spec) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                spec["description"].is_string(),
                "{name}.{property} has no description"
            );
        }
    }

    // What each returns, Alice's only.
    let found = parsed(result(writer, "search", 0));
    let hits = found["hits"].as_array().expect("hits");
    assert!(!hits.is_empty(), "{found}");
    assert!(
        hits.iter()
            .all(|hit| hit["conversation_id"] == conversation.as_str()),
        "only Alice's conversation: {found}"
    );
    assert!(
        hits.iter().any(|hit| hit["kind"] == "conversation"
            && hit["snippet"]
                .as_str()
                .is_some_and(|s| s.contains("<mark>dentist</mark>"))),
        "{found}"
    );
    let listed = parsed(result(writer, "list_conversations", 0));
    assert_eq!(listed["total"], 1, "{listed}");
    let starred = parsed(result(writer, "list_conversations", 1));
    assert_eq!(starred["conversations"][0]["starred"], true, "{starred}");
    let detail = parsed(result(writer, "get_conversation", 0));
    assert_eq!(detail["title"], "Errands and the dentist");
    assert!(
        detail["transcript"]
            .as_str()
            .is_some_and(|t| t.contains("Tuesday at nine"))
    );
    assert_eq!(detail["memories"][0]["content"], "Needs to buy oat milk.");
    let missing = result(writer, "get_conversation", 1);
    assert_eq!(missing["is_error"], true, "{missing}");
    let memories = parsed(result(writer, "list_memories", 0));
    assert_eq!(memories["memories"][0]["content"], "Needs to buy oat milk.");
    let todos = parsed(result(writer, "get_action_items", 0));
    assert_eq!(
        todos["action_items"][0]["task"], "book the dentist",
        "{todos}"
    );
    let added = parsed(result(writer, "add_memory", 0));
    assert_eq!(added["added"]["content"], "Anna prefers tea to coffee.");

    // The read key reads the same, and may not add.
    assert_eq!(
        parsed(result(reader, "get_conversation", 0))["title"],
        "Errands and the dentist"
    );
    let refused = result(reader, "add_memory", 0);
    assert_eq!(refused["is_error"], true, "{refused}");
    assert!(
        refused["text"]
            .as_str()
            .is_some_and(|t| t.contains("needs write")),
        "{refused}"
    );
    let (_, memories) = server.get(Some(&login), "/api/memories").await;
    assert_eq!(
        memories["memories"].as_array().map(Vec::len),
        Some(2),
        "{memories}"
    );

    // The transport's rules, over plain HTTP.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}});
    let post = |token: Option<&str>| {
        let request = server.http.post(server.url("/mcp")).json(&initialize);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    let answer: Value = post(Some(&read))
        .send()
        .await
        .expect("mcp")
        .json()
        .await
        .expect("json");
    assert_eq!(
        answer["result"]["protocolVersion"], "2025-06-18",
        "{answer}"
    );
    assert_eq!(post(None).send().await.expect("mcp").status(), 401);
    let cross_site = post(Some(&read))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("mcp");
    assert_eq!(cross_site.status(), 403);
    let old = post(Some(&read))
        .header("mcp-protocol-version", "1999-01-01")
        .send()
        .await
        .expect("mcp");
    assert_eq!(old.status(), 400);
    let stream = server
        .http
        .get(server.url("/mcp"))
        .bearer_auth(&read)
        .send()
        .await
        .expect("mcp");
    assert_eq!(stream.status(), 405);
}
