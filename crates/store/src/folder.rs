//! The data folder's layout: the one place that knows where each of Chronicle's files lives.

use std::path::{Path, PathBuf};

/// The database file's name in the data folder.
pub const DATABASE_FILE: &str = "chronicle.db";

/// A data folder (`./data` by default) and where things live in it:
///
/// ```text
/// data/
///   chronicle.db (+ -wal, -shm)    the store
///   chronicle.delivery.lock        held by the process that delivers the queue
///   auth_secret                    the token signing key, when none is configured
///   audio/<client>/<session>.wav   a device session's recording
///   audio/<client>/upload-<id>.wav an uploaded file, as 16 kHz mono
///   tmp/                           scratch space (candidate configurations)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFolder {
    root: PathBuf,
}

impl DataFolder {
    /// The folder at `root`, as given.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder at `root`, made absolute, so stored paths do not depend on the folder
    /// Chronicle was started from.
    pub fn absolute(root: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self::new(std::path::absolute(root)?))
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join(DATABASE_FILE)
    }

    /// The file whose lock makes a process the one that delivers the queue.
    pub fn delivery_lock(&self) -> PathBuf {
        self.root.join("chronicle.delivery.lock")
    }

    /// The generated token signing key.
    pub fn auth_secret(&self) -> PathBuf {
        self.root.join("auth_secret")
    }

    /// Where a device session's recording goes.
    pub fn session_audio(&self, client_id: &str, session_id: &str) -> PathBuf {
        self.audio(client_id).join(format!("{session_id}.wav"))
    }

    /// Where an uploaded file's audio goes, under a fresh name.
    pub fn upload_audio(&self, client_id: &str) -> PathBuf {
        self.audio(client_id)
            .join(format!("upload-{}.wav", uuid::Uuid::new_v4().simple()))
    }

    /// Where Python plugins that list packages get their virtual environments, one folder per
    /// plugin and version of its requirements.
    pub fn plugin_envs(&self) -> PathBuf {
        self.root.join("plugin-envs")
    }

    /// Deletes a recording the store named, if it lies in this folder's `audio/` (a path from
    /// the database is never trusted to point anywhere else); a missing file is fine.
    pub fn remove_audio(&self, path: &Path) {
        let audio = self.root.join("audio");
        let inside = path.starts_with(&audio)
            && !path
                .components()
                .any(|part| matches!(part, std::path::Component::ParentDir));
        if !inside {
            tracing::warn!(path = %path.display(), "Not deleting a recording outside the data folder.");
            return;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "Cannot delete a recording.")
            }
        }
    }

    /// Scratch space, for files that are written only to be checked.
    pub fn scratch(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn audio(&self, client_id: &str) -> PathBuf {
        self.root.join("audio").join(client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_its_place_under_the_root() {
        let folder = DataFolder::new("data");
        assert_eq!(folder.database(), Path::new("data/chronicle.db"));
        assert_eq!(
            folder.delivery_lock(),
            Path::new("data/chronicle.delivery.lock")
        );
        assert_eq!(
            folder.session_audio("c1", "s1"),
            Path::new("data/audio/c1/s1.wav")
        );
        let upload = folder.upload_audio("c1");
        assert!(upload.starts_with("data/audio/c1"), "{}", upload.display());
        assert_ne!(
            upload,
            folder.upload_audio("c1"),
            "each upload has its own name"
        );
    }
}
