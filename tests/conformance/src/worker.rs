//! The worker under test: started from a command or already serving, and reached over gRPC
//! with `autopilot-proto`'s client.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use autopilot_proto::v1::worker_service_client::WorkerServiceClient;
use autopilot_proto::v1::{DescribeRequest, DescribeResponse};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

use crate::error::Error;

/// How long one connection attempt or `Describe` call may take; a worker on loopback answers
/// in milliseconds, so anything slower is treated as not up yet.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a stopped worker gets to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
///
/// # Errors
///
/// When no port can be bound.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The last `lines` lines of the file at `path`, prefixed with its name (empty when unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    format!(
        "--- {} (last {} lines) ---\n{}",
        path.display(),
        all.len() - start,
        all[start..].join("\n")
    )
}

/// A gRPC client for `endpoint`: `http://host:port` or `unix:/path`.
///
/// # Errors
///
/// [`Error::Worker`] for an endpoint of another form.
pub fn client(endpoint: &str) -> Result<WorkerServiceClient<Channel>, Error> {
    let channel = if let Some(path) = endpoint.strip_prefix("unix:") {
        let path = path.trim_start_matches("//").to_owned();
        // The URI is ignored by the connector; tonic needs a syntactically valid one.
        Endpoint::from_static("http://worker.sock")
            .connect_timeout(CALL_TIMEOUT)
            .connect_with_connector_lazy(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
    } else if endpoint.starts_with("http://") {
        Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| Error::Worker(format!("endpoint {endpoint}: {e}")))?
            .connect_timeout(CALL_TIMEOUT)
            .connect_lazy()
    } else {
        return Err(Error::Worker(format!(
            "endpoint {endpoint} must be http://host:port or unix:/path"
        )));
    };
    Ok(WorkerServiceClient::new(channel))
}

/// Calls `Describe` once.
///
/// # Errors
///
/// The gRPC status, as text.
pub async fn describe(
    client: &mut WorkerServiceClient<Channel>,
) -> Result<DescribeResponse, String> {
    let mut request = tonic::Request::new(DescribeRequest {
        protocol_version: autopilot_proto::PROTOCOL_VERSION.to_owned(),
        scheduler_version: format!("conformance-{}", env!("CARGO_PKG_VERSION")),
    });
    request.set_timeout(CALL_TIMEOUT);
    client
        .describe(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
}

/// A worker started from a command, in its own process group so that everything it starts
/// is stopped with it; stopped (SIGTERM, then SIGKILL) by [`WorkerProcess::stop`] or on drop.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl WorkerProcess {
    /// Runs `command` with `sh -c`, with `AUTOPILOT_WORKER_ADDR=127.0.0.1:<free port>` in its
    /// environment and its output in `log`.
    ///
    /// # Errors
    ///
    /// [`Error::Worker`] when it cannot be started.
    pub fn start(command: &str, log: &Path) -> Result<Self, Error> {
        let port = free_port().map_err(Error::io("finding a free port"))?;
        let out = std::fs::File::create(log).map_err(Error::io("creating the worker log"))?;
        let err = out
            .try_clone()
            .map_err(Error::io("opening the worker log"))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Worker(format!("starting `{command}`: {e}")))?;
        Ok(Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
        })
    }

    /// The endpoint it serves on.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM to its process group, waits up to [`STOP_GRACE`], then SIGKILLs the group.
    pub async fn stop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        signal_group("TERM", pid);
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            signal_group("KILL", pid);
            let _ = self.child.wait().await;
        }
        // Children of the worker that ignored SIGTERM.
        signal_group("KILL", pid);
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            signal_group("KILL", pid);
        }
    }
}

/// Signals the process group led by `pid` with `kill(1)` (the workspace forbids the `unsafe`
/// a direct `kill(2)` needs).
fn signal_group(signal: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits until the worker at `endpoint` answers `Describe`, or `process` (when given) exits.
///
/// # Errors
///
/// [`Error::Worker`] on timeout or exit, with the end of the worker's log.
pub async fn wait_until_serving(
    endpoint: &str,
    mut process: Option<&mut WorkerProcess>,
    timeout: Duration,
) -> Result<DescribeResponse, Error> {
    let client = client(endpoint)?;
    let what = format!("the worker at {endpoint} to answer Describe");
    let log = process.as_ref().map(|p| p.log().to_path_buf());
    let result = crate::wait::until(&what, timeout, || {
        let exited = process.as_mut().and_then(|p| p.exited());
        let mut client = client.clone();
        async move {
            if let Some(status) = exited {
                return Ok(Err(format!("the worker command exited with {status}")));
            }
            describe(&mut client).await.map(Ok)
        }
    })
    .await;
    let with_log = |reason: String| match &log {
        Some(log) => Error::Worker(format!("{reason}\n{}", tail(log, 30))),
        None => Error::Worker(reason),
    };
    match result {
        Ok(Ok(described)) => Ok(described),
        Ok(Err(reason)) | Err(reason) => Err(with_log(reason)),
    }
}
