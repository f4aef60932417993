//! `ap logs`: the output of `ap run`'s processes kept in `.autopilot/run/`, or the logs of the
//! operator's pods on the cluster (`--cluster`, or when `ap run` left no logs here).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, LogParams};

use crate::deploy::{ClusterArgs, PART_OF};
use crate::run::LOG_DIR;

#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Keep printing new lines, also of pods that start later (a rollout, a restart), until
    /// Ctrl-C.
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
/// `pod/container | `: one container after the other (a container whose log cannot be read is
/// reported on stderr and fails the command), or with `--follow` as lines arrive, from every
/// running container, also of pods that start later, until interrupted.
async fn cluster_logs(args: &LogsArgs, selector: &str) -> anyhow::Result<ExitCode> {
    let client = args.cluster_args.client().await?;
    let pods: Api<Pod> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    if args.follow {
        let place = args.namespace.as_deref().map_or_else(
            || "every namespace".to_owned(),
            |ns| format!("namespace {ns}"),
        );
        eprintln!(
            "following the pods labelled {selector} in {place}, also those that start later (Ctrl-C to stop)"
        );
        follow_pods(client, pods, selector).await?;
        return Ok(ExitCode::SUCCESS);
    }
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

/// How long a container whose log could not be read waits before it is tried again.
const FOLLOW_RETRY: Duration = Duration::from_secs(2);

/// A running container: namespace, pod, container.
type ContainerKey = (String, String, String);

/// Follows the log of every running container of the pods labelled `selector`, including pods
/// that appear later (a rollout, a restart): a watch on the pods starts a stream for each
/// running container not followed yet, and again after its stream ended while it still runs
/// (from the end of what was printed, so no line is printed twice). Runs until interrupted.
async fn follow_pods(client: kube::Client, pods: Api<Pod>, selector: &str) -> anyhow::Result<()> {
    use kube::runtime::{WatchStreamExt as _, watcher};

    let mut known: BTreeMap<(String, String), Pod> = BTreeMap::new();
    let mut following: BTreeSet<ContainerKey> = BTreeSet::new();
    let mut printed_until: BTreeMap<ContainerKey, Timestamp> = BTreeMap::new();
    let mut streams = tokio::task::JoinSet::new();
    let mut events = watcher(pods, watcher::Config::default().labels(selector))
        .default_backoff()
        .boxed();
    let mut watching = true;
    loop {
        tokio::select! {
            event = events.next(), if watching => match event {
                Some(Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => {
                    let key = (pod.namespace().unwrap_or_default(), pod.name_any());
                    known.insert(key, pod);
                }
                Some(Ok(watcher::Event::Delete(pod))) => {
                    known.remove(&(pod.namespace().unwrap_or_default(), pod.name_any()));
                }
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
                Some(Err(e)) => eprintln!("watching the pods ({selector}): {e}; retrying"),
                None => watching = false,
            },
            Some(ended) = streams.join_next(), if !streams.is_empty() => {
                if let Ok((key, until)) = ended {
                    following.remove(&key);
                    if let Some(until) = until {
                        printed_until.insert(key, until);
                    }
                }
            }
            else => break,
        }
        for pod in known.values() {
            for container in running_containers(pod) {
                let key = (
                    pod.namespace().unwrap_or_default(),
                    pod.name_any(),
                    container,
                );
                if following.contains(&key) {
                    continue;
                }
                following.insert(key.clone());
                let since = printed_until.get(&key).copied();
                let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
                streams.spawn(follow_container(api, key, since));
            }
        }
    }
    Ok(())
}

/// The containers (init containers too) of `pod` that run now.
fn running_containers(pod: &Pod) -> Vec<String> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .map(|c| c.name.clone())
        .collect()
}

/// Prints one container's lines as they arrive (after `since`, when given) until its log ends;
/// returns the container and the time up to which its log was printed. A log that cannot be
/// read is reported, and tried again after [`FOLLOW_RETRY`] if the container still runs.
async fn follow_container(
    pods: Api<Pod>,
    key: ContainerKey,
    since: Option<Timestamp>,
) -> (ContainerKey, Option<Timestamp>) {
    let (_, pod, container) = &key;
    let prefix = format!("{pod}/{container}");
    let params = LogParams {
        container: Some(container.clone()),
        follow: true,
        since_time: since,
        ..LogParams::default()
    };
    let mut until = since;
    match pods.log_stream(pod, &params).await {
        Ok(stream) => {
            let mut lines = stream.lines();
            loop {
                match lines.try_next().await {
                    Ok(Some(line)) => {
                        println!("{prefix} | {line}");
                        until = Some(Timestamp::now());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("{prefix}: reading the log: {e}");
                        tokio::time::sleep(FOLLOW_RETRY).await;
                        break;
                    }
                }
            }
        }
        Err(e) => {
            eprintln!("{prefix}: {}", reason(&e));
            tokio::time::sleep(FOLLOW_RETRY).await;
        }
    }
    (key, until)
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
