//! The Java worker project: a Maven build, a short `Main`, typed records, one owned class per
//! phase, a JUnit test.

mod types;

use std::fmt::Write as _;

use autopilot_model::{Input, Language, Phase, Project};
use serde_json::Value;

use crate::{
    BUNDLED_DIR, DO_NOT_EDIT, GenerateError, GeneratedFile, Options, SDK_VERSION, SdkSource, crd,
    rules_doc,
};

use types::{RecordWriter, escape, package_segment, pascal_case};

/// Directory of the worker project, relative to the project directory.
const WORKER_DIR: &str = "worker";

/// What every Java file of one worker project shares.
struct Names<'a> {
    project: &'a Project,
    worker: &'a str,
    artifact: String,
    /// The Java package, such as `com.example.canary`.
    package: String,
    /// The Java type of the spec: `Spec`, or `JsonNode` for a schema without properties.
    spec: &'static str,
    /// The Java type of the statusInfo: `StatusInfo`, or `JsonNode`.
    status_info: &'static str,
}

impl Names<'_> {
    fn source(&self, root: &str, sub: &str, class: &str) -> String {
        let dir = self.package.replace('.', "/");
        let sub = if sub.is_empty() {
            String::new()
        } else {
            format!("{sub}/")
        };
        format!("{WORKER_DIR}/src/{root}/java/{dir}/{sub}{class}.java")
    }

    /// The imports of the model types, for a file in another package.
    fn model_imports(&self) -> Vec<String> {
        let mut imports = Vec::new();
        for ty in [self.spec, self.status_info] {
            let import = if ty == "JsonNode" {
                "com.fasterxml.jackson.databind.JsonNode".to_owned()
            } else {
                format!("{}.model.{ty}", self.package)
            };
            if !imports.contains(&import) {
                imports.push(import);
            }
        }
        imports
    }
}

/// The files of the Java worker serving the project's Java phases.
pub(crate) fn render(
    project: &Project,
    options: &Options,
) -> Result<Vec<GeneratedFile>, GenerateError> {
    let workers: Vec<_> = project
        .workers
        .iter()
        .filter(|w| w.language == Language::Java)
        .collect();
    let worker = match workers.as_slice() {
        [] => return Err(GenerateError::NoWorker(Language::Java)),
        [one] => *one,
        _ => return Err(GenerateError::SeveralWorkers(Language::Java)),
    };
    let phases: Vec<&Phase> = project
        .non_final_phases()
        .filter(|p| worker.phases.contains(&p.name))
        .collect();
    let names = Names {
        project,
        worker: &worker.name,
        artifact: format!("{}-worker", worker.name.trim_end_matches("-worker")),
        package: java_package(project),
        spec: if has_properties(&project.spec) {
            "Spec"
        } else {
            "JsonNode"
        },
        status_info: if has_properties(&project.status_info) {
            "StatusInfo"
        } else {
            "JsonNode"
        },
    };
    let path = |p: &str| format!("{WORKER_DIR}/{p}");

    let mut files = vec![
        GeneratedFile::owned(path("pom.xml"), pom_xml(&names, &options.sdk)),
        GeneratedFile::owned(path("Dockerfile"), dockerfile(&names, &options.sdk)),
        GeneratedFile::owned(path("README.md"), readme(&names, &phases)),
        GeneratedFile::owned(path(".gitignore"), "target/\n".to_owned()),
        GeneratedFile::regenerated(names.source("main", "", "Main"), main_java(&names, &phases)),
    ];
    if names.spec == "Spec" {
        files.push(GeneratedFile::regenerated(
            names.source("main", "model", "Spec"),
            model_java(
                &names,
                "Spec",
                &format!("The spec of a {}.", project.kind),
                &rules_doc::documented(
                    &project.spec,
                    Some(&format!("The spec of a {}.", project.kind)),
                ),
            ),
        ));
    }
    if names.status_info == "StatusInfo" {
        files.push(GeneratedFile::regenerated(
            names.source("main", "model", "StatusInfo"),
            model_java(
                &names,
                "StatusInfo",
                &format!(
                    "What the workers of {} keep in {{@code .status.statusInfo}}.",
                    project.kind
                ),
                // The javadoc text is escaped, so the lead before the rules is plain.
                &rules_doc::documented(
                    &project.status_info,
                    Some(&format!(
                        "What the workers of {} keep in .status.statusInfo.",
                        project.kind
                    )),
                ),
            ),
        ));
    }
    for (name, doc, schema) in crate::event_types::payload_types(project) {
        files.push(GeneratedFile::regenerated(
            names.source("main", "model", &name),
            model_java(&names, &name, &doc, schema),
        ));
    }
    for phase in &phases {
        files.push(GeneratedFile::owned(
            names.source("main", "phases", &pascal_case(&phase.name)),
            phase_java(&names, phase),
        ));
    }
    if project.finalizer {
        files.push(GeneratedFile::owned(
            names.source("main", "phases", "Finalize"),
            finalize_java(&names),
        ));
    }
    if let Some(first) = phases.first() {
        files.push(GeneratedFile::owned(
            names.source(
                "test",
                "phases",
                &format!("{}Test", pascal_case(&first.name)),
            ),
            test_java(&names, first),
        ));
    }
    Ok(files)
}

fn has_properties(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// The Java package of the worker: the API group reversed, `canary.example.com` →
/// `com.example.canary`.
fn java_package(project: &Project) -> String {
    let group = project.api_version.split('/').next().unwrap_or_default();
    let segments: Vec<String> = group.split('.').rev().map(package_segment).collect();
    if segments.is_empty() || segments.iter().all(|s| s.is_empty()) {
        "worker".to_owned()
    } else {
        segments.join(".")
    }
}

/// A Maven version for the SDK: `0.1` → `0.1.0`.
fn maven_version(version: &str) -> String {
    let version = version.trim().trim_start_matches(['^', '~', '=']);
    match version.split('.').count() {
        1 => format!("{version}.0.0"),
        2 => format!("{version}.0"),
        _ => version.to_owned(),
    }
}

fn pom_xml(names: &Names<'_>, sdk: &SdkSource) -> String {
    let (version, sdk_comment) = match sdk {
        SdkSource::Version(v) => (maven_version(v), String::new()),
        SdkSource::Path(p) => (
            SDK_VERSION.to_owned(),
            format!(
                "\n    <!-- The SDK's sources are at {p} (relative to this file): install them with\n         `mvn -f {p}/pom.xml install` before the first build. -->"
            ),
        ),
        SdkSource::Bundled => (
            SDK_VERSION.to_owned(),
            format!(
                "\n    <!-- The SDK's sources are in {BUNDLED_DIR}; `ap generate` installs them into your local\n         Maven repository (again by hand: `mvn -f {BUNDLED_DIR}/pom.xml install`). -->"
            ),
        ),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- The worker's build: yours to edit (add dependencies here); `ap generate` only creates it. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>

  <groupId>{package}</groupId>
  <artifactId>{artifact}</artifactId>
  <version>0.1.0</version>
  <packaging>jar</packaging>
  <description>Worker {worker} of the {operator} operator.</description>

  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <autopilot-sdk.version>{version}</autopilot-sdk.version>
    <junit.version>5.10.3</junit.version>
  </properties>

  <dependencies>{sdk_comment}
    <dependency>
      <groupId>dev.autopilot</groupId>
      <artifactId>autopilot-sdk</artifactId>
      <version>${{autopilot-sdk.version}}</version>
    </dependency>
    <dependency>
      <groupId>org.junit.jupiter</groupId>
      <artifactId>junit-jupiter</artifactId>
      <version>${{junit.version}}</version>
      <scope>test</scope>
    </dependency>
  </dependencies>

  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.13.0</version>
      </plugin>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-surefire-plugin</artifactId>
        <version>3.2.5</version>
      </plugin>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-resources-plugin</artifactId>
        <version>3.3.1</version>
      </plugin>
      <plugin>
        <!-- `java -jar target/{artifact}.jar` runs the worker, with its libraries in target/lib. -->
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-jar-plugin</artifactId>
        <version>3.4.1</version>
        <configuration>
          <finalName>{artifact}</finalName>
          <archive>
            <manifest>
              <mainClass>{package}.Main</mainClass>
              <addClasspath>true</addClasspath>
              <classpathPrefix>lib/</classpathPrefix>
              <addDefaultImplementationEntries>true</addDefaultImplementationEntries>
            </manifest>
          </archive>
        </configuration>
      </plugin>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>3.7.1</version>
        <executions>
          <execution>
            <id>copy-libraries</id>
            <phase>package</phase>
            <goals>
              <goal>copy-dependencies</goal>
            </goals>
            <configuration>
              <includeScope>runtime</includeScope>
              <outputDirectory>${{project.build.directory}}/lib</outputDirectory>
            </configuration>
          </execution>
        </executions>
      </plugin>
    </plugins>
  </build>
</project>
"#,
        package = names.package,
        artifact = names.artifact,
        worker = names.worker,
        operator = names.project.operator_name,
    )
}

fn dockerfile(names: &Names<'_>, sdk: &SdkSource) -> String {
    let (note, install_sdk) = match sdk {
        SdkSource::Bundled => (
            "# The build stage installs the SDK from third_party/ first.\n",
            format!(
                "COPY third_party third_party\nRUN mvn -B -q -f {BUNDLED_DIR}/pom.xml install -DskipTests\n"
            ),
        ),
        SdkSource::Path(_) | SdkSource::Version(_) => (
            "# The build stage needs dev.autopilot:autopilot-sdk in a repository Maven can reach.\n",
            String::new(),
        ),
    };
    format!(
        r#"# The worker's image: yours to edit; `ap generate` only creates it.
{note}FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
{install_sdk}COPY pom.xml .
COPY src src
RUN mvn -B -q package -DskipTests

FROM eclipse-temurin:17-jre
COPY --from=build /src/target/{artifact}.jar /app/{artifact}.jar
COPY --from=build /src/target/lib /app/lib
ENV AUTOPILOT_WORKER_ADDR=0.0.0.0:50051
EXPOSE 50051
USER 65532
ENTRYPOINT ["java", "-jar", "/app/{artifact}.jar"]
"#,
        artifact = names.artifact,
    )
}

fn readme(names: &Names<'_>, phases: &[&Phase]) -> String {
    let served: Vec<String> = phases.iter().map(|p| format!("`{}`", p.name)).collect();
    format!(
        r#"# {worker}

The Java worker of the `{operator}` operator. It serves {served} to the Autopilot scheduler.

- Write each phase's logic in `src/main/java/{dir}/phases/`; the models in `model/` and
  `Main.java` are regenerated by `ap generate`.
- `mvn verify` builds and runs the tests; `java -jar target/{artifact}.jar` serves on
  `$AUTOPILOT_WORKER_ADDR` (default `127.0.0.1:50051`, or `unix:/path`).
"#,
        worker = names.worker,
        operator = names.project.operator_name,
        served = if served.is_empty() {
            "no phases".to_owned()
        } else {
            served.join(", ")
        },
        dir = names.package.replace('.', "/"),
        artifact = names.artifact,
    )
}

fn imports(out: &mut String, imports: impl IntoIterator<Item = String>) {
    let mut imports: Vec<String> = imports.into_iter().collect();
    imports.sort();
    imports.dedup();
    // Static imports first, then one block, as google-java-format orders them.
    let (statics, plain): (Vec<_>, Vec<_>) =
        imports.into_iter().partition(|i| i.starts_with("static "));
    for i in &statics {
        let _ = writeln!(out, "import {i};");
    }
    if !statics.is_empty() && !plain.is_empty() {
        out.push('\n');
    }
    for i in &plain {
        let _ = writeln!(out, "import {i};");
    }
}

fn main_java(names: &Names<'_>, phases: &[&Phase]) -> String {
    let mut out = format!("// {DO_NOT_EDIT}\npackage {};\n\n", names.package);
    let mut used = names.model_imports();
    used.push("dev.autopilot.sdk.Worker".to_owned());
    used.push("java.util.Objects".to_owned());
    for phase in phases {
        used.push(format!(
            "{}.phases.{}",
            names.package,
            pascal_case(&phase.name)
        ));
    }
    if names.project.finalizer {
        used.push(format!("{}.phases.Finalize", names.package));
    }
    imports(&mut out, used);
    let mut registrations = String::new();
    for phase in phases {
        let _ = write!(
            registrations,
            "\n        .phase({:?}, {}::handle)",
            phase.name,
            pascal_case(&phase.name)
        );
    }
    if names.project.finalizer {
        registrations.push_str("\n        .finalizer(Finalize::handle)");
    }
    let _ = write!(
        out,
        r#"
/**
 * Worker {{@code {worker}}} of the {{@code {operator}}} operator: serves its phases over gRPC.
 *
 * <p>Where it listens comes from the environment (see {{@link Worker}}).
 */
public final class Main {{
  private Main() {{}}

  /** Serves until SIGTERM. */
  public static void main(String[] args) throws Exception {{
    String version = Objects.requireNonNullElse(Main.class.getPackage().getImplementationVersion(), "dev");
    new Worker<>({worker:?}, {spec}.class, {info}.class)
        .version(version){registrations}
        .serveFromEnv();
  }}
}}
"#,
        worker = names.worker,
        operator = names.project.operator_name,
        spec = names.spec,
        info = names.status_info,
    );
    out
}

fn model_java(names: &Names<'_>, name: &str, doc: &str, schema: &Value) -> String {
    let (body, used) = RecordWriter::default().top_level(name, doc, schema);
    let mut out = format!("// {DO_NOT_EDIT}\npackage {}.model;\n\n", names.package);
    imports(&mut out, used.into_iter().map(str::to_owned));
    out.push('\n');
    out.push_str(&body);
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

fn phase_java(names: &Names<'_>, phase: &Phase) -> String {
    let project = names.project;
    let class = pascal_case(&phase.name);
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "   * Handles one resource in the {{@code {}}} phase.\n   *",
        phase.name
    );
    if phase.inputs.is_empty() && phase.events.is_empty() {
        doc.push_str("   * <p>It has no inputs.\n");
    } else {
        doc.push_str("   * <p>Inputs:\n   *\n   * <ul>\n");
        for input in &phase.inputs {
            match input {
                Input::Resource { parameter, key, .. } => {
                    let kind = project
                        .parameter(parameter)
                        .map(|p| format!("{} ({})", p.kind, p.api_version()))
                        .unwrap_or_default();
                    let _ = writeln!(
                        doc,
                        "   *   <li>{{@code ctx.objects({key:?})}}: the {kind} objects.",
                    );
                }
                Input::Metrics { queries, .. } => {
                    for query in queries {
                        let _ = writeln!(
                            doc,
                            "   *   <li>{{@code ctx.metric({query:?})}}: the result of the query."
                        );
                    }
                }
                Input::Traces { queries, .. } => {
                    for query in queries {
                        let _ = writeln!(
                            doc,
                            "   *   <li>{{@code ctx.trace({query:?})}}: the spans found by the trace query."
                        );
                    }
                }
            }
        }
        for name in &phase.events {
            let _ = writeln!(
                doc,
                "   *   <li>{{@code ctx.events({name:?})}}: {}",
                crate::event_types::input_doc(project, name, "{@code event.data(T.class)}")
            );
        }
        doc.push_str("   * </ul>\n");
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
            "   *\n   * <p>Outputs it may return with {{@code Outcome.output}}: {}.",
            kinds.join(", ")
        );
    }
    if let Some(allowed) = &phase.next {
        let _ = writeln!(doc, "   *\n   * <p>It may move to: {}.", allowed.join(", "));
    }
    let (outcome, says) = match stub_next(project, phase) {
        Some(n) => (
            format!("Outcome.next({n:?})"),
            format!("moves straight on to {{@code {n}}}"),
        ),
        None => (
            "Outcome.stay()".to_owned(),
            "stays in this phase".to_owned(),
        ),
    };
    let _ = writeln!(
        doc,
        "   *\n   * <p>As scaffolded it {says}; replace the body with the phase's logic."
    );
    let description = phase.description.as_deref().map_or_else(
        || format!("the {{@code {}}} phase", phase.name),
        |d| {
            escape(
                d.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim_end_matches('.'),
            )
        },
    );
    let mut out = format!("package {}.phases;\n\n", names.package);
    let mut used = names.model_imports();
    used.extend(
        [
            "dev.autopilot.sdk.Context",
            "dev.autopilot.sdk.Outcome",
            "dev.autopilot.sdk.WorkerException",
        ]
        .map(str::to_owned),
    );
    imports(&mut out, used);
    let _ = write!(
        out,
        r#"
/** {name}: {description}. */
public final class {class} {{
  private {class}() {{}}

  /**
{doc}   */
  public static Outcome<{info}> handle(Context<{spec}, {info}> ctx) throws WorkerException {{
    return {outcome};
  }}
}}
"#,
        name = phase.name,
        spec = names.spec,
        info = names.status_info,
    );
    out
}

fn finalize_java(names: &Names<'_>) -> String {
    let mut out = format!("package {}.phases;\n\n", names.package);
    let mut used = names.model_imports();
    used.extend(
        [
            "dev.autopilot.sdk.Context",
            "dev.autopilot.sdk.Finalized",
            "dev.autopilot.sdk.WorkerException",
        ]
        .map(str::to_owned),
    );
    imports(&mut out, used);
    let _ = write!(
        out,
        r#"
/** Cleanup before a {kind} is deleted. */
public final class Finalize {{
  private Finalize() {{}}

  /**
   * Cleans up for one resource being deleted; called again until it answers done.
   *
   * <p>As scaffolded it has nothing to clean up; replace the body with the cleanup.
   */
  public static Finalized handle(Context<{spec}, {info}> ctx) throws WorkerException {{
    return Finalized.done();
  }}
}}
"#,
        kind = names.project.kind,
        spec = names.spec,
        info = names.status_info,
    );
    out
}

fn test_java(names: &Names<'_>, phase: &Phase) -> String {
    let spec = serde_json::to_string_pretty(&crd::example_value(&names.project.spec, true))
        .unwrap_or_else(|_| "{}".to_owned());
    let class = pascal_case(&phase.name);
    let expected = match stub_next(names.project, phase) {
        Some(n) => format!("Optional.of({n:?})"),
        None => "Optional.empty()".to_owned(),
    };
    let mut spec_block = String::new();
    for line in spec
        .replace('\\', "\\\\")
        .replace("\"\"\"", "\\\"\"\"")
        .lines()
    {
        let _ = writeln!(spec_block, "                {line}");
    }
    let mut out = format!("package {}.phases;\n\n", names.package);
    let mut used = names.model_imports();
    used.extend(
        [
            "static org.junit.jupiter.api.Assertions.assertEquals",
            "dev.autopilot.sdk.Context",
            "dev.autopilot.sdk.Json",
            "java.util.Optional",
            "org.junit.jupiter.api.Test",
        ]
        .map(str::to_owned),
    );
    imports(&mut out, used);
    let _ = write!(
        out,
        r#"
/** Phase handlers called as plain functions: no gRPC, no cluster. */
class {class}Test {{
  @Test
  void movesOn() throws Exception {{
    var ctx =
        Context.builder({spec_type}.class, {info}.class)
            .phase({phase:?})
            .name("example")
            .namespace("default")
            .spec(Json.MAPPER.readTree("""
{spec_block}                """))
            .build();
    assertEquals({expected}, {class}.handle(ctx).nextPhase());
  }}
}}
"#,
        phase = phase.name,
        spec_type = names.spec,
        info = names.status_info,
    );
    out
}

#[cfg(test)]
mod tests;
