//! `gates:` and `abortPhase:` in `autopilot.yaml` as written, and the checks that turn them into
//! [`Gate`]s and the phase `ap abort` moves to.

use std::collections::HashMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Report, position, required};
use crate::gates::{Gate, GateWhen};
use crate::names;
use crate::project::Phase;

type S<T> = Spanned<T>;

/// One item of `gates:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GateFile {
    name: Option<S<String>>,
    phase: Option<S<String>>,
    when: Option<S<String>>,
    description: Option<String>,
}

/// Check every gate against the phases, reporting each problem at its field.
pub(crate) fn gates(r: &mut Report, items: &[S<GateFile>], phases: &[Phase]) -> Vec<Gate> {
    let known: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("gates[{i}].{field}");
        let g = &item.value;
        let mut ok = true;
        let name = required(r, &g.name, &item.referenced, &at("name"));
        if let Some(n) = name {
            if let Err(why) = names::kebab(&n.value) {
                r.error(&n.referenced, &at("name"), why);
                ok = false;
            } else if let Some(line) = first.get(&n.value) {
                r.error(
                    &n.referenced,
                    &at("name"),
                    format!(
                        "duplicate gate `{}` (first declared on line {line})",
                        n.value
                    ),
                );
                ok = false;
            } else {
                first.insert(n.value.clone(), position(&n.referenced).0);
            }
        }
        let when = match &g.when {
            None => Some(GateWhen::Before),
            Some(w) => {
                let found = GateWhen::ALL
                    .iter()
                    .find(|(text, _)| *text == w.value)
                    .map(|(_, when)| *when);
                if found.is_none() {
                    r.error(
                        &w.referenced,
                        &at("when"),
                        format!("unknown value `{}` (one of: before, leaving)", w.value),
                    );
                }
                found
            }
        };
        let phase = required(r, &g.phase, &item.referenced, &at("phase"));
        if let Some(p) = phase {
            match phases.iter().find(|ph| ph.name == p.value) {
                None => {
                    r.error(
                        &p.referenced,
                        &at("phase"),
                        names::unknown("phase", &p.value, &known),
                    );
                    ok = false;
                }
                Some(ph) if ph.is_final && when == Some(GateWhen::Leaving) => {
                    r.error(
                        &p.referenced,
                        &at("phase"),
                        format!("`{}` is final: it is never left, so a `leaving` gate on it would never be asked", p.value),
                    );
                    ok = false;
                }
                Some(_) => {}
            }
        }
        if let (true, Some(name), Some(phase), Some(when)) = (ok, name, phase, when) {
            out.push(Gate {
                name: name.value.clone(),
                phase: phase.value.clone(),
                when,
                description: g.description.clone(),
            });
        }
    }
    out
}

/// The phase `ap abort` moves to, which must be declared.
pub(crate) fn abort_phase(
    r: &mut Report,
    value: &Option<S<String>>,
    phases: &[Phase],
) -> Option<String> {
    let v = value.as_ref()?;
    if !phases.iter().any(|p| p.name == v.value) {
        let known: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
        r.error(
            &v.referenced,
            "abortPhase",
            names::unknown("phase", &v.value, &known),
        );
        return None;
    }
    Some(v.value.clone())
}

#[cfg(test)]
mod tests {
    use crate::gates::{Gate, GateWhen};
    use crate::parse::table::{Case, check};
    use crate::parse_project;

    /// Phases A (initial), B, Done (final); the case's lines follow from line 9.
    macro_rules! head {
        () => {
            "apiVersion: a.example.com/v1\nkind: Canary\noperatorName: foo\nspec: {type: object}\n\
             phases:\n  - {name: A, initial: true}\n  - {name: B}\n  - {name: Done, final: true}\n"
        };
    }

    #[test]
    fn rules() {
        let cases: &[Case] = &[
            (
                "gate on an unknown phase",
                concat!(head!(), "gates:\n  - {name: promote, phase: C}\n"),
                "10:28",
                "gates[0].phase: unknown phase `C`",
            ),
            (
                "leaving gate on a final phase",
                concat!(
                    head!(),
                    "gates:\n  - {name: promote, phase: Done, when: leaving}\n"
                ),
                "10:28",
                "`Done` is final",
            ),
            (
                "unknown when",
                concat!(
                    head!(),
                    "gates:\n  - {name: promote, phase: B, when: after}\n"
                ),
                "10:37",
                "gates[0].when: unknown value `after` (one of: before, leaving)",
            ),
            (
                "duplicate gate",
                concat!(
                    head!(),
                    "gates:\n  - {name: p, phase: A}\n  - {name: p, phase: B}\n"
                ),
                "11:12",
                "gates[1].name: duplicate gate `p` (first declared on line 10)",
            ),
            (
                "gate without a phase",
                concat!(head!(), "gates:\n  - {name: p}\n"),
                "10:5",
                "gates[0].phase: missing required field",
            ),
            (
                "abort to an unknown phase",
                concat!(head!(), "abortPhase: Aborted\n"),
                "9:13",
                "abortPhase: unknown phase `Aborted`",
            ),
        ];
        check(cases, |yaml| parse_project("autopilot.yaml", yaml));
    }

    #[test]
    fn gates_and_the_abort_phase_reach_the_project() {
        let project = parse_project(
            "autopilot.yaml",
            concat!(
                head!(),
                "abortPhase: Done\ngates:\n  - {name: start, phase: A}\n",
                "  - {name: promote, phase: B, when: leaving, description: Check the dashboards}\n"
            ),
        )
        .unwrap();
        assert_eq!(project.abort_phase.as_deref(), Some("Done"));
        assert_eq!(
            project.gates,
            [
                Gate {
                    name: "start".into(),
                    phase: "A".into(),
                    when: GateWhen::Before,
                    description: None
                },
                Gate {
                    name: "promote".into(),
                    phase: "B".into(),
                    when: GateWhen::Leaving,
                    description: Some("Check the dashboards".into())
                },
            ]
        );
    }
}
