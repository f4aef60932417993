//! External events as phase inputs, end to end: the scheduler as a process with its receiver on,
//! a real control plane, CloudEvents sent by the official CloudEvents Python SDK (binary,
//! structured and batched), GitHub deliveries signed as GitHub signs them, generic webhooks, a
//! scheduler SIGKILLed between accept and delivery, duplicates, retention, and many events for
//! many resources delivered once each and in order.
//!
//! The Python sender is `tests/e2e/python/send_cloudevents.py`, run with the venv of
//! `hack/deps/python.sh` (which installs the `cloudevents` package).
use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_e2e::project::{self, GROUP, task_resource};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use autopilot_proto::v1::*;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const TIMEOUT: Duration = Duration::from_secs(90);
const TOKEN: &str = "ce-token-1";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const APPROVAL_SECRET: &str = "approve-me";

/// Events for many resources: 1,000 for 100 by default; `AUTOPILOT_EVENTS_MANY=events/resources`
/// changes it (e.g. `200/20` on a slow machine).
fn many() -> (usize, usize) {
    std::env::var("AUTOPILOT_EVENTS_MANY")
        .ok()
        .and_then(|v| {
            let (e, r) = v.split_once('/')?;
            Some((e.parse().ok()?, r.parse().ok()?))
        })
        .unwrap_or((1000, 100))
}

/// The project: one waiting phase that reads three event sources.
const PROJECT: &str = r#"apiVersion: e2e.autopilot.dev/v1
kind: Task
operatorName: events-operator
spec:
  type: object
  properties:
    behavior: {type: string}
    message: {type: string}
events:
  - name: deploy-finished
    source: cloudevents
    match: {type: com.example.deploy.finished}
    route: {name: "{{ subject }}"}
  - name: pr-merged
    source: github
    match: {events: pull_request.closed}
    route: {labelSelector: "repo={{ data.repository.name }}"}
  - name: approval
    source: webhook
    id: "{{ data.request }}"
    match: {fields: {decision: approved}}
    route: {name: "{{ data.task }}"}
phases:
  - name: Waiting
    initial: true
    inputs: [deploy-finished, pr-merged, approval]
  - name: Done
    final: true
"#;

/// A worker that stays in Waiting and records, per resource, the events of every call it
/// answered OK, in the order received. While `unavailable` is set it answers UNAVAILABLE.
#[derive(Debug, Clone, Default)]
struct EventWorker {
    /// `namespace/name` → `source:id` of each event received in an answered call.
    seen: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Calls answered OK per resource.
    calls: Arc<Mutex<HashMap<String, usize>>>,
    /// Payloads by `source:id`, as received.
    payloads: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    unavailable: Arc<AtomicBool>,
}

#[tonic::async_trait]
impl WorkerService for EventWorker {
    async fn describe(
        &self,
        _: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse {
            protocol_version: autopilot_proto::PROTOCOL_VERSION.into(),
            worker_name: "events".into(),
            worker_version: "0.0.0".into(),
            phases: vec!["Waiting".into()],
            finalize: false,
            capabilities: vec![],
        }))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(Status::unavailable("not yet"));
        }
        let req = request.into_inner();
        let resource: Value = serde_json::from_slice(&req.resource)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let key = format!(
            "{}/{}",
            resource["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default(),
            resource["metadata"]["name"].as_str().unwrap_or_default()
        );
        for name in ["deploy-finished", "pr-merged", "approval"] {
            let list = req
                .events
                .get(name)
                .ok_or_else(|| Status::invalid_argument(format!("no entry for {name}")))?;
            if !list.error.is_empty() {
                return Err(Status::unavailable(format!("{name}: {}", list.error)));
            }
        }
        // Sources in a fixed order; within one, the scheduler's order.
        let mut names: Vec<&String> = req.events.keys().collect();
        names.sort();
        let mut seen = self.seen.lock().unwrap();
        let entry = seen.entry(key.clone()).or_default();
        for name in names {
            for e in &req.events[name].items {
                let id = format!("{name}:{}", e.id);
                entry.push(id.clone());
                self.payloads.lock().unwrap().insert(id, e.data.clone());
            }
        }
        *self.calls.lock().unwrap().entry(key).or_default() += 1;
        Ok(Response::new(SyncResponse {
            requeue_after_ms: 60_000,
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

impl EventWorker {
    async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(WorkerServiceServer::new(self.clone()))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    fn seen(&self, key: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    fn calls(&self, key: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    /// Waits until `key` has received `id` (`source:id`), and returns everything it received.
    async fn wait_for(&self, key: &str, id: &str) -> Vec<String> {
        wait::until(&format!("{key} to receive {id}"), TIMEOUT, || async {
            let seen = self.seen(key);
            if seen.iter().any(|s| s == id) {
                Ok(seen)
            } else {
                Err(format!("received {seen:?}"))
            }
        })
        .await
    }
}

/// A free loopback port (bound, then released for the scheduler to take).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Installs the EventDelivery CRD exactly as `ap generate` renders it, and waits until it is
/// established.
async fn install_delivery_crd(client: &kube::Client) {
    let crd: CustomResourceDefinition =
        serde_saphyr::from_str(&autopilot_codegen::event_delivery_crd()).expect("valid CRD");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "eventdeliveries.autopilot.dev";
    api.patch(
        name,
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("applying the EventDelivery CRD");
    wait::until("the EventDelivery CRD to be Established", TIMEOUT, || {
        let api = api.clone();
        async move {
            let crd = api.get(name).await.map_err(|e| e.to_string())?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                Ok(())
            } else {
                Err("not established".to_string())
            }
        }
    })
    .await;
}

/// Everything one test needs: a namespace, a worker, and the scheduler with its receiver.
struct Setup {
    client: kube::Client,
    ns: String,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    worker: EventWorker,
    receiver: SocketAddr,
    metrics: SocketAddr,
    _ns_guard: autopilot_testenv::TestNamespace,
}

impl Setup {
    async fn new(prefix: &str, retention: &str) -> Self {
        let cp = autopilot_testenv::shared().await.expect("control plane");
        let client = cp.client();
        project::install_crd(&client).await;
        install_delivery_crd(&client).await;
        let ns_guard = cp.namespace(prefix).await.expect("namespace");
        let ns = ns_guard.name().to_string();
        let worker = EventWorker::default();
        let endpoint = worker.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        // Secrets as a mounted Secret or `echo` leaves them: with a trailing newline.
        for (file, value) in [
            ("token", TOKEN),
            ("github", GITHUB_SECRET),
            ("approval", APPROVAL_SECRET),
        ] {
            std::fs::write(secrets.join(file), format!("{value}\n")).unwrap();
        }
        let receiver = free_addr();
        let metrics = free_addr();
        let s = secrets.display();
        let operator = format!(
            "receiver:\n  addr: \"{receiver}\"\n  maxBodyBytes: 65536\n{retention}  \
             cloudevents: {{tokenFile: {s}/token}}\n  github: {{secretFile: {s}/github}}\n  \
             webhooks:\n    approval: {{secretFile: {s}/approval, header: X-Approval-Token}}\n"
        );
        project::write(dir.path(), PROJECT, &endpoint, &operator);
        // project::write sets metricsAddr to port 0; give it a known one.
        let config = dir.path().join("autopilot-operator.yaml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "metricsAddr: \"127.0.0.1:0\"",
            &format!("metricsAddr: \"{metrics}\""),
        );
        std::fs::write(&config, text).unwrap();
        Setup {
            client,
            ns,
            dir,
            kubeconfig: cp.kubeconfig_path().to_path_buf(),
            worker,
            receiver,
            metrics,
            _ns_guard: ns_guard,
        }
    }

    fn start(&self) -> SchedulerProcess {
        SchedulerProcess::start(self.dir.path(), &self.kubeconfig, &self.ns, &[])
    }

    /// Waits until the receiver answers (the scheduler is up).
    async fn receiver_ready(&self) {
        wait::until("the event receiver to listen", TIMEOUT, || async {
            tokio::net::TcpStream::connect(self.receiver)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
    }

    /// Creates a Task with `labels` and waits for the worker's first call for it (so events
    /// sent after it find the resource and are delivered by a later call).
    async fn task(&self, name: &str, labels: Value) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.ns, &task_resource());
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "Task",
            "metadata": {"name": name, "namespace": self.ns, "labels": labels},
            "spec": {"behavior": "wait"},
        }))
        .unwrap();
        api.create(&Default::default(), &obj).await.unwrap();
    }

    async fn first_call(&self, name: &str) {
        let key = self.key(name);
        wait::until(&format!("the first call for {key}"), TIMEOUT, || async {
            match self.worker.calls(&key) {
                0 => Err("no call yet".to_string()),
                n => Ok(n),
            }
        })
        .await;
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.ns)
    }

    /// Sends CloudEvents with the Python SDK; one reply per request line.
    fn python(&self, token: &str, requests: &[Value]) -> Vec<(u16, Value)> {
        python_send(
            &format!("http://{}/cloudevents", self.receiver),
            token,
            requests,
        )
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        http_post(self.receiver, path, headers, body).await
    }

    /// The stored deliveries in the namespace.
    async fn deliveries(&self) -> Vec<DynamicObject> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &autopilot_scheduler::inbox::store::api_resource(),
        );
        api.list(&ListParams::default()).await.unwrap().items
    }
}

fn venv_python() -> PathBuf {
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/autopilot"));
    let python = cache.join("venv/bin/python");
    assert!(
        python.exists(),
        "the Python toolchain is missing ({}): run `bash hack/deps/python.sh`",
        python.display()
    );
    python
}

fn python_send(url: &str, token: &str, requests: &[Value]) -> Vec<(u16, Value)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/send_cloudevents.py");
    let mut child = std::process::Command::new(venv_python())
        .arg(script)
        .args([url, token])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running send_cloudevents.py");
    // Written from another thread: the replies fill the stdout pipe while requests are sent.
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = requests.iter().map(Value::to_string).collect();
    let writer = std::thread::spawn(move || {
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "send_cloudevents.py failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let body =
                serde_json::from_str(v["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null);
            (v["status"].as_u64().unwrap() as u16, body)
        })
        .collect()
}

/// A minimal HTTP/1.1 POST (Connection: close): the status and the JSON reply.
async fn http_post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // A body over the limit may be refused before it is all read.
    let _ = stream.write_all(body).await;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let text = String::from_utf8_lossy(&reply);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn cloudevent(id: &str, subject: &str, data: Value) -> Value {
    json!({
        "attributes": {
            "id": id, "source": "https://ci.example.com", "type": "com.example.deploy.finished",
            "subject": subject, "specversion": "1.0",
        },
        "data": data,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_from_the_python_sdk_in_every_mode_reach_the_worker_once() {
    let s = Setup::new("events-ce", "").await;
    let _sched = s.start();
    s.receiver_ready().await;
    s.task("web", json!({})).await;
    s.task("api", json!({})).await;
    s.first_call("web").await;
    s.first_call("api").await;

    let replies = s.python(
        TOKEN,
        &[
            json!({"mode": "binary", "events": [cloudevent("b-1", "web", json!({"version": "1.2.3"}))]}),
            json!({"mode": "structured", "events": [cloudevent("s-1", "web", json!({"version": "1.2.4"}))]}),
            json!({"mode": "batch", "events": [
                cloudevent("batch-1", "web", json!({"n": 1})),
                cloudevent("batch-2", "api", json!({"n": 2})),
            ]}),
            // The same event again: accepted, stored once.
            json!({"mode": "binary", "events": [cloudevent("b-1", "web", json!({"version": "1.2.3"}))]}),
        ],
    );
    let statuses: Vec<u16> = replies.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [200, 200, 200, 200], "{replies:?}");
    assert_eq!(
        replies[3].1["results"][0]["outcome"], "duplicate",
        "{replies:?}"
    );

    let web = s
        .worker
        .wait_for(&s.key("web"), "deploy-finished:batch-1")
        .await;
    let api = s
        .worker
        .wait_for(&s.key("api"), "deploy-finished:batch-2")
        .await;
    assert_eq!(
        web,
        [
            "deploy-finished:b-1",
            "deploy-finished:s-1",
            "deploy-finished:batch-1"
        ],
        "each event once, in the order accepted"
    );
    assert_eq!(api, ["deploy-finished:batch-2"]);
    let payload: Value =
        serde_json::from_slice(&s.worker.payloads.lock().unwrap()["deploy-finished:s-1"]).unwrap();
    assert_eq!(payload, json!({"version": "1.2.4"}));

    // Refusals: each with its status and reason, nothing stored.
    let before = s.deliveries().await.len();
    let wrong_token = s.python(
        "not-the-token",
        &[json!({"mode": "binary", "events": [cloudevent("x-1", "web", json!({}))]})],
    );
    assert_eq!(wrong_token[0].0, 401, "{wrong_token:?}");
    assert_eq!(
        wrong_token[0].1["error"],
        "authorization does not match the configured secret"
    );
    let unmatched = s.python(
        TOKEN,
        &[json!({"mode": "structured", "events": [{"attributes": {"id": "u-1", "source": "s", "type": "com.example.other"}, "data": {}}]})],
    );
    assert_eq!(unmatched[0].0, 202, "{unmatched:?}");
    assert_eq!(unmatched[0].1["results"][0]["outcome"], "unmatched");
    let nobody = s.python(
        TOKEN,
        &[json!({"mode": "binary", "events": [cloudevent("n-1", "nobody", json!({}))]})],
    );
    assert_eq!(nobody[0].0, 202, "{nobody:?}");
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = s
        .post(
            "/cloudevents",
            &[
                ("Authorization", &auth),
                ("ce-specversion", "1.0"),
                ("ce-source", "s"),
                ("ce-type", "t"),
            ],
            b"{}",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("not a CloudEvent"),
        "{body}"
    );
    let (status, body) = s
        .post(
            "/cloudevents",
            &[("Authorization", &auth)],
            &vec![b'x'; 70_000],
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        s.deliveries().await.len(),
        before,
        "refused events are not stored"
    );
    let calls = s.worker.calls(&s.key("web"));
    // A later call (the work interval is long: wake it with a new event) brings nothing old.
    s.python(
        TOKEN,
        &[json!({"mode": "binary", "events": [cloudevent("b-2", "web", json!({}))]})],
    );
    let web = s
        .worker
        .wait_for(&s.key("web"), "deploy-finished:b-2")
        .await;
    assert!(s.worker.calls(&s.key("web")) > calls);
    assert_eq!(web.len(), 4, "no event was delivered twice: {web:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_deliveries_signed_as_github_signs_them_and_webhooks_with_a_shared_secret() {
    let s = Setup::new("events-gh", "").await;
    let _sched = s.start();
    s.receiver_ready().await;
    s.task("shop-canary", json!({"repo": "shop"})).await;
    s.task("cart-canary", json!({"repo": "cart"})).await;
    s.first_call("shop-canary").await;

    let body = serde_json::to_vec(&json!({
        "action": "closed",
        "pull_request": {"number": 7, "merged": true},
        "repository": {"name": "shop", "full_name": "example/shop", "html_url": "https://github.com/example/shop"},
    }))
    .unwrap();
    let signature = autopilot_scheduler::inbox::verify::sign(&body, GITHUB_SECRET.as_bytes());
    let headers = |delivery: &'static str, signature: &str| {
        vec![
            ("X-GitHub-Event", "pull_request".to_owned()),
            ("X-GitHub-Delivery", delivery.to_owned()),
            ("X-Hub-Signature-256", signature.to_owned()),
            ("Content-Type", "application/json".to_owned()),
        ]
    };
    let setup = &s;
    let send = |h: Vec<(&'static str, String)>, body: Vec<u8>| async move {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        setup.post("/github", &h, &body).await
    };
    let (status, reply) = send(headers("d-1", &signature), body.clone()).await;
    assert_eq!(status, 200, "{reply}");
    // GitHub redelivers with the same X-GitHub-Delivery: handled once.
    let (status, reply) = send(headers("d-1", &signature), body.clone()).await;
    assert_eq!(
        (status, &reply["results"][0]["outcome"]),
        (200, &json!("duplicate"))
    );
    // Tampered: the body changed after signing.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, reply) = send(headers("d-2", &signature), tampered).await;
    assert_eq!(status, 401, "{reply}");
    assert_eq!(
        reply["error"],
        "x-hub-signature-256 does not match the configured secret"
    );
    let (status, _) = send(headers("d-3", "sha256=00"), body.clone()).await;
    assert_eq!(status, 401);
    // A pull request opened is not declared: 202.
    let opened =
        serde_json::to_vec(&json!({"action": "opened", "repository": {"name": "shop"}})).unwrap();
    let sig = autopilot_scheduler::inbox::verify::sign(&opened, GITHUB_SECRET.as_bytes());
    let (status, _) = send(headers("d-4", &sig), opened).await;
    assert_eq!(status, 202);

    let seen = s
        .worker
        .wait_for(&s.key("shop-canary"), "pr-merged:d-1")
        .await;
    assert_eq!(seen, ["pr-merged:d-1"]);
    assert!(
        s.worker.seen(&s.key("cart-canary")).is_empty(),
        "the label selector routes"
    );
    let payload = s.worker.payloads.lock().unwrap()["pr-merged:d-1"].clone();
    assert_eq!(payload, body, "the payload exactly as GitHub sent it");

    // A generic webhook with a shared-secret header.
    let approve = br#"{"request": "r-1", "decision": "approved", "task": "cart-canary"}"#;
    let (status, reply) = s
        .post(
            "/webhooks/approval",
            &[("X-Approval-Token", APPROVAL_SECRET)],
            approve,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = s
        .post(
            "/webhooks/approval",
            &[("X-Approval-Token", "guess")],
            approve,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = s
        .post(
            "/webhooks/approval",
            &[("X-Approval-Token", APPROVAL_SECRET)],
            b"{\"request\": \"r-2\", \"decision\": \"reject\", \"task\": \"cart-canary\"}",
        )
        .await;
    assert_eq!(status, 202, "a decision the match does not take");
    let (status, _) = s.post("/webhooks/nope", &[], b"{}").await;
    assert_eq!(status, 404);
    let seen = s
        .worker
        .wait_for(&s.key("cart-canary"), "approval:r-1")
        .await;
    assert_eq!(seen, ["approval:r-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_accepted_before_the_scheduler_is_killed_is_delivered_once_after_restart() {
    let s = Setup::new("events-crash", "").await;
    s.worker.unavailable.store(true, Ordering::SeqCst);
    let mut first = s.start();
    s.receiver_ready().await;
    s.task("web", json!({})).await;
    let replies = s.python(
        TOKEN,
        &[json!({"mode": "binary", "events": [cloudevent("c-1", "web", json!({}))]})],
    );
    assert_eq!(replies[0].0, 200, "{replies:?}");
    // Accepted means stored: the delivery is in the cluster before the scheduler dies.
    assert_eq!(s.deliveries().await.len(), 1);
    first.kill().await;
    s.worker.unavailable.store(false, Ordering::SeqCst);
    let _second = s.start();
    s.receiver_ready().await;
    s.worker
        .wait_for(&s.key("web"), "deploy-finished:c-1")
        .await;
    // A later event proves later calls happened; c-1 must not come again.
    s.python(
        TOKEN,
        &[json!({"mode": "binary", "events": [cloudevent("c-2", "web", json!({}))]})],
    );
    let seen = s
        .worker
        .wait_for(&s.key("web"), "deploy-finished:c-2")
        .await;
    assert_eq!(seen, ["deploy-finished:c-1", "deploy-finished:c-2"]);
    let consumed = s
        .deliveries()
        .await
        .iter()
        .filter(|d| {
            d.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("autopilot.dev/consumed"))
        })
        .count();
    assert_eq!(
        consumed, 2,
        "both deliveries are marked consumed and kept for deduplication"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_the_oldest_unconsumed_events_and_says_so() {
    let s = Setup::new("events-retain", "  retention: {maxPerResource: 3}\n").await;
    s.worker.unavailable.store(true, Ordering::SeqCst);
    let _sched = s.start();
    s.receiver_ready().await;
    s.task("web", json!({})).await;
    let requests: Vec<Value> = (1..=5)
        .map(|i| json!({"mode": "binary", "events": [cloudevent(&format!("r-{i}"), "web", json!({}))]}))
        .collect();
    let replies = s.python(TOKEN, &requests);
    assert!(
        replies.iter().all(|(status, _)| *status == 200),
        "{replies:?}"
    );
    assert_eq!(s.deliveries().await.len(), 3, "at most 3 kept");
    s.worker.unavailable.store(false, Ordering::SeqCst);
    let seen = s
        .worker
        .wait_for(&s.key("web"), "deploy-finished:r-5")
        .await;
    assert_eq!(
        seen,
        [
            "deploy-finished:r-3",
            "deploy-finished:r-4",
            "deploy-finished:r-5"
        ]
    );
    let metrics = wait::until("the dropped-events metric", TIMEOUT, || async {
        let (_, body) =
            autopilot_e2e::prometheus::http_get(&s.metrics.to_string(), "/metrics").await?;
        if body.contains("autopilot_events_dropped_total{source=\"deploy-finished\"} 2") {
            Ok(body)
        } else {
            Err("not counted yet".to_string())
        }
    })
    .await;
    assert!(
        metrics.contains("autopilot_events_total{source=\"deploy-finished\",outcome=\"stored\"} 5"),
        "{metrics}"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(s.client.clone(), &s.ns);
    wait::until("an EventDropped Event on the Task", TIMEOUT, || async {
        let list = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        list.items
            .iter()
            .find(|e| e.reason.as_deref() == Some("EventDropped"))
            .map(|e| e.note.clone().unwrap_or_default())
            .ok_or_else(|| "none yet".to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_events_for_many_resources_arrive_once_each_and_in_order() {
    let (events, resources) = many();
    let s = Setup::new("events-many", "").await;
    let _sched = s.start();
    s.receiver_ready().await;
    let names: Vec<String> = (0..resources).map(|i| format!("t-{i:03}")).collect();
    for name in &names {
        s.task(name, json!({})).await;
    }
    // Events round-robin over the resources, one per request, structured mode.
    let requests: Vec<Value> = (0..events)
        .map(|i| {
            json!({"mode": "structured", "events": [cloudevent(&format!("m-{i:05}"), &names[i % resources], json!({"i": i}))]})
        })
        .collect();
    let replies = tokio::task::spawn_blocking({
        let url = format!("http://{}/cloudevents", s.receiver);
        move || python_send(&url, TOKEN, &requests)
    })
    .await
    .unwrap();
    assert_eq!(replies.len(), events);
    let refused: Vec<&(u16, Value)> = replies.iter().filter(|(st, _)| *st != 200).collect();
    assert!(refused.is_empty(), "{refused:?}");
    for (r, name) in names.iter().enumerate() {
        let key = s.key(name);
        let want: Vec<String> = (r..events)
            .step_by(resources)
            .map(|i| format!("deploy-finished:m-{i:05}"))
            .collect();
        let last = want.last().cloned().unwrap();
        let seen = s.worker.wait_for(&key, &last).await;
        assert_eq!(seen, want, "{key}: every event once, in the order sent");
    }
}
