//! [`Context`]: everything a handler is given for one call, and [`ContextBuilder`] to make one in
//! tests.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::{Condition, ExternalEvent, Metric, Trace, WorkerError};

/// What a phase handler is given: the custom resource with its spec and statusInfo already
/// typed, the phase's inputs, and facts about the call.
///
/// `S` is the resource's spec type and `I` its statusInfo type (both default to
/// [`serde_json::Value`]). The SDK builds the context from the gRPC request before calling the
/// handler; tests build one with [`Context::builder`] or [`Context::for_test`].
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{Context, Metric, MetricValue, Outcome, WorkerError};
///
/// #[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default)]
/// struct Spec { threshold: f64 }
///
/// async fn analyzing(ctx: Context<Spec>) -> Result<Outcome, WorkerError> {
///     match ctx.metric("success-rate")?.value()? {
///         MetricValue::Value(rate) if rate >= ctx.spec().threshold => Ok(Outcome::next("Promoting")),
///         MetricValue::Value(_) => Ok(Outcome::next("RollingBack")),
///         MetricValue::NoData | MetricValue::NaN => Ok(Outcome::stay()),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Context<S = Value, I = Value> {
    phase: String,
    resource: Value,
    spec: S,
    status_info: Option<I>,
    conditions: Vec<Condition>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    objects: BTreeMap<String, Input>,
    metrics: BTreeMap<String, Metric>,
    traces: BTreeMap<String, Trace>,
    events: BTreeMap<String, Result<Vec<ExternalEvent>, String>>,
    attempt: u32,
    tag: String,
    deadline: Option<SystemTime>,
    generation: i64,
    operator_name: String,
    traceparent: Option<String>,
}

/// One object input: the objects, or why the scheduler could not gather them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    Objects(Vec<Value>),
    Unavailable(String),
}

impl<S, I> Context<S, I> {
    /// A builder for a context, for testing handlers without gRPC.
    ///
    /// It starts from a minimal namespaced resource (`default/test`, generation 1, an empty
    /// spec), attempt 1 and no inputs; see [`ContextBuilder`] for what can be set.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::Context;
    /// let ctx: Context = Context::builder().phase("Initializing").name("web").build().unwrap();
    /// assert_eq!(ctx.name(), "web");
    /// assert_eq!(ctx.namespace(), Some("default"));
    /// ```
    pub fn builder() -> ContextBuilder<S, I> {
        ContextBuilder::new()
    }

    /// A builder starting from this whole custom resource (as the API server would return it).
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::Context;
    /// use serde_json::json;
    ///
    /// let ctx: Context = Context::for_test(json!({
    ///     "apiVersion": "example.com/v1", "kind": "Canary",
    ///     "metadata": {"name": "web", "namespace": "shop"},
    ///     "spec": {"target": "web"},
    /// }))
    /// .build()
    /// .unwrap();
    /// assert_eq!(ctx.spec()["target"], "web");
    /// ```
    pub fn for_test(resource: Value) -> ContextBuilder<S, I> {
        ContextBuilder::new().resource(resource)
    }

    /// The phase being run.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().phase("Promoting").build().unwrap();
    /// assert_eq!(ctx.phase(), "Promoting");
    /// ```
    pub fn phase(&self) -> &str {
        &self.phase
    }

    /// The resource's `metadata.name`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().name("web").build().unwrap();
    /// assert_eq!(ctx.name(), "web");
    /// ```
    pub fn name(&self) -> &str {
        self.resource["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
    }

    /// The resource's `metadata.namespace`, or `None` for a cluster-scoped resource.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().namespace("shop").build().unwrap();
    /// assert_eq!(ctx.namespace(), Some("shop"));
    /// ```
    pub fn namespace(&self) -> Option<&str> {
        self.resource["metadata"]["namespace"]
            .as_str()
            .filter(|ns| !ns.is_empty())
    }

    /// The resource's `metadata.uid`, when set.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().build().unwrap();
    /// assert!(ctx.uid().is_some());
    /// ```
    pub fn uid(&self) -> Option<&str> {
        self.resource["metadata"]["uid"]
            .as_str()
            .filter(|uid| !uid.is_empty())
    }

    /// The resource's `metadata.generation` when the request was built.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().generation(7).build().unwrap();
    /// assert_eq!(ctx.generation(), 7);
    /// ```
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// The resource's labels.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().label("team", "web").build().unwrap();
    /// assert_eq!(ctx.labels()["team"], "web");
    /// ```
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The resource's annotations.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder()
    ///     .annotation("example.com/pause", "true")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ctx.annotations().get("example.com/pause").map(String::as_str), Some("true"));
    /// ```
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The whole custom resource (apiVersion, kind, metadata, spec, status) as the scheduler
    /// sent it.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().build().unwrap();
    /// assert_eq!(ctx.resource()["metadata"]["name"], "test");
    /// ```
    pub fn resource(&self) -> &Value {
        &self.resource
    }

    /// The resource's spec, typed.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Deserialize, serde::Serialize)]
    /// struct Spec { replicas: u32 }
    /// let ctx: autopilot_sdk::Context<Spec> = autopilot_sdk::Context::builder()
    ///     .spec(Spec { replicas: 3 })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ctx.spec().replicas, 3);
    /// ```
    pub fn spec(&self) -> &S {
        &self.spec
    }

    /// The statusInfo the worker returned last time, typed; `None` before the first one.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Deserialize, serde::Serialize)]
    /// struct Info { weight: u32 }
    /// let ctx: autopilot_sdk::Context<serde_json::Value, Info> = autopilot_sdk::Context::builder()
    ///     .status_info(Info { weight: 20 })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ctx.status_info().map(|i| i.weight), Some(20));
    /// ```
    pub fn status_info(&self) -> Option<&I> {
        self.status_info.as_ref()
    }

    /// The resource's current `status.conditions`.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Condition, Context};
    /// let ctx: Context = Context::builder()
    ///     .condition(Condition::new("Healthy", true, "ChecksPassed", ""))
    ///     .build()
    ///     .unwrap();
    /// assert!(ctx.conditions()[0].is_true());
    /// ```
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// The current condition of this type, if the resource has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Condition, Context};
    /// let ctx: Context = Context::builder()
    ///     .condition(Condition::new("Healthy", false, "Failing", ""))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ctx.condition("Healthy").map(Condition::is_true), Some(false));
    /// assert!(ctx.condition("Ready").is_none());
    /// ```
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The objects of the input named `key` in `autopilot.yaml`, deserialized as `T` (for
    /// example `k8s_openapi::api::apps::v1::Deployment`).
    ///
    /// # Errors
    ///
    /// - [`WorkerError::MissingInput`] when the request has no input of that name.
    /// - [`WorkerError::InputUnavailable`] when the scheduler could not gather it; match on it
    ///   to proceed without the input.
    /// - [`WorkerError::Decode`] when an object does not match `T`, naming its index and path.
    ///
    /// # Examples
    ///
    /// ```
    /// use k8s_openapi::api::apps::v1::Deployment;
    /// use serde_json::json;
    ///
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder()
    ///     .phase("Initializing")
    ///     .objects_json("deployments", vec![json!({
    ///         "apiVersion": "apps/v1", "kind": "Deployment",
    ///         "metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {}, "template": {}},
    ///     })])
    ///     .build()
    ///     .unwrap();
    /// let deployments = ctx.objects::<Deployment>("deployments").unwrap();
    /// assert_eq!(deployments[0].spec.as_ref().and_then(|s| s.replicas), Some(2));
    /// assert!(ctx.objects::<Deployment>("services").is_err());
    /// ```
    pub fn objects<T: DeserializeOwned>(&self, key: &str) -> Result<Vec<T>, WorkerError> {
        self.objects_json(key)?
            .iter()
            .enumerate()
            .map(|(index, object)| {
                serde_path_to_error::deserialize(object)
                    .map_err(|err| WorkerError::decode(&format!("objects[{key:?}][{index}]"), err))
            })
            .collect()
    }

    /// The objects of the input named `key`, as JSON, ordered by namespace then name.
    ///
    /// # Errors
    ///
    /// As [`objects`](Self::objects), except that nothing is deserialized.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder()
    ///     .objects_json("configmaps", vec![serde_json::json!({"metadata": {"name": "a"}})])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ctx.objects_json("configmaps").unwrap()[0]["metadata"]["name"], "a");
    /// ```
    pub fn objects_json(&self, key: &str) -> Result<&[Value], WorkerError> {
        match self.objects.get(key) {
            Some(Input::Objects(items)) => Ok(items),
            Some(Input::Unavailable(message)) => Err(WorkerError::InputUnavailable {
                key: key.to_owned(),
                message: message.clone(),
            }),
            None => Err(self.missing(key)),
        }
    }

    /// The result of the query named `key` in `autopilot.yaml`. A query that failed is still
    /// returned (its [`error`](Metric::error) is set and [`Metric::value`] fails).
    ///
    /// # Errors
    ///
    /// [`WorkerError::MissingInput`] when the request has no query of that name.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, Metric, MetricValue};
    /// let ctx: Context = Context::builder().metric("success-rate", Metric::scalar(0.99)).build().unwrap();
    /// assert_eq!(ctx.metric("success-rate").unwrap().value().unwrap(), MetricValue::Value(0.99));
    /// assert!(ctx.metric("latency").is_err());
    /// ```
    pub fn metric(&self, key: &str) -> Result<&Metric, WorkerError> {
        self.metrics.get(key).ok_or_else(|| self.missing(key))
    }

    /// The result of the trace query named `key` in `autopilot.yaml`. A search that failed is
    /// still returned (its [`error`](Trace::error) is set and [`Trace::stats`] fails).
    ///
    /// # Errors
    ///
    /// [`WorkerError::MissingInput`] when the request has no trace query of that name.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, SpanStats, Trace};
    /// let spans = Trace::from_operations([SpanStats::new("web", "GET /").spans(10, 0)]);
    /// let ctx: Context = Context::builder().trace("canary-spans", spans).build().unwrap();
    /// assert_eq!(ctx.trace("canary-spans").unwrap().total.span_count, 10);
    /// assert!(ctx.trace("other").is_err());
    /// ```
    pub fn trace(&self, key: &str) -> Result<&Trace, WorkerError> {
        self.traces.get(key).ok_or_else(|| self.missing(key))
    }

    /// The pending events of the event source named `key` in `autopilot.yaml`, oldest first.
    ///
    /// # Errors
    ///
    /// - [`WorkerError::MissingInput`] when the phase does not list the source among its
    ///   inputs.
    /// - [`WorkerError::InputUnavailable`] when the scheduler could not read the stored events.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, ExternalEvent};
    /// let ctx: Context = Context::builder()
    ///     .events("approval", vec![ExternalEvent::new("r-1", "approval", "approval")])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ctx.events("approval").unwrap()[0].id, "r-1");
    /// assert!(ctx.events("pr-merged").is_err());
    /// ```
    pub fn events(&self, key: &str) -> Result<&[ExternalEvent], WorkerError> {
        match self.events.get(key) {
            Some(Ok(items)) => Ok(items),
            Some(Err(message)) => Err(WorkerError::InputUnavailable {
                key: key.to_owned(),
                message: message.clone(),
            }),
            None => Err(self.missing(key)),
        }
    }

    fn missing(&self, key: &str) -> WorkerError {
        WorkerError::MissingInput {
            phase: self.phase.clone(),
            key: key.to_owned(),
        }
    }

    /// 1 for the first call of this phase for this object, incremented on every retry or re-run
    /// until the phase changes.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().attempt(3).build().unwrap();
    /// assert_eq!(ctx.attempt(), 3);
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A hash of the spec and of every input: equal tags mean equal inputs.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().tag("abc").build().unwrap();
    /// assert_eq!(ctx.tag(), "abc");
    /// ```
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// When the scheduler stops waiting for this call, if it set a deadline. Handlers doing slow
    /// work should stop before it and return [`WorkerError::retryable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let deadline = SystemTime::now() + Duration::from_secs(30);
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().deadline(deadline).build().unwrap();
    /// let left = ctx.deadline().and_then(|d| d.duration_since(SystemTime::now()).ok());
    /// assert!(left.is_some());
    /// ```
    pub fn deadline(&self) -> Option<SystemTime> {
        self.deadline
    }

    /// The operator's name (`operatorName` in `autopilot.yaml`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().operator_name("canary").build().unwrap();
    /// assert_eq!(ctx.operator_name(), "canary");
    /// ```
    pub fn operator_name(&self) -> &str {
        &self.operator_name
    }

    /// The W3C `traceparent` the scheduler sent, to continue its trace.
    ///
    /// # Examples
    ///
    /// ```
    /// let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder().traceparent(tp).build().unwrap();
    /// assert_eq!(ctx.traceparent(), Some(tp));
    /// ```
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }
}

/// Builds a [`Context`]: in tests, to call a handler as a plain function; inside the SDK, from
/// each request.
///
/// Setters that take a serializable value serialize it immediately; a failure is kept and
/// returned by [`build`](Self::build), so calls chain without `?`.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{Context, Metric};
/// use serde_json::json;
///
/// #[derive(serde::Deserialize, serde::Serialize, Debug, Default)]
/// struct Spec { target: String }
///
/// let ctx: Context<Spec> = Context::builder()
///     .phase("Analyzing")
///     .namespace("shop")
///     .name("web-canary")
///     .spec(Spec { target: "web".into() })
///     .objects("deployments", [json!({"metadata": {"name": "web"}})])
///     .metric("success-rate", Metric::scalar(0.99))
///     .metric("latency-p99", Metric::no_data())
///     .attempt(2)
///     .build()
///     .unwrap();
/// assert_eq!(ctx.spec().target, "web");
/// ```
#[derive(Debug)]
pub struct ContextBuilder<S = Value, I = Value> {
    pub(crate) phase: String,
    pub(crate) resource: Value,
    pub(crate) objects: BTreeMap<String, Input>,
    pub(crate) metrics: BTreeMap<String, Metric>,
    pub(crate) traces: BTreeMap<String, Trace>,
    pub(crate) events: BTreeMap<String, Result<Vec<ExternalEvent>, String>>,
    pub(crate) attempt: u32,
    pub(crate) tag: String,
    pub(crate) deadline: Option<SystemTime>,
    pub(crate) generation: Option<i64>,
    pub(crate) operator_name: String,
    pub(crate) traceparent: Option<String>,
    error: Option<WorkerError>,
    // fn() -> (S, I): the builder neither owns an S nor an I, so it is Send and Sync regardless.
    types: PhantomData<fn() -> (S, I)>,
}

impl<S, I> Default for ContextBuilder<S, I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S, I> ContextBuilder<S, I> {
    fn new() -> Self {
        Self {
            phase: String::new(),
            resource: json!({
                "apiVersion": "autopilot.test/v1",
                "kind": "Test",
                "metadata": {
                    "name": "test",
                    "namespace": "default",
                    "uid": "00000000-0000-0000-0000-000000000000",
                    "generation": 1,
                },
                "spec": {},
            }),
            objects: BTreeMap::new(),
            metrics: BTreeMap::new(),
            traces: BTreeMap::new(),
            events: BTreeMap::new(),
            attempt: 1,
            tag: String::new(),
            deadline: None,
            generation: None,
            operator_name: String::new(),
            traceparent: None,
            error: None,
            types: PhantomData,
        }
    }

    /// Sets the phase being run.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().phase("Initializing");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn phase(mut self, phase: impl Into<String>) -> Self {
        self.phase = phase.into();
        self
    }

    /// Replaces the whole custom resource.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx: autopilot_sdk::Context = autopilot_sdk::Context::builder()
    ///     .resource(serde_json::json!({"metadata": {"name": "x"}, "spec": {}}))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ctx.name(), "x");
    /// assert_eq!(ctx.namespace(), None);
    /// ```
    #[must_use]
    pub fn resource(mut self, resource: Value) -> Self {
        self.resource = resource;
        self
    }

    /// Sets `metadata.name`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().name("web");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        *self.field(&["metadata", "name"]) = Value::String(name.into());
        self
    }

    /// Sets `metadata.namespace`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().namespace("shop");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        *self.field(&["metadata", "namespace"]) = Value::String(namespace.into());
        self
    }

    /// Adds a label to `metadata.labels`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().label("app", "web");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        *self.field(&["metadata", "labels"]).entry(key) = Value::String(value.into());
        self
    }

    /// Adds an annotation to `metadata.annotations`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().annotation("note", "hi");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        *self.field(&["metadata", "annotations"]).entry(key) = Value::String(value.into());
        self
    }

    /// Sets `metadata.generation` (and the request's generation).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().generation(2);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn generation(mut self, generation: i64) -> Self {
        *self.field(&["metadata", "generation"]) = Value::from(generation);
        self.generation = Some(generation);
        self
    }

    /// Sets the resource's `spec` from any serializable value (usually an `S`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .spec(serde_json::json!({"target": "web"}));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn spec(mut self, spec: impl Serialize) -> Self {
        if let Some(value) = self.serialize("spec", spec) {
            *self.field(&["spec"]) = value;
        }
        self
    }

    /// Sets the resource's `status.statusInfo` from any serializable value (usually an `I`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .status_info(serde_json::json!({"weight": 10}));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn status_info(mut self, status_info: impl Serialize) -> Self {
        if let Some(value) = self.serialize("statusInfo", status_info) {
            *self.field(&["status", "statusInfo"]) = value;
        }
        self
    }

    /// Appends a condition to the resource's `status.conditions`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .condition(autopilot_sdk::Condition::new("Healthy", true, "Ok", ""));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn condition(mut self, condition: Condition) -> Self {
        let value = json!({
            "type": condition.type_,
            "status": condition.status.as_str(),
            "reason": condition.reason,
            "message": condition.message,
        });
        let list = self.field(&["status", "conditions"]);
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Value::Array(items) = list {
            items.push(value);
        }
        self
    }

    /// Sets the objects input `key` from serializable objects (k8s-openapi types, or JSON).
    ///
    /// # Examples
    ///
    /// ```
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// let cm = ConfigMap { metadata: Default::default(), ..Default::default() };
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().objects("configmaps", [cm]);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn objects<T: Serialize>(
        mut self,
        key: impl Into<String>,
        objects: impl IntoIterator<Item = T>,
    ) -> Self {
        let key = key.into();
        let mut items = Vec::new();
        for (index, object) in objects.into_iter().enumerate() {
            match self.serialize(&format!("objects[{key:?}][{index}]"), object) {
                Some(value) => items.push(value),
                None => return self,
            }
        }
        self.objects.insert(key, Input::Objects(items));
        self
    }

    /// Sets the objects input `key` from JSON objects.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .objects_json("pods", vec![serde_json::json!({"metadata": {"name": "web-0"}})]);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn objects_json(mut self, key: impl Into<String>, objects: Vec<Value>) -> Self {
        self.objects.insert(key.into(), Input::Objects(objects));
        self
    }

    /// Marks the objects input `key` as one the scheduler could not gather.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, WorkerError};
    /// let ctx: Context = Context::builder()
    ///     .objects_unavailable("virtualservices", "the CRD is not installed")
    ///     .build()
    ///     .unwrap();
    /// assert!(matches!(
    ///     ctx.objects_json("virtualservices"),
    ///     Err(WorkerError::InputUnavailable { .. })
    /// ));
    /// ```
    #[must_use]
    pub fn objects_unavailable(mut self, key: impl Into<String>, error: impl Into<String>) -> Self {
        self.objects
            .insert(key.into(), Input::Unavailable(error.into()));
        self
    }

    /// Sets the result of the query `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .metric("error-rate", autopilot_sdk::Metric::nan());
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn metric(mut self, key: impl Into<String>, metric: Metric) -> Self {
        self.metrics.insert(key.into(), metric);
        self
    }

    /// Sets the pending events of the event source `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().events(
    ///     "pr-merged",
    ///     vec![autopilot_sdk::ExternalEvent::new("d-1", "https://github.com/o/r", "pull_request.closed")],
    /// );
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn events(mut self, key: impl Into<String>, events: Vec<ExternalEvent>) -> Self {
        self.events.insert(key.into(), Ok(events));
        self
    }

    /// Marks the events of source `key` as ones the scheduler could not read.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Context, WorkerError};
    /// let ctx: Context = Context::builder().events_unavailable("approval", "API server down").build().unwrap();
    /// assert!(matches!(ctx.events("approval"), Err(WorkerError::InputUnavailable { .. })));
    /// ```
    #[must_use]
    pub fn events_unavailable(mut self, key: impl Into<String>, error: impl Into<String>) -> Self {
        self.events.insert(key.into(), Err(error.into()));
        self
    }

    /// Sets the result of the trace query `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .trace("canary-spans", autopilot_sdk::Trace::no_data());
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn trace(mut self, key: impl Into<String>, trace: Trace) -> Self {
        self.traces.insert(key.into(), trace);
        self
    }

    /// Sets the attempt number (1 for the first call).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().attempt(4);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Sets the inputs tag.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().tag("3f2a");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    /// Sets the call's deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .deadline(std::time::SystemTime::now());
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn deadline(mut self, deadline: SystemTime) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the operator's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder().operator_name("canary");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn operator_name(mut self, operator_name: impl Into<String>) -> Self {
        self.operator_name = operator_name.into();
        self
    }

    /// Sets the incoming W3C `traceparent`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = autopilot_sdk::Context::<serde_json::Value>::builder()
    ///     .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// Serializes `value`, keeping the first failure for `build`.
    fn serialize(&mut self, what: &str, value: impl Serialize) -> Option<Value> {
        match serde_json::to_value(value) {
            Ok(value) => Some(value),
            Err(source) => {
                self.error.get_or_insert(WorkerError::Decode {
                    location: what.to_owned(),
                    source,
                });
                None
            }
        }
    }

    /// The JSON object at `path` in the resource, creating objects on the way.
    fn field(&mut self, path: &[&str]) -> &mut Value {
        let mut node = &mut self.resource;
        for key in path {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            node = node
                .as_object_mut()
                .expect("just made an object")
                .entry(*key)
                .or_insert(Value::Null);
        }
        node
    }
}

/// `Map::entry` on a node that `field` returned, turning it into an object first.
trait EntryExt {
    fn entry(&mut self, key: impl Into<String>) -> &mut Value;
}

impl EntryExt for Value {
    fn entry(&mut self, key: impl Into<String>) -> &mut Value {
        if !self.is_object() {
            *self = Value::Object(Map::new());
        }
        self.as_object_mut()
            .expect("just made an object")
            .entry(key.into())
            .or_insert(Value::Null)
    }
}

impl<S: DeserializeOwned, I: DeserializeOwned> ContextBuilder<S, I> {
    /// Builds the context: parses the spec as `S` and the statusInfo as `I`.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Decode`] when the spec or statusInfo does not match its type (naming the
    /// path inside it) or a setter's value failed to serialize. A resource without a spec reads
    /// as an empty object, so an `S` whose fields all have defaults still parses.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Deserialize, Debug)]
    /// struct Spec { replicas: u32 }
    /// let err = autopilot_sdk::Context::<Spec>::builder()
    ///     .spec(serde_json::json!({"replicas": "three"}))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("spec.replicas: invalid type"));
    /// ```
    pub fn build(self) -> Result<Context<S, I>, WorkerError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let resource = self.resource;
        let empty = Value::Object(Map::new());
        let spec_json = match &resource["spec"] {
            Value::Null => &empty,
            spec => spec,
        };
        let spec = serde_path_to_error::deserialize(spec_json)
            .map_err(|err| WorkerError::decode("spec", err))?;
        let status_info = match &resource["status"]["statusInfo"] {
            Value::Null => None,
            info => Some(
                serde_path_to_error::deserialize(info)
                    .map_err(|err| WorkerError::decode("status.statusInfo", err))?,
            ),
        };
        let strings = |field: &str| -> BTreeMap<String, String> {
            resource["metadata"][field]
                .as_object()
                .map(|map| {
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let labels = strings("labels");
        let annotations = strings("annotations");
        let conditions = Condition::list_from_resource(&resource);
        let generation = self
            .generation
            .or_else(|| resource["metadata"]["generation"].as_i64())
            .unwrap_or_default();
        Ok(Context {
            phase: self.phase,
            spec,
            status_info,
            conditions,
            labels,
            annotations,
            objects: self.objects,
            metrics: self.metrics,
            traces: self.traces,
            events: self.events,
            attempt: self.attempt,
            tag: self.tag,
            deadline: self.deadline,
            generation,
            operator_name: self.operator_name,
            traceparent: self.traceparent,
            resource,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    struct Spec {
        target: String,
        #[serde(default)]
        steps: Vec<u32>,
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Info {
        weight: u32,
    }

    #[test]
    fn reads_metadata_spec_and_status() {
        let ctx: Context<Spec, Info> = Context::for_test(json!({
            "apiVersion": "example.com/v1",
            "kind": "Canary",
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "u-1", "generation": 4,
                "labels": {"app": "web"}, "annotations": {"a": "b", "n": 1},
            },
            "spec": {"target": "web", "steps": [10, 50]},
            "status": {
                "phase": "Processing",
                "statusInfo": {"weight": 10},
                "conditions": [{"type": "Ready", "status": "False", "reason": "Waiting"}],
            },
        }))
        .phase("Processing")
        .build()
        .unwrap();
        assert_eq!(ctx.name(), "web");
        assert_eq!(ctx.namespace(), Some("shop"));
        assert_eq!(ctx.uid(), Some("u-1"));
        assert_eq!(ctx.generation(), 4);
        assert_eq!(ctx.labels()["app"], "web");
        // Non-string annotation values cannot come from the API server; they are skipped.
        assert_eq!(ctx.annotations().len(), 1);
        assert_eq!(
            ctx.spec(),
            &Spec {
                target: "web".into(),
                steps: vec![10, 50]
            }
        );
        assert_eq!(ctx.status_info(), Some(&Info { weight: 10 }));
        assert_eq!(
            ctx.condition("Ready").map(|c| c.reason.as_str()),
            Some("Waiting")
        );
        assert_eq!(ctx.attempt(), 1);
    }

    #[test]
    fn missing_spec_reads_as_empty_object() {
        #[derive(Debug, Deserialize, Default)]
        struct Optional {
            #[serde(default)]
            replicas: Option<u32>,
        }
        let ctx: Context<Optional> = Context::for_test(json!({"metadata": {"name": "x"}}))
            .build()
            .unwrap();
        assert_eq!(ctx.spec().replicas, None);
        assert!(ctx.status_info().is_none());
    }

    #[test]
    fn bad_spec_and_status_info_name_their_path() {
        let err = Context::<Spec, Info>::builder()
            .spec(json!({"target": 5}))
            .build()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("spec.target: invalid type"),
            "{err}"
        );
        assert_eq!(err.code(), tonic::Code::InvalidArgument);

        let err = Context::<Spec, Info>::builder()
            .spec(Spec::default())
            .status_info(json!({"weight": -1}))
            .build()
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("status.statusInfo.weight: invalid value"),
            "{err}"
        );
    }

    #[test]
    fn objects_are_typed_on_demand() {
        #[derive(Debug, Deserialize)]
        struct Named {
            metadata: Meta,
        }
        #[derive(Debug, Deserialize)]
        struct Meta {
            name: String,
        }
        let ctx: Context = Context::builder()
            .phase("P")
            .objects_json(
                "pods",
                vec![json!({"metadata": {"name": "a"}}), json!({"metadata": {}})],
            )
            .objects_unavailable("routes", "no CRD")
            .build()
            .unwrap();
        assert_eq!(ctx.objects_json("pods").unwrap().len(), 2);
        let err = ctx.objects::<Named>("pods").unwrap_err();
        assert_eq!(
            err.to_string(),
            "objects[\"pods\"][1].metadata: missing field `name`"
        );
        assert!(matches!(
            ctx.objects::<Named>("routes"),
            Err(WorkerError::InputUnavailable { ref key, .. }) if key == "routes"
        ));
        let err = ctx.objects::<Named>("nodes").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the request has no input named \"nodes\"; is it declared for phase \"P\"?"
        );
        let named: Vec<Named> = Context::<Value>::builder()
            .objects_json("pods", vec![json!({"metadata": {"name": "a"}})])
            .build()
            .unwrap()
            .objects("pods")
            .unwrap();
        assert_eq!(named[0].metadata.name, "a");
    }

    #[test]
    fn builder_setters_shape_the_resource() {
        let ctx: Context = Context::builder()
            .name("web")
            .namespace("shop")
            .label("app", "web")
            .annotation("note", "x")
            .generation(9)
            .status_info(json!({"weight": 5}))
            .condition(Condition::new("Healthy", true, "Ok", "fine"))
            .build()
            .unwrap();
        assert_eq!(ctx.resource()["metadata"]["labels"]["app"], "web");
        assert_eq!(ctx.resource()["metadata"]["generation"], 9);
        assert_eq!(ctx.resource()["status"]["statusInfo"]["weight"], 5);
        assert_eq!(ctx.resource()["status"]["conditions"][0]["status"], "True");
        assert_eq!(ctx.generation(), 9);
        assert_eq!(ctx.conditions().len(), 1);
    }

    #[test]
    fn a_serialization_failure_is_reported_by_build() {
        struct Unserializable;
        impl Serialize for Unserializable {
            fn serialize<Se: serde::Serializer>(&self, _: Se) -> Result<Se::Ok, Se::Error> {
                Err(serde::ser::Error::custom("nope"))
            }
        }
        let err = Context::<Value>::builder()
            .objects("things", [Unserializable])
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "objects[\"things\"][0]: nope");
    }
}
