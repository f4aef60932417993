//! The gRPC edge: domain values to `autopilot.worker.v1` messages and back. Protobuf types do
//! not leave this module and `grpc.rs`.
//!
//! A `SyncRequest` is encoded here rather than by prost alone: prost leaves out the value of a
//! map entry when it equals the default (an input with no objects and no error), which is legal
//! protobuf but which protobufjs 7 (under `@grpc/proto-loader`, the common Node.js stack)
//! decodes as `null`, failing the whole request. Every map entry is written with its value.
use std::time::{Duration, SystemTime};

use autopilot_proto::v1 as pb;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};

use crate::reply::{RawCondition, RawReply};
use crate::request::{ExternalEvent, MetricInput, Request};
use crate::trace::{SpanStats, TraceInput};
use crate::worker::{CallMeta, Event, FinalizeReply, Severity};

/// A message already encoded, sent as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Encoded(pub(crate) Vec<u8>);

impl Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever sent, never received.
        encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The request's `SyncRequest`, encoded with every map value present.
// Messages are built field by field so that fields added to the contract later start out empty.
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn encode_sync(request: Request) -> Encoded {
    let mut msg = to_pb(request);
    let objects = std::mem::take(&mut msg.objects);
    let metrics = std::mem::take(&mut msg.metrics);
    let events = std::mem::take(&mut msg.events);
    let traces = std::mem::take(&mut msg.traces);
    // Fields in number order: phase and resource (1, 2), objects and metrics (3, 4), meta
    // and anything else prost writes (5), events and traces (6, 7).
    let mut head = pb::SyncRequest::default();
    head.phase = std::mem::take(&mut msg.phase);
    head.resource = std::mem::take(&mut msg.resource);
    let mut buf = Vec::with_capacity(head.encoded_len() + msg.encoded_len() + 64);
    head.encode_raw(&mut buf);
    explicit_map(3, &objects, &mut buf);
    explicit_map(4, &metrics, &mut buf);
    msg.encode_raw(&mut buf);
    explicit_map(6, &events, &mut buf);
    explicit_map(7, &traces, &mut buf);
    Encoded(buf)
}

/// Writes a `map<string, M>` field with every entry's key and value present.
fn explicit_map<'a, M: Message + 'a>(
    field: u32,
    map: impl IntoIterator<Item = (&'a String, &'a M)>,
    buf: &mut Vec<u8>,
) {
    for (key, value) in map {
        let len = encoding::string::encoded_len(1, key) + encoding::message::encoded_len(2, value);
        encoding::encode_key(field, WireType::LengthDelimited, buf);
        encoding::encode_varint(len as u64, buf);
        encoding::string::encode(1, key, buf);
        encoding::message::encode(2, value, buf);
    }
}

/// The request as its protobuf message (maps as prost would encode them).
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn to_pb(request: Request) -> pb::SyncRequest {
    let Request {
        phase,
        resource,
        inputs,
        meta,
        deadline,
        traceparent: _,
    } = request;
    let mut msg = pb::SyncRequest::default();
    msg.phase = phase;
    msg.resource = resource;
    msg.objects = inputs
        .objects
        .into_iter()
        .map(|(k, v)| {
            let list = match v {
                Ok(items) => pb::ObjectList {
                    items,
                    error: String::new(),
                },
                Err(error) => pb::ObjectList {
                    items: vec![],
                    error,
                },
            };
            (k, list)
        })
        .collect();
    msg.metrics = inputs
        .metrics
        .into_iter()
        .map(|(k, v)| (k, metric_pb(v)))
        .collect();
    msg.traces = inputs
        .traces
        .into_iter()
        .map(|(k, v)| (k, trace_pb(v)))
        .collect();
    msg.events = inputs
        .events
        .into_iter()
        .map(|(k, v)| {
            let list = match v {
                Ok(items) => pb::EventList {
                    items: items.into_iter().map(event_pb).collect(),
                    error: String::new(),
                },
                Err(error) => pb::EventList {
                    items: vec![],
                    error,
                },
            };
            (k, list)
        })
        .collect();
    msg.meta = Some(meta_pb(&meta, deadline));
    msg
}

fn event_pb(e: ExternalEvent) -> pb::ExternalEvent {
    pb::ExternalEvent {
        id: e.id,
        source: e.source,
        r#type: e.type_,
        subject: e.subject,
        time_unix_ms: e.time_unix_ms,
        data_content_type: e.data_content_type,
        data: e.data,
        extensions: e.extensions.into_iter().collect(),
        accepted_unix_ms: e.accepted_unix_ms,
    }
}

fn deadline_unix_ms(deadline: Duration) -> i64 {
    (SystemTime::now() + deadline)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub(crate) fn meta_pb(meta: &CallMeta, deadline: Duration) -> pb::RequestMeta {
    pb::RequestMeta {
        attempt: meta.attempt,
        tag: meta.tag.clone(),
        deadline_unix_ms: deadline_unix_ms(deadline),
        generation: meta.generation,
        operator_name: meta.operator_name.clone(),
    }
}

fn trace_pb(t: TraceInput) -> pb::TraceResult {
    let stats = |s: SpanStats| pb::SpanStats {
        service: s.service,
        operation: s.operation,
        span_count: s.span_count,
        error_count: s.error_count,
        error_ratio: s.error_ratio,
        p50_ms: s.p50_ms,
        p90_ms: s.p90_ms,
        p99_ms: s.p99_ms,
    };
    pb::TraceResult {
        query: t.query,
        no_data: t.no_data,
        error: t.error.unwrap_or_default(),
        total: Some(stats(t.total)),
        operations: t.operations.into_iter().map(stats).collect(),
        samples: t
            .samples
            .into_iter()
            .map(|s| pb::TraceSample {
                trace_id: s.trace_id,
                root_service: s.root_service,
                root_operation: s.root_operation,
                duration_ms: s.duration_ms,
                start_unix_ms: s.start_unix_ms,
                error_spans: s
                    .error_spans
                    .into_iter()
                    .map(|e| pb::ErrorSpan {
                        service: e.service,
                        operation: e.operation,
                        status_message: e.status_message,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn metric_pb(m: MetricInput) -> pb::MetricResult {
    use pb::metric_result::ResultType;
    let r#type = match m.result_type.as_str() {
        "scalar" => ResultType::Scalar,
        "vector" => ResultType::Vector,
        "matrix" => ResultType::Matrix,
        _ => ResultType::Unspecified,
    } as i32;
    pb::MetricResult {
        query: m.query,
        r#type,
        series: m
            .series
            .into_iter()
            .map(|(labels, samples)| pb::Series {
                labels: labels.into_iter().collect(),
                samples: samples
                    .into_iter()
                    .map(|(timestamp_ms, value)| pb::Sample {
                        timestamp_ms,
                        value,
                        is_nan: value.is_nan(),
                    })
                    .collect(),
            })
            .collect(),
        no_data: m.no_data,
        error: m.error.unwrap_or_default(),
    }
}

fn events_from(events: Vec<pb::Event>) -> Vec<Event> {
    events
        .into_iter()
        .map(|e| Event {
            severity: if e.severity() == pb::event::Severity::Warning {
                Severity::Warning
            } else {
                Severity::Normal
            },
            reason: e.reason,
            message: e.message,
        })
        .collect()
}

fn millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// A `SyncResponse` as the unchecked reply.
pub(crate) fn reply_from(r: pb::SyncResponse) -> RawReply {
    RawReply {
        next_phase: r.next_phase,
        outputs: r.outputs,
        status_info: (!r.status_info.is_empty()).then_some(r.status_info),
        conditions: r
            .conditions
            .into_iter()
            .map(|c| RawCondition {
                type_: c.r#type,
                status: c.status,
                reason: c.reason,
                message: c.message,
            })
            .collect(),
        events: events_from(r.events),
        requeue_after: millis(r.requeue_after_ms),
    }
}

/// A `FinalizeResponse` in the scheduler's terms.
pub(crate) fn finalize_from(r: pb::FinalizeResponse) -> FinalizeReply {
    FinalizeReply {
        done: r.done,
        events: events_from(r.events),
        requeue_after: millis(r.requeue_after_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Inputs;

    fn request() -> Request {
        let mut inputs = Inputs::default();
        inputs.objects.insert("empty".into(), Ok(vec![]));
        inputs
            .objects
            .insert("pods".into(), Ok(vec![br#"{"kind":"Pod"}"#.to_vec()]));
        inputs
            .objects
            .insert("failed".into(), Err("no RBAC".into()));
        inputs
            .metrics
            .insert("blank".into(), MetricInput::default());
        inputs.metrics.insert(
            "rate".into(),
            MetricInput {
                query: "rate(x[1m])".into(),
                result_type: "scalar".into(),
                series: vec![(Default::default(), vec![(1, 0.5)])],
                ..Default::default()
            },
        );
        Request::new(
            "Check",
            br#"{"kind":"Task"}"#.to_vec(),
            Some("{}"),
            inputs,
            CallMeta {
                attempt: 2,
                generation: 3,
                operator_name: "op".into(),
                ..Default::default()
            },
            Duration::from_secs(5),
        )
    }

    /// Every map of messages is written with its values, those added to the contract later
    /// included (events 6, traces 7): each entry of an empty value ends in `0x12 0x00`.
    #[test]
    fn every_map_of_messages_is_explicit() {
        let mut msg = to_pb(request());
        msg.events.insert("hooks".into(), pb::EventList::default());
        msg.traces
            .insert("spans".into(), pb::TraceResult::default());
        let mut buf = Vec::new();
        explicit_map(6, &msg.events, &mut buf);
        explicit_map(7, &msg.traces, &mut buf);
        assert_eq!(
            buf,
            [
                &[0x32, 9, 0x0a, 5][..],
                b"hooks",
                &[0x12, 0x00],
                &[0x3a, 9, 0x0a, 5],
                b"spans",
                &[0x12, 0x00]
            ]
            .concat()
        );
    }

    /// Any decoder reads the same message prost would have written.
    #[test]
    fn the_explicit_encoding_decodes_to_the_same_message() {
        let want = to_pb(request());
        let got = pb::SyncRequest::decode(encode_sync(request()).0.as_slice()).unwrap();
        let strip = |mut m: pb::SyncRequest| {
            m.meta.as_mut().unwrap().deadline_unix_ms = 0;
            m
        };
        assert_eq!(strip(got), strip(want));
    }

    /// The entry of an input without objects carries its (empty) value field: key `empty`
    /// (field 1) then value field 2 of length 0, `0x12 0x00`.
    #[test]
    fn an_empty_input_is_encoded_with_its_value() {
        let bytes = encode_sync(request()).0;
        let entry: &[u8] = &[0x1a, 9, 0x0a, 5, b'e', b'm', b'p', b't', b'y', 0x12, 0x00];
        assert!(
            bytes.windows(entry.len()).any(|w| w == entry),
            "no explicit empty ObjectList in {bytes:02x?}"
        );
        let blank: &[u8] = &[0x22, 9, 0x0a, 5, b'b', b'l', b'a', b'n', b'k', 0x12, 0x00];
        assert!(
            bytes.windows(blank.len()).any(|w| w == blank),
            "no explicit empty MetricResult in {bytes:02x?}"
        );
        // What prost alone writes: the value is left out.
        let mut prost_only = Vec::new();
        to_pb(request()).encode(&mut prost_only).unwrap();
        assert!(!prost_only.windows(entry.len()).any(|w| w == entry));
    }
}
