//! Rust types from OpenAPI v3 schemas: objects become structs, everything else a std type.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

/// Rust keywords that cannot be field names without `r#`.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Renders the items of one `model.rs`: each top-level schema and the structs nested in it.
#[derive(Debug, Default)]
pub(crate) struct TypeWriter {
    out: String,
    used: BTreeSet<String>,
}

impl TypeWriter {
    /// Emit the type `name` for `schema` (a struct for an object with properties, else an
    /// alias), preceded by `doc`.
    pub(crate) fn top_level(&mut self, name: &str, doc: &str, schema: &Value) {
        self.used.insert(name.to_owned());
        if has_properties(schema) {
            self.object(name, doc, schema);
        } else {
            let ty = self.type_of(name, schema);
            self.doc(doc, schema, "");
            let _ = writeln!(self.out, "pub type {name} = {ty};\n");
        }
    }

    /// The rendered items.
    pub(crate) fn finish(self) -> String {
        self.out.trim_end().to_owned() + "\n"
    }

    fn doc(&mut self, fallback: &str, schema: &Value, indent: &str) {
        let text = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or(fallback);
        for line in text.trim().lines() {
            let line = line.trim_end();
            if line.is_empty() {
                let _ = writeln!(self.out, "{indent}///");
            } else {
                let _ = writeln!(self.out, "{indent}/// {line}");
            }
        }
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

    fn object(&mut self, name: &str, doc: &str, schema: &Value) {
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
        // Field types first: nested structs are named and queued before this one is written.
        let mut fields = Vec::new();
        let mut nested = Vec::new();
        for (key, property) in properties {
            let ty = self.nested_type(format!("{name}{}", pascal_case(key)), property, &mut nested);
            let ty = if required.contains(key.as_str()) {
                ty
            } else {
                format!("Option<{ty}>")
            };
            fields.push((key, property, ty));
        }

        let mut body = String::new();
        std::mem::swap(&mut self.out, &mut body);
        self.doc(doc, schema, "");
        let _ = writeln!(
            self.out,
            "#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]\n\
             #[serde(rename_all = \"camelCase\")]\npub struct {name} {{"
        );
        for (key, property, ty) in &fields {
            self.doc(&format!("`{key}`."), property, "    ");
            let field = snake_case(key);
            if camel_case(&field) != **key {
                let _ = writeln!(self.out, "    #[serde(rename = {key:?})]");
            }
            if !required.contains(key.as_str()) {
                let _ = writeln!(
                    self.out,
                    "    #[serde(default, skip_serializing_if = \"Option::is_none\")]"
                );
            }
            let ident = if KEYWORDS.contains(&field.as_str()) {
                format!("r#{field}")
            } else {
                field
            };
            let _ = writeln!(self.out, "    pub {ident}: {ty},");
        }
        let _ = writeln!(self.out, "}}\n");
        std::mem::swap(&mut self.out, &mut body);
        self.out.push_str(&body);
        for (nested_name, nested_schema) in nested {
            self.object(&nested_name, &format!("`{nested_name}`."), &nested_schema);
        }
    }

    fn nested_type(
        &mut self,
        base: String,
        schema: &Value,
        nested: &mut Vec<(String, Value)>,
    ) -> String {
        if has_properties(schema) {
            let name = self.unique(base);
            nested.push((name.clone(), schema.clone()));
            return name;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                format!(
                    "Vec<{}>",
                    self.nested_type(format!("{base}Item"), &items, nested)
                )
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(additional) if additional.is_object() => format!(
                    "BTreeMap<String, {}>",
                    self.nested_type(format!("{base}Value"), additional, nested)
                ),
                _ => "serde_json::Value".to_owned(),
            },
            _ => self.type_of(&base, schema),
        }
    }

    fn type_of(&mut self, base: &str, schema: &Value) -> String {
        if schema
            .get("x-kubernetes-int-or-string")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return "serde_json::Value".to_owned();
        }
        let format = schema.get("format").and_then(Value::as_str);
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => "String".to_owned(),
            Some("integer") if format == Some("int32") => "i32".to_owned(),
            Some("integer") => "i64".to_owned(),
            Some("number") if format == Some("float") => "f32".to_owned(),
            Some("number") => "f64".to_owned(),
            Some("boolean") => "bool".to_owned(),
            Some("array") | Some("object") => {
                let mut nested = Vec::new();
                let ty = self.nested_type(base.to_owned(), schema, &mut nested);
                for (name, s) in nested {
                    self.object(&name, &format!("`{name}`."), &s);
                }
                ty
            }
            _ => "serde_json::Value".to_owned(),
        }
    }
}

fn has_properties(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// `targetRef` → `target_ref`, `max-surge` → `max_surge`, `URL` → `url`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == '.' || c == ' ' || c == '_' {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
        } else if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if !out.is_empty() && !out.ends_with('_') && (prev_lower || (prev_upper && next_lower))
            {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `target_ref` → `targetRef` (serde's `rename_all = "camelCase"`).
fn camel_case(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `targetRef` → `TargetRef`, `Initializing` → `Initializing`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn case_conversions() {
        let cases = [
            ("targetRef", "target_ref", "TargetRef"),
            ("max-surge", "max_surge", "MaxSurge"),
            ("URL", "url", "Url"),
            ("httpURLPath", "http_url_path", "HttpUrlPath"),
            ("RollingBack", "rolling_back", "RollingBack"),
            ("v2", "v2", "V2"),
        ];
        for (input, snake, pascal) in cases {
            assert_eq!(snake_case(input), snake, "{input}");
            assert_eq!(pascal_case(input), pascal, "{input}");
        }
    }

    #[test]
    fn structs_from_schema() {
        let schema = json!({
            "type": "object",
            "required": ["targetRef"],
            "properties": {
                "targetRef": {"type": "string", "description": "Name of the target."},
                "type": {"type": "string"},
                "weights": {"type": "array", "items": {"type": "integer", "format": "int32"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {"type": "object", "required": ["cpu"], "properties": {"cpu": {"type": "number"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "URL": {"type": "boolean"},
            },
        });
        let mut w = TypeWriter::default();
        w.top_level("Spec", "The spec.", &schema);
        let out = w.finish();
        for want in [
            "/// The spec.\n#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]",
            "pub struct Spec {",
            "    /// Name of the target.\n    pub target_ref: String,",
            "    pub r#type: Option<String>,",
            "    pub weights: Option<Vec<i32>>,",
            "    pub labels: Option<BTreeMap<String, String>>,",
            "    pub limits: Option<SpecLimits>,",
            "    pub free: Option<serde_json::Value>,",
            "    #[serde(rename = \"URL\")]",
            "pub struct SpecLimits {\n    /// `cpu`.\n    pub cpu: f64,\n}",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        let mut w = TypeWriter::default();
        w.top_level(
            "StatusInfo",
            "Info.",
            &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        assert_eq!(
            w.finish(),
            "/// Info.\npub type StatusInfo = serde_json::Value;\n"
        );
    }
}
