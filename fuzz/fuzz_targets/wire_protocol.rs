//! `wire_protocol`: one line of the plugin wire protocol (`chronicle_plugin_api::protocol`),
//! as the host reads a plugin's stdout (bytes, read lossily as UTF-8).
//!
//! Properties, as `docs/plugin-protocol.md` and `protocol/robustness.rs` promise them:
//! - every line is a [`Message`] or an error, never a panic;
//! - what one side writes the other reads back unchanged: a decoded message, written with
//!   [`Message::to_line`] (one line, no newline in it) and decoded again, is equal to itself;
//!   so are the typed params and results (`initialize`, `handle_event`, `health_check`) and
//!   the service calls a plugin makes, each encoded back the way a plugin writes them;
//! - a refused service request is answered with `METHOD_NOT_FOUND` or `INVALID_PARAMS`.

#![no_main]

use chronicle_plugin_api::protocol::{
    HandleEventParams, HandleEventResult, HealthCheckResult, InitializeParams, InitializeResult,
    Message, ServiceCall, ServiceRequest, code,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let Ok(message) = Message::parse(&line) else {
        return;
    };
    let written = message.to_line();
    assert!(!written.contains('\n'), "a message is one line: {written}");
    let again = Message::parse(&written)
        .unwrap_or_else(|error| panic!("{written:?} does not read back: {error}"));
    assert_eq!(again, message, "read back differently from {written:?}");

    match message {
        Message::Request(request) => {
            match ServiceRequest::decode(&request) {
                Ok(decoded) => {
                    let mut params = params_of(&decoded.call);
                    if let (Some(id), Value::Object(params)) = (&decoded.context_id, &mut params) {
                        params.insert("context_id".to_owned(), Value::from(id.clone()));
                    }
                    let rewritten = chronicle_plugin_api::protocol::Request {
                        params,
                        ..request.clone()
                    };
                    let again = ServiceRequest::decode(&rewritten)
                        .unwrap_or_else(|error| panic!("{rewritten:?} is refused: {error}"));
                    assert_eq!(again, decoded, "the service call reads back differently");
                }
                Err(error) => assert!(
                    [code::METHOD_NOT_FOUND, code::INVALID_PARAMS].contains(&error.code),
                    "a refusal the protocol does not name: {error:?}"
                ),
            }
            round_trip::<InitializeParams>(&request.params);
            round_trip::<HandleEventParams>(&request.params);
        }
        Message::Response(response) => {
            if let Ok(result) = response.into_result() {
                round_trip::<InitializeResult>(&result);
                round_trip::<HandleEventResult>(&result);
                round_trip::<HealthCheckResult>(&result);
            }
        }
    }
});

/// When `value` reads as a `T`, that `T` written to JSON text and read again is equal to it.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &Value) {
    let Ok(typed) = serde_json::from_value::<T>(value.clone()) else {
        return;
    };
    let text = serde_json::to_string(&typed).expect("a wire type serializes");
    let again: T = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{text} does not read back: {error}"));
    assert_eq!(again, typed, "read back differently from {text}");
}

/// The params of `call`, as a plugin writes them.
fn params_of(call: &ServiceCall) -> Value {
    let value = match call {
        ServiceCall::CloseConversation(params) => serde_json::to_value(params),
        ServiceCall::StarConversation(params) => serde_json::to_value(params),
        ServiceCall::CallPlugin(params) => serde_json::to_value(params),
        ServiceCall::InsertOne(params) => serde_json::to_value(params),
        ServiceCall::Find(params)
        | ServiceCall::FindOne(params)
        | ServiceCall::DeleteOne(params)
        | ServiceCall::Count(params) => serde_json::to_value(params),
        ServiceCall::UpdateOne(params) => serde_json::to_value(params),
        ServiceCall::LlmGenerate(params) => serde_json::to_value(params),
        ServiceCall::StopPlayback(params) => serde_json::to_value(params),
        ServiceCall::Search(params) => serde_json::to_value(params),
    };
    value.expect("service params serialize")
}
