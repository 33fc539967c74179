//! Durable delivery under failure, end to end: the real `chronicle serve` with real Python
//! plugin processes, killed at the worst moments.
//!
//! - `kill -9` of the server while a backlog of 1,000 `conversation.complete` events is being
//!   delivered loses none of them: after a restart on the same data folder every
//!   conversation reaches the plugin (at least once, with a stable idempotency key) and every
//!   delivery ends `succeeded`.
//! - `kill -9` of a plugin process in the middle of a delivery: the process is restarted and
//!   the delivery retried (attempt 2, same idempotency key).
//! - A delivery that fails until it dies is a dead letter; once the plugin is fixed it is
//!   replayed, by `chronicle deliveries replay` with the server stopped, or by the admin API
//!   with it running.
//!
//! Waits are bounded polls that panic saying what they waited for; no assertion is on time.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Project, Server, eventually};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");

const SLOW_RECORDER: &str = include_str!("fixtures/reliability/slow_recorder.py");
const CRASH_ONCE: &str = include_str!("fixtures/reliability/crash_once.py");
const FLAKY: &str = include_str!("fixtures/reliability/flaky.py");

/// A temp project whose `plugins.yml` is `plugins_yml` (`{dir}` stands for the plugin's own
/// folder, the one place its sandbox lets it write its journals, pid files and markers),
/// with one Python plugin `id` of class `class` in the guide's layout.
fn python_project(plugins_yml: &str, id: &str, class: &str, code: &str) -> Project {
    let project = Project::new();
    let own = project.path(&format!("plugins/{id}")).display().to_string();
    project.write("config/plugins.yml", &plugins_yml.replace("{dir}", &own));
    project.write(&format!("plugins/{id}/plugin.py"), code);
    project.write(
        &format!("plugins/{id}/__init__.py"),
        &format!("from .plugin import {class}\n"),
    );
    project
}

/// A file the project's one plugin writes in its folder.
fn plugin_file(project: &Project, name: &str) -> std::path::PathBuf {
    let plugin = std::fs::read_dir(project.path("plugins"))
        .ok()
        .and_then(|mut entries| entries.next())
        .and_then(Result::ok)
        .map(|entry| entry.path())
        .expect("the project has its plugin's folder");
    plugin.join(name)
}

/// Starts `chronicle serve` on the project, its data in `data/`, without hot reload, with the
/// admin.
fn serve(project: &Project) -> Server {
    project.serve(
        &["--data-dir", "data", "--no-hot-reload"],
        &[("ADMIN_EMAIL", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)],
    )
}

// `support` is compiled into this test crate, so what only these tests ask of its `Server`
// can sit here.
impl Server {
    /// SIGTERM, and waits (bounded) for it to shut down on its own.
    fn stop(&mut self) {
        signal(self.pid(), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.exited() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A GET that must answer 200.
    async fn get_ok(&self, token: &str, path: &str) -> Value {
        let (status, body) = self.get(Some(token), path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Uploads `count` tenths of a second of silence as one multipart request; the ids of the
    /// conversations they became.
    async fn upload(&self, token: &str, count: usize, name: &str) -> Vec<String> {
        let wav = chronicle_audio::wav_bytes(&[0i16; 1600]);
        let form = (0..count).fold(
            reqwest::multipart::Form::new().text("device_name", "reliability"),
            |form, n| {
                form.part(
                    "files",
                    reqwest::multipart::Part::bytes(wav.clone())
                        .file_name(format!("{name}-{n}.wav")),
                )
            },
        );
        let response = self
            .http
            .post(self.url("/api/process-audio-files"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("upload answer");
        assert_eq!(status, 200, "upload {name}: {body}");
        let ids: Vec<String> = body["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|file| {
                file["conversation_id"]
                    .as_str()
                    .expect("conversation id")
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), count, "{body}");
        ids
    }

    /// `GET /api/admin/deliveries` with `query`: the rows and the counts by status.
    async fn deliveries(&self, token: &str, query: &str) -> (Vec<Value>, HashMap<String, u64>) {
        let body = self
            .get_ok(token, &format!("/api/admin/deliveries?{query}"))
            .await;
        let rows = body["deliveries"].as_array().expect("deliveries").clone();
        let counts = body["counts"]
            .as_object()
            .expect("counts")
            .iter()
            .map(|(status, count)| (status.clone(), count.as_u64().unwrap()))
            .collect();
        (rows, counts)
    }

    /// The plugin's entry in `GET /api/admin/plugins/health`.
    async fn plugin_health(&self, token: &str, id: &str) -> Value {
        let health = self.get_ok(token, "/api/admin/plugins/health").await;
        health["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|plugin| plugin["plugin_id"] == id)
            .unwrap_or_else(|| panic!("no plugin {id} in {health}"))
            .clone()
    }
}

/// Sends `signal` (`-9`, `-TERM`) to `pid` with kill(1).
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// Whether `pid` runs (a zombie does not count).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

/// One line of a plugin's journal: a call it acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    conversation: String,
    attempt: u32,
}

/// The journal's complete lines (a line being written has no newline yet and is left out).
fn journal(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    complete
        .lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let mut field = || fields.next().unwrap_or_else(|| panic!("bad line {line:?}"));
            Entry {
                key: field().to_owned(),
                conversation: field().to_owned(),
                attempt: field().parse().unwrap(),
            }
        })
        .collect()
}

/// How many idempotency keys the journal holds.
fn distinct_keys(entries: &[Entry]) -> usize {
    entries
        .iter()
        .map(|entry| &entry.key)
        .collect::<HashSet<_>>()
        .len()
}

const EVENTS: usize = 1_000;
const BATCH: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_delivery_loses_no_event() {
    let clock = Instant::now();
    let project = python_project(
        r#"plugins:
  slow_recorder:
    enabled: true
    events: [conversation.complete]
    journal: "{dir}/journal.txt"
"#,
        "slow_recorder",
        "SlowRecorderPlugin",
        SLOW_RECORDER,
    );
    let journal_path = plugin_file(&project, "journal.txt");
    let mut server = serve(&project);
    let mut token = server.login(ADMIN).await;
    let plugin_pid = server.plugin_health(&token, "slow_recorder").await["pid"]
        .as_u64()
        .expect("the plugin process's pid") as u32;

    // Upload every batch, then kill -9 once the plugin has acknowledged a tenth of the events:
    // the rest is the backlog the restart must deliver. Should the plugin keep up with the
    // uploads after all, the kill comes early, while half the events are still to upload.
    let mut uploaded: Vec<String> = Vec::with_capacity(EVENTS);
    while uploaded.len() < EVENTS {
        let batch = server
            .upload(&token, BATCH, &format!("b{}", uploaded.len() / BATCH))
            .await;
        uploaded.extend(batch);
        let delivered = journal(&journal_path).len();
        if delivered >= EVENTS / 2 && delivered < uploaded.len() {
            break;
        }
    }
    eventually(
        "the plugin to acknowledge a tenth of the events",
        Duration::from_secs(60),
        || async {
            let delivered = journal(&journal_path).len();
            if delivered >= EVENTS / 10 {
                Ok(())
            } else {
                Err(format!("{delivered} journal lines"))
            }
        },
    )
    .await;
    server.kill();
    let uploaded_before_kill = uploaded.len();
    // The plugin process sees its input end and exits on its own.
    eventually(
        "the killed server's plugin process to exit",
        Duration::from_secs(10),
        || async {
            if process_alive(plugin_pid) {
                Err(format!("pid {plugin_pid} alive"))
            } else {
                Ok(())
            }
        },
    )
    .await;
    let at_kill = journal(&journal_path);
    let delivered_before_kill = distinct_keys(&at_kill);
    assert!(
        delivered_before_kill < uploaded_before_kill,
        "the kill landed after every delivery of the {uploaded_before_kill} events uploaded; \
         slow the plugin down"
    );

    let restarted = Instant::now();
    server = serve(&project);
    token = server.login(ADMIN).await;
    while uploaded.len() < EVENTS {
        let batch = server
            .upload(&token, BATCH, &format!("b{}", uploaded.len() / BATCH))
            .await;
        uploaded.extend(batch);
    }
    let entries = eventually(
        "the journal to hold 1,000 idempotency keys",
        Duration::from_secs(180),
        || async {
            let entries = journal(&journal_path);
            match distinct_keys(&entries) {
                keys if keys >= EVENTS => Ok(entries),
                keys => Err(format!("{keys} keys in {} lines", entries.len())),
            }
        },
    )
    .await;
    let counts = eventually(
        "every delivery to be settled",
        Duration::from_secs(30),
        || async {
            let (_, counts) = server.deliveries(&token, "limit=1").await;
            let unsettled: u64 = ["pending", "running", "failed"]
                .iter()
                .map(|status| counts.get(*status).copied().unwrap_or(0))
                .sum();
            if unsettled == 0 {
                Ok(counts)
            } else {
                Err(format!("{counts:?}"))
            }
        },
    )
    .await;
    let resumed_in = restarted.elapsed();

    // Every conversation reached the plugin, under one key, and no key was invented.
    let mut key_of: HashMap<&str, &str> = HashMap::new();
    for entry in &entries {
        let previous = key_of.insert(&entry.conversation, &entry.key);
        assert!(
            previous.is_none_or(|key| key == entry.key),
            "conversation {} was delivered under two keys",
            entry.conversation
        );
    }
    let expected: HashSet<&str> = uploaded.iter().map(String::as_str).collect();
    let seen: HashSet<&str> = key_of.keys().copied().collect();
    let missing: Vec<_> = expected.difference(&seen).collect();
    let unexpected: Vec<_> = seen.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "conversations never delivered: {missing:?}; delivered but never uploaded: {unexpected:?}"
    );
    assert_eq!(distinct_keys(&entries), EVENTS, "one key per conversation");

    // The store agrees: 1,000 deliveries, all succeeded, one per event.
    let settled: HashMap<&str, u64> = counts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(status, count)| (status.as_str(), *count))
        .collect();
    assert_eq!(
        settled,
        HashMap::from([("succeeded", EVENTS as u64)]),
        "deliveries by status"
    );
    let (unfinished, _) = server
        .deliveries(&token, "status=pending,running,failed,dead&limit=10000")
        .await;
    assert!(
        unfinished.is_empty(),
        "unfinished deliveries: {unfinished:?}"
    );
    let (rows, _) = server.deliveries(&token, "limit=10000").await;
    let events: HashSet<&str> = rows
        .iter()
        .map(|row| row["event_id"].as_str().unwrap())
        .collect();
    let stored_keys: HashSet<&str> = rows
        .iter()
        .map(|row| row["idempotency_key"].as_str().unwrap())
        .collect();
    let journal_keys: HashSet<&str> = entries.iter().map(|entry| entry.key.as_str()).collect();
    assert_eq!(
        stored_keys, journal_keys,
        "the store's keys are the plugin's"
    );
    let retried = rows
        .iter()
        .filter(|row| row["attempt"].as_u64().unwrap() > 1)
        .count();

    let lines = entries.len();
    eprintln!(
        "RELIABILITY kill-9: events={} deliveries={} succeeded={} \
         uploaded_before_kill={} delivered_before_kill={} backlog_at_kill={} \
         journal_lines={} duplicates={} deliveries_with_attempt>1={} \
         resumed_and_settled_in={:.1}s total={:.1}s",
        events.len(),
        rows.len(),
        settled.get("succeeded").copied().unwrap_or(0),
        uploaded_before_kill,
        delivered_before_kill,
        uploaded_before_kill - delivered_before_kill,
        lines,
        lines - EVENTS,
        retried,
        resumed_in.as_secs_f64(),
        clock.elapsed().as_secs_f64(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_plugin_killed_mid_delivery_is_restarted_and_its_delivery_retried() {
    let project = python_project(
        r#"plugins:
  crash_once:
    enabled: true
    events: [conversation.complete]
    journal: "{dir}/journal.txt"
    pid_file: "{dir}/plugin.pid"
"#,
        "crash_once",
        "CrashOncePlugin",
        CRASH_ONCE,
    );
    let server = serve(&project);
    let token = server.login(ADMIN).await;
    let conversation = server.upload(&token, 1, "one").await.remove(0);

    let pid_file = plugin_file(&project, "plugin.pid");
    let pid: u32 = eventually(
        "the plugin to write its pid on attempt 1",
        Duration::from_secs(30),
        || async {
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            text.trim()
                .parse()
                .map_err(|_| format!("pid file holds {text:?}"))
        },
    )
    .await;
    signal(pid, "-9");

    let delivery = eventually(
        "the delivery to succeed after the plugin process was killed",
        Duration::from_secs(25),
        || async {
            let (rows, _) = server.deliveries(&token, "limit=10").await;
            match rows.first() {
                Some(row) if row["status"] == "succeeded" => Ok(row.clone()),
                _ => Err(format!("{rows:?}")),
            }
        },
    )
    .await;
    assert!(
        delivery["attempt"].as_u64().unwrap() >= 2,
        "retried after the kill: {delivery}"
    );
    let entries = journal(&plugin_file(&project, "journal.txt"));
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].key.as_str(), entries[0].conversation.as_str()),
        (
            delivery["idempotency_key"].as_str().unwrap(),
            conversation.as_str()
        ),
        "the retry carries the same idempotency key"
    );
    assert!(entries[0].attempt >= 2, "{entries:?}");

    let health = server.plugin_health(&token, "crash_once").await;
    assert_eq!(health["status"], "initialized", "{health}");
    assert!(health["restarts"].as_u64().unwrap() >= 1, "{health}");
    assert_ne!(health["pid"].as_u64(), Some(u64::from(pid)), "{health}");
}

/// A project with the `flaky` plugin, broken (its marker exists), given one retry.
fn flaky_project() -> Project {
    let project = python_project(
        r#"plugins:
  flaky:
    enabled: true
    events: [conversation.complete]
    max_retries: 1
    journal: "{dir}/journal.txt"
    broken: "{dir}/broken"
"#,
        "flaky",
        "FlakyPlugin",
        FLAKY,
    );
    project.write("plugins/flaky/broken", "");
    project
}

/// Uploads one file and waits until its delivery to `flaky` is a dead letter after its two
/// attempts; the delivery row.
async fn dead_letter(server: &Server, token: &str) -> Value {
    server.upload(token, 1, "doomed").await;
    let dead = eventually(
        "the delivery to die after its retry",
        Duration::from_secs(30),
        || async {
            let (rows, counts) = server.deliveries(token, "status=dead").await;
            rows.first().cloned().ok_or_else(|| format!("{counts:?}"))
        },
    )
    .await;
    assert_eq!(
        (&dead["plugin_id"], dead["attempt"].as_u64()),
        (&Value::from("flaky"), Some(2)),
        "{dead}"
    );
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("broken on attempt 2"),
        "{dead}"
    );
    dead
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_replayed_by_the_cli_once_the_plugin_is_fixed() {
    let project = flaky_project();
    let mut server = serve(&project);
    let token = server.login(ADMIN).await;
    let dead = dead_letter(&server, &token).await;
    let id = dead["id"].as_i64().unwrap().to_string();
    server.stop();
    std::fs::remove_file(plugin_file(&project, "broken")).unwrap();

    let listed = project.run(&[
        "deliveries",
        "list",
        "--status",
        "dead",
        "--json",
        "--data-dir",
        "data",
    ]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    let rows: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["id"], dead["id"], "{rows}");
    assert_eq!(rows[0]["status"], "dead", "{rows}");

    let replayed = project.run(&["deliveries", "replay", &id, "--data-dir", "data"]);
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        replayed.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "delivery {id}: conversation.complete → flaky: succeeded on attempt 3"
        )),
        "{stdout}"
    );
    let entries = journal(&plugin_file(&project, "journal.txt"));
    assert_eq!(
        entries
            .iter()
            .map(|entry| (entry.key.as_str(), entry.attempt))
            .collect::<Vec<_>>(),
        [(dead["idempotency_key"].as_str().unwrap(), 3)],
        "the plugin got the replay, under the dead letter's key"
    );

    let listed = project.run(&["deliveries", "list", "--json", "--data-dir", "data"]);
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        (&rows[0]["status"], &rows[0]["attempt"]),
        (&Value::from("succeeded"), &Value::from(3)),
        "{rows}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_replayed_by_the_admin_api_once_the_plugin_is_fixed() {
    let project = flaky_project();
    let server = serve(&project);
    let token = server.login(ADMIN).await;
    let dead = dead_letter(&server, &token).await;
    std::fs::remove_file(plugin_file(&project, "broken")).unwrap();

    let (status, body) = server
        .send(
            reqwest::Method::POST,
            Some(&token),
            "/api/admin/deliveries/replay-dead",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], serde_json::json!([dead["id"]]), "{body}");
    let replayed = eventually(
        "the replayed delivery to succeed",
        Duration::from_secs(15),
        || async {
            let (rows, _) = server.deliveries(&token, "").await;
            match rows.iter().find(|row| row["id"] == dead["id"]) {
                Some(row) if row["status"] == "succeeded" => Ok(row.clone()),
                _ => Err(format!("{rows:?}")),
            }
        },
    )
    .await;
    assert_eq!(replayed["attempt"], 3, "{replayed}");
    let entries = journal(&plugin_file(&project, "journal.txt"));
    assert_eq!(
        entries
            .iter()
            .map(|entry| (entry.key.as_str(), entry.attempt))
            .collect::<Vec<_>>(),
        [(dead["idempotency_key"].as_str().unwrap(), 3)],
    );
    let (_, counts) = server.deliveries(&token, "status=dead").await;
    assert_eq!(counts.get("dead").copied().unwrap_or(0), 0, "{counts:?}");
}

/// A `/ws` header and its payload; an error once the server is gone.
async fn try_send(
    socket: &mut support::Socket,
    header: Value,
    payload: Vec<u8>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    socket.send(Message::text(header.to_string())).await?;
    socket.send(Message::binary(payload)).await
}

/// The uploads and devices of one run of [`killing_the_server_during_uploads_and_streaming_loses_no_conversation`],
/// until the server is killed under them.
async fn load_until_killed(server: &Server, token: &str) -> Vec<String> {
    use support::{pcm_bytes, tone, ws_connect, ws_send};
    // Speech with pauses: a second of tone, a second of silence.
    let speech: Vec<i16> = tone(1.0).into_iter().chain([0i16; 16_000]).collect();
    // Two devices, one streaming (a live transcript), one in batch mode (transcribed whole at
    // its end, or from its recording after the crash).
    for mode in ["streaming", "batch"] {
        let mut socket = ws_connect(
            server,
            &format!("codec=pcm&token={token}&device_name=pendant-{mode}"),
        )
        .await;
        let speech = speech.clone();
        tokio::spawn(async move {
            let format = json!({"rate": 16000, "width": 2, "channels": 1, "mode": mode});
            ws_send(
                &mut socket,
                json!({"type": "audio-start", "data": format}),
                None,
            )
            .await;
            loop {
                for chunk in speech.chunks(1600) {
                    let payload = pcm_bytes(chunk);
                    let header = json!({"type": "audio-chunk", "data": format, "payload_length": payload.len()});
                    if try_send(&mut socket, header, payload).await.is_err() {
                        return; // the server was killed
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        });
    }
    // Uploads, one file per request, four at a time, five each: more than the transcriber
    // (two at a time, a second each) gets through before the kill.
    let wav = chronicle_audio::wav_bytes(&speech.repeat(2));
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for worker in 0..4 {
        let (http, url, token, wav, answered) = (
            server.http.clone(),
            server.url("/api/audio/upload"),
            token.to_owned(),
            wav.clone(),
            std::sync::Arc::clone(&answered),
        );
        tokio::spawn(async move {
            for n in 0..5 {
                let part = reqwest::multipart::Part::bytes(wav.clone())
                    .file_name(format!("w{worker}-{n}.wav"));
                let form = reqwest::multipart::Form::new().part("files", part);
                let Ok(response) = http
                    .post(&url)
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                if let Some(id) = body["files"][0]["conversation_id"].as_str() {
                    answered.lock().unwrap().push(id.to_owned());
                }
            }
        });
    }
    eventually(
        "a few uploads to be answered",
        Duration::from_secs(60),
        || async {
            let count = answered.lock().unwrap().len();
            if count >= 6 {
                Ok(())
            } else {
                Err(format!("{count} answered"))
            }
        },
    )
    .await;
    // And the devices' conversations well under way: each has speech on disk to be finished from.
    tokio::time::sleep(Duration::from_secs(3)).await;
    answered.lock().unwrap().clone()
}

/// `kill -9` while uploads are being taken in and transcribed and two devices stream, three
/// times over, then a last start: every conversation any run stored is finished (transcript,
/// end reason) and reaches the plugin under one idempotency key, and nothing half-taken-in is
/// left behind. The transcriber answers after a second, two at a time, so each kill finds
/// uploads stored but not yet transcribed, which the next start transcribes from their files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_during_uploads_and_streaming_loses_no_conversation() {
    use chronicle_test_servers::openai::{TranscriptionReply, Transcriptions};
    let speech = Transcriptions::start(|_| {
        TranscriptionReply::Delay(
            Duration::from_secs(1),
            Box::new(TranscriptionReply::Text("Heard it.".into())),
        )
    })
    .await;
    let speech_url = speech.base_url();
    let project = python_project(
        r#"plugins:
  slow_recorder:
    enabled: true
    events: [conversation.complete]
    journal: "{dir}/journal.txt"
"#,
        "slow_recorder",
        "SlowRecorderPlugin",
        SLOW_RECORDER,
    );
    let journal_path = plugin_file(&project, "journal.txt");
    let start = || {
        project.serve(
            &["--data-dir", "data", "--no-hot-reload"],
            &[
                ("ADMIN_EMAIL", ADMIN.0),
                ("ADMIN_PASSWORD", ADMIN.1),
                ("TRANSCRIPTION_PROVIDER", "openai"),
                ("TRANSCRIPTION_URL", &speech_url),
            ],
        )
    };
    let mut answered = Vec::new();
    let mut untranscribed_at_kills = 0;
    for run in 1..=3 {
        let mut server = start();
        let token = server.login(ADMIN).await;
        let ids = load_until_killed(&server, &token).await;
        let (_, body) = server
            .get(Some(&token), "/api/conversations?limit=500")
            .await;
        let untranscribed = body["conversations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["transcript"].as_str().is_none_or(str::is_empty))
            .count();
        server.kill();
        eprintln!(
            "run {run}: killed after {} uploads were answered, {untranscribed} conversations untranscribed",
            ids.len()
        );
        untranscribed_at_kills += untranscribed;
        answered.extend(ids);
    }
    assert!(
        untranscribed_at_kills > 0,
        "every kill came after all was transcribed: nothing was left to recover"
    );

    let server = start();
    let token = server.login(ADMIN).await;
    let conversations = eventually(
        "every stored conversation to be finished and to reach the plugin",
        Duration::from_secs(120),
        || async {
            let (_, body) = server
                .get(Some(&token), "/api/conversations?limit=500")
                .await;
            let conversations = body["conversations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let received: HashSet<String> = journal(&journal_path)
                .into_iter()
                .map(|entry| entry.conversation)
                .collect();
            let unfinished: Vec<&Value> = conversations
                .iter()
                .filter(|c| {
                    c["end_reason"].is_null()
                        || c["transcript"].as_str().is_none_or(str::is_empty)
                        || !received.contains(c["conversation_id"].as_str().unwrap_or(""))
                })
                .collect();
            if unfinished.is_empty() && !conversations.is_empty() {
                Ok(conversations)
            } else {
                Err(format!(
                    "{} of {} unfinished: {unfinished:?}",
                    unfinished.len(),
                    conversations.len()
                ))
            }
        },
    )
    .await;
    let stored: HashSet<&str> = conversations
        .iter()
        .filter_map(|c| c["conversation_id"].as_str())
        .collect();
    for id in &answered {
        assert!(
            stored.contains(id.as_str()),
            "answered upload {id} was lost"
        );
    }
    // One idempotency key per conversation: each was announced once.
    let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
    for entry in journal(&journal_path) {
        keys.entry(entry.conversation)
            .or_default()
            .insert(entry.key);
    }
    for (conversation, keys) in &keys {
        assert_eq!(keys.len(), 1, "{conversation} announced as {keys:?}");
    }
    let by_reason = conversations
        .iter()
        .fold(HashMap::<String, usize>::new(), |mut counts, c| {
            *counts
                .entry(c["end_reason"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
            counts
        });
    assert!(
        by_reason.get("server_restart").copied().unwrap_or(0) >= 3,
        "each kill left its devices' conversations open: {by_reason:?}"
    );
    let left: Vec<_> = std::fs::read_dir(server.path("data/tmp"))
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "spooled uploads left behind: {left:?}");
    eprintln!(
        "{} conversations stored over 3 kills ({} answered uploads), {} reached the plugin, 0 lost; by end reason: {by_reason:?}",
        stored.len(),
        answered.len(),
        keys.len()
    );
}
