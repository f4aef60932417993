//! [`ExternalEvent`]: one event from outside the cluster (a CloudEvent, a GitHub delivery, a
//! generic webhook call) delivered to a phase that lists its source among its inputs.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::WorkerError;

/// One external event, in the shape of a CloudEvent. The scheduler hands each event to a
/// resource's phase until a call of that phase succeeds and its result is written, so a handler
/// sees an event again only when its previous call failed.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{Context, ExternalEvent};
///
/// #[derive(serde::Deserialize)]
/// struct LoadTest { passed: bool }
///
/// let ctx: Context = Context::builder()
///     .events("load-test-finished", vec![
///         ExternalEvent::new("1", "https://ci.example.com", "com.example.loadtest.finished")
///             .with_json(&serde_json::json!({"passed": true})),
///     ])
///     .build()
///     .unwrap();
/// let events = ctx.events("load-test-finished").unwrap();
/// assert!(events[0].data_json::<LoadTest>().unwrap().passed);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalEvent {
    /// Unique per source: the CloudEvents `id`, GitHub's `X-GitHub-Delivery`, or the
    /// webhook's delivery id.
    pub id: String,
    /// The CloudEvents `source`; for GitHub the repository's URL; for a webhook its name.
    pub source: String,
    /// The CloudEvents `type`; for GitHub `event.action` (`pull_request.closed`).
    pub type_: String,
    /// The CloudEvents `subject`, empty when absent.
    pub subject: String,
    /// When it happened (or was received, when it does not say).
    pub time: Option<SystemTime>,
    /// The media type of [`data`](Self::data), e.g. `application/json`.
    pub data_content_type: String,
    /// The payload, exactly as received.
    pub data: Vec<u8>,
    /// CloudEvents extension attributes.
    pub extensions: BTreeMap<String, String>,
    /// When the scheduler accepted (stored) it.
    pub accepted: Option<SystemTime>,
}

impl ExternalEvent {
    /// An event with these attributes and no data, for tests.
    pub fn new(id: impl Into<String>, source: impl Into<String>, type_: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            source: source.into(),
            type_: type_.into(),
            ..Self::default()
        }
    }

    /// This event with `data` as its JSON payload.
    ///
    /// # Panics
    ///
    /// When `data` cannot be serialized to JSON (a map with non-string keys).
    #[must_use]
    pub fn with_json(mut self, data: &impl Serialize) -> Self {
        self.data = serde_json::to_vec(data).expect("event data serializes to JSON");
        self.data_content_type = "application/json".into();
        self
    }

    /// The payload decoded from JSON into `T` (typed by the source's `schema`, or
    /// [`serde_json::Value`]).
    ///
    /// # Errors
    ///
    /// [`WorkerError::Decode`] naming the event and the path that did not match.
    pub fn data_json<T: DeserializeOwned>(&self) -> Result<T, WorkerError> {
        let mut de = serde_json::Deserializer::from_slice(&self.data);
        serde_path_to_error::deserialize(&mut de)
            .map_err(|err| WorkerError::decode(&format!("event {:?} data", self.id), err))
    }

    pub(crate) fn from_pb(e: autopilot_proto::v1::ExternalEvent) -> Self {
        let at = |ms: i64| {
            u64::try_from(ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        };
        Self {
            id: e.id,
            source: e.source,
            type_: e.r#type,
            subject: e.subject,
            time: at(e.time_unix_ms),
            data_content_type: e.data_content_type,
            data: e.data,
            extensions: e.extensions.into_iter().collect(),
            accepted: at(e.accepted_unix_ms),
        }
    }
}
