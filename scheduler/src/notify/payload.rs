//! What is sent: one notification, rendered for each kind of receiver (generic JSON, Slack's
//! `{"text": …}`, Alertmanager's alert list), and the webhook signature. Pure.

use std::time::{Duration, SystemTime};

use autopilot_model::notifications::{NotificationReceiver, NotifyEvent, Target};
use autopilot_model::template::{self, Escape, Scope};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Header carrying the webhook signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Autopilot-Signature";
/// Header carrying the Unix time (seconds) the signature was made at; it is signed with the
/// body, so a receiver that refuses old timestamps refuses replays.
pub const TIMESTAMP_HEADER: &str = "X-Autopilot-Timestamp";
/// Header naming the event (`phaseChanged`, …), for routing without parsing the body.
pub const EVENT_HEADER: &str = "X-Autopilot-Event";
/// Header carrying the notification's id: the same on every retry, so receivers can drop
/// repeats.
pub const DELIVERY_HEADER: &str = "X-Autopilot-Delivery";

/// How long a fired alert stays active at Alertmanager without being resolved. Alertmanager
/// ends an alert without `endsAt` after its `resolve_timeout` (5 minutes by default), too
/// soon for a resource blocked for hours; a day bounds how long an alert outlives a scheduler
/// that died before sending `recovered`.
pub const ALERT_HOLD: Duration = Duration::from_secs(24 * 60 * 60);

/// One notification about one resource, before it is rendered for a receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Unique per notification, kept across retries.
    pub id: String,
    /// When it happened.
    pub time: SystemTime,
    /// What happened and where (see [`super::derive::Change`]).
    pub change: super::derive::Change,
    /// `operatorName`.
    pub operator: String,
    /// The resource's `apiVersion`.
    pub api_version: String,
    /// The resource's kind.
    pub kind: String,
    /// The resource's namespace (`None` when cluster-scoped).
    pub namespace: Option<String>,
    /// The resource's name.
    pub name: String,
    /// The resource's uid.
    pub uid: String,
    /// The resource as JSON, for templates naming `spec.…` or `status.…`.
    pub resource: Value,
}

impl Notification {
    /// The message text for `receiver`: its template (or the event's default) rendered over the
    /// notification. A template that names a field the resource lacks falls back to the
    /// default text, with the problem appended, so the notification is still sent.
    pub fn text(&self, receiver: &NotificationReceiver) -> String {
        let event = self.change.event;
        let render = |t: &str| {
            let scope = Scope::new(&self.resource).with_vars([
                ("event", event.as_str()),
                ("operator", &self.operator),
                ("kind", &self.kind),
                ("name", &self.name),
                ("namespace", self.namespace.as_deref().unwrap_or("")),
                ("phase", &self.change.phase),
                ("previousPhase", &self.change.previous_phase),
                ("reason", &self.change.reason),
                ("message", &self.change.message),
            ]);
            template::render(t, &scope, Escape::None)
        };
        match render(receiver.template_for(event)) {
            Ok(text) => text,
            Err(e) => {
                let fallback = render(event.default_template()).unwrap_or_default();
                format!("{fallback} (template: {e})")
            }
        }
    }

    /// The body sent to `receiver`, as JSON.
    pub fn body(&self, receiver: &NotificationReceiver) -> Value {
        match &receiver.target {
            Target::Webhook { .. } => self.webhook_body(receiver),
            Target::Slack { .. } => json!({ "text": self.text(receiver) }),
            Target::Alertmanager { .. } => self.alerts(receiver),
        }
    }

    fn webhook_body(&self, receiver: &NotificationReceiver) -> Value {
        let c = &self.change;
        json!({
            "id": self.id,
            "event": c.event.as_str(),
            "time": rfc3339(self.time),
            "operator": self.operator,
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "phase": c.phase,
            "previousPhase": non_empty(&c.previous_phase),
            "reason": non_empty(&c.reason),
            "message": non_empty(&c.message),
            "text": self.text(receiver),
        })
    }

    /// Alertmanager's `postableAlerts`: `failed` and `blocked` fire an alert (and a failure
    /// whose reason changed ends the alert of the old reason); `recovered` ends both.
    fn alerts(&self, receiver: &NotificationReceiver) -> Value {
        let c = &self.change;
        let alert = |alertname: &str, reason: &str, ends: Option<SystemTime>| {
            let mut labels = json!({
                "alertname": alertname,
                "operator": self.operator,
                "kind": self.kind,
                "name": self.name,
                "phase": c.phase,
                "reason": reason,
            });
            if let Some(ns) = &self.namespace {
                labels["namespace"] = json!(ns);
            }
            json!({
                "labels": labels,
                "annotations": {
                    "summary": self.text(receiver),
                    "description": c.message,
                },
                "startsAt": rfc3339(self.time),
                "endsAt": rfc3339(ends.unwrap_or(self.time + ALERT_HOLD)),
            })
        };
        let now = Some(self.time);
        let alerts = match c.event {
            NotifyEvent::Failed => {
                let mut out = vec![alert(FAILED_ALERT, &c.reason, None)];
                if let Some(old) = &c.supersedes {
                    out.push(alert(FAILED_ALERT, old, now));
                }
                out
            }
            NotifyEvent::Blocked => vec![alert(BLOCKED_ALERT, &c.reason, None)],
            NotifyEvent::Recovered => vec![
                alert(FAILED_ALERT, &c.reason, now),
                alert(BLOCKED_ALERT, &c.reason, now),
            ],
            // Refused by the model for Alertmanager receivers.
            _ => Vec::new(),
        };
        Value::Array(alerts)
    }
}

/// `alertname` of the alert a failure fires.
pub const FAILED_ALERT: &str = "AutopilotResourceFailed";
/// `alertname` of the alert a blocked resource fires.
pub const BLOCKED_ALERT: &str = "AutopilotResourceBlocked";

fn non_empty(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { json!(s) }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The `X-Autopilot-Signature` value for `body` sent at `timestamp` (Unix seconds):
/// `sha256=` and the hex HMAC-SHA256, keyed with `key`, of `"<timestamp>.<body>"`.
///
/// A receiver recomputes it over the raw body and the timestamp header, compares in constant
/// time, and refuses timestamps older than a few minutes.
pub fn signature(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::derive::Change;

    fn receiver(yaml: &str) -> NotificationReceiver {
        autopilot_model::parse_operator("o.yaml", &format!("notifications:\n  - {yaml}\n"))
            .unwrap()
            .notifications
            .remove(0)
    }

    fn notification(event: NotifyEvent) -> Notification {
        Notification {
            id: "n-1".into(),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            change: Change {
                event,
                phase: "Deploying".into(),
                previous_phase: if event == NotifyEvent::PhaseChanged {
                    "Init".into()
                } else {
                    String::new()
                },
                reason: if event == NotifyEvent::PhaseChanged {
                    String::new()
                } else {
                    "Unavailable".into()
                },
                message: if event == NotifyEvent::PhaseChanged {
                    String::new()
                } else {
                    "worker down".into()
                },
                supersedes: None,
            },
            operator: "canary-operator".into(),
            api_version: "canary.example.com/v1".into(),
            kind: "Canary".into(),
            namespace: Some("prod".into()),
            name: "web".into(),
            uid: "u-1".into(),
            resource: json!({"metadata": {"name": "web", "namespace": "prod"}, "spec": {"image": "web:2"}}),
        }
    }

    #[test]
    fn texts() {
        let plain = receiver("slack: {url: 'http://chat'}");
        let custom = receiver(
            "slack: {url: 'http://chat'}\n    template: '{{ event }} {{ name }} {{ spec.image }}'",
        );
        let missing = receiver("slack: {url: 'http://chat'}\n    template: '{{ status.weight }}'");
        let cases = [
            (
                &plain,
                NotifyEvent::PhaseChanged,
                "Canary prod/web: Init -> Deploying",
            ),
            (
                &plain,
                NotifyEvent::Failed,
                "Canary prod/web failed in Deploying: Unavailable: worker down",
            ),
            (&custom, NotifyEvent::Blocked, "blocked web web:2"),
            (
                &missing,
                NotifyEvent::Failed,
                "Canary prod/web failed in Deploying: Unavailable: worker down (template: `status.weight` is not set on the object)",
            ),
        ];
        for (r, event, want) in cases {
            assert_eq!(notification(event).text(r), want, "{event}");
        }
    }

    #[test]
    fn bodies() {
        let hook = receiver("webhook: {url: 'http://hook'}");
        let body = notification(NotifyEvent::PhaseChanged).body(&hook);
        assert_eq!(body["event"], "phaseChanged");
        assert_eq!(body["previousPhase"], "Init");
        assert_eq!(body["phase"], "Deploying");
        assert_eq!(body["reason"], Value::Null);
        assert_eq!(body["namespace"], "prod");
        assert_eq!(body["time"], "2027-01-15T08:00:00.000Z");
        assert_eq!(body["text"], "Canary prod/web: Init -> Deploying");

        let slack = receiver("slack: {url: 'http://chat'}");
        assert_eq!(
            notification(NotifyEvent::Failed).body(&slack),
            json!({"text": "Canary prod/web failed in Deploying: Unavailable: worker down"})
        );

        let am = receiver("alertmanager: {url: 'http://am:9093'}");
        let fired = notification(NotifyEvent::Failed).body(&am);
        assert_eq!(fired[0]["labels"]["alertname"], FAILED_ALERT);
        assert_eq!(fired[0]["labels"]["reason"], "Unavailable");
        assert_eq!(fired[0]["labels"]["namespace"], "prod");
        assert_eq!(fired[0]["endsAt"], "2027-01-16T08:00:00.000Z");
        let mut changed = notification(NotifyEvent::Failed);
        changed.change.supersedes = Some("DeadlineExceeded".into());
        let both = changed.body(&am);
        assert_eq!(both[1]["labels"]["reason"], "DeadlineExceeded");
        assert_eq!(both[1]["endsAt"], both[1]["startsAt"]);
        let resolved = notification(NotifyEvent::Recovered).body(&am);
        let names: Vec<&Value> = resolved
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["labels"]["alertname"])
            .collect();
        assert_eq!(names, [FAILED_ALERT, BLOCKED_ALERT]);
        assert_eq!(resolved[0]["endsAt"], resolved[0]["startsAt"]);
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key -hex
        assert_eq!(
            signature(b"key", 1_700_000_000, br#"{"a":1}"#),
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
        assert_ne!(
            signature(b"key", 1_700_000_001, br#"{"a":1}"#),
            signature(b"key", 1_700_000_000, br#"{"a":1}"#),
            "the timestamp is signed"
        );
    }
}
