//! What the end-to-end tests of the device sockets share: the real `chronicle serve` in a
//! temporary project on 127.0.0.1 (as `server.rs` starts it), logins and polling.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const ALICE: (&str, &str) = ("alice@example.com", "alice-password");

/// A running server in a temp project; killed when dropped.
pub struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chronicle(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chronicle"));
    command
        .current_dir(dir)
        .env_remove("CONFIG_DIR")
        .env_remove("PLUGINS_DIR")
        .env_remove("DATA_DIR")
        .env_remove("RUST_LOG");
    command
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
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("plugins")).expect("mkdir");
        std::fs::write(dir.path().join("config/plugins.yml"), plugins_yml).expect("write");
        for (relative, contents) in files {
            let path = dir.path().join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, contents).expect("write");
        }
        let status = chronicle(dir.path())
            .args(["user", "add", ALICE.0, "--password", ALICE.1])
            .stdout(Stdio::null())
            .status()
            .expect("user add");
        assert!(status.success());
        let mut child = chronicle(dir.path())
            .args(["serve", "--bind", "127.0.0.1:0", "--log", "warn"])
            .env("AUTH_SECRET_KEY", "test-secret-key-0123456789")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chronicle serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("a line");
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
            _dir: dir,
            base,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `ws://…path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

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
        body["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Polls (bounded, 5 s) until `check` holds.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..100 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    /// The event log records of `event_type` that `token`'s user may see, newest first.
    pub async fn events(&self, token: &str, event_type: &str) -> Vec<Value> {
        let (_, body) = self
            .get(Some(token), &format!("/api/events?event_type={event_type}"))
            .await;
        body["events"].as_array().cloned().unwrap_or_default()
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
