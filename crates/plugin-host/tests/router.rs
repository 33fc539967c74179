//! Chain semantics: order, declines, stops, metadata, deadlines, failures, lifecycle.

mod common;

use chronicle_plugin_api::Event;
use chronicle_plugin_host::{DispatchRecord, DispatchRequest, Status};
use common::{Project, dispatch, object};
use serde_json::json;

fn statuses(record: &DispatchRecord) -> Vec<(String, Status)> {
    record
        .plugins
        .iter()
        .map(|o| (o.plugin_id.to_string(), o.status))
        .collect()
}

fn s(id: &str, status: Status) -> (String, Status) {
    (id.to_owned(), status)
}

#[tokio::test]
async fn plugins_run_by_priority_with_ties_in_file_order_and_share_metadata() {
    let host = Project::new(concat!(
        "plugins:\n",
        "  a: {enabled: true, events: [conversation.complete], priority: 50, record_in_metadata: true}\n",
        "  b: {enabled: true, events: [conversation.complete], record_in_metadata: true}\n",
        "  c: {enabled: true, events: [conversation.complete], priority: 10, record_in_metadata: true}\n",
        "  d: {enabled: true, events: [conversation.complete], priority: 50, record_in_metadata: true, mode: decline}\n",
        "  e: {enabled: true, events: [transcript.batch]}\n",
    ))
    .host()
    .await;
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
        statuses(&record),
        [
            s("c", Status::Executed),
            s("a", Status::Executed),
            s("d", Status::Declined),
            s("b", Status::Executed)
        ]
    );
    assert_eq!(record.metadata["seen"], json!(["c", "a", "d", "b"]));
    assert_eq!(record.metadata["end_reason"], "user_stopped");
    assert!(
        record.plugins[2].result.is_none(),
        "a decline is not collected"
    );
}

#[tokio::test]
async fn should_continue_false_stops_the_chain_and_failures_do_not() {
    let host = Project::new(concat!(
        "plugins:\n",
        "  a: {enabled: true, events: [transcript.batch], mode: fail_result}\n",
        "  b: {enabled: true, events: [transcript.batch], mode: error}\n",
        "  c: {enabled: true, events: [transcript.batch], mode: panic}\n",
        "  d: {enabled: true, events: [transcript.batch], mode: stop}\n",
        "  e: {enabled: true, events: [transcript.batch]}\n",
        "  f: {enabled: false, events: [transcript.batch]}\n",
    ))
    .host()
    .await;
    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    assert_eq!(
        statuses(&record),
        [
            s("a", Status::Executed),
            s("b", Status::Failed),
            s("c", Status::Failed),
            s("d", Status::Executed),
            s("e", Status::Skipped),
            s("f", Status::Skipped),
        ]
    );
    assert!(!record.plugins[0].result.as_ref().unwrap().success);
    assert_eq!(record.plugins[1].reason.as_deref(), Some("b broke"));
    assert_eq!(
        record.plugins[2].reason.as_deref(),
        Some("panicked: c exploded")
    );
    assert_eq!(
        record.plugins[4].reason.as_deref(),
        Some("chain stopped by `d`")
    );
    assert_eq!(
        record.plugins[5].reason.as_deref(),
        Some("disabled in plugins.yml")
    );
    assert!(record.has_failures());
}

#[tokio::test(start_paused = true)]
async fn a_plugin_that_overruns_its_deadline_times_out_and_the_chain_goes_on() {
    let host = Project::new(concat!(
        "plugins:\n",
        "  a: {enabled: true, events: [transcript.streaming, conversation.complete], mode: sleep, sleep_ms: 3600000}\n",
        "  b: {enabled: true, events: [transcript.streaming, conversation.complete], timeout: 0.5, mode: sleep, sleep_ms: 1000}\n",
        "  c: {enabled: true, events: [transcript.streaming, conversation.complete]}\n",
    ))
    .host()
    .await;
    let record = dispatch(
        &host,
        Event::TranscriptStreaming,
        json!({"transcript": "x"}),
    )
    .await;
    assert_eq!(
        statuses(&record),
        [
            s("a", Status::TimedOut),
            s("b", Status::TimedOut),
            s("c", Status::Executed)
        ]
    );
    assert_eq!(
        record.plugins[0].reason.as_deref(),
        Some("no answer within 5.0 s"),
        "live events default to 5 s"
    );
    assert_eq!(
        record.plugins[1].reason.as_deref(),
        Some("no answer within 0.5 s")
    );
    let record = dispatch(&host, Event::ConversationComplete, json!({})).await;
    assert_eq!(
        record.plugins[0].reason.as_deref(),
        Some("no answer within 30.0 s"),
        "terminal events default to 30 s"
    );
}

#[tokio::test(start_paused = true)]
async fn plugins_that_fail_to_initialize_get_no_events_and_show_their_error() {
    let host = Project::new(concat!(
        "plugins:\n",
        "  a: {enabled: true, events: [transcript.batch], init: unreachable}\n",
        "  b: {enabled: true, events: [transcript.batch], init: broken}\n",
        "  c: {enabled: true, events: [transcript.batch], init: panic}\n",
        "  d: {enabled: true, events: [transcript.batch], init: hang}\n",
        "  e: {enabled: true, events: [transcript.batch]}\n",
    ))
    .host()
    .await;
    let listed: Vec<(String, String, Option<String>)> = host
        .plugins()
        .into_iter()
        .filter(|p| p.configured)
        .map(|p| (p.plugin_id, p.status.to_string(), p.error))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "a".into(),
                "degraded".into(),
                Some("cannot reach the service".into())
            ),
            ("b".into(), "failed".into(), Some("missing api key".into())),
            (
                "c".into(),
                "failed".into(),
                Some("initialize panicked: init exploded".into())
            ),
            (
                "d".into(),
                "degraded".into(),
                Some("initialize did not finish within 30 s".into())
            ),
            ("e".into(), "initialized".into(), None),
        ]
    );
    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    assert_eq!(
        statuses(&record),
        [
            s("a", Status::Skipped),
            s("b", Status::Skipped),
            s("c", Status::Skipped),
            s("d", Status::Skipped),
            s("e", Status::Executed)
        ]
    );
    assert_eq!(
        record.plugins[1].reason.as_deref(),
        Some("not initialized (failed): missing api key")
    );
}

#[tokio::test]
async fn conditions_give_each_plugin_its_own_copy_of_the_data() {
    let host = Project::new(concat!(
        "plugins:\n",
        "  a:\n    enabled: true\n    events: [transcript.streaming]\n    condition: {type: wake_word, wake_words: [hey hermes]}\n",
        "  b:\n    enabled: true\n    events: [transcript.streaming]\n    condition: {type: regex, pattern: '(?i)(?P<verb>turn \\w+)'}\n",
        "  c:\n    enabled: true\n    events: [transcript.streaming]\n",
        "  d:\n    enabled: true\n    events: [transcript.streaming]\n    condition: {type: keyword_anywhere, keywords: [vivi]}\n",
    ))
    .host()
    .await;
    let record = dispatch(
        &host,
        Event::TranscriptStreaming,
        json!({"transcript": "Hey, Hermes! Turn off the vivid lights"}),
    )
    .await;
    assert_eq!(
        statuses(&record),
        [
            s("a", Status::Executed),
            s("b", Status::Executed),
            s("c", Status::Executed),
            s("d", Status::Skipped)
        ]
    );
    let seen = |i: usize| record.plugins[i].result.as_ref().unwrap().data["seen_data"].clone();
    assert_eq!(
        seen(0),
        json!({"transcript": "Hey, Hermes! Turn off the vivid lights", "command": "Turn off the vivid lights", "original_transcript": "Hey, Hermes! Turn off the vivid lights"})
    );
    assert_eq!(
        seen(1),
        json!({"transcript": "Hey, Hermes! Turn off the vivid lights", "verb": "Turn off"})
    );
    assert_eq!(
        seen(2),
        json!({"transcript": "Hey, Hermes! Turn off the vivid lights"})
    );
    assert_eq!(
        record.plugins[3].reason.as_deref(),
        Some("condition `keyword_anywhere` not met")
    );
    assert_eq!(host.asr_keywords(), ["hey hermes", "vivi"]);
}

#[tokio::test]
async fn settings_from_plugins_yml_override_config_yml_and_env_values_are_typed() {
    let project = Project::new(
        "plugins:\n  a:\n    enabled: true\n    events: [memory.processed]\n    echo:\n      port: ${CHRONICLE_TEST_PORT:-587}\n      tls: ${CHRONICLE_TEST_TLS}\n      token: \"${CHRONICLE_TEST_TOKEN}\"\n",
    );
    project.write(
        ".env",
        "CHRONICLE_TEST_TLS=false\nCHRONICLE_TEST_TOKEN=0042\n",
    );
    project.write("plugins/a/.env", "CHRONICLE_TEST_TOKEN=from-plugin-env\n");
    project.write(
        "plugins/a/config.yml",
        "mode: result\necho: overridden\nsleep_ms: 7\n",
    );
    let host = project.host().await;
    let record = dispatch(&host, Event::MemoryProcessed, json!({})).await;
    let result = record.plugins[0].result.as_ref().unwrap();
    assert_eq!(
        result.data["echo"],
        json!({"port": 587, "tls": false, "token": "from-plugin-env"})
    );
}

#[tokio::test]
async fn every_dispatch_is_recorded_in_the_event_log_even_without_subscribers() {
    let host = Project::new("plugins:\n  a: {enabled: true, events: [transcript.batch]}\n")
        .host()
        .await;
    dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    host.dispatch(DispatchRequest::new(
        Event::ButtonLongPress,
        "u2",
        object(json!({})),
    ))
    .await;
    let log = &host.backends().event_log;
    let all = log.recent(None, 10);
    assert_eq!(
        all.iter().map(|r| r.event).collect::<Vec<_>>(),
        [Event::ButtonLongPress, Event::TranscriptBatch]
    );
    let mine = log.recent(Some("u1"), 10);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].plugins[0].plugin_id.as_ref(), "a");
}

#[tokio::test]
async fn call_plugin_needs_its_permission_and_cycles_end_with_an_error() {
    let host = Project::new(concat!(
        "plugins:\n",
        "  a: {enabled: true, events: [button.single_press], call: b, permissions: [call_plugin]}\n",
        "  b: {enabled: true, events: [], call: a, permissions: [call_plugin]}\n",
        "  c: {enabled: true, events: [button.single_press], call: b, permissions: [database]}\n",
    ))
    .host()
    .await;
    let record = dispatch(&host, Event::ButtonSinglePress, json!({})).await;
    let reply = |i: usize| {
        record.plugins[i]
            .result
            .as_ref()
            .map(|r| r.data["reply"].clone())
    };
    let mut nested = reply(0).unwrap();
    let mut depth = 0;
    while nested["data"].get("reply").is_some() {
        nested = nested["data"]["reply"].clone();
        depth += 1;
    }
    assert_eq!(depth, 8, "eight hops are allowed, the ninth is refused");
    assert!(
        nested["message"]
            .as_str()
            .unwrap()
            .contains("nested more than 8 deep"),
        "{nested}"
    );
    assert_eq!(record.plugins[1].status, Status::Failed);
    assert!(
        record.plugins[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("add `call_plugin` to its `permissions`")
    );
    let denied: Vec<_> = record
        .services
        .iter()
        .filter(|call| !call.allowed)
        .map(|c| c.plugin_id.to_string())
        .collect();
    assert_eq!(denied, ["c"]);
}

#[tokio::test(start_paused = true)]
async fn degraded_plugins_are_retried_with_backoff_until_they_recover() {
    let host = Project::new(
        "plugins:\n  a: {enabled: true, events: [transcript.batch], init: fail_twice}\n",
    )
    .host()
    .await;
    let listed = || host.plugins().remove(0);
    assert_eq!(
        (listed().status.to_string(), listed().error),
        (
            "degraded".to_owned(),
            Some("attempt 1: service down".to_owned())
        )
    );
    let policy = chronicle_plugin_host::RecoveryPolicy {
        initial_delay: std::time::Duration::from_secs(30),
        max_delay: std::time::Duration::from_secs(600),
        tick: std::time::Duration::from_secs(1),
    };
    let recovery = host.spawn_recovery(policy);
    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    assert_eq!(
        record.plugins[0].status,
        Status::Skipped,
        "no events while degraded"
    );

    tokio::time::sleep(std::time::Duration::from_secs(45)).await; // retry at ~30 s fails
    assert_eq!(listed().error.as_deref(), Some("attempt 2: service down"));
    tokio::time::sleep(std::time::Duration::from_secs(40)).await; // next retry waits 60 s more
    assert_eq!(
        listed().status,
        "degraded",
        "the second wait is twice the first"
    );
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    assert_eq!(
        (listed().status.to_string(), listed().error),
        ("initialized".to_owned(), None)
    );
    let record = dispatch(&host, Event::TranscriptBatch, json!({"transcript": "x"})).await;
    assert_eq!(record.plugins[0].status, Status::Executed);
    recovery.abort();
}
