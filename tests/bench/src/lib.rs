//! Benchmarks of Autopilot, run by `hack/bench.sh` (the `autopilot-bench` binary): what the
//! gRPC hop to a worker costs, how fast the scheduler drives resources through their phases
//! compared with an in-process kube-rs controller and with the API server's raw write rate, and
//! how much memory the scheduler takes at scale.
//!
//! Start with [`Sizes`] (how much work each benchmark does) and the benchmarks:
//! [`worker_call`], [`reconcile`], [`memory`] and [`trace_input`]. They print [`table::Table`]s; they assert
//! nothing about timings. The smoke test (`tests/smoke.rs`) runs them with tiny counts so CI
//! keeps the harness working.
//!
//! [`soak`] is the chaos soak (`autopilot-soak`, run by `hack/soak.sh`): resources through a
//! multi-phase operator while schedulers, workers, kube-apiserver and etcd are killed.

pub mod cluster;
pub mod floor;
pub mod latency;
pub mod memory;
pub mod reconcile;
pub mod scheduler_process;
pub mod soak;
pub mod table;
pub mod trace_input;
pub mod worker_call;

/// The benchmark's own proto: a bare unary call, the floor of any gRPC call.
pub mod pb {
    tonic::include_proto!("autopilot.bench.v1");
}

/// How much work each benchmark does.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Measured calls per worker-call case (after a warm-up of a tenth as many).
    pub calls: usize,
    /// Resources driven through the phases in the throughput benchmark.
    pub reconcile_crs: usize,
    /// Reconciles (and status writes) in flight at once, for all three contenders.
    pub concurrency: u16,
    /// Resource counts of the memory benchmark.
    pub memory_crs: Vec<usize>,
    /// How long the scheduler idles after finishing before its idle RSS is read.
    pub idle_settle: std::time::Duration,
    /// The scheduler's `workInterval`; `None` keeps the default users get.
    pub work_interval: Option<std::time::Duration>,
    /// Matching spans of the trace-input benchmark.
    pub trace_spans: Vec<u32>,
    /// Measured searches per trace-input row.
    pub trace_searches: usize,
}

impl Sizes {
    /// The published benchmark.
    pub fn full() -> Self {
        Sizes {
            calls: 20_000,
            reconcile_crs: 1_000,
            concurrency: 16,
            memory_crs: vec![1_000, 10_000],
            idle_settle: std::time::Duration::from_secs(15),
            work_interval: None,
            trace_spans: trace_input::SPANS.to_vec(),
            trace_searches: 50,
        }
    }

    /// Tiny counts that exercise every code path in well under two minutes.
    pub fn smoke() -> Self {
        Sizes {
            calls: 200,
            reconcile_crs: 20,
            concurrency: 16,
            memory_crs: vec![20, 50],
            idle_settle: std::time::Duration::from_secs(1),
            // Short, so that a resource waiting out the interval cannot stretch the smoke run.
            work_interval: Some(std::time::Duration::from_secs(1)),
            trace_spans: vec![10, 100],
            trace_searches: 3,
        }
    }
}

/// The machine's load averages (`/proc/loadavg`), printed beside the numbers so a run taken
/// under load says so.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
