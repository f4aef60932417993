//! Reading the two YAML files: serde checks the shape (types, unknown fields, syntax), then
//! `project_file` and `operator_file` check meaning and build the model, reporting every
//! problem with its location.

mod located;
mod operator_file;
mod project_file;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, MessageFormatter, Spanned};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::operator::OperatorConfig;
use crate::project::Project;
use located::{Found, Index};

/// Parse and validate the text of an `autopilot.yaml`; `path` names the file in diagnostics.
///
/// # Errors
///
/// Every problem found. Syntax and type errors stop parsing at the first one; semantic
/// problems are all reported.
pub fn parse_project(path: impl AsRef<Path>, text: &str) -> Result<Project, Diagnostics> {
    let path = path.as_ref();
    let file: project_file::ProjectFile = deserialize(path, text)?;
    project_file::build(path, file)
}

/// Parse and validate the text of an `autopilot-operator.yaml`, merging defaults; `path` names
/// the file in diagnostics. Per-phase endpoints are checked against the project by
/// [`crate::Model::validate`].
///
/// # Errors
///
/// As [`parse_project`].
pub fn parse_operator(path: impl AsRef<Path>, text: &str) -> Result<OperatorConfig, Diagnostics> {
    let path = path.as_ref();
    let file: operator_file::OperatorFile = deserialize(path, text)?;
    operator_file::build(path, file)
}

/// Problems found while checking one file.
pub(crate) struct Report {
    file: PathBuf,
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn new(file: &Path) -> Self {
        Self {
            file: file.to_owned(),
            diagnostics: Vec::new(),
        }
    }

    /// Report `message` about `field`, located at `location`.
    pub(crate) fn error(&mut self, location: &Location, field: &str, message: impl fmt::Display) {
        let (line, column) = position(location);
        self.error_at(line, column, field, message);
    }

    /// Report `message` about `field` at `line:column`.
    pub(crate) fn error_at(
        &mut self,
        line: usize,
        column: usize,
        field: &str,
        message: impl fmt::Display,
    ) {
        self.diagnostics
            .push(Diagnostic::new(&self.file, line, column, field, message));
    }

    /// `Ok(value)` if nothing was reported, else every diagnostic in file order.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, Diagnostics> {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        Diagnostics(self.diagnostics).into_result(value)
    }
}

/// 1-based `(line, column)` of a location.
pub(crate) fn position(location: &Location) -> (usize, usize) {
    let line = usize::try_from(location.line()).unwrap_or(usize::MAX);
    let column = usize::try_from(location.column()).unwrap_or(usize::MAX);
    (line, column)
}

/// A required value: report it missing at `parent` (the enclosing mapping) when absent.
pub(crate) fn required<'a, T>(
    report: &mut Report,
    value: &'a Option<Spanned<T>>,
    parent: &Location,
    field: &str,
) -> Option<&'a Spanned<T>> {
    if value.is_none() {
        report.error(parent, field, "missing required field");
    }
    value.as_ref()
}

/// Deserialize `text`, turning a serde error into a located diagnostic.
fn deserialize<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Diagnostics> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        // YAML 1.2: `yes`/`no`/`on`/`off` are strings, not booleans.
        strict_booleans: true,
    };
    serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| Diagnostics::from(located_error(file, text, &e)))
}

fn located_error(file: &Path, text: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let error = error.without_snippet();
    let raw = serde_saphyr::DefaultMessageFormatter.format_message(error);
    let Some((line, column)) = error.location().map(|l| position(&l)) else {
        return Diagnostic::new(file, 0, 0, "", raw);
    };
    // Syntax errors leave no index: the message stands alone.
    let Some(index) = Index::build(text) else {
        return Diagnostic::new(file, line, column, "", raw);
    };
    let entry = match error {
        serde_saphyr::Error::SerdeUnknownField { field, .. } => index.key_at(line, column, field),
        serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => {
            index.key_before(line, column, key)
        }
        _ => None,
    }
    .or_else(|| index.at(line, column));
    let (field, found) = match entry {
        Some(e) => (e.path.as_str(), Some(&e.found)),
        None => ("", None),
    };
    Diagnostic::new(file, line, column, field, explain(&raw, found))
}

/// Reword serde-saphyr's terse type errors and say what was found.
fn explain(message: &str, found: Option<&Found>) -> String {
    let expected = match message {
        "expected string scalar" => "expected a single value",
        "expected sequence start" => "expected a list",
        "expected mapping start" => "expected a mapping",
        "invalid boolean" => "expected true or false",
        "invalid floating point" => "expected a number",
        m if m.starts_with("invalid u") || m.starts_with("invalid i") => {
            "expected a whole number in range"
        }
        other => return other.to_owned(),
    };
    match found {
        Some(Found::Scalar(s)) => format!("{expected}, found `{s}`"),
        Some(Found::Sequence) => format!("{expected}, found a list"),
        Some(Found::Mapping) => format!("{expected}, found a mapping"),
        Some(Found::Key(_)) | None => expected.to_owned(),
    }
}
