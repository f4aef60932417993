//! `ap dashboard` in a real browser: headless Chromium, driven over WebDriver (chromedriver),
//! against `ap dashboard` run as a user runs it, showing a real kube-apiserver's resources of a
//! kind from a project generated with `ap generate`.
//!
//! The page lists the resources by phase with their printer columns and statusInfo; a status
//! written through the API reaches the open page without a reload; the Pause button sets the
//! annotation the scheduler honours and its Event shows on the page; a POST without the page's
//! token, or naming a foreign host, is refused; the screenshot is a PNG with the parts that
//! matter displayed.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_e2e::as_user;
use autopilot_e2e::new_user::ap;
use autopilot_e2e::wait;
use fantoccini::{Client, ClientBuilder, Locator};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

/// The page shows a change, or the browser starts, within this.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// `ap dashboard` prints its address within this (it reads the cluster first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

const GROUP: &str = "dashboard.e2e.autopilot.dev";

const ROLLOUTS: &str = r#"apiVersion: dashboard.e2e.autopilot.dev/v1
kind: Rollout
operatorName: rollout-dashboard
spec:
  type: object
  properties:
    behavior:
      type: string
statusInfo:
  type: object
  properties:
    weight:
      type: integer
      description: Percent of traffic on the new version.
    checks:
      type: array
      items:
        type: object
        properties:
          name: {type: string}
          value: {type: number}
          max: {type: number}
          passed: {type: boolean}
printerColumns:
  - name: Weight
    type: integer
    jsonPath: .status.statusInfo.weight
abortPhase: Aborted
gates:
  - name: promote
    phase: Processing
    when: leaving
    description: Check the canary's dashboards
phases:
  - name: Initializing
    initial: true
  - name: Processing
  - name: Finished
    final: true
  - name: Aborted
    final: true
"#;

fn rollouts(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, "v1", "Rollout"),
        "rollouts",
    );
    Api::namespaced_with(client.clone(), ns, &resource)
}

async fn set_status(api: &Api<DynamicObject>, name: &str, status: Value) {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": status })),
    )
    .await
    .unwrap_or_else(|e| panic!("patching the status of {name}: {e}"));
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

/// A process killed when dropped, its output kept for failure messages.
struct Process {
    /// Held so that the process is killed with this.
    _child: Child,
    output: Arc<Mutex<String>>,
}

impl Process {
    fn spawn(what: &str, command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (stream, prefix) in [
            (
                Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                "",
            ),
            (Box::new(stderr), "stderr: "),
        ] {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut all = output.lock().unwrap();
                    all.push_str(prefix);
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        Self {
            _child: child,
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

/// `ap dashboard` on a free loopback port; its URL once it prints it.
async fn start_dashboard(kubeconfig: &Path, dir: &Path, ns: &str) -> (Process, String) {
    let process = Process::spawn(
        "ap dashboard",
        Command::new(ap())
            .args(["dashboard", "--dir"])
            .arg(dir)
            .args(["-n", ns, "--listen", "127.0.0.1:0"])
            .env("KUBECONFIG", kubeconfig),
    );
    let url = wait::until(
        "ap dashboard to print the address it serves on",
        START_TIMEOUT,
        || {
            let output = process.output();
            async move {
                output
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .map(str::to_owned)
                    .ok_or(output)
            }
        },
    )
    .await;
    (process, url)
}

/// A program the test needs, from PATH, or a failure saying how to install it.
fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not on PATH: install the Debian packages chromium and chromium-driver (hack/install-deps.sh does)")
        })
}

/// chromedriver on a free port, and a WebDriver session of headless Chromium through it.
async fn browser(profile: &Path) -> (Process, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Process::spawn(
        "chromedriver",
        Command::new(program("chromedriver")).arg(format!("--port={port}")),
    );
    let chromium = program("chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,900",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let client = wait::until(
        "chromedriver to start a headless Chromium session",
        PAGE_TIMEOUT,
        || {
            let capabilities = capabilities.clone();
            let webdriver = webdriver.clone();
            let log = driver.output();
            async move {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&webdriver)
                    .await
                    .map_err(|e| format!("{e}; chromedriver said:\n{log}"))
            }
        },
    )
    .await;
    (driver, client)
}

/// The element `css` selects, once the page shows it.
async fn shown(client: &Client, what: &str, css: &str) -> fantoccini::elements::Element {
    wait::until(what, PAGE_TIMEOUT, || async move {
        match client.find(Locator::Css(css)).await {
            Ok(element) => Ok(element),
            Err(e) => Err(format!("no element {css}: {e}")),
        }
    })
    .await
}

/// The text of the element `css` selects, once it contains `want`.
async fn text_with(client: &Client, what: &str, css: &str, want: &str) -> String {
    wait::until(what, PAGE_TIMEOUT, || async move {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.map_err(|e| e.to_string())?,
            Err(e) => return Err(format!("no element {css}: {e}")),
        };
        if text.contains(want) {
            Ok(text)
        } else {
            Err(format!("{css} reads {text:?}"))
        }
    })
    .await
}

/// One raw HTTP/1.1 request to the dashboard; the status line and body of the answer.
async fn raw_request(url: &str, request: &str) -> String {
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connecting to the dashboard");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PAGE_TIMEOUT, stream.read_to_string(&mut answer))
        .await
        .expect("the dashboard answers a raw request")
        .expect("reading the answer");
    answer
}

/// Width and height of a PNG, read from its IHDR chunk; `None` unless it is a PNG.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 33 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((number(16), number(20)))
}

async fn assert_visible(client: &Client, what: &str, css: &str) {
    let element = shown(client, what, css).await;
    assert!(
        element.is_displayed().await.expect("is_displayed"),
        "{what} ({css}) is not displayed"
    );
    let (_, _, width, height) = element.rectangle().await.expect("rectangle");
    assert!(
        width > 0.0 && height > 0.0,
        "{what} ({css}) has no area: {width}x{height}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_resources_by_phase_live_and_pauses_one() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let kubeconfig = cp.kubeconfig_path();
    let ns = cp.namespace("ap-dashboard").await.expect("namespace");
    let ns = ns.name();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("autopilot.yaml"), ROLLOUTS).unwrap();
    as_user::install_generated_crd(dir.path(), kubeconfig, &format!("rollouts.{GROUP}"));
    for name in ["web", "api", "docs"] {
        as_user::apply(
            kubeconfig,
            &format!(
                "apiVersion: {GROUP}/v1\nkind: Rollout\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  behavior: ok\n"
            ),
        );
    }
    let api = rollouts(&client, ns);
    set_status(
        &api,
        "web",
        json!({
            "phase": "Processing",
            "statusInfo": {"weight": 20, "checks": [
                {"name": "error-rate", "value": 0.4, "max": 1, "passed": true},
                {"name": "latency-p99", "value": 310, "max": 500, "passed": true},
            ]},
            "conditions": [condition("Ready", "False", "InProgress", "shifting traffic: 20%")],
        }),
    )
    .await;
    set_status(
        &api,
        "docs",
        json!({"phase": "Finished",
               "conditions": [condition("Ready", "True", "Completed", "done")]}),
    )
    .await;

    let (dashboard, url) = start_dashboard(kubeconfig, dir.path(), ns).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = browser(profile.path()).await;
    browser.goto(&url).await.expect("opening the dashboard");

    // By phase: each resource in its phase's column, one without status in its own.
    let card = |phase: &str, name: &str| {
        format!(r#".phase-col[data-phase="{phase}"] [data-resource="{ns}/{name}"]"#)
    };
    shown(
        &browser,
        "web in the Processing column",
        &card("Processing", "web"),
    )
    .await;
    shown(
        &browser,
        "docs in the Finished column",
        &card("Finished", "docs"),
    )
    .await;
    shown(&browser, "api among those without status", &card("", "api")).await;
    let web = text_with(
        &browser,
        "web's card to show its Weight column",
        &card("Processing", "web"),
        "Weight",
    )
    .await;
    assert!(
        web.contains("20") && web.contains("Ready=False (InProgress)"),
        "{web}"
    );

    // Live: a status written through the API moves the card, without a reload.
    browser
        .execute("window.notReloaded = true;", vec![])
        .await
        .expect("marking the page");
    set_status(
        &api,
        "api",
        json!({"phase": "Processing",
               "conditions": [condition("WorkerError", "True", "InvalidArgument", "spec.behavior is refused")]}),
    )
    .await;
    let moved = text_with(
        &browser,
        "api's card to move to Processing with its WorkerError message",
        &card("Processing", "api"),
        "spec.behavior is refused",
    )
    .await;
    assert!(
        moved.contains("WorkerError=True (InvalidArgument)"),
        "{moved}"
    );
    let marked = browser
        .execute("return window.notReloaded === true;", vec![])
        .await
        .expect("reading the mark");
    assert_eq!(marked, json!(true), "the page was reloaded");
    assert!(
        browser
            .find_all(Locator::Css(&card("", "api")))
            .await
            .unwrap()
            .is_empty(),
        "api is still shown without status"
    );

    // The detail: statusInfo as it is, the gate waiting; Pause acts as `ap pause` does.
    browser
        .find(Locator::Css(&card("Processing", "web")))
        .await
        .unwrap()
        .click()
        .await
        .expect("clicking web's card");
    let info = text_with(
        &browser,
        "web's statusInfo checks in the detail",
        r#"#detail [data-part="status-info"]"#,
        "latency-p99",
    )
    .await;
    assert!(
        info.contains("error-rate") && info.contains("500"),
        "{info}"
    );
    text_with(
        &browser,
        "the promote gate waiting in the detail",
        r#"#detail [data-part="gates"]"#,
        "waiting for approval",
    )
    .await;
    shown(
        &browser,
        "the Pause button",
        r#"#detail button[data-verb="pause"]"#,
    )
    .await
    .click()
    .await
    .expect("clicking Pause");
    wait::until(
        "the Pause button to set autopilot.dev/paused on web",
        PAGE_TIMEOUT,
        || {
            let api = api.clone();
            async move {
                let annotations = api
                    .get("web")
                    .await
                    .map_err(|e| e.to_string())?
                    .metadata
                    .annotations
                    .unwrap_or_default();
                match annotations.get("autopilot.dev/paused").map(String::as_str) {
                    Some("true") if annotations.contains_key("autopilot.dev/paused-by") => Ok(()),
                    _ => Err(format!("{annotations:?}")),
                }
            }
        },
    )
    .await;
    // The change comes back over the watch: Resume replaces Pause, the card says Paused, and
    // the Event ap recorded is listed.
    shown(
        &browser,
        "the Resume button after pausing",
        r#"#detail button[data-verb="resume"]"#,
    )
    .await;
    text_with(
        &browser,
        "web's card to say Paused",
        &card("Processing", "web"),
        "Paused",
    )
    .await;
    text_with(
        &browser,
        "the Paused Event in web's detail",
        r#"#detail [data-part="events"]"#,
        "Paused",
    )
    .await;

    // Requests that are not the page's are refused, and change nothing.
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    let forged = raw_request(
        &url,
        &format!("POST /api/resources/{ns}/api/pause HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(forged.starts_with("HTTP/1.1 403"), "{forged}");
    assert!(
        forged.contains("X-Autopilot-Token") || forged.contains("x-autopilot-token"),
        "{forged}"
    );
    let rebound = raw_request(
        &url,
        &format!("GET / HTTP/1.1\r\nHost: attacker.example:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    let untouched = api.get("api").await.unwrap();
    assert!(
        !untouched
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("autopilot.dev/paused"),
        "a forged POST paused api"
    );

    // The screenshot, with what matters displayed.
    for (what, css) in [
        ("the board", "#board"),
        ("web's card", card("Processing", "web").as_str()),
        ("api's card", card("Processing", "api").as_str()),
        ("the detail", "#detail"),
        ("the Resume button", r#"#detail button[data-verb="resume"]"#),
        ("the status info", r#"#detail [data-part="status-info"]"#),
        ("the live indicator", r#"#live[data-state="live"]"#),
    ] {
        assert_visible(&browser, what, css).await;
    }
    let png = browser.screenshot().await.expect("taking a screenshot");
    let (width, height) = png_size(&png).expect("the screenshot is a PNG");
    assert!(width >= 800 && height >= 600, "screenshot {width}x{height}");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).unwrap();
    let path = shots.join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    println!(
        "screenshot: {} ({width}x{height}, {} bytes)",
        path.display(),
        png.len()
    );

    browser.close().await.expect("closing the browser");
    assert!(
        !dashboard.output().contains("panicked"),
        "{}",
        dashboard.output()
    );
    drop(dashboard);
}
