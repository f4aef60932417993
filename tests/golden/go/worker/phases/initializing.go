package phases

import (
	autopilot "autopilot.dev/sdk-go"

	"canary-worker/model"
)

// Initializing handles one resource in the Initializing phase: set up the traffic routing for the target.
//
// It has no inputs.
//
// Outputs it may return with Outcome.Output: VirtualService (networking.istio.io/v1).
//
// It may move to: Processing.
//
// As scaffolded it moves straight on to Processing; replace the body with the phase's logic.
func Initializing(ctx *model.Context) (*autopilot.Outcome, error) {
	return autopilot.Next("Processing"), nil
}
