//! The pipeline: audio becomes transcripts, conversations and memories, and plugins hear
//! about each step at the right moment.
//!
//! - [`transcription`]: the providers (OpenAI-compatible, Wyoming, Deepgram) behind one pair of
//!   traits, batch and streaming.
//! - [`session`]: a device's live session: speech opens a conversation; a stop, a disconnect,
//!   a close request, a pause in speech or the maximum length closes it.
//! - [`finish`]: what happens once a conversation closes: batch transcription, memories,
//!   title and summary, and the events `transcript.batch`, `memory.processed` and
//!   `conversation.complete`, in that order.
//! - [`llm`] and [`memory`]: the language model and what is asked of it.
//! - [`config`]: which providers, from `config/chronicle.yml` and the environment.
//! - [`wiring`]: the store, the plugin host and the pipeline built and connected, once, for
//!   the server and the offline commands; [`control`] is how plugins reach live sessions.
//!
//! Not here: HTTP routes and WebSockets (the server), SQL (the store), plugins (the host). The
//! pipeline reaches plugins only through [`Plugins`].

pub mod config;
pub mod control;
pub mod device;
pub mod embeddings;
mod events;
pub mod finish;
mod finished;
mod http;
pub mod ingest;
mod live_queue;
pub mod llm;
pub mod memory;
mod pipeline;
mod plugins;
pub mod replay;
#[cfg(test)]
mod robustness;
pub mod search;
pub mod session;
pub mod transcription;
pub mod watch;
pub mod when;
pub mod wiring;

pub use crate::config::{ConversationSettings, PipelineConfig};
pub use crate::control::{ControlRequests, SessionControl};
pub use crate::events::{object, request};
pub use crate::finished::{BatchAudio, Finished, unix_now};
pub use crate::llm::ChatModel;
pub use crate::pipeline::Pipeline;
pub use crate::plugins::Plugins;
pub use crate::session::{Session, Sessions, Speech};
pub use crate::transcription::Transcriber;
