//! The soak's operator: kind `Soak` in `soak.autopilot.dev`, phases Pending → Provisioning →
//! Verifying (which polls) → Done, one ConfigMap output replaced by another, and its worker —
//! an SDK worker that records every call in a log of its own before answering.
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use autopilot_sdk::serve::Config;
use autopilot_sdk::{Context, Outcome, Worker, WorkerError};
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The operator's API group.
pub const GROUP: &str = "soak.autopilot.dev";
/// The phases every resource goes through, in order, before [`FINAL`].
pub const PHASES: &[&str] = &["Pending", "Provisioning", "Verifying"];
/// The final phase.
pub const FINAL: &str = "Done";
/// Suffix of the ConfigMap Provisioning outputs; Verifying prunes it.
pub const OUTPUT_PRUNED: &str = "provisioned";
/// Suffix of the ConfigMap Verifying outputs; the one left per resource at the end.
pub const OUTPUT_KEPT: &str = "verified";
/// Calls of Verifying before it moves on: it polls, as metric-driven phases do.
pub const VERIFY_POLLS: u32 = 3;
/// Verifying's short requeue between polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// `autopilot.yaml`.
pub const AUTOPILOT_YAML: &str = r#"apiVersion: soak.autopilot.dev/v1
kind: Soak
operatorName: soak-operator
spec:
  type: object
  properties:
    note:
      type: string
statusInfo:
  type: object
  properties:
    history:
      type: array
      items:
        type: string
phases:
  - name: Pending
    initial: true
  - name: Provisioning
    outputs: [configmaps]
  - name: Verifying
    outputs: [configmaps]
    prune: true
  - name: Done
    final: true
"#;

/// The `Soak` kind as a kube dynamic resource.
pub fn soak_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "Soak"), "soaks")
}

/// The `Soak` API in `namespace`.
pub fn soaks(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &soak_resource())
}

/// Writes the project files into `dir`: two replicas elect a leader on a short lease, so a
/// killed leader is replaced within seconds.
///
/// # Errors
///
/// Writing failed.
pub fn write_project(
    dir: &Path,
    endpoint: &str,
    namespace: &str,
    concurrency: u16,
) -> anyhow::Result<()> {
    std::fs::write(dir.join("autopilot.yaml"), AUTOPILOT_YAML)?;
    std::fs::write(
        dir.join("autopilot-operator.yaml"),
        format!(
            "workInterval: 5s\nconcurrency: {concurrency}\nworkers:\n  endpoint: {endpoint}\n  deadline: 10s\nretry:\n  initialBackoff: 200ms\n  maxBackoff: 2s\n  permanentErrorInterval: 10m\nleaderElection:\n  enabled: true\n  leaseName: soak-operator\n  namespace: {namespace}\n  leaseDuration: 4s\n  renewDeadline: 3s\n  retryPeriod: 500ms\nmetricsAddr: \"127.0.0.1:0\"\nhealthAddr: \"\"\nlogLevel: info\n"
        ),
    )?;
    Ok(())
}

/// Installs the `Soak` CRD and waits until the API server serves it.
///
/// # Errors
///
/// The API server refused it or did not serve it within 60 s.
pub async fn install_crd(client: &kube::Client) -> anyhow::Result<()> {
    crate::cluster::install_kind(
        client,
        &crate::cluster::TestKind {
            group: GROUP,
            kind: "Soak",
            spec_field: "note",
            manager: "autopilot-soak",
        },
    )
    .await
}

/// The status info the worker keeps: the phases whose move it asked for, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Info {
    /// Phases left so far.
    #[serde(default)]
    pub history: Vec<String>,
}

/// One line of the worker's log: a call as it arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallLine {
    /// Milliseconds since the Unix epoch.
    pub t: u128,
    /// The worker process.
    pub pid: u32,
    /// The resource's uid.
    pub uid: String,
    /// The resource's name.
    pub name: String,
    /// The phase called.
    pub phase: String,
    /// The attempt the scheduler counted.
    pub attempt: u32,
    /// `true` once the answer is ready (a second line for the same call).
    #[serde(default)]
    pub answered: bool,
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// Appends [`CallLine`]s to a file, one whole line per write so a SIGKILL loses at most the
/// line being written.
#[derive(Debug, Clone)]
struct CallLog(Arc<Mutex<std::fs::File>>);

impl CallLog {
    fn write(&self, ctx: &Context<Value, Info>, answered: bool) {
        let line = CallLine {
            t: unix_ms(),
            pid: std::process::id(),
            uid: ctx.uid().unwrap_or_default().to_string(),
            name: ctx.name().to_string(),
            phase: ctx.phase().to_string(),
            attempt: ctx.attempt(),
            answered,
        };
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        let mut file = self.0.lock().expect("log lock");
        let _ = file.write_all(text.as_bytes());
    }
}

/// A pause of 20..20+spread ms, different per call, so kills land in the middle of calls.
async fn work(spread_ms: u64) {
    let jitter = u64::from(rand::random::<u16>()) % spread_ms.max(1);
    tokio::time::sleep(Duration::from_millis(20 + jitter)).await;
}

fn config_map(ctx: &Context<Value, Info>, suffix: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{}-{suffix}", ctx.name())},
        "data": {"phase": ctx.phase()},
    })
}

fn moved(ctx: &Context<Value, Info>) -> Info {
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    info.history.push(ctx.phase().to_string());
    info
}

/// The worker: `run-worker ADDRESS LOG` of the soak binary. Serves until killed.
///
/// # Errors
///
/// The log could not be opened or the address bound.
pub async fn serve_worker(address: &str, log: &Path) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let log = CallLog(Arc::new(Mutex::new(file)));
    let (l1, l2, l3) = (log.clone(), log.clone(), log);
    let worker: Worker<Value, Info> = Worker::new("soak")
        .phase(PHASES[0], move |ctx| {
            let log = l1.clone();
            async move {
                log.write(&ctx, false);
                work(100).await;
                let out = Outcome::next(PHASES[1]).status(moved(&ctx));
                log.write(&ctx, true);
                Ok::<_, WorkerError>(out)
            }
        })
        .phase(PHASES[1], move |ctx| {
            let log = l2.clone();
            async move {
                log.write(&ctx, false);
                work(250).await;
                let out = Outcome::next(PHASES[2])
                    .output(config_map(&ctx, OUTPUT_PRUNED))?
                    .status(moved(&ctx));
                log.write(&ctx, true);
                Ok::<_, WorkerError>(out)
            }
        })
        .phase(PHASES[2], move |ctx| {
            let log = l3.clone();
            async move {
                log.write(&ctx, false);
                work(80).await;
                let out = if ctx.attempt() < VERIFY_POLLS {
                    Outcome::stay().requeue_after(POLL_INTERVAL)
                } else {
                    Outcome::next(FINAL).status(moved(&ctx))
                };
                let out = out.output(config_map(&ctx, OUTPUT_KEPT))?;
                log.write(&ctx, true);
                Ok::<_, WorkerError>(out)
            }
        });
    let bound = worker.bind(Config::new(address)).await?;
    bound.serve().await?;
    Ok(())
}
