//! The `chronicle` binary run in a fresh directory: a workspace with its own `config/` and
//! `plugins/`, and each run's command, directory, stdout and stderr for failure messages.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temp working directory with its own `config/` and `plugins/` (a copy of the shipped
/// plugin folders).
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn shipped() -> Self {
        let workspace = Self::empty();
        let plugins = repo_root().join("plugins");
        for entry in std::fs::read_dir(&plugins).expect("plugins/") {
            let entry = entry.expect("entry");
            let config = entry.path().join("config.yml");
            if config.is_file() {
                workspace.write(
                    &format!("plugins/{}/config.yml", entry.file_name().to_string_lossy()),
                    &std::fs::read_to_string(config).expect("read"),
                );
            }
        }
        workspace.write(
            "config/plugins.yml",
            &std::fs::read_to_string(repo_root().join("config/plugins.yml")).expect("read"),
        );
        workspace
    }

    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn with_plugins_yml(plugins_yml: &str) -> Self {
        let workspace = Self::shipped();
        workspace.write("config/plugins.yml", plugins_yml);
        workspace
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    /// Runs with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chronicle"));
        command
            .args(args)
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .env_remove("CONFIG_DIR")
            .env_remove("PLUGINS_DIR")
            .env_remove("RUST_LOG");
        let output = command.output().expect("run chronicle");
        Run {
            description: format!(
                "chronicle {}\n  in {}",
                args.join(" "),
                self.dir.path().display()
            ),
            output,
        }
    }
}

pub struct Run {
    pub description: String,
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.output.status.code(),
            Some(code),
            "{}\n--- stdout\n{}\n--- stderr\n{}",
            self.description,
            self.stdout(),
            self.stderr()
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|error| {
            panic!(
                "{}: stdout is not one JSON value ({error}):\n{}",
                self.description,
                self.stdout()
            )
        })
    }
}

pub fn statuses(record: &Value) -> Vec<(String, String)> {
    record["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .map(|p| {
            (
                p["plugin_id"].as_str().unwrap_or("").to_owned(),
                p["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

pub fn pair(id: &str, status: &str) -> (String, String) {
    (id.to_owned(), status.to_owned())
}
