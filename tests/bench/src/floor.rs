//! The floor of the worker-call benchmark: a bare tonic unary call with an empty message,
//! served and dialled the way the SDK serves and the scheduler dials a worker.
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint, Server};

use crate::pb;
use crate::pb::floor_client::FloorClient;
use crate::pb::floor_server::{Floor, FloorServer};

/// Where a benchmark server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TCP on 127.0.0.1.
    Loopback,
    /// A unix domain socket at this path.
    Unix(PathBuf),
}

impl Transport {
    /// Name for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Transport::Loopback => "tcp loopback",
            Transport::Unix(_) => "unix socket",
        }
    }
}

#[derive(Debug, Default)]
struct Echo;

#[tonic::async_trait]
impl Floor for Echo {
    async fn ping(
        &self,
        _request: tonic::Request<pb::Empty>,
    ) -> Result<tonic::Response<pb::Empty>, tonic::Status> {
        Ok(tonic::Response::new(pb::Empty {}))
    }
}

/// A running floor server; stops when dropped.
#[derive(Debug)]
pub struct FloorServerHandle {
    /// The endpoint in the scheduler's syntax: `http://127.0.0.1:port` or `unix:/path`.
    pub endpoint: String,
    _stop: oneshot::Sender<()>,
}

/// Starts the floor server on `transport`.
///
/// # Errors
///
/// Binding failed.
pub async fn serve(transport: &Transport) -> anyhow::Result<FloorServerHandle> {
    let (stop, stopped) = oneshot::channel::<()>();
    let router = Server::builder().add_service(FloorServer::new(Echo));
    let shutdown = async move {
        let _ = stopped.await;
    };
    let endpoint = match transport {
        Transport::Loopback => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown));
            format!("http://{addr}")
        }
        Transport::Unix(path) => {
            let _ = std::fs::remove_file(path);
            let listener = tokio::net::UnixListener::bind(path)?;
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown));
            format!("unix:{}", path.display())
        }
    };
    Ok(FloorServerHandle {
        endpoint,
        _stop: stop,
    })
}

/// A client for `endpoint`, with the channel settings of the scheduler's worker client.
///
/// # Errors
///
/// The endpoint is malformed.
pub fn client(endpoint: &str) -> anyhow::Result<FloorClient<Channel>> {
    let channel = if let Some(path) = endpoint.strip_prefix("unix:") {
        let path = path.to_string();
        Endpoint::from_static("http://floor.sock")
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_with_connector_lazy(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
    } else {
        Endpoint::from_shared(endpoint.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy()
    };
    Ok(FloorClient::new(channel))
}
