//! `chronicle replay SESSION.jsonl`: a recorded session through the pipeline and the plugins,
//! as if a device had streamed it, printing every event and what each plugin did. The
//! conversations go to a temporary data folder unless `--data-dir` is given.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chronicle_pipeline::session::SessionOwner;
use chronicle_plugin_api::Event;
use chronicle_plugin_host::Status;
use chronicle_store::Store;
use serde_json::{Value, json};

use crate::args::{Paths, ReplayArgs};
use crate::offline::{self, Shown};

const REPLAY_USER: &str = "replay@localhost";

pub async fn run(paths: &Paths, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("chronicle: cannot read {}: {error}", args.file.display());
            return Ok(ExitCode::from(crate::exit::USAGE));
        }
    };
    let lines = match chronicle_pipeline::replay::parse(&text, &args.file.display().to_string()) {
        Ok(lines) => lines,
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::from(crate::exit::USAGE));
        }
    };
    let config = offline::pipeline_config(paths)?;
    let temporary = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temporary.path().to_owned());
    let store = Store::open(&data_dir).await?;
    let user = match &args.user {
        Some(email) => store
            .user_by_email(email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user {email} in {}", data_dir.display()))?,
        None => match store.user_by_email(REPLAY_USER).await? {
            Some(user) => user,
            // A user nobody can log in as: "!" is no password hash.
            None => store.create_user(REPLAY_USER, "!", false).await?,
        },
    };
    let json_lines = args.json;
    let completed = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&completed);
    let show = move |shown: Shown| {
        if shown.1.event == Event::ConversationComplete {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        print_event(&shown, json_lines);
    };
    let (pipeline, plugins) = match offline::start(paths, store.clone(), &config, show).await? {
        Ok(started) => started,
        Err(code) => return Ok(code),
    };
    let owner = SessionOwner {
        user_id: user.id.clone(),
        client_id: chronicle_server::auth::client_id(&user.id, "replay"),
        device_name: "replay".into(),
    };
    // Returns once every event of the session has reached the plugins.
    let session = chronicle_pipeline::replay::play(&pipeline, owner, &lines).await?;
    offline::deliver_and_stop(&pipeline, &plugins).await;
    let conversations = completed.load(Ordering::SeqCst);
    if !json_lines {
        println!(
            "{conversations} conversation(s) in session {}",
            session.session_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event((data, record): &Shown, json_lines: bool) {
    if json_lines {
        let line = json!({
            "event": record.event.as_str(),
            "data": data,
            "metadata": record.metadata,
            "plugins": record.plugins,
        });
        println!("{line}");
        return;
    }
    let detail = match data.get("transcript").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => format!(" \"{text}\""),
        _ => data
            .get("state")
            .and_then(Value::as_str)
            .map(|state| format!(" {state}"))
            .unwrap_or_default(),
    };
    let reason = record
        .metadata
        .get("end_reason")
        .and_then(Value::as_str)
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    println!("{}{detail}{reason}", record.event.as_str());
    for outcome in &record.plugins {
        let status = match outcome.status {
            Status::Executed => "ran",
            Status::Declined => "declined",
            Status::Skipped => "skipped",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED OUT",
        };
        let why = outcome
            .result
            .as_ref()
            .and_then(|r| r.message.clone())
            .or_else(|| outcome.reason.as_deref().map(str::to_owned))
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        println!("  {} {status}{why}", outcome.plugin_id);
    }
}
