//! `slack_notifier` against a server on 127.0.0.1 that answers as Slack's incoming webhooks
//! do: `ok` for a message, `400 no_text` for an empty one, `404 no_service` for a removed
//! webhook.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chronicle_plugin_api::Event;
use chronicle_plugin_host::Status;
use serde_json::{Value, json};

use super::message;
use crate::testing::{Harness, assert_plugin_compliance, closed_port, result_of};

/// What the fake Slack received, per webhook path.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// Serves `/services/{name}`: `live` takes messages, anything else was removed.
async fn fake_slack() -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/services/{name}",
            axum::routing::post(
                |State(received): State<Received>,
                 Path(name): Path<String>,
                 Json(body): Json<Value>| async move {
                    if name != "live" {
                        return (StatusCode::NOT_FOUND, "no_service");
                    }
                    if body.get("text").is_none() && body.get("blocks").is_none() {
                        return (StatusCode::BAD_REQUEST, "no_text");
                    }
                    received.lock().expect("lock").push((name, body));
                    (StatusCode::OK, "ok")
                },
            ),
        )
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/services"), received)
}

fn plugins_yml(url: &str) -> String {
    format!(
        "plugins:\n  slack_notifier:\n    enabled: true\n    events: [conversation.complete]\n    \
         slack_webhook_url: {url}\n"
    )
}

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&super::DESCRIPTOR, "").await;
}

#[tokio::test]
async fn a_completed_conversation_is_posted_with_its_title_summary_and_transcript() {
    let (base, received) = fake_slack().await;
    let harness = Harness::new(&plugins_yml(&format!("{base}/live")), None).await;
    let data = json!({
        "conversation_id": "c1",
        "transcript": "Call <@here> & buy milk.",
        "duration": 42.46,
        "conversation": {"title": "Groceries", "summary": "Milk & eggs."},
    });
    let record = harness.dispatch(Event::ConversationComplete, data).await;
    let result = result_of(&record, "slack_notifier");
    assert!(result.success, "{result:?}");
    assert_eq!(result.message.as_deref(), Some("Notification sent"));
    let received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].1,
        json!({
            "text": "New conversation (42.5s)",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Groceries"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "Milk &amp; eggs."}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "```Call &lt;@here&gt; &amp; buy milk.```"}},
            ],
        })
    );
}

#[tokio::test]
async fn a_removed_webhook_fails_the_delivery_and_says_how_to_fix_it() {
    let (base, received) = fake_slack().await;
    let harness = Harness::new(&plugins_yml(&format!("{base}/removed")), None).await;
    let record = harness
        .dispatch(Event::ConversationComplete, json!({"transcript": "hi"}))
        .await;
    let outcome = record.outcome("slack_notifier").expect("subscribed");
    assert_eq!(outcome.status, Status::Failed, "{outcome:?}");
    let reason = outcome.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("404 no_service") && reason.contains("copy it again from Slack"),
        "{reason}"
    );
    assert!(received.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn the_connection_test_proves_the_url_without_posting_and_explains_failures() {
    let (base, received) = fake_slack().await;
    let live = Harness::new(&plugins_yml(&format!("{base}/live")), None).await;
    let report = live.connection_report("slack_notifier").await;
    assert!(report.ok, "{report:?}");
    assert!(received.lock().expect("lock").is_empty(), "nothing posted");

    let removed = Harness::new(&plugins_yml(&format!("{base}/removed")), None).await;
    let report = removed.connection_report("slack_notifier").await;
    assert!(!report.ok);
    assert_eq!(
        report.checks[0].fix.as_deref(),
        Some("the webhook was removed or the URL is wrong: copy it again from Slack")
    );

    let closed = closed_port();
    let refused = Harness::new(
        &plugins_yml(&format!("http://127.0.0.1:{closed}/services/x")),
        None,
    )
    .await;
    let report = refused.connection_report("slack_notifier").await;
    assert!(!report.ok);
    assert!(
        report.checks[0].detail.starts_with("cannot connect: "),
        "with its cause: {report:?}"
    );
}

#[tokio::test]
async fn without_a_url_it_declines_and_its_health_says_what_to_set() {
    let harness = Harness::new(
        "plugins:\n  slack_notifier:\n    enabled: true\n    events: [conversation.complete]\n    slack_webhook_url: ''\n",
        None,
    )
    .await;
    let record = harness
        .dispatch(Event::ConversationComplete, json!({"transcript": "hi"}))
        .await;
    assert_eq!(
        record.outcome("slack_notifier").expect("subscribed").status,
        Status::Declined
    );
    let report = harness.connection_report("slack_notifier").await;
    assert!(!report.ok);
    assert!(
        report.checks[0]
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("set slack_webhook_url")
    );
}

#[test]
fn long_transcripts_are_cut_by_characters_and_cannot_end_the_code_block() {
    let data = json!({"transcript": "héllo ```world``` and more", "duration": 1.0});
    let body = message(data.as_object().expect("object"), 12);
    assert_eq!(
        body["blocks"][0]["text"]["text"], "```héllo '''wor…```",
        "12 characters, ``` neutralized, an ellipsis"
    );
    let empty = message(json!({}).as_object().expect("object"), 500);
    assert_eq!(empty["text"], "New conversation (0.0s)");
    assert_eq!(empty["blocks"][0]["text"]["text"], "_(no transcript)_");
}
