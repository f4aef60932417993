//! Property tests of the project-file parsers and the template language: whatever the input,
//! they never panic, and every refusal is a diagnostic that names its file, says what is wrong
//! and points inside the text. Case counts are bounded so CI stays fast.
use std::path::Path;

use autopilot_model::template::{self, Escape, Scope};
use autopilot_model::{Diagnostics, parse_operator, parse_project};
use proptest::prelude::*;
use serde_json::json;

const CANARY: &str = include_str!("../testdata/canary/autopilot.yaml");
const CANARY_OPERATOR: &str = include_str!("../testdata/canary/autopilot-operator.yaml");

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Shrinking a failure is worth a little time; an endless shrink is not.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// Every diagnostic names `file`, has a message, and points at a line of `text` (or at the
/// whole file).
fn named(file: &str, text: &str, err: &Diagnostics) -> Result<(), TestCaseError> {
    prop_assert!(!err.is_empty(), "a refusal without a diagnostic");
    let lines = text.lines().count() + 1;
    for d in err.iter() {
        prop_assert_eq!(d.file.as_path(), Path::new(file));
        prop_assert!(!d.message.trim().is_empty(), "empty message: {:?}", d);
        prop_assert!(
            d.line <= lines,
            "line {} of {} lines: {:?}",
            d.line,
            lines,
            d
        );
        prop_assert!(
            d.line > 0 || d.column == 0,
            "a whole-file diagnostic with a column: {:?}",
            d
        );
    }
    Ok(())
}

/// What can be done to one line of a valid file.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Replace(usize, String),
    Swap(usize, usize),
    Truncate(usize),
    Indent(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let line = 0usize..200;
    prop_oneof![
        line.clone().prop_map(Edit::Delete),
        line.clone().prop_map(Edit::Duplicate),
        (line.clone(), value()).prop_map(|(l, v)| Edit::Replace(l, v)),
        (line.clone(), line.clone()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (0usize..6000).prop_map(Edit::Truncate),
        (line, 0usize..6).prop_map(|(l, n)| Edit::Indent(l, n)),
    ]
}

/// Lines a person might type into these files, valid or not.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("  - name: Initializing".to_string()),
        Just("    initial: true".to_string()),
        Just("    final: true".to_string()),
        Just("    outputs: [metrics]".to_string()),
        Just("    next: [Nowhere]".to_string()),
        Just("kind: canary".to_string()),
        Just("apiVersion: nogroup".to_string()),
        Just("workInterval: -5s".to_string()),
        Just("concurrency: 0".to_string()),
        Just("      query: 'rate(x{app=\"{{ spec.target \"}[1m])'".to_string()),
        Just("  default: ten".to_string()),
        Just("&a [*a]".to_string()),
        Just("!!binary 'AAAA'".to_string()),
        "[ -~]{0,40}",
        "[a-zA-Z]{1,12}: [ -~]{0,20}",
        "\\PC{0,20}",
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            Edit::Duplicate(l) if !lines.is_empty() => {
                let copy = lines[l % n].clone();
                lines.insert(l % n, copy);
            }
            Edit::Replace(l, v) if !lines.is_empty() => lines[l % n] = v.clone(),
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::Indent(l, k) if !lines.is_empty() => {
                lines[l % n] = format!("{}{}", " ".repeat(*k), lines[l % n]);
            }
            Edit::Truncate(at) => {
                let joined = lines.join("\n");
                let mut cut = (*at).min(joined.len());
                while !joined.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines = joined[..cut].lines().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_as_autopilot_yaml_is_parsed_or_refused_by_name(text in "\\PC{0,400}") {
        if let Err(e) = parse_project("autopilot.yaml", &text) {
            named("autopilot.yaml", &text, &e)?;
        }
    }

    #[test]
    fn any_text_as_the_operator_file_is_parsed_or_refused_by_name(text in "\\PC{0,400}") {
        if let Err(e) = parse_operator("autopilot-operator.yaml", &text) {
            named("autopilot-operator.yaml", &text, &e)?;
        }
    }

    #[test]
    fn an_edited_project_file_is_parsed_or_refused_by_name(edits in prop::collection::vec(edit(), 1..6)) {
        let text = apply(CANARY, &edits);
        if let Err(e) = parse_project("autopilot.yaml", &text) {
            named("autopilot.yaml", &text, &e)?;
        }
    }

    #[test]
    fn an_edited_operator_file_is_parsed_or_refused_by_name(edits in prop::collection::vec(edit(), 1..6)) {
        let text = apply(CANARY_OPERATOR, &edits);
        if let Err(e) = parse_operator("autopilot-operator.yaml", &text) {
            named("autopilot-operator.yaml", &text, &e)?;
        }
    }

    #[test]
    fn any_template_is_rendered_or_refused_with_a_reason(text in "[a-z{} .|\"\\\\]{0,60}") {
        let object = json!({"metadata": {"name": "web", "namespace": "prod"}, "spec": {"target": "web"}});
        let scope = Scope::new(&object).with_var("workload", "web-canary");
        match template::validate_template(&text) {
            Ok(()) => {
                let vars = template::variables(&text);
                prop_assert!(vars.is_ok(), "validate accepted what variables refused: {:?}", vars);
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
        for escape in [Escape::None, Escape::PromQlString] {
            if let Err(e) = template::render(&text, &scope, escape) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
