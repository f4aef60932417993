//! Building a Python worker where `hack/deps/python.sh`'s toolchain venv does not exist (a
//! machine with `ap` but not this repository): a venv of the project's own, made with the
//! machine's `python3`, into which pip installs the worker with its dependencies, as the
//! worker's README does by hand.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// Where the project's venv lives, relative to the project (ignored by its `.gitignore`).
const VENV: &str = ".autopilot/build/venv";

/// Creates `<project>/.autopilot/build/venv` unless it exists, `pip install`s the worker into
/// it (pulling the SDK from the path its pyproject.toml names, the rest from the package
/// index), and returns `python -m <module>` from that venv.
///
/// # Errors
///
/// When python3 is missing or older than 3.10, or pip fails.
pub(crate) fn build(worker: &Path, module: &str) -> anyhow::Result<Command> {
    let worker = worker
        .canonicalize()
        .with_context(|| format!("resolving {}", worker.display()))?;
    let project = worker.parent().unwrap_or(&worker);
    let venv = project.join(VENV);
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!("building the worker: python3 -m venv {}", venv.display());
        let status = Command::new("python3")
            .args(["-c", "import sys; sys.exit(sys.version_info < (3, 10))"])
            .stdin(Stdio::null())
            .status()
            .context("Python workers need python3, 3.10 or later: it is not on PATH")?;
        if !status.success() {
            bail!("Python workers need python3 3.10 or later; `python3` is older");
        }
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .stdin(Stdio::null())
            .status()
            .context("running python3 -m venv")?;
        if !status.success() {
            bail!(
                "python3 -m venv {} failed ({status}); on Debian, install python3-venv",
                venv.display()
            );
        }
    }
    eprintln!("building the worker: pip install {}", worker.display());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(&worker)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {} -m pip", python.display()))?;
    if !status.success() {
        bail!("pip install of the worker failed ({status})");
    }
    let mut command = Command::new(python);
    command
        .args(["-m", module])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    Ok(command)
}
