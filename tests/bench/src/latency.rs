//! Driving calls at a fixed concurrency and summarizing their latencies.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Latency percentiles and throughput of one case.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Calls measured.
    pub calls: usize,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Completed calls per second of wall time.
    pub per_sec: f64,
}

/// Runs `calls` calls of `call`, `concurrency` at a time, after an unmeasured warm-up of a tenth
/// as many, and summarizes them.
///
/// # Errors
///
/// The first failed call: a benchmark of failing calls measures nothing.
pub async fn drive<F, Fut>(calls: usize, concurrency: usize, call: F) -> anyhow::Result<Summary>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let call = Arc::new(call);
    run(calls / 10 + 1, concurrency, call.clone()).await?;
    let started = Instant::now();
    let mut samples = run(calls, concurrency, call).await?;
    let wall = started.elapsed();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Ok(Summary {
        calls: samples.len(),
        p50: at(0.50),
        p99: at(0.99),
        per_sec: samples.len() as f64 / wall.as_secs_f64(),
    })
}

async fn run<F, Fut>(
    calls: usize,
    concurrency: usize,
    call: Arc<F>,
) -> anyhow::Result<Vec<Duration>>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let left = Arc::new(AtomicUsize::new(calls));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let left = left.clone();
        let call = call.clone();
        tasks.spawn(async move {
            let mut samples = Vec::new();
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                call().await?;
                samples.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(samples)
        });
    }
    let mut all = Vec::with_capacity(calls);
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    Ok(all)
}

/// Microseconds with one decimal, for tables.
pub fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_is_measured_once() {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let summary = drive(100, 8, move || {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(summary.calls, 100);
        // Plus the warm-up of a tenth (and one).
        assert_eq!(count.load(Ordering::Relaxed), 111);
        assert!(summary.p50 <= summary.p99);
    }

    #[tokio::test]
    async fn a_failed_call_fails_the_run() {
        let result = drive(10, 2, || async { anyhow::bail!("refused") }).await;
        assert!(result.is_err());
    }
}
