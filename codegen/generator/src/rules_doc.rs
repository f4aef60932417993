//! The CEL validation rules of a schema, written into its descriptions so that every language's
//! typed model documents what the API server will refuse.

use autopilot_model::validation_rules::{self, ValidationRule};
use serde_json::Value;

/// Width at which a rule's text is wrapped: with the deepest indentation of a generated model
/// and its comment marker, a line stays within the 100 columns every language's linter allows.
const WIDTH: usize = 80;

/// `schema` with the validation rules of each node (its own, its properties', items' and
/// additional properties') appended to that node's `description`. A node with rules and no
/// description gets `root_doc` first when it is the root, so a type's usual first sentence
/// stays.
pub(crate) fn documented(schema: &Value, root_doc: Option<&str>) -> Value {
    let mut out = schema.clone();
    document(&mut out, root_doc);
    out
}

fn document(node: &mut Value, lead: Option<&str>) {
    let Value::Object(map) = node else {
        return;
    };
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for child in properties.values_mut() {
            document(child, None);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            document(child, None);
        }
    }
    let rules = validation_rules::of(&Value::Object(map.clone()));
    if rules.is_empty() {
        return;
    }
    let description = map
        .get("description")
        .and_then(Value::as_str)
        .map(str::trim)
        .or(lead)
        .map(str::to_owned);
    let mut text = description.map(|d| d + "\n\n").unwrap_or_default();
    text.push_str("Checked by the API server when a resource is written:");
    for rule in &rules {
        text.push('\n');
        text.push_str(&wrap(&line(rule)));
    }
    map.insert("description".to_owned(), Value::String(text));
}

/// One rule as a sentence: the expression, then what the API server answers when it is false.
fn line(rule: &ValidationRule) -> String {
    let expression = rule.rule.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut text = format!("`{expression}`");
    if let Some(path) = &rule.field_path {
        text.push_str(&format!(" (reported at {path})"));
    }
    match (&rule.message, &rule.message_expression) {
        (_, Some(expression)) => {
            let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
            text.push_str(&format!(", else the message of `{expression}`"));
        }
        (Some(message), None) => text.push_str(&format!(", else \"{}\"", message.trim())),
        (None, None) => {}
    }
    text.push('.');
    text
}

/// `text` broken at spaces into lines of at most [`WIDTH`] characters (a longer word keeps
/// its own line).
fn wrap(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(last) if last.len() + 1 + word.len() <= WIDTH => {
                last.push(' ');
                last.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_join_the_descriptions() {
        let schema = json!({
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"},
            ],
            "properties": {
                "min": {"type": "integer"},
                "max": {
                    "type": "integer",
                    "description": "Upper bound.",
                    "x-kubernetes-validations": [
                        {"rule": "self >= 0", "messageExpression": "'max is ' + string(self)", "fieldPath": ".x"},
                        {"rule": "self < 1000 && self != 13 && self != 42 && self != 99 && self != 7 && self != 77"},
                    ],
                },
            },
        });
        let out = documented(&schema, Some("The spec."));
        assert_eq!(
            out["description"],
            "The spec.\n\nChecked by the API server when a resource is written:\n\
             `self.min <= self.max`, else \"min must not exceed max\"."
        );
        assert_eq!(
            out["properties"]["max"]["description"],
            "Upper bound.\n\nChecked by the API server when a resource is written:\n\
             `self >= 0` (reported at .x), else the message of `'max is ' + string(self)`.\n\
             `self < 1000 && self != 13 && self != 42 && self != 99 && self != 7 && self !=\n\
             77`."
        );
        assert_eq!(out["properties"]["min"].get("description"), None);
        assert_eq!(
            documented(&json!({"type": "object"}), Some("x")),
            json!({"type": "object"})
        );
    }
}
