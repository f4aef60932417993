package dev.autopilot.sdk.outputs;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.autopilot.sdk.KubernetesObject;
import java.util.Map;
import java.util.TreeMap;

/**
 * What every output builder shares: apiVersion, kind, name, namespace and labels.
 *
 * @param <B> the concrete builder, returned by the setters
 */
public abstract class ObjectBuilder<B extends ObjectBuilder<B>> implements KubernetesObject {
  private final String apiVersion;
  private final String kind;
  private final String name;
  private String namespace;
  private final Map<String, String> labels = new TreeMap<>();

  ObjectBuilder(String apiVersion, String kind, String name) {
    this.apiVersion = apiVersion;
    this.kind = kind;
    this.name = name;
  }

  @SuppressWarnings("unchecked")
  private B self() {
    return (B) this;
  }

  /** The namespace (default: the resource's). */
  public B namespace(String namespace) {
    this.namespace = namespace;
    return self();
  }

  /** Adds a label. */
  public B label(String key, String value) {
    labels.put(key, value);
    return self();
  }

  /** The object's name. */
  public String name() {
    return name;
  }

  @Override
  public final ObjectNode toJson() {
    ObjectNode object = JsonNodeFactory.instance.objectNode();
    object.put("apiVersion", apiVersion);
    object.put("kind", kind);
    ObjectNode metadata = object.putObject("metadata");
    metadata.put("name", name);
    if (namespace != null) {
      metadata.put("namespace", namespace);
    }
    if (!labels.isEmpty()) {
      ObjectNode l = metadata.putObject("labels");
      labels.forEach(l::put);
    }
    body(object);
    return object;
  }

  /** Adds the kind's own fields (spec, data) to {@code object}. */
  abstract void body(ObjectNode object);

  @Override
  public String toString() {
    return toJson().toString();
  }
}
