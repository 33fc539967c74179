//! The durable delivery queue: terminal events and their per-plugin deliveries
//! (`migrations/0004_delivery.sql`), behind the contract's
//! [`DeliveryQueue`](chronicle_host_ports::delivery::DeliveryQueue).
//!
//! Events enter through [`enqueue`], which the state-changing methods call inside their own
//! transaction; the dispatcher (in the plugin host) does the rest through the trait.

use chronicle_host_ports::BackendError;
use chronicle_host_ports::delivery::{
    AttemptEnd, ChainProgress, ChainStep, DeliveryFilter, DeliveryQueue, DeliveryRow,
    DeliveryStatus, DueDelivery, Enqueued, NewEvent, QueuedEvent, Reach, Reached, ReplayTarget,
    StatusCounts,
};
use chronicle_plugin_api::{Event, JsonMap, async_trait};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::db::{DbError, json_column, sql_count};
use crate::documents::backend_error;
use crate::steps::{Step, StepReply, StepSender};
use crate::{Store, StoreError};

pub use chronicle_host_ports::delivery::now_ms;

/// Writes `event` to the queue inside `tx`, the transaction of the change that produced it.
pub(crate) fn enqueue(tx: &Transaction<'_>, event: &NewEvent) -> Result<Enqueued, DbError> {
    let lane = event.lane();
    let progress = ChainProgress {
        metadata: event.metadata.clone(),
        ..ChainProgress::default()
    };
    let seq = tx
        .prepare_cached(
            "INSERT INTO delivery_events (event_id, event, user_id, lane, data, progress, enqueued_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING seq",
        )?
        .query_row(
            params![
                uuid::Uuid::new_v4().simple().to_string(),
                event.event.as_str(),
                event.user_id,
                lane,
                serde_json::to_string(&event.data)?,
                serde_json::to_string(&progress)?,
                now_ms(),
            ],
            |row| row.get(0),
        )?;
    Ok(Enqueued {
        seq,
        lane,
        user_id: event.user_id.clone(),
    })
}

const ROW_COLUMNS: &str = "d.id, d.seq, e.event_id, e.event, e.user_id, d.lane, d.plugin_id, \
     d.status, d.attempt, d.next_attempt_ms, d.last_error, e.enqueued_ms, d.updated_ms";

fn text_column<T: std::str::FromStr>(row: &Row<'_>, index: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.get(index)?;
    text.parse().map_err(|error: T::Err| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            error.to_string().into(),
        )
    })
}

fn delivery_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    let event_id: String = row.get(2)?;
    let plugin_id: String = row.get(6)?;
    Ok(DeliveryRow {
        id: row.get(0)?,
        seq: row.get(1)?,
        idempotency_key: format!("{event_id}:{plugin_id}"),
        event_id,
        event: text_column::<Event>(row, 3)?,
        user_id: row.get(4)?,
        lane: row.get(5)?,
        plugin_id,
        status: text_column::<DeliveryStatus>(row, 7)?,
        attempt: row.get(8)?,
        next_attempt_ms: row.get(9)?,
        last_error: row.get(10)?,
        enqueued_ms: row.get(11)?,
        updated_ms: row.get(12)?,
    })
}

/// Applies `end` to its delivery.
fn end_attempt(tx: &Transaction<'_>, end: &AttemptEnd, now: i64) -> Result<(), DbError> {
    tx.prepare_cached(
        "UPDATE deliveries SET status = ?2, last_error = ?3, next_attempt_ms = ?4, \
             attempt = attempt - ?5, in_chain = 0, updated_ms = ?6 \
         WHERE id = ?1",
    )?
    .execute(params![
        end.delivery_id,
        end.status.as_str(),
        end.error,
        end.next_attempt_ms,
        i64::from(!end.called),
        now
    ])?;
    Ok(())
}

/// Whether an earlier event of `lane` still has a delivery to `plugin_id` that has not
/// settled: the later one must wait behind it.
fn held_behind(
    tx: &Transaction<'_>,
    lane: &str,
    plugin_id: &str,
    seq: i64,
) -> Result<Option<i64>, DbError> {
    Ok(tx
        .prepare_cached(
            "SELECT id FROM deliveries WHERE lane = ?1 AND plugin_id = ?2 AND seq < ?3 \
                 AND status IN ('pending', 'running', 'failed') \
             ORDER BY seq LIMIT 1",
        )?
        .query_row(params![lane, plugin_id, seq], |row| row.get(0))
        .optional()?)
}

fn reach(tx: &Transaction<'_>, seq: i64, reach: &Reach, now: i64) -> Result<Reached, DbError> {
    let existing: Option<(i64, String, i64)> = tx
        .prepare_cached(
            "SELECT id, status, in_chain FROM deliveries WHERE seq = ?1 AND plugin_id = ?2",
        )?
        .query_row(params![seq, reach.plugin_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    if let Some((delivery_id, status, in_chain)) = existing {
        // The chain was calling this plugin when the process stopped: call it again, or,
        // if it cannot take events now, let the delivery wait for it.
        if status == "running" && in_chain == 1 {
            if let Some((due, why)) = &reach.wait {
                tx.prepare_cached(
                    "UPDATE deliveries SET status = 'pending', in_chain = 0, \
                         next_attempt_ms = ?2, last_error = ?3, updated_ms = ?4 WHERE id = ?1",
                )?
                .execute(params![delivery_id, due, why, now])?;
                return Ok(Reached::Waiting { delivery_id });
            }
            let attempt = tx
                .prepare_cached(
                    "UPDATE deliveries SET attempt = attempt + 1, updated_ms = ?2 \
                     WHERE id = ?1 RETURNING attempt",
                )?
                .query_row(params![delivery_id, now], |row| row.get(0))?;
            return Ok(Reached::Call {
                delivery_id,
                attempt,
            });
        }
        return Ok(Reached::Settled);
    }
    let lane: String = tx
        .prepare_cached("SELECT lane FROM delivery_events WHERE seq = ?1")?
        .query_row([seq], |row| row.get(0))?;
    let insert =
        |status: &str, in_chain: bool, attempt: u32, next: Option<i64>, why: Option<&str>| {
            tx.prepare_cached(
                "INSERT INTO deliveries (seq, lane, plugin_id, status, attempt, in_chain, extras, \
                 metadata, next_attempt_ms, last_error, updated_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            )?
            .query_row(
                params![
                    seq,
                    lane,
                    reach.plugin_id,
                    status,
                    attempt,
                    i64::from(in_chain),
                    serde_json::to_string(&reach.extras)?,
                    serde_json::to_string(&reach.metadata)?,
                    next,
                    why,
                    now
                ],
                |row| row.get::<_, i64>(0),
            )
            .map_err(DbError::from)
        };
    if let Some((due, why)) = &reach.wait {
        let delivery_id = insert("pending", false, 0, Some(*due), Some(why))?;
        return Ok(Reached::Waiting { delivery_id });
    }
    if let Some(before) = held_behind(tx, &lane, &reach.plugin_id, seq)? {
        let why = format!("waits for delivery {before} to the same plugin in this lane");
        let delivery_id = insert("pending", false, 0, Some(now), Some(&why))?;
        return Ok(Reached::Held { delivery_id });
    }
    let delivery_id = insert("running", true, 1, None, None)?;
    Ok(Reached::Call {
        delivery_id,
        attempt: 1,
    })
}

fn queued_event(row: &Row<'_>) -> rusqlite::Result<QueuedEvent> {
    Ok(QueuedEvent {
        seq: row.get(0)?,
        event_id: row.get(1)?,
        event: text_column::<Event>(row, 2)?,
        user_id: row.get(3)?,
        lane: row.get(4)?,
        data: json_column(row, 5)?,
        progress: json_column(row, 6)?,
        enqueued_ms: row.get(7)?,
    })
}

/// Steps written in one transaction at most.
const STEPS_PER_COMMIT: usize = 256;

fn write_step(tx: &Transaction<'_>, step: &Step, now: i64) -> Result<Option<Reached>, DbError> {
    let done = matches!(step.step, ChainStep::Finish);
    tx.prepare_cached(
        "UPDATE delivery_events SET progress = ?2, done = ?3, \
             done_ms = CASE WHEN ?3 = 1 THEN ?4 END \
         WHERE seq = ?1",
    )?
    .execute(params![step.seq, step.progress, i64::from(done), now])?;
    if let Some(end) = &step.end {
        end_attempt(tx, end, now)?;
    }
    if done {
        // A call cut off by a crash whose plugin the resumed chain no longer reaches (left
        // the configuration, or the chain now stops before it): the retry loop decides.
        tx.prepare_cached(
            "UPDATE deliveries SET status = 'pending', in_chain = 0, next_attempt_ms = ?2, \
                 updated_ms = ?2 \
             WHERE seq = ?1 AND status = 'running' AND in_chain = 1",
        )?
        .execute(params![step.seq, now])?;
    }
    match &step.step {
        ChainStep::Reach(next) => reach(tx, step.seq, next, now).map(Some),
        ChainStep::Finish => Ok(None),
    }
}

/// Group commit: writes the steps of every chain running at once in one transaction per
/// burst, each inside its own savepoint so one step's failure is that step's alone. A step
impl Store {
    /// Where delivery steps go to be written together.
    fn steps(&self) -> &StepSender {
        self.steps
            .get_or_init(|| spawn_step_writer(std::sync::Arc::clone(&self.db)))
    }
}

/// is answered only once its transaction has committed. Ends when the store is dropped.
fn spawn_step_writer(db: std::sync::Arc<crate::db::Db>) -> StepSender {
    let (sender, steps) = std::sync::mpsc::channel::<(Step, StepReply)>();
    let spawned = std::thread::Builder::new()
        .name("chronicle-delivery-steps".into())
        .spawn(move || {
            while let Ok(first) = steps.recv() {
                let mut batch = vec![first];
                while batch.len() < STEPS_PER_COMMIT {
                    match steps.try_recv() {
                        Ok(step) => batch.push(step),
                        Err(_) => break,
                    }
                }
                let written = db.write(|tx| {
                    let now = now_ms();
                    let mut answers = Vec::with_capacity(batch.len());
                    for (step, _) in &batch {
                        tx.execute_batch("SAVEPOINT step")?;
                        match write_step(tx, step, now) {
                            Ok(reached) => {
                                tx.execute_batch("RELEASE step")?;
                                answers.push(Ok(reached));
                            }
                            Err(error) => {
                                tx.execute_batch("ROLLBACK TO step; RELEASE step")?;
                                answers.push(Err(crate::db::store_error(error)));
                            }
                        }
                    }
                    Ok(answers)
                });
                match written {
                    Ok(answers) => {
                        for ((_, reply), answer) in batch.into_iter().zip(answers) {
                            let _ = reply.send(answer);
                        }
                    }
                    Err(error) => {
                        for (_, reply) in batch {
                            let _ = reply.send(Err(error.clone()));
                        }
                    }
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "Cannot start the delivery step writer.");
    }
    sender
}

impl Store {
    /// Deletes finished events older than `before_ms` whose deliveries all succeeded or
    /// declined; dead letters and anything still to do are kept. Returns how many went.
    pub async fn prune_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM delivery_events WHERE done = 1 AND done_ms < ?1 \
                     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = delivery_events.seq \
                         AND d.status NOT IN ('succeeded', 'declined'))",
                )?
                .execute([before_ms])?;
            Ok(deleted as u64)
        })
        .await
    }
}

#[async_trait]
impl DeliveryQueue for Store {
    async fn unfinished_events(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<QueuedEvent>, BackendError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT seq, event_id, event, user_id, lane, data, progress, enqueued_ms \
                 FROM delivery_events WHERE done = 0 AND seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = statement
                .query_map(params![after_seq, sql_count(limit)], queued_event)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .map_err(backend_error)
    }

    async fn advance(
        &self,
        seq: i64,
        progress: &ChainProgress,
        end: Option<AttemptEnd>,
        step: ChainStep,
    ) -> Result<Option<Reached>, BackendError> {
        let progress = serde_json::to_string(progress)
            .map_err(|error| BackendError::Failed(error.to_string()))?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let step = Step {
            seq,
            progress,
            end,
            step,
        };
        self.steps()
            .send((step, reply))
            .map_err(|_| BackendError::Failed("the delivery step writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| BackendError::Failed("the delivery step writer has stopped".into()))?
            .map_err(backend_error)
    }

    async fn claim_due(
        &self,
        now: i64,
        limit: usize,
        per_plugin: usize,
        running: &[(String, usize)],
    ) -> Result<Vec<DueDelivery>, BackendError> {
        let running: serde_json::Map<String, serde_json::Value> = running
            .iter()
            .map(|(plugin, count)| (plugin.clone(), (*count).into()))
            .collect();
        let running = serde_json::Value::Object(running).to_string();
        self.write(move |tx| {
            // Per plugin, the oldest due ones, as many as its room (per_plugin minus running).
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "SELECT id FROM ( \
                         SELECT d.id, d.plugin_id, d.next_attempt_ms, d.seq, \
                             ROW_NUMBER() OVER (PARTITION BY d.plugin_id \
                                 ORDER BY d.next_attempt_ms, d.seq) AS n \
                         FROM deliveries d \
                         WHERE d.status IN ('pending', 'failed') AND d.next_attempt_ms <= ?1 \
                           AND NOT EXISTS (SELECT 1 FROM deliveries p \
                               WHERE p.lane = d.lane AND p.plugin_id = d.plugin_id \
                                 AND p.seq < d.seq \
                                 AND p.status IN ('pending', 'running', 'failed'))) \
                     WHERE n <= ?4 - COALESCE(json_extract(?3, '$.\"' || plugin_id || '\"'), 0) \
                     ORDER BY next_attempt_ms, seq LIMIT ?2",
                )?
                .query_map(
                    params![now, sql_count(limit), running, sql_count(per_plugin)],
                    |row| row.get(0),
                )?
                .collect::<Result<_, _>>()?;
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                tx.prepare_cached(
                    "UPDATE deliveries SET status = 'running', attempt = attempt + 1, \
                         in_chain = 0, updated_ms = ?2 WHERE id = ?1",
                )?
                .execute(params![id, now])?;
                let (row, data, extras, metadata) = tx
                    .prepare_cached(&format!(
                        "SELECT {ROW_COLUMNS}, e.data, d.extras, d.metadata \
                         FROM deliveries d JOIN delivery_events e ON e.seq = d.seq \
                         WHERE d.id = ?1"
                    ))?
                    .query_row([id], |row| {
                        Ok((
                            delivery_row(row)?,
                            json_column::<JsonMap>(row, 13)?,
                            json_column::<JsonMap>(row, 14)?,
                            json_column::<JsonMap>(row, 15)?,
                        ))
                    })?;
                let mut data = data;
                data.extend(extras);
                claimed.push(DueDelivery {
                    row,
                    data,
                    metadata,
                });
            }
            Ok(claimed)
        })
        .await
        .map_err(backend_error)
    }

    async fn end_attempt(&self, end: AttemptEnd) -> Result<(), BackendError> {
        self.write(move |tx| end_attempt(tx, &end, now_ms()))
            .await
            .map_err(backend_error)
    }

    async fn due_now(&self, plugin_id: &str, now: i64) -> Result<u64, BackendError> {
        let plugin_id = plugin_id.to_owned();
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE deliveries SET next_attempt_ms = ?2 \
                     WHERE plugin_id = ?1 AND status = 'pending' AND next_attempt_ms > ?2",
                )?
                .execute(params![plugin_id, now])?;
            Ok(changed as u64)
        })
        .await
        .map_err(backend_error)
    }

    async fn next_due_ms(&self) -> Result<Option<i64>, BackendError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT MIN(next_attempt_ms) FROM deliveries \
                     WHERE status IN ('pending', 'failed')",
                )?
                .query_row([], |row| row.get(0))?)
        })
        .await
        .map_err(backend_error)
    }

    async fn recover(&self, now: i64) -> Result<u64, BackendError> {
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE deliveries SET status = 'pending', next_attempt_ms = ?1, in_chain = 0, \
                         last_error = 'interrupted by a restart', updated_ms = ?1 \
                     WHERE status = 'running' AND (in_chain = 0 OR seq IN \
                         (SELECT seq FROM delivery_events WHERE done = 1))",
                )?
                .execute([now])?;
            Ok(changed as u64)
        })
        .await
        .map_err(backend_error)
    }

    async fn list(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRow>, BackendError> {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let statuses = serde_json::to_string(&statuses).unwrap_or_else(|_| "[]".into());
        let (user, lane, limit) = (
            filter.user_id.clone(),
            filter.lane.clone(),
            sql_count(filter.limit),
        );
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM deliveries d JOIN delivery_events e ON e.seq = d.seq \
                 WHERE (json_array_length(?1) = 0 OR d.status IN (SELECT value FROM json_each(?1))) \
                   AND (?2 IS NULL OR e.user_id = ?2) AND (?3 IS NULL OR d.lane = ?3) \
                 ORDER BY d.id DESC LIMIT ?4"
            ))?;
            let rows = statement
                .query_map(params![statuses, user, lane, limit], delivery_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .map_err(backend_error)
    }

    async fn delivery(&self, id: i64) -> Result<Option<DeliveryRow>, BackendError> {
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {ROW_COLUMNS} FROM deliveries d JOIN delivery_events e \
                     ON e.seq = d.seq WHERE d.id = ?1"
                ))?
                .query_row([id], delivery_row)
                .optional()?)
        })
        .await
        .map_err(backend_error)
    }

    async fn replay(&self, target: ReplayTarget, now: i64) -> Result<Vec<i64>, BackendError> {
        self.write(move |tx| {
            let (only, dead_only) = match target {
                ReplayTarget::One(id) => (Some(id), false),
                ReplayTarget::AllDead => (None, true),
            };
            let ids = tx
                .prepare_cached(
                    "UPDATE deliveries SET status = 'pending', next_attempt_ms = ?1, \
                         updated_ms = ?1 \
                     WHERE status <> 'running' AND (?2 IS NULL OR id = ?2) \
                       AND (?3 = 0 OR status = 'dead') \
                     RETURNING id",
                )?
                .query_map(params![now, only, i64::from(dead_only)], |row| row.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok(ids)
        })
        .await
        .map_err(backend_error)
    }

    async fn status_counts(&self) -> Result<StatusCounts, BackendError> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT status, COUNT(*) FROM deliveries GROUP BY status")?;
            let counts = statement
                .query_map([], |row| {
                    let count: i64 = row.get(1)?;
                    Ok((text_column::<DeliveryStatus>(row, 0)?, count.unsigned_abs()))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(counts)
        })
        .await
        .map_err(backend_error)
    }
}

#[cfg(test)]
mod tests {
    use chronicle_host_ports::delivery::DeliveryFilter;
    use serde_json::json;

    use super::*;
    use crate::NewConversation;
    use crate::testing::store_with_two_users;

    /// Queues a conversation.complete for a new conversation of `user`, runs its chain to
    /// one plugin whose delivery ends with `status`, and returns the event's seq.
    async fn delivered(store: &Store, user: &str, status: DeliveryStatus) -> i64 {
        let id = store
            .create_conversation(NewConversation {
                user_id: user.into(),
                client_id: "c".into(),
                session_id: None,
                title: "t".into(),
                audio_path: None,
            })
            .await
            .unwrap()
            .conversation_id;
        let event = NewEvent {
            event: Event::ConversationComplete,
            user_id: user.into(),
            conversation_id: Some(id.clone()),
            data: json!({"conversation_id": id}).as_object().unwrap().clone(),
            metadata: JsonMap::new(),
        };
        let seq = store
            .announce_completion(&id, None, event)
            .await
            .unwrap()
            .seq;
        let reach = Reach {
            plugin_id: "p".into(),
            metadata: JsonMap::new(),
            extras: JsonMap::new(),
            wait: None,
        };
        let progress = ChainProgress::default();
        let Some(Reached::Call { delivery_id, .. }) = store
            .advance(seq, &progress, None, ChainStep::Reach(reach))
            .await
            .unwrap()
        else {
            panic!("the first plugin is called");
        };
        let end = AttemptEnd {
            delivery_id,
            status,
            error: None,
            next_attempt_ms: None,
            called: true,
        };
        store
            .advance(seq, &progress, Some(end), ChainStep::Finish)
            .await
            .unwrap();
        seq
    }

    #[tokio::test]
    async fn pruning_drops_old_delivered_events_and_keeps_dead_letters() {
        let (_dir, store, ana, _) = store_with_two_users().await;
        delivered(&store, &ana.id, DeliveryStatus::Succeeded).await;
        let dead = delivered(&store, &ana.id, DeliveryStatus::Dead).await;
        assert_eq!(
            store.prune_deliveries(0).await.unwrap(),
            0,
            "none is old yet"
        );
        assert_eq!(store.prune_deliveries(now_ms() + 1).await.unwrap(), 1);
        let left = store
            .list(&DeliveryFilter {
                limit: 10,
                ..DeliveryFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].seq, left[0].status), (dead, DeliveryStatus::Dead));
        assert!(store.unfinished_events(0, 10).await.unwrap().is_empty());
    }
}
