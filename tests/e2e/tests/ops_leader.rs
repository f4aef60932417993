//! Leader election between two scheduler processes on a real kube-apiserver.
use std::time::Duration;

use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

const TIMEOUT: Duration = Duration::from_secs(60);
const LEASE_DURATION: Duration = Duration::from_secs(4);
const RETRY_PERIOD: Duration = Duration::from_millis(500);

async fn holder(leases: &Api<Lease>, name: &str) -> Option<String> {
    leases
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn all_finished(client: &kube::Client, ns: &str, names: &[String]) {
    for name in names {
        wait::until(&format!("Task {name} to finish"), TIMEOUT, || async {
            let st = task_status(client, ns, name).await;
            if st["phase"] == "Finished" {
                Ok(())
            } else {
                Err(st.to_string())
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_the_standby_takes_over_after_sigkill() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("ops-leader").await.expect("namespace");
    let ns = ns.name().to_string();
    // Each replica calls its own worker, so the journals tell who processed what.
    let worker_a = ScriptedWorker::default();
    let (endpoint_a, _) = worker_a.serve().await;
    let worker_b = ScriptedWorker::default();
    let (endpoint_b, _) = worker_b.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(
        dir.path(),
        THREE_PHASES,
        &endpoint_a,
        &format!(
            "leaderElection:\n  enabled: true\n  leaseName: scheduler-lease\n  namespace: {ns}\n  leaseDuration: {}s\n  renewDeadline: 3s\n  retryPeriod: {}ms\n",
            LEASE_DURATION.as_secs(),
            RETRY_PERIOD.as_millis()
        ),
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);

    let mut a = SchedulerProcess::start(
        dir.path(),
        cp.kubeconfig_path(),
        &ns,
        &["--instance", "replica-a"],
    );
    wait::until("replica-a to hold the lease", TIMEOUT, || async {
        match holder(&leases, "scheduler-lease").await {
            Some(h) if h.starts_with("replica-a_") => Ok(()),
            other => Err(format!("holder {other:?}")),
        }
    })
    .await;
    let _b = SchedulerProcess::start(
        dir.path(),
        cp.kubeconfig_path(),
        &ns,
        &["--instance", "replica-b", "--worker-endpoint", &endpoint_b],
    );

    let first: Vec<String> = (0..5).map(|i| format!("before-{i}")).collect();
    for n in &first {
        create_task(&client, &ns, n, "ok").await;
    }
    all_finished(&client, &ns, &first).await;
    for n in &first {
        let key = format!("{ns}/{n}");
        assert_eq!(
            worker_a.phases(&key),
            vec!["Initializing", "Processing"],
            "{n}"
        );
        assert!(
            worker_b.calls(&key).is_empty(),
            "the standby called nothing for {n}"
        );
    }
    assert!(
        worker_b.journal.lock().unwrap().is_empty(),
        "the standby reconciled nothing while replica-a led"
    );

    a.kill().await;
    let second: Vec<String> = (0..5).map(|i| format!("after-{i}")).collect();
    for n in &second {
        create_task(&client, &ns, n, "ok").await;
    }
    // A lease unrenewed for its duration is taken at the standby's next attempt.
    wait::until(
        "replica-b to take the lease within the lease duration",
        LEASE_DURATION + RETRY_PERIOD * 2 + Duration::from_secs(2),
        || async {
            match holder(&leases, "scheduler-lease").await {
                Some(h) if h.starts_with("replica-b_") => Ok(()),
                other => Err(format!("holder {other:?}")),
            }
        },
    )
    .await;
    all_finished(&client, &ns, &second).await;
    for n in &second {
        let key = format!("{ns}/{n}");
        assert!(
            worker_a.calls(&key).is_empty(),
            "the dead leader called {n}"
        );
        assert_eq!(
            worker_b.phases(&key),
            vec!["Initializing", "Processing"],
            "{n}"
        );
    }
    // The new leader found the first batch finished and called nothing for it: no resource
    // was processed by both.
    for n in &first {
        assert!(
            worker_b.calls(&format!("{ns}/{n}")).is_empty(),
            "{n} was processed by both replicas"
        );
    }
}
