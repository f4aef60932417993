//! The scheduler honours what people ask with `ap pause|resume|retry|abort|approve|promote`
//! and with committed annotations: a real kube-apiserver, the CRD `ap generate` writes, the
//! scheduler as a process, a scripted worker whose call log shows what ran, and the real `ap`
//! and `kubectl` as a user runs them.
use std::path::Path;
use std::time::Duration;

use autopilot_e2e::as_user;
use autopilot_e2e::greeter;
use autopilot_e2e::new_user::run;
use autopilot_e2e::project;
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(60);
/// The scheduler's Events name it; `ap` records its own under `ap`.
const SCHEDULER: &str = "autopilot-gated-task-operator";

/// Initializing → Processing → Finished, a `before` and a `leaving` gate on Processing and an
/// abort phase. The scripted worker serves Initializing and Processing.
const PROJECT: &str = r#"apiVersion: gates.e2e.autopilot.dev/v1
kind: Task
operatorName: gated-task-operator
spec:
  type: object
  properties:
    behavior:
      type: string
    message:
      type: string
statusInfo:
  type: object
  x-kubernetes-preserve-unknown-fields: true
abortPhase: Aborted
gates:
  - name: check
    phase: Processing
    description: Look at the canary
  - name: promote
    phase: Processing
    when: leaving
    description: Check the dashboards
phases:
  - name: Initializing
    initial: true
    outputs: [configmaps]
  - name: Processing
    outputs: [configmaps]
  - name: Finished
    final: true
  - name: Aborted
    final: true
"#;

fn tasks() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gates.e2e.autopilot.dev", "v1", "Task"),
        "tasks",
    )
}

fn create(kubeconfig: &Path, ns: &str, name: &str, behavior: &str) {
    as_user::apply(
        kubeconfig,
        &format!(
            "apiVersion: gates.e2e.autopilot.dev/v1\nkind: Task\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  behavior: {behavior}\n  message: hello\n"
        ),
    );
}

async fn status(api: &Api<DynamicObject>, name: &str) -> Value {
    api.get(name)
        .await
        .map(|o| o.data["status"].clone())
        .unwrap_or(Value::Null)
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until `check` holds of the status of `name`, naming `what`.
async fn until_status(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait::until(&format!("{name}: {what}"), TIMEOUT, || async {
        let s = status(api, name).await;
        if check(&s) { Ok(s) } else { Err(s.to_string()) }
    })
    .await
}

fn has(status: &Value, type_: &str, value: &str, reason: &str, message: &str) -> bool {
    condition(status, type_).is_some_and(|c| {
        c["status"] == value
            && c["reason"] == reason
            && c["message"].as_str().is_some_and(|m| m.contains(message))
    })
}

/// The notes of the scheduler's Events about `name` with `reason`.
async fn scheduler_events(
    client: &kube::Client,
    ns: &str,
    name: &str,
    reason: &str,
) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .expect("listing Events")
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.reporting_component.as_deref() == Some(SCHEDULER)
        })
        .map(|e| e.message.unwrap_or_default())
        .collect()
}

async fn until_event(client: &kube::Client, ns: &str, name: &str, reason: &str) -> Vec<String> {
    wait::until(
        &format!("a {reason} Event from the scheduler about {name}"),
        TIMEOUT,
        || async {
            let notes = scheduler_events(client, ns, name, reason).await;
            if notes.is_empty() {
                Err("none yet".to_string())
            } else {
                Ok(notes)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_retry_abort_and_gates_are_honoured() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let kubeconfig = cp.kubeconfig_path();
    let ns = cp.namespace("gates").await.expect("namespace");
    let ns = ns.name();
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), PROJECT, &endpoint, "");
    // A blocked resource would wait ten minutes for its next try: a retry must not wait.
    let operator = dir.path().join("autopilot-operator.yaml");
    let text = std::fs::read_to_string(&operator).unwrap();
    std::fs::write(
        &operator,
        text.replace("permanentErrorInterval: 3s", "permanentErrorInterval: 10m"),
    )
    .unwrap();
    // The CRD as `ap generate` writes it, so the status fields the scheduler records survive.
    let generated = tempfile::tempdir().unwrap();
    std::fs::write(generated.path().join("autopilot.yaml"), PROJECT).unwrap();
    as_user::install_generated_crd(
        generated.path(),
        kubeconfig,
        "tasks.gates.e2e.autopilot.dev",
    );
    let _scheduler = SchedulerProcess::start(dir.path(), kubeconfig, ns, &[]);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &tasks());
    let dir_arg = dir.path().to_str().unwrap();
    let ap = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--dir", dir_arg, "-n", ns]);
        run(
            &format!("ap {}", args.join(" ")),
            &mut greeter::ap(kubeconfig, &all),
        )
    };
    let key = |name: &str| format!("{ns}/{name}");
    let calls = |name: &str| worker.calls(&key(name)).len();

    create(kubeconfig, ns, "held", "stay");
    create(kubeconfig, ns, "blocked", "invalid-until-retried");
    create(kubeconfig, ns, "stopped", "stay");
    create(kubeconfig, ns, "gated", "ok");
    create(kubeconfig, ns, "committed", "ok");

    // Pause holds: no worker call while paused, whatever the work interval (2 s).
    wait::until("a first call for held", TIMEOUT, || async {
        if calls("held") > 0 {
            Ok(())
        } else {
            Err("no call".into())
        }
    })
    .await;
    ap(&["pause", "held"]);
    let paused = until_status(&api, "held", "Paused=True", |s| {
        has(s, "Paused", "True", "PauseRequested", "paused by ")
    })
    .await;
    let message = condition(&paused, "Paused").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !message.contains("an unknown user"),
        "the condition names who paused: {message}"
    );
    let before = calls("held");
    let notes = until_event(&client, ns, "held", "Paused").await;
    assert!(notes.iter().any(|n| n.contains("paused by ")), "{notes:?}");
    // Three work intervals with no call: the pause holds.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(calls("held"), before, "the worker was called while paused");
    ap(&["resume", "held"]);
    until_status(&api, "held", "Paused removed", |s| {
        condition(s, "Paused").is_none()
    })
    .await;
    wait::until("a call for held after resume", TIMEOUT, || async {
        if calls("held") > before {
            Ok(())
        } else {
            Err(format!("{} calls", calls("held")))
        }
    })
    .await;
    until_event(&client, ns, "held", "Resumed").await;

    // Retry: a Blocked resource (next try in ten minutes) is called again at once.
    until_status(&api, "blocked", "Progressing reason Blocked", |s| {
        has(
            s,
            "Progressing",
            "True",
            "Blocked",
            "until someone runs ap retry",
        )
    })
    .await;
    let blocked_calls = calls("blocked");
    ap(&["retry", "blocked"]);
    let retried = until_status(
        &api,
        "blocked",
        "leaving Initializing after the retry",
        |s| s["phase"] == "Processing",
    )
    .await;
    assert!(calls("blocked") > blocked_calls);
    assert!(
        retried["retried"].as_str().is_some_and(|r| !r.is_empty()),
        "{retried}"
    );
    let notes = until_event(&client, ns, "blocked", "Retried").await;
    assert!(
        notes.iter().any(|n| n.contains("failures forgotten")),
        "{notes:?}"
    );

    // Abort moves to the abort phase without a worker call, and says who.
    ap(&["abort", "stopped"]);
    let aborted = until_status(&api, "stopped", "phase Aborted", |s| {
        s["phase"] == "Aborted"
    })
    .await;
    assert!(
        has(&aborted, "Aborted", "True", "AbortRequested", "aborted by "),
        "{aborted}"
    );
    assert!(
        aborted["aborted"].as_str().is_some_and(|a| !a.is_empty()),
        "{aborted}"
    );
    let notes = until_event(&client, ns, "stopped", "Aborted").await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Initializing -> Aborted: aborted by ")),
        "{notes:?}"
    );
    assert!(
        !worker
            .phases(&key("stopped"))
            .iter()
            .any(|p| p != "Initializing"),
        "no phase ran after the abort"
    );

    // A before gate: Processing's worker is not called until `ap approve`.
    let waiting = until_status(&api, "gated", "AwaitingApproval GateClosed", |s| {
        s["phase"] == "Processing" && has(s, "AwaitingApproval", "True", "GateClosed", "gate check")
    })
    .await;
    assert!(
        has(
            &waiting,
            "AwaitingApproval",
            "True",
            "GateClosed",
            "gate check: Look at the canary; ap approve gated --gate check"
        ),
        "{waiting}"
    );
    assert_eq!(worker.phases(&key("gated")), ["Initializing"]);
    ap(&["approve", "gated", "--gate", "check"]);
    // A leaving gate: Processing runs and its result is kept, its move waits for `ap promote`.
    let held = until_status(&api, "gated", "AwaitingApproval MoveHeld", |s| {
        has(
            s,
            "AwaitingApproval",
            "True",
            "MoveHeld",
            "holds the move to Finished",
        )
    })
    .await;
    assert_eq!(held["phase"], "Processing", "{held}");
    assert_eq!(held["statusInfo"]["processed"], true, "{held}");
    assert_eq!(
        held["gates"]["check"]["by"]
            .as_str()
            .map(|b| b.contains(" at ")),
        Some(true),
        "{held}"
    );
    assert_eq!(worker.phases(&key("gated")), ["Initializing", "Processing"]);
    let notes = until_event(&client, ns, "gated", "GateApproved").await;
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("gate check approved by ")),
        "{notes:?}"
    );
    ap(&["promote", "gated"]);
    let done = until_status(&api, "gated", "phase Finished", |s| {
        s["phase"] == "Finished"
    })
    .await;
    assert!(condition(&done, "AwaitingApproval").is_none(), "{done}");
    assert!(
        done["gates"]["promote"]["by"]
            .as_str()
            .is_some_and(|b| !b.is_empty()),
        "{done}"
    );

    // Gates opened by committed annotations (kubectl, as a GitOps engine would) work the same.
    until_status(&api, "committed", "AwaitingApproval GateClosed", |s| {
        has(s, "AwaitingApproval", "True", "GateClosed", "gate check")
    })
    .await;
    run(
        "kubectl annotate",
        &mut as_user::kubectl(
            kubeconfig,
            &[
                "annotate",
                "-n",
                ns,
                "tasks.gates.e2e.autopilot.dev/committed",
                "gate.autopilot.dev/check=approved",
                "gate.autopilot.dev/promote=approved",
            ],
        ),
    );
    until_status(&api, "committed", "phase Finished", |s| {
        s["phase"] == "Finished"
    })
    .await;
    let notes = until_event(&client, ns, "committed", "GateApproved").await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("approved by an annotation without an approver")),
        "{notes:?}"
    );
}
