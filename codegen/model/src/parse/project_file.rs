//! `autopilot.yaml` as written, and the checks that turn it into a [`Project`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use super::located::Index;
use super::traces_file::{TraceFile, traces};
use super::{Report, SpannedMap, position, required};
use crate::catalog::{self, METRICS};
use crate::diagnostic::Diagnostics;
use crate::event::EventSource;
use crate::project::{
    Input, InputNamespace, Language, Parameter, Phase, Project, Query, QueryRange, Worker,
    WorkerMode,
};
use crate::traces::{TRACES, TraceQuery};
use crate::{duration, names, schema, template};

type S<T> = Spanned<T>;

/// The whole file. Required fields are `Option` so that every missing one is reported, at the
/// mapping that lacks it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ProjectFile {
    api_version: Option<S<String>>,
    kind: Option<S<String>>,
    operator_name: Option<S<String>>,
    plural: Option<S<String>>,
    finalizer: Option<bool>,
    spec: Option<S<Value>>,
    status_info: Option<S<Value>>,
    phases: Option<S<Vec<S<PhaseFile>>>>,
    parameters: Option<Vec<S<ParameterFile>>>,
    queries: Option<Vec<S<QueryFile>>>,
    traces: Option<Vec<S<TraceFile>>>,
    workers: Option<S<Vec<S<WorkerFile>>>>,
    events: Option<Vec<S<super::events_file::EventFile>>>,
    short_names: Option<Vec<S<String>>>,
    categories: Option<Vec<S<String>>>,
    printer_columns: Option<Vec<S<super::kubectl_file::ColumnFile>>>,
    gates: Option<Vec<S<super::gates_file::GateFile>>>,
    abort_phase: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PhaseFile {
    name: Option<S<String>>,
    description: Option<String>,
    initial: Option<S<bool>>,
    #[serde(rename = "final")]
    is_final: Option<S<bool>>,
    inputs: Option<S<Vec<S<InputItem>>>>,
    outputs: Option<S<Vec<S<String>>>>,
    next: Option<S<Vec<S<String>>>>,
    deadline: Option<S<String>>,
    prune: Option<S<bool>>,
    destinations: Option<S<Vec<S<String>>>>,
}

/// An input as written: a bare name or a mapping.
#[derive(Debug)]
enum InputItem {
    Name(String),
    Map(Box<InputMap>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InputMap {
    name: Option<S<String>>,
    #[serde(rename = "as")]
    key: Option<S<String>>,
    namespace: Option<S<String>>,
    label_selector: Option<S<String>>,
    field_selector: Option<S<String>>,
    metrics: Option<S<Vec<S<String>>>>,
    traces: Option<S<Vec<S<String>>>>,
    vars: Option<S<SpannedMap<S<String>>>>,
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = InputItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a parameter name, `metrics`, or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputItem, E> {
                Ok(InputItem::Name(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InputItem, A::Error> {
                InputMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|m| InputItem::Map(Box::new(m)))
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ParameterFile {
    name: Option<S<String>>,
    api_version: Option<S<String>>,
    kind: Option<S<String>>,
    plural: Option<S<String>>,
    namespaced: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct QueryFile {
    name: Option<S<String>>,
    query: Option<S<String>>,
    range: Option<S<RangeFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RangeFile {
    duration: Option<S<String>>,
    step: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WorkerFile {
    name: Option<S<String>>,
    language: Option<Language>,
    mode: Option<WorkerMode>,
    replicas: Option<S<u32>>,
    phases: Option<S<Vec<S<String>>>>,
}

/// Check `file` and build the project, reporting every problem.
pub(crate) fn build(
    path: &Path,
    file: S<ProjectFile>,
    index: Option<&Index>,
) -> Result<Project, Diagnostics> {
    let mut r = Report::new(path);
    let root = &file.referenced;
    let f = &file.value;

    let api_version = checked(
        &mut r,
        &f.api_version,
        root,
        "apiVersion",
        names::crd_api_version,
    );
    let kind = checked(&mut r, &f.kind, root, "kind", names::upper_camel);
    let operator_name = checked(
        &mut r,
        &f.operator_name,
        root,
        "operatorName",
        names::dns_label,
    );
    let plural = checked_opt(&mut r, &f.plural, "plural", names::dns_label)
        .unwrap_or_else(|| names::plural(&kind));
    let kubectl = super::kubectl_file::kubectl(
        &mut r,
        f.short_names.as_deref(),
        f.categories.as_deref(),
        f.printer_columns.as_deref(),
        (&plural, &kind.to_lowercase()),
    );
    let spec = spec_schema(&mut r, &f.spec, root);
    let status_info = status_info_schema(&mut r, &f.status_info);
    let parameters = parameters(&mut r, f.parameters.as_deref().unwrap_or_default());
    let queries = queries(&mut r, f.queries.as_deref().unwrap_or_default());
    let taken: Vec<String> = catalog::parameters()
        .map(|p| p.name)
        .chain(parameters.iter().map(|p| p.name.clone()))
        .chain(queries.iter().map(|q| q.name.clone()))
        .chain(catalog::queries().map(|q| q.name))
        .collect();
    let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
    let events =
        super::events_file::events(&mut r, f.events.as_deref().unwrap_or_default(), &taken);
    let trace_queries = traces(&mut r, f.traces.as_deref().unwrap_or_default());
    let mut origin = crate::operator::Origin {
        file: path.to_owned(),
        ..Default::default()
    };
    let phases = phases(
        &mut r,
        &f.phases,
        root,
        Declared {
            parameters: &parameters,
            queries: &queries,
            events: &events,
            traces: &trace_queries,
        },
        &mut origin,
    );
    let workers = workers(&mut r, &f.workers, &operator_name, &phases);
    let gates = super::gates_file::gates(&mut r, f.gates.as_deref().unwrap_or_default(), &phases);
    let abort_phase = super::gates_file::abort_phase(&mut r, &f.abort_phase, &phases);
    if let Some(s) = &f.spec {
        schema_values(&mut r, index, "spec", s);
    }
    if let Some(s) = &f.status_info {
        schema_values(&mut r, index, "statusInfo", s);
    }
    template_paths(&mut r, f, &spec, &status_info);

    r.finish(Project {
        api_version,
        kind,
        operator_name,
        plural,
        finalizer: f.finalizer.unwrap_or(false),
        spec,
        status_info,
        phases,
        parameters,
        queries,
        traces: trace_queries,
        workers,
        events,
        short_names: kubectl.short_names,
        categories: kubectl.categories,
        printer_columns: kubectl.printer_columns,
        gates,
        abort_phase,
        origin,
    })
}

/// A required string checked by `rule`; empty when missing (the build then fails anyway).
fn checked(
    r: &mut Report,
    value: &Option<S<String>>,
    parent: &Location,
    field: &str,
    rule: fn(&str) -> Result<(), String>,
) -> String {
    let Some(v) = required(r, value, parent, field) else {
        return String::new();
    };
    if let Err(why) = rule(&v.value) {
        r.error(&v.referenced, field, why);
    }
    v.value.clone()
}

/// An optional string checked by `rule`.
fn checked_opt(
    r: &mut Report,
    value: &Option<S<String>>,
    field: &str,
    rule: fn(&str) -> Result<(), String>,
) -> Option<String> {
    let v = value.as_ref()?;
    if let Err(why) = rule(&v.value) {
        r.error(&v.referenced, field, why);
    }
    Some(v.value.clone())
}

/// A positive duration, reported at its value when malformed.
fn duration_of(r: &mut Report, value: &S<String>, field: &str) -> Option<std::time::Duration> {
    duration::parse(&value.value)
        .map_err(|why| r.error(&value.referenced, field, why))
        .ok()
}

fn template_ok(text: &str) -> Result<(), String> {
    template::validate_template(text).map_err(|why| format!("invalid template: {why}"))
}

fn spec_schema(r: &mut Report, spec: &Option<S<Value>>, root: &Location) -> Value {
    let Some(spec) = required(r, spec, root, "spec") else {
        return Value::Null;
    };
    if spec.value.get("type").and_then(Value::as_str) != Some("object") {
        r.error(
            &spec.referenced,
            "spec",
            "the spec schema must have `type: object` (it becomes the CRD's .spec schema)",
        );
    }
    spec.value.clone()
}

fn status_info_schema(r: &mut Report, status_info: &Option<S<Value>>) -> Value {
    match status_info {
        None => serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        Some(s) => {
            if !s.value.is_object() {
                r.error(
                    &s.referenced,
                    "statusInfo",
                    "must be an OpenAPI v3 schema (a mapping such as `type: object`)",
                );
            }
            s.value.clone()
        }
    }
}

/// Report every `type`, `default`, `enum`, `minimum` and `maximum` of the schema at `field`
/// that the API server would refuse, at the offending node (at the schema when the file's
/// text could not be indexed).
fn schema_values(r: &mut Report, index: Option<&Index>, field: &str, schema: &S<Value>) {
    for finding in schema::check_values(&schema.value) {
        let path = if finding.path.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{}", finding.path)
        };
        match index.and_then(|i| i.value_at(&path)) {
            Some((line, column)) => r.error_at(line, column, &path, &finding.message),
            None => r.error(&schema.referenced, &path, &finding.message),
        }
    }
}

/// Report every `{{ spec.… }}` and `{{ status.… }}` placeholder, in queries, input selectors,
/// namespaces and vars, that names a field the spec or statusInfo schema does not declare:
/// such a path is never set on an object, and the call would fail at run time.
fn template_paths(r: &mut Report, f: &ProjectFile, spec: &Value, status_info: &Value) {
    let status = schema::status_schema(status_info);
    let mut check = |text: &S<String>, field: &str| {
        // A malformed template is reported where it is declared.
        let Ok(used) = template::variables(&text.value) else {
            return;
        };
        let mut reported: Vec<&str> = Vec::new();
        for var in used {
            let mut segments = var.split('.');
            let (schema, root) = match segments.next() {
                Some("spec") => (spec, "spec"),
                Some("status") => (&status, "status"),
                _ => continue,
            };
            let rest: Vec<&str> = segments.collect();
            if rest.is_empty() || reported.contains(&var) {
                continue;
            }
            if let Err(why) = schema::resolve(schema, root, &rest) {
                reported.push(var);
                r.error(
                    &text.referenced,
                    field,
                    format!("`{{{{ {var} }}}}` is not in the {root} schema: {why}"),
                );
            }
        }
    };
    for (i, q) in f.queries.iter().flatten().enumerate() {
        if let Some(query) = &q.value.query {
            check(query, &format!("queries[{i}].query"));
        }
    }
    let phases = f
        .phases
        .as_ref()
        .map(|l| l.value.as_slice())
        .unwrap_or_default();
    for (i, phase) in phases.iter().enumerate() {
        let inputs = phase.value.inputs.as_ref();
        for (j, input) in inputs
            .map(|l| l.value.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let InputItem::Map(m) = &input.value else {
                continue;
            };
            let at = format!("phases[{i}].inputs[{j}]");
            for (name, value) in [
                ("namespace", &m.namespace),
                ("labelSelector", &m.label_selector),
                ("fieldSelector", &m.field_selector),
            ] {
                if let Some(v) = value {
                    check(v, &format!("{at}.{name}"));
                }
            }
            for (name, value) in m.vars.iter().flat_map(|v| &v.value.0) {
                check(value, &format!("{at}.vars.{}", name.value));
            }
        }
    }
}

/// Remembers the first place each name was declared, to report duplicates.
struct Seen<'a> {
    what: &'a str,
    first: HashMap<String, usize>,
}

impl<'a> Seen<'a> {
    fn new(what: &'a str) -> Self {
        Self {
            what,
            first: HashMap::new(),
        }
    }

    /// Record `name`; report it as `field` if it was seen before.
    fn check(&mut self, r: &mut Report, name: &S<String>, field: &str) {
        let (line, _) = position(&name.referenced);
        if let Some(first) = self.first.get(&name.value) {
            r.error(
                &name.referenced,
                field,
                format!(
                    "duplicate {} `{}` (first declared on line {first})",
                    self.what, name.value
                ),
            );
        } else {
            self.first.insert(name.value.clone(), line);
        }
    }
}

fn parameters(r: &mut Report, items: &[S<ParameterFile>]) -> Vec<Parameter> {
    let mut seen = Seen::new("parameter");
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("parameters[{i}].{field}");
        let p = &item.value;
        let name = checked(
            r,
            &p.name,
            &item.referenced,
            &at("name"),
            names::parameter_name,
        );
        if let Some(n) = &p.name {
            if n.value == METRICS || n.value == TRACES {
                r.error(
                    &n.referenced,
                    &at("name"),
                    format!(
                        "`{}` is reserved for {} inputs",
                        n.value,
                        &n.value[..n.value.len() - 1]
                    ),
                );
            } else if let Some(b) = catalog::parameter(&n.value) {
                r.error(
                    &n.referenced,
                    &at("name"),
                    format!(
                        "`{}` shadows the built-in parameter ({} {}); use the built-in or pick \
                         another name",
                        n.value,
                        b.api_version(),
                        b.kind
                    ),
                );
            }
            seen.check(r, n, &at("name"));
        }
        let (group, version) =
            match required(r, &p.api_version, &item.referenced, &at("apiVersion")) {
                Some(v) => match names::resource_api_version(&v.value) {
                    Ok((g, v)) => (g.to_owned(), v.to_owned()),
                    Err(why) => {
                        r.error(&v.referenced, &at("apiVersion"), why);
                        Default::default()
                    }
                },
                None => Default::default(),
            };
        let kind = checked(
            r,
            &p.kind,
            &item.referenced,
            &at("kind"),
            names::upper_camel,
        );
        let plural = checked_opt(r, &p.plural, &at("plural"), names::dns_label)
            .unwrap_or_else(|| names::plural(&kind));
        out.push(Parameter {
            name,
            group,
            version,
            kind,
            plural,
            namespaced: p.namespaced.unwrap_or(true),
            builtin: false,
        });
    }
    out
}

fn queries(r: &mut Report, items: &[S<QueryFile>]) -> Vec<Query> {
    let mut seen = Seen::new("query");
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("queries[{i}].{field}");
        let q = &item.value;
        let name = checked(r, &q.name, &item.referenced, &at("name"), names::kebab);
        if let Some(n) = &q.name {
            seen.check(r, n, &at("name"));
        }
        let query = checked(r, &q.query, &item.referenced, &at("query"), template_ok);
        let range = q.range.as_ref().and_then(|range| {
            let duration = required(
                r,
                &range.value.duration,
                &range.referenced,
                &at("range.duration"),
            )
            .and_then(|d| duration_of(r, d, &at("range.duration")));
            let step = required(r, &range.value.step, &range.referenced, &at("range.step"))
                .and_then(|d| duration_of(r, d, &at("range.step")));
            Some(QueryRange {
                duration: duration?,
                step: step?,
            })
        });
        out.push(Query {
            name,
            query,
            range,
            builtin: false,
        });
    }
    out
}

/// What inputs and outputs may refer to.
struct Declared<'a> {
    parameters: &'a [Parameter],
    queries: &'a [Query],
    events: &'a [EventSource],
    traces: &'a [TraceQuery],
}

impl Declared<'_> {
    fn parameter(&self, name: &str) -> Option<Parameter> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .or_else(|| catalog::parameter(name))
    }

    fn query(&self, name: &str) -> Option<Query> {
        self.queries
            .iter()
            .find(|q| q.name == name)
            .cloned()
            .or_else(|| catalog::query(name))
    }

    /// Why `name` is not a parameter, with a hint when it is something else.
    fn unknown_parameter(&self, name: &str) -> String {
        if name == METRICS {
            return "`metrics` is not a resource parameter; write `- metrics` or \
                    `- metrics: [query, ...]`"
                .to_owned();
        }
        if name == TRACES {
            return "`traces` is not a resource parameter; write `- traces` or \
                    `- traces: [query, ...]`"
                .to_owned();
        }
        if self.query(name).is_some() {
            return format!("`{name}` is a query, not a parameter: write `- metrics: [{name}]`");
        }
        if self.trace(name).is_some() {
            return format!(
                "`{name}` is a trace query, not a parameter: write `- traces: [{name}]`"
            );
        }
        let known: Vec<String> = catalog::parameters()
            .chain(self.parameters.iter().cloned())
            .map(|p| p.name)
            .chain(self.events.iter().map(|e| e.name.clone()))
            .collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        if self.events.is_empty() {
            names::unknown("parameter", name, &known)
        } else {
            names::unknown("parameter or event source", name, &known)
        }
    }

    fn trace(&self, name: &str) -> Option<&TraceQuery> {
        self.traces.iter().find(|t| t.name == name)
    }

    fn unknown_trace(&self, name: &str) -> String {
        let known: Vec<&str> = self.traces.iter().map(|t| t.name.as_str()).collect();
        if known.is_empty() {
            return format!("unknown trace query `{name}`: declare it under `traces`");
        }
        names::unknown("trace query", name, &known)
    }

    fn unknown_query(&self, name: &str) -> String {
        let known: Vec<String> = self
            .queries
            .iter()
            .cloned()
            .chain(catalog::queries())
            .map(|q| q.name)
            .collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        names::unknown("query", name, &known)
    }
}

fn phases(
    r: &mut Report,
    list: &Option<S<Vec<S<PhaseFile>>>>,
    root: &Location,
    declared: Declared<'_>,
    origin: &mut crate::operator::Origin,
) -> Vec<Phase> {
    let Some(list) = required(r, list, root, "phases") else {
        return Vec::new();
    };
    let names: Vec<&str> = list
        .value
        .iter()
        .filter_map(|p| p.value.name.as_ref().map(|n| n.value.as_str()))
        .collect();
    let mut seen = Seen::new("phase");
    let mut initial: Option<String> = None;
    let mut out = Vec::new();
    for (i, item) in list.value.iter().enumerate() {
        let field = format!("phases[{i}]");
        let p = &item.value;
        let name = checked(
            r,
            &p.name,
            &item.referenced,
            &format!("{field}.name"),
            names::upper_camel,
        );
        if let Some(n) = &p.name {
            seen.check(r, n, &format!("{field}.name"));
        }
        let is_initial = p.initial.as_ref().is_some_and(|v| v.value);
        let is_final = p.is_final.as_ref().is_some_and(|v| v.value);
        if let Some(flag) = p.initial.as_ref().filter(|v| v.value) {
            match &initial {
                None => initial = Some(name.clone()),
                Some(first) => r.error(
                    &flag.referenced,
                    &format!("{field}.initial"),
                    format!(
                        "`{name}` is a second initial phase (`{first}` is initial); exactly one \
                         phase must be initial"
                    ),
                ),
            }
        }
        if is_final {
            final_phase_rules(r, p, &field, is_initial);
        }
        let (inputs, phase_events) = p
            .inputs
            .as_ref()
            .map(|list| inputs(r, &list.value, &format!("{field}.inputs"), &declared))
            .unwrap_or_default();
        let outputs = p
            .outputs
            .as_ref()
            .map(|list| outputs(r, &list.value, &format!("{field}.outputs"), &declared))
            .unwrap_or_default();
        let next = p.next.as_ref().map(|list| {
            for (j, target) in list.value.iter().enumerate() {
                if !names.contains(&target.value.as_str()) {
                    r.error(
                        &target.referenced,
                        &format!("{field}.next[{j}]"),
                        format!(
                            "transition to {}",
                            names::unknown("phase", &target.value, &names)
                        ),
                    );
                }
            }
            list.value.iter().map(|t| t.value.clone()).collect()
        });
        let deadline = p
            .deadline
            .as_ref()
            .and_then(|d| duration_of(r, d, &format!("{field}.deadline")));
        let destinations = super::git_file::destinations(
            r,
            p.destinations.as_ref(),
            &format!("{field}.destinations"),
            is_final,
            origin,
        );
        out.push(Phase {
            name,
            destinations,
            description: p.description.clone(),
            initial: is_initial,
            is_final,
            inputs,
            events: phase_events,
            outputs,
            next,
            deadline,
            prune: p.prune.as_ref().is_some_and(|v| v.value),
        });
    }
    if list.value.is_empty() {
        r.error(&list.referenced, "phases", "declare at least one phase");
    } else if initial.is_none() {
        r.error(
            &list.referenced,
            "phases",
            "no phase is initial; mark exactly one with `initial: true`",
        );
    }
    out
}

/// A final phase calls no worker, so nothing that configures a call may be set on it.
fn final_phase_rules(r: &mut Report, p: &PhaseFile, field: &str, is_initial: bool) {
    let why = "a final phase calls no worker";
    if let Some(flag) = &p.is_final
        && is_initial
    {
        r.error(
            &flag.referenced,
            &format!("{field}.final"),
            "the initial phase cannot be final",
        );
    }
    if let Some(list) = p.inputs.as_ref().filter(|l| !l.value.is_empty()) {
        r.error(
            &list.referenced,
            &format!("{field}.inputs"),
            format!("{why}, so it has no inputs"),
        );
    }
    if let Some(list) = p.outputs.as_ref().filter(|l| !l.value.is_empty()) {
        r.error(
            &list.referenced,
            &format!("{field}.outputs"),
            format!("{why}, so it has no outputs"),
        );
    }
    if let Some(list) = p.next.as_ref().filter(|l| !l.value.is_empty()) {
        r.error(
            &list.referenced,
            &format!("{field}.next"),
            format!("{why}, so it has no transitions"),
        );
    }
    if let Some(d) = &p.deadline {
        r.error(
            &d.referenced,
            &format!("{field}.deadline"),
            format!("{why}, so it has no deadline"),
        );
    }
    if let Some(prune) = p.prune.as_ref().filter(|v| v.value) {
        r.error(
            &prune.referenced,
            &format!("{field}.prune"),
            format!("{why}, so it has nothing to prune"),
        );
    }
}

fn outputs(
    r: &mut Report,
    list: &[S<String>],
    field: &str,
    declared: &Declared<'_>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (j, o) in list.iter().enumerate() {
        let at = format!("{field}[{j}]");
        if o.value == METRICS || o.value == TRACES {
            r.error(
                &o.referenced,
                &at,
                format!("`{}` is an input only and cannot be an output", o.value),
            );
        } else if declared.parameter(&o.value).is_none() {
            r.error(&o.referenced, &at, declared.unknown_parameter(&o.value));
        } else if out.contains(&o.value) {
            r.error(&o.referenced, &at, format!("`{}` is listed twice", o.value));
        }
        out.push(o.value.clone());
    }
    out
}

/// The phase's inputs, and the names of the event sources among them.
fn inputs(
    r: &mut Report,
    list: &[S<InputItem>],
    field: &str,
    declared: &Declared<'_>,
) -> (Vec<Input>, Vec<String>) {
    // Everything the worker receives shares one namespace of keys.
    let mut keys = Seen::new("input key");
    let mut out = Vec::new();
    let mut events = Vec::new();
    for (j, item) in list.iter().enumerate() {
        let at = format!("{field}[{j}]");
        let input = match &item.value {
            InputItem::Name(name) if name == METRICS => {
                if declared.queries.is_empty() {
                    r.error(
                        &item.referenced,
                        &at,
                        "`metrics` alone means every query declared under `queries`, and there \
                         are none; name built-in queries with `- metrics: [istio-success-rate]`",
                    );
                }
                let queries: Vec<String> =
                    declared.queries.iter().map(|q| q.name.clone()).collect();
                for q in &queries {
                    let key = S::new(q.clone(), item.referenced, item.defined);
                    keys.check(r, &key, &at);
                    unbound_vars(r, declared, q, &BTreeMap::new(), &item.referenced, &at);
                }
                Some(Input::Metrics {
                    queries,
                    vars: BTreeMap::new(),
                })
            }
            InputItem::Name(name) if name == TRACES => {
                if declared.traces.is_empty() {
                    r.error(
                        &item.referenced,
                        &at,
                        "`traces` alone means every trace query declared under `traces`, and \
                         there are none",
                    );
                }
                let queries: Vec<String> = declared.traces.iter().map(|t| t.name.clone()).collect();
                for q in &queries {
                    let key = S::new(q.clone(), item.referenced, item.defined);
                    keys.check(r, &key, &at);
                    unbound_trace_vars(r, declared, q, &BTreeMap::new(), &item.referenced, &at);
                }
                Some(Input::Traces {
                    queries,
                    vars: BTreeMap::new(),
                })
            }
            InputItem::Name(name) if declared.events.iter().any(|e| &e.name == name) => {
                let key = S::new(name.clone(), item.referenced, item.defined);
                keys.check(r, &key, &at);
                events.push(name.clone());
                None
            }
            InputItem::Name(name) => {
                let key = S::new(name.clone(), item.referenced, item.defined);
                keys.check(r, &key, &at);
                if declared.parameter(name).is_none() {
                    r.error(&item.referenced, &at, declared.unknown_parameter(name));
                }
                Some(Input::Resource {
                    parameter: name.clone(),
                    key: name.clone(),
                    namespace: InputNamespace::Object,
                    label_selector: None,
                    field_selector: None,
                })
            }
            InputItem::Map(m) => match (&m.name, &m.metrics, &m.traces) {
                (None, None, None) => {
                    r.error(
                        &item.referenced,
                        &at,
                        "an input mapping needs `name` (a parameter), `metrics` (query names) \
                         or `traces` (trace query names)",
                    );
                    None
                }
                (Some(name), None, None) => {
                    Some(resource_input(r, m, name, &at, declared, &mut keys))
                }
                (None, Some(queries), None) => {
                    Some(metrics_input(r, m, queries, &at, declared, &mut keys))
                }
                (None, None, Some(queries)) => {
                    Some(traces_input(r, m, queries, &at, declared, &mut keys))
                }
                _ => {
                    r.error(
                        &item.referenced,
                        &at,
                        "give one of `name` (a resource input), `metrics` (queries) or \
                         `traces` (trace queries), not several",
                    );
                    None
                }
            },
        };
        out.extend(input);
    }
    (out, events)
}

fn resource_input(
    r: &mut Report,
    m: &InputMap,
    name: &S<String>,
    at: &str,
    declared: &Declared<'_>,
    keys: &mut Seen<'_>,
) -> Input {
    let parameter = declared.parameter(&name.value);
    if parameter.is_none() {
        r.error(
            &name.referenced,
            &format!("{at}.name"),
            declared.unknown_parameter(&name.value),
        );
    }
    let key = m.key.as_ref().unwrap_or(name);
    let key_field = if m.key.is_some() {
        format!("{at}.as")
    } else {
        format!("{at}.name")
    };
    if m.key.is_some()
        && let Err(why) = names::identifier(&key.value)
    {
        r.error(&key.referenced, &key_field, why);
    }
    keys.check(r, key, &key_field);
    let namespace = match &m.namespace {
        None => InputNamespace::Object,
        Some(ns) => {
            let field = format!("{at}.namespace");
            if parameter.as_ref().is_some_and(|p| !p.namespaced) {
                r.error(
                    &ns.referenced,
                    &field,
                    format!(
                        "`{}` is cluster-scoped; `namespace` does not apply",
                        name.value
                    ),
                );
            }
            if ns.value == "*" {
                InputNamespace::All
            } else {
                if let Err(why) = template_ok(&ns.value) {
                    r.error(&ns.referenced, &field, why);
                }
                InputNamespace::Template(ns.value.clone())
            }
        }
    };
    let label_selector = checked_opt(
        r,
        &m.label_selector,
        &format!("{at}.labelSelector"),
        template_ok,
    );
    let field_selector = checked_opt(
        r,
        &m.field_selector,
        &format!("{at}.fieldSelector"),
        template_ok,
    );
    if let Some(vars) = &m.vars {
        r.error(
            &vars.referenced,
            &format!("{at}.vars"),
            "`vars` applies to metrics and traces inputs only",
        );
    }
    Input::Resource {
        parameter: name.value.clone(),
        key: key.value.clone(),
        namespace,
        label_selector,
        field_selector,
    }
}

/// `vars` of a metrics or traces input, each checked.
fn input_vars(r: &mut Report, m: &InputMap, at: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    if let Some(given) = &m.vars {
        for (name, value) in &given.value.0 {
            let field = format!("{at}.vars.{}", name.value);
            if let Err(why) = names::identifier(&name.value) {
                r.error(&name.referenced, &field, why);
            }
            if let Err(why) = template_ok(&value.value) {
                r.error(&value.referenced, &field, why);
            }
            vars.insert(name.value.clone(), value.value.clone());
        }
    }
    vars
}

/// Report fields of a resource input set on a metrics or traces input.
fn resource_fields_unset(r: &mut Report, m: &InputMap, at: &str) {
    for (field, value) in [
        ("as", &m.key),
        ("namespace", &m.namespace),
        ("labelSelector", &m.label_selector),
        ("fieldSelector", &m.field_selector),
    ] {
        if let Some(v) = value {
            r.error(
                &v.referenced,
                &format!("{at}.{field}"),
                format!("`{field}` applies to resource inputs only"),
            );
        }
    }
}

fn traces_input(
    r: &mut Report,
    m: &InputMap,
    queries: &S<Vec<S<String>>>,
    at: &str,
    declared: &Declared<'_>,
    keys: &mut Seen<'_>,
) -> Input {
    resource_fields_unset(r, m, at);
    let vars = input_vars(r, m, at);
    if queries.value.is_empty() {
        r.error(
            &queries.referenced,
            &format!("{at}.traces"),
            "list at least one trace query",
        );
    }
    for (k, q) in queries.value.iter().enumerate() {
        let field = format!("{at}.traces[{k}]");
        if declared.trace(&q.value).is_none() {
            r.error(&q.referenced, &field, declared.unknown_trace(&q.value));
        } else {
            unbound_trace_vars(r, declared, &q.value, &vars, &q.referenced, &field);
        }
        keys.check(r, q, &field);
    }
    Input::Traces {
        queries: queries.value.iter().map(|q| q.value.clone()).collect(),
        vars,
    }
}

/// Report placeholders of trace query `name` that neither `vars` nor the object can fill.
fn unbound_trace_vars(
    r: &mut Report,
    declared: &Declared<'_>,
    name: &str,
    vars: &BTreeMap<String, String>,
    at: &Location,
    field: &str,
) {
    let Some(query) = declared.trace(name) else {
        return;
    };
    let mut reported: Vec<&str> = Vec::new();
    for (_, text) in query.templates() {
        // A malformed template was reported where the query is declared.
        let Ok(used) = template::variables(text) else {
            continue;
        };
        for var in used {
            if vars.contains_key(var) || template::refers_to_object(var) || reported.contains(&var)
            {
                continue;
            }
            reported.push(var);
            r.error(
                at,
                field,
                format!(
                    "trace query `{name}` uses `{{{{ {var} }}}}`, which nothing binds; add \
                     `{var}` under this input's `vars`"
                ),
            );
        }
    }
}

fn metrics_input(
    r: &mut Report,
    m: &InputMap,
    queries: &S<Vec<S<String>>>,
    at: &str,
    declared: &Declared<'_>,
    keys: &mut Seen<'_>,
) -> Input {
    resource_fields_unset(r, m, at);
    let vars = input_vars(r, m, at);
    if queries.value.is_empty() {
        r.error(
            &queries.referenced,
            &format!("{at}.metrics"),
            "list at least one query",
        );
    }
    for (k, q) in queries.value.iter().enumerate() {
        let field = format!("{at}.metrics[{k}]");
        if declared.query(&q.value).is_none() {
            r.error(&q.referenced, &field, declared.unknown_query(&q.value));
        } else {
            unbound_vars(r, declared, &q.value, &vars, &q.referenced, &field);
        }
        keys.check(r, q, &field);
    }
    Input::Metrics {
        queries: queries.value.iter().map(|q| q.value.clone()).collect(),
        vars,
    }
}

/// Report placeholders of query `name` that neither `vars` nor the object can fill.
fn unbound_vars(
    r: &mut Report,
    declared: &Declared<'_>,
    name: &str,
    vars: &BTreeMap<String, String>,
    at: &Location,
    field: &str,
) {
    let Some(query) = declared.query(name) else {
        return;
    };
    // A malformed template was reported where the query is declared.
    let Ok(used) = template::variables(&query.query) else {
        return;
    };
    let mut reported: Vec<&str> = Vec::new();
    for var in used {
        if vars.contains_key(var) || template::refers_to_object(var) || reported.contains(&var) {
            continue;
        }
        reported.push(var);
        r.error(
            at,
            field,
            format!(
                "query `{name}` uses `{{{{ {var} }}}}`, which nothing binds; add `{var}` under \
                 this input's `vars`"
            ),
        );
    }
}

fn workers(
    r: &mut Report,
    list: &Option<S<Vec<S<WorkerFile>>>>,
    operator_name: &str,
    phases: &[Phase],
) -> Vec<Worker> {
    let serving: Vec<String> = phases
        .iter()
        .filter(|p| !p.is_final)
        .map(|p| p.name.clone())
        .collect();
    let Some(list) = list else {
        return vec![Worker {
            name: operator_name.to_owned(),
            language: Language::Rust,
            mode: WorkerMode::Sidecar,
            replicas: 1,
            phases: serving,
        }];
    };
    let mut seen = Seen::new("worker");
    let mut out = Vec::new();
    // phase → the worker that serves it first.
    let mut served_by: HashMap<&str, String> = HashMap::new();
    for (i, item) in list.value.iter().enumerate() {
        let at = |field: &str| format!("workers[{i}].{field}");
        let w = &item.value;
        let name = checked(r, &w.name, &item.referenced, &at("name"), names::dns_label);
        if let Some(n) = &w.name {
            seen.check(r, n, &at("name"));
        }
        let mode = w.mode.unwrap_or(WorkerMode::Sidecar);
        let replicas = match &w.replicas {
            None => 1,
            Some(n) => {
                if mode != WorkerMode::Deployment {
                    r.error(
                        &n.referenced,
                        &at("replicas"),
                        "`replicas` applies to mode deployment only",
                    );
                } else if n.value == 0 {
                    r.error(&n.referenced, &at("replicas"), "must be at least 1");
                }
                n.value
            }
        };
        let worker_phases: Vec<(String, Location, String)> = match &w.phases {
            None => serving
                .iter()
                .map(|p| (p.clone(), item.referenced, at("phases")))
                .collect(),
            Some(list) => {
                if list.value.is_empty() {
                    r.error(
                        &list.referenced,
                        &at("phases"),
                        "a worker must serve at least one phase",
                    );
                }
                list.value
                    .iter()
                    .enumerate()
                    .map(|(j, p)| (p.value.clone(), p.referenced, at(&format!("phases[{j}]"))))
                    .collect()
            }
        };
        for (phase, location, field) in &worker_phases {
            match phases.iter().find(|p| &p.name == phase) {
                None => {
                    let known: Vec<&str> = serving.iter().map(String::as_str).collect();
                    r.error(location, field, names::unknown("phase", phase, &known));
                }
                Some(p) if p.is_final => r.error(
                    location,
                    field,
                    format!("phase `{phase}` is final: no worker is called for it"),
                ),
                Some(p) => match served_by.get(p.name.as_str()) {
                    Some(other) if *other == name => {
                        r.error(location, field, format!("phase `{phase}` is listed twice"))
                    }
                    Some(other) => r.error(
                        location,
                        field,
                        format!("phase `{phase}` is served by both `{other}` and `{name}`"),
                    ),
                    None => {
                        served_by.insert(&p.name, name.clone());
                    }
                },
            }
        }
        out.push(Worker {
            name,
            language: w.language.unwrap_or(Language::Rust),
            mode,
            replicas: if mode == WorkerMode::Sidecar {
                1
            } else {
                replicas
            },
            phases: worker_phases.into_iter().map(|(p, _, _)| p).collect(),
        });
    }
    for phase in &serving {
        if !served_by.contains_key(phase.as_str()) {
            r.error(
                &list.referenced,
                "workers",
                format!("phase `{phase}` is not served by any worker"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
