//! Pieces every server shares: a log of what arrived that tests read while
//! the server runs, and a handle that stops the server's tasks when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a server received, in arrival order, shared between the serving tasks
/// and the test that inspects it (possibly while a connection is still open).
#[derive(Debug)]
pub(crate) struct Recorded<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Recorded<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Default for Recorded<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T: Clone> Recorded<T> {
    /// Locks the log. A panic in a test thread while holding the lock must not
    /// hide everything recorded so far, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends an entry and returns its index, for later [`Recorded::update`]s.
    pub(crate) fn push(&self, item: T) -> usize {
        let mut items = self.lock();
        items.push(item);
        items.len() - 1
    }

    /// Changes an entry in place, so tests see live progress of a connection.
    pub(crate) fn update(&self, index: usize, change: impl FnOnce(&mut T)) {
        if let Some(item) = self.lock().get_mut(index) {
            change(item);
        }
    }

    /// A copy of everything recorded so far.
    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.lock().clone()
    }
}

/// The server's main task; aborting it on drop is what makes "drop the handle"
/// stop the server. Connection tasks are tied to it (a `JoinSet` owned by the
/// accept loop, axum's per-connection shutdown signal, or a watch channel).
#[derive(Debug)]
pub(crate) struct ServerTask(JoinHandle<()>);

impl ServerTask {
    pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(future))
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Binds 127.0.0.1 on a port the OS picks, so parallel tests never collide.
pub(crate) async fn bind_local() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding 127.0.0.1:0 only fails when the machine has no loopback or free ports");
    let addr = listener
        .local_addr()
        .expect("a bound TCP listener always has a local address");
    (listener, addr)
}

/// Serves an axum router on a fresh local port. Aborting the returned task drops
/// axum's shutdown signal, which makes each open HTTP connection close gracefully.
pub(crate) async fn serve_axum(router: axum::Router) -> (ServerTask, SocketAddr) {
    let (listener, addr) = bind_local().await;
    let task = ServerTask::spawn(async move {
        // `serve` only returns on listener errors, which cannot be reported anywhere.
        let _ = axum::serve(listener, router).await;
    });
    (task, addr)
}
