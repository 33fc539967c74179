//! `plugin new`: writes a bundled Rust plugin from the template in `crates/cli/templates`.
//!
//! The template is itself compiled and tested as part of `chronicle-plugins` (under the id
//! `scaffold_example`), so what this command writes is known to build and pass its test.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::args::{NewArgs, Paths};

const TEMPLATE_ID: &str = "scaffold_example";
const TEMPLATE_TYPE: &str = "ScaffoldExample";
const TEMPLATE_NAME: &str = "Scaffold Example";

const FILES: [(&str, &str); 4] = [
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
const CONFIG_YML: &str = include_str!("../../templates/rust_plugin/config.yml");

const RUST_KEYWORDS: [&str; 12] = [
    "as", "crate", "fn", "impl", "mod", "move", "self", "super", "type", "use", "where", "async",
];

pub fn run(paths: &Paths, args: NewArgs) -> anyhow::Result<ExitCode> {
    match args.lang.as_str() {
        "rust" => {}
        "python" => {
            bail!("Python plugins arrive with the out-of-process runtime; use --lang rust for now")
        }
        other => bail!("unknown language `{other}`; use --lang rust"),
    }
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

    let module_dir = args.crate_dir.join("src").join(id);
    let config_path = paths.plugins_dir.join(id).join("config.yml");
    let mut planned: Vec<(PathBuf, String)> = FILES
        .iter()
        .map(|(file, text)| (module_dir.join(file), render(text)))
        .collect();
    planned.push((config_path, render(CONFIG_YML)));
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
    println!(
        "\nTo register `{id}`:\n  1. crates/plugins/Cargo.toml: add `{id} = []` under [features] and to `default`\n  2. crates/plugins/src/lib.rs: add\n       #[cfg(feature = \"{id}\")]\n       pub mod {id};\n     and `#[cfg(feature = \"{id}\")] {id}::DESCRIPTOR,` to REGISTRY\n  3. config/plugins.yml: add\n       {id}:\n         enabled: true\n         events: [conversation.complete]\nThen: cargo test -p chronicle-plugins {id} && chronicle plugin validate"
    );
    Ok(ExitCode::SUCCESS)
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
