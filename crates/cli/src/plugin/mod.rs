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
        PluginCommand::Validate => Ok(validate(paths).await),
        PluginCommand::Test(args) => test::run(paths, args).await,
        PluginCommand::New(args) => new::run(paths, args),
        PluginCommand::Check { plugin_id, json } => check::run(paths, &plugin_id, json).await,
    }
}

/// `plugin validate`: builds every enabled plugin and imports each Python plugin's code in a
/// child process, without initializing any. Strict: an error that would only fail one plugin
/// at `serve` fails the check.
async fn validate(paths: &Paths) -> ExitCode {
    let loaded = match load(paths, None) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let import_errors = loaded.host.check_imports().await;
    for (plugin_id, error) in &import_errors {
        eprintln!("plugin `{plugin_id}`: its code does not import: {error}");
    }
    if loaded.errors().next().is_some() || !import_errors.is_empty() {
        return ExitCode::from(crate::exit::CONFIG_REFUSED);
    }
    println!("ok");
    ExitCode::SUCCESS
}
