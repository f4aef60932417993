package dev.autopilot.sdk;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** A Kubernetes object an output builder renders; {@link Outcome#output} accepts it directly. */
public interface KubernetesObject {
  /** The whole object (apiVersion, kind, metadata, spec) as JSON. */
  ObjectNode toJson();
}
