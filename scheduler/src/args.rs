//! Command-line flags of `autopilot-scheduler`; each has an environment variable.
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Runs an Autopilot operator: watches its custom resources and drives each through its phases
/// by calling the operator's workers over gRPC.
///
/// The operator is described by autopilot.yaml (what it is) and autopilot-operator.yaml (how it
/// runs) in the project directory. Flags override the matching settings of
/// autopilot-operator.yaml.
#[derive(Debug, Clone, Parser)]
#[command(name = "autopilot-scheduler", version, about, long_about)]
pub struct Args {
    /// Directory holding autopilot.yaml (and, unless --config is given, autopilot-operator.yaml).
    #[arg(long, env = "AUTOPILOT_PROJECT_DIR", default_value = ".")]
    pub project_dir: PathBuf,

    /// Path of autopilot-operator.yaml (for example a mounted ConfigMap); reloaded when it changes.
    #[arg(long, env = "AUTOPILOT_CONFIG")]
    pub config: Option<PathBuf>,

    /// Worker endpoint for every phase: http://host:port, https://host:port or unix:/path.
    #[arg(long, env = "AUTOPILOT_WORKER_ENDPOINT")]
    pub worker_endpoint: Option<String>,

    /// Namespaces to watch (comma-separated); empty watches all namespaces.
    #[arg(long, env = "AUTOPILOT_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Address of /metrics (and /healthz, /readyz when --health-addr is the same).
    #[arg(long, env = "AUTOPILOT_METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Address of /healthz and /readyz.
    #[arg(long, env = "AUTOPILOT_HEALTH_ADDR")]
    pub health_addr: Option<String>,

    /// Log level: trace, debug, info, warn or error. RUST_LOG, when set, wins.
    #[arg(long, env = "AUTOPILOT_LOG_LEVEL")]
    pub log_level: Option<String>,

    /// Log format: text or json.
    #[arg(long, env = "AUTOPILOT_LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Maximum concurrent reconciles.
    #[arg(long, env = "AUTOPILOT_CONCURRENCY")]
    pub concurrency: Option<u16>,

    /// Kubeconfig file; without it, KUBECONFIG, ~/.kube/config or the in-cluster config.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// How long to wait at start-up for the workers to answer Describe.
    #[arg(long, env = "AUTOPILOT_STARTUP_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub startup_timeout: Duration,

    /// On SIGTERM or Ctrl-C, how long in-flight reconciles may take to finish.
    #[arg(long, env = "AUTOPILOT_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// This replica's identity, for Events and the leader lease (defaults to the host name).
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
}
