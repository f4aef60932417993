//! A worker's reply, parsed and checked at the edge: [`check`] turns the [`RawReply`] a worker
//! sent into a typed [`Reply`] or names the rule it breaks ([`Refusal`]). Pure: no I/O.
//!
//! The scheduler refuses a whole reply when any part breaks a rule, before applying anything;
//! `ap call` runs the same check, so a reply it accepts is one the scheduler accepts.
use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::conditions::SCHEDULER_OWNED;
use crate::worker::Event;

/// A worker's answer to Sync as it arrived, not checked yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawReply {
    /// Requested next phase; empty = stay.
    pub next_phase: String,
    /// Objects to apply, as JSON.
    pub outputs: Vec<Vec<u8>>,
    /// New status info, as JSON.
    pub status_info: Option<Vec<u8>>,
    /// Conditions, as sent.
    pub conditions: Vec<RawCondition>,
    /// Events to record.
    pub events: Vec<Event>,
    /// Requested re-run delay.
    pub requeue_after: Option<Duration>,
}

/// A condition as a worker sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawCondition {
    /// CamelCase type.
    pub type_: String,
    /// Should be `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// A checked reply: every part may be applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The phase to move to; `None` = stay.
    pub next_phase: Option<String>,
    /// Objects to apply, each of a kind the phase declares.
    pub outputs: Vec<Output>,
    /// New status info.
    pub status_info: Option<Value>,
    /// The worker's own conditions (never one the scheduler owns).
    pub conditions: Vec<Condition>,
    /// Events to record.
    pub events: Vec<Event>,
    /// Requested re-run delay.
    pub requeue_after: Option<Duration>,
}

/// A checked output: a JSON object of a declared kind, placed where its owner may own it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its `apiVersion`, one of the declared kinds'.
    pub api_version: String,
    /// Its `kind`.
    pub kind: String,
    /// Where it goes: the object's or its owner's namespace; `None` for a cluster-scoped kind.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// The object as the worker sent it.
    pub object: Value,
}

/// A condition's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// `True`, `False` or `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "True" => Some(ConditionStatus::True),
            "False" => Some(ConditionStatus::False),
            "Unknown" => Some(ConditionStatus::Unknown),
            _ => None,
        }
    }
}

/// A checked condition of the worker's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// CamelCase type, not one the scheduler owns.
    pub type_: String,
    /// Its status.
    pub status: ConditionStatus,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// A kind a phase may output: what the check needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredKind {
    /// `group/version`, or `version` for the core group.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

/// What a reply of one phase may contain, from the project model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseRules {
    /// The phase.
    pub phase: String,
    /// Every declared phase, in order.
    pub phases: Vec<String>,
    /// The phases this one may move to, when the project restricts them.
    pub next: Option<Vec<String>>,
    /// The kinds it declares as outputs.
    pub outputs: Vec<DeclaredKind>,
}

impl PhaseRules {
    /// The rules of `phase` in `project`; `None` when the project does not declare it.
    pub fn from_model(project: &autopilot_model::Project, phase: &str) -> Option<Self> {
        let p = project.phase(phase)?;
        Some(PhaseRules {
            phase: p.name.clone(),
            phases: project.phases.iter().map(|p| p.name.clone()).collect(),
            next: p.next.clone(),
            outputs: p
                .outputs
                .iter()
                .filter_map(|o| project.parameter(o))
                .map(|k| DeclaredKind {
                    api_version: k.api_version(),
                    kind: k.kind.clone(),
                    namespaced: k.namespaced,
                })
                .collect(),
        })
    }
}

/// Why a reply was refused: the rule it breaks. Not retryable (the worker must change), and
/// nothing of a refused reply is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The next phase is not declared.
    #[error("next phase {to:?} is not declared (declared: {declared})")]
    UndeclaredPhase {
        /// The requested phase.
        to: String,
        /// The declared phases, comma-separated.
        declared: String,
    },
    /// The project does not let the phase move there.
    #[error("phase {from} may not move to {to} (allowed: {allowed})")]
    TransitionNotAllowed {
        /// The phase that ran.
        from: String,
        /// The requested phase.
        to: String,
        /// The phases it may move to, comma-separated.
        allowed: String,
    },
    /// statusInfo is not JSON.
    #[error("statusInfo is not JSON: {reason}")]
    InvalidStatusInfo {
        /// The parse error.
        reason: String,
    },
    /// A condition type the scheduler owns ([`crate::conditions::SCHEDULER_OWNED`]).
    #[error("condition type {type_} is owned by the scheduler")]
    SchedulerOwnedCondition {
        /// The type.
        type_: String,
    },
    /// A condition without a type, or with a status other than True, False or Unknown.
    #[error("condition {type_:?} has status {status:?}; want True, False or Unknown")]
    InvalidCondition {
        /// The type.
        type_: String,
        /// The status sent.
        status: String,
    },
    /// An output breaks a rule.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl Refusal {
    /// CamelCase reason, for the condition and Event that report the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::UndeclaredPhase { .. } | Refusal::TransitionNotAllowed { .. } => {
                "InvalidNextPhase"
            }
            Refusal::InvalidStatusInfo { .. } => "InvalidStatusInfo",
            Refusal::SchedulerOwnedCondition { .. } | Refusal::InvalidCondition { .. } => {
                "InvalidCondition"
            }
            Refusal::Output(e) => e.reason(),
        }
    }
}

/// Why a worker's outputs were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// An output is not a JSON object.
    #[error("output {index} is not a JSON object: {reason}")]
    InvalidJson {
        /// Position in the response.
        index: usize,
        /// Parse error.
        reason: String,
    },
    /// An output lacks apiVersion, kind or metadata.name.
    #[error("output {index} has no {field}")]
    MissingField {
        /// Position in the response.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
    /// An output's kind is not declared as an output of the phase.
    #[error(
        "output {index} is a {api_version} {kind}, which phase {phase} does not declare as an output (declared: {declared})"
    )]
    Undeclared {
        /// Position in the response.
        index: usize,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
        /// The phase.
        phase: String,
        /// The declared output kinds.
        declared: String,
    },
    /// An output cannot be owned by the resource (another namespace, or cluster-scoped under a
    /// namespaced owner).
    #[error("output {index} ({kind} {name}): {reason}")]
    Placement {
        /// Position in the response.
        index: usize,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Two outputs name the same object.
    #[error("output {index} repeats {kind} {name}")]
    Duplicate {
        /// Position in the response.
        index: usize,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
}

impl OutputError {
    /// CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            OutputError::Undeclared { .. } => "UndeclaredOutput",
            _ => "InvalidOutput",
        }
    }
}

/// Checks a reply of `rules.phase` for a resource in `namespace` (`None` when cluster-scoped).
/// Rules are checked in order — next phase, statusInfo, conditions, outputs — and the first
/// one broken refuses the whole reply.
pub fn check(raw: RawReply, rules: &PhaseRules, namespace: Option<&str>) -> Result<Reply, Refusal> {
    check_transition(
        &rules.phase,
        &raw.next_phase,
        rules.phases.iter().map(String::as_str),
        rules.next.as_deref(),
    )?;
    let status_info = match &raw.status_info {
        Some(bytes) => Some(serde_json::from_slice::<Value>(bytes).map_err(|e| {
            Refusal::InvalidStatusInfo {
                reason: e.to_string(),
            }
        })?),
        None => None,
    };
    let mut conditions = Vec::with_capacity(raw.conditions.len());
    for c in raw.conditions {
        if SCHEDULER_OWNED.contains(&c.type_.as_str()) {
            return Err(Refusal::SchedulerOwnedCondition { type_: c.type_ });
        }
        let status = match ConditionStatus::parse(&c.status) {
            Some(s) if !c.type_.is_empty() => s,
            _ => {
                return Err(Refusal::InvalidCondition {
                    type_: c.type_,
                    status: c.status,
                });
            }
        };
        conditions.push(Condition {
            type_: c.type_,
            status,
            reason: c.reason,
            message: c.message,
        });
    }
    let outputs = check_outputs(&rules.phase, &raw.outputs, &rules.outputs, namespace)?;
    let next_phase = Some(raw.next_phase).filter(|n| !n.is_empty());
    Ok(Reply {
        next_phase,
        outputs,
        status_info,
        conditions,
        events: raw.events,
        requeue_after: raw.requeue_after,
    })
}

/// Checks a requested move from `from` to `to` (empty = stay) against the declared `phases` and
/// the phases `from` may move to (`allowed`, when restricted).
pub fn check_transition<'a>(
    from: &str,
    to: &str,
    phases: impl IntoIterator<Item = &'a str>,
    allowed: Option<&[String]>,
) -> Result<(), Refusal> {
    if to.is_empty() || to == from {
        return Ok(());
    }
    let phases: Vec<&str> = phases.into_iter().collect();
    if !phases.contains(&to) {
        return Err(Refusal::UndeclaredPhase {
            to: to.to_string(),
            declared: phases.join(", "),
        });
    }
    if let Some(allowed) = allowed
        && !allowed.iter().any(|a| a == to)
    {
        return Err(Refusal::TransitionNotAllowed {
            from: from.to_string(),
            to: to.to_string(),
            allowed: allowed.join(", "),
        });
    }
    Ok(())
}

/// Checks every output of `phase` against its `declared` kinds and its owner's `namespace`.
/// All or nothing: one bad output refuses them all.
pub fn check_outputs(
    phase: &str,
    outputs: &[Vec<u8>],
    declared: &[DeclaredKind],
    namespace: Option<&str>,
) -> Result<Vec<Output>, OutputError> {
    let mut seen = BTreeSet::new();
    let mut checked = Vec::with_capacity(outputs.len());
    for (index, raw) in outputs.iter().enumerate() {
        let object: Value = serde_json::from_slice(raw).map_err(|e| OutputError::InvalidJson {
            index,
            reason: e.to_string(),
        })?;
        if !object.is_object() {
            return Err(OutputError::InvalidJson {
                index,
                reason: "not an object".into(),
            });
        }
        let field = |path: &[&str]| -> Option<String> {
            let mut v = &object;
            for p in path {
                v = v.get(*p)?;
            }
            v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
        };
        let missing = |field: &'static str| OutputError::MissingField { index, field };
        let api_version = field(&["apiVersion"]).ok_or(missing("apiVersion"))?;
        let kind = field(&["kind"]).ok_or(missing("kind"))?;
        let name = field(&["metadata", "name"]).ok_or(missing("metadata.name"))?;
        let Some(declared_kind) = declared
            .iter()
            .find(|k| k.api_version == api_version && k.kind == kind)
        else {
            let declared = declared
                .iter()
                .map(|k| format!("{} {}", k.api_version, k.kind))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(OutputError::Undeclared {
                index,
                api_version,
                kind,
                phase: phase.to_string(),
                declared: if declared.is_empty() {
                    "none".into()
                } else {
                    declared
                },
            });
        };
        let placement = |reason: String| OutputError::Placement {
            index,
            kind: kind.clone(),
            name: name.clone(),
            reason,
        };
        let placed = match (declared_kind.namespaced, namespace) {
            (false, None) => None,
            (false, Some(_)) => {
                return Err(placement(
                    "a cluster-scoped object cannot be owned by a namespaced resource".into(),
                ));
            }
            (true, owner_ns) => {
                let ns = field(&["metadata", "namespace"]).or(owner_ns.map(str::to_string));
                match (ns, owner_ns) {
                    (Some(ns), Some(own)) if ns != own => {
                        return Err(placement(format!(
                            "namespace {ns} differs from the owner's namespace {own}; owned objects must share it"
                        )));
                    }
                    (None, _) => {
                        return Err(placement(
                            "a namespaced output of a cluster-scoped resource needs metadata.namespace".into(),
                        ));
                    }
                    (Some(ns), _) => Some(ns),
                }
            }
        };
        if !seen.insert((kind.clone(), placed.clone(), name.clone())) {
            return Err(OutputError::Duplicate { index, kind, name });
        }
        checked.push(Output {
            api_version,
            kind,
            namespace: placed,
            name,
            object,
        });
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::Severity;

    fn rules() -> PhaseRules {
        PhaseRules {
            phase: "Processing".into(),
            phases: ["Initializing", "Processing", "Finished"]
                .map(String::from)
                .to_vec(),
            next: Some(vec!["Finished".into()]),
            outputs: vec![
                DeclaredKind {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespaced: true,
                },
                DeclaredKind {
                    api_version: "rbac.authorization.k8s.io/v1".into(),
                    kind: "ClusterRole".into(),
                    namespaced: false,
                },
            ],
        }
    }

    fn condition(type_: &str, status: &str) -> RawCondition {
        RawCondition {
            type_: type_.into(),
            status: status.into(),
            reason: "R".into(),
            message: "m".into(),
        }
    }

    const CM_A: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#;

    /// One row per rule: a reply (built from the accepted one) and the reason it gets, or
    /// `None` when it is accepted; the message must start with the given text.
    #[test]
    fn replies_are_checked() {
        let ok = RawReply {
            next_phase: "Finished".into(),
            outputs: vec![CM_A.as_bytes().to_vec()],
            status_info: Some(br#"{"step":1}"#.to_vec()),
            conditions: vec![condition("Healthy", "True")],
            events: vec![Event {
                severity: Severity::Warning,
                reason: "Slow".into(),
                message: "m".into(),
            }],
            requeue_after: Some(Duration::from_secs(3)),
        };
        type Edit = fn(&mut RawReply);
        /// The reason and the start of the message of a refusal; `None` = accepted.
        type Want = Option<(&'static str, &'static str)>;
        let cases: &[(&str, Edit, Want)] = &[
            ("accepted", |_| {}, None),
            ("stay", |r| r.next_phase.clear(), None),
            ("same phase", |r| r.next_phase = "Processing".into(), None),
            ("no statusInfo", |r| r.status_info = None, None),
            (
                "Unknown status",
                |r| r.conditions = vec![condition("Healthy", "Unknown")],
                None,
            ),
            (
                "unknown next phase",
                |r| r.next_phase = "Nowhere".into(),
                Some((
                    "InvalidNextPhase",
                    "next phase \"Nowhere\" is not declared (declared: Initializing, Processing, Finished)",
                )),
            ),
            (
                "transition not allowed",
                |r| r.next_phase = "Initializing".into(),
                Some((
                    "InvalidNextPhase",
                    "phase Processing may not move to Initializing (allowed: Finished)",
                )),
            ),
            (
                "statusInfo not JSON",
                |r| r.status_info = Some(b"{nope".to_vec()),
                Some(("InvalidStatusInfo", "statusInfo is not JSON: ")),
            ),
            (
                "condition owned by the scheduler",
                |r| r.conditions.push(condition("MetricsAvailable", "True")),
                Some((
                    "InvalidCondition",
                    "condition type MetricsAvailable is owned by the scheduler",
                )),
            ),
            (
                "Ready is owned too",
                |r| r.conditions = vec![condition("Ready", "True")],
                Some((
                    "InvalidCondition",
                    "condition type Ready is owned by the scheduler",
                )),
            ),
            (
                "condition status",
                |r| r.conditions = vec![condition("Healthy", "yes")],
                Some((
                    "InvalidCondition",
                    "condition \"Healthy\" has status \"yes\"; want True, False or Unknown",
                )),
            ),
            (
                "condition without a type",
                |r| r.conditions = vec![condition("", "True")],
                Some(("InvalidCondition", "condition \"\" has status \"True\"")),
            ),
            (
                "output not JSON",
                |r| r.outputs = vec![b"{nope".to_vec()],
                Some(("InvalidOutput", "output 0 is not a JSON object: ")),
            ),
            (
                "output not an object",
                |r| r.outputs = vec![b"[1]".to_vec()],
                Some((
                    "InvalidOutput",
                    "output 0 is not a JSON object: not an object",
                )),
            ),
            (
                "output without apiVersion",
                |r| r.outputs = vec![br#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#.to_vec()],
                Some(("InvalidOutput", "output 0 has no apiVersion")),
            ),
            (
                "output without kind",
                |r| r.outputs = vec![br#"{"apiVersion":"v1","metadata":{"name":"a"}}"#.to_vec()],
                Some(("InvalidOutput", "output 0 has no kind")),
            ),
            (
                "output without name",
                |r| {
                    r.outputs =
                        vec![br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#.to_vec()]
                },
                Some(("InvalidOutput", "output 0 has no metadata.name")),
            ),
            (
                "undeclared output kind",
                |r| {
                    r.outputs.push(
                        br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}"#.to_vec(),
                    )
                },
                Some((
                    "UndeclaredOutput",
                    "output 1 is a v1 Secret, which phase Processing does not declare as an output (declared: v1 ConfigMap, rbac.authorization.k8s.io/v1 ClusterRole)",
                )),
            ),
            (
                "output in another namespace",
                |r| {
                    r.outputs = vec![br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"other"}}"#.to_vec()]
                },
                Some((
                    "InvalidOutput",
                    "output 0 (ConfigMap a): namespace other differs from the owner's namespace ns",
                )),
            ),
            (
                "cluster-scoped output of a namespaced owner",
                |r| {
                    r.outputs = vec![br#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"a"}}"#.to_vec()]
                },
                Some((
                    "InvalidOutput",
                    "output 0 (ClusterRole a): a cluster-scoped object cannot be owned",
                )),
            ),
            (
                "duplicate output",
                |r| r.outputs.push(CM_A.as_bytes().to_vec()),
                Some(("InvalidOutput", "output 1 repeats ConfigMap a")),
            ),
        ];
        for (name, edit, want) in cases {
            let mut raw = ok.clone();
            edit(&mut raw);
            let got = check(raw, &rules(), Some("ns"));
            match (want, got) {
                (None, Ok(_)) => {}
                (Some((reason, message)), Err(refusal)) => {
                    assert_eq!(refusal.reason(), *reason, "{name}: {refusal}");
                    assert!(
                        refusal.to_string().starts_with(message),
                        "{name}: {refusal:?} does not start with {message:?}"
                    );
                }
                (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn an_accepted_reply_is_typed() {
        let raw = RawReply {
            next_phase: String::new(),
            outputs: vec![CM_A.as_bytes().to_vec()],
            status_info: Some(br#"{"step":1}"#.to_vec()),
            conditions: vec![condition("Healthy", "False")],
            ..RawReply::default()
        };
        let reply = check(raw, &rules(), Some("ns")).unwrap();
        assert_eq!(reply.next_phase, None);
        assert_eq!(reply.status_info, Some(serde_json::json!({"step": 1})));
        assert_eq!(reply.conditions[0].status, ConditionStatus::False);
        let o = &reply.outputs[0];
        assert_eq!(
            (o.kind.as_str(), o.name.as_str(), o.namespace.as_deref()),
            ("ConfigMap", "a", Some("ns"))
        );
        assert_eq!(o.object["metadata"]["name"], "a", "the object as sent");
    }

    #[test]
    fn a_cluster_scoped_owner_places_namespaced_outputs_explicitly() {
        let explicit =
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"x"}}"#;
        let placed = check_outputs("P", &[explicit.to_vec()], &rules().outputs, None).unwrap();
        assert_eq!(placed[0].namespace.as_deref(), Some("x"));
        let err =
            check_outputs("P", &[CM_A.as_bytes().to_vec()], &rules().outputs, None).unwrap_err();
        assert!(
            err.to_string().contains("needs metadata.namespace"),
            "{err}"
        );
    }
}
