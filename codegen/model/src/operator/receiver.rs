//! The `receiver` section of `autopilot-operator.yaml`: the HTTP endpoint that accepts external
//! events (CloudEvents, GitHub and generic webhooks), its secrets and how long events are kept.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::duration;

/// A request body larger than this is refused with 413: GitHub caps its payloads at 25 MiB,
/// but events an operator reacts to are small, and every accepted event is stored in the
/// cluster (etcd's default request limit is 1.5 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;
/// Stored events kept per resource: enough for a burst, small enough that a noisy source
/// cannot grow the cluster's state without limit. The oldest beyond it are dropped.
pub const DEFAULT_MAX_PER_RESOURCE: u32 = 100;
/// Stored events older than this are removed (consumed or not): a day covers a scheduler
/// outage over a weekend night, and deduplication looks back this far.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// How the scheduler receives external events. Off unless `addr` is set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receiver {
    /// Where the HTTP endpoint listens; `None` (the default) turns the receiver off.
    pub addr: Option<SocketAddr>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Stored events kept per resource.
    pub max_per_resource: u32,
    /// Stored events older than this are removed.
    #[serde(serialize_with = "duration::serialize")]
    pub max_age: Duration,
    /// File holding the bearer token CloudEvents senders present (`Authorization: Bearer …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudevents_token_file: Option<PathBuf>,
    /// File holding the secret GitHub signs deliveries with (`X-Hub-Signature-256`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_secret_file: Option<PathBuf>,
    /// How each generic webhook source (by name) authenticates.
    pub webhooks: BTreeMap<String, WebhookAuth>,
}

impl Default for Receiver {
    fn default() -> Self {
        Self {
            addr: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_per_resource: DEFAULT_MAX_PER_RESOURCE,
            max_age: DEFAULT_MAX_AGE,
            cloudevents_token_file: None,
            github_secret_file: None,
            webhooks: BTreeMap::new(),
        }
    }
}

/// How a generic webhook proves who sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAuth {
    /// File holding the shared secret.
    pub secret_file: PathBuf,
    /// Where the proof travels.
    pub scheme: WebhookScheme,
}

/// Where a webhook's proof travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookScheme {
    /// The secret itself, in this header (`X-Approval-Token: <secret>`).
    Header(String),
    /// The hex HMAC-SHA256 of the body keyed with the secret, in this header, optionally
    /// prefixed `sha256=` as GitHub does.
    Signature(String),
}

/// The checks between `receiver` and the project's `events:`: each webhook entry names a
/// declared webhook source, and with the receiver on, every declared source can be
/// authenticated (every HTTP surface authenticates). Reported through `report(field, message)`.
pub(crate) fn cross_check(
    receiver: &Receiver,
    project: &crate::Project,
    mut report: impl FnMut(&str, String),
) {
    use crate::event::SourceKind;
    for name in receiver.webhooks.keys() {
        let field = format!("receiver.webhooks.{name}");
        match project.event(name) {
            Some(e) if e.kind == SourceKind::Webhook => {}
            Some(e) => report(
                &field,
                format!(
                    "event source `{name}` is a {} source, not a webhook",
                    e.kind
                ),
            ),
            None => {
                let known: Vec<&str> = project
                    .events
                    .iter()
                    .filter(|e| e.kind == SourceKind::Webhook)
                    .map(|e| e.name.as_str())
                    .collect();
                report(
                    &field,
                    crate::names::unknown("webhook source", name, &known),
                );
            }
        }
    }
    if receiver.addr.is_none() {
        return;
    }
    for source in &project.events {
        let missing = match source.kind {
            SourceKind::Cloudevents if receiver.cloudevents_token_file.is_none() => Some(
                "set `receiver.cloudevents.tokenFile` (senders present it as `Authorization: \
                 Bearer <token>`)"
                    .to_owned(),
            ),
            SourceKind::Github if receiver.github_secret_file.is_none() => Some(
                "set `receiver.github.secretFile` (the webhook's secret in GitHub's settings)"
                    .to_owned(),
            ),
            SourceKind::Webhook if !receiver.webhooks.contains_key(&source.name) => Some(format!(
                "add `receiver.webhooks.{}` with a `secretFile` and a `header` or \
                 `signatureHeader`",
                source.name
            )),
            _ => None,
        };
        if let Some(how) = missing {
            report(
                "receiver.addr",
                format!(
                    "the receiver is on, but {} source `{}` has no secret to check its senders \
                     with: {how}",
                    source.kind, source.name
                ),
            );
        }
    }
}
