//! Checks of the spec and statusInfo schemas: that `default`, `enum`, `minimum` and `maximum`
//! agree with the `type` they sit beside and that CEL validation rules parse and name declared
//! fields (as the API server will insist when the CRD is applied), and that a template path such as `spec.targetRef` names a field the schema declares.
//!
//! Both are pure functions over the schema as JSON; the file checks turn their findings into
//! located diagnostics.

use serde_json::{Map, Value};

use crate::{names, validation_rules};

/// The OpenAPI v3 types a structural schema may name.
const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];

/// One problem in a schema: where (the YAML path of the offending node below the schema's
/// root, such as `properties.abortPercent.default`) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    /// Path below the schema root, in the file's own names; empty for the root itself.
    pub(crate) path: String,
    /// What is wrong, phrased to follow the field path in a diagnostic.
    pub(crate) message: String,
}

/// Every `type`, `default`, `enum`, `minimum`, `maximum` and validation rule in `schema` (and the schemas nested
/// under `properties`, `items` and `additionalProperties`) that the API server would refuse, or
/// that could never be satisfied.
pub(crate) fn check_values(schema: &Value) -> Vec<Finding> {
    let mut found = Vec::new();
    walk(schema, "", &mut found);
    found
}

fn join(path: &str, child: &str) -> String {
    if path.is_empty() {
        child.to_owned()
    } else {
        format!("{path}.{child}")
    }
}

fn walk(schema: &Value, path: &str, found: &mut Vec<Finding>) {
    let Value::Object(node) = schema else {
        return;
    };
    let mut report = |at: String, message: String| found.push(Finding { path: at, message });
    match node.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::String(t)) => {
            let alias = match t.as_str() {
                "int" | "long" => Some("integer"),
                "bool" => Some("boolean"),
                "float" | "double" => Some("number"),
                "map" | "dict" => Some("object"),
                "list" => Some("array"),
                "str" => Some("string"),
                _ => None,
            };
            let message = match alias {
                Some(a) => format!("unknown schema type `{t}`; did you mean `{a}`?"),
                None => names::unknown("schema type", t, &TYPES),
            };
            report(join(path, "type"), message);
        }
        Some(other) => report(
            join(path, "type"),
            format!(
                "expected one of {}, found {}",
                TYPES.join(", "),
                describe(other)
            ),
        ),
    }
    let kind = Kind::of(node);
    let bounds = Bounds::of(node, path, &mut report);
    if let Some(default) = node.get("default")
        && let Err(why) = conforms(default, schema)
    {
        report(join(path, "default"), format!("default {why}"));
    }
    match node.get("enum") {
        None => {}
        Some(Value::Array(items)) => {
            if items.is_empty() {
                report(
                    join(path, "enum"),
                    "an empty enum allows no value".to_owned(),
                );
            }
            for (i, item) in items.iter().enumerate() {
                if let Some(why) = kind.and_then(|k| k.refuses(item, node)) {
                    report(format!("{}[{i}]", join(path, "enum")), why);
                } else if let Err(why) = bounds.admit(item) {
                    report(format!("{}[{i}]", join(path, "enum")), why);
                }
            }
        }
        Some(other) => report(
            join(path, "enum"),
            format!(
                "expected a list of allowed values, found {}",
                describe(other)
            ),
        ),
    }
    if let Some(rules) = node.get(validation_rules::KEY) {
        validation_rules::check(rules, schema, &join(path, validation_rules::KEY), found);
    }
    if let Some(Value::Object(properties)) = node.get("properties") {
        for (name, child) in properties {
            walk(child, &join(&join(path, "properties"), name), found);
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, &join(path, "items"), found);
    }
    if let Some(extra @ Value::Object(_)) = node.get("additionalProperties") {
        walk(extra, &join(path, "additionalProperties"), found);
    }
}

/// What a schema's `type` (and `x-kubernetes-int-or-string`) allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    IntOrString,
}

impl Kind {
    fn of(node: &Map<String, Value>) -> Option<Self> {
        if node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
            return Some(Self::IntOrString);
        }
        Some(match node.get("type")?.as_str()? {
            "object" => Self::Object,
            "array" => Self::Array,
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Object => "an object",
            Self::Array => "a list",
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
            Self::IntOrString => "an integer or a string",
        }
    }

    /// Why `value` is not of this kind, or `None` when it is.
    fn refuses(self, value: &Value, node: &Map<String, Value>) -> Option<String> {
        let ok = match (self, value) {
            (_, Value::Null) => node.get("nullable") == Some(&Value::Bool(true)),
            (Self::Object, Value::Object(_))
            | (Self::Array, Value::Array(_))
            | (Self::String | Self::IntOrString, Value::String(_))
            | (Self::Number, Value::Number(_))
            | (Self::Boolean, Value::Bool(_)) => true,
            (Self::Integer | Self::IntOrString, Value::Number(n)) => is_integer(n),
            _ => false,
        };
        (!ok).then(|| {
            let schema_type = match self {
                Self::IntOrString => "x-kubernetes-int-or-string".to_owned(),
                _ => format!("type `{}`", node["type"].as_str().unwrap_or_default()),
            };
            format!(
                "must be {} (the schema's {schema_type}), found {}",
                self.name(),
                describe(value)
            )
        })
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// `minimum`/`maximum` of a numeric schema, checked as they are read.
#[derive(Default)]
struct Bounds {
    minimum: Option<(f64, bool)>,
    maximum: Option<(f64, bool)>,
}

impl Bounds {
    fn of(node: &Map<String, Value>, path: &str, report: &mut impl FnMut(String, String)) -> Self {
        let numeric = matches!(
            Kind::of(node),
            Some(Kind::Integer | Kind::Number | Kind::IntOrString) | None
        );
        let mut bound = |key: &str, exclusive: &str| {
            let value = node.get(key)?;
            let Some(n) = value.as_f64() else {
                report(
                    join(path, key),
                    format!("expected a number, found {}", describe(value)),
                );
                return None;
            };
            if !numeric {
                report(
                    join(path, key),
                    format!(
                        "`{key}` applies to numbers only, but the type is `{}`",
                        node["type"].as_str().unwrap_or_default()
                    ),
                );
                return None;
            }
            let exclusive = node.get(exclusive) == Some(&Value::Bool(true));
            Some((n, exclusive))
        };
        let bounds = Self {
            minimum: bound("minimum", "exclusiveMinimum"),
            maximum: bound("maximum", "exclusiveMaximum"),
        };
        if let (Some((lo, lo_x)), Some((hi, hi_x))) = (bounds.minimum, bounds.maximum)
            && (lo > hi || (lo == hi && (lo_x || hi_x)))
        {
            report(
                join(path, "maximum"),
                format!("no value lies between minimum {lo} and maximum {hi}"),
            );
        }
        bounds
    }

    /// Whether a number `value` lies within the bounds (anything else is the type's business).
    fn admit(&self, value: &Value) -> Result<(), String> {
        let Some(n) = value.as_f64() else {
            return Ok(());
        };
        if let Some((lo, exclusive)) = self.minimum
            && (n < lo || (exclusive && n == lo))
        {
            let op = if exclusive {
                "greater than"
            } else {
                "at least"
            };
            return Err(format!("{value} is below the minimum: must be {op} {lo}"));
        }
        if let Some((hi, exclusive)) = self.maximum
            && (n > hi || (exclusive && n == hi))
        {
            let op = if exclusive { "less than" } else { "at most" };
            return Err(format!("{value} is above the maximum: must be {op} {hi}"));
        }
        Ok(())
    }
}

/// Whether `value` satisfies `schema`'s type, nullability, enum, bounds, and (for objects and
/// lists) the schemas of its fields and items. Returns why not, phrased to follow "default".
fn conforms(value: &Value, schema: &Value) -> Result<(), String> {
    let Value::Object(node) = schema else {
        return Ok(());
    };
    if let Some(why) = Kind::of(node).and_then(|k| k.refuses(value, node)) {
        return Err(why);
    }
    if value.is_null() {
        return Ok(());
    }
    if let Some(Value::Array(allowed)) = node.get("enum")
        && !allowed.contains(value)
    {
        let allowed: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(format!(
            "{value} is not one of the enum's values ({})",
            allowed.join(", ")
        ));
    }
    Bounds {
        minimum: node
            .get("minimum")
            .and_then(Value::as_f64)
            .map(|n| (n, node.get("exclusiveMinimum") == Some(&Value::Bool(true)))),
        maximum: node
            .get("maximum")
            .and_then(Value::as_f64)
            .map(|n| (n, node.get("exclusiveMaximum") == Some(&Value::Bool(true)))),
    }
    .admit(value)?;
    match value {
        Value::Object(fields) => {
            let properties = node.get("properties").and_then(Value::as_object);
            let extra = node.get("additionalProperties");
            let preserve =
                node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            for (name, field) in fields {
                match (properties.and_then(|p| p.get(name)), extra) {
                    (Some(child), _) | (None, Some(child @ Value::Object(_))) => {
                        conforms(field, child).map_err(|why| format!("`{name}` {why}"))?;
                    }
                    (None, Some(Value::Bool(true))) => {}
                    (None, _) if preserve => {}
                    (None, _) => {
                        let known: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        return Err(format!(
                            "has a field the schema does not declare: {}",
                            names::unknown("field", name, &known)
                        ));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = node.get("items") {
                for (i, item) in items.iter().enumerate() {
                    conforms(item, item_schema).map_err(|why| format!("item {i} {why}"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A short description of a JSON value for messages: `"ten"` (a string), `1.5` (a number).
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("{b} (a boolean)"),
        Value::Number(n) => format!("{n} (a number)"),
        Value::String(s) => format!("{s:?} (a string)"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// The status the scheduler writes, around the project's statusInfo schema: the fields a
/// template may name under `status.`.
pub(crate) fn status_schema(status_info: &Value) -> Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "phase": {"type": "string"},
            "observedGeneration": {"type": "integer"},
            "attempt": {"type": "integer"},
            "failures": {"type": "integer"},
            "statusInfo": status_info,
            "conditions": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": "string"},
                "status": {"type": "string"},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "lastTransitionTime": {"type": "string"},
                "observedGeneration": {"type": "integer"},
            }}},
            "lastTransitionTime": {"type": "string"},
        },
    })
}

/// Check that `segments` (a template path below `root`, such as `["targetRef"]` below `spec`)
/// lead to a field `schema` declares. A key with dots is matched by trying the longest run of
/// segments first, as the renderer does; a numeric segment indexes a list. Below a schema that
/// keeps unknown fields (or has no `properties` but `additionalProperties`), anything goes.
///
/// # Errors
///
/// Where the path leaves the schema, with the closest declared name when one is near.
pub(crate) fn resolve(schema: &Value, root: &str, segments: &[&str]) -> Result<(), String> {
    let mut node = schema;
    let mut at = root.to_owned();
    let mut rest = segments;
    while !rest.is_empty() {
        let Value::Object(map) = node else {
            return Ok(());
        };
        if map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            return Ok(());
        }
        if let Some(items) = map.get("items") {
            if rest[0].parse::<usize>().is_err() {
                return Err(format!(
                    "`{at}` is a list; index it with a number (`{at}.0`), found `{}`",
                    rest[0]
                ));
            }
            at = format!("{at}.{}", rest[0]);
            node = items;
            rest = &rest[1..];
            continue;
        }
        let properties = map.get("properties").and_then(Value::as_object);
        let found = properties.and_then(|p| {
            (1..=rest.len())
                .rev()
                .find_map(|n| p.get(&rest[..n].join(".")).map(|child| (n, child)))
        });
        match (found, map.get("additionalProperties")) {
            (Some((n, child)), _) => {
                at = format!("{at}.{}", rest[..n].join("."));
                node = child;
                rest = &rest[n..];
            }
            (None, Some(Value::Bool(true))) => return Ok(()),
            (None, Some(extra @ Value::Object(_))) => {
                at = format!("{at}.{}", rest[0]);
                node = extra;
                rest = &rest[1..];
            }
            (None, _) => {
                let known: Vec<&str> = properties
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                if known.is_empty() {
                    return Err(format!(
                        "`{at}` declares no fields in its schema, so `{}` is never set \
                         (the API server prunes undeclared fields)",
                        rest[0]
                    ));
                }
                let hint = match names::closest(rest[0], &known) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("it declares {}", known.join(", ")),
                };
                return Err(format!("`{at}` has no field `{}`; {hint}", rest[0]));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_that_disagree_with_their_type() {
        let cases: &[(Value, &str, &str)] = &[
            (
                json!({"type": "integer", "default": "ten"}),
                "default",
                "default must be an integer (the schema's type `integer`), found \"ten\" (a string)",
            ),
            (
                json!({"type": "integer", "default": 1.5}),
                "default",
                "must be an integer",
            ),
            (
                json!({"type": "string", "default": 3}),
                "default",
                "must be a string",
            ),
            (
                json!({"type": "boolean", "default": "true"}),
                "default",
                "must be a boolean",
            ),
            (
                json!({"type": "string", "default": null}),
                "default",
                "must be a string",
            ),
            (
                json!({"type": "string", "enum": ["a", 2]}),
                "enum[1]",
                "must be a string",
            ),
            (
                json!({"type": "string", "enum": ["a"], "default": "b"}),
                "default",
                "\"b\" is not one of the enum's values (\"a\")",
            ),
            (json!({"type": "string", "enum": []}), "enum", "empty enum"),
            (
                json!({"type": "integer", "minimum": "1"}),
                "minimum",
                "expected a number, found \"1\" (a string)",
            ),
            (
                json!({"type": "string", "maximum": 3}),
                "maximum",
                "`maximum` applies to numbers only, but the type is `string`",
            ),
            (
                json!({"type": "integer", "minimum": 5, "maximum": 1}),
                "maximum",
                "no value lies between minimum 5 and maximum 1",
            ),
            (
                json!({"type": "integer", "minimum": 0, "maximum": 100, "default": 150}),
                "default",
                "150 is above the maximum: must be at most 100",
            ),
            (
                json!({"type": "number", "minimum": 0, "exclusiveMinimum": true, "default": 0}),
                "default",
                "below the minimum: must be greater than 0",
            ),
            (
                json!({"type": "integer", "maximum": 10, "enum": [1, 20]}),
                "enum[1]",
                "20 is above the maximum",
            ),
            (json!({"type": "int"}), "type", "did you mean `integer`?"),
            (json!({"type": "strng"}), "type", "did you mean `string`?"),
            (
                json!({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}}),
                "properties.a.default",
                "must be an integer",
            ),
            (
                json!({"type": "array", "items": {"type": "integer", "default": true}}),
                "items.default",
                "must be an integer",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "integer"}}, "default": {"a": "x"}}),
                "default",
                "default `a` must be an integer",
            ),
            (
                json!({"type": "object", "properties": {"port": {"type": "integer"}}, "default": {"prot": 1}}),
                "default",
                "unknown field `prot`; did you mean `port`?",
            ),
            (
                json!({"type": "array", "items": {"type": "string"}, "default": ["a", 1]}),
                "default",
                "default item 1 must be a string",
            ),
        ];
        for (schema, path, message) in cases {
            let found = check_values(schema);
            assert!(
                found
                    .iter()
                    .any(|f| f.path == *path && f.message.contains(message)),
                "{schema}: want {path} {message:?}, got {found:?}"
            );
        }
    }

    #[test]
    fn values_that_agree_pass() {
        let schema = json!({
            "type": "object",
            "properties": {
                "abortPercent": {"type": "integer", "default": 10, "minimum": 0, "maximum": 100},
                "ratio": {"type": "number", "default": 0.5, "minimum": 0, "maximum": 1},
                "whole": {"type": "number", "default": 2},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "b"},
                "flag": {"type": "boolean", "default": false},
                "port": {"x-kubernetes-int-or-string": true, "default": "http"},
                "maybe": {"type": "string", "nullable": true, "default": null},
                "tags": {"type": "array", "items": {"type": "string"}, "default": ["x"]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "default": {"any": 1}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}, "default": {"a": "b"}},
                "nested": {"type": "object", "properties": {"n": {"type": "integer"}}, "default": {"n": 3}},
            },
        });
        assert_eq!(check_values(&schema), []);
    }

    #[test]
    fn template_paths() {
        let schema = json!({
            "type": "object",
            "properties": {
                "targetHost": {"type": "string"},
                "app.kubernetes.io/name": {"type": "string"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "empty": {"type": "object"},
            },
        });
        for ok in [
            "targetHost",
            "app.kubernetes.io/name",
            "ports.0.port",
            "labels.anything",
            "free.a.b.c",
        ] {
            let segments: Vec<&str> = ok.split('.').collect();
            assert_eq!(resolve(&schema, "spec", &segments), Ok(()), "{ok}");
        }
        let cases = [
            (
                "targetHst",
                "`spec` has no field `targetHst`; did you mean `targetHost`?",
            ),
            (
                "ports.0.prot",
                "`spec.ports.0` has no field `prot`; did you mean `port`?",
            ),
            ("nothing", "`spec` has no field `nothing`; it declares "),
            (
                "ports.first",
                "`spec.ports` is a list; index it with a number",
            ),
            ("empty.x", "`spec.empty` declares no fields"),
        ];
        for (path, want) in cases {
            let segments: Vec<&str> = path.split('.').collect();
            let got = resolve(&schema, "spec", &segments).unwrap_err();
            assert!(got.contains(want), "{path}: {got}");
        }
    }
}
