package autopilot_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	autopilot "autopilot.dev/sdk-go"
)

type spec struct {
	Target string `json:"target"`
	Factor *int64 `json:"factor,omitempty"`
}

type info struct {
	Checks int64 `json:"checks"`
}

func TestContextFromBuilder(t *testing.T) {
	deadline := time.Now().Add(time.Minute)
	ctx, err := autopilot.NewTestContext[spec, info]().
		Phase("Checking").
		Name("web").
		Namespace("shop").
		Label("team", "storefront").
		Generation(9223372036854775807).
		SpecJSON(`{"target": "web", "factor": 9007199254740993}`).
		StatusInfo(info{Checks: 2}).
		Condition(autopilot.NewCondition("Healthy", true, "Ok", "")).
		ObjectsJSON("configmaps", `{"metadata": {"name": "a", "labels": {"probe": "web"}}}`).
		Metric("one", autopilot.ScalarMetric(3).WithQuery("vector(3)")).
		Attempt(4).
		Tag("abc").
		Deadline(deadline).
		Traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").
		Build()
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Phase() != "Checking" || ctx.Name() != "web" || ctx.Namespace() != "shop" || ctx.UID() == "" {
		t.Errorf("identity: %q %q %q %q", ctx.Phase(), ctx.Name(), ctx.Namespace(), ctx.UID())
	}
	if ctx.Labels()["team"] != "storefront" || ctx.Generation() != math.MaxInt64 {
		t.Errorf("labels %v generation %d", ctx.Labels(), ctx.Generation())
	}
	if ctx.Spec().Target != "web" || *ctx.Spec().Factor != 9007199254740993 {
		t.Errorf("spec %+v", ctx.Spec())
	}
	if ctx.StatusInfo() == nil || ctx.StatusInfo().Checks != 2 {
		t.Errorf("statusInfo %+v", ctx.StatusInfo())
	}
	if c, ok := ctx.Condition("Healthy"); !ok || !c.IsTrue() {
		t.Errorf("condition %+v %v", c, ok)
	}
	objects, err := ctx.Objects("configmaps")
	if err != nil || len(objects) != 1 {
		t.Fatalf("objects %v %v", objects, err)
	}
	type configMap struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	typed, err := autopilot.ObjectsAs[configMap](ctx, "configmaps")
	if err != nil || typed[0].Metadata.Name != "a" {
		t.Errorf("typed objects %+v %v", typed, err)
	}
	m, err := ctx.Metric("one")
	if err != nil || m.Query != "vector(3)" {
		t.Fatalf("metric %+v %v", m, err)
	}
	if v, err := m.Value(); err != nil || v.Value != 3 {
		t.Errorf("value %v %v", v, err)
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		t.Errorf("deadline %v %v", d, ok)
	}
	if ctx.Attempt() != 4 || ctx.Tag() != "abc" || ctx.Traceparent() == "" {
		t.Errorf("meta %d %q %q", ctx.Attempt(), ctx.Tag(), ctx.Traceparent())
	}
}

func TestMissingAndUnavailableInputs(t *testing.T) {
	ctx, err := autopilot.NewTestContext[spec, info]().Phase("P").InputUnavailable("routes", "no CRD").Build()
	if err != nil {
		t.Fatal(err)
	}
	if ctx.StatusInfo() != nil {
		t.Errorf("statusInfo before the first one: %+v", ctx.StatusInfo())
	}
	_, err = ctx.Objects("routes")
	if autopilot.CodeOf(err) != codes.Unavailable {
		t.Errorf("unavailable input: %v", err)
	}
	_, err = ctx.Objects("services")
	if autopilot.CodeOf(err) != codes.InvalidArgument {
		t.Errorf("missing input: %v", err)
	}
	_, err = ctx.Metric("latency")
	if autopilot.CodeOf(err) != codes.InvalidArgument {
		t.Errorf("missing metric: %v", err)
	}
}

func TestSpecNotMatchingItsTypeIsInvalid(t *testing.T) {
	_, err := autopilot.NewTestContext[spec, info]().SpecJSON(`{"target": 5}`).Build()
	if autopilot.CodeOf(err) != codes.InvalidArgument {
		t.Fatalf("got %v", err)
	}
}

func TestMetricValues(t *testing.T) {
	cases := []struct {
		name   string
		metric autopilot.Metric
		want   string
		code   codes.Code
	}{
		{"scalar", autopilot.ScalarMetric(0.5), "0.5", codes.OK},
		{"infinity", autopilot.ScalarMetric(math.Inf(1)), "+Inf", codes.OK},
		{"nan", autopilot.NaNMetric(), "NaN", codes.OK},
		{"no data", autopilot.NoDataMetric(), "no-data", codes.OK},
		{"empty vector", autopilot.VectorMetric(), "no-data", codes.OK},
		{"latest sample", autopilot.MatrixMetric(autopilot.Series{Samples: []autopilot.Sample{{TimestampMs: 1, Value: 1}, {TimestampMs: 2, Value: 2}}}), "2", codes.OK},
		{"two series", autopilot.VectorMetric(autopilot.Series{Samples: []autopilot.Sample{{Value: 1}}}, autopilot.Series{Samples: []autopilot.Sample{{Value: 2}}}), "", codes.InvalidArgument},
		{"failed", autopilot.FailedMetric("connection refused"), "", codes.Unavailable},
	}
	for _, c := range cases {
		v, err := c.metric.Value()
		if c.code != codes.OK {
			if autopilot.CodeOf(err) != c.code {
				t.Errorf("%s: error %v, want code %v", c.name, err, c.code)
			}
			continue
		}
		if err != nil || v.String() != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, v, err, c.want)
		}
		if _, ok := v.Float(); ok != (c.want != "NaN" && c.want != "no-data") {
			t.Errorf("%s: Float ok = %v", c.name, ok)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	cases := []struct {
		err       error
		code      codes.Code
		retryable bool
	}{
		{autopilot.Retryable("busy"), codes.Unavailable, true},
		{autopilot.Permanent("no"), codes.FailedPrecondition, false},
		{autopilot.Invalid("bad"), codes.InvalidArgument, false},
		{errors.New("plain"), codes.Internal, false},
		{errors.Join(errors.New("wrapped"), autopilot.Retryable("busy")), codes.Unavailable, true},
	}
	for _, c := range cases {
		if got := autopilot.CodeOf(c.err); got != c.code || autopilot.IsRetryable(got) != c.retryable {
			t.Errorf("%v: code %v retryable %v", c.err, got, autopilot.IsRetryable(got))
		}
	}
	if d := autopilot.Retryable("busy").WithRetryAfter(time.Second).RetryAfter(); d != time.Second {
		t.Errorf("retry after %v", d)
	}
}

func TestOutcome(t *testing.T) {
	o := autopilot.Next("Done").
		Output(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}).
		Status(info{Checks: 1}).
		Condition("Healthy", true, "Ok", "fine").
		EventNormal("Checked", "one").
		EventWarning("Slow", "two").
		RequeueAfter(300 * time.Millisecond)
	if o.NextPhase() != "Done" || len(o.Outputs()) != 1 || len(o.Conditions()) != 1 || len(o.Events()) != 2 || o.Requeue() != 300*time.Millisecond || o.Err() != nil {
		t.Errorf("outcome %+v", o)
	}
	if s, ok := o.StatusInfo(); !ok || s.(info).Checks != 1 {
		t.Errorf("status %v", s)
	}
	if autopilot.Stay().NextPhase() != "" {
		t.Error("stay has a next phase")
	}
	if bad := autopilot.Stay().Output(func() {}); bad.Err() == nil {
		t.Error("an output that is not JSON is not reported")
	}
	for _, owned := range autopilot.SchedulerConditions {
		o := autopilot.Stay().Condition("Healthy", true, "Ok", "").Condition(owned, true, "Mine", "")
		want := "condition 1: condition type " + owned + " is owned by the scheduler (it owns Ready, Progressing, WorkerError, InputsAvailable, MetricsAvailable, Paused, AwaitingApproval, Aborted)"
		if o.Err() == nil || !strings.HasPrefix(o.Err().Error(), want) || len(o.Conditions()) != 1 {
			t.Errorf("a %s condition is not refused: %v", owned, o.Err())
		}
	}
	if o := autopilot.Stay().Condition("", true, "Ok", ""); o.Err() == nil || o.Err().Error() != "condition 0: a condition needs a type" {
		t.Errorf("a condition without a type is not refused: %v", o.Err())
	}
	if !autopilot.Done().IsDone() || autopilot.NotYet().RequeueAfter(time.Second).IsDone() {
		t.Error("finalized")
	}
}
