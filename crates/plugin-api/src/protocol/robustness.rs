//! Property tests: nothing a peer writes on the wire makes this side panic. Every line is a
//! [`Message`] or an error, every request's params a [`ServiceRequest`] or the [`RpcError`] to
//! answer with, every result an answer of its type or an error; and what one side writes the
//! other reads back unchanged.
//!
//! Inputs are arbitrary lines (as bytes read lossily, the way the host reads a plugin's
//! stdout), the `protocol_snapshots/*.json` fixtures with values replaced by JSON of any
//! type, keys dropped and keys added, and generated messages and service calls.

use proptest::prelude::*;
use serde_json::Value;

use super::*;

/// The pinned wire messages, as the Python SDK's tests load them.
const SNAPSHOTS: &[&str] = &[
    include_str!("../../protocol_snapshots/cleanup_request.json"),
    include_str!("../../protocol_snapshots/cleanup_response.json"),
    include_str!("../../protocol_snapshots/handle_event_decline.json"),
    include_str!("../../protocol_snapshots/handle_event_error.json"),
    include_str!("../../protocol_snapshots/handle_event_request.json"),
    include_str!("../../protocol_snapshots/handle_event_response.json"),
    include_str!("../../protocol_snapshots/health_check_request.json"),
    include_str!("../../protocol_snapshots/health_check_response.json"),
    include_str!("../../protocol_snapshots/initialize_incompatible.json"),
    include_str!("../../protocol_snapshots/initialize_request.json"),
    include_str!("../../protocol_snapshots/initialize_response.json"),
    include_str!("../../protocol_snapshots/service_insert_one_request.json"),
    include_str!("../../protocol_snapshots/service_insert_one_response.json"),
    include_str!("../../protocol_snapshots/service_permission_denied.json"),
];

/// Every service method, and a few near misses.
const METHODS: &[&str] = &[
    method::CLOSE_CONVERSATION,
    method::STAR_CONVERSATION,
    method::CALL_PLUGIN,
    method::INSERT_ONE,
    method::FIND,
    method::FIND_ONE,
    method::UPDATE_ONE,
    method::DELETE_ONE,
    method::COUNT,
    method::LLM_GENERATE,
    method::STOP_PLAYBACK,
    method::INITIALIZE,
    method::HANDLE_EVENT,
    "db.find ",
    "DB.FIND",
    "",
];

/// Any JSON value, a few levels deep. Numbers are integers and short binary fractions, which
/// read back exactly (serde_json, without `float_roundtrip`, may read a long decimal one bit
/// off, and the round trips below compare exactly).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (any::<i16>(), 0..4)
            .prop_map(|(mantissa, shift)| Value::from(f64::from(mantissa) / f64::from(1 << shift))),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((".{0,10}", inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = JsonMap> {
    prop::collection::vec(("[a-z_.]{1,10}", json_value()), 0..4)
        .prop_map(|pairs| pairs.into_iter().collect())
}

/// One change to a message: a value replaced, a key dropped or added, somewhere inside.
#[derive(Clone, Debug)]
enum Mutation {
    Replace(prop::sample::Index, Value),
    Drop(prop::sample::Index),
    Add(prop::sample::Index, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let path = any::<prop::sample::Index>();
    prop_oneof![
        (path.clone(), json_value()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        path.clone().prop_map(Mutation::Drop),
        (
            path,
            prop::sample::select(vec![
                "jsonrpc",
                "id",
                "method",
                "params",
                "result",
                "error",
                "context_id",
                "extra",
            ])
            .prop_map(str::to_owned),
            json_value()
        )
            .prop_map(|(at, key, value)| Mutation::Add(at, key, value)),
    ]
}

/// Every value inside `value`, as JSON pointers, the root first.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(value, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                pointers(value, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn mutate(mut message: Value, mutations: &[Mutation]) -> Value {
    for mutation in mutations {
        let mut all = Vec::new();
        pointers(&message, String::new(), &mut all);
        match mutation {
            Mutation::Replace(at, value) => {
                if let Some(target) = message.pointer_mut(&all[at.index(all.len())]) {
                    *target = value.clone();
                }
            }
            Mutation::Drop(at) => {
                let pointer = &all[at.index(all.len())];
                if let Some((parent, key)) = pointer.rsplit_once('/') {
                    let key = key.replace("~1", "/").replace("~0", "~");
                    match message.pointer_mut(parent) {
                        Some(Value::Object(fields)) => {
                            fields.remove(&key);
                        }
                        Some(Value::Array(items)) => {
                            if let Ok(i) = key.parse::<usize>() {
                                items.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Add(at, key, value) => {
                if let Some(Value::Object(fields)) = message.pointer_mut(&all[at.index(all.len())])
                {
                    fields.insert(key.clone(), value.clone());
                }
            }
        }
    }
    message
}

/// Reads a line as the host reads a plugin's (and the SDK the host's), down to the typed
/// params and results; checks that refusals are the JSON-RPC errors the protocol names.
fn read_everything(line: &str) -> Result<(), TestCaseError> {
    let Ok(message) = Message::parse(line) else {
        return Ok(());
    };
    match message {
        Message::Request(request) => {
            if let Err(error) = ServiceRequest::decode(&request) {
                prop_assert!(
                    [code::METHOD_NOT_FOUND, code::INVALID_PARAMS].contains(&error.code),
                    "{:?}",
                    error
                );
            }
            let params = request.params;
            let _ = serde_json::from_value::<InitializeParams>(params.clone());
            let _ = serde_json::from_value::<HandleEventParams>(params);
        }
        Message::Response(response) => {
            if let Ok(result) = response.into_result() {
                let _ = serde_json::from_value::<InitializeResult>(result.clone());
                let _ = serde_json::from_value::<HandleEventResult>(result.clone());
                let _ = serde_json::from_value::<HealthCheckResult>(result);
            }
        }
    }
    Ok(())
}

/// A typed service call and the params it is written with.
fn service_call() -> impl Strategy<Value = (&'static str, ServiceCall)> {
    let text = || ".{0,12}";
    let reason = prop::sample::select(vec![
        CloseReason::UserRequested,
        CloseReason::PluginRequested,
        CloseReason::ButtonClose,
    ]);
    let query = || {
        (text(), json_object()).prop_map(|(collection, filter)| QueryParams { collection, filter })
    };
    prop_oneof![
        (text(), reason).prop_map(|(session_id, reason)| (
            method::CLOSE_CONVERSATION,
            ServiceCall::CloseConversation(CloseConversationParams { session_id, reason })
        )),
        text().prop_map(|session_id| (
            method::STAR_CONVERSATION,
            ServiceCall::StarConversation(SessionParams { session_id })
        )),
        (text(), text(), json_object(), prop::option::of(text())).prop_map(
            |(plugin_id, action, data, user_id)| (
                method::CALL_PLUGIN,
                ServiceCall::CallPlugin(CallPluginParams {
                    plugin_id,
                    action,
                    data,
                    user_id
                })
            )
        ),
        (text(), json_object()).prop_map(|(collection, document)| (
            method::INSERT_ONE,
            ServiceCall::InsertOne(InsertOneParams {
                collection,
                document
            })
        )),
        query().prop_map(|q| (method::FIND, ServiceCall::Find(q))),
        query().prop_map(|q| (method::FIND_ONE, ServiceCall::FindOne(q))),
        query().prop_map(|q| (method::DELETE_ONE, ServiceCall::DeleteOne(q))),
        query().prop_map(|q| (method::COUNT, ServiceCall::Count(q))),
        (text(), json_object(), json_object()).prop_map(|(collection, filter, update)| (
            method::UPDATE_ONE,
            ServiceCall::UpdateOne(UpdateOneParams {
                collection,
                filter,
                update
            })
        )),
        text().prop_map(|prompt| (
            method::LLM_GENERATE,
            ServiceCall::LlmGenerate(GenerateParams { prompt })
        )),
        (text(), prop::option::of(text())).prop_map(|(client_id, user_id)| (
            method::STOP_PLAYBACK,
            ServiceCall::StopPlayback(StopPlaybackParams { client_id, user_id })
        )),
        (
            text(),
            prop::option::of(text()),
            prop::option::of(1u32..=50)
        )
            .prop_map(|(query, kind, limit)| (
                method::SEARCH,
                ServiceCall::Search(SearchParams {
                    query,
                    kind,
                    limit,
                    ..SearchParams::default()
                })
            )),
    ]
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
    value.expect("params serialize")
}

/// Any request or response. An error's `data: null` is left out: it reads back as no data,
/// which is what it means.
fn message() -> impl Strategy<Value = Message> {
    let error = (any::<i64>(), ".{0,20}", prop::option::of(json_value())).prop_map(
        |(code, message, data)| RpcError {
            code,
            message,
            data: data.filter(|data| !data.is_null()),
        },
    );
    prop_oneof![
        (
            any::<u64>(),
            prop_oneof![
                prop::sample::select(METHODS).prop_map(str::to_owned),
                ".{0,20}"
            ],
            json_value()
        )
            .prop_map(|(id, method, params)| Message::Request(Request {
                jsonrpc: JsonRpc2,
                id,
                method,
                params,
            })),
        (
            any::<u64>(),
            prop::option::of(json_value()),
            prop::option::of(error)
        )
            .prop_map(|(id, result, error)| Message::Response(Response {
                jsonrpc: JsonRpc2,
                id,
                result,
                error,
            })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any bytes on a line, read as the host reads a plugin's stdout (lossy UTF-8, trailing
    /// whitespace trimmed), are a message or an error.
    #[test]
    fn any_line_is_a_message_or_an_error(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            ".{0,200}".prop_map(String::into_bytes),
            json_value().prop_map(|value| value.to_string().into_bytes()),
        ],
    ) {
        let text = String::from_utf8_lossy(&bytes);
        read_everything(text.trim_end())?;
    }

    /// The pinned messages with values of the wrong type, keys missing and keys added are
    /// read down to their typed params and results, or refused.
    #[test]
    fn mutated_snapshots_are_read_or_refused(
        which in 0..SNAPSHOTS.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let snapshot: Value = serde_json::from_str(SNAPSHOTS[which]).expect("a snapshot");
        let mutated = mutate(snapshot, &mutations);
        read_everything(&mutated.to_string())?;
    }

    /// Encode → decode is the identity for any request and response.
    #[test]
    fn messages_read_back_as_written(message in message()) {
        let line = message.to_line();
        prop_assert!(!line.contains('\n'), "one message, one line: {}", line);
        prop_assert_eq!(Message::parse(&line).map_err(TestCaseError::fail)?, message);
    }

    /// A service call written as a plugin writes it (params plus an optional `context_id`)
    /// decodes to the same call.
    #[test]
    fn service_calls_read_back_as_written(
        (method, call) in service_call(),
        context_id in prop::option::of(".{0,8}"),
        id in any::<u64>(),
    ) {
        let mut params = params_of(&call);
        if let (Some(context_id), Value::Object(fields)) = (&context_id, &mut params) {
            fields.insert("context_id".into(), Value::from(context_id.as_str()));
        }
        let request = Request { jsonrpc: JsonRpc2, id, method: method.to_owned(), params };
        let decoded = ServiceRequest::decode(&request).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded, ServiceRequest { context_id, call });
    }

    /// Params of any shape for any method are a call or the error to answer with: an unknown
    /// method is "method not found" (when the params are an object or null), anything else
    /// that does not fit is "invalid params".
    #[test]
    fn service_params_of_any_shape_decode_or_are_refused(
        method in prop_oneof![prop::sample::select(METHODS).prop_map(str::to_owned), ".{0,20}"],
        params in prop_oneof![
            json_value(),
            json_object().prop_map(Value::Object),
            (service_call(), prop::collection::vec(mutation(), 1..3))
                .prop_map(|((_, call), mutations)| mutate(params_of(&call), &mutations)),
        ],
    ) {
        let known = METHODS[..11].contains(&method.as_str()); // the service methods
        let request = Request { jsonrpc: JsonRpc2, id: 1, method, params: params.clone() };
        match ServiceRequest::decode(&request) {
            Ok(_) => prop_assert!(known),
            Err(error) if !matches!(params, Value::Object(_) | Value::Null) => {
                prop_assert_eq!(error.code, code::INVALID_PARAMS);
            }
            Err(error) => prop_assert_eq!(
                error.code,
                if known { code::INVALID_PARAMS } else { code::METHOD_NOT_FOUND }
            ),
        }
    }

    /// Version checks take any text: compatible exactly when both are `MAJOR.MINOR` numbers
    /// with the same major, so the check is symmetric.
    #[test]
    fn version_checks_take_any_text(
        ours in prop_oneof!["[0-9]{1,3}\\.[0-9]{1,3}", ".{0,8}", Just(PROTOCOL_VERSION.to_owned())],
        theirs in prop_oneof!["[0-9]{1,3}\\.[0-9]{1,3}", "[0-9]\\.[0-9]\\.[0-9]", ".{0,8}", Just("1.0".to_owned())],
    ) {
        prop_assert_eq!(is_compatible(&ours, &theirs), is_compatible(&theirs, &ours));
        if is_compatible(&ours, &theirs) {
            prop_assert!(is_compatible(&ours, &ours));
            let major = |v: &str| v.split('.').next().and_then(|m| m.parse::<u32>().ok());
            prop_assert_eq!(major(&ours), major(&theirs));
        }
    }
}

/// The snapshots themselves read back as written (a fixed point for the mutations above).
#[test]
fn every_snapshot_is_read_back_as_written() {
    for snapshot in SNAPSHOTS {
        let value: Value = serde_json::from_str(snapshot).expect("a snapshot");
        let message = Message::parse(&value.to_string()).expect("a message");
        let line: Value = serde_json::from_str(&message.to_line()).expect("JSON");
        assert_eq!(line, value);
    }
}
