//! The record of a generation run: every file with its kind and the hash of what was generated.

use serde::{Deserialize, Serialize};

use crate::{FileKind, GeneratedFile};

/// Path of the record, relative to the project directory.
pub const RECORD_PATH: &str = ".autopilot/generated.json";

/// What one run generated; [`crate::write`] reads the previous one to find orphaned files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Every generated file but the record, sorted by path.
    pub files: Vec<RecordEntry>,
}

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEntry {
    /// Path relative to the project directory.
    pub path: String,
    /// Its kind.
    pub kind: FileKind,
    /// [`content_hash`] of the contents as generated (for owned files, not as edited since).
    pub hash: String,
}

impl Record {
    /// The record of `files`.
    pub fn of(files: &[GeneratedFile]) -> Self {
        Self {
            files: files
                .iter()
                .filter(|f| f.kind != FileKind::Record)
                .map(|f| RecordEntry {
                    path: f.path.clone(),
                    kind: f.kind,
                    hash: content_hash(&f.contents),
                })
                .collect(),
        }
    }

    /// The record as the file [`RECORD_PATH`].
    pub fn to_file(&self) -> GeneratedFile {
        let mut contents = serde_json::to_string_pretty(self).expect("a record always serializes");
        contents.push('\n');
        GeneratedFile {
            path: RECORD_PATH.to_owned(),
            contents,
            kind: FileKind::Record,
        }
    }
}

/// A stable 64-bit FNV-1a hash of `text`, as `fnv1a64:<16 hex digits>`: enough to tell whether
/// a file still holds what was generated (not a security measure).
pub fn content_hash(text: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = text
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("fnv1a64:{hash:016x}")
}
