//! Benchmark 4: what one trace input costs a reconcile: the scheduler's Jaeger search (HTTP
//! round trip to a real Jaeger v2 with in-memory storage, the OTLP JSON answer, and the
//! aggregation into per-operation statistics and samples) at a few numbers of matching spans.
use std::time::{Duration, Instant};

use anyhow::Context as _;
use autopilot_e2e::jaeger::JaegerServer;
use autopilot_e2e::spans::send_requests;
use autopilot_e2e::traffic::Traffic;
use autopilot_model::TraceSearch;
use autopilot_scheduler::traces::{Jaeger, summarize};

use crate::table::Table;

/// Matching spans measured: a quiet canary and a busy one (each request is two spans).
pub const SPANS: [u32; 2] = [10, 1000];

/// How long a fresh batch of spans may take to become searchable.
const INGEST_TIMEOUT: Duration = Duration::from_secs(60);

fn search(service: &str, limit: u32) -> TraceSearch {
    TraceSearch {
        service: service.to_string(),
        operation: None,
        tags: Default::default(),
        look_back: Duration::from_secs(600),
        limit,
        samples: 3,
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn millis(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Sends each number of spans to its own service, then times `searches` searches of each.
///
/// # Errors
///
/// Jaeger not starting in time or never holding the spans sent.
pub async fn run(spans: &[u32], searches: usize) -> anyhow::Result<Table> {
    let jaeger_server = JaegerServer::start().await;
    let jaeger = Jaeger::new(&jaeger_server.query_url, Duration::from_secs(30));
    let mut table = Table::new(
        "Trace input per reconcile (Jaeger api/v3 search + aggregation)",
        &[
            "matching spans",
            "traces",
            "answer bytes",
            "search p50 ms",
            "search p99 ms",
            "aggregation p50 ms",
        ],
    );
    for &n in spans {
        let service = format!("bench-{n}");
        let requests = n / 2;
        send_requests(
            &jaeger_server.otlp_grpc,
            "bench",
            &service,
            &Traffic::healthy(10.0),
            requests,
        )
        .await;
        let s = search(&service, requests.max(1));
        let started = Instant::now();
        loop {
            let r = jaeger.search(&s).await;
            if r.total.span_count >= u64::from(n) {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < INGEST_TIMEOUT,
                "Jaeger held {} of {n} spans of {service} after {INGEST_TIMEOUT:?}: {r:?}",
                r.total.span_count
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = jaeger.url(&s, std::time::SystemTime::now());
        let body = jaeger
            .fetch(&url)
            .await
            .with_context(|| format!("fetching {url}"))?
            .unwrap_or_default();
        let mut search_times = Vec::with_capacity(searches);
        for _ in 0..searches {
            let t = Instant::now();
            let r = jaeger.search(&s).await;
            search_times.push(t.elapsed());
            anyhow::ensure!(r.error.is_none(), "search failed: {r:?}");
        }
        let mut aggregation_times = Vec::with_capacity(searches);
        for _ in 0..searches {
            let t = Instant::now();
            let r = summarize(&body, &s)?;
            aggregation_times.push(t.elapsed());
            std::hint::black_box(r);
        }
        search_times.sort_unstable();
        aggregation_times.sort_unstable();
        table.row(vec![
            n.to_string(),
            requests.to_string(),
            body.len().to_string(),
            millis(percentile(&search_times, 0.5)),
            millis(percentile(&search_times, 0.99)),
            millis(percentile(&aggregation_times, 0.5)),
        ]);
    }
    Ok(table)
}
