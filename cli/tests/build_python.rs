//! `ap build` on a freshly generated Python worker: the SDK and the worker are installed into
//! the project's build directory with the toolchain venv of `hack/deps/python.sh`, and the
//! result starts the way `ap run` starts it and listens on `AUTOPILOT_WORKER_ADDR`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// The venv of hack/deps/python.sh, or a panic that says how to get it.
fn venv() -> PathBuf {
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/autopilot")
        });
    let venv = cache.join("venv");
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "the Python toolchain is missing ({} not found): run `bash hack/deps/python.sh` \
         (hack/test.sh runs it)",
        python.display()
    );
    venv
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

#[test]
fn ap_build_installs_a_generated_python_worker() {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("myop");
    let dir_arg = dir.to_str().unwrap();
    let ap = env!("CARGO_BIN_EXE_ap");

    run(
        "ap init",
        Command::new(ap).args([
            "init",
            dir_arg,
            "--kind",
            "Canary",
            "--group",
            "canary.example.com",
            "--version",
            "v1alpha1",
        ]),
    );
    let mut autopilot_yaml = std::fs::read_to_string(dir.join("autopilot.yaml")).unwrap();
    autopilot_yaml.push_str("\nworkers:\n  - name: canary-worker\n    language: python\n");
    std::fs::write(dir.join("autopilot.yaml"), &autopilot_yaml).unwrap();
    run(
        "ap generate --lang python",
        Command::new(ap)
            .args(["generate", dir_arg, "--lang", "python", "--sdk-path"])
            .arg(repo_root().join("sdk-python")),
    );

    // No container tool on PATH: `ap build` builds the worker only.
    let empty_path = tmp.path().join("empty-path");
    std::fs::create_dir(&empty_path).unwrap();
    let build = run(
        "ap build",
        Command::new(ap)
            .args(["build", dir_arg])
            .env("AUTOPILOT_CACHE", venv.parent().unwrap())
            .env("PATH", &empty_path),
    );
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(stdout.contains("built the worker"), "{stdout}");

    let site = dir.join(".autopilot/build/python");
    for package in ["canary_worker", "autopilot_sdk"] {
        assert!(
            site.join(package).is_dir(),
            "{package} is installed in {}",
            site.display()
        );
    }

    // What `ap run` starts: the venv's python running the package, the build on PYTHONPATH.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut worker = Killed(
        Command::new(venv.join("bin/python"))
            .args(["-m", "canary_worker"])
            .current_dir(tmp.path())
            .env("PYTHONPATH", &site)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the built worker"),
    );
    let timeout = Duration::from_secs(60);
    let start = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Some(status) = worker.0.try_wait().unwrap() {
            panic!("the built worker exited ({status}) before listening on 127.0.0.1:{port}");
        }
        assert!(
            start.elapsed() < timeout,
            "the built worker did not listen on 127.0.0.1:{port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
