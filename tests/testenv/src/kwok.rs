//! kwok, which simulates nodes and the pods bound to them: the fake Nodes it manages and what
//! shows it is running. With kube-scheduler and kube-controller-manager, Deployments then get
//! pods that are scheduled, `Running` and `Ready`, without a kubelet or containers.

use std::path::Path;

use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::Error;

/// The annotation kwok selects the Nodes it manages by (`--manage-nodes-with-annotation-selector`).
pub const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";

/// The names of the fake Nodes [`Builder::with_kwok`](crate::Builder::with_kwok) creates.
pub const KWOK_NODES: [&str; 2] = ["kwok-node-0", "kwok-node-1"];

/// The field manager that creates the fake Nodes.
const MANAGER: &str = "autopilot-testenv";

/// kwok's configuration file: given explicitly so a `~/.kwok/kwok.yaml` of the user's is not
/// read. No Stages are configured, so kwok uses its built-in ones: nodes become Ready and keep
/// a heartbeat; pods get an IP and become Running and Ready; deleted pods go away.
const CONFIG: &str = "apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
";

/// kwok's command line.
pub(crate) fn args(kubeconfig: &Path, dir: &Path) -> Result<Vec<String>, Error> {
    let config = dir.join("kwok.yaml");
    std::fs::write(&config, CONFIG).map_err(Error::filesystem("writing", &config))?;
    Ok(vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--config={}", config.display()),
        "--manage-all-nodes=false".to_owned(),
        format!("--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake"),
        // Leases as a kubelet keeps them, so the node lifecycle controller sees live nodes.
        "--node-lease-duration-seconds=40".to_owned(),
        // Pod IPs apart from the Service range of kube-apiserver (10.0.0.0/24).
        "--cidr=10.244.0.1/16".to_owned(),
    ])
}

/// Creates (or updates) the fake Nodes: annotated for kwok, with room for many pods.
pub(crate) async fn create_nodes(client: &Client) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in KWOK_NODES {
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
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            },
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
