//! `chronicle process FILE…`: audio files through the pipeline without a server. Each file
//! becomes a conversation (as an upload would), is transcribed whole, gets memories, a title
//! and a summary, and its events reach the plugins. stdout gets one conversation id per file;
//! progress and errors go to stderr.

use std::process::ExitCode;
use std::time::Duration;

use chronicle_pipeline::ingest::AudioFile;
use chronicle_store::{Store, User};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Paths, ProcessArgs};
use crate::offline;

pub async fn run(paths: &Paths, args: ProcessArgs) -> anyhow::Result<ExitCode> {
    let config = offline::pipeline_config(paths)?;
    let store = Store::open(&args.data_dir).await?;
    let user = owner(&store, args.user.as_deref()).await?;
    let (pipeline, plugins) = match offline::start(paths, store, &config, |_| {}).await? {
        Ok(started) => started,
        Err(code) => return Ok(code),
    };
    let client = chronicle_server::auth::client_id(&user.id, "cli");
    let bar = ProgressBar::new(args.files.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut failed = 0;
    for path in &args.files {
        let name = path.display().to_string();
        bar.set_message(format!("{name}: decoding"));
        let file = AudioFile {
            user_id: &user.id,
            client_id: &client,
            filename: &name,
            source: path,
        };
        let outcome = pipeline.ingest(file).await;
        match outcome {
            Ok(ingested) => {
                bar.set_message(format!("{name}: transcribing, remembering"));
                let id = ingested.conversation_id.clone();
                std::sync::Arc::clone(&pipeline)
                    .finish(ingested.finished)
                    .await;
                bar.suspend(|| println!("{id}"));
            }
            Err(error) => {
                failed += 1;
                bar.suspend(|| eprintln!("chronicle: {name}: {error}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    offline::deliver_and_stop(&pipeline, &plugins).await;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::USAGE)
    })
}

/// The user named by `--user`, or else the first admin.
async fn owner(store: &Store, email: Option<&str>) -> anyhow::Result<User> {
    match email {
        Some(email) => store
            .user_by_email(email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user {email}: create one with `chronicle user add {email}`")),
        None => store
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.is_admin)
            .ok_or_else(|| anyhow::anyhow!("no admin user yet: pass --user EMAIL, or create one with `chronicle user add EMAIL --admin`")),
    }
}
