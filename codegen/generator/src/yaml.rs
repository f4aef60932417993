//! A small block-style YAML writer for generated manifests, with keys in the order given.
//!
//! serde_json's maps are sorted, which would put `spec` before `kind` in every manifest; this
//! writer keeps the conventional order (`apiVersion`, `kind`, `metadata`, …) and quotes a string
//! only when plain YAML would read it as something else.
//!
//! Kept rather than a YAML library's serializer (serde-saphyr's included) because the chart's
//! templates are not YAML until Helm renders them: [`Yaml::Block`] and [`Yaml::With`] write Go
//! template actions (`{{- include … | nindent N }}`, `{{- with … }}`) at the right depth, and
//! [`Yaml::Raw`] writes `{{ … }}` scalars unquoted, which no YAML serializer would emit.

use serde_json::Value;

/// A YAML node whose mappings keep insertion order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Yaml {
    /// A mapping, in the order written.
    Map(Vec<(String, Yaml)>),
    /// A sequence.
    Seq(Vec<Yaml>),
    /// A string scalar.
    Str(String),
    /// Any other scalar, written as JSON writes it (numbers, booleans, null).
    Raw(String),
    /// A Helm expression yielding a YAML block (e.g. `include "x.labels" .` or
    /// `toYaml .Values.resources`), written after its key as
    /// `key: {{- EXPR | nindent N }}` at the key's nesting depth.
    Block(String),
    /// A Helm value written only when set: as a mapping entry, the key and the value's YAML
    /// inside `{{- with PATH }}` … `{{- end }}` (the value is a `.Values` path).
    With(String),
}

impl Yaml {
    /// An empty mapping, to be filled with [`Yaml::with`].
    pub(crate) fn map() -> Self {
        Self::Map(Vec::new())
    }

    /// This mapping with `key: value` appended.
    pub(crate) fn with(mut self, key: &str, value: impl Into<Yaml>) -> Self {
        if let Self::Map(entries) = &mut self {
            entries.push((key.to_owned(), value.into()));
        }
        self
    }

    /// A sequence of strings.
    pub(crate) fn strs<'a>(items: impl IntoIterator<Item = &'a str>) -> Self {
        Self::Seq(items.into_iter().map(Yaml::from).collect())
    }

    /// The document text, ending in a newline.
    pub(crate) fn to_document(&self) -> String {
        let mut out = String::new();
        match self {
            Self::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0),
            Self::Seq(items) if !items.is_empty() => write_seq(&mut out, items, 0),
            scalar => {
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
        out
    }
}

impl From<&str> for Yaml {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Yaml {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<bool> for Yaml {
    fn from(b: bool) -> Self {
        Self::Raw(b.to_string())
    }
}

impl From<i64> for Yaml {
    fn from(n: i64) -> Self {
        Self::Raw(n.to_string())
    }
}

impl From<&Value> for Yaml {
    /// JSON objects become mappings with sorted keys (serde_json's order).
    fn from(value: &Value) -> Self {
        match value {
            Value::Object(map) => Self::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Yaml::from(v)))
                    .collect(),
            ),
            Value::Array(items) => Self::Seq(items.iter().map(Yaml::from).collect()),
            Value::String(s) => Self::Str(s.clone()),
            other => Self::Raw(other.to_string()),
        }
    }
}

fn indent(out: &mut String, level: usize) {
    out.extend(std::iter::repeat_n("  ", level));
}

fn is_block(node: &Yaml) -> bool {
    match node {
        Yaml::Map(entries) => !entries.is_empty(),
        Yaml::Seq(items) => !items.is_empty(),
        _ => false,
    }
}

fn write_map(out: &mut String, entries: &[(String, Yaml)], level: usize) {
    for (key, value) in entries {
        if let Yaml::With(path) = value {
            indent(out, level);
            out.push_str(&format!("{{{{- with {path} }}}}\n"));
            indent(out, level);
            out.push_str(&format!(
                "{}: {{{{- toYaml . | nindent {} }}}}\n",
                scalar_str(key),
                (level + 1) * 2
            ));
            indent(out, level);
            out.push_str("{{- end }}\n");
            continue;
        }
        indent(out, level);
        out.push_str(&scalar_str(key));
        out.push(':');
        write_value(out, value, level + 1);
    }
}

fn write_seq(out: &mut String, items: &[Yaml], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        match item {
            Yaml::Map(entries) if !entries.is_empty() => {
                // The first key shares the dash's line; the rest align under it.
                out.push(' ');
                let mut first = String::new();
                write_map(&mut first, &entries[..1], level + 1);
                out.push_str(first.trim_start());
                write_map(out, &entries[1..], level + 1);
            }
            other => write_value(out, other, level + 1),
        }
    }
}

/// Write what follows `key:` or `-`: a nested block on the next lines, else ` scalar`.
fn write_value(out: &mut String, value: &Yaml, level: usize) {
    if is_block(value) {
        out.push('\n');
        match value {
            Yaml::Map(entries) => write_map(out, entries, level),
            Yaml::Seq(items) => write_seq(out, items, level),
            _ => {}
        }
    } else if let Yaml::Block(expr) = value {
        out.push_str(&format!(" {{{{- {expr} | nindent {} }}}}\n", level * 2));
    } else {
        out.push(' ');
        out.push_str(&inline(value));
        out.push('\n');
    }
}

fn inline(node: &Yaml) -> String {
    match node {
        Yaml::Map(_) => "{}".to_owned(),
        Yaml::Seq(_) => "[]".to_owned(),
        Yaml::Str(s) => scalar_str(s),
        Yaml::Raw(s) => s.clone(),
        Yaml::Block(expr) | Yaml::With(expr) => format!("{{{{ {expr} }}}}"),
    }
}

/// A string as a plain scalar when YAML reads it back as the same string, else double-quoted
/// (JSON's escapes are valid YAML).
fn scalar_str(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        Value::String(s.to_owned()).to_string()
    }
}

fn is_plain_safe(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if RESERVED.contains(&s.to_ascii_lowercase().as_str())
        || !(first.is_ascii_alphabetic() || first == '/' || first == '_')
    {
        return false;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_blocks_and_optional_entries_take_their_depth() {
        let doc = Yaml::map().with(
            "metadata",
            Yaml::map()
                .with("annotations", Yaml::With(".Values.podAnnotations".into()))
                .with("labels", Yaml::Block("include \"x.labels\" .".into())),
        );
        assert_eq!(
            doc.to_document(),
            "metadata:\n  {{- with .Values.podAnnotations }}\n  annotations: {{- toYaml . | nindent 4 }}\n  {{- end }}\n  labels: {{- include \"x.labels\" . | nindent 4 }}\n"
        );
    }

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        let cases = [
            ("name", "name"),
            ("apps/v1", "apps/v1"),
            (".status.phase", "\".status.phase\""),
            ("true", "\"true\""),
            ("10", "\"10\""),
            ("", "\"\""),
            ("a b", "\"a b\""),
            ("x: y", "\"x: y\""),
        ];
        for (input, want) in cases {
            assert_eq!(scalar_str(input), want, "{input}");
        }
    }

    #[test]
    fn nested_blocks() {
        let doc = Yaml::map()
            .with("kind", "List")
            .with(
                "items",
                Yaml::Seq(vec![
                    Yaml::map()
                        .with("a", 1_i64)
                        .with("b", Yaml::strs(["x", "z"])),
                    Yaml::map(),
                ]),
            )
            .with("empty", Yaml::Seq(vec![]));
        assert_eq!(
            doc.to_document(),
            "kind: List\nitems:\n  - a: 1\n    b:\n      - x\n      - z\n  - {}\nempty: []\n"
        );
    }
}
