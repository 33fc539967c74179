//! Test plugins with known behaviour, and a host built from a plugins.yml written to a temp
//! folder.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chronicle_plugin_api::Event;
use chronicle_plugin_api::{
    AccessLevel, HandlerOutcome, JsonMap, Plugin, PluginContext, PluginDescriptor, PluginError,
    PluginResult, Settings, SettingsError, async_trait,
};
use chronicle_plugin_host::{
    Backends, ConfigErrors, DispatchRecord, DispatchRequest, HostConfig, Loaded, PluginHost,
    PluginStatus,
};
use serde::Deserialize;
use serde_json::Value;

/// Behaves as its settings say; every handler does the same thing.
pub struct Scripted {
    settings: Behaviour,
    initialize_calls: std::sync::atomic::AtomicU32,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// What the handler does: `result` (default), `decline`, `stop`, `fail_result`, `error`,
    /// `panic`, `sleep`.
    pub mode: String,
    /// Written into the metadata as `{key: plugin id}` appended to the list `seen`.
    pub record_in_metadata: bool,
    /// For `sleep`.
    pub sleep_ms: u64,
    /// Initialize fails: `unreachable` or `broken`; `panic` panics; `hang` never returns;
    /// `fail_twice` is unreachable on the first two attempts.
    pub init: String,
    /// Any settings to echo back in the result data.
    pub echo: Option<Value>,
    /// Calls `call_plugin` to this plugin on every event.
    pub call: Option<String>,
    /// Appends one JSON line per call here: plugin, event, key, attempt, data, metadata.
    pub journal: Option<std::path::PathBuf>,
    /// Events whose data has `"flaky": true` fail until this attempt.
    pub fail_until_attempt: u32,
    /// Every call fails while this file exists.
    pub fail_while_exists: Option<std::path::PathBuf>,
    /// Events whose data has `"slow": true` take `sleep_ms` first.
    pub slow_sleep: bool,
}

impl Scripted {
    fn build(settings: &Settings) -> Result<Box<dyn Plugin>, SettingsError> {
        Ok(Box::new(Scripted {
            settings: chronicle_plugin_api::parse_settings(settings)?,
            initialize_calls: std::sync::atomic::AtomicU32::new(0),
        }))
    }

    async fn handle(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let id = ctx.delivery.plugin_id.to_string();
        if let Some(journal) = &self.settings.journal {
            use std::io::Write;
            let line = serde_json::json!({
                "plugin": id,
                "event": ctx.event.as_str(),
                "key": ctx.delivery.idempotency_key(),
                "attempt": ctx.delivery.attempt,
                "data": Value::Object((*ctx.data).clone()),
                "metadata": Value::Object(ctx.metadata.clone()),
            });
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(journal)
                .expect("journal");
            writeln!(file, "{line}").expect("journal write");
        }
        let flag = |key: &str| ctx.data.get(key) == Some(&Value::Bool(true));
        if self.settings.slow_sleep && flag("slow") {
            tokio::time::sleep(Duration::from_millis(self.settings.sleep_ms)).await;
        }
        if flag("flaky") && ctx.delivery.attempt < self.settings.fail_until_attempt {
            return Err(PluginError::broken(format!(
                "{id} flaked on attempt {}",
                ctx.delivery.attempt
            )));
        }
        if let Some(marker) = &self.settings.fail_while_exists
            && marker.exists()
        {
            return Err(PluginError::broken(format!("{id} is broken")));
        }
        if self.settings.record_in_metadata {
            let seen = ctx
                .metadata
                .entry("seen")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(seen) = seen {
                seen.push(Value::from(id.as_str()));
            }
        }
        if let Some(target) = &self.settings.call {
            let reply = ctx
                .services
                .call_plugin(target, "ping", JsonMap::new(), None)
                .await?;
            let mut data = JsonMap::new();
            data.insert(
                "reply".into(),
                serde_json::to_value(reply).unwrap_or(Value::Null),
            );
            return Ok(Some(PluginResult::ok("called").with_data(data)));
        }
        let mut data = JsonMap::new();
        data.insert("seen_data".into(), Value::Object((*ctx.data).clone()));
        if let Some(echo) = &self.settings.echo {
            data.insert("echo".into(), echo.clone());
        }
        match self.settings.mode.as_str() {
            "decline" => Ok(None),
            "stop" => Ok(Some(
                PluginResult::ok(format!("{id} handled it")).stop_chain(),
            )),
            "fail_result" => Ok(Some(PluginResult::failure(format!("{id} could not")))),
            "error" => Err(PluginError::broken(format!("{id} broke"))),
            "panic" => panic!("{id} exploded"),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(self.settings.sleep_ms)).await;
                Ok(Some(PluginResult::ok("slept")))
            }
            _ => Ok(Some(PluginResult::ok(format!("{id} ran")).with_data(data))),
        }
    }
}

#[async_trait]
impl Plugin for Scripted {
    async fn initialize(&self) -> Result<(), PluginError> {
        let attempt = self
            .initialize_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        match self.settings.init.as_str() {
            "fail_twice" if attempt <= 2 => Err(PluginError::unreachable(format!(
                "attempt {attempt}: service down"
            ))),
            "unreachable" => Err(PluginError::unreachable("cannot reach the service")),
            "broken" => Err(PluginError::broken("missing api key")),
            "panic" => panic!("init exploded"),
            "hang" => {
                std::future::pending::<()>().await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.handle(ctx).await
    }
    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.handle(ctx).await
    }
    async fn on_memory_processed(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.handle(ctx).await
    }
    async fn on_conversation_starred(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.handle(ctx).await
    }
    async fn on_button_event(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.handle(ctx).await
    }
    async fn on_plugin_action(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.handle(ctx).await
    }
}

const fn scripted(id: &'static str) -> PluginDescriptor {
    PluginDescriptor {
        id,
        name: id,
        description: "a scripted test plugin",
        access_levels: &AccessLevel::ALL,
        build: Scripted::build,
    }
}

/// Scripted plugins `a` … `f`, and `buttons_only`, which supports button events only.
pub const REGISTRY: &[PluginDescriptor] = &[
    scripted("a"),
    scripted("b"),
    scripted("c"),
    scripted("d"),
    scripted("e"),
    scripted("f"),
    PluginDescriptor {
        id: "buttons_only",
        name: "buttons only",
        description: "supports button events only",
        access_levels: &[AccessLevel::Button],
        build: Scripted::build,
    },
];

/// A temp project: `config/plugins.yml`, `plugins/`, `.env`.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(plugins_yml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("plugins")).expect("mkdir");
        std::fs::write(dir.path().join("config/plugins.yml"), plugins_yml).expect("write");
        Self { dir }
    }

    pub fn write(&self, relative: &str, contents: &str) -> &Self {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> HostConfig {
        HostConfig {
            config_dir: self.path().join("config"),
            plugins_dir: self.path().join("plugins"),
            env_file: Some(self.path().join(".env")),
            process: Default::default(),
        }
    }

    pub fn load(&self) -> Result<Loaded, ConfigErrors> {
        PluginHost::load(&self.config(), REGISTRY, Backends::in_memory())
    }

    /// Loads with process restarts after 50 ms (not 1 s), after `adjust` had its say, and
    /// initializes.
    pub async fn start_processes(&self, adjust: impl FnOnce(&mut HostConfig)) -> PluginHost {
        let mut config = self.config();
        config.process.restart_base = Duration::from_millis(50);
        adjust(&mut config);
        let loaded = PluginHost::load(&config, REGISTRY, Backends::in_memory())
            .unwrap_or_else(|errors| panic!("{errors}"));
        loaded.host.initialize().await;
        loaded.host
    }

    /// Loads (panicking with the errors if refused) and initializes.
    pub async fn host(&self) -> PluginHost {
        let loaded = self.load().unwrap_or_else(|errors| panic!("{errors}"));
        loaded.host.initialize().await;
        loaded.host
    }
}

pub fn object(value: Value) -> JsonMap {
    value.as_object().cloned().unwrap_or_default()
}

/// Dispatches `event` with `data` for user `u1`.
pub async fn dispatch(host: &PluginHost, event: Event, data: Value) -> Arc<DispatchRecord> {
    host.dispatch(DispatchRequest::new(event, "u1", object(data)))
        .await
}

/// The listing of one plugin.
pub fn status(host: &PluginHost, id: &str) -> PluginStatus {
    host.plugins()
        .into_iter()
        .find(|p| p.plugin_id == id)
        .expect("listed")
}
