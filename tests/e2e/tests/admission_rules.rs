//! CEL validation rules declared in `autopilot.yaml` reach the CRD and are enforced by the real
//! kube-apiserver at `kubectl apply`, with the rule's message; `ap validate` catches a broken
//! rule at its file:line first, and the API server refuses the same broken rules in a CRD.
use std::path::Path;
use std::process::Output;

use autopilot_e2e::greeter;
use autopilot_e2e::new_user::run;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `kubectl apply -f <file>` of `yaml`, its output whether it succeeded or not.
fn kubectl_apply(
    cp: &autopilot_testenv::ControlPlane,
    dir: &Path,
    name: &str,
    yaml: &str,
) -> Output {
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    cp.kubectl()
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .expect("running kubectl apply")
}

fn canary(threshold: &str, target: &str) -> String {
    format!(
        "apiVersion: rules.e2e.autopilot.dev/v1\nkind: Canary\nmetadata:\n  name: checked\n  \
         namespace: default\nspec:\n  target: {target}\n  successThreshold: {threshold}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_checked_by_ap_validate_and_enforced_at_kubectl_apply() {
    // A control plane of its own: the test installs and breaks a cluster-wide CRD.
    let cp = autopilot_testenv::ControlPlane::builder()
        .start()
        .await
        .expect("control plane");
    let kubeconfig = cp.kubeconfig_path();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rules");
    let dir_arg = dir.to_str().unwrap();
    run(
        "ap init",
        &mut greeter::ap(
            kubeconfig,
            &[
                "init",
                dir_arg,
                "--kind",
                "Canary",
                "--group",
                "rules.e2e.autopilot.dev",
            ],
        ),
    );
    let project_file = dir.join("autopilot.yaml");
    let project = std::fs::read_to_string(&project_file).unwrap();
    assert!(
        project.contains("rule: self.target == oldSelf.target"),
        "ap init declares a rule:\n{project}"
    );

    // A typo in a rule is caught before any cluster sees it, at its line.
    let typo = project.replace(
        "self.target == oldSelf.target",
        "self.targt == oldSelf.target",
    );
    std::fs::write(&project_file, &typo).unwrap();
    let out = greeter::ap(kubeconfig, &["validate", dir_arg])
        .output()
        .expect("running ap validate");
    let said = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "ap validate accepted a typo:\n{said}"
    );
    let line = typo
        .lines()
        .position(|l| l.contains("self.targt"))
        .expect("the rule's line")
        + 1;
    let at = format!("autopilot.yaml:{line}:");
    assert!(
        said.lines().any(|l| l.contains(&at)
            && l.contains("spec.x-kubernetes-validations[0].rule")
            && l.contains("unknown field `targt`; did you mean `target`?")),
        "want a diagnostic at {at} naming the field:\n{said}"
    );
    std::fs::write(&project_file, &project).unwrap();
    run(
        "ap validate",
        &mut greeter::ap(kubeconfig, &["validate", dir_arg]),
    );
    run(
        "ap generate",
        &mut greeter::ap(kubeconfig, &["generate", dir_arg]),
    );

    let crd_file = dir.join("deploy/crd.yaml");
    let crd = std::fs::read_to_string(&crd_file).unwrap();
    run(
        "kubectl apply (the generated CRD)",
        cp.kubectl().args(["apply", "-f"]).arg(&crd_file),
    );
    run(
        "kubectl wait (the CRD)",
        cp.kubectl().args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/canaries.rules.e2e.autopilot.dev",
        ]),
    );

    // A resource within the rules is accepted.
    let out = kubectl_apply(&cp, tmp.path(), "good.yaml", &canary("0.9", "web"));
    assert!(out.status.success(), "a valid Canary: {}", stderr(&out));

    // A value outside a rule is refused, with the message the rule computes.
    let out = kubectl_apply(&cp, tmp.path(), "threshold.yaml", &canary("1.5", "web"));
    assert!(!out.status.success(), "successThreshold 1.5 was accepted");
    assert!(
        stderr(&out).contains("successThreshold must be at most 1"),
        "the messageExpression's message: {}",
        stderr(&out)
    );

    // A transition rule: the target cannot change on update.
    let out = kubectl_apply(&cp, tmp.path(), "retarget.yaml", &canary("0.9", "api"));
    assert!(!out.status.success(), "changing the target was accepted");
    assert!(
        stderr(&out).contains("target cannot change; create another resource for another workload"),
        "the rule's message: {}",
        stderr(&out)
    );
    let kept = run(
        "kubectl get (the Canary)",
        cp.kubectl().args([
            "get",
            "canaries.rules.e2e.autopilot.dev",
            "checked",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.target} {.spec.successThreshold}",
        ]),
    );
    assert_eq!(kept, "web 0.9", "the refused writes changed nothing");

    // What `ap validate` refuses, the API server refuses in a CRD too.
    for (broken, server_says) in [
        ("self.targt == oldSelf.target", "undefined field 'targt'"),
        ("self.target == oldSelf.target &&", "Syntax error"),
    ] {
        let out = kubectl_apply(
            &cp,
            tmp.path(),
            "broken-crd.yaml",
            &crd.replace("self.target == oldSelf.target", broken),
        );
        assert!(!out.status.success(), "the API server accepted `{broken}`");
        assert!(
            stderr(&out).contains(server_says),
            "`{broken}`: want {server_says:?} in: {}",
            stderr(&out)
        );
        let check = project.replace("self.target == oldSelf.target", broken);
        std::fs::write(&project_file, &check).unwrap();
        let out = greeter::ap(kubeconfig, &["validate", dir_arg])
            .output()
            .expect("running ap validate");
        assert!(!out.status.success(), "ap validate accepted `{broken}`");
    }
}
