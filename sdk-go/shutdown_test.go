package autopilot_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	autopilot "autopilot.dev/sdk-go"
	pb "autopilot.dev/sdk-go/workerv1"
)

// serveEnv, when set, makes the test binary a worker that serves from the environment: the
// SIGTERM test runs it as a child process.
const serveEnv = "AUTOPILOT_SDK_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		if err := probeWorker().ServeFromEnv(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSigtermStopsServingCleanly(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "worker.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"=1", autopilot.AddrEnv+"=unix:"+socket)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// WaitForReady: the child may not listen yet.
	described, err := pb.NewWorkerServiceClient(conn).Describe(ctx, &pb.DescribeRequest{}, grpc.WaitForReady(true))
	if err != nil || described.WorkerName != "probe" {
		t.Fatalf("describe: %v %v", described, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the worker did not exit cleanly after SIGTERM: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the worker was still running within the test timeout after SIGTERM")
	}
}
