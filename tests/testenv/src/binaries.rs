//! Finding the etcd and Kubernetes binaries: `AUTOPILOT_CONTROLPLANE_BIN` or `hack/controlplane.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::last_lines;
use crate::{Component, Error};

/// The environment variable naming a directory that already holds the binaries.
pub const BIN_DIR_ENV: &str = "AUTOPILOT_CONTROLPLANE_BIN";

/// `hack/controlplane.sh` itself, so that `ap cluster up` builds (or finds in the cache) the
/// control plane on a machine that has `ap` but not this repository.
const CONTROLPLANE_SH: &str = include_str!("../../../hack/controlplane.sh");

/// The directory holding `etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`,
/// `kwok`.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    dir: PathBuf,
    source_of_dir: String,
}

impl Binaries {
    /// Uses [`BIN_DIR_ENV`] if set, else runs `hack/controlplane.sh` (the text compiled in),
    /// which builds the binaries on first use (several minutes) and then only prints where
    /// they are.
    pub(crate) fn locate() -> Result<Self, Error> {
        if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(Self {
                dir: PathBuf::from(dir),
                source_of_dir: format!("${BIN_DIR_ENV}"),
            });
        }
        let script = repo_root().join("hack").join("controlplane.sh");
        let failed = |status: String, stderr: &[u8]| Error::BuildScriptFailed {
            script: script.clone(),
            status,
            stderr: last_lines(&String::from_utf8_lossy(stderr), 20),
        };
        // stderr is captured, not inherited: the script only writes to it when it builds, and a
        // failure returns it in the error.
        let output = Command::new("bash")
            .args(["-c", CONTROLPLANE_SH, "hack/controlplane.sh"])
            .output()
            .map_err(|e| failed(e.to_string(), b""))?;
        if !output.status.success() {
            return Err(failed(output.status.to_string(), &output.stderr));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let dir = stdout.lines().rev().find(|l| !l.trim().is_empty());
        let Some(dir) = dir else {
            return Err(failed("printed no directory".into(), &output.stderr));
        };
        Ok(Self {
            dir: PathBuf::from(dir.trim()),
            source_of_dir: script.display().to_string(),
        })
    }

    /// The path of `component`'s binary, or [`Error::BinaryMissing`].
    pub(crate) fn path(&self, component: Component) -> Result<PathBuf, Error> {
        let path = self.dir.join(component.binary_name());
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::BinaryMissing {
                binary: component.binary_name(),
                dir: self.dir.clone(),
                source_of_dir: self.source_of_dir.clone(),
            })
        }
    }
}

/// The repository root, two levels above this crate's manifest (`tests/testenv`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}
