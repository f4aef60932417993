package phases

import (
	"autopilot.dev/sdk-go/outputs"

	"probe-worker/model"
)

// probeConfigMap is the ConfigMap both phases return: <name>-probe, labelled probe=<name>.
func probeConfigMap(ctx *model.Context) *outputs.ConfigMapBuilder {
	target := ""
	if t := ctx.Spec().Target; t != nil {
		target = *t
	}
	return outputs.ConfigMap(ctx.Name()+"-probe").
		Label("probe", ctx.Name()).
		Data("target", target)
}
