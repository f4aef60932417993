//! Label and field selectors evaluated against cached objects, with the API server's syntax.
//!
//! Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists) and `!k`
//! (does not exist), comma-separated (all must hold).
//!
//! Field selectors: `path=v`, `path==v`, `path!=v`, comma-separated, where `path` is a dotted
//! path into the object (`metadata.name`, `metadata.namespace`, `status.phase`, `spec.nodeName`,
//! `type`, ...). A missing field compares as the empty string. Unlike the API server, any path
//! works for any kind (the API server accepts only the fields each kind indexes), so a selector
//! the API server would refuse may still select here.
use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelTerm {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector(Vec<LabelTerm>);

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn set_of(s: &str, term: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("label selector term {term:?}: expected a (set)"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses a label selector.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in split_terms(s) {
            let t = if let Some((k, v)) = term.split_once("!=") {
                LabelTerm::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                LabelTerm::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                LabelTerm::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once(" notin ") {
                LabelTerm::NotIn(k.trim().into(), set_of(v, term)?)
            } else if let Some((k, v)) = term.split_once(" in ") {
                LabelTerm::In(k.trim().into(), set_of(v, term)?)
            } else if let Some(k) = term.strip_prefix('!') {
                LabelTerm::NotExists(k.trim().into())
            } else {
                LabelTerm::Exists(term.to_string())
            };
            let key = match &t {
                LabelTerm::Eq(k, _)
                | LabelTerm::NotEq(k, _)
                | LabelTerm::In(k, _)
                | LabelTerm::NotIn(k, _)
                | LabelTerm::Exists(k)
                | LabelTerm::NotExists(k) => k,
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(format!("label selector term {term:?}: invalid key {key:?}"));
            }
            terms.push(t);
        }
        Ok(LabelSelector(terms))
    }

    /// Whether `labels` satisfy every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|t| match t {
            LabelTerm::Eq(k, v) => labels.get(k) == Some(v),
            LabelTerm::NotEq(k, v) => labels.get(k) != Some(v),
            LabelTerm::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            LabelTerm::NotIn(k, vs) => !labels.get(k).is_some_and(|l| vs.contains(l)),
            LabelTerm::Exists(k) => labels.contains_key(k),
            LabelTerm::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses a field selector.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in split_terms(s) {
            let (path, equal, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "field selector term {term:?}: expected path=value or path!=value"
                ));
            };
            let path = path.trim();
            if path.is_empty() {
                return Err(format!("field selector term {term:?}: empty field path"));
            }
            terms.push((path.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether the object satisfies every term.
    pub fn matches(&self, obj: &DynamicObject) -> bool {
        self.0
            .iter()
            .all(|(path, equal, value)| (field(obj, path) == *value) == *equal)
    }
}

fn scalar(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The value at a dotted path of the object, as a string ("" when absent).
fn field(obj: &DynamicObject, path: &str) -> String {
    match path {
        "metadata.name" => return obj.metadata.name.clone().unwrap_or_default(),
        "metadata.namespace" => return obj.metadata.namespace.clone().unwrap_or_default(),
        _ => {}
    }
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let root = if first == "metadata" {
        serde_json::to_value(&obj.metadata).unwrap_or(Value::Null)
    } else {
        match obj.data.get(first) {
            Some(v) => v.clone(),
            None => return String::new(),
        }
    };
    let mut cur = Some(&root);
    for p in parts {
        cur = cur.and_then(|v| v.get(p));
    }
    scalar(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_follow_the_api_server_syntax() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let yes = [
            "app=web",
            "app==web",
            "app!=db",
            "app in (web, db)",
            "tier notin (back)",
            "app",
            "!missing",
            "app=web,tier=front",
            "",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&l), "{s}");
        }
        let no = [
            "app=db",
            "app!=web",
            "app in (db)",
            "app notin (web)",
            "missing",
            "!app",
        ];
        for s in no {
            assert!(!LabelSelector::parse(s).unwrap().matches(&l), "{s}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("=web").is_err());
    }

    #[test]
    fn field_selectors_read_dotted_paths() {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "status": {"phase": "Running"},
            "spec": {"replicas": 3}
        }))
        .unwrap();
        let yes = [
            "metadata.name=p",
            "metadata.namespace==ns",
            "status.phase=Running",
            "status.phase!=Pending",
            "spec.replicas=3",
            "metadata.uid=u1",
            "spec.nodeName=",
        ];
        for s in yes {
            assert!(FieldSelector::parse(s).unwrap().matches(&obj), "{s}");
        }
        for s in ["metadata.name=q", "status.phase=Pending,metadata.name=p"] {
            assert!(!FieldSelector::parse(s).unwrap().matches(&obj), "{s}");
        }
        assert!(FieldSelector::parse("status.phase").is_err());
    }
}
