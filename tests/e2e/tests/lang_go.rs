//! Go workers: the golden generated project is what `ap generate --lang go` produces today and
//! builds cleanly (gofmt, go vet, go test); the conformance worker's own tests pass; and a new
//! user's first Go operator — `ap init --lang go`, `ap generate`, two handlers filled in — runs
//! with `ap run` until its example resource reaches its final phase (see
//! `autopilot_e2e::new_user`).
//!
//! Every test needs the Go toolchain (`hack/deps/go.sh` checks for it and downloads the SDK's
//! modules); without it they fail saying so.

use std::path::Path;
use std::process::{Command, Stdio};

use autopilot_e2e::new_user::{Project, ap, root, run, tree};

/// The CR's API group of the new-user test: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-go.e2e.autopilot.dev";

/// The Initializing handler a user writes: route all traffic of the target to it, move on.
const INITIALIZING: &str = r#"package phases

import (
	"fmt"

	autopilot "autopilot.dev/sdk-go"
	"autopilot.dev/sdk-go/outputs"

	"canary-worker/model"
)

// Initializing routes every request for the target to its stable subset, then starts shifting.
func Initializing(ctx *model.Context) (*autopilot.Outcome, error) {
	target := ctx.Spec().Target
	weight := int64(0)
	return autopilot.Next("Processing").
		Output(outputs.VirtualService(target).
			Route(outputs.Destination(target).Subset("stable").Port(80).Weight(100))).
		Status(model.StatusInfo{Weight: &weight}).
		EventNormal("Routed", fmt.Sprintf("VirtualService %s created", target)), nil
}
"#;

/// The Processing handler: finish once the VirtualService shows up among the inputs.
const PROCESSING: &str = r#"package phases

import (
	autopilot "autopilot.dev/sdk-go"

	"canary-worker/model"
)

// Processing is done once the scheduler reports the target's VirtualService as an input.
func Processing(ctx *model.Context) (*autopilot.Outcome, error) {
	virtualServices, err := ctx.Objects(model.InputVirtualservices)
	if err != nil {
		return nil, err
	}
	for _, vs := range virtualServices {
		if metadata, ok := vs["metadata"].(map[string]any); ok && metadata["name"] == ctx.Spec().Target {
			weight := int64(100)
			return autopilot.Next("Finished").Status(model.StatusInfo{Weight: &weight}), nil
		}
	}
	return autopilot.Stay(), nil
}
"#;

/// A Go tool command in `dir`, or a panic saying how to install Go when it is missing.
fn go(tool: &str, dir: &Path) -> Command {
    let probe = Command::new(tool)
        .arg(if tool == "go" { "version" } else { "-h" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = probe {
        panic!("cannot run `{tool}` ({e}): Go workers need the Go toolchain; see hack/deps/go.sh");
    }
    let mut command = Command::new(tool);
    // The toolchain in use builds; never download another one in a test.
    command.current_dir(dir).env("GOTOOLCHAIN", "local");
    command
}

/// gofmt -l (nothing listed), go vet and go test of the Go module in `dir`.
fn check_go_module(dir: &Path) {
    let unformatted = run("gofmt -l", go("gofmt", dir).args(["-l", "."]));
    assert!(
        unformatted.trim().is_empty(),
        "gofmt would reformat in {}:\n{unformatted}",
        dir.display()
    );
    run("go vet", go("go", dir).args(["vet", "./..."]));
    run("go test", go("go", dir).args(["test", "./..."]));
}

#[test]
fn golden_go_project_is_current_and_builds() {
    let root = root();
    let golden = root.join("tests/golden/go");
    // The SDK path is written verbatim, so the tree regenerates anywhere; only the golden
    // tree itself, where the path resolves, is built.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("golden");
    run(
        "tests/golden/regenerate-go.sh",
        Command::new("bash")
            .arg(root.join("tests/golden/regenerate-go.sh"))
            .arg(&out)
            .env("AP", ap()),
    );
    let (want, got) = (tree(&golden, &[]), tree(&out, &[]));
    let mut differences = Vec::new();
    for path in want
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (want.get(path), got.get(path)) {
            (Some(w), Some(g)) if w == g => {}
            (Some(_), Some(g)) => differences.push(format!(
                "{path} differs; generated now:\n{}",
                String::from_utf8_lossy(g)
            )),
            (Some(_), None) => differences.push(format!("{path} is no longer generated")),
            (None, _) => {
                differences.push(format!("{path} is generated but not in the golden tree"))
            }
        }
    }
    assert!(
        differences.is_empty(),
        "tests/golden/go is out of date (run tests/golden/regenerate-go.sh and review the diff):\n{}",
        differences.join("\n")
    );
    check_go_module(&golden.join("worker"));
}

#[test]
fn sdk_passes_its_tests() {
    check_go_module(&root().join("sdk-go"));
}

#[test]
fn conformance_worker_passes_its_tests() {
    check_go_module(&root().join("tests/conformance/workers/go/worker"));
}

#[tokio::test(flavor = "multi_thread")]
async fn new_user_builds_and_runs_a_go_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let sdk = root().join("sdk-go");
    let project = Project::generate(tmp.path(), "go", GROUP, Some(&sdk));
    project.write("phases/initializing.go", INITIALIZING);
    project.write("phases/processing.go", PROCESSING);
    // Test the worker as its README says; `ap run` builds it.
    check_go_module(&project.worker());
    project
        .run_until_finished("new-user-go", &[("GOTOOLCHAIN", "local".into())])
        .await;
}
