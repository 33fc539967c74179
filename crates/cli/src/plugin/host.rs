//! The plugin host as the plugin tools build it: the configuration on disk, the bundled
//! plugins, in-memory backends, and every diagnostic printed.

use std::process::ExitCode;
use std::sync::Arc;

use chronicle_plugin_host::{
    Backends, Diagnostic, HostConfig, Loaded, OfflineConversations, PluginHost,
};

use crate::args::Paths;

pub fn host_config(paths: &Paths) -> HostConfig {
    let process = chronicle_plugin_host::ProcessOptions {
        // This binary is the sandbox's launcher (`chronicle __plugin-sandbox`).
        sandbox_launcher: std::env::current_exe().ok(),
        ..Default::default()
    };
    HostConfig {
        config_dir: paths.config_dir.clone(),
        plugins_dir: paths.plugins_dir.clone(),
        env_file: Some(paths.env_file.clone()),
        process,
    }
}

/// Loads the host with the bundled plugins; on refusal prints every diagnostic to stderr and
/// gives the exit code.
pub(super) fn load(paths: &Paths, session: Option<String>) -> Result<Loaded, ExitCode> {
    let backends = Backends {
        conversations: Arc::new(OfflineConversations {
            active_session: session,
        }),
        ..Backends::in_memory()
    };
    match PluginHost::load(&host_config(paths), chronicle_plugins::REGISTRY, backends) {
        Ok(loaded) => {
            print_diagnostics(&loaded.diagnostics);
            Ok(loaded)
        }
        Err(errors) => {
            print_diagnostics(&errors.0);
            Err(ExitCode::from(crate::exit::CONFIG_REFUSED))
        }
    }
}

pub(crate) fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        eprintln!("{diagnostic}");
    }
}
