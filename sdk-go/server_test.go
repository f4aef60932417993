package autopilot_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	autopilot "autopilot.dev/sdk-go"
	pb "autopilot.dev/sdk-go/workerv1"
)

// testTimeout bounds every call of these tests so that a hung server fails instead of hanging.
const testTimeout = 10 * time.Second

func probeWorker() *autopilot.Worker[spec, info] {
	return autopilot.NewWorker[spec, info]("probe").
		Version("1.2.3").
		Phase("Checking", func(ctx *autopilot.Context[spec, info]) (*autopilot.Outcome, error) {
			if ctx.Attempt() == 1 {
				return nil, autopilot.Retryable("transient failure 1").WithRetryAfter(1500 * time.Millisecond)
			}
			if ctx.Spec().Target == "" {
				return nil, autopilot.Permanent("no target")
			}
			one, err := ctx.Metric("one")
			if err != nil {
				return nil, err
			}
			v, err := one.Value()
			if err != nil {
				return nil, err
			}
			checks := int64(1)
			if prev := ctx.StatusInfo(); prev != nil {
				checks += prev.Checks
			}
			return autopilot.Next("Done").
				Status(info{Checks: checks}).
				Condition("Checked", true, "Done", ctx.Traceparent()).
				EventWarning("Value", v.String()).
				Output(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": ctx.Name()}}), nil
		}).
		Phase("Preparing", func(ctx *autopilot.Context[spec, info]) (*autopilot.Outcome, error) {
			if ctx.Spec().Target == "own-condition" {
				return autopilot.Next("Done").Condition("MetricsAvailable", true, "Measured", ""), nil
			}
			panic("boom")
		}).
		Finalize(func(*autopilot.Context[spec, info]) (*autopilot.Finalized, error) {
			return autopilot.NotYet().RequeueAfter(200 * time.Millisecond), nil
		})
}

// serve starts w on address and returns a connection to it; the server stops when the test ends.
func serve(t *testing.T, w *autopilot.Worker[spec, info], address string) *grpc.ClientConn {
	t.Helper()
	lis, err := autopilot.Listen(address)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx, lis, autopilot.Config{Address: address}) }()
	target := "passthrough:///" + lis.Addr().String()
	if lis.Addr().Network() == "unix" {
		target = "unix://" + lis.Addr().String()
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(testTimeout):
			t.Error("the server did not stop within the test timeout after its context ended")
		}
	})
	return conn
}

func TestServesTheContract(t *testing.T) {
	conn := serve(t, probeWorker(), "127.0.0.1:0")
	client := pb.NewWorkerServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	described, err := client.Describe(ctx, &pb.DescribeRequest{ProtocolVersion: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if described.ProtocolVersion != "v1" || described.WorkerName != "probe" || described.WorkerVersion != "1.2.3" ||
		len(described.Phases) != 2 || described.Phases[0] != "Checking" || !described.Finalize ||
		len(described.Capabilities) != 1 || described.Capabilities[0] != "traceparent" {
		t.Errorf("describe: %v", described)
	}

	resource := []byte(`{"apiVersion":"conformance.autopilot.dev/v1","kind":"Probe","metadata":{"name":"p","namespace":"ns","generation":2},"spec":{"target":"t"},"status":{"statusInfo":{"checks":1}}}`)
	request := &pb.SyncRequest{
		Phase:    "Checking",
		Resource: resource,
		Metrics: map[string]*pb.MetricResult{"one": {
			Query: "vector(3)", Type: pb.MetricResult_RESULT_TYPE_VECTOR,
			Series: []*pb.Series{{Samples: []*pb.Sample{{Value: 3}}}},
		}},
		Meta: &pb.RequestMeta{Attempt: 1, Generation: 2, DeadlineUnixMs: time.Now().Add(time.Minute).UnixMilli()},
	}

	var trailer metadata.MD
	_, err = client.Sync(ctx, request, grpc.Trailer(&trailer))
	if status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "transient failure 1" {
		t.Errorf("attempt 1: %v", err)
	}
	if got := trailer.Get(autopilot.RetryAfterTrailer); len(got) != 1 || got[0] != "1500" {
		t.Errorf("retry-after trailer: %v", trailer)
	}

	request.Meta.Attempt = 2
	traced := metadata.AppendToOutgoingContext(ctx, "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	response, err := client.Sync(traced, request)
	if err != nil {
		t.Fatal(err)
	}
	if response.NextPhase != "Done" || string(response.StatusInfo) != `{"checks":2}` || len(response.Outputs) != 1 {
		t.Errorf("sync: %v", response)
	}
	if len(response.Conditions) != 1 || response.Conditions[0].Message != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("traceparent not passed on: %v", response.Conditions)
	}
	if len(response.Events) != 1 || response.Events[0].Severity != pb.Event_SEVERITY_WARNING || response.Events[0].Message != "3" {
		t.Errorf("events: %v", response.Events)
	}
	var output map[string]any
	if err := json.Unmarshal(response.Outputs[0], &output); err != nil || output["kind"] != "ConfigMap" {
		t.Errorf("output %s: %v", response.Outputs[0], err)
	}

	request.Resource = []byte(`{"metadata":{"name":"p"},"spec":{"target":""}}`)
	if _, err := client.Sync(ctx, request); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("permanent: %v", err)
	}
	request.Resource = []byte(`{"metadata":{"name":"p"},"spec":{"target":7}}`)
	if _, err := client.Sync(ctx, request); status.Code(err) != codes.InvalidArgument {
		t.Errorf("spec of the wrong type: %v", err)
	}
	request.Resource = resource
	request.Phase = "Preparing"
	if _, err := client.Sync(ctx, request); status.Code(err) != codes.Internal {
		t.Errorf("panicking handler: %v", err)
	}
	request.Resource = []byte(`{"metadata":{"name":"p"},"spec":{"target":"own-condition"}}`)
	_, err = client.Sync(ctx, request)
	if status.Code(err) != codes.Internal || !strings.Contains(status.Convert(err).Message(), "condition type MetricsAvailable is owned by the scheduler") {
		t.Errorf("a condition the scheduler owns: %v", err)
	}
	request.Resource = resource
	request.Phase = "Unknown"
	if _, err := client.Sync(ctx, request); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown phase: %v", err)
	}

	finalized, err := client.Finalize(ctx, &pb.FinalizeRequest{Resource: resource, Meta: &pb.RequestMeta{Attempt: 1}})
	if err != nil || finalized.Done || finalized.RequeueAfterMs != 200 {
		t.Errorf("finalize: %v %v", finalized, err)
	}

	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "autopilot.worker.v1.WorkerService"} {
		h, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v %v", service, h, err)
		}
	}
}

func TestServesOnAUnixSocket(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "worker.sock")
	conn := serve(t, probeWorker(), "unix:"+socket)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	described, err := pb.NewWorkerServiceClient(conn).Describe(ctx, &pb.DescribeRequest{ProtocolVersion: "v1"})
	if err != nil || described.WorkerName != "probe" {
		t.Fatalf("describe over %s: %v %v", socket, described, err)
	}
}

func TestFinalizeWithoutHandlerIsUnimplemented(t *testing.T) {
	conn := serve(t, autopilot.NewWorker[spec, info]("plain"), "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client := pb.NewWorkerServiceClient(conn)
	described, err := client.Describe(ctx, &pb.DescribeRequest{})
	if err != nil || described.Finalize {
		t.Errorf("describe: %v %v", described, err)
	}
	if _, err := client.Finalize(ctx, &pb.FinalizeRequest{Resource: []byte(`{}`)}); status.Code(err) != codes.Unimplemented {
		t.Errorf("finalize: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(autopilot.AddrEnv, "")
	config, err := autopilot.ConfigFromEnv()
	if err != nil || config.Address != autopilot.DefaultAddr || config.MaxMessageBytes != autopilot.DefaultMaxMessageBytes {
		t.Errorf("defaults: %+v %v", config, err)
	}
	t.Setenv(autopilot.AddrEnv, "unix:/run/w.sock")
	t.Setenv(autopilot.MaxMessageBytesEnv, "1024")
	config, err = autopilot.ConfigFromEnv()
	if err != nil || config.Address != "unix:/run/w.sock" || config.MaxMessageBytes != 1024 {
		t.Errorf("set: %+v %v", config, err)
	}
	t.Setenv(autopilot.TLSCertEnv, "cert.pem")
	if _, err := autopilot.ConfigFromEnv(); err == nil {
		t.Error("a certificate without a key is accepted")
	}
}
