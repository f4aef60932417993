package dev.autopilot.sdk.outputs;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.TreeMap;

/** A v1 ConfigMap; see {@link Outputs#configMap}. */
public final class ConfigMap extends ObjectBuilder<ConfigMap> {
  private final Map<String, String> data = new TreeMap<>();

  ConfigMap(String name) {
    super("v1", "ConfigMap", name);
  }

  /** Sets one data entry. */
  public ConfigMap data(String key, String value) {
    data.put(key, value);
    return this;
  }

  /** Sets every entry of {@code entries}. */
  public ConfigMap data(Map<String, String> entries) {
    data.putAll(entries);
    return this;
  }

  @Override
  void body(ObjectNode object) {
    ObjectNode d = object.putObject("data");
    data.forEach(d::put);
  }
}
