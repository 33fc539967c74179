use chronicle_plugin_api::Event;
use chronicle_plugin_host::Status;
use serde_json::json;

use crate::testing::{Harness, result_of};

#[tokio::test]
async fn counts_the_words_of_a_conversation_and_declines_short_ones() {
    let harness = Harness::with_registry(
        &[super::DESCRIPTOR],
        "plugins:\n  scaffold_example:\n    enabled: true\n    events: [conversation.complete]\n    min_words: 3\n",
    )
    .await;
    let record = harness
        .dispatch(
            Event::ConversationComplete,
            json!({"transcript": "one two three four"}),
        )
        .await;
    let result = result_of(&record, "scaffold_example");
    assert_eq!(result.message.as_deref(), Some("4 words"));

    let record = harness
        .dispatch(Event::ConversationComplete, json!({"transcript": "hi"}))
        .await;
    assert_eq!(
        record.outcome("scaffold_example").unwrap().status,
        Status::Declined
    );
}
