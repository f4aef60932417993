//! The `.status` the scheduler keeps on every custom resource, and its conditions.
//!
//! Everything the scheduler needs to resume a resource lives here, so a restarted scheduler
//! continues from the status alone.
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use autopilot_worker_client::conditions::{
    ABORTED, AWAITING_APPROVAL, INPUTS_AVAILABLE, METRICS_AVAILABLE, PAUSED, PROGRESSING, READY,
    WORKER_ERROR,
};

/// The scheduler-owned part of a resource's `.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The current phase. Empty until the scheduler first writes it (empty = the initial phase).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// The `metadata.generation` the status was written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Calls made in the current phase (successful or not); reset to 0 on every transition.
    #[serde(default)]
    pub attempt: u32,
    /// Consecutive failed calls in the current phase; drives the retry backoff.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// The worker's own state, as it last returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_info: Option<Value>,
    /// Conditions in the shape of `metav1.Condition`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the phase last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// Per Git target, the commit holding the last result sent there.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub git: std::collections::BTreeMap<String, crate::git::deliver::GitRecord>,
    /// The last `autopilot.dev/retry` value honoured (see [`crate::gates`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried: Option<String>,
    /// The last `autopilot.dev/abort` value honoured: who asked, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// Per gate, the approval that last opened it and the pass through its phase it opened.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub gates: std::collections::BTreeMap<String, crate::gates::Approval>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A status condition in the shape of `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// CamelCase type, unique within the list.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[serde(default)]
    pub last_transition_time: String,
    /// The generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition with the given fields; the transition time is filled in by [`Status::set_condition`].
    pub fn new(
        type_: impl Into<String>,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Condition {
            type_: type_.into(),
            status: if status { "True" } else { "False" }.to_string(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: String::new(),
            observed_generation: None,
        }
    }
}

impl Status {
    /// Reads the scheduler's status from a resource's `.status`; a missing or malformed status
    /// reads as empty (the resource starts at its initial phase).
    pub fn from_object_status(status: Option<&Value>) -> Status {
        status
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default()
    }

    /// Reads the scheduler's status from the JSON text of a resource's `.status`, as the
    /// controller's cache keeps it; missing or malformed reads as empty, as in
    /// [`Status::from_object_status`].
    pub fn from_json(status: Option<&str>) -> Status {
        status
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Sets a condition by type. `lastTransitionTime` changes only when `status` changes, as
    /// Kubernetes conventions require.
    pub fn set_condition(&mut self, mut condition: Condition, now: &str, generation: Option<i64>) {
        condition.observed_generation = generation;
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == condition.type_)
        {
            Some(existing) => {
                condition.last_transition_time = if existing.status == condition.status
                    && !existing.last_transition_time.is_empty()
                {
                    existing.last_transition_time.clone()
                } else {
                    now.to_string()
                };
                *existing = condition;
            }
            None => {
                condition.last_transition_time = now.to_string();
                self.conditions.push(condition);
            }
        }
    }

    /// Removes a condition by type.
    pub fn remove_condition(&mut self, type_: &str) {
        self.conditions.retain(|c| c.type_ != type_);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut s = Status::default();
        s.set_condition(Condition::new(READY, false, "A", "a"), "t1", Some(1));
        s.set_condition(Condition::new(READY, false, "B", "b"), "t2", Some(2));
        assert_eq!(s.condition(READY).unwrap().last_transition_time, "t1");
        assert_eq!(s.condition(READY).unwrap().reason, "B");
        s.set_condition(Condition::new(READY, true, "C", "c"), "t3", Some(3));
        assert_eq!(s.condition(READY).unwrap().last_transition_time, "t3");
        assert_eq!(s.conditions.len(), 1);
        s.remove_condition(READY);
        assert!(s.conditions.is_empty());
    }

    #[test]
    fn malformed_status_reads_as_empty() {
        let v = serde_json::json!({"phase": 7});
        assert_eq!(Status::from_object_status(Some(&v)), Status::default());
        let v = serde_json::json!({"phase": "Processing", "attempt": 2, "extra": true});
        let s = Status::from_object_status(Some(&v));
        assert_eq!((s.phase.as_str(), s.attempt), ("Processing", 2));
    }
}
