//! Embeds the sources of every language's SDK, so that `ap generate --sdk=bundled` can write
//! them into a worker project on a machine without this repository.
//!
//! The files come from the repository's `sdk-*` directories (and `proto/` for the Rust SDK),
//! minus tests, build output and dependency folders. The Rust crates' manifests use the
//! workspace's inherited fields; they are resolved here into standalone manifests (with
//! `toml_edit`), as `cargo package` would.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Directories and files never embedded: build output, dependencies, caches, tests.
const SKIPPED: &[&str] = &[
    "target",
    "node_modules",
    "dist",
    "dist-test",
    "__pycache__",
    ".venv",
    "tests",
    "test",
    "package-lock.json",
    ".gitignore",
    "generate.sh",
    "generate-stubs.sh",
];

/// One embedded SDK file: `(language, path in the materialised tree, source file)`.
struct Entry {
    language: &'static str,
    path: String,
    source: PathBuf,
}

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("the repository root");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));

    let mut entries = Vec::new();
    let mut add_tree =
        |language: &'static str, dir: &str, prefix: &str, keep: &dyn Fn(&str) -> bool| {
            let base = root.join(dir);
            for file in walk(&base) {
                let relative = file
                    .strip_prefix(&base)
                    .expect("under its base")
                    .to_string_lossy()
                    .replace('\\', "/");
                if keep(&relative) {
                    // Per file: a directory would be scanned whole, node_modules and caches
                    // too. A new SDK file is picked up with the next change to an embedded one.
                    println!("cargo:rerun-if-changed={}", file.display());
                    entries.push(Entry {
                        language,
                        path: format!("{prefix}{relative}"),
                        source: file,
                    });
                }
            }
        };

    // Rust: the SDK and the proto crate it depends on, side by side; manifests resolved below.
    add_tree("rust", "sdk-rust", "autopilot-sdk/", &|p| {
        (p.starts_with("src/") && p.ends_with(".rs")) || p == "README.md"
    });
    add_tree("rust", "proto", "autopilot-proto/", &|p| {
        (p.starts_with("src/") && p.ends_with(".rs"))
            || matches!(p, "build.rs" | "README.md")
            || p.starts_with("autopilot/")
    });
    // Go: the module, without its tests.
    add_tree("go", "sdk-go", "autopilot-sdk/", &|p| {
        (p.ends_with(".go") && !p.ends_with("_test.go"))
            || matches!(p, "go.mod" | "go.sum" | "README.md")
    });
    // Python: the distribution's sources and metadata.
    add_tree("python", "sdk-python", "autopilot-sdk/", &|p| {
        p.starts_with("src/") && !p.ends_with(".pyc") || matches!(p, "pyproject.toml" | "README.md")
    });
    // TypeScript: what the package is built from.
    add_tree("typescript", "sdk-typescript", "autopilot-sdk/", &|p| {
        p.starts_with("src/")
            || p.starts_with("proto/")
            || matches!(p, "package.json" | "tsconfig.json" | "README.md")
    });
    // Java: the Maven project, with the contract as its own proto source root.
    add_tree("java", "sdk-java", "autopilot-sdk/", &|p| {
        p.starts_with("src/main/") || p == "pom.xml"
    });
    entries.push(Entry {
        language: "java",
        path: "autopilot-sdk/src/main/proto/autopilot/worker/v1/worker.proto".to_owned(),
        source: root.join("proto/autopilot/worker/v1/worker.proto"),
    });
    entries.sort_by(|a, b| (a.language, &a.path).cmp(&(b.language, &b.path)));

    // The standalone Rust manifests.
    let workspace = read(&root.join("Cargo.toml"));
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    for (crate_dir, name) in [("sdk-rust", "autopilot-sdk"), ("proto", "autopilot-proto")] {
        let member_path = root.join(crate_dir).join("Cargo.toml");
        println!("cargo:rerun-if-changed={}", member_path.display());
        let member = read(&member_path);
        let standalone = standalone_manifest(&workspace, &member);
        let path = out.join(format!("{name}.Cargo.toml"));
        std::fs::write(&path, standalone).expect("writing a resolved manifest");
        entries.push(Entry {
            language: "rust",
            path: format!("{name}/Cargo.toml"),
            source: path,
        });
    }

    let mut code = String::from(
        "/// Every embedded SDK file: (language, path under the SDK directory, contents).\n\
         pub(crate) static FILES: &[(&str, &str, &str)] = &[\n",
    );
    for entry in &entries {
        let _ = writeln!(
            code,
            "    ({:?}, {:?}, include_str!({:?})),",
            entry.language,
            entry.path,
            entry.source.display().to_string()
        );
    }
    code.push_str("];\n");
    std::fs::write(out.join("sdk_files.rs"), code).expect("writing sdk_files.rs");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, skipping [`SKIPPED`] names, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if SKIPPED.contains(&name.as_ref()) {
            continue;
        }
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `member`'s manifest with every `workspace = true` replaced by the workspace's value, path
/// dependencies on sibling crates turned into `../<name>` plus the version, and the sections a
/// dependency never uses (dev-dependencies, lints) dropped.
fn standalone_manifest(workspace: &str, member: &str) -> String {
    use toml_edit::{DocumentMut, Item, Value};

    let workspace: DocumentMut = workspace.parse().expect("the workspace manifest parses");
    let mut doc: DocumentMut = member.parse().expect("a member manifest parses");
    let package_defaults = &workspace["workspace"]["package"];
    let version = package_defaults["version"]
        .as_str()
        .expect("workspace.package.version")
        .to_owned();

    let package = doc["package"].as_table_mut().expect("[package]");
    let keys: Vec<String> = package.iter().map(|(k, _)| k.to_owned()).collect();
    for key in keys {
        let inherited = package[&key]
            .as_table_like()
            .and_then(|t| t.get("workspace"))
            .and_then(Item::as_bool)
            == Some(true);
        if inherited {
            package[&key] = package_defaults[&key].clone();
        }
    }
    // Bundled beside a worker: never to be published from there.
    package.remove("publish");
    package.remove("metadata");

    for section in ["dependencies", "build-dependencies"] {
        let Some(deps) = doc.get_mut(section).and_then(Item::as_table_like_mut) else {
            continue;
        };
        let names: Vec<String> = deps.iter().map(|(k, _)| k.to_owned()).collect();
        for name in names {
            let entry = deps.get_mut(&name).expect("listed");
            let Some(table) = entry.as_table_like() else {
                continue;
            };
            if table.get("workspace").and_then(Item::as_bool) != Some(true) {
                continue;
            }
            let extra_features: Vec<String> = table
                .get("features")
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let base = workspace["workspace"]["dependencies"][&name].clone();
            let mut inline = match base {
                Item::Value(Value::String(v)) => {
                    let mut t = toml_edit::InlineTable::new();
                    t.insert("version", Value::from(v.value().as_str()));
                    t
                }
                Item::Value(Value::InlineTable(t)) => t,
                other => panic!("workspace dependency {name}: unexpected {other:?}"),
            };
            if let Some(path) = inline.remove("path") {
                let dir = path
                    .as_str()
                    .expect("a path")
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                let sibling = if dir == "proto" {
                    "autopilot-proto"
                } else {
                    dir
                };
                inline.insert("path", Value::from(format!("../{sibling}")));
                inline.insert("version", Value::from(version.as_str()));
            }
            if !extra_features.is_empty() {
                let mut features: Vec<String> = inline
                    .get("features")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                for f in extra_features {
                    if !features.contains(&f) {
                        features.push(f);
                    }
                }
                inline.insert(
                    "features",
                    Value::Array(features.iter().map(String::as_str).collect()),
                );
            }
            inline.fmt();
            *entry = match (inline.len(), inline.get("version")) {
                (1, Some(version)) => Item::Value(version.clone()),
                _ => Item::Value(Value::InlineTable(inline)),
            };
        }
    }
    doc.remove("dev-dependencies");
    doc.remove("lints");
    let mut text = String::from(
        "# The Autopilot SDK as `ap generate --sdk=bundled` writes it beside a worker.\n",
    );
    text.push_str(&doc.to_string());
    text
}
