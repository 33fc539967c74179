//! End-to-end: `chronicle process` and `chronicle replay`, the real binary, with the providers
//! played by local servers on 127.0.0.1.

use std::path::Path;
use std::process::{Command, Output};

use chronicle_plugin_api::EndReason;
use chronicle_test_servers::{Chat, ChatReply, TranscriptionReply, Transcriptions};
use serde_json::Value;

const PLUGINS_YML: &str = "plugins:
  test_event:
    enabled: true
    events: [transcript.streaming, transcript.batch, conversation.complete, memory.processed, button.single_press]
    permissions: [database]
    priority: 200
  test_button_actions:
    enabled: true
    events: [button.single_press]
    priority: 10
    permissions: [close_conversation]
    actions:
      single_press: {type: close_conversation}
  keyword_alerter:
    enabled: true
    events: [transcript.streaming]
    condition: {type: wake_word, wake_words: [hey hermes]}
    keywords: [lights]
";

/// A project folder with the plugin configuration above.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("plugins")).expect("mkdir");
    std::fs::write(dir.path().join("config/plugins.yml"), PLUGINS_YML).expect("write");
    dir
}

/// Runs the binary off the async threads (the test's servers run on them).
async fn chronicle(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chronicle"));
    command
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("CONFIG_DIR")
        .env_remove("PLUGINS_DIR")
        .env_remove("DATA_DIR")
        .env_remove("RUST_LOG")
        .env_remove("DEEPGRAM_API_KEY")
        .env_remove("OPENAI_API_KEY");
    tokio::task::spawn_blocking(move || command.output().expect("run chronicle"))
        .await
        .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_transcribes_each_file_prints_its_conversation_and_reports_bad_files() {
    let speech = Transcriptions::start(|_| {
        TranscriptionReply::Text("I promised to send Sam the slides by Friday.".into())
    })
    .await;
    let chat = Chat::start(|body| {
        if chronicle_test_servers::system_message(body).contains("memories") {
            ChatReply::Content(r#"{"facts": ["Sam expects the slides by Friday."]}"#.into())
        } else {
            ChatReply::Content(
                r#"{"title": "Slides for Sam", "summary": "A promise to send slides."}"#.into(),
            )
        }
    })
    .await;
    let dir = project();
    let added = chronicle(
        dir.path(),
        &[
            "user",
            "add",
            "ana@example.com",
            "--password",
            "ana-password",
        ],
        &[],
    )
    .await;
    assert!(added.status.success(), "{}", text(&added.stderr));
    let samples: Vec<i16> = (0..32000)
        .map(|i| ((i as f32 * 0.2).sin() * 8000.0) as i16)
        .collect();
    std::fs::write(
        dir.path().join("talk.wav"),
        chronicle_audio::wav_bytes(&samples),
    )
    .expect("wav");
    std::fs::write(dir.path().join("notes.txt"), "not audio").expect("txt");
    let chat_url = format!("{}/v1", chat.base_url());
    let speech_url = speech.base_url();
    let env = [
        ("TRANSCRIPTION_PROVIDER", "openai"),
        ("TRANSCRIPTION_URL", speech_url.as_str()),
        ("LLM_BASE_URL", chat_url.as_str()),
        ("LLM_MODEL", "llama3"),
    ];
    let output = chronicle(
        dir.path(),
        &[
            "process",
            "talk.wav",
            "notes.txt",
            "--user",
            "ana@example.com",
        ],
        &env,
    )
    .await;
    // One file failed: exit 2, the reason on stderr, the good file's id on stdout.
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("notes.txt: "),
        "{}",
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    let ids: Vec<&str> = stdout.lines().collect();
    assert_eq!(ids.len(), 1, "{stdout}");
    assert_eq!(speech.requests().len(), 1);

    // The conversation is in the data folder, transcribed, titled, with its memory; the
    // plugins saw the batch transcript, the memory and the completion.
    let store = chronicle_store::Store::open(&dir.path().join("data"))
        .await
        .expect("store");
    let owner = chronicle_store::Owner::Admin;
    let conversation = store
        .conversation(&owner, ids[0])
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        conversation.transcript,
        "I promised to send Sam the slides by Friday."
    );
    assert_eq!(conversation.title, "Slides for Sam");
    assert_eq!(conversation.end_reason, Some(EndReason::FileUpload));
    let memories = store
        .conversation_memories(&owner, ids[0])
        .await
        .expect("memories");
    assert_eq!(memories[0].content, "Sam expects the slides by Friday.");
    use chronicle_host_ports::DocumentStore;
    let seen: Vec<String> = store
        .find("test_event", "events", &Default::default(), None)
        .await
        .expect("documents")
        .iter()
        .filter_map(|d| d["event"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        seen,
        [
            "transcript.batch",
            "memory.processed",
            "conversation.complete"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_plays_a_recorded_session_through_the_plugins_in_order() {
    let dir = project();
    let session =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sessions/hey-hermes.jsonl");
    let session = session.to_str().expect("utf-8 path");
    let output = chronicle(dir.path(), &["replay", session, "--json"], &[]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "transcript.streaming",
            "transcript.streaming",
            "button.single_press",
            "conversation.complete",
            "transcript.streaming",
            "conversation.complete",
            "transcript.streaming",
            "conversation.complete",
        ]
    );
    // The wake word fired once, with its command.
    let alerts: Vec<&Value> = events
        .iter()
        .flat_map(|e| e["plugins"].as_array().into_iter().flatten())
        .filter(|p| p["plugin_id"] == "keyword_alerter" && p["status"] == "executed")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    // The press closed the first conversation; a pause closed the second; the stop the third.
    let reasons: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "conversation.complete")
        .map(|e| &e["metadata"]["end_reason"])
        .collect();
    assert_eq!(
        reasons,
        ["button_close", "inactivity_timeout", "user_stopped"]
    );
    assert_eq!(
        events[3]["data"]["transcript"],
        "Hey Hermes, turn off the lights. I need to call the dentist tomorrow."
    );

    // A broken line is refused with its place, before anything runs.
    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"at\": 1, \"type\": \"segment\"}\n",
    )
    .expect("write");
    let output = chronicle(dir.path(), &["replay", "bad.jsonl"], &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("bad.jsonl:1:"),
        "{}",
        text(&output.stderr)
    );
}
