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
        "repository: autopilot-scheduler\n",
        "repository: canary-operator-canary-worker\n",
        "install: true",
        "nodeSelector: {}",
    ] {
        assert!(values.contains(key), "values.yaml has {key}:\n{values}");
    }
    let scheduler = file(&files, "deploy/chart/templates/scheduler.yaml");
    for expected in [
        "image: \"{{ .Values.scheduler.image.repository }}:{{ .Values.scheduler.image.tag | default .Chart.AppVersion }}\"",
        "imagePullPolicy: {{ .Values.scheduler.image.pullPolicy }}",
        "namespace: {{ .Release.Namespace | quote }}",
        "name: {{ include \"canary-operator.fullname\" . }}\n",
        "labels: {{- include \"canary-operator.labels\" (list . \"scheduler\") | nindent 4 }}",
        "resources: {{- toYaml .Values.scheduler.resources | nindent 12 }}",
        "      {{- with .Values.scheduler.nodeSelector }}\n      nodeSelector: {{- toYaml . | nindent 8 }}\n      {{- end }}\n",
        "      {{- with .Values.imagePullSecrets }}\n",
    ] {
        assert!(scheduler.contains(expected), "{expected}:\n{scheduler}");
    }
    let workers = file(&files, "deploy/chart/templates/workers.yaml");
    assert!(workers.contains("replicas: {{ .Values.workers.canaryAnalysis.replicas }}"));
    // Separate workers keep the names autopilot-operator.yaml calls them by.
    assert!(workers.contains("name: canary-analysis\n"), "{workers}");
    assert!(workers.contains("{{- with .Values.workers.canaryAnalysis.tolerations }}"));
    // Every `.Values` path a template reads is in values.yaml's schema.
    let schema: serde_json::Value =
        serde_json::from_str(file(&files, "deploy/chart/values.schema.json")).unwrap();
    for (path, text) in files
        .iter()
        .filter(|f| f.path.starts_with("deploy/chart/templates/"))
        .map(|f| (&f.path, &f.contents))
    {
        for used in text.split(".Values.").skip(1) {
            let key: String = used
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            let node = key
                .trim_end_matches('.')
                .split('.')
                .fold(&schema, |node, k| &node["properties"][k]);
            assert!(
                node.is_object(),
                "{path}: .Values.{key} is not in the schema"
            );
        }
    }
}

#[test]
fn crd_is_a_template_kept_on_uninstall() {
    let files = render(&canary(), "default");
    let crd = file(&files, "deploy/chart/templates/crd.yaml");
    assert!(crd.contains("{{- if .Values.crds.install }}\n"), "{crd}");
    assert!(
        crd.contains("  annotations:\n    helm.sh/resource-policy: keep\n"),
        "{crd}"
    );
    assert!(
        !files
            .iter()
            .any(|f| f.path.starts_with("deploy/chart/crds/"))
    );
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
    let chart = file(&files, "deploy/chart/templates/rbac.yaml");
    let (account, grants) = chart
        .split_once("{{- if .Values.rbac.namespaced }}\n")
        .unwrap();
    assert!(account.contains("kind: ServiceAccount\n"), "{chart}");
    let (namespaced, cluster) = grants.split_once("{{- else }}\n").unwrap();
    assert!(namespaced.contains("kind: Role\n"));
    assert!(namespaced.contains("kind: RoleBinding\n"));
    assert!(!namespaced.contains("ClusterRole"));
    assert_eq!(
        namespaced
            .matches("namespace: {{ .Release.Namespace | quote }}")
            .count(),
        3
    );
    assert!(
        cluster.contains("kind: ClusterRole\n") && cluster.contains("kind: ClusterRoleBinding\n")
    );
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

#[test]
fn git_targets_mount_their_secrets_and_may_read_kustomizations() {
    let mut model = canary();
    model.project.phases[1].destinations = vec![
        autopilot_model::git::Destination::Apply,
        autopilot_model::git::Destination::Git("fleet".into()),
    ];
    model.operator = autopilot_model::parse_operator(
        "autopilot-operator.yaml",
        "git:\n  fleet:\n    url: https://git.example.com/org/fleet.git\n    \
         credentials: {secret: fleet-git}\n  local:\n    url: https://h/r.git\n    \
         credentials: {passwordFile: /tmp/token}\n",
    )
    .unwrap();
    let files = render(&model, "canary-system");
    let scheduler = file(&files, "deploy/scheduler.yaml");
    assert!(scheduler.contains("secretName: fleet-git"), "{scheduler}");
    assert!(
        scheduler.contains("mountPath: /var/run/autopilot/git/fleet"),
        "{scheduler}"
    );
    assert!(
        !scheduler.contains("git-local"),
        "file credentials mount nothing"
    );
    let rules = crate::rbac::rules(&model.project);
    assert!(
        rules
            .iter()
            .any(|r| r.group == "kustomize.toolkit.fluxcd.io"
                && r.resource == "kustomizations"
                && r.verbs == ["get"])
    );
    assert!(
        !crate::rbac::rules(&canary().project)
            .iter()
            .any(|r| r.resource == "kustomizations")
    );
    let schema = crate::crd::schema(&model.project);
    assert_eq!(
        schema["properties"]["status"]["properties"]["git"]["type"],
        "object"
    );
    assert!(
        crate::crd::schema(&canary().project)["properties"]["status"]["properties"]
            .get("git")
            .is_none()
    );
}

#[test]
fn the_event_receiver_gets_a_port_a_service_its_secret_and_an_optional_ingress() {
    let mut model = canary();
    model.operator = autopilot_model::parse_operator(
        "autopilot-operator.yaml",
        "receiver:\n  addr: 0.0.0.0:9093\n  cloudevents: {tokenFile: /var/run/autopilot/receiver/token}\n",
    )
    .unwrap();
    let files = render(&model, "canary-system");
    let scheduler = file(&files, "deploy/scheduler.yaml");
    for expected in [
        "- name: events\n              containerPort: 9093\n",
        "secretName: canary-operator-receiver\n",
        "mountPath: /var/run/autopilot/receiver\n",
        "name: canary-operator-events\n",
        "targetPort: events\n",
    ] {
        assert!(scheduler.contains(expected), "{expected:?}:\n{scheduler}");
    }
    let ingress = file(&files, "deploy/chart/templates/events-ingress.yaml");
    assert!(
        ingress.contains("{{- if .Values.events.ingress.enabled }}\n"),
        "{ingress}"
    );
    assert!(ingress.contains("name: {{ include \"canary-operator.fullname\" . }}-events\n"));
    assert!(file(&files, "deploy/chart/values.yaml").contains("events:\n  ingress:\n"));
    let schema: serde_json::Value =
        serde_json::from_str(file(&files, "deploy/chart/values.schema.json")).unwrap();
    assert!(schema["properties"]["events"]["properties"]["ingress"].is_object());
    // Off by default: none of it.
    let plain = render(&canary(), "canary-system");
    assert!(!file(&plain, "deploy/scheduler.yaml").contains("events"));
    assert!(
        !plain
            .iter()
            .any(|f| f.path.ends_with("events-ingress.yaml"))
    );
}
