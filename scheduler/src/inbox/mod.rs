//! External events as phase inputs: received over HTTP, stored in the cluster before they are
//! acknowledged, handed to the phases that declare them, and marked consumed once a phase's
//! result is written.
//!
//! - [`receiver`]: the HTTP endpoint (CloudEvents, GitHub, generic webhooks).
//! - [`incoming`]: requests parsed into events (pure).
//! - [`verify`]: signatures, shared secrets and bearer tokens (pure).
//! - [`store`]: the `EventDelivery` objects that hold accepted events, and retention.
//!
//! The reconciler uses [`Inbox`]: [`Inbox::pending`] while gathering a phase's inputs, and
//! [`Inbox::consume`] after the phase's result was written to status.
//!
//! # Why one object per delivery
//!
//! Accepted events live in small namespaced `EventDelivery` objects, one per event and
//! resource, owned by the resource — not in the resource's status. The receiver can then store
//! an event with one create, never racing the reconciler's guarded status writes; a duplicate
//! is a 409 on a name derived from the event's (source, id), which makes deduplication atomic
//! in the API server; Kubernetes' garbage collector removes the events with their resource;
//! and the resource's own object stays small, so a noisy source never makes every status write
//! (and every watch event of the resource) larger. The price is one LIST per call of a phase
//! that reads events, and one PATCH per consumed event.

pub mod incoming;
pub mod receiver;
pub mod store;
pub mod verify;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use autopilot_model::Model;
use kube::core::ApiResource;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// One external event, as stored and as a worker receives it (the CloudEvents attributes; see
/// `ExternalEvent` in worker.proto).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Unique per source: CloudEvents `id`, `X-GitHub-Delivery`, or the webhook's id.
    pub id: String,
    /// CloudEvents `source`; the repository URL for GitHub; the source name for a webhook.
    pub source: String,
    /// CloudEvents `type`; `event.action` for GitHub; the source name for a webhook.
    pub type_: String,
    /// CloudEvents `subject`, empty when absent.
    pub subject: String,
    /// When it happened (or was received, when it does not say), ms since the Unix epoch.
    pub time_unix_ms: i64,
    /// Media type of `data`.
    pub data_content_type: String,
    /// The payload as received.
    pub data: Vec<u8>,
    /// CloudEvents extension attributes.
    pub extensions: BTreeMap<String, String>,
    /// When it was stored, ms since the Unix epoch.
    pub accepted_unix_ms: i64,
}

/// How often stored events are checked against `receiver.retention.maxAge`: often enough that
/// nothing outlives its age by much, rarely enough to cost one LIST a minute.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);

/// The pending events of one phase's declared sources, read for one call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pending {
    /// Per declared source: its events oldest first, or why they could not be read.
    pub lists: BTreeMap<String, Result<Vec<Event>, String>>,
    /// Namespace of the resource.
    namespace: String,
    /// Delivery objects to mark consumed once the phase's result is written.
    names: Vec<String>,
}

impl Pending {
    /// Whether no event is pending (nothing to consume).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The events as the worker call carries them.
    pub fn for_worker(
        &self,
    ) -> BTreeMap<String, Result<Vec<autopilot_worker_client::ExternalEvent>, String>> {
        self.lists
            .iter()
            .map(|(source, list)| {
                let list = list.as_ref().map_err(Clone::clone).map(|events| {
                    events
                        .iter()
                        .map(|e| autopilot_worker_client::ExternalEvent {
                            id: e.id.clone(),
                            source: e.source.clone(),
                            type_: e.type_.clone(),
                            subject: e.subject.clone(),
                            time_unix_ms: e.time_unix_ms,
                            data_content_type: e.data_content_type.clone(),
                            data: e.data.clone(),
                            extensions: e.extensions.clone(),
                            accepted_unix_ms: e.accepted_unix_ms,
                        })
                        .collect()
                });
                (source.clone(), list)
            })
            .collect()
    }
}

/// The store as the reconciler sees it.
#[derive(Clone, Debug)]
pub struct Inbox {
    store: store::Store,
}

impl Inbox {
    /// The inbox of `operator`, whose resources are of kind `resource`.
    pub fn new(client: kube::Client, operator: &str, resource: ApiResource) -> Self {
        Self {
            store: store::Store::new(client, operator, resource),
        }
    }

    /// The pending events of `sources` for the resource with `uid` in `namespace`. Never
    /// fails: a source whose events could not be read carries the reason (the worker sees it
    /// as the list's `error`).
    pub async fn pending(
        &self,
        namespace: Option<&str>,
        uid: Option<&str>,
        sources: &[String],
    ) -> Pending {
        let mut pending = Pending::default();
        if sources.is_empty() {
            return pending;
        }
        let (Some(namespace), Some(uid)) = (namespace, uid) else {
            for s in sources {
                pending.lists.insert(
                    s.clone(),
                    Err("events are delivered to namespaced resources only".into()),
                );
            }
            return pending;
        };
        pending.namespace = namespace.to_owned();
        match self.store.pending(namespace, uid, sources).await {
            Ok(found) => {
                for (source, stored) in found {
                    pending.names.extend(stored.iter().map(|s| s.name.clone()));
                    pending
                        .lists
                        .insert(source, Ok(stored.into_iter().map(|s| s.event).collect()));
                }
            }
            Err(e) => {
                warn!(error = %e, "could not read the resource's pending events");
                for s in sources {
                    pending.lists.insert(s.clone(), Err(e.to_string()));
                }
            }
        }
        pending
    }

    /// Mark `pending`'s events consumed. Call it only after the phase's result was written;
    /// a failure is logged, and the events are then handed out again.
    pub async fn consume(&self, pending: &Pending) {
        if pending.names.is_empty() {
            return;
        }
        if let Err(e) = self.store.consume(&pending.namespace, &pending.names).await {
            warn!(error = %e, events = pending.names.len(), "could not mark events consumed; they will be delivered again");
        }
    }
}

/// How many woken resources may wait to be reconciled. When the reconciler is not taking them
/// (this replica is not the leader yet) further wakes are dropped: the events are stored, and
/// the resources' next periodic reconcile delivers them.
pub const WAKE_QUEUE: usize = 1024;

/// A resource an event was stored for, to reconcile at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Woken {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// What the receiver and the retention sweep need beyond the model.
#[derive(Clone)]
pub struct Start {
    /// The API client.
    pub client: kube::Client,
    /// Resources to reconcile at once (an event woke them); bounded by [`WAKE_QUEUE`].
    pub wake: tokio::sync::mpsc::Sender<Woken>,
    /// The scheduler's metrics.
    pub metrics: Arc<Metrics>,
    /// The Event publisher (dropped events are reported on their resource).
    pub events: crate::events::Events,
    /// The operator's kind.
    pub resource: ApiResource,
}

impl std::fmt::Debug for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Start")
            .field("resource", &self.resource.kind)
            .finish_non_exhaustive()
    }
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A secret file could not be read.
    #[error(transparent)]
    Secret(#[from] receiver::SecretUnreadable),
    /// The address could not be bound.
    #[error("binding the event receiver to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Serve the receiver until `shutdown` when the project declares events and `receiver.addr` is
/// set; every replica serves it (stored events are in the cluster, whoever accepted them).
/// Returns the bound address.
///
/// # Errors
///
/// [`StartError`] for an unreadable secret or an address in use.
pub async fn serve(
    model: &Model,
    start: Start,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Option<SocketAddr>, StartError> {
    let project = &model.project;
    let settings = &model.operator.receiver;
    let Some(addr) = settings.addr.filter(|_| !project.events.is_empty()) else {
        return Ok(None);
    };
    let read = |p: &Option<std::path::PathBuf>| p.as_deref().map(receiver::read_secret).transpose();
    let mut webhooks = BTreeMap::new();
    for (name, auth) in &settings.webhooks {
        webhooks.insert(
            name.clone(),
            (
                receiver::read_secret(&auth.secret_file)?,
                auth.scheme.clone(),
            ),
        );
    }
    let config = receiver::Config {
        sources: project.events.clone(),
        cloudevents_token: read(&settings.cloudevents_token_file)?,
        github_secret: read(&settings.github_secret_file)?,
        webhooks,
        max_body_bytes: settings.max_body_bytes,
        max_per_resource: settings.max_per_resource,
        namespaces: model.operator.namespaces.clone(),
        resource: start.resource.clone(),
    };
    let store = store::Store::new(
        start.client.clone(),
        &project.operator_name,
        start.resource.clone(),
    );
    let receiver = Arc::new(receiver::Receiver::new(
        config,
        start.client,
        store,
        start.wake,
        start.metrics,
        start.events,
    ));
    let (bound, _task) = crate::server::serve(addr, receiver.router(), shutdown)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    info!(%bound, "receiving external events on /cloudevents, /github and /webhooks/{{source}}");
    Ok(Some(bound))
}

/// Start the retention sweep (removing stored events older than `receiver.retention.maxAge`)
/// when the project declares events. Run it on the leader only.
pub fn spawn_retention(model: &Model, start: Start) {
    if model.project.events.is_empty() {
        return;
    }
    let store = store::Store::new(
        start.client.clone(),
        &model.project.operator_name,
        start.resource.clone(),
    );
    tokio::spawn(expire(
        store,
        model.operator.namespaces.clone(),
        model.operator.receiver.max_age,
        start.metrics,
        start.events,
        start.resource,
    ));
}

/// Remove stored events older than `max_age`, every [`EXPIRY_INTERVAL`].
async fn expire(
    store: store::Store,
    namespaces: Vec<String>,
    max_age: Duration,
    metrics: Arc<Metrics>,
    events: crate::events::Events,
    resource: ApiResource,
) {
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.into_iter().map(Some).collect()
    };
    let mut tick = tokio::time::interval(EXPIRY_INTERVAL.min(max_age));
    loop {
        tick.tick().await;
        for ns in &scopes {
            match store.expire(ns.as_deref(), max_age).await {
                Ok(dropped) => {
                    for d in dropped {
                        receiver::report_drop(&metrics, &events, &resource, &d).await;
                    }
                }
                Err(e) => warn!(error = %e, "could not remove expired events"),
            }
        }
    }
}
