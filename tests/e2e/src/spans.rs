//! OTLP traces of the traffic simulator's requests, sent through the OpenTelemetry SDK: each
//! request is a server span [`ROOT_OPERATION`] of the workload (its `service.name`) with one
//! client span [`DOWNSTREAM_OPERATION`] under it, at the rate, error ratio and latency the test
//! set with [`TrafficSimulator::set`].
//!
//! Errors are spread exactly, not at random: with an error rate of 0.25 every fourth request
//! fails, so the ratio a test reads back from Jaeger is the one it set.
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{BatchConfigBuilder, SdkTracerProvider};

use crate::traffic::{Traffic, TrafficSimulator};

/// The operation of every request's server span.
pub const ROOT_OPERATION: &str = "GET /checkout";
/// The downstream call each request makes, as a client span.
pub const DOWNSTREAM_OPERATION: &str = "charge-payment";
/// The status message of a failed downstream call.
pub const DOWNSTREAM_ERROR: &str = "payments: connection reset by peer";
/// How often requests are turned into spans.
const TICK: Duration = Duration::from_millis(200);
/// How soon the SDK exports finished spans: short, so a search a second later finds them.
const EXPORT_DELAY: Duration = Duration::from_millis(300);
/// Traces emitted per workload and tick at most, whatever the rate (a stalled tick must not
/// flood Jaeger afterwards).
const MAX_TRACES_PER_TICK: u32 = 200;

/// Per workload: its tracer provider and how much of the next request or error is due.
struct Emitter {
    provider: SdkTracerProvider,
    requests_due: f64,
    errors_due: f64,
    downstream_errors_due: f64,
}

impl Emitter {
    fn new(otlp_grpc: &str, namespace: &str, workload: &str) -> Emitter {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(otlp_grpc)
            .build()
            .expect("building the OTLP span exporter");
        let processor =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(EXPORT_DELAY)
                    .build(),
            )
            .build();
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(workload.to_string())
            .with_attribute(KeyValue::new("k8s.namespace.name", namespace.to_string()))
            .build();
        Emitter {
            provider: SdkTracerProvider::builder()
                .with_resource(resource)
                .with_span_processor(processor)
                .build(),
            requests_due: 0.0,
            errors_due: 0.0,
            downstream_errors_due: 0.0,
        }
    }

    /// Emits the requests of `elapsed` at `traffic`.
    fn tick(&mut self, traffic: &Traffic, elapsed: Duration) {
        self.requests_due += traffic.rps * elapsed.as_secs_f64();
        let mut emitted = 0;
        while self.requests_due >= 1.0 && emitted < MAX_TRACES_PER_TICK {
            self.requests_due -= 1.0;
            emitted += 1;
            self.errors_due += traffic.error_rate;
            self.downstream_errors_due += traffic.downstream_error_rate;
            let failed = take_one(&mut self.errors_due);
            let downstream_failed = take_one(&mut self.downstream_errors_due);
            self.request(traffic.latency_ms, failed, downstream_failed);
        }
        if emitted == MAX_TRACES_PER_TICK {
            self.requests_due = 0.0;
        }
    }

    /// One request's trace, ending now.
    fn request(&self, latency_ms: f64, failed: bool, downstream_failed: bool) {
        let tracer = self.provider.tracer("autopilot-traffic-simulator");
        let end = SystemTime::now();
        let start = end - Duration::from_secs_f64(latency_ms.max(0.001) / 1000.0);
        let code: i64 = if failed { 503 } else { 200 };
        let root = tracer
            .span_builder(ROOT_OPERATION)
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.status_code", code),
            ])
            .start(&tracer);
        let cx = opentelemetry::Context::current_with_span(root);
        let downstream_start = start + (end.duration_since(start).unwrap_or_default() / 4);
        let downstream_end = start + (end.duration_since(start).unwrap_or_default() * 3 / 4);
        let mut child = tracer.build_with_context(
            tracer
                .span_builder(DOWNSTREAM_OPERATION)
                .with_kind(SpanKind::Client)
                .with_start_time(downstream_start)
                .with_attributes([KeyValue::new("peer.service", "payments")]),
            &cx,
        );
        if downstream_failed {
            child.set_status(Status::error(DOWNSTREAM_ERROR));
        }
        child.end_with_timestamp(downstream_end);
        let span = cx.span();
        if failed {
            span.set_status(Status::error("503 Service Unavailable"));
        }
        span.end_with_timestamp(end);
    }
}

/// Sends `requests` requests of `workload` at `traffic`'s error rates and latency as traces (two
/// spans each, ending now) at once, and returns when the SDK has exported them.
pub async fn send_requests(
    otlp_grpc: &str,
    namespace: &str,
    workload: &str,
    traffic: &Traffic,
    requests: u32,
) {
    let mut emitter = Emitter::new(otlp_grpc, namespace, workload);
    for _ in 0..requests {
        emitter.errors_due += traffic.error_rate;
        emitter.downstream_errors_due += traffic.downstream_error_rate;
        let failed = take_one(&mut emitter.errors_due);
        let downstream_failed = take_one(&mut emitter.downstream_errors_due);
        emitter.request(traffic.latency_ms, failed, downstream_failed);
    }
    // The exporter runs on this runtime; flushing blocks, so not on one of its threads.
    let provider = emitter.provider.clone();
    tokio::task::spawn_blocking(move || provider.force_flush())
        .await
        .expect("flushing spans")
        .expect("exporting spans");
}

/// Takes one whole unit from `due` when there is one.
fn take_one(due: &mut f64) -> bool {
    if *due >= 1.0 - 1e-9 {
        *due -= 1.0;
        true
    } else {
        false
    }
}

/// Sends spans while it lives; dropping it stops the emission (spans already finished are
/// still exported).
#[derive(Debug)]
pub struct SpanEmission {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SpanEmission {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TrafficSimulator {
    /// From now on, also sends every workload's requests as traces to the OTLP/gRPC receiver
    /// at `otlp_grpc` (`http://127.0.0.1:<port>`), until the returned value is dropped.
    pub fn emit_spans(&self, otlp_grpc: &str) -> SpanEmission {
        let sim = self.clone();
        let otlp_grpc = otlp_grpc.to_string();
        let task = tokio::spawn(async move {
            let mut emitters: BTreeMap<(String, String), Emitter> = BTreeMap::new();
            let mut last = Instant::now();
            let mut ticks = tokio::time::interval(TICK);
            loop {
                ticks.tick().await;
                let now = Instant::now();
                let elapsed = now - last;
                last = now;
                for ((namespace, workload), traffic) in sim.current() {
                    emitters
                        .entry((namespace.clone(), workload.clone()))
                        .or_insert_with(|| Emitter::new(&otlp_grpc, &namespace, &workload))
                        .tick(&traffic, elapsed);
                }
            }
        });
        SpanEmission { task }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_spread_exactly() {
        let (mut due, mut failed) = (0.0, 0);
        for _ in 0..100 {
            due += 0.25;
            failed += u32::from(take_one(&mut due));
        }
        assert_eq!(failed, 25);
        let (mut due, mut failed) = (0.0, 0);
        for _ in 0..10 {
            due += 0.1;
            failed += u32::from(take_one(&mut due));
        }
        assert_eq!(failed, 1, "0.1 ten times is one, despite rounding");
    }
}
