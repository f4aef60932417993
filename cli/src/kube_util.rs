//! Kubernetes client helpers shared by the cluster-facing commands.

use std::path::Path;

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The client configuration of `kubeconfig` when given, else the usual inference (`KUBECONFIG`,
/// `~/.kube/config`, in-cluster).
pub(crate) async fn config(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading the kubeconfig {}", path.display()))
        }
        None => kube::Config::infer()
            .await
            .context("finding a cluster (set KUBECONFIG or pass --kubeconfig; `ap cluster up` starts a local one)"),
    }
}
