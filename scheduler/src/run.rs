//! Start-up, the watch loops, and shutdown: what the `autopilot-scheduler` binary does.
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, Shared};
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use tracing::{error, info, warn};

use crate::Error;
use crate::args::Args;
use crate::cached::Cached;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::reconcile::{self, Context, WorkerSet};
use crate::server::{self, Readiness};
use crate::telemetry::{self, LogFormat};
use crate::worker::{GrpcWorker, TlsFiles, Worker};

/// A future that resolves on SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> BoxFuture<'static, ()> {
    async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    }
    .boxed()
}

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

async fn kube_client(args: &Args) -> Result<kube::Client, Error> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| Error::Kubeconfig(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kubeconfig(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Kubeconfig(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))
}

/// Connects to every endpoint and checks, with Describe, that each serves the phases assigned
/// to it. Unreachable workers are retried until `timeout`; a disagreement fails at once.
pub async fn handshake(
    model: &autopilot_model::Model,
    plan: &Plan,
    timeout: Duration,
) -> Result<WorkerSet, Error> {
    let tls = model.operator.workers.tls.as_ref().map(|t| TlsFiles {
        ca_file: t.ca_file.clone(),
        cert_file: t.cert_file.clone(),
        key_file: t.key_file.clone(),
        server_name: t.server_name.clone(),
    });
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

/// Runs the scheduler until `shutdown` resolves, then lets in-flight reconciles finish within
/// the grace period.
pub async fn run(args: Args, shutdown: BoxFuture<'static, ()>) -> Result<(), Error> {
    let model = load_model(&args)?;
    let op = &model.operator;
    let format = if op.log_format.as_str() == "json" {
        LogFormat::Json
    } else {
        LogFormat::Text
    };
    let traces = telemetry::TraceConfig {
        otlp_endpoint: op.tracing.otlp_endpoint.clone(),
        sample_ratio: op.tracing.sample_ratio,
        service_name: op
            .tracing
            .service_name_for(&model.project.operator_name)
            .to_string(),
    };
    telemetry::init_logging(op.log_level.as_str(), format, &traces);

    let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.shared();
    let plan = Arc::new(Plan::from_model(&model));
    let metrics = Arc::new(Metrics::default());
    let ready = Readiness::default();

    // Health and metrics come first so a liveness probe passes while workers start.
    let router = server::router(metrics.clone(), ready.clone());
    let mut addrs: Vec<SocketAddr> = op.metrics_addr.into_iter().chain(op.health_addr).collect();
    addrs.dedup();
    for addr in addrs {
        let (bound, _task) = server::serve(addr, router.clone(), shutdown.clone())
            .await
            .map_err(|source| Error::Bind {
                addr: addr.to_string(),
                source,
            })?;
        info!(%bound, "serving /metrics, /healthz and /readyz");
    }

    let client = kube_client(&args).await?;
    let workers = handshake(&model, &plan, args.startup_timeout).await?;
    let prometheus = (!op.prometheus.url.is_empty())
        .then(|| crate::prometheus::Prometheus::new(&op.prometheus.url, op.prometheus.timeout));
    // Resources whose inputs changed come back on this channel and are re-reconciled.
    let (input_tx, mut input_rx) = tokio::sync::mpsc::unbounded_channel();
    let gatherer = crate::inputs::Gatherer::new(client.clone(), prometheus, input_tx);
    let instance = args
        .instance
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok());
    let ctx = Arc::new(Context::new(
        client.clone(),
        plan.clone(),
        workers,
        metrics.clone(),
        gatherer,
        instance.clone(),
    ));

    // With leader election on, only the leader starts the watches; the others wait here.
    let mut elector = None;
    if op.leader_election.enabled {
        let le = &op.leader_election;
        let base = instance
            .clone()
            .unwrap_or_else(|| format!("autopilot-{}", std::process::id()));
        let config = crate::leader::LeaderConfig {
            lease_name: le.lease_name_for(&plan.operator_name).to_string(),
            namespace: le.namespace.clone(),
            // Unique per process: a restarted replica must not resume its predecessor's term.
            identity: format!("{base}_{:08x}", rand::random::<u32>()),
            lease_duration: le.lease_duration,
            renew_deadline: le.renew_deadline,
            retry_period: le.retry_period,
        };
        let mut e = crate::leader::Elector::new(client.clone(), config);
        ready.set(true);
        tokio::select! {
            _ = e.acquire() => {}
            _ = shutdown.clone() => {
                info!("shut down before becoming leader");
                return Ok(());
            }
        }
        metrics.set_leader(true);
        elector = Some(e);
    }

    let namespaces: Vec<Option<String>> = if plan.namespaces.is_empty() {
        vec![None]
    } else {
        plan.namespaces.iter().cloned().map(Some).collect()
    };
    let mut loops = Vec::new();
    let mut triggers: BTreeMap<Option<String>, tokio::sync::mpsc::UnboundedSender<_>> =
        BTreeMap::new();
    let mut reconcile_all = Vec::new();
    for ns in namespaces {
        let (trigger_tx, trigger_rx) = tokio::sync::mpsc::unbounded_channel();
        let (all_tx, all_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        reconcile_all.push(all_tx);
        triggers.insert(ns.clone(), trigger_tx);
        let kind = ctx.kind().clone();
        let api: Api<Cached> = match &ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &kind),
            None => Api::all_with(client.clone(), &kind),
        };
        // The controller's cache of the resources: compact (fields as JSON text, see
        // `cached.rs`), without what the scheduler never reads (managedFields).
        let writer = Writer::<Cached>::new(kind.clone());
        let store = writer.as_reader();
        let watch = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default().any_semantic()),
        )
        .applied_objects();
        let controller = Controller::for_stream_with(watch, store, kind)
            .with_config(controller::Config::default().concurrency(plan.concurrency))
            .reconcile_on(tokio_stream::wrappers::UnboundedReceiverStream::new(
                trigger_rx,
            ))
            .reconcile_all_on(tokio_stream::wrappers::UnboundedReceiverStream::new(all_rx));
        let store = controller.store();
        let counts_metrics = metrics.clone();
        tokio::spawn(async move {
            // Resources per phase, for the `autopilot_resources` gauge.
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let mut counts: BTreeMap<String, i64> = BTreeMap::new();
                for obj in store.state() {
                    *counts.entry(obj.phase().unwrap_or_default()).or_default() += 1;
                }
                counts_metrics.set_resources(&counts);
            }
        });
        let ctx = ctx.clone();
        let stop = shutdown.clone();
        loops.push(tokio::spawn(async move {
            controller
                .graceful_shutdown_on(stop)
                .run(reconcile::reconcile, reconcile::error_policy, ctx)
                .for_each(|r| async move {
                    if let Err(e) = r {
                        match e {
                            controller::Error::ObjectNotFound(_) => {}
                            e => warn!(error = %e, "controller"),
                        }
                    }
                })
                .await;
        }));
    }
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            while let Some(key) = input_rx.recv().await {
                // The memo would hold the resource until its next interval: an input change
                // is news, so let it through.
                ctx.wake(&key);
                ctx.metrics.input_trigger();
                let to = triggers.get(&key.namespace).or_else(|| triggers.get(&None));
                if let Some(tx) = to {
                    let _ = tx.send(key);
                }
            }
        });
    }
    tokio::spawn(crate::reload::watch(
        args.clone(),
        ctx.clone(),
        model.clone(),
        reconcile_all,
    ));
    ready.set(true);
    info!(kind = %plan.resource.kind, operator = %plan.operator_name, phases = plan.phases.len(), "scheduler running");

    let lost = match elector.as_mut() {
        Some(e) => e.hold().boxed(),
        None => futures::future::pending().boxed(),
    };
    tokio::select! {
        _ = shutdown.clone() => {}
        _ = lost => {
            metrics.set_leader(false);
            error!("lost the leader lease; stopping so that only the new leader reconciles");
            return Err(Error::LostLeadership);
        }
    }
    info!(grace = %humantime::format_duration(args.shutdown_grace), "shutting down; letting in-flight reconciles finish");
    ready.set(false);
    let all = futures::future::join_all(loops);
    if tokio::time::timeout(args.shutdown_grace, all)
        .await
        .is_err()
    {
        error!("in-flight reconciles did not finish within the grace period");
    }
    if !ctx.events.flush(Duration::from_secs(5)).await {
        warn!(
            pending = ctx.events.pending(),
            "some Events were not written before shutdown"
        );
    }
    if let Some(e) = elector.as_mut() {
        e.release().await;
    }
    telemetry::shutdown_tracing();
    Ok(())
}
