/** Service (v1). */

import { KubeObject } from "../context";
import { Output } from "./metadata";

/** A ClusterIP Service selecting pods by label. */
export class Service extends Output {
  private readonly selectors: Record<string, string> = {};
  private readonly ports: { name: string; port: number; targetPort: number }[] = [];

  selector(key: string, value: string): this {
    this.selectors[key] = value;
    return this;
  }

  port(name: string, port: number, targetPort: number): this {
    this.ports.push({ name, port, targetPort });
    return this;
  }

  toObject(): KubeObject {
    return {
      apiVersion: "v1",
      kind: "Service",
      metadata: { ...this.metadata },
      spec: { selector: { ...this.selectors }, ports: this.ports.map((p) => ({ ...p, protocol: "TCP" })) },
    };
  }
}
