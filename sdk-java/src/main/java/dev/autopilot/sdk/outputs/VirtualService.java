package dev.autopilot.sdk.outputs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * An Istio networking.istio.io/v1 VirtualService; see {@link Outputs#virtualService}. Each {@link
 * #route} adds an HTTP route (no match, so the first catches all traffic) split between weighted
 * destinations. Hosts default to the name.
 */
public final class VirtualService extends ObjectBuilder<VirtualService> {
  private final List<String> hosts = new ArrayList<>();
  private final List<String> gateways = new ArrayList<>();
  private final List<List<Destination>> routes = new ArrayList<>();

  VirtualService(String name) {
    super("networking.istio.io/v1", "VirtualService", name);
  }

  /** Adds a host (the first replaces the default, the name). */
  public VirtualService host(String host) {
    hosts.add(host);
    return this;
  }

  /** Adds a gateway ({@code mesh} for sidecars; none means only {@code mesh}). */
  public VirtualService gateway(String gateway) {
    gateways.add(gateway);
    return this;
  }

  /** Adds an HTTP route to these weighted destinations. */
  public VirtualService route(Destination... destinations) {
    routes.add(List.of(destinations));
    return this;
  }

  @Override
  void body(ObjectNode object) {
    ObjectNode spec = object.putObject("spec");
    ArrayNode h = spec.putArray("hosts");
    (hosts.isEmpty() ? List.of(name()) : hosts).forEach(h::add);
    if (!gateways.isEmpty()) {
      ArrayNode g = spec.putArray("gateways");
      gateways.forEach(g::add);
    }
    ArrayNode http = spec.putArray("http");
    for (List<Destination> route : routes) {
      ArrayNode r = http.addObject().putArray("route");
      for (Destination d : route) {
        ObjectNode entry = r.addObject();
        ObjectNode destination = entry.putObject("destination");
        destination.put("host", d.host);
        if (d.subset != null) {
          destination.put("subset", d.subset);
        }
        if (d.port != null) {
          destination.putObject("port").put("number", d.port);
        }
        if (d.weight != null) {
          entry.put("weight", d.weight);
        }
      }
    }
  }

  /** One weighted destination of a route. */
  public static final class Destination {
    private final String host;
    private String subset;
    private Integer port;
    private Integer weight;

    private Destination(String host) {
      this.host = host;
    }

    /** A destination on {@code host} (a Service name or FQDN). */
    public static Destination of(String host) {
      return new Destination(host);
    }

    /** The DestinationRule subset. */
    public Destination subset(String subset) {
      this.subset = subset;
      return this;
    }

    /** The port number. */
    public Destination port(int port) {
      this.port = port;
      return this;
    }

    /** The share of traffic, 0..100. */
    public Destination weight(int weight) {
      this.weight = weight;
      return this;
    }
  }
}
