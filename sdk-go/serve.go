package autopilot

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "autopilot.dev/sdk-go/workerv1"
)

// The environment ServeFromEnv reads.
const (
	// AddrEnv is the address to serve on: host:port, or unix:/path/to.sock.
	AddrEnv = "AUTOPILOT_WORKER_ADDR"
	// TLSCertEnv is the PEM certificate chain for TLS.
	TLSCertEnv = "AUTOPILOT_WORKER_TLS_CERT"
	// TLSKeyEnv is the PEM private key for TLS.
	TLSKeyEnv = "AUTOPILOT_WORKER_TLS_KEY"
	// TLSClientCAEnv is the PEM CA bundle client certificates must chain to (mTLS).
	TLSClientCAEnv = "AUTOPILOT_WORKER_TLS_CLIENT_CA"
	// MaxMessageBytesEnv is the largest request accepted, in bytes.
	MaxMessageBytesEnv = "AUTOPILOT_WORKER_MAX_MESSAGE_BYTES"
)

// DefaultAddr is served when AUTOPILOT_WORKER_ADDR is not set: loopback only, the sidecar default.
const DefaultAddr = "127.0.0.1:50051"

// DefaultMaxMessageBytes is the largest request accepted by default. A SyncRequest carries every
// object of the phase's inputs, which outgrows gRPC's usual 4 MiB long before it strains memory.
const DefaultMaxMessageBytes = 64 << 20

// ShutdownGrace is how long calls in flight may run after shutdown starts. Kubernetes kills a pod
// 30 s after SIGTERM by default; stopping at 25 s leaves time to exit cleanly.
const ShutdownGrace = 25 * time.Second

// serviceName is the health service entry of the worker service.
const serviceName = "autopilot.worker.v1.WorkerService"

// Config says where and how a worker serves.
type Config struct {
	// Address is host:port, or unix:/path/to.sock.
	Address string
	// TLSCert and TLSKey are PEM files; both empty serves plaintext.
	TLSCert, TLSKey string
	// TLSClientCA, when set, requires client certificates signed by this PEM CA bundle.
	TLSClientCA string
	// MaxMessageBytes is the largest request accepted.
	MaxMessageBytes int
}

// ConfigFromEnv reads the Config from the AUTOPILOT_WORKER_* variables.
func ConfigFromEnv() (Config, error) {
	return configFrom(func(name string) string { return strings.TrimSpace(os.Getenv(name)) })
}

func configFrom(lookup func(string) string) (Config, error) {
	c := Config{
		Address:         lookup(AddrEnv),
		TLSCert:         lookup(TLSCertEnv),
		TLSKey:          lookup(TLSKeyEnv),
		TLSClientCA:     lookup(TLSClientCAEnv),
		MaxMessageBytes: DefaultMaxMessageBytes,
	}
	if c.Address == "" {
		c.Address = DefaultAddr
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, fmt.Errorf("set both %s and %s for TLS, or neither for plaintext", TLSCertEnv, TLSKeyEnv)
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return c, fmt.Errorf("%s is set but %s and %s are not", TLSClientCAEnv, TLSCertEnv, TLSKeyEnv)
	}
	if text := lookup(MaxMessageBytesEnv); text != "" {
		n, err := strconv.Atoi(text)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("%s must be a number of bytes, not %q", MaxMessageBytesEnv, text)
		}
		c.MaxMessageBytes = n
	}
	return c, nil
}

// Listen opens the listener of address: a unix socket for unix:/path (replacing a socket file
// left behind by an earlier run), TCP otherwise.
func Listen(address string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(address, "unix:"); ok {
		if info, err := os.Stat(path); err == nil && info.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(path)
		}
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", address)
}

// ServeFromEnv serves on the address of AUTOPILOT_WORKER_ADDR (default 127.0.0.1:50051) until
// SIGTERM or SIGINT, then stops gracefully.
func (w *Worker[S, I]) ServeFromEnv() error {
	config, err := ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lis, err := Listen(config.Address)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", config.Address, err)
	}
	log.Printf("worker %s serving phases %v on %s", w.name, w.Phases(), config.Address)
	return w.Serve(ctx, lis, config)
}

// Serve serves on lis until ctx is done, then stops gracefully: the health service turns
// NOT_SERVING, the listener closes, and calls in flight may finish for at most ShutdownGrace.
//
// The gRPC health service answers SERVING for "" and for autopilot.worker.v1.WorkerService
// while the worker serves.
func (w *Worker[S, I]) Serve(ctx context.Context, lis net.Listener, config Config) error {
	opts, err := serverOptions(config)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterWorkerServiceServer(srv, w.Server())
	healthServer := health.NewServer()
	healthServer.SetServingStatus(serviceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, healthServer)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	healthServer.Shutdown()
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(ShutdownGrace):
		srv.Stop()
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func serverOptions(config Config) ([]grpc.ServerOption, error) {
	max := config.MaxMessageBytes
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(max), grpc.MaxSendMsgSize(max)}
	if config.TLSCert == "" {
		host, _, err := net.SplitHostPort(config.Address)
		if !strings.HasPrefix(config.Address, "unix:") && err == nil && !isLoopback(host) {
			log.Printf("warning: serving plaintext gRPC on %s; set %s and %s to serve TLS", config.Address, TLSCertEnv, TLSKeyEnv)
		}
		return opts, nil
	}
	cert, err := tls.LoadX509KeyPair(config.TLSCert, config.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("reading TLS certificate and key: %w", err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if config.TLSClientCA != "" {
		pem, err := os.ReadFile(config.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", config.TLSClientCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", config.TLSClientCA)
		}
		tlsConfig.ClientCAs = pool
		tlsConfig.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return append(opts, grpc.Creds(credentials.NewTLS(tlsConfig))), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
