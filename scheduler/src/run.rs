//! Start-up, the watch loops, and shutdown: what the `autopilot-scheduler` binary does.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
use crate::reconcile::{self, Context};
use crate::server::{self, Readiness};
use crate::startup::{handshake, load_model};
use crate::tasks::{Tasks, until_shutdown};
use crate::telemetry::{self, LogFormat};

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

    let mut tasks = Tasks::default();

    // Health and metrics come first so a liveness probe passes while workers start.
    let router = server::router(metrics.clone(), ready.clone());
    let mut addrs: Vec<SocketAddr> = op.metrics_addr.into_iter().chain(op.health_addr).collect();
    addrs.dedup();
    for addr in addrs {
        let (bound, server) = server::serve(addr, router.clone(), shutdown.clone())
            .await
            .map_err(|source| Error::Bind {
                addr: addr.to_string(),
                source,
            })?;
        info!(%bound, "serving /metrics, /healthz and /readyz");
        tasks.background(format!("http-server {bound}"), async move {
            if let Ok(Err(e)) = server.await {
                warn!(error = %e, "the HTTP server stopped");
            }
        });
    }

    let client = kube_client(&args).await?;
    let workers = handshake(&model, &plan, args.startup_timeout).await?;
    let prometheus = (!op.prometheus.url.is_empty())
        .then(|| crate::prometheus::Prometheus::new(&op.prometheus.url, op.prometheus.timeout));
    if model.project.uses_metrics() {
        if model.operator.prometheus_url_is_default() {
            info!(
                url = %op.prometheus.url,
                "metric queries go to the default Prometheus (no prometheus.url in autopilot-operator.yaml)"
            );
        } else {
            info!(url = %op.prometheus.url, "metric queries go to prometheus.url");
        }
    }
    // Resources whose inputs changed come back on this channel and are re-reconciled.
    let (input_tx, mut input_rx) = tokio::sync::mpsc::unbounded_channel();
    let gatherer = crate::inputs::Gatherer::new(client.clone(), prometheus, input_tx);
    gatherer.set_jaeger(
        (!op.jaeger.url.is_empty())
            .then(|| crate::traces::Jaeger::new(&op.jaeger.url, op.jaeger.timeout)),
    );
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

    // External events: every replica receives them (they are stored in the cluster); the
    // leader's reconcilers take the wakes.
    let (wake_tx, mut wake_rx) = tokio::sync::mpsc::channel(crate::inbox::WAKE_QUEUE);
    let inbox = crate::inbox::Start {
        client: client.clone(),
        wake: wake_tx,
        metrics: metrics.clone(),
        events: ctx.events.clone(),
        resource: plan.resource.clone(),
    };
    crate::inbox::serve(&model, inbox.clone(), shutdown.clone())
        .await
        .map_err(|e| Error::InvalidProject(e.to_string()))?;

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
    let mut triggers: BTreeMap<Option<String>, tokio::sync::mpsc::UnboundedSender<_>> =
        BTreeMap::new();
    let mut reconcile_all = Vec::new();
    // One limit for every namespace's controller, served first-due first-served.
    let admission = crate::admission::Admission::new(plan.concurrency);
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
        // Without it a watch the API server does not answer is retried in a tight loop.
        .default_backoff()
        .applied_objects();
        let controller = Controller::for_stream_with(watch, store, kind)
            // Unbounded here: `admission` bounds reconciles, fairly (see admission.rs).
            .with_config(controller::Config::default())
            .reconcile_on(tokio_stream::wrappers::UnboundedReceiverStream::new(
                trigger_rx,
            ))
            .reconcile_all_on(tokio_stream::wrappers::UnboundedReceiverStream::new(all_rx));
        let store = controller.store();
        let counts_metrics = metrics.clone();
        let what = ns.as_deref().unwrap_or("all namespaces");
        // Resources per phase, for the `autopilot_resources` gauge.
        let gauge = async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let mut counts: BTreeMap<String, i64> = BTreeMap::new();
                for obj in store.state() {
                    *counts.entry(obj.phase().unwrap_or_default()).or_default() += 1;
                }
                counts_metrics.set_resources(&counts);
            }
        };
        tasks.background(
            format!("phase-gauge {what}"),
            until_shutdown(shutdown.clone(), gauge),
        );
        let ctx = ctx.clone();
        let stop = shutdown.clone();
        let admission = admission.clone();
        let admitted = move |obj: Arc<Cached>, ctx: Arc<Context>| {
            let admission = admission.clone();
            async move {
                // Not admitted: shutting down; the next leader or start runs it.
                let skipped = Ok(controller::Action::await_change());
                admission
                    .run(|| reconcile::reconcile(obj, ctx))
                    .await
                    .unwrap_or(skipped)
            }
        };
        // Ends by itself on shutdown, once its in-flight reconciles finished.
        tasks.critical(format!("controller {what}"), async move {
            controller
                .graceful_shutdown_on(stop)
                .run(admitted, reconcile::error_policy, ctx)
                .for_each(|r| async move {
                    if let Err(e) = r {
                        match e {
                            controller::Error::ObjectNotFound(_) => {}
                            e if crate::api_failure::part_of_outage(&e) => {}
                            // A stale copy: the error policy retries it at once.
                            controller::Error::ReconcilerFailed(
                                reconcile::ReconcileError::StatusWriteFailed(kube::Error::Api(s)),
                                _,
                            ) if s.code == 409 => {}
                            e => warn!(error = %e, "controller"),
                        }
                    }
                })
                .await;
        });
    }
    crate::inbox::spawn_retention(&model, inbox);
    let woken = {
        let ctx = ctx.clone();
        let triggers = triggers.clone();
        async move {
            while let Some(woken) = wake_rx.recv().await {
                // An event was stored for it: news, like an input change.
                let key = crate::cached::Key::new_with(&woken.name, ctx.kind().clone())
                    .within(&woken.namespace);
                ctx.wake(&key);
                let to = triggers.get(&key.namespace).or_else(|| triggers.get(&None));
                if let Some(tx) = to {
                    let _ = tx.send(key);
                }
            }
            // Every sender is gone: the project declares no events, so no receiver serves.
            // Nothing more will come, which is no failure: wait for the shutdown.
            std::future::pending::<()>().await;
        }
    };
    tasks.critical("event-wakes", until_shutdown(shutdown.clone(), woken));
    let unserved = {
        let ctx = ctx.clone();
        let triggers = triggers.clone();
        crate::unserved::recheck(ctx.unserved.clone(), client.clone(), move |key| {
            // The kind it waited for is served now: run it without waiting for its backoff.
            ctx.wake(&key);
            let to = triggers.get(&key.namespace).or_else(|| triggers.get(&None));
            if let Some(tx) = to {
                let _ = tx.send(key);
            }
        })
    };
    tasks.background(
        "unserved-kinds-recheck",
        until_shutdown(shutdown.clone(), unserved),
    );
    let retrigger = {
        let ctx = ctx.clone();
        async move {
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
        }
    };
    tasks.critical(
        "input-retrigger",
        until_shutdown(shutdown.clone(), retrigger),
    );
    let reload = crate::reload::watch(args.clone(), ctx.clone(), model.clone(), reconcile_all);
    tasks.critical("config-reload", until_shutdown(shutdown.clone(), reload));
    if let Some(writer) = ctx.events.writer_task() {
        // Outlives the shutdown signal: the Events still queued are flushed below.
        let ended = async move {
            let _ = writer.await;
        };
        tasks.critical("event-writer", until_shutdown(shutdown.clone(), ended));
    }
    ready.set(true);
    info!(kind = %plan.resource.kind, operator = %plan.operator_name, phases = plan.phases.len(), "scheduler running");

    let lost = match elector.as_mut() {
        Some(e) => e.hold().boxed(),
        None => futures::future::pending().boxed(),
    };
    let lost_lease = tokio::select! {
        // Shutdown first: critical tasks end with it too, and that is no failure.
        biased;
        _ = shutdown.clone() => false,
        _ = lost => true,
        ended = tasks.ended() => return Err(ended),
    };
    if lost_lease {
        metrics.set_leader(false);
        // Stop the controllers before the runtime goes: a controller still running when the
        // runtime shuts down polls reconcile tasks the shutdown cancelled, and kube-runtime
        // panics on that (seen in the chaos soak).
        admission.close();
        tasks.abort_all();
        error!("lost the leader lease; stopping so that only the new leader reconciles");
        return Err(Error::LostLeadership);
    }
    info!(grace = %humantime::format_duration(args.shutdown_grace), "shutting down; letting in-flight reconciles finish");
    admission.close();
    ready.set(false);
    if !tasks.shutdown(args.shutdown_grace).await {
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
