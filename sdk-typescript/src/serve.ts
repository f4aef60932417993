/**
 * Serving a {@link Worker} over gRPC (@grpc/grpc-js): on TCP or a unix socket, plaintext or TLS,
 * with the standard gRPC health service and graceful shutdown.
 *
 * `worker.serveFromEnv()` reads:
 *
 * | variable | meaning |
 * |---|---|
 * | `AUTOPILOT_WORKER_ADDR` | `host:port` (default `127.0.0.1:50051`), or `unix:/path/to.sock` |
 * | `AUTOPILOT_WORKER_TLS_CERT`, `AUTOPILOT_WORKER_TLS_KEY` | PEM certificate chain and key: serve TLS |
 * | `AUTOPILOT_WORKER_TLS_CLIENT_CA` | PEM CA bundle: also require client certificates (mTLS) |
 * | `AUTOPILOT_WORKER_MAX_MESSAGE_BYTES` | largest request accepted (default 64 MiB) |
 *
 * Guarantees: the health service answers SERVING for `""` and for
 * `autopilot.worker.v1.WorkerService` while the worker serves and NOT_SERVING once shutdown
 * starts; on SIGTERM or SIGINT the listener closes at once and calls in flight may finish for at
 * most {@link SHUTDOWN_GRACE_MS}; a stale unix socket file is replaced.
 */

import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { WorkerError } from "./errors";
import { Worker } from "./worker";
import * as wire from "./wire";

export const ADDR_ENV = "AUTOPILOT_WORKER_ADDR";
export const TLS_CERT_ENV = "AUTOPILOT_WORKER_TLS_CERT";
export const TLS_KEY_ENV = "AUTOPILOT_WORKER_TLS_KEY";
export const TLS_CLIENT_CA_ENV = "AUTOPILOT_WORKER_TLS_CLIENT_CA";
export const MAX_MESSAGE_BYTES_ENV = "AUTOPILOT_WORKER_MAX_MESSAGE_BYTES";

/** Loopback only, the sidecar default. */
export const DEFAULT_ADDR = "127.0.0.1:50051";
/** A SyncRequest carries every object of the phase's inputs, which outgrows gRPC's usual 4 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Kubernetes kills a pod 30 s after SIGTERM; stopping at 25 s leaves time to exit cleanly. */
export const SHUTDOWN_GRACE_MS = 25_000;

/** PEM files for TLS. */
export interface Tls {
  cert: string;
  key: string;
  clientCa?: string;
}

/** How to serve. */
export interface Config {
  /** `host:port` or `unix:/path`. */
  address: string;
  tls?: Tls;
  maxMessageBytes: number;
  /** Stop on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
}

/**
 * The configuration in `env` (usually `process.env`).
 *
 * @throws {Error} when only one of the TLS certificate and key is set, or the size is not a number.
 */
export function configFromEnv(env: Record<string, string | undefined>): Config {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const cert = get(TLS_CERT_ENV);
  const key = get(TLS_KEY_ENV);
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error(`set both ${TLS_CERT_ENV} and ${TLS_KEY_ENV} to serve TLS, or neither`);
  }
  const clientCa = get(TLS_CLIENT_CA_ENV);
  const size = get(MAX_MESSAGE_BYTES_ENV);
  const maxMessageBytes = size === undefined ? DEFAULT_MAX_MESSAGE_BYTES : Number(size);
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes <= 0) {
    throw new Error(`${MAX_MESSAGE_BYTES_ENV}=${size} is not a positive whole number of bytes`);
  }
  return {
    address: get(ADDR_ENV) ?? DEFAULT_ADDR,
    ...(cert !== undefined && key !== undefined ? { tls: { cert, key, ...(clientCa ? { clientCa } : {}) } } : {}),
    maxMessageBytes,
  };
}

/** A serving worker. */
export interface RunningWorker {
  /** The TCP port bound (useful with port 0), or 0 on a unix socket. */
  readonly port: number;
  /** Stop: NOT_SERVING, refuse new calls, let calls in flight finish within the grace period. */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  readonly closed: Promise<void>;
}

type HealthStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/**
 * Serve `worker` as configured.
 *
 * @throws {Error} when the address cannot be bound or the TLS files cannot be read.
 */
export async function serve<S, I>(worker: Worker<S, I>, config: Config): Promise<RunningWorker> {
  const definitions = grpc.loadPackageDefinition(wire.loadDefinitions());
  const v1 = (definitions.autopilot as grpc.GrpcObject).worker as grpc.GrpcObject;
  const workerService = ((v1.v1 as grpc.GrpcObject).WorkerService as grpc.ServiceClientConstructor).service;
  const health = ((definitions.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const healthService = (health.Health as grpc.ServiceClientConstructor).service;

  const server = new grpc.Server({
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
  });

  let serving: Exclude<HealthStatus, "SERVICE_UNKNOWN"> = "SERVING";
  const watchers = new Set<grpc.ServerWritableStream<{ service: string }, { status: HealthStatus }>>();
  const healthOf = (service: string): HealthStatus =>
    service === "" || service === wire.WORKER_SERVICE_NAME ? serving : "SERVICE_UNKNOWN";

  server.addService(workerService, {
    Describe: (_call: grpc.ServerUnaryCall<wire.DescribeRequest, wire.DescribeResponse>, callback: grpc.sendUnaryData<wire.DescribeResponse>) => {
      callback(null, worker.describe());
    },
    Sync: (call: grpc.ServerUnaryCall<wire.SyncRequest, wire.SyncResponse>, callback: grpc.sendUnaryData<wire.SyncResponse>) => {
      worker.sync(call.request, traceparentOf(call.metadata)).then(
        (response) => callback(null, response),
        (err: unknown) => callback(toStatus(err)),
      );
    },
    Finalize: (call: grpc.ServerUnaryCall<wire.FinalizeRequest, wire.FinalizeResponse>, callback: grpc.sendUnaryData<wire.FinalizeResponse>) => {
      worker.runFinalize(call.request, traceparentOf(call.metadata)).then(
        (response) => callback(null, response),
        (err: unknown) => callback(toStatus(err)),
      );
    },
  });
  server.addService(healthService, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: HealthStatus }>, callback: grpc.sendUnaryData<{ status: HealthStatus }>) => {
      const status = healthOf(call.request.service);
      if (status === "SERVICE_UNKNOWN") {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      } else {
        callback(null, { status });
      }
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: HealthStatus }>) => {
      call.write({ status: healthOf(call.request.service) });
      watchers.add(call);
      call.on("cancelled", () => watchers.delete(call));
    },
  });

  const credentials = config.tls
    ? grpc.ServerCredentials.createSsl(
        config.tls.clientCa ? fs.readFileSync(config.tls.clientCa) : null,
        [{ cert_chain: fs.readFileSync(config.tls.cert), private_key: fs.readFileSync(config.tls.key) }],
        config.tls.clientCa !== undefined,
      )
    : grpc.ServerCredentials.createInsecure();

  if (config.address.startsWith("unix:")) {
    const socket = config.address.slice("unix:".length).replace(/^\/\//, "/");
    fs.rmSync(socket, { force: true });
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(config.address, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  if (!config.tls && !isLoopback(config.address)) {
    console.warn(`autopilot worker ${worker.name}: serving plaintext gRPC on ${config.address}; set ${TLS_CERT_ENV} and ${TLS_KEY_ENV} outside a pod's loopback`);
  }
  console.log(`autopilot worker ${worker.name} serving ${worker.phases.join(", ")} on ${config.address}`);

  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let stopping: Promise<void> | undefined;
  const onSignal = (): void => {
    void shutdown();
  };
  const shutdown = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      serving = "NOT_SERVING";
      for (const watcher of watchers) {
        watcher.write({ status: serving });
        watcher.end();
      }
      watchers.clear();
      const force = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
      force.unref();
      server.tryShutdown(() => {
        clearTimeout(force);
        if (config.handleSignals !== false) {
          process.off("SIGTERM", onSignal);
          process.off("SIGINT", onSignal);
        }
        resolve();
        resolveClosed();
      });
    });
    return stopping;
  };
  if (config.handleSignals !== false) {
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  return { port, shutdown, closed };
}

/** The gRPC status for a handler's failure: a WorkerError's code, INTERNAL for anything else. */
export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof WorkerError) {
    const metadata = new grpc.Metadata();
    if (err.retryAfterMs !== undefined) {
      metadata.set("autopilot-retry-after-ms", String(Math.max(0, Math.round(err.retryAfterMs))));
    }
    return { code: err.code, details: err.message, metadata };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.INTERNAL, details: `handler failed: ${message}`, metadata: new grpc.Metadata() };
}

function traceparentOf(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get("traceparent")[0];
  return value === undefined ? undefined : String(value);
}

function isLoopback(address: string): boolean {
  return address.startsWith("unix:") || address.startsWith("127.") || address.startsWith("localhost:") || address.startsWith("[::1]:");
}
