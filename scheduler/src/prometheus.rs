//! A small Prometheus HTTP API client: instant and range queries, typed results, "no data" and
//! NaN kept explicit.
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use autopilot_worker_client::MetricInput;

/// A Prometheus server reached over HTTP.
#[derive(Clone, Debug)]
pub struct Prometheus {
    base: String,
    timeout: Duration,
    client: Client<HttpConnector, Empty<bytes::Bytes>>,
}

/// Percent-encodes `s` for a URL query value (RFC 3986 unreserved characters stay).
pub(crate) fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

impl Prometheus {
    /// A client for `url` (for example `http://prometheus.istio-system:9090`).
    pub fn new(url: &str, timeout: Duration) -> Self {
        Prometheus {
            base: url.trim_end_matches('/').to_string(),
            timeout,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Runs `promql` as an instant query, or as a range query ending now when `range` is set.
    /// Never fails: errors are carried in the result for the worker to see.
    pub async fn query(
        &self,
        promql: &str,
        range: Option<&autopilot_model::QueryRange>,
    ) -> MetricInput {
        let now = SystemTime::now();
        let url = match range {
            None => format!(
                "{}/api/v1/query?query={}&time={:.3}",
                self.base,
                encode_query_value(promql),
                unix_seconds(now)
            ),
            Some(r) => format!(
                "{}/api/v1/query_range?query={}&start={:.3}&end={:.3}&step={}",
                self.base,
                encode_query_value(promql),
                unix_seconds(now - r.duration),
                unix_seconds(now),
                r.step.as_secs_f64().max(0.001),
            ),
        };
        let mut result = match tokio::time::timeout(self.timeout, self.get(&url)).await {
            Err(_) => Err(format!(
                "Prometheus did not answer within {}",
                humantime::format_duration(self.timeout)
            )),
            Ok(r) => r,
        }
        .and_then(|body| parse_response(&body))
        .unwrap_or_else(|error| MetricInput {
            error: Some(error),
            ..Default::default()
        });
        result.query = promql.to_string();
        result
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("bad Prometheus URL {url}: {e}"))?;
        let resp =
            self.client.get(uri).await.map_err(|e| {
                format!("querying Prometheus at {}: {}", self.base, with_causes(&e))
            })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading Prometheus response: {e}"))?
            .to_bytes()
            .to_vec();
        if !status.is_success() && status.as_u16() != 400 && status.as_u16() != 422 {
            return Err(format!(
                "Prometheus answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body)
    }
}

/// `error` and every cause under it, so that the reason stays visible ("client error (Connect):
/// dns error: failed to lookup address information: Name or service not known" rather than
/// "client error (Connect)").
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

fn sample(v: &Value) -> Option<(i64, f64)> {
    let arr = v.as_array()?;
    let ts = arr.first()?.as_f64()?;
    let raw = arr.get(1)?.as_str()?;
    let value = match raw {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().ok()?,
    };
    Some(((ts * 1000.0).round() as i64, value))
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.get("metric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a Prometheus API response body into a typed result.
pub fn parse_response(body: &[u8]) -> Result<MetricInput, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("Prometheus answered non-JSON: {e}"))?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        let kind = v
            .get("errorType")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(format!("Prometheus {kind}: {msg}"));
    }
    let data = v.get("data").ok_or("Prometheus response without data")?;
    let result_type = data
        .get("resultType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let result = data.get("result").cloned().unwrap_or(Value::Null);
    let series = match result_type.as_str() {
        "scalar" => sample(&result)
            .map(|s| vec![(BTreeMap::new(), vec![s])])
            .unwrap_or_default(),
        "vector" => result
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| Some((labels(e), vec![sample(e.get("value")?)?])))
                    .collect()
            })
            .unwrap_or_default(),
        "matrix" => result
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        let samples = e
                            .get("values")
                            .and_then(Value::as_array)
                            .map(|vs| vs.iter().filter_map(sample).collect())
                            .unwrap_or_default();
                        (labels(e), samples)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        other => return Err(format!("unsupported Prometheus result type {other:?}")),
    };
    let no_data = series
        .iter()
        .all(|(_, s): &(BTreeMap<String, String>, Vec<(i64, f64)>)| s.is_empty());
    Ok(MetricInput {
        query: String::new(),
        result_type,
        series,
        no_data,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_typed() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000.5,"0.99"]},{"metric":{"pod":"b"},"value":[1700000000.5,"NaN"]}]}}"#;
        let r = parse_response(vector).unwrap();
        assert_eq!(r.result_type, "vector");
        assert!(!r.no_data);
        assert_eq!(r.series[0].0["pod"], "a");
        assert_eq!(r.series[0].1, vec![(1_700_000_000_500, 0.99)]);
        assert!(r.series[1].1[0].1.is_nan());

        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse_response(empty).unwrap().no_data);

        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"+Inf"]}}"#;
        let r = parse_response(scalar).unwrap();
        assert_eq!(r.series[0].1[0], (1_700_000_000_000, f64::INFINITY));

        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#;
        assert_eq!(parse_response(matrix).unwrap().series[0].1.len(), 2);

        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        assert_eq!(
            parse_response(bad).unwrap_err(),
            "Prometheus bad_data: parse error at char 3"
        );
    }

    #[tokio::test]
    async fn an_unresolvable_host_keeps_the_dns_cause() {
        // `.invalid` never resolves (RFC 6761).
        let prometheus = Prometheus::new("http://prometheus.invalid:9090", Duration::from_secs(30));
        let result = prometheus.query("up", None).await;
        let error = result.error.expect("the query fails");
        assert!(
            error.starts_with("querying Prometheus at http://prometheus.invalid:9090: ")
                && error.contains("dns error"),
            "{error}"
        );
        assert_eq!(result.query, "up");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value(r#"up{a="b c"}"#),
            "up%7Ba%3D%22b%20c%22%7D"
        );
    }
}
