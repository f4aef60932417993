package autopilot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "autopilot.dev/sdk-go/workerv1"
)

// server adapts a Worker to the generated gRPC service: it parses requests at the edge, calls the
// handler, and maps its error to a status code.
type server[S, I any] struct {
	pb.UnimplementedWorkerServiceServer
	worker *Worker[S, I]
}

// Server is the worker as a autopilot.worker.v1 WorkerService, to register on a grpc.Server of
// your own (Serve does this for you).
func (w *Worker[S, I]) Server() pb.WorkerServiceServer { return &server[S, I]{worker: w} }

func (s *server[S, I]) Describe(_ context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{
		ProtocolVersion: ProtocolVersion,
		WorkerName:      s.worker.name,
		WorkerVersion:   s.worker.version,
		Phases:          s.worker.Phases(),
		Finalize:        s.worker.HasFinalizer(),
		Capabilities:    []string{"traceparent"},
	}, nil
}

func (s *server[S, I]) Sync(ctx context.Context, req *pb.SyncRequest) (*pb.SyncResponse, error) {
	handler, ok := s.worker.phases[req.GetPhase()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "worker %q does not serve phase %q (it serves %v)", s.worker.name, req.GetPhase(), s.worker.Phases())
	}
	c, cancel, err := s.context(ctx, req.GetPhase(), req.GetResource(), req.GetMeta(), req.GetObjects(), req.GetMetrics(), req.GetTraces(), req.GetEvents())
	if err != nil {
		return nil, statusError(ctx, err)
	}
	defer cancel()
	outcome, err := call(func() (*Outcome, error) { return handler(c) })
	if err != nil {
		return nil, statusError(ctx, err)
	}
	if outcome == nil {
		outcome = Stay()
	}
	if outcome.err != nil {
		return nil, status.Errorf(codes.Internal, "phase %q returned an invalid outcome: %v", req.GetPhase(), outcome.err)
	}
	resp := &pb.SyncResponse{
		NextPhase:      outcome.nextPhase,
		RequeueAfterMs: millis(outcome.requeueAfter),
		Events:         events(outcome.events),
	}
	for _, o := range outcome.outputs {
		resp.Outputs = append(resp.Outputs, o)
	}
	if outcome.hasStatus {
		raw, err := json.Marshal(outcome.statusInfo)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "phase %q returned a statusInfo that is not JSON: %v", req.GetPhase(), err)
		}
		resp.StatusInfo = raw
	}
	for _, c := range outcome.conditions {
		resp.Conditions = append(resp.Conditions, &pb.Condition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
	}
	return resp, nil
}

func (s *server[S, I]) Finalize(ctx context.Context, req *pb.FinalizeRequest) (*pb.FinalizeResponse, error) {
	if s.worker.finalize == nil {
		return nil, status.Errorf(codes.Unimplemented, "worker %q has no finalize handler", s.worker.name)
	}
	c, cancel, err := s.context(ctx, "", req.GetResource(), req.GetMeta(), nil, nil, nil, nil)
	if err != nil {
		return nil, statusError(ctx, err)
	}
	defer cancel()
	var finalized *Finalized
	_, err = call(func() (*Outcome, error) {
		var err error
		finalized, err = s.worker.finalize(c)
		return nil, err
	})
	if err != nil {
		return nil, statusError(ctx, err)
	}
	if finalized == nil {
		finalized = NotYet()
	}
	return &pb.FinalizeResponse{
		Done:           finalized.done,
		Events:         events(finalized.events),
		RequeueAfterMs: millis(finalized.requeueAfter),
	}, nil
}

// context builds the handler's Context from one request.
func (s *server[S, I]) context(ctx context.Context, phase string, resource []byte, meta *pb.RequestMeta, objects map[string]*pb.ObjectList, metrics map[string]*pb.MetricResult, traces map[string]*pb.TraceResult, events map[string]*pb.EventList) (*Context[S, I], context.CancelFunc, error) {
	b := NewTestContext[S, I]().Parent(ctx).Phase(phase).Resource(resource).
		Attempt(meta.GetAttempt()).Tag(meta.GetTag()).OperatorName(meta.GetOperatorName())
	if g := meta.GetGeneration(); g > 0 {
		b.Generation(g)
	}
	if ms := meta.GetDeadlineUnixMs(); ms > 0 {
		b.Deadline(time.UnixMilli(ms))
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if tp := md.Get("traceparent"); len(tp) > 0 {
			b.Traceparent(tp[0])
		}
	}
	for key, list := range objects {
		if list.GetError() != "" {
			b.InputUnavailable(key, list.GetError())
			continue
		}
		items := make([]json.RawMessage, 0, len(list.GetItems()))
		for _, item := range list.GetItems() {
			items = append(items, item)
		}
		b.objects[key] = objectInput{items: items}
	}
	for key, m := range metrics {
		b.Metric(key, metricFromProto(m))
	}
	for key, t := range traces {
		b.Trace(key, traceFromProto(t))
	}
	for key, list := range events {
		if list.GetError() != "" {
			b.EventsUnavailable(key, list.GetError())
			continue
		}
		items := make([]ExternalEvent, 0, len(list.GetItems()))
		for _, e := range list.GetItems() {
			items = append(items, eventFromProto(e))
		}
		b.Events(key, items...)
	}
	return b.build()
}

func statsFromProto(s *pb.SpanStats) SpanStats {
	return SpanStats{
		Service: s.GetService(), Operation: s.GetOperation(),
		SpanCount: s.GetSpanCount(), ErrorCount: s.GetErrorCount(), ErrorRatio: s.GetErrorRatio(),
		P50Ms: s.GetP50Ms(), P90Ms: s.GetP90Ms(), P99Ms: s.GetP99Ms(),
	}
}

func traceFromProto(t *pb.TraceResult) Trace {
	out := Trace{Query: t.GetQuery(), NoData: t.GetNoData(), Error: t.GetError(), Total: statsFromProto(t.GetTotal())}
	for _, o := range t.GetOperations() {
		out.Operations = append(out.Operations, statsFromProto(o))
	}
	for _, s := range t.GetSamples() {
		sample := TraceSample{
			TraceID: s.GetTraceId(), RootService: s.GetRootService(), RootOperation: s.GetRootOperation(),
			DurationMs: s.GetDurationMs(), StartUnixMs: s.GetStartUnixMs(),
		}
		for _, e := range s.GetErrorSpans() {
			sample.ErrorSpans = append(sample.ErrorSpans, ErrorSpan{Service: e.GetService(), Operation: e.GetOperation(), StatusMessage: e.GetStatusMessage()})
		}
		out.Samples = append(out.Samples, sample)
	}
	return out
}

func metricFromProto(m *pb.MetricResult) Metric {
	out := Metric{Query: m.GetQuery(), Kind: MetricKind(m.GetType()), NoData: m.GetNoData(), Error: m.GetError()}
	for _, s := range m.GetSeries() {
		series := Series{Labels: s.GetLabels()}
		for _, sample := range s.GetSamples() {
			v := sample.GetValue()
			if sample.GetIsNan() {
				v = math.NaN()
			}
			series.Samples = append(series.Samples, Sample{TimestampMs: sample.GetTimestampMs(), Value: v})
		}
		out.Series = append(out.Series, series)
	}
	return out
}

// call runs a handler, turning a panic into an INTERNAL error instead of ending the worker.
func call(handler func() (*Outcome, error)) (outcome *Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return handler()
}

func statusError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	st, trailer := toStatus(err)
	if trailer != nil {
		_ = grpc.SetTrailer(ctx, trailer)
	}
	return st.Err()
}

func events(in []Event) []*pb.Event {
	out := make([]*pb.Event, 0, len(in))
	for _, e := range in {
		severity := pb.Event_SEVERITY_NORMAL
		if e.Severity == Warning {
			severity = pb.Event_SEVERITY_WARNING
		}
		out = append(out, &pb.Event{Severity: severity, Reason: e.Reason, Message: e.Message})
	}
	return out
}

func millis(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d.Milliseconds())
}
