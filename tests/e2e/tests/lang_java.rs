//! The Java worker path: the golden generated project, its Maven build and JUnit tests, and the
//! Java conformance worker's build.
//!
//! Needs JDK 17 and Maven (installed by `hack/deps/java.sh`) and the `ap` binary beside this test
//! binary (`cargo build --workspace --all-targets` builds it).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `ap` binary beside this test binary (`target/<profile>/ap`).
fn ap() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/ap
    let ap = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("ap");
    assert!(
        ap.exists(),
        "{} is missing: build it first with `cargo build -p autopilot-cli`",
        ap.display()
    );
    ap
}

fn run(what: &str, command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{text}",
        output.status
    );
    text
}

/// JDK, Maven and the SDK in the cache's Maven repository, installed by the deps script.
fn java_toolchain() -> PathBuf {
    for tool in ["java", "mvn"] {
        let found = Command::new(tool).arg("-version").output().is_ok();
        assert!(
            found,
            "`{tool}` is not installed: run hack/deps/java.sh (JDK 17 and Maven)"
        );
    }
    run(
        "hack/deps/java.sh (JDK, Maven, the Java SDK in the local Maven repository)",
        Command::new("bash").arg(repo_root().join("hack/deps/java.sh")),
    );
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/autopilot")
        });
    cache.join("m2")
}

/// `mvn <goals>` in `dir`: offline first, online only when something was never resolved.
fn mvn(dir: &Path, repo: &Path, goals: &[&str]) -> String {
    let command = |offline: bool| {
        let mut c = Command::new("mvn");
        c.current_dir(dir)
            .args(["-B", "-Dstyle.color=never"])
            .arg(format!("-Dmaven.repo.local={}", repo.display()));
        if offline {
            c.arg("-o");
        }
        c.args(goals);
        c
    };
    match command(true).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => run(
            &format!("mvn {} in {}", goals.join(" "), dir.display()),
            &mut command(false),
        ),
    }
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                out.insert(
                    rel.to_string_lossy().into_owned(),
                    fs::read(&path).expect("read"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let path = to.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, bytes).expect("write");
    }
}

#[test]
fn golden_java_project_is_regenerated_byte_for_byte() {
    let out = tempfile::tempdir().expect("temp dir");
    run(
        "tests/golden/regenerate-java.sh",
        Command::new("bash")
            .arg(repo_root().join("tests/golden/regenerate-java.sh"))
            .arg(out.path())
            .env("AP", ap()),
    );
    let golden = tree(&repo_root().join("tests/golden/java"));
    let fresh = tree(out.path());
    let golden_paths: Vec<_> = golden.keys().collect();
    let fresh_paths: Vec<_> = fresh.keys().collect();
    assert_eq!(
        fresh_paths, golden_paths,
        "the generated files differ from tests/golden/java: run tests/golden/regenerate-java.sh"
    );
    for (path, bytes) in &golden {
        assert!(
            fresh[path] == *bytes,
            "{path} differs from tests/golden/java: run tests/golden/regenerate-java.sh\n--- generated:\n{}",
            String::from_utf8_lossy(&fresh[path])
        );
    }
}

#[test]
fn golden_java_worker_builds_and_its_tests_pass() {
    let repo = java_toolchain();
    let work = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("tests/golden/java/worker"), work.path());
    mvn(work.path(), &repo, &["-q", "verify"]);
    let report = fs::read_to_string(
        work.path()
            .join("target/surefire-reports/com.example.canary.phases.InitializingTest.txt"),
    )
    .expect("surefire report of InitializingTest");
    assert!(
        report.contains("Tests run: 1, Failures: 0, Errors: 0"),
        "{report}"
    );
    assert!(work.path().join("target/canary-worker.jar").exists());
    assert!(work.path().join("target/lib").is_dir());
}
