//! A plugin that tries every way out of what it was granted, run by the real binary: the
//! host's secrets in its environment, the database and the auth secret in the data folder,
//! another plugin's code, the host's environment through /proc, inherited descriptors, and
//! the network when its entry says `network: false`.

mod workspace;

use std::net::TcpListener;

use serde_json::Value;
use workspace::{Workspace, pair, statuses};

/// Tries each escape and reports what happened, as `{name: "refused: …" | "allowed: …"}`.
const ESCAPER: &str = r#"import os, socket, stat

from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


def attempt(action):
    try:
        return "allowed: " + str(action())[:60]
    except Exception as error:
        return "refused: " + type(error).__name__


class EscaperPlugin(BasePlugin):
    async def on_conversation_complete(self, context):
        c = self.config
        def read(path):
            with open(path, "rb") as f:
                return len(f.read())
        def write_own():
            with open(os.path.join(os.getcwd(), "state.txt"), "w") as f:
                return f.write("mine")
        def write_tmp():
            with open(os.path.join(os.environ["TMPDIR"], "scratch"), "w") as f:
                return f.write("scratch")
        def connect():
            with socket.create_connection(("127.0.0.1", int(c["port"])), timeout=2):
                return "connected"
        # The SDK's own pipes, event loop and sockets are not files; an inherited descriptor
        # of the host's (the database, a recording) would be.
        open_files = []
        for fd in range(3, 1024):
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    open_files.append(fd)
            except OSError:
                pass
        report = {
            "secrets_in_env": sorted(k for k in ("AUTH_SECRET_KEY", "ADMIN_PASSWORD", "SMTP_PASSWORD") if k in os.environ),
            "named_variable": os.environ.get("CHRONICLE_TEST_SMTP_HOST", "absent"),
            "database": attempt(lambda: read(c["database"])),
            "auth_secret": attempt(lambda: read(c["auth_secret"])),
            "other_plugin": attempt(lambda: read(c["other_plugin"])),
            "config_env": attempt(lambda: read(c["config_env"])),
            "host_environ": attempt(lambda: read(f"/proc/{os.getppid()}/environ")),
            "own_folder": attempt(write_own),
            "private_tmp": attempt(write_tmp),
            "network": attempt(connect),
            "open_files": open_files,
        }
        return PluginResult(success=True, message="tried", data=report)
"#;

#[test]
fn a_plugin_reaches_only_its_own_folder_and_variables() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let workspace = Workspace::empty();
    let root = workspace.dir.path().to_owned();
    let at = |relative: &str| root.join(relative).display().to_string();
    workspace.write(
        "config/plugins.yml",
        &format!(
            concat!(
                "plugins:\n",
                "  escaper:\n",
                "    enabled: true\n",
                "    events: [conversation.complete]\n",
                "    network: false\n",
                "    smtp_host: ${{CHRONICLE_TEST_SMTP_HOST}}\n",
                "    port: {port}\n",
                "    database: {database}\n",
                "    auth_secret: {secret}\n",
                "    other_plugin: {other}\n",
                "    config_env: {env}\n",
            ),
            port = port,
            database = at("data/chronicle.db"),
            secret = at("data/auth_secret"),
            other = at("plugins/other/plugin.py"),
            env = at(".env"),
        ),
    );
    workspace.write("plugins/escaper/plugin.py", ESCAPER);
    workspace.write("plugins/other/plugin.py", "# another plugin's code\n");
    workspace.write("data/auth_secret", "the-server-signing-key\n");
    workspace.write(".env", "SMTP_PASSWORD=from-the-project-env\n");
    workspace
        .run(&[
            "user",
            "add",
            "ana@example.com",
            "--password",
            "a-long-enough-password",
            "--data-dir",
            &at("data"),
        ])
        .expect_code(0);
    assert!(root.join("data/chronicle.db").is_file());

    let run = workspace.run_with_env(
        &[
            "plugin",
            "test",
            "--event",
            "conversation.complete",
            "--json",
        ],
        &[
            ("AUTH_SECRET_KEY", "host-secret"),
            ("ADMIN_PASSWORD", "host-admin-password"),
            ("CHRONICLE_TEST_SMTP_HOST", "smtp.example.com"),
        ],
    );
    run.expect_code(0);
    let record = run.json();
    assert_eq!(statuses(&record), [pair("escaper", "executed")]);
    let report = &record["plugins"][0]["result"]["data"];
    let field = |name: &str| report[name].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        report["secrets_in_env"],
        Value::Array(Vec::new()),
        "{report}"
    );
    assert_eq!(
        field("named_variable"),
        "smtp.example.com",
        "its settings name it"
    );
    for escape in [
        "database",
        "auth_secret",
        "other_plugin",
        "config_env",
        "host_environ",
    ] {
        assert!(
            field(escape).starts_with("refused: PermissionError"),
            "{escape}: {report}"
        );
    }
    assert!(
        field("network").starts_with("refused: PermissionError"),
        "{report}"
    );
    assert!(field("own_folder").starts_with("allowed"), "{report}");
    assert!(field("private_tmp").starts_with("allowed"), "{report}");
    assert_eq!(
        report["open_files"],
        Value::Array(Vec::new()),
        "no file of the host's: {report}"
    );
    drop(listener);

    let list = workspace.run(&["plugin", "list", "--json"]);
    let rows = list.json();
    let escaper = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["plugin_id"] == "escaper"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(escaper["sandbox"], "landlock", "{escaper}");
}
