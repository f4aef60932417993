//! The analysis as pure functions: when a check is due, what a check's readings mean, and the
//! step that follows. No I/O and no clock: the caller passes `now`.
use std::time::{Duration, SystemTime};

use crate::model::{Info, NoData, Spec};

/// One query's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// A number.
    Value(f64),
    /// The query returned no samples.
    NoData,
    /// The query returned NaN (such as a ratio of two zero rates).
    NaN,
    /// The query could not be run.
    Error(String),
}

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Within every threshold (or no data under `noData: pass`).
    Healthy(String),
    /// A threshold was crossed, a query failed, or no data under `noData: fail`.
    Unhealthy(String),
    /// No data under `noData: hold`: neither a step nor a failure.
    Hold(String),
}

/// What follows a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Healthy below `maxWeight`: route `weight` percent to the canary.
    Advance {
        /// The new canary weight.
        weight: u32,
    },
    /// Healthy at `maxWeight`: promote.
    Promote,
    /// No data, held.
    Hold,
    /// Unhealthy, below the failure limit.
    Failed {
        /// Failed checks so far.
        failed_checks: u32,
    },
    /// Unhealthy, at the failure limit: roll back.
    RollBack {
        /// Failed checks so far.
        failed_checks: u32,
    },
}

/// What `spec.suspend` and `spec.skipAnalysis` make of a release, given the last handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Analyse as usual; `resumed` when the last handling found the release suspended.
    Analyse {
        /// The release was suspended until now.
        resumed: bool,
    },
    /// Promote without checks; `resumed` as for [`Gate::Analyse`].
    Skip {
        /// The release was suspended until now.
        resumed: bool,
    },
    /// Suspended: no check, no step, no new revision started; `started` when it was not
    /// suspended at the last handling.
    Suspend {
        /// The suspension starts now.
        started: bool,
    },
}

/// The gate of a release: `suspend` wins over `skipAnalysis`.
pub fn gate(spec: &Spec, info: &Info) -> Gate {
    let was_suspended = info.suspended;
    if spec.suspend {
        Gate::Suspend {
            started: !was_suspended,
        }
    } else if spec.skip_analysis {
        Gate::Skip {
            resumed: was_suspended,
        }
    } else {
        Gate::Analyse {
            resumed: was_suspended,
        }
    }
}

/// The weight an analysis starts at: one step (a canary without traffic cannot be measured).
pub fn first_weight(spec: &Spec) -> u32 {
    spec.step_weight.min(spec.max_weight)
}

/// Whether `target_revision` is one the operator has not seen: neither what the primary serves
/// nor the revision last analysed (a rolled-back revision is not retried until it changes).
pub fn is_new_revision(target_revision: &str, info: &Info) -> bool {
    target_revision != info.primary_revision && target_revision != info.canary_revision
}

/// `None` when a check is due at `now`, else how long until it is.
pub fn until_due(
    last_check: Option<&str>,
    interval: Duration,
    now: SystemTime,
) -> Option<Duration> {
    let last = last_check.and_then(|t| humantime::parse_rfc3339_weak(t).ok())?;
    let due = last + interval;
    due.duration_since(now).ok().filter(|d| !d.is_zero())
}

/// Judges one check's readings against the spec's thresholds and no-data policy.
pub fn judge(spec: &Spec, success_rate: &Reading, latency_p99_ms: &Reading) -> Verdict {
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for (name, reading) in [
        ("success rate", success_rate),
        ("p99 latency", latency_p99_ms),
    ] {
        match reading {
            Reading::Error(e) => problems.push(format!("{name} query failed: {e}")),
            Reading::NoData => missing.push(format!("{name}: no data")),
            Reading::NaN => missing.push(format!("{name}: NaN")),
            Reading::Value(_) => {}
        }
    }
    if let Reading::Value(rate) = success_rate
        && *rate < spec.success_threshold
    {
        problems.push(format!(
            "success rate {rate:.3} below {}",
            spec.success_threshold
        ));
    }
    if let Reading::Value(p99) = latency_p99_ms
        && *p99 > spec.max_latency_ms
    {
        problems.push(format!(
            "p99 latency {p99:.0} ms above {} ms",
            spec.max_latency_ms
        ));
    }
    if !problems.is_empty() {
        return Verdict::Unhealthy(problems.join("; "));
    }
    let summary = describe(success_rate, latency_p99_ms);
    if missing.is_empty() {
        return Verdict::Healthy(summary);
    }
    let missing = missing.join(", ");
    match spec.no_data {
        NoData::Fail => Verdict::Unhealthy(format!("{missing} (noData: fail)")),
        NoData::Hold => Verdict::Hold(format!("{missing} (noData: hold)")),
        NoData::Pass => Verdict::Healthy(format!("{summary}; {missing} (noData: pass)")),
    }
}

fn describe(success_rate: &Reading, latency_p99_ms: &Reading) -> String {
    let rate = match success_rate {
        Reading::Value(v) => format!("{v:.3}"),
        _ => "-".into(),
    };
    let p99 = match latency_p99_ms {
        Reading::Value(v) => format!("{v:.0} ms"),
        _ => "-".into(),
    };
    format!("success rate {rate}, p99 {p99}")
}

/// The step after a check with `verdict`, given the analysis so far.
pub fn step(spec: &Spec, info: &Info, verdict: &Verdict) -> Step {
    match verdict {
        Verdict::Healthy(_) if info.current_weight >= spec.max_weight => Step::Promote,
        Verdict::Healthy(_) => Step::Advance {
            weight: (info.current_weight + spec.step_weight).min(spec.max_weight),
        },
        Verdict::Hold(_) => Step::Hold,
        Verdict::Unhealthy(_) => {
            let failed_checks = info.failed_checks + 1;
            if failed_checks >= spec.failure_limit {
                Step::RollBack { failed_checks }
            } else {
                Step::Failed { failed_checks }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(no_data: NoData) -> Spec {
        Spec {
            target_ref: "web".into(),
            success_threshold: 0.99,
            max_latency_ms: 100.0,
            step_weight: 20,
            max_weight: 50,
            failure_limit: 2,
            no_data,
            ..Spec::default()
        }
    }

    #[test]
    fn judging_readings() {
        use Reading::{Error, NaN, Value};
        let none = || Reading::NoData;
        let cases: &[(NoData, Reading, Reading, &str)] = &[
            (NoData::Hold, Value(1.0), Value(20.0), "healthy"),
            (NoData::Hold, Value(0.99), Value(100.0), "healthy"),
            (NoData::Hold, Value(0.8), Value(20.0), "unhealthy"),
            (NoData::Hold, Value(1.0), Value(900.0), "unhealthy"),
            (NoData::Hold, Error("down".into()), Value(1.0), "unhealthy"),
            (NoData::Hold, none(), none(), "hold"),
            (NoData::Hold, NaN, Value(1.0), "hold"),
            (NoData::Fail, none(), none(), "unhealthy"),
            (NoData::Pass, none(), NaN, "healthy"),
            // A crossed threshold wins over a missing value whatever the policy.
            (NoData::Pass, Value(0.5), none(), "unhealthy"),
        ];
        for (policy, rate, p99, want) in cases {
            let got = match judge(&spec(*policy), rate, p99) {
                Verdict::Healthy(_) => "healthy",
                Verdict::Unhealthy(_) => "unhealthy",
                Verdict::Hold(_) => "hold",
            };
            assert_eq!(got, *want, "{policy:?} {rate:?} {p99:?}");
        }
    }

    #[test]
    fn steps() {
        let healthy = Verdict::Healthy(String::new());
        let unhealthy = Verdict::Unhealthy(String::new());
        let hold = Verdict::Hold(String::new());
        let at = |weight, failed| Info {
            current_weight: weight,
            failed_checks: failed,
            ..Info::default()
        };
        let s = spec(NoData::Hold);
        assert_eq!(step(&s, &at(20, 0), &healthy), Step::Advance { weight: 40 });
        assert_eq!(step(&s, &at(40, 0), &healthy), Step::Advance { weight: 50 });
        assert_eq!(step(&s, &at(50, 1), &healthy), Step::Promote);
        assert_eq!(step(&s, &at(40, 0), &hold), Step::Hold);
        assert_eq!(
            step(&s, &at(40, 0), &unhealthy),
            Step::Failed { failed_checks: 1 }
        );
        assert_eq!(
            step(&s, &at(40, 1), &unhealthy),
            Step::RollBack { failed_checks: 2 }
        );
        assert_eq!(first_weight(&s), 20);
    }

    #[test]
    fn gates() {
        let cases: &[(bool, bool, bool, Gate)] = &[
            // (spec.suspend, spec.skipAnalysis, info.suspended, gate)
            (false, false, false, Gate::Analyse { resumed: false }),
            (false, false, true, Gate::Analyse { resumed: true }),
            (false, true, false, Gate::Skip { resumed: false }),
            (false, true, true, Gate::Skip { resumed: true }),
            (true, false, false, Gate::Suspend { started: true }),
            (true, false, true, Gate::Suspend { started: false }),
            // Suspension wins over skipping the analysis.
            (true, true, false, Gate::Suspend { started: true }),
            (true, true, true, Gate::Suspend { started: false }),
        ];
        for (suspend, skip_analysis, suspended, want) in cases {
            let spec = Spec {
                suspend: *suspend,
                skip_analysis: *skip_analysis,
                ..spec(NoData::Hold)
            };
            let info = Info {
                suspended: *suspended,
                ..Info::default()
            };
            assert_eq!(
                gate(&spec, &info),
                *want,
                "suspend {suspend}, skipAnalysis {skip_analysis}, was suspended {suspended}"
            );
        }
    }

    #[test]
    fn due_after_an_interval() {
        let last = "2026-01-01T00:00:00Z";
        let t0 = humantime::parse_rfc3339(last).unwrap();
        let interval = Duration::from_secs(10);
        assert_eq!(until_due(None, interval, t0), None);
        assert_eq!(
            until_due(Some(last), interval, t0 + Duration::from_secs(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(until_due(Some(last), interval, t0 + interval), None);
        assert_eq!(until_due(Some(last), interval, t0 + interval * 3), None);
    }

    #[test]
    fn new_revisions() {
        let info = Info {
            primary_revision: "p".into(),
            canary_revision: "rolled-back".into(),
            ..Info::default()
        };
        assert!(is_new_revision("q", &info));
        assert!(!is_new_revision("p", &info));
        assert!(!is_new_revision("rolled-back", &info));
    }
}
