//! Python workers: the SDK's own checks, the golden generated project (current, and clean under
//! pytest, ruff and mypy --strict), the conformance worker's checks, and the new-user path
//! (`ap init` → `ap generate --lang python` → a worker moving a resource to its final phase on a
//! real control plane).
//!
//! The toolchain is the venv `hack/deps/python.sh` installs at
//! `${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/venv`; a test fails with that hint when it is
//! missing.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::{project, wait};
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

/// How long the new-user resource may take from creation to its final phase.
const FINAL_PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Directories the Python tools write as caches; never part of a project.
const CACHE_DIRS: &[&str] = &["__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The venv of hack/deps/python.sh, or a panic that says how to get it.
fn venv() -> PathBuf {
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/autopilot")
        });
    let venv = cache.join("venv");
    for tool in ["python", "pytest", "ruff", "mypy"] {
        assert!(
            venv.join("bin").join(tool).exists(),
            "the Python toolchain is missing ({} not found): run `bash hack/deps/python.sh` \
             (hack/test.sh runs it)",
            venv.join("bin").join(tool).display()
        );
    }
    venv
}

/// Path of the `ap` binary beside the test binary, brought up to date once per test process.
fn ap() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            // target/<profile>/deps/<test> -> target/<profile>/ap
            let dir = exe.parent().and_then(Path::parent).expect("target dir");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "autopilot-cli", "--bin", "ap"])
                .status()
                .expect("running cargo build");
            assert!(status.success(), "building ap");
            dir.join("ap")
        })
        .clone()
}

/// Runs `command`, panicking with its whole output when it fails.
fn run(what: &str, command: &mut Command) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A Python tool of the venv, run in `dir` without writing caches into it.
fn tool(venv: &Path, name: &str, dir: &Path, site: Option<&Path>, caches: &Path) -> Command {
    let mut command = Command::new(venv.join("bin").join(name));
    command
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("MYPY_CACHE_DIR", caches.join("mypy"))
        .env("RUFF_CACHE_DIR", caches.join("ruff"))
        .env_remove("PYTHONPATH");
    if let Some(site) = site {
        command.env("PYTHONPATH", site);
    }
    command
}

/// Installs the SDK and the worker project in `worker` into `site` (a fresh directory): the
/// project builds with its own `pyproject.toml`.
fn build(venv: &Path, worker: &Path, site: &Path) {
    run(
        &format!("building {}", worker.display()),
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-compile",
                "--target",
            ])
            .arg(site)
            .arg(repo_root().join("sdk-python"))
            .arg(worker)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
}

/// pytest, `ruff check`, `ruff format --check` and `mypy --strict` (from the project's
/// pyproject.toml) in `dir`, with the built packages in `site`.
fn check_project(venv: &Path, dir: &Path, site: Option<&Path>) {
    let caches = tempfile::tempdir().unwrap();
    let c = caches.path();
    let out = run(
        &format!("pytest in {}", dir.display()),
        tool(venv, "pytest", dir, site, c).args(["-q", "-p", "no:cacheprovider"]),
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
    run(
        &format!("ruff check in {}", dir.display()),
        tool(venv, "ruff", dir, site, c).args(["check", "--no-cache"]),
    );
    run(
        &format!("ruff format --check in {}", dir.display()),
        tool(venv, "ruff", dir, site, c).args(["format", "--check", "--no-cache"]),
    );
    run(
        &format!("mypy --strict in {}", dir.display()),
        tool(venv, "mypy", dir, site, c).arg("--strict"),
    );
}

/// Every file under `dir` (except tool caches) by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if CACHE_DIRS.contains(&name.as_str()) {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn sdk_python_passes_its_tests_lint_and_types() {
    let venv = venv();
    check_project(&venv, &repo_root().join("sdk-python"), None);
}

/// `tests/golden/regenerate-python.sh` run into a temporary directory reproduces the checked-in
/// `tests/golden/python` byte for byte. After an intended change, run the script and commit.
#[test]
fn golden_python_project_is_current() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("python");
    let root = repo_root();
    run(
        "tests/golden/regenerate-python.sh",
        Command::new("bash")
            .arg(root.join("tests/golden/regenerate-python.sh"))
            .arg(&out)
            .env("AP", ap()),
    );
    let golden = tree(&root.join("tests/golden/python"));
    let fresh = tree(&out);
    assert_eq!(
        golden.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "file lists differ; run tests/golden/regenerate-python.sh"
    );
    for (path, contents) in &golden {
        assert!(
            fresh[path] == *contents,
            "{path} differs from a fresh generation; run tests/golden/regenerate-python.sh"
        );
    }
}

#[test]
fn golden_python_worker_builds_and_passes_its_checks() {
    let venv = venv();
    let worker = repo_root().join("tests/golden/python/worker");
    let site = tempfile::tempdir().unwrap();
    build(&venv, &worker, site.path());
    check_project(&venv, &worker, Some(site.path()));
}

#[test]
fn conformance_python_worker_builds_and_passes_its_checks() {
    let venv = venv();
    let worker = repo_root().join("tests/conformance/workers/python/worker");
    let site = tempfile::tempdir().unwrap();
    build(&venv, &worker, site.path());
    check_project(&venv, &worker, Some(site.path()));
}

/// The handlers a new user writes into the scaffold of `ap init`'s Canary: Initializing starts
/// at weight 0, Processing adds stepWeight per round until 100, then finishes.
const INITIALIZING: &str = r#""""Initializing: start the canary at weight 0."""

from autopilot_sdk import Context, Outcome

from canary_worker.model import Spec, StatusInfo


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Start at weight 0."""
    return Outcome.next("Processing").status(StatusInfo(weight=0))
"#;

const PROCESSING: &str = r#""""Processing: shift traffic step by step."""

from datetime import timedelta

from autopilot_sdk import Context, Outcome

from canary_worker.model import Spec, StatusInfo


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Add stepWeight per round; finish at 100."""
    previous = ctx.status_info.weight if ctx.status_info else None
    weight = min(100, (previous or 0) + (ctx.spec.step_weight or 10))
    if weight < 100:
        return (
            Outcome.stay()
            .status(StatusInfo(weight=weight))
            .requeue_after(timedelta(milliseconds=100))
        )
    return (
        Outcome.next("Finished")
        .status(StatusInfo(weight=weight))
        .event_normal("Promoted", f"{ctx.spec.target} takes all traffic")
    )
"#;

/// A free loopback port for the worker.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A worker process; killed when dropped.
struct WorkerProcess(std::process::Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    run(
        &format!("kubectl {}", args.join(" ")),
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_user_python_worker_moves_a_canary_to_its_final_phase() {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("myop");
    let dir_arg = dir.to_str().unwrap();

    // ap init, then the one edit: the worker is written in Python.
    run(
        "ap init",
        Command::new(ap()).args([
            "init",
            dir_arg,
            "--kind",
            "Canary",
            "--group",
            "canary.example.com",
            "--version",
            "v1alpha1",
        ]),
    );
    let mut autopilot_yaml = std::fs::read_to_string(dir.join("autopilot.yaml")).unwrap();
    autopilot_yaml.push_str("\nworkers:\n  - name: canary-worker\n    language: python\n");
    std::fs::write(dir.join("autopilot.yaml"), &autopilot_yaml).unwrap();
    let sdk = repo_root().join("sdk-python");
    run(
        "ap generate --lang python",
        Command::new(ap())
            .args(["generate", dir_arg, "--lang", "python", "--sdk-path"])
            .arg(&sdk),
    );

    // The user's handlers, then build and check the project as the user would.
    let worker = dir.join("worker");
    let phases = worker.join("src/canary_worker/phases");
    std::fs::write(phases.join("initializing.py"), INITIALIZING).unwrap();
    std::fs::write(phases.join("processing.py"), PROCESSING).unwrap();
    let site = tmp.path().join("site");
    build(&venv, &worker, &site);
    check_project(&venv, &worker, Some(&site));

    // The worker, and the scheduler pointed at it, against the shared control plane.
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let kubeconfig = cp.kubeconfig_path().to_path_buf();
    let ns = cp.namespace("lang-python").await.expect("namespace");
    let port = free_port();
    let worker_log = std::fs::File::create(tmp.path().join("worker.log")).unwrap();
    let _worker = WorkerProcess(
        Command::new(venv.join("bin/python"))
            .args(["-m", "canary_worker"])
            .env("PYTHONPATH", &site)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(worker_log.try_clone().unwrap()))
            .stderr(Stdio::from(worker_log))
            .spawn()
            .expect("starting the Python worker"),
    );
    kubectl(
        &kubeconfig,
        &["apply", "-f", dir.join("deploy/crd.yaml").to_str().unwrap()],
    );
    kubectl(
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/canaries.canary.example.com",
        ],
    );
    // The generated autopilot.yaml as is; the operator file points at the worker with short,
    // test-friendly timings.
    project::write(
        &dir,
        &autopilot_yaml,
        &format!("http://127.0.0.1:{port}"),
        "",
    );
    let scheduler = SchedulerProcess::start(&dir, &kubeconfig, ns.name(), &[]);
    kubectl(
        &kubeconfig,
        &[
            "apply",
            "-n",
            ns.name(),
            "-f",
            dir.join("deploy/example.yaml").to_str().unwrap(),
        ],
    );

    let canaries: Api<DynamicObject> = Api::namespaced_with(
        cp.client(),
        ns.name(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("canary.example.com", "v1alpha1", "Canary"),
            "canaries",
        ),
    );
    let status = wait::until(
        "Canary example-canary to reach phase Finished",
        FINAL_PHASE_TIMEOUT,
        || async {
            let status = match canaries.get("example-canary").await {
                Ok(c) => c.data["status"].clone(),
                Err(e) => return Err(e.to_string()),
            };
            if status["phase"] == "Finished" {
                Ok(status)
            } else {
                Err(format!(
                    "{status}\n--- scheduler log\n{}\n--- worker log\n{}",
                    scheduler.log_text(),
                    std::fs::read_to_string(tmp.path().join("worker.log")).unwrap_or_default()
                ))
            }
        },
    )
    .await;
    assert_eq!(status["statusInfo"]["weight"], 100, "{status}");
}
