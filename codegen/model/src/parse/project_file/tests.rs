//! Table tests of the `autopilot.yaml` checks: each case is a file, where its error must be, and
//! what the message must say.

use crate::parse::table::{Case, check};
use crate::parse_project;

/// Four valid header lines; cases start at line 5.
macro_rules! head {
    () => {
        "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\nspec: {type: object}\n"
    };
}

#[test]
fn rules() {
    let cases: &[Case] = &[
        (
            "no initial phase",
            concat!(
                head!(),
                "phases:\n  - name: A\n  - name: B\n    final: true\n"
            ),
            "6:3",
            "phases: no phase is initial",
        ),
        (
            "empty phases",
            concat!(head!(), "phases: []\n"),
            "5:9",
            "declare at least one phase",
        ),
        (
            "two initial phases",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n  - name: B\n    initial: true\n"
            ),
            "9:14",
            "phases[1].initial: `B` is a second initial phase (`A` is initial)",
        ),
        (
            "initial phase is final",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    final: true\n"
            ),
            "8:12",
            "phases[0].final: the initial phase cannot be final",
        ),
        (
            "duplicate phase names",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n  - {name: A}\n"
            ),
            "7:12",
            "phases[1].name: duplicate phase `A` (first declared on line 6)",
        ),
        (
            "phase name not UpperCamelCase",
            concat!(
                head!(),
                "phases:\n  - {name: initializing, initial: true}\n"
            ),
            "6:12",
            "phases[0].name: `initializing` is not UpperCamelCase",
        ),
        (
            "unknown input parameter",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs: [podz]\n"
            ),
            "8:14",
            "phases[0].inputs[0]: unknown parameter `podz`",
        ),
        (
            "unknown input parameter in a mapping",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n      - name: podz\n"
            ),
            "9:15",
            "phases[0].inputs[0].name: unknown parameter `podz`",
        ),
        (
            "query name used as a parameter",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs: [istio-success-rate]\n"
            ),
            "8:14",
            "`istio-success-rate` is a query, not a parameter: write `- metrics: [istio-success-rate]`",
        ),
        (
            "unknown output parameter",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    outputs: [pods, podz]\n"
            ),
            "8:21",
            "phases[0].outputs[1]: unknown parameter `podz`",
        ),
        (
            "metrics as an output",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    outputs: [metrics]\n"
            ),
            "8:15",
            "phases[0].outputs[0]: `metrics` is an input only",
        ),
        (
            "unknown query",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n      - metrics: [nope]\n"
            ),
            "9:19",
            "phases[0].inputs[0].metrics[0]: unknown query `nope`",
        ),
        (
            "bare metrics without declared queries",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs: [metrics]\n"
            ),
            "8:14",
            "`metrics` alone means every query declared under `queries`, and there are none",
        ),
        (
            "built-in query without its vars",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n",
                "      - metrics: [istio-success-rate]\n        vars: {workload: \"{{ spec.t }}\"}\n"
            ),
            "9:19",
            "query `istio-success-rate` uses `{{ interval }}`, which nothing binds",
        ),
        (
            "metrics input with a resource field",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n",
                "      - metrics: [istio-success-rate]\n        as: m\n",
                "        vars: {workload: w, interval: 1m}\n"
            ),
            "10:13",
            "phases[0].inputs[0].as: `as` applies to resource inputs only",
        ),
        (
            "input mapping with name and metrics",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n      - {name: pods, metrics: [x]}\n"
            ),
            "9:9",
            "give one of `name` (a resource input), `metrics` (queries) or `traces`",
        ),
        (
            "duplicate input key",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n      - pods\n",
                "      - name: pods\n        labelSelector: app=x\n"
            ),
            "10:15",
            "duplicate input key `pods`",
        ),
        (
            "input key not an identifier",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n      - {name: pods, as: my-pods}\n"
            ),
            "9:26",
            "phases[0].inputs[0].as: `my-pods` is not an identifier",
        ),
        (
            "bad selector template",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n",
                "      - name: pods\n        labelSelector: \"app={{ spec.target\"\n"
            ),
            "10:24",
            "labelSelector: invalid template: `{{` at offset 4 is not closed",
        ),
        (
            "namespace on a cluster-scoped parameter",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n",
                "      - {name: nodes, namespace: x}\n",
                "parameters:\n  - {name: nodes, apiVersion: v1, kind: Node, namespaced: false}\n"
            ),
            "9:34",
            "`nodes` is cluster-scoped",
        ),
        (
            "transition to an unknown phase",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    next: [B]\n"
            ),
            "8:12",
            "phases[0].next[0]: transition to unknown phase `B` (one of: A)",
        ),
        (
            "outputs on a final phase",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n  - name: Done\n    final: true\n    outputs: [pods]\n"
            ),
            "9:14",
            "phases[1].outputs: a final phase calls no worker, so it has no outputs",
        ),
        (
            "inputs on a final phase",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n  - name: Done\n    final: true\n    inputs: [pods]\n"
            ),
            "9:13",
            "phases[1].inputs: a final phase calls no worker, so it has no inputs",
        ),
        (
            "deadline on a final phase",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n  - {name: Done, final: true, deadline: 5s}\n"
            ),
            "7:41",
            "phases[1].deadline: a final phase calls no worker",
        ),
        (
            "bad phase deadline",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true, deadline: soon}\n"
            ),
            "6:40",
            "phases[0].deadline: `soon` is not a duration",
        ),
        (
            "operatorName not a DNS-1123 label",
            "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: Foo_Operator\nspec: {type: object}\nphases: [{name: A, initial: true}]\n",
            "3:15",
            "operatorName: `Foo_Operator` is not a DNS-1123 label",
        ),
        (
            "plural not a DNS-1123 label",
            concat!(
                head!(),
                "plural: Foo_s\nphases: [{name: A, initial: true}]\n"
            ),
            "5:9",
            "plural: `Foo_s` is not a DNS-1123 label",
        ),
        (
            "apiVersion without a version",
            "apiVersion: a.example.com\nkind: Foo\noperatorName: foo\nspec: {type: object}\nphases: [{name: A, initial: true}]\n",
            "1:13",
            "apiVersion: `a.example.com` is not group/version",
        ),
        (
            "apiVersion with a dotless group",
            "apiVersion: example/v1\nkind: Foo\noperatorName: foo\nspec: {type: object}\nphases: [{name: A, initial: true}]\n",
            "1:13",
            "apiVersion: `example/v1` is not group/version",
        ),
        (
            "kind not UpperCamelCase",
            "apiVersion: a.example.com/v1\nkind: foo-bar\noperatorName: foo\nspec: {type: object}\nphases: [{name: A, initial: true}]\n",
            "2:7",
            "kind: `foo-bar` is not UpperCamelCase",
        ),
        (
            "spec not type object",
            "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\nspec:\n  type: string\nphases: [{name: A, initial: true}]\n",
            "5:3",
            "spec: the spec schema must have `type: object`",
        ),
        (
            "statusInfo not a schema",
            concat!(
                head!(),
                "statusInfo: [a]\nphases: [{name: A, initial: true}]\n"
            ),
            "5:13",
            "statusInfo: must be an OpenAPI v3 schema",
        ),
        (
            "phase served by no worker",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n  - {name: B}\n",
                "workers:\n  - {name: w, phases: [A]}\n"
            ),
            "9:3",
            "workers: phase `B` is not served by any worker",
        ),
        (
            "worker serving an unknown phase",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n",
                "workers:\n  - {name: w, phases: [A, Z]}\n"
            ),
            "8:27",
            "workers[0].phases[1]: unknown phase `Z`",
        ),
        (
            "worker serving a final phase",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n  - {name: Done, final: true}\n",
                "workers:\n  - {name: w, phases: [A, Done]}\n"
            ),
            "9:27",
            "workers[0].phases[1]: phase `Done` is final",
        ),
        (
            "phase served by two workers",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n",
                "workers:\n  - {name: w}\n  - {name: v, phases: [A]}\n"
            ),
            "9:24",
            "workers[1].phases[0]: phase `A` is served by both `w` and `v`",
        ),
        (
            "replicas on a sidecar",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n",
                "workers:\n  - {name: w, replicas: 3}\n"
            ),
            "8:25",
            "workers[0].replicas: `replicas` applies to mode deployment only",
        ),
        (
            "duplicate worker",
            concat!(
                head!(),
                "phases:\n  - {name: A, initial: true}\n  - {name: B}\n",
                "workers:\n  - {name: w, phases: [A]}\n  - {name: w, phases: [B]}\n"
            ),
            "10:12",
            "workers[1].name: duplicate worker `w`",
        ),
        (
            "duplicate parameter",
            concat!(
                head!(),
                "phases: [{name: A, initial: true}]\nparameters:\n",
                "  - {name: rollouts, apiVersion: argoproj.io/v1alpha1, kind: Rollout}\n",
                "  - {name: rollouts, apiVersion: argoproj.io/v1alpha1, kind: Rollout}\n"
            ),
            "8:12",
            "parameters[1].name: duplicate parameter `rollouts` (first declared on line 7)",
        ),
        (
            "parameter shadowing a built-in",
            concat!(
                head!(),
                "phases: [{name: A, initial: true}]\nparameters:\n",
                "  - {name: pods, apiVersion: v1, kind: Pod}\n"
            ),
            "7:12",
            "parameters[0].name: `pods` shadows the built-in parameter (v1 Pod)",
        ),
        (
            "parameter with a bad apiVersion",
            concat!(
                head!(),
                "phases: [{name: A, initial: true}]\nparameters:\n",
                "  - {name: rollouts, apiVersion: argoproj.io, kind: Rollout}\n"
            ),
            "7:34",
            "parameters[0].apiVersion: `argoproj.io` is not an API version",
        ),
        (
            "duplicate query",
            concat!(
                head!(),
                "phases: [{name: A, initial: true}]\nqueries:\n",
                "  - {name: rate, query: up}\n  - {name: rate, query: up}\n"
            ),
            "8:12",
            "queries[1].name: duplicate query `rate`",
        ),
        (
            "query name not kebab-case",
            concat!(
                head!(),
                "phases: [{name: A, initial: true}]\nqueries:\n  - {name: Rate, query: up}\n"
            ),
            "7:12",
            "queries[0].name: `Rate` is not kebab-case",
        ),
        (
            "query template unbalanced",
            concat!(
                head!(),
                "phases: [{name: A, initial: true}]\nqueries:\n  - name: rate\n    query: 'up{a=\"{{ spec.a\"}'\n"
            ),
            "8:12",
            "queries[0].query: invalid template",
        ),
        (
            "query range missing step",
            concat!(
                head!(),
                "phases: [{name: A, initial: true}]\nqueries:\n  - name: rate\n    query: up\n    range: {duration: 5m}\n"
            ),
            "9:12",
            "queries[0].range.step: missing required field",
        ),
    ];
    check(cases, |yaml| parse_project("autopilot.yaml", yaml));
}

#[test]
fn every_error_is_reported() {
    let yaml = concat!(
        "apiVersion: a.example.com\nkind: foo\noperatorName: Foo\nspec: {type: object}\n",
        "phases:\n  - {name: A, initial: true, outputs: [podz, metrics]}\n  - {name: A}\n"
    );
    let err = parse_project("autopilot.yaml", yaml).unwrap_err();
    let fields: Vec<&str> = err.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "apiVersion",
            "kind",
            "operatorName",
            "phases[0].outputs[0]",
            "phases[0].outputs[1]",
            "phases[1].name"
        ],
        "{err}"
    );
}

/// Schema values the API server would refuse, and template paths the schemas do not declare:
/// both once passed validation and failed only on `kubectl apply` or at run time.
#[test]
fn schema_values_and_template_paths() {
    macro_rules! spec {
        () => {
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec:\n  type: object\n  properties:\n",
                "    targetHost: {type: string}\n",
                "    abortPercent: {type: integer, default: 10, minimum: 0, maximum: 100}\n",
                "statusInfo:\n  type: object\n  properties:\n    weight: {type: integer}\n",
            )
        };
    }
    // spec!() is 12 lines; cases start at line 13.
    let cases: &[Case] = &[
        (
            "default of the wrong type",
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec:\n  type: object\n  properties:\n    abortPercent:\n",
                "      type: integer\n      default: \"ten\"\n",
                "phases: [{name: A, initial: true}]\n",
            ),
            "9:16",
            "spec.properties.abortPercent.default: default must be an integer (the schema's \
             type `integer`), found \"ten\" (a string)",
        ),
        (
            "default out of range",
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec:\n  type: object\n  properties:\n",
                "    abortPercent: {type: integer, minimum: 0, maximum: 100, default: 150}\n",
                "phases: [{name: A, initial: true}]\n",
            ),
            "7:70",
            "spec.properties.abortPercent.default: default 150 is above the maximum",
        ),
        (
            "enum value of the wrong type in statusInfo",
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec: {type: object}\n",
                "statusInfo:\n  type: object\n  properties:\n",
                "    verdict: {type: string, enum: [pass, 3]}\n",
                "phases: [{name: A, initial: true}]\n",
            ),
            "8:42",
            "statusInfo.properties.verdict.enum[1]: must be a string",
        ),
        (
            "maximum on a string",
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec:\n  type: object\n  properties:\n",
                "    name: {type: string, maximum: 3}\n",
                "phases: [{name: A, initial: true}]\n",
            ),
            "7:35",
            "spec.properties.name.maximum: `maximum` applies to numbers only",
        ),
        (
            "misspelt spec path in a query",
            concat!(
                spec!(),
                "phases:\n  - name: A\n    initial: true\n    inputs: [metrics]\n",
                "queries:\n  - name: rate\n    query: 'up{h=\"{{ spec.targetHst }}\"}'\n",
            ),
            "19:12",
            "queries[0].query: `{{ spec.targetHst }}` is not in the spec schema: `spec` has no \
             field `targetHst`; did you mean `targetHost`?",
        ),
        (
            "misspelt statusInfo path in a selector",
            concat!(
                spec!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n",
                "      - name: pods\n        labelSelector: \"w={{ status.statusInfo.wieght }}\"\n",
            ),
            "18:24",
            "phases[0].inputs[0].labelSelector: `{{ status.statusInfo.wieght }}` is not in the \
             status schema: `status.statusInfo` has no field `wieght`; did you mean `weight`?",
        ),
        (
            "unknown spec path in vars",
            concat!(
                spec!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n",
                "      - metrics: [istio-success-rate]\n",
                "        vars: {workload: '{{ spec.target }}', interval: 1m}\n",
            ),
            "18:26",
            "phases[0].inputs[0].vars.workload: `{{ spec.target }}` is not in the spec schema",
        ),
        (
            "spec path into a schema without properties",
            concat!(
                head!(),
                "phases:\n  - name: A\n    initial: true\n    inputs:\n",
                "      - {name: secrets, namespace: '{{ spec.ns }}'}\n",
            ),
            "9:36",
            "`spec` declares no fields in its schema, so `ns` is never set",
        ),
        (
            "CEL rule selecting an undeclared field",
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec:\n  type: object\n  properties:\n    abortPercent: {type: integer}\n",
                "  x-kubernetes-validations:\n",
                "    - rule: self.abortPercen < 50\n      message: too high\n",
                "phases: [{name: A, initial: true}]\n",
            ),
            "9:13",
            "spec.x-kubernetes-validations[0].rule: `self.abortPercen < 50`: \
             `self.abortPercen`: unknown field `abortPercen`; did you mean `abortPercent`?",
        ),
        (
            "CEL rule that does not parse, on a statusInfo field",
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec: {type: object}\n",
                "statusInfo:\n  type: object\n  properties:\n    weight:\n",
                "      type: integer\n      x-kubernetes-validations:\n",
                "        - {rule: 'self >= 0 &&', message: 'weight is negative'}\n",
                "phases: [{name: A, initial: true}]\n",
            ),
            "11:18",
            "statusInfo.properties.weight.x-kubernetes-validations[0].rule: the rule does not \
             parse as CEL: ",
        ),
        (
            "CEL rule with an unknown reason",
            concat!(
                "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
                "spec:\n  type: object\n  x-kubernetes-validations:\n",
                "    - rule: 'true'\n      reason: Forbidden\n",
                "phases: [{name: A, initial: true}]\n",
            ),
            "8:15",
            "spec.x-kubernetes-validations[0].reason: unknown reason `Forbidden` (one of: \
             FieldValueInvalid, FieldValueForbidden,",
        ),
    ];
    check(cases, |yaml| parse_project("autopilot.yaml", yaml));

    let ok = concat!(
        spec!(),
        "phases:\n  - name: A\n    initial: true\n    inputs:\n",
        "      - {name: pods, labelSelector: 'h={{ spec.targetHost }},w={{ status.statusInfo.weight }}'}\n",
        "      - {name: services, labelSelector: 'p={{ status.phase }},n={{ metadata.labels.app }}'}\n",
    );
    parse_project("autopilot.yaml", ok).unwrap();
}

#[test]
fn defaults_are_merged() {
    let yaml = concat!(
        "apiVersion: a.example.com/v1\nkind: Foo\noperatorName: foo\n",
        "spec: {type: object, properties: {ns: {type: string}}}\n",
        "phases:\n  - name: A\n    initial: true\n    inputs:\n",
        "      - pods\n      - {name: services, as: svc, namespace: '*'}\n",
        "      - {name: secrets, namespace: '{{ spec.ns }}', fieldSelector: type=Opaque}\n",
        "  - {name: B, next: [A]}\n  - {name: C, final: true}\n",
        "parameters:\n  - {name: rollouts, apiVersion: argoproj.io/v1alpha1, kind: Rollout}\n",
    );
    let p = parse_project("autopilot.yaml", yaml).unwrap();
    assert!(!p.finalizer);
    assert_eq!(
        p.status_info,
        serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    );
    assert_eq!(
        (p.group(), p.version(), p.plural()),
        ("a.example.com", "v1", "foos".into())
    );
    assert_eq!(p.initial_phase().unwrap().name, "A");
    assert_eq!(p.workers.len(), 1);
    let w = &p.workers[0];
    assert_eq!(
        (w.name.as_str(), w.language, w.mode, w.replicas),
        ("foo", crate::Language::Rust, crate::WorkerMode::Sidecar, 1)
    );
    assert_eq!(w.phases, ["A", "B"]);
    assert_eq!(p.worker_for_phase("B").unwrap().name, "foo");
    assert!(p.worker_for_phase("C").is_none());
    let rollouts = p.parameter("rollouts").unwrap();
    assert_eq!(
        (
            rollouts.plural.as_str(),
            rollouts.namespaced,
            rollouts.builtin
        ),
        ("rollouts", true, false)
    );
    assert_eq!(rollouts.api_version(), "argoproj.io/v1alpha1");
    use crate::{Input, InputNamespace};
    let inputs = &p.phase("A").unwrap().inputs;
    assert_eq!(
        inputs[1],
        Input::Resource {
            parameter: "services".into(),
            key: "svc".into(),
            namespace: InputNamespace::All,
            label_selector: None,
            field_selector: None,
        }
    );
    assert!(
        matches!(&inputs[2], Input::Resource { namespace: InputNamespace::Template(t), field_selector: Some(f), .. } if t == "{{ spec.ns }}" && f == "type=Opaque")
    );
    let b = p.phase("B").unwrap();
    assert!(
        b.allows_transition_to("A") && b.allows_transition_to("B") && b.allows_transition_to("")
    );
    assert!(!b.allows_transition_to("C"));
    assert!(p.phase("A").unwrap().allows_transition_to("C"));
    let used: Vec<String> = p.used_parameters().into_iter().map(|p| p.name).collect();
    assert_eq!(used, ["pods", "services", "secrets"]);
    assert!(!p.uses_metrics());
    assert_eq!(p.non_final_phases().count(), 2);
}

#[test]
fn plural_is_the_files_else_derived_from_the_kind() {
    let project = |kind: &str, plural: &str| {
        let yaml = format!(
            "apiVersion: a.example.com/v1\nkind: {kind}\noperatorName: foo\n{plural}\
             spec: {{type: object}}\nphases: [{{name: A, initial: true}}]\n"
        );
        parse_project("autopilot.yaml", &yaml)
            .unwrap_or_else(|e| panic!("{e}"))
            .plural()
    };
    assert_eq!(project("Canary", ""), "canaries");
    assert_eq!(project("Mesh", ""), "meshes");
    assert_eq!(project("Gateway", ""), "gateways");
    assert_eq!(project("Canary", "plural: canarys\n"), "canarys");
    assert_eq!(project("Person", "plural: people\n"), "people");
}
