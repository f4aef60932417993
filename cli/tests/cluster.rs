//! `ap cluster up|status|env|down` as a user runs them: the control plane runs in the
//! background after `up` returns, answers kubectl, and `down` leaves no process behind.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn ap(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ap"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .output()
        .expect("running ap")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Pids of processes whose command line names `dir`, as `pgrep -f` finds them.
fn processes_naming(dir: &Path) -> Vec<String> {
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(dir)
        .output()
        .expect("running pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Stops the cluster if the test fails half-way.
struct Down<'a>(&'a Path);
impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = ap(&["cluster", "down"], self.0);
    }
}

#[test]
fn up_status_kubectl_down() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("cluster");
    let _down = Down(&state);

    let out = ap(&["cluster", "status"], &state);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("stopped"));

    let out = ap(&["cluster", "up"], &state);
    assert!(out.status.success(), "ap cluster up: {}", text(&out));

    let out = ap(&["cluster", "status"], &state);
    let status = text(&out);
    assert!(out.status.success(), "{status}");
    assert!(status.contains("running"), "{status}");
    assert!(status.contains("Kubernetes v1.34."), "{status}");

    let out = ap(&["cluster", "env"], &state);
    let env = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let kubeconfig = env
        .strip_prefix("export KUBECONFIG=")
        .unwrap_or_else(|| panic!("`ap cluster env` printed {env}"));
    let out = Command::new("kubectl")
        .args(["get", "ns", "kube-system", "-o", "name"])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("running kubectl");
    assert!(out.status.success(), "kubectl get ns: {}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/kube-system"
    );
    assert!(
        processes_naming(&state).len() >= 3,
        "etcd, kube-apiserver and kube-controller-manager name the state directory"
    );

    // A second `up` finds the running cluster instead of starting another; `--with` installs
    // the upstream CRDs into it, and the API server then validates their kinds.
    let out = ap(&["cluster", "up", "--with", "istio,gateway-api"], &state);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("already running"), "{said}");
    assert!(
        said.contains("installed 9 Istio networking CRDs from istio.io/api v")
            && said.contains("virtualservices")
            && said.contains("Gateway API standard CRDs from sigs.k8s.io/gateway-api v")
            && said.contains("httproutes"),
        "{said}"
    );
    let manifest = tmp.path().join("routes.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: default}\n\
         spec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web}\n      weight: 100\n\
         ---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
         metadata: {name: web, namespace: default}\nspec:\n  rules:\n  - backendRefs:\n    - {name: web, port: 80}\n",
    )
    .unwrap();
    let out = Command::new("kubectl")
        .args(["apply", "-f"])
        .arg(&manifest)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("running kubectl");
    assert!(out.status.success(), "kubectl apply: {}", text(&out));
    // The schema is the upstream one: a field of the wrong type is refused.
    let out = Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(
                b"apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                  metadata: {name: bad, namespace: default}\nspec: {hosts: web}\n",
            )?;
            child.wait_with_output()
        })
        .expect("running kubectl");
    assert!(
        !out.status.success(),
        "a VirtualService with hosts: web was accepted"
    );
    assert!(text(&out).contains("spec.hosts"), "{}", text(&out));

    let out = ap(&["cluster", "down"], &state);
    assert!(out.status.success(), "ap cluster down: {}", text(&out));
    let out = ap(&["cluster", "status"], &state);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // `down` returns once every process is gone; allow the kernel a moment to reap.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_naming(&state);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes naming {} still run after down: {left:?}",
            state.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!state.join("kubeconfig").exists());
}
