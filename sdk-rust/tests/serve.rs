//! A worker served in-process and called through the generated tonic client: over TCP, a unix
//! socket and mutual TLS, with the health service and graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use autopilot_proto::v1::{self as pb, worker_service_client::WorkerServiceClient};
use autopilot_sdk::serve::{Address, Config, Tls};
use autopilot_sdk::{Context, Finalized, MetricValue, Outcome, Worker, WorkerError, outputs};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Every wait in these tests is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(20);

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
struct Spec {
    target: String,
    #[serde(default)]
    threshold: f64,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
struct Info {
    weight: u32,
}

/// Reads every kind of input and returns every kind of output.
async fn analyzing(ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
    let deployments = ctx.objects::<Deployment>("deployments")?;
    let primary = deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(ctx.spec().target.as_str()))
        .ok_or_else(|| WorkerError::permanent("no target Deployment"))?;
    let latency = ctx.metric("latency")?.value()?;
    let success = ctx.metric("success-rate")?.value()?;
    let weight = ctx.status_info().map_or(0, |i| i.weight) + 10;
    Ok(Outcome::stay()
        .output(
            outputs::deployment(format!("{}-canary", ctx.spec().target))
                .template_from(primary)
                .selector_label("track", "canary"),
        )?
        .output(outputs::virtual_service(&ctx.spec().target).route([
            (ctx.spec().target.as_str(), Some("stable"), 80, 100 - weight),
            (ctx.spec().target.as_str(), Some("canary"), 80, weight),
        ]))?
        .status(Info { weight })
        .condition(
            "Analyzed",
            latency == MetricValue::NoData && success == MetricValue::NaN,
            "NoTraffic",
            format!("latency {latency:?}, success {success:?}"),
        )
        .event_normal(
            "WeightShifted",
            format!(
                "attempt {} of {}/{} traceparent {}",
                ctx.attempt(),
                ctx.namespace().unwrap_or_default(),
                ctx.name(),
                ctx.traceparent().unwrap_or("none"),
            ),
        )
        .event_warning("NoTraffic", "no samples yet")
        .requeue_after(Duration::from_millis(1500)))
}

async fn broken(_ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
    panic!("handler bug")
}

fn worker() -> Worker<Spec, Info> {
    Worker::new("test-worker")
        .version("1.2.3")
        .phase("Analyzing", analyzing)
        .phase("Busy", |_ctx| async {
            Err(WorkerError::retryable("backend warming up")
                .with_retry_after(Duration::from_millis(2500)))
        })
        .phase("Broken", broken)
        .phase("Slow", |_ctx| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(Outcome::next("Done"))
        })
        .finalize(|ctx: Context<Spec, Info>| async move {
            Ok(if ctx.attempt() < 2 {
                Finalized::not_yet()
                    .requeue_after(Duration::from_secs(1))
                    .event_normal("Draining", "waiting")
            } else {
                Finalized::done()
            })
        })
}

/// A worker serving in the background until `stop` is sent.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), autopilot_sdk::serve::ServeError>>,
}

impl Running {
    async fn start(config: Config) -> anyhow::Result<(Self, Option<std::net::SocketAddr>)> {
        let bound = worker().bind(config).await?;
        let addr = bound.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        Ok((Self { stop, task }, addr))
    }

    async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        bounded("the server to stop", self.task).await???;
        Ok(())
    }
}

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .with_context(|| format!("timed out after {TIMEOUT:?} waiting for {what}"))
}

fn sync_request(phase: &str, spec: Value) -> pb::SyncRequest {
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1.0"}]},
            },
        },
    });
    pb::SyncRequest {
        phase: phase.into(),
        resource: serde_json::to_vec(&json!({
            "apiVersion": "example.com/v1", "kind": "Canary",
            "metadata": {"name": "web-rollout", "namespace": "shop", "generation": 2},
            "spec": spec,
            "status": {"phase": phase, "statusInfo": {"weight": 10}},
        }))
        .unwrap(),
        objects: HashMap::from([(
            "deployments".to_owned(),
            pb::ObjectList {
                items: vec![serde_json::to_vec(&deployment).unwrap()],
                error: String::new(),
            },
        )]),
        metrics: HashMap::from([
            (
                "latency".to_owned(),
                pb::MetricResult {
                    query: "histogram_quantile(0.99, ...)".into(),
                    r#type: pb::metric_result::ResultType::Vector.into(),
                    no_data: true,
                    ..Default::default()
                },
            ),
            (
                "success-rate".to_owned(),
                pb::MetricResult {
                    query: "sum(rate(ok[1m])) / sum(rate(all[1m]))".into(),
                    r#type: pb::metric_result::ResultType::Scalar.into(),
                    series: vec![pb::Series {
                        labels: HashMap::new(),
                        samples: vec![pb::Sample {
                            timestamp_ms: 1_700_000_000_000,
                            value: f64::NAN,
                            is_nan: true,
                        }],
                    }],
                    ..Default::default()
                },
            ),
        ]),
        meta: Some(pb::RequestMeta {
            attempt: 3,
            tag: "tag".into(),
            deadline_unix_ms: 0,
            generation: 2,
            operator_name: "canary".into(),
        }),
        ..Default::default()
    }
}

fn with_traceparent<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    request
}

async fn assert_healthy(channel: Channel) -> anyhow::Result<()> {
    let mut health = HealthClient::new(channel);
    for service in ["", "autopilot.worker.v1.WorkerService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await?
            .into_inner();
        assert_eq!(
            response.status(),
            ServingStatus::Serving,
            "service {service:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn serves_the_contract_over_tcp() -> anyhow::Result<()> {
    let (running, addr) = Running::start(Config::new("127.0.0.1:0")).await?;
    let addr = addr.context("a TCP worker has a local address")?;
    let channel = bounded(
        "the worker to accept a connection",
        Endpoint::from_shared(format!("http://{addr}"))?.connect(),
    )
    .await??;
    let mut client = WorkerServiceClient::new(channel.clone());

    // Describe.
    let described = client
        .describe(pb::DescribeRequest {
            protocol_version: "v1".into(),
            scheduler_version: "test".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        described.protocol_version,
        autopilot_proto::PROTOCOL_VERSION
    );
    assert_eq!(described.worker_name, "test-worker");
    assert_eq!(described.worker_version, "1.2.3");
    assert_eq!(described.phases, ["Analyzing", "Busy", "Broken", "Slow"]);
    assert!(described.finalize);
    assert_eq!(described.capabilities, ["traceparent"]);

    // Sync: typed spec, objects, metrics with no data and NaN, every kind of output.
    let response = client
        .sync(with_traceparent(sync_request(
            "Analyzing",
            json!({"target": "web", "threshold": 0.99}),
        )))
        .await?
        .into_inner();
    assert_eq!(response.next_phase, "");
    assert_eq!(response.requeue_after_ms, 1500);
    let outputs: Vec<Value> = response
        .outputs
        .iter()
        .map(|o| serde_json::from_slice(o))
        .collect::<Result<_, _>>()?;
    assert_eq!(outputs[0]["kind"], "Deployment");
    assert_eq!(outputs[0]["metadata"]["name"], "web-canary");
    assert_eq!(
        outputs[0]["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1.0"
    );
    assert_eq!(outputs[1]["kind"], "VirtualService");
    assert_eq!(outputs[1]["spec"]["http"][0]["route"][1]["weight"], 20);
    let info: Info = serde_json::from_slice(&response.status_info)?;
    assert_eq!(info, Info { weight: 20 });
    assert_eq!(response.conditions.len(), 1);
    assert_eq!(response.conditions[0].r#type, "Analyzed");
    assert_eq!(response.conditions[0].status, "True");
    assert_eq!(response.events.len(), 2);
    assert_eq!(response.events[0].severity(), pb::event::Severity::Normal);
    assert_eq!(
        response.events[0].message,
        format!("attempt 3 of shop/web-rollout traceparent {TRACEPARENT}")
    );
    assert_eq!(response.events[1].severity(), pb::event::Severity::Warning);

    // Error mapping: unknown phase, a spec of the wrong shape, a retryable error with a hint,
    // a panicking handler (which must not take the server down).
    let status = client
        .sync(sync_request("Nope", json!({"target": "web"})))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("unknown phase \"Nope\""),
        "{status:?}"
    );

    let status = client
        .sync(sync_request("Analyzing", json!({"target": ["web"]})))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("spec.target: invalid type"),
        "{status:?}"
    );

    let status = client
        .sync(sync_request("Busy", json!({"target": "web"})))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "backend warming up");
    assert_eq!(
        autopilot_proto::retry_after(&status),
        Some(Duration::from_millis(2500))
    );

    let status = client
        .sync(sync_request("Broken", json!({"target": "web"})))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(status.message().contains("handler bug"), "{status:?}");

    // Finalize: not yet, then done.
    let finalize = |attempt| pb::FinalizeRequest {
        resource:
            br#"{"metadata":{"name":"web-rollout","namespace":"shop"},"spec":{"target":"web"}}"#
                .to_vec(),
        meta: Some(pb::RequestMeta {
            attempt,
            ..Default::default()
        }),
    };
    let first = client.finalize(finalize(1)).await?.into_inner();
    assert!(!first.done);
    assert_eq!(first.requeue_after_ms, 1000);
    assert_eq!(first.events[0].reason, "Draining");
    assert!(client.finalize(finalize(2)).await?.into_inner().done);

    assert_healthy(channel).await?;
    running.shutdown().await
}

#[tokio::test]
async fn lets_calls_in_flight_finish_on_shutdown() -> anyhow::Result<()> {
    let (running, addr) = Running::start(Config::new("127.0.0.1:0")).await?;
    let addr = addr.context("a TCP worker has a local address")?;
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = WorkerServiceClient::new(channel);
    let call = tokio::spawn(async move {
        client
            .sync(sync_request("Slow", json!({"target": "web"})))
            .await
    });
    // Let the call reach the handler (it sleeps 500 ms) before shutting down.
    tokio::time::sleep(Duration::from_millis(150)).await;
    running.shutdown().await?;
    let response = bounded("the slow call", call).await???.into_inner();
    assert_eq!(response.next_phase, "Done");
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn serves_on_a_unix_socket() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("worker.sock");
    // A socket file left by a previous run must not stop the worker from binding.
    drop(std::os::unix::net::UnixListener::bind(&path)?);
    assert!(path.exists());

    let (running, addr) = Running::start(Config::new(Address::Unix(path.clone()))).await?;
    assert_eq!(addr, None);
    let channel = bounded(
        "the worker to accept a connection",
        Endpoint::from_shared(format!("unix:{}", path.display()))?.connect(),
    )
    .await??;
    let described = WorkerServiceClient::new(channel.clone())
        .describe(pb::DescribeRequest::default())
        .await?
        .into_inner();
    assert_eq!(described.worker_name, "test-worker");
    assert_healthy(channel).await?;

    running.shutdown().await?;
    assert!(!path.exists(), "the socket file is removed on shutdown");
    Ok(())
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

#[tokio::test]
async fn serves_mutual_tls() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let tls =
        Tls::new(dir.join("server.crt"), dir.join("server.key")).client_ca(dir.join("ca.crt"));
    let (running, addr) = Running::start(Config::new("127.0.0.1:0").tls(tls)).await?;
    let addr = addr.context("a TCP worker has a local address")?;
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))?;
    let server_trust = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(fixture("ca.crt")))
        .domain_name("localhost");

    let channel = bounded(
        "a TLS connection with a client certificate",
        endpoint
            .clone()
            .tls_config(server_trust.clone().identity(Identity::from_pem(
                fixture("client.crt"),
                fixture("client.key"),
            )))?
            .connect(),
    )
    .await??;
    let described = WorkerServiceClient::new(channel.clone())
        .describe(pb::DescribeRequest::default())
        .await?
        .into_inner();
    assert_eq!(described.worker_name, "test-worker");
    assert_healthy(channel).await?;

    // Without a client certificate the handshake (or the first call) fails.
    let anonymous = bounded("a TLS connection without a client certificate", async {
        let channel = endpoint.tls_config(server_trust)?.connect().await?;
        WorkerServiceClient::new(channel)
            .describe(pb::DescribeRequest::default())
            .await?;
        anyhow::Ok(())
    })
    .await?;
    assert!(
        anonymous.is_err(),
        "a client without a certificate was served"
    );

    running.shutdown().await
}
