//! Rendering and writing, checked against the model crate's example projects.

use std::fs;
use std::path::Path;

use autopilot_model::{Language, Model, load_dir, parse_project};
use serde_json::json;

use super::*;
use crate::rbac::{Rule, rules};

fn canary() -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/testdata/canary");
    load_dir(&dir).unwrap()
}

fn model(yaml: &str) -> Model {
    Model {
        project: parse_project("autopilot.yaml", yaml).unwrap(),
        operator: Default::default(),
    }
}

const SMALL: &str = "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n\
    spec: {type: object, properties: {name: {type: string}}}\nphases:\n\
    - {name: Greeting, initial: true, inputs: [configmaps], outputs: [configmaps]}\n\
    - {name: Waving}\n\
    - {name: Done, final: true}\n";

fn file<'a>(files: &'a [GeneratedFile], path: &str) -> &'a GeneratedFile {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not generated"))
}

#[test]
fn crd_schema_has_spec_and_scheduler_status() {
    let model = canary();
    let schema = crd::schema(&model.project);
    assert_eq!(schema["properties"]["spec"], model.project.spec);
    let status = &schema["properties"]["status"]["properties"];
    assert_eq!(
        status["phase"]["enum"],
        json!([
            "Initializing",
            "Waiting",
            "Evaluating",
            "Promoting",
            "RollingBack",
            "Succeeded",
            "Failed"
        ])
    );
    assert_eq!(status["observedGeneration"]["format"], "int64");
    assert_eq!(status["statusInfo"], model.project.status_info);
    assert_eq!(status["conditions"]["x-kubernetes-list-type"], "map");
    assert_eq!(
        status["conditions"]["x-kubernetes-list-map-keys"],
        json!(["type"])
    );
    assert_eq!(
        status["conditions"]["items"]["properties"]["status"]["enum"],
        json!(["True", "False", "Unknown"])
    );
    // What the scheduler records of people's requests: `aborted` and `gates` only when the
    // project declares an abort phase and gates (the API server would prune them otherwise).
    assert_eq!(status["retried"]["type"], "string");
    let mut gated = model.project.clone();
    gated.abort_phase = Some("Failed".into());
    gated.gates = vec![autopilot_model::Gate {
        name: "promote".into(),
        phase: "Promoting".into(),
        when: autopilot_model::GateWhen::Before,
        description: None,
    }];
    let with_gates = crd::schema(&gated);
    let gated_status = &with_gates["properties"]["status"]["properties"];
    assert_eq!(gated_status["aborted"]["type"], "string");
    assert_eq!(
        gated_status["gates"]["additionalProperties"]["properties"]["entered"]["type"],
        "string"
    );
    let plain = model.project.abort_phase.is_none() && model.project.gates.is_empty();
    assert!(!plain || (status.get("aborted").is_none() && status.get("gates").is_none()));

    let files = render(&model, &Options::default()).unwrap();
    let text = &file(&files, "deploy/crd.yaml").contents;
    for want in [
        "  name: canarydeployments.canary.example.com\n",
        "    listKind: CanaryDeploymentList\n",
        "    plural: canarydeployments\n",
        "    singular: canarydeployment\n",
        "  scope: Namespaced\n",
        "      subresources:\n        status: {}\n",
        "          jsonPath: \".status.phase\"\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

fn rule(group: &str, resource: &str, verbs: &[&'static str]) -> Rule {
    Rule {
        group: group.to_owned(),
        resource: resource.to_owned(),
        verbs: verbs.to_vec(),
    }
}

#[test]
fn rbac_follows_inputs_outputs_prune_and_finalizer() {
    const READ: &[&str] = &["get", "list", "watch"];
    const WRITE: &[&str] = &["get", "list", "watch", "create", "update", "patch"];
    const PRUNE: &[&str] = &[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let g = "canary.example.com";
    assert_eq!(
        rules(&canary().project),
        vec![
            rule(
                g,
                "canarydeployments",
                &["get", "list", "watch", "update", "patch"]
            ),
            rule(g, "canarydeployments/status", &["get", "update", "patch"]),
            rule(g, "canarydeployments/finalizers", &["update"]),
            rule("", "events", WRITE),
            rule("", "pods", READ),
            rule("", "services", READ),
            rule("apps", "deployments", WRITE),
            rule("argoproj.io", "rollouts", READ),
            rule("networking.istio.io", "destinationrules", WRITE),
            rule("networking.istio.io", "virtualservices", PRUNE),
            rule("events.k8s.io", "events", &["create", "patch"]),
            rule(
                "coordination.k8s.io",
                "leases",
                &["get", "create", "update"]
            ),
        ]
    );
    let small = rules(&model(SMALL).project);
    assert!(!small.iter().any(|r| r.resource.ends_with("/finalizers")));
    assert!(small.contains(&rule("", "configmaps", WRITE)));

    let files = render(&canary(), &Options::default()).unwrap();
    let text = &file(&files, "deploy/rbac.yaml").contents;
    assert_eq!(text.matches("\n---\n").count(), 2, "{text}");
    assert!(text.contains("kind: ClusterRoleBinding\n"));
    assert!(text.contains("  name: canary-operator\n"));
}

#[test]
fn rendering_is_deterministic_and_marks_regenerated_files() {
    let model = canary();
    let first = render(&model, &Options::default()).unwrap();
    assert_eq!(first, render(&model, &Options::default()).unwrap());
    // The bundled SDK's files are the SDK's business (see `sdk::tests`).
    let paths: Vec<&str> = first
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| !p.starts_with("worker/third_party/"))
        .collect();
    assert_eq!(
        paths,
        [
            ".gitignore",
            "deploy/chart/Chart.yaml",
            "deploy/chart/templates/NOTES.txt",
            "deploy/chart/templates/_helpers.tpl",
            "deploy/chart/templates/configmap.yaml",
            "deploy/chart/templates/crd.yaml",
            "deploy/chart/templates/pdb.yaml",
            "deploy/chart/templates/rbac.yaml",
            "deploy/chart/templates/scheduler.yaml",
            "deploy/chart/templates/servicemonitor.yaml",
            "deploy/chart/templates/workers.yaml",
            "deploy/chart/values.schema.json",
            "deploy/chart/values.yaml",
            "deploy/crd.yaml",
            "deploy/example.yaml",
            "deploy/rbac.yaml",
            "deploy/scheduler.yaml",
            "deploy/workers.yaml",
            "worker/.gitignore",
            "worker/Cargo.toml",
            "worker/Dockerfile",
            "worker/src/lib.rs",
            "worker/src/main.rs",
            "worker/src/model.rs",
            "worker/src/phases/initializing.rs",
            "worker/src/phases/mod.rs",
            "worker/src/phases/promoting.rs",
            "worker/src/phases/rolling_back.rs",
            "worker/src/phases/waiting.rs",
            "worker/tests/phases.rs",
            RECORD_PATH,
        ]
    );
    for f in &first {
        if f.kind == FileKind::Regenerated {
            assert!(
                f.contents.lines().next().unwrap().contains(DO_NOT_EDIT),
                "{}",
                f.path
            );
        }
    }
    let main = &file(&first, "worker/src/main.rs").contents;
    assert!(main.contains(".phase(\"RollingBack\", phases::rolling_back::handle)"));
    assert!(
        !main.contains("Evaluating"),
        "Evaluating is served by the Python worker"
    );
    let handler = &file(&first, "worker/src/phases/initializing.rs").contents;
    assert!(
        handler.contains("Ok(Outcome::next(\"Waiting\"))"),
        "{handler}"
    );
    let model_rs = &file(&first, "worker/src/model.rs").contents;
    assert!(model_rs.contains("pub target_ref: String,"), "{model_rs}");
    assert!(
        model_rs.contains("pub step_weight: Option<i64>,"),
        "{model_rs}"
    );
    assert!(file(&first, "worker/Cargo.toml").contents.contains(
        "autopilot-sdk = { version = \"0.1.0\", path = \"third_party/autopilot-sdk\" }\n"
    ));
    // The bundled SDK comes along, regenerated with the project.
    let sdk = file(&first, "worker/third_party/autopilot-sdk/Cargo.toml");
    assert_eq!(sdk.kind, FileKind::Vendored);

    let record: Record = serde_json::from_str(&file(&first, RECORD_PATH).contents).unwrap();
    assert_eq!(record.files.len(), first.len() - 1);
    assert_eq!(record.files[0].hash, content_hash(&first[0].contents));
}

#[test]
fn sdk_path_and_unsupported_languages() {
    let options = Options {
        sdk: SdkSource::Path("../../sdk-rust".to_owned()),
        ..Options::default()
    };
    let files = render(&model(SMALL), &options).unwrap();
    assert!(
        file(&files, "worker/Cargo.toml")
            .contents
            .contains("autopilot-sdk = { path = \"../../sdk-rust\" }\n")
    );
    // Waving has no `next`: the stub moves on to the phase declared after it.
    let waving = &file(&files, "worker/src/phases/waving.rs").contents;
    assert!(waving.contains("Ok(Outcome::next(\"Done\"))"), "{waving}");

    let go = Options {
        language: Language::Go,
        ..Options::default()
    };
    // SMALL's only worker is in Rust: asking for Go names the fix.
    let err = render(&model(SMALL), &go).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no worker of this project is in go; set `language: go` on one under `workers`"
    );
}

#[test]
fn owned_files_are_kept_unless_forced_and_then_saved() {
    let dir = tempfile::tempdir().unwrap();
    let files = render(&model(SMALL), &Options::default()).unwrap();
    let report = write(dir.path(), &files, WriteOptions::default()).unwrap();
    assert_eq!(report.written.len(), files.len());

    let again = write(dir.path(), &files, WriteOptions::default()).unwrap();
    assert_eq!(again.unchanged.len(), files.len());
    assert!(again.written.is_empty());

    let handler = dir.path().join("worker/src/phases/greeting.rs");
    let main = dir.path().join("worker/src/main.rs");
    fs::write(&handler, "// my logic\n").unwrap();
    fs::write(&main, "// edited\n").unwrap();
    let kept = write(dir.path(), &files, WriteOptions::default()).unwrap();
    assert_eq!(kept.kept, ["worker/src/phases/greeting.rs"]);
    assert_eq!(kept.written, ["worker/src/main.rs"]);
    assert_eq!(fs::read_to_string(&handler).unwrap(), "// my logic\n");
    assert!(fs::read_to_string(&main).unwrap().contains(DO_NOT_EDIT));

    let forced = write(dir.path(), &files, WriteOptions { force: true }).unwrap();
    assert_eq!(forced.replaced, ["worker/src/phases/greeting.rs"]);
    assert_eq!(
        fs::read_to_string(dir.path().join("worker/src/phases/greeting.rs.orig")).unwrap(),
        "// my logic\n"
    );
    assert!(
        fs::read_to_string(&handler)
            .unwrap()
            .contains("pub async fn handle")
    );
}

#[test]
fn added_phase_appears_and_removed_phase_is_orphaned() {
    let dir = tempfile::tempdir().unwrap();
    let files = render(&model(SMALL), &Options::default()).unwrap();
    write(dir.path(), &files, WriteOptions::default()).unwrap();
    let greeting = dir.path().join("worker/src/phases/greeting.rs");
    fs::write(&greeting, "// my logic\n").unwrap();

    let changed = SMALL.replace("{name: Waving}", "{name: Hugging}");
    let files = render(&model(&changed), &Options::default()).unwrap();
    let report = write(dir.path(), &files, WriteOptions::default()).unwrap();
    assert!(
        report
            .written
            .contains(&"worker/src/phases/hugging.rs".to_owned())
    );
    // The test moved on to Waving before; its expectation changed, so it is kept, not rewritten.
    assert_eq!(
        report.kept,
        ["worker/src/phases/greeting.rs", "worker/tests/phases.rs"]
    );
    assert_eq!(report.orphaned, ["worker/src/phases/waving.rs"]);
    assert!(dir.path().join("worker/src/phases/waving.rs").exists());
    assert_eq!(fs::read_to_string(&greeting).unwrap(), "// my logic\n");
}

const WITH_EVENTS: &str = "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n\
    spec: {type: object}\n\
    events:\n\
    - name: load-test-finished\n  source: cloudevents\n  route: {name: '{{ subject }}'}\n\
    \x20 schema: {type: object, properties: {passed: {type: boolean}}}\n\
    - {name: approval, source: webhook, route: {all: true}}\n\
    phases:\n\
    - {name: Greeting, initial: true, inputs: [load-test-finished, approval]}\n\
    - {name: Done, final: true}\n";

#[test]
fn event_sources_bring_their_crd_rbac_and_payload_types() {
    let model = model(WITH_EVENTS);
    let rules = rules(&model.project);
    assert!(rules.contains(&Rule {
        group: "autopilot.dev".into(),
        resource: "eventdeliveries".into(),
        verbs: vec!["get", "list", "watch", "create", "patch", "delete"],
    }));
    for language in Language::ALL {
        let options = Options {
            language,
            ..Options::default()
        };
        let mut with_worker = model.clone();
        with_worker.project.workers[0].language = language;
        let files = render(&with_worker, &options).unwrap();
        let crd = file(&files, "deploy/eventdelivery-crd.yaml");
        assert!(crd.contents.contains("name: eventdeliveries.autopilot.dev"));
        let all: String = files.iter().map(|f| f.contents.as_str()).collect();
        assert!(
            all.contains("LoadTestFinishedEvent"),
            "{language}: no payload type"
        );
        assert!(
            all.to_lowercase().contains("ctx.events(\"approval\")") && all.contains("raw JSON"),
            "{language}: no doc of the event input"
        );
    }
    let without = render(&self::model(SMALL), &Options::default()).unwrap();
    assert!(
        !without
            .iter()
            .any(|f| f.path == "deploy/eventdelivery-crd.yaml")
    );
}
