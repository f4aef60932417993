//! Resources waiting for an output kind the API server does not serve (its CRD is not installed
//! yet), and the discovery re-check that runs them again as soon as it is.
//!
//! Discovery rather than a watch on CustomResourceDefinitions: discovery needs no permission
//! beyond what every authenticated client has (a watch on CRDs needs a cluster-wide grant an
//! operator's RBAC does not otherwise carry), it answers exactly the question that failed ("does
//! the API server serve this path?" — a CRD can exist and not be Established yet), and it costs
//! one small request per missing group and version per [`RECHECK_INTERVAL`], only while some
//! resource waits.
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use kube::core::ApiResource;
use tracing::{debug, info};

use crate::api_failure::{self, outage, resource_name};
use crate::cached::Key;

/// How often discovery is asked again about a kind some resource waits for. One small GET per
/// missing group and version; 5 s lets a CRD installed by hand or by a chart unblock its
/// resources within seconds, while the failed resources themselves retry on their (longer,
/// growing) backoff.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Kinds not served, each with the resources waiting for it.
#[derive(Debug, Default)]
pub struct Unserved {
    waiting: Mutex<BTreeMap<String, Waiting>>,
}

#[derive(Debug)]
struct Waiting {
    resource: ApiResource,
    keys: HashSet<Key>,
}

impl Unserved {
    /// Records that `key` could not be run because `resource` is not served.
    pub fn wait_for(&self, resource: &ApiResource, key: Key) {
        self.waiting
            .lock()
            .expect("unserved lock")
            .entry(resource_name(resource))
            .or_insert_with(|| Waiting {
                resource: resource.clone(),
                keys: HashSet::new(),
            })
            .keys
            .insert(key);
    }

    /// The kinds resources wait for, by `plural.group`.
    pub fn kinds(&self) -> Vec<(String, ApiResource)> {
        self.waiting
            .lock()
            .expect("unserved lock")
            .iter()
            .map(|(name, w)| (name.clone(), w.resource.clone()))
            .collect()
    }

    /// Forgets the kind `name` (it is served now) and returns the resources that waited for it.
    pub fn served(&self, name: &str) -> Vec<Key> {
        self.waiting
            .lock()
            .expect("unserved lock")
            .remove(name)
            .map(|w| w.keys.into_iter().collect())
            .unwrap_or_default()
    }
}

/// Every [`RECHECK_INTERVAL`], asks discovery about each kind resources wait for; once one is
/// served, hands each resource that waited for it to `wake`. Runs until dropped.
pub async fn recheck(
    unserved: std::sync::Arc<Unserved>,
    client: kube::Client,
    wake: impl Fn(Key) + Send,
) {
    loop {
        tokio::time::sleep(RECHECK_INTERVAL).await;
        for (name, resource) in unserved.kinds() {
            match api_failure::served(&client, &resource).await {
                Ok(true) => {
                    let keys = unserved.served(&name);
                    info!(
                        kind = %name,
                        resources = keys.len(),
                        "an output kind is served now; running the resources that waited for it"
                    );
                    keys.into_iter().for_each(&wake);
                }
                Ok(false) => debug!(kind = %name, "output kind still not served"),
                Err(e) => match api_failure::unavailable(&e) {
                    Some(cause) => {
                        outage().failed(&cause);
                    }
                    None => debug!(kind = %name, error = %e, "discovery failed; asking again"),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cached::Kind;
    use kube::core::GroupVersionKind;

    fn vs() -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
            "virtualservices",
        )
    }

    fn key(name: &str) -> Key {
        let task = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("e2e.autopilot.dev", "v1", "Task"),
            "tasks",
        );
        Key::new_with(name, Kind::new(&task)).within("ns")
    }

    #[test]
    fn each_kind_wakes_the_resources_that_waited_for_it_once() {
        let unserved = Unserved::default();
        assert!(unserved.kinds().is_empty());
        unserved.wait_for(&vs(), key("a"));
        unserved.wait_for(&vs(), key("b"));
        unserved.wait_for(&vs(), key("a"));
        let kinds = unserved.kinds();
        assert_eq!(kinds.len(), 1);
        assert_eq!(kinds[0].0, "virtualservices.networking.istio.io");
        let mut woken: Vec<String> = unserved
            .served("virtualservices.networking.istio.io")
            .into_iter()
            .map(|k| k.name)
            .collect();
        woken.sort();
        assert_eq!(woken, ["a", "b"]);
        assert!(unserved.kinds().is_empty(), "forgotten once served");
        assert!(
            unserved
                .served("virtualservices.networking.istio.io")
                .is_empty()
        );
    }
}
