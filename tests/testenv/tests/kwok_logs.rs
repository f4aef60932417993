//! kwok serving the kubelet API: kube-apiserver's `pods/log` returns the lines a test writes to a
//! container's log file, and a follower sees a line appended later.
use std::time::{Duration, Instant};

use autopilot_testenv::{Component, ControlPlane};
use futures::{AsyncBufReadExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};

/// Scheduling and kwok's stages take a second or two; a busy machine may take much longer.
const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn pods_log_returns_what_the_test_writes() {
    // kube-controller-manager lifts the not-ready taint kube-apiserver gives new Nodes.
    let cp = ControlPlane::builder()
        .with_controller_manager()
        .with_kwok_logs()
        .start()
        .await
        .expect("control plane with kwok serving logs");
    let ns = cp.namespace("kwok-logs").await.expect("test namespace");
    let pods: Api<Pod> = Api::namespaced(cp.client(), ns.name());
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "talker"},
        "spec": {"containers": [
            {"name": "main", "image": "talker:1"},
            {"name": "sidecar", "image": "helper:1"},
        ]}
    }))
    .expect("a valid Pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("creating Pod talker");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let phase = pods
            .get("talker")
            .await
            .expect("reading Pod talker")
            .status
            .and_then(|s| s.phase);
        if phase.as_deref() == Some("Running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "waited {TIMEOUT:?} for Pod talker to be Running; it is {phase:?}; kwok log: {:?}",
            cp.log_path(Component::Kwok)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let logs = cp
        .serve_pod_logs(ns.name(), "talker")
        .await
        .expect("kwok serving the logs of Pod talker");
    let names: Vec<&str> = logs.iter().map(|l| l.container()).collect();
    assert_eq!(names, ["main", "sidecar"]);
    for log in &logs {
        for n in 1..=2 {
            log.append(&format!("{} line {n}", log.container()))
                .expect("appending to a container log");
        }
    }
    for log in &logs {
        let params = LogParams {
            container: Some(log.container().to_owned()),
            ..LogParams::default()
        };
        let text = pods
            .logs("talker", &params)
            .await
            .expect("GET pods/talker/log");
        let c = log.container();
        assert_eq!(text, format!("{c} line 1\n{c} line 2\n"), "log of {c}");
    }

    // A follower gets the existing lines, then one appended after it started.
    let params = LogParams {
        container: Some("main".to_owned()),
        follow: true,
        ..LogParams::default()
    };
    let mut lines = pods
        .log_stream("talker", &params)
        .await
        .expect("GET pods/talker/log?follow=true")
        .lines();
    let mut seen = Vec::new();
    let read = async {
        while seen.len() < 2 {
            seen.push(
                lines
                    .try_next()
                    .await
                    .expect("reading the log")
                    .expect("a line"),
            );
        }
        logs[0]
            .append("appended later")
            .expect("appending to main's log");
        lines
            .try_next()
            .await
            .expect("reading the log")
            .expect("a line")
    };
    let later = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the follower to see the line appended after it started, within 30 s");
    assert_eq!(later, "appended later");
}
