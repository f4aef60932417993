package com.example.canary.phases;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.example.canary.model.Spec;
import com.example.canary.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Json;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Phase handlers called as plain functions: no gRPC, no cluster. */
class InitializingTest {
  @Test
  void movesOn() throws Exception {
    var ctx =
        Context.builder(Spec.class, StatusInfo.class)
            .phase("Initializing")
            .name("example")
            .namespace("default")
            .spec(Json.MAPPER.readTree("""
                {
                  "stepWeight": 10,
                  "successThreshold": 0.99,
                  "target": "example"
                }
                """))
            .build();
    assertEquals(Optional.of("Processing"), Initializing.handle(ctx).nextPhase());
  }
}
