//! Admission of reconciles: at most `concurrency` at once, admitted first-due first-served.
//!
//! kube-runtime's controller can bound concurrency itself, but not fairly: when every slot is
//! busy its scheduler moves every due request into a `HashSet` and, when a slot frees, takes the
//! first one in that set's iteration order — an order fixed by the resources' hashes, not by
//! how long they waited. Resources that poll (a short requeue) came back into the set every
//! pass and, when they hashed early, were served again and again while a resource waiting for
//! its first call stayed behind them for a minute and more. So the controller runs unbounded
//! and each reconcile waits here instead, in a FIFO queue (Tokio's semaphore is fair): a
//! resource that became due waits for at most the reconciles that were due before it, about
//! one pass over the resources.
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;

/// The shared limit on reconciles in flight, for every namespace's controller.
#[derive(Debug, Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    /// Admits at most `concurrency` reconciles at once (0 is taken as 1).
    pub fn new(concurrency: u16) -> Self {
        let limit = usize::from(concurrency.max(1));
        Admission {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// Waits for its turn, then runs the future `make` builds; `None` without running it when
    /// admission was [closed](Self::close) first. The future is built and boxed only once
    /// admitted, so a resource waiting for its turn costs a few words, not a whole reconcile's
    /// state.
    pub async fn run<F, Fut>(&self, make: F) -> Option<Fut::Output>
    where
        F: FnOnce() -> Fut,
        Fut: Future,
    {
        let _permit = self.permits.acquire().await.ok()?;
        Some(Box::pin(make()).await)
    }

    /// Admits nothing more (shutdown): reconciles waiting for their turn end without running,
    /// those running finish.
    pub fn close(&self) {
        self.permits.close();
    }

    /// Reconciles running now.
    pub fn in_flight(&self) -> usize {
        self.limit - self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Pollers re-enter as soon as they finish (the worst short requeue); a newcomer that
    /// arrives while they saturate the limit is served after at most one round of them, not
    /// after their repeated turns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_newcomer_waits_at_most_one_round_of_pollers() {
        const POLLERS: usize = 40;
        const CONCURRENCY: u16 = 4;
        let admission = Admission::new(CONCURRENCY);
        let served: Arc<Mutex<Vec<String>>> = Arc::default();
        for p in 0..POLLERS {
            let (admission, served) = (admission.clone(), served.clone());
            tokio::spawn(async move {
                loop {
                    let ran = admission
                        .run(|| async {
                            served.lock().unwrap().push(format!("poller-{p}"));
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        })
                        .await;
                    if ran.is_none() {
                        return;
                    }
                }
            });
        }
        // Let the pollers saturate the limit for a while.
        while served.lock().unwrap().len() < POLLERS * 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(admission.in_flight(), usize::from(CONCURRENCY));
        let before = served.lock().unwrap().len();
        admission
            .run(|| async {
                served.lock().unwrap().push("newcomer".into());
            })
            .await
            .expect("admitted");
        let served = served.lock().unwrap().clone();
        let at = served
            .iter()
            .rposition(|s| s == "newcomer")
            .expect("the newcomer ran");
        let ahead = at - before;
        admission.close();
        // One round: every poller at most once (those in flight when it arrived were already
        // counted in `before`).
        assert!(
            ahead <= POLLERS + usize::from(CONCURRENCY),
            "{ahead} calls were served after the newcomer arrived and before it; one round is {POLLERS}"
        );
    }

    #[tokio::test]
    async fn after_close_waiting_reconciles_do_not_run() {
        let admission = Admission::new(1);
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn({
            let admission = admission.clone();
            async move { admission.run(|| async { released.await.ok() }).await }
        });
        while admission.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        let waiting = tokio::spawn({
            let admission = admission.clone();
            async move { admission.run(|| async { "ran" }).await }
        });
        tokio::task::yield_now().await;
        admission.close();
        assert_eq!(
            waiting.await.unwrap(),
            None,
            "a waiting reconcile ran after close"
        );
        release.send(()).unwrap();
        assert_eq!(
            running.await.unwrap(),
            Some(Some(())),
            "the running one finishes"
        );
    }
}
