//! The Helm chart `ap generate` writes for an operator, checked by the real helm (built from
//! its Go module by `hack/helm.sh`) against the local control plane: `helm lint --strict`,
//! `helm template` in both RBAC scopes and with every placement value set (server-side dry run
//! of the output), the values schema refusing a typo and a bad enum, then two releases of the
//! same operator installed for real without colliding, `helm upgrade`, and
//! `helm uninstall` keeping the CRD. The operator has its event receiver on, so its Service,
//! Secret mount and Ingress are checked too.

use std::path::{Path, PathBuf};
use std::process::Command;

use autopilot_e2e::new_user::{ap, helm, root, run};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;

/// The canary test project (a sidecar worker and a worker deployed on its own with TLS),
/// generated into `dir`; returns its chart directory.
fn generate(dir: &Path) -> PathBuf {
    let testdata = root().join("codegen/model/testdata/canary");
    std::fs::create_dir_all(dir).unwrap();
    for f in ["autopilot.yaml", "autopilot-operator.yaml"] {
        std::fs::copy(testdata.join(f), dir.join(f)).unwrap();
    }
    // With the event receiver on: its Service, Secret mount and optional Ingress.
    let operator = dir.join("autopilot-operator.yaml");
    let text = std::fs::read_to_string(&operator).unwrap();
    std::fs::write(
        &operator,
        format!(
            "{text}\nreceiver:\n  addr: 0.0.0.0:9093\n  \
             cloudevents: {{tokenFile: /var/run/autopilot/receiver/token}}\n"
        ),
    )
    .unwrap();
    run("ap generate", Command::new(ap()).arg("generate").arg(dir));
    dir.join("deploy/chart")
}

/// `helm <args> <chart> --set-file config.project=… --set-file config.operator=…`, as
/// `helm install` is documented in values.yaml.
fn helm_with_project(kubeconfig: &Path, project: &Path, args: &[&str], chart: &Path) -> Command {
    let mut c = Command::new(helm());
    c.arg("--kubeconfig").arg(kubeconfig);
    c.args(&args[..2]).arg(chart).args(&args[2..]);
    c.arg("--set-file").arg(format!(
        "config.project={}",
        project.join("autopilot.yaml").display()
    ));
    c.arg("--set-file").arg(format!(
        "config.operator={}",
        project.join("autopilot-operator.yaml").display()
    ));
    c
}

/// The documents of `rendered` (a multi-document YAML text) whose kind is not `kind`.
fn without_kind(rendered: &str, kind: &str) -> String {
    rendered
        .split("\n---")
        .filter(|doc| !doc.contains(&format!("\nkind: {kind}\n")))
        .collect::<Vec<_>>()
        .join("\n---")
}

fn server_dry_run(kubectl: &mut Command, namespace: &str, rendered: &str, what: &str) {
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), rendered).expect("writing the rendered chart");
    run(
        &format!("kubectl apply --dry-run=server ({what})"),
        kubectl
            .args(["apply", "--dry-run=server", "-n", namespace, "-f"])
            .arg(file.path()),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_chart_lints_renders_and_installs_twice() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let ns = cp.namespace("chart").await.unwrap();
    let kubeconfig = cp.kubeconfig_path();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("canary");
    let chart = generate(&project);
    let helm_run = |what: &str, args: &[&str]| {
        run(
            what,
            &mut helm_with_project(kubeconfig, &project, args, &chart),
        )
    };

    let lint = helm_run("helm lint --strict", &["lint", "--strict"]);
    assert!(lint.contains("0 chart(s) failed"), "{lint}");

    // Defaults, both RBAC scopes: every object passes the API server's validation.
    let cluster = helm_run(
        "helm template",
        &["template", "alpha", "--namespace", ns.name()],
    );
    for expected in [
        "kind: ClusterRole\n",
        "name: alpha-canary-operator\n",
        "name: alpha-canary-operator-config\n",
        "app.kubernetes.io/instance: alpha\n",
        "app.kubernetes.io/managed-by: Helm\n",
        "helm.sh/resource-policy: keep\n",
        "image: \"autopilot-scheduler:0.1.0\"\n",
        // Workers deployed on their own keep the name autopilot-operator.yaml calls.
        "name: canary-analysis\n",
    ] {
        assert!(cluster.contains(expected), "{expected:?} in:\n{cluster}");
    }
    assert!(!cluster.contains("kind: ServiceMonitor"), "{cluster}");
    assert!(!cluster.contains("kind: PodDisruptionBudget"), "{cluster}");
    assert!(!cluster.contains("kind: Ingress"), "{cluster}");
    server_dry_run(&mut cp.kubectl(), ns.name(), &cluster, "defaults");
    // A namespaced scheduler cannot watch the namespaces the project names: drop them.
    let operator_file = project.join("autopilot-operator.yaml");
    let operator = std::fs::read_to_string(&operator_file).unwrap();
    std::fs::write(
        &operator_file,
        operator.replace("namespaces: [shop, payments]\n", ""),
    )
    .unwrap();
    let namespaced = helm_run(
        "helm template rbac.namespaced=true",
        &[
            "template",
            "alpha",
            "--namespace",
            ns.name(),
            "--set",
            "rbac.namespaced=true",
        ],
    );
    assert!(namespaced.contains("kind: Role\n"), "{namespaced}");
    assert!(!namespaced.contains("ClusterRole"), "{namespaced}");
    assert!(
        namespaced.contains(&format!("- --namespaces={}\n", ns.name())),
        "{namespaced}"
    );
    server_dry_run(&mut cp.kubectl(), ns.name(), &namespaced, "namespaced");

    // Every placement and pull value, the ServiceMonitor and the PodDisruptionBudget.
    let placed = helm_run(
        "helm template with placement values",
        &[
            "template",
            "alpha",
            "--namespace",
            ns.name(),
            "--set",
            "imagePullSecrets[0].name=regcred",
            "--set",
            "scheduler.image.repository=registry.example.com/autopilot-scheduler",
            "--set",
            "scheduler.image.tag=9.9.9",
            "--set",
            "scheduler.nodeSelector.disktype=ssd",
            "--set",
            "scheduler.tolerations[0].key=dedicated",
            "--set",
            "scheduler.tolerations[0].operator=Exists",
            "--set",
            "scheduler.podAnnotations.team=payments",
            "--set",
            "workers.canaryAnalysis.nodeSelector.pool=analysis",
            "--set",
            "workers.canaryAnalysis.image.pullPolicy=Always",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "podDisruptionBudget.enabled=true",
            "--set",
            "scheduler.replicas=2",
            "--set",
            "events.ingress.enabled=true",
            "--set",
            "events.ingress.className=nginx",
            "--set",
            "events.ingress.host=events.example.com",
        ],
    );
    for expected in [
        "image: \"registry.example.com/autopilot-scheduler:9.9.9\"\n",
        "imagePullSecrets:\n        - name: regcred\n",
        "nodeSelector:\n        disktype: ssd\n",
        "nodeSelector:\n        pool: analysis\n",
        "tolerations:\n        - key: dedicated\n          operator: Exists\n",
        "annotations:\n        team: payments\n",
        "imagePullPolicy: Always\n",
        "kind: ServiceMonitor\n",
        "kind: PodDisruptionBudget\n",
        "replicas: 2\n",
        "kind: Ingress\n",
        "host: \"events.example.com\"\n",
        "name: alpha-canary-operator-events\n",
        "secretName: alpha-canary-operator-receiver\n",
    ] {
        assert!(placed.contains(expected), "{expected:?} in:\n{placed}");
    }
    // ServiceMonitor's CRD belongs to the Prometheus Operator, not installed here.
    server_dry_run(
        &mut cp.kubectl(),
        ns.name(),
        &without_kind(&placed, "ServiceMonitor"),
        "placement values",
    );

    // The values schema names what is wrong.
    for (set, field) in [
        ("scheduler.replica=2", "replica"),
        ("scheduler.image.pullPolicy=Sometimes", "pullPolicy"),
        ("workers.canaryWorker.replicas=3", "replicas"),
    ] {
        let out = helm_with_project(
            kubeconfig,
            &project,
            &["template", "bad", "--set", set],
            &chart,
        )
        .output()
        .expect("helm runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--set {set} was accepted");
        assert!(err.contains(field), "--set {set}: {err}");
    }

    // Two releases of the operator, for two teams' namespaces: the cluster-wide objects (RBAC)
    // are named after each release, and the second leaves the CRD to the first. (Workers
    // deployed on their own keep their names, which autopilot-operator.yaml calls, so two
    // releases share a namespace only when those differ.)
    let other = cp.namespace("chart-b").await.unwrap();
    let releases = [
        ("alpha", ns.name(), None),
        ("beta", other.name(), Some("crds.install=false")),
    ];
    for (release, namespace, extra) in releases {
        let mut args = vec!["install", release, "--namespace", namespace];
        if let Some(extra) = extra {
            args.extend(["--set", extra]);
        }
        helm_run(&format!("helm install {release}"), &args);
    }
    let client = cp.client();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    for (release, namespace, _) in releases {
        let d = Api::<Deployment>::namespaced(client.clone(), namespace)
            .get(&format!("{release}-canary-operator"))
            .await
            .unwrap_or_else(|e| panic!("{release}'s scheduler Deployment: {e}"));
        let selector = d.spec.unwrap().selector.match_labels.unwrap_or_default();
        assert_eq!(
            selector
                .get("app.kubernetes.io/instance")
                .map(String::as_str),
            Some(release),
            "{release} selects its own pods: {selector:?}"
        );
        let roles: Api<ClusterRole> = Api::all(client.clone());
        roles
            .get(&format!("{release}-canary-operator"))
            .await
            .unwrap_or_else(|e| panic!("{release}'s ClusterRole: {e}"));
    }

    helm_run(
        "helm upgrade alpha",
        &[
            "upgrade",
            "alpha",
            "--namespace",
            ns.name(),
            "--set",
            "scheduler.replicas=3",
        ],
    );
    let upgraded = deployments.get("alpha-canary-operator").await.unwrap();
    assert_eq!(upgraded.spec.unwrap().replicas, Some(3));

    for (release, namespace, _) in releases {
        run(
            &format!("helm uninstall {release}"),
            Command::new(helm())
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["uninstall", release, "--namespace", namespace]),
        );
    }
    // The CRD stays: deleting it would delete every CanaryDeployment.
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    crds.get("canarydeployments.canary.example.com")
        .await
        .expect("the CRD is kept on uninstall");
}
