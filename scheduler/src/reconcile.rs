//! The reconciler: one resource, one step. Reads the phase from status, calls the worker that
//! serves it, checks and applies what came back, then writes the status.
//!
//! # Guarantees
//! - Nothing of a refused response is applied; the status is written only after every output
//!   was applied.
//! - The status write carries the `resourceVersion` that was read, so a step computed from a
//!   stale copy is rejected by the API server (409) instead of skipping or repeating a phase.
//! - A worker failure or a bad response never ends the reconciler: it becomes a condition, an
//!   Event and a backoff.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::metrics::Metrics;
use crate::outputs::{self, Owner};
use crate::plan::{PhasePlan, Plan};
use crate::status::{Condition, Status};
use crate::step::{self, Facts, Failure, Position, Requeue, Step};
use crate::worker::{CallError, CallMeta, SyncCall, SyncReply, Worker};
use crate::{Error, inputs};

use crate::cached::{Cached, Key, Kind};
use crate::events;

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
    memo: Mutex<HashMap<Key, Memo>>,
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
            events: events::Events::new(client.clone(), reporter),
            client,
            plan: std::sync::RwLock::new(plan),
            workers: std::sync::RwLock::new(Arc::new(workers)),
            metrics,
            inputs,
            memo: Mutex::default(),
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

fn owner_of(obj: &DynamicObject, plan: &Plan) -> Result<Owner, ReconcileError> {
    Ok(Owner {
        api_version: plan.resource.api_version.clone(),
        kind: plan.resource.kind.clone(),
        name: obj
            .metadata
            .name
            .clone()
            .ok_or(ReconcileError::MalformedResource("name"))?,
        uid: obj
            .metadata
            .uid
            .clone()
            .ok_or(ReconcileError::MalformedResource("uid"))?,
        namespace: obj.metadata.namespace.clone(),
        operator_name: plan.operator_name.clone(),
    })
}

/// The resource as sent to workers: `managedFields` stripped (they are large and never useful
/// to a phase). The controller's cache already drops them (`cached.rs`), so the resource is
/// serialized as it is, without a copy. `ap call` sends resources the same way.
pub fn resource_json(obj: &DynamicObject) -> Vec<u8> {
    if obj.metadata.managed_fields.is_none() {
        return serde_json::to_vec(obj).unwrap_or_default();
    }
    let mut obj = obj.clone();
    obj.metadata.managed_fields = None;
    serde_json::to_vec(&obj).unwrap_or_default()
}

fn api_for(ctx: &Context, plan: &Plan, obj: &DynamicObject) -> Api<DynamicObject> {
    match obj.metadata.namespace.as_deref() {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &plan.resource),
        None => Api::all_with(ctx.client.clone(), &plan.resource),
    }
}

/// Queues an Event about `obj`; repeats of it are folded into a series.
async fn publish(
    ctx: &Context,
    plan: &Plan,
    obj: &DynamicObject,
    warning: bool,
    reason: &str,
    note: String,
    action: &str,
) {
    publish_event(ctx, plan, obj, warning, reason, note, action, true).await;
}

/// Queues an Event about `obj`. Events are best effort: they are written in the background
/// and a failed one never fails the step. `aggregate: false` is for Events that never repeat
/// for one resource, which then cost no memory once written.
#[allow(clippy::too_many_arguments)]
async fn publish_event(
    ctx: &Context,
    plan: &Plan,
    obj: &DynamicObject,
    warning: bool,
    reason: &str,
    note: String,
    action: &str,
    aggregate: bool,
) {
    let event = events::Event {
        warning,
        reason: reason.to_string(),
        note,
        action: action.to_string(),
        aggregate,
    };
    ctx.events
        .publish(event, obj.object_ref(&plan.resource))
        .await;
}

/// Reconciles one resource. Registered with the kube-runtime controller.
pub async fn reconcile(cached: Arc<Cached>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let plan = ctx.plan();
    let key = ObjectRef::from_obj_with(cached.as_ref(), ctx.kind.clone());
    // The cache keeps resources as JSON text; the one being reconciled is parsed for the step.
    let obj = cached.to_dynamic(&ctx.kind);
    drop(cached);
    let status = Status::from_object_status(obj.data.get("status"));
    let span = info_span!(
        "reconcile",
        namespace = obj.metadata.namespace.as_deref().unwrap_or(""),
        name = %obj.name_any(),
        phase = %status.phase,
        trace_id = tracing::field::Empty,
    );
    if let Some(id) = span.in_scope(crate::telemetry::current_trace_id) {
        span.record("trace_id", tracing::field::display(id));
    }
    let started = Instant::now();
    ctx.metrics.reconciles_in_flight(1);
    let result = reconcile_inner(&obj, &ctx, &plan, &key, status)
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
    obj: &DynamicObject,
    ctx: &Context,
    plan: &Plan,
    key: &Key,
    status: Status,
) -> Result<Action, ReconcileError> {
    let memo = ctx.memo(key);
    if memo.replaced_version.is_some() && memo.replaced_version == obj.metadata.resource_version {
        // Our own status write has not reached the cache yet; its watch event will bring us back.
        debug!("cache behind our last write; waiting for it");
        return Ok(Action::requeue(Duration::from_millis(500)));
    }

    if obj.metadata.deletion_timestamp.is_some() {
        return finalize(obj, ctx, plan, key).await;
    }
    if let Some(finalizer) = &plan.finalizer
        && !obj.finalizers().iter().any(|f| f == finalizer)
    {
        // Adding the finalizer is its own write; the resulting watch event runs the phase.
        let patch = json!({"metadata": {"finalizers": obj.finalizers().iter().chain([finalizer]).collect::<Vec<_>>(), "resourceVersion": obj.metadata.resource_version}});
        api_for(ctx, plan, obj)
            .patch(
                &obj.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(ReconcileError::FinalizerUpdateFailed)?;
        return Ok(Action::requeue(plan.policy.work_interval));
    }

    let generation = obj.metadata.generation;
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
                &now_rfc3339(),
                generation,
            );
            if next != status {
                write_status(ctx, plan, obj, &next).await?;
                publish(ctx, plan, obj, true, "UnknownPhase", msg, "Reconcile").await;
            }
            return Ok(Action::await_change());
        }
        Position::Run(p) => p.name.clone(),
    };

    // A trigger caused by our own status write must not re-run the phase early.
    if let Some(nb) = memo.not_before
        && memo.generation == generation
        && memo.phase == phase
    {
        let now = Instant::now();
        if nb > now {
            return Ok(Action::requeue(nb - now));
        }
    }

    let Some(phase_plan) = plan.phases.get(&phase) else {
        return Ok(Action::await_change());
    };
    let step = run_phase(obj, ctx, plan, phase_plan, &phase, &status).await;
    let written = if step.status != status {
        Some(write_status(ctx, plan, obj, &step.status).await?)
    } else {
        None
    };
    if let Some((from, to)) = &step.transition {
        ctx.metrics.transition(from, to);
        info!(from = %from, to = %to, "phase changed");
        // One Event per transition, never folded into a series (the target phase is the
        // action), so none is remembered after it was written.
        publish_event(
            ctx,
            plan,
            obj,
            false,
            "PhaseChanged",
            format!("{from} -> {to}"),
            to,
            false,
        )
        .await;
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
        m.replaced_version = written.and(obj.metadata.resource_version.clone());
        m.ran_at = Some(Instant::now());
    });
    Ok(match requeue {
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    })
}

/// Runs one phase: gathers inputs, calls the worker, checks and applies its answer. Never fails:
/// every failure becomes the step's status.
async fn run_phase(
    obj: &DynamicObject,
    ctx: &Context,
    plan: &Plan,
    phase_plan: &PhasePlan,
    phase: &str,
    status: &Status,
) -> Step {
    let generation = obj.metadata.generation;
    let now = now_rfc3339();
    let facts = Facts {
        now: &now,
        generation,
        jitter: rand::random::<f64>(),
    };
    let fail = |failure: Failure, reason: &str, message: String| {
        step::after_failure(
            status.clone(),
            phase,
            &failure,
            reason,
            &message,
            &plan.policy,
            facts,
        )
    };

    let Some(worker) = ctx.worker(phase) else {
        return fail(
            Failure::Permanent,
            "NoWorker",
            format!("no worker serves phase {phase}"),
        );
    };
    let owner = match owner_of(obj, plan) {
        Ok(o) => o,
        Err(e) => return fail(Failure::Permanent, "MalformedResource", e.to_string()),
    };
    let mut reader = Key::new_with(&obj.name_any(), ctx.kind.clone());
    if let Some(ns) = obj.metadata.namespace.as_deref() {
        reader = reader.within(ns);
    }
    let gathered = ctx.inputs.gather(phase_plan, obj, &reader).await;
    let input_conditions = input_conditions(phase_plan, &gathered);
    let mut step = call_worker(
        obj, ctx, plan, phase_plan, phase, status, facts, worker, owner, gathered,
    )
    .await;
    for c in input_conditions {
        step.status.set_condition(c, facts.now, generation);
    }
    step
}

/// Conditions describing the inputs: `InputsAvailable` when the phase reads objects,
/// `MetricsAvailable` when it runs queries; False names what failed (with the resolved query).
fn input_conditions(phase_plan: &PhasePlan, gathered: &inputs::Gathered) -> Vec<Condition> {
    let mut out = Vec::new();
    let reads_objects = phase_plan
        .inputs
        .iter()
        .any(|i| matches!(i, crate::plan::InputPlan::Resource { .. }));
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

/// Calls the worker with the gathered inputs and applies its answer.
#[allow(clippy::too_many_arguments)]
async fn call_worker(
    obj: &DynamicObject,
    ctx: &Context,
    plan: &Plan,
    phase_plan: &PhasePlan,
    phase: &str,
    status: &Status,
    facts: Facts<'_>,
    worker: Arc<dyn Worker>,
    owner: Owner,
    gathered: inputs::Gathered,
) -> Step {
    let generation = obj.metadata.generation;
    let fail = |failure: Failure, reason: &str, message: String| {
        step::after_failure(
            status.clone(),
            phase,
            &failure,
            reason,
            &message,
            &plan.policy,
            facts,
        )
    };
    let call_span = info_span!(
        "worker_call",
        method = "Sync",
        phase = %phase,
        endpoint = worker.endpoint(),
        code = tracing::field::Empty,
    );
    let attempt = if status.phase == phase || status.phase.is_empty() {
        status.attempt + 1
    } else {
        1
    };
    let call = SyncCall {
        phase: phase.to_string(),
        resource: resource_json(obj),
        meta: CallMeta {
            attempt,
            tag: gathered.tag(obj),
            generation: generation.unwrap_or_default(),
            operator_name: plan.operator_name.clone(),
        },
        objects: gathered.objects,
        metrics: gathered.metrics,
        deadline: phase_plan.deadline,
        traceparent: call_span.in_scope(crate::telemetry::current_traceparent),
    };
    debug!(endpoint = worker.endpoint(), attempt, "calling the worker");
    let started = Instant::now();
    ctx.metrics.in_flight(phase, 1);
    let reply = worker.sync(call).instrument(call_span.clone()).await;
    ctx.metrics.in_flight(phase, -1);
    let code = match &reply {
        Ok(_) => "OK",
        Err(e) => e.code.as_str(),
    };
    call_span.record("code", code);
    ctx.metrics.worker_call(phase, code, started.elapsed());

    let reply = match reply {
        Ok(r) => r,
        Err(CallError {
            code,
            message,
            class,
            retry_after,
        }) => {
            warn!(code = %code, message = %message, endpoint = worker.endpoint(), "worker call failed");
            publish(
                ctx,
                plan,
                obj,
                true,
                &code,
                format!("{phase}: {message}"),
                "Sync",
            )
            .await;
            let failure = match class {
                autopilot_proto::ErrorClass::Retryable => Failure::Retryable { retry_after },
                autopilot_proto::ErrorClass::Permanent => Failure::Permanent,
            };
            return fail(
                failure,
                &code,
                format!("{code} from {}: {message}", worker.endpoint()),
            );
        }
    };
    match apply_reply(
        obj, ctx, plan, phase_plan, phase, status, &owner, reply, facts,
    )
    .await
    {
        Ok(step) => step,
        Err((failure, reason, message)) => {
            warn!(reason, message = %message, "worker response not applied");
            publish(
                ctx,
                plan,
                obj,
                true,
                reason,
                format!("{phase}: {message}"),
                "Apply",
            )
            .await;
            fail(failure, reason, message)
        }
    }
}

type Refusal = (Failure, &'static str, String);

#[allow(clippy::too_many_arguments)]
async fn apply_reply(
    obj: &DynamicObject,
    ctx: &Context,
    plan: &Plan,
    phase_plan: &PhasePlan,
    phase: &str,
    status: &Status,
    owner: &Owner,
    reply: SyncReply,
    facts: Facts<'_>,
) -> Result<Step, Refusal> {
    // Check everything before applying anything.
    plan.table
        .check_transition(phase, &reply.next_phase)
        .map_err(|m| (Failure::Permanent, "InvalidNextPhase", m))?;
    let status_info = match &reply.status_info {
        Some(raw) => Some(serde_json::from_slice::<Value>(raw).map_err(|e| {
            (
                Failure::Permanent,
                "InvalidStatusInfo",
                format!("statusInfo is not JSON: {e}"),
            )
        })?),
        None => None,
    };
    for (type_, st, _, _) in &reply.conditions {
        if [
            crate::status::READY,
            crate::status::PROGRESSING,
            crate::status::WORKER_ERROR,
            crate::status::INPUTS_AVAILABLE,
            crate::status::METRICS_AVAILABLE,
        ]
        .contains(&type_.as_str())
        {
            return Err((
                Failure::Permanent,
                "InvalidCondition",
                format!("condition type {type_} is owned by the scheduler"),
            ));
        }
        if !["True", "False", "Unknown"].contains(&st.as_str()) || type_.is_empty() {
            return Err((
                Failure::Permanent,
                "InvalidCondition",
                format!("condition {type_:?} has status {st:?}; want True, False or Unknown"),
            ));
        }
    }
    let prepared = outputs::prepare(phase, &reply.outputs, &phase_plan.outputs, owner)
        .map_err(|e| (Failure::Permanent, e.reason(), e.to_string()))?;

    let api_failure = |what: &str, e: kube::Error| -> Refusal {
        let retryable = !matches!(&e, kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 409 && s.code != 429);
        let failure = if retryable {
            Failure::Retryable { retry_after: None }
        } else {
            Failure::Permanent
        };
        (failure, "OutputRejected", format!("{what}: {e}"))
    };
    outputs::apply(&ctx.client, &prepared)
        .await
        .map_err(|e| api_failure("applying outputs", e))?;
    if phase_plan.prune {
        let deleted = outputs::prune(&ctx.client, &phase_plan.outputs, owner, &prepared)
            .await
            .map_err(|e| api_failure("pruning outputs", e))?;
        if !deleted.is_empty() {
            publish(
                ctx,
                plan,
                obj,
                false,
                "OutputsPruned",
                deleted.join(", "),
                "Prune",
            )
            .await;
        }
    }

    for ev in &reply.events {
        publish(
            ctx,
            plan,
            obj,
            ev.warning,
            &ev.reason,
            ev.message.clone(),
            phase,
        )
        .await;
    }
    let mut next = status.clone();
    if status_info.is_some() {
        next.status_info = status_info;
    }
    for (type_, st, reason, message) in reply.conditions {
        next.set_condition(
            Condition {
                type_,
                status: st,
                reason,
                message,
                last_transition_time: String::new(),
                observed_generation: None,
            },
            facts.now,
            facts.generation,
        );
    }
    next.phase = phase.to_string();
    Ok(step::after_success(
        &plan.table,
        next,
        phase,
        &reply.next_phase,
        reply.requeue_after,
        &plan.policy,
        facts,
    ))
}

/// Replaces `.status` through the status subresource, guarded by the resourceVersion read.
/// The body is serialized once and the API server's answer (the whole resource) is not parsed:
/// its watch event brings the new copy to the cache.
async fn write_status(
    ctx: &Context,
    plan: &Plan,
    obj: &DynamicObject,
    status: &Status,
) -> Result<(), ReconcileError> {
    let body = serde_json::to_vec(&json!({
        "apiVersion": plan.resource.api_version,
        "kind": plan.resource.kind,
        "metadata": {
            "name": obj.metadata.name,
            "namespace": obj.metadata.namespace,
            "resourceVersion": obj.metadata.resource_version,
        },
        "status": status,
    }))
    .map_err(|e| ReconcileError::StatusWriteFailed(kube::Error::SerdeError(e)))?;
    let api = api_for(ctx, plan, obj);
    let request = kube::core::Request::new(api.resource_url())
        .replace_subresource("status", &obj.name_any(), &PostParams::default(), body)
        .map_err(|e| ReconcileError::StatusWriteFailed(kube::Error::BuildRequest(e)))?;
    ctx.client
        .request_text(request)
        .await
        .map_err(ReconcileError::StatusWriteFailed)?;
    Ok(())
}

async fn finalize(
    obj: &DynamicObject,
    ctx: &Context,
    plan: &Plan,
    key: &Key,
) -> Result<Action, ReconcileError> {
    let Some(finalizer) = &plan.finalizer else {
        return Ok(Action::await_change());
    };
    if !obj.finalizers().iter().any(|f| f == finalizer) {
        ctx.forget(key);
        return Ok(Action::await_change());
    }
    let Some(worker) = ctx.finalize_worker() else {
        warn!("finalizer enabled but no worker implements Finalize; removing the finalizer");
        remove_finalizer(ctx, plan, obj, finalizer).await?;
        return Ok(Action::await_change());
    };
    let memo = ctx.memo(key);
    let attempt = memo.api_failures + 1;
    let meta = CallMeta {
        attempt,
        tag: String::new(),
        generation: obj.metadata.generation.unwrap_or_default(),
        operator_name: plan.operator_name.clone(),
    };
    let started = Instant::now();
    let reply = worker
        .finalize(resource_json(obj), meta, plan.default_deadline)
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
                publish(
                    ctx,
                    plan,
                    obj,
                    ev.warning,
                    &ev.reason,
                    ev.message.clone(),
                    "Finalize",
                )
                .await;
            }
            if r.done {
                remove_finalizer(ctx, plan, obj, finalizer).await?;
                publish(
                    ctx,
                    plan,
                    obj,
                    false,
                    "Finalized",
                    "cleanup complete; finalizer removed".into(),
                    "Finalize",
                )
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
            publish(
                ctx,
                plan,
                obj,
                true,
                &e.code,
                format!("Finalize: {}", e.message),
                "Finalize",
            )
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
    plan: &Plan,
    obj: &DynamicObject,
    finalizer: &str,
) -> Result<(), ReconcileError> {
    let remaining: Vec<&String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .collect();
    let patch = json!({"metadata": {"finalizers": remaining, "resourceVersion": obj.metadata.resource_version}});
    match api_for(ctx, plan, obj)
        .patch(
            &obj.name_any(),
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
    warn!(name = %obj.name_any(), error = %err, "reconcile failed");
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
