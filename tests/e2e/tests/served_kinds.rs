//! `ap deploy` (and `ap run`, through the same check) warns at start about the project's input
//! and output kinds the cluster does not serve, naming each and how to install it locally; the
//! warning goes once the CRDs are there.
use std::process::Output;

use autopilot_e2e::greeter;
use autopilot_e2e::new_user::{root, run};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_the_cluster_does_not_serve_are_named_at_start() {
    // A control plane of its own: the test installs cluster-wide CRDs other suites must not see.
    let cp = autopilot_testenv::ControlPlane::builder()
        .start()
        .await
        .expect("control plane");
    let kubeconfig = cp.kubeconfig_path();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mesh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("autopilot.yaml"),
        "apiVersion: mesh.e2e.autopilot.dev/v1\nkind: Shift\noperatorName: shift\n\
         spec: {type: object, properties: {host: {type: string}}}\n\
         phases:\n  - name: Shifting\n    initial: true\n    inputs: [httproutes, services]\n\
         \x20   outputs: [virtualservices]\n  - {name: Done, final: true}\n",
    )
    .unwrap();
    let dir_arg = dir.to_str().unwrap();
    run(
        "ap generate",
        &mut greeter::ap(kubeconfig, &["generate", dir_arg]),
    );
    let deploy = |what: &str| {
        let out = greeter::ap(
            kubeconfig,
            &["deploy", dir_arg, "--namespace", "default", "--dry-run"],
        )
        .output()
        .expect("running ap deploy");
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        stderr(&out)
    };

    let said = deploy("ap deploy without the CRDs");
    let warning = |plural: &str| {
        said.lines()
            .find(|l| l.starts_with("ap: warning: ") && l.contains(plural))
            .unwrap_or_else(|| panic!("no warning about {plural}:\n{said}"))
            .to_owned()
    };
    let vs = warning("virtualservices.networking.istio.io");
    assert!(
        vs.contains("networking.istio.io/v1 VirtualService, written by Shifting")
            && vs.contains("is not served by the API server")
            && vs.contains("`ap cluster up --with istio`"),
        "{vs}"
    );
    let routes = warning("httproutes.gateway.networking.k8s.io");
    assert!(
        routes.contains("read by Shifting") && routes.contains("--with gateway-api"),
        "{routes}"
    );
    assert!(
        !said.contains("services (v1"),
        "core services are served:\n{said}"
    );

    // With Istio's CRDs (the ones `ap cluster up --with istio` installs), only HTTPRoute is left.
    run(
        "kubectl apply --server-side (Istio CRDs)",
        cp.kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(root().join("cli/crds/istio-networking.yaml")),
    );
    run(
        "kubectl wait (Istio CRDs)",
        cp.kubectl().args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/virtualservices.networking.istio.io",
        ]),
    );
    let said = deploy("ap deploy with Istio's CRDs");
    assert!(
        !said.contains("virtualservices.networking.istio.io"),
        "{said}"
    );
    assert!(
        said.contains("httproutes.gateway.networking.k8s.io"),
        "{said}"
    );
}
