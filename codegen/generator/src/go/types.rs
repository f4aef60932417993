//! Go types from OpenAPI v3 schemas: objects become structs with json tags, everything else a
//! builtin type.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use crate::rust::snake_case;

/// Words Go writes in one case throughout (`URL`, `ID`), as golint and the standard library do.
const INITIALISMS: &[&str] = &[
    "api", "cpu", "dns", "grpc", "html", "http", "https", "id", "ip", "json", "tcp", "tls", "ttl",
    "udp", "uid", "uri", "url", "uuid", "xml", "yaml",
];

/// Renders the declarations of one `model.go`: each top-level schema and the structs nested in
/// it.
#[derive(Debug, Default)]
pub(crate) struct TypeWriter {
    out: String,
    used: BTreeSet<String>,
}

impl TypeWriter {
    /// Emit the type `name` for `schema` (a struct for an object with properties, else an
    /// alias), preceded by `doc` (which should start with `name`).
    pub(crate) fn top_level(&mut self, name: &str, doc: &str, schema: &Value) {
        self.used.insert(name.to_owned());
        if has_properties(schema) {
            self.object(name, doc, schema);
        } else {
            let mut nested = Vec::new();
            let ty = self.field_type(name.to_owned(), schema, &mut nested);
            self.doc(doc, schema, "");
            let _ = writeln!(self.out, "type {name} = {ty}\n");
            self.nested(nested);
        }
    }

    /// The rendered declarations.
    pub(crate) fn finish(self) -> String {
        self.out.trim_end().to_owned() + "\n"
    }

    fn doc(&mut self, lead: &str, schema: &Value, indent: &str) {
        let description = schema.get("description").and_then(Value::as_str);
        let text = match description {
            Some(d) if !lead.is_empty() => format!("{lead}\n\n{}", d.trim()),
            Some(d) => d.trim().to_owned(),
            None => lead.to_owned(),
        };
        for line in text.trim().lines() {
            let line = line.trim_end();
            if line.is_empty() {
                let _ = writeln!(self.out, "{indent}//");
            } else {
                let _ = writeln!(self.out, "{indent}// {line}");
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
        let mut field_names = BTreeSet::new();
        for (key, property) in properties {
            let ty = self.field_type(format!("{name}{}", go_name(key)), property, &mut nested);
            let is_required = required.contains(key.as_str());
            let ty = if !is_required && needs_pointer(&ty) {
                format!("*{ty}")
            } else {
                ty
            };
            let mut field = go_name(key);
            while !field_names.insert(field.clone()) {
                field.push('_');
            }
            fields.push((key, property, field, ty, is_required));
        }

        self.doc(doc, schema, "");
        let _ = writeln!(self.out, "type {name} struct {{");
        // gofmt aligns the names and types of consecutive fields; a comment or a blank line
        // ends such a run. Every field has a tag, so both columns are always present.
        let mut run: Vec<[String; 3]> = Vec::new();
        for (i, (key, property, field, ty, is_required)) in fields.into_iter().enumerate() {
            if property.get("description").is_some() {
                self.flush(&mut run);
                if i > 0 {
                    self.out.push('\n');
                }
                self.doc("", property, "\t");
            }
            let omit = if is_required { "" } else { ",omitempty" };
            run.push([field, ty, format!("`json:\"{key}{omit}\"`")]);
        }
        self.flush(&mut run);
        let _ = writeln!(self.out, "}}\n");
        self.nested(nested);
    }

    /// Writes a run of consecutive fields with their columns aligned as gofmt does.
    fn flush(&mut self, run: &mut Vec<[String; 3]>) {
        let name_width = run.iter().map(|f| f[0].len()).max().unwrap_or(0);
        let type_width = run.iter().map(|f| f[1].len()).max().unwrap_or(0);
        for [name, ty, tag] in run.drain(..) {
            let _ = writeln!(self.out, "\t{name:name_width$} {ty:type_width$} {tag}");
        }
    }

    fn nested(&mut self, nested: Vec<(String, Value)>) {
        for (nested_name, nested_schema) in nested {
            self.object(
                &nested_name,
                &format!("{nested_name} is a part of the schema."),
                &nested_schema,
            );
        }
    }

    fn field_type(
        &mut self,
        base: String,
        schema: &Value,
        nested: &mut Vec<(String, Value)>,
    ) -> String {
        if schema
            .get("x-kubernetes-int-or-string")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return "any".to_owned();
        }
        if has_properties(schema) {
            let name = self.unique(base);
            nested.push((name.clone(), schema.clone()));
            return name;
        }
        let format = schema.get("format").and_then(Value::as_str);
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => "string".to_owned(),
            Some("integer") if format == Some("int32") => "int32".to_owned(),
            Some("integer") => "int64".to_owned(),
            Some("number") if format == Some("float") => "float32".to_owned(),
            Some("number") => "float64".to_owned(),
            Some("boolean") => "bool".to_owned(),
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                format!(
                    "[]{}",
                    self.field_type(format!("{base}Item"), &items, nested)
                )
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(additional) if additional.is_object() => format!(
                    "map[string]{}",
                    self.field_type(format!("{base}Value"), additional, nested)
                ),
                _ => "map[string]any".to_owned(),
            },
            _ => "any".to_owned(),
        }
    }
}

/// Optional scalars and structs are pointers, so that "absent" differs from the zero value;
/// slices, maps and `any` already have nil.
fn needs_pointer(ty: &str) -> bool {
    !(ty.starts_with("[]") || ty.starts_with("map[") || ty == "any")
}

fn has_properties(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// An exported Go identifier: `targetRef` → `TargetRef`, `httpURLPath` → `HTTPURLPath`,
/// `2xx` → `X2xx`.
pub(crate) fn go_name(name: &str) -> String {
    let mut out: String = snake_case(name)
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|word| {
            if INITIALISMS.contains(&word) {
                word.to_ascii_uppercase()
            } else {
                let mut cs = word.chars();
                cs.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                    .unwrap_or_default()
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'X');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        for (input, want) in [
            ("targetRef", "TargetRef"),
            ("max-surge", "MaxSurge"),
            ("URL", "URL"),
            ("httpURLPath", "HTTPURLPath"),
            ("podId", "PodID"),
            ("RollingBack", "RollingBack"),
            ("2xx", "X2xx"),
        ] {
            assert_eq!(go_name(input), want, "{input}");
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
                "port": {"x-kubernetes-int-or-string": true},
            },
        });
        let mut w = TypeWriter::default();
        w.top_level("Spec", "Spec is the spec.", &schema);
        let out = w.finish();
        for want in [
            "// Spec is the spec.\ntype Spec struct {\n",
            "\tFree   map[string]any    `json:\"free,omitempty\"`\n",
            "\tLabels map[string]string `json:\"labels,omitempty\"`\n",
            "\tLimits *SpecLimits       `json:\"limits,omitempty\"`\n",
            "\tPort   any               `json:\"port,omitempty\"`\n",
            "\n\t// Name of the target.\n\tTargetRef string  `json:\"targetRef\"`\n",
            "\tType      *string `json:\"type,omitempty\"`\n",
            "\tWeights   []int32 `json:\"weights,omitempty\"`\n",
            "type SpecLimits struct {\n\tCPU float64 `json:\"cpu\"`\n}",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        let mut w = TypeWriter::default();
        w.top_level(
            "StatusInfo",
            "StatusInfo is free-form.",
            &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        assert_eq!(
            w.finish(),
            "// StatusInfo is free-form.\ntype StatusInfo = map[string]any\n"
        );
    }
}
