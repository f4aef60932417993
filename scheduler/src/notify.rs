//! Notifications: telling people when a resource changes phase, fails, is blocked, recovers,
//! waits at a gate or finishes — to the receivers declared under `notifications:` in
//! `autopilot-operator.yaml` (a JSON webhook, a Slack-compatible webhook, Alertmanager).
//!
//! The reconciler calls [`Notifier::observe`] after each status write. That call only
//! compares the two statuses ([`derive::changes`]) and queues what receivers want; one task
//! per receiver sends, in order, retrying with backoff.
//!
//! # Guarantees
//! - A reconcile never waits for a receiver: `observe` takes a lock for a queue push and
//!   returns. A queue holds at most [`QUEUE_CAPACITY`]; when full, the oldest is dropped and
//!   counted (`outcome="dropped"`).
//! - A failed post is retried with exponential backoff and jitter ([`INITIAL_BACKOFF`] up to
//!   [`MAX_BACKOFF`]) up to [`MAX_ATTEMPTS`] times; an answer that retrying cannot change (a
//!   4xx other than 408 and 429) is not retried. Notifications to one receiver go out in order,
//!   each with the same `X-Autopilot-Delivery` id on every attempt.
//! - `autopilot_notifications_total{receiver, outcome}` counts `delivered`, `retried` (a
//!   failed attempt that will be tried again), `failed` (given up) and `dropped`.
//!
//! Not guaranteed: delivery across a restart. Queues live in memory, like the Events queue;
//! notifications still queued when the process stops are lost.

pub mod derive;
pub mod payload;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autopilot_model::notifications::{NotificationReceiver, Secret, Target};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::cached::{Cached, Kind};
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::status::Status;
use payload::Notification;

/// Notifications waiting per receiver. A receiver down for a long time must not grow memory
/// without bound; 256 covers a burst of changes across many resources during a short outage.
pub const QUEUE_CAPACITY: usize = 256;
/// First delay after a failed post: long enough for a restarting receiver to come back.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Ceiling of the delay between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Attempts per notification before it is given up (about three minutes with the backoff
/// above), so that one bad notification cannot hold up the ones behind it forever.
pub const MAX_ATTEMPTS: u32 = 10;
/// One post slower than this counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Queues notifications for the receivers' delivery tasks. Cheap to clone; must be created
/// inside a Tokio runtime.
#[derive(Clone, Debug)]
pub struct Notifier {
    outboxes: Arc<Vec<Arc<Outbox>>>,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct Outbox {
    receiver: NotificationReceiver,
    queue: Mutex<VecDeque<Notification>>,
    ready: Notify,
}

impl Notifier {
    /// Starts one delivery task per receiver (none when `receivers` is empty).
    pub fn start(receivers: &[NotificationReceiver], metrics: Arc<Metrics>) -> Self {
        let outboxes: Vec<Arc<Outbox>> = receivers
            .iter()
            .map(|r| {
                Arc::new(Outbox {
                    receiver: r.clone(),
                    queue: Mutex::new(VecDeque::new()),
                    ready: Notify::new(),
                })
            })
            .collect();
        if !outboxes.is_empty() {
            let client = http_client();
            for outbox in &outboxes {
                let delivery = Delivery {
                    outbox: outbox.clone(),
                    client: client.clone(),
                    metrics: metrics.clone(),
                };
                tokio::spawn(delivery.run());
            }
        }
        Notifier {
            outboxes: Arc::new(outboxes),
            metrics,
        }
    }

    /// Queues the notifications that the status write from the resource's current status to
    /// `after` means, for every receiver that wants them. Never waits.
    pub fn observe(&self, plan: &Plan, kind: &Kind, resource: &Cached, after: &Status) {
        if self.outboxes.is_empty() {
            return;
        }
        let before = Status::from_json(resource.field("status"));
        let is_final = |p: &str| plan.table.phases.iter().any(|e| e.name == p && e.is_final);
        let changes = derive::changes(&before, after, &plan.table.initial, is_final);
        if changes.is_empty() {
            return;
        }
        let meta = &resource.metadata;
        let namespace = meta.namespace.as_deref();
        let object: serde_json::Value =
            serde_json::from_slice(&resource.json(kind)).unwrap_or_default();
        let time = SystemTime::now();
        for change in changes {
            let wanted: Vec<&Arc<Outbox>> = self
                .outboxes
                .iter()
                .filter(|o| o.receiver.wants(change.event, namespace, &change.phase))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let notification = Notification {
                id: format!("{:032x}", rand::random::<u128>()),
                time,
                change,
                operator: plan.operator_name.clone(),
                api_version: plan.resource.api_version.clone(),
                kind: plan.resource.kind.clone(),
                namespace: meta.namespace.clone(),
                name: meta.name.clone().unwrap_or_default(),
                uid: meta.uid.clone().unwrap_or_default(),
                resource: object.clone(),
            };
            for outbox in wanted {
                if outbox.push(notification.clone()) {
                    self.metrics.notification(&outbox.receiver.name, "dropped");
                    warn!(receiver = %outbox.receiver.name, "notification queue full; dropped the oldest");
                }
            }
        }
    }
}

impl Outbox {
    /// Queues `n`; returns whether the oldest was dropped to make room.
    fn push(&self, n: Notification) -> bool {
        let dropped = {
            let mut q = self.queue.lock().expect("notification queue lock");
            let full = q.len() >= QUEUE_CAPACITY;
            if full {
                q.pop_front();
            }
            q.push_back(n);
            full
        };
        self.ready.notify_one();
        dropped
    }

    async fn pop(&self) -> Notification {
        loop {
            if let Some(n) = self
                .queue
                .lock()
                .expect("notification queue lock")
                .pop_front()
            {
                return n;
            }
            self.ready.notified().await;
        }
    }
}

fn http_client() -> HttpClient {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
        .expect("ring supports the default protocol versions")
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// One receiver's sender.
struct Delivery {
    outbox: Arc<Outbox>,
    client: HttpClient,
    metrics: Arc<Metrics>,
}

/// Why a post failed, and whether trying again can help.
#[derive(Debug)]
struct PostError {
    message: String,
    retryable: bool,
}

impl Delivery {
    async fn run(self) {
        let name = self.outbox.receiver.name.clone();
        loop {
            let n = self.outbox.pop().await;
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                match self.post(&n).await {
                    Ok(()) => break "delivered",
                    Err(e) if e.retryable && attempt < MAX_ATTEMPTS => {
                        let delay = crate::step::backoff(
                            attempt,
                            INITIAL_BACKOFF,
                            MAX_BACKOFF,
                            rand::random::<f64>(),
                        )
                        .mul_f64(1.0 + 0.2 * rand::random::<f64>());
                        debug!(receiver = %name, attempt, error = %e.message, "notification not delivered; retrying");
                        self.metrics.notification(&name, "retried");
                        tokio::time::sleep(delay).await;
                    }
                    Err(e) => {
                        warn!(receiver = %name, attempt, event = %n.change.event, error = %e.message, "notification not delivered; giving up");
                        break "failed";
                    }
                }
            };
            self.metrics.notification(&name, outcome);
        }
    }

    async fn post(&self, n: &Notification) -> Result<(), PostError> {
        let receiver = &self.outbox.receiver;
        let body = serde_json::to_vec(&n.body(receiver)).expect("JSON values serialize");
        let url = match &receiver.target {
            Target::Alertmanager { url } => format!("{}/api/v2/alerts", url.trim_end_matches('/')),
            other => other.url().to_owned(),
        };
        let mut request = hyper::Request::post(&url)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("autopilot-scheduler/", env!("CARGO_PKG_VERSION")),
            )
            .header(payload::EVENT_HEADER, n.change.event.as_str())
            .header(payload::DELIVERY_HEADER, &n.id);
        if let Target::Webhook {
            secret: Some(secret),
            ..
        } = &receiver.target
        {
            let key = read_secret(secret).map_err(|message| PostError {
                message,
                retryable: true,
            })?;
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            request = request
                .header(payload::TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    payload::SIGNATURE_HEADER,
                    payload::signature(&key, timestamp, &body),
                );
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PostError {
                message: format!("building the request to {url}: {e}"),
                retryable: false,
            })?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| PostError {
                message: format!(
                    "{url} did not answer within {}",
                    humantime::format_duration(REQUEST_TIMEOUT)
                ),
                retryable: true,
            })?
            .map_err(|e| PostError {
                message: format!("posting to {url}: {}", crate::prometheus::with_causes(&e)),
                retryable: true,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response
            .into_body()
            .collect()
            .await
            .map(|b| {
                String::from_utf8_lossy(&b.to_bytes())
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        Err(PostError {
            message: format!("{url} answered {status}: {text}"),
            retryable: status.is_server_error()
                || status == hyper::StatusCode::REQUEST_TIMEOUT
                || status == hyper::StatusCode::TOO_MANY_REQUESTS,
        })
    }
}

/// The signing key, read at each delivery so that a rotated Secret takes effect.
fn read_secret(secret: &Secret) -> Result<Vec<u8>, String> {
    let key = match secret {
        Secret::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("reading the signing key {}: {e}", path.display()))?,
        Secret::Env(name) => std::env::var(name)
            .map_err(|_| format!("the signing key's variable {name} is not set"))?,
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("the signing key is empty".into());
    }
    Ok(key.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::derive::Change;
    use autopilot_model::notifications::NotifyEvent;

    fn notification(i: usize) -> Notification {
        Notification {
            id: i.to_string(),
            time: SystemTime::UNIX_EPOCH,
            change: Change {
                event: NotifyEvent::Failed,
                phase: "A".into(),
                previous_phase: String::new(),
                reason: String::new(),
                message: String::new(),
                supersedes: None,
            },
            operator: "op".into(),
            api_version: "x/v1".into(),
            kind: "K".into(),
            namespace: None,
            name: "n".into(),
            uid: "u".into(),
            resource: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest() {
        let receiver = autopilot_model::parse_operator(
            "o.yaml",
            "notifications:\n  - slack: {url: 'http://chat'}\n",
        )
        .unwrap()
        .notifications
        .remove(0);
        let outbox = Outbox {
            receiver,
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
        };
        let dropped: usize = (0..QUEUE_CAPACITY + 3)
            .map(|i| usize::from(outbox.push(notification(i))))
            .sum();
        assert_eq!(dropped, 3);
        assert_eq!(outbox.pop().await.id, "3", "the three oldest went");
    }

    #[test]
    fn secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(read_secret(&Secret::File(file)).unwrap(), b"s3cret");
        assert!(
            read_secret(&Secret::File(dir.path().join("none")))
                .unwrap_err()
                .starts_with("reading the signing key")
        );
        assert_eq!(
            read_secret(&Secret::Env("AUTOPILOT_TEST_UNSET_KEY".into())).unwrap_err(),
            "the signing key's variable AUTOPILOT_TEST_UNSET_KEY is not set"
        );
    }
}
