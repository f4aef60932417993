//! Gates and the actions people take on a resource: the `gates:` of `autopilot.yaml`, and the
//! annotations by which `ap pause|resume|retry|abort|approve|promote` (or a GitOps commit) ask
//! the scheduler for them — read here, the same way by `ap` and by the scheduler.
//!
//! These live in annotations, not in a spec field: every operator gets them without its spec
//! schema growing platform fields; changing one does not bump `metadata.generation` (so
//! `observedGeneration` keeps meaning "the spec was seen"); they are stored in the object, so
//! they survive restarts; a GitOps user can commit them; and RBAC's `patch` on the resource
//! decides who may use them.

use std::collections::BTreeMap;

use serde::Serialize;

/// `"true"` holds the resource where it is: no worker call until it is removed.
pub const PAUSED: &str = "autopilot.dev/paused";
/// Beside [`PAUSED`]: who paused the resource, and when (`ap pause` writes it).
pub const PAUSED_BY: &str = "autopilot.dev/paused-by";
/// A new value (`ap retry` writes the time) asks for the worker to be called again at once,
/// failures forgotten; the scheduler records the value it honoured in `status.retried`.
pub const RETRY: &str = "autopilot.dev/retry";
/// Present: move the resource to the project's `abortPhase`. Its value says who asked.
pub const ABORT: &str = "autopilot.dev/abort";
/// Prefix of a gate's annotation: `gate.autopilot.dev/<gate>: approved` opens the gate.
pub const GATE_PREFIX: &str = "gate.autopilot.dev/";
/// The value of a gate's annotation that opens it.
pub const APPROVED: &str = "approved";

/// One gate: a phase that needs approval before it starts, or before it is left.
///
/// # Guarantees (after parsing)
///
/// `name` is a kebab-case name unique among the gates; `phase` is a declared phase; a
/// `Leaving` gate is not on a final phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    /// The gate's name, used by `ap approve --gate` and in its annotation.
    pub name: String,
    /// The phase it guards.
    pub phase: String,
    /// Whether it holds the resource before the phase's worker is first called, or holds the
    /// phase's move to the next one.
    pub when: GateWhen,
    /// What the approver is asked to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// When a gate holds the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GateWhen {
    /// On entering the phase: its worker is not called until the gate is approved.
    Before,
    /// On leaving it: the phase's worker runs, but its move to another phase waits for the
    /// approval (Flagger's confirm-promotion, Argo Rollouts' indefinite pause).
    Leaving,
}

impl GateWhen {
    /// Every value, with its name in the file.
    pub const ALL: [(&'static str, GateWhen); 2] =
        [("before", GateWhen::Before), ("leaving", GateWhen::Leaving)];
}

/// The annotation of gate `gate`.
pub fn gate_annotation(gate: &str) -> String {
    format!("{GATE_PREFIX}{gate}")
}

/// The annotation recording who approved gate `gate`, and when.
pub fn approver_annotation(gate: &str) -> String {
    format!("{GATE_PREFIX}{gate}.by")
}

/// What the annotations of a resource ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    /// `ap pause` (or the annotation) holds it.
    pub paused: bool,
    /// The latest retry request.
    pub retry: Option<String>,
    /// Who asked to abort, when someone did.
    pub abort: Option<String>,
    /// Approved gates, each with who approved it when recorded.
    pub approved: BTreeMap<String, Option<String>>,
}

impl Requests {
    /// Read the requests from a resource's annotations.
    pub fn read(annotations: &BTreeMap<String, String>) -> Self {
        let approved = annotations
            .iter()
            .filter_map(|(key, value)| {
                let gate = key.strip_prefix(GATE_PREFIX)?;
                (!gate.ends_with(".by") && value == APPROVED).then(|| {
                    (
                        gate.to_owned(),
                        annotations.get(&approver_annotation(gate)).cloned(),
                    )
                })
            })
            .collect();
        Self {
            paused: annotations.get(PAUSED).is_some_and(|v| v == "true"),
            retry: annotations.get(RETRY).cloned(),
            abort: annotations.get(ABORT).cloned(),
            approved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_read_as_requests() {
        let annotations: BTreeMap<String, String> = [
            (PAUSED, "true"),
            (RETRY, "2026-01-01T00:00:00Z"),
            ("gate.autopilot.dev/promote", "approved"),
            (
                "gate.autopilot.dev/promote.by",
                "alice at 2026-01-01T00:00:00Z",
            ),
            ("gate.autopilot.dev/smoke", "approved"),
            ("gate.autopilot.dev/later", "pending"),
            ("unrelated", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let requests = Requests::read(&annotations);
        assert!(requests.paused);
        assert_eq!(requests.retry.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(requests.abort, None);
        assert_eq!(
            requests.approved,
            BTreeMap::from([
                (
                    "promote".to_owned(),
                    Some("alice at 2026-01-01T00:00:00Z".to_owned())
                ),
                ("smoke".to_owned(), None),
            ])
        );
        let paused_false = BTreeMap::from([(PAUSED.to_owned(), "false".to_owned())]);
        assert!(!Requests::read(&paused_false).paused);
    }
}
