//! The Chronicle plugin contract: everything a plugin author depends on, and nothing else.
//!
//! A plugin reacts to [`Event`]s. For each event it subscribed to, the host calls one handler of
//! the [`Plugin`] trait with a [`PluginContext`]; the handler returns a [`PluginResult`] or
//! declines with `Ok(None)`. Through [`PluginContext::services`] a plugin asks the host to close
//! or star a conversation, call another plugin, or use its own document store, each allowed only
//! when the plugin's `permissions` in `config/plugins.yml` grant it.
//!
//! This crate is an **API boundary**: it holds types and traits only. It performs no I/O, starts
//! no runtime and knows nothing of configuration files, HTTP or storage. The host
//! (`chronicle-plugin-host`) implements [`Services`]; the interfaces the host needs from storage
//! are in `chronicle-host-ports`, not here.
//!
//! # Example
//!
//! ```
//! use chronicle_plugin_api::{
//!     async_trait, AccessLevel, HandlerOutcome, Plugin, PluginContext, PluginDescriptor,
//!     PluginError, PluginResult, Settings,
//! };
//!
//! /// Answers every transcript with its length.
//! struct Counter;
//!
//! #[async_trait]
//! impl Plugin for Counter {
//!     async fn initialize(&self) -> Result<(), PluginError> {
//!         Ok(())
//!     }
//!
//!     async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
//!         let words = ctx.transcript().split_whitespace().count();
//!         Ok(Some(PluginResult::ok(format!("{words} words"))))
//!     }
//! }
//!
//! pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
//!     id: "counter",
//!     name: "Counter",
//!     description: "Counts the words of each transcript",
//!     access_levels: &[AccessLevel::Transcript],
//!     build: |_settings: &Settings| Ok(Box::new(Counter)),
//! };
//! ```
#![deny(missing_docs)]

mod context;
mod end_reason;
mod error;
mod event;
mod plugin;
pub mod protocol;
mod result;
mod services;
mod settings;

pub use async_trait::async_trait;
pub use context::{Delivery, EventData, PluginContext, small_map_get};
pub use end_reason::{EndReason, UnknownEndReason};
pub use error::{PluginError, PluginErrorKind};
pub use event::{AccessLevel, Event, UnknownAccessLevel, UnknownEvent};
pub use plugin::{
    ConnectionCheck, ConnectionReport, HandlerOutcome, HealthReport, Plugin, PluginDescriptor,
};
pub use result::PluginResult;
pub use services::{CloseReason, Permission, ServiceError, Services, UnknownPermission};
pub use settings::{Settings, SettingsError, parse_settings};

/// A JSON object: the shape of event data, metadata, result data and stored documents.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;
