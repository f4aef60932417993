//! The CustomResourceDefinition of `EventDelivery` (`autopilot.dev/v1alpha1`): where the
//! scheduler stores accepted external events until a phase consumes them. Generated for
//! projects that declare `events:`; the same for every operator, so installing it twice is
//! harmless.

use serde_json::json;

use crate::yaml::Yaml;

/// The CRD as one YAML document.
pub fn crd() -> String {
    let event = json!({
        "type": "object",
        "description": "The event, in the shape of a CloudEvent.",
        "properties": {
            "id": {"type": "string"},
            "source": {"type": "string"},
            "type": {"type": "string"},
            "subject": {"type": "string"},
            "timeUnixMs": {"type": "integer", "format": "int64"},
            "dataContentType": {"type": "string"},
            "data": {"type": "string", "format": "byte", "description": "The payload as received, base64."},
            "extensions": {"type": "object", "additionalProperties": {"type": "string"}},
            "acceptedUnixMs": {"type": "integer", "format": "int64"},
        },
    });
    let schema = json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["source", "target", "sequence", "event"],
                "properties": {
                    "source": {"type": "string", "description": "The event source declared in autopilot.yaml."},
                    "target": {"type": "string", "description": "Name of the resource the event is for."},
                    "sequence": {"type": "integer", "format": "int64", "description": "Order among the resource's events."},
                    "event": event,
                },
            },
        },
    });
    let version = Yaml::map()
        .with("name", "v1alpha1")
        .with("served", true)
        .with("storage", true)
        .with("schema", Yaml::map().with("openAPIV3Schema", &schema))
        .with(
            "additionalPrinterColumns",
            Yaml::Seq(vec![
                Yaml::map()
                    .with("name", "Source")
                    .with("type", "string")
                    .with("jsonPath", ".spec.source"),
                Yaml::map()
                    .with("name", "Target")
                    .with("type", "string")
                    .with("jsonPath", ".spec.target"),
                Yaml::map()
                    .with("name", "Type")
                    .with("type", "string")
                    .with("jsonPath", ".spec.event.type"),
                Yaml::map()
                    .with("name", "Consumed")
                    .with("type", "string")
                    .with("jsonPath", ".metadata.labels.autopilot\\.dev/consumed"),
                Yaml::map()
                    .with("name", "Age")
                    .with("type", "date")
                    .with("jsonPath", ".metadata.creationTimestamp"),
            ]),
        );
    Yaml::map()
        .with("apiVersion", "apiextensions.k8s.io/v1")
        .with("kind", "CustomResourceDefinition")
        .with(
            "metadata",
            Yaml::map()
                .with("name", "eventdeliveries.autopilot.dev")
                .with(
                    "labels",
                    Yaml::map().with("app.kubernetes.io/managed-by", crate::deploy::MANAGED_BY),
                ),
        )
        .with(
            "spec",
            Yaml::map()
                .with("group", "autopilot.dev")
                .with(
                    "names",
                    Yaml::map()
                        .with("kind", "EventDelivery")
                        .with("listKind", "EventDeliveryList")
                        .with("plural", "eventdeliveries")
                        .with("singular", "eventdelivery")
                        .with("shortNames", Yaml::strs(["evd"]))
                        .with("categories", Yaml::strs(["autopilot"])),
                )
                .with("scope", "Namespaced")
                .with("versions", Yaml::Seq(vec![version])),
        )
        .to_document()
}
