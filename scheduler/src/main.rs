//! `autopilot-scheduler`: runs any Autopilot operator from its project files.
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = autopilot_scheduler::args::Args::parse();
    match autopilot_scheduler::run::run(args, autopilot_scheduler::run::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autopilot-scheduler: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
