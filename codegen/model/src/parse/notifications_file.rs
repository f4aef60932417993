//! The `notifications` section of `autopilot-operator.yaml` as written, and its checks.

use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::{Report, position};
use crate::names;
use crate::notifications::{NotificationReceiver, NotifyEvent, Secret, TEMPLATE_VARS, Target};
use crate::operator::{Endpoint, Origin};
use crate::template;

type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReceiverFile {
    name: Option<S<String>>,
    webhook: Option<S<WebhookFile>>,
    slack: Option<S<UrlFile>>,
    alertmanager: Option<S<UrlFile>>,
    events: Option<Vec<S<String>>>,
    phases: Option<Vec<S<String>>>,
    namespaces: Option<Vec<S<String>>>,
    template: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WebhookFile {
    url: Option<S<String>>,
    secret_file: Option<S<String>>,
    secret_env: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UrlFile {
    url: Option<S<String>>,
}

/// Check every receiver, recording where each entry's phases were written in `origin`
/// (`notifications[i].phases[j]`), for the check against the project's phases.
pub(crate) fn receivers(
    r: &mut Report,
    file: Vec<S<ReceiverFile>>,
    origin: &mut Origin,
) -> Vec<NotificationReceiver> {
    let mut out: Vec<NotificationReceiver> = Vec::new();
    for (i, entry) in file.into_iter().enumerate() {
        let field = format!("notifications[{i}]");
        let Some(receiver) = receiver(r, &field, i, entry, origin) else {
            continue;
        };
        if out.iter().any(|o| o.name == receiver.name) {
            let (line, column) = origin.at(&format!("{field}.name"));
            r.error_at(
                line,
                column,
                &format!("{field}.name"),
                format!(
                    "`{}` names another receiver too; give each its own `name`",
                    receiver.name
                ),
            );
        }
        out.push(receiver);
    }
    out
}

fn receiver(
    r: &mut Report,
    field: &str,
    index: usize,
    entry: S<ReceiverFile>,
    origin: &mut Origin,
) -> Option<NotificationReceiver> {
    let at = entry.referenced;
    let f = entry.value;
    origin
        .locations
        .insert(format!("{field}.name"), position(&at));
    let kinds = [
        f.webhook.is_some(),
        f.slack.is_some(),
        f.alertmanager.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        r.error(
            &at,
            field,
            "give exactly one of `webhook`, `slack` or `alertmanager`",
        );
        return None;
    }
    let target = if let Some(w) = f.webhook {
        let url = url(r, &format!("{field}.webhook"), &w.referenced, w.value.url)?;
        let secret = secret(
            r,
            &format!("{field}.webhook"),
            w.value.secret_file,
            w.value.secret_env,
        );
        Target::Webhook { url, secret }
    } else if let Some(s) = f.slack {
        Target::Slack {
            url: url(r, &format!("{field}.slack"), &s.referenced, s.value.url)?,
        }
    } else {
        let a = f.alertmanager?;
        Target::Alertmanager {
            url: url(
                r,
                &format!("{field}.alertmanager"),
                &a.referenced,
                a.value.url,
            )?,
        }
    };
    let name = match f.name {
        Some(n) => {
            origin
                .locations
                .insert(format!("{field}.name"), position(&n.referenced));
            if let Err(why) = names::dns_label(&n.value) {
                r.error(&n.referenced, &format!("{field}.name"), why);
            }
            n.value
        }
        None => format!("{}-{index}", target.kind()),
    };
    let alerts = matches!(target, Target::Alertmanager { .. });
    let events = events(r, field, &at, f.events, alerts);
    let mut phases = Vec::new();
    for (j, p) in f.phases.into_iter().flatten().enumerate() {
        origin
            .locations
            .insert(format!("{field}.phases[{j}]"), position(&p.referenced));
        phases.push(p.value);
    }
    let mut namespaces: Vec<String> = Vec::new();
    for (j, ns) in f.namespaces.into_iter().flatten().enumerate() {
        if let Err(why) = names::dns_label(&ns.value) {
            r.error(&ns.referenced, &format!("{field}.namespaces[{j}]"), why);
        }
        namespaces.push(ns.value);
    }
    if let Some(t) = &f.template {
        check_template(r, t, &format!("{field}.template"));
    }
    Some(NotificationReceiver {
        name,
        target,
        events,
        phases,
        namespaces,
        template: f.template.map(|t| t.value),
    })
}

/// A required `http://` or `https://` URL.
fn url(r: &mut Report, field: &str, parent: &Location, value: Option<S<String>>) -> Option<String> {
    let Some(v) = value else {
        r.error(parent, &format!("{field}.url"), "missing required field");
        return None;
    };
    match Endpoint::parse(&v.value) {
        Ok(Endpoint::Http(_) | Endpoint::Https(_)) => Some(v.value),
        _ => {
            r.error(
                &v.referenced,
                &format!("{field}.url"),
                format!("`{}` is not an http:// or https:// URL", v.value),
            );
            None
        }
    }
}

fn secret(
    r: &mut Report,
    field: &str,
    file: Option<S<String>>,
    env: Option<S<String>>,
) -> Option<Secret> {
    match (file, env) {
        (None, None) => None,
        (Some(f), Some(_)) => {
            r.error(
                &f.referenced,
                &format!("{field}.secretFile"),
                "give one of `secretFile` or `secretEnv`, not both",
            );
            None
        }
        (Some(f), None) if f.value.is_empty() => {
            r.error(
                &f.referenced,
                &format!("{field}.secretFile"),
                "give the path of a file holding the signing key",
            );
            None
        }
        (Some(f), None) => Some(Secret::File(PathBuf::from(f.value))),
        (None, Some(e)) => {
            let ok = !e.value.is_empty()
                && !e.value.starts_with(|c: char| c.is_ascii_digit())
                && e.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                r.error(
                    &e.referenced,
                    &format!("{field}.secretEnv"),
                    format!(
                        "`{}` is not an environment variable name (letters, digits, '_')",
                        e.value
                    ),
                );
                return None;
            }
            Some(Secret::Env(e.value))
        }
    }
}

/// The events, defaulting to every event ([`NotifyEvent::ALERTS`] for Alertmanager).
fn events(
    r: &mut Report,
    field: &str,
    parent: &Location,
    written: Option<Vec<S<String>>>,
    alerts: bool,
) -> Vec<NotifyEvent> {
    let all: &[NotifyEvent] = if alerts {
        &NotifyEvent::ALERTS
    } else {
        &NotifyEvent::ALL
    };
    let Some(written) = written else {
        return all.to_vec();
    };
    if written.is_empty() {
        r.error(
            parent,
            &format!("{field}.events"),
            "must not be empty (leave it out for every event)",
        );
    }
    let mut out = Vec::new();
    for (j, e) in written.iter().enumerate() {
        let at = format!("{field}.events[{j}]");
        match e.value.parse::<NotifyEvent>() {
            Err(why) => r.error(&e.referenced, &at, why),
            Ok(ev) if alerts && !NotifyEvent::ALERTS.contains(&ev) => r.error(
                &e.referenced,
                &at,
                format!(
                    "Alertmanager takes only failed, blocked and recovered: an alert must be \
                     able to end, and `{ev}` has no end"
                ),
            ),
            Ok(ev) if out.contains(&ev) => {
                r.error(&e.referenced, &at, format!("`{ev}` is listed twice"));
            }
            Ok(ev) => out.push(ev),
        }
    }
    out.sort();
    out
}

/// A template that parses and names only the resource's fields or [`TEMPLATE_VARS`].
fn check_template(r: &mut Report, value: &S<String>, field: &str) {
    match template::variables(&value.value) {
        Err(why) => r.error(&value.referenced, field, why),
        Ok(used) => {
            for v in used {
                if !template::refers_to_object(v) && !TEMPLATE_VARS.contains(&v) {
                    let mut known = vec!["name", "namespace", "spec.…", "metadata.…", "status.…"];
                    known.extend(TEMPLATE_VARS);
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

#[cfg(test)]
mod tests {
    use crate::notifications::{NotifyEvent, Secret, Target};
    use crate::parse::table::{Case, check};
    use crate::parse_operator;

    #[test]
    fn rules() {
        let cases: &[Case] = &[
            (
                "no kind",
                "notifications:\n  - events: [failed]\n",
                "2:5",
                "notifications[0]: give exactly one of `webhook`, `slack` or `alertmanager`",
            ),
            (
                "two kinds",
                "notifications:\n  - slack: {url: 'http://a'}\n    webhook: {url: 'http://b'}\n",
                "2:5",
                "notifications[0]: give exactly one of",
            ),
            (
                "missing url",
                "notifications:\n  - slack: {}\n",
                "2:12",
                "notifications[0].slack.url: missing required field",
            ),
            (
                "bad url",
                "notifications:\n  - webhook: {url: 'ftp://x'}\n",
                "2:20",
                "notifications[0].webhook.url: `ftp://x` is not an http:// or https:// URL",
            ),
            (
                "unknown event",
                "notifications:\n  - slack: {url: 'http://a'}\n    events: [failed, phaseChange]\n",
                "3:22",
                "notifications[0].events[1]: unknown notification event `phaseChange`",
            ),
            (
                "repeated event",
                "notifications:\n  - slack: {url: 'http://a'}\n    events: [failed, failed]\n",
                "3:22",
                "notifications[0].events[1]: `failed` is listed twice",
            ),
            (
                "empty events",
                "notifications:\n  - slack: {url: 'http://a'}\n    events: []\n",
                "2:5",
                "notifications[0].events: must not be empty",
            ),
            (
                "alertmanager event without an end",
                "notifications:\n  - alertmanager: {url: 'http://am:9093'}\n    events: [phaseChanged]\n",
                "3:14",
                "notifications[0].events[0]: Alertmanager takes only failed, blocked and recovered",
            ),
            (
                "both secrets",
                "notifications:\n  - webhook: {url: 'http://a', secretFile: /s, secretEnv: S}\n",
                "2:44",
                "notifications[0].webhook.secretFile: give one of `secretFile` or `secretEnv`",
            ),
            (
                "bad env name",
                "notifications:\n  - webhook: {url: 'http://a', secretEnv: 1-X}\n",
                "2:43",
                "notifications[0].webhook.secretEnv: `1-X` is not an environment variable name",
            ),
            (
                "unknown placeholder",
                "notifications:\n  - slack: {url: 'http://a'}\n    template: '{{ name }} {{ phse }}'\n",
                "3:15",
                "notifications[0].template: unknown placeholder `phse`; did you mean `phase`?",
            ),
            (
                "malformed template",
                "notifications:\n  - slack: {url: 'http://a'}\n    template: '{{ name '\n",
                "3:15",
                "notifications[0].template: `{{` at offset 0 is not closed",
            ),
            (
                "bad namespace",
                "notifications:\n  - slack: {url: 'http://a'}\n    namespaces: [Prod]\n",
                "3:18",
                "notifications[0].namespaces[0]:",
            ),
            (
                "bad name",
                "notifications:\n  - name: Ops_Chat\n    slack: {url: 'http://a'}\n",
                "2:11",
                "notifications[0].name:",
            ),
            (
                "repeated name",
                "notifications:\n  - slack: {url: 'http://a'}\n  - slack: {url: 'http://b'}\n    name: slack-0\n",
                "4:11",
                "notifications[1].name: `slack-0` names another receiver too",
            ),
            (
                "unknown field",
                "notifications:\n  - slack: {url: 'http://a', channel: x}\n",
                "2:30",
                "unknown field `channel`",
            ),
        ];
        check(cases, |yaml| parse_operator("o.yaml", yaml));
    }

    #[test]
    fn defaults_and_values() {
        let text = "\
notifications:
  - webhook: {url: 'https://hooks.example.com/ap', secretFile: /etc/notify/key}
  - name: chat
    slack: {url: 'http://chat/hook'}
    events: [gateWaiting, failed]
    phases: [Deploying]
    namespaces: [prod]
    template: '{{ kind }} {{ name }} {{ spec.image }}'
  - alertmanager: {url: 'http://am:9093'}
";
        let config = parse_operator("o.yaml", text).unwrap();
        let [hook, chat, am] = config.notifications.as_slice() else {
            panic!("three receivers: {:?}", config.notifications);
        };
        assert_eq!(hook.name, "webhook-0");
        assert_eq!(hook.events, NotifyEvent::ALL);
        assert_eq!(
            hook.target,
            Target::Webhook {
                url: "https://hooks.example.com/ap".into(),
                secret: Some(Secret::File("/etc/notify/key".into())),
            }
        );
        assert_eq!(chat.name, "chat");
        assert_eq!(chat.events, [NotifyEvent::Failed, NotifyEvent::GateWaiting]);
        assert_eq!(chat.phases, ["Deploying"]);
        assert_eq!(
            chat.template_for(NotifyEvent::Failed),
            "{{ kind }} {{ name }} {{ spec.image }}"
        );
        assert_eq!(am.name, "alertmanager-2");
        assert_eq!(am.events, NotifyEvent::ALERTS);
        assert_eq!(
            am.template_for(NotifyEvent::Recovered),
            NotifyEvent::Recovered.default_template()
        );
        assert!(
            parse_operator("o.yaml", "")
                .unwrap()
                .notifications
                .is_empty()
        );
    }

    #[test]
    fn filters() {
        let config = parse_operator(
            "o.yaml",
            "notifications:\n  - slack: {url: 'http://a'}\n    phases: [A]\n",
        )
        .unwrap();
        let r = &config.notifications[0];
        use NotifyEvent::*;
        // (event, namespace, phase, wanted)
        let cases = [
            (Failed, Some("ns"), "A", true),
            (Failed, None, "A", true),
            (Failed, Some("ns"), "B", false),
            (GateWaiting, Some("ns"), "A", true),
        ];
        for (event, ns, phase, want) in cases {
            assert_eq!(r.wants(event, ns, phase), want, "{event} {ns:?} {phase}");
        }
        let scoped = parse_operator(
            "o.yaml",
            "notifications:\n  - slack: {url: 'http://a'}\n    namespaces: [prod]\n",
        )
        .unwrap();
        assert!(!scoped.notifications[0].wants(Failed, None, "A"));
    }
}
