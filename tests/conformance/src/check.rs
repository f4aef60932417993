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
    /// A check from the result of running it.
    pub fn from_result(name: &str, result: Result<(), String>) -> Self {
        Self {
            name: name.to_owned(),
            failure: result.err(),
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
