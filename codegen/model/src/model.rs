//! Both files together: loading a project directory and the checks that span the two files.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::operator::{self, OperatorConfig};
use crate::parse::{parse_operator, parse_project};
use crate::project::Project;

/// File name of the project description in a project directory.
pub const PROJECT_FILE_NAME: &str = "autopilot.yaml";

/// A project and how it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// `autopilot.yaml`.
    pub project: Project,
    /// `autopilot-operator.yaml`, or the defaults when the file is absent.
    pub operator: OperatorConfig,
}

impl Model {
    /// Check what neither file can check alone:
    ///
    /// - every key of `workers.phases` is a declared, non-final phase;
    /// - no endpoint serves phases of two different workers (one endpoint is one server);
    /// - `receiver.webhooks` names declared webhook sources, and with the receiver on, every
    ///   declared event source has a secret to authenticate its senders with.
    ///
    /// [`load_dir`] calls this; call it yourself after replacing [`Model::operator`] (for
    /// example when the scheduler reloads the operator file).
    ///
    /// # Errors
    ///
    /// Every problem, located in the operator file.
    pub fn validate(&self) -> Result<(), Diagnostics> {
        let origin = &self.operator.origin;
        let mut found = Diagnostics::default();
        let mut report = |field: &str, message: String| {
            let (line, column) = origin.at(field);
            found
                .0
                .push(Diagnostic::new(&origin.file, line, column, field, message));
        };
        for phase in self.operator.workers.phases.keys() {
            let field = format!("workers.phases.{phase}");
            match self.project.phase(phase) {
                None => {
                    let names: Vec<&str> = self
                        .project
                        .non_final_phases()
                        .map(|p| p.name.as_str())
                        .collect();
                    report(&field, crate::names::unknown("phase", phase, &names));
                }
                Some(p) if p.is_final => report(
                    &field,
                    format!("phase `{phase}` is final: no worker is called for it"),
                ),
                Some(_) => {}
            }
        }
        // endpoint → (worker, phase) of the first phase routed to it.
        let mut routed: BTreeMap<String, (&str, &str)> = BTreeMap::new();
        for worker in &self.project.workers {
            for phase in &worker.phases {
                let endpoint = self.operator.endpoint_for(phase).to_string();
                match routed.get(&endpoint) {
                    Some((other, other_phase)) if *other != worker.name => {
                        let field = if self.operator.workers.phases.contains_key(phase) {
                            format!("workers.phases.{phase}")
                        } else {
                            "workers.endpoint".to_owned()
                        };
                        report(
                            &field,
                            format!(
                                "`{endpoint}` would serve phase `{other_phase}` of worker \
                                 `{other}` and phase `{phase}` of worker `{}`; give one worker's \
                                 phases their own endpoints under `workers.phases`",
                                worker.name
                            ),
                        );
                    }
                    Some(_) => {}
                    None => {
                        routed.insert(endpoint, (&worker.name, phase));
                    }
                }
            }
        }
        crate::operator::receiver::cross_check(&self.operator.receiver, &self.project, &mut report);
        crate::notifications::cross_check(&self.operator.notifications, &self.project, &mut report);
        found.0.sort_by_key(|d| (d.line, d.column));
        found.extend(self.unknown_git_targets());
        found.into_result(())
    }

    /// `git:<target>` destinations in the project file that the operator file does not declare.
    fn unknown_git_targets(&self) -> Vec<Diagnostic> {
        let origin = &self.project.origin;
        let declared: Vec<&str> = self.operator.git.iter().map(|t| t.name.as_str()).collect();
        let mut found = Vec::new();
        for (i, phase) in self.project.phases.iter().enumerate() {
            for (j, d) in phase.destinations.iter().enumerate() {
                let Some(target) = d.git_target() else {
                    continue;
                };
                if declared.contains(&target) {
                    continue;
                }
                let field = format!("phases[{i}].destinations[{j}]");
                let (line, column) = origin.at(&field);
                let message = if declared.is_empty() {
                    format!(
                        "unknown Git target `{target}`: {} declares no `git:` targets",
                        self.operator.origin.file.display()
                    )
                } else {
                    crate::names::unknown("Git target", target, &declared)
                };
                found.push(Diagnostic::new(&origin.file, line, column, &field, message));
            }
        }
        found
    }
}

/// Load `dir/autopilot.yaml` and `dir/autopilot-operator.yaml` (all defaults when absent),
/// validate each and then both together.
///
/// # Errors
///
/// Every problem in both files; a file that cannot be read is one whole-file diagnostic.
pub fn load_dir(dir: &Path) -> Result<Model, Diagnostics> {
    load_dir_with_config(dir, None)
}

/// As [`load_dir`], but with the operator file at `config` when given (for example a mounted
/// ConfigMap); that file must exist.
///
/// # Errors
///
/// As [`load_dir`].
pub fn load_dir_with_config(dir: &Path, config: Option<&Path>) -> Result<Model, Diagnostics> {
    let project_path = dir.join(PROJECT_FILE_NAME);
    let operator_path = config.map_or_else(|| dir.join(operator::FILE_NAME), Path::to_path_buf);
    let unreadable = |path: &Path, e: io::Error| {
        Diagnostics::from(Diagnostic::new(path, 0, 0, "", format!("cannot read: {e}")))
    };
    let project = std::fs::read_to_string(&project_path)
        .map_err(|e| unreadable(&project_path, e))
        .and_then(|text| parse_project(&project_path, &text));
    let operator = match std::fs::read_to_string(&operator_path) {
        Ok(text) => parse_operator(&operator_path, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound && config.is_none() => {
            parse_operator(&operator_path, "")
        }
        Err(e) => Err(unreadable(&operator_path, e)),
    };
    match (project, operator) {
        (Ok(project), Ok(operator)) => {
            let model = Model { project, operator };
            model.validate()?;
            Ok(model)
        }
        (project, operator) => {
            let mut all = Diagnostics::default();
            all.extend(project.err().into_iter().flatten());
            all.extend(operator.err().into_iter().flatten());
            Err(all)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::table::{Case, check};

    const PROJECT: &str = concat!(
        "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\nspec: {type: object}\n",
        "phases:\n  - {name: A, initial: true}\n  - {name: B}\n  - {name: Done, final: true}\n",
        "workers:\n  - {name: w, phases: [A]}\n  - {name: v, phases: [B]}\n",
    );

    fn model(operator: &str) -> Result<Model, Diagnostics> {
        let project = parse_project(PROJECT_FILE_NAME, PROJECT)?;
        let operator = parse_operator(operator::FILE_NAME, operator)?;
        let model = Model { project, operator };
        model.validate()?;
        Ok(model)
    }

    #[test]
    fn cross_checks() {
        let cases: &[Case] = &[
            (
                "endpoint for an unknown phase",
                "workers:\n  phases:\n    A: unix:/a.sock\n    C: unix:/c.sock\n",
                "4:5",
                "workers.phases.C: unknown phase `C` (one of: A, B)",
            ),
            (
                "notification filter on an unknown phase",
                "notifications:\n  - slack: {url: 'http://chat'}\n    phases: [A, Dnoe]\n",
                "3:17",
                "notifications[0].phases[1]: unknown phase `Dnoe`; did you mean `Done`?",
            ),
            (
                "endpoint for a final phase",
                "workers:\n  phases:\n    B: unix:/b.sock\n    Done: unix:/d.sock\n",
                "4:5",
                "workers.phases.Done: phase `Done` is final",
            ),
            (
                "two workers behind the default endpoint",
                "workers:\n  endpoint: unix:/w.sock\n",
                "2:13",
                "workers.endpoint: `unix:/w.sock` would serve phase `A` of worker `w` and phase `B` of worker `v`",
            ),
            (
                "two workers behind the written default endpoint",
                "workInterval: 5s\n",
                "0:0",
                "workers.endpoint: `http://127.0.0.1:50051` would serve phase `A`",
            ),
            (
                "two workers behind one override",
                "workers:\n  phases:\n    A: unix:/x.sock\n    B: unix:/x.sock\n",
                "4:5",
                "workers.phases.B: `unix:/x.sock` would serve phase `A` of worker `w`",
            ),
        ];
        check(cases, model);
    }

    #[test]
    fn distinct_endpoints_pass() {
        let m = model("workers:\n  phases: {B: 'unix:/b.sock'}\n").unwrap();
        assert_eq!(
            m.operator.endpoint_for("A").to_string(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(m.operator.endpoint_for("B").to_string(), "unix:/b.sock");
        let a = m.project.phase("A").unwrap();
        assert_eq!(m.operator.deadline_for(a), operator::DEFAULT_DEADLINE);
    }
}
