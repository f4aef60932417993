//! The `notifications` section of `autopilot-operator.yaml`: who is told when a resource changes
//! phase, fails, is blocked, recovers, waits at a gate or finishes, and in which format.
//!
//! Each entry is one receiver of one kind — a generic JSON webhook (optionally HMAC-signed), a
//! Slack-compatible incoming webhook, or Alertmanager's `POST /api/v2/alerts` — with filters
//! (events, phases, namespaces) and an optional message template rendered by
//! [`crate::template`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use crate::names;

/// Placeholders a notification template knows beyond the resource's own fields (`name`,
/// `namespace`, `spec.…`, `metadata.…`, `status.…`). `previousPhase` is empty except for
/// `phaseChanged` and `finished`; `reason` and `message` are empty for those two.
pub const TEMPLATE_VARS: [&str; 7] = [
    "event",
    "operator",
    "kind",
    "phase",
    "previousPhase",
    "reason",
    "message",
];

/// The condition whose turning `True` is a [`NotifyEvent::GateWaiting`]: the scheduler sets it
/// while a gate holds a resource for approval.
pub const AWAITING_APPROVAL_CONDITION: &str = "AwaitingApproval";

/// What happened to a resource, as receivers filter on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NotifyEvent {
    /// The phase changed (every transition, final ones included).
    PhaseChanged,
    /// The phase changed to a final phase.
    Finished,
    /// A worker call or its result failed: the first failure in a phase, or a failure whose
    /// reason differs from the one before it.
    Failed,
    /// The failure will not be retried on its own: a permanent error, or retries exhausted.
    Blocked,
    /// A resource that was failing succeeded again (or moved on).
    Recovered,
    /// A gate holds the resource until someone approves (the `AwaitingApproval` condition
    /// turned `True`).
    GateWaiting,
}

impl NotifyEvent {
    /// Every event, in the order the docs list them.
    pub const ALL: [Self; 6] = [
        Self::PhaseChanged,
        Self::Finished,
        Self::Failed,
        Self::Blocked,
        Self::Recovered,
        Self::GateWaiting,
    ];

    /// The events an Alertmanager receiver accepts: an alert must be able to end, and only
    /// failures have an end (`recovered` resolves what `failed` and `blocked` fired).
    pub const ALERTS: [Self; 3] = [Self::Failed, Self::Blocked, Self::Recovered];

    /// The name as written in the file and sent in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhaseChanged => "phaseChanged",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Recovered => "recovered",
            Self::GateWaiting => "gateWaiting",
        }
    }

    /// The text sent when the receiver has no template of its own.
    pub fn default_template(self) -> &'static str {
        match self {
            Self::PhaseChanged => {
                "{{ kind }} {{ namespace }}/{{ name }}: {{ previousPhase }} -> {{ phase }}"
            }
            Self::Finished => "{{ kind }} {{ namespace }}/{{ name }} finished in {{ phase }}",
            Self::Failed => {
                "{{ kind }} {{ namespace }}/{{ name }} failed in {{ phase }}: {{ reason }}: {{ message }}"
            }
            Self::Blocked => {
                "{{ kind }} {{ namespace }}/{{ name }} is blocked in {{ phase }}: {{ reason }}: {{ message }}"
            }
            Self::Recovered => "{{ kind }} {{ namespace }}/{{ name }} recovered in {{ phase }}",
            Self::GateWaiting => {
                "{{ kind }} {{ namespace }}/{{ name }} waits for approval in {{ phase }}: {{ message }}"
            }
        }
    }
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotifyEvent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        names::variant(s, "notification event", &Self::ALL, Self::as_str)
    }
}

/// One receiver of notifications.
///
/// # Guarantees (after parsing)
///
/// `name` is a DNS label unique among the receivers; `events` is not empty and, for
/// Alertmanager, within [`NotifyEvent::ALERTS`]; `template` is a valid template naming only
/// [`TEMPLATE_VARS`] and the resource's fields; `namespaces` are DNS labels. That `phases` are
/// declared is checked against the project by [`crate::Model::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationReceiver {
    /// Names the receiver in logs and metrics (`receiver` label); defaults to
    /// `<kind>-<index>` (`webhook-0`).
    pub name: String,
    /// Where and in which format notifications go.
    pub target: Target,
    /// Which events are sent, in [`NotifyEvent::ALL`] order.
    pub events: Vec<NotifyEvent>,
    /// Only resources in these phases (the phase after the change); empty means all.
    pub phases: Vec<String>,
    /// Only resources in these namespaces; empty means all.
    pub namespaces: Vec<String>,
    /// The message text; `None` uses [`NotifyEvent::default_template`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl NotificationReceiver {
    /// Whether a notification of `event` about a resource in `namespace` and `phase` goes to
    /// this receiver.
    ///
    /// ```
    /// let config = autopilot_model::parse_operator("o.yaml", "notifications:\n  - slack: {url: 'http://chat/hook'}\n    events: [failed]\n    namespaces: [prod]\n").unwrap();
    /// let slack = &config.notifications[0];
    /// use autopilot_model::notifications::NotifyEvent::*;
    /// assert!(slack.wants(Failed, Some("prod"), "Deploying"));
    /// assert!(!slack.wants(Failed, Some("dev"), "Deploying"));
    /// assert!(!slack.wants(PhaseChanged, Some("prod"), "Deploying"));
    /// ```
    pub fn wants(&self, event: NotifyEvent, namespace: Option<&str>, phase: &str) -> bool {
        self.events.contains(&event)
            && (self.phases.is_empty() || self.phases.iter().any(|p| p == phase))
            && (self.namespaces.is_empty()
                || namespace.is_some_and(|ns| self.namespaces.iter().any(|n| n == ns)))
    }

    /// The template for `event`: the receiver's own, else the event's default.
    pub fn template_for(&self, event: NotifyEvent) -> &str {
        self.template
            .as_deref()
            .unwrap_or_else(|| event.default_template())
    }
}

/// Where a receiver's notifications go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// `POST` of the notification as JSON; signed when a secret is given.
    Webhook {
        /// `http://` or `https://` URL.
        url: String,
        /// The HMAC-SHA256 key.
        #[serde(skip_serializing_if = "Option::is_none")]
        secret: Option<Secret>,
    },
    /// `POST` of `{"text": …}` to a Slack-compatible incoming webhook.
    Slack {
        /// `http://` or `https://` URL.
        url: String,
    },
    /// `POST {url}/api/v2/alerts`.
    Alertmanager {
        /// Base URL of Alertmanager (`http://alertmanager:9093`).
        url: String,
    },
}

impl Target {
    /// The kind's name as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Slack { .. } => "slack",
            Self::Alertmanager { .. } => "alertmanager",
        }
    }

    /// The URL as written.
    pub fn url(&self) -> &str {
        match self {
            Self::Webhook { url, .. } | Self::Slack { url } | Self::Alertmanager { url } => url,
        }
    }
}

/// Where a webhook's signing key is read from, at each delivery (so a rotated Secret volume
/// takes effect without a restart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Secret {
    /// A file (a mounted Kubernetes Secret); surrounding whitespace is ignored.
    File(PathBuf),
    /// An environment variable of the scheduler.
    Env(String),
}

/// Each receiver's `phases` names a declared phase. Reported through `report(field, message)`.
pub(crate) fn cross_check(
    receivers: &[NotificationReceiver],
    project: &crate::Project,
    mut report: impl FnMut(&str, String),
) {
    let known: Vec<&str> = project.phases.iter().map(|p| p.name.as_str()).collect();
    for (i, receiver) in receivers.iter().enumerate() {
        for (j, phase) in receiver.phases.iter().enumerate() {
            if !known.contains(&phase.as_str()) {
                report(
                    &format!("notifications[{i}].phases[{j}]"),
                    names::unknown("phase", phase, &known),
                );
            }
        }
    }
}
