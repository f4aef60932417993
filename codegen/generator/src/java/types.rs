//! Java records from OpenAPI v3 schemas: objects become records, everything else a JDK type.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use crate::rust::snake_case;

/// Java's reserved words and literals, which cannot be record components.
const KEYWORDS: &[&str] = &[
    "abstract",
    "assert",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "final",
    "finally",
    "float",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "int",
    "interface",
    "long",
    "native",
    "new",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "try",
    "void",
    "volatile",
    "while",
    "true",
    "false",
    "null",
    "var",
    "record",
    "yield",
    "sealed",
    "permits",
];

/// One top-level record and the records nested in it, rendered as the body of one `.java` file.
#[derive(Debug, Default)]
pub(crate) struct RecordWriter {
    /// Records nested in the top-level one, in order of discovery.
    nested: Vec<String>,
    used: BTreeSet<String>,
    /// Imports the rendered code needs.
    pub(crate) imports: BTreeSet<&'static str>,
}

impl RecordWriter {
    /// The record `name` for `schema` (which must have properties), with `doc` as its javadoc.
    pub(crate) fn top_level(
        mut self,
        name: &str,
        doc: &str,
        schema: &Value,
    ) -> (String, BTreeSet<&'static str>) {
        self.used.insert(name.to_owned());
        let mut out = self.record(name, doc, schema, "");
        let nested = std::mem::take(&mut self.nested);
        if nested.is_empty() {
            out.push_str(" {}\n");
        } else {
            out.push_str(" {\n");
            for record in nested {
                out.push('\n');
                out.push_str(&record);
            }
            out.push_str("}\n");
        }
        (out, self.imports)
    }

    fn record(&mut self, name: &str, doc: &str, schema: &Value, indent: &str) -> String {
        let required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let empty = serde_json::Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut components = Vec::new();
        for (key, property) in properties {
            let required = required.contains(key.as_str());
            let ty = self.type_of(&pascal_case(key), property, required);
            components.push((key, property, ty));
        }

        let mut out = String::new();
        let _ = writeln!(out, "{indent}/**");
        javadoc_lines(&mut out, indent, description(schema).unwrap_or(doc));
        if !components.is_empty() {
            let _ = writeln!(out, "{indent} *");
        }
        for (key, property, _) in &components {
            let text = description(property).map_or_else(|| format!("`{key}`."), str::to_owned);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(
                out,
                "{indent} * @param {} {}",
                identifier(key),
                escape(&text)
            );
        }
        let _ = writeln!(out, "{indent} */");
        self.imports
            .insert("com.fasterxml.jackson.annotation.JsonInclude");
        let _ = writeln!(out, "{indent}@JsonInclude(JsonInclude.Include.NON_NULL)");
        let _ = write!(out, "{indent}public record {name}(");
        for (i, (key, _, ty)) in components.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            let ident = identifier(key);
            let _ = write!(out, "{indent}    ");
            if ident != **key {
                self.imports
                    .insert("com.fasterxml.jackson.annotation.JsonProperty");
                let _ = write!(out, "@JsonProperty({key:?}) ");
            }
            let _ = write!(out, "{ty} {ident}");
        }
        out.push(')');
        out
    }

    fn unique(&mut self, name: String) -> String {
        let mut candidate = name.clone();
        let mut n = 2;
        while !self.used.insert(candidate.clone()) {
            candidate = format!("{name}{n}");
            n += 1;
        }
        candidate
    }

    /// The Java type of a property: primitives when required, boxed when optional.
    fn type_of(&mut self, base: &str, schema: &Value, required: bool) -> String {
        if schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty())
        {
            let name = self.unique(base.to_owned());
            let fallback = format!("`{name}`.");
            let mut record = self.record(&name, &fallback, schema, "  ");
            record.push_str(" {}\n");
            self.nested.push(record);
            return name;
        }
        if schema
            .get("x-kubernetes-int-or-string")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return self.json_node();
        }
        let format = schema.get("format").and_then(Value::as_str);
        let (primitive, boxed) = match schema.get("type").and_then(Value::as_str) {
            Some("string") => return "String".to_owned(),
            Some("integer") if format == Some("int32") => ("int", "Integer"),
            Some("integer") => ("long", "Long"),
            Some("number") if format == Some("float") => ("float", "Float"),
            Some("number") => ("double", "Double"),
            Some("boolean") => ("boolean", "Boolean"),
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                let item = self.type_of(&format!("{base}Item"), &items, false);
                self.imports.insert("java.util.List");
                return format!("List<{item}>");
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(additional) if additional.is_object() => {
                    let value = self.type_of(&format!("{base}Value"), additional, false);
                    self.imports.insert("java.util.Map");
                    return format!("Map<String, {value}>");
                }
                _ => return self.json_node(),
            },
            _ => return self.json_node(),
        };
        if required { primitive } else { boxed }.to_owned()
    }

    fn json_node(&mut self) -> String {
        self.imports
            .insert("com.fasterxml.jackson.databind.JsonNode");
        "JsonNode".to_owned()
    }
}

fn description(schema: &Value) -> Option<&str> {
    schema.get("description").and_then(Value::as_str)
}

/// Writes `text` as javadoc lines (` * ...`), blank lines kept as paragraph breaks.
fn javadoc_lines(out: &mut String, indent: &str, text: &str) {
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {}", escape(line));
        }
    }
}

/// Text that cannot end a javadoc comment or start a tag.
pub(crate) fn escape(text: &str) -> String {
    text.replace("*/", "*&#47;").replace('@', "{@literal @}")
}

/// `targetRef` → `TargetRef`, `max-surge` → `MaxSurge`: a Java type name.
pub(crate) fn pascal_case(name: &str) -> String {
    snake_case(name)
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut cs = s.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `targetRef` → `targetRef`, `max-surge` → `maxSurge`, `URL` → `url`, `class` → `class_`.
pub(crate) fn identifier(key: &str) -> String {
    let pascal = pascal_case(key);
    let mut chars = pascal.chars();
    let mut ident = chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_else(|| "value".to_owned());
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if KEYWORDS.contains(&ident.as_str()) {
        ident.push('_');
    }
    ident
}

/// A Java package segment: `canary-example` → `canary_example`, `1x` → `_1x`.
pub(crate) fn package_segment(segment: &str) -> String {
    let mut out = snake_case(&segment.to_ascii_lowercase());
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers() {
        for (key, want) in [
            ("targetRef", "targetRef"),
            ("max-surge", "maxSurge"),
            ("URL", "url"),
            ("class", "class_"),
            ("2fa", "_2fa"),
        ] {
            assert_eq!(identifier(key), want, "{key}");
        }
        assert_eq!(package_segment("my-app"), "my_app");
        assert_eq!(package_segment("int"), "int_");
    }

    #[test]
    fn records_from_schema() {
        let schema = json!({
            "type": "object",
            "required": ["targetRef", "replicas"],
            "properties": {
                "targetRef": {"type": "string", "description": "Name of the target."},
                "replicas": {"type": "integer", "format": "int32"},
                "weights": {"type": "array", "items": {"type": "integer"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {"type": "object", "required": ["cpu"], "properties": {"cpu": {"type": "number"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "URL": {"type": "boolean"},
            },
        });
        let (out, imports) = RecordWriter::default().top_level("Spec", "The spec.", &schema);
        for want in [
            "/**\n * The spec.\n *\n * @param url `URL`.\n",
            " * @param targetRef Name of the target.\n",
            "@JsonInclude(JsonInclude.Include.NON_NULL)\npublic record Spec(\n",
            "    @JsonProperty(\"URL\") Boolean url,\n",
            "    JsonNode free,\n",
            "    Map<String, String> labels,\n",
            "    Limits limits,\n",
            "    int replicas,\n",
            "    String targetRef,\n",
            "    List<Long> weights) {\n",
            "  public record Limits(\n      double cpu) {}\n}\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(imports.contains("java.util.List") && imports.contains("java.util.Map"));
    }
}
