package phases

import (
	"fmt"
	"time"

	autopilot "autopilot.dev/sdk-go"

	"probe-worker/model"
)

// Checking fails on request, checks the metric inputs, and moves on to Done on its second
// successful run (SCENARIO.md, "Checking").
func Checking(ctx *model.Context) (*autopilot.Outcome, error) {
	spec := ctx.Spec()
	if spec.Permanent != nil && *spec.Permanent {
		return nil, autopilot.Permanent("permanent failure requested")
	}
	var failFirst int64
	if spec.FailFirst != nil {
		failFirst = *spec.FailFirst
	}
	if int64(ctx.Attempt()) <= failFirst {
		return nil, autopilot.Retryable("transient failure %d", ctx.Attempt())
	}
	var factor int64
	if spec.Factor != nil {
		factor = *spec.Factor
	}

	one, err := ctx.Metric(model.QueryOne)
	if err != nil {
		return nil, err
	}
	oneValue, err := one.Value()
	if err != nil {
		return nil, err
	}
	if v, ok := oneValue.Float(); !ok || v != float64(factor) {
		return nil, autopilot.Invalid("metric one is %v, want %d", oneValue, factor)
	}
	missing, err := ctx.Metric(model.QueryMissing)
	if err != nil {
		return nil, err
	}
	missingValue, err := missing.Value()
	if err != nil {
		return nil, err
	}
	if !missingValue.NoData {
		return nil, autopilot.Invalid("metric missing is %v, want no data", missingValue)
	}

	var info model.StatusInfo
	if previous := ctx.StatusInfo(); previous != nil {
		info = *previous
	}
	checks := int64(1)
	if info.Checks != nil {
		checks += *info.Checks
	}
	info.Checks = &checks
	info.LastQuery = &one.Query

	var outcome *autopilot.Outcome
	if checks < 2 {
		outcome = autopilot.Stay().RequeueAfter(300 * time.Millisecond)
	} else {
		outcome = autopilot.Next("Done").
			EventNormal("Checked", fmt.Sprintf("one=%v missing=no-data", oneValue))
	}
	return outcome.Output(probeConfigMap(ctx)).Status(info), nil
}
