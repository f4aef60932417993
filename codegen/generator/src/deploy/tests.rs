use autopilot_model::Model;

use super::*;

fn canary() -> Model {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/testdata/canary");
    autopilot_model::load_dir(&dir).expect("the canary test project is valid")
}

fn file<'a>(files: &'a [GeneratedFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is rendered"))
        .contents
}

#[test]
fn sidecar_on_a_unix_socket_and_a_separate_tls_worker() {
    let files = render(&canary(), "canary-system");
    let scheduler = file(&files, "deploy/scheduler.yaml");
    // The sidecar serves on the socket the scheduler's endpoint names, in a shared emptyDir.
    assert!(scheduler.contains("value: \"unix:/var/run/autopilot/canary-worker.sock\""));
    assert!(scheduler.contains("mountPath: /var/run/autopilot"));
    assert!(scheduler.contains("- name: sockets-0\n          emptyDir: {}\n"));
    assert!(scheduler.contains("\"--config=/config/autopilot-operator.yaml\""));
    assert!(scheduler.contains("readOnlyRootFilesystem: true"));
    assert!(scheduler.contains("serviceAccountName: canary-operator"));
    // The analysis worker runs on its own with TLS from a Secret and 2 replicas.
    let workers = file(&files, "deploy/workers.yaml");
    assert!(workers.contains("name: canary-analysis"));
    assert!(workers.contains("replicas: 2"));
    assert!(workers.contains("secretName: canary-analysis-tls"));
    assert!(workers.contains("value: \"0.0.0.0:50051\""));
    assert!(!scheduler.contains("canary-operator-canary-analysis:latest"));
}

#[test]
fn chart_templates_refer_to_documented_values() {
    let files = render(&canary(), "default");
    let values = file(&files, "deploy/chart/values.yaml");
    for key in [
        "canaryWorker:",
        "canaryAnalysis:",
        "replicas: 2",
        "project: \"\"",
    ] {
        assert!(values.contains(key), "values.yaml has {key}:\n{values}");
    }
    let scheduler = file(&files, "deploy/chart/templates/scheduler.yaml");
    assert!(scheduler.contains("image: {{ .Values.scheduler.image | quote }}"));
    assert!(scheduler.contains("namespace: {{ .Release.Namespace | quote }}"));
    let workers = file(&files, "deploy/chart/templates/workers.yaml");
    assert!(workers.contains("replicas: {{ .Values.workers.canaryAnalysis.replicas }}"));
}

#[test]
fn ports() {
    assert_eq!(port_of("http://127.0.0.1:6000"), 6000);
    assert_eq!(port_of("https://a.b.svc"), 50051);
    assert_eq!(port_of("https://a.b.svc:7000/x"), 7000);
    assert_eq!(values_key("canary-worker"), "canaryWorker");
}

#[test]
fn rbac_in_both_scopes() {
    let files = render(&canary(), "canary-system");
    let namespaced = namespaced_rbac(&canary().project, Yaml::from("canary-system"));
    assert!(namespaced.contains("kind: Role\n"));
    assert!(namespaced.contains("kind: RoleBinding\n"));
    assert!(!namespaced.contains("ClusterRole"));
    assert_eq!(namespaced.matches("namespace: canary-system").count(), 4);
    let chart = file(&files, "deploy/chart/templates/rbac.yaml");
    assert!(chart.contains("{{- if .Values.rbac.namespaced }}\n"));
    assert!(chart.contains("kind: Role\n") && chart.contains("kind: ClusterRole\n"));
    let scheduler = file(&files, "deploy/chart/templates/scheduler.yaml");
    assert!(scheduler.contains(
        "{{- if .Values.rbac.namespaced }}\n            - --namespaces={{ .Release.Namespace }}\n"
    ));
    assert!(file(&files, "deploy/chart/values.yaml").contains("  namespaced: false\n"));
}

#[test]
fn separate_workers_are_behind_headless_services() {
    let files = render(&canary(), "canary-system");
    let workers = file(&files, "deploy/workers.yaml");
    assert!(workers.contains("clusterIP: None"), "{workers}");
}
