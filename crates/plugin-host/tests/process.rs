//! The process runtime against a plugin that speaks the wire protocol by hand
//! (`fixtures/raw_plugin.py`, run through a `plugin.toml`): handshake, calls, metadata in both
//! directions, service calls and permissions, and every way a process can misbehave.

mod common;

use std::time::Duration;

use chronicle_plugin_api::{Event, Permission};
use chronicle_plugin_host::{PluginHost, PluginStatus, Status};
use common::{Project, dispatch, status};
use serde_json::{Value, json};

/// A project with the raw plugin installed as `raw` (and more copies under other ids).
fn project(plugins_yml: &str, ids: &[&str]) -> Project {
    let project = Project::new(plugins_yml);
    for id in ids {
        project.write(
            &format!("plugins/{id}/plugin.toml"),
            "command = \"python3\"\nargs = [\"main.py\"]\nprotocol_version = \"1.0\"\n",
        );
        project.write(
            &format!("plugins/{id}/main.py"),
            include_str!("fixtures/raw_plugin.py"),
        );
    }
    project
}

/// Waits (bounded) until the plugin is serving again after a crash.
async fn until_initialized(host: &PluginHost, id: &str) -> PluginStatus {
    for _ in 0..200 {
        let current = status(host, id);
        if current.status == "initialized" {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} did not come back: {:?}", status(host, id));
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_process_plugin_shakes_hands_handles_events_and_shares_metadata_both_ways() {
    let project = project(
        concat!(
            "plugins:\n",
            "  a: {enabled: true, events: [conversation.complete], priority: 1, record_in_metadata: true}\n",
            "  raw: {enabled: true, events: [conversation.complete], priority: 2}\n",
            "  b: {enabled: true, events: [conversation.complete], priority: 3, record_in_metadata: true}\n",
        ),
        &["raw"],
    );
    let host = project.start_processes(|_| {}).await;
    let listed = status(&host, "raw");
    assert_eq!(
        (
            listed.runtime.to_string(),
            listed.status.as_str(),
            listed.name.as_str()
        ),
        ("process".into(), "initialized", "Raw Plugin")
    );
    assert_eq!(listed.restarts, Some(0));
    let pid = listed.pid.expect("a running process has a pid");
    assert!(process_alive(pid));

    let record = dispatch(
        &host,
        Event::ConversationComplete,
        json!({"transcript": "hello"}),
    )
    .await;
    let statuses: Vec<_> = record.plugins.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [Status::Executed; 3]);
    let raw = record.outcome("raw").unwrap().result.as_ref().unwrap();
    assert_eq!(raw.data["data"], json!({"transcript": "hello"}));
    assert_eq!(raw.data["event"], "conversation.complete");
    assert_eq!(
        record.metadata["seen"],
        json!(["a", "raw", "b"]),
        "native → process → native"
    );

    host.shutdown().await;
    for _ in 0..100 {
        if !process_alive(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !process_alive(pid),
        "the process exited and was reaped on shutdown"
    );
}

#[tokio::test]
async fn failures_are_the_plugins_own_and_crashed_processes_come_back() {
    let project = project(
        concat!(
            "plugins:\n",
            "  raises: {enabled: true, events: [transcript.batch], mode: raise}\n",
            "  sleeps: {enabled: true, events: [transcript.batch], mode: sleep, seconds: 30, timeout: 0.5}\n",
            "  exits: {enabled: true, events: [transcript.batch], mode: exit}\n",
            "  a: {enabled: true, events: [transcript.batch]}\n",
        ),
        &["raises", "sleeps", "exits"],
    );
    let host = project.start_processes(|_| {}).await;
    let pid_before = |id: &str| status(&host, id).pid.expect("pid");
    let (sleeps_pid, exits_pid) = (pid_before("sleeps"), pid_before("exits"));

    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    let outcomes: Vec<_> = record
        .plugins
        .iter()
        .map(|p| {
            (
                p.plugin_id.to_string(),
                p.status,
                p.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes[0],
        ("raises".into(), Status::Failed, "ValueError: boom".into())
    );
    assert_eq!(
        (outcomes[1].0.as_str(), outcomes[1].1),
        ("sleeps", Status::TimedOut)
    );
    assert_eq!(
        (outcomes[2].0.as_str(), outcomes[2].1),
        ("exits", Status::Failed)
    );
    assert!(
        outcomes[2].2.contains("the plugin process exited"),
        "{}",
        outcomes[2].2
    );
    assert_eq!(
        (outcomes[3].0.as_str(), outcomes[3].1),
        ("a", Status::Executed),
        "the chain goes on"
    );

    for (id, old_pid) in [("sleeps", sleeps_pid), ("exits", exits_pid)] {
        let back = until_initialized(&host, id).await;
        assert_eq!(back.restarts, Some(1), "{id}");
        assert_ne!(back.pid, Some(old_pid), "{id} runs in a new process");
        assert!(!process_alive(old_pid), "{id}'s old process is gone");
    }
    // Serving again: the same misbehaviour, recorded again, proves the new process answers.
    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    assert_eq!(record.outcome("raises").unwrap().status, Status::Failed);
    assert_eq!(record.outcome("a").unwrap().status, Status::Executed);
    host.shutdown().await;
}

#[tokio::test]
async fn while_a_crashed_process_restarts_the_plugin_is_degraded_and_skipped() {
    let project = project(
        "plugins:\n  raw: {enabled: true, events: [transcript.batch], mode: exit}\n",
        &["raw"],
    );
    let host = project
        .start_processes(|config| config.process.restart_base = Duration::from_secs(3600))
        .await;
    dispatch(&host, Event::TranscriptBatch, json!({})).await;
    let mut listed = status(&host, "raw");
    assert_eq!(
        listed.status, "degraded",
        "degraded from the moment the call saw the process go"
    );
    // The exit status follows once the process is reaped.
    for _ in 0..250 {
        if listed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("exit code 3")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        listed = status(&host, "raw");
    }
    assert!(
        listed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("exit code 3"),
        "{listed:?}"
    );
    assert!(
        listed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("exiting in the middle of a call"),
        "the log tail explains: {listed:?}"
    );
    let record = dispatch(&host, Event::TranscriptBatch, json!({})).await;
    assert_eq!(record.plugins[0].status, Status::Skipped);
    assert!(
        record.plugins[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("not initialized (degraded)")
    );
    host.shutdown().await;
}

#[tokio::test]
async fn service_calls_are_permission_checked_and_recorded_with_their_event() {
    let project = project(
        concat!(
            "plugins:\n",
            "  granted: {enabled: true, events: [transcript.batch], mode: service, permissions: [database]}\n",
            "  denied: {enabled: true, events: [transcript.batch], mode: service, permissions: []}\n",
            "  undeclared: {enabled: true, events: [transcript.batch], mode: service}\n",
        ),
        &["granted", "denied", "undeclared"],
    );
    let host = project.start_processes(|_| {}).await;
    let record = dispatch(
        &host,
        Event::TranscriptBatch,
        json!({"transcript": "note this"}),
    )
    .await;
    let granted = record.outcome("granted").unwrap().result.as_ref().unwrap();
    assert!(granted.success, "{granted:?}");
    assert!(
        granted
            .message
            .as_deref()
            .unwrap_or("")
            .contains("inserted_id")
    );
    let denied: Value = serde_json::from_str(
        record
            .outcome("denied")
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .message
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(denied["error"]["code"], -32030);
    assert_eq!(
        denied["error"]["message"],
        "plugin `denied` may not use insert_one: add `database` to its `permissions` in config/plugins.yml"
    );
    let calls: Vec<_> = record
        .services
        .iter()
        .map(|c| (c.plugin_id.to_string(), c.call, c.allowed))
        .collect();
    assert_eq!(
        calls,
        [
            ("granted".into(), "insert_one", true),
            ("denied".into(), "insert_one", false),
            ("undeclared".into(), "insert_one", true)
        ]
    );
    // No `permissions` key: every service, as upstream, and the host learns the least list.
    let undeclared = status(&host, "undeclared");
    assert_eq!(undeclared.permissions, None);
    assert_eq!(undeclared.permissions_used, [Permission::Database]);
    assert_eq!(status(&host, "denied").permissions_used, []);
    let stored = host
        .backends()
        .documents
        .find("granted", "notes", &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(stored[0]["text"], "note this");
    host.shutdown().await;
}

#[tokio::test]
async fn several_calls_are_in_flight_at_once() {
    let project = project(
        "plugins:\n  raw: {enabled: true, events: [transcript.streaming], mode: sleep, seconds: 0.3}\n",
        &["raw"],
    );
    let host = project.start_processes(|_| {}).await;
    let calls = (0..4).map(|_| dispatch(&host, Event::TranscriptStreaming, json!({})));
    let records = futures_util::future::join_all(calls).await;
    assert!(
        records
            .iter()
            .all(|r| r.plugins[0].status == Status::Executed)
    );
    let peak = records
        .iter()
        .filter_map(|r| r.plugins[0].result.as_ref()?.data["max_in_flight"].as_u64())
        .max();
    assert_eq!(
        peak,
        Some(4),
        "the plugin had all four calls in hand at once"
    );
    host.shutdown().await;
}

#[tokio::test]
async fn handshake_failures_are_located_and_explained() {
    let project = project(
        concat!(
            "plugins:\n",
            "  future: {enabled: true, events: [transcript.batch], protocol_version: '2.0'}\n",
            "  hangs: {enabled: true, events: [transcript.batch], init: hang}\n",
            "  dies: {enabled: true, events: [transcript.batch], init: exit}\n",
            "  narrow: {enabled: true, events: [transcript.batch], access_levels: [button]}\n",
        ),
        &["future", "hangs", "dies", "narrow"],
    );
    let host = project
        .start_processes(|config| config.process.handshake_timeout = Duration::from_millis(500))
        .await;
    let error = |id: &str| {
        let listed = status(&host, id);
        (listed.status.to_string(), listed.error.unwrap_or_default())
    };
    let (state, message) = error("future");
    assert_eq!(state, "failed");
    assert_eq!(
        message,
        "plugin `future` speaks protocol 2.0 (raw 0.0.1), which is not compatible with the host's protocol 1.0"
    );
    assert_eq!(
        error("hangs"),
        (
            "degraded".into(),
            "no answer to initialize within 0.5 s".into()
        )
    );
    let (state, message) = error("dies");
    assert_eq!(state, "failed");
    assert!(
        message.contains("during initialize (exit code 1)")
            && message.contains("cannot start: missing configuration"),
        "{message}"
    );
    // SUPPORTED_ACCESS_LEVELS informs: the plugin starts and gets its events anyway.
    assert_eq!(error("narrow"), ("initialized".into(), String::new()));
    host.shutdown().await;
}

#[test]
fn a_bad_manifest_fails_its_plugin_with_its_location() {
    let project = Project::new("plugins:\n  tool: {enabled: true, events: [transcript.batch]}\n");
    project.write(
        "plugins/tool/plugin.toml",
        "command = \"x\"\nprotocol_version = \"1.0\"\nretries = 3\n",
    );
    let loaded = project.load().unwrap_or_else(|errors| panic!("{errors}"));
    let text: String = loaded.errors().map(ToString::to_string).collect();
    assert!(
        text.contains(
            "plugins/tool/plugin.toml:3:1: invalid plugin manifest: unknown field `retries`"
        ),
        "{text}"
    );
    let tool = &loaded.host.plugins()[0];
    assert_eq!(tool.status, "failed");
    assert!(
        tool.error
            .clone()
            .unwrap_or_default()
            .contains("unknown field `retries`")
    );
}

#[tokio::test]
async fn a_call_its_caller_abandons_early_does_not_restart_the_process() {
    // `a` calls `raw`, which takes 2 s; `a` itself may take only 0.3 s. Its caller gives up
    // long before raw's own 5 s deadline: raw is not at fault and keeps its process.
    let project = project(
        concat!(
            "plugins:\n",
            "  a: {enabled: true, events: [button.single_press], call: raw, permissions: [call_plugin], timeout: 0.3}\n",
            "  raw: {enabled: true, events: [], mode: sleep, seconds: 2}\n",
        ),
        &["raw"],
    );
    let host = project.start_processes(|_| {}).await;
    let pid = status(&host, "raw").pid;
    let record = dispatch(&host, Event::ButtonSinglePress, json!({})).await;
    assert_eq!(record.plugins[0].status, Status::TimedOut);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed = status(&host, "raw");
    assert_eq!(
        (listed.status.as_str(), listed.restarts, listed.pid),
        ("initialized", Some(0), pid)
    );
    host.shutdown().await;
}
