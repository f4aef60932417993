//! [`Trace`]: the typed result of one trace query (a Jaeger search) the scheduler ran for a
//! phase: span statistics per operation and a few sample traces.

use crate::WorkerError;

/// What the scheduler found for one trace query declared under `traces:` in `autopilot.yaml`.
///
/// Read one with [`Context::trace`](crate::Context::trace). [`stats`](Self::stats) gives the
/// statistics of every matching span and tells *no spans* and a *failed search* apart from a
/// result; [`operations`](Self::operations) breaks them down per operation (span name) and
/// [`worst_operation`](Self::worst_operation) names the one failing most.
///
/// In tests, build one with [`Trace::from_operations`], [`Trace::no_data`] or
/// [`Trace::failed`].
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{SpanStats, Trace};
///
/// # fn main() -> Result<(), autopilot_sdk::WorkerError> {
/// let trace = Trace::from_operations([
///     SpanStats::new("web-canary", "GET /checkout").spans(100, 0).latency(12.0, 20.0, 31.0),
///     SpanStats::new("web-canary", "charge-payment").spans(100, 25).latency(5.0, 8.0, 9.0),
/// ]);
/// match trace.stats()? {
///     None => println!("no spans yet: wait"),
///     Some(total) if total.error_ratio > 0.05 => {
///         let worst = trace.worst_operation().unwrap();
///         println!("{} fails {:.0}% of the time", worst.operation, worst.error_ratio * 100.0);
///     }
///     Some(_) => println!("healthy"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Trace {
    /// The search as the scheduler ran it (service, operation, tags, window, limit).
    pub query: String,
    /// True when the search succeeded but no span matched. Not the same as zero errors.
    pub no_data: bool,
    /// Why the search could not be run (Jaeger unreachable, timed out); the rest is then empty.
    pub error: Option<String>,
    /// Statistics over every matching span.
    pub total: SpanStats,
    /// Statistics per operation of the matching spans, by operation name.
    pub operations: Vec<SpanStats>,
    /// Sample traces holding matching spans: those with failed spans first, then the slowest.
    pub samples: Vec<TraceSample>,
}

/// Span count, errors and latency percentiles of a set of spans.
///
/// # Examples
///
/// ```
/// let s = autopilot_sdk::SpanStats::new("web", "GET /").spans(10, 1).latency(5.0, 9.0, 12.0);
/// assert_eq!(s.error_ratio, 0.1);
/// assert_eq!(s.p99_ms, 12.0);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct SpanStats {
    /// The service the spans belong to.
    pub service: String,
    /// The operation (span name); empty in the total.
    pub operation: String,
    /// Spans counted.
    pub span_count: u64,
    /// Of those, spans whose status is Error.
    pub error_count: u64,
    /// `error_count / span_count`, 0 without spans.
    pub error_ratio: f64,
    /// Median duration in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile duration in milliseconds.
    pub p90_ms: f64,
    /// 99th percentile duration in milliseconds.
    pub p99_ms: f64,
}

/// A summary of one trace that holds matching spans.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct TraceSample {
    /// Hex trace id, to look the trace up in Jaeger.
    pub trace_id: String,
    /// Service of the trace's root span.
    pub root_service: String,
    /// Operation of the trace's root span.
    pub root_operation: String,
    /// From the first span's start to the last span's end, milliseconds.
    pub duration_ms: f64,
    /// Start of the trace, milliseconds since the Unix epoch.
    pub start_unix_ms: i64,
    /// The trace's failed spans, of any service, earliest first.
    pub error_spans: Vec<ErrorSpan>,
}

/// A failed span within a [`TraceSample`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ErrorSpan {
    /// Its service.
    pub service: String,
    /// Its operation.
    pub operation: String,
    /// Its status message, possibly empty.
    pub status_message: String,
}

impl SpanStats {
    /// Statistics of no spans yet, for `service` and `operation`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = autopilot_sdk::SpanStats::new("web", "GET /");
    /// assert_eq!(s.span_count, 0);
    /// ```
    pub fn new(service: impl Into<String>, operation: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            operation: operation.into(),
            ..Self::default()
        }
    }

    /// Sets the span and error counts (and the ratio from them).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::SpanStats::default().spans(4, 1).error_ratio, 0.25);
    /// ```
    #[must_use]
    pub fn spans(mut self, span_count: u64, error_count: u64) -> Self {
        self.span_count = span_count;
        self.error_count = error_count;
        self.error_ratio = if span_count == 0 {
            0.0
        } else {
            error_count as f64 / span_count as f64
        };
        self
    }

    /// Sets the latency percentiles, in milliseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::SpanStats::default().latency(1.0, 2.0, 3.0).p90_ms, 2.0);
    /// ```
    #[must_use]
    pub fn latency(mut self, p50_ms: f64, p90_ms: f64, p99_ms: f64) -> Self {
        self.p50_ms = p50_ms;
        self.p90_ms = p90_ms;
        self.p99_ms = p99_ms;
        self
    }
}

impl TraceSample {
    /// A sample of trace `trace_id` whose root span is `root_operation` of `root_service`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = autopilot_sdk::TraceSample::new("ab12", "web", "GET /").error_span("pay", "charge", "declined");
    /// assert_eq!(s.error_spans[0].operation, "charge");
    /// ```
    pub fn new(
        trace_id: impl Into<String>,
        root_service: impl Into<String>,
        root_operation: impl Into<String>,
    ) -> Self {
        Self {
            trace_id: trace_id.into(),
            root_service: root_service.into(),
            root_operation: root_operation.into(),
            ..Self::default()
        }
    }

    /// Adds a failed span.
    #[must_use]
    pub fn error_span(
        mut self,
        service: impl Into<String>,
        operation: impl Into<String>,
        status_message: impl Into<String>,
    ) -> Self {
        self.error_spans.push(ErrorSpan {
            service: service.into(),
            operation: operation.into(),
            status_message: status_message.into(),
        });
        self
    }
}

impl Trace {
    /// A result with these operations; the total adds their counts up (its percentiles are
    /// the operations' highest, an upper bound).
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{SpanStats, Trace};
    /// let t = Trace::from_operations([SpanStats::new("web", "a").spans(3, 1), SpanStats::new("web", "b").spans(1, 0)]);
    /// assert_eq!(t.total.span_count, 4);
    /// assert_eq!(t.total.error_ratio, 0.25);
    /// ```
    pub fn from_operations(operations: impl IntoIterator<Item = SpanStats>) -> Self {
        let mut operations: Vec<SpanStats> = operations.into_iter().collect();
        operations.sort_by(|a, b| a.operation.cmp(&b.operation));
        let max = |f: fn(&SpanStats) -> f64| operations.iter().map(f).fold(0.0, f64::max);
        let total = SpanStats::new("", "")
            .spans(
                operations.iter().map(|o| o.span_count).sum(),
                operations.iter().map(|o| o.error_count).sum(),
            )
            .latency(max(|o| o.p50_ms), max(|o| o.p90_ms), max(|o| o.p99_ms));
        Self {
            no_data: total.span_count == 0,
            total,
            operations,
            ..Self::default()
        }
    }

    /// A search that succeeded but found no matching span.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::Trace::no_data().stats().unwrap(), None);
    /// ```
    pub fn no_data() -> Self {
        Self {
            no_data: true,
            ..Self::default()
        }
    }

    /// A search that could not be run.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = autopilot_sdk::Trace::failed("Jaeger unreachable");
    /// assert!(t.stats().unwrap_err().is_retryable());
    /// ```
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::default()
        }
    }

    /// Adds sample traces.
    #[must_use]
    pub fn with_samples(mut self, samples: impl IntoIterator<Item = TraceSample>) -> Self {
        self.samples.extend(samples);
        self
    }

    /// Sets the query text.
    #[must_use]
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// The statistics of every matching span; `None` when no span matched.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Retryable`] when the search failed ([`error`](Self::error) is set).
    pub fn stats(&self) -> Result<Option<&SpanStats>, WorkerError> {
        if let Some(error) = &self.error {
            return Err(WorkerError::retryable(format!(
                "trace query {:?} failed: {error}",
                self.query
            )));
        }
        Ok((!self.no_data && self.total.span_count > 0).then_some(&self.total))
    }

    /// The statistics of operation `name`, when it had matching spans.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{SpanStats, Trace};
    /// let t = Trace::from_operations([SpanStats::new("web", "GET /").spans(1, 0)]);
    /// assert!(t.operation("GET /").is_some());
    /// assert!(t.operation("POST /").is_none());
    /// ```
    pub fn operation(&self, name: &str) -> Option<&SpanStats> {
        self.operations.iter().find(|o| o.operation == name)
    }

    /// The operation with the highest error ratio (ties: the most errors, then by name), when
    /// any of its spans failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{SpanStats, Trace};
    /// let t = Trace::from_operations([SpanStats::new("web", "a").spans(10, 1), SpanStats::new("web", "b").spans(4, 2)]);
    /// assert_eq!(t.worst_operation().unwrap().operation, "b");
    /// assert!(Trace::from_operations([SpanStats::new("web", "a").spans(10, 0)]).worst_operation().is_none());
    /// ```
    pub fn worst_operation(&self) -> Option<&SpanStats> {
        self.operations
            .iter()
            .filter(|o| o.error_count > 0)
            .max_by(|a, b| {
                a.error_ratio
                    .total_cmp(&b.error_ratio)
                    .then(a.error_count.cmp(&b.error_count))
                    .then(b.operation.cmp(&a.operation))
            })
    }

    /// The operation with the highest p99 latency, when there is any.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{SpanStats, Trace};
    /// let t = Trace::from_operations([SpanStats::new("w", "a").latency(1.0, 2.0, 3.0), SpanStats::new("w", "b").latency(1.0, 2.0, 9.0)]);
    /// assert_eq!(t.slowest_operation().unwrap().operation, "b");
    /// ```
    pub fn slowest_operation(&self) -> Option<&SpanStats> {
        self.operations.iter().max_by(|a, b| {
            a.p99_ms
                .total_cmp(&b.p99_ms)
                .then(b.operation.cmp(&a.operation))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_tell_no_data_and_failure_apart() {
        assert_eq!(Trace::no_data().stats().unwrap(), None);
        assert_eq!(Trace::from_operations([]).stats().unwrap(), None);
        let err = Trace::failed("down")
            .with_query("service=web")
            .stats()
            .unwrap_err();
        assert!(err.is_retryable());
        assert!(
            err.to_string().contains("\"service=web\" failed: down"),
            "{err}"
        );
        let t = Trace::from_operations([SpanStats::new("web", "a").spans(2, 1)]);
        assert_eq!(t.stats().unwrap().unwrap().error_ratio, 0.5);
    }
}
