//! A Python plugin's own virtual environment, for the packages its folder asks for.
//!
//! A folder with `requirements.txt`, or a `pyproject.toml` listing `[project] dependencies`,
//! gets a virtual environment of its own, made with the base interpreter's `venv` and filled
//! with pip from the package registry. It is cached under a name that holds a hash of what was
//! asked for, so an unchanged folder reuses it and a changed file makes a new one. The SDK is
//! not installed into it: the launch puts the SDK on `PYTHONPATH` as for every Python plugin.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long one environment may take to make, pip's downloads included.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How many of pip's last lines an install failure reports.
const ERROR_LINES: usize = 12;

/// What a plugin folder asks to have installed, and where its environment goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonEnv {
    /// The plugin, for the log.
    pub plugin_id: String,
    /// The interpreter the environment is made from.
    pub base_python: String,
    /// The environment's folder: `<root>/<plugin id>-<hash>`.
    pub dir: PathBuf,
    /// What pip installs.
    pub requirements: Requirements,
}

/// Where a plugin's packages are listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirements {
    /// `pip install -r <file>`.
    File(PathBuf),
    /// `pip install <each>`: `[project] dependencies` of `pyproject.toml`.
    List(Vec<String>),
}

impl PythonEnv {
    /// The environment `plugin_dir` asks for, if it asks for one: `Ok(None)` when it lists no
    /// packages. An unreadable `pyproject.toml` is an error naming the file.
    pub fn for_folder(
        plugin_id: &str,
        plugin_dir: &Path,
        base_python: &str,
        root: &Path,
    ) -> Result<Option<Self>, String> {
        let requirements_file = plugin_dir.join("requirements.txt");
        let (requirements, listed) = if requirements_file.is_file() {
            let text = std::fs::read(&requirements_file)
                .map_err(|error| format!("cannot read {}: {error}", requirements_file.display()))?;
            (Requirements::File(requirements_file), text)
        } else {
            let pyproject = plugin_dir.join("pyproject.toml");
            if !pyproject.is_file() {
                return Ok(None);
            }
            let dependencies = pyproject_dependencies(&pyproject)?;
            if dependencies.is_empty() {
                return Ok(None);
            }
            let listed = dependencies.join("\n").into_bytes();
            (Requirements::List(dependencies), listed)
        };
        let mut hash = Sha256::new();
        hash.update(base_python.as_bytes());
        hash.update([0]);
        hash.update(&listed);
        let digest = hash.finalize();
        let short: String = digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(Some(Self {
            plugin_id: plugin_id.to_owned(),
            base_python: base_python.to_owned(),
            dir: root.join(format!("{plugin_id}-{short}")),
            requirements,
        }))
    }

    /// The environment's interpreter.
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin").join("python")
    }

    fn marker(&self) -> PathBuf {
        self.dir.join(".chronicle-complete")
    }

    /// Whether the environment is ready to use.
    pub fn is_ready(&self) -> bool {
        self.marker().is_file()
    }

    /// Makes the environment unless it is ready. On failure, the message ends with pip's last
    /// lines; nothing half-made is left where a later start would take it for ready.
    pub async fn ensure(&self) -> Result<(), String> {
        if self.is_ready() {
            return Ok(());
        }
        let root = self.dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(root)
            .map_err(|error| format!("cannot create {}: {error}", root.display()))?;
        // Made beside and renamed into place, so a concurrent host sees all or nothing.
        let staging = root.join(format!(
            ".{}.{}",
            self.dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("env"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        tracing::info!(plugin = %self.plugin_id, dir = %self.dir.display(), "Making the plugin's Python environment.");
        let made = self.make(&staging).await;
        if let Err(error) = made {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
        std::fs::write(staging.join(".chronicle-complete"), b"")
            .map_err(|error| format!("cannot finish {}: {error}", staging.display()))?;
        match std::fs::rename(&staging, &self.dir) {
            Ok(()) => {}
            Err(_) if self.is_ready() => {
                let _ = std::fs::remove_dir_all(&staging);
            }
            Err(error) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(format!(
                    "cannot move the environment into {}: {error}",
                    self.dir.display()
                ));
            }
        }
        self.remove_older(root);
        tracing::info!(plugin = %self.plugin_id, "The plugin's Python environment is ready.");
        Ok(())
    }

    async fn make(&self, staging: &Path) -> Result<(), String> {
        let staging_text = staging.display().to_string();
        self.run("venv", &self.base_python, &["-m", "venv", &staging_text])
            .await?;
        let python = staging.join("bin").join("python").display().to_string();
        let mut args: Vec<String> = [
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ]
        .map(str::to_owned)
        .to_vec();
        match &self.requirements {
            Requirements::File(file) => {
                args.push("-r".into());
                args.push(file.display().to_string());
            }
            Requirements::List(packages) => args.extend(packages.iter().cloned()),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("pip install", &python, &args).await
    }

    /// Runs one step, logging its output at info as it comes; keeps the last lines for the
    /// error.
    async fn run(&self, step: &str, program: &str, args: &[&str]) -> Result<(), String> {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("{step}: cannot run {program}: {error}"))?;
        let mut last = VecDeque::with_capacity(ERROR_LINES);
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(format!("{step}: no output pipes"));
        };
        let mut stdout = BufReader::new(stdout).lines();
        let mut stderr = BufReader::new(stderr).lines();
        let plugin = self.plugin_id.as_str();
        let collect = async {
            let (mut out_open, mut err_open) = (true, true);
            while out_open || err_open {
                let line = tokio::select! {
                    line = stdout.next_line(), if out_open => line.ok().flatten().or_else(|| { out_open = false; None }),
                    line = stderr.next_line(), if err_open => line.ok().flatten().or_else(|| { err_open = false; None }),
                };
                if let Some(line) = line {
                    tracing::info!(plugin, "{step}: {line}");
                    if last.len() == ERROR_LINES {
                        last.pop_front();
                    }
                    last.push_back(line);
                }
            }
            child.wait().await
        };
        let status = match tokio::time::timeout(INSTALL_TIMEOUT, collect).await {
            Ok(Ok(status)) => status,
            Ok(Err(error)) => return Err(format!("{step}: {error}")),
            Err(_) => {
                return Err(format!(
                    "{step} took longer than {} s",
                    INSTALL_TIMEOUT.as_secs()
                ));
            }
        };
        if status.success() {
            return Ok(());
        }
        let lines: Vec<String> = last.into_iter().collect();
        Err(format!("{step} failed ({status}):\n{}", lines.join("\n")))
    }

    /// Removes this plugin's environments made for earlier versions of its requirements.
    fn remove_older(&self, root: &Path) {
        let prefix = format!("{}-", self.plugin_id);
        let Ok(entries) = std::fs::read_dir(root) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let hash = name.strip_prefix(&prefix).unwrap_or_default();
            let older = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            if older && path != self.dir {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

/// `[project] dependencies` of a `pyproject.toml`.
fn pyproject_dependencies(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let document: toml::Table =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
    let Some(dependencies) = document
        .get("project")
        .and_then(|project| project.get("dependencies"))
    else {
        return Ok(Vec::new());
    };
    dependencies
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            format!(
                "{}: `[project] dependencies` must be a list of requirement strings",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_name_changes_with_the_requirements() {
        let plugin = tempfile::tempdir().unwrap();
        let root = Path::new("/envs");
        assert_eq!(
            PythonEnv::for_folder("p", plugin.path(), "python3", root).unwrap(),
            None
        );
        std::fs::write(plugin.path().join("requirements.txt"), "aiohttp\n").unwrap();
        let first = PythonEnv::for_folder("p", plugin.path(), "python3", root)
            .unwrap()
            .unwrap();
        std::fs::write(plugin.path().join("requirements.txt"), "aiohttp>=3\n").unwrap();
        let second = PythonEnv::for_folder("p", plugin.path(), "python3", root)
            .unwrap()
            .unwrap();
        assert_ne!(first.dir, second.dir);
        assert!(first.dir.starts_with(root));
        assert_eq!(second.python(), second.dir.join("bin/python"));
    }

    #[test]
    fn pyproject_dependencies_are_read_and_checked() {
        let plugin = tempfile::tempdir().unwrap();
        let pyproject = plugin.path().join("pyproject.toml");
        std::fs::write(
            &pyproject,
            "[project]\nname = \"p\"\ndependencies = [\"httpx\", \"python-dotenv>=1\"]\n",
        )
        .unwrap();
        let env = PythonEnv::for_folder("p", plugin.path(), "python3", Path::new("/e"))
            .unwrap()
            .unwrap();
        assert_eq!(
            env.requirements,
            Requirements::List(vec!["httpx".into(), "python-dotenv>=1".into()])
        );
        std::fs::write(&pyproject, "[project]\ndependencies = \"httpx\"\n").unwrap();
        let error =
            PythonEnv::for_folder("p", plugin.path(), "python3", Path::new("/e")).unwrap_err();
        assert!(error.contains("must be a list"), "{error}");
    }
}
