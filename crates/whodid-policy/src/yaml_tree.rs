//! A YAML document as a tree of nodes that remember their line and column.
//!
//! Policy errors must name the line of the offending field, which a serde
//! deserializer cannot tell us. So the policy loader reads YAML (and JSON,
//! which is YAML) through `yaml-rust2`'s event parser into this small tree,
//! and decodes the tree itself. Duplicate keys are kept in order so the
//! loader can warn about them, as the apiserver's strict decoding does.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// A position in the source text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Position {
    fn from_marker(marker: Marker) -> Position {
        Position {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: NodeValue,
    pub(crate) position: Position,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeValue {
    /// `null`, `~` or an empty value.
    Null,
    /// A scalar, with whether it was written plain (unquoted).
    Scalar { text: String, plain: bool },
    /// A sequence.
    Sequence(Vec<Node>),
    /// A mapping, in source order, duplicates included.
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// A short description of the node's type, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Scalar { .. } => "a scalar",
            NodeValue::Sequence(_) => "a list",
            NodeValue::Mapping(_) => "a mapping",
        }
    }
}

/// Why a text is not a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) position: Position,
    pub(crate) message: String,
}

/// The documents of a YAML stream.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, true)
        .map_err(|e: ScanError| SyntaxError {
            position: Position::from_marker(*e.marker()),
            message: e.info().to_owned(),
        })?;
    if let Some(message) = builder.error {
        return Err(message);
    }
    Ok(builder.documents)
}

enum Open {
    Sequence(Vec<Node>, Position, usize),
    Mapping(Vec<(Node, Node)>, Option<Node>, Position, usize),
}

#[derive(Default)]
struct TreeBuilder {
    documents: Vec<Node>,
    stack: Vec<Open>,
    anchors: Vec<(usize, Node)>,
    error: Option<SyntaxError>,
}

impl TreeBuilder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Open::Sequence(items, _, _)) => items.push(node),
            Some(Open::Mapping(entries, pending_key, _, _)) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let position = Position::from_marker(marker);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain;
                let is_null_tag = tag.as_ref().is_some_and(|t| t.suffix == "null");
                let value = if is_null_tag
                    || (plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
                {
                    NodeValue::Null
                } else {
                    NodeValue::Scalar { text, plain }
                };
                self.push_node(Node { value, position }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack
                    .push(Open::Sequence(Vec::new(), position, anchor));
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Open::Mapping(Vec::new(), None, position, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, position, anchor) = match self.stack.pop() {
                    Some(Open::Sequence(items, position, anchor)) => {
                        (NodeValue::Sequence(items), position, anchor)
                    }
                    Some(Open::Mapping(entries, _, position, anchor)) => {
                        (NodeValue::Mapping(entries), position, anchor)
                    }
                    None => return,
                };
                self.push_node(Node { value, position }, anchor);
            }
            Event::Alias(anchor) => {
                let found = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(id, _)| *id == anchor)
                    .map(|(_, node)| node.clone());
                match found {
                    Some(node) => self.push_node(node, 0),
                    None => {
                        self.error.get_or_insert(SyntaxError {
                            position,
                            message: "unknown alias".to_owned(),
                        });
                    }
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap();
        let NodeValue::Mapping(entries) = &docs[0].value else {
            panic!("not a mapping")
        };
        assert_eq!(entries[1].0.position, Position { line: 2, column: 1 });
        let NodeValue::Sequence(items) = &entries[1].1.value else {
            panic!("not a sequence")
        };
        assert_eq!(items[1].position.line, 4);
        assert_eq!(
            items[1].value,
            NodeValue::Scalar {
                text: "y".into(),
                plain: false
            }
        );
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.position.line >= 1, "{err:?}");
    }

    #[test]
    fn json_is_yaml() {
        let docs = parse(r#"{"a": ["x", null]}"#).unwrap();
        assert_eq!(docs.len(), 1);
    }
}
