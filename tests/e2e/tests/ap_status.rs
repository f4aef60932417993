//! `ap status` against a real kube-apiserver and scheduler: a resource the scheduler holds shows
//! the condition that holds it, with its reason and message; `-o wide` shows more; printer
//! columns, short names and categories declared in autopilot.yaml reach `kubectl get` and
//! `ap status`; NAME shows the tree, `-o json|yaml`, `-l`, `-A`, `--context` and `-w` work.
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_e2e::as_user::{self, fails, kubectl};
use autopilot_e2e::greeter;
use autopilot_e2e::new_user::run;
use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;

const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_resource_shows_the_reason_and_message_that_hold_it() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("ap-status").await.expect("namespace");
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), THREE_PHASES, &endpoint, "");
    let mut sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), ns.name(), &[]);
    // The worker refuses "invalid" with INVALID_ARGUMENT: a permanent error that blocks it.
    create_task(&client, ns.name(), "stuck", "invalid").await;
    create_task(&client, ns.name(), "fine", "ok").await;
    for (name, what) in [
        ("stuck", "a WorkerError condition"),
        ("fine", "phase Finished"),
    ] {
        wait::until(
            &format!("Task {}/{name} to have {what}", ns.name()),
            PHASE_TIMEOUT,
            || {
                let client = client.clone();
                let namespace = ns.name().to_owned();
                async move {
                    let status = task_status(&client, &namespace, name).await;
                    let done = match name {
                        "fine" => status["phase"] == "Finished",
                        _ => status["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "WorkerError" && c["status"] == "True")
                        }),
                    };
                    if done {
                        Ok(())
                    } else {
                        Err(status.to_string())
                    }
                }
            },
        )
        .await;
    }
    let dir_arg = dir.path().to_str().unwrap();
    let out = run(
        "ap status",
        &mut greeter::ap(
            cp.kubeconfig_path(),
            &["status", "--dir", dir_arg, "-n", ns.name()],
        ),
    );
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "AGE", "CONDITION", "MESSAGE"],
        "one namespace: no NAMESPACE column, as kubectl\n{out}"
    );
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{out}"))
            .to_owned()
    };
    let stuck = line("stuck");
    assert!(
        stuck.contains("Initializing")
            && stuck.contains("WorkerError=True (InvalidArgument)")
            && stuck.contains("spec.behavior says invalid"),
        "the blocked resource names its reason and message:\n{out}"
    );
    let fine = line("fine");
    assert!(
        fine.contains("Finished") && fine.contains("=True (Completed)"),
        "{out}"
    );

    let wide = run(
        "ap status -o wide",
        &mut greeter::ap(
            cp.kubeconfig_path(),
            &["status", "--dir", dir_arg, "-n", ns.name(), "-o", "wide"],
        ),
    );
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "PHASE",
            "AGE",
            "ATTEMPT",
            "FAILURES",
            "SYNCED",
            "CONDITIONS",
            "CONDITION",
            "MESSAGE"
        ],
        "{wide}"
    );
    let stuck = wide
        .lines()
        .find(|l| l.split_whitespace().next() == Some("stuck"))
        .unwrap_or_else(|| panic!("no line for stuck:\n{wide}"));
    let cells: Vec<&str> = stuck.split_whitespace().collect();
    assert!(
        cells[4].parse::<u32>().is_ok_and(|f| f >= 1),
        "FAILURES counts the failed calls:\n{wide}"
    );
    assert_eq!(
        cells[5], "yes",
        "the status is of the current generation:\n{wide}"
    );
    assert!(
        cells[6].contains("WorkerError=True") && cells[6].contains("Progressing=True"),
        "{wide}"
    );
    assert!(stuck.contains("spec.behavior says invalid"), "{wide}");
    sched.kill().await;
}

/// A project of kind Release (its own group, so its CRD is generated by `ap generate` without
/// touching the Task CRD other tests share) declaring columns, a short name and a category.
const RELEASES: &str = r#"apiVersion: people.e2e.autopilot.dev/v1
kind: Release
operatorName: release-operator
shortNames: [rel]
categories: [autopilot-e2e]
printerColumns:
  - name: Seen
    type: integer
    jsonPath: .status.statusInfo.configMapsSeen
    description: ConfigMaps the Processing phase saw
  - name: Healthy
    type: string
    jsonPath: .status.conditions[?(@.type=="Healthy")].status
    priority: 1
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
    inputs:
      - name: configmaps
        labelSelector: "autopilot.dev/owner-uid={{ metadata.uid }}"
    outputs: [configmaps]
  - name: Finished
    final: true
  - name: Failed
    final: true
"#;

/// The cells of the line whose first cell is `name`.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
        .unwrap_or_else(|| panic!("no line for {name}:\n{table}"))
}

fn header(table: &str) -> Vec<&str> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

async fn release_status(client: &kube::Client, ns: &str, name: &str) -> serde_json::Value {
    let resource = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("people.e2e.autopilot.dev", "v1", "Release"),
        "releases",
    );
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), ns, &resource);
    api.get(name)
        .await
        .map(|o| o.data["status"].clone())
        .unwrap_or_default()
}

async fn wait_finished(client: &kube::Client, ns: &str, name: &str) -> serde_json::Value {
    wait::until(
        &format!("Release {ns}/{name} to reach phase Finished"),
        PHASE_TIMEOUT,
        || async move {
            let status = release_status(client, ns, name).await;
            if status["phase"] == "Finished" {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        },
    )
    .await
}

fn apply_release(kubeconfig: &Path, ns: &str, name: &str, team: &str) {
    as_user::apply(
        kubeconfig,
        &format!(
            "apiVersion: people.e2e.autopilot.dev/v1\nkind: Release\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{team: {team}}}\nspec:\n  behavior: ok\n  message: hello\n"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_columns_reach_kubectl_and_ap_status_reads_like_kubectl() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let kubeconfig = cp.kubeconfig_path();
    let ns = cp.namespace("ap-status-kubectl").await.expect("namespace");
    let ns = ns.name();

    // An empty directory points at `ap init`.
    let empty = tempfile::tempdir().unwrap();
    let err = fails(
        "ap status in an empty directory",
        &mut greeter::ap(
            kubeconfig,
            &["status", "--dir", empty.path().to_str().unwrap()],
        ),
    );
    assert!(err.contains("run `ap init"), "{err}");

    // The CRD as `ap generate` writes it, applied as a user would.
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), RELEASES, &endpoint, "");
    let dir_arg = dir.path().to_str().unwrap();
    as_user::install_generated_crd(dir.path(), kubeconfig, "releases.people.e2e.autopilot.dev");
    let none = run(
        "ap status with no resources",
        &mut greeter::ap(kubeconfig, &["status", "--dir", dir_arg, "-n", ns]),
    );
    assert!(none.contains("No releases found"), "{none}");

    let mut sched = SchedulerProcess::start(dir.path(), kubeconfig, ns, &[]);
    apply_release(kubeconfig, ns, "done", "a");
    apply_release(kubeconfig, ns, "other", "b");
    let status = wait_finished(&client, ns, "done").await;
    wait_finished(&client, ns, "other").await;
    let seen = status["statusInfo"]["configMapsSeen"].to_string();
    assert_ne!(seen, "null", "the worker reports configMapsSeen: {status}");

    // kubectl: the declared column, by short name and by category.
    for what in ["releases.people.e2e.autopilot.dev", "rel", "autopilot-e2e"] {
        let out = run(
            &format!("kubectl get {what}"),
            &mut kubectl(kubeconfig, &["get", what, "-n", ns]),
        );
        assert_eq!(
            header(&out),
            ["NAME", "PHASE", "SEEN", "AGE"],
            "{what}:\n{out}"
        );
        assert_eq!(
            row(&out, "done")[1..3],
            ["Finished", seen.as_str()],
            "{out}"
        );
        row(&out, "other");
    }
    let wide = run(
        "kubectl get -o wide",
        &mut kubectl(kubeconfig, &["get", "rel", "-n", ns, "-o", "wide"]),
    );
    assert_eq!(
        header(&wide),
        ["NAME", "PHASE", "SEEN", "HEALTHY", "AGE"],
        "{wide}"
    );
    assert_eq!(row(&wide, "done")[3], "True", "{wide}");

    // ap status: the same columns, then its own.
    let ap = |args: &[&str]| {
        let mut all = vec!["status", "--dir", dir_arg];
        all.extend_from_slice(args);
        greeter::ap(kubeconfig, &all)
    };
    let out = run("ap status", &mut ap(&["-n", ns]));
    assert_eq!(
        header(&out),
        ["NAME", "PHASE", "SEEN", "AGE", "CONDITION", "MESSAGE"],
        "{out}"
    );
    assert_eq!(
        row(&out, "done")[1..3],
        ["Finished", seen.as_str()],
        "{out}"
    );
    let wide = run("ap status -o wide", &mut ap(&["-n", ns, "-o", "wide"]));
    assert_eq!(
        header(&wide)[..5],
        ["NAME", "PHASE", "SEEN", "HEALTHY", "AGE"],
        "{wide}"
    );
    assert_eq!(row(&wide, "done")[3], "True", "{wide}");
    let all = run("ap status -A", &mut ap(&["-A"]));
    assert_eq!(header(&all)[..2], ["NAMESPACE", "NAME"], "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with(ns) && l.contains(" done ")),
        "{all}"
    );
    let labelled = run("ap status -l", &mut ap(&["-n", ns, "-l", "team=a"]));
    row(&labelled, "done");
    assert!(
        !labelled.contains("other"),
        "-l selects only team=a:\n{labelled}"
    );

    // ap status NAME: the tree, with owned objects and Events.
    let tree = run("ap status done", &mut ap(&["done", "-n", ns]));
    for want in [
        "Name:         done\n",
        "Kind:         Release (people.e2e.autopilot.dev/v1)\n",
        "Phase:        Finished (final)\n",
        &format!("Seen:         {seen}\n"),
        "Healthy=True Processed",
        "configMapsSeen:",
        "⟳ ConfigMap/done-config",
        "Initialized",
    ] {
        assert!(tree.contains(want), "want {want:?} in the tree:\n{tree}");
    }
    // Without -n, a name found in one namespace only.
    let found = run("ap status done -A", &mut ap(&["done", "-A"]));
    assert!(found.contains(&format!("Namespace:    {ns}\n")), "{found}");

    let json = run(
        "ap status -o json",
        &mut ap(&["done", "-n", ns, "-o", "json"]),
    );
    let object: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        (
            &object["kind"],
            &object["metadata"]["name"],
            &object["status"]["phase"]
        ),
        (&"Release".into(), &"done".into(), &"Finished".into())
    );
    let yaml = run("ap status -o yaml", &mut ap(&["-n", ns, "-o", "yaml"]));
    assert!(
        yaml.contains("kind: List") && yaml.contains("name: other"),
        "{yaml}"
    );

    // Errors: a missing name, an unknown context; the kubeconfig's own context works.
    let err = fails("ap status nosuch", &mut ap(&["nosuch", "-n", ns]));
    assert!(err.contains("Release \"nosuch\" not found"), "{err}");
    let err = fails(
        "ap status --context nosuch",
        &mut ap(&["--context", "nosuch-context"]),
    );
    assert!(err.contains("nosuch-context"), "{err}");
    let context = run(
        "kubectl config current-context",
        &mut kubectl(kubeconfig, &["config", "current-context"]),
    );
    let out = run(
        "ap status --context",
        &mut ap(&["-n", ns, "--context", context.trim()]),
    );
    row(&out, "done");

    // -w: a resource created after the watch started shows up as it moves.
    let mut watch = ap(&["-n", ns, "-w"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting ap status -w");
    let printed = Arc::new(Mutex::new(String::new()));
    let stdout = watch.stdout.take().unwrap();
    let sink = printed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    wait::until("ap status -w to print its table", PHASE_TIMEOUT, || {
        let printed = printed.lock().unwrap().clone();
        async move {
            if printed.lines().any(|l| l.starts_with("done ")) {
                Ok(())
            } else {
                Err(printed)
            }
        }
    })
    .await;
    apply_release(kubeconfig, ns, "late", "a");
    wait::until(
        "ap status -w to print a line for the new Release in phase Finished",
        PHASE_TIMEOUT,
        || {
            let printed = printed.lock().unwrap().clone();
            async move {
                let finished = printed
                    .lines()
                    .any(|l| l.starts_with("late ") && l.contains(" Finished "));
                if finished { Ok(()) } else { Err(printed) }
            }
        },
    )
    .await;
    let printed = printed.lock().unwrap().clone();
    assert_eq!(
        printed.lines().filter(|l| l.starts_with("NAME ")).count(),
        1,
        "the header is printed once:\n{printed}"
    );
    watch.kill().ok();
    watch.wait().ok();
    sched.kill().await;
}
