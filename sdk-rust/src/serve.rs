//! Serving a [`Worker`] over gRPC: on TCP or a unix socket, plaintext or TLS, with the gRPC health
//! service and graceful shutdown.
//!
//! Most workers call [`Worker::serve_from_env`], which reads:
//!
//! | variable | meaning |
//! |---|---|
//! | `AUTOPILOT_WORKER_ADDR` | `host:port` (default `127.0.0.1:50051`), or `unix:/path/to.sock` |
//! | `AUTOPILOT_WORKER_TLS_CERT`, `AUTOPILOT_WORKER_TLS_KEY` | PEM certificate chain and key: serve TLS |
//! | `AUTOPILOT_WORKER_TLS_CLIENT_CA` | PEM CA bundle: also require client certificates signed by it (mTLS) |
//! | `AUTOPILOT_WORKER_MAX_MESSAGE_BYTES` | largest request accepted (default 64 MiB) |
//!
//! # Plaintext is the explicit insecure mode
//!
//! Without a certificate and key the worker serves **plaintext** gRPC. That is meant for a
//! sidecar reached over a unix socket or `127.0.0.1` inside the scheduler's pod, and for local
//! runs. A worker deployed on its own, reached over the network, must set the TLS variables;
//! the SDK logs a warning when it serves plaintext on a non-loopback address.
//!
//! # Guarantees
//!
//! - The gRPC health service (`grpc.health.v1.Health`) answers `SERVING` for
//!   `autopilot.worker.v1.WorkerService` and for `""` (the whole server) while the worker serves,
//!   and `NOT_SERVING` once shutdown starts.
//! - On shutdown (SIGTERM or Ctrl-C for the `serve*` methods without a signal argument) the
//!   listener closes at once and calls in flight are allowed to finish, for at most
//!   [`SHUTDOWN_GRACE`].
//! - A unix socket file left behind by a previous run is replaced, and removed on shutdown.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use autopilot_proto::v1::worker_service_server::WorkerServiceServer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::Worker;

/// Environment variable with the address to serve on.
pub const ADDR_ENV: &str = "AUTOPILOT_WORKER_ADDR";
/// Environment variable with the PEM certificate chain for TLS.
pub const TLS_CERT_ENV: &str = "AUTOPILOT_WORKER_TLS_CERT";
/// Environment variable with the PEM private key for TLS.
pub const TLS_KEY_ENV: &str = "AUTOPILOT_WORKER_TLS_KEY";
/// Environment variable with the PEM CA bundle that client certificates must chain to.
pub const TLS_CLIENT_CA_ENV: &str = "AUTOPILOT_WORKER_TLS_CLIENT_CA";
/// Environment variable with the largest request accepted, in bytes.
pub const MAX_MESSAGE_BYTES_ENV: &str = "AUTOPILOT_WORKER_MAX_MESSAGE_BYTES";

/// The address served when [`ADDR_ENV`] is not set: loopback only, the sidecar default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

/// The largest request accepted by default. A `SyncRequest` carries every object of the phase's
/// inputs (all the Pods of a Deployment, say), which outgrows gRPC's usual 4 MiB long before it
/// strains a worker's memory.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How long calls in flight may run after shutdown starts. Kubernetes kills a pod 30 s after
/// SIGTERM by default; stopping at 25 s leaves time to exit cleanly.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Where a worker listens.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::serve::Address;
/// assert_eq!(Address::parse("unix:/run/autopilot/worker.sock"),
///            Address::Unix("/run/autopilot/worker.sock".into()));
/// assert_eq!(Address::parse("0.0.0.0:50051"), Address::Tcp("0.0.0.0:50051".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP `host:port` (the host may be a name; port 0 picks a free port).
    Tcp(String),
    /// A unix domain socket at this path.
    Unix(PathBuf),
}

impl Address {
    /// Parses `unix:/path` (or `unix:///path`) as a unix socket and anything else as `host:port`.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::serve::Address;
    /// assert_eq!(Address::parse("unix:///tmp/w.sock"), Address::Unix("/tmp/w.sock".into()));
    /// ```
    pub fn parse(text: &str) -> Self {
        match text
            .strip_prefix("unix://")
            .or_else(|| text.strip_prefix("unix:"))
        {
            Some(path) => Self::Unix(PathBuf::from(path)),
            None => Self::Tcp(text.to_owned()),
        }
    }
}

impl From<&str> for Address {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Self::Tcp(addr.to_string())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => f.write_str(addr),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// TLS material: PEM files, read when the worker binds.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::serve::Tls;
/// let tls = Tls::new("/etc/worker/tls.crt", "/etc/worker/tls.key").client_ca("/etc/worker/ca.crt");
/// assert!(tls.client_ca.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tls {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by one of these CAs.
    pub client_ca: Option<PathBuf>,
}

impl Tls {
    /// Serve TLS with this certificate chain and key.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = autopilot_sdk::serve::Tls::new("tls.crt", "tls.key");
    /// assert!(tls.client_ca.is_none());
    /// ```
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
        }
    }

    /// Also require client certificates signed by a CA in this bundle.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = autopilot_sdk::serve::Tls::new("tls.crt", "tls.key").client_ca("ca.crt");
    /// assert_eq!(tls.client_ca.as_deref(), Some(std::path::Path::new("ca.crt")));
    /// ```
    #[must_use]
    pub fn client_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(path.into());
        self
    }
}

/// How to serve: the address, TLS (absent means plaintext), the message size limit.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::serve::{Config, Tls};
/// let config = Config::new("0.0.0.0:50051")
///     .tls(Tls::new("/tls/tls.crt", "/tls/tls.key"))
///     .max_message_bytes(16 << 20);
/// assert_eq!(config.address.to_string(), "0.0.0.0:50051");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Where to listen.
    pub address: Address,
    /// TLS material; `None` serves plaintext (see the [module docs](self)).
    pub tls: Option<Tls>,
    /// The largest request accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Config {
    /// Plaintext on `address`, with the default message size limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = autopilot_sdk::serve::Config::new("unix:/tmp/worker.sock");
    /// assert!(config.tls.is_none());
    /// ```
    pub fn new(address: impl Into<Address>) -> Self {
        Self {
            address: address.into(),
            tls: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Reads the configuration from the environment (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`] when only one of the certificate and key is set, when a client CA
    /// is set without them, or when the message size is not a number.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let config = autopilot_sdk::serve::Config::from_env()?;
    /// println!("serving on {}", config.address);
    /// # Ok::<(), autopilot_sdk::serve::ServeError>(())
    /// ```
    pub fn from_env() -> Result<Self, ServeError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `lookup`, for tests.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ServeError> {
        let address = lookup(ADDR_ENV).unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let mut config = Self::new(Address::parse(address.trim()));
        config.tls = match (lookup(TLS_CERT_ENV), lookup(TLS_KEY_ENV)) {
            (Some(cert), Some(key)) => {
                let tls = Tls::new(cert, key);
                Some(match lookup(TLS_CLIENT_CA_ENV) {
                    Some(ca) => tls.client_ca(ca),
                    None => tls,
                })
            }
            (None, None) if lookup(TLS_CLIENT_CA_ENV).is_some() => {
                return Err(ServeError::Config(format!(
                    "{TLS_CLIENT_CA_ENV} is set but {TLS_CERT_ENV} and {TLS_KEY_ENV} are not"
                )));
            }
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(ServeError::Config(format!(
                    "set both {TLS_CERT_ENV} and {TLS_KEY_ENV} for TLS, or neither for plaintext"
                )));
            }
        };
        if let Some(text) = lookup(MAX_MESSAGE_BYTES_ENV) {
            config.max_message_bytes = text.trim().parse().map_err(|_| {
                ServeError::Config(format!(
                    "{MAX_MESSAGE_BYTES_ENV} must be a number of bytes, not {text:?}"
                ))
            })?;
        }
        Ok(config)
    }

    /// Serves TLS with this material.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::serve::{Config, Tls};
    /// let config = Config::new("0.0.0.0:8443").tls(Tls::new("c.pem", "k.pem"));
    /// assert!(config.tls.is_some());
    /// ```
    #[must_use]
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the largest request accepted, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = autopilot_sdk::serve::Config::new("127.0.0.1:0").max_message_bytes(1 << 20);
    /// assert_eq!(config.max_message_bytes, 1 << 20);
    /// ```
    #[must_use]
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }
}

/// Why a worker could not serve.
///
/// None of these is worth retrying inside the process: they mean the configuration or the
/// environment must change, so `main` should exit with the error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The environment holds an unusable configuration.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The address could not be bound (in use, not permitted, no such host).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: Address,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A TLS file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadTls {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS material was rejected (not PEM, key does not match the certificate).
    #[error("invalid TLS material: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The server failed while serving.
    #[error("the gRPC server failed: {0}")]
    Serve(#[source] tonic::transport::Error),
}

/// A [`Worker`] bound to its address, not yet serving: [`Worker::bind`] returns it so that a
/// caller can learn the address (for example the port picked for `127.0.0.1:0`) before serving.
///
/// # Examples
///
/// ```no_run
/// use autopilot_sdk::{serve::Config, Worker};
///
/// # async fn run(worker: Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
/// let bound = worker.bind(Config::new("127.0.0.1:0")).await?;
/// println!("worker on {:?}", bound.local_addr());
/// bound.serve_with_shutdown(async { /* a test's stop signal */ }).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Bound<S, I> {
    worker: Worker<S, I>,
    listener: Listener,
    tls: Option<ServerTlsConfig>,
    max_message_bytes: usize,
}

#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener, PathBuf),
}

impl<S, I> Worker<S, I>
where
    S: DeserializeOwned + Send + 'static,
    I: DeserializeOwned + Serialize + Send + 'static,
{
    /// Serves as the environment says (see the [`serve`](crate::serve) module) until SIGTERM or
    /// Ctrl-C, then lets calls in flight finish.
    ///
    /// # Errors
    ///
    /// A [`ServeError`] when the configuration is invalid, the address cannot be bound, the TLS
    /// material is unusable, or the server fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> anyhow::Result<()> {
    /// autopilot_sdk::Worker::<serde_json::Value>::new("canary")
    ///     .phase("Initializing", |_ctx| async { Ok(autopilot_sdk::Outcome::stay()) })
    ///     .serve_from_env()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn serve_from_env(self) -> Result<(), ServeError> {
        let config = Config::from_env()?;
        self.bind(config)
            .await?
            .serve_with_shutdown(shutdown_signal())
            .await
    }

    /// Serves plaintext on `addr` (`host:port`, or `unix:/path`) until SIGTERM or Ctrl-C.
    ///
    /// # Errors
    ///
    /// A [`ServeError`] when the address cannot be bound or the server fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(worker: autopilot_sdk::Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
    /// worker.serve("127.0.0.1:50051").await
    /// # }
    /// ```
    pub async fn serve(self, addr: impl Into<Address>) -> Result<(), ServeError> {
        self.serve_with_shutdown(addr, shutdown_signal()).await
    }

    /// Serves plaintext on `addr` until `signal` completes, then lets calls in flight finish.
    ///
    /// # Errors
    ///
    /// A [`ServeError`] when the address cannot be bound or the server fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(worker: autopilot_sdk::Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let server = tokio::spawn(worker.serve_with_shutdown("127.0.0.1:50051", async {
    ///     let _ = stopped.await;
    /// }));
    /// // ... call the worker ...
    /// let _ = stop.send(());
    /// server.await.expect("server task")?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve_with_shutdown(
        self,
        addr: impl Into<Address>,
        signal: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        self.bind(Config::new(addr))
            .await?
            .serve_with_shutdown(signal)
            .await
    }

    /// Serves plaintext on the unix socket at `path` until SIGTERM or Ctrl-C.
    ///
    /// # Errors
    ///
    /// A [`ServeError`] when the socket cannot be bound or the server fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(worker: autopilot_sdk::Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
    /// worker.serve_unix("/run/autopilot/worker.sock").await
    /// # }
    /// ```
    #[cfg(unix)]
    pub async fn serve_unix(self, path: impl AsRef<Path>) -> Result<(), ServeError> {
        self.serve(Address::Unix(path.as_ref().to_owned())).await
    }

    /// Binds the address `config` names and loads its TLS material, without serving yet.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`], [`ServeError::ReadTls`] or [`ServeError::Tls`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use autopilot_sdk::serve::{Config, Tls};
    /// # async fn run(worker: autopilot_sdk::Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
    /// let config = Config::new("0.0.0.0:50051").tls(Tls::new("tls.crt", "tls.key"));
    /// worker.bind(config).await?.serve().await
    /// # }
    /// ```
    pub async fn bind(self, config: Config) -> Result<Bound<S, I>, ServeError> {
        let tls = config.tls.as_ref().map(server_tls).transpose()?;
        let bind_error = |source| ServeError::Bind {
            address: config.address.clone(),
            source,
        };
        let listener = match &config.address {
            Address::Tcp(addr) => Listener::Tcp(TcpListener::bind(addr).await.map_err(bind_error)?),
            #[cfg(unix)]
            Address::Unix(path) => {
                remove_stale_socket(path).map_err(bind_error)?;
                let listener = tokio::net::UnixListener::bind(path).map_err(bind_error)?;
                Listener::Unix(listener, path.clone())
            }
            #[cfg(not(unix))]
            Address::Unix(_) => {
                return Err(bind_error(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "unix sockets are not supported on this platform",
                )));
            }
        };
        if let (None, Listener::Tcp(tcp)) = (&tls, &listener)
            && tcp.local_addr().is_ok_and(|a| !a.ip().is_loopback())
        {
            tracing::warn!(
                address = %config.address,
                "serving plaintext gRPC on a non-loopback address; set {TLS_CERT_ENV} and \
                 {TLS_KEY_ENV} unless this is a trusted network"
            );
        }
        Ok(Bound {
            worker: self,
            listener,
            tls,
            max_message_bytes: config.max_message_bytes,
        })
    }
}

impl<S, I> Bound<S, I>
where
    S: DeserializeOwned + Send + 'static,
    I: DeserializeOwned + Serialize + Send + 'static,
{
    /// The TCP address actually bound, or `None` for a unix socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(worker: autopilot_sdk::Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
    /// let bound = worker.bind(autopilot_sdk::serve::Config::new("127.0.0.1:0")).await?;
    /// assert_ne!(bound.local_addr().unwrap().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.listener {
            Listener::Tcp(tcp) => tcp.local_addr().ok(),
            #[cfg(unix)]
            Listener::Unix(..) => None,
        }
    }

    /// Serves until SIGTERM or Ctrl-C, then lets calls in flight finish.
    ///
    /// # Errors
    ///
    /// [`ServeError::Tls`] or [`ServeError::Serve`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(worker: autopilot_sdk::Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
    /// worker.bind(autopilot_sdk::serve::Config::from_env()?).await?.serve().await
    /// # }
    /// ```
    pub async fn serve(self) -> Result<(), ServeError> {
        self.serve_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then lets calls in flight finish for at most
    /// [`SHUTDOWN_GRACE`].
    ///
    /// # Errors
    ///
    /// [`ServeError::Tls`] or [`ServeError::Serve`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(worker: autopilot_sdk::Worker) -> Result<(), autopilot_sdk::serve::ServeError> {
    /// let bound = worker.bind(autopilot_sdk::serve::Config::new("127.0.0.1:0")).await?;
    /// bound.serve_with_shutdown(tokio::time::sleep(std::time::Duration::from_secs(1))).await
    /// # }
    /// ```
    pub async fn serve_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let Self {
            worker,
            listener,
            tls,
            max_message_bytes,
        } = self;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<WorkerServiceServer<Worker<S, I>>>()
            .await;
        let name = worker.name().to_owned();
        let phases = worker.phases().collect::<Vec<_>>().join(",");
        let service = WorkerServiceServer::new(worker).max_decoding_message_size(max_message_bytes);

        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            server = server.tls_config(tls).map_err(ServeError::Tls)?;
        }
        let router = server.add_service(health_service).add_service(service);

        let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            signal.await;
            tracing::info!("shutting down: no new connections; letting calls in flight finish");
            for service in [WORKER_SERVICE_NAME, ""] {
                health
                    .set_service_status(service, ServingStatus::NotServing)
                    .await;
            }
            let _ = draining_tx.send(());
        };
        let grace_expired = async move {
            // A dropped sender means the server stopped on its own; never fire then.
            if draining_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };

        // Boxed: the two listeners produce futures of different types.
        let (serving, unix_path): (ServingFuture<'_>, Option<PathBuf>) = match listener {
            Listener::Tcp(tcp) => {
                let address = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
                tracing::info!(worker = %name, phases = %phases, %address, "serving");
                let incoming = TcpIncoming::from(tcp).with_nodelay(Some(true));
                (
                    Box::pin(router.serve_with_incoming_shutdown(incoming, signal)),
                    None,
                )
            }
            #[cfg(unix)]
            Listener::Unix(unix, path) => {
                let address = format!("unix:{}", path.display());
                tracing::info!(worker = %name, phases = %phases, %address, "serving");
                let incoming = tokio_stream::wrappers::UnixListenerStream::new(unix);
                (
                    Box::pin(router.serve_with_incoming_shutdown(incoming, signal)),
                    Some(path),
                )
            }
        };
        let result = tokio::select! {
            result = serving => result.map_err(ServeError::Serve),
            () = grace_expired => {
                tracing::warn!(
                    grace = ?SHUTDOWN_GRACE,
                    "calls still in flight after the shutdown grace period; stopping anyway"
                );
                Ok(())
            }
        };
        if let Some(path) = unix_path {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("stopped");
        result
    }
}

type ServingFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send + 'a>>;

/// The gRPC service name the health service reports on.
const WORKER_SERVICE_NAME: &str = autopilot_proto::v1::worker_service_server::SERVICE_NAME;

/// Reads the TLS files into tonic's configuration.
fn server_tls(tls: &Tls) -> Result<ServerTlsConfig, ServeError> {
    install_crypto_provider();
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ServeError::ReadTls {
            path: path.to_owned(),
            source,
        })
    };
    let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

/// rustls needs a process-wide crypto provider; it picks one by itself only when exactly one is
/// compiled in. Another dependency of the worker may bring aws-lc-rs, so install ring (the one
/// tonic's `tls-ring` feature builds) unless something already chose.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: some provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Removes a socket file a previous run left behind, so that binding does not fail with
/// "address in use". Anything that is not a socket is left alone (binding then fails loudly).
#[cfg(unix)]
fn remove_stale_socket(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Completes on SIGTERM (what Kubernetes sends) or Ctrl-C.
///
/// # Examples
///
/// ```no_run
/// # async fn run() {
/// autopilot_sdk::serve::shutdown_signal().await;
/// println!("stopping");
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ServeError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_to_plaintext_on_loopback() {
        let config = config(&[]).unwrap();
        assert_eq!(config.address, Address::Tcp(DEFAULT_ADDR.into()));
        assert_eq!(config.tls, None);
        assert_eq!(config.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
    }

    #[test]
    fn reads_every_variable() {
        let config = config(&[
            (ADDR_ENV, "unix:/run/w.sock"),
            (TLS_CERT_ENV, "/tls/crt"),
            (TLS_KEY_ENV, "/tls/key"),
            (TLS_CLIENT_CA_ENV, "/tls/ca"),
            (MAX_MESSAGE_BYTES_ENV, "1024"),
        ])
        .unwrap();
        assert_eq!(config.address, Address::Unix("/run/w.sock".into()));
        assert_eq!(
            config.tls,
            Some(Tls::new("/tls/crt", "/tls/key").client_ca("/tls/ca"))
        );
        assert_eq!(config.max_message_bytes, 1024);
    }

    #[test]
    fn rejects_half_configured_tls_and_bad_sizes() {
        for vars in [
            &[(TLS_CERT_ENV, "/c")][..],
            &[(TLS_KEY_ENV, "/k")][..],
            &[(TLS_CLIENT_CA_ENV, "/ca")][..],
            &[(MAX_MESSAGE_BYTES_ENV, "64MiB")][..],
        ] {
            let err = config(vars).unwrap_err();
            assert!(matches!(err, ServeError::Config(_)), "{vars:?}: {err}");
        }
    }

    #[test]
    fn address_round_trips_through_display() {
        for text in [
            "unix:/a/b.sock",
            "127.0.0.1:1",
            "[::1]:50051",
            "localhost:9",
        ] {
            assert_eq!(Address::parse(text).to_string(), text);
        }
    }

    #[test]
    fn missing_tls_files_are_named() {
        let err = server_tls(&Tls::new("/nonexistent/crt", "/nonexistent/key")).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read /nonexistent/crt"),
            "{err}"
        );
    }
}
