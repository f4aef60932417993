//! What people ask of a resource — pause, resume, retry, abort, approve a gate — decided
//! against its status before its phase runs. The requests are annotations
//! ([`autopilot_model::gates::Requests`], written by `ap pause|resume|retry|abort|approve|promote`
//! or committed by a GitOps user); the answer is a [`Decision`]: the status to write, the Events
//! to publish, and whether the phase's worker is called. Pure: no I/O happens here.
//!
//! # Precedence
//!
//! **abort > pause > retry > gates.** Abort wins because it is how people stop a resource that
//! is going wrong, paused or not. Pause holds everything else: a retry asked while paused is
//! honoured on resume, a gate approved while paused opens then. A retry forgets the failures
//! but does not open a gate: a closed gate still holds the resource.
//!
//! # Guarantees
//!
//! - **Pause** holds the resource: no worker call while `autopilot.dev/paused` is `"true"`;
//!   condition `Paused=True` says who paused it and when. Removing the annotation removes the
//!   condition and the phase runs at once.
//! - **Retry**: a value of `autopilot.dev/retry` other than `status.retried` forgets the
//!   failures (so the backoff starts over), runs the phase at once and is recorded in
//!   `status.retried`, so one request is honoured once.
//! - **Abort**: a value of `autopilot.dev/abort` other than `status.aborted` moves the resource
//!   to `abortPhase` without calling the worker, once, and records who asked in
//!   `status.aborted` and condition `Aborted=True`. Without an `abortPhase` the request is
//!   refused by condition `Aborted=False` (reason `NoAbortPhase`) and the resource goes on.
//! - **Before gates**: the phase's worker is not called until the gate is approved; condition
//!   `AwaitingApproval=True` (reason `GateClosed`) says which gate and the command that opens it.
//! - **Leaving gates**: the phase's worker runs and its result is kept (outputs, statusInfo,
//!   conditions) but a move to another phase is held — the phase stays, the worker is asked
//!   again at its usual interval — until the gate is approved (reason `MoveHeld`).
//! - A resource in a final phase is never run, so nothing is decided for it: an abort of a
//!   finished resource does nothing.
//!
//! # An approval opens one pass through the phase
//!
//! A gate approved for one pass through its phase must not stay open when the resource comes
//! back to that phase later. The scheduler does not remove the annotation (a GitOps engine would
//! put a committed one back, and a metadata write would race the user's): it records in
//! `status.gates.<gate>` the approval it used — the approver annotation's value, which
//! `ap approve` sets to who and when — and the phase entry it opened (the status'
//! `lastTransitionTime`). On a later entry, the same approval is spent; a new `ap approve`
//! (a new who-and-when) opens the gate again. An approval given before the resource reaches
//! the gate is not spent until it opens it.
use std::collections::BTreeMap;

use autopilot_model::gates::{PAUSED_BY, Requests};
use autopilot_model::{Gate, GateWhen};
use serde::{Deserialize, Serialize};

use crate::status::{ABORTED, AWAITING_APPROVAL, Condition, PAUSED, PROGRESSING, READY, Status};
use crate::step::{Facts, PhaseTable};

/// Reason of `AwaitingApproval` while a `before` gate keeps the worker from being called.
pub const GATE_CLOSED: &str = "GateClosed";
/// Reason of `AwaitingApproval` while a `leaving` gate holds the move the worker asked for.
pub const MOVE_HELD: &str = "MoveHeld";
/// Reason of `Aborted=False` when the project declares no `abortPhase`.
pub const NO_ABORT_PHASE: &str = "NoAbortPhase";

/// In `status.gates`: the approval that opened a gate, and the pass through its phase it opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The approver annotation's value (who and when); empty when the gate was opened by the
    /// gate annotation alone.
    #[serde(default)]
    pub by: String,
    /// The `lastTransitionTime` of the phase entry it opened; empty for the first entry of the
    /// initial phase, which has none.
    #[serde(default)]
    pub entered: String,
}

/// The operator's gates and abort phase, from its plan.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Every declared gate.
    pub gates: &'a [Gate],
    /// The phase `ap abort` moves to, when declared.
    pub abort_phase: Option<&'a str>,
    /// The phases (to know whether the abort phase is final).
    pub table: &'a PhaseTable,
}

/// What the annotations of one resource ask, as read from its metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    /// The requests.
    pub requests: Requests,
    /// Who paused it and when (`autopilot.dev/paused-by`).
    pub paused_by: Option<String>,
}

impl Asked {
    /// Reads the requests from a resource's annotations.
    pub fn read(annotations: &BTreeMap<String, String>) -> Self {
        Asked {
            requests: Requests::read(annotations),
            paused_by: annotations.get(PAUSED_BY).cloned(),
        }
    }

    /// A fingerprint of the requests: when it differs from the one the last run saw, the
    /// resource runs at once instead of waiting for its next interval.
    pub fn fingerprint(&self) -> String {
        format!("{:?}", self.requests)
    }
}

/// An Event the decision asks to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The Event's reason: `Paused`, `Resumed`, `Retried`, `Aborted`, `AbortRefused`,
    /// `GateApproved`.
    pub reason: &'static str,
    /// Its note: what happened, who asked and when.
    pub note: String,
    /// A Warning rather than a Normal Event.
    pub warning: bool,
}

/// A `leaving` gate of the phase that is not approved: the move it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMove {
    /// The gate's name.
    pub gate: String,
    /// Its description, or what to check.
    pub description: String,
    /// The resource's name, for the command in the condition's message.
    pub name: String,
}

impl HeldMove {
    /// The `AwaitingApproval` condition recorded while the worker's move to `to` is held.
    pub fn condition(&self, to: &str) -> Condition {
        Condition::new(
            AWAITING_APPROVAL,
            true,
            MOVE_HELD,
            format!(
                "gate {}: {}; holds the move to {to}; ap approve {} --gate {}",
                self.gate, self.description, self.name, self.gate
            ),
        )
    }
}

/// What happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// No worker call: write the status and wait for the resource to change.
    Hold,
    /// Moved without a worker call (aborted): write the status; the transition is `from → to`.
    Moved {
        /// The phase left.
        from: String,
        /// The abort phase.
        to: String,
    },
    /// Run the phase's worker from the decision's status. `leaving`: a move it asks for is held.
    Run {
        /// The leaving gate that is still closed, if any.
        leaving: Option<HeldMove>,
    },
}

/// The answer to a resource's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The status to continue from (and to write when it changed).
    pub status: Status,
    /// Events to publish once the status is written.
    pub notices: Vec<Notice>,
    /// What happens next.
    pub then: Then,
}

fn who(by: Option<&str>) -> &str {
    match by {
        Some(b) if !b.is_empty() => b,
        _ => "an annotation without an approver",
    }
}

/// Decides what `asked` means for resource `name` in the non-final phase `phase` with status
/// `status`. Applied in the order of precedence: abort, pause, retry, gates.
pub fn decide(
    rules: &Rules<'_>,
    asked: &Asked,
    name: &str,
    status: &Status,
    phase: &str,
    facts: Facts<'_>,
) -> Decision {
    let (now, generation) = (facts.now, facts.generation);
    let mut next = status.clone();
    let mut notices = Vec::new();
    let requests = &asked.requests;

    // Abort: once per request (its value says who and when).
    match &requests.abort {
        Some(by) if next.aborted.as_deref() != Some(by) => match rules.abort_phase {
            None => {
                let message = format!(
                    "abort requested ({by}) but autopilot.yaml declares no abortPhase; \
                     {phase} goes on"
                );
                let was = status
                    .condition(ABORTED)
                    .is_some_and(|c| c.reason == NO_ABORT_PHASE && c.message == message);
                next.set_condition(
                    Condition::new(ABORTED, false, NO_ABORT_PHASE, &message),
                    now,
                    generation,
                );
                if !was {
                    notices.push(Notice {
                        reason: "AbortRefused",
                        note: message,
                        warning: true,
                    });
                }
            }
            Some(to) => {
                next.aborted = Some(by.clone());
                next.set_condition(
                    Condition::new(ABORTED, true, "AbortRequested", format!("aborted by {by}")),
                    now,
                    generation,
                );
                notices.push(Notice {
                    reason: "Aborted",
                    note: format!("{phase} -> {to}: aborted by {by}"),
                    warning: false,
                });
                if phase != to {
                    moved_to_abort(&mut next, rules.table, phase, to, facts);
                    return Decision {
                        status: next,
                        notices,
                        then: Then::Moved {
                            from: phase.to_string(),
                            to: to.to_string(),
                        },
                    };
                }
            }
        },
        // A refusal is withdrawn with the request.
        None if status
            .condition(ABORTED)
            .is_some_and(|c| c.reason == NO_ABORT_PHASE) =>
        {
            next.remove_condition(ABORTED);
        }
        _ => {}
    }

    // Pause holds everything below it.
    if requests.paused {
        let by = asked.paused_by.as_deref().unwrap_or("an unknown user");
        let was = status.condition(PAUSED).is_some_and(|c| c.status == "True");
        next.set_condition(
            Condition::new(
                PAUSED,
                true,
                "PauseRequested",
                format!("paused by {by} in phase {phase}; `ap resume {name}` lets it go on"),
            ),
            now,
            generation,
        );
        if !was {
            notices.push(Notice {
                reason: "Paused",
                note: format!("paused by {by} in phase {phase}"),
                warning: false,
            });
        }
        return Decision {
            status: next,
            notices,
            then: Then::Hold,
        };
    }
    if status.condition(PAUSED).is_some() {
        next.remove_condition(PAUSED);
        notices.push(Notice {
            reason: "Resumed",
            note: format!("resumed in phase {phase}"),
            warning: false,
        });
    }

    // Retry: once per request.
    if let Some(at) = &requests.retry
        && next.retried.as_deref() != Some(at)
    {
        next.retried = Some(at.clone());
        next.failures = 0;
        notices.push(Notice {
            reason: "Retried",
            note: format!("retry requested at {at}: failures forgotten, {phase} runs again now"),
            warning: false,
        });
    }

    // Gates of this phase.
    let entered = next.last_transition_time.clone().unwrap_or_default();
    let mut before_closed = Vec::new();
    let mut leaving = None;
    for gate in rules.gates.iter().filter(|g| g.phase == phase) {
        if open(gate, requests, &entered, &mut next, &mut notices) {
            continue;
        }
        let description = gate
            .description
            .clone()
            .unwrap_or_else(|| "waits for approval".to_string());
        match gate.when {
            GateWhen::Before => before_closed.push(format!(
                "gate {}: {description}; ap approve {name} --gate {}",
                gate.name, gate.name
            )),
            GateWhen::Leaving => {
                leaving.get_or_insert(HeldMove {
                    gate: gate.name.clone(),
                    description,
                    name: name.to_string(),
                });
            }
        }
    }
    if !before_closed.is_empty() {
        next.set_condition(
            Condition::new(
                AWAITING_APPROVAL,
                true,
                GATE_CLOSED,
                before_closed.join("; "),
            ),
            now,
            generation,
        );
        return Decision {
            status: next,
            notices,
            then: Then::Hold,
        };
    }
    // A held move keeps its condition until the worker is asked again; anything else is over.
    let keep = leaving.as_ref().is_some_and(|held| {
        next.condition(AWAITING_APPROVAL).is_some_and(|c| {
            c.reason == MOVE_HELD && c.message.starts_with(&format!("gate {}:", held.gate))
        })
    });
    if !keep {
        next.remove_condition(AWAITING_APPROVAL);
    }
    Decision {
        status: next,
        notices,
        then: Then::Run { leaving },
    }
}

/// Whether `gate` is open for this pass through its phase (entered at `entered`); records the
/// approval it spends and announces it the first time.
fn open(
    gate: &Gate,
    requests: &Requests,
    entered: &str,
    next: &mut Status,
    notices: &mut Vec<Notice>,
) -> bool {
    let Some(by) = requests.approved.get(&gate.name) else {
        return false;
    };
    let by = by.clone().unwrap_or_default();
    match next.gates.get(&gate.name) {
        Some(spent) if spent.by == by => spent.entered == entered,
        _ => {
            notices.push(Notice {
                reason: "GateApproved",
                note: format!("gate {} approved by {}", gate.name, who(Some(&by))),
                warning: false,
            });
            next.gates.insert(
                gate.name.clone(),
                Approval {
                    by,
                    entered: entered.to_string(),
                },
            );
            true
        }
    }
}

/// The status of a resource moved to the abort phase `to` without a worker call.
fn moved_to_abort(status: &mut Status, table: &PhaseTable, from: &str, to: &str, facts: Facts<'_>) {
    let (now, generation) = (facts.now, facts.generation);
    status.phase = to.to_string();
    status.attempt = 0;
    status.failures = 0;
    status.observed_generation = generation;
    status.last_transition_time = Some(now.to_string());
    status.remove_condition(AWAITING_APPROVAL);
    let is_final = table.get(to).is_some_and(|p| p.is_final);
    let message = format!("aborted in {from}; moved to {to}");
    status.set_condition(
        Condition::new(READY, false, "Aborted", &message),
        now,
        generation,
    );
    status.set_condition(
        Condition::new(PROGRESSING, !is_final, "Aborted", &message),
        now,
        generation,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::PhaseEntry;

    fn table() -> PhaseTable {
        let p = |name: &str, is_final: bool| PhaseEntry {
            name: name.into(),
            is_final,
            next: None,
        };
        PhaseTable {
            initial: "Initializing".into(),
            phases: vec![
                p("Initializing", false),
                p("Checking", false),
                p("Processing", false),
                p("Finished", true),
                p("Aborted", true),
            ],
        }
    }

    fn gates() -> Vec<Gate> {
        vec![
            Gate {
                name: "start".into(),
                phase: "Initializing".into(),
                when: GateWhen::Before,
                description: None,
            },
            Gate {
                name: "promote".into(),
                phase: "Processing".into(),
                when: GateWhen::Leaving,
                description: Some("Check the dashboards".into()),
            },
        ]
    }

    const NOW: &str = "2026-01-01T00:00:09Z";

    fn facts() -> Facts<'static> {
        Facts {
            now: NOW,
            generation: Some(1),
            jitter: 0.0,
        }
    }

    fn asked(pairs: &[(&str, &str)]) -> Asked {
        Asked::read(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn with_condition(type_: &str, reason: &str, message: &str) -> Status {
        let mut s = Status::default();
        s.set_condition(Condition::new(type_, true, reason, message), "t0", Some(1));
        s
    }

    fn spent(by: &str, entered: &str, now_entered: &str) -> Status {
        Status {
            phase: "Initializing".into(),
            last_transition_time: Some(now_entered.into()).filter(|s: &String| !s.is_empty()),
            gates: BTreeMap::from([(
                "start".to_string(),
                Approval {
                    by: by.into(),
                    entered: entered.into(),
                },
            )]),
            ..Default::default()
        }
    }

    const PAUSE: (&str, &str) = ("autopilot.dev/paused", "true");
    const PAUSED_BY_ALICE: (&str, &str) = ("autopilot.dev/paused-by", "alice at t1");
    const ABORT: (&str, &str) = ("autopilot.dev/abort", "bob at t2");
    const RETRY: (&str, &str) = ("autopilot.dev/retry", "t3");
    const START: (&str, &str) = ("gate.autopilot.dev/start", "approved");
    const START_BY_ALICE: (&str, &str) = ("gate.autopilot.dev/start.by", "alice at t4");
    const START_BY_BOB: (&str, &str) = ("gate.autopilot.dev/start.by", "bob at t5");
    const PROMOTE: (&str, &str) = ("gate.autopilot.dev/promote", "approved");

    /// What a case expects.
    #[derive(Debug, PartialEq)]
    enum Want {
        Run,
        RunHoldingMove,
        Hold,
        Moved,
    }

    /// `(type, Some((status, reason, part of the message)))`, or `(type, None)`: absent.
    type WantCondition = (
        &'static str,
        Option<(&'static str, &'static str, &'static str)>,
    );

    struct Case {
        name: &'static str,
        phase: &'static str,
        annotations: &'static [(&'static str, &'static str)],
        status: Status,
        abort_phase: Option<&'static str>,
        want: Want,
        notices: &'static [&'static str],
        conditions: &'static [WantCondition],
        check: fn(&Status) -> bool,
    }

    fn any(_: &Status) -> bool {
        true
    }

    #[test]
    fn decisions() {
        let cases = vec![
            Case {
                name: "nothing asked: the phase runs",
                phase: "Checking",
                annotations: &[],
                status: Status::default(),
                abort_phase: Some("Aborted"),
                want: Want::Run,
                notices: &[],
                conditions: &[(PAUSED, None), (AWAITING_APPROVAL, None)],
                check: any,
            },
            Case {
                name: "pause holds and says who",
                phase: "Checking",
                annotations: &[PAUSE, PAUSED_BY_ALICE],
                status: Status::default(),
                abort_phase: Some("Aborted"),
                want: Want::Hold,
                notices: &["Paused"],
                conditions: &[(
                    PAUSED,
                    Some((
                        "True",
                        "PauseRequested",
                        "paused by alice at t1 in phase Checking",
                    )),
                )],
                check: any,
            },
            Case {
                name: "a pause already recorded is not announced again",
                phase: "Checking",
                annotations: &[PAUSE, PAUSED_BY_ALICE],
                status: with_condition(PAUSED, "PauseRequested", "old"),
                abort_phase: Some("Aborted"),
                want: Want::Hold,
                notices: &[],
                conditions: &[(PAUSED, Some(("True", "PauseRequested", "alice")))],
                check: |s| s.condition(PAUSED).unwrap().last_transition_time == "t0",
            },
            Case {
                name: "resume removes the condition and runs",
                phase: "Checking",
                annotations: &[],
                status: with_condition(PAUSED, "PauseRequested", "paused by alice"),
                abort_phase: Some("Aborted"),
                want: Want::Run,
                notices: &["Resumed"],
                conditions: &[(PAUSED, None)],
                check: any,
            },
            Case {
                name: "abort beats pause and moves without a call",
                phase: "Checking",
                annotations: &[PAUSE, ABORT],
                status: Status {
                    phase: "Checking".into(),
                    attempt: 4,
                    failures: 2,
                    ..Default::default()
                },
                abort_phase: Some("Aborted"),
                want: Want::Moved,
                notices: &["Aborted"],
                conditions: &[
                    (
                        ABORTED,
                        Some(("True", "AbortRequested", "aborted by bob at t2")),
                    ),
                    (READY, Some(("False", "Aborted", "aborted in Checking"))),
                    (PROGRESSING, Some(("False", "Aborted", "moved to Aborted"))),
                ],
                check: |s| {
                    s.phase == "Aborted"
                        && s.aborted.as_deref() == Some("bob at t2")
                        && (s.attempt, s.failures) == (0, 0)
                        && s.last_transition_time.as_deref() == Some(NOW)
                },
            },
            Case {
                name: "an abort is honoured once",
                phase: "Checking",
                annotations: &[ABORT],
                status: Status {
                    aborted: Some("bob at t2".into()),
                    ..Default::default()
                },
                abort_phase: Some("Aborted"),
                want: Want::Run,
                notices: &[],
                conditions: &[],
                check: |s| s.phase.is_empty(),
            },
            Case {
                name: "abort without an abortPhase is refused by a condition",
                phase: "Checking",
                annotations: &[ABORT],
                status: Status::default(),
                abort_phase: None,
                want: Want::Run,
                notices: &["AbortRefused"],
                conditions: &[(
                    ABORTED,
                    Some(("False", NO_ABORT_PHASE, "declares no abortPhase")),
                )],
                check: |s| s.aborted.is_none(),
            },
            Case {
                name: "the refusal goes with the request",
                phase: "Checking",
                annotations: &[],
                status: with_condition(ABORTED, NO_ABORT_PHASE, "no abortPhase"),
                abort_phase: None,
                want: Want::Run,
                notices: &[],
                conditions: &[(ABORTED, None)],
                check: any,
            },
            Case {
                name: "retry forgets the failures and is recorded",
                phase: "Checking",
                annotations: &[RETRY],
                status: Status {
                    failures: 5,
                    ..Default::default()
                },
                abort_phase: None,
                want: Want::Run,
                notices: &["Retried"],
                conditions: &[],
                check: |s| s.failures == 0 && s.retried.as_deref() == Some("t3"),
            },
            Case {
                name: "a retry is honoured once",
                phase: "Checking",
                annotations: &[RETRY],
                status: Status {
                    failures: 5,
                    retried: Some("t3".into()),
                    ..Default::default()
                },
                abort_phase: None,
                want: Want::Run,
                notices: &[],
                conditions: &[],
                check: |s| s.failures == 5,
            },
            Case {
                name: "a retry waits for resume",
                phase: "Checking",
                annotations: &[PAUSE, RETRY],
                status: Status {
                    failures: 5,
                    ..Default::default()
                },
                abort_phase: None,
                want: Want::Hold,
                notices: &["Paused"],
                conditions: &[(PAUSED, Some(("True", "PauseRequested", "an unknown user")))],
                check: |s| s.failures == 5 && s.retried.is_none(),
            },
            Case {
                name: "a retry does not open a gate",
                phase: "Initializing",
                annotations: &[RETRY],
                status: Status::default(),
                abort_phase: None,
                want: Want::Hold,
                notices: &["Retried"],
                conditions: &[(AWAITING_APPROVAL, Some(("True", GATE_CLOSED, "gate start")))],
                check: |s| s.retried.is_some(),
            },
            Case {
                name: "a before gate holds and names the command",
                phase: "Initializing",
                annotations: &[],
                status: Status::default(),
                abort_phase: None,
                want: Want::Hold,
                notices: &[],
                conditions: &[(
                    AWAITING_APPROVAL,
                    Some((
                        "True",
                        GATE_CLOSED,
                        "gate start: waits for approval; ap approve web --gate start",
                    )),
                )],
                check: any,
            },
            Case {
                name: "an approval opens the gate once and is recorded",
                phase: "Initializing",
                annotations: &[START, START_BY_ALICE],
                status: with_condition(AWAITING_APPROVAL, GATE_CLOSED, "gate start"),
                abort_phase: None,
                want: Want::Run,
                notices: &["GateApproved"],
                conditions: &[(AWAITING_APPROVAL, None)],
                check: |s| {
                    s.gates["start"]
                        == Approval {
                            by: "alice at t4".into(),
                            entered: String::new(),
                        }
                },
            },
            Case {
                name: "an approval recorded for this pass keeps the gate open",
                phase: "Initializing",
                annotations: &[START, START_BY_ALICE],
                status: spent("alice at t4", "t6", "t6"),
                abort_phase: None,
                want: Want::Run,
                notices: &[],
                conditions: &[],
                check: any,
            },
            Case {
                name: "an approval spent on an earlier pass does not open a later one",
                phase: "Initializing",
                annotations: &[START, START_BY_ALICE],
                status: spent("alice at t4", "", "t6"),
                abort_phase: None,
                want: Want::Hold,
                notices: &[],
                conditions: &[(AWAITING_APPROVAL, Some(("True", GATE_CLOSED, "gate start")))],
                check: any,
            },
            Case {
                name: "a new approval opens a later pass",
                phase: "Initializing",
                annotations: &[START, START_BY_BOB],
                status: spent("alice at t4", "", "t6"),
                abort_phase: None,
                want: Want::Run,
                notices: &["GateApproved"],
                conditions: &[],
                check: |s| {
                    s.gates["start"]
                        == Approval {
                            by: "bob at t5".into(),
                            entered: "t6".into(),
                        }
                },
            },
            Case {
                name: "a leaving gate lets the worker run and holds its move",
                phase: "Processing",
                annotations: &[],
                status: with_condition(
                    AWAITING_APPROVAL,
                    MOVE_HELD,
                    "gate promote: Check the dashboards; holds the move to Finished",
                ),
                abort_phase: None,
                want: Want::RunHoldingMove,
                notices: &[],
                conditions: &[(
                    AWAITING_APPROVAL,
                    Some(("True", MOVE_HELD, "gate promote:")),
                )],
                check: any,
            },
            Case {
                name: "an approved leaving gate lets the move go",
                phase: "Processing",
                annotations: &[PROMOTE],
                status: with_condition(AWAITING_APPROVAL, MOVE_HELD, "gate promote: x"),
                abort_phase: None,
                want: Want::Run,
                notices: &["GateApproved"],
                conditions: &[(AWAITING_APPROVAL, None)],
                check: |s| s.gates["promote"].by.is_empty(),
            },
        ];
        let table = table();
        let gates = gates();
        for case in cases {
            let rules = Rules {
                gates: &gates,
                abort_phase: case.abort_phase,
                table: &table,
            };
            let d = decide(
                &rules,
                &asked(case.annotations),
                "web",
                &case.status,
                case.phase,
                facts(),
            );
            let got = match &d.then {
                Then::Hold => Want::Hold,
                Then::Moved { from, to } => {
                    assert_eq!((from.as_str(), to.as_str()), (case.phase, "Aborted"));
                    Want::Moved
                }
                Then::Run { leaving: None } => Want::Run,
                Then::Run { leaving: Some(_) } => Want::RunHoldingMove,
            };
            assert_eq!(got, case.want, "{}", case.name);
            let reasons: Vec<&str> = d.notices.iter().map(|n| n.reason).collect();
            assert_eq!(reasons, case.notices, "{}", case.name);
            for (type_, want) in case.conditions {
                let c = d.status.condition(type_);
                match (want, c) {
                    (None, None) => {}
                    (Some((status, reason, part)), Some(c)) => assert!(
                        c.status == *status && c.reason == *reason && c.message.contains(part),
                        "{}: {c:?}",
                        case.name
                    ),
                    _ => panic!("{}: {type_} is {c:?}, want {want:?}", case.name),
                }
            }
            assert!((case.check)(&d.status), "{}: {:?}", case.name, d.status);
        }
    }

    #[test]
    fn a_held_move_says_which_gate_and_how_to_open_it() {
        let held = HeldMove {
            gate: "promote".into(),
            description: "Check the dashboards".into(),
            name: "web".into(),
        };
        let c = held.condition("Finished");
        assert_eq!(
            (c.type_.as_str(), c.reason.as_str()),
            (AWAITING_APPROVAL, MOVE_HELD)
        );
        assert_eq!(
            c.message,
            "gate promote: Check the dashboards; holds the move to Finished; \
             ap approve web --gate promote"
        );
    }

    #[test]
    fn the_fingerprint_changes_with_any_request() {
        let base = asked(&[]).fingerprint();
        for pair in [PAUSE, ABORT, RETRY, START, PROMOTE] {
            assert_ne!(asked(&[pair]).fingerprint(), base, "{pair:?}");
        }
        assert_eq!(asked(&[("unrelated", "x")]).fingerprint(), base);
    }
}
