//! Config reload: `autopilot-operator.yaml` (or `--config`) is read every second; a change is
//! validated in full and applied without dropping in-flight work (reconciles keep the plan and
//! workers they started with). An invalid edit is refused with a logged error and the running
//! settings stay.
//!
//! Applied live: `workInterval`, `retry`, deadlines, worker endpoints and TLS (after a Describe
//! handshake with the new workers), `prometheus`, `jaeger`, `logLevel`. Settings that shape the process
//! (`namespaces`, `concurrency`, `metricsAddr`, `healthAddr`, `leaderElection`, `logFormat`,
//! `tracing`, `notifications`) are logged as needing a restart and keep their running values.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tracing::{error, info, warn};

use crate::args::Args;
use crate::plan::Plan;
use crate::reconcile::Context;

/// How often the file is read.
pub const POLL: Duration = Duration::from_secs(1);

/// The operator config file the scheduler reads.
pub fn config_path(args: &Args) -> PathBuf {
    args.config
        .clone()
        .unwrap_or_else(|| args.project_dir.join("autopilot-operator.yaml"))
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Watches the config file until the process ends. `running` is the model in effect;
/// `reconcile_all` re-triggers every resource of each watch loop.
pub async fn watch(
    args: Args,
    ctx: Arc<Context>,
    mut running: autopilot_model::Model,
    reconcile_all: Vec<UnboundedSender<()>>,
) {
    let path = config_path(&args);
    let mut seen = std::fs::read(&path).ok();
    loop {
        tokio::time::sleep(POLL).await;
        let now = std::fs::read(&path).ok();
        if now == seen {
            continue;
        }
        seen = now;
        let model = match crate::startup::load_model(&args) {
            Ok(m) => m,
            Err(e) => {
                error!(path = %path.display(), error = %e, "configuration change refused; the running settings stay");
                continue;
            }
        };
        let (old, new) = (&running.operator, &model.operator);
        for (name, a, b) in [
            ("namespaces", json(&old.namespaces), json(&new.namespaces)),
            (
                "concurrency",
                json(&old.concurrency),
                json(&new.concurrency),
            ),
            (
                "metricsAddr",
                json(&old.metrics_addr),
                json(&new.metrics_addr),
            ),
            ("healthAddr", json(&old.health_addr), json(&new.health_addr)),
            (
                "leaderElection",
                json(&old.leader_election),
                json(&new.leader_election),
            ),
            ("logFormat", json(&old.log_format), json(&new.log_format)),
            ("tracing", json(&old.tracing), json(&new.tracing)),
            (
                "notifications",
                json(&old.notifications),
                json(&new.notifications),
            ),
        ] {
            if a != b {
                warn!(
                    setting = name,
                    "changed in the configuration; takes effect on restart"
                );
            }
        }
        let plan = Plan::from_model(&model);
        let workers = if json(&old.workers) != json(&new.workers) {
            match crate::startup::handshake(&model, &plan, Duration::from_secs(10)).await {
                Ok(w) => Some(w),
                Err(e) => {
                    error!(error = %e, "configuration change refused: the new workers failed the handshake; the running settings stay");
                    continue;
                }
            }
        } else {
            None
        };
        if json(&old.log_level) != json(&new.log_level)
            && let Err(e) = crate::telemetry::set_log_level(new.log_level.as_str())
        {
            warn!(error = %e, "could not change the log level");
        }
        if json(&old.prometheus) != json(&new.prometheus) {
            ctx.inputs
                .set_prometheus((!new.prometheus.url.is_empty()).then(|| {
                    crate::prometheus::Prometheus::new(&new.prometheus.url, new.prometheus.timeout)
                }));
        }
        if json(&old.jaeger) != json(&new.jaeger) {
            ctx.inputs.set_jaeger(
                (!new.jaeger.url.is_empty())
                    .then(|| crate::traces::Jaeger::new(&new.jaeger.url, new.jaeger.timeout)),
            );
        }
        let work_interval = plan.policy.work_interval;
        let endpoints_changed = workers.is_some();
        ctx.replace(Arc::new(plan), workers);
        ctx.reschedule(work_interval);
        for tx in &reconcile_all {
            let _ = tx.send(());
        }
        info!(path = %path.display(), work_interval = %humantime::format_duration(work_interval), endpoints_changed, log_level = new.log_level.as_str(), "configuration reloaded");
        running = model;
    }
}
