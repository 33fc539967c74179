//! The exit codes every command shares (listed in `chronicle --help`).

/// The configuration was refused: a failure the user can fix, not a broken program.
pub const CONFIG_REFUSED: u8 = 1;
/// Bad command line or input.
pub const USAGE: u8 = 2;
/// `plugin test` and `plugin check`: a plugin failed or timed out.
pub const PLUGIN_FAILED: u8 = 3;
