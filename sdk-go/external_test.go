package autopilot_test

// Tests of ExternalEvent and Context.Events.

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	autopilot "autopilot.dev/sdk-go"
)

func TestEvents(t *testing.T) {
	ctx, err := autopilot.NewTestContext[spec, info]().
		Events("pr-merged", autopilot.ExternalEvent{
			ID: "d-1", Source: "https://github.com/o/r", Type: "pull_request.closed",
			DataContentType: "application/json", Data: []byte(`{"number": 7}`),
		}).
		EventsUnavailable("approval", "API server down").
		Build()
	if err != nil {
		t.Fatal(err)
	}
	events, err := ctx.Events("pr-merged")
	if err != nil || len(events) != 1 || events[0].ID != "d-1" {
		t.Fatalf("Events = %v, %v", events, err)
	}
	var pr struct {
		Number int64 `json:"number"`
	}
	if err := events[0].DecodeData(&pr); err != nil || pr.Number != 7 {
		t.Fatalf("DecodeData = %v, %v", pr, err)
	}
	var bad struct {
		Number string `json:"number"`
	}
	var werr *autopilot.Error
	if err := events[0].DecodeData(&bad); !errors.As(err, &werr) || werr.Code() != codes.InvalidArgument {
		t.Fatalf("DecodeData into the wrong type = %v", err)
	}
	if _, err := ctx.Events("approval"); !errors.As(err, &werr) || werr.Code() != codes.Unavailable {
		t.Fatalf("unavailable events = %v", err)
	}
	if _, err := ctx.Events("nope"); !errors.As(err, &werr) || werr.Code() != codes.InvalidArgument {
		t.Fatalf("undeclared source = %v", err)
	}
}
