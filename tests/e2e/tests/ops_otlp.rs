//! Traces: the scheduler's OTLP/gRPC exporter (`tracing.otlpEndpoint`) against a real OTLP
//! trace receiver, and the trace context it hands to the worker.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const TIMEOUT: Duration = Duration::from_secs(60);

/// An OTLP/gRPC trace receiver keeping every export request.
#[derive(Debug, Clone, Default)]
struct Collector {
    requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.requests.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// One exported span with its resource's `service.name`; ids in lowercase hex.
#[derive(Debug, Clone)]
struct Exported {
    service: Option<String>,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: BTreeMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

impl Collector {
    /// Serves the receiver on a free loopback port; returns its `http://` endpoint.
    async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the OTLP receiver");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self.clone()))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Exported> {
        let requests = self.requests.lock().unwrap();
        let mut out = Vec::new();
        for rs in requests.iter().flat_map(|r| &r.resource_spans) {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| attributes(&r.attributes).remove("service.name"));
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                out.push(Exported {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                });
            }
        }
        out
    }
}

/// A W3C `traceparent`: (trace id, parent span id, flags).
fn parse_traceparent(tp: &str) -> (String, String, String) {
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {tp:?}");
    assert_eq!(parts[0], "00", "traceparent version in {tp:?}");
    (
        parts[1].to_string(),
        parts[2].to_string(),
        parts[3].to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_collector_receives_reconcile_and_worker_call_spans() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("ops-otlp").await.expect("namespace");
    let ns = ns.name().to_string();

    let collector = Collector::default();
    let otlp = collector.serve().await;
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(
        dir.path(),
        THREE_PHASES,
        &endpoint,
        &format!("tracing:\n  otlpEndpoint: {otlp}\n  serviceName: e2e-scheduler\n"),
    );
    let _sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), &ns, &[]);

    create_task(&client, &ns, "traced", "ok").await;
    wait::until("Task traced to reach Finished", TIMEOUT, || async {
        let status = task_status(&client, &ns, "traced").await;
        if status["phase"] == "Finished" {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;

    // Every Sync call carried a sampled traceparent.
    let key = format!("{ns}/traced");
    let calls: Vec<_> = worker
        .calls(&key)
        .into_iter()
        .filter(|c| c.method.starts_with("Sync:"))
        .collect();
    let phases: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        phases,
        ["Sync:Initializing", "Sync:Processing"],
        "{calls:?}"
    );
    let contexts: Vec<(String, (String, String, String))> = calls
        .iter()
        .map(|c| {
            let tp = c
                .traceparent
                .as_deref()
                .unwrap_or_else(|| panic!("{} came without a traceparent", c.method));
            (c.method.clone(), parse_traceparent(tp))
        })
        .collect();
    for (method, (_, _, flags)) in &contexts {
        assert_eq!(flags, "01", "{method} traceparent is sampled");
    }

    // Spans are batched: wait until the receiver holds, for each call, the worker_call span the
    // worker's traceparent names, and the reconcile span and root span of the same trace. No shutdown needed.
    let spans = wait::until(
        "the OTLP receiver to hold a worker_call span for each Sync call's traceparent and a reconcile span in the same trace",
        TIMEOUT,
        || async {
            let spans = collector.spans();
            for (method, (trace, span, _)) in &contexts {
                let call = spans
                    .iter()
                    .any(|s| s.name == "worker_call" && &s.trace_id == trace && &s.span_id == span);
                let reconcile = spans
                    .iter()
                    .any(|s| s.name == "reconcile" && &s.trace_id == trace)
                    && spans
                        .iter()
                        .any(|s| &s.trace_id == trace && s.parent_span_id.is_empty());
                if !(call && reconcile) {
                    let names: Vec<String> = spans
                        .iter()
                        .map(|s| format!("{} {}/{}", s.name, s.trace_id, s.span_id))
                        .collect();
                    return Err(format!(
                        "{method} ({trace}/{span}): worker_call {call}, reconcile and root {reconcile}; received {names:?}"
                    ));
                }
            }
            Ok(spans)
        },
    )
    .await;

    for s in &spans {
        assert_eq!(
            s.service.as_deref(),
            Some("e2e-scheduler"),
            "service.name of {s:?}"
        );
    }
    for (method, (trace, span, _)) in &contexts {
        let phase = method.trim_start_matches("Sync:");
        let call = spans
            .iter()
            .find(|s| s.name == "worker_call" && &s.trace_id == trace && &s.span_id == span)
            .unwrap();
        assert_eq!(
            call.attributes.get("method").map(String::as_str),
            Some("Sync")
        );
        assert_eq!(
            call.attributes.get("phase").map(String::as_str),
            Some(phase)
        );
        assert_eq!(
            call.attributes.get("endpoint").map(String::as_str),
            Some(endpoint.as_str())
        );
        // The worker call is a child of its reconcile, which names the Task and the phase.
        let reconcile = spans
            .iter()
            .find(|s| s.name == "reconcile" && s.span_id == call.parent_span_id)
            .unwrap_or_else(|| panic!("the reconcile span parenting {call:?}"));
        assert_eq!(&reconcile.trace_id, trace);
        assert_eq!(
            reconcile.attributes.get("namespace").map(String::as_str),
            Some(ns.as_str())
        );
        assert_eq!(
            reconcile.attributes.get("name").map(String::as_str),
            Some("traced")
        );
        // The phase the reconcile started from (none yet on a new Task's first call).
        let started = reconcile.attributes.get("phase").map(String::as_str);
        assert!(
            started == Some(phase) || (phase == "Initializing" && started == Some("")),
            "reconcile phase {started:?} for {method}"
        );
        // The trace id logged on the reconcile span is the exported one.
        assert_eq!(
            reconcile.attributes.get("trace_id").map(String::as_str),
            Some(trace.as_str())
        );
        // The reconcile is the trace's root, or sits directly under the controller's
        // per-object span, which is.
        if !reconcile.parent_span_id.is_empty() {
            let root = spans
                .iter()
                .find(|s| s.span_id == reconcile.parent_span_id)
                .unwrap_or_else(|| panic!("the parent of {reconcile:?}"));
            assert_eq!(&root.trace_id, trace);
            assert!(root.parent_span_id.is_empty(), "{root:?} is a root span");
        }
    }
    // Each reconcile is its own trace.
    assert_ne!(contexts[0].1.0, contexts[1].1.0, "one trace per reconcile");
}
