//! `ap logs`: the output of `ap run`'s processes kept in `.autopilot/run/`, or the logs of the
//! operator's pods on the cluster (`--cluster`, or when `ap run` left no logs here).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::{AsyncBufReadExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use crate::deploy::{ClusterArgs, PART_OF};
use crate::run::LOG_DIR;

#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Keep printing new lines.
    #[arg(long, short)]
    follow: bool,
    /// Read the pods' logs on the cluster even when `ap run` logs exist here.
    #[arg(long)]
    cluster: bool,
    /// Namespace of the pods (with --cluster; default: every namespace).
    #[arg(long, short)]
    namespace: Option<String>,
    #[command(flatten)]
    cluster_args: ClusterArgs,
}

pub(crate) fn logs(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let log_dir = args.dir.join(LOG_DIR);
    let local: Vec<PathBuf> = ["scheduler", "worker"]
        .iter()
        .map(|n| log_dir.join(format!("{n}.log")))
        .filter(|p| p.is_file())
        .collect();
    if !args.cluster && !local.is_empty() {
        return local_logs(&local, args.follow);
    }
    let model = crate::deploy::load(&args.dir)?;
    let selector = format!("{PART_OF}={}", model.project.operator_name);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(cluster_logs(args, &selector))
}

/// One container's log on the cluster, named `pod/container` in the output.
struct Source {
    pods: Api<Pod>,
    pod: String,
    container: String,
}

impl Source {
    fn prefix(&self) -> String {
        format!("{}/{}", self.pod, self.container)
    }

    fn params(&self, follow: bool) -> LogParams {
        LogParams {
            container: Some(self.container.clone()),
            follow,
            ..LogParams::default()
        }
    }
}

/// The logs of every container of the pods labelled `selector`, each line prefixed
/// `pod/container | `: one container after the other, or with `--follow` all at once as lines
/// arrive. A container whose log cannot be read is reported on stderr and fails the command.
async fn cluster_logs(args: &LogsArgs, selector: &str) -> anyhow::Result<ExitCode> {
    let client = args.cluster_args.client().await?;
    let pods: Api<Pod> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut list = pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items;
    if list.is_empty() {
        let place = args.namespace.as_deref().map_or_else(
            || "any namespace".to_owned(),
            |ns| format!("namespace {ns}"),
        );
        println!("no pods labelled {selector} in {place} (deployed with `ap deploy`?)");
        return Ok(ExitCode::SUCCESS);
    }
    list.sort_by_key(|p| (p.metadata.namespace.clone(), p.metadata.name.clone()));
    let sources: Vec<Source> = list
        .into_iter()
        .flat_map(|pod| {
            let name = pod.metadata.name.unwrap_or_default();
            let ns = pod.metadata.namespace.unwrap_or_default();
            let spec = pod.spec.unwrap_or_default();
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            spec.init_containers
                .unwrap_or_default()
                .into_iter()
                .chain(spec.containers)
                .map(move |c| Source {
                    pods: pods.clone(),
                    pod: name.clone(),
                    container: c.name,
                })
        })
        .collect();
    let mut failed = 0;
    if args.follow {
        // Each stream reports its own failure at once: the others go on.
        let results = futures::future::join_all(sources.iter().map(|source| async move {
            let result = follow(source).await;
            if let Err(e) = &result {
                eprintln!("{}: {e}", source.prefix());
            }
            result
        }))
        .await;
        failed = results.iter().filter(|r| r.is_err()).count();
    } else {
        for source in &sources {
            match source.pods.logs(&source.pod, &source.params(false)).await {
                Ok(text) => {
                    let prefix = source.prefix();
                    for line in text.lines() {
                        println!("{prefix} | {line}");
                    }
                }
                Err(e) => {
                    eprintln!("{}: {}", source.prefix(), reason(&e));
                    failed += 1;
                }
            }
        }
    }
    if failed == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "could not read the logs of {failed} of {} containers",
            sources.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Prints the lines of `source` as they arrive, until the container's log ends.
async fn follow(source: &Source) -> Result<(), String> {
    let prefix = source.prefix();
    let mut lines = source
        .pods
        .log_stream(&source.pod, &source.params(true))
        .await
        .map_err(|e| reason(&e))?
        .lines();
    while let Some(line) = lines
        .try_next()
        .await
        .map_err(|e| format!("reading the log: {e}"))?
    {
        println!("{prefix} | {line}");
    }
    Ok(())
}

/// What the API server said, without kube's wrapping: e.g. "container \"worker\" in pod \"x\"
/// is waiting to start: ContainerCreating".
fn reason(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

fn local_logs(files: &[PathBuf], follow: bool) -> anyhow::Result<ExitCode> {
    let mut offsets = vec![0_usize; files.len()];
    loop {
        for (file, offset) in files.iter().zip(offsets.iter_mut()) {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if text.len() > *offset {
                for line in text[*offset..].lines() {
                    println!("{name:>9} | {line}");
                }
                *offset = text.len();
            }
        }
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
