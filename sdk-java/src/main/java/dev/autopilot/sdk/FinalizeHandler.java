package dev.autopilot.sdk;

/**
 * Cleanup before a resource is deleted; called until it answers {@link Finalized#done()}.
 *
 * @param <S> the resource's spec type
 * @param <I> the resource's statusInfo type
 */
@FunctionalInterface
public interface FinalizeHandler<S, I> {
  /**
   * Cleans up for one resource being deleted (the context's phase is empty).
   *
   * @throws WorkerException to fail the call with the contract's gRPC code
   */
  Finalized finalize(Context<S, I> ctx) throws WorkerException;
}
