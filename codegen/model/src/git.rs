//! Git targets (`git:` in `autopilot-operator.yaml`) and where a phase's outputs go
//! (`destinations:` of a phase in `autopilot.yaml`).
//!
//! A phase's outputs are server-side applied by default. A phase may instead (or as well) send
//! them to a named Git target: the scheduler commits them as YAML files under a directory of
//! the repository and pushes, and a GitOps engine such as Flux applies them from there.
//!
//! Credentials use Flux's own Secret layout, so one Secret serves both Flux and the operator:
//! `username` and `password` (a token) for HTTPS, `identity` (a private key) and `known_hosts`
//! for SSH. They are read from files at every push, so a rotated Secret takes effect without a
//! restart.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::duration;

/// Where the generated Deployment mounts the Secret of target `name`:
/// `/var/run/autopilot/git/<name>`.
pub const SECRET_MOUNT_ROOT: &str = "/var/run/autopilot/git";
/// Default branch of a target.
pub const DEFAULT_BRANCH: &str = "main";
/// Default directory template: one directory per resource.
pub const DEFAULT_PATH: &str = "{{ namespace }}/{{ name }}";
/// Default commit subject; trailers naming resource, phase and generation are always added.
pub const DEFAULT_MESSAGE: &str = "{{ kind }} {{ namespace }}/{{ name }}: {{ phase }}";
/// Default author of commits.
pub const DEFAULT_AUTHOR_NAME: &str = "Autopilot";
/// Default author e-mail of commits.
pub const DEFAULT_AUTHOR_EMAIL: &str = "autopilot@localhost";
/// How long a phase waits for the GitOps engine to apply its commit before it is reported as
/// stuck (it keeps waiting; the condition says so): Flux's default interval is one minute.
pub const DEFAULT_APPLY_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// One named Git repository the operator may write to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitTarget {
    /// The name phases use (`git:<name>`); a DNS-1123 label.
    pub name: String,
    /// Repository URL: `https://…`, `http://…`, `ssh://user@host/path` or `user@host:path`.
    pub url: String,
    /// Branch commits are pushed to (and rebased onto).
    pub branch: String,
    /// Directory of a resource's files, a template over the resource (`{{ namespace }}`,
    /// `{{ name }}`, `{{ spec.… }}`).
    pub path: String,
    /// Commit author (and committer).
    pub author: Author,
    /// Commit subject template; besides the resource's fields it knows `{{ kind }}`,
    /// `{{ phase }}` and `{{ generation }}`.
    pub message: String,
    /// Where credentials are read from; `None` for a repository that needs none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// Push every change to a branch of its own (`<branchPrefix>/<namespace>/<name>/g<generation>-<phase>`)
    /// instead of `branch`: the shape a pull-request flow needs. `None` pushes to `branch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_prefix: Option<String>,
    /// Wait for a Flux Kustomization to apply the commit before the phase moves on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<WaitFor>,
}

impl GitTarget {
    /// The directory the Secret named in [`Credentials::Secret`] is mounted at.
    pub fn secret_mount(&self) -> PathBuf {
        PathBuf::from(SECRET_MOUNT_ROOT).join(&self.name)
    }

    /// Whether the URL is an SSH one (`ssh://…` or scp-like `user@host:path`).
    pub fn is_ssh(&self) -> bool {
        is_ssh_url(&self.url)
    }
}

/// Commit author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Author {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Self {
            name: DEFAULT_AUTHOR_NAME.to_owned(),
            email: DEFAULT_AUTHOR_EMAIL.to_owned(),
        }
    }
}

/// Where a target's credentials come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Credentials {
    /// A Secret in Flux's layout (`username`/`password` or `identity`/`known_hosts`), which the
    /// generated Deployment mounts at [`GitTarget::secret_mount`].
    Secret(String),
    /// Files on the scheduler's file system (for `ap run` and tests).
    Files(CredentialFiles),
}

/// Credential files; for HTTPS `password_file` (a token) with an optional `username_file`, for
/// SSH `identity_file` with `known_hosts_file`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialFiles {
    /// HTTPS user name; `git` when absent (token-based hosts ignore it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_file: Option<PathBuf>,
    /// HTTPS password or token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// SSH private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// SSH known_hosts; required with `identity_file` (host keys are always checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<PathBuf>,
}

impl Credentials {
    /// The files to read, wherever they live.
    pub fn files(&self, target: &GitTarget) -> CredentialFiles {
        match self {
            Self::Files(files) => files.clone(),
            Self::Secret(_) => {
                let dir = target.secret_mount();
                if target.is_ssh() {
                    CredentialFiles {
                        identity_file: Some(dir.join("identity")),
                        known_hosts_file: Some(dir.join("known_hosts")),
                        ..CredentialFiles::default()
                    }
                } else {
                    CredentialFiles {
                        username_file: Some(dir.join("username")),
                        password_file: Some(dir.join("password")),
                        ..CredentialFiles::default()
                    }
                }
            }
        }
    }
}

/// The Flux Kustomization whose `status.lastAppliedRevision` shows a commit applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitFor {
    /// Namespace of the Kustomization.
    pub namespace: String,
    /// Name of the Kustomization.
    pub kustomization: String,
    /// After this long without the commit applied, the condition reports it as overdue.
    #[serde(serialize_with = "duration::serialize")]
    pub timeout: Duration,
}

/// Where a phase's outputs go.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    /// Server-side applied to the cluster (the default).
    Apply,
    /// Committed to the named Git target.
    Git(String),
}

impl Destination {
    /// Parse `apply` or `git:<target>`.
    ///
    /// # Errors
    ///
    /// A sentence naming the accepted forms.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "apply" => Ok(Self::Apply),
            _ => match text.strip_prefix("git:") {
                Some(name) if !name.is_empty() => Ok(Self::Git(name.to_owned())),
                _ => Err(format!(
                    "`{text}` is not a destination (`apply` or `git:<target>`)"
                )),
            },
        }
    }

    /// The Git target's name, if this is one.
    pub fn git_target(&self) -> Option<&str> {
        match self {
            Self::Git(name) => Some(name),
            Self::Apply => None,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Apply => f.write_str("apply"),
            Self::Git(name) => write!(f, "git:{name}"),
        }
    }
}

impl Serialize for Destination {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl crate::Project {
    /// Whether any phase sends its outputs to a Git target.
    pub fn sends_to_git(&self) -> bool {
        self.phases
            .iter()
            .any(|p| p.destinations.iter().any(|d| d.git_target().is_some()))
    }
}

/// Whether `destinations` is the default, `[apply]` (not serialized, so generated output that
/// shows the model stays as it was for projects that do not use Git).
#[allow(clippy::ptr_arg)] // serde's skip_serializing_if passes &Vec
pub fn is_apply_only(destinations: &Vec<Destination>) -> bool {
    destinations.as_slice() == [Destination::Apply]
}

/// Whether `url` is an SSH URL (`ssh://…` or scp-like `user@host:path`).
pub fn is_ssh_url(url: &str) -> bool {
    url.starts_with("ssh://")
        || (!url.contains("://")
            && url
                .split_once(':')
                .is_some_and(|(host, _)| host.contains('@') && !host.contains('/')))
}

/// Check a repository URL's form.
///
/// # Errors
///
/// A sentence naming the accepted forms.
pub fn check_url(url: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "`{url}` is not a Git URL (https://host/path, http://host/path, ssh://user@host/path \
             or user@host:path)"
        )
    };
    if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))
    {
        let (host, path) = rest.split_once('/').ok_or_else(bad)?;
        if host.is_empty() || path.is_empty() {
            return Err(bad());
        }
        return Ok(());
    }
    if is_ssh_url(url) && url.split_once(':').is_some_and(|(_, p)| !p.is_empty()) {
        return Ok(());
    }
    Err(bad())
}

/// Check a branch name by git's rules that matter here (`git check-ref-format --branch`).
///
/// # Errors
///
/// A sentence saying what is wrong.
pub fn check_branch(branch: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{branch}` is not a branch name: {why}"));
    if branch.is_empty() {
        return bad("it is empty");
    }
    if branch.starts_with('-') || branch.starts_with('/') || branch.ends_with('/') {
        return bad("it starts with '-' or '/', or ends with '/'");
    }
    if branch.ends_with(".lock") || branch.ends_with('.') {
        return bad("it ends with '.lock' or '.'");
    }
    if branch.contains("..") || branch.contains("//") || branch.contains("@{") {
        return bad("it contains '..', '//' or '@{'");
    }
    if branch
        .chars()
        .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
    {
        return bad("it contains a space, a control character or one of ~^:?*[\\");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(Destination::parse("apply"), Ok(Destination::Apply));
        assert_eq!(
            Destination::parse("git:fleet"),
            Ok(Destination::Git("fleet".into()))
        );
        for bad in ["git:", "git", "Apply", "ssa"] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Destination::Git("a".into()).to_string(), "git:a");
    }

    #[test]
    fn urls() {
        for ok in [
            "https://git.example.com/org/fleet.git",
            "http://127.0.0.1:8080/fleet.git",
            "ssh://git@git.example.com/org/fleet.git",
            "git@github.com:org/fleet.git",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://x/y",
            "https://host",
            "https:///path",
            "/srv/git/fleet",
            "host:path",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(is_ssh_url("git@h:o/r"));
        assert!(is_ssh_url("ssh://git@h/o/r"));
        assert!(!is_ssh_url("https://h/o/r"));
    }

    #[test]
    fn branches() {
        for ok in ["main", "release/1.2", "autopilot/changes"] {
            assert_eq!(check_branch(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-x", "a..b", "a b", "x.lock", "a/", "a:b", "a~1"] {
            assert!(check_branch(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_credentials_follow_flux_layout() {
        let mut target = GitTarget {
            name: "fleet".into(),
            url: "https://h/o/r.git".into(),
            branch: DEFAULT_BRANCH.into(),
            path: DEFAULT_PATH.into(),
            author: Author::default(),
            message: DEFAULT_MESSAGE.into(),
            credentials: Some(Credentials::Secret("fleet-git".into())),
            branch_prefix: None,
            wait_for: None,
        };
        let files = target.credentials.clone().unwrap().files(&target);
        assert_eq!(
            files.password_file,
            Some(PathBuf::from("/var/run/autopilot/git/fleet/password"))
        );
        target.url = "git@h:o/r.git".into();
        let files = target.credentials.clone().unwrap().files(&target);
        assert_eq!(
            files.known_hosts_file,
            Some(PathBuf::from("/var/run/autopilot/git/fleet/known_hosts"))
        );
    }
}
