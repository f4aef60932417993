//! TypeScript types from OpenAPI v3 schemas: objects become interfaces, everything else a type.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use super::pascal_case;

/// Renders the declarations of one `model.ts`: each top-level schema and the interfaces nested
/// in it.
#[derive(Debug, Default)]
pub(crate) struct TypeWriter {
    out: String,
    used: BTreeSet<String>,
}

impl TypeWriter {
    /// Emit the type `name` for `schema` (an interface for an object with properties, else an
    /// alias), preceded by `doc`.
    pub(crate) fn top_level(&mut self, name: &str, doc: &str, schema: &Value) {
        self.used.insert(name.to_owned());
        if has_properties(schema) {
            self.interface(name, doc, schema);
        } else {
            let mut nested = Vec::new();
            let ty = self.type_of(name, schema, &mut nested);
            let mut item = String::new();
            doc_comment(&mut item, doc, schema, "");
            let _ = writeln!(item, "export type {name} = {ty};\n");
            self.out.push_str(&item);
            self.nested(nested);
        }
    }

    /// The rendered declarations.
    pub(crate) fn finish(self) -> String {
        self.out.trim_end().to_owned() + "\n"
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

    fn interface(&mut self, name: &str, doc: &str, schema: &Value) {
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
        let mut nested = Vec::new();
        let mut item = String::new();
        doc_comment(&mut item, doc, schema, "");
        let _ = writeln!(item, "export interface {name} {{");
        for (key, property) in properties {
            let ty = self.type_of(
                &format!("{name}{}", pascal_case(key)),
                property,
                &mut nested,
            );
            doc_comment(&mut item, "", property, "  ");
            let optional = if required.contains(key.as_str()) {
                ""
            } else {
                "?"
            };
            let _ = writeln!(item, "  {}{optional}: {ty};", property_name(key));
        }
        let _ = writeln!(item, "}}\n");
        self.out.push_str(&item);
        self.nested(nested);
    }

    fn nested(&mut self, nested: Vec<(String, Value)>) {
        for (name, schema) in nested {
            self.interface(&name, "", &schema);
        }
    }

    /// The type of `schema`; objects with properties are named from `base` and queued.
    fn type_of(&mut self, base: &str, schema: &Value, nested: &mut Vec<(String, Value)>) -> String {
        if has_properties(schema) {
            let name = self.unique(base.to_owned());
            nested.push((name.clone(), schema.clone()));
            return name;
        }
        if schema
            .get("x-kubernetes-int-or-string")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return "number | string".to_owned();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let literals: Vec<String> = values
                .iter()
                .filter(|v| v.is_string() || v.is_number() || v.is_boolean())
                .map(Value::to_string)
                .collect();
            if !literals.is_empty() && literals.len() == values.len() {
                return literals.join(" | ");
            }
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => "string".to_owned(),
            Some("integer" | "number") => "number".to_owned(),
            Some("boolean") => "boolean".to_owned(),
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                let item = self.type_of(&format!("{base}Item"), &items, nested);
                if item.contains(' ') {
                    format!("Array<{item}>")
                } else {
                    format!("{item}[]")
                }
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(additional) if additional.is_object() => format!(
                    "Record<string, {}>",
                    self.type_of(&format!("{base}Value"), additional, nested)
                ),
                _ => "Record<string, unknown>".to_owned(),
            },
            _ => "unknown".to_owned(),
        }
    }
}

fn has_properties(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// A TSDoc comment from the schema's description, else `fallback` (nothing when empty).
fn doc_comment(out: &mut String, fallback: &str, schema: &Value, indent: &str) {
    let text = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or(fallback)
        .trim();
    if text.is_empty() {
        return;
    }
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    if let [line] = lines.as_slice() {
        let _ = writeln!(out, "{indent}/** {} */", line.replace("*/", "*\\/"));
        return;
    }
    let _ = writeln!(out, "{indent}/**");
    for line in lines {
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {}", line.replace("*/", "*\\/"));
        }
    }
    let _ = writeln!(out, "{indent} */");
}

/// A property key as written in an interface: bare when it is an identifier, else quoted.
pub(crate) fn property_name(key: &str) -> String {
    let identifier = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interfaces_from_schema() {
        let schema = json!({
            "type": "object",
            "required": ["targetRef"],
            "properties": {
                "targetRef": {"type": "string", "description": "Name of the target."},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "weights": {"type": "array", "items": {"type": "integer", "format": "int32"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {"type": "object", "required": ["cpu"], "properties": {"cpu": {"type": "number"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "port": {"x-kubernetes-int-or-string": true},
                "max-surge": {"type": "boolean"},
            },
        });
        let mut w = TypeWriter::default();
        w.top_level("Spec", "The spec.", &schema);
        let out = w.finish();
        for want in [
            "/** The spec. */\nexport interface Spec {",
            "  /** Name of the target. */\n  targetRef: string;",
            "  mode?: \"fast\" | \"slow\";",
            "  weights?: number[];",
            "  labels?: Record<string, string>;",
            "  limits?: SpecLimits;",
            "  free?: Record<string, unknown>;",
            "  port?: number | string;",
            "  \"max-surge\"?: boolean;",
            "export interface SpecLimits {\n  cpu: number;\n}",
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
            "/** Info. */\nexport type StatusInfo = Record<string, unknown>;\n"
        );
    }

    #[test]
    fn arrays_of_objects_name_their_items() {
        let schema = json!({"type": "object", "properties": {
            "steps": {"type": "array", "items": {"type": "object", "properties": {"weight": {"type": "integer"}}}},
        }});
        let mut w = TypeWriter::default();
        w.top_level("Spec", "", &schema);
        let out = w.finish();
        assert!(out.contains("  steps?: SpecStepsItem[];"), "{out}");
        assert!(
            out.contains("export interface SpecStepsItem {\n  weight?: number;\n}"),
            "{out}"
        );
    }
}
