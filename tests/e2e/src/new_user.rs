//! A new user's first operator in any worker language, as the README tells it: `ap init
//! --lang <lang>`, `ap generate`, phase handlers filled in, then `ap run` against the control
//! plane, `kubectl apply` of the example — which reaches its final phase with its VirtualService
//! owned by it — a crashed worker restarted by `ap run`, and Ctrl-C leaving no process behind.
//!
//! The language suites (`tests/new_user_rust.rs`, `tests/lang_*.rs`) share this, and the small
//! helpers they all need: the repository root, the cache, running a command, `ap`, file trees.
//!
//! The `ap init` project's Processing phase reads `metrics`. No Prometheus runs here: the
//! operator file points `prometheus.url` at a closed loopback port, so the scheduler hands the
//! worker each query as a metric carrying an error; the handlers, like a user's first draft, do
//! not read metrics. The project outputs Istio VirtualServices, so Istio's own networking CRDs
//! (vendored in `cli/crds/`) are installed: the worker's VirtualService meets the real schema.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use autopilot_testenv::{ControlPlane, TestNamespace};
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use crate::wait;

/// How long `ap run` may take to build the worker and start it with the scheduler: minutes on a
/// cold cache (a Rust worker's dependencies, Maven's plugins).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// A resource reaches its final phase within this once the worker serves.
pub const PHASE_TIMEOUT: Duration = Duration::from_secs(120);
/// `ap run` stops within this after SIGINT (each child gets 10 s after SIGTERM).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// `${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}`: toolchains, npm's cache, Maven's repository.
pub fn cache() -> PathBuf {
    std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/autopilot")))
        .expect("AUTOPILOT_CACHE or HOME is set")
}

/// Runs `command` with no input, panicking with its whole output unless it succeeds; returns
/// its stdout.
pub fn run(what: &str, command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {:?}: {e}", command.get_program()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The helm binary: `AUTOPILOT_HELM` (hack/test.sh builds helm first and names it there), else
/// built, or found in the cache, by `hack/helm.sh`.
pub fn helm() -> PathBuf {
    if let Some(helm) = std::env::var_os("AUTOPILOT_HELM") {
        return PathBuf::from(helm);
    }
    let out = run(
        "hack/helm.sh",
        Command::new("bash").arg(root().join("hack/helm.sh")),
    );
    PathBuf::from(out.trim())
}

/// The `ap` binary beside the test binary, with `autopilot-scheduler` beside it (where `ap run`
/// finds it); both brought up to date once per test process.
pub fn ap() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let scheduler = crate::scheduler::binary();
            run(
                "building ap",
                Command::new(env!("CARGO")).args([
                    "build",
                    "--quiet",
                    "-p",
                    "autopilot-cli",
                    "--bin",
                    "ap",
                ]),
            );
            scheduler.with_file_name("ap")
        })
        .clone()
}

/// Every file under `dir` by path relative to it, skipping files and directories named in
/// `skip` (build output, tool caches).
pub fn tree(dir: &Path, skip: &[&str]) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path
                .file_name()
                .is_some_and(|n| skip.iter().any(|s| n == *s))
            {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, skip, out);
            } else {
                let relative = path.strip_prefix(root).expect("under the root");
                out.insert(
                    relative.to_string_lossy().into_owned(),
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// Replaces `from` with `to` in `path`, which must contain it.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("writing the edited file");
}

/// A generated project: `ap init --lang <lang>` then `ap generate --lang <lang>`.
#[derive(Debug)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// The API group of its `Canary` kind, version `v1`.
    pub group: String,
}

impl Project {
    /// `ap init <tmp>/myop --kind Canary --group <group> --lang <lang>`, `ap validate`, `ap
    /// generate --lang <lang>` (with `--sdk-path <sdk>` when given, else `--sdk=registry`), then the operator file
    /// pointed at no Prometheus, loopback-only ports and a 1 s work interval. `group` must be
    /// unique to the suite: CRDs are cluster-wide.
    pub fn generate(tmp: &Path, lang: &str, group: &str, sdk: Option<&Path>) -> Self {
        let dir = tmp.join("myop");
        let dir_s = dir.to_str().expect("a UTF-8 temporary path");
        let ap = ap();
        run(
            "ap init",
            Command::new(&ap).args([
                "init", dir_s, "--kind", "Canary", "--group", group, "--lang", lang,
            ]),
        );
        let validated = run("ap validate", Command::new(&ap).args(["validate", dir_s]));
        assert!(validated.starts_with("ok: Canary"), "{validated}");
        let mut generate = Command::new(&ap);
        generate.args(["generate", dir_s, "--lang", lang]);
        match sdk {
            Some(sdk) => generate.arg("--sdk-path").arg(sdk),
            // The published SDK's coordinates, resolved from the caches hack/deps fills.
            None => generate.arg("--sdk=registry"),
        };
        run(&format!("ap generate --lang {lang}"), &mut generate);

        let operator = dir.join("autopilot-operator.yaml");
        // Port 9 (discard) on loopback: refused at once, so each query fails fast.
        edit(
            &operator,
            "url: http://prometheus.istio-system:9090",
            "url: http://127.0.0.1:9",
        );
        edit(
            &operator,
            "metricsAddr: \"0.0.0.0:9091\"",
            "metricsAddr: \"127.0.0.1:0\"",
        );
        edit(
            &operator,
            "healthAddr: \"0.0.0.0:9092\"",
            "healthAddr: \"\"",
        );
        edit(&operator, "workInterval: 5s", "workInterval: 1s");
        run(
            "ap validate (edited)",
            Command::new(&ap).args(["validate", dir_s]),
        );
        Self {
            dir,
            group: group.to_owned(),
        }
    }

    /// The worker project.
    pub fn worker(&self) -> PathBuf {
        self.dir.join("worker")
    }

    /// Writes the handler `file` (relative to the worker project).
    pub fn write(&self, file: &str, text: &str) {
        let path = self.worker().join(file);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Runs the project with `ap run` (its environment plus `env`) against the shared control
    /// plane in a fresh namespace and checks, under `ap run`:
    ///
    /// - the example Canary reaches Finished with statusInfo.weight 100, its VirtualService
    ///   (routing all traffic to the target) owned by it;
    /// - the processes' output is prefixed with their names;
    /// - a killed worker is restarted, and the next Canary gets through;
    /// - after SIGINT `ap run` exits successfully, leaving none of its processes running.
    pub async fn run_until_finished(&self, namespace_prefix: &str, env: &[(&str, OsString)]) {
        let cp = autopilot_testenv::shared().await.expect("control plane");
        let ns = cp.namespace(namespace_prefix).await.expect("namespace");
        let _dump = DumpOnPanic(&ns);
        crate::upstream_crds::install(&cp.client(), crate::upstream_crds::Upstream::Istio).await;

        let ap_run = ApRun::start(self, cp.kubeconfig_path(), ns.name(), env);
        ap_run.wait_running().await;
        self.apply_example(cp, &ns, "example-canary", "example");
        self.wait_finished(cp, &ns, "example-canary", "example", &ap_run)
            .await;
        let log = ap_run.log();
        for prefix in ["scheduler | ", "   worker | "] {
            assert!(log.contains(prefix), "output prefixed {prefix:?}:\n{log}");
        }

        ap_run.restart_worker().await;
        self.apply_example(cp, &ns, "again", "again");
        self.wait_finished(cp, &ns, "again", "again", &ap_run).await;

        ap_run.interrupt().await;
    }

    /// `kubectl apply` of `deploy/example.yaml`, renamed to `name` with spec.target `target`.
    fn apply_example(&self, cp: &ControlPlane, ns: &TestNamespace, name: &str, target: &str) {
        let example = std::fs::read_to_string(self.dir.join("deploy/example.yaml"))
            .expect("deploy/example.yaml");
        for line in ["  name: example-canary\n", "  target: example\n"] {
            assert!(
                example.contains(line),
                "example.yaml has {line:?}:\n{example}"
            );
        }
        let example = example
            .replace("  name: example-canary\n", &format!("  name: {name}\n"))
            .replace("  target: example\n", &format!("  target: {target}\n"));
        let file = self.dir.join(format!("deploy/{name}.yaml"));
        std::fs::write(&file, example).expect("writing the example");
        run(
            &format!("kubectl apply {}", file.display()),
            cp.kubectl()
                .args(["apply", "-n", ns.name(), "-f"])
                .arg(&file),
        );
    }

    /// Waits for Canary `name` to reach Finished, then checks its statusInfo and its output.
    async fn wait_finished(
        &self,
        cp: &ControlPlane,
        ns: &TestNamespace,
        name: &str,
        target: &str,
        ap_run: &ApRun,
    ) {
        let canaries: Api<DynamicObject> = Api::namespaced_with(
            cp.client(),
            ns.name(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(&self.group, "v1", "Canary"),
                "canaries",
            ),
        );
        let status = wait::until(
            &format!(
                "Canary {}/{name} to reach phase Finished under ap run",
                ns.name()
            ),
            PHASE_TIMEOUT,
            || async {
                let status = canaries
                    .get(name)
                    .await
                    .map(|c| c.data["status"].clone())
                    .map_err(|e| e.to_string())?;
                if status["phase"] == "Finished" {
                    Ok(status)
                } else {
                    Err(format!(
                        "status {status}; ap run log tail:\n{}",
                        ap_run.tail(20)
                    ))
                }
            },
        )
        .await;
        assert_eq!(status["statusInfo"]["weight"], 100, "{status}");

        let canary = canaries.get(name).await.expect("the Canary");
        let virtual_services: Api<DynamicObject> = Api::namespaced_with(
            cp.client(),
            ns.name(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
                "virtualservices",
            ),
        );
        let vs = virtual_services.get(target).await.unwrap_or_else(|e| {
            panic!("the Initializing output, VirtualService {target}, exists: {e}")
        });
        let owner = vs
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|o| o.controller == Some(true))
            .unwrap_or_else(|| panic!("VirtualService {target} has a controller owner"));
        assert_eq!(
            (owner.kind.as_str(), Some(&owner.uid)),
            ("Canary", canary.metadata.uid.as_ref())
        );
        assert_eq!(
            vs.data["spec"]["http"][0]["route"][0]["weight"],
            Value::from(100),
            "{:?}",
            vs.data
        );
    }
}

/// Prints what the namespace held if the test fails.
struct DumpOnPanic<'a>(&'a TestNamespace);

impl Drop for DumpOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- namespace {} ---\n{}", self.0.name(), self.0.dump());
        }
    }
}

/// `ap run` as a child process in its own process group, its output in a log file. When dropped
/// (a failed test), the group gets SIGINT so that `ap` stops its children — a SIGKILLed `ap`
/// could not — and its log is printed.
struct ApRun {
    child: tokio::process::Child,
    pid: u32,
    log: PathBuf,
}

impl ApRun {
    /// `ap run <project> --namespaces <namespace> --kubeconfig <kubeconfig>`.
    fn start(
        project: &Project,
        kubeconfig: &Path,
        namespace: &str,
        env: &[(&str, OsString)],
    ) -> Self {
        let log = project.dir.with_file_name("ap-run.log");
        let out = std::fs::File::create(&log).expect("creating the ap run log");
        let mut command = tokio::process::Command::new(ap());
        command
            .arg("run")
            .arg(&project.dir)
            .args(["--namespaces", namespace, "--kubeconfig"])
            .arg(kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("the log handle")))
            .stderr(Stdio::from(out))
            // Its own process group, as a shell runs a foreground job: Ctrl-C reaches the group.
            .process_group(0)
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("starting ap run");
        let pid = child.id().expect("ap run's pid");
        Self { child, pid, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    fn tail(&self, lines: usize) -> String {
        let log = self.log();
        let mut tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.reverse();
        tail.join("\n")
    }

    /// Waits until `ap run` has built the worker, applied the CRD and started both processes.
    async fn wait_running(&self) {
        wait::until(
            "ap run to build the worker and start it with the scheduler",
            BUILD_TIMEOUT,
            || async {
                let log = self.log();
                // `ap` reports its own failure as a line starting with "error:"; the scheduler's
                // log lines may mention errors of a worker that is still starting.
                assert!(
                    !log.lines().any(|line| line.starts_with("error:")),
                    "ap run failed:\n{log}"
                );
                if log.contains("ap: running") {
                    Ok(())
                } else {
                    Err(self.tail(5))
                }
            },
        )
        .await;
    }

    /// SIGKILLs the worker and waits until `ap run` has reported it and started another.
    async fn restart_worker(&self) {
        let kids = children(self.pid);
        let (worker, _) = kids
            .iter()
            .find(|(_, cmdline)| !cmdline.contains("autopilot-scheduler"))
            .unwrap_or_else(|| panic!("a worker among ap run's children: {kids:?}"))
            .clone();
        signal(worker, "KILL");
        wait::until(
            "ap run to restart the killed worker",
            Duration::from_secs(30),
            || async {
                let now = children(self.pid);
                if self.log().contains("ap: the worker exited")
                    && now.len() == 2
                    && now.iter().all(|(p, _)| *p != worker)
                {
                    Ok(())
                } else {
                    Err(format!("children {now:?}"))
                }
            },
        )
        .await;
    }

    /// Ctrl-C: SIGINT to `ap run`'s process group, so the scheduler and the worker get it too,
    /// as in a terminal. `ap run` stops both (each exits on SIGTERM or SIGINT, none needs
    /// killing) and exits successfully, and none of its processes (children or theirs) is left.
    async fn interrupt(mut self) {
        let processes = descendants(self.pid);
        assert!(
            processes.len() >= 2,
            "ap run has the worker and the scheduler as children: {processes:?}"
        );
        ctrl_c(self.pid);
        let status = tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("ap run to exit within {STOP_TIMEOUT:?} of SIGINT"))
            .expect("waiting for ap run");
        let log = self.log();
        assert!(status.success(), "ap run exited with {status}:\n{log}");
        assert!(log.contains("ap: stopped"), "{log}");
        assert!(
            !log.contains("did not stop within"),
            "each child exits on SIGTERM, none is killed:\n{log}"
        );
        for (pid, cmdline) in processes {
            assert!(
                !alive(pid, &cmdline),
                "{cmdline} (pid {pid}) still runs after ap run stopped"
            );
        }
    }
}

impl Drop for ApRun {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        if !zombie_or_gone(self.pid) {
            ctrl_c(self.pid);
            for _ in 0..(STOP_TIMEOUT.as_millis() / 100) {
                if zombie_or_gone(self.pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        eprintln!(
            "--- ap run log {} (last 80 lines) ---\n{}",
            self.log.display(),
            self.tail(80)
        );
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// SIGINT to the process group `pgid`, as Ctrl-C in a terminal sends it to the foreground job.
fn ctrl_c(pgid: u32) {
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -INT -- -{pgid}");
}

/// The fields of `/proc/<pid>/stat` after the command name: state, parent pid, ...
fn stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn zombie_or_gone(pid: u32) -> bool {
    stat(pid).is_none_or(|fields| fields.first().is_some_and(|s| s == "Z"))
}

/// The live children of `pid`, with their command lines.
pub fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Some(fields) = stat(child) else {
            continue;
        };
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) && !zombie_or_gone(child)
        {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            out.push((child, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    out
}

/// The live descendants of `pid`: its children, theirs, and so on.
pub fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut out = children(pid);
    let mut next = 0;
    while next < out.len() {
        let grandchildren = children(out[next].0);
        out.extend(grandchildren);
        next += 1;
    }
    out
}

/// Whether `pid` still runs `cmdline` (and is not a zombie): a reused pid does not count.
pub fn alive(pid: u32, cmdline: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ") == cmdline)
        && !zombie_or_gone(pid)
}
