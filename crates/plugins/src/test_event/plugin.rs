use chronicle_plugin_api::{
    HandlerOutcome, JsonMap, Plugin, PluginContext, PluginResult, async_trait,
};
use serde_json::{Value, json};

use super::TestEventConfig;

/// Logs every event to the document store (permission `database`).
pub struct TestEventPlugin {
    config: TestEventConfig,
}

impl TestEventPlugin {
    /// A plugin storing into `config.collection`.
    pub fn new(config: TestEventConfig) -> Self {
        if config.db_path.is_some() {
            tracing::info!(
                message = "test_event ignores `db_path`: events go to its document store."
            );
        }
        Self { config }
    }

    async fn store(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let document = json!({
            "timestamp": crate::support::unix_now(),
            "event": ctx.event,
            "user_id": &*ctx.user_id,
            "data": &*ctx.data,
            "metadata": ctx.metadata,
            "delivery": ctx.delivery.idempotency_key(),
        });
        let id = ctx
            .services
            .insert_one(
                &self.config.collection,
                crate::support::into_object(document),
            )
            .await?;
        let mut data = JsonMap::new();
        data.insert("document_id".into(), Value::from(id));
        Ok(Some(
            PluginResult::ok(format!("{} logged", ctx.event)).with_data(data),
        ))
    }
}

#[async_trait]
impl Plugin for TestEventPlugin {
    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.store(ctx).await
    }

    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.store(ctx).await
    }

    async fn on_memory_processed(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.store(ctx).await
    }

    async fn on_conversation_starred(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.store(ctx).await
    }

    async fn on_button_event(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.store(ctx).await
    }

    async fn on_plugin_action(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.store(ctx).await
    }
}
