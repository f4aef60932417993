//! [`HttpRoute`]: a Gateway API `gateway.networking.k8s.io/v1` HTTPRoute splitting traffic between
//! weighted backends.

use serde_json::{Map, Value, json};

use super::{Metadata, label_setter, namespace_setter, serialize_via_json};

/// A Gateway API HTTPRoute; see [`http_route`](super::http_route).
///
/// Attach it to a Gateway with [`parent`](Self::parent), or to a Service for east-west mesh
/// traffic (GAMMA) with [`parent_service`](Self::parent_service). Each [`rule`](Self::rule)
/// call adds a rule (without matches) splitting requests between weighted [`Backend`]s.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::outputs::{self, Backend};
///
/// let route = outputs::http_route("web")
///     .parent("public")
///     .hostname("shop.example.com")
///     .rule([Backend::new("web-stable").port(80).weight(90), Backend::new("web-canary").port(80).weight(10)]);
/// let json = serde_json::to_value(&route).unwrap();
/// assert_eq!(json["spec"]["rules"][0]["backendRefs"][0]["name"], "web-stable");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    metadata: Metadata,
    parents: Vec<ParentRef>,
    hostnames: Vec<String>,
    rules: Vec<Vec<Backend>>,
}

namespace_setter!(HttpRoute, "http_route(\"web\")");
label_setter!(HttpRoute, "http_route(\"web\")");
serialize_via_json!(HttpRoute);

impl HttpRoute {
    pub(super) fn new(name: impl Into<String>) -> Self {
        Self {
            metadata: Metadata::new(name),
            parents: Vec::new(),
            hostnames: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// Attaches the route to the Gateway `name` (in the route's namespace).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = autopilot_sdk::outputs::http_route("web").parent("public");
    /// assert_eq!(serde_json::to_value(&r).unwrap()["spec"]["parentRefs"], serde_json::json!([{"name": "public"}]));
    /// ```
    #[must_use]
    pub fn parent(self, name: impl Into<String>) -> Self {
        self.parent_ref(ParentRef::gateway(name))
    }

    /// Attaches the route to the Service `name`: a mesh (GAMMA) route for traffic to it.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = autopilot_sdk::outputs::http_route("web").parent_service("web");
    /// let json = serde_json::to_value(&r).unwrap();
    /// assert_eq!(json["spec"]["parentRefs"][0]["kind"], "Service");
    /// ```
    #[must_use]
    pub fn parent_service(self, name: impl Into<String>) -> Self {
        self.parent_ref(ParentRef::service(name))
    }

    /// Attaches the route to any parent.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::outputs::{self, ParentRef};
    /// let r = outputs::http_route("web").parent_ref(ParentRef::gateway("public").namespace("infra"));
    /// assert_eq!(serde_json::to_value(&r).unwrap()["spec"]["parentRefs"][0]["namespace"], "infra");
    /// ```
    #[must_use]
    pub fn parent_ref(mut self, parent: ParentRef) -> Self {
        self.parents.push(parent);
        self
    }

    /// Adds a hostname the route matches.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = autopilot_sdk::outputs::http_route("web").hostname("shop.example.com");
    /// assert_eq!(serde_json::to_value(&r).unwrap()["spec"]["hostnames"][0], "shop.example.com");
    /// ```
    #[must_use]
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostnames.push(hostname.into());
        self
    }

    /// Adds a rule sending requests to these weighted backends: [`Backend`]s, or
    /// `(service, port, weight)` tuples.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = autopilot_sdk::outputs::http_route("web").rule([("web-stable", 80, 100)]);
    /// assert_eq!(serde_json::to_value(&r).unwrap()["spec"]["rules"][0]["backendRefs"][0]["port"], 80);
    /// ```
    #[must_use]
    pub fn rule(mut self, backends: impl IntoIterator<Item = impl Into<Backend>>) -> Self {
        self.rules
            .push(backends.into_iter().map(Into::into).collect());
        self
    }

    fn to_json(&self) -> Result<Value, String> {
        let mut spec = Map::new();
        spec.insert(
            "parentRefs".into(),
            Value::Array(self.parents.iter().map(ParentRef::to_json).collect()),
        );
        if !self.hostnames.is_empty() {
            spec.insert("hostnames".into(), json!(self.hostnames));
        }
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|rule| json!({"backendRefs": rule.iter().map(Backend::to_json).collect::<Vec<_>>()}))
            .collect();
        spec.insert("rules".into(), json!(rules));
        Ok(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": self.metadata.to_json(),
            "spec": spec,
        }))
    }
}

/// What an [`HttpRoute`] attaches to: a Gateway, or a Service for mesh routing.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::outputs::ParentRef;
/// let p = ParentRef::gateway("public").namespace("infra").section_name("https");
/// # let _ = p;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    group: Option<String>,
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
    section_name: Option<String>,
}

impl ParentRef {
    /// The Gateway `name` (the Gateway API's default parent kind).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = autopilot_sdk::outputs::ParentRef::gateway("public");
    /// # let _ = p;
    /// ```
    pub fn gateway(name: impl Into<String>) -> Self {
        Self {
            group: None,
            kind: None,
            name: name.into(),
            namespace: None,
            section_name: None,
        }
    }

    /// The Service `name` (core group), for mesh routing.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = autopilot_sdk::outputs::ParentRef::service("web");
    /// # let _ = p;
    /// ```
    pub fn service(name: impl Into<String>) -> Self {
        Self {
            group: Some(String::new()),
            kind: Some("Service".into()),
            ..Self::gateway(name)
        }
    }

    /// The parent's namespace (default: the route's).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = autopilot_sdk::outputs::ParentRef::gateway("public").namespace("infra");
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// A single listener of the Gateway (or port name of the Service).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = autopilot_sdk::outputs::ParentRef::gateway("public").section_name("https");
    /// # let _ = p;
    /// ```
    #[must_use]
    pub fn section_name(mut self, section_name: impl Into<String>) -> Self {
        self.section_name = Some(section_name.into());
        self
    }

    fn to_json(&self) -> Value {
        let mut parent = Map::new();
        for (key, value) in [
            ("group", &self.group),
            ("kind", &self.kind),
            ("namespace", &self.namespace),
            ("sectionName", &self.section_name),
        ] {
            if let Some(value) = value {
                parent.insert(key.into(), json!(value));
            }
        }
        parent.insert("name".into(), json!(self.name));
        Value::Object(parent)
    }
}

/// A weighted backend (a Service and port) of an [`HttpRoute`] rule.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::outputs::Backend;
/// let from_tuple: Backend = ("web-canary", 80, 10).into();
/// assert_eq!(from_tuple, Backend::new("web-canary").port(80).weight(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    name: String,
    namespace: Option<String>,
    port: Option<u16>,
    weight: u32,
}

impl Backend {
    /// The Service `name`, weight 1 (the Gateway API default).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::outputs::Backend::new("web");
    /// # let _ = b;
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: None,
            port: None,
            weight: 1,
        }
    }

    /// The Service's namespace (default: the route's; another needs a ReferenceGrant).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::outputs::Backend::new("web").namespace("shop");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The Service port (required by the Gateway API for Service backends).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::outputs::Backend::new("web").port(80);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The backend's share of the rule's traffic, relative to the other backends' weights.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::outputs::Backend::new("web").weight(0);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    fn to_json(&self) -> Value {
        let mut backend = Map::new();
        backend.insert("name".into(), json!(self.name));
        if let Some(namespace) = &self.namespace {
            backend.insert("namespace".into(), json!(namespace));
        }
        if let Some(port) = self.port {
            backend.insert("port".into(), json!(port));
        }
        backend.insert("weight".into(), json!(self.weight));
        Value::Object(backend)
    }
}

/// `(service, port, weight)`.
impl From<(&str, u16, u32)> for Backend {
    fn from((name, port, weight): (&str, u16, u32)) -> Self {
        Self::new(name).port(port).weight(weight)
    }
}

#[cfg(test)]
mod tests {
    use super::super::http_route;
    use super::*;

    #[test]
    fn produces_the_http_route_json() {
        let route = http_route("web")
            .namespace("shop")
            .label("app", "web")
            .parent("public")
            .parent_service("web")
            .parent_ref(
                ParentRef::gateway("internal")
                    .namespace("infra")
                    .section_name("http"),
            )
            .hostname("shop.example.com")
            .rule([("web-stable", 80, 90), ("web-canary", 80, 10)])
            .rule([Backend::new("web-fallback").namespace("other")]);
        assert_eq!(
            serde_json::to_value(&route).unwrap(),
            json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                "spec": {
                    "parentRefs": [
                        {"name": "public"},
                        {"group": "", "kind": "Service", "name": "web"},
                        {"name": "internal", "namespace": "infra", "sectionName": "http"},
                    ],
                    "hostnames": ["shop.example.com"],
                    "rules": [
                        {"backendRefs": [
                            {"name": "web-stable", "port": 80, "weight": 90},
                            {"name": "web-canary", "port": 80, "weight": 10},
                        ]},
                        {"backendRefs": [{"name": "web-fallback", "namespace": "other", "weight": 1}]},
                    ],
                },
            })
        );
    }
}
