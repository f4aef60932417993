//! The real upstream CRDs — Istio's networking.istio.io and the Gateway API standard channel,
//! vendored unmodified in `cli/crds/` with their Go module and version (the ones `ap cluster up
//! --with` installs) — installed into a test's control plane, so the objects a test writes are
//! validated by the schemas a real cluster has, not by an open stand-in.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

use crate::wait;

/// Each CRD is Established within this; the API server does it in well under a second, but a
/// loaded machine can be slower.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// A vendored set of upstream CRDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// `cli/crds/istio-networking.yaml`: VirtualService, DestinationRule, Gateway, ...
    Istio,
    /// `cli/crds/gateway-api-standard.yaml`: HTTPRoute, Gateway, GatewayClass, ...
    GatewayApi,
}

impl Upstream {
    /// The vendored file.
    pub fn path(self) -> PathBuf {
        let file = match self {
            Self::Istio => "istio-networking.yaml",
            Self::GatewayApi => "gateway-api-standard.yaml",
        };
        crate::new_user::root().join("cli/crds").join(file)
    }

    /// The CRDs of the file, parsed.
    fn crds(self) -> Vec<CustomResourceDefinition> {
        let path = self.path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
        docs.into_iter()
            .filter(|d| d.is_object())
            .map(|d| {
                serde_json::from_value(d)
                    .unwrap_or_else(|e| panic!("a CRD of {}: {e}", path.display()))
            })
            .collect()
    }
}

/// Apply every CRD of `upstream` with server-side apply (idempotent, so suites sharing a
/// control plane may all call it) and wait until each is Established.
pub async fn install(client: &kube::Client, upstream: Upstream) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("autopilot-e2e-upstream-crds").force();
    let crds = upstream.crds();
    for crd in &crds {
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .unwrap_or_else(|e| panic!("applying the upstream CRD {name}: {e}"));
    }
    for crd in &crds {
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        wait::until(
            &format!("the upstream CRD {name} to be Established"),
            ESTABLISHED_TIMEOUT,
            || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.map_err(|e| e.to_string())?;
                    let established = crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    if established {
                        Ok(())
                    } else {
                        Err("not Established yet".to_owned())
                    }
                }
            },
        )
        .await;
    }
}
