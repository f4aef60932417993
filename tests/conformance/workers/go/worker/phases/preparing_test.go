package phases_test

import (
	"encoding/json"
	"testing"

	autopilot "autopilot.dev/sdk-go"

	"probe-worker/model"
	"probe-worker/phases"
)

func probeContext(t *testing.T, b *autopilot.ContextBuilder[model.Spec, model.StatusInfo]) *model.Context {
	t.Helper()
	ctx, err := b.Name("p").Namespace("ns").SpecJSON(`{"target":"web","factor":3,"failFirst":1}`).Build()
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func TestPreparingCountsAndCreates(t *testing.T) {
	ctx := probeContext(t, autopilot.NewTestContext[model.Spec, model.StatusInfo]().
		Phase("Preparing").
		ObjectsJSON(model.InputConfigmaps, `{"metadata":{"name":"a"}}`, `{"metadata":{"name":"b"}}`))
	outcome, err := phases.Preparing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := outcome.StatusInfo()
	if outcome.NextPhase() != "Checking" || *info.(model.StatusInfo).Seen != 2 {
		t.Errorf("next %q info %+v", outcome.NextPhase(), info)
	}
	var configMap struct {
		Metadata struct {
			Name   string
			Labels map[string]string
		}
		Data map[string]string
	}
	if err := json.Unmarshal(outcome.Outputs()[0], &configMap); err != nil {
		t.Fatal(err)
	}
	if configMap.Metadata.Name != "p-probe" || configMap.Metadata.Labels["probe"] != "p" || configMap.Data["target"] != "web" {
		t.Errorf("config map %+v", configMap)
	}
}

func TestCheckingFailsFirstThenChecksTwice(t *testing.T) {
	metrics := func(b *autopilot.ContextBuilder[model.Spec, model.StatusInfo]) *autopilot.ContextBuilder[model.Spec, model.StatusInfo] {
		return b.Phase("Checking").
			Metric(model.QueryOne, autopilot.ScalarMetric(3).WithQuery("vector(3)")).
			Metric(model.QueryMissing, autopilot.NoDataMetric())
	}
	_, err := phases.Checking(probeContext(t, metrics(autopilot.NewTestContext[model.Spec, model.StatusInfo]()).Attempt(1)))
	if err == nil || err.Error() != "transient failure 1" {
		t.Fatalf("attempt 1: %v", err)
	}
	first, err := phases.Checking(probeContext(t, metrics(autopilot.NewTestContext[model.Spec, model.StatusInfo]()).Attempt(2)))
	if err != nil {
		t.Fatal(err)
	}
	if first.NextPhase() != "" || first.Requeue().Milliseconds() != 300 {
		t.Errorf("first check: next %q requeue %v", first.NextPhase(), first.Requeue())
	}
	second, err := phases.Checking(probeContext(t, metrics(autopilot.NewTestContext[model.Spec, model.StatusInfo]()).
		Attempt(3).StatusInfoJSON(`{"seen":0,"checks":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := second.StatusInfo()
	if second.NextPhase() != "Done" || *info.(model.StatusInfo).Checks != 2 || *info.(model.StatusInfo).LastQuery != "vector(3)" {
		t.Errorf("second check: next %q info %+v", second.NextPhase(), info)
	}
	if events := second.Events(); len(events) != 1 || events[0].Message != "one=3 missing=no-data" {
		t.Errorf("events %+v", events)
	}
}
