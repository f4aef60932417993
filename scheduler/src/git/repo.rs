//! One local clone of a target's repository, driven through the `git` command line with the
//! target's credentials; every call names what failed and keeps git's own message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use autopilot_model::git::{CredentialFiles, GitTarget};
use base64::Engine as _;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::GitError;

/// How a push ended when git did not accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefused {
    /// The branch moved on the remote since it was fetched (non-fast-forward, "fetch first").
    Behind(String),
    /// The remote refused the credentials.
    Auth(String),
    /// Anything else: network, hooks, server errors.
    Other(String),
}

/// Classify git's stderr of a failed fetch or push.
pub fn classify(stderr: &str) -> PushRefused {
    let lower = stderr.to_ascii_lowercase();
    let text = stderr.trim().to_owned();
    if lower.contains("non-fast-forward")
        || lower.contains("updates were rejected")
        || lower.contains("fetch first")
        || lower.contains("[rejected]")
        || lower.contains("cannot lock ref")
        || lower.contains("failed to update ref")
        || lower.contains("stale info")
    {
        PushRefused::Behind(text)
    } else if lower.contains("authentication failed")
        || lower.contains("could not read username")
        || lower.contains("could not read password")
        || lower.contains("permission denied")
        || lower.contains("403")
        || lower.contains("401")
        || lower.contains("host key verification failed")
    {
        PushRefused::Auth(text)
    } else {
        PushRefused::Other(text)
    }
}

/// A local working clone under `dir` of `target`'s repository.
#[derive(Debug)]
pub struct Repo {
    target: GitTarget,
    dir: PathBuf,
    /// Private copies of secrets git needs as files (an SSH key must not be group-readable).
    secrets: PathBuf,
}

/// Output of a git command that succeeded.
type Out = String;

impl Repo {
    /// A clone of `target` in `dir` (created on first use).
    pub fn new(target: GitTarget, dir: PathBuf) -> Self {
        let secrets = dir.with_extension("secrets");
        Self {
            target,
            dir,
            secrets,
        }
    }

    /// The working tree.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The target.
    pub fn target(&self) -> &GitTarget {
        &self.target
    }

    /// Environment for git: no prompts, no user or system config, the author, and credentials
    /// read from their files now (so a rotated Secret is used at the next call).
    async fn env(&self) -> Result<BTreeMap<String, String>, GitError> {
        let t = &self.target;
        let mut env: BTreeMap<String, String> = [
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_AUTHOR_NAME", t.author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", t.author.email.as_str()),
            ("GIT_COMMITTER_NAME", t.author.name.as_str()),
            ("GIT_COMMITTER_EMAIL", t.author.email.as_str()),
            ("LC_ALL", "C"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut config: Vec<(String, String)> = vec![
            // Never let a hook or an editor of the host take part.
            ("core.hooksPath".into(), "/dev/null".into()),
            ("commit.gpgSign".into(), "false".into()),
        ];
        let files = t
            .credentials
            .as_ref()
            .map(|c| c.files(t))
            .unwrap_or_default();
        if t.is_ssh() {
            if let (Some(identity), Some(known_hosts)) =
                (&files.identity_file, &files.known_hosts_file)
            {
                let key = self.private_copy(identity, "identity").await?;
                let hosts = self.private_copy(known_hosts, "known_hosts").await?;
                env.insert(
                    "GIT_SSH_COMMAND".into(),
                    format!(
                        "ssh -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' \
                         -o StrictHostKeyChecking=yes -o BatchMode=yes",
                        key.display(),
                        hosts.display()
                    ),
                );
            }
        } else if let Some(header) =
            basic_auth(&files)
                .await
                .map_err(|(path, source)| GitError::Credentials {
                    target: t.name.clone(),
                    path,
                    source,
                })?
        {
            // Passed as config through the environment, never on the command line.
            config.push(("http.extraHeader".into(), header));
        }
        env.insert("GIT_CONFIG_COUNT".into(), config.len().to_string());
        for (i, (k, v)) in config.into_iter().enumerate() {
            env.insert(format!("GIT_CONFIG_KEY_{i}"), k);
            env.insert(format!("GIT_CONFIG_VALUE_{i}"), v);
        }
        Ok(env)
    }

    /// Copy `path` to a file only this process's user can read.
    async fn private_copy(&self, path: &Path, name: &str) -> Result<PathBuf, GitError> {
        let fail = |source| GitError::Credentials {
            target: self.target.name.clone(),
            path: path.to_owned(),
            source,
        };
        let bytes = tokio::fs::read(path).await.map_err(fail)?;
        tokio::fs::create_dir_all(&self.secrets)
            .await
            .map_err(fail)?;
        let copy = self.secrets.join(name);
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true).mode(0o600);
        let mut file = options.open(&copy).await.map_err(fail)?;
        file.write_all(&bytes).await.map_err(fail)?;
        Ok(copy)
    }

    /// Run `git args…` in the clone; `Err` carries git's stderr.
    pub async fn git(&self, args: &[&str]) -> Result<Result<Out, String>, GitError> {
        self.git_input(args, None).await
    }

    /// Run `git args…` with `input` on stdin.
    pub async fn git_input(
        &self,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<Result<Out, String>, GitError> {
        let env = self.env().await?;
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.dir)
            .args(args)
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| k == "PATH" || k == "HOME"))
            .envs(&env)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(GitError::NoGit)?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .await
                .map_err(GitError::NoGit)?;
        }
        let out = child.wait_with_output().await.map_err(GitError::NoGit)?;
        if out.status.success() {
            Ok(Ok(String::from_utf8_lossy(&out.stdout)
                .trim_end()
                .to_owned()))
        } else {
            // `push --porcelain` reports each ref's fate on stdout: keep both.
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            Ok(Err(format!("{}\n{}", stderr.trim(), stdout.trim())
                .trim()
                .to_owned()))
        }
    }

    /// Run a git command that must succeed.
    pub async fn must(&self, args: &[&str]) -> Result<Out, GitError> {
        self.git(args).await?.map_err(|stderr| GitError::Command {
            target: self.target.name.clone(),
            command: format!("git {}", args.join(" ")),
            stderr,
        })
    }

    /// Create the clone if it is not there yet.
    pub async fn ensure(&self) -> Result<(), GitError> {
        if self.dir.join(".git").is_dir() {
            return Ok(());
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| GitError::Command {
                target: self.target.name.clone(),
                command: format!("mkdir {}", self.dir.display()),
                stderr: e.to_string(),
            })?;
        self.must(&["init", "-q"]).await?;
        self.must(&["remote", "add", "origin", &self.target.url])
            .await?;
        Ok(())
    }

    /// Fetch `branch` into `refs/remotes/origin/<branch>`; `Ok(false)` when the remote has no
    /// such branch (an empty repository).
    pub async fn fetch(&self, branch: &str) -> Result<bool, GitError> {
        let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
        match self
            .git(&["fetch", "-q", "--no-tags", "origin", &spec])
            .await?
        {
            Ok(_) => Ok(true),
            Err(stderr) if stderr.contains("couldn't find remote ref") => {
                // Forget a remote-tracking ref of a branch deleted on the remote.
                let _ = self
                    .git(&["update-ref", "-d", &format!("refs/remotes/origin/{branch}")])
                    .await?;
                Ok(false)
            }
            Err(stderr) => Err(self.refused("fetch", classify(&stderr))),
        }
    }

    /// Make the working tree exactly the fetched `branch` (or empty, when the remote has none):
    /// whatever an interrupted earlier attempt left behind is dropped.
    pub async fn reset_to(&self, branch: &str, exists: bool) -> Result<(), GitError> {
        let _ = self.git(&["rebase", "--abort"]).await?;
        if exists {
            self.must(&[
                "checkout",
                "-q",
                "-f",
                "-B",
                "autopilot-work",
                &format!("refs/remotes/origin/{branch}"),
            ])
            .await?;
        } else {
            self.must(&["checkout", "-q", "-f", "--orphan", "autopilot-empty"])
                .await?;
            let _ = self.git(&["rm", "-rqf", "--ignore-unmatch", "."]).await?;
            let _ = self.git(&["branch", "-D", "autopilot-work"]).await?;
            self.must(&["checkout", "-q", "-f", "--orphan", "autopilot-work"])
                .await?;
            let _ = self.git(&["branch", "-D", "autopilot-empty"]).await?;
        }
        self.must(&["clean", "-qfdx"]).await?;
        Ok(())
    }

    /// Stage everything under `path`; `true` when the index differs from HEAD.
    pub async fn stage(&self, path: &str) -> Result<bool, GitError> {
        self.must(&["add", "-A", "--", path]).await?;
        match self.git(&["diff", "--cached", "--quiet"]).await? {
            Ok(_) => Ok(false),
            Err(stderr) if stderr.is_empty() => Ok(true),
            Err(stderr) => Err(GitError::Command {
                target: self.target.name.clone(),
                command: "git diff --cached --quiet".into(),
                stderr,
            }),
        }
    }

    /// Commit the index with `message`; returns the new commit's SHA.
    pub async fn commit(&self, message: &str) -> Result<String, GitError> {
        self.git_input(&["commit", "-q", "--no-verify", "-F", "-"], Some(message))
            .await?
            .map_err(|stderr| GitError::Command {
                target: self.target.name.clone(),
                command: "git commit".into(),
                stderr,
            })?;
        self.must(&["rev-parse", "HEAD"]).await
    }

    /// Push HEAD to `branch`; `force` for a branch of our own (branch-per-change mode).
    pub async fn push(
        &self,
        branch: &str,
        force: bool,
    ) -> Result<Result<(), PushRefused>, GitError> {
        let spec = format!("{}HEAD:refs/heads/{branch}", if force { "+" } else { "" });
        Ok(self
            .git(&["push", "-q", "--porcelain", "origin", &spec])
            .await?
            .map(drop)
            .map_err(|stderr| classify(&stderr)))
    }

    /// Replay local commits onto the freshly fetched `branch`; `false` on a conflict (aborted).
    pub async fn rebase(&self, branch: &str) -> Result<bool, GitError> {
        match self
            .git(&["rebase", "-q", &format!("refs/remotes/origin/{branch}")])
            .await?
        {
            Ok(_) => Ok(true),
            Err(_) => {
                let _ = self.git(&["rebase", "--abort"]).await?;
                Ok(false)
            }
        }
    }

    /// Whether `ancestor` is `commit` or one of its ancestors (both must be present locally).
    pub async fn contains(&self, commit: &str, ancestor: &str) -> Result<bool, GitError> {
        Ok(self
            .git(&["merge-base", "--is-ancestor", ancestor, commit])
            .await?
            .is_ok())
    }

    /// Whether the object `sha` is present locally.
    pub async fn has(&self, sha: &str) -> Result<bool, GitError> {
        Ok(self
            .git(&["cat-file", "-e", &format!("{sha}^{{commit}}")])
            .await?
            .is_ok())
    }

    /// The error for a refused fetch or push.
    pub fn refused(&self, what: &str, why: PushRefused) -> GitError {
        let target = self.target.name.clone();
        match why {
            PushRefused::Auth(stderr) => GitError::AuthFailed { target, stderr },
            PushRefused::Behind(stderr) => GitError::Rejected { target, stderr },
            PushRefused::Other(stderr) => GitError::Command {
                target,
                command: format!("git {what}"),
                stderr,
            },
        }
    }
}

/// `Authorization: Basic …` from the username and password files, if a password is given.
async fn basic_auth(files: &CredentialFiles) -> Result<Option<String>, (PathBuf, std::io::Error)> {
    let Some(password_file) = &files.password_file else {
        return Ok(None);
    };
    let read = |path: PathBuf| async move {
        tokio::fs::read_to_string(&path)
            .await
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| (path, e))
    };
    let password = read(password_file.clone()).await?;
    let username = match &files.username_file {
        Some(path) => read(path.clone()).await?,
        None => "git".to_owned(),
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    Ok(Some(format!("Authorization: Basic {token}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_classified() {
        let cases = [
            (
                " ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs",
                "behind",
            ),
            (
                "! [remote rejected] HEAD -> main (non-fast-forward)",
                "behind",
            ),
            (
                "fatal: Authentication failed for 'http://127.0.0.1:1/r.git/'",
                "auth",
            ),
            (
                "fatal: unable to access 'http://h/r.git/': The requested URL returned error: 403",
                "auth",
            ),
            ("git@h: Permission denied (publickey).", "auth"),
            (
                "fatal: unable to access 'http://h/': Failed to connect",
                "other",
            ),
        ];
        for (stderr, want) in cases {
            let got = match classify(stderr) {
                PushRefused::Behind(_) => "behind",
                PushRefused::Auth(_) => "auth",
                PushRefused::Other(_) => "other",
            };
            assert_eq!(got, want, "{stderr}");
        }
    }
}
