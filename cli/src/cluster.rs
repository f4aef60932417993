//! `ap cluster up|down|status|env`: a local control plane (etcd, kube-apiserver,
//! kube-controller-manager) as background processes, for developing where no cluster exists.
//!
//! `up` starts `ap cluster serve` detached from the terminal (its own process group, output to
//! `<state>/cluster.log`) and waits until it has written `<state>/kubeconfig`. `serve` runs the
//! control plane with all of its files under `<state>/run` until SIGTERM; a watchdog stops the
//! components if `serve` itself is killed. `down` sends SIGTERM to `serve` and waits until no
//! process names the state directory any more. No kubelet runs: pods are stored but never start.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::upstream_crds::{self, Addon};

/// How long `up` waits for the control plane (building the binaries on first use included).
const UP_TIMEOUT: Duration = Duration::from_secs(600);
/// How long `down` waits for every process to exit before killing it.
const DOWN_TIMEOUT: Duration = Duration::from_secs(60);
/// Exit code of `ap cluster status` when the cluster is not running.
pub(crate) const STOPPED_EXIT: u8 = 3;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
    /// Directory holding the cluster's state (certificates, etcd data, logs, kubeconfig) until
    /// `down`.
    #[arg(
        long,
        global = true,
        env = "AUTOPILOT_CLUSTER_DIR",
        value_name = "DIR",
        default_value_os_t = default_state_dir()
    )]
    state_dir: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Start the local control plane in the background and write its kubeconfig; with
    /// `--with`, install upstream CRDs too (also into a control plane already running).
    Up {
        /// Upstream CRDs to install, comma-separated: `istio` (networking.istio.io:
        /// VirtualService, DestinationRule, Gateway, ...) and `gateway-api` (the standard
        /// channel: HTTPRoute, Gateway, ...). The CRDs only: no controller acts on them.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "ADDON,...")]
        with: Vec<Addon>,
    },
    /// Stop the local control plane and remove its state.
    Down,
    /// Print whether the local control plane runs, its URL and Kubernetes version (exit code 3
    /// when stopped).
    Status,
    /// Print `export KUBECONFIG=...` for the local control plane: `eval "$(ap cluster env)"`.
    Env,
    /// Run the control plane in the foreground until SIGTERM (what `up` starts).
    #[command(hide = true)]
    Serve,
}

fn default_state_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".autopilot")
        .join("cluster")
}

struct State {
    dir: PathBuf,
}

impl State {
    fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        Ok(Self { dir })
    }
    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("cluster.log")
    }
    fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// The pid of the running `serve` process, if any.
    fn serve_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("serve") && cmdline.contains(&*self.dir.to_string_lossy())).then_some(pid)
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let state = State::new(&args.state_dir)?;
    match &args.command {
        Command::Up { with } => {
            let code = up(&state)?;
            install_addons(&state, with)?;
            Ok(code)
        }
        Command::Down => down(&state),
        Command::Status => status(&state),
        Command::Env => {
            println!(
                "export KUBECONFIG={}",
                shell_quote(&state.kubeconfig().to_string_lossy())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => serve(&state),
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn up(state: &State) -> anyhow::Result<ExitCode> {
    if let Some(pid) = state.serve_pid() {
        if state.kubeconfig().is_file() {
            println!("already running (pid {pid})");
            return status(state);
        }
        bail!(
            "a control plane is starting in {} (pid {pid}); wait, or `ap cluster down`",
            state.dir.display()
        );
    }
    let _ = std::fs::remove_file(state.kubeconfig());
    let log = std::fs::File::create(state.log())
        .with_context(|| format!("creating {}", state.log().display()))?;
    let exe = std::env::current_exe().context("finding the ap executable")?;
    let mut command = std::process::Command::new(exe);
    command
        .args(["cluster", "serve", "--state-dir"])
        .arg(&state.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().context("starting `ap cluster serve`")?;
    std::fs::write(state.pid_file(), child.id().to_string())?;
    eprintln!(
        "starting etcd, kube-apiserver and kube-controller-manager (log: {})",
        state.log().display()
    );
    let started = Instant::now();
    loop {
        if state.kubeconfig().is_file() {
            break;
        }
        if let Some(exit) = child.try_wait()? {
            let _ = std::fs::remove_file(state.pid_file());
            bail!(
                "the control plane did not start ({exit}):\n{}",
                tail(&state.log(), 20)
            );
        }
        if started.elapsed() > UP_TIMEOUT {
            bail!(
                "the control plane was not ready after {}s (still starting; see {} or `ap cluster down`)",
                UP_TIMEOUT.as_secs(),
                state.log().display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "cluster up in {:.1}s\nexport KUBECONFIG={}",
        started.elapsed().as_secs_f64(),
        shell_quote(&state.kubeconfig().to_string_lossy())
    );
    Ok(ExitCode::SUCCESS)
}

/// Install the upstream CRDs of `addons` into the running control plane.
fn install_addons(state: &State, addons: &[Addon]) -> anyhow::Result<()> {
    if addons.is_empty() {
        return Ok(());
    }
    let kubeconfig = state.kubeconfig();
    tokio::runtime::Runtime::new()?.block_on(async {
        let config = crate::kube_util::config(Some(&kubeconfig)).await?;
        let client = kube::Client::try_from(config)?;
        for addon in addons {
            println!("{}", upstream_crds::install(&client, *addon).await?);
        }
        anyhow::Ok(())
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Pids of processes (other than this one) whose command line names the state directory.
pub(crate) fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c).replace('\0', " ");
                c.contains(&needle) && !is_zombie(*pid)
            })
        })
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false)
}

pub(crate) fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn down(state: &State) -> anyhow::Result<ExitCode> {
    match state.serve_pid() {
        Some(pid) => {
            eprintln!("stopping the control plane (pid {pid})");
            signal(pid, "TERM");
        }
        None => eprintln!("no control plane runs in {}", state.dir.display()),
    }
    let started = Instant::now();
    loop {
        let left = processes_naming(&state.dir);
        if left.is_empty() {
            break;
        }
        if started.elapsed() > DOWN_TIMEOUT {
            for pid in &left {
                signal(*pid, "KILL");
            }
            eprintln!("killed {} process(es) that did not stop", left.len());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for path in [state.kubeconfig(), state.pid_file()] {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir_all(state.run_dir());
    println!("cluster down");
    Ok(ExitCode::SUCCESS)
}

fn status(state: &State) -> anyhow::Result<ExitCode> {
    let running = state.serve_pid().filter(|_| state.kubeconfig().is_file());
    let Some(pid) = running else {
        println!("stopped");
        return Ok(ExitCode::from(STOPPED_EXIT));
    };
    let kubeconfig = state.kubeconfig();
    let runtime = tokio::runtime::Runtime::new()?;
    let version = runtime.block_on(async {
        let config = crate::kube_util::config(Some(&kubeconfig)).await?;
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config)?;
        let info = tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
            .await
            .context("the API server did not answer within 10s")??;
        anyhow::Ok((url, info.git_version))
    });
    match version {
        Ok((url, version)) => {
            println!(
                "running (pid {pid}): {url}, Kubernetes {version}\nKUBECONFIG={}",
                kubeconfig.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("unhealthy (pid {pid}): {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn serve(state: &State) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let cp = autopilot_testenv::ControlPlane::builder()
            .with_controller_manager()
            .root_dir(state.run_dir())
            .start()
            .await?;
        let tmp = state.dir.join("kubeconfig.tmp");
        std::fs::copy(cp.kubeconfig_path(), &tmp)?;
        std::fs::rename(&tmp, state.kubeconfig())?;
        println!(
            "control plane ready at {} in {:.1}s (state {})",
            cp.url(),
            cp.started_in().as_secs_f64(),
            state.dir.display()
        );
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        let _ = std::fs::remove_file(state.kubeconfig());
        drop(cp);
        println!("control plane stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
