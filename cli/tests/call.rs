//! `ap call` against a real worker: the Rust SDK serving on a loopback port in this process,
//! called by the real `ap` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use autopilot_sdk::{Context, MetricValue, Outcome, Worker, WorkerError};
use serde_json::{Value, json};

const PROJECT: &str = r#"apiVersion: e2e.autopilot.dev/v1
kind: Task
operatorName: task-operator
spec:
  type: object
  properties:
    behavior:
      type: string
    message:
      type: string
traces:
  - name: spans
    service: "{{ metadata.name }}-canary"
queries:
  - name: rate
    query: 'sum(rate(requests_total{app="{{ metadata.name }}"}[1m]))'
phases:
  - name: Initializing
    initial: true
    outputs: [configmaps]
  - name: Processing
    inputs:
      - name: configmaps
        labelSelector: "autopilot.dev/owner-uid={{ metadata.uid }}"
      - traces: [spans]
      - metrics: [rate]
    outputs: [configmaps]
  - name: Finished
    final: true
"#;

/// How long one `ap call` may take: it builds nothing, so seconds are plenty.
const AP_TIMEOUT: Duration = Duration::from_secs(60);

async fn initializing(ctx: Context<Value, Value>) -> Result<Outcome<Value>, WorkerError> {
    let spec = ctx.spec();
    if spec["behavior"] == "fail" {
        return Err(WorkerError::permanent("spec.behavior says fail"));
    }
    if spec["behavior"] == "secret" {
        // Initializing declares only configmaps as outputs.
        return Outcome::stay().output(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": format!("{}-secret", ctx.name())},
        }));
    }
    Outcome::next("Processing")
        .status(json!({"message": spec["message"], "step": 1}))
        .event_normal("Started", format!("initialized {}", ctx.name()))
        .output(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("{}-config", ctx.name())},
            "data": {"message": spec["message"]},
        }))
}

async fn processing(ctx: Context<Value, Value>) -> Result<Outcome<Value>, WorkerError> {
    let names: Vec<String> = ctx
        .objects_json("configmaps")?
        .iter()
        .map(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let spans = ctx.trace("spans")?;
    let worst = spans.worst_operation().map(|o| o.operation.clone());
    // What the worker made of the query: its value, or the error it would retry on.
    let rate = match ctx.metric("rate")?.value() {
        Ok(MetricValue::NoData) => json!("no data"),
        Ok(MetricValue::NaN) => json!("NaN"),
        Ok(MetricValue::Value(v)) if v.is_infinite() => json!(v.to_string()),
        Ok(MetricValue::Value(v)) => json!(v),
        Err(e) => json!(format!("error: {e}")),
    };
    Ok(Outcome::stay()
        .status(json!({"seen": names, "spans": spans.query, "worst": worst, "rate": rate}))
        .requeue_after(Duration::from_secs(30)))
}

/// Starts the worker on 127.0.0.1:0 in a runtime that lives as long as the returned value.
fn start_worker() -> (tokio::runtime::Runtime, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bound = runtime.block_on(async {
        Worker::<Value, Value>::new("tasks")
            .phase("Initializing", initializing)
            .phase("Processing", processing)
            .bind(autopilot_sdk::serve::Config::new("127.0.0.1:0"))
            .await
            .expect("binding the worker")
    });
    let addr = bound.local_addr().expect("a TCP address");
    runtime.spawn(bound.serve_with_shutdown(std::future::pending()));
    (runtime, format!("http://{addr}"))
}

/// Writes the project; its configured endpoint is a closed port, so every test passes
/// --endpoint (except the one checking that error).
fn project(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("autopilot.yaml"), PROJECT).unwrap();
    std::fs::write(
        dir.join("autopilot-operator.yaml"),
        "workers:\n  endpoint: http://127.0.0.1:9\n  deadline: 10s\n",
    )
    .unwrap();
    dir.to_path_buf()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const TASK: &str = "apiVersion: e2e.autopilot.dev/v1\nkind: Task\nmetadata:\n  name: demo\n  namespace: default\n  generation: 3\nspec:\n  message: hello\n";

/// Runs `ap` with `args`, killing it after [`AP_TIMEOUT`].
fn ap(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ap"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting ap");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > AP_TIMEOUT {
            child.kill().unwrap();
            panic!("ap {args:?} did not finish within {AP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_phase_runs_and_its_reply_is_printed() {
    let (_runtime, endpoint) = start_worker();
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let cr = write(tmp.path(), "cr.yaml", TASK);
    let dir = dir.to_str().unwrap();

    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Initializing",
        "--resource",
        &cr,
        "--endpoint",
        &endpoint,
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "ap call failed: {}",
        text(&out.stderr)
    );
    for expected in [
        "nextPhase: Processing",
        "message: hello",
        "reason: Started",
        "initialized demo",
        "name: demo-config",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }

    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Initializing",
        "--resource",
        &cr,
        "--endpoint",
        &endpoint,
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "ap call failed: {}",
        text(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(reply["nextPhase"], "Processing");
    assert_eq!(reply["statusInfo"], json!({"message": "hello", "step": 1}));
    assert_eq!(
        reply["events"],
        json!([{"type": "Normal", "reason": "Started", "message": "initialized demo"}])
    );
    assert_eq!(reply["outputs"][0]["kind"], "ConfigMap");
    assert_eq!(reply["outputs"][0]["metadata"]["name"], "demo-config");
    assert_eq!(reply["outputs"][0]["data"]["message"], "hello");
    assert_eq!(reply["requeueAfter"], Value::Null);
}

#[test]
fn inputs_are_passed_and_checked() {
    let (_runtime, endpoint) = start_worker();
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let dir = dir.to_str().unwrap();
    let cr = write(
        tmp.path(),
        "cr.json",
        &serde_json::to_string(&json!({
            "apiVersion": "e2e.autopilot.dev/v1", "kind": "Task",
            "metadata": {"name": "demo", "namespace": "default"}, "spec": {"message": "hi"},
        }))
        .unwrap(),
    );
    let inputs = write(
        tmp.path(),
        "inputs.yaml",
        "configmaps:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
    );
    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Processing",
        "--resource",
        &cr,
        "--inputs",
        &inputs,
        "--endpoint",
        &endpoint,
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "ap call failed: {}",
        text(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(
        reply["nextPhase"],
        Value::Null,
        "the resource stays: {reply}"
    );
    assert_eq!(
        reply["statusInfo"],
        json!({"seen": ["a", "b"], "spans": "service=demo-canary lookBack=5m limit=100", "worst": null, "rate": "no data"})
    );
    assert_eq!(reply["requeueAfter"], "30s");

    let traced = write(
        tmp.path(),
        "traced.yaml",
        "spans:\n  operations:\n    - {service: demo-canary, operation: GET /, spanCount: 10}\n    - {service: demo-canary, operation: charge, spanCount: 10, errorCount: 3}\n",
    );
    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Processing",
        "--resource",
        &cr,
        "--inputs",
        &traced,
        "--endpoint",
        &endpoint,
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "ap call failed: {}",
        text(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(reply["statusInfo"]["worst"], "charge", "{reply}");

    let not_a_trace = write(tmp.path(), "not-a-trace.yaml", "spans: 3\n");
    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Processing",
        "--resource",
        &cr,
        "--inputs",
        &not_a_trace,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "a number was accepted as a trace result"
    );
    assert!(
        stderr.contains("spans is a trace query: give its result as a mapping"),
        "{stderr}"
    );

    let wrong = write(tmp.path(), "wrong.yaml", "deployments: []\n");
    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Processing",
        "--resource",
        &cr,
        "--inputs",
        &wrong,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "an unknown input was accepted");
    assert!(
        stderr.contains("\"deployments\"")
            && stderr.contains("its inputs are: configmaps, spans, rate"),
        "{stderr}"
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let (_runtime, endpoint) = start_worker();
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let dir = dir.to_str().unwrap();
    let cr = write(tmp.path(), "cr.yaml", TASK);

    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Nope",
        "--resource",
        &cr,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "an unknown phase was accepted");
    assert!(
        stderr.contains("no phase \"Nope\"")
            && stderr.contains("Initializing, Processing, Finished"),
        "{stderr}"
    );

    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Finished",
        "--resource",
        &cr,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a final phase was called");
    assert!(stderr.contains("Finished is final"), "{stderr}");

    let pod = write(
        tmp.path(),
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n",
    );
    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Initializing",
        "--resource",
        &pod,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a Pod was accepted as a Task");
    assert!(
        stderr.contains("is a Pod (v1), not a Task (e2e.autopilot.dev/v1)"),
        "{stderr}"
    );

    // The project's own endpoint, a closed port.
    let out = ap(&["call", dir, "--phase", "Initializing", "--resource", &cr]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a closed port answered");
    assert!(
        stderr.contains("cannot reach a worker at http://127.0.0.1:9"),
        "{stderr}"
    );
}

#[test]
fn a_worker_error_exits_1_with_its_code() {
    let (_runtime, endpoint) = start_worker();
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let cr = write(
        tmp.path(),
        "cr.yaml",
        &TASK.replace("message: hello", "behavior: fail"),
    );
    let out = ap(&[
        "call",
        dir.to_str().unwrap(),
        "--phase",
        "Initializing",
        "--resource",
        &cr,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("answered FailedPrecondition: spec.behavior says fail"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "a failed call printed a reply");
}

#[test]
fn a_reply_the_scheduler_would_refuse_exits_1_naming_the_rule() {
    let (_runtime, endpoint) = start_worker();
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let cr = write(
        tmp.path(),
        "cr.yaml",
        &TASK.replace("message: hello", "behavior: secret"),
    );
    let out = ap(&[
        "call",
        dir.to_str().unwrap(),
        "--phase",
        "Initializing",
        "--resource",
        &cr,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the scheduler would refuse the reply (UndeclaredOutput)")
            && stderr
                .contains("output 0 is a v1 Secret, which phase Initializing does not declare"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "a refused reply was printed");
}

#[test]
fn a_query_can_be_nan_infinite_or_failed() {
    let (_runtime, endpoint) = start_worker();
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let dir = dir.to_str().unwrap();
    let cr = write(tmp.path(), "cr.yaml", TASK);
    for (given, seen) in [
        ("rate: .nan\n", json!("NaN")),
        ("rate: NaN\n", json!("NaN")),
        ("rate: .inf\n", json!("inf")),
        ("rate: \"-Inf\"\n", json!("-inf")),
        ("rate: 0.25\n", json!(0.25)),
        (
            "rate: {error: \"bad_data: parse error at char 5\"}\n",
            json!(
                "error: metric query \"sum(rate(requests_total{app=\\\"demo\\\"}[1m]))\" failed: bad_data: parse error at char 5"
            ),
        ),
    ] {
        let inputs = write(tmp.path(), "inputs.yaml", given);
        let out = ap(&[
            "call",
            dir,
            "--phase",
            "Processing",
            "--resource",
            &cr,
            "--inputs",
            &inputs,
            "--endpoint",
            &endpoint,
            "-o",
            "json",
        ]);
        assert!(out.status.success(), "{given}: {}", text(&out.stderr));
        let reply: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(reply["statusInfo"]["rate"], seen, "{given}");
    }
    // Anything else names what a query takes, once.
    let inputs = write(tmp.path(), "inputs.yaml", "rate: fast\n");
    let out = ap(&[
        "call",
        dir,
        "--phase",
        "Processing",
        "--resource",
        &cr,
        "--inputs",
        &inputs,
        "--endpoint",
        &endpoint,
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("rate is a query") && stderr.contains("{error: <message>}"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("rate is a query").count(), 1, "{stderr}");
}
