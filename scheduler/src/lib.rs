//! The generic Autopilot scheduler
