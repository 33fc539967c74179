//! Edits one plugin's entry in the text of `plugins.yml`, for the web app's settings form:
//! the keys it changes are rewritten, everything else — other plugins, comments, `${VAR}`
//! references, the order — stays as the person wrote it.
//!
//! Line-based on purpose: a key written in block style owns its line and the lines indented
//! under it, so replacing a value is replacing those lines. Values are written as JSON, which
//! YAML reads as flow style. An entry written in flow style (`email: {enabled: true}`) is not
//! rewritten: the error says to use the raw editor.

use serde_json::Value;

use crate::yaml::{self, Key, Node, NodeKind};

/// `text` with each `(key, value)` of `changes` set in the entry of `plugin_id` under
/// `plugins:` — replaced where the key is written, added at the end of the entry otherwise; an
/// entry is added when the plugin has none. An error says why the file cannot be edited so.
pub fn set_plugin_keys(
    text: &str,
    plugin_id: &str,
    changes: &[(String, Value)],
) -> Result<String, String> {
    let root = yaml::parse(text).map_err(|e| {
        format!(
            "plugins.yml has a syntax error at line {}, column {}: {}; fix it in the raw editor",
            e.pos.line, e.pos.column, e.message
        )
    })?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let Some((plugins_key, plugins)) = entry(&root, "plugins") else {
        return Err("plugins.yml has no `plugins:` mapping; add one in the raw editor".into());
    };
    if !matches!(plugins.kind, NodeKind::Map(_) | NodeKind::Null) {
        return Err("`plugins:` in plugins.yml is not a mapping; fix it in the raw editor".into());
    }
    let Some((plugin_key, plugin)) = entry(plugins, plugin_id) else {
        add_entry(&mut lines, plugins_key, plugins, plugin_id, changes)?;
        return Ok(joined(lines, text));
    };
    let NodeKind::Map(keys) = &plugin.kind else {
        return Err(format!(
            "the entry of `{plugin_id}` in plugins.yml is not a mapping; fix it in the raw editor"
        ));
    };
    if is_flow(&lines, plugin_key, plugin) {
        return Err(flow_error(plugin_id));
    }
    let indent = keys
        .first()
        .map_or(indent_of(&lines, plugin_key) + 2, |(key, _)| {
            key.pos.column - 1
        });
    // Edited bottom-up, so the line numbers of the keys above stay true.
    let mut replaced: Vec<(&Key, &Node, &Value)> = Vec::new();
    let mut added: Vec<&(String, Value)> = Vec::new();
    for change in changes {
        match keys.iter().find(|(key, _)| key.name == change.0) {
            Some((key, node)) => replaced.push((key, node, &change.1)),
            None => added.push(change),
        }
    }
    let end = block_end(&lines, plugin_key, plugin);
    let new_lines: Vec<String> = added
        .iter()
        .map(|(key, value)| line(indent, key, value))
        .collect::<Result<_, _>>()?;
    lines.splice(end..end, new_lines);
    replaced.sort_by_key(|(key, _, _)| std::cmp::Reverse(key.pos.line));
    for (key, node, value) in replaced {
        let (start, end) = (key.pos.line - 1, block_end(&lines, key, node));
        lines.splice(start..end, [line(key.pos.column - 1, &key.name, value)?]);
    }
    Ok(joined(lines, text))
}

/// The entry `name` of a mapping node.
fn entry<'a>(node: &'a Node, name: &str) -> Option<(&'a Key, &'a Node)> {
    node.as_map()?
        .iter()
        .find(|(key, _)| key.name == name)
        .map(|(key, value)| (key, value))
}

/// A new plugin entry at the end of `plugins:` (or in place of an empty `plugins: {}`).
fn add_entry(
    lines: &mut Vec<String>,
    plugins_key: &Key,
    plugins: &Node,
    plugin_id: &str,
    changes: &[(String, Value)],
) -> Result<(), String> {
    let base = plugins_key.pos.column - 1;
    let (indent, at) = match &plugins.kind {
        NodeKind::Map(entries) if !entries.is_empty() => {
            if is_flow(lines, plugins_key, plugins) {
                return Err(flow_error("plugins"));
            }
            (
                entries[0].0.pos.column - 1,
                block_end(lines, plugins_key, plugins),
            )
        }
        // `plugins:` with nothing under it, or `plugins: {}`: the line becomes `plugins:`.
        _ => {
            let row = plugins_key.pos.line - 1;
            lines[row] = format!("{}plugins:", " ".repeat(base));
            (base + 2, row + 1)
        }
    };
    let mut block = vec![format!("{}{plugin_id}:", " ".repeat(indent))];
    for (key, value) in changes {
        block.push(line(indent + 2, key, value)?);
    }
    lines.splice(at..at, block);
    Ok(())
}

/// Whether a mapping's value is written in flow style on its key's line (`{…}`).
fn is_flow(lines: &[String], key: &Key, value: &Node) -> bool {
    value.pos.line == key.pos.line
        && lines
            .get(key.pos.line - 1)
            .and_then(|l| l.chars().nth(value.pos.column - 1))
            == Some('{')
}

fn flow_error(what: &str) -> String {
    format!(
        "the entry of `{what}` in plugins.yml is written in flow style ({{…}}); \
         change it in the raw editor"
    )
}

/// The number of spaces before the text of a key's line.
fn indent_of(lines: &[String], key: &Key) -> usize {
    lines
        .get(key.pos.line - 1)
        .map_or(0, |l| l.len() - l.trim_start_matches(' ').len())
}

/// The index of the first line after the block of `key` and its `value`: the lines below
/// that are indented deeper than the key (or, for a sequence, `- ` items at its indent),
/// with trailing blank and comment lines left outside.
fn block_end(lines: &[String], key: &Key, value: &Node) -> usize {
    let indent = indent_of(lines, key);
    let mut end = key.pos.line;
    let mut row = key.pos.line;
    while let Some(text) = lines.get(row) {
        let trimmed = text.trim_start_matches(' ');
        let own = text.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            row += 1;
            continue;
        }
        let item = matches!(value.kind, NodeKind::Seq(_))
            && own == indent
            && (trimmed == "-" || trimmed.starts_with("- "));
        if own <= indent && !item {
            break;
        }
        row += 1;
        end = row;
    }
    end
}

/// `key: value` at `indent`, the value as JSON (flow YAML); a key that needs quoting is quoted.
fn line(indent: usize, key: &str, value: &Value) -> Result<String, String> {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let key = if plain {
        key.to_owned()
    } else {
        serde_json::to_string(key).map_err(|e| e.to_string())?
    };
    let value = serde_json::to_string(value).map_err(|e| e.to_string())?;
    Ok(format!("{}{key}: {value}", " ".repeat(indent)))
}

/// The edited lines, ending with a newline as the original did.
fn joined(lines: Vec<String>, original: &str) -> String {
    let mut text = lines.join("\n");
    if original.ends_with('\n') || original.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const FILE: &str = "\
# Chronicle's plugins
plugins:
  email_summarizer:
    enabled: false   # turned on later
    events:
    - conversation.complete
    smtp_host: ${SMTP_HOST}
    recipients:
      - ana@example.com

  # Home Assistant
  homeassistant:
    enabled: true
";

    fn set(text: &str, plugin: &str, changes: Value) -> Result<String, String> {
        let changes: Vec<(String, Value)> = changes
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        set_plugin_keys(text, plugin, &changes)
    }

    #[test]
    fn changed_keys_are_rewritten_and_everything_else_is_kept() {
        let edited = set(
            FILE,
            "email_summarizer",
            json!({"enabled": true, "recipients": ["bo@example.com"], "subject_prefix": "Daily"}),
        )
        .unwrap();
        assert_eq!(
            edited,
            "\
# Chronicle's plugins
plugins:
  email_summarizer:
    enabled: true
    events:
    - conversation.complete
    smtp_host: ${SMTP_HOST}
    recipients: [\"bo@example.com\"]
    subject_prefix: \"Daily\"

  # Home Assistant
  homeassistant:
    enabled: true
"
        );
        let edited = set(&edited, "email_summarizer", json!({"events": []})).unwrap();
        assert!(edited.contains("    events: []\n    smtp_host"), "{edited}");
        assert!(yaml::parse(&edited).is_ok());
    }

    #[test]
    fn a_plugin_without_an_entry_gets_one() {
        let edited = set(FILE, "webhook", json!({"enabled": true})).unwrap();
        assert!(
            edited
                .ends_with("  homeassistant:\n    enabled: true\n  webhook:\n    enabled: true\n"),
            "{edited}"
        );
        let empty = set("plugins: {}\n", "webhook", json!({"enabled": false})).unwrap();
        assert_eq!(empty, "plugins:\n  webhook:\n    enabled: false\n");
    }

    #[test]
    fn what_cannot_be_edited_by_lines_is_refused_saying_where_to_go() {
        let flow = "plugins:\n  email: {enabled: true}\n";
        let error = set(flow, "email", json!({"enabled": false})).unwrap_err();
        assert!(error.contains("raw editor"), "{error}");
        let error = set("plugins: [\n", "email", json!({})).unwrap_err();
        assert!(error.contains("syntax error at line"), "{error}");
    }
}
