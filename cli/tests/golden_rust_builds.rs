//! The golden Rust worker project (`tests/golden/rust/worker`) builds, passes its own test and is
//! clippy-clean, as a user's freshly generated project must.
//!
//! Cargo runs in the worker directory with its own target directory,
//! `$AUTOPILOT_CACHE/target-golden-rust` (`AUTOPILOT_CACHE` defaults to `~/.cache/autopilot`):
//! the cargo running this test holds the lock of the workspace's target directory, so a nested
//! cargo sharing it would wait forever. The directory outlives the run, so only the first run
//! compiles the worker's dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the nested cargo builds: outside the repository, kept between runs.
fn target_dir() -> PathBuf {
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/autopilot")))
        .expect("AUTOPILOT_CACHE or HOME is set");
    cache.join("target-golden-rust")
}

/// Runs `cargo <args>` in `dir` and panics with its output unless it succeeds.
fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "`cargo {}` failed in {}:\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn golden_rust_worker_builds_tests_and_is_clippy_clean() {
    let worker = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/rust/worker");
    assert!(
        worker.join("Cargo.toml").is_file(),
        "no golden worker at {}; run tests/golden/regenerate.sh",
        worker.display()
    );
    cargo(&worker, &["build", "--quiet", "--all-targets"]);
    cargo(&worker, &["test", "--quiet"]);
    cargo(
        &worker,
        &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
    );
}
