//! What an API server failure is called and how it is retried: the API server did not answer
//! (`ApiServerUnavailable`), an output kind it does not serve (`OutputKindNotInstalled`), or an
//! answer that refused the request (`OutputRejected`); and the [`Outage`] record that reports an
//! unreachable API server once per outage, with a count, instead of once per failed request.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{error, info};

/// An API request that failed, named for its cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiFailure {
    /// The API server did not answer: connection refused or reset, a timeout, or a proxy in
    /// front of it answering 502/503/504. Retryable: it comes back.
    #[error("the API server is unavailable: {cause}")]
    Unavailable {
        /// What the client saw.
        cause: String,
    },
    /// The kind is not served by the API server: its CRD is not installed (yet). Retryable:
    /// the CRD may be on its way, and the resource is woken when discovery shows it.
    #[error("{resource} is not served by the API server")]
    KindNotInstalled {
        /// `plural.group` (`virtualservices.networking.istio.io`), or the plural for the core
        /// group.
        resource: String,
    },
    /// The API server answered and refused. Retryable for a conflict, throttling or a 5xx;
    /// other refusals will not go away by themselves.
    #[error("{message}")]
    Rejected {
        /// The HTTP status code.
        code: u16,
        /// The API server's message.
        message: String,
    },
}

impl ApiFailure {
    /// Names `error`, a failed request of an output kind.
    pub fn of(error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(s) if matches!(s.code, 502..=504) => ApiFailure::Unavailable {
                cause: format!("HTTP {}: {}", s.code, s.message),
            },
            kube::Error::Api(s) => ApiFailure::Rejected {
                code: s.code,
                message: error.to_string(),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                ApiFailure::Unavailable {
                    cause: chain(error),
                }
            }
            other => ApiFailure::Rejected {
                code: 0,
                message: chain(other),
            },
        }
    }

    /// Whether the request that failed so may also fail because its kind is not served (a 404
    /// that was not a JSON `Status` about an object, as the API server answers for a path it
    /// does not serve). Confirm with [`served`] before calling it [`KindNotInstalled`].
    ///
    /// [`KindNotInstalled`]: ApiFailure::KindNotInstalled
    pub fn may_be_unserved_kind(error: &kube::Error) -> bool {
        matches!(error, kube::Error::Api(s) if s.code == 404 && s.details.is_none())
    }

    /// The condition and Event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiFailure::Unavailable { .. } => "ApiServerUnavailable",
            ApiFailure::KindNotInstalled { .. } => "OutputKindNotInstalled",
            ApiFailure::Rejected { .. } => "OutputRejected",
        }
    }

    /// Whether retrying with backoff can succeed.
    pub fn retryable(&self) -> bool {
        match self {
            ApiFailure::Unavailable { .. } | ApiFailure::KindNotInstalled { .. } => true,
            ApiFailure::Rejected { code, .. } => {
                !(400..500).contains(code) || *code == 409 || *code == 429
            }
        }
    }

    /// How the step function retries it: with backoff when [`retryable`](Self::retryable),
    /// slowly (`permanentErrorInterval`) otherwise.
    pub fn failure(&self) -> crate::step::Failure {
        if self.retryable() {
            crate::step::Failure::Retryable { retry_after: None }
        } else {
            crate::step::Failure::Permanent
        }
    }

    /// Names a failed request about objects of `resource`. A 404 for a path the API server
    /// does not serve is confirmed through discovery before it is called
    /// [`KindNotInstalled`](ApiFailure::KindNotInstalled); discovery failing because the API
    /// server went away makes it [`Unavailable`](ApiFailure::Unavailable).
    pub async fn classify(
        client: &kube::Client,
        resource: &kube::core::ApiResource,
        error: &kube::Error,
    ) -> Self {
        if Self::may_be_unserved_kind(error) {
            match served(client, resource).await {
                Ok(false) => {
                    return ApiFailure::KindNotInstalled {
                        resource: resource_name(resource),
                    };
                }
                Ok(true) => {}
                Err(e) => {
                    if let unavailable @ ApiFailure::Unavailable { .. } = Self::of(&e) {
                        return unavailable;
                    }
                }
            }
        }
        Self::of(error)
    }
}

/// What the client saw, when `error` means the API server did not answer.
pub fn unavailable(error: &kube::Error) -> Option<String> {
    match ApiFailure::of(error) {
        ApiFailure::Unavailable { cause } => Some(cause),
        _ => None,
    }
}

/// What the client saw, when a watch failed because the API server did not answer.
pub fn watch_unavailable(error: &kube::runtime::watcher::Error) -> Option<String> {
    use kube::runtime::watcher::Error as Watch;
    match error {
        Watch::InitialListFailed(e) | Watch::WatchStartFailed(e) | Watch::WatchFailed(e) => {
            unavailable(e)
        }
        Watch::WatchError(_) | Watch::NoResourceVersion => None,
    }
}

/// Whether a controller error is part of an API server outage, and so left to the one outage
/// report instead of logged: a failed watch is counted here; a failed reconcile was counted by
/// the error policy already.
pub fn part_of_outage(
    error: &kube::runtime::controller::Error<
        crate::reconcile::ReconcileError,
        kube::runtime::watcher::Error,
    >,
) -> bool {
    use kube::runtime::controller::Error as Controller;
    match error {
        Controller::ReconcilerFailed(e, _) => e.unavailable().is_some(),
        Controller::QueueError(e) => match watch_unavailable(e) {
            Some(cause) => {
                outage().failed(&cause);
                true
            }
            None => false,
        },
        Controller::ObjectNotFound(_) | Controller::RunnerError(_) => false,
    }
}

impl crate::reconcile::ReconcileError {
    /// What the client saw, when the write failed because the API server did not answer.
    pub fn unavailable(&self) -> Option<String> {
        use crate::reconcile::ReconcileError as E;
        match self {
            E::StatusWriteFailed(e) | E::FinalizerUpdateFailed(e) => unavailable(e),
            E::MalformedResource(_) => None,
        }
    }
}

/// The error and its sources, one after the other: `client error (Connect): tcp connect
/// error: Connection refused (os error 111)`.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// `plural.group` of `resource`, as `kubectl get` and CRD names spell it.
pub fn resource_name(resource: &kube::core::ApiResource) -> String {
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

/// Whether the API server serves `resource` now (discovery of its group/version).
///
/// # Errors
///
/// The API server did not answer discovery (another reason than "not found").
pub async fn served(
    client: &kube::Client,
    resource: &kube::core::ApiResource,
) -> Result<bool, kube::Error> {
    let list = if resource.group.is_empty() {
        client.list_core_api_resources(&resource.version).await
    } else {
        client.list_api_group_resources(&resource.api_version).await
    };
    match list {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == resource.plural)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// An outage as it is being recorded.
#[derive(Debug)]
struct Down {
    since: Instant,
    failures: u64,
}

/// Reports an unreachable API server once when the outage begins and once when it ends, with
/// how many requests failed meanwhile; the failures in between are counted, not logged.
#[derive(Debug, Default)]
pub struct Outage {
    down: Mutex<Option<Down>>,
}

impl Outage {
    /// A request failed because the API server did not answer. Logs only the first failure of
    /// an outage; returns whether this one began the outage.
    pub fn failed(&self, cause: &str) -> bool {
        let mut down = self.down.lock().expect("outage lock");
        match down.as_mut() {
            Some(d) => {
                d.failures += 1;
                false
            }
            None => {
                error!(
                    reason = "ApiServerUnavailable",
                    cause,
                    "the API server is unavailable; retrying with backoff, further failures are counted until it answers"
                );
                *down = Some(Down {
                    since: Instant::now(),
                    failures: 1,
                });
                true
            }
        }
    }

    /// The API server answered a request. Ends an outage, logging how long it lasted and how
    /// many requests failed; returns that, if an outage ended.
    pub fn answered(&self) -> Option<(Duration, u64)> {
        let ended = self.down.lock().expect("outage lock").take()?;
        let lasted = ended.since.elapsed();
        info!(
            reason = "ApiServerUnavailable",
            lasted = %humantime::format_duration(Duration::from_millis(lasted.as_millis() as u64)),
            failed_requests = ended.failures,
            "the API server answers again"
        );
        Some((lasted, ended.failures))
    }

    /// Whether the API server is unreachable now, as far as requests have shown.
    pub fn is_down(&self) -> bool {
        self.down.lock().expect("outage lock").is_some()
    }
}

/// The scheduler's one record of API server outages (there is one API server).
pub fn outage() -> &'static Outage {
    static OUTAGE: std::sync::OnceLock<Outage> = std::sync::OnceLock::new();
    OUTAGE.get_or_init(Outage::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, message: &str, reason: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn failures_are_named_for_their_cause() {
        let refused: kube::Error = kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "tcp connect error: Connection refused (os error 111)",
        )));
        // (what, error, reason, retryable)
        let table = [
            ("connection refused", refused, "ApiServerUnavailable", true),
            (
                "a proxy's 503",
                api(503, "no healthy upstream", "ServiceUnavailable"),
                "ApiServerUnavailable",
                true,
            ),
            (
                "invalid object",
                api(422, "ConfigMap is invalid", "Invalid"),
                "OutputRejected",
                false,
            ),
            (
                "forbidden",
                api(403, "cannot patch", "Forbidden"),
                "OutputRejected",
                false,
            ),
            (
                "conflict",
                api(409, "conflict", "Conflict"),
                "OutputRejected",
                true,
            ),
            (
                "throttled",
                api(429, "slow down", "TooManyRequests"),
                "OutputRejected",
                true,
            ),
            (
                "internal error",
                api(500, "etcd timeout", "InternalError"),
                "OutputRejected",
                true,
            ),
        ];
        for (what, error, reason, retryable) in table {
            let f = ApiFailure::of(&error);
            assert_eq!(f.reason(), reason, "{what}: {f}");
            assert_eq!(f.retryable(), retryable, "{what}: {f}");
        }
        assert!(
            ApiFailure::of(&kube::Error::Service(Box::new(std::io::Error::other("x"))))
                .to_string()
                .starts_with("the API server is unavailable: ")
        );
        let missing = ApiFailure::KindNotInstalled {
            resource: "virtualservices.networking.istio.io".into(),
        };
        assert_eq!(missing.reason(), "OutputKindNotInstalled");
        assert!(missing.retryable());
        assert_eq!(
            missing.to_string(),
            "virtualservices.networking.istio.io is not served by the API server"
        );
    }

    #[test]
    fn a_plain_404_may_be_an_unserved_kind_a_status_about_an_object_is_not() {
        let plain = api(404, "404 page not found", "Failed to parse error data");
        assert!(ApiFailure::may_be_unserved_kind(&plain));
        let mut about_object =
            Status::failure("namespaces \"x\" not found", "NotFound").with_code(404);
        about_object.details = Some(kube::core::response::StatusDetails {
            name: "x".into(),
            group: String::new(),
            kind: "namespaces".into(),
            uid: String::new(),
            causes: vec![],
            retry_after_seconds: 0,
        });
        assert!(!ApiFailure::may_be_unserved_kind(&kube::Error::Api(
            about_object.boxed()
        )));
    }

    #[test]
    fn resources_are_named_as_kubectl_names_them() {
        let vs = kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
            "virtualservices",
        );
        assert_eq!(resource_name(&vs), "virtualservices.networking.istio.io");
        let cm = kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        );
        assert_eq!(resource_name(&cm), "configmaps");
    }

    #[test]
    fn an_outage_is_reported_once_with_its_count() {
        let outage = Outage::default();
        assert!(!outage.is_down());
        assert_eq!(outage.answered(), None, "no outage to end");
        assert!(
            outage.failed("connection refused"),
            "the first failure begins it"
        );
        for _ in 0..99 {
            assert!(!outage.failed("connection refused"));
        }
        assert!(outage.is_down());
        let (_, failures) = outage.answered().expect("the outage ends");
        assert_eq!(failures, 100);
        assert!(!outage.is_down());
        assert!(
            outage.failed("again"),
            "a later failure begins a new outage"
        );
    }
}
