use chronicle_plugin_api::Event;
use chronicle_plugin_host::Status;
use serde_json::json;

use crate::testing::{Harness, assert_plugin_compliance, result_of};

const CONFIG: &str = r#"plugins:
  test_button_actions:
    enabled: true
    events: [button.single_press, button.double_press, button.long_press]
    permissions: [close_conversation, call_plugin]
    actions:
      single_press: {type: close_conversation}
      double_press: {type: call_plugin, plugin_id: test_event, action: toggle_lights, data: {room: hall}}
  test_event:
    enabled: true
    events: [button.single_press]
    permissions: [database]
"#;

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&super::DESCRIPTOR, "close_conversation").await;
}

#[tokio::test]
async fn single_press_closes_the_live_conversation_and_stops_the_chain() {
    let harness = Harness::new(CONFIG, Some("s1")).await;
    let record = harness
        .dispatch(
            Event::ButtonSinglePress,
            json!({"state": "SINGLE_PRESS", "session_id": "s1"}),
        )
        .await;
    let result = result_of(&record, "test_button_actions");
    assert_eq!(result.message.as_deref(), Some("Conversation closed"));
    assert!(!result.should_continue);
    let after = record.outcome("test_event").unwrap();
    assert_eq!(after.status, Status::Skipped);
    assert_eq!(
        after.reason.as_deref(),
        Some("chain stopped by `test_button_actions`")
    );
    assert_eq!(record.services[0].call, "close_conversation");
    assert_eq!(
        record.services[0].args,
        json!({"session_id": "s1", "reason": "button_close"})
    );
}

#[tokio::test]
async fn a_close_that_finds_no_conversation_fails_and_the_chain_goes_on() {
    let harness = Harness::new(CONFIG, Some("s1")).await;
    let record = harness
        .dispatch(
            Event::ButtonSinglePress,
            json!({"state": "SINGLE_PRESS", "session_id": "other"}),
        )
        .await;
    let result = result_of(&record, "test_button_actions");
    assert_eq!(
        (result.success, result.message.as_deref()),
        (false, Some("Failed to close conversation"))
    );
    assert_eq!(
        record.outcome("test_event").unwrap().status,
        Status::Executed
    );
    let record = harness
        .dispatch(Event::ButtonSinglePress, json!({"state": "SINGLE_PRESS"}))
        .await;
    let result = result_of(&record, "test_button_actions");
    assert_eq!(result.message.as_deref(), Some("No active session"));
}

#[tokio::test]
async fn double_press_calls_another_plugin_and_long_press_declines() {
    let harness = Harness::new(CONFIG, None).await;
    let record = harness
        .dispatch(Event::ButtonDoublePress, json!({"state": "DOUBLE_PRESS"}))
        .await;
    let result = result_of(&record, "test_button_actions");
    assert_eq!(
        result.message.as_deref(),
        Some("test_event: plugin_action logged"),
        "{result:?}"
    );
    let stored = harness.documents("test_event", "events").await;
    assert_eq!(
        stored[0]["data"],
        json!({"room": "hall", "action": "toggle_lights"})
    );
    assert_eq!(stored[0]["user_id"], "u1");
    let calls: Vec<_> = record
        .services
        .iter()
        .map(|call| (&*call.plugin_id, call.call))
        .collect();
    assert_eq!(
        calls,
        [
            ("test_button_actions", "call_plugin"),
            ("test_event", "insert_one")
        ]
    );

    let record = harness
        .dispatch(Event::ButtonLongPress, json!({"state": "LONG_PRESS"}))
        .await;
    assert_eq!(
        record.outcome("test_button_actions").unwrap().status,
        Status::Declined
    );
}

#[tokio::test]
async fn calling_an_unknown_or_disabled_plugin_gives_a_failed_result() {
    let config = CONFIG
        .replace("plugin_id: test_event", "plugin_id: no_such_plugin")
        .replace(
            "single_press: {type: close_conversation}",
            "single_press: {type: call_plugin, plugin_id: todo_extractor, action: x}",
        )
        + "  todo_extractor:\n    enabled: false\n";
    let harness = Harness::new(&config, None).await;
    let record = harness.dispatch(Event::ButtonDoublePress, json!({})).await;
    let result = result_of(&record, "test_button_actions");
    assert_eq!(
        result.message.as_deref(),
        Some("no_such_plugin: Plugin 'no_such_plugin' not found")
    );
    assert!(!result.success);
    let record = harness.dispatch(Event::ButtonSinglePress, json!({})).await;
    let result = result_of(&record, "test_button_actions");
    assert_eq!(
        result.message.as_deref(),
        Some("todo_extractor: Plugin 'todo_extractor' is disabled")
    );
}
