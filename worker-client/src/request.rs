//! The [`Request`] of one Sync call, built once per call: the resource's JSON spliced from the
//! text the scheduler's cache keeps ([`resource_json`]), the phase's [`Inputs`], and the tag
//! computed from the spec's text without re-serialising it.
//!
//! # Adding an input kind
//! An input kind (objects, metrics, ...) is one field of [`Inputs`], keyed by its declared name.
//! To add one: add the field here with its domain type, hash it in [`Inputs::hash_into`], and
//! convert it to its protobuf message in `wire.rs` (`to_pb`, plus one line in `encode` when it is
//! a map of messages). Nothing else in the crate changes.
use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::trace::TraceInput;
use crate::worker::CallMeta;

/// One series of a query result: its labels and `(timestamp ms, value)` samples.
pub type SeriesData = (BTreeMap<String, String>, Vec<(i64, f64)>);

/// The result of one PromQL query, as sent to a worker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricInput {
    /// The query as sent to Prometheus.
    pub query: String,
    /// `scalar`, `vector` or `matrix` (empty when the query failed).
    pub result_type: String,
    /// Series: labels and `(timestamp ms, value)` samples.
    pub series: Vec<SeriesData>,
    /// The query returned no samples.
    pub no_data: bool,
    /// Why the query failed.
    pub error: Option<String>,
}

/// One external event (CloudEvent, GitHub delivery, webhook call) as sent to a worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalEvent {
    /// Unique per source (CloudEvents `id`, `X-GitHub-Delivery`, the webhook's id).
    pub id: String,
    /// CloudEvents `source`.
    pub source: String,
    /// CloudEvents `type`.
    pub type_: String,
    /// CloudEvents `subject`, empty when absent.
    pub subject: String,
    /// When it happened, ms since the Unix epoch.
    pub time_unix_ms: i64,
    /// Media type of `data`.
    pub data_content_type: String,
    /// The payload as received.
    pub data: Vec<u8>,
    /// CloudEvents extension attributes.
    pub extensions: BTreeMap<String, String>,
    /// When the scheduler stored it, ms since the Unix epoch.
    pub accepted_unix_ms: i64,
}

/// A phase's inputs for one call, each kind by its declared name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// Resource inputs by key: the objects as JSON, or why they could not be gathered.
    pub objects: BTreeMap<String, Result<Vec<Vec<u8>>, String>>,
    /// Metric inputs by query name.
    pub metrics: BTreeMap<String, MetricInput>,
    /// Trace inputs by trace query name.
    pub traces: BTreeMap<String, TraceInput>,
    /// External events by source name, oldest first, or why they could not be read.
    pub events: BTreeMap<String, Result<Vec<ExternalEvent>, String>>,
}

impl Inputs {
    /// Feeds every input into the tag's hash. An input kind left empty adds nothing, so adding
    /// a kind does not change the tags of phases that do not read it.
    fn hash_into(&self, h: &mut Fnv) {
        for (k, v) in &self.objects {
            h.write(k.as_bytes());
            match v {
                Ok(items) => items.iter().for_each(|i| h.write(i)),
                Err(e) => h.write(e.as_bytes()),
            }
        }
        for (k, m) in &self.metrics {
            h.write(k.as_bytes());
            h.write(format!("{m:?}").as_bytes());
        }
        for (k, t) in &self.traces {
            h.write(k.as_bytes());
            h.write(format!("{t:?}").as_bytes());
        }
        for (k, v) in &self.events {
            h.write(k.as_bytes());
            match v {
                Ok(items) => items.iter().for_each(|e| {
                    h.write(e.source.as_bytes());
                    h.write(e.id.as_bytes());
                }),
                Err(e) => h.write(e.as_bytes()),
            }
        }
    }
}

/// One Sync call, in the scheduler's terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The phase to run.
    pub phase: String,
    /// The resource as JSON ([`resource_json`]).
    pub resource: Vec<u8>,
    /// The phase's inputs.
    pub inputs: Inputs,
    /// Call facts; `meta.tag` hashes the spec and the inputs.
    pub meta: CallMeta,
    /// How long to wait for the answer.
    pub deadline: Duration,
    /// W3C trace context to send as metadata.
    pub traceparent: Option<String>,
}

impl Request {
    /// A request for `phase` with `resource` (its JSON) whose spec's JSON text is `spec`; the
    /// tag in `meta` is computed here from `spec` and `inputs`.
    pub fn new(
        phase: impl Into<String>,
        resource: Vec<u8>,
        spec: Option<&str>,
        inputs: Inputs,
        mut meta: CallMeta,
        deadline: Duration,
    ) -> Self {
        meta.tag = tag(spec, &inputs);
        Request {
            phase: phase.into(),
            resource,
            inputs,
            meta,
            deadline,
            traceparent: None,
        }
    }

    /// The `SyncRequest` exactly as [`crate::GrpcWorker`] sends it: protobuf bytes, with the
    /// value of every map entry present (see `wire.rs`).
    pub fn to_wire(self) -> Vec<u8> {
        crate::wire::encode_sync(self).0
    }

    /// The same request as prost alone encodes it, which leaves out a map entry's value when
    /// it is empty: for tests that show why [`Request::to_wire`] does not.
    #[doc(hidden)]
    pub fn to_prost_wire(self) -> Vec<u8> {
        use prost::Message as _;
        crate::wire::to_pb(self).encode_to_vec()
    }

    /// The same request, sending `traceparent` as W3C trace context.
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }
}

/// FNV-1a, 64 bit: stable across processes and versions, which the tag must be.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A tag over the resource's spec (its JSON text, as the API server wrote it) and every input:
/// equal tags mean equal inputs.
pub fn tag(spec: Option<&str>, inputs: &Inputs) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(spec.unwrap_or_default().as_bytes());
    inputs.hash_into(&mut h);
    format!("{:016x}", h.0)
}

/// The resource as workers receive it: `apiVersion`, `kind`, `metadata` (without
/// `managedFields`: large, and never useful to a phase), then every other top-level field as
/// the JSON text it already is. Nothing but the metadata is serialised.
pub fn resource_json<'a>(
    api_version: &str,
    kind: &str,
    metadata: &ObjectMeta,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let stripped;
    let metadata = if metadata.managed_fields.is_some() {
        let mut m = metadata.clone();
        m.managed_fields = None;
        stripped = m;
        &stripped
    } else {
        metadata
    };
    // Writing to a Vec cannot fail, and every part is valid JSON: the field texts were parsed
    // when they were read.
    let _ = (|| -> Result<(), serde_json::Error> {
        out.push(b'{');
        out.extend_from_slice(b"\"apiVersion\":");
        serde_json::to_writer(&mut out, api_version)?;
        out.extend_from_slice(b",\"kind\":");
        serde_json::to_writer(&mut out, kind)?;
        out.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut out, metadata)?;
        for (name, text) in fields {
            out.push(b',');
            serde_json::to_writer(&mut out, name)?;
            out.push(b':');
            let _ = out.write_all(text.as_bytes());
        }
        out.push(b'}');
        Ok(())
    })();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn the_resource_is_spliced_from_its_fields_text() {
        let meta = ObjectMeta {
            name: Some("t1".into()),
            namespace: Some("ns".into()),
            managed_fields: Some(vec![Default::default()]),
            ..Default::default()
        };
        let spec = r#"{"big":9007199254740993,"s":"<&>"}"#;
        let bytes = resource_json(
            "example.com/v1",
            "Task",
            &meta,
            [("spec", spec), ("status", r#"{"phase":"A"}"#)],
        );
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains(spec), "the spec's text is kept as is: {text}");
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["apiVersion"], "example.com/v1");
        assert_eq!(v["kind"], "Task");
        assert_eq!(v["metadata"], json!({"name": "t1", "namespace": "ns"}));
        assert_eq!(v["status"]["phase"], "A");
    }

    #[test]
    fn the_tag_changes_with_the_spec_and_each_input() {
        let mut inputs = Inputs::default();
        let base = tag(Some(r#"{"a":1}"#), &inputs);
        assert_eq!(base, tag(Some(r#"{"a":1}"#), &inputs), "stable");
        assert_ne!(base, tag(Some(r#"{"a":2}"#), &inputs));
        inputs
            .objects
            .insert("pods".into(), Ok(vec![b"{}".to_vec()]));
        let with_object = tag(Some(r#"{"a":1}"#), &inputs);
        assert_ne!(base, with_object);
        inputs.metrics.insert("rate".into(), MetricInput::default());
        let with_metric = tag(Some(r#"{"a":1}"#), &inputs);
        assert_ne!(with_object, with_metric);
        inputs.traces.insert("spans".into(), TraceInput::default());
        assert_ne!(with_metric, tag(Some(r#"{"a":1}"#), &inputs));
    }
}
