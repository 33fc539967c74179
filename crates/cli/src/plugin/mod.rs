//! `chronicle plugin …`: the plugin author's tools, each building the real host.

mod check;
mod host;
mod list;
mod new;
mod test;

use std::process::ExitCode;

use crate::args::{Paths, PluginCommand};
use host::load;
pub(crate) use host::{host_config, print_diagnostics};

pub async fn run(paths: &Paths, command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::List { json } => list::run(paths, json).await,
        PluginCommand::Validate => Ok(validate(paths)),
        PluginCommand::Test(args) => test::run(paths, args).await,
        PluginCommand::New(args) => new::run(paths, args),
        PluginCommand::Check { plugin_id, json } => check::run(paths, &plugin_id, json).await,
    }
}

/// `plugin validate`: builds every enabled plugin without initializing it.
fn validate(paths: &Paths) -> ExitCode {
    match load(paths, None) {
        Ok(_) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
