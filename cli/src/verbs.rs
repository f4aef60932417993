//! `ap pause|resume|retry|abort|approve|promote`: people act on the operator's resources by
//! annotating them (see [`autopilot_model::gates`] for why annotations), each action recorded
//! as an Event naming who did it.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use autopilot_model::gates::{
    ABORT, APPROVED, PAUSED, RETRY, approver_annotation, gate_annotation,
};
use autopilot_model::{GateWhen, Project};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::ResourceExt as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::deploy::runtime;
use crate::selection::{Scope, Selection};

/// The annotation `ap pause` adds beside [`PAUSED`], saying who paused and when.
pub(crate) use autopilot_model::gates::PAUSED_BY;
/// The component named in the Events `ap` records.
const REPORTER: &str = "ap";

/// Which resources a verb acts on.
#[derive(Debug, clap::Args)]
pub(crate) struct VerbArgs {
    #[command(flatten)]
    selection: Selection,
    /// Every resource in the namespace (or with -A, everywhere); without NAME or -l, required.
    #[arg(long, conflicts_with_all = ["name", "selector"])]
    all: bool,
}

/// `ap approve`: the resources and, optionally, the gate.
#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
    #[command(flatten)]
    pub(crate) verb: VerbArgs,
    /// The gate to open (default: every gate on the resource's current phase).
    #[arg(long)]
    pub(crate) gate: Option<String>,
}

/// One action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Pause,
    Resume,
    Retry,
    Abort,
    /// Open gates: a named one, or those on the current phase.
    Approve,
    /// Open the gates on the current phase (Argo's promote, Flagger's confirm-promotion).
    Promote,
}

impl Verb {
    fn past(self) -> &'static str {
        match self {
            Verb::Pause => "paused",
            Verb::Resume => "resumed",
            Verb::Retry => "retry requested",
            Verb::Abort => "abort requested",
            Verb::Approve | Verb::Promote => "approved",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Verb::Pause => "Paused",
            Verb::Resume => "Resumed",
            Verb::Retry => "RetryRequested",
            Verb::Abort => "AbortRequested",
            Verb::Approve | Verb::Promote => "GateApproved",
        }
    }
}

/// Run `verb` on the selected resources.
pub(crate) fn act(verb: Verb, args: &VerbArgs, gate: Option<&str>) -> anyhow::Result<()> {
    let s = &args.selection;
    if s.name.is_none() && s.selector.is_none() && !args.all {
        bail!("say which resources: NAME, -l SELECTOR, or --all");
    }
    runtime()?.block_on(async {
        let scope = s.scope().await?;
        let project = &scope.model.project;
        check_declared(verb, project, gate)?;
        let objects = scope.select(s).await?;
        if objects.is_empty() {
            bail!("no {} selected", scope.describe());
        }
        let who = who(&scope).await;
        let now = k8s_openapi::jiff::Timestamp::now();
        let mut failed = 0;
        for object in &objects {
            let what = format!(
                "{}/{}",
                scope.resource.kind.to_lowercase(),
                object.name_any()
            );
            match one(&scope, verb, gate, object, &who, now).await {
                Ok(done) => println!("{what} {done}"),
                Err(e) => {
                    eprintln!("error: {what}: {e:#}");
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            bail!("{failed} of {} resources not changed", objects.len());
        }
        Ok(())
    })
}

/// Run `verb` on one resource already read (as `act` does on each it selects), for callers
/// that name a resource themselves, such as `ap dashboard`; what was done.
pub(crate) async fn act_on(
    scope: &Scope,
    verb: Verb,
    gate: Option<&str>,
    object: &DynamicObject,
) -> anyhow::Result<String> {
    check_declared(verb, &scope.model.project, gate)?;
    let who = who(scope).await;
    one(
        scope,
        verb,
        gate,
        object,
        &who,
        k8s_openapi::jiff::Timestamp::now(),
    )
    .await
}

/// Refuse verbs the operator does not declare: abort without `abortPhase`, gates without
/// `gates:`, an unknown `--gate`.
fn check_declared(verb: Verb, project: &Project, gate: Option<&str>) -> anyhow::Result<()> {
    match verb {
        Verb::Abort if project.abort_phase.is_none() => bail!(
            "{} declares no abortPhase in autopilot.yaml, so it cannot be aborted",
            project.kind
        ),
        Verb::Approve | Verb::Promote if project.gates.is_empty() => bail!(
            "{} declares no gates in autopilot.yaml, so there is nothing to approve",
            project.kind
        ),
        Verb::Approve => match gate {
            Some(g) if project.gate(g).is_none() => bail!(
                "no gate {g:?} is declared (declared: {})",
                gate_names(project)
            ),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn gate_names(project: &Project) -> String {
    project
        .gates
        .iter()
        .map(|g| g.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The gates `approve`/`promote` open on `object`: the named one, else every gate on its
/// current phase.
pub(crate) fn gates_to_open<'p>(
    project: &'p Project,
    object: &DynamicObject,
    named: Option<&str>,
) -> anyhow::Result<Vec<&'p autopilot_model::Gate>> {
    if let Some(name) = named {
        return project
            .gate(name)
            .map(|g| vec![g])
            .with_context(|| format!("no gate {name:?} is declared"));
    }
    let phase = object.data["status"]["phase"]
        .as_str()
        .or_else(|| project.initial_phase().map(|p| p.name.as_str()))
        .unwrap_or_default();
    let on: Vec<_> = project.gates.iter().filter(|g| g.phase == phase).collect();
    if on.is_empty() {
        bail!(
            "it is in phase {phase}, which no gate guards (gates: {}); name one with --gate",
            project
                .gates
                .iter()
                .map(|g| format!(
                    "{} {} {}",
                    g.name,
                    match g.when {
                        GateWhen::Before => "before",
                        GateWhen::Leaving => "leaving",
                    },
                    g.phase
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(on)
}

/// The annotations `verb` sets on `object` (`None` removes one), and what to print.
pub(crate) fn annotations(
    verb: Verb,
    project: &Project,
    object: &DynamicObject,
    gate: Option<&str>,
    who_when: &str,
    now: &str,
) -> anyhow::Result<(BTreeMap<String, Option<String>>, String)> {
    let mut set = BTreeMap::new();
    let done = match verb {
        Verb::Pause => {
            set.insert(PAUSED.to_owned(), Some("true".to_owned()));
            set.insert(PAUSED_BY.to_owned(), Some(who_when.to_owned()));
            verb.past().to_owned()
        }
        Verb::Resume => {
            set.insert(PAUSED.to_owned(), None);
            set.insert(PAUSED_BY.to_owned(), None);
            verb.past().to_owned()
        }
        Verb::Retry => {
            set.insert(RETRY.to_owned(), Some(now.to_owned()));
            verb.past().to_owned()
        }
        Verb::Abort => {
            set.insert(ABORT.to_owned(), Some(who_when.to_owned()));
            format!(
                "{} (to phase {})",
                verb.past(),
                project.abort_phase.as_deref().unwrap_or_default()
            )
        }
        Verb::Approve | Verb::Promote => {
            let gates = gates_to_open(project, object, gate)?;
            for g in &gates {
                set.insert(gate_annotation(&g.name), Some(APPROVED.to_owned()));
                set.insert(approver_annotation(&g.name), Some(who_when.to_owned()));
            }
            format!(
                "gate {} approved",
                gates
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    Ok((set, done))
}

async fn one(
    scope: &Scope,
    verb: Verb,
    gate: Option<&str>,
    object: &DynamicObject,
    who: &str,
    now: k8s_openapi::jiff::Timestamp,
) -> anyhow::Result<String> {
    let who_when = format!("{who} at {now}");
    let (set, done) = annotations(
        verb,
        &scope.model.project,
        object,
        gate,
        &who_when,
        &now.to_string(),
    )?;
    let ns = object.namespace().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(scope.client.clone(), &ns, &scope.resource);
    let patch = json!({"metadata": {"annotations": set}});
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(crate::kube_util::readable)?;
    record(scope, object, verb, &format!("{done} by {who}")).await;
    Ok(done)
}

/// Who the cluster says we are (SelfSubjectReview), for Events and annotations.
async fn who(scope: &Scope) -> String {
    let api: Api<SelfSubjectReview> = Api::all(scope.client.clone());
    let review = SelfSubjectReview::default();
    match api.create(&PostParams::default(), &review).await {
        Ok(r) => r
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .unwrap_or_else(|| "an unnamed user".to_owned()),
        Err(_) => "an unknown user".to_owned(),
    }
}

/// An Event on `object` saying what was done and by whom; a failure to record it only warns.
async fn record(scope: &Scope, object: &DynamicObject, verb: Verb, message: &str) {
    let ns = object.namespace().unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", object.name_any())),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(scope.resource.api_version.clone()),
            kind: Some(scope.resource.kind.clone()),
            name: Some(object.name_any()),
            namespace: Some(ns.clone()),
            uid: object.uid(),
            resource_version: object.resource_version(),
            ..ObjectReference::default()
        },
        reason: Some(verb.reason().to_owned()),
        message: Some(message.to_owned()),
        type_: Some("Normal".to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(verb.reason().to_owned()),
        reporting_component: Some(REPORTER.to_owned()),
        reporting_instance: Some(REPORTER.to_owned()),
        source: Some(EventSource {
            component: Some(REPORTER.to_owned()),
            host: None,
        }),
        count: Some(1),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(scope.client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        eprintln!(
            "warning: {}/{}: the Event recording this was not written: {:#}",
            scope.resource.kind.to_lowercase(),
            object.name_any(),
            crate::kube_util::readable(e)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn object(phase: Option<&str>) -> DynamicObject {
        let mut v: Value = json!({"apiVersion": "a.example.com/v1", "kind": "Canary",
            "metadata": {"name": "web", "namespace": "ns"}});
        if let Some(p) = phase {
            v["status"] = json!({"phase": p});
        }
        serde_json::from_value(v).unwrap()
    }

    fn project(extra: &str) -> Project {
        autopilot_model::parse_project(
            "autopilot.yaml",
            &format!(
                "apiVersion: a.example.com/v1\nkind: Canary\noperatorName: foo\nspec: {{type: object}}\n\
                 phases:\n  - {{name: A, initial: true}}\n  - {{name: B}}\n  - {{name: Aborted, final: true}}\n{extra}"
            ),
        )
        .unwrap()
    }

    #[test]
    fn verbs_set_the_annotations_the_scheduler_reads() {
        let gated = project(
            "abortPhase: Aborted\ngates:\n  - {name: start, phase: A}\n  - {name: promote, phase: B, when: leaving}\n",
        );
        let at = "2026-01-01T00:00:00Z";
        let by = "alice at 2026-01-01T00:00:00Z";
        let set = |verb, phase, gate| {
            annotations(verb, &gated, &object(phase), gate, by, at)
                .map(|(set, done)| (set.into_iter().collect::<Vec<_>>(), done))
                .map_err(|e| e.to_string())
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            set(Verb::Pause, None, None).unwrap().0,
            [
                (PAUSED.to_owned(), some("true")),
                (PAUSED_BY.to_owned(), some(by))
            ]
        );
        assert_eq!(
            set(Verb::Resume, None, None).unwrap().0,
            [(PAUSED.to_owned(), None), (PAUSED_BY.to_owned(), None)]
        );
        assert_eq!(
            set(Verb::Retry, None, None).unwrap().0,
            [(RETRY.to_owned(), some(at))]
        );
        assert_eq!(
            set(Verb::Abort, Some("B"), None).unwrap(),
            (
                vec![(ABORT.to_owned(), some(by))],
                "abort requested (to phase Aborted)".to_owned()
            )
        );
        // Promote opens the gates of the current phase; a resource without status is in the
        // initial one.
        assert_eq!(
            set(Verb::Promote, Some("B"), None).unwrap(),
            (
                vec![
                    ("gate.autopilot.dev/promote".to_owned(), some("approved")),
                    ("gate.autopilot.dev/promote.by".to_owned(), some(by)),
                ],
                "gate promote approved".to_owned()
            )
        );
        assert_eq!(
            set(Verb::Promote, None, None).unwrap().1,
            "gate start approved"
        );
        assert_eq!(
            set(Verb::Approve, Some("Aborted"), Some("promote"))
                .unwrap()
                .1,
            "gate promote approved"
        );
        let err = set(Verb::Promote, Some("Aborted"), None).unwrap_err();
        assert!(
            err.contains("phase Aborted, which no gate guards")
                && err.contains("promote leaving B"),
            "{err}"
        );
    }

    #[test]
    fn undeclared_verbs_are_refused() {
        let plain = project("");
        assert!(
            check_declared(Verb::Abort, &plain, None)
                .unwrap_err()
                .to_string()
                .contains("declares no abortPhase")
        );
        assert!(
            check_declared(Verb::Promote, &plain, None)
                .unwrap_err()
                .to_string()
                .contains("declares no gates")
        );
        let gated = project("gates:\n  - {name: start, phase: A}\n");
        assert!(
            check_declared(Verb::Approve, &gated, Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("no gate \"nope\" is declared (declared: start)")
        );
        assert!(check_declared(Verb::Pause, &plain, None).is_ok());
    }
}
