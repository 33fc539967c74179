//! What a plugin process may reach of the machine, enforced by the kernel with Landlock.
//!
//! A plugin runs through a launcher: the `chronicle` binary itself, started as
//! `chronicle __plugin-sandbox [policy] -- PROGRAM ARGS…`. The launcher is a fresh,
//! single-threaded process, so it can restrict itself (no new privileges, a Landlock ruleset)
//! with the safe API and then `exec` the plugin, which inherits the restriction and cannot
//! lift it. Under the policy a plugin may:
//! - read and write its own folder and a private temporary folder (its `HOME` and `TMPDIR`);
//! - read its virtual environment, the SDK, the Python runtime and the system's libraries and
//!   certificates;
//! - list (not read) the plugins folder, so its package can be imported by name;
//! - open TCP connections, unless its entry says `network: false`.
//!
//! Everything else is refused by the kernel: the data folder (the database, the auth secret,
//! recordings), the configuration and its `.env`, other plugins' folders, `/proc` (so no other
//! process's environment). It cannot signal or ptrace processes outside its sandbox. The
//! environment is the host's business (see `Launch::command`): a plugin gets only its own
//! variables, never the host's.
//!
//! Where the kernel has no Landlock, [`support`] says so and the launcher runs the plugin
//! without it, saying so on the plugin's log; the host shows it at start and in `plugin list`.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, RestrictionStatus,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};

/// The hidden subcommand of the `chronicle` binary that enters the sandbox.
pub const LAUNCHER_COMMAND: &str = "__plugin-sandbox";

/// The newest Landlock features the policy asks for; older kernels get what they have.
const ABI_WANTED: ABI = ABI::V6;

/// System paths a plugin's runtime reads: libraries, certificates, name resolution, time
/// zones. Paths that do not exist on this machine are skipped.
const SYSTEM_READ_ONLY: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/mime.types",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/python3",
    "/etc/python3.11",
    "/etc/python3.12",
    "/etc/python3.13",
    "/dev/urandom",
    "/dev/random",
];

/// Devices a plugin may write.
const SYSTEM_READ_WRITE: &[&str] = &["/dev/null", "/dev/zero"];

/// What one plugin process may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Read, write, create and run beneath these.
    pub read_write: Vec<PathBuf>,
    /// Read and run beneath these.
    pub read_only: Vec<PathBuf>,
    /// List beneath these, nothing more.
    pub list_only: Vec<PathBuf>,
    /// Whether TCP connections and listening are allowed.
    pub network: bool,
}

impl Policy {
    /// The launcher's arguments for this policy, before `--`.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        for (flag, paths) in [
            ("--rw", &self.read_write),
            ("--ro", &self.read_only),
            ("--ls", &self.list_only),
        ] {
            for path in paths {
                args.push(OsString::from(flag));
                args.push(path.clone().into_os_string());
            }
        }
        if !self.network {
            args.push("--no-network".into());
        }
        args
    }

    /// The policy and the command after `--`, from the launcher's arguments.
    pub fn from_args(args: &[OsString]) -> Result<(Self, Vec<OsString>), String> {
        let mut policy = Policy {
            network: true,
            ..Policy::default()
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let list = match arg.to_str() {
                Some("--") => {
                    let command: Vec<OsString> = rest.cloned().collect();
                    if command.is_empty() {
                        return Err("no command after `--`".into());
                    }
                    return Ok((policy, command));
                }
                Some("--no-network") => {
                    policy.network = false;
                    continue;
                }
                Some("--rw") => &mut policy.read_write,
                Some("--ro") => &mut policy.read_only,
                Some("--ls") => &mut policy.list_only,
                _ => return Err(format!("unknown argument {}", arg.to_string_lossy())),
            };
            let path = rest
                .next()
                .ok_or_else(|| format!("{} needs a path", arg.to_string_lossy()))?;
            list.push(PathBuf::from(path));
        }
        Err("no `--` before the command".into())
    }
}

/// Whether this kernel can sandbox plugins, for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// Landlock restricts plugin processes.
    Landlock,
    /// It does not; the reason, for the log and `plugin list`.
    Unavailable(String),
}

impl std::fmt::Display for Support {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Support::Landlock => f.write_str("landlock"),
            Support::Unavailable(why) => write!(f, "none ({why})"),
        }
    }
}

/// Probes the kernel: a ruleset that the kernel must accept as asked.
pub fn support() -> Support {
    let probe = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::Execute)
        .and_then(|ruleset| ruleset.create());
    match probe {
        Ok(_) => Support::Landlock,
        Err(error) => Support::Unavailable(format!("this kernel has no Landlock: {error}")),
    }
}

/// A folder only this user can use, for the plugin's `HOME` and `TMPDIR`.
pub fn private_tmp(plugin_id: &str) -> std::io::Result<PathBuf> {
    let uid = nix::unistd::getuid().as_raw();
    let dir = std::env::temp_dir()
        .join(format!("chronicle-plugins-{uid}"))
        .join(plugin_id);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    Ok(dir)
}

/// The paths a system needs for any plugin, that exist here.
pub fn system_paths() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let existing = |paths: &[&str]| {
        paths
            .iter()
            .map(PathBuf::from)
            .filter(|path| path.exists())
            .collect()
    };
    (existing(SYSTEM_READ_ONLY), existing(SYSTEM_READ_WRITE))
}

/// The prefix an interpreter lives under (`/opt/python/bin/python3` → `/opt/python`), after
/// following links, so a runtime outside `/usr` is readable too.
pub fn runtime_prefix(program: &Path) -> Option<PathBuf> {
    let resolved = if program.components().count() > 1 {
        std::fs::canonicalize(program).ok()?
    } else {
        let path = std::env::var_os("PATH")?;
        let found = std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())?;
        std::fs::canonicalize(found).ok()?
    };
    let bin = resolved.parent()?;
    Some(bin.parent().unwrap_or(bin).to_owned())
}

/// In the launcher: restricts this process to `policy`, then runs `command` in its place.
/// Returns only on failure.
pub fn enter(policy: &Policy, command: &[OsString]) -> Result<Infallible, String> {
    let status = restrict(policy).map_err(|error| format!("cannot enter the sandbox: {error}"))?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => {}
        RulesetStatus::PartiallyEnforced => eprintln!(
            "chronicle: this kernel's Landlock is older than the sandbox asks for; the plugin runs with the part it supports"
        ),
        RulesetStatus::NotEnforced => eprintln!(
            "chronicle: this kernel has no Landlock; the plugin runs without a file system sandbox"
        ),
    }
    let (program, args) = command
        .split_first()
        .ok_or_else(|| "no command to run".to_owned())?;
    let error = std::process::Command::new(program).args(args).exec();
    Err(format!("cannot run {}: {error}", program.to_string_lossy()))
}

fn restrict(policy: &Policy) -> Result<RestrictionStatus, landlock::RulesetError> {
    let existing = |paths: &[PathBuf]| -> Vec<PathBuf> {
        paths.iter().filter(|path| path.exists()).cloned().collect()
    };
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))?
        .scope(BitFlags::from(Scope::AbstractUnixSocket) | Scope::Signal)?;
    if !policy.network {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    ruleset
        .create()?
        .add_rules(path_beneath_rules(
            existing(&policy.read_only),
            AccessFs::from_read(ABI_WANTED),
        ))?
        .add_rules(path_beneath_rules(
            existing(&policy.read_write),
            AccessFs::from_all(ABI_WANTED),
        ))?
        .add_rules(path_beneath_rules(
            existing(&policy.list_only),
            AccessFs::ReadDir,
        ))?
        .restrict_self()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_reads_back_from_its_arguments() {
        let policy = Policy {
            read_write: vec!["/p/a".into(), "/tmp/x".into()],
            read_only: vec!["/usr".into()],
            list_only: vec!["/p".into()],
            network: false,
        };
        let mut args = policy.to_args();
        args.extend(["--".into(), "python3".into(), "-m".into(), "x".into()]);
        let (read, command) = Policy::from_args(&args).unwrap();
        assert_eq!(read, policy);
        assert_eq!(command, ["python3", "-m", "x"]);
        assert!(Policy::from_args(&["--rw".into()]).is_err());
        assert!(Policy::from_args(&["--ro".into(), "/usr".into()]).is_err());
        assert!(
            Policy::from_args(&["--".into(), "true".into()])
                .unwrap()
                .0
                .network
        );
    }

    #[test]
    fn the_runtime_prefix_is_two_levels_above_the_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/python3"), "").unwrap();
        let prefix = runtime_prefix(&dir.path().join("bin/python3")).unwrap();
        assert_eq!(prefix, std::fs::canonicalize(dir.path()).unwrap());
    }
}
