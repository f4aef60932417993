//! Manifests that run the operator on a cluster: the scheduler Deployment (with sidecar
//! workers) and the workers deployed on their own, as plain YAML under `deploy/` and as a Helm
//! chart under `deploy/chart/`.
//!
//! Both are built from the same description: every value a chart user may change is a
//! [`Value`] that renders as the default in the plain manifests and as a template expression
//! (`{{ .Values.… }}`) in the chart.
//!
//! The scheduler reads `autopilot.yaml` and `autopilot-operator.yaml` from the ConfigMap
//! `<operatorName>-config`, mounted at `/config` and reloaded when it changes. `ap deploy`
//! creates it from the project's files; with plain kubectl:
//! `kubectl create configmap <operatorName>-config --from-file=autopilot.yaml
//! --from-file=autopilot-operator.yaml`; with Helm: `--set-file config.project=autopilot.yaml
//! --set-file config.operator=autopilot-operator.yaml`.
//!
//! RBAC comes in two scopes: cluster-wide (a ClusterRole, the scheduler watching every
//! namespace; the default, as in `deploy/rbac.yaml`) and namespaced (a Role and RoleBinding in
//! the scheduler's namespace, which the scheduler then watches alone). The chart switches with
//! `rbac.namespaced`; `ap deploy --namespaced` turns the rules of `deploy/rbac.yaml` into a
//! Role the same way.

use autopilot_model::operator::{DEFAULT_HEALTH_ADDR, DEFAULT_METRICS_ADDR, Endpoint};
use autopilot_model::{Model, Project, Worker, WorkerMode};

use crate::yaml::Yaml;
use crate::{DO_NOT_EDIT, GeneratedFile};

mod chart;
mod git_credentials;
mod receiver;
#[cfg(test)]
mod tests;

/// The scheduler's container image when neither `ap deploy --scheduler-image` nor the chart's
/// `scheduler.image` says otherwise.
pub const DEFAULT_SCHEDULER_IMAGE: &str = "autopilot-scheduler:0.1.0";
/// Where the ConfigMap with the two project files is mounted in the scheduler container.
pub const CONFIG_DIR: &str = "/config";
/// Port of the workers' gRPC server when the endpoint has none.
const DEFAULT_WORKER_PORT: u16 = 50051;
/// Where a worker's TLS Secret (`tls.crt`, `tls.key`, optional `ca.crt`) is mounted.
const WORKER_TLS_DIR: &str = "/etc/autopilot/worker-tls";

/// The `app.kubernetes.io/managed-by` label of everything `ap` generates and applies (the chart
/// uses Helm's own, `.Release.Service`).
pub(crate) const MANAGED_BY: &str = "ap";

/// Plain manifests (defaults) or Helm templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Plain,
    Chart,
}

/// Renders every deployment file.
pub(crate) fn render(model: &Model, namespace: &str) -> Vec<GeneratedFile> {
    let project = &model.project;
    let plain = Manifests::new(model, Flavor::Plain, namespace);
    let chart = Manifests::new(model, Flavor::Chart, namespace);
    let header = format!("# {DO_NOT_EDIT}\n");
    let mut files = vec![GeneratedFile::regenerated(
        "deploy/scheduler.yaml",
        format!(
            "{header}# The scheduler (with its sidecar workers). It reads the ConfigMap {name}-config:\n\
             #   kubectl create configmap {name}-config --from-file=autopilot.yaml --from-file=autopilot-operator.yaml\n\
             # `ap deploy` creates it and applies everything under deploy/.\n{}",
            join(&plain.scheduler()),
            name = project.operator_name
        ),
    )];
    let workers = plain.separate_workers();
    if !workers.is_empty() {
        files.push(GeneratedFile::regenerated(
            "deploy/workers.yaml",
            format!(
                "{header}# Workers deployed on their own (`mode: deployment`), each with a Service.\n{}",
                join(&workers)
            ),
        ));
    }

    files.extend(chart::files(model, &chart));
    files
}

pub(super) fn join(docs: &[Yaml]) -> String {
    docs.iter()
        .map(Yaml::to_document)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The host port of an `http://` or `https://` endpoint (default 50051).
fn port_of(url: &str) -> u16 {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(DEFAULT_WORKER_PORT)
}

/// A DNS-1123 name for a values key: `canary-worker` → `canaryWorker`.
fn values_key(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '-' || c == '.' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

struct Manifests<'a> {
    model: &'a Model,
    project: &'a Project,
    flavor: Flavor,
    namespace: String,
}

/// Resource requests and limits of one container.
struct Resources {
    requests: (&'static str, &'static str),
    limits: (&'static str, &'static str),
}

const SCHEDULER_RESOURCES: Resources = Resources {
    requests: ("100m", "64Mi"),
    limits: ("1", "256Mi"),
};
const WORKER_RESOURCES: Resources = Resources {
    requests: ("50m", "64Mi"),
    limits: ("500m", "256Mi"),
};

impl<'a> Manifests<'a> {
    fn new(model: &'a Model, flavor: Flavor, namespace: &str) -> Self {
        Self {
            model,
            project: &model.project,
            flavor,
            namespace: namespace.to_owned(),
        }
    }

    fn name(&self) -> &str {
        &self.project.operator_name
    }

    /// `default` in plain manifests, `{{ .Values.<path> }}` (optionally piped) in the chart.
    fn value(&self, path: &str, default: impl Into<Yaml>, pipe: &str) -> Yaml {
        match self.flavor {
            Flavor::Plain => default.into(),
            Flavor::Chart => Yaml::Raw(format!("{{{{ .Values.{path}{pipe} }}}}")),
        }
    }

    fn namespace(&self) -> Yaml {
        match self.flavor {
            Flavor::Plain => Yaml::from(self.namespace.as_str()),
            Flavor::Chart => Yaml::Raw("{{ .Release.Namespace | quote }}".to_owned()),
        }
    }

    /// The name of one of the operator's own objects: the operator's name plus `suffix` in
    /// plain manifests; in the chart, the release's full name (`_helpers.tpl`) plus `suffix`,
    /// so that two releases never collide.
    fn own_name(&self, suffix: &str) -> Yaml {
        match self.flavor {
            Flavor::Plain => Yaml::from(format!("{}{suffix}", self.name())),
            Flavor::Chart => Yaml::Raw(format!(
                "{{{{ include \"{}.fullname\" . }}}}{suffix}",
                self.name()
            )),
        }
    }

    fn labels(&self, component: &str) -> Yaml {
        match self.flavor {
            Flavor::Plain => Yaml::map()
                .with("app.kubernetes.io/name", self.name())
                .with("app.kubernetes.io/component", component)
                .with("app.kubernetes.io/part-of", self.name())
                .with("app.kubernetes.io/managed-by", MANAGED_BY),
            Flavor::Chart => Yaml::Block(format!(
                "include \"{}.labels\" (list . \"{component}\")",
                self.name()
            )),
        }
    }

    fn selector(&self, component: &str) -> Yaml {
        match self.flavor {
            Flavor::Plain => Yaml::map()
                .with("app.kubernetes.io/name", self.name())
                .with("app.kubernetes.io/component", component),
            Flavor::Chart => Yaml::Block(format!(
                "include \"{}.selectorLabels\" (list . \"{component}\")",
                self.name()
            )),
        }
    }

    fn metadata(&self, name: impl Into<Yaml>, component: &str) -> Yaml {
        Yaml::map()
            .with("name", name)
            .with("namespace", self.namespace())
            .with("labels", self.labels(component))
    }

    /// A container's resources: the defaults, or in the chart `.Values.<key>.resources` whole,
    /// so a user can drop the limits or add ephemeral storage.
    fn resources(&self, key: &str, r: &Resources) -> Yaml {
        if self.flavor == Flavor::Chart {
            return Yaml::Block(format!("toYaml .Values.{key}.resources"));
        }
        let one = |(cpu, memory): (&str, &str)| Yaml::map().with("cpu", cpu).with("memory", memory);
        Yaml::map()
            .with("requests", one(r.requests))
            .with("limits", one(r.limits))
    }

    /// A container image: `default` in plain manifests; in the chart
    /// `.Values.<key>.image.repository:tag` (the tag defaulting to the chart's appVersion).
    fn image(&self, key: &str, default: &str) -> Yaml {
        match self.flavor {
            Flavor::Plain => Yaml::from(default),
            Flavor::Chart => Yaml::Raw(format!(
                "\"{{{{ .Values.{key}.image.repository }}}}:{{{{ .Values.{key}.image.tag | default .Chart.AppVersion }}}}\""
            )),
        }
    }

    /// A container with its image, and in the chart its `imagePullPolicy`.
    fn container(&self, name: &str, key: &str, default_image: &str) -> Yaml {
        let container = Yaml::map()
            .with("name", name)
            .with("image", self.image(key, default_image));
        match self.flavor {
            Flavor::Plain => container,
            Flavor::Chart => container.with(
                "imagePullPolicy",
                Yaml::Raw(format!("{{{{ .Values.{key}.image.pullPolicy }}}}")),
            ),
        }
    }

    /// A pod template's metadata: its labels, and in the chart `.Values.<key>.podAnnotations`.
    fn pod_metadata(&self, key: &str, component: &str) -> Yaml {
        let metadata = Yaml::map();
        let metadata = match self.flavor {
            Flavor::Plain => metadata,
            Flavor::Chart => metadata.with(
                "annotations",
                Yaml::With(format!(".Values.{key}.podAnnotations")),
            ),
        };
        metadata.with("labels", self.labels(component))
    }

    /// A pod spec's scheduling and pull settings, in the chart only: `imagePullSecrets` and
    /// `.Values.<key>.{nodeSelector,tolerations,affinity}`, each written when set.
    fn placement(&self, pod: Yaml, key: &str) -> Yaml {
        match self.flavor {
            Flavor::Plain => pod,
            Flavor::Chart => pod
                .with(
                    "imagePullSecrets",
                    Yaml::With(".Values.imagePullSecrets".to_owned()),
                )
                .with(
                    "nodeSelector",
                    Yaml::With(format!(".Values.{key}.nodeSelector")),
                )
                .with(
                    "tolerations",
                    Yaml::With(format!(".Values.{key}.tolerations")),
                )
                .with("affinity", Yaml::With(format!(".Values.{key}.affinity"))),
        }
    }

    fn security_context() -> Yaml {
        Yaml::map()
            .with("allowPrivilegeEscalation", false)
            .with("readOnlyRootFilesystem", true)
            .with("runAsNonRoot", true)
            .with("runAsUser", 65532_i64)
            .with(
                "capabilities",
                Yaml::map().with("drop", Yaml::strs(["ALL"])),
            )
    }

    fn pod_security_context() -> Yaml {
        Yaml::map()
            .with("runAsNonRoot", true)
            .with("runAsUser", 65532_i64)
            .with("runAsGroup", 65532_i64)
            .with("fsGroup", 65532_i64)
            .with("seccompProfile", Yaml::map().with("type", "RuntimeDefault"))
    }

    /// The values key of `worker`: `workers.<name in camelCase>`.
    fn worker_key(worker: &Worker) -> String {
        format!("workers.{}", values_key(&worker.name))
    }

    /// The default image of `worker`.
    fn worker_image(&self, worker: &Worker) -> String {
        format!("{}-{}:latest", self.name(), worker.name)
    }

    /// The endpoint the scheduler calls for `worker`'s phases (that of its first phase).
    fn endpoint_of(&self, worker: &Worker) -> &Endpoint {
        let phase = worker.phases.first().map_or("", String::as_str);
        self.model.operator.endpoint_for(phase)
    }

    fn sidecars(&self) -> Vec<&'a Worker> {
        self.project
            .workers
            .iter()
            .filter(|w| w.mode == WorkerMode::Sidecar)
            .collect()
    }

    /// The scheduler's ServiceAccount is in `rbac.yaml`; here: the Deployment and the metrics
    /// Service.
    fn scheduler(&self) -> Vec<Yaml> {
        let name = self.name();
        let operator = &self.model.operator;
        let metrics_port = operator.metrics_addr.unwrap_or(DEFAULT_METRICS_ADDR).port();
        let health_port = operator.health_addr.unwrap_or(DEFAULT_HEALTH_ADDR).port();
        let probe = |path: &str, period: i64| {
            Yaml::map()
                .with(
                    "httpGet",
                    Yaml::map().with("path", path).with("port", "health"),
                )
                .with("periodSeconds", period)
                .with("failureThreshold", 3_i64)
        };
        let mut volumes = vec![
            Yaml::map().with("name", "config").with(
                "configMap",
                Yaml::map().with("name", self.own_name("-config")),
            ),
            Yaml::map()
                .with("name", "tmp")
                .with("emptyDir", Yaml::map()),
        ];
        let mut scheduler_mounts = vec![
            Yaml::map()
                .with("name", "config")
                .with("mountPath", CONFIG_DIR)
                .with("readOnly", true),
            Yaml::map().with("name", "tmp").with("mountPath", "/tmp"),
        ];
        // Client TLS files of autopilot-operator.yaml come from the Secret <name>-worker-client-tls.
        if let Some(dir) = operator
            .workers
            .tls
            .as_ref()
            .and_then(|t| t.ca_file.as_ref().or(t.cert_file.as_ref()))
            .and_then(|f| f.parent())
        {
            volumes.push(
                Yaml::map().with("name", "worker-client-tls").with(
                    "secret",
                    Yaml::map()
                        .with("secretName", format!("{name}-worker-client-tls"))
                        .with("optional", true),
                ),
            );
            scheduler_mounts.push(
                Yaml::map()
                    .with("name", "worker-client-tls")
                    .with("mountPath", dir.to_string_lossy().into_owned())
                    .with("readOnly", true),
            );
        }
        for (volume, mount) in git_credentials::volumes(operator)
            .into_iter()
            .chain(self.receiver_volumes())
        {
            volumes.push(volume);
            scheduler_mounts.push(mount);
        }
        let mut containers = Vec::new();
        let mut socket_dirs = Vec::new();
        for worker in self.sidecars() {
            let (addr, socket_dir, port) = match self.endpoint_of(worker) {
                Endpoint::Unix(path) => {
                    let dir = path
                        .parent()
                        .map_or_else(|| "/".to_owned(), |d| d.to_string_lossy().into_owned());
                    (format!("unix:{}", path.display()), Some(dir), None)
                }
                Endpoint::Http(url) | Endpoint::Https(url) => {
                    let port = port_of(url);
                    (format!("127.0.0.1:{port}"), None, Some(port))
                }
            };
            let mut mounts = Vec::new();
            if let Some(dir) = socket_dir {
                if !socket_dirs.contains(&dir) {
                    socket_dirs.push(dir.clone());
                }
                let volume = format!(
                    "sockets-{}",
                    socket_dirs.iter().position(|d| *d == dir).unwrap_or(0)
                );
                mounts.push(Yaml::map().with("name", volume).with("mountPath", dir));
            }
            let mut container = self
                .container(
                    &worker.name,
                    &Self::worker_key(worker),
                    &self.worker_image(worker),
                )
                .with(
                    "env",
                    Yaml::Seq(vec![
                        Yaml::map()
                            .with("name", "AUTOPILOT_WORKER_ADDR")
                            .with("value", addr),
                    ]),
                );
            if let Some(port) = port {
                container = container
                    .with(
                        "ports",
                        Yaml::Seq(vec![
                            Yaml::map()
                                .with("name", "grpc")
                                .with("containerPort", i64::from(port)),
                        ]),
                    )
                    .with(
                        "readinessProbe",
                        Yaml::map()
                            .with("grpc", Yaml::map().with("port", i64::from(port)))
                            .with("periodSeconds", 10_i64),
                    );
            }
            if !mounts.is_empty() {
                container = container.with("volumeMounts", Yaml::Seq(mounts));
            }
            containers.push(
                container
                    .with(
                        "resources",
                        self.resources(&Self::worker_key(worker), &WORKER_RESOURCES),
                    )
                    .with("securityContext", Self::security_context()),
            );
        }
        for (i, dir) in socket_dirs.iter().enumerate() {
            volumes.push(
                Yaml::map()
                    .with("name", format!("sockets-{i}"))
                    .with("emptyDir", Yaml::map()),
            );
            scheduler_mounts.push(
                Yaml::map()
                    .with("name", format!("sockets-{i}"))
                    .with("mountPath", dir.as_str()),
            );
        }
        let scheduler = self
            .container("scheduler", "scheduler", DEFAULT_SCHEDULER_IMAGE)
            .with(
                "args",
                Yaml::strs([
                    format!("--project-dir={CONFIG_DIR}").as_str(),
                    format!("--config={CONFIG_DIR}/autopilot-operator.yaml").as_str(),
                    format!("--metrics-addr=0.0.0.0:{metrics_port}").as_str(),
                    format!("--health-addr=0.0.0.0:{health_port}").as_str(),
                ]),
            )
            .with(
                "env",
                Yaml::Seq(vec![Yaml::map().with("name", "AUTOPILOT_INSTANCE").with(
                    "valueFrom",
                    Yaml::map().with("fieldRef", Yaml::map().with("fieldPath", "metadata.name")),
                )]),
            )
            .with(
                "ports",
                Yaml::Seq(
                    [
                        Yaml::map()
                            .with("name", "metrics")
                            .with("containerPort", i64::from(metrics_port)),
                        Yaml::map()
                            .with("name", "health")
                            .with("containerPort", i64::from(health_port)),
                    ]
                    .into_iter()
                    .chain(self.receiver_port())
                    .collect(),
                ),
            )
            .with("livenessProbe", probe("/healthz", 10))
            .with("readinessProbe", probe("/readyz", 5))
            .with("volumeMounts", Yaml::Seq(scheduler_mounts))
            .with(
                "resources",
                self.resources("scheduler", &SCHEDULER_RESOURCES),
            )
            .with("securityContext", Self::security_context());
        containers.insert(0, scheduler);

        let deployment = Yaml::map()
            .with("apiVersion", "apps/v1")
            .with("kind", "Deployment")
            .with("metadata", self.metadata(self.own_name(""), "scheduler"))
            .with(
                "spec",
                Yaml::map()
                    .with("replicas", self.value("scheduler.replicas", 1_i64, ""))
                    .with(
                        "selector",
                        Yaml::map().with("matchLabels", self.selector("scheduler")),
                    )
                    .with(
                        "template",
                        Yaml::map()
                            .with("metadata", self.pod_metadata("scheduler", "scheduler"))
                            .with(
                                "spec",
                                self.placement(
                                    Yaml::map()
                                        .with("serviceAccountName", self.own_name(""))
                                        .with("securityContext", Self::pod_security_context())
                                        .with("containers", Yaml::Seq(containers))
                                        .with("volumes", Yaml::Seq(volumes)),
                                    "scheduler",
                                ),
                            ),
                    ),
            );
        let service = self.scheduler_service("metrics", i64::from(metrics_port));
        let mut docs = vec![deployment, service];
        docs.extend(self.receiver_service());
        docs
    }

    /// A Service `<name>-<port_name>` in front of the scheduler's named container port.
    fn scheduler_service(&self, port_name: &str, port: i64) -> Yaml {
        Yaml::map()
            .with("apiVersion", "v1")
            .with("kind", "Service")
            .with(
                "metadata",
                self.metadata(self.own_name(&format!("-{port_name}")), "scheduler"),
            )
            .with(
                "spec",
                Yaml::map()
                    .with("selector", self.selector("scheduler"))
                    .with(
                        "ports",
                        Yaml::Seq(vec![
                            Yaml::map()
                                .with("name", port_name)
                                .with("port", port)
                                .with("targetPort", port_name),
                        ]),
                    ),
            )
    }

    /// A Deployment and a Service for each worker with `mode: deployment`.
    fn separate_workers(&self) -> Vec<Yaml> {
        let mut docs = Vec::new();
        for worker in &self.project.workers {
            if worker.mode != WorkerMode::Deployment {
                continue;
            }
            let component = format!("worker-{}", worker.name);
            let (port, tls) = match self.endpoint_of(worker) {
                Endpoint::Http(url) => (port_of(url), false),
                Endpoint::Https(url) => (port_of(url), true),
                Endpoint::Unix(_) => (DEFAULT_WORKER_PORT, false),
            };
            let key = Self::worker_key(worker);
            let mut env = vec![
                Yaml::map()
                    .with("name", "AUTOPILOT_WORKER_ADDR")
                    .with("value", format!("0.0.0.0:{port}")),
            ];
            let mut container = self.container("worker", &key, &self.worker_image(worker));
            let mut volumes = Vec::new();
            if tls {
                for (var, file) in [
                    ("AUTOPILOT_WORKER_TLS_CERT", "tls.crt"),
                    ("AUTOPILOT_WORKER_TLS_KEY", "tls.key"),
                ] {
                    env.push(
                        Yaml::map()
                            .with("name", var)
                            .with("value", format!("{WORKER_TLS_DIR}/{file}")),
                    );
                }
                volumes.push(Yaml::map().with("name", "tls").with(
                    "secret",
                    Yaml::map().with("secretName", format!("{}-tls", worker.name)),
                ));
            }
            container = container.with("env", Yaml::Seq(env)).with(
                "ports",
                Yaml::Seq(vec![
                    Yaml::map()
                        .with("name", "grpc")
                        .with("containerPort", i64::from(port)),
                ]),
            );
            if !tls {
                // The gRPC probe speaks plaintext; a TLS worker is checked by the TCP port.
                container = container.with(
                    "readinessProbe",
                    Yaml::map()
                        .with("grpc", Yaml::map().with("port", i64::from(port)))
                        .with("periodSeconds", 10_i64),
                );
            } else {
                container = container.with(
                    "readinessProbe",
                    Yaml::map()
                        .with("tcpSocket", Yaml::map().with("port", "grpc"))
                        .with("periodSeconds", 10_i64),
                );
            }
            if tls {
                container = container.with(
                    "volumeMounts",
                    Yaml::Seq(vec![
                        Yaml::map()
                            .with("name", "tls")
                            .with("mountPath", WORKER_TLS_DIR)
                            .with("readOnly", true),
                    ]),
                );
            }
            container = container
                .with("resources", self.resources(&key, &WORKER_RESOURCES))
                .with("securityContext", Self::security_context());
            let mut pod = Yaml::map()
                .with("automountServiceAccountToken", false)
                .with("securityContext", Self::pod_security_context())
                .with("containers", Yaml::Seq(vec![container]));
            if !volumes.is_empty() {
                pod = pod.with("volumes", Yaml::Seq(volumes));
            }
            docs.push(
                Yaml::map()
                    .with("apiVersion", "apps/v1")
                    .with("kind", "Deployment")
                    .with("metadata", self.metadata(worker.name.as_str(), &component))
                    .with(
                        "spec",
                        Yaml::map()
                            .with(
                                "replicas",
                                self.value(
                                    &format!("{key}.replicas"),
                                    i64::from(worker.replicas),
                                    "",
                                ),
                            )
                            .with(
                                "selector",
                                Yaml::map().with("matchLabels", self.selector(&component)),
                            )
                            .with(
                                "template",
                                Yaml::map()
                                    .with("metadata", self.pod_metadata(&key, &component))
                                    .with("spec", self.placement(pod, &key)),
                            ),
                    ),
            );
            // A headless Service: its name resolves to every ready pod, and the scheduler
            // spreads calls over them (a ClusterIP would pin each HTTP/2 connection, and so
            // every call, to one pod).
            docs.push(
                Yaml::map()
                    .with("apiVersion", "v1")
                    .with("kind", "Service")
                    .with("metadata", self.metadata(worker.name.as_str(), &component))
                    .with(
                        "spec",
                        Yaml::map()
                            .with("clusterIP", "None")
                            .with("selector", self.selector(&component))
                            .with(
                                "ports",
                                Yaml::Seq(vec![
                                    Yaml::map()
                                        .with("name", "grpc")
                                        .with("port", i64::from(port))
                                        .with("targetPort", "grpc"),
                                ]),
                            ),
                    ),
            );
        }
        docs
    }

    /// The chart's ConfigMap of the two project files, from `config.project` and
    /// `config.operator`.
    fn config_map(&self) -> Yaml {
        Yaml::map()
            .with("apiVersion", "v1")
            .with("kind", "ConfigMap")
            .with(
                "metadata",
                self.metadata(self.own_name("-config"), "scheduler"),
            )
            .with(
                "data",
                Yaml::map()
                    .with(
                        "autopilot.yaml",
                        Yaml::Raw("{{ required \"set config.project: --set-file config.project=autopilot.yaml\" .Values.config.project | toJson }}".to_owned()),
                    )
                    .with(
                        "autopilot-operator.yaml",
                        Yaml::Raw("{{ .Values.config.operator | toJson }}".to_owned()),
                    ),
            )
    }
}
