//! The Autopilot project model: parse and validate `autopilot.yaml` (what the operator is) and
//! `autopilot-operator.yaml` (how it runs), in exactly one place.
//!
//! The scheduler, the `ap` CLI and every code generator build on this crate. It is pure: no
//! Kubernetes client, no gRPC, no async. Start with [`load_dir`] (or [`load_dir_with_config`]),
//! which returns a [`Model`] holding a [`Project`] and an [`OperatorConfig`], or [`Diagnostics`]
//! naming file, line, column and field of every problem found. [`parse_project`] and [`parse_operator`] parse one
//! file's text. The [`catalog`] lists the built-in parameters and queries, and [`template`]
//! renders the `{{ path }}` placeholders used in queries and selectors.
//!
//! `testdata/canary/` holds a complete example of both files, with every field in use.
//!
//! ```
//! let project = autopilot_model::parse_project(
//!     "autopilot.yaml",
//!     r#"
//! apiVersion: canary.example.com/v1
//! kind: CanaryDeployment
//! operatorName: canary-operator
//! spec: {type: object}
//! phases:
//!   - name: Initializing
//!     initial: true
//!     inputs: [deployments]
//!     outputs: [virtualservices]
//!   - name: Done
//!     final: true
//! "#,
//! )
//! .unwrap();
//! assert_eq!(project.plural(), "canarydeployments");
//! assert_eq!(project.worker_for_phase("Initializing").unwrap().name, "canary-operator");
//!
//! let err = autopilot_model::parse_project("autopilot.yaml", "kind: canary\n").unwrap_err();
//! assert!(err.to_string().starts_with("autopilot.yaml:1:1: apiVersion: missing required field"));
//! ```

pub mod catalog;
mod diagnostic;
mod duration;
pub mod event;
pub mod gates;
pub mod git;
pub mod kubectl;
pub mod labels;
mod model;
mod names;
pub mod notifications;
pub mod operator;
mod parse;
pub mod project;
mod schema;
pub mod template;
pub mod traces;
pub mod validation_rules;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use event::{EventSource, SourceKind};
pub use gates::{Gate, GateWhen};
pub use kubectl::{ColumnType, PrinterColumn};
pub use model::{Model, PROJECT_FILE_NAME, load_dir, load_dir_with_config};
pub use operator::OperatorConfig;
pub use parse::{parse_operator, parse_project};
pub use project::{
    Input, InputNamespace, Language, Parameter, Phase, Project, Query, QueryRange, Worker,
    WorkerMode,
};
pub use traces::{TraceQuery, TraceSearch};
