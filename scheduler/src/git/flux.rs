//! Reading what Flux applied: a Kustomization's `status.lastAppliedRevision`.

use autopilot_model::git::WaitFor;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

/// Flux's Kustomization kind.
pub fn kustomization_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    )
}

/// The revision the Kustomization last applied (`main@sha1:<sha>`), `None` when it has not
/// applied anything yet.
///
/// # Errors
///
/// The API server's error (a missing Kustomization is a 404).
pub async fn applied_revision(
    client: &kube::Client,
    wait_for: &WaitFor,
) -> Result<Option<String>, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &wait_for.namespace,
        &kustomization_resource(),
    );
    let k = api.get(&wait_for.kustomization).await?;
    Ok(k.data
        .pointer("/status/lastAppliedRevision")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}
