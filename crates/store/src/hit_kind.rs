//! What a search hit is: its own file, because both the search and the vector index name it.

use serde::Serialize;

/// What a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    /// A memory.
    Memory,
    /// A segment of a conversation's transcript.
    Conversation,
}
