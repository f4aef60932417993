//! `ap deploy` and `ap undeploy`: the generated manifests on a cluster, through the
//! Kubernetes API with server-side apply (no kubectl).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use autopilot_model::Model;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PropagationPolicy,
};
use kube::discovery::{ApiCapabilities, Scope};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

mod rollout;

/// The field manager of every server-side apply by `ap`.
pub(crate) const FIELD_MANAGER: &str = "ap";
/// The label every object `ap deploy` creates carries, with the value [`MANAGED_BY_VALUE`].
pub(crate) const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// See [`MANAGED_BY`].
pub(crate) const MANAGED_BY_VALUE: &str = "ap";
/// The label naming the operator an object belongs to.
pub(crate) const PART_OF: &str = "app.kubernetes.io/part-of";

/// Where to find the cluster.
#[derive(Debug, clap::Args)]
pub(crate) struct ClusterArgs {
    /// Kubeconfig file; without it, KUBECONFIG, ~/.kube/config or the in-cluster config.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
}

impl ClusterArgs {
    pub(crate) async fn client(&self) -> anyhow::Result<Client> {
        let config = crate::kube_util::config(self.kubeconfig.as_deref()).await?;
        Ok(Client::try_from(config)?)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    /// The project directory (after `ap generate`).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Namespace of the scheduler and the workers (default: the one of `ap generate
    /// --namespace`); created when absent.
    #[arg(long, short)]
    namespace: Option<String>,
    /// Worker image: `IMAGE` when the project has one worker, else `WORKER=IMAGE`; repeatable.
    #[arg(long, value_name = "[WORKER=]IMAGE")]
    image: Vec<String>,
    /// The autopilot-scheduler image.
    #[arg(long, value_name = "IMAGE")]
    scheduler_image: Option<String>,
    /// Do not wait for the Deployments to roll out (a cluster without nodes, such as `ap cluster
    /// up`, never starts pods).
    #[arg(long)]
    no_wait: bool,
    /// Grant the scheduler its rules cluster-wide with a ClusterRole and let it watch every
    /// namespace (or those of autopilot-operator.yaml). The default.
    #[arg(long, conflicts_with = "namespaced")]
    cluster_scoped: bool,
    /// Grant the scheduler its rules in --namespace only, with a Role and RoleBinding, and have
    /// it watch that namespace alone (--namespaces=<namespace>).
    #[arg(long)]
    namespaced: bool,
    /// Send everything to the API server as a dry run (validated and defaulted, not stored).
    #[arg(long)]
    dry_run: bool,
    /// How long to wait for the rollout.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UndeployArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Namespace given to `ap deploy`.
    #[arg(long, short)]
    namespace: Option<String>,
    /// Also delete every custom resource of the operator's kind and the CRD.
    #[arg(long)]
    all: bool,
    /// How long to wait until everything is gone.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Where the scheduler's RBAC applies and so which namespaces it watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RbacScope {
    /// A ClusterRole and ClusterRoleBinding (deploy/rbac.yaml as generated).
    Cluster,
    /// A Role and RoleBinding in the deploy namespace, which the scheduler watches alone.
    Namespaced,
}

/// One object to apply, with where it goes.
struct Object {
    value: Value,
}

impl Object {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    fn gvk(&self) -> GroupVersionKind {
        let (group, version) = self
            .api_version()
            .split_once('/')
            .unwrap_or(("", self.api_version()));
        GroupVersionKind::gvk(group, version, self.kind())
    }
    fn describe(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }
}

pub(crate) fn load(dir: &Path) -> anyhow::Result<Model> {
    let file = dir.join(autopilot_model::PROJECT_FILE_NAME);
    if !file.exists() {
        bail!(
            "{} has no {} (run `ap init NAME` to create a project, or point at one with its directory)",
            dir.display(),
            autopilot_model::PROJECT_FILE_NAME
        );
    }
    autopilot_model::load_dir(dir).map_err(|diagnostics| {
        anyhow::anyhow!(
            "{}",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn read_manifest(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (run `ap generate` first)", path.display()))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(docs.into_iter().filter(|d| d.is_object()).collect())
}

/// Everything `ap deploy` applies, in order: the namespace, the CRD, RBAC, the ConfigMap, the
/// scheduler and the separate workers.
pub(crate) struct Plan {
    operator: String,
    namespace: String,
    objects: Vec<Object>,
}

impl Plan {
    pub(crate) fn build(
        dir: &Path,
        namespace: Option<&str>,
        images: &[String],
        scheduler_image: Option<&str>,
        scope: Option<RbacScope>,
    ) -> anyhow::Result<Self> {
        let model = load(dir)?;
        let operator = model.project.operator_name.clone();
        let deploy = dir.join("deploy");
        let mut docs = read_manifest(&deploy.join("crd.yaml"))?;
        let rbac = read_manifest(&deploy.join("rbac.yaml"))?;
        let generated_namespace = rbac
            .iter()
            .find(|d| d["kind"] == "ServiceAccount")
            .and_then(|d| d["metadata"]["namespace"].as_str())
            .unwrap_or("default")
            .to_owned();
        let namespace = namespace.map_or(generated_namespace, str::to_owned);
        match scope {
            Some(RbacScope::Cluster) => docs.extend(rbac),
            Some(RbacScope::Namespaced) => {
                let watched = &model.operator.namespaces;
                if !watched.is_empty() && watched != std::slice::from_ref(&namespace) {
                    bail!(
                        "--namespaced: autopilot-operator.yaml watches {}, but a namespaced scheduler \
                         may only watch {namespace}; remove `namespaces` or use --cluster-scoped",
                        watched.join(", ")
                    );
                }
                docs.extend(rbac.into_iter().map(namespaced_rbac));
            }
            // Undeploying: whichever of the two is there.
            None => {
                docs.extend(
                    rbac.iter()
                        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
                        .cloned()
                        .map(namespaced_rbac),
                );
                docs.extend(rbac);
            }
        }
        let project_text = std::fs::read_to_string(dir.join("autopilot.yaml"))?;
        let operator_text =
            std::fs::read_to_string(dir.join("autopilot-operator.yaml")).unwrap_or_default();
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("{operator}-config")},
            "data": {"autopilot.yaml": project_text, "autopilot-operator.yaml": operator_text},
        }));
        docs.extend(read_manifest(&deploy.join("scheduler.yaml"))?);
        if deploy.join("workers.yaml").is_file() {
            docs.extend(read_manifest(&deploy.join("workers.yaml"))?);
        }

        let images = worker_images(&model, images)?;
        let mut objects = vec![Object {
            value: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        }];
        for mut value in docs {
            let kind = value["kind"].as_str().unwrap_or_default().to_owned();
            let metadata = value["metadata"].as_object_mut().context("no metadata")?;
            if !is_cluster_scoped(&kind) {
                metadata.insert("namespace".into(), json!(namespace));
            }
            if (kind == "ClusterRoleBinding" || kind == "RoleBinding")
                && let Some(subjects) = value["subjects"].as_array_mut()
            {
                for s in subjects {
                    s["namespace"] = json!(namespace);
                }
            }
            let deployment_worker = value["metadata"]["name"].as_str().map(str::to_owned);
            if kind == "Deployment"
                && let Some(containers) =
                    value["spec"]["template"]["spec"]["containers"].as_array_mut()
            {
                for c in containers {
                    let name = c["name"].as_str().unwrap_or_default().to_owned();
                    if name == "scheduler" {
                        if let Some(image) = scheduler_image {
                            c["image"] = json!(image);
                        }
                        if scope == Some(RbacScope::Namespaced)
                            && let Some(args) = c["args"].as_array_mut()
                        {
                            args.push(json!(format!("--namespaces={namespace}")));
                        }
                    } else {
                        let worker = if name == "worker" {
                            deployment_worker.clone().unwrap_or_default()
                        } else {
                            name
                        };
                        if let Some(image) = images.get(&worker) {
                            c["image"] = json!(image);
                        }
                    }
                }
            }
            objects.push(Object { value });
        }
        for object in &mut objects {
            let metadata = &mut object.value["metadata"];
            if !metadata["labels"].is_object() {
                metadata["labels"] = json!({});
            }
            metadata["labels"][MANAGED_BY] = json!(MANAGED_BY_VALUE);
            metadata["labels"][PART_OF] = json!(operator);
            // The pod templates carry the labels as well, so `ap logs` finds the pods.
            if object.value["kind"] == "Deployment" {
                let labels = &mut object.value["spec"]["template"]["metadata"]["labels"];
                labels[MANAGED_BY] = json!(MANAGED_BY_VALUE);
                labels[PART_OF] = json!(operator);
            }
        }
        Ok(Self {
            operator,
            namespace,
            objects,
        })
    }
}

/// The namespaced form of a document of deploy/rbac.yaml: a ClusterRole becomes a Role and a
/// ClusterRoleBinding a RoleBinding to it (the namespace is set with every other object's);
/// anything else is unchanged.
fn namespaced_rbac(mut doc: Value) -> Value {
    match doc["kind"].as_str() {
        Some("ClusterRole") => doc["kind"] = json!("Role"),
        Some("ClusterRoleBinding") => {
            doc["kind"] = json!("RoleBinding");
            doc["roleRef"]["kind"] = json!("Role");
        }
        _ => {}
    }
    doc
}

/// Whether `kind`, one of those `ap generate` writes, is cluster-scoped.
fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding" | "Namespace"
    )
}

fn worker_images(model: &Model, images: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let workers: Vec<&str> = model
        .project
        .workers
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    let mut out = BTreeMap::new();
    for image in images {
        match image.split_once('=') {
            Some((worker, image)) => {
                if !workers.contains(&worker) {
                    bail!(
                        "--image {worker}=…: no worker named {worker} (workers: {})",
                        workers.join(", ")
                    );
                }
                out.insert(worker.to_owned(), image.to_owned());
            }
            None if workers.len() == 1 => {
                out.insert(workers[0].to_owned(), image.clone());
            }
            None => bail!(
                "the project has {} workers: give --image WORKER=IMAGE (workers: {})",
                workers.len(),
                workers.join(", ")
            ),
        }
    }
    Ok(out)
}

async fn resolve(
    client: &Client,
    gvk: &GroupVersionKind,
) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
    kube::discovery::pinned_kind(client, gvk)
        .await
        .with_context(|| format!("finding {}/{} {}", gvk.group, gvk.version, gvk.kind))
}

fn api_for(
    client: &Client,
    resource: &ApiResource,
    caps: &ApiCapabilities,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (caps.scope.clone(), namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, resource),
        _ => Api::all_with(client.clone(), resource),
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Runtime::new()?)
}

pub(crate) fn deploy(args: &DeployArgs) -> anyhow::Result<()> {
    let plan = Plan::build(
        &args.dir,
        args.namespace.as_deref(),
        &args.image,
        args.scheduler_image.as_deref(),
        Some(if args.namespaced {
            RbacScope::Namespaced
        } else {
            RbacScope::Cluster
        }),
    )?;
    let model = load(&args.dir)?;
    runtime()?.block_on(async {
        let client = args.cluster.client().await?;
        crate::served_kinds::warn(&client, &model.project).await;
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let namespace_exists = namespaces.get_opt(&plan.namespace).await?.is_some();
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = args.dry_run;
        for object in &plan.objects {
            if args.dry_run && !namespace_exists && !is_cluster_scoped(object.kind()) {
                // Nothing namespaced can be checked in a namespace that does not exist yet.
                println!(
                    "skipped {} (dry run: namespace {} does not exist)",
                    object.describe(),
                    plan.namespace
                );
                continue;
            }
            if object.kind() == "Namespace" && namespace_exists {
                println!("namespace {} exists", plan.namespace);
                continue;
            }
            let (resource, caps) = resolve(&client, &object.gvk()).await?;
            let api = api_for(&client, &resource, &caps, Some(&plan.namespace));
            api.patch(object.name(), &params, &Patch::Apply(&object.value))
                .await
                .with_context(|| format!("applying {}", object.describe()))?;
            println!(
                "applied {}{}",
                object.describe(),
                if args.dry_run { " (dry run)" } else { "" }
            );
            if object.kind() == "CustomResourceDefinition" && !args.dry_run {
                wait_crd_established(&client, object.name()).await?;
            }
        }
        if args.dry_run {
            return Ok(());
        }
        if args.no_wait {
            println!(
                "not waiting for the rollout (--no-wait); `ap status` and `kubectl -n {} get deploy` show it",
                plan.namespace
            );
            return Ok(());
        }
        wait_rollout(&client, &plan, args.timeout).await
    })
}

pub(crate) async fn wait_crd_established(client: &Client, name: &str) -> anyhow::Result<()> {
    wait_crd_established_within(client, name, Duration::from_secs(30)).await
}

/// Waits until the CRD `name` is Established, for at most `timeout`.
pub(crate) async fn wait_crd_established_within(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let started = Instant::now();
    loop {
        let crd = api.get(name).await?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "the CRD {name} was not Established within {}s",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the rollout of every Deployment of the plan (see [`rollout::wait`]).
async fn wait_rollout(client: &Client, plan: &Plan, timeout: Duration) -> anyhow::Result<()> {
    let names: Vec<&str> = plan
        .objects
        .iter()
        .filter(|o| o.kind() == "Deployment")
        .map(Object::name)
        .collect();
    rollout::wait(client, &plan.namespace, &names, timeout).await
}

pub(crate) fn undeploy(args: &UndeployArgs) -> anyhow::Result<()> {
    let plan = Plan::build(&args.dir, args.namespace.as_deref(), &[], None, None)?;
    let model = load(&args.dir)?;
    runtime()?.block_on(async {
        let client = args.cluster.client().await?;
        if args.all {
            delete_custom_resources(&client, &model, args.timeout).await?;
        }
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..DeleteParams::default()
        };
        let mut pending = Vec::new();
        // Reverse order: workloads first, the namespace last.
        for object in plan.objects.iter().rev() {
            if object.kind() == "CustomResourceDefinition" && !args.all {
                println!(
                    "kept {} (use --all to delete it with every resource)",
                    object.describe()
                );
                continue;
            }
            let Ok((resource, caps)) = resolve(&client, &object.gvk()).await else {
                continue;
            };
            let api = api_for(&client, &resource, &caps, Some(&plan.namespace));
            let Some(live) = api.get_opt(object.name()).await? else {
                continue;
            };
            let labels = live.labels();
            if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE)
                || labels.get(PART_OF) != Some(&plan.operator)
            {
                println!(
                    "kept {} (not created by ap deploy of {})",
                    object.describe(),
                    plan.operator
                );
                continue;
            }
            if object.kind() == "Namespace" {
                // Everything else is gone first, so nothing of the user's is in it unless they
                // put it there; then it is kept.
                continue;
            }
            api.delete(object.name(), &dp)
                .await
                .with_context(|| format!("deleting {}", object.describe()))?;
            println!("deleting {}", object.describe());
            pending.push((api, object.describe(), object.name().to_owned()));
        }
        wait_gone(&pending, args.timeout).await?;
        if let Some(ns) = plan.objects.iter().find(|o| o.kind() == "Namespace") {
            delete_namespace_if_ours(&client, &plan, ns.name(), args.timeout).await?;
        }
        println!("undeployed {}", plan.operator);
        Ok(())
    })
}

async fn wait_gone(
    pending: &[(Api<DynamicObject>, String, String)],
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for (api, what, name) in pending {
        while api.get_opt(name).await?.is_some() {
            if started.elapsed() > timeout {
                bail!(
                    "{what} was still there after {}",
                    humantime::format_duration(timeout)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

async fn delete_namespace_if_ours(
    client: &Client,
    plan: &Plan,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    let api: Api<Namespace> = Api::all(client.clone());
    let Some(ns) = api.get_opt(name).await? else {
        return Ok(());
    };
    let labels = ns.labels();
    if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE)
        || labels.get(PART_OF) != Some(&plan.operator)
    {
        return Ok(());
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), name);
    if !pods
        .list(&ListParams::default().limit(1))
        .await?
        .items
        .is_empty()
    {
        println!("kept namespace {name}: pods not created by ap still run in it");
        return Ok(());
    }
    api.delete(name, &DeleteParams::default()).await?;
    println!("deleting Namespace/{name}");
    let started = Instant::now();
    while api.get_opt(name).await?.is_some() {
        if started.elapsed() > timeout {
            bail!(
                "Namespace/{name} was still there after {}",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

pub(crate) fn custom_resource(model: &Model) -> ApiResource {
    let project = &model.project;
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(project.group(), project.version(), &project.kind),
        &project.plural(),
    )
}

async fn delete_custom_resources(
    client: &Client,
    model: &Model,
    timeout: Duration,
) -> anyhow::Result<()> {
    let resource = custom_resource(model);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return Ok(());
    };
    let mut pending = Vec::new();
    for cr in list.items {
        let ns = cr.namespace().unwrap_or_default();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
        api.delete(&cr.name_any(), &DeleteParams::default()).await?;
        println!("deleting {}/{} in {ns}", model.project.kind, cr.name_any());
        pending.push((
            api,
            format!("{}/{}", model.project.kind, cr.name_any()),
            cr.name_any(),
        ));
    }
    wait_gone(&pending, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_rbac_becomes_a_role_and_its_binding() {
        let role = namespaced_rbac(json!({"kind": "ClusterRole", "rules": []}));
        assert_eq!(role["kind"], "Role");
        let binding = namespaced_rbac(json!({
            "kind": "ClusterRoleBinding",
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "x"},
        }));
        assert_eq!(binding["kind"], "RoleBinding");
        assert_eq!(binding["roleRef"]["kind"], "Role");
        assert_eq!(
            namespaced_rbac(json!({"kind": "ServiceAccount"}))["kind"],
            "ServiceAccount"
        );
    }
}
