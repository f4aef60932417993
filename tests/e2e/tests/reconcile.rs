//! The reconciler's guarantees, in-process: `reconcile` called directly on copies of a `Task`
//! read from a real kube-apiserver, with a `FakeWorker` answering — no gRPC server, no
//! scheduler process.
use std::sync::Arc;
use std::time::Duration;

use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_scheduler::cached::Cached;
use autopilot_scheduler::inputs::Gatherer;
use autopilot_scheduler::metrics::Metrics;
use autopilot_scheduler::plan::Plan;
use autopilot_scheduler::reconcile::{self, Context, ReconcileError, WorkerSet};
use autopilot_worker_client::{FakeWorker, RawReply, Worker};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

/// A namespace, the plan of [`THREE_PHASES`] and a fake worker serving every phase.
struct Harness {
    client: kube::Client,
    ns: autopilot_testenv::TestNamespace,
    plan: Arc<Plan>,
    worker: Arc<FakeWorker>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new(prefix: &str) -> Harness {
        let cp = autopilot_testenv::shared().await.expect("control plane");
        let client = cp.client();
        project::install_crd(&client).await;
        let ns = cp.namespace(prefix).await.expect("namespace");
        let dir = tempfile::tempdir().unwrap();
        project::write(dir.path(), THREE_PHASES, "http://127.0.0.1:9", "");
        let model = autopilot_model::load_dir(dir.path()).expect("a valid project");
        Harness {
            client,
            ns,
            plan: Arc::new(Plan::from_model(&model)),
            worker: Arc::new(FakeWorker::new("fake")),
            _dir: dir,
        }
    }

    /// A context as the scheduler builds one, with fresh memory of past reconciles (as after
    /// a restart, or in another replica).
    fn context(&self) -> Arc<Context> {
        let worker: Arc<dyn Worker> = self.worker.clone();
        let workers = WorkerSet {
            by_phase: self
                .plan
                .phases
                .keys()
                .map(|p| (p.clone(), worker.clone()))
                .collect(),
            finalizer: None,
        };
        let (trigger, _) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(Context::new(
            self.client.clone(),
            self.plan.clone(),
            workers,
            Arc::new(Metrics::default()),
            Gatherer::new(self.client.clone(), None, trigger),
            None,
        ))
    }

    fn ns(&self) -> &str {
        self.ns.name()
    }

    /// The Task as the controller's cache would hold it now.
    async fn read(&self, ctx: &Context, name: &str) -> Arc<Cached> {
        let api: Api<Cached> = Api::namespaced_with(self.client.clone(), self.ns(), ctx.kind());
        Arc::new(api.get(name).await.expect("reading the Task"))
    }

    async fn status(&self, name: &str) -> Value {
        task_status(&self.client, self.ns(), name).await
    }

    async fn config_map(&self, name: &str) -> Option<ConfigMap> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), self.ns());
        api.get_opt(name).await.expect("reading ConfigMaps")
    }

    /// Reasons of the Events written in the namespace, after the queue was flushed.
    async fn event_reasons(&self, ctx: &Context) -> Vec<String> {
        assert!(
            ctx.events.flush(Duration::from_secs(10)).await,
            "Events were not written within 10s"
        );
        let api: Api<Event> = Api::namespaced(self.client.clone(), self.ns());
        api.list(&ListParams::default())
            .await
            .expect("listing Events")
            .items
            .into_iter()
            .filter_map(|e| e.reason)
            .collect()
    }
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

fn config_map(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"k": "v"},
    }))
    .unwrap()
}

#[tokio::test]
async fn nothing_of_a_refused_reply_is_applied() {
    let h = Harness::new("refused").await;
    create_task(&h.client, h.ns(), "t", "").await;
    // Valid in every part but one: a condition the scheduler owns.
    h.worker.push(
        "Initializing",
        Ok(RawReply {
            next_phase: "Processing".into(),
            outputs: vec![config_map("t-config")],
            status_info: Some(br#"{"step": 1}"#.to_vec()),
            conditions: vec![autopilot_worker_client::reply::RawCondition {
                type_: "MetricsAvailable".into(),
                status: "True".into(),
                reason: "Mine".into(),
                message: "set by the worker".into(),
            }],
            events: vec![autopilot_worker_client::Event {
                severity: autopilot_worker_client::Severity::Normal,
                reason: "WorkerStarted".into(),
                message: "from the worker".into(),
            }],
            requeue_after: None,
        }),
    );
    let ctx = h.context();
    reconcile::reconcile(h.read(&ctx, "t").await, ctx.clone())
        .await
        .expect("a refused reply is a step, not an error");

    assert_eq!(h.worker.calls_of("Initializing").len(), 1);
    let status = h.status("t").await;
    assert_eq!(status["phase"], "Initializing", "{status}");
    let error = condition(&status, "WorkerError");
    assert_eq!(error["reason"], "InvalidCondition", "{status}");
    assert_eq!(
        error["message"],
        "condition type MetricsAvailable is owned by the scheduler"
    );
    assert!(
        status.get("statusInfo").is_none(),
        "statusInfo applied: {status}"
    );
    assert_eq!(
        condition(&status, "MetricsAvailable"),
        &Value::Null,
        "the worker's condition applied: {status}"
    );
    assert!(
        h.config_map("t-config").await.is_none(),
        "the refused reply's output was applied"
    );
    let reasons = h.event_reasons(&ctx).await;
    assert!(
        reasons.iter().any(|r| r == "InvalidCondition"),
        "{reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r == "WorkerStarted"),
        "the refused reply's Event was recorded: {reasons:?}"
    );
}

#[tokio::test]
async fn the_status_is_written_only_after_every_output_was_applied() {
    let h = Harness::new("outputs-first").await;
    create_task(&h.client, h.ns(), "bad", "").await;
    create_task(&h.client, h.ns(), "good", "").await;
    let ctx = h.context();

    // The second output passes the reply check but not the API server (an invalid name).
    h.worker.push(
        "Initializing",
        Ok(RawReply {
            next_phase: "Processing".into(),
            outputs: vec![config_map("bad-config"), config_map("Not_A_Name")],
            status_info: Some(br#"{"step": 1}"#.to_vec()),
            ..RawReply::default()
        }),
    );
    // Then, for the second Task, a reply whose outputs all apply.
    h.worker.push(
        "Initializing",
        Ok(RawReply {
            next_phase: "Processing".into(),
            outputs: vec![config_map("good-config")],
            status_info: Some(br#"{"step": 1}"#.to_vec()),
            ..RawReply::default()
        }),
    );
    reconcile::reconcile(h.read(&ctx, "bad").await, ctx.clone())
        .await
        .expect("a rejected output is a step, not an error");
    let status = h.status("bad").await;
    assert_eq!(status["phase"], "Initializing", "moved on: {status}");
    assert_eq!(
        condition(&status, "WorkerError")["reason"],
        "OutputRejected"
    );
    assert!(
        status.get("statusInfo").is_none(),
        "statusInfo written: {status}"
    );

    // Each output of a reply that applied is older than the status that records it (one etcd,
    // so the resourceVersions of different objects are ordered).
    reconcile::reconcile(h.read(&ctx, "good").await, ctx.clone())
        .await
        .expect("reconciling good");
    let status = h.status("good").await;
    assert_eq!(status["phase"], "Processing", "{status}");
    assert_eq!(status["statusInfo"], json!({"step": 1}));
    let output = h
        .config_map("good-config")
        .await
        .expect("the output exists");
    let version = |v: Option<&String>| -> u64 { v.expect("a resourceVersion").parse().unwrap() };
    let task = h.read(&ctx, "good").await;
    assert!(
        version(output.metadata.resource_version.as_ref())
            < version(task.metadata.resource_version.as_ref()),
        "the status was written before the output was applied"
    );
}

#[tokio::test]
async fn a_stale_copy_never_skips_a_phase() {
    let h = Harness::new("stale").await;
    create_task(&h.client, h.ns(), "t", "").await;
    // The first run of Initializing moves to Processing; any later one would jump to Finished,
    // skipping Processing.
    h.worker.push(
        "Initializing",
        Ok(RawReply {
            next_phase: "Processing".into(),
            ..RawReply::default()
        }),
    );
    h.worker.push(
        "Initializing",
        Ok(RawReply {
            next_phase: "Finished".into(),
            ..RawReply::default()
        }),
    );
    h.worker.push("Processing", Ok(RawReply::default()));

    let ctx = h.context();
    let stale = h.read(&ctx, "t").await;
    reconcile::reconcile(stale.clone(), ctx.clone())
        .await
        .expect("first reconcile");
    assert_eq!(h.status("t").await["phase"], "Processing");

    // The copy read before that write comes back, to a scheduler that does not remember it.
    let restarted = h.context();
    let err = reconcile::reconcile(stale.clone(), restarted.clone())
        .await
        .expect_err("a step computed from a stale copy must not be written");
    assert!(
        matches!(&err, ReconcileError::StatusWriteFailed(kube::Error::Api(s)) if s.code == 409),
        "{err:?}"
    );
    assert_eq!(
        reconcile::error_policy(stale, &err, restarted.clone()),
        Action::requeue(Duration::from_millis(100)),
        "a conflict is retried at once with a fresh copy"
    );
    let status = h.status("t").await;
    assert_eq!(
        status["phase"], "Processing",
        "Processing was skipped: {status}"
    );

    // The fresh copy runs Processing.
    reconcile::reconcile(h.read(&restarted, "t").await, restarted.clone())
        .await
        .expect("reconciling the fresh copy");
    assert_eq!(h.worker.calls_of("Processing").len(), 1);
    assert_eq!(h.status("t").await["phase"], "Processing");
}
