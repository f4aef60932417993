//! [`Deployment`]: an `apps/v1` Deployment, built from scratch or from another's pod template.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Metadata, namespace_setter, serialize_via_json};

/// An `apps/v1` Deployment; see [`deployment`](super::deployment).
///
/// Its pods are selected by the *selector labels* (`app: <name>` unless
/// [`selector_label`](Self::selector_label) sets others), which are also put on the pod template.
/// The first container of the template gets the [`image`](Self::image) and
/// [`container_port`](Self::container_port)s; without a template from
/// [`template_from`](Self::template_from), that container is created and named after the
/// Deployment.
///
/// A problem found while building (a `template_from` source without a pod template, or no image
/// and no template) is reported when the builder is serialized, so
/// [`Outcome::output`](crate::Outcome::output) returns it as an error.
///
/// # Examples
///
/// A canary copy of an existing Deployment, selectable apart from it:
///
/// ```
/// use autopilot_sdk::outputs;
/// use serde_json::json;
///
/// let primary = json!({
///     "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
///     "spec": {"template": {
///         "metadata": {"labels": {"app": "web"}},
///         "spec": {"containers": [{"name": "web", "image": "web:1.0"}]},
///     }},
/// });
/// let canary = outputs::deployment("web-canary")
///     .template_from(&primary)
///     .selector_label("app", "web")
///     .selector_label("track", "canary")
///     .image("web:1.1")
///     .replicas(1);
/// let json = serde_json::to_value(&canary).unwrap();
/// assert_eq!(json["spec"]["selector"]["matchLabels"], json!({"app": "web", "track": "canary"}));
/// assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["image"], "web:1.1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    metadata: Metadata,
    selector: BTreeMap<String, String>,
    pod_labels: BTreeMap<String, String>,
    replicas: Option<i32>,
    image: Option<String>,
    ports: Vec<u16>,
    template: Option<Value>,
    error: Option<String>,
}

namespace_setter!(Deployment, "deployment(\"web\").image(\"web:1\")");
serialize_via_json!(Deployment);

impl Deployment {
    pub(super) fn new(name: impl Into<String>) -> Self {
        Self {
            metadata: Metadata::new(name),
            selector: BTreeMap::new(),
            pod_labels: BTreeMap::new(),
            replicas: None,
            image: None,
            ports: Vec::new(),
            template: None,
            error: None,
        }
    }

    /// Adds a label to the Deployment and to its pods (not to the selector, which is immutable).
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::deployment("web").image("web:1").label("version", "1.1");
    /// let json = serde_json::to_value(&d).unwrap();
    /// assert_eq!(json["metadata"]["labels"]["version"], "1.1");
    /// assert_eq!(json["spec"]["template"]["metadata"]["labels"]["version"], "1.1");
    /// ```
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        self.metadata.labels.insert(key.clone(), value.clone());
        self.pod_labels.insert(key, value);
        self
    }

    /// Adds a label to the selector and to the pods. The first call replaces the default
    /// selector `app: <name>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::deployment("web-canary").image("web:1").selector_label("track", "canary");
    /// let json = serde_json::to_value(&d).unwrap();
    /// assert_eq!(json["spec"]["selector"]["matchLabels"], serde_json::json!({"track": "canary"}));
    /// ```
    #[must_use]
    pub fn selector_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.selector.insert(key.into(), value.into());
        self
    }

    /// Sets `spec.replicas`.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::deployment("web").image("web:1").replicas(3);
    /// assert_eq!(serde_json::to_value(&d).unwrap()["spec"]["replicas"], 3);
    /// ```
    #[must_use]
    pub fn replicas(mut self, replicas: i32) -> Self {
        self.replicas = Some(replicas);
        self
    }

    /// Sets the image of the first container.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::deployment("web").image("nginx:1.27");
    /// let json = serde_json::to_value(&d).unwrap();
    /// assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["name"], "web");
    /// ```
    #[must_use]
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// Adds a TCP port to the first container (once, however often it is added).
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::deployment("web").image("web:1").container_port(8080);
    /// let json = serde_json::to_value(&d).unwrap();
    /// assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 8080);
    /// ```
    #[must_use]
    pub fn container_port(mut self, port: u16) -> Self {
        if !self.ports.contains(&port) {
            self.ports.push(port);
        }
        self
    }

    /// Starts from the pod template (`spec.template`) of `existing`, a Deployment as a
    /// k8s-openapi type or JSON. Image, ports and labels set on this builder apply on top.
    ///
    /// # Examples
    ///
    /// ```
    /// use k8s_openapi::api::apps::v1::Deployment;
    /// let existing: Deployment = serde_json::from_value(serde_json::json!({
    ///     "metadata": {"name": "web"},
    ///     "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "app", "image": "web:1"}]}}},
    /// })).unwrap();
    /// let copy = autopilot_sdk::outputs::deployment("web-copy").template_from(&existing);
    /// let json = serde_json::to_value(&copy).unwrap();
    /// assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["name"], "app");
    /// ```
    #[must_use]
    pub fn template_from(mut self, existing: &impl Serialize) -> Self {
        match serde_json::to_value(existing) {
            Ok(value) => match value.pointer("/spec/template") {
                Some(template) if template.is_object() => self.template = Some(template.clone()),
                _ => {
                    self.error.get_or_insert_with(|| {
                        format!(
                            "deployment {:?}: template_from got an object without spec.template",
                            self.metadata.name
                        )
                    });
                }
            },
            Err(err) => {
                self.error.get_or_insert_with(|| {
                    format!(
                        "deployment {:?}: template_from could not serialize its source: {err}",
                        self.metadata.name
                    )
                });
            }
        }
        self
    }

    fn to_json(&self) -> Result<Value, String> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.template.is_none() && self.image.is_none() {
            return Err(format!(
                "deployment {:?} needs an image or a template",
                self.metadata.name
            ));
        }
        let selector = if self.selector.is_empty() {
            BTreeMap::from([("app".to_owned(), self.metadata.name.clone())])
        } else {
            self.selector.clone()
        };

        let mut template = self.template.clone().unwrap_or_else(|| json!({}));
        let labels = object_at(&mut template, &["metadata", "labels"]);
        for (key, value) in self.pod_labels.iter().chain(&selector) {
            labels.insert(key.clone(), json!(value));
        }
        let pod_spec = object_at(&mut template, &["spec"]);
        let containers = pod_spec.entry("containers").or_insert_with(|| json!([]));
        if containers.as_array().is_none_or(Vec::is_empty) {
            *containers = json!([{"name": self.metadata.name}]);
        }
        if let Some(Value::Object(first)) = containers.get_mut(0) {
            if let Some(image) = &self.image {
                first.insert("image".into(), json!(image));
            }
            if !self.ports.is_empty() {
                let ports = first.entry("ports").or_insert_with(|| json!([]));
                if let Value::Array(ports) = ports {
                    for port in &self.ports {
                        if !ports.iter().any(|p| p["containerPort"] == json!(port)) {
                            ports.push(json!({"containerPort": port, "protocol": "TCP"}));
                        }
                    }
                }
            }
        }

        let mut spec = Map::new();
        if let Some(replicas) = self.replicas {
            spec.insert("replicas".into(), json!(replicas));
        }
        spec.insert("selector".into(), json!({ "matchLabels": selector }));
        spec.insert("template".into(), template);
        Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata.to_json(),
            "spec": spec,
        }))
    }
}

/// The JSON object at `path` under `value`, replacing anything that is not an object on the way.
fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut node = value;
    for key in path {
        if !node.is_object() {
            *node = json!({});
        }
        node = node
            .as_object_mut()
            .expect("just made an object")
            .entry(*key)
            .or_insert_with(|| json!({}));
    }
    if !node.is_object() {
        *node = json!({});
    }
    node.as_object_mut().expect("just made an object")
}

#[cfg(test)]
mod tests {
    use super::super::deployment;
    use super::*;

    #[test]
    fn from_scratch() {
        let d = deployment("web")
            .namespace("shop")
            .label("team", "storefront")
            .image("nginx:1.27")
            .replicas(2)
            .container_port(80)
            .container_port(80);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "storefront"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web", "team": "storefront"}},
                        "spec": {"containers": [{
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        }]},
                    },
                },
            })
        );
    }

    #[test]
    fn from_an_existing_template() {
        let primary: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 5,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "track": "stable"}, "annotations": {"a": "b"}},
                    "spec": {"containers": [
                        {"name": "app", "image": "web:1.0", "ports": [{"containerPort": 8080}]},
                        {"name": "proxy", "image": "envoy"},
                    ]},
                },
            },
        }))
        .unwrap();
        let canary = deployment("web-canary")
            .template_from(&primary)
            .selector_label("app", "web")
            .selector_label("track", "canary")
            .image("web:1.1")
            .container_port(8080)
            .container_port(9090);
        assert_eq!(
            serde_json::to_value(&canary).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web-canary"},
                "spec": {
                    "selector": {"matchLabels": {"app": "web", "track": "canary"}},
                    "template": {
                        "metadata": {"labels": {"app": "web", "track": "canary"}, "annotations": {"a": "b"}},
                        "spec": {"containers": [
                            {"name": "app", "image": "web:1.1", "ports": [
                                {"containerPort": 8080},
                                {"containerPort": 9090, "protocol": "TCP"},
                            ]},
                            {"name": "proxy", "image": "envoy"},
                        ]},
                    },
                },
            })
        );
    }

    #[test]
    fn problems_surface_when_serialized() {
        let err = serde_json::to_value(deployment("web")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deployment \"web\" needs an image or a template"
        );
        let err = serde_json::to_value(
            deployment("web")
                .image("x")
                .template_from(&json!({"spec": {}})),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "deployment \"web\": template_from got an object without spec.template"
        );
    }
}
