//! `traces:` in `autopilot.yaml` as written, and the checks that turn it into [`TraceQuery`]s.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Report, SpannedMap, required};
use crate::traces::{
    DEFAULT_LOOK_BACK, DEFAULT_TRACE_LIMIT, DEFAULT_TRACE_SAMPLES, MAX_TRACE_LIMIT,
    MAX_TRACE_SAMPLES, TraceQuery,
};
use crate::{duration, names, template};

type S<T> = Spanned<T>;

/// One item of `traces:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TraceFile {
    name: Option<S<String>>,
    service: Option<S<String>>,
    operation: Option<S<String>>,
    tags: Option<S<SpannedMap<S<String>>>>,
    look_back: Option<S<String>>,
    limit: Option<S<u32>>,
    samples: Option<S<u32>>,
}

fn template_ok(r: &mut Report, value: &S<String>, field: &str) {
    if let Err(why) = template::validate_template(&value.value) {
        r.error(&value.referenced, field, format!("invalid template: {why}"));
    }
}

/// Check every trace query, reporting each problem at its field.
pub(crate) fn traces(r: &mut Report, items: &[S<TraceFile>]) -> Vec<TraceQuery> {
    let mut first: std::collections::HashMap<String, usize> = Default::default();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("traces[{i}].{field}");
        let t = &item.value;
        let name = match required(r, &t.name, &item.referenced, &at("name")) {
            Some(n) => {
                if let Err(why) = names::kebab(&n.value) {
                    r.error(&n.referenced, &at("name"), why);
                }
                let line = super::position(&n.referenced).0;
                if let Some(prev) = first.get(&n.value) {
                    r.error(
                        &n.referenced,
                        &at("name"),
                        format!(
                            "duplicate trace query `{}` (first declared on line {prev})",
                            n.value
                        ),
                    );
                } else {
                    first.insert(n.value.clone(), line);
                }
                n.value.clone()
            }
            None => String::new(),
        };
        let service = match required(r, &t.service, &item.referenced, &at("service")) {
            Some(s) if s.value.trim().is_empty() => {
                r.error(&s.referenced, &at("service"), "must name a service");
                String::new()
            }
            Some(s) => {
                template_ok(r, s, &at("service"));
                s.value.clone()
            }
            None => String::new(),
        };
        if let Some(op) = &t.operation {
            template_ok(r, op, &at("operation"));
        }
        let mut tags = std::collections::BTreeMap::new();
        if let Some(given) = &t.tags {
            for (key, value) in &given.value.0 {
                let field = at(&format!("tags.{}", key.value));
                if key.value.trim().is_empty() {
                    r.error(&key.referenced, &field, "a tag key must not be empty");
                }
                template_ok(r, value, &field);
                tags.insert(key.value.clone(), value.value.clone());
            }
        }
        let look_back = match &t.look_back {
            None => DEFAULT_LOOK_BACK.to_owned(),
            Some(lb) => {
                let field = at("lookBack");
                if lb.value.contains("{{") {
                    template_ok(r, lb, &field);
                } else if let Err(why) = duration::parse(&lb.value) {
                    r.error(&lb.referenced, &field, why);
                }
                lb.value.clone()
            }
        };
        let limit = match &t.limit {
            None => DEFAULT_TRACE_LIMIT,
            Some(l) => {
                if l.value == 0 || l.value > MAX_TRACE_LIMIT {
                    r.error(
                        &l.referenced,
                        &at("limit"),
                        format!("must be between 1 and {MAX_TRACE_LIMIT} traces"),
                    );
                }
                l.value
            }
        };
        let samples = match &t.samples {
            None => DEFAULT_TRACE_SAMPLES.min(limit),
            Some(s) => {
                if s.value > MAX_TRACE_SAMPLES {
                    r.error(
                        &s.referenced,
                        &at("samples"),
                        format!("at most {MAX_TRACE_SAMPLES} sample traces"),
                    );
                } else if s.value > limit {
                    r.error(
                        &s.referenced,
                        &at("samples"),
                        format!(
                            "cannot exceed `limit` ({limit}): samples come from the traces searched"
                        ),
                    );
                }
                s.value
            }
        };
        out.push(TraceQuery {
            name,
            service,
            operation: t.operation.as_ref().map(|o| o.value.clone()),
            tags,
            look_back,
            limit,
            samples,
        });
    }
    out
}

#[cfg(test)]
mod tests;
