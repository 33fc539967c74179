//! `chronicle`: the one binary of Chronicle in Rust.
//!
//! `chronicle serve` runs the server; `chronicle user add` manages users; `chronicle process`
//! and `chronicle replay` run audio files and recorded sessions through the pipeline without a
//! server; `chronicle plugin list|validate|test|new` builds the real plugin host from the
//! configuration on disk. Exit codes:
//! 0 success, 1 configuration refused, 2 bad command line or input, 3 a plugin failed or timed
//! out during `plugin test`.

mod args;
mod ask;
mod deliveries;
mod exit;
mod keys;
mod memories;
mod offline;
mod plugin;
mod process;
mod replay;

use std::process::ExitCode;

use clap::Parser;

use chronicle_plugin_host::process::sandbox;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    // The plugin sandbox's launcher: before anything else, while this process has one thread.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if raw.get(1).and_then(|arg| arg.to_str()) == Some(sandbox::LAUNCHER_COMMAND) {
        return enter_sandbox(&raw[2..]);
    }
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Serve(_) => SERVE_LOG,
        _ => "warn",
    };
    init_logging(cli.log.as_deref().unwrap_or(default_filter));
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
            ExitCode::from(exit::USAGE)
        }
    }
}

/// `chronicle __plugin-sandbox POLICY -- COMMAND…`: restricts itself and becomes the plugin;
/// returns only when that fails (126, as a shell says for a command that cannot run).
fn enter_sandbox(args: &[std::ffi::OsString]) -> ExitCode {
    let failed = match sandbox::Policy::from_args(args) {
        Ok((policy, command)) => match sandbox::enter(&policy, &command) {
            Ok(never) => match never {},
            Err(error) => error,
        },
        Err(error) => format!("bad sandbox arguments: {error}"),
    };
    eprintln!("chronicle: {failed}");
    ExitCode::from(126)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(command) => plugin::run(&cli.paths, command).await,
        Command::Serve(args) => serve(&cli.paths, args).await,
        Command::User(command) => user(command).await,
        Command::Keys(command) => keys::run(command).await,
        Command::Process(args) => process::run(&cli.paths, args).await,
        Command::Replay(args) => replay::run(&cli.paths, args).await,
        Command::Deliveries(command) => deliveries::run(&cli.paths, command).await,
        Command::Memories(command) => memories::run(&cli.paths, command).await,
        Command::Ask(args) => ask::run(&cli.paths, args).await,
    }
}

async fn serve(paths: &args::Paths, args: args::ServeArgs) -> anyhow::Result<ExitCode> {
    let admin = match (
        std::env::var("ADMIN_EMAIL"),
        std::env::var("ADMIN_PASSWORD"),
    ) {
        (Ok(email), Ok(password)) if !email.is_empty() && !password.is_empty() => {
            Some((email, password))
        }
        _ => None,
    };
    let mut host = plugin::host_config(paths);
    // The server keeps plugin environments with its data, unless CHRONICLE_PYTHON asked for
    // none; the plugin tools keep theirs in the user's cache.
    if host.process.plugin_envs.is_some() {
        let folder = chronicle_store::DataFolder::absolute(&args.data_dir)?;
        host.process.plugin_envs = Some(folder.plugin_envs());
    }
    let config = chronicle_server::ServerConfig {
        bind: args.bind,
        data_dir: args.data_dir,
        host,
        auth_secret: std::env::var("AUTH_SECRET_KEY").ok(),
        admin,
        hot_reload: !args.no_hot_reload,
        pipeline: offline::pipeline_config(paths)?,
        delivery: Default::default(),
        limits: chronicle_server::listen::Limits {
            max_connections: args.max_connections,
            max_per_address: args.max_connections_per_address,
            header_timeout: std::time::Duration::from_secs(args.header_timeout_seconds),
            body_pause: std::time::Duration::from_secs(args.body_pause_seconds),
        },
        allowed_origins: std::env::var("ALLOWED_ORIGINS")
            .map(|origins| {
                origins
                    .split(',')
                    .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        api_requests_per_minute: args.api_rate_limit,
        metrics_token: std::env::var("METRICS_TOKEN")
            .ok()
            .filter(|token| !token.is_empty()),
    };
    chronicle_server::serve(config, chronicle_plugins::REGISTRY).await?;
    Ok(ExitCode::SUCCESS)
}

async fn user(command: args::UserCommand) -> anyhow::Result<ExitCode> {
    let args::UserCommand::Add {
        email,
        admin,
        password,
        data_dir,
    } = command;
    let password = match password {
        Some(password) => password,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    chronicle_server::auth::check_password(&password)?;
    let store = chronicle_store::Store::open(&data_dir).await?;
    let user = chronicle_server::auth::ensure_user(&store, &email, &password, admin).await?;
    println!(
        "{} {} ({})",
        if user.is_admin { "admin" } else { "user" },
        user.email,
        user.id
    );
    Ok(ExitCode::SUCCESS)
}

/// `serve`'s default: what Chronicle's own crates say at start and after, and warnings from the
/// libraries under them.
const SERVE_LOG: &str = "warn,chronicle=info,chronicle_cli=info,chronicle_server=info,chronicle_pipeline=info,chronicle_plugin_host=info,chronicle_store=info";

fn init_logging(filter: &str) {
    // A bad upload is the uploader's error, answered per file; the decoder's own error lines
    // would only repeat it in the server's log.
    let quiet_decoders = "symphonia_core=off,symphonia_bundle_mp3=off,symphonia_format_ogg=off,symphonia_format_riff=off";
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(format!("{filter},{quiet_decoders}")))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
