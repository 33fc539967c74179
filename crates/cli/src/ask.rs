//! `chronicle ask "what did I promise Anna?"`: the chat of the web app on the command line,
//! on the store directly. The answer streams to stdout, then its sources.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use chronicle_pipeline::embeddings::Embedder;
use chronicle_server::chat::{Asker, ChatError, ChatEvent};
use chronicle_store::ChatRole;
use serde_json::{Value, json};

use crate::args::{AskArgs, Paths};
use crate::offline;

pub async fn run(paths: &Paths, args: AskArgs) -> anyhow::Result<ExitCode> {
    let config = offline::pipeline_config(paths)?;
    let (_, llm) = config.build();
    let Some(llm) = llm else {
        eprintln!("chronicle: {}", ChatError::NoModel);
        return Ok(ExitCode::from(crate::exit::USAGE));
    };
    let store = offline::open_store(&args.data_dir).await?;
    let user = match &args.user {
        Some(email) => offline::user_named(&store, email).await?,
        None => {
            let mut users = store.list_users().await?;
            if users.len() != 1 {
                eprintln!("chronicle: whose memories? name the user with --user EMAIL");
                return Ok(ExitCode::from(crate::exit::USAGE));
            }
            users.remove(0)
        }
    };
    let tz =
        chronicle_pipeline::search::time_zone(args.tz.as_deref()).map_err(anyhow::Error::msg)?;
    let embedder = Embedder::configured(&config, &store).map(Arc::new);
    let session = store.create_chat_session(&user.id, &args.question).await?;
    store
        .add_chat_message(&session.session_id, ChatRole::User, &args.question, &[])
        .await?;
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<ChatEvent>();
    let streaming = !args.json;
    let printer = tokio::spawn(async move {
        let mut stdout = std::io::stdout();
        while let Some(event) = received.recv().await {
            match event {
                ChatEvent::Delta(text) if streaming => {
                    let _ = write!(stdout, "{text}");
                    let _ = stdout.flush();
                }
                ChatEvent::Tool { name, arguments } if streaming => {
                    eprintln!("chronicle: {name} {arguments}");
                }
                _ => {}
            }
        }
    });
    let asker = Asker {
        store: &store,
        embedder: embedder.as_ref(),
        llm: &llm,
        user: &user,
        tz,
    };
    let answered = asker.answer(&[], &args.question, &events).await;
    drop(events);
    let _ = printer.await;
    let answer = match answered {
        Ok(answer) => answer,
        Err(error) => {
            eprintln!("chronicle: no answer: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    store
        .add_chat_message(
            &session.session_id,
            ChatRole::Assistant,
            &answer.text,
            &answer.sources,
        )
        .await?;
    if args.json {
        println!(
            "{}",
            json!({"answer": answer.text, "sources": answer.sources, "session_id": session.session_id})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    for source in &answer.sources {
        let text = |key: &str| source.get(key).and_then(Value::as_str).unwrap_or("");
        println!(
            "[{}] {} {} — {}",
            source["n"],
            text("time"),
            text("conversation_id"),
            text("text")
        );
    }
    Ok(ExitCode::SUCCESS)
}
