//! How people list the operator's resources: printer columns, short names and categories, which
//! the generated CRD carries (so `kubectl get` shows them) and `ap status` shows too.

use serde::Serialize;

/// The printer columns every generated CRD has, before the declared ones (`Phase`) and after
/// them (`Age`); a declared column may not take their names.
pub const BUILT_IN_COLUMNS: [&str; 2] = ["Phase", "Age"];

/// One column of `kubectl get` (an `additionalPrinterColumns` item of the CRD), declared under
/// `printerColumns:` in `autopilot.yaml`.
///
/// # Guarantees (after parsing)
///
/// `name` is non-empty, unique among the columns and not a built-in one; `json_path` starts with
/// `.` and parses as a JSONPath; `format`, when set, is one the API server accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrinterColumn {
    /// Header of the column, e.g. `Weight`.
    pub name: String,
    /// How the value is shown.
    #[serde(rename = "type")]
    pub type_: ColumnType,
    /// Where the value is read, in kubectl's JSONPath without braces, e.g.
    /// `.status.statusInfo.weight` or `.status.conditions[?(@.type=="Ready")].status`.
    pub json_path: String,
    /// What the column means (shown by `kubectl explain`-like tools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// OpenAPI format refining the type, e.g. `int32`, `date-time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// 0 shows the column in the default view; greater values only with `-o wide`.
    pub priority: u32,
}

impl PrinterColumn {
    /// Whether the default (narrow) table shows this column.
    pub fn in_default_view(&self) -> bool {
        self.priority == 0
    }
}

/// The type of a printer column, as the CRD names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ColumnType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A timestamp, shown as an age (`5m`).
    Date,
}

impl ColumnType {
    /// Every type, with its name in the file and the CRD.
    pub const ALL: [(&'static str, ColumnType); 5] = [
        ("string", ColumnType::String),
        ("integer", ColumnType::Integer),
        ("number", ColumnType::Number),
        ("boolean", ColumnType::Boolean),
        ("date", ColumnType::Date),
    ];

    /// The name in the CRD (`integer`).
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("string", |(name, _)| name)
    }
}

/// The formats the API server accepts on a printer column.
pub const COLUMN_FORMATS: [&str; 8] = [
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "password",
];

/// The RFC 9535 form of a kubectl JSONPath without braces (`.status.phase` → `$.status.phase`).
fn rfc_path(json_path: &str) -> String {
    format!("${json_path}")
}

/// Whether `json_path` is a JSONPath as a CRD's printer column takes it: starting with `.`, and
/// parseable. The reason when not.
pub fn check_json_path(json_path: &str) -> Result<(), String> {
    if !json_path.starts_with('.') {
        return Err(format!(
            "`{json_path}` must start with `.` (a JSONPath into the resource without braces, such as `.status.statusInfo.weight`)"
        ));
    }
    jsonpath_rust::parser::parse_json_path(&rfc_path(json_path))
        .map(drop)
        .map_err(|e| format!("`{json_path}` is not a JSONPath: {e}"))
}

impl PrinterColumn {
    /// The column's cell for `object` (the whole resource as JSON), as `kubectl get` prints
    /// it: every value found, strings bare, joined by `,`; `<none>` when nothing is found.
    pub fn cell(&self, object: &serde_json::Value) -> String {
        use jsonpath_rust::JsonPath as _;
        let found = object.query(&rfc_path(&self.json_path)).unwrap_or_default();
        let cells: Vec<String> = found
            .into_iter()
            .filter(|v| !v.is_null())
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        if cells.is_empty() {
            "<none>".to_owned()
        } else {
            cells.join(",")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(json_path: &str) -> PrinterColumn {
        PrinterColumn {
            name: "X".into(),
            type_: ColumnType::String,
            json_path: json_path.into(),
            description: None,
            format: None,
            priority: 0,
        }
    }

    #[test]
    fn cells_read_like_kubectl_get() {
        let object = json!({
            "metadata": {"name": "web"},
            "status": {
                "statusInfo": {"weight": 40, "healthy": true, "note": "ok"},
                "conditions": [
                    {"type": "Ready", "status": "False"},
                    {"type": "Progressing", "status": "True"},
                ],
            },
        });
        let cases = [
            (".status.statusInfo.weight", "40"),
            (".status.statusInfo.healthy", "true"),
            (".status.statusInfo.note", "ok"),
            (".status.statusInfo.missing", "<none>"),
            (".status.conditions[?(@.type==\"Ready\")].status", "False"),
            (".status.conditions[*].type", "Ready,Progressing"),
        ];
        for (path, want) in cases {
            assert_eq!(check_json_path(path), Ok(()), "{path}");
            assert_eq!(column(path).cell(&object), want, "{path}");
        }
    }

    #[test]
    fn malformed_paths_are_refused_with_the_path() {
        for path in ["status.phase", ".status[", ".status.conditions[?(@.type==]"] {
            let err = check_json_path(path).unwrap_err();
            assert!(err.contains(path), "{err}");
        }
    }
}
