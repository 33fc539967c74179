use serde::Deserialize;

use chronicle_plugin_api::JsonMap;

/// Settings of `test_button_actions` (`plugins/test_button_actions/config.yml`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestButtonActionsConfig {
    /// What each kind of press does; a press with no action is declined.
    pub actions: Actions,
}

/// One optional action per kind of press.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Actions {
    /// `button.single_press`.
    pub single_press: Option<ButtonAction>,
    /// `button.double_press`.
    pub double_press: Option<ButtonAction>,
    /// `button.long_press`.
    pub long_press: Option<ButtonAction>,
}

/// What a press does.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ButtonAction {
    /// Close the conversation open in the pressing device's session (permission
    /// `close_conversation`); stops the chain when it closed one.
    CloseConversation,
    /// Toggle the star of that conversation (permission `star_conversation`).
    StarConversation,
    /// Call `plugin_id`'s `on_plugin_action` with `action` and `data` (permission
    /// `call_plugin`).
    CallPlugin {
        /// The plugin to call.
        plugin_id: String,
        /// The action name it receives in `data.action`.
        action: String,
        /// Extra data for it.
        #[serde(default)]
        data: JsonMap,
    },
}
