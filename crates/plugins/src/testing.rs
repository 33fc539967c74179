//! A harness that runs bundled plugins through the real host, and the compliance check every
//! bundled plugin must pass.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};

use chronicle_host_ports::LanguageModel;
use chronicle_plugin_api::{ConnectionReport, Event, JsonMap, PluginDescriptor};
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
        Self::build(crate::REGISTRY, plugins_yml, session, None).await
    }

    /// A host running only `registry`, for plugins not (yet) in [`crate::REGISTRY`].
    pub async fn with_registry(registry: &[PluginDescriptor], plugins_yml: &str) -> Self {
        Self::build(registry, plugins_yml, None, None).await
    }

    /// A host whose `llm_generate` service answers with `llm`.
    pub async fn with_llm(plugins_yml: &str, llm: Arc<dyn LanguageModel>) -> Self {
        Self::build(crate::REGISTRY, plugins_yml, None, Some(llm)).await
    }

    async fn build(
        registry: &[PluginDescriptor],
        plugins_yml: &str,
        session: Option<&str>,
        llm: Option<Arc<dyn LanguageModel>>,
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
            llm,
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
            .dispatch(DispatchRequest::new(
                event,
                "u1",
                crate::support::into_object(data),
            ))
            .await
    }

    /// `plugin_id`'s status (`initialized`, `degraded`, `failed`, …) and why it is down.
    pub fn status(&self, plugin_id: &str) -> (String, Option<String>) {
        let status = self
            .host
            .plugins()
            .into_iter()
            .find(|plugin| plugin.plugin_id == plugin_id)
            .unwrap_or_else(|| panic!("{plugin_id} is not listed"));
        (status.status.to_string(), status.error)
    }

    /// `plugin_id`'s connection test; panics when it is not configured.
    pub async fn connection_report(&self, plugin_id: &str) -> ConnectionReport {
        self.host
            .test_connection(plugin_id)
            .await
            .expect("configured")
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
/// - subscribing it to an event outside its access levels is accepted with a warning (the
///   levels inform, as in the original) and the plugin still builds.
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
    let (status, error) = harness.status(id);
    assert_eq!(
        status, "initialized",
        "{id} initializes with its shipped config: {error:?}"
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
        let loaded = PluginHost::load(&config, crate::REGISTRY, Backends::in_memory())
            .unwrap_or_else(|errors| panic!("{id} subscribed to {unsupported}: {errors}"));
        let warned = loaded.diagnostics.iter().any(|d| {
            d.message
                .contains(&format!("it receives `{unsupported}` anyway"))
        });
        assert!(warned, "{:?}", loaded.diagnostics);
        assert_ne!(loaded.host.plugins()[0].status, "failed");
    }
}

/// A port on 127.0.0.1 nobody listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The JSON lines a test server journalled to `path` so far.
pub fn read_journal(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a journal line"))
        .collect()
}

/// The reference libraries tests check our output with, pinned: (package, version, a module
/// that must import).
const PYTHON_PACKAGES: &[(&str, &str, &str)] = &[
    ("standardwebhooks", "1.1.0", "standardwebhooks.webhooks"),
    ("aiosmtpd", "1.4.6", "aiosmtpd.controller"),
];

/// A Python with [`PYTHON_PACKAGES`]: the virtualenv `target/test-python`, created and filled
/// from PyPI the first time (one process at a time, under a lock file). Fails, never skips,
/// when that cannot be done.
pub fn test_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(prepare_python)
}

fn prepare_python() -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let venv = target.join("test-python");
    let python = venv.join("bin").join("python");
    let requirements: Vec<String> = PYTHON_PACKAGES
        .iter()
        .map(|(package, version, _)| format!("{package}=={version}"))
        .collect();
    let check = PYTHON_PACKAGES
        .iter()
        .map(|(package, version, module)| {
            format!("import {module}; assert m.version('{package}') == '{version}'")
        })
        .collect::<Vec<_>>()
        .join("; ");
    let ready = || {
        Command::new(&python)
            .args(["-c", &format!("import importlib.metadata as m; {check}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if ready() {
        return python;
    }
    std::fs::create_dir_all(&target).expect("create target/");
    let lock = std::fs::File::create(target.join("test-python.lock")).expect("create lock file");
    lock.lock().expect("lock target/test-python.lock");
    if !ready() {
        if !python.exists() {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "create the virtualenv target/test-python (python3 and its venv module are needed: on Debian/Ubuntu `apt-get install python3-venv`)",
            );
        }
        run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--quiet",
                ])
                .args(&requirements),
            &format!(
                "install {} from PyPI into target/test-python (the plugin tests check what we send with these reference implementations; they need access to PyPI)",
                requirements.join(" ")
            ),
        );
        assert!(
            ready(),
            "{} were installed into target/test-python but do not import",
            requirements.join(" ")
        );
    }
    python
}

#[track_caller]
fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("could not {what}: {error}"));
    assert!(
        output.status.success(),
        "could not {what}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Python script (a path under this crate) run by [`test_python`] as a server on
/// 127.0.0.1: it prints its port as its first line. Killed when dropped; it should also exit
/// by itself when its stdin closes, should this process die first. Its stderr is drained into
/// memory (so a talkative server never blocks) and shown when it fails to start.
pub struct PythonServer {
    child: Child,
    pub port: u16,
}

impl PythonServer {
    pub fn start(script: &str, args: &[&OsStr]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let mut child = Command::new(test_python())
            .arg(&script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", script.display()));
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            *sink.lock().expect("lock") = text;
        });
        let stdout = child.stdout.take().expect("stdout");
        let (sender, port_line) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = port_line
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_default();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            // The drain ends once the process is gone.
            std::thread::sleep(std::time::Duration::from_millis(200));
            panic!(
                "{} did not print its port within 60 s ({line:?}): {}",
                script.display(),
                stderr.lock().expect("lock")
            );
        };
        Self { child, port }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A certificate authority made for one test, and a server certificate for 127.0.0.1 (and
/// localhost) it signed, as files in a temporary folder and as DER for in-process servers.
pub struct TestCa {
    _dir: tempfile::TempDir,
    /// The authority's PEM: what `smtp_ca_file` or `ha_ca_file` names.
    pub ca_file: PathBuf,
    /// The server's certificate and PKCS #8 key, PEM.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The same, DER.
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Chronicle test CA");
        let ca_key = KeyPair::generate().expect("key");
        let ca_cert = params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(params, ca_key);

        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("names");
        params
            .distinguished_name
            .push(DnType::CommonName, "server.test");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");

        let ca_file = dir.path().join("ca.pem");
        let cert_file = dir.path().join("cert.pem");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write ca.pem");
        std::fs::write(&cert_file, cert.pem()).expect("write cert.pem");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key.pem");
        Self {
            _dir: dir,
            ca_file,
            cert_file,
            key_file,
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }
}
