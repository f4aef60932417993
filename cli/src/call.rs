//! `ap call`: run one phase of a worker for one resource, without a cluster, with the
//! scheduler's own gRPC client and the request the scheduler would send.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use autopilot_model::Model;
use autopilot_scheduler::inputs::Gathered;
use autopilot_scheduler::plan::{InputPlan, Plan};
use autopilot_scheduler::worker::{
    CallError, CallMeta, GrpcWorker, MetricInput, SyncCall, SyncReply, TlsFiles, Worker,
};
use kube::api::DynamicObject;
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
    /// each query's name to a number. Inputs left out are sent as empty lists and no data.
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

/// Runs `ap call`: exit 0 with the reply printed, 1 when the worker answered an error.
pub(crate) fn call(args: &CallArgs) -> anyhow::Result<ExitCode> {
    let model = crate::deploy::load(&args.dir)?;
    let plan = Plan::from_model(&model);
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
    let Some(phase_plan) = plan.phases.get(&phase.name) else {
        bail!(
            "phase {} is final: the scheduler never calls a worker for it; the phases a worker \
             runs are: {}",
            phase.name,
            plan.phases.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    };
    let resource = read_resource(&args.resource, &model)?;
    let object: DynamicObject = serde_json::from_value(resource.clone())
        .with_context(|| format!("{}: not a Kubernetes object", args.resource.display()))?;
    let given = match &args.inputs {
        Some(path) => read_inputs(path)?,
        None => Map::new(),
    };
    let gathered = gather(phase_plan.inputs.as_slice(), &resource, given, &args.inputs)?;
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| phase_plan.endpoint.clone());
    let tls = model.operator.workers.tls.as_ref().map(|t| TlsFiles {
        ca_file: t.ca_file.clone(),
        cert_file: t.cert_file.clone(),
        key_file: t.key_file.clone(),
        server_name: t.server_name.clone(),
    });

    let call = SyncCall {
        phase: phase.name.clone(),
        resource: autopilot_scheduler::reconcile::resource_json(&object),
        meta: CallMeta {
            attempt: 1,
            tag: gathered.tag(&object),
            generation: object.metadata.generation.unwrap_or_default(),
            operator_name: plan.operator_name.clone(),
        },
        objects: gathered.objects,
        metrics: gathered.metrics,
        deadline: phase_plan.deadline,
        traceparent: None,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let reply = runtime.block_on(async {
        let worker = GrpcWorker::new(&endpoint, plan.max_message_bytes, tls.as_ref())?;
        describe(&worker, &phase.name).await?;
        anyhow::Ok(worker.sync(call).await)
    })?;
    match reply {
        Ok(reply) => {
            let shown = show(&reply)?;
            match args.output {
                Format::Yaml => print!("{}", serde_saphyr::to_string(&shown)?),
                Format::Json => println!("{}", serde_json::to_string_pretty(&shown)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if unreachable(&e) => Err(not_reached(&endpoint, &e)),
        Err(e) => {
            eprintln!(
                "error: the worker at {endpoint} answered {}: {}",
                e.code, e.message
            );
            Ok(ExitCode::FAILURE)
        }
    }
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
        Err(e) if unreachable(&e) => Err(not_reached(worker.endpoint(), &e)),
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

/// The call never reached a worker (a connection or transport failure), as opposed to a
/// worker's answer.
fn unreachable(e: &CallError) -> bool {
    matches!(e.code.as_str(), "Unavailable" | "Unknown")
        && ["connect error", "transport error", "dns error"]
            .iter()
            .any(|m| e.message.contains(m))
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
    let mut docs: Vec<Value> = serde_saphyr::from_multiple(&text)
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
    inputs: &[InputPlan],
    resource: &Value,
    mut given: Map<String, Value>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Gathered> {
    let file = file
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut out = Gathered::default();
    let mut declared = Vec::new();
    for input in inputs {
        match input {
            InputPlan::Resource { key, .. } => {
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
            InputPlan::Metrics { queries, vars } => {
                for q in queries {
                    declared.push(q.name.clone());
                    let query = q.render(resource, vars).unwrap_or_else(|_| q.query.clone());
                    let metric = match given.remove(&q.name) {
                        None => MetricInput {
                            query,
                            result_type: "vector".into(),
                            no_data: true,
                            ..MetricInput::default()
                        },
                        Some(Value::Number(n)) => MetricInput {
                            query,
                            result_type: "scalar".into(),
                            series: vec![(
                                BTreeMap::new(),
                                vec![(now_ms(), n.as_f64().unwrap_or(f64::NAN))],
                            )],
                            ..MetricInput::default()
                        },
                        Some(other) => bail!(
                            "{file}: {} is a query: give a number, not {}",
                            q.name,
                            type_name(&other)
                        ),
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The reply in readable form: JSON payloads decoded, durations in words.
fn show(reply: &SyncReply) -> anyhow::Result<Value> {
    let decode = |bytes: &[u8], what: &str| {
        serde_json::from_slice::<Value>(bytes)
            .with_context(|| format!("the worker's {what} is not JSON"))
    };
    let status_info = match &reply.status_info {
        Some(b) => decode(b, "statusInfo")?,
        None => Value::Null,
    };
    let outputs = reply
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| decode(o, &format!("output {i}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(json!({
        "nextPhase": if reply.next_phase.is_empty() { "stay" } else { reply.next_phase.as_str() },
        "requeueAfter": reply.requeue_after.map(|d| humantime::format_duration(d).to_string()),
        "statusInfo": status_info,
        "conditions": reply.conditions.iter().map(|(t, s, r, m)| {
            json!({"type": t, "status": s, "reason": r, "message": m})
        }).collect::<Vec<_>>(),
        "events": reply.events.iter().map(|e| json!({
            "type": if e.warning { "Warning" } else { "Normal" },
            "reason": e.reason,
            "message": e.message,
        })).collect::<Vec<_>>(),
        "outputs": outputs,
    }))
}
