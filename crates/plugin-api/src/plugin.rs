use serde::{Deserialize, Serialize};

use crate::{AccessLevel, PluginContext, PluginError, PluginResult, Settings, SettingsError};

/// What a handler returns: a result, a decline (`Ok(None)`), or an error, which the host records
/// as this plugin's failure before going on with the chain.
pub type HandlerOutcome = Result<Option<PluginResult>, PluginError>;

/// A plugin: a set of handlers the host calls for the events the plugin is subscribed to.
///
/// Every method has a default, so a plugin implements only what it needs; an unimplemented
/// handler declines. Handlers run under a deadline (`timeout` in `plugins.yml`): a handler that
/// overruns is abandoned at its next `.await` and recorded as timed out, so long work must
/// await, not block the thread.
#[crate::async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Prepares the plugin: connects to services, checks configuration. Called once before the
    /// first event, and again when the host retries a plugin that failed to start.
    ///
    /// Return [`PluginError::unreachable`] when a service is down (the plugin is `degraded` and
    /// retried later) and [`PluginError::broken`] when it can never work as configured.
    async fn initialize(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Releases resources on shutdown and reload. Errors cannot be reported: log them.
    async fn cleanup(&self) {}

    /// Reports whether the plugin's dependencies are reachable right now.
    async fn health_check(&self) -> HealthReport {
        HealthReport::ok("No external service to check")
    }

    /// Checks, step by step, that the plugin can reach its service as configured (for
    /// `chronicle plugin check` and `POST /api/admin/plugins/{id}/test-connection`), saying
    /// how to fix what fails. Defaults to the health check as one step.
    async fn test_connection(&self) -> ConnectionReport {
        ConnectionReport::from_health(self.health_check().await)
    }

    /// `transcript.streaming` and `transcript.batch`.
    async fn on_transcript(&self, _ctx: &mut PluginContext) -> HandlerOutcome {
        Ok(None)
    }

    /// `conversation.complete`.
    async fn on_conversation_complete(&self, _ctx: &mut PluginContext) -> HandlerOutcome {
        Ok(None)
    }

    /// `memory.processed`.
    async fn on_memory_processed(&self, _ctx: &mut PluginContext) -> HandlerOutcome {
        Ok(None)
    }

    /// `conversation.starred`, in either direction (see `data.starred`).
    async fn on_conversation_starred(&self, _ctx: &mut PluginContext) -> HandlerOutcome {
        Ok(None)
    }

    /// `button.single_press`, `button.double_press` and `button.long_press`.
    async fn on_button_event(&self, _ctx: &mut PluginContext) -> HandlerOutcome {
        Ok(None)
    }

    /// `plugin_action`: another plugin called this one through `call_plugin`.
    async fn on_plugin_action(&self, _ctx: &mut PluginContext) -> HandlerOutcome {
        Ok(None)
    }

    /// `wake_word.detected`: a wake word was heard; `ctx.data["command"]` is what followed it.
    async fn on_wake_word_detected(&self, _ctx: &mut PluginContext) -> HandlerOutcome {
        Ok(None)
    }
}

/// The answer to a health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Whether the plugin can do its work now.
    pub ok: bool,
    /// What was checked, or what is wrong.
    pub message: String,
    /// How long the check took, when it measured a round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

impl HealthReport {
    /// A healthy report.
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
            latency_ms: None,
        }
    }

    /// An unhealthy report.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            ..Self::ok(message)
        }
    }
}

/// How the host finds and builds a plugin compiled into the binary.
///
/// A bundled plugin exports one descriptor and is listed once in the registry of
/// `chronicle-plugins`; `plugins.yml` then enables it by `id`.
#[derive(Clone, Copy)]
pub struct PluginDescriptor {
    /// The id used in `plugins.yml` and for the `plugins/<id>/` folder.
    pub id: &'static str,
    /// A human name.
    pub name: &'static str,
    /// One sentence on what the plugin does.
    pub description: &'static str,
    /// The kinds of events the plugin can handle; subscribing it to others is a config error.
    pub access_levels: &'static [AccessLevel],
    /// Builds the plugin from its merged settings (`plugins/<id>/config.yml` overlaid by the
    /// plugin's entry in `plugins.yml`). Must not do I/O: that belongs in `initialize`.
    pub build: fn(&Settings) -> Result<Box<dyn Plugin>, SettingsError>,
}

impl std::fmt::Debug for PluginDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginDescriptor")
            .field("id", &self.id)
            .field("access_levels", &self.access_levels)
            .finish_non_exhaustive()
    }
}

/// The answer to a connection test: every step checked, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionReport {
    /// Whether every step passed.
    pub ok: bool,
    /// The steps, in the order they ran (a failed step usually ends the test).
    pub checks: Vec<ConnectionCheck>,
}

/// One step of a connection test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    /// What was checked ("DNS", "TLS handshake", "login", "POST https://…").
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What happened.
    pub detail: String,
    /// For a failed step, what to change to make it pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl ConnectionCheck {
    /// A step that passed.
    pub fn passed(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A step that failed, and how to fix it.
    pub fn failed(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

impl ConnectionReport {
    /// A report of `checks`; ok when every one passed.
    pub fn new(checks: Vec<ConnectionCheck>) -> Self {
        Self {
            ok: checks.iter().all(|check| check.ok),
            checks,
        }
    }

    /// A health report as a one-step connection test.
    pub fn from_health(health: HealthReport) -> Self {
        let check = if health.ok {
            ConnectionCheck::passed("health check", health.message)
        } else {
            ConnectionCheck::failed(
                "health check",
                health.message,
                "check the plugin's settings in plugins.yml and that its service is up",
            )
        };
        Self::new(vec![check])
    }
}
