//! `config/plugins.yml` and `plugins/<id>/config.yml`: reading, `${VAR}` expansion, merging and
//! validation, with every problem located at file:line:column.
//!
//! Orchestration keys (`enabled`, `events`, `condition`, `priority`, `timeout`, `max_retries`,
//! `permissions`) steer the host; every other key of a plugin's entry is a setting handed to
//! the plugin, over the same key in its `config.yml` (the original dropped them silently).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chronicle_plugin_api::{Event, Permission, Settings};
use regex::RegexBuilder;

use crate::catalog::Catalog;
use crate::condition::{Condition, Keywords, Phrases, normalize};
use crate::diagnostic::{Diagnostic, Location, Pos, shared_path};
use crate::env::{EnvSources, expand_node, read_dotenv, referenced_names};
use crate::process::launch::ProcessOptions;
use crate::yaml::{self, Key, Node, NodeKind};

/// Where the host reads its configuration.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Holds `plugins.yml`.
    pub config_dir: PathBuf,
    /// Holds one folder per plugin: its `config.yml`, `.env` and, for Python and process
    /// plugins, its code.
    pub plugins_dir: PathBuf,
    /// The project's dotenv file (`./.env` by default); a missing file is fine.
    pub env_file: Option<PathBuf>,
    /// How plugin processes are started and supervised.
    pub process: ProcessOptions,
}

impl HostConfig {
    /// Configuration in `config_dir` and `plugins_dir`, with no project `.env` and default
    /// process options.
    pub fn new(config_dir: impl Into<PathBuf>, plugins_dir: impl Into<PathBuf>) -> Self {
        Self {
            config_dir: config_dir.into(),
            plugins_dir: plugins_dir.into(),
            env_file: None,
            process: ProcessOptions::default(),
        }
    }

    /// The orchestration file.
    pub fn plugins_file(&self) -> PathBuf {
        self.config_dir.join("plugins.yml")
    }
}

/// One plugin's validated entry, merged with its `config.yml`.
#[derive(Clone, Debug)]
pub struct PluginSpec {
    /// The plugin's id.
    pub id: String,
    /// Where the entry starts in `plugins.yml`.
    pub location: Location,
    /// Whether it receives events.
    pub enabled: bool,
    /// The events it subscribed to, in the order written, without repeats.
    pub events: Vec<Event>,
    /// When it runs.
    pub condition: Condition,
    /// Lower runs earlier; ties keep file order.
    pub priority: i64,
    /// Deadline per call; `None` takes the event's default (30 s terminal, 5 s live).
    pub timeout: Option<Duration>,
    /// Retries of a failed terminal delivery.
    pub max_retries: u32,
    /// The services it may use, as its `permissions:` list says; `None` when the entry has no
    /// such key: every service, as in the Python original (see [`crate::grants`]).
    pub permissions: Option<Vec<Permission>>,
    /// Why it cannot run: the errors in its entry or its `config.yml`, each with file, line
    /// and column. The others still run.
    pub failure: Option<String>,
    /// Whether a process plugin may open TCP connections (`network: false` forbids them).
    pub network: bool,
    /// What a plugin process finds in its environment besides what the runtime needs: its own
    /// `.env`, and the variables its settings name that are set. Nothing else of the host's
    /// environment (its secrets) reaches it.
    pub environment: Vec<(String, String)>,
    /// Everything else: the plugin's settings.
    pub settings: Settings,
    /// Where each top-level setting was written, for errors raised when the plugin is built.
    pub setting_locations: HashMap<String, Location>,
}

impl PluginSpec {
    /// An entry with nothing set: disabled, no events, the defaults.
    fn new(id: &str, location: Location) -> Self {
        Self {
            id: id.to_owned(),
            location,
            enabled: false,
            events: Vec::new(),
            condition: Condition::Always,
            priority: DEFAULT_PRIORITY,
            timeout: None,
            max_retries: DEFAULT_MAX_RETRIES,
            permissions: None,
            failure: None,
            network: true,
            environment: Vec::new(),
            settings: Settings::new(),
            setting_locations: HashMap::new(),
        }
    }
}

/// The default priority, as in the original.
pub const DEFAULT_PRIORITY: i64 = 100;
/// The default number of retries of a terminal delivery.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

const ORCHESTRATION_KEYS: [&str; 8] = [
    "enabled",
    "events",
    "condition",
    "priority",
    "timeout",
    "max_retries",
    "permissions",
    "network",
];
const DEPRECATED_KEYS: [&str; 3] = ["subscriptions", "trigger", "access_level"];
const CONDITION_TYPES: [&str; 6] = [
    "always",
    "wake_word",
    "keyword_anywhere",
    "regex",
    "conditional",
    "acoustic_wake_word",
];

/// The result of reading the configuration: the entries that could be read, and every problem.
#[derive(Debug, Default)]
pub struct LoadedConfig {
    /// Plugin entries, in file order.
    pub specs: Vec<PluginSpec>,
    /// Errors and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and validates the configuration against what `catalog` can run.
pub fn load(config: &HostConfig, catalog: &Catalog) -> LoadedConfig {
    let mut out = LoadedConfig::default();
    let plugins_file = shared_path(&config.plugins_file());
    let mut env = EnvSources {
        process: std::env::vars().collect(),
        ..EnvSources::default()
    };
    if let Some(env_file) = &config.env_file {
        match read_dotenv(env_file) {
            Ok(vars) => env.project = vars,
            Err(message) => out.diagnostics.push(Diagnostic::error(
                Location::new(&shared_path(env_file), Pos { line: 1, column: 1 }),
                message,
            )),
        }
    }

    let text = match std::fs::read_to_string(&plugins_file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            out.diagnostics.push(
                Diagnostic::warning(
                    Location::new(&plugins_file, Pos { line: 1, column: 1 }),
                    "file not found; no plugin is enabled",
                )
                .with_hint("copy config/plugins.yml.template to config/plugins.yml"),
            );
            return out;
        }
        Err(error) => {
            out.diagnostics.push(Diagnostic::error(
                Location::new(&plugins_file, Pos { line: 1, column: 1 }),
                format!("cannot read: {error}"),
            ));
            return out;
        }
    };
    let mut loaded = load_text(config, catalog, &text, &env);
    out.diagnostics.append(&mut loaded.diagnostics);
    loaded.diagnostics = out.diagnostics;
    loaded
}

/// Validates `text` as the `plugins.yml` of `config` against what `catalog` can run, as
/// [`load`] does once it has read the file, with the placeholders expanded from `env` in
/// place of the process environment and the project's `.env`. Each plugin's `config.yml` and
/// `.env` are still read from `config.plugins_dir`. The fuzzer's entry point
/// (`fuzz/fuzz_targets/plugins_yml.rs`).
pub fn load_text(
    config: &HostConfig,
    catalog: &Catalog,
    text: &str,
    env: &EnvSources,
) -> LoadedConfig {
    let mut out = LoadedConfig::default();
    let plugins_file = shared_path(&config.plugins_file());
    let Some(root) = parse_file(&plugins_file, text, &mut out.diagnostics) else {
        return out;
    };
    let entries = match &root.kind {
        NodeKind::Null => return out,
        NodeKind::Map(entries) => entries,
        _ => {
            out.diagnostics.push(
                Diagnostic::error(
                    Location::new(&plugins_file, root.pos),
                    format!(
                        "expected a mapping with a `plugins` key, found {}",
                        root.type_name()
                    ),
                )
                .with_hint("start the file with `plugins:` and one entry per plugin id under it"),
            );
            return out;
        }
    };
    for (key, value) in entries {
        if key.name != "plugins" {
            out.diagnostics.push(
                Diagnostic::warning(
                    Location::new(&plugins_file, key.pos),
                    format!("unknown top-level key `{}` is ignored", key.name),
                )
                .with_hint("plugin entries go under `plugins:`"),
            );
            continue;
        }
        let plugin_entries = match &value.kind {
            NodeKind::Null => continue,
            NodeKind::Map(plugin_entries) => plugin_entries,
            _ => {
                out.diagnostics.push(Diagnostic::error(
                    Location::new(&plugins_file, value.pos),
                    format!(
                        "`plugins` must map plugin ids to their settings, found {}",
                        value.type_name()
                    ),
                ));
                continue;
            }
        };
        for (id, entry) in plugin_entries {
            let first_error = out.diagnostics.len();
            let mut reader = EntryReader {
                file: &plugins_file,
                id: &id.name,
                diagnostics: &mut out.diagnostics,
            };
            let spec = reader.read_entry(id, entry.clone(), config, catalog, env);
            let errors: Vec<String> = out.diagnostics[first_error..]
                .iter()
                .filter(|d| d.is_error())
                .map(|d| format!("{}: {}", d.location, d.message))
                .collect();
            // An entry with errors is not built (its build errors would only repeat them): its
            // plugin is `failed` with them, and the other plugins run.
            let mut spec = match spec {
                Some(spec) => spec,
                None if errors.is_empty() => continue,
                // Unreadable as a whole: shown as enabled and failed rather than left out.
                None => PluginSpec {
                    enabled: true,
                    ..PluginSpec::new(&id.name, Location::new(&plugins_file, id.pos))
                },
            };
            if !errors.is_empty() {
                spec.failure = Some(errors.join("; "));
            }
            out.specs.push(spec);
        }
    }
    out
}

fn parse_file(file: &Arc<Path>, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Node> {
    match yaml::parse(text) {
        Ok(node) => Some(node),
        Err(error) => {
            diagnostics.push(
                Diagnostic::error(
                    Location::new(file, error.pos),
                    format!("invalid YAML: {}", error.message),
                )
                .with_hint("check the indentation and quoting around this position"),
            );
            None
        }
    }
}

struct EntryReader<'a> {
    file: &'a Arc<Path>,
    id: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl EntryReader<'_> {
    fn at(&self, pos: Pos) -> Location {
        Location::new(self.file, pos)
    }

    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        let diagnostic = Diagnostic::error(self.at(pos), message)
            .with_hint(hint)
            .for_plugin(self.id);
        self.diagnostics.push(diagnostic);
    }

    fn warning(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        let diagnostic = Diagnostic::warning(self.at(pos), message)
            .with_hint(hint)
            .for_plugin(self.id);
        self.diagnostics.push(diagnostic);
    }

    fn report_unset(&mut self, unset: Vec<(Pos, String)>) {
        for (pos, name) in unset {
            self.error(
                pos,
                format!("environment variable `{name}` is not set"),
                format!(
                    "set it in the environment, in .env or in plugins/{}/.env, or give a default: ${{{name}:-default}}",
                    self.id
                ),
            );
        }
    }

    fn read_entry(
        &mut self,
        id: &Key,
        mut entry: Node,
        config: &HostConfig,
        catalog: &Catalog,
        env: &EnvSources,
    ) -> Option<PluginSpec> {
        let errors_at_start = self.error_count();
        let plugin_dir = config.plugins_dir.join(&id.name);
        let env = match read_dotenv(&plugin_dir.join(".env")) {
            Ok(vars) => env.with_plugin(vars),
            Err(message) => {
                self.error(id.pos, message, "fix the line in the plugin's .env file");
                env.clone()
            }
        };
        let mut named = Vec::new();
        referenced_names(&entry, &mut named);
        let unset = expand_node(&mut entry, &env);
        self.report_unset(unset);

        let available = catalog.get(&id.name);
        if available.is_none() {
            let suggestion = closest_id(&id.name, catalog);
            self.error(
                id.pos,
                format!("no runtime provides plugin `{}`", id.name),
                match suggestion {
                    Some(other) => format!("did you mean `{other}`? `chronicle plugin list` shows every plugin the host can run"),
                    None => format!(
                        "it is not bundled and {} has no plugin.py or plugin.toml; `chronicle plugin list` shows every plugin the host can run",
                        plugin_dir.display()
                    ),
                },
            );
        }

        let fields: Vec<(Key, Node)> = match entry.kind {
            NodeKind::Map(fields) => fields,
            NodeKind::Null => Vec::new(),
            _ => {
                self.error(
                    entry.pos,
                    format!(
                        "the entry of `{}` must be a mapping, found {}",
                        id.name,
                        entry.type_name()
                    ),
                    "write `enabled: true`, `events: [...]` and the plugin's settings under the id",
                );
                return None;
            }
        };

        let mut spec = PluginSpec::new(&id.name, self.at(id.pos));
        let mut event_positions = Vec::new();
        let seen = |name: &str| fields.iter().any(|(key, _)| key.name == name);
        let has_events = seen("events");
        let has_condition = seen("condition");

        // Defaults from the plugin's own config.yml first, so plugins.yml overrides them.
        self.read_plugin_config_file(&plugin_dir, &env, &mut spec, &mut named);
        let mut environment: Vec<(String, String)> = env.plugin.clone().into_iter().collect();
        environment.sort();
        for name in named {
            if let Some(value) = env.get(&name)
                && !environment.iter().any(|(known, _)| *known == name)
            {
                environment.push((name, value.to_owned()));
            }
        }
        spec.environment = environment;

        for (key, value) in &fields {
            match key.name.as_str() {
                "enabled" => match value.kind {
                    NodeKind::Bool(enabled) => spec.enabled = enabled,
                    _ => self.error(
                        value.pos,
                        format!(
                            "`enabled` must be true or false, found {}",
                            value.type_name()
                        ),
                        "write `enabled: true` or `enabled: false`",
                    ),
                },
                "events" | "subscriptions" => {
                    if key.name == "subscriptions" {
                        if has_events {
                            self.error(
                                key.pos,
                                "both `events` and its deprecated alias `subscriptions` are set",
                                "remove `subscriptions`",
                            );
                            continue;
                        }
                        self.warning(
                            key.pos,
                            "`subscriptions` is deprecated",
                            "rename it to `events`",
                        );
                    }
                    event_positions = self.read_events(value);
                    spec.events = dedup(event_positions.iter().map(|(event, _)| *event));
                }
                "condition" | "trigger" => {
                    if key.name == "trigger" {
                        if has_condition {
                            self.error(
                                key.pos,
                                "both `condition` and its deprecated alias `trigger` are set",
                                "remove `trigger`",
                            );
                            continue;
                        }
                        self.warning(
                            key.pos,
                            "`trigger` is deprecated",
                            "rename it to `condition`",
                        );
                    }
                    if let Some(condition) = self.read_condition(key, value) {
                        spec.condition = condition;
                    }
                }
                "priority" => match value.kind {
                    NodeKind::Int(priority) => spec.priority = priority,
                    _ => self.error(
                        value.pos,
                        format!("`priority` must be an integer, found {}", value.type_name()),
                        "lower numbers run first; the default is 100",
                    ),
                },
                "timeout" => {
                    let seconds = match value.kind {
                        NodeKind::Int(seconds) => Some(seconds as f64),
                        NodeKind::Float(seconds) => Some(seconds),
                        _ => None,
                    };
                    match seconds {
                        Some(seconds) if seconds > 0.0 && seconds <= 86_400.0 => {
                            spec.timeout = Some(Duration::from_secs_f64(seconds));
                        }
                        _ => self.error(
                            value.pos,
                            format!("`timeout` must be a number of seconds between 0 and 86400, found {}", describe(value)),
                            "for example `timeout: 10`; without it, terminal events get 30 s and live events 5 s",
                        ),
                    }
                }
                "max_retries" => match value.kind {
                    NodeKind::Int(retries) if (0..=100).contains(&retries) => {
                        spec.max_retries = retries as u32;
                    }
                    _ => self.error(
                        value.pos,
                        format!(
                            "`max_retries` must be an integer from 0 to 100, found {}",
                            describe(value)
                        ),
                        "the default is 3",
                    ),
                },
                "permissions" => spec.permissions = Some(self.read_permissions(value)),
                "network" => match value.kind {
                    NodeKind::Bool(network) => spec.network = network,
                    _ => self.error(
                        value.pos,
                        format!(
                            "`network` must be true or false, found {}",
                            value.type_name()
                        ),
                        "`network: false` keeps a process plugin from opening TCP connections",
                    ),
                },
                "access_level" => self.warning(
                    key.pos,
                    "`access_level` is deprecated and ignored",
                    "remove it; a plugin declares the events it supports itself",
                ),
                "modes" => {
                    // Upstream's interaction modes (a plugin holding the floor for a voice
                    // dialogue) need voice sessions and playback, which this host does not run.
                    self.warning(
                        key.pos,
                        "interaction modes are not run by this host: `on_interaction_start`, `on_interaction_turn` and `on_interaction_end` are never called",
                        "the plugin still receives the events it subscribes to; docs/compatibility.md says what differs",
                    );
                    spec.settings.insert(key.name.clone(), value.to_json());
                    spec.setting_locations
                        .insert(key.name.clone(), self.at(key.pos));
                }
                _ => {
                    spec.settings.insert(key.name.clone(), value.to_json());
                    spec.setting_locations
                        .insert(key.name.clone(), self.at(key.pos));
                }
            }
        }

        if let Some(levels) = available.and_then(|plugin| plugin.access_levels()) {
            for (event, pos) in &event_positions {
                let supported = event
                    .access_level()
                    .is_none_or(|level| levels.contains(&level));
                if !supported {
                    let names: Vec<&str> = levels.iter().map(|level| level.as_str()).collect();
                    // Informs, never refuses, as SUPPORTED_ACCESS_LEVELS did in the original.
                    self.warning(
                        *pos,
                        format!(
                            "plugin `{}` declares {} events only; it receives `{event}` anyway",
                            spec.id,
                            names.join(", ")
                        ),
                        format!("remove `{event}` from its events if it has no handler for it"),
                    );
                }
            }
        }
        if spec.enabled && spec.events.is_empty() && self.error_count() == errors_at_start {
            self.warning(
                id.pos,
                format!(
                    "plugin `{}` is enabled but subscribes to no events",
                    spec.id
                ),
                "add `events: [...]`",
            );
        }
        Some(spec)
    }

    fn read_plugin_config_file(
        &mut self,
        plugin_dir: &Path,
        env: &EnvSources,
        spec: &mut PluginSpec,
        named: &mut Vec<String>,
    ) {
        let path = plugin_dir.join("config.yml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        let file = shared_path(&path);
        let Some(mut node) = parse_file(&file, &text, self.diagnostics) else {
            return;
        };
        let mut reader = EntryReader {
            file: &file,
            id: self.id,
            diagnostics: self.diagnostics,
        };
        referenced_names(&node, named);
        let unset = expand_node(&mut node, env);
        reader.report_unset(unset);
        let fields = match node.kind {
            NodeKind::Map(fields) => fields,
            NodeKind::Null => return,
            _ => {
                reader.error(
                    node.pos,
                    "a plugin's config.yml must be a mapping of settings",
                    "write one `key: value` per line",
                );
                return;
            }
        };
        for (key, value) in fields {
            if ORCHESTRATION_KEYS.contains(&key.name.as_str())
                || DEPRECATED_KEYS.contains(&key.name.as_str())
            {
                reader.warning(
                    key.pos,
                    format!("`{}` is ignored in a plugin's config.yml", key.name),
                    "set it in the plugin's entry in config/plugins.yml",
                );
                continue;
            }
            spec.settings.insert(key.name.clone(), value.to_json());
            spec.setting_locations
                .insert(key.name, Location::new(&file, key.pos));
        }
    }

    fn read_events(&mut self, value: &Node) -> Vec<(Event, Pos)> {
        let NodeKind::Seq(items) = &value.kind else {
            self.error(
                value.pos,
                format!(
                    "`events` must be a list of event names, found {}",
                    value.type_name()
                ),
                "for example `events: [conversation.complete]`",
            );
            return Vec::new();
        };
        let mut events = Vec::new();
        for item in items {
            let Some(name) = item.as_str() else {
                self.error(
                    item.pos,
                    format!("an event name must be a string, found {}", item.type_name()),
                    events_hint(),
                );
                continue;
            };
            match name.parse::<Event>() {
                Ok(event) => events.push((event, item.pos)),
                Err(error) => self.error(item.pos, error.to_string(), events_hint()),
            }
        }
        events
    }

    fn read_permissions(&mut self, value: &Node) -> Vec<Permission> {
        let NodeKind::Seq(items) = &value.kind else {
            self.error(
                value.pos,
                format!("`permissions` must be a list, found {}", value.type_name()),
                "for example `permissions: [database, call_plugin]`",
            );
            return Vec::new();
        };
        let mut permissions = Vec::new();
        for item in items {
            match item.as_str().map(str::parse::<Permission>) {
                Some(Ok(permission)) => permissions.push(permission),
                Some(Err(error)) => self.error(
                    item.pos,
                    error.to_string(),
                    "permissions name the services a plugin may use",
                ),
                None => self.error(
                    item.pos,
                    format!("a permission must be a string, found {}", item.type_name()),
                    "for example `database`",
                ),
            }
        }
        dedup(permissions)
    }

    fn read_condition(&mut self, key: &Key, value: &Node) -> Option<Condition> {
        let fields = match &value.kind {
            NodeKind::Map(fields) => fields,
            NodeKind::Null => {
                self.error(
                    key.pos,
                    format!("`{}` is empty", key.name),
                    "write `condition: {type: always}`, or remove the line to run on every event",
                );
                return None;
            }
            _ => {
                self.error(
                    value.pos,
                    format!(
                        "`{}` must be a mapping with a `type`, found {}",
                        key.name,
                        value.type_name()
                    ),
                    "for example `condition: {type: always}`",
                );
                return None;
            }
        };
        let field = |name: &str| fields.iter().find(|(key, _)| key.name == name);
        let kind = match field("type") {
            None if fields.is_empty() => "always".to_owned(),
            None => {
                self.error(
                    value.pos,
                    "the condition has no `type`",
                    format!("add `type:` with one of: {}", CONDITION_TYPES.join(", ")),
                );
                return None;
            }
            Some((_, node)) => match node.as_str() {
                Some(kind) if CONDITION_TYPES.contains(&kind) => kind.to_owned(),
                _ => {
                    let written = node
                        .as_str()
                        .map_or_else(|| describe(node), |s| format!("`{s}`"));
                    self.error(
                        node.pos,
                        format!("unknown condition type {written}"),
                        format!("use one of: {}", CONDITION_TYPES.join(", ")),
                    );
                    return None;
                }
            },
        };
        let allowed: &[&str] = match kind.as_str() {
            "wake_word" => &["type", "wake_words", "wake_word"],
            "keyword_anywhere" => &["type", "keywords", "keyword"],
            "regex" => &["type", "pattern", "flags"],
            "acoustic_wake_word" => &["type", "threshold"],
            _ => &["type"],
        };
        let mut ok = true;
        for (key, _) in fields {
            if kind == "conditional" && key.name != "type" {
                // Upstream defined no keys for it and read none: they are kept only as text.
                self.warning(
                    key.pos,
                    format!("`{}` is ignored: a conditional condition has no checks, so it always runs, as in the Python Chronicle", key.name),
                    "use wake_word, keyword_anywhere or regex to filter",
                );
                continue;
            }
            if !allowed.contains(&key.name.as_str()) {
                self.error(
                    key.pos,
                    format!("unknown key `{}` in a {kind} condition", key.name),
                    format!("a {kind} condition takes: {}", allowed.join(", ")),
                );
                ok = false;
            }
        }
        let condition = match kind.as_str() {
            "always" => Some(Condition::Always),
            "conditional" => Some(Condition::Conditional),
            "acoustic_wake_word" => self.read_threshold(field("threshold")),
            "wake_word" => self
                .read_phrases(
                    value,
                    field("wake_words"),
                    field("wake_word"),
                    "wake_words",
                    "[\"hey hermes\"]",
                )
                .map(|phrases| Condition::WakeWord(Phrases(phrases))),
            "keyword_anywhere" => self
                .read_phrases(
                    value,
                    field("keywords"),
                    field("keyword"),
                    "keywords",
                    "[\"urgent\"]",
                )
                .and_then(|phrases| match Keywords::new(phrases) {
                    Ok(keywords) => Some(Condition::KeywordAnywhere(keywords)),
                    Err(error) => {
                        self.error(
                            value.pos,
                            format!("cannot compile the keywords: {error}"),
                            "use fewer or shorter keywords",
                        );
                        None
                    }
                }),
            _ => self.read_regex(value, field("pattern"), field("flags")),
        };
        condition.filter(|_| ok)
    }

    /// Reads a list of phrases (`wake_words`) or its single-string form (`wake_word`).
    fn read_threshold(&mut self, field: Option<&(Key, Node)>) -> Option<Condition> {
        let Some((_, node)) = field else {
            return Some(Condition::AcousticWakeWord { threshold: 0.0 });
        };
        let threshold = match node.kind {
            NodeKind::Int(value) => Some(value as f64),
            NodeKind::Float(value) => Some(value),
            NodeKind::Null => Some(0.0),
            _ => None,
        };
        match threshold {
            Some(threshold) if threshold.is_finite() => {
                Some(Condition::AcousticWakeWord { threshold })
            }
            _ => {
                self.error(
                    node.pos,
                    format!("`threshold` must be a number, found {}", describe(node)),
                    "for example `threshold: 0.5`; events without a score count as 1.0",
                );
                None
            }
        }
    }

    fn read_phrases(
        &mut self,
        condition: &Node,
        list: Option<&(Key, Node)>,
        single: Option<&(Key, Node)>,
        list_key: &str,
        example: &str,
    ) -> Option<Vec<String>> {
        let items: Vec<&Node> = match (list, single) {
            (Some((_, node)), _) => match &node.kind {
                NodeKind::Seq(items) => items.iter().collect(),
                _ => {
                    self.error(
                        node.pos,
                        format!(
                            "`{list_key}` must be a list of phrases, found {}",
                            node.type_name()
                        ),
                        format!("for example `{list_key}: {example}`"),
                    );
                    return None;
                }
            },
            (None, Some((_, node))) => vec![node],
            (None, None) => Vec::new(),
        };
        if items.is_empty() {
            self.error(
                condition.pos,
                format!("this condition needs `{list_key}`, and it has none"),
                format!("add `{list_key}: {example}`"),
            );
            return None;
        }
        let mut phrases = Vec::new();
        for item in items {
            match item.as_str().map(normalize) {
                Some(phrase) if !phrase.is_empty() => phrases.push(phrase),
                Some(_) => self.error(
                    item.pos,
                    "this phrase is empty once punctuation is removed",
                    "use words, for example \"hey hermes\"",
                ),
                None => self.error(
                    item.pos,
                    format!("a phrase must be a string, found {}", item.type_name()),
                    format!("for example `{list_key}: {example}`"),
                ),
            }
        }
        (!phrases.is_empty()).then_some(phrases)
    }

    fn read_regex(
        &mut self,
        condition: &Node,
        pattern: Option<&(Key, Node)>,
        flags: Option<&(Key, Node)>,
    ) -> Option<Condition> {
        let Some((_, pattern)) = pattern else {
            self.error(
                condition.pos,
                "a regex condition needs a `pattern`",
                "add `pattern: \"urgent|important\"`",
            );
            return None;
        };
        let Some(source) = pattern.as_str() else {
            self.error(
                pattern.pos,
                format!("`pattern` must be a string, found {}", pattern.type_name()),
                "quote the pattern",
            );
            return None;
        };
        let mut builder = RegexBuilder::new(source);
        if let Some((_, flags)) = flags {
            let names: Vec<(String, Pos)> = match &flags.kind {
                NodeKind::String { text, .. } => text
                    .split(['|', ',', ' '])
                    .filter(|name| !name.is_empty())
                    .flat_map(|name| {
                        // "ims" is three single-letter flags; "IGNORECASE" is one named flag.
                        if name.chars().all(|c| c.is_ascii_lowercase()) && name.len() <= 4 {
                            name.chars().map(|c| c.to_string()).collect::<Vec<_>>()
                        } else {
                            vec![name.to_owned()]
                        }
                    })
                    .map(|name| (name, flags.pos))
                    .collect(),
                NodeKind::Seq(items) => items
                    .iter()
                    .map(|item| (item.as_str().unwrap_or("").to_owned(), item.pos))
                    .collect(),
                _ => vec![(describe(flags), flags.pos)],
            };
            for (name, pos) in names {
                match name.as_str() {
                    "i" | "I" | "IGNORECASE" => builder.case_insensitive(true),
                    "m" | "M" | "MULTILINE" => builder.multi_line(true),
                    "s" | "S" | "DOTALL" => builder.dot_matches_new_line(true),
                    "x" | "X" | "VERBOSE" => builder.ignore_whitespace(true),
                    _ => {
                        self.error(
                            pos,
                            format!("unknown regex flag `{name}`"),
                            "use i (IGNORECASE), m (MULTILINE), s (DOTALL) or x (VERBOSE)",
                        );
                        return None;
                    }
                };
            }
        }
        match builder.build() {
            Ok(regex) => Some(Condition::Regex(regex)),
            Err(error) => {
                let detail = error.to_string();
                let detail = detail
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ");
                self.error(
                    pattern.pos,
                    format!("invalid regex `{source}`: {detail}"),
                    "the pattern uses Rust regex syntax; escape special characters with a backslash",
                );
                None
            }
        }
    }
}

fn events_hint() -> String {
    let names: Vec<&str> = Event::ALL.iter().map(|event| event.as_str()).collect();
    format!("events are: {}", names.join(", "))
}

fn describe(node: &Node) -> String {
    match &node.kind {
        NodeKind::String { text, .. } => format!("\"{text}\""),
        NodeKind::Int(i) => i.to_string(),
        NodeKind::Float(x) => x.to_string(),
        NodeKind::Bool(b) => b.to_string(),
        _ => node.type_name().to_owned(),
    }
}

fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn closest_id<'a>(id: &str, catalog: &'a Catalog) -> Option<&'a str> {
    catalog
        .plugins
        .iter()
        .map(|plugin| plugin.id.as_str())
        .find(|candidate| {
            candidate.contains(id) || id.contains(candidate) || strsim_close(id, candidate)
        })
}

/// Same length give or take two, and at most two positions differ: catches typos like
/// `test_evnt`.
fn strsim_close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    let common_prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let common_suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    common_prefix + common_suffix + 2 >= a.len().max(b.len())
}
