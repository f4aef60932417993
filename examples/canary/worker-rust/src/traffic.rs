//! Traffic: where requests go in each state of a release ([`Split`]), which split a phase
//! holds, and the object that carries it — an Istio `VirtualService`, a Gateway API
//! `HTTPRoute`, or (no mesh) the selector of the target's Service.
//!
//! The objects are built as plain JSON, field for field the same as the Python worker's
//! (`testdata/traffic.json` holds the shapes both workers' tests compare against, and the end-to-end
//! suite applies them against the upstream CRDs).
use serde_json::{Value, json};

use crate::model::{Info, Match, Spec, Strategy, Traffic};
use crate::release::{canary_name, primary_name};

/// Where the requests to the target go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `0` to `100` percent of the requests to the canary, the rest to the primary.
    Weighted(u32),
    /// Every request to the primary; a copy of this percentage of them to the canary, whose
    /// answers are dropped.
    Mirrored(u32),
    /// The requests matching `spec.match` to the canary, the rest to the primary.
    Matched,
    /// Every request to the canary (the blue/green switch).
    Switched,
}

/// Everything to the primary.
pub const PRIMARY: Split = Split::Weighted(0);

/// Checks that `spec.strategy`, `spec.traffic`, `spec.mirror` and `spec.match` fit together;
/// else what does not, naming the field.
///
/// # Errors
///
/// The first misfit found, as a sentence for people.
pub fn check(spec: &Spec) -> Result<(), String> {
    if spec.traffic == Traffic::Kubernetes {
        if spec.strategy != Strategy::BlueGreen {
            return Err(format!(
                "spec.traffic kubernetes cannot split traffic (a Service selects one track): \
                 it serves spec.strategy blueGreen only, not {}",
                strategy_name(spec.strategy)
            ));
        }
        if spec.mirror.is_some() {
            return Err(
                "spec.mirror needs a route: set spec.traffic to istio or gatewayapi".to_string(),
            );
        }
    }
    if spec.traffic == Traffic::Linkerd && spec.mirror.is_some() {
        return Err(
            "spec.mirror: Linkerd's HTTPRoute has no RequestMirror filter; \
             set spec.traffic to istio or gatewayapi to mirror"
                .to_string(),
        );
    }
    if spec.strategy == Strategy::AbTesting && spec.matches.is_empty() {
        return Err("spec.match: strategy abTesting needs at least one entry".to_string());
    }
    for (i, m) in spec.matches.iter().enumerate() {
        let named = [&m.header, &m.cookie]
            .iter()
            .filter(|n| n.is_some())
            .count();
        let valued = [&m.exact, &m.regex].iter().filter(|v| v.is_some()).count();
        if named != 1 || m.header.as_deref().or(m.cookie.as_deref()) == Some("") {
            return Err(format!(
                "spec.match[{i}]: name a header or a cookie (one of them, not empty)"
            ));
        }
        if valued != 1 {
            return Err(format!(
                "spec.match[{i}]: give exact or regex (one of them)"
            ));
        }
    }
    Ok(())
}

fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Canary => "canary",
        Strategy::AbTesting => "abTesting",
        Strategy::BlueGreen => "blueGreen",
    }
}

/// Whether the analysis in `info` is still mirroring (fewer healthy checks than
/// `spec.mirror.iterations`).
pub fn mirroring(spec: &Spec, info: &Info) -> bool {
    spec.mirror
        .is_some_and(|m| info.passed_checks < m.iterations)
}

/// The split an analysis in the state of `info` holds: the mirror first, then the strategy's
/// own — the current weight, the matched requests, or none for blue/green (its canary is
/// checked through its own Service).
pub fn analysing(spec: &Spec, info: &Info) -> Split {
    match spec.mirror {
        Some(m) if mirroring(spec, info) => Split::Mirrored(m.percentage.min(100)),
        _ => match spec.strategy {
            Strategy::Canary => Split::Weighted(info.current_weight),
            Strategy::AbTesting => Split::Matched,
            Strategy::BlueGreen => PRIMARY,
        },
    }
}

/// The split Promoting holds until the primary has rolled out the new template: the canary
/// keeps what the analysis gave it, and blue/green switches everything to it. A revision
/// promoted while mirroring gets no traffic, nor does one of `abTesting` or `blueGreen`
/// promoted before any check (under `skipAnalysis` its canary may have no replicas).
pub fn promoting(spec: &Spec, info: &Info) -> Split {
    if mirroring(spec, info) {
        return PRIMARY;
    }
    match spec.strategy {
        Strategy::Canary => Split::Weighted(info.current_weight),
        _ if info.iteration == 0 => PRIMARY,
        Strategy::AbTesting => Split::Matched,
        Strategy::BlueGreen => Split::Switched,
    }
}

/// A short description of `split` for messages.
pub fn describe(split: Split) -> String {
    match split {
        Split::Weighted(w) => format!("canary weight {w}%"),
        Split::Mirrored(p) => format!("{p}% of the requests mirrored to the canary"),
        Split::Matched => "matching requests to the canary".to_string(),
        Split::Switched => "all traffic to the canary".to_string(),
    }
}

/// The canary's weight in the last rule (the one without matches) of a route built by
/// [`object`], for tests and displays.
pub fn canary_weight_of(route: &Value) -> Option<u64> {
    let rules = route
        .pointer("/spec/http")
        .or_else(|| route.pointer("/spec/rules"))?
        .as_array()?;
    let last = rules.last()?;
    let backends = last.get("route").or_else(|| last.get("backendRefs"))?;
    backends.as_array()?.iter().find_map(|b| {
        let name = b["destination"]["host"].as_str().or(b["name"].as_str())?;
        name.ends_with("-canary")
            .then(|| b["weight"].as_u64())
            .flatten()
    })
}

/// The object carrying `split` for `spec.traffic`: a VirtualService, an HTTPRoute, or the
/// target's Service.
pub fn object(spec: &Spec, split: Split) -> Value {
    match spec.traffic {
        Traffic::Istio => virtual_service(spec, split),
        Traffic::Gatewayapi | Traffic::Linkerd => http_route(spec, split),
        Traffic::Kubernetes => apex_service(spec, split),
    }
}

/// The Service named after the target, selecting the primary's pods, or the canary's once
/// switched (a selector selects one track, so any other split selects the primary).
pub fn apex_service(spec: &Spec, split: Split) -> Value {
    let track = match split {
        Split::Switched | Split::Weighted(100) => canary_name(spec),
        _ => primary_name(spec),
    };
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.target_ref},
        "spec": {
            "selector": {"app": track},
            "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port}],
        },
    })
}

fn canary_share(split: Split) -> u32 {
    match split {
        Split::Weighted(w) => w.min(100),
        Split::Switched => 100,
        Split::Mirrored(_) | Split::Matched => 0,
    }
}

fn virtual_service(spec: &Spec, split: Split) -> Value {
    let destination = |host: String, weight: u32| json!({"destination": {"host": host, "port": {"number": spec.port}}, "weight": weight});
    let share = canary_share(split);
    let mut main = json!({"route": [
        destination(primary_name(spec), 100 - share),
        destination(canary_name(spec), share),
    ]});
    let mut rules = Vec::new();
    match split {
        Split::Mirrored(percent) => {
            main["mirror"] = json!({"host": canary_name(spec), "port": {"number": spec.port}});
            main["mirrorPercentage"] = json!({"value": percent});
        }
        Split::Matched => rules.push(json!({
            "match": spec.matches.iter().map(istio_match).collect::<Vec<_>>(),
            "route": [destination(canary_name(spec), 100)],
        })),
        Split::Weighted(_) | Split::Switched => {}
    }
    rules.push(main);
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": spec.target_ref},
        "spec": {"hosts": [spec.target_ref], "http": rules},
    })
}

/// An Istio `HTTPMatchRequest` for one `spec.match` entry (header names lower-case, as Istio
/// requires).
fn istio_match(m: &Match) -> Value {
    let (header, how, value) = header_match(m);
    json!({"headers": {header: {how: value}}})
}

fn http_route(spec: &Spec, split: Split) -> Value {
    let backend =
        |name: String, weight: u32| json!({"name": name, "port": spec.port, "weight": weight});
    let share = canary_share(split);
    let mut main = json!({"backendRefs": [
        backend(primary_name(spec), 100 - share),
        backend(canary_name(spec), share),
    ]});
    let mut rules = Vec::new();
    match split {
        Split::Mirrored(percent) => {
            main["filters"] = json!([{
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"name": canary_name(spec), "port": spec.port},
                    "percent": percent,
                },
            }]);
        }
        Split::Matched => rules.push(json!({
            "matches": spec.matches.iter().map(gateway_match).collect::<Vec<_>>(),
            "backendRefs": [backend(canary_name(spec), 100)],
        })),
        Split::Weighted(_) | Split::Switched => {}
    }
    rules.push(main);
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": spec.target_ref},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": spec.target_ref}],
            "rules": rules,
        },
    })
}

/// A Gateway API `HTTPRouteMatch` for one `spec.match` entry.
fn gateway_match(m: &Match) -> Value {
    let (header, how, value) = header_match(m);
    let kind = if how == "exact" {
        "Exact"
    } else {
        "RegularExpression"
    };
    json!({"headers": [{"type": kind, "name": header, "value": value}]})
}

/// The header, the kind of match (`exact` or `regex`) and the value of a `spec.match` entry. A
/// cookie is matched inside the `cookie` header by a regular expression.
fn header_match(m: &Match) -> (String, &'static str, String) {
    match (&m.header, &m.cookie, &m.exact) {
        (Some(header), _, Some(exact)) => (header.to_lowercase(), "exact", exact.clone()),
        (Some(header), _, None) => (
            header.to_lowercase(),
            "regex",
            m.regex.clone().unwrap_or_default(),
        ),
        (None, cookie, exact) => {
            let name = escape(cookie.as_deref().unwrap_or_default());
            let wanted = match exact {
                Some(exact) => escape(exact),
                None => format!("(?:{})", m.regex.as_deref().unwrap_or_default()),
            };
            (
                "cookie".to_string(),
                "regex",
                format!(r"^(.*?;\s*)?{name}={wanted}(;.*)?$"),
            )
        }
    }
}

/// `text` with every RE2 metacharacter escaped by a backslash (the Python worker escapes the
/// same set, so both build the same expression).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
