//! The `receiver` section of `autopilot-operator.yaml` as written, and its checks.

use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Report, SpannedMap, position};
use crate::operator::Origin;
use crate::operator::receiver::{Receiver, WebhookAuth, WebhookScheme};

type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReceiverFile {
    addr: Option<S<String>>,
    max_body_bytes: Option<S<usize>>,
    retention: Option<RetentionFile>,
    cloudevents: Option<CloudeventsFile>,
    github: Option<GithubFile>,
    webhooks: Option<SpannedMap<S<WebhookFile>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetentionFile {
    max_per_resource: Option<S<u32>>,
    max_age: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CloudeventsFile {
    token_file: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GithubFile {
    secret_file: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WebhookFile {
    secret_file: Option<S<String>>,
    header: Option<S<String>>,
    signature_header: Option<S<String>>,
}

/// Check the section and merge it over the defaults. Records where `receiver.addr` and each
/// webhook were written in `origin`, for the checks against `autopilot.yaml`.
pub(crate) fn receiver(r: &mut Report, file: ReceiverFile, origin: &mut Origin) -> Receiver {
    let defaults = Receiver::default();
    if let Some(a) = &file.addr {
        origin
            .locations
            .insert("receiver.addr".into(), position(&a.referenced));
    }
    let addr = super::operator_file::address(r, &file.addr, "receiver.addr", None);
    let max_body_bytes = match &file.max_body_bytes {
        Some(n) if n.value == 0 => {
            r.error(&n.referenced, "receiver.maxBodyBytes", "must be at least 1");
            defaults.max_body_bytes
        }
        Some(n) => n.value,
        None => defaults.max_body_bytes,
    };
    let retention = file.retention.unwrap_or_default();
    let max_per_resource = match &retention.max_per_resource {
        Some(n) if n.value == 0 => {
            r.error(
                &n.referenced,
                "receiver.retention.maxPerResource",
                "must be at least 1",
            );
            defaults.max_per_resource
        }
        Some(n) => n.value,
        None => defaults.max_per_resource,
    };
    let max_age = super::operator_file::duration_or(
        r,
        &retention.max_age,
        "receiver.retention.maxAge",
        defaults.max_age,
    );
    let cloudevents_token_file = path(
        r,
        origin,
        file.cloudevents.and_then(|c| c.token_file),
        "receiver.cloudevents.tokenFile",
    );
    let github_secret_file = path(
        r,
        origin,
        file.github.and_then(|g| g.secret_file),
        "receiver.github.secretFile",
    );
    let mut webhooks = std::collections::BTreeMap::new();
    for (name, hook) in file.webhooks.map(|m| m.0).unwrap_or_default() {
        let field = format!("receiver.webhooks.{}", name.value);
        let h = hook.value;
        let Some(secret_file) = path(r, origin, h.secret_file, &format!("{field}.secretFile"))
        else {
            r.error(
                &hook.referenced,
                &format!("{field}.secretFile"),
                "missing required field",
            );
            continue;
        };
        origin
            .locations
            .insert(field.clone(), position(&name.referenced));
        let scheme = match (h.header, h.signature_header) {
            (Some(header), None) if !header.value.is_empty() => WebhookScheme::Header(header.value),
            (None, Some(header)) if !header.value.is_empty() => {
                WebhookScheme::Signature(header.value)
            }
            _ => {
                r.error(
                    &hook.referenced,
                    &field,
                    "give exactly one of `header` (the secret itself travels in it) or \
                     `signatureHeader` (an HMAC-SHA256 of the body travels in it)",
                );
                continue;
            }
        };
        webhooks.insert(
            name.value,
            WebhookAuth {
                secret_file,
                scheme,
            },
        );
    }
    Receiver {
        addr,
        max_body_bytes,
        max_per_resource,
        max_age,
        cloudevents_token_file,
        github_secret_file,
        webhooks,
    }
}

/// A secret file's path, recorded in `origin`; an empty path is reported.
fn path(
    r: &mut Report,
    origin: &mut Origin,
    value: Option<S<String>>,
    field: &str,
) -> Option<PathBuf> {
    let v = value?;
    if v.value.is_empty() {
        r.error(
            &v.referenced,
            field,
            "give the path of a file holding the secret",
        );
        return None;
    }
    origin
        .locations
        .insert(field.to_owned(), position(&v.referenced));
    Some(PathBuf::from(v.value))
}
