//! `autopilot-operator.yaml` as written, and the checks that merge it over the defaults into an
//! [`OperatorConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Report, SpannedMap, position};
use crate::diagnostic::Diagnostics;
use crate::operator::{
    Endpoint, Jaeger, LeaderElection, LogFormat, LogLevel, OperatorConfig, Origin, Prometheus,
    Retry, Tls, Tracing, Workers,
};
use crate::{duration, names};

type S<T> = Spanned<T>;

/// The whole file; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct OperatorFile {
    namespaces: Option<Vec<S<String>>>,
    work_interval: Option<S<String>>,
    concurrency: Option<S<u32>>,
    workers: Option<WorkersFile>,
    retry: Option<RetryFile>,
    prometheus: Option<PrometheusFile>,
    jaeger: Option<PrometheusFile>,
    leader_election: Option<LeaderElectionFile>,
    metrics_addr: Option<S<String>>,
    health_addr: Option<S<String>>,
    log_level: Option<LogLevel>,
    log_format: Option<LogFormat>,
    tracing: Option<TracingFile>,
    receiver: Option<super::receiver_file::ReceiverFile>,
    git: Option<SpannedMap<S<super::git_file::GitTargetFile>>>,
    notifications: Option<Vec<S<super::notifications_file::ReceiverFile>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WorkersFile {
    endpoint: Option<S<String>>,
    phases: Option<SpannedMap<S<String>>>,
    deadline: Option<S<String>>,
    max_message_bytes: Option<S<usize>>,
    tls: Option<TlsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TlsFile {
    ca_file: Option<String>,
    cert_file: Option<S<String>>,
    key_file: Option<S<String>>,
    server_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetryFile {
    initial_backoff: Option<S<String>>,
    max_backoff: Option<S<String>>,
    permanent_error_interval: Option<S<String>>,
    max_attempts: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PrometheusFile {
    url: Option<S<String>>,
    timeout: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LeaderElectionFile {
    enabled: Option<bool>,
    lease_name: Option<S<String>>,
    namespace: Option<S<String>>,
    lease_duration: Option<S<String>>,
    renew_deadline: Option<S<String>>,
    retry_period: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TracingFile {
    otlp_endpoint: Option<S<String>>,
    sample_ratio: Option<S<f64>>,
    service_name: Option<String>,
}

/// Check `file` and merge it over the defaults, reporting every problem.
pub(crate) fn build(path: &Path, file: OperatorFile) -> Result<OperatorConfig, Diagnostics> {
    let mut r = Report::new(path);
    let mut origin = Origin {
        file: path.to_owned(),
        ..Origin::default()
    };
    let defaults = OperatorConfig::default();

    let mut namespaces: Vec<String> = Vec::new();
    for (i, ns) in file.namespaces.iter().flatten().enumerate() {
        let field = format!("namespaces[{i}]");
        if let Err(why) = names::dns_label(&ns.value) {
            r.error(&ns.referenced, &field, why);
        } else if namespaces.contains(&ns.value) {
            r.error(
                &ns.referenced,
                &field,
                format!("`{}` is listed twice", ns.value),
            );
        }
        namespaces.push(ns.value.clone());
    }
    let concurrency = match &file.concurrency {
        Some(c) if c.value == 0 => {
            r.error(&c.referenced, "concurrency", "must be at least 1");
            defaults.concurrency
        }
        Some(c) => c.value,
        None => defaults.concurrency,
    };
    let config = OperatorConfig {
        namespaces,
        work_interval: duration_or(
            &mut r,
            &file.work_interval,
            "workInterval",
            defaults.work_interval,
        ),
        concurrency,
        workers: workers(&mut r, file.workers.unwrap_or_default(), &mut origin),
        retry: retry(&mut r, file.retry.unwrap_or_default()),
        prometheus: prometheus(&mut r, file.prometheus.unwrap_or_default(), &mut origin),
        jaeger: jaeger(&mut r, file.jaeger.unwrap_or_default()),
        leader_election: leader_election(&mut r, file.leader_election.unwrap_or_default()),
        metrics_addr: address(
            &mut r,
            &file.metrics_addr,
            "metricsAddr",
            defaults.metrics_addr,
        ),
        health_addr: address(
            &mut r,
            &file.health_addr,
            "healthAddr",
            defaults.health_addr,
        ),
        log_level: file.log_level.unwrap_or(defaults.log_level),
        log_format: file.log_format.unwrap_or(defaults.log_format),
        tracing: tracing(&mut r, file.tracing.unwrap_or_default()),
        receiver: super::receiver_file::receiver(
            &mut r,
            file.receiver.unwrap_or_default(),
            &mut origin,
        ),
        git: file
            .git
            .map(|targets| super::git_file::targets(&mut r, targets, &mut origin))
            .unwrap_or_default(),
        notifications: file
            .notifications
            .map(|n| super::notifications_file::receivers(&mut r, n, &mut origin))
            .unwrap_or_default(),
        origin,
    };
    if let (Some(metrics), Some(health), Some(at)) =
        (config.metrics_addr, config.health_addr, &file.health_addr)
        && metrics == health
    {
        r.error(
            &at.referenced,
            "healthAddr",
            format!("`{health}` is also metricsAddr"),
        );
    }
    r.finish(config)
}

/// The duration in `value`, else `default` (also after reporting a malformed value).
pub(super) fn duration_or(
    r: &mut Report,
    value: &Option<S<String>>,
    field: &str,
    default: Duration,
) -> Duration {
    let Some(v) = value else {
        return default;
    };
    duration::parse(&v.value).unwrap_or_else(|why| {
        r.error(&v.referenced, field, why);
        default
    })
}

/// A listen address; `""` disables it.
pub(super) fn address(
    r: &mut Report,
    value: &Option<S<String>>,
    field: &str,
    default: Option<SocketAddr>,
) -> Option<SocketAddr> {
    let Some(v) = value else {
        return default;
    };
    if v.value.is_empty() {
        return None;
    }
    v.value.parse().map_or_else(
        |_| {
            r.error(
                &v.referenced,
                field,
                format!(
                    "`{}` is not an IP:port address such as 0.0.0.0:9091 (\"\" disables)",
                    v.value
                ),
            );
            default
        },
        Some,
    )
}

/// An `http://` or `https://` URL.
fn http_url(r: &mut Report, value: &S<String>, field: &str) {
    match Endpoint::parse(&value.value) {
        Ok(Endpoint::Http(_) | Endpoint::Https(_)) => {}
        _ => r.error(
            &value.referenced,
            field,
            format!("`{}` is not an http:// or https:// URL", value.value),
        ),
    }
}

fn endpoint(r: &mut Report, value: &S<String>, field: &str) -> Option<Endpoint> {
    Endpoint::parse(&value.value)
        .map_err(|why| r.error(&value.referenced, field, why))
        .ok()
}

fn workers(r: &mut Report, file: WorkersFile, origin: &mut Origin) -> Workers {
    let defaults = Workers::default();
    let mut endpoint_default = defaults.endpoint;
    if let Some(e) = &file.endpoint {
        origin
            .locations
            .insert("workers.endpoint".into(), position(&e.referenced));
        if let Some(parsed) = endpoint(r, e, "workers.endpoint") {
            endpoint_default = parsed;
        }
    }
    let mut phases = std::collections::BTreeMap::new();
    for (phase, value) in file.phases.map(|m| m.0).unwrap_or_default() {
        let field = format!("workers.phases.{}", phase.value);
        origin
            .locations
            .insert(field.clone(), position(&phase.referenced));
        if let Some(parsed) = endpoint(r, &value, &field) {
            phases.insert(phase.value, parsed);
        }
    }
    let max_message_bytes = match &file.max_message_bytes {
        Some(n) if n.value == 0 => {
            r.error(
                &n.referenced,
                "workers.maxMessageBytes",
                "must be at least 1",
            );
            defaults.max_message_bytes
        }
        Some(n) => n.value,
        None => defaults.max_message_bytes,
    };
    Workers {
        endpoint: endpoint_default,
        phases,
        deadline: duration_or(r, &file.deadline, "workers.deadline", defaults.deadline),
        max_message_bytes,
        tls: file.tls.map(|tls| self::tls(r, tls)),
    }
}

fn tls(r: &mut Report, file: TlsFile) -> Tls {
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let cert = file.cert_file.filter(|c| !c.value.is_empty());
    let key = file.key_file.filter(|k| !k.value.is_empty());
    match (&cert, &key) {
        (Some(c), None) => r.error(&c.referenced, "workers.tls.certFile", "needs keyFile too"),
        (None, Some(k)) => r.error(&k.referenced, "workers.tls.keyFile", "needs certFile too"),
        _ => {}
    }
    Tls {
        ca_file: non_empty(file.ca_file).map(PathBuf::from),
        cert_file: cert.map(|c| PathBuf::from(c.value)),
        key_file: key.map(|k| PathBuf::from(k.value)),
        server_name: non_empty(file.server_name),
    }
}

fn retry(r: &mut Report, file: RetryFile) -> Retry {
    let defaults = Retry::default();
    let retry = Retry {
        initial_backoff: duration_or(
            r,
            &file.initial_backoff,
            "retry.initialBackoff",
            defaults.initial_backoff,
        ),
        max_backoff: duration_or(
            r,
            &file.max_backoff,
            "retry.maxBackoff",
            defaults.max_backoff,
        ),
        permanent_error_interval: duration_or(
            r,
            &file.permanent_error_interval,
            "retry.permanentErrorInterval",
            defaults.permanent_error_interval,
        ),
        max_attempts: file.max_attempts.unwrap_or(defaults.max_attempts),
    };
    if retry.initial_backoff > retry.max_backoff {
        let (at, field) = match (&file.initial_backoff, &file.max_backoff) {
            (_, Some(max)) => (max, "retry.maxBackoff"),
            (Some(initial), None) => (initial, "retry.initialBackoff"),
            (None, None) => return retry,
        };
        r.error(
            &at.referenced,
            field,
            "maxBackoff must not be less than initialBackoff",
        );
    }
    retry
}

fn prometheus(r: &mut Report, file: PrometheusFile, origin: &mut Origin) -> Prometheus {
    let defaults = Prometheus::default();
    if let Some(url) = &file.url {
        http_url(r, url, "prometheus.url");
        origin
            .locations
            .insert("prometheus.url".to_owned(), position(&url.referenced));
    }
    Prometheus {
        url: file.url.map_or(defaults.url, |u| u.value),
        timeout: duration_or(r, &file.timeout, "prometheus.timeout", defaults.timeout),
    }
}

/// The `jaeger` section has the shape of the `prometheus` one: a URL and a timeout.
fn jaeger(r: &mut Report, file: PrometheusFile) -> Jaeger {
    let defaults = Jaeger::default();
    if let Some(url) = &file.url {
        http_url(r, url, "jaeger.url");
    }
    Jaeger {
        url: file.url.map_or(defaults.url, |u| u.value),
        timeout: duration_or(r, &file.timeout, "jaeger.timeout", defaults.timeout),
    }
}

fn leader_election(r: &mut Report, file: LeaderElectionFile) -> LeaderElection {
    let defaults = LeaderElection::default();
    let lease_name = file.lease_name.filter(|n| !n.value.is_empty());
    if let Some(n) = &lease_name
        && let Err(why) = names::dns_label(&n.value)
    {
        r.error(&n.referenced, "leaderElection.leaseName", why);
    }
    let namespace = file.namespace.filter(|n| !n.value.is_empty());
    if let Some(n) = &namespace
        && let Err(why) = names::dns_label(&n.value)
    {
        r.error(&n.referenced, "leaderElection.namespace", why);
    }
    let election = LeaderElection {
        enabled: file.enabled.unwrap_or(defaults.enabled),
        lease_name: lease_name.map(|n| n.value),
        namespace: namespace.map_or(defaults.namespace, |n| n.value),
        lease_duration: duration_or(
            r,
            &file.lease_duration,
            "leaderElection.leaseDuration",
            defaults.lease_duration,
        ),
        renew_deadline: duration_or(
            r,
            &file.renew_deadline,
            "leaderElection.renewDeadline",
            defaults.renew_deadline,
        ),
        retry_period: duration_or(
            r,
            &file.retry_period,
            "leaderElection.retryPeriod",
            defaults.retry_period,
        ),
    };
    // client-go refuses other orderings; report at the later of the two fields written.
    let checks = [
        (
            election.lease_duration > election.renew_deadline,
            [
                (&file.renew_deadline, "leaderElection.renewDeadline"),
                (&file.lease_duration, "leaderElection.leaseDuration"),
            ],
            "leaseDuration must be greater than renewDeadline",
        ),
        (
            election.renew_deadline > election.retry_period,
            [
                (&file.retry_period, "leaderElection.retryPeriod"),
                (&file.renew_deadline, "leaderElection.renewDeadline"),
            ],
            "renewDeadline must be greater than retryPeriod",
        ),
    ];
    for (ok, fields, message) in checks {
        if ok {
            continue;
        }
        if let Some((Some(at), field)) = fields.iter().find(|(v, _)| v.is_some()) {
            r.error(&at.referenced, field, message);
        }
    }
    election
}

fn tracing(r: &mut Report, file: TracingFile) -> Tracing {
    let defaults = Tracing::default();
    let otlp = file.otlp_endpoint.filter(|e| !e.value.is_empty());
    if let Some(e) = &otlp {
        http_url(r, e, "tracing.otlpEndpoint");
    }
    let sample_ratio = match &file.sample_ratio {
        Some(s) if !(0.0..=1.0).contains(&s.value) => {
            r.error(
                &s.referenced,
                "tracing.sampleRatio",
                "must be between 0 and 1",
            );
            defaults.sample_ratio
        }
        Some(s) => s.value,
        None => defaults.sample_ratio,
    };
    Tracing {
        otlp_endpoint: otlp.map(|e| e.value),
        sample_ratio,
        service_name: file.service_name.filter(|s| !s.is_empty()),
    }
}

#[cfg(test)]
mod tests;
