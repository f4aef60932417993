//! The Go worker project: a short `main.go`, typed models, one owned file per phase, a test.
//!
//! The project imports the Go SDK (`autopilot.dev/sdk-go`, in `sdk-go/` of this repository),
//! which carries the gRPC server, so the generated code is only the handlers and their types.

mod types;

use std::fmt::Write as _;

use autopilot_model::{Input, Language, Phase, Project};

use crate::rust::snake_case;
use crate::{
    BUNDLED_DIR, DO_NOT_EDIT, GenerateError, GeneratedFile, Options, SDK_VERSION, SdkSource, crd,
    rules_doc,
};

use types::go_name;

/// Directory of the worker project, relative to the project directory.
const WORKER_DIR: &str = "worker";

/// The Go module path of the SDK.
const SDK_MODULE: &str = "autopilot.dev/sdk-go";

/// The `go` directive of generated modules: the SDK's.
const GO_VERSION: &str = "1.24";

/// The SDK's own module file: its requirements become the worker's indirect ones, so that the
/// worker builds without `go mod tidy`.
const SDK_GO_MOD: &str = include_str!("../../../../sdk-go/go.mod");

/// The SDK's checksums, which cover everything the worker needs from the Go proxy.
const SDK_GO_SUM: &str = include_str!("../../../../sdk-go/go.sum");

/// The files of the Go worker serving the project's Go phases.
pub(crate) fn render(
    project: &Project,
    options: &Options,
) -> Result<Vec<GeneratedFile>, GenerateError> {
    let workers: Vec<_> = project
        .workers
        .iter()
        .filter(|w| w.language == Language::Go)
        .collect();
    let worker = match workers.as_slice() {
        [] => return Err(GenerateError::NoWorker(Language::Go)),
        [one] => *one,
        _ => return Err(GenerateError::SeveralWorkers(Language::Go)),
    };
    let phases: Vec<&Phase> = project
        .non_final_phases()
        .filter(|p| worker.phases.contains(&p.name))
        .collect();
    let module = worker.name.as_str();
    let path = |p: &str| format!("{WORKER_DIR}/{p}");

    let mut files = vec![
        GeneratedFile::owned(path("go.mod"), go_mod(module, &options.sdk)),
        GeneratedFile::owned(path("go.sum"), SDK_GO_SUM.to_owned()),
        GeneratedFile::owned(path("README.md"), readme(project, module, &phases)),
        GeneratedFile::owned(path("Dockerfile"), dockerfile(module, &options.sdk)),
        // `ap build` writes the binary to bin/.
        GeneratedFile::owned(path(".gitignore"), "bin/\n".to_owned()),
        GeneratedFile::regenerated(path("main.go"), main_go(project, module, &phases)),
        GeneratedFile::regenerated(path("model/model.go"), model_go(project)),
        GeneratedFile::regenerated(path("model/inputs.go"), inputs_go(project, &phases)),
    ];
    for phase in &phases {
        files.push(GeneratedFile::owned(
            path(&format!("phases/{}.go", snake_case(&phase.name))),
            phase_go(project, module, phase),
        ));
    }
    if project.finalizer {
        files.push(GeneratedFile::owned(
            path("phases/finalize.go"),
            finalize_go(project, module),
        ));
    }
    if let Some(first) = phases.first() {
        files.push(GeneratedFile::owned(
            path(&format!("phases/{}_test.go", snake_case(&first.name))),
            test_go(project, module, first),
        ));
    }
    Ok(files)
}

/// `v0.1` → `v0.1.0`: Go module versions are full semantic versions with a `v`.
fn go_version(requirement: &str) -> String {
    let bare = requirement.trim().trim_start_matches('v');
    let mut parts: Vec<&str> = bare.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    format!("v{}", parts.join("."))
}

/// The `(module, version)` requirements of a `go.mod`.
fn requirements(go_mod: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        let spec = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            line
        } else if line == "require (" {
            in_block = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("require ") {
            rest
        } else {
            continue;
        };
        if let [module, version] = spec.split_whitespace().collect::<Vec<_>>().as_slice() {
            out.push(((*module).to_owned(), (*version).to_owned()));
        }
    }
    out
}

fn go_mod(module: &str, sdk: &SdkSource) -> String {
    let (version, replace) = match sdk {
        SdkSource::Version(v) => (go_version(v), String::new()),
        SdkSource::Path(p) => (
            "v0.0.0".to_owned(),
            format!("\n// The SDK from a local checkout.\nreplace {SDK_MODULE} => {p}\n"),
        ),
        SdkSource::Bundled => (
            go_version(SDK_VERSION),
            format!(
                "\n// The SDK `ap generate` wrote beside this module; drop this line to use the published one.\n\
                 replace {SDK_MODULE} => ./{BUNDLED_DIR}\n"
            ),
        ),
    };
    let mut required = requirements(SDK_GO_MOD);
    required.sort();
    let mut indirect = String::new();
    for (module, version) in required {
        let _ = writeln!(indirect, "\t{module} {version} // indirect");
    }
    format!(
        "// The worker's module: yours to edit (add requirements here); `ap generate` only creates it.\n\
         module {module}\n\n\
         go {GO_VERSION}\n\n\
         require {SDK_MODULE} {version}\n\n\
         // What the SDK needs, listed so that the worker builds without `go mod tidy`.\n\
         require (\n{indirect})\n{replace}"
    )
}

fn readme(project: &Project, module: &str, phases: &[&Phase]) -> String {
    let names: Vec<String> = phases.iter().map(|p| format!("`{}`", p.name)).collect();
    format!(
        r#"# {module}

The Go worker of the `{operator}` operator ({kind}): it serves the phases {names} to the
Autopilot scheduler over gRPC.

- Write each phase's logic in `phases/` (one file per phase); `model/` and `main.go` are
  regenerated by `ap generate`.
- `go test ./...` runs the handlers as plain functions.
- `go run .` serves on `$AUTOPILOT_WORKER_ADDR` (default `127.0.0.1:50051`, or `unix:/path`).
"#,
        operator = project.operator_name,
        kind = project.kind,
        names = names.join(", "),
    )
}

fn dockerfile(module: &str, sdk: &SdkSource) -> String {
    let header = match sdk {
        SdkSource::Path(_) => {
            "# Builds the worker into a small image. With a local SDK (`replace` in go.mod), build from a\n\
             # context that holds both this directory and the SDK, or vendor it first (`go mod vendor`).\n"
        }
        SdkSource::Bundled => {
            "# Builds the worker into a small image. The SDK comes along: it is in third_party/ (see the\n\
             # `replace` in go.mod).\n"
        }
        SdkSource::Version(_) => "# Builds the worker into a small image.\n",
    };
    format!(
        r#"{header}FROM golang:{GO_VERSION} AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /{module} .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /{module} /{module}
ENV AUTOPILOT_WORKER_ADDR=0.0.0.0:50051
EXPOSE 50051
ENTRYPOINT ["/{module}"]
"#
    )
}

fn main_go(project: &Project, module: &str, phases: &[&Phase]) -> String {
    let mut registrations = String::new();
    for phase in phases {
        let _ = write!(
            registrations,
            ".\n\t\tPhase({}, phases.{})",
            go_string(&phase.name),
            go_name(&phase.name)
        );
    }
    if project.finalizer {
        registrations.push_str(".\n\t\tFinalize(phases.Finalize)");
    }
    format!(
        r#"// {DO_NOT_EDIT}

{doc}package main

import (
	"log"

	autopilot "{SDK_MODULE}"

	"{module}/model"
	"{module}/phases"
)

func main() {{
	worker := autopilot.NewWorker[model.Spec, model.StatusInfo]({name}){registrations}
	if err := worker.ServeFromEnv(); err != nil {{
		log.Fatal(err)
	}}
}}
"#,
        doc = comment(
            &format!(
                "Command {module} is the worker of the {} operator: it serves its phases over gRPC \
                 on $AUTOPILOT_WORKER_ADDR (default 127.0.0.1:50051, or unix:/path/to.sock) until \
                 SIGTERM.",
                project.operator_name
            ),
            ""
        ),
        name = go_string(module),
    )
}

fn model_go(project: &Project) -> String {
    let mut writer = types::TypeWriter::default();
    writer.top_level(
        "Spec",
        &format!("Spec is the spec of a {}.", project.kind),
        &rules_doc::documented(&project.spec, None),
    );
    writer.top_level(
        "StatusInfo",
        &format!(
            "StatusInfo is what the workers of {} keep in .status.statusInfo.",
            project.kind
        ),
        &rules_doc::documented(&project.status_info, None),
    );
    for (name, doc, schema) in crate::event_types::payload_types(project) {
        writer.top_level(&name, &format!("{name} is {}", lower_first(&doc)), schema);
    }
    format!(
        r#"// {DO_NOT_EDIT}

// Package model holds the typed spec and statusInfo of {kind}, from the schemas in
// autopilot.yaml, and the names of the phases' inputs.
package model

import autopilot "{SDK_MODULE}"

// Context is what every phase handler of this worker is given.
type Context = autopilot.Context[Spec, StatusInfo]

{types}"#,
        kind = project.kind,
        types = writer.finish(),
    )
}

/// Constants for the names the handlers read inputs by: a typo becomes a compile error.
fn inputs_go(project: &Project, phases: &[&Phase]) -> String {
    // name → (constant, comment), in first-use order.
    let mut constants: Vec<(String, String, String)> = Vec::new();
    let mut add = |constant: String, value: &str, comment: String| {
        if !constants.iter().any(|(c, _, _)| *c == constant) {
            constants.push((constant, value.to_owned(), comment));
        }
    };
    for phase in phases {
        for input in &phase.inputs {
            match input {
                Input::Resource { parameter, key, .. } => {
                    let kind = project
                        .parameter(parameter)
                        .map(|p| format!("the {} ({}) objects", p.kind, p.api_version()))
                        .unwrap_or_else(|| "the objects".to_owned());
                    let constant = format!("Input{}", go_name(key));
                    add(
                        constant.clone(),
                        key,
                        format!("{constant} names {kind}: ctx.Objects({constant})."),
                    );
                }
                Input::Metrics { queries, .. } => {
                    for query in queries {
                        let constant = format!("Query{}", go_name(query));
                        add(
                            constant.clone(),
                            query,
                            format!(
                                "{constant} names the result of the query {query}: ctx.Metric({constant})."
                            ),
                        );
                    }
                }
                Input::Traces { queries, .. } => {
                    for query in queries {
                        let constant = format!("Trace{}", go_name(query));
                        add(
                            constant.clone(),
                            query,
                            format!(
                                "{constant} names the result of the trace query {query}: ctx.Trace({constant})."
                            ),
                        );
                    }
                }
            }
        }
    }
    let mut out = format!(
        "// {DO_NOT_EDIT}\n\npackage model\n\n// The names of the inputs the phases read, as declared in autopilot.yaml.\n"
    );
    if constants.is_empty() {
        out.push_str("// The phases read no inputs.\n");
        return out;
    }
    out.push_str("const (\n");
    for (i, (constant, value, comment)) in constants.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{}\t{constant} = {}",
            self::comment(comment, "\t"),
            go_string(value)
        );
    }
    out.push_str(")\n");
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

fn phase_go(project: &Project, module: &str, phase: &Phase) -> String {
    let func = go_name(&phase.name);
    let description = phase.description.as_deref().map_or_else(
        || format!("the {} phase", phase.name),
        |d| lower_first(d.trim().trim_end_matches('.')),
    );
    let mut doc = format!(
        "// {func} handles one resource in the {} phase: {description}.\n",
        phase.name
    );
    doc.push_str("//\n");
    if phase.inputs.is_empty() && phase.events.is_empty() {
        doc.push_str("// It has no inputs.\n");
    } else {
        doc.push_str("// Inputs:\n");
        for input in &phase.inputs {
            match input {
                Input::Resource { parameter, key, .. } => {
                    let kind = project
                        .parameter(parameter)
                        .map(|p| format!("{} ({})", p.kind, p.api_version()))
                        .unwrap_or_default();
                    let _ = writeln!(
                        doc,
                        "//   - ctx.Objects(model.Input{}): the {kind} objects",
                        go_name(key)
                    );
                }
                Input::Metrics { queries, .. } => {
                    for query in queries {
                        let _ = writeln!(
                            doc,
                            "//   - ctx.Metric(model.Query{}): the result of the query {query}",
                            go_name(query)
                        );
                    }
                }
                Input::Traces { queries, .. } => {
                    for query in queries {
                        let _ = writeln!(
                            doc,
                            "//   - ctx.Trace(model.Trace{}): the spans found by the trace query {query}",
                            go_name(query)
                        );
                    }
                }
            }
        }
        for name in &phase.events {
            let _ = writeln!(
                doc,
                "//   - ctx.Events({name:?}): {}",
                crate::event_types::input_doc(project, name, "event.DecodeData(&v)")
            );
        }
    }
    if !phase.outputs.is_empty() {
        let kinds: Vec<String> = phase
            .outputs
            .iter()
            .filter_map(|o| project.parameter(o))
            .map(|p| format!("{} ({})", p.kind, p.api_version()))
            .collect();
        let _ = writeln!(
            doc,
            "//\n// Outputs it may return with Outcome.Output: {}.",
            kinds.join(", ")
        );
    }
    if let Some(allowed) = &phase.next {
        let _ = writeln!(doc, "//\n// It may move to: {}.", allowed.join(", "));
    }
    let (outcome, says) = match stub_next(project, phase) {
        Some(n) => (
            format!("autopilot.Next({})", go_string(n)),
            format!("moves straight on to {n}"),
        ),
        None => (
            "autopilot.Stay()".to_owned(),
            "stays in this phase".to_owned(),
        ),
    };
    let _ = writeln!(
        doc,
        "//\n// As scaffolded it {says}; replace the body with the phase's logic."
    );
    format!(
        r#"package phases

import (
	autopilot "{SDK_MODULE}"

	"{module}/model"
)

{doc}func {func}(ctx *model.Context) (*autopilot.Outcome, error) {{
	return {outcome}, nil
}}
"#
    )
}

fn finalize_go(project: &Project, module: &str) -> String {
    format!(
        r#"package phases

import (
	autopilot "{SDK_MODULE}"

	"{module}/model"
)

// Finalize cleans up before a {kind} is deleted; the scheduler calls it until it returns
// autopilot.Done(), then removes its finalizer.
//
// As scaffolded it has nothing to clean up; replace the body with the cleanup.
func Finalize(ctx *model.Context) (*autopilot.Finalized, error) {{
	return autopilot.Done(), nil
}}
"#,
        kind = project.kind,
    )
}

fn test_go(project: &Project, module: &str, phase: &Phase) -> String {
    let spec = serde_json::to_string(&crd::example_value(&project.spec, true))
        .unwrap_or_else(|_| "{}".to_owned());
    let func = go_name(&phase.name);
    let (expected, says) = match stub_next(project, phase) {
        Some(n) => (go_string(n), "MovesOn"),
        None => ("\"\"".to_owned(), "Stays"),
    };
    format!(
        r#"package phases_test

import (
	"testing"

	autopilot "{SDK_MODULE}"

	"{module}/model"
	"{module}/phases"
)

// Test{func}{says} calls a phase handler as a plain function: no gRPC, no cluster.
func Test{func}{says}(t *testing.T) {{
	ctx, err := autopilot.NewTestContext[model.Spec, model.StatusInfo]().
		Phase({phase}).
		Name("example").
		Namespace("default").
		SpecJSON({spec}).
		Build()
	if err != nil {{
		t.Fatalf("the example spec does not match the Spec type: %v", err)
	}}
	outcome, err := phases.{func}(ctx)
	if err != nil {{
		t.Fatal(err)
	}}
	if got, want := outcome.NextPhase(), {expected}; got != want {{
		t.Errorf("next phase = %q, want %q", got, want)
	}}
}}
"#,
        phase = go_string(&phase.name),
        spec = go_raw_string(&spec),
    )
}

/// `text` as `//` comment lines of at most 100 columns (a tab counting 4), each ending in a
/// newline.
fn comment(text: &str, indent: &str) -> String {
    const WIDTH: usize = 100;
    let room = WIDTH - 3 - indent.len() * 4;
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > room {
            let _ = writeln!(out, "{indent}// {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(out, "{indent}// {line}");
    out
}

/// A Go interpreted string literal; JSON's escapes are a subset of Go's.
fn go_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A Go raw string literal when `s` allows one, else an interpreted one.
fn go_raw_string(s: &str) -> String {
    if s.contains('`') || s.contains('\r') {
        go_string(s)
    } else {
        format!("`{s}`")
    }
}

/// `Set up the routing` → `set up the routing`, keeping acronyms (`HTTP routes`) as they are.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second))
            if first.is_ascii_uppercase() && !second.is_ascii_uppercase() =>
        {
            first.to_ascii_lowercase().to_string() + &s[1..]
        }
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests;
