//! The CEL validation rules of a schema node (`x-kubernetes-validations`), checked as the API
//! server checks them when the CRD is applied: known fields of the right types, `reason` among
//! the four it accepts, `rule` and `messageExpression` parsed as CEL, every field they select on
//! `self` (or `oldSelf`, or a variable of `all`/`exists`/`map`/`filter`) declared by the schema,
//! and `fieldPath` naming a declared field.
//!
//! The parser is the `cel` crate's (the grammar of cel-go, which the API server uses). What it
//! cannot see is left to the API server: the type of each expression (a rule must be a bool,
//! a `messageExpression` a string), function overloads, and the cost budget of a rule over
//! unbounded lists and strings.

use std::collections::BTreeMap;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use serde_json::{Map, Value};

use crate::names;
use crate::schema::Finding;

/// The key of a schema node holding its rules.
pub const KEY: &str = "x-kubernetes-validations";

/// The `reason`s the API server accepts (`FieldValue…` of k8s.io/apimachinery's field errors).
pub const REASONS: [&str; 4] = [
    "FieldValueInvalid",
    "FieldValueForbidden",
    "FieldValueRequired",
    "FieldValueDuplicate",
];

/// The fields of one rule.
const FIELDS: [&str; 6] = [
    "rule",
    "message",
    "messageExpression",
    "reason",
    "fieldPath",
    "optionalOldSelf",
];

/// Identifiers CEL knows without a declaration: type names, usable as values
/// (`type(self) == string`).
const TYPE_NAMES: [&str; 11] = [
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
    "dyn",
];

/// CEL's reserved words: a property named like one is written `__name__` in a rule.
const RESERVED: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Parse depth at which a rule is refused; cel-go's default is far deeper, but a rule nested
/// this deep is unreadable, and the limit keeps the parser's recursion well inside its stack.
const MAX_DEPTH: u16 = 64;

/// Stack of the thread that parses rules: the generated parser recurses deeply per nesting
/// level (hundreds of KiB per level in debug builds), more than a test thread's 2 MiB holds.
const PARSER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// One validation rule as declared, for those who document it (the generated typed models).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationRule {
    /// The CEL expression that must hold.
    pub rule: String,
    /// The message shown when it does not, when fixed.
    pub message: Option<String>,
    /// A CEL expression computing that message.
    pub message_expression: Option<String>,
    /// Where below the node the error is reported (`.field`), when not at the node.
    pub field_path: Option<String>,
    /// The kind of error reported (`FieldValueInvalid` unless set).
    pub reason: Option<String>,
}

/// The rules declared on `schema` itself (not on its properties): empty when it has none or
/// they are malformed (the project file's checks report those).
pub fn of(schema: &Value) -> Vec<ValidationRule> {
    let text = |rule: &Map<String, Value>, key: &str| {
        rule.get(key).and_then(Value::as_str).map(str::to_owned)
    };
    schema
        .get(KEY)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter_map(|rule| {
            Some(ValidationRule {
                rule: text(rule, "rule")?,
                message: text(rule, "message"),
                message_expression: text(rule, "messageExpression"),
                field_path: text(rule, "fieldPath"),
                reason: text(rule, "reason"),
            })
        })
        .collect()
}

/// Every problem in the rules `rules` (the value of [`KEY`] at `path`) of the schema node
/// `node`. Paths of findings are below the schema root, as [`crate::schema::check_values`]
/// names them.
pub(crate) fn check(rules: &Value, node: &Value, path: &str, found: &mut Vec<Finding>) {
    let mut report = |at: String, message: String| found.push(Finding { path: at, message });
    let Value::Array(rules) = rules else {
        report(
            path.to_owned(),
            "expected a list of rules (each a mapping with `rule` and `message`)".to_owned(),
        );
        return;
    };
    let mut sources = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(fields) = rule else {
            report(
                at,
                "expected a mapping with `rule` and `message`".to_owned(),
            );
            continue;
        };
        for key in fields.keys() {
            if !FIELDS.contains(&key.as_str()) {
                report(
                    format!("{at}.{key}"),
                    names::unknown("field of a validation rule", key, &FIELDS),
                );
            }
        }
        let mut text = |key: &str| match fields.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                report(
                    format!("{at}.{key}"),
                    format!(
                        "expected a string, found {}",
                        crate::schema::describe(other)
                    ),
                );
                None
            }
        };
        let rule_text = text("rule");
        let message = text("message");
        let message_expression = text("messageExpression");
        let reason = text("reason");
        let field_path = text("fieldPath");
        match &rule_text {
            None if !fields.contains_key("rule") => {
                report(at.clone(), "missing required field `rule`".to_owned());
            }
            Some(r) if r.trim().is_empty() => {
                report(format!("{at}.rule"), "the rule is empty".to_owned());
            }
            Some(r) => sources.push((format!("{at}.rule"), r.clone(), Role::Rule)),
            None => {}
        }
        if let Some(m) = &message {
            if m.trim().is_empty() {
                report(
                    format!("{at}.message"),
                    "must not be empty when set (leave it out for the API server's default)"
                        .to_owned(),
                );
            } else if m.contains(['\n', '\r']) {
                report(
                    format!("{at}.message"),
                    "must be one line (the API server refuses line breaks)".to_owned(),
                );
            }
        }
        if let Some(m) = &message_expression {
            if m.trim().is_empty() {
                report(
                    format!("{at}.messageExpression"),
                    "must not be empty when set".to_owned(),
                );
            } else {
                sources.push((
                    format!("{at}.messageExpression"),
                    m.clone(),
                    Role::MessageExpression,
                ));
            }
        }
        if let Some(r) = &reason
            && !REASONS.contains(&r.as_str())
        {
            report(
                format!("{at}.reason"),
                names::unknown("reason", r, &REASONS),
            );
        }
        if let Some(p) = &field_path
            && let Err(why) = field_path_resolves(node, p)
        {
            report(format!("{at}.fieldPath"), why);
        }
        match fields.get("optionalOldSelf") {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                if rule_text.as_deref().is_some_and(|r| !r.contains("oldSelf")) {
                    report(
                        format!("{at}.optionalOldSelf"),
                        "applies to transition rules only, and the rule does not use `oldSelf`"
                            .to_owned(),
                    );
                }
            }
            Some(other) => report(
                format!("{at}.optionalOldSelf"),
                format!(
                    "expected true or false, found {}",
                    crate::schema::describe(other)
                ),
            ),
        }
    }
    for (at, source, role, result) in compile_all(sources) {
        match result {
            Err(why) => report(at, format!("{} does not parse as CEL: {why}", role.name())),
            Ok(expr) => {
                let mut scope = Scope::new(node);
                scope.walk(&expr);
                let mut problems = scope.problems;
                problems.dedup();
                for problem in problems {
                    report(at.clone(), format!("`{source}`: {problem}"));
                }
            }
        }
    }
}

/// What a CEL text is, for messages and for the variables it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Rule,
    MessageExpression,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Rule => "the rule",
            Self::MessageExpression => "the messageExpression",
        }
    }
}

/// Parse every source on one thread with a stack large enough for the generated parser.
fn compile_all(
    sources: Vec<(String, String, Role)>,
) -> Vec<(String, String, Role, Result<IdedExpr, String>)> {
    if sources.is_empty() {
        return Vec::new();
    }
    let parse = move || {
        sources
            .into_iter()
            .map(|(at, source, role)| {
                let parsed = cel::parser::Parser::new()
                    .enable_optional_syntax(true)
                    .max_recursion_depth(MAX_DEPTH)
                    .parse(&source)
                    .map_err(|errors| describe_parse_errors(&errors));
                (at, source, role, parsed)
            })
            .collect::<Vec<_>>()
    };
    std::thread::Builder::new()
        .name("cel-parse".to_owned())
        .stack_size(PARSER_STACK_BYTES)
        .spawn(parse)
        .and_then(|thread| {
            thread
                .join()
                .map_err(|_| std::io::Error::other("the CEL parser panicked"))
        })
        .unwrap_or_else(|e| panic!("parsing CEL rules on their own thread: {e}"))
}

/// CEL's errors as one line each, with the column inside the expression.
fn describe_parse_errors(errors: &cel::ParseErrors) -> String {
    let lines: Vec<String> = errors
        .errors
        .iter()
        .map(|e| {
            if e.pos.1 > 0 || e.pos.0 > 1 {
                let column = e.pos.1 + 1;
                if e.pos.0 > 1 {
                    format!("{} (line {} column {column})", e.msg, e.pos.0)
                } else {
                    format!("{} (column {column})", e.msg)
                }
            } else {
                e.msg.clone()
            }
        })
        .collect();
    if lines.is_empty() {
        "it does not parse".to_owned()
    } else {
        lines.join("; ")
    }
}

/// The schema a CEL variable stands for: a node, or unknown (any value, not checked).
type Typed<'s> = Option<&'s Value>;

/// The variables in scope while walking one expression, and what was found wrong.
struct Scope<'s> {
    variables: BTreeMap<String, Typed<'s>>,
    problems: Vec<String>,
}

impl<'s> Scope<'s> {
    /// A rule and its messageExpression both see `self` and `oldSelf`.
    fn new(node: &'s Value) -> Self {
        let variables = [
            ("self".to_owned(), Some(node)),
            ("oldSelf".to_owned(), Some(node)),
        ]
        .into_iter()
        .collect();
        Self {
            variables,
            problems: Vec::new(),
        }
    }

    fn walk(&mut self, expr: &IdedExpr) {
        match &expr.expr {
            Expr::Ident(name) => {
                self.variable(name);
            }
            Expr::Select(_) => {
                self.typed(expr);
            }
            Expr::Call(call) => {
                if call.func_name == cel::common::ast::operators::OPT_SELECT {
                    self.typed(expr);
                    return;
                }
                if let Some(target) = &call.target {
                    // `math.greatest(…)`: a namespace, not a variable.
                    if !matches!(target.expr, Expr::Ident(_)) {
                        self.walk(target);
                    }
                }
                for arg in &call.args {
                    self.walk(arg);
                }
            }
            Expr::Comprehension(c) => {
                let range = self.typed(&c.iter_range);
                self.walk(&c.accu_init);
                // `all(x, …)` over a list binds its items; over a map, its keys (strings).
                let (first, second) = match range.map(Shape::of) {
                    Some(Shape::List(items)) => (items, None),
                    Some(Shape::Map(values)) => (None, values),
                    _ => (None, None),
                };
                let saved = self.variables.clone();
                match &c.iter_var2 {
                    Some(v2) => {
                        self.variables.insert(c.iter_var.clone(), None);
                        self.variables.insert(v2.clone(), first.or(second));
                    }
                    None => {
                        self.variables.insert(c.iter_var.clone(), first);
                    }
                }
                self.variables.insert(c.accu_var.clone(), None);
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.variables = saved;
            }
            Expr::List(list) => {
                for e in &list.elements {
                    self.walk(e);
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::StructField(field) => self.walk(&field.value),
                        EntryExpr::MapEntry(e) => {
                            self.walk(&e.key);
                            self.walk(&e.value);
                        }
                    }
                }
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(field) = &entry.expr {
                        self.walk(&field.value);
                    }
                }
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    /// The schema of the variable `name`, reporting it when it is not one a rule can see.
    fn variable(&mut self, name: &str) -> Typed<'s> {
        if let Some(typed) = self.variables.get(name) {
            return *typed;
        }
        if !name.starts_with('@') && !TYPE_NAMES.contains(&name) {
            let known: Vec<&str> = self.variables.keys().map(String::as_str).collect();
            self.problems.push(format!(
                "{}; a rule sees `self` (the value of the field it is declared on) and \
                 `oldSelf` (its value before the update)",
                names::unknown("variable", name, &known)
            ));
        }
        None
    }

    /// The schema of `expr` when it is a field selection chain on a variable (`self.a.b`,
    /// `self.?a`, `has(self.a)`), reporting the first field the schema does not declare;
    /// any other expression is walked and is of unknown schema.
    fn typed(&mut self, expr: &IdedExpr) -> Typed<'s> {
        let (operand, field, spelled) = match &expr.expr {
            Expr::Ident(name) => return self.variable(name),
            Expr::Select(select) => (&*select.operand, select.field.as_str(), "."),
            Expr::Call(call)
                if call.func_name == cel::common::ast::operators::OPT_SELECT
                    && call.args.len() == 2 =>
            {
                let Expr::Literal(LiteralValue::String(field)) = &call.args[1].expr else {
                    self.walk(&call.args[0]);
                    return None;
                };
                (&call.args[0], field.as_ref(), ".?")
            }
            _ => {
                self.walk(expr);
                return None;
            }
        };
        let schema = self.typed(operand)?;
        match select(schema, field) {
            Ok(child) => child,
            Err(why) => {
                let chain = spell(operand).unwrap_or_else(|| "the value".to_owned());
                self.problems
                    .push(format!("`{chain}{spelled}{field}`: {why}"));
                None
            }
        }
    }
}

/// `self.a.b` as written, when `expr` is a plain selection chain.
fn spell(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(s) if !s.test => Some(format!("{}.{}", spell(&s.operand)?, s.field)),
        _ => None,
    }
}

/// What a schema node is, for selecting on it.
enum Shape<'s> {
    /// An object with declared properties.
    Object(&'s Map<String, Value>),
    /// A map: string keys to values of the given schema (unknown when `true`).
    Map(Typed<'s>),
    /// A list of items of the given schema.
    List(Typed<'s>),
    /// Anything: unknown fields kept, int-or-string, or no type.
    Dynamic,
    /// An object with no properties and no additionalProperties: it holds nothing.
    Empty,
    /// A scalar of the named type.
    Scalar(&'s str),
}

impl<'s> Shape<'s> {
    fn of(schema: &'s Value) -> Self {
        let flag = |key: &str| schema.get(key) == Some(&Value::Bool(true));
        if flag("x-kubernetes-preserve-unknown-fields") || flag("x-kubernetes-int-or-string") {
            return Self::Dynamic;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                if let Some(p) = schema.get("properties").and_then(Value::as_object)
                    && !p.is_empty()
                {
                    return Self::Object(p);
                }
                match schema.get("additionalProperties") {
                    Some(v @ Value::Object(_)) => Self::Map(Some(v)),
                    Some(Value::Bool(true)) => Self::Map(None),
                    _ => Self::Empty,
                }
            }
            Some("array") => Self::List(schema.get("items")),
            Some(other) => Self::Scalar(other),
            None => Self::Dynamic,
        }
    }
}

/// The schema of field `field` (as written in CEL, escapes included) of a value of `schema`.
fn select<'s>(schema: &'s Value, field: &str) -> Result<Typed<'s>, String> {
    match Shape::of(schema) {
        Shape::Dynamic => Ok(None),
        Shape::Map(values) => Ok(values),
        Shape::Object(properties) => {
            let name = unescape(field);
            if let Some(child) = properties.get(&name) {
                return Ok(Some(child));
            }
            // Suggest by the property's own name (`max-surge` for `maxSurge`), spelled as a
            // rule must write it (`max__dash__surge`).
            let known: Vec<&str> = properties.keys().map(String::as_str).collect();
            let hint = match names::closest(&name, &known) {
                Some(k) => format!("did you mean `{}`?", escape(k)),
                None => {
                    let all: Vec<String> = known.iter().map(|k| escape(k)).collect();
                    format!("it declares {}", all.join(", "))
                }
            };
            Err(format!(
                "unknown field `{field}`; {hint} (the API server refuses a rule selecting a \
                 field its schema does not declare)"
            ))
        }
        Shape::Empty => Err(format!(
            "no field `{field}`: the schema declares no properties here"
        )),
        Shape::List(_) => Err(
            "a list has no fields; use an index (`[0]`) or a macro such as `all(x, …)`".to_owned(),
        ),
        Shape::Scalar(t) => Err(format!("a value of type `{t}` has no fields")),
    }
}

/// A property name as a rule must write it (the API server's escaping): `max-surge` →
/// `max__dash__surge`, `namespace` → `__namespace__`.
fn escape(name: &str) -> String {
    if RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    name.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

/// The property a field name written in a rule stands for: the inverse of [`escape`].
fn unescape(field: &str) -> String {
    if let Some(word) = field.strip_prefix("__").and_then(|f| f.strip_suffix("__"))
        && RESERVED.contains(&word)
    {
        return word.to_owned();
    }
    let mut out = String::new();
    let mut rest = field;
    while !rest.is_empty() {
        let replaced = [
            ("__underscores__", "__"),
            ("__dot__", "."),
            ("__dash__", "-"),
            ("__slash__", "/"),
        ]
        .into_iter()
        .find_map(|(from, to)| rest.strip_prefix(from).map(|r| (r, to)));
        match replaced {
            Some((r, to)) => {
                out.push_str(to);
                rest = r;
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Check a rule's `fieldPath` (`.a.b`, `['a-b']`, relative to the node): every step must be a
/// declared field (or a key of a map); lists cannot be indexed.
fn field_path_resolves(node: &Value, path: &str) -> Result<(), String> {
    if !path.starts_with(['.', '[']) {
        return Err(format!(
            "`{path}` must start with `.` or `[` (a path relative to the field the rule is \
             declared on, such as `.{path}`)"
        ));
    }
    let mut schema = Some(node);
    let mut rest = path;
    let mut walked = String::new();
    while !rest.is_empty() {
        let (step, after) = if let Some(r) = rest.strip_prefix("['") {
            let end = r
                .find("']")
                .ok_or_else(|| format!("`{path}`: `['` without its closing `']`"))?;
            (&r[..end], &r[end + 2..])
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            (&r[..end], &r[end..])
        } else {
            return Err(format!(
                "`{path}`: expected `.name` or `['name']` after `{walked}`"
            ));
        };
        if step.is_empty() {
            return Err(format!("`{path}`: an empty step after `{walked}`"));
        }
        let Some(current) = schema else {
            return Ok(());
        };
        schema = match Shape::of(current) {
            Shape::Dynamic => return Ok(()),
            Shape::Map(values) => values,
            Shape::Object(properties) => match properties.get(step) {
                Some(child) => Some(child),
                None => {
                    let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                    return Err(format!(
                        "`{path}`: {}",
                        names::unknown("field", step, &known)
                    ));
                }
            },
            Shape::List(_) => {
                return Err(format!(
                    "`{path}`: `{walked}` is a list, and fieldPath cannot index lists"
                ));
            }
            Shape::Empty | Shape::Scalar(_) => {
                return Err(format!("`{path}`: `{walked}` has no field `{step}`"));
            }
        };
        walked = format!("{walked}{}", &rest[..rest.len() - after.len()]);
        rest = after;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn findings(schema: &Value) -> Vec<(String, String)> {
        let mut found = Vec::new();
        check(&schema[KEY], schema, KEY, &mut found);
        found.into_iter().map(|f| (f.path, f.message)).collect()
    }

    fn spec() -> Value {
        json!({
            "type": "object",
            "properties": {
                "minReplicas": {"type": "integer"},
                "maxReplicas": {"type": "integer"},
                "max-surge": {"type": "integer"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "port": {"type": "integer"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "target": {"type": "string"},
            },
        })
    }

    fn with_rules(rules: Value) -> Value {
        let mut schema = spec();
        schema[KEY] = rules;
        schema
    }

    #[test]
    fn rules_that_the_api_server_accepts_pass() {
        let schema = with_rules(json!([
            {"rule": "self.minReplicas <= self.maxReplicas", "message": "minReplicas must not exceed maxReplicas"},
            {"rule": "!has(self.max__dash__surge) || self.max__dash__surge >= 0", "reason": "FieldValueForbidden"},
            {"rule": "self.__namespace__ != 'kube-system'", "fieldPath": ".namespace"},
            {"rule": "self.ports.all(p, p.port > 0 && p.name != '')", "messageExpression": "'ports: ' + string(size(self.ports))"},
            {"rule": "self.labels.all(k, k.startsWith('app')) && self.labels.exists(k, self.labels[k] == 'x')", "fieldPath": "['labels']"},
            {"rule": "self.free.anything.goes", "fieldPath": ".free.deeper"},
            {"rule": "self.target == oldSelf.target", "message": "target is immutable", "optionalOldSelf": false},
            {"rule": "!has(oldSelf.target) || self.?target == oldSelf.?target", "optionalOldSelf": true},
            {"rule": "type(self.target) == string && self.labels.all(k, self.labels[k] != '')"},
        ]));
        assert_eq!(findings(&schema), Vec::<(String, String)>::new());
    }

    #[test]
    fn rules_the_api_server_would_refuse() {
        let cases: &[(Value, &str, &str)] = &[
            (json!("self.a"), KEY, "expected a list of rules"),
            (json!(["self.a"]), "[0]", "expected a mapping with `rule`"),
            (
                json!([{"message": "m"}]),
                "[0]",
                "missing required field `rule`",
            ),
            (json!([{"rule": " "}]), "[0].rule", "the rule is empty"),
            (
                json!([{"rule": "true", "mesage": "m"}]),
                "[0].mesage",
                "unknown field of a validation rule `mesage`; did you mean `message`?",
            ),
            (
                json!([{"rule": 3}]),
                "[0].rule",
                "expected a string, found 3 (a number)",
            ),
            (
                json!([{"rule": "true", "message": "two\nlines"}]),
                "[0].message",
                "must be one line",
            ),
            (
                json!([{"rule": "true", "message": ""}]),
                "[0].message",
                "must not be empty when set",
            ),
            (
                json!([{"rule": "true", "reason": "Invalid"}]),
                "[0].reason",
                "unknown reason `Invalid` (one of: FieldValueInvalid, FieldValueForbidden",
            ),
            (
                json!([{"rule": "true", "fieldPath": "target"}]),
                "[0].fieldPath",
                "must start with `.` or `[`",
            ),
            (
                json!([{"rule": "true", "fieldPath": ".targt"}]),
                "[0].fieldPath",
                "unknown field `targt`; did you mean `target`?",
            ),
            (
                json!([{"rule": "true", "fieldPath": ".ports.name"}]),
                "[0].fieldPath",
                "`.ports` is a list",
            ),
            (
                json!([{"rule": "true", "optionalOldSelf": true}]),
                "[0].optionalOldSelf",
                "transition rules only",
            ),
            (
                json!([{"rule": "self.minReplicas <="}]),
                "[0].rule",
                "the rule does not parse as CEL: ",
            ),
            (
                json!([{"rule": "self.minReplicas < 3 &&"}]),
                "[0].rule",
                "(column ",
            ),
            (
                json!([{"rule": "true", "messageExpression": "'a' +"}]),
                "[0].messageExpression",
                "the messageExpression does not parse as CEL",
            ),
            (
                json!([{"rule": "self.minReplica <= 3"}]),
                "[0].rule",
                "`self.minReplica`: unknown field `minReplica`; did you mean `minReplicas`?",
            ),
            (
                json!([{"rule": "has(self.maxSurge)"}]),
                "[0].rule",
                "unknown field `maxSurge`; did you mean `max__dash__surge`?",
            ),
            (
                json!([{"rule": "self.ports.name == 'x'"}]),
                "[0].rule",
                "`self.ports.name`: a list has no fields",
            ),
            (
                json!([{"rule": "self.ports.all(p, p.prot > 0)"}]),
                "[0].rule",
                "`p.prot`: unknown field `prot`; did you mean `port`?",
            ),
            (
                json!([{"rule": "self.target.length > 0"}]),
                "[0].rule",
                "a value of type `string` has no fields",
            ),
            (
                json!([{"rule": "spec.target != ''"}]),
                "[0].rule",
                "unknown variable `spec`",
            ),
            (
                json!([{"rule": "self.?targt.orValue('') != ''"}]),
                "[0].rule",
                "`self.?targt`: unknown field `targt`",
            ),
            (
                json!([{"rule": "true", "messageExpression": "'bad: ' + self.tagret"}]),
                "[0].messageExpression",
                "unknown field `tagret`; did you mean `target`?",
            ),
        ];
        for (rules, at, want) in cases {
            let got = findings(&with_rules(rules.clone()));
            let path = if *at == KEY {
                KEY.to_owned()
            } else {
                format!("{KEY}{at}")
            };
            assert!(
                got.iter().any(|(p, m)| *p == path && m.contains(want)),
                "{rules}: want `{want}` at {path}, got {got:?}"
            );
        }
    }

    #[test]
    fn escaping_round_trips() {
        for name in ["max-surge", "a.b/c", "x__y", "namespace", "plain"] {
            assert_eq!(unescape(&escape(name)), name);
        }
        assert_eq!(escape("max-surge"), "max__dash__surge");
        assert_eq!(escape("namespace"), "__namespace__");
    }

    #[test]
    fn rules_of_a_node() {
        let schema = with_rules(json!([
            {"rule": "self.a", "message": "m", "reason": "FieldValueForbidden", "fieldPath": ".a"},
            {"message": "no rule"},
            {"rule": "self.b", "messageExpression": "'x'"},
        ]));
        let rules = of(&schema);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].message.as_deref(), Some("m"));
        assert_eq!(rules[1].message_expression.as_deref(), Some("'x'"));
        assert_eq!(of(&spec()), []);
    }
}
