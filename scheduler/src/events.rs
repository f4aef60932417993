//! Publishing Kubernetes Events (`events.k8s.io/v1`) off the reconcile path, with bounded memory.
//!
//! A reconcile hands its Event to [`Events::publish`], which only queues it: a background task
//! creates the Events through the API, a few at a time, so a reconcile never waits for an Event
//! write. The queue is bounded; when it is full, `publish` waits for room (backpressure) rather
//! than holding more.
//!
//! Repeats of the same Event (same resource, type, reason and action within [`SERIES_TTL`]) are
//! folded into one Event whose `series.count` grows, as `kubectl describe` expects. Only the
//! last [`SERIES_CAPACITY`] distinct Events that may repeat are remembered for that, in a small
//! least-recently-used cache holding names and counts, never whole Events. Events that never
//! repeat for one resource (a phase change) skip the cache altogether.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::{Notify, Semaphore, mpsc};
use tracing::warn;

/// Events waiting to be written; `publish` waits when this many are queued.
pub const QUEUE_CAPACITY: usize = 1024;
/// Event writes in flight at once.
pub const PARALLEL_WRITES: usize = 8;
/// Distinct repeatable Events remembered for series aggregation.
pub const SERIES_CAPACITY: usize = 512;
/// A repeat later than this after the last one starts a new Event.
pub const SERIES_TTL: Duration = Duration::from_secs(6 * 60);
/// The API server's limits on `reason` (characters) and `note` (bytes).
const REASON_MAX: usize = 128;
const NOTE_MAX_BYTES: usize = 1024;

/// Who writes the Events (`reportingController`, `reportingInstance`).
#[derive(Debug, Clone)]
pub struct Reporter {
    /// The controller name, e.g. `autopilot-canary`.
    pub controller: String,
    /// This replica; the controller name when unknown.
    pub instance: Option<String>,
}

/// One Event to publish.
#[derive(Debug, Clone)]
pub struct Event {
    /// `Warning` when true, `Normal` otherwise.
    pub warning: bool,
    /// Machine-readable reason (truncated to 128 characters).
    pub reason: String,
    /// Human-readable note (truncated to 1 KiB).
    pub note: String,
    /// What was done (the Event's `action`).
    pub action: String,
    /// Whether repeats may be folded into a series. False for Events that never repeat for
    /// one resource (each is created on its own and not remembered).
    pub aggregate: bool,
}

/// Queues Events for a background writer. Cheap to share; must be created inside a Tokio
/// runtime.
#[derive(Debug, Clone)]
pub struct Events {
    tx: mpsc::Sender<(Event, ObjectReference)>,
    pending: Arc<Pending>,
    /// The writer's task until a supervisor takes it ([`Events::writer_task`]).
    writer: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

#[derive(Debug, Default)]
struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

impl Pending {
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

impl Events {
    /// Starts the background writer.
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let pending = Arc::new(Pending::default());
        let writer = Writer {
            client,
            reporter,
            series: Arc::new(Mutex::new(SeriesCache::new(SERIES_CAPACITY, SERIES_TTL))),
            names: Arc::new(AtomicU64::new(0)),
            pending: pending.clone(),
        };
        let task = tokio::spawn(writer.run(rx));
        Events {
            tx,
            pending,
            writer: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// The background writer's task, for a supervisor to watch; `None` once taken.
    pub fn writer_task(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.writer.lock().expect("writer lock").take()
    }

    /// Queues an Event about `regarding`. Waits only while the queue is full. Events are best
    /// effort: a failed write is logged, never returned.
    pub async fn publish(&self, event: Event, regarding: ObjectReference) {
        self.pending.count.fetch_add(1, Ordering::AcqRel);
        if self.tx.send((event, regarding)).await.is_err() {
            self.pending.done();
            warn!("event writer stopped; event dropped");
        }
    }

    /// Waits until every queued Event was written (or failed), at most `timeout`. Returns
    /// whether the queue drained.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let idle = self.pending.idle.notified();
            if self.pending.count.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.pending.count.load(Ordering::Acquire) == 0;
            }
        }
    }

    /// Events queued or being written.
    pub fn pending(&self) -> usize {
        self.pending.count.load(Ordering::Acquire)
    }
}

struct Writer {
    client: kube::Client,
    reporter: Reporter,
    series: Arc<Mutex<SeriesCache>>,
    /// The last name suffix used: names are unique within the process even when two Events
    /// about one resource are created within the same nanosecond.
    names: Arc<AtomicU64>,
    pending: Arc<Pending>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<(Event, ObjectReference)>) {
        let permits = Arc::new(Semaphore::new(PARALLEL_WRITES));
        let this = Arc::new(self);
        while let Some((event, regarding)) = rx.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let this = this.clone();
            tokio::spawn(async move {
                this.write(event, regarding).await;
                this.pending.done();
                drop(permit);
            });
        }
    }

    fn unique_name(&self, regarding: &ObjectReference, now: Timestamp) -> String {
        let nanos = u64::try_from(now.as_nanosecond()).unwrap_or_default();
        let prev = self
            .names
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                Some(nanos.max(last + 1))
            })
            .unwrap_or_default();
        let suffix = nanos.max(prev + 1);
        let base = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        format!("{base}.{suffix:x}")
    }

    async fn write(&self, event: Event, regarding: ObjectReference) {
        let now = Timestamp::now();
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let key = event.aggregate.then(|| SeriesKey::new(&event, &regarding));
        let repeat = key.as_ref().and_then(|k| {
            self.series
                .lock()
                .expect("series lock")
                .observe(k, now.into())
        });
        if let Some((name, count)) = repeat {
            let patch = serde_json::json!({
                "series": EventSeries { count, last_observed_time: MicroTime(now) },
            });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    crate::api_failure::outage().answered();
                    return;
                }
                // Gone (expired, or its creation failed): start over with a new Event.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    not_recorded(&e, &event.reason);
                    return;
                }
            }
        }
        let name = self.unique_name(&regarding, now);
        let body = self.event(&event, regarding, &name, now);
        match api.create(&PostParams::default(), &body).await {
            Ok(_) => {
                crate::api_failure::outage().answered();
                if let Some(k) = key {
                    self.series
                        .lock()
                        .expect("series lock")
                        .insert(k, name, now.into());
                }
            }
            // Events are best effort: a failed one must not fail the step.
            Err(e) => not_recorded(&e, &event.reason),
        }
    }

    fn event(
        &self,
        ev: &Event,
        regarding: ObjectReference,
        name: &str,
        now: Timestamp,
    ) -> K8sEvent {
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(truncate_chars(&ev.reason, REASON_MAX)),
            note: Some(truncate_bytes(&ev.note, NOTE_MAX_BYTES)),
            event_time: Some(MicroTime(now)),
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: regarding.namespace.clone(),
                ..Default::default()
            },
            regarding: Some(regarding),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(if ev.warning { "Warning" } else { "Normal" }.to_string()),
            ..Default::default()
        }
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// What makes two Events the same series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    warning: bool,
    reason: String,
    action: String,
    /// The resource: its UID when known, else namespace/name.
    regarding: String,
}

impl SeriesKey {
    fn new(ev: &Event, regarding: &ObjectReference) -> Self {
        SeriesKey {
            warning: ev.warning,
            reason: truncate_chars(&ev.reason, REASON_MAX),
            action: ev.action.clone(),
            regarding: match &regarding.uid {
                Some(uid) => uid.clone(),
                None => format!(
                    "{}/{}/{}",
                    regarding.kind.as_deref().unwrap_or_default(),
                    regarding.namespace.as_deref().unwrap_or_default(),
                    regarding.name.as_deref().unwrap_or_default()
                ),
            },
        }
    }
}

#[derive(Debug)]
struct SeriesEntry {
    name: String,
    count: i32,
    last: Timestamp,
    used: u64,
}

/// A bounded least-recently-used map from an Event's identity to the Event created for it.
#[derive(Debug)]
struct SeriesCache {
    entries: HashMap<SeriesKey, SeriesEntry>,
    capacity: usize,
    ttl: SignedDuration,
    clock: u64,
}

impl SeriesCache {
    fn new(capacity: usize, ttl: Duration) -> Self {
        SeriesCache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            ttl: SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX),
            clock: 0,
        }
    }

    /// A repeat of a remembered Event within the TTL: its name and the new count (≥ 2).
    fn observe(&mut self, key: &SeriesKey, now: Instant) -> Option<(String, i32)> {
        let now = now.0;
        self.clock += 1;
        let clock = self.clock;
        let ttl = self.ttl;
        match self.entries.get_mut(key) {
            Some(e) if fresh(e.last, ttl, now) => {
                e.count = e.count.saturating_add(1);
                e.last = now;
                e.used = clock;
                Some((e.name.clone(), e.count))
            }
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers a newly created Event, evicting the least recently used one when full.
    fn insert(&mut self, key: SeriesKey, name: String, now: Instant) {
        self.clock += 1;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let expired: Vec<SeriesKey> = self
                .entries
                .iter()
                .filter(|(_, e)| !fresh(e.last, self.ttl, now.0))
                .map(|(k, _)| k.clone())
                .collect();
            for k in &expired {
                self.entries.remove(k);
            }
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            key,
            SeriesEntry {
                name,
                count: 1,
                last: now.0,
                used: self.clock,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

fn fresh(last: Timestamp, ttl: SignedDuration, now: Timestamp) -> bool {
    last.checked_add(ttl).map_or(true, |until| until > now)
}

/// A point in time for the series cache (a wrapper so tests can pass their own clock).
#[derive(Debug, Clone, Copy)]
struct Instant(Timestamp);

impl From<Timestamp> for Instant {
    fn from(t: Timestamp) -> Self {
        Instant(t)
    }
}

/// Reports an Event that could not be written: while the API server does not answer, as part
/// of the one outage report rather than once per Event.
fn not_recorded(error: &kube::Error, reason: &str) {
    match crate::api_failure::ApiFailure::of(error) {
        crate::api_failure::ApiFailure::Unavailable { cause } => {
            crate::api_failure::outage().failed(&cause);
        }
        _ => warn!(error = %error, reason, "could not record event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reason: &str, uid: &str) -> SeriesKey {
        SeriesKey::new(
            &Event {
                warning: true,
                reason: reason.into(),
                note: "n".into(),
                action: "Sync".into(),
                aggregate: true,
            },
            &ObjectReference {
                uid: Some(uid.into()),
                ..Default::default()
            },
        )
    }

    fn at(secs: i64) -> Instant {
        Instant(Timestamp::from_second(1_800_000_000 + secs).expect("timestamp"))
    }

    #[test]
    fn repeats_within_the_ttl_fold_into_a_series() {
        let mut c = SeriesCache::new(8, Duration::from_secs(360));
        let k = key("UNAVAILABLE", "u1");
        assert_eq!(c.observe(&k, at(0)), None);
        c.insert(k.clone(), "r.1".into(), at(0));
        assert_eq!(c.observe(&k, at(10)), Some(("r.1".into(), 2)));
        assert_eq!(c.observe(&k, at(20)), Some(("r.1".into(), 3)));
        // Another resource or reason is another series.
        assert_eq!(c.observe(&key("UNAVAILABLE", "u2"), at(20)), None);
        assert_eq!(c.observe(&key("ABORTED", "u1"), at(20)), None);
    }

    #[test]
    fn a_repeat_after_the_ttl_starts_a_new_event() {
        let mut c = SeriesCache::new(8, Duration::from_secs(360));
        let k = key("UNAVAILABLE", "u1");
        c.insert(k.clone(), "r.1".into(), at(0));
        assert_eq!(c.observe(&k, at(100)), Some(("r.1".into(), 2)));
        // The TTL counts from the last repeat.
        assert_eq!(c.observe(&k, at(100 + 361)), None);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let mut c = SeriesCache::new(3, Duration::from_secs(360));
        for (i, uid) in [(0, "a"), (1, "b"), (2, "c")] {
            c.insert(key("X", uid), format!("{uid}.1"), at(i));
        }
        // "a" is used again, so "b" is the least recently used.
        assert!(c.observe(&key("X", "a"), at(5)).is_some());
        c.insert(key("X", "d"), "d.1".into(), at(6));
        assert_eq!(c.len(), 3);
        assert_eq!(c.observe(&key("X", "b"), at(7)), None);
        assert!(c.observe(&key("X", "a"), at(7)).is_some());
        assert!(c.observe(&key("X", "d"), at(7)).is_some());
        for i in 0..1000 {
            c.insert(key("X", &format!("n{i}")), format!("n{i}.1"), at(8));
        }
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn expired_entries_go_first_when_full() {
        let mut c = SeriesCache::new(2, Duration::from_secs(360));
        c.insert(key("X", "old"), "old.1".into(), at(0));
        c.insert(key("X", "recent"), "recent.1".into(), at(400));
        assert!(c.observe(&key("X", "recent"), at(401)).is_some());
        c.insert(key("X", "new"), "new.1".into(), at(402));
        assert!(c.observe(&key("X", "recent"), at(403)).is_some());
        assert!(c.observe(&key("X", "new"), at(403)).is_some());
    }

    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        let s = "é".repeat(600); // 1,200 bytes
        let cut = truncate_bytes(&s, NOTE_MAX_BYTES);
        assert_eq!(cut.len(), 1024);
        assert_eq!(truncate_bytes("short", NOTE_MAX_BYTES), "short");
        assert_eq!(truncate_chars(&"r".repeat(200), REASON_MAX).len(), 128);
    }
}
