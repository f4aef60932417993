//! A real Git server on loopback for tests: git's own smart-HTTP backend (`git http-backend`,
//! run as a CGI program per request) behind a small axum server, with optional HTTP basic
//! authentication and a switch that makes the next push lose a race.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A commit another writer makes on the server just before the next push is handled, so that
/// push is refused as non-fast-forward by git itself.
#[derive(Debug, Clone)]
struct Race {
    repo: String,
    branch: String,
    path: String,
    text: String,
}

#[derive(Debug, Default)]
struct Shared {
    root: PathBuf,
    credentials: Mutex<Option<(String, String)>>,
    race: Mutex<Option<Race>>,
    pushes: AtomicU32,
}

/// A Git server on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct GitServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Run `git args…` in `dir` (with no user or system config) and return stdout.
///
/// # Panics
///
/// When git fails: this is test support.
pub async fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Someone Else")
        .env("GIT_AUTHOR_EMAIL", "else@example.com")
        .env("GIT_COMMITTER_NAME", "Someone Else")
        .env("GIT_COMMITTER_EMAIL", "else@example.com")
        .output()
        .await
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

impl GitServer {
    /// Start a server with no repositories.
    ///
    /// # Panics
    ///
    /// When the listener cannot be bound.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let shared = Arc::new(Shared {
            root: dir.path().to_owned(),
            ..Shared::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            task,
            _dir: dir,
        }
    }

    /// Create an empty bare repository `name` (default branch `main`) and return its URL.
    pub async fn create_repo(&self, name: &str) -> String {
        let path = self.repo_path(name);
        tokio::fs::create_dir_all(&path).await.expect("mkdir");
        git(&path, &["init", "-q", "--bare", "-b", "main"]).await;
        // Pushes are allowed without REMOTE_USER; authentication is this server's job.
        git(&path, &["config", "http.receivepack", "true"]).await;
        self.url(name)
    }

    /// The URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}.git", self.addr)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bare repository of `name` on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.shared.root.join(format!("{name}.git"))
    }

    /// Require HTTP basic authentication with `user`/`password` for every request.
    pub fn require_basic_auth(&self, user: &str, password: &str) {
        *self.shared.credentials.lock().unwrap() = Some((user.to_owned(), password.to_owned()));
    }

    /// Make the next push lose a race: just before it is handled, another writer commits
    /// `text` at `path` on `branch` of `repo`.
    pub fn race_next_push(&self, repo: &str, branch: &str, path: &str, text: &str) {
        *self.shared.race.lock().unwrap() = Some(Race {
            repo: repo.to_owned(),
            branch: branch.to_owned(),
            path: path.to_owned(),
            text: text.to_owned(),
        });
    }

    /// Pushes started (accepted or not).
    pub fn pushes(&self) -> u32 {
        self.shared.pushes.load(Ordering::SeqCst)
    }

    /// Commits on `branch` of `repo`, newest first: `(sha, full message)`.
    pub async fn log(&self, repo: &str, branch: &str) -> Vec<(String, String)> {
        let path = self.repo_path(repo);
        let has = Command::new("git")
            .arg("-C")
            .arg(&path)
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .await
            .expect("git runs");
        if !has.status.success() {
            return Vec::new();
        }
        let out = git(&path, &["log", "--format=%H%x00%B%x1e", branch]).await;
        out.split('\x1e')
            .filter(|e| !e.trim().is_empty())
            .filter_map(|e| {
                let (sha, message) = e.trim_start().split_once('\0')?;
                Some((sha.to_owned(), message.trim().to_owned()))
            })
            .collect()
    }

    /// The text of `path` on `branch` of `repo`, `None` if absent.
    pub async fn file(&self, repo: &str, branch: &str, path: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.repo_path(repo))
            .args(["show", &format!("{branch}:{path}")])
            .output()
            .await
            .expect("git runs");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Files on `branch` of `repo` (paths), sorted.
    pub async fn files(&self, repo: &str, branch: &str) -> Vec<String> {
        if self.log(repo, branch).await.is_empty() {
            return Vec::new();
        }
        let out = git(
            &self.repo_path(repo),
            &["ls-tree", "-r", "--name-only", branch],
        )
        .await;
        let mut files: Vec<String> = out.lines().map(str::to_owned).collect();
        files.sort();
        files
    }

    /// Commit `text` at `path` on `branch` of `repo` as another writer would (through a
    /// scratch clone, pushed to the bare repository on disk).
    pub async fn commit_elsewhere(&self, repo: &str, branch: &str, path: &str, text: &str) {
        commit_elsewhere(&self.repo_path(repo), branch, path, text).await;
    }
}

async fn commit_elsewhere(bare: &Path, branch: &str, path: &str, text: &str) {
    let scratch = tempfile::tempdir().expect("temporary directory");
    let dir = scratch.path();
    git(dir, &["init", "-q", "-b", branch]).await;
    let bare_url = bare.to_string_lossy().into_owned();
    git(dir, &["remote", "add", "origin", &bare_url]).await;
    let fetched = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fetch", "-q", "origin", branch])
        .output()
        .await
        .expect("git runs");
    if fetched.status.success() {
        git(dir, &["reset", "-q", "--hard", "FETCH_HEAD"]).await;
    }
    let file = dir.join(path);
    tokio::fs::create_dir_all(file.parent().expect("a parent"))
        .await
        .expect("mkdir");
    tokio::fs::write(&file, text).await.expect("write");
    git(dir, &["add", "-A"]).await;
    git(dir, &["commit", "-q", "-m", &format!("elsewhere: {path}")]).await;
    git(
        dir,
        &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
    )
    .await;
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some((user, password)) = shared.credentials.lock().unwrap().clone() else {
        return true;
    };
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == want)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")
            .body(Body::from("authentication required\n"))
            .expect("response");
    }
    let path = uri.path().to_owned();
    // A push starts by asking for the refs it will update; a commit made elsewhere right then
    // is what a slower writer meets: git refuses the push as non-fast-forward ("fetch first").
    if method == Method::GET
        && path.ends_with("/info/refs")
        && uri.query() == Some("service=git-receive-pack")
    {
        shared.pushes.fetch_add(1, Ordering::SeqCst);
        let race = shared.race.lock().unwrap().take();
        if let Some(race) = race {
            let bare = shared.root.join(format!("{}.git", race.repo));
            commit_elsewhere(&bare, &race.branch, &race.path, &race.text).await;
        }
    }
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH_INFO", &path)
        .env("REQUEST_METHOD", method.as_str())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header_text(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header_text(header::CONTENT_ENCODING),
        )
        .env("GIT_PROTOCOL", {
            headers
                .get("git-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        })
        .env("REMOTE_USER", "autopilot-test")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let Ok(mut child) = cmd.spawn() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot run git http-backend",
        );
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let Ok(out) = child.wait_with_output().await else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed");
    };
    let _ = writer.await;
    cgi_response(&out.stdout)
}

fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .body(Body::from(format!("{text}\n")))
        .expect("response")
}

/// Turn a CGI program's output (headers, a blank line, the body) into a response.
fn cgi_response(out: &[u8]) -> Response {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return plain(StatusCode::BAD_GATEWAY, "malformed CGI output");
    };
    let head = String::from_utf8_lossy(&out[..end]);
    let mut response = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(Body::from(out[end + sep..].to_vec()))
        .expect("response")
}
