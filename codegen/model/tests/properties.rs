//! Property tests of the project-file parsers and the template language: whatever the input,
//! they never panic, and every refusal is a diagnostic that names its file, says what is wrong
//! and points inside the text. Case counts are bounded so CI stays fast.
use std::path::Path;

use autopilot_model::template::{self, Escape, Scope};
use autopilot_model::{Diagnostics, load_dir, parse_operator, parse_project};
use proptest::prelude::*;
use serde_json::{Value, json};

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

/// A value of any YAML type, a few levels deep, with keys the project files use (so the parser
/// goes past the unknown-field check and meets the wrong type where it expects another).
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        Just(json!("Initializing")),
        Just(json!("configmaps")),
        Just(json!("5s")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys of both project files, and a stranger.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name"),
        Just("initial"),
        Just("final"),
        Just("inputs"),
        Just("outputs"),
        Just("next"),
        Just("deadline"),
        Just("type"),
        Just("properties"),
        Just("default"),
        Just("enum"),
        Just("labelSelector"),
        Just("query"),
        Just("phases"),
        Just("endpoint"),
        Just("retry"),
        Just("nope"),
    ]
    .prop_map(str::to_string)
}

/// Every path to a value inside `v` (object keys and array indices).
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(json!(k));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(json!(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap_or_default() as usize],
        _ => v,
    })
}

/// `text` (YAML) with the value at the `pick`-th of its paths replaced by `with`, as YAML (in
/// JSON's flow style, which YAML reads), one line per value.
fn retyped(text: &str, pick: usize, with: Value) -> String {
    let mut doc: Value = serde_saphyr::from_str(text).expect("the example parses");
    let mut all = Vec::new();
    paths(&doc, &mut Vec::new(), &mut all);
    let path = &all[pick % all.len()];
    *at_mut(&mut doc, path) = with;
    serde_json::to_string_pretty(&doc).expect("JSON")
}

/// A directory per case for [`load_dir`], removed when dropped.
struct CaseDir(std::path::PathBuf);

impl CaseDir {
    fn new(project: &str, operator: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "autopilot-model-properties-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("case dir");
        std::fs::write(dir.join("autopilot.yaml"), project).expect("autopilot.yaml");
        std::fs::write(dir.join("autopilot-operator.yaml"), operator)
            .expect("autopilot-operator.yaml");
        CaseDir(dir)
    }
}

impl Drop for CaseDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

proptest! {
    // Parsing the whole canary project takes tens of milliseconds in a debug build: fewer
    // cases, so the suite stays within seconds.
    #![proptest_config(ProptestConfig { cases: 64, ..config() })]

    #[test]
    fn a_project_with_any_value_retyped_is_parsed_or_refused_by_name(
        pick in any::<usize>(),
        with in any_value(),
    ) {
        let text = retyped(CANARY, pick, with);
        if let Err(e) = parse_project("autopilot.yaml", &text) {
            named("autopilot.yaml", &text, &e)?;
        }
    }

    #[test]
    fn an_operator_file_with_any_value_retyped_is_parsed_or_refused_by_name(
        pick in any::<usize>(),
        with in any_value(),
    ) {
        let text = retyped(CANARY_OPERATOR, pick, with);
        if let Err(e) = parse_operator("autopilot-operator.yaml", &text) {
            named("autopilot-operator.yaml", &text, &e)?;
        }
    }
}

proptest! {
    // Each case writes two files: fewer cases.
    #![proptest_config(ProptestConfig { cases: 64, ..config() })]

    /// Both files edited, then loaded together: the checks across them (workers serving every
    /// phase, Git targets declared) refuse by name too.
    #[test]
    fn both_files_edited_are_loaded_or_refused_by_name(
        project_edits in prop::collection::vec(edit(), 0..4),
        operator_edits in prop::collection::vec(edit(), 0..4),
    ) {
        let project = apply(CANARY, &project_edits);
        let operator = apply(CANARY_OPERATOR, &operator_edits);
        let dir = CaseDir::new(&project, &operator);
        if let Err(e) = load_dir(&dir.0) {
            prop_assert!(!e.is_empty(), "a refusal without a diagnostic");
            for d in e.iter() {
                let file = d.file.file_name().and_then(|f| f.to_str()).unwrap_or_default();
                prop_assert!(
                    file == "autopilot.yaml" || file == "autopilot-operator.yaml",
                    "a diagnostic naming neither file: {:?}", d
                );
                let text = if file == "autopilot.yaml" { &project } else { &operator };
                prop_assert!(!d.message.trim().is_empty(), "empty message: {:?}", d);
                prop_assert!(d.line <= text.lines().count() + 1, "line out of the file: {:?}", d);
            }
        }
    }
}
