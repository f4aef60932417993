//! Inputs: the objects and Prometheus results a phase declares, gathered for one resource.
use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use crate::plan::{InputPlan, PhasePlan};
use crate::worker::MetricInput;

/// Gathers a phase's inputs.
#[derive(Clone)]
pub struct Gatherer {
    client: kube::Client,
    prometheus: Option<crate::prometheus::Prometheus>,
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
    /// A gatherer; without Prometheus, metric inputs report an error to the worker.
    pub fn new(client: kube::Client, prometheus: Option<crate::prometheus::Prometheus>) -> Self {
        Gatherer { client, prometheus }
    }

    /// Gathers every input of the phase. Failures are reported per input, never as a whole.
    pub async fn gather(&self, phase: &PhasePlan, obj: &DynamicObject) -> Gathered {
        let mut out = Gathered::default();
        let object = serde_json::to_value(obj).unwrap_or(Value::Null);
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
                        .list(
                            obj,
                            &object,
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
                            Ok(promql) => match &self.prometheus {
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

    async fn list(
        &self,
        obj: &DynamicObject,
        object: &Value,
        kind: &crate::outputs::OutputKind,
        namespace: Option<&autopilot_model::InputNamespace>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, String> {
        use autopilot_model::template::{Escape, Scope, render};
        let scope = Scope::new(object);
        let render = |t: &str| render(t, &scope, Escape::None).map_err(|e| e.to_string());
        let api: Api<DynamicObject> = if !kind.namespaced {
            Api::all_with(self.client.clone(), &kind.resource)
        } else {
            match namespace {
                Some(autopilot_model::InputNamespace::All) => {
                    Api::all_with(self.client.clone(), &kind.resource)
                }
                Some(autopilot_model::InputNamespace::Template(t)) => {
                    Api::namespaced_with(self.client.clone(), &render(t)?, &kind.resource)
                }
                _ => match obj.namespace() {
                    Some(ns) => Api::namespaced_with(self.client.clone(), &ns, &kind.resource),
                    None => Api::all_with(self.client.clone(), &kind.resource),
                },
            }
        };
        let mut lp = ListParams::default();
        if let Some(l) = label_selector {
            lp = lp.labels(&render(l)?);
        }
        if let Some(f) = field_selector {
            lp = lp.fields(&render(f)?);
        }
        let list = api.list(&lp).await.map_err(|e| match &e {
            kube::Error::Api(s) if s.code == 404 => format!(
                "{} {} is not served by the API server (is its CRD installed?)",
                kind.resource.api_version, kind.resource.kind
            ),
            _ => format!("listing {}: {e}", kind.resource.plural),
        })?;
        let mut items = list.items;
        items.sort_by_key(|o| (o.namespace(), o.name_any()));
        Ok(items
            .into_iter()
            .map(|mut o| {
                o.metadata.managed_fields = None;
                // List items arrive without apiVersion and kind; workers get whole objects.
                o.types = Some(kube::api::TypeMeta {
                    api_version: kind.resource.api_version.clone(),
                    kind: kind.resource.kind.clone(),
                });
                serde_json::to_vec(&o).unwrap_or_default()
            })
            .collect())
    }
}
