//! Runs the local control plane until Ctrl-C or SIGTERM: etcd, kube-apiserver and
//! kube-controller-manager on free loopback ports, with the kubeconfig copied to the path given
//! as the first argument (default `./kubeconfig`). Used by the demo and for local development.
//! With `--kwok` first, also kube-scheduler and kwok with two fake Nodes, so pods run (simulated).
use std::path::PathBuf;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let kwok = args.first().is_some_and(|a| a == "--kwok");
    if kwok {
        args.remove(0);
    }
    let target = PathBuf::from(
        args.into_iter()
            .next()
            .unwrap_or_else(|| "kubeconfig".into()),
    );
    let mut builder = autopilot_testenv::ControlPlane::builder().with_controller_manager();
    if kwok {
        builder = builder.with_kwok();
    }
    let cp = match builder.start().await {
        Ok(cp) => cp,
        Err(e) => {
            eprintln!("autopilot-controlplane: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::copy(cp.kubeconfig_path(), &target) {
        eprintln!("autopilot-controlplane: writing {}: {e}", target.display());
        return std::process::ExitCode::FAILURE;
    }
    println!(
        "control plane ready at {} in {:.1}s; KUBECONFIG={}",
        cp.url(),
        cp.started_in().as_secs_f64(),
        target.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    let _ = std::fs::remove_file(&target);
    drop(cp);
    println!("control plane stopped");
    std::process::ExitCode::SUCCESS
}
