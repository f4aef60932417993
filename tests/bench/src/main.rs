//! `autopilot-bench`: runs the benchmarks and prints their tables (see `hack/bench.sh`).
use std::process::ExitCode;

use autopilot_bench::scheduler_process::SchedulerBinary;
use autopilot_bench::{Sizes, load_average, memory, reconcile, trace_input, worker_call};
use clap::Parser;

/// Runs Autopilot's benchmarks and prints Markdown tables.
#[derive(Debug, Parser)]
#[command(name = "autopilot-bench", about)]
struct Args {
    /// Tiny counts (well under two minutes): checks the harness, measures nothing.
    #[arg(long, env = "AUTOPILOT_BENCH_SMOKE")]
    smoke: bool,

    /// Benchmarks to run (comma-separated): worker-call, reconcile, memory, trace-input.
    #[arg(
        long,
        env = "AUTOPILOT_BENCH_ONLY",
        value_delimiter = ',',
        default_value = "worker-call,reconcile,memory,trace-input"
    )]
    only: Vec<String>,

    /// The scheduler to run: a path to autopilot-scheduler, `self` (this binary's run-scheduler
    /// mode) or `auto` (autopilot-scheduler beside this binary, else `self`).
    #[arg(long, env = "AUTOPILOT_BENCH_SCHEDULER", default_value = "auto")]
    scheduler_bin: String,

    /// Overrides the number of measured calls per worker-call row.
    #[arg(long, env = "AUTOPILOT_BENCH_CALLS")]
    calls: Option<usize>,

    /// Overrides the resources of the throughput benchmark.
    #[arg(long, env = "AUTOPILOT_BENCH_RECONCILE_CRS")]
    reconcile_crs: Option<usize>,

    /// Overrides the resource counts of the memory benchmark (comma-separated).
    #[arg(long, env = "AUTOPILOT_BENCH_MEMORY_CRS", value_delimiter = ',')]
    memory_crs: Vec<usize>,
}

fn main() -> ExitCode {
    // `autopilot-bench run-scheduler ARGS` is the scheduler itself (see SchedulerBinary::SelfExec).
    if std::env::args().nth(1).as_deref() == Some("run-scheduler") {
        return autopilot_bench::scheduler_process::run_scheduler();
    }
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autopilot-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut sizes = if args.smoke {
        Sizes::smoke()
    } else {
        Sizes::full()
    };
    if let Some(calls) = args.calls {
        sizes.calls = calls;
    }
    if let Some(n) = args.reconcile_crs {
        sizes.reconcile_crs = n;
    }
    if !args.memory_crs.is_empty() {
        sizes.memory_crs = args.memory_crs.clone();
    }
    let binary = SchedulerBinary::parse(&args.scheduler_bin);
    let wants = |name: &str| args.only.iter().any(|o| o == name);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());

    println!(
        "## autopilot-bench{}\n",
        if args.smoke {
            " --smoke (counts too small to mean anything)"
        } else {
            ""
        }
    );
    println!("- CPUs: {cpus}; load average at start: {}", load_average());
    println!("- scheduler: {}", binary.describe());
    println!("- sizes: {sizes:?}\n");

    if wants("worker-call") {
        let table = worker_call::run(sizes.calls).await?;
        println!("{table}\n(load average after: {})\n", load_average());
    }
    if wants("trace-input") {
        let table = trace_input::run(&sizes.trace_spans, sizes.trace_searches).await?;
        println!("{table}\n(load average after: {})\n", load_average());
    }
    if wants("reconcile") || wants("memory") {
        let cp = autopilot_testenv::ControlPlane::builder()
            .audit_log(false)
            .verbosity(0)
            .start()
            .await?;
        autopilot_bench::cluster::install_crd(&cp.client()).await?;
        if wants("reconcile") {
            let table = reconcile::run(&cp, &sizes, &binary).await?;
            println!("{table}\n(load average after: {})\n", load_average());
        }
        if wants("memory") {
            let table = memory::run(&cp, &sizes, &binary).await?;
            println!("{table}\n(load average after: {})\n", load_average());
        }
    }
    Ok(())
}
