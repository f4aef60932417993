//! Rules for the names and identifiers that appear in the project files.
//!
//! Each check returns `Ok(())` or a sentence saying what is wrong, phrased to follow the
//! offending value in a diagnostic ("`Foo_Bar` is not ...").

/// Longest DNS-1123 label Kubernetes accepts.
const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain Kubernetes accepts.
const MAX_SUBDOMAIN: usize = 253;

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric,
/// at most 63 characters (`canary-operator`).
pub fn dns_label(s: &str) -> Result<(), String> {
    if is_dns_label(s) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a DNS-1123 label (lowercase letters, digits and '-', \
             starting and ending with a letter or digit, at most {MAX_LABEL} characters)"
        ))
    }
}

/// The resource plural Kubernetes conventionally derives from a kind: the kind in lowercase,
/// pluralised by the English rules of the `pluralizer` crate (a port of the `pluralize` npm
/// package, with its irregular words): `Policy` → `policies`, `Mesh` → `meshes`, `Quiz` →
/// `quizzes`, `Person` → `people`. A kind that needs another plural sets `plural` in the file.
pub fn plural(kind: &str) -> String {
    pluralizer::pluralize(&kind.to_lowercase(), 2, false)
}

fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= MAX_SUBDOMAIN && s.split('.').all(is_dns_label)
}

/// A Kubernetes API version: `v1`, `v1alpha1`, `v2beta3`.
fn is_api_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let digits =
        |t: &str| !t.is_empty() && !t.starts_with('0') && t.bytes().all(|b| b.is_ascii_digit());
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (major, qualifier) = rest.split_at(end);
    if !digits(major) {
        return false;
    }
    if qualifier.is_empty() {
        return true;
    }
    ["alpha", "beta"]
        .iter()
        .any(|q| qualifier.strip_prefix(q).is_some_and(digits))
}

/// The project's own `apiVersion`: `group/version` where the group is a DNS subdomain with at
/// least one dot (CRDs require it) and the version looks like `v1`, `v1alpha1` or `v2beta3`.
pub fn crd_api_version(s: &str) -> Result<(), String> {
    match s.split_once('/') {
        Some((group, version))
            if group.contains('.') && is_dns_subdomain(group) && is_api_version(version) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{s}` is not group/version (a DNS subdomain with at least one dot, '/', and a \
             version such as v1, v1alpha1 or v2beta3; e.g. canary.example.com/v1)"
        )),
    }
}

/// A parameter's `apiVersion`: `v1` for the core group or `group/version`.
///
/// Returns `(group, version)`; the group is empty for the core group.
pub fn resource_api_version(s: &str) -> Result<(&str, &str), String> {
    let (group, version) = s.split_once('/').unwrap_or(("", s));
    let group_ok = if s.contains('/') {
        is_dns_subdomain(group)
    } else {
        true
    };
    if group_ok && is_api_version(version) {
        Ok((group, version))
    } else {
        Err(format!(
            "`{s}` is not an API version (`v1` for the core group, or group/version such as \
             apps/v1 or argoproj.io/v1alpha1)"
        ))
    }
}

/// UpperCamelCase: an ASCII uppercase letter followed by ASCII letters and digits.
pub fn upper_camel(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not UpperCamelCase (an uppercase letter, then letters and digits)"
        ))
    }
}

/// kebab-case: lowercase alphanumeric words joined by single `-` (`success-rate`).
pub fn kebab(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && s.starts_with(|c: char| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not kebab-case (lowercase words of letters and digits joined by '-')"
        ))
    }
}

/// A parameter name: a lowercase letter followed by lowercase letters and digits (`rollouts`).
pub fn parameter_name(s: &str) -> Result<(), String> {
    let mut bytes = s.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a parameter name (a lowercase letter, then lowercase letters and digits)"
        ))
    }
}

/// An identifier usable as a field name in every generated language: a letter, then letters,
/// digits and `_` (`targetPods`, `workload`).
pub fn identifier(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an identifier (a letter, then letters, digits and '_')"
        ))
    }
}

/// "unknown {what} `name`", with the closest of `known` as a suggestion when one is near
/// (a typo), else the list of `known` names (each once, in order).
pub fn unknown(what: &str, name: &str, known: &[&str]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for k in known {
        if !unique.contains(k) {
            unique.push(k);
        }
    }
    match closest(name, &unique) {
        Some(k) => format!("unknown {what} `{name}`; did you mean `{k}`?"),
        None if unique.is_empty() => format!("unknown {what} `{name}`"),
        None => format!("unknown {what} `{name}` (one of: {})", unique.join(", ")),
    }
}

/// The name of `known` nearest to `name` when it is near enough to be a typo of it.
pub fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < name.len().min(k.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The variant of `all` whose name is `text`, for `FromStr` on the files' enums.
pub(crate) fn variant<T: Copy>(
    text: &str,
    what: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name(*v) == text)
        .ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            format!("unknown {what} `{text}` (one of: {})", known.join(", "))
        })
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["configmaps", "pods", "pods", "secrets"];
        assert_eq!(
            unknown("parameter", "configmap", &known),
            "unknown parameter `configmap`; did you mean `configmaps`?"
        );
        assert_eq!(
            unknown("parameter", "widgets", &known),
            "unknown parameter `widgets` (one of: configmaps, pods, secrets)"
        );
        assert_eq!(
            unknown("phase", "B", &["A"]),
            "unknown phase `B` (one of: A)"
        );
        assert_eq!(unknown("phase", "B", &[]), "unknown phase `B`");
        assert_eq!(edit_distance("Greting", "Greeting"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn plurals() {
        for (kind, want) in [
            ("Canary", "canaries"),
            ("NetworkPolicy", "networkpolicies"),
            ("Gateway", "gateways"),
            ("Key", "keys"),
            ("Toy", "toys"),
            ("Guy", "guys"),
            ("Y", "ys"),
            ("Status", "statuses"),
            ("Box", "boxes"),
            ("Quiz", "quizzes"),
            ("Person", "people"),
            ("Index", "indices"),
            ("Proxy", "proxies"),
            ("Route", "routes"),
            ("VirtualService", "virtualservices"),
            ("Batch", "batches"),
            ("Mesh", "meshes"),
            ("CanaryDeployment", "canarydeployments"),
            ("Greeting", "greetings"),
            ("Probe", "probes"),
            ("Ingress", "ingresses"),
        ] {
            assert_eq!(plural(kind), want, "{kind}");
        }
    }

    #[test]
    fn dns_labels() {
        for (name, ok) in [
            ("canary-operator", true),
            ("a", true),
            ("a1-b2", true),
            ("0abc", true),
            ("", false),
            ("-a", false),
            ("a-", false),
            ("Canary", false),
            ("a_b", false),
            ("a.b", false),
            (&"a".repeat(64), false),
        ] {
            assert_eq!(dns_label(name).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn crd_api_versions() {
        for (v, ok) in [
            ("canary.example.com/v1", true),
            ("a.b/v1alpha1", true),
            ("a.b/v2beta3", true),
            ("example/v1", false),
            ("canary.example.com", false),
            ("canary.example.com/", false),
            ("canary.example.com/1", false),
            ("canary.example.com/v0", false),
            ("canary.example.com/v1gamma1", false),
            ("canary.example.com/v1alpha", false),
            ("Canary.example.com/v1", false),
            ("a.b/v1/x", false),
        ] {
            assert_eq!(crd_api_version(v).is_ok(), ok, "{v}");
        }
    }

    #[test]
    fn resource_api_versions() {
        assert_eq!(resource_api_version("v1"), Ok(("", "v1")));
        assert_eq!(resource_api_version("apps/v1"), Ok(("apps", "v1")));
        assert_eq!(
            resource_api_version("argoproj.io/v1alpha1"),
            Ok(("argoproj.io", "v1alpha1"))
        );
        assert!(resource_api_version("/v1").is_err());
        assert!(resource_api_version("apps").is_err());
        assert!(resource_api_version("Apps/v1").is_err());
    }

    #[test]
    fn cases() {
        assert!(upper_camel("CanaryDeployment").is_ok());
        assert!(upper_camel("V2").is_ok());
        assert!(upper_camel("canary").is_err());
        assert!(upper_camel("Canary-Deployment").is_err());
        assert!(upper_camel("").is_err());
        assert!(kebab("success-rate").is_ok());
        assert!(kebab("p99").is_ok());
        assert!(kebab("success--rate").is_err());
        assert!(kebab("success_rate").is_err());
        assert!(kebab("-rate").is_err());
        assert!(kebab("9rate").is_err());
        assert!(parameter_name("rollouts").is_ok());
        assert!(parameter_name("Rollouts").is_err());
        assert!(parameter_name("roll-outs").is_err());
        assert!(identifier("targetPods").is_ok());
        assert!(identifier("target_pods2").is_ok());
        assert!(identifier("2pods").is_err());
        assert!(identifier("target-pods").is_err());
    }
}
