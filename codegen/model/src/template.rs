//! A tiny renderer for `{{ path }}` placeholders in queries, selectors and namespaces.
//!
//! A placeholder names one value:
//!
//! - a var bound by the caller (for a metrics input, its `vars`), looked up first by the whole
//!   path, so a var may shadow the names below;
//! - `name` and `namespace`: the object's `metadata.name` and `metadata.namespace`;
//! - `spec.…`, `metadata.…`, `status.…`: a path into the object. Segments are separated by
//!   dots; a key that itself contains dots (`metadata.labels.app.kubernetes.io/name`) is found
//!   by trying the longest run of segments first. A numeric segment indexes an array.
//!
//! The value must be a string, number or boolean. There are no filters, conditionals or loops:
//! anything richer belongs in the worker.
//!
//! ```
//! use autopilot_model::template::{render, Escape, Scope};
//! let object = serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "prod"},
//!     "spec": {"interval": "1m"},
//! });
//! let scope = Scope::new(&object).with_var("workload", "web-canary");
//! let q = render(
//!     r#"up{ns="{{ namespace }}",w="{{ workload }}"}[{{ spec.interval }}]"#,
//!     &scope,
//!     Escape::PromQlString,
//! )
//! .unwrap();
//! assert_eq!(q, r#"up{ns="prod",w="web-canary"}[1m]"#);
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

/// Roots of paths into the object.
const OBJECT_ROOTS: [&str; 3] = ["spec", "metadata", "status"];

/// Roots of paths into an external event (see [`Scope::event`]).
pub const EVENT_ROOTS: [&str; 7] = [
    "id",
    "source",
    "type",
    "subject",
    "time",
    "data",
    "extensions",
];

/// Why a template could not be rendered. None of these is retryable: the template, its vars or
/// the object must change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is malformed (unbalanced braces, an empty or invalid placeholder).
    #[error("invalid template: {0}")]
    Syntax(String),
    /// The placeholder is neither a var nor `name`, `namespace` or a `spec.`/`metadata.`/
    /// `status.` path.
    #[error("unknown variable `{0}`")]
    UnknownVariable(String),
    /// The path into the object leads nowhere or to null.
    #[error("`{0}` is not set on the object")]
    Unset(String),
    /// The path leads to an object or array, which has no single textual form.
    #[error("`{0}` is an object or array, not a string, number or boolean")]
    NotScalar(String),
}

/// How a rendered value is escaped before insertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// Insert values as they are (selectors, namespaces, vars).
    None,
    /// Escape `\`, `"` and newline so the value can sit inside a PromQL double-quoted string.
    PromQlString,
}

/// The values a template can refer to: an object (a custom resource as JSON) and named vars.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    object: &'a Value,
    vars: BTreeMap<String, String>,
    /// Whether `object` is an external event rather than a Kubernetes object.
    event: bool,
}

impl<'a> Scope<'a> {
    /// A scope over `object`, a Kubernetes object as JSON (`metadata`, `spec`, `status`).
    pub fn new(object: &'a Value) -> Self {
        Self {
            object,
            vars: BTreeMap::new(),
            event: false,
        }
    }

    /// A scope over an external event as JSON: its attributes `id`, `source`, `type`,
    /// `subject`, `time`, `extensions.…` and its payload `data.…` (the roots in
    /// [`EVENT_ROOTS`]). Used to route an event to the resources it concerns.
    ///
    /// ```
    /// use autopilot_model::template::{render, Escape, Scope};
    /// let event = serde_json::json!({"type": "ci.done", "data": {"app": {"name": "web"}}});
    /// let name = render("{{ data.app.name }}", &Scope::event(&event), Escape::None).unwrap();
    /// assert_eq!(name, "web");
    /// ```
    pub fn event(event: &'a Value) -> Self {
        Self {
            object: event,
            vars: BTreeMap::new(),
            event: true,
        }
    }

    /// Bind `name` to `value`; a var shadows an object path of the same name.
    #[must_use]
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Bind several vars.
    #[must_use]
    pub fn with_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.vars
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    fn lookup(&self, path: &str) -> Result<String, TemplateError> {
        if let Some(v) = self.vars.get(path) {
            return Ok(v.clone());
        }
        let segments: Vec<&str> = path.split('.').collect();
        let (start, rest): (Option<&Value>, &[&str]) = match segments.as_slice() {
            [root, rest @ ..] if self.event && EVENT_ROOTS.contains(root) => {
                (self.object.get(*root), rest)
            }
            _ if self.event => return Err(TemplateError::UnknownVariable(path.to_owned())),
            ["name"] => (self.object.pointer("/metadata/name"), &[]),
            ["namespace"] => (self.object.pointer("/metadata/namespace"), &[]),
            [root, rest @ ..] if OBJECT_ROOTS.contains(root) => (self.object.get(*root), rest),
            _ => return Err(TemplateError::UnknownVariable(path.to_owned())),
        };
        match start.and_then(|v| walk(v, rest)) {
            None | Some(Value::Null) => Err(TemplateError::Unset(path.to_owned())),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(Value::Array(_) | Value::Object(_)) => {
                Err(TemplateError::NotScalar(path.to_owned()))
            }
        }
    }
}

/// Follow `segments` from `value`, preferring the longest dotted key at each object.
fn walk<'v>(value: &'v Value, segments: &[&str]) -> Option<&'v Value> {
    if segments.is_empty() {
        return Some(value);
    }
    match value {
        Value::Object(map) => (1..=segments.len()).rev().find_map(|n| {
            let child = map.get(&segments[..n].join("."))?;
            walk(child, &segments[n..])
        }),
        Value::Array(items) => {
            let index: usize = segments[0].parse().ok()?;
            walk(items.get(index)?, &segments[1..])
        }
        _ => None,
    }
}

/// A piece of a parsed template.
enum Piece<'t> {
    Text(&'t str),
    Var(&'t str),
}

fn parse(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    while offset < text.len() {
        let rest = &text[offset..];
        let open = rest.find(OPEN);
        let close = rest.find(CLOSE);
        let open = match (open, close) {
            (None, None) => {
                pieces.push(Piece::Text(rest));
                break;
            }
            (None, Some(c)) => return Err(stray_close(offset + c)),
            (Some(o), Some(c)) if c < o => return Err(stray_close(offset + c)),
            (Some(o), _) => o,
        };
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let inner_start = open + OPEN.len();
        let Some(len) = rest[inner_start..].find(CLOSE) else {
            return Err(format!(
                "`{OPEN}` at offset {} is not closed by `{CLOSE}`",
                offset + open
            ));
        };
        let inner = &rest[inner_start..inner_start + len];
        if inner.contains(OPEN) {
            return Err(format!(
                "`{OPEN}` at offset {} contains another `{OPEN}`",
                offset + open
            ));
        }
        let path = inner.trim();
        check_path(path)?;
        pieces.push(Piece::Var(path));
        offset += inner_start + len + CLOSE.len();
    }
    Ok(pieces)
}

fn stray_close(at: usize) -> String {
    format!("`{CLOSE}` at offset {at} has no matching `{OPEN}`")
}

fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(format!("empty placeholder `{OPEN} {CLOSE}`"));
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))
    };
    if path.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(format!(
            "`{path}` is not a variable path (dot-separated names of letters, digits, '_', '-', '/')"
        ))
    }
}

/// Check that `text` is a well-formed template: balanced `{{ }}` around non-empty paths.
///
/// # Errors
///
/// A sentence saying what is malformed and at which byte offset.
pub fn validate_template(text: &str) -> Result<(), String> {
    parse(text).map(drop)
}

/// The placeholders of `text`, in order of appearance (repeats included).
///
/// # Errors
///
/// As [`validate_template`].
pub fn variables(text: &str) -> Result<Vec<&str>, String> {
    Ok(parse(text)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(v) => Some(v),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Whether `path` refers to the object itself (`name`, `namespace`, `spec.…`, `metadata.…`,
/// `status.…`) rather than to a var. Used at load time to find placeholders nothing binds.
pub fn refers_to_object(path: &str) -> bool {
    let root = path.split('.').next().unwrap_or_default();
    matches!(path, "name" | "namespace") || OBJECT_ROOTS.contains(&root)
}

/// Whether `path` refers to an external event (`data.…`, `subject`, …; see
/// [`EVENT_ROOTS`]). Used at load time to check routing templates.
pub fn refers_to_event(path: &str) -> bool {
    let root = path.split('.').next().unwrap_or_default();
    EVENT_ROOTS.contains(&root)
}

/// Render `template` against `scope`, escaping each inserted value with `escape`.
///
/// # Errors
///
/// [`TemplateError::Syntax`] for a malformed template; otherwise the first placeholder that
/// names an unknown variable, an unset path or a non-scalar value.
pub fn render(template: &str, scope: &Scope<'_>, escape: Escape) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for piece in parse(template).map_err(TemplateError::Syntax)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(path) => {
                let value = scope.lookup(path)?;
                match escape {
                    Escape::None => out.push_str(&value),
                    Escape::PromQlString => escape_promql(&value, &mut out),
                }
            }
        }
    }
    Ok(out)
}

fn escape_promql(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object() -> Value {
        json!({
            "metadata": {
                "name": "web",
                "namespace": "prod",
                "labels": {"app": "web", "app.kubernetes.io/name": "web-app"},
            },
            "spec": {
                "target": "web",
                "interval": "30s",
                "weight": 10,
                "ratio": 0.5,
                "enabled": true,
                "nothing": null,
                "nested": {"a": {"b": "deep"}},
                "ports": [80, 443],
                "quote": "a\"b\\c\nd",
            },
        })
    }

    #[test]
    fn renders() {
        let obj = object();
        let scope = Scope::new(&obj).with_vars([("workload", "web-canary"), ("name", "shadow")]);
        let cases: &[(&str, Escape, &str)] = &[
            ("plain text", Escape::None, "plain text"),
            ("", Escape::None, ""),
            ("{{ namespace }}", Escape::None, "prod"),
            ("{{namespace}}-{{ spec.target }}", Escape::None, "prod-web"),
            ("{{ name }}", Escape::None, "shadow"),
            ("{{ metadata.name }}", Escape::None, "web"),
            ("{{ workload }}", Escape::None, "web-canary"),
            ("{{ spec.nested.a.b }}", Escape::None, "deep"),
            ("{{ metadata.labels.app }}", Escape::None, "web"),
            (
                "{{ metadata.labels.app.kubernetes.io/name }}",
                Escape::None,
                "web-app",
            ),
            (
                "{{ spec.weight }}/{{ spec.ratio }}/{{ spec.enabled }}",
                Escape::None,
                "10/0.5/true",
            ),
            ("{{ spec.ports.1 }}", Escape::None, "443"),
            (
                "x{a=\"{{ spec.quote }}\"}",
                Escape::PromQlString,
                "x{a=\"a\\\"b\\\\c\\nd\"}",
            ),
            ("{{ spec.quote }}", Escape::None, "a\"b\\c\nd"),
            ("[{{ spec.interval }}]", Escape::PromQlString, "[30s]"),
        ];
        for (template, escape, want) in cases {
            assert_eq!(
                render(template, &scope, *escape).as_deref(),
                Ok(*want),
                "{template}"
            );
        }
    }

    #[test]
    fn render_errors() {
        let obj = object();
        let scope = Scope::new(&obj);
        let cases: &[(&str, TemplateError)] = &[
            (
                "{{ workload }}",
                TemplateError::UnknownVariable("workload".into()),
            ),
            (
                "{{ spec.missing }}",
                TemplateError::Unset("spec.missing".into()),
            ),
            (
                "{{ spec.nothing }}",
                TemplateError::Unset("spec.nothing".into()),
            ),
            (
                "{{ status.phase }}",
                TemplateError::Unset("status.phase".into()),
            ),
            (
                "{{ spec.ports.9 }}",
                TemplateError::Unset("spec.ports.9".into()),
            ),
            (
                "{{ spec.nested }}",
                TemplateError::NotScalar("spec.nested".into()),
            ),
            ("{{ spec }}", TemplateError::NotScalar("spec".into())),
            (
                "{{ specs.a }}",
                TemplateError::UnknownVariable("specs.a".into()),
            ),
        ];
        for (template, want) in cases {
            assert_eq!(
                render(template, &scope, Escape::None).as_ref(),
                Err(want),
                "{template}"
            );
        }
        assert!(matches!(
            render("{{ a", &scope, Escape::None),
            Err(TemplateError::Syntax(_))
        ));
        assert_eq!(
            TemplateError::UnknownVariable("workload".into()).to_string(),
            "unknown variable `workload`"
        );
    }

    #[test]
    fn validates() {
        let cases: &[(&str, Option<&str>)] = &[
            ("sum(rate(x{a=\"{{ spec.target }}\"}[5m]))", None),
            ("{{a}}{{b}}", None),
            ("no placeholders {a=\"b\"}", None),
            ("{{ spec.target", Some("offset 0 is not closed")),
            ("x }} y", Some("offset 2 has no matching")),
            ("{{ a }} }}", Some("offset 8 has no matching")),
            ("{{ a {{ b }}", Some("contains another")),
            ("{{ }}", Some("empty placeholder")),
            ("{{ a b }}", Some("not a variable path")),
            ("{{ a..b }}", Some("not a variable path")),
            ("{{ .a }}", Some("not a variable path")),
        ];
        for (text, want) in cases {
            match (validate_template(text), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn lists_variables() {
        assert_eq!(
            variables("{{ a }}-{{spec.b}}-{{ a }}"),
            Ok(vec!["a", "spec.b", "a"])
        );
        for (path, object) in [
            ("name", true),
            ("namespace", true),
            ("spec.a", true),
            ("metadata.labels.x", true),
            ("status.phase", true),
            ("spec", true),
            ("specs.a", false),
            ("name.x", false),
            ("workload", false),
            ("interval", false),
        ] {
            assert_eq!(refers_to_object(path), object, "{path}");
        }
    }
}
