// Unit tests of the SDK: handlers as plain functions, and a real gRPC round trip.

import { strict as assert } from "node:assert";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Context, Finalized, Metric, Outcome, SCHEDULER_CONDITIONS, Trace, Worker, WorkerError, configFromEnv, outputs, serve, spanStats } from "../src";
import { loadDefinitions } from "../src/wire";

interface Spec {
  target: string;
}
interface Info {
  weight?: number;
}

describe("WorkerError", () => {
  it("maps each kind to the contract's code", () => {
    const table: [WorkerError, grpc.status, boolean][] = [
      [WorkerError.retryable("a"), grpc.status.UNAVAILABLE, true],
      [WorkerError.permanent("b"), grpc.status.FAILED_PRECONDITION, false],
      [WorkerError.invalid("c"), grpc.status.INVALID_ARGUMENT, false],
      [new WorkerError("missingInput", "d"), grpc.status.INVALID_ARGUMENT, false],
      [new WorkerError("inputUnavailable", "e"), grpc.status.UNAVAILABLE, true],
      [new WorkerError("invalidOutput", "f"), grpc.status.INTERNAL, false],
    ];
    for (const [err, code, retryable] of table) {
      assert.equal(err.code, code, err.message);
      assert.equal(err.isRetryable, retryable, err.message);
    }
  });

  it("keeps retry-after only on retryable errors", () => {
    assert.equal(WorkerError.retryable("busy", { retryAfterMs: 1500 }).retryAfterMs, 1500);
    assert.equal(new WorkerError("permanent", "no", 1000).retryAfterMs, undefined);
  });
});

describe("Metric", () => {
  it("tells value, no data and NaN apart", () => {
    assert.deepEqual(Metric.scalar(0.5).value(), { kind: "value", value: 0.5 });
    assert.deepEqual(Metric.scalar(0).value(), { kind: "value", value: 0 });
    assert.deepEqual(Metric.noData().value(), { kind: "noData" });
    assert.deepEqual(Metric.scalar(Number.NaN).value(), { kind: "nan" });
    assert.equal(Metric.scalar(Number.NaN).number(), undefined);
  });

  it("fails on errors and on several series", () => {
    assert.throws(() => Metric.failed("down", "up").value(), (e: WorkerError) => e.kind === "retryable");
    const two = Metric.vector([
      { labels: { a: "1" }, samples: [{ timestampMs: 1, value: 1, isNaN: false }] },
      { labels: { a: "2" }, samples: [{ timestampMs: 1, value: 2, isNaN: false }] },
    ]);
    assert.throws(() => two.value(), (e: WorkerError) => e.kind === "invalid" && /2 series/.test(e.message));
  });
});

describe("Context", () => {
  it("builds from a test's init", () => {
    const ctx = new Context<Spec, Info>({
      phase: "Processing",
      name: "web",
      namespace: "shop",
      labels: { team: "a" },
      spec: { target: "web" },
      statusInfo: { weight: 20 },
      objects: { deployments: [{ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" } }], routes: { error: "no CRD" } },
      attempt: 3,
    });
    assert.equal(ctx.name, "web");
    assert.equal(ctx.namespace, "shop");
    assert.equal(ctx.labels.team, "a");
    assert.equal(ctx.spec.target, "web");
    assert.equal(ctx.statusInfo?.weight, 20);
    assert.equal(ctx.attempt, 3);
    assert.equal(ctx.objects("deployments").length, 1);
    assert.throws(() => ctx.objects("routes"), (e: WorkerError) => e.kind === "inputUnavailable" && e.isRetryable);
    assert.throws(() => ctx.objects("pods"), (e: WorkerError) => e.kind === "missingInput");
    assert.throws(() => ctx.metric("rate"), (e: WorkerError) => e.kind === "missingInput");
  });

  it("has no statusInfo before the first one", () => {
    assert.equal(new Context<Spec, Info>({ phase: "A" }).statusInfo, undefined);
  });
});

describe("Outcome", () => {
  it("accumulates in order", () => {
    const o = Outcome.next<Info>("B").eventNormal("A", "1").eventWarning("B", "2").condition("C", false, "R", "M").status({ weight: 7 }).requeueAfter(300);
    assert.equal(o.nextPhase, "B");
    assert.deepEqual(o.events, [
      { severity: "Normal", reason: "A", message: "1" },
      { severity: "Warning", reason: "B", message: "2" },
    ]);
    assert.deepEqual(o.conditions, [{ type: "C", status: "False", reason: "R", message: "M" }]);
    assert.deepEqual(o.statusInfo, { weight: 7 });
    assert.equal(o.requeueAfterMs, 300);
    assert.equal(Outcome.stay().nextPhase, undefined);
  });

  it("refuses outputs that cannot be applied", () => {
    for (const [object, field] of [
      [{ kind: "ConfigMap", metadata: { name: "a" } }, "apiVersion"],
      [{ apiVersion: "v1", metadata: { name: "a" } }, "kind"],
      [{ apiVersion: "v1", kind: "ConfigMap" }, "metadata.name"],
    ] as const) {
      assert.throws(
        () => Outcome.stay().output(outputs.configMap("ok")).output(object),
        (e: WorkerError) => e.kind === "invalidOutput" && e.message === `output 1 is not an applicable Kubernetes object: ${field} is missing or empty`,
      );
    }
  });

  it("refuses conditions the scheduler owns where they are set", () => {
    assert.deepEqual(SCHEDULER_CONDITIONS, [
      "Ready",
      "Progressing",
      "WorkerError",
      "InputsAvailable",
      "MetricsAvailable",
      "Paused",
      "AwaitingApproval",
      "Aborted",
    ]);
    for (const owned of SCHEDULER_CONDITIONS) {
      assert.throws(
        () => Outcome.stay().condition("Healthy", true, "Ok").condition(owned, true, "Mine"),
        (e: WorkerError) =>
          e.kind === "invalidCondition" &&
          e.code === grpc.status.INTERNAL &&
          e.message.startsWith(
            `condition type ${owned} is owned by the scheduler (it owns Ready, Progressing, WorkerError, InputsAvailable, MetricsAvailable, Paused, AwaitingApproval, Aborted)`,
          ),
      );
    }
    assert.throws(
      () => Outcome.stay().condition("", true, "Ok"),
      (e: WorkerError) => e.kind === "invalidCondition" && e.message === "a condition needs a type",
    );
  });
});

describe("outputs", () => {
  it("builds a VirtualService with weighted routes", () => {
    const vs = outputs
      .virtualService("web")
      .namespace("shop")
      .gateway("mesh")
      .route([
        { host: "web", subset: "stable", port: 80, weight: 90 },
        { host: "web", subset: "canary", port: 80, weight: 10 },
      ])
      .toObject();
    assert.deepEqual(vs, {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        hosts: ["web"],
        gateways: ["mesh"],
        http: [
          {
            route: [
              { destination: { host: "web", subset: "stable", port: { number: 80 } }, weight: 90 },
              { destination: { host: "web", subset: "canary", port: { number: 80 } }, weight: 10 },
            ],
          },
        ],
      },
    });
  });

  it("builds an HTTPRoute with weighted backendRefs", () => {
    const route = outputs
      .httpRoute("web")
      .parent("public")
      .parentService("web")
      .rule([
        { name: "web-stable", port: 80, weight: 90 },
        { name: "web-canary", port: 80, weight: 10 },
      ])
      .toObject();
    assert.deepEqual(route.spec, {
      parentRefs: [{ name: "public" }, { group: "", kind: "Service", name: "web" }],
      rules: [
        {
          backendRefs: [
            { name: "web-stable", port: 80, weight: 90 },
            { name: "web-canary", port: 80, weight: 10 },
          ],
        },
      ],
    });
  });

  it("builds a Deployment from another one's template, and a Service", () => {
    const primary = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" }, spec: { template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "web:1" }] } } } };
    const d = outputs.deployment("web-canary").templateFrom(primary).selectorLabel("track", "canary").replicas(1).toObject();
    assert.deepEqual(d.spec, {
      replicas: 1,
      selector: { matchLabels: { track: "canary" } },
      template: { metadata: { labels: { app: "web", track: "canary" } }, spec: { containers: [{ name: "web", image: "web:1" }] } },
    });
    const s = outputs.service("web").selector("app", "web").port("http", 80, 8080).toObject();
    assert.deepEqual(s.spec, { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }] });
  });
});

describe("wire", () => {
  it("decodes a map entry without a value as an empty message", () => {
    // phase "Preparing"; objects {"configmaps": <absent>}, as prost writes an empty ObjectList.
    const bytes = Buffer.from("0a09507265706172696e671a0c0a0a636f6e6669676d617073", "hex");
    const sync = (loadDefinitions()["autopilot.worker.v1.WorkerService"] as Record<string, { requestDeserialize: (b: Buffer) => unknown }>).Sync;
    const request = sync.requestDeserialize(bytes) as { phase: string; objects: Record<string, unknown> };
    assert.equal(request.phase, "Preparing");
    assert.deepEqual(request.objects, { configmaps: { items: [], error: "" } });
  });
});

describe("configFromEnv", () => {
  it("defaults to loopback and rejects half a TLS setup", () => {
    assert.equal(configFromEnv({}).address, "127.0.0.1:50051");
    assert.equal(configFromEnv({ AUTOPILOT_WORKER_ADDR: "unix:/tmp/w.sock" }).address, "unix:/tmp/w.sock");
    assert.throws(() => configFromEnv({ AUTOPILOT_WORKER_TLS_CERT: "c.pem" }), /both/);
  });
});

// A worker with a handler per outcome the contract distinguishes.
function probeWorker(): Worker<Spec, Info> {
  return new Worker<Spec, Info>("probe")
    .version("1.2.3")
    .phase("Initializing", (ctx) =>
      Outcome.next<Info>("Processing")
        .output(outputs.configMap(`${ctx.name}-cfg`).data("target", ctx.spec.target))
        .status({ weight: ctx.objects("deployments").length })
        .condition("Prepared", true, "Created", `trace ${ctx.traceparent ?? "none"}`)
        .eventNormal("Started", `attempt ${ctx.attempt} of ${ctx.operatorName}`),
    )
    .phase("Processing", (ctx) => {
      const rate = ctx.metric("rate").value();
      if (rate.kind === "noData") throw WorkerError.retryable("no data yet", { retryAfterMs: 2500 });
      if (rate.kind === "nan") throw WorkerError.permanent("rate is NaN");
      throw new Error("boom");
    })
    .finalize(() => Finalized.notYet().requeueAfter(200));
}

type Unary = (request: unknown, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, response: unknown) => void) => void;

function client(address: string): { call: (method: string, request: unknown, metadata?: grpc.Metadata) => Promise<unknown>; close: () => void } {
  const defs = grpc.loadPackageDefinition(loadDefinitions()) as unknown as {
    autopilot: { worker: { v1: { WorkerService: grpc.ServiceClientConstructor } } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const worker = new defs.autopilot.worker.v1.WorkerService(address, grpc.credentials.createInsecure());
  const health = new defs.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  return {
    call: (method, request, metadata = new grpc.Metadata()) =>
      new Promise((resolve, reject) => {
        const target = (method === "Check" ? health : worker) as unknown as Record<string, Unary>;
        target[method].call(method === "Check" ? health : worker, request, metadata, (err, response) => (err ? reject(err) : resolve(response)));
      }),
    close: () => {
      worker.close();
      health.close();
    },
  };
}

describe("serve", () => {
  it("answers Describe, Sync, Finalize and health over gRPC", async () => {
    const running = await serve(probeWorker(), { address: "127.0.0.1:0", maxMessageBytes: 1 << 20, handleSignals: false });
    const c = client(`127.0.0.1:${running.port}`);
    try {
      assert.deepEqual(await c.call("Describe", { protocolVersion: "v1" }), {
        protocolVersion: "v1",
        workerName: "probe",
        workerVersion: "1.2.3",
        phases: ["Initializing", "Processing"],
        finalize: true,
        capabilities: ["traceparent"],
      });

      const resource = Buffer.from(JSON.stringify({ apiVersion: "x/v1", kind: "Probe", metadata: { name: "p", namespace: "ns", generation: 2 }, spec: { target: "web" } }));
      const metadata = new grpc.Metadata();
      metadata.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
      const sync = (await c.call(
        "Sync",
        {
          phase: "Initializing",
          resource,
          objects: { deployments: { items: [Buffer.from('{"metadata":{"name":"a"}}')] } },
          meta: { attempt: 4, operatorName: "probe-operator", generation: 2, deadlineUnixMs: String(Date.now() + 10_000) },
        },
        metadata,
      )) as { nextPhase: string; outputs: Buffer[]; statusInfo: Buffer; conditions: { message: string }[]; events: { severity: string; message: string }[] };
      assert.equal(sync.nextPhase, "Processing");
      assert.deepEqual(JSON.parse(sync.outputs[0].toString()), { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "p-cfg" }, data: { target: "web" } });
      assert.deepEqual(JSON.parse(sync.statusInfo.toString()), { weight: 1 });
      assert.equal(sync.conditions[0].message, "trace 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
      assert.equal(sync.events[0].severity, "SEVERITY_NORMAL");
      assert.equal(sync.events[0].message, "attempt 4 of probe-operator");

      const failing = (rate: unknown) => c.call("Sync", { phase: "Processing", resource, metrics: { rate } }).then(
        () => assert.fail("expected an error"),
        (err: grpc.ServiceError) => err,
      );
      const retry = await failing({ query: "q", type: "RESULT_TYPE_VECTOR", noData: true });
      assert.equal(retry.code, grpc.status.UNAVAILABLE);
      assert.equal(retry.details, "no data yet");
      assert.deepEqual(retry.metadata.get("autopilot-retry-after-ms"), ["2500"]);
      const nan = await failing({ query: "q", type: "RESULT_TYPE_SCALAR", series: [{ samples: [{ value: 0, isNan: true }] }] });
      assert.equal(nan.code, grpc.status.FAILED_PRECONDITION);
      const internal = await failing({ query: "q", type: "RESULT_TYPE_SCALAR", series: [{ samples: [{ value: 1 }] }] });
      assert.equal(internal.code, grpc.status.INTERNAL);
      const unknown = await c.call("Sync", { phase: "Nope", resource }).catch((e: grpc.ServiceError) => e);
      assert.equal((unknown as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);

      assert.deepEqual(await c.call("Finalize", { resource }), { done: false, events: [], requeueAfterMs: "200" });
      assert.deepEqual(await c.call("Check", { service: "autopilot.worker.v1.WorkerService" }), { status: "SERVING" });
      assert.deepEqual(await c.call("Check", { service: "" }), { status: "SERVING" });
    } finally {
      c.close();
      await running.shutdown();
    }
    await running.closed;
  });

  it("hands trace results to handlers typed", async () => {
    const seen: Trace[] = [];
    const worker = new Worker<Spec, Info>("traced").phase("Judging", (ctx) => {
      seen.push(ctx.trace("spans"), ctx.trace("down"), ctx.trace("none"));
      return Outcome.stay<Info>();
    });
    const running = await serve(worker, { address: "127.0.0.1:0", maxMessageBytes: 1 << 20, handleSignals: false });
    const c = client(`127.0.0.1:${running.port}`);
    try {
      const resource = Buffer.from(JSON.stringify({ apiVersion: "x/v1", kind: "Probe", metadata: { name: "p" }, spec: { target: "web" } }));
      await c.call("Sync", {
        phase: "Judging",
        resource,
        traces: {
          spans: {
            query: "service=web lookBack=1m limit=10",
            total: { spanCount: "20", errorCount: "5", errorRatio: 0.25, p99Ms: 12 },
            operations: [
              { service: "web", operation: "GET /", spanCount: "10" },
              { service: "web", operation: "charge", spanCount: "10", errorCount: "5", errorRatio: 0.5 },
            ],
            samples: [{ traceId: "ab", rootService: "web", rootOperation: "GET /", durationMs: 12.5, startUnixMs: "7", errorSpans: [{ service: "web", operation: "charge", statusMessage: "declined" }] }],
          },
          down: { query: "service=web", error: "Jaeger unreachable" },
          none: { noData: true },
        },
      });
      const [spans, down, none] = seen;
      assert.equal(spans.query, "service=web lookBack=1m limit=10");
      assert.equal(spans.stats()?.spanCount, 20);
      assert.equal(spans.worstOperation()?.operation, "charge");
      assert.equal(spans.samples[0].startUnixMs, 7);
      assert.equal(spans.samples[0].errorSpans[0].statusMessage, "declined");
      assert.throws(() => down.stats(), (e: WorkerError) => e.kind === "retryable");
      assert.equal(none.stats(), undefined);
      assert.equal(Trace.fromOperations([spanStats("web", "a", 4, 1)]).stats()?.errorRatio, 0.25);
    } finally {
      c.close();
      await running.shutdown();
    }
  });

  it("serves on a unix socket", async () => {
    const socket = path.join(os.tmpdir(), `autopilot-sdk-test-${process.pid}.sock`);
    const running = await serve(probeWorker(), { address: `unix:${socket}`, maxMessageBytes: 1 << 20, handleSignals: false });
    const c = client(`unix:${socket}`);
    try {
      const described = (await c.call("Describe", {})) as { workerName: string };
      assert.equal(described.workerName, "probe");
    } finally {
      c.close();
      await running.shutdown();
    }
  });
});
