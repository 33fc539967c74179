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

/// Parses the first document of `text`. An empty document is [`NodeKind::Null`].
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = TreeBuilder {
        parser: Parser::new_from_str(text),
        anchors: Vec::new(),
    };
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart | Event::DocumentStart(..) => continue,
            Event::StreamEnd | Event::DocumentEnd => {
                return Ok(Node {
                    pos: pos(&span),
                    kind: NodeKind::Null,
                    inline: true,
                });
            }
            event => return builder.node(event, span),
        }
    }
}

struct TreeBuilder<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    /// Anchored nodes by anchor id, for aliases.
    anchors: Vec<(usize, Node)>,
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

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, SyntaxError> {
        let at = pos(&span);
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
                    items.push(self.node(event, span)?);
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
            Event::MappingStart(_, anchor, _) => (self.mapping(at)?, anchor),
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(anchor, _)| *anchor == id)
                    .map(|(_, node)| node.clone())
                    .ok_or_else(|| SyntaxError {
                        pos: at,
                        message: "alias to an unknown anchor".into(),
                    })?;
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
            self.anchors.push((anchor, node.clone()));
        }
        Ok(node)
    }

    fn mapping(&mut self, at: Pos) -> Result<Node, SyntaxError> {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key_node = self.node(event, span)?;
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
            let value = self.node(event, span)?;
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
