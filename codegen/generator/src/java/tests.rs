//! The Java renderer, checked on small projects.

use autopilot_model::{Language, Model, parse_project};

use crate::{DO_NOT_EDIT, FileKind, GenerateError, GeneratedFile, Options, SdkSource};

const PROJECT: &str = "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n\
    finalizer: true\n\
    spec: {type: object, required: [name], properties: {name: {type: string, description: Who to greet.}, times: {type: integer}}}\n\
    statusInfo: {type: object, properties: {greeted: {type: integer}}}\n\
    queries: [{name: rate, query: 'vector(1)'}]\n\
    phases:\n\
    - {name: Greeting, initial: true, inputs: [configmaps], outputs: [configmaps], next: [Waving]}\n\
    - {name: Waving, inputs: [{metrics: [rate]}]}\n\
    - {name: Done, final: true}\n\
    workers: [{name: greeter-worker, language: java}]\n";

fn render(yaml: &str, sdk: SdkSource) -> Result<Vec<GeneratedFile>, GenerateError> {
    let model = Model {
        project: parse_project("autopilot.yaml", yaml).unwrap(),
        operator: Default::default(),
    };
    crate::render(
        &model,
        &Options {
            language: Language::Java,
            sdk,
            namespace: "default".to_owned(),
        },
    )
}

fn file<'a>(files: &'a [GeneratedFile], path: &str) -> &'a GeneratedFile {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not generated"))
}

#[test]
fn project_layout_and_kinds() {
    let files = render(PROJECT, SdkSource::Path("../../sdk-java".to_owned())).unwrap();
    let dir = "worker/src/main/java/com/example/demo";
    for (path, kind) in [
        ("worker/pom.xml", FileKind::Owned),
        ("worker/Dockerfile", FileKind::Owned),
        ("worker/README.md", FileKind::Owned),
        (&format!("{dir}/Main.java") as &str, FileKind::Regenerated),
        (&format!("{dir}/model/Spec.java"), FileKind::Regenerated),
        (
            &format!("{dir}/model/StatusInfo.java"),
            FileKind::Regenerated,
        ),
        (&format!("{dir}/phases/Greeting.java"), FileKind::Owned),
        (&format!("{dir}/phases/Waving.java"), FileKind::Owned),
        (&format!("{dir}/phases/Finalize.java"), FileKind::Owned),
        (
            "worker/src/test/java/com/example/demo/phases/GreetingTest.java",
            FileKind::Owned,
        ),
    ] {
        let f = file(&files, path);
        assert_eq!(f.kind, kind, "{path}");
        if kind == FileKind::Regenerated {
            assert!(
                f.contents.starts_with(&format!("// {DO_NOT_EDIT}\n")),
                "{path}"
            );
        }
    }
    assert!(!files.iter().any(|f| f.path.ends_with("Done.java")));

    let main = &file(&files, &format!("{dir}/Main.java")).contents;
    for want in [
        "package com.example.demo;",
        "new Worker<>(\"greeter-worker\", Spec.class, StatusInfo.class)",
        ".phase(\"Greeting\", Greeting::handle)",
        ".phase(\"Waving\", Waving::handle)",
        ".finalizer(Finalize::handle)",
        ".serveFromEnv();",
    ] {
        assert!(main.contains(want), "missing {want:?} in\n{main}");
    }
    let spec = &file(&files, &format!("{dir}/model/Spec.java")).contents;
    assert!(
        spec.contains("public record Spec(\n    String name,\n    Long times) {}"),
        "{spec}"
    );
    assert!(spec.contains(" * @param name Who to greet.\n"), "{spec}");

    let greeting = &file(&files, &format!("{dir}/phases/Greeting.java")).contents;
    assert!(
        greeting
            .contains("public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx)")
    );
    assert!(
        greeting.contains("return Outcome.next(\"Waving\");"),
        "{greeting}"
    );
    assert!(greeting.contains("{@code ctx.objects(\"configmaps\")}: the ConfigMap (v1) objects."));
    let waving = &file(&files, &format!("{dir}/phases/Waving.java")).contents;
    assert!(waving.contains("{@code ctx.metric(\"rate\")}"), "{waving}");
    assert!(
        waving.contains("return Outcome.next(\"Done\");"),
        "{waving}"
    );

    let pom = &file(&files, "worker/pom.xml").contents;
    assert!(pom.contains("<autopilot-sdk.version>0.1.0</autopilot-sdk.version>"));
    assert!(pom.contains("`mvn -f ../../sdk-java/pom.xml install`"));
    assert!(pom.contains("<mainClass>com.example.demo.Main</mainClass>"));
}

#[test]
fn published_sdk_version_and_free_form_models() {
    let yaml = PROJECT
        .replace(
            "statusInfo: {type: object, properties: {greeted: {type: integer}}}\n",
            "",
        )
        .replace("finalizer: true\n", "");
    let files = render(&yaml, SdkSource::Version("0.1".to_owned())).unwrap();
    let pom = &file(&files, "worker/pom.xml").contents;
    assert!(pom.contains("<autopilot-sdk.version>0.1.0</autopilot-sdk.version>"));
    assert!(!pom.contains("mvn -f"));
    let dir = "worker/src/main/java/com/example/demo";
    assert!(!files.iter().any(|f| f.path.ends_with("StatusInfo.java")));
    assert!(!files.iter().any(|f| f.path.ends_with("Finalize.java")));
    let main = &file(&files, &format!("{dir}/Main.java")).contents;
    assert!(main.contains("Spec.class, JsonNode.class"), "{main}");
    assert!(main.contains("import com.fasterxml.jackson.databind.JsonNode;"));
}

#[test]
fn deterministic_and_needs_a_java_worker() {
    let a = render(PROJECT, SdkSource::Path("p".to_owned())).unwrap();
    let b = render(PROJECT, SdkSource::Path("p".to_owned())).unwrap();
    assert_eq!(a, b);
    let rust_only = PROJECT.replace("language: java", "language: rust");
    assert!(matches!(
        render(&rust_only, SdkSource::Path("p".to_owned())),
        Err(GenerateError::NoWorker(Language::Java))
    ));
}
