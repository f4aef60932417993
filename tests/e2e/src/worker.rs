//! A scriptable test worker over real gRPC (tonic), implementing `autopilot.worker.v1` directly
//! from the generated code. Each Task's `spec.behavior` picks what its Initializing phase does.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use autopilot_proto::v1::*;
use serde_json::{Value, json};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// One call the worker received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `Sync:<phase>` or `Finalize`.
    pub method: String,
    /// `meta.attempt`.
    pub attempt: u32,
    /// The `traceparent` metadata, if sent.
    pub traceparent: Option<String>,
    /// Keys of the object inputs received.
    pub inputs: Vec<String>,
    /// When the call arrived.
    pub at: std::time::Instant,
}

/// The shared record of calls, by `namespace/name`.
pub type Journal = Arc<Mutex<HashMap<String, Vec<Call>>>>;

/// The scriptable worker.
#[derive(Debug, Clone, Default)]
pub struct ScriptedWorker {
    /// Every call received.
    pub journal: Journal,
    /// Every Sync request received in full (objects and metrics), by `namespace/name`.
    pub requests: Arc<Mutex<HashMap<String, Vec<SyncRequest>>>>,
    /// Lets resources of behaviour `hold` move on from Initializing once set.
    pub released: Arc<std::sync::atomic::AtomicBool>,
}

fn key_of(resource: &Value) -> String {
    format!(
        "{}/{}",
        resource["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default(),
        resource["metadata"]["name"].as_str().unwrap_or_default()
    )
}

#[tonic::async_trait]
impl WorkerService for ScriptedWorker {
    async fn describe(
        &self,
        _: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse {
            protocol_version: autopilot_proto::PROTOCOL_VERSION.into(),
            worker_name: "scripted".into(),
            worker_version: "0.0.0".into(),
            phases: vec!["Initializing".into(), "Processing".into()],
            finalize: true,
            capabilities: vec!["traceparent".into()],
        }))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let req = request.into_inner();
        let resource: Value = serde_json::from_slice(&req.resource)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let meta = req.meta.clone().unwrap_or_default();
        self.requests
            .lock()
            .unwrap()
            .entry(key_of(&resource))
            .or_default()
            .push(req.clone());
        let mut inputs: Vec<String> = req.objects.keys().cloned().collect();
        inputs.sort();
        self.journal
            .lock()
            .unwrap()
            .entry(key_of(&resource))
            .or_default()
            .push(Call {
                method: format!("Sync:{}", req.phase),
                attempt: meta.attempt,
                traceparent,
                inputs,
                at: std::time::Instant::now(),
            });
        let name = resource["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let behavior = resource["spec"]["behavior"]
            .as_str()
            .unwrap_or("ok")
            .to_string();
        let config_map = |data: Value| {
            serde_json::to_vec(&json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("{name}-config")},
                "data": data,
            }))
            .unwrap()
        };
        match req.phase.as_str() {
            "Initializing" => {
                match behavior.as_str() {
                    "unavailable-twice" if meta.attempt <= 2 => {
                        return Err(Status::unavailable(format!(
                            "warming up (attempt {})",
                            meta.attempt
                        )));
                    }
                    "invalid" => {
                        return Err(Status::invalid_argument("spec.behavior says invalid"));
                    }
                    "invalid-until-retried"
                        if resource["metadata"]["annotations"]["autopilot.dev/retry"].is_null() =>
                    {
                        return Err(Status::invalid_argument(
                            "spec.behavior says invalid until someone runs ap retry",
                        ));
                    }
                    "slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    "slow-3s" => {
                        // Long enough to kill the worker in the middle of the call.
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    "poll" => {
                        // Stays in Initializing, asking to be called again soon: the short
                        // requeue of a phase that polls.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        return Ok(Response::new(SyncResponse {
                            requeue_after_ms: 300,
                            ..Default::default()
                        }));
                    }
                    "linger" => {
                        // Long enough to be in flight when the scheduler is told to stop.
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                    }
                    "undeclared" => {
                        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{name}-secret")}});
                        return Ok(Response::new(SyncResponse {
                            next_phase: "Processing".into(),
                            outputs: vec![
                                config_map(json!({"a": "b"})),
                                serde_json::to_vec(&secret).unwrap(),
                            ],
                            ..Default::default()
                        }));
                    }
                    "garbage" => {
                        return Ok(Response::new(SyncResponse {
                            next_phase: "Processing".into(),
                            outputs: vec![b"{not json".to_vec()],
                            ..Default::default()
                        }));
                    }
                    "hold" if !self.released.load(std::sync::atomic::Ordering::SeqCst) => {
                        // Applies its ConfigMap on every call and asks to be called again
                        // soon, until the test releases it: a phase that keeps writing.
                        return Ok(Response::new(SyncResponse {
                            outputs: vec![config_map(json!({"held": "true"}))],
                            requeue_after_ms: 200,
                            ..Default::default()
                        }));
                    }
                    "virtualservice" => {
                        // An output of a kind whose CRD the test installs later.
                        let vs = json!({
                            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                            "metadata": {"name": name.clone()},
                            "spec": {"hosts": [name.clone()], "http": [{"route": [{"destination": {"host": name.clone()}}]}]},
                        });
                        return Ok(Response::new(SyncResponse {
                            next_phase: "Processing".into(),
                            outputs: vec![
                                config_map(json!({"routed": "true"})),
                                serde_json::to_vec(&vs).unwrap(),
                            ],
                            ..Default::default()
                        }));
                    }
                    "stay" => {
                        // Stays in Initializing: runs again at the work interval, or sooner
                        // when an input changes.
                        return Ok(Response::new(SyncResponse::default()));
                    }
                    "bad-next" => {
                        return Ok(Response::new(SyncResponse {
                            next_phase: "Nowhere".into(),
                            ..Default::default()
                        }));
                    }
                    _ => {}
                }
                let message = resource["spec"]["message"].clone();
                Ok(Response::new(SyncResponse {
                    next_phase: "Processing".into(),
                    outputs: vec![config_map(json!({"message": message}))],
                    status_info: serde_json::to_vec(&json!({"initialized": true})).unwrap(),
                    events: vec![Event {
                        severity: event::Severity::Normal as i32,
                        reason: "Initialized".into(),
                        message: format!("created {name}-config"),
                    }],
                    ..Default::default()
                }))
            }
            "Processing" => {
                let seen = req
                    .objects
                    .get("configmaps")
                    .map(|l| l.items.len())
                    .unwrap_or_default();
                // "replace" returns a differently named object; Processing prunes, so the
                // ConfigMap from Initializing must go.
                let output = if behavior == "replace" {
                    serde_json::to_vec(&json!({
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("{name}-replacement")},
                        "data": {"processed": "true"},
                    }))
                    .unwrap()
                } else {
                    config_map(json!({"message": resource["spec"]["message"], "processed": "true"}))
                };
                Ok(Response::new(SyncResponse {
                    next_phase: "Finished".into(),
                    outputs: vec![output],
                    status_info: serde_json::to_vec(
                        &json!({"initialized": true, "processed": true, "configMapsSeen": seen}),
                    )
                    .unwrap(),
                    conditions: vec![Condition {
                        r#type: "Healthy".into(),
                        status: "True".into(),
                        reason: "Processed".into(),
                        message: format!("saw {seen} config maps"),
                    }],
                    ..Default::default()
                }))
            }
            other => Err(Status::invalid_argument(format!(
                "phase {other} is not served"
            ))),
        }
    }

    async fn finalize(
        &self,
        request: Request<FinalizeRequest>,
    ) -> Result<Response<FinalizeResponse>, Status> {
        let req = request.into_inner();
        let resource: Value = serde_json::from_slice(&req.resource)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let key = key_of(&resource);
        let calls = {
            let mut j = self.journal.lock().unwrap();
            let entry = j.entry(key).or_default();
            entry.push(Call {
                method: "Finalize".into(),
                attempt: req.meta.map(|m| m.attempt).unwrap_or_default(),
                traceparent: None,
                inputs: vec![],
                at: std::time::Instant::now(),
            });
            entry.iter().filter(|c| c.method == "Finalize").count()
        };
        Ok(Response::new(FinalizeResponse {
            done: calls >= 2,
            events: vec![],
            requeue_after_ms: 200,
        }))
    }
}

impl ScriptedWorker {
    /// Serves the worker on a free loopback port; returns its `http://` endpoint. The server
    /// runs until the test's runtime ends.
    pub async fn serve(&self) -> (String, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the test worker");
        let addr = listener.local_addr().unwrap();
        let svc = WorkerServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        (format!("http://{addr}"), addr)
    }

    /// Serves the worker on a unix socket at `path`; returns its `unix:` endpoint.
    pub async fn serve_unix(&self, path: &std::path::Path) -> String {
        let listener =
            tokio::net::UnixListener::bind(path).expect("binding the test worker's socket");
        let svc = WorkerServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
        );
        format!("unix:{}", path.display())
    }

    /// Serves the worker over TLS with the given PEM certificate and key; returns its
    /// `https://localhost:<port>` endpoint.
    pub async fn serve_tls(&self, cert_pem: &str, key_pem: &str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the TLS test worker");
        let port = listener.local_addr().unwrap().port();
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem));
        let server = tonic::transport::Server::builder()
            .tls_config(tls)
            .expect("TLS config")
            .add_service(WorkerServiceServer::new(self.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener));
        tokio::spawn(server);
        format!("https://localhost:{port}")
    }

    /// The calls received for `namespace/name`.
    pub fn calls(&self, key: &str) -> Vec<Call> {
        self.journal
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// The Sync requests received for `namespace/name`, in order.
    pub fn requests(&self, key: &str) -> Vec<SyncRequest> {
        self.requests
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// The Sync phases called for `namespace/name`, in order, without repeats.
    pub fn phases(&self, key: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.calls(key) {
            if let Some(p) = c.method.strip_prefix("Sync:")
                && out.last().map(String::as_str) != Some(p)
            {
                out.push(p.to_string());
            }
        }
        out
    }
}
