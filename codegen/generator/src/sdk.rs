//! The SDK sources this generator carries for every language, and where a worker project gets
//! its SDK from ([`SdkSource`]).
//!
//! `build.rs` embeds each SDK's sources at build time (tests, build output and dependency
//! folders left out; the Rust crates' manifests made standalone). With [`SdkSource::Bundled`]
//! they are written into the worker project under [`BUNDLED_DIR`] and the project refers to
//! them the way its ecosystem refers to a local package: a Cargo path dependency, a Go
//! `replace`, a pip direct reference, an npm workspace, a Maven project installed into the local
//! repository. The project then builds on a machine that has `ap` and the language's toolchain
//! but neither this repository nor a published SDK.

use std::fmt;
use std::str::FromStr;

use autopilot_model::Language;

use crate::{FileKind, GeneratedFile};

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The SDK version this generator carries: the same as the generator's (and `ap`'s).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a bundled SDK lives, relative to the worker project (`<project>/worker`).
pub const BUNDLED_DIR: &str = "third_party/autopilot-sdk";

/// Where the generated worker gets its language's Autopilot SDK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SdkSource {
    /// The SDK sources this generator carries, written into the worker project under
    /// [`BUNDLED_DIR`] and referred to from there: needs no registry and no repository.
    #[default]
    Bundled,
    /// The published SDK, by a version requirement such as `0.1` (crates.io, the Go module
    /// proxy, PyPI, npm, Maven Central).
    Version(String),
    /// A directory holding the SDK's sources (`sdk-<lang>/` of a checkout), written verbatim
    /// into the project file (`Cargo.toml`, `go.mod`, `pyproject.toml`, `package.json`,
    /// `pom.xml`): absolute, or relative to the worker project's directory (`<project>/worker`).
    Path(String),
}

impl SdkSource {
    /// The published SDK of this generator's version.
    pub fn registry() -> Self {
        Self::Version(SDK_VERSION.to_owned())
    }
}

impl fmt::Display for SdkSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bundled => f.write_str("bundled"),
            Self::Version(v) if v == SDK_VERSION => f.write_str("registry"),
            Self::Version(v) => write!(f, "registry:{v}"),
            Self::Path(p) => write!(f, "path:{p}"),
        }
    }
}

/// Why a `--sdk` value was refused.
#[derive(Debug, thiserror::Error)]
#[error("unknown SDK source {0:?}: use bundled, registry, registry:VERSION or path:DIR")]
pub struct ParseSdkSourceError(String);

impl FromStr for SdkSource {
    type Err = ParseSdkSourceError;

    /// `bundled`, `registry` (this version), `registry:VERSION` or `path:DIR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "bundled" => Ok(Self::Bundled),
            None if s == "registry" => Ok(Self::registry()),
            Some(("registry", v)) if !v.trim().is_empty() => Ok(Self::Version(v.trim().to_owned())),
            Some(("path", p)) if !p.is_empty() => Ok(Self::Path(p.to_owned())),
            _ => Err(ParseSdkSourceError(s.to_owned())),
        }
    }
}

/// The bundled SDK of `language` as files under `<worker_dir>/third_party/`, regenerated on
/// every run (they are the SDK of the `ap` that generated the project).
pub(crate) fn bundled(language: Language, worker_dir: &str) -> Vec<GeneratedFile> {
    let language = language.to_string();
    FILES
        .iter()
        .filter(|(lang, _, _)| *lang == language)
        .map(|(_, path, contents)| {
            let contents = if path.ends_with("/pom.xml") {
                java_pom(contents)
            } else {
                (*contents).to_owned()
            };
            GeneratedFile {
                path: format!("{worker_dir}/third_party/{path}"),
                contents,
                kind: FileKind::Vendored,
            }
        })
        .collect()
}

/// The Java SDK's pom, compiling the contract from its own `src/main/proto` (where the bundled
/// tree has it) instead of the repository's `proto/` directory.
fn java_pom(pom: &str) -> String {
    pom.lines()
        .filter(|line| {
            !line.contains("<protoSourceRoot>") && !line.contains("from the repository's proto/")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_carries_its_sdk() {
        for (language, must) in [
            (
                Language::Rust,
                vec![
                    "autopilot-sdk/Cargo.toml",
                    "autopilot-sdk/src/lib.rs",
                    "autopilot-proto/Cargo.toml",
                    "autopilot-proto/build.rs",
                    "autopilot-proto/autopilot/worker/v1/worker.proto",
                ],
            ),
            (
                Language::Go,
                vec![
                    "autopilot-sdk/go.mod",
                    "autopilot-sdk/go.sum",
                    "autopilot-sdk/worker.go",
                    "autopilot-sdk/workerv1/worker.pb.go",
                ],
            ),
            (
                Language::Python,
                vec![
                    "autopilot-sdk/pyproject.toml",
                    "autopilot-sdk/src/autopilot_sdk/__init__.py",
                    "autopilot-sdk/src/autopilot_sdk/proto/worker_pb2.py",
                ],
            ),
            (
                Language::Typescript,
                vec![
                    "autopilot-sdk/package.json",
                    "autopilot-sdk/tsconfig.json",
                    "autopilot-sdk/src/index.ts",
                    "autopilot-sdk/proto/autopilot/worker/v1/worker.proto",
                ],
            ),
            (
                Language::Java,
                vec![
                    "autopilot-sdk/pom.xml",
                    "autopilot-sdk/src/main/java/dev/autopilot/sdk/Worker.java",
                    "autopilot-sdk/src/main/proto/autopilot/worker/v1/worker.proto",
                ],
            ),
        ] {
            let files = bundled(language, "worker");
            let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            for want in must {
                let want = format!("worker/third_party/{want}");
                assert!(
                    paths.contains(&want.as_str()),
                    "{language}: {want} in {paths:?}"
                );
            }
            for path in &paths {
                for banned in [
                    "/tests/",
                    "/test/",
                    "_test.go",
                    "node_modules",
                    "/target/",
                    "/dist/",
                    "__pycache__",
                ] {
                    assert!(!path.contains(banned), "{language}: {path} is not embedded");
                }
            }
        }
    }

    #[test]
    fn rust_manifests_stand_alone() {
        let files = bundled(Language::Rust, "worker");
        let manifest = |name: &str| {
            files
                .iter()
                .find(|f| f.path == format!("worker/third_party/{name}/Cargo.toml"))
                .map(|f| f.contents.clone())
                .unwrap()
        };
        for name in ["autopilot-sdk", "autopilot-proto"] {
            let text = manifest(name);
            assert!(!text.contains("workspace"), "{name}:\n{text}");
            assert!(!text.contains("publish"), "{name}:\n{text}");
            assert!(!text.contains("dev-dependencies"), "{name}:\n{text}");
            assert!(
                text.contains(&format!("version = \"{SDK_VERSION}\"")),
                "{name}:\n{text}"
            );
        }
        let sdk = manifest("autopilot-sdk");
        assert!(
            sdk.contains(&format!(
                "autopilot-proto = {{ version = \"{SDK_VERSION}\", path = \"../autopilot-proto\" }}"
            )),
            "{sdk}"
        );
        assert!(
            sdk.contains("\"tls-ring\""),
            "tonic keeps the SDK's extra feature:\n{sdk}"
        );
    }

    #[test]
    fn java_sdk_compiles_its_own_proto() {
        let files = bundled(Language::Java, "worker");
        let pom = &files
            .iter()
            .find(|f| f.path.ends_with("/pom.xml"))
            .unwrap()
            .contents;
        assert!(!pom.contains("protoSourceRoot"), "{pom}");
        assert!(
            pom.contains("<artifactId>protobuf-maven-plugin</artifactId>"),
            "{pom}"
        );
    }

    #[test]
    fn sdk_source_parses_and_prints() {
        for (text, want) in [
            ("bundled", SdkSource::Bundled),
            ("registry", SdkSource::registry()),
            ("registry:0.2", SdkSource::Version("0.2".into())),
            ("path:../sdk-rust", SdkSource::Path("../sdk-rust".into())),
            ("path:/opt/sdk", SdkSource::Path("/opt/sdk".into())),
        ] {
            let got: SdkSource = text.parse().unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(got.to_string(), text);
        }
        for bad in ["", "vendored", "path:", "registry:", "bundled:x"] {
            assert!(bad.parse::<SdkSource>().is_err(), "{bad:?} is refused");
        }
    }
}
