//! The TypeScript worker project: a short `src/main.ts`, typed models, one owned file per phase,
//! a node:test test, `package.json` + `package-lock.json` + `tsconfig.json` (strict), a
//! Dockerfile and a README. The `@autopilot/sdk` package (`sdk-typescript/`) carries the rest.

mod types;

use std::fmt::Write as _;

use autopilot_model::{Input, Language, Phase, Project};
use serde_json::Value;

use crate::rust::snake_case;
use crate::{
    BUNDLED_DIR, DO_NOT_EDIT, GenerateError, GeneratedFile, Options, SDK_VERSION, SdkSource, crd,
    rules_doc,
};

/// Directory of the worker project, relative to the project directory.
const WORKER_DIR: &str = "worker";

/// The SDK's npm package name.
const SDK_PACKAGE: &str = "@autopilot/sdk";

/// The compiler and Node typings every worker builds with, pinned so that the rendered
/// `package-lock.json` is exact. The integrity hashes are the registry's for these versions.
const TYPESCRIPT: (&str, &str) = (
    "5.9.3",
    "sha512-jl1vZzPDinLr9eUt3J/t7V6FgNEw9QjvBPdysz9KfQDD41fQrC2Y4vKQdiaUpFT4bXlb1RHhLpp8wtm6M5TgSw==",
);
const TYPES_NODE: (&str, &str) = (
    "20.19.43",
    "sha512-6oYBAi5ikg4Pl+kGsoYtawUMBT2zZMCvPNF7pVLnHZfd1zf38DRiWn/gT01RYCdUqkv7Fhr+C9ot4/tb+2sVvA==",
);
const UNDICI_TYPES: (&str, &str) = (
    "6.21.0",
    "sha512-iwDZqg0QAGrg9Rav5H4n0M64c3mkR59cJ6wQp+7C4nI0gsmExaedaYLNO44eT4AtBBwjbTiGPMlt2Md0T9H9JQ==",
);

/// What `sdk-typescript/package.json` declares, as npm records a linked package in the lock.
/// A unit test keeps it equal to the SDK's manifest.
const SDK_MANIFEST: &str = r#"{
  "name": "@autopilot/sdk",
  "version": "0.1.0",
  "license": "Apache-2.0",
  "dependencies": {"@grpc/grpc-js": "1.14.7", "@grpc/proto-loader": "0.8.1", "protobufjs": "7.6.6"},
  "devDependencies": {"@types/node": "20.19.43", "typescript": "5.9.3"},
  "engines": {"node": ">=20"}
}"#;

/// The files of the TypeScript worker serving the project's TypeScript phases.
pub(crate) fn render(
    project: &Project,
    options: &Options,
) -> Result<Vec<GeneratedFile>, GenerateError> {
    let workers: Vec<_> = project
        .workers
        .iter()
        .filter(|w| w.language == Language::Typescript)
        .collect();
    let worker = match workers.as_slice() {
        [] => return Err(GenerateError::NoWorker(Language::Typescript)),
        [one] => *one,
        _ => return Err(GenerateError::SeveralWorkers(Language::Typescript)),
    };
    let phases: Vec<&Phase> = project
        .non_final_phases()
        .filter(|p| worker.phases.contains(&p.name))
        .collect();
    let package = format!("{}-worker", worker.name.trim_end_matches("-worker"));
    let path = |p: &str| format!("{WORKER_DIR}/{p}");

    let mut files = vec![
        GeneratedFile::owned(path("package.json"), package_json(&package, &options.sdk)),
        GeneratedFile::owned(path("tsconfig.json"), TSCONFIG.to_owned()),
        GeneratedFile::owned(path(".gitignore"), "node_modules/\ndist/\n".to_owned()),
        GeneratedFile::owned(path("Dockerfile"), dockerfile(&options.sdk)),
        GeneratedFile::owned(path("README.md"), readme(project, &worker.name, &phases)),
        GeneratedFile::regenerated(path("src/main.ts"), main_ts(project, &worker.name, &phases)),
        GeneratedFile::regenerated(path("src/model.ts"), model_ts(project)),
    ];
    // npm records a linked SDK by its path relative to the worker; an absolute path (whose
    // relative form depends on where the project lives) and a published SDK (whose whole
    // dependency tree the lock would pin) leave the lock to the first `npm install`.
    if let SdkSource::Path(sdk) = &options.sdk
        && !std::path::Path::new(sdk).is_absolute()
    {
        files.push(GeneratedFile::owned(
            path("package-lock.json"),
            package_lock(&package, sdk),
        ));
    }
    for phase in &phases {
        files.push(GeneratedFile::owned(
            path(&format!("src/phases/{}.ts", kebab_case(&phase.name))),
            phase_ts(project, phase),
        ));
    }
    if project.finalizer {
        files.push(GeneratedFile::owned(
            path("src/finalize.ts"),
            FINALIZE_TS.to_owned(),
        ));
    }
    if let Some(first) = phases.first() {
        files.push(GeneratedFile::owned(
            path(&format!("test/{}.test.ts", kebab_case(&first.name))),
            test_ts(project, first),
        ));
    }
    Ok(files)
}

fn sdk_requirement(sdk: &SdkSource) -> String {
    match sdk {
        SdkSource::Version(v) => v.clone(),
        SdkSource::Path(p) => format!("file:{p}"),
        // The npm workspace in third_party/ has exactly this version, so npm links it.
        SdkSource::Bundled => SDK_VERSION.to_owned(),
    }
}

fn package_json(package: &str, sdk: &SdkSource) -> String {
    // A bundled SDK is an npm workspace of the worker: npm installs its dependencies with the
    // worker's and links it; the worker's build compiles it first.
    let (workspaces, build, typecheck, test) = if *sdk == SdkSource::Bundled {
        (
            format!("\n  \"workspaces\": [\n    \"{BUNDLED_DIR}\"\n  ],"),
            format!("tsc -p {BUNDLED_DIR} && tsc"),
            format!("tsc -p {BUNDLED_DIR} && tsc --noEmit"),
            "npm run build && node --test dist/test/".to_owned(),
        )
    } else {
        (
            String::new(),
            "tsc".to_owned(),
            "tsc --noEmit".to_owned(),
            "tsc && node --test dist/test/".to_owned(),
        )
    };
    format!(
        r#"{{
  "name": "{package}",
  "version": "0.1.0",
  "private": true,
  "description": "Phase handlers of an Autopilot operator, served over gRPC",
  "main": "dist/src/main.js",{workspaces}
  "scripts": {{
    "build": "{build}",
    "typecheck": "{typecheck}",
    "test": "{test}",
    "start": "node dist/src/main.js"
  }},
  "engines": {{
    "node": ">=20"
  }},
  "dependencies": {{
    "{SDK_PACKAGE}": {sdk}
  }},
  "devDependencies": {{
    "@types/node": "{types_node}",
    "typescript": "{typescript}"
  }}
}}
"#,
        sdk = Value::String(sdk_requirement(sdk)),
        types_node = TYPES_NODE.0,
        typescript = TYPESCRIPT.0,
    )
}

/// The lock npm writes for [`package_json`] with the SDK linked from `sdk`, in npm's layout.
fn package_lock(package: &str, sdk: &str) -> String {
    let manifest: Value = serde_json::from_str(SDK_MANIFEST).unwrap_or_default();
    let field = |name: &str| indent(&pretty(&manifest[name]), "      ");
    let sdk_path = Value::String(sdk.to_owned());
    let sdk_dep = Value::String(format!("file:{sdk}"));
    format!(
        r#"{{
  "name": "{package}",
  "version": "0.1.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {{
    "": {{
      "name": "{package}",
      "version": "0.1.0",
      "dependencies": {{
        "{SDK_PACKAGE}": {sdk_dep}
      }},
      "devDependencies": {{
        "@types/node": "{types_node}",
        "typescript": "{typescript}"
      }},
      "engines": {{
        "node": ">=20"
      }}
    }},
    {sdk_path}: {{
      "name": "{SDK_PACKAGE}",
      "version": {sdk_version},
      "license": {sdk_license},
      "dependencies": {dependencies},
      "devDependencies": {dev_dependencies},
      "engines": {engines}
    }},
    "node_modules/{SDK_PACKAGE}": {{
      "resolved": {sdk_path},
      "link": true
    }},
    "node_modules/@types/node": {{
      "version": "{types_node}",
      "integrity": "{types_node_integrity}",
      "dev": true,
      "license": "MIT",
      "dependencies": {{
        "undici-types": "~{undici}"
      }}
    }},
    "node_modules/typescript": {{
      "version": "{typescript}",
      "integrity": "{typescript_integrity}",
      "dev": true,
      "license": "Apache-2.0",
      "bin": {{
        "tsc": "bin/tsc",
        "tsserver": "bin/tsserver"
      }},
      "engines": {{
        "node": ">=14.17"
      }}
    }},
    "node_modules/undici-types": {{
      "version": "{undici}",
      "integrity": "{undici_integrity}",
      "dev": true,
      "license": "MIT"
    }}
  }}
}}
"#,
        sdk_version = manifest["version"],
        sdk_license = manifest["license"],
        dependencies = field("dependencies"),
        dev_dependencies = field("devDependencies"),
        engines = field("engines"),
        types_node = TYPES_NODE.0,
        types_node_integrity = TYPES_NODE.1,
        typescript = TYPESCRIPT.0,
        typescript_integrity = TYPESCRIPT.1,
        undici = UNDICI_TYPES.0,
        undici_integrity = UNDICI_TYPES.1,
    )
}

/// JSON with two-space indents, as npm writes it.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Indent every line but the first by `prefix`.
fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                line.to_owned()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const TSCONFIG: &str = r#"{
  // The worker's compiler settings: yours to edit; `ap generate` only creates this file.
  "compilerOptions": {
    "target": "ES2022",
    "module": "commonjs",
    "moduleResolution": "node",
    "lib": ["ES2022"],
    "types": ["node"],
    "strict": true,
    "noUnusedLocals": true,
    "noUnusedParameters": true,
    "noImplicitReturns": true,
    "noFallthroughCasesInSwitch": true,
    "sourceMap": true,
    "rootDir": ".",
    "outDir": "dist"
  },
  "include": ["src", "test"]
}
"#;

const FINALIZE_TS: &str = r#"/** Cleanup before a resource is deleted (the project enables the finalizer). */

import { Context, Finalized } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "./model";

/**
 * Clean up what the phases created outside the cluster; objects they returned as outputs are
 * owned by the resource and deleted with it. Return `Finalized.notYet()` to be called again.
 */
export async function finalize(_ctx: Context<Spec, StatusInfo>): Promise<Finalized> {
  return Finalized.done();
}
"#;

fn dockerfile(sdk: &SdkSource) -> String {
    let note = match sdk {
        SdkSource::Path(p) => format!(
            "# The SDK is a path dependency ({p}): build from a context that holds it, or switch\n\
             # package.json to a published version of {SDK_PACKAGE} first.\n"
        ),
        SdkSource::Version(_) | SdkSource::Bundled => String::new(),
    };
    let (copy_sdk, copy_sdk_runtime) = if *sdk == SdkSource::Bundled {
        (
            "COPY third_party ./third_party\n",
            "COPY --from=build /worker/third_party ./third_party\n",
        )
    } else {
        ("", "")
    };
    format!(
        r#"# The worker's image: yours to edit; `ap generate` only creates it.
{note}FROM node:20-slim AS build
WORKDIR /worker
COPY package.json package-lock.json* ./
{copy_sdk}RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
RUN npm test && npm prune --omit=dev

FROM node:20-slim
WORKDIR /worker
COPY --from=build /worker/node_modules ./node_modules
COPY --from=build /worker/dist ./dist
{copy_sdk_runtime}COPY package.json ./
ENV AUTOPILOT_WORKER_ADDR=0.0.0.0:50051
EXPOSE 50051
USER node
CMD ["node", "dist/src/main.js"]
"#
    )
}

fn readme(project: &Project, worker: &str, phases: &[&Phase]) -> String {
    let files: Vec<String> = phases
        .iter()
        .map(|p| format!("`src/phases/{}.ts`", kebab_case(&p.name)))
        .collect();
    format!(
        r#"# {worker}

The TypeScript worker of the `{operator}` operator ({kind}, `{api_version}`). Write each phase's
logic in {files}; `src/main.ts` and `src/model.ts` are regenerated by `ap generate`.

```sh
npm install     # install (the SDK is `{SDK_PACKAGE}`); `npm ci` once package-lock.json exists
npm test        # compile with tsc --strict and run the tests in test/ (node:test)
npm start       # serve on $AUTOPILOT_WORKER_ADDR (default 127.0.0.1:50051, or unix:/path)
```
"#,
        operator = project.operator_name,
        kind = project.kind,
        api_version = project.api_version,
        files = files.join(", "),
    )
}

fn main_ts(project: &Project, worker: &str, phases: &[&Phase]) -> String {
    let mut imports = String::new();
    let mut registrations = String::new();
    for phase in phases {
        let function = function_name(&phase.name);
        let _ = writeln!(
            imports,
            "import {{ {function} }} from \"./phases/{}\";",
            kebab_case(&phase.name)
        );
        let _ = write!(registrations, "\n  .phase({:?}, {function})", phase.name);
    }
    if project.finalizer {
        imports.push_str("import { finalize } from \"./finalize\";\n");
        registrations.push_str("\n  .finalize(finalize)");
    }
    format!(
        r#"// {DO_NOT_EDIT}
/**
 * Worker `{worker}` of the `{operator}` operator: serves its phases over gRPC.
 *
 * Where it listens comes from the environment (AUTOPILOT_WORKER_ADDR, see @autopilot/sdk).
 */

import {{ Worker }} from "@autopilot/sdk";

import type {{ Spec, StatusInfo }} from "./model";
{imports}
new Worker<Spec, StatusInfo>({worker:?})
  .version("0.1.0"){registrations}
  .serveFromEnv()
  .catch((err: unknown) => {{
    console.error(err);
    process.exit(1);
  }});
"#,
        operator = project.operator_name,
    )
}

fn model_ts(project: &Project) -> String {
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
    format!(
        "// {DO_NOT_EDIT}\n/** Typed `spec` and `statusInfo` of {kind}, from the schemas in `autopilot.yaml`. */\n\n{items}",
        kind = project.kind,
        items = writer.finish()
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

fn phase_ts(project: &Project, phase: &Phase) -> String {
    let mut doc = format!(
        " * Handle one resource in the `{}` phase.\n *\n",
        phase.name
    );
    if phase.inputs.is_empty() && phase.events.is_empty() {
        doc.push_str(" * It has no inputs.\n");
    } else {
        doc.push_str(" * Inputs:\n");
        for input in &phase.inputs {
            match input {
                Input::Resource { parameter, key, .. } => {
                    let kind = project
                        .parameter(parameter)
                        .map(|p| format!("{} ({})", p.kind, p.api_version()))
                        .unwrap_or_default();
                    let _ = writeln!(doc, " * - `ctx.objects({key:?})`: the {kind} objects.");
                }
                Input::Metrics { queries, .. } => {
                    let names = if queries.is_empty() {
                        project.queries.iter().map(|q| q.name.clone()).collect()
                    } else {
                        queries.clone()
                    };
                    for name in names {
                        let _ = writeln!(
                            doc,
                            " * - `ctx.metric({name:?}).value()`: the query's result (value, noData or nan)."
                        );
                    }
                }
                Input::Traces { queries, .. } => {
                    for name in queries {
                        let _ = writeln!(
                            doc,
                            " * - `ctx.trace({name:?})`: the spans found by the trace query."
                        );
                    }
                }
            }
        }
        for name in &phase.events {
            let _ = writeln!(
                doc,
                " * - `ctx.events({name:?})`: {}",
                crate::event_types::input_doc(project, name, "`eventData<T>(event)`")
            );
        }
    }
    if !phase.outputs.is_empty() {
        doc.push_str(" *\n * Outputs it may return with `Outcome.output`:");
        for output in &phase.outputs {
            if let Some(p) = project.parameter(output) {
                let _ = write!(doc, " {} ({}),", p.kind, p.api_version());
            }
        }
        doc.pop();
        doc.push_str(".\n");
    }
    if let Some(allowed) = &phase.next {
        let _ = writeln!(doc, " *\n * It may move to: {}.", allowed.join(", "));
    }
    let (outcome, says) = match stub_next(project, phase) {
        Some(n) => (
            format!("Outcome.next<StatusInfo>({n:?})"),
            format!("moves straight on to `{n}`"),
        ),
        None => (
            "Outcome.stay<StatusInfo>()".to_owned(),
            "stays in this phase".to_owned(),
        ),
    };
    let _ = writeln!(
        doc,
        " *\n * As scaffolded it {says}; replace the body with the phase's logic."
    );
    let description = phase.description.as_deref().map_or_else(
        || format!("the `{}` phase", phase.name),
        |d| d.trim().trim_end_matches('.').to_owned(),
    );
    format!(
        r#"/** {name}: {description}. */

import {{ Context, Outcome }} from "@autopilot/sdk";

import type {{ Spec, StatusInfo }} from "../model";

/**
{doc} */
export async function {function}(_ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {{
  return {outcome};
}}
"#,
        name = phase.name,
        function = function_name(&phase.name),
    )
}

fn test_ts(project: &Project, phase: &Phase) -> String {
    let spec = literal(&crd::example_value(&project.spec, true));
    let function = function_name(&phase.name);
    let (title, assertion) = match stub_next(project, phase) {
        Some(n) => (
            format!("{} moves on to {n}", phase.name),
            format!("assert.equal(outcome.nextPhase, {n:?});"),
        ),
        None => (
            format!("{} stays", phase.name),
            "assert.equal(outcome.nextPhase, undefined);".to_owned(),
        ),
    };
    format!(
        r#"/** Phase handlers called as plain functions: no gRPC, no cluster. */

import {{ strict as assert }} from "node:assert";
import {{ test }} from "node:test";

import {{ Context }} from "@autopilot/sdk";

import type {{ Spec, StatusInfo }} from "../src/model";
import {{ {function} }} from "../src/phases/{file}";

test({title:?}, async () => {{
  const spec: Spec = {spec};
  const ctx = new Context<Spec, StatusInfo>({{ phase: {phase:?}, name: "example", namespace: "default", spec }});
  const outcome = await {function}(ctx);
  {assertion}
}});
"#,
        phase = phase.name,
        file = kebab_case(&phase.name),
    )
}

/// `value` as a TypeScript object literal on one line: `{ target: "example", weight: 10 }`.
fn literal(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", types::property_name(k), literal(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Words TypeScript reserves, which cannot name a function.
const RESERVED: &[&str] = &[
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    "yield",
    "await",
];

/// `RollingBack` → `rollingBack` (the handler's name), avoiding reserved words.
fn function_name(phase: &str) -> String {
    let pascal = pascal_case(phase);
    let mut chars = pascal.chars();
    let name = chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default();
    if RESERVED.contains(&name.as_str()) || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{name}Phase")
    } else {
        name
    }
}

/// `RollingBack` → `rolling-back` (file names).
fn kebab_case(name: &str) -> String {
    snake_case(name).trim_start_matches('_').replace('_', "-")
}

/// `targetRef` → `TargetRef`, `max-surge` → `MaxSurge`.
pub(crate) fn pascal_case(name: &str) -> String {
    snake_case(name)
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut cs = s.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests;
