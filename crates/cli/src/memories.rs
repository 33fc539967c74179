//! `chronicle memories reindex`: embeds now what the server's background embedder would in
//! time: every memory and finished conversation's segments without a vector of the configured
//! model, batch by batch, with a progress bar.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{MemoriesCommand, Paths};
use crate::offline;

/// Tries of one batch before giving up (the server keeps trying; a command should end).
const TRIES: u32 = 4;

pub async fn run(paths: &Paths, command: MemoriesCommand) -> anyhow::Result<ExitCode> {
    let MemoriesCommand::Reindex { data_dir } = command;
    let config = offline::pipeline_config(paths)?;
    let store = offline::open_store(&data_dir).await?;
    let Some(embedder) = chronicle_pipeline::embeddings::Embedder::configured(&config, &store)
    else {
        eprintln!(
            "chronicle: no embeddings server is configured: set EMBEDDINGS_BASE_URL and \
             EMBEDDINGS_MODEL, or `embeddings:` in {} (search works by words without one)",
            chronicle_pipeline::config::default_path(&paths.config_dir).display()
        );
        return Ok(ExitCode::from(crate::exit::USAGE));
    };
    let start = embedder.progress().await?;
    let model = embedder.model.model().to_owned();
    eprintln!(
        "chronicle: {} texts to embed with {model} at {} ({} already are)",
        start.pending,
        embedder.model.base_url(),
        start.embedded
    );
    let bar = ProgressBar::new(start.pending).with_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {per_sec} {eta} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = std::time::Instant::now();
    let mut done = 0u64;
    loop {
        let mut tries = 0;
        let count = loop {
            match embedder.embed_batch().await {
                Ok(count) => break count,
                Err(error) if tries + 1 < TRIES => {
                    tries += 1;
                    bar.set_message(format!("{error}; trying again"));
                    tokio::time::sleep(Duration::from_secs(1 << tries)).await;
                }
                Err(error) => {
                    bar.abandon_with_message(error.to_string());
                    eprintln!("chronicle: {done} texts embedded before this failure: {error}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        };
        if count == 0 {
            break;
        }
        done += count as u64;
        bar.set_message(String::new());
        bar.inc(count as u64);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "chronicle: embedded {done} texts in {seconds:.1} s ({:.0}/s) with {model}",
        done as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
