//! The operator as declared in `autopilot.yaml`, validated and with defaults merged.
//!
//! Values of these types come from [`crate::parse_project`] or [`crate::load_dir`], which
//! guarantee the invariants documented on each type. They serialize (camelCase, durations as
//! `"5s"`) so generators can hand the model to templates as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::event::EventSource;
use crate::template::{self, Escape, Scope, TemplateError};
use crate::{catalog, duration, names};

/// What the operator is: its custom resource, phases, inputs and outputs, queries and workers.
///
/// # Guarantees (after parsing)
///
/// Exactly one phase is initial and it is not final; phase, parameter, query and worker names
/// are unique; every input, output, transition and worker phase refers to something declared or
/// built in; every non-final phase is served by exactly one worker.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// `group/version` of the custom resource, e.g. `canary.example.com/v1`.
    pub api_version: String,
    /// Kind of the custom resource (UpperCamelCase).
    pub kind: String,
    /// Name of the operator (a DNS-1123 label): Deployment, service account, RBAC, labels.
    pub operator_name: String,
    /// Resource plural of the custom resource (a DNS-1123 label): the file's `plural`, else
    /// derived from the kind by the common English rules (`Canary` → `canaries`).
    pub plural: String,
    /// Whether the scheduler adds a finalizer and calls `Finalize` before deletion.
    pub finalizer: bool,
    /// OpenAPI v3 structural schema of `.spec`; always `type: object`.
    pub spec: Value,
    /// OpenAPI v3 schema of `.status.statusInfo`; defaults to an object preserving unknown
    /// fields.
    pub status_info: Value,
    /// The phases, in file order.
    pub phases: Vec<Phase>,
    /// Custom parameters declared in the file (not the built-ins), in file order.
    pub parameters: Vec<Parameter>,
    /// Queries declared in the file (not the built-ins), in file order.
    pub queries: Vec<Query>,
    /// Trace queries (Jaeger searches) declared in the file, in file order.
    pub traces: Vec<crate::TraceQuery>,
    /// The workers; when the file has none, one default worker (see [`Worker`]).
    pub workers: Vec<Worker>,
    /// External event sources (`events:`), in file order.
    pub events: Vec<EventSource>,
    /// Short names of the resource for `kubectl get` (`shortNames:`), lowercase DNS labels.
    pub short_names: Vec<String>,
    /// Categories the resource belongs to (`categories:`), so `kubectl get CATEGORY` lists it.
    pub categories: Vec<String>,
    /// Printer columns declared in the file (`printerColumns:`), shown between the built-in
    /// `Phase` and `Age` by `kubectl get` and `ap status`.
    pub printer_columns: Vec<crate::PrinterColumn>,
    /// Approvals people give before a phase starts or is left (`gates:`), in file order.
    pub gates: Vec<crate::Gate>,
    /// The phase `ap abort` moves a resource to (`abortPhase:`); without it, abort is refused.
    pub abort_phase: Option<String>,
    /// Where fields came from, for cross-file diagnostics; not part of the value.
    #[serde(skip)]
    pub(crate) origin: crate::operator::Origin,
}

/// One state of the custom resource's lifecycle.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// UpperCamelCase name, unique in the project.
    pub name: String,
    /// Free text for generated comments and docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The phase a new resource starts in; exactly one phase has it.
    pub initial: bool,
    /// A resting phase: no worker is called and it has no inputs, outputs or transitions.
    /// (Serialized as `final`, the file's name, which is a Rust keyword.)
    #[serde(rename = "final")]
    pub is_final: bool,
    /// What the worker receives, in file order (event sources excepted: see `events`).
    pub inputs: Vec<Input>,
    /// Names of the event sources (`events:`) listed among the phase's inputs, in file order.
    /// The worker receives each one's pending events under its name; they are marked consumed
    /// once this phase's result is written.
    pub events: Vec<String>,
    /// Parameter names of the kinds the worker may return as outputs.
    pub outputs: Vec<String>,
    /// Allowed next phases; `None` allows any declared phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Vec<String>>,
    /// Call deadline for this phase, overriding the operator file's default.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "duration::serialize_option"
    )]
    pub deadline: Option<Duration>,
    /// Delete owned objects of this phase's output kinds that the phase stops returning.
    pub prune: bool,
    /// Where the phase's outputs go: `[apply]` unless the file says otherwise.
    #[serde(skip_serializing_if = "crate::git::is_apply_only")]
    pub destinations: Vec<crate::git::Destination>,
}

impl Phase {
    /// Whether a worker of this phase may move the resource to `phase`. Staying (an empty
    /// name or this phase's own) is always allowed.
    pub fn allows_transition_to(&self, phase: &str) -> bool {
        phase.is_empty()
            || phase == self.name
            || self
                .next
                .as_ref()
                .is_none_or(|next| next.iter().any(|n| n == phase))
    }
}

/// Where a resource input's objects are listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InputNamespace {
    /// The custom resource's own namespace (the default).
    Object,
    /// All namespaces (`namespace: "*"`).
    All,
    /// The namespace this template renders to.
    Template(String),
}

/// One input of a phase.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Input {
    /// Objects of one kind, watched through the scheduler's caches.
    #[serde(rename_all = "camelCase")]
    Resource {
        /// Parameter name (built-in or custom).
        parameter: String,
        /// The name the worker receives the list under: the item's `as`, else `parameter`.
        key: String,
        /// Where to list. Meaningless for a cluster-scoped kind, whose inputs may not set it.
        namespace: InputNamespace,
        /// Label selector template, e.g. `app={{ spec.target }}`.
        #[serde(skip_serializing_if = "Option::is_none")]
        label_selector: Option<String>,
        /// Field selector template, e.g. `status.phase=Running`.
        #[serde(skip_serializing_if = "Option::is_none")]
        field_selector: Option<String>,
    },
    /// Results of PromQL queries, each received under the query's name.
    ///
    /// The bare item `metrics` means every query declared in the file (built-ins must be named);
    /// the map form `{metrics: [a, b], vars: {...}}` names queries, declared or built-in, and
    /// binds template variables for them. Each var's value is itself a template over the object.
    Metrics {
        /// Query names, in file order.
        queries: Vec<String>,
        /// Variables for the queries' templates (such as `workload`, `interval`).
        vars: BTreeMap<String, String>,
    },
    /// Results of trace queries (see [`crate::TraceQuery`]), each received under its name.
    ///
    /// The bare item `traces` means every trace query declared in the file; the map form
    /// `{traces: [a, b], vars: {...}}` names them and binds template variables, as for metrics.
    Traces {
        /// Trace query names, in file order.
        queries: Vec<String>,
        /// Variables for the queries' templates.
        vars: BTreeMap<String, String>,
    },
}

/// A Kubernetes kind usable as an input or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// The name used in `inputs` and `outputs` (lowercase).
    pub name: String,
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Resource name for RBAC and URLs, e.g. `deployments`.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether it comes from the built-in catalog.
    pub builtin: bool,
}

impl Parameter {
    /// `apiVersion` as it appears in objects: `v1` for the core group, else `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// A named PromQL template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    /// kebab-case name; results are delivered under it.
    pub name: String,
    /// PromQL with `{{ path }}` placeholders (see [`crate::template`]).
    pub query: String,
    /// Present for a range query; absent for an instant query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<QueryRange>,
    /// Whether it comes from the built-in catalog.
    pub builtin: bool,
}

impl Query {
    /// The PromQL to send: each of `vars` rendered against `object` (unescaped), then the query
    /// rendered against `object` and those vars, with values escaped for PromQL strings.
    ///
    /// # Errors
    ///
    /// The first [`TemplateError`] from a var or from the query.
    pub fn render(
        &self,
        object: &Value,
        vars: &BTreeMap<String, String>,
    ) -> Result<String, TemplateError> {
        let base = Scope::new(object);
        let mut bound = BTreeMap::new();
        for (name, value) in vars {
            bound.insert(name.clone(), template::render(value, &base, Escape::None)?);
        }
        template::render(&self.query, &base.with_vars(bound), Escape::PromQlString)
    }
}

/// The window of a range query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRange {
    /// How far back from now the range starts.
    #[serde(serialize_with = "duration::serialize")]
    pub duration: Duration,
    /// Resolution step.
    #[serde(serialize_with = "duration::serialize")]
    pub step: Duration,
}

/// A worker program serving some phases.
///
/// Without a `workers` list the project has one worker named after the operator, in Rust, as a
/// sidecar, serving every non-final phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Worker {
    /// DNS-1123 label, unique in the project.
    pub name: String,
    /// Language of the generated worker project (default Rust).
    pub language: Language,
    /// How the worker is deployed (default sidecar).
    pub mode: WorkerMode,
    /// Replicas for [`WorkerMode::Deployment`]; 1 for a sidecar.
    pub replicas: u32,
    /// The phases it serves (default: every non-final phase).
    pub phases: Vec<String>,
}

/// Language of a worker project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust, with the `autopilot-sdk` crate.
    Rust,
    /// Go.
    Go,
    /// Python.
    Python,
    /// TypeScript.
    Typescript,
    /// Java.
    Java,
}

impl Language {
    /// Every language, in the order the files list them.
    pub const ALL: [Self; 5] = [
        Self::Rust,
        Self::Go,
        Self::Python,
        Self::Typescript,
        Self::Java,
    ];

    /// The name used in the files and on the command line (`typescript`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Go => "go",
            Self::Python => "python",
            Self::Typescript => "typescript",
            Self::Java => "java",
        }
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        names::variant(s, "language", &Self::ALL, Self::as_str)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a worker runs next to the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerMode {
    /// A container in the scheduler's pod.
    Sidecar,
    /// Its own Deployment and Service.
    Deployment,
}

impl WorkerMode {
    /// Both modes.
    pub const ALL: [Self; 2] = [Self::Sidecar, Self::Deployment];

    /// The name used in the files (`sidecar`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sidecar => "sidecar",
            Self::Deployment => "deployment",
        }
    }
}

impl FromStr for WorkerMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        names::variant(s, "worker mode", &Self::ALL, Self::as_str)
    }
}

impl fmt::Display for WorkerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Project {
    /// API group of the custom resource (`canary.example.com`).
    pub fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _)| group)
    }

    /// API version of the custom resource (`v1`).
    pub fn version(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or(self.api_version.as_str(), |(_, version)| version)
    }

    /// Plural resource name of the custom resource, as in the CRD, RBAC and URLs
    /// (`CanaryDeployment` → `canarydeployments`, `Canary` → `canaries`): the file's `plural`
    /// when set, else the kind pluralised by the common English rules. Every generator and the
    /// scheduler read it from here, so they agree on it.
    pub fn plural(&self) -> String {
        self.plural.clone()
    }

    /// The initial phase (always present in a parsed project).
    pub fn initial_phase(&self) -> Option<&Phase> {
        self.phases.iter().find(|p| p.initial)
    }

    /// The phase called `name`.
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// Phases a worker is called for, in file order.
    pub fn non_final_phases(&self) -> impl Iterator<Item = &Phase> {
        self.phases.iter().filter(|p| !p.is_final)
    }

    /// The parameter called `name`: declared in the file, else built in. `metrics` is not one.
    pub fn parameter(&self, name: &str) -> Option<Parameter> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .or_else(|| catalog::parameter(name))
    }

    /// The query called `name`: declared in the file (which overrides a built-in of the same
    /// name), else built in.
    pub fn query(&self, name: &str) -> Option<Query> {
        self.queries
            .iter()
            .find(|q| q.name == name)
            .cloned()
            .or_else(|| catalog::query(name))
    }

    /// The trace query called `name`.
    pub fn trace(&self, name: &str) -> Option<&crate::TraceQuery> {
        self.traces.iter().find(|t| t.name == name)
    }

    /// Whether any phase reads traces (the scheduler then needs Jaeger).
    pub fn uses_traces(&self) -> bool {
        self.phases
            .iter()
            .flat_map(|p| &p.inputs)
            .any(|i| matches!(i, Input::Traces { .. }))
    }

    /// The worker serving `phase`; `None` for final or unknown phases.
    pub fn worker_for_phase(&self, phase: &str) -> Option<&Worker> {
        self.workers
            .iter()
            .find(|w| w.phases.iter().any(|p| p == phase))
    }

    /// Every parameter some phase reads or writes, each once, in order of first use: what RBAC
    /// must allow and the scheduler must watch.
    pub fn used_parameters(&self) -> Vec<Parameter> {
        let mut used: Vec<Parameter> = Vec::new();
        let names = self.phases.iter().flat_map(|phase| {
            let inputs = phase.inputs.iter().filter_map(|input| match input {
                Input::Resource { parameter, .. } => Some(parameter.as_str()),
                Input::Metrics { .. } | Input::Traces { .. } => None,
            });
            inputs.chain(phase.outputs.iter().map(String::as_str))
        });
        for name in names {
            if !used.iter().any(|p| p.name == name)
                && let Some(parameter) = self.parameter(name)
            {
                used.push(parameter);
            }
        }
        used
    }

    /// The gate called `name`.
    pub fn gate(&self, name: &str) -> Option<&crate::Gate> {
        self.gates.iter().find(|g| g.name == name)
    }

    /// The event source called `name`.
    pub fn event(&self, name: &str) -> Option<&EventSource> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Whether any phase reads metrics (the scheduler then needs Prometheus).
    pub fn uses_metrics(&self) -> bool {
        self.phases
            .iter()
            .flat_map(|p| &p.inputs)
            .any(|i| matches!(i, Input::Metrics { .. }))
    }
}
