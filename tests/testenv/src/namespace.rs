//! [`TestNamespace`]: a uniquely named namespace per test, deleted when the test is done and
//! dumped when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::Error;

/// The label every test namespace carries, to find leftovers with `kubectl get ns -l`.
pub const TEST_NAMESPACE_LABEL: &str = "autopilot.dev/test-namespace";

/// How long dropping a namespace waits for the API server to accept its deletion.
const DELETE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the failure dump may take; kubectl is given the same as its request timeout.
const DUMP_REQUEST_TIMEOUT: &str = "10s";

/// A namespace created for one test.
///
/// # Guarantees
///
/// - Its name is unique: the API server picks the suffix (`generateName`).
/// - Dropping it requests its deletion (best effort: a failure is printed, not raised). The
///   objects in it go away only if kube-controller-manager runs, as it does in
///   [`shared`](crate::shared); otherwise the namespace stays `Terminating` and is discarded with
///   the control plane.
/// - Dropping it while the thread panics (a failed assertion or timeout) first prints every
///   object in it and its events to stderr, which the test harness shows with the failure.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    config: kube::Config,
    kubeconfig: PathBuf,
}

impl TestNamespace {
    pub(crate) async fn create(
        client: Client,
        config: kube::Config,
        kubeconfig: &Path,
        prefix: &str,
    ) -> Result<Self, Error> {
        let namespace = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", dns_label_prefix(prefix))),
                labels: Some([(TEST_NAMESPACE_LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let created = Api::<Namespace>::all(client)
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(Error::kube(format!(
                "creating a namespace with prefix {prefix:?}"
            )))?;
        let name = created
            .metadata
            .name
            .expect("the API server names a created namespace");
        Ok(Self {
            name,
            config,
            kubeconfig: kubeconfig.to_owned(),
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every object in the namespace as kubectl tables, then its events: what a failing test
    /// should show. Uses `kubectl` from `PATH`; describes the problem instead if that fails.
    pub fn dump(&self) -> String {
        let kubectl = |args: &[&str]| -> Result<String, String> {
            let output = Command::new("kubectl")
                .env("KUBECONFIG", &self.kubeconfig)
                .arg(format!("--request-timeout={DUMP_REQUEST_TIMEOUT}"))
                .args(args)
                .output()
                .map_err(|e| format!("running kubectl: {e}"))?;
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            if output.status.success() {
                Ok(stdout)
            } else {
                Err(format!(
                    "kubectl {}: {}{stdout}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        };
        let dump = || -> Result<String, String> {
            let kinds = kubectl(&["api-resources", "--verbs=list", "--namespaced", "-o=name"])?;
            let kinds = kinds
                .lines()
                .filter(|k| !k.is_empty() && !k.starts_with("events"))
                .collect::<Vec<_>>()
                .join(",");
            let objects = kubectl(&["get", &kinds, "-n", &self.name, "-o=wide", "--show-kind"])?;
            let events = kubectl(&[
                "get",
                "events",
                "-n",
                &self.name,
                "--sort-by=.lastTimestamp",
            ])?;
            Ok(format!("{objects}\n--- events ---\n{events}"))
        };
        dump().unwrap_or_else(|e| format!("(could not dump namespace {}: {e})", self.name))
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- namespace {} at the time of the failure ---\n{}",
                self.name,
                self.dump()
            );
        }
        // Drop cannot await, and blocking on the test's own runtime could deadlock it, so the
        // deletion runs on a thread with a runtime of its own.
        let name = self.name.clone();
        let config = self.config.clone();
        let deleted = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("starting a runtime: {e}"))?;
            runtime.block_on(async {
                let client = Client::try_from(config).map_err(|e| e.to_string())?;
                let namespaces = Api::<Namespace>::all(client);
                let params = DeleteParams::default();
                match tokio::time::timeout(DELETE_TIMEOUT, namespaces.delete(&name, &params)).await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(kube::Error::Api(status))) if status.code == 404 => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {DELETE_TIMEOUT:?}")),
                }
            })
        })
        .join();
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("autopilot-testenv: deleting namespace {}: {e}", self.name),
            Err(_) => eprintln!(
                "autopilot-testenv: deleting namespace {} panicked",
                self.name
            ),
        }
    }
}

/// `prefix` made a valid start of a DNS-1123 label, short enough to leave room for the suffix.
fn dns_label_prefix(prefix: &str) -> String {
    const MAX_PREFIX: usize = 40;
    let cleaned: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(MAX_PREFIX)
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        "test".to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::dns_label_prefix;

    #[test]
    fn prefixes_become_dns_labels() {
        for (prefix, want) in [
            ("crd", "crd"),
            ("My_Test::case", "my-test--case"),
            ("--x--", "x"),
            ("", "test"),
            ("ÄÖ", "test"),
            (&"a".repeat(60), &"a".repeat(40)),
        ] {
            assert_eq!(dns_label_prefix(prefix), want, "prefix {prefix:?}");
        }
    }
}
