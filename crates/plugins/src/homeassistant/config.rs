//! The settings of `homeassistant` (mirrored, with the same words, in
//! `plugins/homeassistant/config.yml`).

use chronicle_plugin_api::JsonMap;
use serde::Deserialize;

/// Settings of `homeassistant`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HomeAssistantConfig {
    /// Home Assistant's base URL, `http://` or `https://` (a path is kept, for a reverse proxy).
    pub ha_url: String,
    /// A long-lived access token (Home Assistant: your profile → Security → Long-lived access
    /// tokens). Empty: the plugin loads, declines every event, and its health check says what
    /// to set.
    pub ha_token: String,
    /// A PEM file of certificate authorities to trust besides the system's, for an `https`
    /// Home Assistant with a private certificate. Empty: the system's only.
    pub ha_ca_file: String,
    /// Informational only, kept so older configurations load: the `wake_word` condition in
    /// `plugins.yml` decides which transcripts are commands.
    pub wake_word: Option<String>,
    /// Seconds to wait for each Home Assistant request, connecting included. A service call
    /// also ends half a second before the handler's deadline (`timeout` in `plugins.yml`); the
    /// reading of areas and devices, which goes on after the handler, does not.
    pub timeout_seconds: f64,
    /// Seconds the areas, labels and entities read from Home Assistant are kept before they are
    /// read again.
    pub cache_seconds: f64,
    /// A command whose target is not found reads the areas and entities again, once, when they
    /// are older than this many seconds, so a device added since is found.
    pub refresh_on_miss_seconds: f64,
    /// Seconds the language model may take to parse a command before the keyword parser is
    /// used instead (the model is asked only with permission `llm` and a configured model).
    pub llm_timeout_seconds: f64,
    /// What each kind of button press does; a press without an action is declined.
    pub button_actions: ButtonActions,
}

impl Default for HomeAssistantConfig {
    fn default() -> Self {
        Self {
            ha_url: "http://localhost:8123".into(),
            ha_token: String::new(),
            ha_ca_file: String::new(),
            wake_word: None,
            timeout_seconds: 10.0,
            cache_seconds: 3600.0,
            refresh_on_miss_seconds: 60.0,
            llm_timeout_seconds: 5.0,
            button_actions: ButtonActions::default(),
        }
    }
}

/// One optional action per kind of press.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ButtonActions {
    /// `button.single_press`.
    pub single_press: Option<ButtonAction>,
    /// `button.double_press`.
    pub double_press: Option<ButtonAction>,
    /// `button.long_press`.
    pub long_press: Option<ButtonAction>,
}

/// A Home Assistant service called on a button press.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonAction {
    /// The service of the targets' domain: `toggle`, `turn_on`, `turn_off`, … (for covers,
    /// `turn_on` and `turn_off` call `open_cover` and `close_cover`).
    #[serde(default = "default_service")]
    pub service: String,
    /// How `target` is read.
    #[serde(default)]
    pub target_type: TargetType,
    /// The area or label (`area`, `all_in_area`) or the entity's name or id (`entity`);
    /// unused with `all`.
    #[serde(default)]
    pub target: String,
    /// The domain the targets are filtered by (`light`, `switch`, `fan`, `cover`, …); `null`:
    /// every light, switch, fan, cover and input boolean.
    #[serde(default = "default_entity_type")]
    pub entity_type: Option<String>,
    /// Extra service data sent with the call (`brightness_pct: 40`).
    #[serde(default)]
    pub data: JsonMap,
}

/// How a target names the entities to act on.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    /// The entities of `entity_type` in an area, or in the areas of a label.
    #[default]
    Area,
    /// The entities of `entity_type` in every area.
    All,
    /// Every switchable entity of an area, whatever its type.
    AllInArea,
    /// One entity, by friendly name or entity id.
    Entity,
}

impl TargetType {
    /// The name used in settings and results.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Area => "area",
            TargetType::All => "all",
            TargetType::AllInArea => "all_in_area",
            TargetType::Entity => "entity",
        }
    }

    /// Reads a name used in settings, commands and plugin actions.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "area" => Some(TargetType::Area),
            "all" => Some(TargetType::All),
            "all_in_area" => Some(TargetType::AllInArea),
            "entity" => Some(TargetType::Entity),
            _ => None,
        }
    }
}

fn default_service() -> String {
    "toggle".into()
}

fn default_entity_type() -> Option<String> {
    Some("light".into())
}
