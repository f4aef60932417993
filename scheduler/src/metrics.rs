//! Prometheus metrics of the scheduler, served on `/metrics` in the text format.
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    phase: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    source: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    receiver: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    from: String,
    to: String,
}

/// Buckets from 100µs to ~52s: a loopback worker answers in well under a millisecond, a
/// Prometheus-reading phase in tens of milliseconds, a stuck one at its deadline.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// The scheduler's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_seconds: Histogram,
    worker_calls: Family<CallLabels, Counter>,
    worker_call_seconds: Family<CallLabels, Histogram>,
    in_flight: Family<PhaseLabels, Gauge<i64, AtomicI64>>,
    transitions: Family<TransitionLabels, Counter>,
    resources: Family<PhaseLabels, Gauge<i64, AtomicI64>>,
    leader: Gauge<i64, AtomicI64>,
    reconciles_in_flight: Gauge<i64, AtomicI64>,
    input_triggers: Counter,
    events: Family<EventLabels, Counter>,
    events_dropped: Family<SourceLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("autopilot");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by result (success or error)",
            reconciles.clone(),
        );
        let reconcile_seconds = latency_histogram();
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_seconds.clone(),
        );
        let worker_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "worker_calls",
            "Worker calls by phase and gRPC code",
            worker_calls.clone(),
        );
        let worker_call_seconds = Family::<CallLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "worker_call_duration_seconds",
            "Worker call latency by phase and gRPC code",
            worker_call_seconds.clone(),
        );
        let in_flight = Family::<PhaseLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "worker_calls_in_flight",
            "Worker calls awaiting an answer",
            in_flight.clone(),
        );
        let transitions = Family::<TransitionLabels, Counter>::default();
        registry.register(
            "phase_transitions",
            "Phase transitions by from and to phase",
            transitions.clone(),
        );
        let resources = Family::<PhaseLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "resources",
            "Resources known to the scheduler by phase",
            resources.clone(),
        );
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "leader",
            "1 when this replica holds the leader lease",
            leader.clone(),
        );
        let reconciles_in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now (the work queue's active part)",
            reconciles_in_flight.clone(),
        );
        let input_triggers = Counter::default();
        registry.register(
            "input_triggers",
            "Reconciles requested because an object a resource reads as input changed",
            input_triggers.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "events",
            "External events received, by declared source (or the endpoint when none matched) \
             and outcome: stored, duplicate, unmatched, no_resource, unrouted, rejected, failed",
            events.clone(),
        );
        let events_dropped = Family::<SourceLabels, Counter>::default();
        registry.register(
            "events_dropped",
            "Stored external events removed by retention before a phase consumed them",
            events_dropped.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notifications by receiver and outcome: delivered, retried (an attempt failed and \
             will be repeated), failed (given up), dropped (the receiver's queue was full)",
            notifications.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_seconds,
            worker_calls,
            worker_call_seconds,
            in_flight,
            transitions,
            resources,
            leader,
            reconciles_in_flight,
            input_triggers,
            events,
            events_dropped,
            notifications,
        }
    }
}

impl Metrics {
    /// Records a finished reconcile.
    pub fn observe_reconcile(&self, took: Duration, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
        self.reconcile_seconds.observe(took.as_secs_f64());
    }

    /// Records a finished worker call.
    pub fn worker_call(&self, phase: &str, code: &str, took: Duration) {
        let labels = CallLabels {
            phase: phase.to_string(),
            code: code.to_string(),
        };
        self.worker_calls.get_or_create(&labels).inc();
        self.worker_call_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Adjusts the in-flight gauge of a phase.
    pub fn in_flight(&self, phase: &str, delta: i64) {
        self.in_flight
            .get_or_create(&PhaseLabels {
                phase: phase.to_string(),
            })
            .inc_by(delta);
    }

    /// Counts a notification's `outcome` at `receiver` (see [`crate::notify`]).
    pub fn notification(&self, receiver: &str, outcome: &'static str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                receiver: receiver.to_string(),
                outcome,
            })
            .inc();
    }

    /// Records a phase transition.
    pub fn transition(&self, from: &str, to: &str) {
        self.transitions
            .get_or_create(&TransitionLabels {
                from: from.to_string(),
                to: to.to_string(),
            })
            .inc();
    }

    /// Sets the number of resources in each phase.
    pub fn set_resources(&self, counts: &std::collections::BTreeMap<String, i64>) {
        self.resources.clear();
        for (phase, n) in counts {
            self.resources
                .get_or_create(&PhaseLabels {
                    phase: phase.clone(),
                })
                .set(*n);
        }
    }

    /// Adjusts the number of reconciles running.
    pub fn reconciles_in_flight(&self, delta: i64) {
        self.reconciles_in_flight.inc_by(delta);
    }

    /// Counts an external event received, by source and outcome.
    pub fn event(&self, source: &str, outcome: &'static str) {
        self.events
            .get_or_create(&EventLabels {
                source: source.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts a stored event dropped by retention before it was consumed.
    pub fn event_dropped(&self, source: &str) {
        self.events_dropped
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    /// Counts a reconcile requested by an input change.
    pub fn input_trigger(&self) {
        self.input_triggers.inc();
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_conventional_names() {
        let m = Metrics::default();
        m.observe_reconcile(Duration::from_millis(3), true);
        m.worker_call("Processing", "OK", Duration::from_micros(300));
        m.transition("Initializing", "Processing");
        m.in_flight("Processing", 1);
        let text = m.encode();
        for want in [
            "autopilot_reconciles_total{result=\"success\"} 1",
            "autopilot_worker_calls_total{phase=\"Processing\",code=\"OK\"} 1",
            "autopilot_worker_call_duration_seconds_bucket{le=\"0.0004\",phase=\"Processing\",code=\"OK\"} 1",
            "autopilot_phase_transitions_total{from=\"Initializing\",to=\"Processing\"} 1",
            "autopilot_worker_calls_in_flight{phase=\"Processing\"} 1",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
