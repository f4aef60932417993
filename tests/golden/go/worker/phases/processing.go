package phases

import (
	autopilot "autopilot.dev/sdk-go"

	"canary-worker/model"
)

// Processing handles one resource in the Processing phase: shift traffic step by step while the success rate holds.
//
// Inputs:
//   - ctx.Objects(model.InputVirtualservices): the VirtualService (networking.istio.io/v1) objects
//   - ctx.Metric(model.QuerySuccessRate): the result of the query success-rate
//
// Outputs it may return with Outcome.Output: VirtualService (networking.istio.io/v1).
//
// It may move to: Finished.
//
// As scaffolded it moves straight on to Finished; replace the body with the phase's logic.
func Processing(ctx *model.Context) (*autopilot.Outcome, error) {
	return autopilot.Next("Finished"), nil
}
