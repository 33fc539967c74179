//! `plugins_yml`: any text as `config/plugins.yml`, read by the host's loader
//! (`chronicle_plugin_host::config::load_text`: YAML within its budgets, `${VAR}` expansion,
//! validation of every entry) with a fake environment and two bundled plugins, `alpha` and
//! `beta`.
//!
//! Properties, as `config.rs`, `env.rs` and `robustness.rs` promise them: the loader never
//! panics; every problem in `plugins.yml` is located inside it (line 1 up to one past the last
//! line, column 1 up to one past the end of that line); an error about a plugin's entry fails
//! that plugin (it is listed, with the error in its `failure`) and no other; entries keep their
//! ids unique, their events without repeats, their timeouts and retries within the bounds the
//! loader checks; and a plugin's environment holds only variables its entry names, with the
//! values the environment gives them, never the host's other variables.

#![no_main]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use chronicle_plugin_api::{AccessLevel, Plugin, PluginDescriptor};
use chronicle_plugin_host::HostConfig;
use chronicle_plugin_host::catalog::Catalog;
use chronicle_plugin_host::config::load_text;
use chronicle_plugin_host::env::EnvSources;
use chronicle_plugin_host::{Diagnostic, Severity};
use libfuzzer_sys::fuzz_target;

struct Quiet;

impl Plugin for Quiet {}

const REGISTRY: &[PluginDescriptor] = &[
    PluginDescriptor {
        id: "alpha",
        name: "Alpha",
        description: "Takes anything",
        access_levels: &[AccessLevel::Transcript, AccessLevel::Conversation],
        build: |_| Ok(Box::new(Quiet)),
    },
    PluginDescriptor {
        id: "beta",
        name: "Beta",
        description: "Takes anything",
        access_levels: &[AccessLevel::Button],
        build: |_| Ok(Box::new(Quiet)),
    },
];

/// A project whose folders do not exist: plugins have no `config.yml` or `.env` of their own,
/// so every diagnostic comes from the text.
static CONFIG: LazyLock<HostConfig> = LazyLock::new(|| {
    HostConfig::new(
        "/nonexistent/chronicle-fuzz/config",
        "/nonexistent/chronicle-fuzz/plugins",
    )
});
static CATALOG: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::discover(REGISTRY, &CONFIG.plugins_dir));

/// The fake environment: `SET_VAR` and `EMPTY_VAR` as a user sets them, `WIDE` with characters
/// of more than one byte, and `HOST_SECRET`, which must reach no plugin that does not name it.
static ENV: LazyLock<EnvSources> = LazyLock::new(|| EnvSources {
    process: HashMap::from([
        ("SET_VAR".to_owned(), "5".to_owned()),
        ("EMPTY_VAR".to_owned(), String::new()),
        ("WIDE".to_owned(), "日本".to_owned()),
        ("HOST_SECRET".to_owned(), "s3cret".to_owned()),
    ]),
    ..EnvSources::default()
});

/// The lines of a YAML text: `\r\n`, `\r` and `\n` each end one.
fn yaml_lines(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .map(str::to_owned)
        .collect()
}

fn check_located(diagnostic: &Diagnostic, lines: &[String], text: &str) {
    let pos = diagnostic.location.pos;
    assert!(
        (1..=lines.len()).contains(&pos.line),
        "line {} of {} lines: {diagnostic}\n{text:?}",
        pos.line,
        lines.len(),
    );
    let width = lines[pos.line - 1].chars().count();
    assert!(
        (1..=width + 1).contains(&pos.column),
        "column {} of a {width}-character line: {diagnostic}\n{text:?}",
        pos.column,
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let loaded = load_text(&CONFIG, &CATALOG, &text, &ENV);

    let plugins_file = CONFIG.plugins_file();
    let lines = yaml_lines(&text);
    for diagnostic in &loaded.diagnostics {
        // An id that is a path (`/etc`, `../x`) points the loader at a folder outside
        // `plugins/`; whatever it finds there is located in its own file.
        if Path::new(&*diagnostic.location.file) == plugins_file {
            check_located(diagnostic, &lines, &text);
        }
    }

    let mut ids = HashSet::new();
    for spec in &loaded.specs {
        assert!(ids.insert(spec.id.as_str()), "`{}` twice", spec.id);
        let mut events = HashSet::new();
        assert!(
            spec.events.iter().all(|event| events.insert(*event)),
            "{:?}",
            spec.events
        );
        if let Some(timeout) = spec.timeout {
            assert!(
                timeout > Duration::ZERO && timeout <= Duration::from_secs(86_400),
                "{timeout:?}"
            );
        }
        assert!(spec.max_retries <= 100, "{}", spec.max_retries);
        for (name, value) in &spec.environment {
            assert_eq!(
                ENV.get(name),
                Some(value.as_str()),
                "`{name}` of `{}`",
                spec.id
            );
            assert!(
                text.contains(name.as_str()),
                "`{name}` reached `{}`",
                spec.id
            );
        }
    }
    for diagnostic in &loaded.diagnostics {
        let Some(plugin) = &diagnostic.plugin else {
            continue;
        };
        if diagnostic.severity != Severity::Error {
            continue;
        }
        let spec = loaded.specs.iter().find(|spec| spec.id == **plugin);
        let failure = spec.and_then(|spec| spec.failure.as_deref());
        assert!(
            failure.is_some_and(|failure| failure.contains(&diagnostic.message)),
            "{diagnostic} does not fail `{plugin}`: {failure:?}"
        );
    }
});
