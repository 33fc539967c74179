//! The process runtime: plugins in their own process, speaking the wire protocol
//! (`chronicle_plugin_api::protocol`) over stdio — Python plugins under the SDK's runner, and
//! any executable with a `plugin.toml`.
//!
//! A [`ProcessPlugin`] implements the same [`Plugin`] trait as a native plugin, so the router
//! treats both alike. Behind it a small supervisor keeps one process alive: handshake within a
//! deadline, restart with exponential backoff after a crash (the plugin reads as degraded
//! meanwhile), kill and restart when a call overruns its deadline, and an orderly stop.
//!
//! Architecture Invariant: every process this module starts is waited for (no zombies), is
//! killed when its handle is dropped, and sees end of input when the host goes away, which the
//! protocol obliges it to exit on.

mod connection;
pub mod launch;
pub mod python_env;
pub mod sandbox;
pub mod sdk;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use chronicle_plugin_api::protocol::{
    self, HandleEventParams, HandleEventResult, InitializeParams, InitializeResult, Request,
    Response, RpcError, ServiceCall, ServiceRequest, WireDelivery, code, method,
};
use chronicle_plugin_api::{
    HandlerOutcome, HealthReport, Plugin, PluginContext, PluginError, ServiceError, Services,
    async_trait,
};
use serde_json::{Value, json};

use self::connection::{CallError, Connection, Inbound};
use self::launch::{Launch, ProcessOptions};

/// How long `health_check` and `cleanup` may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// A plugin running in a child process.
pub struct ProcessPlugin {
    shared: Arc<Shared>,
}

struct Shared {
    id: Arc<str>,
    launch: Launch,
    init: InitializeParams,
    options: ProcessOptions,
    state: Mutex<State>,
    /// Restarts after a crash or an overrun, for `plugin list`.
    restarts: AtomicU32,
    /// Failed starts in a row, for the backoff.
    consecutive_failures: AtomicU32,
    next_context: AtomicU64,
    /// The services of each `handle_event` in flight, by `context_id`.
    in_flight: Mutex<HashMap<String, Arc<dyn Services>>>,
    /// Services for calls made outside a handler (user `system`).
    fallback: OnceLock<Arc<dyn Services>>,
    info: Mutex<Option<InitializeResult>>,
}

enum State {
    NotStarted,
    Running {
        connection: Arc<Connection>,
        generation: u64,
        since: Instant,
    },
    /// Crashed or overran; the watcher of `generation` restarts it. `since` is when that
    /// process had started, for the backoff.
    Down {
        error: String,
        generation: u64,
        since: Instant,
    },
    Stopped,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProcessPlugin {
    /// A plugin that will run `launch` when initialized.
    pub fn new(launch: Launch, init: InitializeParams, options: ProcessOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                id: Arc::from(init.plugin_id.as_str()),
                launch,
                init,
                options,
                state: Mutex::new(State::NotStarted),
                restarts: AtomicU32::new(0),
                consecutive_failures: AtomicU32::new(0),
                next_context: AtomicU64::new(1),
                in_flight: Mutex::new(HashMap::new()),
                fallback: OnceLock::new(),
                info: Mutex::new(None),
            }),
        }
    }

    /// Services for requests the plugin makes outside a handler; set once by the host.
    pub(crate) fn set_fallback_services(&self, services: Arc<dyn Services>) {
        let _ = self.shared.fallback.set(services);
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        match &*lock(&self.shared.state) {
            State::Running { connection, .. } => connection.pid(),
            _ => None,
        }
    }

    /// How often the process was restarted.
    pub fn restarts(&self) -> u32 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// Why the plugin cannot take calls right now, if it cannot (crashed, restarting).
    pub fn down_reason(&self) -> Option<String> {
        match &*lock(&self.shared.state) {
            State::Down { error, .. } => Some(error.clone()),
            _ => None,
        }
    }

    /// Who the plugin said it is in the handshake.
    pub fn info(&self) -> Option<InitializeResult> {
        lock(&self.shared.info).clone()
    }
}

impl Drop for ProcessPlugin {
    /// A dropped plugin (a host dropped without `shutdown`) stops its process and its restarts.
    fn drop(&mut self) {
        if let State::Running { connection, .. } =
            std::mem::replace(&mut *lock(&self.shared.state), State::Stopped)
        {
            connection.kill();
        }
    }
}

impl Shared {
    /// Starts a process and shakes hands; on success the plugin is running. Boxed because a
    /// start spawns the watcher that may start again.
    fn start(
        self: &Arc<Self>,
    ) -> Pin<Box<dyn Future<Output = Result<(), PluginError>> + Send + '_>> {
        Box::pin(self.start_process())
    }

    /// Makes the plugin's virtual environment if its folder lists packages and it is not made
    /// yet; quick once it is.
    async fn prepare(&self) -> Result<(), PluginError> {
        let Some(env) = &self.launch.python_env else {
            return Ok(());
        };
        env.ensure().await.map_err(|error| {
            PluginError::broken(format!(
                "cannot install the packages {} lists: {error}",
                match &env.requirements {
                    python_env::Requirements::File(_) => "requirements.txt",
                    python_env::Requirements::List(_) => "pyproject.toml",
                }
            ))
        })
    }

    async fn start_process(self: &Arc<Self>) -> Result<(), PluginError> {
        if matches!(*lock(&self.state), State::Stopped) {
            return Err(PluginError::broken("stopped"));
        }
        self.prepare().await?;
        let inbound: Arc<dyn Inbound> = Arc::clone(self) as Arc<dyn Inbound>;
        let connection =
            Connection::spawn(&self.launch, Arc::clone(&self.id), inbound).map_err(|error| {
                PluginError::broken(format!(
                    "cannot start `{}`: {error}",
                    self.launch.describe()
                ))
            })?;
        let params = serde_json::to_value(&self.init)
            .map_err(|error| PluginError::broken(error.to_string()))?;
        let answer = tokio::time::timeout(
            self.options.handshake_timeout,
            connection.request(method::INITIALIZE, params),
        )
        .await;
        let info = match answer {
            Err(_) => {
                connection.kill();
                return Err(PluginError::unreachable(format!(
                    "no answer to initialize within {} s",
                    self.options.handshake_timeout.as_secs_f64()
                )));
            }
            Ok(Err(CallError::Rpc(error))) => {
                connection.kill();
                return Err(match error.code {
                    code::PLUGIN_UNREACHABLE => PluginError::unreachable(error.message),
                    _ => PluginError::broken(error.message),
                });
            }
            Ok(Err(CallError::Closed(how))) => {
                let status = connection.exited().await;
                return Err(PluginError::broken(format!(
                    "the process {how} during initialize ({status}){}",
                    log_excerpt(&connection)
                )));
            }
            Ok(Ok(value)) => match serde_json::from_value::<InitializeResult>(value) {
                Ok(info) => info,
                Err(error) => {
                    connection.kill();
                    return Err(PluginError::broken(format!(
                        "its answer to initialize does not fit the protocol: {error}"
                    )));
                }
            },
        };
        if !protocol::is_compatible(protocol::PROTOCOL_VERSION, &info.protocol_version) {
            connection.kill();
            return Err(PluginError::broken(format!(
                "plugin `{}` speaks protocol {} ({}), which is not compatible with the host's protocol {}",
                self.id,
                info.protocol_version,
                info.sdk_version,
                protocol::PROTOCOL_VERSION
            )));
        }
        // SUPPORTED_ACCESS_LEVELS informs, as in the Python original: the plugin still gets
        // every event it subscribed to, and a handler it lacks declines.
        if let Some(event) = self.init.orchestration.events.iter().find(|event| {
            !info.access_levels.is_empty()
                && event
                    .access_level()
                    .is_some_and(|level| !info.access_levels.contains(&level))
        }) {
            let levels: Vec<&str> = info
                .access_levels
                .iter()
                .map(|level| level.as_str())
                .collect();
            tracing::warn!(
                plugin = %self.id,
                "Plugin subscribes to `{event}` but declares {} access only; it receives the event anyway.",
                levels.join(", ")
            );
        }
        *lock(&self.info) = Some(info);
        let generation = self.next_context.fetch_add(1, Ordering::Relaxed);
        let mut state = lock(&self.state);
        if matches!(*state, State::Stopped) {
            connection.kill();
            return Err(PluginError::broken("stopped"));
        }
        *state = State::Running {
            connection: Arc::clone(&connection),
            generation,
            since: Instant::now(),
        };
        drop(state);
        tokio::spawn(Arc::clone(self).watch(connection, generation));
        Ok(())
    }

    /// Waits for the process to end; if it was not asked to, restarts it with backoff.
    async fn watch(self: Arc<Self>, connection: Arc<Connection>, generation: u64) {
        let status = connection.exited().await;
        {
            let mut state = lock(&self.state);
            let ran_for = match &*state {
                State::Running {
                    generation: current,
                    since,
                    ..
                }
                | State::Down {
                    generation: current,
                    since,
                    ..
                } if *current == generation => since.elapsed(),
                _ => return, // stopped on purpose, or already replaced
            };
            // A process that dies young counts as a failure, so a crash loop backs off.
            if ran_for >= self.options.stable_after {
                self.consecutive_failures.store(0, Ordering::Relaxed);
            } else {
                self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            }
            let error = format!(
                "the process ended ({status}){}; restarting",
                log_excerpt(&connection)
            );
            tracing::warn!(plugin = %self.id, %error, "Plugin process died.");
            *state = State::Down {
                error,
                generation,
                since: Instant::now(),
            };
        }
        loop {
            let failures = self.consecutive_failures.load(Ordering::Relaxed);
            tokio::time::sleep(self.options.restart_delay(failures.saturating_sub(1))).await;
            if matches!(*lock(&self.state), State::Stopped) {
                return;
            }
            match self.start().await {
                Ok(()) => {
                    self.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(plugin = %self.id, "Plugin process restarted.");
                    return;
                }
                Err(error) => {
                    self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(plugin = %self.id, %error, "Plugin restart failed.");
                    let mut state = lock(&self.state);
                    if matches!(*state, State::Stopped) {
                        return;
                    }
                    *state = State::Down {
                        error: format!("restart failed: {error}"),
                        generation,
                        since: Instant::now(),
                    };
                }
            }
        }
    }

    /// Marks the plugin down at once when a call finds its process gone or kills it, so the
    /// router skips it from the next event on; the watcher restarts it.
    fn mark_down(&self, connection: &Arc<Connection>, error: String) {
        let mut state = lock(&self.state);
        if let State::Running {
            connection: current,
            generation,
            since,
        } = &*state
            && Arc::ptr_eq(current, connection)
        {
            let (generation, since) = (*generation, *since);
            *state = State::Down {
                error,
                generation,
                since,
            };
        }
    }

    fn connection(&self) -> Result<Arc<Connection>, PluginError> {
        match &*lock(&self.state) {
            State::Running { connection, .. } => Ok(Arc::clone(connection)),
            State::Down { error, .. } => Err(PluginError::unreachable(error.clone())),
            State::NotStarted => Err(PluginError::unreachable("the process is not started")),
            State::Stopped => Err(PluginError::unreachable("the process was stopped")),
        }
    }

    async fn handle_event(self: &Arc<Self>, ctx: &mut PluginContext) -> HandlerOutcome {
        let connection = self.connection()?;
        let context_id = self
            .next_context
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        lock(&self.in_flight).insert(context_id.clone(), Arc::clone(&ctx.services));
        let mut guard = CallGuard {
            shared: self,
            connection: &connection,
            context_id: &context_id,
            deadline: ctx.delivery.deadline,
            answered: false,
        };
        let deadline_ms = ctx
            .delivery
            .deadline
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        let params = HandleEventParams {
            context_id: context_id.clone(),
            event: ctx.event,
            user_id: ctx.user_id.to_string(),
            data: (*ctx.data).clone(),
            metadata: std::mem::take(&mut ctx.metadata),
            delivery: WireDelivery {
                event_id: ctx.delivery.event_id.to_string(),
                plugin_id: ctx.delivery.plugin_id.to_string(),
                attempt: ctx.delivery.attempt,
                deadline_ms,
                idempotency_key: ctx.delivery.idempotency_key(),
            },
        };
        // Keep the metadata should the call fail: the chain goes on with it.
        ctx.metadata = params.metadata.clone();
        let params =
            serde_json::to_value(params).map_err(|error| PluginError::broken(error.to_string()))?;
        let answer = connection.request(method::HANDLE_EVENT, params).await;
        guard.answered = true;
        match answer {
            Ok(value) => {
                let answer: HandleEventResult = serde_json::from_value(value).map_err(|error| {
                    PluginError::broken(format!(
                        "its answer to handle_event does not fit the protocol: {error}"
                    ))
                })?;
                ctx.metadata = answer.metadata;
                Ok(answer.result)
            }
            Err(CallError::Rpc(error)) => Err(PluginError::broken(error.message)),
            Err(CallError::Closed(how)) => {
                let error = format!(
                    "the plugin process {how} during the call; it is being restarted{}",
                    log_excerpt(&connection)
                );
                self.mark_down(&connection, error.clone());
                Err(PluginError::broken(error))
            }
        }
    }

    async fn stop(self: &Arc<Self>) {
        let previous = std::mem::replace(&mut *lock(&self.state), State::Stopped);
        let State::Running { connection, .. } = previous else {
            return;
        };
        let _ = tokio::time::timeout(
            CONTROL_TIMEOUT.min(self.options.shutdown_grace),
            connection.request(method::CLEANUP, json!({})),
        )
        .await;
        connection.close_input();
        if tokio::time::timeout(self.options.shutdown_grace, connection.exited())
            .await
            .is_err()
        {
            tracing::warn!(plugin = %self.id, "Plugin did not exit after end of input; killing it.");
            connection.kill();
            connection.exited().await;
        }
    }
}

/// Cleans up after a `handle_event` call. A call abandoned at its deadline means the plugin
/// overran: its process is killed and the supervisor restarts it. A call its caller gave up on
/// earlier (a native plugin's own deadline, say) is merely forgotten.
struct CallGuard<'a> {
    shared: &'a Shared,
    connection: &'a Arc<Connection>,
    context_id: &'a str,
    deadline: std::time::SystemTime,
    answered: bool,
}

/// How close to its deadline an abandoned call counts as an overrun.
const DEADLINE_SLACK: Duration = Duration::from_millis(100);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.in_flight).remove(self.context_id);
        let overran = std::time::SystemTime::now() + DEADLINE_SLACK >= self.deadline;
        if !self.answered && !overran {
            tracing::debug!(plugin = %self.shared.id, "Plugin call cancelled by its caller before its deadline.");
        }
        if !self.answered && overran && !self.connection.has_exited() {
            tracing::warn!(plugin = %self.shared.id, "Plugin call overran its deadline; restarting its process.");
            self.shared.mark_down(
                self.connection,
                "a call overran its deadline; the process is being restarted".into(),
            );
            self.connection.kill();
        }
    }
}

/// The plugin's last log lines, for an error message.
fn log_excerpt(connection: &Connection) -> String {
    let tail = connection.log_tail();
    match tail.last() {
        Some(last) if tail.len() > 1 => format!(
            "; its log ended with: {} (+{} lines before)",
            last,
            tail.len() - 1
        ),
        Some(last) => format!("; its log ended with: {last}"),
        None => String::new(),
    }
}

impl Inbound for Shared {
    fn handle(self: Arc<Self>, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send>> {
        Box::pin(async move {
            let id = request.id;
            let decoded = match ServiceRequest::decode(&request) {
                Ok(decoded) => decoded,
                Err(error) => return Response::error(id, error),
            };
            let services = match &decoded.context_id {
                Some(context) => match lock(&self.in_flight).get(context).cloned() {
                    Some(services) => Some(services),
                    None => {
                        let message = format!(
                            "unknown context_id `{context}`: the call it belonged to has ended"
                        );
                        return Response::error(id, RpcError::new(code::INVALID_PARAMS, message));
                    }
                },
                None => self.fallback.get().cloned(),
            };
            let Some(services) = services else {
                return Response::error(
                    id,
                    RpcError::new(code::SERVICE_UNAVAILABLE, "services are not available yet"),
                );
            };
            match serve(services.as_ref(), decoded.call).await {
                Ok(value) => Response::ok(id, value),
                Err(error) => Response::error(id, rpc_error(&error)),
            }
        })
    }
}

/// Runs one service call through the permission-checked services of the call it belongs to.
async fn serve(services: &dyn Services, call: ServiceCall) -> Result<Value, ServiceError> {
    Ok(match call {
        ServiceCall::CloseConversation(p) => {
            Value::Bool(services.close_conversation(&p.session_id, p.reason).await?)
        }
        ServiceCall::StarConversation(p) => {
            Value::Bool(services.star_conversation(&p.session_id).await?)
        }
        ServiceCall::StopPlayback(p) => Value::Bool(
            services
                .stop_playback(&p.client_id, p.user_id.as_deref())
                .await?,
        ),
        ServiceCall::CallPlugin(p) => {
            let result = services
                .call_plugin(&p.plugin_id, &p.action, p.data, p.user_id.as_deref())
                .await?;
            serde_json::to_value(result).unwrap_or(Value::Null)
        }
        ServiceCall::InsertOne(p) => {
            json!({"inserted_id": services.insert_one(&p.collection, p.document).await?})
        }
        ServiceCall::Find(p) => Value::Array(
            services
                .find(&p.collection, &p.filter)
                .await?
                .into_iter()
                .map(Value::Object)
                .collect(),
        ),
        ServiceCall::FindOne(p) => services
            .find_one(&p.collection, &p.filter)
            .await?
            .map_or(Value::Null, Value::Object),
        ServiceCall::UpdateOne(p) => {
            json!({"matched_count": u8::from(services.update_one(&p.collection, &p.filter, &p.update).await?)})
        }
        ServiceCall::DeleteOne(p) => {
            json!({"deleted_count": u8::from(services.delete_one(&p.collection, &p.filter).await?)})
        }
        ServiceCall::Count(p) => Value::from(services.count(&p.collection, &p.filter).await?),
        ServiceCall::LlmGenerate(p) => Value::String(services.llm_generate(&p.prompt).await?),
        ServiceCall::Search(p) => services.search(&p).await?,
    })
}

fn rpc_error(error: &ServiceError) -> RpcError {
    let code = match error {
        ServiceError::PermissionDenied { .. } => code::PERMISSION_DENIED,
        ServiceError::Unavailable { .. } => code::SERVICE_UNAVAILABLE,
        ServiceError::InvalidRequest { .. } => code::SERVICE_INVALID_REQUEST,
        ServiceError::Failed { .. } => code::SERVICE_FAILED,
    };
    RpcError::new(code, error.to_string())
}

impl ProcessPlugin {
    /// Makes what the plugin needs before its first start (its virtual environment), outside
    /// the deadline of `initialize`: an install can take minutes.
    pub async fn prepare(&self) -> Result<(), PluginError> {
        self.shared.prepare().await
    }

    /// For a Python plugin, imports its code in a child process of its own interpreter, the
    /// way the runner would, without starting it: `Err` has the exception and the last frame
    /// of its traceback. `Ok` for other runtimes.
    pub async fn check_import(&self) -> Result<(), String> {
        let launch = &self.shared.launch;
        let Some(plugins_dir) = &launch.python_plugins_dir else {
            return Ok(());
        };
        self.prepare().await.map_err(|error| error.message)?;
        let mut command = launch.command(Some(&["-c", IMPORT_CHECK, &self.shared.id, plugins_dir]));
        command
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(IMPORT_CHECK_TIMEOUT, command.output())
            .await
            .map_err(|_| {
                format!(
                    "importing took longer than {} s",
                    IMPORT_CHECK_TIMEOUT.as_secs()
                )
            })?
            .map_err(|error| format!("cannot run {}: {error}", launch.program.display()))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|line| !line.trim().is_empty());
        Err(last
            .unwrap_or("the import failed without a message")
            .to_owned())
    }
}

/// How long importing a plugin's code may take in `check_import`.
const IMPORT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Imports the plugin as the runner does; on failure prints one line: the exception, and the
/// file and line of the traceback's last frame.
const IMPORT_CHECK: &str = r#"
import sys, traceback
from pathlib import Path
from chronicle_plugin.loader import load_plugin_class
try:
    load_plugin_class(sys.argv[1], Path(sys.argv[2]))
except BaseException as error:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith("<frozen")]
    where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    if isinstance(error, SyntaxError):
        where = f" ({error.filename}, line {error.lineno})"
    sys.stderr.write(f"{type(error).__name__}: {error}{where}\n")
    sys.exit(1)
"#;

#[async_trait]
impl Plugin for ProcessPlugin {
    async fn initialize(&self) -> Result<(), PluginError> {
        if let State::Running { .. } = &*lock(&self.shared.state) {
            return Ok(());
        }
        self.shared.start().await
    }

    async fn cleanup(&self) {
        // On a task of its own: a caller that gives up waiting must not leave the process
        // half-stopped (cleanup asked, never killed).
        let shared = Arc::clone(&self.shared);
        let _ = tokio::spawn(async move { shared.stop().await }).await;
    }

    async fn health_check(&self) -> HealthReport {
        let connection = match self.shared.connection() {
            Ok(connection) => connection,
            Err(error) => return HealthReport::unhealthy(error.message),
        };
        let started = Instant::now();
        match tokio::time::timeout(
            CONTROL_TIMEOUT,
            connection.request(method::HEALTH_CHECK, json!({})),
        )
        .await
        {
            Ok(Ok(value)) => serde_json::from_value::<HealthReport>(value)
                .map(|mut report| {
                    report
                        .latency_ms
                        .get_or_insert(started.elapsed().as_secs_f64() * 1000.0);
                    report
                })
                .unwrap_or_else(|error| {
                    HealthReport::unhealthy(format!("bad health report: {error}"))
                }),
            Ok(Err(CallError::Rpc(error))) => HealthReport::unhealthy(error.message),
            Ok(Err(CallError::Closed(how))) => {
                HealthReport::unhealthy(format!("the process {how}"))
            }
            Err(_) => HealthReport::unhealthy(format!(
                "Health check timed out ({} s)",
                CONTROL_TIMEOUT.as_secs()
            )),
        }
    }

    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.shared.handle_event(ctx).await
    }

    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.shared.handle_event(ctx).await
    }

    async fn on_memory_processed(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.shared.handle_event(ctx).await
    }

    async fn on_conversation_starred(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.shared.handle_event(ctx).await
    }

    async fn on_button_event(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.shared.handle_event(ctx).await
    }

    async fn on_plugin_action(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.shared.handle_event(ctx).await
    }

    async fn on_wake_word_detected(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.shared.handle_event(ctx).await
    }
}
