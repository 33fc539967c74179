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

/// Everything the host can run: bundled plugins first (a user's folder of the same name in
/// its place), then folders in name order.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// The plugins found.
    pub plugins: Vec<Available>,
    /// What the operator should know about discovery: which folder replaced a bundled plugin.
    pub notes: Vec<String>,
}

impl Catalog {
    /// Lists `registry` and the plugin folders of `plugins_dir`.
    ///
    /// A folder is a process plugin when it holds `plugin.toml`, otherwise a Python plugin when
    /// it holds `plugin.py`; folders starting with `_` or `.` are skipped. A folder with code named
    /// after a bundled plugin replaces it (one note says so); one without code holds the bundled
    /// plugin's `config.yml` and `.env`. An unreadable `plugins_dir` gives an empty list, never an error: the bundled plugins still
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
            let found = Available {
                id: id.to_owned(),
                runtime,
                source: Source::Folder(folder.clone()),
            };
            // The user's code wins over ours: a folder named after a bundled plugin is what
            // the Python original would have run under that id.
            match catalog.plugins.iter_mut().find(|plugin| plugin.id == id) {
                Some(bundled) => {
                    catalog.notes.push(format!(
                        "{}: runs as `{id}` ({runtime}) instead of the bundled plugin of that name",
                        folder.display()
                    ));
                    *bundled = found;
                }
                None => catalog.plugins.push(found),
            }
        }
        catalog
    }

    /// The plugin with this id.
    pub fn get(&self, id: &str) -> Option<&Available> {
        self.plugins.iter().find(|plugin| plugin.id == id)
    }
}
