/**
 * The messages of autopilot.worker.v1 as @grpc/proto-loader decodes them with {@link LOADER_OPTIONS}
 * (camelCase fields, 64-bit integers as strings, enums as names, defaults filled in).
 */

import * as fs from "node:fs";
import * as path from "node:path";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

/** How both .proto files shipped in this package are loaded. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/** The directory of the .proto files shipped inside this package (beside `dist/`). */
export const PROTO_DIR = findProtoDir(__dirname);

function findProtoDir(start: string): string {
  // `dist/` when installed, `dist-test/src/` under the SDK's own tests: walk up to the package.
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "proto");
    if (fs.existsSync(path.join(candidate, "autopilot", "worker", "v1", "worker.proto"))) {
      return candidate;
    }
    if (path.dirname(dir) === dir) {
      return path.resolve(start, "..", "proto");
    }
  }
}

/** Full name of the worker service, as the health service reports it. */
export const WORKER_SERVICE_NAME = "autopilot.worker.v1.WorkerService";

export type Long = string | number;

export interface DescribeRequest {
  protocolVersion: string;
  schedulerVersion: string;
}

export interface DescribeResponse {
  protocolVersion: string;
  workerName: string;
  workerVersion: string;
  phases: string[];
  finalize: boolean;
  capabilities: string[];
}

export interface RequestMeta {
  attempt: number;
  tag: string;
  deadlineUnixMs: Long;
  generation: Long;
  operatorName: string;
}

export interface ObjectList {
  items: Uint8Array[];
  error: string;
}

export type ResultType = "RESULT_TYPE_UNSPECIFIED" | "RESULT_TYPE_SCALAR" | "RESULT_TYPE_VECTOR" | "RESULT_TYPE_MATRIX";

export interface WireSample {
  timestampMs: Long;
  value: number;
  isNan: boolean;
}

export interface WireSeries {
  labels: Record<string, string>;
  samples: WireSample[];
}

export interface MetricResult {
  query: string;
  type: ResultType;
  series: WireSeries[];
  noData: boolean;
  error: string;
}

export interface WireSpanStats {
  service: string;
  operation: string;
  spanCount: Long;
  errorCount: Long;
  errorRatio: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

export interface WireErrorSpan {
  service: string;
  operation: string;
  statusMessage: string;
}

export interface WireTraceSample {
  traceId: string;
  rootService: string;
  rootOperation: string;
  durationMs: number;
  startUnixMs: Long;
  errorSpans: WireErrorSpan[];
}

export interface TraceResult {
  query: string;
  noData: boolean;
  error: string;
  total: WireSpanStats | null;
  operations: WireSpanStats[];
  samples: WireTraceSample[];
}

export interface WireExternalEvent {
  id: string;
  source: string;
  type: string;
  subject: string;
  timeUnixMs: Long;
  dataContentType: string;
  data: Uint8Array;
  extensions: Record<string, string>;
  acceptedUnixMs: Long;
}

export interface EventList {
  items: WireExternalEvent[];
  error: string;
}

export interface SyncRequest {
  phase: string;
  resource: Uint8Array;
  objects: Record<string, ObjectList>;
  metrics: Record<string, MetricResult>;
  traces: Record<string, TraceResult>;
  events: Record<string, EventList>;
  meta: RequestMeta | null;
}

export interface WireCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export type WireSeverity = "SEVERITY_UNSPECIFIED" | "SEVERITY_NORMAL" | "SEVERITY_WARNING";

export interface WireEvent {
  severity: WireSeverity;
  reason: string;
  message: string;
}

export interface SyncResponse {
  nextPhase: string;
  outputs: Buffer[];
  statusInfo: Buffer;
  conditions: WireCondition[];
  events: WireEvent[];
  requeueAfterMs: number;
}

export interface FinalizeRequest {
  resource: Uint8Array;
  meta: RequestMeta | null;
}

export interface FinalizeResponse {
  done: boolean;
  events: WireEvent[];
  requeueAfterMs: number;
}

/** Load the WorkerService and Health definitions shipped in this package. */
export function loadDefinitions(): protoLoader.PackageDefinition {
  const definitions = protoLoader.loadSync(["autopilot/worker/v1/worker.proto", "grpc/health/v1/health.proto"], {
    ...LOADER_OPTIONS,
    includeDirs: [PROTO_DIR],
  });
  const service = definitions[WORKER_SERVICE_NAME] as protoLoader.ServiceDefinition;
  service.Sync = { ...service.Sync, requestDeserialize: syncRequestDeserializer() };
  return definitions;
}

/**
 * Decodes a SyncRequest like proto-loader does, except that a map entry whose message value is
 * absent becomes an empty message. Other implementations (prost, for one) write an empty
 * ObjectList as a key-only entry, which protobufjs decodes as null and then fails to convert.
 */
function syncRequestDeserializer(): (bytes: Buffer) => SyncRequest {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
  root.loadSync("autopilot/worker/v1/worker.proto", { keepCase: false });
  const request = root.lookupType("autopilot.worker.v1.SyncRequest");
  const objectList = root.lookupType("autopilot.worker.v1.ObjectList");
  const metricResult = root.lookupType("autopilot.worker.v1.MetricResult");
  const traceResult = root.lookupType("autopilot.worker.v1.TraceResult");
  const eventList = root.lookupType("autopilot.worker.v1.EventList");
  return (bytes) => {
    const message = request.decode(bytes) as unknown as {
      objects?: Record<string, protobuf.Message | null>;
      metrics?: Record<string, protobuf.Message | null>;
      traces?: Record<string, protobuf.Message | null>;
      events?: Record<string, protobuf.Message | null>;
    };
    for (const [key, value] of Object.entries(message.objects ?? {})) {
      if (value === null) message.objects![key] = objectList.create();
    }
    for (const [key, value] of Object.entries(message.metrics ?? {})) {
      if (value === null) message.metrics![key] = metricResult.create();
    }
    for (const [key, value] of Object.entries(message.traces ?? {})) {
      if (value === null) message.traces![key] = traceResult.create();
    }
    for (const [key, value] of Object.entries(message.events ?? {})) {
      if (value === null) message.events![key] = eventList.create();
    }
    return request.toObject(message as unknown as protobuf.Message, LOADER_OPTIONS as protobuf.IConversionOptions) as SyncRequest;
  };
}
