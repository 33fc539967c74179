//! The crate dependency rules of ARCHITECTURE.md ("Crate dependency rules"), checked against
//! every `crates/*/Cargo.toml`.
//!
//! The rules are written once, in [`RULES`]; ARCHITECTURE.md states the same table, and
//! `architecture_md_states_these_rules` keeps the two alike. A crate without a rule fails
//! until one is written for it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Which Chronicle crates (short names, without `chronicle-`) a crate may depend on.
#[derive(Clone, Copy)]
enum May {
    /// No Chronicle crate.
    Nothing,
    /// Exactly these.
    Only(&'static [&'static str]),
    /// Any Chronicle crate but these (and itself).
    AnyBut(&'static [&'static str]),
}

impl May {
    fn allows(self, dependency: &str) -> bool {
        match self {
            May::Nothing => false,
            May::Only(names) => names.contains(&dependency),
            May::AnyBut(names) => !names.contains(&dependency),
        }
    }

    fn describe(self) -> String {
        match self {
            May::Nothing => "no Chronicle crate".to_owned(),
            May::Only(names) => names.join(", "),
            May::AnyBut(names) => format!("any but {}", names.join(", ")),
        }
    }
}

struct Rule {
    /// The crate, by its package name without `chronicle-`.
    krate: &'static str,
    /// `[dependencies]` (and `[build-dependencies]`).
    normal: May,
    /// What `[dev-dependencies]` may add for tests; `None` adds nothing.
    tests_also: Option<May>,
    /// Why, in a few words.
    why: &'static str,
}

/// The dependency rules. Nothing may depend on `cli` or `bench`, and only `cli` depends
/// (outside tests) on `plugins` and `server`: no `May` below allows them otherwise.
const RULES: &[Rule] = &[
    Rule {
        krate: "plugin-api",
        normal: May::Nothing,
        tests_also: None,
        why: "the contract, and nothing else",
    },
    Rule {
        krate: "audio",
        normal: May::Nothing,
        tests_also: None,
        why: "bytes in, 16 kHz mono out",
    },
    Rule {
        krate: "test-servers",
        normal: May::Nothing,
        tests_also: None,
        why: "outside services, for tests",
    },
    Rule {
        krate: "host-ports",
        normal: May::Only(&["plugin-api"]),
        tests_also: None,
        why: "traits and types over the contract",
    },
    Rule {
        krate: "store",
        normal: May::Only(&["plugin-api", "host-ports"]),
        tests_also: None,
        why: "stores; runs no plugins",
    },
    Rule {
        krate: "plugin-host",
        normal: May::Only(&["plugin-api", "host-ports"]),
        tests_also: Some(May::Only(&["store"])),
        why: "runs plugins over the ports",
    },
    Rule {
        krate: "plugins",
        normal: May::Only(&["plugin-api"]),
        tests_also: Some(May::Only(&[
            "plugin-host",
            "host-ports",
            "store",
            "test-servers",
        ])),
        why: "only what any plugin can do",
    },
    Rule {
        krate: "pipeline",
        normal: May::Only(&["audio", "plugin-api", "host-ports", "plugin-host", "store"]),
        tests_also: Some(May::AnyBut(&["cli", "server", "bench"])),
        why: "audio to events",
    },
    Rule {
        krate: "server",
        normal: May::Only(&[
            "audio",
            "plugin-api",
            "host-ports",
            "pipeline",
            "plugin-host",
            "store",
        ]),
        tests_also: Some(May::Only(&["plugins", "test-servers"])),
        why: "HTTP over the pipeline; the binary picks the plugins",
    },
    Rule {
        krate: "cli",
        normal: May::AnyBut(&["bench"]),
        tests_also: Some(May::AnyBut(&["bench"])),
        why: "wires everything together",
    },
    Rule {
        krate: "bench",
        normal: May::Only(&[
            "plugin-api",
            "host-ports",
            "plugin-host",
            "store",
            "test-servers",
        ]),
        tests_also: None,
        why: "runs the server as a process",
    },
];

/// Crates nothing may depend on, not even in tests.
const LEAVES: &[&str] = &["cli", "bench"];
/// Crates only `cli` may depend on outside tests.
const CLI_ONLY: &[&str] = &["plugins", "server"];

impl Rule {
    fn allows(&self, dependency: &str, kind: Kind) -> bool {
        if dependency == self.krate {
            return false;
        }
        self.normal.allows(dependency)
            || (kind == Kind::Dev && self.tests_also.is_some_and(|may| may.allows(dependency)))
    }

    /// The rule as its row of the table in ARCHITECTURE.md.
    fn row(&self) -> String {
        let tests = self.tests_also.map_or("—".to_owned(), May::describe);
        format!(
            "| `{}` | {} | {} | {} |",
            self.krate,
            self.normal.describe(),
            tests,
            self.why
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Normal,
    Build,
    Dev,
}

impl Kind {
    fn section(self) -> &'static str {
        match self {
            Kind::Normal => "[dependencies]",
            Kind::Build => "[build-dependencies]",
            Kind::Dev => "[dev-dependencies]",
        }
    }
}

struct Manifest {
    path: PathBuf,
    /// The package name without `chronicle-`.
    name: String,
    /// Chronicle dependencies (short names) with the section each is in.
    dependencies: Vec<(String, Kind)>,
    /// Every other dependency (package names) with its section.
    external: Vec<(String, Kind)>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn short(package: &str) -> Option<&str> {
    package.strip_prefix("chronicle-")
}

fn unquote(text: &str) -> &str {
    text.trim().trim_matches('"').trim_matches('\'')
}

/// `[a.'b.c'.d]` → `["a", "b.c", "d"]`.
fn header_parts(header: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote = None;
    for ch in header.chars() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => parts.push(String::new()),
            (_, c) if quote.is_some() || !c.is_whitespace() => {
                parts.last_mut().expect("one part").push(c)
            }
            _ => {}
        }
    }
    parts
}

fn kind_of(section: &str) -> Option<Kind> {
    match section {
        "dependencies" => Some(Kind::Normal),
        "build-dependencies" => Some(Kind::Build),
        "dev-dependencies" => Some(Kind::Dev),
        _ => None,
    }
}

/// The value of `package = "…"` inside an inline table, if any.
fn renamed_package(value: &str) -> Option<String> {
    let start = value.find("package")?;
    let rest = value[start + "package".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next()?;
    let end = rest[1..].find(quote)?;
    Some(rest[1..1 + end].to_owned())
}

/// Records one dependency, as Chronicle's (short name) or an outside crate's.
fn add(manifest: &mut Manifest, package: &str, kind: Kind) {
    match short(package) {
        Some(dep) => manifest.dependencies.push((dep.to_owned(), kind)),
        None => manifest.external.push((package.to_owned(), kind)),
    }
}

/// Reads a manifest's package name and its dependencies on Chronicle crates, with simple line
/// parsing: `name.workspace = true`, `name = { … }`, `name = "1"` and `[dependencies.name]`
/// tables (also under `[target.….dependencies]`), and `package = "…"` renames.
fn read_manifest(path: &Path) -> Manifest {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut name = None;
    let mut manifest = Manifest {
        path: path.to_owned(),
        name: String::new(),
        dependencies: Vec::new(),
        external: Vec::new(),
    };
    let mut section: Vec<String> = Vec::new();
    // For `[dependencies.foo]`: the dependency and its kind, renamed by a `package` line.
    let mut table: Option<(String, Kind)> = None;
    for raw in text.lines() {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            if let Some((package, kind)) = table.take() {
                add(&mut manifest, &package, kind);
            }
            let header = line.trim_start_matches('[').trim_end_matches(']');
            section = header_parts(header);
            // `[dependencies.foo]`, `[target.x.dev-dependencies.foo]`
            if section.len() >= 2
                && let Some(kind) = kind_of(&section[section.len() - 2])
            {
                table = Some((section[section.len() - 1].clone(), kind));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if section == ["package"] && key == "name" {
            name = Some(unquote(value).to_owned());
            continue;
        }
        if let Some(kind) = table.as_ref().map(|(_, kind)| *kind) {
            if key == "package" {
                table = Some((unquote(value).to_owned(), kind));
            }
            continue;
        }
        let Some(kind) = section.last().and_then(|last| kind_of(last)) else {
            continue;
        };
        // `foo.workspace = true`, `foo.path = "…"`, `"foo" = { … }`
        let dependency = unquote(key.split('.').next().unwrap_or(key));
        let package = renamed_package(value).unwrap_or_else(|| dependency.to_owned());
        add(&mut manifest, &package, kind);
    }
    if let Some((package, kind)) = table.take() {
        add(&mut manifest, &package, kind);
    }
    let name = name.unwrap_or_else(|| panic!("{}: no [package] name", path.display()));
    manifest.name = short(&name)
        .unwrap_or_else(|| panic!("{}: package {name} is not chronicle-…", path.display()))
        .to_owned();
    manifest
}

fn manifests() -> Vec<Manifest> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_root().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|entry| entry.path().join("Cargo.toml"))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|path| read_manifest(path)).collect()
}

fn rule_for(krate: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.krate == krate)
}

fn display(path: &Path) -> String {
    let root = repo_root().canonicalize().expect("repo root");
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    path.strip_prefix(&root)
        .unwrap_or(&path)
        .display()
        .to_string()
}

#[test]
fn every_crate_has_a_dependency_rule() {
    let manifests = manifests();
    let mut problems = Vec::new();
    for manifest in &manifests {
        if rule_for(&manifest.name).is_none() {
            problems.push(format!(
                "{}: chronicle-{} has no dependency rule: add one to RULES in \
                 crates/cli/tests/architecture.rs and to \"Crate dependency rules\" in \
                 ARCHITECTURE.md",
                display(&manifest.path),
                manifest.name
            ));
        }
    }
    for rule in RULES {
        if !manifests.iter().any(|manifest| manifest.name == rule.krate) {
            problems.push(format!(
                "RULES has a rule for chronicle-{}, which is not under crates/: remove it here \
                 and in ARCHITECTURE.md",
                rule.krate
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn crates_depend_only_on_what_their_rule_allows() {
    let mut problems = Vec::new();
    for manifest in manifests() {
        let Some(rule) = rule_for(&manifest.name) else {
            continue; // every_crate_has_a_dependency_rule reports it
        };
        for (dependency, kind) in &manifest.dependencies {
            if !rule.allows(dependency, *kind) {
                problems.push(format!(
                    "{}: chronicle-{} must not depend on chronicle-{dependency} in {}.\n  \
                     ARCHITECTURE.md, Crate dependency rules: {}",
                    display(&manifest.path),
                    manifest.name,
                    kind.section(),
                    rule.row()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn nothing_depends_on_the_cli_or_the_benchmarks() {
    let mut problems = Vec::new();
    for manifest in manifests() {
        for (dependency, kind) in &manifest.dependencies {
            if LEAVES.contains(&dependency.as_str()) {
                problems.push(format!(
                    "{}: chronicle-{} depends on chronicle-{dependency} in {}; \
                     ARCHITECTURE.md, Crate dependency rules: nothing depends on cli or bench",
                    display(&manifest.path),
                    manifest.name,
                    kind.section()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_the_cli_depends_on_the_server_and_the_bundled_plugins() {
    let mut problems = Vec::new();
    for manifest in manifests() {
        if manifest.name == "cli" {
            continue;
        }
        for (dependency, kind) in &manifest.dependencies {
            if *kind != Kind::Dev && CLI_ONLY.contains(&dependency.as_str()) {
                problems.push(format!(
                    "{}: chronicle-{} depends on chronicle-{dependency} in {}; \
                     ARCHITECTURE.md, Crate dependency rules: only cli depends on plugins \
                     and server (tests may)",
                    display(&manifest.path),
                    manifest.name,
                    kind.section()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_rules_keep_the_promises_stated_beside_them() {
    // The leaves and the cli-only crates follow from RULES; this keeps a new rule honest.
    for rule in RULES {
        for leaf in LEAVES {
            assert!(
                !rule.allows(leaf, Kind::Dev),
                "the rule for {} allows {leaf}",
                rule.krate
            );
        }
        if rule.krate != "cli" {
            for krate in CLI_ONLY {
                assert!(
                    !rule.allows(krate, Kind::Normal),
                    "the rule for {} allows {krate} outside tests",
                    rule.krate
                );
            }
        }
    }
}

/// Outside crates the contract and the ports may use: types, traits and serialization only.
const CONTRACT_CRATES: &[&str] = &[
    "serde",
    "serde_json",
    "serde_path_to_error",
    "async-trait",
    "thiserror",
];

#[test]
fn the_contract_and_the_ports_need_no_runtime_and_no_io() {
    let mut problems = Vec::new();
    for manifest in manifests() {
        if !matches!(manifest.name.as_str(), "plugin-api" | "host-ports") {
            continue;
        }
        for (dependency, kind) in &manifest.external {
            if *kind != Kind::Dev && !CONTRACT_CRATES.contains(&dependency.as_str()) {
                problems.push(format!(
                    "{}: chronicle-{} must not depend on {dependency} in {}.\n  \
                     ARCHITECTURE.md, Crate dependency rules: plugin-api and host-ports use only \
                     {}",
                    display(&manifest.path),
                    manifest.name,
                    kind.section(),
                    CONTRACT_CRATES.join(", ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_the_server_serves_http_and_only_the_store_speaks_sql() {
    // (outside crate, the Chronicle crates that may use it outside tests)
    let owners: &[(&str, &[&str])] = &[
        ("axum", &["server", "test-servers"]),
        ("rusqlite", &["store"]),
    ];
    let mut problems = Vec::new();
    for manifest in manifests() {
        for (dependency, kind) in &manifest.external {
            let Some((_, allowed)) = owners.iter().find(|(name, _)| name == dependency) else {
                continue;
            };
            if *kind != Kind::Dev && !allowed.contains(&manifest.name.as_str()) {
                problems.push(format!(
                    "{}: chronicle-{} must not depend on {dependency} in {}.\n  \
                     ARCHITECTURE.md, Crate dependency rules: only {} use {dependency}",
                    display(&manifest.path),
                    manifest.name,
                    kind.section(),
                    allowed.join(" and ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn architecture_md_states_these_rules() {
    let path = repo_root().join("ARCHITECTURE.md");
    let text = std::fs::read_to_string(&path).expect("ARCHITECTURE.md");
    let mut table = String::new();
    for rule in RULES {
        writeln!(table, "{}", rule.row()).expect("write to a String");
    }
    let missing: Vec<&str> = table.lines().filter(|row| !text.contains(row)).collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's \"Crate dependency rules\" table must match RULES in \
         crates/cli/tests/architecture.rs; these rows are missing or differ:\n{}\n\nThe table \
         as RULES has it:\n{table}",
        missing.join("\n")
    );
}

#[test]
fn the_manifest_reader_understands_every_form_the_workspace_uses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("Cargo.toml");
    std::fs::write(
        &path,
        r#"[package]
name = "chronicle-example"
version.workspace = true

[dependencies]
chronicle-plugin-api.workspace = true
chronicle-store = { workspace = true }
"chronicle-audio" = { path = "../audio" } # quoted
api = { package = "chronicle-host-ports", path = "../host-ports" }
serde.workspace = true
# chronicle-cli.workspace = true

[dependencies.chronicle-pipeline]
workspace = true

[dependencies.ports]
package = "chronicle-plugin-host"

[target.'cfg(unix)'.dependencies]
chronicle-server.workspace = true

[build-dependencies]
chronicle-test-servers.workspace = true

[dev-dependencies]
chronicle-plugins.workspace = true
tempfile.workspace = true

[lints]
workspace = true
"#,
    )
    .expect("write");
    let manifest = read_manifest(&path);
    assert_eq!(manifest.name, "example");
    let found: BTreeMap<&str, Kind> = manifest
        .dependencies
        .iter()
        .map(|(name, kind)| (name.as_str(), *kind))
        .collect();
    let expected: BTreeMap<&str, Kind> = [
        ("plugin-api", Kind::Normal),
        ("store", Kind::Normal),
        ("audio", Kind::Normal),
        ("host-ports", Kind::Normal),
        ("pipeline", Kind::Normal),
        ("plugin-host", Kind::Normal),
        ("server", Kind::Normal),
        ("test-servers", Kind::Build),
        ("plugins", Kind::Dev),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected);
    let external: Vec<(&str, Kind)> = manifest
        .external
        .iter()
        .map(|(name, kind)| (name.as_str(), *kind))
        .collect();
    assert_eq!(
        external,
        [("serde", Kind::Normal), ("tempfile", Kind::Dev)],
        "the commented-out line and the [lints] table are no dependencies"
    );
}

/// No two files of a crate import each other in a circle, directly or through others:
/// `scripts/import_cycles.py` lists every such cycle and fails while one is left.
#[test]
fn no_files_import_each_other_in_a_circle() {
    let output = std::process::Command::new("python3")
        .arg(repo_root().join("scripts/import_cycles.py"))
        .current_dir(repo_root())
        .output()
        .expect("python3 runs scripts/import_cycles.py");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "import cycles between files (break each, e.g. by moving what both need into a file of its own):\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("0 import cycles"), "{report}");
}
