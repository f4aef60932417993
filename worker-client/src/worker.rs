//! The [`Worker`] trait the scheduler calls through, and the values of a call that are not a
//! request or a reply: the handshake's [`Description`], [`CallMeta`], [`CallError`] and the
//! [`Event`]s a worker asks for.
use std::time::Duration;

use autopilot_proto::ErrorClass;
use futures::future::BoxFuture;

use crate::reply::RawReply;
use crate::request::Request;

/// What the scheduler needs from a worker. [`crate::GrpcWorker`] is the real one;
/// [`crate::FakeWorker`] answers from a script, for tests.
pub trait Worker: Send + Sync + std::fmt::Debug {
    /// The start-up handshake.
    fn describe(&self, deadline: Duration) -> BoxFuture<'_, Result<Description, CallError>>;
    /// Runs one phase for one resource. The reply is not checked yet: see [`crate::reply::check`].
    fn sync(&self, request: Request) -> BoxFuture<'_, Result<RawReply, CallError>>;
    /// Asks the worker to clean up before deletion.
    fn finalize(
        &self,
        resource: Vec<u8>,
        meta: CallMeta,
        deadline: Duration,
    ) -> BoxFuture<'_, Result<FinalizeReply, CallError>>;
    /// The endpoint, for messages.
    fn endpoint(&self) -> &str;
}

/// What a worker said in the Describe handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description {
    /// Protocol version.
    pub protocol_version: String,
    /// Worker name.
    pub name: String,
    /// Worker version.
    pub version: String,
    /// Phases served.
    pub phases: Vec<String>,
    /// Implements Finalize.
    pub finalize: bool,
}

/// Facts about a call, sent in `RequestMeta`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallMeta {
    /// 1-based attempt in the current phase.
    pub attempt: u32,
    /// Hash of the spec and inputs ([`Request::new`] computes it; empty for Finalize).
    pub tag: String,
    /// The resource's generation.
    pub generation: i64,
    /// The operator's name.
    pub operator_name: String,
}

/// How loud an [`Event`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A Kubernetes `Normal` Event.
    Normal,
    /// A Kubernetes `Warning` Event.
    Warning,
}

/// An Event a worker asked the scheduler to record on the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Normal or Warning.
    pub severity: Severity,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

impl Event {
    /// True for a Warning.
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
}

/// A worker's answer to Finalize.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalizeReply {
    /// Cleanup complete.
    pub done: bool,
    /// Events to record.
    pub events: Vec<Event>,
    /// Requested delay before the next call.
    pub requeue_after: Option<Duration>,
}

/// A failed call: the worker answered an error status, or it could not be reached in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CallError {
    /// The gRPC code's name in CamelCase (`Unavailable`, `InvalidArgument`, ...).
    pub code: String,
    /// The worker's (or transport's) message.
    pub message: String,
    /// Retryable or permanent, as the contract classifies the code.
    pub class: ErrorClass,
    /// The worker's retry-after hint.
    pub retry_after: Option<Duration>,
}

impl CallError {
    /// The error a worker answered with `status`, classified as the contract prescribes.
    pub fn from_status(status: &tonic::Status) -> Self {
        // A worker killed mid-call is a transport failure, retried: not the worker's answer.
        CallError {
            code: code_name(autopilot_proto::reported_code(status)).to_string(),
            message: autopilot_proto::describe(status),
            class: autopilot_proto::classify_status(status),
            retry_after: autopilot_proto::retry_after(status),
        }
    }

    /// No answer within `d` (retryable).
    pub fn deadline(d: Duration) -> Self {
        CallError {
            code: "DeadlineExceeded".into(),
            message: format!("no answer within {}", humantime::format_duration(d)),
            class: ErrorClass::Retryable,
            retry_after: None,
        }
    }

    /// The call never reached a worker (a connection or transport failure), as opposed to a
    /// worker's answer.
    pub fn is_unreachable(&self) -> bool {
        matches!(self.code.as_str(), "Unavailable" | "Unknown")
            && ["connect error", "transport error", "dns error"]
                .iter()
                .any(|m| self.message.contains(m))
    }
}

/// CamelCase name of a gRPC code, as used in condition reasons and metric labels.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_camel_case() {
        assert_eq!(code_name(tonic::Code::Unavailable), "Unavailable");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "InvalidArgument");
    }
}
