//! Trace queries: named Jaeger searches declared under `traces:`, rendered against a resource.
//!
//! A trace query names a service (and optionally an operation and span tags) whose spans the
//! scheduler searches in a look-back window; the worker receives aggregates of the matching
//! spans (count, errors, latency percentiles, per operation) and a few sample traces. Every text
//! field is a template (see [`crate::template`]) over the resource and the input's `vars`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::Duration;
//! use autopilot_model::TraceQuery;
//!
//! let q = TraceQuery {
//!     name: "canary-spans".into(),
//!     service: "{{ spec.targetRef }}-canary".into(),
//!     operation: None,
//!     tags: BTreeMap::from([("error".to_string(), "true".to_string())]),
//!     look_back: "{{ spec.analysisPeriod }}".into(),
//!     limit: 100,
//!     samples: 3,
//! };
//! let object = serde_json::json!({"spec": {"targetRef": "web", "analysisPeriod": "2m"}});
//! let search = q.render(&object, &BTreeMap::new()).unwrap();
//! assert_eq!(search.service, "web-canary");
//! assert_eq!(search.look_back, Duration::from_secs(120));
//! assert_eq!(search.to_string(), "service=web-canary error=true lookBack=2m limit=100");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::duration;
use crate::template::{self, Escape, Scope};

/// The input name that means "trace queries" (`- traces: [a, b]` in a phase's inputs).
pub const TRACES: &str = "traces";
/// Traces searched when `limit` is not set: enough for percentiles, cheap for Jaeger.
pub const DEFAULT_TRACE_LIMIT: u32 = 100;
/// The most traces one query may search: every reconcile downloads them whole.
pub const MAX_TRACE_LIMIT: u32 = 5000;
/// Sample traces summarised for the worker when `samples` is not set.
pub const DEFAULT_TRACE_SAMPLES: u32 = 3;
/// The most samples one query may return: samples are for naming a culprit, not for export.
pub const MAX_TRACE_SAMPLES: u32 = 50;
/// How far back the search looks when `lookBack` is not set.
pub const DEFAULT_LOOK_BACK: &str = "5m";

/// A named Jaeger search, as declared in `autopilot.yaml`.
///
/// # Guarantees (after parsing)
///
/// The name is kebab-case and unique among trace queries; every template is well formed; a
/// `lookBack` without placeholders is a valid positive duration; `1 <= limit <=`
/// [`MAX_TRACE_LIMIT`] and `samples <=` [`MAX_TRACE_SAMPLES`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceQuery {
    /// kebab-case name; the result is delivered under it.
    pub name: String,
    /// Template of the service whose spans are searched and aggregated (Jaeger's service name,
    /// OpenTelemetry's `service.name`).
    pub service: String,
    /// Template of the operation (span name) to search; `None` searches every operation of the
    /// service and aggregates them one by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Span tags every matching span must carry, values as templates. `error: "true"` also
    /// matches spans whose status is Error.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Template of the window searched, ending now (a duration such as `1m`).
    pub look_back: String,
    /// The most recent traces searched (Jaeger's `num_traces`).
    pub limit: u32,
    /// How many sample traces are summarised for the worker.
    pub samples: u32,
}

/// A [`TraceQuery`] rendered for one resource: what is sent to Jaeger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSearch {
    /// Service name.
    pub service: String,
    /// Operation name, when the query names one.
    pub operation: Option<String>,
    /// Tags each matching span carries.
    pub tags: BTreeMap<String, String>,
    /// Window ending now.
    pub look_back: Duration,
    /// Traces searched.
    pub limit: u32,
    /// Samples returned.
    pub samples: u32,
}

impl fmt::Display for TraceSearch {
    /// The search in one line, as workers see it in `TraceResult.query`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service={}", self.service)?;
        if let Some(op) = &self.operation {
            write!(f, " operation={op:?}")?;
        }
        for (k, v) in &self.tags {
            write!(f, " {k}={v}")?;
        }
        write!(
            f,
            " lookBack={} limit={}",
            humantime::format_duration(self.look_back),
            self.limit
        )
    }
}

impl TraceQuery {
    /// Every template of the query, with the field it sits in.
    pub fn templates(&self) -> impl Iterator<Item = (String, &str)> {
        [
            ("service".to_owned(), self.service.as_str()),
            ("lookBack".to_owned(), self.look_back.as_str()),
        ]
        .into_iter()
        .chain(
            self.operation
                .iter()
                .map(|o| ("operation".to_owned(), o.as_str())),
        )
        .chain(
            self.tags
                .iter()
                .map(|(k, v)| (format!("tags.{k}"), v.as_str())),
        )
    }

    /// The search to send: each of `vars` rendered against `object`, then every template of
    /// the query against `object` and those vars (values inserted as they are).
    ///
    /// # Errors
    ///
    /// A sentence naming the field whose template failed, or a `lookBack` that did not render
    /// to a duration, or an empty service.
    pub fn render(
        &self,
        object: &Value,
        vars: &BTreeMap<String, String>,
    ) -> Result<TraceSearch, String> {
        let base = Scope::new(object);
        let mut bound = BTreeMap::new();
        for (name, value) in vars {
            let v = template::render(value, &base, Escape::None)
                .map_err(|e| format!("vars.{name}: {e}"))?;
            bound.insert(name.clone(), v);
        }
        let scope = base.with_vars(bound);
        let render = |field: &str, text: &str| {
            template::render(text, &scope, Escape::None).map_err(|e| format!("{field}: {e}"))
        };
        let service = render("service", &self.service)?;
        if service.trim().is_empty() {
            return Err("service: rendered empty".to_owned());
        }
        let operation = self
            .operation
            .as_deref()
            .map(|o| render("operation", o))
            .transpose()?
            .filter(|o| !o.is_empty());
        let mut tags = BTreeMap::new();
        for (k, v) in &self.tags {
            tags.insert(k.clone(), render(&format!("tags.{k}"), v)?);
        }
        let look_back = render("lookBack", &self.look_back)?;
        let look_back = duration::parse(&look_back).map_err(|e| format!("lookBack: {e}"))?;
        Ok(TraceSearch {
            service,
            operation,
            tags,
            look_back,
            limit: self.limit,
            samples: self.samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> TraceQuery {
        TraceQuery {
            name: "spans".into(),
            service: "{{ workload }}".into(),
            operation: Some("{{ spec.op }}".into()),
            tags: BTreeMap::from([("http.status_code".into(), "{{ spec.code }}".into())]),
            look_back: "{{ spec.window }}".into(),
            limit: 10,
            samples: 2,
        }
    }

    #[test]
    fn renders_every_field_or_names_the_one_that_failed() {
        let vars = BTreeMap::from([("workload".into(), "{{ name }}-canary".into())]);
        let object = serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"op": "GET /", "code": 503, "window": "30s"},
        });
        let s = query().render(&object, &vars).unwrap();
        assert_eq!(s.service, "web-canary");
        assert_eq!(s.operation.as_deref(), Some("GET /"));
        assert_eq!(s.tags["http.status_code"], "503");
        assert_eq!(s.look_back, Duration::from_secs(30));
        assert_eq!(
            s.to_string(),
            r#"service=web-canary operation="GET /" http.status_code=503 lookBack=30s limit=10"#
        );

        let cases = [
            (
                serde_json::json!({"metadata": {"name": "web"}, "spec": {"code": 1, "window": "1m"}}),
                "operation: `spec.op` is not set",
            ),
            (
                serde_json::json!({"metadata": {"name": "web"}, "spec": {"op": "x", "code": 1, "window": "soon"}}),
                "lookBack: `soon` is not a duration",
            ),
            (
                serde_json::json!({"spec": {"op": "x", "code": 1, "window": "1m"}}),
                "vars.workload: `name` is not set",
            ),
        ];
        for (object, want) in cases {
            let err = query().render(&object, &vars).unwrap_err();
            assert!(err.starts_with(want), "{err} (want {want})");
        }
    }
}
