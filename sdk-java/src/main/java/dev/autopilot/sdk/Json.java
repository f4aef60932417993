package dev.autopilot.sdk;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;

/** The one JSON mapper of the SDK: lenient on unknown fields, exact on numbers, no nulls out. */
public final class Json {
  /** Shared and thread-safe once configured. */
  public static final ObjectMapper MAPPER =
      new ObjectMapper()
          .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
          .configure(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS, false)
          .setSerializationInclusion(JsonInclude.Include.NON_NULL);

  private Json() {}

  /** Any value (a model record, a map, an output builder, a {@link JsonNode}) as a JSON tree. */
  public static JsonNode tree(Object value) {
    if (value instanceof JsonNode node) {
      return node;
    }
    if (value instanceof KubernetesObject object) {
      return object.toJson();
    }
    return MAPPER.valueToTree(value);
  }

  /** A JSON tree converted to {@code type}; fails with {@link IllegalArgumentException}. */
  public static <T> T convert(JsonNode node, Class<T> type) {
    try {
      return MAPPER.treeToValue(node, type);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          "does not match " + type.getSimpleName() + ": " + e.getOriginalMessage(), e);
    }
  }

  static JsonNode parse(byte[] bytes) {
    try {
      return MAPPER.readTree(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] bytes(JsonNode node) {
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }
}
