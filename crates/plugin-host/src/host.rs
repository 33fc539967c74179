//! The plugin host: the loaded set of plugins, their health, and their lifecycle.

use std::sync::Arc;
use std::time::Duration;

use chronicle_host_ports::Actor;
use chronicle_plugin_api::protocol::{InitializeParams, Orchestration, PROTOCOL_VERSION};
use chronicle_plugin_api::{
    ConnectionCheck, ConnectionReport, Event, Permission, Plugin, PluginDescriptor, PluginErrorKind,
};
use serde::Serialize;
use serde_json::Value;

use crate::backends::Backends;
use crate::catalog::{Catalog, Runtime, Source};
use crate::config::{self, HostConfig, PluginSpec};
use crate::diagnostic::{ConfigErrors, Diagnostic};
use crate::grants::Grants;
use crate::guard::{Invocation, guard};
use crate::process::ProcessPlugin;
use crate::process::launch::{self, Launch};
use crate::process::sandbox;
use crate::record::CallRecorder;
use crate::services::HostServices;
use crate::slot::{Health, HealthCell, HostInner, SkipReasons, Slot};

/// How long `initialize` may take before the plugin is marked degraded.
pub const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection test may take.
pub const CONNECTION_TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `cleanup` may take on shutdown.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded set of plugins, ready to initialize and route events. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<HostInner>,
}

/// Where a plugin stands in `chronicle plugin list` and the admin API: its [`Health`], or not
/// configured at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Found in the plugins folder or the registry, but `plugins.yml` has no entry for it.
    NotConfigured,
    /// Turned off in `plugins.yml`.
    Disabled,
    /// Built, not yet initialized.
    Registered,
    /// Receiving events.
    Initialized,
    /// A dependency was unreachable; no events until it recovers.
    Degraded,
    /// Broken: no events until its configuration or code changes.
    Failed,
}

impl PluginState {
    /// The name the API and the CLI show.
    pub const fn as_str(self) -> &'static str {
        match self {
            PluginState::NotConfigured => "not_configured",
            PluginState::Disabled => "disabled",
            PluginState::Registered => "registered",
            PluginState::Initialized => "initialized",
            PluginState::Degraded => "degraded",
            PluginState::Failed => "failed",
        }
    }

    /// Whether the plugin is configured but not receiving events because something is wrong.
    pub const fn is_down(self) -> bool {
        matches!(self, PluginState::Degraded | PluginState::Failed)
    }
}

impl From<Health> for PluginState {
    fn from(health: Health) -> Self {
        match health {
            Health::Disabled => PluginState::Disabled,
            Health::Registered => PluginState::Registered,
            Health::Initialized => PluginState::Initialized,
            Health::Degraded => PluginState::Degraded,
            Health::Failed => PluginState::Failed,
        }
    }
}

impl std::fmt::Display for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets tests and callers compare with the name as shown (`status == "initialized"`).
impl PartialEq<&str> for PluginState {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

/// A host that loaded, and what its configuration produced besides.
pub struct Loaded {
    /// The host, not yet initialized.
    pub host: PluginHost,
    /// Worth telling the operator: warnings, notes, and the errors that each failed one plugin
    /// (that plugin is `failed` with them; the others run).
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// The errors among the diagnostics: what a strict check (`plugin validate`, the admin
    /// validate route) refuses.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// One row of `chronicle plugin list`.
#[derive(Clone, Debug, Serialize)]
pub struct PluginStatus {
    /// The id.
    pub plugin_id: String,
    /// A human name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// How it runs.
    pub runtime: Runtime,
    /// Whether `plugins.yml` has an entry for it.
    pub configured: bool,
    /// Whether it receives events.
    pub enabled: bool,
    /// Its subscriptions.
    pub events: Vec<Event>,
    /// Its condition.
    pub condition: Value,
    /// Its place in chains.
    pub priority: i64,
    /// The services its `permissions:` list grants; `None` when it lists none and may use
    /// every service.
    pub permissions: Option<Vec<Permission>>,
    /// The permissions its service calls have needed since it was loaded: the least list.
    pub permissions_used: Vec<Permission>,
    /// Its health, or not configured.
    pub status: PluginState,
    /// Why it is degraded or failed.
    pub error: Option<String>,
    /// What keeps a process plugin in: `landlock`, or why nothing does; `in process` for a
    /// native plugin.
    pub sandbox: String,
    /// The process id, for a running process plugin.
    pub pid: Option<u32>,
    /// How often its process was restarted, for a process plugin.
    pub restarts: Option<u32>,
}

impl PluginHost {
    /// Discovers plugins, reads and validates the configuration, and builds every enabled
    /// plugin. Refuses the whole configuration only for errors in the file itself (its YAML,
    /// its shape, the project's `.env`), listing all of them; an error in one plugin's entry or
    /// settings makes that plugin `failed` with the message, and the others load.
    pub fn load(
        config: &HostConfig,
        registry: &[PluginDescriptor],
        backends: Backends,
    ) -> Result<Loaded, ConfigErrors> {
        let catalog = Catalog::discover(registry, &config.plugins_dir);
        let loaded = config::load(config, &catalog);
        let mut diagnostics = loaded.diagnostics;
        let mut slots = Vec::with_capacity(loaded.specs.len());
        for mut spec in loaded.specs {
            let Some(available) = catalog.get(&spec.id) else {
                continue; // already reported by config::load
            };
            let mut process = None;
            let (name, description) = match &available.source {
                Source::Native(descriptor) => (
                    descriptor.name.to_owned(),
                    descriptor.description.to_owned(),
                ),
                Source::Folder(_) => (spec.id.clone(), String::new()),
            };
            let instance = match &available.source {
                _ if !spec.enabled || spec.failure.is_some() => None,
                Source::Native(descriptor) => match (descriptor.build)(&spec.settings) {
                    Ok(plugin) => Some(Arc::<dyn Plugin>::from(plugin)),
                    Err(error) => {
                        let top_key = error
                            .key
                            .as_deref()
                            .and_then(|key| key.split(['.', '[']).next());
                        let location = top_key
                            .and_then(|key| spec.setting_locations.get(key))
                            .unwrap_or(&spec.location)
                            .clone();
                        let diagnostic =
                            Diagnostic::error(location, format!("plugin `{}`: {error}", spec.id))
                                .with_hint(format!(
                                    "see plugins/{}/config.yml for the settings it takes",
                                    spec.id
                                ))
                                .for_plugin(&spec.id);
                        spec.failure =
                            Some(format!("{}: {}", diagnostic.location, diagnostic.message));
                        diagnostics.push(diagnostic);
                        None
                    }
                },
                Source::Folder(dir) => match launch_for(available.runtime, &spec, dir, config) {
                    Ok(launch) => {
                        let plugin = Arc::new(ProcessPlugin::new(
                            launch,
                            initialize_params(&spec),
                            config.process.clone(),
                        ));
                        process = Some(Arc::clone(&plugin));
                        Some(plugin as Arc<dyn Plugin>)
                    }
                    Err(diagnostic) => {
                        let diagnostic = diagnostic.for_plugin(&spec.id);
                        spec.failure =
                            Some(format!("{}: {}", diagnostic.location, diagnostic.message));
                        diagnostics.push(diagnostic);
                        None
                    }
                },
            };
            let health = match (&spec.failure, spec.enabled) {
                (Some(_), _) => Health::Failed,
                (None, true) => Health::Registered,
                (None, false) => Health::Disabled,
            };
            if spec.enabled && spec.permissions.is_none() && spec.failure.is_none() {
                diagnostics.push(
                    Diagnostic::info(
                        spec.location.clone(),
                        format!(
                            "plugin `{}` lists no `permissions`: it may use every service, as in the Python Chronicle",
                            spec.id
                        ),
                    )
                    .with_hint(
                        "the host logs each service it uses and `chronicle plugin list --json` shows the least list (`permissions_used`); write it as `permissions: [...]` to enforce it",
                    )
                    .for_plugin(&spec.id),
                );
            }
            slots.push(Slot {
                id: Arc::from(spec.id.as_str()),
                runtime: available.runtime,
                name,
                description,
                instance,
                process,
                grants: Grants::for_entry(spec.permissions.as_deref()),
                permissions_used: Default::default(),
                health: HealthCell::new(health, spec.failure.clone()),
                skip_reasons: SkipReasons::new(&spec),
                spec,
            });
        }
        if diagnostics.iter().any(Diagnostic::refuses_file) {
            return Err(ConfigErrors(diagnostics));
        }
        let chains = Event::ALL.map(|event| {
            let mut chain: Vec<usize> = (0..slots.len())
                .filter(|index| slots[*index].spec.events.contains(&event))
                .collect();
            chain.sort_by_key(|index| slots[*index].spec.priority); // stable: ties keep file order
            chain
        });
        diagnostics.extend(catalog.notes.iter().map(|note| {
            Diagnostic::info(
                crate::diagnostic::Location::new(
                    &crate::diagnostic::shared_path(&config.plugins_dir),
                    Default::default(),
                ),
                note.clone(),
            )
        }));
        let sandbox = match &config.process.sandbox_launcher {
            None => "off (no launcher)".to_owned(),
            Some(_) => sandbox::support().to_string(),
        };
        if slots.iter().any(|slot| slot.process.is_some()) {
            let location = crate::diagnostic::Location::new(
                &crate::diagnostic::shared_path(&config.plugins_dir),
                Default::default(),
            );
            diagnostics.push(match sandbox.as_str() {
                "landlock" => Diagnostic::info(
                    location,
                    "process plugins run in a Landlock sandbox: their own folder, their environment, no host secrets",
                ),
                other => Diagnostic::warning(
                    location,
                    format!("process plugins run without a file system sandbox: {other}"),
                )
                .with_hint("their environment is still their own; a kernel with Landlock (Linux 5.13 or newer, enabled) keeps them out of the data folder"),
            });
        }
        let inner = Arc::new(HostInner {
            slots,
            chains,
            backends,
            catalog,
            sandbox,
        });
        for slot in &inner.slots {
            if let Some(process) = &slot.process {
                // Requests a plugin makes outside a handler act for `system`, with its grants.
                process.set_fallback_services(Arc::new(HostServices {
                    host: Arc::downgrade(&inner),
                    plugin_id: Arc::clone(&slot.id),
                    actor: Actor::System,
                    grants: slot.grants,
                    depth: 0,
                    recorder: CallRecorder::default(),
                }));
            }
        }
        Ok(Loaded {
            host: PluginHost { inner },
            diagnostics,
        })
    }

    /// Initializes every enabled plugin, concurrently, each within [`INITIALIZE_TIMEOUT`].
    /// Failures are recorded per plugin (see [`PluginHost::plugins`]); this never fails.
    pub async fn initialize(&self) {
        self.initialize_where(|_| true).await;
    }

    /// Initializes `plugin_id` alone, for a command about one plugin (`plugin check`): the
    /// others stay unstarted, so their services are not contacted.
    pub async fn initialize_one(&self, plugin_id: &str) {
        self.initialize_where(|id| id == plugin_id).await;
    }

    async fn initialize_where(&self, wanted: impl Fn(&str) -> bool) {
        let pending = self.inner.slots.iter().filter_map(|slot| {
            if !wanted(&slot.id) {
                return None;
            }
            let plugin = slot.instance.clone()?;
            Some(async move {
                if let Some(process) = &slot.process
                    && let Err(error) = process.prepare().await
                {
                    tracing::warn!(plugin = %slot.id, error = %error.message, "Plugin did not initialize.");
                    slot.set_health(Health::Failed, Some(error.message));
                    return;
                }
                let (health, error) = initialize_slot(plugin).await;
                match &error {
                    Some(error) => tracing::warn!(plugin = %slot.id, status = ?health, %error, "Plugin did not initialize."),
                    None => tracing::debug!(plugin = %slot.id, "Plugin initialized."),
                }
                slot.set_health(health, error);
            })
        });
        futures_util::future::join_all(pending).await;
    }

    /// Calls every started plugin's `cleanup`, each within [`CLEANUP_TIMEOUT`].
    pub async fn shutdown(&self) {
        let pending = self.inner.slots.iter().filter_map(|slot| {
            let plugin = slot.instance.clone()?;
            matches!(slot.health(), Health::Initialized | Health::Degraded).then_some(async move {
                if let Invocation::Panicked(message) | Invocation::Returned(Err(message)) =
                    guard(CLEANUP_TIMEOUT, async move {
                        plugin.cleanup().await;
                        Ok::<(), String>(())
                    })
                    .await
                {
                    tracing::warn!(plugin = %slot.id, error = %message, "Plugin cleanup failed.");
                }
            })
        });
        futures_util::future::join_all(pending).await;
    }

    /// Imports the code of every enabled Python plugin in a child process, without starting
    /// any: `(plugin id, why it failed)` for each whose import fails (its packages are
    /// installed first, as a start would).
    pub async fn check_imports(&self) -> Vec<(String, String)> {
        let checks = self.inner.slots.iter().filter_map(|slot| {
            let process = slot.process.clone()?;
            Some(async move {
                let result = process.check_import().await;
                result.err().map(|error| (slot.id.to_string(), error))
            })
        });
        futures_util::future::join_all(checks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Runs `plugin_id`'s connection test (bounded by [`CONNECTION_TEST_TIMEOUT`]). A plugin
    /// that is disabled or was not built gets a failed report saying so; one that failed to
    /// start gets its start error as a first failed step, then its own steps. `None` if no
    /// such plugin is configured.
    pub async fn test_connection(&self, plugin_id: &str) -> Option<ConnectionReport> {
        let slot = self
            .inner
            .slots
            .iter()
            .find(|slot| *slot.id == *plugin_id)?;
        let not_ready = |detail: String, fix: &str| {
            ConnectionReport::new(vec![ConnectionCheck::failed("plugin", detail, fix)])
        };
        if !slot.spec.enabled {
            return Some(not_ready(
                format!("`{plugin_id}` is disabled"),
                "set `enabled: true` for it in plugins.yml",
            ));
        }
        let Some(plugin) = &slot.instance else {
            return Some(match &slot.spec.failure {
                Some(failure) => not_ready(
                    format!("`{plugin_id}` cannot be built: {failure}"),
                    "fix its entry in plugins.yml or plugins/<id>/config.yml at the place named",
                ),
                None => not_ready(
                    format!("`{plugin_id}` was not built"),
                    "run `chronicle plugin validate` for why",
                ),
            });
        };
        // A plugin that failed to start is still tested: its steps say what to fix.
        let failed = slot
            .error()
            .filter(|_| slot.health() == Health::Failed)
            .map(|error| {
                ConnectionCheck::failed(
                    "initialize",
                    format!("`{plugin_id}` failed to initialize: {error}"),
                    "fix what the steps below report in plugins.yml or plugins/<id>/config.yml; \
                     the server initializes it again by itself",
                )
            });
        let report = guard(CONNECTION_TEST_TIMEOUT, plugin.test_connection()).await;
        let checks = match report {
            Invocation::Returned(report) => report.checks,
            Invocation::Panicked(message) => vec![ConnectionCheck::failed(
                "plugin",
                format!("the test panicked: {message}"),
                "report this plugin's bug",
            )],
            Invocation::TimedOut(after) => vec![ConnectionCheck::failed(
                "plugin",
                format!("no answer within {} s", after.as_secs()),
                "check that the service is reachable from this machine",
            )],
        };
        Some(ConnectionReport::new(
            failed.into_iter().chain(checks).collect(),
        ))
    }

    /// Every plugin the host can run: configured ones in file order, then the others.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        let configured = self.inner.slots.iter().map(|slot| {
            let info = slot.process.as_ref().and_then(|process| process.info());
            PluginStatus {
                plugin_id: slot.id.to_string(),
                name: info
                    .as_ref()
                    .map_or_else(|| slot.name.clone(), |info| info.name.clone()),
                description: info
                    .as_ref()
                    .map_or_else(|| slot.description.clone(), |info| info.description.clone()),
                runtime: slot.runtime,
                configured: true,
                enabled: slot.spec.enabled,
                events: slot.spec.events.clone(),
                condition: slot.spec.condition.describe(),
                priority: slot.spec.priority,
                permissions: slot.spec.permissions.clone(),
                permissions_used: slot.permissions_used.list(),
                status: slot.health().into(),
                error: slot.error(),
                sandbox: match slot.runtime {
                    Runtime::Native => "in process".to_owned(),
                    Runtime::Python | Runtime::Process => self.inner.sandbox.clone(),
                },
                pid: slot.process.as_ref().and_then(|process| process.pid()),
                restarts: slot.process.as_ref().map(|process| process.restarts()),
            }
        });
        let unconfigured = self
            .inner
            .catalog
            .plugins
            .iter()
            .filter(|available| {
                !self
                    .inner
                    .slots
                    .iter()
                    .any(|slot| *slot.id == *available.id)
            })
            .map(|available| PluginStatus {
                plugin_id: available.id.clone(),
                name: match &available.source {
                    Source::Native(descriptor) => descriptor.name.to_owned(),
                    Source::Folder(_) => available.id.clone(),
                },
                description: match &available.source {
                    Source::Native(descriptor) => descriptor.description.to_owned(),
                    Source::Folder(path) => {
                        format!("{} plugin in {}", available.runtime, path.display())
                    }
                },
                runtime: available.runtime,
                configured: false,
                enabled: false,
                events: Vec::new(),
                condition: Value::Null,
                priority: config::DEFAULT_PRIORITY,
                permissions: None,
                permissions_used: Vec::new(),
                status: PluginState::NotConfigured,
                error: None,
                sandbox: String::new(),
                pid: None,
                restarts: None,
            });
        configured.chain(unconfigured).collect()
    }

    /// The phrases speech recognition should listen for: the wake words and keywords of
    /// enabled plugins, lowercased, in order, without repeats.
    pub fn asr_keywords(&self) -> Vec<String> {
        let mut keywords: Vec<String> = Vec::new();
        for slot in self.inner.slots.iter().filter(|slot| slot.spec.enabled) {
            for phrase in slot.spec.condition.phrases() {
                if !keywords.contains(phrase) {
                    keywords.push(phrase.clone());
                }
            }
        }
        keywords
    }

    /// A configured plugin's settings, as it received them.
    pub fn plugin_settings(&self, plugin_id: &str) -> Option<chronicle_plugin_api::Settings> {
        self.inner
            .slots
            .iter()
            .find(|slot| *slot.id == *plugin_id)
            .map(|slot| slot.spec.settings.clone())
    }

    /// The backends the host's services use.
    pub fn backends(&self) -> &Backends {
        &self.inner.backends
    }
}

/// How to start a folder plugin, or why it cannot be.
/// How a folder plugin starts: its command, with its own environment only, in the sandbox
/// when the host has a launcher (see [`crate::process::sandbox`]).
fn launch_for(
    runtime: Runtime,
    spec: &PluginSpec,
    dir: &std::path::Path,
    config: &HostConfig,
) -> Result<Launch, Diagnostic> {
    let mut launch = command_for(runtime, spec, dir, config)?;
    let private_tmp = sandbox::private_tmp(&spec.id).map_err(|error| {
        Diagnostic::error(
            spec.location.clone(),
            format!("cannot make the private folder of `{}`: {error}", spec.id),
        )
    })?;
    let mut env = launch::base_environment(&private_tmp);
    env.extend(spec.environment.iter().cloned());
    // The runtime's own variables (PYTHONPATH, a manifest's `env`) win over the plugin's.
    env.extend(std::mem::take(&mut launch.env));
    launch.env = env;
    if let Some(launcher) = &config.process.sandbox_launcher {
        let (mut read_only, read_write) = sandbox::system_paths();
        read_only.extend(sandbox::runtime_prefix(&launch.program));
        if let Some(python_env) = &launch.python_env {
            read_only.push(python_env.dir.clone());
            read_only.extend(sandbox::runtime_prefix(std::path::Path::new(
                &python_env.base_python,
            )));
        }
        if let Some((_, python_path)) = launch.env.iter().find(|(key, _)| key == "PYTHONPATH") {
            read_only.extend(std::env::split_paths(python_path));
        }
        let mut writable = vec![
            std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned()),
            private_tmp,
        ];
        writable.extend(read_write);
        let plugins_dir =
            std::path::absolute(&config.plugins_dir).unwrap_or_else(|_| config.plugins_dir.clone());
        launch.sandbox = Some((
            launcher.clone(),
            sandbox::Policy {
                read_write: writable,
                read_only,
                list_only: vec![plugins_dir],
                network: spec.network,
            },
        ));
    }
    Ok(launch)
}

fn command_for(
    runtime: Runtime,
    spec: &PluginSpec,
    dir: &std::path::Path,
    config: &HostConfig,
) -> Result<Launch, Diagnostic> {
    if runtime == Runtime::Process {
        return launch::read_manifest(&dir.join("plugin.toml"))
            .map(|manifest| launch::manifest_launch(dir, &manifest));
    }
    match crate::process::sdk::python_path() {
        Ok(sdk) => {
            launch::python(&spec.id, &config.plugins_dir, &config.process, &sdk).map_err(|error| {
                Diagnostic::error(
                    spec.location.clone(),
                    format!("plugin `{}`: {error}", spec.id),
                )
                .with_hint(
                    "fix the file named; its dependencies must be a list of requirement strings",
                )
            })
        }
        Err(error) => Err(Diagnostic::error(
            spec.location.clone(),
            format!("cannot prepare the Python SDK for `{}`: {error}", spec.id),
        )
        .with_hint(
            "set CHRONICLE_PYTHON_SDK to the sdk/python/src folder of a Chronicle checkout",
        )),
    }
}

/// The handshake a process plugin receives.
fn initialize_params(spec: &PluginSpec) -> InitializeParams {
    InitializeParams {
        protocol_version: PROTOCOL_VERSION.to_owned(),
        host_version: env!("CARGO_PKG_VERSION").to_owned(),
        plugin_id: spec.id.clone(),
        settings: spec.settings.clone(),
        orchestration: Orchestration {
            enabled: spec.enabled,
            events: spec.events.clone(),
            condition: spec.condition.describe(),
            priority: spec.priority,
        },
        // Without a list, every service, as the host grants it.
        permissions: spec
            .permissions
            .clone()
            .unwrap_or_else(|| Permission::ALL.to_vec()),
    }
}

/// Runs a plugin's `initialize` within [`INITIALIZE_TIMEOUT`] and says what health that gives:
/// unreachable or late → degraded; broken or panicking → failed.
pub(crate) async fn initialize_slot(plugin: Arc<dyn Plugin>) -> (Health, Option<String>) {
    match guard(INITIALIZE_TIMEOUT, async move { plugin.initialize().await }).await {
        Invocation::Returned(Ok(())) => (Health::Initialized, None),
        Invocation::Returned(Err(error)) => match error.kind {
            PluginErrorKind::Unreachable => (Health::Degraded, Some(error.message)),
            PluginErrorKind::Broken => (Health::Failed, Some(error.message)),
        },
        Invocation::Panicked(message) => (
            Health::Failed,
            Some(format!("initialize panicked: {message}")),
        ),
        Invocation::TimedOut(after) => (
            Health::Degraded,
            Some(format!(
                "initialize did not finish within {} s",
                after.as_secs()
            )),
        ),
    }
}
