//! Benchmark 2: reconcile throughput. The same work — every resource moved Initializing →
//! Processing → Finished, each move one status write guarded by the resourceVersion and one
//! Event, as the scheduler does it — done by three contenders against one control plane:
//!
//! - **scheduler**: `autopilot-scheduler` as a process, calling an SDK worker over loopback;
//! - **(a) controller**: an in-process kube-rs `Controller` making the same moves and writes with
//!   no gRPC (the floor for our stack);
//! - **(b) plain client**: the same writes issued directly, at the same concurrency, with no
//!   watch and no controller logic (the API server's own limit).
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use autopilot_scheduler::status::{Condition, PROGRESSING, READY, Status, WORKER_ERROR};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use serde_json::json;

use crate::Sizes;
use crate::cluster::{self, FINAL, INITIAL, MIDDLE, PhaseWatch, TRANSITIONS_PER_CR};
use crate::scheduler_process::{self, SchedulerBinary, SchedulerProcess};
use crate::table::Table;

/// Spec size of the throughput benchmark's resources: small, so the API server's work is
/// dominated by the writes being compared, not by payload.
const SPEC_BYTES: usize = 128;

/// One contender's result.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// From start (process spawn, controller start, first write) until every resource was final.
    pub total: Duration,
    /// From the first status write seen until every resource was final.
    pub processing: Duration,
    /// Phase transitions made.
    pub transitions: usize,
    /// Median time from a resource's `Processing` status to its `Finished` status.
    pub middle_dwell: Option<Duration>,
    /// CPU seconds of our side: the scheduler process, plus this process (the SDK worker, or
    /// the controller or client, and the watch that counts finished resources).
    pub our_cpu: f64,
    /// CPU seconds of the API server and etcd.
    pub control_plane_cpu: f64,
}

/// CPU counters at the start of a contender's run.
#[derive(Debug, Clone, Copy)]
struct CpuMark {
    ours: f64,
    control_plane: f64,
}

impl CpuMark {
    fn now(cp: &autopilot_testenv::ControlPlane) -> anyhow::Result<Self> {
        Ok(CpuMark {
            ours: scheduler_process::cpu_seconds(std::process::id())?,
            control_plane: scheduler_process::control_plane_cpu(cp)?,
        })
    }

    /// `(ours, control plane)` CPU seconds since the mark, adding `extra` to ours.
    fn since(
        &self,
        cp: &autopilot_testenv::ControlPlane,
        extra: f64,
    ) -> anyhow::Result<(f64, f64)> {
        let now = CpuMark::now(cp)?;
        Ok((
            now.ours - self.ours + extra,
            now.control_plane - self.control_plane,
        ))
    }
}

impl Run {
    /// Transitions per second over the processing window.
    pub fn rate(&self) -> f64 {
        self.transitions as f64 / self.processing.as_secs_f64().max(1e-9)
    }
}

/// The status the scheduler writes after a successful call moving `from` → `to` (the shape
/// `autopilot_scheduler::step::after_success` produces).
pub fn moved(mut status: Status, from: &str, to: &str, generation: Option<i64>) -> Status {
    let now = now_rfc3339();
    status.observed_generation = generation;
    status.failures = 0;
    status.set_condition(
        Condition::new(
            WORKER_ERROR,
            false,
            "CallSucceeded",
            format!("{from} succeeded"),
        ),
        &now,
        generation,
    );
    status.phase = to.to_string();
    status.attempt = 0;
    status.last_transition_time = Some(now.clone());
    let done = to == FINAL;
    let why = format!("moved from {from} to {to}");
    status.set_condition(
        Condition::new(
            READY,
            done,
            if done { "Completed" } else { "InProgress" },
            &why,
        ),
        &now,
        generation,
    );
    status.set_condition(
        Condition::new(
            PROGRESSING,
            !done,
            if done { "Completed" } else { "PhaseChanged" },
            &why,
        ),
        &now,
        generation,
    );
    status
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The next phase after `phase` (`""` is the initial phase), or `None` when final.
fn next_of(phase: &str) -> Option<(&'static str, &'static str)> {
    match phase {
        "" | INITIAL => Some((INITIAL, MIDDLE)),
        MIDDLE => Some((MIDDLE, FINAL)),
        _ => None,
    }
}

/// Writes `status` through the status subresource, guarded by `resource_version`, as the
/// scheduler does, and records the move as an Event; returns the new resourceVersion.
async fn write_move(
    api: &Api<DynamicObject>,
    recorder: &Recorder,
    obj: &DynamicObject,
    resource_version: Option<String>,
    status: &Status,
    from: &str,
    to: &str,
) -> Result<Option<String>, kube::Error> {
    let ar = cluster::load_resource();
    let body: DynamicObject = serde_json::from_value(json!({
        "apiVersion": ar.api_version,
        "kind": ar.kind,
        "metadata": {
            "name": obj.metadata.name,
            "namespace": obj.metadata.namespace,
            "resourceVersion": resource_version,
        },
        "status": status,
    }))
    .map_err(kube::Error::SerdeError)?;
    let written = api
        .replace_status(&obj.name_any(), &PostParams::default(), &body)
        .await?;
    let event = Event {
        type_: EventType::Normal,
        reason: "PhaseChanged".into(),
        note: Some(format!("{from} -> {to}")),
        action: to.into(),
        secondary: None,
    };
    // Best effort, as in the scheduler.
    let _ = recorder.publish(&event, &obj.object_ref(&ar)).await;
    Ok(written.metadata.resource_version)
}

fn recorder(client: &kube::Client) -> Recorder {
    Recorder::new(client.clone(), "autopilot-bench".into())
}

/// Runs the three contenders on `cp` and returns the table.
///
/// # Errors
///
/// A contender failed or did not finish in time.
pub async fn run(
    cp: &autopilot_testenv::ControlPlane,
    sizes: &Sizes,
    binary: &SchedulerBinary,
) -> anyhow::Result<Table> {
    let n = sizes.reconcile_crs;
    let c = sizes.concurrency;
    let scheduler = run_scheduler(cp, sizes, binary)
        .await
        .context("scheduler")?;
    let controller = run_controller(cp, n, c)
        .await
        .context("(a) kube-rs controller")?;
    let plain = run_plain(cp, n, c).await.context("(b) plain client")?;

    let mut table = Table::new(
        format!(
            "Reconcile throughput: {n} resources × {TRANSITIONS_PER_CR} transitions (3 phases), concurrency {c}, scheduler workInterval {}",
            work_interval_label(sizes)
        ),
        &[
            "contender",
            "total s",
            "first write → all final s",
            "transitions/s",
            "scheduler / this",
            "median Processing → Finished ms",
            "our CPU ms / transition",
            "API server + etcd CPU ms / transition",
        ],
    );
    for (name, r) in [
        ("scheduler (process + SDK worker over gRPC)", scheduler),
        ("(a) in-process kube-rs controller", controller),
        ("(b) plain client, same writes", plain),
    ] {
        table.row(vec![
            name.into(),
            format!("{:.2}", r.total.as_secs_f64()),
            format!("{:.2}", r.processing.as_secs_f64()),
            format!("{:.0}", r.rate()),
            format!("{:.0}%", 100.0 * scheduler.rate() / r.rate()),
            r.middle_dwell
                .map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3)),
            format!("{:.2}", 1e3 * r.our_cpu / r.transitions as f64),
            format!("{:.2}", 1e3 * r.control_plane_cpu / r.transitions as f64),
        ]);
    }
    Ok(table)
}

/// The scheduler's work interval as configured, for titles.
pub fn work_interval_label(sizes: &Sizes) -> String {
    match sizes.work_interval {
        Some(d) => humantime::format_duration(d).to_string(),
        None => format!(
            "{} (default)",
            humantime::format_duration(autopilot_model::operator::DEFAULT_WORK_INTERVAL)
        ),
    }
}

async fn prepared_namespace(
    cp: &autopilot_testenv::ControlPlane,
    prefix: &str,
    n: usize,
) -> anyhow::Result<(autopilot_testenv::TestNamespace, PhaseWatch)> {
    let ns = cp.namespace(prefix).await?;
    let client = cp.client();
    cluster::create_loads(&client, ns.name(), n, SPEC_BYTES).await?;
    let watch = PhaseWatch::start(&client, ns.name());
    Ok((ns, watch))
}

async fn run_scheduler(
    cp: &autopilot_testenv::ControlPlane,
    sizes: &Sizes,
    binary: &SchedulerBinary,
) -> anyhow::Result<Run> {
    let n = sizes.reconcile_crs;
    let (ns, mut watch) = prepared_namespace(cp, "bench-scheduler", n).await?;
    let (endpoint, _stop_worker) = scheduler_process::serve_phase_worker().await?;
    let dir = tempfile::tempdir()?;
    scheduler_process::write_project(dir.path(), &endpoint, sizes)?;
    let mark = CpuMark::now(cp)?;
    let started = Instant::now();
    let process = SchedulerProcess::start(binary, dir.path(), cp.kubeconfig_path(), ns.name())?;
    let finished = async {
        let first = watch.until_first_status(cluster::finish_timeout(n)).await?;
        watch.until_finished(n, cluster::finish_timeout(n)).await?;
        Ok::<_, anyhow::Error>(first)
    }
    .await
    .map_err(|e| anyhow::anyhow!("{e}\nscheduler log:\n{}", process.log_tail()))?;
    let total = started.elapsed();
    let processing = finished.elapsed();
    let scheduler_cpu = scheduler_process::cpu_seconds(
        process
            .pid()
            .ok_or_else(|| anyhow::anyhow!("the scheduler has exited"))?,
    )?;
    let (our_cpu, control_plane_cpu) = mark.since(cp, scheduler_cpu)?;
    Ok(Run {
        our_cpu,
        control_plane_cpu,
        total,
        processing,
        transitions: n * TRANSITIONS_PER_CR,
        middle_dwell: watch.progress().median_middle_dwell(),
    })
}

/// What the in-process controller's reconciles share.
struct ControllerContext {
    client: kube::Client,
    recorder: Recorder,
}

async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<ControllerContext>,
) -> Result<Action, kube::Error> {
    let status = Status::from_object_status(obj.data.get("status"));
    let Some((from, to)) = next_of(&status.phase) else {
        return Ok(Action::await_change());
    };
    let next = moved(status, from, to, obj.metadata.generation);
    let api = cluster::loads(
        &ctx.client,
        obj.metadata.namespace.as_deref().unwrap_or_default(),
    );
    write_move(
        &api,
        &ctx.recorder,
        &obj,
        obj.metadata.resource_version.clone(),
        &next,
        from,
        to,
    )
    .await?;
    Ok(Action::await_change())
}

fn error_policy(
    _obj: Arc<DynamicObject>,
    _err: &kube::Error,
    _ctx: Arc<ControllerContext>,
) -> Action {
    // A conflict means the cache was behind our own write; its watch event brings us back.
    Action::requeue(Duration::from_millis(100))
}

async fn run_controller(
    cp: &autopilot_testenv::ControlPlane,
    n: usize,
    concurrency: u16,
) -> anyhow::Result<Run> {
    let (ns, mut watch) = prepared_namespace(cp, "bench-controller", n).await?;
    let client = cp.client();
    let ctx = Arc::new(ControllerContext {
        client: client.clone(),
        recorder: recorder(&client),
    });
    let mark = CpuMark::now(cp)?;
    let started = Instant::now();
    let api = cluster::loads(&client, ns.name());
    let controller = tokio::spawn(
        Controller::new_with(
            api,
            watcher::Config::default().any_semantic(),
            cluster::load_resource(),
        )
        .with_config(controller::Config::default().concurrency(concurrency))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(())),
    );
    let result = async {
        let first = watch.until_first_status(cluster::finish_timeout(n)).await?;
        watch.until_finished(n, cluster::finish_timeout(n)).await?;
        Ok::<_, anyhow::Error>(first)
    }
    .await;
    controller.abort();
    let first = result?;
    let (our_cpu, control_plane_cpu) = mark.since(cp, 0.0)?;
    Ok(Run {
        our_cpu,
        control_plane_cpu,
        total: started.elapsed(),
        processing: first.elapsed(),
        transitions: n * TRANSITIONS_PER_CR,
        middle_dwell: watch.progress().median_middle_dwell(),
    })
}

async fn run_plain(
    cp: &autopilot_testenv::ControlPlane,
    n: usize,
    concurrency: u16,
) -> anyhow::Result<Run> {
    let (ns, mut watch) = prepared_namespace(cp, "bench-plain", n).await?;
    let client = cp.client();
    let api = cluster::loads(&client, ns.name());
    let objects = api.list(&ListParams::default()).await?.items;
    anyhow::ensure!(
        objects.len() == n,
        "listed {} Loads, created {n}",
        objects.len()
    );
    let recorder = recorder(&client);
    let mark = CpuMark::now(cp)?;
    let started = Instant::now();
    futures::stream::iter(objects)
        .map(|obj| {
            let api = api.clone();
            let recorder = recorder.clone();
            async move {
                let mut status = Status::default();
                let mut version = obj.metadata.resource_version.clone();
                while let Some((from, to)) = next_of(&status.phase) {
                    status = moved(status, from, to, obj.metadata.generation);
                    version = write_move(&api, &recorder, &obj, version, &status, from, to)
                        .await
                        .with_context(|| format!("writing the status of {}", obj.name_any()))?;
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(usize::from(concurrency))
        .try_collect::<()>()
        .await?;
    let writes_done = started.elapsed();
    // Wait for the watch too, so all three are measured the same way.
    watch.until_finished(n, cluster::finish_timeout(n)).await?;
    let total = started.elapsed().max(writes_done);
    let (our_cpu, control_plane_cpu) = mark.since(cp, 0.0)?;
    Ok(Run {
        our_cpu,
        control_plane_cpu,
        total,
        processing: total,
        transitions: n * TRANSITIONS_PER_CR,
        middle_dwell: watch.progress().median_middle_dwell(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_initial_to_middle_to_final_then_stop() {
        let cases = [
            ("", Some((INITIAL, MIDDLE))),
            (INITIAL, Some((INITIAL, MIDDLE))),
            (MIDDLE, Some((MIDDLE, FINAL))),
            (FINAL, None),
        ];
        for (phase, want) in cases {
            assert_eq!(next_of(phase), want, "after {phase:?}");
        }
    }

    #[test]
    fn a_move_writes_what_the_scheduler_writes() {
        let middle = moved(Status::default(), INITIAL, MIDDLE, Some(3));
        assert_eq!(middle.phase, MIDDLE);
        assert_eq!(middle.observed_generation, Some(3));
        assert_eq!(
            middle.condition(READY).map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(
            middle.condition(PROGRESSING).map(|c| c.status.as_str()),
            Some("True")
        );
        let done = moved(middle, MIDDLE, FINAL, Some(3));
        assert_eq!(done.phase, FINAL);
        assert_eq!(
            done.condition(READY).map(|c| c.status.as_str()),
            Some("True")
        );
        assert_eq!(
            done.condition(PROGRESSING).map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(
            done.condition(WORKER_ERROR).map(|c| c.status.as_str()),
            Some("False")
        );
    }
}
