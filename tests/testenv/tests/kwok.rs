//! kwok with kube-scheduler and kube-controller-manager: a Deployment gets pods that are
//! scheduled onto the fake Nodes and become Running and Ready.
use std::time::{Duration, Instant};

use autopilot_testenv::{Component, ControlPlane, KWOK_NODES};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};

/// Scheduling and kwok's stages take a second or two; a busy machine may take much longer.
const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn deployments_get_running_ready_pods() {
    let cp = ControlPlane::builder()
        .with_controller_manager()
        .with_kwok()
        .start()
        .await
        .expect("control plane with kwok");
    assert!(cp.pid(Component::Kwok).is_some());
    assert!(cp.pid(Component::Scheduler).is_some());
    let ns = cp.namespace("kwok").await.expect("test namespace");
    let deployments: Api<Deployment> = Api::namespaced(cp.client(), ns.name());
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}
    }))
    .expect("a valid Deployment");
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("creating Deployment web");

    let pods: Api<Pod> = Api::namespaced(cp.client(), ns.name());
    let deadline = Instant::now() + TIMEOUT;
    let (ready, pods) = loop {
        let ready = deployments
            .get("web")
            .await
            .expect("reading Deployment web")
            .status
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .expect("listing the pods of web");
        if ready == 3 {
            break (ready, list.items);
        }
        assert!(
            Instant::now() < deadline,
            "waited {TIMEOUT:?} for Deployment web to report 3 ready replicas; it reports \
             {ready}; pods: {:?}; kwok log: {:?}",
            list.items
                .iter()
                .map(|p| (
                    p.spec.as_ref().and_then(|s| s.node_name.clone()),
                    p.status.as_ref().and_then(|s| s.phase.clone())
                ))
                .collect::<Vec<_>>(),
            cp.log_path(Component::Kwok)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(ready, 3);
    assert_eq!(pods.len(), 3, "three pods, no extra ones");
    for pod in &pods {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        assert!(
            node.as_deref().is_some_and(|n| KWOK_NODES.contains(&n)),
            "pod scheduled onto a fake node: {node:?}"
        );
        let status = pod.status.clone().unwrap_or_default();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.pod_ip.is_some(), "kwok gives the pod an IP");
    }
}
