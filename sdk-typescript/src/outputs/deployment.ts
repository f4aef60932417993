/** Deployment (apps/v1). */

import { KubeObject } from "../context";
import { Output } from "./metadata";

/** A Deployment: built from an image, or from an existing Deployment's pod template. */
export class Deployment extends Output {
  private readonly selector: Record<string, string> = {};
  private _replicas: number | undefined;
  private _image: string | undefined;
  private readonly ports: number[] = [];
  private template: Record<string, unknown> | undefined;

  /** A label on the selector and on the pods (as well as the Deployment). */
  selectorLabel(key: string, value: string): this {
    this.selector[key] = value;
    return this;
  }

  replicas(replicas: number): this {
    this._replicas = replicas;
    return this;
  }

  /** The image of the single container, named after the Deployment. */
  image(image: string): this {
    this._image = image;
    return this;
  }

  containerPort(port: number): this {
    this.ports.push(port);
    return this;
  }

  /** Copy the pod template of an existing Deployment (its labels are kept; selector labels added). */
  templateFrom(existing: KubeObject): this {
    const spec = existing.spec as { template?: Record<string, unknown> } | undefined;
    this.template = structuredClone(spec?.template ?? {});
    return this;
  }

  toObject(): KubeObject {
    const name = this.metadata.name ?? "";
    const template = structuredClone(this.template ?? {}) as {
      metadata?: { labels?: Record<string, string> };
      spec?: { containers?: Record<string, unknown>[] };
    };
    const podLabels = { ...template.metadata?.labels, ...this.selector };
    template.metadata = { ...template.metadata, labels: podLabels };
    if (this.template === undefined || this._image !== undefined) {
      const container: Record<string, unknown> = { name };
      if (this._image !== undefined) container.image = this._image;
      if (this.ports.length > 0) container.ports = this.ports.map((containerPort) => ({ containerPort }));
      template.spec = { ...template.spec, containers: [container] };
    }
    const spec: Record<string, unknown> = { selector: { matchLabels: { ...this.selector } }, template };
    if (this._replicas !== undefined) spec.replicas = this._replicas;
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { ...this.metadata, labels: { ...this.metadata.labels, ...this.selector } },
      spec,
    };
  }
}
