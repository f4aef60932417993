//! The payload types of a project's event sources, shared by every language's model generator:
//! one top-level type per source that declares a `schema`, named `<Source>Event`.

use autopilot_model::Project;
use serde_json::Value;

/// `(type name, doc sentence, schema)` of each event source with a schema, in file order.
pub(crate) fn payload_types(project: &Project) -> Vec<(String, String, &Value)> {
    project
        .events
        .iter()
        .filter_map(|e| {
            let schema = e.schema.as_ref()?;
            Some((
                type_name(&e.name),
                format!("The data of a `{}` event ({} source).", e.name, e.kind),
                schema,
            ))
        })
        .collect()
}

/// The sentence a generated handler's doc gives an event input `name`: what it holds, and
/// `typed` (the language's way to decode the data) with the generated type when the source
/// has a schema.
pub(crate) fn input_doc(project: &Project, name: &str, typed: &str) -> String {
    let Some(source) = project.event(name) else {
        return String::new();
    };
    let data = if source.schema.is_some() {
        let ty = type_name(name);
        format!("{typed} with `{ty}` types the data")
    } else {
        "the data is raw JSON".to_owned()
    };
    format!(
        "the pending {} events of `{name}`, oldest first; {data}.",
        source.kind
    )
}

/// `load-test-finished` → `LoadTestFinishedEvent` (source names are kebab-case).
fn type_name(source: &str) -> String {
    let mut out: String = source
        .split('-')
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect();
    out.push_str("Event");
    out
}
