//! The Rust SDK for Autopilot workers: write one async function per phase, the SDK does the gRPC.
//!
//! An Autopilot operator's phases run in *workers* that the scheduler calls over gRPC
//! (`autopilot.worker.v1.WorkerService`, defined in the `autopilot-proto` crate). This crate
//! implements that service for you: it decodes each request into a typed [`Context`], calls the
//! handler registered for the phase, and encodes the [`Outcome`] it returns, mapping a
//! [`WorkerError`] to the gRPC code the contract prescribes. It also serves the worker (TCP or a
//! unix socket, plaintext or TLS, with the gRPC health service and graceful shutdown).
//!
//! Start with [`Worker`]; a handler's whole world is [`Context`] in, [`Outcome`] out. The
//! [`outputs`] module builds the objects most mesh workflows apply, and [`serve`] documents the
//! environment a worker reads.
//!
//! # Examples
//!
//! A complete worker:
//!
//! ```no_run
//! use autopilot_sdk::{outputs, Context, MetricValue, Outcome, Worker, WorkerError};
//! use k8s_openapi::api::apps::v1::Deployment;
//!
//! #[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default)]
//! struct Spec { target: String }
//! #[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default)]
//! struct Info { weight: u32 }
//!
//! async fn initializing(ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
//!     let deployments = ctx.objects::<Deployment>("deployments")?;
//!     let Some(primary) = deployments.iter().find(|d| d.metadata.name.as_deref() == Some(&ctx.spec().target)) else {
//!         return Err(WorkerError::permanent(format!("no Deployment named {}", ctx.spec().target)));
//!     };
//!     Ok(Outcome::next("Processing")
//!         .output(outputs::deployment(format!("{}-canary", ctx.spec().target))
//!             .template_from(primary)
//!             .selector_label("track", "canary")
//!             .replicas(1))?
//!         .output(outputs::virtual_service(&ctx.spec().target).route([
//!             (ctx.spec().target.as_str(), Some("stable"), 80, 100),
//!             (ctx.spec().target.as_str(), Some("canary"), 80, 0),
//!         ]))?
//!         .status(Info { weight: 0 })
//!         .event_normal("Started", "canary deployment created"))
//! }
//!
//! async fn processing(ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
//!     let weight = ctx.status_info().map_or(0, |i| i.weight);
//!     match ctx.metric("success-rate")?.value()? {
//!         MetricValue::Value(rate) if rate < 0.99 => {
//!             Ok(Outcome::next("RollingBack").event_warning("Unhealthy", format!("success rate {rate}")))
//!         }
//!         MetricValue::Value(_) if weight >= 100 => Ok(Outcome::next("Promoting")),
//!         MetricValue::Value(_) => Ok(Outcome::stay().status(Info { weight: weight + 10 })),
//!         MetricValue::NoData | MetricValue::NaN => Ok(Outcome::stay()),
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     Worker::<Spec, Info>::new("canary")
//!         .version(env!("CARGO_PKG_VERSION"))
//!         .phase("Initializing", initializing)
//!         .phase("Processing", processing)
//!         .serve_from_env()
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! And its test, with no gRPC in sight:
//!
//! ```
//! use autopilot_sdk::{Context, Metric, Outcome, WorkerError};
//! # #[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default)]
//! # struct Info { weight: u32 }
//! # async fn processing(ctx: Context<serde_json::Value, Info>) -> Result<Outcome<Info>, WorkerError> {
//! #     Ok(Outcome::next("RollingBack"))
//! # }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let ctx = Context::builder()
//!     .phase("Processing")
//!     .spec(serde_json::json!({"target": "web"}))
//!     .status_info(Info { weight: 30 })
//!     .metric("success-rate", Metric::scalar(0.80))
//!     .build()
//!     .unwrap();
//! let outcome = processing(ctx).await.unwrap();
//! assert_eq!(outcome.next_phase(), Some("RollingBack"));
//! # }
//! ```
//!
//! # Errors and retries
//!
//! A handler returns [`WorkerError::retryable`] for transient failures (the scheduler retries with
//! backoff), [`WorkerError::permanent`] when nothing will change until someone acts, and
//! [`WorkerError::invalid`] for requests it cannot use. A handler that panics fails only its own
//! call, with `INTERNAL`.
//!
//! # Tracing
//!
//! Every call runs in a `tracing` span (`sync` or `finalize`) with the phase, namespace, name,
//! attempt and the trace id of the scheduler's W3C `traceparent`; the full header is
//! [`Context::traceparent`], for workers that export spans of their own.

#![deny(missing_docs)]

mod condition;
mod context;
mod error;
mod external;
mod grpc;
mod metric;
mod outcome;
pub mod outputs;
pub mod serve;
mod trace;
mod worker;

pub use condition::{Condition, ConditionStatus, SCHEDULER_CONDITIONS};
pub use context::{Context, ContextBuilder};
pub use error::WorkerError;
pub use external::ExternalEvent;
pub use metric::{Metric, MetricKind, MetricValue, Sample, Series};
pub use outcome::{Event, Finalized, Outcome, Severity};
pub use trace::{ErrorSpan, SpanStats, Trace, TraceSample};
pub use worker::Worker;

/// The wire contract this SDK implements, for code that needs the generated types.
pub use autopilot_proto as proto;
