//! The condition types the scheduler owns: a worker may not set them, and the scheduler's
//! status and the reply check read them from here.

/// Condition type: the resource is in a final phase, or its last call succeeded.
pub const READY: &str = "Ready";
/// Condition type: the resource is moving through its phases.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: the last worker call (or applying its result) failed.
pub const WORKER_ERROR: &str = "WorkerError";
/// Condition type: every resource input of the phase could be read (False names the failures).
pub const INPUTS_AVAILABLE: &str = "InputsAvailable";
/// Condition type: every metric query of the phase succeeded (False names each failing query
/// as it was sent to Prometheus, and the error).
pub const METRICS_AVAILABLE: &str = "MetricsAvailable";
/// Condition type: the resource is held by `ap pause` (the `autopilot.dev/paused` annotation);
/// the message says who paused it and when.
pub const PAUSED: &str = "Paused";
/// Condition type: a gate of the current phase waits for `ap approve` (reason `GateClosed`:
/// the phase's worker is not called yet; `MoveHeld`: the phase's move to the next one waits).
pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
/// Condition type: `ap abort` was honoured (True, who asked) or could not be (False, reason
/// `NoAbortPhase`: the project declares no `abortPhase`).
pub const ABORTED: &str = "Aborted";

/// Every condition type the scheduler owns; a reply that sets one is refused.
pub const SCHEDULER_OWNED: &[&str] = &[
    READY,
    PROGRESSING,
    WORKER_ERROR,
    INPUTS_AVAILABLE,
    METRICS_AVAILABLE,
    PAUSED,
    AWAITING_APPROVAL,
    ABORTED,
];
