//! Discovery: the plugins this host can run, from the binary and from the `plugins/` folder.

use std::fmt;
use std::path::{Path, PathBuf};

use chronicle_plugin_api::{AccessLevel, PluginDescriptor};
use serde::Serialize;

/// How a plugin runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Compiled into the binary; runs in process.
    Native,
    /// `plugins/<id>/plugin.py`, run by the Python runner out of process.
    Python,
    /// `plugins/<id>/plugin.toml`, any executable speaking the wire protocol.
    Process,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Native => "native",
            Runtime::Python => "python",
            Runtime::Process => "process",
        })
    }
}

/// A plugin the host found.
#[derive(Clone, Debug)]
pub struct Available {
    /// The id `plugins.yml` uses.
    pub id: String,
    /// How it runs.
    pub runtime: Runtime,
    /// What to build it from.
    pub source: Source,
}

/// Where an available plugin comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A descriptor compiled into the binary.
    Native(PluginDescriptor),
    /// A folder under `plugins/`.
    Folder(PathBuf),
}

impl Available {
    /// The access levels the plugin declares, when known before it runs.
    pub fn access_levels(&self) -> Option<&'static [AccessLevel]> {
        match &self.source {
            Source::Native(descriptor) => Some(descriptor.access_levels),
            Source::Folder(_) => None,
        }
    }
}

/// Everything the host can run, bundled plugins first, then folders in name order.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// The plugins found.
    pub plugins: Vec<Available>,
    /// Folders that looked like plugins but were passed over, with why.
    pub notes: Vec<String>,
}

impl Catalog {
    /// Lists `registry` and the plugin folders of `plugins_dir`.
    ///
    /// A folder is a process plugin when it holds `plugin.toml`, otherwise a Python plugin when
    /// it holds `plugin.py`; folders starting with `_` or `.` are skipped. A folder named after a
    /// bundled plugin holds that plugin's `config.yml` and `.env`, not a second plugin. An
    /// unreadable `plugins_dir` gives an empty list, never an error: the bundled plugins still
    /// run.
    pub fn discover(registry: &[PluginDescriptor], plugins_dir: &Path) -> Self {
        let mut catalog = Catalog {
            plugins: registry
                .iter()
                .map(|descriptor| Available {
                    id: descriptor.id.to_owned(),
                    runtime: Runtime::Native,
                    source: Source::Native(*descriptor),
                })
                .collect(),
            notes: Vec::new(),
        };
        let Ok(entries) = std::fs::read_dir(plugins_dir) else {
            return catalog;
        };
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
        folders.sort();
        for folder in folders {
            let Some(id) = folder.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            if id.starts_with('_') || id.starts_with('.') {
                continue;
            }
            // An explicit manifest wins: a process plugin may well be written in Python.
            let runtime = if folder.join("plugin.toml").is_file() {
                Runtime::Process
            } else if folder.join("plugin.py").is_file() {
                Runtime::Python
            } else {
                continue;
            };
            if catalog.get(id).is_some() {
                catalog.notes.push(format!(
                    "{}: ignored, `{id}` is a bundled plugin; this folder only holds its config.yml and .env",
                    folder.display()
                ));
                continue;
            }
            catalog.plugins.push(Available {
                id: id.to_owned(),
                runtime,
                source: Source::Folder(folder),
            });
        }
        catalog
    }

    /// The plugin with this id.
    pub fn get(&self, id: &str) -> Option<&Available> {
        self.plugins.iter().find(|plugin| plugin.id == id)
    }
}
