use serde::Deserialize;
use serde_saphyr::Spanned;
use std::fmt;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Doc {
    kind: Spanned<String>,
    #[serde(default)]
    finalizer: bool,
    #[serde(default)]
    phases: Vec<Spanned<Phase>>,
    spec: Option<Spanned<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Phase {
    name: Spanned<String>,
    #[serde(default)]
    initial: bool,
    #[serde(default)]
    inputs: Vec<Spanned<InputItem>>,
}

#[derive(Debug)]
enum InputItem {
    Name(String),
    Map(InputMap),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InputMap {
    name: Option<Spanned<String>>,
    #[serde(rename = "as")]
    key: Option<Spanned<String>>,
    metrics: Option<Vec<Spanned<String>>>,
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = InputItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a parameter name or a mapping")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<InputItem, E> {
                Ok(InputItem::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<InputItem, A::Error> {
                InputMap::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(InputItem::Map)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
struct Node(#[allow(dead_code)] serde_json::Value);

fn show(label: &str, text: &str) {
    match serde_saphyr::from_str::<Doc>(text) {
        Ok(d) => println!("{label}: OK {d:#?}"),
        Err(e) => {
            let loc = e.location();
            let msg = serde_saphyr::DefaultMessageFormatter.format_message(e.without_snippet());
            println!("{label}: loc={:?} msg={msg:?}\n   display={}", loc.map(|l| (l.line(), l.column())), e.without_snippet());
        }
    }
}

use serde_saphyr::MessageFormatter;

#[test]
fn experiment() {
    show("ok", "kind: Foo\nphases:\n  - name: A\n    initial: true\n    inputs:\n      - pods\n      - name: deployments\n        as: d\n      - metrics: [a, b]\nspec:\n  type: object\n  x: 1.5\n");
    show("badindent", "kind: Foo\nphases:\n  - name: A\n     initial: true\n");
    show("badindent2", "kind: Foo\nphases:\n  - name: A\n    initial: true\n   inputs: []\n");
    show("wrongtype", "kind: Foo\nphases:\n  - name: A\n    initial: [1]\n");
    show("wrongtype-str", "kind: [a]\n");
    show("unknown", "kind: Foo\nphases:\n  - name: A\n    initail: true\n");
    show("unknown-top", "kind: Foo\nfoo: 1\n");
    show("missing", "kind: Foo\nphases:\n  - initial: true\n    inputs: []\n");
    show("missing-top", "phases: []\n");
    show("input-unknown", "kind: Foo\nphases:\n  - name: A\n    inputs:\n      - name: x\n        bogus: 1\n");
    show("input-wrong", "kind: Foo\nphases:\n  - name: A\n    inputs:\n      - 5\n");
    show("input-wrong-seq", "kind: Foo\nphases:\n  - name: A\n    inputs:\n      - [a]\n");
    show("dup", "kind: Foo\nkind: Bar\n");
    show("tab", "kind: Foo\nphases:\n\t- name: A\n");
    show("unclosed", "kind: \"Foo\nphases: []\n");
    show("flow", "kind: Foo\nphases: [ {name: A, initial: true }\n");
}
