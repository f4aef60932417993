//! What `ap generate --sdk=bundled` does beyond writing files: installs the bundled Java SDK
//! into the local Maven repository, the one place Maven resolves a local package from.
//!
//! The other languages need nothing more: Cargo, Go, pip and npm build the SDK from
//! `worker/third_party/autopilot-sdk` themselves.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use autopilot_codegen::{BUNDLED_DIR, Options, SDK_VERSION, SdkSource};
use autopilot_model::Language;

/// The file beside the installed jar recording which sources it was built from, so that a
/// second `ap generate` does not run Maven again for the same SDK.
const STAMP: &str = "autopilot-sdk.ap-sources";

/// After the project was written: for a Java worker with the bundled SDK, `mvn install` of
/// `worker/third_party/autopilot-sdk` (built in a temporary copy, so the project gets no
/// `target/`), unless the local repository already holds this very SDK. Without Maven on PATH
/// it only says how to do it later.
///
/// # Errors
///
/// When Maven fails, with its output.
pub(crate) fn install(project: &Path, options: &Options) -> anyhow::Result<()> {
    if options.language != Language::Java || options.sdk != SdkSource::Bundled {
        return Ok(());
    }
    let sources = project.join("worker").join(BUNDLED_DIR);
    let hint = format!("mvn -f {}/pom.xml install -DskipTests", sources.display());
    let Some(mvn) = which("mvn") else {
        eprintln!(
            "note: Maven (mvn) is not on PATH, so the bundled Java SDK is not installed in your \
             local Maven repository yet: once Maven is there, run `{hint}`"
        );
        return Ok(());
    };
    let digest = tree_digest(&sources)?;
    let installed = local_repository()
        .map(|repo| repo.join(format!("dev/autopilot/autopilot-sdk/{SDK_VERSION}")));
    if let Some(dir) = &installed
        && std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s.trim() == digest)
        && dir
            .join(format!("autopilot-sdk-{SDK_VERSION}.jar"))
            .is_file()
    {
        println!(
            "unchanged dev.autopilot:autopilot-sdk:{SDK_VERSION} in {}",
            dir.display()
        );
        return Ok(());
    }

    let build = tempfile::tempdir().context("creating a directory to build the Java SDK in")?;
    copy_tree(&sources, build.path())?;
    println!(
        "installing dev.autopilot:autopilot-sdk:{SDK_VERSION} into the local Maven repository (mvn install of {BUNDLED_DIR})"
    );
    let output = Command::new(mvn)
        .args(["-B", "-q", "-Dstyle.color=never", "install", "-DskipTests"])
        .current_dir(build.path())
        .stdin(Stdio::null())
        .output()
        .context("running mvn")?;
    if !output.status.success() {
        bail!(
            "installing the bundled Java SDK failed ({}); fix the cause and run `{hint}`:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if let Some(dir) = &installed
        && dir.is_dir()
    {
        std::fs::write(dir.join(STAMP), format!("{digest}\n"))
            .with_context(|| format!("writing {}", dir.join(STAMP).display()))?;
    }
    Ok(())
}

/// Maven's default local repository, `~/.m2/repository` (a settings.xml may move it; then the
/// stamp is not found and Maven simply runs again).
fn local_repository() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".m2").join("repository"))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Copies every file under `from` into `to`.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A digest of every file's path and contents under `dir`, in path order.
fn tree_digest(dir: &Path) -> anyhow::Result<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((relative, std::fs::read(&path)?));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut text = String::new();
    for (path, contents) in files {
        text.push_str(&path);
        text.push('\0');
        text.push_str(&String::from_utf8_lossy(&contents));
        text.push('\0');
    }
    Ok(autopilot_codegen::content_hash(&text))
}
