//! Sending the mail.

use std::time::{Duration, Instant};

use chronicle_plugin_api::{
    ConnectionCheck, ConnectionReport, HandlerOutcome, HealthReport, Plugin, PluginContext,
    PluginError, PluginResult, SettingsError, async_trait,
};
use jiff::tz::TimeZone;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use super::config::EmailSummarizerConfig;
use super::message::{self, BodyOptions, Conversation};

/// How long the login check at start and in health checks may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte.
    Implicit,
    /// None.
    Plain,
}

impl Security {
    fn describe(self) -> &'static str {
        match self {
            Security::StartTls => "STARTTLS",
            Security::Implicit => "implicit TLS",
            Security::Plain => "plain text",
        }
    }
}

/// A configured SMTP server and sender.
struct Smtp {
    host: String,
    port: u16,
    security: Security,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    username: String,
    timeout: Duration,
    from: Mailbox,
    /// From the settings; empty: the account's address.
    recipients: Vec<Mailbox>,
}

impl Smtp {
    /// A transport; `login` adds the credentials.
    fn transport(&self, login: bool, timeout: Duration) -> AsyncSmtpTransport<Tokio1Executor> {
        let tls = match (&self.tls, self.security) {
            (Some(parameters), Security::StartTls) => Tls::Required(parameters.clone()),
            (Some(parameters), Security::Implicit) => Tls::Wrapper(parameters.clone()),
            _ => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(timeout));
        if login && let Some(credentials) = &self.credentials {
            builder = builder.credentials(credentials.clone());
        }
        builder.build()
    }

    fn server(&self) -> String {
        format!("{}:{} ({})", self.host, self.port, self.security.describe())
    }

    /// Connects (and logs in with `login`), then hangs up.
    async fn check(&self, login: bool) -> Result<(), Problem> {
        let transport = self.transport(login, CHECK_TIMEOUT);
        let exchange = transport.test_connection();
        // lettre bounds only the connect: a server that stops answering is bounded here.
        let Ok(outcome) = tokio::time::timeout(CHECK_TIMEOUT, exchange).await else {
            return Err(self.silent(CHECK_TIMEOUT));
        };
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(Problem {
                detail: "the server closed the connection".into(),
                fix: "check smtp_host and smtp_port, and that the server is running".into(),
                lasting: false,
            }),
            Err(error) => Err(self.explain(&error)),
        }
    }

    /// A server that stopped answering for `after`.
    fn silent(&self, after: Duration) -> Problem {
        Problem {
            detail: format!("no answer within {} s", after.as_secs_f64()),
            fix: format!(
                "check smtp_host and smtp_port ({}), that the server is SMTP, and that \
                 smtp_use_ssl matches it (implicit TLS on 465, STARTTLS on 587)",
                self.port
            ),
            lasting: false,
        }
    }

    /// What went wrong, how to fix it, and whether trying again later could help. The
    /// server's reply code decides first; words only sort errors that have none.
    fn explain(&self, error: &lettre::transport::smtp::Error) -> Problem {
        let detail = error.to_string();
        let code = error.status().map(|code| code.to_string());
        let (fix, lasting): (String, bool) = if error.is_timeout() {
            (
                format!(
                    "nothing answered in time: check smtp_host and smtp_port ({}), and that \
                     this machine may reach it (firewall, outgoing SMTP blocked)",
                    self.port
                ),
                false,
            )
        } else if let Some(code) = code.as_deref() {
            match code {
                "530" if detail.contains("STARTTLS") => (
                    "the server wants TLS before anything else: set smtp_use_tls: true (port \
                     587), or smtp_use_ssl: true (port 465)"
                        .into(),
                    true,
                ),
                "530" | "534" | "535" | "538" => (
                    format!(
                        "the server refused the login of `{}`: check smtp_username and \
                         smtp_password (Gmail and Outlook need an app password)",
                        self.username
                    ),
                    true,
                ),
                _ if error.is_permanent() => (
                    "the server refused the mail: check from_email (the server may only let \
                     you send as yourself) and the recipients"
                        .into(),
                    true,
                ),
                _ => (
                    "the server is busy, limiting you or briefly unable (a 4xx reply): it is \
                     tried again later"
                        .into(),
                    false,
                ),
            }
        } else if error.is_client() && detail.contains("authentication mechanism") {
            (
                "the server offers no login method on this connection (lettre speaks PLAIN and \
                 LOGIN): if it wants TLS first, set smtp_use_tls or smtp_use_ssl; a relay that \
                 takes mail without a login wants smtp_username empty"
                    .into(),
                true,
            )
        } else if error.is_client() && detail.contains("STARTTLS") {
            (
                "the server does not offer STARTTLS: use smtp_use_ssl: true for port 465, or \
                 smtp_use_tls: false for a plain-text relay on a trusted network"
                    .into(),
                true,
            )
        } else if error.is_tls()
            || ["certificate", "TLS", "handshake"]
                .iter()
                .any(|word| detail.contains(word))
        {
            let fix = match self.security {
                Security::Implicit => format!(
                    "TLS failed on port {}: a server on port 587 wants smtp_use_tls: true and \
                     smtp_use_ssl: false; a private certificate needs smtp_ca_file",
                    self.port
                ),
                _ => "the TLS upgrade failed: a private certificate needs smtp_ca_file; a \
                      server on port 465 wants smtp_use_ssl: true and smtp_use_tls: false"
                    .into(),
            };
            (fix, true)
        } else {
            (
                format!(
                    "cannot reach {}:{}: check smtp_host and smtp_port, and that the server is \
                     running",
                    self.host, self.port
                ),
                false,
            )
        };
        Problem {
            detail,
            fix,
            lasting,
        }
    }
}

/// A failed SMTP exchange, explained.
#[derive(Debug)]
struct Problem {
    detail: String,
    fix: String,
    /// Whether it will stay so until the settings change (a refused login, a TLS mismatch).
    lasting: bool,
}

/// The plugin.
pub struct EmailSummarizerPlugin {
    /// `None` when no server is set.
    smtp: Option<Smtp>,
    subject_prefix: String,
    summary_max_sentences: usize,
    body: BodyOptions,
    zone: TimeZone,
}

/// An address with an optional display name (`Ann <ann@example.com>` or `ann@example.com`).
fn mailbox(text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|error| format!("`{text}` is not an email address ({error})"))
}

impl EmailSummarizerPlugin {
    /// Checks the settings: TLS choices, addresses, the time zone and the CA file.
    pub fn new(config: EmailSummarizerConfig) -> Result<Self, SettingsError> {
        let zone = match config.timezone.trim() {
            "" => TimeZone::system(),
            name => TimeZone::get(name).map_err(|error| {
                SettingsError::at(
                    "timezone",
                    format!("`{name}` is not a known time zone ({error}); use an IANA name such as Europe/Berlin, or leave it empty for the server's"),
                )
            })?,
        };
        if !(config.timeout_seconds > 0.0 && config.timeout_seconds <= 300.0) {
            return Err(SettingsError::at(
                "timeout_seconds",
                "must be above 0 and at most 300",
            ));
        }
        if config.summary_max_sentences == 0 {
            return Err(SettingsError::at(
                "summary_max_sentences",
                "must be at least 1 (the mail always shows a summary)",
            ));
        }
        let recipients = config
            .recipients
            .iter()
            .map(|text| mailbox(text).map_err(|message| SettingsError::at("recipients", message)))
            .collect::<Result<Vec<_>, _>>()?;
        let host = config.smtp_host.trim();
        let smtp = if host.is_empty() {
            None
        } else {
            let security = match (config.smtp_use_tls, config.smtp_use_ssl) {
                (true, true) => {
                    return Err(SettingsError::at(
                        "smtp_use_ssl",
                        "smtp_use_tls (STARTTLS, port 587) and smtp_use_ssl (implicit TLS, port 465) exclude each other: set one of them to false",
                    ));
                }
                (true, false) => Security::StartTls,
                (false, true) => Security::Implicit,
                (false, false) => Security::Plain,
            };
            let port = config.smtp_port.unwrap_or(match security {
                Security::Implicit => 465,
                Security::StartTls => 587,
                Security::Plain => 25,
            });
            let tls = if security == Security::Plain {
                None
            } else {
                let mut parameters = TlsParameters::builder(host.to_owned());
                let ca_file = config.smtp_ca_file.trim();
                if !ca_file.is_empty() {
                    let pem = std::fs::read(ca_file).map_err(|error| {
                        SettingsError::at(
                            "smtp_ca_file",
                            format!("cannot read `{ca_file}`: {error}"),
                        )
                    })?;
                    // lettre accepts a file without any certificate (a DER file, a key):
                    // count them first, so a wrong file is named now, not at the handshake.
                    let certificates = CertificateDer::pem_slice_iter(&pem)
                        .filter(Result::is_ok)
                        .count();
                    let certificate = Certificate::from_pem(&pem)
                        .ok()
                        .filter(|_| certificates > 0)
                        .ok_or_else(|| {
                            SettingsError::at(
                                "smtp_ca_file",
                                format!(
                                    "`{ca_file}` holds no PEM certificate (-----BEGIN \
                                     CERTIFICATE-----): convert a DER file with `openssl x509 \
                                     -inform der -in CA.crt -out ca.pem`"
                                ),
                            )
                        })?;
                    parameters = parameters.add_root_certificate(certificate);
                }
                crate::support::install_crypto_provider();
                Some(parameters.build().map_err(|error| {
                    SettingsError::at(
                        "smtp_host",
                        format!("cannot prepare TLS for `{host}`: {error}"),
                    )
                })?)
            };
            let from_text = match config.from_email.trim() {
                "" => config.smtp_username.trim(),
                text => text,
            };
            if from_text.is_empty() {
                return Err(SettingsError::at(
                    "from_email",
                    "is not set: set the sender's address (e.g. ${FROM_EMAIL})",
                ));
            }
            // `Ann <ann@example.com>` names the sender itself; a bare address takes from_name.
            let from = mailbox(from_text).map_err(|why| SettingsError::at("from_email", why))?;
            let name = config.from_name.trim();
            let from = match from.name {
                None if !name.is_empty() => Mailbox::new(Some(name.to_owned()), from.email),
                _ => from,
            };
            let username = config.smtp_username.trim().to_owned();
            let credentials = (!username.is_empty())
                .then(|| Credentials::new(username.clone(), config.smtp_password.clone()));
            Some(Smtp {
                host: host.to_owned(),
                port,
                security,
                tls,
                credentials,
                username,
                timeout: Duration::from_secs_f64(config.timeout_seconds),
                from,
                recipients,
            })
        };
        Ok(Self {
            smtp,
            subject_prefix: config.subject_prefix,
            summary_max_sentences: config.summary_max_sentences,
            body: BodyOptions {
                include_conversation_id: config.include_conversation_id,
                include_duration: config.include_duration,
                transcript_chars: config.transcript_chars,
            },
            zone,
        })
    }

    /// The mail for `conversation`, to `to`, identified by `message_id`.
    fn message(
        &self,
        smtp: &Smtp,
        conversation: &Conversation,
        to: &[Mailbox],
        message_id: String,
    ) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(smtp.from.clone())
            .subject(message::subject(
                &self.subject_prefix,
                conversation.began.as_ref(),
            ))
            .message_id(Some(message_id));
        for recipient in to {
            builder = builder.to(recipient.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                message::text_body(conversation, self.body),
                message::html_body(conversation, self.body),
            ))
            .map_err(|error| error.to_string())
    }
}

const NOT_CONFIGURED: &str = "set smtp_host (e.g. ${SMTP_HOST}), from_email and the login for email_summarizer in plugins.yml";

#[async_trait]
impl Plugin for EmailSummarizerPlugin {
    async fn initialize(&self) -> Result<(), PluginError> {
        let Some(smtp) = &self.smtp else {
            return Ok(());
        };
        smtp.check(true).await.map_err(|problem| {
            let message = format!(
                "SMTP login to {} failed: {}; {}",
                smtp.server(),
                problem.detail,
                problem.fix
            );
            if problem.lasting {
                PluginError::broken(message)
            } else {
                PluginError::unreachable(message)
            }
        })
    }

    async fn health_check(&self) -> HealthReport {
        let Some(smtp) = &self.smtp else {
            return HealthReport::unhealthy(format!("smtp_host is not set: {NOT_CONFIGURED}"));
        };
        let started = Instant::now();
        match smtp.check(true).await {
            Ok(()) => HealthReport::ok(format!(
                "SMTP login to {} works ({} ms)",
                smtp.server(),
                started.elapsed().as_millis()
            )),
            Err(problem) => HealthReport::unhealthy(format!("{}; {}", problem.detail, problem.fix)),
        }
    }

    async fn test_connection(&self) -> ConnectionReport {
        let Some(smtp) = &self.smtp else {
            return ConnectionReport::new(vec![ConnectionCheck::failed(
                "settings",
                "smtp_host is not set",
                NOT_CONFIGURED,
            )]);
        };
        let recipients = if smtp.recipients.is_empty() {
            "each conversation's account address".to_owned()
        } else {
            join(&smtp.recipients)
        };
        let mut checks = vec![ConnectionCheck::passed(
            "settings",
            format!("from {} to {recipients}", smtp.from),
        )];
        let connect = format!("connect to {}", smtp.server());
        match smtp.check(false).await {
            Ok(()) => checks.push(ConnectionCheck::passed(connect, "the server answered")),
            Err(problem) => {
                checks.push(ConnectionCheck::failed(
                    connect,
                    problem.detail,
                    problem.fix,
                ));
                return ConnectionReport::new(checks);
            }
        }
        if smtp.credentials.is_some() {
            let login = format!("log in as {}", smtp.username);
            checks.push(match smtp.check(true).await {
                Ok(()) => ConnectionCheck::passed(login, "the server accepted the login"),
                Err(problem) => ConnectionCheck::failed(login, problem.detail, problem.fix),
            });
        }
        ConnectionReport::new(checks)
    }

    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let Some(smtp) = &self.smtp else {
            return Ok(None);
        };
        let Some(conversation) =
            Conversation::from_event(&ctx.data, self.summary_max_sentences, &self.zone)
        else {
            tracing::debug!("No words in the conversation: no email.");
            return Ok(None);
        };
        let to = if smtp.recipients.is_empty() {
            let Some(address) = &conversation.user_email else {
                return Ok(Some(PluginResult::failure(format!(
                    "No recipient: the account {} has no email address; set recipients for email_summarizer in plugins.yml",
                    ctx.user_id
                ))));
            };
            match mailbox(address) {
                Ok(mailbox) => vec![mailbox],
                Err(why) => {
                    return Ok(Some(PluginResult::failure(format!(
                        "No recipient: the account's {why}; set recipients for email_summarizer in plugins.yml"
                    ))));
                }
            }
        } else {
            smtp.recipients.clone()
        };
        // The same delivery (a retry, or a repeat after a crash) sends the same Message-ID.
        let message_id = format!(
            "<{}@{}>",
            ctx.delivery.idempotency_key().replace(':', "."),
            smtp.from.email.domain()
        );
        let mail = self
            .message(smtp, &conversation, &to, message_id.clone())
            .map_err(|why| PluginError::broken(format!("Cannot build the email: {why}")))?;
        let recipients = join(&to);
        // Within the handler's deadline too, so a silent server is explained, not cut off.
        let timeout = smtp
            .timeout
            .min(crate::support::time_left(ctx.delivery.deadline));
        let transport = smtp.transport(true, timeout);
        let sending = transport.send(mail);
        let sent = match tokio::time::timeout(timeout, sending).await {
            Ok(sent) => sent.map_err(|error| smtp.explain(&error)),
            Err(_) => Err(smtp.silent(timeout)),
        };
        match sent {
            Ok(_) => {
                let data = json!({
                    "recipient": recipients,
                    "recipients": to.iter().map(|m| m.email.to_string()).collect::<Vec<_>>(),
                    "conversation_id": conversation.id,
                    "title": conversation.title,
                    "message_id": message_id,
                });
                Ok(Some(
                    PluginResult::ok(format!("Email sent to {recipients}"))
                        .with_data(crate::support::into_object(data)),
                ))
            }
            Err(problem) => {
                let message = format!(
                    "Failed to send email to {recipients}: {}; {}",
                    problem.detail, problem.fix
                );
                // Either way the queue retries; the kind tells a reader which to expect.
                Err(if problem.lasting {
                    PluginError::broken(message)
                } else {
                    PluginError::unreachable(message)
                })
            }
        }
    }
}

/// `a@example.com, b@example.com`.
fn join(mailboxes: &[Mailbox]) -> String {
    mailboxes
        .iter()
        .map(|mailbox| mailbox.email.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
