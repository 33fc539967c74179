//! Plugin documents: [`DocumentStore`] on SQLite, behaving like the host's in-memory
//! `MemoryDocuments`.
//!
//! Each document is one row, kept per plugin and per collection, ordered by `seq` (insertion
//! order). Filters and updates are the shared rules of `chronicle_plugin_api::backend`, applied
//! in Rust to the collection's documents: simple, and the same everywhere; plugin collections
//! are small. An update that fails leaves the document as it was.

use chronicle_host_ports::{BackendError, DocumentStore, apply_update, ensure_id, matches_filter};
use chronicle_plugin_api::{JsonMap, async_trait};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::db::{DbError, is_duplicate};
use crate::{Owner, Store, StoreError};

const IN_ORDER: &str = "SELECT seq, document FROM plugin_documents \
     WHERE plugin_id = ?1 AND collection = ?2 ORDER BY seq";

/// A store error as the contract's backends report it.
pub(crate) fn backend_error(error: StoreError) -> BackendError {
    match error {
        StoreError::Invalid(message) | StoreError::Conflict(message) => {
            BackendError::InvalidRequest(message)
        }
        StoreError::NotFound => BackendError::InvalidRequest(error.to_string()),
        StoreError::Database(message) => BackendError::Failed(message),
    }
}

/// A filter or update error from the shared rules, carried through the store.
fn rule_error(error: BackendError) -> DbError {
    DbError::Store(match error {
        BackendError::InvalidRequest(message) => StoreError::Invalid(message),
        BackendError::Unavailable(message) | BackendError::Failed(message) => {
            StoreError::Database(message)
        }
    })
}

/// The first document of the collection matching `filter`, with its `seq`.
fn first_match(
    connection: &Connection,
    plugin_id: &str,
    collection: &str,
    filter: &JsonMap,
) -> Result<Option<(i64, JsonMap)>, DbError> {
    let mut statement = connection.prepare_cached(IN_ORDER)?;
    let mut rows = statement.query(params![plugin_id, collection])?;
    while let Some(row) = rows.next()? {
        let document: JsonMap = serde_json::from_str(&row.get::<_, String>(1)?)?;
        if matches_filter(&document, filter).map_err(rule_error)? {
            return Ok(Some((row.get(0)?, document)));
        }
    }
    Ok(None)
}

/// Visits the collection's documents matching `filter`, in order, until `visit` says stop.
fn each_match(
    connection: &Connection,
    plugin_id: &str,
    collection: &str,
    filter: &JsonMap,
    mut visit: impl FnMut(JsonMap) -> bool,
) -> Result<(), DbError> {
    let mut statement = connection.prepare_cached(IN_ORDER)?;
    let mut rows = statement.query(params![plugin_id, collection])?;
    while let Some(row) = rows.next()? {
        let document: JsonMap = serde_json::from_str(&row.get::<_, String>(1)?)?;
        if matches_filter(&document, filter).map_err(rule_error)? && !visit(document) {
            break;
        }
    }
    Ok(())
}

#[async_trait]
impl DocumentStore for Store {
    async fn insert_one(
        &self,
        plugin_id: &str,
        collection: &str,
        mut document: JsonMap,
    ) -> Result<String, BackendError> {
        let id = ensure_id(&mut document, crate::store::new_id);
        let text = Value::Object(document).to_string();
        let (plugin_id, collection, doc_id) =
            (plugin_id.to_owned(), collection.to_owned(), id.clone());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO plugin_documents (plugin_id, collection, doc_id, document) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![plugin_id, collection, doc_id, text])
            .map_err(|error| {
                if is_duplicate(&error) {
                    DbError::Store(StoreError::Invalid(format!(
                        "a document with _id `{doc_id}` already exists"
                    )))
                } else {
                    error.into()
                }
            })?;
            Ok(())
        })
        .await
        .map_err(backend_error)?;
        Ok(id)
    }

    async fn find(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
        limit: Option<usize>,
    ) -> Result<Vec<JsonMap>, BackendError> {
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let (plugin_id, collection, filter) =
            (plugin_id.to_owned(), collection.to_owned(), filter.clone());
        self.read(move |connection| {
            let mut found = Vec::new();
            each_match(connection, &plugin_id, &collection, &filter, |document| {
                found.push(document);
                limit.is_none_or(|limit| found.len() < limit)
            })?;
            Ok(found)
        })
        .await
        .map_err(backend_error)
    }

    async fn update_one(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
        update: &JsonMap,
    ) -> Result<bool, BackendError> {
        let (plugin_id, collection, filter, update) = (
            plugin_id.to_owned(),
            collection.to_owned(),
            filter.clone(),
            update.clone(),
        );
        self.write(move |tx| {
            let Some((seq, mut document)) = first_match(tx, &plugin_id, &collection, &filter)?
            else {
                return Ok(false);
            };
            apply_update(&mut document, &update).map_err(rule_error)?;
            tx.prepare_cached("UPDATE plugin_documents SET document = ?2 WHERE seq = ?1")?
                .execute(params![seq, Value::Object(document).to_string()])?;
            Ok(true)
        })
        .await
        .map_err(backend_error)
    }

    async fn delete_one(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<bool, BackendError> {
        let (plugin_id, collection, filter) =
            (plugin_id.to_owned(), collection.to_owned(), filter.clone());
        self.write(move |tx| {
            let Some((seq, _)) = first_match(tx, &plugin_id, &collection, &filter)? else {
                return Ok(false);
            };
            tx.prepare_cached("DELETE FROM plugin_documents WHERE seq = ?1")?
                .execute([seq])?;
            Ok(true)
        })
        .await
        .map_err(backend_error)
    }

    async fn count(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<u64, BackendError> {
        let (plugin_id, collection, filter) =
            (plugin_id.to_owned(), collection.to_owned(), filter.clone());
        self.read(move |connection| {
            let mut count = 0;
            each_match(connection, &plugin_id, &collection, &filter, |_| {
                count += 1;
                true
            })?;
            Ok(count)
        })
        .await
        .map_err(backend_error)
    }
}

/// One plugin's collection, as the web app lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionSummary {
    /// The plugin that keeps it.
    pub plugin_id: String,
    /// Its name.
    pub collection: String,
    /// How many documents the reader may see.
    pub count: u64,
}

/// A page of one collection's documents.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentPage {
    /// How many documents the reader may see in the collection.
    pub total: u64,
    /// The page, in insertion order.
    pub documents: Vec<Value>,
}

/// Browsing what plugins stored, for people rather than plugins. Documents have no owner
/// column: a plugin that keeps per-user documents says whose with a `user_id` field (as the
/// guide's `todo_extractor` does), and a user sees only those; an admin reads every document.
impl Store {
    /// Every collection holding documents the reader may see.
    pub async fn document_collections(
        &self,
        owner: &Owner,
    ) -> Result<Vec<CollectionSummary>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT plugin_id, collection, count(*) FROM plugin_documents \
                 WHERE ?1 IS NULL OR json_extract(document, '$.user_id') = ?1 \
                 GROUP BY plugin_id, collection ORDER BY plugin_id, collection",
            )?;
            let rows = statement.query_map([&user], |row| {
                Ok(CollectionSummary {
                    plugin_id: row.get(0)?,
                    collection: row.get(1)?,
                    count: row.get::<_, i64>(2)?.unsigned_abs(),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// `limit` documents of a collection from `offset`, in insertion order.
    pub async fn browse_documents(
        &self,
        plugin_id: &str,
        collection: &str,
        owner: &Owner,
        limit: usize,
        offset: usize,
    ) -> Result<DocumentPage, StoreError> {
        let (plugin_id, collection, user) = (
            plugin_id.to_owned(),
            collection.to_owned(),
            owner.user_id().map(str::to_owned),
        );
        self.read(move |connection| {
            const READABLE: &str = "plugin_id = ?1 AND collection = ?2 \
                 AND (?3 IS NULL OR json_extract(document, '$.user_id') = ?3)";
            let total: i64 = connection
                .prepare_cached(&format!(
                    "SELECT count(*) FROM plugin_documents WHERE {READABLE}"
                ))?
                .query_row(params![plugin_id, collection, user], |row| row.get(0))?;
            let total = total.unsigned_abs();
            let mut statement = connection.prepare_cached(&format!(
                "SELECT document FROM plugin_documents WHERE {READABLE} \
                 ORDER BY seq LIMIT ?4 OFFSET ?5"
            ))?;
            let documents = statement
                .query_map(
                    params![
                        plugin_id,
                        collection,
                        user,
                        crate::db::sql_count(limit),
                        crate::db::sql_count(offset)
                    ],
                    |row| crate::db::json_column(row, 0),
                )?
                .collect::<Result<_, _>>()?;
            Ok(DocumentPage { total, documents })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn map(value: Value) -> JsonMap {
        value.as_object().unwrap().clone()
    }

    fn none() -> JsonMap {
        JsonMap::new()
    }

    use crate::testing::store;

    async fn rows(store: &Store) -> i64 {
        store
            .read(|connection| {
                Ok(
                    connection.query_row("SELECT count(*) FROM plugin_documents", [], |row| {
                        row.get(0)
                    })?,
                )
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn documents_keep_string_ids_get_new_ones_otherwise_and_refuse_duplicates() {
        let (_dir, store) = store().await;
        let documents: Arc<dyn DocumentStore> = Arc::new(store.clone());
        let given = documents
            .insert_one("todo", "items", map(json!({"_id": "a", "task": "milk"})))
            .await
            .unwrap();
        assert_eq!(given, "a");
        let generated = documents
            .insert_one("todo", "items", map(json!({"_id": 7, "task": "eggs"})))
            .await
            .unwrap();
        assert_eq!(
            uuid::Uuid::parse_str(&generated).unwrap().get_version_num(),
            4
        );
        let error = documents
            .insert_one("todo", "items", map(json!({"_id": "a", "task": "again"})))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            BackendError::InvalidRequest("a document with _id `a` already exists".into())
        );
        // The same id in another collection or another plugin is another document.
        documents
            .insert_one("todo", "other", map(json!({"_id": "a"})))
            .await
            .unwrap();
        documents
            .insert_one("notes", "items", map(json!({"_id": "a"})))
            .await
            .unwrap();

        assert_eq!(
            documents
                .find("todo", "items", &none(), None)
                .await
                .unwrap(),
            vec![
                map(json!({"_id": "a", "task": "milk"})),
                map(json!({"_id": generated, "task": "eggs"}))
            ]
        );
    }

    #[tokio::test]
    async fn find_update_delete_and_count_follow_the_shared_rules_in_insertion_order() {
        let (_dir, store) = store().await;
        for (id, task, done) in [
            ("1", "milk", false),
            ("2", "eggs", true),
            ("3", "bread", false),
        ] {
            store
                .insert_one(
                    "todo",
                    "items",
                    map(json!({"_id": id, "task": task, "done": done, "meta": {"by": "ana"}})),
                )
                .await
                .unwrap();
        }
        let open = map(json!({"done": false}));
        let ids = |found: Vec<JsonMap>| -> Vec<String> {
            found
                .iter()
                .map(|d| d["_id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            ids(store.find("todo", "items", &open, None).await.unwrap()),
            ["1", "3"]
        );
        assert_eq!(
            ids(store.find("todo", "items", &open, Some(1)).await.unwrap()),
            ["1"]
        );
        assert!(
            store
                .find("todo", "items", &open, Some(0))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            ids(store
                .find("todo", "items", &map(json!({"meta.by": "ana"})), Some(2))
                .await
                .unwrap()),
            ["1", "2"]
        );
        assert_eq!(store.count("todo", "items", &open).await.unwrap(), 2);
        assert_eq!(store.count("todo", "items", &none()).await.unwrap(), 3);

        // update_one changes the first match only, keeps _id and its place.
        assert!(
            store
                .update_one(
                    "todo",
                    "items",
                    &open,
                    &map(json!({"$set": {"done": true, "_id": "x"}, "$inc": {"n": 2}})),
                )
                .await
                .unwrap()
        );
        assert!(
            store
                .update_one(
                    "todo",
                    "items",
                    &map(json!({"_id": "1"})),
                    &map(json!({"note": "plain"}))
                )
                .await
                .unwrap()
        );
        let all = store.find("todo", "items", &none(), None).await.unwrap();
        assert_eq!(
            all[0],
            map(
                json!({"_id": "1", "task": "milk", "done": true, "meta": {"by": "ana"}, "n": 2, "note": "plain"})
            )
        );
        assert_eq!(ids(all), ["1", "2", "3"]);
        assert!(
            !store
                .update_one(
                    "todo",
                    "items",
                    &map(json!({"task": "none"})),
                    &map(json!({"a": 1}))
                )
                .await
                .unwrap()
        );

        // A failing update changes nothing (the in-memory store may keep a partial one).
        let error = store
            .update_one(
                "todo",
                "items",
                &map(json!({"_id": "3"})),
                &map(json!({"$set": {"a": 1}, "$push": {"b": 1}})),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, BackendError::InvalidRequest(_)),
            "{error:?}"
        );
        let third = store
            .find("todo", "items", &map(json!({"_id": "3"})), None)
            .await
            .unwrap();
        assert!(!third[0].contains_key("a"));

        assert!(
            store
                .delete_one("todo", "items", &map(json!({"done": true})))
                .await
                .unwrap()
        );
        assert_eq!(
            ids(store.find("todo", "items", &none(), None).await.unwrap()),
            ["2", "3"]
        );
        assert!(
            !store
                .delete_one("todo", "items", &map(json!({"_id": "1"})))
                .await
                .unwrap()
        );

        let error = store
            .find("todo", "items", &map(json!({"$or": []})), None)
            .await
            .unwrap_err();
        assert!(matches!(error, BackendError::InvalidRequest(message) if message.contains("$or")));
        assert!(
            store
                .count("todo", "items", &map(json!({"$gt": 1})))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn reading_a_collection_that_does_not_exist_creates_nothing() {
        let (_dir, store) = store().await;
        let filter = map(json!({"a": 1}));
        assert!(
            store
                .find("p", "missing", &filter, None)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.count("p", "missing", &filter).await.unwrap(), 0);
        assert!(
            !store
                .update_one("p", "missing", &filter, &filter)
                .await
                .unwrap()
        );
        assert!(!store.delete_one("p", "missing", &filter).await.unwrap());
        // As in memory: with no documents, an unsupported filter is never evaluated.
        assert!(
            store
                .find("p", "missing", &map(json!({"$or": []})), None)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(rows(&store).await, 0);
    }

    #[tokio::test]
    async fn people_browse_only_their_own_documents_and_admins_all() {
        let (_dir, store) = store().await;
        for (n, user) in [(1, "ana"), (2, "bob"), (3, "ana")] {
            store
                .insert_one(
                    "todo_extractor",
                    "todos",
                    map(json!({"n": n, "user_id": user})),
                )
                .await
                .unwrap();
        }
        store
            .insert_one("notes", "shared", map(json!({"text": "no owner"})))
            .await
            .unwrap();

        let ana = store
            .document_collections(&Owner::User("ana".into()))
            .await
            .unwrap();
        assert_eq!(
            ana,
            [CollectionSummary {
                plugin_id: "todo_extractor".into(),
                collection: "todos".into(),
                count: 2
            }]
        );
        assert_eq!(
            store
                .document_collections(&Owner::Admin)
                .await
                .unwrap()
                .len(),
            2
        );
        let page = store
            .browse_documents("todo_extractor", "todos", &Owner::User("ana".into()), 1, 1)
            .await
            .unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.documents.len(), 1);
        assert_eq!(
            page.documents[0]["n"], 3,
            "the second of ana's, in insertion order"
        );
        let all = store
            .browse_documents("todo_extractor", "todos", &Owner::Admin, 10, 0)
            .await
            .unwrap();
        assert_eq!(all.total, 3);
    }

    #[tokio::test]
    async fn documents_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .insert_one("p", "c", map(json!({"_id": "k", "z": 1, "a": 2})))
            .await
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).await.unwrap();
        let found = store.find("p", "c", &none(), None).await.unwrap();
        assert_eq!(found, vec![map(json!({"_id": "k", "z": 1, "a": 2}))]);
        // Key order is kept.
        assert_eq!(found[0].keys().collect::<Vec<_>>(), ["_id", "z", "a"]);
    }
}
