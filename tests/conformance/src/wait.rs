//! Waiting with a deadline, always naming what was awaited.
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is polled: fast enough to see short-lived states of a 100 ms backoff,
/// slow enough not to load the API server.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Polls `check` every [`POLL_INTERVAL`] until it returns `Ok`; after `timeout`, fails with
/// `what` and the last observation.
///
/// # Errors
///
/// `timed out after … waiting for <what>; last saw: <observation>`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(v) => return Ok(v),
            Err(observed) => observed,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {timeout:?} waiting for {what}; last saw: {last}"
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
