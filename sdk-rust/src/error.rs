//! [`WorkerError`]: how a handler fails, and the gRPC status code each failure becomes.

use std::time::Duration;

/// Why a handler (or the SDK on its behalf) could not finish a call.
///
/// The scheduler decides what to do from the gRPC code alone (see `worker.proto`): a *retryable*
/// error re-runs the same phase with per-object exponential backoff and jitter; a *permanent*
/// error is recorded as a `WorkerError` condition on the resource and retried slowly. Each
/// variant says which it is.
///
/// Handlers build one with [`WorkerError::retryable`], [`WorkerError::permanent`] or
/// [`WorkerError::invalid`], or let `?` convert a [`serde_json::Error`]. The other variants are
/// produced by the SDK itself and are public so that a handler can match on them, for example to
/// proceed without an input that could not be gathered.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autopilot_sdk::WorkerError;
///
/// let err = WorkerError::retryable("the metrics backend is warming up")
///     .with_retry_after(Duration::from_secs(5));
/// assert!(err.is_retryable());
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
/// assert_eq!(err.code(), tonic::Code::Unavailable);
///
/// assert!(!WorkerError::permanent("spec.target names no Deployment").is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// Something transient failed (a dependency is down, a rate limit was hit). Retryable: sent
    /// as `UNAVAILABLE`, with the `autopilot-retry-after-ms` trailer when `retry_after` is set.
    #[error("{message}")]
    Retryable {
        /// What failed, for the scheduler's logs.
        message: String,
        /// The minimum delay before the scheduler retries, if the handler knows one.
        retry_after: Option<Duration>,
    },
    /// The phase cannot succeed until something outside the worker changes (a referenced object
    /// is missing, the spec asks for the impossible). Permanent: sent as `FAILED_PRECONDITION`.
    #[error("{message}")]
    Permanent {
        /// What is wrong, shown in the resource's `WorkerError` condition.
        message: String,
    },
    /// The request itself is unusable by this worker. Permanent: sent as `INVALID_ARGUMENT`.
    #[error("{message}")]
    Invalid {
        /// What is wrong with the request.
        message: String,
    },
    /// A JSON value could not be converted (usually a handler's own `serde_json` call, through
    /// `?`). Permanent: sent as `INVALID_ARGUMENT`.
    #[error("JSON conversion failed: {0}")]
    Json(#[from] serde_json::Error),
    /// A part of the request (the spec, the statusInfo, an input object) does not match the type
    /// the worker reads it as. Permanent: sent as `INVALID_ARGUMENT`.
    #[error("{location}: {source}")]
    Decode {
        /// Where in the request, for example `spec.canary.weight` or `objects["pods"][3].spec`.
        location: String,
        /// The deserializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// The request carries no input of this name: the phase does not declare it in
    /// `autopilot.yaml`. Permanent: sent as `INVALID_ARGUMENT`.
    #[error("the request has no input named {key:?}; is it declared for phase {phase:?}?")]
    MissingInput {
        /// The phase that was called.
        phase: String,
        /// The input name the handler asked for.
        key: String,
    },
    /// The scheduler could not gather this input (for example the kind's CRD is not installed,
    /// or Prometheus is unreachable). Retryable: sent as `UNAVAILABLE`.
    #[error("input {key:?} could not be gathered: {message}")]
    InputUnavailable {
        /// The input name.
        key: String,
        /// The scheduler's explanation.
        message: String,
    },
    /// The outcome sets a condition the worker may not set: its type is owned by the scheduler
    /// (see [`SCHEDULER_CONDITIONS`](crate::SCHEDULER_CONDITIONS)) or empty. A bug in the
    /// worker, caught before the scheduler refuses the reply. Permanent: sent as `INTERNAL`.
    #[error("{message}")]
    InvalidCondition {
        /// The condition's type.
        type_: String,
        /// Which rule it breaks.
        message: String,
    },
    /// An output is not a Kubernetes object the scheduler can apply (no `apiVersion`, `kind` or
    /// `metadata.name`, or it failed to serialize). A bug in the worker. Permanent: sent as
    /// `INTERNAL`.
    #[error("output {index} is not an applicable Kubernetes object: {message}")]
    InvalidOutput {
        /// The output's position, counting from 0 in the order they were added.
        index: usize,
        /// What is missing or failed.
        message: String,
    },
}

impl WorkerError {
    /// A transient failure: the scheduler retries the phase with backoff.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = autopilot_sdk::WorkerError::retryable("registry timed out");
    /// assert_eq!(err.to_string(), "registry timed out");
    /// ```
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure that retrying will not fix until something else changes.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = autopilot_sdk::WorkerError::permanent("no Deployment named web");
    /// assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    /// ```
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent {
            message: message.into(),
        }
    }

    /// The request cannot be used by this worker.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = autopilot_sdk::WorkerError::invalid("spec.steps must not be empty");
    /// assert_eq!(err.code(), tonic::Code::InvalidArgument);
    /// ```
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
        }
    }

    /// Asks the scheduler to wait at least `delay` before retrying. Only a
    /// [`Retryable`](Self::Retryable) error carries the hint; on any other variant this does
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = autopilot_sdk::WorkerError::retryable("rate limited")
    ///     .with_retry_after(Duration::from_millis(1500));
    /// assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
    /// ```
    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        if let Self::Retryable { retry_after, .. } = &mut self {
            *retry_after = Some(delay);
        }
        self
    }

    /// The retry-after hint, if this error carries one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::WorkerError::retryable("busy").retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The gRPC status code this error is sent as.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::WorkerError;
    /// let err = WorkerError::InputUnavailable { key: "routes".into(), message: "no CRD".into() };
    /// assert_eq!(err.code(), tonic::Code::Unavailable);
    /// ```
    pub fn code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::Retryable { .. } | Self::InputUnavailable { .. } => Code::Unavailable,
            Self::Permanent { .. } => Code::FailedPrecondition,
            Self::Invalid { .. }
            | Self::Json(_)
            | Self::Decode { .. }
            | Self::MissingInput { .. } => Code::InvalidArgument,
            Self::InvalidOutput { .. } | Self::InvalidCondition { .. } => Code::Internal,
        }
    }

    /// True when the scheduler retries this error with backoff (its code is retryable under
    /// the contract), false when it records it as a permanent failure.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(autopilot_sdk::WorkerError::retryable("busy").is_retryable());
    /// assert!(!autopilot_sdk::WorkerError::invalid("bad").is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        autopilot_proto::classify(self.code()) == autopilot_proto::ErrorClass::Retryable
    }

    /// The gRPC status sent to the scheduler: the code, the message, and the retry-after trailer.
    pub(crate) fn into_status(self) -> tonic::Status {
        let code = self.code();
        let retry_after = self.retry_after();
        let mut status = tonic::Status::new(code, self.to_string());
        if let Some(delay) = retry_after {
            let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            // A decimal number is always a valid ASCII metadata value.
            if let Ok(value) = millis.to_string().parse() {
                status
                    .metadata_mut()
                    .insert(autopilot_proto::RETRY_AFTER_TRAILER, value);
            }
        }
        status
    }

    /// A [`Decode`](Self::Decode) error at `what` + the path serde reported inside it.
    pub(crate) fn decode(what: &str, err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let location = if path == "." {
            what.to_owned()
        } else if path.starts_with('[') {
            format!("{what}{path}")
        } else {
            format!("{what}.{path}")
        };
        Self::Decode {
            location,
            source: err.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_variant_maps_to_the_contracts_code() {
        let json_err = serde_json::from_str::<u32>("\"x\"").unwrap_err();
        let table = [
            (WorkerError::retryable("a"), Code::Unavailable, true),
            (WorkerError::permanent("b"), Code::FailedPrecondition, false),
            (WorkerError::invalid("c"), Code::InvalidArgument, false),
            (WorkerError::from(json_err), Code::InvalidArgument, false),
            (
                WorkerError::MissingInput {
                    phase: "P".into(),
                    key: "k".into(),
                },
                Code::InvalidArgument,
                false,
            ),
            (
                WorkerError::InputUnavailable {
                    key: "k".into(),
                    message: "m".into(),
                },
                Code::Unavailable,
                true,
            ),
            (
                WorkerError::InvalidOutput {
                    index: 0,
                    message: "m".into(),
                },
                Code::Internal,
                false,
            ),
        ];
        for (err, code, retryable) in table {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.is_retryable(), retryable, "{err:?}");
            let status = err.into_status();
            assert_eq!(status.code(), code);
            assert_eq!(autopilot_proto::retry_after(&status), None);
        }
    }

    #[test]
    fn retry_after_becomes_the_trailer() {
        let status = WorkerError::retryable("busy")
            .with_retry_after(Duration::from_millis(2500))
            .into_status();
        assert_eq!(status.message(), "busy");
        assert_eq!(
            autopilot_proto::retry_after(&status),
            Some(Duration::from_millis(2500))
        );
    }

    #[test]
    fn retry_after_is_ignored_on_permanent_errors() {
        let err = WorkerError::permanent("no").with_retry_after(Duration::from_secs(1));
        assert_eq!(err.retry_after(), None);
    }

    #[test]
    fn decode_names_the_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Spec {
            steps: Vec<Step>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Step {
            weight: u32,
        }
        let value = serde_json::json!({"steps": [{"weight": 1}, {"weight": "ten"}]});
        let err = serde_path_to_error::deserialize::<_, Spec>(&value).unwrap_err();
        let err = WorkerError::decode("spec", err);
        assert!(
            err.to_string()
                .starts_with("spec.steps[1].weight: invalid type: string \"ten\""),
            "{err}"
        );

        let err =
            serde_path_to_error::deserialize::<_, Vec<Step>>(&serde_json::json!([{}])).unwrap_err();
        let err = WorkerError::decode("objects[\"steps\"]", err);
        assert_eq!(
            err.to_string(),
            "objects[\"steps\"][0]: missing field `weight`"
        );
    }
}
