//! The CustomResourceDefinition of the operator's kind, and an example resource of that kind.

use autopilot_model::Project;
use serde_json::{Map, Value, json};

use crate::yaml::Yaml;

/// The CRD (`apiextensions.k8s.io/v1`) with a structural schema of spec and status, the status
/// subresource and Phase/Age printer columns.
pub(crate) fn crd(project: &Project) -> Yaml {
    let plural = project.plural();
    let singular = project.kind.to_lowercase();
    let version = Yaml::map()
        .with("name", project.version())
        .with("served", true)
        .with("storage", true)
        .with(
            "schema",
            Yaml::map().with("openAPIV3Schema", &schema(project)),
        )
        .with("subresources", Yaml::map().with("status", Yaml::map()))
        .with("additionalPrinterColumns", printer_columns(project));
    Yaml::map()
        .with("apiVersion", "apiextensions.k8s.io/v1")
        .with("kind", "CustomResourceDefinition")
        .with(
            "metadata",
            Yaml::map()
                .with("name", format!("{plural}.{}", project.group()))
                .with(
                    "labels",
                    Yaml::map().with("app.kubernetes.io/managed-by", crate::deploy::MANAGED_BY),
                ),
        )
        .with(
            "spec",
            Yaml::map()
                .with("group", project.group())
                .with("names", names(project, plural, singular))
                .with("scope", "Namespaced")
                .with("versions", Yaml::Seq(vec![version])),
        )
}

/// The CRD's `names`, with `shortNames` and `categories` when the project declares them.
fn names(project: &Project, plural: String, singular: String) -> Yaml {
    let mut names = Yaml::map()
        .with("kind", project.kind.as_str())
        .with("listKind", format!("{}List", project.kind))
        .with("plural", plural)
        .with("singular", singular);
    for (key, values) in [
        ("shortNames", &project.short_names),
        ("categories", &project.categories),
    ] {
        if !values.is_empty() {
            names = names.with(key, Yaml::strs(values.iter().map(String::as_str)));
        }
    }
    names
}

/// `Phase`, the columns `autopilot.yaml` declares, then `Age` (kubectl's convention: age last).
fn printer_columns(project: &Project) -> Yaml {
    let phase = Yaml::map()
        .with("name", "Phase")
        .with("type", "string")
        .with("jsonPath", ".status.phase");
    let declared = project.printer_columns.iter().map(|c| {
        let mut column = Yaml::map()
            .with("name", c.name.as_str())
            .with("type", c.type_.as_str())
            .with("jsonPath", c.json_path.as_str());
        if let Some(description) = &c.description {
            column = column.with("description", description.as_str());
        }
        if let Some(format) = &c.format {
            column = column.with("format", format.as_str());
        }
        if c.priority > 0 {
            column = column.with("priority", i64::from(c.priority));
        }
        column
    });
    let age = Yaml::map()
        .with("name", "Age")
        .with("type", "date")
        .with("jsonPath", ".metadata.creationTimestamp");
    Yaml::Seq(
        std::iter::once(phase)
            .chain(declared)
            .chain(std::iter::once(age))
            .collect(),
    )
}

/// The `openAPIV3Schema` of the resource: the project's spec schema and the status the
/// scheduler writes.
pub(crate) fn schema(project: &Project) -> Value {
    let phases: Vec<&str> = project.phases.iter().map(|p| p.name.as_str()).collect();
    let condition = json!({
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string", "description": "Type of the condition, unique in the list."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "observedGeneration": {"type": "integer", "format": "int64"},
        },
    });
    let mut schema = json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": project.spec,
            "status": {
                "type": "object",
                "description": "Written by the Autopilot scheduler.",
                "properties": {
                    "phase": {
                        "type": "string",
                        "description": "The phase the resource is in.",
                        "enum": phases,
                    },
                    "observedGeneration": {"type": "integer", "format": "int64"},
                    "attempt": {
                        "type": "integer",
                        "description": "Number of the current call of the phase's worker.",
                    },
                    "failures": {
                        "type": "integer",
                        "description": "Consecutive failed calls in the current phase.",
                    },
                    "statusInfo": project.status_info,
                    "conditions": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["type"],
                        "items": condition,
                    },
                    "lastTransitionTime": {"type": "string", "format": "date-time"},
                    "retried": {
                        "type": "string",
                        "description": "The last autopilot.dev/retry request honoured.",
                    },
                },
            },
        },
    });
    let status = &mut schema["properties"]["status"]["properties"];
    if project.abort_phase.is_some() {
        status["aborted"] = json!({
            "type": "string",
            "description": "The last autopilot.dev/abort request honoured: who asked, and when.",
        });
    }
    if !project.gates.is_empty() {
        status["gates"] = json!({
            "type": "object",
            "description": "Per gate, the approval that last opened it and the phase entry it opened.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "by": {"type": "string"},
                    "entered": {"type": "string"},
                },
            },
        });
    }
    if project.sends_to_git() {
        schema["properties"]["status"]["properties"]["git"] = json!({
            "type": "object",
            "description": "Per Git target, the commit holding the last result sent there.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "commit": {"type": "string"},
                    "branch": {"type": "string"},
                    "phase": {"type": "string"},
                },
            },
        });
    }
    schema
}

/// An example resource whose spec is filled from the schema's examples and defaults.
pub(crate) fn example(project: &Project) -> Yaml {
    Yaml::map()
        .with("apiVersion", project.api_version.as_str())
        .with("kind", project.kind.as_str())
        .with(
            "metadata",
            Yaml::map().with("name", format!("example-{}", project.kind.to_lowercase())),
        )
        .with("spec", &example_value(&project.spec, true))
}

/// A value satisfying `schema`: its `example`, else its `default`, else for objects every
/// required property (and every property with an example or default), else a placeholder of
/// the schema's type.
pub(crate) fn example_value(schema: &Value, required: bool) -> Value {
    if let Some(v) = schema.get("example").or_else(|| schema.get("default")) {
        return v.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let required_names: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut object = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    let is_required = required_names.contains(&name.as_str());
                    let value = example_value(property, is_required);
                    if !value.is_null() {
                        object.insert(name.clone(), value);
                    }
                }
            }
            if object.is_empty() && !required {
                return Value::Null;
            }
            Value::Object(object)
        }
        _ if !required => Value::Null,
        Some("string") => match schema.get("enum").and_then(Value::as_array) {
            Some(values) if !values.is_empty() => values[0].clone(),
            _ => json!("example"),
        },
        Some("integer") => schema.get("minimum").cloned().unwrap_or(json!(1)),
        Some("number") => schema.get("minimum").cloned().unwrap_or(json!(1.0)),
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_uses_examples_defaults_and_placeholders() {
        let schema = json!({
            "type": "object",
            "required": ["target", "mode", "nested"],
            "properties": {
                "target": {"type": "string"},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "step": {"type": "integer", "default": 10},
                "image": {"type": "string", "example": "nginx:1"},
                "optional": {"type": "string"},
                "nested": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 2}}},
            },
        });
        assert_eq!(
            example_value(&schema, true),
            json!({"target": "example", "mode": "fast", "step": 10, "image": "nginx:1", "nested": {"n": 2}})
        );
    }
}
