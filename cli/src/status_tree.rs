//! `ap status NAME`: one resource as a tree — phase, declared columns, conditions, statusInfo,
//! the objects it owns and its recent Events.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt as _;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use crate::selection::Scope;
use crate::status::short_age;

/// Events shown, newest last: enough to see how it got here, few enough to read.
const RECENT_EVENTS: usize = 10;
/// Deepest statusInfo nesting printed; deeper values are shown as JSON on one line.
const STATUS_INFO_DEPTH: usize = 2;

/// One object the resource owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owned {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
}

/// One Event about the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Happened {
    pub(crate) at: Option<Timestamp>,
    pub(crate) type_: String,
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) count: i32,
}

/// Read what the tree needs besides the resource, then render it.
pub(crate) async fn render(scope: &Scope, object: &DynamicObject) -> anyhow::Result<String> {
    let owned = owned(scope, object).await;
    let events = events(scope, object).await;
    Ok(tree(
        object,
        &scope.model.project,
        &owned,
        &events,
        Timestamp::now(),
    ))
}

/// The objects of the project's output kinds labelled as owned by `object`. A kind that cannot
/// be listed (not served, not allowed) is left out rather than failing the view.
pub(crate) async fn owned(scope: &Scope, object: &DynamicObject) -> Vec<Owned> {
    let Some(uid) = object.uid() else {
        return Vec::new();
    };
    let project = &scope.model.project;
    let mut kinds: Vec<String> = project
        .phases
        .iter()
        .flat_map(|p| p.outputs.iter().cloned())
        .collect();
    kinds.sort();
    kinds.dedup();
    let params = ListParams::default().labels(&format!(
        "{}={uid}",
        autopilot_model::labels::OWNER_UID_LABEL
    ));
    let mut found = Vec::new();
    for parameter in kinds.iter().filter_map(|k| project.parameter(k)) {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&parameter.group, &parameter.version, &parameter.kind),
            &parameter.plural,
        );
        let api: Api<DynamicObject> = match (parameter.namespaced, object.namespace()) {
            (true, Some(ns)) => Api::namespaced_with(scope.client.clone(), &ns, &resource),
            _ => Api::all_with(scope.client.clone(), &resource),
        };
        if let Ok(list) = api.list(&params).await {
            found.extend(list.items.iter().map(|o| Owned {
                kind: parameter.kind.clone(),
                name: o.name_any(),
                namespace: o.namespace(),
            }));
        }
    }
    found
}

/// The Events about `object`, oldest first. Unreadable Events give an empty list.
pub(crate) async fn events(scope: &Scope, object: &DynamicObject) -> Vec<Happened> {
    let (Some(uid), Some(ns)) = (object.uid(), object.namespace()) else {
        return Vec::new();
    };
    let api: Api<Event> = Api::namespaced(scope.client.clone(), &ns);
    let params = ListParams::default().fields(&format!("involvedObject.uid={uid}"));
    let Ok(list) = api.list(&params).await else {
        return Vec::new();
    };
    let mut events: Vec<Happened> = list
        .items
        .into_iter()
        .map(|e| Happened {
            at: e
                .series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
                .or(e.last_timestamp.as_ref().map(|t| t.0))
                .or(e.event_time.as_ref().map(|t| t.0))
                .or(e.first_timestamp.as_ref().map(|t| t.0)),
            type_: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            count: e
                .series
                .as_ref()
                .map(|s| s.count.unwrap_or(1))
                .or(e.count)
                .unwrap_or(1),
        })
        .collect();
    events.sort_by_key(|e| e.at);
    events
}

fn age(now: Timestamp, at: Option<Timestamp>) -> String {
    at.map_or_else(
        || "<unknown>".to_owned(),
        |t| short_age(now.duration_since(t).unsigned_abs()),
    )
}

/// The tree of one resource.
pub(crate) fn tree(
    object: &DynamicObject,
    project: &autopilot_model::Project,
    owned: &[Owned],
    events: &[Happened],
    now: Timestamp,
) -> String {
    let status = &object.data["status"];
    let whole = serde_json::to_value(object).unwrap_or_default();
    let mut out = String::new();
    let mut field = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<14}{value}", format!("{label}:"));
    };
    field("Name", &object.name_any());
    field("Namespace", &object.namespace().unwrap_or_default());
    field(
        "Kind",
        &format!("{} ({})", project.kind, project.api_version),
    );
    let phase = status["phase"].as_str().unwrap_or("<none>");
    let final_mark = match project.phase(phase) {
        Some(p) if p.is_final => " (final)",
        _ => "",
    };
    field("Phase", &format!("{phase}{final_mark}"));
    for column in &project.printer_columns {
        field(&column.name, &column.cell(&whole));
    }
    field("Age", &age(now, object.creation_timestamp().map(|t| t.0)));
    if let Some(attempt) = status["attempt"].as_u64() {
        let failures = status["failures"].as_u64().unwrap_or(0);
        field(
            "Attempt",
            &format!("{attempt} ({failures} consecutive failures)"),
        );
    }
    let synced = match (
        status["observedGeneration"].as_i64(),
        object.metadata.generation,
    ) {
        (Some(seen), Some(current)) if seen == current => {
            format!("yes (status of generation {current})")
        }
        (Some(seen), Some(current)) => {
            format!("no (status of generation {seen}, spec at {current})")
        }
        _ => "no (never reconciled)".to_owned(),
    };
    field("Synced", &synced);
    let requests = autopilot_model::gates::Requests::read(object.annotations());
    if requests.paused {
        let by = object
            .annotations()
            .get(crate::verbs::PAUSED_BY)
            .map_or(String::new(), |b| format!(" (by {b})"));
        field("Paused", &format!("yes{by}: `ap resume` lets it go on"));
    }
    if let Some(by) = &requests.abort {
        field("Abort", &format!("requested by {by}"));
    }
    if !project.gates.is_empty() {
        out.push_str("\nGates:\n");
    }
    for (gate, state) in gates(project, object) {
        let state = match state {
            GateState::Approved(Some(by)) => format!("approved by {by}"),
            GateState::Approved(None) => "approved".to_owned(),
            GateState::Waiting => "waiting: `ap approve` opens it".to_owned(),
            GateState::Closed => "not approved".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {} ({} {}): {state}",
            gate.name,
            gate_when(gate),
            gate.phase
        );
    }

    let empty = Vec::new();
    let conditions = status["conditions"].as_array().unwrap_or(&empty);
    out.push_str("\nConditions:\n");
    if conditions.is_empty() {
        out.push_str("  <none>\n");
    }
    for c in conditions {
        let at = c["lastTransitionTime"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok());
        let icon = match (text(&c["type"]), text(&c["status"])) {
            ("Ready", "True") | ("Progressing", "True") => "✔",
            ("WorkerError", "True") => "✖",
            (_, "False") if !matches!(text(&c["type"]), "WorkerError" | "Progressing") => "✖",
            _ => "•",
        };
        let _ = write!(
            out,
            "  {icon} {}={} {}",
            text(&c["type"]),
            text(&c["status"]),
            c["reason"].as_str().unwrap_or(""),
        );
        let _ = write!(out, " ({} ago)", age(now, at));
        if let Some(message) = c["message"].as_str().filter(|m| !m.is_empty()) {
            let _ = write!(out, ": {}", one_line(message));
        }
        out.push('\n');
    }

    out.push_str("\nStatus info:\n");
    match &status["statusInfo"] {
        Value::Object(map) if !map.is_empty() => info(&mut out, map, 1),
        _ => out.push_str("  <none>\n"),
    }

    out.push_str("\nOwned objects:\n");
    if owned.is_empty() {
        out.push_str("  <none>\n");
    }
    for o in owned {
        let _ = writeln!(out, "  ⟳ {}/{}", o.kind, o.name);
    }

    out.push_str("\nEvents:\n");
    if events.is_empty() {
        out.push_str("  <none>\n");
    }
    let skip = events.len().saturating_sub(RECENT_EVENTS);
    for e in &events[skip..] {
        let times = if e.count > 1 {
            format!(" (x{})", e.count)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {:>6} ago  {:<8} {}{times}: {}",
            age(now, e.at),
            e.type_,
            e.reason,
            one_line(&e.message)
        );
    }
    out
}

/// Where a declared gate stands on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GateState {
    /// Opened, by whom and when if recorded.
    Approved(Option<String>),
    /// Not opened, and on the resource's current phase: it holds the resource now.
    Waiting,
    /// Not opened, on another phase.
    Closed,
}

/// Each gate `project` declares with its state on `object`. Before its first status write a
/// resource is in the initial phase.
pub(crate) fn gates<'p>(
    project: &'p autopilot_model::Project,
    object: &DynamicObject,
) -> Vec<(&'p autopilot_model::Gate, GateState)> {
    let requests = autopilot_model::gates::Requests::read(object.annotations());
    let current = object.data["status"]["phase"]
        .as_str()
        .or_else(|| project.initial_phase().map(|p| p.name.as_str()))
        .unwrap_or_default();
    project
        .gates
        .iter()
        .map(|gate| {
            let state = match requests.approved.get(&gate.name) {
                Some(by) => GateState::Approved(by.clone()),
                None if gate.phase == current => GateState::Waiting,
                None => GateState::Closed,
            };
            (gate, state)
        })
        .collect()
}

/// `before` or `leaving`.
pub(crate) fn gate_when(gate: &autopilot_model::Gate) -> &'static str {
    match gate.when {
        autopilot_model::GateWhen::Before => "before",
        autopilot_model::GateWhen::Leaving => "leaving",
    }
}

/// statusInfo's fields, one a line, nested objects indented up to [`STATUS_INFO_DEPTH`].
fn info(out: &mut String, map: &serde_json::Map<String, Value>, depth: usize) {
    let indent = "  ".repeat(depth);
    for (key, value) in map {
        match value {
            Value::Object(inner) if depth < STATUS_INFO_DEPTH && !inner.is_empty() => {
                let _ = writeln!(out, "{indent}{key}:");
                info(out, inner, depth + 1);
            }
            Value::String(s) => {
                let _ = writeln!(out, "{indent}{key}: {s}");
            }
            other => {
                let _ = writeln!(out, "{indent}{key}: {other}");
            }
        }
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tree_shows_phase_columns_conditions_info_outputs_and_events() {
        let project = autopilot_model::parse_project(
            "autopilot.yaml",
            "apiVersion: e2e.example.com/v1\nkind: Task\noperatorName: t\nspec: {type: object}\n\
             printerColumns:\n  - {name: Weight, type: integer, jsonPath: .status.statusInfo.weight}\n\
             phases:\n  - {name: Deploying, initial: true, outputs: [configmaps]}\n  - {name: Done, final: true}\n",
        )
        .unwrap();
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "e2e.example.com/v1", "kind": "Task",
            "metadata": {"name": "web", "namespace": "ns", "generation": 2,
                         "creationTimestamp": "2025-01-01T00:00:00Z"},
            "status": {
                "phase": "Deploying", "attempt": 3, "failures": 2, "observedGeneration": 2,
                "statusInfo": {"weight": 40, "checks": {"errorRate": 0.01}},
                "conditions": [
                    {"type": "WorkerError", "status": "True", "reason": "InvalidArgument",
                     "message": "spec.behavior\nsays invalid", "lastTransitionTime": "2025-01-01T00:04:00Z"},
                ],
            },
        }))
        .unwrap();
        let owned = [Owned {
            kind: "ConfigMap".into(),
            name: "web-config".into(),
            namespace: Some("ns".into()),
        }];
        let events = [Happened {
            at: Some("2025-01-01T00:04:30Z".parse().unwrap()),
            type_: "Warning".into(),
            reason: "WorkerError".into(),
            message: "refused".into(),
            count: 3,
        }];
        let now: Timestamp = "2025-01-01T00:05:00Z".parse().unwrap();
        let text = tree(&object, &project, &owned, &events, now);
        for want in [
            "Name:         web\n",
            "Kind:         Task (e2e.example.com/v1)\n",
            "Phase:        Deploying\n",
            "Weight:       40\n",
            "Age:          5m0s\n",
            "Attempt:      3 (2 consecutive failures)\n",
            "Synced:       yes (status of generation 2)\n",
            "  ✖ WorkerError=True InvalidArgument (60s ago): spec.behavior says invalid\n",
            "  checks:\n    errorRate: 0.01\n  weight: 40\n",
            "  ⟳ ConfigMap/web-config\n",
            "     30s ago  Warning  WorkerError (x3): refused\n",
        ] {
            assert!(text.contains(want), "want {want:?} in\n{text}");
        }
    }
}
