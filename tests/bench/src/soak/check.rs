//! What the soak checks once it has converged, as pure functions of what it read: final phases,
//! the phase history each resource's status records, the order of calls in the worker's log,
//! and the outputs in the cluster.
use std::collections::{BTreeMap, BTreeSet};

use super::operator::{FINAL, OUTPUT_KEPT, PHASES};

/// A resource as it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Final {
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// `.status.phase`.
    pub phase: String,
    /// `.status.statusInfo.history`: the phases whose move the status recorded, in order.
    pub history: Vec<String>,
}

/// One Sync call the worker logged when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCall {
    /// The resource's uid.
    pub uid: String,
    /// The phase called.
    pub phase: String,
}

/// An object the operator's outputs left in the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its name.
    pub name: String,
    /// The `autopilot.dev/owner-uid` label.
    pub owner_uid: Option<String>,
}

/// Everything wrong that the checks found; empty when the soak passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Resources that are not in the final phase.
    pub not_final: Vec<String>,
    /// Resources whose recorded history misses a phase.
    pub skipped: Vec<String>,
    /// Resources whose recorded history holds a phase twice (a transition applied twice).
    pub duplicated: Vec<String>,
    /// Resources the worker was called for in a phase before one it had already been called
    /// in (the scheduler went back).
    pub out_of_order: Vec<String>,
    /// Resources without their kept output.
    pub missing_outputs: Vec<String>,
    /// Outputs beyond the one expected per resource (a pruned output still there, or more).
    pub extra_outputs: Vec<String>,
    /// Outputs whose owner does not exist.
    pub orphaned_outputs: Vec<String>,
}

impl Findings {
    /// True when nothing was found.
    pub fn is_clean(&self) -> bool {
        *self == Findings::default()
    }
}

/// Checks the soak's end state.
pub fn check(resources: &[Final], calls: &[LoggedCall], outputs: &[Output]) -> Findings {
    let mut found = Findings::default();
    let expected: Vec<String> = PHASES.iter().map(|p| p.to_string()).collect();
    for r in resources {
        if r.phase != FINAL {
            found.not_final.push(format!("{} in {:?}", r.name, r.phase));
        }
        let distinct: BTreeSet<&String> = r.history.iter().collect();
        if distinct.len() != r.history.len() {
            found
                .duplicated
                .push(format!("{}: history {:?}", r.name, r.history));
        }
        if r.phase == FINAL && expected.iter().any(|p| !r.history.contains(p)) {
            found
                .skipped
                .push(format!("{}: history {:?}", r.name, r.history));
        }
    }

    let rank: BTreeMap<&str, usize> = PHASES.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let names: BTreeMap<&str, &str> = resources
        .iter()
        .map(|r| (r.uid.as_str(), r.name.as_str()))
        .collect();
    let mut reached: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for call in calls {
        let Some(&r) = rank.get(call.phase.as_str()) else {
            continue;
        };
        let furthest = reached.entry(call.uid.as_str()).or_insert(r);
        if r < *furthest {
            if reported.insert(call.uid.as_str()) {
                let name = names.get(call.uid.as_str()).copied().unwrap_or("?");
                found.out_of_order.push(format!(
                    "{name}: {} called after {}",
                    call.phase, PHASES[*furthest]
                ));
            }
        } else {
            *furthest = r;
        }
    }

    let owners: BTreeSet<&str> = resources.iter().map(|r| r.uid.as_str()).collect();
    let mut kept_by: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outputs {
        let owner = o.owner_uid.as_deref().unwrap_or_default();
        if !owners.contains(owner) {
            found.orphaned_outputs.push(o.name.clone());
            continue;
        }
        let name = names.get(owner).copied().unwrap_or_default();
        if o.name == format!("{name}-{OUTPUT_KEPT}") {
            *kept_by.entry(owner).or_default() += 1;
        } else {
            found.extra_outputs.push(o.name.clone());
        }
    }
    for r in resources.iter().filter(|r| r.phase == FINAL) {
        if kept_by.get(r.uid.as_str()).copied().unwrap_or(0) == 0 {
            found
                .missing_outputs
                .push(format!("{}-{OUTPUT_KEPT}", r.name));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::operator::OUTPUT_PRUNED;

    fn done(name: &str) -> Final {
        Final {
            name: name.into(),
            uid: format!("uid-{name}"),
            phase: FINAL.into(),
            history: PHASES.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn kept(name: &str) -> Output {
        Output {
            name: format!("{name}-{OUTPUT_KEPT}"),
            owner_uid: Some(format!("uid-{name}")),
        }
    }

    fn calls(name: &str, phases: &[&str]) -> Vec<LoggedCall> {
        phases
            .iter()
            .map(|p| LoggedCall {
                uid: format!("uid-{name}"),
                phase: p.to_string(),
            })
            .collect()
    }

    #[test]
    fn findings_table() {
        let all = |name: &str| calls(name, PHASES);
        // (case, resources, calls, outputs, what must be found)
        type Case = (
            &'static str,
            Vec<Final>,
            Vec<LoggedCall>,
            Vec<Output>,
            fn(&Findings) -> bool,
        );
        let cases: Vec<Case> = vec![
            ("clean", vec![done("a")], all("a"), vec![kept("a")], |f| {
                f.is_clean()
            }),
            (
                "repeated calls of one phase are fine",
                vec![done("a")],
                calls("a", &[PHASES[0], PHASES[1], PHASES[1], PHASES[2]]),
                vec![kept("a")],
                |f| f.is_clean(),
            ),
            (
                "not final",
                vec![Final {
                    phase: PHASES[1].into(),
                    history: vec![PHASES[0].into()],
                    ..done("a")
                }],
                calls("a", &PHASES[..2]),
                vec![],
                |f| f.not_final.len() == 1 && f.missing_outputs.is_empty(),
            ),
            (
                "a transition applied twice",
                vec![Final {
                    history: vec![
                        PHASES[0].into(),
                        PHASES[1].into(),
                        PHASES[1].into(),
                        PHASES[2].into(),
                    ],
                    ..done("a")
                }],
                all("a"),
                vec![kept("a")],
                |f| f.duplicated.len() == 1 && f.skipped.is_empty(),
            ),
            (
                "a phase skipped",
                vec![Final {
                    history: vec![PHASES[0].into(), PHASES[2].into()],
                    ..done("a")
                }],
                all("a"),
                vec![kept("a")],
                |f| f.skipped.len() == 1,
            ),
            (
                "the scheduler went back a phase",
                vec![done("a")],
                calls("a", &[PHASES[0], PHASES[1], PHASES[0], PHASES[2]]),
                vec![kept("a")],
                |f| f.out_of_order.len() == 1,
            ),
            ("missing output", vec![done("a")], all("a"), vec![], |f| {
                f.missing_outputs == ["a-".to_string() + OUTPUT_KEPT]
            }),
            (
                "pruned output left behind",
                vec![done("a")],
                all("a"),
                vec![
                    kept("a"),
                    Output {
                        name: format!("a-{OUTPUT_PRUNED}"),
                        owner_uid: Some("uid-a".into()),
                    },
                ],
                |f| f.extra_outputs.len() == 1,
            ),
            (
                "orphaned output",
                vec![done("a")],
                all("a"),
                vec![
                    kept("a"),
                    Output {
                        name: "gone-b".into(),
                        owner_uid: Some("uid-gone".into()),
                    },
                ],
                |f| f.orphaned_outputs == ["gone-b"],
            ),
        ];
        for (case, resources, logged, outputs, want) in cases {
            let found = check(&resources, &logged, &outputs);
            assert!(want(&found), "{case}: {found:?}");
        }
    }
}
