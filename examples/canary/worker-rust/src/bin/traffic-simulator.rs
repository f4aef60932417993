//! A traffic simulator for the canary demo: exports Istio's request metrics
//! (`istio_requests_total`, `istio_request_duration_milliseconds_bucket`) for the workloads it
//! is told about, at the rate, error rate and latency it is told.
//!
//! `traffic-simulator 127.0.0.1:9101` serves `GET /metrics` for Prometheus and
//! `GET /set?namespace=N&workload=W&rps=R&errorRate=E&latencyMs=L` to change a workload's
//! traffic (`rps=0` stops it). Counters grow with wall-clock time, so `rate()` gives back the
//! rate that was set.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUCKETS_MS: &[f64] = &[
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

#[derive(Debug, Default)]
struct Workload {
    rps: f64,
    error_rate: f64,
    latency_ms: f64,
    ok: f64,
    errors: f64,
    buckets: Vec<f64>,
    sum_ms: f64,
}

#[derive(Debug)]
struct State {
    workloads: BTreeMap<(String, String), Workload>,
    advanced: Instant,
}

impl State {
    fn advance(&mut self) {
        let now = Instant::now();
        let seconds = now.duration_since(self.advanced).as_secs_f64();
        self.advanced = now;
        for w in self.workloads.values_mut() {
            let requests = w.rps * seconds;
            w.errors += requests * w.error_rate;
            w.ok += requests * (1.0 - w.error_rate);
            w.sum_ms += requests * w.latency_ms;
            let bucket = BUCKETS_MS
                .iter()
                .position(|le| w.latency_ms <= *le)
                .unwrap_or(BUCKETS_MS.len());
            w.buckets[bucket] += requests;
        }
    }

    fn exposition(&mut self) -> String {
        self.advance();
        let mut requests = String::from("# TYPE istio_requests_total counter\n");
        let mut durations = String::from("# TYPE istio_request_duration_milliseconds histogram\n");
        for ((namespace, workload), w) in &self.workloads {
            let labels = format!(
                r#"reporter="destination",destination_workload="{workload}",destination_workload_namespace="{namespace}""#
            );
            for (code, count) in [("200", w.ok), ("503", w.errors)] {
                requests.push_str(&format!(
                    "istio_requests_total{{{labels},response_code=\"{code}\"}} {count}\n"
                ));
            }
            let mut cumulative = 0.0;
            for (i, count) in w.buckets.iter().enumerate() {
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
                w.sum_ms
            ));
        }
        requests + &durations
    }

    fn set(&mut self, query: &str) -> Result<String, String> {
        let params: BTreeMap<&str, &str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let text = |k: &str| {
            params
                .get(k)
                .map(|v| v.to_string())
                .ok_or(format!("{k} missing"))
        };
        let number = |k: &str, default: f64| -> Result<f64, String> {
            params
                .get(k)
                .map_or(Ok(default), |v| v.parse().map_err(|e| format!("{k}: {e}")))
        };
        let key = (text("namespace")?, text("workload")?);
        let (rps, error_rate, latency_ms) = (
            number("rps", 20.0)?,
            number("errorRate", 0.0)?,
            number("latencyMs", 10.0)?,
        );
        self.advance();
        let w = self.workloads.entry(key.clone()).or_default();
        w.buckets.resize(BUCKETS_MS.len() + 1, 0.0);
        (w.rps, w.error_rate, w.latency_ms) = (rps, error_rate, latency_ms);
        Ok(format!(
            "{}/{}: {rps} rps, {error_rate} errors, {latency_ms} ms\n",
            key.0, key.1
        ))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9101".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("traffic-simulator: serving /metrics and /set on {addr}");
    let state = Arc::new(Mutex::new(State {
        workloads: BTreeMap::new(),
        advanced: Instant::now(),
    }));
    loop {
        let (mut conn, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf);
            let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let (status, body) = {
                let mut state = state.lock().expect("simulator state");
                match path {
                    "/metrics" => ("200 OK", state.exposition()),
                    "/set" => match state.set(query) {
                        Ok(body) => ("200 OK", body),
                        Err(e) => ("400 Bad Request", format!("{e}\n")),
                    },
                    _ => ("404 Not Found", "try /metrics or /set\n".into()),
                }
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}
