//! [`FakeWorker`]: a [`Worker`] that answers from a script and records every call, for tests of
//! the scheduler that need no gRPC server.
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::reply::RawReply;
use crate::request::Request;
use crate::worker::{CallError, CallMeta, Description, FinalizeReply, Worker};

/// A scripted answer to Sync.
pub type Answer = Result<RawReply, CallError>;

/// A worker that answers Sync from a script per phase and records the requests it got.
///
/// Each phase has a queue of answers; a call takes the next one, and the last one repeats, so
/// `reply(phase, r)` once makes every call of `phase` answer `r`. A phase without a script
/// answers `Unimplemented`. Finalize answers "done" unless [`FakeWorker::finalize_reply`] says
/// otherwise.
///
/// ```
/// use autopilot_worker_client::{FakeWorker, RawReply, Worker};
/// # futures::executor::block_on(async {
/// let worker = FakeWorker::new("fake").reply("Check", Ok(RawReply {
///     next_phase: "Done".into(),
///     ..RawReply::default()
/// }));
/// let request = autopilot_worker_client::Request { phase: "Check".into(), ..Default::default() };
/// assert_eq!(worker.sync(request).await.unwrap().next_phase, "Done");
/// assert_eq!(worker.calls()[0].phase, "Check");
/// # });
/// ```
#[derive(Debug, Default)]
pub struct FakeWorker {
    name: String,
    script: Mutex<BTreeMap<String, VecDeque<Answer>>>,
    finalize: Mutex<Option<Result<FinalizeReply, CallError>>>,
    calls: Mutex<Vec<Request>>,
    finalized: Mutex<Vec<(Vec<u8>, CallMeta)>>,
}

impl FakeWorker {
    /// A worker named `name` with an empty script.
    pub fn new(name: impl Into<String>) -> Self {
        FakeWorker {
            name: name.into(),
            ..FakeWorker::default()
        }
    }

    /// Adds `answer` to the script of `phase`.
    pub fn reply(self, phase: impl Into<String>, answer: Answer) -> Self {
        self.push(phase, answer);
        self
    }

    /// Adds `answer` to the script of `phase`, on a shared worker.
    pub fn push(&self, phase: impl Into<String>, answer: Answer) {
        self.script
            .lock()
            .expect("script lock")
            .entry(phase.into())
            .or_default()
            .push_back(answer);
    }

    /// Replaces the answer to Finalize (by default: done).
    pub fn finalize_reply(self, answer: Result<FinalizeReply, CallError>) -> Self {
        *self.finalize.lock().expect("finalize lock") = Some(answer);
        self
    }

    /// Every Sync request so far, in order.
    pub fn calls(&self) -> Vec<Request> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// The Sync requests of `phase` so far.
    pub fn calls_of(&self, phase: &str) -> Vec<Request> {
        self.calls()
            .into_iter()
            .filter(|r| r.phase == phase)
            .collect()
    }

    /// Every Finalize call so far: the resource's JSON and the call facts.
    pub fn finalize_calls(&self) -> Vec<(Vec<u8>, CallMeta)> {
        self.finalized.lock().expect("finalized lock").clone()
    }

    fn phases(&self) -> Vec<String> {
        self.script
            .lock()
            .expect("script lock")
            .keys()
            .cloned()
            .collect()
    }
}

impl Worker for FakeWorker {
    fn describe(&self, _deadline: Duration) -> BoxFuture<'_, Result<Description, CallError>> {
        let description = Description {
            protocol_version: autopilot_proto::PROTOCOL_VERSION.into(),
            name: self.name.clone(),
            version: "0.0.0-fake".into(),
            phases: self.phases(),
            finalize: true,
        };
        Box::pin(async move { Ok(description) })
    }

    fn sync(&self, request: Request) -> BoxFuture<'_, Result<RawReply, CallError>> {
        let answer = {
            let mut script = self.script.lock().expect("script lock");
            match script.get_mut(&request.phase) {
                Some(queue) if queue.len() > 1 => queue.pop_front(),
                Some(queue) => queue.front().cloned(),
                None => None,
            }
        };
        let answer = answer.unwrap_or_else(|| {
            Err(CallError::from_status(&tonic::Status::unimplemented(
                format!("the fake worker has no script for phase {}", request.phase),
            )))
        });
        self.calls.lock().expect("calls lock").push(request);
        Box::pin(async move { answer })
    }

    fn finalize(
        &self,
        resource: Vec<u8>,
        meta: CallMeta,
        _deadline: Duration,
    ) -> BoxFuture<'_, Result<FinalizeReply, CallError>> {
        self.finalized
            .lock()
            .expect("finalized lock")
            .push((resource, meta));
        let answer = self
            .finalize
            .lock()
            .expect("finalize lock")
            .clone()
            .unwrap_or(Ok(FinalizeReply {
                done: true,
                ..FinalizeReply::default()
            }));
        Box::pin(async move { answer })
    }

    fn endpoint(&self) -> &str {
        "fake:"
    }
}
