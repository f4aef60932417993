//! The objects a release consists of: the primary and canary Deployments and their Services
//! (the traffic between them is [`crate::traffic`]'s).
use autopilot_sdk::outputs;
use serde_json::Value;

use crate::model::{Spec, Traffic};

/// `<target>-primary`: the Deployment serving the released revision.
pub fn primary_name(spec: &Spec) -> String {
    format!("{}-primary", spec.target_ref)
}

/// `<target>-canary`: the Deployment of the revision under analysis.
pub fn canary_name(spec: &Spec) -> String {
    format!("{}-canary", spec.target_ref)
}

/// The Deployment named `name` among `deployments`.
pub fn find<'a>(deployments: &'a [Value], name: &str) -> Option<&'a Value> {
    deployments
        .iter()
        .find(|d| d["metadata"]["name"].as_str() == Some(name))
}

/// `spec.replicas` of a Deployment (1 when unset, as the API server defaults it).
pub fn replicas(deployment: &Value) -> i32 {
    deployment["spec"]["replicas"]
        .as_i64()
        .and_then(|r| i32::try_from(r).ok())
        .unwrap_or(1)
}

/// `Ok` when `deployment` runs the pod template of `source` on all its replicas, each ready and
/// no old one left (as `kubectl rollout status` judges it); else what it is still waiting for.
pub fn rolled_out(deployment: &Value, source: &Value) -> Result<(), String> {
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    if deployment.pointer("/spec/template/spec") != source.pointer("/spec/template/spec") {
        return Err(format!("{name} does not have the new pod template yet"));
    }
    let want = i64::from(replicas(deployment));
    let status = &deployment["status"];
    let count = |field: &str| status[field].as_i64().unwrap_or(0);
    let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(0);
    if count("observedGeneration") < generation {
        return Err(format!("{name} has not started its rollout yet"));
    }
    let ready = count("readyReplicas").min(count("updatedReplicas"));
    if ready < want {
        return Err(format!("{name} has {ready} of {want} replicas ready"));
    }
    let old = count("replicas") - want;
    if old > 0 {
        return Err(format!("{name} still has {old} old replicas"));
    }
    Ok(())
}

/// A Deployment called `name` running the pod template of `source`, its pods labelled
/// `app=<name>` so that each Service selects exactly one track.
pub fn deployment(name: &str, source: &Value, replicas: i32) -> outputs::Deployment {
    outputs::deployment(name)
        .template_from(source)
        .selector_label("app", name)
        .replicas(replicas)
}

/// The `-primary` and `-canary` Services, and the apex Service `<target>` selecting the primary
/// unless `spec.traffic` is `kubernetes` (then the apex Service carries the traffic, see
/// [`crate::traffic::apex_service`]).
pub fn services(spec: &Spec) -> Vec<outputs::Service> {
    let port = spec.port;
    let mut services = vec![
        outputs::service(primary_name(spec))
            .selector("app", primary_name(spec))
            .port("http", port, port),
        outputs::service(canary_name(spec))
            .selector("app", canary_name(spec))
            .port("http", port, port),
    ];
    if spec.traffic != Traffic::Kubernetes {
        services.insert(
            0,
            outputs::service(&spec.target_ref)
                .selector("app", primary_name(spec))
                .port("http", port, port),
        );
    }
    services
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rolled_out_means_every_replica_new_and_ready() {
        let source = json!({"spec": {"template": {"spec": {"containers": [{"image": "web:2"}]}}}});
        let d = |image: &str, status: Value| {
            json!({"metadata": {"name": "web-primary", "generation": 3},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": image}]}}},
                "status": status})
        };
        let done = json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2});
        assert_eq!(rolled_out(&d("web:2", done.clone()), &source), Ok(()));
        let mut status = done.clone();
        status["readyReplicas"] = json!(1);
        assert_eq!(
            rolled_out(&d("web:2", status), &source),
            Err("web-primary has 1 of 2 replicas ready".into())
        );
        let mut status = done.clone();
        status["replicas"] = json!(3);
        assert_eq!(
            rolled_out(&d("web:2", status), &source),
            Err("web-primary still has 1 old replicas".into())
        );
        let mut status = done.clone();
        status["observedGeneration"] = json!(2);
        assert_eq!(
            rolled_out(&d("web:2", status), &source),
            Err("web-primary has not started its rollout yet".into())
        );
        assert_eq!(
            rolled_out(&d("web:1", done), &source),
            Err("web-primary does not have the new pod template yet".into())
        );
    }

    #[test]
    fn tracks_select_their_own_pods() {
        let target = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "template": {
            "metadata": {"labels": {"app": "web", "team": "shop"}},
            "spec": {"containers": [{"name": "app", "image": "web:2"}]}}}});
        let d = serde_json::to_value(deployment("web-canary", &target, replicas(&target))).unwrap();
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(
            d["spec"]["selector"]["matchLabels"],
            json!({"app": "web-canary"})
        );
        assert_eq!(
            d["spec"]["template"]["metadata"]["labels"],
            json!({"app": "web-canary", "team": "shop"})
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "web:2"
        );
        let mesh = services(&Spec {
            target_ref: "web".into(),
            ..Spec::default()
        })
        .into_iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect::<Vec<_>>();
        assert_eq!(mesh[0]["metadata"]["name"], "web");
        assert_eq!(mesh[0]["spec"]["selector"]["app"], "web-primary");
        assert_eq!(mesh[2]["spec"]["selector"]["app"], "web-canary");
        // Without a mesh the apex Service is the traffic object, declared with the split.
        let plain = services(&Spec {
            target_ref: "web".into(),
            traffic: Traffic::Kubernetes,
            ..Spec::default()
        });
        assert_eq!(plain.len(), 2);
    }
}
