//! The Git writer of one target: turns a phase result into at most one commit and pushes it,
//! one change at a time per repository, rebasing and retrying when the branch moved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use autopilot_model::git::GitTarget;
use autopilot_model::template::{self, Escape, Scope};
use serde_json::Value;
use tokio::sync::Mutex;

use super::GitError;
use super::files::{self, File};
use super::repo::{PushRefused, Repo};

/// Pushes refused because the branch moved before one is given up (and retried later with
/// backoff): each retry fetches and rebases, so only a branch moving faster than one round
/// trip keeps failing.
pub const MAX_PUSH_ATTEMPTS: u32 = 8;

/// Trailer naming the resource (`namespace/name`) in every commit.
pub const RESOURCE_TRAILER: &str = "Autopilot-Resource";
/// Trailer naming the resource's kind.
pub const KIND_TRAILER: &str = "Autopilot-Kind";
/// Trailer naming the phase whose result the commit holds.
pub const PHASE_TRAILER: &str = "Autopilot-Phase";
/// Trailer naming the resource's `metadata.generation`.
pub const GENERATION_TRAILER: &str = "Autopilot-Generation";

/// One phase result for one resource.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The resource as JSON (templates render against it).
    pub resource: &'a Value,
    /// Kind of the resource.
    pub kind: &'a str,
    /// The phase.
    pub phase: &'a str,
    /// `metadata.generation`.
    pub generation: i64,
    /// The phase's outputs (checked, as they would be applied).
    pub objects: &'a [Value],
    /// Remove files of dropped outputs.
    pub prune: bool,
    /// `(apiVersion, kind)` of the phase's declared output kinds: what it may prune.
    pub output_kinds: Vec<(String, String)>,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The commit that holds the change: the new one, or the branch's head when nothing
    /// changed.
    pub commit: String,
    /// The branch it is on.
    pub branch: String,
    /// Whether a commit was made (false: the repository already held exactly this).
    pub committed: bool,
    /// Pushes refused because the branch moved, each followed by a rebase.
    pub rebases: u32,
}

/// The writer of one target. Writes are serialised: one repository, one working clone, one
/// change at a time.
#[derive(Debug)]
pub struct Writer {
    repo: Mutex<Repo>,
    target: GitTarget,
}

impl Writer {
    /// A writer whose working clone lives in `dir` (created on first use).
    pub fn new(target: GitTarget, dir: PathBuf) -> Self {
        Self {
            repo: Mutex::new(Repo::new(target.clone(), dir)),
            target,
        }
    }

    /// The target.
    pub fn target(&self) -> &GitTarget {
        &self.target
    }

    /// The directory (relative to the repository root) holding `resource`'s files.
    ///
    /// # Errors
    ///
    /// [`GitError::Template`] when the path template cannot be rendered against the resource,
    /// or renders to something outside the repository.
    pub fn directory(&self, resource: &Value) -> Result<String, GitError> {
        let path = template::render(&self.target.path, &Scope::new(resource), Escape::None)
            .map_err(|e| GitError::Template {
                target: self.target.name.clone(),
                field: "path",
                reason: e.to_string(),
            })?;
        let clean = path.trim_matches('/');
        let inside = !clean.is_empty()
            && clean
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != "..");
        if !inside {
            return Err(GitError::Template {
                target: self.target.name.clone(),
                field: "path",
                reason: format!("`{path}` is not a directory inside the repository"),
            });
        }
        Ok(clean.to_owned())
    }

    /// The commit message: the rendered subject, a blank line, and trailers that name the
    /// resource, kind, phase and generation.
    ///
    /// # Errors
    ///
    /// [`GitError::Template`] when the message template cannot be rendered.
    pub fn message(&self, change: &Change<'_>) -> Result<String, GitError> {
        let scope = Scope::new(change.resource)
            .with_var("kind", change.kind)
            .with_var("phase", change.phase)
            .with_var("generation", change.generation.to_string());
        let subject =
            template::render(&self.target.message, &scope, Escape::None).map_err(|e| {
                GitError::Template {
                    target: self.target.name.clone(),
                    field: "message",
                    reason: e.to_string(),
                }
            })?;
        let meta = |f: &str| {
            change
                .resource
                .pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (namespace, name) = (meta("namespace"), meta("name"));
        let resource = if namespace.is_empty() {
            name
        } else {
            format!("{namespace}/{name}")
        };
        Ok(format!(
            "{}\n\n{RESOURCE_TRAILER}: {resource}\n{KIND_TRAILER}: {}\n{PHASE_TRAILER}: {}\n\
             {GENERATION_TRAILER}: {}\n",
            subject.trim(),
            change.kind,
            change.phase,
            change.generation
        ))
    }

    /// The branch a change is pushed to: the target's branch, or in branch-per-change mode
    /// `<prefix>/<namespace>/<name>/g<generation>-<phase>`.
    pub fn branch_for(&self, change: &Change<'_>) -> String {
        match &self.target.branch_prefix {
            None => self.target.branch.clone(),
            Some(prefix) => {
                let meta = |f: &str| {
                    change
                        .resource
                        .pointer(&format!("/metadata/{f}"))
                        .and_then(Value::as_str)
                        .unwrap_or("_")
                        .to_owned()
                };
                format!(
                    "{prefix}/{}/{}/g{}-{}",
                    meta("namespace"),
                    meta("name"),
                    change.generation,
                    change.phase.to_ascii_lowercase()
                )
            }
        }
    }

    /// Write `change`: at most one commit, pushed.
    ///
    /// The working clone is reset to the remote branch first, so a write interrupted earlier
    /// (a crash, a failed push) leaves nothing behind; nothing is recorded as done before the
    /// remote accepted it. When nothing changed, no commit is made and the branch's head is
    /// returned. A push refused because the branch moved is rebased onto the new head and
    /// pushed again, up to [`MAX_PUSH_ATTEMPTS`] times; a rebase that conflicts is replaced by
    /// writing the change afresh onto the new head.
    ///
    /// # Errors
    ///
    /// [`GitError`]: templates (not retryable), credentials, git's own failures, refused
    /// pushes (retryable).
    pub async fn write(&self, change: &Change<'_>) -> Result<Pushed, GitError> {
        let dir = self.directory(change.resource)?;
        let message = self.message(change)?;
        let rendered = files::render(change.objects).map_err(|reason| GitError::Render {
            target: self.target.name.clone(),
            reason,
        })?;
        let base = self.target.branch.clone();
        let push_to = self.branch_for(change);
        let own_branch = push_to != base;

        let repo = self.repo.lock().await;
        repo.ensure().await?;
        let mut rebases = 0;
        let mut fresh = true;
        loop {
            if fresh {
                let exists = repo.fetch(&base).await?;
                repo.reset_to(&base, exists).await?;
                if !self.apply(&repo, &dir, &rendered, change).await? {
                    let commit = if exists {
                        repo.must(&["rev-parse", "HEAD"]).await?
                    } else {
                        String::new()
                    };
                    return Ok(Pushed {
                        commit,
                        branch: base,
                        committed: false,
                        rebases,
                    });
                }
                repo.commit(&message).await?;
                if own_branch && let Some(same) = self.same_tree_on(&repo, &push_to).await? {
                    // This very change was pushed before (a re-run after a restart).
                    return Ok(Pushed {
                        commit: same,
                        branch: push_to,
                        committed: false,
                        rebases,
                    });
                }
            }
            let commit = repo.must(&["rev-parse", "HEAD"]).await?;
            match repo.push(&push_to, own_branch).await? {
                Ok(()) => {
                    return Ok(Pushed {
                        commit,
                        branch: push_to,
                        committed: true,
                        rebases,
                    });
                }
                Err(PushRefused::Behind(stderr)) if rebases + 1 < MAX_PUSH_ATTEMPTS => {
                    tracing::debug!(git_target = %self.target.name, %stderr, "push refused, rebasing");
                    rebases += 1;
                    let exists = repo.fetch(&base).await?;
                    fresh = !exists || !repo.rebase(&base).await?;
                    let tip = format!("refs/remotes/origin/{base}");
                    if !fresh
                        && repo.must(&["rev-parse", "HEAD"]).await?
                            == repo.must(&["rev-parse", &tip]).await?
                    {
                        // Someone else pushed this very change meanwhile: our commit emptied.
                        return Ok(Pushed {
                            commit: repo.must(&["rev-parse", "HEAD"]).await?,
                            branch: base,
                            committed: false,
                            rebases,
                        });
                    }
                }
                Err(why) => return Err(repo.refused("push", why)),
            }
        }
    }

    /// Write the change into the working tree and stage it; `false` when nothing changed.
    async fn apply(
        &self,
        repo: &Repo,
        dir: &str,
        rendered: &[File],
        change: &Change<'_>,
    ) -> Result<bool, GitError> {
        let abs = repo.dir().join(dir);
        let io = |what: &str, path: &Path, e: std::io::Error| GitError::Command {
            target: self.target.name.clone(),
            command: format!("{what} {}", path.display()),
            stderr: e.to_string(),
        };
        let mut existing = BTreeMap::new();
        if let Ok(mut entries) = tokio::fs::read_dir(&abs).await {
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| io("read", &abs, e))?
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".yaml") {
                    continue;
                }
                if let Ok(text) = tokio::fs::read_to_string(entry.path()).await {
                    existing.insert(name, text);
                }
            }
        }
        let plan = files::plan(&existing, rendered, change.prune, &change.output_kinds);
        if plan.is_empty() {
            return Ok(false);
        }
        tokio::fs::create_dir_all(&abs)
            .await
            .map_err(|e| io("mkdir", &abs, e))?;
        for (name, text) in &plan.write {
            let path = abs.join(name);
            tokio::fs::write(&path, text)
                .await
                .map_err(|e| io("write", &path, e))?;
        }
        for name in &plan.remove {
            let path = abs.join(name);
            tokio::fs::remove_file(&path)
                .await
                .map_err(|e| io("remove", &path, e))?;
        }
        repo.stage(dir).await
    }

    /// In branch-per-change mode: the head of `branch` on the remote if its tree is HEAD's.
    async fn same_tree_on(&self, repo: &Repo, branch: &str) -> Result<Option<String>, GitError> {
        if !repo.fetch(branch).await? {
            return Ok(None);
        }
        let theirs = repo
            .must(&[
                "rev-parse",
                &format!("refs/remotes/origin/{branch}^{{tree}}"),
            ])
            .await?;
        let ours = repo.must(&["rev-parse", "HEAD^{tree}"]).await?;
        if theirs == ours {
            Ok(Some(
                repo.must(&["rev-parse", &format!("refs/remotes/origin/{branch}")])
                    .await?,
            ))
        } else {
            Ok(None)
        }
    }

    /// Whether `applied` (a revision a GitOps engine reports, such as Flux's
    /// `main@sha1:<sha>`) is `commit` or a descendant of it: the change is live.
    ///
    /// # Errors
    ///
    /// Git's failures; an unknown revision after a fetch counts as not applied.
    pub async fn is_applied(&self, commit: &str, applied: &str) -> Result<bool, GitError> {
        let Some(applied_sha) = revision_sha(applied) else {
            return Ok(false);
        };
        if applied_sha == commit {
            return Ok(true);
        }
        let repo = self.repo.lock().await;
        repo.ensure().await?;
        if !repo.has(applied_sha).await? || !repo.has(commit).await? {
            repo.fetch(&self.target.branch).await?;
        }
        if !repo.has(applied_sha).await? || !repo.has(commit).await? {
            return Ok(false);
        }
        repo.contains(applied_sha, commit).await
    }
}

/// The commit SHA in a revision string: Flux's `main@sha1:<sha>` (v2), `main/<sha>` (older),
/// or a bare SHA.
pub fn revision_sha(revision: &str) -> Option<&str> {
    let sha = revision
        .rsplit_once(':')
        .map(|(_, s)| s)
        .or_else(|| revision.rsplit_once('/').map(|(_, s)| s))
        .unwrap_or(revision);
    (sha.len() >= 7 && sha.chars().all(|c| c.is_ascii_hexdigit())).then_some(sha)
}

#[cfg(test)]
mod tests {
    use autopilot_model::git::{Author, DEFAULT_MESSAGE, DEFAULT_PATH};
    use serde_json::json;

    use super::*;

    fn writer(path: &str, prefix: Option<&str>) -> Writer {
        Writer::new(
            GitTarget {
                name: "fleet".into(),
                url: "http://127.0.0.1:1/fleet.git".into(),
                branch: "main".into(),
                path: path.into(),
                author: Author::default(),
                message: DEFAULT_MESSAGE.into(),
                credentials: None,
                branch_prefix: prefix.map(str::to_owned),
                wait_for: None,
            },
            PathBuf::from("/nonexistent"),
        )
    }

    #[test]
    fn directories_messages_and_branches() {
        let resource = json!({"metadata": {"name": "web", "namespace": "prod", "generation": 3},
                              "spec": {"cluster": "east"}});
        let w = writer(DEFAULT_PATH, None);
        assert_eq!(w.directory(&resource).unwrap(), "prod/web");
        let w2 = writer(
            "clusters/{{ spec.cluster }}/{{ namespace }}/{{ name }}/",
            None,
        );
        assert_eq!(w2.directory(&resource).unwrap(), "clusters/east/prod/web");
        for bad in ["{{ spec.nothing }}", "../{{ name }}", "/", "a/./b"] {
            assert!(writer(bad, None).directory(&resource).is_err(), "{bad}");
        }
        let objects = [];
        let change = Change {
            resource: &resource,
            kind: "Canary",
            phase: "Progressing",
            generation: 3,
            objects: &objects,
            prune: false,
            output_kinds: Vec::new(),
        };
        assert_eq!(
            w.message(&change).unwrap(),
            "Canary prod/web: Progressing\n\nAutopilot-Resource: prod/web\nAutopilot-Kind: Canary\n\
             Autopilot-Phase: Progressing\nAutopilot-Generation: 3\n"
        );
        assert_eq!(w.branch_for(&change), "main");
        assert_eq!(
            writer(DEFAULT_PATH, Some("autopilot")).branch_for(&change),
            "autopilot/prod/web/g3-progressing"
        );
    }

    #[test]
    fn revisions() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(revision_sha(&format!("main@sha1:{sha}")), Some(sha));
        assert_eq!(revision_sha(&format!("main/{sha}")), Some(sha));
        assert_eq!(revision_sha(sha), Some(sha));
        assert_eq!(revision_sha("main@sha1:"), None);
        assert_eq!(revision_sha(""), None);
    }
}
