//! The Rust worker project: a short `main.rs`, typed models, one owned file per phase, a test.

mod types;

use std::fmt::Write as _;

use autopilot_model::{Input, Language, Phase, Project};

use crate::{
    BUNDLED_DIR, DO_NOT_EDIT, GenerateError, GeneratedFile, Options, SDK_VERSION, SdkSource, crd,
    rules_doc,
};

pub(crate) use types::snake_case;

/// Directory of the worker project, relative to the project directory.
pub(crate) const WORKER_DIR: &str = "worker";

/// The files of the Rust worker serving the project's Rust phases.
pub(crate) fn render(
    project: &Project,
    options: &Options,
) -> Result<Vec<GeneratedFile>, GenerateError> {
    let workers: Vec<_> = project
        .workers
        .iter()
        .filter(|w| w.language == Language::Rust)
        .collect();
    let worker = match workers.as_slice() {
        [] => return Err(GenerateError::NoWorker(Language::Rust)),
        [one] => *one,
        _ => return Err(GenerateError::SeveralWorkers(Language::Rust)),
    };
    let phases: Vec<&Phase> = project
        .non_final_phases()
        .filter(|p| worker.phases.contains(&p.name))
        .collect();
    let package = format!("{}-worker", worker.name.trim_end_matches("-worker"));
    let krate = package.replace('-', "_");
    let path = |p: &str| format!("{WORKER_DIR}/{p}");

    let mut files = vec![
        GeneratedFile::owned(path("Cargo.toml"), cargo_toml(&package, &options.sdk)),
        GeneratedFile::owned(path("Dockerfile"), dockerfile(&package, &options.sdk)),
        GeneratedFile::owned(path(".gitignore"), "target/\n".to_owned()),
        GeneratedFile::regenerated(
            path("src/main.rs"),
            main_rs(project, &worker.name, &krate, &phases),
        ),
        GeneratedFile::regenerated(path("src/lib.rs"), lib_rs(project)),
        GeneratedFile::regenerated(path("src/model.rs"), model_rs(project)),
        GeneratedFile::regenerated(path("src/phases/mod.rs"), phases_mod_rs(&phases)),
    ];
    for phase in &phases {
        files.push(GeneratedFile::owned(
            path(&format!("src/phases/{}.rs", snake_case(&phase.name))),
            phase_rs(project, phase),
        ));
    }
    if let Some(first) = phases.first() {
        files.push(GeneratedFile::owned(
            path("tests/phases.rs"),
            test_rs(project, &krate, first),
        ));
    }
    Ok(files)
}

fn cargo_toml(package: &str, sdk: &SdkSource) -> String {
    let sdk = match sdk {
        SdkSource::Version(v) => format!("{v:?}"),
        SdkSource::Path(p) => format!("{{ path = {p:?} }}"),
        // The version too, so that the line keeps working once the path is dropped.
        SdkSource::Bundled => format!("{{ version = {SDK_VERSION:?}, path = {BUNDLED_DIR:?} }}"),
    };
    format!(
        r#"# The worker's manifest: yours to edit (add dependencies here); `ap generate` only creates it.
[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
autopilot-sdk = {sdk}
k8s-openapi = {{ version = "0.29", default-features = false, features = ["v1_34"] }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}

# A standalone project: it does not join a workspace it happens to sit in.
[workspace]
"#
    )
}

/// The worker's image: a release build in the Rust image, run as a non-root user on a small
/// runtime image with glibc.
fn dockerfile(package: &str, sdk: &SdkSource) -> String {
    let (sdk_note, copy_sdk) = match sdk {
        SdkSource::Version(_) => (String::new(), ""),
        SdkSource::Bundled => (String::new(), "COPY third_party ./third_party\n"),
        SdkSource::Path(p) => (
            format!(
                "# Cargo.toml takes autopilot-sdk from a local path ({p}): build with a context that holds\n\
                 # it too, or switch Cargo.toml to the published autopilot-sdk before building this image.\n"
            ),
            "",
        ),
    };
    format!(
        r#"# The worker's image: yours to edit; `ap generate` only creates it.
{sdk_note}FROM rust:1-bookworm AS build
WORKDIR /worker
COPY Cargo.toml Cargo.lock* ./
{copy_sdk}COPY src ./src
RUN cargo build --release

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /worker/target/release/{package} /usr/local/bin/{package}
ENV AUTOPILOT_WORKER_ADDR=0.0.0.0:50051
EXPOSE 50051
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/{package}"]
"#
    )
}

fn main_rs(project: &Project, worker: &str, krate: &str, phases: &[&Phase]) -> String {
    let mut registrations = String::new();
    for phase in phases {
        let _ = write!(
            registrations,
            "\n        .phase({:?}, phases::{}::handle)",
            phase.name,
            snake_case(&phase.name)
        );
    }
    format!(
        r#"// {DO_NOT_EDIT}
//! Worker `{worker}` of the `{operator}` operator: serves its phases over gRPC.
//!
//! Where it listens comes from the environment (see `autopilot_sdk::serve`).

use autopilot_sdk::Worker;
use {krate}::model::{{Spec, StatusInfo}};
use {krate}::phases;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {{
    Worker::<Spec, StatusInfo>::new({worker:?})
        .version(env!("CARGO_PKG_VERSION")){registrations}
        .serve_from_env()
        .await?;
    Ok(())
}}
"#,
        operator = project.operator_name,
    )
}

fn lib_rs(project: &Project) -> String {
    format!(
        r#"// {DO_NOT_EDIT}
//! Phase handlers of `{operator}` ({kind}, `{api_version}`): edit the files in `phases/`.

pub mod model;
pub mod phases;
"#,
        operator = project.operator_name,
        kind = project.kind,
        api_version = project.api_version,
    )
}

fn model_rs(project: &Project) -> String {
    let mut writer = types::TypeWriter::default();
    let spec_doc = format!("The spec of a {}.", project.kind);
    writer.top_level(
        "Spec",
        &spec_doc,
        &rules_doc::documented(&project.spec, Some(&spec_doc)),
    );
    let info_doc = format!(
        "What the workers of {} keep in `.status.statusInfo`.",
        project.kind
    );
    writer.top_level(
        "StatusInfo",
        &info_doc,
        &rules_doc::documented(&project.status_info, Some(&info_doc)),
    );
    for (name, doc, schema) in crate::event_types::payload_types(project) {
        writer.top_level(&name, &doc, schema);
    }
    let items = writer.finish();
    let mut uses = String::new();
    if items.contains("BTreeMap<") {
        uses.push_str("use std::collections::BTreeMap;\n\n");
    }
    if items.contains("#[derive(") {
        uses.push_str("use serde::{Deserialize, Serialize};\n\n");
    }
    format!(
        "// {DO_NOT_EDIT}\n//! Typed `spec` and `statusInfo` of {kind}, from the schemas in `autopilot.yaml`.\n\n{uses}{items}",
        kind = project.kind
    )
}

fn phases_mod_rs(phases: &[&Phase]) -> String {
    let mut out = format!("// {DO_NOT_EDIT}\n//! One module per phase this worker serves.\n\n");
    for phase in phases {
        let _ = writeln!(out, "pub mod {};", snake_case(&phase.name));
    }
    out
}

/// The phase a stub handler moves to: the first allowed next phase, else the phase declared
/// after it, else none (stay).
fn stub_next<'a>(project: &'a Project, phase: &'a Phase) -> Option<&'a str> {
    if let Some(next) = phase.next.as_ref().and_then(|n| n.first()) {
        return Some(next);
    }
    let index = project.phases.iter().position(|p| p.name == phase.name)?;
    project.phases.get(index + 1).map(|p| p.name.as_str())
}

fn phase_rs(project: &Project, phase: &Phase) -> String {
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "/// Handle one resource in the `{}` phase.",
        phase.name
    );
    doc.push_str("///\n");
    if phase.inputs.is_empty() && phase.events.is_empty() {
        doc.push_str("/// It has no inputs.\n");
    } else {
        doc.push_str("/// Inputs:\n");
        for input in &phase.inputs {
            match input {
                Input::Resource { parameter, key, .. } => {
                    let kind = project
                        .parameter(parameter)
                        .map(|p| format!("{} ({})", p.kind, p.api_version()))
                        .unwrap_or_default();
                    let _ = writeln!(
                        doc,
                        "/// - `ctx.objects::<T>({key:?})`: the {kind} objects."
                    );
                }
                Input::Metrics { .. } => {
                    doc.push_str(
                        "/// - `ctx.metric(name)`: the results of this phase's queries.\n",
                    );
                }
                Input::Traces { queries, .. } => {
                    for query in queries {
                        let _ = writeln!(
                            doc,
                            "/// - `ctx.trace({query:?})`: the spans found by the trace query."
                        );
                    }
                }
            }
        }
        for name in &phase.events {
            let _ = writeln!(
                doc,
                "/// - `ctx.events({name:?})`: {}",
                crate::event_types::input_doc(project, name, "`event.data_json::<T>()`")
            );
        }
    }
    if !phase.outputs.is_empty() {
        doc.push_str("///\n/// Outputs it may return with `Outcome::output`:");
        for output in &phase.outputs {
            if let Some(p) = project.parameter(output) {
                let _ = write!(doc, " {} ({}),", p.kind, p.api_version());
            }
        }
        doc.pop();
        doc.push_str(".\n");
    }
    let next = stub_next(project, phase);
    if let Some(allowed) = &phase.next {
        let _ = writeln!(doc, "///\n/// It may move to: {}.", allowed.join(", "));
    }
    let (outcome, says) = match next {
        Some(n) => (
            format!("Outcome::next({n:?})"),
            format!("moves straight on to `{n}`"),
        ),
        None => (
            "Outcome::stay()".to_owned(),
            "stays in this phase".to_owned(),
        ),
    };
    let _ = writeln!(
        doc,
        "///\n/// As scaffolded it {says}; replace the body with the phase's logic."
    );
    let description = phase.description.as_deref().map_or_else(
        || format!("the `{}` phase", phase.name),
        |d| d.trim().trim_end_matches('.').to_owned(),
    );
    format!(
        r#"//! {name}: {description}.

use autopilot_sdk::{{Context, Outcome, WorkerError}};

use crate::model::{{Spec, StatusInfo}};

{doc}pub async fn handle(_ctx: Context<Spec, StatusInfo>) -> Result<Outcome<StatusInfo>, WorkerError> {{
    Ok({outcome})
}}
"#,
        name = phase.name,
    )
}

fn test_rs(project: &Project, krate: &str, phase: &Phase) -> String {
    let spec = serde_json::to_string(&crd::example_value(&project.spec, true))
        .unwrap_or_else(|_| "{}".to_owned());
    let module = snake_case(&phase.name);
    let expected = match stub_next(project, phase) {
        Some(n) => format!("Some({n:?})"),
        None => "None".to_owned(),
    };
    format!(
        r#"//! Phase handlers called as plain functions: no gRPC, no cluster.

use autopilot_sdk::Context;
use {krate}::phases::{module};

#[tokio::test]
async fn {module}_moves_on() {{
    let ctx = Context::builder()
        .phase({phase:?})
        .name("example")
        .namespace("default")
        .spec(serde_json::json!({spec}))
        .build()
        .expect("the example spec matches the Spec type");
    let outcome = {module}::handle(ctx).await.unwrap();
    assert_eq!(outcome.next_phase(), {expected});
}}
"#,
        phase = phase.name,
    )
}
