//! The java worker project (not implemented yet: generation reports the language unsupported).

use autopilot_model::{Language, Project};

use crate::{GenerateError, GeneratedFile, Options};

/// The files of the java worker serving the project's java phases.
pub(crate) fn render(
    _project: &Project,
    _options: &Options,
) -> Result<Vec<GeneratedFile>, GenerateError> {
    Err(GenerateError::UnsupportedLanguage(Language::Java))
}
