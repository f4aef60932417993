/** The conformance handlers called as plain functions: no gRPC, no cluster. */

import { strict as assert } from "node:assert";
import { test } from "node:test";

import { Context, Metric, WorkerError } from "@autopilot/sdk";

import { finalize } from "../src/finalize";
import type { Spec, StatusInfo } from "../src/model";
import { checking } from "../src/phases/checking";
import { preparing } from "../src/phases/preparing";

const spec: Spec = { target: "web", factor: 3, failFirst: 1 };

function checkingCtx(attempt: number, statusInfo?: StatusInfo, one = Metric.scalar(3, "vector(3)")): Context<Spec, StatusInfo> {
  return new Context<Spec, StatusInfo>({
    phase: "Checking",
    name: "p",
    namespace: "ns",
    spec,
    statusInfo,
    attempt,
    metrics: { one, missing: Metric.noData("absent_conformance_metric_total") },
  });
}

test("Preparing counts the ConfigMaps and creates the probe's own", async () => {
  const ctx = new Context<Spec, StatusInfo>({ phase: "Preparing", name: "p", namespace: "ns", spec, objects: { configmaps: [] } });
  const outcome = await preparing(ctx);
  assert.equal(outcome.nextPhase, "Checking");
  assert.deepEqual(outcome.statusInfo, { seen: 0 });
  assert.deepEqual(outcome.outputs[0], { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "p-probe", labels: { probe: "p" } }, data: { target: "web" } });
  assert.deepEqual(outcome.conditions, [{ type: "Prepared", status: "True", reason: "Created", message: "prepared p" }]);
  assert.deepEqual(outcome.events, [{ severity: "Normal", reason: "Prepared", message: "prepared p" }]);
});

test("Checking fails first, stays once, then moves on", async () => {
  await assert.rejects(checking(checkingCtx(1)), (e: WorkerError) => e.kind === "retryable" && e.message === "transient failure 1");
  const first = await checking(checkingCtx(2, { seen: 0 }));
  assert.equal(first.nextPhase, undefined);
  assert.equal(first.requeueAfterMs, 300);
  assert.deepEqual(first.statusInfo, { seen: 0, checks: 1, lastQuery: "vector(3)" });
  const second = await checking(checkingCtx(3, first.statusInfo));
  assert.equal(second.nextPhase, "Done");
  assert.deepEqual(second.events, [{ severity: "Normal", reason: "Checked", message: "one=3 missing=no-data" }]);
  await assert.rejects(checking(checkingCtx(2, {}, Metric.scalar(4))), (e: WorkerError) => e.kind === "invalid");
});

test("Finalize is not done on the first call only", async () => {
  const ctx = new Context<Spec, StatusInfo>({ phase: "", name: "f", namespace: "ns" });
  assert.equal((await finalize(ctx)).isDone, false);
  assert.equal((await finalize(ctx)).isDone, true);
});
