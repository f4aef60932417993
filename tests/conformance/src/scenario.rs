//! The checks of the conformance scenario (`SCENARIO.md`), each returning why it failed.
//!
//! Every check observes only what a user could: the worker's `Describe` answer, and the
//! Probes, ConfigMaps and Events on the cluster. A watch records every version of every Probe,
//! so short-lived states (a retryable error between two attempts) are seen too.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_proto::v1::DescribeResponse;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::wait;

/// How long a permanently failing Probe is watched to confirm it stays in its phase: longer
/// than the suite's `permanentErrorInterval` (2 s), so at least one slow retry happens.
pub const STAYS_BLOCKED_FOR: Duration = Duration::from_secs(3);

/// How long Events may take to appear after the status that caused them.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Checks the worker's `Describe` answer: protocol v1, serves Preparing and Checking, finalizes.
///
/// # Errors
///
/// Every mismatch, in one message.
pub fn describe(described: &DescribeResponse) -> Result<(), String> {
    let mut wrong = Vec::new();
    if described.protocol_version != autopilot_proto::PROTOCOL_VERSION {
        wrong.push(format!(
            "protocol_version is {:?}, want {:?}",
            described.protocol_version,
            autopilot_proto::PROTOCOL_VERSION
        ));
    }
    for phase in ["Preparing", "Checking"] {
        if !described.phases.iter().any(|p| p == phase) {
            wrong.push(format!(
                "phases {:?} do not include {phase}",
                described.phases
            ));
        }
    }
    if !described.finalize {
        wrong.push("finalize is false, want true".to_owned());
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

/// The Probes of one run, in one namespace, with every version the watch saw.
pub struct Scenario {
    client: kube::Client,
    namespace: String,
    resource: ApiResource,
    finalizer: String,
    timeout: Duration,
    history: Arc<Mutex<Vec<Value>>>,
    watch: JoinHandle<()>,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("namespace", &self.namespace)
            .field("kind", &self.resource.kind)
            .finish_non_exhaustive()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

/// `status.conditions[type == type_]`.
fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn expect(wrong: &mut Vec<String>, ok: bool, what: impl FnOnce() -> String) {
    if !ok {
        wrong.push(what());
    }
}

fn verdict(wrong: Vec<String>) -> Result<(), String> {
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

impl Scenario {
    /// Starts watching the Probes of `namespace`. `timeout` bounds every wait of the checks.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        resource: ApiResource,
        timeout: Duration,
    ) -> Self {
        let history = Arc::new(Mutex::new(Vec::new()));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        let recorded = history.clone();
        let watch = tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event
                    && let Ok(v) = serde_json::to_value(&o)
                {
                    recorded.lock().expect("history poisoned").push(v);
                }
            }
        });
        Self {
            finalizer: format!("{}/autopilot", resource.group),
            client,
            namespace: namespace.to_owned(),
            resource,
            timeout,
            history,
            watch,
        }
    }

    fn api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &self.resource)
    }

    /// Creates a Probe with `spec`.
    ///
    /// # Errors
    ///
    /// The API server's answer.
    pub async fn create(&self, name: &str, spec: Value) -> Result<(), String> {
        let probe: DynamicObject = serde_json::from_value(json!({
            "apiVersion": self.resource.api_version,
            "kind": self.resource.kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }))
        .map_err(|e| e.to_string())?;
        self.api()
            .create(&PostParams::default(), &probe)
            .await
            .map(drop)
            .map_err(|e| format!("creating Probe {name}: {e}"))
    }

    /// Every status the watch saw of Probe `name`, oldest first.
    fn statuses(&self, name: &str) -> Vec<Value> {
        self.history
            .lock()
            .expect("history poisoned")
            .iter()
            .filter(|o| o["metadata"]["name"] == name)
            .map(|o| o["status"].clone())
            .collect()
    }

    /// The distinct phases Probe `name` was seen in, in order.
    fn phases(&self, name: &str) -> Vec<String> {
        let mut phases: Vec<String> = Vec::new();
        for status in self.statuses(name) {
            if let Some(p) = status["phase"].as_str().filter(|p| !p.is_empty())
                && phases.last().map(String::as_str) != Some(p)
            {
                phases.push(p.to_owned());
            }
        }
        phases
    }

    async fn status(&self, name: &str) -> Result<Value, String> {
        let probe = self
            .api()
            .get(name)
            .await
            .map_err(|e| format!("reading Probe {name}: {e}"))?;
        Ok(probe.data.get("status").cloned().unwrap_or(Value::Null))
    }

    async fn wait_for(
        &self,
        what: &str,
        name: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        wait::until(
            &format!("Probe {}/{name} {what}", self.namespace),
            self.timeout,
            || async {
                let status = self.status(name).await?;
                if matches(&status) {
                    Ok(status)
                } else {
                    Err(format!("status {status}"))
                }
            },
        )
        .await
    }

    async fn wait_phase(&self, name: &str, phase: &str) -> Result<Value, String> {
        self.wait_for(&format!("to reach phase {phase}"), name, |s| {
            s["phase"] == phase
        })
        .await
    }

    /// Waits until Events with each of `reasons` exist for Probe `name`; returns them all.
    async fn wait_events(&self, name: &str, reasons: &[&str]) -> Result<Vec<Event>, String> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        wait::until(
            &format!("Events {reasons:?} about Probe {}/{name}", self.namespace),
            EVENT_TIMEOUT,
            || async {
                let events: Vec<Event> = api
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?
                    .items
                    .into_iter()
                    .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                    .collect();
                let have: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
                if reasons.iter().all(|r| have.contains(r)) {
                    Ok(events)
                } else {
                    Err(format!("reasons {have:?}"))
                }
            },
        )
        .await
    }

    /// Probe `{target: web, factor: 3}` goes Preparing → Checking → Done with its ConfigMap,
    /// statusInfo, condition and Events, Checking running twice (its requeue-after honoured).
    ///
    /// # Errors
    ///
    /// What differed from the scenario.
    pub async fn happy_path(&self, name: &str) -> Result<(), String> {
        let status = self.wait_phase(name, "Done").await?;
        let mut wrong = Vec::new();
        let info = &status["statusInfo"];
        expect(&mut wrong, info["checks"] == 2, || {
            format!("statusInfo.checks is {}, want 2", info["checks"])
        });
        // 0 on the first Preparing call; 1 if Preparing ran again after its ConfigMap existed.
        expect(
            &mut wrong,
            info["seen"].as_i64().is_some_and(|n| (0..=1).contains(&n)),
            || format!("statusInfo.seen is {}, want 0 (or 1)", info["seen"]),
        );
        expect(&mut wrong, info["lastQuery"] == "vector(3)", || {
            format!(
                "statusInfo.lastQuery is {}, want \"vector(3)\"",
                info["lastQuery"]
            )
        });
        match condition(&status, "Prepared") {
            Some(c) => expect(
                &mut wrong,
                c["status"] == "True"
                    && c["reason"] == "Created"
                    && c["message"] == format!("prepared {name}").as_str(),
                || format!("condition Prepared is {c}, want True/Created/\"prepared {name}\""),
            ),
            None => wrong.push(format!("no condition Prepared in {status}")),
        }

        let phases = self.phases(name);
        let order = ["Preparing", "Checking", "Done"];
        let in_order = phases
            .iter()
            .map(|p| order.iter().position(|o| o == p))
            .collect::<Option<Vec<usize>>>()
            .is_some_and(|idx| idx.windows(2).all(|w| w[0] < w[1]));
        expect(
            &mut wrong,
            in_order && phases.iter().any(|p| p == "Checking"),
            || format!("phases seen {phases:?}, want Preparing → Checking → Done"),
        );
        let checked_once = self
            .statuses(name)
            .iter()
            .any(|s| s["phase"] == "Checking" && s["statusInfo"]["checks"] == 1);
        expect(&mut wrong, checked_once, || {
            "never saw phase Checking with statusInfo.checks = 1: the first Checking call \
             must stay and requeue"
                .to_owned()
        });

        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let cm_name = format!("{name}-probe");
        match config_maps.get_opt(&cm_name).await {
            Ok(Some(cm)) => {
                let labels = cm.metadata.labels.clone().unwrap_or_default();
                expect(
                    &mut wrong,
                    labels.get("probe").map(String::as_str) == Some(name),
                    || format!("ConfigMap {cm_name} labels {labels:?} lack probe={name}"),
                );
                let data = cm.data.clone().unwrap_or_default();
                expect(
                    &mut wrong,
                    data.get("target").map(String::as_str) == Some("web"),
                    || format!("ConfigMap {cm_name} data {data:?}, want target=web"),
                );
                let probe_uid = self.api().get(name).await.ok().and_then(|p| p.metadata.uid);
                let owners = cm.metadata.owner_references.clone().unwrap_or_default();
                expect(
                    &mut wrong,
                    owners.iter().any(|o| {
                        o.kind == self.resource.kind
                            && o.name == name
                            && o.controller == Some(true)
                            && Some(&o.uid) == probe_uid.as_ref()
                    }),
                    || {
                        format!(
                            "ConfigMap {cm_name} has no controller ownerReference to the Probe: {owners:?}"
                        )
                    },
                );
            }
            Ok(None) => wrong.push(format!("ConfigMap {cm_name} does not exist")),
            Err(e) => wrong.push(format!("reading ConfigMap {cm_name}: {e}")),
        }

        match self.wait_events(name, &["Prepared", "Checked"]).await {
            Ok(events) => {
                let checked = events
                    .iter()
                    .find(|e| e.reason.as_deref() == Some("Checked"))
                    .and_then(|e| e.note.clone())
                    .unwrap_or_default();
                expect(
                    &mut wrong,
                    checked.starts_with("one=3") && checked.ends_with(" missing=no-data"),
                    || format!("Event Checked says {checked:?}, want \"one=3 missing=no-data\""),
                );
            }
            Err(e) => wrong.push(e),
        }
        verdict(wrong)
    }

    /// Probe `{factor: 1, failFirst: 2}` fails with UNAVAILABLE, is retried, and ends in Done.
    ///
    /// # Errors
    ///
    /// What differed from the scenario.
    pub async fn retryable(&self, name: &str) -> Result<(), String> {
        let status = self.wait_phase(name, "Done").await?;
        let mut wrong = Vec::new();
        let statuses = self.statuses(name);
        let unavailable = statuses.iter().any(|s| {
            condition(s, "WorkerError")
                .is_some_and(|c| c["status"] == "True" && c["reason"] == "Unavailable")
        });
        let max_attempt = statuses
            .iter()
            .filter(|s| s["phase"] == "Checking")
            .filter_map(|s| s["attempt"].as_u64())
            .max()
            .unwrap_or(0);
        expect(&mut wrong, unavailable || max_attempt >= 2, || {
            format!(
                "never saw a WorkerError condition with reason Unavailable nor status.attempt >= 2 \
                 in Checking (max attempt {max_attempt}): the UNAVAILABLE failures were not \
                 reported as retryable"
            )
        });
        expect(&mut wrong, status["statusInfo"]["checks"] == 2, || {
            format!(
                "statusInfo.checks is {}, want 2",
                status["statusInfo"]["checks"]
            )
        });
        if let Some(c) = condition(&status, "WorkerError") {
            expect(&mut wrong, c["status"] != "True", || {
                format!("WorkerError still True in Done: {c}")
            });
        }
        verdict(wrong)
    }

    /// Probe `{permanent: true}` gets a WorkerError condition FailedPrecondition, Progressing
    /// Blocked, and stays in Checking.
    ///
    /// # Errors
    ///
    /// What differed from the scenario.
    pub async fn permanent(&self, name: &str) -> Result<(), String> {
        let status = self
            .wait_for(
                "to have condition WorkerError with reason FailedPrecondition",
                name,
                |s| {
                    condition(s, "WorkerError").is_some_and(|c| {
                        c["status"] == "True" && c["reason"] == "FailedPrecondition"
                    })
                },
            )
            .await?;
        let mut wrong = Vec::new();
        let error = condition(&status, "WorkerError")
            .cloned()
            .unwrap_or_default();
        expect(
            &mut wrong,
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("permanent failure requested")),
            || {
                format!(
                    "WorkerError message is {}, want it to contain \"permanent failure requested\"",
                    error["message"]
                )
            },
        );
        expect(&mut wrong, status["phase"] == "Checking", || {
            format!("phase is {}, want Checking", status["phase"])
        });
        match condition(&status, "Progressing") {
            Some(c) => expect(&mut wrong, c["reason"] == "Blocked", || {
                format!("condition Progressing is {c}, want reason Blocked")
            }),
            None => wrong.push("no condition Progressing".to_owned()),
        }
        tokio::time::sleep(STAYS_BLOCKED_FOR).await;
        let later = self.status(name).await?;
        expect(&mut wrong, later["phase"] == "Checking", || {
            format!(
                "phase became {} after {STAYS_BLOCKED_FOR:?}, want Checking",
                later["phase"]
            )
        });
        verdict(wrong)
    }

    /// Deleting Probe `name` waits for Finalize (the object lingers with a deletionTimestamp),
    /// then the finalizer is removed and the Probe disappears.
    ///
    /// # Errors
    ///
    /// What differed from the scenario.
    pub async fn finalize(&self, name: &str) -> Result<(), String> {
        let api = self.api();
        let probe = api
            .get(name)
            .await
            .map_err(|e| format!("reading Probe {name}: {e}"))?;
        let finalizers = probe.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.contains(&self.finalizer) {
            return Err(format!(
                "Probe {name} has finalizers {finalizers:?}, want {}",
                self.finalizer
            ));
        }
        api.delete(name, &DeleteParams::default())
            .await
            .map_err(|e| format!("deleting Probe {name}: {e}"))?;
        match api.get_opt(name).await {
            Ok(Some(p)) if p.metadata.deletion_timestamp.is_some() => {}
            Ok(Some(_)) => return Err("deleted Probe has no deletionTimestamp".to_owned()),
            Ok(None) => {
                return Err(
                    "the Probe was gone at once: the first Finalize answers done = false, so it \
                     must linger"
                        .to_owned(),
                );
            }
            Err(e) => return Err(format!("reading Probe {name}: {e}")),
        }
        wait::until(
            &format!("Probe {}/{name} to be gone after Finalize", self.namespace),
            self.timeout,
            || async {
                match api.get_opt(name).await.map_err(|e| e.to_string())? {
                    None => Ok(()),
                    Some(p) => Err(format!(
                        "still there with finalizers {:?}",
                        p.metadata.finalizers.unwrap_or_default()
                    )),
                }
            },
        )
        .await?;
        self.wait_events(name, &["Finalized"]).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_checks_protocol_phases_and_finalize() {
        let good = DescribeResponse {
            protocol_version: "v1".into(),
            phases: vec!["Preparing".into(), "Checking".into()],
            finalize: true,
            ..Default::default()
        };
        let cases: [(&str, DescribeResponse, Option<&str>); 4] = [
            ("conformant", good.clone(), None),
            (
                "old protocol",
                DescribeResponse {
                    protocol_version: "v0".into(),
                    ..good.clone()
                },
                Some("protocol_version is \"v0\""),
            ),
            (
                "missing phase",
                DescribeResponse {
                    phases: vec!["Preparing".into()],
                    ..good.clone()
                },
                Some("do not include Checking"),
            ),
            (
                "no finalizer",
                DescribeResponse {
                    finalize: false,
                    ..good.clone()
                },
                Some("finalize is false"),
            ),
        ];
        for (case, described, want) in cases {
            match (describe(&described), want) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => assert!(e.contains(want), "{case}: {e}"),
                (got, want) => panic!("{case}: got {got:?}, want error containing {want:?}"),
            }
        }
    }
}
