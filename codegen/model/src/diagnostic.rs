//! Errors found in the project files, each located by file, line, column and field.

use std::fmt;
use std::path::PathBuf;

/// One problem in a project file.
///
/// `line` and `column` are 1-based and point at the offending YAML node (the key for an unknown
/// field, the value for a wrong or invalid value, the enclosing mapping for a missing field).
/// A diagnostic about the file as a whole (for example, it cannot be read) has line and column 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the caller named it.
    pub file: PathBuf,
    /// 1-based line, or 0 for the whole file.
    pub line: usize,
    /// 1-based column in characters, or 0 for the whole file.
    pub column: usize,
    /// Path of the offending field in YAML names, such as `phases[1].outputs[0]`;
    /// empty for syntax errors and whole-file problems.
    pub field: String,
    /// What is wrong. It starts with the field path when there is one.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at `line:column`; the message is prefixed with `field` when it is not empty.
    pub fn new(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        field: impl Into<String>,
        message: impl fmt::Display,
    ) -> Self {
        let field = field.into();
        let message = if field.is_empty() {
            message.to_string()
        } else {
            format!("{field}: {message}")
        };
        Self {
            file: file.into(),
            line,
            column,
            field,
            message,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: message`, or `file: message` for a whole-file diagnostic.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// Every problem found while loading the project files, in file order.
///
/// This is the crate's error for loading and validation. It is never retryable: the files must
/// be fixed. Its `Display` prints one diagnostic per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterate over the diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// `Ok(value)` when there are no diagnostics, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let d = Diagnostic::new("a/autopilot.yaml", 3, 7, "phases[1].outputs[0]", "bad");
        assert_eq!(d.message, "phases[1].outputs[0]: bad");
        assert_eq!(
            d.to_string(),
            "a/autopilot.yaml:3:7: phases[1].outputs[0]: bad"
        );
        let whole = Diagnostic::new("x.yaml", 0, 0, "", "cannot read");
        assert_eq!(whole.to_string(), "x.yaml: cannot read");
        let all = Diagnostics(vec![d, whole]);
        assert_eq!(
            all.to_string(),
            "a/autopilot.yaml:3:7: phases[1].outputs[0]: bad\nx.yaml: cannot read"
        );
    }
}
