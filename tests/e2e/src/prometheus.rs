//! A real Prometheus (the `prometheus` binary from the system, installed by
//! `hack/install-deps.sh`) started with its own data directory and port, scraping an exporter
//! the test serves on 127.0.0.1 with values the test sets.
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// A `/metrics` endpoint whose exposition text the test controls.
#[derive(Debug, Clone)]
pub struct Exporter {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    text: Arc<Mutex<String>>,
}

impl Exporter {
    /// Serves `text` (Prometheus text format) until the test's runtime ends.
    pub async fn serve(text: &str) -> Exporter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the exporter");
        let addr = listener.local_addr().unwrap().to_string();
        let text = Arc::new(Mutex::new(text.to_string()));
        let shared = text.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = shared.lock().unwrap().clone();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Exporter { addr, text }
    }

    /// Replaces the exposition text.
    pub fn set(&self, text: &str) {
        *self.text.lock().unwrap() = text.to_string();
    }
}

/// A Prometheus process; killed when dropped.
#[derive(Debug)]
pub struct PrometheusServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its log file.
    pub log: PathBuf,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free port")
}

/// GETs `http://addr/path` (HTTP/1.0); returns the status line and the body.
pub async fn http_get(addr: &str, path: &str) -> Result<(String, String), String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    Ok((
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    ))
}

impl PrometheusServer {
    /// Starts Prometheus scraping `targets` (`host:port`) every second and waits until it is
    /// ready.
    pub async fn start(targets: &[&str]) -> PrometheusServer {
        let dir = tempfile::tempdir().expect("Prometheus temp dir");
        let port = free_port();
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [{list}]\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("writing prometheus.yml");
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).expect("creating Prometheus log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .expect("starting prometheus (installed by hack/install-deps.sh)");
        let addr = format!("127.0.0.1:{port}");
        let log_path = log.clone();
        crate::wait::until(
            "Prometheus to answer /-/ready",
            Duration::from_secs(60),
            || {
                let addr = addr.clone();
                let log_path = log_path.clone();
                async move {
                    match http_get(&addr, "/-/ready").await {
                        Ok((status, _)) if status.contains(" 200") => Ok(()),
                        other => Err(format!(
                            "{other:?}; log: {}",
                            std::fs::read_to_string(&log_path).unwrap_or_default()
                        )),
                    }
                }
            },
        )
        .await;
        PrometheusServer {
            url: format!("http://{addr}"),
            log,
            _child: child,
            _dir: dir,
        }
    }
}
