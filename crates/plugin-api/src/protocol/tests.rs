//! Round trips through `protocol_snapshots/*.json`, the same files the Python SDK's tests
//! load. `CHRONICLE_BLESS=1 cargo test -p chronicle-plugin-api` rewrites them from the values
//! below; any change to their bytes must bump [`PROTOCOL_VERSION`].

use serde_json::{Value, json};

use super::*;

fn request(id: u64, method: &str, params: Value) -> Message {
    Message::Request(Request {
        jsonrpc: JsonRpc2,
        id,
        method: method.to_owned(),
        params,
    })
}

fn to_value<T: Serialize>(value: T) -> Value {
    serde_json::to_value(value).expect("serializable")
}

fn object(value: Value) -> JsonMap {
    value.as_object().cloned().expect("object")
}

/// Every snapshot: its file name and the message it holds.
fn snapshots() -> Vec<(&'static str, Message)> {
    let init = InitializeParams {
        protocol_version: PROTOCOL_VERSION.into(),
        host_version: "0.1.0".into(),
        plugin_id: "todo_extractor_py".into(),
        settings: object(json!({"todo_patterns": ["I need to (.+)"]})),
        orchestration: Orchestration {
            enabled: true,
            events: vec![Event::ConversationComplete],
            condition: json!({"type": "always"}),
            priority: 100,
        },
        permissions: vec![Permission::Database],
    };
    let handle = HandleEventParams {
        context_id: "2".into(),
        event: Event::ConversationComplete,
        user_id: "user-1".into(),
        data: object(json!({
            "conversation": {"client_id": "a1b2c3-pendant", "user_id": "user-1"},
            "transcript": "I need to buy milk.",
            "duration": 42.5,
            "conversation_id": "conv-1",
        })),
        metadata: object(json!({"end_reason": "user_stopped"})),
        delivery: WireDelivery {
            event_id: "5f1c2a9e0b7d-2a".into(),
            plugin_id: "todo_extractor_py".into(),
            attempt: 1,
            deadline_ms: 1_795_600_000_000,
            idempotency_key: "5f1c2a9e0b7d-2a:todo_extractor_py".into(),
        },
    };
    vec![
        (
            "initialize_request.json",
            request(1, method::INITIALIZE, to_value(&init)),
        ),
        (
            "initialize_response.json",
            Message::Response(Response::ok(
                1,
                to_value(InitializeResult {
                    protocol_version: PROTOCOL_VERSION.into(),
                    sdk_version: "chronicle-plugin-python 0.1.0".into(),
                    name: "Todo Extractor".into(),
                    description: "Extract and save action items from conversations.".into(),
                    access_levels: vec![AccessLevel::Conversation],
                    events: vec![Event::ConversationComplete],
                }),
            )),
        ),
        (
            "initialize_incompatible.json",
            Message::Response(Response::error(
                1,
                RpcError::new(
                    code::INCOMPATIBLE_PROTOCOL,
                    "plugin `todo_extractor_py` speaks protocol 2.0 (SDK chronicle-plugin-python 0.9.0), which is not compatible with the host's protocol 1.0",
                ),
            )),
        ),
        (
            "handle_event_request.json",
            request(2, method::HANDLE_EVENT, to_value(&handle)),
        ),
        (
            "service_insert_one_request.json",
            request(
                1,
                method::INSERT_ONE,
                json!({"context_id": "2", "collection": "todos", "document": {"user_id": "user-1", "task": "buy milk", "completed": false, "created_at": "2026-11-25T09:00:00"}}),
            ),
        ),
        (
            "service_insert_one_response.json",
            Message::Response(Response::ok(1, json!({"inserted_id": "d0c5e7a2-1"}))),
        ),
        (
            "service_permission_denied.json",
            Message::Response(Response::error(
                1,
                RpcError::new(
                    code::PERMISSION_DENIED,
                    "plugin `todo_extractor_py` may not use insert_one: add `database` to its `permissions` in config/plugins.yml",
                ),
            )),
        ),
        (
            "handle_event_response.json",
            Message::Response(Response::ok(
                2,
                to_value(HandleEventResult {
                    result: Some(
                        PluginResult::ok("Extracted 1 action items")
                            .with_data(object(json!({"todos": ["buy milk"]}))),
                    ),
                    metadata: object(json!({"end_reason": "user_stopped", "todo_count": 1})),
                }),
            )),
        ),
        (
            "handle_event_decline.json",
            Message::Response(Response::ok(
                3,
                to_value(HandleEventResult {
                    result: None,
                    metadata: JsonMap::new(),
                }),
            )),
        ),
        (
            "handle_event_error.json",
            Message::Response(Response::error(
                4,
                RpcError {
                    code: code::HANDLER_FAILED,
                    message: "ValueError: boom".into(),
                    data: Some(
                        json!({"traceback": "Traceback (most recent call last):\n  File \"plugin.py\", line 9, in on_conversation_complete\nValueError: boom\n"}),
                    ),
                },
            )),
        ),
        (
            "health_check_request.json",
            request(5, method::HEALTH_CHECK, json!({})),
        ),
        (
            "health_check_response.json",
            Message::Response(Response::ok(
                5,
                to_value(HealthReport::ok("No external service to check")),
            )),
        ),
        (
            "cleanup_request.json",
            request(6, method::CLEANUP, json!({})),
        ),
        (
            "cleanup_response.json",
            Message::Response(Response::ok(6, Value::Null)),
        ),
    ]
}

fn snapshot_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol_snapshots")
}

#[test]
fn snapshots_match_the_typed_messages() {
    let bless = std::env::var_os("CHRONICLE_BLESS").is_some();
    for (file, message) in snapshots() {
        let path = snapshot_dir().join(file);
        let ours: Value = serde_json::from_str(&message.to_line()).unwrap();
        if bless {
            std::fs::write(&path, serde_json::to_string_pretty(&ours).unwrap() + "\n").unwrap();
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{file} is missing: run with CHRONICLE_BLESS=1"));
        let pinned: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            ours, pinned,
            "{file} changed: bump PROTOCOL_VERSION and bless"
        );
        // Each file parses back into the same message.
        let compact = serde_json::to_string(&pinned).unwrap();
        assert_eq!(Message::parse(&compact).unwrap(), message, "{file}");
    }
}

#[test]
fn snapshot_params_and_results_decode_into_their_types() {
    let read = |file: &str| -> Message {
        let text = std::fs::read_to_string(snapshot_dir().join(file)).unwrap();
        Message::parse(
            &serde_json::to_string(&serde_json::from_str::<Value>(&text).unwrap()).unwrap(),
        )
        .unwrap()
    };
    let Message::Request(init) = read("initialize_request.json") else {
        panic!()
    };
    let params: InitializeParams = serde_json::from_value(init.params).unwrap();
    assert_eq!(params.permissions, [Permission::Database]);
    let Message::Request(handle) = read("handle_event_request.json") else {
        panic!()
    };
    let params: HandleEventParams = serde_json::from_value(handle.params).unwrap();
    assert_eq!(params.event, Event::ConversationComplete);
    let Message::Response(done) = read("handle_event_response.json") else {
        panic!()
    };
    let result: HandleEventResult = serde_json::from_value(done.into_result().unwrap()).unwrap();
    assert_eq!(result.metadata["todo_count"], 1);
    let Message::Response(failed) = read("handle_event_error.json") else {
        panic!()
    };
    assert_eq!(failed.into_result().unwrap_err().code, code::HANDLER_FAILED);
    let Message::Request(service) = read("service_insert_one_request.json") else {
        panic!()
    };
    let decoded = ServiceRequest::decode(&service).unwrap();
    assert_eq!(decoded.context_id.as_deref(), Some("2"));
    assert!(
        matches!(decoded.call, ServiceCall::InsertOne(InsertOneParams { ref collection, .. }) if collection == "todos")
    );
}

#[test]
fn service_requests_are_checked_against_their_method() {
    let decode = |method: &str, params: Value| {
        ServiceRequest::decode(&Request {
            jsonrpc: JsonRpc2,
            id: 1,
            method: method.into(),
            params,
        })
    };
    assert!(matches!(
        decode(method::CLOSE_CONVERSATION, json!({"session_id": "s"}))
            .unwrap()
            .call,
        ServiceCall::CloseConversation(CloseConversationParams {
            reason: CloseReason::PluginRequested,
            ..
        })
    ));
    assert!(matches!(
        decode(method::COUNT, json!({"collection": "c"}))
            .unwrap()
            .call,
        ServiceCall::Count(_)
    ));
    assert_eq!(
        decode("db.drop", json!({})).unwrap_err().code,
        code::METHOD_NOT_FOUND
    );
    let error = decode(method::INSERT_ONE, json!({"collection": "c"})).unwrap_err();
    assert_eq!(error.code, code::INVALID_PARAMS);
    assert!(
        error.message.contains("missing field `document`"),
        "{}",
        error.message
    );
    assert_eq!(
        decode(method::FIND, json!({"collection": "c", "sort": 1}))
            .unwrap_err()
            .code,
        code::INVALID_PARAMS
    );
}

#[test]
fn versions_are_compatible_within_a_major() {
    assert!(is_compatible("1.0", "1.7"));
    assert!(!is_compatible("1.0", "2.0"));
    assert!(!is_compatible("1.0", "one"));
    assert!(!is_compatible("1.0", "1"));
}

#[test]
fn malformed_lines_are_errors_not_panics() {
    for line in [
        "",
        "{",
        "[]",
        "{\"jsonrpc\": \"1.0\", \"id\": 1, \"method\": \"x\"}",
        "{\"id\": \"x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":1}",
    ] {
        assert!(Message::parse(line).is_err(), "{line:?}");
    }
}

/// Found by `fuzz/fuzz_targets/wire_protocol.rs` (its input is in the seed corpus as
/// `regression_long_float`): a number with more digits than a double holds was read to a
/// neighbouring double, so what the host read and wrote back was not what it read again.
/// serde_json's `float_roundtrip` parses to the nearest double.
#[test]
fn a_number_with_many_digits_reads_back_as_the_same_number() {
    let line = r#"{"jsonrpc":"2.0","id":1,"method":"handle_event","params":{"priority":400333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333}}"#;
    let message = Message::parse(line).expect("a request");
    let again = Message::parse(&message.to_line()).expect("written back");
    assert_eq!(again, message);
    let Message::Request(request) = message else {
        panic!("a request");
    };
    assert_eq!(
        request.params["priority"].as_f64(),
        Some(4.0033333333333333e101)
    );
}
