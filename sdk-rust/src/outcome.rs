//! [`Outcome`] (what a phase handler decided) and [`Finalized`] (what a finalize handler decided),
//! with the [`Event`]s both report.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::{Condition, ConditionStatus, WorkerError};

/// What a phase handler decided: where the resource goes next, the objects to apply, the new
/// statusInfo, conditions, events and when to run again.
///
/// Start from [`Outcome::stay`] or [`Outcome::next`] and chain the rest. The getters
/// ([`next_phase`](Self::next_phase), [`outputs`](Self::outputs),
/// [`status_info`](Self::status_info), [`events`](Self::events), …) exist for tests.
///
/// # Outputs are checked when added
///
/// [`output`](Self::output) serializes its argument right away and returns an error if it is not
/// a Kubernetes object the scheduler can apply (it needs `apiVersion`, `kind` and
/// `metadata.name`; k8s-openapi types and the [`outputs`](crate::outputs) builders have them).
/// That is why it returns a `Result`: a handler's `?` reports the mistake as
/// [`WorkerError::InvalidOutput`] at the line that made it, instead of the scheduler rejecting
/// the whole response later.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autopilot_sdk::{outputs, Outcome, WorkerError};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug)]
/// struct Info { weight: u32 }
///
/// fn shift(weight: u32) -> Result<Outcome<Info>, WorkerError> {
///     Ok(Outcome::stay()
///         .output(outputs::virtual_service("web").route([
///             ("web", Some("stable"), 80, 100 - weight),
///             ("web", Some("canary"), 80, weight),
///         ]))?
///         .status(Info { weight })
///         .condition("Shifted", true, "WeightShifted", format!("canary at {weight}%"))
///         .event_normal("WeightShifted", format!("canary weight is now {weight}%"))
///         .requeue_after(Duration::from_secs(30)))
/// }
///
/// let outcome = shift(20).unwrap();
/// assert_eq!(outcome.next_phase(), None);
/// assert_eq!(outcome.outputs()[0]["kind"], "VirtualService");
/// assert_eq!(outcome.status_info().map(|i| i.weight), Some(20));
/// assert_eq!(outcome.requeue(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "an Outcome does nothing unless the handler returns it"]
pub struct Outcome<I = Value> {
    next_phase: Option<String>,
    outputs: Vec<Value>,
    status_info: Option<I>,
    conditions: Vec<Condition>,
    events: Vec<Event>,
    requeue_after: Option<Duration>,
}

impl<I> Default for Outcome<I> {
    fn default() -> Self {
        Self::stay()
    }
}

impl<I> Outcome<I> {
    /// Stay in the current phase; the scheduler runs it again after
    /// [`requeue_after`](Self::requeue_after), or after the operator's work interval.
    ///
    /// # Examples
    ///
    /// ```
    /// let o: autopilot_sdk::Outcome = autopilot_sdk::Outcome::stay();
    /// assert_eq!(o.next_phase(), None);
    /// ```
    pub fn stay() -> Self {
        Self {
            next_phase: None,
            outputs: Vec::new(),
            status_info: None,
            conditions: Vec::new(),
            events: Vec::new(),
            requeue_after: None,
        }
    }

    /// Move to `phase`, which must be declared in `autopilot.yaml`.
    ///
    /// # Examples
    ///
    /// ```
    /// let o: autopilot_sdk::Outcome = autopilot_sdk::Outcome::next("Processing");
    /// assert_eq!(o.next_phase(), Some("Processing"));
    /// ```
    pub fn next(phase: impl Into<String>) -> Self {
        Self {
            next_phase: Some(phase.into()),
            ..Self::stay()
        }
    }

    /// Adds an object for the scheduler to apply with server-side apply. Its kind must be
    /// declared as an output of the phase; a namespaced object without a namespace gets the
    /// resource's. The scheduler sets the owner reference and its labels.
    ///
    /// # Errors
    ///
    /// [`WorkerError::InvalidOutput`] when `object` fails to serialize or lacks `apiVersion`,
    /// `kind` or `metadata.name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{outputs, Outcome};
    /// let o: Outcome = Outcome::stay().output(outputs::config_map("settings").data("mode", "canary")).unwrap();
    /// assert_eq!(o.outputs()[0]["data"]["mode"], "canary");
    ///
    /// let err = Outcome::<serde_json::Value>::stay().output(serde_json::json!({"kind": "Pod"})).unwrap_err();
    /// assert!(err.to_string().contains("apiVersion"));
    /// ```
    pub fn output(mut self, object: impl Serialize) -> Result<Self, WorkerError> {
        let index = self.outputs.len();
        let invalid = |message: String| WorkerError::InvalidOutput { index, message };
        let value = serde_json::to_value(object).map_err(|err| invalid(err.to_string()))?;
        for (field, pointer) in [
            ("apiVersion", "/apiVersion"),
            ("kind", "/kind"),
            ("metadata.name", "/metadata/name"),
        ] {
            let present = value
                .pointer(pointer)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !present {
                return Err(invalid(format!("{field} is missing or empty")));
            }
        }
        self.outputs.push(value);
        Ok(self)
    }

    /// Sets the new `.status.statusInfo`. Without it the current value is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = autopilot_sdk::Outcome::stay().status(serde_json::json!({"weight": 5}));
    /// assert_eq!(o.status_info().unwrap()["weight"], 5);
    /// ```
    pub fn status(mut self, status_info: I) -> Self {
        self.status_info = Some(status_info);
        self
    }

    /// Sets a condition on `.status.conditions` (merged by type with the scheduler's own).
    /// `status` is a `bool` or a [`ConditionStatus`]. A type the scheduler owns
    /// ([`SCHEDULER_CONDITIONS`](crate::SCHEDULER_CONDITIONS)) fails the call with
    /// [`WorkerError::InvalidCondition`](crate::WorkerError::InvalidCondition).
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{ConditionStatus, Outcome};
    /// let o: Outcome = Outcome::stay()
    ///     .condition("Healthy", true, "ChecksPassed", "success rate 99.9%")
    ///     .condition("Analyzed", ConditionStatus::Unknown, "NoData", "no traffic yet");
    /// assert_eq!(o.conditions().len(), 2);
    /// ```
    pub fn condition(
        mut self,
        type_: impl Into<String>,
        status: impl Into<ConditionStatus>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.conditions
            .push(Condition::new(type_, status, reason, message));
        self
    }

    /// Reports a Kubernetes Event of type Normal on the resource.
    ///
    /// # Examples
    ///
    /// ```
    /// let o: autopilot_sdk::Outcome = autopilot_sdk::Outcome::stay().event_normal("Started", "canary started");
    /// assert_eq!(o.events()[0].reason, "Started");
    /// ```
    pub fn event_normal(mut self, reason: impl Into<String>, message: impl Into<String>) -> Self {
        self.events
            .push(Event::new(Severity::Normal, reason, message));
        self
    }

    /// Reports a Kubernetes Event of type Warning on the resource.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Outcome, Severity};
    /// let o: Outcome = Outcome::next("RollingBack").event_warning("Unhealthy", "success rate 80%");
    /// assert_eq!(o.events()[0].severity, Severity::Warning);
    /// ```
    pub fn event_warning(mut self, reason: impl Into<String>, message: impl Into<String>) -> Self {
        self.events
            .push(Event::new(Severity::Warning, reason, message));
        self
    }

    /// Runs this phase again after `delay` instead of the work interval. Only meaningful when
    /// staying in the phase. Sent in whole milliseconds; a zero delay means "not set".
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let o: autopilot_sdk::Outcome = autopilot_sdk::Outcome::stay().requeue_after(Duration::from_secs(10));
    /// assert_eq!(o.requeue(), Some(Duration::from_secs(10)));
    /// ```
    pub fn requeue_after(mut self, delay: Duration) -> Self {
        self.requeue_after = Some(delay);
        self
    }

    /// The phase to move to, or `None` to stay.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Outcome::<()>::next("Done").next_phase(), Some("Done"));
    /// ```
    pub fn next_phase(&self) -> Option<&str> {
        self.next_phase.as_deref()
    }

    /// The outputs, as the JSON the scheduler will apply.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(autopilot_sdk::Outcome::<()>::stay().outputs().is_empty());
    /// ```
    pub fn outputs(&self) -> &[Value] {
        &self.outputs
    }

    /// The new statusInfo, if set (the builder method is [`status`](Self::status)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Outcome::stay().status(3).status_info(), Some(&3));
    /// ```
    pub fn status_info(&self) -> Option<&I> {
        self.status_info.as_ref()
    }

    /// The conditions to set.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = autopilot_sdk::Outcome::<()>::stay().condition("Healthy", false, "Failing", "");
    /// assert!(!o.conditions()[0].is_true());
    /// ```
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// The events to report.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(autopilot_sdk::Outcome::<()>::stay().events().is_empty());
    /// ```
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The requeue delay, if set (the builder method is [`requeue_after`](Self::requeue_after)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Outcome::<()>::stay().requeue(), None);
    /// ```
    pub fn requeue(&self) -> Option<Duration> {
        self.requeue_after
    }

    pub(crate) fn into_parts(self) -> OutcomeParts<I> {
        OutcomeParts {
            next_phase: self.next_phase,
            outputs: self.outputs,
            status_info: self.status_info,
            conditions: self.conditions,
            events: self.events,
            requeue_after: self.requeue_after,
        }
    }
}

/// An [`Outcome`] taken apart, for the gRPC edge.
pub(crate) struct OutcomeParts<I> {
    pub(crate) next_phase: Option<String>,
    pub(crate) outputs: Vec<Value>,
    pub(crate) status_info: Option<I>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) events: Vec<Event>,
    pub(crate) requeue_after: Option<Duration>,
}

/// What a finalize handler decided: cleanup is done (the scheduler removes the finalizer), or
/// not yet (it calls again).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autopilot_sdk::Finalized;
///
/// let waiting = Finalized::not_yet()
///     .requeue_after(Duration::from_secs(5))
///     .event_normal("Draining", "waiting for connections to drain");
/// assert!(!waiting.is_done());
/// assert!(Finalized::done().is_done());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a Finalized does nothing unless the handler returns it"]
pub struct Finalized {
    done: bool,
    events: Vec<Event>,
    requeue_after: Option<Duration>,
}

impl Finalized {
    /// Cleanup is complete: the scheduler may remove the finalizer.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(autopilot_sdk::Finalized::done().is_done());
    /// ```
    pub fn done() -> Self {
        Self {
            done: true,
            events: Vec::new(),
            requeue_after: None,
        }
    }

    /// Cleanup is still in progress: the scheduler calls again.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!autopilot_sdk::Finalized::not_yet().is_done());
    /// ```
    pub fn not_yet() -> Self {
        Self {
            done: false,
            ..Self::done()
        }
    }

    /// When not done: call again after `delay` instead of the retry backoff.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let f = autopilot_sdk::Finalized::not_yet().requeue_after(Duration::from_secs(1));
    /// assert_eq!(f.requeue(), Some(Duration::from_secs(1)));
    /// ```
    pub fn requeue_after(mut self, delay: Duration) -> Self {
        self.requeue_after = Some(delay);
        self
    }

    /// Reports a Kubernetes Event of type Normal on the resource.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = autopilot_sdk::Finalized::done().event_normal("CleanedUp", "routes restored");
    /// assert_eq!(f.events().len(), 1);
    /// ```
    pub fn event_normal(mut self, reason: impl Into<String>, message: impl Into<String>) -> Self {
        self.events
            .push(Event::new(Severity::Normal, reason, message));
        self
    }

    /// Reports a Kubernetes Event of type Warning on the resource.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = autopilot_sdk::Finalized::not_yet().event_warning("Stuck", "route still in use");
    /// assert_eq!(f.events()[0].severity, autopilot_sdk::Severity::Warning);
    /// ```
    pub fn event_warning(mut self, reason: impl Into<String>, message: impl Into<String>) -> Self {
        self.events
            .push(Event::new(Severity::Warning, reason, message));
        self
    }

    /// True when cleanup is complete.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(autopilot_sdk::Finalized::done().is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The events to report.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(autopilot_sdk::Finalized::done().events().is_empty());
    /// ```
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The requeue delay, if set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Finalized::done().requeue(), None);
    /// ```
    pub fn requeue(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// An outcome of a call that the scheduler reports as a Kubernetes Event on the resource.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{Event, Severity};
/// let e = Event::new(Severity::Normal, "Promoted", "canary promoted");
/// assert_eq!(e.message, "canary promoted");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Normal or Warning.
    pub severity: Severity,
    /// CamelCase reason, for example `WeightIncreased`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl Event {
    /// An event with this severity, reason and message.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = autopilot_sdk::Event::new(autopilot_sdk::Severity::Warning, "Failed", "boom");
    /// assert_eq!(e.reason, "Failed");
    /// ```
    pub fn new(severity: Severity, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The type of a Kubernetes [`Event`].
///
/// # Examples
///
/// ```
/// assert_ne!(autopilot_sdk::Severity::Normal, autopilot_sdk::Severity::Warning);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// An Event of type Normal.
    Normal,
    /// An Event of type Warning.
    Warning,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_requires_an_applicable_object() {
        let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let cases = [
            (
                json!({"kind": "ConfigMap", "metadata": {"name": "a"}}),
                "apiVersion",
            ),
            (
                json!({"apiVersion": "v1", "metadata": {"name": "a"}}),
                "kind",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap"}),
                "metadata.name",
            ),
            (
                json!({"apiVersion": "v1", "kind": "", "metadata": {"name": "a"}}),
                "kind",
            ),
            (json!([1, 2]), "apiVersion"),
        ];
        for (object, field) in cases {
            let err = Outcome::<()>::stay()
                .output(&ok)
                .unwrap()
                .output(&object)
                .unwrap_err();
            match err {
                WorkerError::InvalidOutput { index, message } => {
                    assert_eq!(index, 1);
                    assert_eq!(message, format!("{field} is missing or empty"));
                }
                other => panic!("{object}: {other:?}"),
            }
        }
    }

    #[test]
    fn builders_accumulate_in_order() {
        let o = Outcome::next("B")
            .event_normal("A", "1")
            .event_warning("B", "2")
            .condition("C", false, "R", "M")
            .status(7u32);
        assert_eq!(o.next_phase(), Some("B"));
        assert_eq!(
            o.events(),
            &[
                Event::new(Severity::Normal, "A", "1"),
                Event::new(Severity::Warning, "B", "2")
            ]
        );
        assert_eq!(o.conditions(), &[Condition::new("C", false, "R", "M")]);
        assert_eq!(o.status_info(), Some(&7));
        assert_eq!(o.requeue(), None);
    }
}
