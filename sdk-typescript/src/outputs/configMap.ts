/** ConfigMap (v1). */

import { KubeObject } from "../context";
import { Output } from "./metadata";

/** A ConfigMap with string data. */
export class ConfigMap extends Output {
  private readonly entries: Record<string, string> = {};

  /** Set one data entry. */
  data(key: string, value: string): this {
    this.entries[key] = value;
    return this;
  }

  toObject(): KubeObject {
    return { apiVersion: "v1", kind: "ConfigMap", metadata: { ...this.metadata }, data: { ...this.entries } };
  }
}
