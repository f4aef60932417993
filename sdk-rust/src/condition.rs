//! [`Condition`]: a status condition a handler reads from the resource or sets through an outcome.

use serde_json::Value;

/// The condition types the scheduler owns and writes itself. A worker may read them but not
/// set them: an [`Outcome`](crate::Outcome) that sets one fails the call with
/// [`WorkerError::InvalidCondition`](crate::WorkerError::InvalidCondition) before it reaches
/// the scheduler (which would refuse it too).
///
/// - `Ready`: the resource is in a final phase, or its last call succeeded;
/// - `Progressing`: the resource is moving through its phases (`Blocked`, `Retrying`, ...);
/// - `WorkerError`: the last worker call, or applying its result, failed;
/// - `InputsAvailable`: every resource input of the phase could be read;
/// - `MetricsAvailable`: every metric query of the phase succeeded;
/// - `Paused`: the resource is held by `ap pause`;
/// - `AwaitingApproval`: a gate of the current phase waits for `ap approve`;
/// - `Aborted`: `ap abort` was honoured, or could not be.
///
/// # Examples
///
/// ```
/// assert!(autopilot_sdk::SCHEDULER_CONDITIONS.contains(&"MetricsAvailable"));
/// ```
pub const SCHEDULER_CONDITIONS: &[&str] = &[
    "Ready",
    "Progressing",
    "WorkerError",
    "InputsAvailable",
    "MetricsAvailable",
    "Paused",
    "AwaitingApproval",
    "Aborted",
];

/// A status condition, in the shape of `metav1.Condition` without the fields the scheduler
/// fills in (`lastTransitionTime`, `observedGeneration`).
///
/// Handlers read the resource's current conditions with
/// [`Context::conditions`](crate::Context::conditions) and set new ones with
/// [`Outcome::condition`](crate::Outcome::condition); the scheduler merges them by type with
/// its own. The scheduler owns the types in [`SCHEDULER_CONDITIONS`] (`Ready`, `Progressing`,
/// `WorkerError`, `InputsAvailable`, `MetricsAvailable`, `Paused`, `AwaitingApproval`,
/// `Aborted`): setting one fails the call.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{Condition, ConditionStatus};
///
/// let healthy = Condition::new("Healthy", true, "ChecksPassed", "all probes succeed");
/// assert_eq!(healthy.status, ConditionStatus::True);
/// assert!(healthy.is_true());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// CamelCase type, for example `Healthy`.
    pub type_: String,
    /// Whether the condition holds.
    pub status: ConditionStatus,
    /// CamelCase reason for the last transition.
    pub reason: String,
    /// Human-readable details.
    pub message: String,
}

impl Condition {
    /// A condition of `type_` with the given status, reason and message.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Condition, ConditionStatus};
    /// let c = Condition::new("Degraded", ConditionStatus::Unknown, "NoData", "no samples yet");
    /// assert_eq!(c.type_, "Degraded");
    /// ```
    pub fn new(
        type_: impl Into<String>,
        status: impl Into<ConditionStatus>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// True when the status is [`ConditionStatus::True`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!autopilot_sdk::Condition::new("Healthy", false, "Failing", "").is_true());
    /// ```
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }

    /// Why a worker may not set this condition, or `None` when it may: its type is empty or
    /// owned by the scheduler.
    pub(crate) fn refusal(&self) -> Option<String> {
        if self.type_.is_empty() {
            return Some("a condition needs a type".to_owned());
        }
        SCHEDULER_CONDITIONS
            .contains(&self.type_.as_str())
            .then(|| {
                format!(
                    "condition type {} is owned by the scheduler (it owns {}); give the \
                 condition a type of the operator's own, such as Healthy or Analyzed",
                    self.type_,
                    SCHEDULER_CONDITIONS.join(", ")
                )
            })
    }

    /// Reads `status.conditions` of a resource. Lenient on purpose: the scheduler and other
    /// controllers own this list, so an entry without a type is skipped rather than failing the
    /// call, and an unrecognized status reads as `Unknown`.
    pub(crate) fn list_from_resource(resource: &Value) -> Vec<Condition> {
        let Some(items) = resource["status"]["conditions"].as_array() else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let type_ = item["type"].as_str().filter(|t| !t.is_empty())?;
                let text = |field: &str| item[field].as_str().unwrap_or_default().to_owned();
                Some(Condition {
                    type_: type_.to_owned(),
                    status: ConditionStatus::parse(item["status"].as_str().unwrap_or_default()),
                    reason: text("reason"),
                    message: text("message"),
                })
            })
            .collect()
    }
}

/// The status of a [`Condition`]: `"True"`, `"False"` or `"Unknown"` on the wire.
///
/// A `bool` converts into it, so `Outcome::condition("Healthy", true, ..)` works.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::ConditionStatus;
/// assert_eq!(ConditionStatus::from(false), ConditionStatus::False);
/// assert_eq!(ConditionStatus::Unknown.as_str(), "Unknown");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// It is not known whether the condition holds.
    Unknown,
}

impl ConditionStatus {
    /// The wire form: `"True"`, `"False"` or `"Unknown"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::ConditionStatus::True.as_str(), "True");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }

    /// Parses the wire form; anything but `"True"` or `"False"` is `Unknown`.
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "True" => Self::True,
            "False" => Self::False,
            _ => Self::Unknown,
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_conditions_leniently() {
        let resource = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "ok",
             "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 3},
            {"status": "True"},
            {"type": "Healthy", "status": "Maybe"},
        ]}});
        assert_eq!(
            Condition::list_from_resource(&resource),
            vec![
                Condition::new("Ready", true, "Synced", "ok"),
                Condition::new("Healthy", ConditionStatus::Unknown, "", ""),
            ]
        );
        assert!(Condition::list_from_resource(&json!({"spec": {}})).is_empty());
    }

    #[test]
    fn conditions_the_scheduler_owns_are_refused() {
        for type_ in SCHEDULER_CONDITIONS {
            let refusal = Condition::new(*type_, true, "R", "").refusal().unwrap();
            assert!(
                refusal.starts_with(&format!(
                    "condition type {type_} is owned by the scheduler (it owns Ready, \
                     Progressing, WorkerError, InputsAvailable, MetricsAvailable, Paused, \
                     AwaitingApproval, Aborted)"
                )),
                "{refusal}"
            );
        }
        assert_eq!(
            Condition::new("", true, "R", "").refusal().as_deref(),
            Some("a condition needs a type")
        );
        assert_eq!(Condition::new("Healthy", true, "R", "").refusal(), None);
    }

    #[test]
    fn status_round_trips_its_wire_form() {
        for status in [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ] {
            assert_eq!(ConditionStatus::parse(status.as_str()), status);
        }
    }
}
