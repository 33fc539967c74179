use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CloseReason;

/// Why a conversation ended: stored with it, and sent to plugins as `conversation.complete`'s
/// `metadata.end_reason`.
///
/// The names are the Python Chronicle's, so plugins that compare them keep working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The device sent `audio-stop`.
    UserStopped,
    /// The device's connection went away.
    WebsocketDisconnect,
    /// Speech paused for `inactivity_seconds`.
    InactivityTimeout,
    /// The conversation reached `max_duration_seconds`.
    MaxDuration,
    /// A replayed session asked for a close at that point of its timeline.
    CloseRequested,
    /// A person asked for the close, through a plugin ([`CloseReason::UserRequested`]).
    UserRequested,
    /// A plugin decided to close it ([`CloseReason::PluginRequested`]).
    PluginRequested,
    /// The device button closed it ([`CloseReason::ButtonClose`]).
    ButtonClose,
    /// The conversation is an uploaded file, complete when it arrives.
    FileUpload,
    /// The server stopped while the conversation was open.
    ServerShutdown,
    /// The server found the conversation at start, left by a run that stopped.
    ServerRestart,
}

impl EndReason {
    /// Every end reason.
    pub const ALL: [EndReason; 11] = [
        EndReason::UserStopped,
        EndReason::WebsocketDisconnect,
        EndReason::InactivityTimeout,
        EndReason::MaxDuration,
        EndReason::CloseRequested,
        EndReason::UserRequested,
        EndReason::PluginRequested,
        EndReason::ButtonClose,
        EndReason::FileUpload,
        EndReason::ServerShutdown,
        EndReason::ServerRestart,
    ];

    /// The name stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::UserStopped => "user_stopped",
            EndReason::WebsocketDisconnect => "websocket_disconnect",
            EndReason::InactivityTimeout => "inactivity_timeout",
            EndReason::MaxDuration => "max_duration",
            EndReason::CloseRequested => "close_requested",
            EndReason::UserRequested => "user_requested",
            EndReason::PluginRequested => "plugin_requested",
            EndReason::ButtonClose => "button_close",
            EndReason::FileUpload => "file_upload",
            EndReason::ServerShutdown => "server_shutdown",
            EndReason::ServerRestart => "server_restart",
        }
    }
}

impl From<CloseReason> for EndReason {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::UserRequested => EndReason::UserRequested,
            CloseReason::PluginRequested => EndReason::PluginRequested,
            CloseReason::ButtonClose => EndReason::ButtonClose,
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored end reason that is none of [`EndReason::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown end reason `{0}`")]
pub struct UnknownEndReason(pub String);

impl FromStr for EndReason {
    type Err = UnknownEndReason;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        EndReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == name)
            .ok_or_else(|| UnknownEndReason(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for reason in EndReason::ALL {
            assert_eq!(reason.as_str().parse::<EndReason>(), Ok(reason));
            let json = serde_json::to_value(reason).expect("serialize");
            assert_eq!(json, serde_json::json!(reason.as_str()));
        }
        assert!("closed".parse::<EndReason>().is_err());
    }

    #[test]
    fn a_close_request_keeps_its_reason() {
        assert_eq!(
            EndReason::from(CloseReason::ButtonClose).as_str(),
            CloseReason::ButtonClose.as_str()
        );
        assert_eq!(
            EndReason::from(CloseReason::PluginRequested).as_str(),
            CloseReason::PluginRequested.as_str()
        );
    }
}
