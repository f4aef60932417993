//! The Rust SDK for Autopilot workers
