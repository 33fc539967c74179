//! The Python SDK, embedded at build time and written out once per SDK version.

use std::io;
use std::path::PathBuf;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/python_sdk.rs"));
}

/// The folder to put on a Python plugin's PYTHONPATH: `CHRONICLE_PYTHON_SDK` when set (for
/// working on the SDK), otherwise the embedded copy, written to the temp folder under a name
/// that changes with its contents.
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
    let target = std::env::temp_dir().join(format!("chronicle-python-sdk-{}", embedded::HASH));
    let marker = target.join(".complete");
    if marker.is_file() {
        return Ok(target);
    }
    // Write beside, then rename: a concurrent host sees either nothing or the whole SDK.
    let staging = std::env::temp_dir().join(format!(
        "chronicle-python-sdk-{}.{}",
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
