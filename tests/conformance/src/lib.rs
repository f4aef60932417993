//! The worker conformance suite (being written).
