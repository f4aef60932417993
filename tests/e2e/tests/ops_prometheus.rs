//! Metric inputs against a real Prometheus scraping an exporter the test controls.
use std::time::Duration;

use autopilot_e2e::project::{self, create_task, task_status};
use autopilot_e2e::prometheus::{Exporter, PrometheusServer};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use autopilot_proto::v1::metric_result::ResultType;
use autopilot_proto::v1::{MetricResult, SyncRequest};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(90);

const PROJECT: &str = r#"apiVersion: e2e.autopilot.dev/v1
kind: Task
operatorName: task-operator
spec:
  type: object
  properties:
    behavior:
      type: string
    message:
      type: string
phases:
  - name: Initializing
    initial: true
    inputs:
      - metrics: [requests, absent, ratio, trend, broken]
      - metrics: [istio-success-rate, linkerd-latency-p99]
        vars:
          workload: "{{ metadata.name }}-canary"
          interval: 1m
  - name: Processing
  - name: Finished
    final: true
queries:
  - name: requests
    query: 'sum(test_requests_total{service="{{ metadata.name }}"})'
  - name: absent
    query: 'test_requests_total{service="nobody"}'
  - name: ratio
    query: 'test_ratio{service="{{ metadata.name }}"}'
  - name: trend
    query: 'test_requests_total{service="{{ metadata.name }}"}'
    range: {duration: 1m, step: 1s}
  - name: broken
    query: 'sum(rate(test_requests_total{service="{{ metadata.name }}"}[1m])'
"#;

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn metric<'a>(req: &'a SyncRequest, name: &str) -> &'a MetricResult {
    req.metrics
        .get(name)
        .unwrap_or_else(|| panic!("metric {name} missing from {:?}", req.metrics.keys()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_inputs_reach_the_worker_typed_with_no_data_nan_and_errors() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("ops-prom").await.expect("namespace");
    let ns = ns.name().to_string();
    let exporter = Exporter::serve(
        "# TYPE test_requests_total counter\ntest_requests_total{service=\"p1\"} 42\n# TYPE test_ratio gauge\ntest_ratio{service=\"p1\"} NaN\n",
    )
    .await;
    let prom = PrometheusServer::start(&[&exporter.addr]).await;

    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(
        dir.path(),
        PROJECT,
        &endpoint,
        &format!("prometheus:\n  url: {}\n  timeout: 5s\n", prom.url),
    );
    let op = dir.path().join("autopilot-operator.yaml");
    let text = std::fs::read_to_string(&op).unwrap();
    std::fs::write(&op, text.replace("workInterval: 2s", "workInterval: 1s")).unwrap();
    let _sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), &ns, &[]);
    create_task(&client, &ns, "p1", "stay").await;
    let key = format!("{ns}/p1");

    // The phase re-runs every second; wait for a call made after Prometheus scraped twice.
    let req = wait::until(
        "a Sync call whose range query holds two samples",
        TIMEOUT,
        || async {
            let reqs = worker.requests(&key);
            let last = reqs.last().cloned().ok_or("no call yet")?;
            let samples = last
                .metrics
                .get("trend")
                .and_then(|m| m.series.first())
                .map(|s| s.samples.len())
                .unwrap_or_default();
            if samples >= 2 {
                Ok(last)
            } else {
                Err(format!("{:?}", last.metrics.get("trend")))
            }
        },
    )
    .await;

    let requests = metric(&req, "requests");
    assert_eq!(requests.query, r#"sum(test_requests_total{service="p1"})"#);
    assert!(requests.error.is_empty(), "{}", requests.error);
    assert!(!requests.no_data);
    assert_eq!(requests.r#type, ResultType::Vector as i32);
    assert_eq!(requests.series.len(), 1);
    assert_eq!(requests.series[0].samples[0].value, 42.0);

    let absent = metric(&req, "absent");
    assert!(absent.no_data, "no series: {absent:?}");
    assert!(absent.error.is_empty() && absent.series.is_empty());

    let ratio = metric(&req, "ratio");
    assert!(!ratio.no_data);
    let sample = &ratio.series[0].samples[0];
    assert!(sample.is_nan && sample.value.is_nan(), "{ratio:?}");
    assert_eq!(ratio.series[0].labels["service"], "p1");

    let trend = metric(&req, "trend");
    assert_eq!(trend.r#type, ResultType::Matrix as i32);
    assert!(
        trend.series[0]
            .samples
            .iter()
            .all(|s| s.value == 42.0 && s.timestamp_ms > 0)
    );

    let broken = metric(&req, "broken");
    let resolved = r#"sum(rate(test_requests_total{service="p1"}[1m])"#;
    assert_eq!(broken.query, resolved);
    assert!(!broken.error.is_empty() && broken.series.is_empty());

    // The built-in queries render with the bound vars and the Task's namespace, and Prometheus
    // accepts them (no such series here: no data, no error).
    let istio = metric(&req, "istio-success-rate");
    let sel = format!(
        r#"reporter="destination",destination_workload_namespace="{ns}",destination_workload="p1-canary""#
    );
    assert_eq!(
        istio.query,
        format!(
            r#"sum(rate(istio_requests_total{{{sel},response_code!~"5.*"}}[1m])) / sum(rate(istio_requests_total{{{sel}}}[1m]))"#
        )
    );
    assert!(istio.error.is_empty() && istio.no_data, "{istio:?}");
    let linkerd = metric(&req, "linkerd-latency-p99");
    assert_eq!(
        linkerd.query,
        format!(
            r#"histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{{namespace="{ns}",deployment="p1-canary",direction="inbound"}}[1m])) by (le))"#
        )
    );
    assert!(linkerd.error.is_empty() && linkerd.no_data, "{linkerd:?}");

    // The failing query shows, resolved, in a condition.
    let status = wait::until("MetricsAvailable=False on Task p1", TIMEOUT, || async {
        let st = task_status(&client, &ns, "p1").await;
        match condition(&st, "MetricsAvailable") {
            Some(c) if c["status"] == "False" => Ok(st),
            _ => Err(st.to_string()),
        }
    })
    .await;
    let message = condition(&status, "MetricsAvailable").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("query broken") && message.contains(resolved),
        "{message}"
    );
    assert!(!message.contains("query requests"), "{message}");

    // A changed value reaches the next call.
    exporter.set("test_requests_total{service=\"p1\"} 43\ntest_ratio{service=\"p1\"} 0.5\n");
    wait::until("a call seeing requests = 43", TIMEOUT, || async {
        let last = worker.requests(&key).last().cloned().ok_or("no call")?;
        let m = metric(&last, "requests");
        match m.series.first().and_then(|s| s.samples.first()) {
            Some(s) if s.value == 43.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
