//! [`Metric`]: the typed result of one Prometheus query the scheduler ran for a phase.

use std::collections::BTreeMap;

use crate::WorkerError;

/// The result of one PromQL query, as the scheduler ran it for this call.
///
/// Read one with [`Context::metric`](crate::Context::metric). Most handlers only need
/// [`value`](Self::value), which tells *no data* and *NaN* apart from a number and fails when
/// the query itself failed; [`series`](Self::series) holds everything Prometheus returned.
///
/// In tests, build one with [`Metric::scalar`], [`Metric::nan`], [`Metric::no_data`],
/// [`Metric::vector`], [`Metric::matrix`] or [`Metric::failed`].
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{Metric, MetricValue};
///
/// # fn main() -> Result<(), autopilot_sdk::WorkerError> {
/// match Metric::scalar(0.995).value()? {
///     MetricValue::Value(rate) if rate >= 0.99 => println!("healthy"),
///     MetricValue::Value(_) => println!("unhealthy"),
///     MetricValue::NoData | MetricValue::NaN => println!("no traffic yet: wait"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Metric {
    /// The PromQL exactly as sent to Prometheus, after parameters were filled in.
    pub query: String,
    /// The result type Prometheus returned; `None` when it said none (a failed query).
    pub kind: Option<MetricKind>,
    /// The series, each with its samples oldest first. A scalar is one series without labels and
    /// with one sample.
    pub series: Vec<Series>,
    /// True when the query succeeded but returned no samples at all. Not the same as zero.
    pub no_data: bool,
    /// Why the query could not be run (Prometheus unreachable, bad PromQL); `series` is then empty.
    pub error: Option<String>,
}

/// The type of a Prometheus query result.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::{Metric, MetricKind};
/// assert_eq!(Metric::scalar(1.0).kind, Some(MetricKind::Scalar));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A single number.
    Scalar,
    /// One sample per series (an instant query).
    Vector,
    /// A range of samples per series (a range query).
    Matrix,
}

/// One time series of a [`Metric`].
///
/// # Examples
///
/// ```
/// use autopilot_sdk::Series;
/// let s = Series::new([("pod", "web-1")]).sample(1_700_000_000_000, 0.5);
/// assert_eq!(s.labels["pod"], "web-1");
/// assert_eq!(s.samples[0].value, 0.5);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Series {
    /// The series' labels (empty for a scalar).
    pub labels: BTreeMap<String, String>,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
}

/// One sample of a [`Series`].
///
/// # Examples
///
/// ```
/// let s = autopilot_sdk::Sample { timestamp_ms: 0, value: f64::NAN };
/// assert!(s.value.is_nan());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value; NaN and ±Inf are kept as IEEE 754 values.
    pub value: f64,
}

/// The single value of a [`Metric`], with the two cases a comparison would get wrong made
/// explicit.
///
/// # Examples
///
/// ```
/// use autopilot_sdk::MetricValue;
/// assert_eq!(MetricValue::Value(2.0).as_f64(), Some(2.0));
/// assert_eq!(MetricValue::NaN.as_f64(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue {
    /// The query succeeded but returned no samples (for example no traffic yet).
    NoData,
    /// The value is NaN (for example a ratio of two zero rates).
    NaN,
    /// A number (possibly ±Inf).
    Value(f64),
}

impl MetricValue {
    /// The number, or `None` for [`NoData`](Self::NoData) and [`NaN`](Self::NaN).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(autopilot_sdk::MetricValue::NoData.as_f64(), None);
    /// ```
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Self::Value(v) => Some(v),
            Self::NoData | Self::NaN => None,
        }
    }
}

impl Metric {
    /// A scalar result holding `value` (timestamp 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Metric, MetricValue};
    /// assert_eq!(Metric::scalar(0.99).value().unwrap(), MetricValue::Value(0.99));
    /// ```
    pub fn scalar(value: f64) -> Self {
        Self {
            kind: Some(MetricKind::Scalar),
            series: vec![Series::default().sample(0, value)],
            ..Self::default()
        }
    }

    /// A scalar result whose value is NaN.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Metric, MetricValue};
    /// assert_eq!(Metric::nan().value().unwrap(), MetricValue::NaN);
    /// ```
    pub fn nan() -> Self {
        Self::scalar(f64::NAN)
    }

    /// A successful vector result without any samples.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Metric, MetricValue};
    /// assert_eq!(Metric::no_data().value().unwrap(), MetricValue::NoData);
    /// ```
    pub fn no_data() -> Self {
        Self {
            kind: Some(MetricKind::Vector),
            no_data: true,
            ..Self::default()
        }
    }

    /// A vector result (an instant query) with these series.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Metric, Series};
    /// let m = Metric::vector([Series::new([("code", "500")]).sample(0, 3.0)]);
    /// assert_eq!(m.series.len(), 1);
    /// ```
    pub fn vector(series: impl IntoIterator<Item = Series>) -> Self {
        Self::with_series(MetricKind::Vector, series)
    }

    /// A matrix result (a range query) with these series.
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Metric, MetricValue, Series};
    /// let m = Metric::matrix([Series::default().sample(0, 1.0).sample(60_000, 2.0)]);
    /// assert_eq!(m.value().unwrap(), MetricValue::Value(2.0));
    /// ```
    pub fn matrix(series: impl IntoIterator<Item = Series>) -> Self {
        Self::with_series(MetricKind::Matrix, series)
    }

    /// A query that could not be run.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = autopilot_sdk::Metric::failed("prometheus unreachable");
    /// assert!(m.value().unwrap_err().is_retryable());
    /// ```
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::default()
        }
    }

    /// Sets the query text (useful in tests whose handlers log it).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = autopilot_sdk::Metric::scalar(1.0).with_query("vector(1)");
    /// assert_eq!(m.query, "vector(1)");
    /// ```
    #[must_use]
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    fn with_series(kind: MetricKind, series: impl IntoIterator<Item = Series>) -> Self {
        let series: Vec<Series> = series.into_iter().collect();
        Self {
            kind: Some(kind),
            no_data: series.iter().all(|s| s.samples.is_empty()),
            series,
            ..Self::default()
        }
    }

    /// The single value of this result: the latest sample of its only series.
    ///
    /// # Errors
    ///
    /// - [`WorkerError::Retryable`] when the query failed ([`error`](Self::error) is set). The
    ///   scheduler retries it with backoff, without limit unless `autopilot-operator.yaml` sets
    ///   `retry.maxAttempts`: a phase that guards a canary or an injected fault should match it
    ///   and act (for example roll back once [`Context::attempt`](crate::Context::attempt) is
    ///   high) rather than return it with `?`.
    /// - [`WorkerError::Invalid`] when the result has more than one series: aggregate in PromQL
    ///   (`sum(...)`) or read [`series`](Self::series).
    ///
    /// # Examples
    ///
    /// ```
    /// use autopilot_sdk::{Metric, MetricValue, Series};
    /// assert_eq!(Metric::scalar(f64::INFINITY).value().unwrap(), MetricValue::Value(f64::INFINITY));
    /// let two = Metric::vector([Series::new([("a", "1")]).sample(0, 1.0),
    ///                           Series::new([("a", "2")]).sample(0, 2.0)]);
    /// assert!(two.value().is_err());
    /// ```
    pub fn value(&self) -> Result<MetricValue, WorkerError> {
        if let Some(error) = &self.error {
            return Err(WorkerError::retryable(format!(
                "metric query {:?} failed: {error}",
                self.query
            )));
        }
        if self.no_data {
            return Ok(MetricValue::NoData);
        }
        let sample = match self.series.as_slice() {
            [] => None,
            [only] => only.samples.last(),
            many => {
                return Err(WorkerError::invalid(format!(
                    "metric query {:?} returned {} series where one value was expected; \
                     aggregate it (for example with sum) or read Metric::series",
                    self.query,
                    many.len()
                )));
            }
        };
        Ok(match sample {
            None => MetricValue::NoData,
            Some(s) if s.value.is_nan() => MetricValue::NaN,
            Some(s) => MetricValue::Value(s.value),
        })
    }
}

impl Series {
    /// A series with these labels and no samples yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = autopilot_sdk::Series::new([("job", "web")]);
    /// assert!(s.samples.is_empty());
    /// ```
    pub fn new<K: Into<String>, V: Into<String>>(labels: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            samples: Vec::new(),
        }
    }

    /// Appends a sample (keep them oldest first).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = autopilot_sdk::Series::default().sample(0, 1.0).sample(1000, 2.0);
    /// assert_eq!(s.samples.len(), 2);
    /// ```
    #[must_use]
    pub fn sample(mut self, timestamp_ms: i64, value: f64) -> Self {
        self.samples.push(Sample {
            timestamp_ms,
            value,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_distinguishes_every_case() {
        let cases = [
            (Metric::scalar(0.5), Some(MetricValue::Value(0.5))),
            (Metric::scalar(0.0), Some(MetricValue::Value(0.0))),
            (Metric::nan(), Some(MetricValue::NaN)),
            (Metric::no_data(), Some(MetricValue::NoData)),
            (Metric::vector([]), Some(MetricValue::NoData)),
            (
                Metric::vector([Series::default()]),
                Some(MetricValue::NoData),
            ),
            (
                Metric::matrix([Series::default().sample(1, 1.0).sample(2, f64::NAN)]),
                Some(MetricValue::NaN),
            ),
            (Metric::failed("down"), None),
        ];
        for (metric, want) in cases {
            match (metric.value(), want) {
                (Ok(MetricValue::NaN), Some(MetricValue::NaN)) => {}
                (Ok(got), Some(want)) => assert_eq!(got, want, "{metric:?}"),
                (Err(err), None) => assert!(err.is_retryable(), "{err}"),
                (got, want) => panic!("{metric:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn several_series_are_not_silently_reduced() {
        let m = Metric::vector([Series::default().sample(0, 1.0), Series::default()])
            .with_query("rate(x[1m])");
        let err = m.value().unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("returned 2 series"), "{err}");
    }
}
