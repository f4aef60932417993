//! `ap deploy` waiting for the rollout, and `ap logs --cluster` reading the pods' logs, on a
//! control plane whose Deployments get pods: kube-scheduler places them on kwok's fake Nodes,
//! where they become Running and Ready, and kwok serves their containers' logs (files this
//! suite writes) through kube-apiserver's `pods/log`, as a kubelet would.
//!
//! A rollout that finishes ends `ap deploy` with progress lines and a summary; one whose pods
//! cannot be scheduled fails after `--timeout` with the Deployment and the scheduler's reason.
//! `ap logs --cluster -f` follows new lines, and the pods that start after it did.
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use autopilot_e2e::greeter::{Greeter, ap};
use autopilot_e2e::new_user::run;
use autopilot_e2e::wait;
use autopilot_testenv::{ContainerLog, ControlPlane};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};

/// `ap deploy`'s own wait: kwok makes a pod Ready within seconds, a parallel build on two cores
/// may slow that many times over.
const ROLLOUT_TIMEOUT: &str = "3m";

/// How long `ap logs -f` may take to print a line: it is on disk and followed by kwok at once.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the ReplicaSet, kube-scheduler and kwok may take to run a pod replacing a deleted
/// one (seconds when idle).
const REPLACEMENT_TIMEOUT: Duration = Duration::from_secs(90);

/// The control plane of this test binary: kube-controller-manager, kube-scheduler and kwok
/// serving logs. Started by the first test, shared by all (each in its own namespace).
async fn control_plane() -> &'static ControlPlane {
    static CONTROL_PLANE: tokio::sync::OnceCell<ControlPlane> = tokio::sync::OnceCell::const_new();
    CONTROL_PLANE
        .get_or_init(|| async {
            ControlPlane::builder()
                .with_controller_manager()
                .with_kwok_logs()
                .start()
                .await
                .expect("control plane with kube-scheduler and kwok serving logs")
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_waits_for_the_rollout_and_logs_reads_the_pods() {
    let cp = control_plane().await;
    let ns = cp.namespace("rollout").await.expect("test namespace");
    let kubeconfig = cp.kubeconfig_path();
    let tmp = tempfile::tempdir().expect("temporary directory");
    let greeter = Greeter::generate(
        &tmp.path().join("greeter"),
        kubeconfig,
        "rollout",
        ns.name(),
    );
    let operator = &greeter.operator;

    let started = Instant::now();
    let out = run(
        "ap deploy",
        &mut ap(
            kubeconfig,
            &[
                "deploy",
                greeter.dir_arg(),
                "--namespace",
                ns.name(),
                "--image",
                "registry.example/greeter:1",
                "--timeout",
                ROLLOUT_TIMEOUT,
            ],
        ),
    );
    eprintln!("ap deploy took {:?}:\n{out}", started.elapsed());
    assert!(
        out.contains(&format!(
            "waiting up to {ROLLOUT_TIMEOUT} for 1 Deployment to roll out"
        )),
        "{out}"
    );
    // A progress line per change of the Deployment, ending with every replica available.
    let progress: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('[') && l.contains(&format!("] Deployment/{operator}: ")))
        .collect();
    assert!(!progress.is_empty(), "no progress line in:\n{out}");
    assert!(
        progress
            .last()
            .is_some_and(|l| l.ends_with("1/1 ready, 1/1 updated, 1/1 available")),
        "the last progress line shows the final state:\n{out}"
    );
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("rolled out in ")
            && summary.ends_with(&format!("Deployment/{operator} 1/1 available")),
        "{out}"
    );
    let deployments: Api<Deployment> = Api::namespaced(cp.client(), ns.name());
    let status = deployments
        .get(operator)
        .await
        .expect("reading the scheduler's Deployment")
        .status
        .unwrap_or_default();
    assert_eq!(status.available_replicas, Some(1), "{status:?}");

    // Every container of every pod of the operator writes a line; `ap logs --cluster` prints
    // them all, each prefixed with its pod and container.
    let pods: Api<Pod> = Api::namespaced(cp.client(), ns.name());
    let list = pods
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/part-of={operator}")))
        .await
        .expect("listing the operator's pods");
    assert_eq!(list.items.len(), 1, "one pod of the scheduler's Deployment");
    let mut logs: Vec<(String, ContainerLog)> = Vec::new();
    for pod in &list.items {
        let name = pod.metadata.name.clone().expect("a pod has a name");
        for log in cp
            .serve_pod_logs(ns.name(), &name)
            .await
            .expect("kwok serving the pod's logs")
        {
            for n in 1..=2 {
                log.append(&format!("{} line {n}", log.container()))
                    .expect("writing a container log");
            }
            logs.push((name.clone(), log));
        }
    }
    let containers: Vec<&str> = logs.iter().map(|(_, l)| l.container()).collect();
    // The scheduler and its sidecar worker, named after the operator's one worker.
    assert_eq!(
        containers,
        ["scheduler", operator.as_str()],
        "the pod's containers"
    );
    let out = run(
        "ap logs --cluster",
        &mut ap(
            kubeconfig,
            &[
                "logs",
                greeter.dir_arg(),
                "--cluster",
                "--namespace",
                ns.name(),
            ],
        ),
    );
    for (pod, log) in &logs {
        let c = log.container();
        let expected = format!("{pod}/{c} | {c} line 1\n{pod}/{c} | {c} line 2\n");
        assert!(out.contains(&expected), "{expected:?} missing from:\n{out}");
    }
    assert_eq!(out.lines().count(), 4, "two lines per container:\n{out}");

    // `ap logs --cluster -f` prints what is there, then a line written after it started.
    let mut follower = ap(
        kubeconfig,
        &[
            "logs",
            greeter.dir_arg(),
            "--cluster",
            "-f",
            "-n",
            ns.name(),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .map(KilledOnDrop)
    .expect("starting ap logs --cluster -f");
    let stdout = follower.0.stdout.take().expect("stdout is piped");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let wait_for = |wanted: &str, seen: &mut Vec<String>| {
        let deadline = Instant::now() + FOLLOW_TIMEOUT;
        while !seen.iter().any(|l| l == wanted) {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "waited {FOLLOW_TIMEOUT:?} for `ap logs -f` to print {wanted:?}; it printed {seen:#?}"
                ),
            }
        }
    };
    let (pod, scheduler_log) = &logs[0];
    wait_for(&format!("{pod}/scheduler | scheduler line 2"), &mut seen);
    scheduler_log
        .append("written after ap logs -f started")
        .expect("writing the scheduler's log");
    wait_for(
        &format!("{pod}/scheduler | written after ap logs -f started"),
        &mut seen,
    );

    // A pod that starts later is followed too: the ReplicaSet replaces a deleted pod.
    pods.delete(pod, &DeleteParams::default().grace_period(0))
        .await
        .expect("deleting the scheduler's pod");
    let replacement = wait::until(
        "the scheduler's Deployment to run a replacement pod",
        REPLACEMENT_TIMEOUT,
        || async {
            let list = pods
                .list(
                    &ListParams::default().labels(&format!("app.kubernetes.io/part-of={operator}")),
                )
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .iter()
                .filter(|p| p.metadata.name.as_deref() != Some(pod.as_str()))
                .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .and_then(|p| p.metadata.name.clone())
                .ok_or_else(|| {
                    format!(
                        "pods: {:?}",
                        list.items
                            .iter()
                            .map(|p| (
                                &p.metadata.name,
                                p.status.as_ref().and_then(|s| s.phase.clone())
                            ))
                            .collect::<Vec<_>>()
                    )
                })
        },
    )
    .await;
    let new_logs = cp
        .serve_pod_logs(ns.name(), &replacement)
        .await
        .expect("kwok serving the replacement pod's logs");
    let new_scheduler = new_logs
        .iter()
        .find(|l| l.container() == "scheduler")
        .expect("the replacement pod has a scheduler container");
    new_scheduler
        .append("written by the replacement pod")
        .expect("writing the replacement's log");
    wait_for(
        &format!("{replacement}/scheduler | written by the replacement pod"),
        &mut seen,
    );
    drop(follower);
}

/// A child process killed and reaped when dropped, also when a failing test unwinds.
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_that_cannot_finish_says_why() {
    let cp = control_plane().await;
    let ns = cp.namespace("stuck").await.expect("test namespace");
    let kubeconfig = cp.kubeconfig_path();
    let tmp = tempfile::tempdir().expect("temporary directory");
    let greeter = Greeter::generate(&tmp.path().join("greeter"), kubeconfig, "stuck", ns.name());
    let operator = &greeter.operator;
    // A node selector no fake Node matches: kube-scheduler leaves the pod Pending and says why.
    let manifest = greeter.dir.join("deploy/scheduler.yaml");
    let anchor = format!("      serviceAccountName: {operator}\n");
    let text = std::fs::read_to_string(&manifest).expect("reading deploy/scheduler.yaml");
    assert!(text.contains(&anchor), "{text}");
    std::fs::write(
        &manifest,
        text.replacen(
            &anchor,
            &format!("{anchor}      nodeSelector:\n        e2e.autopilot.dev/absent: \"true\"\n"),
            1,
        ),
    )
    .expect("writing deploy/scheduler.yaml");

    let started = Instant::now();
    let out = ap(
        kubeconfig,
        &[
            "deploy",
            greeter.dir_arg(),
            "--namespace",
            ns.name(),
            "--timeout",
            "10s",
        ],
    )
    .output()
    .expect("running ap deploy");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("ap deploy took {took:?}:\n{stdout}\n{stderr}");
    assert!(!out.status.success(), "ap deploy succeeded:\n{stdout}");
    assert!(
        took < Duration::from_secs(60),
        "a 10 s --timeout ended ap deploy after {took:?}"
    );
    let unschedulable =
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector";
    // While waiting, the progress line says why the pod does not start.
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(&format!("Deployment/{operator}: 0/1 ready"))
                && l.contains("not scheduled")
                && l.contains(unschedulable)),
        "{stdout}"
    );
    // The error names the Deployment, its state and the scheduler's reason.
    for expected in [
        "the rollout did not finish within 10s",
        &format!("Deployment/{operator}: 0/1 ready, 1/1 updated, 0/1 available"),
        &format!("pod {operator}-"),
        "Pending, not scheduled: Unschedulable: ",
        unschedulable,
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from:\n{stderr}"
        );
    }
}
