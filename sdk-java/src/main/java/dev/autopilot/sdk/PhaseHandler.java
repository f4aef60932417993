package dev.autopilot.sdk;

/**
 * One phase's logic: reads the context, decides the outcome.
 *
 * @param <S> the resource's spec type
 * @param <I> the resource's statusInfo type
 */
@FunctionalInterface
public interface PhaseHandler<S, I> {
  /**
   * Handles one resource in this phase.
   *
   * @throws WorkerException to fail the call with the contract's gRPC code
   */
  Outcome<I> handle(Context<S, I> ctx) throws WorkerException;
}
