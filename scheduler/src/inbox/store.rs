//! Where accepted events live until a phase consumes them: one small namespaced
//! `EventDelivery` object (group `autopilot.dev`) per event and resource, owned by the resource.
//!
//! # Guarantees
//!
//! - An event is stored before the receiver answers 2xx, so a scheduler crash, restart or
//!   leader change after that loses nothing: deliveries are read back from the API server.
//! - The object's name is a hash of (operator, declared source, event `source`, event `id`,
//!   resource uid), so storing the same delivery twice fails with 409 and counts once.
//! - Each resource's deliveries carry a sequence (the accept time in nanoseconds, strictly
//!   increasing within one process) and are handed out in that order.
//! - A delivery is marked consumed (a label) only after the phase's result was written; it is
//!   kept, consumed, for deduplication until retention removes it.
//! - The resource's ownerReference lets Kubernetes' garbage collector delete its deliveries
//!   with it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Event;
use crate::outputs::{MANAGED_BY_LABEL, OPERATOR_LABEL, OWNER_UID_LABEL};

/// API group of the delivery store.
pub const GROUP: &str = "autopilot.dev";
/// Its version.
pub const VERSION: &str = "v1alpha1";
/// Its kind.
pub const KIND: &str = "EventDelivery";
/// Its resource (plural) name.
pub const PLURAL: &str = "eventdeliveries";
/// Label naming the declared event source a delivery is for.
pub const SOURCE_LABEL: &str = "autopilot.dev/event-source";
/// Label holding a delivery's sequence number (its order among the resource's deliveries).
pub const SEQUENCE_LABEL: &str = "autopilot.dev/sequence";
/// Label set to `"true"` once a phase consumed the delivery.
pub const CONSUMED_LABEL: &str = "autopilot.dev/consumed";

/// Why the store could not be read or written. Every variant is retryable: the API server was
/// unreachable or refused for a reason that may pass (the CRD not installed yet, RBAC fixed).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Creating a delivery failed (other than it already existing).
    #[error("storing the event: {0}")]
    CreateFailed(#[source] kube::Error),
    /// Listing deliveries failed.
    #[error("reading stored events: {0}")]
    ListFailed(#[source] kube::Error),
    /// Marking deliveries consumed or deleting them failed.
    #[error("updating stored events: {0}")]
    UpdateFailed(#[source] kube::Error),
}

/// The `EventDelivery` API resource.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// The resource an event is delivered to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its uid (deliveries select on it, and are owned through it).
    pub uid: String,
}

/// A stored delivery handed to a phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The delivery object's name (to mark it consumed).
    pub name: String,
    /// The declared source.
    pub source: String,
    /// Its order among the resource's deliveries.
    pub sequence: u64,
    /// The event.
    pub event: Event,
}

/// A delivery that retention removed before a phase consumed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The declared source.
    pub source: String,
    /// The event's id.
    pub id: String,
    /// The resource it was for.
    pub target: Target,
    /// Why it was removed.
    pub why: String,
}

/// What storing an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// Stored now.
    Stored,
    /// Stored before (the same delivery was sent again); nothing changed.
    Duplicate,
}

/// The delivery store of one operator.
#[derive(Clone)]
pub struct Store {
    client: kube::Client,
    operator: String,
    /// The operator's own kind (`group/version`, kind), for owner references.
    owner: ApiResource,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("operator", &self.operator)
            .field("owner", &self.owner.kind)
            .finish_non_exhaustive()
    }
}

static LAST_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The next sequence number: the current time in nanoseconds since the Unix epoch, but always
/// greater than the last one handed out by this process.
fn next_sequence() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut last = LAST_SEQUENCE.load(Ordering::Acquire);
    loop {
        let next = now.max(last + 1);
        match LAST_SEQUENCE.compare_exchange(last, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The delivery's object name: the source name (cut to keep within 63 characters) and a
/// hash of what makes the delivery unique.
pub fn delivery_name(operator: &str, source: &str, event: &Event, uid: &str) -> String {
    let mut hash = Sha256::new();
    for part in [operator, source, &event.source, &event.id, uid] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(hash.finalize());
    let prefix: String = source.chars().take(30).collect();
    format!("{}-{}", prefix.trim_end_matches('-'), &digest[..32])
}

impl Store {
    /// The store of `operator`, whose resources are of kind `owner`.
    pub fn new(client: kube::Client, operator: &str, owner: ApiResource) -> Self {
        Self {
            client,
            operator: operator.to_owned(),
            owner,
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &api_resource())
    }

    /// Store `event` from declared `source` for `target`.
    ///
    /// # Errors
    ///
    /// [`StoreError::CreateFailed`]: the event is not stored and the sender must be told so.
    pub async fn put(
        &self,
        source: &str,
        target: &Target,
        event: &Event,
    ) -> Result<Put, StoreError> {
        let name = delivery_name(&self.operator, source, event, &target.uid);
        let sequence = next_sequence();
        let mut event = event.clone();
        event.accepted_unix_ms = now_ms();
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": KIND,
            "metadata": {
                "name": name,
                "namespace": target.namespace,
                "labels": {
                    OPERATOR_LABEL: self.operator,
                    OWNER_UID_LABEL: target.uid,
                    SOURCE_LABEL: source,
                    SEQUENCE_LABEL: sequence.to_string(),
                    MANAGED_BY_LABEL: "autopilot",
                },
                "ownerReferences": [{
                    "apiVersion": self.owner.api_version,
                    "kind": self.owner.kind,
                    "name": target.name,
                    "uid": target.uid,
                }],
            },
            "spec": {
                "source": source,
                "target": target.name,
                "sequence": sequence,
                "event": event_json(&event),
            },
        }))
        .expect("a delivery is a valid object");
        match self
            .api(&target.namespace)
            .create(&PostParams::default(), &object)
            .await
        {
            Ok(_) => Ok(Put::Stored),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Put::Duplicate),
            Err(e) => Err(StoreError::CreateFailed(e)),
        }
    }

    /// The unconsumed deliveries of `sources` for the resource `uid` in `namespace`, by
    /// source, each list in sequence order. Every source in `sources` has an entry.
    ///
    /// # Errors
    ///
    /// [`StoreError::ListFailed`].
    pub async fn pending(
        &self,
        namespace: &str,
        uid: &str,
        sources: &[String],
    ) -> Result<BTreeMap<String, Vec<Stored>>, StoreError> {
        let mut out: BTreeMap<String, Vec<Stored>> =
            sources.iter().map(|s| (s.clone(), Vec::new())).collect();
        if sources.is_empty() {
            return Ok(out);
        }
        let selector = format!(
            "{OPERATOR_LABEL}={},{OWNER_UID_LABEL}={uid},{SOURCE_LABEL} in ({}),!{CONSUMED_LABEL}",
            self.operator,
            sources.join(",")
        );
        let list = self
            .api(namespace)
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(StoreError::ListFailed)?;
        for object in list {
            if let Some(stored) = stored_of(&object)
                && let Some(list) = out.get_mut(&stored.source)
            {
                list.push(stored);
            }
        }
        for list in out.values_mut() {
            list.sort_by_key(|s| s.sequence);
        }
        Ok(out)
    }

    /// Mark the deliveries `names` in `namespace` consumed.
    ///
    /// # Errors
    ///
    /// [`StoreError::UpdateFailed`] for the first that could not be marked (a delivery
    /// deleted meanwhile is fine).
    pub async fn consume(&self, namespace: &str, names: &[String]) -> Result<(), StoreError> {
        let api = self.api(namespace);
        let patch = json!({"metadata": {"labels": {CONSUMED_LABEL: "true"}}});
        for name in names {
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(StoreError::UpdateFailed(e)),
            }
        }
        Ok(())
    }

    /// Keep at most `max` deliveries for the resource `target`: remove the oldest beyond that,
    /// consumed ones first. Returns the unconsumed ones removed.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when listing or deleting failed.
    pub async fn trim(&self, target: &Target, max: u32) -> Result<Vec<Dropped>, StoreError> {
        let selector = format!(
            "{OPERATOR_LABEL}={},{OWNER_UID_LABEL}={}",
            self.operator, target.uid
        );
        let api = self.api(&target.namespace);
        let list = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(StoreError::ListFailed)?;
        let excess = list.items.len().saturating_sub(max as usize);
        if excess == 0 {
            return Ok(Vec::new());
        }
        // (pending, sequence, name, source): consumed (false) sorts before pending (true), then
        // oldest first.
        let mut items: Vec<(bool, u64, String, String)> = list
            .items
            .iter()
            .map(|m| {
                let labels = m.metadata.labels.clone().unwrap_or_default();
                (
                    !labels.contains_key(CONSUMED_LABEL),
                    labels
                        .get(SEQUENCE_LABEL)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    m.metadata.name.clone().unwrap_or_default(),
                    labels.get(SOURCE_LABEL).cloned().unwrap_or_default(),
                )
            })
            .collect();
        items.sort();
        let mut dropped = Vec::new();
        for (pending, _, name, source) in items.into_iter().take(excess) {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(StoreError::UpdateFailed(e)),
            }
            if pending {
                dropped.push(Dropped {
                    source,
                    id: name,
                    target: target.clone(),
                    why: format!("more than {max} stored events for this resource"),
                });
            }
        }
        Ok(dropped)
    }

    /// Remove this operator's deliveries older than `max_age` in `namespace` (`None`: every
    /// namespace). Returns the unconsumed ones removed.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when listing or deleting failed.
    pub async fn expire(
        &self,
        namespace: Option<&str>,
        max_age: Duration,
    ) -> Result<Vec<Dropped>, StoreError> {
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => self.api(ns),
            None => Api::all_with(self.client.clone(), &api_resource()),
        };
        let selector = format!("{OPERATOR_LABEL}={}", self.operator);
        let list = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(StoreError::ListFailed)?;
        let cutoff = now_ms() - i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        let mut dropped = Vec::new();
        for m in list.items {
            let created = m
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(i64::MAX, |t| t.0.as_millisecond());
            if created >= cutoff {
                continue;
            }
            let labels = m.metadata.labels.clone().unwrap_or_default();
            let (Some(name), Some(ns)) = (m.metadata.name.clone(), m.metadata.namespace.clone())
            else {
                continue;
            };
            match self.api(&ns).delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(StoreError::UpdateFailed(e)),
            }
            if !labels.contains_key(CONSUMED_LABEL) {
                let owner = m
                    .metadata
                    .owner_references
                    .unwrap_or_default()
                    .into_iter()
                    .next();
                dropped.push(Dropped {
                    source: labels.get(SOURCE_LABEL).cloned().unwrap_or_default(),
                    id: name,
                    target: Target {
                        name: owner.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
                        namespace: ns,
                        uid: owner.map(|o| o.uid).unwrap_or_default(),
                    },
                    why: format!(
                        "older than {} and not consumed",
                        humantime::format_duration(max_age)
                    ),
                });
            }
        }
        Ok(dropped)
    }
}

fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "source": e.source,
        "type": e.type_,
        "subject": e.subject,
        "timeUnixMs": e.time_unix_ms,
        "dataContentType": e.data_content_type,
        "data": base64::engine::general_purpose::STANDARD.encode(&e.data),
        "extensions": e.extensions,
        "acceptedUnixMs": e.accepted_unix_ms,
    })
}

/// A delivery object read back; `None` for one that is not of this shape (written by hand).
fn stored_of(object: &DynamicObject) -> Option<Stored> {
    let spec = object.data.get("spec")?;
    let e = spec.get("event")?;
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(e.get("data").and_then(Value::as_str).unwrap_or_default())
        .ok()?;
    Some(Stored {
        name: object.metadata.name.clone()?,
        source: text(spec, "source"),
        sequence: spec.get("sequence").and_then(Value::as_u64).unwrap_or(0),
        event: Event {
            id: text(e, "id"),
            source: text(e, "source"),
            type_: text(e, "type"),
            subject: text(e, "subject"),
            time_unix_ms: e.get("timeUnixMs").and_then(Value::as_i64).unwrap_or(0),
            data_content_type: text(e, "dataContentType"),
            data,
            extensions: e
                .get("extensions")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
            accepted_unix_ms: e.get("acceptedUnixMs").and_then(Value::as_i64).unwrap_or(0),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, source: &str) -> Event {
        Event {
            id: id.into(),
            source: source.into(),
            type_: "t".into(),
            subject: String::new(),
            time_unix_ms: 1,
            data_content_type: "application/json".into(),
            data: br#"{"a":1}"#.to_vec(),
            extensions: [("team".to_owned(), "blue".to_owned())].into(),
            accepted_unix_ms: 2,
        }
    }

    #[test]
    fn names_are_stable_and_distinct() {
        let a = delivery_name("op", "approval", &event("1", "s"), "uid-1");
        assert_eq!(
            a,
            delivery_name("op", "approval", &event("1", "s"), "uid-1")
        );
        assert!(a.starts_with("approval-") && a.len() <= 63, "{a}");
        for other in [
            delivery_name("op", "approval", &event("2", "s"), "uid-1"),
            delivery_name("op", "approval", &event("1", "t"), "uid-1"),
            delivery_name("op", "approval", &event("1", "s"), "uid-2"),
            delivery_name("op", "other", &event("1", "s"), "uid-1"),
            delivery_name("op2", "approval", &event("1", "s"), "uid-1"),
        ] {
            assert_ne!(a, other);
        }
        let long = delivery_name("op", &"x".repeat(63), &event("1", "s"), "u");
        assert!(long.len() <= 63, "{long}");
    }

    #[test]
    fn sequences_increase() {
        let a = next_sequence();
        let b = next_sequence();
        assert!(b > a);
    }

    #[test]
    fn round_trip() {
        let e = event("1", "s");
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "autopilot.dev/v1alpha1", "kind": KIND,
            "metadata": {"name": "approval-x", "namespace": "ns"},
            "spec": {"source": "approval", "target": "web", "sequence": 42, "event": event_json(&e)},
        }))
        .unwrap();
        let stored = stored_of(&object).unwrap();
        assert_eq!(stored.event, e);
        assert_eq!((stored.sequence, stored.source.as_str()), (42, "approval"));
    }
}
