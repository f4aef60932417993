//! kwok, which simulates nodes and the pods bound to them: the fake Nodes it manages and what
//! shows it is running. With kube-scheduler and kube-controller-manager, Deployments then get
//! pods that are scheduled, `Running` and `Ready`, without a kubelet or containers.
//!
//! With [`Builder::with_kwok_logs`](crate::Builder::with_kwok_logs), kwok also serves the
//! kubelet's `containerLogs` API on 127.0.0.1 and the fake Nodes point there, so kube-apiserver
//! proxies `pods/log` (`kubectl logs`, kube's `Api::<Pod>::logs`) to it; each container's log is
//! a file the test writes, see [`ContainerLog`].

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, LogParams, Patch, PatchParams};
use serde_json::json;

use crate::Error;

/// The annotation kwok selects the Nodes it manages by (`--manage-nodes-with-annotation-selector`).
pub const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";

/// The names of the fake Nodes [`Builder::with_kwok`](crate::Builder::with_kwok) creates.
pub const KWOK_NODES: [&str; 2] = ["kwok-node-0", "kwok-node-1"];

/// The field manager that creates the fake Nodes.
const MANAGER: &str = "autopilot-testenv";

/// The address of the fake Nodes when kwok serves their kubelet API: kwok listens there, and
/// kube-apiserver dials a Node's `InternalIP` and `kubeletEndpoint` port for `pods/log`.
const NODE_IP: &str = "127.0.0.1";

/// How long kwok may take to see a new `Logs` object (its informer) and serve the log; well under
/// a second on an idle machine, a few seconds under a parallel build.
const LOG_SERVED_TIMEOUT: Duration = Duration::from_secs(30);

/// kwok's API group, of its `Logs` custom resource.
const KWOK_GROUP: &str = "kwok.x-k8s.io";

/// kwok's configuration file: given explicitly so a `~/.kwok/kwok.yaml` of the user's is not
/// read. No Stages are configured, so kwok uses its built-in ones: nodes become Ready and keep
/// a heartbeat; pods get an IP and become Running and Ready; deleted pods go away.
const CONFIG: &str = "apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
";

/// kwok's command line; with `kubelet_port`, kwok also serves the kubelet API on
/// `127.0.0.1:<kubelet_port>` with its debugging handlers (`containerLogs`), taking the
/// containers' log files from `Logs` objects in the cluster (`--enable-crds=Logs`).
///
/// Without its own certificate kwok serves HTTPS with a generated one; kube-apiserver does not
/// verify kubelets without `--kubelet-certificate-authority`, so that is enough.
pub(crate) fn args(
    kubeconfig: &Path,
    dir: &Path,
    kubelet_port: Option<u16>,
) -> Result<Vec<String>, Error> {
    let config = dir.join("kwok.yaml");
    std::fs::write(&config, CONFIG).map_err(Error::filesystem("writing", &config))?;
    let mut args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--config={}", config.display()),
        "--manage-all-nodes=false".to_owned(),
        format!("--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake"),
        // Leases as a kubelet keeps them, so the node lifecycle controller sees live nodes.
        "--node-lease-duration-seconds=40".to_owned(),
        // Pod IPs apart from the Service range of kube-apiserver (10.0.0.0/24).
        "--cidr=10.244.0.1/16".to_owned(),
    ];
    if let Some(port) = kubelet_port {
        args.extend([
            format!("--server-address={NODE_IP}:{port}"),
            format!("--node-ip={NODE_IP}"),
            format!("--node-port={port}"),
            "--enable-crds=Logs".to_owned(),
        ]);
    }
    Ok(args)
}

/// Creates (or updates) the fake Nodes: annotated for kwok, with room for many pods, and with
/// `kubelet_port`, reachable at `127.0.0.1:<kubelet_port>` as their kubelet.
pub(crate) async fn create_nodes(client: &Client, kubelet_port: Option<u16>) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in KWOK_NODES {
        let mut status = json!({
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        });
        if let Some(port) = kubelet_port {
            // kwok sets these too (--node-ip, --node-port), but only while initializing a Node
            // that is not Ready: set here, a kwok restarted on another port is still reached.
            status["addresses"] = json!([{"type": "InternalIP", "address": NODE_IP}]);
            status["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": port}});
        }
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/role": "agent",
                    "type": "kwok",
                },
            },
            "status": status,
        }))
        .expect("a valid Node");
        nodes
            .patch(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&node),
            )
            .await
            .map_err(Error::kube(format!("creating the fake Node {name}")))?;
        // Status is a subresource: set the room for pods there too, whatever create kept.
        let status = json!({"status": node.status});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .map_err(Error::kube(format!(
                "setting the status of the fake Node {name}"
            )))?;
    }
    Ok(())
}

/// `Ok` when every fake Node is `Ready`, which kwok sets once it manages it; else what was seen.
pub(crate) async fn nodes_ready(client: &Client) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in KWOK_NODES {
        let node = nodes
            .get_opt(name)
            .await
            .map_err(|e| format!("GET Node {name}: {e}"))?
            .ok_or_else(|| format!("Node {name} does not exist"))?;
        let ready = node
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Ready");
        match ready {
            Some(c) if c.status == "True" => {}
            Some(c) => return Err(format!("Node {name} Ready is {}", c.status)),
            None => return Err(format!("Node {name} has no Ready condition yet")),
        }
    }
    Ok(())
}

/// kwok's `Logs` resource (one per pod: which file holds each container's log).
fn logs_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(KWOK_GROUP, "v1alpha1", "Logs"),
        "logs",
    )
}

/// Installs the CustomResourceDefinition of kwok's `Logs` (its fields as in kwok v0.7.0's own
/// CRD, without the descriptions), which kwok watches with `--enable-crds=Logs`.
pub(crate) async fn install_logs_crd(client: &Client) -> Result<(), Error> {
    let name = format!("logs.{KWOK_GROUP}");
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": KWOK_GROUP,
            "names": {"kind": "Logs", "listKind": "LogsList", "plural": "logs", "singular": "logs"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "required": ["logs"], "properties": {
                            "logs": {"type": "array", "items": {"type": "object", "properties": {
                                "containers": strings,
                                "follow": {"type": "boolean"},
                                "logsFile": {"type": "string"},
                                "previousLogsFile": {"type": "string"},
                            }}},
                        }},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    }))
    .expect("a valid CustomResourceDefinition");
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(Error::kube(format!(
            "creating the CustomResourceDefinition {name}"
        )))?;
    Ok(())
}

/// `Ok` when the CustomResourceDefinition of kwok's `Logs` is established; else what was seen.
pub(crate) async fn logs_crd_established(client: &Client) -> Result<(), String> {
    let name = format!("logs.{KWOK_GROUP}");
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get(&name)
        .await
        .map_err(|e| format!("GET CustomResourceDefinition {name}: {e}"))?;
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    if established {
        Ok(())
    } else {
        Err(format!(
            "CustomResourceDefinition {name} is not Established yet"
        ))
    }
}

/// The log of one container of a pod on a fake Node, as kwok serves it: a file in the CRI log
/// format that kubelets read, which [`append`](Self::append) adds lines to. A follower
/// (`kubectl logs -f`, `follow: true`) sees each appended line at once.
#[derive(Debug, Clone)]
pub struct ContainerLog {
    container: String,
    path: PathBuf,
}

impl ContainerLog {
    /// The container's name.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` (without its newline) as one line the container wrote to stdout.
    ///
    /// # Errors
    ///
    /// [`Error::Filesystem`] when the file cannot be written.
    pub fn append(&self, line: &str) -> Result<(), Error> {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(Error::filesystem("opening", &self.path))?;
        // `<RFC 3339 time> <stream> <F: full line> <text>`, as CRI runtimes write it.
        let now = k8s_openapi::jiff::Timestamp::now();
        writeln!(file, "{now} stdout F {line}").map_err(Error::filesystem("writing", &self.path))
    }
}

/// What [`serve_pod_logs`] needs to know of the running kwok.
pub(crate) struct KwokLogs<'a> {
    /// Where the log files go, one directory per namespace and pod.
    pub(crate) dir: &'a Path,
    /// kwok's own log, for the error when it does not serve.
    pub(crate) log: &'a Path,
}

/// Has kwok serve a log file for each container of pod `namespace/pod` (one `Logs` object
/// named after the pod) and waits until kube-apiserver returns each container's log.
pub(crate) async fn serve_pod_logs(
    client: &Client,
    kwok: &KwokLogs<'_>,
    namespace: &str,
    pod: &str,
) -> Result<Vec<ContainerLog>, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let spec = pods
        .get(pod)
        .await
        .map_err(Error::kube(format!("reading Pod {namespace}/{pod}")))?
        .spec
        .unwrap_or_default();
    let dir = kwok.dir.join(namespace).join(pod);
    std::fs::create_dir_all(&dir).map_err(Error::filesystem("creating", &dir))?;
    let containers: Vec<ContainerLog> = spec
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(spec.containers)
        .map(|c| ContainerLog {
            path: dir.join(format!("{}.log", c.name)),
            container: c.name,
        })
        .collect();
    for log in &containers {
        // An empty log is a log: kwok fails a request for a file that does not exist.
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log.path)
            .map_err(Error::filesystem("creating", &log.path))?;
    }
    let logs: Vec<_> = containers
        .iter()
        .map(|c| json!({"containers": [c.container], "logsFile": c.path, "follow": true}))
        .collect();
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{KWOK_GROUP}/v1alpha1"),
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"logs": logs},
    }))
    .expect("a valid Logs object");
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &logs_resource())
        .patch(
            pod,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(Error::kube(format!(
            "creating kwok's Logs {namespace}/{pod}"
        )))?;

    let deadline = Instant::now() + LOG_SERVED_TIMEOUT;
    for log in &containers {
        let params = LogParams {
            container: Some(log.container.clone()),
            ..LogParams::default()
        };
        loop {
            let last_result = match pods.logs(pod, &params).await {
                Ok(_) => break,
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    component: crate::Component::Kwok,
                    waited_for: format!(
                        "GET pods/{pod}/log?container={} in namespace {namespace} to return \
                         the file kwok serves",
                        log.container
                    ),
                    timeout: LOG_SERVED_TIMEOUT,
                    last_result,
                    log: kwok.log.to_owned(),
                    log_tail: crate::process::log_tail(kwok.log),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(containers)
}
