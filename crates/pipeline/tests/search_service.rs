//! The plugins' `search.query` service is the server's search, behind the `search`
//! permission: a plugin granted it finds the event's user's memories and conversations (a
//! time in the words as a filter), never another user's; one without it is refused saying what
//! to grant.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chronicle_pipeline::search::StoreSearch;
use chronicle_plugin_api::protocol::SearchParams;
use chronicle_plugin_api::{
    AccessLevel, Event, HandlerOutcome, JsonMap, Plugin, PluginContext, PluginDescriptor,
    PluginResult, Settings, SettingsError, async_trait,
};
use chronicle_plugin_host::{Backends, DispatchRequest, HostConfig, PluginHost, Status};
use chronicle_store::Store;
use serde_json::{Value, json};

/// Looks up what the transcript's last word is about in the user's memories.
struct Recall;

#[async_trait]
impl Plugin for Recall {
    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let query = ctx
            .data
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let found = ctx
            .services
            .search(&SearchParams {
                query,
                kind: Some("memory".into()),
                ..SearchParams::default()
            })
            .await?;
        let mut data = JsonMap::new();
        data.insert("found".into(), found);
        Ok(Some(PluginResult::ok("recalled").with_data(data)))
    }
}

fn build(_: &Settings) -> Result<Box<dyn Plugin>, SettingsError> {
    Ok(Box::new(Recall))
}

static REGISTRY: &[PluginDescriptor] = &[PluginDescriptor {
    id: "recall",
    name: "Recall",
    description: "Searches the user's memories.",
    access_levels: &AccessLevel::ALL,
    build,
}];

async fn run(permissions: &str, query: &str) -> chronicle_plugin_host::PluginOutcome {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).await.unwrap();
    let ana = store
        .create_user("ana@example.com", "x", false)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.com", "x", false)
        .await
        .unwrap();
    store
        .add_memory(&ana.id, None, "Ana buys oat milk on Saturdays")
        .await
        .unwrap();
    store
        .add_memory(&bob.id, None, "Bob's oat milk is a secret")
        .await
        .unwrap();
    std::fs::write(
        dir.path().join("plugins.yml"),
        format!("plugins:\n  recall:\n    enabled: true\n    events: [conversation.complete]\n    permissions: {permissions}\n"),
    )
    .unwrap();
    let backends = Backends {
        search: Some(Arc::new(StoreSearch {
            store: store.clone(),
            embedder: None,
        })),
        ..Backends::in_memory()
    };
    let config = HostConfig::new(dir.path(), dir.path().join("plugins"));
    let loaded = PluginHost::load(&config, REGISTRY, backends).unwrap_or_else(|e| panic!("{e}"));
    loaded.host.initialize().await;
    let data = json!({"query": query, "conversation_id": "c1"});
    let record = loaded
        .host
        .dispatch(DispatchRequest::new(
            Event::ConversationComplete,
            ana.id.as_str(),
            data.as_object().unwrap().clone(),
        ))
        .await;
    record.outcome("recall").unwrap().clone()
}

#[tokio::test]
async fn a_plugin_granted_search_finds_the_events_users_memories_only() {
    let outcome = run("[search]", "oat milk").await;
    assert_eq!(outcome.status, Status::Executed, "{:?}", outcome.reason);
    let found = &outcome.result.unwrap().data["found"];
    assert_eq!(found["ranking"], "bm25");
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found}");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>oat</mark>")
    );
    assert!(!found.to_string().contains("Bob"));
    // A time in the words is a filter: nothing of Ana's is from yesterday.
    let outcome = run("[search]", "oat milk yesterday").await;
    let found = &outcome.result.unwrap().data["found"];
    assert_eq!(found["time_filter"]["phrase"], "yesterday");
    assert_eq!(found["hits"], json!([]));
}

#[tokio::test]
async fn a_plugin_without_the_permission_is_refused_saying_what_to_grant() {
    let outcome = run("[database]", "oat milk").await;
    assert_eq!(outcome.status, Status::Failed);
    let reason = outcome.reason.unwrap_or_default();
    assert!(
        reason.contains("search") && reason.contains("plugins.yml"),
        "{reason}"
    );
}
