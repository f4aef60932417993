//! The Secrets holding Git targets' credentials, mounted into the scheduler's pod where
//! `autopilot-operator.yaml` says to read them.

use autopilot_model::git::Credentials;
use autopilot_model::operator::OperatorConfig;

use crate::yaml::Yaml;

/// `(volume, mount)` per Git target whose credentials come from a Secret: the Secret (Flux's
/// layout: `username`/`password` or `identity`/`known_hosts`) read-only at the target's
/// mount directory. Key files are readable by the owner only; the scheduler copies an SSH key
/// before use anyway.
pub(super) fn volumes(operator: &OperatorConfig) -> Vec<(Yaml, Yaml)> {
    operator
        .git
        .iter()
        .filter_map(|target| {
            let Some(Credentials::Secret(secret)) = &target.credentials else {
                return None;
            };
            let name = format!("git-{}", target.name);
            let volume = Yaml::map().with("name", name.as_str()).with(
                "secret",
                Yaml::map()
                    .with("secretName", secret.as_str())
                    .with("defaultMode", 0o400_i64),
            );
            let mount = Yaml::map()
                .with("name", name.as_str())
                .with(
                    "mountPath",
                    target.secret_mount().to_string_lossy().into_owned(),
                )
                .with("readOnly", true);
            Some((volume, mount))
        })
        .collect()
}
