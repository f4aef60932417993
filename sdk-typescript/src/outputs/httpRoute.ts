/** Gateway API HTTPRoute (gateway.networking.k8s.io/v1) with weighted backendRefs. */

import { KubeObject } from "../context";
import { Output } from "./metadata";

/** A parent: a Gateway by default, or a Service (GAMMA mesh routing) with `group: ""`, `kind: Service`. */
export interface ParentRef {
  name: string;
  group?: string;
  kind?: string;
  namespace?: string;
  sectionName?: string;
}

/** One weighted backend Service. */
export interface Backend {
  name: string;
  namespace?: string;
  port?: number;
  weight: number;
}

/** An HTTPRoute: parents, hostnames, and rules split between backends by weight. */
export class HttpRoute extends Output {
  private readonly parents: ParentRef[] = [];
  private readonly hostnames: string[] = [];
  private readonly rules: Backend[][] = [];

  /** Attach to the Gateway `name`. */
  parent(name: string): this {
    this.parents.push({ name });
    return this;
  }

  /** Attach to the Service `name` (mesh routing). */
  parentService(name: string): this {
    this.parents.push({ group: "", kind: "Service", name });
    return this;
  }

  parentRef(parent: ParentRef): this {
    this.parents.push({ ...parent });
    return this;
  }

  hostname(hostname: string): this {
    this.hostnames.push(hostname);
    return this;
  }

  /** Add a rule splitting traffic between `backends` by weight. */
  rule(backends: Backend[]): this {
    this.rules.push(backends.map((b) => ({ ...b })));
    return this;
  }

  toObject(): KubeObject {
    const spec: Record<string, unknown> = { parentRefs: this.parents.map((p) => ({ ...p })) };
    if (this.hostnames.length > 0) spec.hostnames = [...this.hostnames];
    spec.rules = this.rules.map((rule) => ({ backendRefs: rule.map((b) => ({ ...b })) }));
    return { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { ...this.metadata }, spec };
  }
}
