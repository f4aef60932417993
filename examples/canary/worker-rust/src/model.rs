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

/// Which kind of route carries the traffic split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Traffic {
    /// An Istio `VirtualService`.
    #[default]
    Istio,
    /// A Gateway API `HTTPRoute` attached to the target's Service.
    Gatewayapi,
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
