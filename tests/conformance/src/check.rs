//! The outcome of each named check, and the report of a run.
use std::fmt;

/// One named check and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name, for example `happy-path`.
    pub name: String,
    /// `None` when it passed, else why it failed.
    pub failure: Option<String>,
}

impl Check {
    /// A check from the result of running it; a failure with a known cause gets a hint.
    pub fn from_result(name: &str, result: Result<(), String>) -> Self {
        Self {
            name: name.to_owned(),
            failure: result.err().map(|reason| match hint(&reason) {
                Some(hint) => format!("{reason}\n  hint: {hint}"),
                None => reason,
            }),
        }
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "PASS {}", self.name),
            Some(reason) => write!(f, "FAIL {}: {reason}", self.name),
        }
    }
}

/// What a failure's text says about its cause, when that is known to trip workers.
fn hint(reason: &str) -> Option<&'static str> {
    if reason.contains("Error deserializing request") {
        return Some(
            "the worker could not decode a SyncRequest. Generate its code from the same \
             worker.proto as the scheduler's (package autopilot.worker.v1), and make sure its \
             protobuf library accepts a map entry whose value is empty or absent: protobufjs 7 \
             (under @grpc/proto-loader) reads an absent value as null. The scheduler writes \
             every value, an empty ObjectList included.",
        );
    }
    None
}

/// Every check of a run, in the order they were run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(Check::passed)
    }

    /// `N passed, M failed`.
    pub fn summary(&self) -> String {
        let passed = self.checks.iter().filter(|c| c.passed()).count();
        format!(
            "conformance: {passed} passed, {} failed",
            self.checks.len() - passed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_the_worker_cannot_decode_gets_a_hint() {
        let failed = Check::from_result(
            "happy-path",
            Err("WorkerError: Internal: Error deserializing request".into()),
        );
        let text = failed.to_string();
        assert!(
            text.contains("hint: the worker could not decode a SyncRequest"),
            "{text}"
        );
        let other = Check::from_result("happy-path", Err("timed out".into()));
        assert_eq!(other.to_string(), "FAIL happy-path: timed out");
    }
}
