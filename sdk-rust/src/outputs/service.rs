//! [`Service`]: a `v1` Service selecting pods by label.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Metadata, label_setter, namespace_setter, serialize_via_json};

/// A `v1` Service (type ClusterIP); see [`service`](super::service).
///
/// It selects pods with `app: <name>` unless [`selector`](Self::selector) sets other labels.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::outputs;
///
/// let canary = outputs::service("web-canary")
///     .selector("app", "web")
///     .selector("track", "canary")
///     .port("http", 80, 8080);
/// let json = serde_json::to_value(&canary).unwrap();
/// assert_eq!(json["spec"]["selector"]["track"], "canary");
/// assert_eq!(json["spec"]["ports"][0]["name"], "http");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    metadata: Metadata,
    selector: BTreeMap<String, String>,
    ports: Vec<(String, u16, u16)>,
}

namespace_setter!(Service, "service(\"web\")");
label_setter!(Service, "service(\"web\")");
serialize_via_json!(Service);

impl Service {
    pub(super) fn new(name: impl Into<String>) -> Self {
        Self {
            metadata: Metadata::new(name),
            selector: BTreeMap::new(),
            ports: Vec::new(),
        }
    }

    /// Adds a label to the pod selector. The first call replaces the default `app: <name>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = autopilot_sdk::outputs::service("web").selector("app", "shop");
    /// assert_eq!(serde_json::to_value(&s).unwrap()["spec"]["selector"], serde_json::json!({"app": "shop"}));
    /// ```
    #[must_use]
    pub fn selector(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.selector.insert(key.into(), value.into());
        self
    }

    /// Adds a TCP port named `name` (mesh protocol detection reads names like `http` or `grpc`)
    /// that forwards `port` to the pods' `target_port`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = autopilot_sdk::outputs::service("web").port("http", 80, 8080).port("grpc", 9090, 9090);
    /// assert_eq!(serde_json::to_value(&s).unwrap()["spec"]["ports"][1]["port"], 9090);
    /// ```
    #[must_use]
    pub fn port(mut self, name: impl Into<String>, port: u16, target_port: u16) -> Self {
        self.ports.push((name.into(), port, target_port));
        self
    }

    fn to_json(&self) -> Result<Value, String> {
        let selector = if self.selector.is_empty() {
            BTreeMap::from([("app".to_owned(), self.metadata.name.clone())])
        } else {
            self.selector.clone()
        };
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|(name, port, target)| {
                json!({"name": name, "port": port, "targetPort": target, "protocol": "TCP"})
            })
            .collect();
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata.to_json(),
            "spec": {"selector": selector, "ports": ports},
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::service;
    use serde_json::json;

    #[test]
    fn produces_the_service_json() {
        let s = service("web")
            .namespace("shop")
            .label("team", "storefront")
            .port("http", 80, 8080);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "storefront"}},
                "spec": {
                    "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                },
            })
        );
    }

    #[test]
    fn explicit_selector_replaces_the_default() {
        let s = service("web-canary")
            .selector("app", "web")
            .selector("track", "canary");
        assert_eq!(
            serde_json::to_value(&s).unwrap()["spec"]["selector"],
            json!({"app": "web", "track": "canary"})
        );
    }
}
