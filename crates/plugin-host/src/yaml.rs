//! YAML documents as trees that remember where each node was written and how each scalar was
//! quoted.
//!
//! serde-saphyr's parser (granit) supplies the events; this module keeps what typed
//! deserialization drops: positions for every key and value (so every config error can name
//! line and column) and the scalar style (so `${PORT:-587}` written plain becomes a number after
//! expansion, while `"${PIN}"` written quoted stays a string).

use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span};

use crate::diagnostic::Pos;

/// A YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it holds.
    pub kind: NodeKind,
    /// For a scalar: whether its text is written at `pos`, on that one line, so that a column
    /// inside the text is a column of the file. Not so for a scalar spanning lines (a plain
    /// one is folded into one line of text) nor for an alias (its text is at the anchor);
    /// false for collections.
    pub inline: bool,
}

/// The content of a [`Node`].
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string; `plain` is true when it was written without quotes or block markers.
    String {
        /// The text after YAML escape processing.
        text: String,
        /// Written as a plain scalar.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the order written.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key's text.
    pub name: String,
    /// Where it starts.
    pub pos: Pos,
}

/// A syntax error, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What it found.
    pub message: String,
}

impl Node {
    /// The mapping's entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A word for the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::String { .. } => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The node as JSON (positions and styles are dropped).
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(x) => Value::from(*x),
            NodeKind::String { text, .. } => Value::String(text.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.name.clone(), value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The largest file read, in bytes: a configuration is a few kilobytes.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// The most nodes a file may expand to, each use of an alias counting its whole anchor: stops
/// alias bombs (a few hundred bytes that expand to billions of nodes) before they grow.
pub const MAX_NODES: usize = 100_000;
/// The deepest nesting of collections (deeper input would exhaust the stack).
pub const MAX_DEPTH: usize = 64;

/// Parses `text`, which must hold one document at most (an empty one is
/// [`NodeKind::Null`]), within [`MAX_INPUT_BYTES`], [`MAX_NODES`] and [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(SyntaxError {
            pos: Pos { line: 1, column: 1 },
            message: format!(
                "the file has {} bytes, more than the {MAX_INPUT_BYTES} a configuration may have",
                text.len()
            ),
        });
    }
    let mut builder = TreeBuilder {
        parser: Parser::new_from_str(text),
        anchors: Vec::new(),
        nodes: 0,
    };
    let mut documents = 0;
    let mut root = None;
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart => {}
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos: pos(&span),
                        message: "a second YAML document (after `---`); the file holds one, and the rest would be ignored".into(),
                    });
                }
            }
            Event::DocumentEnd => {
                root.get_or_insert(Node {
                    pos: pos(&span),
                    kind: NodeKind::Null,
                    inline: true,
                });
            }
            Event::StreamEnd => {
                return Ok(root.unwrap_or(Node {
                    pos: pos(&span),
                    kind: NodeKind::Null,
                    inline: true,
                }));
            }
            event => root = Some(builder.node(event, span, 0)?),
        }
    }
}

struct TreeBuilder<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    /// Anchored nodes by anchor id, with how many nodes each holds, for aliases.
    anchors: Vec<(usize, Node, usize)>,
    /// Nodes built so far, aliases counted at their full size.
    nodes: usize,
}

/// How many nodes `node` holds, itself included.
fn size(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Seq(items) => items.iter().map(size).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(_, value)| size(value)).sum(),
        _ => 0,
    }
}

impl<'a> TreeBuilder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), SyntaxError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => Err(SyntaxError {
                pos: Pos {
                    line: error.marker().line(),
                    column: error.marker().col() + 1,
                },
                message: error.info(),
            }),
            None => Err(SyntaxError {
                pos: Pos::default(),
                message: "unexpected end of input".into(),
            }),
        }
    }

    fn count(&mut self, nodes: usize, at: Pos) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                pos: at,
                message: format!(
                    "the file expands to more than {MAX_NODES} values (each use of an alias counts its anchor again)"
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, SyntaxError> {
        let at = pos(&span);
        if depth > MAX_DEPTH {
            return Err(SyntaxError {
                pos: at,
                message: format!("collections nested deeper than {MAX_DEPTH} levels"),
            });
        }
        if !matches!(event, Event::Alias(_)) {
            self.count(1, at)?;
        }
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let kind = if style == ScalarStyle::Plain {
                    resolve_plain(&text)
                } else {
                    NodeKind::String {
                        text: text.into_owned(),
                        plain: false,
                    }
                };
                let inline = span.start.line() == span.end.line();
                (
                    Node {
                        pos: at,
                        kind,
                        inline,
                    },
                    anchor,
                )
            }
            Event::SequenceStart(_, anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                (
                    Node {
                        pos: at,
                        kind: NodeKind::Seq(items),
                        inline: false,
                    },
                    anchor,
                )
            }
            Event::MappingStart(_, anchor, _) => (self.mapping(at, depth)?, anchor),
            Event::Alias(id) => {
                let (index, nodes) = self
                    .anchors
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, (anchor, _, _))| *anchor == id)
                    .map(|(index, (_, _, nodes))| (index, *nodes))
                    .ok_or_else(|| SyntaxError {
                        pos: at,
                        message: "alias to an unknown anchor".into(),
                    })?;
                // Counted before the copy is made, so a bomb stops before it grows.
                self.count(nodes, at)?;
                let node = self.anchors[index].1.clone();
                return Ok(Node {
                    pos: at,
                    inline: false,
                    ..node
                });
            }
            other => {
                return Err(SyntaxError {
                    pos: at,
                    message: format!("unexpected {other:?}"),
                });
            }
        };
        if anchor != 0 {
            let nodes = size(&node);
            self.anchors.push((anchor, node.clone(), nodes));
        }
        Ok(node)
    }

    fn mapping(&mut self, at: Pos, depth: usize) -> Result<Node, SyntaxError> {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key_node = self.node(event, span, depth + 1)?;
            let name = match &key_node.kind {
                NodeKind::String { text, .. } => text.clone(),
                NodeKind::Null => "null".to_owned(),
                NodeKind::Bool(b) => b.to_string(),
                NodeKind::Int(i) => i.to_string(),
                NodeKind::Float(x) => x.to_string(),
                NodeKind::Seq(_) | NodeKind::Map(_) => {
                    return Err(SyntaxError {
                        pos: key_node.pos,
                        message: "a mapping key must be a scalar".into(),
                    });
                }
            };
            if let Some((first, _)) = entries.iter().find(|(key, _)| key.name == name) {
                return Err(SyntaxError {
                    pos: key_node.pos,
                    message: format!(
                        "duplicate key `{name}` (first written at line {})",
                        first.pos.line
                    ),
                });
            }
            let (event, span) = self.next()?;
            let value = self.node(event, span, depth + 1)?;
            entries.push((
                Key {
                    name,
                    pos: key_node.pos,
                },
                value,
            ));
        }
        Ok(Node {
            pos: at,
            kind: NodeKind::Map(entries),
            inline: false,
        })
    }
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema: null, booleans, integers (decimal,
/// `0x`, `0o`), floats (including `.inf` and `.nan`); anything else is a string.
pub fn resolve_plain(text: &str) -> NodeKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeKind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeKind::Float(f64::NAN),
        _ => {}
    }
    if let Some(int) = resolve_int(text) {
        return NodeKind::Int(int);
    }
    if looks_like_float(text)
        && let Ok(float) = text.parse::<f64>()
    {
        return NodeKind::Float(float);
    }
    NodeKind::String {
        text: text.to_owned(),
        plain: true,
    }
}

fn resolve_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match fraction {
        Some(fraction) => {
            digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty())
        }
        None => !whole.is_empty() && digits(whole),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Nine levels of nine aliases each: about 500 bytes that would expand to 9^9 values.
    fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=levels {
            let previous = format!("*a{}", level - 1);
            let items = [previous.as_str(); 9].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_grows() {
        let error = parse(&alias_bomb(8)).unwrap_err();
        assert!(
            error.message.contains("expands to more than 100000 values"),
            "{error:?}"
        );
        // A few aliases, as configurations use them, are fine.
        let node = parse("base: &b {retries: 3}\nplugin: {settings: *b}\n").unwrap();
        assert_eq!(node.to_json()["plugin"]["settings"]["retries"], 3);
    }

    #[test]
    fn one_document_only_and_bounded_depth_and_size() {
        let error = parse("plugins: {}\n---\nplugins: {a: {}}\n").unwrap_err();
        assert_eq!(error.pos.line, 2, "{error:?}");
        assert!(
            error.message.contains("a second YAML document"),
            "{error:?}"
        );
        assert!(parse("---\nplugins: {}\n...\n").is_ok());
        assert_eq!(parse("").unwrap().kind, NodeKind::Null);

        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let error = parse(&deep).unwrap_err();
        assert!(error.message.contains("nested deeper than 64"), "{error:?}");

        let big = format!("a: \"{}\"\n", "x".repeat(MAX_INPUT_BYTES));
        let error = parse(&big).unwrap_err();
        assert!(error.message.contains("more than the 1048576"), "{error:?}");
    }

    #[test]
    fn plain_scalars_resolve_by_the_core_schema() {
        for (text, expected) in [
            ("587", json!(587)),
            ("-3", json!(-3)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("true", json!(true)),
            ("False", json!(false)),
            ("~", json!(null)),
            ("", json!(null)),
            ("yes", json!("yes")),
            ("1.2.3", json!("1.2.3")),
            ("hello", json!("hello")),
            ("12abc", json!("12abc")),
        ] {
            let node = Node {
                pos: Pos::default(),
                kind: resolve_plain(text),
                inline: true,
            };
            assert_eq!(node.to_json(), expected, "{text:?}");
        }
    }

    #[test]
    fn trees_keep_positions_styles_and_order() {
        let node = parse("plugins:\n  b: 1\n  a: \"2\"\n  c: [x, 'y']\n").unwrap();
        let plugins = &node.as_map().unwrap()[0];
        assert_eq!(plugins.0.name, "plugins");
        let entries = plugins.1.as_map().unwrap();
        let keys: Vec<_> = entries
            .iter()
            .map(|(k, _)| (k.name.as_str(), k.pos.line, k.pos.column))
            .collect();
        assert_eq!(keys, [("b", 2, 3), ("a", 3, 3), ("c", 4, 3)]);
        assert_eq!(
            entries[1].1.kind,
            NodeKind::String {
                text: "2".into(),
                plain: false
            }
        );
        assert_eq!(entries[1].1.pos, Pos { line: 3, column: 6 });
        assert_eq!(entries[2].1.to_json(), json!(["x", "y"]));
    }

    #[test]
    fn aliases_resolve_and_duplicates_and_syntax_errors_are_located() {
        let node = parse("base: &b {x: 1}\nother: *b\n").unwrap();
        assert_eq!(node.to_json(), json!({"base": {"x": 1}, "other": {"x": 1}}));
        let error = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(error.pos, Pos { line: 2, column: 1 });
        assert!(error.message.contains("duplicate key `a`"));
        let error = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(error.pos.line >= 1, "{error:?}");
        assert_eq!(parse("").unwrap().kind, NodeKind::Null);
    }
}
