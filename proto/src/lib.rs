//! The Autopilot worker contract: `autopilot.worker.v1.WorkerService`.
//!
//! `autopilot/worker/v1/worker.proto` beside this crate is the single source of truth; this crate
//! only exposes the Rust code generated from it (by `build.rs`, with protox, so no system `protoc`
//! is needed) and the few facts of the contract that code on both sides must agree on: the
//! protocol version, which gRPC codes are retryable (and which failed calls the worker never
//! answered), and the retry-after trailer.
//!
//! Start with [`v1::worker_service_server::WorkerService`] to implement a worker by hand, or use
//! the `autopilot-sdk` crate, which does it for you.

/// Generated messages, client and server of `autopilot.worker.v1`.
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod v1 {
    tonic::include_proto!("autopilot.worker.v1");
}

/// The protocol version defined by `worker.proto`, exchanged in `Describe`.
pub const PROTOCOL_VERSION: &str = "v1";

/// Trailer a worker may set on a retryable error to ask for a minimum delay, in milliseconds.
pub const RETRY_AFTER_TRAILER: &str = "autopilot-retry-after-ms";

/// How the scheduler treats a gRPC status code a worker returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retried with per-object exponential backoff and jitter.
    Retryable,
    /// Recorded as a condition on the resource and retried slowly.
    Permanent,
}

/// Classifies a gRPC status code a worker answered, as the contract prescribes.
///
/// A status the client made up because the call failed on the way (see [`Origin`]) is not the
/// worker's answer: classify a received [`tonic::Status`] with [`classify_status`] instead.
pub fn classify(code: tonic::Code) -> ErrorClass {
    use tonic::Code;
    match code {
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded | Code::Aborted => {
            ErrorClass::Retryable
        }
        _ => ErrorClass::Permanent,
    }
}

/// Where the status of a failed call came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The worker answered it (`grpc-status`): its code means what the contract says.
    Worker,
    /// The call failed on the way, before the worker answered: connection refused, reset or
    /// closed mid-call (a worker killed during a Sync), an HTTP/2 protocol error. The client
    /// made the status up — tonic mostly says `Unknown: transport error` — and kept the cause
    /// as its source.
    Transport,
    /// An HTTP response without `grpc-status` (a proxy or a server that is not a gRPC worker
    /// answered): the client inferred the code from the HTTP status.
    Inferred,
}

/// The message tonic gives a status it inferred from an HTTP status without `grpc-status`
/// (`infer_grpc_status` in tonic's `status.rs`); the only mark such a status carries.
const INFERRED_MESSAGE: &str = "grpc-status header missing";

/// Where `status` came from.
///
/// A status the server sent never has a source error; one the client made from a failed
/// connection always has one (tonic's `Status::from_error` keeps it).
pub fn origin(status: &tonic::Status) -> Origin {
    if std::error::Error::source(status).is_some() {
        Origin::Transport
    } else if status.message().starts_with(INFERRED_MESSAGE) {
        Origin::Inferred
    } else {
        Origin::Worker
    }
}

/// Classifies the status of a failed call: the worker's own answer by its code
/// ([`classify`]); a transport failure or a status the worker never sent ([`Origin`]) as
/// retryable, whatever code the client gave it — the call may succeed once the worker is back.
pub fn classify_status(status: &tonic::Status) -> ErrorClass {
    match origin(status) {
        Origin::Worker => classify(status.code()),
        Origin::Transport | Origin::Inferred => ErrorClass::Retryable,
    }
}

/// The code to report for a failed call: the worker's or the inferred one as it is, and
/// `Unavailable` for a transport failure, as gRPC's status code table prescribes for a
/// connection that breaks during a call (tonic reports most of those as `Unknown`).
pub fn reported_code(status: &tonic::Status) -> tonic::Code {
    match origin(status) {
        Origin::Transport => tonic::Code::Unavailable,
        Origin::Worker | Origin::Inferred => status.code(),
    }
}

/// The message of a failed call with the chain of errors under it, so that a transport
/// failure says what broke (`transport error: connection closed before message completed`).
pub fn describe(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = err.source();
    }
    if origin(status) == Origin::Transport {
        text = format!("the call failed before the worker answered: {text}");
    }
    text
}

/// The retry-after hint a worker attached to an error status, if any.
pub fn retry_after(status: &tonic::Status) -> Option<std::time::Duration> {
    status
        .metadata()
        .get(RETRY_AFTER_TRAILER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

/// Errors decoding the JSON payloads of the contract.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `bytes` field that must hold JSON did not (not retryable: the sender must be fixed).
    #[error("field {field} is not valid JSON: {source}")]
    InvalidJson {
        /// The field, for example `SyncResponse.outputs[2]`.
        field: String,
        /// The parse error, with line and column inside the payload.
        #[source]
        source: serde_json::Error,
    },
}

/// Parses a JSON payload of the contract, naming the field on failure.
pub fn parse_json(field: impl Into<String>, bytes: &[u8]) -> Result<serde_json::Value, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::InvalidJson {
        field: field.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn classification_follows_the_contract() {
        let table = [
            (Code::Unavailable, ErrorClass::Retryable),
            (Code::ResourceExhausted, ErrorClass::Retryable),
            (Code::DeadlineExceeded, ErrorClass::Retryable),
            (Code::Aborted, ErrorClass::Retryable),
            (Code::InvalidArgument, ErrorClass::Permanent),
            (Code::FailedPrecondition, ErrorClass::Permanent),
            (Code::Internal, ErrorClass::Permanent),
            (Code::Unimplemented, ErrorClass::Permanent),
            (Code::NotFound, ErrorClass::Permanent),
        ];
        for (code, want) in table {
            assert_eq!(classify(code), want, "{code:?}");
        }
    }

    #[test]
    fn statuses_are_classified_by_origin() {
        let transport = |code: Code, kind: std::io::ErrorKind| {
            let mut status = tonic::Status::new(code, "transport error");
            status.set_source(std::sync::Arc::new(std::io::Error::from(kind)));
            status
        };
        let inferred = |code: Code, http: u16| {
            tonic::Status::new(
                code,
                format!("grpc-status header missing, mapped from HTTP status code {http}"),
            )
        };
        // (what, status, origin, class, reported code)
        let table = [
            (
                "a worker's own UNKNOWN",
                tonic::Status::unknown("handler panicked"),
                Origin::Worker,
                ErrorClass::Permanent,
                Code::Unknown,
            ),
            (
                "a worker's own INTERNAL",
                tonic::Status::internal("bug"),
                Origin::Worker,
                ErrorClass::Permanent,
                Code::Internal,
            ),
            (
                "a worker's own UNAVAILABLE",
                tonic::Status::unavailable("warming up"),
                Origin::Worker,
                ErrorClass::Retryable,
                Code::Unavailable,
            ),
            (
                "connection reset mid-call",
                transport(Code::Unknown, std::io::ErrorKind::ConnectionReset),
                Origin::Transport,
                ErrorClass::Retryable,
                Code::Unavailable,
            ),
            (
                "connection closed, reported as cancelled",
                transport(Code::Cancelled, std::io::ErrorKind::UnexpectedEof),
                Origin::Transport,
                ErrorClass::Retryable,
                Code::Unavailable,
            ),
            (
                "h2 protocol error, reported as internal",
                transport(Code::Internal, std::io::ErrorKind::InvalidData),
                Origin::Transport,
                ErrorClass::Retryable,
                Code::Unavailable,
            ),
            (
                "HTTP 500 without grpc-status",
                inferred(Code::Unknown, 500),
                Origin::Inferred,
                ErrorClass::Retryable,
                Code::Unknown,
            ),
            (
                "HTTP 400 without grpc-status",
                inferred(Code::Internal, 400),
                Origin::Inferred,
                ErrorClass::Retryable,
                Code::Internal,
            ),
        ];
        for (what, status, want_origin, want_class, want_code) in table {
            assert_eq!(origin(&status), want_origin, "{what}");
            assert_eq!(classify_status(&status), want_class, "{what}");
            assert_eq!(reported_code(&status), want_code, "{what}");
        }
    }

    #[test]
    fn a_transport_failure_is_described_with_its_cause() {
        let mut status = tonic::Status::unknown("transport error");
        status.set_source(std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        )));
        assert_eq!(
            describe(&status),
            "the call failed before the worker answered: transport error: connection reset by peer"
        );
        assert_eq!(describe(&tonic::Status::unknown("boom")), "boom");
    }

    #[test]
    fn retry_after_reads_the_trailer() {
        let mut status = tonic::Status::unavailable("busy");
        assert_eq!(retry_after(&status), None);
        status
            .metadata_mut()
            .insert(RETRY_AFTER_TRAILER, "1500".parse().unwrap());
        assert_eq!(
            retry_after(&status),
            Some(std::time::Duration::from_millis(1500))
        );
    }

    #[test]
    fn parse_json_names_the_field() {
        let err = parse_json("SyncResponse.outputs[0]", b"{nope").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("field SyncResponse.outputs[0] is not valid JSON")
        );
        let big = parse_json("x", br#"{"n": 9007199254740993}"#).unwrap();
        assert_eq!(big["n"].as_i64(), Some(9_007_199_254_740_993));
    }
}
