//! [`VirtualService`]: an Istio `networking.istio.io/v1` VirtualService splitting HTTP traffic by
//! weight.

use serde_json::{Map, Value, json};

use super::{Metadata, label_setter, namespace_setter, serialize_via_json};

/// An Istio VirtualService; see [`virtual_service`](super::virtual_service).
///
/// Each [`route`](Self::route) call adds one HTTP route (without match conditions, so the first
/// one catches all traffic) splitting requests between weighted [`Destination`]s. Hosts default
/// to the VirtualService's name.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::outputs::{self, Destination};
///
/// let vs = outputs::virtual_service("web")
///     .host("web.shop.svc.cluster.local")
///     .gateway("mesh")
///     .route([
///         Destination::new("web").subset("stable").port(80).weight(90),
///         Destination::new("web").subset("canary").port(80).weight(10),
///     ]);
/// let json = serde_json::to_value(&vs).unwrap();
/// assert_eq!(json["spec"]["http"][0]["route"][1]["weight"], 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    metadata: Metadata,
    hosts: Vec<String>,
    gateways: Vec<String>,
    routes: Vec<Vec<Destination>>,
}

namespace_setter!(VirtualService, "virtual_service(\"web\")");
label_setter!(VirtualService, "virtual_service(\"web\")");
serialize_via_json!(VirtualService);

impl VirtualService {
    pub(super) fn new(name: impl Into<String>) -> Self {
        Self {
            metadata: Metadata::new(name),
            hosts: Vec::new(),
            gateways: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// Adds a host the routes apply to (the first call replaces the default, the name).
    ///
    /// # Examples
    ///
    /// ```
    /// let vs = autopilot_sdk::outputs::virtual_service("web").host("shop.example.com");
    /// assert_eq!(serde_json::to_value(&vs).unwrap()["spec"]["hosts"], serde_json::json!(["shop.example.com"]));
    /// ```
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Adds a gateway the routes apply to (`mesh` for sidecars; none set means only `mesh`).
    ///
    /// # Examples
    ///
    /// ```
    /// let vs = autopilot_sdk::outputs::virtual_service("web").gateway("istio-system/public");
    /// assert_eq!(serde_json::to_value(&vs).unwrap()["spec"]["gateways"][0], "istio-system/public");
    /// ```
    #[must_use]
    pub fn gateway(mut self, gateway: impl Into<String>) -> Self {
        self.gateways.push(gateway.into());
        self
    }

    /// Adds an HTTP route to these weighted destinations: [`Destination`]s, or
    /// `(host, subset, port, weight)` tuples.
    ///
    /// # Examples
    ///
    /// ```
    /// let vs = autopilot_sdk::outputs::virtual_service("web")
    ///     .route([("web", Some("stable"), 80, 75), ("web", Some("canary"), 80, 25)]);
    /// let json = serde_json::to_value(&vs).unwrap();
    /// assert_eq!(json["spec"]["http"][0]["route"][0]["destination"]["subset"], "stable");
    /// ```
    #[must_use]
    pub fn route(mut self, destinations: impl IntoIterator<Item = impl Into<Destination>>) -> Self {
        self.routes
            .push(destinations.into_iter().map(Into::into).collect());
        self
    }

    fn to_json(&self) -> Result<Value, String> {
        let hosts = if self.hosts.is_empty() {
            vec![self.metadata.name.clone()]
        } else {
            self.hosts.clone()
        };
        let mut spec = Map::new();
        spec.insert("hosts".into(), json!(hosts));
        if !self.gateways.is_empty() {
            spec.insert("gateways".into(), json!(self.gateways));
        }
        let http: Vec<Value> = self
            .routes
            .iter()
            .map(|route| json!({"route": route.iter().map(Destination::to_json).collect::<Vec<_>>()}))
            .collect();
        spec.insert("http".into(), json!(http));
        Ok(json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": self.metadata.to_json(),
            "spec": spec,
        }))
    }
}

/// A weighted destination of a [`VirtualService`] route.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::outputs::Destination;
/// let d = Destination::new("web").subset("canary").weight(5);
/// let from_tuple: Destination = ("web", Some("canary"), 80, 5).into();
/// assert_eq!(from_tuple, d.port(80));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    host: String,
    subset: Option<String>,
    port: Option<u16>,
    weight: u32,
}

impl Destination {
    /// A destination of weight 0 to the service `host`.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::Destination::new("web.shop.svc.cluster.local");
    /// # let _ = d;
    /// ```
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            subset: None,
            port: None,
            weight: 0,
        }
    }

    /// Sends to this subset (declared in a DestinationRule).
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::Destination::new("web").subset("stable");
    /// # let _ = d;
    /// ```
    #[must_use]
    pub fn subset(mut self, subset: impl Into<String>) -> Self {
        self.subset = Some(subset.into());
        self
    }

    /// Sends to this port of the service (needed when it has several).
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::Destination::new("web").port(8080);
    /// # let _ = d;
    /// ```
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets the share of traffic, in percent of the route's total.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = autopilot_sdk::outputs::Destination::new("web").weight(100);
    /// # let _ = d;
    /// ```
    #[must_use]
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    fn to_json(&self) -> Value {
        let mut destination = Map::new();
        destination.insert("host".into(), json!(self.host));
        if let Some(subset) = &self.subset {
            destination.insert("subset".into(), json!(subset));
        }
        if let Some(port) = self.port {
            destination.insert("port".into(), json!({ "number": port }));
        }
        json!({"destination": destination, "weight": self.weight})
    }
}

/// `(host, subset, port, weight)`.
impl From<(&str, Option<&str>, u16, u32)> for Destination {
    fn from((host, subset, port, weight): (&str, Option<&str>, u16, u32)) -> Self {
        let destination = Self::new(host).port(port).weight(weight);
        match subset {
            Some(subset) => destination.subset(subset),
            None => destination,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::virtual_service;
    use super::*;

    #[test]
    fn produces_the_virtual_service_json() {
        let vs = virtual_service("web")
            .namespace("shop")
            .gateway("mesh")
            .route([
                ("web", Some("stable"), 80, 90),
                ("web", Some("canary"), 80, 10),
            ])
            .route([Destination::new("web-fallback").weight(100)]);
        assert_eq!(
            serde_json::to_value(&vs).unwrap(),
            json!({
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {
                    "hosts": ["web"],
                    "gateways": ["mesh"],
                    "http": [
                        {"route": [
                            {"destination": {"host": "web", "subset": "stable", "port": {"number": 80}}, "weight": 90},
                            {"destination": {"host": "web", "subset": "canary", "port": {"number": 80}}, "weight": 10},
                        ]},
                        {"route": [{"destination": {"host": "web-fallback"}, "weight": 100}]},
                    ],
                },
            })
        );
    }

    #[test]
    fn tuple_without_subset() {
        let d: Destination = ("web", None, 8080, 50).into();
        assert_eq!(
            d.to_json(),
            json!({"destination": {"host": "web", "port": {"number": 8080}}, "weight": 50})
        );
    }
}
