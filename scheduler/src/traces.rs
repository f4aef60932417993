//! Trace inputs: a Jaeger client for its `api/v3` HTTP/JSON query API, and the aggregates
//! (count, errors, latency percentiles per operation) and sample traces computed from the
//! spans it returns.
//!
//! # Why HTTP/JSON and not the gRPC `QueryService`
//!
//! Both carry the same OTLP `TracesData`. The HTTP gateway needs no generated code and no
//! vendored `.proto` files (the scheduler already speaks HTTP to Prometheus with the same
//! client), its JSON is OpenTelemetry's standard encoding, and a person can run the very same
//! search with `curl`. What the gateway lacks is the attribute filter; tags are matched here
//! instead, on every span, which aggregation must do anyway: Jaeger filters *traces* (those with
//! one matching span), while aggregates count *spans*.
//!
//! # Guarantees
//!
//! [`Jaeger::search`] never fails: an unreachable, slow or confused Jaeger becomes
//! [`TraceInput::error`], a search that finds nothing becomes [`TraceInput::no_data`], so the
//! worker decides what either means. Transport failures and 5xx answers are retried
//! ([`RETRIES`]) inside the one timeout.
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autopilot_model::TraceSearch;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

pub use autopilot_worker_client::trace::{
    ErrorSpan, MAX_ERROR_SPANS_PER_SAMPLE, SpanStats, TraceInput, TraceSample,
};

/// Extra attempts after a transport failure or a 5xx answer: rides out a restarting query
/// service without stretching the reconcile (all attempts share one timeout).
pub const RETRIES: u32 = 2;
/// Pause before the first retry, doubled before the next.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// OTLP's `STATUS_CODE_ERROR`.
const STATUS_CODE_ERROR: i64 = 2;

/// Why a search failed. Every variant is retryable by the next reconcile (the worker sees the
/// message in [`TraceInput::error`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured URL plus the search does not form a URI.
    #[error("bad Jaeger URL {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No connection, or the connection broke.
    #[error("querying Jaeger at {base}: {source}")]
    Unreachable {
        /// Jaeger's base URL.
        base: String,
        /// The transport error.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The body could not be read.
    #[error("reading Jaeger's answer: {0}")]
    Body(#[source] hyper::Error),
    /// Jaeger answered with an HTTP error.
    #[error("Jaeger answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Jaeger's message, or the body.
        message: String,
    },
    /// All attempts together took longer than the timeout.
    #[error("Jaeger did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The body is not the OTLP JSON of `api/v3`.
    #[error("Jaeger answered something other than OTLP JSON: {0}")]
    NotOtlp(#[source] serde_json::Error),
}

impl Error {
    fn worth_retrying(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Body(_) => true,
            Error::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Jaeger's query service reached over HTTP.
#[derive(Clone, Debug)]
pub struct Jaeger {
    base: String,
    timeout: Duration,
    client: Client<HttpConnector, Empty<bytes::Bytes>>,
}

impl Jaeger {
    /// A client for the query service at `url` (for example `http://jaeger-query:16686`);
    /// `timeout` bounds a whole search, retries included.
    pub fn new(url: &str, timeout: Duration) -> Self {
        Jaeger {
            base: url.trim_end_matches('/').to_string(),
            timeout,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// The `api/v3` URL of `search`, for a window ending at `now`.
    pub fn url(&self, search: &TraceSearch, now: SystemTime) -> String {
        let start = now.checked_sub(search.look_back).unwrap_or(UNIX_EPOCH);
        let mut url = format!(
            "{}/api/v3/traces?query.service_name={}&query.start_time_min={}&query.start_time_max={}&query.num_traces={}",
            self.base,
            crate::prometheus::encode_query_value(&search.service),
            humantime::format_rfc3339_nanos(start),
            humantime::format_rfc3339_nanos(now),
            search.limit,
        );
        if let Some(op) = &search.operation {
            url.push_str("&query.operation_name=");
            url.push_str(&crate::prometheus::encode_query_value(op));
        }
        url
    }

    /// Runs `search` and summarises what it found. Never fails: see the module's guarantees.
    pub async fn search(&self, search: &TraceSearch) -> TraceInput {
        let url = self.url(search, SystemTime::now());
        let fetched = match tokio::time::timeout(self.timeout, self.fetch(&url)).await {
            Err(_) => Err(Error::Timeout(self.timeout)),
            Ok(r) => r,
        };
        let mut result = fetched
            .and_then(|body| match body {
                None => Ok(TraceInput {
                    no_data: true,
                    ..Default::default()
                }),
                Some(body) => summarize(&body, search),
            })
            .unwrap_or_else(|e| TraceInput::failed(String::new(), e.to_string()));
        result.query = search.to_string();
        result
    }

    /// The body Jaeger answers to `url` (see [`Jaeger::url`]), retried as the module says;
    /// `None` when it says it found no traces (404). Not bounded by the timeout: see
    /// [`Jaeger::search`].
    ///
    /// # Errors
    ///
    /// The last attempt's failure.
    pub async fn fetch(&self, url: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut pause = RETRY_PAUSE;
        let mut attempt = 0;
        loop {
            match self.get(url).await {
                Err(e) if attempt < RETRIES && e.worth_retrying() => {
                    tracing::debug!(error = %e, attempt, "Jaeger search failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                other => return other,
            }
        }
    }

    async fn get(&self, url: &str) -> Result<Option<Vec<u8>>, Error> {
        let uri: hyper::Uri =
            url.parse()
                .map_err(|e: hyper::http::uri::InvalidUri| Error::BadUrl {
                    url: self.base.clone(),
                    reason: e.to_string(),
                })?;
        let resp = self
            .client
            .get(uri)
            .await
            .map_err(|source| Error::Unreachable {
                base: self.base.clone(),
                source,
            })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(Error::Body)?
            .to_bytes()
            .to_vec();
        if status.is_success() {
            return Ok(Some(body));
        }
        let message = gateway_message(&body);
        // The gateway answers 404 "No traces found" for an empty search.
        if status.as_u16() == 404 && message.as_deref() == Some("No traces found") {
            return Ok(None);
        }
        Err(Error::Status {
            status: status.as_u16(),
            message: message.unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string()),
        })
    }
}

/// The message of the gateway's error body `{"error": {"httpCode": 404, "message": "..."}}`.
fn gateway_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.pointer("/error/message")?.as_str().map(str::to_owned)
}

/// Condition type: every trace query of the phase could be run (False names each failing query
/// as it was sent to Jaeger, and why). A query that found nothing is not a failure.
pub const TRACES_AVAILABLE: &str = "TracesAvailable";

/// Runs each of `queries` for `object` (its templates rendered with `vars`) and puts the result
/// under the query's name. A query that does not render, or that has no Jaeger to ask, gets
/// the reason as its error: the worker decides what that means.
pub async fn gather(
    jaeger: Option<&Jaeger>,
    queries: &[autopilot_model::TraceQuery],
    vars: &BTreeMap<String, String>,
    object: &serde_json::Value,
    out: &mut BTreeMap<String, TraceInput>,
) {
    for q in queries {
        let result = match q.render(object, vars) {
            Err(e) => TraceInput::failed(
                q.service.clone(),
                format!("rendering trace query {}: {e}", q.name),
            ),
            Ok(search) => match jaeger {
                None => TraceInput::failed(search.to_string(), "no Jaeger configured (jaeger.url)"),
                Some(j) => j.search(&search).await,
            },
        };
        out.insert(q.name.clone(), result);
    }
}

/// The `TracesAvailable` condition for the trace results of a call, `None` when it has none.
pub fn condition(traces: &BTreeMap<String, TraceInput>) -> Option<crate::status::Condition> {
    if traces.is_empty() {
        return None;
    }
    let failed: Vec<String> = traces
        .iter()
        .filter_map(|(k, t)| {
            t.error
                .as_ref()
                .map(|e| format!("trace query {k} ({}): {e}", t.query))
        })
        .collect();
    Some(if failed.is_empty() {
        crate::status::Condition::new(
            TRACES_AVAILABLE,
            true,
            "SearchesSucceeded",
            "every trace query succeeded",
        )
    } else {
        crate::status::Condition::new(TRACES_AVAILABLE, false, "SearchFailed", failed.join("; "))
    })
}

// --- OTLP JSON, as much of it as the summary reads ---

#[derive(Deserialize)]
struct Wrapper {
    #[serde(default)]
    result: Option<TracesData>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TracesData {
    #[serde(default)]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default)]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<OtlpSpan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpSpan {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "number")]
    start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "number")]
    end_time_unix_nano: u64,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

/// OTLP JSON writes 64-bit integers as strings; accept numbers too.
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("not an unsigned integer")),
        serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        serde_json::Value::Null => Ok(0),
        other => Err(serde::de::Error::custom(format!(
            "expected an integer, found {other}"
        ))),
    }
}

/// The text of an OTLP `AnyValue` (`{"stringValue": "x"}`, `{"intValue": "503"}`, ...).
fn any_value_text(v: &serde_json::Value) -> Option<String> {
    let obj = v.as_object()?;
    let (kind, value) = obj.iter().next()?;
    match (kind.as_str(), value) {
        (_, serde_json::Value::String(s)) => Some(s.clone()),
        ("boolValue", serde_json::Value::Bool(b)) => Some(b.to_string()),
        (_, serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// One span, flattened for the summary.
#[derive(Debug)]
struct Span<'a> {
    trace_id: &'a str,
    service: String,
    name: &'a str,
    root: bool,
    start_ns: u64,
    end_ns: u64,
    attributes: HashMap<&'a str, String>,
    resource: &'a HashMap<&'a str, String>,
    error: bool,
    status_message: String,
}

impl Span<'_> {
    fn duration_ms(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e6
    }

    fn tag(&self, key: &str) -> Option<&str> {
        self.attributes
            .get(key)
            .or_else(|| self.resource.get(key))
            .map(String::as_str)
    }

    /// Whether the span carries every tag; `error=true` also matches a span with status Error.
    fn has_tags(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.iter().all(|(k, v)| match (k.as_str(), v.as_str()) {
            ("error", "true") => self.error,
            ("error", "false") => !self.error,
            _ => self.tag(k) == Some(v.as_str()),
        })
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<&str, String> {
    list.iter()
        .filter_map(|kv| Some((kv.key.as_str(), any_value_text(kv.value.as_ref()?)?)))
        .collect()
}

fn is_error_status(code: Option<&serde_json::Value>) -> bool {
    match code {
        Some(serde_json::Value::Number(n)) => n.as_i64() == Some(STATUS_CODE_ERROR),
        Some(serde_json::Value::String(s)) => s == "STATUS_CODE_ERROR",
        _ => false,
    }
}

/// The nearest-rank percentile `q` (0..1] of sorted values; 0 without values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats<'a>(
    service: &str,
    operation: &str,
    spans: impl Iterator<Item = &'a Span<'a>>,
) -> SpanStats {
    let mut durations = Vec::new();
    let mut errors = 0u64;
    for s in spans {
        durations.push(s.duration_ms());
        errors += u64::from(s.error);
    }
    durations.sort_by(f64::total_cmp);
    let count = durations.len() as u64;
    SpanStats {
        service: service.to_owned(),
        operation: operation.to_owned(),
        span_count: count,
        error_count: errors,
        error_ratio: if count == 0 {
            0.0
        } else {
            errors as f64 / count as f64
        },
        p50_ms: percentile(&durations, 0.50),
        p90_ms: percentile(&durations, 0.90),
        p99_ms: percentile(&durations, 0.99),
    }
}

/// Summarises an `api/v3` find-traces answer for `search`: aggregates over the spans of the
/// searched service (and operation) carrying the search's tags, and up to `search.samples`
/// traces holding such spans.
///
/// # Errors
///
/// [`Error::NotOtlp`] when the body is not the gateway's OTLP JSON.
pub fn summarize(body: &[u8], search: &TraceSearch) -> Result<TraceInput, Error> {
    let wrapper: Wrapper = serde_json::from_slice(body).map_err(Error::NotOtlp)?;
    let data = wrapper.result.unwrap_or_default();
    let resources: Vec<HashMap<&str, String>> = data
        .resource_spans
        .iter()
        .map(|rs| {
            rs.resource
                .as_ref()
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default()
        })
        .collect();
    let mut spans: Vec<Span<'_>> = Vec::new();
    for (rs, resource) in data.resource_spans.iter().zip(&resources) {
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            let attrs = attributes(&span.attributes);
            let error = is_error_status(span.status.as_ref().and_then(|s| s.code.as_ref()))
                || attrs.get("error").map(String::as_str) == Some("true");
            let status_message = span
                .status
                .as_ref()
                .map(|s| s.message.clone())
                .filter(|m| !m.is_empty())
                .or_else(|| attrs.get("exception.message").cloned())
                .unwrap_or_default();
            spans.push(Span {
                trace_id: &span.trace_id,
                service: service.clone(),
                name: &span.name,
                root: span.parent_span_id.is_empty(),
                start_ns: span.start_time_unix_nano,
                end_ns: span.end_time_unix_nano,
                attributes: attrs,
                resource,
                error,
                status_message,
            });
        }
    }
    let matching: Vec<&Span<'_>> = spans
        .iter()
        .filter(|s| {
            s.service == search.service
                && search.operation.as_deref().is_none_or(|op| s.name == op)
                && s.has_tags(&search.tags)
        })
        .collect();
    if matching.is_empty() {
        return Ok(TraceInput {
            no_data: true,
            ..Default::default()
        });
    }
    // The contract leaves service and operation empty in the total.
    let total = stats("", "", matching.iter().copied());
    let mut by_operation: BTreeMap<&str, Vec<&Span<'_>>> = BTreeMap::new();
    for s in &matching {
        by_operation.entry(s.name).or_default().push(s);
    }
    let operations = by_operation
        .iter()
        .map(|(op, spans)| stats(&search.service, op, spans.iter().copied()))
        .collect();
    Ok(TraceInput {
        query: String::new(),
        no_data: false,
        error: None,
        total,
        operations,
        samples: samples(&spans, &matching, search.samples as usize),
    })
}

fn samples(spans: &[Span<'_>], matching: &[&Span<'_>], wanted: usize) -> Vec<TraceSample> {
    let mut by_trace: BTreeMap<&str, Vec<&Span<'_>>> = BTreeMap::new();
    for s in spans {
        by_trace.entry(s.trace_id).or_default().push(s);
    }
    let mut wanted_ids: Vec<&str> = matching.iter().map(|s| s.trace_id).collect();
    wanted_ids.sort_unstable();
    wanted_ids.dedup();
    let mut out: Vec<TraceSample> = wanted_ids
        .into_iter()
        .filter_map(|id| {
            let mut trace = by_trace.get(id)?.clone();
            trace.sort_by_key(|s| s.start_ns);
            let start = trace.first()?.start_ns;
            let end = trace.iter().map(|s| s.end_ns).max().unwrap_or(start);
            let root = trace.iter().find(|s| s.root).unwrap_or(&trace[0]);
            Some(TraceSample {
                trace_id: id.to_owned(),
                root_service: root.service.clone(),
                root_operation: root.name.to_owned(),
                duration_ms: end.saturating_sub(start) as f64 / 1e6,
                start_unix_ms: i64::try_from(start / 1_000_000).unwrap_or(i64::MAX),
                error_spans: trace
                    .iter()
                    .filter(|s| s.error)
                    .take(MAX_ERROR_SPANS_PER_SAMPLE)
                    .map(|s| ErrorSpan {
                        service: s.service.clone(),
                        operation: s.name.to_owned(),
                        status_message: s.status_message.clone(),
                    })
                    .collect(),
            })
        })
        .collect();
    // Failed traces first, then the slowest (the contract's order), then by id for stability.
    out.sort_by(|a, b| {
        a.error_spans
            .is_empty()
            .cmp(&b.error_spans.is_empty())
            .then(b.duration_ms.total_cmp(&a.duration_ms))
            .then(a.trace_id.cmp(&b.trace_id))
    });
    out.truncate(wanted);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(operation: Option<&str>, tags: &[(&str, &str)]) -> TraceSearch {
        TraceSearch {
            service: "web-canary".into(),
            operation: operation.map(str::to_owned),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            look_back: Duration::from_secs(60),
            limit: 20,
            samples: 2,
        }
    }

    /// A span as the gateway writes it: times as strings, ids in hex, enums as numbers.
    fn span(
        trace: u8,
        id: u8,
        parent: Option<u8>,
        name: &str,
        start_ms: u64,
        ms: u64,
        error: Option<&str>,
    ) -> serde_json::Value {
        let start = (1_700_000_000_000 + start_ms) * 1_000_000;
        let mut s = serde_json::json!({
            "traceId": format!("{trace:032x}"),
            "spanId": format!("{id:016x}"),
            "name": name,
            "kind": 2,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + ms * 1_000_000).to_string(),
            "attributes": [{"key": "http.status_code", "value": {"intValue": if error.is_some() { "503" } else { "200" }}}],
            "status": {},
        });
        if let Some(p) = parent {
            s["parentSpanId"] = format!("{p:016x}").into();
        }
        if let Some(msg) = error {
            s["status"] = serde_json::json!({"code": 2, "message": msg});
        }
        s
    }

    fn body(services: &[(&str, Vec<serde_json::Value>)]) -> Vec<u8> {
        let resource_spans: Vec<_> = services
            .iter()
            .map(|(service, spans)| {
                serde_json::json!({
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"scope": {}, "spans": spans}],
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({"result": {"resourceSpans": resource_spans}}))
            .unwrap()
    }

    fn canary_traces() -> Vec<u8> {
        let mut web = Vec::new();
        // Ten traces: GET /checkout (root, 10+i ms) calling charge (5 ms); charge fails in 7..=9.
        for t in 0..10u8 {
            let failing = t >= 7;
            web.push(span(
                t,
                1,
                None,
                "GET /checkout",
                u64::from(t) * 1000,
                10 + u64::from(t),
                None,
            ));
            web.push(span(
                t,
                2,
                Some(1),
                "charge",
                u64::from(t) * 1000 + 1,
                5,
                failing.then_some("card declined"),
            ));
        }
        let other = vec![span(99, 1, None, "GET /", 0, 1, Some("elsewhere"))];
        body(&[("web-canary", web), ("web-primary", other)])
    }

    #[test]
    fn aggregates_per_operation_with_nearest_rank_percentiles() {
        let r = summarize(&canary_traces(), &search(None, &[])).unwrap();
        assert!(!r.no_data);
        assert_eq!(r.total.span_count, 20);
        assert_eq!(r.total.error_count, 3);
        assert!((r.total.error_ratio - 0.15).abs() < 1e-9);
        let ops: Vec<(&str, u64, u64)> = r
            .operations
            .iter()
            .map(|o| (o.operation.as_str(), o.span_count, o.error_count))
            .collect();
        assert_eq!(ops, [("GET /checkout", 10, 0), ("charge", 10, 3)]);
        let root = &r.operations[0];
        assert_eq!((root.p50_ms, root.p90_ms, root.p99_ms), (14.0, 18.0, 19.0));
        assert_eq!(r.operations[1].service, "web-canary");
    }

    #[test]
    fn samples_put_failed_traces_first_and_name_their_error_spans() {
        let r = summarize(&canary_traces(), &search(None, &[])).unwrap();
        assert_eq!(r.samples.len(), 2);
        let first = &r.samples[0];
        assert_eq!(first.trace_id, format!("{:032x}", 9));
        assert_eq!(
            (first.root_service.as_str(), first.root_operation.as_str()),
            ("web-canary", "GET /checkout")
        );
        assert_eq!(first.duration_ms, 19.0);
        assert_eq!(first.start_unix_ms, 1_700_000_009_000);
        assert_eq!(
            first.error_spans,
            [ErrorSpan {
                service: "web-canary".into(),
                operation: "charge".into(),
                status_message: "card declined".into()
            }]
        );
        assert_eq!(r.samples[1].trace_id, format!("{:032x}", 8));
    }

    #[test]
    fn operation_and_tags_select_spans() {
        let r = summarize(&canary_traces(), &search(Some("charge"), &[])).unwrap();
        assert_eq!((r.total.operation.as_str(), r.total.span_count), ("", 10));
        assert_eq!(r.operations[0].operation, "charge");
        assert_eq!(r.operations.len(), 1);

        let errors = summarize(&canary_traces(), &search(None, &[("error", "true")])).unwrap();
        assert_eq!((errors.total.span_count, errors.total.error_count), (3, 3));

        let by_code = summarize(
            &canary_traces(),
            &search(None, &[("http.status_code", "503")]),
        )
        .unwrap();
        assert_eq!(by_code.total.span_count, 3);

        let none = summarize(&canary_traces(), &search(Some("refund"), &[])).unwrap();
        assert!(none.no_data);
        assert!(none.operations.is_empty() && none.samples.is_empty());
    }

    #[test]
    fn empty_and_malformed_answers() {
        let empty = summarize(br#"{"result": {}}"#, &search(None, &[])).unwrap();
        assert!(empty.no_data);
        let err = summarize(b"<html>", &search(None, &[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Jaeger answered something other than OTLP JSON"),
            "{err}"
        );
        assert_eq!(
            gateway_message(br#"{"error":{"httpCode":404,"message":"No traces found"}}"#)
                .as_deref(),
            Some("No traces found")
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            (
                percentile(&v, 0.5),
                percentile(&v, 0.9),
                percentile(&v, 0.99)
            ),
            (50.0, 90.0, 99.0)
        );
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn url_names_the_search() {
        let j = Jaeger::new("http://127.0.0.1:16686/", Duration::from_secs(1));
        let url = j.url(
            &search(Some("GET /x"), &[]),
            UNIX_EPOCH + Duration::from_secs(120),
        );
        assert_eq!(
            url,
            "http://127.0.0.1:16686/api/v3/traces?query.service_name=web-canary\
             &query.start_time_min=1970-01-01T00:01:00.000000000Z\
             &query.start_time_max=1970-01-01T00:02:00.000000000Z&query.num_traces=20\
             &query.operation_name=GET%20%2Fx"
        );
    }

    #[tokio::test]
    async fn gathering_names_what_could_not_be_searched() {
        let query = |service: &str| autopilot_model::TraceQuery {
            name: "spans".into(),
            service: service.into(),
            operation: None,
            tags: BTreeMap::new(),
            look_back: "1m".into(),
            limit: 10,
            samples: 1,
        };
        let object = serde_json::json!({"metadata": {"name": "web"}});
        let mut out = BTreeMap::new();
        gather(
            None,
            &[query("{{ name }}-canary")],
            &BTreeMap::new(),
            &object,
            &mut out,
        )
        .await;
        assert_eq!(
            out["spans"].query,
            "service=web-canary lookBack=1m limit=10"
        );
        assert_eq!(
            out["spans"].error.as_deref(),
            Some("no Jaeger configured (jaeger.url)")
        );
        let c = condition(&out).unwrap();
        assert_eq!(
            (c.type_.as_str(), c.status.as_str()),
            (TRACES_AVAILABLE, "False")
        );
        assert_eq!(
            c.message,
            "trace query spans (service=web-canary lookBack=1m limit=10): no Jaeger configured (jaeger.url)"
        );

        gather(
            None,
            &[query("{{ spec.missing }}")],
            &BTreeMap::new(),
            &object,
            &mut out,
        )
        .await;
        let error = out["spans"].error.clone().unwrap();
        assert!(
            error.starts_with("rendering trace query spans: service:"),
            "{error}"
        );

        out.insert(
            "spans".into(),
            TraceInput {
                no_data: true,
                ..Default::default()
            },
        );
        assert_eq!(condition(&out).unwrap().status, "True");
        assert!(condition(&BTreeMap::new()).is_none());
    }

    #[tokio::test]
    async fn an_unreachable_jaeger_is_an_error_in_the_result() {
        // A port nothing listens on: bind, then drop.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let j = Jaeger::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
        let r = j.search(&search(None, &[])).await;
        let error = r.error.expect("an error");
        assert!(
            error.starts_with(&format!("querying Jaeger at http://127.0.0.1:{port}")),
            "{error}"
        );
        assert_eq!(r.query, "service=web-canary lookBack=1m limit=20");
        assert!(!r.no_data);
    }
}
