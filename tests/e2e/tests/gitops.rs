//! GitOps end to end: a phase's outputs go to a real Git server (git http-backend on
//! loopback), Flux's source-controller and kustomize-controller (built from their Go modules)
//! apply them to a real kube-apiserver, and the scheduler moves the resource on only once
//! Flux reports the commit applied. Also: no-op re-runs make no commit, a dropped output's file
//! is removed and Flux prunes the object, and wrong credentials show as `GitSynced=False`
//! without losing the change.
use std::time::Duration;

use autopilot_e2e::flux::{self, Flux};
use autopilot_e2e::git_server::GitServer;
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::upstream_crds::{self, Upstream};
use autopilot_e2e::{project, wait};
use autopilot_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use autopilot_proto::v1::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const GROUP: &str = "gitops.e2e.autopilot.dev";
/// Flux polls every 2 s here; a commit is applied within a few polls.
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

fn release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "Release"), "releases")
}

fn vs_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
        "virtualservices",
    )
}

/// `Routing` writes one VirtualService per `spec.routes` entry and moves on to `Serving`, which
/// keeps writing them (so a spec change or a re-run reaches Git) and stays.
const PROJECT: &str = r#"apiVersion: gitops.e2e.autopilot.dev/v1
kind: Release
operatorName: release-operator
spec:
  type: object
  x-kubernetes-preserve-unknown-fields: true
phases:
  - name: Routing
    initial: true
    outputs: [virtualservices]
    destinations: ["git:fleet"]
    prune: true
  - name: Serving
    outputs: [virtualservices]
    destinations: ["git:fleet"]
    prune: true
  - name: Done
    final: true
"#;

/// The worker: pure, the same answer for the same spec.
#[derive(Debug, Clone, Default)]
struct RouteWorker;

#[tonic::async_trait]
impl WorkerService for RouteWorker {
    async fn describe(
        &self,
        _: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse {
            protocol_version: autopilot_proto::PROTOCOL_VERSION.into(),
            worker_name: "routes".into(),
            worker_version: "0.0.0".into(),
            phases: vec!["Routing".into(), "Serving".into()],
            finalize: false,
            capabilities: vec![],
        }))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let req = request.into_inner();
        let resource: Value = serde_json::from_slice(&req.resource)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let namespace = resource["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default();
        let weight = resource["spec"]["weight"].as_u64().unwrap_or(0);
        let outputs = resource["spec"]["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|host| {
                serde_json::to_vec(&json!({
                    "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                    "metadata": {"name": host, "namespace": namespace},
                    "spec": {"hosts": [host], "http": [{"route": [
                        {"destination": {"host": host, "subset": "primary"}, "weight": 100 - weight},
                        {"destination": {"host": host, "subset": "canary"}, "weight": weight},
                    ]}]},
                }))
                .unwrap()
            })
            .collect();
        let next_phase = if req.phase == "Routing" {
            "Serving"
        } else {
            ""
        };
        Ok(Response::new(SyncResponse {
            next_phase: next_phase.into(),
            outputs,
            requeue_after_ms: 500,
            ..Default::default()
        }))
    }

    async fn finalize(
        &self,
        _: Request<FinalizeRequest>,
    ) -> Result<Response<FinalizeResponse>, Status> {
        Ok(Response::new(FinalizeResponse {
            done: true,
            ..Default::default()
        }))
    }
}

async fn serve_worker() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkerServiceServer::new(RouteWorker))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

/// Install a CRD whose schema keeps every field, and wait until it is established.
async fn install_crd(client: &kube::Client, group: &str, kind: &str, plural: &str) {
    let name = format!("{plural}.{group}");
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                      "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object",
                              "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    }))
    .unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    wait::until(
        &format!("CRD {name} to be Established"),
        Duration::from_secs(30),
        || async {
            let crd = api.get(&name).await.map_err(|e| e.to_string())?;
            let ok = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if ok {
                Ok(())
            } else {
                Err("not established".into())
            }
        },
    )
    .await;
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

async fn vs_weight(api: &Api<DynamicObject>, name: &str) -> Option<u64> {
    let vs = api.get_opt(name).await.ok()??;
    vs.data["spec"]["http"][0]["route"][1]["weight"].as_u64()
}

#[tokio::test]
async fn phase_outputs_reach_the_cluster_through_git_and_flux() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let ns = cp.namespace("gitops").await.expect("namespace");
    let ns = ns.name().to_owned();
    install_crd(&client, GROUP, "Release", "releases").await;
    // Istio's own CRDs: what Flux applies is validated as a real cluster would.
    upstream_crds::install(&client, Upstream::Istio).await;
    let flux_controllers = Flux::start(cp).await;

    // The repository, with the credentials Flux and the scheduler share.
    let server = GitServer::start().await;
    let url = server.create_repo("fleet").await;
    server.require_basic_auth("autopilot", "s3cret");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "fleet-git"},
                "stringData": {"username": "autopilot", "password": "s3cret"},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // Flux applies what the operator commits under clusters/<namespace>.
    flux::sync(
        &client,
        &ns,
        "fleet",
        &url,
        "main",
        &format!("./clusters/{ns}"),
        Some("fleet-git"),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let username = dir.path().join("username");
    let password = dir.path().join("password");
    std::fs::write(&username, "autopilot\n").unwrap();
    std::fs::write(&password, "s3cret\n").unwrap();
    let endpoint = serve_worker().await;
    let git = format!(
        "git:\n  fleet:\n    url: {url}\n    path: 'clusters/{{{{ namespace }}}}/{{{{ name }}}}'\n    \
         credentials:\n      usernameFile: {}\n      passwordFile: {}\n    \
         waitFor: {{kustomization: {ns}/fleet}}\n",
        username.display(),
        password.display()
    );
    let project_dir = project::write(&dir.path().join("project"), PROJECT, &endpoint, &git);
    let _scheduler = SchedulerProcess::start(&project_dir, cp.kubeconfig_path(), &ns, &[]);

    // Two resources at once: two commits, neither lost.
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &release_resource());
    for (name, routes) in [("shop", json!(["web", "api"])), ("blog", json!(["posts"]))] {
        let release: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "Release",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"routes": routes, "weight": 20},
        }))
        .unwrap();
        releases
            .create(&PostParams::default(), &release)
            .await
            .unwrap();
    }
    let vss: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &vs_resource());
    let kustomizations: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &autopilot_scheduler::git::flux::kustomization_resource(),
    );
    let logs = || flux_controllers.logs();

    // The resource moves on only after Flux applied its commit, so the objects are there.
    for name in ["shop", "blog"] {
        let s = wait::until(
            &format!("Release {name} to reach Serving"),
            APPLY_TIMEOUT,
            || async {
                let s = status(&releases, name).await;
                if s["phase"] == "Serving" {
                    Ok(s)
                } else {
                    Err(format!("{s}\n{}", logs()))
                }
            },
        )
        .await;
        let commit = s["git"]["fleet"]["commit"].as_str().unwrap().to_owned();
        assert_eq!(s["git"]["fleet"]["branch"], "main");
        assert_eq!(condition(&s, "GitSynced").unwrap()["status"], "True", "{s}");
        assert_eq!(
            condition(&s, "GitApplied").unwrap()["status"],
            "True",
            "{s}"
        );
        let applied =
            kustomizations.get("fleet").await.unwrap().data["status"]["lastAppliedRevision"]
                .as_str()
                .unwrap()
                .to_owned();
        let log = server.log("fleet", "main").await;
        let applied_at = log
            .iter()
            .position(|(sha, _)| applied.ends_with(sha.as_str()));
        let ours_at = log.iter().position(|(sha, _)| *sha == commit);
        assert!(
            matches!((applied_at, ours_at), (Some(a), Some(o)) if a <= o),
            "{applied} does not contain {commit}: {log:#?}"
        );
    }
    assert_eq!(vs_weight(&vss, "web").await, Some(20));
    assert_eq!(vs_weight(&vss, "api").await, Some(20));
    assert_eq!(vs_weight(&vss, "posts").await, Some(20));
    let web = vss.get("web").await.unwrap();
    assert_eq!(
        web.metadata.labels.as_ref().unwrap()["kustomize.toolkit.fluxcd.io/name"],
        "fleet",
        "Flux, not the scheduler, applied it"
    );
    assert!(web.metadata.owner_references.is_none());
    let log = server.log("fleet", "main").await;
    assert_eq!(log.len(), 2, "one commit per resource: {log:#?}");
    for (_, message) in &log {
        assert!(message.contains("Autopilot-Phase: Routing"), "{message}");
    }

    // Serving re-runs every half second with the same result: no commit.
    let attempt = |s: &Value| s["attempt"].as_u64().unwrap_or(0);
    let before = attempt(&status(&releases, "shop").await);
    wait::until(
        "Release shop to re-run Serving three times",
        APPLY_TIMEOUT,
        || async {
            let s = status(&releases, "shop").await;
            if attempt(&s) >= before + 3 {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    assert_eq!(
        server.log("fleet", "main").await.len(),
        2,
        "re-runs made commits"
    );

    // A dropped output: its file is removed and Flux prunes the object.
    releases
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"routes": ["web"]}})),
        )
        .await
        .unwrap();
    wait::until(
        "Flux to prune VirtualService api",
        APPLY_TIMEOUT,
        || async {
            match vss.get_opt("api").await {
                Ok(None) => Ok(()),
                other => Err(format!("{other:?}\n{}", logs())),
            }
        },
    )
    .await;
    let files = server.files("fleet", "main").await;
    assert!(
        !files
            .iter()
            .any(|f| f.ends_with("virtualservice.networking.istio.io-api.yaml")),
        "{files:?}"
    );
    assert!(vss.get_opt("web").await.unwrap().is_some());

    // Wrong credentials: GitSynced=False names the failure; fixed, the change goes through.
    std::fs::write(&password, "wrong\n").unwrap();
    releases
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"weight": 40}})),
        )
        .await
        .unwrap();
    let s = wait::until(
        "GitSynced=False with GitAuthFailed",
        APPLY_TIMEOUT,
        || async {
            let s = status(&releases, "shop").await;
            match condition(&s, "GitSynced") {
                Some(c) if c["status"] == "False" && c["reason"] == "GitAuthFailed" => Ok(s),
                _ => Err(s.to_string()),
            }
        },
    )
    .await;
    assert!(
        !condition(&s, "GitSynced").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("s3cret"),
        "{s}"
    );
    assert_eq!(vs_weight(&vss, "web").await, Some(20));
    std::fs::write(&password, "s3cret\n").unwrap();
    wait::until(
        "VirtualService web at weight 40 through Git",
        APPLY_TIMEOUT,
        || async {
            match vs_weight(&vss, "web").await {
                Some(40) => Ok(()),
                other => Err(format!("{other:?}; {}", status(&releases, "shop").await)),
            }
        },
    )
    .await;
    let s = wait::until("GitSynced=True again", APPLY_TIMEOUT, || async {
        let s = status(&releases, "shop").await;
        match condition(&s, "GitSynced") {
            Some(c) if c["status"] == "True" => Ok(s),
            _ => Err(s.to_string()),
        }
    })
    .await;
    assert_eq!(s["phase"], "Serving");
}
