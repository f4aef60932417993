//! Benchmark 3: the scheduler's memory and start-up at scale. For each count, the resources
//! (each with a 2 KB spec) exist before the scheduler starts; it then lists them, drives every
//! one to the final phase and idles.
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::Sizes;
use crate::cluster::{self, PhaseWatch};
use crate::scheduler_process::{self, Memory, SchedulerBinary, SchedulerProcess, mib};
use crate::table::Table;

/// Spec size of each resource, as the benchmark specifies.
pub const SPEC_BYTES: usize = 2048;

/// How often RSS is sampled while the scheduler works.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Runs every count on `cp` and returns the table.
///
/// # Errors
///
/// The scheduler failed, exited, or did not finish in time.
pub async fn run(
    cp: &autopilot_testenv::ControlPlane,
    sizes: &Sizes,
    binary: &SchedulerBinary,
) -> anyhow::Result<Table> {
    let mut table = Table::new(
        format!(
            "Scheduler memory and start-up ({SPEC_BYTES}-byte spec per resource, concurrency {}, workInterval {})",
            sizes.concurrency,
            crate::reconcile::work_interval_label(sizes)
        ),
        &[
            "resources",
            "start → first reconcile s",
            "start → all final s",
            "RSS max sampled while processing MiB",
            "peak RSS (VmHWM) MiB",
            "idle RSS after finishing MiB",
        ],
    );
    for &n in &sizes.memory_crs {
        let row = one(cp, n, sizes, binary)
            .await
            .with_context(|| format!("{n} resources"))?;
        table.row(row);
    }
    Ok(table)
}

async fn one(
    cp: &autopilot_testenv::ControlPlane,
    n: usize,
    sizes: &Sizes,
    binary: &SchedulerBinary,
) -> anyhow::Result<Vec<String>> {
    let ns = cp.namespace(&format!("bench-memory-{n}")).await?;
    let client = cp.client();
    cluster::create_loads(&client, ns.name(), n, SPEC_BYTES).await?;
    let watch = PhaseWatch::start(&client, ns.name());
    let (endpoint, _stop_worker) = scheduler_process::serve_phase_worker().await?;
    let dir = tempfile::tempdir()?;
    scheduler_process::write_project(dir.path(), &endpoint, sizes)?;

    let started = Instant::now();
    let mut process = SchedulerProcess::start(binary, dir.path(), cp.kubeconfig_path(), ns.name())?;
    let mut max_rss = 0;
    let first = {
        let mut first = None;
        let deadline = started + cluster::finish_timeout(n);
        loop {
            let progress = watch.progress();
            first = first.or(progress.first_status);
            if progress.finished >= n {
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "waiting {:?} for {n} Loads to reach {}: {} did\nscheduler log:\n{}",
                    cluster::finish_timeout(n),
                    cluster::FINAL,
                    progress.finished,
                    process.log_tail()
                );
            }
            max_rss = max_rss.max(process.memory()?.rss_kib);
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        first.context("every Load finished but none was seen with a status first")?
    };
    let all_final = started.elapsed();
    let busy: Memory = process.memory()?;
    tokio::time::sleep(sizes.idle_settle).await;
    let idle = process.memory()?;
    Ok(vec![
        n.to_string(),
        format!("{:.2}", (first - started).as_secs_f64()),
        format!("{:.2}", all_final.as_secs_f64()),
        mib(max_rss.max(busy.rss_kib)),
        mib(idle.hwm_kib),
        mib(idle.rss_kib),
    ])
}
