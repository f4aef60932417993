//! How the controller's cache keeps the operator's resources: typed metadata, and every other
//! top-level field (`spec`, `status`, ...) as the JSON text the API server sent.
//!
//! A [`DynamicObject`] holds its fields as a `serde_json::Value` tree, in which every JSON
//! object is a map node of several hundred bytes whatever its size: a resource with a 2 KB spec
//! and a status with three conditions took about 6.5 KB of heap in the cache that way. Kept as
//! text it takes about its JSON size. A reconcile reads the one resource it works on from that
//! text: the status parsed once, the worker's JSON spliced from it ([`Cached::json`]); only the
//! phase counts read the cache as a whole ([`Cached::phase`]).
//!
//! The resource kind is shared too: every cache key ([`ObjectRef`]) of a `DynamicObject` holds
//! its own copy of the [`ApiResource`] (five strings); a [`Kind`] is one pointer.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{ApiResource, DynamicObject, TypeMeta};
use kube::core::DynamicResourceScope;
use kube::runtime::reflector::ObjectRef;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The operator's resource kind, shared by every cached resource and cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kind(Arc<ApiResource>);

impl Kind {
    /// The kind of `resource`.
    pub fn new(resource: &ApiResource) -> Self {
        Kind(Arc::new(resource.clone()))
    }
}

/// A cache key of the operator's resources.
pub type Key = ObjectRef<Cached>;

/// One resource of the operator's kind as the controller's cache keeps it. `managedFields` are
/// dropped when it is read: they are large and never sent to workers.
#[derive(Clone, Debug)]
pub struct Cached {
    /// The resource's metadata.
    pub metadata: ObjectMeta,
    /// Every other top-level field but `apiVersion` and `kind` (those of the [`Kind`]), in the
    /// API server's order, as JSON text.
    fields: Box<[(Name, Box<RawValue>)]>,
}

/// A top-level field's name: the usual ones without an allocation of their own.
#[derive(Clone, Debug)]
enum Name {
    Spec,
    Status,
    Other(Box<str>),
}

impl Name {
    fn new(name: &str) -> Self {
        match name {
            "spec" => Name::Spec,
            "status" => Name::Status,
            other => Name::Other(other.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Name::Spec => "spec",
            Name::Status => "status",
            Name::Other(name) => name,
        }
    }
}

impl Cached {
    /// A top-level field's JSON text (`"spec"`, `"status"`, ...).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v.get())
    }

    /// The phase recorded in the status, if any (without parsing the rest of it).
    pub fn phase(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Phase {
            phase: Option<String>,
        }
        let status = self.field("status")?;
        serde_json::from_str::<Phase>(status).ok()?.phase
    }

    /// The resource as JSON, as workers receive it: spliced from the text the cache keeps,
    /// with only the metadata serialised.
    pub fn json(&self, kind: &Kind) -> Vec<u8> {
        autopilot_worker_client::request::resource_json(
            &kind.0.api_version,
            &kind.0.kind,
            &self.metadata,
            self.fields
                .iter()
                .map(|(name, raw)| (name.as_str(), raw.get())),
        )
    }

    /// The resource as a [`DynamicObject`] of `kind`.
    pub fn to_dynamic(&self, kind: &Kind) -> DynamicObject {
        let mut data = serde_json::Map::with_capacity(self.fields.len());
        for (name, raw) in &self.fields {
            // Valid JSON by construction: the text was checked when it was read.
            let value = serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null);
            data.insert(name.as_str().to_owned(), value);
        }
        DynamicObject {
            types: Some(TypeMeta {
                api_version: kind.0.api_version.clone(),
                kind: kind.0.kind.clone(),
            }),
            metadata: self.metadata.clone(),
            data: serde_json::Value::Object(data),
        }
    }
}

impl<'de> Deserialize<'de> for Cached {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CachedVisitor;

        impl<'de> Visitor<'de> for CachedVisitor {
            type Value = Cached;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cached, A::Error> {
                let mut metadata: Option<ObjectMeta> = None;
                let mut fields = Vec::with_capacity(2);
                while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                    match name.as_ref() {
                        "metadata" => {
                            let mut meta: ObjectMeta = map.next_value()?;
                            meta.managed_fields = None;
                            metadata = Some(meta);
                        }
                        // Those of the kind: every object of the cache has the same.
                        "apiVersion" | "kind" => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                        other => {
                            let raw: Box<RawValue> = map.next_value()?;
                            fields.push((Name::new(other), raw));
                        }
                    }
                }
                Ok(Cached {
                    metadata: metadata.unwrap_or_default(),
                    fields: fields.into_boxed_slice(),
                })
            }
        }

        deserializer.deserialize_map(CachedVisitor)
    }
}

impl Resource for Cached {
    type DynamicType = Kind;
    type Scope = DynamicResourceScope;

    fn group(dt: &Kind) -> Cow<'_, str> {
        dt.0.group.as_str().into()
    }

    fn version(dt: &Kind) -> Cow<'_, str> {
        dt.0.version.as_str().into()
    }

    fn kind(dt: &Kind) -> Cow<'_, str> {
        dt.0.kind.as_str().into()
    }

    fn api_version(dt: &Kind) -> Cow<'_, str> {
        dt.0.api_version.as_str().into()
    }

    fn plural(dt: &Kind) -> Cow<'_, str> {
        dt.0.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{ObjectList, WatchEvent};
    use serde_json::json;

    fn task() -> serde_json::Value {
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Task",
            "metadata": {
                "name": "t1", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                "generation": 2,
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                "labels": {"app": "x"},
            },
            "spec": {"payload": "xxxx", "big": 9007199254740993_u64, "nested": {"a": [1, 2.5, null]}},
            "status": {"phase": "Processing", "conditions": [{"type": "Ready", "status": "False"}]},
        })
    }

    #[test]
    fn keeps_fields_as_text_and_drops_managed_fields() {
        let cached: Cached = serde_json::from_str(&task().to_string()).unwrap();
        assert_eq!(cached.metadata.name.as_deref(), Some("t1"));
        assert_eq!(cached.metadata.managed_fields, None);
        assert_eq!(cached.phase().as_deref(), Some("Processing"));
        assert_eq!(
            cached.field("spec"),
            Some(r#"{"big":9007199254740993,"nested":{"a":[1,2.5,null]},"payload":"xxxx"}"#)
        );
        let kind = Kind::new(&ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("example.com", "v1", "Task"),
            "tasks",
        ));
        let dynamic = cached.to_dynamic(&kind);
        let mut want = task();
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(serde_json::to_value(&dynamic).unwrap(), want);
        assert_eq!(dynamic.types.unwrap().kind, "Task");
        // Integers beyond 2^53 stay exact.
        assert_eq!(dynamic.data["spec"]["big"], json!(9007199254740993_u64));
    }

    /// The watcher reads resources from watch events and list pages with serde_json from text:
    /// both must reach the raw-text path (a `RawValue` cannot be read from buffered content).
    /// The API server writes a watch event's `type` before its `object` (the field order of
    /// metav1.WatchEvent), which lets serde read the object straight from the text.
    #[test]
    fn reads_watch_events_and_lists() {
        let event = format!(r#"{{"type":"MODIFIED","object":{}}}"#, task());
        match serde_json::from_str::<WatchEvent<Cached>>(&event).unwrap() {
            WatchEvent::Modified(c) => assert_eq!(c.phase().as_deref(), Some("Processing")),
            other => panic!("unexpected {other:?}"),
        }
        let list = json!({
            "apiVersion": "example.com/v1", "kind": "TaskList",
            "metadata": {"resourceVersion": "9"},
            "items": [task(), task()],
        })
        .to_string();
        let list: ObjectList<Cached> = serde_json::from_str(&list).unwrap();
        assert_eq!(list.items.len(), 2);
        assert_eq!(list.items[1].metadata.name.as_deref(), Some("t1"));
        assert_eq!(
            list.items[1].field("kind"),
            None,
            "the kind's fields are not kept"
        );
    }

    #[test]
    fn the_json_for_workers_is_the_object_without_managed_fields() {
        let cached: Cached = serde_json::from_str(&task().to_string()).unwrap();
        let kind = Kind::new(&ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("example.com", "v1", "Task"),
            "tasks",
        ));
        let mut want = task();
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let json: serde_json::Value = serde_json::from_slice(&cached.json(&kind)).unwrap();
        assert_eq!(json, want);
        let text = String::from_utf8(cached.json(&kind)).unwrap();
        assert!(text.contains(r#""big":9007199254740993"#), "{text}");
    }

    #[test]
    fn a_resource_without_status_has_no_phase() {
        let mut t = task();
        t.as_object_mut().unwrap().remove("status");
        let cached: Cached = serde_json::from_str(&t.to_string()).unwrap();
        assert_eq!(cached.phase(), None);
        assert!(cached.field("status").is_none());
    }
}
