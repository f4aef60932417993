//! Round-trips every message of the contract through a real tonic server and client.
use std::collections::HashMap;
use std::time::Duration;

use autopilot_proto::v1::worker_service_client::WorkerServiceClient;
use autopilot_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use autopilot_proto::v1::*;
use autopilot_proto::{ErrorClass, PROTOCOL_VERSION, classify};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};

/// Echoes requests back inside responses so the test can compare what crossed the wire.
#[derive(Debug, Default)]
struct Echo;

fn full_sync_request() -> SyncRequest {
    let mut labels = HashMap::new();
    labels.insert("pod".to_string(), "web-1".to_string());
    SyncRequest {
        phase: "Processing".into(),
        // 2^53 + 1 does not fit a double: JSON bytes keep it exact.
        resource: br#"{"apiVersion":"example.com/v1","kind":"Canary","metadata":{"name":"a","namespace":"n","generation":9007199254740993},"spec":{"replicas":3}}"#.to_vec(),
        objects: HashMap::from([(
            "deployments".to_string(),
            ObjectList {
                items: vec![br#"{"kind":"Deployment","metadata":{"name":"web"}}"#.to_vec()],
                error: String::new(),
            },
        ), (
            "virtualservices".to_string(),
            ObjectList { items: vec![], error: "the server could not find the requested resource".into() },
        )]),
        metrics: HashMap::from([
            (
                "success-rate".to_string(),
                MetricResult {
                    query: r#"sum(rate(x{app="web"}[1m]))"#.into(),
                    r#type: metric_result::ResultType::Vector as i32,
                    series: vec![Series {
                        labels,
                        samples: vec![Sample { timestamp_ms: 1_700_000_000_000, value: f64::NAN, is_nan: true }],
                    }],
                    no_data: false,
                    error: String::new(),
                },
            ),
            (
                "latency".to_string(),
                MetricResult {
                    query: "histogram_quantile(0.99, y)".into(),
                    r#type: metric_result::ResultType::Matrix as i32,
                    series: vec![],
                    no_data: true,
                    error: String::new(),
                },
            ),
        ]),
        meta: Some(RequestMeta {
            attempt: 3,
            tag: "sha256:abc".into(),
            deadline_unix_ms: 1_700_000_010_000,
            generation: 9_007_199_254_740_993,
            operator_name: "canary-operator".into(),
        }),
        events: HashMap::from([(
            "approvals".to_string(),
            EventList {
                items: vec![ExternalEvent {
                    id: "d7c1e2a0-1".into(),
                    source: "https://github.com/shop/web".into(),
                    r#type: "pull_request.closed".into(),
                    subject: "42".into(),
                    time_unix_ms: 1_700_000_000_000,
                    data_content_type: "application/json".into(),
                    data: br#"{"number":42,"merged":true}"#.to_vec(),
                    extensions: HashMap::from([("traceparent".to_string(), "00-abc-def-01".to_string())]),
                    accepted_unix_ms: 1_700_000_000_123,
                }],
                error: String::new(),
            },
        )]),
        traces: HashMap::from([(
            "checkout-errors".to_string(),
            TraceResult {
                query: "service=web-canary operation=checkout lookback=1m limit=20".into(),
                no_data: false,
                error: String::new(),
                total: Some(SpanStats {
                    span_count: 120,
                    error_count: 6,
                    error_ratio: 0.05,
                    p50_ms: 12.5,
                    p90_ms: 40.0,
                    p99_ms: 180.25,
                    ..Default::default()
                }),
                operations: vec![SpanStats {
                    service: "payments".into(),
                    operation: "POST /charge".into(),
                    span_count: 60,
                    error_count: 6,
                    error_ratio: 0.1,
                    p50_ms: 20.0,
                    p90_ms: 60.0,
                    p99_ms: 200.0,
                }],
                samples: vec![TraceSample {
                    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                    root_service: "web-canary".into(),
                    root_operation: "checkout".into(),
                    duration_ms: 210.5,
                    start_unix_ms: 1_700_000_000_000,
                    error_spans: vec![ErrorSpan {
                        service: "payments".into(),
                        operation: "POST /charge".into(),
                        status_message: "card declined".into(),
                    }],
                }],
            },
        )]),
    }
}

fn status_for(phase: &str) -> Option<Status> {
    let code = match phase {
        "Unavailable" => Code::Unavailable,
        "ResourceExhausted" => Code::ResourceExhausted,
        "DeadlineExceeded" => Code::DeadlineExceeded,
        "Aborted" => Code::Aborted,
        "InvalidArgument" => Code::InvalidArgument,
        "FailedPrecondition" => Code::FailedPrecondition,
        _ => return None,
    };
    let mut status = Status::new(code, format!("{phase} on purpose"));
    status
        .metadata_mut()
        .insert(autopilot_proto::RETRY_AFTER_TRAILER, "250".parse().unwrap());
    Some(status)
}

#[tonic::async_trait]
impl WorkerService for Echo {
    async fn describe(
        &self,
        request: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(DescribeResponse {
            protocol_version: req.protocol_version,
            worker_name: "echo".into(),
            worker_version: req.scheduler_version,
            phases: vec!["Processing".into()],
            finalize: true,
            capabilities: vec!["traceparent".into()],
        }))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let req = request.into_inner();
        if let Some(status) = status_for(&req.phase) {
            return Err(status);
        }
        // Every response field is set, and derived from the request so both directions count.
        Ok(Response::new(SyncResponse {
            next_phase: "Finished".into(),
            outputs: vec![req.resource.clone()],
            status_info: serde_json::to_vec(&serde_json::json!({
                "objects": req.objects.len(),
                "metrics": req.metrics.len(),
                "traceparent": traceparent,
            }))
            .unwrap(),
            conditions: vec![Condition {
                r#type: "Healthy".into(),
                status: "True".into(),
                reason: "Checked".into(),
                message: req.meta.unwrap().tag,
            }],
            events: vec![Event {
                severity: event::Severity::Warning as i32,
                reason: "Noticed".into(),
                message: "something".into(),
            }],
            requeue_after_ms: 1500,
        }))
    }

    async fn finalize(
        &self,
        request: Request<FinalizeRequest>,
    ) -> Result<Response<FinalizeResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(FinalizeResponse {
            done: req.meta.map(|m| m.attempt >= 2).unwrap_or(false),
            events: vec![],
            requeue_after_ms: 100,
        }))
    }
}

async fn serve() -> WorkerServiceClient<tonic::transport::Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkerServiceServer::new(Echo))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connecting to the in-process worker");
    WorkerServiceClient::new(channel)
}

#[tokio::test]
async fn describe_round_trips() {
    let mut client = serve().await;
    let resp = client
        .describe(DescribeRequest {
            protocol_version: PROTOCOL_VERSION.into(),
            scheduler_version: "1.2.3".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.protocol_version, "v1");
    assert_eq!(resp.worker_version, "1.2.3");
    assert_eq!(resp.phases, vec!["Processing"]);
    assert!(resp.finalize);
}

#[tokio::test]
async fn sync_round_trips_every_field() {
    let mut client = serve().await;
    let sent = full_sync_request();
    let mut request = Request::new(sent.clone());
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let resp = client.sync(request).await.unwrap().into_inner();

    // The resource went there and back byte for byte, with the int64 intact.
    assert_eq!(resp.outputs, vec![sent.resource.clone()]);
    let echoed: serde_json::Value = serde_json::from_slice(&resp.outputs[0]).unwrap();
    assert_eq!(
        echoed["metadata"]["generation"].as_i64(),
        Some(9_007_199_254_740_993)
    );
    let info: serde_json::Value = serde_json::from_slice(&resp.status_info).unwrap();
    assert_eq!(info["objects"], 2);
    assert_eq!(info["metrics"], 2);
    assert_eq!(info["traceparent"], traceparent);
    assert_eq!(resp.next_phase, "Finished");
    assert_eq!(resp.conditions[0].message, "sha256:abc");
    assert_eq!(resp.events[0].severity(), event::Severity::Warning);
    assert_eq!(resp.requeue_after_ms, 1500);

    // And the request decodes to exactly what was sent (NaN compared by flag and bits).
    let mut buf = Vec::new();
    prost::Message::encode(&sent, &mut buf).unwrap();
    let decoded: SyncRequest = prost::Message::decode(buf.as_slice()).unwrap();
    let sample = &decoded.metrics["success-rate"].series[0].samples[0];
    assert!(sample.value.is_nan() && sample.is_nan);
    assert!(decoded.metrics["latency"].no_data);
    assert_eq!(
        decoded.objects["virtualservices"].error,
        sent.objects["virtualservices"].error
    );
    assert_eq!(decoded.meta, sent.meta);
}

#[tokio::test]
async fn error_codes_arrive_with_their_class_and_retry_hint() {
    let mut client = serve().await;
    let table = [
        ("Unavailable", Code::Unavailable, ErrorClass::Retryable),
        (
            "ResourceExhausted",
            Code::ResourceExhausted,
            ErrorClass::Retryable,
        ),
        (
            "DeadlineExceeded",
            Code::DeadlineExceeded,
            ErrorClass::Retryable,
        ),
        ("Aborted", Code::Aborted, ErrorClass::Retryable),
        (
            "InvalidArgument",
            Code::InvalidArgument,
            ErrorClass::Permanent,
        ),
        (
            "FailedPrecondition",
            Code::FailedPrecondition,
            ErrorClass::Permanent,
        ),
    ];
    for (phase, code, class) in table {
        let mut req = full_sync_request();
        req.phase = phase.into();
        let status = client.sync(req).await.expect_err(phase);
        assert_eq!(status.code(), code, "{phase}");
        assert_eq!(classify(status.code()), class, "{phase}");
        assert_eq!(status.message(), format!("{phase} on purpose"));
        assert_eq!(
            autopilot_proto::retry_after(&status),
            Some(Duration::from_millis(250)),
            "{phase}: retry-after trailer"
        );
    }
}

#[tokio::test]
async fn finalize_round_trips() {
    let mut client = serve().await;
    let resp = client
        .finalize(FinalizeRequest {
            resource: b"{}".to_vec(),
            meta: Some(RequestMeta {
                attempt: 2,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.done);
    assert_eq!(resp.requeue_after_ms, 100);
}
