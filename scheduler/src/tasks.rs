//! Named, supervised tasks: the scheduler's long-lived work as a list.
//!
//! ```text
//! tasks.critical("reload", reload::watch(..));
//! tasks.background("phase-gauge", ..);
//! let ended = tasks.ended();          // a critical task that ends is an error naming it
//! tasks.shutdown(grace).await;        // after the shutdown signal: wait, then abort the rest
//! ```
//!
//! Every task ends when the one shutdown signal fires (by itself, as a controller that lets its
//! reconciles finish, or through [`until_shutdown`]); a critical task that ends before that
//! (returned or panicked) ends the process with an error naming it. Tasks are not wrapped in a
//! tracing span: a span around a controller would become the parent of every reconcile's trace.
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use tokio::task::{Id, JoinSet};
use tracing::{error, warn};

use crate::Error;

/// The shutdown signal every task is given.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Runs `task` until it ends or `shutdown` fires, whichever comes first.
pub async fn until_shutdown(shutdown: Shutdown, task: impl Future<Output = ()>) {
    tokio::select! {
        () = task => {}
        () = shutdown => {}
    }
}

/// The scheduler's named tasks.
#[derive(Debug, Default)]
pub struct Tasks {
    critical: JoinSet<()>,
    background: JoinSet<()>,
    names: HashMap<Id, String>,
}

impl Tasks {
    /// Spawns a task the scheduler cannot work without: if it ends before shutdown,
    /// [`Tasks::ended`] reports it.
    pub fn critical(
        &mut self,
        name: impl Into<String>,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = self.critical.spawn(task);
        self.names.insert(handle.id(), name.into());
    }

    /// Spawns a task the scheduler can work without (a gauge, a server whose loss probes
    /// notice): its end is logged, not fatal.
    pub fn background(
        &mut self,
        name: impl Into<String>,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = self.background.spawn(task);
        self.names.insert(handle.id(), name.into());
    }

    fn name(&self, id: Id) -> String {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("task {id}"))
    }

    /// Resolves when a critical task ends, with the error that names it; background tasks that
    /// end meanwhile are logged. Never resolves while every critical task runs.
    pub async fn ended(&mut self) -> Error {
        loop {
            tokio::select! {
                Some(done) = self.critical.join_next_with_id() => {
                    let (name, how) = match done {
                        Ok((id, ())) => (self.name(id), "ended".to_string()),
                        Err(e) => (self.name(e.id()), format!("failed: {e}")),
                    };
                    error!(task = %name, "a critical task {how}");
                    return Error::TaskEnded { name, how };
                }
                Some(done) = self.background.join_next_with_id() => {
                    match done {
                        Ok((id, ())) => warn!(task = %self.name(id), "a background task ended"),
                        Err(e) => warn!(task = %self.name(e.id()), error = %e, "a background task failed"),
                    }
                }
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// Stops every task at once (the process is about to end without a graceful shutdown).
    pub fn abort_all(&mut self) {
        self.critical.abort_all();
        self.background.abort_all();
    }

    /// After the shutdown signal: waits up to `grace` for every task to end, then aborts the
    /// rest, naming them. Returns whether all ended in time.
    pub async fn shutdown(self, grace: Duration) -> bool {
        let Tasks {
            mut critical,
            mut background,
            mut names,
        } = self;
        let all = async {
            for set in [&mut critical, &mut background] {
                while let Some(done) = set.join_next_with_id().await {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => e.id(),
                    };
                    names.remove(&id);
                }
            }
        };
        if tokio::time::timeout(grace, all).await.is_ok() {
            return true;
        }
        let mut left: Vec<String> = names.into_values().collect();
        left.sort();
        error!(tasks = ?left, grace = %humantime::format_duration(grace), "tasks did not end within the grace period; stopping them");
        critical.abort_all();
        background.abort_all();
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_critical_task_that_ends_is_named() {
        let mut tasks = Tasks::default();
        tasks.background("gauge", async {});
        tasks.critical("forever", std::future::pending());
        tasks.critical("reload", async {
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        let err = tasks.ended().await;
        assert_eq!(err.to_string(), "task reload ended; stopping");
    }

    #[tokio::test]
    async fn a_panicking_critical_task_is_named() {
        let mut tasks = Tasks::default();
        tasks.critical("controller", async { panic!("boom") });
        let err = tasks.ended().await;
        assert!(
            err.to_string().starts_with("task controller failed: "),
            "{err}"
        );
    }

    #[tokio::test]
    async fn shutdown_waits_then_aborts() {
        let mut tasks = Tasks::default();
        tasks.critical("quick", async {});
        assert!(tasks.shutdown(Duration::from_secs(5)).await);
        let mut tasks = Tasks::default();
        tasks.critical("stuck", std::future::pending());
        assert!(!tasks.shutdown(Duration::from_millis(20)).await);
    }
}
