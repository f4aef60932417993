//! The suites' scripted worker as its own process, so a test can SIGKILL it mid-call and start
//! it again: `scripted-worker 127.0.0.1:PORT`. Prints `sync <phase> <namespace/name>
//! attempt=<n>` to stdout as each Sync arrives.
use std::io::Write;

use autopilot_e2e::worker::ScriptedWorker;
use autopilot_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use autopilot_proto::v1::*;
use tonic::{Request, Response, Status};

/// Announces each call, then lets the scripted worker answer it.
#[derive(Debug, Clone, Default)]
struct Announcing(ScriptedWorker);

#[tonic::async_trait]
impl WorkerService for Announcing {
    async fn describe(
        &self,
        request: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        self.0.describe(request).await
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let req = request.get_ref();
        let resource: serde_json::Value = serde_json::from_slice(&req.resource).unwrap_or_default();
        let meta = &resource["metadata"];
        println!(
            "sync {} {}/{} attempt={}",
            req.phase,
            meta["namespace"].as_str().unwrap_or_default(),
            meta["name"].as_str().unwrap_or_default(),
            req.meta.as_ref().map(|m| m.attempt).unwrap_or_default()
        );
        let _ = std::io::stdout().flush();
        self.0.sync(request).await
    }

    async fn finalize(
        &self,
        request: Request<FinalizeRequest>,
    ) -> Result<Response<FinalizeResponse>, Status> {
        self.0.finalize(request).await
    }
}

#[tokio::main]
async fn main() {
    let addr: std::net::SocketAddr = std::env::args()
        .nth(1)
        .expect("usage: scripted-worker ADDRESS:PORT")
        .parse()
        .expect("ADDRESS:PORT");
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    tonic::transport::Server::builder()
        .add_service(WorkerServiceServer::new(Announcing::default()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .expect("serving");
}
