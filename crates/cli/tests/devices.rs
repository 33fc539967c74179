//! End-to-end: devices on the real `chronicle serve` over real sockets on 127.0.0.1.
//!
//! - `/ws/audio` (`chronicle.audio.v2`), driven by a client built from the server's own schema
//!   (`chronicle_server::ws_audio`): Opus packets become a transcribed conversation, every
//!   packet is acknowledged in order, a button press reaches a plugin, and protocol
//!   violations are refused with an error and a close.
//! - `/ws` spool acknowledgements (`audio-ack`) and bare PCM frames.
//! - The login form as the original web UI posts it (multipart), and `GET /users/me`.

mod support;

use std::time::Duration;

use chronicle_server::ws_audio::controls::{
    AudioSpec, ButtonEvent, ClientControl, ClientEvent, ClientHello, Heartbeat, ServerControl,
    ServerEvent, StartCapture, StopCapture,
};
use chronicle_server::ws_audio::enums::{
    ButtonState, DataPurpose, DeliveryClass, DeviceKind, ProcessingProfile, ProtocolErrorCode,
    StopReason,
};
use chronicle_server::ws_audio::schema::{
    CaptureBinding, CaptureMediaPacket, Id, Media, MediaEnvelope, Timestamp,
};
use chronicle_test_servers::{Deepgram, DeepgramBehaviour, Utterance};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{ALICE, Server, Socket, next_json, pcm_bytes, tone, ws_connect, ws_send};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const PLUGINS_YML: &str = "plugins:
  test_event:
    enabled: true
    events: [transcript.streaming, conversation.complete, button.single_press, button.double_press]
    permissions: [database]
";

/// A server whose live transcription is a Deepgram-speaking server that says `text` once it
/// has heard a second of audio.
async fn transcribing_server(text: &str) -> (Server, Deepgram) {
    let text = text.to_owned();
    let speech = Deepgram::start(move |_| {
        DeepgramBehaviour::Script(vec![Utterance {
            at: 1.0,
            text: text.clone(),
        }])
    })
    .await;
    let server = Server::start(
        PLUGINS_YML,
        &[
            ("TRANSCRIPTION_PROVIDER", "deepgram"),
            ("TRANSCRIPTION_URL", &speech.url()),
            ("DEEPGRAM_API_KEY", "dg-test-key"),
        ],
    );
    (server, speech)
}

/// What a `/ws/audio` client reads next.
#[derive(Debug)]
enum Heard {
    Control(ServerControl),
    Closed(Option<(u16, String)>),
}

/// A `/ws/audio` client, as the original's apps and relays speak to the server.
struct V2Client {
    socket: Socket,
}

impl V2Client {
    /// Connects, asking for `chronicle.audio.v2` when `subprotocol`.
    async fn connect(server: &Server, subprotocol: bool) -> Self {
        let mut request = server
            .ws_url("/ws/audio")
            .into_client_request()
            .expect("request");
        if subprotocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static("chronicle.audio.v2"),
            );
        }
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connect");
        let chosen = response.headers().get("sec-websocket-protocol");
        assert_eq!(
            chosen.map(|v| v.to_str().unwrap_or("")),
            subprotocol.then_some("chronicle.audio.v2")
        );
        Self { socket }
    }

    /// Sends a control; returns its event id.
    async fn send(&mut self, event: ClientEvent) -> Id {
        let control = ClientControl::now(event);
        let id = control.event_id.clone().expect("an event id");
        self.socket
            .send(Message::text(control.to_json()))
            .await
            .expect("send control");
        id
    }

    async fn send_frame(&mut self, frame: Vec<u8>) {
        self.socket
            .send(Message::binary(frame))
            .await
            .expect("send media");
    }

    async fn packet(&mut self, binding: &CaptureBinding, sequence: u64, opus: Vec<u8>) {
        let envelope = MediaEnvelope {
            media: Some(Media::Capture(CaptureMediaPacket {
                binding: Some(binding.clone()),
                sequence,
                captured_at: Some(Timestamp::now()),
                monotonic_offset_us: sequence * 20_000,
                delivery_class: DeliveryClass::Live as i32,
                opus_payload: opus,
            })),
        };
        self.send_frame(envelope.to_bytes()).await;
    }

    async fn next(&mut self) -> Heard {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.socket.next())
                .await
                .expect("a message in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Heard::Control(
                        ServerControl::from_json(&text).expect("a ServerControl"),
                    );
                }
                Some(Ok(Message::Close(frame))) => {
                    return Heard::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(_)) => continue,
                other => panic!("the socket ended without a close: {other:?}"),
            }
        }
    }

    async fn next_event(&mut self) -> ServerEvent {
        match self.next().await {
            Heard::Control(control) => control.event,
            closed => panic!("expected a control, got {closed:?}"),
        }
    }

    /// Says hello as the pendant `Pendant`; returns the server's hello.
    async fn hello(&mut self, token: &str) -> ServerEvent {
        self.send(ClientEvent::Hello(hello(token))).await;
        self.next_event().await
    }

    /// Starts a capture; returns its binding.
    async fn start(&mut self, epoch: u64) -> CaptureBinding {
        self.start_in(epoch, 20).await
    }

    /// Starts a capture of `frame_ms` Opus packets.
    async fn start_in(&mut self, epoch: u64, frame_ms: u32) -> CaptureBinding {
        let spec = AudioSpec::opus(16_000, frame_ms, 24_000);
        self.send(ClientEvent::StartCapture(StartCapture {
            audio_spec: Some(spec.clone()),
            ..start_capture(epoch)
        }))
        .await;
        match self.next_event().await {
            ServerEvent::CaptureStarted(started) => {
                assert_eq!(started.audio_spec, Some(spec));
                started.binding.expect("a binding")
            }
            other => panic!("expected capture_started, got {other:?}"),
        }
    }

    /// The error the server sends before closing, and the close.
    async fn refusal(&mut self) -> (ProtocolErrorCode, String, Option<Id>, Option<(u16, String)>) {
        let error = loop {
            match self.next_event().await {
                ServerEvent::Error(error) => break error,
                // Acks of packets taken before the refused one.
                ServerEvent::CapturePacketAccepted(_) => continue,
                other => panic!("expected an error, got {other:?}"),
            }
        };
        let Heard::Closed(closed) = self.next().await else {
            panic!("expected the close after the error");
        };
        (error.code, error.detail, error.rejected_event_id, closed)
    }
}

fn hello(token: &str) -> ClientHello {
    ClientHello {
        bearer_token: token.to_owned(),
        source_id: Some(Id::new("pendant-0042")),
        device_kind: DeviceKind::Omi,
        display_name: "Pendant".into(),
        supported_uplink: vec![AudioSpec::opus(16_000, 20, 24_000)],
        supported_downlink: vec![AudioSpec::opus(24_000, 20, 24_000)],
    }
}

fn start_capture(epoch: u64) -> StartCapture {
    StartCapture {
        capture_epoch: epoch,
        processing_profile: ProcessingProfile::SourceNative,
        data_purpose: DataPurpose::NormalCapture,
        delivery_class: DeliveryClass::Live,
        audio_spec: Some(AudioSpec::opus(16_000, 20, 24_000)),
        ..StartCapture::default()
    }
}

/// 20 ms Opus packets of `seconds` of tone.
fn opus_packets(seconds: f32) -> Vec<Vec<u8>> {
    chronicle_audio::OpusEncoder::new()
        .expect("encoder")
        .encode_all(&tone(seconds))
        .expect("encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_device_streams_opus_into_a_transcribed_conversation_with_every_packet_acked() {
    let (server, _speech) = transcribing_server("Hello from the pendant.").await;
    let alice = server.login(ALICE).await;
    let mut device = V2Client::connect(&server, true).await;
    let ServerEvent::Hello(greeting) = device.hello(&alice).await else {
        panic!("expected the server's hello");
    };
    let client_id = greeting.client_id.expect("a client id").value;
    assert!(client_id.ends_with("-pendant"), "{client_id}");
    assert!(
        greeting
            .connection_id
            .expect("a connection id")
            .value
            .starts_with("audio-v2-")
    );

    let binding = device.start(0).await;
    let packets = opus_packets(2.0);
    assert_eq!(packets.len(), 100);
    for (sequence, packet) in packets.into_iter().enumerate() {
        device.packet(&binding, sequence as u64, packet).await;
    }
    device
        .send(ClientEvent::Heartbeat(Heartbeat {
            monotonic_timestamp_us: 2_000_000,
        }))
        .await;
    let mut acked = Vec::new();
    let mut echoed = None;
    while acked.len() < 100 || echoed.is_none() {
        match device.next_event().await {
            ServerEvent::CapturePacketAccepted(accepted) => {
                assert_eq!(accepted.binding.as_ref(), Some(&binding));
                acked.push(accepted.sequence);
            }
            ServerEvent::Heartbeat(heartbeat) => echoed = Some(heartbeat),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        acked,
        (0..100).collect::<Vec<u64>>(),
        "every packet, in order"
    );
    assert_eq!(echoed.map(|h| h.monotonic_timestamp_us), Some(2_000_000));

    device
        .send(ClientEvent::ButtonEvent(ButtonEvent {
            state: ButtonState::SinglePress,
        }))
        .await;
    server
        .eventually("the press reached test_event", || async {
            server
                .events(&alice, "button.single_press")
                .await
                .iter()
                .any(|e| {
                    e["plugins"][0]["plugin_id"] == "test_event"
                        && e["plugins"][0]["status"] == "executed"
                })
        })
        .await;
    let press = &server.events(&alice, "button.single_press").await[0];
    assert_eq!(
        press["metadata"]["client_id"],
        client_id.as_str(),
        "{press}"
    );
    let logged = &press["services"][0]["args"]["document"]["data"];
    assert_eq!(logged["state"], "SINGLE_PRESS", "{press}");
    assert_eq!(logged["client_id"], client_id.as_str(), "{press}");

    device
        .send(ClientEvent::StopCapture(StopCapture {
            binding: Some(binding.clone()),
            reason: StopReason::UserRequested,
        }))
        .await;
    match device.next_event().await {
        ServerEvent::CaptureStopped(stopped) => assert_eq!(stopped.binding, Some(binding.clone())),
        other => panic!("expected capture_stopped, got {other:?}"),
    }
    server.until_logged(&alice, "conversation.complete").await;
    let conversations = server.conversations(&alice).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["end_reason"], "user_stopped");
    assert_eq!(conversations[0]["client_id"], client_id.as_str());
    let id = conversations[0]["conversation_id"].as_str().expect("id");
    let conversation = server.conversation(&alice, id).await;
    assert_eq!(conversation["transcript"], "Hello from the pendant.");
    assert!(
        (conversation["duration_seconds"].as_f64().unwrap_or(0.0) - 2.0).abs() < 0.05,
        "{conversation}"
    );

    // The socket stays open for the next capture, in a session of its own: 60 ms packets, as
    // local-wearable-client sends them.
    let next = device.start_in(1, 60).await;
    assert_ne!(next.capture_session_id, binding.capture_session_id);
    assert_eq!(next.capture_epoch, 1);
    let packets = chronicle_audio::OpusEncoder::new()
        .expect("encoder")
        .encode_all_in(&tone(1.2), 60)
        .expect("encode");
    assert_eq!(packets.len(), 20);
    for (sequence, packet) in packets.into_iter().enumerate() {
        device.packet(&next, sequence as u64, packet).await;
    }
    let mut acked = Vec::new();
    while acked.len() < 20 {
        match device.next_event().await {
            ServerEvent::CapturePacketAccepted(accepted) => acked.push(accepted.sequence),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acked, (0..20).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_protocol_violations_are_refused_with_an_error_and_a_close() {
    let server = Server::start(PLUGINS_YML, &[]);
    let alice = server.login(ALICE).await;

    let mut plain = V2Client::connect(&server, false).await;
    let Heard::Closed(closed) = plain.next().await else {
        panic!("a client without the subprotocol is closed");
    };
    assert_eq!(closed, Some((1002, "chronicle.audio.v2 required".into())));

    let mut stranger = V2Client::connect(&server, true).await;
    let hello_id = stranger
        .send(ClientEvent::Hello(hello("not-a-token")))
        .await;
    let (code, detail, rejected, closed) = stranger.refusal().await;
    assert_eq!(code, ProtocolErrorCode::AuthenticationFailed);
    assert_eq!(detail, "authentication failed");
    assert_eq!(rejected, Some(hello_id));
    assert_eq!(closed, Some((1008, "authentication failed".into())));

    // A personal API key says hello as a token does when it may write; a read key may not
    // stream.
    let project = server.project();
    let key = |scope: &str| {
        let output = project.run(&[
            "keys", "create", "--user", ALICE.0, "--name", scope, "--scope", scope,
        ]);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let mut keyed = V2Client::connect(&server, true).await;
    let greeting = keyed.hello(&key("write")).await;
    assert!(matches!(greeting, ServerEvent::Hello(_)), "{greeting:?}");
    let mut reader = V2Client::connect(&server, true).await;
    reader.send(ClientEvent::Hello(hello(&key("read")))).await;
    assert_eq!(
        reader.refusal().await.0,
        ProtocolErrorCode::AuthenticationFailed
    );

    let mut hasty = V2Client::connect(&server, true).await;
    hasty
        .send(ClientEvent::Heartbeat(Heartbeat::default()))
        .await;
    let (code, detail, _, closed) = hasty.refusal().await;
    assert_eq!(
        (code, detail.as_str()),
        (
            ProtocolErrorCode::InvalidMedia,
            "first control must be ClientHello"
        )
    );
    assert_eq!(closed.map(|c| c.0), Some(1008));

    // A packet of another binding, after one that was taken.
    let mut stale = V2Client::connect(&server, true).await;
    stale.hello(&alice).await;
    let binding = stale.start(0).await;
    let mut packets = opus_packets(0.1).into_iter();
    stale
        .packet(&binding, 0, packets.next().expect("a packet"))
        .await;
    let other = CaptureBinding {
        capture_session_id: Some(Id::new("someone-else")),
        ..binding.clone()
    };
    stale
        .packet(&other, 1, packets.next().expect("a packet"))
        .await;
    let (code, detail, _, closed) = stale.refusal().await;
    assert_eq!(code, ProtocolErrorCode::InvalidMedia);
    assert!(detail.starts_with("stale session binding"), "{detail}");
    assert_eq!(closed.map(|c| c.0), Some(1008));

    // A packet whose sequence does not move on.
    let mut repeating = V2Client::connect(&server, true).await;
    repeating.hello(&alice).await;
    let binding = repeating.start(0).await;
    let mut packets = opus_packets(0.1).into_iter();
    repeating
        .packet(&binding, 4, packets.next().expect("a packet"))
        .await;
    repeating
        .packet(&binding, 4, packets.next().expect("a packet"))
        .await;
    let (code, detail, _, closed) = repeating.refusal().await;
    assert_eq!(
        (code, detail.as_str()),
        (
            ProtocolErrorCode::InvalidMedia,
            "sequence 4 does not follow 4"
        )
    );
    assert_eq!(closed, Some((1008, "sequence 4 does not follow 4".into())));

    // A control with a field the schema does not have, and a frame over 4 KiB.
    let mut careless = V2Client::connect(&server, true).await;
    careless.hello(&alice).await;
    let mut control: Value = serde_json::from_str(
        &ClientControl::now(ClientEvent::Heartbeat(Heartbeat::default())).to_json(),
    )
    .expect("json");
    control["heartbeat"]["colour"] = json!("red");
    careless
        .socket
        .send(Message::text(control.to_string()))
        .await
        .expect("send");
    let (code, detail, _, _) = careless.refusal().await;
    assert_eq!(code, ProtocolErrorCode::InvalidMedia);
    assert!(detail.contains("unknown field `colour`"), "{detail}");
    let mut greedy = V2Client::connect(&server, true).await;
    greedy.hello(&alice).await;
    greedy.start(0).await;
    greedy.send_frame(vec![0; 5000]).await;
    let (code, _, _, closed) = greedy.refusal().await;
    assert_eq!(code, ProtocolErrorCode::MessageTooLarge);
    assert_eq!(closed.map(|c| c.0), Some(1009));

    // A second start while a capture is open.
    let mut eager = V2Client::connect(&server, true).await;
    eager.hello(&alice).await;
    eager.start(0).await;
    eager
        .send(ClientEvent::StartCapture(start_capture(0)))
        .await;
    let (code, detail, _, _) = eager.refusal().await;
    assert_eq!(code, ProtocolErrorCode::InvalidMedia);
    assert!(detail.starts_with("a capture is already open"), "{detail}");

    assert_eq!(
        server.get(None, "/health").await.0,
        200,
        "the server is unharmed"
    );
}

/// `/ws` helpers.
/// A spooled chunk: 100 ms of tone with its spool ids.
async fn spooled_chunk(socket: &mut Socket, segment: &str, sequence: u64) {
    let payload = pcm_bytes(&tone(0.1));
    let header = json!({"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1, "spool_segment_id": segment, "spool_sequence": sequence, "captured_at_ms": 1_772_359_200_000u64 + sequence * 100}, "payload_length": payload.len()});
    ws_send(socket, header, Some(payload)).await;
}

async fn acks(socket: &mut Socket, count: usize) -> Vec<(String, u64)> {
    let mut acks = Vec::new();
    while acks.len() < count {
        let message = next_json(socket).await;
        assert_eq!(message["type"], "audio-ack", "{message}");
        acks.push((
            message["spool_segment_id"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            message["sequence"].as_u64().expect("a sequence"),
        ));
    }
    acks
}

fn wav_samples(wav: &[u8]) -> usize {
    hound::WavReader::new(std::io::Cursor::new(wav))
        .expect("a WAV")
        .len() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_chunks_are_acked_in_order_and_a_resent_chunk_is_not_taken_twice() {
    let server = Server::start(PLUGINS_YML, &[]);
    let alice = server.login(ALICE).await;
    let query = format!("codec=pcm&token={alice}&device_name=Phone");
    let mut socket = ws_connect(&server, &query).await;
    for sequence in 0..10 {
        spooled_chunk(&mut socket, "seg-a", sequence).await;
    }
    let expected: Vec<(String, u64)> = (0..10).map(|s| ("seg-a".to_owned(), s)).collect();
    assert_eq!(acks(&mut socket, 10).await, expected);
    // Resent (the app did not see the acks in time), then new ones in another segment.
    spooled_chunk(&mut socket, "seg-a", 3).await;
    spooled_chunk(&mut socket, "seg-a", 9).await;
    for sequence in 0..5 {
        spooled_chunk(&mut socket, "seg-b", sequence).await;
    }
    let mut expected = vec![("seg-a".to_owned(), 3), ("seg-a".to_owned(), 9)];
    expected.extend((0..5).map(|s| ("seg-b".to_owned(), s)));
    assert_eq!(acks(&mut socket, 7).await, expected);
    drop(socket);

    // A new connection of the same device: what was acked is acked again at once, untaken.
    let mut socket = ws_connect(&server, &query).await;
    for sequence in [8, 9] {
        spooled_chunk(&mut socket, "seg-a", sequence).await;
    }
    spooled_chunk(&mut socket, "seg-b", 4).await;
    let expected = vec![
        ("seg-a".to_owned(), 8),
        ("seg-a".to_owned(), 9),
        ("seg-b".to_owned(), 4),
    ];
    assert_eq!(acks(&mut socket, 3).await, expected);
    ws_send(&mut socket, json!({"type": "audio-stop"}), None).await;
    ws_send(&mut socket, json!({"type": "ping"}), None).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "pong"}));

    server
        .eventually("the first connection's conversation", || async {
            !server.conversations(&alice).await.is_empty()
        })
        .await;
    let conversations = server.conversations(&alice).await;
    assert_eq!(
        conversations.len(),
        1,
        "the resent chunks opened nothing: {conversations:?}"
    );
    let conversation = &conversations[0];
    assert!(
        (conversation["duration_seconds"].as_f64().unwrap_or(0.0) - 1.5).abs() < 0.05,
        "15 chunks of 100 ms, none twice: {conversation}"
    );
    let id = conversation["conversation_id"].as_str().expect("id");
    let (status, _, wav) = server.audio(&alice, id, None).await;
    assert_eq!(status, 200);
    assert_eq!(wav_samples(&wav), 15 * 1600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_pcm_after_audio_start_is_transcribed() {
    let (server, speech) = transcribing_server("Bare frames work too.").await;
    let alice = server.login(ALICE).await;
    let mut socket = ws_connect(
        &server,
        &format!("codec=pcm&token={alice}&device_name=Relay"),
    )
    .await;
    ws_send(&mut socket, json!({"type": "audio-start", "data": {"rate": 16000, "width": 2, "channels": 1, "mode": "streaming"}}), None).await;
    for chunk in tone(2.0).chunks(1600) {
        socket
            .send(Message::binary(pcm_bytes(chunk)))
            .await
            .expect("send");
    }
    // The transcripts are relayed back as the header-framed audio's are.
    let last = loop {
        let message = next_json(&mut socket).await;
        assert_eq!(message["type"], "interim_transcript", "{message}");
        if message["data"]["is_final"] == true {
            break message;
        }
    };
    assert_eq!(last["data"]["text"], "Bare frames work too.");
    ws_send(&mut socket, json!({"type": "audio-stop"}), None).await;
    server.until_logged(&alice, "conversation.complete").await;
    assert_eq!(speech.connections()[0].audio_bytes, 2 * 16_000 * 2);
    let conversations = server.conversations(&alice).await;
    let id = conversations[0]["conversation_id"].as_str().expect("id");
    assert_eq!(
        server.conversation(&alice, id).await["transcript"],
        "Bare frames work too."
    );

    // After audio-stop a bare frame is once again a framing error.
    socket
        .send(Message::binary(vec![0, 0]))
        .await
        .expect("send");
    let closed = next_json(&mut socket).await;
    assert_eq!(closed["closed"][0], 1003, "{closed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_logs_in_with_a_multipart_form_and_reads_users_me() {
    let server = Server::start(PLUGINS_YML, &[]);
    let form = |password: &str| {
        reqwest::multipart::Form::new()
            .text("username", ALICE.0)
            .text("password", password.to_owned())
    };
    let response = server
        .http
        .post(server.url("/auth/jwt/login"))
        .multipart(form(ALICE.1))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().expect("a token");

    let (status, me) = server.get(Some(token), "/users/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], ALICE.0);
    assert_eq!(me["is_superuser"], false);
    assert_eq!(server.get(Some(token), "/api/users/me").await.1, me);
    assert_eq!(server.get(None, "/users/me").await.0, 401);

    let wrong = server
        .http
        .post(server.url("/auth/jwt/login"))
        .multipart(form("wrong-password"))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), 400);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["detail"], "LOGIN_BAD_CREDENTIALS");
    let incomplete = server
        .http
        .post(server.url("/auth/jwt/login"))
        .multipart(reqwest::multipart::Form::new().text("username", ALICE.0))
        .send()
        .await
        .expect("login");
    assert_eq!(incomplete.status(), 400);
    // Just over the 16 KiB bound: small enough that the whole request is in the socket's
    // buffers before the server answers and closes (a body much larger may still be being
    // sent when the 413 comes, and the client then sees a broken connection instead).
    let over = "x".repeat(20 * 1024);
    let huge = server
        .http
        .post(server.url("/auth/jwt/login"))
        .multipart(form(&over))
        .send()
        .await
        .expect("login");
    assert_eq!(huge.status(), 413, "the login body is bounded");
    let huge = server
        .http
        .post(server.url("/auth/jwt/login"))
        .form(&[("username", ALICE.0), ("password", &over)])
        .send()
        .await
        .expect("login");
    assert_eq!(huge.status(), 413, "the urlencoded login body too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_stop_playback_reaches_the_device_as_stop_audio() {
    let plugin = "from advanced_omi_backend.plugins.base import BasePlugin, PluginResult\n\nclass StopperPlugin(BasePlugin):\n    async def on_button_event(self, context):\n        told = await context.services.stop_playback(context.user_id, context.data['client_id'])\n        return PluginResult(success=told, message=f'told={told}')\n";
    let server = Server::start_with_files(
        "plugins:\n  stopper:\n    enabled: true\n    events: [button.single_press]\n",
        &[("plugins/stopper/plugin.py", plugin)],
        &[],
    );
    let alice = server.login(ALICE).await;
    let mut socket = ws_connect(
        &server,
        &format!("codec=pcm&token={alice}&device_name=Speaker"),
    )
    .await;
    ws_send(
        &mut socket,
        json!({"type": "button-event", "data": {"state": "SINGLE_PRESS"}}),
        None,
    )
    .await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "stop-audio", "data": {}}),
        "upstream's downlink message, on the device's own connection"
    );
    server
        .eventually("the plugin's result is recorded", || async {
            server
                .events(&alice, "button.single_press")
                .await
                .first()
                .is_some_and(|record| record["plugins"][0]["result"]["message"] == "told=True")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_open_when_the_server_is_killed_is_finished_after_the_restart() {
    let (mut server, speech) = transcribing_server("Said before the crash.").await;
    let alice = server.login(ALICE).await;
    let mut socket = ws_connect(
        &server,
        &format!("codec=pcm&token={alice}&device_name=Pendant"),
    )
    .await;
    let format = json!({"rate": 16000, "width": 2, "channels": 1, "mode": "streaming"});
    ws_send(
        &mut socket,
        json!({"type": "audio-start", "data": format}),
        None,
    )
    .await;
    for chunk in tone(2.0).chunks(1600) {
        let payload = pcm_bytes(chunk);
        let header =
            json!({"type": "audio-chunk", "data": format, "payload_length": payload.len()});
        ws_send(&mut socket, header, Some(payload)).await;
    }
    loop {
        let message = next_json(&mut socket).await;
        if message["data"]["is_final"] == true {
            break;
        }
    }
    server
        .eventually(
            "the transcript is stored in the open conversation",
            || async {
                server
                    .conversations(&alice)
                    .await
                    .first()
                    .is_some_and(|c| c["transcript"] == "Said before the crash.")
            },
        )
        .await;
    assert!(
        server
            .events(&alice, "conversation.complete")
            .await
            .is_empty()
    );

    server.kill();
    let server = server.project().serve(
        &[],
        &[
            ("TRANSCRIPTION_PROVIDER", "deepgram"),
            ("TRANSCRIPTION_URL", &speech.url()),
            ("DEEPGRAM_API_KEY", "dg-test-key"),
        ],
    );
    let alice = server.login(ALICE).await;
    server.until_logged(&alice, "conversation.complete").await;
    let completes = server.events(&alice, "conversation.complete").await;
    assert_eq!(completes.len(), 1, "announced once");
    assert_eq!(completes[0]["metadata"]["end_reason"], "server_restart");
    assert_eq!(completes[0]["plugins"][0]["plugin_id"], "test_event");
    let conversations = server.conversations(&alice).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["end_reason"], "server_restart");
    assert_eq!(conversations[0]["transcript"], "Said before the crash.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_cookie_opens_ws_only_from_this_servers_own_pages() {
    let server = Server::start(PLUGINS_YML, &[]);
    let alice = server.login(ALICE).await;
    let open = |origin: String| {
        let mut request = server
            .ws_url("/ws?codec=pcm&device_name=Browser")
            .into_client_request()
            .expect("request");
        let headers = request.headers_mut();
        headers.insert(
            "cookie",
            HeaderValue::from_str(&format!("fastapiusersauth={alice}")).expect("cookie"),
        );
        headers.insert("origin", HeaderValue::from_str(&origin).expect("origin"));
        async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(request)
                .await
                .expect("upgrade");
            next_json(&mut socket).await
        }
    };
    let foreign = open("https://evil.example".into()).await;
    assert_eq!(foreign["error"], "authentication_failed", "{foreign}");
    let own = open(server.base.clone()).await;
    assert_eq!(own["type"], "ready", "{own}");
}

/// Opens `/ws` by hand (so frames can break the protocol), reads its `ready`, sends `frame`,
/// and gives the close frame's code and reason the server answers with.
fn raw_ws_violation(server: &Server, token: &str, frame: &[u8]) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = format!(
        "GET /ws?codec=pcm&token={token}&device_name=Raw HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("handshake");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    // The 101 and the server's `ready` text frame.
    while !received.windows(7).any(|w| w == b"\"ready\"") {
        let n = stream.read(&mut buffer).expect("the handshake's answer");
        assert!(n > 0, "closed during the handshake");
        received.extend_from_slice(&buffer[..n]);
    }
    stream.write_all(frame).expect("the bad frame");
    let mut answer = Vec::new();
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    // A close frame: 0x88, a length, then the code (big-endian) and the reason.
    let start = answer.iter().position(|byte| *byte == 0x88)?;
    let length = usize::from(*answer.get(start + 1)? & 0x7f);
    let body = answer.get(start + 2..start + 2 + length)?;
    let code = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    Some((code, String::from_utf8_lossy(&body[2..]).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_break_the_websocket_protocol_are_closed_with_1002_and_why() {
    let server = Server::start(PLUGINS_YML, &[]);
    let token = server.login(ALICE).await;
    let ping = br#"{"type":"ping"}"#;
    let mut unmasked = vec![0x81, ping.len() as u8];
    unmasked.extend_from_slice(ping);
    for (name, frame) in [
        ("an unmasked client frame", unmasked),
        ("reserved bits set", vec![0xC1, 0x80, 1, 2, 3, 4]),
        ("an unknown opcode", vec![0x83, 0x80, 1, 2, 3, 4]),
    ] {
        let (code, reason) = raw_ws_violation(&server, &token, &frame)
            .unwrap_or_else(|| panic!("{name}: no close frame"));
        assert_eq!(code, 1002, "{name}: {reason}");
        assert!(reason.contains("protocol error"), "{name}: {reason}");
    }
}
