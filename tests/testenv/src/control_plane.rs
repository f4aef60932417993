//! [`ControlPlane`] and its [`Builder`]: etcd, kube-apiserver and optionally
//! kube-controller-manager and kube-scheduler on 127.0.0.1, started the way envtest starts them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::binaries::Binaries;
use crate::namespace::TestNamespace;
use crate::pki::{ADMIN_USER, Pki};
use crate::process::{Process, Watchdog};
use crate::{Component, Error};

/// How long each component may take to become ready. On an idle 2-core machine the whole control
/// plane is ready in 3–5 s, but a parallel `cargo build` can slow kube-apiserver's bootstrap
/// (RBAC roles, priority-and-fairness configuration) several times over; 90 s leaves that
/// headroom without hiding a hang for long.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// How long one readiness probe may take before it counts as a failed attempt.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Pauses between readiness probes start short (most components are up within a second) and
/// back off to this, so a slow start costs at most this much extra.
const MAX_PROBE_PAUSE: Duration = Duration::from_millis(500);

/// How often a component is restarted on fresh ports when the port we picked was taken in the
/// moment between choosing it and the component binding it.
const PORT_ATTEMPTS: u32 = 3;

/// The default `-v` of the Kubernetes components: startup and errors, not every request.
const DEFAULT_VERBOSITY: u8 = 2;

/// Set to a non-empty value other than `0` to keep the control plane's directory (logs, audit
/// log, certificates, etcd data) after it stops.
pub const KEEP_ENV: &str = "AUTOPILOT_TESTENV_KEEP";

/// The name of the cluster, user and context in the generated kubeconfig.
const CONTEXT: &str = "autopilot-testenv";

/// Controllers of kube-controller-manager's default set that need a cloud provider; they would
/// only log that they are skipped.
const CLOUD_CONTROLLERS: [&str; 3] = [
    "cloud-node-lifecycle-controller",
    "node-route-controller",
    "service-lb-controller",
];

/// The audit policy: one line per request once its response is sent, without health probes.
const AUDIT_POLICY: &str = r#"{
  "apiVersion": "audit.k8s.io/v1",
  "kind": "Policy",
  "omitStages": ["RequestReceived"],
  "rules": [
    {"level": "None", "nonResourceURLs": ["/readyz*", "/livez*", "/healthz*"]},
    {"level": "Metadata"}
  ]
}
"#;

/// Chooses which components to start and how; [`Builder::start`] starts them.
///
/// ```no_run
/// # async fn run() -> Result<(), autopilot_testenv::Error> {
/// let cp = autopilot_testenv::ControlPlane::builder()
///     .with_controller_manager()
///     .start()
///     .await?;
/// let version = cp.client().apiserver_version().await.unwrap();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    controller_manager: bool,
    scheduler: bool,
    kwok: bool,
    kwok_logs: bool,
    verbosity: u8,
    audit_log: bool,
    ready_timeout: Duration,
    apiserver_args: Vec<String>,
    root_dir: Option<PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            controller_manager: false,
            scheduler: false,
            kwok: false,
            kwok_logs: false,
            verbosity: DEFAULT_VERBOSITY,
            audit_log: true,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            apiserver_args: Vec::new(),
            root_dir: None,
        }
    }
}

impl Builder {
    /// Also starts kube-controller-manager (default controllers minus the cloud ones, no leader
    /// election), so Deployments get ReplicaSets, owned objects are garbage-collected and deleted
    /// namespaces go away.
    pub fn with_controller_manager(mut self) -> Self {
        self.controller_manager = true;
        self
    }

    /// Also starts kube-scheduler (no leader election). Pods are only scheduled onto nodes that
    /// exist, e.g. nodes simulated by kwok.
    pub fn with_scheduler(mut self) -> Self {
        self.scheduler = true;
        self
    }

    /// Also starts kube-scheduler and kwok, and creates the fake Nodes
    /// [`KWOK_NODES`](crate::KWOK_NODES) that kwok manages, so pods are scheduled and become
    /// `Running` and `Ready` (kwok's built-in stages; no containers run). With
    /// [`with_controller_manager`](Self::with_controller_manager), Deployments get ready replicas.
    pub fn with_kwok(mut self) -> Self {
        self.scheduler = true;
        self.kwok = true;
        self
    }

    /// As [`with_kwok`](Self::with_kwok), and kwok also serves the kubelet API of the fake Nodes
    /// on 127.0.0.1, so kube-apiserver's `pods/log` (`kubectl logs`) works: each container's log
    /// is a file the test appends to, set up by [`ControlPlane::serve_pod_logs`].
    pub fn with_kwok_logs(mut self) -> Self {
        self.kwok_logs = true;
        self.with_kwok()
    }

    /// The `-v` log level of the Kubernetes components (default 2).
    pub fn verbosity(mut self, level: u8) -> Self {
        self.verbosity = level;
        self
    }

    /// Whether kube-apiserver writes an audit log with one line per request (default on); see
    /// [`ControlPlane::audit_log_path`]. Benchmarks may turn it off.
    pub fn audit_log(mut self, enabled: bool) -> Self {
        self.audit_log = enabled;
        self
    }

    /// How long each component may take to become ready (default 90 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Adds a flag to kube-apiserver's command line, e.g. `--feature-gates=...`; a flag given
    /// here overrides the same flag set by default.
    pub fn apiserver_arg(mut self, arg: impl Into<String>) -> Self {
        self.apiserver_args.push(arg.into());
        self
    }

    /// Keeps everything (certificates, etcd data, logs, kubeconfig) in `dir` instead of a new
    /// temporary directory, e.g. for a long-running local cluster. The directory is created
    /// when absent and, as a temporary one, removed when the control plane stops (unless
    /// [`KEEP_ENV`] is set); every component's command line names it.
    pub fn root_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root_dir = Some(dir.into());
        self
    }

    /// Finds the binaries (see the crate documentation), starts the components in order and
    /// waits until each is ready.
    ///
    /// # Errors
    ///
    /// [`Error::BinaryMissing`] or [`Error::BuildScriptFailed`] when the binaries cannot be found;
    /// [`Error::ExitedEarly`] or [`Error::NotReady`] (both with the tail of the component's log)
    /// when a component does not come up; the others when the machine is out of ports, disk or
    /// processes. Everything started so far is stopped before the error is returned.
    pub async fn start(self) -> Result<ControlPlane, Error> {
        let binaries = tokio::task::spawn_blocking(Binaries::locate)
            .await
            .expect("locating the control plane binaries panicked")?;
        let etcd = binaries.path(Component::Etcd)?;
        let apiserver = binaries.path(Component::ApiServer)?;
        let controller_manager = self
            .controller_manager
            .then(|| binaries.path(Component::ControllerManager))
            .transpose()?;
        let scheduler = self
            .scheduler
            .then(|| binaries.path(Component::Scheduler))
            .transpose()?;
        let kwok = self
            .kwok
            .then(|| binaries.path(Component::Kwok))
            .transpose()?;

        let started = Instant::now();
        let keep = std::env::var(KEEP_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        // Drop order on an early return is the reverse of declaration: processes, then the
        // watchdog, then the directory.
        let root = match &self.root_dir {
            Some(dir) => RootDir::at(dir, keep)?,
            None => RootDir::create(keep)?,
        };
        let mut watchdog = Watchdog::spawn(&root.path, keep)?;
        let pki = Pki::generate(&root.subdir("pki")?)?;
        let mut launch = Launch {
            root: &root.path,
            watchdog: &mut watchdog,
            timeout: self.ready_timeout,
        };
        let mut processes = Vec::new();

        let (process, etcd_url) = launch.etcd(&etcd).await?;
        processes.push(process);
        let (process, api) = launch.apiserver(&apiserver, &etcd_url, &pki, &self).await?;
        processes.push(process);
        if let Some(binary) = controller_manager {
            processes.push(
                launch
                    .controller_manager(&binary, &api, &pki, self.verbosity)
                    .await?,
            );
        }
        if let Some(binary) = scheduler {
            processes.push(launch.scheduler(&binary, &api, self.verbosity).await?);
        }
        let mut kwok_logs = None;
        if let Some(binary) = kwok {
            processes.push(launch.kwok(&binary, &api, self.kwok_logs).await?);
            if self.kwok_logs {
                kwok_logs = Some(root.subdir("kwok-logs")?);
            }
        }

        let started_in = started.elapsed();
        tracing::info!(?started_in, root = %root.path.display(), url = %api.url, "control plane ready");
        if keep {
            eprintln!(
                "autopilot-testenv: keeping {} ({KEEP_ENV} is set)",
                root.path.display()
            );
        }
        Ok(ControlPlane {
            processes,
            watchdog,
            ready_timeout: self.ready_timeout,
            root,
            url: api.url,
            config: api.config,
            kubeconfig: api.kubeconfig,
            audit_log: api.audit_log,
            kwok_logs,
            started_in,
        })
    }
}

/// A running local control plane: etcd and kube-apiserver on 127.0.0.1, optionally
/// kube-controller-manager and kube-scheduler, all files in one temporary directory.
///
/// # Guarantees
///
/// - Every process is killed and reaped, and the directory removed, when the value is dropped,
///   including while a panicking test unwinds.
/// - Every process is also killed, and the directory removed, when the test process dies without
///   dropping it (SIGKILL, abort, a harness timeout, a `static` such as [`shared`](crate::shared)):
///   see the crate documentation.
/// - The admin user (group `system:masters`) of [`client`](Self::client) and
///   [`kubeconfig_path`](Self::kubeconfig_path) may do anything; RBAC applies to everyone else.
#[derive(Debug)]
pub struct ControlPlane {
    // Stopped in reverse start order by `Drop`; then the fields drop in declaration order: the
    // watchdog is dismissed before the directory it guards is removed.
    processes: Vec<Process>,
    // Held so the watchdog's pipe stays open while the control plane runs; guards restarts.
    watchdog: Watchdog,
    ready_timeout: Duration,
    root: RootDir,
    url: String,
    config: kube::Config,
    kubeconfig: PathBuf,
    audit_log: Option<PathBuf>,
    /// Where the container logs kwok serves are kept, with [`Builder::with_kwok_logs`].
    kwok_logs: Option<PathBuf>,
    started_in: Duration,
}

impl ControlPlane {
    /// A [`Builder`] for etcd and kube-apiserver only.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts etcd and kube-apiserver with the defaults of [`Builder`].
    ///
    /// # Errors
    ///
    /// As [`Builder::start`].
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// A new client authenticated as the admin user.
    ///
    /// Each call builds a new client because a [`Client`] runs a background task on the Tokio
    /// runtime that built it, and each `#[tokio::test]` has its own runtime: a client kept from
    /// one test would stop working when that test ends.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime. (Building the client cannot otherwise fail: the same
    /// configuration already built the client that saw the API server become ready.)
    pub fn client(&self) -> Client {
        Client::try_from(self.config.clone())
            .expect("a client from the configuration that already reached the API server")
    }

    /// The client configuration of [`client`](Self::client), to adjust timeouts or impersonate
    /// another user (`auth_info.impersonate`).
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig file for the admin user, for kubectl and child processes (`KUBECONFIG`).
    /// It refers to certificate files next to it, so it is valid only while the control plane is.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A `kubectl` command with `KUBECONFIG` set to [`kubeconfig_path`](Self::kubeconfig_path).
    pub fn kubectl(&self) -> std::process::Command {
        let mut command = std::process::Command::new("kubectl");
        command.env("KUBECONFIG", &self.kubeconfig);
        command
    }

    /// The log file of `component` (its stdout and stderr), or `None` if it was not started.
    pub fn log_path(&self, component: Component) -> Option<&Path> {
        self.process(component).map(Process::log)
    }

    /// The API server's audit log (JSON lines, one per request, metadata only), or `None` when
    /// [`Builder::audit_log`] turned it off.
    pub fn audit_log_path(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// The process id of `component`, or `None` if it was not started.
    pub fn pid(&self, component: Component) -> Option<u32> {
        self.process(component).map(Process::pid)
    }

    /// The directory holding everything of this control plane.
    pub fn root_dir(&self) -> &Path {
        &self.root.path
    }

    /// How long starting took, from the first process spawned to the last one ready (finding
    /// or building the binaries is not included).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Creates a namespace named `<prefix>-<random suffix>` that is deleted when the returned
    /// value is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Kube`] when the API server refuses to create it.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace, Error> {
        TestNamespace::create(self.client(), self.config.clone(), &self.kubeconfig, prefix).await
    }

    /// Has kwok serve a log for each container of the pod `namespace/pod`, a file the test writes
    /// with [`ContainerLog::append`](crate::ContainerLog::append); returns them in the order of
    /// the pod's init containers, then its containers. Call it again for each new pod (a
    /// Deployment's pods have generated names).
    ///
    /// # Guarantees
    ///
    /// When it returns, kube-apiserver answers `pods/log` of each container with its file's
    /// lines (an empty log at first), and a `follow` request sees each line appended later.
    ///
    /// # Errors
    ///
    /// [`Error::Kube`] when the pod cannot be read or kwok's `Logs` object not created;
    /// [`Error::NotReady`] when kube-apiserver does not return the logs within 30 s.
    ///
    /// # Panics
    ///
    /// When the control plane was not started with [`Builder::with_kwok_logs`].
    pub async fn serve_pod_logs(
        &self,
        namespace: &str,
        pod: &str,
    ) -> Result<Vec<crate::ContainerLog>, Error> {
        let dir = self
            .kwok_logs
            .as_deref()
            .expect("serve_pod_logs needs a control plane started with Builder::with_kwok_logs");
        let log = self
            .log_path(Component::Kwok)
            .expect("kwok runs when with_kwok_logs was given");
        let kwok = crate::kwok::KwokLogs { dir, log };
        crate::kwok::serve_pod_logs(&self.client(), &kwok, namespace, pod).await
    }

    /// Stops `component` with SIGKILL, as a crash would, leaving its data (etcd's data
    /// directory) in place for [`start_again`](Self::start_again). Clients see connections
    /// refused until then.
    ///
    /// # Panics
    ///
    /// When `component` was not started.
    pub fn stop(&mut self, component: Component) {
        self.process_mut(component)
            .unwrap_or_else(|| panic!("{component} was not started"))
            .stop();
    }

    /// Starts `component` again — stopping it first if it runs — with the same flags, ports and
    /// data, its output appended to the same log, and waits until it is ready. Supported for
    /// etcd and kube-apiserver, the components whose outages a scheduler must ride out.
    ///
    /// # Errors
    ///
    /// [`Error::ExitedEarly`] or [`Error::NotReady`] when it does not come up, or the errors
    /// of starting a process.
    ///
    /// # Panics
    ///
    /// When `component` was not started, or is neither etcd nor kube-apiserver.
    pub async fn start_again(&mut self, component: Component) -> Result<(), Error> {
        let probe = match component {
            Component::Etcd => {
                let process = self
                    .process(component)
                    .unwrap_or_else(|| panic!("{component} was not started"));
                let port = process
                    .args()
                    .iter()
                    .find_map(|a| a.strip_prefix("--listen-client-urls=http://127.0.0.1:"))
                    .and_then(|p| p.parse().ok())
                    .expect("etcd is started with --listen-client-urls on 127.0.0.1");
                Probe::EtcdHealth(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            }
            Component::ApiServer => Probe::Ok {
                client: Client::try_from(self.config.clone())
                    .map_err(Error::kube("building a client for kube-apiserver"))?,
                path: "/readyz",
            },
            other => panic!("start_again supports etcd and kube-apiserver, not {other}"),
        };
        let index = self
            .processes
            .iter()
            .position(|p| p.component() == component)
            .unwrap_or_else(|| panic!("{component} was not started"));
        self.processes[index].respawn(&mut self.watchdog)?;
        let launch = Launch {
            root: &self.root.path,
            watchdog: &mut self.watchdog,
            timeout: self.ready_timeout,
        };
        let process = &mut self.processes[index];
        let waited_for = format!("{component} to be ready again after a restart");
        launch.wait_ready(process, waited_for, &probe).await
    }

    fn process_mut(&mut self, component: Component) -> Option<&mut Process> {
        self.processes
            .iter_mut()
            .find(|p| p.component() == component)
    }

    fn process(&self, component: Component) -> Option<&Process> {
        self.processes.iter().find(|p| p.component() == component)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        while let Some(process) = self.processes.pop() {
            drop(process);
        }
    }
}

/// The control plane's temporary directory; removed on drop unless kept.
#[derive(Debug)]
struct RootDir {
    path: PathBuf,
    keep: bool,
}

impl RootDir {
    fn create(keep: bool) -> Result<Self, Error> {
        let path = tempfile::Builder::new()
            .prefix("autopilot-testenv-")
            .tempdir()
            .map_err(Error::filesystem(
                "creating a directory in",
                std::env::temp_dir(),
            ))?
            .keep();
        Ok(Self { path, keep })
    }

    fn at(dir: &Path, keep: bool) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(Error::filesystem("creating", dir))?;
        let path = dir
            .canonicalize()
            .map_err(Error::filesystem("resolving", dir))?;
        Ok(Self { path, keep })
    }

    fn subdir(&self, name: &str) -> Result<PathBuf, Error> {
        let dir = self.path.join(name);
        std::fs::create_dir_all(&dir).map_err(Error::filesystem("creating", &dir))?;
        Ok(dir)
    }
}

impl Drop for RootDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("autopilot-testenv: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What later components and the [`ControlPlane`] need to know about the running API server.
struct ApiServer {
    url: String,
    config: kube::Config,
    kubeconfig: PathBuf,
    audit_log: Option<PathBuf>,
}

/// Starts components one at a time into `root`, each guarded by `watchdog`.
struct Launch<'a> {
    root: &'a Path,
    watchdog: &'a mut Watchdog,
    /// How long each component may take to become ready.
    timeout: Duration,
}

impl Launch<'_> {
    fn spawn(
        &mut self,
        component: Component,
        binary: &Path,
        args: &[String],
    ) -> Result<Process, Error> {
        let log = self.root.join(format!("{component}.log"));
        Process::spawn(component, binary, args, log, self.watchdog)
    }

    /// The component's own directory for data and generated files.
    fn dir(&self, component: Component) -> Result<PathBuf, Error> {
        let dir = self.root.join(component.binary_name());
        std::fs::create_dir_all(&dir).map_err(Error::filesystem("creating", &dir))?;
        Ok(dir)
    }

    /// Starts etcd; returns it and its client URL.
    async fn etcd(&mut self, binary: &Path) -> Result<(Process, String), Error> {
        let component = Component::Etcd;
        let dir = self.dir(component)?;
        let mut attempts = 1;
        loop {
            let client_port = free_port()?;
            let peer_port = free_port()?;
            let client_url = format!("http://127.0.0.1:{client_port}");
            let peer_url = format!("http://127.0.0.1:{peer_port}");
            // A data directory per attempt: a failed attempt may have recorded its peer URL.
            let data = dir.join(format!("data-{client_port}"));
            let args = [
                "--name=default".to_owned(),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={client_url}"),
                format!("--advertise-client-urls={client_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=default={peer_url}"),
                // The data is thrown away after the test; fsync only slows every write down.
                "--unsafe-no-fsync=true".to_owned(),
            ];
            let mut process = self.spawn(component, binary, &args)?;
            let probe = Probe::EtcdHealth(SocketAddr::from((Ipv4Addr::LOCALHOST, client_port)));
            let waited_for = format!("etcd GET {client_url}/health to report healthy");
            match self.wait_ready(&mut process, waited_for, &probe).await {
                Ok(()) => return Ok((process, client_url)),
                Err(e) if retry_on_taken_port(component, &mut attempts, &e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts kube-apiserver against etcd at `etcd_url`.
    async fn apiserver(
        &mut self,
        binary: &Path,
        etcd_url: &str,
        pki: &Pki,
        builder: &Builder,
    ) -> Result<(Process, ApiServer), Error> {
        let component = Component::ApiServer;
        let dir = self.dir(component)?;
        let audit = if builder.audit_log {
            let policy = dir.join("audit-policy.json");
            std::fs::write(&policy, AUDIT_POLICY).map_err(Error::filesystem("writing", &policy))?;
            Some((policy, dir.join("audit.log")))
        } else {
            None
        };
        let kubeconfig = self.root.join("kubeconfig");
        let mut attempts = 1;
        loop {
            let port = free_port()?;
            let url = format!("https://127.0.0.1:{port}");
            write_kubeconfig(&kubeconfig, &url, pki)?;
            let config = load_kubeconfig(&kubeconfig).await?;
            let mut args = vec![
                "--advertise-address=127.0.0.1".to_owned(),
                "--bind-address=127.0.0.1".to_owned(),
                format!("--secure-port={port}"),
                format!("--etcd-servers={etcd_url}"),
                format!("--cert-dir={}", dir.join("certs").display()),
                format!("--tls-cert-file={}", pki.serving_cert.display()),
                format!("--tls-private-key-file={}", pki.serving_key.display()),
                format!("--client-ca-file={}", pki.ca_cert.display()),
                "--authorization-mode=RBAC".to_owned(),
                format!(
                    "--service-account-key-file={}",
                    pki.service_account_pub.display()
                ),
                format!(
                    "--service-account-signing-key-file={}",
                    pki.service_account_key.display()
                ),
                format!("--service-account-issuer={url}"),
                "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
                "--allow-privileged=true".to_owned(),
                // As envtest: pods need no ServiceAccount token, since no kubelet runs them.
                "--disable-admission-plugins=ServiceAccount".to_owned(),
                format!("-v={}", builder.verbosity),
            ];
            if let Some((policy, log)) = &audit {
                args.push(format!("--audit-policy-file={}", policy.display()));
                args.push(format!("--audit-log-path={}", log.display()));
            }
            // Later flags win in pflag, so the caller's flags override ours.
            args.extend(builder.apiserver_args.iter().cloned());
            let mut process = self.spawn(component, binary, &args)?;
            let probe = Probe::Ok {
                client: Client::try_from(config.clone())
                    .map_err(Error::kube("building a client for kube-apiserver"))?,
                path: "/readyz",
            };
            let waited_for = format!("kube-apiserver GET {url}/readyz to return ok");
            match self.wait_ready(&mut process, waited_for, &probe).await {
                Ok(()) => {
                    let api = ApiServer {
                        url,
                        config,
                        kubeconfig,
                        audit_log: audit.map(|(_, log)| log),
                    };
                    return Ok((process, api));
                }
                Err(e) if retry_on_taken_port(component, &mut attempts, &e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts kube-controller-manager; it is ready when its serviceaccount controller has
    /// created `default/default`, which proves the controllers run, not only that it listens.
    async fn controller_manager(
        &mut self,
        binary: &Path,
        api: &ApiServer,
        pki: &Pki,
        verbosity: u8,
    ) -> Result<Process, Error> {
        let component = Component::ControllerManager;
        let dir = self.dir(component)?;
        let controllers = std::iter::once("*".to_owned())
            .chain(CLOUD_CONTROLLERS.iter().map(|c| format!("-{c}")))
            .collect::<Vec<_>>()
            .join(",");
        let client = Client::try_from(api.config.clone())
            .map_err(Error::kube("building a client for kube-apiserver"))?;
        let mut attempts = 1;
        loop {
            let port = free_port()?;
            let mut args = serving_args(&api.kubeconfig, port, &dir, verbosity);
            args.extend([
                "--leader-elect=false".to_owned(),
                format!("--controllers={controllers}"),
                format!(
                    "--service-account-private-key-file={}",
                    pki.service_account_key.display()
                ),
                format!("--root-ca-file={}", pki.ca_cert.display()),
                "--use-service-account-credentials=false".to_owned(),
            ]);
            let mut process = self.spawn(component, binary, &args)?;
            let probe = Probe::ControllerManager {
                health: insecure_client(port)?,
                api: client.clone(),
            };
            let waited_for = format!(
                "{component} GET https://127.0.0.1:{port}/healthz to return ok and \
                 ServiceAccount default/default to exist"
            );
            match self.wait_ready(&mut process, waited_for, &probe).await {
                Ok(()) => return Ok(process),
                Err(e) if retry_on_taken_port(component, &mut attempts, &e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts kube-scheduler; it is ready when its `/readyz` says so (informers synced).
    async fn scheduler(
        &mut self,
        binary: &Path,
        api: &ApiServer,
        verbosity: u8,
    ) -> Result<Process, Error> {
        let component = Component::Scheduler;
        let dir = self.dir(component)?;
        let mut attempts = 1;
        loop {
            let port = free_port()?;
            let mut args = serving_args(&api.kubeconfig, port, &dir, verbosity);
            args.push("--leader-elect=false".to_owned());
            let mut process = self.spawn(component, binary, &args)?;
            let probe = Probe::Ok {
                client: insecure_client(port)?,
                path: "/readyz",
            };
            let waited_for =
                format!("{component} GET https://127.0.0.1:{port}/readyz to return ok");
            match self.wait_ready(&mut process, waited_for, &probe).await {
                Ok(()) => return Ok(process),
                Err(e) if retry_on_taken_port(component, &mut attempts, &e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts kwok and creates its fake Nodes; it is ready when kwok has made them `Ready` and,
    /// with `serve_logs`, answers on the kubelet port the Nodes name.
    async fn kwok(
        &mut self,
        binary: &Path,
        api: &ApiServer,
        serve_logs: bool,
    ) -> Result<Process, Error> {
        let component = Component::Kwok;
        let dir = self.dir(component)?;
        let client = Client::try_from(api.config.clone())
            .map_err(Error::kube("building a client for kube-apiserver"))?;
        if serve_logs {
            crate::kwok::install_logs_crd(&client).await?;
        }
        let mut attempts = 1;
        loop {
            let kubelet_port = serve_logs.then(free_port).transpose()?;
            crate::kwok::create_nodes(&client, kubelet_port).await?;
            let args = crate::kwok::args(&api.kubeconfig, &dir, kubelet_port)?;
            let mut process = self.spawn(component, binary, &args)?;
            let mut waited_for = format!(
                "{component} to make the fake Nodes {} Ready",
                crate::KWOK_NODES.join(", ")
            );
            if let Some(port) = kubelet_port {
                waited_for.push_str(&format!(
                    ", GET https://127.0.0.1:{port}/healthz to return ok and its Logs resource \
                     to be established"
                ));
            }
            let probe = Probe::Kwok {
                api: client.clone(),
                kubelet: kubelet_port.map(insecure_client).transpose()?,
            };
            match self.wait_ready(&mut process, waited_for, &probe).await {
                Ok(()) => return Ok(process),
                Err(e) if retry_on_taken_port(component, &mut attempts, &e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Probes until `probe` passes, `process` exits, or the timeout passes.
    async fn wait_ready(
        &self,
        process: &mut Process,
        waited_for: String,
        probe: &Probe,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(25);
        loop {
            process.check_running()?;
            let last_result = match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
            };
            if Instant::now() >= deadline {
                process.check_running()?;
                return Err(Error::NotReady {
                    component: process.component(),
                    waited_for,
                    timeout: self.timeout,
                    last_result,
                    log: process.log().to_owned(),
                    log_tail: crate::process::log_tail(process.log()),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PROBE_PAUSE);
        }
    }
}

/// Flags kube-controller-manager and kube-scheduler share: the admin kubeconfig for talking to
/// the API server and for delegated authentication, and HTTPS on `port` of 127.0.0.1 only (their
/// default ports would collide between control planes).
fn serving_args(kubeconfig: &Path, port: u16, dir: &Path, verbosity: u8) -> Vec<String> {
    let kubeconfig = kubeconfig.display();
    vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--secure-port={port}"),
        format!("--cert-dir={}", dir.join("certs").display()),
        format!("-v={verbosity}"),
    ]
}

/// Whether to start `component` again on fresh ports after `error`: only when a port we picked
/// was taken in the meantime, and at most [`PORT_ATTEMPTS`] times in all.
fn retry_on_taken_port(component: Component, attempts: &mut u32, error: &Error) -> bool {
    let taken = matches!(error, Error::ExitedEarly { log_tail, .. }
        if log_tail.contains("address already in use"));
    if taken && *attempts < PORT_ATTEMPTS {
        *attempts += 1;
        tracing::warn!(%component, attempt = *attempts, "a port was taken; retrying on fresh ports");
        true
    } else {
        false
    }
}

/// What shows that a component is ready.
enum Probe {
    /// etcd's plain-HTTP `/health` reports healthy.
    EtcdHealth(SocketAddr),
    /// A GET of `path` answers `ok`, as `/readyz` and `/healthz` do.
    Ok { client: Client, path: &'static str },
    /// kube-controller-manager's `/healthz` is ok and its serviceaccount controller has created
    /// the `default` ServiceAccount of namespace `default`.
    ControllerManager { health: Client, api: Client },
    /// Every fake Node of kwok is `Ready`; with `kubelet`, kwok's kubelet API answers its
    /// `/healthz` and the `Logs` resource it watches is established.
    Kwok {
        api: Client,
        kubelet: Option<Client>,
    },
}

impl Probe {
    /// `Ok` if ready, else what was seen instead.
    async fn check(&self) -> Result<(), String> {
        match self {
            Probe::EtcdHealth(address) => etcd_health(*address).await,
            Probe::Ok { client, path } => get_ok(client, path).await,
            Probe::Kwok { api, kubelet } => {
                crate::kwok::nodes_ready(api).await?;
                if let Some(kubelet) = kubelet {
                    get_ok(kubelet, "/healthz").await?;
                    crate::kwok::logs_crd_established(api).await?;
                }
                Ok(())
            }
            Probe::ControllerManager { health, api } => {
                get_ok(health, "/healthz").await?;
                let service_accounts = Api::<ServiceAccount>::namespaced(api.clone(), "default");
                match service_accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("ServiceAccount default/default not created yet".into()),
                    Err(e) => Err(format!("GET ServiceAccount default/default: {e}")),
                }
            }
        }
    }
}

/// `Ok` if a GET of `path` answers `ok`, as `/readyz` and `/healthz` do.
async fn get_ok(client: &Client, path: &str) -> Result<(), String> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| format!("building GET {path}: {e}"))?;
    match client.request_text(request).await {
        Ok(body) if body.trim() == "ok" => Ok(()),
        Ok(body) => Err(format!("GET {path} answered {body:?}")),
        Err(kube::Error::Api(status)) => Err(format!(
            "GET {path} answered {}: {}",
            status.code,
            failed_checks(&status.message)
        )),
        Err(e) => Err(format!("GET {path}: {e}")),
    }
}

/// The failing checks of a verbose health answer (`[-]etcd failed: ...` lines), or the answer
/// itself, cut short, if it has none.
fn failed_checks(answer: &str) -> String {
    const MAX_CHARS: usize = 300;
    let failed: Vec<&str> = answer
        .lines()
        .filter_map(|line| line.strip_prefix("[-]"))
        .map(|line| line.split(' ').next().unwrap_or(line))
        .collect();
    if failed.is_empty() {
        answer.chars().take(MAX_CHARS).collect()
    } else {
        format!("failing checks {}", failed.join(", "))
    }
}

/// `Ok` if etcd's `/health` reports healthy. A hand-written HTTP/1.0 request: etcd is the only
/// plain-HTTP server here and this avoids an HTTP client dependency.
async fn etcd_health(address: SocketAddr) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("connecting to {address}: {e}"))?;
    stream
        .write_all(format!("GET /health HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| format!("sending GET /health: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| format!("reading the answer to GET /health: {e}"))?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    if body.contains(r#""health":"true""#) {
        Ok(())
    } else {
        Err(format!("GET /health answered {:?}", response.trim()))
    }
}

/// A client for a component's own HTTPS port, whose certificate is self-signed by the
/// component; used only for its unauthenticated health endpoints.
fn insecure_client(port: u16) -> Result<Client, Error> {
    let url = format!("https://127.0.0.1:{port}")
        .parse()
        .expect("a URL of 127.0.0.1 and a port is valid");
    let mut config = kube::Config::new(url);
    config.accept_invalid_certs = true;
    Client::try_from(config).map_err(Error::kube(format!(
        "building a client for https://127.0.0.1:{port}"
    )))
}

/// Writes a kubeconfig for the admin user at `url`, referring to the PEM files of `pki`.
/// JSON is valid YAML, so kubectl and client-go read it as they read any kubeconfig.
fn write_kubeconfig(path: &Path, url: &str, pki: &Pki) -> Result<(), Error> {
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": CONTEXT,
            "cluster": {"server": url, "certificate-authority": pki.ca_cert},
        }],
        "users": [{
            "name": ADMIN_USER,
            "user": {"client-certificate": pki.admin_cert, "client-key": pki.admin_key},
        }],
        "contexts": [{
            "name": CONTEXT,
            "context": {"cluster": CONTEXT, "user": ADMIN_USER, "namespace": "default"},
        }],
        "current-context": CONTEXT,
    });
    let text = serde_json::to_string_pretty(&kubeconfig).expect("a JSON value serializes");
    std::fs::write(path, text).map_err(Error::filesystem("writing", path))
}

/// The client configuration of the kubeconfig at `path`.
async fn load_kubeconfig(path: &Path) -> Result<kube::Config, Error> {
    let error = |source| Error::Kubeconfig {
        path: path.to_owned(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(error)?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(error)
}

/// A port on 127.0.0.1 that was free a moment ago. Another process may take it before the
/// component binds it; [`retry_on_taken_port`] covers that.
fn free_port() -> Result<u16, Error> {
    let listener =
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::FreePort)?;
    Ok(listener.local_addr().map_err(Error::FreePort)?.port())
}
