//! The HTTP endpoint that accepts external events: authenticate, parse, match against the
//! declared sources, route to resources, store, wake them — and only then answer 2xx.
//!
//! | path | speaks |
//! |---|---|
//! | `POST /cloudevents` | CloudEvents 1.0 over HTTP: binary, structured or batched content mode; `Authorization: Bearer <token>` |
//! | `POST /github` | GitHub webhooks, `X-Hub-Signature-256` checked against the secret |
//! | `POST /webhooks/{source}` | a generic JSON webhook of the named source, with a shared-secret header or an HMAC signature |
//!
//! Replies: 200 once every matched event is stored (or was stored before: a duplicate); 202
//! when no declaration matches or no resource matches the route; 400 for a malformed event or
//! one whose route cannot be rendered (a field it names is missing); 401 for a missing or wrong secret or signature; 404 for an
//! unknown webhook source; 413 for a body over `receiver.maxBodyBytes`; 503 when storing failed
//! (the sender should retry; deduplication makes that safe). Every reply but 200 is logged with
//! its reason, and the body says it too.

use std::collections::BTreeMap;
use std::sync::Arc;

use autopilot_model::event::{EventSource, SourceKind, Target as RouteTarget};
use autopilot_model::operator::receiver::WebhookScheme;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kube::api::{Api, ListParams};
use kube::core::{ApiResource, DynamicObject};
use serde::Serialize;
use tracing::{info, warn};

use super::incoming::{self, Github, Incoming};
use super::store::{self, Put, Store, Target};
use super::verify;
use crate::metrics::Metrics;

/// What the receiver needs to run, read once at start-up. Its Debug output leaves the
/// secrets out.
pub struct Config {
    /// The declared event sources.
    pub sources: Vec<EventSource>,
    /// `receiver.cloudevents.tokenFile`'s contents.
    pub cloudevents_token: Option<Vec<u8>>,
    /// `receiver.github.secretFile`'s contents.
    pub github_secret: Option<Vec<u8>>,
    /// Per webhook source: its secret and where the proof travels.
    pub webhooks: BTreeMap<String, (Vec<u8>, WebhookScheme)>,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Deliveries kept per resource.
    pub max_per_resource: u32,
    /// Namespaces the scheduler watches (empty: all).
    pub namespaces: Vec<String>,
    /// The operator's kind.
    pub resource: ApiResource,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("sources", &self.sources.len())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_per_resource", &self.max_per_resource)
            .finish_non_exhaustive()
    }
}

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("reading the secret {path}: {source}")]
pub struct SecretUnreadable {
    /// The file.
    pub path: String,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Read a secret file, without the line break editors and `echo` leave at its end.
///
/// # Errors
///
/// [`SecretUnreadable`] naming the file.
pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, SecretUnreadable> {
    let mut bytes = std::fs::read(path).map_err(|source| SecretUnreadable {
        path: path.display().to_string(),
        source,
    })?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}

/// The receiver's shared state.
pub struct Receiver {
    config: Config,
    client: kube::Client,
    store: Store,
    wake: tokio::sync::mpsc::Sender<super::Woken>,
    metrics: Arc<Metrics>,
    events: crate::events::Events,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("sources", &self.config.sources.len())
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// How one event fared with one declaration and resource.
#[derive(Clone, Debug, Serialize)]
struct Outcome {
    id: String,
    /// The declared source, empty when none matched.
    source: String,
    /// `namespace/name` of the resource, empty when none.
    #[serde(skip_serializing_if = "String::is_empty")]
    resource: String,
    /// stored, duplicate, unmatched, no_resource, unrouted, failed.
    outcome: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
}

#[derive(Debug, Serialize)]
struct Reply {
    status: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<Outcome>,
}

fn reply(status: StatusCode, error: String, results: Vec<Outcome>) -> Response {
    let body = Reply {
        status: status.as_u16(),
        error,
        results,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response()
}

impl Receiver {
    /// A receiver storing through `store`, waking resources through `wake`.
    pub fn new(
        config: Config,
        client: kube::Client,
        store: Store,
        wake: tokio::sync::mpsc::Sender<super::Woken>,
        metrics: Arc<Metrics>,
        events: crate::events::Events,
    ) -> Self {
        Self {
            config,
            client,
            store,
            wake,
            metrics,
            events,
        }
    }

    /// The endpoint's routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/cloudevents", post(cloudevents))
            .route("/github", post(github))
            .route("/webhooks/{source}", post(webhook))
            .with_state(self)
    }

    /// Refuse with `status`, logging why and counting it against `source`.
    fn refuse(&self, source: &str, status: StatusCode, why: String) -> Response {
        warn!(source, status = status.as_u16(), reason = %why, "event refused");
        self.metrics.event(source, "rejected");
        reply(status, why, Vec::new())
    }

    /// The body, or a 413 reply when it is larger than allowed.
    async fn body(
        &self,
        endpoint: &str,
        request: Request<Body>,
    ) -> Result<(HeaderMap, Vec<u8>), Response> {
        let (parts, body) = request.into_parts();
        let limit = self.config.max_body_bytes;
        let too_large = |size: String| {
            self.refuse(
                endpoint,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body ({size}) is larger than receiver.maxBodyBytes ({limit} bytes)"),
            )
        };
        if let Some(length) = parts
            .headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            && length > limit
        {
            return Err(too_large(format!("{length} bytes")));
        }
        match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => Ok((parts.headers, bytes.to_vec())),
            Err(_) => Err(too_large("more".into())),
        }
    }

    /// Match, route and store each of `incoming` against the declarations of `kind` (only
    /// `only`, when given), then answer.
    async fn accept(
        &self,
        endpoint: &str,
        incoming: Vec<Incoming>,
        kind: SourceKind,
        only: Option<&str>,
    ) -> Response {
        let mut results = Vec::new();
        for event in &incoming {
            let attributes = event.attributes();
            let matching: Vec<&EventSource> = self
                .config
                .sources
                .iter()
                .filter(|s| s.kind == kind && only.is_none_or(|o| o == s.name))
                .filter(|s| s.matches(&attributes, &event.json))
                .collect();
            if matching.is_empty() {
                self.metrics.event(endpoint, "unmatched");
                results.push(Outcome {
                    id: event.event.id.clone(),
                    source: String::new(),
                    resource: String::new(),
                    outcome: "unmatched",
                    reason: format!(
                        "no {kind} source declared in autopilot.yaml matches type {:?}, source {:?}",
                        event.event.type_, event.event.source
                    ),
                });
                continue;
            }
            let document = event.document();
            for source in matching {
                results.extend(self.deliver(source, event, &document).await);
            }
        }
        let count = |o: &str| results.iter().filter(|r| r.outcome == o).count();
        let (status, error) = if count("failed") > 0 {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "some events could not be stored; send them again".to_owned(),
            )
        } else if count("stored") + count("duplicate") > 0 {
            (StatusCode::OK, String::new())
        } else if count("unrouted") > 0 {
            (
                StatusCode::BAD_REQUEST,
                "no event could be routed to a resource".to_owned(),
            )
        } else {
            (
                StatusCode::ACCEPTED,
                "no declared source and resource takes these events".to_owned(),
            )
        };
        for r in results
            .iter()
            .filter(|r| r.outcome != "stored" && r.outcome != "duplicate")
        {
            let source = if r.source.is_empty() {
                endpoint
            } else {
                &r.source
            };
            warn!(source, id = %r.id, outcome = r.outcome, reason = %r.reason, status = status.as_u16(), "event not stored");
        }
        reply(status, error, results)
    }

    /// Route one event of one declaration and store it for each resource.
    async fn deliver(
        &self,
        source: &EventSource,
        event: &Incoming,
        document: &serde_json::Value,
    ) -> Vec<Outcome> {
        let outcome = |resource: String, outcome: &'static str, reason: String| Outcome {
            id: event.event.id.clone(),
            source: source.name.clone(),
            resource,
            outcome,
            reason,
        };
        let route = match source.target(document) {
            Ok(r) => r,
            Err(e) => {
                self.metrics.event(&source.name, "unrouted");
                return vec![outcome(
                    String::new(),
                    "unrouted",
                    format!("route of source {}: {e}", source.name),
                )];
            }
        };
        let targets = match self.targets(&route).await {
            Ok(t) => t,
            Err(e) => {
                self.metrics.event(&source.name, "failed");
                return vec![outcome(
                    String::new(),
                    "failed",
                    format!("finding the resources: {e}"),
                )];
            }
        };
        if targets.is_empty() {
            self.metrics.event(&source.name, "no_resource");
            return vec![outcome(
                String::new(),
                "no_resource",
                format!("no {} {}", self.config.resource.kind, describe(&route)),
            )];
        }
        let mut out = Vec::new();
        for target in targets {
            let resource = format!("{}/{}", target.namespace, target.name);
            match self.store.put(&source.name, &target, &event.event).await {
                Ok(Put::Stored) => {
                    self.metrics.event(&source.name, "stored");
                    info!(source = %source.name, id = %event.event.id, resource = %resource, "event stored");
                    self.retain(&target).await;
                    let key = super::Woken {
                        namespace: target.namespace.clone(),
                        name: target.name.clone(),
                    };
                    // Full: the reconciler is not taking wakes (not the leader yet); the
                    // stored event is delivered by the resource's next reconcile anyway.
                    let _ = self.wake.try_send(key);
                    out.push(outcome(resource, "stored", String::new()));
                }
                Ok(Put::Duplicate) => {
                    self.metrics.event(&source.name, "duplicate");
                    out.push(outcome(resource, "duplicate", "already stored".into()));
                }
                Err(e) => {
                    self.metrics.event(&source.name, "failed");
                    out.push(outcome(resource, "failed", e.to_string()));
                }
            }
        }
        out
    }

    /// Enforce the per-resource count limit after a store; drops are counted and reported.
    async fn retain(&self, target: &Target) {
        match self.store.trim(target, self.config.max_per_resource).await {
            Ok(dropped) => {
                for d in dropped {
                    report_drop(&self.metrics, &self.events, &self.config.resource, &d).await;
                }
            }
            Err(e) => {
                warn!(error = %e, resource = %target.name, "could not enforce event retention")
            }
        }
    }

    /// The resources a route names, among the watched namespaces; resources being deleted are
    /// left out.
    async fn targets(&self, route: &RouteTarget) -> Result<Vec<Target>, kube::Error> {
        let watched = &self.config.namespaces;
        let (namespaces, params): (Vec<Option<String>>, ListParams) = match route {
            RouteTarget::Name { name, namespace } => (
                self.scope(namespace.as_deref()),
                ListParams::default().fields(&format!("metadata.name={name}")),
            ),
            RouteTarget::Selector {
                selector,
                namespace,
            } => (
                self.scope(namespace.as_deref()),
                ListParams::default().labels(selector),
            ),
            RouteTarget::All => (self.scope(None), ListParams::default()),
        };
        let mut out = Vec::new();
        for ns in namespaces {
            if let Some(ns) = &ns
                && !watched.is_empty()
                && !watched.contains(ns)
            {
                continue;
            }
            let api: Api<DynamicObject> = match &ns {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, &self.config.resource),
                None => Api::all_with(self.client.clone(), &self.config.resource),
            };
            for m in api.list_metadata(&params).await? {
                let meta = m.metadata;
                if meta.deletion_timestamp.is_some() {
                    continue;
                }
                if let (Some(name), Some(namespace), Some(uid)) =
                    (meta.name, meta.namespace, meta.uid)
                {
                    out.push(Target {
                        name,
                        namespace,
                        uid,
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(out)
    }

    /// The namespaces to look in: the given one, else every watched one (`None`: all).
    fn scope(&self, namespace: Option<&str>) -> Vec<Option<String>> {
        match namespace {
            Some(ns) => vec![Some(ns.to_owned())],
            None if self.config.namespaces.is_empty() => vec![None],
            None => self.config.namespaces.iter().cloned().map(Some).collect(),
        }
    }
}

/// A route in words, for replies and logs.
fn describe(route: &RouteTarget) -> String {
    let within = |ns: &Option<String>| match ns {
        Some(ns) => format!("in namespace {ns}"),
        None => "in the watched namespaces".to_owned(),
    };
    match route {
        RouteTarget::Name { name, namespace } => {
            format!("is named {name:?} {}", within(namespace))
        }
        RouteTarget::Selector {
            selector,
            namespace,
        } => format!(
            "matches the label selector {selector:?} {}",
            within(namespace)
        ),
        RouteTarget::All => "exists".to_owned(),
    }
}

/// Count a dropped delivery and say so in an Event on its resource.
pub(crate) async fn report_drop(
    metrics: &Metrics,
    events: &crate::events::Events,
    resource: &ApiResource,
    dropped: &store::Dropped,
) {
    metrics.event_dropped(&dropped.source);
    warn!(source = %dropped.source, delivery = %dropped.id, resource = %dropped.target.name, why = %dropped.why, "stored event dropped before a phase consumed it");
    let regarding = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(resource.api_version.clone()),
        kind: Some(resource.kind.clone()),
        name: Some(dropped.target.name.clone()),
        namespace: Some(dropped.target.namespace.clone()),
        uid: Some(dropped.target.uid.clone()),
        ..Default::default()
    };
    let event = crate::events::Event {
        warning: true,
        reason: "EventDropped".into(),
        note: format!(
            "external event {} of source {} was dropped unconsumed: {}",
            dropped.id, dropped.source, dropped.why
        ),
        action: "Retain".into(),
        aggregate: true,
    };
    events.publish(event, regarding).await;
}

async fn cloudevents(State(r): State<Arc<Receiver>>, request: Request<Body>) -> Response {
    const ENDPOINT: &str = "cloudevents";
    let (headers, body) = match r.body(ENDPOINT, request).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let Some(token) = &r.config.cloudevents_token else {
        return r.refuse(ENDPOINT, StatusCode::UNAUTHORIZED, "no receiver.cloudevents.tokenFile is configured, so no CloudEvent can be authenticated".into());
    };
    if let Err(e) = verify::bearer(&headers, token) {
        return r.refuse(ENDPOINT, StatusCode::UNAUTHORIZED, e.to_string());
    }
    match incoming::cloudevents(&headers, &body, store::now_ms()) {
        Ok(events) => {
            r.accept(ENDPOINT, events, SourceKind::Cloudevents, None)
                .await
        }
        Err(e) => r.refuse(ENDPOINT, StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn github(State(r): State<Arc<Receiver>>, request: Request<Body>) -> Response {
    const ENDPOINT: &str = "github";
    let (headers, body) = match r.body(ENDPOINT, request).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let Some(secret) = &r.config.github_secret else {
        return r.refuse(
            ENDPOINT,
            StatusCode::UNAUTHORIZED,
            "no receiver.github.secretFile is configured, so no delivery can be verified".into(),
        );
    };
    if let Err(e) = verify::signature(&headers, verify::GITHUB_SIGNATURE, &body, secret) {
        return r.refuse(ENDPOINT, StatusCode::UNAUTHORIZED, e.to_string());
    }
    match incoming::github(&headers, &body, store::now_ms()) {
        Ok(Github::Ping) => reply(StatusCode::OK, String::new(), Vec::new()),
        Ok(Github::Delivery(d)) => r.accept(ENDPOINT, vec![*d], SourceKind::Github, None).await,
        Err(e) => r.refuse(ENDPOINT, StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn webhook(
    State(r): State<Arc<Receiver>>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Response {
    let Some(source) = r
        .config
        .sources
        .iter()
        .find(|s| s.kind == SourceKind::Webhook && s.name == name)
    else {
        return r.refuse(
            "webhook",
            StatusCode::NOT_FOUND,
            format!("no webhook source {name:?} is declared in autopilot.yaml"),
        );
    };
    let (headers, body) = match r.body(&name, request).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let Some((secret, scheme)) = r.config.webhooks.get(&name) else {
        return r.refuse(
            &name,
            StatusCode::UNAUTHORIZED,
            format!("no receiver.webhooks.{name} is configured, so no call can be authenticated"),
        );
    };
    let checked = match scheme {
        WebhookScheme::Header(h) => {
            verify::shared_secret(&headers, &h.to_ascii_lowercase(), secret)
        }
        WebhookScheme::Signature(h) => {
            verify::signature(&headers, &h.to_ascii_lowercase(), &body, secret)
        }
    };
    if let Err(e) = checked {
        return r.refuse(&name, StatusCode::UNAUTHORIZED, e.to_string());
    }
    match incoming::webhook(&name, &body, source.id.as_deref(), store::now_ms()) {
        Ok(event) => {
            r.accept(&name, vec![event], SourceKind::Webhook, Some(&name))
                .await
        }
        Err(e) => r.refuse(&name, StatusCode::BAD_REQUEST, e.to_string()),
    }
}
