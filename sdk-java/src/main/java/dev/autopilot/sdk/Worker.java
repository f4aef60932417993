package dev.autopilot.sdk;

import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptors;
import io.grpc.TlsServerCredentials;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.logging.Logger;

/**
 * A worker: its phase handlers by phase name, an optional finalize handler, and the gRPC server
 * that serves them to the scheduler.
 *
 * <pre>{@code
 * public static void main(String[] args) throws Exception {
 *   new Worker<>("canary-worker", Spec.class, StatusInfo.class)
 *       .phase("Initializing", Initializing::handle)
 *       .phase("Analyzing", Analyzing::handle)
 *       .serveFromEnv();
 * }
 * }</pre>
 *
 * <p>Where it listens comes from the environment:
 *
 * <table>
 *   <caption>Environment</caption>
 *   <tr><td>{@code AUTOPILOT_WORKER_ADDR}</td><td>{@code host:port} (default {@code
 *       127.0.0.1:50051}), or {@code unix:/path/to.sock}</td></tr>
 *   <tr><td>{@code AUTOPILOT_WORKER_TLS_CERT}, {@code AUTOPILOT_WORKER_TLS_KEY}</td><td>PEM
 *       certificate chain and key: serve TLS</td></tr>
 *   <tr><td>{@code AUTOPILOT_WORKER_TLS_CLIENT_CA}</td><td>PEM CA bundle: also require client
 *       certificates signed by it</td></tr>
 *   <tr><td>{@code AUTOPILOT_WORKER_MAX_MESSAGE_BYTES}</td><td>largest request accepted (default
 *       64 MiB)</td></tr>
 * </table>
 *
 * <p>Besides the worker service it serves the standard gRPC health service, and on SIGTERM it
 * stops taking calls and lets the ones in flight finish (up to {@link #SHUTDOWN_GRACE}).
 *
 * @param <S> the resource's spec type
 * @param <I> the resource's statusInfo type
 */
public final class Worker<S, I> {
  /** Where to listen. */
  public static final String ADDR_ENV = "AUTOPILOT_WORKER_ADDR";
  /** PEM certificate chain for TLS. */
  public static final String TLS_CERT_ENV = "AUTOPILOT_WORKER_TLS_CERT";
  /** PEM private key for TLS. */
  public static final String TLS_KEY_ENV = "AUTOPILOT_WORKER_TLS_KEY";
  /** PEM CA bundle that client certificates must be signed by. */
  public static final String TLS_CLIENT_CA_ENV = "AUTOPILOT_WORKER_TLS_CLIENT_CA";
  /** Largest request accepted, in bytes. */
  public static final String MAX_MESSAGE_BYTES_ENV = "AUTOPILOT_WORKER_MAX_MESSAGE_BYTES";
  /** The address used when {@link #ADDR_ENV} is not set. */
  public static final String DEFAULT_ADDR = "127.0.0.1:50051";
  /** Requests carry whole object lists; the scheduler's own limit is of the same order. */
  public static final int DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
  /** How long in-flight calls may run after SIGTERM: below Kubernetes' 30 s default grace. */
  public static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(20);

  private static final Logger LOG = Logger.getLogger(Worker.class.getName());

  private final String name;
  private final Class<S> specType;
  private final Class<I> statusInfoType;
  private String version = "0.0.0";
  private final Map<String, PhaseHandler<S, I>> phases = new LinkedHashMap<>();
  private FinalizeHandler<S, I> finalizeHandler;

  /** A worker named {@code name} whose resources have these spec and statusInfo types. */
  public Worker(String name, Class<S> specType, Class<I> statusInfoType) {
    this.name = name;
    this.specType = specType;
    this.statusInfoType = statusInfoType;
  }

  /** The worker's own version, reported in Describe. */
  public Worker<S, I> version(String version) {
    this.version = version;
    return this;
  }

  /** Serves {@code phase} (named exactly as in autopilot.yaml) with {@code handler}. */
  public Worker<S, I> phase(String phase, PhaseHandler<S, I> handler) {
    if (phases.putIfAbsent(phase, handler) != null) {
      throw new IllegalArgumentException("phase " + phase + " is registered twice");
    }
    return this;
  }

  /** Implements Finalize with {@code handler}; Describe then reports finalize support. */
  public Worker<S, I> finalizer(FinalizeHandler<S, I> handler) {
    this.finalizeHandler = handler;
    return this;
  }

  /** The worker's name. */
  public String name() {
    return name;
  }

  /** The worker's version. */
  public String version() {
    return version;
  }

  /** The phases served, in registration order. */
  public List<String> phases() {
    return List.copyOf(phases.keySet());
  }

  Optional<PhaseHandler<S, I>> handler(String phase) {
    return Optional.ofNullable(phases.get(phase));
  }

  Optional<FinalizeHandler<S, I>> finalizeHandler() {
    return Optional.ofNullable(finalizeHandler);
  }

  Class<S> specType() {
    return specType;
  }

  Class<I> statusInfoType() {
    return statusInfoType;
  }

  /**
   * Serves on the address and TLS settings from the environment until SIGTERM or SIGINT, then
   * shuts down gracefully.
   *
   * @throws IOException when the address cannot be bound or the TLS files cannot be read
   */
  public void serveFromEnv() throws IOException, InterruptedException {
    serveFromEnv(System::getenv);
  }

  void serveFromEnv(Function<String, String> env) throws IOException, InterruptedException {
    Running running = start(Listen.fromEnv(env));
    Runtime.getRuntime()
        .addShutdownHook(new Thread(() -> running.shutdown(SHUTDOWN_GRACE), "autopilot-shutdown"));
    LOG.info(() -> "worker " + name + " serving " + phases() + " on " + running.address());
    running.awaitTermination();
  }

  /**
   * Starts serving on {@code address} ({@code host:port}, port 0 for any free port, or {@code
   * unix:/path}) without TLS, and returns at once.
   */
  public Running start(String address) throws IOException {
    return start(new Listen(address, null, DEFAULT_MAX_MESSAGE_BYTES));
  }

  private Running start(Listen listen) throws IOException {
    HealthStatusManager health = new HealthStatusManager();
    NettyServerBuilder builder;
    String shown;
    if (listen.address.startsWith("unix:")) {
      Path path = Path.of(listen.address.substring("unix:".length()));
      Files.deleteIfExists(path);
      builder =
          NettyServerBuilder.forAddress(new DomainSocketAddress(path.toFile()), listen.credentials())
              .channelType(EpollServerDomainSocketChannel.class)
              .bossEventLoopGroup(new EpollEventLoopGroup(1))
              .workerEventLoopGroup(new EpollEventLoopGroup());
      shown = listen.address;
    } else {
      builder = NettyServerBuilder.forAddress(socketAddress(listen.address), listen.credentials());
      shown = null;
    }
    Server server =
        builder
            .maxInboundMessageSize(listen.maxMessageBytes)
            .addService(
                ServerInterceptors.intercept(
                    new WorkerService<>(this), WorkerService.traceparentInterceptor()))
            .addService(health.getHealthService())
            .build()
            .start();
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus("autopilot.worker.v1.WorkerService", ServingStatus.SERVING);
    if (shown == null) {
      InetSocketAddress bound = (InetSocketAddress) server.getListenSockets().get(0);
      shown = bound.getHostString() + ":" + bound.getPort();
    }
    return new Running(server, health, shown);
  }

  static SocketAddress socketAddress(String address) {
    int colon = address.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException(
          "address " + address + " is neither host:port nor unix:/path");
    }
    String host = address.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(address.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("address " + address + " has no numeric port", e);
    }
    return host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
  }

  /** Where and how to listen, read from the environment. */
  record Listen(String address, ServerCredentials tls, int maxMessageBytes) {
    ServerCredentials credentials() {
      return tls == null ? InsecureServerCredentials.create() : tls;
    }

    static Listen fromEnv(Function<String, String> env) throws IOException {
      String address = Optional.ofNullable(env.apply(ADDR_ENV)).filter(s -> !s.isBlank()).orElse(DEFAULT_ADDR);
      String cert = env.apply(TLS_CERT_ENV);
      String key = env.apply(TLS_KEY_ENV);
      String clientCa = env.apply(TLS_CLIENT_CA_ENV);
      ServerCredentials tls = null;
      if (cert != null && !cert.isBlank()) {
        if (key == null || key.isBlank()) {
          throw new IllegalArgumentException(TLS_CERT_ENV + " is set but " + TLS_KEY_ENV + " is not");
        }
        TlsServerCredentials.Builder b = TlsServerCredentials.newBuilder().keyManager(new File(cert), new File(key));
        if (clientCa != null && !clientCa.isBlank()) {
          b.trustManager(new File(clientCa)).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
        }
        tls = b.build();
      }
      int max = DEFAULT_MAX_MESSAGE_BYTES;
      String maxText = env.apply(MAX_MESSAGE_BYTES_ENV);
      if (maxText != null && !maxText.isBlank()) {
        max = Integer.parseInt(maxText.trim());
      }
      return new Listen(address, tls, max);
    }
  }

  /** A started server: where it listens, and how to stop it. */
  public static final class Running {
    private final Server server;
    private final HealthStatusManager health;
    private final String address;

    private Running(Server server, HealthStatusManager health, String address) {
      this.server = server;
      this.health = health;
      this.address = address;
    }

    /** The address it listens on ({@code host:port} with the real port, or {@code unix:/path}). */
    public String address() {
      return address;
    }

    /** Stops taking calls, lets the ones in flight finish for up to {@code grace}, then stops. */
    public void shutdown(Duration grace) {
      health.enterTerminalState();
      server.shutdown();
      try {
        if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
          server.shutdownNow();
        }
      } catch (InterruptedException e) {
        server.shutdownNow();
        Thread.currentThread().interrupt();
      }
    }

    /** Blocks until the server has stopped. */
    public void awaitTermination() throws InterruptedException {
      server.awaitTermination();
    }
  }
}
