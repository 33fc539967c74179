use chronicle_plugin_api::Event;
use serde_json::json;

use crate::testing::{Harness, assert_plugin_compliance, result_of};

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&super::DESCRIPTOR, "database").await;
}

#[tokio::test]
async fn stores_each_item_once_with_the_conversation() {
    let harness = Harness::new(
        "plugins:\n  todo_extractor:\n    enabled: true\n    events: [conversation.complete]\n    permissions: [database]\n",
        None,
    )
    .await;
    let data = json!({"conversation_id": "c9", "transcript": "I need to buy milk. I should call mum. I need to buy milk."});
    let record = harness.dispatch(Event::ConversationComplete, data).await;
    let result = result_of(&record, "todo_extractor");
    assert_eq!(result.message.as_deref(), Some("Extracted 2 action items"));
    assert_eq!(result.data["todos"], json!(["buy milk", "call mum"]));
    let stored = harness.documents("todo_extractor", "todos").await;
    let tasks: Vec<_> = stored
        .iter()
        .map(|doc| {
            (
                doc["task"].clone(),
                doc["conversation_id"].clone(),
                doc["user_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            (json!("buy milk"), json!("c9"), json!("u1")),
            (json!("call mum"), json!("c9"), json!("u1"))
        ]
    );
}
