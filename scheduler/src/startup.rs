//! Start-up: the project files loaded and checked with the flags' overrides, and the Describe
//! handshake with every worker. Both run again on a configuration reload.
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autopilot_worker_client::{GrpcWorker, TlsFiles, Worker};
use tracing::info;

use crate::Error;
use crate::args::Args;
use crate::plan::Plan;
use crate::reconcile::WorkerSet;

/// Loads and validates the two project files, applying the flags' overrides.
pub fn load_model(args: &Args) -> Result<autopilot_model::Model, Error> {
    let mut model =
        autopilot_model::load_dir_with_config(&args.project_dir, args.config.as_deref())
            .map_err(|d| Error::InvalidProject(d.to_string()))?;
    let op = &mut model.operator;
    if let Some(e) = &args.worker_endpoint {
        op.workers.endpoint = autopilot_model::operator::Endpoint::parse(e).map_err(|reason| {
            Error::WorkerEndpoint {
                endpoint: e.clone(),
                reason,
            }
        })?;
        op.workers.phases.clear();
    }
    if !args.namespaces.is_empty() {
        op.namespaces = args
            .namespaces
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .collect();
    }
    if let Some(a) = &args.metrics_addr {
        op.metrics_addr = parse_addr("--metrics-addr", a)?;
    }
    if let Some(a) = &args.health_addr {
        op.health_addr = parse_addr("--health-addr", a)?;
    }
    if let Some(l) = &args.log_level {
        op.log_level = l
            .parse()
            .map_err(|e: String| Error::InvalidProject(format!("--log-level: {e}")))?;
    }
    if let Some(f) = &args.log_format {
        op.log_format = f
            .parse()
            .map_err(|e: String| Error::InvalidProject(format!("--log-format: {e}")))?;
    }
    if let Some(c) = args.concurrency {
        op.concurrency = c.into();
    }
    // The overrides may break a cross-file rule (a per-phase endpoint, say): check again.
    model
        .validate()
        .map_err(|d| Error::InvalidProject(d.to_string()))?;
    Ok(model)
}

/// Connects to every endpoint and checks, with Describe, that each serves the phases assigned
/// to it. Unreachable workers are retried until `timeout`; a disagreement fails at once.
pub async fn handshake(
    model: &autopilot_model::Model,
    plan: &Plan,
    timeout: Duration,
) -> Result<WorkerSet, Error> {
    let tls = model.operator.workers.tls.as_ref().map(TlsFiles::from);
    let mut by_endpoint: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (phase, p) in &plan.phases {
        by_endpoint
            .entry(p.endpoint.clone())
            .or_default()
            .insert(phase.clone());
    }
    let mut set = WorkerSet::default();
    let deadline = Instant::now() + timeout;
    for (endpoint, phases) in by_endpoint {
        let worker: Arc<dyn Worker> = Arc::new(GrpcWorker::new(
            &endpoint,
            plan.max_message_bytes,
            tls.as_ref(),
        )?);
        let description = loop {
            match worker.describe(Duration::from_secs(5)).await {
                Ok(d) => break d,
                Err(e) if Instant::now() < deadline => {
                    info!(endpoint = %endpoint, error = %e, "waiting for worker");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(Error::Handshake(format!(
                        "worker at {endpoint} did not answer Describe within {}: {e}",
                        humantime::format_duration(timeout)
                    )));
                }
            }
        };
        if description.protocol_version != autopilot_proto::PROTOCOL_VERSION {
            return Err(Error::Handshake(format!(
                "worker {:?} at {endpoint} speaks protocol {:?}; this scheduler speaks {:?}",
                description.name,
                description.protocol_version,
                autopilot_proto::PROTOCOL_VERSION
            )));
        }
        let missing: Vec<&String> = phases
            .iter()
            .filter(|p| !description.phases.contains(p))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(Error::Handshake(format!(
                "phase {} is assigned to the worker at {endpoint}, but worker {:?} serves only [{}]",
                names.join(", "),
                description.name,
                description.phases.join(", ")
            )));
        }
        info!(endpoint = %endpoint, worker = %description.name, version = %description.version, phases = ?description.phases, "worker ready");
        if description.finalize && set.finalizer.is_none() {
            set.finalizer = Some(worker.clone());
        }
        for p in phases {
            set.by_phase.insert(p, worker.clone());
        }
    }
    if plan.finalizer.is_some() && set.finalizer.is_none() {
        return Err(Error::Handshake(
            "finalizer is on in autopilot.yaml, but no worker implements Finalize".into(),
        ));
    }
    Ok(set)
}

fn parse_addr(what: &str, addr: &str) -> Result<Option<SocketAddr>, Error> {
    // "" disables the endpoint, as in autopilot-operator.yaml.
    if addr.is_empty() {
        return Ok(None);
    }
    addr.parse().map(Some).map_err(|e| Error::Bind {
        addr: format!("{what} {addr}"),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })
}
