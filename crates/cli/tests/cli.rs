//! End-to-end tests of the `chronicle` binary: each runs the real executable in a fresh
//! directory and, on failure, shows the command, its directory, stdout and stderr.

mod workspace;

use std::process::Command;

use serde_json::{Value, json};
use workspace::{Workspace, pair, repo_root, statuses};

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
            "config/plugins.yml:5:19: unknown permission `datab` (expected one of: close_conversation, star_conversation, call_plugin, database, llm, stop_playback, search)",
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
            json!(["webhook", "native", false, "not_configured", 100, null]),
            json!([
                "slack_notifier",
                "native",
                false,
                "not_configured",
                100,
                null
            ]),
            json!([
                "email_summarizer",
                "native",
                false,
                "not_configured",
                100,
                null
            ]),
            json!([
                "homeassistant",
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
        "plugins:\n  test_event:\n    enabled: true\n    events: [memory.processed]\n    permissions: []\n",
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
fn check_runs_a_plugins_connection_test_and_says_how_to_fix_what_failed() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  test_event:\n    enabled: true\n    events: [memory.processed]\n  \
         todo_extractor:\n    enabled: false\n    events: [conversation.complete]\n",
    );
    // A plugin without a service of its own: its health check is the one step.
    let run = workspace.run(&["plugin", "check", "test_event"]);
    run.expect_code(0);
    assert!(
        run.stdout().starts_with("test_event: ok\n"),
        "{}",
        run.stdout()
    );
    let report = workspace
        .run(&["plugin", "check", "test_event", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["checks"][0]["name"], "health check");

    let run = workspace.run(&["plugin", "check", "todo_extractor"]);
    run.expect_code(3);
    assert!(
        run.stdout().contains("`todo_extractor` is disabled"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout()
            .contains("fix: set `enabled: true` for it in plugins.yml"),
        "{}",
        run.stdout()
    );

    // A service that is down: the failing step, what came back, and the fix.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let workspace = Workspace::with_plugins_yml(&format!(
        "plugins:\n  email_summarizer:\n    enabled: true\n    events: [conversation.complete]\n    \
         smtp_host: 127.0.0.1\n    smtp_port: {closed}\n    smtp_use_tls: false\n    \
         from_email: chronicle@example.com\n"
    ));
    let run = workspace.run(&["plugin", "check", "email_summarizer"]);
    run.expect_code(3);
    let out = run.stdout();
    assert!(
        out.contains(&format!("connect to 127.0.0.1:{closed} (plain text)"))
            && out.contains("Connection refused")
            && out.contains("fix: cannot reach 127.0.0.1"),
        "{out}"
    );

    let run = workspace.run(&["plugin", "check", "nope"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("no plugin `nope`"),
        "{}",
        run.stderr()
    );
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

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

#[test]
fn killing_the_host_leaves_no_plugin_process_behind() {
    let workspace = Workspace::empty();
    // In the plugin's own folder: the sandbox lets it write nowhere else.
    let pid_file = workspace.dir.path().join("plugins/raw/plugin.pid");
    workspace.write(
        "config/plugins.yml",
        &format!(
            "plugins:\n  raw:\n    enabled: true\n    events: [transcript.batch]\n    timeout: 120\n    mode: sleep\n    seconds: 120\n    pid_file: {}\n",
            pid_file.display()
        ),
    );
    workspace.write(
        "plugins/raw/plugin.toml",
        "command = \"python3\"\nargs = [\"main.py\"]\nprotocol_version = \"1.0\"\n",
    );
    workspace.write(
        "plugins/raw/main.py",
        include_str!("../../plugin-host/tests/fixtures/raw_plugin.py"),
    );
    let mut host = Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .args(["plugin", "test", "--event", "transcript.batch"])
        .current_dir(workspace.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chronicle");
    let plugin_pid = (0..200)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::fs::read_to_string(&pid_file)
                .ok()?
                .trim()
                .parse::<u32>()
                .ok()
        })
        .expect("the plugin process started and wrote its pid");
    std::thread::sleep(std::time::Duration::from_millis(300)); // let the call reach the plugin
    assert!(process_alive(plugin_pid));
    host.kill().expect("kill -9 the host");
    host.wait().expect("reap the host");
    let gone = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !process_alive(plugin_pid)
    });
    assert!(gone, "plugin process {plugin_pid} outlived its host");
}

/// A workspace with `config/examples/plugins.yml` as its configuration and the example plugin
/// folders it names.
fn examples_workspace() -> Workspace {
    let workspace = Workspace::shipped();
    workspace.write(
        "config/plugins.yml",
        &std::fs::read_to_string(repo_root().join("config/examples/plugins.yml")).expect("read"),
    );
    for id in [
        "todo_extractor_py",
        "keyword_alerter_py",
        "analytics_tracker",
    ] {
        for file in ["__init__.py", "plugin.py", "config.yml"] {
            let text = std::fs::read_to_string(repo_root().join("plugins").join(id).join(file))
                .expect("example file");
            workspace.write(&format!("plugins/{id}/{file}"), &text);
        }
    }
    workspace
}

#[test]
fn the_guides_examples_run_through_plugin_test_with_the_results_it_promises() {
    let workspace = examples_workspace();
    let list = workspace.run(&["plugin", "list", "--json"]);
    list.expect_code(0);
    for plugin in list.json().as_array().expect("array").iter().filter(|p| {
        p["plugin_id"]
            .as_str()
            .is_some_and(|id| id != "test_event" && p["configured"] == true)
    }) {
        assert_eq!(
            (&plugin["runtime"], &plugin["status"]),
            (&json!("python"), &json!("initialized")),
            "{plugin}"
        );
        assert!(
            plugin["pid"].as_u64().is_some() && plugin["restarts"] == 0,
            "{plugin}"
        );
    }

    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "conversation.complete",
        "--json",
        "--data",
        r#"{"transcript": "I need to buy milk", "duration": 12.5, "conversation_id": "c1"}"#,
    ]);
    run.expect_code(0);
    let record = run.json();
    assert_eq!(
        statuses(&record),
        [
            pair("todo_extractor_py", "executed"),
            pair("analytics_tracker", "executed"),
            pair("test_event", "executed")
        ]
    );
    let todo = &record["plugins"][0]["result"];
    assert_eq!(
        (&todo["message"], &todo["data"]["todos"]),
        (&json!("Extracted 1 action items"), &json!(["buy milk"]))
    );
    assert_eq!(record["plugins"][1]["result"]["success"], true);
    let calls: Vec<(&str, &str)> = record["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|c| {
            (
                c["plugin_id"].as_str().unwrap_or(""),
                c["call"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("todo_extractor_py", "insert_one"),
            ("analytics_tracker", "insert_one"),
            ("test_event", "insert_one")
        ]
    );
    assert_eq!(record["services"][1]["args"]["document"]["word_count"], 5);

    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "transcript.streaming",
        "--json",
        "--data",
        r#"{"transcript": "this is an emergency"}"#,
    ]);
    run.expect_code(0);
    let alert = &run.json()["plugins"][0];
    assert_eq!(
        (&alert["plugin_id"], &alert["result"]["message"]),
        (
            &json!("keyword_alerter_py"),
            &json!("Alert sent for keyword: emergency")
        )
    );
    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "transcript.streaming",
        "--json",
        "--data",
        r#"{"transcript": "all calm"}"#,
    ]);
    let quiet = &run.json()["plugins"][0]["result"];
    assert_eq!(
        (&quiet["success"], &quiet["message"]),
        (&json!(true), &Value::Null),
        "the guide returns a bare success when nothing matched"
    );
}

#[test]
fn new_python_scaffolds_the_guides_layout_which_validates_and_runs() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  word_counter:\n    enabled: true\n    events: [conversation.complete]\n",
    );
    workspace
        .run(&["plugin", "new", "word_counter", "--lang", "python"])
        .expect_code(0);
    for file in ["__init__.py", "plugin.py", "README.md", "config.yml"] {
        let text =
            std::fs::read_to_string(workspace.dir.path().join("plugins/word_counter").join(file))
                .expect(file);
        assert!(
            !text.contains("scaffold_example") && !text.contains("ScaffoldExample"),
            "{file}"
        );
    }
    let validate = workspace.run(&["plugin", "validate"]);
    validate.expect_code(0);
    assert_eq!(validate.stdout(), "ok\n");
    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "conversation.complete",
        "--json",
        "--data",
        r#"{"transcript": "one two three"}"#,
    ]);
    run.expect_code(0);
    let record = run.json();
    assert_eq!(statuses(&record), [pair("word_counter", "executed")]);
    assert_eq!(record["plugins"][0]["result"]["message"], "3 words");
}

#[test]
fn a_subscribed_plugin_that_failed_to_start_makes_plugin_test_exit_3() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  broken:\n    enabled: true\n    events: [conversation.complete]\n",
    );
    workspace.write(
        "plugins/broken/plugin.py",
        "from advanced_omi_backend.plugins.base import BasePlugin\n\nclass BrokenPlugin(BasePlugin):\n    async def initialize(self):\n        raise RuntimeError('no token configured')\n",
    );
    let run = workspace.run(&["plugin", "test", "--event", "conversation.complete"]);
    run.expect_code(3);
    assert!(
        run.stderr()
            .contains("plugin `broken` is failed and did not run")
            && run.stderr().contains("no token configured"),
        "{}",
        run.stderr()
    );
}

#[test]
fn plugin_validate_imports_python_plugins_and_names_the_failing_line() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  needs_missing:\n    enabled: true\n    events: [conversation.complete]\n",
    );
    workspace.write(
        "plugins/needs_missing/plugin.py",
        "import json\nimport a_module_nobody_installed\n\nfrom advanced_omi_backend.plugins.base import BasePlugin\n\nclass NeedsMissingPlugin(BasePlugin):\n    pass\n",
    );
    let run = workspace.run(&["plugin", "validate"]);
    run.expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("plugin `needs_missing`: its code does not import: ModuleNotFoundError: No module named 'a_module_nobody_installed'")
            && stderr.contains("plugin.py, line 2)"),
        "{stderr}"
    );
    assert_eq!(run.stdout(), "", "no `ok` for a plugin that cannot import");
}

#[test]
fn a_user_folder_runs_instead_of_the_bundled_plugin_of_that_name() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  test_event:\n    enabled: true\n    events: [conversation.complete]\n",
    );
    workspace.write(
        "plugins/test_event/plugin.py",
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginResult\n\nclass TestEventPlugin(BasePlugin):\n    async def on_conversation_complete(self, context):\n        return PluginResult(success=True, message='the user folder ran')\n",
    );
    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "conversation.complete",
        "--json",
    ]);
    run.expect_code(0);
    assert_eq!(
        run.json()["plugins"][0]["result"]["message"],
        "the user folder ran"
    );
    assert!(
        run.stderr()
            .contains("runs as `test_event` (python) instead of the bundled plugin"),
        "{}",
        run.stderr()
    );
    let list = workspace.run(&["plugin", "list", "--json"]);
    let plugins = list.json();
    let row = plugins
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["plugin_id"] == "test_event"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["runtime"], "python");
}
