//! The greeter: a small operator (kind `Greeting`, two steps to `Finished`, a sidecar Rust
//! worker) generated with `ap generate`, for the suites that put an operator on a cluster with
//! `ap deploy`; and `ap` against a control plane.
use std::path::{Path, PathBuf};
use std::process::Command;

/// A generated greeter project.
#[derive(Debug)]
pub struct Greeter {
    /// The project directory.
    pub dir: PathBuf,
    /// Its `operatorName`, `greeter-<suffix>`: also the name of the scheduler's Deployment.
    pub operator: String,
}

impl Greeter {
    /// Writes `autopilot.yaml` into `dir` and runs `ap generate` with the repository's Rust SDK
    /// and the manifests' namespace `namespace`. The API group `<suffix>.deploy.e2e.autopilot.dev`
    /// and the operator name carry `suffix`: CRDs and ClusterRoles are cluster-wide, so each
    /// test sharing a control plane needs its own.
    pub fn generate(dir: &Path, kubeconfig: &Path, suffix: &str, namespace: &str) -> Self {
        std::fs::create_dir_all(dir).expect("creating the project directory");
        let operator = format!("greeter-{suffix}");
        std::fs::write(
            dir.join("autopilot.yaml"),
            format!(
                "apiVersion: {suffix}.deploy.e2e.autopilot.dev/v1\nkind: Greeting\noperatorName: {operator}\n\
                 spec:\n  type: object\n  properties:\n    name: {{type: string}}\n\
                 phases:\n  - {{name: Initializing, initial: true, next: [Processing]}}\n\
                 \x20 - {{name: Processing, next: [Finished]}}\n  - {{name: Finished, final: true}}\n"
            ),
        )
        .expect("writing autopilot.yaml");
        let sdk = crate::new_user::root().join("sdk-rust");
        crate::new_user::run(
            "ap generate",
            &mut ap(
                kubeconfig,
                &[
                    "generate",
                    path(dir),
                    "--sdk-path",
                    path(&sdk),
                    "--namespace",
                    namespace,
                ],
            ),
        );
        Self {
            dir: dir.to_owned(),
            operator,
        }
    }

    /// The directory as an argument of `ap`.
    pub fn dir_arg(&self) -> &str {
        path(&self.dir)
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The command `ap <args>` against the cluster of `kubeconfig`: to run with
/// [`new_user::run`](crate::new_user::run), or to spawn (`ap logs -f`).
pub fn ap(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(crate::new_user::ap());
    command.args(args).env("KUBECONFIG", kubeconfig);
    command
}
