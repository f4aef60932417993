//! The operator's Helm chart under `deploy/chart/`, laid out as `helm create` does: names from
//! the release (`_helpers.tpl`), the recommended `app.kubernetes.io/*` labels, images as
//! repository/tag/pullPolicy, pod placement values, a values schema, NOTES.txt, an optional
//! ServiceMonitor and PodDisruptionBudget, and the CRD in `templates/` behind `crds.install` so
//! that `helm upgrade` updates it (Helm never upgrades what is under `crds/`).
//!
//! The scheduler's own objects (Deployment, Services, ConfigMap, ServiceAccount, RBAC) are named
//! after the release, so two releases never collide. Workers deployed on their own keep their
//! names from `autopilot.yaml`: the endpoints of `autopilot-operator.yaml` call them by those
//! names.

use autopilot_model::{Model, WorkerMode};
use serde_json::{Value, json};

use super::{
    CONFIG_DIR, DEFAULT_SCHEDULER_IMAGE, Manifests, Resources, SCHEDULER_RESOURCES,
    WORKER_RESOURCES, join, values_key,
};
use crate::yaml::Yaml;
use crate::{DO_NOT_EDIT, GeneratedFile};

const TEMPLATES: &str = "deploy/chart/templates";

/// Every file of the chart.
pub(super) fn files(model: &Model, chart: &Manifests<'_>) -> Vec<GeneratedFile> {
    let project = &model.project;
    let name = project.operator_name.as_str();
    let header = format!("# {DO_NOT_EDIT}\n");
    let mut files = vec![
        GeneratedFile::regenerated(
            "deploy/chart/Chart.yaml",
            format!(
                "{header}{}",
                Yaml::map()
                    .with("apiVersion", "v2")
                    .with("name", name)
                    .with(
                        "description",
                        format!(
                            "The {name} operator ({}), run by the Autopilot scheduler",
                            project.kind
                        )
                    )
                    .with("type", "application")
                    .with("version", "0.1.0")
                    .with("appVersion", "0.1.0")
                    .with("kubeVersion", ">=1.25.0-0")
                    .to_document()
            ),
        ),
        GeneratedFile::regenerated("deploy/chart/values.yaml", values(model)),
        GeneratedFile::regenerated(
            "deploy/chart/values.schema.json",
            schema_text(&values_schema(model)),
        ),
        GeneratedFile::regenerated(format!("{TEMPLATES}/_helpers.tpl"), helpers(name)),
        GeneratedFile::regenerated(format!("{TEMPLATES}/NOTES.txt"), notes(model)),
        GeneratedFile::regenerated(format!("{TEMPLATES}/crd.yaml"), crds(model)),
        GeneratedFile::regenerated(format!("{TEMPLATES}/rbac.yaml"), rbac(chart)),
        GeneratedFile::regenerated(
            format!("{TEMPLATES}/configmap.yaml"),
            format!("{header}{}", chart.config_map().to_document()),
        ),
        GeneratedFile::regenerated(
            format!("{TEMPLATES}/scheduler.yaml"),
            format!(
                "{header}{}",
                watch_own_namespace_when_namespaced(&join(&chart.scheduler()))
            ),
        ),
        GeneratedFile::regenerated(
            format!("{TEMPLATES}/servicemonitor.yaml"),
            format!(
                "{header}{{{{- if .Values.metrics.serviceMonitor.enabled }}}}\n{}{{{{- end }}}}\n",
                service_monitor(chart).to_document()
            ),
        ),
        GeneratedFile::regenerated(
            format!("{TEMPLATES}/pdb.yaml"),
            format!(
                "{header}{{{{- if .Values.podDisruptionBudget.enabled }}}}\n{}{{{{- end }}}}\n",
                disruption_budget(chart).to_document()
            ),
        ),
    ];
    if let Some(ingress) = chart.receiver_ingress() {
        files.push(GeneratedFile::regenerated(
            format!("{TEMPLATES}/events-ingress.yaml"),
            format!(
                "{header}{{{{- if .Values.events.ingress.enabled }}}}\n{}{{{{- end }}}}\n",
                ingress.to_document()
            ),
        ));
    }
    let workers = chart.separate_workers();
    if !workers.is_empty() {
        files.push(GeneratedFile::regenerated(
            format!("{TEMPLATES}/workers.yaml"),
            format!("{header}{}", join(&workers)),
        ));
    }
    files
}

/// The named templates: `<chart>.name`, `.fullname`, `.labels` and `.selectorLabels` (the last
/// two take `(list . "component")`).
fn helpers(name: &str) -> String {
    format!(
        r#"{{{{/* {DO_NOT_EDIT} */}}}}

{{{{/*
The chart's name, shortened to 63 characters (a label value's limit).
*/}}}}
{{{{- define "{name}.name" -}}}}
{{{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}}}
{{{{- end }}}}

{{{{/*
The full name of the release's own objects: the release name, plus the chart name unless the
release name already contains it, so that two releases never collide.
*/}}}}
{{{{- define "{name}.fullname" -}}}}
{{{{- if .Values.fullnameOverride }}}}
{{{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}}}
{{{{- else }}}}
{{{{- $name := default .Chart.Name .Values.nameOverride }}}}
{{{{- if contains $name .Release.Name }}}}
{{{{- .Release.Name | trunc 63 | trimSuffix "-" }}}}
{{{{- else }}}}
{{{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}}}
{{{{- end }}}}
{{{{- end }}}}
{{{{- end }}}}

{{{{/*
The labels of every object; takes (list . "component").
*/}}}}
{{{{- define "{name}.labels" -}}}}
{{{{- $ctx := index . 0 -}}}}
helm.sh/chart: {{{{ printf "%s-%s" $ctx.Chart.Name $ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}}}
{{{{ include "{name}.selectorLabels" . }}}}
app.kubernetes.io/version: {{{{ $ctx.Chart.AppVersion | quote }}}}
app.kubernetes.io/part-of: {{{{ include "{name}.name" $ctx }}}}
app.kubernetes.io/managed-by: {{{{ $ctx.Release.Service }}}}
{{{{- end }}}}

{{{{/*
The labels that select one component's pods of this release; takes (list . "component").
*/}}}}
{{{{- define "{name}.selectorLabels" -}}}}
{{{{- $ctx := index . 0 -}}}}
app.kubernetes.io/name: {{{{ include "{name}.name" $ctx }}}}
app.kubernetes.io/instance: {{{{ $ctx.Release.Name }}}}
app.kubernetes.io/component: {{{{ index . 1 }}}}
{{{{- end }}}}
"#
    )
}

/// What `helm install` prints: where the scheduler runs and how to watch resources.
fn notes(model: &Model) -> String {
    let project = &model.project;
    let name = project.operator_name.as_str();
    let resource = format!("{}.{}", project.plural(), project.group());
    format!(
        r#"{{{{/* {DO_NOT_EDIT} */}}}}
The {name} operator ({kind}) is installed as {{{{ include "{name}.fullname" . }}}} in {{{{ .Release.Namespace }}}}.

Wait for the scheduler:
  kubectl -n {{{{ .Release.Namespace }}}} rollout status deployment/{{{{ include "{name}.fullname" . }}}}

Create a {kind} (deploy/example.yaml in the project) and watch it move through its phases:
  kubectl get {resource} --all-namespaces --watch
  ap status --all-namespaces

The scheduler's logs and metrics:
  kubectl -n {{{{ .Release.Namespace }}}} logs deployment/{{{{ include "{name}.fullname" . }}}} -c scheduler -f
  kubectl -n {{{{ .Release.Namespace }}}} port-forward service/{{{{ include "{name}.fullname" . }}}}-metrics 9091:9091
{{{{- if not .Values.crds.install }}}}

crds.install is false: install the {kind} CRD yourself (deploy/crd.yaml in the project).
{{{{- end }}}}
"#,
        kind = project.kind,
    )
}

/// The CRD (and the EventDelivery CRD when the project declares events), behind
/// `crds.install`, kept on uninstall: deleting a CRD deletes every resource of its kind.
fn crds(model: &Model) -> String {
    let project = &model.project;
    let keep = |doc: String| {
        doc.replacen(
            "metadata:\n",
            "metadata:\n  annotations:\n    helm.sh/resource-policy: keep\n",
            1,
        )
    };
    let mut out = format!(
        "# {DO_NOT_EDIT}\n{{{{- if .Values.crds.install }}}}\n{}",
        keep(crate::crd::crd(project).to_document())
    );
    if !project.events.is_empty() {
        out.push_str("---\n");
        out.push_str(&keep(crate::event_delivery::crd()));
    }
    out.push_str("{{- end }}\n");
    out
}

/// The ServiceAccount, then a Role and RoleBinding in the release namespace with
/// `rbac.namespaced`, else a ClusterRole and ClusterRoleBinding; all named after the release.
fn rbac(chart: &Manifests<'_>) -> String {
    let account = Yaml::map()
        .with("apiVersion", "v1")
        .with("kind", "ServiceAccount")
        .with("metadata", chart.metadata(chart.own_name(""), "scheduler"));
    let rules = crate::rbac::rules(chart.project)
        .into_iter()
        .map(|r| {
            Yaml::map()
                .with("apiGroups", Yaml::strs([r.group.as_str()]))
                .with("resources", Yaml::strs([r.resource.as_str()]))
                .with("verbs", Yaml::strs(r.verbs))
        })
        .collect::<Vec<_>>();
    let grant = |role: &str, binding: &str, namespaced: bool| {
        let metadata = || {
            if namespaced {
                chart.metadata(chart.own_name(""), "scheduler")
            } else {
                Yaml::map()
                    .with("name", chart.own_name(""))
                    .with("labels", chart.labels("scheduler"))
            }
        };
        let role_doc = Yaml::map()
            .with("apiVersion", "rbac.authorization.k8s.io/v1")
            .with("kind", role)
            .with("metadata", metadata())
            .with("rules", Yaml::Seq(rules.clone()));
        let binding_doc = Yaml::map()
            .with("apiVersion", "rbac.authorization.k8s.io/v1")
            .with("kind", binding)
            .with("metadata", metadata())
            .with(
                "roleRef",
                Yaml::map()
                    .with("apiGroup", "rbac.authorization.k8s.io")
                    .with("kind", role)
                    .with("name", chart.own_name("")),
            )
            .with(
                "subjects",
                Yaml::Seq(vec![
                    Yaml::map()
                        .with("kind", "ServiceAccount")
                        .with("name", chart.own_name(""))
                        .with("namespace", chart.namespace()),
                ]),
            );
        join(&[role_doc, binding_doc])
    };
    format!(
        "# {DO_NOT_EDIT}\n{}---\n{{{{- if .Values.rbac.namespaced }}}}\n{}{{{{- else }}}}\n{}{{{{- end }}}}\n",
        account.to_document(),
        grant("Role", "RoleBinding", true),
        grant("ClusterRole", "ClusterRoleBinding", false),
    )
}

/// The chart's scheduler watches only the release namespace when `rbac.namespaced` is set: an
/// extra `--namespaces` argument after `--project-dir`. A flag rather than an empty default, so
/// that `namespaces` of autopilot-operator.yaml still applies with cluster-wide RBAC.
fn watch_own_namespace_when_namespaced(scheduler: &str) -> String {
    let mut out = String::new();
    for line in scheduler.lines() {
        out.push_str(line);
        out.push('\n');
        let trimmed = line.trim_start();
        if trimmed.starts_with("- ") && trimmed.contains("--project-dir=") {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!(
                "{indent}{{{{- if .Values.rbac.namespaced }}}}\n\
                 {indent}- --namespaces={{{{ .Release.Namespace }}}}\n\
                 {indent}{{{{- end }}}}\n"
            ));
        }
    }
    out
}

/// A Prometheus Operator ServiceMonitor over the scheduler's metrics Service.
fn service_monitor(chart: &Manifests<'_>) -> Yaml {
    Yaml::map()
        .with("apiVersion", "monitoring.coreos.com/v1")
        .with("kind", "ServiceMonitor")
        .with(
            "metadata",
            chart.metadata(chart.own_name(""), "scheduler").with(
                "annotations",
                Yaml::With(".Values.metrics.serviceMonitor.annotations".to_owned()),
            ),
        )
        .with(
            "spec",
            Yaml::map()
                .with(
                    "selector",
                    Yaml::map().with("matchLabels", chart.selector("scheduler")),
                )
                .with(
                    "endpoints",
                    Yaml::Seq(vec![
                        Yaml::map()
                            .with("port", "metrics")
                            .with("path", "/metrics")
                            .with(
                                "interval",
                                Yaml::Raw(
                                    "{{ .Values.metrics.serviceMonitor.interval }}".to_owned(),
                                ),
                            ),
                    ]),
                ),
        )
}

/// A PodDisruptionBudget over the scheduler's pods.
fn disruption_budget(chart: &Manifests<'_>) -> Yaml {
    Yaml::map()
        .with("apiVersion", "policy/v1")
        .with("kind", "PodDisruptionBudget")
        .with("metadata", chart.metadata(chart.own_name(""), "scheduler"))
        .with(
            "spec",
            Yaml::map()
                .with(
                    "minAvailable",
                    Yaml::Raw("{{ .Values.podDisruptionBudget.minAvailable }}".to_owned()),
                )
                .with(
                    "selector",
                    Yaml::map().with("matchLabels", chart.selector("scheduler")),
                ),
        )
}

/// `image:` values of one container: repository, tag (empty: the chart's appVersion), pull
/// policy; indented by `pad`.
fn image_values(pad: &str, repository: &str, tag: &str) -> String {
    format!(
        "{pad}image:\n\
         {pad}  repository: {repository}\n\
         {pad}  # -- Default: the chart's appVersion.\n\
         {pad}  tag: \"{tag}\"\n\
         {pad}  pullPolicy: IfNotPresent\n"
    )
}

fn resources_values(pad: &str, r: &Resources) -> String {
    format!(
        "{pad}# -- Container resources (requests and limits, as in a pod spec).\n\
         {pad}resources:\n\
         {pad}  requests:\n\
         {pad}    cpu: {}\n\
         {pad}    memory: {}\n\
         {pad}  limits:\n\
         {pad}    cpu: \"{}\"\n\
         {pad}    memory: {}\n",
        r.requests.0, r.requests.1, r.limits.0, r.limits.1
    )
}

fn placement_values(pad: &str) -> String {
    format!(
        "{pad}# -- Annotations of the pods.\n\
         {pad}podAnnotations: {{}}\n\
         {pad}# -- Node labels the pods must run on.\n\
         {pad}nodeSelector: {{}}\n\
         {pad}# -- Taints the pods tolerate.\n\
         {pad}tolerations: []\n\
         {pad}# -- Affinity rules of the pods.\n\
         {pad}affinity: {{}}\n"
    )
}

/// The chart's documented `values.yaml`.
fn values(model: &Model) -> String {
    let project = &model.project;
    let name = project.operator_name.as_str();
    let (repository, tag) = DEFAULT_SCHEDULER_IMAGE
        .rsplit_once(':')
        .unwrap_or((DEFAULT_SCHEDULER_IMAGE, ""));
    // The scheduler's tag defaults to the chart's appVersion, which is the scheduler's version.
    let tag = if tag == "0.1.0" { "" } else { tag };
    let mut out = format!(
        "# {DO_NOT_EDIT}\n\
         # Values of the {name} chart. Install with:\n\
         #   helm install {name} deploy/chart --namespace {name}-system --create-namespace \\\n\
         #     --set-file config.project=autopilot.yaml --set-file config.operator=autopilot-operator.yaml\n\
         \n\
         # -- Override the chart name in object names and labels.\n\
         nameOverride: \"\"\n\
         # -- Override the full name of the release's objects (default: the release name, plus the\n\
         # chart name when the release name does not contain it).\n\
         fullnameOverride: \"\"\n\
         # -- Secrets for pulling the scheduler's and workers' images, e.g. `[{{name: regcred}}]`.\n\
         imagePullSecrets: []\n\
         \n\
         # The two project files the scheduler reads (mounted at {CONFIG_DIR}, reloaded on change).\n\
         config:\n\
         \x20 # -- Text of autopilot.yaml (required).\n\
         \x20 project: \"\"\n\
         \x20 # -- Text of autopilot-operator.yaml; empty means every default.\n\
         \x20 operator: \"\"\n\
         \n\
         crds:\n\
         \x20 # -- Install the {kind} CRD with the chart, so that `helm upgrade` updates it. false for a\n\
         \x20 # second release of the same operator, or when the CRD is managed elsewhere. The CRD is\n\
         \x20 # kept on `helm uninstall`: deleting it would delete every {kind}.\n\
         \x20 install: true\n\
         \n\
         rbac:\n\
         \x20 # -- false: a ClusterRole, the scheduler watches every namespace (or the namespaces of\n\
         \x20 # autopilot-operator.yaml). true: a Role in the release namespace, which the\n\
         \x20 # scheduler then watches alone.\n\
         \x20 namespaced: false\n\
         \n\
         scheduler:\n\
         {image}\
         \x20 # -- More than one replica needs leaderElection.enabled in autopilot-operator.yaml.\n\
         \x20 replicas: 1\n\
         {resources}\
         {placement}\
         \n\
         metrics:\n\
         \x20 serviceMonitor:\n\
         \x20   # -- A Prometheus Operator ServiceMonitor for the scheduler's /metrics (needs the\n\
         \x20   # monitoring.coreos.com CRDs).\n\
         \x20   enabled: false\n\
         \x20   # -- How often Prometheus scrapes.\n\
         \x20   interval: 30s\n\
         \x20   # -- Annotations of the ServiceMonitor.\n\
         \x20   annotations: {{}}\n\
         \n\
         podDisruptionBudget:\n\
         \x20 # -- A PodDisruptionBudget for the scheduler's pods; useful with scheduler.replicas > 1.\n\
         \x20 enabled: false\n\
         \x20 # -- Pods that must stay available during a voluntary disruption.\n\
         \x20 minAvailable: 1\n",
        kind = project.kind,
        image = image_values("  ", repository, tag),
        resources = resources_values("  ", &SCHEDULER_RESOURCES),
        placement = placement_values("  "),
    );
    if model.operator.receiver.addr.is_some() {
        out.push_str(&format!(
            "\n# The event receiver (receiver.addr of autopilot-operator.yaml), served in the cluster\n\
             # by the Service <fullname>-events; its tokens and signing secrets come from the Secret\n\
             # <fullname>-receiver, with keys named as the files autopilot-operator.yaml reads.\n\
             events:\n\
             \x20 ingress:\n\
             \x20   # -- An Ingress for senders outside the cluster (GitHub, a CI system).\n\
             \x20   enabled: false\n\
             \x20   # -- The IngressClass; empty means the cluster's default.\n\
             \x20   className: \"\"\n\
             \x20   # -- Host name the senders post to.\n\
             \x20   host: events.{name}.example.com\n\
             \x20   # -- Annotations of the Ingress (e.g. cert-manager's).\n\
             \x20   annotations: {{}}\n\
             \x20   # -- TLS of the Ingress, as in its spec.\n\
             \x20   tls: []\n"
        ));
    }
    if project.workers.is_empty() {
        return out;
    }
    out.push_str("\n# One entry per worker of autopilot.yaml.\nworkers:\n");
    for worker in &project.workers {
        let deployment = worker.mode == WorkerMode::Deployment;
        out.push_str(&format!(
            "  # The {} worker ({}), {}.\n  {}:\n",
            worker.name,
            worker.language,
            if deployment {
                format!(
                    "its own Deployment and Service named {} (the name autopilot-operator.yaml calls)",
                    worker.name
                )
            } else {
                "a sidecar of the scheduler".to_owned()
            },
            values_key(&worker.name),
        ));
        out.push_str(&image_values(
            "    ",
            &format!("{name}-{}", worker.name),
            "latest",
        ));
        if deployment {
            out.push_str(&format!(
                "    # -- Pods of the worker behind its Service.\n    replicas: {}\n",
                worker.replicas
            ));
        }
        out.push_str(&resources_values("    ", &WORKER_RESOURCES));
        if deployment {
            out.push_str(&placement_values("    "));
        }
    }
    out
}

/// The schema as pretty JSON whose first line is a `$comment` saying it is generated (JSON has
/// no comments).
fn schema_text(schema: &Value) -> String {
    let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
    let body = pretty.strip_prefix("{\n").unwrap_or(&pretty);
    format!("{{\"$comment\": {},\n{body}\n", Value::from(DO_NOT_EDIT))
}

/// JSON Schema of `values.yaml`: `helm install`, `upgrade`, `template` and `lint` refuse values
/// that do not match it, naming the field (a typo such as `scheduler.replica` included).
fn values_schema(model: &Model) -> Value {
    let project = &model.project;
    let string = || json!({"type": "string"});
    let object = || json!({"type": "object"});
    let image = || {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["repository"],
            "properties": {
                "repository": {"type": "string", "minLength": 1},
                "tag": {"type": "string"},
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}
            }
        })
    };
    let replicas = || json!({"type": "integer", "minimum": 0});
    let placement = |mut properties: serde_json::Map<String, Value>| {
        properties.insert("podAnnotations".into(), object());
        properties.insert("nodeSelector".into(), object());
        properties.insert("tolerations".into(), json!({"type": "array"}));
        properties.insert("affinity".into(), object());
        properties
    };
    let mut scheduler = serde_json::Map::new();
    scheduler.insert("image".into(), image());
    scheduler.insert("replicas".into(), replicas());
    scheduler.insert("resources".into(), object());
    let mut workers = serde_json::Map::new();
    for worker in &project.workers {
        let mut properties = serde_json::Map::new();
        properties.insert("image".into(), image());
        properties.insert("resources".into(), object());
        if worker.mode == WorkerMode::Deployment {
            properties.insert("replicas".into(), replicas());
            properties = placement(properties);
        }
        workers.insert(
            values_key(&worker.name),
            json!({"type": "object", "additionalProperties": false, "properties": properties}),
        );
    }
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft-07/schema#",
        "title": format!("Values of the {} chart", project.operator_name),
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "global": object(),
            "nameOverride": string(),
            "fullnameOverride": string(),
            "imagePullSecrets": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": string()}}
            },
            "config": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"project": string(), "operator": string()}
            },
            "crds": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"install": {"type": "boolean"}}
            },
            "rbac": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"namespaced": {"type": "boolean"}}
            },
            "scheduler": {
                "type": "object",
                "additionalProperties": false,
                "properties": placement(scheduler)
            },
            "metrics": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "serviceMonitor": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "enabled": {"type": "boolean"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "annotations": object()
                        }
                    }
                }
            },
            "podDisruptionBudget": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "minAvailable": {"type": ["integer", "string"]}
                }
            },
            "workers": {
                "type": "object",
                "additionalProperties": false,
                "properties": workers
            }
        }
    });
    if model.operator.receiver.addr.is_some() {
        schema["properties"]["events"] = json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "ingress": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "className": string(),
                        "host": string(),
                        "annotations": object(),
                        "tls": {"type": "array"}
                    }
                }
            }
        });
    }
    schema
}
