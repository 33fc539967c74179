//! `chronicle-bench durable`: `conversation.complete` through the durable queue on disk to
//! three no-op native plugins, as the server runs it (SQLite in WAL mode in a temporary data
//! folder, the dispatcher with its default settings, a two-thread runtime).
//!
//! Two phases: **saturated** enqueues every event as fast as the store takes them, from eight
//! tasks at once, each event in its own transaction with a conversation's completion as the
//! pipeline does, and reports
//! events per second from the first enqueue to the last delivery; **paced** enqueues at half
//! that rate and reports the latency from enqueue to delivered (the third plugin's call) when
//! the queue is not the bottleneck.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use chronicle_host_ports::delivery::NewEvent;
use chronicle_plugin_api::{
    AccessLevel, Event, HandlerOutcome, Plugin, PluginContext, PluginDescriptor, PluginResult,
    async_trait,
};
use chronicle_plugin_host::delivery::{DeliverySettings, Dispatcher};
use chronicle_plugin_host::{Backends, HostConfig, PluginHost};
use chronicle_store::{NewConversation, Store};
use serde_json::{Value, json};

use crate::report::latency_summary;

/// When each event reached the last plugin, in nanoseconds since the run's start (0: not yet).
struct Deliveries {
    start: Instant,
    at: Vec<AtomicU64>,
    count: AtomicU64,
}

static DELIVERIES: OnceLock<Arc<Deliveries>> = OnceLock::new();

/// Does nothing; the last of the three writes down when the event reached it.
struct NoOp {
    last: bool,
}

#[async_trait]
impl Plugin for NoOp {
    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        if self.last
            && let Some(deliveries) = DELIVERIES.get()
            && let Some(slot) = ctx
                .data
                .get("n")
                .and_then(Value::as_u64)
                .and_then(|n| deliveries.at.get(n as usize))
        {
            let now = deliveries.start.elapsed().as_nanos() as u64;
            if slot.swap(now.max(1), Ordering::Relaxed) == 0 {
                deliveries.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Some(PluginResult::ok("ok")))
    }
}

const fn no_op(id: &'static str, last: bool) -> PluginDescriptor {
    PluginDescriptor {
        id,
        name: id,
        description: "benchmark plugin",
        access_levels: &[AccessLevel::Conversation],
        build: if last {
            |_| Ok(Box::new(NoOp { last: true }))
        } else {
            |_| Ok(Box::new(NoOp { last: false }))
        },
    }
}

const REGISTRY: &[PluginDescriptor] = &[
    no_op("noop_1", false),
    no_op("noop_2", false),
    no_op("noop_3", true),
];

/// Tasks enqueueing at once in the saturated phase.
const PRODUCERS: usize = 8;

const PLUGINS_YML: &str = r#"plugins:
  noop_1: {enabled: true, events: [conversation.complete], priority: 1}
  noop_2: {enabled: true, events: [conversation.complete], priority: 2}
  noop_3: {enabled: true, events: [conversation.complete], priority: 3}
"#;

pub async fn durable(events: usize) -> anyhow::Result<Value> {
    let saturated = events;
    let paced = (events / 4).max(1);
    let total = saturated + paced;
    let deliveries = Arc::new(Deliveries {
        start: Instant::now(),
        at: (0..total).map(|_| AtomicU64::new(0)).collect(),
        count: AtomicU64::new(0),
    });
    DELIVERIES
        .set(Arc::clone(&deliveries))
        .map_err(|_| anyhow::anyhow!("the benchmark runs once per process"))?;

    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("plugins.yml"), PLUGINS_YML)?;
    let config = HostConfig::new(dir.path(), dir.path().join("plugins"));
    let loaded = PluginHost::load(&config, REGISTRY, Backends::in_memory())
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    loaded.host.initialize().await;
    let host = loaded.host;
    let store = Store::open(&dir.path().join("data")).await?;
    let user = store.create_user("bench@example.com", "!", false).await?.id;
    let mut conversations = Vec::with_capacity(total);
    for _ in 0..total {
        let conversation = store
            .create_conversation(NewConversation {
                user_id: user.clone(),
                client_id: "bench0-pendant".into(),
                session_id: None,
                title: "bench".into(),
                audio_path: None,
            })
            .await?;
        conversations.push(conversation.conversation_id);
    }
    let source = host.clone();
    let dispatcher = Dispatcher::start(
        Arc::new(store.clone()),
        Arc::new(move || source.clone()),
        DeliverySettings::default(),
    )
    .await?;

    let conversations = Arc::new(conversations);
    let queue = store.clone();
    let enqueue = move |n: usize| {
        let store = queue.clone();
        let conversation = conversations[n].clone();
        let user = user.clone();
        async move {
            let event = NewEvent {
                event: Event::ConversationComplete,
                user_id: user.clone(),
                conversation_id: Some(conversation.clone()),
                data: crate::report::object(json!({
                    "n": n,
                    "conversation_id": conversation,
                    "transcript": "We agreed to ship on Friday.",
                    "duration": 42.5,
                    "conversation": {"client_id": "bench0-pendant", "user_id": user, "title": "bench", "summary": null},
                })),
                metadata: crate::report::object(json!({"end_reason": "user_stopped"})),
            };
            store.announce_completion(&conversation, None, event).await
        }
    };

    // Saturated: as fast as the store takes them, from PRODUCERS conversations finishing at
    // once (as many devices would).
    let mut enqueued_at = vec![0u64; total];
    let started = deliveries.start.elapsed();
    let mut producers = Vec::new();
    for producer in 0..PRODUCERS {
        let (enqueue, deliveries, dispatcher) =
            (enqueue.clone(), Arc::clone(&deliveries), dispatcher.clone());
        producers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for n in (producer..saturated).step_by(PRODUCERS) {
                times.push((n, deliveries.start.elapsed().as_nanos() as u64));
                enqueue(n).await?;
                dispatcher.wake();
            }
            anyhow::Ok(times)
        }));
    }
    for producer in producers {
        for (n, at) in producer.await?? {
            enqueued_at[n] = at;
        }
    }
    wait_for(&deliveries, saturated as u64).await?;
    let last = (0..saturated)
        .map(|n| deliveries.at[n].load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let seconds = (Duration::from_nanos(last).saturating_sub(started)).as_secs_f64();
    let throughput = saturated as f64 / seconds.max(1e-9);
    let saturated_latency: Vec<u64> = (0..saturated)
        .map(|n| deliveries.at[n].load(Ordering::Relaxed) - enqueued_at[n])
        .collect();

    // Paced at half the throughput.
    let interval = Duration::from_secs_f64(2.0 / throughput);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for (n, at) in enqueued_at.iter_mut().enumerate().skip(saturated) {
        ticker.tick().await;
        *at = deliveries.start.elapsed().as_nanos() as u64;
        enqueue(n).await?;
        dispatcher.wake();
    }
    wait_for(&deliveries, total as u64).await?;
    let paced_latency: Vec<u64> = (saturated..total)
        .map(|n| deliveries.at[n].load(Ordering::Relaxed) - enqueued_at[n])
        .collect();
    dispatcher.shutdown(Duration::from_secs(5)).await;
    let database_bytes = std::fs::metadata(store.path()).map_or(0, |m| m.len());
    Ok(json!({
        "benchmark": "durable",
        "plugins": 3,
        "saturated": {
            "events": saturated,
            "seconds": seconds,
            "events_per_second": throughput.round(),
            "enqueue_to_delivered_us": latency_summary(saturated_latency),
        },
        "paced": {
            "events": paced,
            "events_per_second": (1.0 / interval.as_secs_f64()).round(),
            "enqueue_to_delivered_us": latency_summary(paced_latency),
        },
        "database_bytes": database_bytes,
    }))
}

async fn wait_for(deliveries: &Deliveries, count: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while deliveries.count.load(Ordering::Relaxed) < count {
        if Instant::now() > deadline {
            return Err(anyhow::anyhow!(
                "only {} of {count} events were delivered in 10 minutes",
                deliveries.count.load(Ordering::Relaxed)
            ))
            .context("durable benchmark");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}
