use crate::ServiceError;

/// Why a plugin could not do its work.
///
/// The kind decides what the host does next: an [`PluginErrorKind::Unreachable`] dependency
/// marks the plugin `degraded` and it is tried again later; a [`PluginErrorKind::Broken`] plugin
/// is `failed` until its configuration or code changes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    /// Whether the failure may go away by itself.
    pub kind: PluginErrorKind,
    /// What went wrong, for the operator.
    pub message: String,
}

/// The two ways a plugin fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginErrorKind {
    /// A service the plugin depends on could not be reached (the guide's
    /// `PluginConnectivityError`): the plugin is `degraded` and retried with backoff.
    Unreachable,
    /// The plugin is misconfigured or its code failed: it is `failed`.
    Broken,
}

impl PluginError {
    /// A dependency could not be reached; the host retries later.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self {
            kind: PluginErrorKind::Unreachable,
            message: message.into(),
        }
    }

    /// The plugin cannot work as configured.
    pub fn broken(message: impl Into<String>) -> Self {
        Self {
            kind: PluginErrorKind::Broken,
            message: message.into(),
        }
    }
}

impl From<ServiceError> for PluginError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Unavailable { .. } => PluginError::unreachable(error.to_string()),
            _ => PluginError::broken(error.to_string()),
        }
    }
}
