//! The `git:` section of `autopilot-operator.yaml` as written, and its checks.

use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Report, SpannedMap, position};
use crate::git::{
    self, Author, CredentialFiles, Credentials, DEFAULT_APPLY_TIMEOUT, Destination, GitTarget,
    WaitFor,
};
use crate::operator::Origin;
use crate::{duration, names, template};

type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GitTargetFile {
    url: Option<S<String>>,
    branch: Option<S<String>>,
    path: Option<S<String>>,
    author: Option<AuthorFile>,
    message: Option<S<String>>,
    credentials: Option<S<CredentialsFile>>,
    branch_prefix: Option<S<String>>,
    wait_for: Option<S<WaitForFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorFile {
    name: Option<String>,
    email: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialsFile {
    secret: Option<S<String>>,
    username_file: Option<String>,
    password_file: Option<String>,
    identity_file: Option<String>,
    known_hosts_file: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitForFile {
    kustomization: Option<S<String>>,
    timeout: Option<S<String>>,
}

/// Placeholders the commit message knows beyond the resource's own fields.
const MESSAGE_VARS: [&str; 3] = ["kind", "phase", "generation"];

/// Check every target, recording where each was declared in `origin` (`git.<name>`).
pub(crate) fn targets(
    r: &mut Report,
    file: SpannedMap<S<GitTargetFile>>,
    origin: &mut Origin,
) -> Vec<GitTarget> {
    let mut out = Vec::new();
    for (name, target) in file.0 {
        let field = format!("git.{}", name.value);
        origin
            .locations
            .insert(field.clone(), position(&name.referenced));
        if let Err(why) = names::dns_label(&name.value) {
            r.error(&name.referenced, &field, format!("target name {why}"));
        }
        if let Some(t) = self::target(r, &field, name.value, target) {
            out.push(t);
        }
    }
    out
}

fn target(r: &mut Report, field: &str, name: String, file: S<GitTargetFile>) -> Option<GitTarget> {
    let at = file.referenced;
    let file = file.value;
    let Some(url) = file.url else {
        r.error(&at, &format!("{field}.url"), "missing required field");
        return None;
    };
    if let Err(why) = git::check_url(&url.value) {
        r.error(&url.referenced, &format!("{field}.url"), why);
    }
    let branch = file.branch.map_or_else(
        || git::DEFAULT_BRANCH.to_owned(),
        |b| {
            if let Err(why) = git::check_branch(&b.value) {
                r.error(&b.referenced, &format!("{field}.branch"), why);
            }
            b.value
        },
    );
    let path = file.path.map_or_else(
        || git::DEFAULT_PATH.to_owned(),
        |p| {
            check_template(r, &p, &format!("{field}.path"), &[]);
            if p.value.starts_with('/') || p.value.split('/').any(|s| s == "..") {
                r.error(
                    &p.referenced,
                    &format!("{field}.path"),
                    "must be relative to the repository root and not contain `..`",
                );
            }
            p.value
        },
    );
    let message = file.message.map_or_else(
        || git::DEFAULT_MESSAGE.to_owned(),
        |m| {
            check_template(r, &m, &format!("{field}.message"), &MESSAGE_VARS);
            if m.value.trim().is_empty() {
                r.error(
                    &m.referenced,
                    &format!("{field}.message"),
                    "must not be empty",
                );
            }
            m.value
        },
    );
    let author = file.author.map_or_else(Author::default, |a| {
        let defaults = Author::default();
        if let Some(email) = &a.email
            && !email.value.contains('@')
        {
            r.error(
                &email.referenced,
                &format!("{field}.author.email"),
                format!("`{}` is not an e-mail address", email.value),
            );
        }
        Author {
            name: a.name.filter(|n| !n.is_empty()).unwrap_or(defaults.name),
            email: a.email.map_or(defaults.email, |e| e.value),
        }
    });
    let is_ssh = git::is_ssh_url(&url.value);
    let credentials = file
        .credentials
        .and_then(|c| credentials(r, &format!("{field}.credentials"), c, is_ssh));
    let branch_prefix = file.branch_prefix.map(|p| {
        if let Err(why) = git::check_branch(&p.value) {
            r.error(&p.referenced, &format!("{field}.branchPrefix"), why);
        }
        p.value
    });
    let wait_for = file
        .wait_for
        .and_then(|w| wait_for(r, &format!("{field}.waitFor"), w));
    Some(GitTarget {
        name,
        url: url.value,
        branch,
        path,
        author,
        message,
        credentials,
        branch_prefix,
        wait_for,
    })
}

/// A template that parses and names only the object's fields or `vars`.
fn check_template(r: &mut Report, value: &S<String>, field: &str, vars: &[&str]) {
    match template::variables(&value.value) {
        Err(why) => r.error(&value.referenced, field, why),
        Ok(used) => {
            for v in used {
                if !template::refers_to_object(v) && !vars.contains(&v) {
                    let mut known = vec!["name", "namespace", "spec.…", "metadata.…"];
                    known.extend(vars);
                    r.error(
                        &value.referenced,
                        field,
                        names::unknown("placeholder", v, &known),
                    );
                }
            }
        }
    }
}

fn credentials(
    r: &mut Report,
    field: &str,
    file: S<CredentialsFile>,
    is_ssh: bool,
) -> Option<Credentials> {
    let at = file.referenced;
    let c = file.value;
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty()).map(PathBuf::from);
    let files = CredentialFiles {
        username_file: non_empty(c.username_file),
        password_file: non_empty(c.password_file),
        identity_file: non_empty(c.identity_file),
        known_hosts_file: c
            .known_hosts_file
            .as_ref()
            .filter(|k| !k.value.is_empty())
            .map(|k| PathBuf::from(&k.value)),
    };
    let any_file = files != CredentialFiles::default();
    if let Some(secret) = c.secret {
        if any_file {
            r.error(
                &secret.referenced,
                &format!("{field}.secret"),
                "give either `secret` or files, not both",
            );
        }
        if let Err(why) = names::dns_label(&secret.value) {
            r.error(&secret.referenced, &format!("{field}.secret"), why);
        }
        return Some(Credentials::Secret(secret.value));
    }
    if !any_file {
        r.error(
            &at,
            field,
            "give `secret` or credential files (passwordFile, or identityFile with knownHostsFile)",
        );
        return None;
    }
    if is_ssh {
        if files.identity_file.is_none() {
            r.error(
                &at,
                &format!("{field}.identityFile"),
                "an SSH URL needs identityFile",
            );
        }
        if files.known_hosts_file.is_none() {
            r.error(
                &at,
                &format!("{field}.knownHostsFile"),
                "an SSH URL needs knownHostsFile: host keys are always checked",
            );
        }
    } else if files.password_file.is_none() {
        r.error(
            &at,
            &format!("{field}.passwordFile"),
            "an HTTP(S) URL needs passwordFile (a token or password)",
        );
    }
    Some(Credentials::Files(files))
}

fn wait_for(r: &mut Report, field: &str, file: S<WaitForFile>) -> Option<WaitFor> {
    let at = file.referenced;
    let w = file.value;
    let Some(k) = w.kustomization else {
        r.error(
            &at,
            &format!("{field}.kustomization"),
            "missing required field",
        );
        return None;
    };
    let Some((namespace, name)) = k.value.split_once('/') else {
        r.error(
            &k.referenced,
            &format!("{field}.kustomization"),
            format!("`{}` is not namespace/name", k.value),
        );
        return None;
    };
    for part in [namespace, name] {
        if let Err(why) = names::dns_label(part) {
            r.error(&k.referenced, &format!("{field}.kustomization"), why);
        }
    }
    let timeout = match &w.timeout {
        Some(t) => duration::parse(&t.value).unwrap_or_else(|why| {
            r.error(&t.referenced, &format!("{field}.timeout"), why);
            DEFAULT_APPLY_TIMEOUT
        }),
        None => DEFAULT_APPLY_TIMEOUT,
    };
    Some(WaitFor {
        namespace: namespace.to_owned(),
        kustomization: name.to_owned(),
        timeout,
    })
}

/// A phase's `destinations:`; records where each `git:` entry is in `origin`
/// (`<field>[j]`) so [`crate::Model::validate`] can point at unknown targets.
pub(crate) fn destinations(
    r: &mut Report,
    list: Option<&S<Vec<S<String>>>>,
    field: &str,
    is_final: bool,
    origin: &mut Origin,
) -> Vec<Destination> {
    let Some(list) = list else {
        return vec![Destination::Apply];
    };
    if is_final {
        r.error(
            &list.referenced,
            field,
            "a final phase calls no worker, so it has no outputs to send",
        );
        return vec![Destination::Apply];
    }
    if list.value.is_empty() {
        r.error(
            &list.referenced,
            field,
            "name at least one destination (`apply`, `git:<target>`)",
        );
    }
    let mut out = Vec::new();
    for (j, d) in list.value.iter().enumerate() {
        let at = format!("{field}[{j}]");
        match Destination::parse(&d.value) {
            Err(why) => r.error(&d.referenced, &at, why),
            Ok(parsed) if out.contains(&parsed) => {
                r.error(&d.referenced, &at, format!("`{parsed}` is listed twice"));
            }
            Ok(parsed) => {
                origin.locations.insert(at, position(&d.referenced));
                out.push(parsed);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::git::{Credentials, Destination};
    use crate::parse::table::{Case, check};
    use crate::{Model, parse_operator, parse_project};

    #[test]
    fn targets_are_checked() {
        let cases: &[Case] = &[
            (
                "missing url",
                "git:\n  fleet:\n    branch: main\n",
                "3:5",
                "git.fleet.url: missing required field",
            ),
            (
                "bad url",
                "git:\n  fleet:\n    url: /srv/fleet\n",
                "3:10",
                "is not a Git URL",
            ),
            (
                "bad branch",
                "git:\n  fleet:\n    url: https://h/r.git\n    branch: a..b\n",
                "4:13",
                "git.fleet.branch: `a..b` is not a branch name",
            ),
            (
                "bad name",
                "git:\n  Fleet:\n    url: https://h/r.git\n",
                "2:3",
                "git.Fleet: target name",
            ),
            (
                "path escapes",
                "git:\n  fleet:\n    url: https://h/r.git\n    path: ../{{ name }}\n",
                "4:11",
                "must be relative",
            ),
            (
                "path placeholder",
                "git:\n  fleet:\n    url: https://h/r.git\n    path: '{{ phase }}'\n",
                "4:11",
                "unknown placeholder `phase`",
            ),
            (
                "message template",
                "git:\n  fleet:\n    url: https://h/r.git\n    message: '{{ nope }}'\n",
                "4:14",
                "unknown placeholder `nope`",
            ),
            (
                "author email",
                "git:\n  fleet:\n    url: https://h/r.git\n    author: {email: nobody}\n",
                "4:21",
                "is not an e-mail address",
            ),
            (
                "secret and files",
                "git:\n  fleet:\n    url: https://h/r.git\n    credentials: {secret: s, passwordFile: /p}\n",
                "4:27",
                "either `secret` or files",
            ),
            (
                "https without password",
                "git:\n  fleet:\n    url: https://h/r.git\n    credentials: {usernameFile: /u}\n",
                "4:18",
                "needs passwordFile",
            ),
            (
                "ssh without known_hosts",
                "git:\n  fleet:\n    url: git@h:o/r.git\n    credentials: {identityFile: /k}\n",
                "4:18",
                "needs knownHostsFile",
            ),
            (
                "wait for not ns/name",
                "git:\n  fleet:\n    url: https://h/r.git\n    waitFor: {kustomization: fleet}\n",
                "4:30",
                "is not namespace/name",
            ),
            (
                "wait timeout",
                "git:\n  fleet:\n    url: https://h/r.git\n    waitFor: {kustomization: a/b, timeout: soon}\n",
                "4:44",
                "waitFor.timeout",
            ),
            (
                "unknown field",
                "git:\n  fleet:\n    url: https://h/r.git\n    brnch: main\n",
                "4:5",
                "unknown field `brnch`",
            ),
        ];
        check(cases, |yaml| {
            parse_operator("autopilot-operator.yaml", yaml)
        });
    }

    #[test]
    fn a_full_target_parses() {
        let config = parse_operator(
            "o.yaml",
            "git:\n  fleet:\n    url: https://git.example.com/org/fleet.git\n    branch: prod\n    \
             path: 'clusters/{{ namespace }}/{{ name }}'\n    author: {name: Bot, email: bot@example.com}\n    \
             message: '{{ kind }} {{ name }} -> {{ phase }} (gen {{ generation }})'\n    \
             credentials: {secret: fleet-git}\n    branchPrefix: autopilot\n    \
             waitFor: {kustomization: flux-system/fleet, timeout: 2m}\n",
        )
        .unwrap();
        let t = config.git_target("fleet").unwrap();
        assert_eq!(t.branch, "prod");
        assert_eq!(t.author.email, "bot@example.com");
        assert_eq!(t.credentials, Some(Credentials::Secret("fleet-git".into())));
        assert_eq!(t.branch_prefix.as_deref(), Some("autopilot"));
        let wait = t.wait_for.as_ref().unwrap();
        assert_eq!(
            (wait.namespace.as_str(), wait.kustomization.as_str()),
            ("flux-system", "fleet")
        );
        assert_eq!(wait.timeout, std::time::Duration::from_secs(120));
        let defaults = parse_operator("o.yaml", "git:\n  fleet: {url: 'git@h:o/r.git'}\n").unwrap();
        assert_eq!(defaults.git[0].path, crate::git::DEFAULT_PATH);
        assert_eq!(defaults.git[0].branch, "main");
        assert!(defaults.git[0].credentials.is_none());
    }

    const PROJECT: &str = concat!(
        "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\nspec: {type: object}\n",
        "phases:\n  - name: A\n    initial: true\n    outputs: [virtualservices]\n",
        "    destinations: [apply, 'git:fleet']\n  - {name: Done, final: true}\n",
    );

    #[test]
    fn destinations_are_checked_against_the_operator_file() {
        let project = parse_project("autopilot.yaml", PROJECT).unwrap();
        assert_eq!(
            project.phases[0].destinations,
            [Destination::Apply, Destination::Git("fleet".into())]
        );
        assert_eq!(project.phases[1].destinations, [Destination::Apply]);
        let model = |operator: &str| Model {
            project: project.clone(),
            operator: parse_operator("autopilot-operator.yaml", operator).unwrap(),
        };
        let err = model("").validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "autopilot.yaml:9:27: phases[0].destinations[1]: unknown Git target `fleet`: \
             autopilot-operator.yaml declares no `git:` targets"
        );
        let err = model("git:\n  fleat: {url: 'https://h/r.git'}\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown Git target `fleet`"), "{err}");
        model("git:\n  fleet: {url: 'https://h/r.git'}\n")
            .validate()
            .unwrap();
    }

    #[test]
    fn destinations_are_parsed() {
        let with = |d: &str| PROJECT.replace("[apply, 'git:fleet']", d);
        let cases: &[(&str, String, &str, &str)] = &[
            ("empty", with("[]"), "9:19", "name at least one destination"),
            (
                "unknown form",
                with("[kubectl]"),
                "9:20",
                "`kubectl` is not a destination",
            ),
            (
                "twice",
                with("[apply, apply]"),
                "9:27",
                "`apply` is listed twice",
            ),
        ];
        for (name, yaml, at, message) in cases {
            let err = parse_project("autopilot.yaml", yaml).unwrap_err();
            assert!(
                err.iter()
                    .any(|d| format!("{}:{}", d.line, d.column) == *at
                        && d.message.contains(message)),
                "{name}: want {at} {message}, got {err}"
            );
        }
        let final_phase = PROJECT.replace(
            "{name: Done, final: true}",
            "{name: Done, final: true, destinations: [apply]}",
        );
        assert!(parse_project("autopilot.yaml", &final_phase).is_err());
    }
}
