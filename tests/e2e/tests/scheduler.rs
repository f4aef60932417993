//! The scheduler against a real kube-apiserver, with a worker over real gRPC.
use std::time::Duration;

use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::Value;

const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

async fn wait_phase(
    client: &kube::Client,
    ns: &str,
    name: &str,
    phase: &str,
    timeout: Duration,
) -> Value {
    wait::until(
        &format!("Task {ns}/{name} to reach phase {phase}"),
        timeout,
        || async {
            let s = task_status(client, ns, name).await;
            if s["phase"] == phase {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await
}

async fn wait_condition(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
    reason: &str,
) -> Value {
    wait::until(
        &format!("Task {ns}/{name} to have condition {type_} with reason {reason}"),
        PHASE_TIMEOUT,
        || async {
            let s = task_status(client, ns, name).await;
            match condition(&s, type_) {
                Some(c) if c["reason"] == reason => Ok(s),
                _ => Err(s.to_string()),
            }
        },
    )
    .await
}

struct Setup {
    client: kube::Client,
    ns: autopilot_testenv::TestNamespace,
    worker: ScriptedWorker,
    dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
}

async fn setup(prefix: &str) -> Setup {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace(prefix).await.expect("namespace");
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), THREE_PHASES, &endpoint, "");
    let kubeconfig = cp.kubeconfig_path().to_path_buf();
    Setup {
        client,
        ns,
        worker,
        dir,
        kubeconfig,
    }
}

impl Setup {
    fn start(&self) -> SchedulerProcess {
        SchedulerProcess::start(self.dir.path(), &self.kubeconfig, self.ns.name(), &[])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_phases_with_outputs_status_and_events() {
    let s = setup("three").await;
    let _sched = s.start();
    let ns = s.ns.name();
    create_task(&s.client, ns, "alpha", "ok").await;
    let status = wait_phase(&s.client, ns, "alpha", "Finished", PHASE_TIMEOUT).await;

    // Status: phase, observedGeneration, statusInfo from the worker, conditions.
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["attempt"], 0);
    assert_eq!(status["statusInfo"]["processed"], true);
    assert_eq!(
        status["statusInfo"]["configMapsSeen"], 1,
        "Processing saw the ConfigMap input"
    );
    assert_eq!(condition(&status, "Ready").unwrap()["status"], "True");
    assert_eq!(
        condition(&status, "Progressing").unwrap()["status"],
        "False"
    );
    assert_eq!(
        condition(&status, "WorkerError").unwrap()["status"],
        "False"
    );
    let healthy = condition(&status, "Healthy").expect("worker's condition");
    assert_eq!(healthy["status"], "True");
    assert!(
        healthy["lastTransitionTime"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    // Output: applied, owned by the Task, labelled.
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    let cm = cms
        .get("alpha-config")
        .await
        .expect("output ConfigMap exists");
    let owner = &cm
        .metadata
        .owner_references
        .as_ref()
        .expect("ownerReferences")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Task", "alpha", Some(true))
    );
    let labels = cm.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("autopilot.dev/operator").map(String::as_str),
        Some("task-operator")
    );
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("autopilot")
    );
    assert_eq!(cm.data.unwrap()["processed"], "true");
    let managers: Vec<String> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"autopilot".to_string()),
        "applied under the autopilot field manager: {managers:?}"
    );

    // Every phase ran once, in order, with a traceparent and the declared inputs.
    assert_eq!(
        s.worker.phases(&format!("{ns}/alpha")),
        vec!["Initializing", "Processing"]
    );
    let calls = s.worker.calls(&format!("{ns}/alpha"));
    assert!(calls.iter().all(|c| {
        c.traceparent
            .as_deref()
            .is_some_and(|t| t.starts_with("00-"))
    }));
    assert_eq!(
        calls
            .iter()
            .find(|c| c.method == "Sync:Processing")
            .unwrap()
            .inputs,
        vec!["configmaps"]
    );

    // Events: the worker's own and the phase changes.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(s.client.clone(), ns);
    wait::until("Events for Task alpha", Duration::from_secs(20), || async {
        let list = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let reasons: Vec<String> = list.items.iter().filter_map(|e| e.reason.clone()).collect();
        if reasons.contains(&"Initialized".to_string())
            && reasons.iter().filter(|r| *r == "PhaseChanged").count() >= 2
        {
            Ok(reasons)
        } else {
            Err(format!("{reasons:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_workers_end_in_documented_states_while_others_progress() {
    let s = setup("failures").await;
    let mut sched = s.start();
    let ns = s.ns.name();
    for (name, behavior) in [
        ("flaky", "unavailable-twice"),
        ("invalid", "invalid"),
        ("slow", "slow"),
        ("undeclared", "undeclared"),
        ("garbage", "garbage"),
        ("badnext", "bad-next"),
        ("fine", "ok"),
    ] {
        create_task(&s.client, ns, name, behavior).await;
    }

    // UNAVAILABLE twice, then success: retried with backoff, reaches the end.
    let flaky = wait_phase(&s.client, ns, "flaky", "Finished", PHASE_TIMEOUT).await;
    let attempts: Vec<u32> = s
        .worker
        .calls(&format!("{ns}/flaky"))
        .iter()
        .filter(|c| c.method == "Sync:Initializing")
        .map(|c| c.attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3], "two retries then success");
    assert_eq!(condition(&flaky, "WorkerError").unwrap()["status"], "False");

    // The healthy one is not held up by the broken ones.
    wait_phase(&s.client, ns, "fine", "Finished", PHASE_TIMEOUT).await;

    // Permanent error: condition with the code, stays in its phase.
    let st = wait_condition(&s.client, ns, "invalid", "WorkerError", "InvalidArgument").await;
    assert_eq!(st["phase"], "Initializing");
    assert!(
        condition(&st, "WorkerError").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("spec.behavior says invalid")
    );
    assert_eq!(condition(&st, "Progressing").unwrap()["reason"], "Blocked");

    // Timeout: DeadlineExceeded, retried.
    let st = wait_condition(&s.client, ns, "slow", "WorkerError", "DeadlineExceeded").await;
    assert_eq!(st["phase"], "Initializing");
    assert_eq!(condition(&st, "Progressing").unwrap()["reason"], "Retrying");

    // Undeclared kind: refused whole — not even the declared ConfigMap of that response exists.
    let st = wait_condition(
        &s.client,
        ns,
        "undeclared",
        "WorkerError",
        "UndeclaredOutput",
    )
    .await;
    assert_eq!(st["phase"], "Initializing");
    assert!(
        condition(&st, "WorkerError").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("Secret")
    );
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    assert!(
        cms.get_opt("undeclared-config").await.unwrap().is_none(),
        "nothing of a refused response is applied"
    );

    // Garbage JSON and an unknown next phase: conditions, no crash.
    let st = wait_condition(&s.client, ns, "garbage", "WorkerError", "InvalidOutput").await;
    assert_eq!(st["phase"], "Initializing");
    let st = wait_condition(&s.client, ns, "badnext", "WorkerError", "InvalidNextPhase").await;
    assert_eq!(st["phase"], "Initializing");

    // The scheduler is still alive and serving.
    assert!(
        sched.child.try_wait().unwrap().is_none(),
        "scheduler exited:\n{}",
        sched.log_text()
    );
    create_task(&s.client, ns, "after", "ok").await;
    wait_phase(&s.client, ns, "after", "Finished", PHASE_TIMEOUT).await;
    sched.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_resumes_every_resource_without_skipping_a_phase() {
    let s = setup("restart").await;
    let ns = s.ns.name().to_string();
    let mut first = s.start();
    let names: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    for n in &names {
        create_task(&s.client, &ns, n, "ok").await;
    }
    // Kill as soon as some, but not necessarily all, have moved.
    wait::until(
        "some Tasks to leave their initial phase",
        PHASE_TIMEOUT,
        || async {
            let mut moved = 0;
            for n in &names {
                if task_status(&s.client, &ns, n).await["phase"]
                    .as_str()
                    .is_some_and(|p| !p.is_empty())
                {
                    moved += 1;
                }
            }
            if moved > 0 {
                Ok(())
            } else {
                Err("none moved yet".into())
            }
        },
    )
    .await;
    first.kill().await;

    let _second = s.start();
    for n in &names {
        wait_phase(&s.client, &ns, n, "Finished", PHASE_TIMEOUT).await;
        let phases = s.worker.phases(&format!("{ns}/{n}"));
        assert_eq!(
            phases,
            vec!["Initializing", "Processing"],
            "{n} ran every phase, in order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_resources_created_at_once_all_finish() {
    let s = setup("many").await;
    let _sched = s.start();
    let ns = s.ns.name().to_string();
    let creates = (0..200).map(|i| {
        let client = s.client.clone();
        let ns = ns.clone();
        async move { create_task(&client, &ns, &format!("t{i}"), "ok").await }
    });
    futures::future::join_all(creates).await;
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(s.client.clone(), &ns, &project::task_resource());
    wait::until(
        "all 200 Tasks to reach Finished",
        Duration::from_secs(180),
        || async {
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let done = list
                .items
                .iter()
                .filter(|o| o.data["status"]["phase"] == "Finished")
                .count();
            if done == 200 {
                Ok(())
            } else {
                Err(format!("{done}/200 finished"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_outputs_are_pruned_when_the_phase_asks() {
    let s = setup("prune").await;
    let _sched = s.start();
    let ns = s.ns.name();
    create_task(&s.client, ns, "swap", "replace").await;
    wait_phase(&s.client, ns, "swap", "Finished", PHASE_TIMEOUT).await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    assert!(
        cms.get_opt("swap-replacement").await.unwrap().is_some(),
        "the new output exists"
    );
    wait::until(
        "swap-config to be pruned",
        Duration::from_secs(20),
        || async {
            match cms
                .get_opt("swap-config")
                .await
                .map_err(|e| e.to_string())?
            {
                None => Ok(()),
                Some(cm) => Err(format!(
                    "still there (deleting: {:?})",
                    cm.metadata.deletion_timestamp
                )),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_a_unix_socket_drives_resources() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("unix").await.expect("namespace");
    let dir = tempfile::tempdir().unwrap();
    let worker = ScriptedWorker::default();
    let endpoint = worker.serve_unix(&dir.path().join("worker.sock")).await;
    project::write(&dir.path().join("project"), THREE_PHASES, &endpoint, "");
    let _sched = SchedulerProcess::start(
        &dir.path().join("project"),
        cp.kubeconfig_path(),
        ns.name(),
        &[],
    );
    create_task(&client, ns.name(), "sock", "ok").await;
    wait_phase(&client, ns.name(), "sock", "Finished", PHASE_TIMEOUT).await;
    assert_eq!(
        worker.phases(&format!("{}/sock", ns.name())),
        vec!["Initializing", "Processing"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_no_worker_serves_stops_the_scheduler_with_a_clear_error() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    // The scripted worker serves Initializing and Processing, not Reviewing.
    let project = THREE_PHASES.replace(
        "  - name: Finished\n",
        "  - name: Reviewing\n  - name: Finished\n",
    );
    project::write(dir.path(), &project, &endpoint, "");
    let mut sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), "default", &[]);
    let status = tokio::time::timeout(Duration::from_secs(30), sched.child.wait())
        .await
        .expect("the scheduler to exit on a handshake mismatch within 30s")
        .unwrap();
    assert!(!status.success());
    let log = sched.log_text();
    assert!(
        log.contains("phase Reviewing is assigned to the worker at") && log.contains(&endpoint),
        "log names the phase and the endpoint:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_project_is_refused_with_every_error() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let dir = tempfile::tempdir().unwrap();
    let broken = THREE_PHASES
        .replace("operatorName: task-operator", "operatorName: Task_Operator")
        .replace(
            "    outputs: [configmaps]\n    prune: true",
            "    outputs: [metrics]",
        );
    project::write(dir.path(), &broken, "http://127.0.0.1:1", "");
    let mut sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), "default", &[]);
    let status = tokio::time::timeout(Duration::from_secs(30), sched.child.wait())
        .await
        .expect("the scheduler to exit on an invalid project within 30s")
        .unwrap();
    assert!(!status.success());
    let log = sched.log_text();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("autopilot.yaml:"))
        .collect();
    assert!(
        errors.len() >= 2,
        "every error is printed, each with file:line:column:\n{log}"
    );
    assert!(errors.iter().any(|l| l.contains("operatorName")), "{log}");
    assert!(errors.iter().any(|l| l.contains("metrics")), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_call_in_flight_finish_and_its_result_land() {
    let s = setup("sigterm").await;
    let mut sched = s.start();
    let ns = s.ns.name();
    create_task(&s.client, ns, "lingering", "linger").await;
    let key = format!("{ns}/lingering");
    wait::until(
        "the worker to receive the Initializing call",
        PHASE_TIMEOUT,
        || async {
            if s.worker.calls(&key).is_empty() {
                Err("no call yet".into())
            } else {
                Ok(())
            }
        },
    )
    .await;
    let pid = sched.child.id().expect("scheduler pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), sched.child.wait())
        .await
        .expect("the scheduler to exit within its grace period after SIGTERM")
        .unwrap();
    assert!(
        status.success(),
        "clean exit after SIGTERM:\n{}",
        sched.log_text()
    );
    // The call that was in flight finished and its result was written before exiting.
    let st = task_status(&s.client, ns, "lingering").await;
    assert_eq!(
        st["phase"],
        "Processing",
        "in-flight result landed: {st}\n{}",
        sched.log_text()
    );
    assert!(
        sched.log_text().contains("shutting down"),
        "{}",
        sched.log_text()
    );
}

/// A CA and a serving certificate for `localhost`, as PEM: (ca, cert, key).
fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_behind_tls_is_verified_against_the_configured_ca() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("tls").await.expect("namespace");
    let (ca, cert, key) = test_pki();
    let worker = ScriptedWorker::default();
    let endpoint = worker.serve_tls(&cert, &key).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    project::write(dir.path(), THREE_PHASES, &endpoint, "");
    let operator = std::fs::read_to_string(dir.path().join("autopilot-operator.yaml"))
        .unwrap()
        .replace(
            "  deadline: 2s\n",
            &format!(
                "  deadline: 2s\n  tls:\n    caFile: {}\n",
                ca_file.display()
            ),
        );
    std::fs::write(dir.path().join("autopilot-operator.yaml"), operator).unwrap();
    let _sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), ns.name(), &[]);
    create_task(&client, ns.name(), "secure", "ok").await;
    wait_phase(&client, ns.name(), "secure", "Finished", PHASE_TIMEOUT).await;

    // Without the CA the same worker is refused: the handshake never completes.
    let untrusted = tempfile::tempdir().unwrap();
    project::write(untrusted.path(), THREE_PHASES, &endpoint, "");
    let mut refused = SchedulerProcess::start(
        untrusted.path(),
        cp.kubeconfig_path(),
        ns.name(),
        &["--startup-timeout", "3s"],
    );
    let status = tokio::time::timeout(Duration::from_secs(30), refused.child.wait())
        .await
        .expect("the scheduler to give up on an untrusted worker within 30s")
        .unwrap();
    assert!(!status.success());
    assert!(
        refused.log_text().contains("did not answer Describe"),
        "{}",
        refused.log_text()
    );
}
