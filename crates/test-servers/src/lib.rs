//! Local servers that speak the protocols of the services Chronicle talks to, for tests.
//!
//! Chronicle's clients for OpenAI-compatible HTTP APIs, Wyoming speech servers
//! and Deepgram's live WebSocket API are tested against these instead of mocks,
//! so the real bytes go over a real socket. Every server binds 127.0.0.1 on a
//! port the OS picks, runs as tasks on the current tokio runtime, records what
//! it received, answers as a test-supplied responder says (including faults),
//! and stops when its handle is dropped.

mod recorded;

pub mod deepgram;
pub mod openai;
pub mod wyoming;

pub use deepgram::{Deepgram, DeepgramBehaviour, DeepgramConnection, Utterance};
pub use openai::{
    Chat, ChatReply, EmbeddingReply, Embeddings, TranscriptionReply, TranscriptionRequest,
    Transcriptions, last_user_message, system_message,
};
pub use wyoming::{Wyoming, WyomingReply, WyomingRequest};
