//! Failed calls over real connections, classified: a worker's own answer keeps its code's class;
//! a call that broke on the way (worker gone mid-call, refused, not speaking HTTP/2, a proxy
//! answering without `grpc-status`) is retryable.
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

use autopilot_proto::v1::worker_service_client::WorkerServiceClient;
use autopilot_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use autopilot_proto::v1::*;
use autopilot_proto::{ErrorClass, Origin, classify_status, origin, reported_code};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};

/// A worker whose Sync sleeps for the phase's name in milliseconds, or fails as the phase says.
#[derive(Debug, Default)]
struct Worker;

#[tonic::async_trait]
impl WorkerService for Worker {
    async fn describe(
        &self,
        _: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse::default()))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let phase = request.into_inner().phase;
        match phase.as_str() {
            "unknown" => Err(Status::unknown(
                "the handler failed in a way it could not name",
            )),
            "internal" => Err(Status::internal("bug in the handler")),
            _ => {
                let ms = phase.parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(Response::new(SyncResponse::default()))
            }
        }
    }

    async fn finalize(
        &self,
        _: Request<FinalizeRequest>,
    ) -> Result<Response<FinalizeResponse>, Status> {
        Ok(Response::new(FinalizeResponse::default()))
    }
}

async fn serve_worker() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkerServiceServer::new(Worker))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// A TCP relay in front of `upstream` whose connections are cut (both sockets dropped, as the
/// kernel does for a SIGKILLed process) when `cut` fires.
async fn relay(
    upstream: std::net::SocketAddr,
    cut: tokio::sync::watch::Receiver<bool>,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut cut = cut.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cut.wait_for(|c| *c) => {}
                }
            });
        }
    });
    addr
}

async fn client(addr: impl std::fmt::Display) -> WorkerServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    WorkerServiceClient::new(channel)
}

async fn sync(addr: impl std::fmt::Display, phase: &str) -> Status {
    client(addr)
        .await
        .sync(SyncRequest {
            phase: phase.into(),
            ..Default::default()
        })
        .await
        .expect_err("the call must fail")
}

/// A worker process killed 300 ms into a 3 s Sync: the connection closes under the call.
async fn worker_killed_mid_call() -> Status {
    let worker = serve_worker().await;
    let (cut, cut_rx) = tokio::sync::watch::channel(false);
    let front = relay(worker, cut_rx).await;
    let call = tokio::spawn(async move { sync(front, "3000").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cut.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), call)
        .await
        .expect("the call to end when its connection is cut, not at the worker's answer")
        .unwrap()
}

/// Something that accepts connections and answers bytes that are not HTTP/2.
async fn not_http2() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    addr
}

/// A proxy in front of the worker's name that answers HTTP 503 or 500 without `grpc-status`.
#[derive(Debug, Clone)]
struct Proxy(u16);

impl tonic::server::NamedService for Proxy {
    const NAME: &'static str = "autopilot.worker.v1.WorkerService";
}

impl tower::Service<http::Request<tonic::body::Body>> for Proxy {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
        let response = http::Response::builder()
            .status(self.0)
            .body(tonic::body::Body::empty())
            .unwrap();
        std::future::ready(Ok(response))
    }
}

async fn proxy(http_status: u16) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Proxy(http_status))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// A port nothing listens on.
async fn closed_port() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn failed_calls_are_classified_by_where_they_failed() {
    // (what, the status the client got, origin, class, reported code)
    let table: Vec<(&str, Status, Origin, ErrorClass, Code)> = vec![
        (
            "a worker's own UNKNOWN",
            sync(serve_worker().await, "unknown").await,
            Origin::Worker,
            ErrorClass::Permanent,
            Code::Unknown,
        ),
        (
            "a worker's own INTERNAL",
            sync(serve_worker().await, "internal").await,
            Origin::Worker,
            ErrorClass::Permanent,
            Code::Internal,
        ),
        (
            "the worker killed mid-call",
            worker_killed_mid_call().await,
            Origin::Transport,
            ErrorClass::Retryable,
            Code::Unavailable,
        ),
        (
            "connection refused",
            sync(closed_port().await, "0").await,
            Origin::Transport,
            ErrorClass::Retryable,
            Code::Unavailable,
        ),
        (
            "a server that does not speak HTTP/2",
            sync(not_http2().await, "0").await,
            Origin::Transport,
            ErrorClass::Retryable,
            Code::Unavailable,
        ),
        (
            "a proxy's HTTP 500 without grpc-status",
            sync(proxy(500).await, "0").await,
            Origin::Inferred,
            ErrorClass::Retryable,
            Code::Unknown,
        ),
        (
            "a proxy's HTTP 503 without grpc-status",
            sync(proxy(503).await, "0").await,
            Origin::Inferred,
            ErrorClass::Retryable,
            Code::Unavailable,
        ),
    ];
    for (what, status, want_origin, want_class, want_code) in table {
        let seen = format!("{what}: {status:?}");
        assert_eq!(origin(&status), want_origin, "{seen}");
        assert_eq!(classify_status(&status), want_class, "{seen}");
        assert_eq!(reported_code(&status), want_code, "{seen}");
    }
}
