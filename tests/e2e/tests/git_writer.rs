//! The scheduler's Git writer against a real Git server (git http-backend on loopback): one
//! commit per change, none for a no-op, concurrent writers, a lost race rebased, wrong
//! credentials, pruning, branch-per-change and the applied-revision check; and the same writer
//! over SSH against OpenSSH's sshd with a key and known_hosts.

use std::path::PathBuf;
use std::sync::Arc;

use autopilot_e2e::git_server::GitServer;
use autopilot_e2e::ssh_git::SshGitServer;
use autopilot_model::git::{
    Author, CredentialFiles, Credentials, DEFAULT_MESSAGE, DEFAULT_PATH, GitTarget,
};
use autopilot_scheduler::git::{Change, GitError, Writer};
use serde_json::{Value, json};

const VS: (&str, &str) = ("networking.istio.io/v1", "VirtualService");

fn target(url: &str) -> GitTarget {
    GitTarget {
        name: "fleet".into(),
        url: url.into(),
        branch: "main".into(),
        path: format!("clusters/{DEFAULT_PATH}"),
        author: Author::default(),
        message: DEFAULT_MESSAGE.into(),
        credentials: None,
        branch_prefix: None,
        wait_for: None,
    }
}

fn writer(target: GitTarget, dir: &tempfile::TempDir, clone: &str) -> Writer {
    Writer::new(target, dir.path().join(clone))
}

fn resource(name: &str, generation: i64) -> Value {
    json!({
        "apiVersion": "demo.example.com/v1", "kind": "Canary",
        "metadata": {"name": name, "namespace": "prod", "generation": generation, "uid": "u"},
        "spec": {},
    })
}

fn vs(name: &str, weight: u32) -> Value {
    json!({
        "apiVersion": VS.0, "kind": VS.1,
        "metadata": {"name": name, "namespace": "prod", "uid": "x", "resourceVersion": "1"},
        "spec": {"hosts": [name], "http": [{"route": [
            {"destination": {"host": name, "subset": "primary"}, "weight": 100 - weight},
            {"destination": {"host": name, "subset": "canary"}, "weight": weight},
        ]}]},
    })
}

fn change<'a>(
    resource: &'a Value,
    phase: &'a str,
    objects: &'a [Value],
    prune: bool,
) -> Change<'a> {
    Change {
        resource,
        kind: "Canary",
        phase,
        generation: resource["metadata"]["generation"].as_i64().unwrap(),
        objects,
        prune,
        output_kinds: vec![(VS.0.to_owned(), VS.1.to_owned())],
    }
}

const WEB_FILE: &str = "clusters/prod/web/virtualservice.networking.istio.io-web.yaml";

#[tokio::test]
async fn one_commit_per_change_and_none_for_a_no_op() {
    let server = GitServer::start().await;
    let url = server.create_repo("fleet").await;
    let dir = tempfile::tempdir().unwrap();
    let w = writer(target(&url), &dir, "a");
    let web = resource("web", 1);

    let first = w
        .write(&change(&web, "Progressing", &[vs("web", 20)], false))
        .await
        .unwrap();
    assert!(first.committed);
    assert_eq!(first.branch, "main");
    let log = server.log("fleet", "main").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, first.commit);
    let message = &log[0].1;
    for line in [
        "Canary prod/web: Progressing",
        "Autopilot-Resource: prod/web",
        "Autopilot-Phase: Progressing",
        "Autopilot-Generation: 1",
    ] {
        assert!(message.contains(line), "{line:?} not in\n{message}");
    }
    let text = server.file("fleet", "main", WEB_FILE).await.unwrap();
    assert!(text.contains("weight: 20"), "{text}");
    assert!(!text.contains("resourceVersion"), "{text}");

    // The same result again: nothing to commit, the head is reported.
    let again = w
        .write(&change(&web, "Progressing", &[vs("web", 20)], false))
        .await
        .unwrap();
    assert!(!again.committed);
    assert_eq!(again.commit, first.commit);
    assert_eq!(server.log("fleet", "main").await.len(), 1);

    // A new weight is one more commit; a fresh writer (a restarted scheduler) sees the same.
    let other = writer(target(&url), &dir, "b");
    let step = other
        .write(&change(&web, "Progressing", &[vs("web", 40)], false))
        .await
        .unwrap();
    assert!(step.committed);
    assert_eq!(server.log("fleet", "main").await.len(), 2);
    assert!(
        other
            .write(&change(&web, "Progressing", &[vs("web", 40)], false))
            .await
            .unwrap()
            .commit
            == step.commit
    );
    assert!(
        w.is_applied(&first.commit, &format!("main@sha1:{}", step.commit))
            .await
            .unwrap()
    );
    assert!(
        !w.is_applied(&step.commit, &format!("main@sha1:{}", first.commit))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn concurrent_resources_lose_no_commit() {
    let server = GitServer::start().await;
    let url = server.create_repo("fleet").await;
    let dir = tempfile::tempdir().unwrap();
    // Two writers on one repository, as two scheduler replicas would be: their pushes race
    // for real and the loser rebases. Within a writer, writes are serialised.
    let writers = [
        Arc::new(writer(target(&url), &dir, "a")),
        Arc::new(writer(target(&url), &dir, "b")),
    ];
    let names: Vec<String> = (0..8).map(|i| format!("svc{i}")).collect();
    let mut tasks = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let w = writers[i % 2].clone();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            let r = resource(&name, 1);
            let objects = [vs(&name, 10)];
            w.write(&change(&r, "Progressing", &objects, false)).await
        }));
    }
    let mut rebases = 0;
    for t in tasks {
        let pushed = t.await.unwrap().unwrap();
        assert!(pushed.committed);
        rebases += pushed.rebases;
    }
    let log = server.log("fleet", "main").await;
    assert_eq!(log.len(), names.len(), "one commit per resource: {log:#?}");
    let files = server.files("fleet", "main").await;
    for name in &names {
        let want = format!("clusters/prod/{name}/virtualservice.networking.istio.io-{name}.yaml");
        assert!(files.contains(&want), "{want} missing from {files:?}");
    }
    println!("8 concurrent writes over two writers: {rebases} rebases");
}

#[tokio::test]
async fn a_push_that_lost_a_race_is_rebased_and_pushed() {
    let server = GitServer::start().await;
    let url = server.create_repo("fleet").await;
    server
        .commit_elsewhere("fleet", "main", "README.md", "fleet\n")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let w = writer(target(&url), &dir, "a");
    // Another writer pushes between our fetch and our push: git refuses ours (fetch first).
    server.race_next_push("fleet", "main", "clusters/other/x.yaml", "x: 1\n");
    let web = resource("web", 2);
    let pushed = w
        .write(&change(&web, "Progressing", &[vs("web", 20)], false))
        .await
        .unwrap();
    assert!(pushed.committed);
    assert_eq!(pushed.rebases, 1, "the first push must have been refused");
    let log = server.log("fleet", "main").await;
    assert_eq!(log.len(), 3, "{log:#?}");
    assert_eq!(
        log[0].0, pushed.commit,
        "ours is on top of the racing commit"
    );
    assert!(log[1].1.starts_with("elsewhere: clusters/other/x.yaml"));
    let files = server.files("fleet", "main").await;
    assert!(files.contains(&"clusters/other/x.yaml".to_owned()));
    assert!(files.contains(&WEB_FILE.to_owned()));
}

#[tokio::test]
async fn wrong_credentials_fail_clearly_and_lose_nothing() {
    let server = GitServer::start().await;
    let url = server.create_repo("fleet").await;
    server.require_basic_auth("autopilot", "s3cret");
    let dir = tempfile::tempdir().unwrap();
    let password: PathBuf = dir.path().join("password");
    let username: PathBuf = dir.path().join("username");
    tokio::fs::write(&password, "wrong\n").await.unwrap();
    tokio::fs::write(&username, "autopilot\n").await.unwrap();
    let mut t = target(&url);
    t.credentials = Some(Credentials::Files(CredentialFiles {
        username_file: Some(username),
        password_file: Some(password.clone()),
        ..CredentialFiles::default()
    }));
    let w = writer(t, &dir, "a");
    let web = resource("web", 1);
    let objects = [vs("web", 20)];
    let err = w
        .write(&change(&web, "Progressing", &objects, false))
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::AuthFailed { .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.reason(), "GitAuthFailed");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(server.log("fleet", "main").await.is_empty());

    // The Secret is fixed: the next attempt (the scheduler's retry) pushes the same change.
    tokio::fs::write(&password, "s3cret\n").await.unwrap();
    let pushed = w
        .write(&change(&web, "Progressing", &objects, false))
        .await
        .unwrap();
    assert!(pushed.committed);
    assert_eq!(server.log("fleet", "main").await.len(), 1);
    assert!(server.file("fleet", "main", WEB_FILE).await.is_some());
}

#[tokio::test]
async fn ssh_with_a_key_and_known_hosts_pushes_and_a_stranger_key_is_refused() {
    let server = SshGitServer::start().await;
    let url = server.create_repo("fleet").await;
    let dir = tempfile::tempdir().unwrap();
    let with_key = |identity: PathBuf| {
        let mut t = target(&url);
        t.credentials = Some(Credentials::Files(CredentialFiles {
            identity_file: Some(identity),
            known_hosts_file: Some(server.known_hosts()),
            ..CredentialFiles::default()
        }));
        t
    };
    let web = resource("web", 1);
    let objects = [vs("web", 20)];

    // A key the server does not know: a named, retryable failure, nothing pushed.
    let stranger = writer(with_key(server.stranger_identity()), &dir, "stranger");
    let err = stranger
        .write(&change(&web, "Progressing", &objects, false))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("permission denied"),
        "{err}"
    );
    assert_eq!(server.head("fleet", "main").await, None);

    // The authorised key: one commit with the rendered file, over SSH.
    let w = writer(with_key(server.identity()), &dir, "a");
    let pushed = w
        .write(&change(&web, "Progressing", &objects, false))
        .await
        .unwrap();
    assert!(pushed.committed);
    let (subject, files) = server.head("fleet", "main").await.expect("a pushed head");
    assert_eq!(subject, "Canary prod/web: Progressing");
    assert_eq!(files, [WEB_FILE]);
    // Idempotent over SSH too.
    let again = w
        .write(&change(&web, "Progressing", &objects, false))
        .await
        .unwrap();
    assert!(!again.committed);
    assert_eq!(again.commit, pushed.commit);
}

#[tokio::test]
async fn dropped_outputs_are_pruned_only_when_the_phase_prunes() {
    let server = GitServer::start().await;
    let url = server.create_repo("fleet").await;
    let dir = tempfile::tempdir().unwrap();
    let w = writer(target(&url), &dir, "a");
    let web = resource("web", 1);
    w.write(&change(
        &web,
        "Progressing",
        &[vs("web", 0), vs("web-preview", 0)],
        true,
    ))
    .await
    .unwrap();
    let preview = "clusters/prod/web/virtualservice.networking.istio.io-web-preview.yaml";
    assert!(server.file("fleet", "main", preview).await.is_some());

    // Not pruning: the dropped output stays, and nothing changed.
    let kept = w
        .write(&change(&web, "Progressing", &[vs("web", 0)], false))
        .await
        .unwrap();
    assert!(!kept.committed);
    assert!(server.file("fleet", "main", preview).await.is_some());

    // Pruning: its file goes, in one commit.
    let pruned = w
        .write(&change(&web, "Progressing", &[vs("web", 0)], true))
        .await
        .unwrap();
    assert!(pruned.committed);
    assert!(server.file("fleet", "main", preview).await.is_none());
    assert!(server.file("fleet", "main", WEB_FILE).await.is_some());
    assert_eq!(server.log("fleet", "main").await.len(), 2);
}

#[tokio::test]
async fn branch_per_change_pushes_each_change_to_its_own_branch() {
    let server = GitServer::start().await;
    let url = server.create_repo("fleet").await;
    server
        .commit_elsewhere("fleet", "main", "README.md", "fleet\n")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&url);
    t.branch_prefix = Some("autopilot".into());
    let w = writer(t, &dir, "a");
    let web = resource("web", 4);
    let objects = [vs("web", 20)];
    let pushed = w
        .write(&change(&web, "Progressing", &objects, false))
        .await
        .unwrap();
    assert_eq!(pushed.branch, "autopilot/prod/web/g4-progressing");
    assert!(pushed.committed);
    assert_eq!(
        server.log("fleet", "main").await.len(),
        1,
        "main is untouched"
    );
    let branch_log = server.log("fleet", &pushed.branch).await;
    assert_eq!(branch_log[0].0, pushed.commit);
    // The same change again (a restart before status was written) reuses the branch's commit.
    let again = w
        .write(&change(&web, "Progressing", &objects, false))
        .await
        .unwrap();
    assert_eq!(again.commit, pushed.commit);
    assert!(!again.committed);
}

/// Benchmark (not run by default): 100 resources change at once and write into one
/// repository, through one writer (one scheduler) and through two (two replicas racing).
/// `cargo test -p autopilot-e2e --test git_writer -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints commits per second"]
async fn bench_commits_per_second_with_100_resources() {
    const RESOURCES: usize = 100;
    println!("| writers | resources | commits | rebases | seconds | commits/s |");
    println!("|---|---|---|---|---|---|");
    for writers_n in [1_usize, 2] {
        let server = GitServer::start().await;
        let url = server.create_repo("fleet").await;
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<Arc<Writer>> = (0..writers_n)
            .map(|i| Arc::new(writer(target(&url), &dir, &format!("w{i}"))))
            .collect();
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for i in 0..RESOURCES {
            let w = writers[i % writers_n].clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("svc{i}");
                let r = resource(&name, 1);
                let objects = [vs(&name, 20)];
                w.write(&change(&r, "Progressing", &objects, false)).await
            }));
        }
        let mut rebases = 0;
        for t in tasks {
            rebases += t.await.unwrap().unwrap().rebases;
        }
        let secs = started.elapsed().as_secs_f64();
        let commits = server.log("fleet", "main").await.len();
        assert_eq!(commits, RESOURCES);
        println!(
            "| {writers_n} | {RESOURCES} | {commits} | {rebases} | {secs:.1} | {:.1} |",
            commits as f64 / secs
        );
    }
}
