//! The go worker project (not implemented yet: generation reports the language unsupported).

use autopilot_model::{Language, Project};

use crate::{GenerateError, GeneratedFile, Options};

/// The files of the go worker serving the project's go phases.
pub(crate) fn render(
    _project: &Project,
    _options: &Options,
) -> Result<Vec<GeneratedFile>, GenerateError> {
    Err(GenerateError::UnsupportedLanguage(Language::Go))
}
