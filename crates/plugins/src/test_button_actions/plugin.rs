use chronicle_plugin_api::{
    CloseReason, Event, HandlerOutcome, Plugin, PluginContext, PluginResult, async_trait,
};

use super::config::{ButtonAction, TestButtonActionsConfig};

/// Runs the configured action for each press.
pub struct TestButtonActionsPlugin {
    config: TestButtonActionsConfig,
}

impl TestButtonActionsPlugin {
    /// A plugin with these actions.
    pub fn new(config: TestButtonActionsConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Plugin for TestButtonActionsPlugin {
    async fn on_button_event(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let actions = &self.config.actions;
        let action = match ctx.event {
            Event::ButtonSinglePress => &actions.single_press,
            Event::ButtonDoublePress => &actions.double_press,
            Event::ButtonLongPress => &actions.long_press,
            _ => return Ok(None),
        };
        let Some(action) = action else {
            return Ok(None);
        };
        let session_id = ctx.str_field("session_id").filter(|id| !id.is_empty());
        let result = match action {
            ButtonAction::CloseConversation => {
                let Some(session_id) = session_id else {
                    return Ok(Some(PluginResult::failure("No active session")));
                };
                if ctx
                    .services
                    .close_conversation(session_id, CloseReason::ButtonClose)
                    .await?
                {
                    PluginResult::ok("Conversation closed").stop_chain()
                } else {
                    PluginResult::failure("Failed to close conversation")
                }
            }
            ButtonAction::StarConversation => {
                let Some(session_id) = session_id else {
                    return Ok(Some(PluginResult::failure("No active session")));
                };
                if ctx.services.star_conversation(session_id).await? {
                    PluginResult::ok("Conversation star toggled")
                } else {
                    PluginResult::failure("Failed to star conversation")
                }
            }
            ButtonAction::CallPlugin {
                plugin_id,
                action,
                data,
            } => {
                let reply = ctx
                    .services
                    .call_plugin(plugin_id, action, data.clone(), Some(&ctx.user_id))
                    .await?;
                match reply {
                    Some(reply) => PluginResult {
                        message: Some(format!(
                            "{plugin_id}: {}",
                            reply.message.as_deref().unwrap_or(if reply.success {
                                "done"
                            } else {
                                "failed"
                            })
                        )),
                        should_continue: true,
                        ..reply
                    },
                    None => PluginResult::failure(format!("No response from plugin '{plugin_id}'")),
                }
            }
        };
        Ok(Some(result))
    }
}
