//! `chronicle plugin …`: the plugin author's tools, each building the real host.

mod check;
mod list;
mod new;
mod test;

use std::process::ExitCode;
use std::sync::Arc;

use chronicle_plugin_host::{
    Backends, Diagnostic, HostConfig, Loaded, OfflineConversations, PluginHost,
};

use crate::args::{Paths, PluginCommand};

pub async fn run(paths: &Paths, command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::List { json } => list::run(paths, json).await,
        PluginCommand::Validate => Ok(validate(paths)),
        PluginCommand::Test(args) => test::run(paths, args).await,
        PluginCommand::New(args) => new::run(paths, args),
        PluginCommand::Check { plugin_id, json } => check::run(paths, &plugin_id, json).await,
    }
}

pub fn host_config(paths: &Paths) -> HostConfig {
    HostConfig {
        config_dir: paths.config_dir.clone(),
        plugins_dir: paths.plugins_dir.clone(),
        env_file: Some(paths.env_file.clone()),
        process: Default::default(),
    }
}

/// Loads the host with the bundled plugins; on refusal prints every diagnostic to stderr and
/// gives the exit code.
fn load(paths: &Paths, session: Option<String>) -> Result<Loaded, ExitCode> {
    let backends = Backends {
        conversations: Arc::new(OfflineConversations {
            active_session: session,
        }),
        ..Backends::in_memory()
    };
    match PluginHost::load(&host_config(paths), chronicle_plugins::REGISTRY, backends) {
        Ok(loaded) => {
            print_diagnostics(&loaded.warnings);
            Ok(loaded)
        }
        Err(errors) => {
            print_diagnostics(&errors.0);
            Err(ExitCode::from(crate::EXIT_CONFIG_REFUSED))
        }
    }
}

pub(crate) fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        eprintln!("{diagnostic}");
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
