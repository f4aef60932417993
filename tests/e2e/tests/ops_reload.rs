//! Config reload: editing autopilot-operator.yaml under a running scheduler.
use std::time::Duration;

use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;

const TIMEOUT: Duration = Duration::from_secs(60);

fn operator_yaml(endpoint: &str, work_interval: &str, log_level: &str) -> String {
    format!(
        "workInterval: {work_interval}\nconcurrency: 32\nworkers:\n  endpoint: {endpoint}\n  deadline: 5s\nretry:\n  initialBackoff: 100ms\n  maxBackoff: 1s\n  permanentErrorInterval: 3s\nmetricsAddr: \"127.0.0.1:0\"\nhealthAddr: \"\"\nlogLevel: {log_level}\n"
    )
}

fn sync_calls(worker: &ScriptedWorker, key: &str, method: &str) -> usize {
    worker
        .calls(key)
        .iter()
        .filter(|c| c.method == method)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_config_applies_interval_endpoint_and_log_level_and_a_bad_edit_is_refused() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("ops-reload").await.expect("namespace");
    let ns = ns.name().to_string();
    let worker_a = ScriptedWorker::default();
    let (endpoint_a, _) = worker_a.serve().await;
    let worker_b = ScriptedWorker::default();
    let (endpoint_b, _) = worker_b.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), THREE_PHASES, &endpoint_a, "");
    let config = dir.path().join("autopilot-operator.yaml");
    std::fs::write(&config, operator_yaml(&endpoint_a, "10m", "info")).unwrap();
    let sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), &ns, &[]);

    // "stay" keeps Initializing running at the work interval (10 minutes: once, here).
    create_task(&client, &ns, "steady", "stay").await;
    let steady = format!("{ns}/steady");
    wait::until("the first call for steady", TIMEOUT, || async {
        match sync_calls(&worker_a, &steady, "Sync:Initializing") {
            0 => Err("no call".to_string()),
            n => Ok(n),
        }
    })
    .await;

    // A call in flight during the reload ("linger" answers after 1.5 s) lands.
    create_task(&client, &ns, "inflight", "linger").await;
    let inflight = format!("{ns}/inflight");
    wait::until("the lingering call to start", TIMEOUT, || async {
        match sync_calls(&worker_a, &inflight, "Sync:Initializing") {
            0 => Err("no call".to_string()),
            n => Ok(n),
        }
    })
    .await;
    std::fs::write(&config, operator_yaml(&endpoint_b, "1s", "debug")).unwrap();

    wait::until("the scheduler to log the reload", TIMEOUT, || async {
        if sched.log_text().contains("configuration reloaded") {
            Ok(())
        } else {
            Err("no 'configuration reloaded' yet".to_string())
        }
    })
    .await;
    // The new endpoint serves, at the new interval: repeated calls within the old 10 minutes.
    wait::until(
        "worker b to run steady's phase three times (1 s interval)",
        TIMEOUT,
        || async {
            match sync_calls(&worker_b, &steady, "Sync:Initializing") {
                n if n >= 3 => Ok(()),
                n => Err(format!("{n} calls")),
            }
        },
    )
    .await;
    wait::until("Task inflight to finish", TIMEOUT, || async {
        let st = task_status(&client, &ns, "inflight").await;
        if st["phase"] == "Finished" {
            Ok(())
        } else {
            Err(st.to_string())
        }
    })
    .await;
    assert_eq!(
        sync_calls(&worker_a, &inflight, "Sync:Initializing")
            + sync_calls(&worker_b, &inflight, "Sync:Initializing"),
        1,
        "the in-flight call's result was applied, not re-run"
    );
    assert_eq!(sync_calls(&worker_b, &inflight, "Sync:Processing"), 1);
    wait::until(
        "a DEBUG line after the log level changed",
        TIMEOUT,
        || async {
            let log = sched.log_text();
            if log.contains("DEBUG") && log.contains("calling the worker") {
                Ok(())
            } else {
                Err("no debug line".to_string())
            }
        },
    )
    .await;

    // An invalid edit is refused; the running settings (worker b, 1 s) stay.
    std::fs::write(
        &config,
        operator_yaml(&endpoint_a, "1s", "info")
            .replace("workInterval: 1s", "workInterval: banana"),
    )
    .unwrap();
    wait::until("the scheduler to refuse the edit", TIMEOUT, || async {
        if sched.log_text().contains("configuration change refused") {
            Ok(())
        } else {
            Err("no refusal logged".to_string())
        }
    })
    .await;
    let before = sync_calls(&worker_b, &steady, "Sync:Initializing");
    let a_before = sync_calls(&worker_a, &steady, "Sync:Initializing");
    wait::until(
        "worker b to keep running steady's phase after the refused edit",
        TIMEOUT,
        || async {
            match sync_calls(&worker_b, &steady, "Sync:Initializing") {
                n if n >= before + 2 => Ok(()),
                n => Err(format!("{n} calls (was {before})")),
            }
        },
    )
    .await;
    assert_eq!(
        sync_calls(&worker_a, &steady, "Sync:Initializing"),
        a_before,
        "the refused edit's endpoint was not used"
    );
}
