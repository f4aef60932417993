//! Any protobuf stack must decode our requests: the bytes `GrpcWorker` sends, decoded by the
//! most common Node.js setup of a hand-written worker — `@grpc/grpc-js` with
//! `@grpc/proto-loader` (protobufjs 7) loading `worker.proto`, through the very deserializer a
//! grpc-js server runs on each request.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use autopilot_worker_client::{CallMeta, Inputs, Request};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Decodes `bytes` as a `SyncRequest` with grpc-js's server-side deserializer; returns the
/// `objects` map as JSON, or the error a worker's client would get.
fn decode_with_proto_loader(bytes: &[u8]) -> Result<Value, String> {
    let sdk = root().join("sdk-typescript");
    // The SDK's own dependencies are the packages under test (npm ci, cached; idempotent).
    let built = Command::new("bash")
        .arg(sdk.join("scripts/build.sh"))
        .status()
        .expect(
            "running sdk-typescript/scripts/build.sh (needs node and npm: hack/deps/typescript.sh)",
        );
    assert!(built.success(), "sdk-typescript/scripts/build.sh failed");
    let script = r#"
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const def = loader.loadSync(process.argv[1], {longs: String, enums: String, defaults: true});
const service = grpc.loadPackageDefinition(def).autopilot.worker.v1.WorkerService.service;
try {
  const req = service.Sync.requestDeserialize(fs.readFileSync(0));
  process.stdout.write(JSON.stringify({objects: req.objects}));
} catch (e) {
  process.stdout.write(JSON.stringify({error: String(e)}));
}
"#;
    let mut child = Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(root().join("proto/autopilot/worker/v1/worker.proto"))
        .env("NODE_PATH", sdk.join("node_modules"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bytes)
        .expect("writing the request to node");
    let out = child.wait_with_output().expect("waiting for node");
    assert!(out.status.success(), "node failed: {out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON from node");
    match v.get("error") {
        Some(e) => Err(e.to_string()),
        None => Ok(v["objects"].clone()),
    }
}

fn request() -> Request {
    let mut inputs = Inputs::default();
    inputs.objects.insert("pods".into(), Ok(vec![]));
    inputs.objects.insert(
        "configmaps".into(),
        Ok(vec![br#"{"kind":"ConfigMap"}"#.to_vec()]),
    );
    Request::new(
        "Check",
        br#"{"kind":"Task"}"#.to_vec(),
        None,
        inputs,
        CallMeta::default(),
        Duration::from_secs(5),
    )
}

#[test]
fn proto_loader_decodes_an_input_without_objects() {
    let objects = decode_with_proto_loader(&request().to_wire()).expect("decoded");
    assert_eq!(objects["pods"]["items"], serde_json::json!([]), "{objects}");
    assert_eq!(
        objects["configmaps"]["items"].as_array().map(Vec::len),
        Some(1)
    );

    // What prost alone writes — the empty value left out — is what protobufjs 7 cannot read.
    let prost_only = decode_with_proto_loader(&request().to_prost_wire());
    assert!(
        prost_only.is_err() || prost_only.as_ref().unwrap()["pods"].is_null(),
        "expected protobufjs to trip over the prost encoding: {prost_only:?}"
    );
}
