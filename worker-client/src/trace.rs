//! The result of one trace query as a worker receives it: span statistics per operation and
//! sample traces. The scheduler fills it from Jaeger; `ap call` reads it from a file.
use serde::{Deserialize, Serialize};

/// Error spans listed per sample trace: enough to name the culprit, bounded for the message size.
pub const MAX_ERROR_SPANS_PER_SAMPLE: usize = 10;

/// Latency and error statistics of a set of spans.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SpanStats {
    /// The service the spans belong to; empty in the total.
    pub service: String,
    /// The operation; empty in the total.
    pub operation: String,
    /// Spans counted.
    pub span_count: u64,
    /// Of those, spans with status Error (or tag `error=true`).
    pub error_count: u64,
    /// `error_count / span_count`; 0 without spans.
    pub error_ratio: f64,
    /// Median duration, milliseconds (nearest rank).
    pub p50_ms: f64,
    /// 90th percentile duration, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile duration, milliseconds.
    pub p99_ms: f64,
}

/// A span that failed, within a sample trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorSpan {
    /// Its service.
    pub service: String,
    /// Its operation.
    pub operation: String,
    /// The status message (or `exception.message`), possibly empty.
    pub status_message: String,
}

/// A summary of one trace that holds matching spans.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceSample {
    /// Hex trace id.
    pub trace_id: String,
    /// Service of the root span (the span without a parent, else the earliest).
    pub root_service: String,
    /// Operation of the root span.
    pub root_operation: String,
    /// From the first span's start to the last span's end, milliseconds.
    pub duration_ms: f64,
    /// Start of the first span, milliseconds since the Unix epoch.
    pub start_unix_ms: i64,
    /// Failed spans of the trace, any service, earliest first (at most
    /// [`MAX_ERROR_SPANS_PER_SAMPLE`]).
    pub error_spans: Vec<ErrorSpan>,
}

/// The result of one trace query, as sent to a worker. Its JSON form (camelCase, every field
/// optional) is what `ap call --inputs` reads for a trace query.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceInput {
    /// The search, rendered (see [`autopilot_model::TraceSearch`]'s `Display`).
    pub query: String,
    /// The search succeeded but no span matched. Not the same as zero errors.
    pub no_data: bool,
    /// Why the search failed; everything else is then empty.
    pub error: Option<String>,
    /// Statistics over every matching span.
    pub total: SpanStats,
    /// Statistics per operation of the matching spans, by operation name.
    pub operations: Vec<SpanStats>,
    /// Traces holding matching spans: those with failed spans first, then the slowest.
    pub samples: Vec<TraceSample>,
}

impl TraceInput {
    /// Fills what a hand-written result leaves out: the total from the operations (counts
    /// added, percentiles the highest, an upper bound), error ratios from the counts, and
    /// `no_data` when there are no spans at all.
    pub fn completed(mut self) -> Self {
        for o in &mut self.operations {
            if o.error_ratio == 0.0 && o.span_count > 0 {
                o.error_ratio = o.error_count as f64 / o.span_count as f64;
            }
        }
        if self.total.span_count == 0 && !self.operations.is_empty() {
            let max = |f: fn(&SpanStats) -> f64| self.operations.iter().map(f).fold(0.0, f64::max);
            let spans: u64 = self.operations.iter().map(|o| o.span_count).sum();
            let errors: u64 = self.operations.iter().map(|o| o.error_count).sum();
            self.total = SpanStats {
                service: String::new(),
                operation: String::new(),
                span_count: spans,
                error_count: errors,
                error_ratio: if spans == 0 {
                    0.0
                } else {
                    errors as f64 / spans as f64
                },
                p50_ms: max(|o| o.p50_ms),
                p90_ms: max(|o| o.p90_ms),
                p99_ms: max(|o| o.p99_ms),
            };
        }
        if self.error.is_none() && self.total.span_count == 0 {
            self.no_data = true;
        }
        self
    }

    /// A result for a search that could not be run.
    pub fn failed(query: impl Into<String>, error: impl Into<String>) -> Self {
        TraceInput {
            query: query.into(),
            error: Some(error.into()),
            ..Default::default()
        }
    }
}
