package phases

import (
	autopilot "autopilot.dev/sdk-go"

	"probe-worker/model"
)

// Preparing counts the ConfigMaps labelled probe=<name>, creates <name>-probe, and moves on to
// Checking (SCENARIO.md, "Preparing").
func Preparing(ctx *model.Context) (*autopilot.Outcome, error) {
	configMaps, err := ctx.Objects(model.InputConfigmaps)
	if err != nil {
		return nil, err
	}
	seen := int64(len(configMaps))
	message := "prepared " + ctx.Name()
	return autopilot.Next("Checking").
		Output(probeConfigMap(ctx)).
		Status(model.StatusInfo{Seen: &seen}).
		Condition("Prepared", true, "Created", message).
		EventNormal("Prepared", message), nil
}
