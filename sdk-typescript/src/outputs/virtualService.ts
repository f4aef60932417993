/** Istio VirtualService (networking.istio.io/v1) with weighted routes. */

import { KubeObject } from "../context";
import { Output } from "./metadata";

/** One weighted destination of a route. */
export interface Destination {
  host: string;
  subset?: string;
  port?: number;
  weight: number;
}

/** A VirtualService: hosts (default its name), gateways, and HTTP routes split by weight. */
export class VirtualService extends Output {
  private readonly hosts: string[] = [];
  private readonly gateways: string[] = [];
  private readonly routes: Destination[][] = [];

  host(host: string): this {
    this.hosts.push(host);
    return this;
  }

  gateway(gateway: string): this {
    this.gateways.push(gateway);
    return this;
  }

  /** Add an HTTP route splitting traffic between `destinations` by weight. */
  route(destinations: Destination[]): this {
    this.routes.push(destinations.map((d) => ({ ...d })));
    return this;
  }

  toObject(): KubeObject {
    const spec: Record<string, unknown> = { hosts: this.hosts.length > 0 ? [...this.hosts] : [this.metadata.name] };
    if (this.gateways.length > 0) spec.gateways = [...this.gateways];
    spec.http = this.routes.map((route) => ({
      route: route.map((d) => ({
        destination: {
          host: d.host,
          ...(d.subset !== undefined ? { subset: d.subset } : {}),
          ...(d.port !== undefined ? { port: { number: d.port } } : {}),
        },
        weight: d.weight,
      })),
    }));
    return { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { ...this.metadata }, spec };
  }
}
