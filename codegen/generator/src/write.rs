//! Writing rendered files into a project directory by the rules of each [`FileKind`].

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::record::{RECORD_PATH, Record};
use crate::rust::WORKER_DIR;
use crate::{FileKind, GenerateError, GeneratedFile};

/// How [`write`] treats existing files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Overwrite owned files that differ from what would be generated, after saving each as
    /// `<file>.orig`.
    pub force: bool,
}

/// What [`write`] did, each list sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or whose contents changed (regenerated files, new owned files, the record).
    pub written: Vec<String>,
    /// Files already holding exactly what was generated.
    pub unchanged: Vec<String>,
    /// Owned files that differ from what would be generated and were left alone.
    pub kept: Vec<String>,
    /// Owned files overwritten with `force`, each saved first as `<file>.orig`.
    pub replaced: Vec<String>,
    /// Files generated before (per the previous record) or phase handlers on disk that this
    /// run no longer generates; left in place for the user to delete.
    pub orphaned: Vec<String>,
}

/// Write `files` under `dir`: regenerated files and the record always, owned files only when
/// absent (or, with [`WriteOptions::force`], after saving the old file as `<file>.orig`).
/// Files are only rewritten when their contents change, so a second run touches nothing.
///
/// # Errors
///
/// [`GenerateError::Io`] for the first file that cannot be read, written or saved; files
/// before it have been written.
pub fn write(
    dir: &Path,
    files: &[GeneratedFile],
    options: WriteOptions,
) -> Result<WriteReport, GenerateError> {
    let mut report = WriteReport::default();
    let generated: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    report.orphaned = orphans(dir, &generated)?;

    for file in files {
        let path = dir.join(&file.path);
        let existing = match fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(GenerateError::Io { path, source }),
        };
        match (&existing, file.kind) {
            (Some(old), _) if *old == file.contents => {
                report.unchanged.push(file.path.clone());
                continue;
            }
            (Some(old), FileKind::Owned) => {
                if !options.force {
                    report.kept.push(file.path.clone());
                    continue;
                }
                let orig = PathBuf::from(format!("{}.orig", path.display()));
                fs::write(&orig, old).map_err(|source| GenerateError::Io { path: orig, source })?;
                report.replaced.push(file.path.clone());
            }
            _ => report.written.push(file.path.clone()),
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| GenerateError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        fs::write(&path, &file.contents).map_err(|source| GenerateError::Io { path, source })?;
    }
    Ok(report)
}

/// Files that were generated before or look generated (phase handlers) but are not in
/// `generated`, and still exist.
fn orphans(dir: &Path, generated: &BTreeSet<&str>) -> Result<Vec<String>, GenerateError> {
    let mut candidates = BTreeSet::new();
    let record_path = dir.join(RECORD_PATH);
    match fs::read_to_string(&record_path) {
        Ok(text) => {
            // An unreadable record (edited by hand) only loses the orphan report.
            if let Ok(record) = serde_json::from_str::<Record>(&text) {
                candidates.extend(record.files.into_iter().map(|e| e.path));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(GenerateError::Io {
                path: record_path,
                source,
            });
        }
    }
    let handlers = format!("{WORKER_DIR}/src/phases");
    if let Ok(entries) = fs::read_dir(dir.join(&handlers)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rs") {
                candidates.insert(format!("{handlers}/{name}"));
            }
        }
    }
    Ok(candidates
        .into_iter()
        .filter(|p| !generated.contains(p.as_str()) && dir.join(p).exists())
        .collect())
}
