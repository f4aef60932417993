//! `ap pause|resume|retry|abort|approve|promote` as a user runs them against a real
//! kube-apiserver: each sets the annotations the scheduler reads, records an Event naming who
//! did it, shows in `ap status NAME`, and refuses what the operator does not declare.
use std::collections::BTreeMap;
use std::path::Path;

use autopilot_e2e::as_user::{self, fails};
use autopilot_e2e::greeter;
use autopilot_e2e::new_user::run;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

const ROLLOUTS: &str = r#"apiVersion: verbs.e2e.autopilot.dev/v1
kind: Rollout
operatorName: rollout-operator
spec:
  type: object
  properties:
    behavior:
      type: string
abortPhase: Aborted
gates:
  - name: start
    phase: Initializing
  - name: promote
    phase: Processing
    when: leaving
    description: Check the canary's dashboards
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

async fn annotations(client: &kube::Client, ns: &str, name: &str) -> BTreeMap<String, String> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("verbs.e2e.autopilot.dev", "v1", "Rollout"),
        "rollouts",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    api.get(name)
        .await
        .expect("reading the Rollout")
        .metadata
        .annotations
        .unwrap_or_default()
}

async fn event_reasons(client: &kube::Client, ns: &str, name: &str) -> Vec<(String, String)> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .expect("listing Events")
        .items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

fn rollout(kubeconfig: &Path, ns: &str, name: &str, team: &str) {
    as_user::apply(
        kubeconfig,
        &format!(
            "apiVersion: verbs.e2e.autopilot.dev/v1\nkind: Rollout\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{team: {team}}}\nspec:\n  behavior: ok\n"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_annotate_record_who_and_refuse_what_is_not_declared() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let kubeconfig = cp.kubeconfig_path();
    let ns = cp.namespace("ap-verbs").await.expect("namespace");
    let ns = ns.name();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("autopilot.yaml"), ROLLOUTS).unwrap();
    as_user::install_generated_crd(dir.path(), kubeconfig, "rollouts.verbs.e2e.autopilot.dev");
    rollout(kubeconfig, ns, "web", "a");
    rollout(kubeconfig, ns, "api", "b");
    let dir_arg = dir.path().to_str().unwrap();
    let ap = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--dir", dir_arg, "-n", ns]);
        greeter::ap(kubeconfig, &all)
    };

    // pause: the annotation the scheduler honours, who paused, an Event, the tree.
    let out = run("ap pause web", &mut ap(&["pause", "web"]));
    assert_eq!(out, "rollout/web paused\n");
    let set = annotations(&client, ns, "web").await;
    assert_eq!(
        set.get("autopilot.dev/paused").map(String::as_str),
        Some("true")
    );
    let by = set
        .get("autopilot.dev/paused-by")
        .cloned()
        .unwrap_or_default();
    assert!(
        !by.is_empty() && !by.starts_with("an unknown user"),
        "the paused-by annotation names the user the API server knows: {by:?}"
    );
    let events = event_reasons(&client, ns, "web").await;
    assert!(
        events
            .iter()
            .any(|(reason, message)| reason == "Paused" && message.contains(" by ")),
        "{events:?}"
    );
    let tree = run("ap status web", &mut ap(&["status", "web"]));
    assert!(tree.contains("Paused:       yes (by "), "{tree}");
    assert!(
        tree.contains("  start (before Initializing): waiting: `ap approve` opens it\n")
            && tree.contains("  promote (leaving Processing): not approved\n"),
        "{tree}"
    );

    // resume by selector removes both annotations and leaves the other resource alone.
    let out = run("ap resume -l team=a", &mut ap(&["resume", "-l", "team=a"]));
    assert_eq!(out, "rollout/web resumed\n");
    let set = annotations(&client, ns, "web").await;
    assert!(
        !set.contains_key("autopilot.dev/paused") && !set.contains_key("autopilot.dev/paused-by"),
        "{set:?}"
    );

    run("ap retry web", &mut ap(&["retry", "web"]));
    assert!(
        annotations(&client, ns, "web")
            .await
            .contains_key("autopilot.dev/retry")
    );

    let out = run("ap abort api", &mut ap(&["abort", "api"]));
    assert_eq!(out, "rollout/api abort requested (to phase Aborted)\n");
    assert!(
        annotations(&client, ns, "api")
            .await
            .contains_key("autopilot.dev/abort")
    );

    // promote opens the gate on the current phase (no status yet: the initial phase).
    let out = run("ap promote web", &mut ap(&["promote", "web"]));
    assert_eq!(out, "rollout/web gate start approved\n");
    let set = annotations(&client, ns, "web").await;
    assert_eq!(
        set.get("gate.autopilot.dev/start").map(String::as_str),
        Some("approved")
    );
    let out = run(
        "ap approve --gate promote",
        &mut ap(&["approve", "api", "--gate", "promote"]),
    );
    assert_eq!(out, "rollout/api gate promote approved\n");
    let tree = run("ap status api", &mut ap(&["status", "api"]));
    assert!(
        tree.contains("  promote (leaving Processing): approved by "),
        "{tree}"
    );
    let events = event_reasons(&client, ns, "api").await;
    assert!(
        events
            .iter()
            .any(|(reason, message)| reason == "GateApproved"
                && message.contains("gate promote approved by ")),
        "{events:?}"
    );

    // Refusals, each saying why.
    let err = fails(
        "ap approve --gate nope",
        &mut ap(&["approve", "web", "--gate", "nope"]),
    );
    assert!(
        err.contains("no gate \"nope\" is declared (declared: start, promote)"),
        "{err}"
    );
    let err = fails("ap pause without a target", &mut ap(&["pause"]));
    assert!(err.contains("NAME, -l SELECTOR, or --all"), "{err}");
    let err = fails("ap pause nosuch", &mut ap(&["pause", "nosuch"]));
    assert!(err.contains("Rollout \"nosuch\" not found"), "{err}");
    let plain = tempfile::tempdir().unwrap();
    std::fs::write(
        plain.path().join("autopilot.yaml"),
        ROLLOUTS
            .replace("abortPhase: Aborted\n", "")
            .split("gates:")
            .next()
            .unwrap()
            .to_owned()
            + &ROLLOUTS[ROLLOUTS.find("phases:").unwrap()..],
    )
    .unwrap();
    let err = fails(
        "ap abort without abortPhase",
        &mut greeter::ap(
            kubeconfig,
            &[
                "abort",
                "web",
                "--dir",
                plain.path().to_str().unwrap(),
                "-n",
                ns,
            ],
        ),
    );
    assert!(err.contains("declares no abortPhase"), "{err}");
}
