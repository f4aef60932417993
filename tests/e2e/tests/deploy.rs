//! Putting an operator on a cluster with `ap`: the generated manifests pass the
//! API server's validation, `ap deploy` then `ap undeploy` leaves nothing behind, the generated
//! RBAC is enough for a full operator run and no more, and `ap build` without a container
//! engine. (`ap run` is proven per language by the new-user suites, `lang_*.rs` and
//! `new_user_rust.rs`; the rollout wait and `ap logs --cluster` by `deploy_rollout.rs`; the
//! generated Helm chart by `chart.rs`.)
//!
//! `ap` is built into the workspace's target directory once per test process (as
//! `autopilot-scheduler` is, see `autopilot_e2e::scheduler::binary`). The worker that `ap run`
//! builds goes to `$AUTOPILOT_CACHE/target-golden-rust`, shared with the new-user suite.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use autopilot_e2e::greeter::{self, Greeter};
use autopilot_e2e::new_user::{ap as ap_binary, root as repo_root};
use autopilot_e2e::project::{self, THREE_PHASES};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, verbs};
use serde_json::{Value, json};

fn ap(kubeconfig: &Path, args: &[&str]) -> Output {
    greeter::ap(kubeconfig, args).output().expect("running ap")
}

fn ok(what: &str, out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A two-step project with a unique group and operator name, generated with `ap generate`;
/// returns the operator name.
fn greeter(dir: &Path, kubeconfig: &Path, suffix: &str, namespace: &str) -> String {
    Greeter::generate(dir, kubeconfig, suffix, namespace).operator
}

fn kubectl_dry_run(kubeconfig: &Path, namespace: &str, file: &Path) {
    let out = Command::new("kubectl")
        .args(["apply", "--dry-run=server", "-n", namespace, "-f"])
        .arg(file)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("running kubectl");
    ok(
        &format!("kubectl apply --dry-run=server -f {}", file.display()),
        out,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_pass_server_dry_run() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let ns = cp.namespace("deploy-dry").await.unwrap();
    let kubeconfig = cp.kubeconfig_path();
    let tmp = tempfile::tempdir().unwrap();
    // The canary project: a sidecar worker on a unix socket and a worker deployed on its own
    // with TLS and two replicas.
    let dir = tmp.path().join("canary");
    std::fs::create_dir_all(&dir).unwrap();
    let testdata = repo_root().join("codegen/model/testdata/canary");
    for f in ["autopilot.yaml", "autopilot-operator.yaml"] {
        std::fs::copy(testdata.join(f), dir.join(f)).unwrap();
    }
    ok(
        "ap generate",
        ap(
            kubeconfig,
            &["generate", dir.to_str().unwrap(), "--namespace", ns.name()],
        ),
    );
    let deploy = dir.join("deploy");
    for file in ["crd.yaml", "rbac.yaml", "scheduler.yaml", "workers.yaml"] {
        kubectl_dry_run(kubeconfig, ns.name(), &deploy.join(file));
    }
    // `ap deploy --dry-run` sends the same objects, with the ConfigMap, through the API.
    let out = ok(
        "ap deploy --dry-run",
        ap(
            kubeconfig,
            &[
                "deploy",
                dir.to_str().unwrap(),
                "--namespace",
                ns.name(),
                "--dry-run",
            ],
        ),
    );
    for object in [
        "ConfigMap/canary-operator-config",
        "ClusterRole/canary-operator",
        "Deployment/canary-operator",
        "Deployment/canary-analysis",
        "Service/canary-analysis",
    ] {
        assert!(
            out.contains(&format!("applied {object} (dry run)")),
            "{out}"
        );
    }
    // Namespaced: a Role and RoleBinding in the namespace instead of the cluster-wide pair. A
    // scheduler limited to its namespace cannot watch the namespaces the project names.
    let refused = ap(
        kubeconfig,
        &[
            "deploy",
            dir.to_str().unwrap(),
            "--namespace",
            ns.name(),
            "--namespaced",
            "--dry-run",
        ],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("watches shop, payments"),
        "{stderr}"
    );
    let operator_file = dir.join("autopilot-operator.yaml");
    let operator_text = std::fs::read_to_string(&operator_file).unwrap();
    std::fs::write(
        &operator_file,
        operator_text.replace("namespaces: [shop, payments]\n", ""),
    )
    .unwrap();
    let out = ok(
        "ap deploy --namespaced --dry-run",
        ap(
            kubeconfig,
            &[
                "deploy",
                dir.to_str().unwrap(),
                "--namespace",
                ns.name(),
                "--namespaced",
                "--dry-run",
            ],
        ),
    );
    for object in [
        "Role/canary-operator",
        "RoleBinding/canary-operator",
        "Deployment/canary-operator",
    ] {
        assert!(
            out.contains(&format!("applied {object} (dry run)")),
            "{out}"
        );
    }
    assert!(!out.contains("ClusterRole"), "{out}");
}

/// Every object of every listable kind, as `group/kind namespace/name`; Events are left out
/// (records of what happened, which expire on their own).
async fn everything(client: &kube::Client) -> BTreeSet<String> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let mut all = BTreeSet::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::LIST) || resource.kind == "Event" {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let Ok(list) = api.list(&ListParams::default()).await else {
                continue;
            };
            for item in list.items {
                all.insert(format!(
                    "{}/{} {}/{}",
                    resource.group,
                    resource.kind,
                    item.metadata.namespace.unwrap_or_default(),
                    item.metadata.name.unwrap_or_default()
                ));
            }
        }
    }
    all
}

fn difference(before: &BTreeSet<String>, after: &BTreeSet<String>) -> String {
    let added: Vec<_> = after.difference(before).collect();
    let removed: Vec<_> = before.difference(after).collect();
    format!("added {added:?}, removed {removed:?}")
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_then_undeploy_leaves_nothing_behind() {
    // A control plane of its own: nothing else creates objects while the snapshots are taken.
    let cp = autopilot_testenv::ControlPlane::builder()
        .with_controller_manager()
        .start()
        .await
        .expect("control plane");
    let client = cp.client();
    let kubeconfig = cp.kubeconfig_path();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("greeter");
    let operator = greeter(&dir, kubeconfig, "undeploy", "default");
    let before = everything(&client).await;

    let out = ok(
        "ap deploy",
        ap(
            kubeconfig,
            &[
                "deploy",
                dir.to_str().unwrap(),
                "--namespace",
                "greeter-system",
                "--image",
                "registry.example/greeter:1",
                "--no-wait",
            ],
        ),
    );
    assert!(out.contains("applied Deployment/greeter-undeploy"), "{out}");
    let during = everything(&client).await;
    let added: Vec<&String> = during.difference(&before).collect();
    for expected in [
        "/Namespace /greeter-system".to_owned(),
        "apiextensions.k8s.io/CustomResourceDefinition /greetings.undeploy.deploy.e2e.autopilot.dev".to_owned(),
        format!("rbac.authorization.k8s.io/ClusterRole /{operator}"),
        format!("rbac.authorization.k8s.io/ClusterRoleBinding /{operator}"),
        format!("/ServiceAccount greeter-system/{operator}"),
        format!("/ConfigMap greeter-system/{operator}-config"),
        format!("apps/Deployment greeter-system/{operator}"),
        format!("/Service greeter-system/{operator}-metrics"),
    ] {
        assert!(
            added.contains(&&expected),
            "{expected} missing from {added:?}"
        );
    }
    // Everything ap created carries its labels.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "greeter-system");
    let deployment = deployments.get(&operator).await.unwrap();
    let labels = deployment.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "ap");
    assert_eq!(labels["app.kubernetes.io/part-of"], operator);
    let image = deployment.spec.unwrap().template.spec.unwrap().containers[1]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("registry.example/greeter:1"));

    // `ap status` lists resources of the kind, like kubectl get.
    let greetings = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("undeploy.deploy.e2e.autopilot.dev", "v1", "Greeting"),
        "greetings",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &greetings);
    let greeting: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "undeploy.deploy.e2e.autopilot.dev/v1", "kind": "Greeting",
        "metadata": {"name": "hello"}, "spec": {"name": "world"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &greeting).await.unwrap();
    let out = ok(
        "ap status",
        ap(kubeconfig, &["status", "--dir", dir.to_str().unwrap()]),
    );
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("NAME ") && header.contains("PHASE"),
        "{out}"
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("hello ")),
        "{out}"
    );

    // Without --all the CRD (and so the resource) stays.
    let out = ok(
        "ap undeploy",
        ap(
            kubeconfig,
            &[
                "undeploy",
                dir.to_str().unwrap(),
                "--namespace",
                "greeter-system",
            ],
        ),
    );
    assert!(out.contains("kept CustomResourceDefinition/"), "{out}");
    let crd = "apiextensions.k8s.io/CustomResourceDefinition /greetings.undeploy.deploy.e2e.autopilot.dev".to_owned();
    let cr = "undeploy.deploy.e2e.autopilot.dev/Greeting default/hello".to_owned();
    // The API server registers an APIService for the CRD's group version by itself.
    let api_service =
        "apiregistration.k8s.io/APIService /v1.undeploy.deploy.e2e.autopilot.dev".to_owned();
    let expected: BTreeSet<String> = before
        .iter()
        .cloned()
        .chain([crd, cr, api_service])
        .collect();
    wait::until(
        "everything but the CRD and its resource to be gone after ap undeploy",
        Duration::from_secs(60),
        || async {
            let now = everything(&client).await;
            if now == expected {
                Ok(())
            } else {
                Err(difference(&expected, &now))
            }
        },
    )
    .await;

    ok(
        "ap undeploy --all",
        ap(
            kubeconfig,
            &[
                "undeploy",
                dir.to_str().unwrap(),
                "--namespace",
                "greeter-system",
                "--all",
            ],
        ),
    );
    wait::until(
        "the cluster to be as before ap deploy",
        Duration::from_secs(60),
        || async {
            let now = everything(&client).await;
            if now == before {
                Ok(())
            } else {
                Err(difference(&before, &now))
            }
        },
    )
    .await;

    // Namespaced: a Role and RoleBinding in the namespace, and a scheduler watching it alone.
    ok(
        "ap deploy --namespaced",
        ap(
            kubeconfig,
            &[
                "deploy",
                dir.to_str().unwrap(),
                "--namespace",
                "greeter-system",
                "--namespaced",
                "--no-wait",
            ],
        ),
    );
    let during = everything(&client).await;
    let added: Vec<&String> = during.difference(&before).collect();
    for expected in [
        format!("rbac.authorization.k8s.io/Role greeter-system/{operator}"),
        format!("rbac.authorization.k8s.io/RoleBinding greeter-system/{operator}"),
        format!("apps/Deployment greeter-system/{operator}"),
    ] {
        assert!(
            added.contains(&&expected),
            "{expected} missing from {added:?}"
        );
    }
    assert!(
        !added.iter().any(|o| o.contains("/ClusterRole")),
        "a namespaced deploy created cluster-wide RBAC: {added:?}"
    );
    let scheduler = deployments.get(&operator).await.unwrap();
    let args = scheduler.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap_or_default();
    assert!(
        args.contains(&"--namespaces=greeter-system".to_owned()),
        "{args:?}"
    );
    ok(
        "ap undeploy --all (namespaced)",
        ap(
            kubeconfig,
            &[
                "undeploy",
                dir.to_str().unwrap(),
                "--namespace",
                "greeter-system",
                "--all",
            ],
        ),
    );
    wait::until(
        "the cluster to be as before the namespaced ap deploy",
        Duration::from_secs(60),
        || async {
            let now = everything(&client).await;
            if now == before {
                Ok(())
            } else {
                Err(difference(&before, &now))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_rbac_is_enough_and_no_more() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let ns = cp.namespace("deploy-rbac").await.unwrap();
    let client = cp.client();
    let tmp = tempfile::tempdir().unwrap();
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = project::write(&tmp.path().join("task"), THREE_PHASES, &endpoint, "");
    ok(
        "ap generate",
        ap(
            cp.kubeconfig_path(),
            &["generate", dir.to_str().unwrap(), "--namespace", ns.name()],
        ),
    );
    for file in ["crd.yaml", "rbac.yaml"] {
        let out = Command::new("kubectl")
            .args(["apply", "-f"])
            .arg(dir.join("deploy").join(file))
            .env("KUBECONFIG", cp.kubeconfig_path())
            .output()
            .unwrap();
        ok(&format!("kubectl apply -f {file}"), out);
    }
    project::install_crd(&client).await;

    // A kubeconfig acting as the generated ServiceAccount.
    let user = format!("system:serviceaccount:{}:task-operator", ns.name());
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(cp.kubeconfig_path()).unwrap()).unwrap();
    config["users"][0]["user"]["as"] = json!(user);
    let impersonating = tmp.path().join("kubeconfig-sa");
    std::fs::write(&impersonating, config.to_string()).unwrap();

    let mut scheduler = SchedulerProcess::start(&dir, &impersonating, ns.name(), &[]);
    project::create_task(&client, ns.name(), "rbac", "ok").await;
    wait::until(
        "the Task run as the ServiceAccount to reach Finished",
        Duration::from_secs(60),
        || async {
            let status = project::task_status(&client, ns.name(), "rbac").await;
            if status["phase"] == "Finished" {
                Ok(())
            } else {
                Err(status.to_string())
            }
        },
    )
    .await;
    let log = scheduler.log_text();
    assert!(
        !log.contains("forbidden"),
        "the scheduler was refused something:\n{log}"
    );
    scheduler.kill().await;

    // Writes outside the declared outputs (ConfigMaps) are refused by the API server.
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&impersonating).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let as_sa = kube::Client::try_from(config).unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(as_sa.clone(), ns.name());
    let secret = serde_json::from_value(json!({"metadata": {"name": "not-an-output"}})).unwrap();
    match secrets.create(&PostParams::default(), &secret).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("creating a Secret as the ServiceAccount: {other:?}"),
    }
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(as_sa.clone(), ns.name());
    match deployments.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing Deployments as the ServiceAccount: {other:?}"),
    }
    // A declared output is allowed.
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(as_sa, ns.name());
    let cm = serde_json::from_value(json!({"metadata": {"name": "an-output"}})).unwrap();
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
}

#[test]
fn ap_build_builds_the_binary_and_reports_an_unreachable_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("greeter");
    greeter(&dir, Path::new("/nonexistent"), "build", "default");
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/autopilot")))
        .expect("AUTOPILOT_CACHE or HOME is set");
    // A docker client whose daemon is never there, first on PATH.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\nexit 1\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&docker).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&docker, permissions).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let out = Command::new(ap_binary())
        .args(["build", dir.to_str().unwrap()])
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", cache.join("target-golden-rust"))
        .output()
        .expect("running ap build");
    let stdout = ok("ap build", out);
    assert!(stdout.contains("built the worker"), "{stdout}");
    assert!(
        stdout.contains("docker is on PATH but its engine is not reachable")
            && stdout.contains("Cannot connect to the Docker daemon"),
        "{stdout}"
    );
}
