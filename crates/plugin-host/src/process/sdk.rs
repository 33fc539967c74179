//! The Python SDK, embedded at build time and written out once per SDK version.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/python_sdk.rs"));
}

/// The folder to put on a Python plugin's PYTHONPATH: `CHRONICLE_PYTHON_SDK` when set (for
/// working on the SDK), otherwise the embedded copy, written to a private cache folder under a
/// name that changes with its contents.
pub fn python_path() -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHRONICLE_PYTHON_SDK") {
        return Ok(PathBuf::from(path));
    }
    if embedded::FILES.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "this build embeds no Python SDK",
        ));
    }
    let root = private_cache_dir()?;
    let target = root.join(format!("python-sdk-{}", embedded::HASH));
    let marker = target.join(".complete");
    if marker.is_file() {
        return Ok(target);
    }
    // Write beside, then rename: a concurrent host sees either nothing or the whole SDK.
    let staging = root.join(format!(
        "python-sdk-{}.{}",
        embedded::HASH,
        std::process::id()
    ));
    for (relative, contents) in embedded::FILES {
        let path = staging.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    std::fs::write(staging.join(".complete"), embedded::HASH)?;
    match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        Err(_) if marker.is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(target)
        }
        Err(error) => Err(error),
    }
}

/// `$XDG_CACHE_HOME/chronicle`, `~/.cache/chronicle`, or `$TMPDIR/chronicle-<uid>`: a folder
/// only this user can write, so nobody else can plant code that plugins would run.
pub(crate) fn private_cache_dir() -> io::Result<PathBuf> {
    let uid = nix::unistd::getuid().as_raw();
    let root = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(|dir| PathBuf::from(dir).join("chronicle"))
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|dir| !dir.is_empty())
                .map(|home| PathBuf::from(home).join(".cache/chronicle"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join(format!("chronicle-{uid}")));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&root)?;
    check_private(&root, uid)?;
    Ok(root)
}

fn check_private(dir: &Path, uid: u32) -> io::Result<()> {
    let metadata = std::fs::symlink_metadata(dir)?;
    if !metadata.is_dir() || metadata.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a folder owned by this user", dir.display()),
        ));
    }
    if metadata.permissions().mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} can be written by other users; run `chmod go-w {}`",
                dir.display(),
                dir.display()
            ),
        ));
    }
    Ok(())
}
