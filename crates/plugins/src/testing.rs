//! A harness that runs bundled plugins through the real host, and the compliance check every
//! bundled plugin must pass.

use std::sync::Arc;

use chronicle_plugin_api::{Event, JsonMap, PluginDescriptor};
use chronicle_plugin_host::{
    Backends, DispatchRecord, DispatchRequest, HostConfig, OfflineConversations, PluginHost,
};
use serde_json::Value;

/// The repository's `plugins/` folder, with the shipped `config.yml` files.
pub fn shipped_plugins_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
}

/// A host built from `plugins_yml` over the shipped plugin folders, initialized.
pub struct Harness {
    _config_dir: tempfile::TempDir,
    pub host: PluginHost,
}

impl Harness {
    /// Loads and initializes; `session` is the session id conversation services accept.
    pub async fn new(plugins_yml: &str, session: Option<&str>) -> Self {
        Self::build(crate::REGISTRY, plugins_yml, session).await
    }

    /// A host running only `registry`, for plugins not (yet) in [`crate::REGISTRY`].
    pub async fn with_registry(registry: &[PluginDescriptor], plugins_yml: &str) -> Self {
        Self::build(registry, plugins_yml, None).await
    }

    async fn build(
        registry: &[PluginDescriptor],
        plugins_yml: &str,
        session: Option<&str>,
    ) -> Self {
        let config_dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(config_dir.path().join("plugins.yml"), plugins_yml)
            .expect("write plugins.yml");
        let config = HostConfig {
            config_dir: config_dir.path().to_owned(),
            plugins_dir: shipped_plugins_dir(),
            env_file: None,
            process: Default::default(),
        };
        let backends = Backends {
            conversations: Arc::new(OfflineConversations {
                active_session: session.map(str::to_owned),
            }),
            ..Backends::in_memory()
        };
        let loaded = match PluginHost::load(&config, registry, backends) {
            Ok(loaded) => loaded,
            Err(errors) => panic!("config refused:\n{errors}"),
        };
        loaded.host.initialize().await;
        Self {
            _config_dir: config_dir,
            host: loaded.host,
        }
    }

    /// Dispatches `event` with `data` for user `u1`.
    pub async fn dispatch(&self, event: Event, data: Value) -> Arc<DispatchRecord> {
        self.host
            .dispatch(DispatchRequest::new(event, "u1", crate::into_object(data)))
            .await
    }

    /// The documents `plugin_id` stored in `collection`.
    pub async fn documents(&self, plugin_id: &str, collection: &str) -> Vec<JsonMap> {
        self.host
            .backends()
            .documents
            .find(plugin_id, collection, &JsonMap::new(), None)
            .await
            .expect("memory store")
    }
}

/// The result `plugin_id` returned in `record`; panics when it returned none.
#[track_caller]
pub fn result_of(record: &DispatchRecord, plugin_id: &str) -> chronicle_plugin_api::PluginResult {
    let outcome = record
        .outcome(plugin_id)
        .unwrap_or_else(|| panic!("{plugin_id} was not subscribed"));
    outcome.result.clone().unwrap_or_else(|| {
        panic!(
            "{plugin_id} returned no result: {:?} {:?}",
            outcome.status, outcome.reason
        )
    })
}

/// What every bundled plugin must satisfy:
/// - its shipped `plugins/<id>/config.yml` parses and builds, enabled on every event it
///   supports, and the plugin initializes;
/// - subscribing it to an event outside its access levels is refused by validation.
pub async fn assert_plugin_compliance(descriptor: &PluginDescriptor, permissions: &str) {
    let id = descriptor.id;
    assert!(
        shipped_plugins_dir().join(id).join("config.yml").is_file(),
        "plugins/{id}/config.yml documents the plugin's settings"
    );
    let supported: Vec<&str> = Event::ALL
        .iter()
        .filter(|event| {
            event
                .access_level()
                .is_none_or(|level| descriptor.access_levels.contains(&level))
        })
        .map(|event| event.as_str())
        .collect();
    let yml = format!(
        "plugins:\n  {id}:\n    enabled: true\n    events: [{}]\n    permissions: [{permissions}]\n",
        supported.join(", ")
    );
    let harness = Harness::new(&yml, None).await;
    let status = harness
        .host
        .plugins()
        .into_iter()
        .find(|p| p.plugin_id == id)
        .expect("listed");
    assert_eq!(
        status.status, "initialized",
        "{id} initializes with its shipped config: {:?}",
        status.error
    );

    if let Some(unsupported) = Event::ALL.iter().find(|event| {
        event
            .access_level()
            .is_some_and(|level| !descriptor.access_levels.contains(&level))
    }) {
        let config_dir = tempfile::tempdir().expect("temp dir");
        let yml = format!("plugins:\n  {id}:\n    enabled: true\n    events: [{unsupported}]\n");
        std::fs::write(config_dir.path().join("plugins.yml"), yml).expect("write");
        let config = HostConfig {
            config_dir: config_dir.path().to_owned(),
            plugins_dir: shipped_plugins_dir(),
            env_file: None,
            process: Default::default(),
        };
        let Err(errors) = PluginHost::load(&config, crate::REGISTRY, Backends::in_memory()) else {
            panic!("{id} subscribed to {unsupported} must be refused");
        };
        assert!(
            errors
                .to_string()
                .contains(&format!("cannot handle `{unsupported}`")),
            "{errors}"
        );
    }
}
