//! `ap logs`: the output of `ap run`'s processes kept in `.autopilot/run/`, or the logs of the
//! operator's pods on the cluster (`--cluster`, or when `ap run` left no logs here).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
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
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = args.cluster_args.client().await?;
        let pods: Api<Pod> = match &args.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let selector = format!("{PART_OF}={}", model.project.operator_name);
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        if list.items.is_empty() {
            println!("no pods labelled {selector} (deployed with `ap deploy`?)");
            return Ok(ExitCode::SUCCESS);
        }
        let mut streams = Vec::new();
        for pod in list.items {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            for container in pod.spec.map(|s| s.containers).unwrap_or_default() {
                let params = LogParams {
                    container: Some(container.name.clone()),
                    follow: args.follow,
                    ..LogParams::default()
                };
                let prefix = format!("{name}/{}", container.name);
                let api = api.clone();
                let name = name.clone();
                streams.push(async move {
                    match api.log_stream(&name, &params).await {
                        Ok(stream) => {
                            let mut lines = stream.lines();
                            while let Ok(Some(line)) = lines.try_next().await {
                                println!("{prefix} | {line}");
                            }
                        }
                        Err(e) => println!("{prefix} | (no logs: {e})"),
                    }
                });
            }
        }
        futures::stream::iter(streams)
            .for_each_concurrent(None, |f| f)
            .await;
        Ok(ExitCode::SUCCESS)
    })
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
