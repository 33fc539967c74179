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

    /// The newest `limit` records the owner may see, newest first, only of `event_type` if
    /// given.
    pub async fn recent_events(
        &self,
        owner: &Owner,
        limit: usize,
        event_type: Option<&str>,
    ) -> Result<Vec<Value>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        let event_type = event_type.map(str::to_owned);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT record FROM event_log \
                 WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR event = ?2) \
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let records = statement
                .query_map(params![user, event_type, sql_count(limit)], |row| {
                    crate::db::json_column(row, 0)
                })?;
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

        let all = store.recent_events(&Owner::Admin, 10, None).await.unwrap();
        assert_eq!(numbers(&all), [4, 3, 2, 1]);
        assert_eq!(all[0], row("button.single_press", "system", 4).record);
        let ana = Owner::User("ana".into());
        assert_eq!(
            numbers(&store.recent_events(&ana, 10, None).await.unwrap()),
            [2, 1]
        );
        assert_eq!(
            numbers(
                &store
                    .recent_events(&ana, 10, Some("conversation.complete"))
                    .await
                    .unwrap()
            ),
            [2]
        );
        assert_eq!(
            numbers(
                &store
                    .recent_events(&Owner::Admin, 1, Some("conversation.complete"))
                    .await
                    .unwrap()
            ),
            [3]
        );

        assert_eq!(store.clear_events(&ana).await.unwrap(), 2);
        assert_eq!(
            numbers(&store.recent_events(&Owner::Admin, 10, None).await.unwrap()),
            [4, 3]
        );
        assert_eq!(store.clear_events(&Owner::Admin).await.unwrap(), 2);
        assert!(
            store
                .recent_events(&Owner::Admin, 10, None)
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
            numbers(&store.recent_events(&Owner::Admin, 100, None).await.unwrap()),
            [6, 5, 4, 3, 2]
        );
        // A batch larger than the capacity keeps its own newest records.
        store
            .append_events((10..=17).map(|n| row("e", "bob", n)).collect())
            .await
            .unwrap();
        assert_eq!(
            numbers(&store.recent_events(&Owner::Admin, 100, None).await.unwrap()),
            [17, 16, 15, 14, 13]
        );
        assert!(
            store
                .recent_events(&Owner::User("ana".into()), 100, None)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
