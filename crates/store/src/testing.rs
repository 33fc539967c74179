//! Fixtures for the store's tests.

use crate::{Store, User};

/// A store in a fresh temp folder (kept alive by the returned guard).
pub async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).await.expect("open");
    (dir, store)
}

/// A fresh store with two users, ana and bob.
pub async fn store_with_two_users() -> (tempfile::TempDir, Store, User, User) {
    let (dir, store) = store().await;
    let ana = store.create_user("ana@x", "h", false).await.expect("ana");
    let bob = store.create_user("bob@x", "h", false).await.expect("bob");
    (dir, store, ana, bob)
}
