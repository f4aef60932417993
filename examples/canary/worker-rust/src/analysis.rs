//! The analysis as pure functions: when a check is due, what a check's readings mean, and the
//! step that follows. No I/O and no clock: the caller passes `now`.
use std::time::{Duration, SystemTime};

use crate::model::{Checks, Info, NoData, Spec, Strategy};

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

/// What the canary's spans say (the trace check).
#[derive(Debug, Clone, PartialEq)]
pub enum SpanReading {
    /// Spans were found.
    Spans {
        /// The operation with the highest error-span ratio, and that ratio (0 without errors).
        worst: (String, f64),
        /// The operation with the highest p99 duration, and that p99 in milliseconds.
        slowest: (String, f64),
    },
    /// The search found no span of the canary.
    NoData,
    /// The search could not be run (Jaeger down): treated like no data, under the policy.
    Unavailable(String),
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
    /// Healthy, not yet promoted: route `weight` percent to the canary (0 while mirroring
    /// and under `abTesting` and `blueGreen`, whose traffic is not a weight).
    Advance {
        /// The new canary weight.
        weight: u32,
    },
    /// Healthy at `maxWeight` (`canary`) or after `iterations` checks: promote.
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

/// Judges one check's metric readings against the spec's thresholds and no-data policy.
pub fn judge(spec: &Spec, success_rate: &Reading, latency_p99_ms: &Reading) -> Verdict {
    judge_check(spec, Some((success_rate, latency_p99_ms)), None)
}

/// The operation the trace check blames: the worst one above `maxSpanErrorRatio`, else the
/// slowest one above `maxLatencyMs`.
pub fn failing_operation(spec: &Spec, spans: &SpanReading) -> Option<String> {
    match spans {
        SpanReading::Spans { worst, .. } if worst.1 > spec.max_span_error_ratio => {
            Some(worst.0.clone())
        }
        SpanReading::Spans { slowest, .. } if slowest.1 > spec.max_latency_ms => {
            Some(slowest.0.clone())
        }
        _ => None,
    }
}

/// Judges one check against the spec's thresholds and no-data policy: the metric readings
/// (success rate, p99) when `spec.checks` includes metrics, the span reading when it includes
/// traces.
pub fn judge_check(
    spec: &Spec,
    metrics: Option<(&Reading, &Reading)>,
    spans: Option<&SpanReading>,
) -> Verdict {
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    let mut summary = Vec::new();
    if let Some((success_rate, latency_p99_ms)) = metrics.filter(|_| spec.checks != Checks::Traces)
    {
        judge_metrics(
            spec,
            success_rate,
            latency_p99_ms,
            &mut problems,
            &mut missing,
        );
        summary.push(describe(success_rate, latency_p99_ms));
    }
    if let Some(spans) = spans.filter(|_| spec.checks != Checks::Metrics) {
        match spans {
            SpanReading::NoData => missing.push("spans: no data".to_string()),
            SpanReading::Unavailable(e) => missing.push(format!("spans: unavailable ({e})")),
            SpanReading::Spans { worst, slowest } => {
                if worst.1 > spec.max_span_error_ratio {
                    problems.push(format!(
                        "span error ratio {:.3} of operation {:?} above {}",
                        worst.1, worst.0, spec.max_span_error_ratio
                    ));
                }
                if slowest.1 > spec.max_latency_ms {
                    problems.push(format!(
                        "span p99 {:.0} ms of operation {:?} above {} ms",
                        slowest.1, slowest.0, spec.max_latency_ms
                    ));
                }
                summary.push(format!(
                    "span errors {:.3} at worst ({}), span p99 {:.0} ms at worst ({})",
                    worst.1, worst.0, slowest.1, slowest.0
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Verdict::Unhealthy(problems.join("; "));
    }
    let summary = summary.join("; ");
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

fn judge_metrics(
    spec: &Spec,
    success_rate: &Reading,
    latency_p99_ms: &Reading,
    problems: &mut Vec<String>,
    missing: &mut Vec<String>,
) {
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

/// The step after a check with `verdict`, given the analysis so far (`info` before the check).
///
/// A healthy check under mirroring keeps the canary at weight 0; after the last of
/// `spec.mirror.iterations` the strategy's own traffic starts (the first weight step for
/// `canary`). Past the mirror, `canary` steps its weight and promotes one healthy check after
/// `maxWeight`; `abTesting` and `blueGreen` promote after `iterations` healthy checks.
pub fn step(spec: &Spec, info: &Info, verdict: &Verdict) -> Step {
    match verdict {
        Verdict::Healthy(_) => healthy_step(spec, info),
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

fn healthy_step(spec: &Spec, info: &Info) -> Step {
    let passed = info.passed_checks + 1;
    let mirrored = spec.mirror.map_or(0, |m| m.iterations);
    if passed <= mirrored {
        let weight = if passed == mirrored && spec.strategy == Strategy::Canary {
            first_weight(spec)
        } else {
            0
        };
        return Step::Advance { weight };
    }
    match spec.strategy {
        Strategy::Canary if info.current_weight >= spec.max_weight => Step::Promote,
        Strategy::Canary => Step::Advance {
            weight: (info.current_weight + spec.step_weight).min(spec.max_weight),
        },
        Strategy::AbTesting | Strategy::BlueGreen if passed - mirrored >= spec.iterations => {
            Step::Promote
        }
        Strategy::AbTesting | Strategy::BlueGreen => Step::Advance { weight: 0 },
    }
}

/// The canary weight a new analysis starts at: one step for `canary` (a canary without traffic
/// cannot be measured), 0 for the other strategies and while mirroring.
pub fn start_weight(spec: &Spec) -> u32 {
    if spec.strategy == Strategy::Canary && spec.mirror.is_none() {
        first_weight(spec)
    } else {
        0
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
    fn judging_spans() {
        let spans = |worst: f64, p99: f64| SpanReading::Spans {
            worst: ("charge-payment".into(), worst),
            slowest: ("GET /checkout".into(), p99),
        };
        let ok = Reading::Value(1.0);
        let fast = Reading::Value(10.0);
        let with = |checks, no_data| Spec {
            checks,
            max_span_error_ratio: 0.05,
            ..spec(no_data)
        };
        let kind = |v: Verdict| match v {
            Verdict::Healthy(_) => "healthy",
            Verdict::Unhealthy(_) => "unhealthy",
            Verdict::Hold(_) => "hold",
        };
        let cases: &[(Checks, NoData, SpanReading, &str)] = &[
            (Checks::Both, NoData::Hold, spans(0.0, 20.0), "healthy"),
            (Checks::Both, NoData::Hold, spans(0.05, 20.0), "healthy"),
            (Checks::Both, NoData::Hold, spans(0.25, 20.0), "unhealthy"),
            (Checks::Traces, NoData::Hold, spans(0.0, 900.0), "unhealthy"),
            // Metrics only: the spans are not read.
            (Checks::Metrics, NoData::Hold, spans(0.9, 900.0), "healthy"),
            // Jaeger down or no spans: the no-data policy decides.
            (
                Checks::Both,
                NoData::Hold,
                SpanReading::Unavailable("down".into()),
                "hold",
            ),
            (Checks::Both, NoData::Fail, SpanReading::NoData, "unhealthy"),
            (Checks::Traces, NoData::Pass, SpanReading::NoData, "healthy"),
        ];
        for (checks, policy, reading, want) in cases {
            let got = kind(judge_check(
                &with(*checks, *policy),
                Some((&ok, &fast)),
                Some(reading),
            ));
            assert_eq!(got, *want, "{checks:?} {policy:?} {reading:?}");
        }
        // Traces only: failing metrics do not count.
        let bad = Reading::Value(0.1);
        let v = judge_check(
            &with(Checks::Traces, NoData::Hold),
            Some((&bad, &fast)),
            Some(&spans(0.0, 1.0)),
        );
        assert_eq!(kind(v), "healthy");
        match judge_check(
            &with(Checks::Both, NoData::Hold),
            Some((&ok, &fast)),
            Some(&spans(0.25, 20.0)),
        ) {
            Verdict::Unhealthy(m) => assert_eq!(
                m,
                r#"span error ratio 0.250 of operation "charge-payment" above 0.05"#
            ),
            other => panic!("{other:?}"),
        }
        let s = with(Checks::Both, NoData::Hold);
        assert_eq!(
            failing_operation(&s, &spans(0.25, 20.0)).as_deref(),
            Some("charge-payment")
        );
        assert_eq!(
            failing_operation(&s, &spans(0.0, 900.0)).as_deref(),
            Some("GET /checkout")
        );
        assert_eq!(failing_operation(&s, &spans(0.0, 20.0)), None);
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
