//! One process delivers a data folder's queue: the dispatcher holds a file lock while it
//! delivers, and one that started beside another stands by until the lock is free.

use std::sync::{Arc, PoisonError};

use chronicle_host_ports::BackendError;

use super::Inner;

impl Inner {
    /// Takes the lock if it is free; whether this process holds it now.
    pub(super) fn try_lock(&self) -> Result<bool, BackendError> {
        let Some(path) = &self.lock_path else {
            return Ok(true);
        };
        let failed = |error: std::io::Error| {
            BackendError::Failed(format!("cannot lock {}: {error}", path.display()))
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {
                *self.lock.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
                Ok(true)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(error)) => Err(failed(error)),
        }
    }

    /// Tries the lock every poll until it is free, then delivers.
    pub(super) async fn stand_by(self: Arc<Self>) {
        let mut stopping = self.stopping.subscribe();
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll) => {}
                _ = stopping.changed() => return,
            }
            if self.stopping() {
                return;
            }
            match self.try_lock() {
                Ok(true) => {
                    tracing::info!(
                        "The process that delivered this data folder's events has ended; delivering them here."
                    );
                    if let Err(error) = Arc::clone(&self).begin().await {
                        tracing::error!(%error, "Could not start delivering.");
                    }
                    return;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "Could not try the delivery lock."),
            }
        }
    }
}
