//! `ap build` on freshly generated Python, TypeScript and Java workers: each builds with the
//! toolchain `hack/deps/<lang>.sh` installs, and the result, started the way `ap run` starts it,
//! listens on `AUTOPILOT_WORKER_ADDR`.
//! Without a Dockerfile (or a container tool) `ap build` builds the worker only, as here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a built worker may take to listen (a JVM starting on a busy machine is the slowest).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);

/// Kills the worker process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// `${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}`, where the toolchains are.
fn cache() -> PathBuf {
    std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/autopilot")
        })
}

/// Runs `command`, panicking with its whole output when it fails.
fn run(what: &str, command: &mut Command) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `ap init` and `ap generate --lang <lang>` of a Canary operator with one worker in `lang`,
/// in `<tmp>/myop`; `sdk` is `--sdk-path` (without it, `--sdk=registry`).
fn generate(tmp: &Path, lang: &str, sdk: Option<&Path>) -> PathBuf {
    let dir = tmp.join("myop");
    let ap = env!("CARGO_BIN_EXE_ap");
    run(
        "ap init",
        Command::new(ap)
            .args([
                "init",
                "--kind",
                "Canary",
                "--group",
                "canary.example.com",
                "--version",
                "v1alpha1",
                "--lang",
                lang,
            ])
            .arg(&dir),
    );
    let mut generate = Command::new(ap);
    generate.arg("generate").arg(&dir).args(["--lang", lang]);
    match sdk {
        Some(sdk) => generate.arg("--sdk-path").arg(sdk),
        // The published SDK's coordinates, resolved from the caches hack/deps fills.
        None => generate.arg("--sdk=registry"),
    };
    run(&format!("ap generate --lang {lang}"), &mut generate);
    dir
}

/// `ap build <dir>` with `env`; asserts it built the worker and no image. When a container
/// tool is on PATH, the worker's Dockerfile is removed first so that no image is built.
fn ap_build(dir: &Path, env: &[(&str, &std::ffi::OsStr)]) {
    let _ = std::fs::remove_file(dir.join("worker/Dockerfile"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ap"));
    command.arg("build").arg(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    let build = run("ap build", &mut command);
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(
        stdout.contains("built the worker") && !stdout.contains("built image"),
        "{stdout}"
    );
}

/// Starts `command` with `AUTOPILOT_WORKER_ADDR` on a free loopback port and waits until it
/// accepts connections there.
fn assert_listens(mut command: Command) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut worker = Killed(
        command
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the built worker"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = worker.0.try_wait().unwrap() {
            panic!("the built worker exited ({status}) before listening on 127.0.0.1:{port}");
        }
        assert!(
            start.elapsed() < LISTEN_TIMEOUT,
            "the built worker did not listen on 127.0.0.1:{port} within {LISTEN_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ap_build_installs_a_generated_python_worker() {
    let venv = cache().join("venv");
    assert!(
        venv.join("bin/python").exists(),
        "the Python toolchain is missing ({} not found): run `bash hack/deps/python.sh` \
         (hack/test.sh runs it)",
        venv.join("bin/python").display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), "python", Some(&repo_root().join("sdk-python")));
    // No tool on PATH at all: the venv is found through AUTOPILOT_CACHE.
    let empty_path = tmp.path().join("empty-path");
    std::fs::create_dir(&empty_path).unwrap();
    ap_build(
        &dir,
        &[
            ("AUTOPILOT_CACHE", cache().as_os_str()),
            ("PATH", empty_path.as_os_str()),
        ],
    );

    let site = dir.join(".autopilot/build/python");
    for package in ["canary_worker", "autopilot_sdk"] {
        assert!(
            site.join(package).is_dir(),
            "{package} is installed in {}",
            site.display()
        );
    }
    // What `ap run` starts: the venv's python running the package, the build on PYTHONPATH.
    let mut worker = Command::new(venv.join("bin/python"));
    worker
        .args(["-m", "canary_worker"])
        .current_dir(tmp.path())
        .env("PYTHONPATH", &site)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    assert_listens(worker);
}

#[test]
fn ap_build_compiles_a_generated_typescript_worker() {
    let sdk = repo_root().join("sdk-typescript");
    let npm_cache = cache().join("npm");
    // The SDK compiled, as `hack/deps/typescript.sh` leaves it (quick when it is).
    run(
        "sdk-typescript/scripts/build.sh (needs node and npm: hack/deps/typescript.sh)",
        Command::new("bash")
            .arg(sdk.join("scripts/build.sh"))
            .env("npm_config_cache", &npm_cache),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), "typescript", Some(&sdk));
    ap_build(&dir, &[("npm_config_cache", npm_cache.as_os_str())]);

    // The lock npm wrote, the tsc output named by package.json "main".
    let worker = dir.join("worker");
    assert!(worker.join("package-lock.json").is_file());
    assert!(worker.join("dist/src/main.js").is_file());
    // What `ap run` starts: node and the package's "main", in the worker directory.
    let mut node = Command::new("node");
    node.arg("dist/src/main.js").current_dir(&worker);
    assert_listens(node);
}

#[test]
fn ap_build_packages_a_generated_java_worker() {
    let repo = cache().join("m2");
    assert!(
        repo.join("dev/autopilot/autopilot-sdk/0.1.0/autopilot-sdk-0.1.0.jar")
            .is_file(),
        "the Java SDK is not in {}: run `bash hack/deps/java.sh` (hack/test.sh runs it)",
        repo.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), "java", None);
    ap_build(&dir, &[("AUTOPILOT_CACHE", cache().as_os_str())]);

    // The jar of the maven-jar-plugin's finalName, its libraries beside it.
    let worker = dir.join("worker");
    assert!(worker.join("target/canary-worker.jar").is_file());
    assert!(worker.join("target/lib").is_dir());
    // What `ap run` starts: java -jar, in the worker directory.
    let mut java = Command::new("java");
    java.args(["-jar", "target/canary-worker.jar"])
        .current_dir(&worker);
    assert_listens(java);
}

#[test]
fn ap_build_says_how_to_get_a_missing_toolchain() {
    let tmp = tempfile::tempdir().unwrap();
    let empty_path = tmp.path().join("empty-path");
    std::fs::create_dir(&empty_path).unwrap();
    for (lang, hint) in [
        ("typescript", "bash hack/deps/typescript.sh"),
        ("java", "bash hack/deps/java.sh"),
        ("go", "hack/deps/go.sh"),
    ] {
        let project = tmp.path().join(lang);
        std::fs::create_dir(&project).unwrap();
        let dir = generate(&project, lang, None);
        let out = Command::new(env!("CARGO_BIN_EXE_ap"))
            .arg("build")
            .arg(&dir)
            .env("PATH", &empty_path)
            .stdin(Stdio::null())
            .output()
            .expect("running ap build");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{lang}: ap build succeeded");
        assert!(
            stderr.contains("is not on PATH") && stderr.contains(hint),
            "{lang}: {stderr}"
        );
    }
}
