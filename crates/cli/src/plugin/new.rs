//! `plugin new`: writes a plugin from the templates in `crates/cli/templates`.
//!
//! The Rust template is compiled and tested as part of `chronicle-plugins` (under the id
//! `scaffold_example`), and the Python template is run under the SDK by its tests, so what this
//! command writes is known to work.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::args::{NewArgs, Paths};

const TEMPLATE_ID: &str = "scaffold_example";
const TEMPLATE_TYPE: &str = "ScaffoldExample";
const TEMPLATE_NAME: &str = "Scaffold Example";

const RUST_FILES: [(&str, &str); 4] = [
    ("mod.rs", include_str!("../../templates/rust_plugin/mod.rs")),
    (
        "config.rs",
        include_str!("../../templates/rust_plugin/config.rs"),
    ),
    (
        "plugin.rs",
        include_str!("../../templates/rust_plugin/plugin.rs"),
    ),
    (
        "tests.rs",
        include_str!("../../templates/rust_plugin/tests.rs"),
    ),
];
const RUST_CONFIG_YML: &str = include_str!("../../templates/rust_plugin/config.yml");

const PYTHON_FILES: [(&str, &str); 4] = [
    (
        "__init__.py",
        include_str!("../../templates/python_plugin/__init__.py"),
    ),
    (
        "plugin.py",
        include_str!("../../templates/python_plugin/plugin.py"),
    ),
    (
        "README.md",
        include_str!("../../templates/python_plugin/README.md"),
    ),
    (
        "config.yml",
        include_str!("../../templates/python_plugin/config.yml"),
    ),
];

const RUST_KEYWORDS: [&str; 12] = [
    "as", "crate", "fn", "impl", "mod", "move", "self", "super", "type", "use", "where", "async",
];

pub fn run(paths: &Paths, args: NewArgs) -> anyhow::Result<ExitCode> {
    let lang = match args.lang.as_str() {
        "rust" => Lang::Rust,
        "python" => Lang::Python,
        other => bail!("unknown language `{other}`; use --lang rust or --lang python"),
    };
    let id = args.name.as_str();
    check_id(id)?;
    let words: Vec<String> = id
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let (type_name, human_name) = (words.concat(), words.join(" "));
    let render = |text: &str| {
        text.replace(TEMPLATE_TYPE, &type_name)
            .replace(TEMPLATE_ID, id)
            .replace(TEMPLATE_NAME, &human_name)
    };

    let plugin_dir = paths.plugins_dir.join(id);
    let planned: Vec<(PathBuf, String)> = match lang {
        Lang::Rust => {
            let module_dir = args.crate_dir.join("src").join(id);
            RUST_FILES
                .iter()
                .map(|(file, text)| (module_dir.join(file), render(text)))
                .chain(std::iter::once((
                    plugin_dir.join("config.yml"),
                    render(RUST_CONFIG_YML),
                )))
                .collect()
        }
        Lang::Python => PYTHON_FILES
            .iter()
            .map(|(file, text)| (plugin_dir.join(file), render(text)))
            .collect(),
    };
    if !args.force
        && let Some((existing, _)) = planned.iter().find(|(path, _)| path.exists())
    {
        bail!(
            "{} already exists; pass --force to overwrite",
            existing.display()
        );
    }
    for (path, text) in &planned {
        write(path, text)?;
        println!("created {}", path.display());
    }
    let entry =
        format!("       {id}:\n         enabled: true\n         events: [conversation.complete]");
    match lang {
        Lang::Rust => println!(
            "\nTo register `{id}`:\n  1. crates/plugins/Cargo.toml: add `{id} = []` under [features] and to `default`\n  2. crates/plugins/src/lib.rs: add\n       #[cfg(feature = \"{id}\")]\n       pub mod {id};\n     and `#[cfg(feature = \"{id}\")] {id}::DESCRIPTOR,` to REGISTRY\n  3. config/plugins.yml: add\n{entry}\nThen: cargo test -p chronicle-plugins {id} && chronicle plugin validate"
        ),
        Lang::Python => println!(
            "\nTo enable `{id}`, add to config/plugins.yml:\n{entry}\nThen: chronicle plugin test --event conversation.complete --data '{{\"transcript\": \"hello there\"}}'"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

enum Lang {
    Rust,
    Python,
}

fn check_id(id: &str) -> anyhow::Result<()> {
    let valid = id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !id.ends_with('_')
        && !id.contains("__");
    if !valid {
        bail!(
            "`{id}` is not a valid plugin id: use snake_case letters, digits and single underscores, starting with a letter (e.g. `weather_reporter`)"
        );
    }
    if RUST_KEYWORDS.contains(&id) {
        bail!("`{id}` is a Rust keyword; choose another id");
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
