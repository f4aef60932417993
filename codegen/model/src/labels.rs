//! The labels the scheduler puts on every object it applies, shared with `ap`, which selects
//! on them.

/// Label naming the operator that manages an object.
pub const OPERATOR_LABEL: &str = "autopilot.dev/operator";
/// Label naming the UID of the resource that owns an object; pruning selects on it.
pub const OWNER_UID_LABEL: &str = "autopilot.dev/owner-uid";
