use chronicle_plugin_api::Event;
use chronicle_plugin_host::Status;
use serde_json::json;

use crate::testing::{Harness, assert_plugin_compliance};

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&super::DESCRIPTOR, "database").await;
}

#[tokio::test]
async fn stores_every_event_it_receives() {
    let harness = Harness::new(
        "plugins:\n  test_event:\n    enabled: true\n    events: [transcript.batch, conversation.complete, button.single_press]\n    permissions: [database]\n",
        None,
    )
    .await;
    let record = harness
        .dispatch(
            Event::ConversationComplete,
            json!({"conversation_id": "c1", "transcript": "hi"}),
        )
        .await;
    let outcome = record.outcome("test_event").unwrap();
    assert_eq!(outcome.status, Status::Executed);
    assert_eq!(
        outcome.result.as_ref().unwrap().message.as_deref(),
        Some("conversation.complete logged")
    );
    harness
        .dispatch(Event::ButtonSinglePress, json!({"state": "SINGLE_PRESS"}))
        .await;

    let stored = harness.documents("test_event", "events").await;
    let events: Vec<_> = stored.iter().map(|doc| doc["event"].clone()).collect();
    assert_eq!(
        events,
        [json!("conversation.complete"), json!("button.single_press")]
    );
    assert_eq!(stored[0]["data"]["conversation_id"], "c1");
    assert_eq!(stored[0]["user_id"], "u1");
}

#[tokio::test]
async fn without_the_database_permission_it_fails_and_says_which_to_grant() {
    let harness = Harness::new(
        "plugins:\n  test_event:\n    enabled: true\n    events: [transcript.batch]\n    permissions: []\n",
        None,
    )
    .await;
    let record = harness
        .dispatch(Event::TranscriptBatch, json!({"transcript": "hi"}))
        .await;
    let outcome = record.outcome("test_event").unwrap();
    assert_eq!(outcome.status, Status::Failed);
    assert!(
        outcome
            .reason
            .as_deref()
            .unwrap()
            .contains("add `database` to its `permissions`")
    );
    assert!(!record.services[0].allowed);
}
