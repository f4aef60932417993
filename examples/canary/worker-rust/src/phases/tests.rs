//! The handlers as plain functions, with contexts built by the SDK.
use std::time::{Duration, SystemTime};

use autopilot_sdk::{ConditionStatus, Context, Metric};
use serde_json::{Value, json};

use super::*;
use crate::release::canary_weight_of;

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
    assert!(out.outputs().is_empty());
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
        assert!(out.outputs().is_empty(), "no step: {:?}", out.outputs());
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
        1,
        "only the primary: {:?}",
        out.outputs()
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
        assert!(out.outputs().is_empty(), "{newest}: {:?}", out.outputs());
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
            assert!(out.outputs().is_empty(), "{:?}", out.outputs());
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
