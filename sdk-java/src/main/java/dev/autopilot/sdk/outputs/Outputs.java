package dev.autopilot.sdk.outputs;

/**
 * Builders for the Kubernetes objects workflows usually return; each is a {@link
 * dev.autopilot.sdk.KubernetesObject} that {@link dev.autopilot.sdk.Outcome#output} accepts.
 *
 * <pre>{@code
 * Outcome.next("Analyzing")
 *     .output(Outputs.virtualService("web").host("web").route(
 *         Destination.of("web").subset("stable").weight(90),
 *         Destination.of("web").subset("canary").weight(10)));
 * }</pre>
 *
 * The scheduler fills in the namespace (the resource's), the owner reference and its labels.
 */
public final class Outputs {
  private Outputs() {}

  /** An apps/v1 Deployment of one container. */
  public static Deployment deployment(String name) {
    return new Deployment(name);
  }

  /** A v1 Service. */
  public static Service service(String name) {
    return new Service(name);
  }

  /** A v1 ConfigMap. */
  public static ConfigMap configMap(String name) {
    return new ConfigMap(name);
  }

  /** An Istio networking.istio.io/v1 VirtualService with weighted routes. */
  public static VirtualService virtualService(String name) {
    return new VirtualService(name);
  }

  /** A Gateway API gateway.networking.k8s.io/v1 HTTPRoute with weighted backendRefs. */
  public static HttpRoute httpRoute(String name) {
    return new HttpRoute(name);
  }
}
