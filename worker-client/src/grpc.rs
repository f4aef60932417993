//! [`GrpcWorker`]: the [`Worker`] over `autopilot.worker.v1` — plain HTTP/2, TLS, or a unix
//! socket, with calls balanced over every address of a worker.
use std::time::Duration;

use autopilot_proto::v1 as pb;
use autopilot_proto::v1::worker_service_client::WorkerServiceClient;
use futures::future::BoxFuture;
use tonic::transport::{Channel, Endpoint};

use crate::reply::RawReply;
use crate::request::Request;
use crate::wire;
use crate::worker::{CallError, CallMeta, Description, FinalizeReply, Worker};

/// A worker endpoint that cannot be used (not retryable: fix the configuration).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("worker endpoint {endpoint}: {reason}")]
pub struct EndpointError {
    /// The endpoint.
    pub endpoint: String,
    /// What is wrong with it.
    pub reason: String,
}

/// TLS settings for `https://` endpoints.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// CA bundle that signed the worker's certificate (PEM); empty = the system roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Client certificate for mutual TLS (PEM).
    pub cert_file: Option<std::path::PathBuf>,
    /// Client key for mutual TLS (PEM).
    pub key_file: Option<std::path::PathBuf>,
    /// Server name to verify, when it differs from the endpoint's host.
    pub server_name: Option<String>,
}

impl From<&autopilot_model::operator::Tls> for TlsFiles {
    fn from(t: &autopilot_model::operator::Tls) -> Self {
        TlsFiles {
            ca_file: t.ca_file.clone(),
            cert_file: t.cert_file.clone(),
            key_file: t.key_file.clone(),
            server_name: t.server_name.clone(),
        }
    }
}

/// A worker reached over gRPC.
#[derive(Debug, Clone)]
pub struct GrpcWorker {
    endpoint: String,
    client: WorkerServiceClient<Channel>,
    /// The same channel for Sync, whose request is encoded by `wire.rs`.
    grpc: tonic::client::Grpc<Channel>,
}

/// Connection timeout for workers: a sidecar on loopback connects in microseconds, a remote
/// worker in milliseconds; anything slower is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the addresses of a worker host name are looked up again, so that calls follow the
/// pods behind a headless Service as they come and go: a new pod takes calls within this time.
const RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
/// Room for address changes between the resolver task and the balancer.
const BALANCE_CHANGES: usize = 64;

impl GrpcWorker {
    /// Prepares a lazily connecting client for `endpoint`: `http://host:port`,
    /// `https://host:port`, `unix:/path` or `unix:///path`.
    ///
    /// Calls are balanced over several addresses when there are several:
    /// - a host name (not an IP address) is looked up now and every [`RESOLVE_INTERVAL`], and
    ///   calls go to every address it resolves to, such as the pods behind a headless Service
    ///   (TLS still verifies the host name);
    /// - `http://ADDR1:PORT1,ADDR2:PORT2` (a comma-separated list of `host:port`) names the
    ///   addresses directly.
    ///
    /// # Errors
    /// [`EndpointError`] when the endpoint or its TLS files are invalid.
    pub fn new(
        endpoint: &str,
        max_message_bytes: usize,
        tls: Option<&TlsFiles>,
    ) -> Result<Self, EndpointError> {
        let bad = |reason: String| EndpointError {
            endpoint: endpoint.to_string(),
            reason,
        };
        let channel = if let Some(path) = endpoint.strip_prefix("unix:") {
            let path = path.trim_start_matches("//").to_string();
            if path.is_empty() {
                return Err(bad("empty socket path".into()));
            }
            // The URI is ignored by the connector; tonic needs a syntactically valid one.
            Endpoint::from_static("http://worker.sock")
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .connect_with_connector_lazy(tower::service_fn(move |_: tonic::transport::Uri| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(path).await?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                    }
                }))
        } else if let Some((scheme, rest)) = endpoint
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let files_tls = tls;
            let tls = if scheme == "https" {
                Some(client_tls(tls).map_err(bad)?)
            } else {
                None
            };
            let authorities: Vec<&str> = authority.split(',').collect();
            let build = |authority: &str, tls: Option<tonic::transport::ClientTlsConfig>| {
                worker_endpoint(&format!("{scheme}://{authority}{path}"), tls)
                    .map_err(|e| bad(e.to_string()))
            };
            if authorities.len() > 1 {
                let endpoints = authorities
                    .iter()
                    .map(|a| build(a, tls.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                Channel::balance_list(endpoints.into_iter())
            } else {
                let single = build(authority, tls.clone())?;
                let host = single.uri().host().unwrap_or_default().to_owned();
                let port = single.uri().port_u16().unwrap_or(match scheme {
                    "https" => 443,
                    _ => 80,
                });
                if host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok()
                {
                    single.connect_lazy()
                } else {
                    // TLS verifies the name, though the connections go to the addresses.
                    let named = files_tls.and_then(|f| f.server_name.as_ref()).is_some();
                    let tls = tls.map(|t| {
                        if named {
                            t
                        } else {
                            t.domain_name(host.clone())
                        }
                    });
                    let (channel, changes) = Channel::balance_channel(BALANCE_CHANGES);
                    let template = EndpointTemplate {
                        scheme: scheme.to_owned(),
                        path: path.to_owned(),
                        tls,
                    };
                    tokio::spawn(follow_addresses(host, port, template, changes));
                    channel
                }
            }
        } else {
            return Err(bad("must start with http://, https:// or unix:".into()));
        };
        let client = WorkerServiceClient::new(channel.clone())
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes);
        let grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes);
        Ok(GrpcWorker {
            endpoint: endpoint.to_string(),
            client,
            grpc,
        })
    }
}

/// An endpoint with the settings every worker connection uses.
fn worker_endpoint(
    uri: &str,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Result<Endpoint, tonic::transport::Error> {
    let mut ep = Endpoint::from_shared(uri.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    if let Some(tls) = tls {
        ep = ep.tls_config(tls)?;
    }
    Ok(ep)
}

/// What every address of a resolved worker host is connected with.
struct EndpointTemplate {
    scheme: String,
    path: String,
    tls: Option<tonic::transport::ClientTlsConfig>,
}

/// Keeps the balancer's endpoints equal to the addresses `host` resolves to, looking them up
/// every [`RESOLVE_INTERVAL`]; ends when the channel is dropped. A failed lookup keeps the
/// addresses of the last one (a DNS hiccup should not take a working worker away).
async fn follow_addresses(
    host: String,
    port: u16,
    template: EndpointTemplate,
    changes: tokio::sync::mpsc::Sender<
        tonic::transport::channel::Change<std::net::SocketAddr, Endpoint>,
    >,
) {
    use tonic::transport::channel::Change;
    let mut current = std::collections::BTreeSet::new();
    loop {
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(found) => {
                let found: std::collections::BTreeSet<std::net::SocketAddr> = found.collect();
                for gone in current.difference(&found) {
                    if changes.send(Change::Remove(*gone)).await.is_err() {
                        return;
                    }
                }
                for new in found.difference(&current) {
                    let uri = format!("{}://{new}{}", template.scheme, template.path);
                    match worker_endpoint(&uri, template.tls.clone()) {
                        Ok(ep) => {
                            if changes.send(Change::Insert(*new, ep)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%host, address = %new, error = %e, "worker address left out")
                        }
                    }
                }
                current = found;
            }
            Err(e) => {
                tracing::warn!(%host, error = %e, "looking up the worker's addresses failed; keeping the last ones")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(RESOLVE_INTERVAL) => {}
            () = changes.closed() => return,
        }
    }
}

fn client_tls(files: Option<&TlsFiles>) -> Result<tonic::transport::ClientTlsConfig, String> {
    let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
    let Some(files) = files else { return Ok(tls) };
    let read =
        |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    if let Some(ca) = &files.ca_file {
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
    }
    if let (Some(cert), Some(key)) = (&files.cert_file, &files.key_file) {
        tls = tls.identity(tonic::transport::Identity::from_pem(
            read(cert)?,
            read(key)?,
        ));
    }
    if let Some(name) = &files.server_name {
        tls = tls.domain_name(name.clone());
    }
    Ok(tls)
}

fn with_deadline<T>(msg: T, deadline: Duration, traceparent: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(deadline);
    if let Some(tp) = traceparent.and_then(|t| t.parse().ok()) {
        req.metadata_mut().insert("traceparent", tp);
    }
    req
}

async fn bounded<T>(
    deadline: Duration,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, CallError> {
    let started = std::time::Instant::now();
    match tokio::time::timeout(deadline, fut).await {
        Err(_) => Err(CallError::deadline(deadline)),
        // A worker that honours the grpc-timeout header answers CANCELLED when the deadline
        // passes (tonic servers do); on a busy machine that answer can beat our own timer.
        // Either way the deadline expired, which the contract retries.
        Ok(Err(status))
            if status.code() == tonic::Code::Cancelled
                && started.elapsed() >= deadline.mul_f64(0.9) =>
        {
            Err(CallError::deadline(deadline))
        }
        Ok(Err(status)) => Err(CallError::from_status(&status)),
        Ok(Ok(resp)) => Ok(resp.into_inner()),
    }
}

impl Worker for GrpcWorker {
    fn describe(&self, deadline: Duration) -> BoxFuture<'_, Result<Description, CallError>> {
        let mut client = self.client.clone();
        Box::pin(async move {
            let req = pb::DescribeRequest {
                protocol_version: autopilot_proto::PROTOCOL_VERSION.into(),
                scheduler_version: env!("CARGO_PKG_VERSION").into(),
            };
            let d = bounded(
                deadline,
                client.describe(with_deadline(req, deadline, None)),
            )
            .await?;
            Ok(Description {
                protocol_version: d.protocol_version,
                name: d.worker_name,
                version: d.worker_version,
                phases: d.phases,
                finalize: d.finalize,
            })
        })
    }

    fn sync(&self, request: Request) -> BoxFuture<'_, Result<RawReply, CallError>> {
        let mut grpc = self.grpc.clone();
        Box::pin(async move {
            let deadline = request.deadline;
            let traceparent = request.traceparent.clone();
            let msg = wire::encode_sync(request);
            let mut req = with_deadline(msg, deadline, traceparent.as_deref());
            req.extensions_mut().insert(tonic::codegen::GrpcMethod::new(
                "autopilot.worker.v1.WorkerService",
                "Sync",
            ));
            let call = async move {
                // As the generated client does.
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
                let path =
                    http::uri::PathAndQuery::from_static("/autopilot.worker.v1.WorkerService/Sync");
                let codec = tonic_prost::ProstCodec::<wire::Encoded, pb::SyncResponse>::default();
                grpc.unary(req, path, codec).await
            };
            Ok(wire::reply_from(bounded(deadline, call).await?))
        })
    }

    fn finalize(
        &self,
        resource: Vec<u8>,
        meta: CallMeta,
        deadline: Duration,
    ) -> BoxFuture<'_, Result<FinalizeReply, CallError>> {
        let mut client = self.client.clone();
        Box::pin(async move {
            let req = pb::FinalizeRequest {
                resource,
                meta: Some(wire::meta_pb(&meta, deadline)),
            };
            let r = bounded(
                deadline,
                client.finalize(with_deadline(req, deadline, None)),
            )
            .await?;
            Ok(wire::finalize_from(r))
        })
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_parsed() {
        // Inside a runtime because lazy channels spawn their connection task there.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for ok in [
                "http://127.0.0.1:50051",
                "http://127.0.0.1:50051,127.0.0.2:50051",
                "https://worker.ns.svc:50051",
                "unix:/tmp/w.sock",
                "unix:///tmp/w.sock",
            ] {
                assert!(GrpcWorker::new(ok, 1 << 20, None).is_ok(), "{ok}");
            }
            for bad in ["127.0.0.1:50051", "unix:", "ftp://x", "http://bad host:1"] {
                let err = GrpcWorker::new(bad, 1 << 20, None).unwrap_err().to_string();
                assert!(err.contains(bad), "{bad}: {err}");
            }
        });
    }

    #[test]
    fn a_cancelled_answer_after_the_deadline_counts_as_deadline_exceeded() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let d = Duration::from_millis(50);
            let late = async {
                tokio::time::sleep(Duration::from_millis(48)).await;
                Err::<tonic::Response<()>, _>(tonic::Status::cancelled("Timeout expired"))
            };
            assert_eq!(bounded(d, late).await.unwrap_err().code, "DeadlineExceeded");
            let early = async {
                Err::<tonic::Response<()>, _>(tonic::Status::cancelled("client went away"))
            };
            assert_eq!(bounded(d, early).await.unwrap_err().code, "Cancelled");
        });
    }

    /// A worker that answers Describe with its name and counts the calls.
    #[derive(Clone)]
    struct Counting {
        name: &'static str,
        calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    #[tonic::async_trait]
    impl pb::worker_service_server::WorkerService for Counting {
        async fn describe(
            &self,
            _: tonic::Request<pb::DescribeRequest>,
        ) -> Result<tonic::Response<pb::DescribeResponse>, tonic::Status> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(tonic::Response::new(pb::DescribeResponse {
                protocol_version: autopilot_proto::PROTOCOL_VERSION.into(),
                worker_name: self.name.into(),
                ..Default::default()
            }))
        }
        async fn sync(
            &self,
            _: tonic::Request<pb::SyncRequest>,
        ) -> Result<tonic::Response<pb::SyncResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("not in this test"))
        }
        async fn finalize(
            &self,
            _: tonic::Request<pb::FinalizeRequest>,
        ) -> Result<tonic::Response<pb::FinalizeResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("not in this test"))
        }
    }

    /// Serves a [`Counting`] worker on `ip`, returning its address.
    async fn serve(worker: Counting, ip: &str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(pb::worker_service_server::WorkerServiceServer::new(worker))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        addr
    }

    fn counting(name: &'static str) -> Counting {
        Counting {
            name,
            calls: std::sync::Arc::default(),
        }
    }

    #[tokio::test]
    async fn calls_are_balanced_over_listed_addresses() {
        let (a, b) = (counting("a"), counting("b"));
        let addr_a = serve(a.clone(), "127.0.0.1").await;
        let addr_b = serve(b.clone(), "127.0.0.2").await;
        let endpoint = format!("http://{addr_a},{addr_b}");
        let worker = GrpcWorker::new(&endpoint, 1 << 20, None).unwrap();
        let mut answered_by = std::collections::BTreeSet::new();
        // The balancer picks between ready connections at random, so a few calls reach both.
        for _ in 0..200 {
            let d = worker.describe(Duration::from_secs(5)).await.unwrap();
            answered_by.insert(d.name);
            if answered_by.len() == 2 {
                break;
            }
        }
        assert_eq!(
            answered_by.into_iter().collect::<Vec<_>>(),
            ["a", "b"],
            "calls to {endpoint} did not reach both workers"
        );
        let count = |w: &Counting| w.calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(count(&a) > 0 && count(&b) > 0);
    }

    #[tokio::test]
    async fn a_host_name_is_resolved_to_its_addresses() {
        let a = counting("a");
        let addr = serve(a.clone(), "127.0.0.1").await;
        let endpoint = format!("http://localhost:{}", addr.port());
        let worker = GrpcWorker::new(&endpoint, 1 << 20, None).unwrap();
        let d = worker.describe(Duration::from_secs(5)).await.unwrap();
        assert_eq!(d.name, "a", "Describe through {endpoint}");
    }
}
