//! A real Git server over SSH on loopback for tests: OpenSSH's `sshd` (Debian's
//! `openssh-server`, installed by hack/install-deps.sh) on a free port with a throwaway host key,
//! one authorised client key, and bare repositories served by git's own `git-upload-pack` /
//! `git-receive-pack` through the login shell, as on any SSH Git host.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::git_server::git;
use crate::wait;

/// An `sshd` serving Git on `127.0.0.1`; stopped when dropped.
#[derive(Debug)]
pub struct SshGitServer {
    port: u16,
    user: String,
    dir: tempfile::TempDir,
    sshd: Child,
}

impl Drop for SshGitServer {
    fn drop(&mut self) {
        let _ = self.sshd.start_kill();
    }
}

async fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "autopilot-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("ssh-keygen runs (apt-get install openssh-client)");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl SshGitServer {
    /// Starts `sshd` and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When `sshd` is missing or does not start within 30 s: this is test support.
    pub async fn start() -> Self {
        let sshd_path = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("sshd is installed (apt-get install openssh-server; hack/install-deps.sh)");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        keygen(&d.join("host")).await;
        keygen(&d.join("client")).await;
        keygen(&d.join("stranger")).await;
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all(d.join("repos")).unwrap();
        // Root's sshd separates privileges into /run/sshd, which a container may lack.
        if nix_is_root() {
            std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        }
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\n\
             AuthorizedKeysFile {keys}\nPidFile {pid}\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
             LogLevel ERROR\n",
            host = d.join("host").display(),
            keys = d.join("authorized_keys").display(),
            pid = d.join("sshd.pid").display(),
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let sshd = Command::new(sshd_path)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting sshd");
        wait::until(
            "sshd to accept connections",
            Duration::from_secs(30),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        let host_key = std::fs::read_to_string(d.join("host.pub")).unwrap();
        let mut fields = host_key.split_whitespace();
        let (algorithm, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {algorithm} {key}\n"),
        )
        .unwrap();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                if nix_is_root() {
                    "root".into()
                } else {
                    "git".into()
                }
            });
        Self {
            port,
            user,
            dir,
            sshd,
        }
    }

    /// Creates an empty bare repository `name` and returns its `ssh://` URL.
    pub async fn create_repo(&self, name: &str) -> String {
        let path = self.repo_path(name);
        git(
            &self.dir.path().join("repos"),
            &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
        )
        .await;
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// The bare repository on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.dir.path().join("repos").join(format!("{name}.git"))
    }

    /// The authorised client's private key.
    pub fn identity(&self) -> PathBuf {
        self.dir.path().join("client")
    }

    /// A key the server does not know.
    pub fn stranger_identity(&self) -> PathBuf {
        self.dir.path().join("stranger")
    }

    /// A known_hosts file with the server's host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// Subjects and files of `branch`'s head commit, read from the bare repository.
    pub async fn head(&self, name: &str, branch: &str) -> Option<(String, Vec<String>)> {
        let repo = self.repo_path(name);
        let dir = repo.to_str().unwrap();
        let out = Command::new("git")
            .args(["--git-dir", dir, "log", "-1", "--format=%s", branch])
            .output()
            .await
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let subject = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let files = git(
            &self.dir.path().join("repos"),
            &["--git-dir", dir, "ls-tree", "-r", "--name-only", branch],
        )
        .await;
        Some((subject, files.lines().map(str::to_owned).collect()))
    }
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
