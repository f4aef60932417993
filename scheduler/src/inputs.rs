//! Inputs: the objects and Prometheus results a phase declares, gathered for one resource.
//!
//! Objects come from shared watch caches: one reflector per (kind, namespace) the phases read,
//! started on first use and kept for the life of the scheduler, so a reconcile never lists.
//! Selectors are evaluated against the cache ([`crate::selector`]). Each cache remembers which
//! resources read it and with which selectors; a change to an object they selected (or now
//! select) re-reconciles them through the trigger channel.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, Store};

use crate::cached::Key;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::outputs::OutputKind;
use crate::plan::{InputPlan, PhasePlan};
use crate::selector::{FieldSelector, LabelSelector};
use crate::worker::MetricInput;

/// How long a reconcile waits for a new cache's first list.
const CACHE_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a cache watches: a kind, in one namespace or all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    api_version: String,
    plural: String,
    namespace: Option<String>,
}

/// What one resource selected from one cache at its last gather.
#[derive(Debug, Clone)]
struct Selection {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    /// (namespace, name) of the objects it received.
    seen: HashSet<(Option<String>, String)>,
}

impl Selection {
    fn selects(&self, obj: &DynamicObject) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(obj.labels()))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

/// One watch cache.
struct Cache {
    store: Store<DynamicObject>,
    ready: AtomicBool,
    /// The watch's last error, cleared by the next event.
    error: Mutex<Option<String>>,
    readers: Mutex<HashMap<Key, Selection>>,
}

impl Cache {
    /// Readers to re-reconcile because `obj` changed.
    fn affected(&self, obj: &DynamicObject) -> Vec<Key> {
        let id = (obj.namespace(), obj.name_any());
        self.readers
            .lock()
            .expect("readers lock")
            .iter()
            .filter(|(_, s)| s.seen.contains(&id) || s.selects(obj))
            .map(|(r, _)| r.clone())
            .collect()
    }
}

/// Gathers a phase's inputs.
#[derive(Clone)]
pub struct Gatherer {
    client: kube::Client,
    prometheus: Arc<std::sync::RwLock<Option<crate::prometheus::Prometheus>>>,
    caches: Arc<Mutex<HashMap<CacheKey, Arc<Cache>>>>,
    trigger: mpsc::UnboundedSender<Key>,
}

impl std::fmt::Debug for Gatherer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatherer").finish_non_exhaustive()
    }
}

/// A phase's inputs for one call.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Objects by input key, or why they could not be listed.
    pub objects: BTreeMap<String, Result<Vec<Vec<u8>>, String>>,
    /// Query results by query name.
    pub metrics: BTreeMap<String, MetricInput>,
}

/// FNV-1a, 64 bit: stable across processes and versions, which the tag must be.
fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

impl Gathered {
    /// A tag over the resource's spec and every input: equal tags mean equal inputs.
    pub fn tag(&self, obj: &DynamicObject) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        fnv1a(
            &mut h,
            obj.data
                .get("spec")
                .map(|s| s.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        for (k, v) in &self.objects {
            fnv1a(&mut h, k.as_bytes());
            match v {
                Ok(items) => items.iter().for_each(|i| fnv1a(&mut h, i)),
                Err(e) => fnv1a(&mut h, e.as_bytes()),
            }
        }
        for (k, m) in &self.metrics {
            fnv1a(&mut h, k.as_bytes());
            fnv1a(&mut h, format!("{m:?}").as_bytes());
        }
        format!("{h:016x}")
    }
}

impl Gatherer {
    /// A gatherer; without Prometheus, metric inputs report an error to the worker. Resources
    /// whose inputs changed are sent on `trigger`.
    pub fn new(
        client: kube::Client,
        prometheus: Option<crate::prometheus::Prometheus>,
        trigger: mpsc::UnboundedSender<Key>,
    ) -> Self {
        Gatherer {
            client,
            prometheus: Arc::new(std::sync::RwLock::new(prometheus)),
            caches: Arc::default(),
            trigger,
        }
    }

    /// Replaces the Prometheus client (config reload); calls in flight keep the old one.
    pub fn set_prometheus(&self, prometheus: Option<crate::prometheus::Prometheus>) {
        *self.prometheus.write().expect("prometheus lock") = prometheus;
    }

    /// Stops re-reconciling `reader` on input changes (it was deleted).
    pub fn forget(&self, reader: &Key) {
        for cache in self.caches.lock().expect("caches lock").values() {
            cache.readers.lock().expect("readers lock").remove(reader);
        }
    }

    /// Number of watch caches started so far.
    pub fn cache_count(&self) -> usize {
        self.caches.lock().expect("caches lock").len()
    }

    /// Gathers every input of the phase for `reader`. Failures are reported per input, never
    /// as a whole.
    pub async fn gather(&self, phase: &PhasePlan, obj: &DynamicObject, reader: &Key) -> Gathered {
        let mut out = Gathered::default();
        let object = serde_json::to_value(obj).unwrap_or(Value::Null);
        let prometheus = self.prometheus.read().expect("prometheus lock").clone();
        for input in &phase.inputs {
            match input {
                InputPlan::Resource {
                    key,
                    kind,
                    namespace,
                    label_selector,
                    field_selector,
                } => {
                    let result = self
                        .select(
                            obj,
                            &object,
                            reader,
                            kind,
                            namespace.as_ref(),
                            label_selector.as_deref(),
                            field_selector.as_deref(),
                        )
                        .await;
                    out.objects.insert(key.clone(), result);
                }
                InputPlan::Metrics { queries, vars } => {
                    for q in queries {
                        let result = match q.render(&object, vars) {
                            Err(e) => MetricInput {
                                query: q.query.clone(),
                                error: Some(format!("rendering query {}: {e}", q.name)),
                                ..Default::default()
                            },
                            Ok(promql) => match &prometheus {
                                None => MetricInput {
                                    query: promql,
                                    error: Some("no Prometheus configured (prometheus.url)".into()),
                                    ..Default::default()
                                },
                                Some(p) => p.query(&promql, q.range.as_ref()).await,
                            },
                        };
                        out.metrics.insert(q.name.clone(), result);
                    }
                }
            }
        }
        out
    }

    /// The cache for `key`, started on first use.
    fn cache(&self, key: CacheKey, kind: &OutputKind) -> Arc<Cache> {
        let mut caches = self.caches.lock().expect("caches lock");
        if let Some(c) = caches.get(&key) {
            return c.clone();
        }
        let writer = reflector::store::Writer::new(kind.resource.clone());
        let cache = Arc::new(Cache {
            store: writer.as_reader(),
            ready: AtomicBool::new(false),
            error: Mutex::new(None),
            readers: Mutex::default(),
        });
        caches.insert(key.clone(), cache.clone());
        let api: Api<DynamicObject> = match &key.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            None => Api::all_with(self.client.clone(), &kind.resource),
        };
        let what = format!(
            "{} {}{}",
            kind.resource.api_version,
            kind.resource.kind,
            key.namespace
                .as_deref()
                .map(|n| format!(" in {n}"))
                .unwrap_or_default()
        );
        let resource = kind.resource.clone();
        let trigger = self.trigger.clone();
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            let mut writer = writer;
            // The default backoff retries a failing watch (a CRD not installed yet) without end.
            let mut events = watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .modify(|o| o.metadata.managed_fields = None)
                .boxed();
            while let Some(event) = events.next().await {
                let Some(cache) = weak.upgrade() else { return };
                match event {
                    Ok(event) => {
                        *cache.error.lock().expect("error lock") = None;
                        writer.apply_watcher_event(&event);
                        match &event {
                            watcher::Event::InitDone => cache.ready.store(true, Ordering::SeqCst),
                            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                                for r in cache.affected(o) {
                                    debug!(input = %o.name_any(), resource = %r.name, "input changed");
                                    let _ = trigger.send(r);
                                }
                            }
                            _ => {}
                        }
                    }
                    Err(e) => {
                        let message = match &e {
                            watcher::Error::InitialListFailed(kube::Error::Api(s))
                            | watcher::Error::WatchStartFailed(kube::Error::Api(s))
                                if s.code == 404 =>
                            {
                                format!(
                                    "{} {} is not served by the API server (is its CRD installed?)",
                                    resource.api_version, resource.kind
                                )
                            }
                            _ => format!("watching {what}: {e}"),
                        };
                        warn!(error = %message, "input watch failed; retrying");
                        *cache.error.lock().expect("error lock") = Some(message);
                    }
                }
            }
        });
        cache
    }

    #[allow(clippy::too_many_arguments)]
    async fn select(
        &self,
        obj: &DynamicObject,
        object: &Value,
        reader: &Key,
        kind: &OutputKind,
        namespace: Option<&autopilot_model::InputNamespace>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, String> {
        use autopilot_model::template::{Escape, Scope, render};
        let scope = Scope::new(object);
        let render = |t: &str| render(t, &scope, Escape::None).map_err(|e| e.to_string());
        let namespace = if !kind.namespaced {
            None
        } else {
            match namespace {
                Some(autopilot_model::InputNamespace::All) => None,
                Some(autopilot_model::InputNamespace::Template(t)) => Some(render(t)?),
                _ => obj.namespace(),
            }
        };
        let labels = label_selector
            .map(|l| LabelSelector::parse(&render(l)?))
            .transpose()?;
        let fields = field_selector
            .map(|f| FieldSelector::parse(&render(f)?))
            .transpose()?;
        let cache = self.cache(
            CacheKey {
                api_version: kind.resource.api_version.clone(),
                plural: kind.resource.plural.clone(),
                namespace,
            },
            kind,
        );
        let deadline = Instant::now() + CACHE_READY_TIMEOUT;
        while !cache.ready.load(Ordering::SeqCst) {
            if let Some(e) = cache.error.lock().expect("error lock").clone() {
                return Err(e);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the watch of {} {} has not completed its first list",
                    kind.resource.api_version, kind.resource.kind
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut selection = Selection {
            labels,
            fields,
            seen: HashSet::new(),
        };
        let mut items: Vec<Arc<DynamicObject>> = cache.store.state_filter(|o| selection.selects(o));
        items.sort_by_key(|o| (o.namespace(), o.name_any()));
        selection.seen = items
            .iter()
            .map(|o| (o.namespace(), o.name_any()))
            .collect();
        cache
            .readers
            .lock()
            .expect("readers lock")
            .insert(reader.clone(), selection);
        Ok(items
            .iter()
            .map(|o| {
                let mut o = o.as_ref().clone();
                o.metadata.managed_fields = None;
                // Cached objects may lack apiVersion and kind; workers get whole objects.
                o.types = Some(kube::api::TypeMeta {
                    api_version: kind.resource.api_version.clone(),
                    kind: kind.resource.kind.clone(),
                });
                serde_json::to_vec(&o).unwrap_or_default()
            })
            .collect())
    }
}
