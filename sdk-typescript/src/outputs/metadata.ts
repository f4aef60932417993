/** The metadata every output builder shares: name, namespace, labels. */

import { KubeObject, ObjectMeta } from "../context";

/** Base of the output builders: the object's metadata. */
export abstract class Output {
  protected readonly metadata: ObjectMeta;

  constructor(name: string) {
    this.metadata = { name };
  }

  /** The namespace (defaults to the resource's). */
  namespace(namespace: string): this {
    this.metadata.namespace = namespace;
    return this;
  }

  /** Add a label. */
  label(key: string, value: string): this {
    this.metadata.labels = { ...this.metadata.labels, [key]: value };
    return this;
  }

  /** The object as JSON, ready for `Outcome.output`. */
  abstract toObject(): KubeObject;
}
