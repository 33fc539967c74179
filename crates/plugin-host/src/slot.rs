//! A loaded plugin in its place ([`Slot`]): its configuration, instance, grants and health;
//! and the set of slots with the chains that order them ([`HostInner`]).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chronicle_plugin_api::{Event, Plugin};
use serde::Serialize;

use crate::backends::Backends;
use crate::catalog::{Catalog, Runtime};
use crate::config::PluginSpec;
use crate::grants::{Grants, PermissionsUsed};
use crate::process::ProcessPlugin;

pub(crate) struct HostInner {
    pub slots: Vec<Slot>,
    /// For each event (by [`Event::index`]), the slots subscribed to it in chain order.
    pub chains: [Vec<usize>; Event::ALL.len()],
    pub backends: Backends,
    pub catalog: Catalog,
    /// How process plugins are kept in (`landlock`, or why not), for `plugin list`.
    pub sandbox: String,
}

pub(crate) struct Slot {
    pub spec: PluginSpec,
    pub id: Arc<str>,
    pub runtime: Runtime,
    pub name: String,
    pub description: String,
    pub instance: Option<Arc<dyn Plugin>>,
    /// The same plugin as `instance`, when it runs in a child process.
    pub process: Option<Arc<ProcessPlugin>>,
    pub grants: Grants,
    /// What its service calls have needed so far: the least `permissions` list it could have.
    pub permissions_used: PermissionsUsed,
    pub health: HealthCell,
    pub skip_reasons: SkipReasons,
}

/// The reasons a chain gives for skipping a slot again and again, made once at load so a
/// dispatch records them without formatting.
pub(crate) struct SkipReasons {
    pub disabled: Arc<str>,
    pub not_met: Arc<str>,
}

impl SkipReasons {
    pub(crate) fn new(spec: &PluginSpec) -> Self {
        Self {
            disabled: Arc::from("disabled in plugins.yml"),
            not_met: Arc::from(format!(
                "condition `{}` not met",
                spec.condition.type_name()
            )),
        }
    }
}

/// A slot's health and why, as initialization and recovery set them; read without a lock.
pub(crate) struct HealthCell {
    health: AtomicU8,
    error: Mutex<Option<String>>,
}

impl HealthCell {
    pub(crate) fn new(health: Health, error: Option<String>) -> Self {
        Self {
            health: AtomicU8::new(health as u8),
            error: Mutex::new(error),
        }
    }

    fn load(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Acquire))
    }

    fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, health: Health, error: Option<String>) {
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = error;
        self.health.store(health as u8, Ordering::Release);
    }
}

/// Where a plugin stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Health {
    /// Turned off in `plugins.yml`.
    Disabled = 0,
    /// Built, not yet initialized.
    Registered = 1,
    /// Receiving events.
    Initialized = 2,
    /// A dependency was unreachable; no events until it recovers.
    Degraded = 3,
    /// Broken: no events until its configuration or code changes.
    Failed = 4,
}

impl Health {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Health::Disabled,
            1 => Health::Registered,
            2 => Health::Initialized,
            3 => Health::Degraded,
            _ => Health::Failed,
        }
    }
}

impl Slot {
    /// The plugin's health; a started process plugin whose process is down reads as degraded.
    pub fn health(&self) -> Health {
        let health = self.health.load();
        match &self.process {
            Some(process) if health == Health::Initialized && process.down_reason().is_some() => {
                Health::Degraded
            }
            _ => health,
        }
    }

    pub fn error(&self) -> Option<String> {
        if let Some(reason) = self
            .process
            .as_ref()
            .and_then(|process| process.down_reason())
            && self.health.load() == Health::Initialized
        {
            return Some(reason);
        }
        self.health.error()
    }

    /// The health set by initialization and recovery, without the process supervisor's view.
    pub fn base_health(&self) -> Health {
        self.health.load()
    }

    pub(crate) fn set_health(&self, health: Health, error: Option<String>) {
        self.health.set(health, error);
    }

    /// The deadline of one call for `event`.
    pub fn timeout_for(&self, event: Event) -> Duration {
        self.spec.timeout.unwrap_or(if event.is_terminal() {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(5)
        })
    }
}

/// Why a slot cannot take events now, if it cannot.
pub(crate) fn unavailable_reason(slot: &Slot) -> Option<String> {
    let error = || slot.error().unwrap_or_default();
    match slot.health() {
        Health::Initialized if slot.instance.is_some() => None,
        Health::Disabled => Some("disabled in plugins.yml".to_owned()),
        Health::Degraded => Some(format!("not initialized (degraded): {}", error())),
        Health::Failed => Some(format!("not initialized (failed): {}", error())),
        Health::Registered | Health::Initialized => Some("not initialized".to_owned()),
    }
}
