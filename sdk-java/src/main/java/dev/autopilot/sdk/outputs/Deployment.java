package dev.autopilot.sdk.outputs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An apps/v1 Deployment of one container named after the Deployment; see {@link
 * Outputs#deployment}. The selector defaults to {@code app: <name>}.
 */
public final class Deployment extends ObjectBuilder<Deployment> {
  private final Map<String, String> selector = new TreeMap<>();
  private Integer replicas;
  private String image;
  private final List<Integer> ports = new ArrayList<>();

  Deployment(String name) {
    super("apps/v1", "Deployment", name);
  }

  /** Adds a label to the selector and the pod template (the first replaces {@code app}). */
  public Deployment selectorLabel(String key, String value) {
    selector.put(key, value);
    return this;
  }

  /** The number of replicas. */
  public Deployment replicas(int replicas) {
    this.replicas = replicas;
    return this;
  }

  /** The container image. */
  public Deployment image(String image) {
    this.image = image;
    return this;
  }

  /** Adds a container port. */
  public Deployment containerPort(int port) {
    ports.add(port);
    return this;
  }

  @Override
  void body(ObjectNode object) {
    Map<String, String> labels = selector.isEmpty() ? Map.of("app", name()) : selector;
    ObjectNode spec = object.putObject("spec");
    if (replicas != null) {
      spec.put("replicas", replicas);
    }
    ObjectNode match = spec.putObject("selector").putObject("matchLabels");
    labels.forEach(match::put);
    ObjectNode template = spec.putObject("template");
    ObjectNode podLabels = template.putObject("metadata").putObject("labels");
    labels.forEach(podLabels::put);
    ObjectNode container = template.putObject("spec").putArray("containers").addObject();
    container.put("name", name());
    if (image != null) {
      container.put("image", image);
    }
    if (!ports.isEmpty()) {
      ArrayNode p = container.putArray("ports");
      ports.forEach(port -> p.addObject().put("containerPort", port));
    }
  }
}
