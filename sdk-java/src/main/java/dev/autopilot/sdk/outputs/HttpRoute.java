package dev.autopilot.sdk.outputs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * A Gateway API gateway.networking.k8s.io/v1 HTTPRoute; see {@link Outputs#httpRoute}. Each
 * {@link #rule} adds a rule (no match: all traffic) split between weighted backendRefs.
 */
public final class HttpRoute extends ObjectBuilder<HttpRoute> {
  private final List<ObjectNode> parents = new ArrayList<>();
  private final List<String> hostnames = new ArrayList<>();
  private final List<List<Backend>> rules = new ArrayList<>();

  HttpRoute(String name) {
    super("gateway.networking.k8s.io/v1", "HTTPRoute", name);
  }

  /** Attaches the route to the Gateway {@code name}. */
  public HttpRoute parentGateway(String name) {
    ObjectNode p = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    p.put("name", name);
    parents.add(p);
    return this;
  }

  /** Attaches the route to the Service {@code name} (GAMMA, east-west traffic). */
  public HttpRoute parentService(String name) {
    ObjectNode p = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    p.put("group", "");
    p.put("kind", "Service");
    p.put("name", name);
    parents.add(p);
    return this;
  }

  /** Adds a hostname the route matches. */
  public HttpRoute hostname(String hostname) {
    hostnames.add(hostname);
    return this;
  }

  /** Adds a rule splitting traffic between these weighted backends. */
  public HttpRoute rule(Backend... backends) {
    rules.add(List.of(backends));
    return this;
  }

  @Override
  void body(ObjectNode object) {
    ObjectNode spec = object.putObject("spec");
    if (!parents.isEmpty()) {
      ArrayNode p = spec.putArray("parentRefs");
      parents.forEach(p::add);
    }
    if (!hostnames.isEmpty()) {
      ArrayNode h = spec.putArray("hostnames");
      hostnames.forEach(h::add);
    }
    ArrayNode r = spec.putArray("rules");
    for (List<Backend> rule : rules) {
      ArrayNode refs = r.addObject().putArray("backendRefs");
      for (Backend b : rule) {
        ObjectNode ref = refs.addObject();
        ref.put("name", b.name);
        if (b.namespace != null) {
          ref.put("namespace", b.namespace);
        }
        if (b.port != null) {
          ref.put("port", b.port);
        }
        if (b.weight != null) {
          ref.put("weight", b.weight);
        }
      }
    }
  }

  /** One weighted backend (a Service) of a rule. */
  public static final class Backend {
    private final String name;
    private String namespace;
    private Integer port;
    private Integer weight;

    private Backend(String name) {
      this.name = name;
    }

    /** The Service {@code name}. */
    public static Backend of(String name) {
      return new Backend(name);
    }

    /** The Service's namespace (default: the route's). */
    public Backend namespace(String namespace) {
      this.namespace = namespace;
      return this;
    }

    /** The Service port. */
    public Backend port(int port) {
      this.port = port;
      return this;
    }

    /** The relative share of traffic. */
    public Backend weight(int weight) {
      this.weight = weight;
      return this;
    }
  }
}
