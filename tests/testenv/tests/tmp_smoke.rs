//! TEMPORARY harness: runs the e2e smoke test while autopilot-e2e cannot build.
#[path = "../../e2e/tests/controlplane.rs"]
mod smoke;
