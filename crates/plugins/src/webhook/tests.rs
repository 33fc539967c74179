//! The webhook plugin against real receivers on 127.0.0.1: the Standard Webhooks reference
//! library (Python `standardwebhooks`, in a virtualenv under `target/test-python`) verifying
//! what we sign, scripted Rust servers for 410 and 500, and the durable queue's retries.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chronicle_host_ports::DocumentStore;
use chronicle_host_ports::delivery::{DeliveryFilter, DeliveryQueue, DeliveryStatus, NewEvent};
use chronicle_plugin_api::{Event, JsonMap};
use chronicle_plugin_host::delivery::{DeliverySettings, Dispatcher};
use chronicle_plugin_host::{Backends, HostConfig, MemoryDocuments, PluginHost, Status};
use serde_json::{Value, json};

use super::{DESCRIPTOR, DISABLED_COLLECTION, PARTIAL_COLLECTION};
use crate::testing::{
    Harness, PythonServer, assert_plugin_compliance, closed_port, read_journal, result_of,
    shipped_plugins_dir,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another valid secret (base64 of "a different secret").
const OTHER_SECRET: &str = "whsec_YSBkaWZmZXJlbnQgc2VjcmV0";

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&DESCRIPTOR, "database").await;
}

#[tokio::test]
async fn the_reference_library_verifies_what_we_sign_and_each_endpoint_gets_its_fields() {
    let receiver = Receiver::start(&[("/all", SECRET), ("/titles", OTHER_SECRET)]);
    let harness = Harness::new(
        &format!(
            "plugins:
  webhook:
    enabled: true
    events: [conversation.complete]
    permissions: [database]
    endpoints:
      - name: everything
        url: {}
        secret: \"{SECRET}\"
      - name: titles
        url: {}
        secret: \"{OTHER_SECRET}\"
        fields: [data.conversation_id, data.conversation.title, data.not_in_this_event]
",
            receiver.url("/all"),
            receiver.url("/titles")
        ),
        None,
    )
    .await;
    let data = json!({
        "conversation_id": "c9",
        "transcript": "I need to buy milk.",
        "duration": 12.5,
        "conversation": {"title": "Groceries", "summary": "Milk is needed.", "transcript": "I need to buy milk."},
    });
    let record = harness
        .dispatch(Event::ConversationComplete, data.clone())
        .await;
    let result = result_of(&record, "webhook");
    assert!(result.success, "{result:?}");
    assert_eq!(result.message.as_deref(), Some("Delivered to 2 endpoints"));
    let webhook_id = result.data["webhook_id"]
        .as_str()
        .expect("webhook_id")
        .to_owned();
    assert!(webhook_id.ends_with(":webhook"), "{webhook_id}");

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for request in &requests {
        assert_eq!(
            request["verified"], true,
            "the library refused: {request:#?}"
        );
        assert_eq!(request["headers"]["webhook-id"], webhook_id.as_str());
        assert_eq!(request["headers"]["content-type"], "application/json");
    }
    let everything = body_of(&requests, "/all");
    assert_eq!(everything["type"], "conversation.complete");
    assert_eq!(everything["user_id"], "u1");
    assert_eq!(everything["data"], data);
    assert_eq!(everything["metadata"], json!({}));
    let timestamp = everything["timestamp"].as_str().expect("timestamp");
    assert!(
        timestamp.len() == 24 && timestamp.ends_with('Z'),
        "{timestamp}"
    );

    let titles = body_of(&requests, "/titles");
    assert_eq!(
        titles,
        json!({
            "type": "conversation.complete",
            "timestamp": timestamp,
            "data": {"conversation_id": "c9", "conversation": {"title": "Groceries"}},
        })
    );
    // Nothing to remember after a delivery that reached everyone.
    assert!(
        harness
            .documents("webhook", PARTIAL_COLLECTION)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_library_and_the_delivery_fails() {
    let receiver = Receiver::start(&[("/strict", SECRET)]);
    let harness = Harness::new(
        &format!(
            "plugins:
  webhook:
    enabled: true
    events: [conversation.complete]
    permissions: [database]
    endpoints:
      - name: strict receiver
        url: {}
        secret: \"{OTHER_SECRET}\"
",
            receiver.url("/strict")
        ),
        None,
    )
    .await;
    let record = harness
        .dispatch(
            Event::ConversationComplete,
            json!({"conversation_id": "c1"}),
        )
        .await;
    let outcome = record.outcome("webhook").expect("subscribed");
    assert_eq!(outcome.status, Status::Failed, "{outcome:?}");
    let reason = outcome.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("not delivered to strict receiver (answered 400)"),
        "{reason}"
    );
    assert!(
        reason.contains("retried with the same webhook-id"),
        "{reason}"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["verified"], false);
    assert!(
        requests[0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("No matching signature")),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_a_restarted_host_still_skips_it() {
    let gone = Scripted::start(|_| 410).await;
    let fine = Scripted::start(|_| 204).await;
    let yml = format!(
        "plugins:
  webhook:
    enabled: true
    events: [conversation.complete]
    permissions: [database]
    endpoints:
      - name: old receiver
        url: {}/hook
        secret: \"{SECRET}\"
      - url: {}/hook?token=abc
        secret: \"{SECRET}\"
",
        gone.base, fine.base
    );
    let documents: Arc<dyn DocumentStore> = Arc::new(MemoryDocuments::default());
    let (host, _dir) = host_over(&yml, Arc::clone(&documents)).await;
    let first = dispatch(&host, json!({"conversation_id": "c1"})).await;
    let result = result_of(&first, "webhook");
    assert_eq!(
        result.message.as_deref(),
        Some("Delivered to 1 endpoint; 1 answered 410 Gone and is now disabled")
    );
    assert_eq!(result.data["gone"], json!(["old receiver"]));
    let disabled = documents
        .find("webhook", DISABLED_COLLECTION, &JsonMap::new(), None)
        .await
        .expect("find");
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["url"], format!("{}/hook", gone.base));
    assert_eq!(disabled[0]["status"], 410);
    host.shutdown().await;

    // A new host over the same store: the endpoint stays disabled.
    let (host, _dir) = host_over(&yml, documents).await;
    let second = dispatch(&host, json!({"conversation_id": "c2"})).await;
    let result = result_of(&second, "webhook");
    assert_eq!(
        result.message.as_deref(),
        Some("Delivered to 1 endpoint; 1 skipped: disabled after 410 Gone")
    );
    assert_eq!(result.data["disabled"], json!(["old receiver"]));
    assert_eq!(gone.requests().len(), 1, "a disabled endpoint gets nothing");
    assert_eq!(fine.requests().len(), 2);
    // An endpoint without a name is shown without its query string.
    assert_eq!(
        result.data["delivered"],
        json!([format!("{}/hook", fine.base)])
    );
}

#[tokio::test]
async fn a_failed_endpoint_is_retried_by_the_durable_queue_without_resending_to_the_others() {
    let steady = Scripted::start(|_| 204).await;
    let flaky = Scripted::start(|n| if n == 0 { 500 } else { 204 }).await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let store = chronicle_store::Store::open(data_dir.path())
        .await
        .expect("store");
    let yml = format!(
        "plugins:
  webhook:
    enabled: true
    events: [conversation.complete]
    permissions: [database]
    max_retries: 3
    endpoints:
      - name: steady
        url: {}/in
        secret: \"{SECRET}\"
      - name: flaky
        url: {}/in
        secret: \"{SECRET}\"
",
        steady.base, flaky.base
    );
    let (host, _dir) = host_over(&yml, Arc::new(store.clone())).await;
    let settings = DeliverySettings {
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        poll: Duration::from_millis(20),
        ..DeliverySettings::default()
    };
    let hosts = host.clone();
    let dispatcher = Dispatcher::start(
        Arc::new(store.clone()),
        Arc::new(move || hosts.clone()),
        settings,
    )
    .await
    .expect("dispatcher");

    let user = store
        .create_user("ana@example.com", "h", false)
        .await
        .expect("user")
        .id;
    let conversation = store
        .create_conversation(chronicle_store::NewConversation {
            user_id: user.clone(),
            client_id: "abc123-pendant".into(),
            session_id: None,
            title: "t".into(),
            audio_path: None,
        })
        .await
        .expect("conversation")
        .conversation_id;
    let event = NewEvent {
        event: Event::ConversationComplete,
        user_id: user,
        conversation_id: Some(conversation.clone()),
        data: crate::support::into_object(
            json!({"conversation_id": conversation, "transcript": "hi"}),
        ),
        metadata: crate::support::into_object(json!({"end_reason": "user_stopped"})),
    };
    store
        .announce_completion(&conversation, None, event)
        .await
        .expect("announce");
    dispatcher.wake();

    let mut row = None;
    for _ in 0..500 {
        let rows = store
            .list(&DeliveryFilter {
                limit: 100,
                ..DeliveryFilter::default()
            })
            .await
            .expect("list");
        row = rows.into_iter().find(|row| row.plugin_id == "webhook");
        if row
            .as_ref()
            .is_some_and(|row| row.status == DeliveryStatus::Succeeded)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dispatcher.shutdown(Duration::from_secs(5)).await;
    let row = row.expect("a delivery to webhook");
    assert_eq!(row.status, DeliveryStatus::Succeeded, "{row:?}");
    assert_eq!(row.attempt, 2, "one failure, one retry: {row:?}");

    assert_eq!(
        steady.requests().len(),
        1,
        "the retry skipped the endpoint that had it"
    );
    let flaky_requests = flaky.requests();
    assert_eq!(flaky_requests.len(), 2);
    for request in steady.requests().iter().chain(&flaky_requests) {
        assert_eq!(
            request.header("webhook-id"),
            row.idempotency_key,
            "stable across retries"
        );
        assert!(request.header("webhook-signature").starts_with("v1,"));
    }
    let without_time = |request: &Received| {
        let mut body: Value = serde_json::from_str(&request.body).expect("json");
        body["timestamp"] = Value::Null;
        body
    };
    assert_eq!(
        without_time(&flaky_requests[0]),
        without_time(&flaky_requests[1]),
        "the retry sends the same event"
    );
    assert_eq!(
        without_time(&flaky_requests[1])["metadata"]["end_reason"],
        "user_stopped"
    );
    // The record of the partial delivery is gone once everyone has it.
    let partial = store
        .find("webhook", PARTIAL_COLLECTION, &JsonMap::new(), None)
        .await
        .expect("find");
    assert!(partial.is_empty(), "{partial:?}");
}

#[tokio::test]
async fn the_connection_test_reports_each_endpoint_with_a_fix() {
    let receiver = Receiver::start(&[("/hook", SECRET), ("/strict", SECRET)]);
    let refused_port = closed_port();
    let settings = crate::support::into_object(json!({
        "endpoints": [
            {"name": "receiver", "url": receiver.url("/hook"), "secret": SECRET},
            {"name": "nobody", "url": format!("http://127.0.0.1:{refused_port}/hook"), "secret": SECRET},
            {"name": "wrong secret", "url": receiver.url("/strict"), "secret": OTHER_SECRET},
        ],
        "timeout_seconds": 5,
    }));
    let plugin = (DESCRIPTOR.build)(&settings).expect("build");
    plugin.initialize().await.expect("initialize");
    assert!(plugin.health_check().await.ok);

    let report = plugin.test_connection().await;
    assert!(!report.ok);
    let [reached, refused, wrong] = &report.checks[..] else {
        panic!("one check per endpoint: {report:#?}")
    };
    assert!(reached.ok, "{reached:?}");
    assert_eq!(reached.name, "POST receiver");
    assert!(
        reached.detail.starts_with("answered 204 in "),
        "{reached:?}"
    );

    assert!(!refused.ok);
    assert_eq!(refused.name, "POST nobody");
    let fix = refused.fix.as_deref().unwrap_or_default();
    assert!(
        fix.contains("is the receiver running")
            && fix.contains(&format!("127.0.0.1:{refused_port}/hook")),
        "{refused:?}"
    );

    assert!(!wrong.ok);
    assert!(wrong.detail.starts_with("answered 400"), "{wrong:?}");
    assert!(
        wrong
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains("endpoints[2].secret")),
        "{wrong:?}"
    );

    let requests = receiver.requests();
    let test = requests
        .iter()
        .find(|request| request["path"] == "/hook")
        .expect("the test message arrived");
    assert_eq!(test["verified"], true, "{test:#?}");
    let body: Value = serde_json::from_str(test["body"].as_str().expect("body")).expect("json");
    assert_eq!(body["type"], "webhook.test");
}

#[tokio::test]
async fn without_endpoints_it_loads_declines_and_says_what_to_add() {
    let harness = Harness::new(
        "plugins:\n  webhook:\n    enabled: true\n    events: [conversation.complete]\n    permissions: [database]\n",
        None,
    )
    .await;
    let record = harness
        .dispatch(
            Event::ConversationComplete,
            json!({"conversation_id": "c1"}),
        )
        .await;
    assert_eq!(
        record.outcome("webhook").expect("subscribed").status,
        Status::Declined
    );
    let plugin = (DESCRIPTOR.build)(&JsonMap::new()).expect("build");
    let health = plugin.health_check().await;
    assert!(
        !health.ok && health.message.contains("under `endpoints:`"),
        "{health:?}"
    );
    let report = plugin.test_connection().await;
    assert!(!report.ok && report.checks[0].fix.is_some(), "{report:?}");
}

#[tokio::test]
async fn without_the_database_permission_the_error_says_to_grant_it() {
    let fine = Scripted::start(|_| 204).await;
    let harness = Harness::new(
        &format!(
            "plugins:\n  webhook:\n    enabled: true\n    events: [conversation.complete]\n    permissions: []\n    endpoints:\n      - url: {}/in\n        secret: \"{SECRET}\"\n",
            fine.base
        ),
        None,
    )
    .await;
    let record = harness
        .dispatch(Event::ConversationComplete, json!({}))
        .await;
    let outcome = record.outcome("webhook").expect("subscribed");
    assert_eq!(outcome.status, Status::Failed);
    assert!(
        outcome
            .reason
            .as_deref()
            .is_some_and(|reason| reason.contains("add `database`")),
        "{outcome:?}"
    );
}

// --- Helpers -------------------------------------------------------------------------------

/// The body `requests` (receiver journal lines) got at `path`, parsed.
#[track_caller]
fn body_of(requests: &[Value], path: &str) -> Value {
    let request = requests
        .iter()
        .find(|request| request["path"] == path)
        .unwrap_or_else(|| panic!("nothing arrived at {path}: {requests:#?}"));
    serde_json::from_str(request["body"].as_str().expect("body")).expect("a JSON body")
}

/// A host over `documents` running `plugins_yml`, initialized, with its config folder.
async fn host_over(
    plugins_yml: &str,
    documents: Arc<dyn DocumentStore>,
) -> (PluginHost, tempfile::TempDir) {
    let config_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(config_dir.path().join("plugins.yml"), plugins_yml).expect("write");
    let config = HostConfig {
        config_dir: config_dir.path().to_owned(),
        plugins_dir: shipped_plugins_dir(),
        env_file: None,
        process: Default::default(),
    };
    let backends = Backends {
        documents,
        ..Backends::in_memory()
    };
    let loaded = PluginHost::load(&config, crate::REGISTRY, backends)
        .unwrap_or_else(|errors| panic!("config refused:\n{errors}"));
    loaded.host.initialize().await;
    (loaded.host, config_dir)
}

async fn dispatch(host: &PluginHost, data: Value) -> Arc<chronicle_plugin_host::DispatchRecord> {
    host.dispatch(chronicle_plugin_host::DispatchRequest::new(
        Event::ConversationComplete,
        "u1",
        crate::support::into_object(data),
    ))
    .await
}

/// A request a [`Scripted`] server received.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    #[track_caller]
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("no {name} header: {self:?}"))
    }
}

/// An HTTP server on 127.0.0.1 answering the `n`th request (from 0) with `status(n)` and
/// recording each; it stops when dropped.
struct Scripted {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Scripted {
    async fn start(status: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let recorded = Arc::clone(&received);
        let status = Arc::new(status);
        let app = axum::Router::new().fallback(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let recorded = Arc::clone(&recorded);
                let status = Arc::clone(&status);
                async move {
                    let mut requests = recorded.lock().expect("lock");
                    let n = requests.len();
                    requests.push(Received {
                        headers: headers
                            .iter()
                            .map(|(key, value)| {
                                (key.to_string(), value.to_str().unwrap_or("").to_owned())
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    axum::http::StatusCode::from_u16(status(n)).expect("a status")
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            received,
            task,
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `receiver.py` under the reference library: verifies each request with the secret of its
/// path and journals it.
struct Receiver {
    server: PythonServer,
    journal: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    fn start(secrets: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("journal.jsonl");
        let secrets: serde_json::Map<String, Value> = secrets
            .iter()
            .map(|(path, secret)| ((*path).to_owned(), Value::from(*secret)))
            .collect();
        let server = PythonServer::start(
            "src/webhook/receiver.py",
            &[
                journal.as_os_str(),
                Value::Object(secrets).to_string().as_ref(),
            ],
        );
        Self {
            server,
            journal,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.server.port)
    }

    /// Every request received so far, as journalled.
    fn requests(&self) -> Vec<Value> {
        read_journal(&self.journal)
    }
}
