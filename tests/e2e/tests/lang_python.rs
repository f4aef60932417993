//! Python workers: the SDK's own checks, the golden generated project (current, and clean under
//! pytest, ruff and mypy --strict), the conformance worker's checks, and the new-user path
//! (`ap init` → `ap generate --lang python` → `ap run` moving a resource to its final phase on a
//! real control plane; see `autopilot_e2e::new_user`).
//!
//! The toolchain is the venv `hack/deps/python.sh` installs at
//! `${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/venv`; a test fails with that hint when it is
//! missing.
use std::path::{Path, PathBuf};
use std::process::Command;

use autopilot_e2e::new_user::{Project, ap, cache, root, run, tree};

/// The CR's API group of the new-user test: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-python.e2e.autopilot.dev";

/// Directories the Python tools write as caches; never part of a project.
const CACHE_DIRS: &[&str] = &["__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"];

/// The venv of hack/deps/python.sh, or a panic that says how to get it.
fn venv() -> PathBuf {
    let venv = cache().join("venv");
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
            .arg(root().join("sdk-python"))
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
    assert!(out.contains(" passed"), "pytest ran no test:\n{out}");
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

#[test]
fn sdk_python_passes_its_tests_lint_and_types() {
    let venv = venv();
    check_project(&venv, &root().join("sdk-python"), None);
}

/// `tests/golden/regenerate-python.sh` run into a temporary directory reproduces the checked-in
/// `tests/golden/python` byte for byte. After an intended change, run the script and commit.
#[test]
fn golden_python_project_is_current() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("python");
    let root = root();
    run(
        "tests/golden/regenerate-python.sh",
        Command::new("bash")
            .arg(root.join("tests/golden/regenerate-python.sh"))
            .arg(&out)
            .env("AP", ap()),
    );
    let golden = tree(&root.join("tests/golden/python"), CACHE_DIRS);
    let fresh = tree(&out, CACHE_DIRS);
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
    let worker = root().join("tests/golden/python/worker");
    let site = tempfile::tempdir().unwrap();
    build(&venv, &worker, site.path());
    check_project(&venv, &worker, Some(site.path()));
}

#[test]
fn conformance_python_worker_builds_and_passes_its_checks() {
    let venv = venv();
    let worker = root().join("tests/conformance/workers/python/worker");
    let site = tempfile::tempdir().unwrap();
    build(&venv, &worker, site.path());
    check_project(&venv, &worker, Some(site.path()));
}

/// The handlers a new user writes into the scaffold of `ap init`'s Canary: Initializing routes
/// the target's traffic with a VirtualService and starts at weight 0, Processing adds stepWeight
/// per round until 100, then finishes.
const INITIALIZING: &str = r#""""Initializing: route the target's traffic, start the canary at weight 0."""

from autopilot_sdk import Context, Outcome, outputs

from canary_worker.model import Spec, StatusInfo


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Route every request for the target to its stable subset; start at weight 0."""
    target = ctx.spec.target
    stable = outputs.Destination(target, 100, subset="stable", port=80)
    return (
        Outcome.next("Processing")
        .output(outputs.virtual_service(target).route(stable))
        .status(StatusInfo(weight=0))
    )
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

#[tokio::test(flavor = "multi_thread")]
async fn new_user_python_worker_moves_a_canary_to_its_final_phase() {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let project = Project::generate(
        tmp.path(),
        "python",
        GROUP,
        Some(&root().join("sdk-python")),
    );
    // The user's handlers, then build and check the project as the user would; `ap run`
    // builds it again into the project's .autopilot/build.
    project.write("src/canary_worker/phases/initializing.py", INITIALIZING);
    project.write("src/canary_worker/phases/processing.py", PROCESSING);
    let site = tmp.path().join("site");
    build(&venv, &project.worker(), &site);
    check_project(&venv, &project.worker(), Some(&site));
    project.run_until_finished("lang-python", &[]).await;
}
