use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chronicle_plugin_api::{Event, JsonMap};
use chronicle_plugin_host::{DispatchRecord, DispatchRequest, Status};
use serde_json::Value;

use crate::args::{Paths, TestArgs};

pub async fn run(paths: &Paths, args: TestArgs) -> anyhow::Result<ExitCode> {
    let event: Event = args.event.parse().context("--event")?;
    let data = json_object(&read_argument(&args.data)?).context("--data")?;
    let metadata = json_object(&args.metadata).context("--metadata")?;
    let loaded = match super::host::load(paths, args.session.clone()) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let host = loaded.host;
    host.initialize().await;
    let record = host
        .dispatch(DispatchRequest {
            metadata,
            ..DispatchRequest::new(event, args.user_id, data)
        })
        .await;
    // A subscribed plugin that could not start did not take part: that is a failure too.
    let plugins = host.plugins();
    let down: Vec<_> = plugins
        .iter()
        .filter(|plugin| {
            plugin.enabled && plugin.events.contains(&event) && plugin.status.is_down()
        })
        .collect();
    let undeclared: Vec<_> = plugins
        .iter()
        .filter(|plugin| {
            plugin.configured && plugin.permissions.is_none() && !plugin.permissions_used.is_empty()
        })
        .collect();
    host.shutdown().await;
    if args.json {
        println!("{}", serde_json::to_string(&*record)?);
    } else {
        print!("{}", human(&record));
    }
    for plugin in &down {
        eprintln!(
            "plugin `{}` is {} and did not run: {}",
            plugin.plugin_id,
            plugin.status,
            plugin.error.as_deref().unwrap_or("no reason recorded")
        );
    }
    for plugin in &undeclared {
        let used: Vec<&str> = plugin.permissions_used.iter().map(|p| p.as_str()).collect();
        eprintln!(
            "note: plugin `{}` lists no permissions; this run needed `permissions: [{}]`",
            plugin.plugin_id,
            used.join(", ")
        );
    }
    Ok(if record.has_failures() || !down.is_empty() {
        ExitCode::from(crate::exit::PLUGIN_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The argument itself, or the contents of the file after `@` (`@-` reads stdin).
fn read_argument(argument: &str) -> anyhow::Result<String> {
    match argument.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
            Ok(text)
        }
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}")),
        None => Ok(argument.to_owned()),
    }
}

fn json_object(text: &str) -> anyhow::Result<JsonMap> {
    match serde_json::from_str::<Value>(text).context("not valid JSON")? {
        Value::Object(map) => Ok(map),
        other => bail!("expected a JSON object like {{\"transcript\": \"...\"}}, found {other}"),
    }
}

fn human(record: &DispatchRecord) -> String {
    let mut out = format!("{} for user {}\n", record.event, record.user_id);
    if record.plugins.is_empty() {
        out.push_str("  no plugin is subscribed to this event\n");
    }
    for (index, outcome) in record.plugins.iter().enumerate() {
        let status = match outcome.status {
            Status::Executed => "executed",
            Status::Declined => "declined",
            Status::Skipped => "skipped",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED OUT",
        };
        let detail = match (&outcome.result, &outcome.reason) {
            (Some(result), _) => {
                let mut text = result.message.clone().unwrap_or_default();
                if !result.success {
                    text = format!("(unsuccessful) {text}");
                }
                if !result.should_continue {
                    text.push_str(" [stops the chain]");
                }
                if !result.data.is_empty() {
                    text.push_str(&format!(" data={}", Value::Object(result.data.clone())));
                }
                text
            }
            (None, Some(reason)) => reason.to_string(),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            "  {}. {:<22} {:<9} {:>8.2} ms  {}\n",
            index + 1,
            outcome.plugin_id,
            status,
            outcome.duration_ms,
            detail
        ));
    }
    if !record.metadata.is_empty() {
        out.push_str(&format!(
            "metadata: {}\n",
            Value::Object(record.metadata.clone())
        ));
    }
    for call in &record.services {
        out.push_str(&format!(
            "service: {} called {} {} ({})\n",
            call.plugin_id,
            call.call,
            call.args,
            if call.allowed { "allowed" } else { "DENIED" }
        ));
    }
    out
}
