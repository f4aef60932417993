//! The plan: what the scheduler needs from the project model, resolved once per (re)load. This
//! is the only module that reads `autopilot-model` types in depth.
use std::collections::BTreeMap;
use std::time::Duration;

use autopilot_model::{Input, InputNamespace, Model, Query};
use autopilot_worker_client::PhaseRules;
use kube::core::{ApiResource, GroupVersionKind};

use crate::outputs::{OutputKind, output_kind};
use crate::step::{PhaseEntry, PhaseTable, Policy};

/// An input of a phase, resolved.
#[derive(Debug, Clone)]
pub enum InputPlan {
    /// Objects of one kind.
    Resource(ResourceInput),
    /// PromQL queries.
    Metrics {
        /// The queries.
        queries: Vec<Query>,
        /// Template variables bound for them.
        vars: BTreeMap<String, String>,
    },
    /// Trace queries (Jaeger searches).
    Traces {
        /// The trace queries.
        queries: Vec<autopilot_model::TraceQuery>,
        /// Template variables bound for them.
        vars: BTreeMap<String, String>,
    },
}

/// A resource input: objects of one kind, selected from a watch cache.
#[derive(Debug, Clone)]
pub struct ResourceInput {
    /// Key the worker receives the list under.
    pub key: String,
    /// The kind.
    pub kind: OutputKind,
    /// Where to list (`None` = the resource's namespace).
    pub namespace: Option<InputNamespace>,
    /// Label selector template.
    pub label_selector: Option<String>,
    /// Field selector template.
    pub field_selector: Option<String>,
}

/// One non-final phase, resolved.
#[derive(Debug, Clone)]
pub struct PhasePlan {
    /// Declared output kinds.
    pub outputs: Vec<OutputKind>,
    /// Declared inputs.
    pub inputs: Vec<InputPlan>,
    /// Call deadline.
    pub deadline: Duration,
    /// Prune dropped outputs.
    pub prune: bool,
    /// The worker endpoint serving it.
    pub endpoint: String,
    /// Where its outputs go (`apply`, `git:<target>`).
    pub destinations: Vec<autopilot_model::git::Destination>,
    /// What a worker's reply may contain.
    pub rules: PhaseRules,
    /// Event sources it reads (names declared under `events:`).
    pub events: Vec<String>,
}

/// Everything the reconciler reads from the two project files.
#[derive(Debug, Clone)]
pub struct Plan {
    /// operatorName.
    pub operator_name: String,
    /// The operator's own kind.
    pub resource: ApiResource,
    /// The finalizer name, when enabled.
    pub finalizer: Option<String>,
    /// Phases for the step function.
    pub table: PhaseTable,
    /// Non-final phases by name.
    pub phases: BTreeMap<String, PhasePlan>,
    /// Timing policy.
    pub policy: Policy,
    /// Default call deadline (also for Finalize).
    pub default_deadline: Duration,
    /// Namespaces to watch; empty = all.
    pub namespaces: Vec<String>,
    /// Max concurrent reconciles.
    pub concurrency: u16,
    /// Max gRPC message size.
    pub max_message_bytes: usize,
    /// Git targets phases may send outputs to.
    pub git: Vec<autopilot_model::git::GitTarget>,
    /// Gates people open with `ap approve` (see [`crate::gates`]).
    pub gates: Vec<autopilot_model::Gate>,
    /// The phase `ap abort` moves to, when declared.
    pub abort_phase: Option<String>,
    /// Receivers of notifications.
    pub notifications: Vec<autopilot_model::notifications::NotificationReceiver>,
}

fn kind_of(p: &autopilot_model::Parameter) -> OutputKind {
    output_kind(&p.group, &p.version, &p.kind, &p.plural, p.namespaced)
}

impl Plan {
    /// Resolves the plan from a validated model.
    pub fn from_model(model: &Model) -> Plan {
        let project = &model.project;
        let op = &model.operator;
        let gvk = GroupVersionKind::gvk(project.group(), project.version(), &project.kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, &project.plural());
        let table = PhaseTable {
            initial: project
                .initial_phase()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            phases: project
                .phases
                .iter()
                .map(|p| PhaseEntry {
                    name: p.name.clone(),
                    is_final: p.is_final,
                    next: p.next.clone(),
                })
                .collect(),
        };
        let phases = project
            .non_final_phases()
            .map(|p| {
                let outputs = p
                    .outputs
                    .iter()
                    .filter_map(|o| project.parameter(o))
                    .map(|p| kind_of(&p))
                    .collect();
                let inputs = p
                    .inputs
                    .iter()
                    .filter_map(|i| match i {
                        Input::Resource {
                            parameter,
                            key,
                            namespace,
                            label_selector,
                            field_selector,
                        } => {
                            let param = project.parameter(parameter)?;
                            Some(InputPlan::Resource(ResourceInput {
                                key: key.clone(),
                                kind: kind_of(&param),
                                namespace: Some(namespace.clone()),
                                label_selector: label_selector.clone(),
                                field_selector: field_selector.clone(),
                            }))
                        }
                        Input::Metrics { queries, vars } => Some(InputPlan::Metrics {
                            queries: queries.iter().filter_map(|q| project.query(q)).collect(),
                            vars: vars.clone(),
                        }),
                        Input::Traces { queries, vars } => Some(InputPlan::Traces {
                            queries: queries
                                .iter()
                                .filter_map(|q| project.trace(q).cloned())
                                .collect(),
                            vars: vars.clone(),
                        }),
                    })
                    .collect();
                let plan = PhasePlan {
                    outputs,
                    inputs,
                    deadline: op.deadline_for(p),
                    prune: p.prune,
                    endpoint: op.endpoint_for(&p.name).to_string(),
                    destinations: p.destinations.clone(),
                    rules: PhaseRules::from_model(project, &p.name)
                        .expect("a phase of the project"),
                    events: p.events.clone(),
                };
                (p.name.clone(), plan)
            })
            .collect();
        Plan {
            operator_name: project.operator_name.clone(),
            resource,
            finalizer: project
                .finalizer
                .then(|| format!("{}/autopilot", project.group())),
            table,
            phases,
            policy: Policy {
                work_interval: op.work_interval,
                initial_backoff: op.retry.initial_backoff,
                max_backoff: op.retry.max_backoff,
                permanent_error_interval: op.retry.permanent_error_interval,
                max_attempts: op.retry.max_attempts,
            },
            default_deadline: op.workers.deadline,
            namespaces: op.namespaces.clone(),
            concurrency: u16::try_from(op.concurrency).unwrap_or(u16::MAX),
            max_message_bytes: op.workers.max_message_bytes,
            git: op.git.clone(),
            gates: project.gates.clone(),
            abort_phase: project.abort_phase.clone(),
            notifications: op.notifications.clone(),
        }
    }

    /// The gates and abort phase, as [`crate::gates::decide`] reads them.
    pub fn gate_rules(&self) -> crate::gates::Rules<'_> {
        crate::gates::Rules {
            gates: &self.gates,
            abort_phase: self.abort_phase.as_deref(),
            table: &self.table,
        }
    }
}
