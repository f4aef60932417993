//! `ap call`: run one phase of a worker for one resource, without a cluster, with the
//! scheduler's own worker client: the request the scheduler would send, and the scheduler's
//! check of the reply.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use autopilot_model::Model;
use autopilot_model::project::{Input, Project};
use autopilot_worker_client::reply::{self, PhaseRules, Reply};
use autopilot_worker_client::request::resource_json;
use autopilot_worker_client::{
    CallError, CallMeta, GrpcWorker, Inputs, MetricInput, Request, TlsFiles, TraceInput, Worker,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value, json};

/// Arguments of `ap call`.
#[derive(Debug, clap::Args)]
pub(crate) struct CallArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The phase to run (a non-final phase of autopilot.yaml).
    #[arg(long)]
    phase: String,
    /// The resource, a YAML or JSON file holding one object of the operator's kind.
    #[arg(long, value_name = "FILE")]
    resource: PathBuf,
    /// The phase's inputs, a YAML or JSON map: each resource input's key to a list of objects,
    /// each query's name to a number (`NaN`/`.nan`, `+Inf`, `-Inf` too) or `{error: message}`
    /// for a failed query, each trace query's name to its result (`operations`:
    /// a list of {service, operation, spanCount, errorCount, p50Ms, p90Ms, p99Ms}, `samples`,
    /// or `error`). Inputs left out are sent as empty lists and no data.
    #[arg(long, value_name = "FILE")]
    inputs: Option<PathBuf>,
    /// The worker, e.g. http://127.0.0.1:50051; without it, the phase's endpoint in
    /// autopilot-operator.yaml.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Output format of the reply.
    #[arg(short, long, value_enum, default_value = "yaml")]
    output: Format,
}

/// How the reply is printed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Yaml,
    Json,
}

/// Runs `ap call`: exit 0 with the reply printed, 1 when the worker answered an error or a
/// reply the scheduler would refuse.
pub(crate) fn call(args: &CallArgs) -> anyhow::Result<ExitCode> {
    let model = crate::deploy::load(&args.dir)?;
    let project = &model.project;
    let Some(phase) = project.phases.iter().find(|p| p.name == args.phase) else {
        bail!(
            "no phase {:?} in {}; the phases are: {}",
            args.phase,
            args.dir.join("autopilot.yaml").display(),
            project
                .phases
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if phase.is_final {
        let mut runnable: Vec<&str> = project
            .non_final_phases()
            .map(|p| p.name.as_str())
            .collect();
        runnable.sort_unstable();
        bail!(
            "phase {} is final: the scheduler never calls a worker for it; the phases a worker \
             runs are: {}",
            phase.name,
            runnable.join(", ")
        );
    }
    let rules = PhaseRules::from_model(project, &phase.name).context("a declared phase")?;
    let resource = read_resource(&args.resource, &model)?;
    let (json, spec) = resource_text(&resource)
        .with_context(|| format!("{}: not a Kubernetes object", args.resource.display()))?;
    let given = match &args.inputs {
        Some(path) => read_inputs(path)?,
        None => Map::new(),
    };
    let inputs = gather(project, &phase.inputs, &resource, given, &args.inputs)?;
    let op = &model.operator;
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| op.endpoint_for(&phase.name).to_string());
    let tls = op.workers.tls.as_ref().map(TlsFiles::from);

    let meta = CallMeta {
        attempt: 1,
        tag: String::new(),
        generation: resource
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        operator_name: project.operator_name.clone(),
    };
    let deadline = op.deadline_for(phase);
    let request = Request::new(&phase.name, json, spec.as_deref(), inputs, meta, deadline);
    let runtime = tokio::runtime::Runtime::new()?;
    let reply = runtime.block_on(async {
        let worker = GrpcWorker::new(&endpoint, op.workers.max_message_bytes, tls.as_ref())?;
        describe(&worker, &phase.name).await?;
        anyhow::Ok(worker.sync(request).await)
    })?;
    let raw = match reply {
        Ok(raw) => raw,
        Err(e) if e.is_unreachable() => return Err(not_reached(&endpoint, &e)),
        Err(e) => {
            eprintln!(
                "error: the worker at {endpoint} answered {}: {}",
                e.code, e.message
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    // The resource's namespace, as the API server would give it.
    let namespace = resource
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    match reply::check(raw, &rules, Some(namespace)) {
        Ok(reply) => {
            let shown = show(&reply);
            match args.output {
                Format::Yaml => print!("{}", serde_saphyr::to_string(&shown)?),
                Format::Json => println!("{}", serde_json::to_string_pretty(&shown)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            eprintln!(
                "error: the worker at {endpoint} answered, but the scheduler would refuse the \
                 reply ({}): {refusal}",
                refusal.reason()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The resource's JSON as the scheduler sends it (spliced the same way from each top-level
/// field's text), and its spec's text, which the request's tag covers.
fn resource_text(resource: &Value) -> anyhow::Result<(Vec<u8>, Option<String>)> {
    let field = |name: &str| {
        resource
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let metadata: ObjectMeta = match resource.get("metadata") {
        Some(m) => serde_json::from_value(m.clone())?,
        None => ObjectMeta::default(),
    };
    let mut fields = Vec::new();
    if let Value::Object(map) = resource {
        for (name, value) in map {
            if !matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                fields.push((name.as_str(), serde_json::to_string(value)?));
            }
        }
    }
    let spec = fields
        .iter()
        .find(|(name, _)| *name == "spec")
        .map(|(_, text)| text.clone());
    let json = resource_json(
        field("apiVersion"),
        field("kind"),
        &metadata,
        fields.iter().map(|(name, text)| (*name, text.as_str())),
    );
    Ok((json, spec))
}

/// The Describe handshake: the worker must be reachable and, when it lists its phases, serve
/// `phase`. A worker without Describe is called anyway.
async fn describe(worker: &GrpcWorker, phase: &str) -> anyhow::Result<()> {
    match worker.describe(Duration::from_secs(10)).await {
        Ok(d) if !d.phases.is_empty() && !d.phases.iter().any(|p| p == phase) => bail!(
            "the worker {:?} at {} does not serve phase {phase}; it serves: {}",
            d.name,
            worker.endpoint(),
            d.phases.join(", ")
        ),
        Ok(_) => Ok(()),
        Err(e) if e.is_unreachable() => Err(not_reached(worker.endpoint(), &e)),
        Err(e) => {
            eprintln!(
                "warning: Describe at {} answered {}: {}; calling Sync anyway",
                worker.endpoint(),
                e.code,
                e.message
            );
            Ok(())
        }
    }
}

fn not_reached(endpoint: &str, e: &CallError) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot reach a worker at {endpoint} ({}: {}); start the worker, or give its address \
         with --endpoint",
        e.code,
        e.message
    )
}

/// Reads a YAML or JSON file holding one mapping.
fn read_map(path: &Path, what: &str) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // YAML's `.nan`, `.inf` and `-.inf` arrive as those strings (JSON values have no
    // non-finite numbers); a query's value reads them back (see `metric_value`).
    let mut options = serde_saphyr::Options::default();
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
    let mut docs: Vec<Value> = serde_saphyr::from_multiple_with_options(&text, options)
        .with_context(|| format!("parsing {} as YAML or JSON", path.display()))?;
    docs.retain(|d| !d.is_null());
    match docs.len() {
        1 => {}
        0 => bail!("{} is empty; it must hold {what}", path.display()),
        n => bail!(
            "{} holds {n} documents; it must hold {what} only",
            path.display()
        ),
    }
    let doc = docs.remove(0);
    if !doc.is_object() {
        bail!(
            "{} must hold {what}, not {}",
            path.display(),
            type_name(&doc)
        );
    }
    Ok(doc)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Reads the resource and checks it is of the operator's kind.
fn read_resource(path: &Path, model: &Model) -> anyhow::Result<Value> {
    let project = &model.project;
    let what = format!("one {} ({})", project.kind, project.api_version);
    let resource = read_map(path, &what)?;
    let field = |name: &str| {
        resource
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version != project.api_version || kind != project.kind {
        bail!(
            "{} is a {} ({}), not a {} ({}): the operator's kind, as in autopilot.yaml",
            path.display(),
            if kind.is_empty() { "<no kind>" } else { kind },
            if api_version.is_empty() {
                "<no apiVersion>"
            } else {
                api_version
            },
            project.kind,
            project.api_version
        );
    }
    if resource
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        bail!("{}: metadata.name is missing", path.display());
    }
    Ok(resource)
}

fn read_inputs(path: &Path) -> anyhow::Result<Map<String, Value>> {
    match read_map(path, "a map of input names to objects or numbers")? {
        Value::Object(m) => Ok(m),
        _ => unreachable!("read_map returns maps"),
    }
}

/// Builds the phase's inputs as the scheduler gathers them, from the given values: every
/// declared resource input (empty when not given) and every query (no data when not given).
fn gather(
    project: &Project,
    inputs: &[Input],
    resource: &Value,
    mut given: Map<String, Value>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Inputs> {
    let file = file
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut out = Inputs::default();
    let mut declared = Vec::new();
    for input in inputs {
        match input {
            Input::Resource { key, .. } => {
                declared.push(key.clone());
                let items = match given.remove(key) {
                    None => Vec::new(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            if item.is_object() {
                                Ok(serde_json::to_vec(item)?)
                            } else {
                                bail!(
                                    "{file}: {key}[{i}] must be an object, not {}",
                                    type_name(item)
                                )
                            }
                        })
                        .collect::<anyhow::Result<_>>()?,
                    Some(other) => bail!(
                        "{file}: {key} is a resource input: give a list of objects, not {}",
                        type_name(&other)
                    ),
                };
                out.objects.insert(key.clone(), Ok(items));
            }
            Input::Traces { queries, vars } => {
                for q in queries.iter().filter_map(|q| project.trace(q)) {
                    declared.push(q.name.clone());
                    let query = q
                        .render(resource, vars)
                        .map_or_else(|_| q.service.clone(), |s| s.to_string());
                    let trace = match given.remove(&q.name) {
                        None => TraceInput {
                            no_data: true,
                            ..Default::default()
                        },
                        Some(value @ Value::Object(_)) => {
                            serde_json::from_value::<TraceInput>(value)
                                .map_err(|e| {
                                    anyhow::anyhow!("{file}: {} is a trace query: {e}", q.name)
                                })?
                                .completed()
                        }
                        Some(other) => bail!(
                            "{file}: {} is a trace query: give its result as a mapping \
                             (operations, samples or error), not {}",
                            q.name,
                            type_name(&other)
                        ),
                    };
                    out.traces
                        .insert(q.name.clone(), TraceInput { query, ..trace });
                }
            }
            Input::Metrics { queries, vars } => {
                for q in queries.iter().filter_map(|q| project.query(q)) {
                    declared.push(q.name.clone());
                    let query = q.render(resource, vars).unwrap_or_else(|_| q.query.clone());
                    let metric = match given.remove(&q.name) {
                        None => MetricInput {
                            query,
                            result_type: "vector".into(),
                            no_data: true,
                            ..MetricInput::default()
                        },
                        Some(given) => match metric_value(&given) {
                            Some(Ok(value)) => MetricInput {
                                query,
                                result_type: "scalar".into(),
                                series: vec![(BTreeMap::new(), vec![(now_ms(), value)])],
                                ..MetricInput::default()
                            },
                            // A failed query, as when Prometheus answers an error.
                            Some(Err(error)) => MetricInput {
                                query,
                                error: Some(error),
                                ..MetricInput::default()
                            },
                            None => bail!(
                                "{file}: {} is a query: give a number (NaN, .nan, +Inf and -Inf \
                                 too), or {{error: <message>}} for a failed query; not {}",
                                q.name,
                                type_name(&given)
                            ),
                        },
                    };
                    out.metrics.insert(q.name.clone(), metric);
                }
            }
        }
    }
    if let Some(unknown) = given.keys().next() {
        bail!(
            "{file}: the phase has no input {unknown:?}; its inputs are: {}",
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            }
        );
    }
    Ok(out)
}

/// A query's given value: a number, a non-finite one spelt as Prometheus (`NaN`, `+Inf`,
/// `-Inf`) or YAML (`.nan`, `.inf`, `-.inf`) does, or `{error: message}` for a failed query.
fn metric_value(given: &Value) -> Option<Result<f64, String>> {
    match given {
        Value::Number(n) => n.as_f64().map(Ok),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" | ".nan" => Some(Ok(f64::NAN)),
            "inf" | "+inf" | ".inf" | "+.inf" => Some(Ok(f64::INFINITY)),
            "-inf" | "-.inf" => Some(Ok(f64::NEG_INFINITY)),
            _ => None,
        },
        Value::Object(m) if m.len() == 1 => m
            .get("error")
            .and_then(Value::as_str)
            .map(|e| Err(e.to_owned())),
        _ => None,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The reply in readable form: durations in words, outputs as the worker sent them;
/// `nextPhase` is null when the resource stays in its phase.
fn show(reply: &Reply) -> Value {
    json!({
        "nextPhase": reply.next_phase.as_deref(),
        "requeueAfter": reply.requeue_after.map(|d| humantime::format_duration(d).to_string()),
        "statusInfo": reply.status_info.clone().unwrap_or(Value::Null),
        "conditions": reply.conditions.iter().map(|c| {
            json!({"type": c.type_, "status": c.status.as_str(), "reason": c.reason, "message": c.message})
        }).collect::<Vec<_>>(),
        "events": reply.events.iter().map(|e| json!({
            "type": if e.is_warning() { "Warning" } else { "Normal" },
            "reason": e.reason,
            "message": e.message,
        })).collect::<Vec<_>>(),
        "outputs": reply.outputs.iter().map(|o| o.object.clone()).collect::<Vec<_>>(),
    })
}
