//! `ap`: create, validate, generate, run and deploy Autopilot operator projects.

mod bundled;
mod call;
mod cluster;
mod dashboard;
mod deploy;
mod init;
mod kube_util;
mod logs;
mod project_venv;
mod run;
mod selection;
mod served_kinds;
mod status;
mod status_tree;
mod upstream_crds;
mod verbs;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use autopilot_codegen::{Options, SdkSource, WriteOptions};
use autopilot_model::{Language, Model};
use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

/// Build Kubernetes operators from phases declared in `autopilot.yaml` and workers in any
/// language.
#[derive(Debug, Parser)]
#[command(
    name = "ap",
    version,
    after_help = "Examples:\n  ap init canary --kind CanaryDeployment --group canary.example.com\n  cd canary && ap validate && ap generate --lang rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new project: autopilot.yaml and autopilot-operator.yaml.
    #[command(
        after_help = "Examples:\n  ap init canary\n  ap init canary --kind CanaryDeployment --group canary.example.com --version v1alpha1"
    )]
    Init(init::Args),
    /// Check autopilot.yaml and autopilot-operator.yaml, printing every problem as
    /// file:line:column: message.
    #[command(after_help = "Examples:\n  ap validate\n  ap validate path/to/project")]
    Validate {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Validate, then write the CRD, RBAC, an example resource, the deployment manifests and
    /// Helm chart, and the worker project.
    ///
    /// Regenerated files (marked DO NOT EDIT) are rewritten every run; files you own (phase
    /// handlers, Cargo.toml, tests, the example) are only created when absent.
    #[command(
        after_help = "Examples:\n  ap generate\n  ap generate path/to/project --lang go --sdk=registry\n  ap generate path/to/project --lang rust --sdk=path:../../sdk-rust\n  ap generate --force    # overwrite owned files, saving each as <file>.orig"
    )]
    Generate {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Language of the worker project: rust, go, python, typescript or java (the project
        /// must have one worker in it).
        #[arg(long, default_value = "rust", value_parser = parse_language)]
        lang: Language,
        /// Overwrite owned files that differ, saving each first as <file>.orig.
        #[arg(long)]
        force: bool,
        /// Where the worker gets the Autopilot SDK of its language. `bundled`: the SDK `ap`
        /// carries (of `ap`'s own version) is written into worker/third_party/autopilot-sdk
        /// and used from there (a Cargo path dependency, a Go `replace`, a pip direct
        /// reference, an npm workspace, for Java a Maven project `ap generate` installs into
        /// the local Maven repository) — no registry needed. `registry` (or
        /// `registry:VERSION`): the published package (crates.io autopilot-sdk, Go
        /// autopilot.dev/sdk-go, PyPI autopilot-sdk, npm @autopilot/sdk, Maven
        /// dev.autopilot:autopilot-sdk). `path:DIR`: the SDK's sources in DIR (written
        /// verbatim, so relative to the worker directory), such as a checkout's sdk-go.
        #[arg(long, default_value = "bundled", value_name = "SOURCE")]
        sdk: SdkSource,
        /// Same as `--sdk=path:PATH`.
        #[arg(long, value_name = "PATH", conflicts_with = "sdk", hide = true)]
        sdk_path: Option<String>,
        /// Namespace of the scheduler's ServiceAccount in deploy/rbac.yaml.
        #[arg(long, default_value = "default")]
        namespace: String,
    },
    /// Run a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) in
    /// the background, for development without a cluster. No kubelet: pods never start.
    #[command(
        after_help = "Examples:\n  ap cluster up && eval \"$(ap cluster env)\"\n  ap cluster up --with istio,gateway-api    # also Istio's and Gateway API's CRDs\n  ap cluster status\n  ap cluster down"
    )]
    Cluster(cluster::Args),
    /// Apply the CRD, RBAC, the ConfigMap of the project files, the scheduler and the workers
    /// to the cluster with server-side apply, labelled app.kubernetes.io/managed-by=ap, and wait
    /// for the rollout.
    #[command(
        after_help = "Examples:\n  ap deploy --namespace canary-system --image registry.example.com/canary-worker:1.0\n  ap deploy --no-wait    # a cluster without nodes (ap cluster up) never starts pods"
    )]
    Deploy(deploy::DeployArgs),
    /// Delete what `ap deploy` created (the CRD and every resource of its kind only with --all).
    #[command(
        after_help = "Examples:\n  ap undeploy --namespace canary-system\n  ap undeploy --all"
    )]
    Undeploy(deploy::UndeployArgs),
    /// List the operator's resources with their phase, the printer columns autopilot.yaml
    /// declares, age and the condition that explains where each is (for a stuck one, the
    /// condition that holds it, with its reason and message); with NAME, one resource as a
    /// tree: phase, conditions, statusInfo, owned objects and recent Events.
    #[command(
        after_help = "Examples:\n  ap status\n  ap status -A -o wide\n  ap status web -n prod\n  ap status -l team=web -w\n  ap status web -o yaml --context staging --dir path/to/project"
    )]
    Status(status::StatusArgs),
    /// Serve a web page of the operator's resources by phase, updated live over a watch: each
    /// resource's conditions, printer columns, statusInfo, timeline of phases with its Events,
    /// and buttons for the verbs (pause, resume, retry, abort, approve, promote).
    #[command(
        after_help = "Examples:\n  ap dashboard\n  ap dashboard -A --context staging --dir path/to/project\n  ap dashboard -n prod --listen 127.0.0.1:9000"
    )]
    Dashboard(dashboard::DashboardArgs),
    /// Hold resources where they are: no worker call until `ap resume` (annotation
    /// autopilot.dev/paused, so it survives restarts and can be committed by GitOps).
    #[command(
        after_help = "Examples:\n  ap pause web -n prod\n  ap pause -l team=web\n  ap pause --all -A"
    )]
    Pause(verbs::VerbArgs),
    /// Let paused resources go on.
    #[command(after_help = "Examples:\n  ap resume web -n prod\n  ap resume -l team=web")]
    Resume(verbs::VerbArgs),
    /// Call a resource's worker again at once, forgetting its failures (a Blocked resource
    /// retries now rather than at its backoff).
    #[command(after_help = "Examples:\n  ap retry web -n prod")]
    Retry(verbs::VerbArgs),
    /// Move resources to the phase autopilot.yaml declares as `abortPhase`.
    #[command(after_help = "Examples:\n  ap abort web -n prod")]
    Abort(verbs::VerbArgs),
    /// Open a gate declared in autopilot.yaml (`gates:`): by default every gate on the
    /// resource's current phase.
    #[command(
        after_help = "Examples:\n  ap approve web -n prod\n  ap approve web --gate promote\n  # the same by GitOps: annotate the resource gate.autopilot.dev/promote: approved"
    )]
    Approve(verbs::ApproveArgs),
    /// Open the gates on the resource's current phase (Argo Rollouts' promote, Flagger's
    /// confirm-promotion).
    #[command(after_help = "Examples:\n  ap promote web -n prod")]
    Promote(verbs::VerbArgs),
    /// Build the worker, then start it and autopilot-scheduler here against the current
    /// kubeconfig, with their logs prefixed; a crashed worker is restarted; Ctrl-C stops both.
    ///
    /// The worker (Rust, Go, Python, TypeScript or Java) is built as `ap build` builds it, then
    /// started on a free loopback port given in AUTOPILOT_WORKER_ADDR: the cargo binary,
    /// bin/worker, `python -m <package>`, `node <package.json main>` or `java -jar
    /// target/<finalName>.jar`. The CRD is applied first; logs are also kept in .autopilot/run.
    #[command(
        after_help = "Examples:\n  ap cluster up && eval \"$(ap cluster env)\" && ap run\n  ap run path/to/project --namespaces default\n  ap run --worker-only    # the worker alone on 127.0.0.1:50051, for ap call"
    )]
    Run(run::RunArgs),
    /// Build the worker and, when docker, podman or buildah is on PATH, its image from
    /// worker/Dockerfile.
    ///
    /// Each language with its own tools: Rust `cargo build`; Go `go build -o bin/worker .`;
    /// Python `pip install` of the SDK and the worker into .autopilot/build/python with the venv
    /// of hack/deps/python.sh; TypeScript `npm ci` (`npm install` without package-lock.json),
    /// then `npm run build`; Java `mvn -B -q package -DskipTests`, with the Maven repository of
    /// hack/deps/java.sh when it holds the Java SDK. A missing toolchain is named with the
    /// hack/deps script that installs it.
    #[command(
        after_help = "Examples:\n  ap build\n  ap build --image registry.example.com/canary-worker:1.0"
    )]
    Build(run::BuildArgs),
    /// Print the logs of `ap run`'s processes, or of the operator's pods on the cluster.
    #[command(after_help = "Examples:\n  ap logs -f\n  ap logs --cluster -n canary-system")]
    Logs(logs::LogsArgs),
    /// Run one phase of a worker for one resource, without a cluster: send it the Sync request
    /// the scheduler would send, and print its reply (next phase, statusInfo, conditions,
    /// events, outputs). A worker's error exits 1.
    #[command(
        after_help = "Examples:\n  ap call --phase Initializing --resource example.yaml\n  ap call --phase Processing --resource cr.yaml --inputs inputs.yaml --endpoint http://127.0.0.1:50051 -o json"
    )]
    Call(call::CallArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  ap completion bash > /etc/bash_completion.d/ap\n  ap completion zsh > \"${fpath[1]}/_ap\"\n  ap completion fish > ~/.config/fish/completions/ap.fish"
    )]
    Completion {
        /// The shell.
        shell: Shell,
    },
}

fn parse_language(s: &str) -> Result<Language, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init(args) => {
            init::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { dir } => Ok(match load(&dir) {
            Some(model) => {
                println!("ok: {}", summary(&model));
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        }),
        Command::Generate {
            dir,
            lang,
            force,
            sdk,
            sdk_path,
            namespace,
        } => {
            let Some(model) = load(&dir) else {
                return Ok(ExitCode::FAILURE);
            };
            let options = Options {
                language: lang,
                sdk: sdk_path.map_or(sdk, SdkSource::Path),
                namespace,
            };
            let files = autopilot_codegen::render(&model, &options)?;
            let report = autopilot_codegen::write(&dir, &files, WriteOptions { force })
                .with_context(|| format!("writing into {}", dir.display()))?;
            print_report(&report);
            bundled::install(&dir, &options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster(args) => cluster::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Build(args) => run::build(&args),
        Command::Logs(args) => logs::logs(&args),
        Command::Call(args) => call::call(&args),
        Command::Deploy(args) => deploy::deploy(&args).map(|()| ExitCode::SUCCESS),
        Command::Undeploy(args) => deploy::undeploy(&args).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => status::status(&args).map(|()| ExitCode::SUCCESS),
        Command::Dashboard(args) => dashboard::dashboard(&args).map(|()| ExitCode::SUCCESS),
        Command::Pause(args) => {
            verbs::act(verbs::Verb::Pause, &args, None).map(|()| ExitCode::SUCCESS)
        }
        Command::Resume(args) => {
            verbs::act(verbs::Verb::Resume, &args, None).map(|()| ExitCode::SUCCESS)
        }
        Command::Retry(args) => {
            verbs::act(verbs::Verb::Retry, &args, None).map(|()| ExitCode::SUCCESS)
        }
        Command::Abort(args) => {
            verbs::act(verbs::Verb::Abort, &args, None).map(|()| ExitCode::SUCCESS)
        }
        Command::Approve(args) => {
            verbs::act(verbs::Verb::Approve, &args.verb, args.gate.as_deref())
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Promote(args) => {
            verbs::act(verbs::Verb::Promote, &args, None).map(|()| ExitCode::SUCCESS)
        }
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ap", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Load and validate the project in `dir`, printing every diagnostic to stderr.
fn load(dir: &Path) -> Option<Model> {
    match autopilot_model::load_dir(dir) {
        Ok(model) => Some(model),
        Err(diagnostics) => {
            for d in diagnostics.iter() {
                eprintln!("{d}");
            }
            None
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {word}s"),
    }
}

fn summary(model: &Model) -> String {
    let project = &model.project;
    format!(
        "{} ({}), {}, {}, {}, {}",
        project.kind,
        project.api_version,
        plural(project.phases.len(), "phase"),
        plural(project.used_parameters().len(), "parameter"),
        plural(project.queries.len(), "query"),
        plural(project.workers.len(), "worker"),
    )
}

fn print_report(report: &autopilot_codegen::WriteReport) {
    // The bundled SDK's files in one line: they are the SDK's, not the project's.
    let bundled = "worker/third_party/";
    let (sdk, written): (Vec<&String>, Vec<&String>) =
        report.written.iter().partition(|p| p.starts_with(bundled));
    for path in written {
        println!("wrote     {path}");
    }
    if !sdk.is_empty() {
        println!(
            "wrote     {bundled} (the SDK of this ap, version {}: {} files)",
            autopilot_codegen::SDK_VERSION,
            sdk.len()
        );
    }
    for path in &report.replaced {
        println!("replaced  {path} (previous saved as {path}.orig)");
    }
    for path in &report.kept {
        println!("kept      {path} (yours; differs from the scaffold, use --force to replace)");
    }
    for path in &report.orphaned {
        println!("orphaned  {path} (no longer generated; delete it when done with it)");
    }
    println!(
        "{} written, {} unchanged, {} kept, {} replaced, {} orphaned",
        report.written.len(),
        report.unchanged.len(),
        report.kept.len(),
        report.replaced.len(),
        report.orphaned.len()
    );
}
