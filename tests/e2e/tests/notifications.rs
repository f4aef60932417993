//! Notifications end to end: the scheduler as a process on a real control plane with the
//! scripted worker, telling local receivers — an HTTP webhook receiver that checks the HMAC
//! signature and is down until the resource has finished (so delivery is retried and the
//! resource is not held up), a Slack-format receiver, a receiver that never answers (counted in
//! `/metrics`), and a real Alertmanager (Debian's `prometheus-alertmanager`) whose API then
//! lists the alert with the resource's labels.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_e2e::project::{self, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(120);
const KEY: &str = "notify-key-1";
const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// One POST a receiver got.
#[derive(Debug, Clone)]
struct Post {
    headers: HeaderMap,
    body: Bytes,
    /// What the receiver answered.
    accepted: bool,
}

impl Post {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A local HTTP receiver that records every POST and answers 503 while `down` is set.
#[derive(Debug, Clone, Default)]
struct Receiver {
    posts: Arc<Mutex<Vec<Post>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    async fn serve(&self) -> SocketAddr {
        async fn post(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let accepted = !r.down.load(Ordering::SeqCst);
            r.posts.lock().unwrap().push(Post {
                headers,
                body,
                accepted,
            });
            if accepted {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
        let app = axum::Router::new()
            .route("/", axum::routing::post(post))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn accepted(&self) -> Vec<Post> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.accepted)
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

/// The signature a receiver expects, computed here independently of the scheduler's code.
fn expected_signature(timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `text` without terminal colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address the scheduler bound /metrics on, from its log.
async fn metrics_addr(sched: &SchedulerProcess) -> String {
    wait::until(
        "the scheduler to log its bound /metrics address",
        TIMEOUT,
        || async {
            let log = strip_ansi(&sched.log_text());
            log.lines()
                .find(|l| l.contains("serving /metrics"))
                .and_then(|l| l.split("bound=").nth(1))
                .map(|a| a.split_whitespace().next().unwrap_or_default().to_string())
                .ok_or_else(|| "no 'serving /metrics' line yet".to_string())
        },
    )
    .await
}

/// GETs `http://addr/path`; returns the body.
async fn http_get(addr: &str, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(out))
}

/// The value of the sample `name{labels}` in a Prometheus exposition, if present.
fn sample(exposition: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn wait_phase(client: &kube::Client, ns: &str, name: &str, phase: &str) -> Value {
    wait::until(
        &format!("Task {name} to reach {phase}"),
        TIMEOUT,
        || async {
            let st = task_status(client, ns, name).await;
            if st["phase"] == phase {
                Ok(st)
            } else {
                Err(st.to_string())
            }
        },
    )
    .await
}

/// The webhook gets phase changes, the finish and the failure of a Task, signed; it is down
/// until the Task has finished, so the Task is not held up and the notifications arrive by
/// retry, each with the same delivery id on every attempt. Slack gets text from its template.
/// A receiver nobody listens on is counted in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signed_retried_slack_text_and_failures_counted() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("notify").await.expect("namespace");
    let ns = ns.name().to_string();
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;

    let hook = Receiver::default();
    hook.down.store(true, Ordering::SeqCst);
    let hook_addr = hook.serve().await;
    let slack = Receiver::default();
    let slack_addr = slack.serve().await;
    // A port that was free a moment ago: nothing answers there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("hmac-key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let notifications = format!(
        "notifications:
  - name: hook
    webhook: {{url: 'http://{hook_addr}/', secretFile: '{}'}}
  - name: chat
    slack: {{url: 'http://{slack_addr}/'}}
    events: [phaseChanged, failed]
    namespaces: [{ns}]
    template: '{{{{ event }}}}: {{{{ kind }}}} {{{{ name }}}} ({{{{ spec.message }}}}) now {{{{ phase }}}}'
  - name: nobody
    webhook: {{url: 'http://{closed}/'}}
    events: [finished]
",
        key_file.display()
    );
    project::write(dir.path(), project::THREE_PHASES, &endpoint, &notifications);
    let sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), &ns, &[]);
    let metrics = metrics_addr(&sched).await;

    create_task(&client, &ns, "alpha", "ok").await;
    create_task(&client, &ns, "bad", "invalid").await;
    // The receiver is down all this time: the Task still goes all the way.
    wait_phase(&client, &ns, "alpha", "Finished").await;
    assert!(
        hook.accepted().is_empty(),
        "the webhook accepted nothing yet"
    );
    let refused = hook.all();
    assert!(
        !refused.is_empty(),
        "the scheduler tried while the hook was down"
    );
    hook.down.store(false, Ordering::SeqCst);

    // Every notification arrives, by retry.
    let want = [
        ("alpha", "phaseChanged", "Processing"),
        ("alpha", "phaseChanged", "Finished"),
        ("alpha", "finished", "Finished"),
        ("bad", "failed", "Initializing"),
        ("bad", "blocked", "Initializing"),
    ];
    let posts = wait::until(
        "the webhook to receive alpha's phase changes and finish, and bad's failure",
        TIMEOUT,
        || async {
            let got = hook.accepted();
            let seen: Vec<(String, String, String)> = got
                .iter()
                .map(|p| {
                    let b = p.json();
                    (
                        b["name"].as_str().unwrap_or_default().to_owned(),
                        b["event"].as_str().unwrap_or_default().to_owned(),
                        b["phase"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let missing: Vec<_> = want
                .iter()
                .filter(|(n, e, p)| {
                    !seen
                        .iter()
                        .any(|s| (s.0.as_str(), s.1.as_str(), s.2.as_str()) == (*n, *e, *p))
                })
                .collect();
            if missing.is_empty() {
                Ok(got)
            } else {
                Err(format!("missing {missing:?}; seen {seen:?}"))
            }
        },
    )
    .await;

    for p in &posts {
        // The signature covers timestamp and body, and verifies with the key.
        let ts = p.header("x-autopilot-timestamp");
        assert!(ts.parse::<u64>().is_ok(), "timestamp header: {ts:?}");
        assert_eq!(
            p.header("x-autopilot-signature"),
            expected_signature(ts, &p.body),
            "signature of {}",
            String::from_utf8_lossy(&p.body)
        );
        let b = p.json();
        assert_eq!(p.header("x-autopilot-event"), b["event"]);
        assert_eq!(p.header("x-autopilot-delivery"), b["id"]);
        assert_eq!(b["operator"], "task-operator");
        assert_eq!(b["kind"], "Task");
        assert_eq!(b["apiVersion"], "e2e.autopilot.dev/v1");
        assert_eq!(b["namespace"], ns.as_str());
        assert!(b["uid"].as_str().is_some_and(|u| !u.is_empty()));
    }
    let find = |name: &str, event: &str, phase: &str| {
        posts
            .iter()
            .map(Post::json)
            .find(|b| b["name"] == name && b["event"] == event && b["phase"] == phase)
            .unwrap()
    };
    let moved = find("alpha", "phaseChanged", "Processing");
    assert_eq!(moved["previousPhase"], "Initializing");
    assert_eq!(
        moved["text"],
        "Task ".to_owned() + &ns + "/alpha: Initializing -> Processing"
    );
    let failed = find("bad", "failed", "Initializing");
    assert_eq!(failed["reason"], "InvalidArgument");
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains("spec.behavior says invalid")),
        "{failed}"
    );
    // Retries carry the id of the first attempt: some refused post has an id that was later
    // accepted.
    let accepted_ids: Vec<String> = posts
        .iter()
        .map(|p| p.header("x-autopilot-delivery").to_owned())
        .collect();
    assert!(
        refused
            .iter()
            .any(|p| accepted_ids.contains(&p.header("x-autopilot-delivery").to_owned())),
        "a refused delivery was retried under its own id"
    );
    // The Task was not slowed by the receiver: Processing was called once, Finished reached
    // before the receiver accepted anything (checked above).
    assert_eq!(
        worker
            .calls(&format!("{ns}/alpha"))
            .iter()
            .filter(|c| c.method == "Sync:Processing")
            .count(),
        1
    );

    // Slack: text from the template, only the events asked for.
    let texts = wait::until(
        "Slack to receive alpha's and bad's texts",
        TIMEOUT,
        || async {
            let texts: Vec<String> = slack
                .accepted()
                .iter()
                .map(|p| p.json()["text"].as_str().unwrap_or_default().to_owned())
                .collect();
            let want = [
                "phaseChanged: Task alpha (hello from alpha) now Processing",
                "phaseChanged: Task alpha (hello from alpha) now Finished",
                "failed: Task bad (hello from bad) now Initializing",
            ];
            if want.iter().all(|w| texts.iter().any(|t| t == w)) {
                Ok(texts)
            } else {
                Err(format!("{texts:?}"))
            }
        },
    )
    .await;
    assert!(
        texts
            .iter()
            .all(|t| !t.starts_with("blocked") && !t.starts_with("finished")),
        "only phaseChanged and failed go to chat: {texts:?}"
    );

    // Metrics: the receiver nobody listens on is counted; the hook's retries and deliveries too.
    wait::until(
        "/metrics to count the failing receiver and the hook's deliveries",
        TIMEOUT,
        || async {
            let m = http_get(&metrics, "/metrics").await?;
            let count = |receiver: &str, outcome: &str| {
                sample(
                    &m,
                    "autopilot_notifications_total",
                    &format!("receiver=\"{receiver}\",outcome=\"{outcome}\""),
                )
                .unwrap_or(0.0)
            };
            let (nobody, retried, delivered) = (
                count("nobody", "retried"),
                count("hook", "retried"),
                count("hook", "delivered"),
            );
            if nobody >= 1.0 && retried >= 1.0 && delivered >= 5.0 {
                Ok(())
            } else {
                Err(format!(
                    "nobody retried {nobody}, hook retried {retried}, hook delivered {delivered}"
                ))
            }
        },
    )
    .await;
}

/// Alertmanager, started on loopback with a minimal configuration.
struct Alertmanager {
    child: tokio::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    async fn start() -> Self {
        assert!(
            std::path::Path::new(ALERTMANAGER).exists(),
            "{ALERTMANAGER} is missing: run hack/install-deps.sh (Debian package prometheus-alertmanager)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: none\nreceivers:\n  - name: none\n",
        )
        .unwrap();
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let child = tokio::process::Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            // No cluster: one instance, no gossip port.
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::from(log.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("starting alertmanager");
        let am = Alertmanager {
            child,
            addr,
            _dir: dir,
        };
        wait::until("Alertmanager to be ready", TIMEOUT, || async {
            http_get(&am.addr.to_string(), "/-/ready").await.map(drop)
        })
        .await;
        am
    }

    async fn alerts(&self) -> Result<Vec<Value>, String> {
        let body = http_get(&self.addr.to_string(), "/api/v2/alerts").await?;
        serde_json::from_str::<Vec<Value>>(&body).map_err(|e| format!("{e}: {body}"))
    }
}

/// A Task whose worker refuses it fires an alert at a real Alertmanager with the resource's
/// labels; one that fails twice and then succeeds resolves its alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_lists_the_alert_of_a_failing_task() {
    let mut am = Alertmanager::start().await;
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("notify-am").await.expect("namespace");
    let ns = ns.name().to_string();
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let notifications = format!(
        "notifications:\n  - name: alerts\n    alertmanager: {{url: 'http://{}'}}\n",
        am.addr
    );
    project::write(dir.path(), project::THREE_PHASES, &endpoint, &notifications);
    let sched = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), &ns, &[]);
    let metrics = metrics_addr(&sched).await;

    create_task(&client, &ns, "bad", "invalid").await;
    create_task(&client, &ns, "flaky", "unavailable-twice").await;
    wait_phase(&client, &ns, "flaky", "Finished").await;

    let alerts = wait::until(
        "Alertmanager to list bad's failed and blocked alerts",
        TIMEOUT,
        || async {
            let alerts = am.alerts().await?;
            let ours: Vec<&Value> = alerts
                .iter()
                .filter(|a| a["labels"]["name"] == "bad")
                .collect();
            if ours.len() == 2 {
                Ok(alerts.clone())
            } else {
                Err(format!("{alerts:?}"))
            }
        },
    )
    .await;
    let mut names: Vec<&str> = alerts
        .iter()
        .filter(|a| a["labels"]["name"] == "bad")
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["AutopilotResourceBlocked", "AutopilotResourceFailed"]
    );
    let failed = alerts
        .iter()
        .find(|a| {
            a["labels"]["name"] == "bad" && a["labels"]["alertname"] == "AutopilotResourceFailed"
        })
        .unwrap();
    let labels = &failed["labels"];
    assert_eq!(labels["operator"], "task-operator");
    assert_eq!(labels["kind"], "Task");
    assert_eq!(labels["namespace"], ns.as_str());
    assert_eq!(labels["phase"], "Initializing");
    assert_eq!(labels["reason"], "InvalidArgument");
    assert_eq!(failed["status"]["state"], "active");
    assert!(
        failed["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("failed in Initializing")),
        "{failed}"
    );

    // flaky failed twice and recovered: its alert was fired and resolved, so none is active.
    wait::until(
        "flaky's failure to be sent and resolved (4 deliveries, no active flaky alert)",
        TIMEOUT,
        || async {
            let m = http_get(&metrics, "/metrics").await?;
            let delivered = sample(
                &m,
                "autopilot_notifications_total",
                "receiver=\"alerts\",outcome=\"delivered\"",
            )
            .unwrap_or(0.0);
            let active: Vec<Value> = am
                .alerts()
                .await?
                .into_iter()
                .filter(|a| a["labels"]["name"] == "flaky")
                .collect();
            if delivered >= 4.0 && active.is_empty() {
                Ok(())
            } else {
                Err(format!("delivered {delivered}, flaky alerts {active:?}"))
            }
        },
    )
    .await;
    let _ = am.child.start_kill();
}
