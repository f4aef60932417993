//! The `ap` binary as a user runs it: init, validate, generate, and the golden project.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ap"))
        .args(args)
        .output()
        .expect("ap runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` (relative path → contents), skipping build output.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "target" || name == "Cargo.lock" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn init_validate_generate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let dir_s = dir.to_str().unwrap();

    let init = ap(&[
        "init",
        dir_s,
        "--kind",
        "Demo",
        "--group",
        "demo.example.com",
    ]);
    assert!(init.status.success(), "{}", text(&init.stderr));

    let validate = ap(&["validate", dir_s]);
    assert!(validate.status.success(), "{}", text(&validate.stderr));
    assert!(text(&validate.stdout).starts_with("ok: Demo (demo.example.com/v1), 3 phases"));

    let sdk = repo_root().join("sdk-rust");
    let generate = [
        "generate",
        dir_s,
        "--lang",
        "rust",
        "--sdk-path",
        sdk.to_str().unwrap(),
    ];
    let first = ap(&generate);
    assert!(first.status.success(), "{}", text(&first.stderr));
    for file in [
        "deploy/crd.yaml",
        "deploy/rbac.yaml",
        "deploy/example.yaml",
        "worker/Cargo.toml",
        "worker/src/main.rs",
        "worker/src/model.rs",
        "worker/src/phases/mod.rs",
        "worker/src/phases/initializing.rs",
        "worker/src/phases/processing.rs",
        "worker/tests/phases.rs",
        ".autopilot/generated.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let before = tree(&dir);
    let second = ap(&generate);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("0 written"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(tree(&dir), before, "a second generate changed files");

    let again = ap(&["init", dir_s]);
    assert_eq!(again.status.code(), Some(1));
    let err = text(&again.stderr);
    assert!(err.contains("autopilot.yaml already exists"), "{err}");
    assert!(!err.contains("backtrace"), "{err}");

    // The project's one worker is in Rust: no other language has a worker to generate.
    let go = ap(&["generate", dir_s, "--lang", "go"]);
    assert_eq!(go.status.code(), Some(1));
    let err = text(&go.stderr);
    assert!(
        err.contains("no worker of this project is in go") || err.contains("not supported yet"),
        "{err}"
    );
}

/// `ap init --lang L` writes a project whose one worker is in L, so `ap generate --lang L`
/// finds it (and generates it wherever a generator for L exists).
#[test]
fn init_in_every_language() {
    let tmp = tempfile::tempdir().unwrap();
    for lang in ["rust", "go", "python", "typescript", "java"] {
        let dir = tmp.path().join(lang);
        let dir_s = dir.to_str().unwrap();
        let init = ap(&["init", dir_s, "--lang", lang, "--kind", "Canary"]);
        assert!(init.status.success(), "{lang}: {}", text(&init.stderr));
        assert!(
            text(&init.stdout).contains(&format!("ap generate --lang {lang}")),
            "{lang}: {}",
            text(&init.stdout)
        );
        let validate = ap(&["validate", dir_s]);
        assert!(
            validate.status.success(),
            "{lang}: {}",
            text(&validate.stderr)
        );
        assert!(
            text(&validate.stdout).ends_with(", 1 worker\n"),
            "{lang}: {}",
            text(&validate.stdout)
        );
        let project = fs::read_to_string(dir.join("autopilot.yaml")).unwrap();
        if lang == "rust" {
            // The default worker: Rust, named after the operator, serving every phase.
            assert!(!project.contains("workers:"), "{project}");
        } else {
            assert!(
                project.contains(&format!(
                    "workers:\n  - name: canary-worker\n    language: {lang}\n"
                )),
                "{lang}: {project}"
            );
        }
        let generate = ap(&["generate", dir_s, "--lang", lang, "--sdk=registry"]);
        let err = text(&generate.stderr);
        assert!(
            !err.contains("no worker of this project"),
            "{lang}: generate did not find the worker: {err}"
        );
        if lang == "rust" {
            assert!(generate.status.success(), "{err}");
            assert!(dir.join("worker/src/phases/initializing.rs").is_file());
        }
    }
    let bad = ap(&[
        "init",
        tmp.path().join("x").to_str().unwrap(),
        "--lang",
        "cobol",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("cobol"), "{}", text(&bad.stderr));
}

#[test]
fn validate_reports_file_line_column() {
    let tmp = tempfile::tempdir().unwrap();
    const HEAD: &str = "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n";
    const DONE: &str = "  - name: Done\n    final: true\n";
    let missing_field = "apiVersion: demo.example.com/v1\nkind: Greeting\nspec: {type: object}\n\
                         phases:\n  - name: Greeting\n    initial: true\n";
    let wrong_type = format!(
        "{HEAD}spec: {{type: object}}\nfinalizer: maybe\nphases:\n  - name: Greeting\n    \
         initial: true\n{DONE}"
    );
    let wrong_shape = format!(
        "{HEAD}spec: {{type: object}}\nphases:\n  - name: Greeting\n    initial: true\n    \
         outputs: configmaps\n{DONE}"
    );
    let unknown_output = format!(
        "{HEAD}spec: {{type: object}}\nphases:\n  - name: Greeting\n    initial: true\n    \
         outputs: [configmaps, widgets]\n{DONE}"
    );
    let default_of_wrong_type = format!(
        "{HEAD}spec:\n  type: object\n  properties:\n    abortPercent: {{type: integer, \
         default: \"ten\"}}\nphases:\n  - name: Greeting\n    initial: true\n{DONE}"
    );
    let misspelt_template_path = format!(
        "{HEAD}spec:\n  type: object\n  properties:\n    targetHost: {{type: string}}\n\
         phases:\n  - name: Greeting\n    initial: true\n    inputs: [metrics]\n{DONE}\
         queries:\n  - name: rate\n    query: 'up{{h=\"{{{{ spec.targetHst }}}}\"}}'\n"
    );
    // (directory, autopilot.yaml, location, what the message says)
    let cases: [(&str, &str, &str, &str); 8] = [
        (
            "missing-field",
            missing_field,
            "autopilot.yaml:1:1:",
            "operatorName: missing required field",
        ),
        (
            "wrong-type",
            &wrong_type,
            "autopilot.yaml:5:12:",
            "finalizer: expected true or false, found `maybe`",
        ),
        (
            "list-expected",
            &wrong_shape,
            "autopilot.yaml:8:14:",
            "phases[0].outputs: expected a list, found `configmaps`",
        ),
        (
            "unknown-output",
            &unknown_output,
            "autopilot.yaml:8:27:",
            "phases[0].outputs[1]: unknown parameter `widgets` (one of: events, configmaps,",
        ),
        (
            "bad-indent",
            "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n\
             spec: {type: object}\nphases:\n  - name: Greeting\n     initial: true\n",
            "autopilot.yaml:7:",
            "",
        ),
        (
            "default-of-wrong-type",
            &default_of_wrong_type,
            "autopilot.yaml:7:44:",
            "spec.properties.abortPercent.default: default must be an integer",
        ),
        (
            "misspelt-template-path",
            &misspelt_template_path,
            "autopilot.yaml:16:12:",
            "queries[0].query: `{{ spec.targetHst }}` is not in the spec schema: `spec` has no \
             field `targetHst`; did you mean `targetHost`?",
        ),
        (
            "unknown-next",
            "apiVersion: demo.example.com/v1\nkind: Greeting\noperatorName: greeter\n\
             spec: {type: object}\nphases:\n  - name: Greeting\n    initial: true\n    \
             next: [Nowhere]\n  - name: Done\n    final: true\n",
            "autopilot.yaml:8:",
            "Nowhere",
        ),
    ];
    for (name, yaml, location, says) in cases {
        let dir = tmp.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("autopilot.yaml"), yaml).unwrap();
        let out = ap(&["validate", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = text(&out.stderr);
        let want = format!("{}/{location}", dir.display());
        assert!(
            err.lines()
                .any(|l| l.starts_with(&want) && l.contains(says)),
            "{name}: expected a line starting {want:?} saying {says:?}, got\n{err}"
        );
        // generate validates first, with the same output.
        let generate = ap(&["generate", dir.to_str().unwrap()]);
        assert_eq!(generate.status.code(), Some(1));
        assert_eq!(text(&generate.stderr), err);
    }
}

#[test]
fn completion_and_help() {
    let bash = ap(&["completion", "bash"]);
    assert!(bash.status.success());
    assert!(text(&bash.stdout).contains("_ap()"));
    for command in ["init", "validate", "generate", "completion"] {
        let help = ap(&[command, "--help"]);
        assert!(text(&help.stdout).contains("Examples:"), "{command}");
    }
    assert!(ap(&["--version"]).status.success());
}

/// `tests/golden/regenerate.sh` run into a temporary directory reproduces the checked-in
/// `tests/golden/rust` byte for byte. After an intended change, run the script and commit.
#[test]
fn golden_rust_project_is_current() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rust");
    let root = repo_root();
    let status = Command::new("bash")
        .arg(root.join("tests/golden/regenerate.sh"))
        .arg(&out)
        .env("AP", env!("CARGO_BIN_EXE_ap"))
        .status()
        .expect("bash runs");
    assert!(status.success());
    let golden = tree(&root.join("tests/golden/rust"));
    let fresh = tree(&out);
    assert_eq!(
        golden.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "file lists differ; run tests/golden/regenerate.sh"
    );
    for (path, contents) in &golden {
        assert!(
            fresh[path] == *contents,
            "{path} differs from a fresh generation; run tests/golden/regenerate.sh"
        );
    }
}
