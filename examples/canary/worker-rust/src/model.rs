//! The `CanaryDeployment` spec and statusInfo, as declared in `autopilot.yaml`.
use serde::{Deserialize, Serialize};

/// How many releases [`Info::history`] keeps.
pub const HISTORY_LIMIT: usize = 10;

/// `.spec` of a `CanaryDeployment`. Defaults mirror the CRD's, so a test may leave fields out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    /// The Deployment whose pod template is released.
    pub target_ref: String,
    /// Port of the Services and the route.
    pub port: u16,
    /// Lowest acceptable fraction of non-5xx responses.
    pub success_threshold: f64,
    /// Highest acceptable p99 latency in milliseconds.
    pub max_latency_ms: f64,
    /// Time between checks, such as `1m`.
    pub interval: String,
    /// Measurement window of the queries, such as `1m`.
    pub analysis_period: String,
    /// Percent added to the canary per healthy check.
    pub step_weight: u32,
    /// Highest canary weight before promotion.
    pub max_weight: u32,
    /// Failed checks that roll back.
    pub failure_limit: u32,
    /// What a check without data means.
    pub no_data: NoData,
    /// The traffic provider.
    pub traffic: Traffic,
    /// Pauses the analysis: no check, no step, no new revision started.
    pub suspend: bool,
    /// Promotes a new revision without checking its metrics.
    pub skip_analysis: bool,
    /// Which checks judge the canary: Prometheus metrics, Jaeger spans, or both.
    pub checks: Checks,
    /// Highest acceptable fraction of failed spans of any canary operation (trace check).
    pub max_span_error_ratio: f64,
    /// How the canary gets traffic.
    pub strategy: Strategy,
    /// Healthy checks that promote under `abTesting` and `blueGreen` (after the mirror checks).
    pub iterations: u32,
    /// `abTesting`: requests matching any entry go to the canary.
    #[serde(rename = "match")]
    pub matches: Vec<Match>,
    /// Mirroring before any real traffic, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Mirror>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            target_ref: String::new(),
            port: 80,
            success_threshold: 0.99,
            max_latency_ms: 500.0,
            interval: "1m".into(),
            analysis_period: "1m".into(),
            step_weight: 10,
            max_weight: 50,
            failure_limit: 3,
            no_data: NoData::Hold,
            traffic: Traffic::Istio,
            suspend: false,
            skip_analysis: false,
            checks: Checks::Metrics,
            max_span_error_ratio: 0.01,
            strategy: Strategy::Canary,
            iterations: 5,
            matches: Vec::new(),
            mirror: None,
        }
    }
}

/// What a check whose queries return no data (or NaN) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoData {
    /// A failed check.
    Fail,
    /// No step and no failure: wait for data.
    #[default]
    Hold,
    /// A healthy check.
    Pass,
}

/// Which checks judge the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checks {
    /// Success rate and p99 latency from Prometheus.
    #[default]
    Metrics,
    /// Error-span ratio and p99 per operation from Jaeger.
    Traces,
    /// Both: either failing fails the check.
    Both,
}

/// Which object carries the traffic split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Traffic {
    /// An Istio `VirtualService`.
    #[default]
    Istio,
    /// A Gateway API `HTTPRoute` attached to the target's Service.
    Gatewayapi,
    /// Linkerd: a Gateway API `HTTPRoute` (Linkerd's way of splitting traffic), judged on
    /// Linkerd's proxy metrics (`response_total`, `response_latency_ms`).
    Linkerd,
    /// No mesh: the selector of the target's Service (blue/green only).
    Kubernetes,
}

/// How the canary gets traffic during the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Weight steps of `stepWeight` up to `maxWeight`.
    #[default]
    Canary,
    /// The requests matching `spec.match`.
    AbTesting,
    /// None (checked through its own Service); all of it at promotion.
    BlueGreen,
}

/// One `spec.match` entry: a header or a cookie, and its exact value or a regular expression.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Match {
    /// An HTTP header name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A cookie name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// The exact value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// A regular expression (RE2) the value matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// `spec.mirror`: a copy of the traffic before any real traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Mirror {
    /// Percent of the requests copied to the canary.
    pub percentage: u32,
    /// Healthy checks under mirroring before real traffic.
    pub iterations: u32,
}

impl Default for Mirror {
    fn default() -> Self {
        Mirror {
            percentage: 100,
            iterations: 1,
        }
    }
}

/// `.status.statusInfo` of a `CanaryDeployment`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Info {
    /// Percent of traffic routed to the canary.
    pub current_weight: u32,
    /// Checks made in the current analysis.
    pub iteration: u32,
    /// Failed checks in the current analysis.
    pub failed_checks: u32,
    /// Healthy checks in the current analysis.
    pub passed_checks: u32,
    /// Pod template hash of the revision last analysed.
    pub canary_revision: String,
    /// Pod template hash the primary serves.
    pub primary_revision: String,
    /// Whether the release was suspended when last handled (so `Suspended` is reported once).
    pub suspended: bool,
    /// When the last check ran (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<String>,
    /// The resolved queries of the last check.
    pub last_queries: Vec<QueryResult>,
    /// The canary operation the last failed trace check blamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_operation: Option<String>,
    /// The last [`HISTORY_LIMIT`] releases, newest last.
    pub history: Vec<Release>,
    /// What the operator is doing.
    pub message: String,
}

/// One query of a check: the PromQL as sent and what it returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryResult {
    /// `successRate` or `latencyP99`.
    pub name: String,
    /// The PromQL as sent to Prometheus.
    pub query: String,
    /// `ok`, `noData`, `nan` or `error`.
    pub result: String,
    /// The value when `result` is `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// A finished release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Release {
    /// Its pod template hash.
    pub revision: String,
    /// `promoted` or `failed`.
    pub outcome: String,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Why.
    pub message: String,
}

impl Info {
    /// Appends `release` to the history, dropping the oldest beyond [`HISTORY_LIMIT`].
    pub fn record(&mut self, release: Release) {
        self.history.push(release);
        let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_last_ten() {
        let mut info = Info::default();
        for i in 0..12 {
            info.record(Release {
                revision: i.to_string(),
                ..Release::default()
            });
        }
        assert_eq!(info.history.len(), HISTORY_LIMIT);
        assert_eq!(info.history[0].revision, "2");
        assert_eq!(info.history[9].revision, "11");
    }

    #[test]
    fn spec_defaults_match_the_crd() {
        let spec: Spec = serde_json::from_value(serde_json::json!({"targetRef": "web"})).unwrap();
        assert_eq!(spec.no_data, NoData::Hold);
        assert_eq!(spec.traffic, Traffic::Istio);
        let spec: Spec =
            serde_json::from_value(serde_json::json!({"noData": "fail", "traffic": "gatewayapi"}))
                .unwrap();
        assert_eq!(
            (spec.no_data, spec.traffic),
            (NoData::Fail, Traffic::Gatewayapi)
        );
    }
}
