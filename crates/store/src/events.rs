//! The event log: one record per dispatched event, the newest
//! [`StoreOptions::event_log_capacity`](crate::StoreOptions) kept.

use rusqlite::params;
use serde_json::Value;

use crate::db::sql_count;
use crate::{Owner, Store, StoreError};

/// One event log record to store.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLogRow {
    /// The event's name (`conversation.complete`, …).
    pub event: String,
    /// Whose event it was (`system` for events of no user).
    pub user_id: String,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// The whole record, returned as is by [`Store::recent_events`].
    pub record: Value,
}

/// Which event log records to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// At most this many.
    pub limit: usize,
    /// Only this event (`conversation.complete`, …).
    pub event: Option<String>,
    /// Only the events of this conversation.
    pub conversation_id: Option<String>,
    /// Only events this plugin was subscribed to.
    pub plugin_id: Option<String>,
    /// Only events where a plugin (`plugin_id`, when given) had this outcome: `executed`,
    /// `declined`, `skipped`, `failed` or `timed_out`.
    pub outcome: Option<String>,
}

impl EventFilter {
    /// The newest `limit` records, whatever they are.
    pub fn newest(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }
}

impl Store {
    /// Stores `records` in one transaction, in order, then drops the oldest records beyond the
    /// capacity.
    pub async fn append_events(&self, records: Vec<EventLogRow>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, String, String, String)> = records
            .into_iter()
            .map(|row| {
                let record = row.record.to_string();
                (row.event, row.user_id, row.timestamp, record)
            })
            .collect();
        let capacity = sql_count(self.options().event_log_capacity);
        self.write(move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO event_log (event, user_id, timestamp, record) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (event, user_id, timestamp, record) in &rows {
                insert.execute(params![event, user_id, timestamp, record])?;
            }
            tx.prepare_cached(
                "DELETE FROM event_log WHERE id <= \
                 (SELECT id FROM event_log ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            )?
            .execute([capacity])?;
            Ok(())
        })
        .await
    }

    /// The newest records the owner may see that match `filter`, newest first.
    pub async fn recent_events(
        &self,
        owner: &Owner,
        filter: &EventFilter,
    ) -> Result<Vec<Value>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        let filter = filter.clone();
        self.read(move |connection| {
            // A record lists every subscribed plugin with its status: the plugin and outcome
            // filters look into that list, so "failed at webhook" is one plugin's row.
            let mut statement = connection.prepare_cached(
                "SELECT record FROM event_log \
                 WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR event = ?2) \
                   AND (?3 IS NULL OR json_extract(record, '$.conversation_id') = ?3) \
                   AND ((?4 IS NULL AND ?5 IS NULL) OR EXISTS ( \
                        SELECT 1 FROM json_each(record, '$.plugins') \
                        WHERE (?4 IS NULL OR json_extract(value, '$.plugin_id') = ?4) \
                          AND (?5 IS NULL OR json_extract(value, '$.status') = ?5))) \
                 ORDER BY id DESC LIMIT ?6",
            )?;
            let records = statement.query_map(
                params![
                    user,
                    filter.event,
                    filter.conversation_id,
                    filter.plugin_id,
                    filter.outcome,
                    sql_count(filter.limit)
                ],
                |row| crate::db::json_column(row, 0),
            )?;
            Ok(records.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Deletes the records the owner may see and returns how many.
    pub async fn clear_events(&self, owner: &Owner) -> Result<u64, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached("DELETE FROM event_log WHERE (?1 IS NULL OR user_id = ?1)")?
                .execute([&user])?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::StoreOptions;

    fn row(event: &str, user: &str, n: u32) -> EventLogRow {
        EventLogRow {
            event: event.into(),
            user_id: user.into(),
            timestamp: format!("2026-11-25T09:00:{n:02}.000Z"),
            record: json!({"event": event, "user_id": user, "n": n, "nested": {"ok": true}}),
        }
    }

    fn numbers(records: &[Value]) -> Vec<u64> {
        records.iter().filter_map(|r| r["n"].as_u64()).collect()
    }

    #[tokio::test]
    async fn events_are_found_by_conversation_and_by_what_one_plugin_did() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let dispatch = |n: u32, conversation: &str, plugins: Value| EventLogRow {
            event: "conversation.complete".into(),
            user_id: "ana".into(),
            timestamp: format!("2026-11-25T09:00:{n:02}.000Z"),
            record: json!({"n": n, "conversation_id": conversation, "plugins": plugins}),
        };
        store
            .append_events(vec![
                dispatch(
                    1,
                    "c1",
                    json!([{"plugin_id": "email", "status": "failed"},
                                        {"plugin_id": "webhook", "status": "executed"}]),
                ),
                dispatch(
                    2,
                    "c2",
                    json!([{"plugin_id": "email", "status": "executed"}]),
                ),
                dispatch(
                    3,
                    "c1",
                    json!([{"plugin_id": "webhook", "status": "failed"}]),
                ),
            ])
            .await
            .unwrap();
        let found = |filter: EventFilter| {
            let store = store.clone();
            async move { numbers(&store.recent_events(&Owner::Admin, &filter).await.unwrap()) }
        };
        let of_c1 = EventFilter {
            conversation_id: Some("c1".into()),
            ..EventFilter::newest(10)
        };
        assert_eq!(found(of_c1).await, [3, 1]);
        let email = EventFilter {
            plugin_id: Some("email".into()),
            ..EventFilter::newest(10)
        };
        assert_eq!(found(email.clone()).await, [2, 1]);
        let email_failed = EventFilter {
            outcome: Some("failed".into()),
            ..email
        };
        assert_eq!(
            found(email_failed).await,
            [1],
            "the failure is email's own, not webhook's"
        );
        let any_failed = EventFilter {
            outcome: Some("failed".into()),
            ..EventFilter::newest(10)
        };
        assert_eq!(found(any_failed).await, [3, 1]);
    }

    #[tokio::test]
    async fn events_are_returned_newest_first_filtered_by_owner_and_type() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .append_events(vec![
                row("transcript.batch", "ana", 1),
                row("conversation.complete", "ana", 2),
                row("conversation.complete", "bob", 3),
                row("button.single_press", "system", 4),
            ])
            .await
            .unwrap();
        store.append_events(vec![]).await.unwrap();

        let all = store
            .recent_events(&Owner::Admin, &EventFilter::newest(10))
            .await
            .unwrap();
        assert_eq!(numbers(&all), [4, 3, 2, 1]);
        assert_eq!(all[0], row("button.single_press", "system", 4).record);
        let ana = Owner::User("ana".into());
        assert_eq!(
            numbers(
                &store
                    .recent_events(&ana, &EventFilter::newest(10))
                    .await
                    .unwrap()
            ),
            [2, 1]
        );
        assert_eq!(
            numbers(
                &store
                    .recent_events(
                        &ana,
                        &EventFilter {
                            event: Some("conversation.complete".into()),
                            ..EventFilter::newest(10)
                        }
                    )
                    .await
                    .unwrap()
            ),
            [2]
        );
        assert_eq!(
            numbers(
                &store
                    .recent_events(
                        &Owner::Admin,
                        &EventFilter {
                            event: Some("conversation.complete".into()),
                            ..EventFilter::newest(1)
                        }
                    )
                    .await
                    .unwrap()
            ),
            [3]
        );

        assert_eq!(store.clear_events(&ana).await.unwrap(), 2);
        assert_eq!(
            numbers(
                &store
                    .recent_events(&Owner::Admin, &EventFilter::newest(10))
                    .await
                    .unwrap()
            ),
            [4, 3]
        );
        assert_eq!(store.clear_events(&Owner::Admin).await.unwrap(), 2);
        assert!(
            store
                .recent_events(&Owner::Admin, &EventFilter::newest(10))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_log_is_trimmed_to_the_newest_records_within_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(
            dir.path(),
            StoreOptions {
                event_log_capacity: 5,
            },
        )
        .await
        .unwrap();
        store
            .append_events((1..=3).map(|n| row("e", "ana", n)).collect())
            .await
            .unwrap();
        store
            .append_events((4..=6).map(|n| row("e", "ana", n)).collect())
            .await
            .unwrap();
        assert_eq!(
            numbers(
                &store
                    .recent_events(&Owner::Admin, &EventFilter::newest(100))
                    .await
                    .unwrap()
            ),
            [6, 5, 4, 3, 2]
        );
        // A batch larger than the capacity keeps its own newest records.
        store
            .append_events((10..=17).map(|n| row("e", "bob", n)).collect())
            .await
            .unwrap();
        assert_eq!(
            numbers(
                &store
                    .recent_events(&Owner::Admin, &EventFilter::newest(100))
                    .await
                    .unwrap()
            ),
            [17, 16, 15, 14, 13]
        );
        assert!(
            store
                .recent_events(&Owner::User("ana".into()), &EventFilter::newest(100))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
