//! The reconciler: one resource, one step, in the order its data flows —
//! **read** the phase from the status, **gather** the phase's inputs, **call** the worker that
//! serves it, **apply** what its checked reply asks for, **write** the status.
//!
//! [`reconcile`] reads and writes; a [`PhaseRun`] does the rest, one method per step.
//!
//! # Guarantees
//! - Nothing of a refused reply is applied: a reply is checked whole
//!   ([`autopilot_worker_client::reply::check`]) before any of it is; the status is written only
//!   after every output was applied.
//! - The status write carries the `resourceVersion` that was read, so a step computed from a
//!   stale copy is rejected by the API server (409) instead of skipping or repeating a phase.
//! - A worker failure or a bad reply never ends the reconciler: it becomes a condition, an
//!   Event and a backoff.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autopilot_model::git::Destination;
use autopilot_worker_client::reply::{self, Reply};
use autopilot_worker_client::{CallError, CallMeta, Inputs, RawReply, Request, Worker};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::api_failure::{ApiFailure, outage};
use crate::cached::{Cached, Key, Kind};
use crate::events;
use crate::gates::{self, HeldMove, Then};
use crate::git::GitError;
use crate::git::deliver::{Gate, GitRecord};
use crate::metrics::Metrics;
use crate::outputs::{self, Owner};
use crate::plan::{InputPlan, PhasePlan, Plan};
use crate::status::{Condition, Status};
use crate::step::{self, Facts, Failure, Position, Requeue, Step};
use crate::{Error, inputs};

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    /// The API client.
    pub client: kube::Client,
    /// The operator's plan (phases, kinds, timings); replaced on config reload.
    pub plan: std::sync::RwLock<Arc<Plan>>,
    /// The workers; replaced on config reload.
    pub workers: std::sync::RwLock<Arc<WorkerSet>>,
    /// Publishes Events off the reconcile path.
    pub events: events::Events,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Resource inputs and Prometheus queries.
    pub inputs: inputs::Gatherer,
    /// Stored external events: read for phases that declare them, consumed once written.
    pub inbox: crate::inbox::Inbox,
    /// Resources waiting for an output kind the API server does not serve yet.
    pub unserved: Arc<crate::unserved::Unserved>,
    /// Tells the operator's notification receivers about status changes.
    pub notifier: crate::notify::Notifier,
    memo: Mutex<HashMap<Key, Memo>>,
    /// Writers of the Git targets, made on first use.
    git: crate::git::Registry,
    /// The operator's resource kind, shared by every cache key.
    kind: Kind,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// What the scheduler remembers about a resource between reconciles. Only an optimisation:
/// losing it (a restart) costs at most one early re-run.
#[derive(Debug, Clone, Default)]
struct Memo {
    /// Do not re-run the phase before this instant unless the resource changed.
    not_before: Option<Instant>,
    /// The generation and phase `not_before` was computed for.
    generation: Option<i64>,
    phase: String,
    /// The resourceVersion our last status write replaced: seeing it again means the cache has
    /// not caught up with our own write yet.
    replaced_version: Option<String>,
    /// Consecutive API errors (not worker errors), for the error policy's backoff.
    api_failures: u32,
    /// When the phase last ran, to apply a reloaded work interval to waiting resources.
    ran_at: Option<Instant>,
    /// The fingerprint of people's requests the last run saw: a new one runs at once.
    asked: String,
}

impl Context {
    /// Builds the context.
    pub fn new(
        client: kube::Client,
        plan: Arc<Plan>,
        workers: WorkerSet,
        metrics: Arc<Metrics>,
        inputs: inputs::Gatherer,
        instance: Option<String>,
    ) -> Self {
        let reporter = events::Reporter {
            controller: format!("autopilot-{}", plan.operator_name),
            instance,
        };
        let kind = Kind::new(&plan.resource);
        Context {
            inbox: crate::inbox::Inbox::new(
                client.clone(),
                &plan.operator_name,
                plan.resource.clone(),
            ),
            events: events::Events::new(client.clone(), reporter),
            notifier: crate::notify::Notifier::start(&plan.notifications, metrics.clone()),
            client,
            plan: std::sync::RwLock::new(plan),
            workers: std::sync::RwLock::new(Arc::new(workers)),
            metrics,
            inputs,
            memo: Mutex::default(),
            unserved: Arc::default(),
            git: crate::git::Registry::default(),
            kind,
        }
    }

    /// The operator's resource kind, as the controller's cache keys carry it.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The current plan.
    pub fn plan(&self) -> Arc<Plan> {
        self.plan.read().expect("plan lock").clone()
    }

    fn worker(&self, phase: &str) -> Option<Arc<dyn Worker>> {
        self.workers
            .read()
            .expect("workers lock")
            .by_phase
            .get(phase)
            .cloned()
    }

    fn memo(&self, key: &Key) -> Memo {
        self.memo
            .lock()
            .expect("memo lock")
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    fn update_memo(&self, key: &Key, f: impl FnOnce(&mut Memo)) {
        f(self
            .memo
            .lock()
            .expect("memo lock")
            .entry(key.clone())
            .or_default());
    }

    /// Clears the API error count of a resource after a successful reconcile, without creating
    /// an entry for it (resources in a final phase have none).
    fn reset_api_failures(&self, key: &Key) {
        if let Some(m) = self.memo.lock().expect("memo lock").get_mut(key) {
            m.api_failures = 0;
        }
    }

    /// Forgets a resource (deleted) or makes its next trigger run at once (an input changed).
    pub fn wake(&self, key: &Key) {
        if let Some(m) = self.memo.lock().expect("memo lock").get_mut(key) {
            m.not_before = None;
        }
    }

    /// Applies a new work interval to resources waiting for their next run: none waits longer
    /// than `work_interval` after its last run. The caller then triggers every resource.
    pub fn reschedule(&self, work_interval: Duration) {
        for m in self.memo.lock().expect("memo lock").values_mut() {
            if let (Some(nb), Some(ran)) = (m.not_before, m.ran_at) {
                m.not_before = Some(nb.min(ran + work_interval));
            }
        }
    }

    /// Replaces the plan and, when given, the workers (config reload). Reconciles in flight
    /// keep the ones they started with.
    pub fn replace(&self, plan: Arc<Plan>, workers: Option<WorkerSet>) {
        *self.plan.write().expect("plan lock") = plan;
        if let Some(w) = workers {
            *self.workers.write().expect("workers lock") = Arc::new(w);
        }
    }

    fn forget(&self, key: &Key) {
        self.memo.lock().expect("memo lock").remove(key);
        self.inputs.forget(key);
    }

    /// Queues an Event about `resource`. Events are best effort: they are written in the
    /// background and a failed one never fails the step.
    async fn publish(&self, resource: &Cached, event: events::Event) {
        self.events
            .publish(event, resource.object_ref(&self.kind))
            .await;
    }
}

/// Errors that end a reconcile early. All are retried by the error policy with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Writing the status failed (a 409 conflict means our copy was stale: retried at once).
    #[error("writing status: {0}")]
    StatusWriteFailed(#[source] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("updating finalizers: {0}")]
    FinalizerUpdateFailed(#[source] kube::Error),
    /// The resource has no name or UID (never true of objects from the API server).
    #[error("resource without {0}")]
    MalformedResource(&'static str),
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// An Event whose repeats are folded into a series.
fn event(warning: bool, reason: &str, note: String, action: &str) -> events::Event {
    events::Event {
        warning,
        reason: reason.to_string(),
        note,
        action: action.to_string(),
        aggregate: true,
    }
}

fn owner_of(resource: &Cached, plan: &Plan) -> Result<Owner, ReconcileError> {
    let meta = &resource.metadata;
    Ok(Owner {
        api_version: plan.resource.api_version.clone(),
        kind: plan.resource.kind.clone(),
        name: meta
            .name
            .clone()
            .ok_or(ReconcileError::MalformedResource("name"))?,
        uid: meta
            .uid
            .clone()
            .ok_or(ReconcileError::MalformedResource("uid"))?,
        namespace: meta.namespace.clone(),
        operator_name: plan.operator_name.clone(),
    })
}

fn api_for(ctx: &Context, resource: &Cached) -> Api<Cached> {
    match resource.metadata.namespace.as_deref() {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &ctx.kind),
        None => Api::all_with(ctx.client.clone(), &ctx.kind),
    }
}

/// Reconciles one resource. Registered with the kube-runtime controller.
pub async fn reconcile(cached: Arc<Cached>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let plan = ctx.plan();
    let key = ObjectRef::from_obj_with(cached.as_ref(), ctx.kind.clone());
    // Read: the status, parsed once from the text the cache keeps.
    let status = Status::from_json(cached.field("status"));
    let span = info_span!(
        "reconcile",
        namespace = cached.metadata.namespace.as_deref().unwrap_or(""),
        name = %cached.name_any(),
        phase = %status.phase,
        trace_id = tracing::field::Empty,
    );
    if let Some(id) = span.in_scope(crate::telemetry::current_trace_id) {
        span.record("trace_id", tracing::field::display(id));
    }
    let started = Instant::now();
    ctx.metrics.reconciles_in_flight(1);
    let result = reconcile_inner(&cached, &ctx, &plan, &key, status)
        .instrument(span)
        .await;
    ctx.metrics.reconciles_in_flight(-1);
    ctx.metrics
        .observe_reconcile(started.elapsed(), result.is_ok());
    if result.is_ok() {
        ctx.reset_api_failures(&key);
    }
    result
}

async fn reconcile_inner(
    resource: &Cached,
    ctx: &Context,
    plan: &Plan,
    key: &Key,
    status: Status,
) -> Result<Action, ReconcileError> {
    let meta = &resource.metadata;
    let memo = ctx.memo(key);
    if memo.replaced_version.is_some() && memo.replaced_version == meta.resource_version {
        // Our own status write has not reached the cache yet; its watch event will bring us back.
        debug!("cache behind our last write; waiting for it");
        return Ok(Action::requeue(Duration::from_millis(500)));
    }

    if meta.deletion_timestamp.is_some() {
        return finalize(resource, ctx, plan, key).await;
    }
    if let Some(finalizer) = &plan.finalizer
        && !resource.finalizers().iter().any(|f| f == finalizer)
    {
        // Adding the finalizer is its own write; the resulting watch event runs the phase.
        let patch = json!({"metadata": {"finalizers": resource.finalizers().iter().chain([finalizer]).collect::<Vec<_>>(), "resourceVersion": meta.resource_version}});
        api_for(ctx, resource)
            .patch(
                &resource.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(ReconcileError::FinalizerUpdateFailed)?;
        return Ok(Action::requeue(plan.policy.work_interval));
    }

    let generation = meta.generation;
    let now = now_rfc3339();
    let facts = Facts {
        now: &now,
        generation,
        jitter: rand::random::<f64>(),
    };
    let phase = match plan.table.position(&status.phase) {
        Position::Done(_) => {
            // Nothing runs in a final phase: forget the resource until it changes.
            ctx.forget(key);
            return Ok(Action::await_change());
        }
        Position::Unknown(name) => {
            let msg = format!("status names phase {name:?}, which autopilot.yaml does not declare");
            let mut next = status.clone();
            next.set_condition(
                Condition::new(crate::status::WORKER_ERROR, true, "UnknownPhase", &msg),
                facts.now,
                generation,
            );
            if next != status {
                write_status(ctx, plan, resource, &next).await?;
                ctx.publish(resource, event(true, "UnknownPhase", msg, "Reconcile"))
                    .await;
            }
            return Ok(Action::await_change());
        }
        Position::Run(p) => p.name.clone(),
    };

    // People's requests (pause, retry, abort, gates) come first: they may hold or move it.
    let asked = gates::Asked::read(resource.annotations());
    let fingerprint = asked.fingerprint();
    let rules = plan.gate_rules();
    let decision = gates::decide(&rules, &asked, &resource.name_any(), &status, &phase, facts);
    let Then::Run { leaving } = &decision.then else {
        return settle(ctx, plan, resource, key, &status, decision, fingerprint).await;
    };
    let leaving = leaving.clone();
    let gates::Decision {
        status: from,
        notices,
        ..
    } = decision;

    // A trigger caused by our own status write must not re-run the phase early; a new request
    // (an annotation changed) does.
    if let Some(nb) = memo.not_before
        && memo.generation == generation
        && memo.phase == phase
        && memo.asked == fingerprint
    {
        let now = Instant::now();
        if nb > now {
            return Ok(Action::requeue(nb - now));
        }
    }

    let Some(phase_plan) = plan.phases.get(&phase) else {
        return Ok(Action::await_change());
    };
    let run = PhaseRun {
        ctx,
        plan,
        resource,
        phase: &phase,
        phase_plan,
        status: &from,
        facts,
        leaving: leaving.as_ref(),
    };
    let (step, pending) = run.run().await;

    // Write: the status, after everything the step applied.
    let written = if step.status != status {
        write_status(ctx, plan, resource, &step.status).await?;
        true
    } else {
        false
    };
    publish_notices(ctx, resource, notices).await;
    // The phase's result is written: the external events it was given are consumed.
    if step.status.failures == 0 {
        ctx.inbox.consume(&pending).await;
    }
    if let Some((from, to)) = &step.transition {
        announce_transition(ctx, resource, from, to).await;
    }
    let mut requeue = match step.requeue {
        Requeue::After(d) => Some(d),
        Requeue::OnChange => None,
    };
    // A reload during this step: its work interval applies to the next run.
    let current = ctx.plan();
    if !std::ptr::eq(current.as_ref(), plan) {
        requeue = requeue.map(|d| d.min(current.policy.work_interval));
    }
    let moved = step.transition.is_some();
    ctx.update_memo(key, |m| {
        // After a transition the status write's watch event runs the next phase at once; the
        // gate only holds back re-runs of the same phase.
        m.not_before = if moved {
            None
        } else {
            requeue.map(|d| Instant::now() + d)
        };
        m.generation = generation;
        m.phase = step.status.phase.clone();
        m.replaced_version = if written {
            meta.resource_version.clone()
        } else {
            None
        };
        m.ran_at = Some(Instant::now());
        m.asked = fingerprint;
    });
    Ok(match requeue {
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    })
}

async fn announce_transition(ctx: &Context, resource: &Cached, from: &str, to: &str) {
    ctx.metrics.transition(from, to);
    info!(from = %from, to = %to, "phase changed");
    // One Event per transition, never folded into a series (the target phase is the action),
    // so none is remembered after it was written.
    let changed = events::Event {
        aggregate: false,
        ..event(false, "PhaseChanged", format!("{from} -> {to}"), to)
    };
    ctx.publish(resource, changed).await;
}

async fn publish_notices(ctx: &Context, resource: &Cached, notices: Vec<gates::Notice>) {
    for n in notices {
        let e = event(n.warning, n.reason, n.note, n.reason);
        ctx.publish(resource, e).await;
    }
}

/// A resource people's requests hold (paused, a closed gate) or moved (aborted): no worker
/// call; the decided status is written, then its Events.
async fn settle(
    ctx: &Context,
    plan: &Plan,
    resource: &Cached,
    key: &Key,
    read: &Status,
    decision: gates::Decision,
    fingerprint: String,
) -> Result<Action, ReconcileError> {
    let gates::Decision {
        status,
        notices,
        then,
    } = decision;
    let written = status != *read;
    if written {
        write_status(ctx, plan, resource, &status).await?;
    }
    publish_notices(ctx, resource, notices).await;
    if let Then::Moved { from, to } = &then {
        announce_transition(ctx, resource, from, to).await;
    }
    let generation = resource.metadata.generation;
    ctx.update_memo(key, |m| {
        m.not_before = None;
        m.generation = generation;
        m.phase = status.phase.clone();
        m.replaced_version = if written {
            resource.metadata.resource_version.clone()
        } else {
            None
        };
        m.asked = fingerprint;
    });
    // Held until the resource changes (the annotation that holds it goes, or one opens it).
    Ok(Action::await_change())
}

/// One run of one phase for one resource: what each of its steps reads.
struct PhaseRun<'a> {
    ctx: &'a Context,
    plan: &'a Plan,
    resource: &'a Cached,
    phase: &'a str,
    phase_plan: &'a PhasePlan,
    status: &'a Status,
    facts: Facts<'a>,
    /// A closed `leaving` gate: a move the worker asks for is held.
    leaving: Option<&'a HeldMove>,
}

impl PhaseRun<'_> {
    /// Gathers the inputs, calls the worker, checks its reply and applies it. Never fails:
    /// every failure becomes the step's status. Also returns the external events the call was
    /// given, to mark consumed once the step's status is written.
    async fn run(&self) -> (Step, crate::inbox::Pending) {
        let none = crate::inbox::Pending::default;
        let Some(worker) = self.ctx.worker(self.phase) else {
            let failed = self.fail(
                Failure::Permanent,
                "NoWorker",
                format!("no worker serves phase {}", self.phase),
            );
            return (failed, none());
        };
        let owner = match owner_of(self.resource, self.plan) {
            Ok(o) => o,
            Err(e) => {
                let failed = self.fail(Failure::Permanent, "MalformedResource", e.to_string());
                return (failed, none());
            }
        };
        let json = self.resource.json(&self.ctx.kind);
        let mut inputs = self.gather(&json).await;
        let meta = &self.resource.metadata;
        let pending = self
            .ctx
            .inbox
            .pending(
                meta.namespace.as_deref(),
                meta.uid.as_deref(),
                &self.phase_plan.events,
            )
            .await;
        inputs.events = pending.for_worker();
        let input_conditions = input_conditions(self.phase_plan, &inputs);
        let request = self.request(json, inputs);
        let mut step = match self.call(worker.as_ref(), request).await {
            Err(failed) => failed,
            Ok(raw) => {
                match reply::check(raw, &self.phase_plan.rules, owner.namespace.as_deref()) {
                    Err(refusal) => {
                        let message = refusal.to_string();
                        self.not_applied(Failure::Permanent, refusal.reason(), message)
                            .await
                    }
                    Ok(reply) => self.apply(reply, &owner).await,
                }
            }
        };
        for c in input_conditions {
            step.status
                .set_condition(c, self.facts.now, self.facts.generation);
        }
        (step, pending)
    }

    /// The status after a failure, with the retry policy applied.
    fn fail(&self, failure: Failure, reason: &str, message: String) -> Step {
        step::after_failure(
            self.status.clone(),
            self.phase,
            &failure,
            reason,
            &message,
            &self.plan.policy,
            self.facts,
        )
    }

    /// Gathers the phase's declared inputs for the resource whose JSON is `json`.
    async fn gather(&self, json: &[u8]) -> Inputs {
        let meta = &self.resource.metadata;
        let mut key = Key::new_with(&self.resource.name_any(), self.ctx.kind.clone());
        if let Some(ns) = meta.namespace.as_deref() {
            key = key.within(ns);
        }
        let reader = inputs::Reader {
            key: &key,
            namespace: meta.namespace.as_deref(),
            json,
        };
        self.ctx.inputs.gather(self.phase_plan, &reader).await
    }

    /// The Sync request: the resource's JSON, its inputs and the call's facts.
    fn request(&self, json: Vec<u8>, inputs: Inputs) -> Request {
        let attempt = if self.status.phase == self.phase || self.status.phase.is_empty() {
            self.status.attempt + 1
        } else {
            1
        };
        let meta = CallMeta {
            attempt,
            tag: String::new(),
            generation: self.facts.generation.unwrap_or_default(),
            operator_name: self.plan.operator_name.clone(),
        };
        Request::new(
            self.phase,
            json,
            self.resource.field("spec"),
            inputs,
            meta,
            self.phase_plan.deadline,
        )
    }

    /// Calls the worker; a failed call is the step it leads to.
    async fn call(&self, worker: &dyn Worker, request: Request) -> Result<RawReply, Step> {
        let phase = self.phase;
        let call_span = info_span!(
            "worker_call",
            method = "Sync",
            phase = %phase,
            endpoint = worker.endpoint(),
            code = tracing::field::Empty,
        );
        let request =
            request.with_traceparent(call_span.in_scope(crate::telemetry::current_traceparent));
        debug!(
            endpoint = worker.endpoint(),
            attempt = request.meta.attempt,
            "calling the worker"
        );
        let metrics = &self.ctx.metrics;
        let started = Instant::now();
        metrics.in_flight(phase, 1);
        let reply = worker.sync(request).instrument(call_span.clone()).await;
        metrics.in_flight(phase, -1);
        let code = match &reply {
            Ok(_) => "OK",
            Err(e) => e.code.as_str(),
        };
        call_span.record("code", code);
        metrics.worker_call(phase, code, started.elapsed());

        let CallError {
            code,
            message,
            class,
            retry_after,
        } = match reply {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        warn!(code = %code, message = %message, endpoint = worker.endpoint(), "worker call failed");
        let note = format!("{phase}: {message}");
        self.ctx
            .publish(self.resource, event(true, &code, note, "Sync"))
            .await;
        let failure = match class {
            autopilot_proto::ErrorClass::Retryable => Failure::Retryable { retry_after },
            autopilot_proto::ErrorClass::Permanent => Failure::Permanent,
        };
        let message = format!("{code} from {}: {message}", worker.endpoint());
        Err(self.fail(failure, &code, message))
    }

    /// An output request the API server did not take, named for its cause (see
    /// [`ApiFailure`]). The worker is not blamed for an unreachable API server or a kind whose
    /// CRD is not installed: both are retried with backoff, an outage is reported once (not
    /// per resource, and without an Event that could not be written), and a resource waiting
    /// for a kind runs again as soon as discovery shows it.
    async fn output_failed(&self, doing: &str, e: outputs::RequestFailed) -> Step {
        let failure = ApiFailure::classify(&self.ctx.client, &e.resource, &e.source).await;
        let object = e.object.as_deref().unwrap_or("(list)");
        let message = format!("{doing} {} {object}: {failure}", e.resource.kind);
        match &failure {
            ApiFailure::Unavailable { cause } => {
                outage().failed(cause);
                return self.fail(failure.failure(), failure.reason(), message);
            }
            ApiFailure::KindNotInstalled { .. } => {
                let key = ObjectRef::from_obj_with(self.resource, self.ctx.kind.clone());
                self.ctx.unserved.wait_for(&e.resource, key);
            }
            ApiFailure::Rejected { .. } => {}
        }
        self.not_applied(failure.failure(), failure.reason(), message)
            .await
    }

    /// A reply refused, or an output the API server refused: reported, then the failure step.
    async fn not_applied(&self, failure: Failure, reason: &str, message: String) -> Step {
        warn!(reason, message = %message, "worker response not applied");
        let note = format!("{}: {message}", self.phase);
        self.ctx
            .publish(self.resource, event(true, reason, note, "Apply"))
            .await;
        self.fail(failure, reason, message)
    }

    /// Applies a checked reply — its outputs (then prunes what the phase dropped), sends them
    /// to the phase's Git targets, then its Events — and returns the step whose status
    /// records it.
    async fn apply(&self, reply: Reply, owner: &Owner) -> Step {
        let client = &self.ctx.client;
        let prepared = outputs::place(reply.outputs, &self.phase_plan.outputs, owner);
        let applies = self.phase_plan.destinations.contains(&Destination::Apply);
        if applies && let Err(e) = outputs::apply(client, &prepared).await {
            return self.output_failed("applying", e).await;
        }
        if applies && self.phase_plan.prune {
            match outputs::prune(client, &self.phase_plan.outputs, owner, &prepared).await {
                Ok(deleted) if deleted.is_empty() => {}
                Ok(deleted) => {
                    let note = deleted.join(", ");
                    self.ctx
                        .publish(self.resource, event(false, "OutputsPruned", note, "Prune"))
                        .await;
                }
                Err(e) => return self.output_failed("pruning", e).await,
            }
        }
        let git = match self.send_to_git(&prepared).await {
            Gate::Unused => None,
            Gate::Failed(e) => return self.git_failed(&e).await,
            Gate::Hold {
                records,
                conditions,
            } => return self.held_for_git(records, conditions),
            Gate::Ready {
                records,
                conditions,
            } => Some((records, conditions)),
        };
        for ev in reply.events {
            let note = ev.message.clone();
            self.ctx
                .publish(
                    self.resource,
                    event(ev.is_warning(), &ev.reason, note, self.phase),
                )
                .await;
        }
        let mut next = self.status.clone();
        if reply.status_info.is_some() {
            next.status_info = reply.status_info;
        }
        for c in reply.conditions {
            next.set_condition(
                Condition {
                    type_: c.type_,
                    status: c.status.as_str().to_string(),
                    reason: c.reason,
                    message: c.message,
                    last_transition_time: String::new(),
                    observed_generation: None,
                },
                self.facts.now,
                self.facts.generation,
            );
        }
        next.phase = self.phase.to_string();
        if let Some((records, conditions)) = git {
            next.git.extend(records);
            for c in conditions {
                next.set_condition(c, self.facts.now, self.facts.generation);
            }
        }
        let to = reply.next_phase.as_deref().unwrap_or_default();
        let held = self.leaving.filter(|_| !to.is_empty() && to != self.phase);
        let mut step = step::after_success(
            &self.plan.table,
            next,
            self.phase,
            if held.is_some() { "" } else { to },
            reply.requeue_after,
            &self.plan.policy,
            self.facts,
        );
        if let Some(gate) = held {
            // The phase's result is kept; only its move waits for the approval.
            let c = gate.condition(to);
            step.status
                .set_condition(c, self.facts.now, self.facts.generation);
        }
        step
    }
}

impl PhaseRun<'_> {
    /// Sends the phase's result to the Git targets it names (see [`crate::git::deliver`]).
    async fn send_to_git(&self, prepared: &[outputs::Prepared]) -> Gate {
        let destinations = &self.phase_plan.destinations;
        if destinations.iter().all(|d| d.git_target().is_none()) {
            return Gate::Unused;
        }
        // Templates of the targets render against the resource: parsed only for Git phases.
        let resource: serde_json::Value =
            serde_json::from_slice(&self.resource.json(&self.ctx.kind)).unwrap_or_default();
        let result = crate::git::deliver::PhaseResult {
            resource: &resource,
            kind: &self.plan.resource.kind,
            phase: self.phase,
            generation: self.facts.generation.unwrap_or_default(),
            objects: prepared.iter().map(|p| p.object.clone()).collect(),
            prune: self.phase_plan.prune,
            output_kinds: self
                .phase_plan
                .outputs
                .iter()
                .map(|k| (k.resource.api_version.clone(), k.resource.kind.clone()))
                .collect(),
        };
        let ctx = self.ctx;
        crate::git::deliver::gate(&ctx.git, &ctx.client, &self.plan.git, destinations, &result)
            .await
    }

    /// A Git target could not be written: `GitSynced` False and the retry policy.
    async fn git_failed(&self, e: &GitError) -> Step {
        warn!(reason = e.reason(), error = %e, "outputs not sent to Git");
        let note = format!("{}: {e}", self.phase);
        self.ctx
            .publish(self.resource, event(true, e.reason(), note, "Push"))
            .await;
        let failure = if e.is_retryable() {
            Failure::Retryable { retry_after: None }
        } else {
            Failure::Permanent
        };
        let mut step = self.fail(failure, e.reason(), e.to_string());
        let c = crate::git::deliver::failed_condition(e);
        step.status
            .set_condition(c, self.facts.now, self.facts.generation);
        step
    }

    /// Pushed but not applied by the GitOps engine yet: the reply takes no effect (no
    /// transition, no statusInfo, no Events) until it is; look again soon.
    fn held_for_git(
        &self,
        records: BTreeMap<String, GitRecord>,
        conditions: Vec<Condition>,
    ) -> Step {
        let mut held = self.status.clone();
        held.phase = self.phase.to_string();
        held.git.extend(records);
        for c in conditions {
            held.set_condition(c, self.facts.now, self.facts.generation);
        }
        Step {
            status: held,
            requeue: Requeue::After(crate::git::deliver::APPLY_POLL),
            transition: None,
        }
    }
}

/// Conditions describing the inputs: `InputsAvailable` when the phase reads objects,
/// `MetricsAvailable` when it runs queries; False names what failed (with the resolved query).
fn input_conditions(phase_plan: &PhasePlan, gathered: &Inputs) -> Vec<Condition> {
    let mut out = Vec::new();
    let reads_objects = phase_plan
        .inputs
        .iter()
        .any(|i| matches!(i, InputPlan::Resource(_)));
    if reads_objects {
        let failed: Vec<String> = gathered
            .objects
            .iter()
            .filter_map(|(k, v)| v.as_ref().err().map(|e| format!("{k}: {e}")))
            .collect();
        out.push(if failed.is_empty() {
            Condition::new(
                crate::status::INPUTS_AVAILABLE,
                true,
                "InputsRead",
                "every resource input was read",
            )
        } else {
            Condition::new(
                crate::status::INPUTS_AVAILABLE,
                false,
                "InputFailed",
                failed.join("; "),
            )
        });
    }
    out.extend(crate::traces::condition(&gathered.traces));
    if !gathered.metrics.is_empty() {
        let failed: Vec<String> = gathered
            .metrics
            .iter()
            .filter_map(|(k, m)| {
                m.error
                    .as_ref()
                    .map(|e| format!("query {k} ({}): {e}", m.query))
            })
            .collect();
        out.push(if failed.is_empty() {
            Condition::new(
                crate::status::METRICS_AVAILABLE,
                true,
                "QueriesSucceeded",
                "every metric query succeeded",
            )
        } else {
            Condition::new(
                crate::status::METRICS_AVAILABLE,
                false,
                "QueryFailed",
                failed.join("; "),
            )
        });
    }
    out
}

/// Replaces `.status` through the status subresource, guarded by the resourceVersion read.
/// The body is serialized once and the API server's answer (the whole resource) is not parsed:
/// its watch event brings the new copy to the cache.
async fn write_status(
    ctx: &Context,
    plan: &Plan,
    resource: &Cached,
    status: &Status,
) -> Result<(), ReconcileError> {
    let body = serde_json::to_vec(&json!({
        "apiVersion": plan.resource.api_version,
        "kind": plan.resource.kind,
        "metadata": {
            "name": resource.metadata.name,
            "namespace": resource.metadata.namespace,
            "resourceVersion": resource.metadata.resource_version,
        },
        "status": status,
    }))
    .map_err(|e| ReconcileError::StatusWriteFailed(kube::Error::SerdeError(e)))?;
    let api = api_for(ctx, resource);
    let request = kube::core::Request::new(api.resource_url())
        .replace_subresource("status", &resource.name_any(), &PostParams::default(), body)
        .map_err(|e| ReconcileError::StatusWriteFailed(kube::Error::BuildRequest(e)))?;
    ctx.client
        .request_text(request)
        .await
        .map_err(ReconcileError::StatusWriteFailed)?;
    outage().answered();
    ctx.notifier.observe(plan, &ctx.kind, resource, status);
    Ok(())
}

async fn finalize(
    resource: &Cached,
    ctx: &Context,
    plan: &Plan,
    key: &Key,
) -> Result<Action, ReconcileError> {
    let Some(finalizer) = &plan.finalizer else {
        return Ok(Action::await_change());
    };
    if !resource.finalizers().iter().any(|f| f == finalizer) {
        ctx.forget(key);
        return Ok(Action::await_change());
    }
    let Some(worker) = ctx.finalize_worker() else {
        warn!("finalizer enabled but no worker implements Finalize; removing the finalizer");
        remove_finalizer(ctx, resource, finalizer).await?;
        return Ok(Action::await_change());
    };
    let memo = ctx.memo(key);
    let attempt = memo.api_failures + 1;
    let meta = CallMeta {
        attempt,
        tag: String::new(),
        generation: resource.metadata.generation.unwrap_or_default(),
        operator_name: plan.operator_name.clone(),
    };
    let started = Instant::now();
    let reply = worker
        .finalize(resource.json(&ctx.kind), meta, plan.default_deadline)
        .instrument(info_span!(
            "worker_call",
            method = "Finalize",
            endpoint = worker.endpoint()
        ))
        .await;
    ctx.metrics.worker_call(
        "Finalize",
        reply
            .as_ref()
            .map(|_| "OK")
            .unwrap_or_else(|e| e.code.as_str()),
        started.elapsed(),
    );
    match reply {
        Ok(r) => {
            for ev in &r.events {
                let note = ev.message.clone();
                ctx.publish(
                    resource,
                    event(ev.is_warning(), &ev.reason, note, "Finalize"),
                )
                .await;
            }
            if r.done {
                remove_finalizer(ctx, resource, finalizer).await?;
                let note = "cleanup complete; finalizer removed".to_string();
                ctx.publish(resource, event(false, "Finalized", note, "Finalize"))
                    .await;
                ctx.forget(key);
                Ok(Action::await_change())
            } else {
                ctx.reset_api_failures(key);
                Ok(Action::requeue(
                    r.requeue_after.unwrap_or(plan.policy.initial_backoff),
                ))
            }
        }
        Err(e) => {
            let note = format!("Finalize: {}", e.message);
            ctx.publish(resource, event(true, &e.code, note, "Finalize"))
                .await;
            ctx.update_memo(key, |m| m.api_failures = m.api_failures.saturating_add(1));
            let failures = ctx.memo(key).api_failures;
            Ok(Action::requeue(step::backoff(
                failures,
                plan.policy.initial_backoff,
                plan.policy.max_backoff,
                rand::random(),
            )))
        }
    }
}

async fn remove_finalizer(
    ctx: &Context,
    resource: &Cached,
    finalizer: &str,
) -> Result<(), ReconcileError> {
    let remaining: Vec<&String> = resource
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .collect();
    let patch = json!({"metadata": {"finalizers": remaining, "resourceVersion": resource.metadata.resource_version}});
    match api_for(ctx, resource)
        .patch(
            &resource.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(ReconcileError::FinalizerUpdateFailed(e)),
    }
}

impl Context {
    fn finalize_worker(&self) -> Option<Arc<dyn Worker>> {
        self.workers.read().expect("workers lock").finalizer.clone()
    }
}

/// The workers of an operator: which one serves each phase, and which one finalizes.
#[derive(Debug, Default, Clone)]
pub struct WorkerSet {
    /// The worker serving each non-final phase.
    pub by_phase: HashMap<String, Arc<dyn Worker>>,
    /// The worker that implements Finalize, when the finalizer is on.
    pub finalizer: Option<Arc<dyn Worker>>,
}

/// The error policy: API errors are retried with per-object exponential backoff; a conflict
/// (our copy was stale) is retried at once.
pub fn error_policy(obj: Arc<Cached>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let plan = ctx.plan();
    let key = ObjectRef::from_obj_with(obj.as_ref(), ctx.kind.clone());
    if let ReconcileError::StatusWriteFailed(kube::Error::Api(s)) = err
        && s.code == 409
    {
        debug!(name = %obj.name_any(), "status write conflicted; retrying with a fresh copy");
        return Action::requeue(Duration::from_millis(100));
    }
    match err.unavailable() {
        // Reported once for the whole outage, with a count (api_failure.rs).
        Some(cause) => {
            outage().failed(&cause);
        }
        None => warn!(name = %obj.name_any(), error = %err, "reconcile failed"),
    }
    let mut failures = 0;
    ctx.update_memo(&key, |m| {
        m.api_failures = m.api_failures.saturating_add(1);
        failures = m.api_failures;
    });
    Action::requeue(step::backoff(
        failures,
        plan.policy.initial_backoff,
        plan.policy.max_backoff,
        rand::random(),
    ))
}

impl From<ReconcileError> for Error {
    fn from(e: ReconcileError) -> Self {
        Error::Reconcile(e.to_string())
    }
}
