//! Outputs: checking what a worker returned against the phase's declared output kinds, then
//! server-side applying it (owned by the resource, labelled) and pruning what a phase dropped.
pub use autopilot_worker_client::reply::OutputError;
use autopilot_worker_client::reply::{DeclaredKind, Output, check_outputs};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// The one field manager every apply uses.
pub const FIELD_MANAGER: &str = "autopilot";
pub use autopilot_model::labels::{OPERATOR_LABEL, OWNER_UID_LABEL};
/// The standard managed-by label.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// A kind a phase may output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputKind {
    /// The API resource (group, version, kind, plural).
    pub resource: ApiResource,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

/// The resource that owns the outputs.
#[derive(Debug, Clone)]
pub struct Owner {
    /// `group/version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// Namespace; `None` for a cluster-scoped resource.
    pub namespace: Option<String>,
    /// The operator's name, for the operator label.
    pub operator_name: String,
}

/// An output checked and ready to apply.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its kind.
    pub kind: OutputKind,
    /// Namespace to apply in (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The object, with owner reference and labels set.
    pub object: Value,
}

impl OutputKind {
    /// What the reply check needs to know of the kind.
    pub fn declared(&self) -> DeclaredKind {
        DeclaredKind {
            api_version: self.resource.api_version.clone(),
            kind: self.resource.kind.clone(),
            namespaced: self.namespaced,
        }
    }
}

/// Checks every output against the phase's declared kinds and decorates it for apply. All or
/// nothing: one bad output refuses the whole response.
pub fn prepare(
    phase: &str,
    outputs: &[Vec<u8>],
    declared: &[OutputKind],
    owner: &Owner,
) -> Result<Vec<Prepared>, OutputError> {
    let kinds: Vec<DeclaredKind> = declared.iter().map(OutputKind::declared).collect();
    let checked = check_outputs(phase, outputs, &kinds, owner.namespace.as_deref())?;
    Ok(place(checked, declared, owner))
}

/// Decorates checked outputs for apply: owner reference, labels and namespace. Every output
/// is of one of the `declared` kinds ([`autopilot_worker_client::reply::check`] made sure).
pub fn place(outputs: Vec<Output>, declared: &[OutputKind], owner: &Owner) -> Vec<Prepared> {
    outputs
        .into_iter()
        .filter_map(|o| {
            let kind = declared
                .iter()
                .find(|k| k.resource.api_version == o.api_version && k.resource.kind == o.kind)?;
            let mut object = o.object;
            decorate(&mut object, owner, o.namespace.as_deref());
            Some(Prepared {
                kind: kind.clone(),
                namespace: o.namespace,
                name: o.name,
                object,
            })
        })
        .collect()
}

fn decorate(object: &mut Value, owner: &Owner, namespace: Option<&str>) {
    let meta = object
        .as_object_mut()
        .expect("checked to be an object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    // Server-side apply refuses these in a request body.
    meta.remove("managedFields");
    meta.remove("resourceVersion");
    meta.remove("uid");
    meta.remove("creationTimestamp");
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(MANAGED_BY_LABEL.into(), json!("autopilot"));
        labels.insert(OPERATOR_LABEL.into(), json!(owner.operator_name));
        labels.insert(OWNER_UID_LABEL.into(), json!(owner.uid));
    }
    meta.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": owner.api_version,
            "kind": owner.kind,
            "name": owner.name,
            "uid": owner.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
}

fn api(client: &kube::Client, kind: &OutputKind, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if kind.namespaced => Api::namespaced_with(client.clone(), ns, &kind.resource),
        _ => Api::all_with(client.clone(), &kind.resource),
    }
}

/// A request about outputs the API server did not take: of which kind, and why. Named for its
/// cause by [`crate::api_failure::ApiFailure::classify`].
#[derive(Debug, thiserror::Error)]
#[error("{} {}: {source}", resource.kind, object.as_deref().unwrap_or("(list)"))]
pub struct RequestFailed {
    /// The kind the request was about.
    pub resource: ApiResource,
    /// The object's name; `None` for a list.
    pub object: Option<String>,
    /// What the client returned.
    #[source]
    pub source: kube::Error,
}

/// Applies every prepared output with server-side apply (forcing conflicts: the scheduler is the
/// objects' one owner).
///
/// # Errors
///
/// The first output the API server did not take, with its kind.
pub async fn apply(client: &kube::Client, prepared: &[Prepared]) -> Result<(), RequestFailed> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for p in prepared {
        api(client, &p.kind, p.namespace.as_deref())
            .patch(&p.name, &params, &Patch::Apply(&p.object))
            .await
            .map_err(|source| RequestFailed {
                resource: p.kind.resource.clone(),
                object: Some(p.name.clone()),
                source,
            })?;
    }
    Ok(())
}

/// Deletes objects of the given kinds owned by `owner` that are not in `keep`. Returns the
/// `kind/name` of each deleted object.
///
/// # Errors
///
/// The first list or delete the API server did not take, with its kind.
pub async fn prune(
    client: &kube::Client,
    kinds: &[OutputKind],
    owner: &Owner,
    keep: &[Prepared],
) -> Result<Vec<String>, RequestFailed> {
    let selector = format!("{OWNER_UID_LABEL}={}", owner.uid);
    let mut deleted = Vec::new();
    for kind in kinds {
        let api = api(client, kind, owner.namespace.as_deref());
        let list = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(|source| RequestFailed {
                resource: kind.resource.clone(),
                object: None,
                source,
            })?;
        for item in list.items {
            let name = item.metadata.name.clone().unwrap_or_default();
            let kept = keep.iter().any(|p| {
                p.kind == *kind && p.name == name && p.namespace == item.metadata.namespace
            });
            if kept {
                continue;
            }
            let api = match &item.metadata.namespace {
                Some(ns) => {
                    Api::<DynamicObject>::namespaced_with(client.clone(), ns, &kind.resource)
                }
                None => Api::all_with(client.clone(), &kind.resource),
            };
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => deleted.push(format!("{}/{name}", kind.resource.kind)),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(source) => {
                    return Err(RequestFailed {
                        resource: kind.resource.clone(),
                        object: Some(name),
                        source,
                    });
                }
            }
        }
    }
    Ok(deleted)
}

/// Builds an [`OutputKind`].
pub fn output_kind(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
) -> OutputKind {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    OutputKind {
        resource: ApiResource::from_gvk_with_plural(&gvk, plural),
        namespaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(ns: Option<&str>) -> Owner {
        Owner {
            api_version: "example.com/v1".into(),
            kind: "Canary".into(),
            name: "c1".into(),
            uid: "u-1".into(),
            namespace: ns.map(str::to_string),
            operator_name: "canary-operator".into(),
        }
    }

    fn declared() -> Vec<OutputKind> {
        vec![
            output_kind("", "v1", "ConfigMap", "configmaps", true),
            output_kind(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRole",
                "clusterroles",
                false,
            ),
        ]
    }

    #[test]
    fn outputs_are_decorated() {
        let raw = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"x":"y"},"resourceVersion":"5"},"data":{"k":"v"}}"#;
        let p = prepare("P", &[raw.to_vec()], &declared(), &owner(Some("ns"))).unwrap();
        let o = &p[0].object;
        assert_eq!(p[0].namespace.as_deref(), Some("ns"));
        assert_eq!(o["metadata"]["namespace"], "ns");
        assert_eq!(o["metadata"]["labels"]["x"], "y");
        assert_eq!(o["metadata"]["labels"][OWNER_UID_LABEL], "u-1");
        assert_eq!(o["metadata"]["labels"][OPERATOR_LABEL], "canary-operator");
        assert_eq!(o["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(o["metadata"]["ownerReferences"][0]["controller"], true);
        assert!(o["metadata"].get("resourceVersion").is_none());
        assert_eq!(o["data"]["k"], "v");
    }

    #[test]
    fn bad_outputs_are_refused() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("{nope", Some("ns"), "InvalidOutput"),
            ("[1]", Some("ns"), "InvalidOutput"),
            (
                r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#,
                Some("ns"),
                "InvalidOutput",
            ),
            (
                r#"{"apiVersion":"v1","metadata":{"name":"a"}}"#,
                Some("ns"),
                "InvalidOutput",
            ),
            (
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#,
                Some("ns"),
                "InvalidOutput",
            ),
            (
                r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}"#,
                Some("ns"),
                "UndeclaredOutput",
            ),
            (
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"other"}}"#,
                Some("ns"),
                "InvalidOutput",
            ),
            (
                r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"a"}}"#,
                Some("ns"),
                "InvalidOutput",
            ),
            (
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#,
                None,
                "InvalidOutput",
            ),
        ];
        for (raw, ns, reason) in cases {
            let err =
                prepare("P", &[raw.as_bytes().to_vec()], &declared(), &owner(*ns)).unwrap_err();
            assert_eq!(err.reason(), *reason, "{raw}: {err}");
        }
        let dup = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#.to_vec();
        let err = prepare("P", &[dup.clone(), dup], &declared(), &owner(Some("ns"))).unwrap_err();
        assert!(matches!(err, OutputError::Duplicate { index: 1, .. }));
        let err = prepare(
            "P",
            &[br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}"#.to_vec()],
            &declared(),
            &owner(Some("ns")),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("phase P does not declare"),
            "{err}"
        );
    }

    #[test]
    fn cluster_scoped_owner_may_place_namespaced_outputs_explicitly() {
        let raw =
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"x"}}"#;
        let p = prepare("P", &[raw.to_vec()], &declared(), &owner(None)).unwrap();
        assert_eq!(p[0].namespace.as_deref(), Some("x"));
    }
}
