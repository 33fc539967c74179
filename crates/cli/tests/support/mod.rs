//! What the end-to-end tests of the server share (`server.rs`, `devices.rs`, `reliability.rs`):
//! a temporary project, the real `chronicle` run in it, `chronicle serve` on 127.0.0.1, logins
//! and requests, bounded polls, and reading a socket's next JSON message.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub const ALICE: (&str, &str) = ("alice@example.com", "alice-password");

/// A temporary project folder, removed once the last clone of it (a [`Server`] keeps one) is
/// dropped, so a test can stop a server and start another on the same data.
#[derive(Clone)]
pub struct Project {
    dir: Arc<tempfile::TempDir>,
}

impl Project {
    /// An empty project.
    pub fn new() -> Self {
        Self {
            dir: Arc::new(tempfile::tempdir().expect("temp dir")),
        }
    }

    /// A project whose `config/plugins.yml` is `plugins_yml`, with an empty `plugins/` and
    /// `files` (path relative to the project, contents) written: plugin folders, for one.
    pub fn with_plugins(plugins_yml: &str, files: &[(&str, &str)]) -> Self {
        let project = Self::new();
        std::fs::create_dir_all(project.path("plugins")).expect("mkdir");
        project.write("config/plugins.yml", plugins_yml);
        for (relative, contents) in files {
            project.write(relative, contents);
        }
        project
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    /// Writes `contents` at `relative`, making its folders.
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    /// The `chronicle` binary, run in the project with no configuration from the test's
    /// environment.
    pub fn chronicle(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chronicle"));
        command
            .current_dir(self.root())
            .env_remove("CONFIG_DIR")
            .env_remove("PLUGINS_DIR")
            .env_remove("DATA_DIR")
            .env_remove("RUST_LOG");
        command
    }

    /// Runs a `chronicle` command to its end and gives its output; panics if it cannot start.
    pub fn run(&self, args: &[&str]) -> Output {
        self.chronicle()
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("chronicle {}: {error}", args.join(" ")))
    }

    /// The project's store, opened beside any server running on it, and the user `email` in it
    /// (who must exist).
    pub async fn store_with(&self, email: &str) -> (chronicle_store::Store, chronicle_store::User) {
        let store = chronicle_store::Store::open(&self.path("data"))
            .await
            .expect("the project's store");
        let user = store
            .user_by_email(email)
            .await
            .expect("read the users")
            .unwrap_or_else(|| panic!("no user {email}"));
        (store, user)
    }

    /// `chronicle user add`.
    pub fn add_user(&self, (email, password): (&str, &str)) {
        let status = self
            .chronicle()
            .args(["user", "add", email, "--password", password])
            .stdout(Stdio::null())
            .status()
            .expect("user add");
        assert!(status.success(), "user add {email}");
    }

    /// Starts `chronicle serve` with `args` and `env` on this project (port chosen by the
    /// system) and waits (bounded) until it listens.
    pub fn serve(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = self
            .chronicle()
            .args(["serve", "--bind", "127.0.0.1:0", "--log", "warn"])
            .args(args)
            .env("AUTH_SECRET_KEY", "test-secret-key-0123456789")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chronicle serve");
        // The first line names the address; the rest is drained so the server never writes
        // into a closed pipe.
        let stdout = child.stdout.take().expect("stdout");
        let (first, line) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first.send(lines.next());
            lines.for_each(drop);
        });
        let line = match line.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chronicle serve did not say where it listens: {other:?}");
            }
        };
        let base = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        // reqwest is built without a crypto provider of its own; the product installs ring,
        // and so does the test.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Server {
            child,
            project: self.clone(),
            base,
            http: reqwest::Client::new(),
        }
    }
}

/// A running `chronicle serve`; killed (SIGKILL) and reaped when dropped.
pub struct Server {
    child: Child,
    project: Project,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A server with `plugins_yml`, the user Alice, and `env` set (providers, for one).
    pub fn start(plugins_yml: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with_files(plugins_yml, &[], env)
    }

    /// As [`Server::start`], with `files` (path relative to the project, contents) written
    /// first: plugin folders, for one.
    pub fn start_with_files(
        plugins_yml: &str,
        files: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Self {
        let project = Project::with_plugins(plugins_yml, files);
        project.add_user(ALICE);
        project.serve(&[], env)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill -9 the server");
        self.child.wait().expect("reap the server");
    }

    /// Whether it has exited; reaps it if so.
    pub fn exited(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("the server's status")
            .is_some()
    }

    /// The server's project, to start it again on the same data.
    pub fn project(&self) -> Project {
        self.project.clone()
    }

    /// A path in the server's project.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.project.path(relative)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `ws://…path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    /// Logs the user in; the bearer token.
    pub async fn login(&self, (email, password): (&str, &str)) -> String {
        let response = self
            .http
            .post(self.url("/auth/jwt/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200, "login {email}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["token_type"], "bearer");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// A conversation's recording through `GET /api/conversations/{id}/audio`, with an
    /// optional `Range`: the status, the content type and the bytes.
    pub async fn audio(
        &self,
        token: &str,
        conversation_id: &str,
        range: Option<&str>,
    ) -> (u16, String, Vec<u8>) {
        let mut request = self
            .http
            .get(self.url(&format!("/api/conversations/{conversation_id}/audio")))
            .bearer_auth(token);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let response = request.send().await.expect("audio request");
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.expect("audio body").to_vec();
        (status, kind, bytes)
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, token, path, None).await
    }

    /// A request: the status and the body (JSON, or the text as a string).
    pub async fn send(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A JSON request with a bearer token: the status and the JSON answer (null if none).
    pub async fn json(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls (bounded, 10 s) until `check` holds.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        eventually(what, Duration::from_secs(10), || {
            let holds = check();
            async move {
                if holds.await {
                    Ok(())
                } else {
                    Err("not yet".to_owned())
                }
            }
        })
        .await
    }

    /// The event log records of `event_type` that `token`'s user may see, newest first.
    pub async fn events(&self, token: &str, event_type: &str) -> Vec<Value> {
        let (_, body) = self
            .get(Some(token), &format!("/api/events?event_type={event_type}"))
            .await;
        body["events"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (bounded) until the event log holds a record of `event_type` that `token`'s user
    /// may see.
    pub async fn until_logged(&self, token: &str, event_type: &str) {
        self.eventually(&format!("{event_type} in the event log"), || async {
            !self.events(token, event_type).await.is_empty()
        })
        .await
    }

    /// The user's conversations, newest first.
    pub async fn conversations(&self, token: &str) -> Vec<Value> {
        self.get(Some(token), "/api/conversations").await.1["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// One conversation with its transcript and segments.
    pub async fn conversation(&self, token: &str, id: &str) -> Value {
        self.get(Some(token), &format!("/api/conversations/{id}"))
            .await
            .1["conversation"]
            .clone()
    }
}

/// Polls `check` every 50 ms until it gives `Ok`, for at most `limit`; otherwise panics
/// naming `what` and showing the last `Err`, the state it was in.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}\nlast seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next TEXT message of a `/ws` socket as JSON (within 5 s), skipping other frames; a
/// close is `{"closed": [code, reason]}` and the end of the stream `{"ended": …}`.
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message in time")
        {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.trim()).expect("json");
            }
            Some(Ok(Message::Close(frame))) => {
                return json!({"closed": frame.map(|f| (u16::from(f.code), f.reason.to_string()))});
            }
            Some(Ok(_)) => continue,
            other => return json!({"ended": format!("{other:?}")}),
        }
    }
}

/// Opens `/ws?{query}` and reads its `ready`.
pub async fn ws_connect(server: &Server, query: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url(&format!("/ws?{query}")))
        .await
        .expect("connect");
    assert_eq!(next_json(&mut socket).await["type"], "ready");
    socket
}

/// Sends a `/ws` header and, when given, its payload.
pub async fn ws_send(socket: &mut Socket, header: Value, payload: Option<Vec<u8>>) {
    use futures_util::SinkExt;
    socket
        .send(Message::text(header.to_string()))
        .await
        .expect("send header");
    if let Some(payload) = payload {
        socket
            .send(Message::binary(payload))
            .await
            .expect("send payload");
    }
}

/// `seconds` of a 440 Hz tone, 16 kHz mono.
pub fn tone(seconds: f32) -> Vec<i16> {
    (0..(16_000.0 * seconds) as usize)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 16000.0).sin() * 8000.0) as i16)
        .collect()
}

/// Samples as s16le bytes.
pub fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// A Python virtualenv at `target/<name>` holding `requirements` (pinned, from PyPI), made the
/// first time it is asked for (under a lock, so tests running at once make it once) and taken
/// as it is while `ready` (a Python snippet that fails without them) passes.
pub fn python_venv(name: &str, requirements: &[&str], ready: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let venv = target.join(name);
    let python = venv.join("bin/python");
    let is_ready = || {
        Command::new(&python)
            .args(["-c", ready])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if is_ready() {
        return python;
    }
    std::fs::create_dir_all(&target).expect("target/");
    let lock = std::fs::File::create(target.join(format!("{name}.lock"))).expect("lock file");
    lock.lock().expect("lock the virtualenv");
    if !is_ready() {
        if !python.exists() {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 -m venv");
            assert!(
                made.success(),
                "python3 -m venv target/{name} (apt-get install python3-venv)"
            );
        }
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(requirements)
            .status()
            .expect("pip");
        assert!(
            installed.success(),
            "pip install {requirements:?} into target/{name} (needs PyPI)"
        );
        assert!(is_ready(), "{requirements:?} installed but `{ready}` fails");
    }
    python
}
