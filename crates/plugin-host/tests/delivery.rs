//! Durable delivery against the real SQLite queue: chains in order with stable keys, retries
//! with the first metadata, dead letters and their replay, later events held behind an
//! unsettled delivery, a chain resumed at the plugin in flight after its runtime died, and a
//! slow user that does not starve another.
//!
//! Delays are shortened (base 20 ms) so the tests run in seconds; `retry_delay` has its own
//! unit test with the real base and cap.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chronicle_host_ports::delivery::{
    DeliveryFilter, DeliveryQueue, DeliveryRow, DeliveryStatus, NewEvent, ReplayTarget,
};
use chronicle_plugin_api::Event;
use chronicle_plugin_host::PluginHost;
use chronicle_plugin_host::delivery::{DeliverySettings, Dispatcher};
use chronicle_store::{NewConversation, Store};
use common::{Project, object};
use serde_json::{Value, json};

fn fast() -> DeliverySettings {
    DeliverySettings {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        unavailable_wait: Duration::from_millis(50),
        poll: Duration::from_millis(20),
        ..DeliverySettings::default()
    }
}

/// A project whose plugins `ids` take `conversation.complete`, each writing to one journal.
struct Setup {
    project: Project,
    store: Store,
    journal: PathBuf,
    _data: tempfile::TempDir,
}

impl Setup {
    /// `extra` is added to every plugin's entry (YAML lines, indented by 4).
    async fn new(ids: &[&str], extra: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let journal = data.path().join("journal.jsonl");
        let project = Project::new(&plugins_yml(ids, &journal, extra));
        let store = Store::open(data.path()).await.unwrap();
        Self {
            project,
            store,
            journal,
            _data: data,
        }
    }

    async fn start(&self, settings: DeliverySettings) -> (PluginHost, Dispatcher) {
        let host = self.project.host().await;
        let dispatcher = start(&self.store, &host, settings).await;
        (host, dispatcher)
    }

    async fn user(&self, email: &str) -> String {
        self.store.create_user(email, "h", false).await.unwrap().id
    }

    async fn conversation(&self, user: &str) -> String {
        new_conversation(&self.store, user).await
    }

    /// Queues a `conversation.complete` for `conversation` with `data` (and its id).
    async fn announce(&self, user: &str, conversation: &str, data: Value) {
        announce(&self.store, user, conversation, data).await;
    }

    fn journal(&self) -> Vec<Value> {
        read_journal(&self.journal)
    }

    /// The journal lines of `plugin`.
    fn calls(&self, plugin: &str) -> Vec<Value> {
        self.journal()
            .into_iter()
            .filter(|line| line["plugin"] == plugin)
            .collect()
    }

    async fn deliveries(&self) -> Vec<DeliveryRow> {
        let filter = DeliveryFilter {
            limit: 10_000,
            ..DeliveryFilter::default()
        };
        self.store.list(&filter).await.unwrap()
    }

    async fn delivery_of(&self, plugin: &str) -> DeliveryRow {
        self.deliveries()
            .await
            .into_iter()
            .find(|row| row.plugin_id == plugin)
            .unwrap_or_else(|| panic!("no delivery to {plugin}"))
    }

    /// Waits (bounded) until `plugin`'s only delivery has `status`.
    async fn until_status(&self, plugin: &str, status: DeliveryStatus) -> DeliveryRow {
        for _ in 0..1000 {
            let rows = self.deliveries().await;
            if let Some(row) = rows
                .iter()
                .find(|row| row.plugin_id == plugin && row.status == status)
            {
                return row.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{plugin}'s delivery never became {status}: {:?}",
            self.deliveries().await
        );
    }
}

fn plugins_yml(ids: &[&str], journal: &Path, extra: &str) -> String {
    let plugins: Vec<_> = ids.iter().map(|id| (*id, extra)).collect();
    plugins_yml_each(&plugins, journal)
}

/// Like [`plugins_yml`], with each plugin's own extra lines.
fn plugins_yml_each(plugins: &[(&str, &str)], journal: &Path) -> String {
    let mut yml = String::from("plugins:\n");
    for (id, extra) in plugins {
        yml.push_str(&format!(
            "  {id}:\n    enabled: true\n    events: [conversation.complete]\n    \
             record_in_metadata: true\n    journal: {}\n{extra}",
            journal.display()
        ));
    }
    yml
}

async fn new_conversation(store: &Store, user: &str) -> String {
    store
        .create_conversation(NewConversation {
            user_id: user.into(),
            client_id: "abc123-pendant".into(),
            session_id: None,
            title: "t".into(),
            audio_path: None,
        })
        .await
        .unwrap()
        .conversation_id
}

/// Queues a `conversation.complete` for `conversation` with `data` (and its id), as the
/// pipeline does when it announces one.
async fn announce(store: &Store, user: &str, conversation: &str, data: Value) {
    let mut data = object(data);
    data.insert("conversation_id".into(), json!(conversation));
    let event = NewEvent {
        event: Event::ConversationComplete,
        user_id: user.into(),
        conversation_id: Some(conversation.into()),
        data,
        metadata: object(json!({"end_reason": "user_stopped"})),
    };
    store
        .announce_completion(conversation, None, event)
        .await
        .unwrap();
}

fn read_journal(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn start(store: &Store, host: &PluginHost, settings: DeliverySettings) -> Dispatcher {
    let host = host.clone();
    Dispatcher::start(
        Arc::new(store.clone()),
        Arc::new(move || host.clone()),
        settings,
    )
    .await
    .unwrap()
}

async fn settle(dispatcher: &Dispatcher) {
    assert!(
        dispatcher.settle(Duration::from_secs(30)).await,
        "the queue did not settle"
    );
}

#[tokio::test]
async fn each_event_reaches_each_plugin_once_in_order_with_a_stable_key_and_the_chain_metadata() {
    let setup = Setup::new(&["a", "b", "c"], "").await;
    let (_host, dispatcher) = setup.start(fast()).await;
    let mut produced = Vec::new();
    for email in ["ana@example.com", "bo@example.com"] {
        let user = setup.user(email).await;
        for _ in 0..3 {
            let conversation = setup.conversation(&user).await;
            for n in 0..4 {
                setup.announce(&user, &conversation, json!({"n": n})).await;
                produced.push((conversation.clone(), n));
            }
        }
    }
    settle(&dispatcher).await;

    let rows = setup.deliveries().await;
    assert_eq!(rows.len(), produced.len() * 3);
    assert!(
        rows.iter()
            .all(|row| row.status == DeliveryStatus::Succeeded && row.attempt == 1),
        "{rows:?}"
    );
    for plugin in ["a", "b", "c"] {
        let calls = setup.calls(plugin);
        assert_eq!(calls.len(), produced.len(), "{plugin} saw each event once");
        let mut keys: Vec<_> = calls.iter().map(|c| c["key"].to_string()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), produced.len());
        // Per conversation, the events came in the order they were produced.
        for (conversation, _) in &produced {
            let order: Vec<_> = calls
                .iter()
                .filter(|c| c["data"]["conversation_id"] == conversation.as_str())
                .map(|c| c["data"]["n"].as_i64().unwrap())
                .collect();
            assert_eq!(order, [0, 1, 2, 3], "{plugin} in {conversation}");
        }
    }
    // Metadata flows along the chain: c saw what a and b wrote, and the initial metadata.
    for call in setup.calls("c") {
        assert_eq!(call["metadata"]["seen"], json!(["a", "b"]));
        assert_eq!(call["metadata"]["end_reason"], "user_stopped");
        assert!(
            call["key"].as_str().unwrap().ends_with(":c"),
            "the key is event_id:plugin_id"
        );
    }
}

#[tokio::test]
async fn a_plugin_that_fails_twice_succeeds_on_attempt_three_with_the_metadata_it_first_saw() {
    let setup = Setup::new(&["a", "b"], "    fail_until_attempt: 3\n").await;
    let (_host, _dispatcher) = setup.start(fast()).await;
    let user = setup.user("ana@example.com").await;
    let conversation = setup.conversation(&user).await;
    setup
        .announce(&user, &conversation, json!({"flaky": true}))
        .await;

    // The setting is on both plugins: each fails until its attempt 3.
    let a = setup.until_status("a", DeliveryStatus::Succeeded).await;
    let b = setup.until_status("b", DeliveryStatus::Succeeded).await;
    assert_eq!((a.attempt, b.attempt), (3, 3));
    let calls = setup.calls("a");
    let attempts: Vec<_> = calls
        .iter()
        .map(|c| c["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(calls.iter().all(|c| c["key"] == calls[0]["key"]));
    // b's retries see the metadata b saw the first time (after a's first attempt), even
    // though a's later attempts ran on their own.
    let b_calls = setup.calls("b");
    assert_eq!(b_calls.len(), 3);
    assert!(
        b_calls
            .iter()
            .all(|c| c["metadata"] == b_calls[0]["metadata"])
    );
    // The chain went on: b's first attempt came before a's second.
    let journal = setup.journal();
    let position = |plugin: &str, attempt: u64| {
        journal
            .iter()
            .position(|c| c["plugin"] == plugin && c["attempt"] == attempt)
            .unwrap()
    };
    assert!(position("b", 1) < position("a", 2));
}

#[tokio::test]
async fn a_plugin_that_always_fails_ends_dead_and_succeeds_when_replayed_once_fixed() {
    let marker = tempfile::NamedTempFile::new().unwrap();
    let setup = Setup::new(
        &["a"],
        &format!(
            "    max_retries: 2\n    fail_while_exists: {}\n",
            marker.path().display()
        ),
    )
    .await;
    let (_host, dispatcher) = setup.start(fast()).await;
    let user = setup.user("ana@example.com").await;
    let conversation = setup.conversation(&user).await;
    setup.announce(&user, &conversation, json!({})).await;

    let dead = setup.until_status("a", DeliveryStatus::Dead).await;
    assert_eq!(dead.attempt, 3, "one attempt and max_retries: 2 retries");
    assert!(
        dead.last_error.as_deref().unwrap().contains("a is broken"),
        "{dead:?}"
    );

    drop(marker); // the fix
    let replayed = setup
        .store
        .replay(ReplayTarget::AllDead, chronicle_store::delivery::now_ms())
        .await
        .unwrap();
    assert_eq!(replayed, [dead.id]);
    dispatcher.wake();
    let fixed = setup.until_status("a", DeliveryStatus::Succeeded).await;
    assert_eq!(fixed.attempt, 4);
    let calls = setup.calls("a");
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c["key"] == dead.idempotency_key));
}

#[tokio::test]
async fn a_later_event_of_a_conversation_waits_behind_an_earlier_one_still_failing() {
    let setup = Setup::new(&["a"], "    fail_until_attempt: 2\n").await;
    let (_host, dispatcher) = setup.start(fast()).await;
    let user = setup.user("ana@example.com").await;
    let conversation = setup.conversation(&user).await;
    let other = setup.conversation(&user).await;
    setup
        .announce(&user, &conversation, json!({"n": 1, "flaky": true}))
        .await;
    setup.announce(&user, &conversation, json!({"n": 2})).await;
    setup.announce(&user, &other, json!({"n": 3})).await;
    settle(&dispatcher).await;
    for _ in 0..500 {
        if setup.calls("a").len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let order: Vec<_> = setup
        .calls("a")
        .iter()
        .map(|c| {
            (
                c["data"]["n"].as_i64().unwrap(),
                c["attempt"].as_u64().unwrap(),
            )
        })
        .filter(|(n, _)| *n != 3)
        .collect();
    assert_eq!(
        order,
        [(1, 1), (1, 2), (2, 1)],
        "n=2 waited for n=1's retry"
    );
    // Another conversation is not held.
    let calls = setup.calls("a");
    let n3 = calls.iter().position(|c| c["data"]["n"] == 3).unwrap();
    let retry = calls
        .iter()
        .position(|c| c["data"]["n"] == 1 && c["attempt"] == 2)
        .unwrap();
    assert!(n3 < retry, "the other conversation went first");
    assert!(
        setup
            .deliveries()
            .await
            .iter()
            .all(|row| row.status == DeliveryStatus::Succeeded)
    );
}

#[test]
fn a_chain_cut_off_mid_call_resumes_at_the_plugin_in_flight() {
    let data = tempfile::tempdir().unwrap();
    let journal = data.path().join("journal.jsonl");
    // First run: b hangs on the event, and the runtime dies under it, as in a crash.
    let slow = Project::new(&plugins_yml_each(
        &[
            ("a", ""),
            ("b", "    slow_sleep: true\n    sleep_ms: 600000\n"),
            ("c", ""),
        ],
        &journal,
    ));
    let first = tokio::runtime::Runtime::new().unwrap();
    let store = first.block_on(async {
        let store = Store::open(data.path()).await.unwrap();
        let host = slow.host().await;
        let _dispatcher = start(&store, &host, fast()).await;
        let user = store
            .create_user("ana@example.com", "h", false)
            .await
            .unwrap()
            .id;
        let conversation = new_conversation(&store, &user).await;
        announce(&store, &user, &conversation, json!({"slow": true})).await;
        _dispatcher.wake();
        for _ in 0..1000 {
            if read_journal(&journal).iter().any(|c| c["plugin"] == "b") {
                return store;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("b was never called");
    });
    first.shutdown_background();

    // Second run: the same queue, b fixed.
    let fixed = Project::new(&plugins_yml(&["a", "b", "c"], &journal, ""));
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let host = fixed.host().await;
        let dispatcher = start(&store, &host, fast()).await;
        settle(&dispatcher).await;
        let calls = read_journal(&journal);
        let attempts = |plugin: &str| -> Vec<u64> {
            calls
                .iter()
                .filter(|c| c["plugin"] == plugin)
                .map(|c| c["attempt"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(attempts("a"), [1], "a had finished: not called again");
        assert_eq!(attempts("b"), [1, 2], "b was in flight: called again");
        assert_eq!(attempts("c"), [1], "c had not been reached");
        // b's second attempt saw the metadata of its first, which a had written.
        let b: Vec<_> = calls.iter().filter(|c| c["plugin"] == "b").collect();
        assert_eq!(b[0]["metadata"], b[1]["metadata"]);
        assert_eq!(b[1]["metadata"]["seen"], json!(["a"]));
        assert_eq!(b[0]["key"], b[1]["key"]);
        let filter = DeliveryFilter {
            limit: 10,
            ..DeliveryFilter::default()
        };
        let rows = store.list(&filter).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .all(|row| row.status == DeliveryStatus::Succeeded)
        );
    });
}

#[tokio::test]
async fn one_users_slow_plugin_does_not_starve_another_user() {
    let setup = Setup::new(&["a"], "    slow_sleep: true\n    sleep_ms: 200\n").await;
    let settings = DeliverySettings { lanes: 4, ..fast() };
    let (_host, dispatcher) = setup.start(settings).await;
    let slow_user = setup.user("ana@example.com").await;
    let quick_user = setup.user("bo@example.com").await;
    // The slow user's events are all queued first.
    for _ in 0..8 {
        let conversation = setup.conversation(&slow_user).await;
        setup
            .announce(&slow_user, &conversation, json!({"slow": true}))
            .await;
    }
    for _ in 0..8 {
        let conversation = setup.conversation(&quick_user).await;
        setup.announce(&quick_user, &conversation, json!({})).await;
    }
    dispatcher.wake();
    settle(&dispatcher).await;
    let calls = setup.calls("a");
    assert_eq!(calls.len(), 16);
    let last_quick = calls
        .iter()
        .rposition(|c| c["data"]["slow"].is_null())
        .unwrap();
    let slow_before = calls[..last_quick]
        .iter()
        .filter(|c| c["data"]["slow"] == true)
        .count();
    // The journal is written as a call starts. Before the quick user's events were read the
    // slow user could take all four lanes; from then on it holds at most two, so the quick
    // user is done while the slow user still has events that have not started.
    assert!(
        slow_before <= 6,
        "the quick user waited behind {slow_before} slow events"
    );
}

#[tokio::test]
async fn a_delivery_whose_plugin_left_the_configuration_ends_dead_and_says_why() {
    let setup = Setup::new(&["a"], "    fail_until_attempt: 2\n").await;
    let (_host, dispatcher) = setup.start(fast()).await;
    let user = setup.user("ana@example.com").await;
    let conversation = setup.conversation(&user).await;
    setup
        .announce(&user, &conversation, json!({"flaky": true}))
        .await;
    // Stop before the retry, then come back with a configuration without `a`.
    setup.until_status("a", DeliveryStatus::Failed).await;
    dispatcher.shutdown(Duration::from_secs(5)).await;
    let other =
        Project::new("plugins:\n  b:\n    enabled: true\n    events: [conversation.complete]\n");
    let host = other.host().await;
    let _dispatcher = start(&setup.store, &host, fast()).await;
    let dead = setup.until_status("a", DeliveryStatus::Dead).await;
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("no longer subscribed"),
        "{dead:?}"
    );
    assert_eq!(
        setup.delivery_of("a").await.attempt,
        1,
        "no attempt was spent"
    );
}
