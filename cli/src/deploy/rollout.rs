//! Waiting for `ap deploy`'s Deployments to roll out: one progress line per Deployment when its
//! state changes, a summary at the end, and on failure why each unfinished Deployment is stuck,
//! from its conditions, its pods' conditions and container states, and their Warning events.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::bail;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt as _};

/// How often the Deployments are read: often enough that the wait ends soon after the rollout,
/// rare enough to be no load on the API server (a few GETs and LISTs per second).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// At most this many pods are explained per Deployment; the rest are counted.
const MAX_PODS_EXPLAINED: usize = 3;

/// Where one Deployment's rollout stands, as `kubectl rollout status` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Progress {
    desired: i32,
    updated: i32,
    ready: i32,
    available: i32,
    /// Pods of older templates still running.
    old: i32,
    /// The Deployment controller has seen the latest spec.
    observed: bool,
    /// The Deployment's own account of a failure (`ReplicaFailure`, or `Progressing` false).
    failure: Option<String>,
}

impl Progress {
    pub(super) fn of(deployment: &Deployment) -> Self {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let updated = status.updated_replicas.unwrap_or(0);
        let failure = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| {
                (c.type_ == "ReplicaFailure" && c.status == "True")
                    || (c.type_ == "Progressing" && c.status == "False")
            })
            .map(|c| {
                let reason = c.reason.unwrap_or_else(|| c.type_.clone());
                match c.message.filter(|m| !m.is_empty()) {
                    Some(message) => format!("{reason}: {message}"),
                    None => reason,
                }
            });
        Self {
            desired,
            updated,
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            old: (status.replicas.unwrap_or(0) - updated).max(0),
            observed: deployment.metadata.generation.is_some()
                && status.observed_generation >= deployment.metadata.generation,
            failure,
        }
    }

    /// Every desired replica runs the new template and is available, and no old pod is left.
    pub(super) fn done(&self) -> bool {
        self.observed
            && self.updated >= self.desired
            && self.available >= self.desired
            && self.old == 0
    }

    /// What it still waits for, or `None` when done.
    fn waiting_for(&self) -> Option<String> {
        if !self.observed {
            return Some("the Deployment controller to see the new spec".into());
        }
        if self.updated < self.desired {
            return Some(format!(
                "{} of {} pods to be updated",
                self.desired - self.updated,
                self.desired
            ));
        }
        if self.old > 0 {
            return Some(format!("{} old pods to terminate", self.old));
        }
        if self.available < self.desired {
            return Some(format!(
                "{} of {} pods to be available",
                self.desired - self.available,
                self.desired
            ));
        }
        None
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let want = self.desired;
        write!(
            f,
            "{}/{want} ready, {}/{want} updated, {}/{want} available",
            self.ready, self.updated, self.available
        )?;
        if self.old > 0 {
            write!(f, ", {} old", self.old)?;
        }
        Ok(())
    }
}

/// Why `pod` is not (yet) serving, from its status: unscheduled, a container waiting or
/// crashing, or not ready; `None` when it is ready or going away.
pub(super) fn pod_problem(pod: &Pod) -> Option<String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let conditions = status.conditions.unwrap_or_default();
    let condition = |type_: &str| conditions.iter().find(|c| c.type_ == type_);
    let said = |reason: Option<&String>, message: Option<&String>| match (
        reason.filter(|r| !r.is_empty()),
        message.filter(|m| !m.is_empty()),
    ) {
        (Some(r), Some(m)) => format!("{r}: {m}"),
        (Some(r), None) => r.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "no reason given".into(),
    };
    if phase == "Failed" {
        return Some(format!(
            "Failed: {}",
            said(status.reason.as_ref(), status.message.as_ref())
        ));
    }
    if let Some(c) = condition("PodScheduled").filter(|c| c.status == "False") {
        return Some(format!(
            "{phase}, not scheduled: {}",
            said(c.reason.as_ref(), c.message.as_ref())
        ));
    }
    let containers = status
        .init_container_statuses
        .unwrap_or_default()
        .into_iter()
        .chain(status.container_statuses.unwrap_or_default());
    for c in containers {
        let state = c.state.unwrap_or_default();
        if let Some(waiting) = state.waiting {
            // ContainerCreating and PodInitializing are the normal start, not a problem yet.
            let reason = waiting.reason.as_deref().unwrap_or_default();
            if !matches!(reason, "" | "ContainerCreating" | "PodInitializing") {
                return Some(format!(
                    "{phase}, container {} waiting: {}",
                    c.name,
                    said(waiting.reason.as_ref(), waiting.message.as_ref())
                ));
            }
        }
        if let Some(terminated) = state.terminated.filter(|t| t.exit_code != 0) {
            return Some(format!(
                "{phase}, container {} exited with code {}: {}",
                c.name,
                terminated.exit_code,
                said(terminated.reason.as_ref(), terminated.message.as_ref())
            ));
        }
        if c.restart_count > 0
            && !c.ready
            && let Some(last) = c.last_state.and_then(|s| s.terminated)
        {
            return Some(format!(
                "{phase}, container {} restarted {} times, last exit code {}: {}",
                c.name,
                c.restart_count,
                last.exit_code,
                said(last.reason.as_ref(), last.message.as_ref())
            ));
        }
    }
    match condition("Ready") {
        Some(c) if c.status == "True" => None,
        Some(c) => Some(format!(
            "{phase}, not ready: {}",
            said(c.reason.as_ref(), c.message.as_ref())
        )),
        None => Some(format!("{phase}, not ready yet")),
    }
}

/// The label selector of a Deployment's pods, as a list query takes it.
fn pod_selector(deployment: &Deployment) -> Option<String> {
    let labels = deployment
        .spec
        .as_ref()?
        .selector
        .match_labels
        .as_ref()
        .filter(|l| !l.is_empty())?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Why each pod of `deployment` that is not ready is not, as `pod <name> <problem>` lines;
/// with `events`, a pod's latest Warning event is added (e.g. a failed mount).
async fn pod_problems(
    client: &Client,
    namespace: &str,
    deployment: &Deployment,
    events: bool,
) -> anyhow::Result<Vec<String>> {
    let Some(selector) = pod_selector(deployment) else {
        return Ok(Vec::new());
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut list = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    list.sort_by_key(|p| p.name_any());
    let mut problems = Vec::new();
    let mut more = 0;
    for pod in &list {
        let Some(problem) = pod_problem(pod) else {
            continue;
        };
        if problems.len() == MAX_PODS_EXPLAINED {
            more += 1;
            continue;
        }
        let mut line = format!("pod {} {problem}", pod.name_any());
        if events
            && let Some((reason, message)) =
                latest_warning(client, namespace, &pod.name_any()).await?
            // A FailedScheduling event repeats the PodScheduled condition.
            && !problem.contains(&message)
        {
            line.push_str(&format!("; last warning: {reason}: {message}"));
        }
        problems.push(line);
    }
    if more > 0 {
        problems.push(format!("and {more} more pods"));
    }
    Ok(problems)
}

/// The reason and message of the latest Warning event of pod `name`.
async fn latest_warning(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Option<(String, String)>> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let fields = format!("involvedObject.kind=Pod,involvedObject.name={name},type=Warning");
    let list = events.list(&ListParams::default().fields(&fields)).await?;
    Ok(list
        .items
        .into_iter()
        .max_by_key(|e| {
            e.last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or(e.event_time.as_ref().map(|t| t.0))
        })
        .map(|e| {
            (
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default().trim().to_owned(),
            )
        }))
}

/// Waits until every Deployment in `names` has rolled out, printing a line for each whenever
/// its state changes.
///
/// A poll of the Deployments and their pods rather than `kube::runtime::wait::await_condition`:
/// that waits for one object's condition, while this reports several Deployments and the pod
/// problems (image pulls, scheduling, crash loops) that change without the Deployment changing.
///
/// # Errors
///
/// When `timeout` passes first, or a Deployment's progress deadline is exceeded: the error
/// names each unfinished Deployment, its state, and why its pods are not ready.
pub(super) async fn wait(
    client: &Client,
    namespace: &str,
    names: &[&str],
    timeout: Duration,
) -> anyhow::Result<()> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    println!(
        "waiting up to {} for {} Deployment{} to roll out",
        humantime::format_duration(timeout),
        names.len(),
        if names.len() == 1 { "" } else { "s" }
    );
    let mut shown: BTreeMap<&str, String> = BTreeMap::new();
    loop {
        let mut deployments = Vec::new();
        for name in names {
            let deployment = api.get(name).await?;
            let progress = Progress::of(&deployment);
            let mut line = format!("Deployment/{name}: {progress}");
            if !progress.done() {
                // The first pod problem says more than "waiting for pods"; both only change
                // when something happens, so the line is printed again only then.
                let problems = pod_problems(client, namespace, &deployment, false).await?;
                match (problems.first(), progress.waiting_for()) {
                    (Some(problem), _) => line.push_str(&format!(" ({problem})")),
                    (None, Some(waiting)) => line.push_str(&format!(" (waiting for {waiting})")),
                    (None, None) => {}
                }
            }
            if shown.get(name) != Some(&line) {
                println!("[{:>4}s] {line}", started.elapsed().as_secs());
                shown.insert(name, line);
            }
            deployments.push((deployment, progress));
        }
        if deployments.iter().all(|(_, p)| p.done()) {
            let summary: Vec<String> = deployments
                .iter()
                .map(|(d, p)| {
                    format!(
                        "Deployment/{} {}/{} available",
                        d.name_any(),
                        p.available,
                        p.desired
                    )
                })
                .collect();
            println!(
                "rolled out in {}s: {}",
                started.elapsed().as_secs(),
                summary.join(", ")
            );
            return Ok(());
        }
        let deadline_exceeded = deployments.iter().any(|(_, p)| {
            p.failure
                .as_deref()
                .is_some_and(|f| f.starts_with("ProgressDeadlineExceeded"))
        });
        if deadline_exceeded || started.elapsed() > timeout {
            let mut report = Vec::new();
            for (deployment, progress) in deployments.iter().filter(|(_, p)| !p.done()) {
                report.push(format!("Deployment/{}: {progress}", deployment.name_any()));
                if let Some(failure) = &progress.failure {
                    report.push(format!("  {failure}"));
                }
                let problems = pod_problems(client, namespace, deployment, true).await?;
                if problems.is_empty()
                    && let Some(waiting) = progress.waiting_for()
                {
                    let hint = if progress.observed {
                        ""
                    } else {
                        " (is kube-controller-manager running?)"
                    };
                    report.push(format!("  waiting for {waiting}{hint}"));
                }
                report.extend(problems.into_iter().map(|p| format!("  {p}")));
            }
            let why = if deadline_exceeded {
                "a Deployment exceeded its progress deadline".to_owned()
            } else {
                format!(
                    "the rollout did not finish within {} (--timeout; --no-wait skips the wait)",
                    humantime::format_duration(timeout)
                )
            };
            bail!("{why}:\n{}", report.join("\n"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    #[test]
    fn a_pod_tells_why_it_is_not_ready() {
        let unschedulable =
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.";
        let cases = [
            (
                json!({"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
                ]}),
                Some(format!("Pending, not scheduled: Unschedulable: {unschedulable}")),
            ),
            (
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                    "containerStatuses": [{"name": "worker", "ready": false, "restartCount": 0, "image": "w", "imageID": "",
                        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"w\""}}}]}),
                Some("Pending, container worker waiting: ImagePullBackOff: Back-off pulling image \"w\"".into()),
            ),
            (
                json!({"phase": "Pending", "containerStatuses": [{"name": "worker", "ready": false, "restartCount": 0,
                    "image": "w", "imageID": "", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                Some("Pending, not ready yet".into()),
            ),
            (
                json!({"phase": "Running", "containerStatuses": [{"name": "scheduler", "ready": false, "restartCount": 3,
                    "image": "s", "imageID": "", "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                Some("Running, container scheduler restarted 3 times, last exit code 1: Error".into()),
            ),
            (
                json!({"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [scheduler]"}
                ]}),
                Some("Running, not ready: ContainersNotReady: containers with unready status: [scheduler]".into()),
            ),
            (
                json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
                Some("Failed: Evicted: low on memory".into()),
            ),
            (
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
                None,
            ),
        ];
        for (status, want) in cases {
            assert_eq!(pod_problem(&pod(status.clone())), want, "{status}");
        }
    }

    #[test]
    fn a_deployment_is_done_when_every_replica_is_new_and_available() {
        let deployment = |status: serde_json::Value| -> Deployment {
            serde_json::from_value(json!({
                "metadata": {"name": "d", "generation": 2},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                    "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": []}}},
                "status": status,
            }))
            .unwrap()
        };
        let cases = [
            (
                json!({"observedGeneration": 1}),
                false,
                "the Deployment controller",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1}),
                false,
                "1 of 2 pods to be updated",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}),
                false,
                "1 old pods to terminate",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
                false,
                "1 of 2 pods to be available",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
                true,
                "",
            ),
        ];
        for (status, done, waiting) in cases {
            let progress = Progress::of(&deployment(status.clone()));
            assert_eq!(progress.done(), done, "{status}");
            assert!(
                progress
                    .waiting_for()
                    .unwrap_or_default()
                    .starts_with(waiting),
                "{status}: {:?}",
                progress.waiting_for()
            );
        }
        let stuck = Progress::of(&deployment(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"d-1\" has timed out progressing."}
        ]})));
        assert_eq!(
            stuck.failure.as_deref(),
            Some("ProgressDeadlineExceeded: ReplicaSet \"d-1\" has timed out progressing.")
        );
        assert_eq!(stuck.to_string(), "0/2 ready, 0/2 updated, 0/2 available");
    }
}
