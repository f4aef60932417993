//! A flat index of a YAML document's nodes by position, used to name the field a serde error
//! points at (`phases[1].initial`) and to say what was found there.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::position;

/// What sits at an indexed position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// A mapping key (its text).
    Key(String),
    /// A scalar value (its text; `~` for null).
    Scalar(String),
    /// A sequence.
    Sequence,
    /// A mapping.
    Mapping,
}

/// One indexed node.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// Field path of the node (for a key: of its value).
    pub(crate) path: String,
    pub(crate) found: Found,
}

impl Entry {
    fn position(&self) -> (usize, usize) {
        (self.line, self.column)
    }
}

/// Every key and value of a document in document order.
#[derive(Debug)]
pub(crate) struct Index {
    entries: Vec<Entry>,
}

impl Index {
    /// Index `text`, or `None` when it is not well-formed YAML.
    pub(crate) fn build(text: &str) -> Option<Self> {
        let options = serde_saphyr::options! {
            with_snippet: false,
            strict_booleans: true,
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::FirstWins,
        };
        let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options).ok()?;
        let mut entries = Vec::new();
        flatten(&root, String::new(), &mut entries);
        Some(Self { entries })
    }

    /// The outermost node starting exactly at `(line, column)`, else the last node starting
    /// before it.
    pub(crate) fn at(&self, line: usize, column: usize) -> Option<&Entry> {
        let target = (line, column);
        self.entries
            .iter()
            .find(|e| e.position() == target)
            .or_else(|| self.entries.iter().rev().find(|e| e.position() < target))
    }

    /// `(line, column)` of the value at `path` (as the index names paths: `spec.properties.a`,
    /// `phases[0].inputs`).
    pub(crate) fn value_at(&self, path: &str) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .find(|e| e.path == path && !matches!(e.found, Found::Key(_)))
            .map(Entry::position)
    }

    /// The mapping key `key` starting exactly at `(line, column)`.
    pub(crate) fn key_at(&self, line: usize, column: usize, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            e.position() == (line, column) && matches!(&e.found, Found::Key(k) if k == key)
        })
    }

    /// The last mapping key `key` before `(line, column)`.
    pub(crate) fn key_before(&self, line: usize, column: usize, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| {
            e.position() < (line, column) && matches!(&e.found, Found::Key(k) if k == key)
        })
    }
}

fn flatten(node: &Spanned<Node>, path: String, out: &mut Vec<Entry>) {
    let (line, column) = position(&node.referenced);
    let found = match &node.value {
        Node::Scalar(s) => Found::Scalar(s.clone()),
        Node::Sequence(_) => Found::Sequence,
        Node::Mapping(_) => Found::Mapping,
    };
    out.push(Entry {
        line,
        column,
        path: path.clone(),
        found,
    });
    match &node.value {
        Node::Scalar(_) => {}
        Node::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, format!("{path}[{i}]"), out);
            }
        }
        Node::Mapping(pairs) => {
            for (key, value) in pairs {
                let child = if path.is_empty() {
                    key.value.clone()
                } else {
                    format!("{path}.{}", key.value)
                };
                let (line, column) = position(&key.referenced);
                out.push(Entry {
                    line,
                    column,
                    path: child.clone(),
                    found: Found::Key(key.value.clone()),
                });
                flatten(value, child, out);
            }
        }
    }
}

/// A YAML node with positions, only as much as the index needs.
enum Node {
    Scalar(String),
    Sequence(Vec<Spanned<Node>>),
    Mapping(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar("~".to_owned()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Sequence(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut pairs = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let text = match key.value {
                Node::Scalar(s) => s,
                Node::Sequence(_) => "[…]".to_owned(),
                Node::Mapping(_) => "{…}".to_owned(),
            };
            let key = Spanned::new(text, key.referenced, key.defined);
            pairs.push((key, map.next_value()?));
        }
        Ok(Node::Mapping(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_paths() {
        let text = "kind: Foo\nphases:\n  - name: A\n    inputs:\n      - pods\n      - {name: d}\nspec:\n  type: object\n";
        let index = Index::build(text).unwrap();
        let path = |l, c| index.at(l, c).map(|e| e.path.as_str());
        assert_eq!(path(1, 1), Some(""));
        assert_eq!(path(1, 7), Some("kind"));
        assert_eq!(path(3, 5), Some("phases[0]"));
        assert_eq!(index.key_at(3, 5, "name").unwrap().path, "phases[0].name");
        assert_eq!(path(5, 9), Some("phases[0].inputs[0]"));
        assert_eq!(path(6, 9), Some("phases[0].inputs[1]"));
        assert_eq!(path(6, 10), Some("phases[0].inputs[1].name"));
        assert_eq!(path(8, 3), Some("spec"));
        assert_eq!(index.at(8, 3).unwrap().found, Found::Mapping);
        assert_eq!(
            index.at(1, 7).unwrap().found,
            Found::Scalar("Foo".to_owned())
        );
        assert_eq!(index.value_at("spec.type"), Some((8, 9)));
        assert_eq!(index.value_at("phases[0].inputs[1].name"), Some((6, 16)));
        assert_eq!(index.value_at("spec.nothing"), None);
        assert!(Index::build("a: [").is_none());
    }
}
