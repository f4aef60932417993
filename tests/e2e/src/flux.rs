//! Flux's source-controller and kustomize-controller, built from their Go modules by
//! `hack/flux.sh`, running as processes against a test control plane, and the GitRepository
//! and Kustomization objects that point them at a test Git server.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use autopilot_testenv::ControlPlane;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::prometheus::http_get;

/// Environment variable naming a directory with `bin/` and `crds/` from `hack/flux.sh`.
pub const FLUX_DIR_ENV: &str = "AUTOPILOT_FLUX_DIR";
/// How often Flux looks at the repository and re-applies in tests: short, so a test sees a
/// commit applied within seconds (production uses minutes and a webhook).
pub const INTERVAL: &str = "2s";

/// The Flux build: `$AUTOPILOT_FLUX_DIR`, else what `hack/flux.sh` prints (building it on
/// first use, several minutes, cached by version).
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(FLUX_DIR_ENV) {
        return PathBuf::from(dir);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let script = crate::new_user::root().join("hack/flux.sh");
            let out = std::process::Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .expect("running hack/flux.sh");
            assert!(out.status.success(), "hack/flux.sh failed");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        })
        .clone()
}

/// Flux's GitRepository kind.
pub fn git_repository_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    )
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free port")
}

/// Both controllers; killed when dropped.
#[derive(Debug)]
pub struct Flux {
    /// The directory with the controllers' logs and source-controller's storage.
    pub dir: tempfile::TempDir,
    _source: Child,
    _kustomize: Child,
}

impl Flux {
    /// Install Flux's CRDs into `cp` and start both controllers, watching all namespaces; waits
    /// until both answer their readiness probe.
    pub async fn start(cp: &ControlPlane) -> Flux {
        let flux = dir();
        let applied = cp
            .kubectl()
            .args(["apply", "--server-side", "--force-conflicts", "-f"])
            .arg(flux.join("crds"))
            .output()
            .expect("kubectl runs");
        assert!(
            applied.status.success(),
            "installing Flux CRDs: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
        for crd in [
            "gitrepositories.source.toolkit.fluxcd.io",
            "kustomizations.kustomize.toolkit.fluxcd.io",
        ] {
            let ok = cp
                .kubectl()
                .args(["wait", "--for", "condition=established", "--timeout", "60s"])
                .arg(format!("crd/{crd}"))
                .output()
                .expect("kubectl runs");
            assert!(ok.status.success(), "CRD {crd} not established");
        }
        let work = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir_all(work.path().join("storage")).expect("storage directory");
        let storage = free_port();
        let source_health = free_port();
        let kustomize_health = free_port();
        let source = spawn(
            &flux.join("bin/source-controller"),
            cp.kubeconfig_path(),
            &work.path().join("source-controller.log"),
            &[
                format!("--storage-path={}", work.path().join("storage").display()),
                format!("--storage-addr=127.0.0.1:{storage}"),
                format!("--storage-adv-addr=127.0.0.1:{storage}"),
                format!("--health-addr=127.0.0.1:{source_health}"),
                "--metrics-addr=127.0.0.1:0".into(),
                "--enable-leader-election=false".into(),
                "--watch-all-namespaces=true".into(),
            ],
        );
        let kustomize = spawn(
            &flux.join("bin/kustomize-controller"),
            cp.kubeconfig_path(),
            &work.path().join("kustomize-controller.log"),
            &[
                format!("--health-addr=127.0.0.1:{kustomize_health}"),
                "--metrics-addr=127.0.0.1:0".into(),
                "--enable-leader-election=false".into(),
                "--watch-all-namespaces=true".into(),
            ],
        );
        for (name, port) in [
            ("source-controller", source_health),
            ("kustomize-controller", kustomize_health),
        ] {
            let addr = format!("127.0.0.1:{port}");
            let log = work.path().join(format!("{name}.log"));
            crate::wait::until(
                &format!("{name} to answer /readyz"),
                Duration::from_secs(60),
                || {
                    let addr = addr.clone();
                    let log = log.clone();
                    async move {
                        match http_get(&addr, "/readyz").await {
                            Ok((status, _)) if status.contains(" 200") => Ok(()),
                            other => Err(format!(
                                "{other:?}; log:\n{}",
                                std::fs::read_to_string(&log).unwrap_or_default()
                            )),
                        }
                    }
                },
            )
            .await;
        }
        Flux {
            dir: work,
            _source: source,
            _kustomize: kustomize,
        }
    }

    /// Both controllers' logs, for a failing test's report.
    pub fn logs(&self) -> String {
        ["source-controller", "kustomize-controller"]
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("{n}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {n} (last 40 lines) ---\n{}\n", tail.join("\n"))
            })
            .collect()
    }
}

fn spawn(binary: &Path, kubeconfig: &Path, log: &Path, args: &[String]) -> Child {
    let out = std::fs::File::create(log).expect("creating a controller log");
    Command::new(binary)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("RUNTIME_NAMESPACE", "flux-system")
        .stdout(Stdio::from(out.try_clone().expect("log handle")))
        .stderr(Stdio::from(out))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()))
}

/// Create (server-side apply) a GitRepository `name` for `url`'s `branch` and a Kustomization
/// `name` applying `path` of it with pruning, both in `namespace`, both every [`INTERVAL`].
/// `secret` names a Secret with `username`/`password` for the repository.
pub async fn sync(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    url: &str,
    branch: &str,
    path: &str,
    secret: Option<&str>,
) {
    let mut repo_spec =
        json!({"interval": INTERVAL, "url": url, "ref": {"branch": branch}, "timeout": "20s"});
    if let Some(secret) = secret {
        repo_spec["secretRef"] = json!({"name": secret});
    }
    let objects: [(ApiResource, Value); 2] = [
        (
            git_repository_resource(),
            json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": name, "namespace": namespace},
                "spec": repo_spec,
            }),
        ),
        (
            autopilot_scheduler::git::flux::kustomization_resource(),
            json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "interval": INTERVAL, "retryInterval": INTERVAL, "timeout": "30s",
                    "path": path, "prune": true,
                    "sourceRef": {"kind": "GitRepository", "name": name},
                },
            }),
        ),
    ];
    for (resource, object) in objects {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        let object: DynamicObject = serde_json::from_value(object).expect("a valid object");
        api.patch(
            name,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", resource.kind));
    }
}
