//! The data folder's layout: the one place that knows where each of Chronicle's files lives.

use std::path::{Path, PathBuf};

/// What a file's name ends with until it is whole.
const PARTIAL: &str = ".partial";

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
///   audio/<client>/upload-<id>.wav an uploaded file, as 16 kHz mono (`.partial` until whole)
///   tmp/                           scratch space (candidate configurations, uploads arriving)
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

    /// Makes the folder this user's alone: itself and every folder in it 0700, every file
    /// 0600 (the database, its WAL, recordings, the auth secret), fixing what an earlier
    /// version or a looser umask left readable. Links are not followed. Returns how many
    /// entries it changed.
    pub fn make_private(&self) -> std::io::Result<usize> {
        make_private(&self.root, 0)
    }

    /// Whether `path` lies in this folder's `audio/` (no `..` in it): the only files the
    /// server serves or deletes as recordings, whatever the database says.
    pub fn holds_audio(&self, path: &Path) -> bool {
        path.starts_with(self.root.join("audio"))
            && !path
                .components()
                .any(|part| matches!(part, std::path::Component::ParentDir))
    }

    /// Deletes a recording the store named, if it lies in this folder's `audio/` (a path from
    /// the database is never trusted to point anywhere else); a missing file is fine.
    pub fn remove_audio(&self, path: &Path) {
        if !self.holds_audio(path) {
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

    /// Where an upload's bytes are spooled while the request arrives, under a fresh name.
    pub fn incoming_upload(&self) -> PathBuf {
        Self::partial(
            &self
                .scratch()
                .join(format!("upload-{}", uuid::Uuid::new_v4().simple())),
        )
    }

    /// The name a file is written under until it is whole: `path` with `.partial` added.
    pub fn partial(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(PARTIAL);
        PathBuf::from(name)
    }

    /// Removes the `.partial` files a killed process left (spooled uploads, half-decoded
    /// audio): nothing refers to them. Returns how many. Call at start, before any upload.
    pub fn remove_partial_files(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        let mut folders = vec![self.scratch()];
        if let Ok(clients) = std::fs::read_dir(self.root.join("audio")) {
            folders.extend(clients.flatten().map(|entry| entry.path()));
        }
        for folder in folders {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let is_partial = path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().ends_with(PARTIAL));
                if is_partial && entry.file_type().is_ok_and(|t| t.is_file()) {
                    std::fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn audio(&self, client_id: &str) -> PathBuf {
        self.root.join("audio").join(client_id)
    }
}

/// Folders this deep below the data folder are left as they are (it has three levels).
const MAX_PRIVATE_DEPTH: usize = 8;

fn make_private(path: &Path, depth: usize) -> std::io::Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::symlink_metadata(path)?;
    let wanted = if metadata.is_dir() {
        0o700
    } else if metadata.is_file() {
        0o600
    } else {
        return Ok(0);
    };
    let mut changed = 0;
    if metadata.permissions().mode() & 0o777 != wanted {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
        changed += 1;
    }
    if metadata.is_dir() && depth < MAX_PRIVATE_DEPTH {
        for entry in std::fs::read_dir(path)? {
            changed += make_private(&entry?.path(), depth + 1)?;
        }
    }
    Ok(changed)
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

    #[test]
    fn the_partial_files_a_killed_process_left_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = DataFolder::new(dir.path());
        let spooled = folder.incoming_upload();
        let stored = folder.upload_audio("c1");
        let half = DataFolder::partial(&folder.upload_audio("c1"));
        let session = folder.session_audio("c1", "s1");
        for path in [&spooled, &stored, &half, &session] {
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
            std::fs::write(path, b"RIFF").expect("write");
        }
        assert!(spooled.starts_with(folder.scratch()));
        assert_eq!(folder.remove_partial_files().expect("sweep"), 2);
        assert!(!spooled.exists() && !half.exists());
        assert!(stored.exists() && session.exists());
        assert_eq!(folder.remove_partial_files().expect("sweep again"), 0);
    }
}

#[cfg(test)]
mod privacy {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn opening_the_store_makes_the_data_folder_private_and_fixes_what_was_readable() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let audio = data.join("audio/ana-omi");
        std::fs::create_dir_all(&audio).unwrap();
        let recording = audio.join("s1.wav");
        std::fs::write(&recording, b"RIFF").unwrap();
        std::fs::set_permissions(&recording, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();

        let store = crate::Store::open(&data).await.unwrap();
        store
            .create_user("ana@example.com", "h", false)
            .await
            .unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("audio")), 0o700);
        assert_eq!(mode(&recording), 0o600);
        assert_eq!(mode(&store.folder().database()), 0o600);
        let wal = data.join(format!("{DATABASE_FILE}-wal"));
        assert_eq!(
            mode(&wal),
            0o600,
            "SQLite gives its journal the database's mode"
        );
    }
}
