package dev.autopilot.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.ByteString;
import dev.autopilot.worker.v1.DescribeRequest;
import dev.autopilot.worker.v1.DescribeResponse;
import dev.autopilot.worker.v1.FinalizeRequest;
import dev.autopilot.worker.v1.MetricResult;
import dev.autopilot.worker.v1.ObjectList;
import dev.autopilot.worker.v1.RequestMeta;
import dev.autopilot.worker.v1.Sample;
import dev.autopilot.worker.v1.Series;
import dev.autopilot.worker.v1.SyncRequest;
import dev.autopilot.worker.v1.SyncResponse;
import dev.autopilot.worker.v1.WorkerServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The worker served over real gRPC: Describe, Sync and Finalize as the scheduler calls them. */
class WorkerTest {
  record Spec(String target, Long factor) {}

  record Info(Long checks, String lastQuery) {}

  private static Worker<Spec, Info> worker() {
    return new Worker<>("probe-worker", Spec.class, Info.class)
        .version("1.2.3")
        .phase(
            "Checking",
            ctx -> {
              if (ctx.spec().factor() == null) {
                throw WorkerException.retryable("no factor yet", Duration.ofMillis(1500));
              }
              if (ctx.spec().factor() < 0) {
                throw WorkerException.permanent("negative factor");
              }
              MetricValue one = ctx.metric("one").value();
              long seen = ctx.objects("configmaps").size();
              return Outcome.<Info>next("Done")
                  .statusInfo(new Info(seen, ctx.metric("one").query()))
                  .condition("Checked", one.asDouble().isPresent(), "Measured", "one=" + one)
                  .eventWarning("Checked", ctx.traceparent().orElse("none"))
                  .requeueAfter(Duration.ofMillis(300))
                  .output(dev.autopilot.sdk.outputs.Outputs.configMap(ctx.name() + "-probe").data("target", ctx.spec().target()));
            })
        .finalizer(ctx -> Finalized.notYet().requeueAfter(Duration.ofMillis(200)));
  }

  private static SyncRequest request(String spec) {
    String resource =
        "{\"apiVersion\":\"conformance.autopilot.dev/v1\",\"kind\":\"Probe\","
            + "\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\",\"generation\":3},\"spec\":" + spec + "}";
    return SyncRequest.newBuilder()
        .setPhase("Checking")
        .setResource(ByteString.copyFromUtf8(resource))
        .putObjects(
            "configmaps",
            ObjectList.newBuilder().addItems(ByteString.copyFromUtf8("{\"kind\":\"ConfigMap\"}")).build())
        .putMetrics(
            "one",
            MetricResult.newBuilder()
                .setQuery("vector(3)")
                .setType(MetricResult.ResultType.RESULT_TYPE_VECTOR)
                .addSeries(Series.newBuilder().addSamples(Sample.newBuilder().setTimestampMs(1).setValue(3)))
                .build())
        .setMeta(RequestMeta.newBuilder().setAttempt(2).setGeneration(3).setTag("t"))
        .build();
  }

  @Test
  void servesTheContractOverTcp() throws Exception {
    Worker.Running running = worker().start("127.0.0.1:0");
    ManagedChannel channel = NettyChannelBuilder.forTarget(running.address()).usePlaintext().build();
    try {
      var stub = WorkerServiceGrpc.newBlockingStub(channel);
      DescribeResponse describe =
          stub.describe(DescribeRequest.newBuilder().setProtocolVersion("v1").build());
      assertEquals("v1", describe.getProtocolVersion());
      assertEquals(List.of("Checking"), describe.getPhasesList());
      assertTrue(describe.getFinalize());
      assertEquals(List.of("traceparent"), describe.getCapabilitiesList());
      assertEquals("1.2.3", describe.getWorkerVersion());

      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER), "00-abc-def-01");
      SyncResponse sync =
          stub.withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers))
              .sync(request("{\"target\":\"web\",\"factor\":3}"));
      assertEquals("Done", sync.getNextPhase());
      assertEquals(300, sync.getRequeueAfterMs());
      assertEquals("{\"checks\":1,\"lastQuery\":\"vector(3)\"}", sync.getStatusInfo().toStringUtf8());
      assertEquals("True", sync.getConditions(0).getStatus());
      assertEquals("00-abc-def-01", sync.getEvents(0).getMessage());
      JsonNode output = Json.parse(sync.getOutputs(0).toByteArray());
      assertEquals("p1-probe", output.path("metadata").path("name").asText());
      assertEquals("web", output.path("data").path("target").asText());

      StatusRuntimeException retry =
          assertThrows(StatusRuntimeException.class, () -> stub.sync(request("{\"target\":\"web\"}")));
      assertEquals(Status.Code.UNAVAILABLE, retry.getStatus().getCode());
      assertEquals("1500", retry.getTrailers().get(WorkerException.RETRY_AFTER));
      StatusRuntimeException permanent =
          assertThrows(StatusRuntimeException.class, () -> stub.sync(request("{\"factor\":-1}")));
      assertEquals(Status.Code.FAILED_PRECONDITION, permanent.getStatus().getCode());
      StatusRuntimeException unknown =
          assertThrows(StatusRuntimeException.class, () -> stub.sync(request("{}").toBuilder().setPhase("Nope").build()));
      assertEquals(Status.Code.UNIMPLEMENTED, unknown.getStatus().getCode());

      var finalized = stub.finalize(FinalizeRequest.newBuilder().setResource(request("{}").getResource()).build());
      assertFalse(finalized.getDone());
      assertEquals(200, finalized.getRequeueAfterMs());

      HealthCheckResponse health =
          HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder().build());
      assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
    } finally {
      channel.shutdownNow();
      running.shutdown(Duration.ofSeconds(5));
    }
  }

  @Test
  void servesOnAUnixSocket(@TempDir Path dir) throws Exception {
    Path socket = dir.resolve("worker.sock");
    Worker.Running running = worker().start("unix:" + socket);
    EpollEventLoopGroup group = new EpollEventLoopGroup(1);
    ManagedChannel channel =
        NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
            .channelType(EpollDomainSocketChannel.class)
            .eventLoopGroup(group)
            .usePlaintext()
            .build();
    try {
      assertTrue(Files.exists(socket));
      var describe = WorkerServiceGrpc.newBlockingStub(channel).describe(DescribeRequest.getDefaultInstance());
      assertEquals("probe-worker", describe.getWorkerName());
    } finally {
      channel.shutdownNow();
      running.shutdown(Duration.ofSeconds(5));
      group.shutdownGracefully();
    }
  }

  @Test
  void handlersAreCalledAsPlainFunctions() throws Exception {
    var ctx =
        Context.builder(Spec.class, Info.class)
            .phase("Checking")
            .name("p1")
            .namespace("shop")
            .label("team", "web")
            .spec(new Spec("web", 3L))
            .statusInfo(new Info(4L, null))
            .objects("configmaps", List.of(Map.of("kind", "ConfigMap")))
            .metric("one", Metric.scalar(3).withQuery("vector(3)"))
            .attempt(2)
            .build();
    assertEquals("p1", ctx.name());
    assertEquals("shop", ctx.namespace().orElseThrow());
    assertEquals(Map.of("team", "web"), ctx.labels());
    assertEquals(4L, ctx.statusInfo().orElseThrow().checks());
    assertEquals(2, ctx.attempt());
    Outcome<Info> outcome = worker().handler("Checking").orElseThrow().handle(ctx);
    assertEquals("Done", outcome.nextPhase().orElseThrow());
    assertEquals(1L, outcome.statusInfo().orElseThrow().checks());
    WorkerException missing = assertThrows(WorkerException.class, () -> ctx.metric("absent"));
    assertEquals(Status.Code.INVALID_ARGUMENT, missing.code());
  }

  @Test
  void conditionsTheSchedulerOwnsAreRefusedWhereTheyAreSet() {
    assertEquals(
        List.of(
            "Ready",
            "Progressing",
            "WorkerError",
            "InputsAvailable",
            "MetricsAvailable",
            "Paused",
            "AwaitingApproval",
            "Aborted"),
        Condition.SCHEDULER_CONDITIONS);
    for (String owned : Condition.SCHEDULER_CONDITIONS) {
      IllegalArgumentException refused =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Outcome.<Info>stay()
                      .condition("Healthy", true, "Ok", "")
                      .condition(owned, true, "Mine", ""));
      assertTrue(
          refused
              .getMessage()
              .startsWith(
                  "condition type "
                      + owned
                      + " is owned by the scheduler (it owns Ready, Progressing, WorkerError,"
                      + " InputsAvailable, MetricsAvailable, Paused, AwaitingApproval, Aborted)"),
          refused.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () -> Outcome.<Info>stay().condition(new Condition(owned, "True", "Mine", "")));
    }
    IllegalArgumentException empty =
        assertThrows(
            IllegalArgumentException.class, () -> Outcome.<Info>stay().condition("", true, "Ok", ""));
    assertEquals("a condition needs a type", empty.getMessage());
    assertEquals(1, Outcome.<Info>stay().condition("Healthy", true, "Ok", "").conditions().size());
  }

  @Test
  void metricValuesKeepNoDataAndNaNApart() throws Exception {
    assertEquals(new MetricValue.Value(0.5), Metric.scalar(0.5).value());
    assertTrue(Metric.empty().value().isNoData());
    assertTrue(Metric.nan().value().isNaN());
    MetricResult nan =
        MetricResult.newBuilder()
            .setType(MetricResult.ResultType.RESULT_TYPE_SCALAR)
            .addSeries(Series.newBuilder().addSamples(Sample.newBuilder().setIsNan(true)))
            .build();
    assertTrue(WorkerService.metric(nan).value().isNaN());
    WorkerException failed = assertThrows(WorkerException.class, () -> Metric.failed("down").value());
    assertEquals(Status.Code.UNAVAILABLE, failed.code());
  }

  @Test
  void traceResultsBecomeTypedTraces() throws Exception {
    var result =
        dev.autopilot.worker.v1.TraceResult.newBuilder()
            .setQuery("service=web")
            .setTotal(
                dev.autopilot.worker.v1.SpanStats.newBuilder()
                    .setSpanCount(20)
                    .setErrorCount(5)
                    .setErrorRatio(0.25))
            .addOperations(
                dev.autopilot.worker.v1.SpanStats.newBuilder()
                    .setService("web")
                    .setOperation("charge")
                    .setSpanCount(10)
                    .setErrorCount(5)
                    .setErrorRatio(0.5))
            .addSamples(
                dev.autopilot.worker.v1.TraceSample.newBuilder()
                    .setTraceId("ab")
                    .setDurationMs(12.5)
                    .addErrorSpans(
                        dev.autopilot.worker.v1.ErrorSpan.newBuilder()
                            .setOperation("charge")
                            .setStatusMessage("declined")))
            .build();
    Trace trace = WorkerService.trace(result);
    assertEquals(0.25, trace.stats().orElseThrow().errorRatio());
    assertEquals("charge", trace.worstOperation().orElseThrow().operation());
    assertEquals("declined", trace.samples().get(0).errorSpans().get(0).statusMessage());
    assertTrue(Trace.empty().stats().isEmpty());
    WorkerException failed = assertThrows(WorkerException.class, () -> Trace.failed("down").stats());
    assertEquals(Status.Code.UNAVAILABLE, failed.code());
  }

  @Test
  void outputsRenderWeightedRoutes() {
    var vs =
        dev.autopilot.sdk.outputs.Outputs.virtualService("web")
            .route(
                dev.autopilot.sdk.outputs.VirtualService.Destination.of("web").subset("stable").weight(90),
                dev.autopilot.sdk.outputs.VirtualService.Destination.of("web").subset("canary").weight(10))
            .toJson();
    assertEquals(10, vs.at("/spec/http/0/route/1/weight").asInt());
    assertEquals("web", vs.at("/spec/hosts/0").asText());
    var route =
        dev.autopilot.sdk.outputs.Outputs.httpRoute("web")
            .parentGateway("public")
            .rule(dev.autopilot.sdk.outputs.HttpRoute.Backend.of("web-canary").port(80).weight(20))
            .toJson();
    assertEquals("HTTPRoute", route.path("kind").asText());
    assertEquals(20, route.at("/spec/rules/0/backendRefs/0/weight").asInt());
    var deployment = dev.autopilot.sdk.outputs.Outputs.deployment("web").image("nginx").replicas(2).toJson();
    assertEquals("web", deployment.at("/spec/selector/matchLabels/app").asText());
    var service = dev.autopilot.sdk.outputs.Outputs.service("web").port("http", 80, 8080).toJson();
    assertEquals(8080, service.at("/spec/ports/0/targetPort").asInt());
  }

  @Test
  void listenSettingsComeFromTheEnvironment() throws Exception {
    var listen = Worker.Listen.fromEnv(Map.<String, String>of()::get);
    assertEquals(Worker.DEFAULT_ADDR, listen.address());
    var set = Worker.Listen.fromEnv(Map.of(Worker.ADDR_ENV, "unix:/tmp/x.sock", Worker.MAX_MESSAGE_BYTES_ENV, "1024")::get);
    assertEquals("unix:/tmp/x.sock", set.address());
    assertEquals(1024, set.maxMessageBytes());
    assertEquals(StandardCharsets.UTF_8.name(), "UTF-8");
  }
}
