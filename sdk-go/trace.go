package autopilot

import (
	"fmt"
	"sort"
)

// Trace is the typed result of one trace query (a Jaeger search) the phase reads: statistics of
// the matching spans, per operation, and a few sample traces.
type Trace struct {
	// Query is the search as the scheduler ran it (service, operation, tags, window, limit).
	Query string
	// NoData is true when the search succeeded but no span matched: not the same as no errors.
	NoData bool
	// Error is set when the search could not be run (Jaeger unreachable, timed out).
	Error string
	// Total holds the statistics over every matching span.
	Total SpanStats
	// Operations holds the statistics per operation (span name), by name.
	Operations []SpanStats
	// Samples are traces holding matching spans: those with failed spans first, then the slowest.
	Samples []TraceSample
}

// SpanStats are the span count, errors and latency percentiles (milliseconds) of a set of spans.
type SpanStats struct {
	Service string
	// Operation is the span name; empty in a total over several operations.
	Operation  string
	SpanCount  uint64
	ErrorCount uint64
	// ErrorRatio is ErrorCount / SpanCount, 0 without spans.
	ErrorRatio float64
	P50Ms      float64
	P90Ms      float64
	P99Ms      float64
}

// TraceSample summarises one trace holding matching spans.
type TraceSample struct {
	TraceID       string
	RootService   string
	RootOperation string
	DurationMs    float64
	StartUnixMs   int64
	// ErrorSpans are the trace's failed spans, of any service, earliest first.
	ErrorSpans []ErrorSpan
}

// ErrorSpan is a failed span of a sample trace.
type ErrorSpan struct {
	Service       string
	Operation     string
	StatusMessage string
}

// NewSpanStats returns statistics with the error ratio computed from the counts (for tests).
func NewSpanStats(service, operation string, spans, errors uint64, p50, p90, p99 float64) SpanStats {
	ratio := 0.0
	if spans > 0 {
		ratio = float64(errors) / float64(spans)
	}
	return SpanStats{service, operation, spans, errors, ratio, p50, p90, p99}
}

// TraceFromOperations returns a result with these operations; the total adds their counts up and
// takes their highest percentiles, an upper bound (for tests).
func TraceFromOperations(ops ...SpanStats) Trace {
	sorted := append([]SpanStats(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Operation < sorted[j].Operation })
	var spans, errors uint64
	var p50, p90, p99 float64
	for _, o := range sorted {
		spans += o.SpanCount
		errors += o.ErrorCount
		p50, p90, p99 = max(p50, o.P50Ms), max(p90, o.P90Ms), max(p99, o.P99Ms)
	}
	return Trace{
		NoData:     spans == 0,
		Total:      NewSpanStats("", "", spans, errors, p50, p90, p99),
		Operations: sorted,
	}
}

// Stats returns the statistics of every matching span, or nil when no span matched. It fails
// (retryably) when the search could not be run.
func (t *Trace) Stats() (*SpanStats, error) {
	if t.Error != "" {
		return nil, Retryable("trace query %q failed: %s", t.Query, t.Error)
	}
	if t.NoData || t.Total.SpanCount == 0 {
		return nil, nil
	}
	return &t.Total, nil
}

// Operation returns the statistics of operation name, or nil when it had no matching span.
func (t *Trace) Operation(name string) *SpanStats {
	for i := range t.Operations {
		if t.Operations[i].Operation == name {
			return &t.Operations[i]
		}
	}
	return nil
}

// WorstOperation returns the operation with the highest error ratio (ties: most errors, then by
// name), or nil when no span failed.
func (t *Trace) WorstOperation() *SpanStats {
	var worst *SpanStats
	for i := range t.Operations {
		o := &t.Operations[i]
		if o.ErrorCount == 0 {
			continue
		}
		if worst == nil || o.ErrorRatio > worst.ErrorRatio ||
			(o.ErrorRatio == worst.ErrorRatio && o.ErrorCount > worst.ErrorCount) {
			worst = o
		}
	}
	return worst
}

// String describes the result in one line, for logs.
func (t Trace) String() string {
	switch {
	case t.Error != "":
		return fmt.Sprintf("%s: error: %s", t.Query, t.Error)
	case t.NoData:
		return fmt.Sprintf("%s: no data", t.Query)
	default:
		return fmt.Sprintf("%s: %d spans, %d failed, p99 %.0f ms", t.Query, t.Total.SpanCount, t.Total.ErrorCount, t.Total.P99Ms)
	}
}
