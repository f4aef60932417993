//! Reading the two YAML files: serde checks the shape (types, unknown fields, syntax), then
//! `project_file` and `operator_file` check meaning and build the model, reporting every
//! problem with its location.

mod events_file;
mod gates_file;
mod git_file;
mod kubectl_file;
mod located;
mod notifications_file;
mod operator_file;
mod project_file;
mod receiver_file;
mod traces_file;

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
    let file: Spanned<project_file::ProjectFile> = deserialize(path, text)?;
    project_file::build(path, file, Index::build(text).as_ref())
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

/// A mapping whose keys keep their locations, in file order (duplicate keys are rejected by
/// the parser).
#[derive(Debug)]
pub(crate) struct SpannedMap<V>(pub(crate) Vec<(Spanned<String>, V)>);

impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for SpannedMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for MapVisitor<V> {
            type Value = SpannedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(key) = map.next_key()? {
                    pairs.push((key, map.next_value()?));
                }
                Ok(SpannedMap(pairs))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
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

/// Integer types whose parse failures serde-saphyr reports as `invalid <type>`.
const INTEGER_TYPES: [&str; 12] = [
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];

/// Reword serde-saphyr's terse type errors and say what was found.
fn explain(message: &str, found: Option<&Found>) -> String {
    let expected = match message {
        "expected string scalar" => "expected a single value",
        "expected sequence start" => "expected a list",
        "expected mapping start" => "expected a mapping",
        m if m.starts_with("invalid boolean") => "expected true or false",
        "invalid floating point" => "expected a number",
        m if m
            .strip_prefix("invalid ")
            .is_some_and(|t| INTEGER_TYPES.contains(&t)) =>
        {
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

/// Table-test support shared by the file checks' tests.
#[cfg(test)]
pub(crate) mod table {
    use crate::diagnostic::Diagnostics;

    /// One case: a name, the YAML, where the error must be (`line:column`) and a substring of
    /// its message.
    pub(crate) type Case = (&'static str, &'static str, &'static str, &'static str);

    /// Run `parse` on every case and check some diagnostic matches position and message.
    pub(crate) fn check<T: std::fmt::Debug>(
        cases: &[Case],
        parse: impl Fn(&str) -> Result<T, Diagnostics>,
    ) {
        let mut failures = Vec::new();
        for (name, yaml, at, message) in cases {
            match parse(yaml) {
                Ok(value) => failures.push(format!(
                    "{name}: parsed, want {at} {message:?}\n  {value:?}"
                )),
                Err(all) => {
                    let hit = all.iter().any(|d| {
                        format!("{}:{}", d.line, d.column) == *at && d.message.contains(message)
                    });
                    if !hit {
                        failures.push(format!("{name}: want {at} {message:?}, got\n  {all}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::table::{Case, check};
    use super::*;

    /// Shape errors found by serde: syntax, types, missing and unknown fields.
    #[test]
    fn shape_errors_are_located() {
        let cases: &[Case] = &[
            (
                "bad indentation",
                "kind: Foo\nphases:\n  - name: A\n     initial: true\n",
                "4:13",
                "mapping values are not allowed",
            ),
            (
                "dedented key",
                "kind: Foo\nphases:\n  - name: A\n    initial: true\n   inputs: []\n",
                "5:4",
                "did not find expected '-'",
            ),
            ("tab indentation", "phases:\n\t- name: A\n", "2:2", "tabs"),
            ("unclosed flow", "phases: [ {name: A}\n", "1:9", "unclosed"),
            (
                "wrong type: list for bool",
                "kind: Foo\nphases:\n  - name: A\n    initial: [1]\n",
                "4:14",
                "phases[0].initial: expected a single value, found a list",
            ),
            (
                "wrong type: bool spelled yes",
                "finalizer: yes\n",
                "1:12",
                "finalizer: expected true or false, found `yes`",
            ),
            (
                "wrong type: scalar for list",
                "kind: Foo\nphases: many\n",
                "2:9",
                "phases: expected a list, found `many`",
            ),
            (
                "wrong type: mapping for string",
                "kind: {a: 1}\n",
                "1:7",
                "kind: expected a single value, found a mapping",
            ),
            (
                "wrong type: input item",
                "phases:\n  - name: A\n    inputs:\n      - [pods]\n",
                "4:9",
                "phases[0].inputs[0]: invalid type: sequence",
            ),
            (
                "wrong type: negative replicas",
                "workers:\n  - name: w\n    replicas: -1\n",
                "3:15",
                "workers[0].replicas: expected a whole number in range, found `-1`",
            ),
            (
                "unknown language",
                "workers:\n  - name: w\n    language: cobol\n",
                "3:15",
                "workers[0].language: unknown variant `cobol`",
            ),
            (
                "unknown top-level field",
                "kind: Foo\nenableFinalizer: true\n",
                "2:1",
                "enableFinalizer: unknown field `enableFinalizer`",
            ),
            (
                "unknown nested field",
                "kind: Foo\nphases:\n  - name: A\n    initail: true\n",
                "4:5",
                "phases[0].initail: unknown field `initail`",
            ),
            (
                "unknown field first in a flow mapping",
                "phases:\n  - {nme: A}\n",
                "2:6",
                "phases[0].nme: unknown field `nme`",
            ),
            (
                "unknown field in an input mapping",
                "phases:\n  - name: A\n    inputs:\n      - name: pods\n        selector: x\n",
                "5:9",
                "phases[0].inputs[0].selector: unknown field `selector`",
            ),
            (
                "duplicate key",
                "kind: Foo\nphases: []\nkind: Bar\n",
                "3:1",
                "kind: duplicate mapping key",
            ),
            ("not a mapping", "- a\n", "1:1", "expected a mapping"),
            (
                "two documents",
                "kind: A\n---\nkind: B\n",
                "3:1",
                "multiple YAML documents",
            ),
        ];
        check(cases, |yaml| parse_project("autopilot.yaml", yaml));
    }

    #[test]
    fn missing_fields_are_all_reported_at_their_mapping() {
        let err = parse_project("p.yaml", "# nothing yet\n").unwrap_err();
        let fields: Vec<&str> = err.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            ["apiVersion", "kind", "operatorName", "spec", "phases"]
        );
        let err = parse_project(
            "p.yaml",
            "apiVersion: a.b/v1\nkind: A\noperatorName: a\nspec: {type: object}\nphases:\n  - initial: true\n    final: false\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.yaml:6:5: phases[0].name: missing required field"
        );
    }
}
