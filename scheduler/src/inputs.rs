//! Inputs: the objects and Prometheus results a phase declares, gathered for one resource.
//!
//! Objects come from shared watch caches: one reflector per (kind, namespace) the phases read,
//! started on first use and kept for the life of the scheduler, so a reconcile never lists.
//! Selectors are evaluated against the cache ([`crate::selector`]). Each cache remembers which
//! resources read it and with which selectors; a change to an object they selected (or now
//! select) re-reconciles them through the trigger channel.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autopilot_worker_client::{Inputs, MetricInput};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::cached::Key;
use crate::outputs::OutputKind;
use crate::plan::{InputPlan, PhasePlan, ResourceInput};
use crate::selector::{FieldSelector, LabelSelector};

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
    jaeger: Arc<std::sync::RwLock<Option<crate::traces::Jaeger>>>,
    caches: Arc<Mutex<HashMap<CacheKey, Arc<Cache>>>>,
    trigger: mpsc::UnboundedSender<Key>,
}

impl std::fmt::Debug for Gatherer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatherer").finish_non_exhaustive()
    }
}

/// The resource whose inputs are gathered.
#[derive(Debug)]
pub struct Reader<'a> {
    /// Its cache key: a change to an object it selected re-reconciles it.
    pub key: &'a Key,
    /// Its namespace, where its namespaced inputs are read unless they say otherwise.
    pub namespace: Option<&'a str>,
    /// Its JSON, parsed for templates only when a phase has inputs.
    pub json: &'a [u8],
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
            jaeger: Arc::default(),
            caches: Arc::default(),
            trigger,
        }
    }

    /// Replaces the Prometheus client (config reload); calls in flight keep the old one.
    pub fn set_prometheus(&self, prometheus: Option<crate::prometheus::Prometheus>) {
        *self.prometheus.write().expect("prometheus lock") = prometheus;
    }

    /// Replaces the Jaeger client (start-up, config reload); calls in flight keep the old one.
    /// Without one, trace inputs report an error to the worker.
    pub fn set_jaeger(&self, jaeger: Option<crate::traces::Jaeger>) {
        *self.jaeger.write().expect("jaeger lock") = jaeger;
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
    pub async fn gather(&self, phase: &PhasePlan, reader: &Reader<'_>) -> Inputs {
        let mut out = Inputs::default();
        if phase.inputs.is_empty() {
            return out;
        }
        // The one text-to-tree conversion of a reconcile, for the inputs' templates.
        let object: Value = serde_json::from_slice(reader.json).unwrap_or(Value::Null);
        let prometheus = self.prometheus.read().expect("prometheus lock").clone();
        let jaeger = self.jaeger.read().expect("jaeger lock").clone();
        for input in &phase.inputs {
            match input {
                InputPlan::Resource(input) => {
                    let result = self.select(reader, &object, input).await;
                    out.objects.insert(input.key.clone(), result);
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
                InputPlan::Traces { queries, vars } => {
                    crate::traces::gather(jaeger.as_ref(), queries, vars, &object, &mut out.traces)
                        .await;
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
                        match crate::api_failure::watch_unavailable(&e) {
                            // Part of the one outage report, not a line per retry.
                            Some(cause) => {
                                crate::api_failure::outage().failed(&cause);
                            }
                            None => warn!(error = %message, "input watch failed; retrying"),
                        }
                        *cache.error.lock().expect("error lock") = Some(message);
                    }
                }
            }
        });
        cache
    }

    /// The objects `input` selects for `reader` (whose JSON is `object`), from their cache.
    async fn select(
        &self,
        reader: &Reader<'_>,
        object: &Value,
        input: &ResourceInput,
    ) -> Result<Vec<Vec<u8>>, String> {
        use autopilot_model::template::{Escape, Scope, render};
        let kind = &input.kind;
        let scope = Scope::new(object);
        let render = |t: &str| render(t, &scope, Escape::None).map_err(|e| e.to_string());
        let namespace = if !kind.namespaced {
            None
        } else {
            match &input.namespace {
                Some(autopilot_model::InputNamespace::All) => None,
                Some(autopilot_model::InputNamespace::Template(t)) => Some(render(t)?),
                _ => reader.namespace.map(str::to_string),
            }
        };
        let labels = input
            .label_selector
            .as_deref()
            .map(|l| LabelSelector::parse(&render(l)?))
            .transpose()?;
        let fields = input
            .field_selector
            .as_deref()
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
            .insert(reader.key.clone(), selection);
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
