//! The Java worker path: the SDK's own JUnit tests, the golden generated project, its Maven build
//! and JUnit tests, and a new
//! user's first Java operator — `ap init --lang java`, `ap generate`, two handlers filled in — run
//! with `ap run` until its example resource reaches its final phase (see
//! `autopilot_e2e::new_user`).
//!
//! Needs JDK 17 and Maven (installed by `hack/deps/java.sh`, which the tests run).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use autopilot_e2e::new_user::{Project, ap, cache, root, run, tree};

/// The CR's API group of the new-user test: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-java.e2e.autopilot.dev";
/// Where `ap generate` puts the phase handlers of [`GROUP`]: its Java package is the group
/// reversed, `dev.autopilot.e2e.newuser_java`.
const PHASES_DIR: &str = "src/main/java/dev/autopilot/e2e/newuser_java/phases";

/// The Initializing handler a user writes: route all traffic of the target to it, move on.
const INITIALIZING: &str = r#"package dev.autopilot.e2e.newuser_java.phases;

import dev.autopilot.e2e.newuser_java.model.Spec;
import dev.autopilot.e2e.newuser_java.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;
import dev.autopilot.sdk.outputs.Outputs;
import dev.autopilot.sdk.outputs.VirtualService.Destination;

/** Initializing: routes every request for the target to its stable subset, then starts shifting. */
public final class Initializing {
  private Initializing() {}

  /** Returns the target's VirtualService and moves on to Processing. */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    String target = ctx.spec().target();
    return Outcome.<StatusInfo>next("Processing")
        .output(
            Outputs.virtualService(target)
                .route(Destination.of(target).subset("stable").port(80).weight(100)))
        .statusInfo(new StatusInfo(0L))
        .eventNormal("Routed", "VirtualService " + target + " created");
  }
}
"#;

/// The Processing handler: finish once the VirtualService shows up among the inputs.
const PROCESSING: &str = r#"package dev.autopilot.e2e.newuser_java.phases;

import com.fasterxml.jackson.databind.JsonNode;
import dev.autopilot.e2e.newuser_java.model.Spec;
import dev.autopilot.e2e.newuser_java.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;

/** Processing: done once the scheduler reports the target's VirtualService as an input. */
public final class Processing {
  private Processing() {}

  /** Moves to Finished when the target's VirtualService exists, else stays. */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    String target = ctx.spec().target();
    for (JsonNode vs : ctx.objects("virtualservices")) {
      if (target.equals(vs.path("metadata").path("name").asText())) {
        return Outcome.<StatusInfo>next("Finished").statusInfo(new StatusInfo(100L));
      }
    }
    return Outcome.stay();
  }
}
"#;

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
        Command::new("bash").arg(root().join("hack/deps/java.sh")),
    );
    cache().join("m2")
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

/// Skipped in file trees: Maven's output.
const BUILD_OUTPUT: &[&str] = &["target"];

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from, BUILD_OUTPUT) {
        let path = to.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, bytes).expect("write");
    }
}

#[test]
fn sdk_java_passes_its_tests() {
    let repo = java_toolchain();
    // A copy, so that Maven's output never races hack/deps/java.sh's install of the same tree;
    // the SDK compiles the contract from ../proto.
    let work = tempfile::tempdir().expect("temp dir");
    copy_tree(&root().join("sdk-java"), &work.path().join("sdk-java"));
    copy_tree(&root().join("proto"), &work.path().join("proto"));
    mvn(&work.path().join("sdk-java"), &repo, &["-q", "verify"]);
    let report = fs::read_to_string(
        work.path()
            .join("sdk-java/target/surefire-reports/dev.autopilot.sdk.WorkerTest.txt"),
    )
    .expect("a surefire report of the SDK's tests");
    assert!(
        report.contains("Failures: 0, Errors: 0") && !report.contains("Tests run: 0,"),
        "{report}"
    );
}

#[test]
fn golden_java_project_is_regenerated_byte_for_byte() {
    let out = tempfile::tempdir().expect("temp dir");
    run(
        "tests/golden/regenerate-java.sh",
        Command::new("bash")
            .arg(root().join("tests/golden/regenerate-java.sh"))
            .arg(out.path())
            .env("AP", ap()),
    );
    let golden = tree(&root().join("tests/golden/java"), BUILD_OUTPUT);
    let fresh = tree(out.path(), BUILD_OUTPUT);
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
    copy_tree(&root().join("tests/golden/java/worker"), work.path());
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

#[tokio::test(flavor = "multi_thread")]
async fn new_user_builds_and_runs_a_java_operator() {
    let repo = java_toolchain();
    let tmp = tempfile::tempdir().expect("temp dir");
    // The pom depends on the SDK by version, resolved from the local Maven repository that
    // hack/deps/java.sh fills (and `ap run` uses).
    let project = Project::generate(tmp.path(), "java", GROUP, None);
    project.write(&format!("{PHASES_DIR}/Initializing.java"), INITIALIZING);
    project.write(&format!("{PHASES_DIR}/Processing.java"), PROCESSING);
    // Test the worker as its README says; `ap run` builds it.
    mvn(&project.worker(), &repo, &["-q", "verify"]);
    let jar = project.worker().join("target/canary-worker.jar");
    assert!(jar.exists(), "mvn verify built no {}", jar.display());
    project
        .run_until_finished(
            "new-user-java",
            &[("AUTOPILOT_CACHE", cache().into_os_string())],
        )
        .await;
}
