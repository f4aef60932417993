package autopilot

import (
	"fmt"
	"math"
)

// MetricKind is the result type Prometheus returned.
type MetricKind int

const (
	// KindUnspecified: the scheduler did not say (for example the query failed).
	KindUnspecified MetricKind = iota
	// KindScalar: one series without labels and with one sample.
	KindScalar
	// KindVector: one sample per series.
	KindVector
	// KindMatrix: a range of samples per series.
	KindMatrix
)

// Metric is the typed result of one PromQL query the phase reads.
type Metric struct {
	// Query is the PromQL exactly as sent to Prometheus, after parameters were filled in.
	Query string
	// Kind is the result type.
	Kind MetricKind
	// Series are the series; empty when the query failed or returned nothing.
	Series []Series
	// NoData is true when the query succeeded but returned no samples at all: not the same as 0.
	NoData bool
	// Error is set when the query could not be run (Prometheus unreachable, bad PromQL).
	Error string
}

// Series is one time series.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// Sample is one value at one time; Value may be NaN or ±Inf.
type Sample struct {
	TimestampMs int64
	Value       float64
}

// MetricValue is the single value of a query: a number, "no data", or NaN, kept apart so that a
// missing series is never read as 0.
type MetricValue struct {
	// Value is the number when neither NoData nor NaN is set.
	Value float64
	// NoData is true when the query returned no samples.
	NoData bool
	// NaN is true when the value is NaN (for example a ratio of two zero rates).
	NaN bool
}

// Float is the value and true when it is a number (not "no data", not NaN).
func (v MetricValue) Float() (float64, bool) {
	if v.NoData || v.NaN {
		return 0, false
	}
	return v.Value, true
}

// String is the value, "no-data" or "NaN".
func (v MetricValue) String() string {
	switch {
	case v.NoData:
		return "no-data"
	case v.NaN:
		return "NaN"
	default:
		return fmt.Sprint(v.Value)
	}
}

// ScalarMetric is a result of one value, as from `vector(1)` or `scalar(...)`.
func ScalarMetric(value float64) Metric {
	return Metric{Kind: KindScalar, Series: []Series{{Samples: []Sample{{Value: value}}}}}
}

// NaNMetric is a result whose only value is NaN.
func NaNMetric() Metric { return ScalarMetric(math.NaN()) }

// NoDataMetric is a successful query that returned nothing.
func NoDataMetric() Metric { return Metric{Kind: KindVector, NoData: true} }

// VectorMetric is an instant vector of these series.
func VectorMetric(series ...Series) Metric {
	return Metric{Kind: KindVector, Series: series, NoData: len(series) == 0}
}

// MatrixMetric is a range vector of these series.
func MatrixMetric(series ...Series) Metric {
	return Metric{Kind: KindMatrix, Series: series, NoData: len(series) == 0}
}

// FailedMetric is a query that could not be run.
func FailedMetric(message string) Metric { return Metric{Error: message} }

// WithQuery sets the resolved PromQL.
func (m Metric) WithQuery(query string) Metric {
	m.Query = query
	return m
}

// Value is the single value of this result: the latest sample of its only series.
//
// It fails with a retryable error when the query failed, and with an invalid-request error when
// the result has more than one series (aggregate in PromQL, or read Series). The scheduler
// retries a retryable error with backoff, without limit unless autopilot-operator.yaml sets
// retry.maxAttempts: a phase that guards a canary or an injected fault should handle a failed
// query (for example roll back once ctx.Attempt() is high) rather than return the error.
func (m *Metric) Value() (MetricValue, error) {
	if m.Error != "" {
		return MetricValue{}, Retryable("metric query %q failed: %s", m.Query, m.Error)
	}
	if m.NoData {
		return MetricValue{NoData: true}, nil
	}
	switch len(m.Series) {
	case 0:
		return MetricValue{NoData: true}, nil
	case 1:
	default:
		return MetricValue{}, Invalid("metric query %q returned %d series where one value was expected; aggregate it (for example with sum) or read Metric.Series", m.Query, len(m.Series))
	}
	samples := m.Series[0].Samples
	if len(samples) == 0 {
		return MetricValue{NoData: true}, nil
	}
	last := samples[len(samples)-1].Value
	if math.IsNaN(last) {
		return MetricValue{NaN: true}, nil
	}
	return MetricValue{Value: last}, nil
}
