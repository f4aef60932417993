package autopilot

import (
	"testing"

	pb "autopilot.dev/sdk-go/workerv1"
)

func TestTraceStatsTellNoDataAndFailureApart(t *testing.T) {
	if s, err := (&Trace{NoData: true}).Stats(); s != nil || err != nil {
		t.Fatalf("no data: %v %v", s, err)
	}
	failed := Trace{Query: "service=web", Error: "down"}
	if _, err := failed.Stats(); err == nil || !IsRetryable(CodeOf(err)) {
		t.Fatalf("a failed search is a retryable error, got %v", err)
	}
	tr := TraceFromOperations(
		NewSpanStats("web", "GET /", 100, 0, 10, 12, 20),
		NewSpanStats("web", "charge", 100, 25, 5, 6, 9),
	)
	s, err := tr.Stats()
	if err != nil || s.SpanCount != 200 || s.ErrorRatio != 0.125 {
		t.Fatalf("total: %+v %v", s, err)
	}
	if w := tr.WorstOperation(); w == nil || w.Operation != "charge" {
		t.Fatalf("worst: %+v", w)
	}
	if tr.Operation("GET /").P99Ms != 20 || tr.Operation("POST /") != nil {
		t.Fatal("operation lookup")
	}
}

func TestTraceFromProto(t *testing.T) {
	tr := traceFromProto(&pb.TraceResult{
		Query: "service=web",
		Total: &pb.SpanStats{SpanCount: 20, ErrorCount: 5, ErrorRatio: 0.25},
		Operations: []*pb.SpanStats{
			{Service: "web", Operation: "GET /", SpanCount: 10},
			{Service: "web", Operation: "charge", SpanCount: 10, ErrorCount: 5, ErrorRatio: 0.5, P99Ms: 9},
		},
		Samples: []*pb.TraceSample{{
			TraceId: "ab", RootService: "web", RootOperation: "GET /", DurationMs: 12.5, StartUnixMs: 7,
			ErrorSpans: []*pb.ErrorSpan{{Service: "web", Operation: "charge", StatusMessage: "declined"}},
		}},
	})
	if s, err := tr.Stats(); err != nil || s.ErrorRatio != 0.25 {
		t.Fatalf("total: %+v %v", s, err)
	}
	if w := tr.WorstOperation(); w == nil || w.Operation != "charge" || w.P99Ms != 9 {
		t.Fatalf("worst: %+v", w)
	}
	if s := tr.Samples[0]; s.DurationMs != 12.5 || s.ErrorSpans[0].StatusMessage != "declined" {
		t.Fatalf("sample: %+v", s)
	}
	if down := traceFromProto(&pb.TraceResult{Error: "unreachable"}); down.Error != "unreachable" {
		t.Fatalf("error: %+v", down)
	}
}
