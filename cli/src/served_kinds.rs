//! The warning `ap run` and `ap deploy` give at start when the project reads or writes kinds the
//! cluster does not serve (found through API discovery), before a phase fails on them.

use std::collections::{BTreeMap, BTreeSet};

use autopilot_model::{Input, Parameter, Project};
use kube::Client;

/// How one kind is used: the phases that read it and those that write it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Uses {
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// Every kind the project's phases read or write, with where.
fn uses(project: &Project) -> Vec<(Parameter, Uses)> {
    let mut by_name: BTreeMap<String, Uses> = BTreeMap::new();
    for phase in &project.phases {
        for input in &phase.inputs {
            if let Input::Resource { parameter, .. } = input {
                let u = by_name.entry(parameter.clone()).or_default();
                if !u.inputs.contains(&phase.name) {
                    u.inputs.push(phase.name.clone());
                }
            }
        }
        for output in &phase.outputs {
            by_name
                .entry(output.clone())
                .or_default()
                .outputs
                .push(phase.name.clone());
        }
    }
    project
        .used_parameters()
        .into_iter()
        .map(|p| {
            let u = by_name.remove(&p.name).unwrap_or_default();
            (p, u)
        })
        .collect()
}

/// What discovery said of one API group version: the plurals it serves, or that it is absent.
pub(crate) type Served = BTreeMap<String, Option<BTreeSet<String>>>;

fn api_version(p: &Parameter) -> String {
    if p.group.is_empty() {
        p.version.clone()
    } else {
        format!("{}/{}", p.group, p.version)
    }
}

/// `virtualservices.networking.istio.io`, as the CRD is named (`pods` for the core group).
fn resource_name(p: &Parameter) -> String {
    if p.group.is_empty() {
        p.plural.clone()
    } else {
        format!("{}.{}", p.plural, p.group)
    }
}

/// How to get the CRDs of a well-known group onto a local cluster.
fn hint(group: &str) -> Option<&'static str> {
    match group {
        "networking.istio.io" => Some("`ap cluster up --with istio` installs Istio's CRDs"),
        "gateway.networking.k8s.io" => {
            Some("`ap cluster up --with gateway-api` installs the Gateway API CRDs")
        }
        _ => None,
    }
}

/// One warning per kind the project uses that `served` says is not served.
fn warnings(project: &Project, served: &Served) -> Vec<String> {
    let mut out = Vec::new();
    for (p, u) in uses(project) {
        let version = api_version(&p);
        let is_served = served
            .get(&version)
            .is_some_and(|plurals| plurals.as_ref().is_some_and(|s| s.contains(&p.plural)));
        if is_served {
            continue;
        }
        let mut used = Vec::new();
        if !u.outputs.is_empty() {
            used.push(format!("written by {}", u.outputs.join(", ")));
        }
        if !u.inputs.is_empty() {
            used.push(format!("read by {}", u.inputs.join(", ")));
        }
        let mut line = format!(
            "{} ({version} {}, {}) is not served by the API server: those phases fail until \
             its CRD is installed",
            resource_name(&p),
            p.kind,
            used.join("; ")
        );
        if let Some(h) = hint(&p.group) {
            line.push_str(&format!(" ({h} on a local cluster)"));
        }
        out.push(line);
    }
    out
}

/// Ask the API server which of the project's group versions it serves.
async fn discover(client: &Client, project: &Project) -> kube::Result<Served> {
    let mut served = Served::new();
    for (p, _) in uses(project) {
        let version = api_version(&p);
        if served.contains_key(&version) {
            continue;
        }
        let list = if p.group.is_empty() {
            client.list_core_api_resources(&p.version).await
        } else {
            client.list_api_group_resources(&version).await
        };
        let plurals = match list {
            Ok(list) => Some(list.resources.into_iter().map(|r| r.name).collect()),
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(e) => return Err(e),
        };
        served.insert(version, plurals);
    }
    Ok(served)
}

/// Print a warning for every input or output kind of `project` the cluster does not serve.
/// Discovery failing is itself only a warning: the run goes on.
pub(crate) async fn warn(client: &Client, project: &Project) {
    match discover(client, project).await {
        Ok(served) => {
            for line in warnings(project, &served) {
                eprintln!("ap: warning: {line}");
            }
        }
        Err(e) => eprintln!(
            "ap: warning: could not check which of the project's kinds the cluster serves: {e}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        autopilot_model::parse_project(
            "autopilot.yaml",
            "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\nspec: {type: object}\n\
             phases:\n  - {name: A, initial: true, inputs: [httproutes, pods], outputs: [virtualservices]}\n\
             \x20 - {name: B, inputs: [httproutes], outputs: [virtualservices, configmaps]}\n\
             \x20 - {name: Done, final: true}\n",
        )
        .unwrap()
    }

    fn served(entries: &[(&str, Option<&[&str]>)]) -> Served {
        entries
            .iter()
            .map(|(v, plurals)| {
                (
                    (*v).to_owned(),
                    plurals.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
                )
            })
            .collect()
    }

    #[test]
    fn unserved_kinds_are_named_with_their_phases_and_a_hint() {
        let all = warnings(
            &project(),
            &served(&[
                ("v1", Some(&["pods", "configmaps"])),
                ("networking.istio.io/v1", None),
                ("gateway.networking.k8s.io/v1", Some(&["gateways"])),
            ]),
        );
        assert_eq!(
            all,
            [
                "httproutes.gateway.networking.k8s.io (gateway.networking.k8s.io/v1 HTTPRoute, \
                 read by A, B) is not served by the API server: those phases fail until its CRD \
                 is installed (`ap cluster up --with gateway-api` installs the Gateway API CRDs \
                 on a local cluster)",
                "virtualservices.networking.istio.io (networking.istio.io/v1 VirtualService, \
                 written by A, B) is not served by the API server: those phases fail until its \
                 CRD is installed (`ap cluster up --with istio` installs Istio's CRDs on a local \
                 cluster)",
            ]
        );
    }

    #[test]
    fn nothing_to_say_when_everything_is_served() {
        let all = warnings(
            &project(),
            &served(&[
                ("v1", Some(&["pods", "configmaps"])),
                ("networking.istio.io/v1", Some(&["virtualservices"])),
                ("gateway.networking.k8s.io/v1", Some(&["httproutes"])),
            ]),
        );
        assert!(all.is_empty(), "{all:?}");
    }
}
