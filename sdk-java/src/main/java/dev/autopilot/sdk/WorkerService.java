package dev.autopilot.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.ByteString;
import dev.autopilot.worker.v1.DescribeRequest;
import dev.autopilot.worker.v1.DescribeResponse;
import dev.autopilot.worker.v1.EventList;
import dev.autopilot.worker.v1.FinalizeRequest;
import dev.autopilot.worker.v1.FinalizeResponse;
import dev.autopilot.worker.v1.MetricResult;
import dev.autopilot.worker.v1.ObjectList;
import dev.autopilot.worker.v1.RequestMeta;
import dev.autopilot.worker.v1.SyncRequest;
import dev.autopilot.worker.v1.SyncResponse;
import dev.autopilot.worker.v1.TraceResult;
import dev.autopilot.worker.v1.WorkerServiceGrpc;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The gRPC edge: turns requests into {@link Context}s, calls the registered handlers and turns
 * their outcomes and failures into responses and status codes. Nothing past this class sees a
 * protobuf type.
 */
final class WorkerService<S, I> extends WorkerServiceGrpc.WorkerServiceImplBase {
  /** The protocol version this SDK speaks. */
  static final String PROTOCOL_VERSION = "v1";

  private static final Logger LOG = Logger.getLogger(WorkerService.class.getName());
  private static final Metadata.Key<String> TRACEPARENT =
      Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);
  private static final io.grpc.Context.Key<String> TRACEPARENT_KEY =
      io.grpc.Context.key("traceparent");

  private final Worker<S, I> worker;

  WorkerService(Worker<S, I> worker) {
    this.worker = worker;
  }

  /** Copies the {@code traceparent} request header into the call's gRPC context. */
  static ServerInterceptor traceparentInterceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String traceparent = headers.get(TRACEPARENT);
        if (traceparent == null) {
          return next.startCall(call, headers);
        }
        return Contexts.interceptCall(
            io.grpc.Context.current().withValue(TRACEPARENT_KEY, traceparent), call, headers, next);
      }
    };
  }

  @Override
  public void describe(DescribeRequest request, StreamObserver<DescribeResponse> out) {
    out.onNext(
        DescribeResponse.newBuilder()
            .setProtocolVersion(PROTOCOL_VERSION)
            .setWorkerName(worker.name())
            .setWorkerVersion(worker.version())
            .addAllPhases(worker.phases())
            .setFinalize(worker.finalizeHandler().isPresent())
            .addCapabilities("traceparent")
            .build());
    out.onCompleted();
  }

  @Override
  public void sync(SyncRequest request, StreamObserver<SyncResponse> out) {
    PhaseHandler<S, I> handler = worker.handler(request.getPhase()).orElse(null);
    if (handler == null) {
      out.onError(
          Status.UNIMPLEMENTED
              .withDescription("worker " + worker.name() + " does not serve phase " + request.getPhase())
              .asException());
      return;
    }
    try {
      Context.Builder<S, I> builder = context(request.getPhase(), request.getResource(), request.getMeta());
      for (Map.Entry<String, ObjectList> input : request.getObjectsMap().entrySet()) {
        ObjectList list = input.getValue();
        if (!list.getError().isEmpty()) {
          builder.objectsUnavailable(input.getKey(), list.getError());
        } else {
          List<JsonNode> items = new ArrayList<>();
          for (ByteString item : list.getItemsList()) {
            items.add(Json.parse(item.toByteArray()));
          }
          builder.objects(input.getKey(), items);
        }
      }
      for (Map.Entry<String, MetricResult> metric : request.getMetricsMap().entrySet()) {
        builder.metric(metric.getKey(), metric(metric.getValue()));
      }
      for (Map.Entry<String, TraceResult> trace : request.getTracesMap().entrySet()) {
        builder.trace(trace.getKey(), trace(trace.getValue()));
      }
      for (Map.Entry<String, EventList> source : request.getEventsMap().entrySet()) {
        EventList list = source.getValue();
        if (!list.getError().isEmpty()) {
          builder.eventsUnavailable(source.getKey(), list.getError());
        } else {
          List<ExternalEvent> items = new ArrayList<>();
          for (dev.autopilot.worker.v1.ExternalEvent e : list.getItemsList()) {
            items.add(event(e));
          }
          builder.events(source.getKey(), items);
        }
      }
      Outcome<I> outcome = handler.handle(builder.build());
      out.onNext(response(outcome));
      out.onCompleted();
    } catch (WorkerException e) {
      out.onError(e.toStatusException());
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "the " + request.getPhase() + " handler failed", e);
      out.onError(
          Status.INTERNAL
              .withDescription("the " + request.getPhase() + " handler failed: " + e)
              .asException());
    }
  }

  @Override
  public void finalize(FinalizeRequest request, StreamObserver<FinalizeResponse> out) {
    FinalizeHandler<S, I> handler = worker.finalizeHandler().orElse(null);
    if (handler == null) {
      out.onError(
          Status.UNIMPLEMENTED
              .withDescription("worker " + worker.name() + " does not implement Finalize")
              .asException());
      return;
    }
    try {
      Finalized finalized = handler.finalize(context("", request.getResource(), request.getMeta()).build());
      FinalizeResponse.Builder response = FinalizeResponse.newBuilder().setDone(finalized.isDone());
      finalized.events().forEach(e -> response.addEvents(event(e)));
      finalized.requeue().ifPresent(d -> response.setRequeueAfterMs(d.toMillis()));
      out.onNext(response.build());
      out.onCompleted();
    } catch (WorkerException e) {
      out.onError(e.toStatusException());
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "the finalize handler failed", e);
      out.onError(
          Status.INTERNAL.withDescription("the finalize handler failed: " + e).asException());
    }
  }

  private Context.Builder<S, I> context(String phase, ByteString resource, RequestMeta meta)
      throws WorkerException {
    JsonNode json;
    try {
      json = Json.parse(resource.toByteArray());
    } catch (RuntimeException e) {
      throw WorkerException.invalid("the resource is not JSON: " + e.getMessage()).withCause(e);
    }
    Context.Builder<S, I> builder =
        Context.builder(worker.specType(), worker.statusInfoType())
            .resource(json)
            .phase(phase)
            .attempt(meta.getAttempt())
            .tag(meta.getTag())
            .operatorName(meta.getOperatorName());
    if (meta.getGeneration() != 0) {
      builder.generation(meta.getGeneration());
    }
    if (meta.getDeadlineUnixMs() != 0) {
      builder.deadline(Instant.ofEpochMilli(meta.getDeadlineUnixMs()));
    }
    String traceparent = TRACEPARENT_KEY.get();
    if (traceparent != null) {
      builder.traceparent(traceparent);
    }
    return builder;
  }

  static Trace.SpanStats stats(dev.autopilot.worker.v1.SpanStats s) {
    return new Trace.SpanStats(
        s.getService(),
        s.getOperation(),
        s.getSpanCount(),
        s.getErrorCount(),
        s.getErrorRatio(),
        s.getP50Ms(),
        s.getP90Ms(),
        s.getP99Ms());
  }

  static Trace trace(TraceResult result) {
    List<Trace.SpanStats> operations = new ArrayList<>();
    for (dev.autopilot.worker.v1.SpanStats o : result.getOperationsList()) {
      operations.add(stats(o));
    }
    List<Trace.Sample> samples = new ArrayList<>();
    for (dev.autopilot.worker.v1.TraceSample s : result.getSamplesList()) {
      List<Trace.ErrorSpan> errors = new ArrayList<>();
      for (dev.autopilot.worker.v1.ErrorSpan e : s.getErrorSpansList()) {
        errors.add(new Trace.ErrorSpan(e.getService(), e.getOperation(), e.getStatusMessage()));
      }
      samples.add(
          new Trace.Sample(
              s.getTraceId(),
              s.getRootService(),
              s.getRootOperation(),
              s.getDurationMs(),
              s.getStartUnixMs(),
              List.copyOf(errors)));
    }
    String error = result.getError().isEmpty() ? null : result.getError();
    return new Trace(
        result.getQuery(),
        result.getNoData(),
        error,
        stats(result.getTotal()),
        List.copyOf(operations),
        List.copyOf(samples));
  }

  static ExternalEvent event(dev.autopilot.worker.v1.ExternalEvent e) {
    return new ExternalEvent(
        e.getId(),
        e.getSource(),
        e.getType(),
        e.getSubject(),
        e.getTimeUnixMs() > 0 ? Instant.ofEpochMilli(e.getTimeUnixMs()) : null,
        e.getDataContentType(),
        e.getData().toByteArray(),
        Map.copyOf(e.getExtensionsMap()),
        e.getAcceptedUnixMs() > 0 ? Instant.ofEpochMilli(e.getAcceptedUnixMs()) : null);
  }

  static Metric metric(MetricResult result) {
    List<Metric.Series> series = new ArrayList<>();
    for (dev.autopilot.worker.v1.Series s : result.getSeriesList()) {
      List<Metric.Sample> samples = new ArrayList<>();
      for (dev.autopilot.worker.v1.Sample sample : s.getSamplesList()) {
        double value = sample.getIsNan() ? Double.NaN : sample.getValue();
        samples.add(new Metric.Sample(sample.getTimestampMs(), value));
      }
      series.add(new Metric.Series(Map.copyOf(s.getLabelsMap()), List.copyOf(samples)));
    }
    Metric.Kind kind =
        switch (result.getType()) {
          case RESULT_TYPE_SCALAR -> Metric.Kind.SCALAR;
          case RESULT_TYPE_VECTOR -> Metric.Kind.VECTOR;
          case RESULT_TYPE_MATRIX -> Metric.Kind.MATRIX;
          default -> Metric.Kind.UNSPECIFIED;
        };
    String error = result.getError().isEmpty() ? null : result.getError();
    return new Metric(result.getQuery(), kind, List.copyOf(series), result.getNoData(), error);
  }

  private SyncResponse response(Outcome<I> outcome) {
    SyncResponse.Builder response = SyncResponse.newBuilder();
    outcome.nextPhase().ifPresent(response::setNextPhase);
    for (JsonNode output : outcome.outputs()) {
      response.addOutputs(ByteString.copyFrom(Json.bytes(output)));
    }
    outcome
        .statusInfo()
        .ifPresent(i -> response.setStatusInfo(ByteString.copyFrom(Json.bytes(Json.tree(i)))));
    for (Condition c : outcome.conditions()) {
      response.addConditions(
          dev.autopilot.worker.v1.Condition.newBuilder()
              .setType(c.type())
              .setStatus(c.status())
              .setReason(c.reason())
              .setMessage(c.message()));
    }
    outcome.events().forEach(e -> response.addEvents(event(e)));
    outcome.requeue().ifPresent(d -> response.setRequeueAfterMs(d.toMillis()));
    return response.build();
  }

  private static dev.autopilot.worker.v1.Event event(Event e) {
    return dev.autopilot.worker.v1.Event.newBuilder()
        .setSeverity(
            e.severity() == Event.Severity.WARNING
                ? dev.autopilot.worker.v1.Event.Severity.SEVERITY_WARNING
                : dev.autopilot.worker.v1.Event.Severity.SEVERITY_NORMAL)
        .setReason(e.reason())
        .setMessage(e.message())
        .build();
  }
}
