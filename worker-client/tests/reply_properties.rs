//! Property tests of the reply check (`reply::check`), the edge every worker's answer crosses:
//! whatever a worker sends — garbage bytes, wrong types, names the scheduler owns — the check
//! never panics, accepts only what may be applied, and names every refusal. A reply with one
//! known defect, anywhere in it, is refused with that defect's reason. Case counts are bounded
//! so CI stays fast.
use std::time::Duration;

use autopilot_worker_client::conditions::SCHEDULER_OWNED;
use autopilot_worker_client::reply::{DeclaredKind, OutputError, RawCondition, check};
use autopilot_worker_client::{Event, PhaseRules, RawReply, Refusal, Severity};
use proptest::prelude::*;
use serde_json::{Value, json};

const OWNER_NAMESPACE: &str = "prod";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// The rules of phase `Analyzing` of a canary-like operator: ConfigMaps (namespaced) and
/// ClusterRoles (cluster-scoped) declared; it may move to `Promoting` or `Aborted` only.
fn rules() -> PhaseRules {
    PhaseRules {
        phase: "Analyzing".into(),
        phases: ["Initializing", "Analyzing", "Promoting", "Aborted", "Done"]
            .map(String::from)
            .to_vec(),
        next: Some(vec!["Promoting".into(), "Aborted".into()]),
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

/// Every reason a refusal may carry.
const REASONS: &[&str] = &[
    "InvalidNextPhase",
    "InvalidStatusInfo",
    "InvalidCondition",
    "InvalidOutput",
    "UndeclaredOutput",
];

/// A JSON value of any type, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("apiVersion".to_string()),
                    Just("kind".to_string()),
                    Just("metadata".to_string()),
                    Just("name".to_string()),
                    Just("namespace".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes a worker might put where JSON belongs: garbage, truncated or valid JSON of any shape,
/// or an object that almost is a Kubernetes object.
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (any_json(), 0usize..40).prop_map(|(v, cut)| {
            let mut b = serde_json::to_vec(&v).unwrap();
            b.truncate(cut);
            b
        }),
        (
            prop_oneof![
                Just("v1"),
                Just("rbac.authorization.k8s.io/v1"),
                Just("apps/v1"),
                Just("")
            ],
            prop_oneof![
                Just("ConfigMap"),
                Just("ClusterRole"),
                Just("Secret"),
                Just("")
            ],
            prop::option::of("[a-z]{0,3}"),
            prop::option::of(prop_oneof![Just("prod"), Just("other"), Just("")]),
        )
            .prop_map(|(api_version, kind, name, namespace)| {
                let mut meta = serde_json::Map::new();
                if let Some(n) = name {
                    meta.insert("name".into(), json!(n));
                }
                if let Some(ns) = namespace {
                    meta.insert("namespace".into(), json!(ns));
                }
                serde_json::to_vec(
                    &json!({"apiVersion": api_version, "kind": kind, "metadata": meta}),
                )
                .unwrap()
            }),
    ]
}

fn any_condition() -> impl Strategy<Value = RawCondition> {
    (
        prop_oneof![
            Just("Healthy".to_string()),
            Just("Ready".to_string()),
            Just("MetricsAvailable".to_string()),
            Just(String::new()),
            "\\PC{0,10}",
        ],
        prop_oneof![
            Just("True".to_string()),
            Just("False".to_string()),
            Just("Unknown".to_string()),
            "\\PC{0,6}",
        ],
        "\\PC{0,10}",
        "\\PC{0,20}",
    )
        .prop_map(|(type_, status, reason, message)| RawCondition {
            type_,
            status,
            reason,
            message,
        })
}

fn any_event() -> impl Strategy<Value = Event> {
    (any::<bool>(), "\\PC{0,10}", "\\PC{0,20}").prop_map(|(warning, reason, message)| Event {
        severity: if warning {
            Severity::Warning
        } else {
            Severity::Normal
        },
        reason,
        message,
    })
}

fn any_reply() -> impl Strategy<Value = RawReply> {
    (
        prop_oneof![
            Just(String::new()),
            Just("Analyzing".to_string()),
            Just("Promoting".to_string()),
            Just("Initializing".to_string()),
            "\\PC{0,12}",
        ],
        prop::collection::vec(any_bytes(), 0..4),
        prop::option::of(any_bytes()),
        prop::collection::vec(any_condition(), 0..3),
        prop::collection::vec(any_event(), 0..2),
        prop::option::of(any::<u32>().prop_map(|ms| Duration::from_millis(ms.into()))),
    )
        .prop_map(
            |(next_phase, outputs, status_info, conditions, events, requeue_after)| RawReply {
                next_phase,
                outputs,
                status_info,
                conditions,
                events,
                requeue_after,
            },
        )
}

/// One thing wrong with an otherwise valid reply, and the reason it must be refused with.
#[derive(Debug, Clone)]
enum Defect {
    UndeclaredNextPhase(String),
    TransitionNotAllowed,
    StatusInfoNotJson(Vec<u8>),
    SchedulerOwnedCondition(usize),
    ConditionStatus(String),
    ConditionWithoutType,
    OutputNotJson(Vec<u8>),
    OutputNotObject(Value),
    OutputWithoutName,
    OutputUndeclared,
    OutputInAnotherNamespace,
    ClusterScopedUnderNamespaced,
    OutputRepeated,
}

impl Defect {
    fn reason(&self) -> &'static str {
        match self {
            Defect::UndeclaredNextPhase(_) | Defect::TransitionNotAllowed => "InvalidNextPhase",
            Defect::StatusInfoNotJson(_) => "InvalidStatusInfo",
            Defect::SchedulerOwnedCondition(_)
            | Defect::ConditionStatus(_)
            | Defect::ConditionWithoutType => "InvalidCondition",
            Defect::OutputUndeclared => "UndeclaredOutput",
            _ => "InvalidOutput",
        }
    }
}

fn defect() -> impl Strategy<Value = Defect> {
    prop_oneof![
        "[A-Z][a-z]{0,8}"
            .prop_filter("not a declared phase", |p| !rules().phases.contains(p))
            .prop_map(Defect::UndeclaredNextPhase),
        Just(Defect::TransitionNotAllowed),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|tail| {
            let mut b = b"{not json".to_vec();
            b.extend(tail);
            Defect::StatusInfoNotJson(b)
        }),
        (0..SCHEDULER_OWNED.len()).prop_map(Defect::SchedulerOwnedCondition),
        "\\PC{0,6}"
            .prop_filter("not a valid status", |s| {
                !["True", "False", "Unknown"].contains(&s.as_str())
            })
            .prop_map(Defect::ConditionStatus),
        Just(Defect::ConditionWithoutType),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|tail| {
            let mut b = b"[{".to_vec();
            b.extend(tail);
            Defect::OutputNotJson(b)
        }),
        any_json()
            .prop_filter("not an object", |v| !v.is_object())
            .prop_map(Defect::OutputNotObject),
        Just(Defect::OutputWithoutName),
        Just(Defect::OutputUndeclared),
        Just(Defect::OutputInAnotherNamespace),
        Just(Defect::ClusterScopedUnderNamespaced),
        Just(Defect::OutputRepeated),
    ]
}

/// A reply every rule accepts: a declared move (or none), JSON statusInfo, the worker's own
/// conditions, uniquely named ConfigMaps in the owner's namespace.
fn valid_reply() -> impl Strategy<Value = RawReply> {
    (
        prop_oneof![
            Just(String::new()),
            Just("Analyzing".to_string()),
            Just("Promoting".to_string()),
            Just("Aborted".to_string()),
        ],
        prop::collection::vec((any_json(), any::<bool>()), 0..4),
        prop::option::of(any_json()),
        prop::collection::vec(
            (
                "[A-Z][a-zA-Z]{0,10}".prop_filter("the worker's own", |t| {
                    !SCHEDULER_OWNED.contains(&t.as_str())
                }),
                prop_oneof![Just("True"), Just("False"), Just("Unknown")],
                "\\PC{0,10}",
            ),
            0..3,
        ),
        prop::collection::vec(any_event(), 0..2),
    )
        .prop_map(|(next_phase, outputs, status_info, conditions, events)| {
            let outputs = outputs
                .into_iter()
                .enumerate()
                .map(|(i, (data, explicit_ns))| {
                    let mut meta = json!({"name": format!("cm-{i}")});
                    if explicit_ns {
                        meta["namespace"] = json!(OWNER_NAMESPACE);
                    }
                    serde_json::to_vec(&json!({
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                        "data": {"value": data.to_string()},
                    }))
                    .unwrap()
                })
                .collect();
            RawReply {
                next_phase,
                outputs,
                status_info: status_info.map(|v| serde_json::to_vec(&v).unwrap()),
                conditions: conditions
                    .into_iter()
                    .map(|(type_, status, message)| RawCondition {
                        type_,
                        status: status.into(),
                        reason: "Checked".into(),
                        message,
                    })
                    .collect(),
                events,
                requeue_after: None,
            }
        })
}

fn with_defect(mut raw: RawReply, defect: &Defect, at: usize) -> RawReply {
    let object = |v: Value| serde_json::to_vec(&v).unwrap();
    let insert = |list: &mut Vec<Vec<u8>>, bytes: Vec<u8>| {
        let i = at % (list.len() + 1);
        list.insert(i, bytes);
    };
    let condition = |type_: &str, status: &str| RawCondition {
        type_: type_.into(),
        status: status.into(),
        reason: "R".into(),
        message: String::new(),
    };
    match defect {
        Defect::UndeclaredNextPhase(p) => raw.next_phase = p.clone(),
        Defect::TransitionNotAllowed => raw.next_phase = "Initializing".into(),
        Defect::StatusInfoNotJson(b) => raw.status_info = Some(b.clone()),
        Defect::SchedulerOwnedCondition(i) => {
            let i2 = at % (raw.conditions.len() + 1);
            raw.conditions
                .insert(i2, condition(SCHEDULER_OWNED[*i], "True"));
        }
        Defect::ConditionStatus(s) => {
            let i = at % (raw.conditions.len() + 1);
            raw.conditions.insert(i, condition("Healthy", s));
        }
        Defect::ConditionWithoutType => {
            let i = at % (raw.conditions.len() + 1);
            raw.conditions.insert(i, condition("", "True"));
        }
        Defect::OutputNotJson(b) => insert(&mut raw.outputs, b.clone()),
        Defect::OutputNotObject(v) => insert(&mut raw.outputs, object(v.clone())),
        Defect::OutputWithoutName => insert(
            &mut raw.outputs,
            object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})),
        ),
        Defect::OutputUndeclared => insert(
            &mut raw.outputs,
            object(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})),
        ),
        Defect::OutputInAnotherNamespace => insert(
            &mut raw.outputs,
            object(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}}),
            ),
        ),
        Defect::ClusterScopedUnderNamespaced => insert(
            &mut raw.outputs,
            object(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
            ),
        ),
        Defect::OutputRepeated => {
            let cm = object(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"}}),
            );
            insert(&mut raw.outputs, cm.clone());
            insert(&mut raw.outputs, cm);
        }
    }
    raw
}

/// What an accepted reply must satisfy: only declared moves, kinds and placements, and none of
/// the scheduler's conditions.
fn acceptable(raw: &RawReply, rules: &PhaseRules) -> Result<(), TestCaseError> {
    let reply = check(raw.clone(), rules, Some(OWNER_NAMESPACE))
        .map_err(|r| TestCaseError::fail(format!("refused: {r}")))?;
    if let Some(next) = &reply.next_phase {
        prop_assert!(
            next == &rules.phase || rules.next.as_ref().is_none_or(|n| n.contains(next)),
            "accepted a move to {}",
            next
        );
    }
    prop_assert_eq!(reply.outputs.len(), raw.outputs.len());
    for o in &reply.outputs {
        prop_assert!(
            rules
                .outputs
                .iter()
                .any(|k| k.api_version == o.api_version && k.kind == o.kind && k.namespaced),
            "accepted an output of {} {}",
            o.api_version,
            o.kind
        );
        prop_assert!(!o.name.is_empty());
        prop_assert_eq!(o.namespace.as_deref(), Some(OWNER_NAMESPACE));
    }
    prop_assert_eq!(reply.conditions.len(), raw.conditions.len());
    for c in &reply.conditions {
        prop_assert!(!SCHEDULER_OWNED.contains(&c.type_.as_str()));
        prop_assert!(!c.type_.is_empty());
    }
    prop_assert_eq!(reply.events.len(), raw.events.len());
    Ok(())
}

/// A refusal is named: a known reason, a message, and an output index within the reply.
fn named(refusal: &Refusal, raw: &RawReply) -> Result<(), TestCaseError> {
    prop_assert!(
        REASONS.contains(&refusal.reason()),
        "unknown reason {}",
        refusal.reason()
    );
    prop_assert!(!refusal.to_string().trim().is_empty(), "{:?}", refusal);
    if let Refusal::Output(e) = refusal {
        let index = match e {
            OutputError::InvalidJson { index, .. }
            | OutputError::MissingField { index, .. }
            | OutputError::Undeclared { index, .. }
            | OutputError::Placement { index, .. }
            | OutputError::Duplicate { index, .. } => *index,
        };
        prop_assert!(
            index < raw.outputs.len(),
            "output {} of {}",
            index,
            raw.outputs.len()
        );
        prop_assert!(
            refusal.to_string().contains(&format!("output {index}")),
            "the message names the output: {}",
            refusal
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_reply_is_accepted_whole_or_refused_by_name(raw in any_reply(), cluster_scoped in any::<bool>()) {
        let rules = rules();
        let namespace = (!cluster_scoped).then_some(OWNER_NAMESPACE);
        match check(raw.clone(), &rules, namespace) {
            Ok(reply) => {
                prop_assert_eq!(reply.outputs.len(), raw.outputs.len());
                prop_assert_eq!(reply.conditions.len(), raw.conditions.len());
                for c in &reply.conditions {
                    prop_assert!(!SCHEDULER_OWNED.contains(&c.type_.as_str()));
                }
                for o in &reply.outputs {
                    let declared = rules.outputs.iter().find(|k| k.api_version == o.api_version && k.kind == o.kind);
                    prop_assert!(declared.is_some(), "accepted an undeclared {} {}", o.api_version, o.kind);
                    match (declared.map(|k| k.namespaced), namespace) {
                        (Some(true), Some(ns)) => prop_assert_eq!(o.namespace.as_deref(), Some(ns)),
                        (Some(true), None) => prop_assert!(o.namespace.as_deref().is_some_and(|n| !n.is_empty())),
                        (Some(false), Some(_)) => prop_assert!(false, "a cluster-scoped output under a namespaced owner"),
                        _ => prop_assert_eq!(o.namespace.as_deref(), None),
                    }
                }
                if let Some(next) = &reply.next_phase {
                    prop_assert!(rules.phases.contains(next), "accepted a move to {}", next);
                }
            }
            Err(refusal) => named(&refusal, &raw)?,
        }
    }

    #[test]
    fn a_valid_reply_is_accepted_whole(raw in valid_reply()) {
        acceptable(&raw, &rules())?;
    }

    #[test]
    fn one_defect_anywhere_refuses_the_reply_with_its_reason(
        raw in valid_reply(),
        defect in defect(),
        at in any::<usize>(),
    ) {
        let broken = with_defect(raw, &defect, at);
        match check(broken.clone(), &rules(), Some(OWNER_NAMESPACE)) {
            Ok(_) => prop_assert!(false, "accepted a reply with {:?}", defect),
            Err(refusal) => {
                named(&refusal, &broken)?;
                prop_assert_eq!(refusal.reason(), defect.reason(), "{}", refusal);
            }
        }
    }
}
