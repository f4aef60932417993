//! The TypeScript renderer, checked on small projects and the model crate's canary example.

use std::path::Path;

use autopilot_model::{Language, Model, load_dir, parse_project};

use super::*;
use crate::{FileKind, Options, SdkSource};

const SMALL: &str = "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n\
    finalizer: true\n\
    spec: {type: object, required: [name], properties: {name: {type: string}}}\n\
    queries:\n  - {name: rate, query: 'vector(1)'}\nphases:\n\
    - {name: Greeting, initial: true, inputs: [configmaps], outputs: [configmaps]}\n\
    - {name: RollingBack, inputs: [metrics]}\n\
    - {name: Done, final: true}\n\
    workers:\n  - {name: greeter, language: typescript}\n";

fn model(yaml: &str) -> Model {
    Model {
        project: parse_project("autopilot.yaml", yaml).unwrap(),
        operator: Default::default(),
    }
}

fn options(sdk: SdkSource) -> Options {
    Options {
        language: Language::Typescript,
        sdk,
        namespace: "default".to_owned(),
    }
}

fn render_small(sdk: SdkSource) -> Vec<GeneratedFile> {
    crate::render(&model(SMALL), &options(sdk)).unwrap()
}

fn contents<'a>(files: &'a [GeneratedFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not generated"))
        .contents
}

#[test]
fn renders_the_worker_project() {
    let files = render_small(SdkSource::Path("../../sdk-typescript".into()));
    let kinds: Vec<(&str, FileKind)> = files
        .iter()
        .filter(|f| f.path.starts_with("worker/"))
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("worker/.gitignore", FileKind::Owned),
            ("worker/Dockerfile", FileKind::Owned),
            ("worker/README.md", FileKind::Owned),
            ("worker/package-lock.json", FileKind::Owned),
            ("worker/package.json", FileKind::Owned),
            ("worker/src/finalize.ts", FileKind::Owned),
            ("worker/src/main.ts", FileKind::Regenerated),
            ("worker/src/model.ts", FileKind::Regenerated),
            ("worker/src/phases/greeting.ts", FileKind::Owned),
            ("worker/src/phases/rolling-back.ts", FileKind::Owned),
            ("worker/test/greeting.test.ts", FileKind::Owned),
            ("worker/tsconfig.json", FileKind::Owned),
        ]
    );
    for f in files.iter().filter(|f| f.kind == FileKind::Regenerated) {
        assert!(f.contents.contains(crate::DO_NOT_EDIT), "{}", f.path);
    }
    let main = contents(&files, "worker/src/main.ts");
    for want in [
        "import { greeting } from \"./phases/greeting\";",
        "import { rollingBack } from \"./phases/rolling-back\";",
        "new Worker<Spec, StatusInfo>(\"greeter\")",
        "  .phase(\"Greeting\", greeting)\n  .phase(\"RollingBack\", rollingBack)\n  .finalize(finalize)\n  .serveFromEnv()",
    ] {
        assert!(main.contains(want), "missing {want:?} in\n{main}");
    }
    let phase = contents(&files, "worker/src/phases/greeting.ts");
    assert!(phase.contains("export async function greeting(_ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {\n  return Outcome.next<StatusInfo>(\"RollingBack\");\n}"), "{phase}");
    assert!(
        phase.contains("`ctx.objects(\"configmaps\")`: the ConfigMap (v1) objects."),
        "{phase}"
    );
    let last = contents(&files, "worker/src/phases/rolling-back.ts");
    assert!(last.contains("`ctx.metric(\"rate\").value()`"), "{last}");
    let test = contents(&files, "worker/test/greeting.test.ts");
    assert!(test.contains("const spec: Spec = { name: \""), "{test}");
    assert!(
        test.contains("assert.equal(outcome.nextPhase, \"RollingBack\");"),
        "{test}"
    );
    let model = contents(&files, "worker/src/model.ts");
    assert!(
        model.contains("export interface Spec {\n  name: string;\n}"),
        "{model}"
    );
    assert!(
        model.contains("export type StatusInfo = Record<string, unknown>;"),
        "{model}"
    );
}

#[test]
fn the_sdk_comes_from_the_options() {
    let path = render_small(SdkSource::Path("../../sdk-typescript".into()));
    assert!(
        contents(&path, "worker/package.json")
            .contains("\"@autopilot/sdk\": \"file:../../sdk-typescript\"")
    );
    let lock = contents(&path, "worker/package-lock.json");
    assert!(lock.contains("\"node_modules/@autopilot/sdk\": {\n      \"resolved\": \"../../sdk-typescript\",\n      \"link\": true\n    }"), "{lock}");
    let lock: Value = serde_json::from_str(lock).expect("the lock is JSON");
    assert_eq!(
        lock["packages"]["../../sdk-typescript"]["dependencies"]["@grpc/grpc-js"],
        "1.14.7"
    );
    let package: Value =
        serde_json::from_str(contents(&path, "worker/package.json")).expect("package.json is JSON");
    assert_eq!(package["name"], "greeter-worker");

    let version = render_small(SdkSource::Version("0.1.0".into()));
    assert!(contents(&version, "worker/package.json").contains("\"@autopilot/sdk\": \"0.1.0\""));
    assert!(!version.iter().any(|f| f.path == "worker/package-lock.json"));
    let absolute = render_small(SdkSource::Path("/opt/sdk-typescript".into()));
    assert!(contents(&absolute, "worker/package.json").contains("\"file:/opt/sdk-typescript\""));
    assert!(
        !absolute
            .iter()
            .any(|f| f.path == "worker/package-lock.json")
    );
}

#[test]
fn the_lock_records_the_sdk_manifest() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk-typescript/package.json");
    let text = std::fs::read_to_string(&dir).unwrap();
    let sdk: Value = serde_json::from_str(&text).unwrap();
    let recorded: Value = serde_json::from_str(SDK_MANIFEST).unwrap();
    for field in [
        "name",
        "version",
        "license",
        "dependencies",
        "devDependencies",
        "engines",
    ] {
        assert_eq!(
            sdk[field], recorded[field],
            "sdk-typescript/package.json {field}"
        );
    }
    assert_eq!(sdk["devDependencies"]["typescript"], TYPESCRIPT.0);
    assert_eq!(sdk["devDependencies"]["@types/node"], TYPES_NODE.0);
}

#[test]
fn rendering_is_deterministic() {
    let a = render_small(SdkSource::Path("../sdk".into()));
    let b = render_small(SdkSource::Path("../sdk".into()));
    assert_eq!(a, b);
}

#[test]
fn needs_exactly_one_typescript_worker() {
    let rust_only = SMALL.replace("language: typescript", "language: rust");
    let err = crate::render(
        &model(&rust_only),
        &options(SdkSource::Version("0.1.0".into())),
    )
    .unwrap_err();
    assert!(
        matches!(err, GenerateError::NoWorker(Language::Typescript)),
        "{err}"
    );
}

#[test]
fn renders_the_canary_example() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/testdata/canary");
    let mut model = load_dir(&dir).unwrap();
    for worker in &mut model.project.workers {
        worker.language = Language::Typescript;
    }
    model.project.workers.truncate(1);
    let files = crate::render(&model, &options(SdkSource::Version("0.1.0".into()))).unwrap();
    assert!(files.iter().any(|f| f.path == "worker/src/model.ts"));
}

#[test]
fn names() {
    for (phase, function, file) in [
        ("Initializing", "initializing", "initializing"),
        ("RollingBack", "rollingBack", "rolling-back"),
        ("Delete", "deletePhase", "delete"),
        ("HTTPCheck", "httpCheck", "http-check"),
    ] {
        assert_eq!(function_name(phase), function);
        assert_eq!(kebab_case(phase), file);
    }
}
