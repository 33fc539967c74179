//! One running plugin process and the JSON-RPC conversation with it.
//!
//! Four tasks per process: a writer (lines to stdin), a reader (lines from stdout: answers to
//! our requests, and the plugin's service requests, each served on its own task), a stderr
//! forwarder (the plugin's log), and a reaper that owns the child, kills it on request and
//! always waits for it, so no zombie is left behind.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chronicle_plugin_api::protocol::{JsonRpc2, Message, Request, Response, RpcError};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::launch::Launch;

/// The longest line either side may send.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// How many of the plugin's last log lines are kept for error messages.
const LOG_TAIL: usize = 20;

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

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, CallError>>>>>;

/// A running plugin process.
pub struct Connection {
    pid: Option<u32>,
    outgoing: Mutex<Option<mpsc::UnboundedSender<String>>>,
    pending: Pending,
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
        let mut command = tokio::process::Command::new(&launch.program);
        command
            .args(&launch.args)
            .current_dir(&launch.cwd)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches the host, which then
            // shuts plugins down in order, rather than every plugin at once.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("the child's pipes were not set up"));
        };

        let (outgoing_tx, outgoing_rx) = mpsc::unbounded_channel::<String>();
        let pending: Pending = Arc::default();
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
        tokio::spawn(reap(child, Arc::clone(&kill), exit_tx, plugin_id));

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
        lock(&self.pending).insert(id, tx);
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
        let sent = lock(&self.outgoing)
            .as_ref()
            .is_some_and(|tx| tx.send(line).is_ok());
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

    /// Kills the process (it is reaped by its reaper task).
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

struct ForgetOnDrop<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.id);
    }
}

async fn write_lines(
    mut stdin: tokio::process::ChildStdin,
    mut lines: mpsc::UnboundedReceiver<String>,
) {
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
    pending: Pending,
    outgoing: mpsc::WeakUnboundedSender<String>,
    inbound: Arc<dyn Inbound>,
    kill: Arc<Notify>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let ended = loop {
        line.clear();
        match read_line(&mut reader, &mut line).await {
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
                let waiting = lock(&pending).remove(&response.id);
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
                let inbound = Arc::clone(&inbound);
                let outgoing = outgoing.clone();
                tokio::spawn(async move {
                    let response = inbound.handle(request).await;
                    if let Some(outgoing) = outgoing.upgrade() {
                        let _ = outgoing.send(Message::Response(response).to_line());
                    }
                });
            }
            Err(error) => break format!("sent a malformed message ({error})"),
        }
    };
    tracing::debug!(plugin = %plugin_id, reason = %ended, "Plugin output ended.");
    // Whatever ended the stream, the process is done for: make sure it is.
    kill.notify_one();
    let waiting: Vec<_> = lock(&pending).drain().collect();
    for (_, tx) in waiting {
        let _ = tx.send(Err(CallError::Closed(format!("exited ({ended})"))));
    }
}

/// Reads one line, refusing lines over [`MAX_LINE`].
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
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
        if line.len() > MAX_LINE {
            return Err(format!("sent a line over {MAX_LINE} bytes"));
        }
        if done {
            return Ok(line.len());
        }
    }
}

async fn forward_log(
    stderr: tokio::process::ChildStderr,
    plugin_id: Arc<str>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let level = line.split([' ', ':']).next().unwrap_or("");
        match level {
            "ERROR" | "CRITICAL" => {
                tracing::error!(target: "plugin", plugin = %plugin_id, "{line}")
            }
            "WARNING" | "WARN" => tracing::warn!(target: "plugin", plugin = %plugin_id, "{line}"),
            "DEBUG" => tracing::debug!(target: "plugin", plugin = %plugin_id, "{line}"),
            _ => tracing::info!(target: "plugin", plugin = %plugin_id, "{line}"),
        }
        let mut tail = lock(&tail);
        if tail.len() == LOG_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

async fn reap(
    mut child: tokio::process::Child,
    kill: Arc<Notify>,
    exit: watch::Sender<Option<String>>,
    plugin_id: Arc<str>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = kill.notified() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
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
