//! A fresh machine where only `ap` is installed: the `ap` binary copied out of the build, a
//! temporary HOME, the work done in a temporary directory, no environment variable and no
//! generated file pointing at this repository. For each of the five languages, `ap init` and
//! `ap generate` (the default `--sdk=bundled`) write a worker project that the language's own
//! tools build as its README says — `cargo build`, `go build`, `pip install` into a venv, `npm
//! install` + `npm run build`, `mvn package` — and the built worker answers `Describe`.
//!
//! The toolchains are the machine's; their download caches are shared so that the test does
//! not fetch the world again: Cargo's home and a cargo target directory under the Autopilot
//! cache, the Go module and build caches, pip's and npm's caches, and (as a read-only extra
//! Maven repository declared in the temporary HOME's settings.xml) the Maven repository of
//! `hack/deps/java.sh`. None of them is the repository.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use autopilot_e2e::new_user::{ap, cache, root, run};
use autopilot_e2e::wait;
use autopilot_proto::v1::DescribeRequest;
use autopilot_proto::v1::worker_service_client::WorkerServiceClient;

/// Building a worker from cold caches takes minutes (a Rust worker's dependencies, Maven's
/// plugins); the worker then serves within seconds.
const SERVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The machine: `ap` alone in a bin directory, a HOME and a working directory, all temporary.
struct Machine {
    _dir: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
    env: Vec<(String, OsString)>,
}

impl Machine {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (home, bin, work) = (
            dir.path().join("home"),
            dir.path().join("bin"),
            dir.path().join("work"),
        );
        for d in [&home, &bin, &work] {
            std::fs::create_dir_all(d).expect("creating the machine's directories");
        }
        std::fs::copy(ap(), bin.join("ap")).expect("copying ap out of the build");

        let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
        let repo = root();
        // The machine's PATH, minus anything inside the repository, with `ap` first.
        let mut path = vec![bin.clone()];
        path.extend(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .filter(|p| !p.starts_with(&repo)),
        );
        let go_env = |key: &str| {
            let out = Command::new("go")
                .args(["env", key])
                .output()
                .expect("go env");
            OsString::from(String::from_utf8_lossy(&out.stdout).trim())
        };
        let or_default = |key: &str, default: PathBuf| {
            std::env::var_os(key).unwrap_or_else(|| default.into_os_string())
        };
        let m2 = cache().join("m2");
        std::fs::create_dir_all(home.join(".m2")).expect("creating ~/.m2");
        std::fs::write(home.join(".m2/settings.xml"), maven_settings(&m2)).expect("settings.xml");
        let env = vec![
            ("HOME".to_owned(), home.clone().into_os_string()),
            (
                "PATH".to_owned(),
                std::env::join_paths(path).expect("a PATH"),
            ),
            (
                "CARGO_HOME".to_owned(),
                or_default("CARGO_HOME", real_home.join(".cargo")),
            ),
            (
                "RUSTUP_HOME".to_owned(),
                or_default("RUSTUP_HOME", real_home.join(".rustup")),
            ),
            // Shared with the new-user Rust suite: the worker's dependencies build once.
            (
                "CARGO_TARGET_DIR".to_owned(),
                cache().join("target-golden-rust").into_os_string(),
            ),
            ("GOMODCACHE".to_owned(), go_env("GOMODCACHE")),
            ("GOCACHE".to_owned(), go_env("GOCACHE")),
            ("GOTOOLCHAIN".to_owned(), "local".into()),
            ("GOFLAGS".to_owned(), "-buildvcs=false".into()),
            (
                "PIP_CACHE_DIR".to_owned(),
                or_default("PIP_CACHE_DIR", real_home.join(".cache/pip")),
            ),
            (
                "npm_config_cache".to_owned(),
                cache().join("npm").into_os_string(),
            ),
            // Java takes its home from the password database, not HOME; Maven follows user.home.
            (
                "MAVEN_OPTS".to_owned(),
                format!("-Duser.home={}", home.display()).into(),
            ),
        ];
        Self {
            _dir: dir,
            home,
            work,
            env,
        }
    }

    /// `program` in `dir` with the machine's environment: the test's own, minus every variable
    /// naming the repository or set by cargo for this test, plus [`Machine::env`].
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let repo = root();
        let repo = repo.to_string_lossy();
        let mut command = Command::new(program);
        command.current_dir(dir).env_clear();
        for (key, value) in std::env::vars_os() {
            let key_s = key.to_string_lossy();
            let names_repo = value.to_string_lossy().contains(repo.as_ref());
            let from_cargo = key_s.starts_with("CARGO")
                || key_s.starts_with("RUST")
                || key_s == "AUTOPILOT_CACHE";
            if !names_repo && !from_cargo {
                command.env(&key, &value);
            }
        }
        for (key, value) in &self.env {
            assert!(
                !value.to_string_lossy().contains(repo.as_ref()),
                "{key}={value:?} points into the repository"
            );
            command.env(key, value);
        }
        command
    }

    /// `ap init` and `ap generate` of a one-worker project in `lang`, in the working directory;
    /// returns the worker project's directory.
    fn generate(&self, lang: &str) -> PathBuf {
        let group = format!("fresh-{lang}.e2e.autopilot.dev");
        run(
            "ap init",
            self.command("ap", &self.work).args([
                "init", "myop", "--kind", "Canary", "--group", &group, "--lang", lang,
            ]),
        );
        let generated = run(
            "ap generate",
            self.command("ap", &self.work)
                .args(["generate", "myop", "--lang", lang]),
        );
        assert!(
            generated.contains("wrote     worker/third_party/ (the SDK of this ap"),
            "the bundled SDK is written into the project:\n{generated}"
        );
        let project = self.work.join("myop");
        let repo = root().to_string_lossy().into_owned();
        for (path, contents) in autopilot_e2e::new_user::tree(&project, &[]) {
            assert!(
                !String::from_utf8_lossy(&contents).contains(&repo),
                "{path} names the repository ({repo})"
            );
        }
        project.join("worker")
    }

    /// Starts `command` as the worker on a free loopback port and waits until it answers
    /// `Describe` with the project's phases.
    async fn describe(&self, lang: &str, mut command: Command) {
        let port = free_port();
        let child = command
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{lang}: starting the worker {command:?}: {e}"));
        let _worker = KillOnDrop(child);
        let endpoint = format!("http://127.0.0.1:{port}");
        let reply = wait::until(
            &format!(
                "the {lang} worker built outside the repository to answer Describe on {endpoint}"
            ),
            SERVE_TIMEOUT,
            || async {
                let mut client = WorkerServiceClient::connect(endpoint.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .describe(DescribeRequest {
                        protocol_version: autopilot_proto::PROTOCOL_VERSION.to_owned(),
                        scheduler_version: "fresh-machine-test".to_owned(),
                    })
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        assert_eq!(reply.protocol_version, "v1", "{reply:?}");
        for phase in ["Initializing", "Processing"] {
            assert!(
                reply.phases.iter().any(|p| p == phase),
                "{lang} serves {phase}: {reply:?}"
            );
        }
    }
}

/// A settings.xml adding `repo` (a local Maven repository) as a read-only file repository in
/// front of Maven Central: what it holds is copied, the rest downloaded.
fn maven_settings(repo: &Path) -> String {
    let url = format!("file://{}", repo.display());
    format!(
        r#"<settings>
  <profiles>
    <profile>
      <id>shared-cache</id>
      <repositories>
        <repository><id>shared-cache</id><url>{url}</url></repository>
      </repositories>
      <pluginRepositories>
        <pluginRepository><id>shared-cache</id><url>{url}</url></pluginRepository>
      </pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles>
    <activeProfile>shared-cache</activeProfile>
  </activeProfiles>
</settings>
"#
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The first `key = "value"` (TOML) or `<key>value</key>` (XML) in `file`.
fn field(file: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let found = if key.starts_with('<') {
        let close = key.replacen('<', "</", 1);
        text.split_once(key)
            .and_then(|(_, rest)| rest.split_once(close.as_str()))
            .map(|(value, _)| value.trim().to_owned())
    } else {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .and_then(|rest| rest.split_once('"'))
            .map(|(value, _)| value.to_owned())
    };
    found.unwrap_or_else(|| panic!("{} has no {key}", file.display()))
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_worker_builds_and_serves() {
    let machine = Machine::new();
    let worker = machine.generate("rust");
    run(
        "cargo build",
        machine.command("cargo", &worker).arg("build"),
    );
    let package = field(&worker.join("Cargo.toml"), "name");
    let binary = cache().join("target-golden-rust/debug").join(&package);
    machine
        .describe("rust", machine.command(binary, &worker))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn go_worker_builds_and_serves() {
    let machine = Machine::new();
    let worker = machine.generate("go");
    run(
        "go build",
        machine
            .command("go", &worker)
            .args(["build", "-o", "bin/worker", "."]),
    );
    machine
        .describe("go", machine.command(worker.join("bin/worker"), &worker))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_worker_builds_and_serves() {
    let machine = Machine::new();
    let worker = machine.generate("python");
    run(
        "python3 -m venv .venv",
        machine
            .command("python3", &worker)
            .args(["-m", "venv", ".venv"]),
    );
    // As the worker's README says, without the test extras.
    run(
        "pip install -e .",
        machine
            .command(worker.join(".venv/bin/pip"), &worker)
            .args(["install", "--quiet", "-e", "."]),
    );
    // `ap build` too, which away from the repository makes the project a venv of its own.
    let built = run(
        "ap build",
        machine.command("ap", &machine.work).args(["build", "myop"]),
    );
    assert!(built.contains("built the worker"), "{built}");
    let script = field(&worker.join("pyproject.toml"), "name");
    machine
        .describe(
            "python",
            machine.command(worker.join(".venv/bin").join(script), &worker),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_worker_builds_and_serves() {
    let machine = Machine::new();
    let worker = machine.generate("typescript");
    run(
        "npm install",
        machine.command("npm", &worker).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
        ]),
    );
    run(
        "npm run build",
        machine.command("npm", &worker).args(["run", "build"]),
    );
    let mut node = machine.command("node", &worker);
    node.arg("dist/src/main.js");
    machine.describe("typescript", node).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn java_worker_builds_and_serves() {
    let machine = Machine::new();
    let worker = machine.generate("java");
    // `ap generate` installed the bundled SDK into the machine's own Maven repository.
    let installed = machine
        .home
        .join(".m2/repository/dev/autopilot/autopilot-sdk");
    assert!(
        std::fs::read_dir(&installed).is_ok_and(|mut d| d.next().is_some()),
        "ap generate installs the Java SDK into {}",
        installed.display()
    );
    run(
        "mvn package",
        machine.command("mvn", &worker).args([
            "-B",
            "-q",
            "-Dstyle.color=never",
            "package",
            "-DskipTests",
        ]),
    );
    let jar = field(&worker.join("pom.xml"), "<finalName>");
    let mut java = machine.command("java", &worker);
    java.arg("-jar").arg(format!("target/{jar}.jar"));
    machine.describe("java", java).await;
}
