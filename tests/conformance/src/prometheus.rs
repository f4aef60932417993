//! A real Prometheus (the Debian `prometheus` binary) on a free loopback port, with no scrape
//! targets: the scenario's queries are constant PromQL (`vector(3)`) or series that never exist.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::error::Error;

/// How long Prometheus may take to answer `/-/ready`: it replays an empty WAL, so a few
/// seconds even on a loaded machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A Prometheus process; killed when dropped.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prometheus {
    /// Starts `program` (normally `prometheus`) with its config and storage under `dir`, and
    /// waits until it is ready.
    ///
    /// # Errors
    ///
    /// [`Error::Prometheus`] when it cannot be started, exits, or is not ready in time.
    pub async fn start(program: &Path, dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir.join("data")).map_err(Error::io("creating Prometheus dir"))?;
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            "# No scrape targets: the conformance queries need none.\nglobal:\n  scrape_interval: 1m\nscrape_configs: []\n",
        )
        .map_err(Error::io("writing prometheus.yml"))?;
        let port = crate::worker::free_port().map_err(Error::io("finding a free port"))?;
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).map_err(Error::io("creating prometheus.log"))?;
        let err = out
            .try_clone()
            .map_err(Error::io("opening prometheus.log"))?;
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::Prometheus(format!(
                    "starting {}: {e} (install Debian's prometheus package, or pass --prometheus)",
                    program.display()
                ))
            })?;
        let mut prometheus = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let ready = crate::wait::until("Prometheus to answer /-/ready", READY_TIMEOUT, || {
            let exited = prometheus.child.try_wait().ok().flatten();
            async move {
                if let Some(status) = exited {
                    return Ok(Err(format!("exited with {status}")));
                }
                match http_get_status(port, "/-/ready").await {
                    Ok(200) => Ok(Ok(())),
                    Ok(code) => Err(format!("HTTP {code}")),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        match ready {
            Ok(Ok(())) => Ok(prometheus),
            Ok(Err(reason)) | Err(reason) => Err(Error::Prometheus(format!(
                "{reason}\n{}",
                crate::worker::tail(&prometheus.log, 20)
            ))),
        }
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The status code of a plain HTTP/1.0 GET on loopback; enough for a readiness probe without
/// an HTTP client dependency.
async fn http_get_status(port: u16, path: &str) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
