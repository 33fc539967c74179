//! End-to-end tests of the `chronicle` binary: each runs the real executable in a fresh
//! directory and, on failure, shows the command, its directory, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temp working directory with its own `config/` and `plugins/` (a copy of the shipped
/// plugin folders).
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn shipped() -> Self {
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

    fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn with_plugins_yml(plugins_yml: &str) -> Self {
        let workspace = Self::shipped();
        workspace.write("config/plugins.yml", plugins_yml);
        workspace
    }

    fn write(&self, relative: &str, contents: &str) {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chronicle"));
        command
            .args(args)
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

struct Run {
    description: String,
    output: Output,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    #[track_caller]
    fn expect_code(&self, code: i32) -> &Self {
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
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|error| {
            panic!(
                "{}: stdout is not one JSON value ({error}):\n{}",
                self.description,
                self.stdout()
            )
        })
    }
}

fn statuses(record: &Value) -> Vec<(String, String)> {
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

fn pair(id: &str, status: &str) -> (String, String) {
    (id.to_owned(), status.to_owned())
}

#[test]
fn validate_accepts_the_shipped_configuration() {
    let run = Workspace::shipped().run(&["plugin", "validate"]);
    run.expect_code(0);
    assert_eq!(run.stdout(), "ok\n");
}

#[test]
fn validate_lists_every_error_with_file_line_and_column() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  test_event:\n    enabled: true\n    events: [conversation.completed]\n    permissions: [datab]\n  nope:\n    enabled: true\n",
    );
    let run = workspace.run(&["plugin", "validate"]);
    run.expect_code(1);
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with(' ') && !line.contains(": warning: "))
        .collect();
    assert_eq!(
        lines,
        [
            "config/plugins.yml:4:14: unknown event `conversation.completed` (did you mean `conversation.complete`?)",
            "config/plugins.yml:5:19: unknown permission `datab` (expected one of: close_conversation, star_conversation, call_plugin, database, llm)",
            "config/plugins.yml:6:3: no runtime provides plugin `nope`",
        ]
    );
    assert!(stderr.contains("    help: "), "{stderr}");
    assert_eq!(run.stdout(), "");
}

#[test]
fn list_shows_every_plugin_with_runtime_status_and_condition() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  keyword_alerter:\n    enabled: true\n    events: [transcript.streaming]\n    condition: {type: wake_word, wake_words: [hey hermes]}\n    priority: 5\n    keywords: [urgent]\n  todo_extractor:\n    enabled: false\n",
    );
    let run = workspace.run(&["plugin", "list", "--json"]);
    run.expect_code(0);
    let plugins = run.json();
    let rows: Vec<Value> = plugins
        .as_array()
        .expect("array")
        .iter()
        .map(|p| {
            json!([
                p["plugin_id"],
                p["runtime"],
                p["enabled"],
                p["status"],
                p["priority"],
                p["condition"]["type"]
            ])
        })
        .collect();
    assert_eq!(
        rows,
        [
            json!([
                "keyword_alerter",
                "native",
                true,
                "initialized",
                5,
                "wake_word"
            ]),
            json!(["todo_extractor", "native", false, "disabled", 100, "always"]),
            json!(["test_event", "native", false, "not_configured", 100, null]),
            json!([
                "test_button_actions",
                "native",
                false,
                "not_configured",
                100,
                null
            ]),
        ]
    );
    let table = workspace.run(&["plugin", "list"]);
    table.expect_code(0);
    assert!(table.stdout().starts_with("PLUGIN"), "{}", table.stdout());
    assert!(
        table.stdout().contains("wake_word [\"hey hermes\"]"),
        "{}",
        table.stdout()
    );
}

#[test]
fn test_prints_exactly_one_json_dispatch_record() {
    let run = Workspace::shipped().run(&[
        "plugin",
        "test",
        "--event",
        "transcript.streaming",
        "--json",
        "--user-id",
        "ana",
        "--data",
        r#"{"transcript": "This is urgent, call the doctor", "session_id": "s1"}"#,
        "--metadata",
        r#"{"client_id": "pendant"}"#,
    ]);
    run.expect_code(0);
    let record = run.json();
    let keys: Vec<&String> = record.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["event", "user_id", "plugins", "metadata", "services"]
    );
    assert_eq!(record["event"], "transcript.streaming");
    assert_eq!(record["user_id"], "ana");
    assert_eq!(
        statuses(&record),
        [
            pair("keyword_alerter", "executed"),
            pair("test_event", "executed")
        ]
    );
    let alert = &record["plugins"][0];
    assert_eq!(alert["result"]["message"], "Alert sent for keyword: urgent");
    assert_eq!(alert["result"]["should_continue"], true);
    assert!(alert["duration_ms"].as_f64().is_some());
    assert_eq!(alert["reason"], Value::Null);
    assert_eq!(record["metadata"], json!({"client_id": "pendant"}));
    assert_eq!(
        record["services"],
        json!([{
            "plugin_id": "test_event", "call": "insert_one", "allowed": true,
            "args": record["services"][0]["args"].clone(),
        }])
    );
    assert_eq!(
        record["services"][0]["args"]["document"]["data"]["session_id"],
        "s1"
    );
}

#[test]
fn a_button_press_closes_the_session_given_and_stops_the_chain() {
    let workspace = Workspace::shipped();
    let data = r#"{"state": "SINGLE_PRESS", "session_id": "s1", "client_id": "abc-pendant"}"#;
    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "button.single_press",
        "--data",
        data,
        "--session",
        "s1",
        "--json",
    ]);
    run.expect_code(0);
    let record = run.json();
    assert_eq!(
        statuses(&record),
        [
            pair("test_button_actions", "executed"),
            pair("test_event", "skipped")
        ]
    );
    assert_eq!(
        record["plugins"][1]["reason"],
        "chain stopped by `test_button_actions`"
    );
    assert_eq!(
        record["services"][0]["args"],
        json!({"session_id": "s1", "reason": "button_close"})
    );

    // Without --session nothing is live: the close fails and the chain goes on.
    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "button.single_press",
        "--data",
        data,
        "--json",
    ]);
    let record = run.json();
    assert_eq!(
        record["plugins"][0]["result"]["message"],
        "Failed to close conversation"
    );
    assert_eq!(statuses(&record)[1], pair("test_event", "executed"));
}

#[test]
fn test_reads_data_from_a_file_and_prints_a_readable_record() {
    let workspace = Workspace::shipped();
    workspace.write(
        "event.json",
        r#"{"transcript": "I need to renew my passport."}"#,
    );
    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "conversation.complete",
        "--data",
        "@event.json",
    ]);
    run.expect_code(0);
    let stdout = run.stdout();
    assert!(
        stdout.starts_with("conversation.complete for user cli-user\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("todo_extractor") && stdout.contains("Extracted 1 action items"),
        "{stdout}"
    );
}

#[test]
fn a_failing_plugin_exits_3_and_bad_input_exits_2() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  test_event:\n    enabled: true\n    events: [memory.processed]\n",
    );
    let run = workspace.run(&["plugin", "test", "--event", "memory.processed", "--json"]);
    run.expect_code(3);
    let record = run.json();
    assert_eq!(statuses(&record), [pair("test_event", "failed")]);
    assert!(
        record["plugins"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("add `database` to its `permissions`")
    );
    assert_eq!(record["services"][0]["allowed"], false);

    for (args, expected) in [
        (
            &["--event", "memory.processd"][..],
            "unknown event `memory.processd` (did you mean `memory.processed`?)",
        ),
        (
            &["--event", "memory.processed", "--data", "[1]"],
            "--data: expected a JSON object",
        ),
        (
            &["--event", "memory.processed", "--data", "{oops"],
            "--data: not valid JSON",
        ),
        (
            &["--event", "memory.processed", "--data", "@missing.json"],
            "cannot read missing.json",
        ),
    ] {
        let run = workspace.run(&[&["plugin", "test"][..], args].concat());
        run.expect_code(2);
        assert!(
            run.stderr().contains(expected),
            "{}: {}",
            run.description,
            run.stderr()
        );
    }
}

#[test]
fn config_locations_come_from_flags_or_the_environment() {
    let workspace = Workspace::shipped();
    std::fs::rename(
        workspace.dir.path().join("config"),
        workspace.dir.path().join("elsewhere"),
    )
    .expect("rename");
    let mut command = Command::new(env!("CARGO_BIN_EXE_chronicle"));
    let output = command
        .args(["plugin", "validate"])
        .current_dir(workspace.dir.path())
        .env("CONFIG_DIR", "elsewhere")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    let run = workspace.run(&["plugin", "list", "--json", "--config-dir", "elsewhere"]);
    run.expect_code(0);
    assert_eq!(run.json()[0]["status"], "initialized");
    // Without it the file is missing: a warning, and nothing is enabled.
    let run = workspace.run(&["plugin", "list", "--json"]);
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("config/plugins.yml:1:1: warning: file not found"),
        "{}",
        run.stderr()
    );
}

#[test]
fn new_scaffolds_a_rust_plugin_from_the_compiled_template() {
    let workspace = Workspace::empty();
    let run = workspace.run(&[
        "plugin",
        "new",
        "weather_reporter",
        "--crate-dir",
        "crates/plugins",
    ]);
    run.expect_code(0);
    let module = workspace
        .dir
        .path()
        .join("crates/plugins/src/weather_reporter");
    for file in ["mod.rs", "config.rs", "plugin.rs", "tests.rs"] {
        let text = std::fs::read_to_string(module.join(file)).expect(file);
        assert!(
            !text.contains("scaffold_example") && !text.contains("ScaffoldExample"),
            "{file} still names the template"
        );
        assert_eq!(
            text.replace("weather_reporter", "scaffold_example")
                .replace("WeatherReporter", "ScaffoldExample")
                .replace("Weather Reporter", "Scaffold Example"),
            std::fs::read_to_string(
                repo_root()
                    .join("crates/cli/templates/rust_plugin")
                    .join(file)
            )
            .expect("template"),
            "{file} is the template with the names replaced"
        );
    }
    let mod_rs = std::fs::read_to_string(module.join("mod.rs")).expect("mod.rs");
    assert!(
        mod_rs.contains("id: \"weather_reporter\"")
            && mod_rs.contains("WeatherReporterPlugin::new")
    );
    assert!(
        workspace
            .dir
            .path()
            .join("plugins/weather_reporter/config.yml")
            .is_file()
    );
    assert!(run.stdout().contains("To register `weather_reporter`"));

    workspace
        .run(&[
            "plugin",
            "new",
            "weather_reporter",
            "--crate-dir",
            "crates/plugins",
        ])
        .expect_code(2);
    workspace
        .run(&[
            "plugin",
            "new",
            "weather_reporter",
            "--crate-dir",
            "crates/plugins",
            "--force",
        ])
        .expect_code(0);
    let run = workspace.run(&["plugin", "new", "Bad-Name"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("not a valid plugin id"),
        "{}",
        run.stderr()
    );
}
