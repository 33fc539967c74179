//! The web app end to end, in a real browser: `tests/web/run.mjs` (Playwright driving Debian's
//! headless Chromium) against the real `chronicle serve`, which it starts itself. This test
//! gives it what only Rust has: the binary cargo built, and the test servers that speak the
//! transcription (Deepgram streaming) and language-model (chat completions) protocols on
//! 127.0.0.1, so uploads and live sessions are transcribed and summarized for real.
//!
//! It needs `node` and `/usr/bin/chromium` (`apt-get install chromium`); `npm ci` is run in
//! `tests/web` when its `node_modules` is missing or older than the lock file. The browser is
//! never downloaded. Node's output is shown when a test fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chronicle_test_servers::{
    Chat, ChatReply, Deepgram, DeepgramBehaviour, Utterance, last_user_message, system_message,
};

/// The longest the browser tests may take before they are stopped (they take about a minute).
const LIMIT: Duration = Duration::from_secs(6 * 60);

const CHROMIUM: &str = "/usr/bin/chromium";

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web")
}

/// `npm ci`, unless `node_modules` was installed from the current lock file.
fn install_packages(web: &Path) {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let lock = modified(web.join("package-lock.json"));
    let installed = modified(web.join("node_modules/.package-lock.json"));
    if matches!((lock, installed), (Some(lock), Some(installed)) if installed >= lock) {
        return;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(web)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "npm ci in {}: {error} (is Node.js installed?)",
                web.display()
            )
        });
    assert!(
        output.status.success(),
        "npm ci in {} failed:\n{}\n{}",
        web.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the test transcription server hears in any audio, by the second it is reached:
/// uploads (three seconds) and the live session both carry both sentences.
fn script() -> DeepgramBehaviour {
    DeepgramBehaviour::Script(vec![
        Utterance {
            at: 1.0,
            text: "Remind me to buy oat milk.".into(),
        },
        Utterance {
            at: 2.5,
            text: "I need to call Anna tomorrow.".into(),
        },
    ])
}

/// The language model: a memory from every conversation, and a title and summary that differ
/// from one conversation to the next, so the list shows which is which.
async fn language_model() -> Chat {
    const TITLES: [&str; 4] = [
        "Errands: oat milk and a call",
        "Shopping list and Anna",
        "Morning notes",
        "A reminder for tomorrow",
    ];
    let count = Arc::new(AtomicUsize::new(0));
    Chat::start(move |body| {
        // The Chat page: search for the question, then answer citing the first source.
        let asked_tools = body["messages"]
            .as_array()
            .is_some_and(|messages| messages.iter().any(|m| m["role"] == "tool"));
        if body.get("tools").is_some() && !asked_tools {
            return ChatReply::ToolCalls(vec![(
                "search".into(),
                // What was said, so the cited source always has a conversation to open.
                serde_json::json!({"query": last_user_message(body), "kind": "conversation"}),
            )]);
        }
        if asked_tools {
            return ChatReply::Content("You wanted to buy oat milk [1].".into());
        }
        if system_message(body).contains("memories") {
            ChatReply::Content(
                r#"{"facts": ["Needs to buy oat milk.", "Plans to call Anna tomorrow."]}"#.into(),
            )
        } else {
            let title = TITLES[count.fetch_add(1, Ordering::Relaxed) % TITLES.len()];
            let reply = serde_json::json!({
                "title": title,
                "summary": "A reminder to buy oat milk, and a plan to call Anna tomorrow.",
            });
            ChatReply::Content(reply.to_string())
        }
    })
    .await
}

/// Reads a child's pipe to its end on a thread, so the child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_works_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the web tests drive Debian's Chromium at {CHROMIUM}, which is missing: apt-get install chromium"
    );
    let web = web_dir();
    install_packages(&web);
    let speech = Deepgram::start(|_| script()).await;
    let chat = language_model().await;

    // Its own process group, so a run that overstays is stopped with the server it started.
    use std::os::unix::process::CommandExt;
    let mut node = Command::new("node")
        .arg("run.mjs")
        .current_dir(&web)
        .env("CHRONICLE_BIN", env!("CARGO_BIN_EXE_chronicle"))
        .env("DEEPGRAM_URL", speech.url())
        .env("LLM_BASE_URL", format!("{}/v1", chat.base_url()))
        .env(
            "WEB_SCREENSHOTS",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots"),
        )
        .env_remove("NODE_OPTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "node run.mjs in {}: {error} (is Node.js installed?)",
                web.display()
            )
        });
    let stdout = drain(node.stdout.take().expect("stdout"));
    let stderr = drain(node.stderr.take().expect("stderr"));

    // Waited for without blocking the runtime, which serves the test servers meanwhile.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = node.try_wait().expect("node's status") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", node.id())])
                .status();
            let _ = node.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    match status {
        None => panic!("the web tests did not finish within {LIMIT:?}:\n{stdout}\n{stderr}"),
        Some(status) if !status.success() => {
            panic!("the web tests failed ({status}):\n{stdout}\n{stderr}")
        }
        Some(_) => eprintln!("{stdout}"),
    }
}
