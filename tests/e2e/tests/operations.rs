//! Operations of the scheduler against a real kube-apiserver: watched inputs, finalizers and
//! /metrics, with a worker over real gRPC.
use std::time::Duration;

use autopilot_e2e::project::{self, create_task, task_resource, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Initializing stays put (behaviour "stay") and reads three inputs: ConfigMaps selected by a
/// label rendered from the Task, Deployments selected by a field, and a kind whose CRD does
/// not exist.
const INPUTS_PROJECT: &str = r#"apiVersion: e2e.autopilot.dev/v1
kind: Task
operatorName: task-operator
spec:
  type: object
  properties:
    behavior:
      type: string
    message:
      type: string
phases:
  - name: Initializing
    initial: true
    inputs:
      - name: configmaps
        labelSelector: "watch-for={{ metadata.name }}"
      - name: deployments
        fieldSelector: "metadata.name={{ metadata.name }}-app"
      - widgets
  - name: Processing
  - name: Finished
    final: true
parameters:
  - name: widgets
    apiVersion: missing.autopilot.dev/v1
    kind: Widget
"#;

const FINALIZER_PROJECT: &str = r#"apiVersion: e2e.autopilot.dev/v1
kind: Task
operatorName: task-operator
finalizer: true
spec:
  type: object
  properties:
    behavior:
      type: string
    message:
      type: string
phases:
  - name: Initializing
    initial: true
    outputs: [configmaps]
  - name: Processing
  - name: Finished
    final: true
"#;

struct Setup {
    client: kube::Client,
    ns: autopilot_testenv::TestNamespace,
    worker: ScriptedWorker,
    dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
}

/// A namespace, the Task CRD, a served worker and a project directory with `autopilot_yaml`
/// and the given work interval.
async fn setup(prefix: &str, autopilot_yaml: &str, work_interval: &str) -> Setup {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace(prefix).await.expect("namespace");
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), autopilot_yaml, &endpoint, "");
    let op = dir.path().join("autopilot-operator.yaml");
    let text = std::fs::read_to_string(&op).unwrap();
    std::fs::write(
        &op,
        text.replace(
            "workInterval: 2s",
            &format!("workInterval: {work_interval}"),
        ),
    )
    .unwrap();
    Setup {
        client,
        ns,
        worker,
        dir,
        kubeconfig: cp.kubeconfig_path().to_path_buf(),
    }
}

fn start(s: &Setup) -> SchedulerProcess {
    SchedulerProcess::start(s.dir.path(), &s.kubeconfig, s.ns.name(), &[])
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Names of the objects a request carried under `key`.
fn names(req: &autopilot_proto::v1::SyncRequest, key: &str) -> Vec<String> {
    req.objects
        .get(key)
        .map(|l| {
            l.items
                .iter()
                .map(|i| {
                    let v: Value = serde_json::from_slice(i).unwrap();
                    v["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn config_map(client: &kube::Client, ns: &str, name: &str, label: &str) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"watch-for": label}},
        "data": {"v": "1"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &cm)
        .await
        .unwrap_or_else(|e| panic!("creating ConfigMap {name}: {e}"));
}

/// Waits until the worker has received more than `n` requests for `key`; returns them.
async fn more_requests_than(
    worker: &ScriptedWorker,
    key: &str,
    n: usize,
    why: &str,
    timeout: Duration,
) -> Vec<autopilot_proto::v1::SyncRequest> {
    wait::until(
        &format!("a new Sync call for {key} after {why}"),
        timeout,
        || async {
            let r = worker.requests(key);
            if r.len() > n {
                Ok(r)
            } else {
                Err(format!("{} calls", r.len()))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_input_re_triggers_the_resource_that_reads_it_within_a_second() {
    // The work interval is far beyond the test: every call after the first is a trigger.
    let s = setup("ops-inputs", INPUTS_PROJECT, "10m").await;
    let ns = s.ns.name().to_string();
    config_map(&s.client, &ns, "selected", "t1").await;
    config_map(&s.client, &ns, "other", "someone-else").await;
    let deployments: Api<Deployment> = Api::namespaced(s.client.clone(), &ns);
    for name in ["t1-app", "t1-unrelated"] {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "example.invalid/none"}]}
                }
            }
        }))
        .unwrap();
        deployments
            .create(&PostParams::default(), &d)
            .await
            .unwrap();
    }
    let _sched = start(&s);
    create_task(&s.client, &ns, "t1", "stay").await;
    let key = format!("{ns}/t1");

    let first = more_requests_than(&s.worker, &key, 0, "creating the Task", TIMEOUT).await;
    let req = &first[0];
    assert_eq!(names(req, "configmaps"), vec!["selected"], "label selector");
    assert_eq!(names(req, "deployments"), vec!["t1-app"], "field selector");
    let cm: Value = serde_json::from_slice(&req.objects["configmaps"].items[0]).unwrap();
    assert_eq!(cm["kind"], "ConfigMap");
    assert!(
        cm["metadata"].get("managedFields").is_none(),
        "managedFields are stripped: {cm}"
    );
    let widgets = &req.objects["widgets"];
    assert!(widgets.items.is_empty());
    assert!(
        widgets.error.contains("missing.autopilot.dev/v1 Widget") && widgets.error.contains("CRD"),
        "the missing kind is named: {}",
        widgets.error
    );

    // The missing kind shows as a condition; the status write is the end of the first run.
    let status = wait::until(
        "InputsAvailable=False naming the widgets input",
        TIMEOUT,
        || async {
            let st = task_status(&s.client, &ns, "t1").await;
            match condition(&st, "InputsAvailable") {
                Some(c) if c["status"] == "False" => Ok(st),
                _ => Err(st.to_string()),
            }
        },
    )
    .await;
    let message = condition(&status, "InputsAvailable").unwrap()["message"].clone();
    assert!(
        message.as_str().unwrap().contains("widgets:"),
        "condition names the input: {message}"
    );

    // Our own status write does not re-run the phase: the call count settles at one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = s.worker.requests(&key).len();
    assert_eq!(n, 1, "only the first call before any input changes");

    // An edit of a selected ConfigMap re-runs the phase within a second.
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    cms.patch(
        "selected",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    let after = more_requests_than(
        &s.worker,
        &key,
        n,
        "editing ConfigMap selected",
        Duration::from_secs(1),
    )
    .await;
    let cm: Value =
        serde_json::from_slice(&after.last().unwrap().objects["configmaps"].items[0]).unwrap();
    assert_eq!(cm["data"]["v"], "2", "the call sees the edited object");

    // Labelling another ConfigMap into the selection re-runs the phase with both.
    let n = s.worker.requests(&key).len();
    cms.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"watch-for": "t1"}}})),
    )
    .await
    .unwrap();
    let after = more_requests_than(
        &s.worker,
        &key,
        n,
        "labelling ConfigMap other into the selection",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        names(after.last().unwrap(), "configmaps"),
        vec!["other", "selected"]
    );

    // A change to the selected Deployment re-runs the phase too.
    let n = s.worker.requests(&key).len();
    deployments
        .patch(
            "t1-app",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"touched": "yes"}}})),
        )
        .await
        .unwrap();
    let after = more_requests_than(
        &s.worker,
        &key,
        n,
        "annotating Deployment t1-app",
        Duration::from_secs(1),
    )
    .await;
    let d: Value =
        serde_json::from_slice(&after.last().unwrap().objects["deployments"].items[0]).unwrap();
    assert_eq!(d["metadata"]["annotations"]["touched"], "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_resource_waits_for_finalize_then_removes_the_finalizer() {
    let s = setup("ops-finalize", FINALIZER_PROJECT, "2s").await;
    let ns = s.ns.name().to_string();
    let _sched = start(&s);
    create_task(&s.client, &ns, "f1", "ok").await;
    let api: Api<DynamicObject> = Api::namespaced_with(s.client.clone(), &ns, &task_resource());
    wait::until(
        "Task f1 to carry the finalizer and reach Processing",
        TIMEOUT,
        || async {
            let o = api.get("f1").await.map_err(|e| e.to_string())?;
            let has = o
                .metadata
                .finalizers
                .as_deref()
                .unwrap_or_default()
                .contains(&format!("{}/autopilot", project::GROUP));
            let phase = o.data["status"]["phase"].clone();
            if has && phase == "Processing" {
                Ok(())
            } else {
                Err(format!(
                    "finalizers {:?}, phase {phase}",
                    o.metadata.finalizers
                ))
            }
        },
    )
    .await;
    api.delete("f1", &DeleteParams::default()).await.unwrap();
    let key = format!("{ns}/f1");
    // The scripted worker answers "not done" to the first Finalize, "done" to the second.
    let still_there = wait::until(
        "the first Finalize call (not done yet)",
        TIMEOUT,
        || async {
            let finalizes = s
                .worker
                .calls(&key)
                .iter()
                .filter(|c| c.method == "Finalize")
                .count();
            if finalizes >= 1 {
                Ok(api.get_opt("f1").await.map_err(|e| e.to_string())?)
            } else {
                Err(format!("{finalizes} Finalize calls"))
            }
        },
    )
    .await;
    let finalizes_then = s
        .worker
        .calls(&key)
        .iter()
        .filter(|c| c.method == "Finalize")
        .count();
    if finalizes_then == 1 {
        let o = still_there.expect("the Task stays while Finalize is not done");
        assert!(o.metadata.deletion_timestamp.is_some());
    }
    wait::until("Task f1 to be gone", TIMEOUT, || async {
        match api.get_opt("f1").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(o) => Err(format!("finalizers {:?}", o.metadata.finalizers)),
        }
    })
    .await;
    let calls = s.worker.calls(&key);
    let finalizes: Vec<_> = calls.iter().filter(|c| c.method == "Finalize").collect();
    assert_eq!(
        finalizes.len(),
        2,
        "Finalize until done, then no more: {calls:?}"
    );
}

/// The text without terminal colour sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address the scheduler bound /metrics on, from its log.
async fn metrics_addr(sched: &SchedulerProcess) -> String {
    wait::until(
        "the scheduler to log its bound /metrics address",
        TIMEOUT,
        || async {
            let log = strip_ansi(&sched.log_text());
            log.lines()
                .find(|l| l.contains("serving /metrics"))
                .and_then(|l| l.split("bound=").nth(1))
                .map(|a| a.split_whitespace().next().unwrap_or_default().to_string())
                .ok_or_else(|| "no 'serving /metrics' line yet".to_string())
        },
    )
    .await
}

/// GETs `http://addr/path` with a plain HTTP/1.0 request; returns the body.
async fn http_get(addr: &str, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_worker_call_histograms_and_transitions_after_a_run() {
    let s = setup("ops-metrics", project::THREE_PHASES, "2s").await;
    let ns = s.ns.name().to_string();
    let sched = start(&s);
    let addr = metrics_addr(&sched).await;
    create_task(&s.client, &ns, "m1", "ok").await;
    wait::until("Task m1 to finish", TIMEOUT, || async {
        let st = task_status(&s.client, &ns, "m1").await;
        if st["phase"] == "Finished" {
            Ok(())
        } else {
            Err(st.to_string())
        }
    })
    .await;
    let body = wait::until(
        "/metrics to show the Processing call and the transition to Finished",
        TIMEOUT,
        || async {
            let body = http_get(&addr, "/metrics").await?;
            let has_call = body.lines().any(|l| {
                l.starts_with("autopilot_worker_call_duration_seconds_count")
                    && l.contains("phase=\"Processing\"")
                    && l.contains("code=\"OK\"")
            });
            let has_transition = body.lines().any(|l| {
                l.starts_with("autopilot_phase_transitions_total") && l.contains("to=\"Finished\"")
            });
            if has_call && has_transition {
                Ok(body)
            } else {
                Err(body)
            }
        },
    )
    .await;
    for family in [
        "autopilot_worker_call_duration_seconds_bucket",
        "autopilot_reconcile_duration_seconds",
        "autopilot_worker_calls_in_flight",
        "autopilot_reconciles_in_flight",
        "autopilot_input_triggers_total",
    ] {
        assert!(body.contains(family), "{family} missing from:\n{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traceparent_a_worker_receives_carries_the_reconcile_trace_id() {
    let s = setup("ops-trace", project::THREE_PHASES, "2s").await;
    let ns = s.ns.name().to_string();
    let sched = start(&s);
    create_task(&s.client, &ns, "tr1", "ok").await;
    let key = format!("{ns}/tr1");
    // The log line of the transition, inside the reconcile span that made the call.
    let logged = wait::until(
        "the scheduler to log tr1's move to Processing with its trace id",
        TIMEOUT,
        || async {
            let log = strip_ansi(&sched.log_text());
            log.lines()
                .find(|l| {
                    l.contains("phase changed")
                        && l.contains("name=tr1")
                        && l.contains("to=Processing")
                })
                .and_then(|l| l.split("trace_id=").nth(1))
                .map(|rest| {
                    rest.trim_start_matches('"')
                        .chars()
                        .take_while(|c| c.is_ascii_hexdigit())
                        .collect::<String>()
                })
                .ok_or_else(|| "no such line yet".to_string())
        },
    )
    .await;
    assert_eq!(logged.len(), 32, "a W3C trace id: {logged}");
    let calls = s.worker.calls(&key);
    let init: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "Sync:Initializing")
        .collect();
    assert_eq!(init.len(), 1, "{calls:?}");
    let tp = init[0].traceparent.clone().expect("a traceparent was sent");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], logged, "the worker joins the reconcile's trace");
    assert_eq!(parts[2].len(), 16);
    // The next phase is a new reconcile: a new trace.
    let next = wait::until("tr1's Processing call", TIMEOUT, || async {
        match s
            .worker
            .calls(&key)
            .iter()
            .find(|c| c.method == "Sync:Processing")
        {
            Some(c) => Ok(c.traceparent.clone()),
            None => Err("none yet".to_string()),
        }
    })
    .await
    .expect("a traceparent was sent");
    assert!(!next.contains(&logged), "{next}");
}
