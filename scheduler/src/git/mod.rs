//! Git as a destination of phase outputs: a phase whose `destinations` name `git:<target>`
//! has its outputs committed to that target's repository (one clean YAML file per object
//! under the resource's directory) and pushed, for a GitOps engine such as Flux to apply.
//!
//! # Why the git command line
//!
//! The writer drives the `git` program rather than a library. gix cannot push yet; git2 would
//! add libgit2 with its OpenSSL and libssh2 builds to every build of the scheduler. The git
//! CLI speaks every transport and credential form hosts accept (smart HTTP with a token, SSH
//! with a key and known_hosts), its rebase and push semantics are the ones users know, and its
//! messages reach the status as they are. The price is one process per step, which is small
//! beside a network round trip.
//!
//! # Guarantees
//!
//! - One commit per phase result that changes files; none when the repository already holds
//!   exactly the result (idempotent, like server-side apply).
//! - Writes to one target are serialised in this process; a push refused because another
//!   writer moved the branch is rebased and retried ([`writer::MAX_PUSH_ATTEMPTS`]).
//! - Nothing is recorded as done before the remote accepted the push: the caller writes the
//!   commit to status only after [`Writer::write`] returned, and every write starts from a
//!   fresh fetch, so a crash mid-push is repaired by the next attempt.

pub mod deliver;
pub mod files;
pub mod flux;
pub mod repo;
pub mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use autopilot_model::git::GitTarget;

pub use writer::{Change, Pushed, Writer};

/// Why a Git write failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The `git` program could not be run (not installed?). Not retryable until it is.
    #[error("cannot run git: {0}")]
    NoGit(#[source] std::io::Error),
    /// A credential file could not be read. Retryable: a Secret may appear or be fixed.
    #[error("git target {target}: cannot read credential file {}: {source}", path.display())]
    Credentials {
        /// The target.
        target: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A template of the target could not be rendered for this resource. Not retryable.
    #[error("git target {target}: {field}: {reason}")]
    Template {
        /// The target.
        target: String,
        /// `path` or `message`.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// An output could not be rendered as a file. Not retryable.
    #[error("git target {target}: {reason}")]
    Render {
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
    /// The remote refused the credentials. Retryable with backoff (they may be fixed).
    #[error("git target {target}: authentication failed: {stderr}")]
    AuthFailed {
        /// The target.
        target: String,
        /// git's message.
        stderr: String,
    },
    /// The branch kept moving: every push was refused. Retryable.
    #[error("git target {target}: push refused after rebasing: {stderr}")]
    Rejected {
        /// The target.
        target: String,
        /// git's message of the last refusal.
        stderr: String,
    },
    /// Another git command failed (network, server, file system). Retryable.
    #[error("git target {target}: {command} failed: {stderr}")]
    Command {
        /// The target.
        target: String,
        /// The command.
        command: String,
        /// git's message.
        stderr: String,
    },
    /// A phase names a target the operator file does not declare. Not retryable.
    #[error("unknown git target {0}")]
    UnknownTarget(String),
}

impl GitError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Self::Template { .. } | Self::Render { .. } | Self::UnknownTarget(_)
        )
    }

    /// CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoGit(_) => "GitMissing",
            Self::Credentials { .. } => "GitCredentialsUnreadable",
            Self::Template { .. } | Self::Render { .. } | Self::UnknownTarget(_) => {
                "GitTargetInvalid"
            }
            Self::AuthFailed { .. } => "GitAuthFailed",
            Self::Rejected { .. } => "GitPushRejected",
            Self::Command { .. } => "GitPushFailed",
        }
    }
}

/// The writers of the operator's targets, made on first use, each with its working clone in a
/// temporary directory that lives as long as this value. A target whose settings changed (a
/// reloaded operator file) gets a new writer and a fresh clone.
#[derive(Debug, Default)]
pub struct Registry {
    writers: std::sync::Mutex<BTreeMap<String, Arc<Writer>>>,
    dir: std::sync::OnceLock<tempfile::TempDir>,
    made: std::sync::atomic::AtomicUsize,
}

impl Registry {
    /// The writer of `target`. No clone is made before its first write, so an unreachable
    /// repository never delays start-up.
    ///
    /// # Errors
    ///
    /// The temporary directory for clones could not be created.
    pub fn writer(&self, target: &GitTarget) -> Result<Arc<Writer>, GitError> {
        let dir = match self.dir.get() {
            Some(dir) => dir,
            None => {
                let made = tempfile::Builder::new()
                    .prefix("autopilot-git-")
                    .tempdir()
                    .map_err(|e| GitError::Command {
                        target: target.name.clone(),
                        command: "creating a directory for clones".into(),
                        stderr: e.to_string(),
                    })?;
                // A racing first call may have set it; either directory serves.
                let _ = self.dir.set(made);
                self.dir.get().expect("set above")
            }
        };
        let mut writers = self.writers.lock().expect("git writers lock");
        if let Some(w) = writers.get(&target.name)
            && w.target() == target
        {
            return Ok(w.clone());
        }
        let n = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let clone = dir.path().join(format!("{}-{n}", target.name));
        let writer = Arc::new(Writer::new(target.clone(), clone));
        writers.insert(target.name.clone(), writer.clone());
        Ok(writer)
    }
}
