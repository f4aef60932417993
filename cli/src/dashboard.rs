//! `ap dashboard`: the operator's resources in a browser — by phase, live over a watch, one
//! resource's timeline with its Events, and the verbs as buttons.
//!
//! A small HTTP server (loopback by default) serves one page, its script and style embedded in
//! `ap` (plain HTML, CSS and JavaScript: no build step), and a JSON API:
//!
//! - `GET /`: the page, carrying a token made when the server starts;
//! - `GET /api/events`: Server-Sent Events — `snapshot` (the project and every resource) on
//!   connect and after each re-list of the watch, `resource` (one resource changed), `deleted`,
//!   `problem` (the watch failing, or `null` once it works again);
//! - `GET /api/resources/{namespace}/{name}`: one resource's Events, phase changes and owned
//!   objects;
//! - `POST /api/resources/{namespace}/{name}/{verb}`: a verb (`pause`, `resume`, `retry`,
//!   `abort`, `approve`, `promote`; body `{"gate": NAME}` optional for `approve`), run by the
//!   same code as `ap VERB`.
//!
//! Whoever reaches the server acts with the kubeconfig's credentials, so a POST must carry the
//! page's token in the `X-Autopilot-Token` header (a page of another site can neither read the
//! token nor set the header without a CORS preflight this server never grants), and on a
//! loopback address every request must name a loopback host (so a DNS name rebound to 127.0.0.1
//! cannot reach it).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use autopilot_model::Project;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt as _};
use kube::ResourceExt as _;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::deploy::runtime;
use crate::selection::{Scope, Selection};
use crate::status::Row;
use crate::status_tree::GateState;
use crate::verbs::Verb;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");
/// The header a POST carries the page's token in.
const TOKEN_HEADER: &str = "x-autopilot-token";
/// Changes kept for a slow page before it is sent a whole snapshot instead.
const CHANGES_BUFFERED: usize = 256;

#[derive(Debug, clap::Args)]
pub(crate) struct DashboardArgs {
    #[command(flatten)]
    selection: Selection,
    /// The address to serve on. Anyone who reaches it acts with your kubeconfig's credentials:
    /// keep it on loopback (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8484", value_name = "ADDR")]
    listen: SocketAddr,
}

/// What the handlers share.
#[allow(missing_debug_implementations)] // Scope holds kube's Client, which is not Debug
struct Shared {
    scope: Scope,
    /// The token a POST must carry, made at start.
    token: String,
    /// The address served, to check Host headers against.
    listen: SocketAddr,
    /// Every resource watched, as the page shows it, by `namespace/name`.
    views: Mutex<Views>,
    changes: broadcast::Sender<(&'static str, String)>,
}

#[derive(Debug, Default)]
struct Views {
    resources: BTreeMap<String, Value>,
    /// Why the watch fails, while it does.
    problem: Option<String>,
}

pub(crate) fn dashboard(args: &DashboardArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let scope = args.selection.scope().await?;
        // Read once first: a missing CRD or a forbidden list is an error now, not a page that
        // stays empty.
        scope.select(&args.selection).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let listen = listener.local_addr()?;
        let (changes, _) = broadcast::channel(CHANGES_BUFFERED);
        let shared = Arc::new(Shared {
            scope,
            token: hex::encode(rand::random::<[u8; 16]>()),
            listen,
            views: Mutex::new(Views::default()),
            changes,
        });
        tokio::spawn(follow(shared.clone(), watch_config(&args.selection)));
        println!(
            "ap dashboard: {} {} at http://{listen}/ (Ctrl-C stops it)",
            shared.scope.resource.plural,
            shared.scope.location()
        );
        use std::io::Write as _;
        std::io::stdout().flush().ok();
        // Not a graceful shutdown: the pages' event streams never end on their own.
        tokio::select! {
            served = axum::serve(listener, router(shared)) => served.context("serving the dashboard"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

fn watch_config(selection: &Selection) -> watcher::Config {
    let mut config = watcher::Config::default();
    if let Some(selector) = &selection.selector {
        config = config.labels(selector);
    }
    if let Some(name) = &selection.name {
        config = config.fields(&format!("metadata.name={name}"));
    }
    config
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
        .route("/style.css", get(|| async { asset("text/css", STYLE) }))
        .route("/api/events", get(events))
        .route("/api/resources/{namespace}/{name}", get(detail))
        .route("/api/resources/{namespace}/{name}/{verb}", post(action))
        .layer(from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// Refuse requests that name a host other than the loopback address served (DNS rebinding),
/// and POSTs without the page's token or from another origin.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !host_allowed(shared.listen, host) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "host {host:?} is not this dashboard's address; open http://{}/",
                shared.listen
            ),
        );
    }
    if request.method() == axum::http::Method::POST {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
            && origin != format!("http://{host}")
        {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("a request from origin {origin:?} is not accepted"),
            );
        }
        let token = headers.get(TOKEN_HEADER).and_then(|t| t.to_str().ok());
        if token != Some(shared.token.as_str()) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("missing or wrong {TOKEN_HEADER} header: act from the dashboard's page"),
            );
        }
    }
    next.run(request).await
}

/// Whether a request's Host header may reach a server on `listen`: any host when it listens
/// beyond loopback, else a loopback name with the port served.
fn host_allowed(listen: SocketAddr, host: &str) -> bool {
    if !listen.ip().is_loopback() {
        return true;
    }
    let port = listen.port();
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host == format!("{name}:{port}"))
        || (port == 80 && matches!(host, "127.0.0.1" | "localhost" | "[::1]"))
}

fn refuse(status: StatusCode, error: String) -> Response {
    (status, json_body(&json!({ "error": error }))).into_response()
}

fn json_body(value: &Value) -> ([(header::HeaderName, HeaderValue); 1], String) {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        value.to_string(),
    )
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response()
}

async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let title = format!(
        "{} {}",
        shared.scope.model.project.kind,
        shared.scope.location()
    );
    let html = PAGE
        .replace("{{TOKEN}}", &shared.token)
        .replace("{{TITLE}}", &escape_html(&title));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // Nothing but this server's own script and style; never framed by another site.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            ),
        ],
        html,
    )
        .into_response()
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page's live feed: a snapshot, then each change; a page too slow to keep up gets a
/// snapshot again.
async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before taking the snapshot, so no change falls between them.
    let receiver = shared.changes.subscribe();
    let first = snapshot(&shared);
    let rest = futures::stream::unfold((receiver, shared), |(mut receiver, shared)| async move {
        let event = match receiver.recv().await {
            Ok((name, data)) => Event::default().event(name).data(data),
            Err(broadcast::error::RecvError::Lagged(_)) => snapshot(&shared),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), (receiver, shared)))
    });
    Sse::new(futures::stream::once(async { Ok(first) }).chain(rest))
        .keep_alive(KeepAlive::default())
}

fn snapshot(shared: &Shared) -> Event {
    let views = shared.views.lock().unwrap_or_else(|e| e.into_inner());
    Event::default()
        .event("snapshot")
        .data(snapshot_data(&shared.scope, &views))
}

/// Keep the views up to date with the cluster, telling the pages each change; a failing watch
/// is retried with backoff and reported to the pages meanwhile.
async fn follow(shared: Arc<Shared>, config: watcher::Config) {
    let project = &shared.scope.model.project;
    let mut stream = watcher(shared.scope.api.clone(), config)
        .default_backoff()
        .boxed();
    // The resources of a (re-)list, shown once it is complete.
    let mut listing = BTreeMap::new();
    while let Some(event) = stream.next().await {
        let mut send = Vec::new();
        {
            let mut views = shared.views.lock().unwrap_or_else(|e| e.into_inner());
            let working = event.is_ok();
            match event {
                Ok(watcher::Event::Init) => listing.clear(),
                Ok(watcher::Event::InitApply(object)) => {
                    listing.insert(key(&object), resource_view(project, &object));
                }
                Ok(watcher::Event::InitDone) => {
                    views.resources = std::mem::take(&mut listing);
                    views.problem = None;
                    send.push(("snapshot", snapshot_data(&shared.scope, &views)));
                }
                Ok(watcher::Event::Apply(object)) => {
                    let view = resource_view(project, &object);
                    send.push(("resource", view.to_string()));
                    views.resources.insert(key(&object), view);
                }
                Ok(watcher::Event::Delete(object)) => {
                    views.resources.remove(&key(&object));
                    send.push(("deleted", json!({ "key": key(&object) }).to_string()));
                }
                Err(e) => {
                    let problem = format!("watching {}: {e}", shared.scope.describe());
                    eprintln!("warning: {problem} (retrying)");
                    send.push(("problem", json!(problem).to_string()));
                    views.problem = Some(problem);
                }
            }
            // A watch that works again clears the problem reported.
            if working && views.problem.take().is_some() {
                send.push(("problem", "null".to_owned()));
            }
        }
        for change in send {
            // No page listening is no error.
            let _ = shared.changes.send(change);
        }
    }
}

/// The `snapshot` event's data: the project and every resource.
fn snapshot_data(scope: &Scope, views: &Views) -> String {
    json!({
        "project": project_view(&scope.model.project),
        "namespace": scope.namespace,
        "resources": views.resources.values().collect::<Vec<_>>(),
        "problem": views.problem,
    })
    .to_string()
}

fn key(object: &DynamicObject) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// What the page needs of the project: its phases in order, printer columns, gates and
/// which verbs it declares.
fn project_view(project: &Project) -> Value {
    json!({
        "kind": project.kind,
        "apiVersion": project.api_version,
        "phases": project.phases.iter().map(|p| json!({
            "name": p.name,
            "initial": p.initial,
            "final": p.is_final,
            "description": p.description,
        })).collect::<Vec<_>>(),
        "columns": project.printer_columns.iter().map(|c| json!({
            "name": c.name,
            "description": c.description,
            "priority": c.priority,
        })).collect::<Vec<_>>(),
        "gates": project.gates.iter().map(|g| json!({
            "name": g.name,
            "phase": g.phase,
            "when": crate::status_tree::gate_when(g),
            "description": g.description,
        })).collect::<Vec<_>>(),
        "abortPhase": project.abort_phase,
        // statusInfo's declared fields, for their descriptions.
        "statusInfo": project.status_info["properties"]
            .as_object()
            .map(|fields| fields.iter().filter_map(|(name, schema)| {
                Some((name.clone(), schema["description"].as_str()?.into()))
            }).collect::<serde_json::Map<String, Value>>()),
    })
}

/// One resource as the page shows it: what `ap status` shows in a row (the explaining
/// condition, printer columns) and in the tree (conditions, statusInfo, gates, pause and abort
/// requests).
fn resource_view(project: &Project, object: &DynamicObject) -> Value {
    let status = &object.data["status"];
    let row = Row::of(
        object.namespace().unwrap_or_default(),
        object.name_any(),
        object.metadata.generation,
        String::new(),
        status,
    );
    let whole = serde_json::to_value(object).unwrap_or_default();
    let requests = autopilot_model::gates::Requests::read(object.annotations());
    let phase = status["phase"].as_str();
    json!({
        "key": key(object),
        "namespace": row.namespace,
        "name": row.name,
        "phase": phase,
        "final": phase.and_then(|p| project.phase(p)).is_some_and(|p| p.is_final),
        "created": object.creation_timestamp().map(|t| t.0.to_string()),
        "condition": row.condition,
        "message": row.message,
        "attempt": row.attempt,
        "failures": row.failures,
        "synced": row.synced,
        "columns": project.printer_columns.iter().map(|c| c.cell(&whole)).collect::<Vec<_>>(),
        "conditions": status["conditions"].as_array().cloned().unwrap_or_default(),
        "statusInfo": status["statusInfo"].clone(),
        "paused": requests.paused,
        "pausedBy": object.annotations().get(crate::verbs::PAUSED_BY),
        "abort": requests.abort,
        "gates": crate::status_tree::gates(project, object).into_iter().map(|(gate, state)| {
            let (state, by) = match state {
                GateState::Approved(by) => ("approved", by),
                GateState::Waiting => ("waiting", None),
                GateState::Closed => ("closed", None),
            };
            json!({"name": gate.name, "state": state, "by": by})
        }).collect::<Vec<_>>(),
        "health": health(status),
    })
}

/// `ok`, `progress` or `bad`: the colour of a resource's badge.
fn health(status: &Value) -> &'static str {
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let is = |type_: &str, value: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == type_ && c["status"] == value)
    };
    if is("WorkerError", "True")
        || conditions.iter().any(|c| {
            c["type"] == "Progressing" && c["status"] == "False" && c["reason"] != "Completed"
        })
    {
        "bad"
    } else if is("Ready", "True") {
        "ok"
    } else {
        "progress"
    }
}

/// The resource's Events, its phase changes (from the scheduler's `PhaseChanged` Events) and
/// the objects it owns.
async fn detail(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let object = match read(&shared, &namespace, &name).await {
        Ok(object) => object,
        Err(response) => return response,
    };
    let scope = &shared.scope;
    let events = crate::status_tree::events(scope, &object).await;
    let owned = crate::status_tree::owned(scope, &object).await;
    let timeline: Vec<Value> = events
        .iter()
        .filter(|e| e.reason == "PhaseChanged")
        .filter_map(|e| {
            let (from, to) = e.message.split_once(" -> ")?;
            Some(json!({"at": e.at.map(|t| t.to_string()), "from": from.trim(), "to": to.trim()}))
        })
        .collect();
    json_body(&json!({
        "resource": resource_view(&scope.model.project, &object),
        "timeline": timeline,
        "events": events.iter().map(|e| json!({
            "at": e.at.map(|t| t.to_string()),
            "type": e.type_,
            "reason": e.reason,
            "message": e.message,
            "count": e.count,
        })).collect::<Vec<_>>(),
        "owned": owned.iter().map(|o| json!({
            "kind": o.kind, "name": o.name, "namespace": o.namespace,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// The named resource, if the dashboard's scope covers its namespace.
async fn read(shared: &Shared, namespace: &str, name: &str) -> Result<DynamicObject, Response> {
    let scope = &shared.scope;
    if let Some(ns) = &scope.namespace
        && ns != namespace
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("this dashboard shows namespace {ns:?}, not {namespace:?}"),
        ));
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(scope.client.clone(), namespace, &scope.resource);
    match api.get_opt(name).await {
        Ok(Some(object)) => Ok(object),
        Ok(None) => Err(refuse(
            StatusCode::NOT_FOUND,
            format!("{} {namespace}/{name} not found", scope.resource.kind),
        )),
        Err(e) => Err(refuse(
            StatusCode::BAD_GATEWAY,
            format!(
                "reading {namespace}/{name}: {:#}",
                crate::kube_util::readable(e)
            ),
        )),
    }
}

/// The verb a POST names.
fn verb(name: &str) -> Option<Verb> {
    Some(match name {
        "pause" => Verb::Pause,
        "resume" => Verb::Resume,
        "retry" => Verb::Retry,
        "abort" => Verb::Abort,
        "approve" => Verb::Approve,
        "promote" => Verb::Promote,
        _ => return None,
    })
}

/// The body of a POST: the gate `approve` opens (default: those on the current phase).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    gate: Option<String>,
}

async fn action(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name, verb_name)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let Some(verb) = verb(&verb_name) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no verb {verb_name:?} (verbs: pause, resume, retry, abort, approve, promote)"),
        );
    };
    let body: ActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not {{\"gate\": NAME}}: {e}"),
                );
            }
        }
    };
    let object = match read(&shared, &namespace, &name).await {
        Ok(object) => object,
        Err(response) => return response,
    };
    match crate::verbs::act_on(&shared.scope, verb, body.gate.as_deref(), &object).await {
        Ok(done) => {
            let what = format!(
                "{}/{name} {done}",
                shared.scope.resource.kind.to_lowercase()
            );
            println!("{what}");
            json_body(&json!({ "done": what })).into_response()
        }
        Err(e) => refuse(StatusCode::UNPROCESSABLE_ENTITY, format!("{name}: {e:#}")),
    }
}

/// Whether a request's headers name an allowed host; for tests.
#[cfg(test)]
fn allowed(listen: &str, headers: &axum::http::HeaderMap) -> bool {
    host_allowed(
        listen.parse().unwrap(),
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn project() -> Project {
        autopilot_model::parse_project(
            "autopilot.yaml",
            "apiVersion: a.example.com/v1\nkind: Rollout\noperatorName: r\nspec: {type: object}\n\
             printerColumns:\n  - {name: Weight, type: integer, jsonPath: .status.statusInfo.weight}\n\
             abortPhase: Aborted\n\
             gates:\n  - {name: promote, phase: Progressing, when: leaving}\n\
             phases:\n  - {name: Initializing, initial: true}\n  - {name: Progressing}\n\
             \x20 - {name: Done, final: true}\n  - {name: Aborted, final: true}\n",
        )
        .unwrap()
    }

    #[test]
    fn a_resource_is_shown_with_its_row_columns_gates_and_requests() {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "a.example.com/v1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "prod", "generation": 1,
                         "annotations": {"autopilot.dev/paused": "true",
                                         "autopilot.dev/paused-by": "alice at 2026-01-01T00:00:00Z"}},
            "status": {"phase": "Progressing", "observedGeneration": 1,
                       "statusInfo": {"weight": 40, "checks": [{"name": "errors", "value": 0.1}]},
                       "conditions": [{"type": "WorkerError", "status": "True",
                                       "reason": "InvalidArgument", "message": "bad\nspec"}]},
        }))
        .unwrap();
        let view = resource_view(&project(), &object);
        assert_eq!(view["key"], "prod/web");
        assert_eq!(view["phase"], "Progressing");
        assert_eq!(view["final"], false);
        assert_eq!(view["columns"], json!(["40"]));
        assert_eq!(view["condition"], "WorkerError=True (InvalidArgument)");
        assert_eq!(view["message"], "bad spec");
        assert_eq!(view["synced"], "yes");
        assert_eq!(view["health"], "bad");
        assert_eq!(view["paused"], true);
        assert_eq!(view["pausedBy"], "alice at 2026-01-01T00:00:00Z");
        assert_eq!(view["abort"], Value::Null);
        assert_eq!(
            view["gates"],
            json!([{"name": "promote", "state": "waiting", "by": null}])
        );
        assert_eq!(view["statusInfo"]["checks"][0]["name"], "errors");

        let fresh: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "a.example.com/v1", "kind": "Rollout",
            "metadata": {"name": "new", "namespace": "prod"},
        }))
        .unwrap();
        let view = resource_view(&project(), &fresh);
        assert_eq!(view["phase"], Value::Null);
        assert_eq!(view["health"], "progress");
        assert_eq!(view["gates"][0]["state"], "closed");
    }

    #[test]
    fn the_project_view_lists_phases_in_order_and_what_can_be_done() {
        let view = project_view(&project());
        let phases: Vec<&str> = view["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(phases, ["Initializing", "Progressing", "Done", "Aborted"]);
        assert_eq!(view["abortPhase"], "Aborted");
        assert_eq!(view["gates"][0]["when"], "leaving");
        assert_eq!(view["columns"][0]["name"], "Weight");
    }

    #[test]
    fn only_loopback_hosts_reach_a_loopback_server() {
        let host = |h: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            headers
        };
        assert!(allowed("127.0.0.1:8484", &host("127.0.0.1:8484")));
        assert!(allowed("127.0.0.1:8484", &host("localhost:8484")));
        assert!(!allowed("127.0.0.1:8484", &host("evil.example.com:8484")));
        assert!(!allowed("127.0.0.1:8484", &host("127.0.0.1:9999")));
        assert!(!allowed("127.0.0.1:8484", &HeaderMap::new()));
        assert!(allowed("0.0.0.0:8484", &host("dashboard.internal:8484")));
    }

    #[test]
    fn verbs_are_named_as_on_the_command_line() {
        assert_eq!(verb("pause"), Some(Verb::Pause));
        assert_eq!(verb("promote"), Some(Verb::Promote));
        assert_eq!(verb("delete"), None);
    }

    #[test]
    fn health_reads_the_conditions() {
        let with = |c: Value| json!({ "conditions": [c] });
        assert_eq!(
            health(&with(json!({"type": "Ready", "status": "True"}))),
            "ok"
        );
        assert_eq!(
            health(&with(
                json!({"type": "Progressing", "status": "False", "reason": "RetriesExhausted"})
            )),
            "bad"
        );
        assert_eq!(health(&Value::Null), "progress");
    }
}
