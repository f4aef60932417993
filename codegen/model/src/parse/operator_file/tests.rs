//! Table tests of the `autopilot-operator.yaml` checks: each case is a file, where its error must be, and
//! what the message must say.

use crate::operator::{Endpoint, LogFormat, LogLevel, OperatorConfig};
use crate::parse::table::{Case, check};
use crate::parse_operator;
use std::time::Duration;

#[test]
fn rules() {
    let cases: &[Case] = &[
        (
            "bad duration",
            "workInterval: 5x\n",
            "1:15",
            "workInterval: `5x` is not a duration",
        ),
        (
            "duration without unit",
            "workers:\n  deadline: 10\n",
            "2:13",
            "workers.deadline: `10` is not a duration",
        ),
        (
            "zero duration",
            "prometheus: {timeout: 0s}\n",
            "1:23",
            "prometheus.timeout: duration `0s` must be greater than zero",
        ),
        (
            "bad retry duration",
            "retry:\n  maxBackoff: forever\n",
            "2:15",
            "retry.maxBackoff: `forever` is not a duration",
        ),
        (
            "backoff ordering",
            "retry:\n  initialBackoff: 1m\n  maxBackoff: 10s\n",
            "3:15",
            "maxBackoff must not be less than initialBackoff",
        ),
        (
            "unknown log level",
            "logLevel: verbose\n",
            "1:11",
            "logLevel: unknown variant `verbose`, expected one of trace, debug, info, warn, error",
        ),
        (
            "unknown log format",
            "logFormat: yaml\n",
            "1:12",
            "logFormat: unknown variant `yaml`, expected one of text, json",
        ),
        (
            "bad endpoint scheme",
            "workers:\n  endpoint: grpc://w:50051\n",
            "2:13",
            "workers.endpoint: `grpc://w:50051` is not a worker endpoint",
        ),
        (
            "relative unix socket",
            "workers:\n  endpoint: unix:w.sock\n",
            "2:13",
            "is not a worker endpoint",
        ),
        (
            "bad per-phase endpoint",
            "workers:\n  phases:\n    Processing: tcp://x\n",
            "3:17",
            "workers.phases.Processing: `tcp://x` is not a worker endpoint",
        ),
        (
            "bad port",
            "workers:\n  endpoint: http://w:99999\n",
            "2:13",
            "`99999` is not a port",
        ),
        (
            "concurrency 0",
            "concurrency: 0\n",
            "1:14",
            "concurrency: must be at least 1",
        ),
        (
            "negative concurrency",
            "concurrency: -2\n",
            "1:14",
            "concurrency: expected a whole number in range, found `-2`",
        ),
        (
            "maxMessageBytes 0",
            "workers: {maxMessageBytes: 0}\n",
            "1:28",
            "workers.maxMessageBytes: must be at least 1",
        ),
        (
            "unknown field",
            "workInterval: 5s\nwatchNamespace: x\n",
            "2:1",
            "watchNamespace: unknown field `watchNamespace`",
        ),
        (
            "unknown nested field",
            "leaderElection:\n  enable: true\n",
            "2:3",
            "leaderElection.enable: unknown field `enable`",
        ),
        (
            "wrong type",
            "namespaces: shop\n",
            "1:13",
            "namespaces: expected a list, found `shop`",
        ),
        (
            "bad namespace",
            "namespaces: [shop, Shop]\n",
            "1:20",
            "namespaces[1]: `Shop` is not a DNS-1123 label",
        ),
        (
            "duplicate namespace",
            "namespaces: [shop, shop]\n",
            "1:20",
            "namespaces[1]: `shop` is listed twice",
        ),
        (
            "bad metrics address",
            "metricsAddr: \":9091\"\n",
            "1:14",
            "metricsAddr: `:9091` is not an IP:port address",
        ),
        (
            "metrics and health on one address",
            "metricsAddr: 0.0.0.0:9000\nhealthAddr: 0.0.0.0:9000\n",
            "2:13",
            "healthAddr: `0.0.0.0:9000` is also metricsAddr",
        ),
        (
            "bad prometheus url",
            "prometheus:\n  url: prometheus:9090\n",
            "2:8",
            "prometheus.url: `prometheus:9090` is not an http:// or https:// URL",
        ),
        (
            "bad jaeger url",
            "jaeger:\n  url: jaeger:16686\n  timeout: 2s\n",
            "2:8",
            "jaeger.url: `jaeger:16686` is not an http:// or https:// URL",
        ),
        (
            "jaeger timeout of zero",
            "jaeger: {timeout: 0s}\n",
            "1:19",
            "jaeger.timeout: duration `0s` must be greater than zero",
        ),
        (
            "lease ordering",
            "leaderElection:\n  leaseDuration: 5s\n",
            "2:18",
            "leaseDuration must be greater than renewDeadline",
        ),
        (
            "renew ordering",
            "leaderElection:\n  retryPeriod: 10s\n",
            "2:16",
            "renewDeadline must be greater than retryPeriod",
        ),
        (
            "bad lease name",
            "leaderElection: {leaseName: My_Lease}\n",
            "1:29",
            "leaderElection.leaseName: `My_Lease` is not a DNS-1123 label",
        ),
        (
            "cert without key",
            "workers:\n  tls: {certFile: /c.pem}\n",
            "2:19",
            "workers.tls.certFile: needs keyFile too",
        ),
        (
            "sample ratio",
            "tracing: {sampleRatio: 1.5}\n",
            "1:24",
            "tracing.sampleRatio: must be between 0 and 1",
        ),
        (
            "bad otlp endpoint",
            "tracing: {otlpEndpoint: collector:4317}\n",
            "1:25",
            "tracing.otlpEndpoint: `collector:4317` is not an http:// or https:// URL",
        ),
        (
            "syntax",
            "workers:\n  endpoint: http://x\n phases: {}\n",
            "3:2",
            "",
        ),
    ];
    check(cases, |yaml| {
        parse_operator("autopilot-operator.yaml", yaml)
    });
}

#[test]
fn every_error_is_reported() {
    let err = parse_operator(
        "op.yaml",
        "workInterval: 5x\nconcurrency: 0\nworkers: {endpoint: ftp://x, deadline: 1y}\n",
    )
    .unwrap_err();
    let fields: Vec<&str> = err.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        ["workInterval", "concurrency", "workers.endpoint"],
        "{err}"
    );
}

#[test]
fn empty_file_is_all_defaults() {
    for text in ["", "# nothing\n", "{}\n"] {
        assert_eq!(
            parse_operator("op.yaml", text).unwrap(),
            OperatorConfig::default()
        );
    }
}

#[test]
fn values_and_empty_strings_merge_over_defaults() {
    let config = parse_operator(
        "op.yaml",
        concat!(
            "workInterval: 1m30s\nmetricsAddr: \"\"\nlogLevel: warn\nlogFormat: json\n",
            "workers:\n  endpoint: unix:///run/w.sock\n  phases: {B: 'https://b:443'}\n",
            "  tls: {caFile: /ca.pem, certFile: '', keyFile: '', serverName: ''}\n",
            "leaderElection: {enabled: true, leaseName: '', leaseDuration: 30s}\n",
            "tracing: {otlpEndpoint: '', sampleRatio: 0}\n",
        ),
    )
    .unwrap();
    assert_eq!(config.work_interval, Duration::from_secs(90));
    assert_eq!(config.metrics_addr, None);
    assert_eq!(config.health_addr, OperatorConfig::default().health_addr);
    assert_eq!(
        (config.log_level, config.log_format),
        (LogLevel::Warn, LogFormat::Json)
    );
    assert_eq!(
        config.endpoint_for("A"),
        &Endpoint::Unix("/run/w.sock".into())
    );
    assert_eq!(
        config.endpoint_for("B"),
        &Endpoint::Https("https://b:443".into())
    );
    let tls = config.workers.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new("/ca.pem"))
    );
    assert_eq!(
        (&tls.cert_file, &tls.key_file, &tls.server_name),
        (&None, &None, &None)
    );
    assert!(config.leader_election.enabled);
    assert_eq!(config.leader_election.lease_name_for("op"), "op");
    assert_eq!(
        config.leader_election.lease_duration,
        Duration::from_secs(30)
    );
    assert_eq!(config.leader_election.namespace, "default");
    assert_eq!(
        (
            config.tracing.otlp_endpoint.as_deref(),
            config.tracing.sample_ratio
        ),
        (None, 0.0)
    );
    assert_eq!(config.retry, crate::operator::Retry::default());
}
