//! Benchmark 1: the scheduler → worker `Sync` round trip, through the scheduler's own client
//! ([`GrpcWorker`]) to a worker built on the Rust SDK, beside the floor (a bare tonic unary call
//! with an empty message, [`crate::floor`]) on the same transport.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use autopilot_sdk::serve::{Address, Config};
use autopilot_sdk::{Outcome, Worker};
use autopilot_worker_client::{CallMeta, GrpcWorker, Request, Worker as _};
use serde_json::json;
use tokio::sync::oneshot;

use crate::floor::{self, Transport};
use crate::latency::{self, Summary, micros};
use crate::table::Table;

/// The phase the benchmark worker serves: it answers "stay" with no outputs, so the call
/// measures the hop and the SDK's decoding, not handler work.
const PHASE: &str = "Measure";

/// Largest message either way, as the scheduler's default.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Resource sizes measured.
pub const RESOURCE_BYTES: [usize; 2] = [1024, 100 * 1024];

/// Concurrency levels measured.
pub const CONCURRENCY: [usize; 2] = [1, 64];

/// A resource of kind `Load` whose JSON is about `bytes` long (the spec carries the padding).
pub fn resource_of_size(bytes: usize) -> Vec<u8> {
    let mut obj = json!({
        "apiVersion": "bench.autopilot.dev/v1",
        "kind": "Load",
        "metadata": {"name": "load-0", "namespace": "bench", "uid": "00000000-0000-0000-0000-000000000000", "generation": 1, "resourceVersion": "1"},
        "spec": {"payload": ""},
    });
    let base = serde_json::to_vec(&obj).expect("JSON").len();
    obj["spec"]["payload"] = json!("x".repeat(bytes.saturating_sub(base)));
    serde_json::to_vec(&obj).expect("JSON")
}

/// An SDK worker serving [`PHASE`] on `transport`; stops when the sender is dropped.
async fn serve_worker(transport: &Transport) -> anyhow::Result<(String, oneshot::Sender<()>)> {
    let worker: Worker = Worker::new("bench").phase(PHASE, |_ctx| async { Ok(Outcome::stay()) });
    let address = match transport {
        Transport::Loopback => Address::Tcp("127.0.0.1:0".into()),
        Transport::Unix(path) => Address::Unix(path.clone()),
    };
    let bound = worker.bind(Config::new(address)).await?;
    let endpoint = match (transport, bound.local_addr()) {
        (Transport::Unix(path), _) => format!("unix:{}", path.display()),
        (Transport::Loopback, Some(addr)) => format!("http://{addr}"),
        (Transport::Loopback, None) => anyhow::bail!("TCP worker has no local address"),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bound.serve_with_shutdown(async move {
        let _ = stopped.await;
    }));
    Ok((endpoint, stop))
}

fn sync_call(resource: &[u8]) -> Request {
    Request {
        phase: PHASE.into(),
        resource: resource.to_vec(),
        meta: CallMeta {
            attempt: 1,
            tag: "bench".into(),
            generation: 1,
            operator_name: "bench-operator".into(),
        },
        deadline: Duration::from_secs(10),
        ..Request::default()
    }
}

fn summary_cells(s: &Summary) -> [String; 3] {
    [micros(s.p50), micros(s.p99), format!("{:.0}", s.per_sec)]
}

/// Runs every case and returns the table.
///
/// # Errors
///
/// A server could not start or a call failed.
pub async fn run(calls: usize) -> anyhow::Result<Table> {
    let dir = tempfile::tempdir()?;
    let mut table = Table::new(
        format!(
            "Worker call: scheduler GrpcWorker::sync → SDK worker vs bare tonic call ({calls} calls per row)"
        ),
        &[
            "transport",
            "resource",
            "concurrency",
            "Sync p50 µs",
            "Sync p99 µs",
            "Sync calls/s",
            "floor p50 µs",
            "floor p99 µs",
            "floor calls/s",
            "p50 overhead µs",
        ],
    );
    for transport in [
        Transport::Loopback,
        Transport::Unix(dir.path().join("worker.sock")),
    ] {
        let (endpoint, _stop_worker) = serve_worker(&transport).await?;
        let worker = Arc::new(GrpcWorker::new(&endpoint, MAX_MESSAGE_BYTES, None)?);
        worker
            .describe(Duration::from_secs(10))
            .await
            .with_context(|| {
                format!("waiting for the SDK worker at {endpoint} to answer Describe")
            })?;

        let floor_transport = match &transport {
            Transport::Loopback => Transport::Loopback,
            Transport::Unix(_) => Transport::Unix(dir.path().join("floor.sock")),
        };
        let floor_server = floor::serve(&floor_transport).await?;
        let floor_client = floor::client(&floor_server.endpoint)?;

        for concurrency in CONCURRENCY {
            let client = floor_client.clone();
            let floor = latency::drive(calls, concurrency, move || {
                let mut client = client.clone();
                async move {
                    client
                        .ping(crate::pb::Empty {})
                        .await
                        .context("floor call")?;
                    Ok(())
                }
            })
            .await?;
            for bytes in RESOURCE_BYTES {
                let call = sync_call(&resource_of_size(bytes));
                let w = worker.clone();
                let sync = latency::drive(calls, concurrency, move || {
                    let w = w.clone();
                    let call = call.clone();
                    async move {
                        w.sync(call).await.context("Sync call")?;
                        Ok(())
                    }
                })
                .await?;
                let overhead = sync.p50.saturating_sub(floor.p50);
                let mut row = vec![
                    transport.label().to_string(),
                    format!("{} KB", bytes / 1024),
                    concurrency.to_string(),
                ];
                row.extend(summary_cells(&sync));
                row.extend(summary_cells(&floor));
                row.push(micros(overhead));
                table.row(row);
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_have_the_size_asked_for() {
        for bytes in RESOURCE_BYTES {
            let json = resource_of_size(bytes);
            assert_eq!(json.len(), bytes);
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(value["kind"], "Load");
        }
    }
}
