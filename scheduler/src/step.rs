//! The pure step function: given a resource's status and the outcome of one worker call, what
//! the next status is and when to look at the resource again. No I/O happens here.
use std::time::Duration;

use crate::status::{Condition, PROGRESSING, READY, Status, WORKER_ERROR};

/// The phases of an operator, reduced to what the step function needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseTable {
    /// The initial phase's name.
    pub initial: String,
    /// Every declared phase.
    pub phases: Vec<PhaseEntry>,
}

/// One phase in a [`PhaseTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseEntry {
    /// The phase's name.
    pub name: String,
    /// A final phase is never run.
    pub is_final: bool,
    /// The phases it may move to, when the project restricts them.
    pub next: Option<Vec<String>>,
}

/// Where a resource stands, read from its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position<'a> {
    /// The phase must be run by a worker.
    Run(&'a PhaseEntry),
    /// The resource rests in a final phase.
    Done(&'a PhaseEntry),
    /// The status names a phase the project does not declare (the project changed under it).
    Unknown(String),
}

impl PhaseTable {
    /// The entry of a phase by name.
    pub fn get(&self, name: &str) -> Option<&PhaseEntry> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// Reads the position from the status' phase; empty means the initial phase.
    pub fn position(&self, status_phase: &str) -> Position<'_> {
        let name = if status_phase.is_empty() {
            self.initial.as_str()
        } else {
            status_phase
        };
        match self.get(name) {
            Some(p) if p.is_final => Position::Done(p),
            Some(p) => Position::Run(p),
            None => Position::Unknown(name.to_string()),
        }
    }

    /// Checks a worker's requested transition. An empty `to` means stay.
    pub fn check_transition(&self, from: &str, to: &str) -> Result<(), String> {
        // The same rule the reply check applies (`autopilot_worker_client::reply`).
        autopilot_worker_client::reply::check_transition(
            from,
            to,
            self.phases.iter().map(|p| p.name.as_str()),
            self.get(from).and_then(|p| p.next.as_deref()),
        )
        .map_err(|refusal| refusal.to_string())
    }
}

/// When to look at the resource again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// After this delay.
    After(Duration),
    /// Only when the resource changes (final phase, or retries exhausted).
    OnChange,
}

/// The timing policy the step function applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Re-run interval of a non-final phase when the worker asks for nothing else.
    pub work_interval: Duration,
    /// First retry delay after a retryable failure.
    pub initial_backoff: Duration,
    /// Upper bound of the retry delay.
    pub max_backoff: Duration,
    /// Retry delay after a permanent failure.
    pub permanent_error_interval: Duration,
    /// Stop retrying after this many consecutive failures (0 = never stop).
    pub max_attempts: u32,
}

/// How a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A retryable gRPC code (or a transport failure); the worker may ask for a minimum delay.
    Retryable {
        /// Minimum delay the worker asked for.
        retry_after: Option<Duration>,
    },
    /// A permanent gRPC code, a response the scheduler refused, or an output the API server
    /// refused: retried slowly.
    Permanent,
}

/// The inputs of one step beside the status.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Now, RFC 3339, for condition transition times.
    pub now: &'a str,
    /// The resource's `metadata.generation`.
    pub generation: Option<i64>,
    /// A number in `[0, 1)` used to jitter delays (random in production, fixed in tests).
    pub jitter: f64,
}

/// The result of a step: the status to write and when to come back.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The status to write (after every output was applied).
    pub status: Status,
    /// When to reconcile again.
    pub requeue: Requeue,
    /// `Some((from, to))` when the phase changed.
    pub transition: Option<(String, String)>,
}

/// Spreads a delay over `[d, d * 1.2)` so resources created together do not move in lockstep.
fn jittered(d: Duration, jitter: f64) -> Duration {
    d.mul_f64(1.0 + 0.2 * jitter.clamp(0.0, 1.0))
}

/// Exponential backoff for the `failures`-th consecutive failure (1-based), bounded by `max`.
pub fn backoff(failures: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    jittered(base, jitter).min(max)
}

/// The status after a successful call of `from` whose worker asked to move to `to` (empty =
/// stay), with the worker's own status info and conditions already merged into `status`.
pub fn after_success(
    table: &PhaseTable,
    mut status: Status,
    from: &str,
    to: &str,
    requeue_after: Option<Duration>,
    policy: &Policy,
    facts: Facts<'_>,
) -> Step {
    let moving = !to.is_empty() && to != from;
    let generation = facts.generation;
    status.observed_generation = generation;
    status.failures = 0;
    status.set_condition(
        Condition::new(
            WORKER_ERROR,
            false,
            "CallSucceeded",
            format!("{from} succeeded"),
        ),
        facts.now,
        generation,
    );
    if !moving {
        status.phase = from.to_string();
        status.attempt = status.attempt.saturating_add(1);
        status.set_condition(
            Condition::new(PROGRESSING, true, "PhaseRunning", format!("running {from}")),
            facts.now,
            generation,
        );
        status.set_condition(
            Condition::new(READY, false, "InProgress", format!("in phase {from}")),
            facts.now,
            generation,
        );
        let delay = requeue_after.unwrap_or(policy.work_interval);
        return Step {
            status,
            requeue: Requeue::After(jittered(delay, facts.jitter)),
            transition: None,
        };
    }
    status.phase = to.to_string();
    status.attempt = 0;
    status.last_transition_time = Some(facts.now.to_string());
    let is_final = table.get(to).is_some_and(|p| p.is_final);
    let requeue = if is_final {
        status.set_condition(
            Condition::new(
                READY,
                true,
                "Completed",
                format!("reached final phase {to}"),
            ),
            facts.now,
            generation,
        );
        status.set_condition(
            Condition::new(
                PROGRESSING,
                false,
                "Completed",
                format!("reached final phase {to}"),
            ),
            facts.now,
            generation,
        );
        Requeue::OnChange
    } else {
        status.set_condition(
            Condition::new(READY, false, "InProgress", format!("in phase {to}")),
            facts.now,
            generation,
        );
        status.set_condition(
            Condition::new(
                PROGRESSING,
                true,
                "PhaseChanged",
                format!("moved from {from} to {to}"),
            ),
            facts.now,
            generation,
        );
        // The status write triggers a watch event that runs the next phase at once; this is
        // the safety net should that event be lost.
        Requeue::After(policy.work_interval)
    };
    Step {
        status,
        requeue,
        transition: Some((from.to_string(), to.to_string())),
    }
}

/// The status after a failed call of `phase`. `reason` is CamelCase (for example the gRPC code
/// name, or `UndeclaredOutput`); `message` says what happened.
pub fn after_failure(
    mut status: Status,
    phase: &str,
    failure: &Failure,
    reason: &str,
    message: &str,
    policy: &Policy,
    facts: Facts<'_>,
) -> Step {
    let generation = facts.generation;
    status.phase = phase.to_string();
    status.attempt = status.attempt.saturating_add(1);
    status.failures = status.failures.saturating_add(1);
    status.observed_generation = generation;
    status.set_condition(
        Condition::new(WORKER_ERROR, true, reason, message),
        facts.now,
        generation,
    );
    status.set_condition(
        Condition::new(READY, false, "WorkerError", format!("{phase}: {message}")),
        facts.now,
        generation,
    );
    let exhausted = policy.max_attempts > 0 && status.failures >= policy.max_attempts;
    let (progress_reason, requeue) = if exhausted {
        ("RetriesExhausted", Requeue::OnChange)
    } else {
        match failure {
            Failure::Retryable { retry_after } => {
                let d = backoff(
                    status.failures,
                    policy.initial_backoff,
                    policy.max_backoff,
                    facts.jitter,
                );
                (
                    "Retrying",
                    Requeue::After(retry_after.map_or(d, |r| r.max(d))),
                )
            }
            Failure::Permanent => (
                "Blocked",
                Requeue::After(jittered(policy.permanent_error_interval, facts.jitter)),
            ),
        }
    };
    status.set_condition(
        Condition::new(
            PROGRESSING,
            !exhausted,
            progress_reason,
            format!("{phase}: {message}"),
        ),
        facts.now,
        generation,
    );
    Step {
        status,
        requeue,
        transition: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PhaseTable {
        let p = |name: &str, is_final: bool, next: Option<&[&str]>| PhaseEntry {
            name: name.into(),
            is_final,
            next: next.map(|n| n.iter().map(|s| s.to_string()).collect()),
        };
        PhaseTable {
            initial: "Initializing".into(),
            phases: vec![
                p("Initializing", false, None),
                p("Processing", false, Some(&["Finished", "Failed"])),
                p("Finished", true, None),
                p("Failed", true, None),
            ],
        }
    }

    const POLICY: Policy = Policy {
        work_interval: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(30),
        permanent_error_interval: Duration::from_secs(300),
        max_attempts: 0,
    };

    fn facts() -> Facts<'static> {
        Facts {
            now: "2026-01-01T00:00:00Z",
            generation: Some(3),
            jitter: 0.0,
        }
    }

    #[test]
    fn position_reads_the_status_phase() {
        let t = table();
        let cases = [
            ("", Some("Initializing"), false),
            ("Processing", Some("Processing"), false),
            ("Finished", Some("Finished"), true),
        ];
        for (phase, want, done) in cases {
            match t.position(phase) {
                Position::Run(p) => assert!(!done && Some(p.name.as_str()) == want, "{phase}"),
                Position::Done(p) => assert!(done && Some(p.name.as_str()) == want, "{phase}"),
                Position::Unknown(n) => panic!("{phase}: unknown {n}"),
            }
        }
        assert_eq!(t.position("Gone"), Position::Unknown("Gone".into()));
    }

    #[test]
    fn transitions_are_checked() {
        let t = table();
        let cases: &[(&str, &str, Result<(), &str>)] = &[
            ("Initializing", "", Ok(())),
            ("Initializing", "Initializing", Ok(())),
            ("Initializing", "Processing", Ok(())),
            ("Initializing", "Finished", Ok(())),
            (
                "Initializing",
                "Nowhere",
                Err("next phase \"Nowhere\" is not declared"),
            ),
            ("Processing", "Finished", Ok(())),
            (
                "Processing",
                "Initializing",
                Err("phase Processing may not move to Initializing"),
            ),
        ];
        for (from, to, want) in cases {
            let got = t.check_transition(from, to);
            match want {
                Ok(()) => assert!(got.is_ok(), "{from}->{to}: {got:?}"),
                Err(prefix) => assert!(got.unwrap_err().starts_with(prefix), "{from}->{to}"),
            }
        }
    }

    #[test]
    fn success_table() {
        let t = table();
        // (from, to, requeue_after, want phase, want attempt, want requeue, want Ready)
        let cases = [
            (
                "Initializing",
                "",
                None,
                "Initializing",
                3,
                Requeue::After(Duration::from_secs(5)),
                "False",
            ),
            (
                "Initializing",
                "",
                Some(Duration::from_secs(1)),
                "Initializing",
                3,
                Requeue::After(Duration::from_secs(1)),
                "False",
            ),
            (
                "Initializing",
                "Processing",
                None,
                "Processing",
                0,
                Requeue::After(Duration::from_secs(5)),
                "False",
            ),
            (
                "Processing",
                "Finished",
                Some(Duration::from_secs(1)),
                "Finished",
                0,
                Requeue::OnChange,
                "True",
            ),
        ];
        for (from, to, after, phase, attempt, requeue, ready) in cases {
            let prev = Status {
                phase: from.into(),
                attempt: 2,
                failures: 4,
                ..Default::default()
            };
            let step = after_success(&t, prev, from, to, after, &POLICY, facts());
            assert_eq!(step.status.phase, phase, "{from}->{to}");
            assert_eq!(step.status.attempt, attempt, "{from}->{to}");
            assert_eq!(step.status.failures, 0, "{from}->{to}");
            assert_eq!(step.requeue, requeue, "{from}->{to}");
            assert_eq!(step.status.observed_generation, Some(3));
            assert_eq!(
                step.status.condition(READY).unwrap().status,
                ready,
                "{from}->{to}"
            );
            assert_eq!(step.status.condition(WORKER_ERROR).unwrap().status, "False");
            assert_eq!(step.transition.is_some(), !to.is_empty(), "{from}->{to}");
        }
    }

    #[test]
    fn failure_table() {
        let retry = Failure::Retryable { retry_after: None };
        let hinted = Failure::Retryable {
            retry_after: Some(Duration::from_secs(10)),
        };
        let exhausting = Policy {
            max_attempts: 3,
            ..POLICY
        };
        // (previous failures, failure, policy, want requeue, want Progressing status)
        let cases = [
            (
                0,
                &retry,
                POLICY,
                Requeue::After(Duration::from_millis(200)),
                "True",
            ),
            (
                1,
                &retry,
                POLICY,
                Requeue::After(Duration::from_millis(400)),
                "True",
            ),
            (
                3,
                &retry,
                POLICY,
                Requeue::After(Duration::from_millis(1600)),
                "True",
            ),
            (
                20,
                &retry,
                POLICY,
                Requeue::After(Duration::from_secs(30)),
                "True",
            ),
            (
                0,
                &hinted,
                POLICY,
                Requeue::After(Duration::from_secs(10)),
                "True",
            ),
            (
                0,
                &Failure::Permanent,
                POLICY,
                Requeue::After(Duration::from_secs(300)),
                "True",
            ),
            (2, &retry, exhausting, Requeue::OnChange, "False"),
        ];
        for (failures, failure, policy, want, progressing) in cases {
            let prev = Status {
                phase: "Processing".into(),
                attempt: 7,
                failures,
                ..Default::default()
            };
            let step = after_failure(
                prev,
                "Processing",
                failure,
                "Unavailable",
                "down",
                &policy,
                facts(),
            );
            assert_eq!(step.requeue, want, "failures={failures} {failure:?}");
            assert_eq!(step.status.attempt, 8);
            assert_eq!(step.status.failures, failures + 1);
            let err = step.status.condition(WORKER_ERROR).unwrap();
            assert_eq!(
                (err.status.as_str(), err.reason.as_str()),
                ("True", "Unavailable")
            );
            assert_eq!(
                step.status.condition(PROGRESSING).unwrap().status,
                progressing
            );
            assert_eq!(step.status.phase, "Processing");
        }
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(backoff(1, i, m, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(2, i, m, 0.5), Duration::from_millis(220));
        assert_eq!(backoff(64, i, m, 0.99), m);
    }
}
