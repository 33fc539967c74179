//! Calling plugin code safely: every call into a plugin runs under a deadline, and a panic
//! becomes a value the caller records instead of unwinding into the host.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;

/// How a guarded call ended.
pub(crate) enum Invocation<T> {
    Returned(T),
    Panicked(String),
    TimedOut(Duration),
}

/// Runs `future` with a deadline, turning a panic into a value.
pub(crate) async fn guard<T>(deadline: Duration, future: impl Future<Output = T>) -> Invocation<T> {
    match tokio::time::timeout(deadline, AssertUnwindSafe(future).catch_unwind()).await {
        Ok(Ok(value)) => Invocation::Returned(value),
        Ok(Err(payload)) => Invocation::Panicked(panic_message(payload.as_ref())),
        Err(_) => Invocation::TimedOut(deadline),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
