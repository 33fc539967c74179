//! Connections, retries and migrations.
//!
//! One writer connection behind a mutex takes every write, each in a `BEGIN IMMEDIATE`
//! transaction (so the write lock is taken up front, where `busy_timeout` applies, never upgraded
//! halfway). A small pool of `query_only` reader connections serves reads; in WAL mode they read a
//! consistent snapshot while the writer writes. Within one process the writer never waits for
//! another writer; another process holding the database (the CLI beside the server) is waited for
//! by SQLite's `busy_timeout`, and, as a last resort, by retrying the whole operation with
//! backoff, so "database is locked" never reaches a caller while a lock is merely held a while.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior, ffi};

use crate::StoreError;

/// How long SQLite itself waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);
/// Retries of a whole operation that still found the database busy, with doubling delays.
const BUSY_RETRIES: u32 = 5;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(25);
/// Reader connections opened at most; readers beyond wait for one to come back.
const MAX_READERS: usize = 4;

/// One schema change, embedded in the binary. The schema version after it is its position + 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in order. Append only; a shipped migration never changes.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        name: "0002_sessions",
        sql: include_str!("../migrations/0002_sessions.sql"),
    },
    Migration {
        name: "0003_transcription",
        sql: include_str!("../migrations/0003_transcription.sql"),
    },
    Migration {
        name: "0004_delivery",
        sql: include_str!("../migrations/0004_delivery.sql"),
    },
    Migration {
        name: "0005_token_generation",
        sql: include_str!("../migrations/0005_token_generation.sql"),
    },
    Migration {
        name: "0006_user_active",
        sql: include_str!("../migrations/0006_user_active.sql"),
    },
    Migration {
        name: "0007_api_keys",
        sql: include_str!("../migrations/0007_api_keys.sql"),
    },
    Migration {
        name: "0008_search_index",
        sql: include_str!("../migrations/0008_search_index.sql"),
    },
    Migration {
        name: "0009_vectors",
        sql: include_str!("../migrations/0009_vectors.sql"),
    },
    Migration {
        name: "0010_chat",
        sql: include_str!("../migrations/0010_chat.sql"),
    },
];

/// A failure inside a storage operation: SQLite's (which may be worth a retry) or ours.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(error)
    }
}

impl From<StoreError> for DbError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<serde_json::Error> for DbError {
    fn from(error: serde_json::Error) -> Self {
        Self::Store(StoreError::Database(format!("invalid JSON: {error}")))
    }
}

/// `error` as the caller sees it.
pub(crate) fn store_error(error: DbError) -> StoreError {
    match error {
        DbError::Store(error) => error,
        DbError::Sqlite(error) => StoreError::Database(error.to_string()),
    }
}

/// Whether SQLite refused for a lock someone else holds.
fn is_busy(error: &DbError) -> bool {
    matches!(error, DbError::Sqlite(error)
        if matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)))
}

/// Whether `error` is the violation of a constraint of kind `extended_code`
/// (`ffi::SQLITE_CONSTRAINT_UNIQUE`, …).
pub(crate) fn violates(error: &rusqlite::Error, extended_code: i32) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(failure, _) if failure.extended_code == extended_code)
}

/// Whether `error` is a unique or primary key violation.
pub(crate) fn is_duplicate(error: &rusqlite::Error) -> bool {
    violates(error, ffi::SQLITE_CONSTRAINT_UNIQUE)
        || violates(error, ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// A `usize` count as an SQL `LIMIT`/`OFFSET` (saturating).
pub(crate) fn sql_count(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A JSON column parsed into `T`, as a row-mapping error if it is not valid.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

/// A nullable column holding an [`EndReason`](chronicle_plugin_api::EndReason) by name.
pub(crate) fn end_reason_column(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<chronicle_plugin_api::EndReason>> {
    let Some(text) = row.get::<_, Option<String>>(index)? else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

/// The open database: one writer, a pool of readers.
pub(crate) struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: ReaderPool,
    /// How many migrations this open applied (0 when the schema was current).
    pub(crate) migrations_applied: usize,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let (writer, migrations_applied) = retry(path, || {
            let mut writer = open_connection(path, Role::Writer)?;
            let applied = migrate(&mut writer, MIGRATIONS)?;
            Ok((writer, applied))
        })?;
        if migrations_applied > 0 {
            tracing::info!(
                message = "database schema migrated",
                path = %path.display(),
                applied = migrations_applied,
                version = MIGRATIONS.len(),
            );
        }
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: ReaderPool {
                path: path.to_owned(),
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    opened: 0,
                }),
                returned: Condvar::new(),
            },
            migrations_applied,
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one immediate transaction on the writer and commits; retried whole if the
    /// database is busy, rolled back if `f` fails. Blocks: call from `spawn_blocking`.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        let mut writer = lock(&self.writer);
        retry(&self.path, || {
            let tx = writer.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// Runs `f` on a reader connection (read only); retried whole if the database is busy.
    /// Blocks: call from `spawn_blocking`.
    pub(crate) fn read<T>(
        &self,
        mut f: impl FnMut(&Connection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        retry(&self.path, || {
            let reader = self.readers.get()?;
            f(&reader)
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside an operation rolled its transaction back while unwinding: the connection
    // is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `attempt`, again with doubling delays while the database is busy, and turns what is
/// left into a [`StoreError`].
fn retry<T>(path: &Path, mut attempt: impl FnMut() -> Result<T, DbError>) -> Result<T, StoreError> {
    let mut delay = FIRST_RETRY_DELAY;
    let mut retries = 0;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(error) if is_busy(&error) && retries < BUSY_RETRIES => {
                tracing::warn!(
                    message = "database busy, retrying",
                    path = %path.display(),
                    retry = retries + 1,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                );
                thread::sleep(delay);
                delay *= 2;
                retries += 1;
            }
            Err(error) if is_busy(&error) => {
                return Err(StoreError::Database(format!(
                    "{} stayed busy for over {} s: another program keeps a lock on it \
                     (another Chronicle server or CLI on the same data directory?); stop it or \
                     try again",
                    path.display(),
                    BUSY_TIMEOUT.as_secs() * u64::from(BUSY_RETRIES + 1)
                )));
            }
            Err(DbError::Store(error)) => return Err(error),
            Err(DbError::Sqlite(error)) => {
                return Err(StoreError::Database(format!("{}: {error}", path.display())));
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

fn open_connection(path: &Path, role: Role) -> Result<Connection, DbError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    match role {
        Role::Writer => {
            let mode: String =
                connection
                    .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(
                    message = "the database is not in WAL mode: readers will wait for writers",
                    path = %path.display(),
                    journal_mode = %mode,
                );
            }
        }
        Role::Reader => connection.pragma_update(None, "query_only", "ON")?,
    }
    Ok(connection)
}

/// Applies the migrations after the database's `user_version`, in order, in one transaction,
/// and returns how many it applied.
pub(crate) fn migrate(
    connection: &mut Connection,
    migrations: &[Migration],
) -> Result<usize, DbError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let current = usize::try_from(version).unwrap_or(usize::MAX);
    if current > migrations.len() {
        return Err(StoreError::Invalid(format!(
            "the database has schema version {version} but this Chronicle knows versions up to \
             {}: it was written by a newer Chronicle; upgrade Chronicle or use another data \
             directory",
            migrations.len()
        ))
        .into());
    }
    for (index, migration) in migrations.iter().enumerate().skip(current) {
        tx.execute_batch(migration.sql).map_err(|error| {
            StoreError::Database(format!("migration {} failed: {error}", migration.name))
        })?;
        tx.pragma_update(None, "user_version", sql_count(index + 1))?;
    }
    tx.commit()?;
    Ok(migrations.len() - current)
}

/// Reader connections, opened on demand up to [`MAX_READERS`].
struct ReaderPool {
    path: PathBuf,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    opened: usize,
}

impl ReaderPool {
    fn get(&self) -> Result<Reader<'_>, DbError> {
        let mut state = lock(&self.state);
        loop {
            if let Some(connection) = state.idle.pop() {
                return Ok(Reader {
                    pool: self,
                    connection: Some(connection),
                });
            }
            if state.opened < MAX_READERS {
                state.opened += 1;
                drop(state);
                return match open_connection(&self.path, Role::Reader) {
                    Ok(connection) => Ok(Reader {
                        pool: self,
                        connection: Some(connection),
                    }),
                    Err(error) => {
                        lock(&self.state).opened -= 1;
                        self.returned.notify_one();
                        Err(error)
                    }
                };
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A reader connection on loan; goes back to the pool when dropped.
struct Reader<'a> {
    pool: &'a ReaderPool,
    connection: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
            .as_ref()
            .expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            lock(&self.pool.state).idle.push(connection);
            self.pool.returned.notify_one();
        }
    }
}

/// Serializes an optional value as whether it is there: for fields whose content stays on
/// the server (a file's path).
pub(crate) fn serialize_is_some<T, S: serde::Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(value.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_are_numbered_in_order() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            let prefix = format!("{:04}_", index + 1);
            assert!(migration.name.starts_with(&prefix), "{}", migration.name);
        }
    }

    #[test]
    fn migrations_run_in_order_once_and_a_failing_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let first = Migration {
            name: "0001_a",
            sql: "CREATE TABLE a (x INTEGER);",
        };
        let second = Migration {
            name: "0002_b",
            sql: "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);",
        };
        let broken = Migration {
            name: "0003_broken",
            sql: "CREATE TABLE c (x INTEGER); THIS IS NOT SQL;",
        };
        let mut connection = open_connection(&path, Role::Writer).unwrap();
        assert_eq!(migrate(&mut connection, &[first]).unwrap(), 1);
        assert_eq!(migrate(&mut connection, &[first, second]).unwrap(), 1);
        assert_eq!(migrate(&mut connection, &[first, second]).unwrap(), 0);
        let rows: i64 = connection
            .query_row("SELECT count(*) FROM a", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 1, "the second migration ran once");

        let error = migrate(&mut connection, &[first, second, broken]).unwrap_err();
        assert!(
            matches!(&error, DbError::Store(StoreError::Database(message)) if message.contains("0003_broken")),
            "{error:?}"
        );
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let tables: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'c'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "the failed migration was rolled back");

        let error = migrate(&mut connection, &[first]).unwrap_err();
        assert!(
            matches!(&error, DbError::Store(StoreError::Invalid(message)) if message.contains("newer Chronicle")),
            "{error:?}"
        );
    }

    #[test]
    fn connections_use_wal_and_the_agreed_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("test.db")).unwrap();
        let pragmas = |connection: &Connection| -> Result<(String, i64, i64, i64), DbError> {
            let get = |name: &str| -> rusqlite::Result<i64> {
                connection.pragma_query_value(None, name, |row| row.get(0))
            };
            let mode: String =
                connection.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
            Ok((
                mode,
                get("synchronous")?,
                get("foreign_keys")?,
                get("busy_timeout")?,
            ))
        };
        // synchronous NORMAL is 1.
        let expected = ("wal".to_owned(), 1, 1, 5000);
        assert_eq!(db.write(|tx| pragmas(tx)).unwrap(), expected);
        assert_eq!(db.read(pragmas).unwrap(), expected);
        let error = db
            .read(|connection| Ok(connection.execute("DELETE FROM users", [])?))
            .unwrap_err();
        assert!(matches!(error, StoreError::Database(_)), "{error:?}");
    }

    fn busy() -> DbError {
        DbError::Sqlite(rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        ))
    }

    #[test]
    fn busy_operations_are_retried_and_a_lasting_lock_is_explained() {
        let path = Path::new("/data/chronicle.db");
        let mut attempts = 0;
        let value = retry(path, || {
            attempts += 1;
            if attempts < 3 {
                Err(busy())
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(value, Ok(3));

        let mut attempts = 0;
        let error = retry(path, || -> Result<(), DbError> {
            attempts += 1;
            Err(busy())
        })
        .unwrap_err();
        assert_eq!(attempts, BUSY_RETRIES + 1);
        let StoreError::Database(message) = error else {
            panic!("{error:?}")
        };
        assert!(message.contains("stayed busy"), "{message}");
        assert!(!message.contains("locked"), "{message}");

        let mut attempts = 0;
        let error = retry(path, || -> Result<(), DbError> {
            attempts += 1;
            Err(StoreError::NotFound.into())
        });
        assert_eq!((error, attempts), (Err(StoreError::NotFound), 1));
    }

    #[test]
    fn a_lock_held_by_another_connection_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let db = Db::open(&path).unwrap();
        // Another process holds the write lock for a while, then lets go.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let holder = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        db.write(|tx| {
            Ok(tx.execute(
                "INSERT INTO event_log (event, user_id, timestamp, record) VALUES ('e', 'u', 't', '{}')",
                [],
            )?)
        })
        .unwrap();
        holder.join().unwrap();
    }
}
