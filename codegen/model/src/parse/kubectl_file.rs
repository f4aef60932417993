//! `printerColumns:`, `shortNames:` and `categories:` in `autopilot.yaml` as written, and the
//! checks that turn them into what the CRD declares for `kubectl get`.

use std::collections::HashMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Report, position, required};
use crate::kubectl::{BUILT_IN_COLUMNS, COLUMN_FORMATS, ColumnType, PrinterColumn};
use crate::names;

type S<T> = Spanned<T>;

/// One item of `printerColumns:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ColumnFile {
    name: Option<S<String>>,
    #[serde(rename = "type")]
    type_: Option<S<String>>,
    json_path: Option<S<String>>,
    description: Option<String>,
    format: Option<S<String>>,
    priority: Option<u32>,
}

/// The kubectl-facing parts of the file, checked.
#[derive(Debug, Default)]
pub(crate) struct Kubectl {
    pub(crate) short_names: Vec<String>,
    pub(crate) categories: Vec<String>,
    pub(crate) printer_columns: Vec<PrinterColumn>,
}

/// Check `shortNames`, `categories` and `printerColumns`; `plural` and `singular` are the
/// resource's own names, which a short name may not repeat.
pub(crate) fn kubectl(
    r: &mut Report,
    short_names: Option<&[S<String>]>,
    categories: Option<&[S<String>]>,
    columns: Option<&[S<ColumnFile>]>,
    (plural, singular): (&str, &str),
) -> Kubectl {
    let short_names = labels(r, short_names.unwrap_or_default(), "shortNames", |name| {
        if name == plural || name == singular {
            Err(format!(
                "`{name}` is already the resource's {} name",
                if name == plural { "plural" } else { "singular" }
            ))
        } else {
            Ok(())
        }
    });
    let categories = labels(r, categories.unwrap_or_default(), "categories", |name| {
        if name == "all" {
            // `kubectl get all` is meant for the core workload kinds; joining it makes every
            // `get all` list this kind too, which kubectl's own docs advise against.
            Err("`all` is reserved for Kubernetes' built-in workload kinds".to_owned())
        } else {
            Ok(())
        }
    });
    let printer_columns = columns
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| column(r, i, c))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, c) in columns.unwrap_or_default().iter().enumerate() {
        let Some(name) = &c.value.name else { continue };
        let key = name.value.to_lowercase();
        let field = format!("printerColumns[{i}].name");
        if let Some(first) = seen.get(&key) {
            r.error(
                &name.referenced,
                &field,
                format!(
                    "duplicate printer column `{}` (first declared on line {first})",
                    name.value
                ),
            );
        } else {
            seen.insert(key, position(&name.referenced).0);
        }
    }
    Kubectl {
        short_names,
        categories,
        printer_columns,
    }
}

/// Lowercase DNS labels, each once, each passing `rule`.
fn labels(
    r: &mut Report,
    items: &[S<String>],
    field: &str,
    rule: impl Fn(&str) -> Result<(), String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let name = &item.value;
        if let Err(why) = names::dns_label(name).and_then(|()| rule(name)) {
            r.error(&item.referenced, &at, why);
        } else if out.contains(name) {
            r.error(&item.referenced, &at, format!("`{name}` is listed twice"));
        } else {
            out.push(name.clone());
        }
    }
    out
}

fn column(r: &mut Report, i: usize, item: &S<ColumnFile>) -> Option<PrinterColumn> {
    let at = |field: &str| format!("printerColumns[{i}].{field}");
    let c = &item.value;
    let name = required(r, &c.name, &item.referenced, &at("name"));
    let type_ = required(r, &c.type_, &item.referenced, &at("type"));
    let json_path = required(r, &c.json_path, &item.referenced, &at("jsonPath"));
    let mut ok = true;
    if let Some(name) = name {
        if name.value.trim().is_empty() {
            r.error(&name.referenced, &at("name"), "must not be empty");
            ok = false;
        } else if let Some(built_in) = BUILT_IN_COLUMNS
            .iter()
            .find(|b| b.eq_ignore_ascii_case(&name.value))
        {
            r.error(
                &name.referenced,
                &at("name"),
                format!("`{built_in}` is a column every generated CRD already has"),
            );
            ok = false;
        }
    }
    let type_ = type_.and_then(|t| {
        let found = ColumnType::ALL
            .iter()
            .find(|(n, _)| *n == t.value)
            .map(|(_, ty)| *ty);
        if found.is_none() {
            let known: Vec<&str> = ColumnType::ALL.iter().map(|(n, _)| *n).collect();
            r.error(
                &t.referenced,
                &at("type"),
                format!(
                    "unknown column type `{}` (one of: {})",
                    t.value,
                    known.join(", ")
                ),
            );
        }
        found
    });
    if let Some(path) = json_path
        && let Err(why) = crate::kubectl::check_json_path(&path.value)
    {
        r.error(&path.referenced, &at("jsonPath"), why);
        ok = false;
    }
    if let Some(format) = &c.format
        && !COLUMN_FORMATS.contains(&format.value.as_str())
    {
        r.error(
            &format.referenced,
            &at("format"),
            format!(
                "unknown format `{}` (one of: {})",
                format.value,
                COLUMN_FORMATS.join(", ")
            ),
        );
        ok = false;
    }
    Some(PrinterColumn {
        name: name?.value.clone(),
        type_: type_?,
        json_path: json_path?.value.clone(),
        description: c.description.clone(),
        format: c.format.as_ref().map(|f| f.value.clone()),
        priority: c.priority.unwrap_or(0),
    })
    .filter(|_| ok)
}

#[cfg(test)]
mod tests {
    use crate::parse::table::{Case, check};
    use crate::parse_project;
    use crate::{ColumnType, PrinterColumn};

    /// A valid project of kind `Canary`; the case's lines follow from line 7.
    macro_rules! head {
        () => {
            "apiVersion: a.example.com/v1\nkind: Canary\noperatorName: foo\nspec: {type: object}\n\
             phases:\n  - {name: A, initial: true}\n"
        };
    }

    #[test]
    fn rules() {
        let cases: &[Case] = &[
            (
                "short name not a DNS label",
                concat!(head!(), "shortNames: [Cd]\n"),
                "7:14",
                "shortNames[0]: `Cd` is not a DNS-1123 label",
            ),
            (
                "short name repeats the plural",
                concat!(head!(), "shortNames: [cn, canaries]\n"),
                "7:18",
                "shortNames[1]: `canaries` is already the resource's plural name",
            ),
            (
                "short name twice",
                concat!(head!(), "shortNames: [cn, cn]\n"),
                "7:18",
                "shortNames[1]: `cn` is listed twice",
            ),
            (
                "category all",
                concat!(head!(), "categories: [all]\n"),
                "7:14",
                "categories[0]: `all` is reserved",
            ),
            (
                "column without a jsonPath",
                concat!(head!(), "printerColumns:\n  - {name: W, type: integer}\n"),
                "8:5",
                "printerColumns[0].jsonPath: missing required field",
            ),
            (
                "column of an unknown type",
                concat!(
                    head!(),
                    "printerColumns:\n  - {name: W, type: int, jsonPath: .status.statusInfo.weight}\n"
                ),
                "8:21",
                "printerColumns[0].type: unknown column type `int` (one of: string, integer, number, boolean, date)",
            ),
            (
                "column path without the leading dot",
                concat!(
                    head!(),
                    "printerColumns:\n  - {name: W, type: integer, jsonPath: status.weight}\n"
                ),
                "8:40",
                "printerColumns[0].jsonPath: `status.weight` must start with `.`",
            ),
            (
                "column path that does not parse",
                concat!(
                    head!(),
                    "printerColumns:\n  - {name: W, type: integer, jsonPath: \".status[\"}\n"
                ),
                "8:40",
                "`.status[` is not a JSONPath",
            ),
            (
                "column taking a built-in name",
                concat!(
                    head!(),
                    "printerColumns:\n  - {name: phase, type: string, jsonPath: .status.phase}\n"
                ),
                "8:12",
                "printerColumns[0].name: `Phase` is a column every generated CRD already has",
            ),
            (
                "duplicate column",
                concat!(
                    head!(),
                    "printerColumns:\n  - {name: W, type: string, jsonPath: .a}\n  - {name: w, type: string, jsonPath: .b}\n"
                ),
                "9:12",
                "printerColumns[1].name: duplicate printer column `w` (first declared on line 8)",
            ),
            (
                "unknown format",
                concat!(
                    head!(),
                    "printerColumns:\n  - {name: W, type: integer, jsonPath: .a, format: int8}\n"
                ),
                "8:52",
                "printerColumns[0].format: unknown format `int8`",
            ),
        ];
        check(cases, |yaml| parse_project("autopilot.yaml", yaml));
    }

    #[test]
    fn declared_names_and_columns_reach_the_project() {
        let project = parse_project(
            "autopilot.yaml",
            concat!(
                head!(),
                "shortNames: [cn]\ncategories: [autopilot, releases]\nprinterColumns:\n",
                "  - name: Weight\n    type: integer\n    jsonPath: .status.statusInfo.weight\n",
                "    description: Traffic on the canary\n",
                "  - {name: Message, type: string, priority: 1,\n",
                "     jsonPath: '.status.conditions[?(@.type==\"Ready\")].message'}\n",
            ),
        )
        .unwrap();
        assert_eq!(project.short_names, ["cn"]);
        assert_eq!(project.categories, ["autopilot", "releases"]);
        assert_eq!(
            project.printer_columns,
            [
                PrinterColumn {
                    name: "Weight".into(),
                    type_: ColumnType::Integer,
                    json_path: ".status.statusInfo.weight".into(),
                    description: Some("Traffic on the canary".into()),
                    format: None,
                    priority: 0,
                },
                PrinterColumn {
                    name: "Message".into(),
                    type_: ColumnType::String,
                    json_path: ".status.conditions[?(@.type==\"Ready\")].message".into(),
                    description: None,
                    format: None,
                    priority: 1,
                },
            ]
        );
    }
}
