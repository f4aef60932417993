//! `ap init`: a new project with three example phases and every operator setting spelled out.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use autopilot_model::{Language, PROJECT_FILE_NAME, operator};

/// Arguments of `ap init`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory of the new project (created if missing).
    pub(crate) dir: PathBuf,
    /// Kind of the custom resource (UpperCamelCase).
    #[arg(long, default_value = "Example")]
    pub(crate) kind: String,
    /// API group of the custom resource.
    #[arg(long, default_value = "examples.io")]
    pub(crate) group: String,
    /// API version of the custom resource.
    #[arg(long, default_value = "v1")]
    pub(crate) version: String,
    /// Language of the worker: rust, go, python, typescript or java. A Rust worker is the
    /// project's default; any other language is written as the project's one worker.
    #[arg(long, default_value = "rust", value_parser = crate::parse_language)]
    pub(crate) lang: Language,
}

/// Write both project files into `args.dir`, refusing to overwrite either.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let project_path = args.dir.join(PROJECT_FILE_NAME);
    let operator_path = args.dir.join(operator::FILE_NAME);
    for path in [&project_path, &operator_path] {
        if path.exists() {
            bail!(
                "{} already exists; not overwriting a project",
                path.display()
            );
        }
    }
    let project = project_file(args);
    // The flags end up in the file: check it now rather than at the first `ap validate`.
    if let Err(diagnostics) = autopilot_model::parse_project(&project_path, &project) {
        bail!(
            "--kind {} --group {} --version {} do not make a valid project:\n{diagnostics}",
            args.kind,
            args.group,
            args.version
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    write(&project_path, &project)?;
    write(&operator_path, OPERATOR_FILE)?;
    println!(
        "created {} and {}\nnext: cd {} && ap generate --lang {}",
        project_path.display(),
        operator_path.display(),
        args.dir.display(),
        args.lang
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `autopilot.yaml` for `args`: Initializing → Processing → Finished.
fn project_file(args: &Args) -> String {
    let operator = args.kind.to_lowercase();
    // Without a `workers` list the project has one Rust worker named after the operator; any
    // other language needs the list so that `ap generate --lang <language>` finds its worker.
    let workers = match args.lang {
        Language::Rust => String::new(),
        lang => format!(
            "\n# Which worker serves which phases (default: all non-final phases), in which language.\n\
             workers:\n  - name: {operator}-worker\n    language: {lang}\n"
        ),
    };
    format!(
        r#"# What the operator is. Run `ap validate` after editing, then `ap generate`.
apiVersion: {group}/{version}
kind: {kind}
operatorName: {operator}-operator
# Add a finalizer so workers can clean up before a resource is deleted.
finalizer: false

# OpenAPI v3 schema of .spec: becomes the CRD schema and the worker's typed Spec.
spec:
  type: object
  required: [target]
  # CEL rules the API server checks when a resource is written (`ap validate` parses them).
  x-kubernetes-validations:
    - rule: self.target == oldSelf.target
      message: target cannot change; create another resource for another workload
  properties:
    target:
      type: string
      description: Name of the workload (Deployment) the operator acts on.
    stepWeight:
      type: integer
      description: Percent of traffic shifted per step.
      minimum: 1
      maximum: 100
      default: 10
    successThreshold:
      type: number
      description: Lowest acceptable success rate, from 0 to 1.
      default: 0.99
      x-kubernetes-validations:
        - rule: self > 0.0 && self <= 1.0
          messageExpression: "self > 1.0 ? 'successThreshold must be at most 1' : 'successThreshold must be above 0'"

# Schema of .status.statusInfo: what workers remember between calls.
statusInfo:
  type: object
  properties:
    weight:
      type: integer
      description: Percent of traffic currently shifted.

phases:
  - name: Initializing
    description: Set up the traffic routing for the target.
    initial: true
    outputs: [virtualservices]
    next: [Processing]

  - name: Processing
    description: Shift traffic step by step while the success rate holds.
    inputs: [virtualservices, metrics]
    outputs: [virtualservices]
    next: [Finished]

  - name: Finished
    final: true

# PromQL queries; a phase with `metrics` among its inputs receives each result by name.
queries:
  - name: success-rate
    query: 'sum(rate(istio_requests_total{{destination_workload="{{{{ spec.target }}}}",response_code!~"5.*"}}[1m])) / sum(rate(istio_requests_total{{destination_workload="{{{{ spec.target }}}}"}}[1m]))'
{workers}"#,
        group = args.group,
        version = args.version,
        kind = args.kind,
    )
}

/// `autopilot-operator.yaml`: every setting, at its default.
pub(crate) const OPERATOR_FILE: &str = r#"# How the operator runs. Every setting is optional; these are the defaults.

# Namespaces to watch; empty means all.
namespaces: []
# How often a resource in a non-final phase is synced again when nothing changes.
workInterval: 5s
# Reconciles in flight at once.
concurrency: 16

workers:
  # Where the worker listens: http://host:port, https://host:port, unix:/path.
  endpoint: http://127.0.0.1:50051
  # Per-phase endpoint overrides, e.g. `Processing: https://analysis.ns.svc:50051`.
  phases: {}
  # Default call deadline; a phase's own `deadline` in autopilot.yaml overrides it.
  deadline: 10s
  # Largest gRPC message either way (16 MiB).
  maxMessageBytes: 16777216
  # Client TLS for https:// endpoints (default: system roots, no client certificate).
  # tls:
  #   caFile: /etc/autopilot/tls/ca.crt
  #   certFile: /etc/autopilot/tls/tls.crt
  #   keyFile: /etc/autopilot/tls/tls.key
  #   serverName: worker.example.svc

retry:
  # First delay after a retryable failure; doubles per attempt, with jitter.
  initialBackoff: 200ms
  # Ceiling of the delay.
  maxBackoff: 30s
  # Retry interval after a permanent error (a spec edit retries at once).
  permanentErrorInterval: 5m
  # Attempts before an error is treated as permanent; 0 means unlimited.
  maxAttempts: 0

prometheus:
  # Where metric inputs are queried.
  url: http://prometheus.istio-system:9090
  # Timeout of one query.
  timeout: 5s

leaderElection:
  # Elect a leader among scheduler replicas (off: run a single replica).
  enabled: false
  # Lease name; empty means the operator name.
  leaseName: ""
  namespace: default
  leaseDuration: 15s
  renewDeadline: 10s
  retryPeriod: 2s

# Prometheus /metrics and /healthz + /readyz addresses; "" disables.
metricsAddr: "0.0.0.0:9091"
healthAddr: "0.0.0.0:9092"
# trace, debug, info, warn or error.
logLevel: info
# text or json.
logFormat: text

tracing:
  # OTLP/gRPC collector URL; "" disables trace export.
  otlpEndpoint: ""
  # Fraction of root traces sampled, 0 to 1.
  sampleRatio: 1.0
  # service.name; empty means the operator name.
  serviceName: ""

# Who is told when a resource changes phase, fails, is blocked, recovers, waits at a gate or
# finishes (none by default). Each entry is one `webhook`, `slack` or `alertmanager` receiver.
# Delivery is retried with backoff and never holds up a reconcile; autopilot_notifications_total
# counts delivered, retried, failed and dropped notifications per receiver.
# notifications:
#   # JSON POST of every event. With a key, signed: X-Autopilot-Timestamp: <unix seconds> and
#   # X-Autopilot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">.
#   - name: releases
#     webhook:
#       url: https://hooks.example.com/autopilot
#       secretFile: /var/run/autopilot/notify/key    # or secretEnv: NOTIFY_KEY
#     # phaseChanged, finished, failed, blocked, recovered, gateWaiting (default: all).
#     events: [phaseChanged, failed, blocked, gateWaiting, finished]
#     # Only resources in these phases / namespaces (default: all).
#     phases: []
#     namespaces: []
#   # {"text": ...} to a Slack-compatible incoming webhook, with an optional template over
#   # event, operator, kind, name, namespace, phase, previousPhase, reason, message, spec.*, status.*
#   - slack:
#       url: https://hooks.slack.com/services/T000/B000/XXXX
#     events: [failed, blocked, gateWaiting]
#     template: "{{ kind }} {{ namespace }}/{{ name }} {{ event }} in {{ phase }}: {{ message }}"
#   # Alerts to Alertmanager's /api/v2/alerts: failed and blocked fire, recovered resolves.
#   - alertmanager:
#       url: http://alertmanager.monitoring:9093
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_file_spells_out_the_defaults() {
        let parsed = autopilot_model::parse_operator(operator::FILE_NAME, OPERATOR_FILE).unwrap();
        assert_eq!(parsed, autopilot_model::OperatorConfig::default());
    }

    #[test]
    fn commented_notifications_parse_when_uncommented() {
        let block: String = OPERATOR_FILE
            .lines()
            .skip_while(|l| *l != "# notifications:")
            .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
            .collect();
        let parsed = autopilot_model::parse_operator(operator::FILE_NAME, &block)
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(parsed.notifications.len(), 3);
    }

    #[test]
    fn project_file_is_valid_in_every_language() {
        for lang in Language::ALL {
            let args = Args {
                dir: PathBuf::from("x"),
                kind: "Example".into(),
                group: "examples.io".into(),
                version: "v1".into(),
                lang,
            };
            let project = autopilot_model::parse_project("autopilot.yaml", &project_file(&args))
                .unwrap_or_else(|e| panic!("{lang}: {e}"));
            assert_eq!(project.operator_name, "example-operator");
            assert_eq!(project.phases.len(), 3);
            assert!(project.uses_metrics());
            let [worker] = project.workers.as_slice() else {
                panic!("{lang}: expected one worker, got {:?}", project.workers);
            };
            assert_eq!(worker.language, lang);
            assert_eq!(worker.phases, ["Initializing", "Processing"], "{lang}");
            let name = if lang == Language::Rust {
                "example-operator"
            } else {
                "example-worker"
            };
            assert_eq!(worker.name, name, "{lang}");
        }
    }
}
