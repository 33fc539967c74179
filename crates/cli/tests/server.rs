//! End-to-end: the real `chronicle serve` on 127.0.0.1, driven by a real HTTP client
//! (reqwest) and a real WebSocket client (tokio-tungstenite), as a device and the Chronicle
//! clients would.

mod support;

use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{ALICE, Project, Server, Socket, next_json, pcm_bytes, tone};
use tokio_tungstenite::tungstenite::Message;

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");
const BOB: (&str, &str) = ("bob@example.com", "bob-password-1");

const PLUGINS_YML: &str = "plugins:
  test_event:
    enabled: true
    events: [transcript.streaming, transcript.batch, conversation.complete, conversation.starred, memory.processed, button.single_press, button.double_press, button.long_press]
    permissions: [database]
    priority: 200
  test_button_actions:
    enabled: true
    events: [button.single_press, button.double_press]
    priority: 10
    permissions: [close_conversation, star_conversation, call_plugin]
    actions:
      single_press: {type: close_conversation}
      double_press: {type: star_conversation}
  keyword_alerter:
    enabled: true
    events: [transcript.streaming]
    condition: {type: wake_word, wake_words: [hey hermes]}
    keywords: [lights]
";

/// A server with the plugins of `PLUGINS_YML`, the users Alice and Bob, and the admin.
fn start() -> Server {
    start_with(&[])
}

/// As [`start`], with `env` set (the pipeline's providers, for one).
fn start_with(env: &[(&str, &str)]) -> Server {
    let project = Project::with_plugins(PLUGINS_YML, &[]);
    project.add_user(ALICE);
    project.add_user(BOB);
    let admin = [("ADMIN_EMAIL", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)];
    project.serve(&[], &[&admin, env].concat())
}

async fn connect(server: &Server, query: &str) -> (Socket, Value) {
    let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url(&format!("/ws?{query}")))
        .await
        .expect("connect");
    let first = next_json(&mut socket).await;
    (socket, first)
}

async fn send_header(socket: &mut Socket, header: Value) {
    socket
        .send(Message::text(header.to_string()))
        .await
        .expect("send header");
}

async fn send_chunk(socket: &mut Socket, payload: Vec<u8>) {
    send_header(socket, json!({"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": payload.len()})).await;
    socket
        .send(Message::binary(payload))
        .await
        .expect("send payload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_streams_audio_presses_the_button_and_plugins_see_it() {
    let server = start();
    let alice = server.login(ALICE).await;
    let (mut socket, ready) = connect(
        &server,
        &format!("codec=pcm&token={alice}&device_name=Pendant"),
    )
    .await;
    assert_eq!(
        ready,
        json!({"type": "ready", "message": "WebSocket connection established"})
    );

    send_header(&mut socket, json!({"type": "audio-start", "data": {"rate": 16000, "width": 2, "channels": 1, "mode": "streaming"}, "payload_length": null})).await;
    for _ in 0..20 {
        send_chunk(&mut socket, pcm_bytes(&tone(0.1))).await;
    }
    send_header(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "pong"}));
    // test_button_actions closes the open conversation on a single press.
    send_header(
        &mut socket,
        json!({"type": "button-event", "data": {"state": "SINGLE_PRESS"}}),
    )
    .await;
    server
        .eventually("the button closed the conversation", || async {
            server
                .conversations(&alice)
                .await
                .iter()
                .any(|c| c["end_reason"] == "button_close")
        })
        .await;
    // A double press stars the session's conversation, here the one just closed (stored).
    send_header(
        &mut socket,
        json!({"type": "button-event", "data": {"state": "DOUBLE_TAP"}}),
    )
    .await;
    server
        .eventually(
            "the double press starred the closed conversation",
            || async {
                server
                    .conversations(&alice)
                    .await
                    .iter()
                    .any(|c| c["end_reason"] == "button_close" && c["starred"] == true)
            },
        )
        .await;
    // Audio after a close opens the next conversation; stopping ends it.
    for _ in 0..10 {
        send_chunk(&mut socket, pcm_bytes(&tone(0.1))).await;
    }
    send_header(&mut socket, json!({"type": "audio-stop"})).await;
    server
        .eventually("audio-stop ended the second conversation", || async {
            server
                .conversations(&alice)
                .await
                .iter()
                .any(|c| c["end_reason"] == "user_stopped")
        })
        .await;
    let all = server.conversations(&alice).await;
    let first = all
        .iter()
        .find(|c| c["end_reason"] == "button_close")
        .expect("first");
    assert!(
        (first["duration_seconds"].as_f64().unwrap_or(0.0) - 2.0).abs() < 0.05,
        "{first}"
    );
    assert_eq!(
        first["client_id"].as_str().map(|c| c.ends_with("-pendant")),
        Some(true)
    );
    assert_eq!(first["markers"][0]["state"], "SINGLE_PRESS");
    // The recording is served by the conversation's id (no server path in the JSON), and a
    // player can seek in it.
    assert_eq!(first["has_audio"], true, "{first}");
    assert!(first.get("audio_path").is_none(), "{first}");
    let id = first["conversation_id"].as_str().expect("id");
    let (status, kind, wav) = server.audio(&alice, id, None).await;
    assert_eq!((status, kind.as_str()), (200, "audio/wav"));
    assert!(wav.starts_with(b"RIFF"), "a WAV");
    let (status, _, part) = server.audio(&alice, id, Some("bytes=4-11")).await;
    assert_eq!(status, 206);
    assert_eq!(part, wav[4..12]);
    let bob = server.login(BOB).await;
    assert_eq!(
        server.audio(&bob, id, None).await.0,
        404,
        "not Bob's to hear"
    );

    // The event log: the press, then both completions, with their end reasons.
    server
        .eventually("the event log holds the completions", || async {
            server.events(&alice, "conversation.complete").await.len() == 2
        })
        .await;
    let (_, presses) = server
        .get(Some(&alice), "/api/events?event_type=button.single_press")
        .await;
    let press = &presses["events"][0];
    assert_eq!(press["plugins"][0]["plugin_id"], "test_button_actions");
    assert_eq!(
        press["plugins"][0]["result"]["message"],
        "Conversation closed"
    );
    assert_eq!(
        press["plugins"][1]["reason"],
        "chain stopped by `test_button_actions`"
    );
    let (_, completes) = server
        .get(Some(&alice), "/api/events?event_type=conversation.complete")
        .await;
    let reasons: Vec<&Value> = completes["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["metadata"]["end_reason"])
        .collect();
    assert_eq!(reasons, [&json!("user_stopped"), &json!("button_close")]);

    // Not for anyone: it names the plugins.
    assert_eq!(server.get(None, "/metrics").await.0, 401);
    assert_eq!(server.get(Some(&alice), "/metrics").await.0, 403);
    let admin = server.login(ADMIN).await;
    let (_, metrics) = server.get(Some(&admin), "/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains("chronicle_events_dispatched_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chronicle_audio_received_milliseconds_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_audio_is_decoded_and_recorded() {
    let server = start();
    let alice = server.login(ALICE).await;
    let (mut socket, ready) = connect(
        &server,
        &format!("codec=opus&token={alice}&device_name=omi"),
    )
    .await;
    assert_eq!(ready["type"], "ready");
    let mut encoder = chronicle_audio::OpusEncoder::new().expect("encoder");
    let samples: Vec<i16> = (0..16000)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 16000.0).sin() * 8000.0) as i16)
        .collect();
    for frame in samples.chunks(320) {
        let packet = encoder.encode(frame).expect("encode");
        send_header(
            &mut socket,
            json!({"type": "audio-chunk", "payload_length": packet.len()}),
        )
        .await;
        socket.send(Message::binary(packet)).await.expect("send");
    }
    send_header(&mut socket, json!({"type": "audio-stop"})).await;
    server
        .eventually("the opus conversation completed", || async {
            server
                .conversations(&alice)
                .await
                .iter()
                .any(|c| c["end_reason"] == "user_stopped")
        })
        .await;
    let conversation = server.conversations(&alice).await.remove(0);
    assert!(
        (conversation["duration_seconds"].as_f64().unwrap_or(0.0) - 1.0).abs() < 0.05,
        "{conversation}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connections_are_closed_with_a_reason_and_others_keep_serving() {
    let server = start();
    let alice = server.login(ALICE).await;
    let (_, refused) = connect(&server, "codec=pcm&token=not-a-token").await;
    assert_eq!(refused["error"], "authentication_failed");
    let (_, refused) = connect(&server, &format!("codec=mp3&token={alice}")).await;
    assert_eq!(refused["error"], "unsupported_codec");

    let (mut healthy, _) = connect(
        &server,
        &format!("codec=pcm&token={alice}&device_name=good"),
    )
    .await;
    for (name, action) in [("binary", 0), ("json", 1), ("big", 2)] {
        let (mut bad, _) = connect(
            &server,
            &format!("codec=pcm&token={alice}&device_name={name}"),
        )
        .await;
        match action {
            0 => bad
                .send(Message::binary(vec![1, 2, 3]))
                .await
                .expect("send"),
            1 => bad.send(Message::text("{not json")).await.expect("send"),
            _ => {
                send_header(
                    &mut bad,
                    json!({"type": "audio-chunk", "payload_length": 2 * 1024 * 1024}),
                )
                .await
            }
        }
        let closed = next_json(&mut bad).await;
        let (code, reason) = (
            closed["closed"][0].as_u64(),
            closed["closed"][1].as_str().unwrap_or("").to_owned(),
        );
        match action {
            0 => assert_eq!(
                (
                    code,
                    reason.contains("binary frame came where a JSON header was expected")
                ),
                (Some(1003), true),
                "{closed}"
            ),
            1 => assert_eq!(
                (code, reason.starts_with("invalid JSON header")),
                (Some(1003), true),
                "{closed}"
            ),
            _ => assert_eq!(
                (code, reason.contains("exceeds the limit")),
                (Some(1009), true),
                "{closed}"
            ),
        }
    }
    send_header(&mut healthy, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut healthy).await,
        json!({"type": "pong"}),
        "the good connection still serves"
    );
}

/// Audio files as multipart uploads.
fn upload_form(files: Vec<(&str, Vec<u8>)>) -> reqwest::multipart::Form {
    files.into_iter().fold(
        reqwest::multipart::Form::new().text("device_name", "uploader"),
        |form, (name, bytes)| {
            form.part(
                "files",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
            )
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_become_conversations_and_bad_files_fail_alone() {
    let server = start();
    let admin = server.login(ADMIN).await;
    let tone: Vec<i16> = (0..32000)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 16000.0).sin() * 8000.0) as i16)
        .collect();
    let wav = chronicle_audio::wav_bytes(&tone);
    let mp3 = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../audio/tests/fixtures/tone_440hz_44100hz_mono.mp3"),
    )
    .expect("mp3 fixture");
    let form = upload_form(vec![
        ("talk.wav", wav),
        ("song.mp3", mp3),
        ("notes.txt", b"not audio at all".to_vec()),
    ]);
    let response = server
        .http
        .post(server.url("/api/audio/upload"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 207);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["summary"],
        json!({"total": 3, "started": 2, "failed": 1})
    );
    assert_eq!(body["files"][0]["status"], "started");
    assert!((body["files"][0]["duration_seconds"].as_f64().unwrap_or(0.0) - 2.0).abs() < 0.01);
    assert_eq!(body["files"][1]["status"], "started");
    assert_eq!(body["files"][2]["status"], "failed");
    assert!(
        body["files"][2]["error"]
            .as_str()
            .unwrap_or("")
            .contains("not a supported audio file")
    );

    let form = upload_form(vec![("a.txt", b"junk".to_vec())]);
    let response = server
        .http
        .post(server.url("/api/process-audio-files"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 400, "all files failed");

    let conversation_id = body["files"][0]["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, conversation) = server
        .get(
            Some(&admin),
            &format!("/api/conversations/{conversation_id}"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &conversation["conversation"]["title"],
            &conversation["conversation"]["end_reason"]
        ),
        (&json!("talk"), &json!("file_upload"))
    );
    server
        .eventually("conversation.complete for the upload", || async {
            let events = server.events(&admin, "conversation.complete").await;
            events
                .iter()
                .any(|e| e["metadata"]["end_reason"] == "file_upload")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_enforces_who_may_call_it() {
    let server = start();
    let (admin, alice, bob) = (
        server.login(ADMIN).await,
        server.login(ALICE).await,
        server.login(BOB).await,
    );
    // Alice has a conversation and a memory; Bob may see neither.
    let (mut socket, _) = connect(&server, &format!("codec=pcm&token={alice}&device_name=a")).await;
    send_chunk(&mut socket, pcm_bytes(&tone(0.1))).await;
    send_header(&mut socket, json!({"type": "audio-stop"})).await;
    server
        .eventually("alice's conversation", || async {
            !server.conversations(&alice).await.is_empty()
        })
        .await;
    let conversation = server.conversations(&alice).await[0]["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, memory) = server
        .send(reqwest::Method::POST, Some(&alice), "/api/memories", None)
        .await;
    assert_eq!(status, 400, "a memory needs a JSON body: {memory}");
    let response = server
        .http
        .post(server.url("/api/memories"))
        .bearer_auth(&alice)
        .json(&json!({"content": "Alice likes green tea"}))
        .send()
        .await
        .expect("memory");
    let memory: Value = response.json().await.expect("json");
    let memory_id = memory["memory"]["memory_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let user_routes = [
        "/api/users/me".to_owned(),
        "/api/conversations".to_owned(),
        "/api/memories".to_owned(),
        "/api/memories/search?query=tea".to_owned(),
        "/api/events".to_owned(),
        "/api/sessions".to_owned(),
    ];
    for route in &user_routes {
        assert_eq!(server.get(None, route).await.0, 401, "anonymous {route}");
        assert_eq!(
            server.get(Some("garbage"), route).await.0,
            401,
            "bad token {route}"
        );
        for token in [&alice, &bob, &admin] {
            assert_eq!(server.get(Some(token), route).await.0, 200, "{route}");
        }
    }
    let (status, body) = server.get(None, "/api/conversations").await;
    assert_eq!(
        (status, body["detail"].clone()),
        (401, json!("Unauthorized")),
        "a JSON error"
    );

    // Owner and admin see Alice's data; Bob does not.
    for (token, expected) in [(&alice, 200), (&admin, 200), (&bob, 404)] {
        assert_eq!(
            server
                .get(Some(token), &format!("/api/conversations/{conversation}"))
                .await
                .0,
            expected
        );
        assert_eq!(
            server
                .get(
                    Some(token),
                    &format!("/api/conversations/{conversation}/memories")
                )
                .await
                .0,
            expected
        );
    }
    assert_eq!(
        server
            .get(Some(&bob), "/api/memories/search?query=tea")
            .await
            .1["count"],
        0
    );
    assert_eq!(
        server
            .get(Some(&alice), "/api/memories/search?query=TEA")
            .await
            .1["count"],
        1
    );
    for (method, route) in [
        (
            reqwest::Method::POST,
            format!("/api/conversations/{conversation}/star"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/memories/{memory_id}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/conversations/{conversation}"),
        ),
    ] {
        assert_eq!(
            server.send(method, Some(&bob), &route, None).await.0,
            404,
            "bob on {route}"
        );
    }
    let (status, starred) = server
        .send(
            reqwest::Method::POST,
            Some(&alice),
            &format!("/api/conversations/{conversation}/star"),
            None,
        )
        .await;
    assert_eq!((status, starred["starred"].clone()), (200, json!(true)));
    server
        .eventually("conversation.starred dispatched", || async {
            server.events(&alice, "conversation.starred").await.len() == 1
        })
        .await;
    assert_eq!(
        server
            .get(Some(&bob), "/api/events?event_type=conversation.starred")
            .await
            .1["total"],
        0,
        "events are per user"
    );
    assert_eq!(
        server
            .get(Some(&admin), "/api/events?event_type=conversation.starred")
            .await
            .1["total"],
        1,
        "the admin sees all"
    );

    // Admin routes and uploads: admins only.
    for route in [
        "/api/admin/plugins/health",
        "/api/admin/plugins/metadata",
        "/api/admin/plugins/config",
        "/api/admin/deliveries",
    ] {
        assert_eq!(server.get(None, route).await.0, 401, "{route}");
        assert_eq!(server.get(Some(&alice), route).await.0, 403, "{route}");
        assert_eq!(server.get(Some(&admin), route).await.0, 200, "{route}");
    }
    for route in [
        "/api/admin/plugins/reload",
        "/api/admin/plugins/test_event/test-connection",
        "/api/admin/deliveries/replay-dead",
        "/api/admin/deliveries/1/replay",
        "/api/admin/plugins/config/validate",
        "/api/audio/upload",
        "/api/process-audio-files",
    ] {
        assert_eq!(
            server
                .send(reqwest::Method::POST, None, route, None)
                .await
                .0,
            401,
            "{route}"
        );
        assert_eq!(
            server
                .send(reqwest::Method::POST, Some(&bob), route, None)
                .await
                .0,
            403,
            "{route}"
        );
    }
    assert_eq!(
        server
            .send(
                reqwest::Method::DELETE,
                Some(&alice),
                &format!("/api/memories/{memory_id}"),
                None
            )
            .await
            .0,
        200
    );
    assert_eq!(
        server
            .send(
                reqwest::Method::DELETE,
                Some(&alice),
                &format!("/api/conversations/{conversation}"),
                None
            )
            .await
            .0,
        200
    );
    // A connection test, as `chronicle plugin check` prints it.
    let (status, report) = server
        .send(
            reqwest::Method::POST,
            Some(&admin),
            "/api/admin/plugins/test_event/test-connection",
            None,
        )
        .await;
    assert_eq!(
        (status, report["ok"].clone()),
        (200, json!(true)),
        "{report}"
    );
    let (status, _) = server
        .send(
            reqwest::Method::POST,
            Some(&admin),
            "/api/admin/plugins/nope/test-connection",
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(server.get(None, "/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_reload_on_change_and_a_broken_change_is_refused() {
    let server = start();
    let admin = server.login(ADMIN).await;
    let enabled = |health: &Value| -> Vec<String> {
        health["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["status"] == "initialized")
            .filter_map(|p| p["plugin_id"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        enabled(
            &server
                .get(Some(&admin), "/api/admin/plugins/health")
                .await
                .1
        ),
        ["test_event", "test_button_actions", "keyword_alerter"]
    );

    // A change on disk is applied without a restart.
    std::fs::write(
        server.path("config/plugins.yml"),
        PLUGINS_YML.replacen("enabled: true", "enabled: false", 1),
    )
    .expect("write");
    server
        .eventually("the watcher reloaded the plugins", || async {
            enabled(
                &server
                    .get(Some(&admin), "/api/admin/plugins/health")
                    .await
                    .1,
            ) == ["test_button_actions", "keyword_alerter"]
        })
        .await;

    // A file that is not YAML is refused; the running set stays. (An error inside one entry
    // would only fail that plugin.)
    std::fs::write(
        server.path("config/plugins.yml"),
        "plugins:\n  test_event: [unclosed\n",
    )
    .expect("write");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        enabled(
            &server
                .get(Some(&admin), "/api/admin/plugins/health")
                .await
                .1
        ),
        ["test_button_actions", "keyword_alerter"]
    );

    // Through the API: a bad config is refused with its errors and not written.
    let (status, refused) = server
        .send(
            reqwest::Method::PUT,
            Some(&admin),
            "/api/admin/plugins/config",
            Some("plugins:\n  nope: {enabled: true}\n".into()),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        refused["errors"][0]
            .as_str()
            .unwrap_or("")
            .contains("plugins.yml:2:3: no runtime provides plugin `nope`"),
        "{refused}"
    );
    // An empty body (a client that lost the text) would disable every plugin: refused too.
    let (status, empty) = server
        .send(
            reqwest::Method::PUT,
            Some(&admin),
            "/api/admin/plugins/config",
            Some("\n".into()),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        empty["errors"][0]
            .as_str()
            .unwrap_or("")
            .contains("the configuration is empty"),
        "{empty}"
    );
    let (_, on_disk) = server.get(Some(&admin), "/api/admin/plugins/config").await;
    assert!(
        on_disk.as_str().unwrap_or("").contains("[unclosed"),
        "not overwritten"
    );
    let (status, validated) = server
        .send(
            reqwest::Method::POST,
            Some(&admin),
            "/api/admin/plugins/config/validate",
            Some(PLUGINS_YML.into()),
        )
        .await;
    assert_eq!((status, validated["valid"].clone()), (200, json!(true)));
    let (status, saved) = server
        .send(
            reqwest::Method::PUT,
            Some(&admin),
            "/api/admin/plugins/config",
            Some(PLUGINS_YML.into()),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert!(
        server.path("config/plugins.yml.backup").is_file(),
        "the previous file is kept"
    );
    assert_eq!(
        enabled(
            &server
                .get(Some(&admin), "/api/admin/plugins/health")
                .await
                .1
        ),
        ["test_event", "test_button_actions", "keyword_alerter"]
    );
    let (_, metadata) = server
        .get(Some(&admin), "/api/admin/plugins/metadata")
        .await;
    assert_eq!(metadata["status"], "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_dispatches_live_to_their_user() {
    let server = start();
    let alice = server.login(ALICE).await;
    let (mut socket, _) = connect(&server, &format!("codec=pcm&token={alice}&device_name=a")).await;
    send_chunk(&mut socket, pcm_bytes(&tone(0.1))).await;
    send_header(&mut socket, json!({"type": "audio-stop"})).await;
    server
        .eventually("a conversation", || async {
            !server.conversations(&alice).await.is_empty()
        })
        .await;
    let conversation = server.conversations(&alice).await[0]["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();

    assert_eq!(server.get(None, "/api/events/stream").await.0, 401);
    let response = server
        .http
        .get(server.url("/api/events/stream"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let mut starred = false;
    while !seen.contains("conversation.starred") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event in time")
            .expect("more")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains("event: connected") && !starred {
            starred = true;
            let (status, _) = server
                .send(
                    reqwest::Method::POST,
                    Some(&alice),
                    &format!("/api/conversations/{conversation}/star"),
                    None,
                )
                .await;
            assert_eq!(status, 200);
        }
    }
    assert!(seen.contains("event: plugin.event"), "{seen}");
}

/// A device streams to a server whose transcription is a Deepgram-speaking server on
/// 127.0.0.1 and whose language model is a chat completions server: the device hears its
/// transcripts, the wake-word plugin fires once with the command, and the conversation ends
/// with a transcript, a memory and a title, announced in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_session_is_transcribed_remembered_and_announced_in_order() {
    use chronicle_test_servers::{Chat, ChatReply, Deepgram, DeepgramBehaviour, Utterance};
    let speech = Deepgram::start(|_| {
        DeepgramBehaviour::Script(vec![Utterance {
            at: 1.0,
            text: "Hey Hermes, turn off the lights.".into(),
        }])
    })
    .await;
    let chat = Chat::start(|body| {
        if chronicle_test_servers::system_message(body).contains("memories") {
            ChatReply::Content(r#"{"facts": ["Alice turns the lights off at night."]}"#.into())
        } else {
            ChatReply::Content(r#"{"title": "Lights off", "summary": "Alice asked Hermes to turn off the lights."}"#.into())
        }
    })
    .await;
    let chat_url = format!("{}/v1", chat.base_url());
    let server = start_with(&[
        ("TRANSCRIPTION_PROVIDER", "deepgram"),
        ("TRANSCRIPTION_URL", &speech.url()),
        ("DEEPGRAM_API_KEY", "dg-test-key"),
        ("LLM_BASE_URL", &chat_url),
        ("LLM_MODEL", "llama3"),
    ]);
    let alice = server.login(ALICE).await;
    let (mut socket, _) = connect(
        &server,
        &format!("codec=pcm&token={alice}&device_name=Pendant"),
    )
    .await;
    send_header(&mut socket, json!({"type": "audio-start", "data": {"rate": 16000, "width": 2, "channels": 1, "mode": "streaming"}})).await;
    for _ in 0..20 {
        send_chunk(&mut socket, pcm_bytes(&tone(0.1))).await;
    }
    // The device hears the interim transcript, then the final one.
    let interim = next_json(&mut socket).await;
    assert_eq!(
        (&interim["type"], &interim["data"]["is_final"]),
        (&json!("interim_transcript"), &json!(false)),
        "{interim}"
    );
    let last = next_json(&mut socket).await;
    assert_eq!(last["data"]["text"], "Hey Hermes, turn off the lights.");
    assert_eq!(last["data"]["is_final"], true);
    send_header(&mut socket, json!({"type": "audio-stop"})).await;

    server.until_logged(&alice, "conversation.complete").await;
    assert_eq!(
        speech.connections()[0].query_values("keyterm"),
        ["hey hermes"]
    );
    let (_, events) = server.get(Some(&alice), "/api/events?limit=20").await;
    // Newest first in the log; oldest first here.
    let mut names: Vec<String> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_owned())
        .collect();
    names.reverse();
    assert_eq!(
        names,
        [
            "transcript.streaming",
            "memory.processed",
            "conversation.complete"
        ]
    );
    let streaming = &events["events"][2];
    let alerter = streaming["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["plugin_id"] == "keyword_alerter")
        .expect("keyword_alerter ran");
    assert_eq!(alerter["status"], "executed", "{alerter}");
    assert_eq!(
        events["events"][0]["metadata"]["end_reason"],
        "user_stopped"
    );

    let all = server.conversations(&alice).await;
    let id = all[0]["conversation_id"].as_str().expect("id");
    let (_, conversation) = server
        .get(Some(&alice), &format!("/api/conversations/{id}"))
        .await;
    let conversation = &conversation["conversation"];
    assert_eq!(
        conversation["transcript"],
        "Hey Hermes, turn off the lights."
    );
    assert_eq!(conversation["title"], "Lights off");
    assert_eq!(conversation["segments"][0]["words"][0]["word"], "hey");
    let (_, memories) = server
        .get(Some(&alice), &format!("/api/conversations/{id}/memories"))
        .await;
    assert_eq!(
        memories["memories"][0]["content"],
        "Alice turns the lights off at night."
    );
}

/// Uploads are transcribed whole by an OpenAI-compatible server: `transcript.batch` fires,
/// and the conversation keeps the transcript; a provider answering garbage fails that file's
/// transcription with its reason while the upload itself succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_transcribed_in_batch_and_a_broken_provider_fails_only_the_transcript() {
    use chronicle_test_servers::{TranscriptionReply, Transcriptions};
    let speech = Transcriptions::start(|request| {
        if request.audio_seconds > 1.5 {
            TranscriptionReply::Text("Please call the doctor. It is urgent.".into())
        } else {
            TranscriptionReply::Garbage
        }
    })
    .await;
    let server = start_with(&[
        ("TRANSCRIPTION_PROVIDER", "openai"),
        ("TRANSCRIPTION_URL", &speech.base_url()),
        ("TRANSCRIPTION_RETRIES", "1"),
    ]);
    let admin = server.login(ADMIN).await;
    let tone = |seconds: usize| -> Vec<u8> {
        let samples: Vec<i16> = (0..16000 * seconds)
            .map(|i| ((i as f32 * 0.2).sin() * 8000.0) as i16)
            .collect();
        chronicle_audio::wav_bytes(&samples)
    };
    let form = upload_form(vec![("call.wav", tone(2)), ("short.wav", tone(1))]);
    let response = server
        .http
        .post(server.url("/api/audio/upload"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let good = body["files"][0]["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bad = body["files"][1]["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    server
        .eventually("both uploads complete", || async {
            server.events(&admin, "conversation.complete").await.len() == 2
        })
        .await;
    assert_eq!(
        server.events(&admin, "transcript.batch").await.len(),
        1,
        "only the good file has words"
    );
    let (_, conversation) = server
        .get(Some(&admin), &format!("/api/conversations/{good}"))
        .await;
    assert_eq!(
        conversation["conversation"]["transcript"],
        "Please call the doctor. It is urgent."
    );
    let (_, conversation) = server
        .get(Some(&admin), &format!("/api/conversations/{bad}"))
        .await;
    assert_eq!(conversation["conversation"]["transcript"], "");
    let reason = conversation["conversation"]["transcription_error"]
        .as_str()
        .unwrap_or("");
    assert!(reason.contains("unreadable"), "{conversation}");
    // The first try and one retry for the bad file, one request for the good one.
    assert_eq!(speech.requests().len(), 3);
    let (status, _) = server.get(None, "/health").await;
    assert_eq!(status, 200, "the server is unharmed");
}
