//! `autopilot-soak`: the chaos soak (see `hack/soak.sh` and `autopilot_bench::soak`).
use std::process::ExitCode;
use std::time::Duration;

use autopilot_bench::scheduler_process::SchedulerBinary;
use autopilot_bench::soak::{self, Options};
use clap::Parser;

/// Drives resources through a multi-phase operator while killing the scheduler's leader,
/// workers, kube-apiserver and etcd; checks every resource's end state and prints the figures
/// (Markdown). Exits 1 when a check failed.
#[derive(Debug, Parser)]
#[command(name = "autopilot-soak", about)]
struct Args {
    /// The CI variant: 100 resources and a 40 s fault window.
    #[arg(long, env = "AUTOPILOT_SOAK_SMALL")]
    small: bool,

    /// Resources to create (default 1000, or 100 with --small).
    #[arg(long, env = "AUTOPILOT_SOAK_RESOURCES")]
    resources: Option<usize>,

    /// How long faults are injected, at most (default 120s, or 40s with --small).
    #[arg(long, env = "AUTOPILOT_SOAK_FAULT_WINDOW", value_parser = humantime::parse_duration)]
    fault_window: Option<Duration>,

    /// How often the leader is SIGKILLed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    scheduler_kill_every: Duration,

    /// How often a worker is SIGKILLed.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    worker_kill_every: Duration,

    /// The scheduler to run: a path to autopilot-scheduler, `self` (this binary's run-scheduler
    /// mode) or `auto` (autopilot-scheduler beside this binary, else `self`).
    #[arg(long, env = "AUTOPILOT_SOAK_SCHEDULER", default_value = "auto")]
    scheduler_bin: String,
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        // The scheduler itself (see SchedulerBinary::SelfExec).
        Some("run-scheduler") => return autopilot_bench::scheduler_process::run_scheduler(),
        // A worker process: run-worker ADDRESS LOG.
        Some("run-worker") => return run_worker(),
        _ => {}
    }
    let args = Args::parse();
    let mut options = if args.small {
        Options::small()
    } else {
        Options::full()
    };
    if let Some(n) = args.resources {
        options.resources = n;
    }
    if let Some(w) = args.fault_window {
        options.fault_window = w;
    }
    options.scheduler_kill_every = args.scheduler_kill_every;
    options.worker_kill_every = args.worker_kill_every;
    let binary = SchedulerBinary::parse(&args.scheduler_bin);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    eprintln!(
        "autopilot-soak: {options:?}; scheduler {}; load average {}",
        binary.describe(),
        autopilot_bench::load_average()
    );
    match runtime.block_on(soak::run(options, &binary)) {
        Ok(report) => {
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!("autopilot-soak: FAILED");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("autopilot-soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_worker() -> ExitCode {
    let mut args = std::env::args().skip(2);
    let (Some(address), Some(log)) = (args.next(), args.next()) else {
        eprintln!("usage: autopilot-soak run-worker ADDRESS LOG");
        return ExitCode::FAILURE;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(soak::operator::serve_worker(
        &address,
        std::path::Path::new(&log),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}
