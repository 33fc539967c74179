//! The plugins' `llm.generate` service is the pipeline's language model, behind the `llm`
//! permission: a plugin granted it gets the model's answer, one without it gets an error that
//! says what to grant, and the model is never asked.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chronicle_pipeline::ChatModel;
use chronicle_plugin_api::{
    AccessLevel, Event, HandlerOutcome, JsonMap, Plugin, PluginContext, PluginDescriptor,
    PluginResult, Settings, SettingsError, async_trait,
};
use chronicle_plugin_host::{Backends, DispatchRequest, HostConfig, PluginHost, Status};
use chronicle_test_servers::{Chat, ChatReply, last_user_message};
use serde_json::{Value, json};

/// Asks the model for a one-line summary of each finished conversation.
struct Summarizer;

#[async_trait]
impl Plugin for Summarizer {
    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let transcript = ctx
            .data
            .get("transcript")
            .and_then(Value::as_str)
            .unwrap_or("");
        let summary = ctx
            .services
            .llm_generate(&format!("Summarize in one line: {transcript}"))
            .await?;
        let mut data = JsonMap::new();
        data.insert("summary".into(), Value::from(summary));
        Ok(Some(PluginResult::ok("summarized").with_data(data)))
    }
}

fn build(_: &Settings) -> Result<Box<dyn Plugin>, SettingsError> {
    Ok(Box::new(Summarizer))
}

static REGISTRY: &[PluginDescriptor] = &[PluginDescriptor {
    id: "summarizer",
    name: "Summarizer",
    description: "Summarizes conversations with the language model.",
    access_levels: &AccessLevel::ALL,
    build,
}];

async fn run(permissions: &str, chat: &Chat) -> chronicle_plugin_host::PluginOutcome {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugins.yml"),
        format!("plugins:\n  summarizer:\n    enabled: true\n    events: [conversation.complete]\n    permissions: {permissions}\n"),
    )
    .unwrap();
    let model = ChatModel::new(
        &format!("{}/v1", chat.base_url()),
        Some("sk-test".into()),
        "llama3".into(),
        Duration::from_secs(5),
    );
    let backends = Backends {
        llm: Some(Arc::new(model)),
        ..Backends::in_memory()
    };
    let config = HostConfig::new(dir.path(), dir.path().join("plugins"));
    let loaded = PluginHost::load(&config, REGISTRY, backends).unwrap_or_else(|e| panic!("{e}"));
    loaded.host.initialize().await;
    let data = json!({"transcript": "We agreed to meet on Friday.", "conversation_id": "c1"});
    let record = loaded
        .host
        .dispatch(DispatchRequest::new(
            Event::ConversationComplete,
            "u1",
            data.as_object().unwrap().clone(),
        ))
        .await;
    record.outcome("summarizer").unwrap().clone()
}

#[tokio::test]
async fn a_plugin_granted_llm_gets_the_models_answer() {
    let chat = Chat::start(|body| {
        assert!(last_user_message(body).contains("meet on Friday"));
        ChatReply::Content("Meeting on Friday.".into())
    })
    .await;
    let outcome = run("[llm]", &chat).await;
    assert_eq!(outcome.status, Status::Executed);
    let result = outcome.result.unwrap();
    assert_eq!(result.data["summary"], "Meeting on Friday.");
    assert_eq!(chat.requests()[0]["model"], "llama3");
    assert_eq!(chat.authorizations()[0].as_deref(), Some("Bearer sk-test"));
}

#[tokio::test]
async fn a_plugin_without_the_permission_is_refused_and_the_model_is_not_asked() {
    let chat = Chat::start(|_| ChatReply::Content("never".into())).await;
    let outcome = run("[]", &chat).await;
    assert_eq!(outcome.status, Status::Failed);
    let reason = outcome.reason.unwrap_or_default();
    assert!(
        reason.contains("llm") && reason.contains("plugins.yml"),
        "{reason}"
    );
    assert!(chat.requests().is_empty());
}

#[tokio::test]
async fn a_model_that_is_down_is_that_plugins_failure() {
    let chat = Chat::start(|_| ChatReply::Status(503)).await;
    let outcome = run("[llm]", &chat).await;
    assert_eq!(outcome.status, Status::Failed);
    assert!(outcome.reason.unwrap_or_default().contains("503"));
}
