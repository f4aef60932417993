//! The `events:` list of `autopilot.yaml` as written, and the checks that turn it into
//! [`EventSource`]s.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::{Report, SpannedMap, position, required};
use crate::event::{EventMatch, EventSource, Route, SourceKind};
use crate::{names, template};

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EventFile {
    name: Option<S<String>>,
    source: Option<S<SourceKind>>,
    #[serde(rename = "match")]
    matches: Option<S<MatchFile>>,
    route: Option<S<RouteFile>>,
    id: Option<S<String>>,
    schema: Option<S<Value>>,
}

/// Patterns as written: one string or a list of strings.
#[derive(Debug)]
struct Patterns(Vec<String>);

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PatternsVisitor;
        impl<'de> serde::de::Visitor<'de> for PatternsVisitor {
            type Value = Patterns;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a pattern or a list of patterns")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Patterns, E> {
                Ok(Patterns(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Patterns, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element::<String>()? {
                    out.push(p);
                }
                Ok(Patterns(out))
            }
        }
        deserializer.deserialize_any(PatternsVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MatchFile {
    #[serde(rename = "type")]
    type_: Option<S<Patterns>>,
    source: Option<S<Patterns>>,
    subject: Option<S<Patterns>>,
    events: Option<S<Patterns>>,
    fields: Option<S<SpannedMap<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RouteFile {
    name: Option<S<String>>,
    namespace: Option<S<String>>,
    label_selector: Option<S<String>>,
    all: Option<S<bool>>,
}

/// Check the declared event sources. `taken` holds the names of parameters and queries, which
/// share the phases' `inputs` with event sources.
pub(crate) fn events(r: &mut Report, items: &[S<EventFile>], taken: &[&str]) -> Vec<EventSource> {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("events[{i}].{field}");
        let e = &item.value;
        let name = match required(r, &e.name, &item.referenced, &at("name")) {
            Some(n) => {
                if let Err(why) = names::kebab(&n.value) {
                    r.error(&n.referenced, &at("name"), why);
                } else if taken.contains(&n.value.as_str()) || n.value == crate::catalog::METRICS {
                    r.error(
                        &n.referenced,
                        &at("name"),
                        format!(
                            "`{}` is already a parameter or query; phases list event sources \
                             among their inputs, so pick another name",
                            n.value
                        ),
                    );
                }
                let (line, _) = position(&n.referenced);
                if let Some(line) = first.get(&n.value) {
                    r.error(
                        &n.referenced,
                        &at("name"),
                        format!(
                            "duplicate event source `{}` (first declared on line {line})",
                            n.value
                        ),
                    );
                } else {
                    first.insert(n.value.clone(), line);
                }
                n.value.clone()
            }
            None => String::new(),
        };
        let kind = required(r, &e.source, &item.referenced, &at("source")).map(|s| s.value);
        let matches = match (&e.matches, kind) {
            (Some(m), Some(kind)) => match_of(r, &m.value, kind, &at("match")),
            _ => EventMatch::default(),
        };
        let route = required(r, &e.route, &item.referenced, &at("route"))
            .map(|route| route_of(r, route, &at("route")))
            .unwrap_or(Route::All);
        if let Some(id) = &e.id {
            if kind != Some(SourceKind::Webhook) {
                r.error(
                    &id.referenced,
                    &at("id"),
                    "`id` applies to webhook sources only: CloudEvents carry an `id` and GitHub \
                     an `X-GitHub-Delivery` header",
                );
            }
            event_template(r, id, &at("id"));
        }
        if let Some(schema) = &e.schema
            && !schema.value.is_object()
        {
            r.error(
                &schema.referenced,
                &at("schema"),
                "must be an OpenAPI v3 schema of the event's data (a mapping such as `type: \
                 object`)",
            );
        }
        out.push(EventSource {
            name,
            kind: kind.unwrap_or(SourceKind::Cloudevents),
            matches,
            route,
            id: e.id.as_ref().map(|i| i.value.clone()),
            schema: e.schema.as_ref().map(|s| s.value.clone()),
        });
    }
    out
}

fn match_of(r: &mut Report, m: &MatchFile, kind: SourceKind, at: &str) -> EventMatch {
    let fields = [
        ("type", &m.type_, SourceKind::Cloudevents),
        ("source", &m.source, SourceKind::Cloudevents),
        ("subject", &m.subject, SourceKind::Cloudevents),
        ("events", &m.events, SourceKind::Github),
    ];
    let mut lists: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (field, value, owner) in fields {
        let Some(value) = value else { continue };
        let path = format!("{at}.{field}");
        if owner != kind {
            r.error(
                &value.referenced,
                &path,
                format!("`{field}` applies to {owner} sources only"),
            );
            continue;
        }
        let items = &value.value.0;
        if items.is_empty() {
            r.error(
                &value.referenced,
                &path,
                "list at least one pattern, or leave the field out to match every event",
            );
        }
        for p in items {
            if p.is_empty() {
                r.error(&value.referenced, &path, "a pattern cannot be empty");
            }
            if field == "events"
                && !p.split('.').all(|w| {
                    !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '*')
                })
            {
                r.error(
                    &value.referenced,
                    &path,
                    format!(
                        "`{p}` is not a GitHub event: write `event` or `event.action` in \
                         lowercase, e.g. `pull_request.closed`, `workflow_run.completed`, `push`"
                    ),
                );
            }
        }
        lists.insert(field, items.clone());
    }
    let mut fields_map = BTreeMap::new();
    if let Some(f) = &m.fields {
        let path = format!("{at}.fields");
        if kind != SourceKind::Webhook {
            r.error(
                &f.referenced,
                &path,
                "`fields` applies to webhook sources only",
            );
        }
        for (key, pattern) in &f.value.0 {
            let field = format!("{path}.{}", key.value);
            let probe = format!("{{{{ data.{} }}}}", key.value);
            if let Err(why) = template::validate_template(&probe) {
                r.error(
                    &key.referenced,
                    &field,
                    format!("`{}` is not a path into the JSON body: {why}", key.value),
                );
            }
            fields_map.insert(key.value.clone(), pattern.value.clone());
        }
    }
    let mut take = |k: &str| lists.remove(k).unwrap_or_default();
    EventMatch {
        types: take("type"),
        sources: take("source"),
        subjects: take("subject"),
        events: take("events"),
        fields: fields_map,
    }
}

fn route_of(r: &mut Report, route: &S<RouteFile>, at: &str) -> Route {
    let f = &route.value;
    let all = f.all.as_ref().filter(|a| a.value);
    let given = [f.name.is_some(), f.label_selector.is_some(), all.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        r.error(
            &route.referenced,
            at,
            "give exactly one of `name` (with an optional `namespace`), `labelSelector` (with an \
             optional `namespace`) or `all: true`",
        );
        return Route::All;
    }
    for (field, value) in [
        ("name", &f.name),
        ("namespace", &f.namespace),
        ("labelSelector", &f.label_selector),
    ] {
        if let Some(v) = value {
            event_template(r, v, &format!("{at}.{field}"));
        }
    }
    if let Some(ns) = &f.namespace
        && all.is_some()
    {
        r.error(
            &ns.referenced,
            &format!("{at}.namespace"),
            "`all: true` routes to every resource; `namespace` does not apply",
        );
    }
    let namespace = f.namespace.as_ref().map(|n| n.value.clone());
    if let Some(name) = &f.name {
        Route::Name {
            name: name.value.clone(),
            namespace,
        }
    } else if let Some(selector) = &f.label_selector {
        Route::LabelSelector {
            label_selector: selector.value.clone(),
            namespace,
        }
    } else {
        Route::All
    }
}

/// A template that must render against an event: well formed, and every placeholder one of
/// the event's roots.
fn event_template(r: &mut Report, value: &S<String>, field: &str) {
    match template::variables(&value.value) {
        Err(why) => r.error(&value.referenced, field, format!("invalid template: {why}")),
        Ok(vars) => {
            for var in vars {
                if !template::refers_to_event(var) {
                    r.error(
                        &value.referenced,
                        field,
                        format!(
                            "`{{{{ {var} }}}}` does not refer to the event; use one of {}",
                            template::EVENT_ROOTS
                                .iter()
                                .map(|r| format!("`{r}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{Route, SourceKind};
    use crate::parse::table::{Case, check};
    use crate::{Model, parse_operator, parse_project};

    /// A valid head and two phases; cases add `events:` and refer to them from `A`'s inputs.
    macro_rules! project {
        ($events:expr, $inputs:expr) => {
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\nspec: {type: object}\n",
                $events,
                "phases:\n  - name: A\n    initial: true\n    inputs: ",
                $inputs,
                "\n  - {name: Done, final: true}\n"
            )
        };
    }

    #[test]
    fn declarations_parse() {
        let p = parse_project(
            "autopilot.yaml",
            project!(
                concat!(
                    "events:\n",
                    "  - name: loadtest\n    source: cloudevents\n",
                    "    match: {type: [com.example.*], subject: web}\n",
                    "    route: {name: '{{ subject }}', namespace: '{{ data.ns }}'}\n",
                    "  - name: merged\n    source: github\n",
                    "    match: {events: pull_request.closed}\n",
                    "    route: {labelSelector: 'repo={{ data.repository.name }}'}\n",
                    "  - name: approval\n    source: webhook\n    id: '{{ data.request }}'\n",
                    "    match: {fields: {decision: approve}}\n    route: {all: true}\n",
                    "    schema: {type: object}\n",
                ),
                "[configmaps, loadtest, approval]"
            ),
        )
        .unwrap();
        assert_eq!(p.events.len(), 3);
        assert_eq!(p.events[0].matches.types, ["com.example.*"]);
        assert_eq!(p.events[0].matches.subjects, ["web"]);
        assert_eq!(p.events[1].kind, SourceKind::Github);
        assert_eq!(p.events[1].matches.events, ["pull_request.closed"]);
        assert_eq!(p.events[2].route, Route::All);
        assert_eq!(p.events[2].id.as_deref(), Some("{{ data.request }}"));
        let a = p.phase("A").unwrap();
        assert_eq!(a.events, ["loadtest", "approval"]);
        assert_eq!(a.inputs.len(), 1);
    }

    #[test]
    fn rules() {
        let cases: &[Case] = &[
            (
                "name not kebab-case",
                project!(
                    "events:\n  - {name: Load_Test, source: cloudevents, route: {all: true}}\n",
                    "[]"
                ),
                "6:12",
                "not kebab-case",
            ),
            (
                "name taken by a parameter",
                project!(
                    "events:\n  - {name: pods, source: cloudevents, route: {all: true}}\n",
                    "[]"
                ),
                "6:12",
                "already a parameter or query",
            ),
            (
                "duplicate name",
                project!(
                    concat!(
                        "events:\n  - {name: e, source: cloudevents, route: {all: true}}\n",
                        "  - {name: e, source: github, route: {all: true}}\n"
                    ),
                    "[]"
                ),
                "7:12",
                "duplicate event source `e` (first declared on line 6)",
            ),
            (
                "unknown source kind",
                project!(
                    "events:\n  - {name: e, source: kafka, route: {all: true}}\n",
                    "[]"
                ),
                "6:23",
                "kafka",
            ),
            (
                "missing route",
                project!("events:\n  - {name: e, source: cloudevents}\n", "[]"),
                "6:5",
                "events[0].route: missing required field",
            ),
            (
                "two routes",
                project!(
                    "events:\n  - {name: e, source: cloudevents, route: {all: true, name: x}}\n",
                    "[]"
                ),
                "6:43",
                "give exactly one of `name`",
            ),
            (
                "github match on a cloudevents source",
                project!(
                    "events:\n  - {name: e, source: cloudevents, match: {events: push}, route: {all: true}}\n",
                    "[]"
                ),
                "6:52",
                "`events` applies to github sources only",
            ),
            (
                "not a GitHub event",
                project!(
                    "events:\n  - {name: e, source: github, match: {events: [PullRequest]}, route: {all: true}}\n",
                    "[]"
                ),
                "6:47",
                "`PullRequest` is not a GitHub event",
            ),
            (
                "fields on a github source",
                project!(
                    "events:\n  - {name: e, source: github, match: {fields: {a: b}}, route: {all: true}}\n",
                    "[]"
                ),
                "6:47",
                "`fields` applies to webhook sources only",
            ),
            (
                "route template refers to the resource",
                project!(
                    "events:\n  - {name: e, source: cloudevents, route: {name: '{{ spec.x }}'}}\n",
                    "[]"
                ),
                "6:50",
                "`{{ spec.x }}` does not refer to the event",
            ),
            (
                "malformed route template",
                project!(
                    "events:\n  - {name: e, source: cloudevents, route: {labelSelector: 'a={{ data.x'}}\n",
                    "[]"
                ),
                "6:59",
                "invalid template",
            ),
            (
                "id on a cloudevents source",
                project!(
                    "events:\n  - {name: e, source: cloudevents, id: '{{ id }}', route: {all: true}}\n",
                    "[]"
                ),
                "6:40",
                "`id` applies to webhook sources only",
            ),
            (
                "unknown input with events declared",
                project!(
                    "events:\n  - {name: approval, source: webhook, route: {all: true}}\n",
                    "[aproval]"
                ),
                "10:14",
                "unknown parameter or event source `aproval`; did you mean `approval`?",
            ),
            (
                "event listed twice",
                project!(
                    "events:\n  - {name: e, source: webhook, route: {all: true}}\n",
                    "[e, e]"
                ),
                "10:17",
                "duplicate input key `e`",
            ),
        ];
        check(cases, |text| parse_project("autopilot.yaml", text));
    }

    #[test]
    fn receiver_settings() {
        let project = parse_project(
            "autopilot.yaml",
            project!(
                concat!(
                    "events:\n  - {name: ci, source: cloudevents, route: {all: true}}\n",
                    "  - {name: approval, source: webhook, route: {all: true}}\n",
                ),
                "[ci, approval]"
            ),
        )
        .unwrap();
        let model = |text: &str| {
            let operator = parse_operator("autopilot-operator.yaml", text)?;
            let model = Model {
                project: project.clone(),
                operator,
            };
            model.validate()?;
            Ok::<_, crate::Diagnostics>(model)
        };
        let m = model(concat!(
            "receiver:\n  addr: 127.0.0.1:9093\n  maxBodyBytes: 1024\n",
            "  retention: {maxPerResource: 5, maxAge: 1h}\n",
            "  cloudevents: {tokenFile: /s/token}\n",
            "  webhooks:\n    approval: {secretFile: /s/approval, signatureHeader: X-Signature}\n",
        ))
        .unwrap();
        let r = &m.operator.receiver;
        assert_eq!(r.addr.unwrap().port(), 9093);
        assert_eq!((r.max_body_bytes, r.max_per_resource), (1024, 5));
        assert_eq!(r.max_age, std::time::Duration::from_secs(3600));
        assert!(model("").unwrap().operator.receiver.addr.is_none());
        let cases: &[Case] = &[
            (
                "receiver on without the CloudEvents token",
                "receiver:\n  addr: 127.0.0.1:9093\n  webhooks:\n    approval: {secretFile: /a, header: X-Token}\n",
                "2:9",
                "cloudevents source `ci` has no secret",
            ),
            (
                "receiver on without a webhook secret",
                "receiver:\n  addr: 127.0.0.1:9093\n  cloudevents: {tokenFile: /t}\n",
                "2:9",
                "add `receiver.webhooks.approval`",
            ),
            (
                "webhook entry for an undeclared source",
                "receiver:\n  webhooks:\n    aproval: {secretFile: /a, header: X-Token}\n",
                "3:5",
                "unknown webhook source `aproval`; did you mean `approval`?",
            ),
            (
                "webhook entry for a cloudevents source",
                "receiver:\n  webhooks:\n    ci: {secretFile: /a, header: X-Token}\n",
                "3:5",
                "`ci` is a cloudevents source, not a webhook",
            ),
            (
                "webhook with both header kinds",
                "receiver:\n  webhooks:\n    approval: {secretFile: /a, header: A, signatureHeader: B}\n",
                "3:15",
                "give exactly one of `header`",
            ),
            (
                "bad address",
                "receiver:\n  addr: everywhere\n",
                "2:9",
                "not an IP:port address",
            ),
            (
                "zero retention",
                "receiver:\n  retention: {maxPerResource: 0}\n",
                "2:31",
                "must be at least 1",
            ),
            (
                "bad age",
                "receiver:\n  retention: {maxAge: soon}\n",
                "2:23",
                "soon",
            ),
        ];
        check(cases, model);
    }
}
