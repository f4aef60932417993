/** Phase handlers called as plain functions: no gRPC, no cluster. */

import { strict as assert } from "node:assert";
import { test } from "node:test";

import { Context } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../src/model";
import { initializing } from "../src/phases/initializing";

test("Initializing moves on to Processing", async () => {
  const spec: Spec = { stepWeight: 10, successThreshold: 0.99, target: "example" };
  const ctx = new Context<Spec, StatusInfo>({ phase: "Initializing", name: "example", namespace: "default", spec });
  const outcome = await initializing(ctx);
  assert.equal(outcome.nextPhase, "Processing");
});
