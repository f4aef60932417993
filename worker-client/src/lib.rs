//! The scheduler's side of the worker contract (`autopilot.worker.v1`), on its own so that the
//! scheduler, `ap call` and tests share one edge.
//!
//! One call, as data: a [`Request`] is built once from the resource's JSON text and the phase's
//! [`Inputs`]; a [`Worker`] answers it with a [`RawReply`]; [`reply::check`] turns that into a
//! typed [`Reply`] or the [`Refusal`] naming the rule it breaks. [`GrpcWorker`] is the real
//! worker (TLS, unix sockets, calls balanced over every address); [`FakeWorker`] answers from a
//! script and records its calls.
//!
//! Start with [`Worker`], then [`request`] and [`reply`]. This crate depends on neither kube's
//! client nor the scheduler.

pub mod conditions;
pub mod fake;
pub mod grpc;
pub mod reply;
pub mod request;
pub mod trace;
mod wire;
pub mod worker;

pub use fake::FakeWorker;
pub use grpc::{EndpointError, GrpcWorker, TlsFiles};
pub use reply::{PhaseRules, RawReply, Refusal, Reply};
pub use request::{ExternalEvent, Inputs, MetricInput, Request};
pub use trace::TraceInput;
pub use worker::{CallError, CallMeta, Description, Event, FinalizeReply, Severity, Worker};
