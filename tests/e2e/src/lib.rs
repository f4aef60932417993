//! Integration and end-to-end tests of Autopilot against a real control plane
