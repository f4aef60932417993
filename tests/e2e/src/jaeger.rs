//! A real Jaeger v2 (built from its Go module by `hack/jaeger.sh`) started with in-memory
//! storage, its OTLP receiver and its query API on free loopback ports, from a config file the
//! test writes.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long a fresh Jaeger may take to answer its query API (it starts in about a second; the
/// margin is for a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A Jaeger process; killed when dropped (or by [`JaegerServer::stop`]).
#[derive(Debug)]
pub struct JaegerServer {
    /// Query service base URL, `http://127.0.0.1:<port>` (what `jaeger.url` is set to).
    pub query_url: String,
    /// OTLP/gRPC receiver, `http://127.0.0.1:<port>`, for OpenTelemetry SDK exporters.
    pub otlp_grpc: String,
    /// OTLP/HTTP receiver, `http://127.0.0.1:<port>`.
    pub otlp_http: String,
    /// Its log file.
    pub log: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free port")
}

/// The `jaeger` binary: `$AUTOPILOT_JAEGER_BIN` (set by `hack/test.sh`), else what
/// `hack/jaeger.sh` builds (or finds cached).
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("AUTOPILOT_JAEGER_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("hack/jaeger.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running hack/jaeger.sh");
    assert!(out.status.success(), "hack/jaeger.sh failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Jaeger's configuration: OTLP in, memory store, query API out; nothing on a fixed port (its
/// own metrics are off, so parallel tests do not collide on 8888).
fn config(query_http: u16, query_grpc: u16, otlp_grpc: u16, otlp_http: u16) -> String {
    format!(
        r#"service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_http}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
      http:
        endpoint: 127.0.0.1:{otlp_http}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"#
    )
}

impl JaegerServer {
    /// Starts Jaeger and waits until its query API answers.
    pub async fn start() -> JaegerServer {
        let dir = tempfile::tempdir().expect("Jaeger temp dir");
        let (query_http, query_grpc, otlp_grpc, otlp_http) =
            (free_port(), free_port(), free_port(), free_port());
        let config_path = dir.path().join("jaeger.yaml");
        std::fs::write(
            &config_path,
            config(query_http, query_grpc, otlp_grpc, otlp_http),
        )
        .expect("writing jaeger.yaml");
        let log = dir.path().join("jaeger.log");
        let out = std::fs::File::create(&log).expect("creating Jaeger log");
        let child = Command::new(binary())
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .expect("starting jaeger (built by hack/jaeger.sh)");
        let addr = format!("127.0.0.1:{query_http}");
        let log_path = log.clone();
        crate::wait::until("Jaeger to answer /api/v3/services", READY_TIMEOUT, || {
            let addr = addr.clone();
            let log_path = log_path.clone();
            async move {
                match crate::prometheus::http_get(&addr, "/api/v3/services").await {
                    Ok((status, _)) if status.contains(" 200") => Ok(()),
                    other => Err(format!(
                        "{other:?}; log: {}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    )),
                }
            }
        })
        .await;
        JaegerServer {
            query_url: format!("http://{addr}"),
            otlp_grpc: format!("http://127.0.0.1:{otlp_grpc}"),
            otlp_http: format!("http://127.0.0.1:{otlp_http}"),
            log,
            child: Some(child),
            _dir: dir,
        }
    }

    /// Kills Jaeger (to test what happens when it is down) and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}
