package phases_test

import (
	"testing"

	autopilot "autopilot.dev/sdk-go"

	"canary-worker/model"
	"canary-worker/phases"
)

// TestInitializingMovesOn calls a phase handler as a plain function: no gRPC, no cluster.
func TestInitializingMovesOn(t *testing.T) {
	ctx, err := autopilot.NewTestContext[model.Spec, model.StatusInfo]().
		Phase("Initializing").
		Name("example").
		Namespace("default").
		SpecJSON(`{"stepWeight":10,"successThreshold":0.99,"target":"example"}`).
		Build()
	if err != nil {
		t.Fatalf("the example spec does not match the Spec type: %v", err)
	}
	outcome, err := phases.Initializing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outcome.NextPhase(), "Processing"; got != want {
		t.Errorf("next phase = %q, want %q", got, want)
	}
}
