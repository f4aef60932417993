//! The canary example end to end: its Rust worker and the generic scheduler against the real
//! control plane, a real Prometheus scraping the traffic simulator, and the example's own CRD.
//!
//! The same cases run against the Rust worker and the Python worker. One namespace holds one
//! release per case, all progressing at once under one scheduler:
//! a healthy canary is promoted (Istio and Gateway API routes), a failing one rolled back, "no
//! data" is held or failed as the spec says, a newer revision restarts an analysis, a
//! scheduler killed mid-analysis resumes where the status says it was, `skipAnalysis` promotes
//! without a check, and `suspend` holds an analysis until it is resumed. A real Jaeger receives
//! the simulator's spans: judged on traces too, a healthy canary is promoted, one whose
//! downstream calls fail only in its spans is rolled back naming the operation, and with
//! Jaeger stopped a trace check holds under its no-data policy with a condition saying why.
//! The traffic strategies each get a case: A/B testing by header and cookie (Istio), mirroring
//! before real traffic (Gateway API `RequestMirror`) and blue/green by the Service selector
//! without a mesh, their routes recorded through a watch. With `traffic: linkerd` the checks
//! read Linkerd's proxy metrics, which the simulator exports beside Istio's. Istio's and Gateway API's own CRDs
//! (`cli/crds/`) are installed, so the API server validates every route against them.
//!
//! The control plane runs kube-controller-manager, kube-scheduler and kwok, so the Deployments
//! get pods that are scheduled onto kwok's fake Nodes and become Running and Ready. The workers
//! gate on that readiness as a real canary operator does: no check of the canary before all its
//! replicas are ready, and no end to a promotion before the primary has rolled out the new
//! template. The cases assert the pods of primary and canary at those moments.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_e2e::jaeger::JaegerServer;
use autopilot_e2e::project;
use autopilot_e2e::prometheus::PrometheusServer;
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::spans::DOWNSTREAM_OPERATION;
use autopilot_e2e::traffic::{Traffic, TrafficSimulator};
use autopilot_e2e::wait;
use autopilot_testenv::{ControlPlane, TestNamespace};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Long enough for several 2 s intervals on a busy 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(180);

/// The control plane of this test binary, with kwok so Deployments get Running, Ready pods;
/// started by the first test, shared by both workers' runs (each in its own namespace).
async fn control_plane() -> &'static ControlPlane {
    static CONTROL_PLANE: tokio::sync::OnceCell<ControlPlane> = tokio::sync::OnceCell::const_new();
    CONTROL_PLANE
        .get_or_init(|| async {
            ControlPlane::builder()
                .with_controller_manager()
                .with_kwok()
                .start()
                .await
                .expect("control plane with kube-scheduler and kwok")
        })
        .await
}

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/canary")
}

fn canaries() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("canary.autopilot.dev", "v1", "CanaryDeployment"),
        "canarydeployments",
    )
}

/// The kind of object that carries the traffic of `traffic` (`spec.traffic`): a route, or the
/// target's Service without a mesh.
fn route_resource(traffic: &str) -> ApiResource {
    if traffic == "kubernetes" {
        ApiResource::erase::<Service>(&())
    } else if traffic == "gatewayapi" || traffic == "linkerd" {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
            "httproutes",
        )
    } else {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
            "virtualservices",
        )
    }
}

/// Path of the example's `canary-worker`, built once per test process like the scheduler.
fn worker_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let dir = exe.parent().and_then(Path::parent).expect("target dir");
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "autopilot-example-canary"])
                .args(["--bin", "canary-worker"])
                .status()
                .expect("running cargo build");
            assert!(status.success(), "building canary-worker");
            dir.join("canary-worker")
        })
        .clone()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Istio's networking CRDs and the Gateway API standard channel as `ap cluster up --with
/// istio,gateway-api` installs them (vendored unmodified in `cli/crds/`), so the API server
/// validates every route the workers write against the upstream schemas and CEL rules.
fn install_upstream_crds(cp: &ControlPlane) {
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cli/crds");
    for file in ["istio-networking.yaml", "gateway-api-standard.yaml"] {
        let path = crds.join(file);
        let out = cp
            .kubectl()
            .args(["apply", "--server-side", "--force-conflicts", "-f"])
            .arg(&path)
            .output()
            .expect("running kubectl");
        assert!(
            out.status.success(),
            "kubectl apply {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn wait_established(client: &kube::Client, name: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait::until(&format!("CRD {name} to be Established"), TIMEOUT, || {
        let api = api.clone();
        async move {
            let crd = api.get(name).await.map_err(|e| e.to_string())?;
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
        }
    })
    .await;
}

/// Which of the example's workers serves the phases.
#[derive(Debug, Clone, Copy)]
enum Worker {
    Rust,
    Python,
}

impl Worker {
    fn command(self) -> Command {
        match self {
            Worker::Rust => Command::new(worker_binary()),
            Worker::Python => {
                let dir = example_dir().join("worker-python");
                let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk-python/src");
                let mut command = Command::new(venv().join("bin/python"));
                command
                    .arg("main.py")
                    .current_dir(&dir)
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .env("PYTHONPATH", format!("{}:{}", sdk.display(), dir.display()));
                command
            }
        }
    }
}

/// The venv of `hack/deps/python.sh` (grpcio, pydantic), or a panic saying how to get it.
fn venv() -> PathBuf {
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/autopilot")
        });
    let venv = cache.join("venv");
    assert!(
        venv.join("bin/python").exists(),
        "no Python venv at {}: run `bash hack/deps/python.sh` (hack/test.sh runs it)",
        venv.display()
    );
    venv
}

/// Everything one run needs (the test namespace prints its contents if a case fails).
struct Rig {
    client: kube::Client,
    ns: TestNamespace,
    sim: TrafficSimulator,
    scheduler: tokio::sync::Mutex<SchedulerProcess>,
    project_dir: PathBuf,
    kubeconfig: PathBuf,
    _prometheus: PrometheusServer,
    /// Receives the simulator's spans; stopped by the last case.
    jaeger: tokio::sync::Mutex<JaegerServer>,
    _spans: autopilot_e2e::spans::SpanEmission,
    _worker: Child,
    _project: tempfile::TempDir,
}

impl Rig {
    async fn start(worker: Worker) -> Rig {
        let cp = control_plane().await;
        let client = cp.client();
        let ns = cp.namespace("canary").await.expect("test namespace");

        let crd = example_dir().join("deploy/crd.yaml");
        let out = cp
            .kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(&crd)
            .output()
            .expect("running kubectl");
        assert!(
            out.status.success(),
            "kubectl apply {}: {out:?}",
            crd.display()
        );
        install_upstream_crds(cp);
        for name in [
            "canarydeployments.canary.autopilot.dev",
            "virtualservices.networking.istio.io",
            "httproutes.gateway.networking.k8s.io",
        ] {
            wait_established(&client, name).await;
        }

        let sim = TrafficSimulator::serve().await;
        let prometheus = PrometheusServer::start(&[&sim.addr]).await;
        let jaeger = JaegerServer::start().await;
        let spans = sim.emit_spans(&jaeger.otlp_grpc);

        let port = free_port();
        let worker = worker
            .command()
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the canary worker");

        let project = tempfile::tempdir().expect("project dir");
        let autopilot_yaml = std::fs::read_to_string(example_dir().join("autopilot.yaml"))
            .expect("reading examples/canary/autopilot.yaml");
        let project_dir = project::write(
            project.path(),
            &autopilot_yaml,
            &format!("http://127.0.0.1:{port}"),
            &format!(
                "prometheus:\n  url: {}\n  timeout: 2s\njaeger:\n  url: {}\n  timeout: 2s\n",
                prometheus.url, jaeger.query_url
            ),
        );
        let kubeconfig = cp.kubeconfig_path().to_path_buf();
        let scheduler = SchedulerProcess::start(&project_dir, &kubeconfig, ns.name(), &[]);
        Rig {
            client,
            ns,
            sim,
            scheduler: tokio::sync::Mutex::new(scheduler),
            project_dir,
            kubeconfig,
            _prometheus: prometheus,
            jaeger: tokio::sync::Mutex::new(jaeger),
            _spans: spans,
            _worker: worker,
            _project: project,
        }
    }

    fn namespace(&self) -> &str {
        self.ns.name()
    }

    /// Creates the target Deployment `name` at `image` and a CanaryDeployment for it with test
    /// timings and `spec`; waits until it rests in Waiting with the primary serving `image`.
    async fn create(&self, name: &str, image: &str, spec: Value) {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), self.namespace());
        let target: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": image}]}}}
        }))
        .expect("valid Deployment");
        deployments
            .create(&PostParams::default(), &target)
            .await
            .unwrap_or_else(|e| panic!("creating Deployment {name}: {e}"));

        let mut full = json!({"targetRef": name, "port": 8080, "interval": "2s",
            "analysisPeriod": "5s", "stepWeight": 20, "maxWeight": 60, "failureLimit": 2,
            "successThreshold": 0.95, "maxLatencyMs": 100});
        for (k, v) in spec.as_object().into_iter().flatten() {
            full[k] = v.clone();
        }
        let cr: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "canary.autopilot.dev/v1", "kind": "CanaryDeployment",
            "metadata": {"name": name}, "spec": full,
        }))
        .expect("valid CanaryDeployment");
        self.canaries()
            .create(&PostParams::default(), &cr)
            .await
            .unwrap_or_else(|e| panic!("creating CanaryDeployment {name}: {e}"));
        self.sim.set(
            self.namespace(),
            &format!("{name}-primary"),
            Traffic::healthy(5.0),
        );

        self.until(name, "to rest in Waiting", |s| s["phase"] == "Waiting")
            .await;
        assert_eq!(self.image(&format!("{name}-primary")).await, image);
        assert_eq!(self.replicas(&format!("{name}-canary")).await, 0);
        let primary = format!("{name}-primary");
        wait::until(
            &format!("{primary} to report 2 ready replicas"),
            TIMEOUT,
            || async {
                match self.ready_replicas(&primary).await {
                    2 => Ok(()),
                    n => Err(format!("{n} ready")),
                }
            },
        )
        .await;
        self.assert_running(&primary, image, 2).await;
        assert!(self.pods(&format!("{name}-canary")).await.is_empty());
        let traffic = full["traffic"].as_str().unwrap_or("istio").to_string();
        let at_rest = if traffic == "kubernetes" {
            format!("svc:{name}-primary")
        } else {
            "w0".to_string()
        };
        assert_eq!(self.shape(name, &traffic).await.as_deref(), Some(&*at_rest));
    }

    /// The shape of the traffic object `name` of `traffic` (see [`shape`]), `None` while there
    /// is none.
    async fn shape(&self, name: &str, traffic: &str) -> Option<String> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            self.namespace(),
            &route_resource(traffic),
        );
        Some(shape(&api.get(name).await.ok()?.data))
    }

    /// Records every shape the traffic object `name` of `traffic` takes from now on, each with
    /// the object as first seen in that shape. A watch, not polling: a state that lasts a
    /// moment (the blue/green switch while the primary rolls out) is seen too. Returns once the
    /// current shape is recorded.
    async fn record_traffic(&self, name: &str, traffic: &str) -> Recording {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            self.namespace(),
            &route_resource(traffic),
        );
        let seen = Arc::new(Mutex::new(Vec::<(String, Value)>::new()));
        let record = seen.clone();
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let task = tokio::spawn(async move {
            use futures::StreamExt;
            let mut objects = watcher(api, config).applied_objects().boxed();
            while let Some(next) = objects.next().await {
                let Ok(object) = next else { continue };
                let shape = shape(&object.data);
                let mut seen = record.lock().unwrap();
                if seen.last().map(|(s, _)| s) != Some(&shape) {
                    seen.push((shape, object.data));
                }
            }
        });
        let recording = Recording { seen, task };
        wait::until(
            &format!("a watch of the traffic object {name} to see it"),
            TIMEOUT,
            || async {
                if recording.shapes().is_empty() {
                    Err("nothing yet".to_string())
                } else {
                    Ok(())
                }
            },
        )
        .await;
        recording
    }

    fn canaries(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), self.namespace(), &canaries())
    }

    /// Creates `name` at `<name>:1` with `spec` ([`Rig::create`]), gives its canary
    /// `canary_traffic` and releases `<name>:2`.
    async fn create_and_release(&self, name: &str, spec: Value, canary_traffic: Traffic) {
        self.create(name, &format!("{name}:1"), spec).await;
        self.sim
            .set(self.namespace(), &format!("{name}-canary"), canary_traffic);
        self.release(name, &format!("{name}:2")).await;
    }

    /// Releases `image` by changing the target's pod template.
    async fn release(&self, name: &str, image: &str) {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), self.namespace());
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": image}]}}}});
        deployments
            .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .unwrap_or_else(|e| panic!("releasing {image} to {name}: {e}"));
    }

    /// Merges `fields` into the spec of CanaryDeployment `name`.
    async fn set_spec(&self, name: &str, fields: Value) {
        self.canaries()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": fields})),
            )
            .await
            .unwrap_or_else(|e| panic!("setting {fields} on CanaryDeployment {name}: {e}"));
    }

    async fn status(&self, name: &str) -> Value {
        match self.canaries().get(name).await {
            Ok(o) => o.data.get("status").cloned().unwrap_or(Value::Null),
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    /// Waits until the status of `name` satisfies `check`; returns it.
    async fn until(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let check = &check;
        wait::until(
            &format!("CanaryDeployment {name} {what}"),
            TIMEOUT,
            || async move {
                let status = self.status(name).await;
                if check(&status) {
                    Ok(status)
                } else {
                    Err(status.to_string())
                }
            },
        )
        .await
    }

    async fn deployment(&self, name: &str) -> Value {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), self.namespace());
        let d = api
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("reading Deployment {name}: {e}"));
        serde_json::to_value(d).expect("Deployment as JSON")
    }

    async fn image(&self, name: &str) -> String {
        self.deployment(name).await["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn replicas(&self, name: &str) -> i64 {
        self.deployment(name).await["spec"]["replicas"]
            .as_i64()
            .unwrap_or(-1)
    }

    /// `status.readyReplicas` of Deployment `name`.
    async fn ready_replicas(&self, name: &str) -> i64 {
        self.deployment(name).await["status"]["readyReplicas"]
            .as_i64()
            .unwrap_or(0)
    }

    /// The pods of Deployment `name` (label `app=<name>`) that are not being deleted: phase,
    /// whether Ready, image.
    async fn pods(&self, name: &str) -> Vec<(String, bool, String)> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), self.namespace());
        let list = api
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await
            .unwrap_or_else(|e| panic!("listing the pods of {name}: {e}"));
        list.items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| {
                let status = p.status.unwrap_or_default();
                let ready = status
                    .conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                let image = p
                    .spec
                    .and_then(|s| s.containers.into_iter().next())
                    .and_then(|c| c.image)
                    .unwrap_or_default();
                (status.phase.unwrap_or_default(), ready, image)
            })
            .collect()
    }

    /// Asserts that Deployment `name` reports `replicas` ready replicas and has exactly that
    /// many pods, all Running, Ready and at `image`.
    async fn assert_running(&self, name: &str, image: &str, replicas: usize) {
        let pods = self.pods(name).await;
        let want = vec![("Running".to_string(), true, image.to_string()); replicas];
        assert_eq!(pods, want, "the pods of {name}");
        assert_eq!(
            self.ready_replicas(name).await,
            i64::try_from(replicas).expect("a small count"),
            "readyReplicas of {name}"
        );
    }

    /// Waits until Deployment `name` has no pods left (scaled to 0).
    async fn until_no_pods(&self, name: &str) {
        wait::until(&format!("{name} to have no pods"), TIMEOUT, || async {
            let pods = self.pods(name).await;
            if pods.is_empty() {
                Ok(())
            } else {
                Err(format!("{pods:?}"))
            }
        })
        .await;
    }

    /// The canary's weight in the route named `name` (`None` while there is none).
    async fn canary_weight(&self, name: &str, traffic: &str) -> Option<u64> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            self.namespace(),
            &route_resource(traffic),
        );
        let route = api.get(name).await.ok()?.data;
        let backends = route
            .pointer("/spec/http/0/route")
            .or_else(|| route.pointer("/spec/rules/0/backendRefs"))?;
        backends.as_array()?.iter().find_map(|b| {
            let host = b["destination"]["host"].as_str().or(b["name"].as_str())?;
            host.ends_with("-canary")
                .then(|| b["weight"].as_u64())
                .flatten()
        })
    }

    /// Records every distinct canary weight the route of `name` shows until `done` holds for
    /// the status; returns the weights in order and the final status.
    async fn follow(
        &self,
        name: &str,
        traffic: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> (Vec<u64>, Value) {
        let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
        let (done, seen_ref) = (&done, &seen);
        let status = wait::until(
            &format!("CanaryDeployment {name} {what}"),
            TIMEOUT,
            || async move {
                // Status first: the scheduler applies a step's outputs before it writes the
                // step's status, so a weight read after a status always includes that step's.
                let status = self.status(name).await;
                let weight = self.canary_weight(name, traffic).await;
                if let Some(w) = weight {
                    let mut seen = seen_ref.lock().unwrap();
                    if seen.last() != Some(&w) {
                        seen.push(w);
                    }
                }
                if done(&status) {
                    Ok(status)
                } else {
                    Err(format!(
                        "weights {:?}; status {status}",
                        seen_ref.lock().unwrap()
                    ))
                }
            },
        )
        .await;
        let weights = seen.lock().unwrap().clone();
        (weights, status)
    }

    /// Asserts that `name` has an Event of every reason in `want`; returns all its reasons.
    /// (The scheduler writes Events in the background, a few at a time, so one queued a moment
    /// before the status that ended the case may not be listed yet: this waits for them.)
    async fn assert_events(&self, name: &str, want: &[&str]) -> Vec<String> {
        wait::until(
            &format!("CanaryDeployment {name} to have Events {want:?}"),
            TIMEOUT,
            || async {
                let reasons = self.event_reasons(name).await;
                match want.iter().find(|w| !reasons.iter().any(|r| r == *w)) {
                    None => Ok(reasons),
                    Some(missing) => Err(format!("no {missing} Event in {reasons:?}")),
                }
            },
        )
        .await
    }

    async fn event_reasons(&self, name: &str) -> Vec<String> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), self.namespace());
        let list = api
            .list(&ListParams::default().fields(&format!(
                "involvedObject.kind=CanaryDeployment,involvedObject.name={name}"
            )))
            .await
            .expect("listing Events");
        list.items.into_iter().filter_map(|e| e.reason).collect()
    }
}

/// The shapes a traffic object took, recorded by [`Rig::record_traffic`].
struct Recording {
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recording {
    /// Every distinct shape so far, in order (consecutive repeats once).
    fn shapes(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The object as first seen in `shape`.
    fn object(&self, shape: &str) -> Option<Value> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .find(|(s, _)| s == shape)
            .map(|(_, o)| o.clone())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a traffic object routes, in short: `w20` (the canary's weight), `mirror50`, `matched`
/// (requests matching rules go to the canary) or `svc:<app>` (the selector of a Service).
fn shape(object: &Value) -> String {
    if let Some(app) = object.pointer("/spec/selector/app").and_then(Value::as_str) {
        return format!("svc:{app}");
    }
    let rules = object
        .pointer("/spec/http")
        .or_else(|| object.pointer("/spec/rules"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(last) = rules.last() else {
        return format!("no rules: {object}");
    };
    let mirror = last
        .pointer("/mirrorPercentage/value")
        .or_else(|| last.pointer("/filters/0/requestMirror/percent"))
        .and_then(Value::as_f64);
    let weight = last
        .get("route")
        .or_else(|| last.get("backendRefs"))
        .and_then(Value::as_array)
        .and_then(|backends| {
            backends.iter().find_map(|b| {
                let host = b["destination"]["host"].as_str().or(b["name"].as_str())?;
                host.ends_with("-canary")
                    .then(|| b["weight"].as_u64())
                    .flatten()
            })
        });
    match (rules.len(), mirror, weight) {
        (2, _, _) => "matched".into(),
        (_, Some(percent), _) => format!("mirror{percent}"),
        (_, None, Some(weight)) => format!("w{weight}"),
        _ => format!("unknown: {object}"),
    }
}

fn releases(status: &Value) -> usize {
    status["statusInfo"]["history"]
        .as_array()
        .map_or(0, Vec::len)
}

fn last_outcome(status: &Value) -> &str {
    status["statusInfo"]["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|r| r["outcome"].as_str())
        .unwrap_or_default()
}

/// The status (`True`, `False`) of the condition `type_` in `status`, "" without one.
fn condition<'a>(status: &'a Value, type_: &str) -> &'a str {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
}

fn weight(status: &Value) -> u64 {
    status["statusInfo"]["currentWeight"].as_u64().unwrap_or(0)
}

/// A healthy canary steps 20 → 40 → 60, is promoted and the route goes back to 0.
async fn healthy(rig: &Rig, name: &str, traffic: &str) {
    rig.create_and_release(name, json!({"traffic": traffic}), Traffic::healthy(10.0))
        .await;
    let canary = format!("{name}-canary");
    let ((weights, status), ()) = tokio::join!(
        rig.follow(name, traffic, "to be promoted", |s| {
            releases(s) == 1 && s["phase"] == "Waiting"
        }),
        async {
            // A check only runs once every canary replica runs the revision and is ready.
            rig.until(name, "to make its first check", |s| {
                s["statusInfo"]["iteration"].as_u64() >= Some(1) || releases(s) == 1
            })
            .await;
            if releases(&rig.status(name).await) == 0 {
                rig.assert_running(&canary, &format!("{name}:2"), 2).await;
            }
        }
    );
    assert_eq!(last_outcome(&status), "promoted", "{status}");
    // Promotion ends only once the primary has rolled out the canary's template.
    rig.assert_running(&format!("{name}-primary"), &format!("{name}:2"), 2)
        .await;
    rig.until_no_pods(&canary).await;
    for w in [20, 40, 60] {
        assert!(
            weights.contains(&w),
            "{name}: weight {w} never routed: {weights:?}"
        );
    }
    assert_eq!(weights.last(), Some(&0), "{name}: weights {weights:?}");
    assert!(
        weights.windows(2).all(|p| p[1] > p[0] || p[1] == 0),
        "{name}: weights {weights:?}"
    );
    assert_eq!(
        rig.image(&format!("{name}-primary")).await,
        format!("{name}:2")
    );
    assert_eq!(rig.replicas(&format!("{name}-canary")).await, 0);
    assert_eq!(
        status["statusInfo"]["primaryRevision"],
        status["statusInfo"]["canaryRevision"]
    );
    assert_eq!(condition(&status, "Promoted"), "True", "{status}");
    rig.assert_events(
        name,
        &["Initialized", "NewRevision", "WeightIncreased", "Promoted"],
    )
    .await;
}

/// A canary answering 40% errors is rolled back after two failed checks; the primary stays.
async fn failing(rig: &Rig, name: &str, traffic: &str) {
    rig.create(name, &format!("{name}:1"), json!({"traffic": traffic}))
        .await;
    rig.sim.set(
        rig.namespace(),
        &format!("{name}-canary"),
        Traffic::failing(0.4),
    );
    rig.release(name, &format!("{name}:2")).await;
    let status = rig
        .until(name, "to be rolled back", |s| {
            releases(s) == 1 && s["phase"] == "Waiting"
        })
        .await;
    assert_eq!(last_outcome(&status), "failed", "{status}");
    rig.assert_running(&format!("{name}-primary"), &format!("{name}:1"), 2)
        .await;
    rig.until_no_pods(&format!("{name}-canary")).await;
    assert_eq!(status["statusInfo"]["failedChecks"], 2, "{status}");
    assert_eq!(weight(&status), 0);
    assert_eq!(rig.canary_weight(name, traffic).await, Some(0));
    assert_eq!(
        rig.image(&format!("{name}-primary")).await,
        format!("{name}:1")
    );
    assert_eq!(rig.replicas(&format!("{name}-canary")).await, 0);
    let queries = &status["statusInfo"]["lastQueries"];
    assert!(
        queries[0]["query"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("{name}-canary")),
        "the resolved query is in status: {queries}"
    );
    rig.assert_events(name, &["CheckFailed", "AnalysisFailed", "RolledBack"])
        .await;
    // The failed revision is not analysed again; the release rests.
    let again = rig.status(name).await;
    assert_eq!(again["phase"], "Waiting");
}

/// `noData: hold`: checks without canary traffic neither step nor fail; traffic then promotes.
async fn no_data_held(rig: &Rig, name: &str) {
    rig.create(name, &format!("{name}:1"), json!({"noData": "hold"}))
        .await;
    rig.release(name, &format!("{name}:2")).await;
    let held = rig
        .until(name, "to hold through two checks without data", |s| {
            s["phase"] == "Evaluating" && s["statusInfo"]["iteration"].as_u64() >= Some(2)
        })
        .await;
    assert_eq!(
        held["statusInfo"]["lastQueries"][0]["result"], "noData",
        "{held}"
    );
    assert_eq!(held["statusInfo"]["failedChecks"], 0, "{held}");
    assert_eq!(weight(&held), 20, "{held}");
    assert!(rig.event_reasons(name).await.iter().any(|r| r == "NoData"));
    rig.sim.set(
        rig.namespace(),
        &format!("{name}-canary"),
        Traffic::healthy(10.0),
    );
    let status = rig
        .until(name, "to be promoted once data comes", |s| releases(s) == 1)
        .await;
    assert_eq!(last_outcome(&status), "promoted", "{status}");
}

/// `noData: fail`: checks without data count as failures and roll back.
async fn no_data_failed(rig: &Rig, name: &str) {
    rig.create(name, &format!("{name}:1"), json!({"noData": "fail"}))
        .await;
    rig.release(name, &format!("{name}:2")).await;
    let status = rig
        .until(name, "to be rolled back for lack of data", |s| {
            releases(s) == 1
        })
        .await;
    assert_eq!(last_outcome(&status), "failed", "{status}");
    assert_eq!(
        rig.image(&format!("{name}-primary")).await,
        format!("{name}:1")
    );
}

/// A newer revision mid-analysis restarts it; that revision is the one promoted.
async fn superseded(rig: &Rig, name: &str) {
    rig.create(name, &format!("{name}:1"), json!({})).await;
    rig.sim.set(
        rig.namespace(),
        &format!("{name}-canary"),
        Traffic::healthy(10.0),
    );
    rig.release(name, &format!("{name}:2")).await;
    let first = rig.until(name, "to reach 40%", |s| weight(s) >= 40).await;
    rig.release(name, &format!("{name}:3")).await;
    wait::until(
        &format!("{name}-canary to run {name}:3"),
        TIMEOUT,
        || async {
            let image = rig.image(&format!("{name}-canary")).await;
            if image == format!("{name}:3") {
                Ok(())
            } else {
                Err(image)
            }
        },
    )
    .await;
    let status = rig
        .until(name, "to be promoted", |s| releases(s) == 1)
        .await;
    assert_eq!(last_outcome(&status), "promoted", "{status}");
    assert_ne!(
        status["statusInfo"]["canaryRevision"],
        first["statusInfo"]["canaryRevision"]
    );
    assert_eq!(
        rig.image(&format!("{name}-primary")).await,
        format!("{name}:3")
    );
    rig.assert_running(&format!("{name}-primary"), &format!("{name}:3"), 2)
        .await;
    assert!(
        rig.event_reasons(name)
            .await
            .iter()
            .any(|r| r == "AnalysisRestarted")
    );
}

/// Follows `name` (Istio) until it is promoted; asserts the canary weight never went below
/// `from` before the promotion (the analysis went on where it was). Returns what `follow` does.
async fn promoted_from(rig: &Rig, name: &str, what: &str, from: u64) -> (Vec<u64>, Value) {
    let (weights, status) = rig.follow(name, "istio", what, |s| releases(s) == 1).await;
    assert_eq!(last_outcome(&status), "promoted", "{status}");
    assert!(
        weights.iter().all(|w| *w == 0 || *w >= from),
        "{name}: the analysis went back below {from}%: {weights:?}"
    );
    (weights, status)
}

/// The scheduler is killed mid-analysis; a new one resumes at the weight the status holds.
async fn resumed(rig: &Rig, name: &str) {
    rig.create_and_release(name, json!({"maxWeight": 80}), Traffic::healthy(10.0))
        .await;
    let before = rig.until(name, "to reach 40%", |s| weight(s) >= 40).await;
    {
        let mut scheduler = rig.scheduler.lock().await;
        scheduler.kill().await;
        *scheduler =
            SchedulerProcess::start(&rig.project_dir, &rig.kubeconfig, rig.namespace(), &[]);
    }
    let (weights, status) = promoted_from(
        rig,
        name,
        "to be promoted after the restart",
        weight(&before),
    )
    .await;
    assert!(weights.contains(&80), "{name}: weights {weights:?}");
    // 20→40→60→80→promote: four checks in one analysis, none repeated from the start.
    assert_eq!(status["statusInfo"]["iteration"], 4, "{status}");
}

/// `skipAnalysis`: a new revision is promoted without a check and without canary traffic, once
/// the primary has rolled it out.
async fn skipped(rig: &Rig, name: &str) {
    // Failing canary traffic, were there any: skipping must not look at it.
    rig.create_and_release(name, json!({"skipAnalysis": true}), Traffic::failing(0.9))
        .await;
    let (weights, status) = rig
        .follow(name, "istio", "to be promoted without analysis", |s| {
            releases(s) == 1 && s["phase"] == "Waiting"
        })
        .await;
    assert_eq!(last_outcome(&status), "promoted", "{status}");
    assert_eq!(status["statusInfo"]["iteration"], 0, "no check: {status}");
    assert!(
        weights.iter().all(|w| *w == 0),
        "{name}: the canary got traffic: {weights:?}"
    );
    rig.assert_running(&format!("{name}-primary"), &format!("{name}:2"), 2)
        .await;
    assert!(rig.pods(&format!("{name}-canary")).await.is_empty());
    let reasons = rig
        .assert_events(name, &["AnalysisSkipped", "Promoted"])
        .await;
    for reason in ["NewRevision", "WeightIncreased"] {
        assert!(
            !reasons.iter().any(|r| r == reason),
            "{name}: a {reason} Event in {reasons:?}"
        );
    }
}

/// `suspend` mid-analysis holds the weight through several intervals; resumed, the analysis
/// goes on from there and promotes.
async fn suspended(rig: &Rig, name: &str) {
    rig.create_and_release(name, json!({"maxWeight": 100}), Traffic::healthy(10.0))
        .await;
    rig.until(name, "to reach 40%", |s| weight(s) >= 40).await;
    rig.set_spec(name, json!({"suspend": true})).await;
    let held = rig
        .until(name, "to be suspended", |s| {
            s["statusInfo"]["suspended"] == true
        })
        .await;
    assert_eq!(held["phase"], "Evaluating", "{held}");
    // Three intervals (2 s each) without a check or a step.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let still = rig.status(name).await;
    for field in ["currentWeight", "iteration", "failedChecks"] {
        assert_eq!(
            still["statusInfo"][field], held["statusInfo"][field],
            "{name}: {field} moved while suspended: {still}"
        );
    }
    assert_eq!(
        rig.canary_weight(name, "istio").await,
        held["statusInfo"]["currentWeight"].as_u64()
    );
    assert_eq!(condition(&still, "Suspended"), "True", "{still}");
    rig.set_spec(name, json!({"suspend": false})).await;
    promoted_from(rig, name, "to be promoted once resumed", weight(&held)).await;
    rig.assert_events(name, &["Suspended", "Resumed"]).await;
}

/// Judged on metrics and traces, a healthy canary is promoted; its spans are in the last check.
async fn traced_healthy(rig: &Rig, name: &str) {
    rig.create_and_release(name, json!({"checks": "both"}), Traffic::healthy(10.0))
        .await;
    let checked = rig
        .until(name, "to check its spans", |s| {
            s["statusInfo"]["lastQueries"][2]["result"] == "ok" || releases(s) == 1
        })
        .await;
    let status = rig
        .until(name, "to be promoted", |s| {
            releases(s) == 1 && s["phase"] == "Waiting"
        })
        .await;
    assert_eq!(last_outcome(&status), "promoted", "{status}");
    if releases(&checked) == 0 {
        let spans = &checked["statusInfo"]["lastQueries"][2];
        assert_eq!(spans["name"], "canarySpans", "{checked}");
        assert!(
            spans["query"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("service={name}-canary ")),
            "the resolved search is in status: {spans}"
        );
    }
    assert_eq!(condition(&status, "TracesAvailable"), "True", "{status}");
}

/// Prometheus sees only successes, but a third of the canary's payment calls fail in its spans:
/// the trace check rolls it back and names the operation.
async fn traced_failing(rig: &Rig, name: &str) {
    rig.create_and_release(
        name,
        json!({"checks": "both", "maxSpanErrorRatio": 0.05}),
        Traffic::healthy(10.0).with_downstream_errors(0.3),
    )
    .await;
    let status = rig
        .until(name, "to be rolled back on its spans", |s| {
            releases(s) == 1 && s["phase"] == "Waiting"
        })
        .await;
    assert_eq!(last_outcome(&status), "failed", "{status}");
    let info = &status["statusInfo"];
    assert_eq!(info["failingOperation"], DOWNSTREAM_OPERATION, "{status}");
    assert_eq!(info["lastQueries"][0]["result"], "ok", "{status}");
    assert!(
        info["lastQueries"][0]["value"].as_f64() >= Some(0.95),
        "Prometheus saw a healthy canary: {status}"
    );
    let blamed = format!("failing operation \"{DOWNSTREAM_OPERATION}\"");
    assert!(
        info["history"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&blamed),
        "{status}"
    );
    let events: Api<Event> = Api::namespaced(rig.client.clone(), rig.namespace());
    let list = events
        .list(&ListParams::default().fields(&format!(
            "involvedObject.kind=CanaryDeployment,involvedObject.name={name}"
        )))
        .await
        .expect("listing Events");
    let failed = list
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("AnalysisFailed"))
        .unwrap_or_else(|| panic!("{name}: no AnalysisFailed Event"));
    let message = failed.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!("operation \"{DOWNSTREAM_OPERATION}\"")),
        "the rollback Event names the operation: {message}"
    );
}

/// Jaeger down: a trace check has no data, the `noData: hold` policy holds the canary, and the
/// `TracesAvailable` condition says which search failed and why.
async fn jaeger_down(rig: &Rig, name: &str) {
    rig.jaeger.lock().await.stop().await;
    rig.create_and_release(
        name,
        json!({"checks": "traces", "noData": "hold"}),
        Traffic::healthy(10.0),
    )
    .await;
    let held = rig
        .until(name, "to hold through two checks without Jaeger", |s| {
            s["phase"] == "Evaluating" && s["statusInfo"]["iteration"].as_u64() >= Some(2)
        })
        .await;
    assert_eq!(
        held["statusInfo"]["lastQueries"][0]["result"], "error",
        "{held}"
    );
    assert_eq!(held["statusInfo"]["failedChecks"], 0, "{held}");
    assert_eq!(weight(&held), 20, "{held}");
    assert_eq!(condition(&held, "TracesAvailable"), "False", "{held}");
    let why = held["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "TracesAvailable"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("canary-spans") && why.contains("Jaeger"),
        "the condition names the search and the backend: {why}"
    );
    assert!(rig.event_reasons(name).await.iter().any(|r| r == "NoData"));
}

/// Creates `name` with `spec`, gives its canary healthy traffic, starts recording its traffic
/// object and releases `<name>:2`; returns the recording once the release is promoted.
async fn release_recorded(rig: &Rig, name: &str, traffic: &str, spec: Value) -> (Recording, Value) {
    rig.create(name, &format!("{name}:1"), spec).await;
    rig.sim.set(
        rig.namespace(),
        &format!("{name}-canary"),
        Traffic::healthy(10.0),
    );
    let recording = rig.record_traffic(name, traffic).await;
    rig.release(name, &format!("{name}:2")).await;
    let status = rig
        .until(name, "to be promoted", |s| {
            releases(s) == 1 && s["phase"] == "Waiting"
        })
        .await;
    assert_eq!(last_outcome(&status), "promoted", "{status}");
    rig.assert_running(&format!("{name}-primary"), &format!("{name}:2"), 2)
        .await;
    rig.until_no_pods(&format!("{name}-canary")).await;
    (recording, status)
}

/// A/B testing: during the analysis only requests with the header or the cookie reach the
/// canary (a rule matching them, before the default rule to the primary); two healthy checks
/// promote it and the route is back to one rule, all to the primary.
async fn ab_testing(rig: &Rig, name: &str, traffic: &str) {
    let spec = json!({"traffic": traffic, "strategy": "abTesting", "iterations": 2, "match": [
        {"header": "X-Canary", "exact": "insider"}, {"cookie": "canary", "exact": "always"}]});
    let (recording, status) = release_recorded(rig, name, traffic, spec).await;
    assert_eq!(recording.shapes(), ["w0", "matched", "w0"], "{name}");
    let matched = recording.object("matched").expect("the matched route");
    let cookie = r"^(.*?;\s*)?canary=always(;.*)?$";
    let canary = format!("{name}-canary");
    if traffic == "istio" {
        let rule = &matched["spec"]["http"][0];
        assert_eq!(
            rule["match"][0]["headers"]["x-canary"]["exact"], "insider",
            "{matched}"
        );
        assert_eq!(
            rule["match"][1]["headers"]["cookie"]["regex"], cookie,
            "{matched}"
        );
        assert_eq!(rule["route"][0]["destination"]["host"], canary, "{matched}");
    } else {
        let rule = &matched["spec"]["rules"][0];
        assert_eq!(
            rule["matches"][0]["headers"][0],
            json!({"name": "x-canary", "type": "Exact", "value": "insider"}),
            "{matched}"
        );
        assert_eq!(
            rule["matches"][1]["headers"][0]["value"], cookie,
            "{matched}"
        );
        assert_eq!(rule["backendRefs"][0]["name"], canary, "{matched}");
    }
    assert_eq!(status["statusInfo"]["passedChecks"], 2, "{status}");
    assert_eq!(status["statusInfo"]["iteration"], 2, "{status}");
    let reasons = rig
        .assert_events(
            name,
            &[
                "NewRevision",
                "CheckPassed",
                "AnalysisSucceeded",
                "Promoted",
            ],
        )
        .await;
    assert!(
        !reasons.iter().any(|r| r == "WeightIncreased"),
        "{name}: A/B steps no weight: {reasons:?}"
    );
}

/// Mirroring before real traffic: two healthy checks on a 50% copy of the requests (the canary
/// at weight 0), then the weight steps 20 → 40 → 60 and the promotion.
async fn mirrored(rig: &Rig, name: &str, traffic: &str) {
    let spec = json!({"traffic": traffic, "mirror": {"percentage": 50, "iterations": 2}});
    let (recording, status) = release_recorded(rig, name, traffic, spec).await;
    assert_eq!(
        recording.shapes(),
        ["w0", "mirror50", "w20", "w40", "w60", "w0"],
        "{name}"
    );
    let mirror = recording.object("mirror50").expect("the mirroring route");
    let canary = format!("{name}-canary");
    if traffic == "istio" {
        assert_eq!(
            mirror["spec"]["http"][0]["mirror"]["host"], canary,
            "{mirror}"
        );
    } else {
        let filter = &mirror["spec"]["rules"][0]["filters"][0];
        assert_eq!(filter["type"], "RequestMirror", "{mirror}");
        assert_eq!(
            filter["requestMirror"]["backendRef"]["name"], canary,
            "{mirror}"
        );
    }
    // Two checks under mirroring, then 20 → 40, 40 → 60 and 60 → promote.
    assert_eq!(status["statusInfo"]["iteration"], 5, "{status}");
    rig.assert_events(name, &["CheckPassed", "WeightIncreased", "Promoted"])
        .await;
}

/// Blue/green without a mesh: the canary gets no traffic during the analysis (the target's
/// Service selects the primary); after two healthy checks the Service switches to the canary
/// while the primary rolls out the new template, then back to the primary; no route exists.
async fn blue_green(rig: &Rig, name: &str) {
    let spec = json!({"traffic": "kubernetes", "strategy": "blueGreen", "iterations": 2});
    let (recording, status) = release_recorded(rig, name, "kubernetes", spec).await;
    let (primary, canary) = (format!("svc:{name}-primary"), format!("svc:{name}-canary"));
    assert_eq!(
        recording.shapes(),
        [&*primary, &*canary, &*primary],
        "{name}"
    );
    assert_eq!(status["statusInfo"]["passedChecks"], 2, "{status}");
    for traffic in ["istio", "gatewayapi"] {
        assert_eq!(
            rig.shape(name, traffic).await,
            None,
            "{name}: no {traffic} route"
        );
    }
    rig.assert_events(name, &["CheckPassed", "AnalysisSucceeded", "Promoted"])
        .await;
}

/// Linkerd: the route is an HTTPRoute, and the checks read Linkerd's own proxy metrics
/// (`response_total`, `response_latency_ms_bucket` of the canary's Deployment, inbound) from
/// Prometheus: a healthy canary is promoted, one answering 40% errors rolled back.
async fn linkerd(rig: &Rig, healthy_name: &str, failing_name: &str) {
    tokio::join!(
        healthy(rig, healthy_name, "linkerd"),
        failing(rig, failing_name, "linkerd")
    );
    for name in [healthy_name, failing_name] {
        let status = rig.status(name).await;
        let queries = &status["statusInfo"]["lastQueries"];
        let rate = queries[0]["query"].as_str().unwrap_or_default();
        let p99 = queries[1]["query"].as_str().unwrap_or_default();
        let workload = format!(r#"deployment="{name}-canary",direction="inbound""#);
        assert!(
            rate.contains("response_total{") && rate.contains(&workload),
            "{name}: Linkerd's success rate: {queries}"
        );
        assert!(
            p99.contains("response_latency_ms_bucket{"),
            "{name}: Linkerd's latency: {queries}"
        );
        assert_eq!(queries[0]["result"], "ok", "{name}: {queries}");
    }
}

/// Every case at once against one scheduler and `worker`.
async fn every_case(worker: Worker) {
    let rig = Rig::start(worker).await;
    tokio::join!(
        healthy(&rig, "web", "istio"),
        healthy(&rig, "shop", "gatewayapi"),
        failing(&rig, "cart", "istio"),
        no_data_held(&rig, "quiet"),
        no_data_failed(&rig, "silent"),
        superseded(&rig, "api"),
        resumed(&rig, "search"),
        skipped(&rig, "fast"),
        suspended(&rig, "paused"),
        traced_healthy(&rig, "traced"),
        traced_failing(&rig, "checkout"),
        ab_testing(&rig, "insiders", "istio"),
        mirrored(&rig, "shadow", "gatewayapi"),
        blue_green(&rig, "bluegreen"),
        linkerd(&rig, "linked", "unlinked"),
    );
    // Last: it stops Jaeger for everyone.
    jaeger_down(&rig, "blind").await;
}

/// Every traffic object both workers build (`examples/canary/testdata/traffic.json`, which
/// their unit tests compare against) is accepted by the API server under the upstream Istio and
/// Gateway API CRDs (a server-side dry run); broken ones are refused, so the schemas are in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_objects_are_valid_upstream() {
    let cp = control_plane().await;
    install_upstream_crds(cp);
    for name in [
        "virtualservices.networking.istio.io",
        "httproutes.gateway.networking.k8s.io",
    ] {
        wait_established(&cp.client(), name).await;
    }
    let ns = cp.namespace("shapes").await.expect("test namespace");
    let shapes: Value = serde_json::from_str(
        &std::fs::read_to_string(example_dir().join("testdata/traffic.json"))
            .expect("reading examples/canary/testdata/traffic.json"),
    )
    .expect("traffic.json is JSON");
    let apply = |object: Value| {
        let client = cp.client();
        let namespace = ns.name().to_string();
        async move {
            let kind = object["kind"].as_str().unwrap_or_default();
            let traffic = match kind {
                "VirtualService" => "istio",
                "HTTPRoute" => "gatewayapi",
                _ => "kubernetes",
            };
            let api: Api<DynamicObject> =
                Api::namespaced_with(client, &namespace, &route_resource(traffic));
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            api.patch(
                &name,
                &PatchParams::apply("canary-e2e").dry_run(),
                &Patch::Apply(&object),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        }
    };
    let cases = shapes["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10, "{} cases", cases.len());
    for case in cases {
        if let Err(e) = apply(case["object"].clone()).await {
            panic!(
                "{}: the API server refused {}: {e}",
                case["name"], case["object"]
            );
        }
    }
    let find = |name: &str| {
        cases
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["object"].clone())
            .unwrap_or_else(|| panic!("case {name}"))
    };
    let mut too_much = find("gatewayapi mirrored:50");
    too_much["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] = json!(150);
    let mut no_mirror = find("gatewayapi mirrored:50");
    no_mirror["spec"]["rules"][0]["filters"][0]["requestMirror"] = Value::Null;
    let mut not_a_number = find("istio mirrored:50");
    not_a_number["spec"]["http"][0]["mirrorPercentage"]["value"] = json!("half");
    for (what, broken) in [
        ("a mirror percent above 100", too_much),
        ("a RequestMirror filter without requestMirror", no_mirror),
        ("a mirrorPercentage that is not a number", not_a_number),
    ] {
        assert!(
            apply(broken.clone()).await.is_err(),
            "the API server accepted {what}: {broken}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_worker() {
    every_case(Worker::Rust).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_worker() {
    every_case(Worker::Python).await;
}

/// The Python worker's own checks: pytest, `ruff check`, `ruff format --check`, `mypy --strict`.
#[test]
fn python_worker_is_clean() {
    let dir = example_dir().join("worker-python");
    let caches = tempfile::tempdir().expect("cache dir");
    for (tool, args) in [
        ("pytest", &["-q", "-p", "no:cacheprovider"][..]),
        ("ruff", &["check", "--no-cache", "."][..]),
        ("ruff", &["format", "--no-cache", "--check", "."][..]),
        ("mypy", &[][..]),
    ] {
        let out = std::process::Command::new(venv().join("bin").join(tool))
            .args(args)
            .current_dir(&dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("MYPY_CACHE_DIR", caches.path().join("mypy"))
            .env_remove("PYTHONPATH")
            .output()
            .unwrap_or_else(|e| panic!("running {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} in {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
