package dev.autopilot.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What a phase handler is given: the custom resource with spec and statusInfo already typed, the
 * phase's inputs, and facts about the call.
 *
 * <p>The SDK builds it from the gRPC request; tests build one with {@link #builder}:
 *
 * <pre>{@code
 * var ctx = Context.builder(Spec.class, StatusInfo.class)
 *     .phase("Analyzing").name("web").namespace("shop")
 *     .spec(new Spec("web", 20L))
 *     .metric("success-rate", Metric.scalar(0.99))
 *     .build();
 * Outcome<StatusInfo> outcome = Analyzing.handle(ctx);
 * }</pre>
 *
 * @param <S> the resource's spec type
 * @param <I> the resource's statusInfo type
 */
public final class Context<S, I> {
  private final String phase;
  private final JsonNode resource;
  private final S spec;
  private final I statusInfo;
  private final Map<String, List<JsonNode>> objects;
  private final Map<String, String> objectErrors;
  private final Map<String, Metric> metrics;
  private final Map<String, Trace> traces;
  private final Map<String, List<ExternalEvent>> events;
  private final Map<String, String> eventErrors;
  private final int attempt;
  private final String tag;
  private final Instant deadline;
  private final long generation;
  private final String operatorName;
  private final String traceparent;

  private Context(Builder<S, I> b, S spec, I statusInfo) {
    this.phase = b.phase;
    this.resource = b.resource;
    this.spec = spec;
    this.statusInfo = statusInfo;
    this.objects = Map.copyOf(b.objects);
    this.objectErrors = Map.copyOf(b.objectErrors);
    this.metrics = Map.copyOf(b.metrics);
    this.traces = Map.copyOf(b.traces);
    this.events = Map.copyOf(b.events);
    this.eventErrors = Map.copyOf(b.eventErrors);
    this.attempt = b.attempt;
    this.tag = b.tag;
    this.deadline = b.deadline;
    this.generation = b.generation;
    this.operatorName = b.operatorName;
    this.traceparent = b.traceparent;
  }

  /**
   * A builder for tests: a namespaced resource {@code default/test}, generation 1, an empty spec,
   * attempt 1 and no inputs.
   */
  public static <S, I> Builder<S, I> builder(Class<S> specType, Class<I> statusInfoType) {
    return new Builder<>(specType, statusInfoType);
  }

  /** The phase being run (empty in a Finalize call). */
  public String phase() {
    return phase;
  }

  /** The resource's {@code metadata.name}. */
  public String name() {
    return resource.path("metadata").path("name").asText("");
  }

  /** The resource's {@code metadata.namespace}; empty for a cluster-scoped resource. */
  public Optional<String> namespace() {
    return text(resource.path("metadata").path("namespace"));
  }

  /** The resource's {@code metadata.uid}, when set. */
  public Optional<String> uid() {
    return text(resource.path("metadata").path("uid"));
  }

  /** The resource's {@code metadata.generation} when the request was built. */
  public long generation() {
    return generation;
  }

  /** The resource's labels. */
  public Map<String, String> labels() {
    return stringMap(resource.path("metadata").path("labels"));
  }

  /** The resource's annotations. */
  public Map<String, String> annotations() {
    return stringMap(resource.path("metadata").path("annotations"));
  }

  /** The whole custom resource (apiVersion, kind, metadata, spec, status) as sent. */
  public JsonNode resource() {
    return resource;
  }

  /** The resource's spec, typed. */
  public S spec() {
    return spec;
  }

  /** The statusInfo the worker returned last time, typed; empty before the first one. */
  public Optional<I> statusInfo() {
    return Optional.ofNullable(statusInfo);
  }

  /**
   * The objects of the resource input {@code key} (as declared in autopilot.yaml).
   *
   * @throws WorkerException retryable when the scheduler could not gather them; invalid when the
   *     phase declares no such input
   */
  public List<JsonNode> objects(String key) throws WorkerException {
    String error = objectErrors.get(key);
    if (error != null) {
      throw WorkerException.retryable("input " + key + " is unavailable: " + error);
    }
    List<JsonNode> list = objects.get(key);
    if (list == null) {
      throw WorkerException.invalid("this phase has no input named " + key);
    }
    return list;
  }

  /** The objects of the resource input {@code key}, each converted to {@code type}. */
  public <T> List<T> objects(String key, Class<T> type) throws WorkerException {
    List<T> out = new ArrayList<>();
    for (JsonNode node : objects(key)) {
      try {
        out.add(Json.convert(node, type));
      } catch (IllegalArgumentException e) {
        throw WorkerException.invalid("input " + key + ": " + e.getMessage()).withCause(e);
      }
    }
    return out;
  }

  /**
   * The result of the query {@code name}.
   *
   * @throws WorkerException invalid when the phase reads no such query
   */
  public Metric metric(String name) throws WorkerException {
    Metric metric = metrics.get(name);
    if (metric == null) {
      throw WorkerException.invalid("this phase reads no query named " + name);
    }
    return metric;
  }

  /** Every query result, by name. */
  public Map<String, Metric> metrics() {
    return metrics;
  }

  /**
   * The result of the trace query {@code name}.
   *
   * @throws WorkerException invalid when the phase reads no such trace query
   */
  public Trace trace(String name) throws WorkerException {
    Trace trace = traces.get(name);
    if (trace == null) {
      throw WorkerException.invalid("this phase reads no trace query named " + name);
    }
    return trace;
  }

  /** Every trace query result, by name. */
  public Map<String, Trace> traces() {
    return traces;
  }

  /**
   * The pending events of the event source {@code source} (as declared in autopilot.yaml),
   * oldest first.
   *
   * @throws WorkerException retryable when the scheduler could not read them; invalid when the
   *     phase does not list the source among its inputs
   */
  public List<ExternalEvent> events(String source) throws WorkerException {
    String error = eventErrors.get(source);
    if (error != null) {
      throw WorkerException.retryable("events of " + source + " are unavailable: " + error);
    }
    List<ExternalEvent> list = events.get(source);
    if (list == null) {
      throw WorkerException.invalid("this phase has no event source named " + source);
    }
    return list;
  }

  /** 1 for the first call of this phase for this resource, incremented on every retry. */
  public int attempt() {
    return attempt;
  }

  /** A hash of the spec and every input: equal tags mean equal inputs. */
  public String tag() {
    return tag;
  }

  /** When the scheduler stops waiting for this call, when set. */
  public Optional<Instant> deadline() {
    return Optional.ofNullable(deadline);
  }

  /** The operator's name (operatorName in autopilot.yaml). */
  public String operatorName() {
    return operatorName;
  }

  /** The W3C traceparent of the scheduler's span, when sent. */
  public Optional<String> traceparent() {
    return Optional.ofNullable(traceparent);
  }

  private static Optional<String> text(JsonNode node) {
    return node.isTextual() && !node.asText().isEmpty() ? Optional.of(node.asText()) : Optional.empty();
  }

  private static Map<String, String> stringMap(JsonNode node) {
    Map<String, String> out = new TreeMap<>();
    node.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
    return out;
  }

  /**
   * Builds a {@link Context}; the SDK uses it for every call, tests use it directly.
   *
   * @param <S> the spec type
   * @param <I> the statusInfo type
   */
  public static final class Builder<S, I> {
    private final Class<S> specType;
    private final Class<I> statusInfoType;
    private String phase = "";
    private ObjectNode resource;
    private final Map<String, List<JsonNode>> objects = new LinkedHashMap<>();
    private final Map<String, String> objectErrors = new LinkedHashMap<>();
    private final Map<String, Metric> metrics = new LinkedHashMap<>();
    private final Map<String, Trace> traces = new LinkedHashMap<>();
    private final Map<String, List<ExternalEvent>> events = new LinkedHashMap<>();
    private final Map<String, String> eventErrors = new LinkedHashMap<>();
    private int attempt = 1;
    private String tag = "";
    private Instant deadline;
    private long generation = 1;
    private String operatorName = "";
    private String traceparent;

    private Builder(Class<S> specType, Class<I> statusInfoType) {
      this.specType = specType;
      this.statusInfoType = statusInfoType;
      JsonNodeFactory f = JsonNodeFactory.instance;
      resource = f.objectNode();
      ObjectNode metadata = resource.putObject("metadata");
      metadata.put("name", "test");
      metadata.put("namespace", "default");
      metadata.put("uid", "00000000-0000-0000-0000-000000000000");
      metadata.put("generation", 1);
      resource.putObject("spec");
    }

    /** The phase being run. */
    public Builder<S, I> phase(String phase) {
      this.phase = phase;
      return this;
    }

    /** The whole resource, replacing the default one. */
    public Builder<S, I> resource(JsonNode resource) {
      if (!(resource instanceof ObjectNode object)) {
        throw new IllegalArgumentException("the resource must be a JSON object");
      }
      this.resource = object.deepCopy();
      this.generation = resource.path("metadata").path("generation").asLong(generation);
      return this;
    }

    /** The resource's name. */
    public Builder<S, I> name(String name) {
      metadata().put("name", name);
      return this;
    }

    /** The resource's namespace. */
    public Builder<S, I> namespace(String namespace) {
      metadata().put("namespace", namespace);
      return this;
    }

    /** One label of the resource. */
    public Builder<S, I> label(String key, String value) {
      ObjectNode labels =
          metadata().has("labels") ? (ObjectNode) metadata().get("labels") : metadata().putObject("labels");
      labels.put(key, value);
      return this;
    }

    /** The resource's spec: a model record, a map or a {@link JsonNode}. */
    public Builder<S, I> spec(Object spec) {
      resource.set("spec", Json.tree(spec));
      return this;
    }

    /** The statusInfo the worker returned last time. */
    public Builder<S, I> statusInfo(Object statusInfo) {
      JsonNode status = resource.path("status");
      ObjectNode object = status instanceof ObjectNode o ? o : resource.putObject("status");
      object.set("statusInfo", Json.tree(statusInfo));
      return this;
    }

    /** The objects of the resource input {@code key}. */
    public Builder<S, I> objects(String key, List<?> items) {
      objects.put(key, items.stream().map(Json::tree).toList());
      return this;
    }

    /** The resource input {@code key} could not be gathered. */
    public Builder<S, I> objectsUnavailable(String key, String error) {
      objectErrors.put(key, error);
      objects.put(key, List.of());
      return this;
    }

    /** The result of the query {@code name}. */
    public Builder<S, I> metric(String name, Metric metric) {
      metrics.put(name, metric);
      return this;
    }

    /** The result of the trace query {@code name}. */
    public Builder<S, I> trace(String name, Trace trace) {
      traces.put(name, trace);
      return this;
    }

    /** The pending events of the event source {@code source}. */
    public Builder<S, I> events(String source, List<ExternalEvent> list) {
      events.put(source, List.copyOf(list));
      return this;
    }

    /** The events of source {@code source} could not be read. */
    public Builder<S, I> eventsUnavailable(String source, String error) {
      eventErrors.put(source, error);
      events.put(source, List.of());
      return this;
    }

    /** The attempt number (1 for the first call). */
    public Builder<S, I> attempt(int attempt) {
      this.attempt = attempt;
      return this;
    }

    /** The tag of the inputs. */
    public Builder<S, I> tag(String tag) {
      this.tag = tag;
      return this;
    }

    /** The call's deadline. */
    public Builder<S, I> deadline(Instant deadline) {
      this.deadline = deadline;
      return this;
    }

    /** The resource's generation. */
    public Builder<S, I> generation(long generation) {
      this.generation = generation;
      metadata().put("generation", generation);
      return this;
    }

    /** The operator's name. */
    public Builder<S, I> operatorName(String operatorName) {
      this.operatorName = operatorName;
      return this;
    }

    /** The W3C traceparent. */
    public Builder<S, I> traceparent(String traceparent) {
      this.traceparent = traceparent;
      return this;
    }

    /**
     * The context, with spec and statusInfo converted to their types.
     *
     * @throws WorkerException invalid when the spec or statusInfo does not match its type
     */
    public Context<S, I> build() throws WorkerException {
      S spec;
      try {
        spec = Json.convert(resource.path("spec").isMissingNode()
            ? JsonNodeFactory.instance.objectNode() : resource.get("spec"), specType);
      } catch (IllegalArgumentException e) {
        throw WorkerException.invalid("spec " + e.getMessage()).withCause(e);
      }
      I statusInfo = null;
      JsonNode info = resource.path("status").path("statusInfo");
      if (!info.isMissingNode() && !info.isNull()) {
        try {
          statusInfo = Json.convert(info, statusInfoType);
        } catch (IllegalArgumentException e) {
          throw WorkerException.invalid("statusInfo " + e.getMessage()).withCause(e);
        }
      }
      return new Context<>(this, spec, statusInfo);
    }

    private ObjectNode metadata() {
      return (ObjectNode) resource.get("metadata");
    }
  }
}
