use chronicle_plugin_api::Event;
use chronicle_plugin_host::Status;
use serde_json::json;

use crate::testing::{Harness, assert_plugin_compliance, result_of};

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&super::DESCRIPTOR, "").await;
}

#[tokio::test]
async fn alerts_name_the_first_configured_keyword_said_as_a_whole_word() {
    let harness = Harness::new(
        "plugins:\n  keyword_alerter:\n    enabled: true\n    events: [transcript.streaming]\n    keywords: [urgent, call the doctor, vivi]\n",
        None,
    )
    .await;
    let record = harness
        .dispatch(
            Event::TranscriptStreaming,
            json!({"transcript": "Please CALL the doctor, it's urgent!"}),
        )
        .await;
    let result = result_of(&record, "keyword_alerter");
    assert_eq!(
        result.message.as_deref(),
        Some("Alert sent for keyword: urgent")
    );
    assert_eq!(
        result.data["keywords"],
        json!(["urgent", "call the doctor"])
    );

    let record = harness
        .dispatch(
            Event::TranscriptStreaming,
            json!({"transcript": "the vivid lights"}),
        )
        .await;
    assert_eq!(
        record.outcome("keyword_alerter").unwrap().status,
        Status::Declined
    );
}
