//! How the operator runs, from `autopilot-operator.yaml`, with defaults merged.
//!
//! Every field of the file is optional; [`OperatorConfig::default`] is what an absent file
//! means. Nested sections are named after their key: [`Workers`], [`Retry`], [`Prometheus`], [`Jaeger`],
//! [`LeaderElection`], [`Tracing`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::project::Phase;
use crate::{duration, names};

pub mod receiver;
pub use receiver::Receiver;

/// File name of the operator configuration in a project directory.
pub const FILE_NAME: &str = "autopilot-operator.yaml";

/// A sidecar worker listens here unless told otherwise; 50051 is gRPC's customary port.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";
/// How often a resource in a non-final phase is synced again when nothing changes: short
/// enough for metric-driven phases, long enough not to load Prometheus.
pub const DEFAULT_WORK_INTERVAL: Duration = Duration::from_secs(5);
/// Reconciles in flight at once: keeps a burst of changes moving without flooding workers.
pub const DEFAULT_CONCURRENCY: u32 = 16;
/// A worker call that takes longer is treated as hung and retried.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// Largest gRPC message either way: 16 MiB fits lists of thousands of objects, where tonic's
/// 4 MiB default does not.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// First retry delay after a retryable failure: quick enough to ride out a worker restart.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Backoff ceiling: a broken dependency is probed twice a minute, not hammered.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// After a permanent error the object is retried this rarely, in case the cause was fixed
/// elsewhere (a spec edit retries at once).
pub const DEFAULT_PERMANENT_ERROR_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Istio's bundled Prometheus.
pub const DEFAULT_PROMETHEUS_URL: &str = "http://prometheus.istio-system:9090";
/// A Prometheus query slower than this is treated as failed: queries feed one reconcile.
pub const DEFAULT_PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(5);
/// The query API of Istio's Jaeger addon (Service `tracing`, served under `/jaeger`).
pub const DEFAULT_JAEGER_URL: &str = "http://tracing.istio-system/jaeger";
/// A trace search slower than this is treated as failed: like a query, it feeds one reconcile,
/// and searches download whole traces, so they get more time than a PromQL query.
pub const DEFAULT_JAEGER_TIMEOUT: Duration = Duration::from_secs(5);
/// Namespace of the leader-election Lease.
pub const DEFAULT_LEASE_NAMESPACE: &str = "default";
/// client-go's defaults: a dead leader is replaced within about 15 s.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// client-go's default: the leader gives up if it cannot renew within 10 s.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// client-go's default interval between acquire/renew attempts.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);
/// Prometheus `/metrics` listens here by default (9091 as in the original autopilot).
pub const DEFAULT_METRICS_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9091);
/// `/healthz` and `/readyz` listen here by default.
pub const DEFAULT_HEALTH_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9092);

/// The scheduler's runtime configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorConfig {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Resync interval of resources in non-final phases.
    #[serde(serialize_with = "duration::serialize")]
    pub work_interval: Duration,
    /// Maximum concurrent reconciles; at least 1.
    pub concurrency: u32,
    /// How to reach the workers.
    pub workers: Workers,
    /// Retry policy for failed worker calls.
    pub retry: Retry,
    /// Where metric inputs are queried.
    pub prometheus: Prometheus,
    /// Where trace inputs are searched.
    pub jaeger: Jaeger,
    /// Leader election among scheduler replicas.
    pub leader_election: LeaderElection,
    /// Address of the Prometheus `/metrics` endpoint; `None` (written `""`) disables it.
    pub metrics_addr: Option<SocketAddr>,
    /// Address of `/healthz` and `/readyz`; `None` (written `""`) disables them.
    pub health_addr: Option<SocketAddr>,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Log line format.
    pub log_format: LogFormat,
    /// OpenTelemetry trace export.
    pub tracing: Tracing,
    /// The HTTP endpoint for external events (off by default).
    pub receiver: Receiver,
    /// Git repositories phases may send outputs to (`git:<name>`), in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub git: Vec<crate::git::GitTarget>,
    /// Receivers of notifications about resources, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<crate::notifications::NotificationReceiver>,
    /// Where fields came from, for cross-file diagnostics; not part of the value.
    #[serde(skip)]
    pub(crate) origin: Origin,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            work_interval: DEFAULT_WORK_INTERVAL,
            concurrency: DEFAULT_CONCURRENCY,
            workers: Workers::default(),
            retry: Retry::default(),
            prometheus: Prometheus::default(),
            jaeger: Jaeger::default(),
            leader_election: LeaderElection::default(),
            metrics_addr: Some(DEFAULT_METRICS_ADDR),
            health_addr: Some(DEFAULT_HEALTH_ADDR),
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            tracing: Tracing::default(),
            receiver: Receiver::default(),
            git: Vec::new(),
            notifications: Vec::new(),
            origin: Origin::default(),
        }
    }
}

impl OperatorConfig {
    /// The Git target named `name`.
    pub fn git_target(&self, name: &str) -> Option<&crate::git::GitTarget> {
        self.git.iter().find(|t| t.name == name)
    }

    /// The endpoint serving `phase`: its override under `workers.phases`, else the default.
    pub fn endpoint_for(&self, phase: &str) -> &Endpoint {
        self.workers
            .phases
            .get(phase)
            .unwrap_or(&self.workers.endpoint)
    }

    /// The call deadline for `phase`: its own `deadline` in `autopilot.yaml`, else
    /// `workers.deadline`.
    pub fn deadline_for(&self, phase: &Phase) -> Duration {
        phase.deadline.unwrap_or(self.workers.deadline)
    }
}

/// The `workers` section: how the scheduler reaches workers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workers {
    /// Endpoint for every phase without an override.
    pub endpoint: Endpoint,
    /// Per-phase endpoint overrides; keys are non-final phases (checked by
    /// [`crate::Model::validate`]).
    pub phases: BTreeMap<String, Endpoint>,
    /// Default call deadline.
    #[serde(serialize_with = "duration::serialize")]
    pub deadline: Duration,
    /// Largest gRPC message in either direction.
    pub max_message_bytes: usize,
    /// Client TLS for `https://` endpoints; `None` uses the system roots and no client
    /// certificate.
    pub tls: Option<Tls>,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::Http(DEFAULT_ENDPOINT.to_owned()),
            phases: BTreeMap::new(),
            deadline: DEFAULT_DEADLINE,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            tls: None,
        }
    }
}

/// Where a worker listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `http://host:port` (plaintext HTTP/2); holds the whole URL.
    Http(String),
    /// `https://host:port`; holds the whole URL.
    Https(String),
    /// A unix socket, written `unix:/path` or `unix:///path`; holds the absolute path.
    Unix(PathBuf),
}

impl Endpoint {
    /// Parse `http://host[:port][/…]`, `https://…`, `unix:/path` or `unix:///path`.
    ///
    /// # Errors
    ///
    /// A sentence naming the accepted forms.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad_form = || {
            format!(
                "`{text}` is not a worker endpoint (http://host:port, https://host:port, \
                 unix:/path or unix:///path)"
            )
        };
        if let Some(rest) = text.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            return if path.starts_with('/') && path.len() > 1 {
                Ok(Self::Unix(PathBuf::from(path)))
            } else {
                Err(bad_form())
            };
        }
        let (rest, make): (&str, fn(String) -> Self) = if let Some(r) = text.strip_prefix("http://")
        {
            (r, Self::Http)
        } else if let Some(r) = text.strip_prefix("https://") {
            (r, Self::Https)
        } else {
            return Err(bad_form());
        };
        check_authority(rest).map_err(|why| format!("{}: {why}", bad_form()))?;
        Ok(make(text.to_owned()))
    }

    /// Whether the connection uses TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Https(_))
    }
}

/// Check the `host[:port]` of a URL after its scheme.
fn check_authority(rest: &str) -> Result<(), String> {
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = if authority.starts_with('[') {
        // [ipv6]:port
        match authority.split_once(']') {
            Some((h, p)) => (&h[1..], p.strip_prefix(':')),
            None => return Err("unclosed '[' in the host".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("`{port}` is not a port"));
    }
    Ok(())
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(url) | Self::Https(url) => f.write_str(url),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Client TLS settings (`workers.tls`); empty strings in the file mean unset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    /// PEM bundle of CAs to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM client key (with `cert_file`).
    pub key_file: Option<PathBuf>,
    /// Name to verify in the server certificate instead of the endpoint's host.
    pub server_name: Option<String>,
}

/// The `retry` section: backoff for retryable worker failures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    /// First delay; doubles per attempt (with jitter).
    #[serde(serialize_with = "duration::serialize")]
    pub initial_backoff: Duration,
    /// Ceiling of the delay; not less than `initial_backoff`.
    #[serde(serialize_with = "duration::serialize")]
    pub max_backoff: Duration,
    /// Retry interval after a permanent error.
    #[serde(serialize_with = "duration::serialize")]
    pub permanent_error_interval: Duration,
    /// Attempts before the error is treated as permanent; 0 means unlimited.
    pub max_attempts: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            permanent_error_interval: DEFAULT_PERMANENT_ERROR_INTERVAL,
            max_attempts: 0,
        }
    }
}

/// The `prometheus` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prometheus {
    /// Base URL (`http://` or `https://`).
    pub url: String,
    /// Timeout of one query.
    #[serde(serialize_with = "duration::serialize")]
    pub timeout: Duration,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self {
            url: DEFAULT_PROMETHEUS_URL.to_owned(),
            timeout: DEFAULT_PROMETHEUS_TIMEOUT,
        }
    }
}

/// The `jaeger` section: Jaeger's query service, whose `api/v3` HTTP API trace inputs search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Jaeger {
    /// Base URL of the query service (`http://` or `https://`), without `/api/v3`.
    pub url: String,
    /// Timeout of one search, retries included.
    #[serde(serialize_with = "duration::serialize")]
    pub timeout: Duration,
}

impl Default for Jaeger {
    fn default() -> Self {
        Self {
            url: DEFAULT_JAEGER_URL.to_owned(),
            timeout: DEFAULT_JAEGER_TIMEOUT,
        }
    }
}

/// The `leaderElection` section; durations satisfy
/// `lease_duration > renew_deadline > retry_period` as client-go requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElection {
    /// Whether replicas elect a leader (off: every replica reconciles, so run one).
    pub enabled: bool,
    /// Lease name; `None` means the operator name (see [`LeaderElection::lease_name_for`]).
    pub lease_name: Option<String>,
    /// Namespace of the Lease.
    pub namespace: String,
    /// How long a lease is valid.
    #[serde(serialize_with = "duration::serialize")]
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up.
    #[serde(serialize_with = "duration::serialize")]
    pub renew_deadline: Duration,
    /// Interval between attempts.
    #[serde(serialize_with = "duration::serialize")]
    pub retry_period: Duration,
}

impl Default for LeaderElection {
    fn default() -> Self {
        Self {
            enabled: false,
            lease_name: None,
            namespace: DEFAULT_LEASE_NAMESPACE.to_owned(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }
}

impl LeaderElection {
    /// The Lease name: `lease_name`, else `operator_name`.
    pub fn lease_name_for<'a>(&'a self, operator_name: &'a str) -> &'a str {
        self.lease_name.as_deref().unwrap_or(operator_name)
    }
}

/// Log verbosity (`logLevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal operation (default).
    Info,
    /// Something is off.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Every level, most verbose first.
    pub const ALL: [Self; 5] = [
        Self::Trace,
        Self::Debug,
        Self::Info,
        Self::Warn,
        Self::Error,
    ];

    /// The name as written in the file, also a valid `tracing` filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        names::variant(s, "log level", &Self::ALL, Self::as_str)
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Log line format (`logFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default).
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Both formats.
    pub const ALL: [Self; 2] = [Self::Text, Self::Json];

    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        names::variant(s, "log format", &Self::ALL, Self::as_str)
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `tracing` section: OpenTelemetry export.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracing {
    /// OTLP/gRPC collector URL; `None` (written `""`) disables export.
    pub otlp_endpoint: Option<String>,
    /// Fraction of root traces sampled, 0 to 1.
    pub sample_ratio: f64,
    /// `service.name`; `None` means the operator name (see [`Tracing::service_name_for`]).
    pub service_name: Option<String>,
}

impl Default for Tracing {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 1.0,
            service_name: None,
        }
    }
}

impl Tracing {
    /// The service name: `service_name`, else `operator_name`.
    pub fn service_name_for<'a>(&'a self, operator_name: &'a str) -> &'a str {
        self.service_name.as_deref().unwrap_or(operator_name)
    }
}

impl OperatorConfig {
    /// Whether `prometheus.url` was left out of the file, so that metric queries go to
    /// [`DEFAULT_PROMETHEUS_URL`] (the scheduler says so at start).
    ///
    /// ```
    /// let written = autopilot_model::parse_operator("o.yaml", "prometheus: {url: 'http://p:9090'}").unwrap();
    /// assert!(!written.prometheus_url_is_default());
    /// assert!(autopilot_model::parse_operator("o.yaml", "").unwrap().prometheus_url_is_default());
    /// ```
    pub fn prometheus_url_is_default(&self) -> bool {
        !self.origin.locations.contains_key("prometheus.url")
    }
}

/// Where the file's fields were, so that checks made later against the project can point into
/// the file. Always equal: locations are not part of the configuration.
#[derive(Clone, Debug, Default)]
pub(crate) struct Origin {
    /// The file, as the caller named it.
    pub(crate) file: PathBuf,
    /// `field path → (line, column)` for the fields cross-checks report on.
    pub(crate) locations: BTreeMap<String, (usize, usize)>,
}

impl Origin {
    /// The location of `field`, or `(0, 0)` (the whole file) when it was not written.
    pub(crate) fn at(&self, field: &str) -> (usize, usize) {
        self.locations.get(field).copied().unwrap_or((0, 0))
    }
}

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let cases: &[(&str, Option<Endpoint>)] = &[
            (
                "http://127.0.0.1:50051",
                Some(Endpoint::Http("http://127.0.0.1:50051".into())),
            ),
            (
                "http://worker",
                Some(Endpoint::Http("http://worker".into())),
            ),
            (
                "https://w.ns.svc:443/",
                Some(Endpoint::Https("https://w.ns.svc:443/".into())),
            ),
            (
                "http://[::1]:50051",
                Some(Endpoint::Http("http://[::1]:50051".into())),
            ),
            (
                "unix:/tmp/w.sock",
                Some(Endpoint::Unix("/tmp/w.sock".into())),
            ),
            (
                "unix:///tmp/w.sock",
                Some(Endpoint::Unix("/tmp/w.sock".into())),
            ),
            ("unix:tmp/w.sock", None),
            ("unix://tmp/w.sock", None),
            ("unix:/", None),
            ("grpc://w:1", None),
            ("127.0.0.1:50051", None),
            ("http://", None),
            ("http://:80", None),
            ("http://w:port", None),
            ("http://w:70000", None),
            ("http://[::1:80", None),
        ];
        for (text, want) in cases {
            assert_eq!(Endpoint::parse(text).ok(), *want, "{text}");
        }
        assert_eq!(Endpoint::Unix("/a".into()).to_string(), "unix:/a");
        assert!(Endpoint::parse("https://x").unwrap().is_tls());
        assert_eq!(
            "unix:///a".parse::<Endpoint>(),
            Ok(Endpoint::Unix("/a".into()))
        );
    }

    #[test]
    fn enums_from_strings() {
        for level in LogLevel::ALL {
            assert_eq!(level.to_string().parse::<LogLevel>(), Ok(level));
        }
        assert_eq!(
            "verbose".parse::<LogLevel>(),
            Err("unknown log level `verbose` (one of: trace, debug, info, warn, error)".into())
        );
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(
            "typescript".parse::<crate::Language>(),
            Ok(crate::Language::Typescript)
        );
        assert_eq!(
            "deployment".parse::<crate::WorkerMode>(),
            Ok(crate::WorkerMode::Deployment)
        );
        assert!("ts".parse::<crate::Language>().is_err());
    }

    #[test]
    fn defaults_and_lookups() {
        let mut config = OperatorConfig::default();
        config
            .workers
            .phases
            .insert("B".into(), Endpoint::Unix("/b.sock".into()));
        assert_eq!(config.endpoint_for("A").to_string(), DEFAULT_ENDPOINT);
        assert_eq!(config.endpoint_for("B").to_string(), "unix:/b.sock");
        assert_eq!(config.leader_election.lease_name_for("op"), "op");
        assert_eq!(config.tracing.service_name_for("op"), "op");
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["workInterval"], "5s");
        assert_eq!(json["retry"]["initialBackoff"], "200ms");
        assert_eq!(json["metricsAddr"], "0.0.0.0:9091");
        assert!(json.get("origin").is_none());
    }
}
