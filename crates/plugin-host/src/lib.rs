//! The plugin host: turns `config/plugins.yml` and the `plugins/` folder into a running set of
//! plugins, and routes each event through them.
//!
//! - [`config`] reads and validates the configuration, expanding `${VAR}` ([`env`]) and
//!   locating every problem at file:line:column ([`diagnostic`]).
//! - [`catalog`] discovers what can run: plugins compiled into the binary and plugin folders.
//! - [`condition`] decides per plugin whether an event reaches it.
//! - [`PluginHost`] builds, initializes and shuts down plugins and routes events
//!   ([`PluginHost::dispatch`]), guarding every call with a deadline and a panic catcher.
//! - [`delivery`] works through the durable queue of terminal events: chains resumed after a
//!   crash, failed deliveries retried with backoff, dead letters replayed.
//! - [`process`] runs plugins in child processes (Python under the SDK's runner, or any
//!   executable with a `plugin.toml`) behind the same `Plugin` trait, supervised.
//! - The host's [`chronicle_plugin_api::Services`] check every call against the plugin's
//!   permissions and act through [`Backends`], which the store and server implement.
//!
//! This crate knows nothing of HTTP, WebSockets or SQL, and never lets a plugin's failure
//! become the caller's: a dispatch always returns a record.

mod backends;
pub mod catalog;
mod chain;
pub mod condition;
pub mod config;
mod config_edit;
pub mod delivery;
pub mod diagnostic;
pub mod env;
mod grants;
mod guard;
mod host;
pub mod process;
mod record;
mod recovery;
#[cfg(test)]
mod robustness;
mod router;
mod services;
mod slot;
pub mod yaml;
pub use config_edit::set_plugin_keys;

pub use backends::{
    Backends, EVENT_LOG_CAPACITY, EventLog, MemoryDocuments, MemoryEventLog, OfflineConversations,
};
pub use config::HostConfig;
pub use diagnostic::{ConfigErrors, Diagnostic, Severity};
pub use grants::Grants;
pub use host::{
    CLEANUP_TIMEOUT, CONNECTION_TEST_TIMEOUT, INITIALIZE_TIMEOUT, Loaded, PluginHost, PluginState,
    PluginStatus,
};
pub use process::launch::ProcessOptions;
pub use record::{DispatchRecord, PluginOutcome, ServiceCall, Status};
pub use recovery::RecoveryPolicy;
pub use router::DispatchRequest;
pub use slot::Health;
