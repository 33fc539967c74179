//! The OpenAPI document against independent tools from PyPI (installed into
//! `target/test-openapi` on first use): `openapi-spec-validator` finds it a valid OpenAPI 3.1
//! document, and a bounded `schemathesis` run against the real server, authenticated with an
//! admin's API key, finds no 5xx, no undocumented status or content type, and no answer that
//! breaks its schema. The counts it prints are the closing note's figures.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chronicle_plugin_api::EndReason;
use chronicle_store::NewConversation;
use serde_json::{Value, json};
use support::{ALICE, Project};

const VALIDATOR: &str = "openapi-spec-validator==0.9.0";
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const ADMIN: (&str, &str) = ("admin@example.com", "admin-password-12");
/// Test cases per operation and phase: enough to reach every documented answer, few enough
/// that the run takes about a minute here.
const MAX_EXAMPLES: &str = "25";
/// Past this the run is stopped and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(600);

fn tools_python() -> std::path::PathBuf {
    support::python_venv(
        "test-openapi",
        &[VALIDATOR, SCHEMATHESIS],
        "import importlib.metadata as m; assert m.version('schemathesis') == '4.32.5'; \
         assert m.version('openapi-spec-validator') == '0.9.0'",
    )
}

/// A finished conversation and a memory for Alice and the admin each, so listings have records
/// to validate and the stateful phase has ids to follow.
async fn fill(project: &Project) {
    for email in [ALICE.0, ADMIN.0] {
        let (store, user) = project.store_with(email).await;
        let conversation = store
            .create_conversation(NewConversation {
                user_id: user.id.clone(),
                client_id: "test-device".into(),
                session_id: None,
                title: "Errands".into(),
                audio_path: None,
            })
            .await
            .expect("conversation");
        let id = conversation.conversation_id;
        let text = "Remind me to buy oat milk. The dentist is on Tuesday.";
        store
            .set_transcript(
                &id,
                text,
                vec![json!({"text": text, "start": 0.0, "end": 4.0, "speaker": "Speaker 0"})],
                None,
            )
            .await
            .expect("transcript");
        store
            .complete_conversation(&id, EndReason::UserStopped, Some(4.0))
            .await
            .expect("complete");
        store
            .add_memory(&user.id, Some(&id), "Buys oat milk on Saturdays")
            .await
            .expect("memory");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_valid_openapi_and_the_server_keeps_to_it_under_schemathesis() {
    let python = tools_python();
    let project = Project::with_plugins(
        "plugins:\n  todo_extractor:\n    enabled: true\n    events: [conversation.complete]\n    permissions: [database]\n",
        &[],
    );
    project.add_user(ALICE);
    let made = project
        .chronicle()
        .args(["user", "add", ADMIN.0, "--password", ADMIN.1, "--admin"])
        .stdout(Stdio::null())
        .status()
        .expect("user add");
    assert!(made.success());
    fill(&project).await;
    let key = {
        let output = project.run(&[
            "keys",
            "create",
            "--user",
            ADMIN.0,
            "--name",
            "schemathesis",
            "--scope",
            "admin",
        ]);
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.split_whitespace()
            .find(|word| word.starts_with("chr_"))
            .unwrap_or_else(|| panic!("no key in {text}"))
            .to_owned()
    };
    // The fuzzer makes thousands of requests with one key: no rate limit here (it has its own
    // test in keys.rs).
    let server = project.serve(&["--api-rate-limit", "0"], &[]);

    // The document, public, and valid by an independent validator.
    let (status, document) = server.get(None, "/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let file = project.path("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write the document");
    let validated = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("openapi-spec-validator");
    assert!(
        validated.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    // schemathesis, every phase, against the real server. Left out: the WebSockets and the
    // two event streams (an answer that never ends is not a response to check), and revoking
    // keys, which would revoke the very key the run authenticates with once the stateful
    // phase follows `GET /api/keys` to it.
    let reports = project.path("schemathesis");
    let report = reports.join("run.json");
    let mut run = Command::new(python.with_file_name("schemathesis"))
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--exclude-path-regex",
            "^/(ws|ws/audio|api/live/stream|api/events/stream)$",
            "--exclude-operation-id",
            "delete_api_keys_id",
            "--max-examples",
            MAX_EXAMPLES,
            "--request-timeout",
            "20",
            "--workers",
            "2",
            "--report",
            "json",
            "--output-truncate",
            "true",
        ])
        .arg("--report-json-path")
        .arg(&report)
        .current_dir(project.root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis");
    let started = Instant::now();
    while run.try_wait().expect("schemathesis").is_none() {
        if started.elapsed() > RUN_LIMIT {
            let _ = run.kill();
            panic!("schemathesis ran past {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = run.wait_with_output().expect("schemathesis output");
    let printed = String::from_utf8_lossy(&output.stdout);
    let summary: Value = std::fs::read_to_string(&report)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| panic!("no schemathesis report; it printed:\n{printed}"));
    println!(
        "schemathesis {}: {} operations tested of {} ({} selected), {} test cases, {} with failures, {:.1} s",
        summary["schemathesis_version"],
        summary["operations"]["tested"],
        summary["operations"]["total"],
        summary["operations"]["selected"],
        summary["test_cases"]["generated"],
        summary["test_cases"]["with_failures"],
        summary["running_time"].as_f64().unwrap_or_default(),
    );
    assert!(
        output.status.success() && summary["failures"] == json!([]),
        "schemathesis found failures: {}\n{printed}",
        summary["failures"]
    );
    assert_eq!(summary["errors"], json!([]), "{printed}");
    assert!(
        summary["operations"]["tested"].as_u64().unwrap_or_default() >= 50,
        "too few operations tested: {}",
        summary["operations"]
    );
    // Authenticated throughout: the only operation answered nothing but 401/403 is the one
    // that takes a login and never a key.
    let unauthenticated = &summary["warnings"]["missing_auth"];
    assert!(
        unauthenticated.is_null() || unauthenticated == &json!(["POST /api/keys"]),
        "operations that only refused the key: {unauthenticated}"
    );
    assert_eq!(
        server.get(Some(&key), "/api/users/me").await.0,
        200,
        "the key still works after the run"
    );
}
