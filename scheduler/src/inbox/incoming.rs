//! Turning one HTTP request into events: CloudEvents in binary, structured and batch content
//! modes (through the CloudEvents SDK), GitHub deliveries and generic JSON webhooks. Pure: no
//! I/O, so every refusal is table-tested.

use std::collections::BTreeMap;

use autopilot_model::event::Attributes;
use axum::http::HeaderMap;
use cloudevents::AttributesReader;
use cloudevents::event::Data;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Event;

/// The media type of a CloudEvents batch (the HTTP binding's batched content mode).
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// Why a request's body is not an event. Not retryable: the sender must change the request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The CloudEvents SDK refused the request (missing `ce-id`, bad `specversion`, …).
    #[error("not a CloudEvent: {0}")]
    CloudEvent(String),
    /// A batch is not a JSON array of structured CloudEvents.
    #[error("not a CloudEvents batch: {0}")]
    Batch(String),
    /// A GitHub delivery lacks a header GitHub always sends.
    #[error("missing {0} header (GitHub sends it with every delivery)")]
    GithubHeader(&'static str),
    /// The body is not JSON where JSON is required.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// A webhook's `id` template found nothing in the body.
    #[error("cannot read the delivery id: {0}")]
    NoId(String),
}

/// An event as received, before it is stored: the event, and its data as JSON when it is JSON
/// (`Value::Null` otherwise) for matching and routing.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    /// The event (its `accepted_unix_ms` is set when stored).
    pub event: Event,
    /// `data` parsed as JSON, or `Null`.
    pub json: Value,
}

impl Incoming {
    /// The attributes matching looks at.
    pub fn attributes(&self) -> Attributes {
        Attributes {
            id: self.event.id.clone(),
            source: self.event.source.clone(),
            type_: self.event.type_.clone(),
            subject: self.event.subject.clone(),
        }
    }

    /// The event as a document for routing templates (`data.…`, `subject`, …).
    pub fn document(&self) -> Value {
        let e = &self.event;
        serde_json::json!({
            "id": e.id,
            "source": e.source,
            "type": e.type_,
            "subject": e.subject,
            "time": e.time_unix_ms,
            "data": self.json,
            "extensions": e.extensions,
        })
    }

    fn new(event: Event) -> Self {
        let json = if is_json(&event.data_content_type) {
            serde_json::from_slice(&event.data).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        Self { event, json }
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence == "application/json" || essence.ends_with("+json") || essence == "text/json"
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The CloudEvents in a request: one in binary or structured content mode, or many in batched
/// mode (`Content-Type: application/cloudevents-batch+json`).
///
/// # Errors
///
/// [`Malformed`] with the SDK's reason.
pub fn cloudevents(
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<Vec<Incoming>, Malformed> {
    let events = if content_type(headers).starts_with(BATCH_CONTENT_TYPE) {
        serde_json::from_slice::<Vec<cloudevents::Event>>(body)
            .map_err(|e| Malformed::Batch(e.to_string()))?
    } else {
        vec![
            cloudevents::binding::http::to_event(headers, body.to_vec())
                .map_err(|e| Malformed::CloudEvent(e.to_string()))?,
        ]
    };
    Ok(events
        .into_iter()
        .map(|e| Incoming::new(from_cloudevent(e, now_ms)))
        .collect())
}

fn from_cloudevent(e: cloudevents::Event, now_ms: i64) -> Event {
    let (data, content_type) = match e.data() {
        None => (Vec::new(), String::new()),
        Some(Data::Json(v)) => (
            serde_json::to_vec(v).unwrap_or_default(),
            e.datacontenttype().unwrap_or("application/json").to_owned(),
        ),
        Some(Data::String(s)) => (
            s.clone().into_bytes(),
            e.datacontenttype().unwrap_or("text/plain").to_owned(),
        ),
        Some(Data::Binary(b)) => (
            b.clone(),
            e.datacontenttype()
                .unwrap_or("application/octet-stream")
                .to_owned(),
        ),
    };
    Event {
        id: e.id().to_owned(),
        source: e.source().to_string(),
        type_: e.ty().to_owned(),
        subject: e.subject().unwrap_or_default().to_owned(),
        time_unix_ms: e.time().map_or(now_ms, |t| t.timestamp_millis()),
        data_content_type: content_type,
        data,
        extensions: e
            .iter_extensions()
            .map(|(k, v)| (k.to_owned(), v.to_string()))
            .collect(),
        accepted_unix_ms: 0,
    }
}

/// What a GitHub delivery is.
#[derive(Clone, Debug, PartialEq)]
pub enum Github {
    /// GitHub's `ping`, sent when a webhook is created: answered, never stored.
    Ping,
    /// A delivery to match and store.
    Delivery(Box<Incoming>),
}

/// A GitHub delivery (its signature already checked): `type` is `event.action` (or `event`
/// when the payload has no `action`), `id` the `X-GitHub-Delivery` GUID, `source` the
/// repository's URL (else the organization's, else `https://github.com`).
///
/// # Errors
///
/// [`Malformed`] when a GitHub header is missing or the body is not JSON.
pub fn github(headers: &HeaderMap, body: &[u8], now_ms: i64) -> Result<Github, Malformed> {
    let get = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or(Malformed::GithubHeader(name))
    };
    let event = get("x-github-event")?;
    let delivery = get("x-github-delivery")?;
    if event == "ping" {
        return Ok(Github::Ping);
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|e| Malformed::NotJson(e.to_string()))?;
    let type_ = match json.get("action").and_then(Value::as_str) {
        Some(action) => format!("{event}.{action}"),
        None => event.to_owned(),
    };
    let source = ["/repository/html_url", "/organization/html_url"]
        .iter()
        .find_map(|p| json.pointer(p).and_then(Value::as_str))
        .unwrap_or("https://github.com")
        .to_owned();
    let mut extensions = BTreeMap::new();
    if let Some(hook) = headers
        .get("x-github-hook-id")
        .and_then(|v| v.to_str().ok())
    {
        extensions.insert("githubhookid".to_owned(), hook.to_owned());
    }
    Ok(Github::Delivery(Box::new(Incoming {
        event: Event {
            id: delivery.to_owned(),
            source,
            type_,
            subject: String::new(),
            time_unix_ms: now_ms,
            data_content_type: "application/json".into(),
            data: body.to_vec(),
            extensions,
            accepted_unix_ms: 0,
        },
        json,
    })))
}

/// A generic webhook's call (its secret already checked) to the source `name`: `type` and
/// `source` are the name; `id` renders `id_template` against the event, or is the SHA-256 of
/// the body when there is none (so the same payload counts once).
///
/// # Errors
///
/// [`Malformed`] when the body is not JSON or the id template does not render.
pub fn webhook(
    name: &str,
    body: &[u8],
    id_template: Option<&str>,
    now_ms: i64,
) -> Result<Incoming, Malformed> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| Malformed::NotJson(e.to_string()))?;
    let mut incoming = Incoming {
        event: Event {
            id: String::new(),
            source: name.to_owned(),
            type_: name.to_owned(),
            subject: String::new(),
            time_unix_ms: now_ms,
            data_content_type: "application/json".into(),
            data: body.to_vec(),
            extensions: BTreeMap::new(),
            accepted_unix_ms: 0,
        },
        json,
    };
    incoming.event.id = match id_template {
        Some(t) => {
            let doc = incoming.document();
            autopilot_model::template::render(
                t,
                &autopilot_model::template::Scope::event(&doc),
                autopilot_model::template::Escape::None,
            )
            .map_err(|e| Malformed::NoId(e.to_string()))?
        }
        None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    };
    Ok(incoming)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn binary_structured_and_batch() {
        let binary = cloudevents(
            &headers(&[
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "ci"),
                ("ce-type", "done"),
                ("ce-subject", "web"),
                ("ce-team", "blue"),
                ("content-type", "application/json"),
            ]),
            br#"{"ok":true}"#,
            5,
        )
        .unwrap();
        assert_eq!(binary.len(), 1);
        let e = &binary[0];
        assert_eq!(
            (
                e.event.id.as_str(),
                e.event.source.as_str(),
                e.event.type_.as_str()
            ),
            ("1", "ci", "done")
        );
        assert_eq!(e.event.subject, "web");
        assert_eq!(e.event.time_unix_ms, 5);
        assert_eq!(e.event.extensions["team"], "blue");
        assert_eq!(e.json, serde_json::json!({"ok": true}));
        assert_eq!(e.document()["data"]["ok"], true);

        let structured = cloudevents(
            &headers(&[("content-type", "application/cloudevents+json")]),
            br#"{"specversion":"1.0","id":"2","source":"ci","type":"done",
                "time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"n":1}}"#,
            5,
        )
        .unwrap();
        assert_eq!(structured[0].event.id, "2");
        assert_eq!(structured[0].event.time_unix_ms, 1_767_225_600_000);
        assert_eq!(structured[0].json["n"], 1);

        let batch = cloudevents(
            &headers(&[("content-type", BATCH_CONTENT_TYPE)]),
            br#"[{"specversion":"1.0","id":"a","source":"s","type":"t"},
                 {"specversion":"1.0","id":"b","source":"s","type":"t","data":"hi","datacontenttype":"text/plain"}]"#,
            5,
        )
        .unwrap();
        let ids: Vec<&str> = batch.iter().map(|e| e.event.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(batch[1].event.data, b"hi");
        assert_eq!(batch[1].json, Value::Null);
    }

    #[test]
    fn malformed_cloudevents() {
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Headers<'_>, &[u8], &str)] = &[
            (
                &[
                    ("ce-specversion", "1.0"),
                    ("ce-source", "s"),
                    ("ce-type", "t"),
                ],
                b"",
                "not a CloudEvent",
            ),
            (
                &[
                    ("ce-specversion", "9.9"),
                    ("ce-id", "1"),
                    ("ce-source", "s"),
                    ("ce-type", "t"),
                ],
                b"",
                "not a CloudEvent",
            ),
            (
                &[("content-type", "application/cloudevents+json")],
                b"{",
                "not a CloudEvent",
            ),
            (
                &[("content-type", BATCH_CONTENT_TYPE)],
                b"{}",
                "not a CloudEvents batch",
            ),
            (
                &[("content-type", BATCH_CONTENT_TYPE)],
                br#"[{"id":"1"}]"#,
                "not a CloudEvents batch",
            ),
            (&[], b"hello", "not a CloudEvent"),
        ];
        for (h, body, want) in cases {
            let err = cloudevents(&headers(h), body, 0).unwrap_err().to_string();
            assert!(err.starts_with(want), "{h:?}: {err}");
        }
    }

    #[test]
    fn github_deliveries() {
        let body = br#"{"action":"closed","repository":{"html_url":"https://github.com/o/r"}}"#;
        let h = headers(&[
            ("x-github-event", "pull_request"),
            ("x-github-delivery", "guid-1"),
        ]);
        let Github::Delivery(d) = github(&h, body, 7).unwrap() else {
            panic!("not a delivery")
        };
        assert_eq!(d.event.type_, "pull_request.closed");
        assert_eq!(d.event.id, "guid-1");
        assert_eq!(d.event.source, "https://github.com/o/r");
        let push = headers(&[("x-github-event", "push"), ("x-github-delivery", "guid-2")]);
        let Github::Delivery(d) = github(&push, b"{}", 7).unwrap() else {
            panic!("not a delivery")
        };
        assert_eq!(
            (d.event.type_.as_str(), d.event.source.as_str()),
            ("push", "https://github.com")
        );
        let ping = headers(&[("x-github-event", "ping"), ("x-github-delivery", "g")]);
        assert_eq!(github(&ping, b"{}", 0).unwrap(), Github::Ping);
        assert_eq!(
            github(&headers(&[("x-github-event", "push")]), b"{}", 0).unwrap_err(),
            Malformed::GithubHeader("x-github-delivery")
        );
        assert!(matches!(github(&h, b"nope", 0), Err(Malformed::NotJson(_))));
    }

    #[test]
    fn webhooks() {
        let a = webhook("approval", br#"{"req":"r-1"}"#, Some("{{ data.req }}"), 1).unwrap();
        assert_eq!(a.event.id, "r-1");
        assert_eq!(a.event.type_, "approval");
        let b = webhook("approval", br#"{"x":1}"#, None, 1).unwrap();
        let c = webhook("approval", br#"{"x":1}"#, None, 2).unwrap();
        assert_eq!(b.event.id, c.event.id);
        assert!(b.event.id.starts_with("sha256:"));
        assert_eq!(
            webhook("approval", br#"{"x":1}"#, Some("{{ data.req }}"), 1)
                .unwrap_err()
                .to_string(),
            "cannot read the delivery id: `data.req` is not set on the object"
        );
        assert!(matches!(
            webhook("a", b"[", None, 1),
            Err(Malformed::NotJson(_))
        ));
    }
}
