//! Calling plugin code safely: every call into a plugin runs under a deadline, and a panic
//! becomes a value the caller records instead of unwinding into the host.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;
use std::time::Duration;

use futures_util::FutureExt;

/// How a guarded call ended.
pub(crate) enum Invocation<T> {
    Returned(T),
    Panicked(String),
    TimedOut(Duration),
}

/// Runs `future` with a deadline, turning a panic into a value.
///
/// Most plugin calls finish in their first poll; they get no timer. A call that waits gets
/// the whole deadline from then on (a first poll cannot be cut short in any case: the
/// deadline only fires while the call waits).
pub(crate) async fn guard<T>(deadline: Duration, future: impl Future<Output = T>) -> Invocation<T> {
    let mut call = std::pin::pin!(AssertUnwindSafe(future).catch_unwind());
    let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
    let ended = match first {
        Poll::Ready(ended) => ended,
        Poll::Pending => match tokio::time::timeout(deadline, call).await {
            Ok(ended) => ended,
            Err(_) => return Invocation::TimedOut(deadline),
        },
    };
    match ended {
        Ok(value) => Invocation::Returned(value),
        Err(payload) => Invocation::Panicked(panic_message(payload.as_ref())),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
