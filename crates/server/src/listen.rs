//! Accepting connections within limits: how many at once (in total and per address), how
//! long a request's headers may take and a connection may idle, and how long a body may pause.
//!
//! `axum::serve` has none of these, so a few hundred slow or idle sockets could hold every
//! descriptor and starve `/health`. Here each accepted connection takes a slot of
//! [`Limits::max_connections`] and of its address's [`Limits::max_per_address`]; without one
//! it is answered `503` with `Retry-After` and closed, so a client is told rather than left
//! waiting in the kernel's backlog. The slots live in the socket itself ([`Slotted`]), so a
//! connection upgraded to a WebSocket keeps them for as long as it is open: a thousand idle
//! devices count against the cap like a thousand idle requests. hyper closes a connection
//! whose request headers (or, when idle, whose next request) take longer than
//! [`Limits::header_timeout`], and a body that sends nothing for [`Limits::body_pause`] ends
//! its request with an error.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_stream::StreamExt as _;
use tower::ServiceExt as _;

/// The limits of one server's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one address.
    pub max_per_address: usize,
    /// The longest a request's headers may take to arrive, and a kept-alive connection may
    /// wait for its next request.
    pub header_timeout: Duration,
    /// The longest a request body may send nothing.
    pub body_pause: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_per_address: 256,
            header_timeout: Duration::from_secs(15),
            body_pause: Duration::from_secs(30),
        }
    }
}

/// Open connections per address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// An address's slot, given back when the connection ends.
struct AddressSlot {
    counts: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then lets the open
/// requests finish (each connection is told to close after its current one).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let total = Arc::new(Semaphore::new(limits.max_connections));
    // Connections still speaking HTTP, which a shutdown waits for; WebSockets are ended by the
    // sessions' own shutdown once this returns.
    let serving = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, address) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, most likely: wait a little rather than spin.
                    tracing::warn!(%error, "Cannot accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "Cannot set TCP_NODELAY.");
        }
        let slots = Arc::clone(&total)
            .try_acquire_owned()
            .ok()
            .zip(per_address.take(address.ip(), limits.max_per_address));
        let (Some((total_slot, address_slot)), Ok(serving_slot)) =
            (slots, Arc::clone(&serving).try_acquire_owned())
        else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let stream = Slotted {
            stream,
            _slots: (total_slot, address_slot),
        };
        tokio::spawn(connection(
            stream,
            address,
            app.clone(),
            limits,
            serving_slot,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it stops speaking HTTP.
    let _ = serving.acquire_many(limits.max_connections as u32).await;
}

/// A connection's socket with its slots of the limits, given back when the socket is dropped:
/// at the connection's end, or a WebSocket's, whichever owns it last.
struct Slotted {
    stream: TcpStream,
    _slots: (OwnedSemaphorePermit, AddressSlot),
}

impl tokio::io::AsyncRead for Slotted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Slotted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The answer to a connection over the limits.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"detail": "too many connections; try again shortly"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

async fn connection(
    stream: Slotted,
    address: SocketAddr,
    app: Router,
    limits: Limits,
    serving: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let service = app.map_request(move |request: Request<Incoming>| {
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(address));
        let pause = limits.body_pause;
        let body = Body::from_stream(body_with_pause(Body::new(body), pause));
        Request::from_parts(parts, body)
    });
    let service = TowerToHyperService::new(service);
    // HTTP/1.1 only (what devices and the clients speak): hyper then times the very first
    // request's headers too, where protocol detection would wait for bytes untimed.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut conn = std::pin::pin!(
        builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    );
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%address, %error, "Connection ended with an error.");
                }
                break;
            }
            // Once told, the connection finishes its request and closes; then just wait.
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    drop(serving);
}

/// `body`'s chunks, ending with an error when none comes for `pause`.
fn body_with_pause(
    body: Body,
    pause: Duration,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    body.into_data_stream()
        .timeout(pause)
        .map(move |chunk| match chunk {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(error)) => Err(std::io::Error::other(error)),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the request body sent nothing for {} s", pause.as_secs()),
            )),
        })
}
