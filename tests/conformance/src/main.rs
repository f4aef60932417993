//! `autopilot-conformance`: runs the worker conformance scenario against a worker.
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use autopilot_conformance::scheduler::Program;
use autopilot_conformance::{Options, WorkerSource};
use clap::Parser;

/// Runs the conformance scenario (tests/conformance/SCENARIO.md) against a worker on a real
/// control plane, Prometheus and scheduler; prints each check as PASS or FAIL and exits
/// non-zero when any fails.
///
/// `autopilot-conformance scheduler ARGS` runs the bundled autopilot-scheduler (the suite
/// starts it that way unless --scheduler is given).
#[derive(Debug, Parser)]
#[command(version)]
#[command(group(clap::ArgGroup::new("worker").required(true).args(["endpoint", "worker_cmd"])))]
struct Args {
    /// Endpoint of a worker that is already serving: http://host:port or unix:/path.
    #[arg(long, env = "AUTOPILOT_CONFORMANCE_ENDPOINT")]
    endpoint: Option<String>,

    /// Command that starts the worker (run with `sh -c`); it must serve on
    /// $AUTOPILOT_WORKER_ADDR (host:port), which the suite sets to a free loopback port.
    #[arg(long, env = "AUTOPILOT_CONFORMANCE_WORKER_CMD")]
    worker_cmd: Option<String>,

    /// Use the cluster of this kubeconfig instead of starting a local control plane.
    #[arg(long, env = "AUTOPILOT_CONFORMANCE_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,

    /// The Prometheus binary.
    #[arg(
        long,
        env = "AUTOPILOT_CONFORMANCE_PROMETHEUS",
        default_value = "prometheus"
    )]
    prometheus: PathBuf,

    /// An autopilot-scheduler binary to use instead of the bundled one.
    #[arg(long, env = "AUTOPILOT_CONFORMANCE_SCHEDULER")]
    scheduler: Option<PathBuf>,

    /// Prefix of the namespace the run creates (and deletes).
    #[arg(
        long,
        env = "AUTOPILOT_CONFORMANCE_NAMESPACE_PREFIX",
        default_value = "conformance"
    )]
    namespace_prefix: String,

    /// Bound of each wait of the checks.
    #[arg(long, env = "AUTOPILOT_CONFORMANCE_TIMEOUT", default_value = "60s", value_parser = humantime_duration)]
    timeout: Duration,

    /// How long the worker may take to answer Describe (a first build can be slow).
    #[arg(long, env = "AUTOPILOT_CONFORMANCE_WORKER_TIMEOUT", default_value = "10m", value_parser = humantime_duration)]
    worker_timeout: Duration,

    /// Keep the working directory (logs, project files) and the namespace.
    #[arg(long, env = "AUTOPILOT_CONFORMANCE_KEEP")]
    keep: bool,
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s or 10m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?}: unit must be ms, s or m")),
    }
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "scheduler") {
        return run_scheduler(argv[1..].to_vec());
    }
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    runtime.block_on(conformance(args))
}

/// Exactly what `autopilot-scheduler`'s main does.
fn run_scheduler(argv: Vec<OsString>) -> ExitCode {
    let args = autopilot_scheduler::args::Args::parse_from(argv);
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    match runtime.block_on(autopilot_scheduler::run::run(
        args,
        autopilot_scheduler::run::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autopilot-scheduler: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn conformance(args: Args) -> ExitCode {
    let scheduler = match args.scheduler {
        Some(path) => Program {
            path,
            prefix: vec![],
        },
        None => Program {
            path: std::env::current_exe().expect("the path of this binary"),
            prefix: vec!["scheduler".into()],
        },
    };
    let worker = match (args.endpoint, args.worker_cmd) {
        (Some(endpoint), _) => WorkerSource::Endpoint(endpoint),
        (None, Some(command)) => WorkerSource::Command(command),
        (None, None) => unreachable!("clap requires one"),
    };
    let options = Options {
        worker,
        kubeconfig: args.kubeconfig,
        prometheus: args.prometheus,
        scheduler,
        namespace_prefix: args.namespace_prefix,
        timeout: args.timeout,
        worker_timeout: args.worker_timeout,
        keep: args.keep,
    };
    match autopilot_conformance::suite::run(&options, &mut |check| println!("{check}")).await {
        Ok(report) => {
            println!("{}", report.summary());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("autopilot-conformance: could not run the checks: {e}");
            ExitCode::from(2)
        }
    }
}
