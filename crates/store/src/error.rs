//! What can go wrong in the store, in words a caller can act on.

/// What went wrong in the store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such row (or not one the owner may see).
    #[error("not found")]
    NotFound,
    /// The write clashes with what is stored (a duplicate email, …).
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be stored as asked (an empty email, an unknown user, …).
    #[error("{0}")]
    Invalid(String),
    /// SQLite failed, or the file could not be opened.
    #[error("database error: {0}")]
    Database(String),
}

/// A blocking storage task that panicked or was cancelled.
pub(crate) fn task_failed(error: tokio::task::JoinError) -> StoreError {
    StoreError::Database(format!("a storage task did not finish: {error}"))
}
