//! `email_summarizer` against a real SMTP server on 127.0.0.1: aiosmtpd from PyPI (in the
//! virtualenv `target/test-python`), in each of its security modes, with a certificate from a
//! certificate authority made for the test.

use std::path::PathBuf;

use chronicle_plugin_api::{Event, Settings, SettingsError, parse_settings};
use chronicle_plugin_host::Status;
use serde_json::{Value, json};

use super::{DESCRIPTOR, EmailSummarizerPlugin};
use crate::testing::{
    Harness, PythonServer, TestCa, assert_plugin_compliance, closed_port, read_journal, result_of,
};

const USER: &str = "chronicle@example.com";
const PASSWORD: &str = "app-password";

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&DESCRIPTOR, "").await;
}

#[tokio::test]
async fn starttls_with_a_login_delivers_both_parts_to_the_account_address() {
    let ca = TestCa::new();
    let server = SmtpServer::start("starttls", Some((USER, PASSWORD)), &ca);
    let harness = Harness::new(
        &plugins_yml(&format!(
            "smtp_port: {}\n    smtp_username: {USER}\n    smtp_password: {PASSWORD}\n    \
             smtp_use_tls: true\n    smtp_ca_file: {}\n    timezone: UTC",
            server.port(),
            ca.ca_file.display()
        )),
        None,
    )
    .await;
    let (status, error) = harness.status("email_summarizer");
    assert_eq!(status, "initialized", "{:?}", (&status, &error));

    let record = harness
        .dispatch(Event::ConversationComplete, conversation())
        .await;
    let result = result_of(&record, "email_summarizer");
    assert!(result.success, "{result:?}");
    assert_eq!(
        result.message.as_deref(),
        Some("Email sent to ann@example.com")
    );
    assert_eq!(result.data["recipient"], "ann@example.com");
    assert_eq!(result.data["conversation_id"], "conv-1");
    assert_eq!(result.data["title"], "Trip to Lisbon");

    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["tls"], true, "upgraded with STARTTLS");
    assert_eq!(mail["login"], USER);
    assert_eq!(mail["mail_from"], USER);
    assert_eq!(mail["rcpt_tos"], json!(["ann@example.com"]));
    assert_eq!(mail["content_type"], "multipart/alternative");
    let headers = &mail["headers"];
    assert_eq!(
        headers["Subject"],
        "Conversation Summary - Jan 15, 2025 at 02:30 PM"
    );
    assert_eq!(headers["From"], format!("Chronicle AI <{USER}>"));
    assert_eq!(headers["To"], "ann@example.com");
    assert_eq!(
        headers["Message-ID"].as_str(),
        result.data["message_id"].as_str(),
        "the Message-ID is reported"
    );
    assert!(
        headers["Message-ID"]
            .as_str()
            .is_some_and(|id| id.ends_with(".email_summarizer@example.com>")),
        "made of the idempotency key: {}",
        headers["Message-ID"]
    );
    let text = part(mail, "text/plain");
    assert!(
        text.starts_with("Trip to Lisbon\n\nSummary\nThey planned the trip & the hotel.\n"),
        "{text}"
    );
    assert!(
        text.contains("Transcript\nSo, Lisbon in May? Yes. We book the hotel tonight."),
        "{text}"
    );
    assert!(
        text.contains(
            "Recorded: Jan 15, 2025 at 02:30 PM\nDuration: 12 min 5 s\nConversation: conv-1\n"
        ),
        "{text}"
    );
    let html = part(mail, "text/html");
    assert!(
        html.contains("<h1 style=\"font-size: 20px;\">Trip to Lisbon</h1>"),
        "{html}"
    );
    assert!(
        html.contains("They planned the trip &amp; the hotel."),
        "{html}"
    );
}

#[tokio::test]
async fn implicit_tls_sends_to_the_configured_recipients_with_the_first_sentences() {
    let ca = TestCa::new();
    let server = SmtpServer::start("tls", Some((USER, PASSWORD)), &ca);
    let harness = Harness::new(
        &plugins_yml(&format!(
            "smtp_port: {}\n    smtp_username: {USER}\n    smtp_password: {PASSWORD}\n    \
             smtp_use_tls: false\n    smtp_use_ssl: true\n    smtp_ca_file: {}\n    \
             from_email: Notes <notes@example.com>\n    \
             recipients: [me@example.com, 'Bo <bo@example.com>']\n    \
             summary_max_sentences: 1\n    include_conversation_id: false\n    \
             subject_prefix: Daily notes\n    timezone: Asia/Tokyo",
            server.port(),
            ca.ca_file.display()
        )),
        None,
    )
    .await;
    let mut data = conversation();
    data["conversation"]["summary"] = Value::Null;
    let record = harness.dispatch(Event::ConversationComplete, data).await;
    let result = result_of(&record, "email_summarizer");
    assert!(result.success, "{result:?}");
    assert_eq!(
        result.data["recipients"],
        json!(["me@example.com", "bo@example.com"])
    );

    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["tls"], true);
    assert_eq!(
        mail["rcpt_tos"],
        json!(["me@example.com", "bo@example.com"])
    );
    assert_eq!(mail["headers"]["From"], "Notes <notes@example.com>");
    assert_eq!(
        mail["headers"]["Subject"], "Daily notes - Jan 15, 2025 at 11:30 PM",
        "the date in Tokyo"
    );
    let text = part(mail, "text/plain");
    assert!(
        text.contains("How it began\nSo, Lisbon in May? …\n"),
        "{text}"
    );
    assert!(!text.contains("Conversation: conv-1"), "{text}");
}

#[tokio::test]
async fn plain_text_without_a_login_reaches_a_local_relay() {
    let ca = TestCa::new();
    let server = SmtpServer::start("plain", None, &ca);
    let harness = Harness::new(
        &plugins_yml(&format!(
            "smtp_port: {}\n    smtp_use_tls: false\n    from_email: {USER}",
            server.port()
        )),
        None,
    )
    .await;
    let record = harness
        .dispatch(Event::ConversationComplete, conversation())
        .await;
    assert!(result_of(&record, "email_summarizer").success);
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["tls"], false);
    assert_eq!(mails[0]["login"], Value::Null);

    let report = harness.connection_report("email_summarizer").await;
    assert!(report.ok, "{report:?}");
    let names: Vec<&str> = report
        .checks
        .iter()
        .map(|check| check.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "settings".to_owned(),
            format!("connect to 127.0.0.1:{} (plain text)", server.port())
        ]
    );
}

#[tokio::test]
async fn a_refused_login_fails_the_plugin_and_the_check_names_the_password() {
    let ca = TestCa::new();
    let server = SmtpServer::start("starttls", Some((USER, PASSWORD)), &ca);
    let harness = Harness::new(
        &plugins_yml(&format!(
            "smtp_port: {}\n    smtp_username: {USER}\n    smtp_password: wrong\n    \
             smtp_ca_file: {}",
            server.port(),
            ca.ca_file.display()
        )),
        None,
    )
    .await;
    let (status, error) = harness.status("email_summarizer");
    assert_eq!(
        status,
        "failed",
        "misconfigured, not merely down: {:?}",
        (&status, &error)
    );
    let report = harness.connection_report("email_summarizer").await;
    assert!(!report.ok);
    assert_eq!(report.checks[0].name, "initialize", "failed at start");
    assert!(report.checks[2].ok, "the server answered: {report:?}");
    let login = &report.checks[3];
    assert_eq!(login.name, format!("log in as {USER}"));
    assert!(!login.ok);
    assert!(login.detail.contains("535"), "{login:?}");
    assert!(
        login
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("smtp_password"),
        "{login:?}"
    );
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn tls_mismatches_are_explained() {
    let ca = TestCa::new();
    // STARTTLS required, but the server offers none.
    let plain = SmtpServer::start("plain", None, &ca);
    let fix = failed_at_start(plain.port()).await;
    assert!(fix.contains("does not offer STARTTLS"), "{fix}");

    // A certificate from an authority the system does not know, and no smtp_ca_file.
    let private = SmtpServer::start("starttls", None, &ca);
    let fix = failed_at_start(private.port()).await;
    assert!(fix.contains("smtp_ca_file"), "{fix}");
    assert!(plain.mails().is_empty() && private.mails().is_empty());

    // Plain text to a server that wants STARTTLS first: refused with 530 at the first command.
    let strict = SmtpServer::start("starttls", None, &ca);
    let harness = Harness::new(
        &plugins_yml(&format!(
            "smtp_port: {}\n    smtp_use_tls: false\n    from_email: {USER}",
            strict.port()
        )),
        None,
    )
    .await;
    let record = harness
        .dispatch(Event::ConversationComplete, conversation())
        .await;
    let outcome = record.outcome("email_summarizer").expect("subscribed");
    assert_eq!(outcome.status, Status::Failed, "{outcome:?}");
    let reason = outcome.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("530") && reason.contains("set smtp_use_tls: true"),
        "{reason}"
    );
    assert!(strict.mails().is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_leaves_the_plugin_degraded() {
    let closed = closed_port();
    let harness = Harness::new(
        &plugins_yml(&format!("smtp_port: {closed}\n    from_email: {USER}")),
        None,
    )
    .await;
    let (status, error) = harness.status("email_summarizer");
    let error = error.unwrap_or_default();
    assert_eq!(status, "degraded", "{error}");
    assert!(error.contains("check smtp_host and smtp_port"), "{error}");
}

#[tokio::test]
async fn without_words_or_a_recipient_nothing_is_sent() {
    let ca = TestCa::new();
    let server = SmtpServer::start("plain", None, &ca);
    let harness = Harness::new(
        &plugins_yml(&format!(
            "smtp_port: {}\n    smtp_use_tls: false\n    from_email: {USER}",
            server.port()
        )),
        None,
    )
    .await;
    let mut silent = conversation();
    silent["transcript"] = json!("  ");
    let record = harness.dispatch(Event::ConversationComplete, silent).await;
    assert_eq!(
        record
            .outcome("email_summarizer")
            .expect("subscribed")
            .status,
        Status::Declined
    );

    let mut anonymous = conversation();
    anonymous["conversation"]["user_email"] = Value::Null;
    let record = harness
        .dispatch(Event::ConversationComplete, anonymous)
        .await;
    let result = result_of(&record, "email_summarizer");
    assert!(!result.success);
    assert!(
        result
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("set recipients"),
        "{result:?}"
    );
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn without_a_server_it_declines_and_its_health_says_what_to_set() {
    let harness = Harness::new(
        "plugins:\n  email_summarizer:\n    enabled: true\n    events: [conversation.complete]\n",
        None,
    )
    .await;
    let record = harness
        .dispatch(Event::ConversationComplete, conversation())
        .await;
    assert_eq!(
        record
            .outcome("email_summarizer")
            .expect("subscribed")
            .status,
        Status::Declined
    );
    let report = harness.connection_report("email_summarizer").await;
    assert!(!report.ok);
    assert!(
        report.checks[0]
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("set smtp_host"),
        "{report:?}"
    );
}

#[test]
fn settings_mistakes_name_the_key() {
    let refused = |settings: Value| -> SettingsError {
        let settings: Settings = serde_json::from_value(settings).expect("an object");
        match parse_settings(&settings).and_then(EmailSummarizerPlugin::new) {
            Ok(_) => panic!("accepted"),
            Err(error) => error,
        }
    };
    let base = |extra: Value| {
        let mut settings = json!({"smtp_host": "mail.example.com", "from_email": USER});
        settings
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        settings
    };
    let both = refused(base(json!({"smtp_use_tls": true, "smtp_use_ssl": true})));
    assert_eq!(both.key.as_deref(), Some("smtp_use_ssl"));
    assert!(both.message.contains("exclude each other"), "{both}");
    let recipient = refused(base(json!({"recipients": ["not an address"]})));
    assert_eq!(recipient.key.as_deref(), Some("recipients"));
    let zone = refused(base(json!({"timezone": "Mars/Olympus"})));
    assert_eq!(zone.key.as_deref(), Some("timezone"));
    let sender = refused(json!({"smtp_host": "mail.example.com"}));
    assert_eq!(sender.key.as_deref(), Some("from_email"));
    let port = refused(base(json!({"smtp_port": 70000})));
    assert_eq!(port.key.as_deref(), Some("smtp_port"));
    assert!(port.message.contains("from 1 to 65535"), "{port}");
    let ca = refused(base(json!({"smtp_ca_file": "/nonexistent/ca.pem"})));
    assert_eq!(ca.key.as_deref(), Some("smtp_ca_file"));
    // A file that is not PEM (a DER certificate, a key): lettre would take it and trust nothing.
    let not_pem = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(not_pem.path(), [0x30, 0x82, 0x01, 0x0a]).expect("write");
    let ca = refused(base(json!({"smtp_ca_file": not_pem.path()})));
    assert_eq!(ca.key.as_deref(), Some("smtp_ca_file"));
    assert!(ca.message.contains("holds no PEM certificate"), "{ca}");
    let sentences = refused(base(json!({"summary_max_sentences": 0})));
    assert_eq!(sentences.key.as_deref(), Some("summary_max_sentences"));

    // An empty port (`${SMTP_PORT:-}`) takes the mode's default.
    let settings: Settings =
        serde_json::from_value(base(json!({"smtp_port": ""}))).expect("an object");
    assert!(
        parse_settings(&settings)
            .and_then(EmailSummarizerPlugin::new)
            .is_ok()
    );
}

/// Starts the plugin (STARTTLS, no login) against `port`, checks it failed at start, and
/// returns the fix its connection test gives for the connection step.
async fn failed_at_start(port: u16) -> String {
    let harness = Harness::new(
        &plugins_yml(&format!("smtp_port: {port}\n    from_email: {USER}")),
        None,
    )
    .await;
    let status = harness.status("email_summarizer");
    assert_eq!(status.0, "failed", "{status:?}");
    let report = harness.connection_report("email_summarizer").await;
    assert_eq!(report.checks[0].name, "initialize", "failed at start");
    assert!(
        report.checks[2].name.starts_with("connect to"),
        "{report:?}"
    );
    report.checks[2].fix.clone().unwrap_or_default()
}

/// `plugins.yml` enabling the plugin on `conversation.complete` with `settings` (indented
/// lines) and `smtp_host: 127.0.0.1`.
fn plugins_yml(settings: &str) -> String {
    format!(
        "plugins:\n  email_summarizer:\n    enabled: true\n    events: [conversation.complete]\n    \
         smtp_host: 127.0.0.1\n    timeout_seconds: 10\n    {settings}\n"
    )
}

/// A `conversation.complete` as the pipeline sends it.
fn conversation() -> Value {
    json!({
        "conversation": {
            "client_id": "pendant-1",
            "user_id": "u1",
            "user_email": "ann@example.com",
            "title": "Trip to Lisbon",
            "summary": "They planned the trip & the hotel.",
            "created_at": "2025-01-15T14:30:00Z",
        },
        "transcript": "So, Lisbon in May? Yes. We book the hotel tonight.",
        "duration": 725.2,
        "conversation_id": "conv-1",
    })
}

/// The body of the first part of `content_type`.
#[track_caller]
fn part<'a>(mail: &'a Value, content_type: &str) -> &'a str {
    mail["parts"]
        .as_array()
        .and_then(|parts| parts.iter().find(|p| p["content_type"] == content_type))
        .and_then(|p| p["body"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part: {mail}"))
}

/// `smtp_server.py` (aiosmtpd) in one mode, journalling what it receives.
struct SmtpServer {
    server: PythonServer,
    journal: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(mode: &str, login: Option<(&str, &str)>, ca: &TestCa) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("mails.jsonl");
        let (user, password) = login.unwrap_or(("", ""));
        let server = PythonServer::start(
            "src/email_summarizer/smtp_server.py",
            &[
                journal.as_os_str(),
                mode.as_ref(),
                ca.cert_file.as_os_str(),
                ca.key_file.as_os_str(),
                user.as_ref(),
                password.as_ref(),
            ],
        );
        Self {
            server,
            journal,
            _dir: dir,
        }
    }

    fn port(&self) -> u16 {
        self.server.port
    }

    /// Every mail received so far.
    fn mails(&self) -> Vec<Value> {
        read_journal(&self.journal)
    }
}
