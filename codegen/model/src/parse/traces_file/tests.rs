//! Table tests of `traces:` and of trace inputs: each case is a file, where its error must be,
//! and what the message must say.

use std::time::Duration;

use crate::parse::table::{Case, check};
use crate::{Input, parse_project};

/// Four valid header lines; cases start at line 5.
macro_rules! head {
    () => {
        "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\nspec: {type: object}\n"
    };
}

/// A phase reading `$inputs`, on lines 5-8 after the traces (which come first).
macro_rules! phase {
    ($inputs:expr) => {
        concat!(
            "phases:\n  - name: A\n    initial: true\n    inputs: ",
            $inputs,
            "\n  - {name: Done, final: true}\n"
        )
    };
}

#[test]
fn rules() {
    let cases: &[Case] = &[
        (
            "missing service",
            concat!(head!(), "traces:\n  - name: spans\n"),
            "6:5",
            "traces[0].service: missing required field",
        ),
        (
            "name not kebab-case",
            concat!(head!(), "traces:\n  - {name: Spans, service: web}\n"),
            "6:12",
            "traces[0].name:",
        ),
        (
            "duplicate name",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: a}\n  - {name: spans, service: b}\n"
            ),
            "7:12",
            "traces[1].name: duplicate trace query `spans` (first declared on line 6)",
        ),
        (
            "malformed template",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: '{{ spec.x'}\n"
            ),
            "6:28",
            "traces[0].service: invalid template",
        ),
        (
            "bad look-back",
            concat!(
                head!(),
                "traces:\n  - name: spans\n    service: web\n    lookBack: soon\n"
            ),
            "8:15",
            "traces[0].lookBack: `soon` is not a duration",
        ),
        (
            "limit of zero",
            concat!(
                head!(),
                "traces:\n  - name: spans\n    service: web\n    limit: 0\n"
            ),
            "8:12",
            "traces[0].limit: must be between 1 and 5000 traces",
        ),
        (
            "more samples than traces",
            concat!(
                head!(),
                "traces:\n  - name: spans\n    service: web\n    limit: 2\n    samples: 3\n"
            ),
            "9:14",
            "traces[0].samples: cannot exceed `limit` (2)",
        ),
        (
            "unknown field",
            concat!(head!(), "traces:\n  - name: spans\n    services: web\n"),
            "7:5",
            "traces[0].services: unknown field `services`",
        ),
        (
            "unknown trace query in an input",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: web}\n",
                phase!("[{traces: [spanz]}]")
            ),
            "10:24",
            "phases[0].inputs[0].traces[0]: unknown trace query `spanz`; did you mean `spans`?",
        ),
        (
            "trace query used as a parameter",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: web}\n",
                phase!("[spans]")
            ),
            "10:14",
            "`spans` is a trace query, not a parameter: write `- traces: [spans]`",
        ),
        (
            "bare traces without declarations",
            concat!(head!(), phase!("[traces]")),
            "8:14",
            "`traces` alone means every trace query declared under `traces`, and there are none",
        ),
        (
            "unbound var",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: '{{ workload }}'}\n",
                phase!("[{traces: [spans]}]")
            ),
            "10:24",
            "trace query `spans` uses `{{ workload }}`, which nothing binds",
        ),
        (
            "traces and metrics in one item",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: web}\n",
                phase!("[{traces: [spans], metrics: [x]}]")
            ),
            "10:14",
            "give one of `name` (a resource input), `metrics` (queries) or `traces`",
        ),
        (
            "selector on a traces input",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: web}\n",
                phase!("[{traces: [spans], labelSelector: a=b}]")
            ),
            "10:47",
            "phases[0].inputs[0].labelSelector: `labelSelector` applies to resource inputs only",
        ),
        (
            "traces as an output",
            concat!(
                head!(),
                "traces:\n  - {name: spans, service: web}\n",
                "phases:\n  - name: A\n    initial: true\n    outputs: [traces]\n  - {name: Done, final: true}\n"
            ),
            "10:15",
            "`traces` is an input only and cannot be an output",
        ),
    ];
    check(cases, |yaml| parse_project("autopilot.yaml", yaml));
}

#[test]
fn defaults_and_inputs() {
    let p = parse_project(
        "autopilot.yaml",
        concat!(
            head!(),
            "traces:\n",
            "  - name: canary-spans\n",
            "    service: '{{ workload }}'\n",
            "    tags: {error: 'true', http.status_code: '{{ spec.code }}'}\n",
            "  - {name: all-spans, service: web, operation: GET /, lookBack: 30s, limit: 10, samples: 0}\n",
            phase!("[{traces: [canary-spans], vars: {workload: '{{ name }}-canary'}}, {traces: [all-spans]}]"),
        ),
    )
    .unwrap();
    let q = p.trace("canary-spans").unwrap();
    assert_eq!((q.limit, q.samples, q.look_back.as_str()), (100, 3, "5m"));
    assert_eq!(q.tags["http.status_code"], "{{ spec.code }}");
    let all = p.trace("all-spans").unwrap();
    assert_eq!(all.operation.as_deref(), Some("GET /"));
    let object = serde_json::json!({"metadata": {"name": "web"}});
    let search = all.render(&object, &Default::default()).unwrap();
    assert_eq!(search.look_back, Duration::from_secs(30));
    assert!(p.uses_traces());
    let Input::Traces { queries, vars } = &p.phases[0].inputs[0] else {
        panic!("{:?}", p.phases[0].inputs)
    };
    assert_eq!(queries, &["canary-spans"]);
    assert_eq!(vars["workload"], "{{ name }}-canary");
    assert!(
        matches!(&p.phases[0].inputs[1], Input::Traces { queries, .. } if queries == &["all-spans"])
    );
}
