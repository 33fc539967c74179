//! `homeassistant`: voice commands, button presses and other plugins' actions become Home
//! Assistant service calls, through its REST API with a long-lived access token.
//!
//! - **Commands** come from transcripts that met a condition (`wake_word`, `keyword_anywhere`):
//!   `data.command` is parsed by the language model when the plugin may use it (permission
//!   `llm` and a configured model; bounded by `llm_timeout_seconds` and the handler's
//!   deadline), else — or when the model fails, is late or answers garbage — by a keyword
//!   parser on whole words. A transcript without `command` (no condition) is declined: a
//!   conversation is not a command. A handled command stops the chain (`should_continue:
//!   false`); one not understood, whose target is not found or that Home Assistant refuses is a
//!   `success: false` result with an apology saying why, and the chain goes on. A retry of a
//!   command (`transcript.batch` redelivered, attempt 2 and later) is declined, never run again.
//! - **Targets** are resolved against areas, labels and entities read in three requests: one
//!   template listing the areas with their names and entities, one the labels with their areas,
//!   and `GET /api/states`; cached for `cache_seconds`, first read in the background at
//!   `initialize`. A target not found reads them again once when they are older than
//!   `refresh_on_miss_seconds`. A read runs in a task of its own that fills the cache even when
//!   the handler that started it is cut off at its deadline; concurrent events wait for that one
//!   read, each until its own deadline, then answer "Home Assistant is slow to list its
//!   devices: try again in a moment".
//! - **Service calls** go one per domain (an area of lights and switches gets `light.turn_off`
//!   and `switch.turn_off`); covers open and close for turn on and off; brightness and colour
//!   go to lights only. Once one call went through, the others' failures are named in a
//!   `success: true` result, so nothing done is repeated by a retry.
//! - **Failures**: Home Assistant unreachable (no answer, timeout, 5xx) is the handler's
//!   `PluginError::unreachable`; a refused token or a certificate not trusted (fixed with the URL's
//!   real host name or `ha_ca_file`) its `broken` error; at `initialize` they make the plugin
//!   `degraded` (retried) and `failed`. Without `ha_token` the plugin loads, declines every
//!   event, and its health check and connection test say what to set.
//!
//! `plugin_action` takes `toggle_lights` and `call_service` with `target_type` (area), `target`,
//! `entity_type` (light; null: any), `service` (toggle; `toggle_lights` only toggles) and
//! optional `data` (an object); a key of the wrong type is a `success: false` result naming it.
//! Button presses run the `button_actions` of their kind.

mod client;
mod config;
mod home;
mod parser;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::{ButtonAction, ButtonActions, HomeAssistantConfig, TargetType};
pub use plugin::HomeAssistantPlugin;

/// Registration of `homeassistant`.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "homeassistant",
    name: "Home Assistant",
    description: "Controls Home Assistant from voice commands, button presses and plugin actions",
    access_levels: &[AccessLevel::Transcript, AccessLevel::Button],
    build: |settings| {
        Ok(Box::new(HomeAssistantPlugin::new(parse_settings(
            settings,
        )?)?))
    },
};

#[cfg(test)]
mod tests;
