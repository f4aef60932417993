//! The gRPC edge: [`Worker`] implements the generated `WorkerService`; requests become
//! [`Context`]s and outcomes become responses here, and nowhere else.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, UNIX_EPOCH};

use autopilot_proto::v1::{
    self as pb, event::Severity as PbSeverity, metric_result::ResultType,
    worker_service_server::WorkerService,
};
use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::context::Input;
use crate::{
    Condition, Context, ContextBuilder, Event, ExternalEvent, Finalized, Metric, MetricKind,
    Outcome, Sample, Series, Severity, SpanStats, Trace, TraceSample, Worker, WorkerError,
};

/// The capabilities announced in `Describe`.
const CAPABILITIES: [&str; 1] = ["traceparent"];

#[tonic::async_trait]
impl<S, I> WorkerService for Worker<S, I>
where
    S: DeserializeOwned + Send + 'static,
    I: DeserializeOwned + Serialize + Send + 'static,
{
    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        let request = request.into_inner();
        if request.protocol_version != autopilot_proto::PROTOCOL_VERSION {
            // The scheduler decides whether the versions are compatible; say it in our logs too.
            tracing::warn!(
                scheduler_protocol = %request.protocol_version,
                worker_protocol = autopilot_proto::PROTOCOL_VERSION,
                "the scheduler speaks another protocol version"
            );
        }
        tracing::info!(
            scheduler_version = %request.scheduler_version,
            "described the worker to the scheduler"
        );
        Ok(Response::new(describe_response(self)))
    }

    async fn sync(
        &self,
        request: Request<pb::SyncRequest>,
    ) -> Result<Response<pb::SyncResponse>, Status> {
        let traceparent = traceparent(request.metadata());
        let request = request.into_inner();
        let attempt = request.meta.as_ref().map(|m| m.attempt).unwrap_or_default();
        let span = tracing::info_span!(
            "sync",
            phase = %request.phase,
            namespace = tracing::field::Empty,
            name = tracing::field::Empty,
            attempt,
            trace_id = traceparent.as_deref().and_then(trace_id),
        );
        async {
            let handler = self
                .handler(&request.phase)
                .ok_or_else(|| self.unknown_phase(&request.phase))
                .map_err(|err| reject(err, "sync"))?;
            let ctx =
                sync_context::<S, I>(request, traceparent).map_err(|err| reject(err, "sync"))?;
            record_object(&ctx);
            let outcome = guarded(handler(ctx), "sync")
                .await?
                .map_err(|err| reject(err, "sync"))?;
            let response = sync_response(outcome).map_err(|err| reject(err, "sync"))?;
            tracing::debug!(
                next_phase = %response.next_phase,
                outputs = response.outputs.len(),
                "sync done"
            );
            Ok(Response::new(response))
        }
        .instrument(span)
        .await
    }

    async fn finalize(
        &self,
        request: Request<pb::FinalizeRequest>,
    ) -> Result<Response<pb::FinalizeResponse>, Status> {
        let traceparent = traceparent(request.metadata());
        let request = request.into_inner();
        let attempt = request.meta.as_ref().map(|m| m.attempt).unwrap_or_default();
        let span = tracing::info_span!(
            "finalize",
            namespace = tracing::field::Empty,
            name = tracing::field::Empty,
            attempt,
            trace_id = traceparent.as_deref().and_then(trace_id),
        );
        async {
            let Some(handler) = self.finalizer() else {
                return Err(Status::unimplemented(format!(
                    "worker {:?} does not implement Finalize",
                    self.name()
                )));
            };
            let ctx = finalize_context::<S, I>(request, traceparent)
                .map_err(|err| reject(err, "finalize"))?;
            record_object(&ctx);
            let finalized = guarded(handler(ctx), "finalize")
                .await?
                .map_err(|err| reject(err, "finalize"))?;
            tracing::debug!(done = finalized.is_done(), "finalize done");
            Ok(Response::new(finalize_response(finalized)))
        }
        .instrument(span)
        .await
    }
}

/// Logs a failed call and turns the error into its status.
fn reject(err: WorkerError, call: &str) -> Status {
    if err.is_retryable() {
        tracing::info!(error = %err, code = ?err.code(), "{call} failed; the scheduler will retry");
    } else {
        tracing::warn!(error = %err, code = ?err.code(), "{call} failed");
    }
    err.into_status()
}

/// Runs a handler, turning a panic into `INTERNAL` instead of tearing down the connection.
async fn guarded<T>(
    handler: impl std::future::Future<Output = T>,
    call: &str,
) -> Result<T, Status> {
    AssertUnwindSafe(handler)
        .catch_unwind()
        .await
        .map_err(|panic| {
            let message = panic_message(&*panic);
            tracing::error!(panic = %message, "the {call} handler panicked");
            Status::internal(format!("the {call} handler panicked: {message}"))
        })
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_owned())
}

fn record_object<S, I>(ctx: &Context<S, I>) {
    let span = tracing::Span::current();
    span.record("namespace", ctx.namespace().unwrap_or_default());
    span.record("name", ctx.name());
}

pub(crate) fn describe_response<S, I>(worker: &Worker<S, I>) -> pb::DescribeResponse {
    pb::DescribeResponse {
        protocol_version: autopilot_proto::PROTOCOL_VERSION.to_owned(),
        worker_name: worker.name().to_owned(),
        worker_version: worker.worker_version().to_owned(),
        phases: worker.phases().map(str::to_owned).collect(),
        finalize: worker.has_finalizer(),
        capabilities: CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
    }
}

/// The `traceparent` request metadata, when present and readable.
fn traceparent(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    metadata
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The trace id of a W3C `traceparent` (`version-traceid-parentid-flags`), if well formed.
fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && hex(flags, 2);
    valid.then_some(trace)
}

fn parse_json(field: String, bytes: &[u8]) -> Result<Value, WorkerError> {
    autopilot_proto::parse_json(field, bytes).map_err(|err| WorkerError::invalid(err.to_string()))
}

fn builder_with_meta<S, I>(
    phase: String,
    resource: Value,
    meta: Option<pb::RequestMeta>,
    traceparent: Option<String>,
) -> ContextBuilder<S, I> {
    let meta = meta.unwrap_or_default();
    let mut builder = ContextBuilder::default().phase(phase).resource(resource);
    builder.attempt = meta.attempt;
    builder.tag = meta.tag;
    builder.deadline = u64::try_from(meta.deadline_unix_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    builder.generation = (meta.generation != 0).then_some(meta.generation);
    builder.operator_name = meta.operator_name;
    builder.traceparent = traceparent;
    builder
}

pub(crate) fn sync_context<S: DeserializeOwned, I: DeserializeOwned>(
    request: pb::SyncRequest,
    traceparent: Option<String>,
) -> Result<Context<S, I>, WorkerError> {
    let resource = parse_json("SyncRequest.resource".to_owned(), &request.resource)?;
    let mut builder = builder_with_meta(request.phase, resource, request.meta, traceparent);
    for (key, list) in request.objects {
        let input = if list.error.is_empty() {
            let items = list
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    parse_json(format!("SyncRequest.objects[{key:?}].items[{i}]"), item)
                })
                .collect::<Result<_, _>>()?;
            Input::Objects(items)
        } else {
            Input::Unavailable(list.error)
        };
        builder.objects.insert(key, input);
    }
    builder.metrics = request
        .metrics
        .into_iter()
        .map(|(key, metric)| (key, metric_from_pb(metric)))
        .collect();
    builder.traces = request
        .traces
        .into_iter()
        .map(|(key, trace)| (key, trace_from_pb(trace)))
        .collect();
    builder.events = request
        .events
        .into_iter()
        .map(|(key, list)| {
            let events = if list.error.is_empty() {
                Ok(list.items.into_iter().map(ExternalEvent::from_pb).collect())
            } else {
                Err(list.error)
            };
            (key, events)
        })
        .collect();
    builder.build()
}

pub(crate) fn finalize_context<S: DeserializeOwned, I: DeserializeOwned>(
    request: pb::FinalizeRequest,
    traceparent: Option<String>,
) -> Result<Context<S, I>, WorkerError> {
    let resource = parse_json("FinalizeRequest.resource".to_owned(), &request.resource)?;
    let phase = resource["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    builder_with_meta(phase, resource, request.meta, traceparent).build()
}

fn stats_from_pb(s: pb::SpanStats) -> SpanStats {
    let mut out = SpanStats::new(s.service, s.operation)
        .spans(s.span_count, s.error_count)
        .latency(s.p50_ms, s.p90_ms, s.p99_ms);
    // The scheduler's ratio is authoritative (it is the same, unless a sender computed it
    // otherwise).
    out.error_ratio = s.error_ratio;
    out
}

fn trace_from_pb(trace: pb::TraceResult) -> Trace {
    let mut out = Trace::default().with_query(trace.query);
    out.no_data = trace.no_data;
    out.error = (!trace.error.is_empty()).then_some(trace.error);
    out.total = trace.total.map(stats_from_pb).unwrap_or_default();
    out.operations = trace.operations.into_iter().map(stats_from_pb).collect();
    out.samples = trace
        .samples
        .into_iter()
        .map(|s| {
            let mut sample = TraceSample::new(s.trace_id, s.root_service, s.root_operation);
            sample.duration_ms = s.duration_ms;
            sample.start_unix_ms = s.start_unix_ms;
            for e in s.error_spans {
                sample = sample.error_span(e.service, e.operation, e.status_message);
            }
            sample
        })
        .collect();
    out
}

fn metric_from_pb(metric: pb::MetricResult) -> Metric {
    let kind = match metric.r#type() {
        ResultType::Unspecified => None,
        ResultType::Scalar => Some(MetricKind::Scalar),
        ResultType::Vector => Some(MetricKind::Vector),
        ResultType::Matrix => Some(MetricKind::Matrix),
    };
    let series = metric
        .series
        .into_iter()
        .map(|series| {
            let mut out = Series::new(series.labels);
            out.samples = series
                .samples
                .into_iter()
                .map(|s| Sample {
                    timestamp_ms: s.timestamp_ms,
                    // is_nan is authoritative: some senders' tooling cannot encode NaN itself.
                    value: if s.is_nan { f64::NAN } else { s.value },
                })
                .collect();
            out
        })
        .collect();
    let mut out = Metric::default().with_query(metric.query);
    out.kind = kind;
    out.series = series;
    out.no_data = metric.no_data;
    out.error = (!metric.error.is_empty()).then_some(metric.error);
    out
}

fn millis(delay: Option<Duration>) -> u64 {
    delay.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn events(events: Vec<Event>) -> Vec<pb::Event> {
    events
        .into_iter()
        .map(|event| pb::Event {
            severity: match event.severity {
                Severity::Normal => PbSeverity::Normal,
                Severity::Warning => PbSeverity::Warning,
            }
            .into(),
            reason: event.reason,
            message: event.message,
        })
        .collect()
}

pub(crate) fn sync_response<I: Serialize>(
    outcome: Outcome<I>,
) -> Result<pb::SyncResponse, WorkerError> {
    let parts = outcome.into_parts();
    if let Some((c, message)) = parts
        .conditions
        .iter()
        .find_map(|c| c.refusal().map(|m| (c, m)))
    {
        return Err(WorkerError::InvalidCondition {
            type_: c.type_.clone(),
            message,
        });
    }
    let outputs = parts
        .outputs
        .iter()
        .enumerate()
        .map(|(index, output)| {
            serde_json::to_vec(output).map_err(|err| WorkerError::InvalidOutput {
                index,
                message: err.to_string(),
            })
        })
        .collect::<Result<_, _>>()?;
    let status_info = match parts.status_info {
        Some(info) => serde_json::to_vec(&info).map_err(|source| WorkerError::Decode {
            location: "statusInfo".to_owned(),
            source,
        })?,
        None => Vec::new(),
    };
    Ok(pb::SyncResponse {
        next_phase: parts.next_phase.unwrap_or_default(),
        outputs,
        status_info,
        conditions: parts
            .conditions
            .into_iter()
            .map(|c: Condition| pb::Condition {
                r#type: c.type_,
                status: c.status.as_str().to_owned(),
                reason: c.reason,
                message: c.message,
            })
            .collect(),
        events: events(parts.events),
        requeue_after_ms: millis(parts.requeue_after),
    })
}

pub(crate) fn finalize_response(finalized: Finalized) -> pb::FinalizeResponse {
    pb::FinalizeResponse {
        done: finalized.is_done(),
        requeue_after_ms: millis(finalized.requeue()),
        events: events(finalized.events().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConditionStatus, MetricValue};
    use serde_json::json;
    use std::collections::HashMap;

    fn sync_request() -> pb::SyncRequest {
        pb::SyncRequest {
            phase: "Analyzing".into(),
            resource: json!({
                "apiVersion": "example.com/v1", "kind": "Canary",
                "metadata": {"name": "web", "namespace": "shop", "generation": 3},
                "spec": {"target": "web"},
                "status": {"statusInfo": {"weight": 10}},
            })
            .to_string()
            .into_bytes(),
            objects: HashMap::from([
                (
                    "pods".to_owned(),
                    pb::ObjectList {
                        items: vec![
                            br#"{"metadata":{"name":"web-0"},"n":9007199254740993}"#.to_vec(),
                        ],
                        error: String::new(),
                    },
                ),
                (
                    "routes".to_owned(),
                    pb::ObjectList {
                        items: vec![],
                        error: "no CRD".into(),
                    },
                ),
            ]),
            metrics: HashMap::from([
                (
                    "rate".to_owned(),
                    pb::MetricResult {
                        query: "sum(rate(x[1m]))".into(),
                        r#type: ResultType::Vector.into(),
                        series: vec![pb::Series {
                            labels: HashMap::from([("job".to_owned(), "web".to_owned())]),
                            samples: vec![pb::Sample {
                                timestamp_ms: 5,
                                value: 0.0,
                                is_nan: true,
                            }],
                        }],
                        no_data: false,
                        error: String::new(),
                    },
                ),
                (
                    "down".to_owned(),
                    pb::MetricResult {
                        query: "up".into(),
                        error: "connection refused".into(),
                        ..Default::default()
                    },
                ),
            ]),
            meta: Some(pb::RequestMeta {
                attempt: 2,
                tag: "t".into(),
                deadline_unix_ms: 1_700_000_000_000,
                generation: 3,
                operator_name: "canary".into(),
            }),
            ..Default::default()
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Spec {
        target: String,
    }

    #[derive(Debug, serde::Deserialize, Serialize, PartialEq)]
    struct Info {
        weight: u32,
    }

    #[test]
    fn sync_request_becomes_a_context() {
        let ctx: Context<Spec, Info> = sync_context(sync_request(), Some("00-abc".into())).unwrap();
        assert_eq!(ctx.phase(), "Analyzing");
        assert_eq!(ctx.spec().target, "web");
        assert_eq!(ctx.status_info(), Some(&Info { weight: 10 }));
        assert_eq!((ctx.namespace(), ctx.name()), (Some("shop"), "web"));
        assert_eq!(ctx.attempt(), 2);
        assert_eq!(ctx.tag(), "t");
        assert_eq!(ctx.generation(), 3);
        assert_eq!(ctx.operator_name(), "canary");
        assert_eq!(ctx.traceparent(), Some("00-abc"));
        assert_eq!(
            ctx.deadline(),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000))
        );
        // int64 values survive exactly.
        assert_eq!(
            ctx.objects_json("pods").unwrap()[0]["n"].as_i64(),
            Some(9_007_199_254_740_993)
        );
        assert!(matches!(
            ctx.objects_json("routes"),
            Err(WorkerError::InputUnavailable { ref message, .. }) if message == "no CRD"
        ));
        let rate = ctx.metric("rate").unwrap();
        assert_eq!(rate.kind, Some(MetricKind::Vector));
        assert_eq!(rate.series[0].labels["job"], "web");
        assert_eq!(rate.series[0].samples[0].timestamp_ms, 5);
        assert_eq!(rate.value().unwrap(), MetricValue::NaN);
        let down = ctx.metric("down").unwrap();
        assert_eq!(down.kind, None);
        assert_eq!(down.error.as_deref(), Some("connection refused"));
        assert!(down.value().unwrap_err().is_retryable());
    }

    #[test]
    fn trace_results_become_typed_traces() {
        let mut request = sync_request();
        let stats = |op: &str, spans, errors| pb::SpanStats {
            service: if op.is_empty() { "" } else { "web" }.into(),
            operation: op.into(),
            span_count: spans,
            error_count: errors,
            error_ratio: errors as f64 / spans as f64,
            p50_ms: 5.0,
            p90_ms: 9.0,
            p99_ms: 12.0,
        };
        request.traces = HashMap::from([
            (
                "spans".to_owned(),
                pb::TraceResult {
                    query: "service=web lookBack=1m limit=10".into(),
                    total: Some(stats("", 20, 5)),
                    operations: vec![stats("GET /", 10, 0), stats("charge", 10, 5)],
                    samples: vec![pb::TraceSample {
                        trace_id: "ab".into(),
                        root_service: "web".into(),
                        root_operation: "GET /".into(),
                        duration_ms: 12.5,
                        start_unix_ms: 7,
                        error_spans: vec![pb::ErrorSpan {
                            service: "web".into(),
                            operation: "charge".into(),
                            status_message: "declined".into(),
                        }],
                    }],
                    ..Default::default()
                },
            ),
            (
                "down".to_owned(),
                pb::TraceResult {
                    query: "service=web".into(),
                    error: "Jaeger unreachable".into(),
                    ..Default::default()
                },
            ),
            (
                "none".to_owned(),
                pb::TraceResult {
                    no_data: true,
                    ..Default::default()
                },
            ),
        ]);
        let ctx: Context = sync_context(request, None).unwrap();
        let spans = ctx.trace("spans").unwrap();
        assert_eq!(spans.query, "service=web lookBack=1m limit=10");
        assert_eq!(spans.stats().unwrap().unwrap().error_ratio, 0.25);
        assert_eq!(spans.worst_operation().unwrap().operation, "charge");
        let sample = &spans.samples[0];
        assert_eq!((sample.duration_ms, sample.start_unix_ms), (12.5, 7));
        assert_eq!(sample.error_spans[0].status_message, "declined");
        assert!(
            ctx.trace("down")
                .unwrap()
                .stats()
                .unwrap_err()
                .is_retryable()
        );
        assert_eq!(ctx.trace("none").unwrap().stats().unwrap(), None);
        assert!(ctx.trace("other").is_err());
    }

    #[test]
    fn missing_meta_and_zero_values_mean_not_set() {
        let mut request = sync_request();
        request.meta = None;
        let ctx: Context = sync_context(request, None).unwrap();
        assert_eq!(ctx.deadline(), None);
        assert_eq!(ctx.attempt(), 0);
        // Falls back to metadata.generation.
        assert_eq!(ctx.generation(), 3);
    }

    #[test]
    fn invalid_json_names_the_field() {
        let mut request = sync_request();
        request.objects.get_mut("pods").unwrap().items[0] = b"{oops".to_vec();
        let err = sync_context::<Value, Value>(request, None).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.to_string()
                .starts_with("field SyncRequest.objects[\"pods\"].items[0] is not valid JSON"),
            "{err}"
        );

        let mut request = sync_request();
        request.resource = b"".to_vec();
        let err = sync_context::<Value, Value>(request, None).unwrap_err();
        assert!(
            err.to_string().starts_with("field SyncRequest.resource"),
            "{err}"
        );
    }

    #[test]
    fn an_outcome_setting_a_scheduler_condition_is_refused_before_it_is_sent() {
        let outcome = Outcome::<Value>::next("Promoting")
            .condition("Healthy", true, "Fine", "")
            .condition("MetricsAvailable", true, "QueriesSucceeded", "all good");
        let err = sync_response(outcome).unwrap_err();
        assert!(
            matches!(&err, WorkerError::InvalidCondition { type_, .. } if type_ == "MetricsAvailable")
        );
        assert_eq!(err.code(), tonic::Code::Internal);
        assert!(
            err.to_string()
                .starts_with("condition type MetricsAvailable is owned by the scheduler"),
            "{err}"
        );
    }

    #[test]
    fn outcome_becomes_a_sync_response() {
        let outcome = Outcome::next("Promoting")
            .output(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}))
            .unwrap()
            .status(Info { weight: 50 })
            .condition("Healthy", ConditionStatus::Unknown, "NoData", "none")
            .event_normal("Shifted", "50%")
            .event_warning("Slow", "p99 high")
            .requeue_after(Duration::from_millis(1500));
        let response = sync_response(outcome).unwrap();
        assert_eq!(response.next_phase, "Promoting");
        let output: Value = serde_json::from_slice(&response.outputs[0]).unwrap();
        assert_eq!(output["kind"], "ConfigMap");
        assert_eq!(response.status_info, br#"{"weight":50}"#);
        assert_eq!(
            response.conditions,
            [pb::Condition {
                r#type: "Healthy".into(),
                status: "Unknown".into(),
                reason: "NoData".into(),
                message: "none".into(),
            }]
        );
        assert_eq!(response.events.len(), 2);
        assert_eq!(response.events[0].severity(), PbSeverity::Normal);
        assert_eq!(response.events[1].severity(), PbSeverity::Warning);
        assert_eq!(response.requeue_after_ms, 1500);

        let empty = sync_response(Outcome::<Info>::stay()).unwrap();
        assert_eq!(empty, pb::SyncResponse::default());
    }

    #[test]
    fn finalize_request_and_response() {
        let request = pb::FinalizeRequest {
            resource: br#"{"metadata":{"name":"web"},"status":{"phase":"Processing"}}"#.to_vec(),
            meta: Some(pb::RequestMeta {
                attempt: 1,
                ..Default::default()
            }),
        };
        let ctx: Context = finalize_context(request, None).unwrap();
        assert_eq!(ctx.phase(), "Processing");
        assert!(ctx.objects_json("anything").is_err());

        let response = finalize_response(
            Finalized::not_yet()
                .requeue_after(Duration::from_secs(2))
                .event_normal("Waiting", "draining"),
        );
        assert!(!response.done);
        assert_eq!(response.requeue_after_ms, 2000);
        assert_eq!(response.events[0].reason, "Waiting");
    }

    #[test]
    fn describe_lists_phases_in_order() {
        let worker: Worker = Worker::new("w")
            .version("1.0")
            .phase("B", |_ctx| async { Ok(Outcome::stay()) })
            .phase("A", |_ctx| async { Ok(Outcome::stay()) });
        let response = describe_response(&worker);
        assert_eq!(response.protocol_version, "v1");
        assert_eq!(response.worker_name, "w");
        assert_eq!(response.worker_version, "1.0");
        assert_eq!(response.phases, ["B", "A"]);
        assert!(!response.finalize);
        assert_eq!(response.capabilities, ["traceparent"]);
    }

    #[test]
    fn trace_id_accepts_only_well_formed_traceparents() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(tp), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn panics_become_internal() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let status = rt
            .block_on(guarded::<()>(async { panic!("boom") }, "sync"))
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.message(), "the sync handler panicked: boom");
    }
}
