//! The command line, as clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "chronicle",
    version,
    about = "Chronicle: a self-hosted backend for AI wearables"
)]
#[command(
    after_help = "Exit codes: 0 success, 1 configuration refused, 2 bad command line or input, 3 a plugin failed or timed out (plugin test)"
)]
pub struct Cli {
    #[command(flatten)]
    pub paths: Paths,
    /// Log filter for stderr (RUST_LOG wins when set), e.g. `warn` or
    /// `chronicle_plugin_host=debug`. Default: `serve` says at `info` what it started (data
    /// folder, providers, each plugin); the other commands only warn.
    #[arg(long, global = true)]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration lives.
#[derive(Clone, Debug, Args)]
pub struct Paths {
    /// Folder holding plugins.yml.
    #[arg(long, global = true, env = "CONFIG_DIR", default_value = "config")]
    pub config_dir: PathBuf,
    /// Folder with one sub-folder per plugin (its config.yml, .env and code).
    #[arg(long, global = true, env = "PLUGINS_DIR", default_value = "plugins")]
    pub plugins_dir: PathBuf,
    /// The project's dotenv file; a missing file is fine.
    #[arg(long, global = true, default_value = ".env")]
    pub env_file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: the HTTP API and the device WebSocket, with plugins, on SQLite.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Personal API keys: what a program (an MCP client, a script) holds instead of a password.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect, check and exercise plugins without a server.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run audio files through the pipeline without a server: each becomes a transcribed
    /// conversation with memories, and plugins see every event. Prints the conversation ids.
    Process(ProcessArgs),
    /// Feed a recorded session (timed transcript segments and button presses, JSON Lines; see
    /// docs/replay-format.md) through the pipeline and plugins, printing every event.
    Replay(ReplayArgs),
    /// Inspect the durable delivery queue and replay dead letters.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Memories and their search index.
    #[command(subcommand)]
    Memories(MemoriesCommand),
    /// Ask your memories a question: the language model searches your conversations and
    /// answers, citing them. Kept as a chat session, as the web app's.
    Ask(AskArgs),
}

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The question, e.g. "what did I promise Anna?"
    pub question: String,
    /// Whose memories (their email); the only user when there is one.
    #[arg(long)]
    pub user: Option<String>,
    /// Your IANA time zone, for times in the question; this machine's by default.
    #[arg(long)]
    pub tz: Option<String>,
    /// Print the answer and its sources as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Folder with the database.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum MemoriesCommand {
    /// Embed every memory and finished conversation's segments that has no vector of the
    /// configured embeddings model (all of them after a model change), with a progress bar.
    /// The server does the same in the background; this is for a backfill now.
    Reindex {
        /// Folder with the database.
        #[arg(long, env = "DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries (event → plugin), newest first.
    List {
        /// Only these statuses: pending, running, succeeded, declined, failed, dead
        /// (repeat or separate with commas).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Folder with the database.
        #[arg(long, env = "DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
    /// Run deliveries again, as new attempts with the same idempotency keys. Without a
    /// server on the data folder, they run here and their outcome is printed; with one, the
    /// server runs them.
    Replay {
        /// The delivery id (from `deliveries list`).
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        id: Option<i64>,
        /// Every dead letter.
        #[arg(long)]
        all_dead: bool,
        /// Folder with the database.
        #[arg(long, env = "DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Audio files: WAV, MP3, FLAC or OGG, any rate and channel count.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The user the conversations belong to (default: the first admin).
    #[arg(long)]
    pub user: Option<String>,
    /// Folder with the database and audio.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The session file (JSON Lines).
    pub file: PathBuf,
    /// Keep the conversations in this data folder; by default a temporary one is used and
    /// removed.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The user the session belongs to, in --data-dir (default: a replay user).
    #[arg(long)]
    pub user: Option<String>,
    /// Print one JSON object per event instead of lines of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Every plugin the host can run, with runtime, subscriptions, condition and status.
    List {
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration: prints `ok`, or every error as FILE:LINE:COL: message.
    Validate,
    /// Build the host, initialize it, dispatch one event and print what every plugin did.
    Test(TestArgs),
    /// Scaffold a plugin: a bundled Rust plugin, or a Python plugin in the guide's layout.
    New(NewArgs),
    /// Run a plugin's connection test against its service as configured: prints each step
    /// and, for a failed one, how to fix it (exit 3 if it failed).
    Check {
        /// The plugin id, as in plugins.yml.
        plugin_id: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The event, e.g. transcript.streaming or button.single_press.
    #[arg(long)]
    pub event: String,
    /// The event data: a JSON object, or @FILE to read it from a file (@- for stdin).
    #[arg(long, default_value = "{}")]
    pub data: String,
    /// The user the event belongs to.
    #[arg(long, default_value = "cli-user")]
    pub user_id: String,
    /// Initial metadata, a JSON object (conversation.complete carries `end_reason` here).
    #[arg(long, default_value = "{}")]
    pub metadata: String,
    /// The session id that counts as live: close_conversation and star_conversation answer
    /// true for it and false for any other.
    #[arg(long)]
    pub session: Option<String>,
    /// Print exactly one JSON object: the dispatch record.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin id, in snake_case (e.g. `weather_reporter`).
    pub name: String,
    /// `rust` for a bundled plugin (in --crate-dir), `python` for plugins/<NAME>/.
    #[arg(long, default_value = "rust")]
    pub lang: String,
    /// The crate of bundled plugins the code goes into.
    #[arg(long, default_value = "crates/plugins")]
    pub crate_dir: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CHRONICLE_BIND", default_value = "127.0.0.1:8000")]
    pub bind: std::net::SocketAddr,
    /// Folder for the database, audio files and the generated auth secret.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Do not watch the plugin configuration for changes.
    #[arg(long)]
    pub no_hot_reload: bool,
    /// Connections open at once; past it a new one is answered 503.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Connections open at once from one address.
    #[arg(long, default_value_t = 256)]
    pub max_connections_per_address: usize,
    /// Seconds a request's headers may take, and an idle connection may wait for its next
    /// request, before it is closed.
    #[arg(long, default_value_t = 15)]
    pub header_timeout_seconds: u64,
    /// Seconds a request body may send nothing before its request fails.
    #[arg(long, default_value_t = 30)]
    pub body_pause_seconds: u64,
    /// Requests a minute per API key, and per user across their keys, before 429 (0: no
    /// limit). Logins (the web app) are not counted.
    #[arg(long, env = "API_RATE_LIMIT", default_value_t = 100)]
    pub api_rate_limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it: it is shown this once, and only its hash is kept.
    Create {
        /// Whose key it is (their email).
        #[arg(long)]
        user: String,
        /// What it is for, e.g. "Claude Desktop".
        #[arg(long)]
        name: String,
        /// read (GET requests), write (uploads, edits, device streams) or admin (admin routes
        /// too; admins only).
        #[arg(long, default_value = "read")]
        scope: String,
        /// How long it is accepted: 90d, 12h, 30m, 45s; without it, until revoked.
        #[arg(long)]
        expires: Option<String>,
        /// Folder with the database.
        #[arg(long, env = "DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
    /// List keys (never the keys themselves): one user's, or everyone's.
    List {
        /// Only this user's (their email).
        #[arg(long)]
        user: Option<String>,
        /// As JSON, one array.
        #[arg(long)]
        json: bool,
        /// Folder with the database.
        #[arg(long, env = "DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
    /// Revoke a key by its id: refused from the next request on.
    Revoke {
        /// The key's id (`keys list` shows it).
        id: String,
        /// Folder with the database.
        #[arg(long, env = "DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or set the password and role of an existing one.
    Add {
        /// The user's email, which is also the login.
        email: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// The password; without it, the first line of standard input is read.
        #[arg(long, env = "CHRONICLE_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Folder with the database.
        #[arg(long, env = "DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}
