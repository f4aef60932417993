//! `ap status`: the operator's resources with their phase and, for a stuck one, the condition
//! that holds it (reason and message), read from the cluster.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;
use autopilot_model::PrinterColumn;
use futures::{StreamExt as _, TryStreamExt as _};
use kube::ResourceExt as _;
use kube::api::DynamicObject;
use kube::runtime::watcher;
use serde_json::Value;

use crate::deploy::runtime;
use crate::selection::{Scope, Selection};

/// Longest message the default view prints before cutting it short (`-o wide` prints all).
const MESSAGE_WIDTH: usize = 80;

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    selection: Selection,
    /// `wide` adds the printer columns of priority above 0, the attempt, failures, whether the
    /// status is of the latest generation, every condition, and the whole message; `json` and
    /// `yaml` print the resources themselves.
    #[arg(long, short, value_enum)]
    output: Option<Output>,
    /// Keep watching: print a line (with NAME, the whole view again) each time a resource
    /// changes, until interrupted.
    #[arg(long, short)]
    watch: bool,
}

/// Output formats of `ap status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// More columns, messages in full.
    Wide,
    /// The resources as JSON (one object for NAME, else a `List`).
    Json,
    /// The resources as YAML (one object for NAME, else a `List`).
    Yaml,
}

pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let scope = args.selection.scope().await?;
        let objects = scope.select(&args.selection).await?;
        let view = View::of(args);
        if objects.is_empty() && !args.watch {
            println!("No {} found {}.", scope.resource.plural, scope.location());
            return Ok(());
        }
        let mut shown = Shown::default();
        match view {
            View::Tree => {
                let object = &objects[0];
                print!("{}", crate::status_tree::render(&scope, object).await?);
                shown.seen(object, String::new());
            }
            View::Document(format) => {
                print!(
                    "{}",
                    document(&objects, args.selection.name.is_some(), format)?
                );
                for object in &objects {
                    shown.seen(object, String::new());
                }
            }
            View::Table { wide } => {
                let table = Table::of(&objects, &scope, wide);
                print!("{}", table.render());
                shown.widths = table.widths();
                for (object, row) in objects.iter().zip(&table.rows) {
                    shown.seen(object, row.join(" "));
                }
            }
        }
        if args.watch {
            watch(args, &scope, view, shown).await?;
        }
        Ok(())
    })
}

/// How the resources are shown.
#[derive(Clone, Copy, Debug)]
enum View {
    /// One resource, as a tree.
    Tree,
    /// The objects themselves.
    Document(Output),
    /// One line per resource.
    Table { wide: bool },
}

impl View {
    fn of(args: &StatusArgs) -> Self {
        match (args.output, &args.selection.name) {
            (Some(format @ (Output::Json | Output::Yaml)), _) => View::Document(format),
            (None, Some(_)) => View::Tree,
            (output, _) => View::Table {
                wide: output == Some(Output::Wide),
            },
        }
    }
}

/// What a watch has printed, to print only what changed.
#[derive(Debug, Default)]
struct Shown {
    /// Per `namespace/name`, the resourceVersion last printed and the row text (without AGE).
    last: BTreeMap<String, (String, String)>,
    /// Column widths of the table printed first.
    widths: Vec<usize>,
}

impl Shown {
    /// Record `object` as printed with `row`; whether it differs from what was printed before.
    fn seen(&mut self, object: &DynamicObject, row: String) -> bool {
        let key = format!(
            "{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        );
        let version = object.resource_version().unwrap_or_default();
        let changed = match self.last.get(&key) {
            None => true,
            Some((v, r)) => {
                if row.is_empty() {
                    *v != version
                } else {
                    *r != row
                }
            }
        };
        self.last.insert(key, (version, row));
        changed
    }
}

/// Follow the selection's resources, printing each change in `view`.
async fn watch(
    args: &StatusArgs,
    scope: &Scope,
    view: View,
    mut shown: Shown,
) -> anyhow::Result<()> {
    let mut config = watcher::Config::default();
    if let Some(selector) = &args.selection.selector {
        config = config.labels(selector);
    }
    if let Some(name) = &args.selection.name {
        config = config.fields(&format!("metadata.name={name}"));
    }
    let mut events = watcher(scope.api.clone(), config)
        .map_err(|e| anyhow::anyhow!("watching {}: {e}", scope.describe()))
        .boxed();
    let terminal = std::io::stdout().is_terminal();
    while let Some(event) = events.try_next().await? {
        let object = match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => o,
            watcher::Event::Delete(_) | watcher::Event::Init | watcher::Event::InitDone => {
                continue;
            }
        };
        match view {
            View::Tree => {
                if shown.seen(&object, String::new()) {
                    let tree = crate::status_tree::render(scope, &object).await?;
                    if terminal {
                        // Clear the screen so the view reads as updated in place.
                        print!("\x1b[2J\x1b[H");
                    } else {
                        println!();
                    }
                    print!("{tree}");
                }
            }
            View::Document(format) => {
                if shown.seen(&object, String::new()) {
                    if format == Output::Yaml {
                        println!("---");
                    }
                    print!("{}", document(std::slice::from_ref(&object), true, format)?);
                }
            }
            View::Table { wide } => {
                let table = Table::of(std::slice::from_ref(&object), scope, wide);
                let row = &table.rows[0];
                if shown.seen(&object, without_age(&table, row)) {
                    if shown.widths.is_empty() {
                        print!("{}", table.render());
                        shown.widths = table.widths();
                    } else {
                        print!("{}", line(row, &shown.widths));
                    }
                }
            }
        }
        use std::io::Write as _;
        std::io::stdout().flush().ok();
    }
    Ok(())
}

/// The row's text without its AGE cell, which changes on its own.
fn without_age(table: &Table, row: &[String]) -> String {
    table
        .header
        .iter()
        .zip(row)
        .filter(|(h, _)| *h != "AGE")
        .map(|(_, c)| c.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The objects as JSON or YAML: the object alone when one was named, else a `List`.
fn document(objects: &[DynamicObject], single: bool, format: Output) -> anyhow::Result<String> {
    let value = if single && objects.len() == 1 {
        serde_json::to_value(&objects[0])?
    } else {
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects})
    };
    Ok(match format {
        Output::Yaml => serde_saphyr::to_string(&value).context("writing YAML")?,
        _ => format!("{}\n", serde_json::to_string_pretty(&value)?),
    })
}

/// A table of resources: a header and one row of cells per resource.
#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// The table of `objects`: NAMESPACE when listing every namespace, NAME, PHASE, the
    /// declared printer columns (all of them when `wide`, else those of priority 0), AGE, then
    /// the explaining condition and its message (with `wide`, more before them).
    fn of(objects: &[DynamicObject], scope: &Scope, wide: bool) -> Self {
        Self::with_columns(
            objects,
            &scope.model.project.printer_columns,
            scope.namespace.is_none(),
            wide,
        )
    }

    fn with_columns(
        objects: &[DynamicObject],
        declared: &[PrinterColumn],
        all_namespaces: bool,
        wide: bool,
    ) -> Self {
        let now = k8s_openapi::jiff::Timestamp::now();
        let columns: Vec<&PrinterColumn> = declared
            .iter()
            .filter(|c| wide || c.in_default_view())
            .collect();
        let mut header: Vec<String> = Vec::new();
        if all_namespaces {
            header.push("NAMESPACE".into());
        }
        header.extend(["NAME".into(), "PHASE".into()]);
        header.extend(columns.iter().map(|c| c.name.to_uppercase()));
        header.push("AGE".into());
        if wide {
            header.extend(["ATTEMPT", "FAILURES", "SYNCED", "CONDITIONS"].map(String::from));
        }
        header.extend(["CONDITION".into(), "MESSAGE".into()]);
        let rows = objects
            .iter()
            .map(|cr| {
                let age = cr
                    .creation_timestamp()
                    .map(|t| short_age(now.duration_since(t.0).unsigned_abs()))
                    .unwrap_or_else(|| "<unknown>".into());
                let whole = serde_json::to_value(cr).unwrap_or_default();
                let r = Row::of(
                    cr.namespace().unwrap_or_default(),
                    cr.name_any(),
                    cr.metadata.generation,
                    age,
                    &cr.data["status"],
                );
                let mut cells = Vec::new();
                if all_namespaces {
                    cells.push(r.namespace.clone());
                }
                cells.extend([r.name.clone(), r.phase.clone()]);
                cells.extend(columns.iter().map(|c| c.cell(&whole)));
                cells.push(r.age.clone());
                if wide {
                    cells.extend([
                        r.attempt.clone(),
                        r.failures.clone(),
                        r.synced.clone(),
                        r.conditions.clone(),
                    ]);
                }
                cells.push(r.condition.clone());
                cells.push(if wide {
                    r.message.clone()
                } else {
                    cut(&r.message, MESSAGE_WIDTH)
                });
                cells
            })
            .collect();
        Self { header, rows }
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    /// Columns padded to their widest cell, three spaces apart, as kubectl prints them.
    fn render(&self) -> String {
        let widths = self.widths();
        let mut out = line(&self.header, &widths);
        for row in &self.rows {
            out.push_str(&line(row, &widths));
        }
        out
    }
}

/// One line of cells padded to `widths`.
fn line(cells: &[String], widths: &[usize]) -> String {
    let mut s = cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:<w$}", w = *w))
        .collect::<Vec<_>>()
        .join("   ")
        .trim_end()
        .to_owned();
    s.push('\n');
    s
}

/// What `ap status` (and `ap dashboard`) shows of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) phase: String,
    pub(crate) age: String,
    /// `Type=Status (Reason)` of the condition that explains the state.
    pub(crate) condition: String,
    /// Its message, on one line.
    pub(crate) message: String,
    pub(crate) attempt: String,
    pub(crate) failures: String,
    /// Whether the status was written for the resource's current generation.
    pub(crate) synced: String,
    /// Every condition as `Type=Status`, in the status's order.
    pub(crate) conditions: String,
}

impl Row {
    pub(crate) fn of(
        namespace: String,
        name: String,
        generation: Option<i64>,
        age: String,
        status: &Value,
    ) -> Self {
        let empty = Vec::new();
        let conditions = status["conditions"].as_array().unwrap_or(&empty);
        let shown = explaining(conditions);
        let number = |key: &str| status[key].as_u64().unwrap_or_default().to_string();
        let synced = match (status["observedGeneration"].as_i64(), generation) {
            (Some(seen), Some(current)) if seen == current => "yes".to_owned(),
            (Some(seen), Some(current)) => format!("no ({seen} of {current})"),
            _ => "no".to_owned(),
        };
        Self {
            namespace,
            name,
            phase: status["phase"].as_str().unwrap_or("<none>").to_owned(),
            age,
            condition: shown.map_or_else(|| "<none>".to_owned(), summary),
            message: shown
                .and_then(|c| c["message"].as_str())
                .map(one_line)
                .unwrap_or_default(),
            attempt: number("attempt"),
            failures: number("failures"),
            synced,
            conditions: conditions
                .iter()
                .map(|c| format!("{}={}", text(&c["type"]), text(&c["status"])))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// The condition that says why a resource is where it is: the first that holds it, in this
/// order — a failed worker call (`WorkerError=True`), retries given up (`Progressing=False`
/// other than `Completed`), an input or query that could not be read (`InputsAvailable` or
/// `MetricsAvailable` False), any other condition that is False (a worker's own); else `Ready`,
/// else the latest transition.
fn explaining(conditions: &[Value]) -> Option<&Value> {
    let is = |c: &&Value, type_: &str, status: &str| c["type"] == type_ && c["status"] == status;
    let rules: [&dyn Fn(&&Value) -> bool; 4] = [
        &|c| is(c, "WorkerError", "True"),
        &|c| is(c, "Progressing", "False") && c["reason"] != "Completed",
        &|c| is(c, "InputsAvailable", "False") || is(c, "MetricsAvailable", "False"),
        &|c| {
            c["status"] == "False"
                && !matches!(text(&c["type"]), "Ready" | "WorkerError" | "Progressing")
        },
    ];
    rules
        .iter()
        .find_map(|rule| conditions.iter().find(|c| rule(c)))
        .or_else(|| conditions.iter().find(|c| c["type"] == "Ready"))
        .or_else(|| {
            conditions
                .iter()
                .max_by_key(|c| text(&c["lastTransitionTime"]).to_owned())
        })
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

/// `Type=Status (Reason)`.
fn summary(c: &Value) -> String {
    let mut s = format!("{}={}", text(&c["type"]), text(&c["status"]));
    if let Some(reason) = c["reason"].as_str().filter(|r| !r.is_empty()) {
        s.push_str(&format!(" ({reason})"));
    }
    s
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `message` cut to `width` characters, ending in `…` when cut.
fn cut(message: &str, width: usize) -> String {
    if message.chars().count() <= width {
        return message.to_owned();
    }
    let mut s: String = message.chars().take(width - 1).collect();
    s.push('…');
    s
}

/// Ages as kubectl prints them: 45s, 3m12s, 5h, 2d.
pub(crate) fn short_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10_800 => format!("{}m", s / 60),
        10_800..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(type_: &str, status: &str, reason: &str, at: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason,
               "message": format!("{type_} says {reason}"), "lastTransitionTime": at})
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(short_age(Duration::from_secs(45)), "45s");
        assert_eq!(short_age(Duration::from_secs(192)), "3m12s");
        assert_eq!(short_age(Duration::from_secs(5 * 3600)), "5h");
        assert_eq!(short_age(Duration::from_secs(3 * 86_400)), "3d");
    }

    #[test]
    fn the_condition_that_holds_a_resource_is_shown() {
        let t1 = "2025-01-01T00:00:00Z";
        let t2 = "2025-01-02T00:00:00Z";
        let cases: &[(&str, Vec<Value>, Option<&str>)] = &[
            (
                "a permanent worker error, though Progressing changed last",
                vec![
                    condition("Ready", "False", "WorkerError", t1),
                    condition("WorkerError", "True", "InvalidCondition", t1),
                    condition("Progressing", "True", "Blocked", t2),
                ],
                Some("WorkerError=True (InvalidCondition)"),
            ),
            (
                "retries exhausted",
                vec![
                    condition("WorkerError", "False", "CallSucceeded", t1),
                    condition("Progressing", "False", "RetriesExhausted", t2),
                ],
                Some("Progressing=False (RetriesExhausted)"),
            ),
            (
                "a query that failed",
                vec![
                    condition("WorkerError", "False", "CallSucceeded", t2),
                    condition("MetricsAvailable", "False", "QueryFailed", t1),
                ],
                Some("MetricsAvailable=False (QueryFailed)"),
            ),
            (
                "a worker's own condition that is False",
                vec![
                    condition("Ready", "False", "InProgress", t2),
                    condition("Healthy", "False", "Degraded", t1),
                ],
                Some("Healthy=False (Degraded)"),
            ),
            (
                "healthy: the latest transition",
                vec![
                    condition("Ready", "True", "Completed", t2),
                    condition("Progressing", "False", "Completed", t2),
                    condition("WorkerError", "False", "CallSucceeded", t1),
                ],
                Some("Ready=True (Completed)"),
            ),
            ("no conditions", vec![], None),
        ];
        for (name, conditions, want) in cases {
            assert_eq!(
                explaining(conditions).map(summary).as_deref(),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn rows_show_reason_and_message_and_wide_shows_more() {
        let status = json!({
            "phase": "Deploying", "attempt": 3, "failures": 2, "observedGeneration": 1,
            "conditions": [
                condition("Ready", "False", "WorkerError", "2025-01-01T00:00:00Z"),
                {"type": "WorkerError", "status": "True", "reason": "InvalidCondition",
                 "message": format!("Deploying: condition type MetricsAvailable is owned by\nthe scheduler{}", " and more".repeat(10)),
                 "lastTransitionTime": "2025-01-01T00:00:00Z"},
                condition("Progressing", "True", "Blocked", "2025-01-01T00:00:01Z"),
            ],
        });
        let row = Row::of(
            "default".into(),
            "web".into(),
            Some(2),
            "5m".into(),
            &status,
        );
        assert_eq!(row.condition, "WorkerError=True (InvalidCondition)");
        assert!(row.message.starts_with(
            "Deploying: condition type MetricsAvailable is owned by the scheduler and more"
        ));
        assert_eq!(row.synced, "no (1 of 2)");
        assert_eq!(
            row.conditions,
            "Ready=False,WorkerError=True,Progressing=True"
        );

        let fresh = Row::of(
            "ns".into(),
            "new".into(),
            Some(1),
            "1s".into(),
            &Value::Null,
        );
        assert_eq!(
            (
                fresh.phase.as_str(),
                fresh.condition.as_str(),
                fresh.message.as_str()
            ),
            ("<none>", "<none>", "")
        );
    }

    #[test]
    fn tables_carry_declared_columns_and_wide_shows_more() {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "e2e.example.com/v1", "kind": "Task",
            "metadata": {"name": "web", "namespace": "default", "generation": 2},
            "status": {
                "phase": "Deploying", "attempt": 3, "failures": 2, "observedGeneration": 1,
                "statusInfo": {"weight": 40, "note": "half way"},
                "conditions": [
                    {"type": "WorkerError", "status": "True", "reason": "InvalidCondition",
                     "message": format!("Deploying: refused{}", " and more".repeat(10)),
                     "lastTransitionTime": "2025-01-01T00:00:00Z"},
                ],
            },
        }))
        .unwrap();
        let column = |name: &str, json_path: &str, priority| PrinterColumn {
            name: name.into(),
            type_: autopilot_model::ColumnType::String,
            json_path: json_path.into(),
            description: None,
            format: None,
            priority,
        };
        let declared = [
            column("Weight", ".status.statusInfo.weight", 0),
            column("Note", ".status.statusInfo.note", 1),
        ];

        let narrow = Table::with_columns(std::slice::from_ref(&object), &declared, false, false);
        assert_eq!(
            narrow.header,
            ["NAME", "PHASE", "WEIGHT", "AGE", "CONDITION", "MESSAGE"]
        );
        let row = &narrow.rows[0];
        assert_eq!(row[..3], ["web", "Deploying", "40"]);
        assert_eq!(row[4], "WorkerError=True (InvalidCondition)");
        assert!(row[5].ends_with('…'), "{row:?}");
        let text = narrow.render();
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("web    Deploying   40"),
            "{text}"
        );

        let wide = Table::with_columns(std::slice::from_ref(&object), &declared, true, true);
        assert_eq!(
            wide.header,
            [
                "NAMESPACE",
                "NAME",
                "PHASE",
                "WEIGHT",
                "NOTE",
                "AGE",
                "ATTEMPT",
                "FAILURES",
                "SYNCED",
                "CONDITIONS",
                "CONDITION",
                "MESSAGE"
            ]
        );
        let row = &wide.rows[0];
        assert_eq!(row[..5], ["default", "web", "Deploying", "40", "half way"]);
        assert_eq!(row[6..9], ["3", "2", "no (1 of 2)"]);
        assert!(row[11].ends_with(" and more"), "{row:?}");
    }
}
