//! The upstream CRDs `ap cluster up --with` installs for local development: Istio's networking
//! CRDs and the Gateway API standard channel, vendored unmodified in `cli/crds/` (each file
//! names its Go module, version and source; `hack/vendor-crds.sh` refreshes them).

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt as _};

use crate::deploy::FIELD_MANAGER;

/// How long each CRD may take to be Established: the API server does it in well under a second,
/// but a control plane just started (or a loaded machine) can be slower.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// A set of upstream CRDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Addon {
    /// Istio's networking.istio.io CRDs (VirtualService, DestinationRule, Gateway, ...).
    Istio,
    /// The Gateway API standard channel (HTTPRoute, Gateway, GatewayClass, ...).
    GatewayApi,
}

impl Addon {
    fn yaml(self) -> &'static str {
        match self {
            Self::Istio => include_str!("../crds/istio-networking.yaml"),
            Self::GatewayApi => include_str!("../crds/gateway-api-standard.yaml"),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Istio => "Istio networking CRDs",
            Self::GatewayApi => "Gateway API standard CRDs",
        }
    }

    /// The Go module and version the CRDs come from, as the file's header records it.
    pub(crate) fn source(self) -> &'static str {
        self.yaml()
            .lines()
            .find_map(|l| l.strip_prefix("# module: "))
            .and_then(|l| l.split(" (").next())
            .unwrap_or("unknown")
    }

    /// The CRDs, parsed.
    fn crds(self) -> anyhow::Result<Vec<CustomResourceDefinition>> {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(self.yaml())
            .with_context(|| format!("parsing the vendored {}", self.title()))?;
        docs.into_iter()
            .filter(|d| d.is_object())
            .map(|d| {
                serde_json::from_value(d)
                    .with_context(|| format!("reading a CRD of the vendored {}", self.title()))
            })
            .collect()
    }
}

/// Apply every CRD of `addon` with server-side apply and wait until each is Established;
/// returns a line saying what was installed.
///
/// # Errors
///
/// The API server refused a CRD, or one was not Established in time.
pub(crate) async fn install(client: &Client, addon: Addon) -> anyhow::Result<String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let crds = addon.crds()?;
    for crd in &crds {
        let name = crd.name_any();
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .with_context(|| format!("applying the CRD {name}"))?;
    }
    let mut plurals = Vec::new();
    for crd in &crds {
        let name = crd.name_any();
        crate::deploy::wait_crd_established_within(client, &name, ESTABLISHED_TIMEOUT).await?;
        plurals.push(crd.spec.names.plural.clone());
    }
    Ok(format!(
        "installed {} {} from {}: {}",
        crds.len(),
        addon.title(),
        addon.source(),
        plurals.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_crds_parse_and_record_their_source() {
        let cases = [
            (
                Addon::Istio,
                "istio.io/api v",
                "networking.istio.io",
                &["virtualservices", "destinationrules", "gateways"][..],
            ),
            (
                Addon::GatewayApi,
                "sigs.k8s.io/gateway-api v",
                "gateway.networking.k8s.io",
                &[
                    "httproutes",
                    "gateways",
                    "gatewayclasses",
                    "referencegrants",
                ][..],
            ),
        ];
        for (addon, source, group, plurals) in cases {
            assert!(addon.source().starts_with(source), "{}", addon.source());
            let crds = addon.crds().unwrap();
            assert!(crds.iter().all(|c| c.spec.group == group), "{addon:?}");
            for plural in plurals {
                assert!(
                    crds.iter().any(|c| c.spec.names.plural == *plural),
                    "{addon:?} lacks {plural}"
                );
            }
        }
    }
}
