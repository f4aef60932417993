//! What a status write means to people: the notification events between the status a
//! resource had and the one written. Pure, tested by a table.

use autopilot_model::notifications::{AWAITING_APPROVAL_CONDITION, NotifyEvent};

use crate::status::{PROGRESSING, Status, WORKER_ERROR};

/// Reasons of the `Progressing` condition that mean the scheduler will not retry on its own
/// soon (see [`crate::step::after_failure`]).
const BLOCKED_REASONS: [&str; 2] = ["Blocked", "RetriesExhausted"];

/// One event about one status change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub event: NotifyEvent,
    /// The phase it happened in: the new phase of a transition, the failing phase of a
    /// failure, the phase that was failing for a recovery.
    pub phase: String,
    /// The phase before a transition; empty for other events.
    pub previous_phase: String,
    /// The failure's (or gate's) reason; for a recovery, the reason of the failure that ended.
    pub reason: String,
    /// The failure's (or gate's) message.
    pub message: String,
    /// For a failure whose reason changed: the reason it replaces, whose alert ends now.
    pub supersedes: Option<String>,
}

impl Change {
    fn new(event: NotifyEvent, phase: &str) -> Self {
        Change {
            event,
            phase: phase.to_owned(),
            previous_phase: String::new(),
            reason: String::new(),
            message: String::new(),
            supersedes: None,
        }
    }
}

/// The events between `before` and `after`, in the order people should read them: a
/// recovery before the transition it came with, a failure before it is called blocked.
/// `initial` is the phase an empty `before.phase` means; `is_final` tells final phases.
pub fn changes(
    before: &Status,
    after: &Status,
    initial: &str,
    is_final: impl Fn(&str) -> bool,
) -> Vec<Change> {
    let mut out = Vec::new();
    let from = if before.phase.is_empty() {
        initial
    } else {
        &before.phase
    };
    let to = if after.phase.is_empty() {
        initial
    } else {
        &after.phase
    };
    let failing = |s: &Status| {
        s.failures > 0
            && s.condition(WORKER_ERROR)
                .is_some_and(|c| c.status == "True")
    };
    let error = |s: &Status| {
        s.condition(WORKER_ERROR)
            .map(|c| (c.reason.clone(), c.message.clone()))
            .unwrap_or_default()
    };
    let (was_failing, is_failing) = (failing(before), failing(after));
    if was_failing && !is_failing {
        let (reason, message) = error(before);
        out.push(Change {
            reason,
            message,
            ..Change::new(NotifyEvent::Recovered, from)
        });
    }
    if from != to {
        out.push(Change {
            previous_phase: from.to_owned(),
            ..Change::new(NotifyEvent::PhaseChanged, to)
        });
        if is_final(to) {
            out.push(Change {
                previous_phase: from.to_owned(),
                ..Change::new(NotifyEvent::Finished, to)
            });
        }
    }
    if is_failing {
        let (reason, message) = error(after);
        let (old_reason, _) = error(before);
        let new_streak = !was_failing || from != to;
        if new_streak || old_reason != reason {
            out.push(Change {
                reason: reason.clone(),
                message: message.clone(),
                supersedes: (!new_streak).then(|| old_reason.clone()),
                ..Change::new(NotifyEvent::Failed, to)
            });
        }
        let blocked = |s: &Status| {
            s.condition(PROGRESSING)
                .is_some_and(|c| BLOCKED_REASONS.contains(&c.reason.as_str()))
        };
        if blocked(after) && (new_streak || !blocked(before) || old_reason != reason) {
            out.push(Change {
                reason,
                message,
                ..Change::new(NotifyEvent::Blocked, to)
            });
        }
    }
    fn waiting(s: &Status) -> Option<&crate::status::Condition> {
        s.condition(AWAITING_APPROVAL_CONDITION)
            .filter(|c| c.status == "True")
    }
    if let Some(gate) = waiting(after)
        && (waiting(before).is_none() || from != to)
    {
        out.push(Change {
            reason: gate.reason.clone(),
            message: gate.message.clone(),
            ..Change::new(NotifyEvent::GateWaiting, to)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Condition;
    use NotifyEvent::*;

    fn status(phase: &str, failures: u32, conditions: &[(&str, bool, &str)]) -> Status {
        let mut s = Status {
            phase: phase.into(),
            failures,
            ..Status::default()
        };
        for (t, v, reason) in conditions {
            s.set_condition(
                Condition::new(*t, *v, *reason, format!("{reason} happened")),
                "2026-01-01T00:00:00Z",
                None,
            );
        }
        s
    }

    fn ok(phase: &str) -> Status {
        status(phase, 0, &[(WORKER_ERROR, false, "Succeeded")])
    }

    fn failing(phase: &str, n: u32, reason: &str, progress: &str) -> Status {
        status(
            phase,
            n,
            &[(WORKER_ERROR, true, reason), (PROGRESSING, true, progress)],
        )
    }

    #[test]
    fn events_by_change() {
        let gate = status("B", 0, &[(AWAITING_APPROVAL_CONDITION, true, "GateClosed")]);
        // (case, before, after, events as (event, phase, previous, reason, supersedes))
        type Want = (
            NotifyEvent,
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        );
        let cases: Vec<(&str, Status, Status, Vec<Want>)> = vec![
            (
                "first write of the initial phase",
                Status::default(),
                ok("A"),
                vec![],
            ),
            ("stays", ok("A"), ok("A"), vec![]),
            (
                "moves",
                ok("A"),
                ok("B"),
                vec![(PhaseChanged, "B", "A", "", None)],
            ),
            (
                "moves from the empty phase",
                Status::default(),
                ok("B"),
                vec![(PhaseChanged, "B", "A", "", None)],
            ),
            (
                "finishes",
                ok("B"),
                ok("Done"),
                vec![
                    (PhaseChanged, "Done", "B", "", None),
                    (Finished, "Done", "B", "", None),
                ],
            ),
            (
                "first failure",
                ok("A"),
                failing("A", 1, "Unavailable", "Retrying"),
                vec![(Failed, "A", "", "Unavailable", None)],
            ),
            (
                "same failure again",
                failing("A", 1, "Unavailable", "Retrying"),
                failing("A", 2, "Unavailable", "Retrying"),
                vec![],
            ),
            (
                "failure changes reason",
                failing("A", 1, "Unavailable", "Retrying"),
                failing("A", 2, "DeadlineExceeded", "Retrying"),
                vec![(Failed, "A", "", "DeadlineExceeded", Some("Unavailable"))],
            ),
            (
                "permanent failure",
                ok("A"),
                failing("A", 1, "FailedPrecondition", "Blocked"),
                vec![
                    (Failed, "A", "", "FailedPrecondition", None),
                    (Blocked, "A", "", "FailedPrecondition", None),
                ],
            ),
            (
                "still blocked",
                failing("A", 1, "FailedPrecondition", "Blocked"),
                failing("A", 2, "FailedPrecondition", "Blocked"),
                vec![],
            ),
            (
                "retries exhausted",
                failing("A", 2, "Unavailable", "Retrying"),
                failing("A", 3, "Unavailable", "RetriesExhausted"),
                vec![(Blocked, "A", "", "Unavailable", None)],
            ),
            (
                "recovers and moves on",
                failing("A", 2, "Unavailable", "Retrying"),
                ok("B"),
                vec![
                    (Recovered, "A", "", "Unavailable", None),
                    (PhaseChanged, "B", "A", "", None),
                ],
            ),
            (
                "recovers in place",
                failing("A", 2, "Unavailable", "Retrying"),
                ok("A"),
                vec![(Recovered, "A", "", "Unavailable", None)],
            ),
            (
                "gate closes",
                ok("B"),
                gate.clone(),
                vec![(GateWaiting, "B", "", "GateClosed", None)],
            ),
            ("gate stays closed", gate.clone(), gate.clone(), vec![]),
            ("gate opens", gate, ok("B"), vec![]),
        ];
        let is_final = |p: &str| p == "Done";
        for (case, before, after, want) in cases {
            let got: Vec<Want> = changes(&before, &after, "A", is_final)
                .into_iter()
                .map(|c| {
                    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
                    (
                        c.event,
                        leak(c.phase),
                        leak(c.previous_phase),
                        leak(c.reason),
                        c.supersedes.map(leak),
                    )
                })
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }
}
