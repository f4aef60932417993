//! `ap run` and `ap build`: the development loop on this machine.
//!
//! `ap build` builds the worker with its language's tools (cargo, go, pip with the venv of
//! `hack/deps/python.sh`, npm, Maven) and, given a container tool and a Dockerfile, its image.
//!
//! `ap run` builds the worker, applies the CRD, starts the worker and `autopilot-scheduler` as
//! child processes on free loopback ports, prints their output prefixed with the process name
//! (and keeps it in `.autopilot/run/<name>.log` for `ap logs`), restarts the worker when it
//! exits, and stops both on Ctrl-C, SIGTERM or SIGHUP. `ap run --worker-only` runs the worker
//! alone (no cluster), on a fixed address, for `ap call`.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kube::api::{Api, Patch, PatchParams};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::deploy::{ClusterArgs, FIELD_MANAGER};

/// How long a stopped child may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Longest pause before restarting a crashed worker.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);
/// Where `ap run` keeps the processes' logs, relative to the project.
pub(crate) const LOG_DIR: &str = ".autopilot/run";

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The project directory (after `ap generate`).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Namespaces the scheduler watches (comma-separated; default: those of
    /// autopilot-operator.yaml).
    #[arg(long)]
    namespaces: Option<String>,
    /// The autopilot-scheduler binary (default: next to `ap`, else on PATH).
    #[arg(long, env = "AUTOPILOT_SCHEDULER_BIN", value_name = "PATH")]
    scheduler: Option<PathBuf>,
    /// Build and run the worker alone, on --worker-addr, without a cluster or a scheduler: the
    /// way to serve any worker (Rust, Go, Python, TypeScript, Java) to `ap call`.
    #[arg(long)]
    worker_only: bool,
    /// Where the worker listens with --worker-only: `host:port` or `unix:/path`; the default is
    /// where `ap call` looks.
    #[arg(long, default_value = "127.0.0.1:50051", requires = "worker_only")]
    worker_addr: String,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// The endpoint `ap call --endpoint` takes for a worker listening on `addr` (`host:port` or
/// `unix:/path`).
fn endpoint_of(addr: &str) -> String {
    if addr.starts_with("unix:") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// The project directory (after `ap generate`).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Tag of the worker image (default `<operatorName>-<worker>:latest`, as in the manifests).
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
}

/// The worker project's language, from its project file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Rust,
    Go,
    Python,
    Typescript,
    Java,
}

fn detect(worker: &Path) -> anyhow::Result<Lang> {
    let has = |f: &str| worker.join(f).is_file();
    Ok(if has("Cargo.toml") {
        Lang::Rust
    } else if has("go.mod") {
        Lang::Go
    } else if has("pyproject.toml") {
        Lang::Python
    } else if has("package.json") {
        Lang::Typescript
    } else if has("pom.xml") {
        Lang::Java
    } else {
        bail!(
            "no worker project in {} (run `ap generate`)",
            worker.display()
        )
    })
}

/// Builds the worker and returns the command that starts it.
fn build_worker(worker: &Path) -> anyhow::Result<std::process::Command> {
    match detect(worker)? {
        Lang::Rust => {
            require_tool(
                "cargo",
                "Rust workers need Rust and cargo (https://rustup.rs)",
            )?;
            eprintln!("building the worker: cargo build (in {})", worker.display());
            let output = std::process::Command::new("cargo")
                .args(["build", "--message-format=json-render-diagnostics"])
                .current_dir(worker)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .context("running cargo (is Rust installed?)")?;
            if !output.status.success() {
                bail!("cargo build failed ({})", output.status);
            }
            let executable = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|m| m["reason"] == "compiler-artifact")
                .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
                .next_back()
                .context("cargo built no executable")?;
            Ok(std::process::Command::new(executable))
        }
        Lang::Go => build_go(worker),
        Lang::Python => build_python(worker),
        Lang::Typescript => build_typescript(worker),
        Lang::Java => build_java(worker),
    }
}

/// `${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}`, where `hack/deps/<lang>.sh` install toolchains.
fn autopilot_cache() -> anyhow::Result<PathBuf> {
    Ok(match std::env::var_os("AUTOPILOT_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".cache/autopilot"),
    })
}

/// The path of `program` on PATH, or an error saying `hint` (how to install it).
fn require_tool(program: &str, hint: &str) -> anyhow::Result<PathBuf> {
    which(program).with_context(|| format!("`{program}` is not on PATH: {hint}"))
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// `worker` as an absolute path, so the commands built from it work from any directory.
fn absolute(worker: &Path) -> anyhow::Result<PathBuf> {
    worker
        .canonicalize()
        .with_context(|| format!("resolving {}", worker.display()))
}

const GO_HINT: &str = "Go workers need the Go toolchain, 1.24 or later (https://go.dev/dl); \
                       `bash hack/deps/go.sh` from the Autopilot repository checks it and \
                       downloads the SDK's modules";

/// `go build -o bin/worker .`, returning `bin/worker`.
fn build_go(worker: &Path) -> anyhow::Result<std::process::Command> {
    require_tool("go", GO_HINT)?;
    let worker = absolute(worker)?;
    let go_mod = std::fs::read_to_string(worker.join("go.mod")).unwrap_or_default();
    let sdk_hint = if go_mod.lines().any(|l| l.starts_with("replace ")) {
        "if the SDK is not found, check the directory the `replace` line of go.mod names"
    } else {
        "if the SDK is not found, regenerate with `ap generate --sdk=bundled`, which writes it \
         into third_party/ with a `replace` line for it"
    };
    run_build(&worker, "go", &["build", "-o", "bin/worker", "."]).map_err(|e| {
        anyhow::anyhow!(
            "{e}; if a module could not be downloaded, check the network or GOPROXY (`go mod \
             download` fetches them); {sdk_hint}"
        )
    })?;
    Ok(std::process::Command::new(
        worker.join("bin").join("worker"),
    ))
}

const TYPESCRIPT_HINT: &str = "TypeScript workers need Node.js 20 or later and npm: run \
                               `bash hack/deps/typescript.sh` from the Autopilot repository, or \
                               install Node 20+";

/// `npm ci` (or `npm install` without a package-lock.json), then `npm run build`; returns
/// `node <package.json "main">` in the worker directory. npm's cache is npm's own choice, or
/// `npm_config_cache` when set.
fn build_typescript(worker: &Path) -> anyhow::Result<std::process::Command> {
    let node = require_tool("node", TYPESCRIPT_HINT)?;
    require_tool("npm", TYPESCRIPT_HINT)?;
    let version = std::process::Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} --version", node.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 20) {
        bail!("node {version} is too old: {TYPESCRIPT_HINT}");
    }
    let worker = absolute(worker)?;
    let package_path = worker.join("package.json");
    let package: serde_json::Value = serde_json::from_str(&read(&package_path)?)
        .with_context(|| format!("parsing {}", package_path.display()))?;
    let main = package["main"].as_str().with_context(|| {
        format!(
            "{} has no \"main\" (the compiled entry point `ap` starts with node, e.g. \
             dist/src/main.js)",
            package_path.display()
        )
    })?;
    if package["scripts"]["build"].as_str().is_none() {
        bail!(
            "{} has no \"build\" script (e.g. \"build\": \"tsc\")",
            package_path.display()
        );
    }
    if let Some(sdk) = package["dependencies"]["@autopilot/sdk"]
        .as_str()
        .and_then(|spec| spec.strip_prefix("file:"))
    {
        let sdk = worker.join(sdk);
        if !sdk.join("dist").join("index.js").is_file() {
            bail!(
                "the TypeScript SDK at {} is not built (no dist/index.js): run `bash \
                 hack/deps/typescript.sh` from the Autopilot repository (or `bash {}`)",
                sdk.display(),
                sdk.join("scripts").join("build.sh").display()
            );
        }
    }
    let install = if worker.join("package-lock.json").is_file() {
        "ci"
    } else {
        "install"
    };
    run_build(
        &worker,
        "npm",
        &[install, "--no-audit", "--no-fund", "--prefer-offline"],
    )?;
    run_build(&worker, "npm", &["run", "build"])?;
    if !worker.join(main).is_file() {
        bail!(
            "`npm run build` wrote no {main} (the \"main\" of {})",
            package_path.display()
        );
    }
    let mut command = std::process::Command::new(node);
    command.arg(main).current_dir(&worker);
    Ok(command)
}

const JAVA_HINT: &str = "Java workers need JDK 17+ and Maven: run `bash hack/deps/java.sh` from \
                         the Autopilot repository (it also installs the Java SDK)";

/// `mvn -B -q package -DskipTests`, with the Maven repository of `hack/deps/java.sh` when it
/// holds the Java SDK; returns `java -jar target/<finalName>.jar` in the worker directory.
fn build_java(worker: &Path) -> anyhow::Result<std::process::Command> {
    let java = require_tool("java", JAVA_HINT)?;
    require_tool("mvn", JAVA_HINT)?;
    let worker = absolute(worker)?;
    let pom_path = worker.join("pom.xml");
    let pom = read(&pom_path)?;
    let jar = java_jar_name(&pom).with_context(|| {
        format!(
            "cannot tell the jar {} builds: give the maven-jar-plugin a <finalName>",
            pom_path.display()
        )
    })?;
    let cache_repo = autopilot_cache()?.join("m2");
    let mut args = ["-B", "-q", "-Dstyle.color=never"]
        .map(str::to_owned)
        .to_vec();
    if holds_java_sdk(&cache_repo) {
        args.push(format!("-Dmaven.repo.local={}", cache_repo.display()));
    }
    args.extend(["package", "-DskipTests"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(e) = run_build(&worker, "mvn", &args) {
        let default_repo = std::env::var_os("HOME").map(|h| Path::new(&h).join(".m2/repository"));
        let sdk_missing = pom.contains("<artifactId>autopilot-sdk</artifactId>")
            && !holds_java_sdk(&cache_repo)
            && !default_repo.as_deref().is_some_and(holds_java_sdk);
        if sdk_missing {
            return Err(e.context(format!(
                "the Java SDK (dev.autopilot:autopilot-sdk) is installed neither in {} nor in \
                 ~/.m2: run `bash hack/deps/java.sh` from the Autopilot repository",
                cache_repo.display()
            )));
        }
        return Err(e);
    }
    let jar = format!("target/{jar}.jar");
    if !worker.join(&jar).is_file() {
        bail!("`mvn package` built no {jar} in {}", worker.display());
    }
    let mut command = std::process::Command::new(java);
    command.arg("-jar").arg(jar).current_dir(&worker);
    Ok(command)
}

/// Whether the Maven repository `repo` holds a jar of the Java SDK, dev.autopilot:autopilot-sdk
/// (a failed resolution leaves its directory behind with no jar).
fn holds_java_sdk(repo: &Path) -> bool {
    let versions = repo.join("dev").join("autopilot").join("autopilot-sdk");
    std::fs::read_dir(versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|version| std::fs::read_dir(version.path()).ok())
        .flatten()
        .flatten()
        .any(|file| file.file_name().to_string_lossy().ends_with(".jar"))
}

/// The text of the first `<tag>` element in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].trim())
}

/// The name (without `.jar`) of the jar `mvn package` builds from `pom`: the `<finalName>`, else
/// Maven's default `<artifactId>-<version>` of the project itself.
fn java_jar_name(pom: &str) -> Option<String> {
    // The project's own coordinates: before its dependencies and build, outside <parent>.
    let own = match (pom.find("<parent>"), pom.find("</parent>")) {
        (Some(start), Some(end)) if start < end => format!("{}{}", &pom[..start], &pom[end..]),
        _ => pom.to_owned(),
    };
    let head = own
        .split("<dependencies>")
        .next()
        .and_then(|h| h.split("<build>").next())
        .unwrap_or(&own);
    let artifact = xml_text(head, "artifactId");
    let version = xml_text(head, "version").or_else(|| xml_text(pom, "version"));
    let name = match xml_text(pom, "finalName") {
        Some(name) => name.to_owned(),
        None => format!("{}-{}", artifact?, version?),
    };
    let name = name
        .replace(
            "${project.artifactId}",
            artifact.unwrap_or("${project.artifactId}"),
        )
        .replace(
            "${project.version}",
            version.unwrap_or("${project.version}"),
        );
    (!name.is_empty() && !name.contains("${")).then_some(name)
}

/// The Python toolchain `hack/deps/python.sh` installs: a venv with grpcio, pydantic and the
/// build backend, at `${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/venv`.
fn python_venv() -> anyhow::Result<PathBuf> {
    let venv = autopilot_cache()?.join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        bail!(
            "the Python worker toolchain is missing ({} not found): run `bash hack/deps/python.sh` \
             from the Autopilot repository (it installs the venv there; AUTOPILOT_CACHE moves it)",
            python.display()
        );
    }
    Ok(venv)
}

/// Installs the SDK and the worker project into `<project>/.autopilot/build/python` with the
/// venv's pip (no dependency resolution: the venv has them), and returns
/// `python -m <package>` with that directory on `PYTHONPATH`.
fn build_python(worker: &Path) -> anyhow::Result<std::process::Command> {
    let pyproject_path = worker.join("pyproject.toml");
    let pyproject = read(&pyproject_path)?;
    let module = python_module(&pyproject).with_context(|| {
        format!(
            "{} has no `[project.scripts]` entry `name = \"package.__main__:main\"`",
            pyproject_path.display()
        )
    })?;
    // Away from this repository there is no toolchain venv: the project gets its own.
    let Ok(venv) = python_venv() else {
        return crate::project_venv::build(worker, &module);
    };
    let python = venv.join("bin").join("python");
    let worker_abs = worker
        .canonicalize()
        .with_context(|| format!("resolving {}", worker.display()))?;
    let sdk = python_sdk(&pyproject, &worker_abs);
    let project = worker_abs.parent().unwrap_or(&worker_abs);
    let site = project.join(".autopilot").join("build").join("python");
    if site.exists() {
        std::fs::remove_dir_all(&site)
            .with_context(|| format!("removing the previous build in {}", site.display()))?;
    }
    std::fs::create_dir_all(&site)?;
    eprintln!(
        "building the worker: pip install --no-deps --no-build-isolation --target {} {} {}",
        site.display(),
        sdk.as_deref().unwrap_or("(no autopilot-sdk dependency)"),
        worker_abs.display()
    );
    let mut pip = std::process::Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-compile",
        "--target",
    ])
    .arg(&site);
    if let Some(sdk) = &sdk {
        pip.arg(sdk);
    }
    let status = pip
        .arg(&worker_abs)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {} -m pip", python.display()))?;
    if !status.success() {
        bail!("pip install of the worker failed ({status})");
    }
    let mut command = std::process::Command::new(python);
    command
        .args(["-m", &module])
        .env("PYTHONPATH", &site)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    Ok(command)
}

/// The worker's package, from its `[project.scripts]` entry `name = "package.__main__:main"`:
/// what `python -m` runs.
fn python_module(pyproject: &str) -> Option<String> {
    let mut in_scripts = false;
    for line in pyproject.lines().map(str::trim) {
        if line.starts_with('[') {
            in_scripts = line == "[project.scripts]";
            continue;
        }
        if !in_scripts {
            continue;
        }
        let Some((_, value)) = line.split_once('=') else {
            continue;
        };
        let target = value.trim().trim_matches('"').trim_matches('\'');
        let module = target.split(':').next().unwrap_or(target);
        let module = module.strip_suffix(".__main__").unwrap_or(module);
        if !module.is_empty() {
            return Some(module.to_owned());
        }
    }
    None
}

/// What pip installs for the `autopilot-sdk` dependency of `pyproject`: the local directory of a
/// path dependency (`{root:parent:uri}/sdk` relative to `worker`, or `file:///abs`), else the
/// requirement itself (`autopilot-sdk~=0.1`, from PyPI).
fn python_sdk(pyproject: &str, worker: &Path) -> Option<String> {
    let requirement = pyproject.lines().find_map(|line| {
        let line = line.trim().trim_end_matches(',');
        let quoted = line.strip_prefix('"')?.strip_suffix('"')?;
        quoted
            .starts_with("autopilot-sdk")
            .then(|| quoted.to_owned())
    })?;
    let Some((_, url)) = requirement.split_once(" @ ") else {
        return Some(requirement);
    };
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        return Some(path.to_owned());
    }
    if let Some(rest) = url.strip_prefix("{root") {
        let (modifiers, tail) = rest.split_once('}')?;
        let mut dir = worker.to_path_buf();
        for modifier in modifiers.split(':').filter(|m| !m.is_empty()) {
            match modifier {
                "parent" => dir = dir.parent()?.to_path_buf(),
                "uri" => {}
                _ => return Some(requirement),
            }
        }
        let tail = tail.trim_start_matches('/');
        if !tail.is_empty() {
            dir = dir.join(tail);
        }
        return Some(dir.display().to_string());
    }
    Some(requirement)
}

fn run_build(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("building the worker: {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

pub(crate) fn build(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let model = crate::deploy::load(&args.dir)?;
    let worker = args.dir.join("worker");
    build_worker(&worker)?;
    println!("built the worker");
    let tool = ["docker", "podman", "buildah"]
        .into_iter()
        .find(|t| which(t).is_some());
    let Some(tool) = tool else {
        println!("no docker, podman or buildah on PATH: built the worker only, no container image");
        return Ok(ExitCode::SUCCESS);
    };
    if let Err(why) = engine_reachable(tool) {
        println!(
            "{tool} is on PATH but its engine is not reachable ({why}): built the worker only, no \
             container image"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let dockerfile = worker.join("Dockerfile");
    if !dockerfile.is_file() {
        println!(
            "{tool} found, but {} does not exist: no image built (write one; the image runs the worker binary)",
            dockerfile.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let worker_name = model
        .project
        .workers
        .first()
        .map_or("worker", |w| w.name.as_str());
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| format!("{}-{worker_name}:latest", model.project.operator_name));
    let verb = if tool == "buildah" { "bud" } else { "build" };
    run_build(&worker, tool, &[verb, "-t", &image, "."])?;
    println!("built image {image} with {tool}");
    Ok(ExitCode::SUCCESS)
}

/// Whether `tool` can build images: `docker info` / `podman info` reach the engine (a docker
/// client without a running daemon fails here); buildah needs no daemon.
fn engine_reachable(tool: &str) -> Result<(), String> {
    if tool == "buildah" {
        return Ok(());
    }
    let output = std::process::Command::new(tool)
        .arg("info")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running `{tool} info`: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output");
    Err(format!("`{tool} info` failed: {reason}"))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn scheduler_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("autopilot-scheduler")))
        .filter(|p| p.is_file())
    {
        return Ok(beside);
    }
    which("autopilot-scheduler").context(
        "autopilot-scheduler is neither next to ap nor on PATH (build it: cargo build -p autopilot-scheduler)",
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process whose output is printed with a prefix and appended to its log file.
///
/// It leads a process group of its own, so Ctrl-C in a terminal reaches `ap` alone, which then
/// stops the children in order (a child that got the SIGINT itself could exit before `ap` saw
/// the signal, and be taken for a crash); and stopping the group stops whatever the child
/// started.
struct Supervised {
    name: &'static str,
    child: Child,
    pid: u32,
}

impl Supervised {
    fn spawn(
        name: &'static str,
        command: std::process::Command,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut command = Command::from(command);
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            command.env("NO_COLOR", "1");
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting the {name}"))?;
        let pid = child.id().context("the child has no pid")?;
        let log = log_dir.join(format!("{name}.log"));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(name, out, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(name, err, log));
        }
        Ok(Self { name, child, pid })
    }

    /// SIGTERM to the child's process group; SIGKILL when the child is still there after
    /// [`STOP_GRACE`].
    async fn stop(&mut self) {
        signal_group(self.pid, "TERM");
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_ok()
        {
            return;
        }
        eprintln!(
            "ap: the {} did not stop within {STOP_GRACE:?}; killing it",
            self.name
        );
        signal_group(self.pid, "KILL");
        let _ = self.child.kill().await;
    }
}

/// Sends `signal` to the process group `pgid`; a group that is gone already is no error.
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{signal}"), "--".to_owned(), format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// The signals that stop `ap run`: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed).
/// Once these streams exist the signals no longer end the process, and one that arrives while
/// nothing waits is kept for the next [`StopSignals::recv`].
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal (cancel-safe).
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
    }
}

async fn pump(name: &'static str, stream: impl AsyncRead + Unpin, log: PathBuf) {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .await
        .ok();
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{name:>9} | {line}");
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(format!("{line}\n").as_bytes()).await;
        }
    }
}

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    let model = crate::deploy::load(dir)?;
    let scheduler = if args.worker_only {
        None
    } else {
        Some(scheduler_binary(args.scheduler.as_deref())?)
    };
    let worker_dir = dir.join("worker");
    let worker_command = build_worker(&worker_dir)?;
    let log_dir = dir.join(LOG_DIR);
    std::fs::create_dir_all(&log_dir)?;
    for name in ["worker", "scheduler"] {
        let _ = std::fs::remove_file(log_dir.join(format!("{name}.log")));
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // From here on `ap` lives through Ctrl-C, to stop its children.
        let mut stop = StopSignals::new()?;
        if scheduler.is_some() {
            let client = args.cluster.client().await?;
            tokio::select! {
                biased;
                () = stop.recv() => return Ok(ExitCode::FAILURE),
                applied = apply_crd(&client, dir) => applied?,
            }
            crate::served_kinds::warn(&client, &model.project).await;
        }

        let worker_addr = match &scheduler {
            Some(_) => format!("127.0.0.1:{}", free_port()?),
            None => args.worker_addr.clone(),
        };
        let spawn_worker = || {
            let mut command = std::process::Command::new(worker_command.get_program());
            command.args(worker_command.get_args());
            if let Some(dir) = worker_command.get_current_dir() {
                command.current_dir(dir);
            }
            for (key, value) in worker_command.get_envs() {
                match value {
                    Some(value) => command.env(key, value),
                    None => command.env_remove(key),
                };
            }
            command.env("AUTOPILOT_WORKER_ADDR", &worker_addr);
            Supervised::spawn("worker", command, &log_dir)
        };
        let mut worker = spawn_worker()?;
        let mut scheduler = match &scheduler {
            Some(binary) => {
                let command = scheduler_command(binary, args, &worker_addr)?;
                eprintln!(
                    "ap: running {} (worker on {worker_addr}); Ctrl-C stops",
                    model.project.operator_name
                );
                Some(Supervised::spawn("scheduler", command, &log_dir)?)
            }
            None => {
                let phase = model
                    .project
                    .initial_phase()
                    .map_or("<phase>", |p| p.name.as_str());
                eprintln!(
                    "ap: running the worker of {} alone on {worker_addr}; Ctrl-C stops. Call it \
                     with:\n  ap call {} --phase {phase} --resource {} --endpoint {}",
                    model.project.operator_name,
                    dir.display(),
                    dir.join("deploy/example.yaml").display(),
                    endpoint_of(&worker_addr)
                );
                None
            }
        };

        let mut delay = Duration::from_millis(500);
        let mut worker_started = Instant::now();
        let code = loop {
            tokio::select! {
                biased;
                () = stop.recv() => break ExitCode::SUCCESS,
                status = exited(scheduler.as_mut()) => {
                    eprintln!("ap: the scheduler exited ({}); stopping", describe(status));
                    break ExitCode::FAILURE;
                }
                status = worker.child.wait() => {
                    // Whatever the worker started goes with it.
                    signal_group(worker.pid, "TERM");
                    if worker_started.elapsed() > MAX_RESTART_DELAY {
                        delay = Duration::from_millis(500);
                    }
                    eprintln!(
                        "ap: the worker exited ({}); restarting it in {delay:?}",
                        describe(status)
                    );
                    tokio::select! {
                        biased;
                        () = stop.recv() => break ExitCode::SUCCESS,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(MAX_RESTART_DELAY);
                    worker = spawn_worker()?;
                    worker_started = Instant::now();
                }
            }
        };
        if let Some(scheduler) = scheduler.as_mut() {
            eprintln!("ap: stopping the scheduler and the worker");
            scheduler.stop().await;
        } else {
            eprintln!("ap: stopping the worker");
        }
        worker.stop().await;
        eprintln!("ap: stopped");
        Ok(code)
    })
}

/// The scheduler as `ap run` starts it: against the worker on `worker_addr`, its metrics and
/// health listeners on free loopback ports (the operator file's defaults, all interfaces, are
/// for the pod; a laptop exposes nothing).
fn scheduler_command(
    binary: &Path,
    args: &RunArgs,
    worker_addr: &str,
) -> anyhow::Result<std::process::Command> {
    let mut command = std::process::Command::new(binary);
    command
        .arg("--project-dir")
        .arg(&args.dir)
        .arg("--worker-endpoint")
        .arg(endpoint_of(worker_addr))
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .arg("--health-addr")
        .arg(format!("127.0.0.1:{}", free_port()?));
    if let Some(kubeconfig) = &args.cluster.kubeconfig {
        command.arg("--kubeconfig").arg(kubeconfig);
    }
    if let Some(namespaces) = &args.namespaces {
        command.arg("--namespaces").arg(namespaces);
    }
    Ok(command)
}

/// The exit of `child`; never, when there is none.
async fn exited(child: Option<&mut Supervised>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(c) => c.child.wait().await,
        None => std::future::pending().await,
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    }
}

async fn apply_crd(client: &kube::Client, dir: &Path) -> anyhow::Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let path = dir.join("deploy").join("crd.yaml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (run `ap generate`)", path.display()))?;
    let crd: CustomResourceDefinition =
        serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let name = crd.metadata.name.clone().unwrap_or_default();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .with_context(|| format!("applying the CRD {name}"))?;
    eprintln!("ap: applied the CRD {name}");
    crate::deploy::wait_crd_established(client, &name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduler_listens_on_loopback_only() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        let cli = <Cli as clap::Parser>::parse_from(["ap", "proj", "--namespaces", "a,b"]);
        let command =
            scheduler_command(Path::new("/bin/sched"), &cli.run, "127.0.0.1:4000").unwrap();
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let value = |flag: &str| {
            let at = args.iter().position(|a| a == flag).unwrap();
            args[at + 1].clone()
        };
        for flag in ["--metrics-addr", "--health-addr"] {
            let addr: std::net::SocketAddr = value(flag).parse().unwrap();
            assert!(addr.ip().is_loopback() && addr.port() != 0, "{flag} {addr}");
        }
        assert_eq!(value("--worker-endpoint"), "http://127.0.0.1:4000");
        assert_eq!(value("--namespaces"), "a,b");
        assert_eq!(endpoint_of("unix:/tmp/w.sock"), "unix:/tmp/w.sock");
        let worker_only =
            <Cli as clap::Parser>::try_parse_from(["ap", "proj", "--worker-addr", "127.0.0.1:1"]);
        assert!(worker_only.is_err(), "--worker-addr needs --worker-only");
    }

    #[test]
    fn python_module_comes_from_the_project_script() {
        let pyproject = "[project]\nname = \"canary-worker\"\n\n[project.scripts]\ncanary-worker = \"canary_worker.__main__:main\"\n\n[build-system]\nrequires = [\"hatchling\"]\n";
        assert_eq!(python_module(pyproject).as_deref(), Some("canary_worker"));
        assert_eq!(python_module("[project]\nname = \"x\"\n"), None);
    }

    #[test]
    fn python_sdk_path_or_requirement() {
        let worker = Path::new("/home/me/op/worker");
        let dependency =
            |d: &str| format!("dependencies = [\n  \"{d}\",\n  \"pydantic>=2.11,<3\",\n]\n");
        let cases = [
            (
                "autopilot-sdk @ {root:parent:parent:uri}/sdk-python",
                Some("/home/me/sdk-python"),
            ),
            (
                "autopilot-sdk @ {root:uri}/sdk",
                Some("/home/me/op/worker/sdk"),
            ),
            ("autopilot-sdk @ {root:parent:uri}", Some("/home/me/op")),
            (
                "autopilot-sdk @ file:///opt/sdk-python",
                Some("/opt/sdk-python"),
            ),
            ("autopilot-sdk~=0.1", Some("autopilot-sdk~=0.1")),
        ];
        for (requirement, want) in cases {
            assert_eq!(
                python_sdk(&dependency(requirement), worker).as_deref(),
                want,
                "{requirement}"
            );
        }
        assert_eq!(python_sdk(&dependency("pydantic"), worker), None);
    }
}
