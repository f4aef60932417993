//! External event sources declared under `events:` in `autopilot.yaml`, and the pure rules that
//! decide whether an event matches one and which resources it is for.
//!
//! An [`EventSource`] names a kind of outside happening (a CloudEvent of some type, a GitHub
//! `pull_request.closed`, a call to a generic webhook), how to recognise it ([`EventMatch`]) and
//! how to find the custom resources it concerns ([`Route`]). Phases list source names among their
//! `inputs`; the worker then receives that source's pending events under its name.
//!
//! ```
//! let project = autopilot_model::parse_project(
//!     "autopilot.yaml",
//!     r#"
//! apiVersion: canary.example.com/v1
//! kind: Canary
//! operatorName: canary-operator
//! spec: {type: object}
//! events:
//!   - name: load-test-finished
//!     source: cloudevents
//!     match: {type: com.example.loadtest.finished}
//!     route: {name: "{{ subject }}", namespace: "{{ data.namespace }}"}
//! phases:
//!   - name: Evaluating
//!     initial: true
//!     inputs: [load-test-finished]
//!   - name: Done
//!     final: true
//! "#,
//! )
//! .unwrap();
//! let source = project.event("load-test-finished").unwrap();
//! let event = autopilot_model::event::Attributes {
//!     type_: "com.example.loadtest.finished".into(),
//!     ..Default::default()
//! };
//! assert!(source.matches(&event, &serde_json::Value::Null));
//! assert_eq!(project.phase("Evaluating").unwrap().events, ["load-test-finished"]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::names;
use crate::template::{self, Escape, Scope, TemplateError};

/// One declared event source.
///
/// # Guarantees (after parsing)
///
/// The name is kebab-case and unique among event sources, parameters and queries; the match
/// uses only the fields of its source kind; every template is well formed and refers only to
/// the event ([`template::EVENT_ROOTS`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    /// kebab-case name; phases list it in `inputs` and workers receive events under it.
    pub name: String,
    /// Where events come from (the file's `source`).
    pub kind: SourceKind,
    /// Which events of that source this declaration takes.
    #[serde(rename = "match")]
    pub matches: EventMatch,
    /// Which resources an accepted event is delivered to.
    pub route: Route,
    /// For a webhook: a template over the event giving its delivery id (for deduplication);
    /// `None` uses the SHA-256 of the body, so the same payload sent twice counts once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// OpenAPI v3 schema of the event's `data`; generators type the payload with it. `None`
    /// hands workers raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

/// The protocol an event source speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// CloudEvents 1.0 over HTTP (binary, structured or batch content mode).
    Cloudevents,
    /// GitHub webhooks, signed with `X-Hub-Signature-256`.
    Github,
    /// Any JSON webhook, authenticated by a shared-secret header or an HMAC signature.
    Webhook,
}

impl SourceKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [Self; 3] = [Self::Cloudevents, Self::Github, Self::Webhook];

    /// The name used in the files (`cloudevents`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cloudevents => "cloudevents",
            Self::Github => "github",
            Self::Webhook => "webhook",
        }
    }
}

impl FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        names::variant(s, "event source", &Self::ALL, Self::as_str)
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a source recognises its events. Patterns are exact strings in which `*` matches any run
/// of characters (`com.example.*`); an empty list or map matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMatch {
    /// CloudEvents: patterns for the `type` attribute; one must match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// CloudEvents: patterns for the `source` attribute; one must match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// CloudEvents: patterns for the `subject` attribute; one must match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// GitHub: `event` (any action) or `event.action`, e.g. `pull_request.closed`,
    /// `workflow_run.completed`, `push`; one must match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Webhook: dotted paths into the JSON body (`pipeline.status`), each with the pattern its
    /// value must match; all must match.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// How an accepted event finds the resources it concerns. Templates render against the event
/// (see [`Scope::event`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "by")]
pub enum Route {
    /// The one resource with this name.
    #[serde(rename_all = "camelCase")]
    Name {
        /// Template for the resource's name, e.g. `{{ subject }}`.
        name: String,
        /// Template for its namespace; `None` looks in every watched namespace.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// Every resource whose labels match.
    #[serde(rename_all = "camelCase")]
    LabelSelector {
        /// Label selector template, e.g. `app={{ data.repository.name }}`.
        label_selector: String,
        /// Template for the namespace to look in; `None` looks in every watched namespace.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// Every resource of the operator's kind.
    All,
}

/// Where a route looks, rendered for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One resource by name (and namespace, when the route gives one).
    Name {
        /// The resource's name.
        name: String,
        /// Its namespace, `None` for every watched namespace.
        namespace: Option<String>,
    },
    /// Resources matching a label selector.
    Selector {
        /// A Kubernetes label selector.
        selector: String,
        /// The namespace, `None` for every watched namespace.
        namespace: Option<String>,
    },
    /// Every resource.
    All,
}

/// The attributes of an event that matching looks at (CloudEvents names; GitHub and webhook
/// deliveries are mapped onto them by the receiver).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `id`.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `type`; for GitHub `event.action` or `event` when the payload has no action.
    pub type_: String,
    /// `subject`, empty when absent.
    pub subject: String,
}

impl EventSource {
    /// Whether this source takes an event with `attributes` and JSON payload `data`
    /// (`Value::Null` when the payload is not JSON).
    pub fn matches(&self, attributes: &Attributes, data: &Value) -> bool {
        let m = &self.matches;
        let any = |patterns: &[String], value: &str| {
            patterns.is_empty() || patterns.iter().any(|p| glob(p, value))
        };
        match self.kind {
            SourceKind::Cloudevents => {
                any(&m.types, &attributes.type_)
                    && any(&m.sources, &attributes.source)
                    && any(&m.subjects, &attributes.subject)
            }
            SourceKind::Github => {
                m.events.is_empty()
                    || m.events.iter().any(|e| {
                        glob(e, &attributes.type_)
                            || (!e.contains('.')
                                && attributes
                                    .type_
                                    .split_once('.')
                                    .is_some_and(|(event, _)| glob(e, event)))
                    })
            }
            SourceKind::Webhook => m.fields.iter().all(|(path, pattern)| {
                let event = serde_json::json!({ "data": data });
                let scope = Scope::event(&event);
                let wanted = format!("{{{{ data.{path} }}}}");
                template::render(&wanted, &scope, Escape::None).is_ok_and(|v| glob(pattern, &v))
            }),
        }
    }

    /// Where the event `event` (as JSON with the roots of [`template::EVENT_ROOTS`]) is
    /// delivered.
    ///
    /// # Errors
    ///
    /// The first template that does not render against the event (a missing field, say): the
    /// event cannot be routed and is refused with that reason.
    pub fn target(&self, event: &Value) -> Result<Target, TemplateError> {
        let scope = Scope::event(event);
        let render = |t: &str| template::render(t, &scope, Escape::None);
        let namespace = |ns: &Option<String>| ns.as_deref().map(render).transpose();
        Ok(match &self.route {
            Route::Name {
                name,
                namespace: ns,
            } => Target::Name {
                name: render(name)?,
                namespace: namespace(ns)?,
            },
            Route::LabelSelector {
                label_selector,
                namespace: ns,
            } => Target::Selector {
                selector: render(label_selector)?,
                namespace: namespace(ns)?,
            },
            Route::All => Target::All,
        })
    }
}

/// Whether `value` matches `pattern`, where `*` matches any run of characters (also none) and
/// every other character itself.
pub fn glob(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        let cases = [
            ("a.b", "a.b", true),
            ("a.b", "a.bc", false),
            ("a.*", "a.b.c", true),
            ("a.*", "b.a", false),
            ("*", "", true),
            ("*.closed", "pull_request.closed", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*a", "a", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, value, want) in cases {
            assert_eq!(glob(pattern, value), want, "{pattern:?} ~ {value:?}");
        }
    }

    fn source(kind: SourceKind, matches: EventMatch) -> EventSource {
        EventSource {
            name: "e".into(),
            kind,
            matches,
            route: Route::All,
            id: None,
            schema: None,
        }
    }

    fn attrs(type_: &str, source: &str, subject: &str) -> Attributes {
        Attributes {
            id: "1".into(),
            source: source.into(),
            type_: type_.into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn matching() {
        let ce = source(
            SourceKind::Cloudevents,
            EventMatch {
                types: vec!["com.example.*".into()],
                sources: vec!["ci".into(), "cd".into()],
                ..Default::default()
            },
        );
        let gh = source(
            SourceKind::Github,
            EventMatch {
                events: vec!["pull_request.closed".into(), "push".into()],
                ..Default::default()
            },
        );
        let hook = source(
            SourceKind::Webhook,
            EventMatch {
                fields: [("decision".to_owned(), "approve*".to_owned())].into(),
                ..Default::default()
            },
        );
        let none = Value::Null;
        let cases: &[(&EventSource, Attributes, Value, bool)] = &[
            (&ce, attrs("com.example.done", "ci", ""), none.clone(), true),
            (
                &ce,
                attrs("com.example.done", "qa", ""),
                none.clone(),
                false,
            ),
            (
                &ce,
                attrs("org.example.done", "ci", ""),
                none.clone(),
                false,
            ),
            (
                &gh,
                attrs("pull_request.closed", "", ""),
                none.clone(),
                true,
            ),
            (
                &gh,
                attrs("pull_request.opened", "", ""),
                none.clone(),
                false,
            ),
            (&gh, attrs("push", "", ""), none.clone(), true),
            (&gh, attrs("push.created", "", ""), none.clone(), true),
            (
                &hook,
                attrs("", "", ""),
                json!({"decision": "approved"}),
                true,
            ),
            (
                &hook,
                attrs("", "", ""),
                json!({"decision": "reject"}),
                false,
            ),
            (&hook, attrs("", "", ""), json!({}), false),
        ];
        for (i, (source, attributes, data, want)) in cases.iter().enumerate() {
            assert_eq!(source.matches(attributes, data), *want, "case {i}");
        }
    }

    #[test]
    fn targets() {
        let event = json!({"subject": "web", "data": {"ns": "prod", "repo": "shop"}});
        let mut s = source(SourceKind::Cloudevents, EventMatch::default());
        s.route = Route::Name {
            name: "{{ subject }}".into(),
            namespace: Some("{{ data.ns }}".into()),
        };
        assert_eq!(
            s.target(&event).unwrap(),
            Target::Name {
                name: "web".into(),
                namespace: Some("prod".into())
            }
        );
        s.route = Route::LabelSelector {
            label_selector: "repo={{ data.repo }}".into(),
            namespace: None,
        };
        assert_eq!(
            s.target(&event).unwrap(),
            Target::Selector {
                selector: "repo=shop".into(),
                namespace: None
            }
        );
        s.route = Route::Name {
            name: "{{ data.missing }}".into(),
            namespace: None,
        };
        assert_eq!(
            s.target(&event).unwrap_err().to_string(),
            "`data.missing` is not set on the object"
        );
    }
}
