//! TypeScript workers: the SDK's own tests, the golden generated project (current, builds,
//! passes `tsc --strict` and its tests), the conformance worker's tests, and a new user's path
//! from `ap init` to a resource reaching its final phase under `ap run` with a TypeScript worker
//! (see `autopilot_e2e::new_user`).
//!
//! Needs node and npm (`hack/deps/typescript.sh` installs them); npm's cache lives under
//! `$AUTOPILOT_CACHE/npm`.
use std::path::Path;
use std::process::Command;

use autopilot_e2e::new_user::{Project, ap, cache, root, run, tree};

/// The CR's API group of the new-user test: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-typescript.e2e.autopilot.dev";

/// Skipped in file trees: npm's and tsc's output.
const BUILD_OUTPUT: &[&str] = &["node_modules", "dist"];

/// Runs `program args` in `dir` with npm's cache outside the repository; panics with the whole
/// output when it fails, or with how to install the tool when it is missing. Returns its stdout.
fn npm_run(dir: &Path, program: &str, args: &[&str]) -> String {
    run(
        &format!(
            "`{program} {}` in {} (TypeScript workers need node and npm: hack/deps/typescript.sh)",
            args.join(" "),
            dir.display()
        ),
        Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("npm_config_cache", cache().join("npm")),
    )
}

/// The SDK installed and compiled (once per test process; the script itself locks).
fn sdk_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let sdk = root().join("sdk-typescript");
        npm_run(&sdk, "bash", &["scripts/build.sh"]);
    });
}

#[test]
fn sdk_ships_the_contract_and_passes_its_tests() {
    let shipped = root().join("sdk-typescript/proto/autopilot/worker/v1/worker.proto");
    let contract = root().join("proto/autopilot/worker/v1/worker.proto");
    assert_eq!(
        std::fs::read_to_string(&shipped).expect("the SDK ships worker.proto"),
        std::fs::read_to_string(&contract).expect("the contract"),
        "{} must be a copy of {}",
        shipped.display(),
        contract.display()
    );
    sdk_built();
    let sdk = root().join("sdk-typescript");
    let out = npm_run(&sdk, "npm", &["test"]);
    assert!(out.contains("# fail 0"), "{out}");
}

#[test]
fn golden_project_is_current() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("typescript");
    let script = root().join("tests/golden/regenerate-typescript.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .env("AP", ap())
        .output()
        .expect("running regenerate-typescript.sh");
    assert!(
        output.status.success(),
        "regenerate-typescript.sh failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let golden = root().join("tests/golden/typescript");
    let (want, got) = (tree(&golden, BUILD_OUTPUT), tree(&out, BUILD_OUTPUT));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the generated file list differs from tests/golden/typescript; run tests/golden/regenerate-typescript.sh"
    );
    for (file, expected) in &want {
        let actual = &got[file];
        assert!(
            expected == actual,
            "{file} differs from the golden copy; run tests/golden/regenerate-typescript.sh:\n{}",
            String::from_utf8_lossy(actual)
        );
    }
}

#[test]
fn golden_worker_builds_and_passes_its_tests() {
    sdk_built();
    let worker = root().join("tests/golden/typescript/worker");
    npm_run(
        &worker,
        "npm",
        &["ci", "--no-audit", "--no-fund", "--prefer-offline"],
    );
    npm_run(
        &worker,
        "npx",
        &["--no-install", "tsc", "--strict", "--noEmit"],
    );
    let out = npm_run(&worker, "npm", &["test"]);
    assert!(
        out.contains("# pass 1") && out.contains("# fail 0"),
        "{out}"
    );
}

#[test]
fn conformance_worker_passes_its_tests() {
    let dir = root().join("tests/conformance/workers/typescript");
    npm_run(&dir, "bash", &["build.sh"]);
    let worker = dir.join("worker");
    npm_run(
        &worker,
        "npx",
        &["--no-install", "tsc", "--strict", "--noEmit"],
    );
    let out = npm_run(&worker, "node", &["--test", "dist/test/"]);
    assert!(
        out.contains("# pass 3") && out.contains("# fail 0"),
        "{out}"
    );
}

/// Handlers a new user might write for the `ap init` project: Initializing routes the target's
/// traffic with a VirtualService and starts at weight 0, Processing adds stepWeight until 100 and
/// then moves to Finished.
const INITIALIZING_TS: &str = r#"import { Context, Outcome, outputs } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";

export async function initializing(ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  const target = ctx.spec.target;
  return Outcome.next<StatusInfo>("Processing")
    .output(outputs.virtualService(target).route([{ host: target, subset: "stable", port: 80, weight: 100 }]))
    .status({ weight: 0 })
    .eventNormal("Started", `shifting traffic to ${target}`);
}
"#;

const PROCESSING_TS: &str = r#"import { Context, Outcome } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";

export async function processing(ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  const weight = Math.min(100, (ctx.statusInfo?.weight ?? 0) + (ctx.spec.stepWeight ?? 10));
  if (weight >= 100) {
    return Outcome.next<StatusInfo>("Finished").status({ weight }).eventNormal("Promoted", "all traffic shifted");
  }
  return Outcome.stay<StatusInfo>().status({ weight }).requeueAfter(100);
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn new_user_path_reaches_the_final_phase() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let sdk = root().join("sdk-typescript");
    let project = Project::generate(tmp.path(), "typescript", GROUP, Some(&sdk));
    project.write("src/phases/initializing.ts", INITIALIZING_TS);
    project.write("src/phases/processing.ts", PROCESSING_TS);
    sdk_built();
    // Install and test as the worker's README says; with the SDK at an absolute path no lock is
    // generated: npm writes it here, and `ap run` then builds with `npm ci`.
    let worker = project.worker();
    npm_run(
        &worker,
        "npm",
        &["install", "--no-audit", "--no-fund", "--prefer-offline"],
    );
    npm_run(&worker, "npm", &["test"]);
    project
        .run_until_finished(
            "ts-newuser",
            &[("npm_config_cache", cache().join("npm").into_os_string())],
        )
        .await;
}
