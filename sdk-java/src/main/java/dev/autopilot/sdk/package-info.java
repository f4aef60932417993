/**
 * The Autopilot SDK for Java: write one function per phase of an operator's workflow and serve
 * them to the Autopilot scheduler over gRPC.
 *
 * <p>Start with {@link dev.autopilot.sdk.Worker}: register a {@link dev.autopilot.sdk.PhaseHandler}
 * per phase, then call {@link dev.autopilot.sdk.Worker#serveFromEnv()}. A handler receives a
 * {@link dev.autopilot.sdk.Context} (the resource with its spec and statusInfo typed, the phase's
 * inputs, facts about the call) and returns an {@link dev.autopilot.sdk.Outcome} (the next phase,
 * objects to apply, the new statusInfo, conditions, events) or throws a
 * {@link dev.autopilot.sdk.WorkerException} that becomes the contract's gRPC status code.
 * Handlers are plain functions: tests build a context with {@link dev.autopilot.sdk.Context#builder}
 * and call them directly. {@link dev.autopilot.sdk.outputs.Outputs} builds the Kubernetes objects
 * workflows usually return.
 */
package dev.autopilot.sdk;
