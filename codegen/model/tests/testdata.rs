//! The example projects under `testdata/`, loaded as the CLI and scheduler load them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use autopilot_model::operator::Endpoint;
use autopilot_model::{Input, InputNamespace, Language, WorkerMode, load_dir};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

#[test]
fn canary_loads_with_everything_resolved() {
    let model = load_dir(&testdata("canary")).unwrap_or_else(|e| panic!("{e}"));
    let p = &model.project;
    assert_eq!(
        (p.group(), p.version(), p.kind.as_str()),
        ("canary.example.com", "v1", "CanaryDeployment")
    );
    assert_eq!(p.plural(), "canarydeployments");
    assert!(p.finalizer);
    assert_eq!(
        p.initial_phase().map(|p| p.name.as_str()),
        Some("Initializing")
    );
    let names: Vec<&str> = p.non_final_phases().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Initializing",
            "Waiting",
            "Evaluating",
            "Promoting",
            "RollingBack"
        ]
    );

    let evaluating = p.phase("Evaluating").unwrap();
    assert!(evaluating.prune);
    assert_eq!(evaluating.inputs.len(), 3);
    match &evaluating.inputs[0] {
        Input::Metrics { queries, vars } => {
            assert_eq!(queries, &["request-rate", "error-rate-trend"]);
            assert!(vars.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match &evaluating.inputs[1] {
        Input::Metrics { queries, vars } => {
            assert_eq!(queries, &["istio-success-rate", "istio-latency-p99"]);
            assert_eq!(vars["workload"], "{{ spec.targetRef }}-canary");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&evaluating.inputs[2], Input::Resource { parameter, namespace: InputNamespace::All, .. } if parameter == "rollouts")
    );
    let waiting = p.phase("Waiting").unwrap();
    assert!(matches!(&waiting.inputs[0], Input::Resource { key, .. } if key == "canaryPods"));

    let rollouts = p.parameter("rollouts").unwrap();
    assert_eq!(
        (
            rollouts.group.as_str(),
            rollouts.version.as_str(),
            rollouts.plural.as_str()
        ),
        ("argoproj.io", "v1alpha1", "rollouts")
    );
    assert!(!p.parameter("nodes").unwrap().namespaced);
    assert!(p.parameter("trafficsplits").unwrap().builtin);
    let trend = p.query("error-rate-trend").unwrap();
    let range = trend.range.unwrap();
    assert_eq!(
        (range.duration, range.step),
        (Duration::from_secs(600), Duration::from_secs(30))
    );
    assert!(p.query("linkerd-latency-p99").unwrap().builtin);
    assert!(p.uses_metrics());
    let used: Vec<String> = p.used_parameters().into_iter().map(|p| p.name).collect();
    assert_eq!(
        used,
        [
            "deployments",
            "services",
            "virtualservices",
            "destinationrules",
            "pods",
            "rollouts",
            "events"
        ]
    );

    let analysis = p.worker_for_phase("Evaluating").unwrap();
    assert_eq!(
        (
            analysis.name.as_str(),
            analysis.language,
            analysis.mode,
            analysis.replicas
        ),
        (
            "canary-analysis",
            Language::Python,
            WorkerMode::Deployment,
            2
        )
    );
    assert_eq!(
        p.worker_for_phase("Promoting").unwrap().name,
        "canary-worker"
    );

    let o = &model.operator;
    assert_eq!(o.namespaces, ["shop", "payments"]);
    assert_eq!(o.work_interval, Duration::from_secs(10));
    assert_eq!(o.concurrency, 8);
    assert_eq!(
        o.endpoint_for("Waiting"),
        &Endpoint::Unix("/var/run/autopilot/canary-worker.sock".into())
    );
    assert!(o.endpoint_for("Evaluating").is_tls());
    assert_eq!(
        o.deadline_for(p.phase("Initializing").unwrap()),
        Duration::from_secs(30)
    );
    assert_eq!(o.deadline_for(waiting), Duration::from_secs(15));
    assert_eq!(o.retry.max_attempts, 5);
    assert_eq!(
        o.leader_election.lease_name_for(&p.operator_name),
        "canary-operator"
    );
    assert_eq!(
        o.tracing.service_name_for(&p.operator_name),
        "canary-operator"
    );

    // The model serializes for generators.
    let json = serde_json::to_value(p).unwrap();
    assert_eq!(json["phases"][0]["deadline"], "30s");
    assert_eq!(json["phases"][5]["final"], true);
    assert_eq!(json["phases"][1]["inputs"][0]["type"], "resource");
    assert_eq!(
        json["phases"][1]["inputs"][0]["labelSelector"],
        "app={{ spec.targetRef }}-canary"
    );
}

#[test]
fn canary_queries_render() {
    let model = load_dir(&testdata("canary")).unwrap();
    let object = serde_json::json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"targetRef": "web", "interval": "2m"},
    });
    let evaluating = model.project.phase("Evaluating").unwrap();
    let Input::Metrics { queries, vars } = &evaluating.inputs[1] else {
        panic!("{:?}", evaluating.inputs[1]);
    };
    let q = model.project.query(&queries[0]).unwrap();
    let promql = q.render(&object, vars).unwrap();
    assert!(
        promql
            .contains(r#"destination_workload_namespace="shop",destination_workload="web-canary""#),
        "{promql}"
    );
    assert!(promql.contains("[2m]"), "{promql}");
}

#[test]
fn minimal_project_uses_operator_defaults() {
    let model = load_dir(&testdata("minimal")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.operator, autopilot_model::OperatorConfig::default());
    assert_eq!(model.project.workers[0].name, "greeter");
    assert_eq!(model.project.workers[0].phases, ["Greeting"]);
}

#[test]
fn broken_projects_report_file_line_column() {
    let cases: &[(&str, &[&str])] = &[
        (
            "broken-syntax",
            &["autopilot.yaml:7:13: mapping values are not allowed in this context"],
        ),
        (
            "broken-semantic",
            &[
                "autopilot.yaml:1:13: apiVersion: `demo.example.com` is not group/version",
                "autopilot.yaml:2:7: kind: `greeting` is not UpperCamelCase",
                "autopilot.yaml:3:15: operatorName: `Greeter` is not a DNS-1123 label",
                "autopilot.yaml:4:7: spec: the spec schema must have `type: object`",
                "autopilot.yaml:8:14: phases[0].inputs[0]: unknown parameter `configmap`",
                "autopilot.yaml:9:15: phases[0].outputs[0]: `metrics` is an input only",
                "autopilot.yaml:10:12: phases[0].next[0]: transition to unknown phase `Finished`",
                "autopilot.yaml:11:11: phases[1].name: duplicate phase `Greeting` (first declared on line 6)",
                "autopilot.yaml:12:14: phases[1].initial: `Greeting` is a second initial phase",
                "autopilot.yaml:15:14: phases[2].outputs: a final phase calls no worker",
                "autopilot.yaml:17:11: parameters[0].name: `pods` shadows the built-in parameter",
            ],
        ),
        (
            "broken-operator",
            &[
                "autopilot-operator.yaml:5:5: workers.phases.Greting: unknown phase `Greting`",
                "autopilot-operator.yaml:6:5: workers.phases.Done: phase `Done` is final",
            ],
        ),
    ];
    for (dir, want) in cases {
        let err = load_dir(&testdata(dir)).expect_err(dir);
        let got: Vec<String> = err
            .iter()
            .map(|d| {
                let shown = d.to_string();
                let prefix = testdata(dir);
                shown
                    .strip_prefix(&format!("{}/", prefix.display()))
                    .unwrap_or(&shown)
                    .to_owned()
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{dir}:\n{err}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(g.starts_with(w), "{dir}: got {g:?}, want prefix {w:?}");
        }
    }
}

#[test]
fn missing_project_file_is_one_diagnostic() {
    let err = load_dir(&testdata("does-not-exist")).unwrap_err();
    assert_eq!(err.len(), 1);
    let d = &err.0[0];
    assert_eq!((d.line, d.column), (0, 0));
    assert!(d.to_string().contains("autopilot.yaml: cannot read"), "{d}");
}

#[test]
fn operator_file_can_live_elsewhere() {
    let config = testdata("canary").join("autopilot-operator.yaml");
    let model = autopilot_model::load_dir_with_config(&testdata("canary"), Some(&config))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.operator.concurrency, 8);
    // Checked against the project it is loaded with.
    let err =
        autopilot_model::load_dir_with_config(&testdata("minimal"), Some(&config)).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "canary/autopilot-operator.yaml:9:5: workers.phases.Evaluating: unknown phase \
             `Evaluating` (one of: Greeting)"
        ),
        "{err}"
    );
    // An explicitly named file must exist.
    let missing = testdata("minimal").join("nope.yaml");
    let err =
        autopilot_model::load_dir_with_config(&testdata("minimal"), Some(&missing)).unwrap_err();
    assert!(err.to_string().contains("nope.yaml: cannot read"), "{err}");
}
