//! The Autopilot worker contract: `autopilot.worker.v1.WorkerService`.
//!
//! `autopilot/worker/v1/worker.proto` beside this crate is the single source of truth; this crate
//! only exposes the Rust code generated from it (by `build.rs`, with protox, so no system `protoc`
//! is needed) and the few facts of the contract that code on both sides must agree on: the
//! protocol version, which gRPC codes are retryable, and the retry-after trailer.
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

/// Classifies a worker's gRPC status code as the contract prescribes.
pub fn classify(code: tonic::Code) -> ErrorClass {
    use tonic::Code;
    match code {
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded | Code::Aborted => {
            ErrorClass::Retryable
        }
        _ => ErrorClass::Permanent,
    }
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
