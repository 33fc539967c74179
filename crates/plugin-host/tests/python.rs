//! Python plugins under the SDK, through the real host: the guide's examples as shipped, a
//! plugin reading another's documents, metadata across runtimes, and Python plugins that
//! raise, overrun, exit mid-call or call what they were not granted.

mod common;

use std::time::Duration;

use chronicle_plugin_api::Event;
use chronicle_plugin_host::{DispatchRequest, Status};
use common::{Project, dispatch, object, status};
use serde_json::json;

fn repo_plugin(id: &str, file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins")
        .join(id)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Copies a shipped example plugin into the project.
fn install_example(project: &Project, id: &str) {
    for file in ["__init__.py", "plugin.py", "config.yml"] {
        project.write(&format!("plugins/{id}/{file}"), &repo_plugin(id, file));
    }
}

/// Writes a one-file plugin in the guide's layout.
fn install(project: &Project, id: &str, class: &str, code: &str) {
    project.write(&format!("plugins/{id}/plugin.py"), code);
    project.write(
        &format!("plugins/{id}/__init__.py"),
        &format!("from .plugin import {class}\n"),
    );
}

const READER: &str = r#"from advanced_omi_backend.database import get_database
from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


class TodoReaderPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ["conversation"]

    async def on_conversation_complete(self, context):
        todos = await get_database("todo_extractor_py")["todos"].find({"user_id": context.user_id}).to_list(None)
        tasks = sorted(todo["task"] for todo in todos)
        return PluginResult(success=True, message=f"{len(tasks)} todos", data={"tasks": tasks})
"#;

#[tokio::test]
async fn the_guides_todo_extractor_stores_todos_that_another_plugin_reads_back() {
    let project = Project::new(concat!(
        "plugins:\n",
        "  todo_extractor_py: {enabled: true, events: [conversation.complete], permissions: [database]}\n",
        "  todo_reader: {enabled: true, events: [conversation.complete], permissions: [database], priority: 200}\n",
    ));
    install_example(&project, "todo_extractor_py");
    install(&project, "todo_reader", "TodoReaderPlugin", READER);
    let host = project.start_processes(|_| {}).await;
    for id in ["todo_extractor_py", "todo_reader"] {
        let listed = status(&host, id);
        assert_eq!(
            (listed.status.as_str(), listed.runtime.to_string()),
            ("initialized", "python".to_owned()),
            "{listed:?}"
        );
    }
    let record = dispatch(
        &host,
        Event::ConversationComplete,
        json!({"transcript": "I need to buy milk. TODO: call the plumber"}),
    )
    .await;
    let extracted = record
        .outcome("todo_extractor_py")
        .unwrap()
        .result
        .clone()
        .expect("a result");
    assert!(extracted.success, "{extracted:?}");
    assert_eq!(
        extracted.message.as_deref(),
        Some("Extracted 2 action items")
    );
    let read = record
        .outcome("todo_reader")
        .unwrap()
        .result
        .clone()
        .expect("a result");
    // The guide's patterns are greedy (`I need to (.+)`), and its code runs as written.
    assert_eq!(
        read.data["tasks"],
        json!(["buy milk. TODO: call the plumber", "call the plumber"])
    );
    let stored = host
        .backends()
        .documents
        .find("todo_extractor_py", "todos", &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored[0]["created_at"]
            .as_str()
            .is_some_and(|at| at.starts_with("20")),
        "datetime stored as ISO text: {:?}",
        stored[0]
    );
    host.shutdown().await;
}

const MISBEHAVING: &str = r#"import asyncio
import os

from advanced_omi_backend.database import get_database
from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


class MisbehavingPlugin(BasePlugin):
    async def on_transcript(self, context):
        mode = self.config.get("mode")
        if mode == "raise":
            raise ValueError("boom")
        if mode == "sleep":
            await asyncio.sleep(60)
        if mode == "exit":
            os._exit(3)
        if mode == "database":
            await get_database()["notes"].insert_one({"text": "not allowed"})
        return PluginResult(success=True, message=f"{mode} ok")
"#;

#[tokio::test]
async fn python_failures_are_that_plugins_own_and_crashed_ones_serve_again() {
    let mut yml = String::from("plugins:\n");
    for (id, extra) in [
        ("raises", ""),
        ("sleeps", ", timeout: 0.5"),
        ("exits", ""),
        ("database", ", permissions: [llm]"),
    ] {
        yml.push_str(&format!(
            "  {id}: {{enabled: true, events: [transcript.batch], mode: {id}{extra}}}\n"
        ));
    }
    yml.push_str("  a: {enabled: true, events: [transcript.batch]}\n");
    let project = Project::new(
        &yml.replace("mode: raises", "mode: raise")
            .replace("mode: sleeps", "mode: sleep")
            .replace("mode: exits", "mode: exit"),
    );
    for id in ["raises", "sleeps", "exits", "database"] {
        install(&project, id, "MisbehavingPlugin", MISBEHAVING);
    }
    let host = project.start_processes(|_| {}).await;
    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    let outcome = |id: &str| {
        let o = record.outcome(id).unwrap();
        (o.status, o.reason.as_deref().unwrap_or_default().to_owned())
    };
    assert_eq!(
        outcome("raises"),
        (Status::Failed, "ValueError: boom".to_owned())
    );
    assert_eq!(outcome("sleeps").0, Status::TimedOut);
    let (exits, reason) = outcome("exits");
    assert_eq!(exits, Status::Failed);
    assert!(reason.contains("the plugin process exited"), "{reason}");
    let (denied, reason) = outcome("database");
    assert_eq!(denied, Status::Failed);
    assert!(
        reason.contains("add `database` to its `permissions` in config/plugins.yml"),
        "{reason}"
    );
    assert_eq!(
        outcome("a").0,
        Status::Executed,
        "the host and the other plugins carry on"
    );

    for id in ["sleeps", "exits"] {
        let mut listed = status(&host, id);
        for _ in 0..300 {
            if listed.status == "initialized" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            listed = status(&host, id);
        }
        assert_eq!(
            (listed.status.as_str(), listed.restarts),
            ("initialized", Some(1)),
            "{listed:?}"
        );
    }
    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    assert_eq!(
        record.outcome("raises").unwrap().status,
        Status::Failed,
        "still answering"
    );
    assert_eq!(record.outcome("a").unwrap().status, Status::Executed);
    host.shutdown().await;
}

const METADATA: &str = r#"from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


class MetadataPlugin(BasePlugin):
    async def on_conversation_complete(self, context):
        context.metadata.setdefault("seen", []).append(self.config["plugin_id"])
        context.metadata["python_saw"] = list(context.metadata["seen"])
        return PluginResult(success=True, message="noted")
"#;

#[tokio::test]
async fn metadata_flows_between_native_and_python_plugins_both_ways() {
    let project = Project::new(concat!(
        "plugins:\n",
        "  a: {enabled: true, events: [conversation.complete], priority: 1, record_in_metadata: true}\n",
        "  py_one: {enabled: true, events: [conversation.complete], priority: 2}\n",
        "  b: {enabled: true, events: [conversation.complete], priority: 3, record_in_metadata: true}\n",
        "  py_two: {enabled: true, events: [conversation.complete], priority: 4}\n",
    ));
    install(&project, "py_one", "MetadataPlugin", METADATA);
    install(&project, "py_two", "MetadataPlugin", METADATA);
    let host = project.start_processes(|_| {}).await;
    let record = host
        .dispatch(DispatchRequest {
            metadata: object(json!({"end_reason": "user_stopped"})),
            ..DispatchRequest::new(
                Event::ConversationComplete,
                "u1",
                object(json!({"transcript": "hi"})),
            )
        })
        .await;
    assert_eq!(
        record.metadata["seen"],
        json!(["a", "py_one", "b", "py_two"])
    );
    assert_eq!(
        record.metadata["python_saw"],
        json!(["a", "py_one", "b", "py_two"])
    );
    assert_eq!(record.metadata["end_reason"], "user_stopped");
    host.shutdown().await;
}
