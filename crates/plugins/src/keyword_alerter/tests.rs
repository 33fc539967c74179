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

#[test]
fn twenty_thousand_keywords_are_one_automaton_matched_on_whole_words() {
    let mut keywords: Vec<String> = (0..20_000).map(|n| format!("code{n}")).collect();
    keywords.push("Café au lait".into());
    let plugin =
        super::KeywordAlerterPlugin::new(super::KeywordAlerterConfig { keywords }).expect("builds");
    assert_eq!(
        plugin.said("say CODE19999, then code1 and a CAFÉ  AU\nLAIT"),
        ["code1", "code19999", "Café au lait"],
        "in the configured order, case and spacing aside"
    );
    assert!(
        plugin.said("code199999 and xcode1").is_empty(),
        "whole words only"
    );
}
