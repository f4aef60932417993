//! [`Worker`]: the registry of phase handlers (and the finalizer) that a worker serves.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Context, Finalized, Outcome, WorkerError};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A type-erased phase handler.
pub(crate) type PhaseHandler<S, I> =
    Arc<dyn Fn(Context<S, I>) -> BoxFuture<Result<Outcome<I>, WorkerError>> + Send + Sync>;

/// A type-erased finalize handler.
pub(crate) type FinalizeHandler<S, I> =
    Arc<dyn Fn(Context<S, I>) -> BoxFuture<Result<Finalized, WorkerError>> + Send + Sync>;

/// A worker: one handler per phase it serves, and optionally a finalizer.
///
/// `S` is the custom resource's spec type and `I` its statusInfo type, shared by every handler
/// (both default to [`serde_json::Value`]). A handler is any `async fn(Context<S, I>) ->
/// Result<Outcome<I>, WorkerError>` (or closure returning such a future).
///
/// A `Worker` implements the generated tonic
/// [`WorkerService`](autopilot_proto::v1::worker_service_server::WorkerService): serve it with
/// [`serve_from_env`](Self::serve_from_env) and friends (see the [`serve`](crate::serve) module),
/// or add `WorkerServiceServer::new(worker)` to a tonic server of your own. In tests, call
/// handlers directly, or through [`run_phase`](Self::run_phase) to include the dispatch.
///
/// # Examples
///
/// ```no_run
/// use autopilot_sdk::{Context, Outcome, Worker, WorkerError};
///
/// #[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default)]
/// struct Spec { target: String }
/// #[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default)]
/// struct Info { weight: u32 }
///
/// async fn initializing(_ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
///     Ok(Outcome::next("Processing").status(Info { weight: 0 }))
/// }
///
/// #[tokio::main]
/// async fn main() -> anyhow::Result<()> {
///     Worker::<Spec, Info>::new("canary")
///         .version(env!("CARGO_PKG_VERSION"))
///         .phase("Initializing", initializing)
///         .phase("Processing", |_ctx| async { Ok(Outcome::stay()) })
///         .serve_from_env()
///         .await?;
///     Ok(())
/// }
/// ```
pub struct Worker<S = Value, I = Value> {
    name: String,
    version: String,
    phases: Vec<(String, PhaseHandler<S, I>)>,
    finalizer: Option<FinalizeHandler<S, I>>,
    // fn() -> (S, I): a Worker holds no S or I, so it is Send + Sync whatever they are.
    types: PhantomData<fn() -> (S, I)>,
}

impl<S, I> fmt::Debug for Worker<S, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("phases", &self.phases().collect::<Vec<_>>())
            .field("finalize", &self.finalizer.is_some())
            .finish()
    }
}

impl<S, I> Worker<S, I>
where
    S: DeserializeOwned + Send + 'static,
    I: DeserializeOwned + Serialize + Send + 'static,
{
    /// A worker named `name` (used in the scheduler's logs, metrics and Events), serving no
    /// phase yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let worker: autopilot_sdk::Worker = autopilot_sdk::Worker::new("canary");
    /// assert_eq!(worker.name(), "canary");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: String::new(),
            phases: Vec::new(),
            finalizer: None,
            types: PhantomData,
        }
    }

    /// Sets the worker's own version, reported in `Describe` for the scheduler's logs.
    ///
    /// # Examples
    ///
    /// ```
    /// let worker: autopilot_sdk::Worker = autopilot_sdk::Worker::new("canary").version("1.2.0");
    /// assert_eq!(worker.worker_version(), "1.2.0");
    /// ```
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Serves phase `name` (exactly as declared in `autopilot.yaml`) with `handler`.
    ///
    /// # Panics
    ///
    /// If `name` is already registered: two handlers for one phase is a bug worth stopping at
    /// start-up.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, Outcome, Worker, WorkerError};
    ///
    /// async fn promoting(_ctx: Context) -> Result<Outcome, WorkerError> {
    ///     Ok(Outcome::next("Succeeded"))
    /// }
    ///
    /// let worker: Worker = Worker::new("canary")
    ///     .phase("Promoting", promoting)
    ///     .phase("Succeeded", |_ctx| async { Ok(Outcome::stay()) });
    /// assert_eq!(worker.phases().collect::<Vec<_>>(), ["Promoting", "Succeeded"]);
    /// ```
    #[must_use]
    pub fn phase<F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Context<S, I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outcome<I>, WorkerError>> + Send + 'static,
    {
        let name = name.into();
        assert!(
            self.handler(&name).is_none(),
            "phase {name:?} is registered twice on worker {:?}",
            self.name
        );
        let handler: PhaseHandler<S, I> = Arc::new(move |ctx| Box::pin(handler(ctx)));
        self.phases.push((name, handler));
        self
    }

    /// Implements `Finalize`: cleanup before the resource is deleted, called only when the
    /// operator enables the finalizer, and again until the handler answers
    /// [`Finalized::done`]. The handler's context has no inputs; its
    /// [`phase`](Context::phase) is the resource's current `status.phase`.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, Finalized, Worker, WorkerError};
    ///
    /// async fn finalize(_ctx: Context) -> Result<Finalized, WorkerError> {
    ///     Ok(Finalized::done().event_normal("CleanedUp", "traffic restored to stable"))
    /// }
    ///
    /// let worker: Worker = Worker::new("canary").finalize(finalize);
    /// assert!(worker.has_finalizer());
    /// ```
    #[must_use]
    pub fn finalize<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Context<S, I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Finalized, WorkerError>> + Send + 'static,
    {
        self.finalizer = Some(Arc::new(move |ctx| Box::pin(handler(ctx))));
        self
    }

    /// Runs the handler for `ctx.phase()`, as a `Sync` call would (without the panic guard).
    ///
    /// # Errors
    ///
    /// [`WorkerError::Invalid`] naming the phase when no handler serves it; otherwise whatever
    /// the handler returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, Outcome, Worker};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let worker: Worker = Worker::new("w").phase("A", |_ctx| async { Ok(Outcome::next("B")) });
    /// let outcome = worker.run_phase(Context::builder().phase("A").build().unwrap()).await.unwrap();
    /// assert_eq!(outcome.next_phase(), Some("B"));
    /// let err = worker.run_phase(Context::builder().phase("Z").build().unwrap()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "unknown phase \"Z\"; this worker serves: A");
    /// # }
    /// ```
    pub async fn run_phase(&self, ctx: Context<S, I>) -> Result<Outcome<I>, WorkerError> {
        let handler = self
            .handler(ctx.phase())
            .ok_or_else(|| self.unknown_phase(ctx.phase()))?;
        handler(ctx).await
    }

    /// Runs the finalize handler, as a `Finalize` call would (without the panic guard).
    ///
    /// # Errors
    ///
    /// [`WorkerError::Permanent`] when no finalize handler is registered; otherwise whatever the
    /// handler returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, Finalized, Worker};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let worker: Worker = Worker::new("w").finalize(|_ctx| async { Ok(Finalized::done()) });
    /// let done = worker.run_finalize(Context::builder().build().unwrap()).await.unwrap();
    /// assert!(done.is_done());
    /// # }
    /// ```
    pub async fn run_finalize(&self, ctx: Context<S, I>) -> Result<Finalized, WorkerError> {
        let handler = self.finalizer.clone().ok_or_else(|| {
            WorkerError::permanent(format!(
                "worker {:?} does not implement Finalize",
                self.name
            ))
        })?;
        handler(ctx).await
    }
}

impl<S, I> Worker<S, I> {
    /// The worker's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Worker::<serde_json::Value>::new("w").name(), "w");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker's own version (empty unless set with [`version`](Self::version)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Worker::<serde_json::Value>::new("w").worker_version(), "");
    /// ```
    pub fn worker_version(&self) -> &str {
        &self.version
    }

    /// The phases served, in registration order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Worker::<serde_json::Value>::new("w").phases().count(), 0);
    /// ```
    pub fn phases(&self) -> impl Iterator<Item = &str> {
        self.phases.iter().map(|(name, _)| name.as_str())
    }

    /// True when a finalize handler is registered.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!autopilot_sdk::Worker::<serde_json::Value>::new("w").has_finalizer());
    /// ```
    pub fn has_finalizer(&self) -> bool {
        self.finalizer.is_some()
    }

    pub(crate) fn handler(&self, phase: &str) -> Option<PhaseHandler<S, I>> {
        self.phases
            .iter()
            .find(|(name, _)| name == phase)
            .map(|(_, handler)| Arc::clone(handler))
    }

    pub(crate) fn finalizer(&self) -> Option<FinalizeHandler<S, I>> {
        self.finalizer.clone()
    }

    pub(crate) fn unknown_phase(&self, phase: &str) -> WorkerError {
        WorkerError::invalid(format!(
            "unknown phase {phase:?}; this worker serves: {}",
            self.phases().collect::<Vec<_>>().join(", ")
        ))
    }
}
