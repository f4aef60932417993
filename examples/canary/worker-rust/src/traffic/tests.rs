//! Table tests of the traffic checks, the split each state holds, and the objects carrying it.
use serde_json::{Value, json};

use super::*;
use crate::model::{Mirror, Strategy};

fn spec(fields: Value) -> Spec {
    let mut full = json!({"targetRef": "web", "port": 8080});
    for (k, v) in fields.as_object().into_iter().flatten() {
        full[k] = v.clone();
    }
    serde_json::from_value(full).expect("a valid spec")
}

/// `weighted:30`, `mirrored:50`, `matched` or `switched`, as `traffic.json` writes a split.
fn parse_split(text: &str) -> Split {
    match text.split_once(':') {
        Some(("weighted", w)) => Split::Weighted(w.parse().unwrap()),
        Some(("mirrored", p)) => Split::Mirrored(p.parse().unwrap()),
        _ if text == "matched" => Split::Matched,
        _ if text == "switched" => Split::Switched,
        _ => panic!("unknown split {text:?}"),
    }
}

/// The objects both workers build, compared field for field with `testdata/traffic.json` (the
/// Python worker's tests read the same file; the end-to-end suite applies each object against
/// the upstream Istio and Gateway API CRDs).
#[test]
fn objects_match_the_shared_shapes() {
    let shapes: Value =
        serde_json::from_str(include_str!("../../../testdata/traffic.json")).unwrap();
    let cases = shapes["cases"].as_array().unwrap();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let split = parse_split(case["split"].as_str().unwrap());
        let got = object(&spec(case["spec"].clone()), split);
        assert_eq!(got, case["object"], "{name}");
    }
}

#[test]
fn checks_name_what_does_not_fit() {
    let cases: &[(Value, Option<&str>)] = &[
        (json!({}), None),
        (
            json!({"strategy": "blueGreen", "traffic": "kubernetes"}),
            None,
        ),
        (
            json!({"traffic": "kubernetes"}),
            Some(
                "spec.traffic kubernetes cannot split traffic (a Service selects one track): it serves spec.strategy blueGreen only, not canary",
            ),
        ),
        (
            json!({"strategy": "abTesting", "traffic": "kubernetes", "match": [{"header": "x", "exact": "1"}]}),
            Some(
                "spec.traffic kubernetes cannot split traffic (a Service selects one track): it serves spec.strategy blueGreen only, not abTesting",
            ),
        ),
        (
            json!({"strategy": "blueGreen", "traffic": "kubernetes", "mirror": {}}),
            Some("spec.mirror needs a route: set spec.traffic to istio or gatewayapi"),
        ),
        (
            json!({"strategy": "blueGreen", "mirror": {"percentage": 10}}),
            None,
        ),
        (
            json!({"traffic": "linkerd", "mirror": {}}),
            Some(
                "spec.mirror: Linkerd's HTTPRoute has no RequestMirror filter; set spec.traffic to istio or gatewayapi to mirror",
            ),
        ),
        (json!({"traffic": "linkerd", "strategy": "blueGreen"}), None),
        (
            json!({"strategy": "abTesting"}),
            Some("spec.match: strategy abTesting needs at least one entry"),
        ),
        (
            json!({"strategy": "abTesting", "match": [{"header": "x-canary", "exact": "1"}, {"exact": "1"}]}),
            Some("spec.match[1]: name a header or a cookie (one of them, not empty)"),
        ),
        (
            json!({"strategy": "abTesting", "match": [{"header": "x", "cookie": "c", "exact": "1"}]}),
            Some("spec.match[0]: name a header or a cookie (one of them, not empty)"),
        ),
        (
            json!({"strategy": "abTesting", "match": [{"cookie": "", "exact": "1"}]}),
            Some("spec.match[0]: name a header or a cookie (one of them, not empty)"),
        ),
        (
            json!({"strategy": "abTesting", "match": [{"cookie": "canary", "exact": "1", "regex": "1"}]}),
            Some("spec.match[0]: give exact or regex (one of them)"),
        ),
        (
            json!({"strategy": "abTesting", "match": [{"header": "x-user"}]}),
            Some("spec.match[0]: give exact or regex (one of them)"),
        ),
    ];
    for (fields, want) in cases {
        assert_eq!(
            check(&spec(fields.clone())).err().as_deref(),
            *want,
            "{fields}"
        );
    }
}

#[test]
fn splits_by_strategy_and_stage() {
    let mirror = Some(Mirror {
        percentage: 50,
        iterations: 2,
    });
    let info = |iteration, passed_checks, current_weight| Info {
        iteration,
        passed_checks,
        current_weight,
        ..Info::default()
    };
    // (strategy, mirror, info) → (split while analysing, split while promoting)
    let cases: &[(Strategy, Option<Mirror>, Info, Split, Split)] = &[
        (
            Strategy::Canary,
            None,
            info(0, 0, 20),
            Split::Weighted(20),
            Split::Weighted(20),
        ),
        (Strategy::Canary, None, info(0, 0, 0), PRIMARY, PRIMARY),
        (
            Strategy::Canary,
            None,
            info(3, 3, 60),
            Split::Weighted(60),
            Split::Weighted(60),
        ),
        (
            Strategy::Canary,
            mirror,
            info(1, 1, 0),
            Split::Mirrored(50),
            PRIMARY,
        ),
        (
            Strategy::Canary,
            mirror,
            info(3, 2, 20),
            Split::Weighted(20),
            Split::Weighted(20),
        ),
        (
            Strategy::AbTesting,
            None,
            info(0, 0, 0),
            Split::Matched,
            PRIMARY,
        ),
        (
            Strategy::AbTesting,
            None,
            info(2, 2, 0),
            Split::Matched,
            Split::Matched,
        ),
        (
            Strategy::AbTesting,
            mirror,
            info(1, 0, 0),
            Split::Mirrored(50),
            PRIMARY,
        ),
        (
            Strategy::AbTesting,
            mirror,
            info(2, 2, 0),
            Split::Matched,
            Split::Matched,
        ),
        (Strategy::BlueGreen, None, info(0, 0, 0), PRIMARY, PRIMARY),
        (
            Strategy::BlueGreen,
            None,
            info(5, 5, 0),
            PRIMARY,
            Split::Switched,
        ),
        (
            Strategy::BlueGreen,
            mirror,
            info(1, 1, 0),
            Split::Mirrored(50),
            PRIMARY,
        ),
    ];
    for (strategy, mirror, info, analysing_split, promoting_split) in cases {
        let spec = Spec {
            strategy: *strategy,
            mirror: *mirror,
            ..Spec::default()
        };
        assert_eq!(
            (analysing(&spec, info), promoting(&spec, info)),
            (*analysing_split, *promoting_split),
            "{strategy:?} {mirror:?} {info:?}"
        );
    }
}

#[test]
fn cookie_values_are_escaped() {
    let m = Match {
        cookie: Some("canary.v2".into()),
        exact: Some("a+b".into()),
        ..Match::default()
    };
    assert_eq!(
        header_match(&m),
        (
            "cookie".to_string(),
            "regex",
            r"^(.*?;\s*)?canary\.v2=a\+b(;.*)?$".to_string()
        )
    );
    assert_eq!(
        escape(r"\.+*?()|[]{}^$ok"),
        r"\\\.\+\*\?\(\)\|\[\]\{\}\^\$ok"
    );
}

#[test]
fn canary_weight_is_read_from_the_unmatched_rule() {
    let s = spec(json!({"strategy": "abTesting", "match": [{"header": "x-canary", "exact": "1"}]}));
    assert_eq!(canary_weight_of(&object(&s, Split::Matched)), Some(0));
    assert_eq!(canary_weight_of(&object(&s, Split::Weighted(30))), Some(30));
    let g = spec(json!({"traffic": "gatewayapi"}));
    assert_eq!(canary_weight_of(&object(&g, Split::Switched)), Some(100));
}

/// Prints the objects for `testdata/traffic.json` (run with `--ignored --nocapture` after a
/// deliberate change of shape, then review the diff).
#[test]
#[ignore]
fn print_shared_shapes() {
    let matches = json!([
        {"header": "X-Canary", "exact": "insider"},
        {"cookie": "canary", "exact": "always"},
        {"header": "x-user", "regex": "^(alice|bob)$"}
    ]);
    let mut cases = Vec::new();
    for traffic in ["istio", "gatewayapi"] {
        for split in ["weighted:30", "mirrored:50", "matched", "switched"] {
            let fields = if split == "matched" {
                json!({"traffic": traffic, "strategy": "abTesting", "match": matches})
            } else {
                json!({"traffic": traffic})
            };
            let object = object(&spec(fields.clone()), parse_split(split));
            cases.push(json!({"name": format!("{traffic} {split}"), "spec": fields,
                "split": split, "object": object}));
        }
    }
    for split in ["weighted:30", "matched"] {
        let fields = if split == "matched" {
            json!({"traffic": "linkerd", "strategy": "abTesting", "match": matches})
        } else {
            json!({"traffic": "linkerd"})
        };
        let object = object(&spec(fields.clone()), parse_split(split));
        cases.push(json!({"name": format!("linkerd {split}"), "spec": fields,
            "split": split, "object": object}));
    }
    for split in ["weighted:0", "switched"] {
        let fields = json!({"traffic": "kubernetes", "strategy": "blueGreen"});
        let object = object(&spec(fields.clone()), parse_split(split));
        cases.push(
            json!({"name": format!("kubernetes {split}"), "spec": fields,
            "split": split, "object": object}),
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({"cases": cases})).unwrap()
    );
}
