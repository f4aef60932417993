//! Least-privilege RBAC for the scheduler, derived from the phases' inputs and outputs.

use std::collections::{BTreeMap, BTreeSet};

use autopilot_model::{Input, Project};

use crate::yaml::Yaml;

/// Verbs in the order Kubernetes documentation lists them, so rules read the same every run.
const VERB_ORDER: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// One `rules` entry of a ClusterRole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// API group; empty for the core group.
    pub(crate) group: String,
    /// Resource (plural, or `plural/subresource`).
    pub(crate) resource: String,
    /// Verbs, in [`VERB_ORDER`].
    pub(crate) verbs: Vec<&'static str>,
}

fn ordered(verbs: &BTreeSet<&'static str>) -> Vec<&'static str> {
    VERB_ORDER
        .iter()
        .copied()
        .filter(|v| verbs.contains(v))
        .collect()
}

/// The rules the scheduler needs, in a fixed order: the custom resource, then every used
/// parameter sorted by group and resource, then Events and Leases.
///
/// - its own kind: read, watch, and patch (to add or remove the finalizer); its status
///   subresource; `finalizers` only when the finalizer is on (for clusters enforcing
///   `OwnerReferencesPermissionEnforcement` with `blockOwnerDeletion`);
/// - a parameter read as input: get/list/watch;
/// - a parameter written as output: also create/update/patch (server-side apply), and delete
///   only when some phase writing it prunes;
/// - `autopilot.dev` eventdeliveries, when the project declares `events:`: the store of
///   accepted external events (create, read, mark consumed, delete by retention);
/// - `kustomize.toolkit.fluxcd.io` kustomizations: get, when a phase sends outputs to Git;
/// - `events.k8s.io` events: create/patch, for the Events the scheduler records;
/// - `coordination.k8s.io` leases: get/create/update. Leader election is switched on in
///   `autopilot-operator.yaml`, which can change after generation, so the rule is always there.
pub(crate) fn rules(project: &Project) -> Vec<Rule> {
    let mut rules = Vec::new();
    let group = project.group().to_owned();
    let plural = project.plural();
    rules.push(Rule {
        group: group.clone(),
        resource: plural.clone(),
        verbs: vec!["get", "list", "watch", "update", "patch"],
    });
    rules.push(Rule {
        group: group.clone(),
        resource: format!("{plural}/status"),
        verbs: vec!["get", "update", "patch"],
    });
    if project.finalizer {
        rules.push(Rule {
            group,
            resource: format!("{plural}/finalizers"),
            verbs: vec!["update"],
        });
    }

    let mut by_resource: BTreeMap<(String, String), BTreeSet<&'static str>> = BTreeMap::new();
    for phase in &project.phases {
        for input in &phase.inputs {
            if let Input::Resource { parameter, .. } = input
                && let Some(p) = project.parameter(parameter)
            {
                by_resource
                    .entry((p.group.clone(), p.plural.clone()))
                    .or_default()
                    .extend(["get", "list", "watch"]);
            }
        }
        for output in &phase.outputs {
            if let Some(p) = project.parameter(output) {
                let verbs = by_resource
                    .entry((p.group.clone(), p.plural.clone()))
                    .or_default();
                verbs.extend(["get", "list", "watch", "create", "update", "patch"]);
                if phase.prune {
                    verbs.insert("delete");
                }
            }
        }
    }
    for ((group, resource), verbs) in &by_resource {
        rules.push(Rule {
            group: group.clone(),
            resource: resource.clone(),
            verbs: ordered(verbs),
        });
    }

    if !project.events.is_empty() {
        // The store of accepted external events: one EventDelivery per event and resource.
        rules.push(Rule {
            group: "autopilot.dev".to_owned(),
            resource: "eventdeliveries".to_owned(),
            verbs: vec!["get", "list", "watch", "create", "patch", "delete"],
        });
    }
    // A phase sending outputs to Git may wait for Flux to apply them (`waitFor` in
    // autopilot-operator.yaml, which can change after generation), reading its Kustomization.
    if project.sends_to_git() {
        rules.push(Rule {
            group: "kustomize.toolkit.fluxcd.io".to_owned(),
            resource: "kustomizations".to_owned(),
            verbs: vec!["get"],
        });
    }
    rules.push(Rule {
        group: "events.k8s.io".to_owned(),
        resource: "events".to_owned(),
        verbs: vec!["create", "patch"],
    });
    rules.push(Rule {
        group: "coordination.k8s.io".to_owned(),
        resource: "leases".to_owned(),
        verbs: vec!["get", "create", "update"],
    });
    rules
}

/// ServiceAccount, ClusterRole and ClusterRoleBinding, all named after the operator, as one
/// multi-document YAML text.
pub(crate) fn rbac(project: &Project, namespace: &str) -> String {
    let name = project.operator_name.as_str();
    let labels = || {
        Yaml::map()
            .with("app.kubernetes.io/name", name)
            .with("app.kubernetes.io/managed-by", crate::deploy::MANAGED_BY)
    };
    let account = Yaml::map()
        .with("apiVersion", "v1")
        .with("kind", "ServiceAccount")
        .with(
            "metadata",
            Yaml::map()
                .with("name", name)
                .with("namespace", namespace)
                .with("labels", labels()),
        );
    let rules = rules(project)
        .into_iter()
        .map(|r| {
            Yaml::map()
                .with("apiGroups", Yaml::strs([r.group.as_str()]))
                .with("resources", Yaml::strs([r.resource.as_str()]))
                .with("verbs", Yaml::strs(r.verbs))
        })
        .collect();
    let role = Yaml::map()
        .with("apiVersion", "rbac.authorization.k8s.io/v1")
        .with("kind", "ClusterRole")
        .with(
            "metadata",
            Yaml::map().with("name", name).with("labels", labels()),
        )
        .with("rules", Yaml::Seq(rules));
    let binding = Yaml::map()
        .with("apiVersion", "rbac.authorization.k8s.io/v1")
        .with("kind", "ClusterRoleBinding")
        .with(
            "metadata",
            Yaml::map().with("name", name).with("labels", labels()),
        )
        .with(
            "roleRef",
            Yaml::map()
                .with("apiGroup", "rbac.authorization.k8s.io")
                .with("kind", "ClusterRole")
                .with("name", name),
        )
        .with(
            "subjects",
            Yaml::Seq(vec![
                Yaml::map()
                    .with("kind", "ServiceAccount")
                    .with("name", name)
                    .with("namespace", namespace),
            ]),
        );
    [account, role, binding]
        .iter()
        .map(Yaml::to_document)
        .collect::<Vec<_>>()
        .join("---\n")
}
