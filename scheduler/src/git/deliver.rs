//! Sending one phase result to every Git target the phase names, and checking that the
//! GitOps engine applied it: what the reconciler calls between checking a reply and writing
//! the status.

use std::collections::BTreeMap;

use autopilot_model::git::{Destination, GitTarget};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Change, GitError, Registry, flux};
use crate::status::Condition;

/// Condition type: every Git target of the phase holds its last result (False: a push failed,
/// the message says why; retried with backoff).
pub const GIT_SYNCED: &str = "GitSynced";
/// Condition type: the GitOps engine applied the commits the phase waits for (False: still
/// waiting; the phase does not move on before).
pub const GIT_APPLIED: &str = "GitApplied";

/// What status records per target: the commit holding the phase's last result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRecord {
    /// The commit (empty when the result was empty and the repository has no commit yet).
    pub commit: String,
    /// The branch it is on.
    pub branch: String,
    /// The phase whose result it holds.
    pub phase: String,
}

/// The outcome of a delivery that pushed everywhere.
#[derive(Debug, Clone, Default)]
pub struct Delivered {
    /// Per target name.
    pub records: BTreeMap<String, GitRecord>,
    /// Commits made (targets where the result changed files).
    pub commits: u32,
    /// Targets whose GitOps engine has not applied the commit yet, each with a sentence.
    pub waiting: Vec<String>,
}

impl Delivered {
    /// The conditions to set: `GitSynced` True, and `GitApplied` when any target waits for
    /// its engine.
    pub fn conditions(&self, waits: bool) -> Vec<Condition> {
        let pushed: Vec<String> = self
            .records
            .iter()
            .map(|(t, r)| format!("{t}: {} on {}", short(&r.commit), r.branch))
            .collect();
        let mut out = vec![Condition::new(
            GIT_SYNCED,
            true,
            "Pushed",
            pushed.join("; "),
        )];
        if waits {
            out.push(if self.waiting.is_empty() {
                Condition::new(GIT_APPLIED, true, "Applied", "every commit is applied")
            } else {
                Condition::new(
                    GIT_APPLIED,
                    false,
                    "WaitingForApply",
                    self.waiting.join("; "),
                )
            });
        }
        out
    }
}

/// The condition for a failed delivery.
pub fn failed_condition(error: &GitError) -> Condition {
    Condition::new(GIT_SYNCED, false, error.reason(), error.to_string())
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// One phase result to deliver.
#[derive(Debug)]
pub struct PhaseResult<'a> {
    /// The resource as JSON.
    pub resource: &'a Value,
    /// Its kind.
    pub kind: &'a str,
    /// The phase.
    pub phase: &'a str,
    /// `metadata.generation`.
    pub generation: i64,
    /// The outputs, checked.
    pub objects: Vec<Value>,
    /// Whether dropped outputs are pruned.
    pub prune: bool,
    /// `(apiVersion, kind)` of the declared output kinds.
    pub output_kinds: Vec<(String, String)>,
}

/// Write `result` to every Git target among `destinations`, then check the GitOps engine of
/// each target that waits for one.
///
/// # Errors
///
/// The first target whose write failed; targets before it were written (a retry finds them
/// unchanged and makes no second commit).
pub async fn deliver(
    registry: &Registry,
    client: &kube::Client,
    targets: &[GitTarget],
    destinations: &[Destination],
    result: &PhaseResult<'_>,
) -> Result<Delivered, GitError> {
    let mut out = Delivered::default();
    for name in destinations.iter().filter_map(Destination::git_target) {
        let target = targets
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| GitError::UnknownTarget(name.to_owned()))?;
        let writer = registry.writer(target)?;
        let change = Change {
            resource: result.resource,
            kind: result.kind,
            phase: result.phase,
            generation: result.generation,
            objects: &result.objects,
            prune: result.prune,
            output_kinds: result.output_kinds.clone(),
        };
        let pushed = writer.write(&change).await?;
        if pushed.committed {
            out.commits += 1;
            tracing::info!(git_target = name, commit = %pushed.commit, branch = %pushed.branch,
                           rebases = pushed.rebases, "outputs committed");
        }
        if let Some(wait) = &target.wait_for
            && !pushed.commit.is_empty()
        {
            let what = format!(
                "{name}: Kustomization {}/{} has not applied {} yet",
                wait.namespace,
                wait.kustomization,
                short(&pushed.commit)
            );
            match flux::applied_revision(client, wait).await {
                Ok(Some(applied)) => {
                    if !writer.is_applied(&pushed.commit, &applied).await? {
                        out.waiting.push(format!("{what} (it applied {applied})"));
                    }
                }
                Ok(None) => out.waiting.push(format!("{what} (it applied nothing yet)")),
                Err(e) => out.waiting.push(format!("{what} (reading it: {e})")),
            }
        }
        out.records.insert(
            name.to_owned(),
            GitRecord {
                commit: pushed.commit,
                branch: pushed.branch,
                phase: result.phase.to_owned(),
            },
        );
    }
    Ok(out)
}

/// How often a phase held for its GitOps engine looks again: Flux reports an applied revision
/// within its interval, so a short poll adds little delay and one cheap read.
pub const APPLY_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// What the reconciler does after delivering a phase result to Git.
#[derive(Debug)]
pub enum Gate {
    /// The phase sends nothing to Git: carry on.
    Unused,
    /// Pushed (and applied where the target waits): carry on, recording these.
    Ready {
        /// Per target.
        records: BTreeMap<String, GitRecord>,
        /// `GitSynced` True, `GitApplied` True where waited for.
        conditions: Vec<Condition>,
    },
    /// Pushed, not applied yet: the result does not take effect (no transition, no
    /// statusInfo) until it is; record these and look again after [`APPLY_POLL`].
    Hold {
        /// Per target.
        records: BTreeMap<String, GitRecord>,
        /// `GitSynced` True and `GitApplied` False, naming what is awaited.
        conditions: Vec<Condition>,
    },
    /// A write failed: `GitSynced` False; retried with backoff.
    Failed(GitError),
}

/// Deliver `result` to the Git targets among `destinations` and decide what the step does.
pub async fn gate(
    registry: &Registry,
    client: &kube::Client,
    targets: &[GitTarget],
    destinations: &[Destination],
    result: &PhaseResult<'_>,
) -> Gate {
    if destinations.iter().all(|d| d.git_target().is_none()) {
        return Gate::Unused;
    }
    let waits = destinations
        .iter()
        .filter_map(Destination::git_target)
        .any(|name| {
            targets
                .iter()
                .any(|t| t.name == name && t.wait_for.is_some())
        });
    match deliver(registry, client, targets, destinations, result).await {
        Err(e) => Gate::Failed(e),
        Ok(delivered) => {
            let conditions = delivered.conditions(waits);
            if delivered.waiting.is_empty() {
                Gate::Ready {
                    records: delivered.records,
                    conditions,
                }
            } else {
                Gate::Hold {
                    records: delivered.records,
                    conditions,
                }
            }
        }
    }
}
