//! Which of the operator's resources a command reads or acts on: `NAME` or `-l SELECTOR`, in
//! `-n NAMESPACE` (default: the context's) or `-A`, through `--context` of the kubeconfig.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use autopilot_model::Model;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::{Client, ResourceExt as _};

use crate::deploy::{ClusterArgs, custom_resource, load};
use crate::kube_util::{is_not_found, readable};

/// Flags choosing resources, shared by `ap status` and the verbs.
#[derive(Debug, clap::Args)]
pub(crate) struct Selection {
    /// The resource's name (default: every resource, or those `-l` selects).
    #[arg(value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// The project directory, whose autopilot.yaml names the kind.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(long, short)]
    pub(crate) namespace: Option<String>,
    /// Every namespace.
    #[arg(long, short = 'A', conflicts_with = "namespace")]
    pub(crate) all_namespaces: bool,
    /// Label selector, e.g. `team=web,tier!=canary`.
    #[arg(long, short = 'l', conflicts_with = "name", value_name = "SELECTOR")]
    pub(crate) selector: Option<String>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "CONTEXT")]
    pub(crate) context: Option<String>,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
}

/// The project, a client and the API of the operator's kind, scoped as the flags say.
#[allow(missing_debug_implementations)] // kube's Client is not Debug
pub(crate) struct Scope {
    pub(crate) model: Model,
    pub(crate) client: Client,
    pub(crate) resource: ApiResource,
    /// `None` for every namespace.
    pub(crate) namespace: Option<String>,
    pub(crate) api: Api<DynamicObject>,
}

impl Selection {
    /// Load the project and connect.
    pub(crate) async fn scope(&self) -> anyhow::Result<Scope> {
        let model = load(&self.dir)?;
        let config = crate::kube_util::config_in(
            self.cluster.kubeconfig.as_deref(),
            self.context.as_deref(),
        )
        .await?;
        let default_namespace = config.default_namespace.clone();
        let client = Client::try_from(config)?;
        let resource = custom_resource(&model);
        let namespace = match (&self.namespace, self.all_namespaces) {
            (_, true) => None,
            (Some(ns), false) => Some(ns.clone()),
            (None, false) => Some(default_namespace),
        };
        let api = match &namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        Ok(Scope {
            model,
            client,
            resource,
            namespace,
            api,
        })
    }

    /// The list parameters of `-l`.
    pub(crate) fn list_params(&self) -> ListParams {
        match &self.selector {
            Some(s) => ListParams::default().labels(s),
            None => ListParams::default(),
        }
    }
}

impl Scope {
    /// `kind` plural and where, for messages: `canaries in namespace "web"`.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.resource.plural, self.location())
    }

    /// `in namespace "web"` or `in any namespace`.
    pub(crate) fn location(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("in namespace {ns:?}"),
            None => "in any namespace".to_owned(),
        }
    }

    /// The resources the selection names: the one called `NAME` (in all namespaces, the one
    /// of that name if only one namespace has it), else every resource `-l` selects. An absent
    /// name is an error; an empty list is not.
    pub(crate) async fn select(&self, selection: &Selection) -> anyhow::Result<Vec<DynamicObject>> {
        if let Some(name) = &selection.name {
            if self.namespace.is_some() {
                return match self.api.get(name).await {
                    Ok(object) => Ok(vec![object]),
                    Err(e) if is_not_found(&e) => {
                        self.check_crd().await?;
                        bail!(
                            "{} {name:?} not found ({})",
                            self.resource.kind,
                            self.describe()
                        )
                    }
                    Err(e) => Err(readable(e)).with_context(|| format!("reading {name}")),
                };
            }
            let all = self.list(&ListParams::default()).await?;
            let found: Vec<DynamicObject> =
                all.into_iter().filter(|o| o.name_any() == *name).collect();
            return match found.len() {
                0 => bail!("{} {name:?} not found in any namespace", self.resource.kind),
                1 => Ok(found),
                _ => bail!(
                    "{} {name:?} exists in several namespaces ({}): say which with -n",
                    self.resource.kind,
                    found
                        .iter()
                        .map(|o| o.namespace().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        }
        self.list(&selection.list_params()).await
    }

    async fn list(&self, params: &ListParams) -> anyhow::Result<Vec<DynamicObject>> {
        match self.api.list(params).await {
            Ok(list) => Ok(list.items),
            Err(e) if is_not_found(&e) => {
                self.check_crd().await?;
                Err(readable(e)).with_context(|| format!("listing {}", self.describe()))
            }
            Err(e) => Err(readable(e)).with_context(|| format!("listing {}", self.describe())),
        }
    }

    /// An error naming the CRD when the cluster does not serve the kind.
    async fn check_crd(&self) -> anyhow::Result<()> {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let name = format!("{}.{}", self.resource.plural, self.resource.group);
        match crds.get_opt(&name).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => bail!(
                "the cluster has no CustomResourceDefinition {name}: apply deploy/crd.yaml, or run `ap deploy` or `ap run`"
            ),
            // Not allowed to read CRDs: the original error says enough.
            Err(_) => Ok(()),
        }
    }
}
