//! The [`Store`] itself: opening the database in its data folder, and running reads and
//! writes on blocking threads; [`Owner`], whose data a read may see.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, Transaction};

use crate::db::{Db, DbError};
use crate::error::{StoreError, task_failed};
use crate::folder::DataFolder;
use crate::steps::StepSender;

/// The default number of event log records kept.
pub const DEFAULT_EVENT_LOG_CAPACITY: usize = 10_000;

/// Whose data a read may see.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Only the rows of this user id.
    User(String),
    /// Every user's rows.
    Admin,
}

impl Owner {
    /// The user the rows must belong to, `None` for an admin (bound as SQL `NULL`, matched by
    /// `(?n IS NULL OR user_id = ?n)`).
    pub(crate) fn user_id(&self) -> Option<&str> {
        match self {
            Self::User(id) => Some(id),
            Self::Admin => None,
        }
    }
}

/// How to open a [`Store`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Event log records kept; older ones are dropped after each append.
    pub event_log_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            event_log_capacity: DEFAULT_EVENT_LOG_CAPACITY,
        }
    }
}

/// Chronicle's database. Cheap to clone; all clones share the connections.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<Db>,
    folder: DataFolder,
    options: Arc<StoreOptions>,
    /// The delivery queue's step writer, started on first use (see `delivery.rs`).
    pub(crate) steps: Arc<std::sync::OnceLock<StepSender>>,
    /// The embedding model's vectors in memory, loaded by the first search by meaning.
    pub(crate) vectors: crate::vector_index::SharedIndex,
    /// Woken when a memory or a transcript is written: there may be text to embed.
    pub(crate) text_changed: Arc<tokio::sync::Notify>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens `data_dir/chronicle.db` (creating the folder and the file if needed) with the
    /// default options, and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, StoreOptions::default()).await
    }

    /// Opens `data_dir/chronicle.db` with `options`.
    pub async fn open_with(data_dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        // Absolute, so the paths stored in it do not depend on where Chronicle was started.
        let folder = DataFolder::absolute(data_dir).unwrap_or_else(|_| DataFolder::new(data_dir));
        let database = folder.database();
        let data_dir = data_dir.to_owned();
        let db = tokio::task::spawn_blocking(move || -> Result<Db, StoreError> {
            std::fs::create_dir_all(&data_dir).map_err(|error| {
                StoreError::Database(format!(
                    "cannot create the data directory {}: {error}; check its path and \
                     permissions",
                    data_dir.display()
                ))
            })?;
            let db = Db::open(&database)?;
            // The database holds password hashes and the folder recordings: nobody else's to
            // read. (SQLite gives its WAL and shared-memory files the database's mode.)
            if let Err(error) = DataFolder::new(&data_dir).make_private() {
                tracing::warn!(%error, folder = %data_dir.display(), "Cannot make the data folder private.");
            }
            Ok(db)
        })
        .await
        .map_err(task_failed)??;
        Ok(Self {
            db: Arc::new(db),
            folder,
            options: Arc::new(options),
            steps: Arc::default(),
            vectors: Arc::default(),
            text_changed: Arc::default(),
        })
    }

    /// Resolves once a memory or transcript is written after the call (or was written since
    /// the last wait ended): the background embedder's cue.
    pub async fn text_changed(&self) {
        self.text_changed.notified().await;
    }

    /// The data folder the store is in, and where everything else in it lives.
    pub fn folder(&self) -> &DataFolder {
        &self.folder
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.db.path().to_owned()
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// How many migrations opening this store applied (0 when the schema was current).
    pub fn migrations_applied(&self) -> usize {
        self.db.migrations_applied
    }

    /// Runs `f` in one write transaction on a blocking thread.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || db.write(f))
            .await
            .map_err(task_failed)?
    }

    /// Runs `f` on a reader connection on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || db.read(f))
            .await
            .map_err(task_failed)?
    }
}

/// A new random id (UUID v4, hyphenated, no braces).
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventLogRow, db, time};

    #[test]
    fn store_is_clone_send_sync() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<Store>();
    }

    #[tokio::test]
    async fn open_creates_the_folder_and_reopening_keeps_data_without_migrating_again() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/data");
        let store = Store::open(&data_dir).await.unwrap();
        assert_eq!(store.path(), data_dir.join("chronicle.db"));
        assert_eq!(store.migrations_applied(), db::MIGRATIONS.len());
        assert_eq!(
            store.options().event_log_capacity,
            DEFAULT_EVENT_LOG_CAPACITY
        );
        let user = store
            .create_user("ana@example.com", "hash", false)
            .await
            .unwrap();
        drop(store);

        let reopened = Store::open(&data_dir).await.unwrap();
        assert_eq!(reopened.migrations_applied(), 0);
        assert_eq!(reopened.user(&user.id).await.unwrap(), Some(user));
    }

    #[tokio::test]
    async fn two_stores_on_one_folder_see_each_others_writes() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path()).await.unwrap();
        let second = Store::open(dir.path()).await.unwrap();
        let user = first.create_user("a@b.c", "h", true).await.unwrap();
        assert_eq!(second.user_by_email("A@B.C").await.unwrap(), Some(user));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_concurrent_writers_and_readers_never_see_database_is_locked() {
        const TASKS: usize = 8;
        const INSERTS: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        // A second store on the same file stands for another process: its writer contends with
        // ours through SQLite's locks, not our mutex.
        let other = Store::open(dir.path()).await.unwrap();
        let user = store.create_user("ana@x", "h", false).await.unwrap();

        let mut writers = Vec::new();
        for task in 0..TASKS {
            let store = if task % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            let user_id = user.id.clone();
            writers.push(tokio::spawn(async move {
                for insert in 0..INSERTS {
                    store
                        .add_memory(&user_id, None, &format!("task {task} memory {insert}"))
                        .await?;
                    if insert % 50 == 0 {
                        store
                            .append_events(vec![EventLogRow {
                                event: "e".into(),
                                user_id: user_id.clone(),
                                timestamp: time::now(),
                                record: serde_json::json!({"task": task}),
                            }])
                            .await?;
                    }
                }
                Ok::<_, StoreError>(())
            }));
        }
        let mut readers = Vec::new();
        for reader in 0..3 {
            let store = if reader % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            readers.push(tokio::spawn(async move {
                for _ in 0..50 {
                    store.list_memories(&Owner::Admin, 20).await?;
                    store.search_memories(&Owner::Admin, "task 3", 5).await?;
                    store
                        .recent_events(&Owner::Admin, &crate::EventFilter::newest(5))
                        .await?;
                }
                Ok::<_, StoreError>(())
            }));
        }
        for handle in writers.into_iter().chain(readers) {
            handle.await.unwrap().unwrap();
        }
        let stored = store
            .list_memories(&Owner::Admin, TASKS * INSERTS + 1)
            .await
            .unwrap();
        assert_eq!(stored.len(), TASKS * INSERTS);
        assert_eq!(
            other
                .recent_events(&Owner::Admin, &crate::EventFilter::newest(100))
                .await
                .unwrap()
                .len(),
            TASKS * INSERTS / 50
        );
    }

    #[tokio::test]
    async fn a_data_dir_that_is_a_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let error = Store::open(&file).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Database(message) if message.contains("data directory")),
            "{error:?}"
        );
    }
}
