//! The cluster the scenario runs on: a private control plane from `autopilot-testenv`, or any
//! cluster a kubeconfig reaches; the `Probe` CRD and the run's own namespace.
use std::path::{Path, PathBuf};
use std::time::Duration;

use autopilot_model::Project;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use crate::error::Error;

/// How long a new CRD may take to be Established; the API server does it in about a second.
pub const CRD_TIMEOUT: Duration = Duration::from_secs(30);

/// Field manager of everything the suite applies.
pub const FIELD_MANAGER: &str = "autopilot-conformance";

/// Where the suite's cluster comes from.
pub enum Cluster {
    /// A control plane started for this run, stopped when dropped.
    Private(Box<autopilot_testenv::ControlPlane>),
    /// An existing cluster.
    Existing {
        /// Its kubeconfig file.
        kubeconfig: PathBuf,
        /// A client for it.
        client: kube::Client,
    },
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Private(cp) => f.debug_tuple("Private").field(cp).finish(),
            Self::Existing { kubeconfig, .. } => f
                .debug_struct("Existing")
                .field("kubeconfig", kubeconfig)
                .finish_non_exhaustive(),
        }
    }
}

impl Cluster {
    /// Starts a control plane (etcd, kube-apiserver, kube-controller-manager).
    ///
    /// # Errors
    ///
    /// [`Error::ControlPlane`] with testenv's reason.
    pub async fn start() -> Result<Self, Error> {
        let cp = autopilot_testenv::ControlPlane::builder()
            .with_controller_manager()
            .start()
            .await
            .map_err(|e| Error::ControlPlane(e.to_string()))?;
        Ok(Self::Private(Box::new(cp)))
    }

    /// Uses the cluster (current context) of `kubeconfig`.
    ///
    /// # Errors
    ///
    /// [`Error::ControlPlane`] when the file cannot be read or used.
    pub async fn existing(kubeconfig: &Path) -> Result<Self, Error> {
        let bad = |e: String| Error::ControlPlane(format!("{}: {e}", kubeconfig.display()));
        let file =
            kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| bad(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
            .await
            .map_err(|e| bad(e.to_string()))?;
        let client = kube::Client::try_from(config).map_err(|e| bad(e.to_string()))?;
        Ok(Self::Existing {
            kubeconfig: kubeconfig.to_path_buf(),
            client,
        })
    }

    /// A client.
    pub fn client(&self) -> kube::Client {
        match self {
            Self::Private(cp) => cp.client(),
            Self::Existing { client, .. } => client.clone(),
        }
    }

    /// The kubeconfig the scheduler is given.
    pub fn kubeconfig(&self) -> &Path {
        match self {
            Self::Private(cp) => cp.kubeconfig_path(),
            Self::Existing { kubeconfig, .. } => kubeconfig,
        }
    }
}

/// The project's kind as a kube dynamic resource.
pub fn resource(project: &Project) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(project.group(), project.version(), &project.kind),
        &project.plural(),
    )
}

/// Applies the CRD of `project` — its spec schema, a status the scheduler owns — and waits
/// until it is Established. Idempotent, so concurrent runs may share a cluster.
///
/// # Errors
///
/// [`Error::Kube`] when applying fails, [`Error::ControlPlane`] when it is not established.
pub async fn install_crd(client: &kube::Client, project: &Project) -> Result<(), Error> {
    let ar = resource(project);
    let name = format!("{}.{}", ar.plural, ar.group);
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": ar.group,
            "names": {
                "kind": ar.kind,
                "plural": ar.plural,
                "singular": ar.kind.to_lowercase(),
                "listKind": format!("{}List", ar.kind),
            },
            "scope": "Namespaced",
            "versions": [{
                "name": ar.version, "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": project.spec,
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    }))
    .map_err(|e| Error::Project(format!("the CRD does not parse: {e}")))?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(Error::kube(format!("applying the CRD {name}")))?;
    crate::wait::until(
        &format!("the CRD {name} to be Established"),
        CRD_TIMEOUT,
        || async {
            let crd = api.get(&name).await.map_err(|e| e.to_string())?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                Ok(())
            } else {
                Err("not established".to_owned())
            }
        },
    )
    .await
    .map_err(Error::ControlPlane)
}

/// Creates a namespace named `<prefix>-<unique suffix>`; returns its name.
///
/// # Errors
///
/// [`Error::Kube`] when creating it fails.
pub async fn create_namespace(client: &kube::Client, prefix: &str) -> Result<String, Error> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("{prefix}-{:x}{:05x}", std::process::id(), nanos & 0xfffff);
    let ns: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
    }))
    .map_err(|e| Error::Project(e.to_string()))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(Error::kube(format!("creating namespace {name}")))?;
    Ok(name)
}

/// Deletes the namespace (without waiting for it to go).
pub async fn delete_namespace(client: &kube::Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}
