//! Trace inputs against a real Jaeger v2: the traffic simulator's spans go in through the
//! OpenTelemetry SDK and OTLP, the scheduler's Jaeger client searches them through `api/v3`
//! and aggregates them; a stopped Jaeger is an error in the result, never a panic.
use std::collections::BTreeMap;
use std::time::Duration;

use autopilot_e2e::jaeger::JaegerServer;
use autopilot_e2e::spans::{DOWNSTREAM_ERROR, DOWNSTREAM_OPERATION, ROOT_OPERATION};
use autopilot_e2e::traffic::{Traffic, TrafficSimulator};
use autopilot_e2e::wait;
use autopilot_model::TraceSearch;
use autopilot_scheduler::traces::{Jaeger, TraceInput};

fn search(service: &str, operation: Option<&str>, tags: &[(&str, &str)]) -> TraceSearch {
    TraceSearch {
        service: service.to_string(),
        operation: operation.map(str::to_string),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        look_back: Duration::from_secs(300),
        limit: 1000,
        samples: 3,
    }
}

/// Searches until at least `spans` matching spans are found.
async fn search_until(jaeger: &Jaeger, s: &TraceSearch, spans: u64) -> TraceInput {
    wait::until(
        &format!("Jaeger to hold {spans} spans for {s}"),
        Duration::from_secs(60),
        || async {
            let r = jaeger.search(s).await;
            match (&r.error, r.total.span_count) {
                (None, n) if n >= spans => Ok(r),
                _ => Err(format!("{r:?}")),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_from_the_sdk_are_searched_aggregated_and_sampled() {
    let mut server = JaegerServer::start().await;
    let sim = TrafficSimulator::serve().await;
    let emission = sim.emit_spans(&server.otlp_grpc);
    // 40 requests a second; a quarter of the canary's payment calls fail, invisibly to the mesh.
    let busy = Traffic {
        rps: 40.0,
        ..Traffic::healthy(20.0)
    };
    sim.set("shop", "web-canary", busy.with_downstream_errors(0.25));
    sim.set("shop", "web-primary", busy);
    let jaeger = Jaeger::new(&server.query_url, Duration::from_secs(5));

    let canary = search_until(&jaeger, &search("web-canary", None, &[]), 80).await;
    drop(emission);
    assert!(!canary.no_data);
    assert_eq!(canary.query, "service=web-canary lookBack=5m limit=1000");
    let ops: BTreeMap<&str, _> = canary
        .operations
        .iter()
        .map(|o| (o.operation.as_str(), o))
        .collect();
    assert_eq!(
        ops.keys().copied().collect::<Vec<_>>(),
        [ROOT_OPERATION, DOWNSTREAM_OPERATION]
    );
    let root = ops[ROOT_OPERATION];
    let downstream = ops[DOWNSTREAM_OPERATION];
    assert_eq!(root.error_count, 0, "requests succeed: {root:?}");
    // Spans arrive in export batches, so a search may see a request without its child yet.
    assert!(
        (downstream.error_ratio - 0.25).abs() <= 0.05,
        "a quarter of the downstream calls fail: {downstream:?}"
    );
    assert!(
        (19.0..=21.0).contains(&root.p99_ms) && (19.0..=21.0).contains(&root.p50_ms),
        "root spans last 20 ms: {root:?}"
    );
    assert!(
        (9.0..=11.0).contains(&downstream.p50_ms),
        "downstream spans last half of it: {downstream:?}"
    );
    let sample = &canary.samples[0];
    assert_eq!(sample.root_service, "web-canary");
    assert_eq!(sample.root_operation, ROOT_OPERATION);
    assert_eq!(
        sample.error_spans.len(),
        1,
        "failed traces come first: {sample:?}"
    );
    assert_eq!(sample.error_spans[0].operation, DOWNSTREAM_OPERATION);
    assert_eq!(sample.error_spans[0].status_message, DOWNSTREAM_ERROR);
    assert_eq!(sample.trace_id.len(), 32);

    let primary = search_until(&jaeger, &search("web-primary", None, &[]), 10).await;
    assert_eq!(primary.total.error_count, 0);
    assert!(primary.samples.iter().all(|s| s.error_spans.is_empty()));

    let only_errors = jaeger
        .search(&search("web-canary", None, &[("error", "true")]))
        .await;
    assert_eq!(only_errors.total.span_count, only_errors.total.error_count);
    assert_eq!(only_errors.operations.len(), 1);

    let by_op = jaeger
        .search(&search("web-canary", Some(DOWNSTREAM_OPERATION), &[]))
        .await;
    assert_eq!(by_op.operations.len(), 1);
    assert_eq!(by_op.operations[0].operation, DOWNSTREAM_OPERATION);

    let unknown = jaeger.search(&search("nobody", None, &[])).await;
    assert!(unknown.no_data && unknown.error.is_none(), "{unknown:?}");

    server.stop().await;
    let down = jaeger.search(&search("web-canary", None, &[])).await;
    let error = down.error.expect("an error once Jaeger is down");
    assert!(error.contains("querying Jaeger at"), "{error}");
    assert!(!down.no_data && down.operations.is_empty());
}
