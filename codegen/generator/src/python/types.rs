//! Pydantic models from OpenAPI v3 schemas: objects become classes, everything else a builtin.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

/// Python keywords (and soft keywords) that cannot be attribute names as they are.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case", "type",
];

/// Attributes of pydantic's `BaseModel` a field must not shadow.
const RESERVED: &[&str] = &[
    "copy",
    "dict",
    "json",
    "schema",
    "schema_json",
    "construct",
    "validate",
    "parse_obj",
    "parse_raw",
    "parse_file",
    "from_orm",
    "update_forward_refs",
    "fields",
];

/// Renders the classes of one `model.py`: each top-level schema and the classes nested in it,
/// every class after the classes it uses.
#[derive(Debug, Default)]
pub(crate) struct ModelWriter {
    out: String,
    used: BTreeSet<String>,
    /// Whether `Any` / `Field` appear, for the imports.
    pub(crate) uses_any: bool,
    pub(crate) uses_field: bool,
}

impl ModelWriter {
    /// Emit the class `name` for `schema`, documented by the schema's description or `doc`.
    pub(crate) fn top_level(&mut self, name: &str, doc: &str, schema: &Value) {
        self.used.insert(name.to_owned());
        self.class(name, doc, schema);
    }

    /// The rendered classes.
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

    fn class(&mut self, name: &str, doc: &str, schema: &Value) {
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
        // Field types first: nested classes are rendered before the class that uses them.
        let mut fields = Vec::new();
        let mut nested = Vec::new();
        for (key, property) in properties {
            let ty = self.type_of(format!("{name}{}", pascal_case(key)), property, &mut nested);
            fields.push((key, property, ty, required.contains(key.as_str())));
        }
        for (nested_name, nested_schema) in nested {
            self.class(&nested_name, &format!("`{nested_name}`."), &nested_schema);
        }

        let _ = writeln!(self.out, "\n\nclass {name}(Model):");
        docstring(&mut self.out, description(schema).unwrap_or(doc), "    ");
        // Required fields first: Python wants fields without a default before the others.
        fields.sort_by_key(|(_, _, _, required)| !required);
        for (key, property, ty, required) in fields {
            let attribute = attribute_name(key);
            let aliased = camel_case(&attribute) != *key;
            let default = match (required, aliased) {
                (true, false) => String::new(),
                (false, false) => " = None".to_owned(),
                (true, true) => {
                    self.uses_field = true;
                    format!(" = Field(validation_alias={key:?}, serialization_alias={key:?})")
                }
                (false, true) => {
                    self.uses_field = true;
                    format!(
                        " = Field(default=None, validation_alias={key:?}, serialization_alias={key:?})"
                    )
                }
            };
            let ty = if required { ty } else { format!("{ty} | None") };
            let _ = writeln!(self.out, "\n    {attribute}: {ty}{default}");
            if let Some(text) = description(property) {
                docstring(&mut self.out, text, "    ");
            }
        }
    }

    fn type_of(
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
            return "int | str".to_owned();
        }
        if has_properties(schema) {
            let name = self.unique(base);
            nested.push((name.clone(), schema.clone()));
            return name;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => "str".to_owned(),
            Some("integer") => "int".to_owned(),
            Some("number") => "float".to_owned(),
            Some("boolean") => "bool".to_owned(),
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                format!(
                    "list[{}]",
                    self.type_of(format!("{base}Item"), &items, nested)
                )
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(additional) if additional.is_object() => format!(
                    "dict[str, {}]",
                    self.type_of(format!("{base}Value"), additional, nested)
                ),
                _ => {
                    self.uses_any = true;
                    "dict[str, Any]".to_owned()
                }
            },
            _ => {
                self.uses_any = true;
                "Any".to_owned()
            }
        }
    }
}

fn description(schema: &Value) -> Option<&str> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

/// Writes `text` as a docstring at `indent`: one line when it fits, else PEP 257's long form.
fn docstring(out: &mut String, text: &str, indent: &str) {
    let text = text
        .trim()
        .replace('\\', "\\\\")
        .replace("\"\"\"", "\\\"\\\"\\\"");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    if lines.len() == 1 && indent.len() + lines[0].len() + 6 <= 100 {
        let _ = writeln!(out, "{indent}\"\"\"{}\"\"\"", lines[0]);
        return;
    }
    let _ = writeln!(out, "{indent}\"\"\"");
    for line in lines {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
    let _ = writeln!(out, "{indent}\"\"\"");
}

fn has_properties(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// The Python attribute for a JSON key: snake_case, with `_` appended to keywords and to names
/// pydantic reserves.
pub(crate) fn attribute_name(key: &str) -> String {
    let name = snake_case(key);
    if KEYWORDS.contains(&name.as_str())
        || RESERVED.contains(&name.as_str())
        || name.starts_with("model_")
    {
        format!("{name}_")
    } else {
        name
    }
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

/// `target_ref` → `targetRef`: what the SDK's `Model` (pydantic's `to_camel`) makes of a field.
fn camel_case(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = !out.is_empty();
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
    fn names() {
        let cases = [
            ("targetRef", "target_ref", "TargetRef"),
            ("max-surge", "max_surge", "MaxSurge"),
            ("URL", "url", "Url"),
            ("from", "from_", "From"),
            ("schema", "schema_", "Schema"),
            ("modelName", "model_name_", "ModelName"),
        ];
        for (key, attribute, pascal) in cases {
            assert_eq!(attribute_name(key), attribute, "{key}");
            assert_eq!(pascal_case(key), pascal, "{key}");
        }
        assert_eq!(camel_case("fail_first"), "failFirst");
    }

    #[test]
    fn classes_from_schema() {
        let schema = json!({
            "type": "object",
            "description": "The spec.",
            "required": ["targetRef"],
            "properties": {
                "targetRef": {"type": "string", "description": "Name of the target."},
                "weights": {"type": "array", "items": {"type": "integer", "format": "int32"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {"type": "object", "required": ["cpu"], "properties": {"cpu": {"type": "number"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "port": {"x-kubernetes-int-or-string": true},
                "URL": {"type": "boolean"},
            },
        });
        let mut w = ModelWriter::default();
        w.top_level("Spec", "fallback", &schema);
        assert!(w.uses_any && w.uses_field);
        let out = w.finish();
        for want in [
            "class SpecLimits(Model):\n    \"\"\"`SpecLimits`.\"\"\"\n\n    cpu: float\n",
            "class Spec(Model):\n    \"\"\"The spec.\"\"\"\n\n    target_ref: str\n    \"\"\"Name of the target.\"\"\"\n",
            "    weights: list[int] | None = None\n",
            "    labels: dict[str, str] | None = None\n",
            "    limits: SpecLimits | None = None\n",
            "    free: dict[str, Any] | None = None\n",
            "    port: int | str | None = None\n",
            "    url: bool | None = Field(default=None, validation_alias=\"URL\", serialization_alias=\"URL\")\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(out.find("class SpecLimits").unwrap() < out.find("class Spec(").unwrap());

        let mut w = ModelWriter::default();
        w.top_level(
            "StatusInfo",
            "Info.",
            &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        assert_eq!(
            w.finish(),
            "\n\nclass StatusInfo(Model):\n    \"\"\"Info.\"\"\"\n"
        );
    }
}
