//! The Python worker project: a short `__main__.py`, pydantic models, one owned module per
//! phase, a test, `pyproject.toml`, a Dockerfile and a README.
//!
//! Everything every worker needs (serving, the health service, shutdown, the gRPC mapping)
//! lives in the `autopilot-sdk` package (`sdk-python/`), so the project stays small.

mod types;

use std::fmt::Write as _;

use autopilot_model::{Input, Language, Phase, Project};

use crate::{
    BUNDLED_DIR, DO_NOT_EDIT, GenerateError, GeneratedFile, Options, SdkSource, crd, rules_doc,
};

use types::snake_case;

/// Directory of the worker project, relative to the project directory.
const WORKER_DIR: &str = "worker";

/// The SDK's distribution name on PyPI.
const SDK_PACKAGE: &str = "autopilot-sdk";

/// Ruff's line length in the generated project (set in its `pyproject.toml`).
const LINE_LENGTH: usize = 100;

/// The files of the Python worker serving the project's Python phases.
pub(crate) fn render(
    project: &Project,
    options: &Options,
) -> Result<Vec<GeneratedFile>, GenerateError> {
    let workers: Vec<_> = project
        .workers
        .iter()
        .filter(|w| w.language == Language::Python)
        .collect();
    let worker = match workers.as_slice() {
        [] => return Err(GenerateError::NoWorker(Language::Python)),
        [one] => *one,
        _ => return Err(GenerateError::SeveralWorkers(Language::Python)),
    };
    let phases: Vec<&Phase> = project
        .non_final_phases()
        .filter(|p| worker.phases.contains(&p.name))
        .collect();
    let distribution = format!("{}-worker", worker.name.trim_end_matches("-worker"));
    let package = distribution.replace('-', "_");
    let path = |p: &str| format!("{WORKER_DIR}/{p}");
    let src = |p: &str| format!("{WORKER_DIR}/src/{package}/{p}");

    let mut files = vec![
        GeneratedFile::owned(
            path("pyproject.toml"),
            pyproject_toml(project, &distribution, &package, &options.sdk),
        ),
        GeneratedFile::owned(
            path("README.md"),
            readme(project, &distribution, &package, &options.sdk),
        ),
        GeneratedFile::owned(path("Dockerfile"), dockerfile(&package, &options.sdk)),
        GeneratedFile::owned(
            path(".gitignore"),
            "__pycache__/\n*.egg-info/\n.venv/\n".to_owned(),
        ),
        GeneratedFile::owned(
            path(".dockerignore"),
            ".venv/\n**/__pycache__/\n".to_owned(),
        ),
        GeneratedFile::regenerated(src("__init__.py"), init_py(project)),
        GeneratedFile::regenerated(
            src("__main__.py"),
            main_py(project, &worker.name, &package, &phases),
        ),
        GeneratedFile::regenerated(src("model.py"), model_py(project)),
        GeneratedFile::regenerated(src("py.typed"), String::new()),
        GeneratedFile::regenerated(src("phases/__init__.py"), phases_init_py(&phases)),
    ];
    for phase in &phases {
        files.push(GeneratedFile::owned(
            src(&format!("phases/{}.py", snake_case(&phase.name))),
            phase_py(project, &package, phase),
        ));
    }
    if project.finalizer {
        files.push(GeneratedFile::owned(
            src("finalize.py"),
            finalize_py(project, &package),
        ));
    }
    if let Some(first) = phases.first() {
        files.push(GeneratedFile::owned(
            path("tests/test_phases.py"),
            test_py(project, &package, first),
        ));
    }
    Ok(files)
}

/// The dependency line on the SDK: a version from PyPI, or a local directory written as a
/// hatchling context path so the project stays relocatable (`{root}` is the worker directory).
fn sdk_requirement(sdk: &SdkSource) -> String {
    match sdk {
        SdkSource::Version(v) => {
            let v = v.trim();
            if v.starts_with(|c: char| c.is_ascii_digit()) {
                format!("{SDK_PACKAGE}~={v}")
            } else {
                format!("{SDK_PACKAGE}{v}")
            }
        }
        SdkSource::Bundled => sdk_requirement(&SdkSource::Path(BUNDLED_DIR.to_owned())),
        SdkSource::Path(p) if p.starts_with('/') => format!("{SDK_PACKAGE} @ file://{p}"),
        SdkSource::Path(p) => {
            let mut root = "root".to_owned();
            let mut rest = Vec::new();
            for part in p.split('/').filter(|s| !s.is_empty() && *s != ".") {
                if part == ".." && rest.is_empty() {
                    root.push_str(":parent");
                } else {
                    rest.push(part);
                }
            }
            let rest = rest.join("/");
            if rest.is_empty() {
                format!("{SDK_PACKAGE} @ {{{root}:uri}}")
            } else {
                format!("{SDK_PACKAGE} @ {{{root}:uri}}/{rest}")
            }
        }
    }
}

fn pyproject_toml(project: &Project, distribution: &str, package: &str, sdk: &SdkSource) -> String {
    let local = matches!(sdk, SdkSource::Path(_) | SdkSource::Bundled);
    let (direct, ruff_ignore) = if local {
        (
            "\n# The SDK is a local directory (see `dependencies`).\n[tool.hatch.metadata]\nallow-direct-references = true\n",
            "\n# hatchling's `{root:uri}` path of the SDK is not a PEP 508 URL until it is built.\nignore = [\"RUF200\"]\n",
        )
    } else {
        ("", "")
    };
    // The bundled SDK is checked by its own settings, not the worker's.
    let ruff_exclude = if *sdk == SdkSource::Bundled {
        "extend-exclude = [\"third_party\"]\n"
    } else {
        ""
    };
    format!(
        r#"# The worker's project file: yours to edit (add dependencies here); `ap generate` only creates it.
[project]
name = "{distribution}"
version = "0.1.0"
description = "Worker of the {operator} operator ({kind}, {api_version})"
requires-python = ">=3.10"
dependencies = [
  "{sdk}",
  "pydantic>=2.11,<3",
]

[project.optional-dependencies]
dev = ["mypy>=1.18", "pytest>=8", "ruff>=0.14"]

[project.scripts]
{distribution} = "{package}.__main__:main"

[build-system]
requires = ["hatchling>=1.27"]
build-backend = "hatchling.build"
{direct}
[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]

[tool.ruff]
line-length = 100
target-version = "py310"
{ruff_exclude}
[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "N", "SIM", "RUF"]{ruff_ignore}
[tool.mypy]
strict = true
python_version = "3.10"
mypy_path = "src"
packages = ["{package}", "tests"]
"#,
        operator = project.operator_name,
        kind = project.kind,
        api_version = project.api_version,
        sdk = sdk_requirement(sdk),
    )
}

fn readme(project: &Project, distribution: &str, package: &str, sdk: &SdkSource) -> String {
    let sdk_note = match sdk {
        SdkSource::Bundled => format!(
            "\nThe `autopilot-sdk` it depends on is the one in `{BUNDLED_DIR}/` (written by `ap generate`\n\
             with the `ap` that generated this project), so pip installs it from there, never from an index.\n"
        ),
        SdkSource::Path(_) | SdkSource::Version(_) => String::new(),
    };
    format!(
        r#"# {distribution}

The worker of the `{operator}` operator: one function per phase of a {kind}, in
`src/{package}/phases/`. `ap generate` rewrites `__main__.py`, `model.py` and `phases/__init__.py`
from `autopilot.yaml`; every other file is yours.
{sdk_note}
```sh
python -m venv .venv && .venv/bin/pip install -e '.[dev]'
.venv/bin/pytest && .venv/bin/ruff check && .venv/bin/ruff format --check && .venv/bin/mypy
AUTOPILOT_WORKER_ADDR=127.0.0.1:50051 .venv/bin/{distribution}
```
"#,
        operator = project.operator_name,
        kind = project.kind,
    )
}

fn dockerfile(package: &str, sdk: &SdkSource) -> String {
    let (note, copy_sdk) = match sdk {
        SdkSource::Path(_) => (
            "# The SDK comes from a local path: build with a context that holds it, or switch\n\
             # pyproject.toml to the published autopilot-sdk before building this image.\n",
            "",
        ),
        SdkSource::Bundled => ("", "COPY third_party ./third_party\n"),
        SdkSource::Version(_) => ("", ""),
    };
    format!(
        r#"# The worker's image: yours to edit; `ap generate` only creates it.
{note}FROM python:3.12-slim
WORKDIR /worker
COPY pyproject.toml README.md ./
{copy_sdk}COPY src ./src
RUN pip install --no-cache-dir .
ENV AUTOPILOT_WORKER_ADDR=0.0.0.0:50051
EXPOSE 50051
USER 65532
ENTRYPOINT ["python", "-m", "{package}"]
"#
    )
}

fn init_py(project: &Project) -> String {
    format!(
        "# {DO_NOT_EDIT}\n\"\"\"The worker of `{operator}` ({kind}, `{api_version}`).\n\nThe phase handlers are the modules in `phases/`.\n\"\"\"\n",
        operator = project.operator_name,
        kind = project.kind,
        api_version = project.api_version,
    )
}

fn main_py(project: &Project, worker: &str, package: &str, phases: &[&Phase]) -> String {
    let mut imports = format!("from {package}.model import Spec, StatusInfo\n");
    if !phases.is_empty() {
        let mut names: Vec<String> = phases.iter().map(|p| snake_case(&p.name)).collect();
        names.sort();
        let _ = writeln!(imports, "from {package}.phases import {}", names.join(", "));
    }
    if project.finalizer {
        imports.insert_str(0, &format!("from {package} import finalize\n"));
    }
    let mut registrations = String::new();
    for phase in phases {
        let _ = write!(
            registrations,
            "\n        .phase({:?}, {}.handle)",
            phase.name,
            snake_case(&phase.name)
        );
    }
    if project.finalizer {
        registrations.push_str("\n        .finalize(finalize.handle)");
    }
    format!(
        r#"# {DO_NOT_EDIT}
"""Worker `{worker}` of the `{operator}` operator: serves its phases over gRPC.

Where it listens comes from the environment (see `autopilot_sdk.serve`).
"""

import logging
from importlib.metadata import PackageNotFoundError, version

from autopilot_sdk import Worker

{imports}

def worker() -> Worker[Spec, StatusInfo]:
    """The worker with every phase handler registered."""
    try:
        own_version = version({distribution:?})
    except PackageNotFoundError:
        own_version = "0.0.0"
    return (
        Worker({worker:?}, Spec, StatusInfo, version=own_version){registrations}
    )


def main() -> None:
    """Serves until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    worker().serve_from_env()


if __name__ == "__main__":
    main()
"#,
        operator = project.operator_name,
        distribution = package.replace('_', "-"),
    )
}

fn model_py(project: &Project) -> String {
    let mut writer = types::ModelWriter::default();
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
    let mut imports = String::new();
    if writer.uses_any {
        imports.push_str("from typing import Any\n\n");
    }
    imports.push_str("from autopilot_sdk import Model\n");
    if writer.uses_field {
        imports.push_str("from pydantic import Field\n");
    }
    let classes = writer.finish();
    format!(
        "# {DO_NOT_EDIT}\n\"\"\"Typed `spec` and `statusInfo` of {kind}, from the schemas in `autopilot.yaml`.\"\"\"\n\n{imports}{classes}",
        kind = project.kind
    )
}

fn phases_init_py(phases: &[&Phase]) -> String {
    let mut names: Vec<String> = phases.iter().map(|p| snake_case(&p.name)).collect();
    names.sort();
    let list = names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "# {DO_NOT_EDIT}\n\"\"\"One module per phase this worker serves.\"\"\"\n\n__all__ = [{list}]\n"
    )
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

fn phase_py(project: &Project, package: &str, phase: &Phase) -> String {
    let mut doc = String::new();
    if phase.inputs.is_empty() && phase.events.is_empty() {
        doc.push_str("    It has no inputs.\n");
    } else {
        doc.push_str("    Inputs:\n\n");
        for input in &phase.inputs {
            match input {
                Input::Resource { parameter, key, .. } => {
                    let kind = project
                        .parameter(parameter)
                        .map(|p| format!("{} ({})", p.kind, p.api_version()))
                        .unwrap_or_default();
                    bullet(
                        &mut doc,
                        &format!("`ctx.objects({key:?})`: the {kind} objects, as dicts."),
                    );
                }
                Input::Metrics { queries, .. } => {
                    for query in queries {
                        bullet(
                            &mut doc,
                            &format!("`ctx.metric({query:?})`: the result of the query `{query}`."),
                        );
                    }
                }
                Input::Traces { queries, .. } => {
                    for query in queries {
                        bullet(
                            &mut doc,
                            &format!(
                                "`ctx.trace({query:?})`: the spans found by the trace query `{query}`."
                            ),
                        );
                    }
                }
            }
        }
        for name in &phase.events {
            bullet(
                &mut doc,
                &format!(
                    "`ctx.events({name:?})`: {}",
                    crate::event_types::input_doc(project, name, "`event.data_as(T)`")
                ),
            );
        }
    }
    if !phase.outputs.is_empty() {
        doc.push_str("\n    Outputs it may return with `Outcome.output`:");
        for output in &phase.outputs {
            if let Some(p) = project.parameter(output) {
                let _ = write!(doc, " {} ({}),", p.kind, p.api_version());
            }
        }
        doc.pop();
        doc.push_str(".\n");
    }
    if let Some(allowed) = &phase.next {
        let _ = writeln!(doc, "\n    It may move to: {}.", allowed.join(", "));
    }
    let (outcome, says) = match stub_next(project, phase) {
        Some(n) => (
            format!("Outcome.next({n:?})"),
            format!("moves straight on to `{n}`"),
        ),
        None => (
            "Outcome.stay()".to_owned(),
            "stays in this phase".to_owned(),
        ),
    };
    let _ = writeln!(
        doc,
        "\n    As scaffolded it {says}; replace the body with the phase's logic."
    );
    let description = phase.description.as_deref().map_or_else(
        || format!("the `{}` phase", phase.name),
        |d| d.trim().trim_end_matches('.').to_owned(),
    );
    format!(
        r#""""{name}: {description}."""

from autopilot_sdk import Context, Outcome

from {package}.model import Spec, StatusInfo


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Handle one resource in the `{name}` phase.

{doc}    """
    return {outcome}
"#,
        name = phase.name,
    )
}

/// Writes a docstring bullet at the handler's indent, wrapped at the project's line length.
fn bullet(doc: &mut String, text: &str) {
    let mut line = "    -".to_owned();
    for word in text.split(' ') {
        if line.len() + 1 + word.len() > LINE_LENGTH && line.trim() != "-" {
            doc.push_str(&line);
            doc.push('\n');
            line = "     ".to_owned();
        }
        line.push(' ');
        line.push_str(word);
    }
    doc.push_str(&line);
    doc.push('\n');
}

fn finalize_py(project: &Project, package: &str) -> String {
    format!(
        r#""""Cleanup before a {kind} is deleted (the finalizer is on in `autopilot.yaml`)."""

from autopilot_sdk import Context, Finalized

from {package}.model import Spec, StatusInfo


def handle(ctx: Context[Spec, StatusInfo]) -> Finalized:
    """Clean up what the phases made outside Kubernetes' garbage collection.

    Objects returned as outputs are owned by the {kind} and deleted with it. Return
    `Finalized.not_yet()` to be called again; as scaffolded it is done at once.
    """
    return Finalized.finished()
"#,
        kind = project.kind,
    )
}

fn python_literal(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k:?}: {}", python_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn test_py(project: &Project, package: &str, phase: &Phase) -> String {
    let spec = python_literal(&crd::example_value(&project.spec, true));
    let module = snake_case(&phase.name);
    let expected = match stub_next(project, phase) {
        Some(n) => format!("{n:?}"),
        None => "None".to_owned(),
    };
    format!(
        r#""""Phase handlers called as plain functions: no gRPC, no cluster."""

from autopilot_sdk import Context

from {package}.model import Spec, StatusInfo
from {package}.phases import {module}


def test_{module}_moves_on() -> None:
    spec = Spec.model_validate({spec})
    ctx: Context[Spec, StatusInfo] = Context.for_test(spec, StatusInfo, phase={phase:?})
    outcome = {module}.handle(ctx)
    assert outcome.next_phase == {expected}
"#,
        phase = phase.name,
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::FileKind;

    fn canary_files() -> Vec<GeneratedFile> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/testdata/canary");
        let model = autopilot_model::load_dir(&dir).unwrap();
        let options = Options {
            language: Language::Python,
            sdk: SdkSource::Path("../../sdk-python".to_owned()),
            ..Options::default()
        };
        crate::render(&model, &options).unwrap()
    }

    #[test]
    fn renders_the_python_worker_of_the_canary() {
        let files = canary_files();
        assert_eq!(files, canary_files(), "rendering is deterministic");
        let worker: Vec<(&str, FileKind)> = files
            .iter()
            .filter(|f| f.path.starts_with("worker/"))
            .map(|f| (f.path.as_str(), f.kind))
            .collect();
        assert_eq!(
            worker,
            [
                ("worker/.dockerignore", FileKind::Owned),
                ("worker/.gitignore", FileKind::Owned),
                ("worker/Dockerfile", FileKind::Owned),
                ("worker/README.md", FileKind::Owned),
                ("worker/pyproject.toml", FileKind::Owned),
                (
                    "worker/src/canary_analysis_worker/__init__.py",
                    FileKind::Regenerated
                ),
                (
                    "worker/src/canary_analysis_worker/__main__.py",
                    FileKind::Regenerated
                ),
                (
                    "worker/src/canary_analysis_worker/finalize.py",
                    FileKind::Owned
                ),
                (
                    "worker/src/canary_analysis_worker/model.py",
                    FileKind::Regenerated
                ),
                (
                    "worker/src/canary_analysis_worker/phases/__init__.py",
                    FileKind::Regenerated
                ),
                (
                    "worker/src/canary_analysis_worker/phases/evaluating.py",
                    FileKind::Owned
                ),
                (
                    "worker/src/canary_analysis_worker/py.typed",
                    FileKind::Regenerated
                ),
                ("worker/tests/test_phases.py", FileKind::Owned),
            ]
        );
        let text = |path: &str| {
            &files
                .iter()
                .find(|f| f.path == path)
                .unwrap_or_else(|| panic!("{path} not generated"))
                .contents
        };
        let main = text("worker/src/canary_analysis_worker/__main__.py");
        assert!(main.starts_with(&format!("# {DO_NOT_EDIT}\n")), "{main}");
        assert!(
            main.contains(".phase(\"Evaluating\", evaluating.handle)"),
            "{main}"
        );
        assert!(main.contains(".finalize(finalize.handle)"), "{main}");
        assert!(
            !main.contains("Promoting"),
            "Promoting is served by the Rust worker"
        );
        let model = text("worker/src/canary_analysis_worker/model.py");
        assert!(model.contains("class Spec(Model):"), "{model}");
        assert!(model.contains("    target_ref: str\n"), "{model}");
        let pyproject = text("worker/pyproject.toml");
        assert!(
            pyproject.contains("\"autopilot-sdk @ {root:parent:parent:uri}/sdk-python\""),
            "{pyproject}"
        );
        assert!(
            pyproject.contains("allow-direct-references = true"),
            "{pyproject}"
        );
    }

    #[test]
    fn needs_exactly_one_python_worker() {
        let yaml = "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n\
            spec: {type: object}\nphases:\n  - {name: Greeting, initial: true}\n  - {name: Done, final: true}\n";
        let model = autopilot_model::Model {
            project: autopilot_model::parse_project("autopilot.yaml", yaml).unwrap(),
            operator: Default::default(),
        };
        let options = Options {
            language: Language::Python,
            ..Options::default()
        };
        assert!(matches!(
            crate::render(&model, &options),
            Err(GenerateError::NoWorker(Language::Python))
        ));
    }

    #[test]
    fn sdk_requirement_from_path_or_version() {
        let cases = [
            (SdkSource::Version("0.1".into()), "autopilot-sdk~=0.1"),
            (SdkSource::Version(">=0.2".into()), "autopilot-sdk>=0.2"),
            (
                SdkSource::Path("../../../../sdk-python".into()),
                "autopilot-sdk @ {root:parent:parent:parent:parent:uri}/sdk-python",
            ),
            (
                SdkSource::Path("./sdk".into()),
                "autopilot-sdk @ {root:uri}/sdk",
            ),
            (
                SdkSource::Path("..".into()),
                "autopilot-sdk @ {root:parent:uri}",
            ),
            (
                SdkSource::Path("/opt/sdk-python".into()),
                "autopilot-sdk @ file:///opt/sdk-python",
            ),
        ];
        for (sdk, want) in cases {
            assert_eq!(sdk_requirement(&sdk), want, "{sdk:?}");
        }
    }

    #[test]
    fn python_literals() {
        let value = serde_json::json!({"a": [1, true, null, "x\"y"], "b": {"c": 1.5}});
        assert_eq!(
            python_literal(&value),
            r#"{"a": [1, True, None, "x\"y"], "b": {"c": 1.5}}"#
        );
    }
}
