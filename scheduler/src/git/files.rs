//! What a phase result looks like as files: one clean YAML file per object with a stable name,
//! and the plan of which files to write and which to remove (pure; no I/O).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Metadata the API server fills in, which has no place in a repository.
const SERVER_FIELDS: [&str; 7] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
];

/// The file name of an object: `<kind>-<name>.yaml` in lower case, with the group added for
/// kinds outside the core group (`virtualservice.networking.istio.io-web.yaml`) so two kinds of
/// one name never share a file.
pub fn file_name(api_version: &str, kind: &str, name: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    match api_version.rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}-{name}.yaml"),
        None => format!("{kind}-{name}.yaml"),
    }
}

/// An object as it is written to the repository: without server-set metadata, without
/// `status`, and without ownerReferences (the GitOps engine, not the resource, owns it there).
pub fn clean(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_FIELDS {
                meta.remove(field);
            }
            meta.remove("ownerReferences");
        }
    }
    object
}

/// The YAML text of an object: block style, keys in the object's order, a trailing newline.
///
/// # Errors
///
/// The serializer's message (an object from JSON always serializes).
pub fn to_yaml(object: &Value) -> Result<String, String> {
    let mut text = serde_saphyr::to_string(object).map_err(|e| e.to_string())?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// An object rendered for the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// File name inside the resource's directory.
    pub name: String,
    /// `apiVersion` of the object (used to decide what a phase may prune).
    pub api_version: String,
    /// Kind of the object.
    pub kind: String,
    /// YAML text.
    pub text: String,
}

/// Render objects (already checked by `outputs::prepare`) as files.
///
/// # Errors
///
/// The first object that has no `apiVersion`, `kind` or `metadata.name`, or cannot be
/// serialized.
pub fn render(objects: &[Value]) -> Result<Vec<File>, String> {
    let mut files = Vec::with_capacity(objects.len());
    for object in objects {
        let text_of = |path: &[&str]| -> Option<String> {
            let mut v = object;
            for p in path {
                v = v.get(p)?;
            }
            v.as_str().map(str::to_owned)
        };
        let (Some(api_version), Some(kind), Some(name)) = (
            text_of(&["apiVersion"]),
            text_of(&["kind"]),
            text_of(&["metadata", "name"]),
        ) else {
            return Err("an output lacks apiVersion, kind or metadata.name".into());
        };
        files.push(File {
            name: file_name(&api_version, &kind, &name),
            text: to_yaml(&clean(object))?,
            api_version,
            kind,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// `(apiVersion, kind)` of the YAML object in `text`, if it is one.
pub fn kind_of(text: &str) -> Option<(String, String)> {
    let value: Value = serde_saphyr::from_str(text).ok()?;
    Some((
        value.get("apiVersion")?.as_str()?.to_owned(),
        value.get("kind")?.as_str()?.to_owned(),
    ))
}

/// What to do in a resource's directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files to write (new or changed), name → text.
    pub write: BTreeMap<String, String>,
    /// Files to remove.
    pub remove: BTreeSet<String>,
}

impl Plan {
    /// Whether the directory already holds exactly what the phase returned.
    pub fn is_empty(&self) -> bool {
        self.write.is_empty() && self.remove.is_empty()
    }
}

/// Compare what the directory holds (`existing`: name → text) with the phase's `files`.
///
/// With `prune`, files holding an object of one of `pruned_kinds` (`(apiVersion, kind)`) that
/// the phase no longer returns are removed — the same rule as pruning applied objects: only
/// kinds the phase declares as outputs, never files it does not understand.
pub fn plan(
    existing: &BTreeMap<String, String>,
    files: &[File],
    prune: bool,
    pruned_kinds: &[(String, String)],
) -> Plan {
    let mut out = Plan::default();
    for f in files {
        if existing.get(&f.name) != Some(&f.text) {
            out.write.insert(f.name.clone(), f.text.clone());
        }
    }
    if prune {
        let wanted: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
        for (name, text) in existing {
            if wanted.contains(name.as_str()) {
                continue;
            }
            if kind_of(text).is_some_and(|k| pruned_kinds.contains(&k)) {
                out.remove.insert(name.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vs(name: &str, weight: u32) -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {
                "name": name,
                "namespace": "prod",
                "uid": "u-1",
                "resourceVersion": "7",
                "labels": {"autopilot.dev/operator": "canary"},
                "ownerReferences": [{"kind": "Canary", "name": "web"}],
            },
            "spec": {"hosts": [name], "http": [{"route": [{"weight": weight}]}]},
            "status": {"x": 1},
        })
    }

    #[test]
    fn file_names_are_stable_and_kind_qualified() {
        let cases = [
            ("v1", "ConfigMap", "a", "configmap-a.yaml"),
            (
                "networking.istio.io/v1",
                "VirtualService",
                "web",
                "virtualservice.networking.istio.io-web.yaml",
            ),
            ("apps/v1", "Deployment", "web", "deployment.apps-web.yaml"),
        ];
        for (api_version, kind, name, want) in cases {
            assert_eq!(file_name(api_version, kind, name), want);
        }
    }

    #[test]
    fn rendering_drops_what_the_server_owns() {
        let files = render(&[vs("web", 20)]).unwrap();
        assert_eq!(files.len(), 1);
        let text = &files[0].text;
        for gone in ["uid", "resourceVersion", "ownerReferences", "status"] {
            assert!(!text.contains(gone), "{gone} left in\n{text}");
        }
        assert!(text.contains("autopilot.dev/operator"), "{text}");
        assert!(
            text.starts_with("apiVersion: networking.istio.io/v1\n"),
            "{text}"
        );
        assert!(text.ends_with('\n'));
        let back: Value = serde_saphyr::from_str(text).unwrap();
        assert_eq!(back["spec"]["http"][0]["route"][0]["weight"], 20);
        assert_eq!(
            kind_of(text),
            Some(("networking.istio.io/v1".into(), "VirtualService".into()))
        );
        // Same object, same text: what makes a re-run a no-op.
        assert_eq!(render(&[vs("web", 20)]).unwrap(), files);
        assert!(render(&[json!({"kind": "X"})]).is_err());
    }

    #[test]
    fn plans() {
        let vs_kind = [(
            "networking.istio.io/v1".to_owned(),
            "VirtualService".to_owned(),
        )];
        let now = render(&[vs("web", 20)]).unwrap();
        let old = render(&[vs("web", 0), vs("old", 0)]).unwrap();
        let existing = |files: &[File]| -> BTreeMap<String, String> {
            files
                .iter()
                .map(|f| (f.name.clone(), f.text.clone()))
                .collect()
        };
        let mut with_foreign = existing(&old);
        with_foreign.insert("kustomization.yaml".into(), "resources: []\n".into());

        // Nothing there yet: write.
        let p = plan(&BTreeMap::new(), &now, true, &vs_kind);
        assert_eq!(p.write.len(), 1);
        assert!(p.remove.is_empty());
        // Same content: nothing to do.
        assert!(plan(&existing(&now), &now, true, &vs_kind).is_empty());
        // Changed and dropped, pruning: write one, remove the dropped one, keep foreign files.
        let p = plan(&with_foreign, &now, true, &vs_kind);
        assert_eq!(
            p.write.keys().collect::<Vec<_>>(),
            ["virtualservice.networking.istio.io-web.yaml"]
        );
        assert_eq!(
            p.remove.iter().collect::<Vec<_>>(),
            ["virtualservice.networking.istio.io-old.yaml"]
        );
        // Without prune, dropped outputs stay.
        assert!(plan(&with_foreign, &now, false, &vs_kind).remove.is_empty());
        // A phase never prunes kinds it does not declare.
        assert!(plan(&with_foreign, &now, true, &[]).remove.is_empty());
    }
}
