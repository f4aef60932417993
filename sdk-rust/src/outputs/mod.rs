//! Builders for the objects mesh workflows apply most: Deployments, Services, ConfigMaps, Istio
//! VirtualServices and Gateway API HTTPRoutes.
//!
//! Each builder is a small value that serializes to the object's JSON, `apiVersion` and `kind`
//! included, so it goes straight into [`Outcome::output`](crate::Outcome::output). The builders
//! cover the common fields only; for anything else, pass a k8s-openapi type or a
//! `serde_json::json!` value to `output` instead.
//!
//! Namespaces are optional everywhere: the scheduler puts a namespaced output without one into the
//! custom resource's namespace, and sets the owner reference and its own labels.
//!
//! # Examples
//!
//! ```
//! use autopilot_sdk::outputs;
//!
//! let route = outputs::http_route("web")
//!     .parent_service("web")
//!     .rule([("web-stable", 80, 90), ("web-canary", 80, 10)]);
//! let json = serde_json::to_value(&route).unwrap();
//! assert_eq!(json["kind"], "HTTPRoute");
//! assert_eq!(json["spec"]["rules"][0]["backendRefs"][1]["weight"], 10);
//! ```

mod config_map;
mod deployment;
mod http_route;
mod service;
mod virtual_service;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

pub use config_map::ConfigMap;
pub use deployment::Deployment;
pub use http_route::{Backend, HttpRoute, ParentRef};
pub use service::Service;
pub use virtual_service::{Destination, VirtualService};

/// A Deployment (`apps/v1`) named `name`.
///
/// # Examples
///
/// ```
/// let d = autopilot_sdk::outputs::deployment("web").image("nginx:1.27").replicas(2);
/// assert_eq!(serde_json::to_value(&d).unwrap()["spec"]["replicas"], 2);
/// ```
pub fn deployment(name: impl Into<String>) -> Deployment {
    Deployment::new(name)
}

/// A Service (`v1`) named `name`.
///
/// # Examples
///
/// ```
/// let s = autopilot_sdk::outputs::service("web").port("http", 80, 8080);
/// assert_eq!(serde_json::to_value(&s).unwrap()["spec"]["ports"][0]["targetPort"], 8080);
/// ```
pub fn service(name: impl Into<String>) -> Service {
    Service::new(name)
}

/// A ConfigMap (`v1`) named `name`.
///
/// # Examples
///
/// ```
/// let c = autopilot_sdk::outputs::config_map("settings").data("weight", "10");
/// assert_eq!(serde_json::to_value(&c).unwrap()["data"]["weight"], "10");
/// ```
pub fn config_map(name: impl Into<String>) -> ConfigMap {
    ConfigMap::new(name)
}

/// An Istio VirtualService (`networking.istio.io/v1`) named `name`.
///
/// # Examples
///
/// ```
/// let vs = autopilot_sdk::outputs::virtual_service("web")
///     .route([("web", Some("stable"), 80, 100)]);
/// assert_eq!(serde_json::to_value(&vs).unwrap()["spec"]["hosts"][0], "web");
/// ```
pub fn virtual_service(name: impl Into<String>) -> VirtualService {
    VirtualService::new(name)
}

/// A Gateway API HTTPRoute (`gateway.networking.k8s.io/v1`) named `name`.
///
/// # Examples
///
/// ```
/// let r = autopilot_sdk::outputs::http_route("web").parent("public-gateway");
/// assert_eq!(serde_json::to_value(&r).unwrap()["spec"]["parentRefs"][0]["name"], "public-gateway");
/// ```
pub fn http_route(name: impl Into<String>) -> HttpRoute {
    HttpRoute::new(name)
}

/// The metadata every builder shares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Metadata {
    name: String,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
}

impl Metadata {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: None,
            labels: BTreeMap::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut meta = Map::new();
        meta.insert("name".into(), json!(self.name));
        if let Some(namespace) = &self.namespace {
            meta.insert("namespace".into(), json!(namespace));
        }
        if !self.labels.is_empty() {
            meta.insert("labels".into(), json!(self.labels));
        }
        Value::Object(meta)
    }
}

/// Implements `namespace` on a builder with a `metadata: Metadata` field.
macro_rules! namespace_setter {
    ($builder:ident, $example:literal) => {
        impl $builder {
            /// Sets the namespace (default: the custom resource's).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let b = autopilot_sdk::outputs::", $example, ".namespace(\"shop\");")]
            /// assert_eq!(serde_json::to_value(&b).unwrap()["metadata"]["namespace"], "shop");
            /// ```
            #[must_use]
            pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
                self.metadata.namespace = Some(namespace.into());
                self
            }
        }
    };
}
use namespace_setter;

/// Implements `label` (on the object's metadata) on a builder with a `metadata: Metadata` field.
macro_rules! label_setter {
    ($builder:ident, $example:literal) => {
        impl $builder {
            /// Adds a label to the object's metadata.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let b = autopilot_sdk::outputs::", $example, ".label(\"team\", \"web\");")]
            /// assert_eq!(serde_json::to_value(&b).unwrap()["metadata"]["labels"]["team"], "web");
            /// ```
            #[must_use]
            pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                self.metadata.labels.insert(key.into(), value.into());
                self
            }
        }
    };
}
use label_setter;

/// Implements `Serialize` through a builder's `to_json(&self) -> Result<Value, String>`.
macro_rules! serialize_via_json {
    ($builder:ident) => {
        impl serde::Serialize for $builder {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.to_json()
                    .map_err(serde::ser::Error::custom)?
                    .serialize(serializer)
            }
        }
    };
}
use serialize_via_json;
