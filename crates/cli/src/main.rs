//! `chronicle`: the one binary of Chronicle in Rust.
//!
//! Today it carries the plugin tooling (`chronicle plugin list|validate|test|new`), which
//! builds the real plugin host from the configuration on disk, without a server. Exit codes:
//! 0 success, 1 configuration refused, 2 bad command line or input, 3 a plugin failed or timed
//! out during `plugin test`.

mod args;
mod plugin;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// A failure the user can fix: bad input rather than a broken program.
pub const EXIT_CONFIG_REFUSED: u8 = 1;
/// Bad command line or input.
pub const EXIT_USAGE: u8 = 2;
/// `plugin test`: a plugin failed or timed out.
pub const EXIT_PLUGIN_FAILED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("chronicle: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("chronicle: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(command) => plugin::run(&cli.paths, command).await,
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
