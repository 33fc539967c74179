//! Hot reload: a changed `config/plugins.yml` or `plugins/` is picked up without a restart.
//! The new set is built and initialized beside the running one, swapped in at once, and the
//! old set is cleaned up; a broken configuration is refused, logged, and the running set
//! stays.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chronicle_plugin_host::{Backends, HostConfig, PluginHost, PluginState};
use notify::{RecursiveMode, Watcher};
use serde_json::{Value, json};

use crate::state::Core;

/// How long changes settle before a reload, so an editor's save is one reload.
const SETTLE: Duration = Duration::from_millis(300);
/// The longest the old plugins may finish calls in flight (the longest default deadline)
/// before they are cleaned up anyway.
const DRAIN: Duration = Duration::from_secs(30);

/// Builds, initializes and swaps in a new plugin set from the configuration on disk.
pub async fn reload_plugins(core: &Arc<Core>) -> Result<Value, Vec<String>> {
    reload_after(core, None).await
}

/// Reloads unless a reload started after `changed_at` (which has already seen the change: an
/// admin's config PUT reloads at once, and its own write must not reload a second time).
async fn reload_after(core: &Arc<Core>, changed_at: Option<Instant>) -> Result<Value, Vec<String>> {
    let mut last_started = core.reloading.lock().await;
    if let (Some(changed_at), Some(last)) = (changed_at, *last_started)
        && last >= changed_at
    {
        return Ok(
            json!({"success": true, "skipped": "a reload since the change already applied it"}),
        );
    }
    let started = Instant::now();
    *last_started = Some(started);
    let loaded = PluginHost::load(&core.config.host, core.registry, core.backends.clone())
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect::<Vec<_>>())
        .inspect_err(|errors| {
            tracing::error!(
                errors = errors.join("\n"),
                "Plugin configuration refused; the running plugins stay."
            )
        })?;
    for diagnostic in &loaded.diagnostics {
        diagnostic.log();
    }
    loaded.host.initialize().await;
    let new = Arc::new(loaded.host);
    let old = core.host.swap(Arc::clone(&new));
    let previous = old.plugins().iter().filter(|p| p.configured).count();
    new.spawn_recovery(Default::default());
    tokio::spawn(async move {
        // Calls in flight hold the old host; once none does (or the drain time is up), stop it.
        let drained = Instant::now();
        while Arc::strong_count(&old) > 1 && drained.elapsed() < DRAIN {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        old.shutdown().await;
    });
    let plugins = new.plugins();
    let initialized: Vec<&str> = plugins
        .iter()
        .filter(|p| p.status == PluginState::Initialized)
        .map(|p| p.plugin_id.as_str())
        .collect();
    let failed: Vec<Value> = plugins
        .iter()
        .filter(|p| p.status.is_down())
        .map(|p| json!({"plugin_id": p.plugin_id, "status": p.status, "error": p.error}))
        .collect();
    tracing::info!(
        initialized = initialized.len(),
        failed = failed.len(),
        "Plugins reloaded."
    );
    Ok(json!({
        "success": true,
        "previous_plugin_count": previous,
        "new_plugin_count": plugins.iter().filter(|p| p.configured).count(),
        "initialized": initialized,
        "failed": failed,
        "elapsed_seconds": started.elapsed().as_secs_f64(),
    }))
}

/// Checks a candidate plugins.yml against the plugins this server can run, without starting
/// anything; errors name the real file.
pub async fn validate_candidate(core: &Core, text: &str) -> Result<(), Vec<String>> {
    // An empty body is far more often a client's mistake than a wish to configure nothing.
    if text.trim().is_empty() {
        return Err(vec![
            "the configuration is empty: saving it would leave no plugin configured; send `plugins: {}` if that is what you mean".to_owned(),
        ]);
    }
    let scratch = core
        .store
        .folder()
        .scratch()
        .join(uuid::Uuid::new_v4().simple().to_string());
    let write = std::fs::create_dir_all(&scratch)
        .and_then(|()| std::fs::write(scratch.join("plugins.yml"), text));
    if let Err(error) = write {
        return Err(vec![format!("cannot check the configuration: {error}")]);
    }
    let config = HostConfig {
        config_dir: scratch.clone(),
        ..core.config.host.clone()
    };
    // Strict: an edit that would leave a plugin failed is refused too, so the person editing
    // sees every error before anything is saved.
    let diagnostics = match PluginHost::load(&config, core.registry, Backends::in_memory()) {
        Ok(loaded) => loaded.diagnostics,
        Err(errors) => errors.0,
    };
    let candidate = scratch.join("plugins.yml").display().to_string();
    let real = core.config.host.plugins_file().display().to_string();
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string().replace(&candidate, &real))
        .collect();
    let result = if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    };
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Whether a changed path can change the plugin set: configuration, plugin code, the packages
/// a plugin lists, or a plugin folder appearing or going; not a plugin's own data files, caches
/// or backups.
fn relevant(path: &Path, plugins_dir: &Path) -> bool {
    if path.components().any(|c| c.as_os_str() == "__pycache__") {
        return false;
    }
    match path.file_name().and_then(|n| n.to_str()) {
        Some(
            "plugins.yml" | "config.yml" | ".env" | "plugin.toml" | "requirements.txt"
            | "pyproject.toml",
        ) => true,
        Some(name) => name.ends_with(".py") || path.parent() == Some(plugins_dir),
        None => false,
    }
}

/// Watches the configuration and the plugin folders; reloads after changes settle. Keeps
/// watching until the server stops.
pub fn watch(core: &Arc<Core>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let plugins_dir = std::path::absolute(&core.config.host.plugins_dir)
        .unwrap_or_else(|_| core.config.host.plugins_dir.clone());
    let absolute_plugins_dir = plugins_dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
            && event.paths.iter().any(|p| relevant(p, &plugins_dir))
        {
            let _ = tx.send(Instant::now());
        }
    })?;
    // Absolute, so the paths events carry compare with `plugins_dir`.
    let config_dir = std::path::absolute(&core.config.host.config_dir)
        .unwrap_or_else(|_| core.config.host.config_dir.clone());
    watcher.watch(&config_dir, RecursiveMode::NonRecursive)?;
    if core.config.host.plugins_dir.is_dir() {
        watcher.watch(&absolute_plugins_dir, RecursiveMode::Recursive)?;
    }
    let weak = Arc::downgrade(core);
    tokio::spawn(async move {
        while let Some(mut changed_at) = rx.recv().await {
            // Let a burst of changes settle into one reload.
            tokio::time::sleep(SETTLE).await;
            while let Ok(later) = rx.try_recv() {
                changed_at = later;
            }
            let Some(core) = weak.upgrade() else { return };
            tracing::info!("Plugin configuration changed; reloading.");
            let _ = reload_after(&core, Some(changed_at)).await;
        }
    });
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configuration_and_code_changes_reload() {
        for (path, expected) in [
            ("config/plugins.yml", true),
            ("plugins/a/config.yml", true),
            ("plugins/a/.env", true),
            ("plugins/a/plugin.py", true),
            ("plugins/a/plugin.toml", true),
            ("plugins/a/requirements.txt", true),
            ("plugins/a/pyproject.toml", true),
            ("plugins/new_plugin", true),
            ("plugins/a/__pycache__/plugin.cpython-311.pyc", false),
            ("config/plugins.yml.backup", false),
            ("plugins/a/state.json", false),
            ("plugins/a/state", false),
            ("plugins/a/venv/bin/python3", false),
        ] {
            assert_eq!(
                relevant(Path::new(path), Path::new("plugins")),
                expected,
                "{path}"
            );
        }
    }
}
