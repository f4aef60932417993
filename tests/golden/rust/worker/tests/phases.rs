//! Phase handlers called as plain functions: no gRPC, no cluster.

use autopilot_sdk::Context;
use canary_operator_worker::phases::initializing;

#[tokio::test]
async fn initializing_moves_on() {
    let ctx = Context::builder()
        .phase("Initializing")
        .name("example")
        .namespace("default")
        .spec(serde_json::json!({"stepWeight":10,"successThreshold":0.99,"target":"example"}))
        .build()
        .expect("the example spec matches the Spec type");
    let outcome = initializing::handle(ctx).await.unwrap();
    assert_eq!(outcome.next_phase(), Some("Processing"));
}
