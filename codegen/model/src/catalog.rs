//! The built-in catalog: parameters and PromQL queries available without declaring them.
//!
//! The built-in queries are parameterised by three template variables which a metrics input
//! binds with `vars` (see [`crate::Input::Metrics`]):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `workload` | the Deployment (workload) whose traffic is measured | none: must be bound |
//! | `namespace` | its namespace | the custom resource's namespace |
//! | `interval` | the PromQL range for `rate()`, such as `1m` | none: must be bound |
//!
//! ```yaml
//! inputs:
//!   - metrics: [istio-success-rate, istio-latency-p99]
//!     vars: {workload: "{{ spec.targetRef }}-canary", interval: "{{ spec.interval }}"}
//! ```

use crate::project::{Parameter, Query};

/// The input name that stands for metrics rather than a Kubernetes kind.
pub const METRICS: &str = "metrics";

/// One row of the built-in parameter table.
struct BuiltinParameter {
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
}

/// Every built-in parameter is namespaced and its plural is its name.
const PARAMETERS: &[BuiltinParameter] = &[
    builtin("events", "", "v1", "Event"),
    builtin("configmaps", "", "v1", "ConfigMap"),
    builtin("secrets", "", "v1", "Secret"),
    builtin("services", "", "v1", "Service"),
    builtin("pods", "", "v1", "Pod"),
    builtin("jobs", "batch", "v1", "Job"),
    builtin("deployments", "apps", "v1", "Deployment"),
    builtin("replicasets", "apps", "v1", "ReplicaSet"),
    builtin(
        "virtualservices",
        "networking.istio.io",
        "v1",
        "VirtualService",
    ),
    builtin(
        "destinationrules",
        "networking.istio.io",
        "v1",
        "DestinationRule",
    ),
    builtin("gateways", "networking.istio.io", "v1", "Gateway"),
    builtin("httproutes", "gateway.networking.k8s.io", "v1", "HTTPRoute"),
    builtin(
        "trafficsplits",
        "split.smi-spec.io",
        "v1alpha2",
        "TrafficSplit",
    ),
];

const fn builtin(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
) -> BuiltinParameter {
    BuiltinParameter {
        name,
        group,
        version,
        kind,
    }
}

impl BuiltinParameter {
    fn to_parameter(&self) -> Parameter {
        Parameter {
            name: self.name.to_owned(),
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            kind: self.kind.to_owned(),
            plural: self.name.to_owned(),
            namespaced: true,
            builtin: true,
        }
    }
}

/// The built-in parameter called `name` (`metrics` is not a parameter).
pub fn parameter(name: &str) -> Option<Parameter> {
    PARAMETERS
        .iter()
        .find(|p| p.name == name)
        .map(BuiltinParameter::to_parameter)
}

/// All built-in parameters, in catalog order.
pub fn parameters() -> impl Iterator<Item = Parameter> {
    PARAMETERS.iter().map(BuiltinParameter::to_parameter)
}

/// Istio's standard metrics, measured at the destination workload.
const ISTIO_SELECTOR: &str = r#"reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}""#;
/// Linkerd's proxy metrics, inbound to the workload's Deployment.
const LINKERD_SELECTOR: &str =
    r#"namespace="{{ namespace }}",deployment="{{ workload }}",direction="inbound""#;

/// `(name, PromQL with the selector spliced in at every `SEL`)`.
const QUERIES: &[(&str, &str)] = &[
    // Fraction (0..1) of requests that did not answer 5xx.
    (
        "istio-success-rate",
        r#"sum(rate(istio_requests_total{SEL,response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{SEL}[{{ interval }}]))"#,
    ),
    // 99th percentile request duration in milliseconds.
    (
        "istio-latency-p99",
        "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{SEL}[{{ interval }}])) by (le))",
    ),
    // Fraction (0..1) of responses classified as success.
    (
        "linkerd-success-rate",
        r#"sum(rate(response_total{SEL,classification="success"}[{{ interval }}])) / sum(rate(response_total{SEL}[{{ interval }}]))"#,
    ),
    // 99th percentile response latency in milliseconds.
    (
        "linkerd-latency-p99",
        "histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{SEL}[{{ interval }}])) by (le))",
    ),
];

fn to_query(name: &str, text: &str) -> Query {
    let selector = if name.starts_with("istio-") {
        ISTIO_SELECTOR
    } else {
        LINKERD_SELECTOR
    };
    Query {
        name: name.to_owned(),
        query: text.replace("SEL", selector),
        range: None,
        builtin: true,
    }
}

/// The built-in query called `name`.
pub fn query(name: &str) -> Option<Query> {
    QUERIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, q)| to_query(n, q))
}

/// All built-in queries, in catalog order.
pub fn queries() -> impl Iterator<Item = Query> {
    QUERIES.iter().map(|(n, q)| to_query(n, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{self, Escape, Scope};

    #[test]
    fn parameters_resolve() {
        let p = parameter("deployments").unwrap();
        assert_eq!((p.group.as_str(), p.version.as_str()), ("apps", "v1"));
        assert_eq!(p.api_version(), "apps/v1");
        assert_eq!(parameter("events").unwrap().api_version(), "v1");
        assert!(parameter(METRICS).is_none());
        assert_eq!(parameters().count(), 13);
        for p in parameters() {
            assert!(crate::names::parameter_name(&p.name).is_ok());
            assert!(crate::names::upper_camel(&p.kind).is_ok());
        }
    }

    #[test]
    fn queries_are_valid_templates_over_workload_namespace_interval() {
        let object = serde_json::json!({"metadata": {"name": "c", "namespace": "prod"}});
        let scope = Scope::new(&object)
            .with_var("workload", "web")
            .with_var("interval", "1m");
        assert_eq!(queries().count(), 4);
        for q in queries() {
            assert!(crate::names::kebab(&q.name).is_ok());
            let vars = template::variables(&q.query).unwrap();
            assert!(
                vars.iter()
                    .all(|v| ["workload", "namespace", "interval"].contains(v))
            );
            let text = template::render(&q.query, &scope, Escape::PromQlString).unwrap();
            assert!(
                !text.contains("SEL") && text.contains(r#""prod""#),
                "{text}"
            );
        }
        let q = query("istio-success-rate").unwrap().query;
        assert!(q.contains(r#"destination_workload="{{ workload }}",response_code!~"5.*"}"#));
    }
}
