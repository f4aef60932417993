//! Kubernetes client helpers shared by the cluster-facing commands.

use std::path::Path;

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The client configuration of `kubeconfig` when given, else the usual inference (`KUBECONFIG`,
/// `~/.kube/config`, in-cluster).
pub(crate) async fn config(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    config_in(kubeconfig, None).await
}

/// As [`config`], in the kubeconfig's `context` when given instead of its current one.
pub(crate) async fn config_in(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    match (kubeconfig, context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .with_context(|| format!("loading the kubeconfig {}", path.display()))
        }
        (None, Some(context)) => kube::Config::from_kubeconfig(&options)
            .await
            .with_context(|| format!("loading context {context} of the kubeconfig")),
        (None, None) => kube::Config::infer()
            .await
            .context("finding a cluster (set KUBECONFIG or pass --kubeconfig; `ap cluster up` starts a local one)"),
    }
}

/// `error` as one readable line: for an API server's refusal its HTTP status, reason and
/// message (kube's own text of it ends in a Rust struct dump, which people should never see).
pub(crate) fn readable(error: kube::Error) -> anyhow::Error {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", status.reason)
            };
            anyhow::anyhow!("HTTP {}{reason}: {}", status.code, status.message)
        }
        other => anyhow::Error::new(other),
    }
}

/// Whether `error` is the API server's 404.
pub(crate) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_refusals_read_as_status_reason_and_message() {
        let status = kube::core::Status {
            code: 403,
            reason: "Forbidden".into(),
            message: "tasks.e2e.example.com is forbidden: User \"x\" cannot list".into(),
            ..Default::default()
        };
        let text = format!("{:#}", readable(kube::Error::Api(Box::new(status))));
        assert_eq!(
            text,
            "HTTP 403 Forbidden: tasks.e2e.example.com is forbidden: User \"x\" cannot list"
        );
        assert!(!text.contains("Status {"), "{text}");
    }
}
