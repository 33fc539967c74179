//! Style rules that are cheaper to check than to remember (after rust-analyzer's tidy.rs).

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_crate_root_says_what_the_crate_is_for() {
    for dir in crate_dirs() {
        for root in ["src/lib.rs", "src/main.rs"] {
            let path = dir.join(root);
            if let Ok(text) = std::fs::read_to_string(&path) {
                assert!(
                    text.starts_with("//!"),
                    "{} must open with a //! doc comment",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn every_crate_inherits_the_workspace_rust_version_and_lints() {
    for dir in crate_dirs() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            manifest.contains("rust-version.workspace = true"),
            "{}",
            dir.display()
        );
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{}",
            dir.display()
        );
    }
    let workspace = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    assert!(workspace.contains("rust-version = \"1.95\""));
}

#[test]
fn no_should_panic_ignore_or_unwrap_outside_tests() {
    let mut files = Vec::new();
    for dir in crate_dirs() {
        rust_files(&dir.join("src"), &mut files);
    }
    rust_files(&repo_root().join("crates/cli/templates"), &mut files);
    let should_panic = concat!("#[should", "_panic");
    let ignore = concat!("#[ig", "nore");
    let unwrap = concat!(".unw", "rap()");
    let mut problems = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        for marker in [should_panic, ignore] {
            if text.contains(marker) {
                problems.push(format!(
                    "{}: {marker}] (assert today's behaviour with a FIXME instead)",
                    path.display()
                ));
            }
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if matches!(name, "tests.rs" | "testing.rs") {
            continue;
        }
        // Test modules close each file by convention: check only what comes before.
        let production = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for (number, line) in production.lines().enumerate() {
            if line.contains(unwrap) && !line.trim_start().starts_with("//") {
                problems.push(format!(
                    "{}:{}: {unwrap} outside tests",
                    path.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
