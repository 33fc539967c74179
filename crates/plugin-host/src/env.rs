//! `${VAR}` and `${VAR:-default}` expansion in configuration values.
//!
//! Rules, chosen to keep the Python original's results where users rely on them and to fix
//! what it got wrong:
//! - `${NAME}` takes the variable's value; `${NAME:-default}` takes the default only when the
//!   variable is unset (a set-but-empty variable wins, as in the original). Name and default are
//!   trimmed, and the split is at the first `:-`.
//! - An unset variable without a default is an error naming the variable (the original kept
//!   the literal `${NAME}` and handed it to the plugin).
//! - A plain scalar that is exactly one placeholder takes the type of its value, so
//!   `${PORT:-587}` is the number 587 and `${TLS:-false}` the boolean false (the original kept
//!   every value a string, so `"false"` was truthy). A quoted scalar, or a placeholder inside
//!   other text, stays a string.
//! - `${}` and `$NAME` are left as written.

use std::collections::HashMap;
use std::path::Path;

use crate::yaml::{Node, NodeKind, resolve_plain};

/// Where variables come from, most specific first: the plugin's own `.env`, then the process
/// environment, then the project's `.env`.
#[derive(Clone, Debug, Default)]
pub struct EnvSources {
    /// `plugins/<id>/.env`.
    pub plugin: HashMap<String, String>,
    /// The process environment.
    pub process: HashMap<String, String>,
    /// `./.env` (or the file given with `--env-file`).
    pub project: HashMap<String, String>,
}

impl EnvSources {
    /// The value of `name`, looking in the plugin's `.env`, the process and the project `.env`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.plugin
            .get(name)
            .or_else(|| self.process.get(name))
            .or_else(|| self.project.get(name))
            .map(String::as_str)
    }

    /// The same sources with `plugins/<id>/.env` in front.
    pub fn with_plugin(&self, plugin: HashMap<String, String>) -> Self {
        Self {
            plugin,
            ..self.clone()
        }
    }
}

/// Reads a dotenv file; a missing file is empty, a malformed one an error naming the line.
pub fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, String> {
    match dotenvy::from_path_iter(path) {
        Ok(iter) => iter
            .map(|item| item.map_err(|error| format!("{}: {error}", path.display())))
            .collect(),
        Err(dotenvy::Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok(HashMap::new())
        }
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}

/// A variable a placeholder needed that is not set anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsetVariable {
    /// The variable's name.
    pub name: String,
    /// Where the placeholder starts, in bytes from the start of the scalar.
    pub offset: usize,
}

/// Expands every placeholder in `text`. Returns the text and whether `text` was exactly one
/// placeholder.
pub fn expand_str(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, bool), UnsetVariable> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut consumed = 0;
    let mut placeholders = 0;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start]);
        if inner.is_empty() {
            out.push_str("${}");
        } else {
            placeholders += 1;
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name.trim(), Some(default.trim())),
                None => (inner.trim(), None),
            };
            match (lookup(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(UnsetVariable {
                        name: name.to_owned(),
                        offset: consumed + start,
                    });
                }
            }
        }
        let end = start + 2 + len + 1;
        consumed += end;
        rest = &rest[end..];
    }
    out.push_str(rest);
    let whole = placeholders == 1 && text.starts_with("${") && text.ends_with('}') && {
        // Exactly one placeholder spanning the whole scalar.
        text[2..].find('}') == Some(text.len() - 3)
    };
    Ok((out, whole))
}

/// The variables `node`'s placeholders name (set or not), in the order written: a plugin
/// process gets these and no others from the host's environment.
pub fn referenced_names(node: &Node, names: &mut Vec<String>) {
    match &node.kind {
        NodeKind::String { text, .. } => {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                let Some(len) = rest[start + 2..].find('}') else {
                    break;
                };
                let inner = &rest[start + 2..start + 2 + len];
                let name = inner
                    .split_once(":-")
                    .map_or(inner, |(name, _)| name)
                    .trim();
                if !name.is_empty() && !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
                rest = &rest[start + 2 + len + 1..];
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|item| referenced_names(item, names)),
        NodeKind::Map(entries) => entries
            .iter()
            .for_each(|(_, value)| referenced_names(value, names)),
        NodeKind::Null | NodeKind::Bool(_) | NodeKind::Int(_) | NodeKind::Float(_) => {}
    }
}

/// Expands placeholders in every string value of `node` (mapping keys are left alone), typing
/// whole-placeholder plain scalars. Returns every unset variable with where it was written.
pub fn expand_node(node: &mut Node, env: &EnvSources) -> Vec<(crate::diagnostic::Pos, String)> {
    let mut unset = Vec::new();
    expand_into(node, env, &mut unset);
    unset
}

fn expand_into(
    node: &mut Node,
    env: &EnvSources,
    unset: &mut Vec<(crate::diagnostic::Pos, String)>,
) {
    match &mut node.kind {
        NodeKind::String { text, plain } => {
            if !text.contains("${") {
                return;
            }
            match expand_str(text, |name| env.get(name).map(str::to_owned)) {
                Ok((expanded, whole)) => {
                    node.kind = if whole && *plain && !expanded.is_empty() {
                        resolve_plain(&expanded)
                    } else {
                        NodeKind::String {
                            text: expanded,
                            plain: *plain,
                        }
                    };
                }
                Err(error) => {
                    let mut pos = node.pos;
                    if *plain && node.inline {
                        pos.column += text[..error.offset].chars().count();
                    }
                    unset.push((pos, error.name));
                }
            }
        }
        NodeKind::Seq(items) => items
            .iter_mut()
            .for_each(|item| expand_into(item, env, unset)),
        NodeKind::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, value)| expand_into(value, env, unset)),
        NodeKind::Null | NodeKind::Bool(_) | NodeKind::Int(_) | NodeKind::Float(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::yaml::parse;

    fn env() -> EnvSources {
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        EnvSources {
            plugin: vars(&[("TOKEN", "from-plugin-env")]),
            process: vars(&[
                ("A", "1"),
                ("EMPTY", ""),
                ("TOKEN", "from-process"),
                ("PIN", "0042"),
            ]),
            project: vars(&[("PROJECT_ONLY", "p"), ("A", "shadowed")]),
        }
    }

    fn expand(text: &str) -> Result<String, UnsetVariable> {
        let env = env();
        expand_str(text, |name| env.get(name).map(str::to_owned)).map(|(text, _)| text)
    }

    #[test]
    fn the_names_placeholders_use_are_listed_once_in_order() {
        let node =
            parse("a: ${TOKEN}\nb: [\"x ${A:-1} ${TOKEN}\", \"${}\"]\nc: {d: \"${ PIN }\"}\n")
                .unwrap();
        let mut names = Vec::new();
        referenced_names(&node, &mut names);
        assert_eq!(names, ["TOKEN", "A", "PIN"]);
    }

    /// The checked cases of reference section 4.3, with our fix for unset variables.
    #[test]
    fn string_expansion_matches_the_original_where_it_was_right() {
        assert_eq!(expand("${EMPTY:-d}").unwrap(), "");
        assert_eq!(expand("${UNSET:-}").unwrap(), "");
        assert_eq!(expand("${ A }").unwrap(), "1");
        assert_eq!(expand("${UNSET:-a:-b}").unwrap(), "a:-b");
        assert_eq!(expand("${UNSET:- spaced }").unwrap(), "spaced");
        assert_eq!(expand("x${A}y${A}z").unwrap(), "x1y1z");
        assert_eq!(expand("${}").unwrap(), "${}");
        assert_eq!(expand("$A and ${A").unwrap(), "$A and ${A");
        assert_eq!(expand("${TOKEN}").unwrap(), "from-plugin-env");
        assert_eq!(expand("${PROJECT_ONLY}").unwrap(), "p");
        assert_eq!(
            expand("${A}").unwrap(),
            "1",
            "the process environment beats ./.env"
        );
        // FIXED: the original kept `${B}` literally and handed it to the plugin.
        assert_eq!(
            expand("x${A}y${B}z"),
            Err(UnsetVariable {
                name: "B".into(),
                offset: 6
            })
        );
    }

    #[test]
    fn whole_plain_placeholders_take_the_type_of_their_value() {
        let mut node = parse(concat!(
            "port: ${PORT:-587}\n",
            "tls: ${TLS:-false}\n",
            "ratio: ${R:-0.5}\n",
            "quoted: \"${PORT:-587}\"\n",
            "pin: ${PIN}\n",
            "pin_quoted: '${PIN}'\n",
            "inside: port ${PORT:-587}\n",
            "empty: ${UNSET:-}\n",
            "list:\n  - ${A}\n  - \"${A}\"\n",
        ))
        .unwrap();
        assert!(expand_node(&mut node, &env()).is_empty());
        assert_eq!(
            node.to_json(),
            json!({
                "port": 587, "tls": false, "ratio": 0.5, "quoted": "587",
                "pin": 42, "pin_quoted": "0042", "inside": "port 587", "empty": "",
                "list": [1, "1"],
            })
        );
    }

    #[test]
    fn unset_variables_are_reported_with_their_position() {
        let mut node = parse("a: ok\nb: x-${MISSING}\nc: ${ALSO_MISSING}\n").unwrap();
        let unset = expand_node(&mut node, &env());
        let found: Vec<_> = unset
            .iter()
            .map(|(pos, name)| (pos.line, pos.column, name.as_str()))
            .collect();
        assert_eq!(found, [(2, 6, "MISSING"), (3, 4, "ALSO_MISSING")]);
    }

    #[test]
    fn dotenv_files_are_read_and_missing_ones_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "# comment\nSMTP_PORT=2525\nQUOTED=\"a b\"\n").unwrap();
        let vars = read_dotenv(&path).unwrap();
        assert_eq!(vars["SMTP_PORT"], "2525");
        assert_eq!(vars["QUOTED"], "a b");
        assert!(read_dotenv(&dir.path().join("absent")).unwrap().is_empty());
    }
}
