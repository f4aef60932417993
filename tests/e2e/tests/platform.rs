//! The platform's own `deploy/` — what a cluster admin installs once — on the local control
//! plane: the plain manifests by a server-side dry run and then for real, and the Helm chart by
//! the real `helm lint`, `helm template` (server-side dry run of its output) and `helm install`.
//! Each install is checked by what it is for: the platform ConfigMap names the scheduler image,
//! and a member of the deployers' group may do what `ap deploy` does and nothing beyond it
//! (`kubectl auth can-i`, answered by the API server's own RBAC, with the deployer role
//! aggregated by the controller-manager).
//!
//! helm comes from `hack/helm.sh` (built from its Go module, cached by version); hack/test.sh
//! builds it first and passes it in `AUTOPILOT_HELM`.

use std::process::Command;
use std::time::Duration;

use autopilot_e2e::new_user::{helm, root, run};
use autopilot_e2e::wait;
use autopilot_testenv::ControlPlane;

/// The controller-manager aggregates a ClusterRole's rules within seconds of a change.
const AGGREGATION_TIMEOUT: Duration = Duration::from_secs(60);

/// `kubectl auth can-i <verb> <resource>` as user alice in `group`: "yes" or "no".
fn can_i(cp: &ControlPlane, group: &str, verb: &str, resource: &str) -> String {
    let out = cp
        .kubectl()
        .args([
            "auth",
            "can-i",
            verb,
            resource,
            "--as",
            "alice",
            "--as-group",
            group,
        ])
        .args(["-n", "default"])
        .output()
        .expect("kubectl auth can-i runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits until a member of `group` may create Deployments (the deployer role's aggregated
/// rules are in place), then checks the rest of what the role grants and withholds.
async fn deployer_rights(cp: &ControlPlane, group: &str) {
    wait::until(
        &format!("group {group} to be allowed to create deployments (aggregated deployer role)"),
        AGGREGATION_TIMEOUT,
        || async {
            match can_i(cp, group, "create", "deployments.apps").as_str() {
                "yes" => Ok(()),
                other => Err(format!("can-i create deployments: {other}")),
            }
        },
    )
    .await;
    for (verb, resource, want) in [
        (
            "patch",
            "customresourcedefinitions.apiextensions.k8s.io",
            "yes",
        ),
        ("bind", "clusterroles.rbac.authorization.k8s.io", "yes"),
        ("get", "pods/log", "yes"),
        ("delete", "pods", "no"),
        ("get", "secrets", "no"),
        ("delete", "nodes", "no"),
    ] {
        assert_eq!(
            can_i(cp, group, verb, resource),
            want,
            "may a member of {group} {verb} {resource}?"
        );
    }
    assert_eq!(
        can_i(cp, "someone-else", "create", "deployments.apps"),
        "no",
        "only the deployers' group is bound"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_manifests_install_the_platform() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let deploy = root().join("deploy");
    // The namespace first: a dry run cannot create what the ConfigMap lives in.
    run(
        "kubectl apply -f deploy/namespace.yaml",
        cp.kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(deploy.join("namespace.yaml")),
    );
    let dry = run(
        "kubectl apply --dry-run=server -f deploy/",
        cp.kubectl()
            .args(["apply", "--server-side", "--dry-run=server", "-f"])
            .arg(&deploy),
    );
    assert!(dry.contains("clusterrole.rbac.authorization.k8s.io/autopilot-deployer serverside-applied (server dry run)"), "{dry}");
    run(
        "kubectl apply -f deploy/",
        cp.kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(&deploy),
    );
    let image = run(
        "kubectl get configmap autopilot-platform",
        cp.kubectl().args([
            "get",
            "configmap",
            "autopilot-platform",
            "-n",
            "autopilot-system",
            "-o",
            "jsonpath={.data.schedulerImage}",
        ]),
    );
    assert_eq!(image, "autopilot-scheduler:0.1.0");
    deployer_rights(cp, "autopilot:deployers").await;
    run(
        "kubectl delete -f deploy/",
        cp.kubectl()
            .args(["delete", "--wait=false", "-f"])
            .arg(&deploy),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_chart_installs_the_platform() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let helm = helm();
    let chart = root().join("deploy/chart");
    let helm_cmd = || {
        let mut c = Command::new(&helm);
        c.arg("--kubeconfig").arg(cp.kubeconfig_path());
        c
    };
    let lint = run(
        "helm lint --strict",
        helm_cmd().args(["lint", "--strict"]).arg(&chart),
    );
    assert!(lint.contains("0 chart(s) failed"), "{lint}");

    // Two releases render apart: every name comes from the release.
    let rendered = run(
        "helm template",
        helm_cmd()
            .args(["template", "platform-a"])
            .arg(&chart)
            .args(["--namespace", "default", "--set", "rbac.groups={team-a}"]),
    );
    for name in [
        "name: platform-a-autopilot-platform",
        "name: platform-a-autopilot-deployer",
        "app.kubernetes.io/instance: platform-a",
        "app.kubernetes.io/managed-by: Helm",
        "schedulerImage: \"autopilot-scheduler:0.1.0\"",
    ] {
        assert!(
            rendered.contains(name),
            "helm template has {name:?}:\n{rendered}"
        );
    }
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), &rendered).expect("writing the rendered chart");
    run(
        "kubectl apply --dry-run=server (helm template)",
        cp.kubectl()
            .args(["apply", "--dry-run=server", "-n", "default", "-f"])
            .arg(file.path()),
    );

    // A values file that breaks the schema is refused, naming the field.
    let bad = helm_cmd()
        .args(["template", "bad"])
        .arg(&chart)
        .args(["--set", "scheduler.image.pullPolicy=Sometimes"])
        .output()
        .expect("helm runs");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("pullPolicy"), "{err}");

    let installed = run(
        "helm install",
        helm_cmd()
            .args(["install", "platform-b"])
            .arg(&chart)
            .args([
                "--namespace",
                "platform-b",
                "--create-namespace",
                "--set",
                "rbac.groups={team-b}",
                "--wait",
                "--timeout",
                "60s",
            ]),
    );
    assert!(installed.contains("STATUS: deployed"), "{installed}");
    assert!(
        installed.contains("group team-b"),
        "NOTES.txt says who is bound:\n{installed}"
    );
    deployer_rights(cp, "team-b").await;
    run(
        "helm uninstall",
        helm_cmd().args(["uninstall", "platform-b", "--namespace", "platform-b"]),
    );
    assert_eq!(
        can_i(cp, "team-b", "create", "deployments.apps"),
        "no",
        "helm uninstall removes the binding"
    );
}
