package dev.autopilot.sdk.outputs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A v1 Service; see {@link Outputs#service}. The selector defaults to {@code app: <name>}. */
public final class Service extends ObjectBuilder<Service> {
  private final Map<String, String> selector = new TreeMap<>();
  private final List<ObjectNode> ports = new ArrayList<>();

  Service(String name) {
    super("v1", "Service", name);
  }

  /** Adds a selector label (the first replaces {@code app}). */
  public Service selector(String key, String value) {
    selector.put(key, value);
    return this;
  }

  /** Adds a TCP port forwarding to {@code targetPort}. */
  public Service port(String name, int port, int targetPort) {
    ObjectNode p = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    p.put("name", name);
    p.put("port", port);
    p.put("targetPort", targetPort);
    ports.add(p);
    return this;
  }

  @Override
  void body(ObjectNode object) {
    ObjectNode spec = object.putObject("spec");
    ObjectNode s = spec.putObject("selector");
    (selector.isEmpty() ? Map.of("app", name()) : selector).forEach(s::put);
    ArrayNode p = spec.putArray("ports");
    ports.forEach(p::add);
  }
}
