//! A traffic simulator exporting the request metrics of Istio (`istio_requests_total`,
//! `istio_request_duration_milliseconds`) and of Linkerd's proxy (`response_total`,
//! `response_latency_ms`) for the workloads a test names, at the request rate, error rate and
//! latency the test sets.
//!
//! Counters grow with wall-clock time at the set rate, as a sidecar's would, so `rate()` over
//! them gives back the rate that was set. A workload never set has no series at all, so its
//! queries return no data; [`TrafficSimulator::stop`] keeps the series but stops their growth,
//! so a success-rate ratio becomes NaN.
//!
//! [`TrafficSimulator::emit_spans`] also sends the same requests as OTLP traces (see
//! [`crate::spans`]), where a downstream call can fail without the mesh seeing it.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Upper bounds (ms) of the `istio_request_duration_milliseconds` buckets, as Istio's.
const BUCKETS_MS: &[f64] = &[
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// Upper bounds (ms) of Linkerd's `response_latency_ms` buckets, as its proxy's.
const LINKERD_BUCKETS_MS: &[f64] = &[
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0,
    1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0,
];

/// The traffic one workload receives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Requests per second.
    pub rps: f64,
    /// Fraction (0..1) of requests answered 503.
    pub error_rate: f64,
    /// Latency of every request, in milliseconds.
    pub latency_ms: f64,
    /// Fraction (0..1) of requests whose downstream call ([`crate::spans::DOWNSTREAM_OPERATION`])
    /// fails while the request itself still succeeds: visible in traces only.
    pub downstream_error_rate: f64,
}

impl Traffic {
    /// 20 requests per second, no errors, `latency_ms` each.
    pub fn healthy(latency_ms: f64) -> Self {
        Traffic {
            rps: 20.0,
            error_rate: 0.0,
            latency_ms,
            downstream_error_rate: 0.0,
        }
    }

    /// 20 requests per second, `error_rate` of them failing, 10 ms each.
    pub fn failing(error_rate: f64) -> Self {
        Traffic {
            rps: 20.0,
            error_rate,
            latency_ms: 10.0,
            downstream_error_rate: 0.0,
        }
    }

    /// The same traffic, with `rate` of the downstream calls failing (seen in traces only).
    #[must_use]
    pub fn with_downstream_errors(mut self, rate: f64) -> Self {
        self.downstream_error_rate = rate;
        self
    }
}

#[derive(Debug, Default)]
struct Counters {
    traffic: Option<Traffic>,
    ok: f64,
    errors: f64,
    /// Per bucket (not cumulative), then the +Inf overflow.
    buckets: Vec<f64>,
    /// The same over Linkerd's bucket bounds.
    linkerd_buckets: Vec<f64>,
    sum_ms: f64,
}

#[derive(Debug)]
struct State {
    /// Keyed by (namespace, workload).
    workloads: BTreeMap<(String, String), Counters>,
    advanced: Instant,
}

impl State {
    fn advance(&mut self) {
        let now = Instant::now();
        let seconds = now.duration_since(self.advanced).as_secs_f64();
        self.advanced = now;
        for c in self.workloads.values_mut() {
            let Some(t) = c.traffic else { continue };
            let requests = t.rps * seconds;
            c.errors += requests * t.error_rate;
            c.ok += requests * (1.0 - t.error_rate);
            c.sum_ms += requests * t.latency_ms;
            for (bounds, counts) in [
                (BUCKETS_MS, &mut c.buckets),
                (LINKERD_BUCKETS_MS, &mut c.linkerd_buckets),
            ] {
                let bucket = bounds
                    .iter()
                    .position(|le| t.latency_ms <= *le)
                    .unwrap_or(bounds.len());
                counts[bucket] += requests;
            }
        }
    }

    fn exposition(&mut self) -> String {
        self.advance();
        let mut requests = String::from("# TYPE istio_requests_total counter\n");
        let mut durations = String::from("# TYPE istio_request_duration_milliseconds histogram\n");
        for ((namespace, workload), c) in &self.workloads {
            let labels = format!(
                r#"reporter="destination",destination_workload="{workload}",destination_workload_namespace="{namespace}""#
            );
            for (code, count) in [("200", c.ok), ("503", c.errors)] {
                requests.push_str(&format!(
                    "istio_requests_total{{{labels},response_code=\"{code}\"}} {count}\n"
                ));
            }
            let mut cumulative = 0.0;
            for (i, count) in c.buckets.iter().enumerate() {
                cumulative += count;
                let le = BUCKETS_MS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), ToString::to_string);
                durations.push_str(&format!(
                    "istio_request_duration_milliseconds_bucket{{{labels},le=\"{le}\"}} {cumulative}\n"
                ));
            }
            durations.push_str(&format!(
                "istio_request_duration_milliseconds_sum{{{labels}}} {}\nistio_request_duration_milliseconds_count{{{labels}}} {cumulative}\n",
                c.sum_ms
            ));
        }
        requests + &durations + &self.linkerd_exposition()
    }

    /// Linkerd's inbound proxy metrics of every workload: `response_total` by classification
    /// and status code, and the `response_latency_ms` histogram.
    fn linkerd_exposition(&self) -> String {
        let mut responses = String::from("# TYPE response_total counter\n");
        let mut latency = String::from("# TYPE response_latency_ms histogram\n");
        for ((namespace, workload), c) in &self.workloads {
            let labels = format!(
                r#"direction="inbound",namespace="{namespace}",deployment="{workload}",tls="true""#
            );
            for (class, code, count) in [("success", "200", c.ok), ("failure", "503", c.errors)] {
                responses.push_str(&format!(
                    "response_total{{{labels},classification=\"{class}\",status_code=\"{code}\"}} {count}\n"
                ));
            }
            let mut cumulative = 0.0;
            for (i, count) in c.linkerd_buckets.iter().enumerate() {
                cumulative += count;
                let le = LINKERD_BUCKETS_MS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), ToString::to_string);
                latency.push_str(&format!(
                    "response_latency_ms_bucket{{{labels},le=\"{le}\"}} {cumulative}\n"
                ));
            }
            latency.push_str(&format!(
                "response_latency_ms_sum{{{labels}}} {}\nresponse_latency_ms_count{{{labels}}} {cumulative}\n",
                c.sum_ms
            ));
        }
        responses + &latency
    }
}

/// The simulator's `/metrics` endpoint on 127.0.0.1; serves until the test's runtime ends.
#[derive(Debug, Clone)]
pub struct TrafficSimulator {
    /// `127.0.0.1:<port>`, for Prometheus to scrape.
    pub addr: String,
    state: Arc<Mutex<State>>,
}

impl TrafficSimulator {
    /// Starts serving, with no workloads yet.
    pub async fn serve() -> TrafficSimulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the traffic simulator");
        let addr = listener.local_addr().expect("its address").to_string();
        let state = Arc::new(Mutex::new(State {
            workloads: BTreeMap::new(),
            advanced: Instant::now(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = shared.lock().expect("simulator state").exposition();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        TrafficSimulator { addr, state }
    }

    /// From now on, `workload` in `namespace` receives `traffic`.
    pub fn set(&self, namespace: &str, workload: &str, traffic: Traffic) {
        let mut state = self.state.lock().expect("simulator state");
        state.advance();
        let counters = state
            .workloads
            .entry((namespace.to_string(), workload.to_string()))
            .or_default();
        counters.buckets.resize(BUCKETS_MS.len() + 1, 0.0);
        counters
            .linkerd_buckets
            .resize(LINKERD_BUCKETS_MS.len() + 1, 0.0);
        counters.traffic = Some(traffic);
    }

    /// From now on, `workload` receives no requests (its counters stay, frozen).
    pub fn stop(&self, namespace: &str, workload: &str) {
        let mut state = self.state.lock().expect("simulator state");
        state.advance();
        if let Some(c) = state
            .workloads
            .get_mut(&(namespace.to_string(), workload.to_string()))
        {
            c.traffic = None;
        }
    }

    /// Every workload that receives traffic now, by (namespace, workload).
    pub(crate) fn current(&self) -> Vec<((String, String), Traffic)> {
        let state = self.state.lock().expect("simulator state");
        state
            .workloads
            .iter()
            .filter_map(|(k, c)| Some((k.clone(), c.traffic?)))
            .collect()
    }

    /// The exposition text as the next scrape would see it.
    pub fn exposition(&self) -> String {
        self.state.lock().expect("simulator state").exposition()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exports_istio_series() {
        let sim = TrafficSimulator::serve().await;
        assert_eq!(
            sim.exposition().lines().count(),
            4,
            "only TYPE lines without workloads"
        );
        sim.set("shop", "web-canary", Traffic::healthy(30.0));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let text = sim.exposition();
        assert!(text.contains(r#"istio_requests_total{reporter="destination",destination_workload="web-canary",destination_workload_namespace="shop",response_code="200"}"#), "{text}");
        let bucket = |le: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("le=\"{le}\"")))
                .unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(bucket("25"), 0.0);
        assert!(bucket("50") > 0.0);
        assert_eq!(bucket("50"), bucket("+Inf"));
    }

    #[tokio::test]
    async fn exports_linkerd_series() {
        let sim = TrafficSimulator::serve().await;
        sim.set("shop", "web-canary", Traffic::failing(0.25));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let text = sim.exposition();
        let value = |needle: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle} in {text}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let labels = r#"direction="inbound",namespace="shop",deployment="web-canary",tls="true""#;
        let ok = value(&format!(
            r#"response_total{{{labels},classification="success",status_code="200"}}"#
        ));
        let failed = value(&format!(
            r#"response_total{{{labels},classification="failure",status_code="503"}}"#
        ));
        assert!(ok > 0.0 && failed > 0.0, "{text}");
        assert!((failed / (ok + failed) - 0.25).abs() < 1e-9, "{text}");
        // 10 ms each: in Linkerd's 10 ms bucket, not in its 5 ms one.
        let bucket = |le: &str| {
            value(&format!(
                r#"response_latency_ms_bucket{{{labels},le="{le}"}}"#
            ))
        };
        assert_eq!(bucket("5"), 0.0);
        assert!((bucket("10") - (ok + failed)).abs() < 1e-6, "{text}");
        assert_eq!(bucket("10"), bucket("+Inf"));
    }
}
