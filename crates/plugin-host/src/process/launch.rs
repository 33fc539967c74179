//! How a plugin process is started: the Python runner for `plugin.py` folders, the manifest's
//! command for `plugin.toml` folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::python_env::PythonEnv;
use super::sandbox::Policy;
use crate::diagnostic::{Diagnostic, Location, Pos, shared_path};

/// Knobs of the process runtime.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// The Python interpreter for `plugin.py` plugins (`CHRONICLE_PYTHON`, else `python3`).
    pub python: String,
    /// Where a Python plugin that lists packages (`requirements.txt`) gets its own virtual
    /// environment; `None` runs every plugin on `python` as it is, which is what setting
    /// `CHRONICLE_PYTHON` asks for.
    pub plugin_envs: Option<PathBuf>,
    /// How long a started process has to answer `initialize`.
    pub handshake_timeout: Duration,
    /// The first restart delay after a crash; it doubles with each consecutive failure.
    pub restart_base: Duration,
    /// The longest restart delay.
    pub restart_cap: Duration,
    /// A process that ran this long before dying starts its backoff afresh.
    pub stable_after: Duration,
    /// How long a process has to exit after `cleanup` and end of input before it is killed.
    pub shutdown_grace: Duration,
    /// The program that enters the sandbox before running a plugin (the `chronicle` binary,
    /// see [`super::sandbox`]); `None` runs plugins without one (their environment is still
    /// their own).
    pub sandbox_launcher: Option<PathBuf>,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        let chosen_python = std::env::var("CHRONICLE_PYTHON")
            .ok()
            .filter(|python| !python.is_empty());
        Self {
            python: chosen_python
                .clone()
                .unwrap_or_else(|| "python3".to_owned()),
            plugin_envs: match chosen_python {
                Some(_) => None,
                None => super::sdk::private_cache_dir()
                    .ok()
                    .map(|dir| dir.join("plugin-envs")),
            },
            handshake_timeout: Duration::from_secs(10),
            restart_base: Duration::from_secs(1),
            restart_cap: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            sandbox_launcher: None,
        }
    }
}

impl ProcessOptions {
    /// The delay before restart number `failures + 1` (pure, so it is tested without sleeping).
    pub fn restart_delay(&self, consecutive_failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(consecutive_failures.min(20));
        self.restart_base
            .saturating_mul(factor)
            .min(self.restart_cap)
    }
}

/// A command line, ready to spawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its working directory: the plugin's folder.
    pub cwd: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// The virtual environment `program` lives in, made before the first start.
    pub python_env: Option<PythonEnv>,
    /// For the Python runner: the plugins folder its package is imported from (what
    /// `plugin validate` imports the code from, without starting it).
    pub python_plugins_dir: Option<String>,
    /// The launcher and what it lets the plugin reach, when plugins run sandboxed.
    pub sandbox: Option<(PathBuf, Policy)>,
}

/// The variables every plugin process gets from the host, whatever it runs: a `PATH`, a
/// UTF-8 locale, and its private folder as `HOME` and `TMPDIR`. The host's own variables (its
/// secrets among them) are never passed on.
pub fn base_environment(private_tmp: &Path) -> Vec<(String, String)> {
    let tmp = private_tmp.display().to_string();
    let mut env = vec![
        ("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ("HOME".to_owned(), tmp.clone()),
        ("TMPDIR".to_owned(), tmp),
    ];
    // The plugin's log level follows the operator's.
    if let Ok(level) = std::env::var("LOG_LEVEL") {
        env.push(("LOG_LEVEL".to_owned(), level));
    }
    env
}

impl Launch {
    /// The command that starts the plugin (`override_args` in place of its own arguments, for
    /// a one-off run of the same interpreter), with nothing of the host's environment but
    /// what [`Launch::env`] lists, through the sandbox when there is one.
    pub fn command(&self, override_args: Option<&[&str]>) -> tokio::process::Command {
        let args: Vec<std::ffi::OsString> = match override_args {
            Some(args) => args.iter().map(Into::into).collect(),
            None => self.args.iter().map(Into::into).collect(),
        };
        let mut command = match &self.sandbox {
            Some((launcher, policy)) => {
                let mut command = tokio::process::Command::new(launcher);
                command
                    .arg(super::sandbox::LAUNCHER_COMMAND)
                    .args(policy.to_args())
                    .arg("--")
                    .arg(&self.program)
                    .args(args);
                command
            }
            None => {
                let mut command = tokio::process::Command::new(&self.program);
                command.args(args);
                command
            }
        };
        command
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// How to show it in errors.
    pub fn describe(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The Python runner for `plugins/<id>/plugin.py`, with the SDK on PYTHONPATH, in the
/// plugin's own virtual environment when its folder lists packages.
pub fn python(
    id: &str,
    plugins_dir: &Path,
    options: &ProcessOptions,
    sdk: &Path,
) -> Result<Launch, String> {
    let plugins_dir = std::path::absolute(plugins_dir).unwrap_or_else(|_| plugins_dir.to_owned());
    let plugin_dir = plugins_dir.join(id);
    let python_env = match &options.plugin_envs {
        Some(root) => PythonEnv::for_folder(id, &plugin_dir, &options.python, root)?,
        None => {
            if plugin_dir.join("requirements.txt").is_file() {
                tracing::info!(
                    plugin = id,
                    "CHRONICLE_PYTHON is set: requirements.txt is not installed; the plugin runs on that interpreter as it is."
                );
            }
            None
        }
    };
    let program = python_env
        .as_ref()
        .map_or_else(|| PathBuf::from(&options.python), PythonEnv::python);
    let mut python_path = sdk.display().to_string();
    if let Some(existing) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
        python_path = format!("{python_path}:{}", existing.to_string_lossy());
    }
    Ok(Launch {
        program,
        args: vec![
            "-m".into(),
            "chronicle_plugin".into(),
            "--plugin-id".into(),
            id.into(),
            "--plugins-dir".into(),
            plugins_dir.display().to_string(),
        ],
        python_plugins_dir: Some(plugins_dir.display().to_string()),
        cwd: plugin_dir,
        env: vec![
            ("PYTHONPATH".into(), python_path),
            ("PYTHONUNBUFFERED".into(), "1".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ],
        python_env,
        sandbox: None,
    })
}

/// `plugins/<id>/plugin.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The executable: looked up on PATH, or relative to the plugin's folder when it holds a
    /// slash.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The protocol version it speaks; refused unless compatible with the host's.
    pub protocol_version: String,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Reads and checks a manifest; problems are located in the file.
pub fn read_manifest(path: &Path) -> Result<Manifest, Diagnostic> {
    let file = shared_path(path);
    let at = |pos| Location::new(&file, pos);
    let text = std::fs::read_to_string(path).map_err(|error| {
        Diagnostic::error(
            at(Pos { line: 1, column: 1 }),
            format!("cannot read: {error}"),
        )
    })?;
    let manifest: Manifest = toml::from_str(&text).map_err(|error| {
        let pos = error
            .span()
            .map_or(Pos { line: 1, column: 1 }, |span| pos_of(&text, span.start));
        Diagnostic::error(
            at(pos),
            format!("invalid plugin manifest: {}", error.message()),
        )
        .with_hint(
            "a plugin.toml needs `command` and `protocol_version`, and may set `args` and `[env]`",
        )
    })?;
    if !chronicle_plugin_api::protocol::is_compatible(
        chronicle_plugin_api::protocol::PROTOCOL_VERSION,
        &manifest.protocol_version,
    ) {
        let line = text
            .lines()
            .position(|line| line.trim_start().starts_with("protocol_version"))
            .map_or(1, |i| i + 1);
        return Err(Diagnostic::error(
            at(Pos { line, column: 1 }),
            format!(
                "the plugin speaks protocol {}, which is not compatible with the host's protocol {}",
                manifest.protocol_version,
                chronicle_plugin_api::protocol::PROTOCOL_VERSION
            ),
        )
        .with_hint("update the plugin to a 1.x protocol SDK"));
    }
    Ok(manifest)
}

fn pos_of(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    Pos { line, column }
}

/// The command of a manifest, resolved against the plugin's folder.
pub fn manifest_launch(dir: &Path, manifest: &Manifest) -> Launch {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let program = if manifest.command.contains('/') {
        dir.join(&manifest.command)
    } else {
        PathBuf::from(&manifest.command)
    };
    Launch {
        program,
        args: manifest.args.clone(),
        cwd: dir,
        env: manifest
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        python_env: None,
        python_plugins_dir: None,
        sandbox: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delays_double_up_to_the_cap() {
        let options = ProcessOptions {
            restart_base: Duration::from_millis(500),
            restart_cap: Duration::from_secs(10),
            ..ProcessOptions::default()
        };
        let delays: Vec<u128> = (0..8)
            .map(|n| options.restart_delay(n).as_millis())
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
        assert_eq!(options.restart_delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn manifests_are_checked_and_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugin.toml");
        std::fs::write(&path, "command = \"./run.sh\"\nargs = [\"--fast\"]\nprotocol_version = \"1.0\"\n[env]\nA = \"b\"\n").unwrap();
        let manifest = read_manifest(&path).unwrap();
        let launch = manifest_launch(dir.path(), &manifest);
        assert_eq!(
            launch.program,
            std::path::absolute(dir.path()).unwrap().join("./run.sh")
        );
        assert_eq!(launch.env, [("A".to_owned(), "b".to_owned())]);

        std::fs::write(&path, "command = \"x\"\nprotocol_version = \"2.0\"\n").unwrap();
        let error = read_manifest(&path).unwrap_err();
        assert_eq!(error.location.pos.line, 2);
        assert!(
            error.message.contains(
                "speaks protocol 2.0, which is not compatible with the host's protocol 1.0"
            )
        );

        std::fs::write(
            &path,
            "command = \"x\"\nprotocol_version = \"1.0\"\nargz = []\n",
        )
        .unwrap();
        let error = read_manifest(&path).unwrap_err();
        assert_eq!((error.location.pos.line, error.location.pos.column), (3, 1));
        assert!(
            error.message.contains("unknown field `argz`"),
            "{}",
            error.message
        );
    }
}
