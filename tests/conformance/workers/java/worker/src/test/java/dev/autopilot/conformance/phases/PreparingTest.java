package dev.autopilot.conformance.phases;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.autopilot.conformance.model.Spec;
import dev.autopilot.conformance.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Metric;
import dev.autopilot.sdk.WorkerException;
import io.grpc.Status;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The conformance handlers called as plain functions: no gRPC, no cluster. */
class PreparingTest {
  private static Context.Builder<Spec, StatusInfo> probe(Spec spec) {
    return Context.builder(Spec.class, StatusInfo.class).name("p1").namespace("ns").spec(spec);
  }

  @Test
  void preparingCountsAndCreatesTheConfigMap() throws Exception {
    var ctx =
        probe(new Spec(3L, null, null, "web"))
            .phase("Preparing")
            .objects("configmaps", List.of(Map.of("kind", "ConfigMap")))
            .build();
    var outcome = Preparing.handle(ctx);
    assertEquals(Optional.of("Checking"), outcome.nextPhase());
    assertEquals(1L, outcome.statusInfo().orElseThrow().seen());
    assertEquals("p1-probe", outcome.outputs().get(0).at("/metadata/name").asText());
    assertEquals("web", outcome.outputs().get(0).at("/data/target").asText());
    assertEquals("prepared p1", outcome.events().get(0).message());
  }

  @Test
  void checkingStaysOnceThenFinishes() throws Exception {
    var first =
        probe(new Spec(3L, null, null, "web"))
            .phase("Checking")
            .statusInfo(new StatusInfo(null, null, 1L))
            .metric("one", Metric.scalar(3).withQuery("vector(3)"))
            .metric("missing", Metric.empty())
            .build();
    var stay = Checking.handle(first);
    assertEquals(Optional.empty(), stay.nextPhase());
    assertEquals(new StatusInfo(1L, "vector(3)", 1L), stay.statusInfo().orElseThrow());
    var second =
        probe(new Spec(3L, null, null, "web"))
            .phase("Checking")
            .statusInfo(stay.statusInfo().orElseThrow())
            .metric("one", Metric.scalar(3).withQuery("vector(3)"))
            .metric("missing", Metric.empty())
            .build();
    var done = Checking.handle(second);
    assertEquals(Optional.of("Done"), done.nextPhase());
    assertEquals("one=3 missing=no-data", done.events().get(0).message());
  }

  @Test
  void checkingFailsAsAsked() throws Exception {
    var permanent = probe(new Spec(3L, null, true, "web")).phase("Checking").build();
    assertEquals(
        Status.Code.FAILED_PRECONDITION,
        assertThrows(WorkerException.class, () -> Checking.handle(permanent)).code());
    var transientFailure = probe(new Spec(3L, 2L, null, "web")).phase("Checking").attempt(2).build();
    var e = assertThrows(WorkerException.class, () -> Checking.handle(transientFailure));
    assertEquals(Status.Code.UNAVAILABLE, e.code());
    assertEquals("transient failure 2", e.getMessage());
  }
}
