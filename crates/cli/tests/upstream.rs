//! Plugins written as the Python Chronicle's are, run unchanged through the real binary: its
//! imports (both package names), no `permissions`, a `requirements.txt`, folders named like
//! bundled plugins, an unset variable in one plugin's settings.

mod workspace;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use workspace::{Workspace, pair, statuses};

/// The guide's Slack example as the guide writes it, with the import it needs.
const GUIDE_SLACK: &str = r#"import aiohttp

from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


class SlackNotifierPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ['conversation']

    async def initialize(self):
        self.webhook_url = self.config.get('slack_webhook_url')
        if not self.webhook_url:
            raise ValueError("Slack webhook URL required")

    async def on_conversation_complete(self, context):
        transcript = context.data.get('transcript', '')
        duration = context.data.get('duration', 0)

        message = {
            "text": f"New conversation ({duration:.1f}s)",
            "blocks": [{
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"```{transcript[:500]}```"}
            }]
        }

        async with aiohttp.ClientSession() as session:
            await session.post(self.webhook_url, json=message)

        return PluginResult(success=True, message="Notification sent")
"#;

/// One HTTP request's body, answered 200, on a port of its own; the body arrives on the
/// channel.
fn one_request_receiver() -> (u16, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_ok() {
            let _ = sender.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
        let _ = reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    });
    (port, receiver)
}

#[test]
fn the_guides_slack_example_installs_its_requirements_and_runs_in_place_of_the_bundled_one() {
    let (port, received) = one_request_receiver();
    let workspace = Workspace::with_plugins_yml(&format!(
        "plugins:\n  slack_notifier:\n    enabled: true\n    events: [conversation.complete]\n    slack_webhook_url: http://127.0.0.1:{port}/hook\n"
    ));
    workspace.write("plugins/slack_notifier/plugin.py", GUIDE_SLACK);
    workspace.write(
        "plugins/slack_notifier/__init__.py",
        "from .plugin import SlackNotifierPlugin\n",
    );
    workspace.write("plugins/slack_notifier/requirements.txt", "aiohttp\n");
    let cache = workspace.dir.path().join("cache");
    let cache = cache.to_string_lossy();
    let run = workspace.run_with_env(
        &[
            "plugin",
            "test",
            "--event",
            "conversation.complete",
            "--json",
            "--data",
            r#"{"transcript": "we ship on friday", "duration": 42}"#,
        ],
        &[("XDG_CACHE_HOME", &cache)],
    );
    run.expect_code(0);
    assert_eq!(statuses(&run.json()), [pair("slack_notifier", "executed")]);
    let body = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the webhook got the message");
    assert_eq!(body["text"], "New conversation (42.0s)");
    assert_eq!(body["blocks"][0]["text"]["text"], "```we ship on friday```");
    let stderr = run.stderr();
    assert!(
        stderr.contains("runs as `slack_notifier` (python) instead of the bundled plugin"),
        "{stderr}"
    );
    let envs: Vec<_> = std::fs::read_dir(workspace.dir.path().join("cache/chronicle/plugin-envs"))
        .expect("the plugin's environment was made in the cache")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        envs.iter().any(|name| name.starts_with("slack_notifier-")),
        "{envs:?}"
    );
}

#[test]
fn a_requirement_that_cannot_be_installed_fails_that_plugin_with_pips_words() {
    let workspace = Workspace::with_plugins_yml(
        "plugins:\n  needs_nothing_real:\n    enabled: true\n    events: [conversation.complete]\n",
    );
    workspace.write(
        "plugins/needs_nothing_real/plugin.py",
        "from advanced_omi_backend.plugins.base import BasePlugin\n\nclass NeedsNothingRealPlugin(BasePlugin):\n    pass\n",
    );
    workspace.write(
        "plugins/needs_nothing_real/requirements.txt",
        "this-requirement-is-not-valid===\n",
    );
    let cache = workspace.dir.path().join("cache");
    let cache = cache.to_string_lossy();
    let run = workspace.run_with_env(
        &["plugin", "test", "--event", "conversation.complete"],
        &[("XDG_CACHE_HOME", &cache)],
    );
    run.expect_code(3);
    let stderr = run.stderr();
    assert!(
        stderr.contains("plugin `needs_nothing_real` is failed")
            && stderr
                .contains("cannot install the packages requirements.txt lists: pip install failed"),
        "{stderr}"
    );
}

/// A button plugin in the style of upstream's button_control: upstream's enums and package
/// names, services called with no `permissions` listed.
const BUTTON_CONTROL: &str = r#"import logging
from typing import Optional

from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult
from advanced_omi_backend.plugins.events import ButtonActionType, ConversationCloseReason, PluginEvent
from backend.plugins import BUTTON_STATE_TO_EVENT, ButtonState

logger = logging.getLogger(__name__)


class ButtonControlPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ["button"]

    async def initialize(self):
        self.actions = self.config.get("actions", {})

    async def on_button_event(self, context: PluginContext) -> Optional[PluginResult]:
        key = "double_press" if context.event == PluginEvent.BUTTON_DOUBLE_PRESS else "single_press"
        action = ButtonActionType(self.actions.get(key, {}).get("type"))
        session_id = context.data.get("session_id")
        if action == ButtonActionType.STOP_PLAYBACK:
            told = await context.services.stop_playback(context.user_id, context.data.get("client_id"))
            return PluginResult(success=True, message=f"stop_playback: {told}", should_continue=False)
        closed = await context.services.close_conversation(
            session_id=session_id, reason=ConversationCloseReason.BUTTON_CLOSE
        )
        event = BUTTON_STATE_TO_EVENT[ButtonState.DOUBLE_PRESS].value
        return PluginResult(success=closed, message=f"{event}: closed={closed}")
"#;

#[test]
fn an_upstream_style_button_plugin_uses_every_service_without_a_permissions_list() {
    let workspace = Workspace::with_plugins_yml(concat!(
        "plugins:\n",
        "  button_control:\n",
        "    enabled: true\n",
        "    events: [button.single_press, button.double_press]\n",
        "    actions:\n",
        "      single_press: {type: stop_playback}\n",
        "      double_press: {type: close_conversation}\n",
        "  email_summarizer:\n",
        "    enabled: true\n",
        "    events: [conversation.complete]\n",
        "    smtp_host: ${CHRONICLE_TEST_SMTP_HOST_NEVER_SET}\n",
    ));
    workspace.write("plugins/button_control/plugin.py", BUTTON_CONTROL);
    workspace.write(
        "plugins/button_control/__init__.py",
        "from .plugin import ButtonControlPlugin\n",
    );
    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "button.double_press",
        "--session",
        "s1",
        "--json",
        "--data",
        r#"{"state": "DOUBLE_PRESS", "session_id": "s1", "client_id": "abc-pendant"}"#,
    ]);
    run.expect_code(0);
    let record = run.json();
    assert_eq!(statuses(&record), [pair("button_control", "executed")]);
    assert_eq!(
        record["plugins"][0]["result"]["message"],
        "button.double_press: closed=True"
    );
    assert_eq!(record["services"][0]["call"], "close_conversation");
    assert_eq!(record["services"][0]["allowed"], true);
    let stderr = run.stderr();
    // The unset variable fails email_summarizer alone, located in plugins.yml.
    assert!(
        stderr.contains(
            "config/plugins.yml:11:16: environment variable `CHRONICLE_TEST_SMTP_HOST_NEVER_SET` is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("note: plugin `button_control` lists no permissions; this run needed `permissions: [close_conversation]`"),
        "{stderr}"
    );

    let run = workspace.run(&[
        "plugin",
        "test",
        "--event",
        "button.single_press",
        "--json",
        "--data",
        r#"{"state": "SINGLE_PRESS", "client_id": "abc-pendant"}"#,
    ]);
    run.expect_code(0);
    let record = run.json();
    // No server, so no device is connected to be told.
    assert_eq!(
        record["plugins"][0]["result"]["message"],
        "stop_playback: False"
    );
    assert_eq!(record["services"][0]["call"], "stop_playback");

    let list = workspace.run(&["plugin", "list", "--json"]);
    let rows = list.json();
    let row = |id: &str| {
        rows.as_array()
            .and_then(|rows| rows.iter().find(|row| row["plugin_id"] == id))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(row("email_summarizer")["status"], "failed");
    assert_eq!(row("button_control")["status"], "initialized");
    assert_eq!(row("button_control")["permissions"], Value::Null);
}

/// Hermes' shape: a wake-word handler behind an acoustic threshold, and `on_transcript`.
const WAKE_PLUGIN: &str = r#"from backend.plugins.base import BasePlugin, PluginContext, PluginResult


class HermesPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ["transcript"]

    async def initialize(self):
        pass

    async def on_wake_word_detected(self, context: PluginContext):
        return PluginResult(success=True, message=f"heard: {context.data['command']}", should_continue=False)
"#;

#[test]
fn a_wake_word_handler_runs_on_wake_word_detected_above_its_acoustic_threshold() {
    let workspace = Workspace::with_plugins_yml(concat!(
        "plugins:\n",
        "  hermes:\n",
        "    enabled: true\n",
        "    events: [wake_word.detected]\n",
        "    condition: {type: acoustic_wake_word, threshold: 0.5}\n",
        "  anything:\n",
        "    enabled: true\n",
        "    events: [wake_word.detected]\n",
        "    condition: {type: conditional, expression: ignored}\n",
    ));
    workspace.write("plugins/hermes/plugin.py", WAKE_PLUGIN);
    workspace.write(
        "plugins/hermes/__init__.py",
        "from .plugin import HermesPlugin\n",
    );
    workspace.write(
        "plugins/anything/plugin.py",
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginResult\n\nclass AnythingPlugin(BasePlugin):\n    async def on_wake_word_detected(self, context):\n        return PluginResult(success=True, message='conditional ran')\n",
    );
    let test = |score: &str| {
        workspace.run(&[
            "plugin",
            "test",
            "--event",
            "wake_word.detected",
            "--json",
            "--data",
            &format!(
                r#"{{"command": "lights off", "transcript": "lights off", "score": {score}}}"#
            ),
        ])
    };
    let quiet = test("0.3");
    quiet.expect_code(0);
    assert_eq!(
        statuses(&quiet.json()),
        [pair("hermes", "skipped"), pair("anything", "executed")]
    );
    assert!(
        quiet
            .stderr()
            .contains("`expression` is ignored: a conditional condition has no checks"),
        "{}",
        quiet.stderr()
    );
    let heard = test("0.9");
    heard.expect_code(0);
    let record = heard.json();
    assert_eq!(
        statuses(&record),
        [pair("hermes", "executed"), pair("anything", "skipped")],
        "hermes stops the chain, as upstream's should_continue=False does"
    );
    assert_eq!(
        record["plugins"][0]["result"]["message"],
        "heard: lights off"
    );
    // A detector that gives no score counts as 1.0.
    let unscored = test("null");
    assert_eq!(statuses(&unscored.json())[0], pair("hermes", "executed"));
}
