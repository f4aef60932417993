//! The handlers as plain functions, with contexts built by the SDK.
use std::time::{Duration, SystemTime};

use autopilot_sdk::{ConditionStatus, Context, Metric};
use serde_json::{Value, json};

use super::*;
use crate::traffic::canary_weight_of;

fn target(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

/// A Deployment of the operator's, rolled out: every replica updated and ready.
fn tracked(name: &str, image: &str, replicas: i32) -> Value {
    let mut d = target(image);
    d["metadata"]["name"] = json!(name);
    d["metadata"]["generation"] = json!(2);
    d["spec"]["replicas"] = json!(replicas);
    d["spec"]["template"]["metadata"]["labels"]["app"] = json!(name);
    d["status"] = json!({"observedGeneration": 2, "replicas": replicas,
        "updatedReplicas": replicas, "readyReplicas": replicas});
    d
}

/// `deployment` with only `ready` of its replicas ready.
fn with_ready(mut deployment: Value, ready: i32) -> Value {
    deployment["status"]["readyReplicas"] = json!(ready);
    deployment
}

fn rev(image: &str) -> String {
    revision::of_deployment(&target(image)).unwrap()
}

fn spec() -> Value {
    json!({"targetRef": "web", "port": 8080, "interval": "10s", "stepWeight": 20,
           "maxWeight": 40, "failureLimit": 2, "successThreshold": 0.99, "maxLatencyMs": 100})
}

fn ctx(
    phase: &str,
    info: &Info,
    deployments: Vec<Value>,
) -> autopilot_sdk::ContextBuilder<Spec, Info> {
    ctx_with(phase, spec(), info, deployments)
}

/// [`ctx`] with `spec` in place of the usual one.
fn ctx_with(
    phase: &str,
    spec: Value,
    info: &Info,
    deployments: Vec<Value>,
) -> autopilot_sdk::ContextBuilder<Spec, Info> {
    Context::<Spec, Info>::builder()
        .phase(phase)
        .name("web")
        .namespace("shop")
        .spec(spec)
        .status_info(info)
        .objects_json(DEPLOYMENTS, deployments)
}

/// [`spec`] with `field` set to true (`suspend` or `skipAnalysis`).
fn spec_with(field: &str) -> Value {
    let mut s = spec();
    s[field] = json!(true);
    s
}

fn reasons(outcome: &Outcome<Info>) -> Vec<&str> {
    outcome.events().iter().map(|e| e.reason.as_str()).collect()
}

fn analysing(weight: u32, failed: u32) -> Info {
    Info {
        current_weight: weight,
        failed_checks: failed,
        primary_revision: rev("web:1"),
        canary_revision: rev("web:2"),
        last_check_time: Some("2020-01-01T00:00:00Z".into()),
        ..Info::default()
    }
}

fn route_of(outcome: &Outcome<Info>) -> &Value {
    outcome
        .outputs()
        .iter()
        .find(|o| o["kind"] == "VirtualService" || o["kind"] == "HTTPRoute")
        .expect("a route among the outputs")
}

fn named<'a>(outcome: &'a Outcome<Info>, kind: &str, name: &str) -> &'a Value {
    outcome
        .outputs()
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} among the outputs"))
}

#[tokio::test]
async fn initializing_creates_primary_canary_services_and_route() {
    let c = ctx("Initializing", &Info::default(), vec![target("web:1")])
        .build()
        .unwrap();
    let out = initializing(c).await.unwrap();
    assert_eq!(out.next_phase(), Some("Waiting"));
    let primary = named(&out, "Deployment", "web-primary");
    assert_eq!(primary["spec"]["replicas"], 2);
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1"
    );
    assert_eq!(
        named(&out, "Deployment", "web-canary")["spec"]["replicas"],
        0
    );
    for name in ["web", "web-primary", "web-canary"] {
        named(&out, "Service", name);
    }
    assert_eq!(canary_weight_of(route_of(&out)), Some(0));
    let info = out.status_info().unwrap();
    assert_eq!(info.primary_revision, rev("web:1"));
    assert_eq!(out.events()[0].reason, "Initialized");
}

#[tokio::test]
async fn initializing_waits_for_a_missing_target() {
    let c = ctx("Initializing", &Info::default(), vec![])
        .build()
        .unwrap();
    let out = initializing(c).await.unwrap();
    assert_eq!(out.next_phase(), None);
    assert!(out.outputs().is_empty());
    assert_eq!(out.events()[0].reason, "TargetNotFound");
}

#[tokio::test]
async fn waiting_starts_an_analysis_of_a_new_revision_only() {
    let settled = Info {
        primary_revision: rev("web:1"),
        ..Info::default()
    };
    let c = ctx("Waiting", &settled, vec![target("web:1")])
        .build()
        .unwrap();
    assert_eq!(waiting(c).await.unwrap().next_phase(), None);

    let c = ctx("Waiting", &settled, vec![target("web:2")])
        .build()
        .unwrap();
    let out = waiting(c).await.unwrap();
    assert_eq!(out.next_phase(), Some("Evaluating"));
    let canary = named(&out, "Deployment", "web-canary");
    assert_eq!(canary["spec"]["replicas"], 2);
    assert_eq!(
        canary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(canary_weight_of(route_of(&out)), Some(20));
    let info = out.status_info().unwrap();
    assert_eq!(info.canary_revision, rev("web:2"));
    assert_eq!((info.iteration, info.failed_checks), (0, 0));
    assert_eq!(out.events()[0].reason, "NewRevision");

    // A revision rolled back before is not analysed again until it changes.
    let rolled_back = Info {
        canary_revision: rev("web:2"),
        ..settled
    };
    let c = ctx("Waiting", &rolled_back, vec![target("web:2")])
        .build()
        .unwrap();
    assert_eq!(waiting(c).await.unwrap().next_phase(), None);
}

fn evaluating_ctx(info: &Info, rate: Metric, p99: Metric) -> Context<Spec, Info> {
    evaluating_ctx_with(info, rate, p99, tracked("web-canary", "web:2", 2))
}

fn evaluating_ctx_with(
    info: &Info,
    rate: Metric,
    p99: Metric,
    canary: Value,
) -> Context<Spec, Info> {
    ctx(
        "Evaluating",
        info,
        vec![target("web:2"), tracked("web-primary", "web:1", 2), canary],
    )
    .metric(
        SUCCESS_RATE,
        rate.with_query("sum(rate(istio_requests_total...))"),
    )
    .metric(LATENCY_P99, p99)
    .build()
    .unwrap()
}

#[test]
fn evaluating_steps_the_weight_then_promotes() {
    let now = SystemTime::now();
    let c = evaluating_ctx(&analysing(20, 0), Metric::scalar(1.0), Metric::scalar(20.0));
    let out = evaluate_at(&c, now).unwrap();
    assert_eq!(out.next_phase(), None);
    assert_eq!(canary_weight_of(route_of(&out)), Some(40));
    let info = out.status_info().unwrap();
    assert_eq!((info.current_weight, info.iteration), (40, 1));
    assert_eq!(info.last_queries[0].name, "successRate");
    assert_eq!(
        info.last_queries[0].query,
        "sum(rate(istio_requests_total...))"
    );
    assert_eq!(info.last_queries[0].value, Some(1.0));
    assert_eq!(out.events()[0].reason, "WeightIncreased");
    assert_eq!(out.requeue(), Some(Duration::from_secs(10)));

    let c = evaluating_ctx(&analysing(40, 0), Metric::scalar(1.0), Metric::scalar(20.0));
    let out = evaluate_at(&c, now).unwrap();
    assert_eq!(out.next_phase(), Some("Promoting"));
}

#[test]
fn evaluating_waits_for_the_interval() {
    let mut info = analysing(20, 0);
    let now = SystemTime::now();
    info.last_check_time = Some(humantime::format_rfc3339_seconds(now).to_string());
    let c = evaluating_ctx(&info, Metric::scalar(1.0), Metric::scalar(20.0));
    let out = evaluate_at(&c, now).unwrap();
    assert_eq!(
        out.outputs().len(),
        1,
        "only the route: {:?}",
        out.outputs()
    );
    assert_eq!(
        canary_weight_of(route_of(&out)),
        Some(20),
        "re-declared as held"
    );
    assert!(out.events().is_empty());
    assert_eq!(out.status_info(), Some(&info));
    assert!(out.requeue().is_some_and(|d| d <= Duration::from_secs(10)));
}

#[test]
fn evaluating_counts_failures_then_rolls_back() {
    let now = SystemTime::now();
    let c = evaluating_ctx(&analysing(20, 0), Metric::scalar(0.5), Metric::scalar(20.0));
    let out = evaluate_at(&c, now).unwrap();
    assert_eq!(out.next_phase(), None);
    assert_eq!(out.status_info().unwrap().failed_checks, 1);
    assert_eq!(out.events()[0].reason, "CheckFailed");

    let c = evaluating_ctx(
        &analysing(20, 1),
        Metric::scalar(1.0),
        Metric::scalar(900.0),
    );
    let out = evaluate_at(&c, now).unwrap();
    assert_eq!(out.next_phase(), Some("RollingBack"));
    assert_eq!(out.events()[0].reason, "AnalysisFailed");
}

#[test]
fn evaluating_applies_the_no_data_policy() {
    let now = SystemTime::now();
    let c = evaluating_ctx(&analysing(20, 0), Metric::no_data(), Metric::nan());
    let out = evaluate_at(&c, now).unwrap();
    assert_eq!(out.next_phase(), None);
    let info = out.status_info().unwrap();
    assert_eq!((info.current_weight, info.failed_checks), (20, 0));
    assert_eq!(info.last_queries[0].result, "noData");
    assert_eq!(info.last_queries[1].result, "nan");
    assert_eq!(out.events()[0].reason, "NoData");
}

#[test]
fn evaluating_restarts_on_a_newer_revision() {
    let c = ctx(
        "Evaluating",
        &analysing(40, 1),
        vec![target("web:3"), tracked("web-canary", "web:2", 2)],
    )
    .metric(SUCCESS_RATE, Metric::scalar(1.0))
    .metric(LATENCY_P99, Metric::scalar(1.0))
    .build()
    .unwrap();
    let out = evaluate_at(&c, SystemTime::now()).unwrap();
    assert_eq!(out.next_phase(), None);
    let canary = named(&out, "Deployment", "web-canary");
    assert_eq!(
        canary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:3"
    );
    let info = out.status_info().unwrap();
    assert_eq!(info.canary_revision, rev("web:3"));
    assert_eq!(
        (info.current_weight, info.failed_checks, info.iteration),
        (20, 0, 0)
    );
    assert_eq!(out.events()[0].reason, "AnalysisRestarted");
}

#[test]
fn evaluating_waits_for_the_canary_to_be_ready() {
    let info = analysing(20, 0);
    for canary in [
        with_ready(tracked("web-canary", "web:2", 2), 1),
        // The cache still shows the template of the revision before.
        tracked("web-canary", "web:1", 2),
    ] {
        let c = evaluating_ctx_with(&info, Metric::scalar(1.0), Metric::scalar(20.0), canary);
        let out = evaluate_at(&c, SystemTime::now()).unwrap();
        assert_eq!(out.next_phase(), None);
        assert_eq!(
            out.outputs().len(),
            1,
            "only the route: {:?}",
            out.outputs()
        );
        assert_eq!(canary_weight_of(route_of(&out)), Some(20), "no step");
        assert!(out.events().is_empty());
        let seen = out.status_info().unwrap();
        assert_eq!(
            (seen.current_weight, seen.iteration),
            (20, 0),
            "no check counted"
        );
        assert!(
            seen.message
                .starts_with("waiting for the canary: web-canary"),
            "{}",
            seen.message
        );
        assert_eq!(out.requeue(), Some(READY_RETRY));
    }
}

#[tokio::test]
async fn promoting_waits_for_the_primary_rollout() {
    let c = ctx(
        "Promoting",
        &analysing(40, 0),
        vec![
            target("web:2"),
            tracked("web-primary", "web:1", 3),
            tracked("web-canary", "web:2", 2),
        ],
    )
    .build()
    .unwrap();
    let out = promoting(c).await.unwrap();
    assert_eq!(out.next_phase(), None);
    assert_eq!(
        out.outputs().len(),
        2,
        "the primary and the route: {:?}",
        out.outputs()
    );
    assert_eq!(
        canary_weight_of(route_of(&out)),
        Some(40),
        "the canary keeps its traffic"
    );
    let primary = named(&out, "Deployment", "web-primary");
    assert_eq!(primary["spec"]["replicas"], 3);
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    let info = out.status_info().unwrap();
    assert_eq!(info.current_weight, 40, "the canary keeps its traffic");
    assert!(info.history.is_empty());

    let c = ctx(
        "Promoting",
        &analysing(40, 0),
        vec![
            target("web:2"),
            with_ready(tracked("web-primary", "web:2", 3), 2),
            tracked("web-canary", "web:2", 2),
        ],
    )
    .build()
    .unwrap();
    let out = promoting(c).await.unwrap();
    assert_eq!(out.next_phase(), None);
    assert!(
        out.status_info()
            .unwrap()
            .message
            .ends_with("web-primary has 2 of 3 replicas ready"),
        "{}",
        out.status_info().unwrap().message
    );
}

#[tokio::test]
async fn promoting_copies_the_canary_to_the_primary() {
    let c = ctx(
        "Promoting",
        &analysing(40, 0),
        vec![
            target("web:2"),
            tracked("web-primary", "web:2", 3),
            tracked("web-canary", "web:2", 2),
        ],
    )
    .build()
    .unwrap();
    let out = promoting(c).await.unwrap();
    assert_eq!(out.next_phase(), Some("Waiting"));
    let primary = named(&out, "Deployment", "web-primary");
    assert_eq!(primary["spec"]["replicas"], 3);
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(
        primary["spec"]["template"]["metadata"]["labels"]["app"],
        "web-primary"
    );
    assert_eq!(
        named(&out, "Deployment", "web-canary")["spec"]["replicas"],
        0
    );
    assert_eq!(canary_weight_of(route_of(&out)), Some(0));
    let info = out.status_info().unwrap();
    assert_eq!(info.primary_revision, rev("web:2"));
    assert_eq!(info.history.last().unwrap().outcome, "promoted");
    assert_eq!(out.conditions()[0].type_, "Promoted");
}

#[tokio::test]
async fn rolling_back_keeps_the_primary() {
    let c = ctx(
        "RollingBack",
        &analysing(20, 2),
        vec![
            target("web:2"),
            tracked("web-primary", "web:1", 2),
            tracked("web-canary", "web:2", 2),
        ],
    )
    .build()
    .unwrap();
    let out = rolling_back(c).await.unwrap();
    assert_eq!(out.next_phase(), Some("Waiting"));
    assert!(
        !out.outputs()
            .iter()
            .any(|o| o["metadata"]["name"] == "web-primary"),
        "the primary is left alone"
    );
    assert_eq!(
        named(&out, "Deployment", "web-canary")["spec"]["replicas"],
        0
    );
    assert_eq!(canary_weight_of(route_of(&out)), Some(0));
    let info = out.status_info().unwrap();
    assert_eq!(info.history.last().unwrap().outcome, "failed");
    assert_eq!(info.primary_revision, rev("web:1"));
    assert_eq!(out.events()[0].reason, "RolledBack");
}

#[tokio::test]
async fn gateway_api_routes_when_asked() {
    let mut s = spec();
    s["traffic"] = json!("gatewayapi");
    let c = Context::<Spec, Info>::builder()
        .phase("Initializing")
        .spec(s)
        .objects_json(DEPLOYMENTS, vec![target("web:1")])
        .build()
        .unwrap();
    let out = initializing(c).await.unwrap();
    assert_eq!(route_of(&out)["kind"], "HTTPRoute");
}

#[tokio::test]
async fn waiting_while_suspended_holds_a_new_revision() {
    let settled = Info {
        primary_revision: rev("web:1"),
        ..Info::default()
    };
    let suspend = || spec_with("suspend");
    let c = ctx_with("Waiting", suspend(), &settled, vec![target("web:2")])
        .build()
        .unwrap();
    let out = waiting(c).await.unwrap();
    assert_eq!(out.next_phase(), None);
    assert!(out.outputs().is_empty(), "{:?}", out.outputs());
    assert_eq!(reasons(&out), ["Suspended"]);
    assert_eq!(out.conditions()[0].type_, "Suspended");
    assert_eq!(out.conditions()[0].status, ConditionStatus::True);
    let held = out.status_info().unwrap().clone();
    assert!(held.suspended);
    assert_eq!(held.canary_revision, "", "the new revision is not started");
    assert!(
        held.message
            .ends_with(&format!("new revision {} waits", rev("web:2"))),
        "{}",
        held.message
    );

    // Still suspended: the Event is not repeated.
    let c = ctx_with("Waiting", suspend(), &held, vec![target("web:2")])
        .build()
        .unwrap();
    let out = waiting(c).await.unwrap();
    assert_eq!(out.next_phase(), None);
    assert!(out.events().is_empty() && out.conditions().is_empty());

    // Resumed: the waiting revision starts.
    let c = ctx("Waiting", &held, vec![target("web:2")])
        .build()
        .unwrap();
    let out = waiting(c).await.unwrap();
    assert_eq!(out.next_phase(), Some("Evaluating"));
    assert_eq!(reasons(&out), ["NewRevision", "Resumed"]);
    let suspended = out
        .conditions()
        .iter()
        .find(|c| c.type_ == "Suspended")
        .expect("a Suspended condition");
    assert_eq!(suspended.status, ConditionStatus::False);
    let info = out.status_info().unwrap();
    assert!(!info.suspended);
    assert_eq!(info.canary_revision, rev("web:2"));
}

#[test]
fn evaluating_while_suspended_neither_checks_nor_restarts() {
    let suspend = spec_with("suspend");
    for newest in ["web:2", "web:3"] {
        let c = ctx_with(
            "Evaluating",
            suspend.clone(),
            &analysing(40, 1),
            vec![
                target(newest),
                tracked("web-primary", "web:1", 2),
                tracked("web-canary", "web:2", 2),
            ],
        )
        // Metrics that would roll back.
        .metric(SUCCESS_RATE, Metric::scalar(0.1))
        .metric(LATENCY_P99, Metric::scalar(900.0))
        .build()
        .unwrap();
        let out = evaluate_at(&c, SystemTime::now()).unwrap();
        assert_eq!(out.next_phase(), None, "{newest}");
        // Only the route, declared at the held weight.
        assert_eq!(out.outputs().len(), 1, "{newest}: {:?}", out.outputs());
        assert_eq!(canary_weight_of(route_of(&out)), Some(40), "{newest}");
        assert_eq!(reasons(&out), ["Suspended"]);
        let info = out.status_info().unwrap();
        assert_eq!(
            (
                info.current_weight,
                info.iteration,
                info.failed_checks,
                info.suspended
            ),
            (40, 0, 1, true),
            "{newest}"
        );
        assert_eq!(info.canary_revision, rev("web:2"), "{newest}: no restart");
        let waits = info.message.contains("newer revision");
        assert_eq!(waits, newest == "web:3", "{}", info.message);
        assert_eq!(out.requeue(), Some(Duration::from_secs(10)));
    }

    // Resumed where it was: the next check steps on from 40%.
    let mut info = analysing(20, 0);
    info.suspended = true;
    let out = evaluate_at(
        &evaluating_ctx(&info, Metric::scalar(1.0), Metric::scalar(20.0)),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(canary_weight_of(route_of(&out)), Some(40));
    assert_eq!(reasons(&out), ["WeightIncreased", "Resumed"]);
    assert!(!out.status_info().unwrap().suspended);
}

#[tokio::test]
async fn waiting_with_skip_analysis_promotes_a_new_revision() {
    let settled = Info {
        primary_revision: rev("web:1"),
        ..Info::default()
    };
    let c = ctx_with(
        "Waiting",
        spec_with("skipAnalysis"),
        &settled,
        vec![target("web:2")],
    )
    .build()
    .unwrap();
    let out = waiting(c).await.unwrap();
    assert_eq!(out.next_phase(), Some("Promoting"));
    let canary = named(&out, "Deployment", "web-canary");
    assert_eq!(canary["spec"]["replicas"], 0, "no canary pods");
    assert_eq!(
        canary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(canary_weight_of(route_of(&out)), Some(0));
    assert_eq!(reasons(&out), ["AnalysisSkipped"]);
    let info = out.status_info().unwrap();
    assert_eq!(info.canary_revision, rev("web:2"));
    assert_eq!((info.current_weight, info.iteration), (0, 0));

    // Suspension wins over skipping.
    let mut both = spec_with("skipAnalysis");
    both["suspend"] = json!(true);
    let c = ctx_with("Waiting", both, &settled, vec![target("web:2")])
        .build()
        .unwrap();
    assert_eq!(waiting(c).await.unwrap().next_phase(), None);
}

#[test]
fn evaluating_with_skip_analysis_promotes() {
    // Set mid-analysis, the revision under analysis is promoted without a check; a newer
    // revision replaces it and is promoted without checks. Metrics that would roll back.
    for newest in ["web:2", "web:3"] {
        let c = ctx_with(
            "Evaluating",
            spec_with("skipAnalysis"),
            &analysing(20, 1),
            vec![target(newest), tracked("web-canary", "web:2", 2)],
        )
        .metric(SUCCESS_RATE, Metric::scalar(0.1))
        .metric(LATENCY_P99, Metric::scalar(900.0))
        .build()
        .unwrap();
        let out = evaluate_at(&c, SystemTime::now()).unwrap();
        assert_eq!(out.next_phase(), Some("Promoting"), "{newest}");
        assert_eq!(reasons(&out), ["AnalysisSkipped"], "{newest}");
        let info = out.status_info().unwrap();
        assert_eq!(info.canary_revision, rev(newest));
        assert_eq!(info.iteration, 0, "{newest}: no check");
        if newest == "web:2" {
            assert_eq!(info.current_weight, 20, "promoted at its weight");
            assert_eq!(out.outputs().len(), 1, "{:?}", out.outputs());
            assert_eq!(canary_weight_of(route_of(&out)), Some(20));
        } else {
            let canary = named(&out, "Deployment", "web-canary");
            assert_eq!(
                canary["spec"]["template"]["spec"]["containers"][0]["image"],
                "web:3"
            );
            assert_eq!(canary_weight_of(route_of(&out)), Some(0));
        }
    }
}

#[tokio::test]
async fn promoting_a_skipped_revision_takes_the_target_template() {
    let info = Info {
        primary_revision: rev("web:1"),
        canary_revision: rev("web:2"),
        ..Info::default()
    };
    // The cache does not show the canary's new template yet.
    let promote = |primary_image: &str| {
        let deployments = vec![
            target("web:2"),
            tracked("web-primary", primary_image, 2),
            tracked("web-canary", "web:1", 0),
        ];
        let c = ctx_with("Promoting", spec_with("skipAnalysis"), &info, deployments)
            .build()
            .unwrap();
        promoting(c)
    };
    let out = promote("web:1").await.unwrap();
    assert_eq!(out.next_phase(), None, "the primary rolls out first");
    let primary = named(&out, "Deployment", "web-primary");
    assert_eq!(primary["spec"]["replicas"], 2);
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );

    let out = promote("web:2").await.unwrap();
    assert_eq!(out.next_phase(), Some("Waiting"));
    let info = out.status_info().unwrap();
    assert_eq!(info.primary_revision, rev("web:2"));
    assert!(
        info.message
            .ends_with("promoted without analysis (skipAnalysis)"),
        "{}",
        info.message
    );
    assert_eq!(reasons(&out), ["Promoted"]);
}

/// An Evaluating context judged by `checks`, with healthy metrics and `spans` as the canary's
/// trace result.
fn trace_ctx(checks: &str, info: &Info, spans: autopilot_sdk::Trace) -> Context<Spec, Info> {
    let mut s = spec();
    s["checks"] = json!(checks);
    s["maxSpanErrorRatio"] = json!(0.05);
    ctx_with(
        "Evaluating",
        s,
        info,
        vec![
            target("web:2"),
            tracked("web-primary", "web:1", 2),
            tracked("web-canary", "web:2", 2),
        ],
    )
    .metric(SUCCESS_RATE, Metric::scalar(1.0))
    .metric(LATENCY_P99, Metric::scalar(20.0))
    .trace(
        CANARY_SPANS,
        spans.with_query("service=web-canary lookBack=1m limit=200"),
    )
    .build()
    .unwrap()
}

fn canary_spans(downstream_errors: u64) -> autopilot_sdk::Trace {
    use autopilot_sdk::SpanStats;
    autopilot_sdk::Trace::from_operations([
        SpanStats::new("web-canary", "GET /checkout")
            .spans(100, 0)
            .latency(10.0, 12.0, 20.0),
        SpanStats::new("web-canary", "charge-payment")
            .spans(100, downstream_errors)
            .latency(5.0, 6.0, 10.0),
    ])
}

#[test]
fn evaluating_on_traces_names_the_failing_operation() {
    let now = SystemTime::now();
    // Healthy spans: the weight steps, and the check is recorded beside the metrics.
    let out = evaluate_at(&trace_ctx("both", &analysing(20, 0), canary_spans(0)), now).unwrap();
    assert_eq!(out.events()[0].reason, "WeightIncreased");
    let info = out.status_info().unwrap();
    let names: Vec<&str> = info.last_queries.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["successRate", "latencyP99", "canarySpans"]);
    assert_eq!(
        info.last_queries[2].query,
        "service=web-canary lookBack=1m limit=200"
    );
    assert_eq!(info.failing_operation, None);

    // A quarter of the payment calls fail while Prometheus sees only successes.
    let out = evaluate_at(&trace_ctx("both", &analysing(20, 1), canary_spans(25)), now).unwrap();
    assert_eq!(out.next_phase(), Some("RollingBack"));
    assert_eq!(out.events()[0].reason, "AnalysisFailed");
    assert!(
        out.events()[0]
            .message
            .contains(r#"operation "charge-payment""#),
        "{}",
        out.events()[0].message
    );
    let info = out.status_info().unwrap();
    assert_eq!(info.failing_operation.as_deref(), Some("charge-payment"));
    assert!(info.message.contains("charge-payment"), "{}", info.message);

    // Metrics only: the same spans are not read.
    let out = evaluate_at(
        &trace_ctx("metrics", &analysing(20, 1), canary_spans(25)),
        now,
    )
    .unwrap();
    assert_eq!(out.events()[0].reason, "WeightIncreased");
    assert_eq!(out.status_info().unwrap().last_queries.len(), 2);
}

#[test]
fn evaluating_on_traces_without_jaeger_applies_the_no_data_policy() {
    let now = SystemTime::now();
    let down =
        autopilot_sdk::Trace::failed("querying Jaeger at http://127.0.0.1:1: connection refused");
    let out = evaluate_at(&trace_ctx("traces", &analysing(20, 0), down), now).unwrap();
    assert_eq!(out.next_phase(), None);
    assert_eq!(out.events()[0].reason, "NoData");
    let info = out.status_info().unwrap();
    assert_eq!((info.current_weight, info.failed_checks), (20, 0));
    assert_eq!(info.last_queries[0].result, "error");
    assert!(
        info.message.contains("spans: unavailable (querying Jaeger"),
        "{}",
        info.message
    );
}

/// How the traffic object among `outcome`'s outputs routes, in short: `w20` (canary weight),
/// `mirror50`, `matched` or `svc:web-canary` (the apex Service's selector).
fn shape(outcome: &Outcome<Info>) -> String {
    let traffic = outcome
        .outputs()
        .iter()
        .find(|o| {
            o["kind"] == "VirtualService"
                || o["kind"] == "HTTPRoute"
                || (o["kind"] == "Service" && o["metadata"]["name"] == "web")
        })
        .unwrap_or_else(|| panic!("a traffic object among {:?}", outcome.outputs()));
    if traffic["kind"] == "Service" {
        return format!(
            "svc:{}",
            traffic["spec"]["selector"]["app"].as_str().unwrap()
        );
    }
    let rules = traffic["spec"]["http"]
        .as_array()
        .or(traffic["spec"]["rules"].as_array())
        .unwrap();
    let mirror = rules[0]["mirrorPercentage"]["value"]
        .as_u64()
        .or(rules[0]["filters"][0]["requestMirror"]["percent"].as_u64());
    match (rules.len(), mirror) {
        (2, _) => "matched".into(),
        (_, Some(percent)) => format!("mirror{percent}"),
        _ => format!("w{}", canary_weight_of(traffic).unwrap()),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// A whole release of `web:2` under `spec` with healthy metrics: the Event reason and traffic
/// shape of each handling from Waiting through Promoting (waiting for the primary, then done).
fn walk(spec: Value) -> Vec<String> {
    let run = |out: Outcome<Info>| {
        let step = format!(
            "{} {}",
            reasons(&out).first().copied().unwrap_or("-"),
            shape(&out)
        );
        (step, out)
    };
    let settled = Info {
        primary_revision: rev("web:1"),
        ..Info::default()
    };
    let c = ctx_with("Waiting", spec.clone(), &settled, vec![target("web:2")])
        .build()
        .unwrap();
    let (step, out) = run(block_on(waiting(c)).unwrap());
    assert_eq!(out.next_phase(), Some("Evaluating"), "{step}");
    let mut steps = vec![step];
    let mut info = out.status_info().unwrap().clone();
    let deployments = |primary_image: &str| {
        vec![
            target("web:2"),
            tracked("web-primary", primary_image, 2),
            tracked("web-canary", "web:2", 2),
        ]
    };
    for _ in 0..20 {
        info.last_check_time = Some("2020-01-01T00:00:00Z".into());
        let c = ctx_with("Evaluating", spec.clone(), &info, deployments("web:1"))
            .metric(SUCCESS_RATE, Metric::scalar(1.0))
            .metric(LATENCY_P99, Metric::scalar(20.0))
            .build()
            .unwrap();
        let (step, out) = run(evaluate_at(&c, SystemTime::now()).unwrap());
        steps.push(step);
        info = out.status_info().unwrap().clone();
        if out.next_phase() == Some("Promoting") {
            break;
        }
    }
    let c = ctx_with("Promoting", spec.clone(), &info, deployments("web:1"))
        .build()
        .unwrap();
    let out = block_on(promoting(c)).unwrap();
    steps.push(format!("rollout {}", shape(&out)));
    let c = ctx_with(
        "Promoting",
        spec,
        &out.status_info().unwrap().clone(),
        deployments("web:2"),
    )
    .build()
    .unwrap();
    let (step, out) = run(block_on(promoting(c)).unwrap());
    steps.push(step);
    // Traffic goes back to the primary before the canary scales down.
    let position = |kind: &str, name: &str| {
        out.outputs()
            .iter()
            .position(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    };
    let traffic = position("VirtualService", "web")
        .or(position("HTTPRoute", "web"))
        .or(position("Service", "web"));
    assert!(traffic < position("Deployment", "web-canary"), "{steps:?}");
    steps
}

#[test]
fn every_strategy_through_a_release() {
    let ab = json!([{"header": "x-canary", "exact": "insider"}]);
    let mirror = json!({"percentage": 50, "iterations": 2});
    let cases: &[(Value, &[&str])] = &[
        (
            json!({}),
            &[
                "NewRevision w20",
                "WeightIncreased w40",
                "AnalysisSucceeded w40",
                "rollout w40",
                "Promoted w0",
            ],
        ),
        (
            json!({"mirror": mirror}),
            &[
                "NewRevision mirror50",
                "CheckPassed mirror50",
                "WeightIncreased w20",
                "WeightIncreased w40",
                "AnalysisSucceeded w40",
                "rollout w40",
                "Promoted w0",
            ],
        ),
        (
            json!({"traffic": "gatewayapi", "mirror": mirror}),
            &[
                "NewRevision mirror50",
                "CheckPassed mirror50",
                "WeightIncreased w20",
                "WeightIncreased w40",
                "AnalysisSucceeded w40",
                "rollout w40",
                "Promoted w0",
            ],
        ),
        (
            json!({"strategy": "abTesting", "iterations": 2, "match": ab}),
            &[
                "NewRevision matched",
                "CheckPassed matched",
                "AnalysisSucceeded matched",
                "rollout matched",
                "Promoted w0",
            ],
        ),
        (
            json!({"strategy": "abTesting", "iterations": 1, "match": ab, "traffic": "gatewayapi",
                   "mirror": {"percentage": 100}}),
            &[
                "NewRevision mirror100",
                "MirrorEnded matched",
                "AnalysisSucceeded matched",
                "rollout matched",
                "Promoted w0",
            ],
        ),
        (
            json!({"strategy": "blueGreen", "iterations": 2, "traffic": "kubernetes"}),
            &[
                "NewRevision svc:web-primary",
                "CheckPassed svc:web-primary",
                "AnalysisSucceeded svc:web-primary",
                "rollout svc:web-canary",
                "Promoted svc:web-primary",
            ],
        ),
        (
            json!({"strategy": "blueGreen", "iterations": 1, "mirror": {"percentage": 20}}),
            &[
                "NewRevision mirror20",
                "MirrorEnded w0",
                "AnalysisSucceeded w0",
                "rollout w100",
                "Promoted w0",
            ],
        ),
    ];
    for (fields, want) in cases {
        let mut s = spec();
        for (k, v) in fields.as_object().into_iter().flatten() {
            s[k] = v.clone();
        }
        assert_eq!(walk(s), *want, "{fields}");
    }
}

#[tokio::test]
async fn blue_green_without_a_mesh_declares_the_apex_service_once() {
    let mut s = spec();
    s["strategy"] = json!("blueGreen");
    s["traffic"] = json!("kubernetes");
    let c = ctx_with("Initializing", s, &Info::default(), vec![target("web:1")])
        .build()
        .unwrap();
    let out = initializing(c).await.unwrap();
    let services: Vec<_> = out
        .outputs()
        .iter()
        .filter(|o| o["kind"] == "Service")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["web-primary", "web-canary", "web"]);
    assert_eq!(shape(&out), "svc:web-primary");
    assert!(
        out.outputs()
            .iter()
            .all(|o| o["kind"] != "VirtualService" && o["kind"] != "HTTPRoute")
    );
}

#[tokio::test]
async fn a_spec_that_cannot_be_carried_out_is_refused_naming_the_field() {
    let mut s = spec();
    s["strategy"] = json!("abTesting");
    let c = ctx_with("Initializing", s, &Info::default(), vec![target("web:1")])
        .build()
        .unwrap();
    let err = initializing(c).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("spec.match: strategy abTesting needs at least one entry"),
        "{err}"
    );
}

#[test]
fn linkerd_is_judged_on_linkerds_metrics() {
    let mut s = spec();
    s["traffic"] = json!("linkerd");
    let check = |rate: f64| {
        let c = ctx_with(
            "Evaluating",
            s.clone(),
            &analysing(20, 0),
            vec![
                target("web:2"),
                tracked("web-primary", "web:1", 2),
                tracked("web-canary", "web:2", 2),
            ],
        )
        .metric(
            LINKERD_SUCCESS_RATE,
            Metric::scalar(rate).with_query("sum(rate(response_total{...}))"),
        )
        .metric(LINKERD_LATENCY_P99, Metric::scalar(20.0))
        // Istio's series say the opposite: they must not be read.
        .metric(SUCCESS_RATE, Metric::scalar(1.5 - rate))
        .metric(LATENCY_P99, Metric::scalar(20.0))
        .build()
        .unwrap();
        evaluate_at(&c, SystemTime::now()).unwrap()
    };
    let healthy = check(1.0);
    assert_eq!(reasons(&healthy), ["WeightIncreased"]);
    assert_eq!(route_of(&healthy)["kind"], "HTTPRoute");
    let info = healthy.status_info().unwrap();
    assert_eq!(info.last_queries[0].query, "sum(rate(response_total{...}))");
    assert_eq!(reasons(&check(0.5)), ["CheckFailed"]);
}
