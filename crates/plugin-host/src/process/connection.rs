//! One running plugin process and the JSON-RPC conversation with it.
//!
//! Four tasks per process: a writer (lines to stdin), a reader (lines from stdout: answers to
//! our requests, and the plugin's service requests, each served on its own task), a stderr
//! forwarder (the plugin's log), and a reaper that owns the child, kills its whole process
//! group on request and always waits for it, so no zombie is left behind.
//!
//! Everything a plugin can make the host hold is bounded: lines on stdout (16 MiB) and stderr
//! (64 KiB, the rest of a longer line is dropped), service requests served at once (64; the
//! reader stops reading until one finishes, which blocks the plugin's writes), and lines queued
//! for its stdin (256; senders wait).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chronicle_plugin_api::protocol::{JsonRpc2, Message, Request, Response, RpcError};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};

use super::launch::Launch;

/// The longest protocol line a plugin may send.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// The longest log line kept; the rest of a longer one is dropped.
const MAX_LOG_LINE: usize = 64 * 1024;
/// How many of the plugin's last log lines are kept for error messages.
const LOG_TAIL: usize = 20;
/// How many of the plugin's service requests are served at once.
const MAX_INBOUND: usize = 64;
/// How many lines may wait for the plugin's stdin.
const OUTGOING_QUEUE: usize = 256;

/// Why a request got no answer.
#[derive(Clone, Debug)]
pub enum CallError {
    /// The plugin answered with an error.
    Rpc(RpcError),
    /// The connection ended first; says how.
    Closed(String),
}

/// Serves the plugin's requests (its service calls).
pub trait Inbound: Send + Sync + 'static {
    /// The answer to `request`.
    fn handle(self: Arc<Self>, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send>>;
}

/// Requests waiting for an answer; once the connection has ended, why, so later requests fail
/// at once instead of waiting for their deadline.
#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, oneshot::Sender<Result<Value, CallError>>>,
    ended: Option<String>,
}

type SharedPending = Arc<Mutex<Pending>>;

/// A running plugin process. Dropping the last handle kills it.
pub struct Connection {
    pid: Option<u32>,
    outgoing: Mutex<Option<mpsc::Sender<String>>>,
    pending: SharedPending,
    next_id: AtomicU64,
    kill: Arc<Notify>,
    exit: watch::Receiver<Option<String>>,
    log_tail: Arc<Mutex<VecDeque<String>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Connection {
    /// Starts the process and its tasks.
    pub fn spawn(
        launch: &Launch,
        plugin_id: Arc<str>,
        inbound: Arc<dyn Inbound>,
    ) -> std::io::Result<Arc<Self>> {
        let mut command = launch.command(None);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: the host can kill everything the plugin started, and a
            // Ctrl-C at the terminal reaches the host, which stops plugins in order.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("the child's pipes were not set up"));
        };

        let (outgoing_tx, outgoing_rx) = mpsc::channel::<String>(OUTGOING_QUEUE);
        let pending: SharedPending = Arc::default();
        let kill = Arc::new(Notify::new());
        let (exit_tx, exit_rx) = watch::channel(None);
        let log_tail = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));

        tokio::spawn(write_lines(stdin, outgoing_rx));
        tokio::spawn(forward_log(
            stderr,
            Arc::clone(&plugin_id),
            Arc::clone(&log_tail),
        ));
        tokio::spawn(read_messages(
            stdout,
            Arc::clone(&plugin_id),
            Arc::clone(&pending),
            // Weak: closing input must not wait for the reader, which lives as long as stdout.
            outgoing_tx.downgrade(),
            inbound,
            Arc::clone(&kill),
        ));
        tokio::spawn(reap(child, pid, Arc::clone(&kill), exit_tx, plugin_id));

        Ok(Arc::new(Self {
            pid,
            outgoing: Mutex::new(Some(outgoing_tx)),
            pending,
            next_id: AtomicU64::new(1),
            kill,
            exit: exit_rx,
            log_tail,
        }))
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Sends a request and waits for its answer. Dropping the future forgets the request.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if let Some(how) = &pending.ended {
                return Err(CallError::Closed(format!("exited ({how})")));
            }
            pending.waiting.insert(id, tx);
        }
        let forget = ForgetOnDrop {
            pending: &self.pending,
            id,
        };
        let line = Message::Request(Request {
            jsonrpc: JsonRpc2,
            id,
            method: method.to_owned(),
            params,
        })
        .to_line();
        let sender = lock(&self.outgoing).clone();
        let sent = match sender {
            Some(sender) => sender.send(line).await.is_ok(),
            None => false,
        };
        if !sent {
            return Err(CallError::Closed("is no longer accepting requests".into()));
        }
        let answer = rx
            .await
            .unwrap_or_else(|_| Err(CallError::Closed("exited".into())));
        drop(forget);
        answer
    }

    /// Closes the plugin's stdin: it must exit.
    pub fn close_input(&self) {
        lock(&self.outgoing).take();
    }

    /// Kills the process and everything it started (the reaper waits for it).
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    /// Waits until the process has exited and returns how it ended.
    pub async fn exited(&self) -> String {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(status) => status.clone().unwrap_or_default(),
            Err(_) => "exited".to_owned(),
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// The plugin's last log lines, for error messages.
    pub fn log_tail(&self) -> Vec<String> {
        lock(&self.log_tail).iter().cloned().collect()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.kill();
    }
}

struct ForgetOnDrop<'a> {
    pending: &'a SharedPending,
    id: u64,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        lock(self.pending).waiting.remove(&self.id);
    }
}

async fn write_lines(mut stdin: tokio::process::ChildStdin, mut lines: mpsc::Receiver<String>) {
    while let Some(mut line) = lines.recv().await {
        line.push('\n');
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
    // Dropping stdin here is the end of input the plugin waits for.
}

async fn read_messages(
    stdout: tokio::process::ChildStdout,
    plugin_id: Arc<str>,
    pending: SharedPending,
    outgoing: mpsc::WeakSender<String>,
    inbound: Arc<dyn Inbound>,
    kill: Arc<Notify>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let serving = Arc::new(Semaphore::new(MAX_INBOUND));
    let ended = loop {
        line.clear();
        match read_line(&mut reader, &mut line, MAX_LINE).await {
            Ok(0) => break "closed its output".to_owned(),
            Ok(_) => {}
            Err(error) => break error,
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        match Message::parse(text) {
            Ok(Message::Response(response)) => {
                let waiting = lock(&pending).waiting.remove(&response.id);
                match waiting {
                    Some(tx) => {
                        let _ = tx.send(response.into_result().map_err(CallError::Rpc));
                    }
                    None => {
                        tracing::debug!(plugin = %plugin_id, id = response.id, "Answer to a request nobody waits for.")
                    }
                }
            }
            Ok(Message::Request(request)) => {
                // Waiting here stops reading, which in turn blocks the plugin's writes.
                let Ok(permit) = Arc::clone(&serving).acquire_owned().await else {
                    break "could not be served".to_owned();
                };
                let inbound = Arc::clone(&inbound);
                let outgoing = outgoing.clone();
                tokio::spawn(async move {
                    let response = inbound.handle(request).await;
                    if let Some(outgoing) = outgoing.upgrade() {
                        let _ = outgoing.send(Message::Response(response).to_line()).await;
                    }
                    drop(permit);
                });
            }
            Err(error) => break format!("sent a malformed message ({error})"),
        }
    };
    tracing::debug!(plugin = %plugin_id, reason = %ended, "Plugin output ended.");
    // Whatever ended the stream, the process is done for: make sure it is.
    kill.notify_one();
    let waiting: Vec<_> = {
        let mut pending = lock(&pending);
        pending.ended = Some(ended.clone());
        pending.waiting.drain().collect()
    };
    for (_, tx) in waiting {
        let _ = tx.send(Err(CallError::Closed(format!("exited ({ended})"))));
    }
}

/// Reads one line into `line`, refusing lines over `limit` bytes. Returns 0 at end of input.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, String> {
    loop {
        let available = reader
            .fill_buf()
            .await
            .map_err(|error| format!("read failed: {error}"))?;
        if available.is_empty() {
            return Ok(line.len());
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        line.extend_from_slice(chunk);
        let consumed = chunk.len();
        reader.consume(consumed);
        if line.len() > limit {
            return Err(format!("sent a line over {limit} bytes"));
        }
        if done {
            return Ok(line.len());
        }
    }
}

/// Forwards the plugin's stderr to the host's log, line by line: lossy UTF-8, long lines cut.
async fn forward_log(
    stderr: tokio::process::ChildStderr,
    plugin_id: Arc<str>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        let text = match read_line(&mut reader, &mut line, MAX_LOG_LINE).await {
            Ok(0) => return,
            Ok(_) => String::from_utf8_lossy(&line).trim_end().to_owned(),
            Err(_) => {
                // Too long (or a read error mid-line): keep the start, drop the rest.
                let kept = &line[..line.len().min(MAX_LOG_LINE)];
                let text = String::from_utf8_lossy(kept).into_owned() + " [cut]";
                if skip_rest_of_line(&mut reader).await.is_err() {
                    return;
                }
                text
            }
        };
        let level = text.split([' ', ':']).next().unwrap_or("");
        match level {
            "ERROR" | "CRITICAL" => {
                tracing::error!(target: "plugin", plugin = %plugin_id, "{text}")
            }
            "WARNING" | "WARN" => tracing::warn!(target: "plugin", plugin = %plugin_id, "{text}"),
            "DEBUG" => tracing::debug!(target: "plugin", plugin = %plugin_id, "{text}"),
            _ => tracing::info!(target: "plugin", plugin = %plugin_id, "{text}"),
        }
        let mut tail = lock(&tail);
        if tail.len() == LOG_TAIL {
            tail.pop_front();
        }
        tail.push_back(text);
    }
}

async fn skip_rest_of_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> std::io::Result<()> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(());
            }
            None => {
                let all = available.len();
                reader.consume(all);
            }
        }
    }
}

async fn reap(
    mut child: tokio::process::Child,
    pid: Option<u32>,
    kill: Arc<Notify>,
    exit: watch::Sender<Option<String>>,
    plugin_id: Arc<str>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = kill.notified() => {
            kill_group(pid);
            let _ = child.start_kill();
            child.wait().await
        }
    };
    // Whatever the plugin started in its group goes with it.
    kill_group(pid);
    let description = match status {
        Ok(status) => match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => status.to_string(),
        },
        Err(error) => format!("could not be waited for: {error}"),
    };
    tracing::debug!(plugin = %plugin_id, status = %description, "Plugin process ended.");
    let _ = exit.send(Some(description));
}

/// SIGKILL to the plugin's process group (its id is the plugin's pid, see `process_group(0)`).
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
